import { describe, expect, it } from 'vitest';
import * as v from '../../src/cli/validate.js';
import { ANALYSIS_NAMES as REGISTRY_NAMES } from '../../src/analyses/registry.js';
import { ExitCode } from '../../src/errors.js';

const usage = (f: () => unknown, message: RegExp) => expect(f).toThrow(expect.objectContaining({ exitCode: ExitCode.USAGE, message: expect.stringMatching(message), hint: expect.any(String) }));

describe('validators: good values convert', () => {
  it.each([
    ['4g', 4 * 1024 ** 3], ['512m', 512 * 1024 ** 2], ['512M', 512 * 1024 ** 2], ['1.5g', 1.5 * 1024 ** 3], ['2GiB', 2 * 1024 ** 3], ['4gb', 4 * 1024 ** 3], [' 8g ', 8 * 1024 ** 3],
    ['7000000', 7000000], [64 * 1024 ** 2, 64 * 1024 ** 2],
  ] as const)('parseMemory(%j) = %d', (s, n) => expect(v.parseMemory(s)).toBe(n));
  it.each([['2', 2e9], ['0.5', 5e8], ['.25', 2.5e8], [1.5, 1.5e9], ['0.01', 1e7]] as const)('parseCpus(%j) = %d', (s, n) => expect(v.parseCpus(s)).toBe(n));
  it.each(['1000', '1000:1000', 'root', 'nobody:nogroup', 'alice:100', '_svc', 'user.name', 'machine$'])('parseUser(%j)', (s) => expect(v.parseUser(s)).toBe(s));
  it('parseEnvPair / parseEnv', () => {
    expect(v.parseEnvPair('A=1')).toEqual(['A', '1']);
    expect(v.parseEnvPair('A=')).toEqual(['A', '']);
    expect(v.parseEnvPair('URL=a=b')).toEqual(['URL', 'a=b']);
    expect(v.parseEnv(['A=1', 'B=2', 'A=3'])).toEqual({ A: '3', B: '2' });
    expect(v.parseEnv({ _X: 'y' })).toEqual({ _X: 'y' });
  });
  it('seconds, counts, sha256, URLs, Dockerfile words, paths, choices', () => {
    expect(v.parseSeconds('90')).toBe(90);
    expect(v.parseSeconds('0.5')).toBe(0.5);
    expect(v.parseSeconds(v.MAX_SECONDS)).toBe(v.MAX_SECONDS);
    expect(v.parseCount('0', '--warmup', 0)).toBe(0);
    expect(v.parseCount('12', '--rounds')).toBe(12);
    expect(v.parseSha256('AB'.repeat(32))).toBe('ab'.repeat(32));
    expect(v.parseSourceUrl('https://example.org/Python-3.12.4.tgz')).toBe('https://example.org/Python-3.12.4.tgz');
    expect(v.parseSourceUrl('http://[::1]:8080/x.tgz')).toBe('http://[::1]:8080/x.tgz');
    expect(v.parseDockerfileWord('--with-lto=full', '--configure-arg')).toBe('--with-lto=full');
    expect(v.parsePath('./-odd', '--out')).toBe('./-odd');
    expect(v.parseChoice('pypi', '--pip', ['offline', 'pypi'])).toBe('pypi');
    expect(v.parseJsonSwitch(undefined)).toBe(true);
    expect(v.parseJsonSwitch('-')).toBe(true);
    expect(v.parseAnalysis('pymalloc-debug')).toBe('pymalloc-debug');
  });
});

describe('validators: bad values are one-line usage errors with a hint', () => {
  it.each([
    [() => v.parseMemory('lots'), /--memory must be a size/],
    [() => v.parseMemory('0'), /at least 6m/],
    [() => v.parseMemory('-1g'), /must be a size/],
    [() => v.parseMemory('1e3g'), /must be a size/],
    [() => v.parseMemory(1.5), /at least 6m/],
    [() => v.parseCpus('many'), /--cpus must be a number of CPUs/],
    [() => v.parseCpus('0.001'), /from 0.01/],
    [() => v.parseCpus('-2'), /--cpus/],
    [() => v.parseCpus(Infinity), /--cpus/],
    [() => v.parseUser('a:b:c'), /USER or USER:GROUP/],
    [() => v.parseUser(''), /USER or USER:GROUP/],
    [() => v.parseUser('1000:'), /USER or USER:GROUP/],
    [() => v.parseUser('bad user'), /USER or USER:GROUP/],
    [() => v.parseUser('-u'), /USER or USER:GROUP/],
    [() => v.parseEnvPair('FOO'), /NAME=VALUE/],
    [() => v.parseEnvPair('=x'), /NAME=VALUE/],
    [() => v.parseEnvPair('A-B=1'), /NAME=VALUE/],
    [() => v.parseEnvPair('A=x\0y'), /NUL/],
    [() => v.parseEnv({ 'bad name': 'x' }), /NAME=VALUE/],
    [() => v.parseSeconds('0'), /positive number of seconds/],
    [() => v.parseSeconds('abc'), /positive number of seconds/],
    [() => v.parseSeconds('1e3'), /positive number of seconds/],
    [() => v.parseSeconds(NaN), /positive number of seconds/],
    [() => v.parseSeconds(v.MAX_SECONDS + 1), /at most/],
    [() => v.parseCount('abc', '--warmup', 0), /--warmup must be a whole number ≥ 0/],
    [() => v.parseCount('0', '--rounds'), /--rounds must be a whole number ≥ 1/],
    [() => v.parseCount('-1', '--iterations'), /--iterations/],
    [() => v.parseCount(2.5, '--iterations'), /--iterations/],
    [() => v.parseSha256('zz'), /64 hex digits/],
    [() => v.parseSha256('a'.repeat(63)), /64 hex digits/],
    [() => v.parseSourceUrl('not a url'), /not a valid URL: 'not a url'/],
    [() => v.parseSourceUrl('http://[::1'), /not a valid URL/],
    [() => v.parseSourceUrl('file:///tmp/x.tgz'), /http\(s\) URL/],
    [() => v.parseDockerfileWord('--a\nRUN x', '--configure-arg'), /control characters.*'--a\\x0aRUN x'/],
    [() => v.parseDockerfileWord('-O0\t-g', '--cflags'), /control characters/],
    [() => v.parsePath('--json', '--out'), /needs a path, not the option '--json'/],
    [() => v.parsePath('', '--out'), /needs a path/],
    [() => v.parseName('-x', '--repro'), /--repro needs a name/],
    [() => v.parseChoice('pypy', '--pip', ['offline', 'pypi']), /\(Did you mean pypi\?\)/],
    [() => v.parseJsonSwitch('out.json'), /takes no file/],
    [() => v.parseAnalysis('leak'), /unknown analysis 'leak' \(Did you mean leaks\?\)/],
  ] as Array<[() => unknown, RegExp]>)('%#: %s', (f, message) => usage(f, message));
});

describe('suggestions', () => {
  it('closestTo: one typo (a swap counts as one), case-insensitive; nothing far off', () => {
    expect(v.closestTo('rnu', ['run', 'env'])).toBe('run');
    expect(v.closestTo('biuld', ['build', 'list'])).toBe('build');
    expect(v.closestTo('MEMCHECK', ['memcheck'])).toBe('memcheck');
    expect(v.closestTo('xyzzy', ['run', 'env', 'check'])).toBeUndefined();
    expect(v.editDistance('ab', 'ba')).toBe(1);
    expect(v.editDistance('kitten', 'sitting')).toBe(3);
  });
  it("the CLI's analysis names are the registry's (parsing does not load the analyses)", () => {
    expect([...v.ANALYSIS_NAMES]).toEqual([...REGISTRY_NAMES]);
  });
});
