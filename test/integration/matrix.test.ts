/**
 * `pydbg check memcheck` over a matrix on the real engine: examples/leak (10 blocks of 1024 bytes
 * definitely lost at leak.c:7) on 2.7 and 3.13 × count-allocs and debug × amd64 and arm64, two cells
 * at a time. Four cells run — 2.7 count-allocs, 2.7 debug and 3.13 debug on amd64, 3.13 debug on
 * arm64 under QEMU — and four are skipped by the catalogue (count-allocs was removed in 3.9; 2.7 is
 * not cross-built for ARM): one table, one row for the leak in every cell that ran, exit 20; a
 * report directory, a SARIF run (its own category) and a JUnit suite per cell; nothing left behind.
 *
 * Images: the suite's 2.7 count-allocs, 2.7 debug (in the suite for this file alone: no other
 * image gives a fourth cell), 3.13 debug and arm64 3.13 debug. Every run gets --no-build.
 * Memcheck on arm64 under QEMU is the slow cell: a few minutes on two cores.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MatrixResult } from '../../src/analyses/matrix.js';
import type { DockerEngine } from '../../src/engine/docker.js';
import { engineLeftovers, pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const EX = join(ROOT, 'examples');

let engine: DockerEngine;
beforeAll(async () => {
  engine = await requireEngine();
  await requireImages('count-allocs-2.7', 'debug-2.7', 'debug-3.13', 'arm64-debug-3.13');
});

describe('memcheck over 2.7, 3.13 × count-allocs, debug × amd64, arm64 on examples/leak', () => {
  it('one table, one row for the leak in every cell that ran, the skipped cells with their reasons, exit 20; per-cell reports, SARIF and JUnit', async () => {
    const since = Date.now();
    const out = await mkdtemp(join(tmpdir(), 'pydbg-matrix-'));
    const r = await pydbg([
      'check', 'memcheck', '--python', '2.7,3.13', '--variant', 'count-allocs', '--variant', 'debug', '--arch', 'amd64,arm64', '--jobs', '2',
      '-C', join(EX, 'leak'), '--out', join(out, 'reports'), '--json-out', join(out, 'matrix.json'), '--sarif', join(out, 'matrix.sarif'), '--junit', join(out, 'matrix.xml'), 'repro.py',
    ]);
    let m: MatrixResult;
    try {
      m = JSON.parse(await readFile(join(out, 'matrix.json'), 'utf8')) as MatrixResult;
    } catch {
      throw new Error(`pydbg check exited ${r.exitCode} without the matrix JSON:\n${r.stderr.split('\n').slice(-40).join('\n')}`);
    }
    expect(r.exitCode, r.stderr.split('\n').slice(-40).join('\n')).toBe(20);
    expect(m.exitCode).toBe(20);

    // the cells: python × variant × arch, four run, four skipped by the catalogue
    const ran = ['2.7-count-allocs-amd64', '2.7-debug-amd64', '3.13-debug-amd64', '3.13-debug-arm64'];
    expect(m.cells.map((c) => [c.id, c.status])).toEqual([
      ['2.7-count-allocs-amd64', 'ran'], ['2.7-count-allocs-arm64', 'skipped'], ['2.7-debug-amd64', 'ran'], ['2.7-debug-arm64', 'skipped'],
      ['3.13-count-allocs-amd64', 'skipped'], ['3.13-count-allocs-arm64', 'skipped'], ['3.13-debug-amd64', 'ran'], ['3.13-debug-arm64', 'ran'],
    ]);
    const reason = Object.fromEntries(m.cells.map((c) => [c.id, c.reason ?? '']));
    expect(reason['2.7-debug-arm64']).toMatch(/cross-compiling CPython 2\.7 for arm64 is not supported/);
    expect(reason['3.13-count-allocs-amd64']).toMatch(/count-allocs/);
    expect(m.cells.filter((c) => c.status === 'ran').every((c) => c.exitCode === 20 && c.report?.status === 'complete')).toBe(true);

    // one row: the same leak, fingerprinted alike in every cell, at the malloc line
    const leaks = m.rows.filter((row) => row.kind === 'Leak_DefinitelyLost');
    expect(leaks.map((row) => row.where)).toEqual(['leak.c:7 (leaky_function)']);
    for (const id of ran) expect(leaks[0]!.counts[id], id).toBeGreaterThanOrEqual(1);
    for (const c of m.cells.filter((x) => x.report)) {
      const f = c.report!.userFindings.find((x) => x.kind === 'Leak_DefinitelyLost');
      expect(f?.userFrame, c.id).toMatchObject({ function: 'leaky_function', file: 'leak.c', line: 7 });
      expect(f?.data.leakedBytes, c.id).toBe(10240);
    }

    // the table on stdout; progress and the repro's output on stderr, prefixed with the cell
    expect(r.stdout).toMatch(/^pydbg check memcheck: 8 cells \(4 ran, 4 skipped\), python repro\.py\n/);
    expect(r.stdout).toMatch(/Leak_DefinitelyLost\s+leak\.c:7 \(leaky_function\)\s+×\d+\s+skipped\s+×\d+\s+skipped\s+skipped\s+skipped\s+×\d+\s+×\d+\s/);
    expect(r.stderr).toContain('[3.13 debug arm64] ');
    expect(r.stderr).toContain('[2.7 count-allocs amd64] ');

    // a report directory per cell that ran
    expect((await readdir(join(out, 'reports'))).sort()).toEqual(ran);
    for (const id of ran) expect(existsSync(join(out, 'reports', id, 'report.json')), id).toBe(true);

    // SARIF: one run per cell, each its own code-scanning category, the leak at leak.c:7
    const sarif = JSON.parse(await readFile(join(out, 'matrix.sarif'), 'utf8'));
    expect(sarif.runs.map((x: { automationDetails: { id: string } }) => x.automationDetails.id)).toEqual(ran.map((id) => `pydbg/memcheck/${id}/`));
    for (const run of sarif.runs) {
      const loc = run.results.find((x: { ruleId: string }) => x.ruleId === 'Leak_DefinitelyLost').locations[0].physicalLocation;
      expect(loc).toMatchObject({ artifactLocation: { uri: 'leak.c', uriBaseId: 'SRCROOT' }, region: { startLine: 7 } });
    }
    // JUnit: a suite per cell, named with it
    const junit = await readFile(join(out, 'matrix.xml'), 'utf8');
    expect(junit.match(/<testsuite /g)).toHaveLength(8);
    expect(junit).toContain('name="pydbg memcheck [3.13 debug arm64] (CPython 3.13.5 debug)"');
    expect(junit).toMatch(/<testsuite name="pydbg memcheck \[2\.7 debug arm64\]" tests="1" failures="0" errors="0" skipped="1">/);

    // nothing left on the engine
    const left = await engineLeftovers(engine, since);
    expect(left.containers).toEqual([]);
  });

  it('a matrix with no possible cell: exit 17, one line, each refusal, before anything runs', async () => {
    const r = await pydbg(['check', 'memcheck', '--python', '3.11,3.13', '--variant', 'asan', '--variant', 'freethreaded', '--arch', 'amd64', '-C', join(EX, 'leak'), 'repro.py']);
    expect(r.exitCode).toBe(17);
    expect(r.stderr).toMatch(/^pydbg: error: no cell of 2 versions × 2 variants × 1 arch can run pydbg check memcheck\n/);
    expect(r.stderr).toContain('  | 3.13 asan amd64: Valgrind cannot run an AddressSanitizer build');
    expect(r.stderr).toMatch(/hint: memcheck's own variant is 'nopymalloc'/);
    expect(r.stdout).toBe('');
  });
});
