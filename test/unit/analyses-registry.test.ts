import { describe, expect, it } from 'vitest';
import { ANALYSES, ANALYSIS_NAMES, analysisByName, findAnalysis } from '../../src/analyses/registry.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import { planVariant } from '../../src/project/plan.js';

describe('the analysis registry', () => {
  it('lists the analyses in help order', () => {
    expect(ANALYSIS_NAMES).toEqual(['memcheck', 'leaks', 'massif', 'pymalloc-stats', 'pymalloc-debug', 'asan', 'ubsan', 'tsan', 'rss']);
    expect(analysisByName('massif').name).toBe('massif');
    expect(findAnalysis('nope')).toBeUndefined();
  });
  it('an unknown name is a usage error with the closest name', () => {
    let err: unknown;
    try {
      analysisByName('memchek');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PydbgError);
    expect((err as PydbgError).exitCode).toBe(ExitCode.USAGE);
    expect((err as PydbgError).hint).toContain("did you mean 'memcheck'?");
  });
  it("every analysis has a one-line summary and its tool's own manual page", () => {
    for (const a of ANALYSES) {
      expect(a.summary, a.name).toMatch(/^[^\n]{10,140}$/);
      expect(a.helpUri, a.name).toMatch(/^https:\/\//);
    }
    expect(new Set(ANALYSES.map((a) => a.helpUri)).size).toBe(ANALYSES.length);
    expect(analysisByName('memcheck').helpUri).toBe('https://valgrind.org/docs/manual/mc-manual.html');
    expect(analysisByName('massif').helpUri).toBe('https://valgrind.org/docs/manual/ms-manual.html');
    expect(analysisByName('asan').helpUri).toContain('clang.llvm.org/docs/AddressSanitizer');
    expect(analysisByName('ubsan').helpUri).toContain('clang.llvm.org/docs/UndefinedBehaviorSanitizer');
    expect(analysisByName('leaks').helpUri).toContain('docs.python.org/3/library/sys.html#sys.gettotalrefcount');
  });
  it('every analysis runs on its own default variant', () => {
    for (const a of ANALYSES) expect(a.unavailable(planVariant({ variant: a.defaultVariant, python: '3.13' })), a.name).toBeUndefined();
  });
});
