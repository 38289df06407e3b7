/**
 * parseCLI: argv → { command, args, options }, without executing anything (no engine, no files,
 * no output). Commander is built from the tables in table.ts; every option value is validated
 * and converted here, so a command receives typed values and a malformed one never reaches the
 * engine. Help and version come back as results ('help' / 'version') with their text; every
 * usage problem is a CliUsageError (exit 2), with the relevant help attached where it helps.
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { EXIT_CODE_DOCS, ExitCode, PydbgError } from '../errors.js';
import { PYDBG_VERSION } from '../version.js';
import { COMMANDS, GROUPS, optionsOf, type CommandId, type CommandSpec, type OptionSpec } from './table.js';
import { closestTo, parseChoice, parseJsonSwitch } from './validate.js';

export interface ParsedCLI {
  /** the command path: ['env', 'build'], ['run'], or ['help'] / ['version'] */
  command: string[];
  /** positional arguments by name (help: { topic, text }; version: { text }) */
  args: Record<string, unknown>;
  /** option values, validated and converted (bytes, nano-CPUs, seconds, an env record) */
  options: Record<string, unknown>;
}

/** A usage error (exit 2); `help` is printed after it on stderr. */
export class CliUsageError extends PydbgError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly help?: string,
  ) {
    super(ExitCode.USAGE, message, { hint });
  }
}

const EXIT_CODES_HELP = `\nExit codes:\n${Object.entries(EXIT_CODE_DOCS)
  .map(([c, d]) => `  ${c.padStart(3)}  ${d}`)
  .join('\n')}\n`;

const argName = (syntax: string) => syntax.replace(/[<>[\].]/g, '');

interface Built {
  program: Command;
  byPath: Map<string, Command>;
  /** everything commander wrote (help, version) */
  out: { text: string };
  captured?: { spec: CommandSpec; cmd: Command };
}

function buildProgram(): Built {
  const b: Built = { program: new Command('pydbg'), byPath: new Map(), out: { text: '' } };
  const write = (s: string) => void (b.out.text += s);
  const program = b.program
    .description('Reproducible debug CPython environments in Docker for C-extension authors')
    .version(PYDBG_VERSION, '-V, --version')
    .helpCommand(false)
    .exitOverride()
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: write, writeErr: write, outputError: () => {} })
    .configureHelp({ optionTerm: (o) => o.flags.replace(/ \[-\]$/, '') })
    .addHelpText('after', `\nRun 'pydbg help COMMAND' (e.g. 'pydbg help env build') for a command's options and examples.\n${EXIT_CODES_HELP}`);
  b.byPath.set('', program);
  for (const spec of COMMANDS) {
    const words = spec.id.split(' ');
    const groupName = words.slice(0, -1).join(' ');
    if (!b.byPath.has(groupName)) {
      const g = program.command(groupName).description(GROUPS[groupName] ?? '').helpCommand(false);
      g.addHelpText('after', `\nRun 'pydbg help ${groupName} COMMAND' for a command's options and examples.\n`);
      b.byPath.set(groupName, g);
    }
    const parent = b.byPath.get(groupName)!;
    const cmd = parent.command(words.at(-1)!).description(spec.description);
    if (spec.alias) cmd.alias(spec.alias);
    for (const a of spec.args ?? []) {
      const arg = new Argument(a.syntax, a.description);
      if (a.parse) arg.argParser(a.parse);
      cmd.addArgument(arg);
    }
    for (const o of optionsOf(spec.id)) cmd.addOption(toOption(o));
    if (spec.passThrough) cmd.passThroughOptions();
    cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n`);
    cmd.action((...a: unknown[]) => {
      b.captured = { spec, cmd: a.at(-1) as Command };
    });
    b.byPath.set(spec.id, cmd);
  }
  return b;
}

/** One option of the table as a commander Option whose parser validates (and a default shown raw). */
function toOption(o: OptionSpec): Option {
  const choices = o.choices ? ` (${o.choices.join(' | ')})` : '';
  const opt = new Option(o.flags, `${o.description}${choices}`);
  const flag = opt.long ?? opt.short ?? o.flags;
  const one = (raw: string): unknown => {
    if (o.choices) return parseChoice(raw, flag, o.choices);
    if (o.parse) return o.parse(raw, flag);
    if (!o.dashValue && raw.startsWith('-')) {
      throw new CliUsageError(`${flag} needs a value, not the option '${raw}'`, `give the value right after ${flag}`);
    }
    return raw;
  };
  if (o.repeat === 'list') opt.argParser((raw: string, prev: unknown[] | undefined) => [...(prev ?? []), one(raw)]);
  else if (o.repeat === 'oneOrMany') opt.argParser((raw: string, prev: unknown) => (prev === undefined ? one(raw) : [...[prev].flat(), one(raw)]));
  else if (o.repeat === 'record') {
    opt.argParser((raw: string, prev: Record<string, string> | undefined) => {
      const [k, val] = one(raw) as [string, string];
      return { ...prev, [k]: val };
    });
  } else if ((!opt.isBoolean() && !opt.negate) || o.parse) {
    // a switch with a parser (--json) sees undefined
    opt.argParser((raw: string | undefined) => (raw === undefined ? o.parse!(raw as never, flag) : one(raw)));
  }
  if (o.default !== undefined) opt.default(one(o.default), o.default);
  return opt;
}

/** The command path named by the leading words of argv ('' = the program); throws on an unknown word. */
function resolvePath(words: readonly string[], b: Built, forHelp: boolean): { path: string; rest: string[] } {
  let path = '';
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    const here = b.byPath.get(path)!;
    if (here.commands.length === 0 || w.startsWith('-')) break;
    const sub = here.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (!sub) {
      const names = here.commands.flatMap((c) => [c.name(), ...c.aliases()]);
      const guess = closestTo(w, names);
      const full = (n: string) => (path ? `${path} ${n}` : n);
      throw new CliUsageError(
        `unknown command '${full(w)}'${guess ? ` (Did you mean '${full(guess)}'?)` : ''}`,
        `commands: ${here.commands.map((c) => c.name()).join(', ')}; see 'pydbg ${full('--help')}'`,
        forHelp ? helpText(b, path) : undefined,
      );
    }
    path = path ? `${path} ${sub.name()}` : sub.name();
  }
  return { path, rest: words.slice(i) };
}

function helpText(b: Built, path: string): string {
  b.out.text = '';
  b.byPath.get(path)!.outputHelp();
  return b.out.text;
}

export function parseCLI(argv: readonly string[]): ParsedCLI {
  argv = dropOldJsonDash(argv);
  const b = buildProgram();
  // `pydbg help [COMMAND…]` and `pydbg env help [COMMAND]`: that command's full help
  const helpAt = argv[0] === 'help' ? 1 : argv[1] === 'help' && Object.hasOwn(GROUPS, argv[0]!) ? 2 : -1;
  if (helpAt > 0) {
    const words = [...(helpAt === 2 ? [argv[0]!] : []), ...argv.slice(helpAt)];
    const { path, rest } = resolvePath(words, b, true);
    if (rest.length) throw new CliUsageError(`'pydbg help' takes a command name, not '${rest.join(' ')}'`, "e.g. 'pydbg help env build'", helpText(b, path));
    return { command: ['help'], args: { topic: path ? path.split(' ') : [], text: helpText(b, path) }, options: {} };
  }
  const { path } = resolvePath(argv, b, false);
  try {
    return parseAt(b, path, argv);
  } catch (e) {
    // every usage error carries a hint: at least where the command's help is
    if (e instanceof PydbgError && !e.hint && !(e instanceof CliUsageError && e.help)) {
      throw new CliUsageError(e.message, `see 'pydbg ${path ? `${path} ` : ''}--help'`);
    }
    throw e;
  }
}

function parseAt(b: Built, path: string, argv: readonly string[]): ParsedCLI {
  const group = path === '' || Object.hasOwn(GROUPS, path);
  if (group && !argv.slice(path ? path.split(' ').length : 0).some((a) => a.startsWith('-'))) {
    throw new CliUsageError(path ? `'pydbg ${path}' needs a command` : 'no command given', `see 'pydbg ${path ? `${path} ` : ''}--help'`, helpText(b, path));
  }
  try {
    b.program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.helpDisplayed') return { command: ['help'], args: { topic: path ? path.split(' ') : [], text: b.out.text }, options: {} };
    if (e.code === 'commander.version') return { command: ['version'], args: { text: b.out.text }, options: {} };
    if (e.code === 'commander.help') throw new CliUsageError(`'pydbg ${path}' needs a command`, `see 'pydbg ${path} --help'`, b.out.text);
    const msg = e.message.replace(/^error: /, '').replace(/\n\((Did you mean [^)]*)\)/, ' ($1)').replace(/\s*\n\s*/g, ' ').trim();
    throw new CliUsageError(msg, `see 'pydbg ${path ? `${path} ` : ''}--help'`);
  }
  if (!b.captured) throw new CliUsageError('no command given', "see 'pydbg --help'", helpText(b, ''));
  return collect(b.captured.spec, b.captured.cmd);
}

function collect(spec: CommandSpec, cmd: Command): ParsedCLI {
  const args: Record<string, unknown> = {};
  (spec.args ?? []).forEach((a, i) => {
    args[argName(a.syntax)] = cmd.processedArgs[i];
  });
  const raw = cmd.opts();
  const options: Record<string, unknown> = {};
  for (const o of optionsOf(spec.id)) {
    const name = new Option(o.flags).attributeName();
    if (raw[name] !== undefined) options[o.key] = raw[name];
  }
  return { command: spec.id.split(' '), args, options };
}

export const commandId = (p: ParsedCLI): CommandId | undefined =>
  COMMANDS.find((c) => c.id === p.command.join(' '))?.id;

/**
 * `--json -` (the old spelling of the switch on run and check): the '-' is dropped, before any `--`.
 * `run --json FILE -- …` (the old file form: run's command goes after `--`) is refused with the new flag.
 */
function dropOldJsonDash(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  const at = argv.indexOf('--json');
  const next = argv[at + 1];
  if (argv[0] === 'run' && at >= 0 && end > at + 1 && next !== undefined && next !== '-' && !next.startsWith('-')) parseJsonSwitch(next);
  return argv.filter((a, i) => !(a === '-' && argv[i - 1] === '--json' && (end < 0 || i < end)));
}
