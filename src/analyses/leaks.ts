import type { Finding } from './types.js';

/** What leakhunt.py writes. */
export interface LeakRun {
  target: string;
  iterations: number;
  warmup: number;
  rounds: Array<{ refs?: number; blocks?: number; traced_blocks?: number; traced_bytes?: number; rss?: number; types: Record<string, number> }>;
  error: string | null;
  has_refs: boolean;
  has_blocks: boolean;
  has_tracemalloc: boolean;
  type_source?: 'gc' | 'getobjects' | 'getcounts';
}

/** A metric leaks only when every counted round grows by at least `min` per iteration (regrtest -R style). */
export const THRESHOLDS = { refs: 0.5, blocks: 0.5, traced_blocks: 0.5, type: 0.5, rssBytes: 256 } as const;

export interface LeakSummary {
  perIteration: Record<string, number[]>;
  typeSource: string | undefined;
  rounds: number;
  iterations: number;
}

function perIter(values: Array<number | undefined>, n: number): number[] | undefined {
  if (values.some((v) => v === undefined)) return undefined;
  return (values as number[]).map((v) => v / n);
}

const steady = (xs: number[] | undefined, min: number) => Boolean(xs && xs.length > 0 && xs.every((x) => x >= min));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (x: number) => (Math.abs(x - Math.round(x)) < 0.05 ? String(Math.round(x)) : x.toFixed(2));

/** Pure: turn the measured rounds into findings. The clean case returns none. */
/** `repro`: the script's project path, or null for a module:function target (no file to point at). */
export function analyseLeaks(run: LeakRun, repro: string | null): { findings: Finding[]; summary: LeakSummary } {
  const n = run.iterations;
  const per: Record<string, number[]> = {};
  for (const key of ['refs', 'blocks', 'traced_blocks', 'traced_bytes', 'rss'] as const) {
    const xs = perIter(run.rounds.map((r) => r[key]), n);
    if (xs) per[key] = xs;
  }
  const frame = { function: run.target, file: repro, line: null, object: null, inUserCode: true };
  const finding = (kind: string, message: string, severity: Finding['severity'], data: Record<string, number | string>): Finding => ({
    analysis: 'leaks', kind, message, severity, userFrame: frame, frames: [frame], related: [], count: 1, data,
  });
  const unit = run.target.includes(':') ? 'call' : 'run';
  const findings: Finding[] = [];

  // per type: "leaks 1 list per call"
  const typeNames = new Set(run.rounds.flatMap((r) => Object.keys(r.types)));
  const typeLeaks: Array<[string, number]> = [];
  for (const t of typeNames) {
    const xs = run.rounds.map((r) => (r.types[t] ?? 0) / n);
    per[`type:${t}`] = xs;
    if (steady(xs, THRESHOLDS.type)) typeLeaks.push([t, mean(xs)]);
  }
  typeLeaks.sort((a, b) => b[1] - a[1]);
  for (const [t, m] of typeLeaks) {
    findings.push(finding('TypeLeak', `leaks ${fmt(m)} ${t} per ${unit}`, 'error', { type: t, perIteration: +m.toFixed(3) }));
  }
  if (steady(per.refs, THRESHOLDS.refs)) {
    findings.push(finding('RefLeak', `total refcount grows by ${fmt(mean(per.refs!))} per ${unit}`, 'error', { perIteration: +mean(per.refs!).toFixed(3) }));
  }
  const blocks = per.blocks && run.has_blocks && per.blocks.some((x) => x !== 0) ? ['blocks', per.blocks] as const : per.traced_blocks ? ['traced_blocks', per.traced_blocks] as const : undefined;
  if (blocks && steady(blocks[1], THRESHOLDS.blocks)) {
    const bytes = per.traced_bytes && steady(per.traced_bytes, 1) ? `, ${fmt(mean(per.traced_bytes))} bytes` : '';
    findings.push(finding('BlockLeak', `allocated memory blocks grow by ${fmt(mean(blocks[1]))} per ${unit}${bytes}`, 'error', { perIteration: +mean(blocks[1]).toFixed(3), source: blocks[0] }));
  }
  const pythonSeesIt = findings.length > 0;
  if (steady(per.rss, THRESHOLDS.rssBytes)) {
    const m = mean(per.rss!);
    findings.push(
      finding(
        'RSSGrowth',
        `process memory (RSS) grows by ${m >= 1024 ? `${(m / 1024).toFixed(1)} KiB` : `${Math.round(m)} bytes`} per ${unit}${pythonSeesIt ? '' : ": not from Python's allocators (a C malloc leak? run 'pydbg check memcheck')"}`,
        pythonSeesIt ? 'warning' : 'error',
        { perIterationBytes: Math.round(m) },
      ),
    );
  }
  return { findings, summary: { perIteration: per, typeSource: run.type_source, rounds: run.rounds.length, iterations: n } };
}
