/**
 * check rss: the verdict from the rounds (pure), the command it plans, the picture, and the
 * orchestration with runProject injected (the packages reach the run; --malloc elsewhere refused).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ALLOCATORS } from '../../src/catalogue/allocators.js';
import { analyseRss, rss, rssSvg, slopeOf, trendOf, RSS_MIN_SLOPE, type RssRun, type RssSoak } from '../../src/analyses/rss.js';
import { check, type CheckDeps, type CheckInput } from '../../src/analyses/check.js';
import { OUT_MOUNT } from '../../src/container/layout.js';
import { ExitCode } from '../../src/errors.js';
import type { RunRequest, RunResult } from '../../src/exec/types.js';
import { planVariant } from '../../src/project/plan.js';
import * as v from '../../src/cli/validate.js';
import { offlineIO } from './check-io.js';

const MiB = 1048576;

/** A soak whose RSS after each round follows f(round) (warm-up rounds included), with live objects g(round). */
function soak(allocator: string, f: (i: number) => number, opts: { warmup?: number; rounds?: number; objects?: (i: number) => number; refs?: (i: number) => number } = {}): RssSoak {
  const warmup = opts.warmup ?? 3;
  const n = warmup + (opts.rounds ?? 20);
  return {
    allocator, library: allocator === 'glibc' ? null : `/usr/lib/x86_64-linux-gnu/lib${allocator}.so`, preloaded: allocator !== 'glibc', warmup, error: null, seconds: 4.2,
    rounds: Array.from({ length: n }, (_, i) => ({ rss: Math.round(f(i)), objects: Math.round((opts.objects ?? (() => 20000))(i)), refs: opts.refs ? opts.refs(i) : 500000, blocks: null })),
  };
}
const runOf = (...allocators: RssSoak[]): RssRun => ({ target: 'soak.py', rounds: 20, warmup: 3, iterations: 1, allocators });
/** a little page-granular noise */
const noise = (i: number) => ((i * 7919) % 5) * 4096;

describe('the verdict', () => {
  it('slopeOf: least squares over the rounds', () => {
    expect(slopeOf([1, 3, 5, 7])).toBe(2);
    expect(slopeOf([5, 5, 5])).toBe(0);
    expect(slopeOf([4])).toBe(0);
  });

  it('growth under glibc only: fragmentation, a warning naming the flat allocators and the live set', () => {
    const run = runOf(
      soak('glibc', (i) => 40 * MiB + i * 3 * MiB + noise(i)),
      soak('jemalloc', (i) => 45 * MiB + Math.min(i, 3) * MiB + noise(i)),
      soak('tcmalloc', (i) => 44 * MiB + Math.min(i, 2) * MiB + noise(i)),
    );
    const { verdict, trends, findings } = analyseRss(run, 'soak.py');
    expect(verdict).toBe('fragmentation');
    expect(trends.map((t) => t.grows)).toEqual([true, false, false]);
    expect(trends[0]!.slope / MiB).toBeCloseTo(3, 1);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: 'Fragmentation', severity: 'warning', userFrame: { function: 'soak.py', file: 'soak.py' } });
    expect(findings[0]!.message).toMatch(/^RSS grows under glibc \+3\.0\d MiB\/round but stays flat under jemalloc [+−]0\.\d\d MiB\/round and tcmalloc [+−]0\.\d\d MiB\/round: fragmentation in glibc's malloc, not a leak \(live gc objects steady per round, total refcount steady\)$/);
    expect(findings[0]!.related[0]!.message).toContain("pydbg run --malloc jemalloc");
    expect(findings[0]!.data.glibcBytesPerRound).toBeGreaterThan(3 * MiB - 100000);
  });

  it('growth under every allocator: a leak, with the live set growing and the commands that find it', () => {
    const run = runOf(
      soak('glibc', (i) => 40 * MiB + i * 2 * MiB, { objects: (i) => 20000 + 5000 * i, refs: (i) => 500000 + 5000 * i }),
      soak('jemalloc', (i) => 42 * MiB + i * 2.1 * MiB, { objects: (i) => 20000 + 5000 * i, refs: (i) => 500000 + 5000 * i }),
      soak('tcmalloc', (i) => 41 * MiB + i * 1.9 * MiB, { objects: (i) => 20000 + 5000 * i, refs: (i) => 500000 + 5000 * i }),
    );
    const { verdict, findings } = analyseRss(run, 'soak.py');
    expect(verdict).toBe('leak');
    expect(findings[0]).toMatchObject({ kind: 'RSSLeak', severity: 'error' });
    expect(findings[0]!.message).toBe('RSS grows under every allocator (glibc +2.00 MiB/round, jemalloc +2.10 MiB/round, tcmalloc +1.90 MiB/round): a leak, not fragmentation; live gc objects +5000 per round, total refcount +5000');
    expect(findings[0]!.related[0]!.message).toContain("pydbg check leaks soak.py");
  });

  it('flat everywhere (noise, a one-off step in the warm-up): no findings', () => {
    const run = runOf(
      soak('glibc', (i) => (i < 3 ? 20 * MiB : 60 * MiB) + noise(i)),
      soak('jemalloc', (i) => 50 * MiB + noise(i)),
    );
    const r = analyseRss(run, null);
    expect(r.verdict).toBe('flat');
    expect(r.findings).toEqual([]);
  });

  it('one jump in the counted rounds is not steady growth', () => {
    const t = trendOf(soak('glibc', (i) => (i < 12 ? 40 * MiB : 80 * MiB)))!;
    expect(t.slope).toBeGreaterThan(RSS_MIN_SLOPE);
    expect(t.grows).toBe(false);
  });

  it('growth below 64 KiB a round is not called growth', () => {
    expect(trendOf(soak('glibc', (i) => 40 * MiB + i * 32 * 1024))!.grows).toBe(false);
    expect(trendOf(soak('glibc', (i) => 40 * MiB + i * 128 * 1024))!.grows).toBe(true);
  });

  it('one allocator only: growth, with the command that compares', () => {
    const r = analyseRss(runOf(soak('glibc', (i) => 40 * MiB + i * MiB)), 'soak.py');
    expect(r.verdict).toBe('growth');
    expect(r.findings[0]).toMatchObject({ kind: 'RSSGrowth', severity: 'error' });
    expect(r.findings[0]!.related[0]!.message).toBe('pydbg check rss --malloc glibc,jemalloc,tcmalloc soak.py');
  });

  it('a "flat" allocator that still grows half as fast: inconclusive, not fragmentation', () => {
    const r = analyseRss(runOf(soak('glibc', (i) => 40 * MiB + i * 200 * 1024), soak('jemalloc', (i) => 40 * MiB + i * 60 * 1024)), 'soak.py');
    expect(r.verdict).toBe('inconclusive');
    expect(r.findings[0]).toMatchObject({ kind: 'RSSGrowth', severity: 'warning' });
  });

  it('nothing measured (every soak failed): inconclusive, never "flat"', () => {
    const failed = { ...soak('glibc', () => MiB), rounds: [], error: 'ImportError: no module named soak' };
    expect(analyseRss(runOf(failed, { ...failed, allocator: 'jemalloc' }), null)).toMatchObject({ verdict: 'inconclusive', findings: [] });
  });

  it('RSS flat but live objects growing under every allocator: a leak too small for RSS, not "flat"; with RSS growing under one only: not "not a leak"', () => {
    const objs = { objects: (i: number) => 20000 + 100 * i };
    const r = analyseRss(runOf(soak('glibc', () => 40 * MiB, objs), soak('jemalloc', () => 45 * MiB, objs)), 'soak.py');
    expect(r.verdict).toBe('inconclusive');
    expect(r.findings[0]!.message).toBe("RSS stays flat, but live gc objects +100 per round, total refcount steady under every allocator: a leak too small for RSS to show yet; 'pydbg check leaks soak.py' names it");
    const f = analyseRss(runOf(soak('glibc', (i) => 40 * MiB + i * MiB, objs), soak('jemalloc', () => 45 * MiB, objs)), 'soak.py');
    expect(f.verdict).toBe('inconclusive');
    expect(f.findings[0]!.message).toContain('fragmentation and a leak?');
  });

  it('glibc the flat one: no advice to preload glibc', () => {
    const r = analyseRss(runOf(soak('glibc', () => 40 * MiB), soak('tcmalloc', (i) => 40 * MiB + i * MiB)), 'soak.py');
    expect(r.verdict).toBe('fragmentation');
    expect(r.findings[0]!.related[0]!.message).toBe('the memory is freed but the allocator cannot reuse or return it, or change the allocation pattern');
  });

  it('a soak without two counted readings has no trend', () => {
    expect(trendOf({ ...soak('glibc', () => MiB, { rounds: 1 }) })).toBeUndefined();
  });
});

describe('the picture', () => {
  it('is well-formed SVG with one line per allocator, labelled, and the warm-up shaded', () => {
    const svg = rssSvg(runOf(soak('glibc', (i) => 40 * MiB + i * MiB), soak('jemalloc', () => 45 * MiB)), 'RSS of soak.py <per round>');
    expect(XMLValidator.validate(svg)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
    expect(doc.svg.polyline).toHaveLength(2);
    expect(doc.svg.polyline[0]['@_points'].split(' ')).toHaveLength(23);
    expect(svg).toContain('>glibc</text>');
    expect(svg).toContain('>jemalloc</text>');
    expect(svg).toContain('warm-up');
    expect(svg).toContain('&lt;per round>');
  });
});

describe('the command', () => {
  const plan = (variant: string) => planVariant({ variant, python: '3.13' });

  it('every allocator by default: the soak driver, with each library to preload and the packages the image needs', () => {
    const c = rss.command({ plan: plan('nopymalloc'), repro: ['soak.py', '--size', '3'], options: {} });
    expect(c.argv).toEqual(['python', '/opt/pydbg-run/rsssoak.py', `${OUT_MOUNT}/rss.json`, '20', '3', '1',
      'glibc,jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2,tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4', 'soak.py', '--size', '3']);
    expect(c.packages).toEqual(['libjemalloc2', 'libtcmalloc-minimal4']);
    expect(c.crashArgv).toEqual(['python', 'soak.py', '--size', '3']);
    expect(c.notes).toEqual([]);
  });

  it('--malloc, --rounds, --warmup, --iterations; module:function', () => {
    const c = rss.command({ plan: plan('nopymalloc'), repro: ['server:handle'], options: { mallocs: ['glibc', 'tcmalloc'], rounds: 8, warmup: 1, iterations: 500 } });
    expect(c.argv.slice(3)).toEqual(['8', '1', '500', 'glibc,tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4', 'server:handle']);
    expect(c.packages).toEqual(['libtcmalloc-minimal4']);
    expect(c.crashArgv.slice(0, 2)).toEqual(['python', '-c']);
  });

  it('a pymalloc build says only larger blocks reach the C allocator; the free-threaded build is refused; fewer than 3 rounds refused', () => {
    expect(rss.command({ plan: plan('debug'), repro: ['soak.py'], options: {} }).notes[0]).toMatch(/pymalloc.*--variant nopymalloc/);
    expect(rss.unavailable(plan('freethreaded'))).toMatchObject({ message: expect.stringContaining('mimalloc'), hint: 'use --variant nopymalloc --python 3.13.5' });
    expect(rss.unavailable(plan('nopymalloc'))).toBeUndefined();
    expect(rss.unavailable(plan('asan'))).toMatchObject({ message: expect.stringContaining('AddressSanitizer replaces malloc') });
    expect(() => rss.command({ plan: plan('nopymalloc'), repro: ['soak.py'], options: { rounds: 2 } })).toThrow(expect.objectContaining({ exitCode: ExitCode.USAGE }));
    expect(() => rss.command({ plan: plan('nopymalloc'), repro: [], options: {} })).toThrow(expect.objectContaining({ exitCode: ExitCode.USAGE }));
  });

  it('--malloc LIST parsing: known names, none twice; the list matches the catalogue', () => {
    expect(v.parseAllocators('glibc,jemalloc')).toEqual(['glibc', 'jemalloc']);
    expect([...v.ALLOCATOR_NAMES]).toEqual([...ALLOCATORS]);
    expect(() => v.parseAllocators('glibc,jemaloc')).toThrow(/unknown allocator 'jemaloc' \(Did you mean jemalloc\?\)/);
    expect(() => v.parseAllocators('glibc,glibc')).toThrow(/glibc is listed twice/);
    expect(() => v.parseAllocators(',')).toThrow(/at least one/);
  });
});

describe('check rss: orchestration', () => {
  let root: string;
  let projectDir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pydbg-rss-unit-'));
    projectDir = join(root, 'project');
    await mkdir(projectDir);
    await writeFile(join(projectDir, 'soak.py'), 'pass\n');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const io = offlineIO;
  const input = (over: Partial<CheckInput> = {}): CheckInput => ({ project: { projectDir, python: '3.13' }, analysis: 'rss', repro: ['soak.py'], options: {}, ...over });

  it('the allocator packages reach the run; the report has the verdict, the table and the SVG', async () => {
    const reqs: RunRequest[] = [];
    const data = runOf(soak('glibc', (i) => 40 * MiB + i * 3 * MiB), soak('jemalloc', () => 45 * MiB), soak('tcmalloc', () => 44 * MiB));
    const deps: Partial<CheckDeps> = {
      containerUser: async () => '1000:1000', reportsDir: () => join(root, 'reports'), now: () => new Date('2026-01-02T03:04:05Z'),
      runProject: async (project, req) => {
        reqs.push(req);
        const mount = req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source;
        await writeFile(join(mount, 'rss.json'), JSON.stringify(data));
        const r: RunResult = { command: req.argv, image: 'sha256:x', python: '3.13.5', variant: 'nopymalloc', exitCode: 0, signal: null, durationSeconds: 1, extension: { kind: 'none', cached: true, image: 'sha256:x', seconds: 0 } };
        return [r];
      },
    };
    const r = await check(input(), io(), deps);
    expect(reqs[0]!.extraPackages).toEqual(['libjemalloc2', 'libtcmalloc-minimal4']);
    expect(r.report).toMatchObject({ analysis: 'rss', variant: 'nopymalloc', status: 'complete', summary: { verdict: 'fragmentation' } });
    expect(r.exitCode).toBe(ExitCode.FINDINGS);
    expect(r.report.summaryText).toMatch(/glibc\s+49\.0 MiB\s+106\.0 MiB\s+\+3\.00 MiB/);
    expect(r.report.summaryText).toContain('verdict: fragmentation');
    const svg = r.report.rawFiles.find((f) => f.endsWith('rss.svg'))!;
    expect(XMLValidator.validate(await readFile(svg, 'utf8'))).toBe(true);
  });

  it('a failed soak under one allocator: partial, naming it', async () => {
    const bad = { ...soak('tcmalloc', () => 44 * MiB), error: 'RuntimeError: tcmalloc was not loaded', rounds: [] };
    const data = runOf(soak('glibc', () => 40 * MiB), bad);
    const deps: Partial<CheckDeps> = {
      containerUser: async () => '1000:1000', reportsDir: () => join(root, 'reports'), now: () => new Date(),
      runProject: async (project, req) => {
        const mount = req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source;
        await writeFile(join(mount, 'rss.json'), JSON.stringify(data));
        return [{ command: req.argv, image: 'x', python: '3.13.5', variant: 'nopymalloc', exitCode: 1, signal: null, durationSeconds: 1, extension: { kind: 'none', cached: true, image: 'x', seconds: 0 } }];
      },
    };
    const r = await check(input(), io(), deps);
    expect(r.report.status).toBe('partial');
    expect(r.report.partialReason).toBe('under tcmalloc: RuntimeError: tcmalloc was not loaded');
    expect(r.exitCode).toBe(ExitCode.TOOL_FAILED);
  });

  it('--malloc with another analysis: refused before any run', async () => {
    const runProject = vi.fn();
    const e = await check(input({ analysis: 'leaks', options: { mallocs: ['jemalloc'] } }), io(), { runProject, containerUser: async () => '1000:1000', reportsDir: () => root }).catch((x) => x);
    expect(e).toMatchObject({ exitCode: ExitCode.USAGE, message: expect.stringContaining("--malloc on check compares allocators in 'pydbg check rss'") });
    expect(runProject).not.toHaveBeenCalled();
  });
});
