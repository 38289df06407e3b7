/**
 * An offline wheelhouse for build tools a project needs (no PyPI here): wheels built from release
 * sources in Debian's pool, with pydbg itself (`pydbg run --rw` in the suite's 3.13 debug image:
 * setuptools + wheel offline), cached next to the pool's files. What a team without PyPI access
 * would do with `pip wheel` on a machine that has the sources.
 */
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pydbg, ROOT } from './helpers.js';
import { poolFile, unpack, type PoolFile } from './pool.js';

const CACHE = () => join(process.env.PYDBG_TEST_CACHE ?? join(homedir(), '.cache', 'pydbg-test', 'pool'), '..', 'wheels');

export const CYTHON: PoolFile & { wheel: RegExp } = {
  path: 'pool/main/c/cython/cython_3.1.6+dfsg.orig.tar.xz',
  sha256: '9de56310c9a51b1de840ae817899cd287d72e8b9a42da529044fbfd7334fa77c',
  wheel: /^[Cc]ython-3\.1\.6-py3-none-any\.whl$/,
};

/**
 * Cython as a pure-Python wheel (NO_CYTHON_COMPILE: Cython runs uncompiled, a few times slower), for
 * `python_packages: [Cython]` with `wheelhouse:`. Built once per machine; returns its path.
 */
export async function cythonWheel(): Promise<string> {
  const dir = CACHE();
  const have = (await readdir(dir).catch(() => [] as string[])).find((f) => CYTHON.wheel.test(f));
  if (have) return join(dir, have);
  const tree = await unpack(CYTHON, 'pydbg-wheel-cython-');
  try {
    // build nothing before the command: the command is the build
    await writeFile(join(tree, 'pydbg.yaml'), 'build:\n  kind: none\nenv:\n  NO_CYTHON_COMPILE: "true"\n');
    await mkdir(join(tree, 'dist'));
    await chmod(join(tree, 'dist'), 0o777);
    await chmod(tree, 0o777); // setuptools writes build/ and *.egg-info next to setup.py
    const r = await pydbg(['run', '--python', '3.13', '--variant', 'debug', '--rw', '-C', tree, '--', 'python', '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-w', 'dist', '.']);
    const built = (await readdir(join(tree, 'dist'))).filter((f) => f.endsWith('.whl'));
    if (r.exitCode !== 0 || built.length !== 1) throw new Error(`building the Cython wheel exited ${r.exitCode} (${built.join(', ') || 'no wheel'}):\n${r.all}`);
    await mkdir(dir, { recursive: true });
    if (!CYTHON.wheel.test(built[0]!)) throw new Error(`pip wheel built ${built[0]}, not a pure-Python Cython 3.1.6 wheel`);
    const tmp = join(dir, `.${built[0]}.part-${process.pid}`);
    await copyFile(join(tree, 'dist', built[0]!), tmp);
    await rename(tmp, join(dir, built[0]!));
    return join(dir, built[0]!);
  } finally {
    await rm(dirname(tree), { recursive: true, force: true });
  }
}

/** meson-python and what it needs, from Debian's binary packages (trixie; their release sources are not reachable here). */
const MESON_DEBS: Array<PoolFile & { name: string; version: string; items: string[]; entry?: string }> = [
  { path: 'pool/main/m/meson-python/python3-mesonpy_0.17.1-1_all.deb', sha256: '2a1a39d83a562bf61562c44f5e97b02472723a67592c393fbb656a9a9ef59e16', name: 'meson-python', version: '0.17.1', items: ['mesonpy'] },
  { path: 'pool/main/m/meson/meson_1.7.0-1_all.deb', sha256: 'e92d04e60e784336883d537755d09b7dcb856809fa318a0931df3898e84ded95', name: 'meson', version: '1.7.0', items: ['mesonbuild'], entry: 'meson=mesonbuild.mesonmain:main' },
  { path: 'pool/main/p/pyproject-metadata/python3-pyproject-metadata_0.9.1-1_all.deb', sha256: 'c0f24a52d09f7b3cc3b80413c71c382b2c42a33dba961bad70fe9238d12c99c5', name: 'pyproject-metadata', version: '0.9.1', items: ['pyproject_metadata'] },
  { path: 'pool/main/p/python-packaging/python3-packaging_25.0-1_all.deb', sha256: 'd70c8469f6e9c6105e1ebcd3ebdc963f11dadbeddd89d2d1a2a3cb1c97d2ecbc', name: 'packaging', version: '25.0', items: ['packaging'] },
];

export const MESON_PACKAGES = MESON_DEBS.map((d) => d.name);

/** pytest and what it needs, from Debian's binary packages (trixie). */
const PYTEST_DEBS: typeof MESON_DEBS = [
  { path: 'pool/main/p/pytest/python3-pytest_8.3.5-2_all.deb', sha256: 'f933f7b38d1fd2c140684a44fecc7aa23cd6d08364604384c14c4cc21de8f8f9', name: 'pytest', version: '8.3.5', items: ['pytest', '_pytest', 'py.py'], entry: 'pytest=pytest:console_main' },
  { path: 'pool/main/p/python-pluggy/python3-pluggy_1.5.0-1_all.deb', sha256: 'd762a370c7c54046d991b3caa9095facbee5c54792e306b5f9e32455326f82bc', name: 'pluggy', version: '1.5.0', items: ['pluggy'] },
  { path: 'pool/main/p/python-iniconfig/python3-iniconfig_1.1.1-2_all.deb', sha256: 'c9226a32a78fa93f9e993a4ed77fcb3ceb23c21b9d75d7ea4dc77cb016ed0d83', name: 'iniconfig', version: '1.1.1', items: ['iniconfig'] },
  MESON_DEBS[3]!, // packaging
];

export const PYTEST_PACKAGES = PYTEST_DEBS.map((d) => d.name);

export const pytestWheels = () => debWheels('pytest', PYTEST_DEBS);

/** meson-python, meson, pyproject-metadata and packaging as wheels (debWheels). */
export const mesonWheels = () => debWheels('meson', MESON_DEBS);

/**
 * Pure-Python wheels made from the files Debian's packages install
 * (test/fixtures/wheelhouse/deb2wheel.py), cached per set; returns their paths.
 */
async function debWheels(set: string, debs: typeof MESON_DEBS): Promise<string[]> {
  const dir = join(CACHE(), set);
  const want = (d: (typeof debs)[number]) => `${d.name.replace(/-/g, '_')}-${d.version}-py3-none-any.whl`;
  const have = await readdir(dir).catch(() => [] as string[]);
  if (debs.every((d) => have.includes(want(d)))) return debs.map((d) => join(dir, want(d)));
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), `pydbg-wheel-${set}-`));
  try {
    for (const d of debs) {
      const deb = await poolFile(d);
      const x = join(tmp, d.name);
      await execa('dpkg-deb', ['-x', deb, x]);
      const args = [join(ROOT, 'test', 'fixtures', 'wheelhouse', 'deb2wheel.py'), dir, join(x, 'usr', 'lib', 'python3', 'dist-packages'), d.name, d.version, ...d.items.flatMap((i) => ['--item', i]), ...(d.entry ? ['--entry', d.entry] : [])];
      await execa('python3', args);
    }
    return debs.map((d) => join(dir, want(d)));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A temporary copy of a project with these wheels in its wheelhouse/ and this pydbg.yaml (the caller removes it). */
export async function withWheelhouse(project: string, wheels: string[], pydbgYaml: string, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await cp(project, dir, { recursive: true });
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'wheelhouse'));
  for (const w of wheels) await copyFile(w, join(dir, 'wheelhouse', basename(w)));
  await writeFile(join(dir, 'pydbg.yaml'), pydbgYaml);
  return dir;
}
