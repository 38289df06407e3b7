/**
 * The little of tar that copying one file out of a container needs (GET /containers/{id}/archive
 * answers a tar of the path): read the first regular file of a stream straight to disk, and write a
 * tar of a few files (FakeEngine, tests). ustar headers, GNU long names ('L') and pax headers ('x',
 * 'g') are skipped over; sizes in octal or base-256 (files over 8 GiB).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const BLOCK = 512;

/** A header's size field: octal text, or base-256 when the first byte has its high bit set. */
export function headerSize(h: Buffer): number {
  const field = h.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (const b of field.subarray(1)) n = n * 256 + b;
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

/**
 * Stream the first regular file of a tar into `dest`: its size in bytes, or an error when the
 * archive holds none (or ends early).
 */
export async function extractFirstFile(tar: NodeJS.ReadableStream, dest: string): Promise<number> {
  let buf: Buffer = Buffer.alloc(0);
  let state: 'header' | 'skip' | 'file' | 'done' = 'header';
  let remaining = 0; // bytes of the current entry's data (not counting padding)
  let padding = 0;
  let written = 0;
  const out = createWriteStream(dest);
  const outDone = once(out, 'close');
  try {
    for await (const chunk of tar as AsyncIterable<Buffer>) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (state !== 'done') {
        if (state === 'header') {
          if (buf.length < BLOCK) break;
          const h = buf.subarray(0, BLOCK);
          buf = buf.subarray(BLOCK);
          if (h.every((b) => b === 0)) continue; // end-of-archive blocks
          const size = headerSize(h);
          const type = String.fromCharCode(h[156]!);
          remaining = size;
          padding = (BLOCK - (size % BLOCK)) % BLOCK;
          state = type === '0' || type === '\0' ? 'file' : 'skip';
        } else {
          const n = Math.min(remaining + padding, buf.length);
          if (n === 0 && remaining + padding > 0) break;
          const data = Math.min(n, remaining);
          if (state === 'file' && data > 0) {
            if (!out.write(buf.subarray(0, data))) await once(out, 'drain');
            written += data;
          }
          remaining -= data;
          padding -= n - data;
          buf = buf.subarray(n);
          if (remaining === 0 && padding === 0) state = state === 'file' ? 'done' : 'header';
          else break;
        }
      }
      if (state === 'done') break;
    }
  } finally {
    out.end();
    await outDone;
  }
  if ((state as string) !== 'done') throw new Error((state as string) === 'file' ? 'the archive ended in the middle of the file' : 'the archive holds no regular file');
  return written;
}

/** A ustar archive of these files (name → content). */
export function tarOf(files: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    const h = Buffer.alloc(BLOCK);
    h.write(name.slice(0, 99), 0, 'utf8');
    h.write('0000644\0', 100, 'latin1');
    h.write('0000000\0', 108, 'latin1');
    h.write('0000000\0', 116, 'latin1');
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    h.write('00000000000\0', 136, 'latin1');
    h.write('        ', 148, 'latin1');
    h.write('0', 156, 'latin1');
    h.write('ustar\0' + '00', 257, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    parts.push(h, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
