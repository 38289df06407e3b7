/** A container's life over node's http (see http-get.ts): the ContainerHandle run-container.ts drives. */
import type { HostOptions } from './connection.js';
import { call, callStreaming, upgrade } from './http-get.js';
import type { ContainerHandle, Demux } from './run-container.js';

const q = (o: Record<string, string | number | boolean>) => new URLSearchParams(Object.entries(o).map(([k, v]) => [k, String(v)])).toString();

export async function createContainer(conn: HostOptions, body: object, timeoutMs: number): Promise<ContainerHandle> {
  const { Id: id } = await call<{ Id: string }>(conn, 'POST', '/containers/create', { body, timeoutMs });
  const c = `/containers/${id}`;
  return {
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
