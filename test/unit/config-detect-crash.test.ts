import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/project/config-parse.js';
import { detectBuild, extBuildScript, uncompiledCythonNote } from '../../src/project/detect.js';
import { parseFaulthandler, parseGdbOutput, signalOf, isCrash, formatCrash } from '../../src/exec/crash.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const fails = (fn: () => unknown): PydbgError => {
  try {
    fn();
  } catch (e) {
    return e as PydbgError;
  }
  throw new Error('expected an error');
};

describe('pydbg.yaml', () => {
  it('parses every field; versions stay strings (3.10 is not 3.1)', () => {
    const c = parseConfig(`python: [3.10, "3.13"]\nvariant: debug\nbuild:\n  sources: [a.c]\n  module: a\nsystem_packages: [libldap2-dev]\npython_packages: [pytest]\nenv:\n  FOO: "1"\nrepros:\n  leak: python leak.py\nnetwork: no\ntimeout: 30\n`);
    expect(c.python).toEqual(['3.10', '3.13']);
    expect(c.network).toBe(false);
    expect(c.timeout).toBe(30);
    expect(c.build?.sources).toEqual(['a.c']);
    expect(c.env).toEqual({ FOO: '1' });
  });
  it('an unknown field names file, line and the closest known field', () => {
    const e = fails(() => parseConfig('python: "3.13"\nbuild:\n  comand: make\n', 'proj/pydbg.yaml'));
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toBe('proj/pydbg.yaml:3:3: build.comand: unknown field');
    expect(e.hint).toContain("did you mean 'command'");
  });
  it('a wrong value names its line and what is allowed', () => {
    const e = fails(() => parseConfig('build:\n  kind: cmake\n'));
    expect(e.message).toMatch(/^pydbg\.yaml:2:9: build\.kind: must be one of: auto, setup\.py/);
    const t = fails(() => parseConfig('timeout: soon\n'));
    expect(t.message).toBe('pydbg.yaml:1:10: timeout: must be a number of seconds');
  });
  it('YAML syntax errors carry the position', () => {
    const e = fails(() => parseConfig('python: [3.13\nvariant: debug\n'));
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toMatch(/^pydbg\.yaml:\d+:\d+: /);
  });
});

describe('extension detection', () => {
  const files = (...names: string[]) => (p: string) => names.includes(p);
  it('a directory with nothing to build is a normal case', () => {
    expect(detectBuild(files('repro.py'), {}).kind).toBe('none');
  });
  it('prefers pyproject.toml (PEP 517), then setup.py, then meson.build', () => {
    expect(detectBuild(files('setup.py', 'pyproject.toml'), {}).kind).toBe('pyproject');
    expect(detectBuild(files('setup.py'), {}).kind).toBe('setup.py');
    expect(detectBuild(files('meson.build'), {}).kind).toBe('meson');
  });
  it('a configured extension that is missing is an error', () => {
    const e = fails(() => detectBuild(files(), { build: { kind: 'setup.py' } }));
    expect(e.exitCode).toBe(ExitCode.NO_EXTENSION);
    const s = fails(() => detectBuild(files('a.c'), { build: { sources: ['a.c', 'b.c'], module: 'm' } }));
    expect(s.exitCode).toBe(ExitCode.NO_EXTENSION);
    expect(s.message).toContain('b.c');
    expect(fails(() => detectBuild(files('a.c'), { build: { sources: ['a.c'] } })).exitCode).toBe(ExitCode.CONFIG);
  });
  it('build scripts never touch the read-only project mount', () => {
    const script = extBuildScript({ kind: 'setup.py', marker: 'setup.py' }, false);
    expect(script).toContain('| tar -xf - -C /pydbg/build');
    expect(script).toContain('cd /pydbg/build');
    expect(script).toContain('python setup.py build_ext --inplace');
    expect(extBuildScript({ kind: 'pyproject', marker: 'pyproject.toml' }, false)).toContain('pip install --no-deps --no-build-isolation --no-index .');
    expect(extBuildScript({ kind: 'sources', sources: ['a.c'], module: 'm', libraries: ['ldap'], includeDirs: [] }, false)).toContain('Extension("m", ["a.c"], libraries=["ldap"]');
  });
});

describe('crash reports', () => {
  const gdbOut = [
    'Program received signal SIGSEGV, Segmentation fault.',
    '0x00007f in get_value (self=<module at remote 0x7f>, args=(\'missing\',)) at crash.c:17',
    '17\t    return PyLong_FromLong(e->value);',
    'PYDBG-BT-BEGIN',
    '#0  0x00007f in get_value (self=..., args=...) at crash.c:17',
    '#1  0x000055 in cfunction_call (func=..., args=..., kwargs=...) at Objects/methodobject.c:540',
    'PYDBG-BT-END',
    'PYDBG-FRAME {"level": 0, "function": "get_value", "file": "/pydbg/build/crash.c", "line": 17, "objfile": "/pydbg/build/crash.cpython-313d-x86_64-linux-gnu.so"}',
    'PYDBG-FRAME {"level": 1, "function": "cfunction_call", "file": "/usr/src/cpython/Python-3.13.5/Objects/methodobject.c", "line": 540, "objfile": "/opt/python/bin/python3.13"}',
    'PYDBG-PYBT-BEGIN',
    'Traceback (most recent call first):',
    '  File "/src/repro.py", line 5, in lookup_all',
    'PYDBG-PYBT-END',
  ].join('\n');
  it('finds the first frame in the user\'s extension, with a project-relative path', () => {
    const r = parseGdbOutput(gdbOut);
    expect(r.signal).toBe('SIGSEGV');
    expect(r.userFrame).toMatchObject({ function: 'get_value', file: 'crash.c', line: 17, inUserCode: true });
    expect(r.frames[1]).toMatchObject({ function: 'cfunction_call', inUserCode: false });
    expect(r.pyBt).toContain('in lookup_all');
    expect(formatCrash({ ...r, faulthandler: [] })).toContain('crashed with SIGSEGV in get_value at crash.c:17 (your extension)');
  });
  it('parses faulthandler blocks and signal exit codes', () => {
    const fh = parseFaulthandler('out\nFatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n  File "/src/repro.py", line 5 in lookup_all\n\n\nExtension modules: x\n');
    expect(fh[0]).toBe('Fatal Python error: Segmentation fault');
    expect(fh).toContain('  File "/src/repro.py", line 5 in lookup_all');
    expect(signalOf(139)).toBe('SIGSEGV');
    expect(isCrash(134)).toBe(true);
    expect(isCrash(137)).toBe(false);
    expect(signalOf(1)).toBeUndefined();
  });
});

describe('paths in reports', () => {
  it('user paths become project-relative, CPython paths checkout-relative', async () => {
    const { toProjectPath } = await import('../../src/exec/crash.js');
    expect(toProjectPath('/pydbg/build/src/ext.c')).toEqual({ file: 'src/ext.c', user: true });
    expect(toProjectPath('/src/ext.c')).toEqual({ file: 'ext.c', user: true });
    expect(toProjectPath('/usr/src/cpython/Python-3.13.5/Objects/call.c')).toEqual({ file: 'Objects/call.c', user: false });
    expect(toProjectPath('/usr/include/stdio.h')).toEqual({ file: '/usr/include/stdio.h', user: false });
  });
});

describe('uncompiledCythonNote: .pyx sources without generated C and no Cython to compile them', () => {
  const setup = { kind: 'setup.py', marker: 'setup.py' } as const;
  const has = (files: string[]) => (rel: string) => files.includes(rel);

  it('names the first bare .pyx and how many more, with the fix', () => {
    expect(uncompiledCythonNote(setup, ['pkg/_a.pyx', 'pkg/_b.pyx'], has([]), [])).toBe(
      'pkg/_a.pyx (and 1 more) has no generated C and Cython is not in python_packages: it cannot be compiled (its package may fall back to pure Python); add Cython to python_packages in pydbg.yaml (offline: with a wheelhouse)',
    );
  });
  it('a release that ships the generated C (or C++): nothing to say', () => {
    expect(uncompiledCythonNote(setup, ['pkg/_a.pyx', 'pkg/_b.pyx'], has(['pkg/_a.c', 'pkg/_b.cpp']), [])).toBeUndefined();
  });
  it('Cython in python_packages (any spelling, with a version): nothing to say', () => {
    for (const p of ['Cython', 'cython>=3.0', ' CYTHON ']) expect(uncompiledCythonNote(setup, ['x.pyx'], has([]), [p])).toBeUndefined();
    // another package whose name starts with "cython" is not Cython
    expect(uncompiledCythonNote(setup, ['x.pyx'], has([]), ['cythonize-helper'])).toMatch(/^x\.pyx has no generated C/);
  });
  it("no build (none), or a build command of the user's own: not pydbg's business", () => {
    expect(uncompiledCythonNote({ kind: 'none', reason: 'x' }, ['x.pyx'], has([]), [])).toBeUndefined();
    expect(uncompiledCythonNote({ kind: 'command', command: 'make' } as never, ['x.pyx'], has([]), [])).toBeUndefined();
  });
});
