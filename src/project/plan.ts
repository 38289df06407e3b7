import { createHash } from 'node:crypto';
import { ARCHES, CROSS_MIN_VERSION, resolveTarget, type ArchDef, type BoardDef, type BuildMode } from '../catalogue/arch.js';
import { parseVariantList, resolveVariant, type VariantSpec } from '../catalogue/variants.js';
import { cmpMinor, parsePatchlevel, parseVersion, releaseOf, resolveRelease, resolveVersionOnly, type PyVersion } from '../catalogue/versions.js';
import { catalogueError, usageError } from '../errors.js';
import { variantRef, variantTag } from '../container/refs.js';
import { shQuote } from '../render/template.js';
import type { SourceSpec } from '../provision/sources.js';

export interface PlanInput {
  variant: string | string[];
  python?: string;
  arch?: string;
  /** a board profile: fixes the architecture (and, at run time, the QEMU CPU model) */
  board?: string;
  /** ARM targets: cross (default) or emulated */
  buildMode?: string;
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

export interface VariantPlan {
  arch: ArchDef;
  board?: BoardDef;
  /** the build machine's architecture: pydbg builds on an x86-64 engine */
  host: ArchDef;
  mode: BuildMode;
  version: PyVersion;
  source: SourceSpec;
  spec: VariantSpec;
  pip: 'offline' | 'pypi';
  wheelhouse?: string;
  /** repository:tag of the image */
  image: string;
  /** the command that reproduces this plan, shown in the Dockerfile header: every value shell-quoted, safe to paste */
  command: string;
  /** said before a build (e.g. a checkout newer than the catalogue, built with the newest known rules) */
  warnings: string[];
}


/** A tarball's exact version: --python X.Y.Z, or the upstream file name (Python-X.Y.Z.tgz). Never guessed. */
function exactVersion(python: string | undefined, where: string, flag: string): string {
  const named = /Python-(\d+\.\d+\.\d+)\.t/.exec(where)?.[1];
  if (python && /^\d+\.\d+\.\d+$/.test(python)) {
    if (named && named !== python) throw usageError(`--python ${python} does not match ${where}, which is ${named}`, `drop --python: the file name says the version (${named})`);
    return python;
  }
  if (named) return named;
  throw usageError(`${flag} needs --python MAJOR.MINOR.MICRO: pydbg cannot tell the version of ${where}`, `e.g. --python 3.13.5 ${flag} ${where}`);
}

/** Pure: turn command-line/config input into a build plan, or a one-line error. */
export function planVariant(input: PlanInput): VariantPlan {
  const { arch, board } = resolveTarget({ arch: input.arch, board: input.board });
  const host = ARCHES.find((a) => a.name === 'amd64')!;
  let version: PyVersion;
  let source: SourceSpec;
  if (input.sourcePath) {
    if (input.sourceUrl) throw usageError('--source and --source-url are mutually exclusive', 'give one: a local checkout or tarball (--source), or a download (--source-url with --sha256)');
    if (input.sourceIsDir) {
      if (!input.treeVersion) throw usageError(`${input.sourcePath} has no Include/patchlevel.h to read its version from`, 'is it the top of a CPython checkout?');
      const tree = parsePatchlevel(input.treeVersion);
      // a full --python names the checkout's version (3.13.0 or 3.13.0a1+ for a 3.13.0a1+ tree); another
      // one is a mistake (a bare MAJOR.MINOR is env build's default, not the user's word: not compared)
      const given = input.python?.trim();
      if (given && /^\d+\.\d+\.\d+/.test(given) && given !== tree.text && given !== releaseOf(tree)) {
        throw usageError(`--python ${given} does not match the checkout, which is ${tree.text}`, `drop --python: a checkout's version is read from Include/patchlevel.h`);
      }
      version = resolveVersionOnly(tree);
      source = { kind: 'tree', path: input.sourcePath };
    } else {
      version = resolveVersionOnly(exactVersion(input.python, input.sourcePath, '--source'));
      source = { kind: 'tarball', path: input.sourcePath };
    }
  } else if (input.sourceUrl) {
    if (!input.sha256) throw usageError('--source-url needs --sha256', 'pydbg never builds an unverified download');
    version = resolveVersionOnly(exactVersion(input.python, input.sourceUrl, '--source-url'));
    source = { kind: 'url', url: input.sourceUrl, sha256: input.sha256.toLowerCase() };
  } else {
    if (input.sha256) throw usageError('--sha256 goes with --source-url', 'a pinned release is verified against the catalogue\'s own sha256; pass --source-url URL --sha256 HEX for another tarball');
    const release = resolveRelease(input.python ?? '3.13');
    version = parseVersion(release.version);
    source = { kind: 'release', release };
  }
  const names = parseVariantList(input.variant);
  const mode = buildModeFor(arch, host, version, input.buildMode);
  if (arch.name !== host.name && names.includes('asan')) {
    throw catalogueError(`variant 'asan' is not offered for ${arch.name}: AddressSanitizer's shadow memory is not reliable under QEMU user emulation`, "use 'ubsan', or 'nopymalloc' with 'pydbg check memcheck' (Valgrind works under QEMU)");
  }
  if (arch.name !== host.name && names.includes('tsan')) {
    throw catalogueError(`variant 'tsan' is not offered for ${arch.name}: ThreadSanitizer's fixed shadow-memory layout does not hold under QEMU user emulation`, `build it for ${host.name} (--arch ${host.name}); a data race in C code is usually not architecture-specific`);
  }
  const warnings: string[] = [];
  if (version.rulesOf) {
    warnings.push(`CPython ${version.text} is newer than pydbg's catalogue (newest: ${version.rulesOf}): building it with the ${version.rulesOf} rules; configure or the probe will say if they no longer hold`);
  }
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
  const image = variantRef(variantTag({ version: version.text, slug: spec.slug, arch: arch.name, emulated: mode === 'emulated', suffix }));

  // pasted into a shell: every value quoted (a `$(…)` in a --configure-arg stays literal)
  const q = shQuote;
  const cmd = ['pydbg env build', `--variant ${q(names.join(','))}`, `--python ${q(version.text)}`, `--arch ${arch.name}`];
  if (mode === 'emulated') cmd.push('--build-mode emulated');
  for (const a of extras.configureArgs) cmd.push(q(`--configure-arg=${a}`));
  for (const c of extras.cflags) cmd.push(q(`--cflags=${c}`));
  if (source.kind === 'tree' || source.kind === 'tarball') cmd.push(`--source ${q(source.path)}`);
  if (source.kind === 'url') cmd.push(`--source-url ${q(source.url)} --sha256 ${source.sha256}`);
  if (pip === 'pypi') cmd.push('--pip pypi');
  if (input.wheelhouse) cmd.push(`--wheelhouse ${q(input.wheelhouse)}`);

  return { arch, board, host, mode, version, source, spec, pip, wheelhouse: input.wheelhouse, image, command: cmd.join(' '), warnings };
}

/** native for the engine's own architecture; cross by default for ARM (3.11+), emulated on request. */
export function buildModeFor(arch: ArchDef, host: ArchDef, version: PyVersion, requested: string | undefined): BuildMode {
  if (requested !== undefined && requested !== 'cross' && requested !== 'emulated') {
    throw usageError(`--build-mode must be 'cross' or 'emulated', not ${JSON.stringify(requested)}`, 'e.g. --build-mode emulated');
  }
  if (arch.name === host.name) {
    if (requested) throw usageError(`--build-mode applies to ARM targets; ${arch.name} builds natively`, 'drop --build-mode, or add --arch arm64 / --arch armv7');
    return 'native';
  }
  if (requested === 'emulated') return 'emulated';
  if (cmpMinor(version, CROSS_MIN_VERSION) < 0) {
    throw catalogueError(
      `cross-compiling CPython ${version.major}.${version.minor} for ${arch.name} is not supported: pydbg cross-builds ${CROSS_MIN_VERSION}+ (configure --with-build-python)`,
      `build it under emulation instead: add --build-mode emulated (run, shell, check and env build take it; every build step runs under QEMU, about 30 minutes)`,
    );
  }
  return 'cross';
}
