import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { planBuild, type BuildPlan, type PlanInput } from '../../project/plan.js';
import { userImageRef } from '../../container/refs.js';
import { contextSource, envBuild, type EnvBuildResult } from '../../provision/variant.js';
import { DockerEngine } from '../../engine/docker.js';
import type { Engine, ImageInfo } from '../../engine/engine.js';
import { ExitCode, InterruptedError, PydbgError, usageError } from '../../errors.js';
import { LABEL } from '../../container/labels.js';
import { renderVariantDockerfile } from '../../render/dockerfile.js';
import { treeVersion } from '../../provision/sources.js';
import { StderrProgress } from '../progress.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildsDir } from '../../paths.js';

export interface BuildOpts {
  variant: string;
  python: string;
  arch?: string;
  board?: string;
  buildMode?: string;
  configureArg?: string[];
  cflags?: string[];
  source?: string;
  sourceUrl?: string;
  sha256?: string;
  pip: 'offline' | 'pypi';
  wheelhouse?: string;
  force?: boolean;
  timeout?: string;
  json?: boolean;
  quiet?: boolean;
}

/** Command-line options → plan (reads only the local source's patchlevel.h, if any). */
export async function planFromOptions(o: BuildOpts): Promise<BuildPlan> {
  const input: PlanInput = {
    variant: o.variant,
    python: o.python,
    arch: o.arch,
    board: o.board,
    buildMode: o.buildMode,
    configureArgs: o.configureArg,
    cflags: o.cflags,
    sourceUrl: o.sourceUrl,
    sha256: o.sha256,
    pip: o.pip,
  };
  if (o.wheelhouse) {
    const st = await stat(o.wheelhouse).catch(() => undefined);
    if (!st?.isDirectory()) throw usageError(`--wheelhouse ${o.wheelhouse} is not a directory`);
    input.wheelhouse = resolve(o.wheelhouse);
  }
  if (o.source) {
    const path = resolve(o.source);
    const st = await stat(path).catch(() => undefined);
    if (!st) throw new PydbgError(ExitCode.SOURCE, `--source ${o.source} does not exist`, { hint: 'pass a CPython checkout or a source tarball' });
    input.sourcePath = path;
    input.sourceIsDir = st.isDirectory();
    if (st.isDirectory()) input.treeVersion = await treeVersion(path);
  }
  return planBuild(input);
}

export async function build(o: BuildOpts, signal: AbortSignal): Promise<void> {
  const plan = await planFromOptions(o);
  const progress = new StderrProgress(process.stderr, o.quiet);
  let timer: NodeJS.Timeout | undefined;
  let s = signal;
  if (o.timeout !== undefined) {
    const secs = Number(o.timeout);
    if (!Number.isFinite(secs) || secs <= 0) throw usageError(`--timeout must be a positive number of seconds, not '${o.timeout}'`);
    const t = new AbortController();
    timer = setTimeout(() => t.abort(new InterruptedError('timeout', `after ${secs} s`)), secs * 1000);
    s = AbortSignal.any([signal, t.signal]);
  }
  for (const n of plan.spec.notes) progress.log(`note: ${n}`);
  let result: EnvBuildResult;
  try {
    result = await envBuild(plan, { engine: new DockerEngine(), progress, signal: s, force: o.force });
  } finally {
    if (timer) clearTimeout(timer);
    progress.stop();
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatBuildResult(result, plan));
}

export function formatBuildResult(r: EnvBuildResult, plan?: BuildPlan): string {
  const how = r.cached ? `verified image reused (${r.seconds.toFixed(2)} s, no build)` : `built and verified in ${fmtDuration(r.seconds)}`;
  const lines = [`${r.image}  ${how}`, `  id        ${r.imageId}`];
  if (plan && plan.mode !== 'native') {
    lines.push(`  platform  ${plan.arch.platform}: ${plan.mode === 'cross' ? `cross-compiled on ${plan.host.name} (${plan.arch.triplet}), verified under QEMU` : `built and verified under QEMU (--build-mode emulated)`}`);
  }
  lines.push(`  verified  ${formatVerified(r.verified)}`);
  const props = r.probe?.properties as { missing_modules?: string[] } | undefined;
  const info = r.probe?.info as { setuptools?: string; pip?: string; gdb_via?: string } | undefined;
  if (info) {
    const gdb = info.gdb_via === 'qemu-gdb-stub' ? "gdb py-bt (through QEMU's gdb stub)" : 'gdb py-bt';
    lines.push(`  tools     pip ${info.pip ?? '-'}, setuptools ${info.setuptools ?? '-'}; ${gdb}, valgrind suppressions at /opt/pydbg/valgrind-python.supp`);
    if (props?.missing_modules?.length) lines.push(`  missing   stdlib modules not built: ${props.missing_modules.join(', ')}`);
  }
  lines.push(`  base      ${r.base.ref} (${r.base.origin})`);
  lines.push(`  context   ${r.contextDir}/Dockerfile`);
  if (r.logPath) lines.push(`  log       ${r.logPath}`);
  return `${lines.join('\n')}\n`;
}

export function formatVerified(v: Record<string, unknown>): string {
  const flags = ['py_debug', 'ref_debug', 'trace_refs', 'count_allocs', 'with_pymalloc', 'with_valgrind', 'gil_disabled', 'mem_debug_hooks', 'asan', 'ubsan', 'gdb_py_bt', 'ext_build', 'pip_install'];
  const parts = flags.map((f) => `${f}=${v[f] === null || v[f] === undefined ? 'not-asserted' : v[f] ? 'yes' : 'no'}`);
  if (v.abiflags !== null && v.abiflags !== undefined) parts.unshift(`abiflags='${String(v.abiflags)}'`);
  if (v.allocator) parts.unshift(`allocator=${String(v.allocator)}`);
  return parts.join(' ');
}

function fmtDuration(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export async function dockerfile(o: BuildOpts): Promise<void> {
  const plan = await planFromOptions(o);
  process.stdout.write(renderVariantDockerfile(plan, await contextSource(plan)));
}

async function inspectPydbg(engine: Engine, ref: string): Promise<ImageInfo> {
  await engine.ping();
  const info = await engine.inspectImage(userImageRef(ref));
  if (!info || !info.labels[LABEL.kind]) {
    throw new PydbgError(ExitCode.NOT_FOUND, `no pydbg image '${ref}'`, { hint: "see 'pydbg env list', or build it with 'pydbg env build'" });
  }
  return info;
}

export async function list(o: { json?: boolean }): Promise<void> {
  const engine = new DockerEngine();
  await engine.ping();
  const images = (await engine.findImages({ [LABEL.kind]: 'variant' })).sort((a, b) => (a.labels[LABEL.image] ?? '').localeCompare(b.labels[LABEL.image] ?? ''));
  const rows = images.map((i) => ({
    image: i.tags[0] ?? i.labels[LABEL.image] ?? i.id,
    python: i.labels[LABEL.python],
    variant: i.labels[LABEL.variant],
    arch: i.labels[LABEL.arch],
    size: i.size,
    created: i.created,
    verified: JSON.parse(i.labels[LABEL.verified] ?? '{}') as Record<string, unknown>,
  }));
  if (o.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write("no pydbg images yet; build one with 'pydbg env build --variant debug --python 3.13'\n");
    return;
  }
  const table = [['IMAGE', 'PYTHON', 'VARIANT', 'ARCH', 'SIZE', 'AGE', 'VERIFIED']];
  for (const r of rows) {
    table.push([r.image, r.python ?? '', r.variant ?? '', r.arch ?? '', fmtSize(r.size), fmtAge(r.created), shortVerified(r.verified)]);
  }
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  process.stdout.write(`${table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n')}\n`);
}

function shortVerified(v: Record<string, unknown>): string {
  const on = ['py_debug', 'trace_refs', 'count_allocs', 'with_valgrind', 'gil_disabled', 'asan', 'ubsan'].filter((k) => v[k]);
  const names: Record<string, string> = { py_debug: 'Py_DEBUG', trace_refs: 'Py_TRACE_REFS', count_allocs: 'COUNT_ALLOCS', with_valgrind: 'valgrind', gil_disabled: 'no-GIL', asan: 'ASan', ubsan: 'UBSan' };
  const parts = on.map((k) => names[k]!);
  parts.push(v.with_pymalloc ? 'pymalloc' : 'no-pymalloc');
  if (v.allocator) parts.push(`alloc=${String(v.allocator)}`);
  if (v.abiflags) parts.push(`abi=${String(v.abiflags)}`);
  return parts.join(',');
}

function fmtSize(n: number): string {
  return n > 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${Math.round(n / 1e6)} MB`;
}

function fmtAge(iso: string): string {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export async function inspect(ref: string, o: { json?: boolean }): Promise<void> {
  const engine = new DockerEngine();
  const info = await inspectPydbg(engine, ref);
  const probe = await readFile(join(buildsDir(), (info.labels[LABEL.image] ?? '').replace(/^.*:/, ''), 'probe.json'), 'utf8')
    .then((t) => JSON.parse(t) as unknown)
    .catch(() => undefined);
  const provenance = Object.fromEntries(Object.entries(info.labels).filter(([k]) => k.startsWith('io.pydbg.')));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ id: info.id, tags: info.tags, created: info.created, size: info.size, os: info.os, architecture: info.architecture, labels: provenance, probe }, null, 2)}\n`);
    return;
  }
  const lines = [`${info.tags.join(', ') || info.id}`, `  id            ${info.id}`, `  platform      ${info.os}/${info.architecture}`, `  size          ${fmtSize(info.size)}`, `  created       ${info.created}`];
  for (const [k, v] of Object.entries(provenance)) {
    if (k === LABEL.verified) continue;
    lines.push(`  ${k.replace(/^io\.pydbg\./, '').padEnd(14)}${v}`);
  }
  lines.push(`  verified      ${formatVerified(JSON.parse(info.labels[LABEL.verified] ?? '{}'))}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function rm(refs: string[], o: { all?: boolean }): Promise<void> {
  const engine = new DockerEngine();
  await engine.ping();
  let targets: ImageInfo[] = [];
  if (o.all) {
    // children before parents: extension builds, project packages, variants, build Pythons, cross toolchain, toolchain, base
    const order = ['ext', 'runtime', 'variant', 'buildpython', 'xbuild', 'deps', 'base'];
    for (const kind of order) targets.push(...(await engine.findImages({ [LABEL.kind]: kind })));
  } else {
    if (refs.length === 0) throw usageError('name the image(s) to remove, or pass --all');
    for (const r of refs) targets.push(await inspectPydbg(engine, r));
  }
  targets = targets.filter((t, i) => targets.findIndex((u) => u.id === t.id) === i);
  for (const t of targets) {
    for (const tag of t.tags) await engine.removeImage(tag);
    await engine.removeImage(t.id);
    process.stdout.write(`removed ${t.tags[0] ?? t.id}\n`);
  }
}
