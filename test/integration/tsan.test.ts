/**
 * ThreadSanitizer on the free-threaded build (CPython 3.13 tsan,freethreaded): examples/race's
 * counter.c adds to a static counter from four threads without a lock (add_unlocked, the race at
 * counter.c:20) and under a PyMutex (add_locked, clean). ASLR is turned off inside the check's
 * container (setarch -R), as ThreadSanitizer's memory layout wants.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/analyses/types.js';
import { pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const RACE = join(ROOT, 'examples', 'race');
const V = ['--variant', 'freethreaded,tsan', '--python', '3.13'];

async function tsan(args: string[]): Promise<{ report: AnalysisReport; exitCode: number; stderr: string }> {
  const out = await mkdtemp(join(tmpdir(), 'pydbg-tsan-'));
  const r = await pydbg(['check', 'tsan', ...V, '--out', out, '--json', '-', ...args]);
  try {
    return { report: JSON.parse(r.stdout) as AnalysisReport, exitCode: r.exitCode ?? -1, stderr: r.stderr };
  } catch {
    throw new Error(`pydbg check tsan ${args.join(' ')} exited ${r.exitCode} without a report:\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  }
}

beforeAll(async () => {
  await requireEngine();
  await requireImages('tsan-freethreaded-3.13');
});

describe('check tsan on CPython 3.13 tsan,freethreaded', () => {
  it('the unlocked counter: a data race at counter.c:20 in add_unlocked, both accesses, the global named', async () => {
    const { report, exitCode, stderr } = await tsan(['-C', RACE, 'race.py']);
    expect(exitCode, stderr).toBe(20);
    expect(report.userFindings).toHaveLength(1);
    const f = report.userFindings[0]!;
    expect(f.kind).toBe('data-race');
    expect(f.userFrame).toMatchObject({ function: 'add_unlocked', file: 'counter.c', line: 20 });
    expect(f.message).toMatch(/^data race: (read|write) of size 8 by thread T\d+ holding no mutex in add_unlocked \(counter\.c:20\); previous (read|write) of size 8 by thread T\d+ holding no mutex in add_unlocked \(counter\.c:20\) \(on global 'counter' of size 8\)$/);
    expect(f.related.filter((r) => /^Thread T\d+ created by main thread at$/.test(r.message)).length).toBeGreaterThanOrEqual(1);
    expect(report.summary).toMatchObject({ aslr: 'off (setarch -R)', suppressions: "CPython's Tools/tsan/suppressions_free_threading.txt" });
    expect(stderr).toContain('note: ThreadSanitizer needs ASLR off');
  });
  it('the same threads through the PyMutex: no finding in your code, exit 0', async () => {
    const { report, exitCode, stderr } = await tsan(['-C', RACE, 'clean.py']);
    expect(report.userFindings, JSON.stringify(report.userFindings, null, 1)).toEqual([]);
    expect(report.status).toBe('complete');
    expect(exitCode, stderr).toBe(0);
  });
  it('refusals, before any engine work: a build without TSan (exit 21), a version without it (exit 3)', async () => {
    const ft = await pydbg(['check', 'tsan', '--variant', 'freethreaded', '--python', '3.13', '-C', RACE, 'race.py']);
    expect(ft.exitCode, ft.all).toBe(21);
    expect(ft.stderr).toContain('pydbg: error: the freethreaded build is not built with ThreadSanitizer');
    const old = await pydbg(['check', 'tsan', '--variant', 'tsan', '--python', '3.11', '-C', RACE, 'race.py']);
    expect(old.exitCode, old.all).toBe(3);
    expect(old.stderr).toContain("variant 'tsan' does not exist for CPython 3.11: configure gained --with-thread-sanitizer in 3.13");
  });
});
