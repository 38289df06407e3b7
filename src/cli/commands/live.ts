/**
 * Live programs: `pydbg ps`, `stacks`, `inject`, `core`, `stop` on a named run (`pydbg run --name`).
 * The work is in exec/live.ts; these validate, call it and print.
 */
import { homedir } from 'node:os';
import { coreStacks, listLive, liveCore, liveInject, liveStacks, stopLive, type LiveEntry } from '../../exec/live.js';
import { formatStacks } from '../../exec/stacks.js';
import { formatHeap, heapSvg, liveHeap } from '../../exec/heap.js';
import { usageError } from '../../errors.js';
import { resolveIn, writeJson, type CommandResult, type Deps } from '../deps.js';

const tilde = (p: string) => (p.startsWith(`${homedir()}/`) ? `~${p.slice(homedir().length)}` : p);

export function formatDuration(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

export const formatRss = (kb: number | null) => (kb === null ? '-' : kb >= 1024 * 1024 ? `${(kb / 1024 / 1024).toFixed(1)} GiB` : `${(kb / 1024).toFixed(1)} MiB`);

export function formatPs(rows: LiveEntry[]): string {
  if (rows.length === 0) return 'no named runs (start one: pydbg run --name svc --detach -- python server.py)\n';
  const table = [
    ['NAME', 'PYTHON', 'VARIANT', 'ARCH', 'STATE', 'UPTIME', 'PID', 'RSS', 'COMMAND'],
    ...rows.map((r) => [r.name, r.python, r.variant, r.arch, r.state === 'running' ? 'running' : r.status, formatDuration(r.uptimeSeconds), r.pid === null ? '-' : String(r.pid), formatRss(r.rssKb), r.command.join(' ')]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return `${table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n`;
}

export async function ps(o: { json?: boolean }, deps: Deps): Promise<CommandResult> {
  const rows = await listLive(deps.engine());
  if (o.json) writeJson(deps.stdout, rows);
  else deps.stdout.write(formatPs(rows));
  return { exitCode: 0, data: rows };
}

export async function stacks(o: { name?: string; coreFile?: string; json?: boolean }, deps: Deps): Promise<CommandResult> {
  if ((o.name === undefined) === (o.coreFile === undefined)) {
    throw usageError(o.name ? 'give either a NAME or --core FILE, not both' : 'no run named: give a NAME or --core FILE', 'pydbg stacks svc   or   pydbg stacks --core FILE');
  }
  const engine = deps.engine();
  const report = o.name !== undefined ? await liveStacks(engine, o.name, deps.signal) : await coreStacks(engine, resolveIn(deps, o.coreFile)!, deps.signal);
  const { raw: _raw, ...data } = report;
  if (o.json) writeJson(deps.stdout, data);
  else deps.stdout.write(formatStacks(report));
  return { exitCode: 0, data };
}

export async function inject(o: { name: string; code?: string; json?: boolean }, deps: Deps): Promise<CommandResult> {
  if (o.code === undefined) throw usageError('no code given', "pydbg inject NAME -c 'import gc; print(len(gc.garbage))'");
  const r = await liveInject(deps.engine(), o.name, o.code, deps.signal);
  if (o.json) writeJson(deps.stdout, r);
  else {
    deps.stdout.write(r.output);
    if (r.status !== 0) deps.stderr.write(`pydbg: the code ${r.status === 1 ? 'raised an exception (above)' : `exited with ${r.status}`} in ${o.name} (pid ${r.pid}); the process keeps running\n`);
  }
  return { exitCode: r.status === 0 ? 0 : r.status === 1 ? 1 : r.status, data: r };
}

export async function core(o: { name: string; json?: boolean }, deps: Deps): Promise<CommandResult> {
  const r = await liveCore(deps.engine(), o.name, { signal: deps.signal });
  if (o.json) writeJson(deps.stdout, r);
  else {
    deps.stdout.write(`${tilde(r.core)}\n`);
    deps.stderr.write(`pydbg: core of ${o.name} (pid ${r.meta.pid}, ${(r.bytes / 1024 / 1024).toFixed(1)} MiB) from image ${r.meta.image.slice(0, 19)}; the process keeps running\n  read it later: pydbg stacks --core ${tilde(r.core)}\n`);
  }
  return { exitCode: 0, data: r };
}

export async function stop(o: { name: string; json?: boolean }, deps: Deps): Promise<CommandResult> {
  const r = await stopLive(deps.engine(), o.name);
  if (o.json) writeJson(deps.stdout, r);
  else deps.stdout.write(`stopped and removed ${r.name} (${r.state === 'running' ? 'it was running' : r.status})\n`);
  return { exitCode: 0, data: r };
}

export async function heap(o: { name: string; samples: number; interval: number; top: number; holders: number; graph?: string; json?: boolean }, deps: Deps): Promise<CommandResult> {
  const graph = resolveIn(deps, o.graph);
  const log = (m: string) => deps.stderr.write(`pydbg heap: ${m}\n`);
  const r = await liveHeap(deps.engine(), o.name, { samples: o.samples, intervalSeconds: o.interval, top: o.top, holders: o.holders, signal: deps.signal, log });
  if (graph) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(graph, heapSvg(r.holders ?? { type: r.growing[0]?.type ?? '(nothing grew)', chains: [] }));
    log(`referrer chains drawn in ${graph}`);
  }
  if (o.json) writeJson(deps.stdout, r);
  else deps.stdout.write(formatHeap(r));
  return { exitCode: 0, data: r };
}
