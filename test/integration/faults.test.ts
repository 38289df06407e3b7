/**
 * What goes wrong, and what pydbg leaves behind when it does: nothing.
 *
 * Uses none of the suite's images: its builds are meant to fail (or be stopped), and reuse the base
 * and toolchain layers the global setup made. The costliest is the verification failure: a full
 * 2.7 build (about 1.5 min on two cores) whose probe refuses it.
 */
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/engine/docker.js';
import { CLI, engineLeftovers, pydbg, requireEngine } from './helpers.js';

let engine: DockerEngine;
beforeAll(async () => {
  engine = await requireEngine();
});

async function expectNothingLeft(since: number, tag: string) {
  const left = await engineLeftovers(engine, since);
  expect(left.containers).toEqual([]);
  expect(left.dangling).toEqual([]);
  expect(await engine.inspectImage(tag)).toBeUndefined();
}

describe('faults', () => {
  it('engine unreachable: exit 5, one line and a hint', async () => {
    const r = await pydbg(['env', 'build', '--variant', 'debug', '--python', '3.13'], { DOCKER_HOST: 'unix:///tmp/pydbg-no-such-engine.sock' });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/^pydbg: error: Docker engine not reachable at unix:\/\/\/tmp\/pydbg-no-such-engine\.sock/);
    expect(r.stderr).toContain('hint:');
    expect(r.stderr).toContain('DOCKER_HOST');
  });

  it('a failing build: exit 6, the failing step, its last lines and the log path; nothing left', async () => {
    const since = Date.now();
    const r = await pydbg(['env', 'build', '--variant', 'debug', '--python', '3.9', '--configure-arg=CC=/nonexistent/cc']);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/build failed at step \d+\/\d+ \(RUN set -eu;/);
    expect(r.stderr).toMatch(/\| .*(C compiler|cannot create executables|no acceptable C compiler)/);
    expect(r.stderr).toMatch(/hint: full log: \S+\.log/);
    await expectNothingLeft(since, 'pydbg/cpython:3.9.2-debug-amd64');
  });

  it('an interpreter that is not what the variant claims is refused: exit 7, no tag', async () => {
    const since = Date.now();
    // "release" whose CFLAGS secretly turn on COUNT_ALLOCS (a configure switch such as --with-pydebug
    // is refused up front, see below; a -D in CFLAGS is not): the probe must notice in the built image
    const r = await pydbg(['env', 'build', '--variant', 'release', '--python', '2.7', '--configure-arg=CFLAGS=-DCOUNT_ALLOCS', '--json']);
    expect(r.exitCode, r.stderr.split('\n').slice(-20).join('\n')).toBe(7);
    expect(r.stderr).toContain('verification failed');
    expect(r.stderr).toContain('count_allocs: expected false, got true');
    const left = await engineLeftovers(engine, since);
    expect(left.containers).toEqual([]);
    expect(left.dangling).toEqual([]);
    const tags = await execa('docker', ['images', 'pydbg/cpython', '--format', '{{.Tag}}']);
    expect(tags.stdout).not.toContain('2.7.18-release-amd64');
  });

  it('Ctrl-C mid-build: exit 130, no container, no dangling image, no tag', async () => {
    const since = Date.now();
    const child = execa(process.execPath, [CLI, 'env', 'build', '--variant', 'release', '--python', '3.11'], { reject: false });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the build never reached its compile step:\n${seen}`)), 300_000);
      child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/step 4\/\d+ RUN/.test(seen)) {
          clearTimeout(timer);
          setTimeout(resolve, 8000); // let configure get going inside the step container
        }
      });
    });
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(r.stderr).toContain('interrupted');
    await expectNothingLeft(since, 'pydbg/cpython:3.11.2-release-amd64');
  });

  it('--timeout mid-build: exit 124, nothing left', async () => {
    const since = Date.now();
    const r = await pydbg(['env', 'build', '--variant', 'release', '--python', '3.11', '--timeout', '25']);
    expect(r.exitCode).toBe(124);
    expect(r.stderr).toContain('timed out');
    await expectNothingLeft(since, 'pydbg/cpython:3.11.2-release-amd64');
  });

  it('bad input is refused before any work, with the documented exit codes', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['env', 'build', '--variant', 'count-allocs', '--python', '3.9'], 3, /bpo-39489/],
      [['env', 'build', '--variant', 'freethreaded', '--python', '3.12'], 3, /3\.13/],
      [['env', 'build', '--variant', 'trace-refs,freethreaded', '--python', '3.13'], 3, /--disable-gil/],
      [['env', 'build', '--variant', 'debgu'], 3, /did you mean 'debug'/],
      [['env', 'build', '--python', '3.13.99'], 4, /no pinned sha256/],
      [['env', 'build', '--variant', 'release', '--python', '2.7', '--configure-arg=--with-pydebug'], 3, /contradicts variant 'release'/],
      [['env', 'build', '--frobnicate'], 2, /unknown option/],
      [['env', 'build', '--source', '/nonexistent/cpython'], 4, /does not exist/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await pydbg(args);
      expect(r.exitCode, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('pydbg: error:'))).toHaveLength(1);
    }
  });

  it('doctor reports the engine and the binfmt state as JSON', async () => {
    const r = await pydbg(['doctor', '--json']);
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
    expect(j.ok).toBe(true);
    expect(j.checks.find((c) => c.name === 'engine')?.detail).toMatch(/API \d+\.\d+/);
    expect(j.checks.some((c) => c.name.startsWith('binfmt') || c.name.startsWith('qemu'))).toBe(true);
  });
});
