/**
 * `pydbg check ANALYSIS REPRO`: the analyses orchestrator does the work; this turns the options
 * into its input and writes the report: text (or, with --json, JSON) on stdout, and the files
 * asked for (--json-out, --sarif, --junit). The repro's own stdout goes to stderr.
 */
import { writeFile } from 'node:fs/promises';
import { check as runCheck, type CheckInput } from '../../analyses/check.js';
import type { RunIO } from '../../exec/types.js';
import type { Allocator } from '../../catalogue/allocators.js';
import { jsonReport, junitReport, sarifReport, textReport } from '../../report/writers.js';
import { lazyEngine, resolveIn, type CommandResult, type Deps } from '../deps.js';
import { baseRequest, projectInput, type ProjectOpts } from './run.js';

export interface CheckOpts extends ProjectOpts {
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
  return {
    project: projectInput(o, deps),
    analysis: o.analysis,
    repro: o.repro ?? [],
    reproName: o.reproName,
    out: resolveIn(deps, o.out),
    options: { iterations: o.iterations, rounds: o.rounds, warmup: o.warmup, ...(o.mallocs ? { mallocs: o.mallocs } : {}), ...(o.followUp === false ? { followUp: false } : {}) },
    run: baseRequest(o),
  };
}

export async function check(o: CheckOpts, deps: Deps): Promise<CommandResult> {
  const input = checkInput(o, deps);
  const progress = deps.progress(o.quiet);
  // the repro's own stdout goes to stderr: stdout carries the report; --timeout travels in the
  // run request and is armed once the variant image exists (building it first is not counted)
  const io: RunIO = { engine: lazyEngine(deps), progress, signal: deps.signal, stdout: deps.stderr, stderr: deps.stderr, tty: false };
  try {
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
