import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { asList, loadConfig } from '../project/config.js';
import { planBuild, type BuildPlan } from '../project/plan.js';
import { ExitCode, PydbgError, type ExitCodeValue } from '../errors.js';
import { pydbgHome } from '../paths.js';
import { runProject, type RunIO, type RunInput, type RunResult } from '../exec/run.js';
import { signalOf } from '../exec/crash.js';
import { analyseLeaks, type LeakRun } from './leaks.js';
import { massifArgs, massifSvg, parseMassif } from './massif.js';
import { memcheckArgs, memcheckFindings, parseMemcheckXml } from './memcheck.js';
import { diffMallocStats, mallocStatsTable, parseMallocStats } from './pymalloc-stats.js';
import { pymallocDebugFindings } from './pymalloc-debug.js';
import { parseAsan, parseUbsan } from './sanitizers.js';
import { frameText, groupFindings, type AnalysisReport, type Finding } from './types.js';

export const OUT_MOUNT = '/pydbg/out';

interface Refusal {
  message: string;
  hint: string;
}

interface CommandPlan {
  argv: string[];
  env: Record<string, string>;
  /** what to run under gdb if it crashes (the repro without the tool) */
  crashArgv: string[];
  notes: string[];
}

interface ParseInput {
  outDir: string;
  plan: BuildPlan;
  run: RunResult;
  repro: string[];
}

interface AnalysisDef {
  name: string;
  tool: string;
  defaultVariant: string;
  unavailable(plan: BuildPlan): Refusal | undefined;
  command(plan: BuildPlan, repro: string[], opts: CheckOptions): CommandPlan;
  parse(p: ParseInput): Promise<Omit<AnalysisReport, 'schema' | 'analysis' | 'tool' | 'python' | 'variant' | 'command' | 'reproExitCode'>>;
}

export interface CheckOptions {
  iterations?: number;
  rounds?: number;
  warmup?: number;
}

/** `python` in front of a .py script; anything else is run as given. */
export function reproArgv(repro: string[]): string[] {
  return repro[0]?.endsWith('.py') ? ['python', ...repro] : repro;
}

function partialReason(run: RunResult): string | undefined {
  if (run.exitCode === 0) return undefined;
  const sig = signalOf(run.exitCode);
  return sig ? `the repro crashed with ${sig} before the analysis finished; findings gathered so far are shown` : `the repro exited with code ${run.exitCode}; findings gathered so far are shown`;
}

const valgrindUnusable = (plan: BuildPlan): Refusal | undefined => {
  const e = plan.spec.expected;
  const v = plan.version.text;
  if (e.asan) return { message: `Valgrind cannot run an AddressSanitizer build (variant ${plan.spec.variants.join(',')})`, hint: `use 'pydbg check asan' for this variant, or --variant nopymalloc --python ${v}` };
  if (e.gil_disabled) return { message: 'the free-threaded build allocates with mimalloc and rejects PYTHONMALLOC=malloc: Valgrind results would be noise', hint: `use --variant nopymalloc --python ${v}` };
  return undefined;
};

const memcheck: AnalysisDef = {
  name: 'memcheck',
  tool: 'valgrind memcheck',
  defaultVariant: 'nopymalloc',
  unavailable: valgrindUnusable,
  command(plan, repro) {
    const e = plan.spec.expected;
    const env: Record<string, string> = {};
    const notes: string[] = [];
    if (e.with_pymalloc && !e.with_valgrind) {
      if (plan.version.major >= 3) {
        env.PYTHONMALLOC = 'malloc';
        notes.push('PYTHONMALLOC=malloc: pymalloc bypassed so Memcheck sees every allocation');
      } else notes.push('CPython 2.7 with pymalloc: the suppressions hide pymalloc noise, but the nopymalloc variant is more precise');
    }
    const argv = reproArgv(repro);
    return { argv: [...memcheckArgs(OUT_MOUNT), ...argv], env, crashArgv: argv, notes };
  },
  async parse({ outDir, run }) {
    const files = (await readdir(outDir)).filter((f) => /^memcheck\.\d+\.(xml|log)$/.test(f)).sort();
    const xmls = files.filter((f) => f.endsWith('.xml'));
    if (xmls.length === 0) {
      throw new PydbgError(ExitCode.TOOL_FAILED, 'valgrind wrote no XML report: it did not start, or crashed at once', { hint: `look at the output above and in ${outDir}` });
    }
    const parses = [];
    for (const f of xmls) parses.push(parseMemcheckXml(await readFile(join(outDir, f), 'utf8')));
    const m = memcheckFindings(parses);
    let reason = partialReason(run);
    if (!m.complete) reason = `valgrind's report was cut short${m.fatalSignal ? ` (${m.fatalSignal})` : ''}; findings gathered so far are shown`;
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: m.user,
      interpreterFindings: m.interpreter,
      rawFiles: files.map((f) => join(outDir, f)),
      summary: { processes: xmls.length },
    };
  },
};

const leaks: AnalysisDef = {
  name: 'leaks',
  tool: 'refcount / allocation / per-type counts',
  defaultVariant: 'debug',
  unavailable(plan) {
    if (plan.spec.expected.ref_debug) return undefined;
    return {
      message: `leak hunting needs sys.gettotalrefcount(), which the ${plan.spec.variants.join(',')} build does not have (it is not a debug build): pydbg will not report "no leaks" from it`,
      hint: `use --variant debug (or trace-refs for every object type${plan.version.major === 2 || plan.version.minor <= 8 ? ', count-allocs for allocation counts' : ''}) --python ${plan.version.text}`,
    };
  },
  command(plan, repro, opts) {
    if (repro.length === 0) throw new PydbgError(ExitCode.USAGE, 'leaks needs a repro: a script, or module:function');
    const [target, ...args] = repro;
    const iterations = opts.iterations ?? (target!.includes(':') && !target!.endsWith('.py') ? 1000 : 20);
    return {
      argv: ['python', '/opt/pydbg-run/leakhunt.py', `${OUT_MOUNT}/leaks.json`, String(opts.rounds ?? 4), String(opts.warmup ?? 2), String(iterations), target!, ...args],
      env: {},
      crashArgv: target!.endsWith('.py') ? ['python', target!, ...args] : ['python', '-c', `import ${target!.split(':')[0]} as m; m.${target!.split(':')[1]}()`],
      notes: [],
    };
  },
  async parse({ outDir, run, repro }) {
    let data: LeakRun;
    try {
      data = JSON.parse(await readFile(join(outDir, 'leaks.json'), 'utf8')) as LeakRun;
    } catch {
      throw new PydbgError(ExitCode.TOOL_FAILED, `the leak hunt produced no measurements (the repro exited with ${run.exitCode} before the first round)`, { hint: 'run the repro with pydbg run first' });
    }
    const { findings, summary } = analyseLeaks(data, repro[0]!.endsWith('.py') ? repro[0]! : null);
    const reason = data.error ? `the repro failed after ${data.rounds.length} counted round(s): ${data.error}` : partialReason(run);
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: findings,
      interpreterFindings: [],
      rawFiles: [join(outDir, 'leaks.json')],
      summary: summary as unknown as Record<string, unknown>,
    };
  },
};

const massif: AnalysisDef = {
  name: 'massif',
  tool: 'valgrind massif',
  defaultVariant: 'nopymalloc',
  unavailable: valgrindUnusable,
  command(plan, repro, opts) {
    const c = memcheck.command(plan, repro, opts);
    return { ...c, argv: [...massifArgs(OUT_MOUNT), ...c.crashArgv] };
  },
  async parse({ outDir, run, plan }) {
    const files = (await readdir(outDir)).filter((f) => /^massif\.\d+\.out$/.test(f)).sort();
    if (files.length === 0) throw new PydbgError(ExitCode.TOOL_FAILED, 'massif wrote no profile: valgrind did not start, or crashed at once', { hint: `look at the output above and in ${outDir}` });
    // the first process is the repro itself
    const profile = parseMassif(await readFile(join(outDir, files[0]!), 'utf8'));
    const svg = join(outDir, 'massif.svg');
    await writeFile(svg, massifSvg(profile, `heap of ${reproTitle(run)} on CPython ${plan.version.text} ${plan.spec.variants.join(',')}`));
    const mib = (b: number) => `${(b / (1 << 20)).toFixed(2)} MiB`;
    const top = profile.sites.slice(0, 10);
    const text = [
      `  peak heap: ${profile.peak ? `${mib(profile.peak.heap)} (+${mib(profile.peak.extra)} allocator overhead) at snapshot ${profile.peak.index}` : 'none'}`,
      '  top allocation sites at the peak:',
      ...top.map((s) => `  ${mib(s.bytes).padStart(11)}  ${frameText(s.frame)}${s.userFrame && s.userFrame !== s.frame ? `  <- ${frameText(s.userFrame)}` : ''}${s.frame.inUserCode ? '  <- your code' : ''}`),
      `  picture: ${svg}`,
    ].join('\n');
    const reason = partialReason(run);
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: [],
      interpreterFindings: [],
      rawFiles: [...files.map((f) => join(outDir, f)), svg],
      summary: { peak: profile.peak, timeUnit: profile.timeUnit, snapshots: profile.snapshots.length, topSites: top },
      summaryText: text,
    };
  },
};

const pymallocStats: AnalysisDef = {
  name: 'pymalloc-stats',
  tool: 'sys._debugmallocstats()',
  defaultVariant: 'debug',
  unavailable(plan) {
    const e = plan.spec.expected;
    if (plan.version.major === 2) return { message: 'sys._debugmallocstats() exists from CPython 3.3; 2.7 only prints PYTHONMALLOCSTATS at exit', hint: 'use --python 3.9 or later' };
    if (!e.with_pymalloc || e.gil_disabled) return { message: `pymalloc is not the allocator in the ${plan.spec.variants.join(',')} build: there are no pymalloc statistics`, hint: `use --variant debug or release --python ${plan.version.text}` };
    return undefined;
  },
  command(plan, repro) {
    if (!repro[0]?.endsWith('.py')) throw new PydbgError(ExitCode.USAGE, 'pymalloc-stats runs a Python script: pydbg check pymalloc-stats repro.py [args]');
    return { argv: ['python', '/opt/pydbg-run/mallocstats.py', OUT_MOUNT, ...repro], env: {}, crashArgv: ['python', ...repro], notes: [] };
  },
  async parse({ outDir, run }) {
    const read = (f: string) => readFile(join(outDir, f), 'utf8').catch(() => undefined);
    const before = await read('mallocstats.before.txt');
    const after = await read('mallocstats.after.txt');
    if (!before) throw new PydbgError(ExitCode.TOOL_FAILED, 'no pymalloc statistics were written (the interpreter failed before the repro started)');
    const diff = diffMallocStats(parseMallocStats(before), parseMallocStats(after ?? ''));
    const reason = !after ? 'the repro died before the second statistics' : partialReason(run);
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: [],
      interpreterFindings: [],
      rawFiles: [join(outDir, 'mallocstats.before.txt'), ...(after ? [join(outDir, 'mallocstats.after.txt')] : [])],
      summary: diff as unknown as Record<string, unknown>,
      summaryText: mallocStatsTable(diff),
    };
  },
};

function sanitizer(name: 'asan' | 'ubsan'): AnalysisDef {
  const prop = name;
  const parse = name === 'asan' ? parseAsan : parseUbsan;
  return {
    name,
    tool: name === 'asan' ? 'AddressSanitizer' : 'UndefinedBehaviorSanitizer',
    defaultVariant: name,
    unavailable(plan) {
      if (plan.spec.expected[prop]) return undefined;
      return { message: `the ${plan.spec.variants.join(',')} build is not built with ${name === 'asan' ? 'AddressSanitizer' : 'UBSan'}`, hint: `use --variant ${name} --python ${plan.version.text}` };
    },
    command(_plan, repro) {
      const env: Record<string, string> =
        name === 'asan'
          ? { ASAN_OPTIONS: `detect_leaks=0:halt_on_error=1:print_summary=1:log_path=${OUT_MOUNT}/asan` }
          : { UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=0:log_path=${OUT_MOUNT}/ubsan` };
      const argv = reproArgv(repro);
      return { argv, env, crashArgv: argv, notes: [] };
    },
    async parse({ outDir, run }) {
      const files = (await readdir(outDir)).filter((f) => f.startsWith(`${name}.`)).sort();
      let text = '';
      for (const f of files) text += `${await readFile(join(outDir, f), 'utf8')}\n`;
      const found = groupFindings(parse(text));
      const user = found.filter((f) => f.userFrame);
      // a sanitizer stops the process on purpose: a non-zero exit with a report is a complete analysis
      const reason = found.length === 0 ? partialReason(run) : undefined;
      return {
        status: reason ? 'partial' : 'complete',
        partialReason: reason,
        userFindings: user,
        interpreterFindings: found.filter((f) => !user.includes(f)),
        rawFiles: files.map((f) => join(outDir, f)),
        summary: {},
      };
    },
  };
}

function reproTitle(run: RunResult): string {
  return run.command.filter((a) => !a.startsWith('--') && a !== 'valgrind').join(' ');
}

const pymallocDebug: AnalysisDef = {
  name: 'pymalloc-debug',
  tool: "Python's memory debug hooks (pad bytes, API ids, 0xDD dead-byte fill) + gdb",
  defaultVariant: 'pymalloc-debug',
  unavailable(plan) {
    if (plan.spec.expected.mem_debug_hooks) return undefined;
    return {
      message: `the ${plan.spec.variants.join(',')} build has no memory debug hooks (no pad bytes, no dead-byte fill)`,
      hint: `use --variant pymalloc-debug (or any debug variant) --python ${plan.version.text}`,
    };
  },
  command(plan, repro) {
    const argv = reproArgv(repro);
    // tracemalloc (3.4+) makes the hooks' reports say where the damaged block was allocated
    const env: Record<string, string> = plan.version.major >= 3 ? { PYTHONTRACEMALLOC: '16' } : {};
    return { argv: ['python', '/opt/pydbg-run/teerun.py', `${OUT_MOUNT}/output.txt`, ...argv], env, crashArgv: argv, notes: [] };
  },
  async parse({ outDir, run }) {
    const output = await readFile(join(outDir, 'output.txt'), 'utf8').catch(() => '');
    const found = groupFindings(pymallocDebugFindings(output, run.crash));
    // a fatal error or a crash is how the hooks report: with a finding, the analysis is complete
    const reason = found.length === 0 ? partialReason(run) : undefined;
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: found,
      interpreterFindings: [],
      rawFiles: [join(outDir, 'output.txt')],
      summary: { crash: run.crash ? { signal: run.crash.signal, deadByteRegisters: run.crash.deadByteRegisters ?? [] } : null },
    };
  },
};

export const ANALYSES: Record<string, AnalysisDef> = {
  memcheck, leaks, massif, 'pymalloc-stats': pymallocStats, 'pymalloc-debug': pymallocDebug, asan: sanitizer('asan'), ubsan: sanitizer('ubsan'),
};
export const ANALYSIS_NAMES = Object.keys(ANALYSES);

export interface CheckInput extends Omit<RunInput, 'argv'> {
  analysis: string;
  repro: string[];
  reproName?: string;
  out?: string;
  options: CheckOptions;
}

export interface CheckResult {
  report: AnalysisReport;
  exitCode: ExitCodeValue | 0;
  reportPath: string;
}

export async function check(input: CheckInput, io: RunIO): Promise<CheckResult> {
  const def = ANALYSES[input.analysis];
  if (!def) throw new PydbgError(ExitCode.USAGE, `unknown analysis '${input.analysis}'`, { hint: `analyses: ${ANALYSIS_NAMES.join(', ')}` });
  const projectDir = resolve(input.projectDir);
  const { config } = await loadConfig(projectDir, input.configPath);
  let repro = input.repro;
  if (input.reproName) {
    const cmd = config.repros?.[input.reproName];
    if (!cmd) throw new PydbgError(ExitCode.CONFIG, `no repro named '${input.reproName}' in pydbg.yaml`, { hint: `known repros: ${Object.keys(config.repros ?? {}).join(', ') || 'none'}` });
    repro = cmd.split(/\s+/).filter(Boolean);
    if (repro[0] === 'python' || repro[0] === 'python3') repro = repro.slice(1);
  }
  if (repro.length === 0) throw new PydbgError(ExitCode.USAGE, `pydbg check ${def.name} needs a repro`, { hint: `pydbg check ${def.name} repro.py [args], or --repro NAME from pydbg.yaml` });
  const variant = input.variant ?? def.defaultVariant;
  const python = input.python ?? asList(config.python)?.[0] ?? '3.13';
  const plan = planBuild({ variant, python, arch: input.arch ?? config.arch, board: input.board ?? (input.arch ? undefined : config.board) });
  const refusal = def.unavailable(plan);
  if (refusal) throw new PydbgError(ExitCode.ANALYSIS_UNAVAILABLE, refusal.message, { hint: refusal.hint });

  const outDir = resolve(input.out ?? join(pydbgHome(), 'reports', `${new Date().toISOString().replace(/[:.]/g, '-')}-${def.name}`));
  await mkdir(outDir, { recursive: true });
  await chmod(outDir, 0o777); // the container runs as a non-root user
  const cmd = def.command(plan, repro, input.options);
  for (const n of cmd.notes) io.progress.log(`note: ${n}`);
  const [run] = await runProject(
    { ...input, projectDir, variant, python, argv: cmd.argv, crashArgv: cmd.crashArgv, extraEnv: cmd.env, extraMounts: [{ source: outDir, target: OUT_MOUNT, readOnly: false }], single: true },
    io,
  );
  const parsed = await def.parse({ outDir, plan, run: run!, repro });
  const report: AnalysisReport = {
    schema: 'pydbg.report/1',
    analysis: def.name,
    tool: def.tool,
    python: plan.version.text,
    variant: plan.spec.variants.join(','),
    command: reproArgv(repro),
    reproExitCode: run!.exitCode,
    ...parsed,
  };
  relativiseToProject(report.userFindings, projectDir);
  const reportPath = join(outDir, 'report.json');
  await writeFile(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  const exitCode = report.userFindings.length > 0 ? ExitCode.FINDINGS : report.status === 'partial' ? ExitCode.TOOL_FAILED : 0;
  return { report, exitCode, reportPath };
}

/** Repro paths given relative to the caller's directory stay relative to the project. */
function relativiseToProject(findings: Finding[], projectDir: string) {
  for (const f of findings) {
    for (const fr of [f.userFrame, ...f.frames]) {
      if (fr?.file?.startsWith('/') && fr.file.startsWith(projectDir)) fr.file = relative(projectDir, fr.file);
    }
  }
}
