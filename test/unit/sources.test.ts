import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { candidateUrls, materialiseSource, sha256Tree } from '../../src/provision/sources.js';
import { resolveRelease } from '../../src/catalogue/versions.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const BODY = Buffer.from('not really a CPython tarball, but bytes with a known hash\n'.repeat(1000));
const SHA = createHash('sha256').update(BODY).digest('hex');
let server: Server;
let base: string;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits += 1;
    if (req.url === '/good/Python-9.9.9.tgz') return res.end(BODY);
    if (req.url === '/evil/Python-9.9.9.tgz') return res.end(Buffer.concat([BODY, Buffer.from('x')]));
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(async () => {
  process.env.PYDBG_HOME = await mkdtemp(join(tmpdir(), 'pydbg-home-'));
  hits = 0;
});

describe('source cache', () => {
  it('downloads once, verifies, and serves the cache afterwards', async () => {
    const spec = { kind: 'url' as const, url: `${base}/good/Python-9.9.9.tgz`, sha256: SHA };
    const a = await materialiseSource(spec);
    expect(a).toMatchObject({ how: 'downloaded', sha256: SHA, name: 'Python-9.9.9.tgz' });
    const b = await materialiseSource(spec);
    expect(b.how).toBe('cache');
    expect(hits).toBe(1);
  });

  it('refuses a sha256 mismatch and leaves no cache entry, not even a partial file', async () => {
    const spec = { kind: 'url' as const, url: `${base}/evil/Python-9.9.9.tgz`, sha256: SHA };
    const err = await materialiseSource(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PydbgError);
    expect((err as PydbgError).exitCode).toBe(ExitCode.SOURCE);
    expect((err as PydbgError).message).toContain('sha256 mismatch');
    const dir = join(process.env.PYDBG_HOME!, 'sources', SHA);
    expect((await readdir(dir)).filter((f) => f.startsWith('Python'))).toEqual([]);
  });

  it('re-downloads a cache entry that no longer matches its hash', async () => {
    const spec = { kind: 'url' as const, url: `${base}/good/Python-9.9.9.tgz`, sha256: SHA };
    const a = await materialiseSource(spec);
    await writeFile(a.path, 'corrupted');
    const logs: string[] = [];
    const b = await materialiseSource(spec, { log: (l) => logs.push(l) });
    expect(b.how).toBe('downloaded');
    expect(logs.join('\n')).toContain('does not match its sha256');
  });

  it('tries mirrors in order and says what failed when all do', async () => {
    const release = { ...resolveRelease('3.13.5'), urls: [`${base}/missing/Python-3.13.5.tar.xz`] };
    const err = await materialiseSource({ kind: 'release', release }, { mirrors: [`${base}/nope`] }).catch((e: unknown) => e);
    expect((err as PydbgError).exitCode).toBe(ExitCode.SOURCE);
    expect((err as PydbgError).message).toContain('HTTP 404');
    expect((err as PydbgError).hint).toContain('PYDBG_MIRRORS');
  });

  it('orders python.org, then configured mirrors, then Debian', () => {
    const urls = candidateUrls({ kind: 'release', release: resolveRelease('3.11.2') }, ['https://mirror.example/python']);
    expect(urls).toEqual([
      'https://www.python.org/ftp/python/3.11.2/Python-3.11.2.tgz',
      'https://mirror.example/python/3.11.2/Python-3.11.2.tgz',
      'http://deb.debian.org/debian/pool/main/p/python3.11/python3.11_3.11.2.orig.tar.gz',
    ]);
  });

  it('hashes a local tree by content, ignoring build artefacts', async () => {
    const d = await mkdtemp(join(tmpdir(), 'pydbg-tree-'));
    await writeFile(join(d, 'configure'), '#!/bin/sh\n');
    const h1 = await sha256Tree(d);
    await writeFile(join(d, 'x.o'), 'object');
    expect(await sha256Tree(d)).toBe(h1);
    await writeFile(join(d, 'configure'), '#!/bin/sh\necho changed\n');
    expect(await sha256Tree(d)).not.toBe(h1);
    await rm(d, { recursive: true });
  });
});
