import { PYDBG_VERSION } from '../version.js';
import { findAnalysis } from '../analyses/registry.js';
import { frameText, type AnalysisReport, type Finding } from '../analyses/types.js';

const PYDBG_URI = 'https://github.com/pydbg/pydbg';

/** Text: a short table, then the first user frame and the stack head of each finding. */
export function textReport(r: AnalysisReport): string {
  const lines: string[] = [];
  const head = `pydbg check ${r.analysis}: CPython ${r.python} ${r.variant}, ${r.command.join(' ')}`;
  lines.push(head);
  if (r.status === 'partial') lines.push(`  PARTIAL: ${r.partialReason ?? 'the analysis did not finish'}`);
  if (r.userFindings.length === 0) {
    lines.push(`  no findings in your code${r.interpreterFindings.length ? ` (${r.interpreterFindings.length} in the interpreter or libraries, not shown; see --json)` : ''}`);
  } else {
    lines.push(`  ${r.userFindings.length} finding(s) in your code${r.interpreterFindings.length ? `, ${r.interpreterFindings.length} elsewhere (see --json)` : ''}:`);
    const rows = r.userFindings.map((f) => [f.kind, where(f), f.count > 1 ? `×${f.count}` : '', f.message]);
    const w = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]!.length)));
    for (const row of rows) lines.push(`  ${row[0]!.padEnd(w[0]!)}  ${row[1]!.padEnd(w[1]!)}  ${row[2]!.padEnd(w[2]!)}  ${row[3]}`);
    for (const f of r.userFindings) {
      if (f.frames.length <= 1 && f.related.length === 0) continue;
      lines.push('', `  ${f.kind} at ${where(f)}: ${f.message}`);
      lines.push(...stackLines(f.frames, 6));
      for (const rel of f.related) {
        lines.push(`    ${rel.message}`);
        lines.push(...stackLines(rel.frames, 4));
      }
    }
  }
  if (r.summaryText) lines.push('', r.summaryText);
  if (r.rawFiles.length) lines.push('', `  raw output: ${r.rawFiles.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The first `n` frames; when the first frame in the user's code is further down (a use after free
 * seen in strlen, freed in object_dealloc), the frames skipped are counted and that frame and its
 * caller shown too: the user's line is never cut off.
 */
export function stackLines(frames: Finding['frames'], n: number): string[] {
  const line = (fr: Finding['frames'][number]) => `      ${fr.inUserCode ? '>' : ' '} ${frameText(fr)}`;
  const out = frames.slice(0, n).map(line);
  const user = frames.findIndex((fr) => fr.inUserCode);
  if (user >= n) {
    if (user > n) out.push(`        … ${user - n} frame${user - n === 1 ? '' : 's'} …`);
    out.push(...frames.slice(user, user + 2).map(line));
  }
  return out;
}

function where(f: Finding): string {
  const u = f.userFrame;
  if (!u) return frameText(f.frames[0] ?? null);
  return `${u.file ?? '?'}${u.line ? `:${u.line}` : ''}${u.function && u.file !== u.function ? ` (${u.function})` : ''}`;
}

export function jsonReport(r: AnalysisReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** SARIF 2.1.0, locations relative to the project (uriBaseId %SRCROOT%), as GitHub code scanning expects. */
export function sarifReport(reports: AnalysisReport[]): string {
  const runs = reports.map((r) => {
    // rule text and the manual page come from the analysis that made the report
    const def = findAnalysis(r.analysis);
    const helpUri = def?.helpUri ?? `${PYDBG_URI}#analyses-pydbg-check`;
    const rules = [...new Set(r.userFindings.map((f) => f.kind))].map((id) => ({
      id,
      name: id,
      shortDescription: { text: def?.rules?.[id] ?? r.userFindings.find((f) => f.kind === id)!.message.replace(/\d[\d,.]*/g, 'N') },
      ...(def ? { fullDescription: { text: def.summary } } : {}),
      helpUri,
      help: { text: `${def?.tool ?? r.tool}: see ${helpUri}` },
    }));
    return {
      tool: { driver: { name: `pydbg ${r.analysis}`, fullName: `pydbg ${r.analysis} (${r.tool})`, version: PYDBG_VERSION, informationUri: PYDBG_URI, rules } },
      originalUriBaseIds: { SRCROOT: { uri: 'file:///src/' } },
      results: r.userFindings.map((f) => ({
        ruleId: f.kind,
        level: f.severity === 'note' ? 'note' : f.severity,
        message: { text: `${f.message}${f.count > 1 ? ` (×${f.count})` : ''}` },
        locations: f.userFrame?.file ? [location(f.userFrame.file, f.userFrame.line, f.userFrame.function)] : [],
        stacks: [{ frames: f.frames.filter((fr) => fr.file).slice(0, 20).map((fr) => ({ location: location(fr.file!, fr.line, fr.function, fr.inUserCode) })) }],
        partialFingerprints: { pydbgFinding: `${f.kind}:${f.userFrame?.file}:${f.userFrame?.function}` },
      })),
      invocations: [{ executionSuccessful: r.status === 'complete', commandLine: r.command.join(' ') }],
    };
  });
  return `${JSON.stringify({ $schema: 'https://json.schemastore.org/sarif-2.1.0.json', version: '2.1.0', runs }, null, 2)}\n`;
}

function location(file: string, line: number | null, fn: string | null, relative = true) {
  const physical: Record<string, unknown> = {
    artifactLocation: relative ? { uri: file, uriBaseId: 'SRCROOT' } : { uri: file },
  };
  if (line) physical.region = { startLine: line };
  return { physicalLocation: physical, ...(fn ? { logicalLocations: [{ name: fn, kind: 'function' }] } : {}) };
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JUnit: one test case per finding in the user's code; one passing case per clean repro. */
export function junitReport(reports: AnalysisReport[]): string {
  const suites = reports.map((r) => {
    const cases = r.userFindings.length
      ? r.userFindings.map((f) => {
          const body = [f.message, ...f.frames.slice(0, 10).map((fr) => `  at ${frameText(fr)}`)].join('\n');
          return `    <testcase classname="pydbg.${xml(r.analysis)}" name="${xml(`${f.kind} at ${where(f)}`)}"><failure message="${xml(f.message)}" type="${xml(f.kind)}">${xml(body)}</failure></testcase>`;
        })
      : [`    <testcase classname="pydbg.${xml(r.analysis)}" name="${xml(r.command.join(' '))}"${r.status === 'partial' ? `><error message="${xml(r.partialReason ?? 'partial')}"/></testcase>` : '/>'}`];
    const failures = r.userFindings.length;
    const errors = r.status === 'partial' && failures === 0 ? 1 : 0;
    return `  <testsuite name="pydbg ${xml(r.analysis)} (CPython ${xml(r.python)} ${xml(r.variant)})" tests="${cases.length}" failures="${failures}" errors="${errors}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${suites.join('\n')}\n</testsuites>\n`;
}
