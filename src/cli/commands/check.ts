import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { check as runCheck } from '../../analyses/check.js';
import { DockerEngine } from '../../engine/docker.js';
import { usageError } from '../../errors.js';
import { jsonReport, junitReport, sarifReport, textReport } from '../../report/writers.js';
import { StderrProgress } from '../progress.js';
import { withTimeout, type RunOpts, baseInput } from './run.js';

interface CheckOpts extends RunOpts {
  out?: string;
  sarif?: string;
  junit?: string;
  iterations?: string;
  rounds: string;
  warmup: string;
}

const positiveInt = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`--${name} must be a whole number ≥ 1, not '${v}'`);
  return n;
};

export async function check(analysis: string, repro: string[], o: CheckOpts, signal: AbortSignal): Promise<void> {
  const progress = new StderrProgress(process.stderr, o.quiet);
  const t = withTimeout(signal, o.timeout);
  try {
    const { report, exitCode } = await runCheck(
      {
        ...baseInput(o),
        analysis,
        repro,
        reproName: o.repro,
        out: o.out ? resolve(o.out) : undefined,
        options: { iterations: positiveInt('iterations', o.iterations), rounds: positiveInt('rounds', o.rounds), warmup: Number(o.warmup) },
      },
      // the repro's own stdout goes to stderr: stdout carries the report
      { engine: new DockerEngine(), progress, signal: t.signal, stdout: process.stderr, stderr: process.stderr, tty: false },
    );
    progress.stop();
    if (o.json === '-') process.stdout.write(jsonReport(report));
    else {
      process.stdout.write(textReport(report));
      if (o.json) await writeFile(o.json, jsonReport(report));
    }
    if (o.sarif) await writeFile(o.sarif, sarifReport([report]));
    if (o.junit) await writeFile(o.junit, junitReport([report]));
    process.exitCode = exitCode;
  } finally {
    t.clear();
    progress.stop();
  }
}
