import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { sourceError } from '../errors.js';
import { sourcesDir } from '../paths.js';
import type { Release } from '../catalogue/versions.js';

/** Where the CPython source of a build comes from. */
export type SourceSpec =
  | { kind: 'release'; release: Release }
  | { kind: 'url'; url: string; sha256: string }
  | { kind: 'tarball'; path: string }
  | { kind: 'tree'; path: string };

export interface MaterialSource {
  kind: 'tarball' | 'tree';
  /** absolute path of the verified tarball or the source tree */
  path: string;
  /** file name used inside the build context */
  name: string;
  /** sha256 of the tarball, or of the tree's contents (sorted paths + bytes) */
  sha256: string;
  /** for the labels: where it came from */
  origin: string;
  /** how it was obtained this time */
  how: 'cache' | 'downloaded' | 'local';
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Mirrors in python.org layout (<mirror>/<version>/<file>), from PYDBG_MIRRORS (space or comma separated). */
export function configuredMirrors(env = process.env): string[] {
  return (env.PYDBG_MIRRORS ?? '').split(/[\s,]+/).filter(Boolean).map((m) => m.replace(/\/+$/, ''));
}

export function candidateUrls(spec: SourceSpec, mirrors: string[]): string[] {
  if (spec.kind === 'url') return [spec.url];
  if (spec.kind !== 'release') return [];
  const [primary, ...rest] = spec.release.urls;
  const fromMirrors = mirrors.map((m) => `${m}/${spec.release.version}/${spec.release.file}`);
  return [primary!, ...fromMirrors, ...rest];
}

/** The file name a source has in the build context (and in the source cache). */
export function sourceFileName(spec: SourceSpec): string {
  if (spec.kind === 'release') return spec.release.file;
  if (spec.kind === 'url') return basename(new URL(spec.url).pathname) || 'cpython.tar.gz';
  if (spec.kind === 'tarball') return basename(spec.path);
  return 'tree';
}

/** The sha256 the key can use without touching the network (known for releases and URLs). */
export function declaredSha256(spec: SourceSpec): string | undefined {
  if (spec.kind === 'release') return spec.release.sha256;
  if (spec.kind === 'url') return spec.sha256.toLowerCase();
  return undefined;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** Content hash of a source tree: sorted relative paths and their bytes; build artefacts skipped. */
export async function sha256Tree(root: string, ignore: RegExp = TREE_IGNORE): Promise<string> {
  const h = createHash('sha256');
  for (const file of await listTree(root, ignore)) {
    h.update(`${relative(root, file)}\0`);
    h.update(await readFile(file));
    h.update('\0');
  }
  return h.digest('hex');
}

export const TREE_IGNORE = /(^|\/)(\.git|__pycache__|build)(\/|$)|\.(o|a|so|pyc)$/;
/**
 * What the extension build's copy leaves out (detect.ts: `tar --exclude=./.git --exclude=./build
 * --exclude=./.pydbg --exclude='*.o' --exclude='*.so' --exclude=__pycache__`): the same files must be
 * left out of its cache key, and nothing else (an edit under mypkg/build/ must rebuild).
 */
export const PROJECT_IGNORE = /^(\.git|build|\.pydbg)(\/|$)|(^|\/)__pycache__(\/|$)|\.(o|so)$/;

async function listTree(root: string, ignore: RegExp): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string) {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, ent.name);
      if (ignore.test(relative(root, p))) continue;
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile()) out.push(p);
    }
  }
  await walk(root);
  return out.sort();
}

/** Version of a CPython checkout: Include/patchlevel.h's PY_VERSION, whole ("3.13.0a1+", "3.12.4"). */
export async function treeVersion(root: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(root, 'Include', 'patchlevel.h'), 'utf8');
    const m = /#define\s+PY_VERSION\s+"([^"]+)"/.exec(text);
    return m?.[1];
  } catch {
    return undefined;
  }
}

export interface FetchOptions {
  mirrors?: string[];
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Make the source available on the host: fetched once into a content-addressed cache, verified by
 * sha256 before use, never used on mismatch. A partial download never becomes a cache entry.
 */
export async function materialiseSource(spec: SourceSpec, opts: FetchOptions = {}): Promise<MaterialSource> {
  const log = opts.log ?? (() => {});
  if (spec.kind === 'tree') {
    const st = await stat(spec.path).catch(() => undefined);
    if (!st?.isDirectory()) throw sourceError(`source tree not found: ${spec.path}`, 'pass a CPython checkout directory or a tarball to --source');
    if (!(await stat(join(spec.path, 'configure')).catch(() => undefined))) {
      throw sourceError(`${spec.path} is not a CPython source tree (no ./configure)`, 'pass the top of a CPython checkout');
    }
    return { kind: 'tree', path: spec.path, name: 'tree', sha256: await sha256Tree(spec.path), origin: `local tree ${spec.path}`, how: 'local' };
  }
  if (spec.kind === 'tarball') {
    const st = await stat(spec.path).catch(() => undefined);
    if (!st?.isFile()) throw sourceError(`source tarball not found: ${spec.path}`, 'check the path given to --source');
    return { kind: 'tarball', path: spec.path, name: basename(spec.path), sha256: await sha256File(spec.path), origin: `local tarball ${spec.path}`, how: 'local' };
  }

  const sha = declaredSha256(spec)!;
  if (!HEX64.test(sha)) throw sourceError(`not a sha256: '${sha}'`, 'give 64 hex digits to --sha256');
  const name = sourceFileName(spec);
  const dir = join(sourcesDir(), sha);
  const dest = join(dir, name);

  if (await stat(dest).catch(() => undefined)) {
    const got = await sha256File(dest);
    if (got === sha) return { kind: 'tarball', path: dest, name, sha256: sha, origin: (await readOrigin(dir)) ?? 'cache', how: 'cache' };
    log(`cached ${name} does not match its sha256 any more (got ${got}); removing it and downloading again`);
    await rm(dest, { force: true });
  }

  await mkdir(dir, { recursive: true });
  const failures: string[] = [];
  let mismatch: string | undefined;
  for (const url of candidateUrls(spec, opts.mirrors ?? configuredMirrors())) {
    const part = `${dest}.part-${process.pid}`;
    try {
      log(`downloading ${url}`);
      const res = await fetch(url, { signal: opts.signal ?? null, redirect: 'follow' });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const h = createHash('sha256');
      const hasher = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          h.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream), hasher, createWriteStream(part));
      const got = h.digest('hex');
      if (got !== sha) {
        mismatch = `sha256 mismatch for ${name} from ${url}: expected ${sha}, got ${got}`;
        failures.push(mismatch);
        await rm(part, { force: true });
        continue;
      }
      await rename(part, dest);
      await writeFile(join(dir, 'ORIGIN'), `${url}\n`);
      return { kind: 'tarball', path: dest, name, sha256: sha, origin: url, how: 'downloaded' };
    } catch (e) {
      await rm(part, { force: true });
      if (opts.signal?.aborted) throw e;
      failures.push(`${url}: ${describeFetchError(e)}`);
    }
  }
  if (mismatch) {
    throw sourceError(mismatch, 'the file was discarded; check the mirror, or the --sha256 you passed', undefined);
  }
  throw sourceError(
    `could not download ${name} (${failures.join('; ')})`,
    'check the network, set PYDBG_MIRRORS to a mirror in python.org layout, or pass --source PATH with a local tarball or checkout',
  );
}

async function readOrigin(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, 'ORIGIN'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? e.message;
  }
  return String(e);
}
