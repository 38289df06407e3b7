/**
 * `pydbg heap NAME`: a census of a live program's heap over time, the way one does it by hand with
 * pyrasite + guppy/objgraph: inject (gdb: PyGILState_Ensure, PyRun_SimpleString) a census of live
 * objects per type every --interval seconds, name the types that grew in every interval, then ask
 * the process who holds a few recent objects of the fastest-growing type (the referrer chain up to
 * a module, class or running frame). The census code is images/run/pydbg_heap.py; the analysis and
 * the report are pure.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../engine/engine.js';
import { ExitCode, PydbgError } from '../errors.js';
import { helperCode, liveInject } from './live.js';

export interface Census {
  /** 'gc': the objects the gc tracks; 'getobjects': every object (trace-refs builds) */
  source: 'gc' | 'getobjects';
  types: Record<string, number>;
  refs: number | null;
  blocks: number | null;
  rssKb: number | null;
  garbage: number;
  /** tracemalloc's top lines by size, when the program traces */
  tracemalloc?: Array<{ file: string; line: number; size: number; count: number }>;
  /** seconds since the first sample */
  at: number;
}

export interface ChainNode {
  type: string;
  repr: string;
  file?: string;
  /** how this node refers to the next one: '.attr', '[key]', '[3]', 'local x' */
  link?: string;
}

export interface Holders {
  type: string;
  chains: Array<{
    object: ChainNode;
    chain: ChainNode[] | null;
    /** without a chain: how many objects the gc sees referring to it */
    referrers?: number;
    /** without a chain: references no referrer accounts for */
    unexplainedRefs?: number;
    /** 'leaked reference': nothing refers to it, yet its refcount says something does */
    verdict?: 'leaked reference' | 'no root';
  }>;
}

export interface Growth {
  type: string;
  counts: number[];
  /** mean growth per interval */
  perInterval: number;
  /** from the first to the last sample, by the clock */
  perMinute: number | null;
}

export interface HeapReport {
  name: string;
  pid: number;
  intervalSeconds: number;
  samples: Census[];
  /** types whose count grew in every interval, fastest first */
  growing: Growth[];
  /** per interval, when it grew in every interval */
  refsPerInterval: number | null;
  blocksPerInterval: number | null;
  rssKbPerInterval: number | null;
  holders: Holders | null;
}

/** The code injected: pydbg's own file, run with its arguments. */
export const heapCode = (args: Array<string | number>): string => helperCode('pydbg_heap.py', { PYDBG_HEAP_ARGS: args });

/** The PYDBG-HEAP line of the injected code's output. */
export function parseHeapOutput<T>(output: string): T | null {
  const line = output.split('\n').find((l) => l.startsWith('PYDBG-HEAP '));
  if (!line) return null;
  try {
    return JSON.parse(line.slice('PYDBG-HEAP '.length)) as T;
  } catch {
    return null;
  }
}

const steadyUp = (xs: number[]) => xs.length > 0 && xs.every((x) => x > 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const diffs = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]!);

/**
 * The growing type whose holders to trace: the fastest, unless a class of the program's own (a
 * dotted name: module.Class) grows within 10 % of it — a Job and its bound method grow together,
 * and the Job is what the user knows (the method's only holder may be the Job itself).
 */
export function holdersTarget(growing: Growth[]): Growth | undefined {
  const top = growing[0];
  if (!top || top.type.includes('.')) return top;
  return growing.find((g) => g.type.includes('.') && g.perInterval >= 0.9 * top.perInterval) ?? top;
}

/** Pure: the types (and totals) that grew in every interval between samples. */
export function analyseHeap(samples: Census[], top = 10): Pick<HeapReport, 'growing' | 'refsPerInterval' | 'blocksPerInterval' | 'rssKbPerInterval'> {
  const names = new Set(samples.flatMap((s) => Object.keys(s.types)));
  const growing: Growth[] = [];
  for (const type of names) {
    const counts = samples.map((s) => s.types[type] ?? 0);
    const d = diffs(counts);
    const span = samples.at(-1)!.at - samples[0]!.at;
    if (steadyUp(d)) growing.push({ type, counts, perInterval: mean(d), perMinute: span > 0 ? ((counts.at(-1)! - counts[0]!) * 60) / span : null });
  }
  growing.sort((a, b) => b.perInterval - a.perInterval || a.type.localeCompare(b.type));
  const total = (f: (s: Census) => number | null) => {
    const xs = samples.map(f);
    if (xs.some((x) => x === null)) return null;
    const d = diffs(xs as number[]);
    return steadyUp(d) ? mean(d) : null;
  };
  return { growing: growing.slice(0, top), refsPerInterval: total((s) => s.refs), blocksPerInterval: total((s) => s.blocks), rssKbPerInterval: total((s) => s.rssKb) };
}

export interface HeapOptions {
  samples: number;
  intervalSeconds: number;
  top?: number;
  /** how many recent objects of the fastest-growing type to trace back (0: none) */
  holders?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
}

export async function liveHeap(engine: Engine, name: string, o: HeapOptions): Promise<HeapReport> {
  const samples: Census[] = [];
  let pid = 0;
  const t0 = Date.now();
  const inject = async <T>(args: Array<string | number>, what: string): Promise<T> => {
    const r = await liveInject(engine, name, heapCode(args), o.signal);
    pid = r.pid;
    const out = parseHeapOutput<T>(r.output);
    if (r.status !== 0 || !out) {
      throw new PydbgError(ExitCode.TOOL_FAILED, `the ${what} in ${name} (pid ${r.pid}) failed${r.status === 1 ? ' (it raised)' : ''}`, {
        details: r.output.split('\n').filter(Boolean).slice(-15),
        hint: 'the process keeps running; pydbg inject NAME -c CODE runs your own code there',
      });
    }
    return out;
  };
  for (let i = 0; i < o.samples; i++) {
    if (i > 0) await sleep(o.intervalSeconds * 1000, undefined, { signal: o.signal });
    // the first census remembers which objects exist: the referrer search looks at newer ones
    const c = await inject<Omit<Census, 'at'>>(i === 0 && o.samples > 1 && (o.holders ?? 3) > 0 ? ['census', 'remember'] : ['census'], 'heap census');
    samples.push({ ...c, at: Math.round((Date.now() - t0) / 100) / 10 });
    o.log?.(`sample ${i + 1}/${o.samples}: ${Object.values(c.types).reduce((a, b) => a + b, 0)} objects${c.rssKb !== null ? `, RSS ${(c.rssKb / 1024).toFixed(1)} MiB` : ''}`);
  }
  const a = analyseHeap(samples, o.top ?? 10);
  let holders: Holders | null = null;
  const first = holdersTarget(a.growing);
  if (first && (o.holders ?? 3) > 0) {
    o.log?.(`who holds ${first.type}: tracing ${o.holders ?? 3} recent objects back to a module, class or frame`);
    holders = await inject<Holders>(['holders', first.type, o.holders ?? 3], `referrer search for ${first.type}`);
  }
  return { name, pid, intervalSeconds: o.intervalSeconds, samples, ...a, holders };
}

/** Why an object has no referrer chain to a root. */
export function noChain(c: Holders['chains'][number]): string {
  if (c.verdict === 'leaked reference') {
    return `nothing holds it: a leaked reference (its refcount counts ${c.unexplainedRefs} reference${c.unexplainedRefs === 1 ? '' : 's'} no object accounts for, the signature of a C-extension refleak; find the call with pydbg check leaks)`;
  }
  if (c.referrers !== undefined) return `${c.referrers} object${c.referrers === 1 ? ' refers' : 's refer'} to it, but no chain reaches a module, class or frame (a cycle kept alive from C, or a chain longer than 12 links)`;
  return 'no referrer chain to a module, class or frame found';
}

/** `module svc .CACHE → dict of 3 ['k'] → list of 0` (root first). */
export function chainText(chain: ChainNode[]): string {
  return chain.map((n, i) => `${n.repr}${i + 1 < chain.length && n.link ? ` ${n.link}` : ''}`).join(' → ');
}

const kib = (kb: number) => (Math.abs(kb) >= 1024 ? `${(kb / 1024).toFixed(1)} MiB` : `${Math.round(kb)} KiB`);
const signed = (x: number, f: (n: number) => string = (n) => (Math.abs(n - Math.round(n)) < 0.05 ? String(Math.round(n)) : n.toFixed(1))) => `${x >= 0 ? '+' : '-'}${f(Math.abs(x))}`;

export function formatHeap(r: HeapReport): string {
  const s0 = r.samples[0];
  const last = r.samples.at(-1);
  const lines = [
    `pydbg heap ${r.name}: pid ${r.pid}, ${r.samples.length} sample${r.samples.length === 1 ? '' : 's'}${r.samples.length > 1 ? ` ${r.intervalSeconds} s apart` : ''} (${s0?.source === 'getobjects' ? 'every object: trace-refs build' : "objects the gc tracks; str, int and tuples of them show only in the refcount"})`,
  ];
  if (s0 && last) {
    if (last.rssKb !== null && s0.rssKb !== null) lines.push(`  RSS        ${kib(s0.rssKb)} → ${kib(last.rssKb)}${r.rssKbPerInterval !== null ? ` (${signed(r.rssKbPerInterval, (n) => kib(n))} per interval)` : ''}`);
    if (last.refs !== null && s0.refs !== null) lines.push(`  refcount   ${s0.refs} → ${last.refs}${r.refsPerInterval !== null ? ` (${signed(r.refsPerInterval)} per interval)` : ''}`);
    if (last.blocks !== null && s0.blocks !== null) lines.push(`  blocks     ${s0.blocks} → ${last.blocks}${r.blocksPerInterval !== null ? ` (${signed(r.blocksPerInterval)} per interval)` : ''}`);
    lines.push(`  gc.garbage ${last.garbage}${last.garbage ? ' uncollectable objects' : ''}`);
  }
  if (r.samples.length < 2) {
    const top = Object.entries(last?.types ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 15);
    lines.push('', '  most common types:', ...top.map(([t, n]) => `    ${String(n).padStart(9)}  ${t}`));
  } else if (r.growing.length === 0) {
    lines.push('', '  no type grew in every interval');
  } else {
    lines.push('', '  growing in every interval:');
    const rows = [['TYPE', ...r.samples.map((_, i) => `#${i + 1}`), 'PER INTERVAL', 'PER MINUTE'], ...r.growing.map((g) => [g.type, ...g.counts.map(String), signed(g.perInterval), g.perMinute === null ? '-' : signed(g.perMinute)])];
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) lines.push(`    ${row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')}`);
  }
  if (r.holders) {
    lines.push('', `  who holds the growing ${r.holders.type} (${r.holders.chains.length} recent):`);
    for (const c of r.holders.chains) lines.push(`    ${c.chain ? chainText(c.chain) : `${c.object.repr}: ${noChain(c)}`}`);
  }
  const tm = last?.tracemalloc;
  if (tm?.length) {
    lines.push('', '  tracemalloc, top lines by size (last sample):');
    for (const t of tm.slice(0, 5)) lines.push(`    ${kib(t.size / 1024).padStart(10)}  ${String(t.count).padStart(7)} blocks  ${t.file}:${t.line}`);
  }
  return `${lines.join('\n')}\n`;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The referrer chains as an SVG picture: one column per chain, root at the top, links on the arrows. */
export function heapSvg(h: Holders): string {
  const W = 360;
  const BOX = 44;
  const GAP = 46;
  const chains = h.chains.filter((c) => c.chain && c.chain.length);
  const cols = Math.max(1, chains.length);
  const rows = Math.max(1, ...chains.map((c) => c.chain!.length));
  const width = cols * (W + 40) + 40;
  const height = 60 + rows * (BOX + GAP);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="12">`,
    '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    `<text x="20" y="24" font-size="14" font-weight="bold">who holds the growing ${esc(h.type)}</text>`,
  ];
  if (!chains.length) out.push(`<text x="20" y="50">no referrer chain to a module, class or frame found</text>`);
  chains.forEach((c, ci) => {
    const x = 20 + ci * (W + 40);
    c.chain!.forEach((n, i) => {
      const y = 44 + i * (BOX + GAP);
      const leaf = i === c.chain!.length - 1;
      out.push(`<rect x="${x}" y="${y}" width="${W}" height="${BOX}" rx="6" fill="${leaf ? '#fde2e2' : i === 0 ? '#e2ecfd' : '#f4f4f4'}" stroke="#555"/>`);
      out.push(`<text x="${x + 8}" y="${y + 18}">${esc(n.type.length > 48 ? `${n.type.slice(0, 45)}...` : n.type)}</text>`);
      out.push(`<text x="${x + 8}" y="${y + 35}" fill="#333">${esc(n.repr.length > 48 ? `${n.repr.slice(0, 45)}...` : n.repr)}</text>`);
      if (!leaf) {
        const y2 = y + BOX + GAP;
        out.push(`<line x1="${x + W / 2}" y1="${y + BOX}" x2="${x + W / 2}" y2="${y2}" stroke="#555" marker-end="url(#a)"/>`);
        if (n.link) out.push(`<text x="${x + W / 2 + 8}" y="${y + BOX + GAP / 2 + 4}" fill="#a33">${esc(n.link.length > 40 ? `${n.link.slice(0, 37)}...` : n.link)}</text>`);
      }
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
