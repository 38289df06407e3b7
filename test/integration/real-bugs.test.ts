/**
 * Real third-party C extensions, built from their release tarballs (Debian's pool, sha256-verified,
 * cached: test/integration/pool.ts) with only what a maintainer would add to the project root: a
 * `repro.py` and, where the project needs system packages, a `pydbg.yaml`
 * (test/fixtures/real/<name>/). Each project with a known upstream-fixed bug:
 *   - the repro finds the bug with the analysis a maintainer would pick (kind, file:line or per-run growth);
 *   - the same tarball with upstream's fix applied (fix.patch, from the upstream commit) gives zero findings.
 * And one clean real extension gives zero findings in memcheck and leaks.
 * Image: 3.13 debug (global setup). memcheck runs it with PYTHONMALLOC=malloc.
 */
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pydbg, requireEngine, requireImages, ROOT } from './helpers.js';
import { applyPatch, poolFile, unpack, type PoolFile } from './pool.js';
import { cythonWheel } from './wheelhouse.js';

const FX = join(ROOT, 'test', 'fixtures', 'real');
const V313 = ['--python', '3.13', '--variant', 'debug'];

interface Frame {
  function: string | null;
  file: string | null;
  line: number | null;
}
interface Finding {
  kind: string;
  message: string;
  userFrame: Frame | null;
  frames: Frame[];
  data?: Record<string, unknown>;
}
interface Report {
  status: string;
  partialReason?: string;
  userFindings: Finding[];
  interpreterFindings: Finding[];
  summary: Record<string, unknown>;
}

interface RealProject {
  name: string;
  source: PoolFile;
  /** what the README's table says about it */
  layout: string;
  analysis: 'leaks' | 'memcheck';
  /** extra `pydbg check` arguments a maintainer would add */
  args?: string[];
  /** the bug crashes the release even under Valgrind: the report is partial, its findings still exit 20 */
  crashes?: RegExp;
  /** the bug as the report must show it */
  expectBug: (r: Report) => void;
}

const trees: string[] = [];

/** The release tarball unpacked, with the project's repro.py / pydbg.yaml copied in (and upstream's fix applied). */
async function project(p: RealProject, fixed: boolean): Promise<string> {
  const tree = await unpack(p.source, `pydbg-real-${p.name}-${fixed ? 'fixed' : 'release'}-`);
  trees.push(dirname(tree));
  for (const f of await readdir(join(FX, p.name))) {
    if (f === 'fix.patch' || f === 'README.md') continue;
    await copyFile(join(FX, p.name, f), join(tree, f));
  }
  if (fixed) await applyPatch(tree, join(FX, p.name, 'fix.patch'));
  return tree;
}

async function check(p: Pick<RealProject, 'analysis' | 'args'>, tree: string, analysis = p.analysis): Promise<{ report: Report; exitCode: number | undefined; stderr: string }> {
  const r = await pydbg(['check', analysis, ...V313, '-C', tree, ...(analysis === p.analysis ? (p.args ?? []) : []), '--json', 'repro.py']);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`pydbg check ${analysis} in ${tree} exited ${r.exitCode} without a JSON report:\n${r.all}`);
  }
  return { report, exitCode: r.exitCode, stderr: r.stderr };
}

const summary = (f: Finding[]) => f.map((x) => `${x.kind} ${x.userFrame?.file ?? ''}:${x.userFrame?.line ?? ''} ${x.message}`).join('\n');

const PROJECTS: RealProject[] = [
  {
    name: 'hiredis',
    source: { path: 'pool/main/p/python-hiredis/python-hiredis_2.3.2.orig.tar.gz', sha256: '733e2456b68f3f126ddaf2cd500a33b25146c3676b97ea843665717bda0c5d43' },
    layout: 'flat package hiredis/ (extension hiredis.hiredis from src/*.c + vendored C hiredis), setup.py',
    analysis: 'leaks',
    // Creating and parsing with a new Reader settles only after a few hundred runs on 3.13 (up to
    // ~0.4 references per run that stop growing): rounds of 100 runs keep that under the threshold.
    args: ['--iterations', '100'],
    expectBug: (r) => {
      // hiredis-py#175: a RESP3 map reply leaks the popitem() tuple, its key and value references
      // (src/reader.c tryParentize). None and the small int 9 are immortal on 3.13: 7 references per run.
      const type = r.userFindings.find((f) => f.kind === 'TypeLeak');
      expect(type?.message).toBe('leaks 2 tuple per run, created at repro.py:11, by hiredis.Reader.gets()');
      expect(type?.data?.sample).toBe("(b'radius', None)");
      const refs = r.userFindings.find((f) => f.kind === 'RefLeak');
      expect(refs?.data?.perIteration as number).toBeGreaterThanOrEqual(6.9);
      expect(refs?.data?.perIteration as number).toBeLessThan(8);
    },
  },
  {
    name: 'python-ldap',
    source: { path: 'pool/main/p/python-ldap/python-ldap_3.4.4.orig.tar.gz', sha256: '7edb0accec4e037797705f3a05cbf36a9fde50d08c8f67f2aef99a2628fab828' },
    layout: "package_dir={'': 'Lib'} (top-level _ldap from Modules/*.c), pyproject.toml without a build backend, system libraries libldap + libsasl2",
    analysis: 'memcheck',
    expectBug: (r) => {
      // 3.4.6's "attrlist parameter is now properly checked before use" (commit f3f792e): a dict
      // attrlist gives PySequence_Length -1, PyMem_NEW(char *, 0) and attrs[-1] = NULL
      const write = r.userFindings.find((f) => f.kind === 'InvalidWrite');
      expect(write?.userFrame).toMatchObject({ function: 'attrs_from_List', file: 'Modules/LDAPObject.c', line: 346 });
      expect(write?.message).toBe('Invalid write of size 8');
      // the caller, and the allocation the write lands before
      expect(write?.frames.map((f) => `${f.function}:${f.line}`)).toContain('l_ldap_search_ext:1245');
      expect(JSON.stringify(write)).toMatch(/8 bytes before a block of size 1 alloc'd/);
      // free_attrs then walks the never-written attrs[0]
      expect(r.userFindings.find((f) => f.kind === 'UninitCondition')?.userFrame).toMatchObject({ function: 'free_attrs', file: 'Modules/LDAPObject.c', line: 373 });
    },
  },
  {
    name: 'maxminddb',
    source: { path: 'pool/main/p/python-maxminddb/python-maxminddb_2.2.0.orig.tar.gz', sha256: 'ebbd10e56df55ecc6ae82a6754461e70a0fcb8cc7953cb93c81800c42690362f' },
    layout: 'flat package maxminddb/ (pure-Python fallback) + extension/maxminddb.c built as maxminddb.extension, setup.py, system library libmaxminddb',
    analysis: 'memcheck',
    expectBug: (r) => {
      // 2.4.0's PR #114: Reader_init frees the path's bytes (maxminddb.c:103), then formats it into
      // the error (:107). Valgrind sees it in strlen, six CPython frames above the extension's line.
      const read = r.userFindings.find((f) => f.kind === 'InvalidRead');
      expect(read?.userFrame).toMatchObject({ function: 'Reader_init', file: 'extension/maxminddb.c', line: 107 });
      expect(read?.frames[0]?.function).toBe('strlen');
      const freed = (read as unknown as { related: Array<{ message: string; frames: Frame[] }> }).related.find((x) => /free'd/.test(x.message));
      expect(freed?.frames.find((f) => f.file === 'extension/maxminddb.c')).toMatchObject({ function: 'Reader_init', line: 103 });
    },
  },
  {
    name: 'pycairo',
    source: { path: 'pool/main/p/pycairo/pycairo_1.16.2.orig.tar.gz', sha256: '6903753cae2cadf2733aff373017b6e461dee12b31d65c2f37312652276d1ef8' },
    layout: 'flat package cairo/ (C sources inside, built as cairo._cairo), setup.py, system library cairo through pkg-config',
    analysis: 'leaks',
    // as for hiredis: rounds of 100 runs keep 3.13's settling noise under the threshold
    args: ['--iterations', '100'],
    expectBug: (r) => {
      // 1.17.0's commit 9274b90: set_error() leaks the cairo.Status it builds for every cairo.Error.
      // cairo.Status is an int subclass (never gc-tracked): the reference count names the growth.
      const refs = r.userFindings.find((f) => f.kind === 'RefLeak');
      expect(refs?.data?.perIteration as number).toBeGreaterThanOrEqual(0.95);
      expect(refs?.data?.perIteration as number).toBeLessThan(1.5);
      expect(r.userFindings.find((f) => f.kind === 'BlockLeak')?.data?.perIteration as number).toBeGreaterThanOrEqual(0.95);
    },
  },
  {
    name: 'multidict',
    source: { path: 'pool/main/p/python-multidict/python-multidict_6.4.3.orig.tar.gz', sha256: '3ada0b058c9f213c5f95ba301f922d402ac234f1111a7d8fd70f1b99f3c281ec' },
    layout: 'flat package multidict/ (pure-Python fallback) with multidict/_multidict.c, pyproject.toml (setuptools backend) + setup.py: pip-installed into site-packages',
    analysis: 'memcheck',
    crashes: /^the repro crashed with SIGSEGV/,
    expectBug: (r) => {
      // 6.4.4's commit fea968f9 (#1160): setdefault(key) with no default Py_NewRef()s a NULL default
      const read = r.userFindings.find((f) => f.kind === 'InvalidRead');
      expect(read?.userFrame).toMatchObject({ file: 'multidict/_multilib/pair_list.h', line: 360 });
      expect(read?.frames.map((f) => `${f.file}:${f.line}`)).toContain('multidict/_multidict.c:576');
      expect(JSON.stringify(read)).toMatch(/Address 0x0 is not stack'd, malloc'd or/);
    },
  },
];

const CLEAN = {
  name: 'markupsafe',
  source: { path: 'pool/main/m/markupsafe/markupsafe_2.1.5.orig.tar.gz', sha256: 'd283d37a890ba4c1ae73ffadf8046435c76e7bc2247bbb63c00bd1a709c6544b' },
  layout: 'src/ layout (src/markupsafe/_speedups.c, pure-Python fallback), setup.py + setup.cfg',
};

beforeAll(async () => {
  await requireEngine();
  await requireImages('debug-3.13');
  // every tarball downloaded (or found in the cache) and verified before the first test
  await Promise.all([...PROJECTS.map((p) => p.source), CLEAN.source].map((s) => poolFile(s)));
});

afterAll(async () => {
  await Promise.all(trees.map((t) => rm(t, { recursive: true, force: true })));
});

describe.each(PROJECTS)('$name ($layout)', (p) => {
  it(`the release: check ${p.analysis} finds the upstream-fixed bug`, async () => {
    const { report, exitCode, stderr } = await check(p, await project(p, false));
    if (p.crashes) expect(report.partialReason, stderr).toMatch(p.crashes);
    expect(report.status, stderr).toBe(p.crashes ? 'partial' : 'complete');
    expect(exitCode, summary(report.userFindings)).toBe(20);
    p.expectBug(report);
  });

  it(`with upstream's fix applied: check ${p.analysis} gives zero findings`, async () => {
    const { report, exitCode, stderr } = await check(p, await project(p, true));
    expect(report.status, stderr).toBe('complete');
    expect(report.userFindings, summary(report.userFindings)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describe(`a clean real extension: ${CLEAN.name} 2.1.5 (${CLEAN.layout})`, () => {
  let tree: string;
  beforeAll(async () => {
    tree = await unpack(CLEAN.source, 'pydbg-real-clean-');
    trees.push(dirname(tree));
    await copyFile(join(FX, CLEAN.name, 'repro.py'), join(tree, 'repro.py'));
  });

  it.each(['memcheck', 'leaks'] as const)('check %s: zero findings, and the C speedups ran', async (analysis) => {
    const r = await pydbg(['check', analysis, ...V313, '-C', tree, '--json', 'repro.py']);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.status, r.stderr).toBe('complete');
    expect(report.userFindings, summary(report.userFindings)).toEqual([]);
    expect(r.exitCode).toBe(0);
    // the compiled module ran, not the pure-Python fallback: repro.py asserts it (a failed assert
    // makes the report partial); memcheck also shows the repro's output (on stderr under check)
    if (analysis === 'memcheck') expect(r.stderr).toContain('markupsafe 2.1.5 markupsafe._speedups 14');
  });
});

describe('real build systems: PyYAML 6.0.2 (in-tree PEP 517 backend, Cython source without generated C, package_dir lib/, system library libyaml)', () => {
  const PYYAML: PoolFile = { path: 'pool/main/p/pyyaml/pyyaml_6.0.2.orig.tar.gz', sha256: 'd584d9ec91ad65861cc08d42e834324ef890a082e591037abe114850ff7bbc3e' };

  async function pyyaml(withWheelhouse: boolean): Promise<string> {
    const tree = await unpack(PYYAML, 'pydbg-real-pyyaml-');
    trees.push(dirname(tree));
    for (const f of ['repro.py', 'pydbg.yaml']) await copyFile(join(FX, 'pyyaml', f), join(tree, f));
    await mkdir(join(tree, 'wheelhouse'));
    if (withWheelhouse) {
      const wheel = await cythonWheel();
      await copyFile(wheel, join(tree, 'wheelhouse', basename(wheel)));
    }
    return tree;
  }

  it('offline with a wheelhouse holding Cython: the libyaml bindings are compiled and imported from the build', async () => {
    const tree = await pyyaml(true);
    const r = await pydbg(['run', ...V313, '-C', tree, '--', 'python', 'repro.py']);
    expect(r.exitCode, r.all).toBe(0);
    const out = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{'))!) as Record<string, unknown>;
    expect(out).toMatchObject({ version: '6.0.2', libyaml: true });
    // pip install . through the in-tree backend (packaging/_pyyaml_pep517.py): into site-packages
    expect(out.ext).toMatch(/^\/opt\/python\/lib\/python3\.13\/site-packages\/yaml\/_yaml\.cpython-313d-x86_64-linux-gnu\.so$/);
    expect(r.stderr).not.toContain('pydbg: note:');
    // and a clean run under check leaks: the Cython-generated bindings leak nothing per run
    const leaks = await pydbg(['check', 'leaks', ...V313, '-C', tree, '--json', 'repro.py']);
    const report = JSON.parse(leaks.stdout) as Report;
    expect(report.status, leaks.stderr).toBe('complete');
    expect(report.userFindings, summary(report.userFindings)).toEqual([]);
  });

  it('no Cython in the image: pydbg says the .pyx cannot be compiled, and the repro sees the pure-Python fallback', async () => {
    const tree = await pyyaml(false);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(tree, 'pydbg.yaml'), 'system_packages: [libyaml-dev]\n');
    const r = await pydbg(['run', ...V313, '-C', tree, '--', 'python', 'repro.py']);
    expect(r.stderr).toContain('pydbg: note: yaml/_yaml.pyx has no generated C and Cython is not in python_packages: it cannot be compiled (its package may fall back to pure Python); add Cython to python_packages in pydbg.yaml (offline: with a wheelhouse)');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('AssertionError: yaml._yaml (libyaml bindings) not built');
  });
});

describe('a real project without the system packages it needs: the compiler\'s own error, and where the fix goes', () => {
  it('python-ldap 3.4.4 without pydbg.yaml: lber.h missing (exit 11)', async () => {
    const tree = await unpack({ path: 'pool/main/p/python-ldap/python-ldap_3.4.4.orig.tar.gz', sha256: '7edb0accec4e037797705f3a05cbf36a9fde50d08c8f67f2aef99a2628fab828' }, 'pydbg-real-nodeps-');
    trees.push(dirname(tree));
    const r = await pydbg(['run', ...V313, '-C', tree, '--', 'python', '-c', 'import _ldap']);
    expect(r.exitCode).toBe(11);
    expect(r.stderr).toMatch(/^pydbg: error: the extension failed to build against pydbg\/cpython:3\.13\.5-debug-amd64 \(exit 1\)$/m);
    // gcc's line, as gcc wrote it
    expect(r.stderr).toMatch(/^ +\| +Modules\/common\.h:15:10: fatal error: lber\.h: No such file or directory$/m);
    expect(r.stderr).toContain('hint: the build ran \'pyproject\' in a copy of the project at /pydbg/build; lber.h is missing: add the Debian package that provides it (usually a -dev package) to system_packages in pydbg.yaml');
  });
});
