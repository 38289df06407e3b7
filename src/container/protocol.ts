/**
 * The protocol between pydbg and the scripts it puts into images (images/probe.py, images/finish.sh,
 * images/run/*): every sentinel line those scripts print and every positional argument they take is
 * defined here, once, and matched only through these helpers.
 */

/** probe.py prints one line: PYDBG-PROBE {"properties": …, "info": …, "mismatches": […]} */
export const PROBE_PREFIX = 'PYDBG-PROBE ';
export interface ProbeReport {
  properties: Record<string, unknown>;
  info: Record<string, unknown>;
  mismatches: Array<{ property: string; expected: unknown; actual: unknown }>;
}
export function parseProbeLine(line: string): ProbeReport | undefined {
  if (!line.startsWith(PROBE_PREFIX)) return undefined;
  try {
    const p = JSON.parse(line.slice(PROBE_PREFIX.length)) as ProbeReport;
    return p && typeof p === 'object' && p.properties ? p : undefined;
  } catch {
    return undefined;
  }
}

/** gdb-run.sh / pydbg_gdb.py: one JSON frame per line, and delimited sections. */
export const GDB_FRAME_PREFIX = 'PYDBG-FRAME ';
export const GDB_SECTIONS = {
  bt: ['PYDBG-BT-BEGIN', 'PYDBG-BT-END'],
  pyBt: ['PYDBG-PYBT-BEGIN', 'PYDBG-PYBT-END'],
  regs: ['PYDBG-REGS-BEGIN', 'PYDBG-REGS-END'],
} as const;
/** gdb-run.sh's first argument */
export type GdbMode = 'batch' | 'interactive' | 'core';

/** exec.sh: the line it prints (exit 127) when the user's command does not exist in the image */
export const EXEC_NOT_FOUND = 'pydbg-exec: command not found';
export const isCommandNotFound = (exitCode: number, stderrTail: string) => exitCode === 127 && stderrTail.includes(EXEC_NOT_FOUND);

/** finish.sh's positional arguments: UNCOMMENT_SUPPRESSIONS(0|1) PIP(offline|pypi) [present] */
export function finishArgs(a: { uncommentSuppressions: boolean; pip: 'offline' | 'pypi'; pipPresent?: boolean }): string {
  return `${a.uncommentSuppressions ? 1 : 0} ${a.pip}${a.pipPresent ? ' present' : ''}`;
}

/** live.sh (docker exec into a named run): its first line names the program's Python process */
export const LIVE_PREFIX = 'PYDBG-LIVE ';
export const LIVE_NO_PYTHON = 'PYDBG-LIVE-NOPYTHON';
export interface LiveProcess {
  pid: number;
  rssKb: number;
  uid: number;
  exe: string;
}
export function parseLiveLine(text: string): LiveProcess | undefined {
  const line = text.split('\n').find((l) => l.startsWith(LIVE_PREFIX));
  if (!line) return undefined;
  try {
    const p = JSON.parse(line.slice(LIVE_PREFIX.length)) as LiveProcess;
    return typeof p.pid === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}
/** live.sh's first argument */
export type LiveMode = 'info' | 'stacks' | 'core' | 'inject';
/** pydbg_gdb.py's pydbg-threads: one line per thread, then its frames and py-bt; a line at the end */
export const GDB_THREAD_PREFIX = 'PYDBG-THREAD ';
export const GDB_THREADS_END = 'PYDBG-THREADS-END';
/** live.sh inject: the environment variable carrying the code, and its report */
export const INJECT_CODE_ENV = 'PYDBG_INJECT_CODE';
export const INJECT_STATUS_PREFIX = 'PYDBG-INJECT-STATUS ';
export const INJECT_OUT = ['PYDBG-INJECT-OUT-BEGIN', 'PYDBG-INJECT-OUT-END'] as const;
export function parseInjectOutput(text: string): { status: number | null; output: string } {
  const s = text.split('\n').find((l) => l.startsWith(INJECT_STATUS_PREFIX));
  const n = s ? Number(s.slice(INJECT_STATUS_PREFIX.length).trim()) : NaN;
  const a = text.indexOf(`${INJECT_OUT[0]}\n`);
  const b = text.lastIndexOf(INJECT_OUT[1]);
  const output = a >= 0 && b > a ? text.slice(a + INJECT_OUT[0].length + 1, b) : '';
  return { status: Number.isInteger(n) ? n : null, output };
}
