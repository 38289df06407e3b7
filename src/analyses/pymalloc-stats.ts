/** sys._debugmallocstats() text → a table per size class, plus arena totals. Pure. */
import { join } from 'node:path';
import { helper, OUT_MOUNT } from '../container/layout.js';
import { ExitCode, PydbgError, usageError } from '../errors.js';
import { partialReason, type Analysis } from './analysis.js';

export interface SizeClass {
  cls: number;
  size: number;
  pools: number;
  inUse: number;
  avail: number;
}

export interface MallocStats {
  classes: SizeClass[];
  arenasAllocatedTotal?: number;
  arenasReclaimed?: number;
  arenasHighwater?: number;
  arenasCurrent?: number;
  bytesInAllocatedBlocks?: number;
}

const num = (s: string) => Number(s.replace(/,/g, ''));

export function parseMallocStats(text: string): MallocStats {
  const classes: SizeClass[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (m) classes.push({ cls: num(m[1]!), size: num(m[2]!), pools: num(m[3]!), inUse: num(m[4]!), avail: num(m[5]!) });
  }
  const field = (re: RegExp) => {
    const m = re.exec(text);
    return m ? num(m[1]!) : undefined;
  };
  return {
    classes,
    arenasAllocatedTotal: field(/# arenas allocated total\s*=\s*([\d,]+)/),
    arenasReclaimed: field(/# arenas reclaimed\s*=\s*([\d,]+)/),
    arenasHighwater: field(/# arenas highwater mark\s*=\s*([\d,]+)/),
    arenasCurrent: field(/# arenas allocated current\s*=\s*([\d,]+)/),
    bytesInAllocatedBlocks: field(/# bytes in allocated blocks\s*=\s*([\d,]+)/),
  };
}

export interface MallocStatsDiff {
  rows: Array<{ size: number; before: number; after: number; delta: number; poolsBefore: number; poolsAfter: number }>;
  arenas: { before?: number; after?: number };
  bytesInUse: { before?: number; after?: number };
}

export function diffMallocStats(before: MallocStats, after: MallocStats): MallocStatsDiff {
  const sizes = [...new Set([...before.classes, ...after.classes].map((c) => c.size))].sort((a, b) => a - b);
  const find = (s: MallocStats, size: number) => s.classes.find((c) => c.size === size);
  return {
    rows: sizes.map((size) => {
      const b = find(before, size);
      const a = find(after, size);
      return { size, before: b?.inUse ?? 0, after: a?.inUse ?? 0, delta: (a?.inUse ?? 0) - (b?.inUse ?? 0), poolsBefore: b?.pools ?? 0, poolsAfter: a?.pools ?? 0 };
    }),
    arenas: { before: before.arenasCurrent, after: after.arenasCurrent },
    bytesInUse: { before: before.bytesInAllocatedBlocks, after: after.bytesInAllocatedBlocks },
  };
}

export function mallocStatsTable(d: MallocStatsDiff): string {
  const lines = ['  size  blocks before  blocks after      delta  pools before/after'];
  for (const r of d.rows) {
    lines.push(`  ${String(r.size).padStart(4)}  ${String(r.before).padStart(13)}  ${String(r.after).padStart(12)}  ${(r.delta >= 0 ? `+${r.delta}` : String(r.delta)).padStart(9)}  ${r.poolsBefore}/${r.poolsAfter}`);
  }
  lines.push(`  arenas in use: ${d.arenas.before ?? '?'} → ${d.arenas.after ?? '?'}; bytes in allocated blocks: ${d.bytesInUse.before ?? '?'} → ${d.bytesInUse.after ?? '?'}`);
  return lines.join('\n');
}

const BEFORE = 'mallocstats.before.txt';
const AFTER = 'mallocstats.after.txt';

export const pymallocStats: Analysis = {
  name: 'pymalloc-stats',
  tool: 'sys._debugmallocstats()',
  summary: 'pymalloc blocks in use per size class and arenas, before and after the repro',
  helpUri: 'https://docs.python.org/3/library/sys.html#sys._debugmallocstats',
  defaultVariant: 'debug',
  unavailable(plan) {
    const e = plan.spec.expected;
    if (plan.version.major === 2) return { message: 'sys._debugmallocstats() exists from CPython 3.3; 2.7 only prints PYTHONMALLOCSTATS at exit', hint: 'use --python 3.9 or later' };
    if (!e.with_pymalloc || e.gil_disabled) return { message: `pymalloc is not the allocator in the ${plan.spec.variants.join(',')} build: there are no pymalloc statistics`, hint: `use --variant debug or release --python ${plan.version.text}` };
    return undefined;
  },
  command({ repro }) {
    if (!repro[0]?.endsWith('.py')) throw usageError('pymalloc-stats runs a Python script', 'pydbg check pymalloc-stats repro.py [args]');
    return { argv: ['python', helper('mallocstats.py'), OUT_MOUNT, ...repro], env: {}, crashArgv: ['python', ...repro], notes: [], outputs: [/^mallocstats\.(before|after)\.txt$/] };
  },
  parse(files, { outDir, run }) {
    const before = files.get(BEFORE);
    const after = files.get(AFTER);
    if (!before) throw new PydbgError(ExitCode.TOOL_FAILED, 'no pymalloc statistics were written (the interpreter failed before the repro started)', { hint: "run the repro with 'pydbg run' to see why the interpreter stopped" });
    const diff = diffMallocStats(parseMallocStats(before), parseMallocStats(after ?? ''));
    const reason = !after ? 'the repro died before the second statistics' : partialReason(run);
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: [],
      interpreterFindings: [],
      rawFiles: [join(outDir, BEFORE), ...(after ? [join(outDir, AFTER)] : [])],
      summary: diff as unknown as Record<string, unknown>,
      summaryText: mallocStatsTable(diff),
    };
  },
};
