/** The RunIO a check orchestration test hands in: any engine use fails the test (check itself never talks to the engine). */
import { PassThrough } from 'node:stream';
import { vi } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import type { RunIO } from '../../src/exec/types.js';

export const offlineIO = (): RunIO => ({
  engine: new Proxy({}, { get: (_t, p) => { throw new Error(`engine.${String(p)} called`); } }) as Engine,
  progress: { log: vi.fn(), phase: vi.fn(), event: vi.fn(), output: vi.fn() },
  signal: new AbortController().signal,
  stdout: new PassThrough(),
  stderr: new PassThrough(),
});
