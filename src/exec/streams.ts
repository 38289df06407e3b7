/** Stream plumbing for container runs: keep the tail of the output, copy to two places, raw TTY mode. */
import { Writable } from 'node:stream';

/** Keeps the last N bytes written to it. */
export class TailBuffer extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function tee(a: NodeJS.WritableStream, b: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      a.write(chunk);
      b.write(chunk);
      cb();
    },
  });
}

export type TtyStdin = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (b: boolean) => void };

export function rawMode(stdin: TtyStdin): () => void {
  stdin.setRawMode?.(true);
  (stdin as NodeJS.ReadStream).resume?.();
  return () => {
    stdin.setRawMode?.(false);
    (stdin as NodeJS.ReadStream).pause?.();
  };
}
