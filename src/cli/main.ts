/**
 * The CLI entry: parse (parse.ts, from the tables in table.ts), load the one command module
 * needed (lazily: start-up stays fast), give it its deps, and map what comes back — a result or
 * an error — to output and an exit code. The only place the real engine is constructed.
 */
import type { Engine } from '../engine/engine.js';
import { BUG_HINT, ExitCode, InterruptedError, PydbgError } from '../errors.js';
import type { CommandFn, CommandResult, Deps } from './deps.js';
import { CliUsageError, commandId, parseCLI, type ParsedCLI } from './parse.js';
import { StderrProgress } from './progress.js';
import { commandSpec, type CommandId } from './table.js';

// Each command's module, imported only when that command runs.
type Loader = () => Promise<CommandFn<never>>;
const LOAD: Record<CommandId, Loader> = {
  variants: async () => (await import('./commands/variants.js')).variants,
  'env build': async () => (await import('./commands/env.js')).build,
  'env dockerfile': async () => (await import('./commands/env.js')).dockerfile,
  'env list': async () => (await import('./commands/env.js')).list,
  'env inspect': async () => (await import('./commands/env.js')).inspect,
  'env rm': async () => (await import('./commands/env.js')).rm,
  'env gc': async () => (await import('./commands/gc.js')).gc,
  'env push': async () => (await import('./commands/registry.js')).push,
  lock: async () => (await import('./commands/registry.js')).lock,
  'ci github': async () => (await import('./commands/ci.js')).github,
  run: async () => (await import('./commands/run.js')).run,
  shell: async () => (await import('./commands/run.js')).shell,
  check: async () => (await import('./commands/check.js')).check,
  ps: async () => (await import('./commands/live.js')).ps,
  stacks: async () => (await import('./commands/live.js')).stacks,
  heap: async () => (await import('./commands/live.js')).heap,
  inject: async () => (await import('./commands/live.js')).inject,
  core: async () => (await import('./commands/live.js')).core,
  stop: async () => (await import('./commands/live.js')).stop,
  boards: async () => (await import('./commands/boards.js')).boards,
  doctor: async () => (await import('./commands/doctor.js')).doctor,
};

/**
 * The real engine, the Docker one: its module is loaded here (alongside the command's) and the
 * engine constructed on first use. The only place pydbg constructs it (api.ts uses createEngine).
 */
export async function dockerEngineFactory(): Promise<() => Engine> {
  const { DockerEngine } = await import('../engine/docker.js');
  return () => new DockerEngine();
}

export async function createEngine(): Promise<Engine> {
  return (await dockerEngineFactory())();
}

export function formatError(e: PydbgError): string {
  const lines = [`pydbg: error: ${e.message}`];
  for (const d of e.details) lines.push(`  | ${d}`);
  if (e.hint) lines.push(`  hint: ${e.hint}`);
  return `${lines.join('\n')}\n`;
}

export interface MainIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** everything but stdout/stderr of Deps; main fills in the engine */
  deps: Omit<Deps, 'engine' | 'stdout' | 'stderr'>;
  /** loads the engine's module and returns its constructor (default: the Docker engine) */
  engineFactory?: () => Promise<() => Engine>;
}

/** Run one parsed command line; every error becomes its message and exit code. */
export async function execute(argv: readonly string[], io: MainIO): Promise<number> {
  let parsed: ParsedCLI;
  try {
    parsed = parseCLI(argv);
  } catch (e) {
    return report(e, io.stderr);
  }
  if (parsed.command[0] === 'help' || parsed.command[0] === 'version') {
    io.stdout.write(String(parsed.args.text));
    return 0;
  }
  const id = commandId(parsed)!;
  try {
    const [fn, makeEngine] = await Promise.all([LOAD[id](), commandSpec(id).engine ? (io.engineFactory ?? dockerEngineFactory)() : undefined]);
    let engine: Engine | undefined;
    const deps: Deps = {
      ...io.deps,
      stdout: io.stdout,
      stderr: io.stderr,
      engine: () => {
        if (!makeEngine) throw new PydbgError(ExitCode.INTERNAL, `'pydbg ${id}' asked for the engine, but its table entry says it needs none`, { hint: BUG_HINT });
        return (engine ??= makeEngine());
      },
    };
    const result: CommandResult = await fn({ ...parsed.args, ...parsed.options } as never, deps);
    return result.exitCode;
  } catch (e) {
    return report(e, io.stderr);
  }
}

function report(e: unknown, stderr: NodeJS.WritableStream): number {
  // an abortable wait (timers/promises, events.once) rejects with an AbortError carrying the reason
  if (e instanceof Error && e.name === 'AbortError' && e.cause instanceof PydbgError) e = e.cause;
  if (e instanceof PydbgError) {
    stderr.write(formatError(e));
    if (e instanceof CliUsageError && e.help) stderr.write(`\n${e.help}`);
    return e.exitCode;
  }
  const err = e instanceof Error ? (e.stack ?? e.message) : String(e);
  stderr.write(`pydbg: internal error: ${err}\n  hint: ${BUG_HINT}\n`);
  return ExitCode.INTERNAL;
}

/** bin/pydbg.js: the process's streams, signals and exit code. */
export async function main(argv: string[]): Promise<number> {
  // `pydbg env list | head`: a closed stdout is the reader's choice, not an error
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.INTERRUPTED);
    process.stderr.write(`\npydbg: ${sig}: stopping and cleaning up (press Ctrl-C again to quit at once)\n`);
    controller.abort(new InterruptedError('interrupted', 'stopped by the user'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await execute(argv.slice(2), {
      stdout: process.stdout,
      stderr: process.stderr,
      deps: {
        stdin: process.stdin,
        tty: Boolean(process.stdin.isTTY && process.stdout.isTTY),
        signal: controller.signal,
        cwd: process.cwd(),
        progress: (quiet) => new StderrProgress(process.stderr, quiet),
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
