import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentKey, KEY_SCHEMA } from '../cache/key.js';
import type { Engine, ImageInfo } from '../engine/engine.js';
import type { BuildEvent } from '../engine/buildstream.js';
import { ExitCode, PydbgError } from '../errors.js';
import { buildsDir, logsDir } from '../paths.js';
import {
  APT_PACKAGES, depsRef, expectedJson, imageFile, LABEL, renderDepsDockerfile, renderVariantDockerfile,
  variantLabels, baseRef, type BaseImage, type ContextSource,
} from '../render/dockerfile.js';
import { declaredSha256, materialiseSource, sha256File, sha256Tree, sourceFileName, type MaterialSource } from '../sources/fetch.js';
import { PYDBG_VERSION } from '../version.js';
import { ensureBase, presentBase } from './base.js';
import { packDir, PROBE_FILES, stageVariantContext } from './context.js';
import type { BuildPlan } from './plan.js';
import { runBuild, type BuildIO } from './run-build.js';

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
export async function variantKeyParts(plan: BuildPlan, depsId: string) {
  const src = await contextSource(plan);
  const sourceSha = src.sha256;
  const dockerfile = renderVariantDockerfile(plan, src);
  const files: Record<string, string> = {};
  for (const f of PROBE_FILES) files[f] = createHash('sha256').update(await readFile(imageFile(f))).digest('hex');
  files['expected.json'] = createHash('sha256').update(expectedJson(plan)).digest('hex');
  const wheelhouse = plan.wheelhouse ? await dirDigest(plan.wheelhouse) : null;
  return { schema: KEY_SCHEMA, pydbg: PYDBG_VERSION, dockerfile, depsId, sourceSha, files, wheelhouse, platform: plan.arch.platform };
}

/** How the source appears in the build context: what the Dockerfile names and the key covers. */
export async function contextSource(plan: BuildPlan): Promise<ContextSource> {
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
}

/**
 * `pydbg env build`: base → shared deps layer → variant image, verified in the image by the probe.
 * A warm request (same key) returns without calling `docker build`.
 */
export async function envBuild(plan: BuildPlan, opts: EnvBuildOptions): Promise<EnvBuildResult> {
  const started = Date.now();
  const { engine, progress, signal } = opts;
  await engine.ping();

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
    const baseHave = await engine.inspectImage(baseRef(plan.arch));
    const depsHave = await engine.inspectImage(depsRef(plan.arch));
    if (baseHave && depsHave && !opts.force) {
      const base = presentBase(baseHave, plan.arch);
      if (depsHave.labels[LABEL.key] === depsKey(plan, base)) {
        const key = contentKey(await variantKeyParts(plan, depsHave.id));
        const hit = await findByKey(engine, key);
        if (hit) return reuse(hit, key, base);
      }
    }

    await openLog();
    progress.phase('base image');
    const base = await ensureBase(engine, plan.arch, io);
    if (base.origin !== 'local') io.log(`base image ${base.ref}: ${base.origin === 'bootstrapped' ? 'bootstrapped offline with debootstrap' : `pulled ${base.upstream}`}`);

    progress.phase('toolchain layer');
    const depsId = await ensureDeps(engine, plan, base, io);

    const key = contentKey(await variantKeyParts(plan, depsId));
    const hit = opts.force ? undefined : await findByKey(engine, key);
    if (hit) return reuse(hit, key, base);

    progress.phase('source');
    const src: MaterialSource = await materialiseSource(plan.source, { log: io.log, signal });
    io.log(`source ${src.name}: sha256 ${src.sha256} verified (${src.how === 'cache' ? 'cached' : src.how === 'downloaded' ? `downloaded from ${src.origin}` : src.origin})`);

    const dockerfile = renderVariantDockerfile(plan, { kind: src.kind, name: src.name, sha256: src.sha256 });
    await stageVariantContext({
      dir: contextDir,
      dockerfile,
      expectedJson: expectedJson(plan),
      source: { kind: src.kind, path: src.path, name: src.name },
      wheelhouse: plan.wheelhouse,
    });
    io.log(`Dockerfile: ${join(contextDir, 'Dockerfile')}`);

    progress.phase(`CPython ${plan.version.text} ${plan.spec.variants.join(',')}`);
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
    const labels = variantLabels({ plan, key, base, depsId, sourceSha256: src.sha256, sourceOrigin: src.origin });
    let imageId: string;
    try {
      // Offline by construction unless the user asked for PyPI: the proof covers offline extension builds.
      const networkMode = plan.pip === 'pypi' ? 'host' : 'none';
      // --force rebuilds the variant for real (no builder cache); the shared base and toolchain stay.
      imageId = await runBuild(engine, { context: packDir(contextDir), tag: plan.image, labels, platform: plan.arch.platform, networkMode, noCache: opts.force }, io, `CPython ${plan.version.text} ${plan.spec.variants.join(',')}`);
    } catch (e) {
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

export function depsKey(plan: BuildPlan, base: BaseImage): string {
  return contentKey({ schema: KEY_SCHEMA, dockerfile: renderDepsDockerfile(plan.arch, base), baseId: base.id, apt: APT_PACKAGES });
}

async function ensureDeps(engine: Engine, plan: BuildPlan, base: BaseImage, io: BuildIO): Promise<string> {
  const ref = depsRef(plan.arch);
  const key = depsKey(plan, base);
  const have = await engine.inspectImage(ref);
  if (have && have.labels[LABEL.key] === key) return have.id;
  const dir = join(buildsDir(), `deps-${plan.arch.name}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), renderDepsDockerfile(plan.arch, base));
  io.log(`building the shared toolchain layer ${ref} (apt: gcc, valgrind, gdb, -dev libraries)`);
  return runBuild(engine, {
    context: packDir(dir),
    tag: ref,
    platform: plan.arch.platform,
    networkMode: 'host', // apt needs the network; host networking works where the bridge does not
    labels: { [LABEL.kind]: 'deps', [LABEL.key]: key, [LABEL.arch]: plan.arch.name, [LABEL.baseImage]: base.id, [LABEL.pydbgVersion]: PYDBG_VERSION },
  }, io, 'toolchain layer');
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

export function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return [ref.slice(0, i), ref.slice(i + 1)];
}
