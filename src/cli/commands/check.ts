/**
 * `pydbg check ANALYSIS REPRO`: the analyses orchestrator does the work; this turns the options
 * into its input and writes the report: text (or, with --json, JSON) on stdout, and the files
 * asked for (--json-out, --sarif, --junit). The repro's own stdout goes to stderr. Several
 * versions, variants or arches (or --matrix) run the matrix instead: one table, one JSON.
 */
import { writeFile } from 'node:fs/promises';
import { check as runCheck, type CheckInput } from '../../analyses/check.js';
import type { RunIO } from '../../exec/types.js';
import type { Allocator } from '../../catalogue/allocators.js';
import { checkMatrix, isMatrix } from '../../analyses/matrix-run.js';
import { jsonReport, junitReport, matrixJson, matrixJunit, matrixSarif, matrixText, sarifReport, textReport } from '../../report/writers.js';
import { lazyEngine, resolveIn, type CliProgress, type CommandResult, type Deps } from '../deps.js';
import { baseRequest, projectInput, type ProjectOpts } from './run.js';

export interface CheckOpts extends Omit<ProjectOpts, 'variant'> {
  /** one variant, or (repeated --variant) one per matrix column */
  variant?: string | string[];
  /** --matrix: pydbg.yaml's lists are the axes */
  matrix?: boolean;
  /** matrix: cells at once */
  jobs?: number;
  analysis: string;
  repro?: string[];
  reproName?: string;
  out?: string;
  json?: boolean;
  jsonOut?: string;
  sarif?: string;
  junit?: string;
  iterations?: number;
  rounds?: number;
  warmup?: number;
  mallocs?: Allocator[];
  followUp?: boolean;
}

export function checkInput(o: CheckOpts, deps: Pick<Deps, 'cwd'>): CheckInput {
  // a matrix replaces python, variant and arch per cell
  const one: ProjectOpts = { ...o, variant: Array.isArray(o.variant) ? o.variant[0] : o.variant };
  return {
    project: projectInput(one, deps),
    analysis: o.analysis,
    repro: o.repro ?? [],
    reproName: o.reproName,
    out: resolveIn(deps, o.out),
    options: { iterations: o.iterations, rounds: o.rounds, warmup: o.warmup, ...(o.mallocs ? { mallocs: o.mallocs } : {}), ...(o.followUp === false ? { followUp: false } : {}) },
    run: baseRequest(one),
  };
}

export async function check(o: CheckOpts, deps: Deps): Promise<CommandResult> {
  const input = checkInput(o, deps);
  const progress = deps.progress(o.quiet);
  // the repro's own stdout goes to stderr: stdout carries the report; --timeout travels in the
  // run request and is armed once the variant image exists (building it first is not counted)
  const io: RunIO = { engine: lazyEngine(deps), progress, signal: deps.signal, stdout: deps.stderr, stderr: deps.stderr, tty: false };
  try {
    if (isMatrix(o)) return await matrix(o, input, io, progress, deps);
    const { report, exitCode, reportPath } = await runCheck(input, io);
    progress.stop();
    deps.stdout.write(o.json ? jsonReport(report) : textReport(report));
    if (o.jsonOut) await writeFile(resolveIn(deps, o.jsonOut)!, jsonReport(report));
    if (o.sarif) await writeFile(resolveIn(deps, o.sarif)!, sarifReport([report]));
    if (o.junit) await writeFile(resolveIn(deps, o.junit)!, junitReport([report]));
    return { exitCode, data: { report, reportPath } };
  } finally {
    progress.stop();
  }
}

/** The matrix: the table (or, with --json, the pydbg.matrix/1 JSON) on stdout; SARIF one run per cell, JUnit one suite per cell. */
async function matrix(o: CheckOpts, input: CheckInput, io: RunIO, progress: CliProgress, deps: Deps): Promise<CommandResult> {
  const m = await checkMatrix(input, o, o.jobs ?? 1, io);
  progress.stop();
  deps.stdout.write(o.json ? matrixJson(m) : matrixText(m));
  if (o.jsonOut) await writeFile(resolveIn(deps, o.jsonOut)!, matrixJson(m));
  if (o.sarif) await writeFile(resolveIn(deps, o.sarif)!, matrixSarif(m));
  if (o.junit) await writeFile(resolveIn(deps, o.junit)!, matrixJunit(m));
  return { exitCode: m.exitCode, data: m };
}
