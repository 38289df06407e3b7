import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boards } from '../../src/cli/commands/boards.js';
import { check } from '../../src/cli/commands/check.js';
import { doctor } from '../../src/cli/commands/doctor.js';
import { dockerfile, fmtDuration, inspect, list, rm } from '../../src/cli/commands/env.js';
import { run, shell } from '../../src/cli/commands/run.js';
import { variants } from '../../src/cli/commands/variants.js';
import { parseCLI } from '../../src/cli/parse.js';
import { LABEL } from '../../src/container/labels.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import { BOARDS } from '../../src/catalogue/arch.js';
import { tempProject, testDeps } from './cli-helpers.js';

const DEBUG_313 = 'pydbg/cpython:3.13.5-debug-amd64';
const NOPYMALLOC_313 = 'pydbg/cpython:3.13.5-nopymalloc-amd64';
const variantImage = (fake: FakeEngine, tag: string, variant: string) =>
  fake.addImage({ tags: [tag], labels: { [LABEL.kind]: 'variant', [LABEL.image]: tag, [LABEL.python]: '3.13.5', [LABEL.variant]: variant, [LABEL.arch]: 'amd64', [LABEL.verified]: '{"py_debug":true}' } });

/** parse like the CLI, then call the command function */
const opts = <T>(argv: string[]) => {
  const p = parseCLI(argv);
  return { ...p.args, ...p.options } as T;
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

describe('catalogue commands write to deps.stdout only', () => {
  it('variants / boards: text, or JSON with --json', async () => {
    const t = testDeps();
    expect((await variants({}, t.deps)).exitCode).toBe(0);
    expect(t.stdout.text()).toContain('Compose with commas');
    const j = testDeps();
    await variants({ json: true }, j.deps);
    expect(JSON.parse(j.stdout.text()).variants.map((v: { name: string }) => v.name)).toContain('nopymalloc');
    const b = testDeps();
    const r = await boards({ json: true }, b.deps);
    expect(JSON.parse(b.stdout.text())).toEqual(r.data);
    expect((r.data as unknown[]).length).toBe(BOARDS.length);
    expect(t.engineCalls() + j.engineCalls() + b.engineCalls()).toBe(0);
  });
  it('env dockerfile needs no engine', async () => {
    const t = testDeps();
    await dockerfile(opts(['env', 'dockerfile', '--variant', 'nopymalloc']), t.deps);
    expect(t.stdout.text()).toMatch(/^FROM /m);
    expect(t.stdout.text()).toContain('--without-pymalloc');
    expect(t.engineCalls()).toBe(0);
  });
});

describe('env list / inspect / rm on a fake engine', () => {
  it('lists variant images, as a table or JSON', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    const t = testDeps(fake);
    await list({}, t.deps);
    expect(t.stdout.text()).toMatch(/^IMAGE\s+PYTHON\s+VARIANT/);
    expect(t.stdout.text()).toContain(DEBUG_313);
    const j = testDeps(fake);
    await list({ json: true }, j.deps);
    expect(JSON.parse(j.stdout.text())[0]).toMatchObject({ image: DEBUG_313, variant: 'debug', verified: { py_debug: true } });
  });
  it('inspect: a short name resolves; an unknown image is exit 8', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    const t = testDeps(fake);
    const r = await inspect(opts(['env', 'inspect', '3.13.5-debug', '--json']), t.deps);
    expect(JSON.parse(t.stdout.text()).tags).toEqual([DEBUG_313]);
    expect(r.exitCode).toBe(0);
    await expect(inspect({ image: '3.12.12-debug' }, testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.NOT_FOUND });
  });
  it('rm: names or --all, never both, and nothing at all is a usage error before the engine', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    await expect(rm({ images: [] }, testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    await expect(rm({ images: ['x'], all: true }, testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    expect(fake.calls).toEqual([]);
    const t = testDeps(fake);
    await rm(opts(['env', 'rm', '3.13.5-debug']), t.deps);
    expect(t.stdout.text()).toBe(`removed ${DEBUG_313}\n`);
    expect(fake.images()).toEqual([]);
  });
});

describe('doctor', () => {
  it('an unreachable engine is a failed check and exit 5, not a thrown error', async () => {
    const fake = new FakeEngine();
    fake.unreachable = new Error('connect ENOENT /var/run/docker.sock');
    const t = testDeps(fake);
    const r = await doctor({ json: true }, t.deps);
    expect(r.exitCode).toBe(ExitCode.ENGINE);
    const out = JSON.parse(t.stdout.text());
    expect(out.ok).toBe(false);
    expect(out.checks[0]).toMatchObject({ name: 'engine', status: 'fail' });
  });
  it('says whether the engine gets the files bind-mounted or copied, and why', async () => {
    const t = testDeps(new FakeEngine({ files: 'copy' }));
    await doctor({}, t.deps);
    expect(t.stdout.text()).toMatch(/^ok\s+files\s+copied: the project into each container, reports and --rw writes back out \(the engine at fake:\/\/engine is not this machine\)$/m);
    const local = testDeps(new FakeEngine());
    await doctor({ json: true }, local.deps);
    expect(JSON.parse(local.stdout.text()).checks[1]).toMatchObject({ name: 'files', status: 'ok', detail: "bind-mounted (the engine's socket is on this machine)" });
  });
  it('a bad PYDBG_ENGINE_FILES fails the engine check with exit 2 (a usage error)', async () => {
    const t = testDeps(undefined, { engine: () => { throw new PydbgError(ExitCode.USAGE, "PYDBG_ENGINE_FILES='x' is not one of copy, mount"); } });
    const r = await doctor({}, t.deps);
    expect(r.exitCode).toBe(ExitCode.USAGE);
  });
  it('an engine that cannot even be constructed is reported the same way', async () => {
    const t = testDeps(undefined, { engine: () => { throw new Error('malformed DOCKER_HOST'); } });
    const r = await doctor({}, t.deps);
    expect(r.exitCode).toBe(ExitCode.ENGINE);
    expect(t.stdout.text()).toMatch(/^FAIL\s+engine\s+malformed DOCKER_HOST/);
  });
});

describe('run / shell on a fake engine', () => {
  it('runs the command; exit code = the command\'s; its stdout on stdout', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    fake.scriptRun({ exitCode: 3, stdout: 'hello\n', stderr: 'warn\n' });
    const dir = await project();
    const t = testDeps(fake);
    const r = await run(opts(['run', '-C', dir, '--memory', '1g', '--cpus', '2', '-e', 'A=1', '--user', '1000:1000', '--', 'python', 'x.py']), t.deps);
    expect(r.exitCode).toBe(3);
    expect(t.stdout.text()).toBe('hello\n');
    expect(t.stderr.text()).toBe('warn\n');
    expect(fake.runs).toHaveLength(1);
    expect(fake.runs[0]).toMatchObject({ image: expect.any(String), memoryBytes: 1024 ** 3, nanoCpus: 2e9, user: '1000:1000', env: expect.objectContaining({ A: '1' }) });
    expect(fake.runs[0]!.cmd.slice(-2)).toEqual(['python', 'x.py']);
  });
  it('--json: the result as JSON on stdout, the command\'s stdout on stderr; --json-out writes a file', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    fake.scriptRun({ stdout: 'hello\n' });
    const dir = await project();
    const t = testDeps(fake, { cwd: dir });
    const r = await run(opts(['run', '--json', '--json-out', 'result.json', '--', 'python', 'x.py']), t.deps);
    const json = JSON.parse(t.stdout.text());
    expect(json).toMatchObject({ command: ['python', 'x.py'], exitCode: 0, signal: null, variant: 'debug', python: '3.13.5' });
    expect(t.stderr.text()).toBe('hello\n');
    expect(JSON.parse(await readFile(join(dir, 'result.json'), 'utf8'))).toEqual(json);
    expect(r.data).toEqual(json);
  });
  it('--repro NAME runs pydbg.yaml\'s words (no sh -c); a missing one is exit 10 before any engine call', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    const dir = await project({ 'pydbg.yaml': 'repros:\n  leak: python "tests/leak repro.py" --n 3\n' });
    await run(opts(['run', '-C', dir, '--repro', 'leak']), testDeps(fake).deps);
    expect(fake.runs[0]!.cmd.slice(-4)).toEqual(['python', 'tests/leak repro.py', '--n', '3']);
    const before = fake.calls.length;
    await expect(run(opts(['run', '-C', dir, '--repro', 'nope']), testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.CONFIG, hint: 'known repros: leak' });
    await expect(run(opts(['run', '-C', dir, '--repro', 'leak', '--', 'python']), testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.USAGE });
    await expect(run(opts(['run', '-C', dir]), testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.USAGE, message: 'no command given' });
    expect(fake.calls.length).toBe(before);
  });
  it('pydbg.yaml timeout applies to run (exit 124), and --timeout wins', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    fake.scriptRun({ hang: true }, { hang: true });
    const dir = await project({ 'pydbg.yaml': 'timeout: 0.05\n' });
    await expect(run(opts(['run', '-C', dir, '--', 'sleep', '9']), testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.TIMEOUT, message: expect.stringContaining('0.05 s') });
    await expect(run(opts(['run', '-C', dir, '--timeout', '0.02', '--', 'sleep', '9']), testDeps(fake).deps)).rejects.toMatchObject({ exitCode: ExitCode.TIMEOUT, message: expect.stringContaining('0.02 s') });
    expect(fake.containers()).toEqual([]);
  });
  it('--no-build: a missing variant image is exit 13 naming the build command', async () => {
    const dir = await project();
    await expect(run(opts(['run', '--no-build', '-C', dir, '--', 'true']), testDeps(new FakeEngine()).deps)).rejects.toMatchObject({ exitCode: ExitCode.NO_IMAGE, hint: expect.stringContaining('pydbg env build --variant debug --python 3.13.5') });
  });
  it('shell: an interactive bash', async () => {
    const fake = new FakeEngine();
    variantImage(fake, DEBUG_313, 'debug');
    const dir = await project();
    const r = await shell(opts(['shell', '-C', dir, '--rw']), testDeps(fake).deps);
    expect(r.exitCode).toBe(0);
    expect(fake.runs[0]).toMatchObject({ stdin: true, cmd: expect.arrayContaining(['bash']) });
  });
});

describe('check on a fake engine', () => {
  it('memcheck: the text report on stdout, JSON with --json, files for --json-out/--sarif/--junit; exit 20 on findings', async () => {
    const xml = await readFile(join(import.meta.dirname, '..', 'fixtures', 'memcheck-oob-3.13.xml'), 'utf8');
    const fake = new FakeEngine();
    variantImage(fake, NOPYMALLOC_313, 'nopymalloc');
    fake.scriptRun({ files: { '/pydbg/out/memcheck.7.xml': xml, '/pydbg/out/memcheck.7.log': '' }, stdout: 'repro output\n' });
    const dir = await project({ 'repro.py': 'import oob\n' });
    const t = testDeps(fake, { cwd: dir });
    const r = await check(opts(['check', 'memcheck', 'repro.py', '--out', 'rep', '--json-out', 'r.json', '--sarif', 'r.sarif', '--junit', 'r.xml', '--user', '0:0']), t.deps);
    expect(r.exitCode).toBe(ExitCode.FINDINGS);
    expect(t.stdout.text()).toMatch(/^pydbg check memcheck: CPython 3\.13\.5 nopymalloc/);
    expect(t.stderr.text()).toContain('repro output'); // the repro's stdout: stdout carries the report
    const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8'));
    expect(report).toMatchObject({ schema: 'pydbg.report/1', analysis: 'memcheck' });
    expect(JSON.parse(await readFile(join(dir, 'r.sarif'), 'utf8')).version).toBe('2.1.0');
    expect(await readFile(join(dir, 'r.xml'), 'utf8')).toContain('<testsuite');
    expect(JSON.parse(await readFile(join(dir, 'rep', 'report.json'), 'utf8'))).toEqual(report);
  });
  it('an unusable analysis is exit 21 before any container runs', async () => {
    const fake = new FakeEngine();
    const dir = await project({ 'repro.py': '' });
    const t = testDeps(fake);
    await expect(check(opts(['check', 'memcheck', '--variant', 'asan', '-C', dir, 'repro.py']), t.deps)).rejects.toMatchObject({ exitCode: ExitCode.ANALYSIS_UNAVAILABLE });
    expect(fake.calls).toEqual([]);
    expect(t.engineCalls()).toBe(0);
  });
});

describe('env build durations', () => {
  it('seconds under a minute, else m:ss rounded as a whole (359.6 s is 6m00s, never 5m60s)', () => {
    expect(fmtDuration(42.04)).toBe('42.0 s');
    expect(fmtDuration(359.6)).toBe('6m00s');
    expect(fmtDuration(61.2)).toBe('1m01s');
  });
});
