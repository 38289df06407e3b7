/**
 * The verification probe run in a finished image (a container, no network): the fast half after a
 * pull, the whole probe when a build's probe step came from the builder's cache and printed nothing.
 */
import { PassThrough } from 'node:stream';
import { LABEL } from '../container/labels.js';
import { parseProbeLine, type ProbeReport } from '../container/protocol.js';
import type { Engine } from '../engine/engine.js';

export interface ProbeRun {
  exitCode: number;
  report?: ProbeReport;
  /** the last line of the probe's stderr (why it failed) */
  lastError: string;
}

export async function runProbe(engine: Engine, imageId: string, opts: { fast: boolean; signal: AbortSignal }): Promise<ProbeRun> {
  const out = collect();
  const err = collect();
  const cmd = ['python', '/opt/pydbg/probe.py', ...(opts.fast ? ['--fast'] : []), '/opt/pydbg/expected.json'];
  const r = await engine.runContainer({ image: imageId, cmd, networkMode: 'none', labels: { [LABEL.kind]: 'run' } }, { stdout: out.stream, stderr: err.stream, signal: opts.signal });
  const report = out.text().split('\n').map(parseProbeLine).find((p) => p !== undefined);
  return { exitCode: r.exitCode, report, lastError: err.text().trim().split('\n').at(-1) ?? '' };
}

function collect() {
  const chunks: Buffer[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}
