import { createServer, type Server } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../src/engine/http-get.js';
import { DockerEngine } from '../../src/engine/docker.js';

let server: Server;
let socketPath: string;
const seen: string[] = [];
beforeAll(async () => {
  socketPath = join(await mkdtemp(join(tmpdir(), 'pydbg-http-')), 'engine.sock');
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/version') return res.end(JSON.stringify({ Version: '27.0', ApiVersion: '1.47', Os: 'linux', Arch: 'amd64' }));
    if (req.url === '/images/pydbg/cpython:3.13.5-debug-amd64/json') {
      return res.end(JSON.stringify({ Id: 'sha256:ab', RepoTags: ['pydbg/cpython:3.13.5-debug-amd64'], Config: { Labels: { k: 'v' } }, Created: '2026-01-01T00:00:00Z', Size: 5, Os: 'linux', Architecture: 'amd64' }));
    }
    if (req.url?.startsWith('/images/json?filters=')) return res.end(JSON.stringify([{ Id: 'sha256:cd', RepoTags: ['<none>:<none>'], Labels: null, Created: 1, Size: 2 }]));
    if (req.url === '/slow') return; // never answers
    res.statusCode = 404;
    res.end(JSON.stringify({ message: 'No such image: nope:x' }));
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("the engine's read-only calls over node's http", () => {
  it('JSON on 2xx, the engine message and status on errors, a time limit', async () => {
    expect(await getJson<{ Version: string }>({ socketPath }, '/version', 1000)).toMatchObject({ Version: '27.0' });
    const e = (await getJson({ socketPath }, '/images/nope:x/json', 1000).catch((x: unknown) => x)) as { statusCode: number; message: string };
    expect(e.statusCode).toBe(404);
    expect(e.message).toContain('No such image: nope:x');
    const t = (await getJson({ socketPath }, '/slow', 100).catch((x: unknown) => x)) as { code: string };
    expect(t.code).toBe('ETIMEDOUT');
  });
  it('DockerEngine answers ping, inspect (404 → undefined) and list through it, without loading dockerode', async () => {
    const engine = new DockerEngine({ deps: { env: { DOCKER_HOST: `unix://${socketPath}` }, home: '/h', exists: () => false, readText: () => undefined } });
    expect((await engine.ping()).serverVersion).toBe('27.0');
    expect((await engine.inspectImage('pydbg/cpython:3.13.5-debug-amd64'))?.labels).toEqual({ k: 'v' });
    expect(await engine.inspectImage('nope:x')).toBeUndefined();
    expect((await engine.findImages({ 'io.pydbg.kind': 'variant' }))[0]).toMatchObject({ id: 'sha256:cd', tags: [] });
    expect(seen.some((u) => u.startsWith('/images/json?filters=%7B%22label%22'))).toBe(true);
  });
});

describe('the multiplexed attach stream', () => {
  it('frames split anywhere across chunks reach stdout and stderr whole', async () => {
    const { demux } = await import('../../src/engine/http-container.js');
    const { PassThrough } = await import('node:stream');
    const frame = (type: number, text: string) => {
      const payload = Buffer.from(text);
      const h = Buffer.alloc(8);
      h[0] = type;
      h.writeUInt32BE(payload.length, 4);
      return Buffer.concat([h, payload]);
    };
    const all = Buffer.concat([frame(1, 'out → one\n'), frame(2, 'err\n'), frame(1, 'x'.repeat(70_000))]);
    for (const cut of [1, 5, 9, 13, 20, 70_000]) {
      const src = new PassThrough();
      let out = '';
      let err = '';
      const sink = (f: (s: string) => void) => Object.assign(new PassThrough(), { write: (c: Buffer) => (f(c.toString()), true) });
      demux(src, sink((s) => (out += s)), sink((s) => (err += s)));
      src.write(all.subarray(0, cut));
      src.write(all.subarray(cut));
      expect(out).toBe(`out → one\n${'x'.repeat(70_000)}`);
      expect(err).toBe('err\n');
    }
  });
});
