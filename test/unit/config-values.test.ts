/**
 * pydbg.yaml as a new user writes it: every value the catalogue refuses is reported at the file's
 * line:column and field with exit 10 (the same value as a flag keeps the flag's exit code), and
 * YAML pydbg cannot read — an alias bomb — is a config error too, never a stack trace.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, PydbgError } from '../../src/errors.js';
import { loadConfig } from '../../src/project/config.js';
import { parseConfig } from '../../src/project/config-parse.js';
import { resolveProject } from '../../src/project/project.js';

async function withYaml(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pydbg-yaml-'));
  await writeFile(join(dir, 'pydbg.yaml'), text);
  return dir;
}
const refusal = async (yaml: string, flags: { variant?: string; python?: string; arch?: string; board?: string } = {}) => {
  const dir = await withYaml(yaml);
  const e = (await resolveProject({ projectDir: dir, ...flags }).catch((x: unknown) => x)) as PydbgError;
  expect(e).toBeInstanceOf(PydbgError);
  return { e, file: join(dir, 'pydbg.yaml') };
};

describe('a value pydbg.yaml gives is refused at its file:line:column, exit 10', () => {
  it.each([
    ['variant: nopymaloc\n', '1:10: variant: unknown variant \'nopymaloc\'', /did you mean 'nopymalloc'\?/],
    ['python: "3.11"\narch: riscv64\n', "2:7: arch: unknown architecture 'riscv64'", /use one of: amd64, arm64, armv7/],
    ['python: "3.7"\n', '1:9: python: CPython 3.7 is not supported', /supported versions: 2\.7, 3\.8/],
    ['python: ["3.13", "3.x"]\n', "1:18: python[1]: not a CPython version: '3.x'", /MAJOR\.MINOR/],
    ['python: "3.13.99"\n', '1:9: python: CPython 3.13.99 is not in pydbg\'s catalogue', /--source-url/],
    ['board: rpi9\n', "1:8: board: unknown board 'rpi9'", /did you mean 'rpi3'\?/],
    ['variant: [debug, count-allocs]\n', "1:18: variant[1]: variant 'count-allocs' does not exist for CPython 3.13", /≤3\.8/],
    // a combination: blamed on the variant, else the version, else the board or arch the file gave
    ['python: "3.9"\narch: arm64\n', '1:9: python: cross-compiling CPython 3.9 for arm64 is not supported', /--build-mode emulated/],
    ['python: "3.13"\nvariant: asan\nboard: rpi4\n', "2:10: variant: variant 'asan' is not offered for arm64", /ubsan/],
    ['python: "3.13"\nvariant: [freethreaded, tsan]\narch: arm64\n', "2:25: variant[1]: variant 'tsan' is not offered for arm64", /--arch amd64/],
  ])('%j', async (yaml, message, hint) => {
    const { e, file } = await refusal(yaml);
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message.startsWith(`${file}:${message}`), e.message).toBe(true);
    expect(e.hint).toMatch(hint);
  });

  it('the same value as a flag keeps the flag\'s exit code, and a flag overrides the file', async () => {
    expect((await refusal('', { variant: 'nopymaloc' })).e.exitCode).toBe(ExitCode.CATALOGUE);
    expect((await refusal('', { python: '3.x' })).e.exitCode).toBe(ExitCode.USAGE);
    expect((await refusal('', { python: '3.13.99' })).e.exitCode).toBe(ExitCode.SOURCE);
    const dir = await withYaml('variant: nopymaloc\narch: riscv64\n');
    const p = await resolveProject({ projectDir: dir, variant: 'debug', arch: 'amd64' });
    expect(p.targets[0]!.plan.image).toBe('pydbg/cpython:3.13.5-debug-amd64');
    // --board overrides the file's arch rather than contradicting it
    const b = await resolveProject({ projectDir: await withYaml('arch: amd64\n'), board: 'rpi4', python: '3.13' });
    expect(b.targets[0]!.plan.arch.name).toBe('arm64');
  });

  it('timeout: 0 is refused where it is (it used to time every run out at once)', async () => {
    expect(() => parseConfig('timeout: 0\n', 'p.yaml')).toThrow(/^p\.yaml:1:10: timeout: must be a positive number of seconds/);
    expect(() => parseConfig('timeout: 99999999\n', 'p.yaml')).toThrow(/at most 2147483/);
    expect(parseConfig('timeout: 0.5\n').timeout).toBe(0.5);
  });

  it('an env name that is not a variable name: at the key, in pydbg\'s words', () => {
    const e = (() => {
      try {
        parseConfig('env:\n  OK: "1"\n  "1BAD": x\n', 'p.yaml');
      } catch (x) {
        return x as PydbgError;
      }
    })()!;
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toBe('p.yaml:3:3: env.1BAD: not a valid environment variable name');
    expect(e.message).not.toMatch(/Invalid key in record/);
    expect(e.hint).toMatch(/letters, digits and _/);
  });
});

describe('YAML pydbg cannot read', () => {
  it('an alias bomb is a config error at its first alias, not a stack trace', async () => {
    const rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [prev, name] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g'], ['g', 'h'], ['h', 'i']]) rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    const dir = await withYaml(`${rows.join('\n')}\n`);
    const e = (await loadConfig(dir).catch((x: unknown) => x)) as PydbgError;
    expect(e).toBeInstanceOf(PydbgError);
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toBe(`${join(dir, 'pydbg.yaml')}:2:8: YAML aliases here expand to too much data (an alias bomb?)`);
    expect(e.hint).toMatch(/no anchors or aliases/);
  });
  it('a long unknown key is cut in the message', () => {
    expect(() => parseConfig(`${'k'.repeat(500)}: 1\n`, 'p.yaml')).toThrow(/^p\.yaml:1:1: k{40}… \(500 characters\): unknown field$/);
  });
});
