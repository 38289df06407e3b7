/**
 * pydbg as a library: build, run and check with plain typed options. Every option is validated by
 * the CLI's own validators (src/cli/validate.ts) before the first engine call, and a bad one is a
 * PydbgError (exitCode 2) like on the command line. Nothing is written to the process's streams:
 * the command's output goes to the streams you pass, or is collected into the result.
 *
 *   import { run } from 'pydbg/dist/api.js';
 *   const { exitCode, results, stdout } = await run({ projectDir: '.', command: ['python', 'repro.py'] });
 */
import { Writable } from 'node:stream';
import type { CheckResult } from './analyses/check.js';
import type { BuildOpts } from './cli/commands/env.js';
import type { RunOpts } from './cli/commands/run.js';
import { silentProgress, type Deps } from './cli/deps.js';
import * as v from './cli/validate.js';
import type { Engine } from './engine/engine.js';
import type { RunResult } from './exec/types.js';
import type { EnvBuildResult, Progress } from './provision/variant.js';

export type { CheckResult } from './analyses/check.js';
export type { RunResult } from './exec/types.js';
export type { EnvBuildResult, Progress } from './provision/variant.js';
export type { Engine } from './engine/engine.js';

export interface ApiContext {
  /** default: the Docker engine (DOCKER_HOST, the docker context, the default socket) */
  engine?: Engine;
  /** abort to stop (the container or build is removed; the call rejects with exitCode 130) */
  signal?: AbortSignal;
  /** build steps, phases and notes; default: none */
  progress?: Progress;
  /** the command's output; default: collected into the result's stdout/stderr */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** relative paths are resolved against this; default: process.cwd() */
  cwd?: string;
}

/** The CLI's build options as typed values (`configureArgs` for the repeatable --configure-arg). */
export type BuildOptions = Partial<Omit<BuildOpts, 'json' | 'quiet' | 'configureArg'>> & { configureArgs?: string[] };

export interface ProjectOptions {
  /** default: cwd */
  projectDir?: string;
  /** default: <projectDir>/pydbg.yaml */
  configPath?: string;
  variant?: string;
  python?: string;
  arch?: string;
  board?: string;
  /** ARM targets: 'emulated' selects (and builds) the '-emu' variant image (2.7–3.10) */
  buildMode?: 'cross' | 'emulated';
  /** build a missing variant image first (default true; false: exit 13 with the build command) */
  build?: boolean;
  network?: boolean;
  rw?: boolean;
  /** '4g', '512m', or bytes; default 8g */
  memory?: string | number;
  /** number of CPUs, e.g. 1.5 */
  cpus?: string | number;
  /** 'uid[:gid]' or names */
  user?: string;
  /** NAME → value, or 'NAME=VALUE' strings */
  env?: Record<string, string> | string[];
  /** seconds (run: default pydbg.yaml's timeout) */
  timeout?: number;
}

export interface RunOptions extends ProjectOptions {
  /** the command; or `repro` */
  command?: string[];
  /** a named repro from pydbg.yaml */
  repro?: string;
  gdb?: boolean;
  core?: boolean;
}

export interface CheckOptions extends ProjectOptions {
  analysis: string;
  /** a script and its arguments, or module:function (leaks); or `reproName` */
  repro?: string[];
  reproName?: string;
  /** the report directory; default: a new one under ~/.cache/pydbg/reports */
  out?: string;
  iterations?: number;
  rounds?: number;
  warmup?: number;
  /** rss: the C allocators to compare (default glibc, jemalloc, tcmalloc) */
  malloc?: string[];
  /** leaks: false skips the memcheck follow-up on memory-only growth */
  followUp?: boolean;
}

/** Output collected when no stream is given (the last 16 MiB of each). */
export interface Collected {
  stdout: string;
  stderr: string;
}

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
const opt = <T, R>(x: T | undefined, f: (x: T) => R): R | undefined => (x === undefined ? undefined : f(x));

/** The typed options → the CLI's validated build options (same validators, same errors). */
export function validateBuild(o: BuildOptions): BuildOpts {
  return defined({
    variant: o.variant ?? 'debug',
    python: o.python,
    arch: o.arch,
    board: o.board,
    buildMode: opt(o.buildMode, (m) => v.parseChoice(m, 'buildMode', ['cross', 'emulated'] as const)),
    configureArg: o.configureArgs?.map((a) => v.parseDockerfileWord(a, 'configureArgs')),
    cflags: o.cflags?.map((c) => v.parseDockerfileWord(c, 'cflags')),
    source: o.source,
    sourceUrl: opt(o.sourceUrl, (u) => v.parseSourceUrl(u, 'sourceUrl')),
    sha256: opt(o.sha256, (h) => v.parseSha256(h, 'sha256')),
    pip: opt(o.pip, (p) => v.parseChoice(p, 'pip', ['offline', 'pypi'] as const)),
    wheelhouse: o.wheelhouse,
    force: o.force,
    timeout: opt(o.timeout, (t) => v.parseSeconds(t, 'timeout')),
  });
}

/** The typed options → the CLI's validated run/check options. */
export function validateProject(o: ProjectOptions): RunOpts {
  return defined({
    project: o.projectDir ?? '.',
    config: o.configPath,
    variant: o.variant,
    python: o.python,
    arch: o.arch,
    board: o.board,
    buildMode: opt(o.buildMode, (m) => v.parseChoice(m, 'buildMode', ['cross', 'emulated'] as const)),
    build: o.build,
    network: o.network,
    rw: o.rw,
    memory: opt(o.memory, (m) => v.parseMemory(m, 'memory')),
    cpus: opt(o.cpus, (c) => v.parseCpus(c, 'cpus')),
    user: opt(o.user, (u) => v.parseUser(u, 'user')),
    env: opt(o.env, (e) => v.parseEnv(e, 'env')),
    timeout: opt(o.timeout, (t) => v.parseSeconds(t, 'timeout')),
    quiet: true,
  });
}

class Collector extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.length;
    while (this.size > 16 * 1024 ** 2 && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

const discard = () => new Writable({ write: (_c, _e, cb) => cb() });

async function depsFor(ctx: ApiContext, out: { stdout: Collector; stderr: Collector }): Promise<Deps> {
  // the default engine is constructed on first use, after validation
  const make = ctx.engine ? () => ctx.engine! : await (await import('./cli/main.js')).dockerEngineFactory();
  let engine: Engine | undefined;
  const progress = ctx.progress;
  return {
    engine: () => (engine ??= make()),
    stdout: ctx.stdout ?? out.stdout,
    stderr: ctx.stderr ?? out.stderr,
    tty: false,
    signal: ctx.signal ?? new AbortController().signal,
    progress: () => (progress ? { ...silentProgress(), log: (m) => progress.log(m), phase: (n) => progress.phase(n), event: (e) => progress.event(e), output: (l) => progress.output(l) } : silentProgress()),
    cwd: ctx.cwd ?? process.cwd(),
  };
}

/** Build (or reuse) a verified variant image. */
export async function build(options: BuildOptions = {}, ctx: ApiContext = {}): Promise<EnvBuildResult> {
  const o = validateBuild(options);
  const out = { stdout: new Collector(), stderr: new Collector() };
  const deps = await depsFor(ctx, out);
  const { build: envBuild } = await import('./cli/commands/env.js');
  const r = await envBuild({ ...o, json: false }, { ...deps, stdout: discard() });
  return r.data as EnvBuildResult;
}

/** Run a command (or a pydbg.yaml repro) in every target of the project; exitCode is the first failing run's. */
export async function run(options: RunOptions, ctx: ApiContext = {}): Promise<{ exitCode: number; results: RunResult[] } & Collected> {
  const o: RunOpts = { ...validateProject(options), command: options.command, reproName: opt(options.repro, (r) => v.parseName(r, 'repro')), gdb: options.gdb, core: options.core };
  const { requireCommand, run: runCmd } = await import('./cli/commands/run.js');
  requireCommand(o);
  const out = { stdout: new Collector(), stderr: new Collector() };
  const r = await runCmd(o, await depsFor(ctx, out));
  const results = (Array.isArray(r.data) ? r.data : [r.data]) as RunResult[];
  return { exitCode: r.exitCode, results, stdout: out.stdout.text(), stderr: out.stderr.text() };
}

/** Run an analysis; the report, its exit code (0, 20 findings, 22 partial) and where report.json is. */
export async function check(options: CheckOptions, ctx: ApiContext = {}): Promise<CheckResult & Collected> {
  const o = {
    ...validateProject(options),
    analysis: v.parseAnalysis(options.analysis),
    repro: options.repro ?? [],
    reproName: opt(options.reproName, (r) => v.parseName(r, 'reproName')),
    out: options.out,
    iterations: opt(options.iterations, (n) => v.parseCount(n, 'iterations', 1)),
    rounds: opt(options.rounds, (n) => v.parseCount(n, 'rounds', 1)),
    warmup: opt(options.warmup, (n) => v.parseCount(n, 'warmup', 0)),
    mallocs: opt(options.malloc, (m) => v.parseAllocators(m.join(','), 'malloc')),
    followUp: options.followUp,
  };
  const { check: checkCmd } = await import('./cli/commands/check.js');
  const out = { stdout: new Collector(), stderr: new Collector() };
  // the CLI writes the text report to stdout: here the report is the result
  const r = await checkCmd(o, { ...(await depsFor(ctx, out)), stdout: discard() });
  const data = r.data as { report: CheckResult['report']; reportPath: string };
  return { report: data.report, reportPath: data.reportPath, exitCode: r.exitCode as CheckResult['exitCode'], stdout: out.stdout.text(), stderr: out.stderr.text() };
}
