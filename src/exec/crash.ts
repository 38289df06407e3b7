import { BUILD_DIR, PROJECT_MOUNT } from '../container/layout.js';
import { GDB_FRAME_PREFIX, GDB_SECTIONS } from '../container/protocol.js';

/** Signals that mean "the process crashed" (status 128+N from the container). */
export const CRASH_SIGNALS: Record<number, string> = { 4: 'SIGILL', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 11: 'SIGSEGV' };
const SIGNAL_NAMES: Record<number, string> = { ...CRASH_SIGNALS, 1: 'SIGHUP', 2: 'SIGINT', 9: 'SIGKILL', 13: 'SIGPIPE', 15: 'SIGTERM' };
export const SIGNAL_NUMBERS: Record<string, number> = Object.fromEntries(Object.entries(SIGNAL_NAMES).map(([n, name]) => [name, Number(n)]));

export function signalOf(exitCode: number): string | undefined {
  return exitCode > 128 && exitCode < 160 ? (SIGNAL_NAMES[exitCode - 128] ?? `signal ${exitCode - 128}`) : undefined;
}
export const isCrash = (exitCode: number) => exitCode > 128 && CRASH_SIGNALS[exitCode - 128] !== undefined;

export interface CFrame {
  level: number;
  function: string | null;
  /** path as the user knows it: project-relative for the user's own code, else as gdb reports it */
  file: string | null;
  line: number | null;
  objfile: string | null;
  inUserCode: boolean;
}

export interface CrashReport {
  signal: string | null;
  /** the first frame in the user's code: what a person would dig out of the backtrace */
  userFrame: CFrame | null;
  frames: CFrame[];
  /** gdb's own `bt` text */
  bt: string;
  /** python-gdb.py's `py-bt` text */
  pyBt: string;
  /** faulthandler's Python traceback from the original run */
  faulthandler: string[];
  reproducedUnderGdb: boolean;
  /** registers holding the allocator's dead-byte fill (0xDD…; 0xDB… on 2.7) when the signal came:
   *  the crash dereferenced memory that Python's debug hooks had freed */
  deadByteRegisters?: string[];
}

/** A value made of the debug allocator's dead bytes (plus a small offset): 0xdddddddddddddde8, 0xdddddddd. */
export function isDeadBytes(hex: string): boolean {
  const h = hex.toLowerCase().replace(/^0x/, '');
  if (h.length !== 16 && h.length !== 8) return false;
  const head = h.slice(0, h.length - (h.length === 16 ? 4 : 2));
  return /^(?:dd)+$/.test(head) || /^(?:db)+$/.test(head);
}

/** Map a path inside the container back to the user's project (relative), when it is theirs. */
export function toProjectPath(p: string | null): { file: string | null; user: boolean } {
  if (!p) return { file: null, user: false };
  for (const root of [BUILD_DIR, PROJECT_MOUNT]) {
    if (p === root || p.startsWith(`${root}/`)) {
      const rel = p.slice(root.length + 1);
      // setuptools' build/ directory (generated code) still counts as the user's
      return { file: rel, user: true };
    }
  }
  // CPython's own sources: show them as in a CPython checkout (Objects/call.c)
  const cpython = /^\/usr\/src\/cpython\/[^/]+\/(.+)$/.exec(p);
  return { file: cpython ? cpython[1]! : p, user: false };
}

export function parseGdbOutput(text: string): Omit<CrashReport, 'faulthandler'> {
  const section = ([begin, end]: readonly [string, string]) => {
    const a = text.indexOf(begin);
    const b = text.indexOf(end, a + 1);
    return a >= 0 && b > a ? text.slice(a + begin.length, b).trim() : '';
  };
  const frames: CFrame[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(GDB_FRAME_PREFIX)) continue;
    try {
      const f = JSON.parse(line.slice(GDB_FRAME_PREFIX.length)) as { level: number; function: string | null; file: string | null; line: number | null; objfile: string | null };
      const mapped = toProjectPath(f.file);
      frames.push({ level: f.level, function: f.function, file: mapped.file, line: f.line, objfile: f.objfile, inUserCode: mapped.user });
    } catch {
      /* a truncated line: ignore */
    }
  }
  const sig = /Program (?:received|terminated with) signal (SIG[A-Z]+)/.exec(text);
  return {
    signal: sig?.[1] ?? null,
    userFrame: frames.find((f) => f.inUserCode) ?? null,
    frames,
    bt: section(GDB_SECTIONS.bt),
    pyBt: section(GDB_SECTIONS.pyBt),
    reproducedUnderGdb: Boolean(sig),
    deadByteRegisters: deadRegisters(section(GDB_SECTIONS.regs)),
  };
}

function deadRegisters(regs: string): string[] {
  const out: string[] = [];
  for (const line of regs.split('\n')) {
    const m = /^(\w+)\s+(0x[0-9a-fA-F]+)/.exec(line.trim());
    if (m && isDeadBytes(m[2]!)) out.push(`${m[1]}=${m[2]}`);
  }
  return out;
}

/** faulthandler's block: "Fatal Python error: …" and the thread tracebacks after it. */
export function parseFaulthandler(stderr: string): string[] {
  const lines = stderr.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Fatal Python error:'));
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start)) {
    if (out.length > 0 && l.trim() === '' && out[out.length - 1]!.trim() === '') break;
    out.push(l);
    if (out.length >= 60) break;
  }
  return out.filter((l, i, a) => !(l.trim() === '' && i === a.length - 1));
}

export function formatCrash(c: CrashReport): string {
  const lines: string[] = [];
  const u = c.userFrame;
  const where = u ? `${u.function ?? '??'} at ${u.file}:${u.line ?? '?'} (your extension)` : c.frames[0] ? `${c.frames[0].function ?? '??'}${c.frames[0].file ? ` at ${c.frames[0].file}:${c.frames[0].line}` : ''}` : 'an unknown place';
  lines.push(`pydbg: crashed with ${c.signal ?? 'a signal'} in ${where}`);
  if (!c.reproducedUnderGdb) lines.push('pydbg: the crash did not happen again under gdb (timing-dependent?); no C backtrace');
  if (c.deadByteRegisters?.length) {
    lines.push(`pydbg: ${c.deadByteRegisters.join(', ')}: the allocator's dead-byte fill — this dereferences memory Python already freed (use after free)`);
  }
  if (c.frames.length) {
    lines.push('  C backtrace (gdb):');
    for (const f of c.frames.slice(0, 25)) {
      lines.push(`    #${f.level} ${f.function ?? '??'}${f.file ? ` at ${f.file}:${f.line ?? '?'}` : f.objfile ? ` from ${f.objfile}` : ''}${f.inUserCode ? '   <- your code' : ''}`);
    }
  }
  if (c.pyBt) {
    lines.push('  Python backtrace (py-bt):');
    for (const l of c.pyBt.split('\n')) lines.push(`    ${l}`);
  }
  if (c.faulthandler.length && !c.pyBt) {
    lines.push('  Python traceback (faulthandler):');
    for (const l of c.faulthandler) lines.push(`    ${l}`);
  }
  return `${lines.join('\n')}\n`;
}
