/** Findings and reports shared by every analysis (documented in README: "Report schema"). */
export interface Frame {
  function: string | null;
  /** project-relative for the user's code; checkout-relative for CPython's sources */
  file: string | null;
  line: number | null;
  object: string | null;
  inUserCode: boolean;
}

export interface Finding {
  analysis: string;
  /** e.g. InvalidWrite, UninitCondition, Leak_DefinitelyLost, RefLeak, TypeLeak, RSSGrowth */
  kind: string;
  message: string;
  severity: 'error' | 'warning' | 'note';
  /** the first frame in the user's extension: what a person would otherwise dig out by hand */
  userFrame: Frame | null;
  frames: Frame[];
  /** secondary stacks ("Address … is 20 bytes after a block of size 20 alloc'd") */
  related: Array<{ message: string; frames: Frame[] }>;
  /** how many identical findings were grouped into this one */
  count: number;
  data: Record<string, number | string>;
}

export type ReportStatus = 'complete' | 'partial';

export interface AnalysisReport {
  schema: 'pydbg.report/1';
  analysis: string;
  tool: string;
  python: string;
  variant: string;
  command: string[];
  status: ReportStatus;
  /** why the report is partial */
  partialReason?: string;
  /** the repro's own exit code under the tool */
  reproExitCode: number;
  userFindings: Finding[];
  interpreterFindings: Finding[];
  /** raw tool output kept next to the report */
  rawFiles: string[];
  /** analysis-specific summary (e.g. per-round leak numbers, the heap profile) */
  summary: Record<string, unknown>;
  /** the summary as a short table for people (massif, pymalloc-stats) */
  summaryText?: string;
}

export const frameText = (f: Frame | null): string =>
  f ? `${f.function ?? '??'}${f.file ? ` (${f.file}${f.line ? `:${f.line}` : ''})` : f.object ? ` (${f.object})` : ''}` : 'no frame';

/** Where a finding is, for people: the user's file:line (function), else its top frame. */
export function findingWhere(f: Finding): string {
  const u = f.userFrame;
  if (!u) return frameText(f.frames[0] ?? null);
  return `${u.file ?? '?'}${u.line ? `:${u.line}` : ''}${u.function && u.file !== u.function ? ` (${u.function})` : ''}`;
}

/** Group identical findings (same kind, same user frame or top frame, same message shape). */
export function groupFindings(findings: Finding[]): Finding[] {
  const out = new Map<string, Finding>();
  for (const f of findings) {
    const anchor = f.userFrame ?? f.frames[0] ?? null;
    const key = `${f.kind}|${anchor?.function}|${anchor?.file}|${anchor?.line}|${f.message.replace(/0x[0-9a-fA-F]+|\d[\d,]*/g, '#')}`;
    const seen = out.get(key);
    if (!seen) {
      out.set(key, { ...f, data: { ...f.data } });
      continue;
    }
    seen.count += f.count;
    for (const [k, v] of Object.entries(f.data)) {
      if (typeof v === 'number' && typeof seen.data[k] === 'number') seen.data[k] = (seen.data[k] as number) + v;
    }
  }
  return [...out.values()];
}
