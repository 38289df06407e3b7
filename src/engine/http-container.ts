/** A container's life over node's http (see http-get.ts): the ContainerHandle run-container.ts drives. */
import type { HostOptions } from './connection.js';
import type { ExecRequest, ExecResult } from './engine.js';
import { call, callRaw, callStreaming, upgrade } from './http-get.js';
import type { ContainerHandle, Demux } from './run-container.js';

const q = (o: Record<string, string | number | boolean>) => new URLSearchParams(Object.entries(o).map(([k, v]) => [k, String(v)])).toString();

/** `name` (as dockerode takes it, in the body) goes into the query, where the Engine API reads it. */
export async function createContainer(conn: HostOptions, options: object & { name?: string }, timeoutMs: number): Promise<ContainerHandle & { id: string }> {
  const { name, ...body } = options;
  const { Id: id } = await call<{ Id: string }>(conn, 'POST', `/containers/create${name ? `?${q({ name })}` : ''}`, { body, timeoutMs });
  const c = `/containers/${id}`;
  return {
    id,
    attach: (o) => upgrade(conn, `${c}/attach?${q({ stream: 1, stdout: o.stdout ? 1 : 0, stderr: o.stderr ? 1 : 0, stdin: o.stdin ? 1 : 0 })}`, timeoutMs),
    start: () => call(conn, 'POST', `${c}/start`, { timeoutMs }),
    wait: () => call<{ StatusCode: number }>(conn, 'POST', `${c}/wait`),
    // the engine answers a wait's headers once it is registered, and its body when the condition is met
    waitRegistered: (condition) => callStreaming<{ StatusCode: number }>(conn, 'POST', `${c}/wait?${q({ condition })}`, timeoutMs),
    remove: (o) => call(conn, 'DELETE', `${c}?${q({ force: o.force ? 1 : 0, v: o.v ? 1 : 0 })}`, { timeoutMs }),
    resize: (o) => call(conn, 'POST', `${c}/resize?${q(o)}`, { timeoutMs }),
    commit: (o: { repo?: string; tag?: string; changes?: string[] }) => {
      const params = new URLSearchParams({ container: id, ...(o.repo ? { repo: o.repo } : {}), ...(o.tag ? { tag: o.tag } : {}) });
      for (const ch of o.changes ?? []) params.append('changes', ch);
      return call<{ Id: string }>(conn, 'POST', `/commit?${params.toString()}`);
    },
  };
}

/**
 * docker exec over the Engine API: create the exec, start it without a TTY (the answer's body is
 * the multiplexed output, until the command ends), then read its exit code. No time limit of its
 * own (gdb may take a while): the command is expected to carry one (`timeout N …`).
 */
export async function execIn(conn: HostOptions, id: string, req: ExecRequest, timeoutMs: number): Promise<ExecResult> {
  const body = {
    Cmd: req.cmd,
    Env: Object.entries(req.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(req.user ? { User: req.user } : {}),
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  };
  const { Id: execId } = await call<{ Id: string }>(conn, 'POST', `/containers/${encodeURIComponent(id)}/exec`, { body, timeoutMs, signal: req.signal });
  const raw = await callRaw(conn, 'POST', `/exec/${execId}/start`, { body: { Detach: false, Tty: false }, signal: req.signal });
  const { stdout, stderr } = demuxBuffer(raw);
  const { ExitCode } = await call<{ ExitCode: number | null }>(conn, 'GET', `/exec/${execId}/json`, { timeoutMs });
  return { exitCode: ExitCode ?? -1, stdout, stderr };
}

/** A whole multiplexed stream (frames of [stream, 0, 0, 0, size (uint32 BE)] + payload) split into stdout and stderr. */
export function demuxBuffer(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    const payload = buf.subarray(i + 8, Math.min(buf.length, i + 8 + size));
    (buf[i] === 2 ? err : out).push(payload);
    i += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** The multiplexed attach stream: 8-byte headers [stream, 0, 0, 0, size (uint32 BE)] then the payload. */
export const demux: Demux = (stream, stdout, stderr) => {
  let buf: Buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const payload = buf.subarray(8, 8 + size);
      (buf[0] === 2 ? stderr : stdout).write(payload);
      buf = buf.subarray(8 + size);
    }
  });
};
