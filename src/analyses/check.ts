/**
 * `pydbg check ANALYSIS REPRO`: resolve the project once, refuse what cannot work before any engine
 * call, run the analysis's command with a private output directory mounted, and turn the files its
 * tool wrote into a report. Analyses parse purely; the I/O is here and in outdir.ts.
 */
import { join, relative } from 'node:path';
import { OUT_MOUNT } from '../container/layout.js';
import { BUG_HINT, ExitCode, PydbgError, usageError, type ExitCodeValue } from '../errors.js';
import { containerUser } from '../exec/container.js';
import { runProject } from '../exec/run.js';
import type { RunIO, RunRequest, RunResult } from '../exec/types.js';
import { reportsDir } from '../paths.js';
import { namedRepro, resolveProject, type ProjectInput, type ResolvedProject } from '../project/project.js';
import { reproArgv, type Analysis, type CheckOptions, type CommandPlan } from './analysis.js';
import { foldTraceRefs, followUpRepro, foldFollowUp, pytestCommand } from './leaks.js';
import type { VariantPlan } from '../project/plan.js';
import { openOutDir } from './outdir.js';
import { analysisByName } from './registry.js';
import type { AnalysisReport, Finding } from './types.js';

export type { CheckOptions } from './analysis.js';

/** The run flags a check passes through; the analysis adds the command, its environment and the output mount. */
export type CheckRunFlags = Omit<RunRequest, 'argv' | 'shell' | 'extraMounts' | 'extraEnv' | 'crashArgv'>;

export interface CheckInput {
  project: ProjectInput;
  analysis: string;
  /** the repro as typed: a script and its arguments, module:function (leaks), or a command */
  repro: string[];
  /** a repro from pydbg.yaml's repros: (instead of `repro`) */
  reproName?: string;
  /** --out DIR; default: a new directory under ~/.cache/pydbg/reports */
  out?: string;
  options: CheckOptions;
  run?: CheckRunFlags;
  /**
   * the project resolved already, its first target the one to check (a matrix cell): used instead
   * of resolving `project`, which still names the cell (python, variant, arch) for the follow-ups
   */
  resolved?: ResolvedProject;
}

export interface CheckResult {
  report: AnalysisReport;
  exitCode: ExitCodeValue | 0;
  reportPath: string;
}

/** What check needs from outside; tests replace any of it. */
export interface CheckDeps {
  runProject(project: ResolvedProject, req: RunRequest, io: RunIO): Promise<RunResult[]>;
  containerUser(projectDir: string, rw: boolean): Promise<string>;
  /** where report directories go without --out */
  reportsDir(): string;
  now(): Date;
}

const DEFAULT_DEPS: CheckDeps = { runProject, containerUser, reportsDir, now: () => new Date() };

export async function check(input: CheckInput, io: RunIO, deps: Partial<CheckDeps> = {}): Promise<CheckResult> {
  const d: CheckDeps = { ...DEFAULT_DEPS, ...deps };
  const def = analysisByName(input.analysis);
  // pydbg.yaml's variant is used when the analysis can run on it; else the analysis's own default
  const project = input.resolved ?? (await resolveProject(input.project, { defaultVariant: def.defaultVariant, acceptsVariant: (p) => !def.unavailable(p), single: true }));
  const plan = project.targets[0]!.plan;
  const { repro, cmd } = prepareCheck(input, project, def, plan);

  const user = input.run?.user ?? (await d.containerUser(project.dir, Boolean(input.run?.rw)));
  const stamp = d.now().toISOString().replace(/[:.]/g, '-');
  const out = await openOutDir({ out: input.out, defaultDir: join(d.reportsDir(), `${stamp}-${def.name}`), user });
  try {
    for (const n of cmd.notes) io.progress.log(`note: ${n}`);
    const req: RunRequest = {
      ...input.run, shell: false, argv: cmd.argv, crashArgv: cmd.crashArgv, extraEnv: cmd.env, user, extraMounts: [{ source: out.mount, target: OUT_MOUNT, readOnly: false }],
      ...(cmd.packages?.length ? { extraPackages: cmd.packages } : {}),
      ...(cmd.aslrOff ? { aslrOff: true } : {}),
    };
    let run: RunResult | undefined;
    try {
      [run] = await d.runProject(project, req, io);
    } catch (e) {
      await out.abandon(); // the tool did not run to its end: leave nothing behind
      throw e;
    }
    if (!run) throw new PydbgError(ExitCode.INTERNAL, 'the run returned no result', { hint: BUG_HINT });
    const files = await out.collect(cmd.outputs);
    const { artefacts = [], ...parsed } = def.parse(files, { plan, run, repro, outDir: out.dir });
    const report: AnalysisReport = {
      schema: 'pydbg.report/1',
      analysis: def.name,
      tool: def.tool,
      python: plan.version.text,
      variant: plan.spec.variants.join(','),
      command: reproArgv(repro),
      reproExitCode: run.exitCode,
      ...parsed,
    };
    relativiseToProject(report.userFindings, project.dir);
    if (def.name === 'leaks' && input.options.followUp !== false) {
      await memcheckFollowUp(input, repro, report, plan, out.dir, io, d);
      await traceRefsFollowUp(input, repro, report, plan, out.dir, io, d);
    }
    const [reportPath] = await out.write([{ name: 'report.json', content: `${JSON.stringify(report, null, 2)}\n` }, ...artefacts]);
    const exitCode = report.userFindings.length > 0 ? ExitCode.FINDINGS : report.status === 'partial' ? ExitCode.TOOL_FAILED : 0;
    return { report, exitCode, reportPath: reportPath! };
  } finally {
    await out.close();
  }
}

/** What a check refuses before any engine call: the repro, --malloc, the analysis on this build; else the tool's command. */
export function prepareCheck(input: CheckInput, project: Pick<ResolvedProject, 'config' | 'configPath'>, def: Analysis, plan: VariantPlan): { repro: string[]; cmd: CommandPlan } {
  const repro = reproOf(input, project, def);
  if (input.options.mallocs && def.name !== 'rss') {
    throw usageError(`--malloc on check compares allocators in 'pydbg check rss'; ${def.name} runs under glibc's`, `pydbg check rss --malloc ${input.options.mallocs.join(',')} ${repro.join(' ')}, or 'pydbg run --malloc ALLOCATOR' for one run`);
  }
  const refusal = def.unavailable(plan);
  if (refusal) throw new PydbgError(ExitCode.ANALYSIS_UNAVAILABLE, refusal.message, { hint: refusal.hint });
  return { repro, cmd: def.command({ plan, repro, options: input.options }) };
}

/**
 * Memory grows but no Python object or reference explains it (the leaks report's memory-only
 * finding names the memcheck command): run memcheck on the same repro, in the same image (Valgrind
 * sees every block there: PYTHONMALLOC=malloc), with fewer calls, and fold its definitely-lost
 * blocks in the user's code into that finding. Its own report goes beside (memcheck-follow-up/).
 */
async function memcheckFollowUp(input: CheckInput, repro: string[], report: AnalysisReport, plan: VariantPlan, dir: string, io: RunIO, d: CheckDeps): Promise<void> {
  const f = report.userFindings.find((x) => x.kind === 'RSSGrowth' && typeof x.data.memcheck === 'string');
  if (!f || pytestCommand(repro)) return;
  const follow = followUpRepro(repro);
  const project: ProjectInput = { ...input.project, variant: plan.spec.variants.join(','), python: plan.version.text };
  io.progress.log(`memory grows but refcounts do not: memcheck follow-up on the same repro (${follow.calls} ${follow.unit}${follow.calls === 1 ? '' : 's'}; --no-follow-up skips it)`);
  try {
    const r = await check({ project, analysis: 'memcheck', repro: follow.repro, out: join(dir, 'memcheck-follow-up'), options: {}, run: input.run }, io, d);
    if (foldFollowUp(f, r.report, follow.calls, follow.unit, r.reportPath) === 'unconfirmed') {
      // not the user's: reported, but it does not fail the run
      report.userFindings = report.userFindings.filter((x) => x !== f);
      report.interpreterFindings.push(f);
    }
  } catch (e) {
    if (io.signal.aborted) throw e;
    foldFollowUp(f, { error: (e as Error).message }, follow.calls, follow.unit);
  }
}

/**
 * The total refcount grows but no type the gc counts does (str, bytes, int, float: never tracked):
 * run the same leak hunt in the trace-refs build of the same version and variants, where
 * sys.getobjects() counts every object, and add the types it names. That image is built when
 * missing (as any check's image is); its report goes beside (trace-refs-follow-up/).
 */
async function traceRefsFollowUp(input: CheckInput, repro: string[], report: AnalysisReport, plan: VariantPlan, dir: string, io: RunIO, d: CheckDeps): Promise<void> {
  // a growth the gc's count could not name: a RefLeak and no TypeLeak, on a build that counts through the gc
  const ref = report.userFindings.find((x) => x.kind === 'RefLeak');
  if (!ref || report.summary.typeSource !== 'gc' || report.userFindings.some((x) => x.kind === 'TypeLeak')) return;
  if (pytestCommand(repro) || plan.spec.expected.trace_refs || plan.spec.expected.gil_disabled) return;
  const variant = [...plan.spec.variants, 'trace-refs'].join(',');
  const project: ProjectInput = { ...input.project, variant, python: plan.version.text };
  io.progress.log(`the refcount grows but no type the gc counts does: leak hunt follow-up in the ${variant} build, which counts every object (str, int, bytes too; that image is built first if missing, a few minutes; --no-follow-up skips it)`);
  let named: Finding[];
  try {
    const r = await check({ project, analysis: 'leaks', repro, out: join(dir, 'trace-refs-follow-up'), options: { ...input.options, followUp: false }, run: input.run }, io, d);
    named = foldTraceRefs(ref, r.report, r.reportPath);
  } catch (e) {
    if (io.signal.aborted) throw e;
    named = foldTraceRefs(ref, { error: (e as Error).message });
  }
  report.userFindings.splice(report.userFindings.indexOf(ref), 0, ...named);
}

/** The repro's words: as given, or a named repro from pydbg.yaml (shell words; a leading `python` before a script is dropped). */
function reproOf(input: CheckInput, project: Pick<ResolvedProject, 'config' | 'configPath'>, def: Analysis): string[] {
  if (input.reproName !== undefined) {
    if (input.repro.length) throw usageError(`give a repro or --repro ${input.reproName}, not both`, `pydbg check ${def.name} --repro ${input.reproName}   or   pydbg check ${def.name} ${input.repro.join(' ')}`);
    const words = namedRepro(project.config, input.reproName, project.configPath);
    return /^python3?$/.test(words[0]!) && words[1]?.endsWith('.py') ? words.slice(1) : words;
  }
  if (input.repro.length === 0) throw usageError(`pydbg check ${def.name} needs a repro`, `pydbg check ${def.name} repro.py [args], or --repro NAME from pydbg.yaml`);
  return input.repro;
}

/** Repro paths given relative to the caller's directory stay relative to the project. */
function relativiseToProject(findings: Finding[], projectDir: string) {
  for (const f of findings) {
    for (const fr of [f.userFrame, ...f.frames]) {
      if (fr?.file?.startsWith(`${projectDir}/`)) fr.file = relative(projectDir, fr.file);
    }
  }
}
