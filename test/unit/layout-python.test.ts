/**
 * The Python side of pydbg's import redirection, with the host's interpreters (no Docker):
 * images/run/pydbg_manifest.py records what a build produced, images/run/site/sitecustomize.py makes
 * a command run from the project import it. Each case lays out a project and its "build" (a copy
 * with real compiled modules, built with gcc for that interpreter) in a temp dir, the way the build
 * container does, and runs a script from the project directory, as the run container does.
 *
 * Interpreters: PYDBG_TEST_PYTHONS (space-separated; default "python3 python2.7"); one that does not
 * run, or has no headers or gcc to build against, is reported as skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_HELPERS } from '../../src/container/layout.js';

const SITE = join(RUN_HELPERS, 'site');
const QEMU_SITE = join(RUN_HELPERS, 'qemu-site');
const MANIFEST_PY = join(RUN_HELPERS, 'pydbg_manifest.py');

interface Py {
  exe: string;
  major: number;
  version: string;
  include: string;
  suffix: string;
}

const C_MODULE = String.raw`
#include <Python.h>
#define STR2(x) #x
#define STR(x) STR2(x)
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#ifdef BROKEN
extern long pydbg_test_missing_symbol(void);
static PyObject *c_only(PyObject *s, PyObject *u) { return PyLong_FromLong(pydbg_test_missing_symbol()); }
#else
static PyObject *c_only(PyObject *s, PyObject *u) { return Py_BuildValue("s", "compiled"); }
#endif
static PyMethodDef methods[] = {{"c_only", c_only, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, STR(NAME), NULL, -1, methods};
PyMODINIT_FUNC CAT(PyInit_, NAME)(void) {
    PyObject *m = PyModule_Create(&def);
    if (m) PyModule_AddStringConstant(m, "IMPL", "c");
    return m;
}
#else
PyMODINIT_FUNC CAT(init, NAME)(void) {
    PyObject *m = Py_InitModule(STR(NAME), methods);
    if (m) PyModule_AddStringConstant(m, "IMPL", "c");
}
#endif
`;

const WORK = mkdtempSync(join(tmpdir(), 'pydbg-layout-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));
writeFileSync(join(WORK, 'mod.c'), C_MODULE);

function probe(exe: string): Py | string {
  const r = spawnSync(exe, ['-c', 'import sys, sysconfig; print(sys.executable); print(sys.version_info[0]); print("%d.%d" % sys.version_info[:2]); print(sysconfig.get_paths()["include"]); print(sysconfig.get_config_var("EXT_SUFFIX") or sysconfig.get_config_var("SO"))'], { encoding: 'utf8' });
  if (r.status !== 0) return `${exe} does not run${r.stderr ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`;
  // the interpreter itself, not a wrapper (pyenv's shims take 100 ms a start)
  const [real, major, version, include, suffix] = r.stdout.trim().split('\n');
  if (!existsSync(join(include!, 'Python.h'))) return `${exe} ${version}: no Python.h in ${include}`;
  if (spawnSync('gcc', ['--version']).status !== 0) return 'no gcc to build test extensions';
  return { exe: real!, major: Number(major), version: version!, include: include!, suffix: suffix! };
}

const built = new Map<string, string>();
/** A compiled module NAME for py (BROKEN: links, but its import fails with an undefined symbol). */
function compiled(py: Py, name: string, broken = false): string {
  const key = `${py.exe}\0${name}\0${broken}`;
  let out = built.get(key);
  if (!out) {
    out = join(WORK, 'so', String(built.size), `${name}${py.suffix}`);
    mkdirSync(dirname(out), { recursive: true });
    const r = spawnSync('gcc', ['-shared', '-fPIC', '-O0', `-I${py.include}`, `-DNAME=${name}`, ...(broken ? ['-DBROKEN'] : []), join(WORK, 'mod.c'), '-o', out], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gcc for ${py.exe}: ${r.stderr}`);
    built.set(key, out);
  }
  return out;
}

type Files = Record<string, string>;
const write = (root: string, files: Files) => {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
};

/** What the build container does: copy the project to build/, build (place the compiled modules), record. */
function layout(py: Py, project: Files, so: Record<string, { name: string; broken?: boolean }>, o: { kind?: string; manifest?: boolean; python?: string } = {}) {
  const t = mkdtempSync(join(WORK, 't-'));
  const src = join(t, 'src');
  const build = join(t, 'build');
  write(src, project);
  cpSync(src, build, { recursive: true });
  writeFileSync(join(t, 'build.stamp'), '');
  for (const [rel, m] of Object.entries(so)) {
    const dest = join(rel.startsWith('/') ? '' : build, `${rel}${py.suffix}`);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(compiled(py, m.name, m.broken), dest);
  }
  const kind = o.kind ?? 'setup.py';
  let record = '';
  if (o.manifest !== false) {
    const r = spawnSync(o.python ?? py.exe, [MANIFEST_PY, join(t, 'manifest.json'), build, src, join(t, 'build.stamp'), kind, kind === 'pyproject' ? '0' : '1'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pydbg_manifest.py: ${r.stderr}`);
    record = r.stdout;
  }
  return { t, src, build, record, manifest: () => JSON.parse(readFileSync(join(t, 'manifest.json'), 'utf8')) as Manifest };
}

interface Manifest {
  kind: string;
  build: string;
  paths: string[];
  modules: Record<string, string>;
  extensions: Record<string, string>;
}

/** What the run container does: the script from the project directory, pydbg's site directory on PYTHONPATH. */
function run(exe: string, cwd: string, args: string[], env: Record<string, string | undefined> = {}) {
  const base: Record<string, string | undefined> = { ...process.env, PYTHONPATH: undefined, PYDBG_NOTED: undefined, PYTHONDONTWRITEBYTECODE: '1' };
  const r = spawnSync(exe, args, { cwd, encoding: 'utf8', env: Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, json: line ? (JSON.parse(line) as Record<string, unknown>) : undefined };
}
const notes = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('pydbg: note:'));

const PKG_INIT = "try:\n    from mypkg._speedups import IMPL, c_only\nexcept ImportError:\n    IMPL = 'python'\n";
const REPRO = [
  'import json, sys',
  'import mypkg',
  "m = sys.modules.get('mypkg._speedups')",
  "print(json.dumps({'impl': mypkg.IMPL, 'package': mypkg.__file__, 'compiled': getattr(m, '__file__', None), 'c_only': m.c_only() if m else None}))",
].join('\n');
// imports the package from the project directory by path, bypassing sys.path and sys.meta_path
const SHADOW = [
  'import json, os, sys',
  "pkg = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mypkg')",
  'if sys.version_info[0] < 3:',
  '    import imp',
  "    mypkg = imp.load_module('mypkg', None, pkg, ('', '', imp.PKG_DIRECTORY))",
  'else:',
  '    import importlib.util',
  "    spec = importlib.util.spec_from_file_location('mypkg', os.path.join(pkg, '__init__.py'), submodule_search_locations=[pkg])",
  "    mypkg = sys.modules['mypkg'] = importlib.util.module_from_spec(spec)",
  '    spec.loader.exec_module(mypkg)',
  "print(json.dumps({'impl': mypkg.IMPL, 'package': mypkg.__file__, 'compiled': sys.modules['mypkg._speedups'].__file__}))",
].join('\n');
const FLAT: Files = { 'mypkg/__init__.py': PKG_INIT, 'repro.py': REPRO, 'shadow.py': SHADOW, 'setup.py': '' };

const CANDIDATES = (process.env.PYDBG_TEST_PYTHONS ?? 'python3 python2.7').split(/\s+/).filter(Boolean);

for (const exe of CANDIDATES) {
  const py = probe(exe);
  if (typeof py === 'string') {
    // python3 is on every machine CI runs on: there a missing one is a failure, never a skip
    // (python2.7 is optional: Debian no longer ships it)
    if (process.env.CI && exe === 'python3') {
      it(`${exe} is usable in CI`, () => {
        throw new Error(`${exe}: ${py}`);
      });
      continue;
    }
    describe.skip(`${exe}: ${py}`, () => {
      it('skipped', () => {});
    });
    continue;
  }
  const env = (t: string) => ({ PYTHONPATH: SITE, PYDBG_MANIFEST: join(t, 'manifest.json') });

  describe(`${exe} (${py.version}): the command imports the build`, () => {
    it('flat package: the script directory shadows the build without pydbg, not with it', () => {
      const l = layout(py, FLAT, { 'mypkg/_speedups': { name: '_speedups' } });
      expect(l.manifest()).toMatchObject({ kind: 'setup.py', paths: [l.build], modules: { mypkg: l.build }, extensions: { 'mypkg._speedups': join(l.build, `mypkg/_speedups${py.suffix}`) } });
      expect(l.record).toContain(`pydbg: built mypkg._speedups (${l.build}/mypkg/_speedups${py.suffix})`);
      expect(run(py.exe, l.src, ['repro.py']).json).toMatchObject({ impl: 'python', package: join(l.src, 'mypkg/__init__.py') });
      const r = run(py.exe, l.src, ['repro.py'], env(l.t));
      expect(r.json).toEqual({ impl: 'c', package: join(l.build, 'mypkg/__init__.py'), compiled: join(l.build, `mypkg/_speedups${py.suffix}`), c_only: 'compiled' });
      expect(r.stderr).toBe('');
      // python -c and -m (the current directory first) too
      expect(run(py.exe, l.src, ['-c', 'import mypkg; print(mypkg.__file__)'], env(l.t)).stdout.trim()).toBe(join(l.build, 'mypkg/__init__.py'));
    });

    it('a stale compiled module in the project (built on the host) is not the one imported', () => {
      const l = layout(py, { ...FLAT }, { 'mypkg/_speedups': { name: '_speedups' } });
      cpSync(compiled(py, '_speedups', true), join(l.src, `mypkg/_speedups${py.suffix}`));
      expect(run(py.exe, l.src, ['repro.py'], env(l.t)).json).toMatchObject({ impl: 'c', compiled: join(l.build, `mypkg/_speedups${py.suffix}`) });
    });

    it('src/ layout', () => {
      const l = layout(py, { 'src/mypkg/__init__.py': PKG_INIT, 'repro.py': REPRO }, { 'src/mypkg/_speedups': { name: '_speedups' } });
      expect(l.manifest()).toMatchObject({ paths: [l.build, join(l.build, 'src')], modules: { mypkg: join(l.build, 'src') } });
      expect(run(py.exe, l.src, ['repro.py'], env(l.t)).json).toMatchObject({ impl: 'c', package: join(l.build, 'src/mypkg/__init__.py') });
    });

    it("package_dir={'': 'Lib'} with a top-level compiled module (python-ldap): Lib/ goes on sys.path", () => {
      const l = layout(py, { 'Lib/mylib/__init__.py': 'from _mylib import IMPL, c_only\n', 'Modules/_mylib.c': '', 'repro.py': "import json, sys, mylib\nprint(json.dumps({'impl': mylib.IMPL, 'package': mylib.__file__, 'compiled': sys.modules['_mylib'].__file__}))" }, { 'Lib/_mylib': { name: '_mylib' } });
      expect(l.manifest()).toMatchObject({ paths: [l.build, join(l.build, 'Lib')], modules: { _mylib: join(l.build, 'Lib') }, extensions: { _mylib: join(l.build, `Lib/_mylib${py.suffix}`) } });
      expect(run(py.exe, l.src, ['repro.py'], env(l.t)).json).toEqual({ impl: 'c', package: join(l.build, 'Lib/mylib/__init__.py'), compiled: join(l.build, `Lib/_mylib${py.suffix}`) });
    });

    it('a single top-level compiled module next to a pure-Python module of the same name in the project', () => {
      const l = layout(py, { 'fastmod.py': "IMPL = 'python'\n", 'repro.py': "import json, fastmod\nprint(json.dumps({'impl': fastmod.IMPL, 'compiled': fastmod.__file__}))" }, { fastmod: { name: 'fastmod' } });
      expect(l.manifest().modules).toEqual({ fastmod: l.build });
      expect(run(py.exe, l.src, ['repro.py'], env(l.t)).json).toEqual({ impl: 'c', compiled: join(l.build, `fastmod${py.suffix}`) });
    });

    it.runIf(py.major >= 3)('pip install into site-packages (a venv): only what the build installed, imported from there', () => {
      const t = mkdtempSync(join(WORK, 'venv-'));
      expect(spawnSync(py.exe, ['-m', 'venv', '--without-pip', join(t, 'venv')]).status).toBe(0);
      const vpy = join(t, 'venv', 'bin', 'python');
      const site = spawnSync(vpy, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).stdout.trim();
      // an older install is not this build's
      mkdirSync(join(site, 'oldpkg'), { recursive: true });
      cpSync(compiled(py, '_speedups'), join(site, `oldpkg/_speedups${py.suffix}`));
      utimesSync(join(site, `oldpkg/_speedups${py.suffix}`), new Date('2020-01-01'), new Date('2020-01-01'));
      const l = layout(py, { ...FLAT, 'pyproject.toml': '' }, { [`${site}/mypkg/_speedups`]: { name: '_speedups' } }, { kind: 'pyproject', python: vpy, manifest: false });
      writeFileSync(join(site, 'mypkg', '__init__.py'), PKG_INIT);
      expect(spawnSync(vpy, [MANIFEST_PY, join(l.t, 'manifest.json'), l.build, l.src, join(l.t, 'build.stamp'), 'pyproject', '0']).status).toBe(0);
      expect(l.manifest()).toMatchObject({ paths: [], modules: { mypkg: site }, extensions: { 'mypkg._speedups': join(site, `mypkg/_speedups${py.suffix}`) } });
      expect(run(vpy, l.src, ['repro.py'], env(l.t)).json).toMatchObject({ impl: 'c', package: join(site, 'mypkg/__init__.py') });
    });

    it('a namespace package: the name comes from setuptools\' build/lib.*/ tree (without it, from the __init__.py chain)', () => {
      const files = { 'ns/mypkg/__init__.py': "try:\n    from ns.mypkg._speedups import IMPL\nexcept ImportError:\n    IMPL = 'python'\n", 'repro.py': "import json, ns.mypkg\nprint(json.dumps({'impl': ns.mypkg.IMPL, 'package': ns.mypkg.__file__}))" };
      const plain = layout(py, files, { 'ns/mypkg/_speedups': { name: '_speedups' } });
      expect(plain.manifest().extensions).toEqual({ 'mypkg._speedups': join(plain.build, `ns/mypkg/_speedups${py.suffix}`) });
      const l = layout(py, files, { 'ns/mypkg/_speedups': { name: '_speedups' }, 'build/lib.linux-x86_64/ns/mypkg/_speedups': { name: '_speedups' } }, { manifest: false });
      spawnSync(py.exe, [MANIFEST_PY, join(l.t, 'manifest.json'), l.build, l.src, join(l.t, 'build.stamp'), 'setup.py', '1']);
      expect(l.manifest()).toMatchObject({ modules: { ns: l.build }, extensions: { 'ns.mypkg._speedups': join(l.build, `ns/mypkg/_speedups${py.suffix}`) } });
      if (py.major >= 3) expect(run(py.exe, l.src, ['repro.py'], env(l.t)).json).toEqual({ impl: 'c', package: join(l.build, 'ns/mypkg/__init__.py') });
    });
  });

  describe(`${exe} (${py.version}): notes, when pydbg cannot guarantee the build`, () => {
    it('a compiled module that cannot load: the package falls back, one note says why (once for the process and its children)', () => {
      const l = layout(py, { ...FLAT, 'child.py': 'import subprocess, sys\nimport mypkg\nsubprocess.check_call([sys.executable, "repro.py"])\n' }, { 'mypkg/_speedups': { name: '_speedups', broken: true } });
      const r = run(py.exe, l.src, ['child.py'], env(l.t));
      expect(r.json).toMatchObject({ impl: 'python', package: join(l.build, 'mypkg/__init__.py') });
      expect(notes(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^pydbg: note: compiled module mypkg\\._speedups failed to import: .*${py.suffix.replace(/\./g, '\\.')}: undefined symbol: pydbg_test_missing_symbol; its package may fall back to pure Python$`))]);
    });

    it('the package imported from the project by path: its compiled module still comes from the build, and a note names the copy', () => {
      const l = layout(py, FLAT, { 'mypkg/_speedups': { name: '_speedups' } });
      const r = run(py.exe, l.src, ['shadow.py'], env(l.t));
      expect(r.json).toEqual({ impl: 'c', package: join(l.src, 'mypkg/__init__.py'), compiled: join(l.build, `mypkg/_speedups${py.suffix}`) });
      expect(notes(r.stderr)).toEqual([`pydbg: note: mypkg was imported from ${join(l.src, 'mypkg/__init__.py')}, not from pydbg's build in ${l.build}; its compiled mypkg._speedups is loaded from the build`]);
    });

    it('a top-level compiled module imported from the project by path: noted at exit', () => {
      const load = py.major >= 3
        ? "import importlib.util\ns = importlib.util.spec_from_file_location('fastmod', 'fastmod.py')\nm = sys.modules['fastmod'] = importlib.util.module_from_spec(s)\ns.loader.exec_module(m)"
        : "import imp\nimp.load_source('fastmod', 'fastmod.py')";
      const l = layout(py, { 'fastmod.py': "IMPL = 'python'\n", 'repro.py': `import sys\n${load}\nprint(sys.modules['fastmod'].IMPL)` }, { fastmod: { name: 'fastmod' } });
      const r = run(py.exe, l.src, ['repro.py'], env(l.t));
      expect(r.stdout.trim()).toBe('python');
      expect(notes(r.stderr)).toEqual([`pydbg: note: fastmod was imported from ${join(l.src, 'fastmod.py')}, not from pydbg's build in ${l.build} (compiled: fastmod)`]);
    });

    it('no manifest: a note, and the build directories after the script directory (what pydbg did before)', () => {
      const l = layout(py, { ...FLAT, 'src/other/__init__.py': '' }, { 'mypkg/_speedups': { name: '_speedups' } }, { manifest: false });
      const r = run(py.exe, l.src, ['-c', 'import sys, mypkg; print(mypkg.IMPL); print(sys.path[1:3])'], env(l.t));
      expect(r.stdout.split('\n')[0]).toBe('python');
      expect(r.stdout).toContain(`['${l.build}', '${join(l.build, 'src')}']`);
      expect(notes(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^pydbg: note: cannot read the build manifest ${join(l.t, 'manifest.json')} \\(No such file or directory\\): imports search the script directory, then ${l.build} and ${l.build}/src$`))]);
    });

    it('PYDBG_MANIFEST= (empty): no redirection and no note, as Python alone would import', () => {
      const l = layout(py, FLAT, { 'mypkg/_speedups': { name: '_speedups' } });
      const r = run(py.exe, l.src, ['repro.py'], { PYTHONPATH: SITE, PYDBG_MANIFEST: '' });
      expect(r.json).toMatchObject({ impl: 'python', package: join(l.src, 'mypkg/__init__.py') });
      expect(r.stderr).toBe('');
    });

    it('a build that left no compiled module: a note', () => {
      const l = layout(py, FLAT, {}, { kind: 'command' });
      expect(l.manifest()).toMatchObject({ kind: 'command', modules: {}, extensions: {} });
      const r = run(py.exe, l.src, ['repro.py'], env(l.t));
      expect(r.json).toMatchObject({ impl: 'python' });
      expect(notes(r.stderr)).toEqual([`pydbg: note: the build (command) left no compiled module pydbg could find in ${l.build} or site-packages: imports search the script directory first, as usual`]);
    });
  });

  describe(`${exe} (${py.version}): sitecustomize chaining`, () => {
    it('under QEMU (qemu-site first): QEMU_GDB is dropped, the finder works, the next sitecustomize runs, no "Error in sitecustomize"', () => {
      const l = layout(py, FLAT, { 'mypkg/_speedups': { name: '_speedups' } });
      write(join(l.t, 'other'), { 'sitecustomize.py': 'import sys\nsys.stderr.write("other sitecustomize\\n")\n' });
      const script = 'import json, os, sys, mypkg\nprint(json.dumps({"impl": mypkg.IMPL, "qemu_gdb": os.environ.get("QEMU_GDB"), "path": sys.path}))';
      const r = run(py.exe, l.src, ['-c', script], { ...env(l.t), PYTHONPATH: `${QEMU_SITE}:${SITE}:${join(l.t, 'other')}`, QEMU_GDB: '1234' });
      expect(r.json).toMatchObject({ impl: 'c', qemu_gdb: null });
      expect(r.json!.path).not.toContain(SITE);
      expect(r.json!.path).not.toContain(QEMU_SITE);
      expect(r.stderr).toBe('other sitecustomize\n');
    });

    it('alone: no "Error in sitecustomize"; its directory leaves sys.path, the build\'s paths take its place, PYTHONPATH stays for children', () => {
      const l = layout(py, { ...FLAT, 'src/x/__init__.py': '' }, { 'mypkg/_speedups': { name: '_speedups' } });
      const r = run(py.exe, l.src, ['-c', 'import os, sys; print(sys.path[1:3]); print(os.environ["PYTHONPATH"])'], env(l.t));
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n')).toEqual([`['${l.build}', '${join(l.build, 'src')}']`, SITE]);
      const q = run(py.exe, l.src, ['-c', 'print(1)'], { PYTHONPATH: QEMU_SITE, QEMU_GDB: '1' });
      expect(q).toMatchObject({ status: 0, stderr: '' });
    });
  });
}
