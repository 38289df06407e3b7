import { join } from 'node:path';
import { OUT_MOUNT } from '../container/layout.js';
import { ExitCode, PydbgError } from '../errors.js';
import { toProjectPath } from '../exec/crash.js';
import type { RunResult } from '../exec/types.js';
import { lookHint, matching, partialReason, reproArgv, type Analysis } from './analysis.js';
import { valgrindEnv, valgrindUnusable } from './memcheck.js';
import { frameText, type Frame } from './types.js';

/** CPython's allocator wrappers: attribute heap to whoever called them, not to them. */
const PY_ALLOC_FNS = [
  'PyMem_RawMalloc', 'PyMem_RawCalloc', 'PyMem_RawRealloc', '_PyMem_RawMalloc', '_PyMem_RawCalloc', '_PyMem_RawRealloc',
  'PyMem_Malloc', 'PyMem_Calloc', 'PyMem_Realloc', '_PyMem_DebugRawAlloc', '_PyMem_DebugRawMalloc', '_PyMem_DebugRawCalloc',
  '_PyMem_DebugRawRealloc', '_PyMem_DebugMalloc', '_PyMem_DebugCalloc', '_PyMem_DebugRealloc',
  'PyObject_Malloc', 'PyObject_Calloc', 'PyObject_Realloc', '_PyObject_Malloc', '_PyObject_Calloc', '_PyObject_Realloc',
];

export function massifArgs(outDir: string): string[] {
  return ['valgrind', '--tool=massif', `--massif-out-file=${outDir}/massif.%p.out`, '--depth=40', '--threshold=0.5', ...PY_ALLOC_FNS.map((f) => `--alloc-fn=${f}`)];
}

export interface MassifSnapshot {
  index: number;
  time: number;
  heap: number;
  extra: number;
  stacks: number;
  tree: 'empty' | 'detailed' | 'peak';
}

export interface MassifSite {
  bytes: number;
  /** the allocation site itself */
  frame: Frame;
  /** the first frame in the user's code on the path to it, if any */
  userFrame: Frame | null;
}

export interface MassifProfile {
  timeUnit: string;
  snapshots: MassifSnapshot[];
  peak: MassifSnapshot | null;
  sites: MassifSite[];
}

interface Node {
  bytes: number;
  frame: Frame | null;
  children: Node[];
}

const LINE = /^(\s*)n(\d+): (\d+) (.*)$/;

function parseFrame(desc: string): Frame | null {
  // "0x4849AB: leaky_function (leak.c:7)" or "0x...: fn (in /lib/x.so)" or "in 5 places, all below…"
  const m = /^0x[0-9A-Fa-f]+: (.+?) \((.+?)(?::(\d+))?\)$/.exec(desc);
  if (!m) return null;
  const where = m[2]!;
  if (where.startsWith('in ')) return { function: m[1]!, file: null, line: null, object: where.slice(3), inUserCode: toProjectPath(where.slice(3)).user };
  const mapped = toProjectPath(where);
  return { function: m[1]!, file: mapped.file, line: m[3] ? Number(m[3]) : null, object: null, inUserCode: mapped.user };
}

/** Parse massif's out file: snapshots, the peak, and the top allocation sites at the peak. */
export function parseMassif(text: string): MassifProfile {
  const lines = text.split('\n');
  const timeUnit = /^time_unit: (\S+)/m.exec(text)?.[1] ?? 'i';
  const snapshots: MassifSnapshot[] = [];
  let peakTree: Node | undefined;
  let i = 0;
  while (i < lines.length) {
    const s = /^snapshot=(\d+)$/.exec(lines[i]!);
    if (!s) {
      i += 1;
      continue;
    }
    const snap: MassifSnapshot = { index: Number(s[1]), time: 0, heap: 0, extra: 0, stacks: 0, tree: 'empty' };
    i += 1;
    if (lines[i]?.startsWith('#---')) i += 1; // the separator under "snapshot=N"
    for (; i < lines.length && !lines[i]!.startsWith('#---') && !lines[i]!.startsWith('snapshot='); i += 1) {
      const [k, v] = lines[i]!.split('=');
      if (k === 'time') snap.time = Number(v);
      else if (k === 'mem_heap_B') snap.heap = Number(v);
      else if (k === 'mem_heap_extra_B') snap.extra = Number(v);
      else if (k === 'mem_stacks_B') snap.stacks = Number(v);
      else if (k === 'heap_tree') {
        snap.tree = v as MassifSnapshot['tree'];
        i += 1;
        if (snap.tree === 'empty') break;
        const [tree, next] = parseTree(lines, i);
        if (snap.tree === 'peak') peakTree = tree;
        i = next;
        break;
      }
    }
    snapshots.push(snap);
  }
  const peak = snapshots.find((s) => s.tree === 'peak') ?? snapshots.reduce<MassifSnapshot | null>((a, b) => (!a || b.heap > a.heap ? b : a), null);
  const sites: MassifSite[] = [];
  for (const child of peakTree?.children ?? []) {
    if (!child.frame) continue;
    sites.push({ bytes: child.bytes, frame: child.frame, userFrame: firstUser(child) });
  }
  sites.sort((a, b) => b.bytes - a.bytes);
  return { timeUnit, snapshots, peak, sites };
}

function parseTree(lines: string[], start: number): [Node, number] {
  const stack: Array<{ node: Node; depth: number; remaining: number }> = [];
  let root: Node | undefined;
  let i = start;
  for (; i < lines.length; i += 1) {
    const m = LINE.exec(lines[i]!);
    if (!m) break;
    const depth = m[1]!.length;
    const node: Node = { bytes: Number(m[3]), frame: parseFrame(m[4]!), children: [] };
    while (stack.length && stack[stack.length - 1]!.depth >= depth) stack.pop();
    if (stack.length) stack[stack.length - 1]!.node.children.push(node);
    else root = node;
    stack.push({ node, depth, remaining: Number(m[2]) });
  }
  return [root ?? { bytes: 0, frame: null, children: [] }, i];
}

function firstUser(n: Node): Frame | null {
  if (n.frame?.inUserCode) return n.frame;
  // the biggest path first
  for (const c of [...n.children].sort((a, b) => b.bytes - a.bytes)) {
    const f = firstUser(c);
    if (f) return f;
  }
  return null;
}

/** Heap over time as an SVG a browser opens: useful heap and allocator overhead, peak marked. */
export function massifSvg(p: MassifProfile, title: string): string {
  const W = 800;
  const H = 360;
  const pad = { l: 80, r: 20, t: 40, b: 50 };
  const snaps = p.snapshots;
  const maxT = Math.max(1, ...snaps.map((s) => s.time));
  const maxB = Math.max(1, ...snaps.map((s) => s.heap + s.extra));
  const x = (t: number) => pad.l + ((W - pad.l - pad.r) * t) / maxT;
  const y = (b: number) => H - pad.b - ((H - pad.t - pad.b) * b) / maxB;
  const path = (f: (s: MassifSnapshot) => number) => snaps.map((s, i) => `${i ? 'L' : 'M'}${x(s.time).toFixed(1)},${y(f(s)).toFixed(1)}`).join(' ');
  const mb = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${pad.l - 8}" y="${y(maxB * f) + 4}" text-anchor="end" font-size="11">${mb(maxB * f)}</text><line x1="${pad.l}" x2="${W - pad.r}" y1="${y(maxB * f)}" y2="${y(maxB * f)}" stroke="#ddd"/>`).join('');
  const peak = p.peak ? `<circle cx="${x(p.peak.time)}" cy="${y(p.peak.heap)}" r="4" fill="#c00"/><text x="${x(p.peak.time)}" y="${y(p.peak.heap) - 8}" font-size="12" fill="#c00" text-anchor="middle">peak ${mb(p.peak.heap)}</text>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>
${ticks}
<path d="${path((s) => s.heap + s.extra)}" fill="none" stroke="#f0a030" stroke-width="1.5"/>
<path d="${path((s) => s.heap)}" fill="none" stroke="#2060c0" stroke-width="2"/>
${peak}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="11">time (${esc(p.timeUnit === 'i' ? 'instructions' : p.timeUnit)})</text>
<text x="${pad.l + 10}" y="${pad.t + 4}" font-size="11" fill="#2060c0">useful heap</text>
<text x="${pad.l + 100}" y="${pad.t + 4}" font-size="11" fill="#f0a030">+ allocator overhead</text>
</svg>
`;
}

const OUTPUTS = /^massif\.\d+\.out$/;
const SVG = 'massif.svg';

/** The repro as it ran under valgrind (its options and valgrind itself left out). */
function reproTitle(run: RunResult): string {
  return run.command.filter((a) => !a.startsWith('--') && a !== 'valgrind').join(' ');
}

export const massif: Analysis = {
  name: 'massif',
  tool: 'valgrind massif',
  summary: 'Valgrind Massif heap profile: the peak, the top allocation sites at the peak, and an SVG',
  helpUri: 'https://valgrind.org/docs/manual/ms-manual.html',
  defaultVariant: 'nopymalloc',
  unavailable: valgrindUnusable,
  command({ plan, repro }) {
    const { env, notes } = valgrindEnv(plan);
    const argv = reproArgv(repro);
    return { argv: [...massifArgs(OUT_MOUNT), ...argv], env, crashArgv: argv, notes, outputs: [OUTPUTS] };
  },
  parse(files, { outDir, run, plan }) {
    const names = matching(files, OUTPUTS);
    if (names.length === 0) throw new PydbgError(ExitCode.TOOL_FAILED, 'massif wrote no profile: valgrind did not start, or crashed at once', { hint: lookHint(files, outDir) });
    // the first process is the repro itself
    const profile = parseMassif(files.get(names[0]!)!);
    const svg = join(outDir, SVG);
    const mib = (b: number) => `${(b / (1 << 20)).toFixed(2)} MiB`;
    const top = profile.sites.slice(0, 10);
    const text = [
      `  peak heap: ${profile.peak ? `${mib(profile.peak.heap)} (+${mib(profile.peak.extra)} allocator overhead) at snapshot ${profile.peak.index}` : 'none'}`,
      '  top allocation sites at the peak:',
      ...top.map((s) => `  ${mib(s.bytes).padStart(11)}  ${frameText(s.frame)}${s.userFrame && s.userFrame !== s.frame ? `  <- ${frameText(s.userFrame)}` : ''}${s.frame.inUserCode ? '  <- your code' : ''}`),
      `  picture: ${svg}`,
    ].join('\n');
    const reason = partialReason(run);
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: [],
      interpreterFindings: [],
      rawFiles: [...names.map((f) => join(outDir, f)), svg],
      summary: { peak: profile.peak, timeUnit: profile.timeUnit, snapshots: profile.snapshots.length, topSites: top },
      summaryText: text,
      artefacts: [{ name: SVG, content: massifSvg(profile, `heap of ${reproTitle(run)} on CPython ${plan.version.text} ${plan.spec.variants.join(',')}`) }],
    };
  },
};
