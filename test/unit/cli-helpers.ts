/** Test support for the cli-*.test.ts files: capturing streams and a Deps around a FakeEngine. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Deps } from '../../src/cli/deps.js';
import type { Engine } from '../../src/engine/engine.js';

export interface Sink extends Writable {
  text(): string;
}

export function sink(): Sink {
  let text = '';
  const s = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  }) as Sink;
  s.text = () => text;
  return s;
}

export interface TestDeps {
  deps: Deps;
  stdout: Sink;
  stderr: Sink;
  logs: string[];
  /** how many times deps.engine() was asked for */
  engineCalls: () => number;
}

export function testDeps(engine?: Engine, over: Partial<Deps> = {}): TestDeps {
  const stdout = sink();
  const stderr = sink();
  const logs: string[] = [];
  let calls = 0;
  const deps: Deps = {
    engine: () => {
      calls += 1;
      if (!engine) throw new Error('this test gave no engine');
      return engine;
    },
    stdout,
    stderr,
    tty: false,
    signal: new AbortController().signal,
    progress: () => ({ log: (m) => logs.push(m), phase: (n) => logs.push(`phase ${n}`), event() {}, output() {}, stop() {} }),
    cwd: process.cwd(),
    ...over,
  };
  return { deps, stdout, stderr, logs, engineCalls: () => calls };
}

/** A temporary project directory with these files; removed by the returned cleanup. */
export async function tempProject(files: Record<string, string> = {}): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pydbg-cli-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
