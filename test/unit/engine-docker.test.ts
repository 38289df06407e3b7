import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ConnectionDeps } from '../../src/engine/connection.js';
import { DockerEngine, imageFromSummary } from '../../src/engine/docker.js';
import { BuildFailure, type ImageInfo } from '../../src/engine/engine.js';

const deps: ConnectionDeps = { env: { DOCKER_HOST: 'unix:///fake.sock' }, home: '/h', exists: () => false, readText: () => undefined };
const summary = (id: string, tags: string[] | null, labels: Record<string, string> | null) => ({ Id: id, RepoTags: tags, Labels: labels, Created: 1_700_000_000, Size: 123_456, ParentId: '', RepoDigests: [], SharedSize: 0, VirtualSize: 0, Containers: 0 });

/** A dockerode stand-in answering only what a test needs; `log` records the requests. */
function client(log: string[], extra: Record<string, unknown> = {}): Docker {
  return {
    listImages: async (o: { filters: string }) => {
      log.push(`listImages ${o.filters}`);
      return [summary('sha256:aa', ['pydbg/cpython:3.13.5-debug-amd64'], { 'io.pydbg.kind': 'variant' }), summary('sha256:bb', ['<none>:<none>'], null)];
    },
    getImage: (ref: string) => ({
      inspect: async () => {
        log.push(`inspect ${ref}`);
        if (ref === 'missing') throw Object.assign(new Error('no such image'), { statusCode: 404 });
        return { Id: `sha256:${ref.replace(/^sha256:/, '')}full`, RepoTags: [], Config: { Labels: null }, Created: '2024-01-01T00:00:00Z', Size: 1, Os: 'linux', Architecture: 'arm64' };
      },
    }),
    ...extra,
  } as unknown as Docker;
}

describe('DockerEngine over a stand-in dockerode', () => {
  it('findImages builds ImageInfo from the listing alone: one request, no inspect per image', async () => {
    const log: string[] = [];
    const engine = new DockerEngine({ deps, client: client(log) });
    const found: ImageInfo[] = await engine.findImages({ 'io.pydbg.kind': 'variant', 'io.pydbg.key': '' });
    expect(log).toEqual(['listImages {"label":["io.pydbg.kind=variant","io.pydbg.key"]}']);
    expect(found).toEqual([
      { id: 'sha256:aa', tags: ['pydbg/cpython:3.13.5-debug-amd64'], labels: { 'io.pydbg.kind': 'variant' }, created: '2023-11-14T22:13:20.000Z', size: 123_456 },
      { id: 'sha256:bb', tags: [], labels: {}, created: '2023-11-14T22:13:20.000Z', size: 123_456 },
    ]);
    expect(imageFromSummary(summary('sha256:cc', null, null)).tags).toEqual([]);
  });
  it('inspectImage gives the platform; a missing image is undefined', async () => {
    const log: string[] = [];
    const engine = new DockerEngine({ deps, client: client(log) });
    expect(await engine.inspectImage('abc')).toMatchObject({ os: 'linux', architecture: 'arm64' });
    expect(await engine.inspectImage('missing')).toBeUndefined();
  });
  it('build decodes the stream with a StringDecoder: a character split across chunks arrives intact', async () => {
    const text = `${JSON.stringify({ stream: 'Step 1/1 : RUN echo résumé →\n' })}\n${JSON.stringify({ stream: 'résumé →\n' })}\n${JSON.stringify({ aux: { ID: 'sha256:img' } })}\n`;
    const bytes = Buffer.from(text);
    const cut = bytes.lastIndexOf(Buffer.from('→')) + 1;
    const log: string[] = [];
    const engine = new DockerEngine({ deps, client: client(log, { buildImage: async () => Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]) }) });
    const lines: string[] = [];
    const out = await engine.build({ context: Readable.from([]), tag: 't:1', onEvent: (ev) => ev.type === 'output' && lines.push(ev.line) });
    expect(lines).toEqual(['résumé →']);
    expect(out.imageId).toBe('sha256:imgfull');
  });
  it('a failed build (errorDetail in an HTTP 200 stream) is a BuildFailure with what the builder left', async () => {
    const text = [{ stream: 'Step 1/2 : RUN make\n' }, { stream: ' ---> Running in abcdefabcdef\n' }, { errorDetail: { message: 'make: *** Error 2' }, error: 'x' }].map((o) => `${JSON.stringify(o)}\n`).join('');
    const engine = new DockerEngine({ deps, client: client([], { buildImage: async () => Readable.from([Buffer.from(text)]) }) });
    const e = await engine.build({ context: Readable.from([]) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BuildFailure);
    expect((e as BuildFailure).message).toBe('make: *** Error 2');
    expect((e as BuildFailure).outcome.containers).toEqual(['abcdefabcdef']);
  });
  it('runContainer: an attach-stream error rejects the run and the container is removed', async () => {
    const log: string[] = [];
    const stream = new PassThrough();
    const container = {
      modem: { demuxStream: (s: NodeJS.ReadableStream, out: NodeJS.WritableStream) => s.pipe(out) },
      attach: async () => stream,
      start: async () => {
        setTimeout(() => stream.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), 5);
      },
      wait: () => new Promise(() => {}),
      remove: async () => log.push('remove'),
    };
    const engine = new DockerEngine({ deps, client: client(log, { createContainer: async () => container }) });
    await expect(engine.runContainer({ image: 'i', cmd: ['true'] }, { stdout: new PassThrough(), stderr: new PassThrough() })).rejects.toThrow('read ECONNRESET');
    expect(log).toEqual(['remove']);
  });
  it('the endpoint and how it was found are known without any engine call', () => {
    const engine = new DockerEngine({ deps });
    expect(engine.endpoint).toBe('unix:///fake.sock');
    expect(engine.connection?.via).toBe('DOCKER_HOST');
  });
  it('docker.ts loads dockerode lazily: no static value import of it', async () => {
    const src = await readFile(new URL('../../src/engine/docker.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/^import\s+(?!type\b)[^;]*from\s+'dockerode'/m);
    expect(src).toContain("import('dockerode')");
  });
});

describe('a build context that cannot be read', () => {
  it('fails the build with the reason, also while the engine is still waiting for the context', async () => {
    const { packDir } = await import('../../src/provision/context.js');
    const { mkdtemp, writeFile, chmod } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-ctx-'));
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
    await writeFile(join(dir, 'secret'), 'x');
    await chmod(join(dir, 'secret'), 0o000);
    const unreadable = process.getuid?.() === 0 ? new PassThrough() : packDir(dir);
    if (process.getuid?.() === 0) setTimeout(() => unreadable.destroy(new Error("EACCES: permission denied, open 'secret'")), 10);
    // an engine that never answers until the whole context has arrived
    const engine = new DockerEngine({ deps, client: client([], { buildImage: () => new Promise(() => {}) }) });
    const e = await engine.build({ context: unreadable, tag: 'x:y' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BuildFailure);
    expect((e as Error).message).toMatch(/build context could not be read: .*EACCES/);
  });
});
