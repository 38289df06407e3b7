import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentKey, KEY_SCHEMA } from '../container/key.js';
import type { Engine, ImageInfo } from '../engine/engine.js';
import type { BuildEvent } from '../engine/buildstream.js';
import { ExitCode, PydbgError } from '../errors.js';
import { buildsDir, logsDir } from '../paths.js';
import { crossConfigSite, expectedJson, imageFile, renderVariantDockerfile, type ContextSource } from '../render/dockerfile.js';
import { LABEL, variantLabels, type BaseImage } from '../container/labels.js';
import { parseProbeLine, type ProbeReport } from '../container/protocol.js';
import { archOfEngine, ociArch } from '../catalogue/arch.js';
import { emulationError, isExecFormatError, requireEmulation } from '../engine/binfmt.js';
import { declaredSha256, materialiseSource, sha256File, sha256Tree, sourceFileName, type MaterialSource } from './sources.js';
import { ensureBuildPython, ensureLayers, presentLayers, type Layers } from './layers.js';
import { findCached } from './images.js';
import { PYDBG_VERSION } from '../version.js';
import { splitRef } from '../container/refs.js';
import { packDir, PROBE_FILES, stageVariantContext } from './context.js';
import type { VariantPlan } from '../project/plan.js';
import { runBuild, type BuildIO } from './image-build.js';
import { describeEstimate, estimateBuild } from './estimate.js';
import { runProbe } from './probe-run.js';
import { openRegistry, pullVariant, pushVariant, RegistryMiss, type PushOutcome, type RegistryOptions } from './registry.js';

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
  /** what the registry gave or took (with --registry) */
  registry?: RegistryResult;
}

export interface RegistryResult {
  prefix: string;
  /** refs pulled, in order, and what was checked in the pulled image */
  pulled?: string[];
  checked?: string[];
  /** why the registry could not give the image (then it was built or reused locally) */
  miss?: string;
  pushed?: PushOutcome['pushed'];
  /** where the credentials came from (never the credentials) */
  credentials: string;
}

export type { ProbeReport } from '../container/protocol.js';

/** Everything that decides the image's content, without building or downloading anything. */
export async function variantKeyParts(plan: VariantPlan, layers: Pick<Layers, 'depsId' | 'xbuildId' | 'buildPythonId'>, src: ContextSource) {
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
  // labels: 2 = the OCI annotations beside io.pydbg.* (an image without them is not this image)
  return { schema: KEY_SCHEMA, labels: 2, pydbg: PYDBG_VERSION, dockerfile, depsId: layers.depsId, ...cross, sourceSha, files, wheelhouse, platform: plan.arch.platform };
}

/** The configure answers a cross build needs (written to pydbg/config.site in the context). */
export function configSiteFor(plan: VariantPlan): string | undefined {
  return plan.mode === 'cross' ? crossConfigSite(plan.version, plan.arch) : undefined;
}

/** How the source appears in the build context: what the Dockerfile names and the key covers (hashes a checkout: call once per build). */
export async function contextSource(plan: VariantPlan): Promise<ContextSource> {
  const s = plan.source;
  const sha256 = declaredSha256(s) ?? (s.kind === 'tree' ? await sha256Tree(s.path) : await sha256File((s as { path: string }).path));
  return { kind: s.kind === 'tree' ? 'tree' : 'tarball', name: sourceFileName(s), sha256 };
}

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
  /** --registry: pull by key before building; --push after */
  registry?: RegistryOptions;
}

/**
 * `pydbg env build`: base → shared deps layer → variant image, verified in the image by the probe.
 * A warm request (same key) returns without calling `docker build`.
 */
export async function envBuild(plan: VariantPlan, opts: EnvBuildOptions): Promise<EnvBuildResult> {
  const r = await buildOrFetch(plan, opts);
  if (!opts.registry?.push) return r;
  const reg = await openRegistry(opts.registry);
  const image = await opts.engine.inspectImage(r.imageId);
  if (!image) throw new PydbgError(ExitCode.NOT_FOUND, `${r.image} vanished before its push`, { hint: 'run the command again' });
  opts.progress.phase(`push to ${reg.refs.prefix}`);
  const io = { signal: opts.signal, log: (m: string) => opts.progress.log(m), output: () => {}, event: () => {} };
  const pushed = await pushVariant(opts.engine, reg, image, io);
  return { ...r, registry: { ...(r.registry ?? { prefix: reg.refs.prefix, credentials: reg.authSource }), pushed: pushed.pushed } };
}

async function buildOrFetch(plan: VariantPlan, opts: EnvBuildOptions): Promise<EnvBuildResult> {
  const started = Date.now();
  const { engine, progress, signal } = opts;
  const info = await engine.ping();
  const engineArch = archOfEngine(info.arch);
  // an ARM image is built on an x86-64 engine; an ARM engine can still pull one from a registry and run it
  const cannotBuild = plan.mode !== 'native' && engineArch?.name !== plan.host.name
    ? new PydbgError(ExitCode.ENGINE, `pydbg builds ${plan.arch.name} images from an ${plan.host.name} engine; this engine is ${info.os}/${info.arch}`, {
      hint: engineArch?.name === plan.arch.name ? `this engine runs the target natively: pull the image with --registry (pushed from an x86-64 machine), point DOCKER_HOST at an x86-64 engine, or use an x86-64 machine` : 'point DOCKER_HOST at an x86-64 engine',
    })
    : undefined;
  if (cannotBuild && !(opts.registry && engineArch?.name === plan.arch.name)) throw cannotBuild;
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
    const csrc = await contextSource(plan);
    const present = opts.force ? undefined : await presentLayers(engine, plan, csrc);
    if (present) {
      const key = contentKey(await variantKeyParts(plan, present, csrc));
      const hit = await findByKey(engine, key);
      if (hit) return reuse(hit, key, present.base);
    }

    let registry: RegistryResult | undefined;
    if (opts.registry && !opts.force) {
      const reg = await openRegistry(opts.registry);
      registry = { prefix: reg.refs.prefix, credentials: reg.authSource };
      progress.phase(`pull from ${reg.refs.prefix}`);
      try {
        const p = await pullVariant(engine, reg, plan, csrc, io, opts.registry, async (l) => contentKey(await variantKeyParts(plan, l, csrc)));
        io.log(`${plan.image}: pulled from ${reg.refs.prefix} by its key and checked: ${p.checked.join('; ')}`);
        return { ...(await reuse(p.image, p.key, p.layers.base)), registry: { ...registry, pulled: p.pulled, checked: p.checked } };
      } catch (e) {
        if (!(e instanceof RegistryMiss)) throw e;
        if (opts.registry.pullOnly) {
          throw new PydbgError(ExitCode.REGISTRY, e.message, { hint: e.fault === 'missing' ? `build and push it once: '${plan.command} --registry ${reg.refs.prefix} --push'` : e.fault === 'refused' ? `log in with 'docker login ${reg.refs.prefix.split('/')[0]}'` : 'drop --pull-only to build it locally' });
        }
        registry.miss = e.message;
        io.log(`${e.message}: building locally`);
      }
    }

    if (cannotBuild) throw cannotBuild;
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

    const key = contentKey(await variantKeyParts(plan, layers, { kind: src.kind, name: src.name, sha256: src.sha256 }));
    const hit = opts.force ? undefined : await findByKey(engine, key);
    if (hit) return { ...(await reuse(hit, key, base)), ...(registry ? { registry } : {}) };

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
    // the probe's report arrives as one line of the build output
    let probe: ProbeReport | undefined;
    const variantIo: BuildIO = {
      signal, log: io.log, event: io.event, logPath,
      output: (line) => {
        probe = parseProbeLine(line) ?? probe;
        io.output(line);
      },
    };
    const labels = variantLabels({ plan, key, base, depsId, xbuildId: layers.xbuildId, buildPythonId: layers.buildPythonId, sourceSha256: src.sha256, sourceOrigin: src.origin, created: new Date().toISOString() });
    let imageId: string;
    try {
      // Offline by construction unless the user asked for PyPI: the proof covers offline extension builds.
      const networkMode = plan.pip === 'pypi' ? 'host' : 'none';
      // --force rebuilds the variant for real (no builder cache); the shared base and toolchain stay.
      // A cross build has stages of two architectures: the classic builder refuses `COPY --from` a
      // stage of another platform when the request names one, so the stages' FROM lines decide.
      const platform = plan.mode === 'cross' ? undefined : plan.arch.platform;
      imageId = await runBuild(engine, { context: packDir(contextDir), tag: plan.image, labels, platform, networkMode, noCache: opts.force }, variantIo, `CPython ${plan.version.text} ${plan.spec.variants.join(',')}`);
    } catch (e) {
      if (e instanceof PydbgError && isExecFormatError([e.message, ...e.details].join('\n'))) throw emulationError(plan.arch, 'the engine could not run an ARM binary (exec format error)');
      if (e instanceof PydbgError && e.exitCode === ExitCode.BUILD && probe && probe.mismatches.length > 0) {
        throw new PydbgError(ExitCode.VERIFY, `verification failed: the built interpreter is not ${plan.spec.variants.join(',')}`, {
          hint: `no image was tagged; full log: ${logPath}`,
          details: probe.mismatches.map(
            (m) => `${m.property}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}`,
          ),
        });
      }
      throw e;
    }
    if (!probe) probe = await probeCachedBuild(engine, plan, imageId, io);
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
      ...(registry ? { registry } : {}),
    };
  } finally {
    if (logStream) await new Promise<void>((r) => logStream!.end(r));
  }
}

/**
 * A run's variant image: the tagged one, or built now — with what is missing and about how long it
 * takes said first (like uv fetching an interpreter) — unless the caller says not to build (then
 * exit 13 with the command that builds it).
 */
export async function ensureVariant(plan: VariantPlan, opts: Omit<EnvBuildOptions, 'force'>, build: boolean): Promise<ImageInfo> {
  const have = await opts.engine.inspectImage(plan.image);
  if (have) return have;
  if (!build) {
    throw new PydbgError(ExitCode.NO_IMAGE, `the variant image ${plan.image} does not exist yet`, {
      hint: `build it: '${plan.command}', or run without --no-build (a missing image is then built first)`,
    });
  }
  const { progress } = opts;
  const estimate = await estimateBuild(opts.engine, plan);
  progress.log(`${plan.image} does not exist yet: building it first, ${describeEstimate(estimate, plan)}; later runs reuse it (--no-build refuses instead)`);
  for (const w of plan.warnings) progress.log(`warning: ${w}`);
  for (const n of plan.spec.notes) progress.log(`note: ${n}`);
  const r = await envBuild(plan, opts);
  progress.log(`${r.image} ${r.cached ? 'found by its content key (no build)' : `built and verified in ${Math.round(r.seconds)} s`}; now running`);
  return (await opts.engine.inspectImage(r.image))!;
}

/**
 * Every step, the probe's included, came from the builder's cache (the key changed, the build
 * context did not): the probe printed nothing, so it runs now, in the image. A mismatch untags it.
 */
async function probeCachedBuild(engine: Engine, plan: VariantPlan, imageId: string, io: BuildIO): Promise<ProbeReport> {
  io.log(`every build step was cached: running the verification probe in ${plan.image}`);
  const r = await runProbe(engine, imageId, { fast: false, signal: io.signal });
  if (r.report && r.report.mismatches.length === 0 && r.exitCode === 0) return r.report;
  await engine.removeImage(plan.image, { force: true }).catch(() => {});
  throw new PydbgError(ExitCode.VERIFY, r.report ? `verification failed: the built interpreter is not ${plan.spec.variants.join(',')}` : `the verification probe did not run in ${plan.image} (exit ${r.exitCode}: ${r.lastError})`, {
    hint: `no image was tagged; full log: ${io.logPath}`,
    details: (r.report?.mismatches ?? []).map((m) => `${m.property}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}`),
  });
}

const findByKey = (engine: Engine, key: string) => findCached(engine, 'variant', key);

async function readProbe(dir: string): Promise<ProbeReport | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'probe.json'), 'utf8')) as ProbeReport;
  } catch {
    return undefined;
  }
}
