/**
 * A check's output directory, without ever widening the permissions of a directory the user gave.
 *
 * The container writes into a fresh directory pydbg creates for the run: `<parent>/.pydbg-tmp-XXXXXX/out`,
 * where `<parent>` is the --out directory (or, by default, ~/.cache/pydbg/reports). The outer
 * directory is mkdtemp's 0700, so nobody else on the host can reach what is inside; the inner one is
 * made writable for the container user for the run (chown when pydbg runs as root; otherwise mode
 * 0777, because an engine with user namespaces (rootless Docker) maps the container's user to
 * another host uid). Afterwards the tool's files are moved into place and the temporary directory
 * is removed. The default report directory is created only when there is something to put into it,
 * and what pydbg created is removed again when the check fails before the tool ran.
 */
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BUG_HINT, ExitCode, PydbgError } from '../errors.js';

export interface OutDirOptions {
  /** --out DIR: the user's directory (created when missing, never chmod'ed) */
  out?: string;
  /** the report directory to create when --out is not given */
  defaultDir: string;
  /** uid:gid the container runs as */
  user: string;
}

export interface OutDir {
  /** where the files end up (created only when there is something to put into it) */
  readonly dir: string;
  /** the directory to mount at OUT_MOUNT: private, made writable for the container user */
  readonly mount: string;
  /** the tool has finished: read the files matching the patterns and move them into `dir` */
  collect(patterns: readonly RegExp[]): Promise<Map<string, string>>;
  /** write files (plain names) into `dir`; returns their paths in order */
  write(files: ReadonlyArray<{ name: string; content: string }>): Promise<string[]>;
  /** the tool did not run (or was interrupted): remove everything pydbg created */
  abandon(): Promise<void>;
  /** remove the temporary directory, and what pydbg created when nothing was kept */
  close(): Promise<void>;
}

const fsError = (what: string, e: unknown) =>
  new PydbgError(ExitCode.USAGE, `cannot ${what}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'pass --out with a directory you can write to', cause: e });

async function step<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw fsError(what, e);
  }
}

/** Make `dir` (pydbg's own) writable for the container user. */
async function grant(dir: string, user: string): Promise<void> {
  const me = process.getuid?.();
  if (me === undefined) return; // Windows: Docker Desktop shares files without Unix modes
  const ids = /^(\d+):(\d+)$/.exec(user);
  if (me === 0 && ids) {
    if (ids[1] !== '0') await chown(dir, Number(ids[1]), Number(ids[2]));
    return;
  }
  await chmod(dir, 0o777);
}

/** rmdir from `leaf` up to `top` (the first directory mkdir -p created), stopping at one that is not empty. */
async function removeCreated(top: string | undefined, leaf: string): Promise<void> {
  if (!top) return;
  for (let d = leaf; d.startsWith(top); d = dirname(d)) {
    if (!(await rmdir(d).then(() => true, () => false))) return;
    if (d === top) return;
  }
}

async function move(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}

export async function openOutDir(o: OutDirOptions): Promise<OutDir> {
  const dir = resolve(o.out ?? o.defaultDir);
  const parent = o.out !== undefined ? dir : dirname(dir);
  const createdParent = await step(`create the output directory ${parent}`, () => mkdir(parent, { recursive: true }));
  let stage: string;
  let mount: string;
  try {
    stage = await step(`write into ${parent}`, () => mkdtemp(join(parent, '.pydbg-tmp-')));
    mount = join(stage, 'out');
    await mkdir(mount, { mode: 0o700 });
    await grant(mount, o.user);
  } catch (e) {
    await removeCreated(createdParent, parent);
    throw e instanceof PydbgError ? e : fsError(`prepare a directory for the tool in ${parent}`, e);
  }
  let createdDir: string | undefined;
  let kept = false;
  let closed = false;
  const ensureDir = async () => {
    if (kept) return;
    const made = await mkdir(dir, { recursive: true });
    createdDir ??= made;
    kept = true;
  };
  const removeStage = () => rm(stage, { recursive: true, force: true }).catch(() => {});

  return {
    dir,
    mount,
    async collect(patterns) {
      await chmod(mount, 0o700).catch(() => {}); // the container is done with it
      const names = (await readdir(mount)).filter((n) => patterns.some((p) => p.test(n))).sort();
      const files = new Map<string, string>();
      for (const n of names) {
        const text = await readFile(join(mount, n), 'utf8').catch(() => undefined);
        if (text !== undefined) files.set(n, text);
      }
      if (files.size) await ensureDir();
      for (const n of files.keys()) await move(join(mount, n), join(dir, n));
      return files;
    },
    async write(files) {
      for (const f of files) {
        if (!f.name || basename(f.name) !== f.name || f.name === '.' || f.name === '..') throw new PydbgError(ExitCode.INTERNAL, `an analysis asked to write '${f.name}', which is not a plain file name`, { hint: BUG_HINT });
      }
      await ensureDir();
      const paths: string[] = [];
      for (const f of files) {
        const p = join(dir, f.name);
        await writeFile(p, f.content);
        paths.push(p);
      }
      return paths;
    },
    async abandon() {
      closed = true;
      await removeStage();
      if (createdDir) await rm(createdDir, { recursive: true, force: true }).catch(() => {});
      await removeCreated(createdParent, parent);
    },
    async close() {
      if (closed) return;
      closed = true;
      await removeStage();
      if (!kept) await removeCreated(createdParent, parent);
    },
  };
}
