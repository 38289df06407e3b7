import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchDef } from '../catalogue/arch.js';
import type { BuildPlan } from '../build/plan.js';
import type { PyVersion } from '../catalogue/versions.js';
import { PACKAGE_ROOT, PYDBG_VERSION } from '../version.js';
import { render, shQuote } from './template.js';

export function loadTemplate(name: string): string {
  return readFileSync(join(PACKAGE_ROOT, 'templates', name), 'utf8');
}
export function imageFile(name: string): string {
  return join(PACKAGE_ROOT, 'images', name);
}

/**
 * What every variant image carries: a C toolchain, the -dev libraries CPython's stdlib modules
 * need, Valgrind, gdb, and Debian's setuptools/wheel wheels for offline extension builds.
 */
export const APT_PACKAGES = [
  'gcc', 'g++', 'make', 'pkg-config', 'xz-utils', 'ca-certificates', 'file', 'procps',
  'libssl-dev', 'zlib1g-dev', 'libbz2-dev', 'liblzma-dev', 'libffi-dev', 'libsqlite3-dev',
  'libreadline-dev', 'libncurses-dev', 'uuid-dev', 'libgdbm-dev', 'libgdbm-compat-dev', 'libexpat1-dev',
  'valgrind', 'gdb',
  'python3-setuptools-whl', 'python3-wheel-whl',
] as const;

export const BASE_UPSTREAM = 'debian:bookworm-slim';
export const baseRef = (arch: ArchDef) => `pydbg/base:bookworm-${arch.name}`;
export const depsRef = (arch: ArchDef) => `pydbg/deps:bookworm-${arch.name}`;
/** the cross-compilation layer on the build machine's architecture (one for every ARM target) */
export const xbuildRef = (host: ArchDef) => `pydbg/xbuild:bookworm-${host.name}`;
/** the build machine's CPython of one source (cross builds: --with-build-python), e.g. pydbg/buildpython:3.13.5-93e583f24345-amd64 */
export const buildPythonRef = (host: ArchDef, version: Pick<PyVersion, 'text'>, sourceSha256: string) =>
  `pydbg/buildpython:${buildPythonTag(host, version, sourceSha256)}`;
const buildPythonTag = (host: ArchDef, version: Pick<PyVersion, 'text'>, sourceSha256: string) =>
  `${version.text}-${sourceSha256.slice(0, 12)}-${host.name}`;

/** The targets' -dev libraries, installed as :<debian arch> (multiarch) in the cross layer. */
export const CROSS_DEV_PACKAGES = [
  'libssl-dev', 'zlib1g-dev', 'libbz2-dev', 'liblzma-dev', 'libffi-dev', 'libsqlite3-dev',
  'libreadline-dev', 'libncurses-dev', 'uuid-dev', 'libgdbm-dev', 'libgdbm-compat-dev', 'libexpat1-dev',
] as const;

export function crossAptPackages(targets: readonly ArchDef[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    if (t.crossGcc) out.push(t.crossGcc);
  }
  for (const t of targets) out.push(...CROSS_DEV_PACKAGES.map((p) => `${p}:${t.debianArch}`));
  return out;
}

export function renderXbuildDockerfile(host: ArchDef, targets: readonly ArchDef[]): string {
  return render(
    loadTemplate('Dockerfile.xbuild'),
    {
      pydbg_version: PYDBG_VERSION,
      host_arch: host.name,
      deps_image: depsRef(host),
      add_architectures: targets.map((t) => `dpkg --add-architecture ${t.debianArch}`).join(' \\\n && '),
      apt_packages: crossAptPackages(targets).join(' \\\n      '),
      triplets: targets.map((t) => t.triplet).join(' '),
    },
    'Dockerfile.xbuild',
  );
}

/**
 * The answers configure cannot get by running a test program on the build machine. Without them a
 * cross build "works" but degrades: FNV instead of SipHash (aligned_required), no time.tzset, a
 * buggy-getaddrinfo fallback, no computed gotos, no pty support. Each answer is what configure
 * finds when it runs natively on Debian bookworm arm64 (checked: the pyconfig.h of a native
 * configure under QEMU and of the cross configure differ only in USE_COMPUTED_GOTOS, which the
 * cross build sets explicitly with --with-computed-gotos).
 */
export function crossConfigSite(version: Pick<PyVersion, 'major' | 'minor'>, arch: ArchDef): string {
  const answers: Array<[string, string, string]> = [
    ['ac_cv_buggy_getaddrinfo', 'no', 'glibc getaddrinfo is correct'],
    ['ac_cv_file__dev_ptmx', 'yes', 'Linux has /dev/ptmx (pty.openpty, os.openpty)'],
    ['ac_cv_file__dev_ptc', 'no', 'no AIX /dev/ptc'],
    ['ac_cv_aligned_required', 'no', 'unaligned loads are fine: keeps SipHash (FNV otherwise)'],
    ['ac_cv_working_tzset', 'yes', 'glibc tzset works: keeps time.tzset'],
    ['ac_cv_broken_sem_getvalue', 'no', 'glibc sem_getvalue works'],
    ['ac_cv_computed_gotos', 'yes', 'gcc supports computed gotos'],
    ['ac_cv_have_chflags', 'no', 'Linux has no chflags'],
    ['ac_cv_have_lchflags', 'no', 'Linux has no lchflags'],
    ['ac_cv_pthread_system_supported', 'yes', 'PTHREAD_SCOPE_SYSTEM works (PTHREAD_SYSTEM_SCHED_SUPPORTED)'],
    ['ac_cv_wchar_t_signed', 'no', `wchar_t is unsigned on ${arch.name}: keeps HAVE_USABLE_WCHAR_T`],
  ];
  if (version.major === 2) {
    answers.push(['ac_cv_little_endian_double', 'yes', `${arch.name} doubles are little-endian IEEE 754`]);
  }
  const lines = [`# pydbg ${PYDBG_VERSION}: configure answers for cross-compiling CPython ${version.major}.${version.minor} to ${arch.triplet}`];
  for (const [k, v, why] of answers) lines.push(`# ${why}`, `${k}=${v}`);
  return `${lines.join('\n')}\n`;
}

export interface BaseImage {
  ref: string; // our tag, e.g. pydbg/base:bookworm-amd64
  id: string;
  origin: 'pulled' | 'bootstrapped' | 'local';
  upstream: string; // debian:bookworm-slim
}

export function renderDepsDockerfile(arch: ArchDef, base: Pick<BaseImage, 'ref' | 'origin' | 'upstream'>): string {
  return render(
    loadTemplate('Dockerfile.deps'),
    {
      pydbg_version: PYDBG_VERSION,
      arch: arch.name,
      base_ref: base.upstream,
      base_origin: base.origin === 'bootstrapped' ? 'bootstrapped offline with debootstrap' : base.origin === 'pulled' ? 'pulled from a registry' : 'found locally',
      base_ref_local: base.ref,
      apt_packages: [...APT_PACKAGES, ...(arch.aptExtra ?? [])].join(' \\\n      '),
    },
    'Dockerfile.deps',
  );
}

export interface ContextSource {
  kind: 'tarball' | 'tree';
  name: string;
  sha256: string;
}

function variantVars(plan: BuildPlan, src: ContextSource): Record<string, string> {
  const env: Record<string, string> = {
    PYDBG_PYTHON: plan.version.text,
    PYDBG_VARIANT: plan.spec.variants.join(','),
    ...plan.spec.env,
  };
  const cflags = plan.spec.cflags.join(' ');
  return {
    pydbg_version: PYDBG_VERSION,
    python_version: plan.version.text,
    variant: plan.spec.variants.join(','),
    arch: plan.arch.name,
    platform: plan.arch.platform,
    regen_command: plan.command.replace(/^pydbg env build/, 'pydbg env dockerfile'),
    deps_image: depsRef(plan.arch),
    source_sha256: src.sha256,
    source_instruction: sourceInstruction(src),
    variant_env: Object.entries(env)
      .map(([k, v]) => `${k}=${shQuote(v)}`)
      .join(' '),
    configure_args: [...plan.spec.configureArgs.map(shQuote), ...(cflags ? [`CFLAGS=${shQuote(cflags)}`] : [])]
      .map((a) => ` ${a}`)
      .join(''),
    finish_args: `${plan.spec.uncommentSuppressions ? 1 : 0} ${plan.pip}`,
  };
}

function sourceInstruction(src: ContextSource): string {
  return src.kind === 'tarball' ? `ADD src/${src.name} /usr/src/cpython/` : 'COPY src/tree/ /usr/src/cpython/tree/';
}

/** where the build Python image's context is staged (under the builds directory) */
export const buildPythonDir = (host: ArchDef, version: Pick<PyVersion, 'text'>, sourceSha256: string) =>
  `buildpython-${buildPythonTag(host, version, sourceSha256)}`;

/** The build Python image of one source: the cross toolchain layer + the source + a release build of it. */
export function renderBuildPythonDockerfile(host: ArchDef, version: Pick<PyVersion, 'text'>, src: ContextSource): string {
  return render(
    loadTemplate('Dockerfile.buildpython'),
    {
      pydbg_version: PYDBG_VERSION,
      python_version: version.text,
      host_arch: host.name,
      xbuild_image: xbuildRef(host),
      source_sha256: src.sha256,
      source_instruction: sourceInstruction(src),
    },
    'Dockerfile.buildpython',
  );
}

/** The variant's Dockerfile: native (and --build-mode emulated) builds, or the two-stage cross build. */
export function renderVariantDockerfile(plan: BuildPlan, src: ContextSource): string {
  if (plan.mode !== 'cross') {
    const build_note = plan.mode === 'emulated'
      ? `Emulated build (--build-mode emulated): every step runs under QEMU on a ${plan.host.name} engine.`
      : 'Native build.';
    return render(loadTemplate('Dockerfile.variant'), { ...variantVars(plan, src), build_note }, 'Dockerfile.variant');
  }
  const vars = variantVars(plan, src);
  return render(
    loadTemplate('Dockerfile.cross'),
    {
      ...vars,
      host_arch: plan.host.name,
      host_platform: plan.host.platform,
      host_triplet: plan.host.triplet,
      triplet: plan.arch.triplet,
      buildpython_image: buildPythonRef(plan.host, plan.version, src.sha256),
      buildpython_dockerfile: `builds/${buildPythonDir(plan.host, plan.version, src.sha256)}/Dockerfile in pydbg's cache`,
      pip: plan.pip,
      // pip, setuptools and wheel come from stage 1 (crosspip.sh)
      finish_args: `${vars.finish_args} present`,
    },
    'Dockerfile.cross',
  );
}

export function expectedJson(plan: BuildPlan): string {
  return `${JSON.stringify({ expected: plan.spec.expected }, null, 2)}\n`;
}

export const LABEL = {
  kind: 'io.pydbg.kind',
  key: 'io.pydbg.cache-key',
  image: 'io.pydbg.image',
  python: 'io.pydbg.python',
  variant: 'io.pydbg.variant',
  arch: 'io.pydbg.arch',
  sourceSha: 'io.pydbg.source.sha256',
  sourceOrigin: 'io.pydbg.source.origin',
  configureArgs: 'io.pydbg.configure-args',
  cflags: 'io.pydbg.cflags',
  env: 'io.pydbg.env',
  pip: 'io.pydbg.pip',
  baseImage: 'io.pydbg.base.id',
  baseOrigin: 'io.pydbg.base.origin',
  baseRef: 'io.pydbg.base.ref',
  depsImage: 'io.pydbg.deps.id',
  xbuildImage: 'io.pydbg.xbuild.id',
  buildPython: 'io.pydbg.buildpython.id',
  buildMode: 'io.pydbg.build-mode',
  platform: 'io.pydbg.platform',
  pydbgVersion: 'io.pydbg.pydbg-version',
  verified: 'io.pydbg.verified',
} as const;

export interface ProvenanceInput {
  plan: BuildPlan;
  key: string;
  base: BaseImage;
  depsId: string;
  xbuildId?: string;
  buildPythonId?: string;
  sourceSha256: string;
  sourceOrigin: string;
}

/** Provenance labels. `verified` holds the properties the in-image probe asserted (the build fails otherwise). */
export function variantLabels(p: ProvenanceInput): Record<string, string> {
  const { plan } = p;
  return {
    [LABEL.kind]: 'variant',
    [LABEL.key]: p.key,
    [LABEL.image]: plan.image,
    [LABEL.python]: plan.version.text,
    [LABEL.variant]: plan.spec.variants.join(','),
    [LABEL.arch]: plan.arch.name,
    [LABEL.sourceSha]: p.sourceSha256,
    [LABEL.sourceOrigin]: p.sourceOrigin,
    [LABEL.configureArgs]: JSON.stringify(plan.spec.configureArgs),
    [LABEL.cflags]: JSON.stringify(plan.spec.cflags),
    [LABEL.env]: JSON.stringify(plan.spec.env),
    [LABEL.pip]: plan.wheelhouse ? `${plan.pip}+wheelhouse` : plan.pip,
    [LABEL.baseImage]: p.base.id,
    [LABEL.baseOrigin]: p.base.origin,
    [LABEL.baseRef]: p.base.upstream,
    [LABEL.depsImage]: p.depsId,
    ...(p.xbuildId ? { [LABEL.xbuildImage]: p.xbuildId } : {}),
    ...(p.buildPythonId ? { [LABEL.buildPython]: p.buildPythonId } : {}),
    [LABEL.buildMode]: plan.mode === 'native' ? 'native' : `${plan.mode} (on ${plan.host.name})`,
    [LABEL.platform]: plan.arch.platform,
    [LABEL.pydbgVersion]: PYDBG_VERSION,
    [LABEL.verified]: JSON.stringify(plan.spec.expected),
  };
}
