/**
 * The engine's read-only JSON calls (version, image inspect, image list) over node's own http: the
 * warm paths of `env build` and `run` make only these before their first container, and loading
 * dockerode (docker-modem pulls in ssh2, dockerode grpc/protobufjs: ~150 ms of CPU) for them would be
 * most of pydbg's fixed cost. Anything else, and any engine reached over ssh, goes through dockerode.
 */
import type { HostOptions } from './connection.js';

export class HttpStatusError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(`(HTTP code ${statusCode}) ${message}`);
  }
}

export async function getJson<T>(options: HostOptions, path: string, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  const tls = 'protocol' in options && options.protocol === 'https';
  const mod = tls ? await import('node:https') : await import('node:http');
  const target =
    'socketPath' in options
      ? { socketPath: options.socketPath }
      : { host: options.host, port: options.port, ...(tls ? { ca: options.ca, cert: options.cert, key: options.key } : {}) };
  return new Promise<T>((resolve, reject) => {
    const req = mod.request({ ...target, path, method: 'GET', headers: { Accept: 'application/json' }, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          let message = text.trim();
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? message;
          } catch {
            /* not JSON: keep the text */
          }
          reject(new HttpStatusError(status, message));
          return;
        }
        try {
          resolve(JSON.parse(text) as T);
        } catch (e) {
          reject(e);
        }
      });
    });
    // no answer at all within the time: the engine is not there (the same limit dockerode's calls get)
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}
