import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODE_DOCS, ExitCode, InterruptedError, PydbgError } from '../errors.js';
import { PYDBG_VERSION } from '../version.js';

/** Options shared by `env build` and `env dockerfile`, described once as data. */
export const BUILD_OPTIONS: Array<{ flags: string; description: string; repeat?: boolean; choices?: string[]; default?: string }> = [
  { flags: '--variant <list>', description: "variant(s), comma-separated (e.g. nopymalloc, debug,trace-refs); see 'pydbg variants'", default: 'debug' },
  { flags: '--python <version>', description: 'CPython version: MAJOR.MINOR (catalogue default release) or MAJOR.MINOR.MICRO', default: '3.13' },
  { flags: '--arch <arch>', description: 'target architecture: amd64 (default), arm64, armv7' },
  { flags: '--board <name>', description: "a board profile (sets --arch); see 'pydbg boards'" },
  { flags: '--build-mode <mode>', description: 'ARM targets: cross-compile on x86-64 (default, 3.11+) or build everything under QEMU', choices: ['cross', 'emulated'] },
  { flags: '--configure-arg <arg>', description: 'extra ./configure argument (repeatable); recorded in the image labels', repeat: true },
  { flags: '--cflags <flags>', description: "extra CFLAGS, e.g. '-DPy_REF_DEBUG' (repeatable); recorded in the image labels", repeat: true },
  { flags: '--source <path>', description: 'build from a local CPython checkout or tarball instead of a pinned release' },
  { flags: '--source-url <url>', description: 'build from this tarball URL (needs --sha256)' },
  { flags: '--sha256 <hex>', description: 'sha256 of the --source-url tarball' },
  { flags: '--pip <mode>', description: 'where setuptools/wheel come from inside the image', choices: ['offline', 'pypi'], default: 'offline' },
  { flags: '--wheelhouse <dir>', description: 'a directory of wheels made available (offline) inside the image' },
];

function addBuildOptions(cmd: Command): Command {
  for (const o of BUILD_OPTIONS) {
    const opt = new Option(o.flags, o.description);
    if (o.choices) opt.choices(o.choices);
    if (o.default !== undefined) opt.default(o.default);
    if (o.repeat) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(opt);
  }
  return cmd;
}

const exitCodesHelp = `\nExit codes:\n${Object.entries(EXIT_CODE_DOCS)
  .map(([c, d]) => `  ${c.padStart(3)}  ${d}`)
  .join('\n')}\n`;

/** The command table: each entry lazily imports its module (start-up stays fast). */
export function buildProgram(signal: AbortSignal): Command {
  const program = new Command('pydbg')
    .description('Reproducible debug CPython environments in Docker for C-extension authors')
    .version(PYDBG_VERSION)
    .showSuggestionAfterError(true)
    .addHelpText('after', exitCodesHelp)
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({ outputError: () => {} });

  program
    .command('variants')
    .description('list the variant catalogue: what each builds, for which CPython versions, and why')
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/variants.js')).variants(o));

  const env = program.command('env').description('build and manage verified debug-interpreter images');
  addBuildOptions(
    env
      .command('build')
      .description('build (or reuse) a verified variant image')
      .option('--force', 'rebuild even if a verified image with the same inputs exists')
      .option('--timeout <seconds>', 'give up after this many seconds (nothing is left behind)')
      .option('--json', 'print the result as JSON on stdout')
      .option('-q, --quiet', 'no progress on stderr'),
  ).action(async (o) => (await import('./commands/env.js')).build(o, signal));
  addBuildOptions(env.command('dockerfile').description('print exactly the Dockerfile that `env build` would build')).action(
    async (o) => (await import('./commands/env.js')).dockerfile(o),
  );
  env
    .command('list')
    .alias('ls')
    .description('list pydbg images: variant, version, arch, size, age, verified properties')
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/env.js')).list(o));
  env
    .command('inspect <image>')
    .description('show an image\'s provenance and verified properties (image = tag, id, or VERSION-VARIANT[-ARCH])')
    .option('--json', 'machine-readable output')
    .action(async (image, o) => (await import('./commands/env.js')).inspect(image, o));
  env
    .command('rm [images...]')
    .description('remove pydbg variant images (tags, ids or VERSION-VARIANT[-ARCH])')
    .option('--all', 'remove every pydbg image: extension builds, project packages, variants, the shared toolchain and base')
    .action(async (images, o) => (await import('./commands/env.js')).rm(images, o));

  const runOptions = (cmd: Command) =>
    cmd
      .option('--variant <list>', 'variant (default: pydbg.yaml, else debug)')
      .option('--python <version>', 'CPython version (default: pydbg.yaml, else 3.13)')
      .option('--arch <arch>', 'architecture: amd64 (default), arm64, armv7 (ARM runs under QEMU)')
      .option('--board <name>', "a board profile: its architecture and QEMU CPU model; see 'pydbg boards'")
      .option('-C, --project <dir>', 'the project directory (mounted at /src)', '.')
      .option('--config <file>', 'pydbg.yaml to use (default: <project>/pydbg.yaml)')
      .option('--build', 'build the variant image if it does not exist')
      .option('--network', 'give the container network access (default: none)')
      .option('--rw', 'mount the project read-write (default: read-only)')
      .option('--timeout <seconds>', 'stop the container after this many seconds (exit 124)')
      .option('--memory <size>', 'memory limit', '8g')
      .option('--cpus <n>', 'CPU limit')
      .option('--user <uid:gid>', 'user in the container (default: yours, or 1000:1000 when you are root)')
      .option('-e, --env <NAME=VALUE>', 'environment variable (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('-q, --quiet', 'no pydbg progress on stderr');
  runOptions(
    program
      .command('run')
      .argument('[command...]', 'the command to run inside the variant, after --')
      .description("build the project's extension inside a variant and run a command there (exit code = the command's)")
      .option('--repro <name>', 'run a named repro from pydbg.yaml instead of a command')
      .option('--gdb', 'run the command under gdb from the start')
      .option('--core', 'allow core dumps; with --rw, a core file left in the project is analysed with gdb')
      .option('--json <file>', "write the result (exit code, signal, duration, crash frames) as JSON to FILE ('-' = stdout)")
      .passThroughOptions(),
  ).action(async (command: string[], o) => (await import('./commands/run.js')).run(command, o, signal));
  runOptions(
    program
      .command('check')
      .argument('<analysis>', 'memcheck | leaks | massif | pymalloc-stats | pymalloc-debug | asan | ubsan')
      .argument('[repro...]', 'the repro: a script and its arguments (leaks: also module:function); put arguments that start with - after --')
      .description('run an analysis on a repro inside the right variant; findings in your code first (exit 20 when there are any)')
      .option('--repro <name>', 'a named repro from pydbg.yaml')
      .option('--out <dir>', 'where the report and the raw tool output go (default: under ~/.cache/pydbg/reports)')
      .option('--json <file>', "also write the report as JSON ('-' = stdout instead of text)")
      .option('--sarif <file>', 'also write SARIF 2.1.0 (GitHub code scanning)')
      .option('--junit <file>', 'also write JUnit XML (one test case per finding)')
      .option('--iterations <n>', 'leaks: calls (module:function) or runs (script) per round')
      .option('--rounds <n>', 'leaks: counted rounds (every one must leak)', '4')
      .option('--warmup <n>', 'leaks: warm-up rounds, not counted', '2'),
  ).action(async (analysis: string, repro: string[], o) => (await import('./commands/check.js')).check(analysis, repro, o, signal));
  runOptions(program.command('shell').description('an interactive shell in the same environment as pydbg run')).action(
    async (o) => (await import('./commands/run.js')).shell(o, signal),
  );

  program
    .command('boards')
    .description('list the board profiles: architecture and the QEMU CPU model each one runs with')
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/boards.js')).boards(o));

  program
    .command('doctor')
    .description('check the engine, its API version, disk space, the base image, and QEMU/binfmt state')
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/doctor.js')).doctor(o));
  return program;
}

export function formatError(e: PydbgError): string {
  const lines = [`pydbg: error: ${e.message}`];
  for (const d of e.details) lines.push(`  | ${d}`);
  if (e.hint) lines.push(`  hint: ${e.hint}`);
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  // `pydbg env list | head`: a closed stdout is the reader's choice, not an error
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.INTERRUPTED);
    process.stderr.write(`\npydbg: ${sig}: stopping and cleaning up (press Ctrl-C again to quit at once)\n`);
    controller.abort(new InterruptedError('interrupted', 'stopped by the user'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const program = buildProgram(controller.signal);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      const msg = e.message.replace(/^error: /, '');
      process.stderr.write(formatError(new PydbgError(ExitCode.USAGE, msg, { hint: "see 'pydbg --help'" })));
      return ExitCode.USAGE;
    }
    if (e instanceof PydbgError) {
      process.stderr.write(formatError(e));
      return e.exitCode;
    }
    const err = e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`pydbg: internal error: ${err}\n  hint: this is a bug in pydbg; please report it with the command you ran\n`);
    return ExitCode.INTERNAL;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
