/**
 * An offline wheelhouse for build tools a project needs (no PyPI here): wheels built from release
 * sources in Debian's pool, with pydbg itself (`pydbg run --rw` in the suite's 3.13 debug image:
 * setuptools + wheel offline), cached next to the pool's files. What a team without PyPI access
 * would do with `pip wheel` on a machine that has the sources.
 */
import { chmod, copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { pydbg } from './helpers.js';
import { unpack, type PoolFile } from './pool.js';

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
