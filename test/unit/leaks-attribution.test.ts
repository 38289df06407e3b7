import { describe, expect, it } from 'vitest';
import { analyseLeaks, createdAt, memcheckCommand, type LeakRun } from '../../src/analyses/leaks.js';

const run = (rounds: LeakRun['rounds'], extra: Partial<LeakRun> = {}): LeakRun => ({
  target: 'repro.py', iterations: 20, warmup: 2, rounds, error: null, has_refs: true, has_blocks: true, has_tracemalloc: true, type_source: 'gc', ...extra,
});
const group = { window: '', type: 'tuple', count: 30, sample: "(1000, 'cn=user')", file: 'repro.py', line: 7, function: 'lookup', callee: 'svc.search()', target: false };

describe('leak attribution', () => {
  it('names a type the gc does not count (an untracked tuple), where it was created and the C function', () => {
    const r = { refs: 600, blocks: 600, rss: 0, types: { tuple: -400 } };
    const { findings } = analyseLeaks(run([r, r, r, r], { attribution: { calls: { '': 3 }, groups: [group], callees: [] } }), 'repro.py');
    const f = findings.find((x) => x.kind === 'TypeLeak')!;
    expect(f.message).toBe('leaks 10 tuple per run, created at repro.py:7 in lookup(), by svc.search()');
    expect(f.userFrame).toMatchObject({ file: 'repro.py', line: 7, function: 'lookup' });
    expect(f.related[0]!.message).toBe("e.g. (1000, 'cn=user')");
  });
  it('never guesses: an attributed type without refcount growth in every round is not reported', () => {
    const r = { refs: 0, blocks: 0, rss: 0, types: {} };
    const { findings } = analyseLeaks(run([r, r, r, r], { attribution: { calls: { '': 3 }, groups: [group], callees: [] } }), 'repro.py');
    expect(findings).toEqual([]);
  });
  it('a one-off survivor (below 0.5 per call) is not a leak', () => {
    const r = { refs: 600, blocks: 600, rss: 0, types: {} };
    const { findings } = analyseLeaks(run([r, r, r, r], { attribution: { calls: { '': 3 }, groups: [{ ...group, type: 'list', count: 1 }], callees: [] } }), 'repro.py');
    expect(findings.map((f) => f.kind)).not.toContain('TypeLeak');
  });
  it('the target itself is the C function: "created by"', () => {
    expect(createdAt({ file: null, line: null, function: null, callee: 'refleak.search()' })).toBe(', created by refleak.search()');
  });
  it('memory-only growth suggests the exact memcheck command', () => {
    expect(memcheckCommand({ target: 'leak:leaky_function' }, '3.13.5')).toBe('pydbg check memcheck --python 3.13 -- python -c "import leak; [leak.leaky_function() for _ in range(100)]"');
    expect(memcheckCommand({ target: 'service_loop.py' }, '3.13.5')).toBe('pydbg check memcheck --python 3.13 service_loop.py');
    const r = { refs: 0, blocks: 0, traced_blocks: 0, traced_bytes: 0, rss: 1024 * 2000, types: {} };
    const { findings } = analyseLeaks(run([r, r, r, r], { iterations: 2000, target: 'leak:leaky_function' }), null, '3.13.5');
    expect(findings[0]!.related[0]!.message).toContain('run: pydbg check memcheck --python 3.13 -- python -c "import leak;');
  });
});
