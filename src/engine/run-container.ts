/**
 * The life of one container: attach (before start, or early output is lost), start, wait,
 * (commit), and always remove — on success, failure, attach-stream error and abort alike.
 * Written against the few Container methods it needs, so it is unit-tested without an engine.
 */
import type { ContainerIO, ContainerResult, ContainerSpec } from './engine.js';

/** What the lifecycle needs of a dockerode Container. */
export interface ContainerHandle {
  attach(opts: { stream: boolean; stdout: boolean; stderr: boolean; stdin: boolean; hijack: boolean }): Promise<NodeJS.ReadWriteStream>;
  start(): Promise<unknown>;
  wait(): Promise<{ StatusCode: number }>;
  remove(opts: { force: boolean; v: boolean }): Promise<unknown>;
  resize(opts: { h: number; w: number }): Promise<unknown>;
  commit(opts: object): Promise<{ Id: string }>;
  /**
   * Optional (the http client has it): a wait registered with the engine before the container starts,
   * so a container the engine removes itself (AutoRemove) cannot exit and vanish before the wait.
   */
  waitRegistered?(condition: 'not-running' | 'removed'): Promise<{ done: Promise<{ StatusCode: number }> }>;
}

/** Splits the multiplexed (non-TTY) attach stream into stdout and stderr (modem.demuxStream). */
export type Demux = (stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream) => void;

/** Engine API create options for a ContainerSpec; `autoRemove`: the engine removes it when it exits. */
export function createOptions(spec: ContainerSpec, autoRemove = false) {
  return {
    ...(spec.name ? { name: spec.name } : {}),
    Image: spec.image,
    Cmd: spec.cmd,
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    WorkingDir: spec.workdir,
    User: spec.user,
    Tty: spec.tty ?? false,
    OpenStdin: spec.stdin ?? false,
    StdinOnce: spec.stdin ?? false,
    AttachStdin: spec.stdin ?? false,
    AttachStdout: true,
    AttachStderr: true,
    Labels: spec.labels ?? {},
    HostConfig: {
      // Mounts (not Binds): a missing source is an error, never a silently created root-owned dir
      Mounts: (spec.mounts ?? []).map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly !== false })),
      NetworkMode: spec.networkMode ?? 'none',
      Memory: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      PidsLimit: spec.pidsLimit,
      Init: spec.init ?? true,
      Ulimits: spec.coreDumps ? [{ Name: 'core', Soft: -1, Hard: -1 }] : undefined,
      CapAdd: spec.capAdd?.length ? spec.capAdd : undefined,
      SecurityOpt: spec.securityOpt?.length ? spec.securityOpt : undefined,
      AutoRemove: autoRemove,
    },
  };
}

/** How long the output may take to drain after the container exited. */
export const DRAIN_MS = 2000;

/**
 * `autoRemove`: the container was created with AutoRemove (never with a commit): the wait is
 * registered before start with condition 'removed', and the engine's own removal replaces ours,
 * as `docker run --rm` does (one round trip less). Any failure or abort still force-removes it.
 */
export async function runAttached(
  container: ContainerHandle,
  demux: Demux,
  spec: ContainerSpec,
  io: ContainerIO,
  autoRemove = false,
  /** after the container exited on its own and its output drained, before the commit and removal (copy mode: copy writable mounts out) */
  afterExit?: () => Promise<string[] | void>,
): Promise<ContainerResult> {
  let onAbort: (() => void) | undefined;
  let stream: NodeJS.ReadWriteStream | undefined;
  let removed = false;
  try {
    if (io.signal?.aborted) throw io.signal.reason;
    const s = (stream = await container.attach({ stream: true, stdout: true, stderr: true, stdin: spec.stdin ?? false, hijack: spec.stdin ?? false }));
    // An attach-stream error fails the run (its output would be incomplete). The listener stays
    // for the stream's whole life: an 'error' without one would crash the process.
    // (EPIPE after the exit: keystrokes sent to a container that is gone; its output is complete)
    let exited = false;
    const failed = new Promise<never>((_, reject) => s.on('error', (e: NodeJS.ErrnoException) => (exited && e.code === 'EPIPE' ? undefined : reject(e))));
    const ended = new Promise<void>((resolve) => {
      s.on('end', resolve);
      s.on('close', resolve);
    });
    failed.catch(() => {}); // observed by the races below
    const aborted = new Promise<never>((_, reject) => (onAbort = () => reject(io.signal?.reason)));
    aborted.catch(() => {});
    if (spec.tty) s.pipe(io.stdout, { end: false });
    else demux(s, io.stdout, io.stderr);
    if (spec.stdin && io.stdin) io.stdin.pipe(s);
    io.signal?.addEventListener('abort', onAbort!, { once: true });
    const early = autoRemove && container.waitRegistered ? await Promise.race([container.waitRegistered('removed'), failed, aborted]) : undefined;
    early?.done.catch(() => {});
    await Promise.race([container.start(), failed, aborted]);
    if (io.signal?.aborted) throw io.signal.reason; // aborted while starting
    io.onStart?.(async (rows, cols) => {
      await container.resize({ h: rows, w: cols }).catch(() => {});
    });
    const waiting = early?.done ?? container.wait();
    waiting.catch(() => {}); // the remove below may make a pending wait fail after we stopped listening
    const waited = await Promise.race([waiting, failed, aborted]);
    exited = true;
    removed = Boolean(early);
    // let the last output drain; the fallback timer must not outlive the race (it would hold the process)
    let drainTimer: NodeJS.Timeout | undefined;
    await Promise.race([ended, failed, aborted, new Promise((r) => (drainTimer = setTimeout(r, DRAIN_MS)))]).finally(() => clearTimeout(drainTimer));
    const notes = afterExit && !removed ? await afterExit() : undefined;
    let committed: string | undefined;
    if (waited.StatusCode === 0 && io.commit) {
      const changes = Object.entries(io.commit.labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`);
      committed = (await container.commit({ repo: io.commit.repo, tag: io.commit.tag, changes })).Id;
    }
    return { exitCode: waited.StatusCode, committed, ...(notes?.length ? { notes } : {}) };
  } catch (e) {
    // an abort wins over what it caused (a stream cut by the kill, a failed wait)
    throw io.signal?.aborted ? io.signal.reason : e;
  } finally {
    if (onAbort) io.signal?.removeEventListener('abort', onAbort);
    if (stream && spec.stdin && io.stdin) io.stdin.unpipe(stream);
    // force: kills a container still running (abort, stream error) before removing it
    if (!removed) await container.remove({ force: true, v: true }).catch(() => {});
  }
}
