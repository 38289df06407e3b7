import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { OUT_MOUNT, SUPPRESSIONS } from '../container/layout.js';
import { ExitCode, PydbgError } from '../errors.js';
import { toProjectPath } from '../exec/crash.js';
import type { BuildPlan } from '../project/plan.js';
import { lookHint, matching, partialReason, reproArgv, type Analysis, type Refusal } from './analysis.js';
import { groupFindings, type Finding, type Frame } from './types.js';

/** Valgrind Memcheck arguments: XML for parsing, a text log for people, version-matched suppressions. */
export function memcheckArgs(outDir: string): string[] {
  return [
    'valgrind',
    '--tool=memcheck',
    '--xml=yes',
    `--xml-file=${outDir}/memcheck.%p.xml`,
    `--log-file=${outDir}/memcheck.%p.log`,
    '--leak-check=full',
    '--show-leak-kinds=definite,indirect,possible',
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

/** Several processes (one XML each) → one list, duplicates grouped, user findings first. */
export function memcheckFindings(parses: MemcheckParse[]): { user: Finding[]; interpreter: Finding[]; complete: boolean; fatalSignal?: string } {
  const all = groupFindings(parses.flatMap((p) => p.findings));
  // still-reachable/possibly-lost memory in the interpreter is normal noise; an error in the user's code never is
  const user = all.filter((f) => f.userFrame !== null && f.kind !== 'Leak_StillReachable');
  const interpreter = all.filter((f) => !user.includes(f));
  const rank = { error: 0, warning: 1, note: 2 } as const;
  user.sort((a, b) => rank[a.severity] - rank[b.severity]);
  return { user, interpreter, complete: parses.every((p) => p.complete), fatalSignal: parses.find((p) => p.fatalSignal)?.fatalSignal };
}

/** Valgrind cannot run ASan builds, and mimalloc (free-threaded) hides every allocation from it. */
export function valgrindUnusable(plan: BuildPlan): Refusal | undefined {
  const e = plan.spec.expected;
  const v = plan.version.text;
  if (e.asan) return { message: `Valgrind cannot run an AddressSanitizer build (variant ${plan.spec.variants.join(',')})`, hint: `use 'pydbg check asan' for this variant, or --variant nopymalloc --python ${v}` };
  if (e.gil_disabled) return { message: 'the free-threaded build allocates with mimalloc and rejects PYTHONMALLOC=malloc: Valgrind results would be noise', hint: `use --variant nopymalloc --python ${v}` };
  return undefined;
}

/** On a build with pymalloc, bypass it (3.x) so Valgrind sees every allocation. */
export function valgrindEnv(plan: BuildPlan): { env: Record<string, string>; notes: string[] } {
  const e = plan.spec.expected;
  const env: Record<string, string> = {};
  const notes: string[] = [];
  if (e.with_pymalloc && !e.with_valgrind) {
    if (plan.version.major >= 3) {
      env.PYTHONMALLOC = 'malloc';
      notes.push('PYTHONMALLOC=malloc: pymalloc bypassed so Memcheck sees every allocation');
    } else notes.push('CPython 2.7 with pymalloc: the suppressions hide pymalloc noise, but the nopymalloc variant is more precise');
  }
  return { env, notes };
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
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: m.user,
      interpreterFindings: m.interpreter,
      rawFiles: names.map((f) => join(outDir, f)),
      summary: { processes: xmls.length },
    };
  },
};
