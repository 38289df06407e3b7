/**
 * `pydbg stacks`: gdb's pydbg-threads output (a live process or a core) → one stack per thread
 * (C frames through crash.ts's parser, py-bt as text), and the text report that marks the user's
 * frames. Pure.
 */
import { GDB_THREAD_PREFIX, GDB_THREADS_END } from '../container/protocol.js';
import { PROJECT_MOUNT } from '../container/layout.js';
import { parseGdbOutput, type CFrame } from './crash.js';

export interface ThreadStack {
  num: number;
  lwp: number;
  name: string | null;
  frames: CFrame[];
  /** the first C frame in the user's code */
  userFrame: CFrame | null;
  /** py-bt's text ('' when the thread runs no Python) */
  pyBt: string;
  /** py-bt's frames: file, line, function; `user` when the file is in the project */
  pyFrames: Array<{ file: string; line: number; function: string; user: boolean }>;
}

export interface StacksReport {
  /** a running container's name, or the core file */
  source: string;
  pid?: number;
  python?: string;
  variant?: string;
  threads: ThreadStack[];
  /** gdb's output ended without the end marker (it was cut, or failed) */
  complete: boolean;
}

const PY_FRAME = /^\s*File "([^"]+)", line (\d+), in (.+)$/;

export function parseThreads(text: string): { threads: ThreadStack[]; complete: boolean } {
  const threads: ThreadStack[] = [];
  const lines = text.split('\n');
  let head: { num: number; lwp: number; name: string | null } | undefined;
  let body: string[] = [];
  const flush = () => {
    if (!head) return;
    const chunk = body.join('\n');
    const g = parseGdbOutput(chunk);
    const pyFrames = g.pyBt.split('\n').flatMap((l) => {
      const m = PY_FRAME.exec(l);
      return m ? [{ file: m[1]!, line: Number(m[2]), function: m[3]!.trim(), user: m[1] === PROJECT_MOUNT || m[1]!.startsWith(`${PROJECT_MOUNT}/`) }] : [];
    });
    threads.push({ ...head, frames: g.frames, userFrame: g.userFrame, pyBt: pyFrames.length ? g.pyBt : '', pyFrames });
  };
  for (const line of lines) {
    if (line.startsWith(GDB_THREAD_PREFIX)) {
      flush();
      body = [];
      try {
        const h = JSON.parse(line.slice(GDB_THREAD_PREFIX.length)) as { num: number; lwp: number; name: string | null };
        head = { num: h.num, lwp: h.lwp, name: h.name ?? null };
      } catch {
        head = undefined;
      }
    } else if (line.startsWith(GDB_THREADS_END)) {
      flush();
      head = undefined;
    } else if (head) body.push(line);
  }
  flush();
  return { threads, complete: text.includes(GDB_THREADS_END) };
}

/** How many C frames of a thread the text report shows (the JSON has all). */
export const C_FRAMES_SHOWN = 12;

export function formatStacks(r: StacksReport): string {
  const out: string[] = [];
  const what = [r.python && `CPython ${r.python}${r.variant ? ` ${r.variant}` : ''}`, r.pid !== undefined && `pid ${r.pid}`].filter(Boolean).join(', ');
  out.push(`pydbg stacks ${r.source}${what ? `: ${what}` : ''}, ${r.threads.length} thread(s)`);
  if (!r.complete) out.push('  (gdb stopped before every thread was read: the report is partial)');
  for (const t of r.threads) {
    out.push('');
    out.push(`Thread ${t.num} (LWP ${t.lwp})${t.name ? ` "${t.name}"` : ''}${t.pyFrames[0] ? `: ${t.pyFrames[0].function} at ${t.pyFrames[0].file}:${t.pyFrames[0].line}` : ''}`);
    if (t.pyFrames.length) {
      out.push('  Python (most recent call first):');
      for (const f of t.pyFrames) out.push(`    ${f.function} at ${f.file}:${f.line}${f.user ? '   <- your code' : ''}`);
    } else out.push('  Python: no Python frames in this thread');
    if (t.frames.length) {
      out.push('  C:');
      for (const f of t.frames.slice(0, C_FRAMES_SHOWN)) {
        out.push(`    #${f.level} ${f.function ?? '??'}${f.file ? ` at ${f.file}:${f.line ?? '?'}` : f.objfile ? ` from ${f.objfile}` : ''}${f.inUserCode ? '   <- your code' : ''}`);
      }
      if (t.frames.length > C_FRAMES_SHOWN) out.push(`    … ${t.frames.length - C_FRAMES_SHOWN} more (--json has every frame)`);
    }
  }
  return `${out.join('\n')}\n`;
}
