import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentKey, KEY_SCHEMA } from '../container/key.js';
import type { Engine, ImageInfo } from '../engine/engine.js';
import type { BuildEvent } from '../engine/buildstream.js';
import { ExitCode, PydbgError } from '../errors.js';
import { buildsDir, logsDir } from '../paths.js';
import { APT_PACKAGES, crossConfigSite, expectedJson, imageFile, renderDepsDockerfile, renderVariantDockerfile, renderXbuildDockerfile, renderBuildPythonDockerfile, type ContextSource } from '../render/dockerfile.js';
import { depsRef, baseRef, xbuildRef, buildPythonRef, buildPythonDir } from '../container/refs.js';
import { LABEL, variantLabels, type BaseImage } from '../container/labels.js';
import { ARCHES, archOfEngine, ociArch, type ArchDef } from '../catalogue/arch.js';
import { emulationError, isExecFormatError, requireEmulation } from '../engine/binfmt.js';
import { declaredSha256, materialiseSource, sha256File, sha256Tree, sourceFileName, type MaterialSource } from './sources.js';
import { PYDBG_VERSION } from '../version.js';
import { splitRef } from '../container/refs.js';
import { ensureBase, presentBase } from './base.js';
import { packDir, PROBE_FILES, stageVariantContext } from './context.js';
import type { BuildPlan } from '../project/plan.js';
import { runBuild, type BuildIO } from './image-build.js';

export interface Progress {
  log(msg: string): void;
  phase(name: string): void;
  event(ev: BuildEvent): void;
  output(line: string): void;
}

export interface EnvBuildResult {
  image: string;
  imageId: string;
  cached: boolean;
  key: string;
  base: BaseImage;
  verified: Record<string, unknown>;
  probe?: ProbeReport;
  contextDir: string;
  logPath?: string;
  seconds: number;
}

export interface ProbeReport {
  properties: Record<string, unknown>;
  info: Record<string, unknown>;
  mismatches: unknown[];
}

/** Everything that decides the image's content, without building or downloading anything. */
export async function variantKeyParts(plan: BuildPlan, layers: Pick<Layers, 'depsId' | 'xbuildId' | 'buildPythonId'>) {
  const src = await contextSource(plan);
  const sourceSha = src.sha256;
  const dockerfile = renderVariantDockerfile(plan, src);
  const files: Record<string, string> = {};
  for (const f of PROBE_FILES) files[f] = createHash('sha256').update(await readFile(imageFile(f))).digest('hex');
  files['expected.json'] = createHash('sha256').update(expectedJson(plan)).digest('hex');
  const site = configSiteFor(plan);
  if (site) files['config.site'] = createHash('sha256').update(site).digest('hex');
  const wheelhouse = plan.wheelhouse ? await dirDigest(plan.wheelhouse) : null;
  // (a native amd64 key keeps its old shape: no xbuild field)
  const cross = layers.xbuildId ? { xbuildId: layers.xbuildId, buildPythonId: layers.buildPythonId } : {};
  return { schema: KEY_SCHEMA, pydbg: PYDBG_VERSION, dockerfile, depsId: layers.depsId, ...cross, sourceSha, files, wheelhouse, platform: plan.arch.platform };
}

/** The configure answers a cross build needs (written to pydbg/config.site in the context). */
export function configSiteFor(plan: BuildPlan): string | undefined {
  return plan.mode === 'cross' ? crossConfigSite(plan.version, plan.arch) : undefined;
}

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
async function presentLayers(engine: Engine, plan: BuildPlan): Promise<Layers | undefined> {
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
  const src = await contextSource(plan);
  const bp = await engine.inspectImage(buildPythonRef(plan.host, plan.version, src.sha256));
  if (!bp || bp.labels[LABEL.key] !== buildPythonKey(plan, xb.id, src)) return undefined;
  return { base, depsId: depsHave.id, xbuildId: xb.id, buildPythonId: bp.id };
}

/** How the source appears in the build context: what the Dockerfile names and the key covers. */
export function contextSource(plan: BuildPlan): Promise<ContextSource> {
  // memoised per plan: hashing a local checkout takes a while, and the fast path asks twice
  let p = contextSources.get(plan);
  if (!p) {
    const s = plan.source;
    p = (async () => {
      const sha256 = declaredSha256(s) ?? (s.kind === 'tree' ? await sha256Tree(s.path) : await sha256File((s as { path: string }).path));
      return { kind: s.kind === 'tree' ? 'tree' : 'tarball', name: sourceFileName(s), sha256 } as ContextSource;
    })();
    contextSources.set(plan, p);
  }
  return p;
}
const contextSources = new WeakMap<BuildPlan, Promise<ContextSource>>();

async function dirDigest(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await readdir(dir)).sort()) {
    h.update(`${f}\0`);
    h.update(await readFile(join(dir, f)).catch(() => Buffer.alloc(0)));
  }
  return h.digest('hex');
}

export interface EnvBuildOptions {
  engine: Engine;
  progress: Progress;
  signal: AbortSignal;
  /** rebuild even when a verified image with the same key exists */
  force?: boolean;
}

/**
 * `pydbg env build`: base → shared deps layer → variant image, verified in the image by the probe.
 * A warm request (same key) returns without calling `docker build`.
 */
export async function envBuild(plan: BuildPlan, opts: EnvBuildOptions): Promise<EnvBuildResult> {
  const started = Date.now();
  const { engine, progress, signal } = opts;
  const info = await engine.ping();
  const engineArch = archOfEngine(info.arch);
  if (plan.mode !== 'native' && engineArch?.name !== plan.host.name) {
    throw new PydbgError(ExitCode.ENGINE, `pydbg builds ${plan.arch.name} images from an ${plan.host.name} engine; this engine is ${info.os}/${info.arch}`, {
      hint: engineArch?.name === plan.arch.name ? 'this engine runs the target natively: point DOCKER_HOST at an x86-64 engine, or use an x86-64 machine' : 'point DOCKER_HOST at an x86-64 engine',
    });
  }
  await requireEmulation(plan.arch, info.arch, info.endpoint);

  const slug = plan.image.replace(/^.*:/, '');
  const contextDir = join(buildsDir(), slug);
  let logStream: WriteStream | undefined;
  let logPath: string | undefined;
  const io: BuildIO = {
    signal,
    log: (m) => {
      progress.log(m);
      logStream?.write(`# ${m}\n`);
    },
    output: (line) => {
      progress.output(line);
      logStream?.write(`${line}\n`);
    },
    event: (ev) => {
      if (ev.type === 'step') logStream?.write(`Step ${ev.index}/${ev.total} : ${ev.instruction}\n`);
      progress.event(ev);
    },
    get logPath() {
      return logPath;
    },
  };
  const openLog = async () => {
    if (logStream) return;
    await mkdir(logsDir(), { recursive: true });
    logPath = join(logsDir(), `${slug}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    logStream = createWriteStream(logPath);
  };

  /** A verified image with this key exists: make sure it carries the tag, and report it. */
  const reuse = async (hit: ImageInfo, key: string, base: BaseImage): Promise<EnvBuildResult> => {
    if (!hit.tags.includes(plan.image)) {
      const [repo, tag] = splitRef(plan.image);
      await engine.tag(hit.id, repo, tag);
    }
    return {
      image: plan.image, imageId: hit.id, cached: true, key, base, contextDir, logPath,
      verified: JSON.parse(hit.labels[LABEL.verified] ?? '{}') as Record<string, unknown>,
      probe: await readProbe(contextDir),
      seconds: (Date.now() - started) / 1000,
    };
  };

  try {
    // Fast path first: every input to the key is known locally when base and deps exist.
    const present = opts.force ? undefined : await presentLayers(engine, plan);
    if (present) {
      const key = contentKey(await variantKeyParts(plan, present));
      const hit = await findByKey(engine, key);
      if (hit) return reuse(hit, key, present.base);
    }

    await openLog();
    const layers = await ensureLayers(engine, plan, io, progress);
    const base = layers.base;
    const depsId = layers.depsId;

    progress.phase('source');
    const src: MaterialSource = await materialiseSource(plan.source, { log: io.log, signal });
    io.log(`source ${src.name}: sha256 ${src.sha256} verified (${src.how === 'cache' ? 'cached' : src.how === 'downloaded' ? `downloaded from ${src.origin}` : src.origin})`);
    if (plan.mode === 'cross') {
      progress.phase(`build Python ${plan.version.text} (${plan.host.name})`);
      layers.buildPythonId = await ensureBuildPython(engine, plan, layers.xbuildId!, src, io);
    }

    const key = contentKey(await variantKeyParts(plan, layers));
    const hit = opts.force ? undefined : await findByKey(engine, key);
    if (hit) return reuse(hit, key, base);

    const dockerfile = renderVariantDockerfile(plan, { kind: src.kind, name: src.name, sha256: src.sha256 });
    await stageVariantContext({
      dir: contextDir,
      dockerfile,
      expectedJson: expectedJson(plan),
      // a cross build's source comes with its build Python image
      source: plan.mode === 'cross' ? undefined : { kind: src.kind, path: src.path, name: src.name },
      wheelhouse: plan.wheelhouse,
      configSite: configSiteFor(plan),
    });
    io.log(`Dockerfile: ${join(contextDir, 'Dockerfile')}`);

    progress.phase(`CPython ${plan.version.text} ${plan.spec.variants.join(',')}${plan.arch.name === plan.host.name ? '' : ` ${plan.arch.name} (${plan.mode})`}`);
    let probe: ProbeReport | undefined;
    const output = io.output;
    io.output = (line) => {
      if (line.startsWith('PYDBG-PROBE ')) {
        try {
          probe = JSON.parse(line.slice('PYDBG-PROBE '.length)) as ProbeReport;
        } catch {
          /* reported below as missing */
        }
      }
      output(line);
    };
    const labels = variantLabels({ plan, key, base, depsId, xbuildId: layers.xbuildId, buildPythonId: layers.buildPythonId, sourceSha256: src.sha256, sourceOrigin: src.origin });
    let imageId: string;
    try {
      // Offline by construction unless the user asked for PyPI: the proof covers offline extension builds.
      const networkMode = plan.pip === 'pypi' ? 'host' : 'none';
      // --force rebuilds the variant for real (no builder cache); the shared base and toolchain stay.
      // A cross build has stages of two architectures: the classic builder refuses `COPY --from` a
      // stage of another platform when the request names one, so the stages' FROM lines decide.
      const platform = plan.mode === 'cross' ? undefined : plan.arch.platform;
      imageId = await runBuild(engine, { context: packDir(contextDir), tag: plan.image, labels, platform, networkMode, noCache: opts.force }, io, `CPython ${plan.version.text} ${plan.spec.variants.join(',')}`);
    } catch (e) {
      if (e instanceof PydbgError && isExecFormatError([e.message, ...e.details].join('\n'))) throw emulationError(plan.arch, 'the engine could not run an ARM binary (exec format error)');
      if (e instanceof PydbgError && e.exitCode === ExitCode.BUILD && probe && probe.mismatches.length > 0) {
        throw new PydbgError(ExitCode.VERIFY, `verification failed: the built interpreter is not ${plan.spec.variants.join(',')}`, {
          hint: `no image was tagged; full log: ${logPath}`,
          details: (probe.mismatches as Array<{ property: string; expected: unknown; actual: unknown }>).map(
            (m) => `${m.property}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}`,
          ),
        });
      }
      throw e;
    }
    if (!probe) throw new PydbgError(ExitCode.VERIFY, 'the build succeeded but the probe printed no report', { hint: `full log: ${logPath}` });
    const built = await engine.inspectImage(imageId);
    if (built && built.architecture !== ociArch(plan.arch)) {
      await engine.removeImage(plan.image, { force: true }).catch(() => {});
      throw new PydbgError(ExitCode.VERIFY, `the built image is ${built.os}/${built.architecture}, not ${plan.arch.platform}; its tag was removed`, { hint: `full log: ${logPath}` });
    }
    await writeFile(join(contextDir, 'probe.json'), `${JSON.stringify(probe, null, 2)}\n`);
    return {
      image: plan.image, imageId, cached: false, key, base, contextDir, logPath,
      verified: plan.spec.expected as unknown as Record<string, unknown>, probe,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    if (logStream) await new Promise<void>((r) => logStream!.end(r));
  }
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
async function ensureLayers(engine: Engine, plan: BuildPlan, io: BuildIO, progress: Progress): Promise<Layers> {
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

export function buildPythonKey(plan: BuildPlan, xbuildId: string, src: ContextSource): string {
  return contentKey({ schema: KEY_SCHEMA, dockerfile: renderBuildPythonDockerfile(plan.host, plan.version, src), xbuildId, sourceSha: src.sha256 });
}

/** The build Python of this source on the build machine: built once, shared by every variant and ARM target. */
async function ensureBuildPython(engine: Engine, plan: BuildPlan, xbuildId: string, src: MaterialSource, io: BuildIO): Promise<string> {
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

async function findByKey(engine: Engine, key: string): Promise<ImageInfo | undefined> {
  const found = await engine.findImages({ [LABEL.key]: key });
  return found.find((i) => i.labels[LABEL.kind] === 'variant');
}

async function readProbe(dir: string): Promise<ProbeReport | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'probe.json'), 'utf8')) as ProbeReport;
  } catch {
    return undefined;
  }
}
