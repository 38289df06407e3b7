/**
 * What the catalogue and the planner make of odd input: the Dockerfile's "Regenerate" command pastes
 * into a shell as the same words, configure args that undo the variant are refused up front,
 * checkouts keep their whole version (and a newer one builds with a warning), long or exotic names
 * are not echoed back whole nor "corrected" into something unrelated.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decidedBy } from '../../src/catalogue/configure.js';
import { parseVariantList } from '../../src/catalogue/variants.js';
import { parsePatchlevel, resolveVersionOnly } from '../../src/catalogue/versions.js';
import { dockerfile } from '../../src/cli/commands/env.js';
import { userImageRef } from '../../src/container/refs.js';
import { clip, ExitCode, PydbgError, quoted } from '../../src/errors.js';
import { planVariant } from '../../src/project/plan.js';
import { treeVersion } from '../../src/provision/sources.js';
import { sink } from './cli-helpers.js';

const refused = (f: () => unknown): PydbgError => {
  try {
    f();
  } catch (e) {
    return e as PydbgError;
  }
  throw new Error('not refused');
};

describe("the Dockerfile's Regenerate command", () => {
  it('is shell-quoted: pasted through sh it gives back exactly the values, a $(…) stays literal', async () => {
    const args = ['--with-foo=$(touch /tmp/pydbg-pwned)', "--with-libs=-lm -l'x'", '--enable-shared'];
    const cflags = ['-DX="a b"', '-O0 `id`'];
    const src = join(await mkdtemp(join(tmpdir(), 'pydbg src ')), 'Python-3.13.5.tgz');
    await writeFile(src, 'x');
    const out = sink();
    await dockerfile({ variant: 'debug', configureArg: args, cflags, source: src }, { stdout: out, cwd: '/' });
    const line = /^# Regenerate \(and print\) with: (.*)$/m.exec(out.text())![1]!;
    execFileSync('sh', ['-n', '-c', line]);
    // the words a shell makes of the pasted line, printed one per NUL-terminated record
    const words = execFileSync('sh', ['-c', `set -- ${line.replace(/^pydbg /, '')}; printf '%s\\0' "$@"`]).toString().split('\0').slice(0, -1);
    expect(words.slice(0, 2)).toEqual(['env', 'dockerfile']);
    for (const a of args) expect(words).toContain(`--configure-arg=${a}`);
    expect(existsSync('/tmp/pydbg-pwned')).toBe(false);
    for (const c of cflags) expect(words).toContain(`--cflags=${c}`);
    expect(words).toContain(src);
    // and those words plan the same image
    const again = planVariant({ variant: 'debug', python: '3.13.5', configureArgs: args, cflags, sourcePath: src });
    expect(again.command).toBe(planVariant({ variant: 'debug', configureArgs: args, cflags, sourcePath: src }).command);
  });
  it('leaves a standard command (and so the standard images\' cache keys) as it was', () => {
    expect(planVariant({ variant: 'asan,ubsan', python: '3.13' }).command).toBe('pydbg env build --variant asan,ubsan --python 3.13.5 --arch amd64');
  });
});

describe('configure args that contradict the variant are refused before any build (exit 3)', () => {
  it.each([
    ['nopymalloc', '--with-pymalloc', /which builds without pymalloc \(with_pymalloc=no is verified/],
    ['debug', '--without-pydebug', /which builds with Py_DEBUG/],
    ['debug', '--with-pydebug=no', /which builds with Py_DEBUG/],
    ['freethreaded', '--enable-gil', /which builds free-threaded \(--disable-gil\)/],
    ['release', '--disable-gil', /which builds with the GIL/],
    ['release', '--with-valgrind', /which builds without Valgrind support/],
    ['asan', '--with-pymalloc', /without pymalloc/],
    ['ubsan', '--without-undefined-behavior-sanitizer', /with UBSan/],
  ])('%s + %s', (variant, arg, why) => {
    const e = refused(() => planVariant({ variant, python: '3.13', configureArgs: [arg] }));
    expect(e.exitCode).toBe(ExitCode.CATALOGUE);
    expect(e.message).toMatch(new RegExp(`^--configure-arg=${arg} contradicts variant '${variant}'`));
    expect(e.message).toMatch(why);
    expect(e.hint).toMatch(/^drop that --configure-arg, or pick a variant/);
  });
  it('what agrees with the variant, or decides nothing it promises, is fine', () => {
    expect(() => planVariant({ variant: 'nopymalloc', python: '3.13', configureArgs: ['--without-pymalloc', '--with-valgrind', '--enable-shared', '--with-lto'] })).not.toThrow();
    expect(decidedBy('--disable-gil')).toEqual(['gil_disabled', true]);
    expect(decidedBy('--enable-gil')).toEqual(['gil_disabled', false]);
    expect(decidedBy('--with-trace-refs=yes')).toEqual(['trace_refs', true]);
    expect(decidedBy('--enable-optimizations')).toBeUndefined();
  });
});

describe('versions', () => {
  it('a checkout keeps its whole PY_VERSION: labels and Dockerfile say 3.13.0a1+, the tag spells it safely, the probe expects 3.13.0', async () => {
    const tree = await mkdtemp(join(tmpdir(), 'pydbg-tree-'));
    await mkdir(join(tree, 'Include'));
    await writeFile(join(tree, 'Include', 'patchlevel.h'), '#define PY_MINOR_VERSION 13\n#define PY_VERSION      "3.13.0a1+"\n');
    expect(await treeVersion(tree)).toBe('3.13.0a1+');
    const p = planVariant({ variant: 'debug', sourcePath: tree, sourceIsDir: true, treeVersion: '3.13.0a1+', python: '3.13' });
    expect(p.version.text).toBe('3.13.0a1+');
    expect(p.spec.expected.version).toBe('3.13.0');
    expect(p.image).toBe('pydbg/cpython:3.13.0a1plus-debug-amd64-x' + p.image.split('-x')[1]);
    expect(p.warnings).toEqual([]);
    expect(userImageRef('3.13.0a1+-debug')).toBe('pydbg/cpython:3.13.0a1plus-debug-amd64');
    expect(refused(() => planVariant({ variant: 'debug', sourcePath: tree, sourceIsDir: true, treeVersion: '3.13.0a1+', python: '3.12.4' })).exitCode).toBe(ExitCode.USAGE);
  });
  it('a checkout newer than the catalogue builds with the newest known rules and a warning; an older unknown one is refused', () => {
    const p = planVariant({ variant: 'freethreaded,debug', sourcePath: '/src/cpython', sourceIsDir: true, treeVersion: '3.16.0a0' });
    expect(p.version).toMatchObject({ major: 3, minor: 16, text: '3.16.0a0', rulesOf: '3.15' });
    expect(p.warnings[0]).toMatch(/^CPython 3\.16\.0a0 is newer than pydbg's catalogue \(newest: 3\.15\): building it with the 3\.15 rules/);
    expect(p.spec.configureArgs).toEqual(['--with-pydebug', '--disable-gil']);
    expect(resolveVersionOnly('4.0.0').rulesOf).toBe('3.15');
    expect(refused(() => resolveVersionOnly('3.7.17')).exitCode).toBe(ExitCode.CATALOGUE);
    expect(refused(() => parsePatchlevel('3.13-dev')).exitCode).toBe(ExitCode.USAGE);
  });
  it('exit codes as EXIT_CODE_DOCS says: unknown release 4, unknown version 3, malformed 2', () => {
    expect(refused(() => planVariant({ variant: 'debug', python: '3.13.99' })).exitCode).toBe(ExitCode.SOURCE);
    expect(refused(() => planVariant({ variant: 'debug', python: '3.7' })).exitCode).toBe(ExitCode.CATALOGUE);
    expect(refused(() => planVariant({ variant: 'debug', python: '3.x' })).exitCode).toBe(ExitCode.USAGE);
  });
});

describe('names in messages', () => {
  it('a 10,000-character variant is cut, and gets no suggestion', () => {
    const e = refused(() => parseVariantList('a'.repeat(10_000)));
    expect(e.message).toBe(`unknown variant '${'a'.repeat(60)}…' (10000 characters)`);
    expect(e.hint).not.toMatch(/did you mean/);
    expect(e.message.length + e.hint!.length).toBeLessThan(300);
  });
  it('only a close name is suggested: an emoji is not "asan"', () => {
    expect(refused(() => parseVariantList('🐍')).hint).not.toMatch(/did you mean/);
    expect(refused(() => parseVariantList('nopymaloc')).hint).toMatch(/^did you mean 'nopymalloc'\?/);
    expect(refused(() => parseVariantList('ubasn')).hint).toMatch(/^did you mean 'ubsan'\?/);
  });
  it('quoted/clip escape control characters and cut by characters, not UTF-16 units', () => {
    expect(quoted('a\nb')).toBe("'a\\x0ab'");
    expect(clip('🐍'.repeat(70))).toBe(`${'🐍'.repeat(60)}… (70 characters)`);
  });
});
