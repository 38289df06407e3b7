import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decodeUtf8, readBuildStream, readPullStream, type BuildEvent } from '../../src/engine/buildstream.js';

/** The bytes of `text`, cut at every given byte offset (offsets may fall inside a character). */
function chunks(text: string, ...cuts: number[]): Buffer[] {
  const b = Buffer.from(text, 'utf8');
  const at = [0, ...cuts, b.length];
  return at.slice(1).map((end, i) => b.subarray(at[i], end));
}

describe('engine stream decoding (StringDecoder across chunk boundaries)', () => {
  it('a chunk boundary inside é or → does not corrupt the build output line', async () => {
    const line = 'compilé → ok';
    const text = `${JSON.stringify({ stream: `${line}\n` })}\n`;
    const bytes = Buffer.from(text);
    const inE = bytes.indexOf(Buffer.from('é')) + 1; // between the two bytes of é
    const inArrow = bytes.indexOf(Buffer.from('→')) + 2; // between the 2nd and 3rd byte of →
    for (const cuts of [[inE], [inArrow], [inE, inArrow], [inArrow - 1, inArrow]]) {
      const evs: BuildEvent[] = [];
      await readBuildStream(Readable.from(chunks(text, ...cuts)), (e) => evs.push(...e));
      expect(evs).toEqual([{ type: 'output', line }]);
    }
  });
  it('non-JSON output split inside a character is intact too', async () => {
    const evs: BuildEvent[] = [];
    const text = 'naïve → line\n';
    await readBuildStream(Readable.from(chunks(text, 3, 9)), (e) => evs.push(...e));
    expect(evs).toEqual([{ type: 'output', line: 'naïve → line' }]);
  });
  it('decodeUtf8 yields exactly the original text for every single cut', async () => {
    const text = 'aé→😀z';
    for (let cut = 1; cut < Buffer.byteLength(text); cut++) {
      let out = '';
      for await (const t of decodeUtf8(Readable.from(chunks(text, cut)))) out += t;
      expect(out).toBe(text);
    }
  });
  it('a stream error rejects the build stream', async () => {
    const broken = new Readable({ read() { this.destroy(new Error('connection reset')); } });
    await expect(readBuildStream(broken, () => {})).rejects.toThrow('connection reset');
  });
  it('a pull stream: progress (split anywhere) passes, an errorDetail line rejects with its message', async () => {
    const ok = `${JSON.stringify({ status: 'Téléchargement…' })}\n${JSON.stringify({ status: 'Pull complete' })}\n`;
    await expect(readPullStream(Readable.from(chunks(ok, 5, 9)))).resolves.toEqual({ digest: undefined });
    const pushed = `${JSON.stringify({ status: 'Pushed' })}\n${JSON.stringify({ progressDetail: {}, aux: { Tag: 't', Digest: 'sha256:abc', Size: 528 } })}\n`;
    await expect(readPullStream(Readable.from(chunks(pushed, 7)))).resolves.toEqual({ digest: 'sha256:abc' });
    const bad = `${JSON.stringify({ status: 'Pulling' })}\n${JSON.stringify({ errorDetail: { message: 'manifest unknown' }, error: 'x' })}`;
    await expect(readPullStream(Readable.from(chunks(bad, 30)))).rejects.toThrow('manifest unknown');
  });
});
