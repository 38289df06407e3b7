/**
 * Which Memcheck records fail a run. Errors (invalid read/write, uninitialised use, bad free, …) and
 * definitely lost blocks allocated from the user's code are findings; indirectly lost, possibly lost
 * and still reachable blocks are what is still allocated when the interpreter exits (module state,
 * caches, objects kept for the life of the process): counted apart in summary.heldAtExit and in the
 * text report, never findings, never exit 20.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ParseContext } from '../../src/analyses/analysis.js';
import { FAILING_LEAK_KINDS, heldAtExitText, memcheck, memcheckFindings, parseMemcheckXml, type HeldAtExit } from '../../src/analyses/memcheck.js';
import { textReport } from '../../src/report/writers.js';
import type { AnalysisReport } from '../../src/analyses/types.js';
import type { RunResult } from '../../src/exec/types.js';
import { planVariant } from '../../src/project/plan.js';

const OOB = readFileSync(new URL('../fixtures/memcheck-oob-3.13.xml', import.meta.url), 'utf8');

type F = { fn: string; file?: string; line?: number; dir?: string; obj?: string };
const MALLOC: F = { fn: 'malloc', obj: '/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so' };
const PYMEM: F = { fn: 'PyMem_Malloc', dir: '/usr/src/cpython/Python-3.13.5/Objects', file: 'obmalloc.c', line: 989, obj: '/opt/python/bin/python3.13' };
const GC_NEW: F = { fn: '_PyObject_GC_NewVar', dir: '/usr/src/cpython/Python-3.13.5/Python', file: 'gc.c', line: 1887, obj: '/opt/python/bin/python3.13' };
const EVAL: F = { fn: '_PyEval_EvalFrameDefault', dir: '/usr/src/cpython/Python-3.13.5/Python', file: 'generated_cases.c.h', line: 813, obj: '/opt/python/bin/python3.13' };
const user = (fn: string, line: number): F => ({ fn, dir: '/pydbg/build', file: 'mod.c', line, obj: '/pydbg/build/mod.cpython-313d-x86_64-linux-gnu.so' });

const frameXml = (f: F) =>
  `<frame><ip>0x1</ip>${f.obj ? `<obj>${f.obj}</obj>` : ''}<fn>${f.fn}</fn>${f.dir ? `<dir>${f.dir}</dir>` : ''}${f.file ? `<file>${f.file}</file>` : ''}${f.line ? `<line>${f.line}</line>` : ''}</frame>`;

/** One Memcheck leak record as valgrind 3.19 writes it (protocol 4). */
function leak(kind: string, bytes: number, blocks: number, frames: F[], n = 1): string {
  const words: Record<string, string> = { Leak_DefinitelyLost: 'definitely lost', Leak_IndirectlyLost: 'indirectly lost', Leak_PossiblyLost: 'possibly lost', Leak_StillReachable: 'still reachable' };
  return `<error><unique>0x${n.toString(16)}</unique><tid>1</tid><kind>${kind}</kind>
  <xwhat><text>${bytes.toLocaleString('en-US')} bytes in ${blocks} blocks are ${words[kind]} in loss record ${n} of 40</text><leakedbytes>${bytes}</leakedbytes><leakedblocks>${blocks}</leakedblocks></xwhat>
  <stack>${frames.map(frameXml).join('')}</stack></error>`;
}

function error(kind: string, what: string, frames: F[]): string {
  return `<error><unique>0x99</unique><tid>1</tid><kind>${kind}</kind><what>${what}</what><stack>${frames.map(frameXml).join('')}</stack></error>`;
}

const doc = (...errors: string[]) =>
  `<?xml version="1.0"?>\n<valgrindoutput>\n<protocolversion>4</protocolversion>\n<protocoltool>memcheck</protocoltool>\n${errors.join('\n')}\n<errorcounts></errorcounts>\n</valgrindoutput>\n`;

/** A module that builds its state at import (PyInit_mod → init_state), as examples/module_state does. */
const AT_IMPORT = doc(
  leak('Leak_PossiblyLost', 3248, 58, [MALLOC, PYMEM, GC_NEW, user('init_state', 83), user('PyInit_mod', 99)], 1),
  leak('Leak_PossiblyLost', 1520, 1, [MALLOC, PYMEM, user('init_state', 84), user('PyInit_mod', 99)], 2),
  leak('Leak_StillReachable', 2048, 1, [MALLOC, PYMEM, user('init_state', 62)], 3),
  leak('Leak_StillReachable', 46, 1, [MALLOC, PYMEM, EVAL], 4),
  leak('Leak_PossiblyLost', 56, 1, [MALLOC, PYMEM, GC_NEW, EVAL], 5),
);

const run = (exitCode = 0): RunResult => ({
  command: ['valgrind', 'python', 'repro.py'], image: 'sha256:x', python: '3.13.5', variant: 'debug', exitCode, signal: null, durationSeconds: 1,
  extension: { kind: 'setup.py', cached: true, image: 'sha256:x', seconds: 0 },
});
const ctx = (): ParseContext => ({ plan: planVariant({ variant: 'debug', python: '3.13' }), run: run(), repro: ['repro.py'], outDir: '/nonexistent/out' });
const parse = (xml: string) => memcheck.parse(new Map([['memcheck.7.xml', xml], ['memcheck.7.log', '']]), ctx());
const report = (xml: string): AnalysisReport => {
  const { artefacts: _, ...body } = parse(xml);
  return { schema: 'pydbg.report/1', analysis: 'memcheck', tool: 'valgrind memcheck', python: '3.13.5', variant: 'debug', command: ['python', 'repro.py'], reproExitCode: 0, ...body };
};

describe('memcheck: which leak kinds fail a run', () => {
  it('fails only on definitely lost among the leak kinds', () => {
    expect([...FAILING_LEAK_KINDS]).toEqual(['Leak_DefinitelyLost']);
  });

  it('possibly lost and still reachable blocks from module state are no user findings: counted apart, exit would be 0', () => {
    const r = parse(AT_IMPORT);
    expect(r.userFindings).toEqual([]);
    expect(r.status).toBe('complete');
    const held = r.summary.heldAtExit as HeldAtExit;
    expect(held.yourCode).toEqual({
      Leak_PossiblyLost: { records: 2, bytes: 4768, blocks: 59 },
      Leak_StillReachable: { records: 1, bytes: 2048, blocks: 1 },
    });
    expect(held.elsewhere).toEqual({
      Leak_PossiblyLost: { records: 1, bytes: 56, blocks: 1 },
      Leak_StillReachable: { records: 1, bytes: 46, blocks: 1 },
    });
    // the user's records are kept (biggest first) with the frame that allocated them
    expect(held.findings.map((f) => [f.kind, f.userFrame?.function, f.userFrame?.line, f.data.leakedBytes])).toEqual([
      ['Leak_PossiblyLost', 'init_state', 83, 3248],
      ['Leak_StillReachable', 'init_state', 62, 2048],
      ['Leak_PossiblyLost', 'init_state', 84, 1520],
    ]);
    // the interpreter's possibly lost stays where it was; its still-reachable blocks are only counted
    expect(r.interpreterFindings.map((f) => f.kind)).toEqual(['Leak_PossiblyLost']);
  });

  it('definitely lost from the user code fails; its indirectly lost children are counted apart', () => {
    const xml = doc(
      leak('Leak_DefinitelyLost', 10240, 10, [MALLOC, user('leaky_function', 7), EVAL], 1),
      leak('Leak_IndirectlyLost', 640, 10, [MALLOC, user('leaky_function', 8), EVAL], 2),
      leak('Leak_PossiblyLost', 1520, 1, [MALLOC, PYMEM, user('init_state', 84)], 3),
      leak('Leak_DefinitelyLost', 32, 1, [MALLOC, PYMEM, EVAL], 4),
    );
    const r = parse(xml);
    expect(r.userFindings.map((f) => [f.kind, f.severity, f.userFrame?.line, f.data.leakedBytes])).toEqual([['Leak_DefinitelyLost', 'error', 7, 10240]]);
    const held = r.summary.heldAtExit as HeldAtExit;
    expect(held.yourCode).toEqual({ Leak_IndirectlyLost: { records: 1, bytes: 640, blocks: 10 }, Leak_PossiblyLost: { records: 1, bytes: 1520, blocks: 1 } });
    // a definitely lost block the interpreter allocated, with no frame in the user's code, is not the user's
    expect(r.interpreterFindings.map((f) => f.kind)).toEqual(['Leak_DefinitelyLost']);
    expect(heldAtExitText(held)).toContain('indirectly lost blocks are reachable only from definitely lost ones');
  });

  it('real errors in the user code fail the run whatever leaks come with them', () => {
    const xml = doc(
      error('InvalidWrite', 'Invalid write of size 4', [user('fill', 11), EVAL]),
      error('UninitCondition', 'Conditional jump or move depends on uninitialised value(s)', [user('decide', 8), EVAL]),
      error('InvalidFree', 'Invalid free() / delete / delete[] / realloc()', [{ fn: 'free', obj: MALLOC.obj }, user('release', 20)]),
      error('MismatchedFree', 'Mismatched free() / delete / delete []', [{ fn: 'free', obj: MALLOC.obj }, user('release', 21)]),
      error('UninitValue', 'Use of uninitialised value of size 8', [{ fn: 'get_small_int', dir: '/usr/src/cpython/Python-3.11.2/Objects', file: 'longobject.c', line: 62 }, EVAL]),
      leak('Leak_PossiblyLost', 1520, 1, [MALLOC, PYMEM, user('init_state', 84)], 3),
    );
    const r = parse(xml);
    expect(r.userFindings.map((f) => [f.kind, f.userFrame?.function])).toEqual([
      ['InvalidWrite', 'fill'], ['UninitCondition', 'decide'], ['InvalidFree', 'release'], ['MismatchedFree', 'release'],
    ]);
    // an uninitialised read inside the interpreter, with no user frame: not the user's
    expect(r.interpreterFindings.map((f) => f.kind)).toEqual(['UninitValue']);
  });

  it('grouped records of one site add up (several processes, one XML each)', () => {
    const one = doc(leak('Leak_PossiblyLost', 100, 2, [MALLOC, PYMEM, user('init_state', 83)], 1));
    const m = memcheckFindings([parseMemcheckXml(one), parseMemcheckXml(one)]);
    expect(m.user).toEqual([]);
    expect(m.heldAtExit.yourCode).toEqual({ Leak_PossiblyLost: { records: 1, bytes: 200, blocks: 4 } });
    expect(m.heldAtExit.findings[0]!.count).toBe(2);
  });

  it('the real oob_write report: its InvalidWrite fails, nothing is held, no text about leaks', () => {
    const r = parse(OOB);
    expect(r.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line])).toEqual([['InvalidWrite', 'oob.c', 7]]);
    expect(r.summary).toEqual({ processes: 1, heldAtExit: { yourCode: {}, elsewhere: {}, findings: [] } });
    expect(r.summaryText).toBeUndefined();
  });
});

describe('memcheck: the text report says what was still allocated at exit', () => {
  it('counts, the top sites in the user code, and what is elsewhere; "no findings"', () => {
    const text = textReport(report(AT_IMPORT));
    expect(text).toContain('no findings in your code');
    expect(text).toContain('still allocated at exit (not findings');
    expect(text).toContain('from your code: possibly lost 4,768 bytes in 59 blocks, still reachable 2,048 bytes in 1 block\n');
    expect(text).toContain('3,248 bytes in 58 blocks possibly lost, allocated from init_state (mod.c:83)');
    expect(text).toContain('elsewhere (interpreter, libraries): possibly lost 56 bytes in 1 block, still reachable 46 bytes in 1 block');
  });
  it('one line when nothing is the user\'s', () => {
    const xml = doc(leak('Leak_PossiblyLost', 56, 1, [MALLOC, PYMEM, GC_NEW, EVAL], 5));
    const text = report(xml).summaryText!;
    expect(text.split('\n')).toHaveLength(1);
    expect(text).toContain('nothing from your code; elsewhere (interpreter, libraries): possibly lost 56 bytes in 1 block');
  });
  it('more than five sites are summed up', () => {
    const xml = doc(...Array.from({ length: 7 }, (_, i) => leak('Leak_PossiblyLost', 100 + i, 1, [MALLOC, PYMEM, user('init_state', 60 + i)], i + 1)));
    expect(report(xml).summaryText).toContain('… and 2 more');
  });
});
