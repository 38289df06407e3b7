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
