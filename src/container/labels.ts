/**
 * Image labels: what pydbg writes on every image it makes (provenance, cache key, kind), and the
 * union of image kinds. Pure.
 */
import { createHash } from 'node:crypto';
import type { VariantPlan } from '../project/plan.js';
import { PYDBG_VERSION } from '../version.js';

export const LABEL = {
  kind: 'io.pydbg.kind',
  key: 'io.pydbg.cache-key',
  image: 'io.pydbg.image',
  project: 'io.pydbg.project',
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
  /** a named run's container (`pydbg run --name`): its name, its command (JSON argv), the project */
  name: 'io.pydbg.name',
  command: 'io.pydbg.command',
  projectDir: 'io.pydbg.project-dir',
} as const;

/** io.pydbg.project of a project's images (extension builds, project packages): its directory, hashed. */
export const projectLabelOf = (projectDir: string) => createHash('sha256').update(projectDir).digest('hex').slice(0, 16);

/** Every kind of image pydbg makes (label io.pydbg.kind), from the user's project down to the base. */
export const IMAGE_KINDS = ['ext', 'runtime', 'variant', 'buildpython', 'xbuild', 'deps', 'base'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];
/** Containers pydbg starts carry a kind too (so a stray one can be found and removed). */
export type ContainerKind = 'run' | 'ext-build';

export interface BaseImage {
  ref: string; // our tag, e.g. pydbg/base:bookworm-amd64
  id: string;
  origin: 'pulled' | 'bootstrapped' | 'local';
  upstream: string; // debian:bookworm-slim
}

export interface ProvenanceInput {
  plan: VariantPlan;
  key: string;
  base: BaseImage;
  depsId: string;
  xbuildId?: string;
  buildPythonId?: string;
  sourceSha256: string;
  sourceOrigin: string;
  /** when the image was made (ISO 8601): org.opencontainers.image.created */
  created?: string;
}

/** The OCI annotation keys registries and their UIs show (beside pydbg's own io.pydbg.* labels). */
export const OCI = {
  created: 'org.opencontainers.image.created',
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  version: 'org.opencontainers.image.version',
  title: 'org.opencontainers.image.title',
  description: 'org.opencontainers.image.description',
  vendor: 'org.opencontainers.image.vendor',
} as const;

/** Provenance labels. `verified` holds the properties the in-image probe asserted (the build fails otherwise). */
export function variantLabels(p: ProvenanceInput): Record<string, string> {
  const { plan } = p;
  return {
    // OCI: what the image is, when it was made, the CPython source it was built from (its URL when
    // downloaded) and that source's revision (its sha256: a release tarball has no VCS revision)
    [OCI.title]: plan.image,
    [OCI.description]: `CPython ${plan.version.text} ${plan.spec.variants.join(',')} for ${plan.arch.platform}, verified by pydbg's probe`,
    [OCI.vendor]: 'pydbg',
    [OCI.version]: plan.version.text,
    [OCI.revision]: `sha256:${p.sourceSha256}`,
    ...(/^https?:\/\//.test(p.sourceOrigin) ? { [OCI.source]: p.sourceOrigin } : {}),
    ...(p.created ? { [OCI.created]: p.created } : {}),
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
