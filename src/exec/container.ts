/**
 * One container run of the user's command: the spec (image, command, environment, user, mounts,
 * limits) is composed by a pure function; running it tees the streams, handles the TTY and turns
 * what came back into an exit code.
 */
import { stat } from 'node:fs/promises';
import type { ContainerSpec, Engine } from '../engine/engine.js';
import { LABEL } from '../container/labels.js';
import { HELPERS_MOUNT, helper, PROJECT_MOUNT, RUN_HELPERS } from '../container/layout.js';
import type { GdbMode } from '../container/protocol.js';
import type { ExtensionBuild } from '../project/detect.js';
import { runPythonPath } from '../project/imports.js';
import type { VariantPlan } from '../project/plan.js';
import { SIGNAL_NUMBERS } from './crash.js';
import { rawMode, tee, TailBuffer } from './streams.js';
import type { RunIO, RunRequest } from './types.js';

export const DEFAULT_MEMORY = 8 * 1024 ** 3;

/** The command line as the container runs it: exec.sh reports a missing command; gdb-run.sh drives gdb. */
export const underExec = (argv: string[]) => ['sh', helper('exec.sh'), ...argv];
export const underGdb = (mode: GdbMode, argv: string[]) => ['sh', helper('exec.sh'), 'sh', helper('gdb-run.sh'), mode, ...argv];

export interface SpecInput {
  plan: VariantPlan;
  ext: ExtensionBuild;
  image: string;
  req: RunRequest;
  projectDir: string;
  user: string;
  /** QEMU variables for an emulated architecture */
  qemuEnv: Record<string, string>;
  /** pydbg.yaml env and network */
  configEnv?: Record<string, string>;
  configNetwork?: boolean;
  interactive: boolean;
  tty: boolean;
}

/** Pure: the container spec of a run. Later entries win: pydbg's defaults < pydbg.yaml env < the analysis < -e (PYTHONPATH: added to pydbg's). */
export function runSpec(s: SpecInput): ContainerSpec {
  const { plan, req } = s;
  const env: Record<string, string> = {
    PYTHONFAULTHANDLER: '1',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    HOME: '/tmp',
    ...(req.shell ? { PS1: `pydbg ${plan.version.text} ${plan.spec.variants.join(',')}:\\w\\$ ` } : {}),
    ...s.qemuEnv,
    ...(s.configEnv ?? {}),
    ...(req.extraEnv ?? {}),
    ...(req.env ?? {}),
  };
  // the project's modules import from the extension build (imports.ts); a PYTHONPATH set by pydbg.yaml or -e comes after
  env.PYTHONPATH = runPythonPath(s.ext, env.PYTHONPATH);
  const argv = req.shell ? ['bash'] : req.argv; // not a login shell: /etc/profile would reset PATH
  const cmd = req.gdb && !req.shell ? underGdb(s.interactive ? 'interactive' : 'batch', argv) : underExec(argv);
  return {
    image: s.image,
    cmd,
    env,
    workdir: PROJECT_MOUNT,
    user: s.user,
    mounts: [
      { source: s.projectDir, target: PROJECT_MOUNT, readOnly: !req.rw },
      { source: RUN_HELPERS, target: HELPERS_MOUNT, readOnly: true },
      ...(req.extraMounts ?? []),
    ],
    networkMode: (req.network ?? s.configNetwork) ? 'bridge' : 'none',
    tty: s.interactive && s.tty,
    stdin: s.interactive,
    memoryBytes: req.memoryBytes ?? DEFAULT_MEMORY,
    nanoCpus: req.nanoCpus,
    pidsLimit: 4096,
    labels: {
      [LABEL.kind]: 'run',
      [LABEL.image]: plan.image,
      ...(req.name
        ? { [LABEL.name]: req.name, [LABEL.python]: plan.version.text, [LABEL.variant]: plan.spec.variants.join(','), [LABEL.arch]: plan.arch.name, [LABEL.command]: JSON.stringify(argv), [LABEL.projectDir]: s.projectDir }
        : {}),
    },
    coreDumps: req.core,
    // a named run can be attached to (stacks, core, inject: gdb from a docker exec needs ptrace)
    ...(req.name ? { name: req.name, capAdd: ['SYS_PTRACE'] } : {}),
    ...(req.aslrOff ? { securityOpt: ['seccomp=unconfined'] } : {}),
  };
}

export interface ContainerOutcome {
  exitCode: number;
  /** the last 256 KiB of stderr (and of stdout under batch gdb, where gdb reports) */
  stderrTail: string;
  gdbText: string;
}

/** Run the spec with the caller's streams; under batch gdb the program's fate comes from gdb's report. */
export async function runAttached(engine: Engine, spec: ContainerSpec, io: RunIO, batchGdb: boolean): Promise<ContainerOutcome> {
  const tail = new TailBuffer(256 * 1024);
  const stdoutTail = new TailBuffer(256 * 1024);
  const stdout = batchGdb ? tee(io.stdout, stdoutTail) : io.stdout;
  const restore = spec.stdin && io.stdin?.isTTY ? rawMode(io.stdin) : undefined;
  let exitCode: number;
  let notes: string[] | undefined;
  try {
    ({ exitCode, notes } = await engine.runContainer(spec, {
      stdout,
      stderr: tee(io.stderr, tail),
      stdin: spec.stdin ? io.stdin : undefined,
      signal: io.signal,
      onStart: (resize) => {
        const out = io.stdout as NodeJS.WriteStream;
        if (spec.tty && out.rows) void resize(out.rows, out.columns);
      },
    }));
  } finally {
    restore?.();
  }
  // copy mode: what the engine could not copy back into a writable mount
  for (const n of notes ?? []) io.stderr.write(`pydbg: note: ${n}\n`);
  const gdbText = batchGdb ? `${stdoutTail.text()}\n${tail.text()}` : '';
  if (batchGdb) exitCode = gdbExitCode(gdbText) ?? exitCode;
  return { exitCode, stderrTail: tail.text(), gdbText };
}

/** The program's exit status from gdb's batch output: 128+signal, the exit code, or undefined. */
export function gdbExitCode(text: string): number | undefined {
  const sig = /Program (?:received|terminated with) signal (SIG[A-Z]+)/.exec(text);
  if (sig) {
    const n = SIGNAL_NUMBERS[sig[1]!];
    if (n) return 128 + n;
  }
  const exited = /\[Inferior \d+ \(process \d+\) exited (?:normally|with code (\d+))\]/.exec(text);
  if (exited) return exited[1] ? parseInt(exited[1], 8) : 0;
  return undefined;
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
