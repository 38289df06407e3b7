/**
 * pydbg.lock: per (version, variant, arch) what the image was made of — the source's sha256, the
 * base image id, the toolchain layer's key and id (and a cross build's layers), the recipe's
 * digests, the image's content key, and its registry digest once pushed. YAML, meant to be read in
 * pull requests. `--locked` refuses an image whose key differs, naming the first input that differs.
 * Parsing and comparing are pure; reading the engine is in lockEntry/currentInputs.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { contentKey, stableJson } from '../container/key.js';
import { LABEL } from '../container/labels.js';
import { baseRef, depsRef, xbuildRef, buildPythonRef } from '../container/refs.js';
import type { Engine } from '../engine/engine.js';
import { ExitCode, PydbgError, clip } from '../errors.js';
import type { VariantPlan } from '../project/plan.js';
import { PYDBG_VERSION } from '../version.js';
import { depsKey } from './layers.js';
import { contextSource, variantKeyParts } from './variant.js';
import { findCached } from './images.js';

export const LOCK_FILE = 'pydbg.lock';

const Id = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');
const Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits');
const Layer = z.object({ key: Hex, id: Id }).strict();
export const LockEntrySchema = z
  .object({
    python: z.string(),
    variant: z.string(),
    arch: z.string(),
    image: z.string(),
    key: Hex,
    source: z.object({ sha256: Hex }).strict(),
    base: z.object({ id: Id, origin: z.string(), upstream: z.string() }).strict(),
    toolchain: Layer,
    cross: z.object({ xbuild: Layer, buildPython: Layer }).strict().optional(),
    recipe: z.object({ pydbg: z.string(), dockerfile: Hex, files: Hex }).strict(),
    registry: z.object({ ref: z.string(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/) }).strict().optional(),
  })
  .strict();
export type LockEntry = z.infer<typeof LockEntrySchema>;
const LockSchema = z.object({ lockfile: z.literal('1'), images: z.array(LockEntrySchema) }).strict();
export type Lock = z.infer<typeof LockSchema>;

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
export const cellOf = (e: Pick<LockEntry, 'python' | 'variant' | 'arch'>) => `${e.python} ${e.variant} ${e.arch}`;

/** The plan's cell, as the lockfile names it (exact version, canonical variant list, arch). */
export const planCell = (plan: VariantPlan) => ({ python: plan.version.text, variant: plan.spec.variants.join(','), arch: plan.arch.name });

export async function parseLock(text: string, path = LOCK_FILE): Promise<Lock> {
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(text, { schema: 'failsafe', prettyErrors: false });
  const bad = (msg: string) => new PydbgError(ExitCode.LOCKFILE, `${path}: ${msg}`, { hint: `write it again with 'pydbg lock' (it is generated; edit pydbg.yaml instead)` });
  if (doc.errors.length) throw bad(clip(doc.errors[0]!.message.split('\n')[0]!, 160));
  const parsed = LockSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw bad(`${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return parsed.data;
}

export async function readLock(path: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new PydbgError(ExitCode.LOCKFILE, `--locked but there is no ${path}`, { hint: "write it with 'pydbg lock' (after building the images), and commit it" });
  }
  return parseLock(text, path);
}

export async function formatLock(entries: LockEntry[]): Promise<string> {
  const { stringify } = await import('yaml');
  const sorted = [...entries].sort((a, b) => cellOf(a).localeCompare(cellOf(b)));
  const head = `# pydbg.lock: the inputs and content keys of this project's images (written by 'pydbg lock', pydbg ${PYDBG_VERSION}).\n# Review changes like code; 'pydbg env build --locked' refuses an image whose inputs differ.\n`;
  return head + stringify({ lockfile: '1', images: sorted }, { lineWidth: 0 });
}

/** What the plan's image is made of on this engine now (the same fields as a lock entry, without registry). */
export interface CurrentInputs {
  base?: { id: string; origin: string; upstream: string };
  toolchain?: { key: string; id?: string };
  cross?: { xbuild?: string; buildPython?: string };
  key?: string;
  recipe: LockEntry['recipe'];
  sourceSha: string;
}

/** Reads the present layers (nothing is built or pulled); the key only when every layer it covers is here. */
export async function currentInputs(engine: Engine, plan: VariantPlan): Promise<CurrentInputs> {
  const src = await contextSource(plan);
  const out: CurrentInputs = { sourceSha: src.sha256, recipe: { pydbg: PYDBG_VERSION, dockerfile: '', files: '' } };
  const base = await engine.inspectImage(baseRef(plan.arch));
  const noLayers = { depsId: 'sha256:none' };
  const parts = await variantKeyParts(plan, noLayers, src);
  out.recipe = { pydbg: PYDBG_VERSION, dockerfile: sha(parts.dockerfile), files: sha(stableJson(parts.files)) };
  if (!base) return out;
  const b = { ref: baseRef(plan.arch), id: base.id, origin: base.labels[LABEL.baseOrigin] ?? 'local', upstream: base.labels[LABEL.baseRef] ?? '' };
  out.base = { id: b.id, origin: b.origin, upstream: b.upstream };
  const dk = depsKey(plan.arch, { ...b, origin: b.origin as 'local' });
  const deps = await engine.inspectImage(depsRef(plan.arch));
  out.toolchain = { key: dk, id: deps?.labels[LABEL.key] === dk ? deps.id : undefined };
  if (!out.toolchain.id) return out;
  let cross: { xbuildId: string; buildPythonId: string } | undefined;
  if (plan.mode === 'cross') {
    const xb = await engine.inspectImage(xbuildRef(plan.host));
    const bp = await engine.inspectImage(buildPythonRef(plan.host, plan.version, src.sha256));
    out.cross = { xbuild: xb?.id, buildPython: bp?.id };
    if (!xb || !bp) return out;
    cross = { xbuildId: xb.id, buildPythonId: bp.id };
  }
  out.key = contentKey(await variantKeyParts(plan, { depsId: out.toolchain.id, ...cross }, src));
  return out;
}

/**
 * The first locked input that differs from the current one, in words, or undefined. Inputs not on
 * this engine yet (no base, no toolchain) are not differences: they may be pulled by the locked id.
 */
export function lockDrift(locked: LockEntry, now: CurrentInputs): string | undefined {
  const short = (s: string) => `${s.replace(/^sha256:/, '').slice(0, 12)}…`;
  if (locked.source.sha256 !== now.sourceSha) return `the CPython source differs (locked sha256 ${short(locked.source.sha256)}, now ${short(now.sourceSha)})`;
  if (locked.recipe.pydbg !== now.recipe.pydbg) return `it was locked by pydbg ${locked.recipe.pydbg}; this is pydbg ${now.recipe.pydbg} (its recipe may differ)`;
  if (locked.recipe.dockerfile !== now.recipe.dockerfile) return `the Dockerfile differs (locked ${short(locked.recipe.dockerfile)}, now ${short(now.recipe.dockerfile)})`;
  if (locked.recipe.files !== now.recipe.files) return `the files copied into the image (probe, finish scripts) differ`;
  if (now.base && now.base.id !== locked.base.id) return `the base image differs (locked ${short(locked.base.id)} ${locked.base.origin}, this engine has ${short(now.base.id)} ${now.base.origin})`;
  if (now.toolchain && now.toolchain.key !== locked.toolchain.key) return `the toolchain layer's recipe differs (locked key ${short(locked.toolchain.key)}, now ${short(now.toolchain.key)})`;
  if (now.toolchain?.id && now.toolchain.id !== locked.toolchain.id) return `the toolchain layer differs (locked ${short(locked.toolchain.id)}, this engine has ${short(now.toolchain.id)})`;
  if (locked.cross && now.cross?.xbuild && now.cross.xbuild !== locked.cross.xbuild.id) return `the cross toolchain layer differs (locked ${short(locked.cross.xbuild.id)}, this engine has ${short(now.cross.xbuild)})`;
  if (locked.cross && now.cross?.buildPython && now.cross.buildPython !== locked.cross.buildPython.id) return `the build Python layer differs (locked ${short(locked.cross.buildPython.id)}, this engine has ${short(now.cross.buildPython)})`;
  if (now.key && now.key !== locked.key) return `the content key differs (locked ${short(locked.key)}, now ${short(now.key)}: another input, such as the wheelhouse, changed)`;
  return undefined;
}

/** A lock entry for the plan's image as it stands on this engine: it must be built (verified) with the current key. */
export async function lockEntry(engine: Engine, plan: VariantPlan): Promise<LockEntry> {
  const now = await currentInputs(engine, plan);
  const image = now.key ? await findCached(engine, 'variant', now.key) : undefined;
  if (!now.key || !image || !now.base || !now.toolchain?.id) {
    throw new PydbgError(ExitCode.NO_IMAGE, `${plan.image} is not built with the current inputs: nothing to lock for ${cellOf(planCell(plan))}`, { hint: `build it first: '${plan.command}'` });
  }
  const entry: LockEntry = {
    ...planCell(plan), image: plan.image, key: now.key,
    source: { sha256: now.sourceSha },
    base: now.base,
    toolchain: { key: now.toolchain.key, id: now.toolchain.id },
    recipe: now.recipe,
  };
  if (plan.mode === 'cross') {
    const xb = await engine.inspectImage(xbuildRef(plan.host));
    const bp = await engine.inspectImage(buildPythonRef(plan.host, plan.version, now.sourceSha));
    entry.cross = { xbuild: { key: xb!.labels[LABEL.key]!, id: xb!.id }, buildPython: { key: bp!.labels[LABEL.key]!, id: bp!.id } };
  }
  return entry;
}
