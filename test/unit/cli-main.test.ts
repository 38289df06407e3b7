import { afterEach, describe, expect, it } from 'vitest';
import { execute, formatError, type MainIO } from '../../src/cli/main.js';
import { LABEL } from '../../src/container/labels.js';
import type { Engine } from '../../src/engine/engine.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { PydbgError } from '../../src/errors.js';
import { sink, tempProject } from './cli-helpers.js';

function io(engine?: Engine, cwd = process.cwd()) {
  const stdout = sink();
  const stderr = sink();
  let made = 0;
  const m: MainIO = {
    stdout,
    stderr,
    deps: { tty: false, signal: new AbortController().signal, cwd, progress: () => ({ log() {}, phase() {}, event() {}, output() {}, stop() {} }) },
    engineFactory: async () => () => {
      made += 1;
      if (!engine) throw new Error('no engine in this test');
      return engine;
    },
  };
  return { m, stdout, stderr, made: () => made };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('execute: argv → output and exit code', () => {
  it('bare pydbg: exit 2, the error then the help on stderr, nothing on stdout', async () => {
    const t = io();
    expect(await execute([], t.m)).toBe(2);
    expect(t.stderr.text()).toMatch(/^pydbg: error: no command given\n {2}hint: see 'pydbg --help'\n\nUsage: pydbg \[options\] \[command\]/);
    expect(t.stdout.text()).toBe('');
  });
  it('pydbg help nosuch: exit 2 with a suggestion where there is one, and the help', async () => {
    const t = io();
    expect(await execute(['help', 'nosuch'], t.m)).toBe(2);
    expect(t.stderr.text()).toMatch(/^pydbg: error: unknown command 'nosuch'\n {2}hint: commands: variants, env, run/);
    expect(t.stderr.text()).toContain('Usage: pydbg [options] [command]');
    const u = io();
    expect(await execute(['help', 'doctr'], u.m)).toBe(2);
    expect(u.stderr.text()).toMatch(/^pydbg: error: unknown command 'doctr' \(Did you mean 'doctor'\?\)\n/);
  });
  it('help, --help and --version go to stdout with exit 0', async () => {
    for (const argv of [['help', 'env', 'build'], ['env', 'build', '--help'], ['env', 'help', 'build'], ['--version'], ['--help'], ['help']]) {
      const t = io();
      expect(await execute(argv, t.m), argv.join(' ')).toBe(0);
      expect(t.stdout.text().length).toBeGreaterThan(3);
      expect(t.stderr.text()).toBe('');
    }
    const t = io();
    await execute(['help', 'env', 'build'], t.m);
    expect(t.stdout.text()).toMatch(/^Usage: pydbg env build \[options\]\n[\s\S]*Examples:\n {2}pydbg env build/);
  });
  it('a typo under env suggests within env, in the one error shape', async () => {
    const t = io();
    expect(await execute(['env', 'biuld'], t.m)).toBe(2);
    expect(t.stderr.text()).toBe("pydbg: error: unknown command 'env biuld' (Did you mean 'env build'?)\n  hint: commands: build, dockerfile, list, inspect, rm, push, gc; see 'pydbg env --help'\n");
  });
  it('a malformed value: one line, a hint, exit 2, and the engine is never made', async () => {
    for (const argv of [['run', '--memory', 'lots', '--', 'x'], ['env', 'build', '--source-url', 'http://[::1'], ['check', 'leaks', 'x:y', '--warmup', 'abc']]) {
      const t = io(new FakeEngine());
      expect(await execute(argv, t.m)).toBe(2);
      expect(t.stderr.text().split('\n')).toEqual([expect.stringMatching(/^pydbg: error: /), expect.stringMatching(/^ {2}hint: /), '']);
      expect(t.made()).toBe(0);
    }
  });
  it('commands without an engine never make one', async () => {
    const t = io();
    expect(await execute(['variants', '--json'], t.m)).toBe(0);
    expect(JSON.parse(t.stdout.text()).variants.length).toBeGreaterThan(5);
    expect(t.made()).toBe(0);
  });
  it('a PydbgError from a command: its exit code and message; anything else: exit 1 as a bug', async () => {
    const fake = new FakeEngine();
    const t = io(fake);
    expect(await execute(['env', 'inspect', '3.13.5-debug'], t.m)).toBe(8);
    expect(t.stderr.text()).toMatch(/^pydbg: error: no pydbg image '3.13.5-debug'\n {2}hint: /);
    expect(t.made()).toBe(1);
    const u0 = io(new FakeEngine());
    expect(await execute(['env', 'rm'], u0.m)).toBe(2); // a usage error found by the command: no engine made
    expect(u0.made()).toBe(0);
    const broken = { ping: () => Promise.reject(new TypeError('boom')) } as unknown as Engine;
    const u = io(broken);
    expect(await execute(['env', 'list'], u.m)).toBe(1);
    expect(u.stderr.text()).toMatch(/^pydbg: internal error: TypeError: boom/);
    // an abortable wait (heap's interval) rejects with an AbortError whose cause is the interruption
    const aborted = Object.assign(new Error('The operation was aborted', { cause: new PydbgError(130, 'interrupted', { hint: 'stopped by the user' }) }), { name: 'AbortError' });
    const a = io({ ping: () => Promise.reject(aborted) } as unknown as Engine);
    expect(await execute(['env', 'list'], a.m)).toBe(130);
    expect(a.stderr.text()).toBe('pydbg: error: interrupted\n  hint: stopped by the user\n');
  });
  it('run --json - (the old spelling) prints the result on stdout; the exit code is the command\'s', async () => {
    const fake = new FakeEngine();
    fake.addImage({ tags: ['pydbg/cpython:3.13.5-debug-amd64'], labels: { [LABEL.kind]: 'variant' } });
    fake.scriptRun({ exitCode: 139, stdout: 'out\n' }, { stdout: 'gdb says nothing\n' });
    const p = await tempProject();
    cleanups.push(p.cleanup);
    const t = io(fake, p.dir);
    expect(await execute(['run', '-q', '--json', '-', '--', 'python', 'crash.py'], t.m)).toBe(139);
    expect(JSON.parse(t.stdout.text())).toMatchObject({ exitCode: 139, signal: 'SIGSEGV', command: ['python', 'crash.py'] });
    expect(t.stderr.text()).toContain('out\n');
  });
});

describe('formatError', () => {
  it('message, detail lines, hint', () => {
    expect(formatError(new PydbgError(6, 'build failed', { details: ['a', 'b'], hint: 'see the log' }))).toBe('pydbg: error: build failed\n  | a\n  | b\n  hint: see the log\n');
  });
});
