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
  /** with two or more threads blocked on locks: who waits for and holds which lock (from the source) */
  locks?: LockThread[];
  /** lock cycles among them */
  deadlocks?: Deadlock[];
  /** why the lock analysis is missing, when it was tried */
  locksNote?: string;
}

/** A lock named in the source: `with a:` at file:line; id is the lock object's id() in the process. */
export interface LockRef {
  expr: string;
  id: number;
  file: string;
  line: number;
}

/** What images/run/pydbg_locks.py says of one thread. */
export interface LockThread {
  ident: number;
  name: string | null;
  lwp: number | null;
  waits: LockRef | null;
  holds: LockRef[];
}

/** A cycle: each thread waits for a lock the next one holds. */
export interface Deadlock {
  threads: Array<{ name: string | null; lwp: number | null; holds: LockRef; waits: LockRef }>;
}

/** What a thread is blocked in, from its C frames: a lock, the GIL, or nothing pydbg recognises. */
export function blockedOn(frames: readonly CFrame[]): 'lock' | 'gil' | null {
  const names = frames.slice(0, 12).map((f) => f.function ?? '');
  if (names.some((n) => n === 'take_gil')) return 'gil';
  if (names.some((n) => /^(PyThread_acquire_lock_timed|acquire_timed|lock_PyThread_acquire_lock|rlock_acquire|_PyMutex_LockTimed|PyMutex_LockTimed|_PySemaphore_Wait|lock_acquire_parse_args)$/.test(n))) return 'lock';
  return null;
}

/** Pure: the wait-for cycles (thread → the holder of the lock it waits for). */
export function findDeadlocks(threads: readonly LockThread[]): Deadlock[] {
  const holder = new Map<number, LockThread>();
  for (const t of threads) for (const h of t.holds) holder.set(h.id, t);
  const out: Deadlock[] = [];
  const seen = new Set<string>();
  for (const start of threads) {
    const path: LockThread[] = [];
    let t: LockThread | undefined = start;
    while (t && t.waits && !path.includes(t)) {
      path.push(t);
      const next = holder.get(t.waits.id);
      t = next === t ? undefined : next;
    }
    if (!t || !path.includes(t)) continue;
    const cycle = path.slice(path.indexOf(t));
    const key = cycle.map((c) => c.ident).sort().join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      threads: cycle.map((c, i) => {
        // the lock this thread holds that the previous one in the cycle waits for
        const prev = cycle[(i - 1 + cycle.length) % cycle.length]!;
        const holds = c.holds.find((h) => h.id === prev.waits!.id) ?? c.holds[0]!;
        return { name: c.name, lwp: c.lwp, holds, waits: c.waits! };
      }),
    });
  }
  return out;
}

const base = (f: string) => f.split('/').pop()!;
const threadLabel = (name: string | null, lwp: number | null, threads: readonly ThreadStack[]) => {
  const g = threads.find((t) => lwp !== null && t.lwp === lwp);
  return `thread ${g ? `${g.num} ` : ''}${name ? `"${name}"` : ''}${lwp !== null ? ` (LWP ${lwp})` : ''}`.replace(/ +/g, ' ').trim();
};

export function deadlockText(d: Deadlock, threads: readonly ThreadStack[]): string {
  return `DEADLOCK: ${d.threads.map((t) => `${threadLabel(t.name, t.lwp, threads)} holds ${t.holds.expr} (${base(t.holds.file)}:${t.holds.line}) and waits for ${t.waits.expr} at ${base(t.waits.file)}:${t.waits.line}`).join('; ')}`;
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
  for (const d of r.deadlocks ?? []) out.push(deadlockText(d, r.threads));
  if (r.locksNote) out.push(`  (locks: ${r.locksNote})`);
  for (const t of r.threads) {
    out.push('');
    out.push(`Thread ${t.num} (LWP ${t.lwp})${t.name ? ` "${t.name}"` : ''}${t.pyFrames[0] ? `: ${t.pyFrames[0].function} at ${t.pyFrames[0].file}:${t.pyFrames[0].line}` : ''}`);
    const blocked = blockedOn(t.frames);
    const lt = r.locks?.find((l) => l.lwp === t.lwp);
    if (lt?.waits) {
      const h = r.locks!.find((o) => o.holds.some((x) => x.id === lt.waits!.id) && o !== lt);
      out.push(`  blocked: waits for lock ${lt.waits.expr} at ${base(lt.waits.file)}:${lt.waits.line}${h ? `, held by ${threadLabel(h.name, h.lwp, r.threads)}` : ''}`);
    } else if (blocked) out.push(`  blocked: ${blocked === 'gil' ? 'waiting for the GIL' : 'waiting to acquire a lock'}`);
    if (lt?.holds.length) out.push(`  holds: ${lt.holds.map((h) => `${h.expr} (${base(h.file)}:${h.line})`).join(', ')}`);
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
