import { afterEach, describe, expect, it, vi } from 'vitest';
import { StderrProgress } from '../../src/cli/progress.js';

function sink() {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY: false, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WriteStream };
}

describe('progress on a non-TTY stderr (CI logs)', () => {
  afterEach(() => vi.useRealTimers());
  it('prints a line per step and a heartbeat with the last output line, without terminal escapes', () => {
    vi.useFakeTimers();
    const { chunks, stream } = sink();
    const p = new StderrProgress(stream);
    p.phase('CPython 3.13.5 debug');
    p.event({ type: 'step', index: 3, total: 9, instruction: 'RUN make -j2' });
    p.output('\x1b[1mgcc -c Objects/listobject.c\x1b[0m');
    p.output('\x1b[0m');
    vi.advanceTimersByTime(31_000);
    p.stop();
    const text = chunks.join('');
    expect(text).toContain('CPython 3.13.5 debug: step 3/9 RUN make -j2');
    expect(text).toContain('… gcc -c Objects/listobject.c\n');
    expect(text).not.toContain('\x1b');
  });
});
