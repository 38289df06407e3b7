import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockedOn, deadlockText, findDeadlocks, formatStacks, type LockThread, type StacksReport } from '../../src/exec/stacks.js';

const ref = (expr: string, id: number, line: number) => ({ expr, id, file: '/src/dl.py', line });
const t1: LockThread = { ident: 1, name: 't1', lwp: 11, waits: ref('b', 200, 6), holds: [ref('a', 100, 4)] };
const t2: LockThread = { ident: 2, name: 't2', lwp: 12, waits: ref('a', 100, 11), holds: [ref('b', 200, 9)] };
const main: LockThread = { ident: 3, name: 'MainThread', lwp: 10, waits: ref('lock', 300, 1100), holds: [] };
const fr = (fn: string) => ({ level: 0, function: fn, file: null, line: null, objfile: null, inUserCode: false });

describe('locks: who waits for what, and deadlocks', () => {
  it('a two-lock cycle is one deadlock, each thread with the lock it holds and the one it waits for', () => {
    const d = findDeadlocks([main, t1, t2]);
    expect(d).toHaveLength(1);
    expect(d[0]!.threads.map((t) => [t.name, t.holds.expr, t.waits.expr])).toEqual([['t1', 'a', 'b'], ['t2', 'b', 'a']]);
    const threads = [{ num: 2, lwp: 11, name: 't1' }, { num: 3, lwp: 12, name: 't2' }] as StacksReport['threads'];
    expect(deadlockText(d[0]!, threads)).toBe('DEADLOCK: thread 2 "t1" (LWP 11) holds a (dl.py:4) and waits for b at dl.py:6; thread 3 "t2" (LWP 12) holds b (dl.py:9) and waits for a at dl.py:11');
  });
  it('waiting for a lock nobody in the cycle holds (a join, a free lock): no deadlock', () => {
    expect(findDeadlocks([main, { ...t1, waits: ref('c', 999, 6) }, t2])).toEqual([]);
    expect(findDeadlocks([])).toEqual([]);
  });
  it('three threads in a ring: one deadlock of three', () => {
    const t3: LockThread = { ident: 4, name: 't3', lwp: 13, waits: ref('a', 100, 20), holds: [ref('c', 400, 18)] };
    const d = findDeadlocks([{ ...t1 }, { ...t2, waits: ref('c', 400, 11) }, t3]);
    expect(d).toHaveLength(1);
    expect(d[0]!.threads.map((t) => t.name)).toEqual(['t1', 't2', 't3']);
  });
  it('blockedOn: the C frames of a lock wait and of a GIL wait', () => {
    expect(blockedOn([fr('__futex_abstimed_wait_common'), fr('PyThread_acquire_lock_timed'), fr('acquire_timed')] as never)).toBe('lock');
    expect(blockedOn([fr('pthread_cond_timedwait'), fr('take_gil'), fr('PyEval_RestoreThread')] as never)).toBe('gil');
    expect(blockedOn([fr('clock_nanosleep'), fr('pysleep')] as never)).toBeNull();
  });
  it('the report: the deadlock first, then each thread says what it waits for and holds', () => {
    const r: StacksReport = {
      source: 'svc', pid: 7, threads: [
        { num: 1, lwp: 10, name: 'python', frames: [], userFrame: null, pyBt: '', pyFrames: [] },
        { num: 2, lwp: 11, name: 't1', frames: [fr('PyThread_acquire_lock_timed')] as never, userFrame: null, pyBt: 'x', pyFrames: [{ file: '/src/dl.py', line: 6, function: 't1', user: true }] },
        { num: 3, lwp: 12, name: 't2', frames: [fr('PyThread_acquire_lock_timed')] as never, userFrame: null, pyBt: 'x', pyFrames: [{ file: '/src/dl.py', line: 11, function: 't2', user: true }] },
      ],
      complete: true, locks: [main, t1, t2], deadlocks: findDeadlocks([main, t1, t2]),
    };
    const text = formatStacks(r);
    expect(text.split('\n')[1]).toMatch(/^DEADLOCK: thread 2 "t1"/);
    expect(text).toContain('  blocked: waits for lock b at dl.py:6, held by thread 3 "t2" (LWP 12)\n  holds: a (dl.py:4)');
  });
});

describe("images/run/pydbg_locks.py (this machine's python3, in a process with a real deadlock)", () => {
  it('names what each thread waits for and holds, from the source', () => {
    const LOCKS = join(__dirname, '..', '..', 'images', 'run', 'pydbg_locks.py');
    const program = [
      'import threading, time, runpy',
      'a = threading.Lock(); b = threading.RLock()',
      'def t1():',
      '    with a:',
      '        time.sleep(0.2)',
      '        with b:',
      '            pass',
      'def t2():',
      '    with b:  # the other order',
      '        time.sleep(0.2)',
      '        a.acquire()',
      'threading.Thread(target=t1, name="t1", daemon=True).start(); threading.Thread(target=t2, name="t2", daemon=True).start()',
      'time.sleep(0.6)',
      `runpy.run_path(${JSON.stringify(LOCKS)}, {}, '__pydbg_locks__')`,
    ].join('\n');
    // a file: the analysis reads the source lines (linecache), as it does in /src
    const file = join(mkdtempSync(join(tmpdir(), 'pydbg-locks-')), 'dl.py');
    writeFileSync(file, program);
    const out = execFileSync('python3', [file], { encoding: 'utf8' });
    const threads = JSON.parse(out.split('PYDBG-LOCKS ')[1]!) as LockThread[];
    const byName = Object.fromEntries(threads.map((t) => [t.name, t]));
    expect(byName.t1).toMatchObject({ waits: { expr: 'b', line: 6 }, holds: [{ expr: 'a', line: 4 }] });
    expect(byName.t2).toMatchObject({ waits: { expr: 'a', line: 11 }, holds: [{ expr: 'b', line: 9 }] });
    expect(findDeadlocks(threads)).toHaveLength(1);
  });
});
