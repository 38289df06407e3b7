import { describe, expect, it } from 'vitest';
import { parseVariantList, resolveVariant, VARIANT_NAMES } from '../../src/catalogue/variants.js';
import { parseVersion } from '../../src/catalogue/versions.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const v = (s: string) => parseVersion(s);
const refused = (fn: () => unknown): PydbgError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PydbgError);
    expect((e as PydbgError).exitCode).toBe(ExitCode.CATALOGUE);
    return e as PydbgError;
  }
  throw new Error('expected a refusal');
};

describe('variant names', () => {
  it('parses, de-duplicates and orders composed variants canonically', () => {
    expect(parseVariantList('trace-refs,debug')).toEqual(['debug', 'trace-refs']);
    expect(parseVariantList(['debug', 'debug+freethreaded'])).toEqual(['debug', 'freethreaded']);
    expect(parseVariantList('No-Pymalloc')).toEqual(['nopymalloc']);
  });
  it('suggests the closest name for a typo', () => {
    const e = refused(() => parseVariantList('tracerefz'));
    expect(e.message).toContain("unknown variant 'tracerefz'");
    expect(e.hint).toContain("'trace-refs'");
  });
  it('knows every variant the README documents', () => {
    expect([...VARIANT_NAMES]).toEqual(['release', 'debug', 'trace-refs', 'count-allocs', 'pymalloc-debug', 'nopymalloc', 'asan', 'ubsan', 'tsan', 'freethreaded']);
  });
});

describe('tsan: ThreadSanitizer builds', () => {
  it('--with-thread-sanitizer from 3.13, with CPython\'s own suppressions (the free-threaded file with freethreaded) and no exit status 66 outside the check', () => {
    const s = resolveVariant(parseVariantList('freethreaded,tsan'), v('3.13.5'));
    expect(s.variants).toEqual(['tsan', 'freethreaded']);
    expect(s.configureArgs).toEqual(['--with-thread-sanitizer', '--disable-gil']);
    expect(s.env).toMatchObject({ PYDBG_TSAN_SUPPRESSIONS: 'suppressions_free_threading.txt', TSAN_OPTIONS: 'suppressions=/opt/pydbg/tsan-suppressions.txt exitcode=0' });
    expect(s.expected).toMatchObject({ tsan: true, asan: false, gil_disabled: true, py_debug: false });
    expect(resolveVariant(['tsan'], v('3.13.5')).env.PYDBG_TSAN_SUPPRESSIONS).toBe('suppressions.txt');
    expect(resolveVariant(['debug'], v('3.13.5')).expected.tsan).toBe(false);
    expect(resolveVariant(['debug'], v('3.13.5')).env).not.toHaveProperty('TSAN_OPTIONS');
  });
  it('refused before 3.13, with asan or nopymalloc, and a contradicting --configure-arg', () => {
    expect(() => resolveVariant(['tsan'], v('3.11.2'))).toThrow(/variant 'tsan' does not exist for CPython 3\.11: configure gained --with-thread-sanitizer in 3\.13/);
    expect(() => resolveVariant(parseVariantList('asan,tsan'), v('3.13.5'))).toThrow(/'asan' and 'tsan' contradict each other/);
    expect(() => resolveVariant(parseVariantList('nopymalloc,tsan'), v('3.13.5'))).toThrow(/'nopymalloc' and 'tsan' contradict each other/);
    expect(() => resolveVariant(['tsan'], v('3.13.5'), { configureArgs: ['--without-thread-sanitizer'] })).toThrow(/contradicts variant 'tsan', which builds with ThreadSanitizer/);
    expect(parseVariantList('thread-sanitizer')).toEqual(['tsan']);
  });
});

describe('CPython flag history', () => {
  it('nopymalloc is --with-pydebug --without-pymalloc --with-valgrind', () => {
    const s = resolveVariant(['nopymalloc'], v('3.13.5'));
    expect(s.configureArgs).toEqual(['--with-pydebug', '--without-pymalloc', '--with-valgrind']);
    expect(s.expected).toMatchObject({ py_debug: true, ref_debug: true, with_pymalloc: false, with_valgrind: true, abiflags: 'd', allocator: 'malloc_debug', mem_debug_hooks: true });
    expect(s.uncommentSuppressions).toBe(false);
  });
  it('trace-refs: a configure option from 3.8, implied by Py_DEBUG before', () => {
    expect(resolveVariant(['trace-refs'], v('3.11.2')).configureArgs).toEqual(['--with-pydebug', '--with-trace-refs']);
    const old = resolveVariant(['trace-refs'], v('2.7.18'));
    expect(old.configureArgs).toEqual(['--with-pydebug']);
    expect(old.expected.trace_refs).toBe(true);
    expect(old.notes.join(' ')).toContain('implied by Py_DEBUG');
    // a plain debug build has no trace-refs from 3.8 on, but does up to 3.7
    expect(resolveVariant(['debug'], v('3.9.2')).expected.trace_refs).toBe(false);
    expect(resolveVariant(['debug'], v('2.7.18')).expected.trace_refs).toBe(true);
  });
  it('trace-refs ABI note stops at 3.13', () => {
    expect(resolveVariant(['trace-refs'], v('3.11.2')).notes.join(' ')).toContain('ABI-incompatible');
    expect(resolveVariant(['trace-refs'], v('3.13.5')).notes.join(' ')).not.toContain('ABI-incompatible');
  });
  it('count-allocs: CFLAGS with Py_DEBUG up to 3.8, refused from 3.9 with the reason', () => {
    const s = resolveVariant(['count-allocs'], v('2.7.18'));
    expect(s.cflags).toEqual(['-DCOUNT_ALLOCS']);
    expect(s.configureArgs).toEqual(['--with-pydebug']);
    expect(s.expected.count_allocs).toBe(true);
    const e = refused(() => resolveVariant(['count-allocs'], v('3.9.2')));
    expect(e.message).toContain('bpo-39489');
  });
  it('pymalloc-debug: runtime hooks on 3.x, the PYMALLOC_DEBUG macro on 2.7', () => {
    const s3 = resolveVariant(['pymalloc-debug'], v('3.9.2'));
    expect(s3.env).toEqual({ PYTHONMALLOC: 'pymalloc_debug' });
    expect(s3.expected).toMatchObject({ py_debug: false, with_pymalloc: true, allocator: 'pymalloc_debug', mem_debug_hooks: true });
    const s2 = resolveVariant(['pymalloc-debug'], v('2.7.18'));
    expect(s2.cflags).toEqual(['-DPYMALLOC_DEBUG']);
    expect(s2.expected).toMatchObject({ allocator: null, mem_debug_hooks: true, abiflags: null });
    expect(s2.uncommentSuppressions).toBe(true);
  });
  it('freethreaded: 3.13+, abiflag t, mimalloc', () => {
    expect(resolveVariant(['freethreaded'], v('3.13.5')).expected).toMatchObject({ gil_disabled: true, abiflags: 't', allocator: 'mimalloc' });
    expect(resolveVariant(['debug', 'freethreaded'], v('3.13.5')).expected).toMatchObject({ abiflags: 'td', allocator: 'mimalloc_debug' });
    refused(() => resolveVariant(['freethreaded'], v('3.12.12')));
  });
  it('asan forces pymalloc off and needs 3.6+', () => {
    expect(resolveVariant(['asan'], v('3.13.5')).expected).toMatchObject({ with_pymalloc: false, allocator: 'malloc', asan: true, mem_debug_hooks: false });
    expect(resolveVariant(['asan', 'debug'], v('3.13.5')).expected).toMatchObject({ allocator: 'malloc_debug', mem_debug_hooks: true });
    refused(() => resolveVariant(['asan'], v('2.7.18')));
  });
  it('py-bt is promised on Py_DEBUG builds only (optimised builds may lose frame info)', () => {
    expect(resolveVariant(['nopymalloc'], v('3.13.5')).expected.gdb_py_bt).toBe(true);
    expect(resolveVariant(['asan'], v('3.13.5')).expected.gdb_py_bt).toBeNull();
    expect(resolveVariant(['asan', 'debug'], v('3.13.5')).expected.gdb_py_bt).toBe(true);
  });
  it('release is the baseline: no flags, pymalloc on', () => {
    const s = resolveVariant(['release'], v('3.11.2'));
    expect(s.configureArgs).toEqual([]);
    expect(s.expected).toMatchObject({ py_debug: false, ref_debug: false, abiflags: '', allocator: 'pymalloc', mem_debug_hooks: false });
  });
});

describe('contradictions are refused with the reason', () => {
  const cases: Array<[string[], string]> = [
    [['trace-refs', 'freethreaded'], 'configure refuses --with-trace-refs with --disable-gil'],
    [['nopymalloc', 'pymalloc-debug'], 'pymalloc'],
    [['nopymalloc', 'asan'], 'Valgrind'],
    [['release', 'debug'], "'release' cannot be combined"],
    [['freethreaded', 'nopymalloc'], 'mimalloc'],
  ];
  for (const [names, why] of cases) {
    it(names.join(' + '), () => {
      const e = refused(() => resolveVariant(parseVariantList(names), v('3.13.5')));
      expect(e.message).toContain(why);
      expect(e.hint).toBeTruthy();
    });
  }
  it('composes what makes sense', () => {
    expect(resolveVariant(['debug', 'trace-refs'], v('3.13.5')).configureArgs).toEqual(['--with-pydebug', '--with-trace-refs']);
    expect(resolveVariant(['asan', 'ubsan'], v('3.13.5')).configureArgs).toEqual(['--with-address-sanitizer', '--with-undefined-behavior-sanitizer']);
  });
  it('records user configure args and CFLAGS', () => {
    const s = resolveVariant(['debug'], v('3.13.5'), { configureArgs: ['--enable-shared'], cflags: ['-DPy_REF_DEBUG'] });
    expect(s.configureArgs).toEqual(['--with-pydebug', '--enable-shared']);
    expect(s.cflags).toEqual(['-DPy_REF_DEBUG']);
  });
});
