/**
 * check rss: leak or fragmentation, on CPython 3.11 nopymalloc (every object a plain malloc block).
 * The same soak runs under glibc, jemalloc and tcmalloc (Debian's libraries, installed into the
 * run's derived image); examples/fragmentation grows under glibc only, the refleak service's
 * handler grows under every allocator.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AllocatorTrend } from '../../src/analyses/rss.js';
import type { AnalysisReport } from '../../src/analyses/types.js';
import { pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const EX = join(ROOT, 'examples');
const V = ['--variant', 'nopymalloc', '--python', '3.11'];
const MiB = 1048576;
let out: string;

beforeAll(async () => {
  await requireEngine();
  await requireImages('nopymalloc-3.11');
  out = await mkdtemp(join(tmpdir(), 'pydbg-rss-'));
});
afterAll(() => rm(out, { recursive: true, force: true }));

async function rss(name: string, args: string[]): Promise<{ report: AnalysisReport; exitCode: number; stderr: string }> {
  const r = await pydbg(['check', 'rss', ...V, '--out', join(out, name), '--json', ...args]);
  try {
    return { report: JSON.parse(r.stdout) as AnalysisReport, exitCode: r.exitCode ?? -1, stderr: r.stderr };
  } catch {
    throw new Error(`pydbg check rss ${args.join(' ')} exited ${r.exitCode} without a report:\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  }
}
const trends = (report: AnalysisReport) => Object.fromEntries((report.summary.allocators as AllocatorTrend[]).map((t) => [t.allocator, t]));

describe('check rss', () => {
  it('examples/fragmentation: RSS grows under glibc only (~4 MiB a round) with a constant live set: the fragmentation verdict, and the picture', async () => {
    const { report, exitCode, stderr } = await rss('frag', ['-C', join(EX, 'fragmentation'), 'soak.py']);
    expect(report.status, stderr.slice(-3000)).toBe('complete');
    expect(report.summary.verdict).toBe('fragmentation');
    const t = trends(report);
    expect(t.glibc!.slope).toBeGreaterThan(3 * MiB);
    expect(t.glibc!.slope).toBeLessThan(5 * MiB);
    for (const a of ['jemalloc', 'tcmalloc']) expect(Math.abs(t[a]!.slope), a).toBeLessThan(0.25 * MiB);
    for (const a of ['glibc', 'jemalloc', 'tcmalloc']) expect(Math.abs(t[a]!.objectsSlope), a).toBeLessThan(1);
    expect(report.userFindings.map((f) => f.kind)).toEqual(['Fragmentation']);
    expect(report.userFindings[0]!.message).toMatch(/^RSS grows under glibc \+\d\.\d\d MiB\/round but stays flat under jemalloc .* and tcmalloc .*: fragmentation in glibc's malloc, not a leak/);
    expect(exitCode).toBe(20);
    expect(stderr).toContain('pydbg rss: tcmalloc round 20/20');
    expect(existsSync(join(out, 'frag', 'rss.svg'))).toBe(true);
  });

  it('the refleak service handler (server:handle, one leaked list a call): RSS grows under every allocator, the live objects too: the leak verdict', async () => {
    const { report, exitCode, stderr } = await rss('leak', ['-C', join(EX, 'refleak'), '--iterations', '20000', '--rounds', '8', '--warmup', '2', 'server:handle']);
    expect(report.status, stderr.slice(-3000)).toBe('complete');
    expect(report.summary.verdict).toBe('leak');
    const t = trends(report);
    for (const a of ['glibc', 'jemalloc', 'tcmalloc']) {
      expect(t[a]!.grows, a).toBe(true);
      expect(t[a]!.objectsSlope, a).toBeGreaterThan(19000); // one list per call, 20,000 calls a round
      expect(t[a]!.objectsSlope, a).toBeLessThan(21000);
    }
    expect(report.userFindings.map((f) => f.kind)).toEqual(['RSSLeak']);
    expect(report.userFindings[0]!.message).toMatch(/a leak, not fragmentation; live gc objects \+(19|20)\d\d\d per round/);
    expect(exitCode).toBe(20);
  });

  it('--malloc with an unknown allocator, or on another analysis: refused before any work (exit 2)', async () => {
    const bad = await pydbg(['check', 'rss', ...V, '--malloc', 'glibc,mimalloc', '-C', join(EX, 'fragmentation'), 'soak.py']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--malloc: unknown allocator 'mimalloc'");
    const other = await pydbg(['check', 'leaks', ...V, '--malloc', 'jemalloc', '-C', join(EX, 'fragmentation'), 'soak.py']);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain("--malloc on check compares allocators in 'pydbg check rss'");
  });
});
