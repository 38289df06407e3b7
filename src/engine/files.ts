/**
 * Whether containers get this machine's files by bind mounts or by copies (copy.ts does the copying):
 * an engine that does not share this machine's files (reached over ssh://, or tcp:// on another
 * host) cannot bind-mount the project. PYDBG_ENGINE_FILES=copy|mount overrides the decision.
 * Pure, and light (no tar code): DockerEngine decides on its first container.
 */
import { ExitCode, PydbgError, quoted } from '../errors.js';
import { isSsh, type Connection } from './connection.js';
import type { EngineFiles, FilesMode } from './engine.js';


export const FILES_ENV = 'PYDBG_ENGINE_FILES';

/** PYDBG_ENGINE_FILES: 'copy' | 'mount', or undefined (pydbg decides). A bad value is a usage error. */
export function forcedFiles(env: Record<string, string | undefined>): FilesMode | undefined {
  const v = env[FILES_ENV];
  if (v === undefined || v.trim() === '') return undefined;
  const t = v.trim().toLowerCase();
  if (t === 'copy' || t === 'mount') return t;
  throw new PydbgError(ExitCode.USAGE, `${FILES_ENV}=${quoted(v)} is not one of copy, mount`, {
    hint: `${FILES_ENV}=copy copies the project into the engine and results out (an engine on another machine); =mount bind-mounts them (an engine on this one); unset, pydbg decides`,
  });
}

/** Whether an endpoint shares this machine's files, as far as the address tells: 'ask' the engine's name (tcp). */
export function localityOf(conn: Connection): 'local' | 'remote' | 'ask' {
  if ('socketPath' in conn.options) return 'local';
  if (isSsh(conn.options)) return 'remote';
  return 'ask';
}

/**
 * The decision. A unix socket is this machine's engine (Docker Desktop and colima share the files
 * it is given); ssh:// never is; tcp:// is when the engine's name (/info Name) is this host's name.
 * `engineName` is needed only for tcp (undefined there: unknown, so copy: always correct, only slower).
 */
export function decideFiles(conn: Connection, forced: FilesMode | undefined, engineName: string | undefined, hostName: string): EngineFiles {
  const where = localityOf(conn);
  let remote: boolean;
  let reason: string;
  if (where === 'local') {
    remote = false;
    reason = `the engine's socket ${conn.endpoint.replace(/^unix:\/\//, '')} is on this machine`;
  } else if (where === 'remote') {
    remote = true;
    reason = `the engine at ${conn.endpoint} is reached over ssh (another machine)`;
  } else if (engineName && engineName === hostName) {
    remote = false;
    reason = `the engine at ${conn.endpoint} is this machine (its name, ${quoted(engineName)}, is this host's)`;
  } else {
    remote = true;
    reason = engineName
      ? `the engine at ${conn.endpoint} is not this machine (its name is ${quoted(engineName)}, this host's ${quoted(hostName)})`
      : `the engine at ${conn.endpoint} did not say its name: taken as another machine`;
  }
  if (forced) return { mode: forced, remote, forced: true, reason: `${FILES_ENV}=${forced}; ${reason}` };
  return { mode: remote ? 'copy' : 'mount', remote, forced: false, reason };
}

/** The progress line a copying run shows once. */
export const copyNote = (f: EngineFiles) => `${f.reason}: the project is copied into each container and results copied out`;
