import type { PydbgConfig } from './config.js';
import { BUILD_DIR, PROJECT_MOUNT } from '../container/layout.js';
import { ExitCode, PydbgError } from '../errors.js';
import { BUILD_STAMP, recordBuildLines } from './imports.js';

/** How the user's extension is built inside the variant. */
export type ExtensionBuild =
  | { kind: 'none'; reason: string }
  | { kind: 'setup.py' | 'pyproject' | 'meson'; marker: string }
  | { kind: 'command'; command: string }
  | { kind: 'sources'; sources: string[]; module: string; libraries: string[]; includeDirs: string[] };

const MARKERS = { 'setup.py': 'setup.py', pyproject: 'pyproject.toml', meson: 'meson.build' } as const;

function notFound(message: string, hint: string) {
  return new PydbgError(ExitCode.NO_EXTENSION, message, { hint });
}

/**
 * Pure: decide from the project's files and pydbg.yaml how to build the extension. A directory with
 * nothing to build is normal (CPython itself, an installed package): kind 'none'. Only an extension
 * the user configured and that cannot be found is an error.
 */
export function detectBuild(has: (relPath: string) => boolean, config: PydbgConfig, configPath = 'pydbg.yaml'): ExtensionBuild {
  const b = config.build ?? {};
  const kind = b.kind ?? (b.command ? 'command' : b.sources ? 'sources' : 'auto');
  switch (kind) {
    case 'none':
      return { kind: 'none', reason: `build.kind is 'none' in ${configPath}` };
    case 'setup.py':
    case 'pyproject':
    case 'meson': {
      const marker = MARKERS[kind];
      if (!has(marker)) throw notFound(`${configPath} says build.kind '${kind}' but there is no ${marker} in the project`, `add ${marker}, or change build.kind`);
      return { kind, marker };
    }
    case 'command':
      if (!b.command) throw new PydbgError(ExitCode.CONFIG, `${configPath}: build.command: required when build.kind is 'command'`, { hint: "e.g. command: 'make -C ext && pip install --no-deps .'" });
      return { kind: 'command', command: b.command };
    case 'sources': {
      if (!b.sources?.length) throw new PydbgError(ExitCode.CONFIG, `${configPath}: build.sources: required when build.kind is 'sources'`, { hint: 'list the C files, e.g. sources: [src/mod.c] with module: mod' });
      if (!b.module) throw new PydbgError(ExitCode.CONFIG, `${configPath}: build.module: required with build.sources (the extension module's name)`, { hint: 'the name passed to PyInit_<name>' });
      const missing = b.sources.filter((s) => !has(s));
      if (missing.length) throw notFound(`${configPath}: build.sources lists files that do not exist: ${missing.join(', ')}`, 'paths are relative to the project directory');
      return { kind: 'sources', sources: b.sources, module: b.module, libraries: b.libraries ?? [], includeDirs: b.include_dirs ?? [] };
    }
    default: {
      // pyproject.toml first: PEP 517 says the build backend decides, even when a setup.py exists
      for (const k of ['pyproject', 'setup.py', 'meson'] as const) if (has(MARKERS[k])) return { kind: k, marker: MARKERS[k] };
      return { kind: 'none', reason: 'no setup.py, pyproject.toml or meson.build: running the command as is' };
    }
  }
}


/** Default flags for the extension: exact lines in gdb and Valgrind. */
export const DEFAULT_EXT_CFLAGS = '-g -O0 -fno-omit-frame-pointer';

/**
 * The shell script that builds the extension in the container: in a copy of the project at
 * BUILD_DIR, then it records what the build produced for the run's imports (imports.ts). Pure.
 */
export function extBuildScript(build: ExtensionBuild, py2: boolean): string {
  if (build.kind === 'none') return 'true';
  const copy = [
    'set -eu',
    `mkdir -p ${BUILD_DIR}`,
    `cd ${PROJECT_MOUNT}`,
    `tar -cf - --exclude=./.git --exclude=./build --exclude=./.pydbg --exclude='*.o' --exclude='*.so' --exclude=__pycache__ . | tar -xf - -C ${BUILD_DIR}`,
    // the copy must be readable by whichever user runs it (the project dir may be 0700 and root's)
    `chmod -R u+rwX,go+rX ${BUILD_DIR}`,
    `cd ${BUILD_DIR}`,
    `touch ${BUILD_STAMP}`,
    'export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore',
  ];
  const pip = py2
    ? 'python setup.py install'
    : 'python -m pip install --no-deps --no-build-isolation --no-index .';
  const steps = ((): string[] => {
    switch (build.kind) {
      case 'setup.py':
        // the classic in-place loop, in the copy
        return ['python setup.py build_ext --inplace'];
      case 'pyproject':
        return py2 ? ['python -m pip install --no-deps .'] : [BACKEND_CHECK, pip];
      case 'meson':
        return [
          `python -c 'import mesonpy' 2>/dev/null || { echo "pydbg: meson-python is not installed in the image: add meson-python and ninja to python_packages in pydbg.yaml" >&2; exit 3; }`,
          pip,
        ];
      case 'command':
        return [build.command];
      case 'sources': {
        const setup = [
          'from setuptools import setup, Extension',
          `setup(name=${JSON.stringify(build.module)}, version="0", ext_modules=[Extension(${JSON.stringify(build.module)}, ${JSON.stringify(build.sources)}, libraries=${JSON.stringify(build.libraries)}, include_dirs=${JSON.stringify(build.includeDirs)})])`,
        ].join('\n');
        return [`cat > .pydbg_setup.py <<'PYDBG_EOF'\n${setup}\nPYDBG_EOF`, 'python .pydbg_setup.py build_ext --inplace'];
      }
    }
  })();
  // what the build writes must be readable by a non-root run too (a umask, a Makefile's modes)
  return [...copy, ...steps, ...recordBuildLines(build), `chmod -R go+rX ${BUILD_DIR} 2>/dev/null || true`].join('\n');
}

/**
 * Cython sources without their generated C (a checkout; release sdists usually ship the C) and no
 * Cython among python_packages: many setup.py files then skip the extension and the package runs
 * its pure-Python fallback, or the build fails far from the cause. Pure: `pyx` lists the project's
 * .pyx files (relative), `has` says whether a file exists.
 */
export function uncompiledCythonNote(build: ExtensionBuild, pyx: readonly string[], has: (rel: string) => boolean, pythonPackages: readonly string[]): string | undefined {
  if (build.kind === 'none' || build.kind === 'command' || build.kind === 'sources') return undefined;
  if (pythonPackages.some((p) => /^cython\b/i.test(p.trim()))) return undefined;
  const bare = pyx.filter((f) => !has(f.replace(/\.pyx$/, '.c')) && !has(f.replace(/\.pyx$/, '.cpp')));
  if (!bare.length) return undefined;
  const more = bare.length > 1 ? ` (and ${bare.length - 1} more)` : '';
  return `${bare[0]}${more} has no generated C and Cython is not in python_packages: it cannot be compiled (its package may fall back to pure Python); add Cython to python_packages in pydbg.yaml (offline: with a wheelhouse)`;
}

/**
 * Before `pip install --no-build-isolation`: the backend pyproject.toml names must import in the
 * image (pip would fail with a BackendUnavailable traceback). Says which requirement to add. 3.11+
 * reads the file with tomllib; older interpreters skip the check.
 */
const BACKEND_CHECK = `python - <<'PYDBG_EOF' || exit 3
import importlib, sys
try:
    import tomllib
except ImportError:
    sys.exit(0)
with open('pyproject.toml', 'rb') as f:
    bs = tomllib.load(f).get('build-system', {})
backend = bs.get('build-backend')
if not backend:
    sys.exit(0)
sys.path[:0] = bs.get('backend-path', [])
try:
    importlib.import_module(backend.split(':')[0])
except ImportError as e:
    sys.stderr.write("pydbg: the build backend %s (pyproject.toml's build-system.build-backend) is not installed in the image (%s): add what build-system.requires names (%s) to python_packages in pydbg.yaml (offline: with a wheelhouse)\\n" % (backend, e, ', '.join(bs.get('requires', [])) or 'nothing'))
    sys.exit(1)
PYDBG_EOF`;
