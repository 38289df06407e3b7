import { createHash } from 'node:crypto';
import { resolveArch, type ArchDef } from '../catalogue/arch.js';
import { parseVariantList, resolveVariant, type VariantSpec } from '../catalogue/variants.js';
import { parseVersion, resolveRelease, resolveVersionOnly, type PyVersion } from '../catalogue/versions.js';
import { usageError } from '../errors.js';
import type { SourceSpec } from '../sources/fetch.js';

export interface PlanInput {
  variant: string | string[];
  python?: string;
  arch?: string;
  configureArgs?: string[];
  cflags?: string[];
  /** --source PATH: a tarball or a CPython checkout */
  sourcePath?: string;
  sourceIsDir?: boolean;
  /** version read from the checkout's patchlevel.h, when --source is a tree */
  treeVersion?: string;
  sourceUrl?: string;
  sha256?: string;
  pip?: 'offline' | 'pypi';
  wheelhouse?: string;
}

export interface BuildPlan {
  arch: ArchDef;
  version: PyVersion;
  source: SourceSpec;
  spec: VariantSpec;
  pip: 'offline' | 'pypi';
  wheelhouse?: string;
  /** repository:tag of the image */
  image: string;
  /** the command that reproduces this plan, shown in the Dockerfile header */
  command: string;
}

export const IMAGE_REPO = 'pydbg/cpython';

/** Pure: turn command-line/config input into a build plan, or a one-line error. */
export function planBuild(input: PlanInput): BuildPlan {
  const arch = resolveArch(input.arch);
  let version: PyVersion;
  let source: SourceSpec;
  if (input.sourcePath) {
    if (input.sourceUrl) throw usageError('--source and --source-url are mutually exclusive');
    const given = input.python ?? input.treeVersion;
    if (!given) throw usageError('--source needs --python MAJOR.MINOR.MICRO for a tarball', 'e.g. --python 3.13.5 --source ./Python-3.13.5.tgz');
    version = resolveVersionOnly(given);
    if (input.treeVersion && input.python && /^\d+\.\d+\.\d+$/.test(input.python) && input.python !== input.treeVersion) {
      throw usageError(`--python ${input.python} does not match the checkout, which is ${input.treeVersion}`);
    }
    if (input.treeVersion) version = parseVersion(input.treeVersion);
    source = input.sourceIsDir ? { kind: 'tree', path: input.sourcePath } : { kind: 'tarball', path: input.sourcePath };
  } else if (input.sourceUrl) {
    if (!input.sha256) throw usageError('--source-url needs --sha256', 'pydbg never builds an unverified download');
    if (!input.python) throw usageError('--source-url needs --python MAJOR.MINOR.MICRO');
    version = resolveVersionOnly(input.python);
    source = { kind: 'url', url: input.sourceUrl, sha256: input.sha256.toLowerCase() };
  } else {
    if (input.sha256) throw usageError('--sha256 goes with --source-url');
    const release = resolveRelease(input.python ?? '3.13');
    version = parseVersion(release.version);
    source = { kind: 'release', release };
  }
  const names = parseVariantList(input.variant);
  const pip = input.pip ?? 'offline';
  const spec = resolveVariant(names, version, { configureArgs: input.configureArgs, cflags: input.cflags, pypi: pip === 'pypi' });
  if (spec.expected.pip_install === null) {
    spec.notes.push("offline, 'pip install .' cannot build free-threaded wheels (Debian's wheel 0.38 has no cp313t tags): extensions build with setup.py build_ext; use --pip pypi or a --wheelhouse with a newer wheel for PEP 517 builds");
  }

  // Anything beyond (version, variant, arch) from a pinned release gets a short suffix in the tag,
  // so a custom build never shadows the standard one.
  const extras = {
    configureArgs: input.configureArgs ?? [],
    cflags: input.cflags ?? [],
    source: source.kind === 'release' ? null : source,
    pip,
    wheelhouse: input.wheelhouse ?? null,
  };
  const standard = !extras.configureArgs.length && !extras.cflags.length && !extras.source && pip === 'offline' && !extras.wheelhouse;
  const suffix = standard ? '' : `-x${createHash('sha256').update(JSON.stringify(extras)).digest('hex').slice(0, 8)}`;
  const image = `${IMAGE_REPO}:${version.text}-${spec.slug}-${arch.name}${suffix}`;

  const cmd = ['pydbg env build', `--variant ${names.join(',')}`, `--python ${version.text}`, `--arch ${arch.name}`];
  for (const a of extras.configureArgs) cmd.push(`--configure-arg=${a}`);
  for (const c of extras.cflags) cmd.push(`--cflags='${c}'`);
  if (source.kind === 'tree' || source.kind === 'tarball') cmd.push(`--source ${source.path}`);
  if (source.kind === 'url') cmd.push(`--source-url ${source.url} --sha256 ${source.sha256}`);
  if (pip === 'pypi') cmd.push('--pip pypi');
  if (input.wheelhouse) cmd.push(`--wheelhouse ${input.wheelhouse}`);

  return { arch, version, source, spec, pip, wheelhouse: input.wheelhouse, image, command: cmd.join(' ') };
}
