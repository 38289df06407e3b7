/**
 * Real project layouts (test/fixtures/projects): `pydbg run -- python repro.py` with repro.py at the
 * project root imports pydbg's build of the extension, although the project directory (/src, the
 * script's directory) comes first on sys.path and holds the package without its compiled module.
 * Each repro.py prints one JSON line saying which implementation ran and where it came from.
 * Images (built by the global setup, test/setup/images.ts): 3.13 debug, 3.11 nopymalloc. Extension
 * builds take 1–10 s each; the file takes well under two minutes on a warm engine.
 */
import { chmod, cp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pydbg, requireEngine, requireImages, ROOT } from './helpers.js';
import { MESON_PACKAGES, mesonWheels, withWheelhouse } from './wheelhouse.js';
import { LABEL, projectLabelOf } from '../../src/container/labels.js';

const FX = join(ROOT, 'test', 'fixtures', 'projects');
const V313 = ['--variant', 'debug', '--python', '3.13'];
const V311 = ['--variant', 'nopymalloc', '--python', '3.11'];
const SO = '[.]cpython-3\\d+d?-x86_64-linux-gnu[.]so';

interface Repro {
  impl: string;
  package?: string;
  compiled?: string;
  c_only?: string;
  add?: number;
  uid?: number;
  path0?: string;
}

/** Run `python SCRIPT` in the project; its stdout's JSON line, and pydbg's stderr. */
async function repro(dir: string, v: string[], script = 'repro.py'): Promise<{ out: Repro; stderr: string }> {
  const r = await pydbg(['run', ...v, '-C', dir, '--', 'python', script]);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.exitCode !== 0 || !line) throw new Error(`pydbg run -C ${dir} -- python ${script} exited ${r.exitCode}:\n${r.all}`);
  return { out: JSON.parse(line) as Repro, stderr: r.stderr };
}

const notes = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('pydbg: note:'));

beforeAll(async () => {
  await requireEngine();
  await requireImages('debug-3.13', 'nopymalloc-3.11');
});

describe('layouts on 3.13 debug: the compiled module is imported from the build', () => {
  it('flat package (mypkg/ at the root, pure-Python fallback in __init__.py): /src/mypkg does not shadow the build', async () => {
    const { out, stderr } = await repro(join(FX, 'flat'), V313);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', add: 5, package: '/pydbg/build/mypkg/__init__.py', path0: '/src' });
    expect(out.compiled).toMatch(new RegExp(`^/pydbg/build/mypkg/_speedups${SO}$`));
    expect(notes(stderr)).toEqual([]);
  });

  it('src/ layout (package_dir={"": "src"})', async () => {
    const { out, stderr } = await repro(join(FX, 'src-layout'), V313);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', package: '/pydbg/build/src/mypkg/__init__.py' });
    expect(out.compiled).toMatch(new RegExp(`^/pydbg/build/src/mypkg/_speedups${SO}$`));
    expect(notes(stderr)).toEqual([]);
  });

  it("python-ldap's layout (package_dir={'': 'Lib'}, a top-level _mylib the package imports): Lib/ is on the path", async () => {
    const { out, stderr } = await repro(join(FX, 'lib-dir'), V313);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', package: '/pydbg/build/Lib/mylib/__init__.py' });
    expect(out.compiled).toMatch(new RegExp(`^/pydbg/build/Lib/_mylib${SO}$`));
    expect(notes(stderr)).toEqual([]);
  });

  it('pyproject.toml only (setuptools backend, no setup.py): the site-packages install wins over /src/mypkg', async () => {
    const { out, stderr } = await repro(join(FX, 'pyproject'), V313);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', package: '/opt/python/lib/python3.13/site-packages/mypkg/__init__.py' });
    expect(out.compiled).toMatch(new RegExp(`^/opt/python/lib/python3[.]13/site-packages/mypkg/_speedups${SO}$`));
    expect(notes(stderr)).toEqual([]);
  });

  it('a single top-level module: the compiled fastmod, not the pure fastmod.py next to repro.py', async () => {
    const { out, stderr } = await repro(join(FX, 'single-module'), V313);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled' });
    expect(out.compiled).toMatch(new RegExp(`^/pydbg/build/fastmod${SO}$`));
    expect(notes(stderr)).toEqual([]);
  });

  it('a package directory of mode 0700 (root-owned project, run as 1000:1000): the build copy is readable', async () => {
    // a fixed path: a later run supersedes this project's older build (pydbg labels builds by path)
    const dir = join(tmpdir(), 'pydbg-real-projects-private');
    await rm(dir, { recursive: true, force: true });
    await cp(join(FX, 'flat'), dir, { recursive: true });
    // its own tree (its own build): the cache key covers contents, not modes
    await writeFile(join(dir, 'PRIVATE.txt'), 'this copy of flat/ has mypkg/ at mode 0700\n');
    for (const f of await readdir(join(dir, 'mypkg'))) await chmod(join(dir, 'mypkg', f), 0o600);
    await chmod(join(dir, 'mypkg'), 0o700);
    await chmod(dir, 0o755);
    try {
      const { out } = await repro(dir, V313);
      expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', package: '/pydbg/build/mypkg/__init__.py' });
      // pydbg runs a root-owned, world-readable project as 1000:1000; as its owner otherwise
      if (process.getuid?.() === 0) expect(out.uid).toBe(1000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('notes: pydbg says which copy was imported when it cannot guarantee the build', () => {
  it('a compiled module that builds but cannot load (undefined symbol): the package falls back, and pydbg says why', async () => {
    const { out, stderr } = await repro(join(FX, 'flat'), V313, 'fallback.py');
    expect(out).toMatchObject({ impl: 'python', package: '/pydbg/build/mypkg/__init__.py' });
    expect(notes(stderr)).toEqual([expect.stringMatching(/^pydbg: note: compiled module mypkg\._broken .*failed to import: .*undefined symbol: pydbg_fixture_missing_symbol; its package may fall back to pure Python$/)]);
  });

  it('the package imported from /src by file location: its compiled submodule still comes from the build, with one note naming the copy', async () => {
    const { out, stderr } = await repro(join(FX, 'flat'), V313, 'shadow.py');
    expect(out).toMatchObject({ impl: 'c', package: '/src/mypkg/__init__.py' });
    expect(out.compiled).toMatch(new RegExp(`^/pydbg/build/mypkg/_speedups${SO}$`));
    expect(notes(stderr)).toEqual([
      "pydbg: note: mypkg was imported from /src/mypkg/__init__.py, not from pydbg's build in /pydbg/build; its compiled mypkg._speedups is loaded from the build",
    ]);
  });
});

describe('layouts on 3.11 nopymalloc', () => {
  it('flat package', async () => {
    const { out, stderr } = await repro(join(FX, 'flat'), V311);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', package: '/pydbg/build/mypkg/__init__.py' });
    expect(out.compiled).toMatch(new RegExp(`^/pydbg/build/mypkg/_speedups${SO}$`));
    expect(notes(stderr)).toEqual([]);
  });

  it('pyproject.toml only: site-packages', async () => {
    const { out } = await repro(join(FX, 'pyproject'), V311);
    expect(out).toMatchObject({ impl: 'c', c_only: 'compiled', package: '/opt/python/lib/python3.11/site-packages/mypkg/__init__.py' });
    expect(out.compiled).toMatch(new RegExp(`^/opt/python/lib/python3[.]11/site-packages/mypkg/_speedups${SO}$`));
  });
});

describe('meson-python, offline with a wheelhouse', () => {
  it('pyproject.toml (build-backend mesonpy) + meson.build: built by meson-python from the wheelhouse, imported from site-packages', async () => {
    const dir = await withWheelhouse(join(FX, 'meson'), await mesonWheels(), `system_packages: [ninja-build]\npython_packages: [${MESON_PACKAGES.join(', ')}]\nwheelhouse: wheelhouse\n`, 'pydbg-meson-');
    // a tree no earlier run has built: this run must build it (a warm engine keeps extension builds)
    await writeFile(join(dir, 'build-nonce.txt'), `${process.pid}-${Date.now()}\n`);
    const engine = await requireEngine();
    try {
      const r = await pydbg(['run', ...V313, '-C', dir, '--', 'python', '-c', 'import mypkg, mypkg._speedups as s; print(s.__file__)']);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stdout.trim()).toMatch(new RegExp(`^/opt/python/lib/python3[.]13/site-packages/mypkg/_speedups${SO}$`));
      expect(r.stderr).toContain('building the extension (pyproject)');
    } finally {
      for (const img of await engine.findImages({ [LABEL.project]: projectLabelOf(dir) })) await engine.removeImage(img.id, { force: true }).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a build backend the image lacks', () => {
  it("meson-python (pyproject.toml's build-backend mesonpy) without it in python_packages: refused before pip, naming what to add (exit 11)", async () => {
    const r = await pydbg(['run', ...V313, '-C', join(FX, 'meson'), '--', 'python', '-c', 'import mypkg']);
    expect(r.exitCode).toBe(11);
    expect(r.stderr).toMatch(/^ +\| pydbg: the build backend mesonpy \(pyproject\.toml's build-system\.build-backend\) is not installed in the image \(No module named 'mesonpy'\): add what build-system\.requires names \(meson-python\) to python_packages in pydbg\.yaml \(offline: with a wheelhouse\)$/m);
    expect(r.stderr).toContain('hint: the build ran \'pyproject\' in a copy of the project at /pydbg/build; the backend is a build requirement: list it in python_packages (with a wheelhouse offline), as the line above says');
  });
});
