/**
 * Verified images shared through an OCI registry. A variant image is found there by its content
 * key, so what is pulled is what a local build would make; the key chain starts at the base image,
 * so the base, the toolchain layer (and for a cross build the cross toolchain and the build Python)
 * are pulled first, each checked against its key. After a pull pydbg trusts no label it can check
 * itself: the key label must equal the key computed here, the platform must be the plan's, and the
 * probe's fast half runs in the pulled image. Any refusal removes what was pulled: nothing is left
 * half-tagged.
 */
import { LABEL, type BaseImage } from '../container/labels.js';
import { baseRef, buildPythonRef, depsRef, splitRef, tagVersion, xbuildRef } from '../container/refs.js';
import { ociArch, type ArchDef } from '../catalogue/arch.js';
import { findAuth, registryHost, type CredentialDeps } from '../engine/credentials.js';
import type { Engine, ImageDetail, RegistryAuth } from '../engine/engine.js';
import { ExitCode, PydbgError } from '../errors.js';
import type { VariantPlan } from '../project/plan.js';
import type { ContextSource } from '../render/dockerfile.js';
import { presentBase } from './base.js';
import type { BuildIO } from './image-build.js';
import { buildPythonKey, depsKey, xbuildKey, type Layers } from './layers.js';
import { classifyRegistryError, registryRefs, type RegistryRefs } from './registry-refs.js';
import { runProbe } from './probe-run.js';

export interface RegistryOptions {
  /** --registry: HOST[:PORT]/PATH */
  prefix: string;
  /** push what was built (or reused) */
  push?: boolean;
  /** never build: a miss is an error (exit 15) */
  pullOnly?: boolean;
  /** the base id pydbg.lock pins (pulled by that id) */
  baseId?: string;
  /** tests: where credentials come from */
  credentials?: CredentialDeps;
}

/** A registry problem that, without --pull-only, means "build locally instead". */
export class RegistryMiss extends Error {
  constructor(
    message: string,
    readonly fault: 'missing' | 'unreachable' | 'refused' | 'mismatch' | 'other',
  ) {
    super(message);
  }
}

export interface Registry {
  refs: RegistryRefs;
  auth?: RegistryAuth;
  /** where the credentials came from (never the credentials) */
  authSource: string;
}

export async function openRegistry(o: RegistryOptions): Promise<Registry> {
  const refs = registryRefs(o.prefix);
  const found = await findAuth(registryHost(`${refs.prefix}/x`), o.credentials);
  return { refs, auth: found.auth, authSource: found.source };
}

export interface Pulled {
  layers: Layers;
  key: string;
  image: ImageDetail;
  /** what was checked after the pull, in words */
  checked: string[];
  /** the refs pulled, in order */
  pulled: string[];
}

/** Pull one ref and adopt it under a local tag; the registry's tag is removed locally afterwards. */
async function pullAs(engine: Engine, reg: Registry, ref: string, local: string, platform: string, io: BuildIO, check?: (i: ImageDetail) => string | undefined): Promise<ImageDetail> {
  io.log(`pulling ${ref}`);
  try {
    await engine.pull(ref, platform, io.signal, reg.auth);
  } catch (e) {
    if (io.signal.aborted) throw e;
    const c = classifyRegistryError(e);
    throw new RegistryMiss(c.fault === 'missing' ? `${ref} is not in the registry` : c.fault === 'refused' ? `${reg.refs.prefix} refused ${ref} (${c.text}; credentials: ${reg.authSource})` : `${reg.refs.prefix} unreachable (${c.text})`, c.fault);
  }
  try {
    const got = await engine.inspectImage(ref);
    if (!got) throw new RegistryMiss(`${ref} vanished after its pull`, 'other');
    const problem = check?.(got);
    if (problem) throw new RegistryMiss(`${ref}: ${problem}; not used`, 'mismatch');
    const [repo, tag] = splitRef(local);
    await engine.tag(got.id, repo, tag);
    return got;
  } finally {
    // the registry's name for it is not kept (a refused image, having no other tag, goes with it)
    await engine.removeImage(ref).catch(() => {});
  }
}

const keyCheck = (key: string, what: string) => (i: ImageDetail) =>
  i.labels[LABEL.key] === key ? undefined : `its key label (${(i.labels[LABEL.key] ?? 'none').slice(0, 16)}…) is not the ${what}'s key ${key.slice(0, 16)}…`;

/** base → deps (→ host base → host deps → xbuild → build Python): present locally, else pulled. */
async function pullLayers(engine: Engine, reg: Registry, plan: VariantPlan, src: ContextSource, io: BuildIO, o: RegistryOptions, pulled: string[]): Promise<Layers> {
  const base = async (arch: ArchDef, lockedId?: string): Promise<BaseImage> => {
    const have = await engine.inspectImage(baseRef(arch));
    if (have) return presentBase(have, arch);
    const ref = reg.refs.base(arch.name, lockedId);
    const got = await pullAs(engine, reg, ref, baseRef(arch), arch.platform, io, (i) =>
      lockedId && i.id !== lockedId ? `it is ${i.id.slice(0, 19)}…, not the locked base ${lockedId.slice(0, 19)}…` : i.labels[LABEL.kind] !== 'base' ? 'it is not a pydbg base image' : undefined);
    pulled.push(ref);
    return presentBase(got, arch);
  };
  const keyed = async (local: string, ref: string, key: string, platform: string, what: string): Promise<string> => {
    const have = await engine.inspectImage(local);
    if (have && have.labels[LABEL.key] === key) return have.id;
    const got = await pullAs(engine, reg, ref, local, platform, io, keyCheck(key, what));
    pulled.push(ref);
    return got.id;
  };
  // pydbg.lock pins the target's base (a cross build's host base is not locked)
  const b = await base(plan.arch, o.baseId);
  const dk = depsKey(plan.arch, b);
  const depsId = await keyed(depsRef(plan.arch), reg.refs.deps(plan.arch.name, dk), dk, plan.arch.platform, 'toolchain layer');
  if (plan.mode !== 'cross') return { base: b, depsId };
  const hb = await base(plan.host);
  const hk = depsKey(plan.host, hb);
  const hostDepsId = await keyed(depsRef(plan.host), reg.refs.deps(plan.host.name, hk), hk, plan.host.platform, 'toolchain layer');
  const xk = xbuildKey(plan.host, hostDepsId);
  const xbuildId = await keyed(xbuildRef(plan.host), reg.refs.xbuild(plan.host.name, xk), xk, plan.host.platform, 'cross toolchain layer');
  const bk = buildPythonKey(plan, xbuildId, src);
  const local = buildPythonRef(plan.host, plan.version, src.sha256);
  const buildPythonId = await keyed(local, reg.refs.buildPython(splitRef(local)[1], bk), bk, plan.host.platform, 'build Python');
  return { base: b, depsId, xbuildId, buildPythonId };
}

/**
 * Find the plan's image in the registry by its key and adopt it, verified. `keyOf` computes the
 * variant key from the layers (variant.ts owns the key's parts). Throws RegistryMiss when the
 * registry cannot give a verified image (the caller builds locally, or fails with --pull-only).
 */
export async function pullVariant(engine: Engine, reg: Registry, plan: VariantPlan, src: ContextSource, io: BuildIO, o: RegistryOptions, keyOf: (l: Layers) => Promise<string>): Promise<Pulled> {
  const pulled: string[] = [];
  const layers = await pullLayers(engine, reg, plan, src, io, o, pulled);
  const key = await keyOf(layers);
  const tag = splitRef(plan.image)[1];
  const ref = reg.refs.variantByKey(tag, key);
  const want = ociArch(plan.arch);
  const image = await pullAs(engine, reg, ref, plan.image, plan.arch.platform, io, (i) => {
    const k = keyCheck(key, 'image')(i);
    if (k) return k;
    if (i.labels[LABEL.kind] !== 'variant' || !i.labels[LABEL.verified]) return 'it is not a verified pydbg variant image';
    return i.os === 'linux' && i.architecture === want ? undefined : `its platform is ${i.os}/${i.architecture}, not ${plan.arch.platform}`;
  });
  pulled.push(ref);
  const checked = [`key label = the key computed here (${key.slice(0, 16)}…)`, `platform ${image.os}/${image.architecture}`];
  try {
    checked.push(await fastProbe(engine, plan, image.id, io));
  } catch (e) {
    await engine.removeImage(plan.image).catch(() => {});
    throw e;
  }
  return { layers, key, image, checked, pulled };
}

/** The probe's fast half (the interpreter's own properties) in the pulled image, against the plan's expectations. */
async function fastProbe(engine: Engine, plan: VariantPlan, imageId: string, io: BuildIO): Promise<string> {
  const r = await runProbe(engine, imageId, { fast: true, signal: io.signal });
  if (!r.report) throw new RegistryMiss(`the pulled ${plan.image} did not run its probe (exit ${r.exitCode}: ${r.lastError}); not used`, 'mismatch');
  if (r.report.mismatches.length) {
    const m = r.report.mismatches.map((x) => `${x.property}: expected ${JSON.stringify(x.expected)}, got ${JSON.stringify(x.actual)}`).join('; ');
    throw new RegistryMiss(`the pulled ${plan.image} is not ${plan.spec.variants.join(',')} (${m}); not used`, 'mismatch');
  }
  const p = r.report.properties as Record<string, unknown>;
  const n = Object.values(p).filter((v) => v !== null).length;
  return `probe --fast: ${n} properties as expected (abiflags '${String(p.abiflags ?? '')}', py_debug=${p.py_debug ? 'yes' : 'no'}, with_pymalloc=${p.with_pymalloc ? 'yes' : 'no'})`;
}

export interface PushOutcome {
  /** ref → digest, in push order */
  pushed: Array<{ ref: string; digest?: string; note?: string }>;
}

/**
 * Push a verified variant image and the chain its key depends on (base, toolchain, and for a cross
 * build the cross toolchain and build Python), each under its key tag. A key tag the registry
 * already holds is not overwritten (same key, same inputs); the base's plain tag moves only when
 * the registry has none (another base there means another key chain: pin yours with pydbg.lock).
 */
export async function pushVariant(engine: Engine, reg: Registry, image: ImageDetail, io: BuildIO): Promise<PushOutcome> {
  const l = image.labels;
  const key = l[LABEL.key];
  const localTag = splitRef(image.tags.find((t) => t.startsWith('pydbg/cpython:')) ?? l[LABEL.image] ?? '')[1];
  if (!key || l[LABEL.kind] !== 'variant' || !l[LABEL.verified] || !localTag) {
    throw new PydbgError(ExitCode.USAGE, `${image.tags[0] ?? image.id} is not a verified pydbg variant image`, { hint: "see 'pydbg env list'" });
  }
  const out: PushOutcome = { pushed: [] };
  const send = async (id: string, ref: string, opts: { keep?: boolean } = {}) => {
    const remote = await remoteDigest(engine, reg, ref);
    const mine = (await engine.inspectImage(id))?.repoDigests?.find((d) => d.startsWith(`${ref.slice(0, ref.lastIndexOf(':'))}@`));
    if (remote && opts.keep && remote !== mine?.split('@')[1]) {
      out.pushed.push({ ref, note: `kept: the registry already has ${remote.slice(0, 19)}… there` });
      return;
    }
    const [repo, tag] = splitRef(ref);
    await engine.tag(id, repo, tag);
    try {
      io.log(`pushing ${ref}`);
      const r = await engine.push(ref, reg.auth, io.signal);
      out.pushed.push({ ref, digest: r.digest, note: remote && remote === r.digest ? 'already there' : undefined });
    } catch (e) {
      if (io.signal.aborted) throw e;
      const c = classifyRegistryError(e);
      throw new PydbgError(ExitCode.REGISTRY, c.fault === 'refused' ? `${reg.refs.prefix} refused the push of ${ref}: ${c.text}` : `cannot push ${ref}: ${c.text}`, {
        hint: c.fault === 'refused' ? `log in with 'docker login ${registryHost(ref)}' (credentials: ${reg.authSource})` : c.fault === 'unreachable' ? `is the registry at ${registryHost(ref)} running?` : undefined,
      });
    } finally {
      await engine.removeImage(ref).catch(() => {});
    }
  };
  const arch = l[LABEL.arch]!;
  const baseId = l[LABEL.baseImage]!;
  const depsId = l[LABEL.depsImage]!;
  const depsImage = await engine.inspectImage(depsId);
  if (!depsImage?.labels[LABEL.key]) throw new PydbgError(ExitCode.NOT_FOUND, `the toolchain layer ${depsId.slice(0, 19)}… of ${localTag} is gone from this engine`, { hint: `rebuild it: 'pydbg env build' of that variant` });
  await send(baseId, reg.refs.base(arch, baseId));
  await send(baseId, reg.refs.base(arch), { keep: true });
  await send(depsId, reg.refs.deps(arch, depsImage.labels[LABEL.key]!), { keep: true });
  const xbuildId = l[LABEL.xbuildImage];
  const bpId = l[LABEL.buildPython];
  if (xbuildId && bpId) {
    const xb = await engine.inspectImage(xbuildId);
    const bp = await engine.inspectImage(bpId);
    if (!xb || !bp) throw new PydbgError(ExitCode.NOT_FOUND, `the cross toolchain or build Python layer of ${localTag} is gone from this engine`, { hint: 'rebuild it with pydbg env build' });
    const host = xb.labels[LABEL.arch]!;
    const hostDeps = await engine.inspectImage(xb.labels[LABEL.depsImage] ?? '');
    const hostBaseId = hostDeps?.labels[LABEL.baseImage];
    if (hostDeps && hostBaseId) {
      await send(hostBaseId, reg.refs.base(host, hostBaseId));
      await send(hostBaseId, reg.refs.base(host), { keep: true });
      await send(hostDeps.id, reg.refs.deps(host, hostDeps.labels[LABEL.key]!), { keep: true });
    }
    await send(xb.id, reg.refs.xbuild(host, xb.labels[LABEL.key]!), { keep: true });
    const bpTag = `${tagVersion(bp.labels[LABEL.python] ?? '')}-${(bp.labels[LABEL.sourceSha] ?? '').slice(0, 12)}-${host}`;
    await send(bp.id, reg.refs.buildPython(bpTag, bp.labels[LABEL.key]!), { keep: true });
  }
  await send(image.id, reg.refs.variantByKey(localTag, key), { keep: true });
  await send(image.id, reg.refs.variant(localTag));
  return out;
}

async function remoteDigest(engine: Engine, reg: Registry, ref: string): Promise<string | undefined> {
  try {
    return await engine.remoteDigest(ref, reg.auth);
  } catch (e) {
    const c = classifyRegistryError(e);
    if (c.fault === 'missing') return undefined;
    throw new PydbgError(ExitCode.REGISTRY, c.fault === 'refused' ? `${reg.refs.prefix} refused pydbg: ${c.text}` : `${reg.refs.prefix} unreachable: ${c.text}`, {
      hint: c.fault === 'refused' ? `log in with 'docker login ${registryHost(ref)}' (credentials: ${reg.authSource})` : `is the registry at ${registryHost(ref)} running?`,
    });
  }
}
