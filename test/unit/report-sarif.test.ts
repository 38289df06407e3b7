import { describe, expect, it } from 'vitest';
import type { AnalysisReport, Finding } from '../../src/analyses/types.js';
import { sarifReport } from '../../src/report/writers.js';

const frame = { function: 'f', file: 'ext.c', line: 3, object: null, inUserCode: true };
const finding = (analysis: string, kind: string, message = 'something happened 3 times'): Finding => ({
  analysis, kind, message, severity: 'error', userFrame: frame, frames: [frame], related: [], count: 1, data: {},
});
const report = (analysis: string, tool: string, findings: Finding[]): AnalysisReport => ({
  schema: 'pydbg.report/1', analysis, tool, python: '3.13.5', variant: 'debug', command: ['python', 'repro.py'],
  status: 'complete', reproExitCode: 0, userFindings: findings, interpreterFindings: [], rawFiles: [], summary: {},
});
const rulesOf = (r: AnalysisReport) => JSON.parse(sarifReport([r])).runs[0].tool.driver.rules as Array<{ id: string; helpUri: string; shortDescription: { text: string } }>;

describe('SARIF rules come from the analysis that made the report', () => {
  it("each analysis links its own tool's manual", () => {
    const uris = {
      memcheck: rulesOf(report('memcheck', 'valgrind memcheck', [finding('memcheck', 'InvalidWrite')]))[0]!.helpUri,
      asan: rulesOf(report('asan', 'AddressSanitizer', [finding('asan', 'heap-buffer-overflow')]))[0]!.helpUri,
      ubsan: rulesOf(report('ubsan', 'UndefinedBehaviorSanitizer', [finding('ubsan', 'shift')]))[0]!.helpUri,
      leaks: rulesOf(report('leaks', 'refcount', [finding('leaks', 'RefLeak')]))[0]!.helpUri,
      'pymalloc-debug': rulesOf(report('pymalloc-debug', 'hooks', [finding('pymalloc-debug', 'BufferOverflow')]))[0]!.helpUri,
    };
    expect(uris.memcheck).toBe('https://valgrind.org/docs/manual/mc-manual.html');
    expect(uris.asan).toBe('https://clang.llvm.org/docs/AddressSanitizer.html');
    expect(uris.ubsan).toBe('https://clang.llvm.org/docs/UndefinedBehaviorSanitizer.html');
    expect(uris.leaks).toBe('https://docs.python.org/3/library/sys.html#sys.gettotalrefcount');
    expect(uris['pymalloc-debug']).toBe('https://docs.python.org/3/c-api/memory.html#pymem-debug-hooks');
    expect(new Set(Object.values(uris)).size).toBe(5);
  });
  it("rule text is the analysis's description of the kind, else the message's shape", () => {
    const [known, unknown] = rulesOf(report('asan', 'AddressSanitizer', [finding('asan', 'heap-use-after-free'), finding('asan', 'new-kind')]));
    expect(known!.shortDescription.text).toBe('an access to heap memory after it was freed');
    expect(unknown!.shortDescription.text).toBe('something happened N times');
  });
  it('a report from an analysis this pydbg does not know still gets a rule and a link', () => {
    const [rule] = rulesOf(report('future', 'something', [finding('future', 'Odd')]));
    expect(rule!.helpUri).toMatch(/^https:\/\/github\.com\/pydbg\/pydbg/);
  });
});
