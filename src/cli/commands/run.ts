import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../project/config.js';
import { DockerEngine } from '../../engine/docker.js';
import { ExitCode, InterruptedError, PydbgError, usageError } from '../../errors.js';
import { runProject, type RunInput, type RunResult } from '../../exec/run.js';
import { StderrProgress } from '../progress.js';
import { resolve } from 'node:path';

export interface RunOpts {
  variant?: string;
  python?: string;
  arch?: string;
  board?: string;
  project: string;
  config?: string;
  build?: boolean;
  network?: boolean;
  rw?: boolean;
  timeout?: string;
  memory: string;
  cpus?: string;
  user?: string;
  env?: string[];
  quiet?: boolean;
  repro?: string;
  gdb?: boolean;
  core?: boolean;
  json?: string;
}

export function withTimeout(signal: AbortSignal, timeout: string | undefined, fallback?: number): { signal: AbortSignal; clear: () => void } {
  const secs = timeout !== undefined ? Number(timeout) : fallback;
  if (secs === undefined) return { signal, clear: () => {} };
  if (!Number.isFinite(secs) || secs <= 0) throw usageError(`--timeout must be a positive number of seconds, not '${timeout}'`);
  const t = new AbortController();
  const timer = setTimeout(() => t.abort(new InterruptedError('timeout', `the command ran longer than ${secs} s; the container was stopped and removed`)), secs * 1000);
  return { signal: AbortSignal.any([signal, t.signal]), clear: () => clearTimeout(timer) };
}

async function execute(input: RunInput, o: RunOpts, signal: AbortSignal, configTimeout?: number): Promise<RunResult[]> {
  const progress = new StderrProgress(process.stderr, o.quiet);
  const t = withTimeout(signal, o.timeout, configTimeout);
  // With --json -, stdout carries the JSON: the command's own stdout goes to stderr.
  const stdout = o.json === '-' ? process.stderr : process.stdout;
  try {
    return await runProject(input, {
      engine: new DockerEngine(),
      progress,
      signal: t.signal,
      stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      tty: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    });
  } finally {
    t.clear();
    progress.stop();
  }
}

export function baseInput(o: RunOpts): RunInput {
  return {
    projectDir: resolve(o.project),
    argv: [],
    variant: o.variant,
    python: o.python,
    arch: o.arch,
    board: o.board,
    configPath: o.config ? resolve(o.config) : undefined,
    build: o.build,
    network: o.network,
    rw: o.rw,
    memory: o.memory,
    cpus: o.cpus !== undefined ? Number(o.cpus) : undefined,
    user: o.user,
    env: o.env,
  };
}

export async function run(command: string[], o: RunOpts, signal: AbortSignal): Promise<void> {
  const input = baseInput(o);
  const { config } = await loadConfig(input.projectDir, input.configPath);
  if (o.repro) {
    if (command.length) throw usageError('give either --repro NAME or a command, not both');
    const cmd = config.repros?.[o.repro];
    if (!cmd) {
      const known = Object.keys(config.repros ?? {});
      throw new PydbgError(ExitCode.CONFIG, `no repro named '${o.repro}' in pydbg.yaml`, { hint: known.length ? `known repros: ${known.join(', ')}` : 'add one under repros: in pydbg.yaml' });
    }
    input.argv = ['sh', '-c', cmd];
  } else {
    input.argv = command;
  }
  if (input.argv.length === 0) throw usageError('no command given', "usage: pydbg run [options] -- python repro.py   (or --repro NAME)");
  input.gdb = o.gdb;
  input.core = o.core;
  const results = await execute(input, o, signal, config.timeout);
  const failed = results.find((r) => r.exitCode !== 0);
  if (o.json) {
    const text = `${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`;
    if (o.json === '-') process.stdout.write(text);
    else await writeFile(o.json, text);
  }
  process.exitCode = failed?.exitCode ?? 0;
}

export async function shell(o: RunOpts, signal: AbortSignal): Promise<void> {
  const input = { ...baseInput(o), shell: true };
  const results = await execute(input, o, signal);
  process.exitCode = results[0]?.exitCode ?? 0;
}
