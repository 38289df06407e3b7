/**
 * Under Valgrind every PyMem/PyObject block must be a plain malloc block: PYTHONMALLOC=malloc on
 * every 3.6+ build that accepts it, debug builds included (there `malloc` also turns the memory
 * debug hooks off; `malloc_debug` would keep them, and their pad bytes would hide a write just
 * outside a block). 2.7 has no PYTHONMALLOC: the note names the nopymalloc variant.
 */
import { describe, expect, it } from 'vitest';
import { massif } from '../../src/analyses/massif.js';
import { memcheck, valgrindEnv, valgrindUnusable } from '../../src/analyses/memcheck.js';
import { planVariant } from '../../src/project/plan.js';

const plan = (variant: string, python: string) => planVariant({ variant, python });
const cmd = (variant: string, python: string) => memcheck.command({ plan: plan(variant, python), repro: ['repro.py'], options: {} });

describe('memcheck: PyMem blocks are plain malloc blocks', () => {
  it.each([
    ['debug', '3.13'],
    ['nopymalloc', '3.11'], // --without-pymalloc --with-pydebug: the allocator is malloc_debug, hooks on
    ['nopymalloc', '3.13'],
    ['release', '3.13'],
    ['pymalloc-debug', '3.13'], // the image's own PYTHONMALLOC=pymalloc_debug is overridden for the run
    ['trace-refs', '3.9'],
    ['count-allocs', '3.8'],
    ['ubsan', '3.13'],
  ])('%s %s: PYTHONMALLOC=malloc', (variant, python) => {
    const c = cmd(variant, python);
    expect(c.env).toEqual({ PYTHONMALLOC: 'malloc' });
    expect(c.notes).toHaveLength(1);
    expect(c.notes[0]).toMatch(/^PYTHONMALLOC=malloc: /);
  });

  it('the note says what it turns off on each build', () => {
    expect(cmd('debug', '3.13').notes[0]).toMatch(/pymalloc bypassed; the memory debug hooks off \(their pad bytes would hide a write just outside a block/);
    expect(cmd('nopymalloc', '3.11').notes[0]).not.toContain('pymalloc bypassed');
    expect(cmd('nopymalloc', '3.11').notes[0]).toContain('the memory debug hooks off');
    expect(cmd('release', '3.13').notes[0]).toMatch(/pymalloc bypassed: every PyMem\/PyObject block is a plain malloc block/);
    expect(cmd('release', '3.13').notes[0]).not.toContain('hooks');
  });

  it('the image sets no allocator of its own for the run to fight with, except pymalloc-debug (overridden)', () => {
    for (const [v, p] of [['debug', '3.13'], ['nopymalloc', '3.11']] as const) expect(plan(v, p).spec.env.PYTHONMALLOC).toBeUndefined();
    expect(plan('pymalloc-debug', '3.13').spec.env.PYTHONMALLOC).toBe('pymalloc_debug');
  });

  it('massif runs the same way (its heap is the real malloc heap, no pad bytes)', () => {
    for (const [v, p] of [['debug', '3.13'], ['nopymalloc', '3.11']] as const) {
      expect(massif.command({ plan: plan(v, p), repro: ['repro.py'], options: {} }).env).toEqual({ PYTHONMALLOC: 'malloc' });
    }
  });

  it('2.7 has no PYTHONMALLOC: pymalloc and the hooks stay on; the note names nopymalloc', () => {
    const c = cmd('count-allocs', '2.7');
    expect(c.env).toEqual({});
    expect(c.notes.join(' ')).toMatch(/CPython 2\.7\.18 has no PYTHONMALLOC: pymalloc and the memory debug hooks stay on/);
    expect(c.notes.join(' ')).toContain('use --variant nopymalloc --python 2.7.18');
    const release = cmd('release', '2.7');
    expect(release.notes.join(' ')).toMatch(/has no PYTHONMALLOC: pymalloc stays on/);
  });

  it('2.7 nopymalloc: already plain malloc blocks (no hooks without pymalloc on 2.7), nothing to set or say', () => {
    expect(plan('nopymalloc', '2.7').spec.expected.mem_debug_hooks).toBe(false);
    expect(cmd('nopymalloc', '2.7')).toMatchObject({ env: {}, notes: [] });
  });

  it('the free-threaded build rejects PYTHONMALLOC=malloc: refused, and nothing is set for it', () => {
    const p = plan('freethreaded', '3.13');
    expect(valgrindUnusable(p)?.message).toMatch(/rejects PYTHONMALLOC=malloc/);
    expect(valgrindEnv(p)).toEqual({ env: {}, notes: [] });
  });

  it('memcheck asks Valgrind for every leak kind (held-at-exit blocks are counted) but errors only for definitely lost', () => {
    const argv = cmd('debug', '3.13').argv;
    expect(argv).toContain('--show-leak-kinds=all');
    expect(argv).toContain('--errors-for-leak-kinds=definite');
  });
});
