/**
 * `pydbg check rss --malloc glibc,jemalloc,tcmalloc soak.py`: leak or fragmentation? The soak runs
 * for the same rounds under each C allocator (Debian's libraries, preloaded), and the resident set
 * size after each round is compared: growth under every allocator is a leak (memory something
 * still holds), growth under some only is the allocator's fragmentation (freed memory it cannot
 * give back or reuse). The verdict is pure (analyseRss); the soak is images/run/rsssoak.py.
 */
import { join } from 'node:path';
import { allocatorSetup, ALLOCATORS } from '../catalogue/allocators.js';
import { helper, OUT_MOUNT } from '../container/layout.js';
import { ExitCode, PydbgError, usageError } from '../errors.js';
import { partialReason, type Analysis } from './analysis.js';
import { CALL_PROGRAM, leakTarget } from './leaks.js';
import type { Finding } from './types.js';

/** One allocator's soak, as rsssoak.py writes it. */
export interface RssSoak {
  allocator: string;
  library: string | null;
  preloaded: boolean;
  warmup: number;
  /** every round, the warm-up ones first */
  rounds: Array<{ rss: number | null; objects: number; refs: number | null; blocks: number | null }>;
  error: string | null;
  exitCode?: number;
  seconds: number;
}

export interface RssRun {
  target: string;
  rounds: number;
  warmup: number;
  iterations: number;
  allocators: RssSoak[];
}

/** Growth is real when the fitted slope is at least this many bytes per round (16 pages) and steady. */
export const RSS_MIN_SLOPE = 64 * 1024;
/** A flat allocator grows by less than this share of the slowest growing one (else: inconclusive). */
export const FLAT_SHARE = 0.25;

export interface AllocatorTrend {
  allocator: string;
  /** RSS (bytes) after the first and the last counted round */
  start: number;
  end: number;
  /** least-squares slope over the counted rounds, bytes per round */
  slope: number;
  /** live gc objects per round (slope), and total refcount per round on debug builds */
  objectsSlope: number;
  refsSlope: number | null;
  grows: boolean;
  seconds: number;
}

export type RssVerdict = 'flat' | 'leak' | 'fragmentation' | 'growth' | 'inconclusive';

/** Least-squares slope of ys against 0..n-1. */
export function slopeOf(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/** Pure: the trend of one allocator's counted rounds. */
export function trendOf(s: RssSoak): AllocatorTrend | undefined {
  const counted = s.rounds.slice(s.warmup).filter((r) => r.rss !== null);
  if (counted.length < 2) return undefined;
  const rss = counted.map((r) => r.rss!);
  const slope = slopeOf(rss);
  const steps = rss.slice(1).map((v, i) => v - rss[i]!);
  // steady: the net growth carries most of the fitted slope, and RSS rose in at least half the rounds
  const steady = rss[rss.length - 1]! - rss[0]! >= 0.5 * slope * (rss.length - 1) && steps.filter((d) => d > 0).length * 2 >= steps.length;
  const refs = counted.map((r) => r.refs);
  return {
    allocator: s.allocator,
    start: rss[0]!,
    end: rss[rss.length - 1]!,
    slope,
    objectsSlope: slopeOf(counted.map((r) => r.objects)),
    refsSlope: refs.every((r) => r !== null) ? slopeOf(refs as number[]) : null,
    grows: slope >= RSS_MIN_SLOPE && steady,
    seconds: s.seconds,
  };
}

export const mib = (b: number) => `${(b / 1048576).toFixed(Math.abs(b) >= 10 * 1048576 ? 1 : 2)} MiB`;
const signed = (b: number) => `${b >= 0 || mib(Math.abs(b)) === mib(0) ? '+' : '−'}${mib(Math.abs(b))}`;
const perRound = (t: AllocatorTrend) => `${t.allocator} ${signed(t.slope)}/round`;
const list = (xs: string[]) => (xs.length <= 2 ? xs.join(' and ') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** Pure: the verdict over the allocators' trends, and the finding it makes (none when flat). */
export function analyseRss(run: RssRun, repro: string | null): { verdict: RssVerdict; trends: AllocatorTrend[]; findings: Finding[] } {
  const trends = run.allocators.map(trendOf).filter((t): t is AllocatorTrend => t !== undefined);
  const growing = trends.filter((t) => t.grows);
  const flat = trends.filter((t) => !t.grows);
  const frame = { function: run.target, file: repro, line: null, object: null, inUserCode: true };
  const finding = (kind: string, message: string, severity: Finding['severity'], related: string[]): Finding => ({
    analysis: 'rss', kind, message, severity, userFrame: frame, frames: [frame], count: 1,
    related: related.map((message) => ({ message, frames: [] })),
    data: Object.fromEntries(trends.map((t) => [`${t.allocator}BytesPerRound`, Math.round(t.slope)])),
  });
  const live = (ts: AllocatorTrend[]) => {
    const objs = Math.max(...ts.map((t) => t.objectsSlope));
    const refs = ts.every((t) => t.refsSlope !== null) ? Math.max(...ts.map((t) => t.refsSlope!)) : null;
    return `live gc objects ${objs >= 0.5 ? `+${Math.round(objs)}` : 'steady'} per round${refs !== null ? `, total refcount ${refs >= 0.5 ? `+${Math.round(refs)}` : 'steady'}` : ''}`;
  };
  if (trends.length === 0) return { verdict: 'inconclusive', trends, findings: [] }; // nothing measured: the report is partial
  // live objects (or references) growing under every allocator: a leak, whatever RSS says
  const liveGrows = trends.every((t) => t.objectsSlope >= 0.5 || (t.refsSlope ?? 0) >= 0.5);
  if (growing.length === 0) {
    if (!liveGrows) return { verdict: 'flat', trends, findings: [] };
    return {
      verdict: 'inconclusive', trends,
      findings: [finding('RSSGrowth', `RSS stays flat, but ${live(trends)} under every allocator: a leak too small for RSS to show yet; 'pydbg check leaks ${run.target}' names it`, 'warning', [])],
    };
  }
  if (flat.length === 0) {
    if (trends.length === 1) {
      const t = trends[0]!;
      return {
        verdict: 'growth', trends,
        findings: [finding('RSSGrowth', `RSS grows by ${mib(t.slope)} per round under ${t.allocator} (${live(trends)}): run it under several allocators to tell a leak from fragmentation`, 'error', [`pydbg check rss --malloc ${ALLOCATORS.join(',')} ${run.target}`])],
      };
    }
    return {
      verdict: 'leak', trends,
      findings: [finding('RSSLeak', `RSS grows under every allocator${trends.length < run.allocators.length ? ' measured' : ''} (${trends.map(perRound).join(', ')}): a leak, not fragmentation; ${live(trends)}`, 'error', [
        `memory something still holds: 'pydbg check leaks ${run.target}' names leaking Python objects, 'pydbg check memcheck ${run.target}' C blocks never freed`,
      ])],
    };
  }
  const slowest = Math.min(...growing.map((t) => t.slope));
  const clearlyFlat = flat.every((t) => t.slope < FLAT_SHARE * slowest);
  if (!clearlyFlat) {
    return {
      verdict: 'inconclusive', trends,
      findings: [finding('RSSGrowth', `RSS grows under ${growing.map(perRound).join(', ')}, and less under ${flat.map(perRound).join(', ')}: not clear enough to call; more rounds (--rounds) or iterations per round (--iterations) will tell`, 'warning', [])],
    };
  }
  if (liveGrows) {
    return {
      verdict: 'inconclusive', trends,
      findings: [finding('RSSGrowth', `RSS grows under ${list(growing.map(perRound))} but stays flat under ${list(flat.map(perRound))}, while ${live(trends)} under every allocator: fragmentation and a leak? 'pydbg check leaks ${run.target}' names what stays alive`, 'warning', [])],
    };
  }
  const better = flat.find((t) => t.allocator !== 'glibc');
  return {
    verdict: 'fragmentation', trends,
    findings: [finding('Fragmentation', `RSS grows under ${list(growing.map(perRound))} but stays flat under ${list(flat.map(perRound))}: fragmentation in ${list(growing.map((t) => t.allocator))}'s malloc, not a leak (${live(trends)})`, 'warning', [
      `the memory is freed but the allocator cannot reuse or return it${better ? `; run with 'pydbg run --malloc ${better.allocator}' (LD_PRELOAD of Debian's library)` : ''}, or change the allocation pattern`,
    ])],
  };
}

/** RSS after each round, one line per allocator, warm-up rounds shaded: an SVG a browser opens. */
export function rssSvg(run: RssRun, title: string): string {
  const W = 800;
  const H = 380;
  const pad = { l: 80, r: 130, t: 40, b: 50 };
  const colours = ['#2060c0', '#c04020', '#20a040', '#8040c0', '#c08020'];
  const n = Math.max(2, ...run.allocators.map((a) => a.rounds.length));
  const all = run.allocators.flatMap((a) => a.rounds.map((r) => r.rss).filter((b): b is number => b !== null));
  const lo = Math.min(...all, Infinity) === Infinity ? 0 : Math.min(...all);
  const hi = Math.max(lo + 1048576, ...all);
  const x = (i: number) => pad.l + ((W - pad.l - pad.r) * i) / (n - 1);
  const y = (b: number) => H - pad.b - ((H - pad.t - pad.b) * (b - lo)) / (hi - lo);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const warm = Math.max(0, ...run.allocators.map((a) => a.warmup));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const b = lo + (hi - lo) * f;
    return `<text x="${pad.l - 8}" y="${(y(b) + 4).toFixed(1)}" text-anchor="end" font-size="11">${mib(b)}</text><line x1="${pad.l}" x2="${W - pad.r}" y1="${y(b).toFixed(1)}" y2="${y(b).toFixed(1)}" stroke="#ddd"/>`;
  }).join('');
  const lines = run.allocators.map((a, k) => {
    const c = colours[k % colours.length]!;
    const pts = a.rounds.map((r, i) => (r.rss === null ? null : `${x(i).toFixed(1)},${y(r.rss).toFixed(1)}`)).filter(Boolean);
    const last = a.rounds[a.rounds.length - 1];
    const label = last?.rss != null ? `<text x="${W - pad.r + 6}" y="${(y(last.rss) + 4).toFixed(1)}" font-size="12" fill="${c}">${esc(a.allocator)}</text>` : '';
    return pts.length ? `<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-width="2"/>${label}` : '';
  }).join('\n');
  const shade = warm > 0 ? `<rect x="${pad.l}" y="${pad.t}" width="${(x(Math.min(warm, n - 1)) - pad.l).toFixed(1)}" height="${H - pad.t - pad.b}" fill="#f3f3f3"/><text x="${pad.l + 4}" y="${pad.t + 14}" font-size="11" fill="#888">warm-up</text>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>
${shade}
${ticks}
${lines}
<text x="${(pad.l + W - pad.r) / 2}" y="${H - 12}" text-anchor="middle" font-size="11">round (${run.iterations} iteration${run.iterations === 1 ? '' : 's'} each)</text>
</svg>
`;
}

const OUTPUT = 'rss.json';
const SVG = 'rss.svg';

export const rss: Analysis = {
  name: 'rss',
  tool: 'RSS per round under each C allocator (LD_PRELOAD)',
  summary: 'leak or fragmentation? RSS growth per round of a soak under glibc, jemalloc and tcmalloc, side by side, and an SVG',
  helpUri: 'https://man7.org/linux/man-pages/man3/mallopt.3.html',
  // every object is a plain malloc block there: the C allocator governs the whole heap
  defaultVariant: 'nopymalloc',
  unavailable(plan) {
    if (plan.spec.expected.asan) {
      return {
        message: 'AddressSanitizer replaces malloc with its own (and refuses a preloaded one): there is no C allocator to compare on the asan build',
        hint: `use --variant nopymalloc --python ${plan.version.text}`,
      };
    }
    if (plan.spec.expected.gil_disabled) {
      return {
        message: 'the free-threaded build allocates its objects with its own mimalloc, whatever C allocator is preloaded: the comparison would not mean anything',
        hint: `use --variant nopymalloc --python ${plan.version.text}`,
      };
    }
    return undefined;
  },
  command({ plan, repro, options }) {
    const [target, ...args] = repro;
    if (target === undefined) throw usageError('rss needs a soak: a script, or module:function', 'e.g. pydbg check rss soak.py, or pydbg check rss server:handle --iterations 1000');
    const t = leakTarget(target);
    const rounds = options.rounds ?? 20;
    if (rounds < 3) throw usageError(`rss needs at least 3 counted rounds to see a trend, not ${rounds}`, 'e.g. --rounds 20');
    const mallocs = options.mallocs ?? [...ALLOCATORS];
    const specs = mallocs.map((m) => {
      const lib = allocatorSetup(m, plan.arch).env.LD_PRELOAD;
      return lib ? `${m}=${lib}` : m;
    });
    const iterations = options.iterations ?? 1;
    const notes = plan.spec.expected.with_pymalloc
      ? [`${plan.spec.variants.join(',')} allocates small objects with pymalloc, whatever C allocator is preloaded: only larger blocks reach it (--variant nopymalloc puts every object there)`]
      : [];
    return {
      argv: ['python', helper('rsssoak.py'), `${OUT_MOUNT}/${OUTPUT}`, String(rounds), String(options.warmup ?? 3), String(iterations), specs.join(','), target, ...args],
      env: {},
      crashArgv: t.kind === 'script' ? ['python', t.path, ...args] : ['python', '-c', CALL_PROGRAM, t.module, t.fn],
      notes,
      outputs: [/^rss\.json$/],
      packages: mallocs.flatMap((m) => allocatorSetup(m, plan.arch).packages),
    };
  },
  parse(files, { outDir, run, repro, plan }) {
    let data: RssRun | undefined;
    try {
      data = JSON.parse(files.get(OUTPUT) ?? '') as RssRun;
    } catch {
      data = undefined;
    }
    if (!data || !Array.isArray(data.allocators)) {
      throw new PydbgError(ExitCode.TOOL_FAILED, `the soak produced no measurements (it exited with ${run.exitCode} before the first round)`, { hint: 'run it with pydbg run first' });
    }
    const { verdict, trends, findings } = analyseRss(data, repro[0]!.endsWith('.py') ? repro[0]! : null);
    const failed = data.allocators.filter((a) => a.error);
    const reason = failed.length ? failed.map((a) => `under ${a.allocator}: ${a.error}`).join('; ') : partialReason(run);
    const svg = join(outDir, SVG);
    const row = (cells: string[]) => `  ${cells[0]!.padEnd(10)}${cells.slice(1).map((c) => c.padStart(13)).join('')}`;
    const text = [
      `  RSS after each of ${data.rounds} rounds of ${data.iterations} iteration${data.iterations === 1 ? '' : 's'} (after ${data.warmup} warm-up rounds):`,
      row(['allocator', 'first', 'last', 'per round', 'objects/rnd']),
      ...trends.map((t) => row([t.allocator, mib(t.start), mib(t.end), signed(t.slope), `${t.objectsSlope >= 0 ? '+' : ''}${t.objectsSlope.toFixed(1)}`])),
      ...failed.map((a) => `  ${a.allocator}: ${a.error}`),
      `  verdict: ${VERDICT_TEXT[verdict]}`,
      `  picture: ${svg}`,
    ].join('\n');
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: findings,
      interpreterFindings: [],
      rawFiles: [join(outDir, OUTPUT), svg],
      summary: { verdict, rounds: data.rounds, warmup: data.warmup, iterations: data.iterations, allocators: trends },
      summaryText: text,
      artefacts: [{ name: SVG, content: rssSvg(data, `RSS of ${repro.join(' ')} per round, CPython ${plan.version.text} ${plan.spec.variants.join(',')}`) }],
    };
  },
};

const VERDICT_TEXT: Record<RssVerdict, string> = {
  flat: 'flat under every allocator: no growth to explain',
  leak: 'a leak: RSS grows whichever allocator serves it',
  fragmentation: 'fragmentation: RSS grows only under some allocators, so the memory is freed but not reusable there',
  growth: 'RSS grows; one allocator alone cannot tell a leak from fragmentation',
  inconclusive: 'inconclusive: no measurements, or RSS and the live objects disagree, or the allocators differ but not clearly',
};
