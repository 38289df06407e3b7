/**
 * `pydbg ci github`: the GitHub Actions workflow for pydbg.yaml's ci: section (src/ci/github.ts
 * makes it), on stdout or into `-o FILE` — which is overwritten only when pydbg wrote it (or with
 * --force). Needs no engine. Cells left out and notes go to stderr.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { GENERATED_MARK, githubWorkflow, skipLine, type ArmRunners } from '../../ci/github.js';
import { ExitCode, PydbgError, quoted, usageError } from '../../errors.js';
import { loadConfig } from '../../project/config.js';
import { shQuote } from '../../render/template.js';
import { PYDBG_VERSION } from '../../version.js';
import type { CommandResult, Deps } from '../deps.js';

export interface CiGithubOpts {
  project?: string;
  config?: string;
  armRunners?: ArmRunners;
  output?: string;
  force?: boolean;
}

export async function github(o: CiGithubOpts, deps: Pick<Deps, 'cwd' | 'stdout' | 'stderr'>): Promise<CommandResult> {
  const dir = resolve(deps.cwd, o.project ?? '.');
  const configPath = o.config ? resolve(deps.cwd, o.config) : undefined;
  const loaded = await loadConfig(dir, configPath);
  // the workflow runs at the top of the checkout: paths relative to the repository's root
  const root = repositoryRoot(dir) ?? deps.cwd;
  const rel = (p: string) => relative(root, p).split(sep).join('/') || '.';
  const output = o.output ? resolve(deps.cwd, o.output) : undefined;
  const where = { project: rel(dir), config: configPath ? rel(configPath) : undefined };
  const wf = githubWorkflow(loaded, {
    version: PYDBG_VERSION,
    armRunners: o.armRunners,
    ...where,
    regenerate: regenerateCommand({ ...where, armRunners: o.armRunners }, output ? rel(output) : undefined),
  });
  for (const s of wf.skipped) deps.stderr.write(`pydbg: note: left out ${skipLine(s)}\n`);
  for (const n of wf.notes) deps.stderr.write(`pydbg: note: ${n}\n`);
  const data = { path: output, cells: wf.cells, checks: wf.checks, skipped: wf.skipped, notes: wf.notes };
  if (!output) {
    deps.stdout.write(wf.text);
    return { exitCode: 0, data };
  }
  await refuseForeign(output, o.output!, Boolean(o.force));
  await mkdir(dirname(output), { recursive: true });
  await writeFile(output, wf.text);
  const cellCount = wf.checks.reduce((n, j) => n + j.cells.length, 0);
  deps.stderr.write(`wrote ${o.output}: ${wf.cells.length} image${wf.cells.length === 1 ? '' : 's'}, ${wf.checks.length} check job${wf.checks.length === 1 ? '' : 's'} (${cellCount} cell${cellCount === 1 ? '' : 's'})\n`);
  return { exitCode: 0, data };
}

/** `-o FILE` replaces a workflow pydbg wrote; anything else only with --force. */
async function refuseForeign(path: string, given: string, force: boolean): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) throw usageError(`-o ${given} is a directory`, 'give the workflow file, e.g. -o .github/workflows/pydbg.yml');
  if (force) return;
  const head = (await readFile(path, 'utf8')).slice(0, 200);
  if (!head.startsWith(GENERATED_MARK)) {
    throw new PydbgError(ExitCode.USAGE, `${quoted(given)} exists and pydbg did not write it`, { hint: 'pass --force to replace it, or choose another -o FILE' });
  }
}

/** The closest directory at or above `dir` with a .git: where a checkout starts. */
function repositoryRoot(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** The command line that writes the same file again, from the repository's root. */
function regenerateCommand(o: { project: string; config?: string; armRunners?: ArmRunners }, output: string | undefined): string {
  const words = ['pydbg ci github'];
  if (o.project !== '.') words.push('-C', shQuote(o.project));
  if (o.config) words.push('--config', shQuote(o.config));
  if (o.armRunners) words.push('--arm-runners', o.armRunners);
  words.push(output ? `-o ${shQuote(output)}` : '> THIS_FILE');
  return words.join(' ');
}
