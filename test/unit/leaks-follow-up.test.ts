/**
 * check leaks' memcheck follow-up: memory-only growth makes check run memcheck on the same repro in
 * the same image and fold its definitely-lost blocks into the finding (runProject injected).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { check, type CheckDeps, type CheckInput } from '../../src/analyses/check.js';
import { FOLLOW_UP_CALLS, foldFollowUp, followUpRepro, type LeakRun } from '../../src/analyses/leaks.js';
import type { Finding } from '../../src/analyses/types.js';
import { OUT_MOUNT } from '../../src/container/layout.js';
import { ExitCode } from '../../src/errors.js';
import type { RunRequest, RunResult } from '../../src/exec/types.js';
import { offlineIO } from './check-io.js';

const frame = (fn: string, file: string, line: number, obj: string) => `<frame><ip>0x1</ip><obj>${obj}</obj><fn>${fn}</fn><dir>/pydbg/build</dir><file>${file}</file><line>${line}</line></frame>`;
/** Valgrind's XML for N definitely lost blocks of 1,024 bytes allocated at leak.c:7 */
const lostXml = (blocks: number) => `<?xml version="1.0"?>
<valgrindoutput>
<protocolversion>4</protocolversion>
<error>
  <unique>0x1</unique>
  <tid>1</tid>
  <kind>Leak_DefinitelyLost</kind>
  <xwhat><text>${blocks * 1024} bytes in ${blocks} blocks are definitely lost in loss record 1 of 1</text><leakedbytes>${blocks * 1024}</leakedbytes><leakedblocks>${blocks}</leakedblocks></xwhat>
  <stack>
    <frame><ip>0x2</ip><obj>/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so</obj><fn>malloc</fn></frame>
    ${frame('leaky_function', 'leak.c', 7, '/pydbg/build/leak.cpython-313d-x86_64-linux-gnu.so')}
  </stack>
</error>
</valgrindoutput>
`;

/** A leak hunt where only RSS grows (1,100 bytes per call). */
const memoryOnly: LeakRun = {
  target: 'leak:leaky_function', iterations: 2000, warmup: 2, error: null, has_refs: true, has_blocks: true, has_tracemalloc: true, type_source: 'gc',
  rounds: Array.from({ length: 4 }, () => ({ refs: 0, blocks: 0, traced_blocks: 0, traced_bytes: 0, rss: 2000 * 1100, types: {} })),
};

describe('the follow-up repro and the folding (pure)', () => {
  it('module:function runs FOLLOW_UP_CALLS times, the names as argv; a script runs once with its arguments', () => {
    expect(followUpRepro(['leak:leaky_function'])).toEqual({ repro: ['python', '-c', expect.stringContaining('sys.argv[1]'), 'leak', 'leaky_function', String(FOLLOW_UP_CALLS)], calls: FOLLOW_UP_CALLS, unit: 'call' });
    expect(followUpRepro(['repro.py', '--n', '3'])).toEqual({ repro: ['python', 'repro.py', '--n', '3'], calls: 1, unit: 'run' });
    expect(followUpRepro(['repro'])).toEqual({ repro: ['python', 'repro'], calls: 1, unit: 'run' }); // a script without .py
  });

  const rssFinding = (): Finding => ({
    analysis: 'leaks', kind: 'RSSGrowth', message: "process memory (RSS) grows by 1.1 KiB per call: not from Python's allocators (a C malloc leak? run 'pydbg check memcheck')", severity: 'error',
    userFrame: { function: 'leak:leaky_function', file: null, line: null, object: null, inUserCode: true }, frames: [], related: [], count: 1, data: { memcheck: 'pydbg check memcheck …' },
  });
  const lost = (bytes: number): Finding => ({
    analysis: 'memcheck', kind: 'Leak_DefinitelyLost', message: `${bytes} bytes in 100 blocks are definitely lost`, severity: 'error',
    userFrame: { function: 'leaky_function', file: 'leak.c', line: 7, object: null, inUserCode: true }, frames: [{ function: 'leaky_function', file: 'leak.c', line: 7, object: null, inUserCode: true }], related: [], count: 1, data: { leakedBytes: bytes, leakedBlocks: 100 },
  });

  it('definitely lost in the user code: per call, at the allocation line, which becomes the finding\'s frame', () => {
    const f = rssFinding();
    foldFollowUp(f, { userFindings: [lost(102400)], status: 'complete' }, 100, 'call', '/r/memcheck-follow-up/report.json');
    expect(f.message).toBe('process memory (RSS) grows by 1.1 KiB per call; memcheck: 1,024 bytes definitely lost per call at leak.c:7 in leaky_function()');
    expect(f.userFrame).toMatchObject({ file: 'leak.c', line: 7 });
    expect(f.data).toMatchObject({ followUpBytesPerIteration: 1024, memcheck: 'pydbg check memcheck …' });
    expect(f.related.at(-1)!.message).toBe('memcheck follow-up report: /r/memcheck-follow-up/report.json');
  });

  it('nothing lost: a note (allocator caches or fragmentation, not a leak); a follow-up that could not run or was partial: the error stays, with the reason', () => {
    const f = rssFinding();
    expect(foldFollowUp(f, { userFindings: [], status: 'complete' }, 1, 'run')).toBe('unconfirmed');
    expect(f.severity).toBe('note');
    expect(f.message).toBe("process memory (RSS) grows by 1.1 KiB per call, but no Python object, reference or block explains it and memcheck found no block lost in your code: allocator caches or fragmentation, not a leak of yours ('pydbg check rss' compares allocators)");
    expect(f.related[0]!.message).toBe('memcheck follow-up (1 run): no block lost per run in your code');
    const g = rssFinding();
    expect(foldFollowUp(g, { error: 'memcheck cannot run on the count-allocs build' }, 100, 'call')).toBe('not run');
    expect(g.severity).toBe('error');
    expect(g.related[0]!.message).toBe('memcheck follow-up could not run: memcheck cannot run on the count-allocs build');
    const h = rssFinding();
    expect(foldFollowUp(h, { userFindings: [], status: 'partial', partialReason: 'the repro crashed' }, 100, 'call')).toBe('not run');
    expect(h.severity).toBe('error');
  });

  it('a block lost once (module init) is not a loss per call; memory your code still holds at exit keeps the finding an error', () => {
    const once = { ...lost(64), data: { leakedBytes: 64, leakedBlocks: 1 } };
    const f = rssFinding();
    const reachable = { ...lost(102400), kind: 'Leak_StillReachable', message: '102,400 bytes in 100 blocks are still reachable' };
    expect(foldFollowUp(f, { userFindings: [once], status: 'complete', summary: { heldAtExit: { findings: [reachable] } } }, 100, 'call')).toBe('not run');
    expect(f.severity).toBe('error');
    expect(f.message).not.toContain('per call at');
    expect(f.related.map((r) => r.message)).toEqual([
      'memcheck follow-up (100 calls): no block lost per call in your code',
      'memcheck: Leak_DefinitelyLost 64 bytes in 100 blocks are definitely lost',
      'memcheck: Leak_StillReachable 102,400 bytes in 100 blocks are still reachable',
    ]);
  });
});

describe('check leaks → memcheck follow-up (orchestration)', () => {
  let root: string;
  let projectDir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pydbg-follow-up-'));
    projectDir = join(root, 'project');
    await mkdir(projectDir);
    await writeFile(join(projectDir, 'leak.py'), '');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const io = offlineIO;
  const input = (over: Partial<CheckInput> = {}): CheckInput => ({ project: { projectDir, python: '3.13' }, analysis: 'leaks', repro: ['leak:leaky_function'], options: { iterations: 2000 }, ...over });
  function tool(reqs: RunRequest[], leaks: LeakRun = memoryOnly): CheckDeps['runProject'] {
    return async (project, req) => {
      reqs.push(req);
      const mount = req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source;
      if (req.argv.includes('/opt/pydbg-run/leakhunt.py')) await writeFile(join(mount, 'leaks.json'), JSON.stringify(leaks));
      else await writeFile(join(mount, 'memcheck.9.xml'), lostXml(FOLLOW_UP_CALLS));
      const t = project.targets[0]!.plan;
      const r: RunResult = { command: req.argv, image: 'x', python: t.version.text, variant: t.spec.variants.join(','), exitCode: 0, signal: null, durationSeconds: 1, extension: { kind: 'none', cached: true, image: 'x', seconds: 0 } };
      return [r];
    };
  }
  const deps = (runProject: CheckDeps['runProject']): Partial<CheckDeps> => ({ runProject, containerUser: async () => '1000:1000', reportsDir: () => join(root, 'reports'), now: () => new Date('2026-01-02T03:04:05Z') });

  it('memory-only growth: memcheck runs on the same image (variant debug) with the repro 100 times, and its loss is folded in', async () => {
    const reqs: RunRequest[] = [];
    const r = await check(input(), io(), deps(tool(reqs)));
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.argv[0]).toBe('valgrind');
    expect(reqs[1]!.argv.slice(-6)).toEqual(['python', '-c', expect.any(String), 'leak', 'leaky_function', '100']);
    expect(reqs[1]!.extraEnv).toMatchObject({ PYTHONMALLOC: 'malloc' }); // the debug image, pymalloc bypassed
    const f = r.report.userFindings.find((x) => x.kind === 'RSSGrowth')!;
    expect(f.message).toMatch(/; memcheck: 1,024 bytes definitely lost per call at leak\.c:7 in leaky_function\(\)$/);
    expect(f.userFrame).toMatchObject({ file: 'leak.c', line: 7 });
    const saved = JSON.parse(await readFile(r.reportPath, 'utf8'));
    expect(saved.userFindings.find((x: Finding) => x.kind === 'RSSGrowth').message).toBe(f.message);
    expect(await readFile(join(r.reportPath, '..', 'memcheck-follow-up', 'report.json'), 'utf8')).toContain('Leak_DefinitelyLost');
  });

  it('memcheck finds nothing lost in the user code: the growth is a note among the interpreter findings, exit 0', async () => {
    const reqs: RunRequest[] = [];
    const clean: CheckDeps['runProject'] = async (project, req) => {
      if (req.argv[0] === 'valgrind') {
        reqs.push(req);
        const mount = req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source;
        await writeFile(join(mount, 'memcheck.9.xml'), '<?xml version="1.0"?>\n<valgrindoutput>\n<protocolversion>4</protocolversion>\n</valgrindoutput>\n');
        const t = project.targets[0]!.plan;
        return [{ command: req.argv, image: 'x', python: t.version.text, variant: 'debug', exitCode: 0, signal: null, durationSeconds: 1, extension: { kind: 'none', cached: true, image: 'x', seconds: 0 } }];
      }
      return tool([])(project, req);
    };
    const r = await check(input(), io(), deps(clean));
    expect(reqs).toHaveLength(1);
    expect(r.report.userFindings).toEqual([]);
    expect(r.report.interpreterFindings.map((f) => [f.kind, f.severity])).toEqual([['RSSGrowth', 'note']]);
    expect(r.exitCode).toBe(0);
  });

  it('--no-follow-up, or a leak Python sees: no second run', async () => {
    const reqs: RunRequest[] = [];
    await check(input({ options: { iterations: 2000, followUp: false } }), io(), deps(tool(reqs)));
    expect(reqs).toHaveLength(1);
    const refs: LeakRun = { ...memoryOnly, rounds: memoryOnly.rounds.map((x) => ({ ...x, refs: 2000, types: { list: 2000 } })) };
    const more: RunRequest[] = [];
    await check(input(), io(), deps(tool(more, refs)));
    expect(more).toHaveLength(1);
  });
});

describe('check leaks → trace-refs follow-up: a refcount growth no gc-counted type explains (orchestration)', () => {
  let root: string;
  let projectDir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pydbg-trace-refs-'));
    projectDir = join(root, 'project');
    await mkdir(projectDir);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const rounds = (types: Record<string, number>) => Array.from({ length: 4 }, () => ({ refs: 1000, blocks: 1000, rss: 0, types }));
  /** the gc counts no type: one str per call leaks, which only sys.getobjects() sees */
  const gcRun: LeakRun = { target: 'strleak:make', iterations: 1000, warmup: 2, error: null, has_refs: true, has_blocks: true, has_tracemalloc: true, type_source: 'gc', rounds: rounds({}) };
  const traceRun: LeakRun = {
    ...gcRun, type_source: 'getobjects', rounds: rounds({ str: 1000 }),
    attribution: { calls: { '': 100 }, groups: [{ window: '', type: 'str', count: 100, sample: "'key-0'", file: null, line: null, function: null, callee: 'strleak.make()', target: true }], callees: [] },
  };
  function tool(reqs: Array<[RunRequest, string]>, second: LeakRun | 'fail' = traceRun): CheckDeps['runProject'] {
    return async (project, req) => {
      const t = project.targets[0]!.plan;
      const variant = t.spec.variants.join(',');
      reqs.push([req, variant]);
      if (variant.includes('trace-refs') && second === 'fail') throw new Error('the debug,trace-refs image for CPython 3.13.5 is not built');
      const mount = req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source;
      await writeFile(join(mount, 'leaks.json'), JSON.stringify(variant.includes('trace-refs') ? second : gcRun));
      return [{ command: req.argv, image: 'x', python: t.version.text, variant, exitCode: 0, signal: null, durationSeconds: 1, extension: { kind: 'none', cached: true, image: 'x', seconds: 0 } }];
    };
  }
  const deps = (runProject: CheckDeps['runProject']): Partial<CheckDeps> => ({ runProject, containerUser: async () => '1000:1000', reportsDir: () => join(root, 'reports'), now: () => new Date('2026-01-02T03:04:05Z') });
  const input = (over: Partial<CheckInput> = {}): CheckInput => ({ project: { projectDir, python: '3.13' }, analysis: 'leaks', repro: ['strleak:make'], options: { iterations: 1000 }, ...over });

  it('the same hunt runs in the debug,trace-refs build; the str it names comes first, with its callee, and the RefLeak says who named it', async () => {
    const reqs: Array<[RunRequest, string]> = [];
    const r = await check(input(), offlineIO(), deps(tool(reqs)));
    expect(reqs.map(([, v]) => v)).toEqual(['debug', 'debug,trace-refs']);
    expect(reqs[1]![0].argv).toEqual(reqs[0]![0].argv);
    expect(r.report.userFindings.map((f) => f.kind)).toEqual(['TypeLeak', 'RefLeak', 'BlockLeak']);
    const t = r.report.userFindings[0]!;
    expect(t.message).toBe('leaks 1 str per call, created by strleak.make() (named in the debug,trace-refs build, which counts every object)');
    expect(t.data).toMatchObject({ type: 'str', sample: "'key-0'", namedBy: 'debug,trace-refs' });
    const ref = r.report.userFindings[1]!;
    expect(ref.data.unnamed).toBeUndefined();
    expect(JSON.stringify(JSON.parse(await readFile(r.reportPath, 'utf8')))).not.toContain('unnamed');
    expect(ref.related.map((x) => x.message)).toEqual([expect.stringMatching(/^named by the trace-refs follow-up \(debug,trace-refs\): str; report: .*trace-refs-follow-up\/report\.json$/)]);
    expect(r.exitCode).toBe(ExitCode.FINDINGS);
    const saved = JSON.parse(await readFile(r.reportPath, 'utf8'));
    expect(saved.userFindings[0].message).toBe(t.message);
  });

  it('the follow-up cannot run (image missing with --no-build): the RefLeak stays, saying why, with the hint to trace-refs', async () => {
    const reqs: Array<[RunRequest, string]> = [];
    const r = await check(input(), offlineIO(), deps(tool(reqs, 'fail')));
    expect(r.report.userFindings.map((f) => f.kind)).toEqual(['RefLeak', 'BlockLeak']);
    const msgs = r.report.userFindings[0]!.related.map((x) => x.message);
    expect(msgs[0]).toBe('trace-refs follow-up could not run: the debug,trace-refs image for CPython 3.13.5 is not built');
    expect(msgs[1]).toMatch(/--variant debug,trace-refs counts every object/);
  });

  it('no second run: --no-follow-up, a type the gc named, a trace-refs build already, the free-threaded build', async () => {
    for (const [over, run] of [
      [{ options: { iterations: 1000, followUp: false } }, gcRun],
      [{}, { ...gcRun, rounds: rounds({ list: 1000 }) }],
    ] as Array<[Partial<CheckInput>, LeakRun]>) {
      const reqs: Array<[RunRequest, string]> = [];
      const first = tool(reqs, traceRun);
      const only: CheckDeps['runProject'] = async (project, req) => {
        const res = await first(project, req);
        await writeFile(join(req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source, 'leaks.json'), JSON.stringify(run));
        return res;
      };
      await check(input(over), offlineIO(), deps(only));
      expect(reqs).toHaveLength(1);
    }
    // even where the build's hunt came out as a gc count (the guards are the build's, not the data's)
    for (const variant of ['debug,trace-refs', 'freethreaded,debug']) {
      const reqs: Array<[RunRequest, string]> = [];
      await check(input({ project: { projectDir, python: '3.13', variant } }), offlineIO(), deps(tool(reqs, gcRun)));
      expect(reqs).toHaveLength(1);
    }
  });
});
