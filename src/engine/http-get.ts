/**
 * The Engine API calls of pydbg's warm paths over node's own http (a unix socket, tcp, or ssh through
 * ssh.ts's agent): version, image inspect and list, a container's life (create, attach, start, wait,
 * remove, commit) and its archives (copy mode). A warm `env build` or `run`
 * makes only these, and loading dockerode for them (docker-modem pulls in ssh2, dockerode
 * grpc/protobufjs: ~150 ms of CPU) would be most of pydbg's fixed cost. Builds, pulls and anything
 * else go through dockerode.
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

// CommonJS require, not import(): an ESM namespace of node:http evaluates every lazy export, and one
// of them loads undici (~17 ms) that pydbg never uses
const require = createRequire(import.meta.url);
const httpModule = (tls: boolean): typeof import('node:http') | typeof import('node:https') =>
  tls ? (require('node:https') as typeof import('node:https')) : (require('node:http') as typeof import('node:http'));
import { isSsh, type HostOptions } from './connection.js';
import { sshAgentFor } from './ssh.js';

/** The http module and request target (socket, host and port with the TLS material, or an ssh agent) of an endpoint. */
function endpointOf(options: HostOptions) {
  // ssh: every connection is an ssh process (ssh.ts); the host name is only the Host header's
  if (isSsh(options)) return { mod: httpModule(false), target: { host: 'docker', agent: sshAgentFor(options) } };
  const tls = 'protocol' in options && options.protocol === 'https';
  const target =
    'socketPath' in options
      ? { socketPath: options.socketPath }
      : { host: options.host, port: options.port, ...(tls ? { ca: options.ca, cert: options.cert, key: options.key } : {}) };
  return { mod: httpModule(tls), target };
}

export class HttpStatusError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(`(HTTP code ${statusCode}) ${message}`);
  }
}

interface CallOptions {
  body?: unknown;
  /** fail when the engine has not answered (headers) within this time; none for long polls (wait) */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** hijack the connection (attach): resolves with the raw socket */
  upgrade?: boolean;
}

async function request(options: HostOptions, method: string, path: string, o: CallOptions): Promise<{ status: number; text: string } | Duplex> {
  const r = await requestRaw(options, method, path, o);
  return 'status' in r ? { status: r.status, text: r.body.toString('utf8') } : r;
}

/** A response whose body is binary (an exec's multiplexed output): the bytes, untouched. */
export async function callRaw(options: HostOptions, method: string, path: string, o: Omit<CallOptions, 'upgrade'> = {}): Promise<Buffer> {
  const r = await requestRaw(options, method, path, o);
  if (!('status' in r)) throw new Error(`${method} ${path}: unexpected upgrade`);
  if (r.status < 200 || r.status >= 300) throw new HttpStatusError(r.status, errorMessage(r.body.toString('utf8')));
  return r.body;
}

function errorMessage(text: string): string {
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text.trim();
  } catch {
    return text.trim();
  }
}

/** A GET whose body is streamed (an archive): the response once its headers arrived (status checked). */
export async function getStream(options: HostOptions, path: string, timeoutMs: number): Promise<NodeJS.ReadableStream> {
  const { mod, target } = endpointOf(options);
  return new Promise((resolve, reject) => {
    const req = mod.request({ ...target, path, method: 'GET' });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(new HttpStatusError(status, errorMessage(Buffer.concat(chunks).toString('utf8')))));
    });
    req.end();
  });
}

/**
 * A PUT whose body is a stream (an archive into a container): resolves when the engine answered 2xx.
 * No time limit once the body flows (a large project takes a while); `signal` aborts it.
 */
export async function putStream(options: HostOptions, path: string, body: NodeJS.ReadableStream, o: { contentType: string; signal?: AbortSignal }): Promise<void> {
  const { mod, target } = endpointOf(options);
  await new Promise<void>((resolve, reject) => {
    const req = mod.request({ ...target, path, method: 'PUT', headers: { 'Content-Type': o.contentType }, signal: o.signal });
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      req.destroy();
      reject(e);
    };
    body.on('error', fail);
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else fail(new HttpStatusError(status, errorMessage(Buffer.concat(chunks).toString('utf8'))));
      });
    });
    body.pipe(req);
  });
}

async function requestRaw(options: HostOptions, method: string, path: string, o: CallOptions): Promise<{ status: number; body: Buffer } | Duplex> {
  const { mod, target } = endpointOf(options);
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  if (o.upgrade) Object.assign(headers, { Connection: 'Upgrade', Upgrade: 'tcp' });
  return new Promise((resolve, reject) => {
    const req = mod.request({ ...target, path, method, headers, signal: o.signal });
    const timer = o.timeoutMs
      ? setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })), o.timeoutMs)
      : undefined;
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('upgrade', (_res, socket, head) => {
      clearTimeout(timer);
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.end(body);
  });
}

/** A JSON call: the parsed answer (undefined for 204), or HttpStatusError with the engine's message. */
export async function call<T>(options: HostOptions, method: string, path: string, o: Omit<CallOptions, 'upgrade'> = {}): Promise<T> {
  const r = (await request(options, method, path, o)) as { status: number; text: string };
  if (r.status < 200 || r.status >= 300) {
    let message = r.text.trim();
    try {
      message = (JSON.parse(r.text) as { message?: string }).message ?? message;
    } catch {
      /* not JSON: keep the text */
    }
    throw new HttpStatusError(r.status, message);
  }
  return (r.text.trim() ? JSON.parse(r.text) : undefined) as T;
}

/**
 * A call whose answer comes later than its headers (a wait): resolves once the headers arrived
 * (within timeoutMs) with a promise of the parsed body (wrapped: a promise resolved with a promise
 * would wait for the inner one).
 */
export async function callStreaming<T>(options: HostOptions, method: string, path: string, timeoutMs: number): Promise<{ done: Promise<T> }> {
  const { mod, target } = endpointOf(options);
  return new Promise((resolveHeaders, rejectHeaders) => {
    const req = mod.request({ ...target, path, method, headers: { Accept: 'application/json' } });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      rejectHeaders(e);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      resolveHeaders({
        done: new Promise<T>((resolve, reject) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          req.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return reject(new HttpStatusError(status, text.trim()));
            try {
              resolve(JSON.parse(text) as T);
            } catch (e) {
              reject(e);
            }
          });
        }),
      });
    });
    req.end();
  });
}

export function getJson<T>(options: HostOptions, path: string, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  return call<T>(options, 'GET', path, { timeoutMs, signal });
}

/** The hijacked attach connection (raw, or multiplexed without a TTY). */
export async function upgrade(options: HostOptions, path: string, timeoutMs: number): Promise<Duplex> {
  const r = await request(options, 'POST', path, { upgrade: true, timeoutMs });
  if ('status' in r) throw new HttpStatusError(r.status, r.text.trim());
  return r;
}
