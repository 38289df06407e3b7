/**
 * "The engine is not reachable", said usefully: the cause of a failed connection (socket
 * permissions, no engine running, an address that does not resolve, no answer in time, TLS) picks
 * the hint. Pure: the cause is a Node/dockerode error, the connection is what connection.ts found.
 */
import { ExitCode, PydbgError } from '../errors.js';
import { ADDRESS_FORMS, isSsh, type Connection } from './connection.js';
import { sshCommand, type SshKind } from './ssh.js';

export type UnreachableKind = 'permission' | 'not-running' | 'refused' | 'bad-address' | 'timeout' | 'tls' | 'other' | Exclude<SshKind, 'bad-address' | 'refused' | 'timeout' | 'ssh-other'>;

/** The SshError's kind behind a cause (ssh.ts), looking through `cause` chains. */
function sshKindOf(e: unknown, depth = 0): SshKind | undefined {
  if (typeof e !== 'object' || e === null || depth > 4) return undefined;
  const o = e as { sshKind?: unknown; cause?: unknown };
  return typeof o.sshKind === 'string' ? (o.sshKind as SshKind) : sshKindOf(o.cause, depth + 1);
}

/** The error code of a cause, looking through `cause` chains and AggregateError (happy eyeballs). */
export function errorCode(e: unknown, depth = 0): string | undefined {
  if (typeof e !== 'object' || e === null || depth > 4) return undefined;
  const o = e as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
  if (o.name === 'TimeoutError') return 'ETIMEDOUT';
  if (typeof o.code === 'string' && o.code !== 'ABORT_ERR') return o.code;
  return errorCode(o.cause, depth + 1) ?? (Array.isArray(o.errors) ? errorCode(o.errors[0], depth + 1) : undefined) ??
    (o.code === 'ABORT_ERR' ? 'ABORT_ERR' : undefined);
}

export function classifyUnreachable(cause: unknown, unix: boolean, timedOut = false): UnreachableKind {
  const ssh = sshKindOf(cause);
  if (ssh) return ssh === 'ssh-other' ? 'other' : ssh;
  const code = errorCode(cause);
  const text = cause instanceof Error ? cause.message : String(cause ?? '');
  if (timedOut || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return 'timeout';
  if (/\.pem\b/.test(text)) return 'tls'; // docker-modem reading DOCKER_CERT_PATH files
  if (code === 'EACCES' || code === 'EPERM') return 'permission';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'ERR_INVALID_URL') return 'bad-address';
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') return unix ? 'not-running' : 'refused';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'refused';
  if (/CERT|SSL|TLS|EPROTO|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code ?? '') || /HTTP request to an HTTPS server|certificate/i.test(text)) return 'tls';
  return 'other';
}

export interface UnreachableOptions {
  /** what connection.ts resolved (for the socket path, TLS and where the address came from) */
  connection?: Connection;
  /** the caller knows the attempt ran out of time (e.g. dockerode's connection timeout: "socket hang up") */
  timedOut?: boolean;
}

/** One line (exit ENGINE) and a hint chosen by the cause. PydbgErrors (bad configuration) pass through. */
export function engineUnreachable(endpoint: string, cause?: unknown, opts: UnreachableOptions = {}): PydbgError {
  if (cause instanceof PydbgError) return cause;
  const conn = opts.connection;
  const unix = conn ? 'socketPath' in conn.options : endpoint.startsWith('unix://');
  const socket = conn && 'socketPath' in conn.options ? conn.options.socketPath : endpoint.replace(/^unix:\/\//, '');
  const kind = classifyUnreachable(cause, unix, opts.timedOut);
  const why = (cause instanceof Error ? cause.message : String(cause ?? '')).split('\n')[0]!.trim();
  const where = [conn?.via, kind === 'timeout' && !why ? 'no answer in time' : why].filter(Boolean).join(': ');
  const target = conn?.origin === 'context' ? `the docker context (${conn.via})` : 'DOCKER_HOST';
  const ssh = conn && isSsh(conn.options) ? conn.options : undefined;
  const trySsh = ssh ? `check with: ${sshCommand(ssh)} docker version` : '';
  const hints: Record<UnreachableKind, string> = {
    permission: `the engine runs but you may not use its socket ${socket}: add yourself to the docker group (sudo usermod -aG docker $USER, then log in again) or run as root`,
    'not-running': `no engine listens on ${socket}: start it (sudo systemctl start docker, or sudo dockerd &), or point DOCKER_HOST (or the docker context) at a running engine`,
    refused: `nothing answers at ${endpoint}: start the engine there, or fix ${target} (port 2375 is plain, 2376 TLS)`,
    'bad-address': `${conn?.origin === 'context' ? `the address of ${conn.via}` : `DOCKER_HOST='${endpoint}'`} is not a valid engine address (${ADDRESS_FORMS}): its host name does not resolve`,
    timeout: `the engine at ${endpoint} did not answer in time: it may be starting or overloaded; try again (check with 'docker version')`,
    tls: `TLS failed: check DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) against the engine's TLS setup`,
    other: `is the engine running? start it (sudo systemctl start docker, or sudo dockerd &), or point DOCKER_HOST (or the docker context) at a running engine`,
    'ssh-missing': 'pydbg reaches ssh:// engines through the ssh command, as the docker CLI does: install it (apt-get install openssh-client)',
    'ssh-auth': `ssh could not log in without a prompt (pydbg runs ssh with BatchMode=yes): add your key to ssh-agent (ssh-add) or use an unencrypted key ssh finds; ${trySsh}`,
    'ssh-hostkey': `ssh does not know (or no longer trusts) the host's key: connect once with ${ssh ? sshCommand(ssh) : 'ssh'} and check the fingerprint, or fix ~/.ssh/known_hosts`,
    'ssh-no-docker': `ssh logged in, but the remote host has no docker command (pydbg runs 'docker system dial-stdio' there): install the docker CLI on it, or make it reachable on the remote PATH; ${trySsh}`,
    'ssh-engine': `ssh logged in, but the remote docker command could not reach its engine: start it there, or give the remote user access to its socket (the docker group); ${trySsh}`,
  };
  if (ssh) {
    hints.refused = `nothing answers on ssh at ${endpoint}: is sshd running there, and is the port right? ${trySsh}`;
    hints.timeout = `ssh to ${endpoint} did not answer in time; ${trySsh}`;
    hints['bad-address'] = `the host of ${endpoint} does not resolve (here or in ~/.ssh/config); fix ${target}`;
    hints.other = trySsh;
  }
  return new PydbgError(ExitCode.ENGINE, `Docker engine not reachable at ${endpoint}${where ? ` (${where})` : ''}`, { hint: hints[kind], cause });
}
