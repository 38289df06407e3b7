import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { contentKey, KEY_SCHEMA } from '../container/key.js';
import { asList, loadConfig, type PydbgConfig } from '../project/config.js';
import { envBuild, type Progress } from '../provision/variant.js';
import { splitRef } from '../container/refs.js';
import { planBuild, type BuildPlan } from '../project/plan.js';
import { packDir } from '../provision/context.js';
import { runBuild, type BuildIO } from '../provision/image-build.js';
import type { ContainerSpec, Engine, EngineInfo, ImageInfo } from '../engine/engine.js';
import { archOfEngine } from '../catalogue/arch.js';
import { emulationError, isExecFormatError, requireEmulation } from '../engine/binfmt.js';
import { ExitCode, PydbgError } from '../errors.js';
import { buildsDir } from '../paths.js';
import { LABEL } from '../container/labels.js';
import { sha256Tree } from '../provision/sources.js';
import { PACKAGE_ROOT, PYDBG_VERSION } from '../version.js';
import { formatCrash, isCrash, parseFaulthandler, parseGdbOutput, signalOf, SIGNAL_NUMBERS, type CrashReport } from './crash.js';
import { BUILD_DIR, BUILD_PYTHONPATH, DEFAULT_EXT_CFLAGS, detectBuild, extBuildScript, needsBuildDirOnPath, PROJECT_MOUNT, type ExtBuild } from '../project/detect.js';

export interface RunInput {
  projectDir: string;
  /** the command; empty for `shell` */
  argv: string[];
  shell?: boolean;
  variant?: string;
  python?: string;
  arch?: string;
  board?: string;
  configPath?: string;
  /** build the variant image when it does not exist */
  build?: boolean;
  network?: boolean;
  rw?: boolean;
  gdb?: boolean;
  /** allow core dumps; with --rw a core left in the project is analysed */
  core?: boolean;
  timeoutSec?: number;
  memory?: string;
  cpus?: number;
  user?: string;
  env?: string[];
  /** analyses: more mounts (e.g. an output directory) and environment */
  extraMounts?: Array<{ source: string; target: string; readOnly?: boolean }>;
  extraEnv?: Record<string, string>;
  /** what to re-run under gdb when the command crashes (default: the command itself) */
  crashArgv?: string[];
  /** run only the first target from pydbg.yaml (analyses pick one interpreter) */
  single?: boolean;
}

export interface RunIO {
  engine: Engine;
  progress: Progress;
  signal: AbortSignal;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (b: boolean) => void };
  tty?: boolean;
}

export interface ExtensionInfo {
  kind: ExtBuild['kind'];
  cached: boolean;
  image: string;
  seconds: number;
}

export interface RunResult {
  command: string[];
  image: string;
  python: string;
  variant: string;
  exitCode: number;
  signal: string | null;
  durationSeconds: number;
  extension: ExtensionInfo;
  crash?: CrashReport;
}

const EXT_REPO = 'pydbg/ext';
const RUNTIME_REPO = 'pydbg/runtime';
export const RUN_HELPERS = join(PACKAGE_ROOT, 'images', 'run');
const HELPERS_MOUNT = '/opt/pydbg-run';

/** Read the variant/python lists from flags (one) or pydbg.yaml (one or several). */
export function targets(input: Pick<RunInput, 'variant' | 'python'>, config: PydbgConfig): Array<{ variant: string; python: string }> {
  const variants = input.variant ? [input.variant] : (asList(config.variant) ?? ['debug']);
  const pythons = input.python ? [input.python] : (asList(config.python) ?? ['3.13']);
  return pythons.flatMap((python) => variants.map((variant) => ({ variant, python })));
}

export async function runProject(input: RunInput, io: RunIO): Promise<RunResult[]> {
  const projectDir = resolve(input.projectDir);
  if (!existsSync(projectDir)) throw new PydbgError(ExitCode.USAGE, `project directory ${projectDir} does not exist`);
  const { config, path: configPath } = await loadConfig(projectDir, input.configPath);
  const build = detectBuild((rel) => existsSync(join(projectDir, rel)), config, configPath ?? 'pydbg.yaml');
  const engineInfo = await io.engine.ping();
  const results: RunResult[] = [];
  const list = input.single ? targets(input, config).slice(0, 1) : targets(input, config);
  for (const t of list) {
    if (list.length > 1) io.progress.log(`=== CPython ${t.python}, variant ${t.variant}`);
    const r = await runOne({ ...input, ...t, projectDir }, config, build, io, engineInfo);
    results.push(r);
    if (r.exitCode !== 0) break;
  }
  return results;
}

async function runOne(input: RunInput & { variant: string; python: string }, config: PydbgConfig, detected: ExtBuild, io: RunIO, engineInfo: EngineInfo): Promise<RunResult> {
  const { engine, progress } = io;
  const plan = planBuild({ variant: input.variant, python: input.python, arch: input.arch ?? config.arch, board: input.board ?? (input.arch ? undefined : config.board) });
  let build = detected;
  if (build.kind === 'pyproject' && plan.spec.expected.pip_install === null && existsSync(join(input.projectDir, 'setup.py'))) {
    progress.log("note: offline PEP 517 builds cannot tag free-threaded wheels (Debian's wheel 0.38): building with setup.py build_ext instead");
    build = { kind: 'setup.py', marker: 'setup.py' };
  }
  // ARM on an x86-64 engine: every process runs under qemu-user (binfmt_misc); gdb cannot ptrace
  // there, so gdb-run.sh drives QEMU's gdb stub instead; a board fixes the emulated CPU model.
  const emulated = archOfEngine(engineInfo.arch)?.name !== plan.arch.name;
  if (emulated) {
    await requireEmulation(plan.arch, engineInfo.arch, engineInfo.endpoint);
    progress.log(`${plan.arch.name} under QEMU user emulation${plan.board ? `: board ${plan.board.name}, CPU ${plan.board.cpu}` : ''}`);
  }
  const qemuEnv: Record<string, string> = {
    ...(emulated ? { PYDBG_QEMU_GDB: '1' } : {}),
    ...(emulated && plan.board ? { QEMU_CPU: plan.board.cpu } : {}),
  };
  const variantImage = await ensureVariant(plan, input, io);
  const runtime = await ensureRuntime(plan, variantImage, config, input.projectDir, io);
  const started = Date.now();
  const ext = await ensureExtension(plan, runtime, build, config, input, io, qemuEnv);
  progress.log(
    ext.kind === 'none'
      ? `no extension to build (${(build as { reason?: string }).reason ?? ''}); running in ${plan.image}`
      : `extension (${ext.kind}) ${ext.cached ? 'unchanged: reusing the cached build' : `built in ${ext.seconds.toFixed(1)} s`}`,
  );

  const env: Record<string, string> = {
    PYTHONFAULTHANDLER: '1',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    HOME: '/tmp',
    ...(needsBuildDirOnPath(build) ? { PYTHONPATH: BUILD_PYTHONPATH } : {}),
    ...(input.shell ? { PS1: `pydbg ${plan.version.text} ${plan.spec.variants.join(',')}:\\w\\$ ` } : {}),
    ...qemuEnv,
    ...(config.env ?? {}),
    ...(input.extraEnv ?? {}),
  };
  for (const kv of input.env ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new PydbgError(ExitCode.USAGE, `--env expects NAME=VALUE, not '${kv}'`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const user = input.user ?? (await containerUser(input.projectDir, Boolean(input.rw)));
  const interactive = Boolean(input.shell || (input.gdb && io.tty));
  const argv = input.shell ? ['bash'] : input.argv; // not a login shell: /etc/profile would reset PATH
  if (argv.length === 0) throw new PydbgError(ExitCode.USAGE, 'no command given', { hint: 'pydbg run [options] -- python repro.py' });
  const underGdb = (mode: 'batch' | 'interactive', what = argv) => ['sh', `${HELPERS_MOUNT}/exec.sh`, 'sh', `${HELPERS_MOUNT}/gdb-run.sh`, mode, ...what];
  const cmd = input.gdb && !input.shell ? underGdb(interactive ? 'interactive' : 'batch') : ['sh', `${HELPERS_MOUNT}/exec.sh`, ...argv];
  const spec: ContainerSpec = {
    image: ext.image,
    cmd,
    env,
    workdir: PROJECT_MOUNT,
    user,
    mounts: [
      { source: input.projectDir, target: PROJECT_MOUNT, readOnly: !input.rw },
      { source: RUN_HELPERS, target: HELPERS_MOUNT, readOnly: true },
      ...(input.extraMounts ?? []),
    ],
    networkMode: (input.network ?? config.network) ? 'host' : 'none',
    tty: interactive && Boolean(io.tty),
    stdin: interactive,
    memoryBytes: parseMemory(input.memory ?? '8g'),
    nanoCpus: input.cpus ? Math.round(input.cpus * 1e9) : undefined,
    pidsLimit: 4096,
    labels: { [LABEL.kind]: 'run', 'io.pydbg.image': plan.image },
    coreDumps: input.core,
  };

  const tail = new TailBuffer(256 * 1024);
  const stderr = tee(io.stderr, tail);
  // under --gdb (batch) gdb's report arrives on stdout: keep it too
  const stdoutTail = new TailBuffer(256 * 1024);
  const stdout = input.gdb && !interactive ? tee(io.stdout, stdoutTail) : io.stdout;
  let exitCode: number;
  const restore = interactive && io.stdin?.isTTY ? rawMode(io.stdin) : undefined;
  try {
    ({ exitCode } = await engine.runContainer(spec, {
      stdout,
      stderr,
      stdin: interactive ? io.stdin : undefined,
      signal: io.signal,
      onStart: (resize) => {
        const out = io.stdout as NodeJS.WriteStream;
        if (spec.tty && out.rows) void resize(out.rows, out.columns);
      },
    }));
  } finally {
    restore?.();
  }
  const durationSeconds = (Date.now() - started) / 1000;
  const batchGdb = input.gdb && !interactive && !input.shell;
  let gdbBatchText = '';
  if (batchGdb) {
    // gdb's own exit status says nothing about the program: take the program's fate from gdb's report
    gdbBatchText = `${stdoutTail.text()}\n${tail.text()}`;
    exitCode = gdbExitCode(gdbBatchText) ?? exitCode;
  }
  if (emulated && isExecFormatError(tail.text().slice(-4000))) throw emulationError(plan.arch, 'the engine could not run an ARM binary (exec format error)');
  if (exitCode === 127 && /pydbg-exec: command not found/.test(tail.text())) {
    throw new PydbgError(ExitCode.COMMAND_NOT_FOUND, `command not found in the container: ${argv[0]}`, {
      hint: `the image has python (${plan.version.text}), pip, gcc, gdb and valgrind on PATH; project files are under ${PROJECT_MOUNT}`,
    });
  }
  const result: RunResult = {
    command: argv,
    image: ext.image,
    python: plan.version.text,
    variant: plan.spec.variants.join(','),
    exitCode,
    signal: signalOf(exitCode) ?? null,
    durationSeconds,
    extension: ext,
  };
  if (isCrash(exitCode) && !input.shell) {
    const faulthandler = parseFaulthandler(tail.text());
    let gdbText = batchGdb ? gdbBatchText : '';
    const core = input.core && input.rw ? await newestCore(input.projectDir, started) : undefined;
    if (!input.gdb && core) {
      progress.log(`${result.signal}: analysing the core file ${core}`);
      const buf = new TailBuffer(512 * 1024);
      await engine.runContainer({ ...spec, cmd: ['sh', `${HELPERS_MOUNT}/gdb-run.sh`, 'core', '/opt/python/bin/python', `${PROJECT_MOUNT}/${core}`], tty: false, stdin: false }, {
        stdout: buf,
        stderr: buf,
        signal: io.signal,
      });
      gdbText = `Program terminated with signal ${result.signal}\n${buf.text()}`;
    } else if (!input.gdb) {
      progress.log(`${result.signal}: re-running under gdb for a C + Python backtrace`);
      const buf = new TailBuffer(512 * 1024);
      await engine.runContainer({ ...spec, cmd: underGdb('batch', input.crashArgv ?? argv), tty: false, stdin: false }, {
        stdout: buf,
        stderr: buf,
        signal: io.signal,
      });
      gdbText = buf.text();
    }
    result.crash = { ...parseGdbOutput(gdbText), faulthandler };
    if (!result.crash.signal) result.crash.signal = result.signal;
    io.stderr.write(formatCrash(result.crash));
  }
  return result;
}

async function ensureVariant(plan: BuildPlan, input: RunInput, io: RunIO): Promise<ImageInfo> {
  const have = await io.engine.inspectImage(plan.image);
  if (have) return have;
  if (!input.build) {
    throw new PydbgError(ExitCode.NO_IMAGE, `the variant image ${plan.image} does not exist yet`, {
      hint: `build it: '${plan.command}', or pass --build`,
    });
  }
  const r = await envBuild(plan, { engine: io.engine, progress: io.progress, signal: io.signal });
  return (await io.engine.inspectImage(r.image))!;
}

/** A derived image with the project's system and Python packages, cached by content. */
async function ensureRuntime(plan: BuildPlan, variant: ImageInfo, config: PydbgConfig, projectDir: string, io: RunIO): Promise<ImageInfo> {
  const sys = config.system_packages ?? [];
  const pyPkgs = config.python_packages ?? [];
  if (sys.length === 0 && pyPkgs.length === 0) return variant;
  const wheelhouse = config.wheelhouse ? resolve(projectDir, config.wheelhouse) : undefined;
  if (wheelhouse && !existsSync(wheelhouse)) throw new PydbgError(ExitCode.CONFIG, `pydbg.yaml: wheelhouse: ${wheelhouse} does not exist`);
  const lines = [`# pydbg ${PYDBG_VERSION}: project packages on top of ${plan.image}`, `FROM ${variant.id}`];
  if (sys.length) lines.push(`RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${sys.join(' ')} && rm -rf /var/lib/apt/lists/*`);
  if (wheelhouse) lines.push('COPY wheelhouse/ /opt/pydbg/project-wheelhouse/');
  if (pyPkgs.length) {
    const src = wheelhouse ? '--no-index --find-links /opt/pydbg/project-wheelhouse --find-links /usr/share/python-wheels' : '';
    lines.push(`RUN PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 python -m pip install ${src} ${pyPkgs.map((p) => `'${p.replace(/'/g, '')}'`).join(' ')}`);
  }
  const dockerfile = `${lines.join('\n')}\n`;
  const key = contentKey({ schema: KEY_SCHEMA, dockerfile, wheelhouse: wheelhouse ? await sha256Tree(wheelhouse) : null });
  const found = await byKeyTag(io.engine, `${RUNTIME_REPO}:${key.slice(0, 16)}`, key, 'runtime');
  if (found) return found;
  const dir = join(buildsDir(), `runtime-${key.slice(0, 16)}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  if (wheelhouse) await symlink(wheelhouse, join(dir, 'wheelhouse'));
  io.progress.phase('project packages');
  io.progress.log(`installing ${[...sys, ...pyPkgs].join(', ')} into a derived image (cached)`);
  const bio: BuildIO = { signal: io.signal, log: (m) => io.progress.log(m), output: (l) => io.progress.output(l), event: (e) => io.progress.event(e) };
  const tag = `${RUNTIME_REPO}:${key.slice(0, 16)}`;
  await runBuild(io.engine, { context: packDir(dir), tag, platform: plan.arch.platform, networkMode: 'host', labels: { [LABEL.kind]: 'runtime', [LABEL.key]: key, [LABEL.image]: plan.image } }, bio, 'project packages');
  return (await io.engine.inspectImage(tag))!;
}

/** Build the user's extension inside the runtime image, cached per (image, sources, build config). */
async function ensureExtension(plan: BuildPlan, runtime: ImageInfo, build: ExtBuild, config: PydbgConfig, input: RunInput, io: RunIO, qemuEnv: Record<string, string> = {}): Promise<ExtensionInfo> {
  const t0 = Date.now();
  if (build.kind === 'none') return { kind: 'none', cached: true, image: runtime.id, seconds: 0 };
  const cflags = config.build?.cflags ?? DEFAULT_EXT_CFLAGS;
  const script = extBuildScript(build, plan.version.major === 2);
  const key = contentKey({ schema: KEY_SCHEMA, pydbg: PYDBG_VERSION, runtime: runtime.id, tree: await sha256Tree(input.projectDir), script, cflags });
  const projectLabel = createHash('sha256').update(input.projectDir).digest('hex').slice(0, 16);
  const found = await byKeyTag(io.engine, `${EXT_REPO}:${key.slice(0, 16)}`, key, 'ext');
  if (found) return { kind: build.kind, cached: true, image: found.id, seconds: (Date.now() - t0) / 1000 };

  io.progress.log(`building the extension (${build.kind}) against ${plan.image}`);
  const [repo, tag] = splitRef(`${EXT_REPO}:${key.slice(0, 16)}`);
  const out = new TailBuffer(256 * 1024);
  const res = await io.engine.runContainer(
    {
      image: runtime.id,
      cmd: ['sh', '-c', script],
      env: { CFLAGS: cflags, ...qemuEnv },
      workdir: PROJECT_MOUNT,
      user: '0:0',
      mounts: [{ source: input.projectDir, target: PROJECT_MOUNT, readOnly: true }],
      networkMode: 'none',
      labels: { [LABEL.kind]: 'ext-build' },
    },
    {
      stdout: out,
      stderr: out,
      signal: io.signal,
      commit: { repo, tag, labels: { [LABEL.kind]: 'ext', [LABEL.key]: key, 'io.pydbg.project': projectLabel, [LABEL.image]: plan.image } },
    },
  );
  if (res.exitCode !== 0 || !res.committed) {
    const lines = out.text().split('\n').filter(Boolean);
    const errors = lines.filter((l) => /error|Error|undefined reference|fatal/.test(l)).slice(-20);
    if (isExecFormatError(out.text())) throw emulationError(plan.arch, 'the engine could not run an ARM binary (exec format error)');
    throw new PydbgError(ExitCode.EXT_BUILD, `the extension failed to build against ${plan.image} (exit ${res.exitCode})`, {
      details: (errors.length ? errors : lines.slice(-30)),
      hint: `the build ran '${build.kind}' in a copy of the project at ${BUILD_DIR}; fix the errors above and run again`,
    });
  }
  // older builds of this project for this image are superseded
  for (const old of await io.engine.findImages({ 'io.pydbg.project': projectLabel, [LABEL.image]: plan.image })) {
    if (old.id !== res.committed && old.labels[LABEL.kind] === 'ext') await io.engine.removeImage(old.id, { force: true }).catch(() => {});
  }
  return { kind: build.kind, cached: false, image: res.committed, seconds: (Date.now() - t0) / 1000 };
}

/** A cached image is tagged by its key's prefix: one inspect (its labels confirm the full key) instead of a label search. */
async function byKeyTag(engine: Engine, tag: string, key: string, kind: string): Promise<ImageInfo | undefined> {
  const hit = await engine.inspectImage(tag);
  if (hit && hit.labels[LABEL.key] === key && hit.labels[LABEL.kind] === kind) return hit;
  return (await engine.findImages({ [LABEL.key]: key })).find((i) => i.labels[LABEL.kind] === kind);
}

/**
 * Non-root where the project allows it: the project's owner when that is not root (files written
 * with --rw stay theirs); 1000:1000 when a root-owned project is readable by others (read-only runs);
 * root only when nothing else could read or write the project.
 */
export async function containerUser(projectDir: string, rw: boolean): Promise<string> {
  const st = await stat(projectDir);
  if (st.uid !== 0) return `${st.uid}:${st.gid}`;
  const worldReadable = (st.mode & 0o005) === 0o005;
  return !rw && worldReadable ? '1000:1000' : '0:0';
}

/** A core file the crash left in the (read-write) project directory, if the kernel wrote one there. */
async function newestCore(dir: string, since: number): Promise<string | undefined> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^core(\.\d+)?$/.test(n));
  let best: { name: string; mtime: number } | undefined;
  for (const name of names) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile() && st.mtimeMs >= since - 1000 && (!best || st.mtimeMs > best.mtime)) best = { name, mtime: st.mtimeMs };
  }
  return best?.name;
}

/** The program's exit status from gdb's batch output: 128+signal, the exit code, or undefined. */
export function gdbExitCode(text: string): number | undefined {
  const sig = /Program (?:received|terminated with) signal (SIG[A-Z]+)/.exec(text);
  if (sig) {
    const n = Object.entries(SIGNAL_NUMBERS).find(([name]) => name === sig[1])?.[1];
    if (n) return 128 + n;
  }
  const exited = /\[Inferior \d+ \(process \d+\) exited (?:normally|with code (\d+))\]/.exec(text);
  if (exited) return exited[1] ? parseInt(exited[1], 8) : 0;
  return undefined;
}

export function parseMemory(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new PydbgError(ExitCode.USAGE, `--memory: not a size: '${s}'`, { hint: 'e.g. 4g, 512m' });
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Math.round(Number(m[1]) * mult[m[2]!.toLowerCase()]!);
}

/** Keeps the last N bytes written to it. */
export class TailBuffer extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function tee(a: NodeJS.WritableStream, b: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      a.write(chunk);
      b.write(chunk);
      cb();
    },
  });
}

function rawMode(stdin: NonNullable<RunIO['stdin']>): () => void {
  stdin.setRawMode?.(true);
  (stdin as NodeJS.ReadStream).resume?.();
  return () => {
    stdin.setRawMode?.(false);
    (stdin as NodeJS.ReadStream).pause?.();
  };
}
