import { describe, expect, it } from 'vitest';
import { contextHash, describeEndpoint, resolveConnection, type ConnectionDeps } from '../../src/engine/connection.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const HOME = '/home/u';
/** files: path → text; a path present (even '') "exists" (sockets are files here) */
function deps(env: Record<string, string>, files: Record<string, string> = {}): ConnectionDeps {
  return { env, home: HOME, exists: (p) => p in files, readText: (p) => files[p] };
}
const meta = (name: string, host: string, dir = `${HOME}/.docker`) => ({
  [`${dir}/contexts/meta/${contextHash(name)}/meta.json`]: JSON.stringify({ Name: name, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }),
});
function thrown(f: () => unknown): PydbgError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PydbgError);
    expect((e as PydbgError).exitCode).toBe(ExitCode.ENGINE);
    return e as PydbgError;
  }
  throw new Error('expected a PydbgError');
}

describe('engine connection: DOCKER_HOST', () => {
  it('unix:// gives a socket path', () => {
    const c = resolveConnection(deps({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }));
    expect(c).toEqual({ options: { socketPath: '/run/user/1000/docker.sock' }, endpoint: 'unix:///run/user/1000/docker.sock', via: 'DOCKER_HOST', origin: 'env' });
  });
  it('tcp:// gives host and port; a bare host:port is tcp; the port defaults to 2375', () => {
    expect(resolveConnection(deps({ DOCKER_HOST: 'tcp://10.0.0.5:2375' })).options).toEqual({ host: '10.0.0.5', port: 2375, protocol: 'http' });
    expect(resolveConnection(deps({ DOCKER_HOST: 'build-box:4243' })).endpoint).toBe('tcp://build-box:4243');
    expect(resolveConnection(deps({ DOCKER_HOST: 'tcp://build-box' })).endpoint).toBe('tcp://build-box:2375');
  });
  it('DOCKER_TLS_VERIFY turns on https with the PEM files of DOCKER_CERT_PATH (missing ones left out), port 2376 by default', () => {
    const c = resolveConnection(deps({ DOCKER_HOST: 'tcp://box', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }, { '/certs/ca.pem': 'CA', '/certs/cert.pem': 'CERT' }));
    expect(c.options).toEqual({ host: 'box', port: 2376, protocol: 'https', ca: 'CA', cert: 'CERT' });
    expect(c.via).toBe('DOCKER_HOST, TLS');
    // without DOCKER_CERT_PATH the CLI looks in ~/.docker
    const d = resolveConnection(deps({ DOCKER_HOST: 'tcp://box:2376', DOCKER_TLS_VERIFY: '1' }, { [`${HOME}/.docker/ca.pem`]: 'CA2' }));
    expect(d.options).toEqual({ host: 'box', port: 2376, protocol: 'https', ca: 'CA2' });
  });
  it('DOCKER_HOST wins over DOCKER_CONTEXT (as in the docker CLI)', () => {
    const c = resolveConnection(deps({ DOCKER_HOST: 'unix:///a.sock', DOCKER_CONTEXT: 'remote' }, meta('remote', 'tcp://r:2375')));
    expect(c.endpoint).toBe('unix:///a.sock');
  });
  it('malformed addresses are refused before any connection, naming the accepted forms', () => {
    for (const bad of ['tcp://has space:2375', 'tcp://host:notaport', 'unix://relative.sock', 'ftp://x', 'tcp://host:2375/path', 'tcp://:2375']) {
      const e = thrown(() => resolveConnection(deps({ DOCKER_HOST: bad })));
      expect(e.message).toContain(`DOCKER_HOST='${bad}' is not a valid engine address (unix:///path, tcp://host:port or ssh://[user@]host[:port])`);
      expect(e.hint).toContain('DOCKER_HOST');
    }
  });
  it('ssh:// as the docker CLI takes it: user and port optional (ssh and its config default them)', () => {
    expect(resolveConnection(deps({ DOCKER_HOST: 'ssh://me@box' }))).toMatchObject({ endpoint: 'ssh://me@box', options: { protocol: 'ssh', host: 'box', user: 'me' }, via: 'DOCKER_HOST' });
    expect(resolveConnection(deps({ DOCKER_HOST: 'ssh://box:2222' })).options).toEqual({ protocol: 'ssh', host: 'box', port: 2222 });
    expect(resolveConnection(deps({ DOCKER_HOST: 'ssh://root@[::1]:22', DOCKER_TLS_VERIFY: '1' }))).toMatchObject({ endpoint: 'ssh://root@[::1]:22', options: { host: '::1', port: 22, user: 'root' }, via: 'DOCKER_HOST' });
  });
  it('ssh:// addresses ssh cannot take are refused before any connection (exit 5), saying why', () => {
    const cases: Array<[string, RegExp]> = [
      ['ssh://', /no host after ssh:\/\//],
      ['ssh://me@', /ssh:\/\/\[user@\]host/],
      ['ssh://me:secret@box', /password in the address/],
      ['ssh://box/var/run/docker.sock', /no path after the host/],
      ['ssh://-oProxyCommand=x', /cannot start with -/],
      ['ssh://-x@box', /is not a user name/],
      ['ssh://box:99999', /ssh:\/\/\[user@\]host\[:port\]/],
    ];
    for (const [bad, why] of cases) {
      const e = thrown(() => resolveConnection(deps({ DOCKER_HOST: bad })));
      expect(e.exitCode).toBe(5);
      expect(e.message).toContain(`DOCKER_HOST='${bad}' is not a valid engine address`);
      expect(e.message).toMatch(why);
    }
  });
  it('an empty DOCKER_HOST counts as unset; unix:// without a path means the default socket', () => {
    expect(resolveConnection(deps({ DOCKER_HOST: '' }, { '/var/run/docker.sock': '' })).origin).toBe('default');
    expect(resolveConnection(deps({ DOCKER_HOST: 'unix://' }, { '/var/run/docker.sock': '' })).endpoint).toBe('unix:///var/run/docker.sock');
  });
});

describe('engine connection: docker contexts', () => {
  it('DOCKER_CONTEXT names the context; its meta.json (under sha256(name)) gives the host', () => {
    const c = resolveConnection(deps({ DOCKER_CONTEXT: 'colima' }, meta('colima', `unix://${HOME}/.colima/default/docker.sock`)));
    expect(c.endpoint).toBe(`unix://${HOME}/.colima/default/docker.sock`);
    expect(c.via).toBe('docker context "colima" (DOCKER_CONTEXT)');
    expect(c.origin).toBe('context');
  });
  it('else currentContext in $DOCKER_CONFIG/config.json (contexts live under the config dir)', () => {
    const files = { '/cfg/config.json': JSON.stringify({ currentContext: 'desktop-linux' }), ...meta('desktop-linux', 'unix:///d.sock', '/cfg') };
    const c = resolveConnection(deps({ DOCKER_CONFIG: '/cfg' }, files));
    expect(c.endpoint).toBe('unix:///d.sock');
    expect(c.via).toContain('/cfg/config.json');
  });
  it('else currentContext in ~/.docker/config.json; a tcp context uses its TLS files', () => {
    const tls = `${HOME}/.docker/contexts/tls/${contextHash('remote')}/docker`;
    const files = { [`${HOME}/.docker/config.json`]: '{"currentContext":"remote"}', ...meta('remote', 'tcp://r.example:2376'), [`${tls}/ca.pem`]: 'CA', [`${tls}/cert.pem`]: 'C', [`${tls}/key.pem`]: 'K' };
    const c = resolveConnection(deps({}, files));
    expect(c.options).toEqual({ host: 'r.example', port: 2376, protocol: 'https', ca: 'CA', cert: 'C', key: 'K' });
    expect(c.via).toBe('docker context "remote" (~/.docker/config.json), TLS');
  });
  it('context "default" means the default socket', () => {
    const c = resolveConnection(deps({ DOCKER_CONTEXT: 'default' }, { '/var/run/docker.sock': '' }));
    expect(c).toMatchObject({ endpoint: 'unix:///var/run/docker.sock', origin: 'default' });
  });
  it('a missing context is an error that says which context; one with an ssh endpoint is used', () => {
    expect(thrown(() => resolveConnection(deps({ DOCKER_CONTEXT: 'gone' }))).message).toContain('docker context "gone" (DOCKER_CONTEXT) does not exist');
    const c = resolveConnection(deps({ DOCKER_CONTEXT: 'far' }, meta('far', 'ssh://me@far')));
    expect(c).toMatchObject({ endpoint: 'ssh://me@far', options: { protocol: 'ssh', host: 'far', user: 'me' }, origin: 'context', via: 'docker context "far" (DOCKER_CONTEXT)' });
    const e = thrown(() => resolveConnection(deps({ DOCKER_CONTEXT: 'far' }, meta('far', 'ssh://me@far/x'))));
    expect(e.message).toContain('docker context "far"');
  });
  it('an unreadable config.json names no context', () => {
    const c = resolveConnection(deps({}, { [`${HOME}/.docker/config.json`]: '{not json', '/var/run/docker.sock': '' }));
    expect(c.origin).toBe('default');
  });
});

describe('engine connection: default sockets', () => {
  it('the first that exists: /var/run/docker.sock, then rootless $XDG_RUNTIME_DIR, then Docker Desktop', () => {
    const all = { '/var/run/docker.sock': '', '/run/user/1000/docker.sock': '', [`${HOME}/.docker/run/docker.sock`]: '' };
    const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
    expect(resolveConnection(deps(env, all)).endpoint).toBe('unix:///var/run/docker.sock');
    const { ['/var/run/docker.sock']: _a, ...rootless } = all;
    expect(resolveConnection(deps(env, rootless))).toMatchObject({ endpoint: 'unix:///run/user/1000/docker.sock', via: 'rootless socket ($XDG_RUNTIME_DIR)' });
    expect(resolveConnection(deps({}, rootless))).toMatchObject({ endpoint: `unix://${HOME}/.docker/run/docker.sock`, via: 'Docker Desktop socket' });
  });
  it('none: /var/run/docker.sock, saying none was found', () => {
    expect(resolveConnection(deps({}))).toMatchObject({ endpoint: 'unix:///var/run/docker.sock', via: 'default socket (no engine socket found)' });
  });
  it('describeEndpoint never throws', () => {
    expect(describeEndpoint(deps({ DOCKER_HOST: 'tcp://bad host' }))).toBe('tcp://bad host');
    expect(describeEndpoint(deps({ DOCKER_HOST: 'unix:///x.sock' }))).toBe('unix:///x.sock');
  });
});
