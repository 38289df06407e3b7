/**
 * Memcheck on real-extension shapes ("Real projects", items 2 and 3):
 *  - a write one element before a PyMem_New block is reported at the write, not as a crash at the
 *    later PyMem_Free: PYTHONMALLOC=malloc turns the memory debug hooks off on debug builds (their
 *    pad bytes sit inside the malloc block, where Valgrind cannot see a write), 3.13 debug and 3.11
 *    nopymalloc (whose allocator is otherwise malloc_debug);
 *  - blocks a module keeps for the life of the interpreter (possibly lost / still reachable at exit)
 *    are counted apart, not findings: a clean module exits 0; a definitely lost block still fails.
 *
 * Images (built by the global setup, test/setup/images.ts): 3.13 debug, 3.11 nopymalloc. Five
 * memcheck runs of small repros, one after another: about 50 s on two cores with the extensions
 * cached, about a minute when they are built.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HeldAtExit } from '../../src/analyses/memcheck.js';
import type { AnalysisReport } from '../../src/analyses/types.js';
import { pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const EX = join(ROOT, 'examples');

/** `pydbg check memcheck …`: the text report on stdout, the JSON report written next to it. */
async function memcheck(args: string[]): Promise<{ report: AnalysisReport; exitCode: number; text: string; stderr: string }> {
  const out = await mkdtemp(join(tmpdir(), 'pydbg-memcheck-'));
  const json = join(out, 'result.json');
  const r = await pydbg(['check', 'memcheck', ...args, '--out', join(out, 'report'), '--json-out', json]);
  let report: AnalysisReport;
  try {
    report = JSON.parse(await readFile(json, 'utf8')) as AnalysisReport;
  } catch {
    throw new Error(`pydbg check memcheck ${args.join(' ')} exited ${r.exitCode} without a report:\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  }
  return { report, exitCode: r.exitCode ?? -1, text: r.stdout, stderr: r.stderr };
}

/** The line of the first line of a source file that contains `needle` (so the test follows edits). */
async function lineOf(file: string, needle: string): Promise<number> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} is not in ${file}`);
  return i + 1;
}

beforeAll(async () => {
  await requireEngine();
  await requireImages('debug-3.13', 'nopymalloc-3.11');
});

describe('a write before a PyMem_New block is found at the write (the debug hooks are off under Valgrind)', () => {
  const src = join(EX, 'pymem_underwrite', 'underwrite.c');
  for (const [variant, python] of [['debug', '3.13'], ['nopymalloc', '3.11']] as const) {
    it(`${python} ${variant}: InvalidWrite at the a[-1] line, 4 bytes before the block from PyMem_New; exit 20; no abort`, async () => {
      const { report, exitCode, stderr } = await memcheck(['--variant', variant, '--python', python, '-C', join(EX, 'pymem_underwrite'), 'repro.py']);
      const [write, alloc, free] = await Promise.all([lineOf(src, 'a[-1] = 0;'), lineOf(src, 'PyMem_New(int, n)'), lineOf(src, 'PyMem_Free(a);')]);
      expect(stderr).toMatch(/note: PYTHONMALLOC=malloc: .*the memory debug hooks off/);
      expect(exitCode).toBe(20);
      // the repro ran to its end: the hooks did not abort it at the free
      expect(report.status).toBe('complete');
      expect(report.reproExitCode).toBe(0);
      expect(stderr).not.toContain('bad leading pad byte');
      expect(report.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line])).toEqual([['InvalidWrite', 'underwrite.c', write]]);
      const f = report.userFindings[0]!;
      expect(f.userFrame?.function).toBe('fill');
      expect(f.message).toBe('Invalid write of size 4');
      expect(f.related[0]?.message).toMatch(/is 4 bytes before a block of size 40 alloc'd$/);
      const allocFrames = f.related[0]!.frames;
      expect(allocFrames.find((fr) => fr.inUserCode)).toMatchObject({ function: 'fill', file: 'underwrite.c', line: alloc });
      // a plain malloc block: no debug-hook allocator between PyMem_Malloc and malloc
      expect(allocFrames.map((fr) => fr.function).join(' ')).not.toMatch(/_PyMem_Debug/);
      // nothing blames the free (the symptom) or the hooks' check
      const all = [...report.userFindings, ...report.interpreterFindings];
      expect(all.filter((x) => x.userFrame?.line === free)).toEqual([]);
      expect(all.flatMap((x) => x.frames).map((fr) => fr.function)).not.toContain('_PyMem_DebugCheckAddress');
    });
  }
});

describe('blocks kept for the life of the interpreter are counted apart, not findings', () => {
  for (const [variant, python] of [['debug', '3.13'], ['nopymalloc', '3.11']] as const) {
    it(`${python} ${variant}: module_state (a PyMem table, module objects, a zlib stream, all from import): zero findings, exit 0`, async () => {
      const { report, exitCode, text } = await memcheck(['--variant', variant, '--python', python, '-C', join(EX, 'module_state'), 'repro.py']);
      expect(report.userFindings).toEqual([]);
      expect(report.status).toBe('complete');
      expect(exitCode).toBe(0);
      // Valgrind did see them: possibly lost and still reachable blocks allocated from the module's init
      const held = report.summary.heldAtExit as HeldAtExit;
      expect(held.yourCode.Leak_PossiblyLost?.blocks).toBeGreaterThan(0);
      expect(held.yourCode.Leak_StillReachable?.blocks).toBeGreaterThan(0);
      expect(held.findings.length).toBeGreaterThan(0);
      expect(held.findings.every((f) => f.userFrame?.file === 'modstate.c' && f.userFrame.function === 'init_state')).toBe(true);
      expect(text).toContain('no findings in your code');
      expect(text).toMatch(/still allocated at exit \(not findings[\s\S]*from your code: possibly lost [\d,]+ bytes in [\d,]+ blocks?, still reachable/);
      expect(text).toMatch(/allocated from init_state \(modstate\.c:\d+\)/);
    });
  }

  it('3.13 debug: leak still fails with its definitely lost block at the malloc line (exit 20)', async () => {
    const { report, exitCode } = await memcheck(['--variant', 'debug', '--python', '3.13', '-C', join(EX, 'leak'), 'repro.py']);
    expect(exitCode).toBe(20);
    expect(report.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line, f.data.leakedBytes])).toEqual([['Leak_DefinitelyLost', 'leak.c', 7, 10240]]);
  });
});
