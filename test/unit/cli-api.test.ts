import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import * as api from '../../src/api.js';
import { LABEL } from '../../src/container/labels.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { ExitCode } from '../../src/errors.js';
import { tempProject } from './cli-helpers.js';

const DEBUG_313 = 'pydbg/cpython:3.13.5-debug-amd64';
const withImage = () => {
  const fake = new FakeEngine();
  fake.addImage({ tags: [DEBUG_313], labels: { [LABEL.kind]: 'variant' } });
  return fake;
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
async function project(files: Record<string, string> = {}) {
  const p = await tempProject(files);
  cleanups.push(p.cleanup);
  return p.dir;
}

describe('api: the same validators as the CLI, before any engine call', () => {
  it.each([
    [{ memory: 'lots' }, /memory must be a size/],
    [{ cpus: 'many' }, /cpus must be a number of CPUs/],
    [{ user: 'a:b:c' }, /user must be USER or USER:GROUP/],
    [{ env: ['FOO'] }, /env must be NAME=VALUE/],
    [{ env: { 'NOT VALID': '1' } }, /env must be NAME=VALUE/],
    [{ timeout: 0 }, /timeout must be a positive number/],
    [{ repro: '-x', command: undefined }, /repro needs a name/],
  ] as Array<[api.RunOptions, RegExp]>)('run(%j)', async (o, message) => {
    const fake = new FakeEngine();
    await expect(api.run({ command: ['true'], ...o }, { engine: fake })).rejects.toMatchObject({ exitCode: ExitCode.USAGE, message: expect.stringMatching(message) });
    expect(fake.calls).toEqual([]);
  });
  it.each([
    [{ sha256: 'zz' }, /sha256 must be 64 hex digits/],
    [{ sourceUrl: 'http://[::1' }, /sourceUrl is not a valid URL/],
    [{ configureArgs: ['--a\nRUN x'] }, /configureArgs must not contain control characters/],
    [{ cflags: ['-O0\n'] }, /cflags must not contain control characters/],
    [{ pip: 'pypy' as 'pypi' }, /pip must be one of offline, pypi/],
    [{ timeout: -1 }, /timeout must be a positive number/],
  ] as Array<[api.BuildOptions, RegExp]>)('build(%j)', async (o, message) => {
    const fake = new FakeEngine();
    await expect(api.build(o, { engine: fake })).rejects.toMatchObject({ exitCode: ExitCode.USAGE, message: expect.stringMatching(message) });
    expect(fake.calls).toEqual([]);
  });
  it('check: analysis, counts', async () => {
    const fake = new FakeEngine();
    await expect(api.check({ analysis: 'memchek', repro: ['x.py'] }, { engine: fake })).rejects.toMatchObject({ exitCode: ExitCode.USAGE, message: expect.stringContaining('Did you mean memcheck') });
    await expect(api.check({ analysis: 'leaks', repro: ['x:y'], warmup: -1 }, { engine: fake })).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    await expect(api.check({ analysis: 'leaks', repro: ['x:y'], rounds: 0 }, { engine: fake })).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    expect(fake.calls).toEqual([]);
  });
  it('run: a command or a repro, not both, not neither', async () => {
    await expect(api.run({}, { engine: new FakeEngine() })).rejects.toMatchObject({ exitCode: ExitCode.USAGE, message: 'no command given' });
    await expect(api.run({ command: ['x'], repro: 'leak' }, { engine: new FakeEngine() })).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
  });
  it('validateProject / validateBuild convert like the CLI', () => {
    expect(api.validateProject({ memory: '1g', cpus: 1.5, env: ['A=1'], timeout: 30 })).toMatchObject({ memory: 1024 ** 3, cpus: 1.5e9, env: { A: '1' }, timeout: 30, project: '.' });
    expect(api.validateBuild({ sha256: 'F'.repeat(64), sourceUrl: 'https://e.org/Python-3.12.4.tgz' })).toMatchObject({ variant: 'debug', sha256: 'f'.repeat(64) });
  });
});

describe('api: results, and nothing on the process streams', () => {
  it('run collects the output and returns every result', async () => {
    const fake = withImage();
    fake.scriptRun({ exitCode: 0, stdout: 'hello\n', stderr: 'note\n' });
    const dir = await project();
    const r = await api.run({ projectDir: dir, command: ['python', 'x.py'], memory: '2g', env: { A: '1' } }, { engine: fake });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'hello\n', stderr: 'note\n' });
    expect(r.results).toHaveLength(1);
    expect(r.results[0]).toMatchObject({ command: ['python', 'x.py'], variant: 'debug', python: '3.13.5' });
    expect(fake.runs[0]).toMatchObject({ memoryBytes: 2 * 1024 ** 3, env: expect.objectContaining({ A: '1' }) });
  });
  it('run: several targets from pydbg.yaml; the first failure stops and sets the exit code; streams may be given', async () => {
    const fake = withImage();
    fake.addImage({ tags: ['pydbg/cpython:3.13.5-nopymalloc-amd64'], labels: { [LABEL.kind]: 'variant' } });
    fake.scriptRun({ stdout: 'one\n' }, { exitCode: 2, stdout: 'two\n' });
    const dir = await project({ 'pydbg.yaml': 'variant: [debug, nopymalloc]\nrepros:\n  r: python r.py\n' });
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const logs: string[] = [];
    const r = await api.run({ projectDir: dir, repro: 'r' }, { engine: fake, stdout: out, progress: { log: (m) => logs.push(m), phase() {}, event() {}, output() {} } });
    expect(r.exitCode).toBe(2);
    expect(r.results.map((x) => x.variant)).toEqual(['debug', 'nopymalloc']);
    expect(r.stdout).toBe('');
    expect(text).toBe('one\ntwo\n');
    expect(logs.some((l) => l.includes('variant nopymalloc'))).toBe(true);
  });
  it('build: false — a missing image is the same PydbgError as on the command line (exit 13)', async () => {
    const dir = await project();
    await expect(api.run({ projectDir: dir, command: ['true'], build: false }, { engine: new FakeEngine() })).rejects.toMatchObject({ exitCode: ExitCode.NO_IMAGE });
  });
});
