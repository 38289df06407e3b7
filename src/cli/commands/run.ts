/**
 * `pydbg run` and `pydbg shell`: resolve the project once (pydbg.yaml, the extension, every
 * target), then hand one validated RunRequest to the execution layer.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { runProject } from '../../exec/run.js';
import type { RunIO, RunRequest, RunResult } from '../../exec/types.js';
import { usageError } from '../../errors.js';
import { namedRepro, resolveProject, type ProjectInput, type ResolvedProject } from '../../project/project.js';
import { resolveIn, writeJson, type CommandResult, type Deps } from '../deps.js';

/** What run/shell/check share, already validated (bytes, nano-CPUs, seconds, an env record). */
export interface ProjectOpts {
  variant?: string;
  python?: string;
  arch?: string;
  board?: string;
  buildMode?: 'cross' | 'emulated';
  project?: string;
  config?: string;
  /** build a missing variant image first (default true; --no-build: false) */
  build?: boolean;
  network?: boolean;
  rw?: boolean;
  /** seconds */
  timeout?: number;
  /** bytes */
  memory?: number;
  /** NanoCPUs */
  cpus?: number;
  user?: string;
  env?: Record<string, string>;
  quiet?: boolean;
  /** run/shell: --malloc */
  malloc?: 'glibc' | 'jemalloc' | 'tcmalloc';
}

export interface RunOpts extends ProjectOpts {
  command?: string[];
  reproName?: string;
  gdb?: boolean;
  core?: boolean;
  json?: boolean;
  jsonOut?: string;
  name?: string;
  detach?: boolean;
}

export function projectInput(o: ProjectOpts, deps: Pick<Deps, 'cwd'>): ProjectInput {
  return { projectDir: resolveIn(deps, o.project ?? '.')!, configPath: resolveIn(deps, o.config), variant: o.variant, python: o.python, arch: o.arch, board: o.board, buildMode: o.buildMode };
}

/** The RunRequest fields every project command shares. */
export function baseRequest(o: ProjectOpts): Omit<RunRequest, 'argv'> {
  return { buildMissing: o.build !== false, timeoutSeconds: o.timeout, network: o.network, rw: o.rw, memoryBytes: o.memory, nanoCpus: o.cpus, user: o.user, env: o.env, ...(o.malloc ? { malloc: o.malloc } : {}) };
}

/** Either `--repro NAME` or a command after --: checked before anything is read. */
export function requireCommand(o: Pick<RunOpts, 'command' | 'reproName'>): void {
  const command = o.command ?? [];
  if (o.reproName !== undefined && command.length) {
    throw usageError('give either --repro NAME or a command, not both', `pydbg run --repro ${o.reproName}   or   pydbg run -- ${command.join(' ')}`);
  }
  if (o.reproName === undefined && command.length === 0) throw usageError('no command given', 'usage: pydbg run [options] -- python repro.py   (or --repro NAME)');
}

/** The command: `--repro NAME` from pydbg.yaml (shell words, no shell) or the words after --. */
export function runArgv(project: ResolvedProject, o: Pick<RunOpts, 'command' | 'reproName'>): string[] {
  requireCommand(o);
  return o.reproName !== undefined ? namedRepro(project.config, o.reproName, project.configPath) : o.command!;
}

async function execute(project: ResolvedProject, req: RunRequest, o: ProjectOpts, deps: Deps, stdout: NodeJS.WritableStream): Promise<RunResult[]> {
  const progress = deps.progress(o.quiet);
  // the time limit (req.timeoutSeconds) is armed per target once its variant image exists (exec/run.ts)
  const io: RunIO = { engine: deps.engine(), progress, signal: deps.signal, stdout, stderr: deps.stderr, stdin: deps.stdin, tty: deps.tty };
  try {
    return await runProject(project, req, io);
  } finally {
    progress.stop();
  }
}

/** --detach: checked before anything is read; without --name, a name is made up (and printed). */
export function detachName(o: Pick<RunOpts, 'detach' | 'name' | 'gdb' | 'timeout'>): string | undefined {
  if (!o.detach) return o.name;
  if (o.gdb) throw usageError('--detach and --gdb do not go together (gdb would have no terminal)', 'start it with --detach, then pydbg stacks NAME attaches gdb whenever you ask');
  if (o.timeout !== undefined) throw usageError('--detach and --timeout do not go together (nothing would be there to stop it)', 'pydbg stop NAME stops it');
  return o.name ?? `run-${randomBytes(3).toString('hex')}`;
}

export async function run(o: RunOpts, deps: Deps): Promise<CommandResult> {
  requireCommand(o);
  const name = detachName(o);
  const project = await resolveProject(projectInput(o, deps));
  const req: RunRequest = {
    ...baseRequest(o), timeoutSeconds: o.detach ? undefined : (o.timeout ?? project.config.timeout), argv: runArgv(project, o), gdb: o.gdb, core: o.core,
    ...(name ? { name } : {}), ...(o.detach ? { detach: true } : {}),
  };
  // with --json, stdout carries the JSON: the command's own stdout goes to stderr
  const results = await execute(project, req, o, deps, o.json ? deps.stderr : deps.stdout);
  const data = results.length === 1 ? results[0] : results;
  if (o.json) writeJson(deps.stdout, data);
  else if (o.detach) deps.stdout.write(`${name}\n`);
  if (o.jsonOut) await writeFile(resolveIn(deps, o.jsonOut)!, `${JSON.stringify(data, null, 2)}\n`);
  return { exitCode: results.find((r) => r.exitCode !== 0)?.exitCode ?? 0, data };
}

export async function shell(o: ProjectOpts, deps: Deps): Promise<CommandResult> {
  const project = await resolveProject(projectInput(o, deps));
  const results = await execute(project, { ...baseRequest(o), argv: [], shell: true }, o, deps, deps.stdout);
  return { exitCode: results[0]?.exitCode ?? 0, data: results };
}
