/**
 * Copy mode (files.ts decides when): an engine that does not share this machine's files gets
 * copies, at the engine seam, so every caller keeps using ContainerSpec.mounts:
 *   - the container is created with an anonymous volume at each directory mount's target (a commit
 *     leaves volumes out, and they go with the container), and each mount's source is put into it
 *     before the start (PUT archive: modes, uid and gid as a bind mount would show them);
 *   - after the container exited on its own, each writable mount is copied back out (GET archive)
 *     into its host directory by a careful extractor: nothing outside the directory, no symlink
 *     followed, no permission of an existing file widened, files the container left unchanged untouched.
 * Read-only cannot be enforced inside the container (the volume must be writable to be filled); it
 * is only never copied back. A single file is put into the container's own file system.
 * Loaded by DockerEngine only when it copies (tar-fs stays off every other command's start-up).
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, realpath, rename, rmdir, stat, symlink, unlink, utimes } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarFs from 'tar-fs';
import { ExitCode, PydbgError, quoted } from '../errors.js';
import type { ContainerSpec } from './engine.js';

/** A tar header as tar-stream and tar-fs give it. */
interface TarHeader {
  name: string;
  type?: string | null;
  size?: number;
  mtime?: Date;
  mode?: number;
  linkname?: string | null;
}
/** An entry of tar-stream's extract: its header, and its content (a streamx Readable, async-iterable). */
type TarEntry = AsyncIterable<Buffer> & { header: TarHeader; resume(): void };
interface TarStreamModule {
  extract(): NodeJS.WritableStream & AsyncIterable<TarEntry> & { destroy(e?: Error): void };
}
/** tar-stream, as tar-fs (a dependency) carries it: its parser reads the archives the engine sends. */
const tarStream = createRequire(createRequire(import.meta.url).resolve('tar-fs'))('tar-stream') as TarStreamModule;

// ---- the plan ----

export type Mount = NonNullable<ContainerSpec['mounts']>[number];

export interface CopyStep {
  /** the host path (symlinks resolved) */
  source: string;
  /** absolute, in the container */
  target: string;
  kind: 'dir' | 'file';
  /** copied back after the run */
  writable: boolean;
}

export interface CopyPlan {
  steps: CopyStep[];
  /** HostConfig.Mounts in place of the binds: an anonymous volume at each directory target */
  mounts: Array<{ Type: 'volume'; Target: string; VolumeOptions: { NoCopy: boolean } }>;
}

/** Pure: mounts (with what each source is) → the copy steps, parents first, and the volumes. */
export function copyPlan(mounts: ReadonlyArray<Mount & { kind: 'dir' | 'file' }>): CopyPlan {
  const steps: CopyStep[] = mounts.map((m) => {
    const target = posix.normalize(m.target).replace(/\/+$/, '') || '/';
    if (!target.startsWith('/') || target === '/') throw new Error(`mount target ${quoted(m.target)} is not an absolute path below /`);
    return { source: m.source, target, kind: m.kind, writable: m.readOnly === false };
  });
  const seen = new Set<string>();
  for (const s of steps) {
    if (seen.has(s.target)) throw new Error(`two mounts at ${s.target}`);
    seen.add(s.target);
  }
  steps.sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  return { steps, mounts: steps.filter((s) => s.kind === 'dir').map((s) => ({ Type: 'volume' as const, Target: s.target, VolumeOptions: { NoCopy: true } })) };
}

/** copyPlan for real mounts: each source resolved (a bind mount follows a symlinked source too) and looked at. */
export async function planCopy(mounts: readonly Mount[]): Promise<CopyPlan> {
  const resolved = await Promise.all(
    mounts.map(async (m) => {
      let source: string;
      let st: Stats;
      try {
        source = await realpath(m.source);
        st = await stat(source);
      } catch (e) {
        throw new PydbgError(ExitCode.USAGE, `cannot copy ${quoted(m.source)} into the container: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'the path must exist and be readable', cause: e });
      }
      if (!st.isDirectory() && !st.isFile()) throw new PydbgError(ExitCode.USAGE, `cannot copy ${quoted(m.source)} into the container: not a file or directory`, { hint: 'mount a directory or a regular file' });
      return { ...m, source, kind: st.isDirectory() ? ('dir' as const) : ('file' as const) };
    }),
  );
  return copyPlan(resolved);
}

// ---- copy in ----

/** What was put in, per path relative to the mount's source ('' is the source itself): to tell later what the container changed. */
export interface ManifestEntry {
  type: string;
  size: number;
  /** whole seconds (what a tar header keeps) */
  mtime: number;
  mode: number;
  linkname?: string;
}
export type Manifest = Map<string, ManifestEntry>;

const seconds = (d: Date | undefined) => Math.floor((d?.getTime() ?? 0) / 1000);

/**
 * A tar of one mount's source for PUT /containers/{id}/archive?path=/: its entries named by the
 * target path (a directory's own entry first: the volume's root gets the source's mode and owner),
 * with the host's modes (no umask), uid and gid, and symlinks as symlinks. Records what it packs.
 */
export function packStep(step: CopyStep, manifest: Manifest): Readable {
  const prefix = step.target.replace(/^\/+/, '');
  const note = (rel: string, h: TarHeader) => {
    // the same object gets its linkname after map (tar-fs reads the link then): read it lazily
    manifest.set(rel, {
      type: h.type ?? 'file',
      size: h.size ?? 0,
      mtime: seconds(h.mtime),
      mode: (h.mode ?? 0) & 0o7777,
      get linkname() {
        return h.linkname ?? undefined;
      },
    });
  };
  // umask 0: the modes as they are (tar-fs would apply the process's umask); not strict: a fifo or
  // a device in the project is left out (sockets always are) instead of failing the copy
  // tar-fs maps a fifo's header too before leaving it out: a file is noted when its content is read
  const files = new WeakMap<TarHeader, string>();
  const noting = (rel: string, h: TarHeader) => (h.type === 'directory' || h.type === 'symlink' ? note(rel, h) : files.set(h, rel));
  const pack = (cwd: string, map: (h: TarHeader) => TarHeader, entries?: string[]) =>
    tarFs.pack(cwd, {
      map,
      ...(entries ? { entries } : {}),
      mapStream: (s: Readable, h: TarHeader) => {
        const rel = files.get(h);
        if (rel !== undefined) note(rel, h);
        return s;
      },
      umask: 0,
      strict: false,
    } as unknown as Parameters<typeof tarFs.pack>[1]) as unknown as Readable;
  if (step.kind === 'file') {
    return pack(dirname(step.source), (h) => {
      noting(basename(step.source), h);
      h.name = prefix;
      return h;
    }, [basename(step.source)]);
  }
  return pack(step.source, (h) => {
    const rel = h.name === '.' || h.name === './' ? '' : h.name.replace(/^\.\//, '').replace(/\/$/, '');
    noting(rel, h);
    h.name = rel ? `${prefix}/${rel}` : prefix;
    return h;
  });
}

// ---- copy out ----

export interface ExtractResult {
  /** paths (relative to the root) written or created */
  written: string[];
  /** paths removed: the container removed them, and the host copy was still what had been copied in */
  removed: string[];
  /** entries not copied back, and why */
  skipped: Array<{ path: string; why: string }>;
}

interface ExtractOptions {
  /** the host directory the archive's first path component stands for */
  root: string;
  /** a single-file mount: the archive's one entry is written to this name in root */
  file?: string;
  /** what was copied in (unchanged entries are left alone; missing ones removed) */
  manifest?: Manifest;
}

const sameAsIn = (m: ManifestEntry | undefined, h: TarHeader) =>
  m !== undefined && m.type === (h.type ?? 'file') && m.size === (h.size ?? 0) && m.mtime === seconds(h.mtime) &&
  (m.type !== 'symlink' || m.linkname === (h.linkname ?? undefined)) && (m.mode & 0o777) === ((h.mode ?? 0) & 0o777);

const hostMatches = (m: ManifestEntry, st: Stats) =>
  (m.type === 'file' ? st.isFile() && st.size === m.size : m.type === 'symlink' ? st.isSymbolicLink() : m.type === 'directory' && st.isDirectory()) &&
  (m.type === 'directory' || Math.floor(st.mtimeMs / 1000) === m.mtime);

/**
 * Extract a GET-archive tar (every name starts with the container path's base name) into `root`,
 * safely: a name with '..', a NUL or an absolute path is refused; a parent that is not a real
 * directory (a symlink, a file) is never entered; files are written to a new temporary name
 * (O_EXCL | O_NOFOLLOW) and renamed into place, so no existing symlink is followed; new files and
 * directories get the container's mode (no setuid, setgid or sticky bit), an existing file keeps its
 * own mode, narrowed if the container narrowed it, never widened; hard links become copies of a
 * file already inside root; devices and fifos are skipped. Entries identical to what was copied in
 * are not touched (the user may have edited the host copy meanwhile).
 */
export async function extractInto(tar: NodeJS.ReadableStream, o: ExtractOptions): Promise<ExtractResult> {
  const res: ExtractResult = { written: [], removed: [], skipped: [] };
  const seen = new Set<string>();
  const dirs = new Set<string>(['']); // relative paths known to be real directories
  const ex = tarStream.extract();
  // a failed download fails the extraction (the iteration below throws)
  tar.on('error', (e: Error) => ex.destroy(e));
  tar.pipe(ex);
  for await (const entry of ex) {
    const h = entry.header;
    const rel = relName(h.name, o.file);
    if (typeof rel !== 'string') {
      res.skipped.push({ path: h.name, why: rel.why });
      entry.resume();
      continue;
    }
    if (rel === '') {
      entry.resume(); // the mount's own directory: it exists, its mode stays
      continue;
    }
    seen.add(rel);
    const why = await writeEntry(o.root, rel, entry, o.manifest?.get(rel), dirs, res);
    if (why) res.skipped.push({ path: rel, why });
    entry.resume(); // whatever was not read
  }
  if (o.manifest && !o.file) await removeMissing(o.root, o.manifest, seen, res);
  return res;
}

/** The archive name relative to root ('' = root itself), or why it is refused. Pure. */
export function relName(name: string, file?: string): string | { why: string } {
  if (name.includes('\0')) return { why: 'a NUL in its name' };
  if (name.startsWith('/')) return { why: 'an absolute name' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return { why: "'..' in its name" };
  if (parts.length === 0) return { why: 'an empty name' };
  if (file !== undefined) return parts.length === 1 ? file : { why: 'not the mounted file' };
  return parts.slice(1).join('/');
}

/** Make sure every parent of rel is a real directory inside root (created when missing); the reason when not. */
async function parentsOk(root: string, rel: string, dirs: Set<string>, mode = 0o755): Promise<string | undefined> {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (dirs.has(p)) continue;
    const st = await lstat(join(root, p)).catch(() => undefined);
    if (!st) {
      await mkdir(join(root, p), { mode });
      await chmod(join(root, p), mode);
    } else if (!st.isDirectory()) return `its directory ${p} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'} here`;
    dirs.add(p);
  }
  return undefined;
}

const tempName = (dest: string) => join(dirname(dest), `.pydbg-copy-${randomBytes(6).toString('hex')}`);
const WRITE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function writeEntry(root: string, rel: string, entry: TarEntry, before: ManifestEntry | undefined, dirs: Set<string>, res: ExtractResult): Promise<string | undefined> {
  const h = entry.header;
  const type = h.type ?? 'file';
  if (sameAsIn(before, h)) return undefined; // the container left it as it was put in
  const bad = await parentsOk(root, rel, dirs);
  if (bad) return bad;
  const dest = join(root, rel);
  const existing = await lstat(dest).catch(() => undefined);
  const mode = (h.mode ?? 0o644) & 0o777;
  if (type === 'directory') {
    if (existing?.isDirectory()) {
      dirs.add(rel);
      return undefined;
    }
    if (existing) {
      if (!before || !hostMatches(before, existing)) return 'the container made a directory of it, and the host copy changed meanwhile';
      await unlink(dest);
    }
    await mkdir(dest, { mode });
    await chmod(dest, mode);
    dirs.add(rel);
    res.written.push(rel);
    return undefined;
  }
  if (existing?.isDirectory()) return `the container made a ${type} of it, but it is a directory here`;
  if (type !== 'file' && type !== 'contiguous-file' && type !== 'symlink' && type !== 'link') return `a ${type} (not copied)`;
  // the final mode: the container's for a new file, an existing one's own (narrowed, never widened)
  const finalMode = existing?.isFile() ? existing.mode & 0o777 & mode : mode;
  const tmp = tempName(dest);
  try {
    if (type === 'symlink') {
      await symlink(h.linkname ?? '', tmp);
    } else {
      let source: AsyncIterable<Buffer> = entry;
      if (type === 'link') {
        const target = relName(h.linkname ?? '');
        if (typeof target !== 'string' || target === '') return 'a hard link to a name outside the directory';
        if (!(await parentsInside(root, target))) return 'a hard link through a symlink';
        const st = await lstat(join(root, target)).catch(() => undefined);
        if (!st?.isFile()) return 'a hard link to something that is not a file here';
        const fh = await open(join(root, target), constants.O_RDONLY | constants.O_NOFOLLOW);
        source = fh.createReadStream();
      }
      const out = await open(tmp, WRITE_NEW, 0o600);
      await pipeline(source, out.createWriteStream());
      await chmod(tmp, finalMode);
      if (h.mtime) await utimes(tmp, h.mtime, h.mtime);
    }
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  res.written.push(rel);
  return undefined;
}

/** What the container removed: removed here too, when the host copy is still what was copied in. */
async function removeMissing(root: string, manifest: Manifest, seen: Set<string>, res: ExtractResult): Promise<void> {
  const gone = [...manifest.entries()].filter(([rel]) => rel !== '' && !seen.has(rel));
  // files and links first, then directories deepest first (only when empty)
  const byDepth = (a: string, b: string) => b.split('/').length - a.split('/').length;
  for (const [rel, m] of gone.filter(([, m]) => m.type !== 'directory')) {
    if (!(await parentsInside(root, rel))) continue;
    const st = await lstat(join(root, rel)).catch(() => undefined);
    if (!st || !hostMatches(m, st)) continue;
    if (await unlink(join(root, rel)).then(() => true, () => false)) res.removed.push(rel);
  }
  for (const [rel] of gone.filter(([, m]) => m.type === 'directory').sort(([a], [b]) => byDepth(a, b))) {
    if (!(await parentsInside(root, rel))) continue;
    const st = await lstat(join(root, rel)).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    if (await rmdir(join(root, rel)).then(() => true, () => false)) res.removed.push(rel);
  }
}

/** Every parent of rel is a real directory (no symlink on the way). */
async function parentsInside(root: string, rel: string): Promise<boolean> {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const st = await lstat(join(root, ...parts.slice(0, i))).catch(() => undefined);
    if (!st?.isDirectory()) return false;
  }
  return true;
}
