import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConnection, type ConnectionDeps } from '../../src/engine/connection.js';
import { DockerEngine } from '../../src/engine/docker.js';
import { classifyUnreachable, engineUnreachable, errorCode } from '../../src/engine/unreachable.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const sysErr = (code: string, message: string) => Object.assign(new Error(message), { code });
const deps = (env: Record<string, string>): ConnectionDeps => ({ env, home: '/nonexistent-home', exists: () => false, readText: () => undefined });
const unixConn = resolveConnection(deps({ DOCKER_HOST: 'unix:///var/run/docker.sock' }));
const tcpConn = resolveConnection(deps({ DOCKER_HOST: 'tcp://nohost.invalid:2375' }));

describe('engine unreachable: the cause picks the hint', () => {
  it('EACCES on the socket: the engine runs, you may not use it', () => {
    const e = engineUnreachable(unixConn.endpoint, sysErr('EACCES', 'connect EACCES /var/run/docker.sock'), { connection: unixConn });
    expect(e.exitCode).toBe(ExitCode.ENGINE);
    expect(e.message).toBe('Docker engine not reachable at unix:///var/run/docker.sock (DOCKER_HOST: connect EACCES /var/run/docker.sock)');
    expect(e.hint).toContain('the engine runs but you may not use its socket');
    expect(e.hint).toContain('sudo usermod -aG docker $USER, then log in again');
    expect(e.hint).toContain('run as root');
  });
  it('ENOENT / ECONNREFUSED on a unix socket: start the engine', () => {
    for (const code of ['ENOENT', 'ECONNREFUSED']) {
      const e = engineUnreachable(unixConn.endpoint, sysErr(code, `connect ${code} /var/run/docker.sock`), { connection: unixConn });
      expect(e.hint).toContain('systemctl start docker');
      expect(e.hint).toContain('dockerd &');
      expect(e.hint).toContain('DOCKER_HOST');
    }
  });
  it('DNS failures: the address is not a valid engine address', () => {
    for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
      const e = engineUnreachable(tcpConn.endpoint, sysErr(code, `getaddrinfo ${code} nohost.invalid`), { connection: tcpConn });
      expect(e.hint).toContain("DOCKER_HOST='tcp://nohost.invalid:2375' is not a valid engine address (unix:///path, tcp://host:port or ssh://[user@]host[:port])");
    }
  });
  it('timeouts: the engine did not answer in time (AbortSignal.timeout, ETIMEDOUT, or the caller knows)', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: new DOMException('timed out', 'TimeoutError') });
    expect(errorCode(abort)).toBe('ETIMEDOUT');
    expect(classifyUnreachable(abort, true)).toBe('timeout');
    expect(classifyUnreachable(sysErr('ETIMEDOUT', 'connect ETIMEDOUT'), false)).toBe('timeout');
    expect(classifyUnreachable(sysErr('ECONNRESET', 'socket hang up'), true, true)).toBe('timeout');
    expect(engineUnreachable('unix:///x.sock', abort).hint).toContain('did not answer in time');
  });
  it('ECONNREFUSED on tcp, TLS problems, AggregateError codes, and anything else', () => {
    expect(classifyUnreachable(sysErr('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:2375'), false)).toBe('refused');
    expect(classifyUnreachable(Object.assign(new AggregateError([sysErr('ECONNREFUSED', 'x')], 'y')), false)).toBe('refused');
    expect(classifyUnreachable(sysErr('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), false)).toBe('tls');
    expect(classifyUnreachable(sysErr('ENOENT', "ENOENT: no such file or directory, open '/certs/cert.pem'"), false)).toBe('tls');
    expect(classifyUnreachable(new Error('weird'), true)).toBe('other');
  });
  it('keeps the message on one line, and passes a PydbgError (bad configuration) through', () => {
    expect(engineUnreachable('unix:///x', new Error('first\nsecond')).message).not.toContain('\n');
    const config = new PydbgError(ExitCode.ENGINE, 'bad');
    expect(engineUnreachable('unix:///x', config)).toBe(config);
  });
});

describe('DockerEngine.ping against real sockets (no engine needed)', () => {
  let dir: string | undefined;
  let server: Server | undefined;
  afterAll(async () => {
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  it('a malformed DOCKER_HOST is refused by ping before any connection attempt', async () => {
    const engine = new DockerEngine({ deps: deps({ DOCKER_HOST: 'tcp://bad host:2375' }) });
    expect(engine.endpoint).toBe('tcp://bad host:2375');
    const e = (await engine.ping().catch((x: unknown) => x)) as PydbgError;
    expect(e).toBeInstanceOf(PydbgError);
    expect(e.exitCode).toBe(ExitCode.ENGINE);
    expect(e.message).toContain("DOCKER_HOST='tcp://bad host:2375' is not a valid engine address");
    // every other call refuses too
    await expect(engine.findImages({})).rejects.toBe(e);
  });
  it('a socket that does not exist: not reachable, start it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pydbg-engine-'));
    const engine = new DockerEngine({ deps: deps({ DOCKER_HOST: `unix://${dir}/none.sock` }) });
    const e = (await engine.ping().catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.ENGINE);
    expect(e.message).toMatch(/^Docker engine not reachable at unix:\/\/.*none\.sock \(DOCKER_HOST: connect ENOENT/);
    expect(e.hint).toContain('systemctl start docker');
  });
  it('a socket that never answers: the connection timeout reads as "did not answer in time"', async () => {
    dir ??= await mkdtemp(join(tmpdir(), 'pydbg-engine-'));
    const path = join(dir, 'silent.sock');
    server = createServer(() => {}).listen(path);
    await new Promise((r) => server!.once('listening', r));
    const engine = new DockerEngine({ deps: deps({ DOCKER_HOST: `unix://${path}` }) });
    const e = (await engine.ping().catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.ENGINE);
    expect(e.hint).toContain('did not answer in time');
  }, 15_000);
});
