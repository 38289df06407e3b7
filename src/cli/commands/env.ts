import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { planVariant, type VariantPlan, type PlanInput } from '../../project/plan.js';
import { userImageRef } from '../../container/refs.js';
import { contextSource, envBuild, type EnvBuildResult } from '../../provision/variant.js';
import type { Engine, ImageInfo } from '../../engine/engine.js';
import { ExitCode, PydbgError, quoted, usageError } from '../../errors.js';
import { LABEL } from '../../container/labels.js';
import { renderVariantDockerfile } from '../../render/dockerfile.js';
import { treeVersion } from '../../provision/sources.js';
import { buildsDir } from '../../paths.js';
import { withTimeout, writeJson, type CommandResult, type Deps } from '../deps.js';
import { registryRefs } from '../../provision/registry-refs.js';
import { cellOf, currentInputs, LOCK_FILE, lockDrift, planCell, readLock, type LockEntry } from '../../provision/lock.js';
import type { RegistryResult } from '../../provision/variant.js';

/** `env build` / `env dockerfile` options, already validated by the option table (api.ts: by the same validators). */
export interface BuildOpts {
  variant: string | string[];
  python?: string;
  arch?: string;
  board?: string;
  buildMode?: 'cross' | 'emulated';
  configureArg?: string[];
  cflags?: string[];
  source?: string;
  sourceUrl?: string;
  sha256?: string;
  pip?: 'offline' | 'pypi';
  wheelhouse?: string;
  force?: boolean;
  /** seconds */
  timeout?: number;
  json?: boolean;
  quiet?: boolean;
  /** --registry HOST/PATH: pull by key before building; with --push, push after */
  registry?: string;
  push?: boolean;
  pullOnly?: boolean;
  /** refuse to drift from ./pydbg.lock */
  locked?: boolean;
}

/** Command-line options → plan (reads only the local source's patchlevel.h, if any). */
export async function planFromOptions(o: BuildOpts, cwd: string): Promise<VariantPlan> {
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
    const dir = resolve(cwd, o.wheelhouse);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw usageError(`--wheelhouse ${o.wheelhouse} is not a directory`, 'a directory of .whl files');
    input.wheelhouse = dir;
  }
  if (o.source) {
    const path = resolve(cwd, o.source);
    const st = await stat(path).catch(() => undefined);
    if (!st) throw new PydbgError(ExitCode.SOURCE, `--source ${o.source} does not exist`, { hint: 'pass a CPython checkout or a source tarball' });
    input.sourcePath = path;
    input.sourceIsDir = st.isDirectory();
    if (st.isDirectory()) input.treeVersion = await treeVersion(path);
  }
  return planVariant(input);
}

export async function build(o: BuildOpts, deps: Deps): Promise<CommandResult> {
  const plan = await planFromOptions(o, deps.cwd);
  if ((o.push || o.pullOnly) && !o.registry) throw usageError(`--${o.push ? 'push' : 'pull-only'} needs --registry`, `e.g. --registry ghcr.io/acme/pydbg ${o.push ? '--push' : '--pull-only'}`);
  if (o.push && o.pullOnly) throw usageError('--push and --pull-only contradict each other', '--pull-only never builds, so there is nothing new to push');
  if (o.force && o.pullOnly) throw usageError('--force and --pull-only contradict each other', '--force rebuilds; --pull-only never builds');
  const registry = o.registry ? { prefix: registryRefs(o.registry).prefix, push: o.push, pullOnly: o.pullOnly } : undefined;
  // the lockfile is read and checked against this engine before any slow work
  const locked = o.locked ? await lockedEntry(plan, join(deps.cwd, LOCK_FILE), deps.engine(), Boolean(registry)) : undefined;
  const progress = deps.progress(o.quiet);
  const t = withTimeout(deps.signal, o.timeout, (secs) => `after ${secs} s`);
  let result: EnvBuildResult;
  try {
    for (const w of plan.warnings) progress.log(`warning: ${w}`);
    for (const n of plan.spec.notes) progress.log(`note: ${n}`);
    const reg = registry && locked ? { ...registry, baseId: locked.base.id } : registry;
    result = await envBuild(plan, { engine: deps.engine(), progress, signal: t.signal, force: o.force, registry: reg });
    if (locked && result.key !== locked.key) {
      // reached only when an input not on this engine before the build (a pulled layer) differs
      throw new PydbgError(ExitCode.LOCKFILE, `--locked: ${plan.image} has key ${result.key.slice(0, 12)}…, ${LOCK_FILE} locks ${locked.key.slice(0, 12)}…`, { hint: "see what changed with 'pydbg env inspect', then 'pydbg lock' to accept it" });
    }
  } finally {
    t.clear();
    progress.stop();
  }
  if (o.json) writeJson(deps.stdout, result);
  else deps.stdout.write(formatBuildResult(result, plan));
  return { exitCode: 0, data: result };
}

export function formatBuildResult(r: EnvBuildResult, plan?: VariantPlan): string {
  const how = r.registry?.pulled
    ? `pulled from ${r.registry.prefix} by its key and checked in ${fmtDuration(r.seconds)} (no build)`
    : r.cached ? `verified image reused (${r.seconds.toFixed(2)} s, no build)` : `built and verified in ${fmtDuration(r.seconds)}`;
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
  if (r.registry) lines.push(...registryLines(r.registry));
  lines.push(`  context   ${r.contextDir}/Dockerfile`);
  if (r.logPath) lines.push(`  log       ${r.logPath}`);
  return `${lines.join('\n')}\n`;
}

function registryLines(g: RegistryResult): string[] {
  const out: string[] = [];
  if (g.pulled) {
    out.push(`  registry  pulled from ${g.prefix} by its key (${g.pulled.length} image${g.pulled.length === 1 ? '' : 's'}: ${g.pulled.map((r) => r.slice(g.prefix.length + 1)).join(', ')})`);
    for (const c of g.checked ?? []) out.push(`  checked   ${c}`);
  } else if (g.miss) out.push(`  registry  ${g.miss}: built or reused locally`);
  for (const p of g.pushed ?? []) out.push(`  pushed    ${p.ref}${p.digest ? `@${p.digest}` : ''}${p.note ? ` (${p.note})` : ''}`);
  return out;
}

/** The lock entry for the plan, checked against this engine before anything slow. */
async function lockedEntry(plan: VariantPlan, path: string, engine: Engine, withRegistry: boolean): Promise<LockEntry> {
  const lock = await readLock(path);
  const cell = planCell(plan);
  const entry = lock.images.find((e) => e.python === cell.python && e.variant === cell.variant && e.arch === cell.arch);
  if (!entry) throw new PydbgError(ExitCode.LOCKFILE, `--locked: ${LOCK_FILE} has no entry for ${cellOf(cell)}`, { hint: `locked: ${lock.images.map(cellOf).join('; ') || 'nothing'}; add it to pydbg.yaml and run 'pydbg lock'` });
  await engine.ping();
  const now = await currentInputs(engine, plan);
  const drift = lockDrift(entry, now);
  if (drift) throw new PydbgError(ExitCode.LOCKFILE, `--locked: ${cellOf(cell)}: ${drift}`, { hint: "run 'pydbg lock' to accept the change (and review it), or build on the locked inputs" });
  if (!withRegistry && (!now.base || !now.toolchain?.id)) {
    const what = !now.base ? `the locked base image ${entry.base.id.slice(0, 19)}…` : `the locked toolchain layer ${entry.toolchain.id.slice(0, 19)}…`;
    throw new PydbgError(ExitCode.LOCKFILE, `--locked: ${what} is not on this engine, and a local build would make another one`, { hint: 'pull the locked images with --registry HOST/PATH (where they were pushed), or lock again on this machine' });
  }
  return entry;
}

export function formatVerified(v: Record<string, unknown>): string {
  const flags = ['py_debug', 'ref_debug', 'trace_refs', 'count_allocs', 'with_pymalloc', 'with_valgrind', 'gil_disabled', 'mem_debug_hooks', 'asan', 'ubsan', 'tsan', 'gdb_py_bt', 'ext_build', 'pip_install'];
  const parts = flags.map((f) => `${f}=${v[f] === null || v[f] === undefined ? 'not-asserted' : v[f] ? 'yes' : 'no'}`);
  if (v.abiflags !== null && v.abiflags !== undefined) parts.unshift(`abiflags='${String(v.abiflags)}'`);
  if (v.allocator) parts.unshift(`allocator=${String(v.allocator)}`);
  return parts.join(' ');
}

/** 359.6 s → "6m00s" (whole seconds first: never "5m60s") */
export function fmtDuration(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

export async function dockerfile(o: BuildOpts, deps: Pick<Deps, 'stdout' | 'cwd'>): Promise<CommandResult> {
  const plan = await planFromOptions(o, deps.cwd);
  const text = renderVariantDockerfile(plan, await contextSource(plan));
  deps.stdout.write(text);
  return { exitCode: 0, data: text };
}

async function inspectPydbg(engine: Engine, ref: string): Promise<ImageInfo> {
  await engine.ping();
  const info = await engine.inspectImage(userImageRef(ref));
  if (!info || !info.labels[LABEL.kind]) {
    throw new PydbgError(ExitCode.NOT_FOUND, `no pydbg image ${quoted(ref)}`, { hint: "see 'pydbg env list', or build it with 'pydbg env build'" });
  }
  return info;
}

export async function list(o: { json?: boolean }, deps: Pick<Deps, 'engine' | 'stdout'>): Promise<CommandResult> {
  const engine = deps.engine();
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
    writeJson(deps.stdout, rows);
    return { exitCode: 0, data: rows };
  }
  if (rows.length === 0) {
    // what doctor shows exists: the shared layers a first build made (or pulled)
    const shared = (await Promise.all(SHARED_KINDS.map((k) => engine.findImages({ [LABEL.kind]: k })))).flat().flatMap((i) => i.tags.slice(0, 1));
    const build = "build one with 'pydbg env build --variant debug --python 3.13' (or just 'pydbg run': a missing variant is built first)";
    deps.stdout.write(shared.length ? `no variant images yet; shared layers: ${shared.sort().join(', ')}\n${build}\n` : `no pydbg images yet; ${build}\n`);
    return { exitCode: 0, data: rows };
  }
  const table = [['IMAGE', 'PYTHON', 'VARIANT', 'ARCH', 'SIZE', 'AGE', 'VERIFIED']];
  for (const r of rows) {
    table.push([r.image, r.python ?? '', r.variant ?? '', r.arch ?? '', fmtSize(r.size), fmtAge(r.created), shortVerified(r.verified)]);
  }
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  deps.stdout.write(`${table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n')}\n`);
  return { exitCode: 0, data: rows };
}

/** The layers variant images are built on (listed when there is no variant image yet). */
const SHARED_KINDS = ['base', 'deps', 'xbuild', 'buildpython'] as const;

function shortVerified(v: Record<string, unknown>): string {
  const on = ['py_debug', 'trace_refs', 'count_allocs', 'with_valgrind', 'gil_disabled', 'asan', 'ubsan', 'tsan'].filter((k) => v[k]);
  const names: Record<string, string> = { py_debug: 'Py_DEBUG', trace_refs: 'Py_TRACE_REFS', count_allocs: 'COUNT_ALLOCS', with_valgrind: 'valgrind', gil_disabled: 'no-GIL', asan: 'ASan', ubsan: 'UBSan', tsan: 'TSan' };
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

export async function inspect(o: { image: string; json?: boolean }, deps: Pick<Deps, 'engine' | 'stdout'>): Promise<CommandResult> {
  const info = await inspectPydbg(deps.engine(), o.image);
  const probe = await readFile(join(buildsDir(), (info.labels[LABEL.image] ?? '').replace(/^.*:/, ''), 'probe.json'), 'utf8')
    .then((t) => JSON.parse(t) as unknown)
    .catch(() => undefined);
  const provenance = Object.fromEntries(Object.entries(info.labels).filter(([k]) => k.startsWith('io.pydbg.') || k.startsWith('org.opencontainers.image.')));
  const data = { id: info.id, tags: info.tags, created: info.created, size: info.size, os: info.os, architecture: info.architecture, labels: provenance, probe };
  if (o.json) {
    writeJson(deps.stdout, data);
    return { exitCode: 0, data };
  }
  const lines = [`${info.tags.join(', ') || info.id}`, `  id            ${info.id}`, `  platform      ${info.os}/${info.architecture}`, `  size          ${fmtSize(info.size)}`, `  created       ${info.created}`];
  for (const [k, v] of Object.entries(provenance)) {
    if (k === LABEL.verified) continue;
    lines.push(`  ${k.replace(/^io\.pydbg\./, '').replace(/^org\.opencontainers\.image\./, 'oci.').padEnd(14)}${v}`);
  }
  // only images made from a verified interpreter (variant, runtime, ext) carry what the probe proved
  const verified = info.labels[LABEL.verified];
  if (verified) lines.push(`  verified      ${formatVerified(JSON.parse(verified) as Record<string, unknown>)}`);
  deps.stdout.write(`${lines.join('\n')}\n`);
  return { exitCode: 0, data };
}

export async function rm(o: { images?: string[]; all?: boolean }, deps: Pick<Deps, 'engine' | 'stdout'>): Promise<CommandResult> {
  const refs = o.images ?? [];
  if (o.all && refs.length) throw usageError('give image names or --all, not both', "'pydbg env rm --all' removes every pydbg image");
  if (!o.all && refs.length === 0) throw usageError('name the image(s) to remove, or pass --all', "see 'pydbg env list'");
  const engine = deps.engine();
  await engine.ping();
  let targets: ImageInfo[] = [];
  if (o.all) {
    // children before parents: extension builds, project packages, variants, build Pythons, cross toolchain, toolchain, base
    const order = ['ext', 'runtime', 'variant', 'buildpython', 'xbuild', 'deps', 'base'];
    for (const kind of order) targets.push(...(await engine.findImages({ [LABEL.kind]: kind })));
  } else {
    for (const r of refs) targets.push(await inspectPydbg(engine, r));
  }
  targets = targets.filter((t, i) => targets.findIndex((u) => u.id === t.id) === i);
  for (const t of targets) {
    for (const tag of t.tags) await engine.removeImage(tag);
    await engine.removeImage(t.id);
    deps.stdout.write(`removed ${t.tags[0] ?? t.id}\n`);
  }
  return { exitCode: 0, data: targets.map((t) => t.tags[0] ?? t.id) };
}
