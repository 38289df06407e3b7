import { PYDBG_VERSION } from '../version.js';
import { findAnalysis } from '../analyses/registry.js';
import { findingWhere, frameText, type AnalysisReport, type Finding } from '../analyses/types.js';
import type { CellResult, MatrixResult } from '../analyses/matrix.js';

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

const where = findingWhere;

export function jsonReport(r: AnalysisReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** A matrix cell as SARIF and JUnit name it. */
export type CellTag = Pick<CellResult, 'id' | 'python' | 'variant' | 'arch'>;

const cellLabel = (c: CellTag) => `${c.python} ${c.variant} ${c.arch}`;

/**
 * SARIF 2.1.0, locations relative to the project (uriBaseId %SRCROOT%), as GitHub code scanning
 * expects. With `cells` (a matrix: cells[i] made reports[i]) each run has its own category
 * (automationDetails.id `pydbg/ANALYSIS/CELL/`: GitHub keeps one result set per category) and
 * the cell in its properties.
 */
export function sarifReport(reports: AnalysisReport[], cells?: readonly CellTag[]): string {
  const runs = reports.map((r, i) => {
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
      ...(cells?.[i] ? cellRun(r, cells[i]) : {}),
    };
  });
  return `${JSON.stringify({ $schema: 'https://json.schemastore.org/sarif-2.1.0.json', version: '2.1.0', runs }, null, 2)}\n`;
}

function cellRun(r: AnalysisReport, c: CellTag) {
  return {
    automationDetails: { id: `pydbg/${r.analysis}/${c.id}/` },
    properties: { cell: { id: c.id, python: c.python, variant: c.variant, arch: c.arch, cpython: r.python } },
  };
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
  return junitDocument(reports.map((r) => junitSuite(r)));
}

const junitDocument = (suites: string[]) => `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${suites.join('\n')}\n</testsuites>\n`;

/** One report's suite; in a matrix its name and its cases' names carry the cell. */
function junitSuite(r: AnalysisReport, cell?: CellTag): string {
  const tag = cell ? ` [${xml(cellLabel(cell))}]` : '';
  const cases = r.userFindings.length
    ? r.userFindings.map((f) => {
        const body = [f.message, ...f.frames.slice(0, 10).map((fr) => `  at ${frameText(fr)}`)].join('\n');
        return `    <testcase classname="pydbg.${xml(r.analysis)}" name="${xml(`${f.kind} at ${where(f)}`)}${tag}"><failure message="${xml(f.message)}" type="${xml(f.kind)}">${xml(body)}</failure></testcase>`;
      })
    : [`    <testcase classname="pydbg.${xml(r.analysis)}" name="${xml(r.command.join(' '))}${tag}"${r.status === 'partial' ? `><error message="${xml(r.partialReason ?? 'partial')}"/></testcase>` : '/>'}`];
  const failures = r.userFindings.length;
  const errors = r.status === 'partial' && failures === 0 ? 1 : 0;
  return `  <testsuite name="pydbg ${xml(r.analysis)}${tag} (CPython ${xml(r.python)} ${xml(r.variant)})" tests="${cases.length}" failures="${failures}" errors="${errors}">\n${cases.join('\n')}\n  </testsuite>`;
}

/** A matrix: one suite per cell (a failed cell without a report: an error; a skipped cell: skipped, with the reason). */
export function matrixJunit(m: MatrixResult): string {
  const command = xml(m.command.join(' '));
  return junitDocument(
    m.cells.map((c) => {
      if (c.report) return junitSuite(c.report, c);
      const name = `pydbg ${xml(m.analysis)} [${xml(cellLabel(c))}]`;
      const inner = c.status === 'skipped' ? `<skipped message="${xml(c.reason ?? '')}"/>` : `<error message="${xml(c.reason ?? 'failed')}" type="exit ${c.exitCode ?? ''}"/>`;
      const counts = c.status === 'skipped' ? 'failures="0" errors="0" skipped="1"' : 'failures="0" errors="1"';
      return `  <testsuite name="${name}" tests="1" ${counts}>\n    <testcase classname="pydbg.${xml(m.analysis)}" name="${command} [${xml(cellLabel(c))}]">${inner}</testcase>\n  </testsuite>`;
    }),
  );
}

/** The matrix as JSON (schema pydbg.matrix/1). */
export function matrixJson(m: MatrixResult): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** SARIF for a matrix: one run per cell with a report, each under its own category. */
export function matrixSarif(m: MatrixResult): string {
  const ran = m.cells.filter((c) => c.report);
  return sarifReport(ran.map((c) => c.report!), ran);
}

/**
 * A matrix as text: one table, each finding in the user's code (by fingerprint) × each cell
 * (`×N` present, `-` absent; `skipped`, `failed`), then what happened in each cell.
 */
export function matrixText(m: MatrixResult): string {
  const ran = m.cells.filter((c) => c.status !== 'skipped').length;
  const failed = m.cells.filter((c) => c.status === 'failed').length;
  const counts = [`${ran - failed} ran`, ...(failed ? [`${failed} failed`] : []), ...(ran < m.cells.length ? [`${m.cells.length - ran} skipped`] : [])];
  const lines = [`pydbg check ${m.analysis}: ${m.cells.length} cells (${counts.join(', ')}), ${m.command.join(' ')}`];
  if (m.rows.length === 0) lines.push(`  no findings in your code in any cell${ran ? '' : ' (none ran)'}`);
  else {
    lines.push(`  ${m.rows.length} finding(s) in your code:`);
    const entry = (c: CellResult, counts: Record<string, number>) => {
      const n = counts[c.id];
      if (n === undefined) return c.status === 'skipped' ? 'skipped' : 'failed';
      return n > 0 ? `×${n}` : '-';
    };
    const table = [['KIND', 'WHERE', ...m.cells.map(cellLabel), 'MESSAGE'], ...m.rows.map((r) => [r.kind, r.where, ...m.cells.map((c) => entry(c, r.counts)), r.message])];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) lines.push(`  ${row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')}`);
  }
  // each cell: what happened, then its report (or why it did not run), then why it failed and notes
  lines.push('', '  cells:');
  const status = (c: CellResult) => (c.status === 'ran' ? (c.exitCode === 0 ? 'clean' : `findings (exit ${c.exitCode})`) : c.status === 'failed' ? `failed (exit ${c.exitCode})` : 'skipped');
  const w = [Math.max(...m.cells.map((c) => cellLabel(c).length)), Math.max(...m.cells.map((c) => status(c).length))];
  const indent = `    ${' '.repeat(w[0]! + w[1]! + 4)}`;
  for (const c of m.cells) {
    lines.push(`    ${cellLabel(c).padEnd(w[0]!)}  ${status(c).padEnd(w[1]!)}  ${c.reportPath ?? c.reason ?? ''}`.trimEnd());
    if (c.reportPath && c.reason) lines.push(`${indent}${c.reason}`);
    if (c.note) lines.push(`${indent}note: ${c.note}`);
  }
  return `${lines.join('\n')}\n`;
}
