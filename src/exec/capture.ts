/**
 * Crash capture: when the command dies of a crash signal, get a C + Python backtrace — from the core
 * file when one was left in a read-write project, else by re-running the command under gdb.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerSpec } from '../engine/engine.js';
import { helper, PROJECT_MOUNT, PYTHON_PREFIX } from '../container/layout.js';
import { formatCrash, parseFaulthandler, parseGdbOutput, type CrashReport } from './crash.js';
import { underGdb } from './container.js';
import { TailBuffer } from './streams.js';
import type { RunIO } from './types.js';

export interface CaptureInput {
  spec: ContainerSpec;
  /** what to re-run under gdb */
  argv: string[];
  signal: string | null;
  stderrTail: string;
  /** gdb's report when the run itself was under batch gdb (no re-run needed) */
  gdbText?: string;
  /** look for a core file the crash left in this (read-write) project directory */
  coreDir?: string;
  startedAt: number;
}

export async function captureCrash(c: CaptureInput, io: RunIO): Promise<CrashReport> {
  const faulthandler = parseFaulthandler(c.stderrTail);
  let gdbText = c.gdbText ?? '';
  if (!c.gdbText) {
    const core = c.coreDir ? await newestCore(c.coreDir, c.startedAt) : undefined;
    const cmd = core ? ['sh', helper('gdb-run.sh'), 'core', `${PYTHON_PREFIX}/bin/python`, `${PROJECT_MOUNT}/${core}`] : underGdb('batch', c.argv);
    io.progress.log(core ? `${c.signal}: analysing the core file ${core}` : `${c.signal}: re-running under gdb for a C + Python backtrace`);
    const buf = new TailBuffer(512 * 1024);
    await io.engine.runContainer({ ...c.spec, cmd, tty: false, stdin: false }, { stdout: buf, stderr: buf, signal: io.signal });
    gdbText = core ? `Program terminated with signal ${c.signal}\n${buf.text()}` : buf.text();
  }
  const crash: CrashReport = { ...parseGdbOutput(gdbText), faulthandler };
  if (!crash.signal) crash.signal = c.signal;
  io.stderr.write(formatCrash(crash));
  return crash;
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
