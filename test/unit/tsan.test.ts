/**
 * check tsan: ThreadSanitizer's reports → findings (pure), the command it runs (ASLR off, the
 * container without its seccomp filter), its refusals, and a kernel whose ASLR breaks TSan.
 */
import { describe, expect, it } from 'vitest';
import { parseTsan, parseTsanLayout, tsan, tsanFrame, tsanKind } from '../../src/analyses/tsan.js';
import { createOptions } from '../../src/engine/run-container.js';
import { runSpec } from '../../src/exec/container.js';
import { planVariant } from '../../src/project/plan.js';
import type { RunResult } from '../../src/exec/types.js';
import type { ExtensionBuild } from '../../src/project/detect.js';

/** gcc 12's libtsan, a free-threaded 3.13 build: add_unlocked() from two threads. */
const RACE = `==================
WARNING: ThreadSanitizer: data race (pid=27)
  Read of size 8 at 0x7f3c4b8d10c8 by thread T2:
    #0 add_unlocked /pydbg/build/counter.c:18 (counter.cpython-313t-x86_64-linux-gnu.so+0x1229)
    #1 cfunction_vectorcall_O Objects/methodobject.c:512 (libpython3.13t.so.1.0+0x2b8f1a)
    #2 _PyEval_EvalFrameDefault Python/generated_cases.c.h:1475 (python3.13t+0x3f2e7c)

  Previous write of size 8 at 0x7f3c4b8d10c8 by thread T1:
    #0 add_unlocked /pydbg/build/counter.c:18 (counter.cpython-313t-x86_64-linux-gnu.so+0x1240)
    #1 cfunction_vectorcall_O /usr/src/cpython/Python-3.13.5/Objects/methodobject.c:512 (python3.13t+0x2b8f1a)

  Location is global 'counter' of size 8 at 0x7f3c4b8d10c8 (counter.cpython-313t-x86_64-linux-gnu.so+0x40c8)

  Thread T2 (tid=30, running) created by main thread at:
    #0 pthread_create ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:1001 (libtsan.so.2+0x5e686)
    #1 do_start_joinable_thread /usr/src/cpython/Python-3.13.5/Python/thread_pthread.h:290 (python3.13t+0x4a1c2e)

  Thread T1 (tid=29, finished) created by main thread at:
    #0 pthread_create ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:1001 (libtsan.so.2+0x5e686)

SUMMARY: ThreadSanitizer: data race /pydbg/build/counter.c:18 in add_unlocked
==================
==================
WARNING: ThreadSanitizer: data race (pid=27)
  Write of size 4 at 0x7b0800001234 by thread T3 (mutexes: write M0):
    #0 _Py_something /usr/src/cpython/Python-3.13.5/Objects/object.c:99 (python3.13t+0x11)
    #1 add_locked /pydbg/build/counter.c:28 (counter.cpython-313t-x86_64-linux-gnu.so+0x1300)

  Previous read of size 4 at 0x7b0800001234 by main thread:
    #0 _Py_other /usr/src/cpython/Python-3.13.5/Objects/object.c:120 (python3.13t+0x22)

  Mutex M0 (0x7f3c4b8d10d0) created at:
    #0 pthread_mutex_lock ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:4324 (libtsan.so.2+0x3a1b6)

SUMMARY: ThreadSanitizer: data race /usr/src/cpython/Python-3.13.5/Objects/object.c:99 in _Py_something
==================
ThreadSanitizer: reported 2 warnings
`;

describe('ThreadSanitizer reports (pure)', () => {
  it('frames: function, file:line (column optional), module; <null> for unknown; CPython paths as in a checkout', () => {
    expect(tsanFrame('    #0 add_unlocked /pydbg/build/counter.c:18 (counter.so+0x1229)')).toEqual({ function: 'add_unlocked', file: 'counter.c', line: 18, object: 'counter.so', inUserCode: true });
    expect(tsanFrame('    #3 main /opt/x.c:4:12 (a.out+0x1)')).toMatchObject({ function: 'main', file: '/opt/x.c', line: 4, inUserCode: false });
    expect(tsanFrame('    #1 <null> <null> (libc.so.6+0x2)')).toEqual({ function: null, file: null, line: null, object: 'libc.so.6', inUserCode: false });
    expect(tsanFrame('    #1 f /usr/src/cpython/Python-3.13.5/Objects/a.c:5 (python3.13t+0x2)')).toMatchObject({ file: 'Objects/a.c', inUserCode: false });
    expect(tsanFrame('  Location is global')).toBeNull();
  });
  it('kinds are slugs of the headline', () => {
    expect(tsanKind('data race')).toBe('data-race');
    expect(tsanKind('lock-order-inversion (potential deadlock)')).toBe('lock-order-inversion');
    expect(tsanKind('heap-use-after-free')).toBe('heap-use-after-free');
  });
  it('a race in your code: both accesses with threads and mutexes, the location, thread creation stacks', () => {
    const [mine, theirs] = parseTsan(RACE);
    expect(mine!.kind).toBe('data-race');
    expect(mine!.message).toBe("data race: read of size 8 by thread T2 holding no mutex in add_unlocked (counter.c:18); previous write of size 8 by thread T1 holding no mutex in add_unlocked (counter.c:18) (on global 'counter' of size 8)");
    expect(mine!.userFrame).toEqual({ function: 'add_unlocked', file: 'counter.c', line: 18, object: 'counter.cpython-313t-x86_64-linux-gnu.so', inUserCode: true });
    expect(mine!.frames.map((f) => f.function)).toEqual(['add_unlocked', 'cfunction_vectorcall_O', '_PyEval_EvalFrameDefault']);
    expect(mine!.related.map((r) => r.message)).toEqual([
      'previous write of size 8 by thread T1 holding no mutex in add_unlocked (counter.c:18)',
      'Thread T2 created by main thread at',
      'Thread T1 created by main thread at',
    ]);
    expect(mine!.data).toEqual({ accesses: 'read of size 8 / previous write of size 8', location: "global 'counter' of size 8" });
    // a race between two CPython functions, reached from your code: the interpreter's, saying from where
    expect(theirs!.userFrame).toBeNull();
    expect(theirs!.message).toMatch(/^data race: write of size 4 by thread T3 holding write M0 in _Py_something \(Objects\/object\.c:99\); previous read of size 4 by main thread holding no mutex in _Py_other \(Objects\/object\.c:120\), reached from your code at add_locked \(counter\.c:28\)$/);
    expect(theirs!.data.mutexes).toBe('write M0 / none');
    expect(theirs!.related.map((r) => r.message)).toContain('Mutex M0 created at');
  });
  it('your access first even when TSan prints it second', () => {
    const swapped = RACE.split('==================\n==================')[0]!
      .replace('#0 add_unlocked /pydbg/build/counter.c:18 (counter.cpython-313t-x86_64-linux-gnu.so+0x1229)', '#0 _Py_x /usr/src/cpython/Python-3.13.5/Objects/x.c:1 (python3.13t+0x1)');
    const [f] = parseTsan(swapped);
    expect(f!.message).toMatch(/^data race: previous write of size 8 by thread T1 holding no mutex in add_unlocked \(counter\.c:18\); read of size 8 by thread T2/);
    expect(f!.userFrame).toMatchObject({ file: 'counter.c', line: 18 });
  });
  it('no report: no findings; the layout file says whether ASLR was turned off', () => {
    expect(parseTsan('counter: 40000\n')).toEqual([]);
    expect(parseTsanLayout('aslr=off mmap_rnd_bits=28\n')).toEqual({ aslr: 'off', mmapRndBits: 28 });
    expect(parseTsanLayout('aslr=on mmap_rnd_bits=unknown\n')).toEqual({ aslr: 'on', mmapRndBits: null });
    expect(parseTsanLayout(undefined)).toBeUndefined();
  });
});

describe('check tsan: command, refusals, the kernel', () => {
  const plan = (variant: string, python = '3.13') => planVariant({ python, variant, arch: 'amd64' });
  const run = (exitCode = 0): RunResult => ({ command: [], image: 'x', python: '3.13.5', variant: 'tsan,freethreaded', exitCode, signal: null, durationSeconds: 1, extension: { kind: 'none', cached: true, image: 'x', seconds: 0 } });

  it('runs the repro under tsanrun.sh with every report logged, ASLR off and no seccomp filter for that', () => {
    const cmd = tsan.command({ plan: plan('freethreaded,tsan'), repro: ['race.py', '-n', '3'], options: {} });
    expect(cmd.argv).toEqual(['sh', '/opt/pydbg-run/tsanrun.sh', '/pydbg/out/tsan-layout', 'python', 'race.py', '-n', '3']);
    expect(cmd.env.TSAN_OPTIONS).toBe('suppressions=/opt/pydbg/tsan-suppressions.txt halt_on_error=0 exitcode=0 second_deadlock_stack=1 log_path=/pydbg/out/tsan');
    expect(cmd.aslrOff).toBe(true);
    expect(cmd.crashArgv).toEqual(['python', 'race.py', '-n', '3']);
    expect(tsan.defaultVariant).toBe('tsan,freethreaded');
  });
  it('a run that turns ASLR off gets SecurityOpt seccomp=unconfined; other runs keep the default profile', () => {
    const base = { plan: plan('freethreaded,tsan'), ext: { kind: 'none', reason: 'no extension' } as ExtensionBuild, image: 'img', projectDir: '/p', user: '1000:1000', qemuEnv: {}, interactive: false, tty: false };
    const spec = runSpec({ ...base, req: { argv: ['python', 'x.py'], aslrOff: true } });
    expect(createOptions(spec).HostConfig.SecurityOpt).toEqual(['seccomp=unconfined']);
    const plain = runSpec({ ...base, req: { argv: ['python', 'x.py'] } });
    expect(createOptions(plain).HostConfig.SecurityOpt).toBeUndefined();
  });
  it('refused on builds without ThreadSanitizer, naming the variant that has it', () => {
    expect(tsan.unavailable(plan('freethreaded'))).toEqual({ message: 'the freethreaded build is not built with ThreadSanitizer', hint: 'use --variant freethreaded,tsan (or tsan) --python 3.13.5' });
    expect(tsan.unavailable(plan('debug', '3.11'))!.hint).toMatch(/exist from CPython 3\.13/);
    expect(tsan.unavailable(plan('tsan'))).toBeUndefined();
  });
  it('a kernel whose mmap randomisation TSan cannot live with, and ASLR not turned off: the tool failed, with the sysctl that fixes it', () => {
    // TSan says it on stderr before it opens log_path; tsanrun.sh copies the line into the layout file
    const files = new Map([['tsan-layout', 'aslr=on mmap_rnd_bits=32\nFATAL: ThreadSanitizer: unexpected memory mapping 0x5581d2a4c000-0x5581d2a4d000\n']]);
    let err: { exitCode?: number; message?: string; hint?: string } = {};
    try {
      tsan.parse(files, { plan: plan('tsan'), run: run(66), repro: ['race.py'], outDir: '/r' });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.exitCode).toBe(22);
    expect(err.message).toBe("ThreadSanitizer could not start (unexpected memory mapping 0x5581d2a4c000-0x5581d2a4d000): the engine's kernel randomises mmap with 32 bits (vm.mmap_rnd_bits) and ASLR could not be turned off in the container");
    expect(err.hint).toMatch(/sysctl -w vm\.mmap_rnd_bits=28/);
  });
  it('parse: your race is a user finding, the interpreter\'s are not; the summary says how ASLR was handled', () => {
    const files = new Map([['tsan.27', RACE], ['tsan-layout', 'aslr=off mmap_rnd_bits=28\n']]);
    const r = tsan.parse(files, { plan: plan('freethreaded,tsan'), run: run(0), repro: ['race.py'], outDir: '/r' });
    expect(r.status).toBe('complete');
    expect(r.userFindings.map((f) => f.kind)).toEqual(['data-race']);
    expect(r.interpreterFindings).toHaveLength(1);
    expect(r.rawFiles).toEqual(['/r/tsan.27']);
    expect(r.summary).toEqual({ aslr: 'off (setarch -R)', suppressions: "CPython's Tools/tsan/suppressions_free_threading.txt" });
  });
});

describe('the other report shapes', () => {
  it('frames: C++ names with spaces, no file, a bare module address', () => {
    expect(tsanFrame('    #0 operator new(unsigned long) ../../src/libsanitizer/tsan/tsan_new_delete.cpp:64 (libtsan.so.2+0x8f2b3)')).toMatchObject({ function: 'operator new(unsigned long)', line: 64, object: 'libtsan.so.2' });
    expect(tsanFrame('    #0 foo (bin+0x123)')).toEqual({ function: 'foo', file: null, line: null, object: 'bin', inUserCode: false });
    expect(tsanFrame('    #2 <null> <null> (0x7f00deadbeef)')).toEqual({ function: null, file: null, line: null, object: null, inUserCode: false });
  });
  it('a race through a CPython header inlined into your function is yours', () => {
    const text = `WARNING: ThreadSanitizer: data race (pid=5)
  Write of size 8 at 0x7b1 by thread T1:
    #0 PyList_SET_ITEM /opt/python/include/python3.13t/cpython/listobject.h:47 (ext.so+0x10)
    #1 fill /pydbg/build/ext.c:12 (ext.so+0x10)

  Previous read of size 8 at 0x7b1 by thread T2:
    #0 fill /pydbg/build/ext.c:11 (ext.so+0x20)

SUMMARY: ThreadSanitizer: data race
`;
    const [f] = parseTsan(text);
    expect(f!.userFrame).toMatchObject({ function: 'fill', file: 'ext.c', line: 12 });
  });
  it('a lock-order inversion: both acquisitions, the cycle, your frames', () => {
    const text = `WARNING: ThreadSanitizer: lock-order-inversion (potential deadlock) (pid=9)
  Cycle in lock order graph: M0 (0x7b0c00000010) => M1 (0x7b0c00000040) => M0

  Mutex M1 acquired here while holding mutex M0 in thread T1:
    #0 pthread_mutex_lock ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:4324 (libtsan.so.2+0x3a1b6)
    #1 ab /pydbg/build/dl.c:9 (dl.so+0x11)

  Mutex M0 previously acquired by the same thread here:
    #0 pthread_mutex_lock ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:4324 (libtsan.so.2+0x3a1b6)
    #1 ab /pydbg/build/dl.c:8 (dl.so+0x12)

  Mutex M0 acquired here while holding mutex M1 in thread T2:
    #0 pthread_mutex_lock ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:4324 (libtsan.so.2+0x3a1b6)
    #1 ba /pydbg/build/dl.c:15 (dl.so+0x13)

SUMMARY: ThreadSanitizer: lock-order-inversion (potential deadlock) /pydbg/build/dl.c:9 in ab
`;
    const [f] = parseTsan(text);
    expect(f!.kind).toBe('lock-order-inversion');
    expect(f!.userFrame).toMatchObject({ function: 'ab', file: 'dl.c', line: 9 });
    expect(f!.message).toBe('lock-order-inversion (potential deadlock): lock of M1 by thread T1 holding M0 in ab (dl.c:9); lock of M0 by thread T2 holding M1 in ba (dl.c:15) (on lock order M0 => M1 => M0)');
    expect(f!.related.map((r) => r.message)).toContain('Mutex M0 previously acquired by the same thread here');
  });
});

describe('a real report (gcc 12 libtsan, 3.13.5 tsan,freethreaded, examples/race race.py)', () => {
  it('one data race, yours, at counter.c:20 in add_unlocked, on the global counter', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../fixtures/tsan/race.gcc12.txt', import.meta.url), 'utf8');
    const found = parseTsan(text);
    expect(found).toHaveLength(1);
    expect(found[0]!.userFrame).toMatchObject({ function: 'add_unlocked', file: 'counter.c', line: 20, inUserCode: true });
    expect(found[0]!.message).toMatch(/^data race: read of size 8 by thread T\d holding no mutex in add_unlocked \(counter\.c:20\); previous write of size 8 by thread T\d holding no mutex in add_unlocked \(counter\.c:20\) \(on global 'counter' of size 8\)$/);
    expect(found[0]!.frames[1]).toMatchObject({ function: 'cfunction_vectorcall_O', file: 'Objects/methodobject.c', line: 512, inUserCode: false });
  });
});
