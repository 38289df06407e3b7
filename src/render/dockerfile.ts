import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchDef } from '../catalogue/arch.js';
import type { VariantPlan } from '../project/plan.js';
import type { PyVersion } from '../catalogue/versions.js';
import { PACKAGE_ROOT, PYDBG_VERSION } from '../version.js';
import { render, shQuote } from './template.js';
import type { BaseImage } from '../container/labels.js';
import { buildPythonDir, buildPythonRef, depsRef, xbuildRef } from '../container/refs.js';
import { finishArgs } from '../container/protocol.js';

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

function variantVars(plan: VariantPlan, src: ContextSource): Record<string, string> {
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
    finish_args: finishArgs({ uncommentSuppressions: plan.spec.uncommentSuppressions, pip: plan.pip }),
  };
}

function sourceInstruction(src: ContextSource): string {
  return src.kind === 'tarball' ? `ADD src/${src.name} /usr/src/cpython/` : 'COPY src/tree/ /usr/src/cpython/tree/';
}


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
export function renderVariantDockerfile(plan: VariantPlan, src: ContextSource): string {
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
      finish_args: finishArgs({ uncommentSuppressions: plan.spec.uncommentSuppressions, pip: plan.pip, pipPresent: true }),
    },
    'Dockerfile.cross',
  );
}

export function expectedJson(plan: VariantPlan): string {
  return `${JSON.stringify({ expected: plan.spec.expected }, null, 2)}\n`;
}
