/**
 * The shared layers every variant image is built on: base → toolchain (deps) for the target, and for
 * a cross build base → deps → cross toolchain (xbuild) → build Python on the build machine. Each is
 * reused while its key label matches, else built; none is ever rebuilt by a variant's failure.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentKey, KEY_SCHEMA } from '../container/key.js';
import type { Engine } from '../engine/engine.js';
import { LABEL, type BaseImage } from '../container/labels.js';
import { baseRef, buildPythonDir, buildPythonRef, depsRef, xbuildRef } from '../container/refs.js';
import { buildsDir } from '../paths.js';
import { APT_PACKAGES, renderBuildPythonDockerfile, renderDepsDockerfile, renderXbuildDockerfile, type ContextSource } from '../render/dockerfile.js';
import { ARCHES, type ArchDef } from '../catalogue/arch.js';
import type { VariantPlan } from '../project/plan.js';
import { PYDBG_VERSION } from '../version.js';
import { ensureBase, presentBase } from './base.js';
import { packDir } from './context.js';
import { runBuild, type BuildIO } from './image-build.js';
import type { MaterialSource } from './sources.js';
import type { Progress } from './variant.js';

/** The shared layers a variant image is built on. */
export interface Layers {
  base: BaseImage;
  /** pydbg/deps:bookworm-<target>: toolchain, valgrind, gdb of the target architecture */
  depsId: string;
  /** pydbg/xbuild:bookworm-<host>: cross toolchains (cross builds only) */
  xbuildId?: string;
  /** pydbg/buildpython:<version>-<sha>-<host>: xbuild + the source + a build Python of it (cross builds only) */
  buildPythonId?: string;
}

/** Every shared layer present and current, without building anything (the warm fast path), or undefined. */
export async function presentLayers(engine: Engine, plan: VariantPlan, src: ContextSource): Promise<Layers | undefined> {
  const baseHave = await engine.inspectImage(baseRef(plan.arch));
  const depsHave = await engine.inspectImage(depsRef(plan.arch));
  if (!baseHave || !depsHave) return undefined;
  const base = presentBase(baseHave, plan.arch);
  if (depsHave.labels[LABEL.key] !== depsKey(plan.arch, base)) return undefined;
  if (plan.mode !== 'cross') return { base, depsId: depsHave.id };
  const hostBase = await engine.inspectImage(baseRef(plan.host));
  const hostDeps = await engine.inspectImage(depsRef(plan.host));
  const xb = await engine.inspectImage(xbuildRef(plan.host));
  if (!hostBase || !hostDeps || !xb) return undefined;
  if (hostDeps.labels[LABEL.key] !== depsKey(plan.host, presentBase(hostBase, plan.host))) return undefined;
  if (xb.labels[LABEL.key] !== xbuildKey(plan.host, hostDeps.id)) return undefined;
  const bp = await engine.inspectImage(buildPythonRef(plan.host, plan.version, src.sha256));
  if (!bp || bp.labels[LABEL.key] !== buildPythonKey(plan, xb.id, src)) return undefined;
  return { base, depsId: depsHave.id, xbuildId: xb.id, buildPythonId: bp.id };
}

export function depsKey(arch: ArchDef, base: BaseImage): string {
  return contentKey({ schema: KEY_SCHEMA, dockerfile: renderDepsDockerfile(arch, base), baseId: base.id, apt: APT_PACKAGES });
}

/** The ARM targets one cross layer serves (both, so the build Python layer is shared between them). */
export const CROSS_TARGETS: readonly ArchDef[] = ARCHES.filter((a) => a.crossGcc);

export function xbuildKey(host: ArchDef, hostDepsId: string): string {
  return contentKey({ schema: KEY_SCHEMA, dockerfile: renderXbuildDockerfile(host, CROSS_TARGETS), depsId: hostDepsId });
}

/** base → deps for the target; for a cross build also base → deps → xbuild on the build machine. */
export async function ensureLayers(engine: Engine, plan: VariantPlan, io: BuildIO, progress: Progress): Promise<Layers> {
  const foreign = plan.arch.name !== plan.host.name;
  progress.phase(foreign ? `base image (${plan.arch.name})` : 'base image');
  const base = await ensureBase(engine, plan.arch, io);
  if (base.origin !== 'local') io.log(`base image ${base.ref}: ${base.origin === 'bootstrapped' ? 'bootstrapped offline with debootstrap' : `pulled ${base.upstream}`}`);
  progress.phase(foreign ? `toolchain layer (${plan.arch.name}, under QEMU)` : 'toolchain layer');
  const depsId = await ensureDeps(engine, plan.arch, base, io);
  if (plan.mode !== 'cross') return { base, depsId };

  progress.phase(`base image (${plan.host.name})`);
  const hostBase = await ensureBase(engine, plan.host, io);
  progress.phase(`toolchain layer (${plan.host.name})`);
  const hostDepsId = await ensureDeps(engine, plan.host, hostBase, io);
  progress.phase('cross toolchain layer');
  const xbuildId = await ensureXbuild(engine, plan.host, hostDepsId, io);
  return { base, depsId, xbuildId };
}

async function ensureDeps(engine: Engine, arch: ArchDef, base: BaseImage, io: BuildIO): Promise<string> {
  const key = depsKey(arch, base);
  return ensureSharedLayer(engine, io, {
    ref: depsRef(arch), key, dir: `deps-${arch.name}`, what: 'toolchain layer', platform: arch.platform,
    dockerfile: renderDepsDockerfile(arch, base),
    message: `building the shared toolchain layer ${depsRef(arch)} (apt: gcc, valgrind, gdb, -dev libraries)${arch.binfmt ? ' under QEMU' : ''}`,
    labels: { [LABEL.kind]: 'deps', [LABEL.key]: key, [LABEL.arch]: arch.name, [LABEL.baseImage]: base.id },
  });
}

async function ensureXbuild(engine: Engine, host: ArchDef, hostDepsId: string, io: BuildIO): Promise<string> {
  const key = xbuildKey(host, hostDepsId);
  return ensureSharedLayer(engine, io, {
    ref: xbuildRef(host), key, dir: `xbuild-${host.name}`, what: 'cross toolchain layer', platform: host.platform,
    dockerfile: renderXbuildDockerfile(host, CROSS_TARGETS),
    message: `building the cross toolchain layer ${xbuildRef(host)} (${CROSS_TARGETS.map((t) => t.crossGcc).join(', ')}, target -dev libraries)`,
    labels: { [LABEL.kind]: 'xbuild', [LABEL.key]: key, [LABEL.arch]: host.name, [LABEL.depsImage]: hostDepsId },
  });
}

export function buildPythonKey(plan: VariantPlan, xbuildId: string, src: ContextSource): string {
  return contentKey({ schema: KEY_SCHEMA, dockerfile: renderBuildPythonDockerfile(plan.host, plan.version, src), xbuildId, sourceSha: src.sha256 });
}

/** The build Python of this source on the build machine: built once, shared by every variant and ARM target. */
export async function ensureBuildPython(engine: Engine, plan: VariantPlan, xbuildId: string, src: MaterialSource, io: BuildIO): Promise<string> {
  const csrc: ContextSource = { kind: src.kind, name: src.name, sha256: src.sha256 };
  const key = buildPythonKey(plan, xbuildId, csrc);
  const ref = buildPythonRef(plan.host, plan.version, src.sha256);
  return ensureSharedLayer(engine, io, {
    ref, key, dir: buildPythonDir(plan.host, plan.version, src.sha256), what: 'build Python', platform: plan.host.platform,
    dockerfile: renderBuildPythonDockerfile(plan.host, plan.version, csrc),
    source: { kind: src.kind, path: src.path, name: src.name },
    networkMode: 'none',
    message: `building ${ref}: CPython ${plan.version.text} for the build machine (configure --with-build-python), once for every variant and ARM target of this source`,
    labels: {
      [LABEL.kind]: 'buildpython', [LABEL.key]: key, [LABEL.arch]: plan.host.name, [LABEL.python]: plan.version.text,
      [LABEL.sourceSha]: src.sha256, [LABEL.sourceOrigin]: src.origin, [LABEL.xbuildImage]: xbuildId,
    },
  });
}

/** A shared layer (toolchain, cross toolchain, build Python): reused while its key label matches, else built. */
async function ensureSharedLayer(
  engine: Engine,
  io: BuildIO,
  l: {
    ref: string; key: string; dir: string; what: string; platform: string; dockerfile: string; message: string; labels: Record<string, string>;
    source?: { kind: 'tarball' | 'tree'; path: string; name: string };
    networkMode?: string;
  },
): Promise<string> {
  const have = await engine.inspectImage(l.ref);
  if (have && have.labels[LABEL.key] === l.key) return have.id;
  const dir = join(buildsDir(), l.dir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), l.dockerfile);
  if (l.source) {
    await mkdir(join(dir, 'src'), { recursive: true });
    await symlink(l.source.path, join(dir, 'src', l.source.kind === 'tree' ? 'tree' : l.source.name));
  }
  io.log(l.message);
  return runBuild(engine, {
    context: packDir(dir),
    tag: l.ref,
    platform: l.platform,
    networkMode: l.networkMode ?? 'host', // apt needs the network; host networking works where the bridge does not
    labels: { ...l.labels, [LABEL.pydbgVersion]: PYDBG_VERSION },
  }, io, l.what);
}

