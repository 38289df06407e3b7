/**
 * Accuracy is the product: each example's bug found by the right analysis at the right file and
 * line, and zero findings in the clean extension, across CPython versions.
 *
 * Images (built by the global setup, test/setup/images.ts): 3.13 debug, 3.11 nopymalloc,
 * 2.7 count-allocs, 3.13 asan, 3.13 ubsan. Memcheck on 3.13 runs on the debug build (pymalloc bypassed
 * with PYTHONMALLOC=malloc); on 3.11 on the classic --without-pymalloc --with-valgrind build.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/analyses/types.js';
import type { DockerEngine } from '../../src/engine/docker.js';
import { engineLeftovers, pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const EX = join(ROOT, 'examples');

async function check(args: string[]): Promise<{ report: AnalysisReport; exitCode: number; stderr: string; out: string }> {
  const out = await mkdtemp(join(tmpdir(), 'pydbg-check-'));
  const r = await pydbg(['check', ...args, '--out', out, '--json', '-']);
  let report: AnalysisReport;
  try {
    report = JSON.parse(r.stdout) as AnalysisReport;
  } catch {
    throw new Error(`pydbg check ${args.join(' ')} exited ${r.exitCode} without a report:\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  }
  return { report, exitCode: r.exitCode ?? -1, stderr: r.stderr, out };
}

const at = (r: AnalysisReport, kind: string) => r.userFindings.find((f) => f.kind === kind);

let engine: DockerEngine;
beforeAll(async () => {
  engine = await requireEngine();
  await requireImages('debug-3.13', 'nopymalloc-3.11', 'count-allocs-2.7', 'asan-3.13', 'ubsan-3.13');
});

for (const [variant, python] of [['debug', '3.13'], ['nopymalloc', '3.11']] as const) {
  describe(`memcheck on CPython ${python} ${variant}${variant === 'debug' ? ' (pymalloc, PYTHONMALLOC=malloc)' : ''}`, () => {
    const v = ['--variant', variant, '--python', python];
    it('leak: definitely lost at the malloc line; exit 20; the suppressions parse', async () => {
      const { report, exitCode } = await check(['memcheck', ...v, '-C', join(EX, 'leak'), 'repro.py']);
      expect(report.status).toBe('complete');
      expect(exitCode).toBe(20);
      const f = at(report, 'Leak_DefinitelyLost');
      expect(f?.userFrame).toMatchObject({ function: 'leaky_function', file: 'leak.c', line: 7 });
      expect(f?.data.leakedBytes).toBe(10240);
      expect(report.userFindings.filter((x) => x.severity === 'error')).toHaveLength(1);
    });
    it('oob_write: InvalidWrite at the write, with the allocation stack', async () => {
      const { report } = await check(['memcheck', ...v, '-C', join(EX, 'oob_write'), 'repro.py']);
      const f = at(report, 'InvalidWrite');
      expect(f?.userFrame).toMatchObject({ function: 'overflow', file: 'oob.c', line: 7 });
      expect(f?.related[0]?.message).toMatch(/20 bytes after a block of size 20 alloc'd/);
      expect(f?.related[0]?.frames.find((fr) => fr.inUserCode)).toMatchObject({ file: 'oob.c', line: 6 });
    });
    it('uninit: UninitCondition at the branch, origin at the malloc', async () => {
      const { report } = await check(['memcheck', ...v, '-C', join(EX, 'uninit'), 'repro.py']);
      const f = at(report, 'UninitCondition');
      expect(f?.userFrame).toMatchObject({ function: 'decide', file: 'uninit.c', line: 8 });
      expect(f?.related.map((r) => r.message).join(' ')).toMatch(/created by a heap allocation/);
    });
    it('use_after_free: the read of the freed object, from the user\'s call', async () => {
      const { report } = await check(['memcheck', ...v, '-C', join(EX, 'use_after_free'), 'repro.py']);
      const f = report.userFindings.find((x) => x.kind === 'InvalidRead');
      expect(f?.userFrame).toMatchObject({ function: 'use_after_free', file: 'uaf.c', line: 10 });
      expect(f?.related[0]?.message).toMatch(/free'd/);
    });
    it('clean: zero findings in user code, exit 0', async () => {
      const { report, exitCode } = await check(['memcheck', ...v, '-C', join(EX, 'clean'), 'repro.py']);
      expect(report.userFindings).toEqual([]);
      expect(report.status).toBe('complete');
      expect(exitCode).toBe(0);
    });
  });
}

for (const [variant, python] of [['debug', '3.13'], ['nopymalloc', '3.11']] as const) {
  describe(`pymalloc-debug on CPython ${python} ${variant} (debug hooks)`, () => {
    const v = ['--variant', variant, '--python', python];
    it('use_after_free: the dead-byte fill makes the use crash; UseAfterFree at uaf.c:10; exit 20', async () => {
      const { report, exitCode } = await check(['pymalloc-debug', ...v, '-C', join(EX, 'use_after_free'), 'repro.py']);
      expect(exitCode).toBe(20);
      const f = at(report, 'UseAfterFree');
      expect(f?.userFrame).toMatchObject({ function: 'use_after_free', file: 'uaf.c', line: 10 });
      expect(String(f?.data.registers)).toMatch(/=0xdddddddddddddd/);
      expect(report.status).toBe('complete');
    });
    it('clean: zero findings, exit 0', async () => {
      const { report, exitCode } = await check(['pymalloc-debug', ...v, '-C', join(EX, 'clean'), 'repro.py']);
      expect(report.userFindings).toEqual([]);
      expect(report.status).toBe('complete');
      expect(exitCode).toBe(0);
    });
  });
}

describe('pymalloc-debug: a damaged pad byte (CPython 3.13 debug)', () => {
  it('BufferOverflow with the block, its API and where tracemalloc saw it allocated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-pad-'));
    await writeFile(join(dir, 'repro.py'), 'import _testcapi\n\ndef f():\n    _testcapi.pymem_buffer_overflow()\n\nf()\n');
    const { report, exitCode } = await check(['pymalloc-debug', '--variant', 'debug', '--python', '3.13', '-C', dir, 'repro.py']);
    expect(exitCode).toBe(20);
    const f = at(report, 'BufferOverflow');
    expect(f?.data).toMatchObject({ bytes: 16, api: 'm' });
    expect(f?.related[0]?.frames[0]).toMatchObject({ file: 'repro.py', line: 4 });
    expect(f?.frames.map((x) => x.function)).toContain('_PyMem_DebugRawFree');
  });
  it('a release build has no hooks: refused with the variant that works', async () => {
    const r = await pydbg(['check', 'pymalloc-debug', '--variant', 'release', '--python', '3.13', '-C', join(EX, 'clean'), 'repro.py']);
    expect(r.exitCode).toBe(21);
    expect(r.stderr).toMatch(/no memory debug hooks/);
    expect(r.stderr).toMatch(/--variant pymalloc-debug/);
  });
});

describe('leaks (refcount hunt)', () => {
  it('3.13 debug: refleak leaks 1 list per call, +1 refcount per call', async () => {
    const { report, exitCode } = await check(['leaks', '--variant', 'debug', '--python', '3.13', '-C', join(EX, 'refleak'), 'refleak:search']);
    expect(exitCode).toBe(20);
    expect(report.userFindings.map((f) => f.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^leaks 1 list per call\b/), 'total refcount grows by 1 per call']));
  });
  it('3.11 nopymalloc (Py_DEBUG, no pymalloc blocks): the same leak, counted by tracemalloc', async () => {
    const { report } = await check(['leaks', '--variant', 'nopymalloc', '--python', '3.11', '-C', join(EX, 'refleak'), 'refleak:search']);
    expect(report.userFindings.map((f) => f.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^leaks 1 list per call\b/), 'total refcount grows by 1 per call']));
    expect(report.userFindings.find((f) => f.kind === 'BlockLeak')?.data.source).toBe('traced_blocks');
  });
  it('2.7 count-allocs: per-type counts from sys.getcounts', async () => {
    const { report } = await check(['leaks', '--variant', 'count-allocs', '--python', '2.7', '-C', join(EX, 'refleak'), 'refleak:search']);
    expect(report.summary.typeSource).toBe('getcounts');
    expect(report.userFindings.map((f) => f.message)).toContain('leaks 1 list per call');
  });
  it('clean extension: quiet on 3.13 and 3.11', async () => {
    for (const [variant, python] of [['debug', '3.13'], ['nopymalloc', '3.11']]) {
      const { report, exitCode } = await check(['leaks', '--variant', variant!, '--python', python!, '-C', join(EX, 'clean'), 'repro.py']);
      expect(report.userFindings, `${variant} ${python}`).toEqual([]);
      expect(exitCode).toBe(0);
    }
  });
  it('the malloc leak is invisible to refcounts but shows in RSS, pointing at memcheck', async () => {
    // --no-follow-up: leaks.test.ts runs the memcheck follow-up on the same repro
    const { report } = await check(['leaks', '--variant', 'debug', '--python', '3.13', '--iterations', '2000', '--no-follow-up', '-C', join(EX, 'leak'), 'leak:leaky_function']);
    expect(report.userFindings.map((f) => f.kind)).toEqual(['RSSGrowth']);
    expect(report.userFindings[0]!.message).toContain("not from Python's allocators (a C malloc leak? run 'pydbg check memcheck')");
  });
  it('a release build: says which variant is needed instead of "no leaks" (exit 21)', async () => {
    const r = await pydbg(['check', 'leaks', '--variant', 'release', '--python', '3.13', '-C', join(EX, 'clean'), 'repro.py']);
    expect(r.exitCode).toBe(21);
    expect(r.stderr).toContain('use --variant debug');
  });
});

// one image per sanitizer (test/setup/suite-images.ts says why not one asan,ubsan image)
const asan = ['--variant', 'asan', '--python', '3.13'];
const ubsan = ['--variant', 'ubsan', '--python', '3.13'];

describe('asan on CPython 3.13', () => {
  it('oob_write: heap-buffer-overflow WRITE of size 4 at oob.c:7, allocated at oob.c:6', async () => {
    const { report, exitCode } = await check(['asan', ...asan, '-C', join(EX, 'oob_write'), 'repro.py']);
    expect(exitCode).toBe(20);
    const f = at(report, 'heap-buffer-overflow');
    expect(f?.userFrame).toMatchObject({ function: 'overflow', file: 'oob.c', line: 7 });
    expect(f?.data).toMatchObject({ access: 'WRITE', size: 4 });
    expect(f?.related.find((r) => r.message.startsWith('allocated by'))?.frames.find((fr) => fr.inUserCode)).toMatchObject({ file: 'oob.c', line: 6 });
  });
  it('clean: zero findings', async () => {
    const { report, exitCode } = await check(['asan', ...asan, '-C', join(EX, 'clean'), 'repro.py']);
    expect(report.userFindings).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describe('ubsan on CPython 3.13', () => {
  it('ub_shift: shift at ub.c:6 in flag_mask; the repro carries on', async () => {
    const { report, exitCode } = await check(['ubsan', ...ubsan, '-C', join(EX, 'ub_shift'), 'repro.py']);
    expect(exitCode).toBe(20);
    const f = at(report, 'shift');
    expect(f?.userFrame).toMatchObject({ function: 'flag_mask', file: 'ub.c', line: 6 });
    expect(f?.message).toMatch(/shift exponent 40 is too large for 32-bit type 'unsigned int'/);
    expect(report.reproExitCode).toBe(0); // halt_on_error=0: UBSan reports and the program goes on
  });
  it('clean: zero findings in user code', async () => {
    const { report, exitCode } = await check(['ubsan', ...ubsan, '-C', join(EX, 'clean'), 'repro.py']);
    expect(report.userFindings).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describe('massif and pymalloc-stats', () => {
  it('massif: peak, top sites, and an SVG picture', async () => {
    const { report, out } = await check(['massif', '--variant', 'debug', '--python', '3.13', '-C', join(EX, 'clean'), 'repro.py']);
    const peak = report.summary.peak as { heap: number };
    expect(peak.heap).toBeGreaterThan(100_000);
    expect((report.summary.topSites as unknown[]).length).toBeGreaterThan(0);
    const svg = await readFile(join(out, 'massif.svg'), 'utf8');
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*peak [\d.]+ (MiB|KiB)[\s\S]*<\/svg>\n$/);
  });
  it('pymalloc-stats: blocks in use per size class, before and after', async () => {
    const { report } = await check(['pymalloc-stats', '--variant', 'debug', '--python', '3.13', '-C', join(EX, 'clean'), 'repro.py']);
    const rows = (report.summary as { rows: Array<{ size: number; after: number }> }).rows;
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.some((r) => r.after > 0)).toBe(true);
    expect(report.summaryText).toContain('blocks before');
  });
});

describe('reports and faults', () => {
  it('SARIF and JUnit files for CI', async () => {
    const out = await mkdtemp(join(tmpdir(), 'pydbg-reports-'));
    const r = await pydbg(['check', 'memcheck', '--variant', 'debug', '--python', '3.13', '-C', join(EX, 'oob_write'), 'repro.py', '--sarif', join(out, 'r.sarif'), '--junit', join(out, 'r.xml')]);
    expect(r.exitCode).toBe(20);
    expect(r.stdout).toMatch(/InvalidWrite\s+oob\.c:7 \(overflow\)/);
    const sarif = JSON.parse(await readFile(join(out, 'r.sarif'), 'utf8'));
    expect(sarif.runs[0].results[0].locations[0].physicalLocation).toEqual({ artifactLocation: { uri: 'oob.c', uriBaseId: 'SRCROOT' }, region: { startLine: 7 } });
    expect(await readFile(join(out, 'r.xml'), 'utf8')).toContain('failures="1"');
  });
  it('memcheck on an ASan build is refused with the variant that works (exit 21)', async () => {
    const r = await pydbg(['check', 'memcheck', ...asan, '-C', join(EX, 'clean'), 'repro.py']);
    expect(r.exitCode).toBe(21);
    expect(r.stderr).toContain('--variant nopymalloc');
  });
  it('a repro that fails before the analysis finished: partial report, exit 22', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-fail-'));
    await writeFile(join(dir, 'repro.py'), 'import sys\nprint("half way")\nsys.exit(3)\n');
    const { report, exitCode } = await check(['memcheck', '--variant', 'debug', '--python', '3.13', '-C', dir, 'repro.py']);
    expect(report.status).toBe('partial');
    expect(report.partialReason).toContain('exited with code 3');
    expect(exitCode).toBe(22);
  });
  it('a repro that times out: exit 124, nothing left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-slow-'));
    await writeFile(join(dir, 'repro.py'), 'import time\ntime.sleep(600)\n');
    const since = Date.now();
    const r = await pydbg(['check', 'memcheck', '--variant', 'debug', '--python', '3.13', '--timeout', '20', '-C', dir, 'repro.py']);
    expect(r.exitCode, r.stderr).toBe(124);
    expect(r.stderr).toContain('timed out');
    const left = await engineLeftovers(engine, since);
    expect(left.containers).toEqual([]);
    expect(left.dangling).toEqual([]);
  });
});
