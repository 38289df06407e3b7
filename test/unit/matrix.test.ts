/**
 * `pydbg check` over a matrix, the pure half (src/analyses/matrix.ts and the matrix writers): the
 * cells from the flags and from pydbg.yaml, skipped cells and their reasons, the no-cell error
 * (exit 17), fingerprints across cells, the table, the worst cell's exit, SARIF and JUnit.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { capJobs, cellOutcome, fingerprint, isMatrix, matrixResult, noCellError, planMatrix, splitFlag, worstExit, type CellResult, type MatrixFlags } from '../../src/analyses/matrix.js';
import { analysisByName } from '../../src/analyses/registry.js';
import type { AnalysisReport, Finding, Frame } from '../../src/analyses/types.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import type { LoadedConfig } from '../../src/project/config.js';
import { parseConfigDoc } from '../../src/project/config-parse.js';
import { resolveProject } from '../../src/project/project.js';
import { junitReport, matrixJunit, matrixSarif, matrixText, sarifReport } from '../../src/report/writers.js';

const memcheck = analysisByName('memcheck');
const GiB = 2 ** 30;
const noYaml: LoadedConfig = { config: {} };
const yaml = (text: string): LoadedConfig => ({ ...parseConfigDoc(text, '/p/pydbg.yaml'), path: '/p/pydbg.yaml' });
const plan = (flags: MatrixFlags, loaded = noYaml, analysis = 'memcheck') => planMatrix(analysisByName(analysis), loaded, flags);
const thrown = (f: () => unknown): PydbgError => {
  try {
    f();
  } catch (e) {
    return e as PydbgError;
  }
  throw new Error('expected an error');
};

describe('matrix mode', () => {
  it('more than one cell from the flags, or --matrix; one cell is the single check', () => {
    expect(isMatrix({})).toBe(false);
    expect(isMatrix({ python: '3.13', variant: 'debug', arch: 'amd64' })).toBe(false);
    expect(isMatrix({ python: '3.11,3.13' })).toBe(true);
    expect(isMatrix({ variant: ['debug', 'nopymalloc'] })).toBe(true);
    expect(isMatrix({ variant: 'tsan,freethreaded' })).toBe(false); // one value, one combined image
    expect(isMatrix({ arch: 'amd64,arm64' })).toBe(true);
    expect(isMatrix({ matrix: true })).toBe(true);
  });
  it('a comma list with an empty item is a usage error', () => {
    expect(splitFlag('3.11, 3.13', '--python')).toEqual(['3.11', '3.13']);
    const e = thrown(() => splitFlag('3.11,', '--python'));
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(e.message).toBe("--python '3.11,' has an empty item");
  });
});

describe('cells from the flags', () => {
  it('python × variant × arch, in that order, named and planned', () => {
    const m = plan({ python: '3.11,3.13', variant: ['debug', 'nopymalloc'], arch: 'amd64,arm64' });
    expect(m.cells.map((c) => c.id)).toEqual([
      '3.11-debug-amd64', '3.11-debug-arm64', '3.11-nopymalloc-amd64', '3.11-nopymalloc-arm64',
      '3.13-debug-amd64', '3.13-debug-arm64', '3.13-nopymalloc-amd64', '3.13-nopymalloc-arm64',
    ]);
    expect(m.cells.every((c) => c.plan && !c.skip)).toBe(true);
    expect(m.cells[1]).toMatchObject({ label: '3.11 debug arm64', python: '3.11', variant: 'debug', arch: 'arm64' });
    expect(m.cells[1]!.plan!.image).toBe('pydbg/cpython:3.11.2-debug-arm64');
    expect(m.axes).toEqual({ pythons: ['3.11', '3.13'], variants: ['debug', 'nopymalloc'], arches: ['amd64', 'arm64'] });
  });
  it('a combined variant is one cell, named with + (safe in a directory and a SARIF category)', () => {
    const m = plan({ python: '3.13', variant: ['tsan,freethreaded', 'debug+trace-refs'] }, noYaml, 'tsan');
    expect(m.cells.map((c) => [c.id, c.label])).toEqual([
      ['3.13-tsan+freethreaded-amd64', '3.13 tsan,freethreaded amd64'],
      ['3.13-debug+trace-refs-amd64', '3.13 debug+trace-refs amd64'],
    ]);
  });
  it("impossible cells are skipped with the catalogue's or the analysis's reason, not errors", () => {
    const m = plan({ python: '2.7,3.13', variant: ['count-allocs', 'asan'], arch: 'amd64,arm64' });
    const skip = Object.fromEntries(m.cells.map((c) => [c.id, c.skip ?? 'runs']));
    expect(skip['2.7-count-allocs-amd64']).toBe('runs');
    expect(skip['2.7-count-allocs-arm64']).toMatch(/cross-compiling CPython 2\.7 for arm64 is not supported/);
    expect(skip['3.13-count-allocs-amd64']).toMatch(/count-allocs.*3\.13/);
    expect(skip['2.7-asan-amd64']).toMatch(/asan/);
    expect(skip['3.13-asan-amd64']).toBe('Valgrind cannot run an AddressSanitizer build (variant asan)');
    expect(skip['3.13-asan-arm64']).toMatch(/^variant 'asan' is not offered for arm64/);
  });
  it('a value wrong on its own is an error with its own exit code, never a skipped cell', () => {
    expect(thrown(() => plan({ python: '3.13', variant: ['debug', 'nopymaloc'] })).exitCode).toBe(ExitCode.CATALOGUE);
    expect(thrown(() => plan({ python: '3.13,3.x' })).exitCode).toBe(ExitCode.USAGE);
    expect(thrown(() => plan({ python: '3.13', arch: 'amd64,riscv64' })).exitCode).toBe(ExitCode.CATALOGUE);
  });
  it('two spellings of one image are one cell: the later is skipped, ids stay unique', () => {
    const m = plan({ python: '3.13,3.13.5', variant: ['debug', 'pydebug'] });
    expect(m.cells.filter((c) => c.plan).map((c) => c.id)).toEqual(['3.13-debug-amd64']);
    expect(m.cells.find((c) => c.id === '3.13.5-debug-amd64')?.skip).toBe('the same image as 3.13 debug amd64 (pydbg/cpython:3.13.5-debug-amd64)');
    expect(new Set(m.cells.map((c) => c.id)).size).toBe(m.cells.length);
  });
  it('--build-mode applies to the ARM cells only; on a matrix without one it is refused', () => {
    const m = plan({ python: '3.10', variant: 'nopymalloc', arch: 'amd64,arm64', buildMode: 'emulated' });
    expect(m.cells.map((c) => c.plan?.mode)).toEqual(['native', 'emulated']);
    expect(thrown(() => plan({ python: '3.11,3.13', buildMode: 'emulated' })).exitCode).toBe(ExitCode.USAGE);
  });
});

describe('cells from pydbg.yaml', () => {
  const file = 'python: ["3.11", "3.13"]\nvariant: [nopymalloc, asan]\narch: [amd64, arm64]\n';
  it("--matrix: pydbg.yaml's whole lists are the axes; a flag replaces its own", () => {
    expect(plan({ matrix: true }, yaml(file)).cells.map((c) => c.id)).toEqual([
      '3.11-nopymalloc-amd64', '3.11-nopymalloc-arm64', '3.11-asan-amd64', '3.11-asan-arm64',
      '3.13-nopymalloc-amd64', '3.13-nopymalloc-arm64', '3.13-asan-amd64', '3.13-asan-arm64',
    ]);
    expect(plan({ matrix: true, arch: 'amd64' }, yaml(file)).cells.map((c) => c.id)).toEqual(['3.11-nopymalloc-amd64', '3.11-asan-amd64', '3.13-nopymalloc-amd64', '3.13-asan-amd64']);
  });
  it('without --matrix an axis no flag gives is the single check\'s value: the first version and arch, the first usable variant', () => {
    const m = plan({ python: '3.11,3.13' }, yaml('python: "3.12"\nvariant: [asan, release, debug]\narch: [arm64, amd64]\n'));
    expect(m.cells.map((c) => c.id)).toEqual(['3.11-release-arm64', '3.13-release-arm64']);
    // no pydbg.yaml: the analysis's own variant
    expect(plan({ python: '3.11,3.13' }).cells.map((c) => c.id)).toEqual(['3.11-nopymalloc-amd64', '3.13-nopymalloc-amd64']);
  });
  it("--matrix: where none of pydbg.yaml's variants can run the analysis, its own is used there, with a note", () => {
    const m = plan({ matrix: true, python: '3.13' }, yaml('variant: [asan, freethreaded]\n'));
    expect(m.cells.map((c) => [c.id, c.skip ? 'skipped' : 'runs'])).toEqual([['3.13-asan-amd64', 'skipped'], ['3.13-freethreaded-amd64', 'skipped'], ['3.13-nopymalloc-amd64', 'runs']]);
    expect(m.cells[2]!.note).toBe("none of pydbg.yaml's variants can run memcheck on 3.13 amd64: its own 'nopymalloc' is used there");
  });
  it("a value wrong on its own is refused at pydbg.yaml's line (exit 10), arch lists included", () => {
    const e = thrown(() => plan({ matrix: true }, yaml('arch: [amd64, riscv64]\n')));
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toBe("/p/pydbg.yaml:1:15: arch[1]: unknown architecture 'riscv64'");
    expect(thrown(() => plan({ matrix: true }, yaml('variant: [debug, nopymaloc]\n'))).message).toMatch(/^\/p\/pydbg\.yaml:1:18: variant\[1\]: unknown variant/);
  });
  it('arch: may be a list for run too: each version × variant × arch is a target', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-matrix-'));
    await writeFile(join(dir, 'pydbg.yaml'), 'variant: debug\narch: [amd64, arm64]\n');
    const p = await resolveProject({ projectDir: dir });
    expect(p.targets.map((t) => t.plan.image)).toEqual(['pydbg/cpython:3.13.5-debug-amd64', 'pydbg/cpython:3.13.5-debug-arm64']);
    await writeFile(join(dir, 'pydbg.yaml'), 'python: "3.9"\narch: [amd64, arm64]\n');
    const e = (await resolveProject({ projectDir: dir }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toMatch(/pydbg\.yaml:1:9: python: cross-compiling CPython 3\.9 for arm64/);
  });
});

describe('no cell can run', () => {
  it('exit 17: one line, each refusal as a detail, a hint', () => {
    const m = plan({ python: '3.11,3.12', variant: 'tsan' }, noYaml, 'tsan');
    expect(m.cells.every((c) => c.skip)).toBe(true);
    const e = noCellError(analysisByName('tsan'), m);
    expect(e.exitCode).toBe(ExitCode.NO_CELL);
    expect(e.message).toBe('no cell of 2 versions × 1 variant × 1 arch can run pydbg check tsan');
    expect(e.details).toHaveLength(2);
    expect(e.details[0]).toMatch(/^3\.11 tsan amd64: variant 'tsan' .*3\.11/);
    expect(e.hint).toContain("tsan's own variant is 'tsan,freethreaded'");
  });
});

describe('--jobs, bounded by the engine', () => {
  it('at most its CPUs and what its memory holds at --memory per cell; the note says why', () => {
    expect(capJobs(1, { ncpu: 8, memTotal: 64 * GiB }, 8 * GiB)).toEqual({ jobs: 1 });
    expect(capJobs(4, { ncpu: 8, memTotal: 64 * GiB }, 8 * GiB)).toEqual({ jobs: 4 });
    expect(capJobs(4, { ncpu: 2, memTotal: 64 * GiB }, 8 * GiB)).toEqual({ jobs: 2, note: '--jobs 4 lowered to 2: the engine has 2 CPUs' });
    expect(capJobs(4, { ncpu: 8, memTotal: 16 * GiB }, 8 * GiB)).toEqual({ jobs: 2, note: '--jobs 4 lowered to 2: the engine has 16 GiB of memory for 8 GiB per cell (--memory)' });
    expect(capJobs(4, { ncpu: 1, memTotal: 4 * GiB }, 8 * GiB).jobs).toBe(1);
    expect(capJobs(3, {}, 8 * GiB)).toEqual({ jobs: 3 }); // an engine that does not say
  });
});

const frame = (fn: string, file: string | null, line: number | null, inUserCode: boolean): Frame => ({ function: fn, file, line, object: null, inUserCode });
const finding = (over: Partial<Finding> = {}): Finding => ({
  analysis: 'memcheck', kind: 'Leak_DefinitelyLost', message: '10,240 bytes in 10 blocks are definitely lost in loss record 2,101 of 2,300', severity: 'error',
  userFrame: frame('leaky_function', 'leak.c', 7, true),
  frames: [frame('malloc', null, null, false), frame('leaky_function', 'leak.c', 7, true), frame('cfunction_vectorcall_NOARGS', 'Objects/methodobject.c', 484, false)],
  related: [], count: 1, data: {}, ...over,
});
const report = (findings: Finding[], over: Partial<AnalysisReport> = {}): AnalysisReport => ({
  schema: 'pydbg.report/1', analysis: 'memcheck', tool: 'valgrind memcheck', python: '3.13.5', variant: 'debug', command: ['python', 'repro.py'],
  status: 'complete', reproExitCode: 0, userFindings: findings, interpreterFindings: [], rawFiles: [], summary: {}, ...over,
});

describe('fingerprints: one bug in two cells is one row', () => {
  it('the kind and the user frames decide, not the message or the interpreter frames', () => {
    const other = finding({ message: '10,240 bytes in 10 blocks are definitely lost in loss record 1,877 of 2,012', count: 3, frames: [frame('malloc', null, null, false), frame('leaky_function', 'leak.c', 7, true), frame('_PyEval_EvalFrameDefault', 'Python/ceval.c', 1, false)] });
    expect(fingerprint(other)).toBe(fingerprint(finding()));
    expect(fingerprint(finding({ kind: 'InvalidWrite' }))).not.toBe(fingerprint(finding()));
    expect(fingerprint(finding({ userFrame: frame('leaky_function', 'leak.c', 8, true) }))).not.toBe(fingerprint(finding()));
    expect(fingerprint(finding({ frames: [frame('helper', 'leak.c', 3, true), ...finding().frames] }))).not.toBe(fingerprint(finding()));
    expect(fingerprint(finding())).toMatch(/^[0-9a-f]{16}$/);
  });
});

const cell = (id: string, over: Partial<CellResult>): CellResult => {
  const [python, variant, arch] = id.split('-') as [string, string, string];
  return { id, python, variant, arch, status: 'ran', ...over };
};

describe('the table, the JSON and the exit code', () => {
  const leak = finding();
  const write = finding({ kind: 'InvalidWrite', message: 'Invalid write of size 4', userFrame: frame('overflow', 'oob.c', 7, true), frames: [frame('overflow', 'oob.c', 7, true)] });
  const cells: CellResult[] = [
    cell('3.11-nopymalloc-amd64', { exitCode: 20, report: report([leak], { python: '3.11.2', variant: 'nopymalloc' }), reportPath: '/r/3.11-nopymalloc-amd64/report.json' }),
    cell('3.13-debug-amd64', { exitCode: 20, report: report([finding({ message: 'other numbers', count: 2 }), write]), reportPath: '/r/3.13-debug-amd64/report.json' }),
    cell('3.13-asan-amd64', { status: 'skipped', reason: 'Valgrind cannot run an AddressSanitizer build (variant asan)' }),
    cell('3.13-debug-arm64', { status: 'failed', exitCode: 6, reason: 'image build failed' }),
  ];
  const m = matrixResult('memcheck', ['python', 'repro.py'], cells);

  it('rows by fingerprint × cells with a report, the first message', () => {
    expect(m.rows).toEqual([
      { fingerprint: fingerprint(leak), kind: 'Leak_DefinitelyLost', where: 'leak.c:7 (leaky_function)', message: leak.message, counts: { '3.11-nopymalloc-amd64': 1, '3.13-debug-amd64': 2 } },
      { fingerprint: fingerprint(write), kind: 'InvalidWrite', where: 'oob.c:7 (overflow)', message: 'Invalid write of size 4', counts: { '3.11-nopymalloc-amd64': 0, '3.13-debug-amd64': 1 } },
    ]);
    expect(m.schema).toBe('pydbg.matrix/1');
    expect(m.exitCode).toBe(6); // a failed cell beats findings
  });
  it('text: one table (×N present, - absent, skipped, failed), then each cell', () => {
    expect(matrixText(m)).toBe([
      'pydbg check memcheck: 4 cells (2 ran, 1 failed, 1 skipped), python repro.py',
      '  2 finding(s) in your code:',
      '  KIND                 WHERE                      3.11 nopymalloc amd64  3.13 debug amd64  3.13 asan amd64  3.13 debug arm64  MESSAGE',
      `  Leak_DefinitelyLost  leak.c:7 (leaky_function)  ×1                     ×2                skipped          failed            ${leak.message}`,
      '  InvalidWrite         oob.c:7 (overflow)         -                      ×1                skipped          failed            Invalid write of size 4',
      '',
      '  cells:',
      '    3.11 nopymalloc amd64  findings (exit 20)  /r/3.11-nopymalloc-amd64/report.json',
      '    3.13 debug amd64       findings (exit 20)  /r/3.13-debug-amd64/report.json',
      '    3.13 asan amd64        skipped             Valgrind cannot run an AddressSanitizer build (variant asan)',
      '    3.13 debug arm64       failed (exit 6)     image build failed',
      '',
    ].join('\n'));
    const clean = matrixResult('memcheck', ['python', 'repro.py'], [cell('3.13-debug-amd64', { exitCode: 0, report: report([]) })]);
    expect(matrixText(clean)).toContain('  no findings in your code in any cell\n');
    expect(matrixText(clean)).toContain('    3.13 debug amd64  clean');
    // a partial report: its path, and why under it
    const partial = matrixResult('memcheck', ['python', 'repro.py'], [cell('3.13-debug-amd64', { status: 'failed', exitCode: 22, reason: 'the repro crashed with SIGSEGV', reportPath: '/r/report.json', report: report([], { status: 'partial' }) })]);
    expect(matrixText(partial)).toContain('    3.13 debug amd64  failed (exit 22)  /r/report.json\n                                        the repro crashed with SIGSEGV\n');
  });
  it('worst cell: failed (the first) > findings > clean; skipped cells do not count', () => {
    expect(worstExit([cell('a-b-c', { exitCode: 0 }), cell('d-e-f', { status: 'skipped' })])).toBe(0);
    expect(worstExit([cell('a-b-c', { exitCode: 0 }), cell('d-e-f', { exitCode: 20 })])).toBe(20);
    expect(worstExit([cell('a-b-c', { exitCode: 20 }), cell('d-e-f', { status: 'failed', exitCode: 22 }), cell('g-h-i', { status: 'failed', exitCode: 6 })])).toBe(22);
  });
  it('a partial report fails its cell (exit 22), even with findings', () => {
    expect(cellOutcome(report([leak]), 20)).toEqual({ status: 'ran', exitCode: 20 });
    expect(cellOutcome(report([leak], { status: 'partial', partialReason: 'the repro crashed with SIGSEGV' }), 20)).toEqual({ status: 'failed', exitCode: 22, reason: 'the repro crashed with SIGSEGV' });
  });

  it('SARIF: one run per cell with a report, each with its own category and the cell in its properties', () => {
    const sarif = JSON.parse(matrixSarif(m));
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs).toHaveLength(2);
    const ids = sarif.runs.map((r: { automationDetails: { id: string } }) => r.automationDetails.id);
    expect(ids).toEqual(['pydbg/memcheck/3.11-nopymalloc-amd64/', 'pydbg/memcheck/3.13-debug-amd64/']);
    expect(new Set(ids).size).toBe(ids.length);
    for (const run of sarif.runs) {
      expect(run.tool.driver.name).toBe('pydbg memcheck');
      for (const r of run.results) {
        expect(run.tool.driver.rules.map((x: { id: string }) => x.id)).toContain(r.ruleId);
        expect(typeof r.message.text).toBe('string');
      }
    }
    expect(sarif.runs[1].properties.cell).toEqual({ id: '3.13-debug-amd64', python: '3.13', variant: 'debug', arch: 'amd64', cpython: '3.13.5' });
    expect(sarif.runs[1].results.map((r: { ruleId: string }) => r.ruleId)).toEqual(['Leak_DefinitelyLost', 'InvalidWrite']);
  });
  it('single-cell SARIF and JUnit are as before: no category, no cell', () => {
    const r = report([write]);
    expect(JSON.parse(sarifReport([r])).runs[0]).not.toHaveProperty('automationDetails');
    expect(junitReport([r])).toBe([
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<testsuites>',
      '  <testsuite name="pydbg memcheck (CPython 3.13.5 debug)" tests="1" failures="1" errors="0">',
      '    <testcase classname="pydbg.memcheck" name="InvalidWrite at oob.c:7 (overflow)"><failure message="Invalid write of size 4" type="InvalidWrite">Invalid write of size 4\n  at overflow (oob.c:7)</failure></testcase>',
      '  </testsuite>',
      '</testsuites>',
      '',
    ].join('\n'));
  });
  it('JUnit: one suite per cell, its name carrying the cell; skipped and failed cells say so', () => {
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(matrixJunit(m));
    const suites = doc.testsuites.testsuite as Array<Record<string, unknown>>;
    expect(suites.map((s) => s.name)).toEqual([
      'pydbg memcheck [3.11 nopymalloc amd64] (CPython 3.11.2 nopymalloc)',
      'pydbg memcheck [3.13 debug amd64] (CPython 3.13.5 debug)',
      'pydbg memcheck [3.13 asan amd64]',
      'pydbg memcheck [3.13 debug arm64]',
    ]);
    expect(suites.map((s) => [s.tests, s.failures, s.errors, s.skipped])).toEqual([['1', '1', '0', undefined], ['2', '2', '0', undefined], ['1', '0', '0', '1'], ['1', '0', '1', undefined]]);
    expect((suites[2]!.testcase as { skipped: { message: string } }).skipped.message).toMatch(/AddressSanitizer/);
    expect((suites[1]!.testcase as Array<{ name: string }>)[1]!.name).toBe('InvalidWrite at oob.c:7 (overflow) [3.13 debug amd64]');
  });
});
