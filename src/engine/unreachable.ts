/**
 * "The engine is not reachable", said usefully: the cause of a failed connection (socket
 * permissions, no engine running, an address that does not resolve, no answer in time, TLS) picks
 * the hint. Pure: the cause is a Node/dockerode error, the connection is what connection.ts found.
 */
import { ExitCode, PydbgError } from '../errors.js';
import { ADDRESS_FORMS, type Connection } from './connection.js';

export type UnreachableKind = 'permission' | 'not-running' | 'refused' | 'bad-address' | 'timeout' | 'tls' | 'other';

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
  const hints: Record<UnreachableKind, string> = {
    permission: `the engine runs but you may not use its socket ${socket}: add yourself to the docker group (sudo usermod -aG docker $USER, then log in again) or run as root`,
    'not-running': `no engine listens on ${socket}: start it (sudo systemctl start docker, or sudo dockerd &), or point DOCKER_HOST (or the docker context) at a running engine`,
    refused: `nothing answers at ${endpoint}: start the engine there, or fix ${target} (port 2375 is plain, 2376 TLS)`,
    'bad-address': `${conn?.origin === 'context' ? `the address of ${conn.via}` : `DOCKER_HOST='${endpoint}'`} is not a valid engine address (${ADDRESS_FORMS}): its host name does not resolve`,
    timeout: `the engine at ${endpoint} did not answer in time: it may be starting or overloaded; try again (check with 'docker version')`,
    tls: `TLS failed: check DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) against the engine's TLS setup`,
    other: `is the engine running? start it (sudo systemctl start docker, or sudo dockerd &), or point DOCKER_HOST (or the docker context) at a running engine`,
  };
  return new PydbgError(ExitCode.ENGINE, `Docker engine not reachable at ${endpoint}${where ? ` (${where})` : ''}`, { hint: hints[kind], cause });
}
