/**
 * `pydbg env gc [--older-than 7d] [--dry-run] [--json]`: free space (provision/gc.ts decides what
 * goes); this prints one line per item and how much was freed.
 */
import { applyGc, planGc, type GcItem } from '../../provision/gc.js';
import { reportsDir } from '../../paths.js';
import { writeJson, type CommandResult, type Deps } from '../deps.js';

export interface GcOpts {
  /** seconds (the table parses --older-than; default 7 days) */
  olderThan?: number;
  dryRun?: boolean;
  json?: boolean;
}

export async function gc(o: GcOpts, deps: Pick<Deps, 'engine' | 'stdout'> & { reportsDir?: string; now?: Date }): Promise<CommandResult> {
  const engine = deps.engine();
  await engine.ping();
  const olderThan = o.olderThan ?? 7 * 86400;
  const items = await planGc(engine, { reportsDir: deps.reportsDir ?? reportsDir(), olderThanSeconds: olderThan, now: deps.now });
  const outcome = o.dryRun ? { removed: items, kept: [] } : await applyGc(engine, items);
  const freed = outcome.removed.reduce((n, i) => n + i.bytes, 0);
  const data = { dryRun: Boolean(o.dryRun), removed: outcome.removed, kept: outcome.kept, freedBytes: freed };
  if (o.json) {
    writeJson(deps.stdout, data);
    return { exitCode: 0, data };
  }
  if (items.length === 0) {
    deps.stdout.write(`nothing to remove: no superseded extension or project-package images, no build stages left behind, no reports older than ${fmtAge(olderThan)}\n`);
    return { exitCode: 0, data };
  }
  const verb = o.dryRun ? 'would remove' : 'removed';
  const rows = outcome.removed.map((i) => [verb, label(i), i.reason, `~${fmtBytes(i.bytes)}`]);
  for (const k of outcome.kept) rows.push(['kept', label(k.item), k.why, '']);
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) deps.stdout.write(`${r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell)).join('  ').trimEnd()}\n`);
  const images = outcome.removed.filter((i) => i.what !== 'report').length;
  const reports = outcome.removed.length - images;
  deps.stdout.write(`${o.dryRun ? 'would free' : 'freed'} about ${fmtBytes(freed)} (${images} image${images === 1 ? '' : 's'}, ${reports} report${reports === 1 ? '' : 's'})${o.dryRun ? "; run without --dry-run to remove them" : ''}\n`);
  return { exitCode: 0, data };
}

function label(i: GcItem): string {
  return i.what === 'report' ? `report ${i.name}` : i.name;
}

export function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function fmtAge(s: number): string {
  return s % 86400 === 0 ? `${s / 86400} d` : s % 3600 === 0 ? `${s / 3600} h` : `${Math.round(s / 60)} min`;
}
