import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchDef } from '../catalogue/arch.js';
import type { BuildPlan } from '../build/plan.js';
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
      apt_packages: APT_PACKAGES.join(' \\\n      '),
    },
    'Dockerfile.deps',
  );
}

export interface ContextSource {
  kind: 'tarball' | 'tree';
  name: string;
  sha256: string;
}

export function renderVariantDockerfile(plan: BuildPlan, src: ContextSource): string {
  const env: Record<string, string> = {
    PYDBG_PYTHON: plan.version.text,
    PYDBG_VARIANT: plan.spec.variants.join(','),
    ...plan.spec.env,
  };
  const cflags = plan.spec.cflags.join(' ');
  return render(
    loadTemplate('Dockerfile.variant'),
    {
      pydbg_version: PYDBG_VERSION,
      python_version: plan.version.text,
      variant: plan.spec.variants.join(','),
      arch: plan.arch.name,
      regen_command: plan.command.replace(/^pydbg env build/, 'pydbg env dockerfile'),
      deps_image: depsRef(plan.arch),
      source_sha256: src.sha256,
      source_instruction:
        src.kind === 'tarball' ? `ADD src/${src.name} /usr/src/cpython/` : 'COPY src/tree/ /usr/src/cpython/tree/',
      variant_env: Object.entries(env)
        .map(([k, v]) => `${k}=${shQuote(v)}`)
        .join(' '),
      configure_args: [...plan.spec.configureArgs.map(shQuote), ...(cflags ? [`CFLAGS=${shQuote(cflags)}`] : [])]
        .map((a) => ` ${a}`)
        .join(''),
      finish_args: `${plan.spec.uncommentSuppressions ? 1 : 0} ${plan.pip}`,
    },
    'Dockerfile.variant',
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
  pydbgVersion: 'io.pydbg.pydbg-version',
  verified: 'io.pydbg.verified',
} as const;

export interface ProvenanceInput {
  plan: BuildPlan;
  key: string;
  base: BaseImage;
  depsId: string;
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
    [LABEL.pydbgVersion]: PYDBG_VERSION,
    [LABEL.verified]: JSON.stringify(plan.spec.expected),
  };
}
