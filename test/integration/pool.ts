/**
 * Release sources of real third-party projects, from Debian's pool (byte-identical to the upstream
 * release files Debian imported): downloaded once into a cache, sha256-verified on every use, and
 * unpacked into a fresh directory per test. Nothing of them is kept in the repository.
 *
 * The cache is `$PYDBG_TEST_CACHE` or `~/.cache/pydbg-test/pool`; the mirror is
 * `$PYDBG_DEBIAN_MIRROR` (as for pydbg's own base image) or deb.debian.org.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';

export interface PoolFile {
  /** path under the mirror, e.g. pool/main/c/cbor2/cbor2_5.4.6.orig.tar.gz */
  path: string;
  sha256: string;
}

const CACHE = () => process.env.PYDBG_TEST_CACHE ?? join(homedir(), '.cache', 'pydbg-test', 'pool');
const MIRROR = () => (process.env.PYDBG_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian').replace(/\/+$/, '');

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The file, from the cache or downloaded (a partial download never lands in the cache). */
export async function poolFile(f: PoolFile): Promise<string> {
  const dir = CACHE();
  await mkdir(dir, { recursive: true });
  const dest = join(dir, basename(f.path));
  const have = await sha256(dest).catch(() => undefined);
  if (have === f.sha256) return dest;
  const url = `${MIRROR()}/${f.path}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const tmp = `${dest}.part-${process.pid}`;
  await writeFile(tmp, Buffer.from(await res.arrayBuffer()));
  const got = await sha256(tmp);
  if (got !== f.sha256) {
    await rm(tmp, { force: true });
    throw new Error(`${url}: sha256 ${got}, expected ${f.sha256}`);
  }
  await rename(tmp, dest);
  return dest;
}

/** Unpack a cached tarball into a new temporary directory; returns the top-level directory it holds. */
export async function unpack(f: PoolFile, prefix = 'pydbg-real-'): Promise<string> {
  const file = await poolFile(f);
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // a checkout anyone may read, as projects usually are (mkdtemp makes it 0700)
  await chmod(dir, 0o755);
  await execa('tar', ['-xf', file, '-C', dir]);
  const top = await readdir(dir);
  if (top.length !== 1) throw new Error(`${basename(file)}: expected one top-level directory, found ${top.join(', ')}`);
  return join(dir, top[0]!);
}

/** Apply a unified diff (-p1) to a tree, as upstream's fix. */
export async function applyPatch(tree: string, patchFile: string): Promise<void> {
  const r = await execa('git', ['apply', '-p1', '--whitespace=nowarn', patchFile], { cwd: tree, reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`git apply ${patchFile} in ${tree}: ${r.all}`);
}
