/**
 * The resolved project: pydbg.yaml loaded once, the extension detected once, and every target
 * (CPython version × variant) planned once — all before the first engine call, so every input
 * error surfaces before any slow work. Everything downstream (exec, provision, analyses) receives
 * a ResolvedProject and never re-reads the project.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as shellParse } from 'shell-quote';
import { resolveArch, resolveBoard } from '../catalogue/arch.js';
import { parseVariantList } from '../catalogue/variants.js';
import { resolveRelease } from '../catalogue/versions.js';
import { ExitCode, PydbgError, quoted, usageError } from '../errors.js';
import { asList, atField, loadConfig, type LoadedConfig, type PydbgConfig } from './config.js';
import { detectBuild, uncompiledCythonNote, type ExtensionBuild } from './detect.js';
import { planVariant, type VariantPlan } from './plan.js';

export interface ProjectInput {
  projectDir: string;
  configPath?: string;
  variant?: string;
  python?: string;
  arch?: string;
  board?: string;
  /** ARM targets: cross (default, 3.11+) or emulated (selects the '-emu' image) */
  buildMode?: string;
}

export interface Target {
  plan: VariantPlan;
  /** the extension build for this target (free-threaded offline builds fall back from PEP 517 to setup.py) */
  ext: ExtensionBuild;
  /** a note to show before running this target */
  note?: string;
}

export interface ResolvedProject {
  dir: string;
  config: PydbgConfig;
  /** absent when the project has no pydbg.yaml */
  configPath?: string;
  ext: ExtensionBuild;
  targets: Target[];
  /** notes about the project itself, shown before the first target runs */
  notes?: string[];
}

export interface ResolveOptions {
  /** the variant when neither the flag nor pydbg.yaml names one */
  defaultVariant?: string;
  /**
   * analyses: the first configured variant this predicate accepts wins (pydbg.yaml may list
   * several); when it accepts none, defaultVariant is used.
   */
  acceptsVariant?: (plan: VariantPlan) => boolean;
  /** analyses run one interpreter: the first target only */
  single?: boolean;
}

export const DEFAULT_PYTHON = '3.13';
export const DEFAULT_VARIANT = 'debug';

/**
 * The one rule for --variant/--python/--arch/--board: the flag, else pydbg.yaml, else the default
 * (for an analysis: the first pydbg.yaml variant it can use, else the analysis's own default).
 */
export async function resolveProject(input: ProjectInput, opts: ResolveOptions = {}): Promise<ResolvedProject> {
  const { dir, loaded, ext, notes } = await loadProject(input);
  const { config, path: configPath } = loaded;

  // a flag wins over pydbg.yaml; a --board or --arch flag also overrides the other field in the file
  const flagTarget = input.arch !== undefined || input.board !== undefined;
  const arches: Array<string | undefined> = input.arch !== undefined ? [input.arch] : flagTarget ? [undefined] : (asList(config.arch) ?? [undefined]);
  const board = input.board ?? (flagTarget ? undefined : config.board);
  const pythons = input.python ? [input.python] : (asList(config.python) ?? [DEFAULT_PYTHON]);
  const configured = input.variant ? undefined : asList(config.variant);
  let variants = input.variant ? [input.variant] : (configured ?? [opts.defaultVariant ?? DEFAULT_VARIANT]);

  // Values from pydbg.yaml are checked one by one, so a refusal names the file, line and field
  // (exit 10); a flag's keeps its own exit code.
  const from = fieldOf(loaded);
  if (!flagTarget && config.arch !== undefined) arches.forEach((a, i) => from.check(from.item('arch', i), () => resolveArch(a)));
  if (!flagTarget && config.board !== undefined) from.check(['board'], () => resolveBoard(config.board!));
  if (!input.python && config.python !== undefined) pythons.forEach((p, i) => from.check(from.item('python', i), () => resolveRelease(p)));
  if (configured) configured.forEach((v, i) => from.check(from.item('variant', i), () => parseVariantList(v)));
  // a refused combination is blamed on the pydbg.yaml field that took part (the variant first)
  const blame = (variant: string, python: string, arch: string | undefined): Array<string | number> | undefined => {
    if (configured) return from.item('variant', configured.indexOf(variant));
    if (!input.python && config.python !== undefined) return from.item('python', pythons.indexOf(python));
    if (!flagTarget && config.board !== undefined) return ['board'];
    if (!flagTarget && config.arch !== undefined) return from.item('arch', arches.indexOf(arch));
    return undefined;
  };
  const plan = (variant: string, python: string, arch: string | undefined) => {
    const field = blame(variant, python, arch);
    const make = () => planVariant({ variant, python, arch, board, buildMode: input.buildMode });
    return field ? from.check(field, make) : make();
  };

  if (opts.acceptsVariant && !input.variant) {
    const usable = variants.filter((v) => opts.acceptsVariant!(plan(v, pythons[0]!, arches[0])));
    variants = usable.length ? usable : [opts.defaultVariant ?? DEFAULT_VARIANT];
  }
  // every target is planned now: a bad version or variant anywhere in the list fails before any work
  let targets: Target[] = pythons.flatMap((python) => variants.flatMap((variant) => arches.map((arch) => targetFor(plan(variant, python, arch), ext, dir))));
  if (opts.single) targets = targets.slice(0, 1);
  return { dir, config, configPath, ext, targets, notes };
}

/** The project without its targets: the directory checked, pydbg.yaml loaded, the extension detected. */
export async function loadProject(input: Pick<ProjectInput, 'projectDir' | 'configPath'>): Promise<{ dir: string; loaded: LoadedConfig; ext: ExtensionBuild; notes: string[] }> {
  const dir = resolve(input.projectDir);
  if (!existsSync(dir)) throw usageError(`project directory ${dir} does not exist`, 'pass -C DIR with your extension, or run pydbg inside it');
  if (!statSync(dir).isDirectory()) throw usageError(`${dir} is not a directory`, 'pass -C DIR with your extension, or run pydbg inside it');
  const loaded = await loadConfig(dir, input.configPath);
  const { config, path: configPath } = loaded;
  const ext = detectBuild((rel) => existsSync(join(dir, rel)), config, configPath ?? 'pydbg.yaml');
  const cython = uncompiledCythonNote(ext, ext.kind === 'none' || ext.kind === 'command' ? [] : findFiles(dir, '.pyx'), (rel) => existsSync(join(dir, rel)), config.python_packages ?? []);
  return { dir, loaded, ext, notes: cython ? [cython] : [] };
}

/** Checks of pydbg.yaml's values: a PydbgError from one becomes a config error at that field. */
export function fieldOf(loaded: LoadedConfig) {
  const config = loaded.config as Record<string, unknown>;
  return {
    /** ['variant'] for a scalar, ['variant', i] for an item of a list */
    item: (key: 'python' | 'variant' | 'arch', i: number): Array<string | number> => (Array.isArray(config[key]) ? [key, Math.max(0, i)] : [key]),
    check<T>(field: ReadonlyArray<string | number>, f: () => T): T {
      try {
        return f();
      } catch (e) {
        if (e instanceof PydbgError && e.exitCode !== ExitCode.CONFIG && loaded.path) throw atField(loaded, field, e);
        throw e;
      }
    },
  };
}

export function targetFor(plan: VariantPlan, ext: ExtensionBuild, dir: string): Target {
  if (ext.kind === 'pyproject' && plan.spec.expected.pip_install === null && existsSync(join(dir, 'setup.py'))) {
    return {
      plan,
      ext: { kind: 'setup.py', marker: 'setup.py' },
      note: "offline PEP 517 builds cannot tag free-threaded wheels (Debian's wheel 0.38): building with setup.py build_ext instead",
    };
  }
  return { plan, ext };
}

/**
 * A repro from pydbg.yaml (`repros: {name: "python repro.py --n 3"}`) has one meaning everywhere:
 * a command line split into words by shell rules (quotes, backslashes), run without a shell.
 * Shell operators and $-expansions are refused: pydbg runs the words, not a shell.
 */
export function namedRepro(config: PydbgConfig, name: string, configPath = 'pydbg.yaml'): string[] {
  const cmd = config.repros?.[name];
  if (cmd === undefined) {
    const known = Object.keys(config.repros ?? {});
    throw new PydbgError(ExitCode.CONFIG, `no repro named ${quoted(name)} in ${configPath}`, { hint: known.length ? `known repros: ${known.join(', ')}` : 'add one under repros: in pydbg.yaml' });
  }
  return splitCommand(cmd, `${configPath}: repros.${name}`);
}

export function splitCommand(cmd: string, where: string): string[] {
  const words = shellParse(cmd, (key) => ({ op: `$${key}` }) as never);
  const out: string[] = [];
  for (const w of words) {
    if (typeof w === 'string') out.push(w);
    else if ('comment' in w) break;
    else {
      const o = w as { op?: unknown; pattern?: unknown };
      const op = String(o.pattern ?? o.op ?? '?');
      throw new PydbgError(ExitCode.CONFIG, `${where}: '${op}' needs a shell, and a repro is run as plain words`, {
        hint: "write a script for pipes and redirections, and use env: in pydbg.yaml for variables; or: sh -c '…'",
      });
    }
  }
  if (out.length === 0) throw new PydbgError(ExitCode.CONFIG, `${where}: empty command`, { hint: 'give the command to run, e.g. python repro.py' });
  return out;
}

/** The project's files ending in `suffix` (relative paths), skipping VCS, build and test directories; bounded. */
export function findFiles(dir: string, suffix: string, limit = 20_000): string[] {
  const skip = new Set(['.git', '.hg', 'build', 'dist', 'node_modules', '.tox', '.nox', '.venv', 'venv', '__pycache__', 'tests', 'test', 'docs', 'doc']);
  const out: string[] = [];
  let seen = 0;
  const walk = (rel: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (++seen > limit) return;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!skip.has(e.name) && !e.name.startsWith('.')) walk(r);
      } else if (e.name.endsWith(suffix)) out.push(r);
    }
  };
  walk('');
  return out.sort();
}
