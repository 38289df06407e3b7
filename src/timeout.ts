/**
 * Time limits: `--timeout` and pydbg.yaml's `timeout:` end as an abort of the signal the work
 * listens to, with an InterruptedError (exit 124) that says what ran too long and what is left.
 * A leaf module (errors only), so every layer may arm one.
 */
import { InterruptedError } from './errors.js';

/** Node timers overflow past 2^31-1 ms (and then fire at once). */
export const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** The signal, also aborted after `seconds` (when given) with a timeout error; `hint` says what is left behind. */
export function withTimeout(signal: AbortSignal, seconds: number | undefined, what: (s: number) => string, hint?: string): { signal: AbortSignal; clear: () => void } {
  if (seconds === undefined) return { signal, clear: () => {} };
  const t = new AbortController();
  const timer = setTimeout(() => t.abort(new InterruptedError('timeout', what(seconds), hint)), seconds * 1000);
  return { signal: AbortSignal.any([signal, t.signal]), clear: () => clearTimeout(timer) };
}
