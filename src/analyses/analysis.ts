/**
 * What an analysis is: which variant it needs, the command it runs in the container, and a PURE
 * parse of the files its tool wrote. The orchestrator (check.ts) does every bit of I/O: it reads
 * the declared output files, hands their contents to `parse`, and writes what parse returns.
 */
import type { VariantPlan } from '../project/plan.js';
import type { RunResult } from '../exec/types.js';
import { signalOf } from '../exec/crash.js';
import type { AnalysisReport } from './types.js';
import type { Allocator } from '../catalogue/allocators.js';

/** Why an analysis cannot run on a build, and what would work instead. */
export interface Refusal {
  message: string;
  hint: string;
}

export interface CheckOptions {
  iterations?: number;
  rounds?: number;
  warmup?: number;
  /** rss: the C allocators to compare */
  mallocs?: Allocator[];
  /** leaks: run memcheck on the same repro when memory grows but refcounts do not (default true) */
  followUp?: boolean;
}

export interface CommandContext {
  plan: VariantPlan;
  /** the repro's words: a script and its arguments, module:function (leaks), or a command */
  repro: string[];
  options: CheckOptions;
}

export interface CommandPlan {
  argv: string[];
  env: Record<string, string>;
  /** what to run under gdb if it crashes (the repro without the tool) */
  crashArgv: string[];
  notes: string[];
  /** the names of the files the tool writes into the output directory (OUT_MOUNT) */
  outputs: RegExp[];
  /** Debian packages the run's image needs besides the project's */
  packages?: string[];
  /** the command turns ASLR off (setarch -R): the container runs without the seccomp filter that forbids it */
  aslrOff?: boolean;
}

export interface ParseContext {
  plan: VariantPlan;
  run: RunResult;
  repro: string[];
  /** where the raw files and artefacts end up on the host (for rawFiles and messages only: parse does no I/O) */
  outDir: string;
}

/** A file an analysis makes from the tool's output (massif's SVG), written by the orchestrator. */
export interface Artefact {
  /** a plain file name inside the output directory */
  name: string;
  content: string;
}

export type ParsedReport = Omit<AnalysisReport, 'schema' | 'analysis' | 'tool' | 'python' | 'variant' | 'command' | 'reproExitCode'> & {
  artefacts?: Artefact[];
};

export interface Analysis {
  readonly name: string;
  /** the tool, as the report names it */
  readonly tool: string;
  /** one line for `pydbg check --help` */
  readonly summary: string;
  /** the tool's own manual page (SARIF rules link to it) */
  readonly helpUri: string;
  readonly defaultVariant: string;
  /** short descriptions of the finding kinds this analysis reports (SARIF rule text) */
  readonly rules?: Readonly<Record<string, string>>;
  unavailable(plan: VariantPlan): Refusal | undefined;
  /** may throw a usage error for a repro it cannot run; called before any engine call */
  command(ctx: CommandContext): CommandPlan;
  /** pure: file name → content (only the files matching `outputs`) → the report's body */
  parse(files: ReadonlyMap<string, string>, ctx: ParseContext): ParsedReport;
}

/** `python` in front of a .py script; anything else is run as given. */
export function reproArgv(repro: string[]): string[] {
  return repro[0]?.endsWith('.py') ? ['python', ...repro] : repro;
}

/** Why a run that did not exit 0 leaves the analysis partial. */
export function partialReason(run: RunResult): string | undefined {
  if (run.exitCode === 0) return undefined;
  const sig = signalOf(run.exitCode);
  return sig
    ? `the repro crashed with ${sig} before the analysis finished; findings gathered so far are shown`
    : `the repro exited with code ${run.exitCode}; findings gathered so far are shown`;
}

/** The output files matching a pattern, in name order. */
export function matching(files: ReadonlyMap<string, string>, re: RegExp): string[] {
  return [...files.keys()].filter((f) => re.test(f)).sort();
}

/** The hint of a tool that wrote nothing usable: the raw files are only worth a look when there are some. */
export function lookHint(files: ReadonlyMap<string, string>, outDir: string): string {
  return files.size ? `look at the output above and in ${outDir}` : 'look at the output above';
}
