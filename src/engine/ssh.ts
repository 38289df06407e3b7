/**
 * An ssh:// engine, reached the way the docker CLI reaches one: every connection is the `ssh`
 * command running `docker system dial-stdio` on the remote host, whose stdin and stdout carry the
 * Engine API's HTTP. So ssh's own configuration applies — ~/.ssh/config (Host aliases, User, Port,
 * IdentityFile, ProxyJump, ControlMaster), known_hosts and its host key checking, ssh-agent — and
 * nothing of it is re-implemented here. BatchMode: ssh never prompts (a password or passphrase
 * prompt per request would be unusable); a key in ssh-agent or one ssh finds unencrypted is needed.
 *
 * sshAgent() is an http.Agent whose connections are such ssh processes: http-get.ts and dockerode
 * both take it, so every Engine call works over ssh through the same code as over a socket.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';

// loaded on first use (an ssh engine only): CommonJS require, as in http-get.ts, keeps node:http's
// ESM namespace (which loads undici) and child_process off every other command's start-up
const require = createRequire(import.meta.url);

export interface SshTarget {
  host: string;
  port?: number;
  user?: string;
}

/** ssh gives up connecting after this many seconds (ssh's ConnectTimeout). */
export const SSH_CONNECT_TIMEOUT_S = 10;

/** The ssh command line for one connection to the remote engine. Pure. */
export function sshArgs(t: SshTarget): string[] {
  return [
    '-T',
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${SSH_CONNECT_TIMEOUT_S}`,
    ...(t.user !== undefined ? ['-l', t.user] : []),
    ...(t.port !== undefined ? ['-p', String(t.port)] : []),
    '--', t.host,
    'docker', 'system', 'dial-stdio',
  ];
}

/** `ssh [-p PORT] [USER@]HOST`, for hints. */
export const sshCommand = (t: SshTarget) => `ssh ${t.port !== undefined ? `-p ${t.port} ` : ''}${t.user !== undefined ? `${t.user}@` : ''}${t.host}`;

export type SshKind = 'ssh-missing' | 'ssh-auth' | 'ssh-hostkey' | 'ssh-no-docker' | 'ssh-engine' | 'bad-address' | 'refused' | 'timeout' | 'ssh-other';

/** A connection the ssh command could not make; `sshKind` says why (for the hint). */
export class SshError extends Error {
  readonly code = 'PYDBG_SSH';
  constructor(
    message: string,
    readonly sshKind: SshKind,
    readonly exitCode?: number | null,
  ) {
    super(message);
    this.name = 'SshError';
  }
}

/** ssh's (or the remote command's) last meaningful stderr line. Pure. */
export function lastComplaint(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines.filter((l) => !/^Warning: Permanently added/i.test(l)).at(-1) ?? lines.at(-1) ?? '';
}

/** What an ssh exit with this stderr means. Pure. */
export function classifySsh(stderr: string, exitCode: number | null): SshKind {
  const t = stderr;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S* ?host key is known/i.test(t)) return 'ssh-hostkey';
  if (/Permission denied \(|Too many authentication failures|Authentication failed|no mutual signature/i.test(t)) return 'ssh-auth';
  // the remote docker command's own failure to reach its engine (before ssh's network errors: it says "connection refused" too)
  if (/failed to open the raw stream connection|Cannot connect to the Docker daemon|permission denied while trying to connect to the Docker daemon|Is the docker daemon running/i.test(t)) return 'ssh-engine';
  if (/Could not resolve hostname|Name or service not known|nodename nor servname/i.test(t)) return 'bad-address';
  if (/Connection refused|No route to host|Network is unreachable|Connection closed by remote host/i.test(t)) return 'refused';
  if (/timed out/i.test(t)) return 'timeout';
  if (exitCode === 127 || /docker: (command )?not found|command not found|unknown command "system"|is not a docker command/i.test(t)) return 'ssh-no-docker';
  return 'ssh-other';
}

export type Spawn = (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;

/** every ssh process this pydbg started and has not seen end: killed when the process exits */
const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * One connection to the remote engine: a Duplex over an ssh process's stdout/stdin. An ssh that ends
 * with an error before the remote side said anything destroys the stream with an SshError naming
 * ssh's complaint (not the "socket hang up" the HTTP client would otherwise report). Destroying the
 * stream ends the ssh process.
 */
export function sshStream(t: SshTarget, spawnFn?: Spawn): Duplex {
  const run = spawnFn ?? ((require('node:child_process') as typeof import('node:child_process')).spawn as Spawn);
  const child = run('ssh', sshArgs(t), { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill();
    });
  }
  const out = child.stdout!;
  const inp = child.stdin!;
  let stderr = '';
  let answered = false;
  let outEnded = false;
  let exited: { code: number | null } | undefined;
  const finish = () => {
    // EOF only once both the output ended and ssh exited: an ssh that failed says why first
    if (!outEnded || !exited || stream.destroyed) return;
    if (!answered && exited.code !== 0) {
      const why = lastComplaint(stderr) || `ssh exited with ${exited.code ?? 'a signal'}`;
      stream.destroy(new SshError(why, classifySsh(stderr, exited.code), exited.code));
      return;
    }
    stream.push(null);
    // the connection is over: closed once its last bytes are read, at once when nothing is left
    // (a kept-alive idle connection whose ssh ended must leave the agent's pool, not take a request)
    if (stream.readableLength === 0) setImmediate(() => stream.destroy());
    else stream.once('end', () => stream.destroy());
  };
  const stream: Duplex = new Duplex({
    read() {
      out.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (inp.destroyed || !inp.writable) return cb();
      inp.write(chunk, () => cb());
    },
    final(cb) {
      inp.end();
      cb();
    },
    destroy(err, cb) {
      out.destroy();
      inp.destroy();
      if (!exited) child.kill();
      cb(err);
    },
  });
  // what http's client and agent call on a socket (a Duplex has none of them); an idle kept-alive
  // connection is unref'ed: it does not keep pydbg running (the exit hook ends its ssh)
  const handles = [child, out, inp, child.stderr!] as Array<{ ref(): unknown; unref(): unknown }>;
  Object.assign(stream, {
    setNoDelay: () => stream,
    setKeepAlive: () => stream,
    setTimeout: () => stream,
    ref: () => (handles.forEach((h) => h.ref()), stream),
    unref: () => (handles.forEach((h) => h.unref()), stream),
  });
  out.on('data', (c: Buffer) => {
    answered = true;
    if (!stream.push(c)) out.pause();
  });
  out.on('end', () => {
    outEnded = true;
    finish();
  });
  out.on('error', () => {});
  inp.on('error', () => {}); // EPIPE: ssh already ended; its exit says why
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-8192);
  });
  child.on('error', (e: NodeJS.ErrnoException) => {
    live.delete(child);
    exited = { code: null };
    const missing = e.code === 'ENOENT';
    stream.destroy(new SshError(missing ? 'the ssh command was not found' : `ssh could not start: ${e.message}`, missing ? 'ssh-missing' : 'ssh-other'));
  });
  child.on('exit', (code) => {
    live.delete(child);
    exited = { code };
    // stdout may already have ended, or ends right after
    setImmediate(() => {
      outEnded ||= out.readableEnded || out.destroyed;
      finish();
    });
  });
  return stream;
}

/**
 * An http.Agent whose connections are ssh processes, kept alive between requests (a new ssh costs a
 * login: half a second on a busy machine, and a check makes a dozen requests one after another).
 */
export function sshAgent(t: SshTarget, spawnFn?: Spawn): Agent {
  const { Agent: HttpAgent } = require('node:http') as typeof import('node:http');
  const agent = new HttpAgent({ keepAlive: true, maxFreeSockets: 4 });
  (agent as unknown as { createConnection: () => Duplex }).createConnection = () => sshStream(t, spawnFn);
  return agent;
}

const agents = new Map<string, Agent>();

/** One agent per ssh target and process. */
export function sshAgentFor(t: SshTarget): Agent {
  const key = JSON.stringify([t.host, t.port ?? null, t.user ?? null]);
  let a = agents.get(key);
  if (!a) agents.set(key, (a = sshAgent(t)));
  return a;
}
