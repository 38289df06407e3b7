/**
 * `pydbg check` over a matrix: CPython versions × variants × architectures. Pure: the axes (from
 * the flags or pydbg.yaml), the cells (each planned, or skipped with the catalogue's or the
 * analysis's refusal), the fingerprint that makes one bug in two cells one row, the rows, the
 * number of cells run at once, and the exit code of the whole (the worst cell's).
 * The engine side is matrix-run.ts; the text, JSON, SARIF and JUnit are in report/writers.ts.
 */
import { createHash } from 'node:crypto';
import { resolveArch, resolveBoard, resolveTarget } from '../catalogue/arch.js';
import { parseVariantList } from '../catalogue/variants.js';
import { resolveRelease } from '../catalogue/versions.js';
import { ExitCode, PydbgError, quoted, usageError, type ExitCodeValue } from '../errors.js';
import { asList, type LoadedConfig } from '../project/config.js';
import { planVariant, type VariantPlan } from '../project/plan.js';
import { DEFAULT_PYTHON, fieldOf } from '../project/project.js';
import type { Analysis } from './analysis.js';
import { findingWhere, type AnalysisReport, type Finding } from './types.js';

/** check's target flags as parsed: --python and --arch comma lists, --variant once per cell variant. */
export interface MatrixFlags {
  python?: string;
  variant?: string | string[];
  arch?: string;
  board?: string;
  buildMode?: string;
  /** --matrix: pydbg.yaml's whole lists are the axes the flags do not give */
  matrix?: boolean;
}

/** A comma list of a flag (`--python 3.11,3.13`): every item non-empty. */
export function splitFlag(raw: string | undefined, flag: string): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => !s)) throw usageError(`${flag} ${quoted(raw)} has an empty item`, `separate the values with single commas, e.g. ${flag} 3.11,3.13`);
  return items;
}

const variantFlags = (f: MatrixFlags): string[] | undefined => (f.variant === undefined ? undefined : asList(f.variant));

/** More than one cell from the flags, or --matrix: otherwise check runs its one target, as always. */
export function isMatrix(f: MatrixFlags): boolean {
  const n = (xs: unknown[] | undefined) => xs?.length ?? 1;
  return Boolean(f.matrix) || n(splitFlag(f.python, '--python')) * n(variantFlags(f)) * n(splitFlag(f.arch, '--arch')) > 1;
}

export interface MatrixCell {
  /** PYTHON-VARIANT-ARCH, safe as a directory name and in a SARIF category (`,` → `+`) */
  id: string;
  /** `3.13 debug amd64`: the values as given */
  label: string;
  python: string;
  variant: string;
  arch: string;
  /** the flag or pydbg.yaml value the cell came from (undefined: the default, or the board's) */
  archInput?: string;
  board?: string;
  /** absent when the cell is skipped */
  plan?: VariantPlan;
  /** why the cell cannot run: the catalogue's or the analysis's refusal */
  skip?: string;
  /** said under the table (the analysis's own variant used where none of pydbg.yaml's can run) */
  note?: string;
}

export interface MatrixPlan {
  analysis: string;
  cells: MatrixCell[];
  axes: { pythons: string[]; variants: string[]; arches: string[] };
}

/**
 * The cells: python × variant × arch, each axis from its flag, else (with --matrix) pydbg.yaml's
 * list, else the value a single check would use. A value that is wrong on its own (an unknown
 * variant, a malformed version, an unknown arch) is an error, as always (pydbg.yaml's at its line,
 * exit 10); a combination the catalogue or the analysis refuses is a skipped cell.
 */
export function planMatrix(def: Analysis, loaded: LoadedConfig, flags: MatrixFlags): MatrixPlan {
  const { config } = loaded;
  const from = fieldOf(loaded);
  const all = Boolean(flags.matrix);

  const flagPythons = splitFlag(flags.python, '--python');
  flagPythons?.forEach((p) => resolveRelease(p));
  const yamlPythons = asList(config.python);
  if (!flagPythons && yamlPythons) yamlPythons.forEach((p, i) => from.check(from.item('python', i), () => resolveRelease(p)));
  const pythons = flagPythons ?? (all ? yamlPythons : yamlPythons?.slice(0, 1)) ?? [DEFAULT_PYTHON];

  // a --board or --arch flag overrides both fields of the file (as for a single target)
  const flagArches = splitFlag(flags.arch, '--arch');
  flagArches?.forEach((a) => resolveArch(a));
  const flagTarget = flagArches !== undefined || flags.board !== undefined;
  if (flags.board !== undefined) resolveBoard(flags.board);
  const yamlArches = flagTarget ? undefined : asList(config.arch);
  yamlArches?.forEach((a, i) => from.check(from.item('arch', i), () => resolveArch(a)));
  const board = flags.board ?? (flagTarget ? undefined : config.board);
  if (!flagTarget && config.board !== undefined) from.check(['board'], () => resolveBoard(config.board!));
  const arches: Array<string | undefined> = flagArches ?? (all ? yamlArches : yamlArches?.slice(0, 1)) ?? [undefined];

  const flagVariants = variantFlags(flags);
  flagVariants?.forEach((v) => parseVariantList(v));
  const yamlVariants = flagVariants ? undefined : asList(config.variant);
  yamlVariants?.forEach((v, i) => from.check(from.item('variant', i), () => parseVariantList(v)));

  const attempt = (python: string, variant: string, arch: string | undefined): MatrixCell => planCell(def, { python, variant, arch, board, buildMode: flags.buildMode });
  let variants: string[];
  if (flagVariants) variants = flagVariants;
  else if (!yamlVariants) variants = [def.defaultVariant];
  else if (all) variants = yamlVariants;
  // as a single check: the first of pydbg.yaml's variants the analysis can use (on the first version and arch)
  else variants = [yamlVariants.find((v) => attempt(pythons[0]!, v, arches[0]).plan) ?? def.defaultVariant];

  if (flags.buildMode !== undefined && arches.every((a) => resolveTarget({ arch: a, board }).arch.name === 'amd64')) {
    throw usageError('--build-mode applies to ARM targets; every architecture of this matrix builds natively', 'drop --build-mode, or add an ARM architecture (--arch amd64,arm64)');
  }

  const cells: MatrixCell[] = [];
  for (const python of pythons) {
    const group: MatrixCell[] = [];
    for (const variant of variants) for (const arch of arches) group.push(attempt(python, variant, arch));
    // --matrix with pydbg.yaml's variants: where none of them can run the analysis, its own is used (as a single check does)
    if (all && yamlVariants && !yamlVariants.includes(def.defaultVariant)) {
      for (const arch of arches) {
        if (group.some((c) => c.plan && c.archInput === arch)) continue;
        const c = attempt(python, def.defaultVariant, arch);
        if (c.plan) group.push({ ...c, note: `none of pydbg.yaml's variants can run ${def.name} on ${python} ${c.arch}: its own '${def.defaultVariant}' is used there` });
      }
    }
    cells.push(...group);
  }
  uniqueCells(cells);
  return {
    analysis: def.name,
    cells,
    axes: { pythons, variants: [...new Set(cells.map((c) => c.variant))], arches: [...new Set(cells.map((c) => c.arch))] },
  };
}

/** One cell: planned, or skipped with the refusal's words. */
function planCell(def: Analysis, t: { python: string; variant: string; arch?: string; board?: string; buildMode?: string }): MatrixCell {
  let archName: string;
  try {
    archName = resolveTarget({ arch: t.arch, board: t.board }).arch.name;
  } catch {
    archName = resolveArch(t.arch).name;
  }
  const cell: MatrixCell = {
    id: cellId(t.python, t.variant, archName),
    label: `${t.python} ${t.variant} ${archName}`,
    python: t.python,
    variant: t.variant,
    arch: archName,
    ...(t.arch !== undefined ? { archInput: t.arch } : {}),
    ...(t.board !== undefined ? { board: t.board } : {}),
  };
  try {
    const plan = planVariant({ variant: t.variant, python: t.python, arch: t.arch, board: t.board, buildMode: archName === 'amd64' ? undefined : t.buildMode });
    const refusal = def.unavailable(plan);
    return refusal ? { ...cell, skip: refusal.message } : { ...cell, plan };
  } catch (e) {
    if (!(e instanceof PydbgError)) throw e;
    return { ...cell, skip: e.message };
  }
}

export const cellId = (python: string, variant: string, arch: string): string =>
  `${python}-${variant.replace(/\s+/g, '').replace(/,/g, '+')}-${arch}`.replace(/[^A-Za-z0-9._+-]/g, '_');

/** Two spellings of one image are one cell (the later is skipped); ids stay unique. */
function uniqueCells(cells: MatrixCell[]): void {
  const byImage = new Map<string, MatrixCell>();
  const ids = new Set<string>();
  cells.forEach((c, i) => {
    if (c.plan) {
      const first = byImage.get(c.plan.image);
      if (first) cells[i] = c = { ...c, plan: undefined, skip: `the same image as ${first.label} (${c.plan.image})` };
      else byImage.set(c.plan.image, c);
    }
    let id = c.id;
    for (let n = 2; ids.has(id); n++) id = `${c.id}-${n}`;
    ids.add(id);
    c.id = id;
  });
}

/** No cell can run: one line, each refusal as a detail, exit 17 — before any engine call. */
export function noCellError(def: Analysis, m: MatrixPlan): PydbgError {
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : what === 'arch' ? 'es' : 's'}`;
  return new PydbgError(ExitCode.NO_CELL, `no cell of ${n(m.axes.pythons.length, 'version')} × ${n(m.axes.variants.length, 'variant')} × ${n(m.axes.arches.length, 'arch')} can run pydbg check ${def.name}`, {
    details: m.cells.map((c) => `${c.label}: ${c.skip}`),
    hint: `${def.name}'s own variant is '${def.defaultVariant}'; 'pydbg variants' says which variant builds for which versions (asan and tsan: not on ARM)`,
  });
}

/**
 * How many cells run at once: --jobs, at most the engine's CPUs and as many cells as its memory
 * holds at each cell's limit (--memory), at least one; and why, when that is fewer than asked.
 */
export function capJobs(asked: number, engine: { ncpu?: number; memTotal?: number }, perCellBytes: number): { jobs: number; note?: string } {
  const limits: Array<[number, string]> = [];
  if (engine.ncpu) limits.push([engine.ncpu, `${engine.ncpu} CPU${engine.ncpu === 1 ? '' : 's'}`]);
  if (engine.memTotal && perCellBytes > 0) limits.push([Math.floor(engine.memTotal / perCellBytes), `${gib(engine.memTotal)} of memory for ${gib(perCellBytes)} per cell (--memory)`]);
  const jobs = Math.max(1, Math.min(asked, ...limits.map(([n]) => n)));
  if (jobs >= asked) return { jobs };
  const why = limits.filter(([n]) => n < asked).map(([, w]) => w);
  return { jobs, note: `--jobs ${asked} lowered to ${jobs}: the engine has ${why.join(' and ')}` };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b % 2 ** 30 === 0 ? 0 : 1)} GiB`;

/** A finding's identity across cells: the analysis, its kind and the user's frames, never the message (its numbers vary). */
export function fingerprint(f: Finding): string {
  const u = f.userFrame;
  const frames = f.frames.filter((fr) => fr.inUserCode).map((fr) => [fr.function, fr.file]);
  const key = JSON.stringify([f.analysis, f.kind, u?.function ?? null, u?.file ?? null, u?.line ?? null, frames]);
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export type CellStatus = 'ran' | 'skipped' | 'failed';

/** What happened in one cell (the JSON's `cells`). */
export interface CellResult {
  id: string;
  python: string;
  variant: string;
  arch: string;
  status: CellStatus;
  /** skipped: the refusal; failed: the error, or why the report is partial */
  reason?: string;
  /** 0 clean, 20 findings, 22 a partial report, else the error's code (absent: skipped) */
  exitCode?: number;
  reportPath?: string;
  report?: AnalysisReport;
  note?: string;
}

export interface MatrixRow {
  fingerprint: string;
  kind: string;
  where: string;
  /** as the first cell that had it words it */
  message: string;
  /** per cell id with a report: how many times (0: absent) */
  counts: Record<string, number>;
}

/** Each finding in the user's code (by fingerprint) × each cell with a report. */
export function matrixRows(cells: readonly CellResult[]): MatrixRow[] {
  const rows = new Map<string, MatrixRow>();
  const withReport = cells.filter((c) => c.report);
  for (const c of withReport) {
    for (const f of c.report!.userFindings) {
      const key = fingerprint(f);
      let row = rows.get(key);
      if (!row) {
        row = { fingerprint: key, kind: f.kind, where: findingWhere(f), message: f.message, counts: Object.fromEntries(withReport.map((w) => [w.id, 0])) };
        rows.set(key, row);
      }
      row.counts[c.id] = (row.counts[c.id] ?? 0) + f.count;
    }
  }
  return [...rows.values()];
}

/** The cell's outcome from check's result: a partial report fails the cell, even with findings. */
export function cellOutcome(report: AnalysisReport, exitCode: number): Pick<CellResult, 'status' | 'exitCode' | 'reason'> {
  if (report.status === 'partial') return { status: 'failed', exitCode: ExitCode.TOOL_FAILED, reason: report.partialReason ?? 'the analysis did not finish' };
  return { status: 'ran', exitCode };
}

/** The worst cell: a failed one (the first) beats findings (20), which beat clean (0); skipped cells do not count. */
export function worstExit(cells: readonly CellResult[]): ExitCodeValue | 0 {
  const failed = cells.find((c) => c.status === 'failed');
  if (failed) return (failed.exitCode ?? ExitCode.INTERNAL) as ExitCodeValue;
  return cells.some((c) => c.exitCode === ExitCode.FINDINGS) ? ExitCode.FINDINGS : 0;
}

/** The matrix's result: what `--json` prints (schema pydbg.matrix/1). */
export interface MatrixResult {
  schema: 'pydbg.matrix/1';
  analysis: string;
  /** the repro as run */
  command: string[];
  /** the worst cell's */
  exitCode: ExitCodeValue | 0;
  cells: CellResult[];
  rows: MatrixRow[];
}

export function matrixResult(analysis: string, command: string[], cells: CellResult[]): MatrixResult {
  return { schema: 'pydbg.matrix/1', analysis, command, exitCode: worstExit(cells), cells, rows: matrixRows(cells) };
}
