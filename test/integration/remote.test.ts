/**
 * A remote engine for real: the second engine .ci/run starts (another dockerd with its own data
 * root, on tcp://127.0.0.1:2376; PYDBG_TEST_ENGINE2 moves it). It runs on this machine, so pydbg
 * would bind-mount there: PYDBG_ENGINE_FILES=copy forces the path an engine on another machine
 * takes — the project copied into each container, reports and --rw writes copied back out — and a
 * check runs end to end on it. Then the same engine over ssh:// — OpenSSH's sshd on loopback
 * (Debian's openssh-server), started here with its own keys, whose sessions reach the second engine —
 * so the real ssh command carries the Engine API. Nothing is built here: the suite's 3.13 debug image
 * is loaded into the second engine (docker save | docker load) when it is not there.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/analyses/types.js';
import { ROOT, pydbg, requireEngine, requireImages, type BuildJson } from './helpers.js';

const ENGINE2 = process.env.PYDBG_TEST_ENGINE2 ?? 'tcp://127.0.0.1:2376';
const on2 = { DOCKER_HOST: ENGINE2 };
const copying = { ...on2, PYDBG_ENGINE_FILES: 'copy' };

let debug: BuildJson;
let loaded = false;

const docker2 = (args: string[]) => execa('docker', args, { env: on2, reject: false });
/** what is on the second engine: containers and volumes (nothing may be left behind) */
const leftovers = async () => ({
  containers: (await docker2(['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean),
  volumes: (await docker2(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean),
});

/** Every path of a tree with its type, mode, size and mtime: "unchanged" means all of these. */
async function snapshot(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await readdir(join(dir, rel))).sort()) {
    const p = join(rel, n);
    const st = await stat(join(dir, p));
    out.push(`${p} ${st.isDirectory() ? 'd' : 'f'} ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.mtimeMs}`);
    if (st.isDirectory()) out.push(...(await snapshot(dir, p)));
  }
  return out;
}

async function projectCopy(example: string): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), 'pydbg-remote-')), example);
  await cp(join(ROOT, 'examples', example), dir, { recursive: true, preserveTimestamps: true });
  return dir;
}

beforeAll(async () => {
  await requireEngine();
  ({ 'debug-3.13': debug } = await requireImages('debug-3.13'));
  const info = await docker2(['info', '--format', '{{.Name}}']);
  if (info.exitCode !== 0) throw new Error(`these tests need a second engine at ${ENGINE2} (bash .ci/run starts one; PYDBG_TEST_ENGINE2 moves it): ${info.stderr.trim()}`);
  const there = await docker2(['image', 'inspect', debug.image, '--format', '{{.Id}}']);
  if (there.stdout.trim() !== debug.imageId) {
    const load = await execa('bash', ['-o', 'pipefail', '-c', `docker save ${debug.image} | DOCKER_HOST=${ENGINE2} docker load`], { reject: false, all: true });
    if (load.exitCode !== 0) throw new Error(`could not load ${debug.image} into ${ENGINE2}: ${load.all}`);
    loaded = true;
  }
}, 300_000);

afterAll(async () => {
  // the extension builds the checks made there; the loaded image too, when this file loaded it
  if (loaded) await pydbg(['env', 'rm', '--all'], on2);
  else {
    const ext = await docker2(['images', '-q', '--filter', 'label=io.pydbg.kind=ext']);
    for (const id of new Set(ext.stdout.split('\n').filter(Boolean))) await docker2(['rmi', '-f', id]);
  }
}, 120_000);

describe('a remote engine: the project copied in, results copied out', () => {
  it('check memcheck finds the leak at leak.c:7; the report arrives in --out, the project is untouched, nothing is left on the engine', async () => {
    const project = await projectCopy('leak');
    const before = await snapshot(project);
    const leftBefore = await leftovers();
    const out = join(await mkdtemp(join(tmpdir(), 'pydbg-remote-out-')), 'report');
    const started = Date.now();
    const r = await pydbg(['check', 'memcheck', '--variant', 'debug', '--python', '3.13', '-C', project, 'repro.py', '--out', out, '--json'], copying);
    const seconds = (Date.now() - started) / 1000;
    expect(r.exitCode, r.all).toBe(20);
    expect(r.stderr).toContain(`pydbg: PYDBG_ENGINE_FILES=copy; the engine at ${ENGINE2} is this machine`);
    expect(r.stderr).toContain('the project is copied into each container and results copied out');
    const report = JSON.parse(r.stdout) as AnalysisReport;
    expect(report.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line])).toEqual([['Leak_DefinitelyLost', 'leak.c', 7]]);
    // the raw output was written in the container and copied out; the report beside it
    const files = await readdir(out);
    expect(files).toContain('report.json');
    expect(files.filter((f) => /^memcheck\.\d+\.xml$/.test(f))).toHaveLength(1);
    const xml = await readFile(join(out, files.find((f) => f.endsWith('.xml'))!), 'utf8');
    expect(xml).toContain('Leak_DefinitelyLost');
    expect(report.rawFiles.every((f) => f.startsWith(out))).toBe(true);
    expect(await snapshot(project)).toEqual(before);
    expect(await leftovers()).toEqual(leftBefore);
    console.log(`check memcheck on the copying engine: ${seconds.toFixed(1)} s`);
  }, 600_000);

  it('run --rw: what the command writes into the project is copied back, with its modes; a read-only run writes only its copy', async () => {
    const project = await projectCopy('leak');
    const leftBefore = await leftovers();
    const rw = await pydbg(['run', '--rw', '--variant', 'debug', '--python', '3.13', '-C', project, '--', 'sh', '-c', 'echo hi > out.txt && mkdir -p logs && echo x > logs/run.log && chmod 640 logs/run.log && rm repro.py'], copying);
    expect(rw.exitCode, rw.all).toBe(0);
    expect(await readFile(join(project, 'out.txt'), 'utf8')).toBe('hi\n');
    expect((await stat(join(project, 'logs', 'run.log'))).mode & 0o777).toBe(0o640);
    expect((await readdir(project)).sort()).toEqual(['leak.c', 'logs', 'out.txt', 'setup.py']); // the removed file is removed here too
    // without --rw the copy in the container takes the write (read-only cannot be enforced there; as
    // root, which the default 1000:1000 of a root-owned project is not), the project does not
    const before = await snapshot(project);
    const ro = await pydbg(['run', '--user', '0:0', '--variant', 'debug', '--python', '3.13', '-C', project, '--', 'sh', '-c', 'echo x > /src/stray.txt && echo wrote'], copying);
    expect(ro.exitCode, ro.all).toBe(0);
    expect(ro.stdout).toContain('wrote');
    expect(await snapshot(project)).toEqual(before);
    expect(await leftovers()).toEqual(leftBefore);
  }, 600_000);

  it('doctor says what was decided; a bad PYDBG_ENGINE_FILES is one line, a hint, exit 2', async () => {
    const auto = await pydbg(['doctor', '--json'], on2);
    const files = (JSON.parse(auto.stdout) as { checks: Array<{ name: string; detail: string }> }).checks.find((c) => c.name === 'files');
    expect(files?.detail).toMatch(new RegExp(`^bind-mounted \\(the engine at ${ENGINE2.replace(/[./]/g, '\\$&')} is this machine`));
    const forced = await pydbg(['doctor'], copying);
    expect(forced.stdout).toMatch(/files\s+copied: the project into each container, reports and --rw writes back out \(PYDBG_ENGINE_FILES=copy; /);
    const bad = await pydbg(['run', '--variant', 'debug', '--python', '3.13', '-C', join(ROOT, 'examples', 'leak'), '--', 'true'], { ...on2, PYDBG_ENGINE_FILES: 'rsync' });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe("pydbg: error: PYDBG_ENGINE_FILES='rsync' is not one of copy, mount\n  hint: PYDBG_ENGINE_FILES=copy copies the project into the engine and results out (an engine on another machine); =mount bind-mounts them (an engine on this one); unset, pydbg decides");
  }, 120_000);
});

const SSHD = '/usr/sbin/sshd';

/** A free TCP port on loopback. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

// skipped only outside CI (.ci/run installs openssh-server; in CI a missing sshd fails the file)
describe.skipIf(!existsSync(SSHD) && !process.env.CI)('an ssh:// engine: OpenSSH on loopback (needs openssh-server)', () => {
  let dir: string;
  let pid: number | undefined;
  let port: number;
  /** the client side as a user's ~/.ssh/config would set it: a Host alias with its key and known host */
  const sshEnv = (host: string) => ({ DOCKER_HOST: `ssh://${host}`, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` });

  beforeAll(async () => {
    if (!existsSync(SSHD)) throw new Error(`no ${SSHD}: install openssh-server (bash .ci/run does)`);
    dir = await mkdtemp(join(tmpdir(), 'pydbg-sshd-'));
    for (const k of ['hostkey', 'id', 'other']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)]);
    await cp(join(dir, 'id.pub'), join(dir, 'authorized_keys'));
    port = await freePort();
    const docker = (await execa('sh', ['-c', 'command -v docker'])).stdout.trim();
    // every session's docker command reaches the second engine
    await writeFile(join(dir, 'sshd_config'), [
      `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'hostkey')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no',
      `PidFile ${join(dir, 'sshd.pid')}`, `SetEnv DOCKER_HOST=${ENGINE2} PATH=${join(docker, '..')}:/usr/bin:/bin`, '',
    ].join('\n'));
    await mkdir('/run/sshd', { recursive: true });
    await execa(SSHD, ['-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')]);
    for (let i = 0; i < 50 && pid === undefined; i++) {
      pid = Number(await readFile(join(dir, 'sshd.pid'), 'utf8').catch(() => '')) || undefined;
      if (pid === undefined) await sleep(100);
    }
    if (pid === undefined) throw new Error(`sshd did not start: ${await readFile(join(dir, 'sshd.log'), 'utf8').catch(() => '')}`);
    const hostKey = (await readFile(join(dir, 'hostkey.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
    await writeFile(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
    const host = (name: string, key: string, known: string) =>
      [`Host ${name}`, '  HostName 127.0.0.1', `  Port ${port}`, `  User ${process.env.USER ?? 'root'}`, `  IdentityFile ${join(dir, key)}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${known}`, '  StrictHostKeyChecking yes'].join('\n');
    await writeFile(join(dir, 'config'), [host('pydbg-loop', 'id', join(dir, 'known_hosts')), host('pydbg-badkey', 'other', join(dir, 'known_hosts')), host('pydbg-unknown', 'id', '/dev/null'), ''].join('\n'));
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${join(dir, 'config')} "$@"\n`);
    await chmod(join(dir, 'bin', 'ssh'), 0o755);
  }, 60_000);

  afterAll(async () => {
    if (pid !== undefined) process.kill(pid);
    await rm(dir, { recursive: true, force: true });
  });

  it('check memcheck over ssh finds the leak at leak.c:7, the report copied out; run --rw copies back; nothing left behind', async () => {
    const project = await projectCopy('leak');
    const before = await snapshot(project);
    const leftBefore = await leftovers();
    const out = join(await mkdtemp(join(tmpdir(), 'pydbg-ssh-out-')), 'report');
    const started = Date.now();
    const r = await pydbg(['check', 'memcheck', '--variant', 'debug', '--python', '3.13', '-C', project, 'repro.py', '--out', out, '--json'], sshEnv('pydbg-loop'));
    const seconds = (Date.now() - started) / 1000;
    expect(r.exitCode, r.all).toBe(20);
    expect(r.stderr).toContain('pydbg: the engine at ssh://pydbg-loop is reached over ssh (another machine): the project is copied into each container and results copied out');
    const report = JSON.parse(r.stdout) as AnalysisReport;
    expect(report.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line])).toEqual([['Leak_DefinitelyLost', 'leak.c', 7]]);
    expect((await readdir(out)).filter((f) => f === 'report.json' || /^memcheck\.\d+\.xml$/.test(f))).toHaveLength(2);
    expect(await snapshot(project)).toEqual(before);
    const rw = await pydbg(['run', '--rw', '--variant', 'debug', '--python', '3.13', '-C', project, '--', 'sh', '-c', 'echo over-ssh > ssh.txt'], sshEnv('pydbg-loop'));
    expect(rw.exitCode, rw.all).toBe(0);
    expect(await readFile(join(project, 'ssh.txt'), 'utf8')).toBe('over-ssh\n');
    expect(await leftovers()).toEqual(leftBefore);
    console.log(`check memcheck over ssh: ${seconds.toFixed(1)} s`);
  }, 600_000);

  it("a refused key, an unknown host key, no sshd: one line with ssh's words, a hint, exit 5", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['pydbg-badkey', 'Permission denied (publickey)', /ssh-agent/],
      ['pydbg-unknown', 'Host key verification failed.', /known_hosts/],
      [`root@127.0.0.1:${await freePort()}`, 'Connection refused', /is sshd running there/],
    ];
    for (const [host, words, hint] of cases) {
      const r = await pydbg(['run', '--variant', 'debug', '--python', '3.13', '-C', join(ROOT, 'examples', 'leak'), '--', 'true'], sshEnv(host));
      expect(r.exitCode, r.all).toBe(5);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^pydbg: error: Docker engine not reachable at ssh://${host.replace(/[.]/g, '\\.')} \\(DOCKER_HOST: .*${words.replace(/[.()]/g, '\\$&')}`));
      expect(lines[1]).toMatch(hint);
    }
  }, 120_000);
});
