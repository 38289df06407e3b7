/**
 * Which copy of the user's package the command imports. pydbg builds the extension in a copy of the
 * project (BUILD_DIR: in place, or pip-installed into site-packages) and runs the command in
 * PROJECT_MOUNT, the project itself; Python puts the script's directory (or the cwd) first on
 * sys.path, so a package at the project root (`mypkg/__init__.py` + `mypkg/_speedups.c`) would be
 * imported from the sources, without its compiled module. So:
 *
 * - at build time, after the build, images/run/pydbg_manifest.py records what the build produced
 *   (BUILD_MANIFEST): each top-level name holding a compiled module, with the directory it is to be
 *   imported from (the build copy, its src/, a package_dir root like Lib/, site-packages);
 * - at run time, IMPORT_SITE (images/run/site) is first on PYTHONPATH: its sitecustomize.py puts a
 *   finder first on sys.meta_path that imports exactly those names from there, whatever sys.path
 *   says, and prints a `pydbg: note:` line when it cannot guarantee it.
 *
 * Pure, apart from reading the manifest script (a file of this package) once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, helper, PROJECT_MOUNT, RUN_HELPERS } from '../container/layout.js';
import type { ExtensionBuild } from './detect.js';

/** written by the extension build, read by IMPORT_SITE's sitecustomize.py (which assumes BUILD_DIR is next to it) */
export const BUILD_MANIFEST = '/pydbg/manifest.json';
/** touched before the build: what pip installs into site-packages is newer */
export const BUILD_STAMP = '/pydbg/build.stamp';
/** on PYTHONPATH in every run of a project with an extension */
export const IMPORT_SITE = helper('site');
/** `from pydbg_checkpoint import checkpoint` (images/run/checkpoint): on every run's PYTHONPATH, last */
export const CHECKPOINT_DIR = helper('checkpoint');

const HEREDOC = 'PYDBG_MANIFEST_EOF';
let manifestSource: string | undefined;

/** images/run/pydbg_manifest.py, embedded in the build script (so a change to it rebuilds). */
export function manifestScript(): string {
  manifestSource ??= readFileSync(join(RUN_HELPERS, 'pydbg_manifest.py'), 'utf8').trimEnd();
  if (manifestSource.split('\n').includes(HEREDOC)) throw new Error(`pydbg_manifest.py contains the line ${HEREDOC}`);
  return manifestSource;
}

/** Kinds that build in the copy itself (their import roots go on sys.path) rather than pip-installing it. */
export const buildsInPlace = (b: ExtensionBuild) => b.kind === 'command' || b.kind === 'sources' || b.kind === 'setup.py';

/**
 * The build script's last lines: record what the build produced. A failure does not fail the build:
 * the run then says it has no manifest and searches BUILD_DIR and BUILD_DIR/src after the script's
 * directory (what pydbg did before the manifest).
 */
export function recordBuildLines(b: ExtensionBuild): string[] {
  const args = [BUILD_MANIFEST, BUILD_DIR, PROJECT_MOUNT, BUILD_STAMP, b.kind, buildsInPlace(b) ? '1' : '0'];
  return [
    `cd ${BUILD_DIR}`,
    `python - ${args.map((a) => `'${a}'`).join(' ')} <<'${HEREDOC}' || echo "pydbg: could not record what the build produced (${BUILD_MANIFEST})" >&2`,
    manifestScript(),
    HEREDOC,
  ];
}

/**
 * PYTHONPATH of a run: IMPORT_SITE first, then whatever pydbg.yaml or -e set (it adds to pydbg's,
 * rather than replacing it). Without an extension there is nothing to redirect: the user's value.
 */
export function runPythonPath(ext: ExtensionBuild, user: string | undefined): string {
  const rest = user ? user.split(':').filter((p) => p !== IMPORT_SITE && p !== CHECKPOINT_DIR) : [];
  // pydbg_checkpoint is importable in every run; last, so it never shadows a module of the user's
  return [...(ext.kind === 'none' ? [] : [IMPORT_SITE]), ...rest, CHECKPOINT_DIR].join(':');
}
