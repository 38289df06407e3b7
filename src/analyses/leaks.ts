import { join } from 'node:path';
import { helper, OUT_MOUNT } from '../container/layout.js';
import { ExitCode, PydbgError, usageError } from '../errors.js';
import { partialReason, type Analysis } from './analysis.js';
import type { Finding } from './types.js';

/** What leakhunt.py writes. */
export interface LeakRun {
  target: string;
  iterations: number;
  warmup: number;
  rounds: Array<{ refs?: number; blocks?: number; traced_blocks?: number; traced_bytes?: number; rss?: number; types: Record<string, number>; checkpoints?: Record<string, CheckpointRound> }>;
  error: string | null;
  has_refs: boolean;
  has_blocks: boolean;
  has_tracemalloc: boolean;
  type_source?: 'gc' | 'getobjects' | 'getcounts';
  /** one extra round with the gc off (3.x): the leaked objects per window, type and allocation site */
  attribution?: Attribution;
  /** the first counted rounds, when they all grew: `rounds` are then as many again, which must grow too */
  unconfirmed_rounds?: LeakRun['rounds'];
}

/** One round's growth inside `with checkpoint(name)` blocks (the measuring's own cost subtracted), summed over its calls. */
export interface CheckpointRound {
  calls: number;
  refs: number;
  blocks: number;
  traced_bytes: number;
  rss: number;
}

/** Leaked objects found in the attribution round: window '' is one call (or run) of the repro; other windows are checkpoints. */
export interface Attribution {
  calls: Record<string, number>;
  groups: Array<{ window: string; type: string; count: number; sample: string; file: string | null; line: number | null; function: string | null; callee: string | null; target: boolean }>;
  callees: Array<{ file: string; line: number; function: string; callee: string }>;
}

/** ", created at repro.py:7 in lookup(), by svc.search()" */
export function createdAt(g: Pick<Attribution['groups'][number], 'file' | 'line' | 'function' | 'callee'>): string {
  const at = g.file ? ` at ${g.file}:${g.line}${g.function && g.function !== '<module>' ? ` in ${g.function}()` : ''}` : '';
  const by = g.callee ? ` by ${g.callee}` : '';
  return at || by ? `, created${at}${at && by ? ',' : ''}${by}` : '';
}

/** The end of a memory-only RSSGrowth message (the memcheck follow-up replaces it with what it found). */
const NOT_PYTHON = ": not from Python's allocators (a C malloc leak? run 'pydbg check memcheck')";
const withoutNotPython = (m: string) => (m.endsWith(NOT_PYTHON) ? m.slice(0, -NOT_PYTHON.length) : m);

const UNNAMED_NOTE = 'str, bytes, int and float objects are never tracked by the gc, so no count names them: --variant debug,trace-refs counts every object (sys.getobjects) and names their type';

/** A metric leaks only when every counted round grows by at least `min` per iteration (regrtest -R style). */
export const THRESHOLDS = { refs: 0.5, blocks: 0.5, traced_blocks: 0.5, type: 0.5, rssBytes: 256 } as const;

export interface LeakSummary {
  perIteration: Record<string, number[]>;
  /** every first counted round grew, so as many more were measured (the findings come from those) */
  confirmationRounds: boolean;
  typeSource: string | undefined;
  rounds: number;
  iterations: number;
}

function perIter(values: Array<number | undefined>, n: number): number[] | undefined {
  if (values.some((v) => v === undefined)) return undefined;
  return (values as number[]).map((v) => v / n);
}

const steady = (xs: number[] | undefined, min: number) => Boolean(xs && xs.length > 0 && xs.every((x) => x >= min));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (x: number) => (Math.abs(x - Math.round(x)) < 0.05 ? String(Math.round(x)) : x.toFixed(2));

/** Pure: turn the measured rounds into findings. The clean case returns none. */
/** `repro`: the script's project path, or null for a module:function target (no file to point at). */
export function analyseLeaks(run: LeakRun, repro: string | null, python?: string): { findings: Finding[]; summary: LeakSummary } {
  const n = run.iterations;
  const per: Record<string, number[]> = {};
  for (const key of ['refs', 'blocks', 'traced_blocks', 'traced_bytes', 'rss'] as const) {
    const xs = perIter(run.rounds.map((r) => r[key]), n);
    if (xs) per[key] = xs;
  }
  const frame = { function: run.target, file: repro, line: null, object: null, inUserCode: true };
  const finding = (kind: string, message: string, severity: Finding['severity'], data: Record<string, number | string>): Finding => ({
    analysis: 'leaks', kind, message, severity, userFrame: frame, frames: [frame], related: [], count: 1, data,
  });
  const unit = run.target.includes(':') ? 'call' : 'run';
  const findings: Finding[] = [];

  // per type: "leaks 1 list per call"
  const typeNames = new Set(run.rounds.flatMap((r) => Object.keys(r.types)));
  const typeLeaks: Array<[string, number]> = [];
  for (const t of typeNames) {
    const xs = run.rounds.map((r) => (r.types[t] ?? 0) / n);
    per[`type:${t}`] = xs;
    if (steady(xs, THRESHOLDS.type)) typeLeaks.push([t, mean(xs)]);
  }
  // the attribution round: leaked objects of the whole repro (window ''), per call, at their site
  const attr = run.attribution;
  const attrCalls = attr?.calls[''] ?? 0;
  const attributed = (attr?.groups ?? []).filter((g) => g.window === '' && attrCalls > 0 && g.count / attrCalls >= THRESHOLDS.type);
  // a type the gc does not count (a tuple of atoms is untracked after a collection; str, int never
  // tracked) is named when its objects leaked in the attribution round AND the refcount grew in every round
  for (const g of attributed) {
    if (!typeLeaks.some(([t]) => t === g.type) && steady(per.refs, THRESHOLDS.refs)) typeLeaks.push([g.type, g.count / attrCalls]);
  }
  typeLeaks.sort((a, b) => b[1] - a[1]);
  for (const [t, m] of typeLeaks) {
    const g = attributed.find((x) => x.type === t);
    const f = finding('TypeLeak', `leaks ${fmt(m)} ${t} per ${unit}${g ? createdAt(g) : ''}`, 'error', { type: t, perIteration: +m.toFixed(3), ...(g ? { sample: g.sample, ...(g.callee ? { callee: g.callee } : {}) } : {}) });
    if (g?.file) {
      const site = { function: g.function, file: g.file, line: g.line, object: null, inUserCode: true };
      f.userFrame = site;
      f.frames = [site];
    }
    if (g) f.related = [{ message: `e.g. ${g.sample}`, frames: [] }];
    findings.push(f);
  }
  if (steady(per.refs, THRESHOLDS.refs)) {
    const ref = finding('RefLeak', `total refcount grows by ${fmt(mean(per.refs!))} per ${unit}`, 'error', { perIteration: +mean(per.refs!).toFixed(3) });
    // the gc counts only container objects: what else leaks (str, bytes, int, float, a tuple of
    // them) is in the refcount but has no name here; trace-refs builds count every object
    if (run.type_source === 'gc') {
      ref.related = [{ message: UNNAMED_NOTE, frames: [] }];
    }
    findings.push(ref);
  }
  const blocks = per.blocks && run.has_blocks && per.blocks.some((x) => x !== 0) ? ['blocks', per.blocks] as const : per.traced_blocks ? ['traced_blocks', per.traced_blocks] as const : undefined;
  if (blocks && steady(blocks[1], THRESHOLDS.blocks)) {
    const bytes = per.traced_bytes && steady(per.traced_bytes, 1) ? `, ${fmt(mean(per.traced_bytes))} bytes` : '';
    findings.push(finding('BlockLeak', `allocated memory blocks grow by ${fmt(mean(blocks[1]))} per ${unit}${bytes}`, 'error', { perIteration: +mean(blocks[1]).toFixed(3), source: blocks[0] }));
  }
  const pythonSeesIt = findings.length > 0;
  if (steady(per.rss, THRESHOLDS.rssBytes)) {
    const m = mean(per.rss!);
    findings.push(
      finding(
        'RSSGrowth',
        `process memory (RSS) grows by ${m >= 1024 ? `${(m / 1024).toFixed(1)} KiB` : `${Math.round(m)} bytes`} per ${unit}${pythonSeesIt ? '' : NOT_PYTHON}`,
        pythonSeesIt ? 'warning' : 'error',
        { perIterationBytes: Math.round(m) },
      ),
    );
    if (!pythonSeesIt) {
      const cmd = memcheckCommand(run, python);
      const f = findings[findings.length - 1]!;
      f.data.memcheck = cmd;
      f.related = [{ message: `refcounts stay flat: memory allocated in C and never freed (a struct left behind on one path?); run: ${cmd}`, frames: [] }];
    }
  }
  // the leaking checkpoints first: they say which call in the user's own code leaks
  findings.unshift(...checkpointFindings(run, repro));
  return { findings, summary: { perIteration: per, confirmationRounds: Boolean(run.unconfirmed_rounds), typeSource: run.type_source, rounds: run.rounds.length, iterations: n } };
}

/**
 * Per checkpoint (`with checkpoint("search"):` in the user's code): a finding when the references
 * or blocks grow per call in every counted round (the same rule as the whole repro), with the
 * types the attribution round saw leak inside it, per call, where they were created. Pure.
 */
export function checkpointFindings(run: LeakRun, repro: string | null): Finding[] {
  const names = new Set(run.rounds.flatMap((r) => Object.keys(r.checkpoints ?? {})));
  const out: Array<[number, Finding]> = [];
  for (const name of names) {
    const rounds = run.rounds.map((r) => r.checkpoints?.[name]);
    if (rounds.some((c) => !c || c.calls === 0)) continue; // not entered in every round: no steady rate
    const cs = rounds as CheckpointRound[];
    const refs = cs.map((c) => c.refs / c.calls);
    const blocks = cs.map((c) => c.blocks / c.calls);
    const leaksRefs = run.has_refs && steady(refs, THRESHOLDS.refs);
    const leaksBlocks = run.has_blocks && steady(blocks, THRESHOLDS.blocks);
    if (!leaksRefs && !leaksBlocks) continue;
    const attrCalls = run.attribution?.calls[name] ?? 0;
    const groups = (run.attribution?.groups ?? []).filter((g) => g.window === name && attrCalls > 0 && g.count / attrCalls >= THRESHOLDS.type).sort((a, b) => b.count - a.count);
    // The in-window numbers also count what the block leaves alive for a while (`text = f()` keeps
    // the result past the block): where the attribution round ran, a window is a leak only when
    // objects created in it outlive the call.
    if (run.attribution && run.attribution.calls[name] !== undefined && groups.length === 0) continue;
    const parts = [
      ...(leaksRefs ? [`${fmt(mean(refs))} reference${fmt(mean(refs)) === '1' ? '' : 's'}`] : []),
      ...(leaksBlocks ? [`${fmt(mean(blocks))} memory block${fmt(mean(blocks)) === '1' ? '' : 's'}`] : []),
    ];
    const types = groups.map((g) => `${fmt(g.count / attrCalls)} ${g.type}${createdAt(g)}`);
    const across = [
      ...(leaksRefs ? [`refcount ${fmt(mean(refs))}`] : []),
      ...(leaksBlocks ? [`blocks ${fmt(mean(blocks))}`] : []),
    ];
    // the numbers are growth across the block (what it leaves alive for a while counts too); the
    // types are what the attribution round saw outlive the call
    const message = types.length
      ? `checkpoint "${name}" leaks ${types.join('; ')} per call (across the block: ${across.join(', ')})`
      : `checkpoint "${name}" leaks ${parts.join(' and ')} per call`;
    const first = groups.find((g) => g.file);
    const frame = first
      ? { function: first.function, file: first.file, line: first.line, object: null, inUserCode: true }
      : { function: `checkpoint("${name}")`, file: repro, line: null, object: null, inUserCode: true };
    const f: Finding = {
      analysis: 'leaks',
      kind: 'CheckpointLeak',
      message,
      severity: 'error',
      userFrame: frame,
      frames: [frame],
      related: groups.map((g) => ({ message: `${g.type}, e.g. ${g.sample}`, frames: [] })),
      count: 1,
      data: {
        checkpoint: name,
        calls: cs.reduce((a, c) => a + c.calls, 0),
        ...(leaksRefs ? { refsPerCall: +mean(refs).toFixed(3) } : {}),
        ...(leaksBlocks ? { blocksPerCall: +mean(blocks).toFixed(3) } : {}),
        ...(groups.length ? { types: groups.map((g) => `${g.type}:${+(g.count / attrCalls).toFixed(3)}`).join(',') } : {}),
      },
    };
    out.push([leaksRefs ? mean(refs) : mean(blocks), f]);
  }
  return out.sort((a, b) => b[0] - a[0]).map(([, f]) => f);
}

/** The exact memcheck command for the same repro (module:function becomes a python -c loop). */
export function memcheckCommand(run: Pick<LeakRun, 'target'>, python?: string, args: string[] = []): string {
  const v = python ? ` --python ${python.split('.').slice(0, 2).join('.')}` : '';
  const m = MODULE_FUNCTION.exec(run.target);
  if (m && !run.target.endsWith('.py')) return `pydbg check memcheck${v} -- python -c "import ${m[1]}; [${m[1]}.${m[2]}() for _ in range(100)]"`;
  return `pydbg check memcheck${v} ${[run.target, ...args].join(' ')}`;
}

/** Calls of module:function in the memcheck follow-up (Valgrind runs the repro ~50× slower). */
export const FOLLOW_UP_CALLS = 100;
const FOLLOW_UP_PROGRAM = 'import importlib,sys; f=getattr(importlib.import_module(sys.argv[1]), sys.argv[2]); [f() for _ in range(int(sys.argv[3]))]';

/** The repro a memcheck follow-up runs: module:function FOLLOW_UP_CALLS times (names as argv), or the script once. */
export function followUpRepro(repro: readonly string[]): { repro: string[]; calls: number; unit: 'call' | 'run' } {
  const [target, ...args] = repro;
  const t = leakTarget(target!);
  if (t.kind === 'script') return { repro: ['python', t.path, ...args], calls: 1, unit: 'run' };
  return { repro: ['python', '-c', FOLLOW_UP_PROGRAM, t.module, t.fn, String(FOLLOW_UP_CALLS)], calls: FOLLOW_UP_CALLS, unit: 'call' };
}

/**
 * Pure: fold what the memcheck follow-up found into the memory-only finding: its definitely-lost
 * blocks in the user's code, per call (or run), at their allocation site; or why it found none.
 */
export function foldFollowUp(
  f: Finding,
  mem: { userFindings: Finding[]; status: string; partialReason?: string; summary?: Record<string, unknown> } | { error: string },
  calls: number,
  unit: 'call' | 'run',
  reportPath?: string,
): 'confirmed' | 'unconfirmed' | 'not run' {
  if ('error' in mem) {
    f.related.push({ message: `memcheck follow-up could not run: ${mem.error}`, frames: [] });
    return 'not run';
  }
  // a block lost once (module init) is not a loss per call: the records that grow with the calls
  const lost = mem.userFindings.filter((x) => x.kind === 'Leak_DefinitelyLost' && x.userFrame && Number(x.data.leakedBlocks ?? calls) >= 0.9 * calls);
  if (!lost.length) {
    const partial = mem.status === 'partial' ? ` (${mem.partialReason})` : '';
    f.related.push({ message: `memcheck follow-up (${calls} ${unit}${calls === 1 ? '' : 's'}): no block lost per ${unit} in your code${partial}${reportPath ? `; report: ${reportPath}` : ''}`, frames: [] });
    if (mem.status === 'partial') return 'not run';
    // memory your code still points to at exit (a cache or registry that grows), or an error in your
    // code: the growth may well be yours; it stays a finding, with what memcheck saw
    const held = ((mem.summary?.heldAtExit as { findings?: Finding[] } | undefined)?.findings ?? []).filter((x) => x.userFrame);
    const other = mem.userFindings.filter((x) => !lost.includes(x));
    if (held.length || other.length) {
      f.related.push(...[...other, ...held].slice(0, 5).map((x) => ({ message: `memcheck: ${x.kind} ${x.message}`, frames: x.frames })));
      return 'not run';
    }
    // nothing Python holds and nothing lost in C: the allocator keeps pages (caches, fragmentation)
    f.severity = 'note';
    f.message = `${withoutNotPython(f.message)}, but no Python object, reference or block explains it and memcheck found no block lost in your code: allocator caches or fragmentation, not a leak of yours ('pydbg check rss' compares allocators)`;
    return 'unconfirmed';
  }
  const per = (b: number) => {
    const x = b / calls;
    return Math.abs(x - Math.round(x)) < 0.05 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1);
  };
  const parts = lost.map((x) => `${per(Number(x.data.leakedBytes ?? 0))} bytes definitely lost per ${unit} at ${x.userFrame!.file}:${x.userFrame!.line}${x.userFrame!.function ? ` in ${x.userFrame!.function}()` : ''}`);
  f.message = `${withoutNotPython(f.message)}; memcheck: ${parts.join('; ')}`;
  f.userFrame = lost[0]!.userFrame;
  f.frames = lost[0]!.frames;
  f.data.followUpBytesPerIteration = +(Number(lost[0]!.data.leakedBytes ?? 0) / calls).toFixed(3);
  f.related = [...lost.map((x) => ({ message: `memcheck: ${x.message}`, frames: x.frames })), ...(reportPath ? [{ message: `memcheck follow-up report: ${reportPath}`, frames: [] }] : [])];
  return 'confirmed';
}

/**
 * Pure: fold what the leak hunt in the trace-refs build (every object counted) found into the
 * RefLeak no gc count named: its TypeLeak findings are added in front of it, said to come from that build.
 */
export function foldTraceRefs(
  ref: Finding,
  follow: { userFindings: Finding[]; status: string; partialReason?: string; variant: string } | { error: string },
  reportPath?: string,
): Finding[] {
  ref.related = ref.related.filter((r) => r.message !== UNNAMED_NOTE);
  if ('error' in follow) {
    ref.related.push({ message: `trace-refs follow-up could not run: ${follow.error}`, frames: [] }, { message: UNNAMED_NOTE, frames: [] });
    return [];
  }
  const types = follow.userFindings.filter((f) => f.kind === 'TypeLeak');
  const where = `${reportPath ? `; report: ${reportPath}` : ''}`;
  if (!types.length) {
    const partial = follow.status === 'partial' ? ` (${follow.partialReason})` : '';
    ref.related.push({ message: `trace-refs follow-up (${follow.variant}, every object counted): no type's count grows with every call${partial}${where}`, frames: [] });
    return [];
  }
  const named = types.map((t) => ({ ...t, message: `${t.message} (named in the ${follow.variant} build, which counts every object)`, data: { ...t.data, namedBy: follow.variant } }));
  ref.related.push({ message: `named by the trace-refs follow-up (${follow.variant}): ${types.map((t) => t.data.type).join(', ')}${where}`, frames: [] });
  return named;
}

/** `pytest ARGS` or `python -m pytest ARGS` (also `pytest` given as python's path): the pytest arguments. */
export function pytestCommand(repro: readonly string[]): string[] | undefined {
  if (repro[0] === 'pytest' || repro[0] === 'py.test') return repro.slice(1);
  if ((repro[0] === 'python' || /^python[23](\.\d+)?$/.test(repro[0] ?? '')) && repro[1] === '-m' && repro[2] === 'pytest') return repro.slice(3);
  return undefined;
}

/** What leakhunt_pytest.py writes. */
export interface PytestLeakRun {
  mode: 'pytest';
  rounds_per_test: number;
  warmup: number;
  iterations: number;
  has_refs: boolean;
  has_blocks: boolean;
  type_source?: LeakRun['type_source'];
  exitstatus: number;
  tests: Record<string, { file: string; line: number | null; rounds: LeakRun['rounds']; error: string | null }>;
}

/** Pure: one finding per leaking test (the same rules as for a repro, per call of the test), worst first. */
export function analysePytestLeaks(run: PytestLeakRun): Finding[] {
  const out: Array<[number, Finding]> = [];
  for (const [nodeid, t] of Object.entries(run.tests)) {
    if (!t.rounds.length) continue;
    const lr: LeakRun = { target: nodeid, iterations: run.iterations, warmup: run.warmup, rounds: t.rounds, error: null, has_refs: run.has_refs, has_blocks: run.has_blocks, has_tracemalloc: false, type_source: run.type_source };
    const { findings, summary } = analyseLeaks(lr, t.file);
    if (!findings.length) continue;
    const frame = { function: nodeid.split('::').slice(1).join('::') || nodeid, file: t.file, line: t.line, object: null, inUserCode: true };
    const refs = summary.perIteration.refs;
    out.push([
      refs ? refs.reduce((a, b) => a + b, 0) / refs.length : 0,
      {
        analysis: 'leaks',
        kind: 'TestLeak',
        message: `${nodeid} ${findings.map((f) => f.message).join('; ')}`,
        severity: 'error',
        userFrame: frame,
        frames: [frame],
        related: findings.flatMap((f) => f.related).filter((r, i, all) => all.findIndex((x) => x.message === r.message) === i),
        count: 1,
        data: { test: nodeid, kinds: findings.map((f) => f.kind).join(',') },
      },
    ]);
  }
  return out.sort((a, b) => b[0] - a[0]).map(([, f]) => f);
}

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const MODULE_FUNCTION = new RegExp(`^(${IDENT}(?:\\.${IDENT})*):(${IDENT})$`);

/** Re-runs module:function under gdb: the names arrive as argv, never as program text. */
export const CALL_PROGRAM = 'import importlib,sys; m=importlib.import_module(sys.argv[1]); getattr(m, sys.argv[2])()';

export type LeakTarget = { kind: 'script'; path: string } | { kind: 'call'; module: string; fn: string };

/** A script (…py, or any path without ':'), or module:function with a dotted module name and a plain function name. */
export function leakTarget(target: string): LeakTarget {
  if (target.endsWith('.py') || !target.includes(':')) return { kind: 'script', path: target };
  const m = MODULE_FUNCTION.exec(target);
  if (!m) {
    throw usageError(`leaks: '${target}' is not module:function (a dotted Python module name, ':', a function name)`, 'e.g. pydbg check leaks mypkg.tests:search, or a script: pydbg check leaks repro.py');
  }
  return { kind: 'call', module: m[1]!, fn: m[2]! };
}

const OUTPUT = 'leaks.json';

export const leaks: Analysis = {
  name: 'leaks',
  tool: 'refcount / allocation / per-type counts',
  summary: 'the refcount hunt: refcounts, allocated blocks, live objects per type and RSS per call, over rounds',
  helpUri: 'https://docs.python.org/3/library/sys.html#sys.gettotalrefcount',
  defaultVariant: 'debug',
  rules: {
    TypeLeak: 'live objects of a type grow with every call',
    RefLeak: 'the total reference count grows with every call',
    BlockLeak: "Python's allocated memory blocks grow with every call",
    RSSGrowth: 'process memory (RSS) grows with every call',
    CheckpointLeak: 'a pydbg_checkpoint block leaks with every call',
    TestLeak: 'a test leaks with every run of it (pytest)',
  },
  unavailable(plan) {
    if (plan.spec.expected.ref_debug) return undefined;
    return {
      message: `leak hunting needs sys.gettotalrefcount(), which the ${plan.spec.variants.join(',')} build does not have (it is not a debug build): pydbg will not report "no leaks" from it`,
      hint: `use --variant debug (or trace-refs for every object type${plan.version.major === 2 || plan.version.minor <= 8 ? ', count-allocs for allocation counts' : ''}) --python ${plan.version.text}`,
    };
  },
  command({ repro, options }) {
    const pytestArgs = pytestCommand(repro);
    if (pytestArgs) {
      return {
        argv: ['python', helper('leakhunt_pytest.py'), `${OUT_MOUNT}/${OUTPUT}`, String(options.rounds ?? 4), String(options.warmup ?? 2), String(options.iterations ?? 2), ...pytestArgs],
        env: {},
        crashArgv: ['python', '-m', 'pytest', ...pytestArgs],
        notes: [],
        outputs: [/^leaks\.json$/],
      };
    }
    const [target, ...args] = repro;
    if (target === undefined) throw usageError('leaks needs a repro: a script, or module:function', 'e.g. pydbg check leaks repro.py, or pydbg check leaks mypkg.tests:search');
    const t = leakTarget(target);
    const iterations = options.iterations ?? (t.kind === 'call' ? 1000 : 20);
    return {
      argv: ['python', helper('leakhunt.py'), `${OUT_MOUNT}/${OUTPUT}`, String(options.rounds ?? 4), String(options.warmup ?? 2), String(iterations), target, ...args],
      env: {},
      crashArgv: t.kind === 'script' ? ['python', t.path, ...args] : ['python', '-c', CALL_PROGRAM, t.module, t.fn],
      notes: [],
      outputs: [/^leaks\.json$/],
    };
  },
  parse(files, { outDir, run, repro, plan }) {
    const report = (userFindings: Finding[], reason: string | undefined, summary: Record<string, unknown>) => ({
      status: reason ? ('partial' as const) : ('complete' as const),
      partialReason: reason,
      userFindings,
      interpreterFindings: [],
      rawFiles: [join(outDir, OUTPUT)],
      summary,
    });
    let data: LeakRun | undefined;
    try {
      data = JSON.parse(files.get(OUTPUT) ?? '') as LeakRun;
    } catch {
      data = undefined;
    }
    const pt = data as unknown as (PytestLeakRun & { missing?: string }) | undefined;
    if (pt?.mode === 'pytest' && pt.missing) {
      throw new PydbgError(ExitCode.ANALYSIS_UNAVAILABLE, `${pt.missing} is not installed in the ${plan.image} environment`, {
        hint: `add it to pydbg.yaml's python_packages (from PyPI, or offline from a wheelhouse: see README, "Real projects")`,
      });
    }
    if (pt?.mode === 'pytest' && pt.tests) {
      const findings = analysePytestLeaks(pt);
      const failed = Object.entries(pt.tests).filter(([, t]) => t.error).map(([id]) => id);
      const reason = failed.length ? `the leak hunt could not run ${failed.length} test(s), which failed: ${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ', …' : ''}` : pt.exitstatus > 1 ? `pytest exited with ${pt.exitstatus} (not a test failure: usage, collection or internal error)` : undefined;
      return report(findings, reason, { tests: Object.keys(pt.tests).length, leaking: findings.length, failed: failed.length, rounds: pt.rounds_per_test, warmup: pt.warmup, iterations: pt.iterations });
    }
    if (!data || !Array.isArray(data.rounds)) {
      throw new PydbgError(ExitCode.TOOL_FAILED, `the leak hunt produced no measurements (the repro exited with ${run.exitCode} before the first round)`, { hint: 'run the repro with pydbg run first' });
    }
    // module:function that does not import or has no such function: a usage problem, not a partial report
    const t = leakTarget(data.target ?? repro[0]!);
    if (t.kind === 'call' && data.rounds.length === 0 && data.error && /^(ModuleNotFoundError|ImportError|AttributeError)\b/.test(data.error)) {
      throw new PydbgError(ExitCode.NOT_FOUND, `leaks: ${t.module}:${t.fn} cannot be called: ${data.error}`, {
        hint: `the module is imported from the project directory (/src) or the extension build; check the name with: pydbg run -- python -c "import ${t.module}; print(${t.module}.${t.fn})"`,
      });
    }
    const { findings, summary } = analyseLeaks(data, repro[0]!.endsWith('.py') ? repro[0]! : null, plan.version.text);
    const reason = data.error ? `the repro failed after ${data.rounds.length} counted round(s): ${data.error}` : partialReason(run);
    return report(findings, reason, summary as unknown as Record<string, unknown>);
  },
};
