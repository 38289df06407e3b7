import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { namedRepro, resolveProject, splitCommand } from '../../src/project/project.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

async function project(yaml?: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pydbg-project-'));
  if (yaml !== undefined) await writeFile(join(dir, 'pydbg.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}
const err = async (p: Promise<unknown>): Promise<PydbgError> => p.then(() => { throw new Error('expected an error'); }, (e: PydbgError) => e);

describe('resolveProject: one rule for the targets, all planned before any engine call', () => {
  it('flags override pydbg.yaml lists; lists give every combination', async () => {
    const dir = await project('python: ["3.11", "3.13"]\nvariant: [debug, nopymalloc]\n');
    const all = await resolveProject({ projectDir: dir });
    expect(all.targets.map((t) => t.plan.image)).toEqual([
      'pydbg/cpython:3.11.2-debug-amd64', 'pydbg/cpython:3.11.2-nopymalloc-amd64',
      'pydbg/cpython:3.13.5-debug-amd64', 'pydbg/cpython:3.13.5-nopymalloc-amd64',
    ]);
    const flag = await resolveProject({ projectDir: dir, python: '3.9' });
    expect(flag.targets.map((t) => t.plan.spec.variants.join(','))).toEqual(['debug', 'nopymalloc']);
    expect((await resolveProject({ projectDir: await project() })).targets.map((t) => t.plan.image)).toEqual(['pydbg/cpython:3.13.5-debug-amd64']);
  });
  it('a bad entry anywhere in the list fails before anything runs', async () => {
    const dir = await project('python: ["3.13", "3.7"]\n');
    const e = await err(resolveProject({ projectDir: dir }));
    expect(e).toBeInstanceOf(PydbgError);
    expect(e.message).toMatch(/3\.7/);
  });
  it('an analysis takes the first pydbg.yaml variant it can use, else its own default', async () => {
    const dir = await project('variant: [asan, debug]\n');
    const usesDebugHooks = (p: { spec: { expected: { mem_debug_hooks: unknown } } }) => p.spec.expected.mem_debug_hooks === true;
    const r = await resolveProject({ projectDir: dir }, { defaultVariant: 'pymalloc-debug', acceptsVariant: usesDebugHooks, single: true });
    expect(r.targets.map((t) => t.plan.spec.variants.join(','))).toEqual(['debug']);
    const none = await resolveProject({ projectDir: await project('variant: asan\n') }, { defaultVariant: 'nopymalloc', acceptsVariant: () => false, single: true });
    expect(none.targets[0]!.plan.spec.variants).toEqual(['nopymalloc']);
  });
  it('detects the extension once; free-threaded offline builds fall back to setup.py when there is one', async () => {
    const dir = await project(undefined, { 'pyproject.toml': '[build-system]\n', 'setup.py': '' });
    const r = await resolveProject({ projectDir: dir, variant: 'freethreaded' });
    expect(r.ext.kind).toBe('pyproject');
    expect(r.targets[0]!.ext.kind).toBe('setup.py');
    expect(r.targets[0]!.note).toMatch(/free-threaded/);
  });
  it('a missing project directory is a usage error', async () => {
    const e = await err(resolveProject({ projectDir: '/nonexistent/pydbg-project' }));
    expect(e.exitCode).toBe(ExitCode.USAGE);
  });
});

describe('a repro has one meaning: shell words, no shell', () => {
  it('quotes and backslashes group words', () => {
    expect(splitCommand(`python repro.py "two words" it\\'s --n=3`, 'x')).toEqual(['python', 'repro.py', 'two words', "it's", '--n=3']);
  });
  it('operators, variables and globs are refused with a hint', () => {
    for (const cmd of ['python a.py | head', 'python a.py > out', 'FOO=$HOME python a.py', 'python *.py']) {
      const e = (() => { try { splitCommand(cmd, 'pydbg.yaml: repros.x'); } catch (x) { return x as PydbgError; } throw new Error(cmd); })();
      expect(e.exitCode, cmd).toBe(ExitCode.CONFIG);
      expect(e.hint).toMatch(/script/);
    }
  });
  it('an unknown name lists the known ones', () => {
    const e = (() => { try { namedRepro({ repros: { crash: 'python crash.py' } }, 'crsh'); } catch (x) { return x as PydbgError; } throw new Error('no error'); })();
    expect(e.hint).toContain('crash');
    expect(namedRepro({ repros: { crash: "python crash.py 'a b'" } }, 'crash')).toEqual(['python', 'crash.py', 'a b']);
  });
});

describe("the extension's cache key covers what the build copies", () => {
  it('an edit under a nested build/ directory changes the key; top-level build/, .git and objects do not', async () => {
    const { sha256Tree, PROJECT_IGNORE } = await import('../../src/provision/sources.js');
    const dir = await project(undefined, { 'setup.py': '', 'mypkg/build/gen.c': 'int a;', 'build/lib/x.so': 'x', '.git/HEAD': 'ref', 'mypkg/m.o': 'o' });
    const key = () => sha256Tree(dir, PROJECT_IGNORE);
    const before = await key();
    await writeFile(join(dir, 'build/lib/x.so'), 'changed');
    await writeFile(join(dir, '.git/HEAD'), 'changed');
    await writeFile(join(dir, 'mypkg/m.o'), 'changed');
    expect(await key()).toBe(before);
    await writeFile(join(dir, 'mypkg/build/gen.c'), 'int b;');
    expect(await key()).not.toBe(before);
  });
});
