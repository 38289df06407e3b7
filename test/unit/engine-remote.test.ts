/**
 * Remote engines without an engine: what decides copy or mount (the connection, the engine's name,
 * PYDBG_ENGINE_FILES), ssh:// through a stand-in `ssh` command, and the copy machinery on real temp
 * directories — the plan, the archive that goes in, the careful extraction of what comes back
 * (including a malicious archive), and DockerEngine.runContainer copying over a stand-in dockerode.
 */
import type Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionDeps } from '../../src/engine/connection.js';
import { resolveConnection } from '../../src/engine/connection.js';
import { copyPlan, extractInto, packStep, planCopy, relName, type Manifest } from '../../src/engine/copy.js';
import { DockerEngine } from '../../src/engine/docker.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { copyNote, decideFiles, FILES_ENV, forcedFiles } from '../../src/engine/files.js';
import { classifySsh, lastComplaint, sshArgs, sshCommand } from '../../src/engine/ssh.js';
import { PydbgError } from '../../src/errors.js';
import { runProject } from '../../src/exec/run.js';
import { LABEL } from '../../src/container/labels.js';
import { resolveProject } from '../../src/project/project.js';

const conn = (env: Record<string, string>) =>
  resolveConnection({ env, home: '/h', exists: (p) => p === '/var/run/docker.sock', readText: () => undefined });
const depsOf = (env: Record<string, string>): ConnectionDeps => ({ env, home: '/h', exists: () => false, readText: () => undefined });
const temp = (p: string) => mkdtemp(join(tmpdir(), p));

/** Every entry of a tar: header and content. */
async function entriesOf(stream: NodeJS.ReadableStream | Readable): Promise<Array<{ name: string; type: string; mode: number; uid: number; linkname?: string; text: string }>> {
  const ex = tar.extract();
  (stream as Readable).pipe(ex as unknown as NodeJS.WritableStream);
  const out = [];
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({ name: e.header.name, type: e.header.type, mode: e.header.mode, uid: e.header.uid, linkname: e.header.linkname || undefined, text: Buffer.concat(chunks).toString() });
  }
  return out;
}

/** A tar made entry by entry (names as given: a malicious archive too). */
async function tarOf(entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device'; mode?: number; text?: string; linkname?: string; mtime?: Date }>): Promise<Readable> {
  const p = tar.pack();
  for (const e of entries) {
    const { text, ...h } = e;
    await new Promise<void>((resolve, reject) => p.entry({ type: 'file', mode: 0o644, mtime: new Date('2025-01-01T00:00:00Z'), ...h }, text ?? '', (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

describe('copy or mount: the decision', () => {
  it('a unix socket is this machine (mount); ssh:// never is (copy)', () => {
    expect(decideFiles(conn({}), undefined, undefined, 'vm')).toMatchObject({ mode: 'mount', remote: false, forced: false, reason: "the engine's socket /var/run/docker.sock is on this machine" });
    expect(decideFiles(conn({ DOCKER_HOST: 'ssh://me@box' }), undefined, undefined, 'vm')).toMatchObject({ mode: 'copy', remote: true, reason: 'the engine at ssh://me@box is reached over ssh (another machine)' });
  });
  it("tcp:// is this machine only when the engine's name (/info Name) is this host's", () => {
    const tcp = conn({ DOCKER_HOST: 'tcp://10.0.0.5:2375' });
    expect(decideFiles(tcp, undefined, 'vm', 'vm')).toMatchObject({ mode: 'mount', remote: false });
    const other = decideFiles(tcp, undefined, 'buildbox', 'vm');
    expect(other).toMatchObject({ mode: 'copy', remote: true });
    expect(other.reason).toBe("the engine at tcp://10.0.0.5:2375 is not this machine (its name is 'buildbox', this host's 'vm')");
    expect(decideFiles(tcp, undefined, undefined, 'vm')).toMatchObject({ mode: 'copy', remote: true });
    expect(copyNote(other)).toBe(`${other.reason}: the project is copied into each container and results copied out`);
  });
  it('PYDBG_ENGINE_FILES forces either way, and says so with what was detected', () => {
    expect(forcedFiles({})).toBeUndefined();
    expect(forcedFiles({ [FILES_ENV]: ' ' })).toBeUndefined();
    expect(forcedFiles({ [FILES_ENV]: 'COPY' })).toBe('copy');
    const f = decideFiles(conn({ DOCKER_HOST: 'tcp://127.0.0.1:2376' }), 'copy', 'vm', 'vm');
    expect(f).toMatchObject({ mode: 'copy', remote: false, forced: true });
    expect(f.reason).toMatch(/^PYDBG_ENGINE_FILES=copy; the engine at tcp:\/\/127\.0\.0\.1:2376 is this machine/);
    expect(decideFiles(conn({ DOCKER_HOST: 'ssh://box' }), 'mount', undefined, 'vm')).toMatchObject({ mode: 'mount', remote: true, forced: true });
  });
  it('a bad PYDBG_ENGINE_FILES is a usage error (exit 2), thrown before any request', async () => {
    expect(() => forcedFiles({ [FILES_ENV]: 'rsync' })).toThrow(PydbgError);
    // a socket nobody listens on: any request would be exit 5, not 2
    const engine = new DockerEngine({ deps: depsOf({ DOCKER_HOST: 'unix:///nonexistent/pydbg.sock', [FILES_ENV]: 'rsync' }) });
    for (const call of [() => engine.files(), () => engine.ping(), () => engine.runContainer({ image: 'i', cmd: ['true'] }, { stdout: new PassThrough(), stderr: new PassThrough() })]) {
      const e = (await call().catch((x: unknown) => x)) as PydbgError;
      expect(e).toBeInstanceOf(PydbgError);
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe("PYDBG_ENGINE_FILES='rsync' is not one of copy, mount");
      expect(e.hint).toContain('=copy copies the project');
    }
  });

  describe('DockerEngine.files() asks a tcp engine its name, once', () => {
    let server: Server;
    let port = 0;
    const requests: string[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        requests.push(req.url ?? '');
        res.setHeader('Content-Type', 'application/json');
        res.end(req.url === '/info' ? JSON.stringify({ Name: 'buildbox', DockerRootDir: '/var/lib/docker' }) : '{}');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));
    beforeEach(() => void (requests.length = 0));
    it('another name: copy; the same name: mount; the answer is kept', async () => {
      const far = new DockerEngine({ deps: depsOf({ DOCKER_HOST: `tcp://127.0.0.1:${port}` }), hostName: 'vm' });
      expect(await far.files()).toMatchObject({ mode: 'copy', remote: true });
      expect(await far.files()).toMatchObject({ mode: 'copy' });
      expect(requests).toEqual(['/info']);
      const here = new DockerEngine({ deps: depsOf({ DOCKER_HOST: `tcp://127.0.0.1:${port}` }), hostName: 'buildbox' });
      expect(await here.files()).toMatchObject({ mode: 'mount', remote: false });
      // another machine's data root: its free space is not this one's
      expect(await far.dataRootFree()).toEqual({ rootDir: '/var/lib/docker' });
    });
    it('a unix socket needs no request', async () => {
      const local = new DockerEngine({ deps: depsOf({ DOCKER_HOST: 'unix:///nonexistent/pydbg.sock' }) });
      expect(await local.files()).toMatchObject({ mode: 'mount', forced: false });
      expect(requests).toEqual([]);
    });
  });
});

describe('ssh://', () => {
  it('runs ssh as the docker CLI does: no prompt, docker system dial-stdio on the remote', () => {
    expect(sshArgs({ host: 'box', port: 2222, user: 'me' })).toEqual(['-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-l', 'me', '-p', '2222', '--', 'box', 'docker', 'system', 'dial-stdio']);
    expect(sshArgs({ host: 'box' })).toEqual(['-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '--', 'box', 'docker', 'system', 'dial-stdio']);
    expect(sshCommand({ host: 'box', port: 2222, user: 'me' })).toBe('ssh -p 2222 me@box');
  });
  it("ssh's complaint picks the kind", () => {
    expect(classifySsh('me@box: Permission denied (publickey,password).\n', 255)).toBe('ssh-auth');
    expect(classifySsh('@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n', 255)).toBe('ssh-hostkey');
    expect(classifySsh('Host key verification failed.\n', 255)).toBe('ssh-hostkey');
    expect(classifySsh('ssh: Could not resolve hostname nobox: Name or service not known\n', 255)).toBe('bad-address');
    expect(classifySsh('ssh: connect to host box port 22: Connection refused\n', 255)).toBe('refused');
    expect(classifySsh('ssh: connect to host box port 22: Connection timed out\n', 255)).toBe('timeout');
    expect(classifySsh('bash: line 1: docker: command not found\n', 127)).toBe('ssh-no-docker');
    expect(classifySsh('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n', 1)).toBe('ssh-engine');
    // docker system dial-stdio on the remote, its engine down (as OpenSSH on loopback showed it)
    expect(classifySsh('failed to open the raw stream connection: dial tcp 127.0.0.1:2399: connect: connection refused\n', 1)).toBe('ssh-engine');
    expect(lastComplaint("Warning: Permanently added 'box' (ED25519) to the list of known hosts.\r\nme@box: Permission denied (publickey).\r\n")).toBe('me@box: Permission denied (publickey).');
  });

  describe('DockerEngine over a stand-in ssh command', () => {
    let dir: string;
    let server: Server;
    const path = process.env.PATH;
    beforeAll(async () => {
      dir = await temp('pydbg-ssh-');
      const sock = join(dir, 'engine.sock');
      server = createServer((req, res) => {
        res.setHeader('Content-Type', 'application/json');
        res.end(req.url === '/version' ? JSON.stringify({ Version: '27.1.0', ApiVersion: '1.47', Os: 'linux', Arch: 'amd64' }) : '{}');
      });
      await new Promise<void>((r) => server.listen(sock, r));
      // the stand-in: records its arguments, then fails like ssh would, or carries stdin/stdout to the engine's socket
      await writeFile(join(dir, 'ssh'), `#!${process.execPath}
const fs = require('node:fs');
fs.appendFileSync(${JSON.stringify(join(dir, 'args'))}, JSON.stringify(process.argv.slice(2)) + '\\n');
const mode = process.env.FAKE_SSH_MODE;
if (mode === 'deny') { process.stderr.write('me@box: Permission denied (publickey).\\r\\n'); process.exit(255); }
if (mode === 'nodocker') { process.stderr.write('bash: line 1: docker: command not found\\n'); process.exit(127); }
const c = require('node:net').connect(${JSON.stringify(sock)});
process.stdin.pipe(c); c.pipe(process.stdout);
process.stdin.on('end', () => c.end());
`);
      await chmod(join(dir, 'ssh'), 0o755);
      process.env.PATH = `${dir}:${path}`;
    });
    afterAll(async () => {
      process.env.PATH = path;
      delete process.env.FAKE_SSH_MODE;
      await new Promise<void>((r) => server.close(() => r()));
    });
    // one host per test: the ssh connections of one target are kept alive (and reused) within the process
    const engine = (host = 'box') => new DockerEngine({ deps: depsOf({ DOCKER_HOST: `ssh://me@${host}:2222` }) });

    it('the Engine API flows through ssh, one kept-alive ssh for requests one after another; the files are copied', async () => {
      process.env.FAKE_SSH_MODE = 'bridge';
      const e = engine();
      expect(await e.ping()).toMatchObject({ serverVersion: '27.1.0', endpoint: 'ssh://me@box:2222', via: 'DOCKER_HOST' });
      expect(await e.ping()).toMatchObject({ serverVersion: '27.1.0' });
      expect(await e.files()).toMatchObject({ mode: 'copy', remote: true });
      const args = (await readFile(join(dir, 'args'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[]);
      expect(args).toEqual([sshArgs({ host: 'box', port: 2222, user: 'me' })]);
    });
    it('an authentication failure: one line with ssh\'s own words and a hint, exit 5', async () => {
      process.env.FAKE_SSH_MODE = 'deny';
      const err = (await engine('deny').ping().catch((x: unknown) => x)) as PydbgError;
      expect(err.exitCode).toBe(5);
      expect(err.message).toBe('Docker engine not reachable at ssh://me@deny:2222 (DOCKER_HOST: me@box: Permission denied (publickey).)');
      expect(err.hint).toContain('ssh-agent');
      expect(err.hint).toContain('ssh -p 2222 me@deny docker version');
    });
    it('no docker on the remote: said so, exit 5', async () => {
      process.env.FAKE_SSH_MODE = 'nodocker';
      const err = (await engine('nodocker').ping().catch((x: unknown) => x)) as PydbgError;
      expect(err.exitCode).toBe(5);
      expect(err.message).toContain('docker: command not found');
      expect(err.hint).toContain('the remote host has no docker command');
    });
    it('no ssh command at all: said so, exit 5', async () => {
      process.env.PATH = join(dir, 'empty');
      try {
        const err = (await engine('nossh').ping().catch((x: unknown) => x)) as PydbgError;
        expect(err.exitCode).toBe(5);
        expect(err.message).toContain('the ssh command was not found');
        expect(err.hint).toContain('openssh-client');
      } finally {
        process.env.PATH = `${dir}:${path}`;
      }
    });
  });
});

describe('copy plan', () => {
  it('directories get anonymous volumes, files go into the container; parents first; writable only when asked', () => {
    const p = copyPlan([
      { source: '/h/out', target: '/pydbg/out/', readOnly: false, kind: 'dir' },
      { source: '/h/proj', target: '/src', kind: 'dir' },
      { source: '/h/x.core', target: '/pydbg/core/x.core', readOnly: true, kind: 'file' },
    ]);
    expect(p.steps).toEqual([
      { source: '/h/proj', target: '/src', kind: 'dir', writable: false },
      { source: '/h/out', target: '/pydbg/out', kind: 'dir', writable: true },
      { source: '/h/x.core', target: '/pydbg/core/x.core', kind: 'file', writable: false },
    ]);
    expect(p.mounts).toEqual([
      { Type: 'volume', Target: '/src', VolumeOptions: { NoCopy: true } },
      { Type: 'volume', Target: '/pydbg/out', VolumeOptions: { NoCopy: true } },
    ]);
    expect(() => copyPlan([{ source: '/a', target: 'rel', kind: 'dir' }])).toThrow(/absolute/);
    expect(() => copyPlan([{ source: '/a', target: '/x', kind: 'dir' }, { source: '/b', target: '/x/', kind: 'dir' }])).toThrow(/two mounts/);
  });
  it('planCopy resolves a symlinked source and tells files from directories; a missing one is refused', async () => {
    const d = await temp('pydbg-plan-');
    await mkdir(join(d, 'real'));
    await symlink(join(d, 'real'), join(d, 'link'));
    await writeFile(join(d, 'f'), 'x');
    const p = await planCopy([{ source: join(d, 'link'), target: '/src' }, { source: join(d, 'f'), target: '/f' }]);
    expect(p.steps.map((s) => [s.source, s.kind])).toEqual([[join(d, 'real'), 'dir'], [join(d, 'f'), 'file']]);
    await expect(planCopy([{ source: join(d, 'gone'), target: '/src' }])).rejects.toThrow(/ENOENT/);
  });
});

describe('copy in: the archive', () => {
  it("names entries by the target, keeps modes (no umask), owners and symlinks, and records what went in", async () => {
    const d = await temp('pydbg-pack-');
    await chmod(d, 0o777);
    await writeFile(join(d, 'a.py'), 'print(1)\n', { mode: 0o640 });
    await chmod(join(d, 'a.py'), 0o640);
    await mkdir(join(d, 'sub'));
    await writeFile(join(d, 'sub', 'run.sh'), '#!/bin/sh\n');
    await chmod(join(d, 'sub', 'run.sh'), 0o755);
    await symlink('../a.py', join(d, 'sub', 'link'));
    execFileSync('mkfifo', [join(d, 'sub', 'fifo')]); // left out, not a failed copy
    const manifest: Manifest = new Map();
    const got = await entriesOf(packStep({ source: d, target: '/pydbg/out', kind: 'dir', writable: true }, manifest));
    const byName = Object.fromEntries(got.map((e) => [e.name.replace(/\/$/, ''), e]));
    expect(Object.keys(byName).sort()).toEqual(['pydbg/out', 'pydbg/out/a.py', 'pydbg/out/sub', 'pydbg/out/sub/link', 'pydbg/out/sub/run.sh']);
    expect(byName['pydbg/out']!.mode).toBe(0o777); // the process umask would have made it 0755
    expect(byName['pydbg/out/a.py']).toMatchObject({ type: 'file', mode: 0o640, uid: process.getuid!(), text: 'print(1)\n' });
    expect(byName['pydbg/out/sub/run.sh']!.mode).toBe(0o755);
    expect(byName['pydbg/out/sub/link']).toMatchObject({ type: 'symlink', linkname: '../a.py' });
    expect([...manifest.keys()].sort()).toEqual(['', 'a.py', 'sub', 'sub/link', 'sub/run.sh']);
    expect(manifest.get('sub/link')?.linkname).toBe('../a.py');
    const file = await entriesOf(packStep({ source: join(d, 'a.py'), target: '/pydbg/core/a.py', kind: 'file', writable: false }, new Map()));
    expect(file.map((e) => [e.name, e.text])).toEqual([['pydbg/core/a.py', 'print(1)\n']]);
  });
});

describe('copy out: the careful extractor', () => {
  let root: string;
  let outside: string;
  beforeEach(async () => {
    root = await temp('pydbg-root-');
    outside = await temp('pydbg-outside-');
    await writeFile(join(outside, 'target'), 'keep');
  });

  it('round trip: what the container left unchanged is not touched, changes and new files arrive, removed files go', async () => {
    await writeFile(join(root, 'same.txt'), 'same');
    await writeFile(join(root, 'changed.txt'), 'old');
    await writeFile(join(root, 'removed.txt'), 'bye');
    await writeFile(join(root, 'edited-meanwhile.txt'), 'v1');
    await writeFile(join(root, 'private'), 'secret', { mode: 0o600 });
    await chmod(join(root, 'private'), 0o600);
    const old = new Date('2024-05-01T00:00:00Z');
    for (const f of ['same.txt', 'changed.txt', 'removed.txt', 'edited-meanwhile.txt', 'private']) await utimes(join(root, f), old, old);
    const manifest: Manifest = new Map();
    const packed = await entriesOf(packStep({ source: root, target: '/src', kind: 'dir', writable: true }, manifest));
    expect(packed).toHaveLength(6);
    // meanwhile the user edits one file and removes another's twin on the host
    await writeFile(join(root, 'edited-meanwhile.txt'), 'v2, the user typed this');
    const mtime = new Date('2026-01-02T03:04:05Z');
    const back = await tarOf([
      { name: 'src/', type: 'directory', mode: 0o755, mtime },
      { name: 'src/same.txt', text: 'same', mtime: old },
      { name: 'src/changed.txt', text: 'new content', mtime },
      { name: 'src/edited-meanwhile.txt', text: 'v1', mtime: old },
      { name: 'src/private', text: 'secret, longer', mode: 0o666, mtime },
      { name: 'src/new/', type: 'directory', mode: 0o750, mtime },
      { name: 'src/new/core', text: 'ELF', mode: 0o600, mtime },
      { name: 'src/new/script.sh', text: '#!/bin/sh\n', mode: 0o4755, mtime },
      { name: 'src/new/hard', type: 'link', linkname: 'src/new/core', mode: 0o600, mtime },
    ]);
    const r = await extractInto(back, { root, manifest });
    expect(r.skipped).toEqual([]);
    expect(r.written.sort()).toEqual(['changed.txt', 'new', 'new/core', 'new/hard', 'new/script.sh', 'private']);
    expect(r.removed).toEqual(['removed.txt']);
    expect(await readFile(join(root, 'changed.txt'), 'utf8')).toBe('new content');
    expect((await stat(join(root, 'changed.txt'))).mtime.toISOString()).toBe(mtime.toISOString());
    expect(await readFile(join(root, 'edited-meanwhile.txt'), 'utf8')).toBe('v2, the user typed this'); // unchanged in the container: the host's edit stays
    expect((await stat(join(root, 'same.txt'))).mtime.toISOString()).toBe(old.toISOString());
    // an existing file's mode is never widened; new files get the container's (no setuid)
    expect((await stat(join(root, 'private'))).mode & 0o7777).toBe(0o600);
    expect((await stat(join(root, 'new'))).mode & 0o7777).toBe(0o750);
    expect((await stat(join(root, 'new', 'core'))).mode & 0o7777).toBe(0o600);
    expect((await stat(join(root, 'new', 'script.sh'))).mode & 0o7777).toBe(0o755);
    expect(await readFile(join(root, 'new', 'hard'), 'utf8')).toBe('ELF');
    expect((await readdir(root)).filter((n) => n.startsWith('.pydbg-copy-'))).toEqual([]);
  });

  it('a malicious archive: nothing escapes the directory, no symlink is followed, devices are skipped', async () => {
    await symlink(join(outside, 'target'), join(root, 'hostlink')); // a symlink the user has in the project
    const back = await tarOf([
      { name: 'src/../escaped', text: 'x' },
      { name: '/etc/abs', text: 'x' },
      { name: 'escaped-too', text: 'x' }, // the mount itself: not a file in it
      { name: 'src/evil', type: 'symlink', linkname: outside },
      { name: 'src/evil/pwned', text: 'through the link' },
      { name: 'src/evil/deeper/pwned', text: 'through the link' },
      { name: 'src/hostlink', text: 'replaces the link, not its target' },
      { name: 'src/ln', type: 'link', linkname: 'src/evil' },
      { name: 'src/ln2', type: 'link', linkname: '../../etc/passwd' },
      { name: 'src/fifo', type: 'fifo' },
      { name: 'src/tty', type: 'character-device' },
      { name: 'src/ok.txt', text: 'fine' },
    ]);
    const r = await extractInto(back, { root });
    expect(r.skipped.map((s) => [s.path, s.why])).toEqual([
      ['src/../escaped', "'..' in its name"],
      ['/etc/abs', 'an absolute name'],
      ['evil/pwned', 'its directory evil is a symlink here'],
      ['evil/deeper/pwned', 'its directory evil is a symlink here'],
      ['ln', 'a hard link to something that is not a file here'],
      ['ln2', 'a hard link to a name outside the directory'],
      ['fifo', 'a fifo (not copied)'],
      ['tty', 'a character-device (not copied)'],
    ]);
    expect(await readdir(outside)).toEqual(['target']);
    expect(await readFile(join(outside, 'target'), 'utf8')).toBe('keep');
    expect(await readlink(join(root, 'evil'))).toBe(outside); // a symlink stays a symlink, never entered
    expect((await lstat(join(root, 'hostlink'))).isFile()).toBe(true);
    expect(await readFile(join(root, 'hostlink'), 'utf8')).toBe('replaces the link, not its target');
    expect(await readFile(join(root, 'ok.txt'), 'utf8')).toBe('fine');
    expect((await readdir(root)).sort()).toEqual(['evil', 'hostlink', 'ok.txt']);
  });

  it('a single-file mount: only its one entry, to its own name', async () => {
    await writeFile(join(root, 'x.core'), 'old');
    const r = await extractInto(await tarOf([{ name: 'x.core', text: 'new' }, { name: 'x.core/../../y', text: 'no' }]), { root, file: 'x.core' });
    expect(await readFile(join(root, 'x.core'), 'utf8')).toBe('new');
    expect(r.skipped.map((s) => s.why)).toEqual(["'..' in its name"]);
    expect(relName('other', 'x.core')).toBe('x.core');
    expect(relName('a/b', 'x.core')).toEqual({ why: 'not the mounted file' });
  });

  it('a broken download fails the extraction', async () => {
    const broken = new Readable({ read() {} });
    setTimeout(() => broken.destroy(new Error('connection reset')), 5);
    await expect(extractInto(broken, { root })).rejects.toThrow('connection reset');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
});

describe('DockerEngine.runContainer copies on a remote engine (stand-in dockerode)', () => {
  it('volumes instead of binds, sources put in before the start, the writable mount copied back, the container removed', async () => {
    const project = await temp('pydbg-proj-');
    await writeFile(join(project, 'repro.py'), 'print(1)\n');
    const out = await temp('pydbg-out-');
    const log: string[] = [];
    let created: Docker.ContainerCreateOptions | undefined;
    const put: string[] = [];
    const container = {
      id: 'c1',
      modem: { demuxStream: (s: NodeJS.ReadableStream, o: NodeJS.WritableStream) => s.pipe(o) },
      attach: async () => {
        log.push('attach');
        const s = new PassThrough();
        setTimeout(() => s.end(), 5);
        return s;
      },
      putArchive: async (t: Readable, o: { path: string }) => {
        log.push(`put ${o.path}`);
        for (const e of await entriesOf(t)) put.push(e.name.replace(/\/$/, ''));
      },
      start: async () => log.push('start'),
      wait: async () => ({ StatusCode: 3 }),
      getArchive: async (o: { path: string }) => {
        log.push(`get ${o.path}`);
        return tarOf([{ name: 'out/', type: 'directory', mode: 0o777 }, { name: 'out/memcheck.xml', text: '<valgrindoutput/>' }]);
      },
      remove: async () => log.push('remove'),
    };
    const client = {
      info: async () => ({ Name: 'buildbox' }),
      createContainer: async (o: Docker.ContainerCreateOptions) => {
        created = o;
        return container;
      },
      getContainer: () => container,
    } as unknown as Docker;
    const engine = new DockerEngine({ deps: depsOf({ DOCKER_HOST: 'tcp://10.0.0.5:2375' }), client, hostName: 'vm' });
    const r = await engine.runContainer(
      { image: 'i', cmd: ['true'], mounts: [{ source: project, target: '/src', readOnly: true }, { source: out, target: '/pydbg/out', readOnly: false }] },
      { stdout: new PassThrough(), stderr: new PassThrough() },
    );
    expect(r.exitCode).toBe(3);
    expect(created!.HostConfig!.Mounts).toEqual([
      { Type: 'volume', Target: '/src', VolumeOptions: { NoCopy: true } },
      { Type: 'volume', Target: '/pydbg/out', VolumeOptions: { NoCopy: true } },
    ]);
    expect(log).toEqual(['put /', 'put /', 'attach', 'start', 'get /pydbg/out', 'remove']);
    expect(put).toEqual(['src', 'src/repro.py', 'pydbg/out']);
    expect(await readFile(join(out, 'memcheck.xml'), 'utf8')).toBe('<valgrindoutput/>');
    expect(await readdir(project)).toEqual(['repro.py']);
  });
});

describe('DockerEngine: a copy that fails', () => {
  it('the engine refusing the archive: exit 5, and the created container is removed', async () => {
    const project = await temp('pydbg-proj-');
    const log: string[] = [];
    const container = {
      id: 'c2',
      modem: { demuxStream: () => {} },
      putArchive: async (t: Readable) => {
        t.resume();
        throw Object.assign(new Error('(HTTP code 500) server error - no space left on device'), { statusCode: 500 });
      },
      remove: async () => log.push('remove'),
      start: async () => log.push('start'),
    };
    const client = { info: async () => ({ Name: 'buildbox' }), createContainer: async () => container, getContainer: () => container } as unknown as Docker;
    const engine = new DockerEngine({ deps: depsOf({ DOCKER_HOST: 'tcp://10.0.0.5:2375' }), client, hostName: 'vm' });
    const e = (await engine.runContainer({ image: 'i', cmd: ['x'], mounts: [{ source: project, target: '/src', readOnly: true }] }, { stdout: new PassThrough(), stderr: new PassThrough() }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(5);
    expect(e.message).toBe(`could not copy '${project}' into the container at tcp://10.0.0.5:2375: (HTTP code 500) server error - no space left on device`);
    expect(log).toEqual(['remove']);
    // a detached container with a writable mount is refused before anything is created
    const rw = (await engine.startContainer({ image: 'i', cmd: ['x'], mounts: [{ source: project, target: '/src', readOnly: false }] }).catch((x: unknown) => x)) as PydbgError;
    expect(rw.exitCode).toBe(2);
    expect(rw.message).toContain('cannot have its writable /src copied back');
    expect(log).toEqual(['remove']);
  });
});

describe('a remote FakeEngine (files: copy)', () => {
  it('a run says once that the project is copied; a write into the read-only project never reaches it', async () => {
    process.env.PYDBG_HOME = await temp('pydbg-home-');
    const fake = new FakeEngine({ files: 'copy' });
    fake.addImage({ tags: ['pydbg/cpython:3.13.5-debug-amd64'], labels: { [LABEL.kind]: 'variant' }, architecture: 'amd64' });
    const dir = await temp('pydbg-proj-');
    await writeFile(join(dir, 'repro.py'), 'print(1)\n');
    const project = await resolveProject({ projectDir: dir, variant: 'debug', python: '3.13' });
    const logs: string[] = [];
    const io = { engine: fake, progress: { log: (m: string) => logs.push(m), phase() {}, event() {}, output() {} }, signal: new AbortController().signal, stdout: new PassThrough().resume(), stderr: new PassThrough().resume() };
    fake.scriptRun({ files: { '/src/written.txt': 'x' } }, {});
    await runProject(project, { argv: ['python', 'repro.py'] }, io);
    await runProject(project, { argv: ['python', 'repro.py'] }, io);
    expect(logs.filter((l) => l.includes('copied'))).toEqual(['the engine at fake://engine is not this machine: the project is copied into each container and results copied out']);
    expect(await readdir(dir)).toEqual(['repro.py']);
    await expect(fake.startContainer({ image: 'pydbg/cpython:3.13.5-debug-amd64', cmd: ['x'], mounts: [{ source: dir, target: '/src', readOnly: false }] })).rejects.toMatchObject({ exitCode: 2 });
  });
});
