/**
 * Each analysis: the command it runs, the files it declares, and its PURE parse of those files
 * (contents in a Map: no output directory exists, nothing is read from disk).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Analysis, ParseContext } from '../../src/analyses/analysis.js';
import { CALL_PROGRAM, leaks } from '../../src/analyses/leaks.js';
import { massif } from '../../src/analyses/massif.js';
import { memcheck } from '../../src/analyses/memcheck.js';
import { pymallocDebug } from '../../src/analyses/pymalloc-debug.js';
import { pymallocStats } from '../../src/analyses/pymalloc-stats.js';
import { asan, ubsan } from '../../src/analyses/sanitizers.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import type { RunResult } from '../../src/exec/types.js';
import { planVariant } from '../../src/project/plan.js';

const OUT = '/nonexistent/pydbg-out'; // parse only joins paths with it
const XML = readFileSync(new URL('../fixtures/memcheck-oob-3.13.xml', import.meta.url), 'utf8');

const runResult = (exitCode = 0, over: Partial<RunResult> = {}): RunResult => ({
  command: ['python', 'repro.py'], image: 'sha256:x', python: '3.13.5', variant: 'debug', exitCode, signal: null, durationSeconds: 1,
  extension: { kind: 'none', cached: true, image: 'sha256:x', seconds: 0 }, ...over,
});
const ctx = (variant: string, run = runResult(), repro = ['repro.py']): ParseContext => ({ plan: planVariant({ variant, python: '3.13' }), run, repro, outDir: OUT });
const files = (o: Record<string, string>) => new Map(Object.entries(o));
const toolFailed = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PydbgError);
    expect((e as PydbgError).exitCode).toBe(ExitCode.TOOL_FAILED);
    return e as PydbgError;
  }
  throw new Error('expected TOOL_FAILED');
};
const declares = (a: Analysis, variant: string, names: string[], repro = ['repro.py']) => {
  const { outputs } = a.command({ plan: planVariant({ variant, python: '3.13' }), repro, options: {} });
  return names.filter((n) => outputs.some((re) => re.test(n)));
};

describe('memcheck', () => {
  it('declares its XML and log files, and finds the invalid write in the user code', () => {
    expect(declares(memcheck, 'nopymalloc', ['memcheck.12.xml', 'memcheck.12.log', 'report.json', 'x.xml'])).toEqual(['memcheck.12.xml', 'memcheck.12.log']);
    const r = memcheck.parse(files({ 'memcheck.12.xml': XML, 'memcheck.12.log': 'log' }), ctx('nopymalloc'));
    expect(r.status).toBe('complete');
    expect(r.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line])).toEqual([['InvalidWrite', 'oob.c', 7]]);
    expect(r.rawFiles).toEqual([`${OUT}/memcheck.12.log`, `${OUT}/memcheck.12.xml`]);
    expect(r.summary).toEqual({ processes: 1, heldAtExit: { yourCode: {}, elsewhere: {}, findings: [] } });
  });
  it('a report cut short is partial; no XML at all is a tool failure', () => {
    const cut = XML.slice(0, XML.indexOf('</error>') + 200);
    expect(memcheck.parse(files({ 'memcheck.3.xml': cut }), ctx('nopymalloc')).status).toBe('partial');
    expect(toolFailed(() => memcheck.parse(files({}), ctx('nopymalloc'))).hint).toBe('look at the output above');
    expect(toolFailed(() => memcheck.parse(files({ 'memcheck.3.log': 'x' }), ctx('nopymalloc'))).hint).toContain(OUT);
  });
  it('bypasses pymalloc on a build that has it', () => {
    const c = memcheck.command({ plan: planVariant({ variant: 'debug', python: '3.13' }), repro: ['repro.py', '--n', '3'], options: {} });
    expect(c.env).toEqual({ PYTHONMALLOC: 'malloc' });
    expect(c.argv.slice(0, 2)).toEqual(['valgrind', '--tool=memcheck']);
    expect(c.argv.slice(-4)).toEqual(['python', 'repro.py', '--n', '3']);
    expect(c.crashArgv).toEqual(['python', 'repro.py', '--n', '3']);
  });
});

describe('leaks', () => {
  const round = { refs: 1000, blocks: 1000, traced_blocks: 1000, traced_bytes: 56000, rss: 0, types: { list: 1000 } };
  const data = (over: object = {}) => JSON.stringify({ target: 'refleak:search', iterations: 1000, warmup: 2, rounds: [round, round, round, round], error: null, has_refs: true, has_blocks: true, has_tracemalloc: true, type_source: 'gc', ...over });
  it('turns leaks.json into findings', () => {
    const r = leaks.parse(files({ 'leaks.json': data() }), ctx('debug', runResult(), ['refleak:search']));
    expect(r.userFindings.map((f) => f.kind)).toEqual(['TypeLeak', 'RefLeak', 'BlockLeak']);
    expect(r.status).toBe('complete');
    expect(r.rawFiles).toEqual([`${OUT}/leaks.json`]);
  });
  it('an error in the repro after some rounds is partial; no measurements is a tool failure', () => {
    expect(leaks.parse(files({ 'leaks.json': data({ error: 'ZeroDivisionError' }) }), ctx('debug')).partialReason).toContain('ZeroDivisionError');
    toolFailed(() => leaks.parse(files({}), ctx('debug', runResult(1))));
    toolFailed(() => leaks.parse(files({ 'leaks.json': 'null' }), ctx('debug', runResult(1))));
  });
  it('bad input: a module:function that cannot be called is exit 8; pytest missing from the image is exit 21', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as PydbgError;
      }
      throw new Error('expected an error');
    };
    const nf = err(() => leaks.parse(files({ 'leaks.json': data({ target: 'nosuch:search', rounds: [], error: "ModuleNotFoundError: No module named 'nosuch'" }) }), ctx('debug', runResult(1), ['nosuch:search'])));
    expect(nf).toMatchObject({ exitCode: ExitCode.NOT_FOUND, message: "leaks: nosuch:search cannot be called: ModuleNotFoundError: No module named 'nosuch'" });
    expect(nf.hint).toContain('import nosuch; print(nosuch.search)');
    const attr = err(() => leaks.parse(files({ 'leaks.json': data({ rounds: [], error: "AttributeError: module 'refleak' has no attribute 'serch'" }) }), ctx('debug', runResult(1), ['refleak:serch'])));
    expect(attr.exitCode).toBe(ExitCode.NOT_FOUND);
    // a script that raises is the repro failing: partial, as before
    expect(leaks.parse(files({ 'leaks.json': data({ target: 'repro.py', rounds: [], error: 'ImportError: x' }) }), ctx('debug', runResult(1))).status).toBe('partial');
    const pt = err(() => leaks.parse(files({ 'leaks.json': JSON.stringify({ mode: 'pytest', missing: 'pytest' }) }), ctx('debug', runResult(1), ['pytest', 'tests/'])));
    expect(pt).toMatchObject({ exitCode: ExitCode.ANALYSIS_UNAVAILABLE, message: 'pytest is not installed in the pydbg/cpython:3.13.5-debug-amd64 environment' });
    expect(pt.hint).toContain("python_packages");
  });
  it('module:function reaches the crash re-run as argv of a fixed program, never as code', () => {
    const c = leaks.command({ plan: planVariant({ variant: 'debug', python: '3.13' }), repro: ['pkg.sub:search'], options: {} });
    expect(c.crashArgv).toEqual(['python', '-c', CALL_PROGRAM, 'pkg.sub', 'search']);
    expect(c.argv).toContain('1000');
    expect(c.argv.at(-1)).toBe('pkg.sub:search');
    expect(c.outputs.some((re) => re.test('leaks.json'))).toBe(true);
    const script = leaks.command({ plan: planVariant({ variant: 'debug', python: '3.13' }), repro: ['repro.py', 'a b'], options: { iterations: 7 } });
    expect(script.crashArgv).toEqual(['python', 'repro.py', 'a b']);
    expect(script.argv).toContain('7');
  });
  it('refuses a target that is not module:function before anything runs', () => {
    for (const bad of ['os; import shutil:x', 'mod:f()', 'a-b:c', 'mod:a.b', 'mod:', ':f', '1mod:f']) {
      expect(() => leaks.command({ plan: planVariant({ variant: 'debug', python: '3.13' }), repro: [bad], options: {} }), bad).toThrow(/not module:function/);
    }
  });
});

describe('massif', () => {
  const MASSIF = `desc: --depth=40\ncmd: python repro.py\ntime_unit: i\n#-----------\nsnapshot=0\n#-----------\ntime=0\nmem_heap_B=0\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=empty\n#-----------\nsnapshot=1\n#-----------\ntime=1000\nmem_heap_B=3000\nmem_heap_extra_B=100\nmem_stacks_B=0\nheap_tree=peak\nn1: 3000 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n n0: 3000 0x4AAAAA: helper (/pydbg/build/ext.c:42)\n`;
  it('the peak and its sites; the SVG is an artefact for the orchestrator to write', () => {
    const r = massif.parse(files({ 'massif.9.out': MASSIF }), ctx('nopymalloc', runResult(0, { command: ['valgrind', '--tool=massif', 'python', 'repro.py'] })));
    expect((r.summary.peak as { heap: number }).heap).toBe(3000);
    expect(r.summaryText).toContain(`picture: ${OUT}/massif.svg`);
    expect(r.rawFiles).toEqual([`${OUT}/massif.9.out`, `${OUT}/massif.svg`]);
    expect(r.artefacts).toHaveLength(1);
    expect(r.artefacts![0]!.name).toBe('massif.svg');
    expect(r.artefacts![0]!.content).toMatch(/<svg[\s\S]*heap of python repro\.py on CPython 3\.13\.\d+ nopymalloc[\s\S]*peak 3 KiB/);
  });
  it('no profile is a tool failure', () => {
    toolFailed(() => massif.parse(files({}), ctx('nopymalloc')));
  });
});

describe('pymalloc-stats', () => {
  const STATS = 'class   size   num pools   blocks in use  avail blocks\n    1     32           2             300           206\n# arenas allocated current         =                    8\n';
  it('before and after, as a table', () => {
    const r = pymallocStats.parse(files({ 'mallocstats.before.txt': STATS, 'mallocstats.after.txt': STATS.replace('300', '400') }), ctx('debug'));
    expect(r.status).toBe('complete');
    expect((r.summary as { rows: unknown[] }).rows).toEqual([{ size: 32, before: 300, after: 400, delta: 100, poolsBefore: 2, poolsAfter: 2 }]);
    expect(r.summaryText).toContain('blocks before');
  });
  it('without the second dump: partial; without any: a tool failure; a non-script repro: a usage error', () => {
    expect(pymallocStats.parse(files({ 'mallocstats.before.txt': STATS }), ctx('debug')).status).toBe('partial');
    toolFailed(() => pymallocStats.parse(files({}), ctx('debug')));
    expect(() => pymallocStats.command({ plan: planVariant({ variant: 'debug', python: '3.13' }), repro: ['mod:f'], options: {} })).toThrow(/runs a Python script/);
    expect(declares(pymallocStats, 'debug', ['mallocstats.before.txt', 'mallocstats.after.txt', 'mallocstats.txt'])).toEqual(['mallocstats.before.txt', 'mallocstats.after.txt']);
  });
});

describe('pymalloc-debug', () => {
  const OVERFLOW = "Debug memory block at address p=0x558292b8f1f0: API 'm'\n    16 bytes originally requested\nFatal Python error: _PyMem_DebugRawFree: bad trailing pad byte\n";
  it("the hooks' fatal error is a complete analysis although the repro aborted", () => {
    const r = pymallocDebug.parse(files({ 'output.txt': OVERFLOW }), ctx('pymalloc-debug', runResult(134)));
    expect(r.status).toBe('complete');
    expect(r.userFindings.map((f) => f.kind)).toEqual(['BufferOverflow']);
    expect(r.rawFiles).toEqual([`${OUT}/output.txt`]);
  });
  it('a clean run: no findings; a failing run without findings: partial', () => {
    expect(pymallocDebug.parse(files({ 'output.txt': 'ok\n' }), ctx('pymalloc-debug')).userFindings).toEqual([]);
    expect(pymallocDebug.parse(files({}), ctx('pymalloc-debug', runResult(1))).status).toBe('partial');
  });
});

describe('asan and ubsan', () => {
  const ASAN = '==7==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6030 at pc 0x7f bp 0x7ffd sp 0x7ffc\nWRITE of size 4 at 0x6030 thread T0\n    #0 0x7f2c1c0f1189 in overflow /pydbg/build/oob.c:7\n\nSUMMARY: AddressSanitizer: heap-buffer-overflow /pydbg/build/oob.c:7 in overflow\n';
  it('the sanitizer log per process; a report with a non-zero exit is complete', () => {
    expect(declares(asan, 'asan', ['asan.41', 'asan.42', 'ubsan.3', 'asan'])).toEqual(['asan.41', 'asan.42']);
    const r = asan.parse(files({ 'asan.41': ASAN }), ctx('asan', runResult(1)));
    expect(r.status).toBe('complete');
    expect(r.userFindings).toHaveLength(1);
    expect(r.userFindings[0]).toMatchObject({ kind: 'heap-buffer-overflow', userFrame: { file: 'oob.c', line: 7 } });
    expect(asan.command({ plan: planVariant({ variant: 'asan', python: '3.13' }), repro: ['repro.py'], options: {} }).env.ASAN_OPTIONS).toContain('log_path=/pydbg/out/asan');
  });
  it('ubsan: findings in the user code and elsewhere; nothing and a failing repro is partial', () => {
    const text = "/pydbg/build/ub.c:12:14: runtime error: shift exponent 40 is too large for 32-bit type 'int'\nObjects/longobject.c:88:3: runtime error: left shift of negative value -1\n";
    const r = ubsan.parse(files({ 'ubsan.5': text }), ctx('ubsan'));
    expect(r.userFindings.map((f) => f.userFrame?.file)).toEqual(['ub.c']);
    expect(r.interpreterFindings).toHaveLength(1);
    expect(ubsan.parse(files({}), ctx('ubsan', runResult(3))).status).toBe('partial');
    expect(ubsan.parse(files({}), ctx('ubsan')).status).toBe('complete');
  });
});
