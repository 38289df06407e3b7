/**
 * Live programs: a named run (`pydbg run --name NAME`) is a container labelled io.pydbg.name. These
 * find it, list them (ps), stop and remove one, and run live.sh in it through the engine's exec
 * (as root, with the SYS_PTRACE the named run was given): gdb attaches to the program's Python
 * process for `stacks`, writes a core file for `core` (copied out through the engine's archive
 * call), and runs code in the process for `inject`. A core is read back later by gdb in a
 * container of the image it came from.
 */
import { readFile, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import type { ContainerInfo, Engine, ExecResult } from '../engine/engine.js';
import { extractFirstFile } from '../engine/tar.js';
import { archOfEngine } from '../catalogue/arch.js';
import { LABEL } from '../container/labels.js';
import { HELPERS_MOUNT, helper, RUN_HELPERS } from '../container/layout.js';
import { INJECT_CODE_ENV, LIVE_NO_PYTHON, parseInjectOutput, parseLiveLine, type LiveMode, type LiveProcess } from '../container/protocol.js';
import { ExitCode, PydbgError, quoted } from '../errors.js';
import { coresDir } from '../paths.js';
import { blockedOn, findDeadlocks, parseThreads, type LockThread, type StacksReport } from './stacks.js';
import { TailBuffer } from './streams.js';

/** The user gdb and live.sh run as inside the container: root (with the run's SYS_PTRACE). */
const EXEC_USER = '0:0';

export interface LiveEntry {
  name: string;
  id: string;
  python: string;
  variant: string;
  arch: string;
  command: string[];
  state: string;
  status: string;
  created: string;
  /** seconds since the container was created (running ones) */
  uptimeSeconds: number | null;
  pid: number | null;
  rssKb: number | null;
}

const commandOf = (c: ContainerInfo): string[] => {
  try {
    const v = JSON.parse(c.labels[LABEL.command] ?? '[]') as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

/** The named run's container, or NOT_FOUND with the names that exist. */
export async function findNamed(engine: Engine, name: string): Promise<ContainerInfo> {
  const found = (await engine.listContainers({ [LABEL.name]: name })).find((c) => c.labels[LABEL.name] === name);
  if (found) return found;
  const all = await engine.listContainers({});
  // a container of that name that pydbg did not start: no gdb, no python-gdb.py, no helpers there
  if (all.some((c) => c.name === name)) {
    throw new PydbgError(ExitCode.NOT_FOUND, `${quoted(name)} is a container pydbg did not start: pydbg attaches only to its own runs`, {
      hint: 'start the program in a pydbg environment: pydbg run --name NAME --detach -- python server.py',
    });
  }
  const names = all.map((c) => c.labels[LABEL.name]).filter(Boolean);
  throw new PydbgError(ExitCode.NOT_FOUND, `no pydbg run named ${quoted(name)}`, {
    hint: names.length ? `running now: ${names.join(', ')} (pydbg ps)` : 'start one with: pydbg run --name NAME --detach -- python server.py',
  });
}

/** Refuse a name a pydbg run (or any container: the engine's 409) already has, before any slow work. */
export async function requireNameFree(engine: Engine, name: string): Promise<void> {
  const taken = (await engine.listContainers({ [LABEL.name]: name })).find((c) => c.labels[LABEL.name] === name);
  if (taken) throw nameInUse(name, taken.state);
}

export function nameInUse(name: string, state?: string): PydbgError {
  return new PydbgError(ExitCode.USAGE, `the name ${quoted(name)} is in use${state ? ` (a pydbg run, ${state})` : ' (a container has it)'}`, {
    hint: state ? `pydbg stop ${name} removes it; or choose another --name` : `choose another --name (docker rm ${name} removes that container)`,
  });
}

/** An engine 409 on create ("the container name is already in use") as nameInUse. */
export function mapNameConflict(e: unknown, name: string | undefined): unknown {
  const status = typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
  return name && status === 409 && /already in use/i.test(String((e as Error).message)) ? nameInUse(name) : e;
}

async function requireRunning(engine: Engine, c: ContainerInfo, name: string, what: string): Promise<void> {
  if (c.state !== 'running') {
    throw new PydbgError(ExitCode.NOT_FOUND, `${quoted(name)} is not running (${c.status}): nothing to ${what}`, { hint: `pydbg stop ${name} removes it` });
  }
  // under QEMU user emulation the process is QEMU's: gdb cannot ptrace the emulated program
  const arch = c.labels[LABEL.arch];
  const engineArch = arch ? archOfEngine((await engine.ping()).arch)?.name : undefined;
  if (arch && engineArch && arch !== engineArch) {
    throw new PydbgError(ExitCode.USAGE, `${quoted(name)} runs ${arch} under QEMU user emulation on this ${engineArch} engine: gdb cannot attach to it`, {
      hint: `on an ${arch} engine it works; here, pydbg run --gdb (QEMU's gdb stub) debugs a repro of it`,
    });
  }
}

async function live(engine: Engine, c: ContainerInfo, mode: LiveMode, args: string[] = [], o: { env?: Record<string, string>; signal?: AbortSignal } = {}): Promise<{ proc: LiveProcess; r: ExecResult }> {
  const r = await engine.exec(c.id, { cmd: ['sh', helper('live.sh'), mode, ...args], user: EXEC_USER, env: o.env, signal: o.signal });
  const proc = parseLiveLine(r.stdout);
  if (!proc) {
    const name = c.labels[LABEL.name] ?? c.name;
    if (r.stdout.includes(LIVE_NO_PYTHON)) {
      throw new PydbgError(ExitCode.NOT_FOUND, `no Python process in ${quoted(name)}`, { hint: `its command (${commandOf(c).join(' ')}) has no python process running now; pydbg ps shows its state` });
    }
    throw new PydbgError(ExitCode.TOOL_FAILED, `could not inspect ${quoted(name)}: ${(r.stderr || r.stdout).trim().split('\n').at(-1) ?? `exit ${r.exitCode}`}`, {
      hint: `was it started by this pydbg? its helpers are mounted from ${RUN_HELPERS} at ${HELPERS_MOUNT}`,
    });
  }
  return { proc, r };
}

/** gdb's last complaint in its output, for a message */
const gdbComplaint = (text: string) => text.split('\n').filter((l) => /ptrace|not permitted|No such process|Cannot|error/i.test(l)).at(-1)?.trim() ?? text.trim().split('\n').at(-1) ?? '';

function attachFailed(name: string, r: ExecResult): PydbgError {
  return new PydbgError(ExitCode.TOOL_FAILED, `gdb could not attach to ${quoted(name)}: ${gdbComplaint(r.stdout + r.stderr)}`, {
    hint: 'a run started with --name has the SYS_PTRACE capability gdb needs; one started otherwise (or by an older pydbg) cannot be attached to',
  });
}

export async function listLive(engine: Engine, now = Date.now()): Promise<LiveEntry[]> {
  const list = (await engine.listContainers({ [LABEL.name]: '' })).sort((a, b) => (a.labels[LABEL.name] ?? '').localeCompare(b.labels[LABEL.name] ?? ''));
  return Promise.all(
    list.map(async (c) => {
      const proc = c.state === 'running' ? await live(engine, c, 'info').then((x) => x.proc, () => undefined) : undefined;
      return {
        name: c.labels[LABEL.name] ?? c.name,
        id: c.id,
        python: c.labels[LABEL.python] ?? '',
        variant: c.labels[LABEL.variant] ?? '',
        arch: c.labels[LABEL.arch] ?? '',
        command: commandOf(c),
        state: c.state,
        status: c.status,
        created: c.created,
        uptimeSeconds: c.state === 'running' ? Math.max(0, Math.round((now - Date.parse(c.created)) / 1000)) : null,
        pid: proc?.pid ?? null,
        rssKb: proc?.rssKb ?? null,
      };
    }),
  );
}

/** Stop (kill) and remove a named run; what it was, for the report. */
export async function stopLive(engine: Engine, name: string): Promise<{ name: string; id: string; state: string; status: string }> {
  const c = await findNamed(engine, name);
  await engine.removeContainer(c.id);
  const left = (await engine.listContainers({ [LABEL.name]: name })).filter((x) => x.id === c.id);
  if (left.length) throw new PydbgError(ExitCode.ENGINE, `the engine did not remove ${quoted(name)}`, { hint: `docker rm -f ${c.id.slice(0, 12)}` });
  return { name, id: c.id, state: c.state, status: c.status };
}

export async function liveStacks(engine: Engine, name: string, signal?: AbortSignal): Promise<StacksReport & { raw: string }> {
  const c = await findNamed(engine, name);
  await requireRunning(engine, c, name, 'attach to');
  const { proc, r } = await live(engine, c, 'stacks', [], { signal });
  const { threads, complete } = parseThreads(r.stdout);
  if (threads.length === 0) throw attachFailed(name, r);
  const report: StacksReport & { raw: string } = { source: name, pid: proc.pid, python: c.labels[LABEL.python], variant: c.labels[LABEL.variant], threads, complete, raw: r.stdout };
  // two or more threads blocked on locks: ask the process which locks they wait for and hold
  if (threads.filter((t) => blockedOn(t.frames) === 'lock').length >= 2) {
    try {
      const inj = await liveInject(engine, name, LOCKS_CODE, signal);
      const line = inj.output.split('\n').find((l) => l.startsWith('PYDBG-LOCKS '));
      if (inj.status !== 0 || !line) report.locksNote = `the lock analysis failed in the process: ${inj.output.split('\n').filter(Boolean).slice(-1)[0] ?? `status ${inj.status}`}`;
      else {
        report.locks = JSON.parse(line.slice('PYDBG-LOCKS '.length)) as LockThread[];
        report.deadlocks = findDeadlocks(report.locks);
      }
    } catch (e) {
      report.locksNote = `the lock analysis could not run: ${(e as Error).message}`;
    }
  }
  return report;
}

/** Code for `inject` that runs one of pydbg's helper files in the process, with these globals (JSON is valid Python for strings, numbers and lists). */
export function helperCode(file: string, globals: Record<string, unknown> = {}): string {
  const g = Object.entries(globals).map(([k, v]) => `'${k}': ${JSON.stringify(v)}`).join(', ');
  return `import runpy; runpy.run_path(${JSON.stringify(helper(file))}, {${g}}, '__${file.replace(/\.py$/, '')}__')`;
}

const LOCKS_CODE = helperCode('pydbg_locks.py');

export interface InjectResult {
  name: string;
  pid: number;
  /** 0: the code ran; 1: it raised (the traceback is in output); else its SystemExit code */
  status: number;
  output: string;
}

export async function liveInject(engine: Engine, name: string, code: string, signal?: AbortSignal): Promise<InjectResult> {
  const c = await findNamed(engine, name);
  await requireRunning(engine, c, name, 'inject into');
  // the code travels in the exec's environment (an API field, no shell, no gdb command line)
  const { proc, r } = await live(engine, c, 'inject', [], { env: { [INJECT_CODE_ENV]: code }, signal });
  const { status, output } = parseInjectOutput(r.stdout);
  if (status === null) throw attachFailed(name, r);
  return { name, pid: proc.pid, status, output };
}

/** What `core` writes next to a core file, and `stacks --core` reads back. */
export interface CoreMeta {
  name: string;
  /** the image id the program ran in (gdb reads the core there: same interpreter, same extension) */
  image: string;
  /** the variant image's tag */
  variantImage?: string;
  python?: string;
  variant?: string;
  arch?: string;
  command: string[];
  pid: number;
  /** the interpreter executable inside the image */
  exe: string;
  created: string;
}

export const metaPathOf = (core: string) => (core.endsWith('.core') ? `${core.slice(0, -'.core'.length)}.json` : `${core}.json`);
const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export async function liveCore(engine: Engine, name: string, o: { signal?: AbortSignal; dir?: string; now?: Date } = {}): Promise<{ core: string; meta: CoreMeta; bytes: number }> {
  const c = await findNamed(engine, name);
  await requireRunning(engine, c, name, 'take a core of');
  const inContainer = `/tmp/pydbg-core-${randomBytes(6).toString('hex')}.core`;
  const dir = o.dir ?? coresDir();
  const now = o.now ?? new Date();
  const core = join(dir, `${name}-${stamp(now)}.core`);
  try {
    const { proc, r } = await live(engine, c, 'core', [inContainer], { signal: o.signal });
    if (r.exitCode !== 0) throw attachFailed(name, r);
    await mkdir(dir, { recursive: true });
    const partial = `${core}.partial`;
    let bytes: number;
    try {
      bytes = await extractFirstFile(await engine.archive(c.id, inContainer), partial);
      await rename(partial, core);
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    const meta: CoreMeta = {
      name, image: c.imageId, variantImage: c.labels[LABEL.image], python: c.labels[LABEL.python], variant: c.labels[LABEL.variant], arch: c.labels[LABEL.arch],
      command: commandOf(c), pid: proc.pid, exe: proc.exe, created: now.toISOString(),
    };
    await writeFile(metaPathOf(core), `${JSON.stringify(meta, null, 2)}\n`);
    return { core, meta, bytes };
  } finally {
    // the copy inside the container is never left behind
    await engine.exec(c.id, { cmd: ['rm', '-f', inContainer], user: EXEC_USER }).catch(() => {});
  }
}

export async function readCoreMeta(core: string): Promise<CoreMeta> {
  const path = metaPathOf(core);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new PydbgError(ExitCode.NOT_FOUND, `no ${basename(path)} next to ${quoted(core)}: pydbg does not know which image it came from`, { hint: "give a core written by 'pydbg core NAME' (it writes NAME-TIME.core and NAME-TIME.json)" });
  }
  const meta = JSON.parse(text) as CoreMeta;
  if (typeof meta.image !== 'string' || typeof meta.exe !== 'string') {
    throw new PydbgError(ExitCode.NOT_FOUND, `${quoted(path)} does not name the core's image`, { hint: "give a core written by 'pydbg core NAME'" });
  }
  return meta;
}

/** The mount point of a core's directory in the container that reads it. */
export const CORE_MOUNT = '/pydbg/core';

/** gdb on a core, in a container of the image the program ran in. */
export async function coreStacks(engine: Engine, core: string, signal?: AbortSignal): Promise<StacksReport & { raw: string }> {
  const meta = await readCoreMeta(core);
  if (!(await engine.inspectImage(meta.image))) {
    throw new PydbgError(ExitCode.NOT_FOUND, `the image the core came from (${meta.image.slice(0, 19)}) no longer exists`, { hint: 'a core is read with the very interpreter and extension build that wrote it; rebuilding does not give the same binaries back' });
  }
  const sink = new TailBuffer(16 * 1024 * 1024);
  await engine.runContainer(
    {
      image: meta.image,
      cmd: ['gdb', '-q', '-nx', '-batch', '-iex', 'set auto-load safe-path /', '-ex', 'set pagination off', '-ex', 'set debuginfod enabled off', '-x', helper('pydbg_gdb.py'), '-ex', 'pydbg-threads', meta.exe, `${CORE_MOUNT}/${basename(core)}`],
      // the core file alone (not its directory, which holds every other core: an engine that gets copies would get them all)
      mounts: [
        { source: core, target: `${CORE_MOUNT}/${basename(core)}`, readOnly: true },
        { source: RUN_HELPERS, target: HELPERS_MOUNT, readOnly: true },
      ],
      user: '0:0',
      networkMode: 'none',
      labels: { [LABEL.kind]: 'run' },
    },
    { stdout: sink, stderr: sink, signal },
  );
  const raw = sink.text();
  const { threads, complete } = parseThreads(raw);
  if (threads.length === 0) throw new PydbgError(ExitCode.TOOL_FAILED, `gdb could not read ${quoted(core)}: ${gdbComplaint(raw)}`, { hint: 'is the file complete? pydbg core NAME writes it whole or not at all' });
  return { source: core, pid: meta.pid, python: meta.python, variant: meta.variant, threads, complete, raw };
}
