/**
 * Parser for the Engine API's build output (NDJSON from the classic builder). Pure: fed text
 * chunks, returns events. A failed build still answers HTTP 200: the failure is an `errorDetail`
 * line inside the stream, reported here as an 'error' event. Byte streams are decoded with a
 * StringDecoder (decodeUtf8): a UTF-8 character split across two chunks stays intact.
 */
import { StringDecoder } from 'node:string_decoder';

export type BuildEvent =
  | { type: 'step'; index: number; total: number; instruction: string }
  | { type: 'output'; line: string }
  | { type: 'container'; id: string }
  | { type: 'layer'; id: string }
  | { type: 'cached' }
  | { type: 'built'; id: string }
  | { type: 'error'; message: string };

export class BuildStreamParser {
  private buf = '';

  push(chunk: string): BuildEvent[] {
    this.buf += chunk;
    const lines = this.buf.split('\n');
    this.buf = lines.pop() ?? '';
    return lines.flatMap((l) => this.parseLine(l));
  }

  end(): BuildEvent[] {
    const rest = this.buf;
    this.buf = '';
    return rest.trim() ? this.parseLine(rest) : [];
  }

  private parseLine(raw: string): BuildEvent[] {
    const line = raw.trim();
    if (!line) return [];
    let msg: { stream?: string; error?: string; errorDetail?: { message?: string }; aux?: { ID?: string }; status?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return [{ type: 'output', line: raw }];
    }
    if (msg.errorDetail || msg.error) {
      return [{ type: 'error', message: (msg.errorDetail?.message ?? msg.error ?? 'unknown build error').trim() }];
    }
    if (msg.aux?.ID) return [{ type: 'built', id: msg.aux.ID }];
    const text = msg.stream ?? msg.status;
    if (text === undefined) return [];
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => classify(l));
  }
}

function classify(l: string): BuildEvent {
  const step = /^Step (\d+)\/(\d+) : (.*)$/.exec(l);
  if (step) return { type: 'step', index: Number(step[1]), total: Number(step[2]), instruction: step[3]! };
  const running = /^ ---> Running in ([0-9a-f]{12,64})\s*$/.exec(l);
  if (running) return { type: 'container', id: running[1]! };
  if (/^ ---> Using cache\s*$/.test(l)) return { type: 'cached' };
  const layer = /^ ---> ([0-9a-f]{12,64})\s*$/.exec(l);
  if (layer) return { type: 'layer', id: layer[1]! };
  const built = /^Successfully built ([0-9a-f]{12,64})\s*$/.exec(l);
  if (built) return { type: 'built', id: built[1]! };
  return { type: 'output', line: l };
}

/** Keeps what a failure report needs: the current step and the last N output lines of it. */
export class StepTail {
  step: { index: number; total: number; instruction: string } | undefined;
  private lines: string[] = [];
  constructor(private readonly keep = 30) {}
  add(ev: BuildEvent) {
    if (ev.type === 'step') {
      this.step = { index: ev.index, total: ev.total, instruction: ev.instruction };
      this.lines = [];
    } else if (ev.type === 'output') {
      this.lines.push(ev.line);
      if (this.lines.length > this.keep) this.lines.shift();
    }
  }
  tail(): string[] {
    return [...this.lines];
  }
}

/** The text of a byte stream, decoded as UTF-8 across chunk boundaries (never `chunk.toString()`). */
export async function* decodeUtf8(stream: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  for await (const chunk of stream) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (text) yield text;
  }
  const rest = decoder.end();
  if (rest) yield rest;
}

/** Feed a build output stream through the parser; stream errors reject. */
export async function readBuildStream(stream: AsyncIterable<Buffer | Uint8Array | string>, onEvents: (evs: BuildEvent[]) => void): Promise<void> {
  const parser = new BuildStreamParser();
  for await (const text of decodeUtf8(stream)) onEvents(parser.push(text));
  onEvents(parser.end());
}

/**
 * Drain a pull or push progress stream (NDJSON); an `error`/`errorDetail` line rejects with its
 * message. A push ends with an `aux` line carrying the manifest digest the registry answered.
 */
export async function readPullStream(stream: AsyncIterable<Buffer | Uint8Array | string>): Promise<{ digest?: string }> {
  let buf = '';
  let digest: string | undefined;
  const check = (l: string) => {
    if (!l.trim()) return;
    let m: { error?: string; errorDetail?: { message?: string }; aux?: { Digest?: string } };
    try {
      m = JSON.parse(l) as typeof m;
    } catch {
      return; // not JSON: progress noise
    }
    if (m.error || m.errorDetail) throw new Error(m.errorDetail?.message ?? m.error);
    if (m.aux?.Digest) digest = m.aux.Digest;
  };
  for await (const text of decodeUtf8(stream)) {
    buf += text;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    lines.forEach(check);
  }
  check(buf);
  return { digest };
}
