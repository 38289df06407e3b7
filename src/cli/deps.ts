/**
 * What a command receives besides its options: the engine (constructed on first use, by main.ts
 * only), the streams, the terminal, the interrupt signal and a progress factory. Commands never
 * touch process.stdout/stderr/exitCode: they write through these and return their exit code.
 */
import { resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { Progress } from '../provision/variant.js';

export interface CliProgress extends Progress {
  stop(): void;
}

export interface Deps {
  /** the engine, constructed on the first call (commands that never need it never build one) */
  engine: () => Engine;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (b: boolean) => void };
  /** stdin and stdout are both a terminal */
  tty: boolean;
  /** aborted by Ctrl-C / SIGTERM */
  signal: AbortSignal;
  progress: (quiet?: boolean) => CliProgress;
  /** relative paths in options are resolved against this */
  cwd: string;
}

export interface CommandResult {
  exitCode: number;
  /** the command's result as data (what --json prints), for tests and api.ts */
  data?: unknown;
}

export type CommandFn<O> = (options: O, deps: Deps) => Promise<CommandResult>;

export { withTimeout } from '../timeout.js';

export const resolveIn = (deps: Pick<Deps, 'cwd'>, p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(deps.cwd, p));

export function writeJson(out: NodeJS.WritableStream, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** An Engine for RunIO that asks deps.engine() only when a method is first used (after validation). */
export function lazyEngine(deps: Pick<Deps, 'engine'>): Engine {
  let engine: Engine | undefined;
  const real = () => (engine ??= deps.engine());
  return new Proxy({} as Engine, {
    get(_target, prop) {
      const value = Reflect.get(real(), prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real()) : value;
    },
  });
}

/** A progress that shows nothing (api.ts, tests). */
export const silentProgress = (): CliProgress => ({ log() {}, phase() {}, event() {}, output() {}, stop() {} });
