import { describe, expect, it } from 'vitest';
import { analyseLeaks, analysePytestLeaks, leaks, pytestCommand, type LeakRun } from '../../src/analyses/leaks.js';
import { groupFindings, type AnalysisReport, type Finding } from '../../src/analyses/types.js';
import { jsonReport, junitReport, sarifReport, stackLines, textReport } from '../../src/report/writers.js';

const run = (rounds: LeakRun['rounds'], extra: Partial<LeakRun> = {}): LeakRun => ({
  target: 'refleak:search', iterations: 1000, warmup: 2, rounds, error: null, has_refs: true, has_blocks: true, has_tracemalloc: true, type_source: 'gc', ...extra,
});

describe('leak decisions', () => {
  it('the python-ldap leak: one list per call, +1 refcount, +1 block', () => {
    const round = { refs: 1000, blocks: 1001, traced_blocks: 1002, traced_bytes: 56000, rss: 0, types: { list: 1000 } };
    const { findings } = analyseLeaks(run([round, round, round, round]), 'refleak.py');
    expect(findings.map((f) => f.message)).toEqual([
      'leaks 1 list per call',
      'total refcount grows by 1 per call',
      'allocated memory blocks grow by 1 per call, 56 bytes',
    ]);
  });
  it('stays quiet on a clean extension (measurement residue, caches, one noisy round)', () => {
    const r = [
      { refs: 2, blocks: 6, traced_blocks: 5, traced_bytes: 300, rss: 4096, types: { dict: 1 } },
      { refs: 0, blocks: 0, traced_blocks: 1, traced_bytes: 64, rss: 0, types: {} },
      { refs: 1, blocks: 2, traced_blocks: 0, traced_bytes: 0, rss: 0, types: { list: 3 } },
      { refs: 0, blocks: 1, traced_blocks: 2, traced_bytes: 16, rss: 0, types: {} },
    ];
    expect(analyseLeaks(run(r), 'clean.py').findings).toEqual([]);
  });
  it('a leak must show in every counted round', () => {
    const leak = { refs: 1000, types: { list: 1000 } };
    const none = { refs: 0, types: {} };
    expect(analyseLeaks(run([leak, leak, none, leak]), 'x.py').findings).toEqual([]);
  });
  it('a C malloc leak shows only in RSS, and says where to look', () => {
    const r = { refs: 0, blocks: 0, traced_blocks: 0, traced_bytes: 0, rss: 1024 * 20, types: {} };
    const { findings } = analyseLeaks(run([r, r, r, r], { iterations: 20, target: 'leak.py' }), 'leak.py');
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: 'RSSGrowth', severity: 'error' });
    expect(findings[0]!.message).toBe("process memory (RSS) grows by 1.0 KiB per run: not from Python's allocators (a C malloc leak? run 'pydbg check memcheck')");
  });
  it('nopymalloc builds have no pymalloc blocks: tracemalloc counts instead', () => {
    const r = { refs: 1000, blocks: 0, traced_blocks: 1000, traced_bytes: 56000, types: { list: 1000 } };
    const { findings } = analyseLeaks(run([r, r, r, r], { has_blocks: true }), 'r.py');
    expect(findings.find((f) => f.kind === 'BlockLeak')?.data.source).toBe('traced_blocks');
  });
});

const frame = (fn: string, file: string, line: number, user: boolean) => ({ function: fn, file, line, object: null, inUserCode: user });
const finding = (over: Partial<Finding> = {}): Finding => ({
  analysis: 'memcheck', kind: 'InvalidWrite', message: 'Invalid write of size 4', severity: 'error',
  userFrame: frame('overflow', 'oob.c', 7, true), frames: [frame('overflow', 'oob.c', 7, true), frame('cfunction_vectorcall_NOARGS', 'Objects/methodobject.c', 481, false)],
  related: [{ message: "Address 0x4a is 20 bytes after a block of size 20 alloc'd", frames: [frame('malloc', 'vg_replace_malloc.c', 381, false), frame('overflow', 'oob.c', 6, true)] }],
  count: 1, data: {}, ...over,
});
const report = (userFindings: Finding[], over: Partial<AnalysisReport> = {}): AnalysisReport => ({
  schema: 'pydbg.report/1', analysis: 'memcheck', tool: 'valgrind memcheck', python: '3.11.2', variant: 'nopymalloc', command: ['python', 'repro.py'],
  status: 'complete', reproExitCode: 0, userFindings, interpreterFindings: [], rawFiles: ['/out/memcheck.1.xml'], summary: {}, ...over,
});

describe('grouping', () => {
  it('groups the same bug hit many times, adding up leaked bytes', () => {
    const leak = finding({ kind: 'Leak_DefinitelyLost', message: '1,024 bytes in 1 blocks are definitely lost in loss record 3 of 9', data: { leakedBytes: 1024 } });
    const g = groupFindings([leak, { ...leak, message: '2,048 bytes in 2 blocks are definitely lost in loss record 4 of 9', data: { leakedBytes: 2048 } }, finding()]);
    expect(g).toHaveLength(2);
    expect(g[0]).toMatchObject({ count: 2, data: { leakedBytes: 3072 } });
  });
});

describe('report writers', () => {
  it('text leads with the user frame', () => {
    const t = textReport(report([finding()]));
    expect(t).toContain('1 finding(s) in your code');
    expect(t).toMatch(/InvalidWrite\s+oob\.c:7 \(overflow\)/);
    expect(t).toContain("Address 0x4a is 20 bytes after a block of size 20 alloc'd");
    expect(textReport(report([]))).toContain('no findings in your code');
    expect(textReport(report([], { status: 'partial', partialReason: 'the repro crashed with SIGSEGV' }))).toContain('PARTIAL: the repro crashed');
  });
  it('SARIF 2.1.0 with project-relative locations and stacks', () => {
    const s = JSON.parse(sarifReport([report([finding()])]));
    expect(s.version).toBe('2.1.0');
    const res = s.runs[0].results[0];
    expect(res.ruleId).toBe('InvalidWrite');
    expect(res.level).toBe('error');
    expect(res.locations[0].physicalLocation).toEqual({ artifactLocation: { uri: 'oob.c', uriBaseId: 'SRCROOT' }, region: { startLine: 7 } });
    expect(res.stacks[0].frames).toHaveLength(2);
    expect(s.runs[0].tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(['InvalidWrite']);
  });
  it('JUnit: a failing case per finding, a passing case for a clean repro', () => {
    const j = junitReport([report([finding()])]);
    expect(j).toContain('<testsuite name="pydbg memcheck (CPython 3.11.2 nopymalloc)" tests="1" failures="1" errors="0">');
    expect(j).toContain('<failure message="Invalid write of size 4" type="InvalidWrite">');
    expect(junitReport([report([])])).toMatch(/tests="1" failures="0" errors="0">\n\s+<testcase classname="pydbg.memcheck" name="python repro.py"\/>/);
  });
  it('JSON is the documented schema', () => {
    expect(JSON.parse(jsonReport(report([finding()])))).toMatchObject({ schema: 'pydbg.report/1', analysis: 'memcheck', userFindings: [{ kind: 'InvalidWrite' }] });
  });
});

describe('memcheck XML (a real valgrind 3.19 report: examples/oob_write on 3.13 nopymalloc)', () => {
  it('parses the invalid write, its allocation stack, and separates interpreter noise', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseMemcheckXml, memcheckFindings } = await import('../../src/analyses/memcheck.js');
    const xml = readFileSync(new URL('../fixtures/memcheck-oob-3.13.xml', import.meta.url), 'utf8');
    const m = memcheckFindings([parseMemcheckXml(xml)]);
    expect(m.complete).toBe(true);
    expect(m.user).toHaveLength(1);
    const f = m.user[0]!;
    expect(f).toMatchObject({ kind: 'InvalidWrite', message: 'Invalid write of size 4', severity: 'error' });
    expect(f.userFrame).toMatchObject({ function: 'overflow', file: 'oob.c', line: 7 });
    expect(f.frames[1]!.file).toBe('Objects/methodobject.c');
    expect(f.related[0]!.message).toMatch(/is 20 bytes after a block of size 20 alloc'd$/);
  });
  it('a report cut short is repaired up to its last complete error and marked incomplete', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseMemcheckXml } = await import('../../src/analyses/memcheck.js');
    const xml = readFileSync(new URL('../fixtures/memcheck-oob-3.13.xml', import.meta.url), 'utf8');
    const cut = xml.slice(0, xml.indexOf('</error>') + '</error>'.length + 40);
    const p = parseMemcheckXml(cut);
    expect(p.complete).toBe(false);
    expect(p.findings[0]?.kind).toBe('InvalidWrite');
  });
});

describe('stackLines: the user frame is never cut off the text report', () => {
  const fr = (fn: string, user = false) => ({ function: fn, file: user ? 'ext.c' : 'Objects/x.c', line: 7, object: null, inUserCode: user });

  it('a user frame inside the window: the window as is', () => {
    expect(stackLines([fr('a'), fr('mine', true), fr('b')], 6)).toEqual(['        a (Objects/x.c:7)', '      > mine (ext.c:7)', '        b (Objects/x.c:7)']);
  });
  it('a user frame below the window: the skipped frames counted, then it and its caller', () => {
    const frames = [fr('strlen'), fr('f1'), fr('f2'), fr('f3'), fr('Reader_init', true), fr('type_call')];
    expect(stackLines(frames, 2)).toEqual(['        strlen (Objects/x.c:7)', '        f1 (Objects/x.c:7)', '        … 2 frames …', '      > Reader_init (ext.c:7)', '        type_call (Objects/x.c:7)']);
    expect(stackLines(frames, 4)).toEqual([...frames.slice(0, 4).map((f) => `        ${f.function} (Objects/x.c:7)`), '      > Reader_init (ext.c:7)', '        type_call (Objects/x.c:7)']);
  });
  it('no user frame: the window only', () => {
    expect(stackLines([fr('a'), fr('b'), fr('c')], 2)).toHaveLength(2);
  });
});

describe('per-checkpoint findings: which call in the user\'s loop leaks', () => {
  const cp = (calls: number, refs: number, blocks: number) => ({ calls, refs, blocks, traced_bytes: 0, rss: 0 });
  const round = (search: number, extra: Record<string, ReturnType<typeof cp>> = {}) => ({
    refs: 5 * search, blocks: 5 * search, rss: 0, types: {},
    checkpoints: { ping: cp(5, 1, 0), search: cp(5, 5 * search, 5 * search), format: cp(5, 0, 1), ...extra },
  });
  const attribution = {
    calls: { '': 3, ping: 15, search: 15, format: 15 },
    groups: [
      { window: 'search', type: 'tuple', count: 15, sample: '(1000, "x")', file: 'service_loop.py', line: 15, function: 'handle', callee: 'svc.search()', target: false },
      { window: 'format', type: 'str', count: 1, sample: "'a'", file: 'service_loop.py', line: 17, function: 'handle', callee: null, target: false },
    ],
    callees: [],
  };

  it('the leaking checkpoint first, with what leaks per call and where it is created; quiet checkpoints say nothing', () => {
    const { findings } = analyseLeaks(run([round(1), round(1), round(1), round(1)], { target: 'service_loop.py', iterations: 20, attribution }), 'service_loop.py');
    expect(findings[0]).toMatchObject({
      kind: 'CheckpointLeak',
      message: 'checkpoint "search" leaks 1 tuple, created at service_loop.py:15 in handle(), by svc.search() per call (across the block: refcount 1, blocks 1)',
      userFrame: { file: 'service_loop.py', line: 15, function: 'handle' },
      data: { checkpoint: 'search', calls: 20, refsPerCall: 1, blocksPerCall: 1, types: 'tuple:1' },
    });
    expect(findings.filter((f) => f.kind === 'CheckpointLeak')).toHaveLength(1);
  });

  it('sorted by growth per call; a checkpoint not entered in every round has no rate', () => {
    const rounds = [1, 2, 3, 4].map((i) => round(1, { big: cp(2, 6, 0), ...(i === 2 ? {} : { sometimes: cp(1, 9, 9) }) }));
    const { findings } = analyseLeaks(run(rounds, { target: 'service_loop.py', iterations: 20 }), 'service_loop.py');
    expect(findings.filter((f) => f.kind === 'CheckpointLeak').map((f) => f.data.checkpoint)).toEqual(['big', 'search']);
    expect(findings[0]!.message).toBe('checkpoint "big" leaks 3 references per call');
    expect(findings[0]!.userFrame).toMatchObject({ function: 'checkpoint("big")', file: 'service_loop.py', line: null });
  });

  it('a window whose growth no object created in it explains (a result kept past the block): not a leak', () => {
    const rounds = [1, 2, 3, 4].map(() => round(1, { format: cp(5, 5, 5) }));
    const { findings } = analyseLeaks(run(rounds, { target: 'service_loop.py', iterations: 20, attribution }), 'service_loop.py');
    expect(findings.filter((f) => f.kind === 'CheckpointLeak').map((f) => f.data.checkpoint)).toEqual(['search']);
  });
  it('one round without growth: no finding (the rule for the whole repro)', () => {
    const { findings } = analyseLeaks(run([round(1), round(0), round(1), round(1)], { target: 'service_loop.py', iterations: 20 }), 'service_loop.py');
    expect(findings.filter((f) => f.kind === 'CheckpointLeak')).toEqual([]);
  });
});

describe('RefLeak on a build that counts only gc objects', () => {
  const round = { refs: 3000, blocks: 0, rss: 0, types: {} };
  it('says which objects no count can name, and the variant that names them', () => {
    const gcOnly = analyseLeaks(run([round, round, round, round]), 'x.py').findings.find((f) => f.kind === 'RefLeak')!;
    expect(gcOnly.related.map((r) => r.message)).toEqual([
      'str, bytes, int and float objects are never tracked by the gc, so no count names them: --variant debug,trace-refs counts every object (sys.getobjects) and names their type',
    ]);
    const everyObject = analyseLeaks(run([round, round, round, round], { type_source: 'getobjects' }), 'x.py').findings.find((f) => f.kind === 'RefLeak')!;
    expect(everyObject.related).toEqual([]);
  });
});

describe('leaks per pytest test', () => {
  it('pytest ARGS and python -m pytest ARGS are the pytest mode; a script is not', () => {
    expect(pytestCommand(['pytest', 'tests/', '-q'])).toEqual(['tests/', '-q']);
    expect(pytestCommand(['python', '-m', 'pytest', '-k', 'search'])).toEqual(['-k', 'search']);
    expect(pytestCommand(['repro.py'])).toBeUndefined();
    const plan = leaks.command({ repro: ['pytest', 'tests/'], options: {}, plan: {} as never });
    expect(plan.argv).toEqual(['python', '/opt/pydbg-run/leakhunt_pytest.py', '/pydbg/out/leaks.json', '4', '2', '2', 'tests/']);
    expect(plan.crashArgv).toEqual(['python', '-m', 'pytest', 'tests/']);
  });
  it('one finding per leaking test, worst first, at the test function; clean and failed tests give none', () => {
    const leaky = { refs: 2, blocks: 3, types: { list: 2 } };
    const worse = { refs: 8, blocks: 8, types: { dict: 2 } };
    const clean = { refs: 0, blocks: 0, types: {} };
    const f = analysePytestLeaks({
      mode: 'pytest', rounds_per_test: 4, warmup: 2, iterations: 2, has_refs: true, has_blocks: true, type_source: 'gc', exitstatus: 1,
      tests: {
        'tests/test_svc.py::test_leaky': { file: 'tests/test_svc.py', line: 3, rounds: [leaky, leaky, leaky, leaky], error: null },
        'tests/test_svc.py::test_worse': { file: 'tests/test_svc.py', line: 9, rounds: [worse, worse, worse, worse], error: null },
        'tests/test_svc.py::test_clean': { file: 'tests/test_svc.py', line: 7, rounds: [clean, clean, clean, clean], error: null },
        'tests/test_svc.py::test_fails': { file: 'tests/test_svc.py', line: 10, rounds: [], error: 'AssertionError: assert 1 == 2' },
      },
    });
    expect(f.map((x) => x.data.test)).toEqual(['tests/test_svc.py::test_worse', 'tests/test_svc.py::test_leaky']);
    expect(f[1]).toMatchObject({
      kind: 'TestLeak',
      message: 'tests/test_svc.py::test_leaky leaks 1 list per call; total refcount grows by 1 per call; allocated memory blocks grow by 1.50 per call',
      userFrame: { function: 'test_leaky', file: 'tests/test_svc.py', line: 3 },
    });
  });
});
