import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ociArch, type ArchDef } from '../catalogue/arch.js';
import type { Engine, ImageInfo } from '../engine/engine.js';
import { ExitCode, PydbgError } from '../errors.js';
import { BASE_UPSTREAM, baseRef } from '../container/refs.js';
import { LABEL, type BaseImage } from '../container/labels.js';
import { loadTemplate } from '../render/dockerfile.js';
import { render } from '../render/template.js';
import { PYDBG_VERSION } from '../version.js';
import { packDir } from './context.js';
import { runBuild, type BuildIO } from './image-build.js';

export const DEBIAN_MIRROR = () => process.env.PYDBG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/**
 * The base image: debian:bookworm-slim pulled when a registry answers; otherwise the same suite
 * bootstrapped offline (debootstrap → FROM scratch + rootfs). Either way it is tagged
 * pydbg/base:bookworm-<arch> and labelled with where it came from; pydbg says which it did.
 */
export async function ensureBase(engine: Engine, arch: ArchDef, io: BuildIO): Promise<BaseImage> {
  const have = await engine.inspectImage(baseRef(arch));
  if (have) return presentBase(have, arch);

  let pullError: string;
  try {
    io.log(`pulling ${BASE_UPSTREAM} (${arch.platform})`);
    await engine.pull(BASE_UPSTREAM, arch.platform, io.signal);
    return await adopt(engine, arch, 'pulled', io);
  } catch (e) {
    if (io.signal.aborted) throw e;
    pullError = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  }
  const local = await engine.inspectImage(BASE_UPSTREAM);
  if (local && local.architecture === ociArch(arch)) {
    io.log(`registry unreachable (${pullError}); using the local ${BASE_UPSTREAM}`);
    return adopt(engine, arch, 'local', io);
  }
  io.log(`registry unreachable (${pullError}); bootstrapping ${BASE_UPSTREAM} offline with debootstrap`);
  return bootstrap(engine, arch, io);
}

/** The base image as it already stands on the engine (its labels say where it came from). */
export function presentBase(have: ImageInfo, arch: ArchDef): BaseImage {
  return { ref: baseRef(arch), id: have.id, origin: (have.labels[LABEL.baseOrigin] as BaseImage['origin']) ?? 'local', upstream: BASE_UPSTREAM };
}

async function adopt(engine: Engine, arch: ArchDef, origin: 'pulled' | 'local', io: BuildIO): Promise<BaseImage> {
  const dir = await mkdtemp(join(tmpdir(), 'pydbg-base-'));
  try {
    await writeFile(join(dir, 'Dockerfile'), `FROM ${BASE_UPSTREAM}\n`);
    const id = await runBuild(engine, {
      context: packDir(dir),
      tag: baseRef(arch),
      platform: arch.platform,
      labels: { [LABEL.kind]: 'base', [LABEL.baseOrigin]: origin, [LABEL.baseRef]: BASE_UPSTREAM, [LABEL.pydbgVersion]: PYDBG_VERSION },
    }, io, 'base image');
    return { ref: baseRef(arch), id, origin, upstream: BASE_UPSTREAM };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function bootstrap(engine: Engine, arch: ArchDef, io: BuildIO): Promise<BaseImage> {
  if (process.getuid?.() !== 0) {
    throw new PydbgError(ExitCode.BASE_IMAGE, `cannot pull ${BASE_UPSTREAM} and cannot bootstrap it: debootstrap needs root`, {
      hint: `run once as root, or load the image yourself (docker load -i debian-bookworm-slim.tar)`,
    });
  }
  const { execa } = await import('execa'); // only here: keeps every other command's start-up short
  const which = await execa('debootstrap', ['--version'], { reject: false });
  if (which.exitCode !== 0) {
    throw new PydbgError(ExitCode.BASE_IMAGE, `cannot pull ${BASE_UPSTREAM} and debootstrap is not installed`, {
      hint: 'install it (apt-get install debootstrap), or load the image yourself (docker load -i debian-bookworm-slim.tar)',
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'pydbg-bootstrap-'));
  const rootfs = join(dir, 'rootfs');
  const mirror = DEBIAN_MIRROR();
  try {
    const started = Date.now();
    io.log(`debootstrap --variant=minbase --arch=${arch.debianArch} bookworm (${mirror})`);
    const sub = execa('debootstrap', ['--variant=minbase', `--arch=${arch.debianArch}`, 'bookworm', rootfs, mirror], {
      cancelSignal: io.signal,
      all: true,
      reject: false,
    });
    for await (const line of sub.iterable({ from: 'all' })) io.output(String(line));
    const res = await sub;
    if (io.signal.aborted) throw io.signal.reason ?? new Error('aborted');
    if (res.exitCode !== 0) {
      throw new PydbgError(ExitCode.BASE_IMAGE, `debootstrap failed (exit ${res.exitCode})`, {
        hint: `check that ${mirror} is reachable (PYDBG_DEBIAN_MIRROR overrides it)`,
        details: String(res.all ?? '').split('\n').slice(-30),
      });
    }
    await execa('tar', ['-C', rootfs, '--numeric-owner', '-cf', join(dir, 'rootfs.tar'), '.']);
    await rm(rootfs, { recursive: true, force: true });
    await writeFile(
      join(dir, 'Dockerfile'),
      render(loadTemplate('Dockerfile.bootstrap'), {
        pydbg_version: PYDBG_VERSION,
        debian_arch: arch.debianArch,
        suite: 'bookworm',
        mirror,
        upstream_ref: BASE_UPSTREAM,
      }, 'Dockerfile.bootstrap'),
    );
    const id = await runBuild(engine, {
      context: packDir(dir),
      tag: baseRef(arch),
      platform: arch.platform,
      labels: { [LABEL.kind]: 'base', [LABEL.baseOrigin]: 'bootstrapped', [LABEL.baseRef]: BASE_UPSTREAM, 'io.pydbg.base.mirror': mirror, [LABEL.pydbgVersion]: PYDBG_VERSION },
    }, io, 'base image');
    io.log(`bootstrapped ${baseRef(arch)} in ${Math.round((Date.now() - started) / 1000)} s`);
    return { ref: baseRef(arch), id, origin: 'bootstrapped', upstream: BASE_UPSTREAM };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
