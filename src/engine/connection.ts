/**
 * Where the Docker engine is, found the way the docker CLI finds it:
 *   1. DOCKER_HOST (unix:///path, tcp://host:port, ssh://[user@]host[:port]; TLS from DOCKER_TLS_VERIFY + DOCKER_CERT_PATH);
 *   2. the current docker context: DOCKER_CONTEXT, else `currentContext` in
 *      $DOCKER_CONFIG/config.json (default ~/.docker/config.json); its metadata is
 *      <config dir>/contexts/meta/<sha256(name)>/meta.json → Endpoints.docker.Host, its TLS files
 *      <config dir>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem; context "default" = 3.;
 *   3. the first default socket that exists: /var/run/docker.sock, the rootless
 *      $XDG_RUNTIME_DIR/docker.sock, Docker Desktop's ~/.docker/run/docker.sock.
 * Pure apart from the injected file access (ConnectionDeps), so every rule is unit-tested.
 * ssh:// is reached as the docker CLI reaches it: the ssh command runs `docker system dial-stdio` on
 * the remote (ssh.ts). npipe:// (Windows) is refused with a clear error.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, PydbgError } from '../errors.js';

/** The subset of dockerode's DockerOptions that says where the engine is. */
export type HostOptions =
  | { socketPath: string }
  | { host: string; port: number; protocol: 'http' | 'https'; ca?: string; cert?: string; key?: string }
  /** over the ssh command (ssh.ts); port and user default to ssh's own (its config, 22, the local user) */
  | { protocol: 'ssh'; host: string; port?: number; user?: string };

export interface Connection {
  options: HostOptions;
  /** as a user would write it: unix:///var/run/docker.sock, tcp://host:2376 */
  endpoint: string;
  /** how it was found: "DOCKER_HOST", "docker context \"colima\" (DOCKER_CONTEXT)", "default socket", … */
  via: string;
  /** where the address came from, for hints about a bad address */
  origin: 'env' | 'context' | 'default';
}

export interface ConnectionDeps {
  env: Record<string, string | undefined>;
  home: string;
  /** does this path exist (a socket, a file)? */
  exists(path: string): boolean;
  /** a file's text, or undefined when it cannot be read */
  readText(path: string): string | undefined;
}

export const nodeConnectionDeps = (): ConnectionDeps => ({
  env: process.env,
  home: homedir(),
  exists: (p) => existsSync(p),
  readText: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
});

export const ADDRESS_FORMS = 'unix:///path, tcp://host:port or ssh://[user@]host[:port]';

/** The error for an address pydbg cannot use; thrown before any connection attempt. */
export function invalidAddress(value: string, source: string, why?: string): PydbgError {
  const what = source === 'DOCKER_HOST' ? `DOCKER_HOST='${value}'` : `'${value}' (the address of ${source})`;
  return new PydbgError(ExitCode.ENGINE, `${what} is not a valid engine address (${ADDRESS_FORMS})${why ? `: ${why}` : ''}`, {
    hint: source === 'DOCKER_HOST'
      ? 'fix DOCKER_HOST, or unset it to use the local engine (or the current docker context)'
      : "fix the context ('docker context inspect'), or choose another one ('docker context use default')",
  });
}

/**
 * Parse an engine address as the docker CLI does (a bare host:port means tcp). TLS files are read
 * from `tls.dir` when `tls.on`. Throws a PydbgError (exit ENGINE) for unusable addresses.
 */
export function parseHost(
  value: string,
  source: string,
  deps: ConnectionDeps,
  tls: { on: boolean; dir?: string } = { on: false },
): { options: HostOptions; endpoint: string } {
  const raw = value.trim();
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(raw);
  const scheme = m ? m[1]!.toLowerCase() : raw.includes('://') ? '' : 'tcp';
  const rest = m ? m[2]! : raw;
  if (scheme === 'unix') {
    if (rest === '') return defaultSocketOptions(deps);
    if (!rest.startsWith('/')) throw invalidAddress(value, source, 'a unix socket needs an absolute path');
    return { options: { socketPath: rest }, endpoint: `unix://${rest}` };
  }
  if (scheme === 'ssh') return parseSsh(value, source, rest);
  if (scheme === 'npipe') throw invalidAddress(value, source, 'npipe:// is for Windows engines');
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') throw invalidAddress(value, source, scheme ? `unknown scheme '${scheme}://'` : undefined);
  let url: URL;
  try {
    url = new URL(`tcp://${rest}`);
  } catch {
    throw invalidAddress(value, source);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host || /[\s/]/.test(host) || (url.pathname !== '' && url.pathname !== '/')) throw invalidAddress(value, source);
  const https = tls.on || scheme === 'https';
  const port = url.port ? Number(url.port) : https ? 2376 : 2375;
  const files: { ca?: string; cert?: string; key?: string } = {};
  if (https && tls.dir) {
    for (const f of ['ca', 'cert', 'key'] as const) {
      const text = deps.readText(join(tls.dir, `${f}.pem`));
      if (text !== undefined) files[f] = text; // missing files are left out, as the docker CLI does
    }
  }
  const shown = host.includes(':') ? `[${host}]` : host;
  return { options: { host, port, protocol: https ? 'https' : 'http', ...files }, endpoint: `tcp://${shown}:${port}` };
}

/**
 * ssh://[user@]host[:port], as the docker CLI takes it: no password (ssh-agent or keys do that), no
 * path; a host name ssh's own config may resolve (a `Host` alias). The endpoint shows what was given.
 */
function parseSsh(value: string, source: string, rest: string): { options: HostOptions; endpoint: string } {
  let url: URL;
  try {
    url = new URL(`ssh://${rest}`);
  } catch {
    throw invalidAddress(value, source, 'ssh://[user@]host[:port]');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalidAddress(value, source, 'no host after ssh://');
  if (host.startsWith('-')) throw invalidAddress(value, source, 'a host name cannot start with -');
  if (url.password) throw invalidAddress(value, source, 'a password in the address is not supported: use ssh-agent or a key');
  if (url.pathname !== '' && url.pathname !== '/') throw invalidAddress(value, source, `no path after the host ('${url.pathname}')`);
  if (url.search || url.hash) throw invalidAddress(value, source);
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  if (user !== undefined && (user.startsWith('-') || /[\s@]/.test(user))) throw invalidAddress(value, source, `'${user}' is not a user name`);
  const port = url.port ? Number(url.port) : undefined;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    options: { protocol: 'ssh', host, ...(port !== undefined ? { port } : {}), ...(user !== undefined ? { user } : {}) },
    endpoint: `ssh://${user !== undefined ? `${user}@` : ''}${shown}${port !== undefined ? `:${port}` : ''}`,
  };
}

/** The first default socket that exists (else /var/run/docker.sock, for the error to name). */
export function defaultSocketOptions(deps: ConnectionDeps): { options: HostOptions; endpoint: string; via: string } {
  const candidates: Array<[string | undefined, string]> = [
    ['/var/run/docker.sock', 'default socket'],
    [deps.env.XDG_RUNTIME_DIR ? join(deps.env.XDG_RUNTIME_DIR, 'docker.sock') : undefined, 'rootless socket ($XDG_RUNTIME_DIR)'],
    [join(deps.home, '.docker', 'run', 'docker.sock'), 'Docker Desktop socket'],
  ];
  const found = candidates.find(([p]) => p !== undefined && deps.exists(p));
  const [path, via] = found ?? ['/var/run/docker.sock', 'default socket (no engine socket found)'];
  return { options: { socketPath: path! }, endpoint: `unix://${path}`, via };
}

export function configDir(deps: ConnectionDeps): string {
  return deps.env.DOCKER_CONFIG || join(deps.home, '.docker');
}

export const contextHash = (name: string) => createHash('sha256').update(name).digest('hex');

/** The context the docker CLI would use, and where that choice came from (undefined: none set). */
export function currentContext(deps: ConnectionDeps): { name: string; from: string } | undefined {
  if (deps.env.DOCKER_CONTEXT) return { name: deps.env.DOCKER_CONTEXT, from: 'DOCKER_CONTEXT' };
  const file = join(configDir(deps), 'config.json');
  const text = deps.readText(file);
  if (text === undefined) return undefined;
  try {
    const name = (JSON.parse(text) as { currentContext?: unknown }).currentContext;
    return typeof name === 'string' && name ? { name, from: file.replace(deps.home, '~') } : undefined;
  } catch {
    return undefined; // an unreadable config names no context
  }
}

export function resolveConnection(deps: ConnectionDeps = nodeConnectionDeps()): Connection {
  const dockerHost = deps.env.DOCKER_HOST;
  if (dockerHost !== undefined && dockerHost.trim() !== '') {
    const tlsOn = Boolean(deps.env.DOCKER_TLS_VERIFY);
    const p = parseHost(dockerHost, 'DOCKER_HOST', deps, { on: tlsOn, dir: deps.env.DOCKER_CERT_PATH || configDir(deps) });
    return { ...p, via: tlsOn && !isSsh(p.options) ? 'DOCKER_HOST, TLS' : 'DOCKER_HOST', origin: 'env' };
  }
  const ctx = currentContext(deps);
  if (ctx && ctx.name !== 'default') {
    const hash = contextHash(ctx.name);
    const metaFile = join(configDir(deps), 'contexts', 'meta', hash, 'meta.json');
    const text = deps.readText(metaFile);
    const label = `docker context "${ctx.name}" (${ctx.from})`;
    if (text === undefined) {
      throw new PydbgError(ExitCode.ENGINE, `${label} does not exist (no ${metaFile})`, {
        hint: "list contexts with 'docker context ls'; choose one with 'docker context use NAME', or set DOCKER_HOST",
      });
    }
    let meta: { Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } } };
    try {
      meta = JSON.parse(text) as typeof meta;
    } catch {
      throw new PydbgError(ExitCode.ENGINE, `${label}: ${metaFile} is not valid JSON`, { hint: "recreate the context ('docker context rm', 'docker context create')" });
    }
    const host = meta.Endpoints?.docker?.Host;
    if (typeof host !== 'string' || !host) {
      throw new PydbgError(ExitCode.ENGINE, `${label} has no docker endpoint (Endpoints.docker.Host in ${metaFile})`, { hint: "inspect it with 'docker context inspect'" });
    }
    const tlsDir = join(configDir(deps), 'contexts', 'tls', hash, 'docker');
    const tlsOn = ['ca.pem', 'cert.pem', 'key.pem'].some((f) => deps.exists(join(tlsDir, f)));
    const p = parseHost(host, label, deps, { on: tlsOn, dir: tlsDir });
    return { ...p, via: tlsOn ? `${label}, TLS` : label, origin: 'context' };
  }
  return { ...defaultSocketOptions(deps), origin: 'default' };
}

export const isSsh = (o: HostOptions): o is Extract<HostOptions, { protocol: 'ssh' }> => 'protocol' in o && o.protocol === 'ssh';

/** The endpoint text for messages, also when the configuration is unusable. */
export function describeEndpoint(deps: ConnectionDeps = nodeConnectionDeps()): string {
  try {
    return resolveConnection(deps).endpoint;
  } catch {
    return deps.env.DOCKER_HOST || 'the current docker context';
  }
}
