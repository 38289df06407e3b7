/**
 * `pydbg check` over a matrix, on the engine: every refusal before the first engine call (the
 * cells, the repro, each cell's command), then the missing images built one at a time (the way a
 * single check builds its own; --no-build refuses, exit 13), then the cells run — `--jobs` at once,
 * bounded by the engine's CPUs and memory — each through check() with its own report directory,
 * its progress and the repro's output prefixed with the cell. A cell that fails does not stop the
 * others; an interrupt stops them all (each check leaves nothing behind).
 */
import { mkdir, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { ExitCode, PydbgError } from '../errors.js';
import { containerUser, DEFAULT_MEMORY } from '../exec/container.js';
import { runProject } from '../exec/run.js';
import type { RunIO } from '../exec/types.js';
import { reportsDir } from '../paths.js';
import { loadProject, targetFor, type ProjectInput, type ResolvedProject } from '../project/project.js';
import { ensureVariant, type Progress } from '../provision/variant.js';
import { reproArgv } from './analysis.js';
import { check, prepareCheck, type CheckDeps, type CheckInput } from './check.js';
import { capJobs, cellOutcome, isMatrix, matrixResult, noCellError, planMatrix, type CellResult, type MatrixCell, type MatrixFlags, type MatrixResult } from './matrix.js';
import { analysisByName } from './registry.js';

export { isMatrix } from './matrix.js';

export interface MatrixDeps extends CheckDeps {
  ensureVariant: typeof ensureVariant;
}

const DEFAULT_DEPS: MatrixDeps = { runProject, containerUser, reportsDir, now: () => new Date(), ensureVariant };

/** `input.project`'s python/variant/arch are replaced by each cell's; `flags` are check's target flags as given. */
export async function checkMatrix(input: CheckInput, flags: MatrixFlags, jobs: number, io: RunIO, deps: Partial<MatrixDeps> = {}): Promise<MatrixResult> {
  const d: MatrixDeps = { ...DEFAULT_DEPS, ...deps };
  const def = analysisByName(input.analysis);
  const { dir, loaded, ext, notes } = await loadProject(input.project);
  const matrix = planMatrix(def, loaded, flags);
  const runnable = matrix.cells.filter((c) => c.plan);
  if (runnable.length === 0) throw noCellError(def, matrix);
  // the project's notes (an uncompiled .pyx) are said once, by the first cell
  const resolvedOf = (c: MatrixCell): ResolvedProject => ({ dir, config: loaded.config, configPath: loaded.path, ext, targets: [targetFor(c.plan!, ext, dir)], notes: c === runnable[0] ? notes : [] });
  // the repro and every cell's command: a usage error is the whole command's, before any engine call
  let command: string[] = [];
  for (const c of runnable) command = reproArgv(prepareCheck(input, resolvedOf(c), def, c.plan!).repro);

  const info = await io.engine.ping(io.signal, { resources: true });
  const cap = capJobs(jobs, info, input.run?.memoryBytes ?? DEFAULT_MEMORY);
  io.progress.log(`${matrix.cells.length} cells: ${runnable.length} to run${runnable.length < matrix.cells.length ? `, ${matrix.cells.length - runnable.length} skipped` : ''}${runnable.length > 1 ? `, ${Math.min(cap.jobs, runnable.length)} at a time` : ''}`);
  if (cap.note) io.progress.log(`note: ${cap.note}`);

  const results = new Map<string, CellResult>();
  for (const c of matrix.cells) if (c.skip) results.set(c.id, { ...tag(c), status: 'skipped', reason: c.skip });
  const ready = await ensureImages(runnable, input.run?.buildMissing !== false, io, d, results);

  const stamp = d.now().toISOString().replace(/[:.]/g, '-');
  const root = input.out ?? join(d.reportsDir(), `${stamp}-${def.name}`);
  const created = await mkdir(root, { recursive: true });
  try {
    await pool(ready, cap.jobs, io.signal, async (c) => {
      results.set(c.id, await runCell(input, c, resolvedOf(c), join(root, c.id), io, d));
    });
  } finally {
    await removeEmpty(created, root);
  }
  return matrixResult(def.name, command, matrix.cells.map((c) => results.get(c.id)!));
}

/** What mkdir -p created (`top` down to `leaf`), when no cell kept anything in it. */
async function removeEmpty(top: string | undefined, leaf: string): Promise<void> {
  if (!top) return;
  for (let dir = leaf; dir.startsWith(top); dir = dirname(dir)) {
    if (!(await rmdir(dir).then(() => true, () => false)) || dir === top) return;
  }
}

const tag = (c: MatrixCell) => ({ id: c.id, python: c.python, variant: c.variant, arch: c.arch, ...(c.note ? { note: c.note } : {}) });

/**
 * Every runnable cell's variant image, one at a time (builds compete for the same CPUs): a missing
 * one is built first, or with --no-build the whole matrix is refused (exit 13) naming each. A
 * failed build fails its cell; the engine gone or an interrupt stops everything.
 */
async function ensureImages(cells: MatrixCell[], build: boolean, io: RunIO, d: MatrixDeps, results: Map<string, CellResult>): Promise<MatrixCell[]> {
  const missing: Array<{ cell: MatrixCell; error: PydbgError }> = [];
  const ready: MatrixCell[] = [];
  for (const c of cells) {
    try {
      await d.ensureVariant(c.plan!, { engine: io.engine, progress: prefixed(io.progress, c), signal: io.signal }, build);
      ready.push(c);
    } catch (e) {
      if (io.signal.aborted || (e instanceof PydbgError && e.exitCode === ExitCode.ENGINE)) throw e;
      if (e instanceof PydbgError && e.exitCode === ExitCode.NO_IMAGE) missing.push({ cell: c, error: e });
      else results.set(c.id, failure(c, e));
    }
  }
  if (missing.length === 1) throw missing[0]!.error;
  if (missing.length > 1) {
    throw new PydbgError(ExitCode.NO_IMAGE, `${missing.length} variant images of the matrix do not exist yet and --no-build was given`, {
      details: missing.map(({ cell }) => `${cell.label}: ${cell.plan!.command}`),
      hint: 'build them with the commands above, or run without --no-build (missing images are then built first, one at a time)',
    });
  }
  return ready;
}

/** One cell through check(): its report directory, its own progress prefix; an error fails the cell only. */
async function runCell(input: CheckInput, c: MatrixCell, resolved: ResolvedProject, out: string, io: RunIO, d: MatrixDeps): Promise<CellResult> {
  const stdout = new LinePrefix(io.stdout, `[${c.label}] `);
  const stderr = new LinePrefix(io.stderr, `[${c.label}] `);
  // the cell names itself for the follow-ups (leaks), which resolve their own projects
  const project: ProjectInput = { ...input.project, python: c.python, variant: c.variant, arch: c.archInput, board: c.board, buildMode: c.plan!.mode === 'native' ? undefined : input.project.buildMode };
  try {
    const r = await check({ ...input, project, resolved, out }, { ...io, progress: prefixed(io.progress, c), stdout, stderr }, d);
    return { ...tag(c), ...cellOutcome(r.report, r.exitCode), reportPath: r.reportPath, report: r.report };
  } catch (e) {
    if (io.signal.aborted) throw e;
    return failure(c, e);
  } finally {
    stdout.flush();
    stderr.flush();
  }
}

/** A failed cell: the error's code and message (anything not a PydbgError is a bug in pydbg: exit 1). */
function failure(c: MatrixCell, e: unknown): CellResult {
  const code = e instanceof PydbgError ? e.exitCode : ExitCode.INTERNAL;
  return { ...tag(c), status: 'failed', exitCode: code, reason: e instanceof Error ? e.message : String(e) };
}

/** `n` at a time, in order; after an interrupt nothing new starts, and the interrupt is what is thrown. */
async function pool<T>(items: readonly T[], n: number, signal: AbortSignal, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length && !signal.aborted) {
      const item = items[next++]!;
      await f(item).catch((e: unknown) => void errors.push(e));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (signal.aborted) throw signal.reason;
  if (errors.length) throw errors[0];
}

/** Progress of one cell: every line names it. */
export function prefixed(p: Progress, c: Pick<MatrixCell, 'label'>): Progress {
  const pre = `[${c.label}] `;
  return { log: (m) => p.log(`${pre}${m}`), phase: (name) => p.phase(`${pre}${name}`), event: (ev) => p.event(ev), output: (line) => p.output(line) };
}

/** A stream that prefixes each line it passes on (cells running at once share stderr). */
export class LinePrefix extends Writable {
  private rest = '';
  constructor(
    private readonly target: NodeJS.WritableStream,
    private readonly prefix: string,
  ) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const lines = (this.rest + chunk.toString()).split('\n');
    this.rest = lines.pop()!;
    if (lines.length) this.target.write(lines.map((l) => `${this.prefix}${l}\n`).join(''));
    cb();
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.flush();
    cb();
  }
  /** pass on a last line without its newline */
  flush(): void {
    if (this.rest) this.target.write(`${this.prefix}${this.rest}\n`);
    this.rest = '';
  }
}
