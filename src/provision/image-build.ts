import type { BuildEvent } from '../engine/buildstream.js';
import { StepTail } from '../engine/buildstream.js';
import { BuildFailure, type BuildOutcome, type BuildRequest, type Engine } from '../engine/engine.js';
import { BUILD_INTERRUPTED_HINT, ExitCode, PydbgError } from '../errors.js';

/** What a build needs from its caller: cancellation, and where progress and output go. */
export interface BuildIO {
  signal: AbortSignal;
  /** a pydbg message (stderr) */
  log(msg: string): void;
  /** a line of tool output (build log; shown as "last line" in progress) */
  output(line: string): void;
  /** a parsed build event (progress display) */
  event(ev: BuildEvent): void;
  /** path of the full log, quoted in failures */
  logPath?: string;
}

/**
 * Run one `docker build` and guarantee the engine is left clean: on failure or interruption the
 * builder's intermediate containers and the dangling images of this build are removed, and nothing
 * is tagged (the engine tags only a successful build). An image that loses its tag to a rebuild is
 * removed too.
 */
export async function runBuild(
  engine: Engine,
  req: Omit<BuildRequest, 'signal' | 'onEvent'>,
  io: BuildIO,
  what: string,
): Promise<string> {
  const tail = new StepTail(30);
  const previous = req.tag ? await engine.inspectImage(req.tag) : undefined;
  let outcome: BuildOutcome;
  try {
    outcome = await engine.build({
      ...req,
      signal: io.signal,
      onEvent: (ev) => {
        tail.add(ev);
        if (ev.type === 'output') io.output(ev.line);
        io.event(ev);
      },
    });
  } catch (e) {
    if (!(e instanceof BuildFailure)) throw e;
    await cleanupAfterFailure(engine, e.outcome, io.signal.aborted);
    if (io.signal.aborted) {
      const reason: unknown = io.signal.reason;
      throw reason instanceof PydbgError ? reason : new PydbgError(ExitCode.INTERRUPTED, `interrupted: ${what}`, { hint: BUILD_INTERRUPTED_HINT });
    }
    const step = tail.step;
    const where = step ? `step ${step.index}/${step.total} (${truncate(step.instruction, 100)})` : 'before the first step';
    throw new PydbgError(ExitCode.BUILD, `${what} build failed at ${where}: ${truncate(e.message, 300)}`, {
      hint: io.logPath ? `full log: ${io.logPath}` : undefined,
      details: tail.tail(),
    });
  }
  // earlier stages of a multi-stage build (the cross build's amd64 stage, GBs of object files) are
  // left untagged by the builder: remove them, as for any other intermediate build state
  for (const id of outcome.stageImages ?? []) await engine.removeImage(id).catch(() => {});
  if (previous && previous.id !== outcome.imageId) {
    // the tag moved to the new image; drop the old one if nothing else names it
    const old = await engine.inspectImage(previous.id);
    if (old && old.tags.length === 0) await engine.removeImage(previous.id).catch(() => {});
  }
  return outcome.imageId;
}

async function cleanupAfterFailure(engine: Engine, outcome: Omit<BuildOutcome, 'imageId'>, aborted: boolean): Promise<void> {
  // After an abort the builder may still be stopping (or just starting) a step container:
  // keep sweeping for a few seconds. Step containers are found by the layer they were started from.
  const deadline = Date.now() + (aborted ? 4000 : 0);
  for (;;) {
    const stray = new Set([...outcome.containers, ...(await engine.containersFromImages(outcome.layers).catch(() => []))]);
    for (const id of stray) await engine.removeContainer(id).catch(() => {});
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const dangling = await engine.danglingImageIds();
  for (const short of [...outcome.layers].reverse()) {
    for (const id of dangling.filter((d) => d.replace(/^sha256:/, '').startsWith(short))) {
      await engine.removeImage(id).catch(() => {});
    }
  }
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}
