import { XMLParser } from 'fast-xml-parser';
import { toProjectPath } from '../exec/crash.js';
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
    '--suppressions=/opt/pydbg/valgrind-python.supp',
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
