import { describe, expect, it } from 'vitest';
import { BuildStreamParser, StepTail } from '../../src/engine/buildstream.js';

const j = (o: unknown) => `${JSON.stringify(o)}\n`;

describe('build stream parser', () => {
  it('parses steps, containers, layers, output and the image id across chunk boundaries', () => {
    const p = new BuildStreamParser();
    const text =
      j({ stream: 'Step 1/3 : FROM x\n' }) + j({ stream: ' ---> 0123456789ab\n' }) + j({ stream: 'Step 2/3 : RUN make\n' }) +
      j({ stream: ' ---> Running in abcdefabcdef\n' }) + j({ stream: 'gcc -c foo.c\nok\n' }) + j({ stream: ' ---> 111111111111\n' }) +
      j({ aux: { ID: 'sha256:feed' } }) + j({ stream: 'Successfully built 111111111111\n' });
    const evs = [...p.push(text.slice(0, 37)), ...p.push(text.slice(37, 150)), ...p.push(text.slice(150)), ...p.end()];
    expect(evs).toEqual([
      { type: 'step', index: 1, total: 3, instruction: 'FROM x' },
      { type: 'layer', id: '0123456789ab' },
      { type: 'step', index: 2, total: 3, instruction: 'RUN make' },
      { type: 'container', id: 'abcdefabcdef' },
      { type: 'output', line: 'gcc -c foo.c' },
      { type: 'output', line: 'ok' },
      { type: 'layer', id: '111111111111' },
      { type: 'built', id: 'sha256:feed' },
      { type: 'built', id: '111111111111' },
    ]);
  });
  it('reports an errorDetail line (HTTP 200 with a failed build) as an error', () => {
    const p = new BuildStreamParser();
    const evs = p.push(j({ errorDetail: { code: 2, message: "The command '/bin/sh -c make' returned a non-zero code: 2" }, error: 'x' }));
    expect(evs).toEqual([{ type: 'error', message: "The command '/bin/sh -c make' returned a non-zero code: 2" }]);
  });
  it('tolerates non-JSON lines', () => {
    expect(new BuildStreamParser().push('plain text\n')).toEqual([{ type: 'output', line: 'plain text' }]);
  });
  it('keeps the last N lines of the current step', () => {
    const t = new StepTail(2);
    t.add({ type: 'step', index: 1, total: 2, instruction: 'RUN a' });
    t.add({ type: 'output', line: 'old' });
    t.add({ type: 'step', index: 2, total: 2, instruction: 'RUN b' });
    for (const l of ['1', '2', '3']) t.add({ type: 'output', line: l });
    expect(t.step?.index).toBe(2);
    expect(t.tail()).toEqual(['2', '3']);
  });
});
