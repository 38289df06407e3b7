import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { cmpMinor } from '../catalogue/versions.js';
import { OUT_MOUNT, SUPPRESSIONS } from '../container/layout.js';
import { ExitCode, PydbgError } from '../errors.js';
import { toProjectPath } from '../exec/crash.js';
import type { VariantPlan } from '../project/plan.js';
import { lookHint, matching, partialReason, reproArgv, type Analysis, type Refusal } from './analysis.js';
import { frameText, groupFindings, type Finding, type Frame } from './types.js';

/** Valgrind Memcheck arguments: XML for parsing, a text log for people, version-matched suppressions. */
export function memcheckArgs(outDir: string): string[] {
  return [
    'valgrind',
    '--tool=memcheck',
    '--xml=yes',
    `--xml-file=${outDir}/memcheck.%p.xml`,
    `--log-file=${outDir}/memcheck.%p.log`,
    '--leak-check=full',
    // every kind, so that what is still held at exit can be counted (it never fails a run)
    '--show-leak-kinds=all',
    '--errors-for-leak-kinds=definite',
    '--track-origins=yes',
    '--num-callers=40',
    '--child-silent-after-fork=yes',
    `--suppressions=${SUPPRESSIONS}`,
  ];
}

const LEAK_SEVERITY: Record<string, Finding['severity']> = {
  Leak_DefinitelyLost: 'error',
  Leak_IndirectlyLost: 'warning',
  Leak_PossiblyLost: 'note',
  Leak_StillReachable: 'note',
};

interface XFrame { ip?: string; obj?: string; fn?: string; dir?: string; file?: string; line?: string | number }
interface XError {
  kind: string;
  what?: string;
  xwhat?: { text?: string; leakedbytes?: string | number; leakedblocks?: string | number };
  stack?: Array<{ frame?: XFrame[] }>;
  auxwhat?: string[];
}

export interface MemcheckParse {
  findings: Finding[];
  complete: boolean;
  fatalSignal?: string;
}

/**
 * Parse one Memcheck XML file (protocol 4). A file cut short (valgrind or the repro killed) is
 * repaired up to its last complete <error> and reported as incomplete.
 */
export function parseMemcheckXml(xml: string): MemcheckParse {
  let text = xml;
  const complete = /<\/valgrindoutput>\s*$/.test(xml);
  if (!complete) {
    const cut = text.lastIndexOf('</error>');
    text = `${cut >= 0 ? text.slice(0, cut + '</error>'.length) : text.slice(0, text.indexOf('<error>') >= 0 ? text.indexOf('<error>') : text.length)}\n</valgrindoutput>\n`;
  }
  const parser = new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    isArray: (name) => ['error', 'frame', 'stack', 'auxwhat'].includes(name),
  });
  const doc = parser.parse(text) as { valgrindoutput?: { error?: XError[]; fatal_signal?: { signame?: string } } };
  const root = doc.valgrindoutput ?? {};
  const findings: Finding[] = [];
  for (const e of root.error ?? []) {
    const stacks = (e.stack ?? []).map((s) => (s.frame ?? []).map(toFrame));
    const frames = stacks[0] ?? [];
    const message = (e.what ?? e.xwhat?.text ?? e.kind).trim();
    const data: Record<string, number | string> = {};
    if (e.xwhat?.leakedbytes !== undefined) data.leakedBytes = Number(e.xwhat.leakedbytes);
    if (e.xwhat?.leakedblocks !== undefined) data.leakedBlocks = Number(e.xwhat.leakedblocks);
    const aux = e.auxwhat ?? [];
    findings.push({
      analysis: 'memcheck',
      kind: e.kind,
      message,
      severity: LEAK_SEVERITY[e.kind] ?? 'error',
      userFrame: frames.find((f) => f.inUserCode) ?? null,
      frames,
      related: aux.map((m, i) => ({ message: String(m), frames: stacks[i + 1] ?? [] })),
      count: 1,
      data,
    });
  }
  return { findings, complete, fatalSignal: root.fatal_signal?.signame };
}

function toFrame(f: XFrame): Frame {
  const full = f.file ? (f.dir ? `${f.dir}/${f.file}` : f.file) : null;
  const mapped = toProjectPath(full);
  const objMapped = toProjectPath(f.obj ?? null);
  return {
    function: f.fn ?? null,
    file: mapped.file,
    line: f.line !== undefined ? Number(f.line) : null,
    object: f.obj ?? null,
    inUserCode: mapped.user || (mapped.file === null && objMapped.user),
  };
}

/**
 * Leak kinds that fail a run when the block was allocated from the user's code. Only definitely
 * lost: no pointer to the block is left, whatever the process does next. Indirectly lost blocks hang
 * off definitely lost ones (fixing those fixes them; when the root is the user's, it already fails
 * the run); possibly lost and still reachable blocks are still referenced when the interpreter
 * exits (module state, caches, objects kept for the life of the process, and CPython's object
 * pointers point inside their malloc blocks, past the GC header, so live objects look "possibly"
 * lost): not defects unless they grow with the work done.
 */
export const FAILING_LEAK_KINDS: ReadonlySet<string> = new Set(['Leak_DefinitelyLost']);

/** Kinds of blocks still allocated at exit that are counted apart, never findings. */
export const HELD_AT_EXIT_KINDS = ['Leak_IndirectlyLost', 'Leak_PossiblyLost', 'Leak_StillReachable'] as const;

export interface HeldCount {
  /** loss records (after grouping identical ones: same kind, same first frame in the user's code or top frame) */
  records: number;
  bytes: number;
  blocks: number;
}

/** What was still allocated at exit, by Memcheck leak kind; only kinds with blocks appear. */
export type HeldCounts = Partial<Record<(typeof HELD_AT_EXIT_KINDS)[number], HeldCount>>;

export interface HeldAtExit {
  /** blocks allocated from the user's code */
  yourCode: HeldCounts;
  /** blocks allocated by the interpreter and libraries */
  elsewhere: HeldCounts;
  /** the loss records from the user's code, biggest first (not findings: they do not fail the run) */
  findings: Finding[];
}

export interface MemcheckFindings {
  /** findings that fail the run: errors, and definitely lost blocks, with a frame in the user's code */
  user: Finding[];
  /** errors and leaks without a frame in the user's code (still-reachable blocks are only counted) */
  interpreter: Finding[];
  heldAtExit: HeldAtExit;
  complete: boolean;
  fatalSignal?: string;
}

const isHeld = (kind: string) => (HELD_AT_EXIT_KINDS as readonly string[]).includes(kind);

function count(into: HeldCounts, f: Finding) {
  const k = f.kind as keyof HeldCounts;
  const c = (into[k] ??= { records: 0, bytes: 0, blocks: 0 });
  c.records += 1;
  c.bytes += Number(f.data.leakedBytes ?? 0);
  c.blocks += Number(f.data.leakedBlocks ?? 0);
}

/** Several processes (one XML each) → one list, duplicates grouped, user findings first. */
export function memcheckFindings(parses: MemcheckParse[]): MemcheckFindings {
  const all = groupFindings(parses.flatMap((p) => p.findings));
  const user: Finding[] = [];
  const interpreter: Finding[] = [];
  const heldAtExit: HeldAtExit = { yourCode: {}, elsewhere: {}, findings: [] };
  for (const f of all) {
    const mine = f.userFrame !== null;
    if (isHeld(f.kind)) {
      count(mine ? heldAtExit.yourCode : heldAtExit.elsewhere, f);
      if (mine) heldAtExit.findings.push(f);
      // the interpreter's still-reachable blocks (hundreds at exit) are only counted
      else if (f.kind !== 'Leak_StillReachable') interpreter.push(f);
    } else if (mine && (!f.kind.startsWith('Leak_') || FAILING_LEAK_KINDS.has(f.kind))) user.push(f);
    else interpreter.push(f);
  }
  const rank = { error: 0, warning: 1, note: 2 } as const;
  user.sort((a, b) => rank[a.severity] - rank[b.severity]);
  heldAtExit.findings.sort((a, b) => Number(b.data.leakedBytes ?? 0) - Number(a.data.leakedBytes ?? 0));
  return { user, interpreter, heldAtExit, complete: parses.every((p) => p.complete), fatalSignal: parses.find((p) => p.fatalSignal)?.fatalSignal };
}

const KIND_WORDS: Record<string, string> = { Leak_IndirectlyLost: 'indirectly lost', Leak_PossiblyLost: 'possibly lost', Leak_StillReachable: 'still reachable' };
const num = (n: number) => n.toLocaleString('en-US');
const amount = (c: { bytes: number; blocks: number }) => `${num(c.bytes)} bytes in ${num(c.blocks)} block${c.blocks === 1 ? '' : 's'}`;
const countsText = (c: HeldCounts) =>
  HELD_AT_EXIT_KINDS.filter((k) => c[k]).map((k) => `${KIND_WORDS[k]} ${amount(c[k]!)}`).join(', ') || 'nothing';

/** The text report's lines about what was still allocated at exit (undefined when nothing was). */
export function heldAtExitText(h: HeldAtExit, top = 5): string | undefined {
  const mine = Object.keys(h.yourCode).length > 0;
  if (!mine && !Object.keys(h.elsewhere).length) return undefined;
  const elsewhere = `elsewhere (interpreter, libraries): ${countsText(h.elsewhere)}`;
  if (!mine) return `  still allocated at exit (not findings): nothing from your code; ${elsewhere}`;
  const lines = [
    '  still allocated at exit (not findings: module state, caches and objects kept for the life of the',
    '  interpreter are not defects unless they grow with the work the repro does; --json: summary.heldAtExit):',
    `    from your code: ${countsText(h.yourCode)}`,
  ];
  for (const f of h.findings.slice(0, top)) {
    const blocks = { bytes: Number(f.data.leakedBytes ?? 0), blocks: Number(f.data.leakedBlocks ?? 0) };
    lines.push(`      ${amount(blocks)} ${KIND_WORDS[f.kind] ?? f.kind}, allocated from ${frameText(f.userFrame)}`);
  }
  if (h.findings.length > top) lines.push(`      … and ${h.findings.length - top} more`);
  if (h.yourCode.Leak_IndirectlyLost) lines.push('      (indirectly lost blocks are reachable only from definitely lost ones: fix those and they go too)');
  lines.push(`    ${elsewhere}`);
  return lines.join('\n');
}

/** Valgrind cannot run ASan builds, and mimalloc (free-threaded) hides every allocation from it. */
export function valgrindUnusable(plan: VariantPlan): Refusal | undefined {
  const e = plan.spec.expected;
  const v = plan.version.text;
  if (e.asan) return { message: `Valgrind cannot run an AddressSanitizer build (variant ${plan.spec.variants.join(',')})`, hint: `use 'pydbg check asan' for this variant, or --variant nopymalloc --python ${v}` };
  if (e.gil_disabled) return { message: 'the free-threaded build allocates with mimalloc and rejects PYTHONMALLOC=malloc: Valgrind results would be noise', hint: `use --variant nopymalloc --python ${v}` };
  return undefined;
}

/**
 * Under Valgrind every PyMem_* and PyObject_* block must be a plain malloc block. pymalloc carves
 * small blocks out of its own arenas; the memory debug hooks (on by default in debug builds, the
 * nopymalloc variant included: its allocator is malloc_debug) put each block between pad bytes
 * inside a bigger malloc block and fill it with 0xCD, so a write just before or after the block
 * lands in a pad (Valgrind sees nothing; the run aborts later, at the free, in
 * _PyMem_DebugCheckAddress) and a read of uninitialised memory reads the fill. PYTHONMALLOC=malloc
 * (3.6+) uses malloc for every domain *without* the hooks, on debug builds too (malloc_debug would
 * keep them). The free-threaded build rejects it (mimalloc): valgrindUnusable refuses that build.
 */
export function valgrindEnv(plan: VariantPlan): { env: Record<string, string>; notes: string[] } {
  const e = plan.spec.expected;
  const v = plan.version;
  if (e.gil_disabled) return { env: {}, notes: [] };
  if (v.major >= 3 && cmpMinor(v, '3.6') >= 0) {
    const off: string[] = [];
    if (e.with_pymalloc) off.push('pymalloc bypassed');
    if (e.mem_debug_hooks) off.push("the memory debug hooks off (their pad bytes would hide a write just outside a block from Valgrind until the free aborts, their 0xCD fill would hide uninitialised reads; 'pydbg check pymalloc-debug' runs with them)");
    return { env: { PYTHONMALLOC: 'malloc' }, notes: [`PYTHONMALLOC=malloc: ${off.length ? `${off.join('; ')}: ` : ''}every PyMem/PyObject block is a plain malloc block Valgrind sees`] };
  }
  if (!e.with_pymalloc && !e.mem_debug_hooks) return { env: {}, notes: [] }; // 2.7 nopymalloc: plain malloc blocks already
  const kept = [e.with_pymalloc && 'pymalloc', e.mem_debug_hooks && 'the memory debug hooks'].filter((x): x is string => Boolean(x)).join(' and ');
  const instead = e.with_pymalloc ? `; use --variant nopymalloc --python ${v.text}, where every block is a plain malloc block` : '';
  return { env: {}, notes: [`CPython ${v.text} has no PYTHONMALLOC: ${kept} ${kept.includes(' and ') ? 'stay' : 'stays'} on, so a write just outside a PyMem/PyObject block can stay invisible to Valgrind (the suppressions only hide pymalloc's own noise)${instead}`] };
}

const OUTPUTS = /^memcheck\.\d+\.(xml|log)$/;

export const memcheck: Analysis = {
  name: 'memcheck',
  tool: 'valgrind memcheck',
  summary: 'Valgrind Memcheck: invalid reads/writes, uninitialised values, leaks, at file:line in your code',
  helpUri: 'https://valgrind.org/docs/manual/mc-manual.html',
  defaultVariant: 'nopymalloc',
  rules: {
    InvalidRead: 'read of memory outside any live heap block',
    InvalidWrite: 'write to memory outside any live heap block',
    InvalidFree: 'free of memory that is not the start of a live heap block',
    MismatchedFree: 'memory freed with a deallocator that does not match its allocator',
    InvalidJump: 'jump to an invalid address',
    UninitCondition: 'a conditional jump or move depends on uninitialised memory',
    UninitValue: 'use of an uninitialised value',
    SyscallParam: 'a system call parameter is uninitialised or unaddressable',
    Overlap: 'source and destination of a memory copy overlap',
    FishyValue: 'an implausible argument to an allocation function',
    Leak_DefinitelyLost: 'heap memory no pointer refers to any more (definitely lost)',
    Leak_IndirectlyLost: 'heap memory reachable only from definitely lost blocks',
    Leak_PossiblyLost: 'heap memory reachable only through interior pointers',
    Leak_StillReachable: 'heap memory still referenced at exit',
  },
  unavailable: valgrindUnusable,
  command({ plan, repro }) {
    const { env, notes } = valgrindEnv(plan);
    const argv = reproArgv(repro);
    return { argv: [...memcheckArgs(OUT_MOUNT), ...argv], env, crashArgv: argv, notes, outputs: [OUTPUTS] };
  },
  parse(files, { outDir, run }) {
    const names = matching(files, OUTPUTS);
    const xmls = names.filter((f) => f.endsWith('.xml'));
    if (xmls.length === 0) {
      throw new PydbgError(ExitCode.TOOL_FAILED, 'valgrind wrote no XML report: it did not start, or crashed at once', { hint: lookHint(files, outDir) });
    }
    const m = memcheckFindings(xmls.map((f) => parseMemcheckXml(files.get(f)!)));
    let reason = partialReason(run);
    if (!m.complete) reason = `valgrind's report was cut short${m.fatalSignal ? ` (${m.fatalSignal})` : ''}; findings gathered so far are shown`;
    const held = heldAtExitText(m.heldAtExit);
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: m.user,
      interpreterFindings: m.interpreter,
      rawFiles: names.map((f) => join(outDir, f)),
      summary: { processes: xmls.length, heldAtExit: m.heldAtExit },
      ...(held ? { summaryText: held } : {}),
    };
  },
};
