/**
 * The CLI as data: every command and every option, described once. parse.ts builds commander from
 * these tables; tests read them; README's flag mentions follow them. An option lists the commands
 * that share it (`on`), with per-command wording where the meaning is the same but the default
 * differs. `parse` validates (validate.ts) and converts the raw text; a repeatable option collects
 * into a list or, for NAME=VALUE pairs, a record.
 */
import * as v from './validate.js';

export const COMMAND_IDS = ['variants', 'env build', 'env dockerfile', 'env list', 'env inspect', 'env rm', 'env gc', 'env push', 'run', 'check', 'shell', 'ps', 'stacks', 'heap', 'inject', 'core', 'stop', 'boards', 'doctor', 'lock', 'ci github'] as const;
export type CommandId = (typeof COMMAND_IDS)[number];

export { ANALYSIS_NAMES } from './validate.js';

export interface ArgSpec {
  /** commander syntax: <name>, [name], [name...] */
  syntax: string;
  description: string;
  parse?: (raw: string) => unknown;
}

export interface CommandSpec {
  id: CommandId;
  description: string;
  alias?: string;
  args?: ArgSpec[];
  /** everything after the first operand belongs to the user's command */
  passThrough?: boolean;
  /** needs the Docker engine (main.ts loads the engine module alongside the command's) */
  engine?: boolean;
  examples: string[];
}

export interface OptionSpec {
  /** the property name in parsed options */
  key: string;
  flags: string;
  description: string;
  /** the raw default: shown in help, parsed like a typed value */
  default?: string;
  parse?: (raw: string, flag: string) => unknown;
  /** list: every value, in a list; oneOrMany: one value as is, several in a list (pydbg.yaml's `variant:` shape) */
  repeat?: 'list' | 'record' | 'oneOrMany';
  choices?: readonly string[];
  /** a value may start with '-' (--configure-arg=--enable-shared); otherwise that is refused */
  dashValue?: boolean;
  on: readonly CommandId[];
  /** same meaning, other words (or flags/default) on some commands */
  per?: Partial<Record<CommandId, Partial<Pick<OptionSpec, 'flags' | 'description' | 'default' | 'repeat'>>>>;
}

const BUILD: CommandId[] = ['env build', 'env dockerfile'];
const PROJECT: CommandId[] = ['run', 'check', 'shell'];
const REPRO: CommandId[] = ['run', 'check'];
const JSON_SWITCH: CommandId[] = ['variants', 'env build', 'env list', 'env inspect', 'env gc', 'env push', 'lock', 'run', 'check', 'ps', 'stacks', 'heap', 'inject', 'core', 'stop', 'boards', 'doctor'];
const runName = (raw: string, flag: string) => v.parseRunName(raw, flag);

const path = (raw: string, flag: string) => v.parsePath(raw, flag);

export const OPTIONS: readonly OptionSpec[] = [
  // ---- what to build: env build / env dockerfile
  { key: 'variant', flags: '--variant <list>', description: "variant(s), comma-separated (e.g. nopymalloc, debug,trace-refs); see 'pydbg variants'", default: 'debug', on: BUILD },
  { key: 'python', flags: '--python <version>', description: 'CPython version: MAJOR.MINOR (catalogue default release) or MAJOR.MINOR.MICRO', default: '3.13', on: BUILD },
  { key: 'arch', flags: '--arch <arch>', description: 'target architecture: amd64 (default), arm64, armv7', on: BUILD },
  { key: 'board', flags: '--board <name>', description: "a board profile (sets --arch); see 'pydbg boards'", on: BUILD },
  {
    key: 'buildMode', flags: '--build-mode <mode>', description: 'ARM targets: cross-compile on x86-64 (default, 3.11+) or build everything under QEMU', choices: ['cross', 'emulated'], on: [...BUILD, 'run', 'check', 'shell'],
    per: { run: { description: "ARM targets: the variant image's build mode; emulated selects (and builds) the '-emu' image, needed for 2.7–3.10" }, check: { description: "ARM targets: emulated selects the '-emu' variant image (2.7–3.10)" }, shell: { description: "ARM targets: emulated selects the '-emu' variant image (2.7–3.10)" } },
  },
  { key: 'configureArg', flags: '--configure-arg <arg>', description: 'extra ./configure argument (repeatable); recorded in the image labels', repeat: 'list', dashValue: true, parse: v.parseDockerfileWord, on: BUILD },
  { key: 'cflags', flags: '--cflags <flags>', description: "extra CFLAGS, e.g. '-DPy_REF_DEBUG' (repeatable); recorded in the image labels", repeat: 'list', dashValue: true, parse: v.parseDockerfileWord, on: BUILD },
  { key: 'source', flags: '--source <path>', description: 'build from a local CPython checkout or tarball instead of a pinned release', parse: path, on: BUILD },
  { key: 'sourceUrl', flags: '--source-url <url>', description: 'build from this tarball URL (needs --sha256)', parse: v.parseSourceUrl, on: BUILD },
  { key: 'sha256', flags: '--sha256 <hex>', description: 'sha256 of the --source-url tarball (64 hex digits)', parse: v.parseSha256, on: BUILD },
  { key: 'pip', flags: '--pip <mode>', description: 'where setuptools/wheel come from inside the image', choices: ['offline', 'pypi'], default: 'offline', on: BUILD },
  { key: 'wheelhouse', flags: '--wheelhouse <dir>', description: 'a directory of wheels made available (offline) inside the image', parse: path, on: BUILD },
  { key: 'force', flags: '--force', description: 'rebuild even if a verified image with the same inputs exists', on: ['env build'] },
  {
    key: 'registry', flags: '--registry <prefix>', description: 'an OCI registry prefix (HOST[:PORT]/PATH): pull the image by its content key before building; credentials from your docker config', parse: v.parseRegistry, on: ['env build', 'env push', 'lock'],
    per: { 'env push': { description: 'the OCI registry prefix to push to (HOST[:PORT]/PATH); credentials from your docker config' }, lock: { description: "also record each image's registry digest (of its key tag) under this prefix" } },
  },
  { key: 'push', flags: '--push', description: 'with --registry: push the image (and the layers its key depends on) after building or reusing it', on: ['env build'] },
  { key: 'pullOnly', flags: '--pull-only', description: 'with --registry: never build; an image the registry cannot give (verified) is an error (exit 15)', on: ['env build'] },
  { key: 'locked', flags: '--locked', description: "refuse an image whose inputs differ from ./pydbg.lock (exit 16, naming the difference); see 'pydbg lock'", on: ['env build'] },

  // ---- where and how to run: run / check / shell
  {
    key: 'variant', flags: '--variant <list>', description: 'variant (default: pydbg.yaml, else debug)', on: PROJECT,
    per: { check: { repeat: 'oneOrMany', description: "variant (default: pydbg.yaml's first one the analysis can use, else the analysis's own); repeatable: each one a column of the matrix (debug,trace-refs is one variant)" } },
  },
  {
    key: 'python', flags: '--python <version>', description: 'CPython version (default: pydbg.yaml, else 3.13)', on: PROJECT,
    per: { check: { description: 'CPython version(s), comma-separated: several make a matrix (default: pydbg.yaml, else 3.13)' } },
  },
  {
    key: 'arch', flags: '--arch <arch>', description: 'architecture: amd64 (default), arm64, armv7 (ARM runs under QEMU)', on: PROJECT,
    per: { check: { description: 'architecture(s), comma-separated: amd64 (default), arm64, armv7 (ARM runs under QEMU); several make a matrix' } },
  },
  { key: 'board', flags: '--board <name>', description: "a board profile: its architecture and QEMU CPU model; see 'pydbg boards'", on: PROJECT },
  { key: 'project', flags: '-C, --project <dir>', description: 'the project directory (mounted at /src)', default: '.', parse: path, on: [...PROJECT, 'lock', 'ci github'], per: { lock: { description: 'the project directory (pydbg.lock is written there)' }, 'ci github': { description: "the project directory (its pydbg.yaml is read; the workflow's pydbg check runs there)" } } },
  { key: 'config', flags: '--config <file>', description: 'pydbg.yaml to use (default: <project>/pydbg.yaml)', parse: path, on: [...PROJECT, 'lock', 'ci github'] },
  // --build first: commander then leaves the default unset (the command's default applies: build)
  { key: 'build', flags: '--build', description: 'build a missing variant image first (the default; kept for compatibility)', on: PROJECT },
  { key: 'build', flags: '--no-build', description: "do not build a missing variant image: stop with exit 13 and the 'pydbg env build' command (for CI)", on: PROJECT },
  { key: 'network', flags: '--network', description: 'give the container network access (default: none)', on: PROJECT },
  { key: 'rw', flags: '--rw', description: 'mount the project read-write (default: read-only)', on: PROJECT },
  { key: 'memory', flags: '--memory <size>', description: 'memory limit (k, m, g, t)', default: '8g', parse: v.parseMemory, on: PROJECT },
  { key: 'cpus', flags: '--cpus <n>', description: 'CPU limit (e.g. 2, 0.5)', parse: v.parseCpus, on: PROJECT },
  { key: 'user', flags: '--user <uid[:gid]>', description: 'user in the container (default: the project owner, or 1000:1000 when root owns it)', parse: v.parseUser, on: PROJECT },
  { key: 'env', flags: '-e, --env <NAME=VALUE>', description: 'environment variable in the container (repeatable)', repeat: 'record', parse: v.parseEnvPair, on: PROJECT },
  { key: 'reproName', flags: '--repro <name>', description: 'run a named repro from pydbg.yaml instead of a command', parse: v.parseName, on: REPRO, per: { check: { description: 'a named repro from pydbg.yaml' } } },
  { key: 'gdb', flags: '--gdb', description: 'run the command under gdb from the start', on: ['run'] },
  { key: 'core', flags: '--core', description: 'allow core dumps; with --rw, a core file left in the project is analysed with gdb', on: ['run'] },
  { key: 'name', flags: '--name <name>', description: "name the run's container: pydbg ps/stacks/inject/core/stop NAME reach it while it runs (it gets SYS_PTRACE for gdb); refused when the name is in use", parse: runName, on: ['run'] },
  { key: 'detach', flags: '-d, --detach', description: 'start the command in the background, print its name and return (a name is made up without --name); it runs until pydbg stop NAME', on: ['run'] },
  { key: 'coreFile', flags: '--core <file>', description: "read the stacks from a core file written by 'pydbg core' (in a container of the image it came from) instead of a running program", parse: path, on: ['stacks'] },
  {
    key: 'malloc', flags: '--malloc <allocator>', description: "the C allocator the run's processes use: Debian's jemalloc or tcmalloc is installed into the run's image and preloaded (LD_PRELOAD); glibc is the default",
    choices: v.ALLOCATOR_NAMES, on: ['run', 'shell'],
  },
  { key: 'samples', flags: '--samples <n>', description: 'heap: censuses to take', default: '3', parse: (r, f) => v.parseCount(r, f, 1), on: ['heap'] },
  { key: 'interval', flags: '--interval <seconds>', description: 'heap: seconds between censuses', default: '10', parse: (r, f) => v.parseSeconds(r, f), on: ['heap'] },
  { key: 'top', flags: '--top <n>', description: 'heap: growing types to show', default: '10', parse: (r, f) => v.parseCount(r, f, 1), on: ['heap'] },
  { key: 'holders', flags: '--holders <n>', description: 'heap: recent objects of the fastest-growing type to trace back to a module, class or frame (0: none)', default: '3', parse: (r, f) => v.parseCount(r, f, 0), on: ['heap'] },
  { key: 'graph', flags: '--graph <file.svg>', description: 'heap: also draw the referrer chains as an SVG picture', parse: path, on: ['heap'] },
  { key: 'code', flags: '-c, --code <code>', description: 'the Python code to run inside the process (its output is printed; a raised exception exits 1)', parse: v.parseCode, dashValue: true, on: ['inject'] },
  { key: 'out', flags: '--out <dir>', description: 'where the report and the raw tool output go (default: under ~/.cache/pydbg/reports)', parse: path, on: ['check'] },
  { key: 'sarif', flags: '--sarif <file>', description: 'also write SARIF 2.1.0 (GitHub code scanning)', parse: path, on: ['check'] },
  { key: 'junit', flags: '--junit <file>', description: 'also write JUnit XML (one test case per finding)', parse: path, on: ['check'] },
  { key: 'iterations', flags: '--iterations <n>', description: 'leaks, rss: calls (module:function) or runs (script) per round (default: leaks 1000 calls or 20 runs; rss 1)', parse: (r, f) => v.parseCount(r, f, 1), on: ['check'] },
  { key: 'rounds', flags: '--rounds <n>', description: 'leaks: counted rounds, every one must leak (default 4); rss: counted rounds per allocator (default 20)', parse: (r, f) => v.parseCount(r, f, 1), on: ['check'] },
  { key: 'warmup', flags: '--warmup <n>', description: 'leaks, rss: warm-up rounds, not counted (default: leaks 2, rss 3)', parse: (r, f) => v.parseCount(r, f, 0), on: ['check'] },
  { key: 'followUp', flags: '--no-follow-up', description: 'leaks: no second run: neither memcheck when memory grows but refcounts do not, nor the trace-refs hunt when the refcount grows but no type the gc counts does (both run by default)', on: ['check'] },
  { key: 'matrix', flags: '--matrix', description: "run every cell of pydbg.yaml's python × variant × arch (a flag given replaces its list): one table of findings × cells, exit = the worst cell's", on: ['check'] },
  { key: 'jobs', flags: '--jobs <n>', description: "matrix: cells run at once (default 1; at most the engine's CPUs and as many cells as its memory holds at --memory each)", parse: (r, f) => v.parseCount(r, f, 1), on: ['check'] },
  { key: 'mallocs', flags: '--malloc <list>', description: 'rss: the C allocators to compare, comma-separated (default glibc,jemalloc,tcmalloc: Debian\'s libraries, preloaded)', parse: (r, f) => v.parseAllocators(r, f), on: ['check'] },

  // ---- shared by several families
  {
    key: 'timeout', flags: '--timeout <seconds>', description: 'stop the container after this many seconds (exit 124)', parse: v.parseSeconds, on: ['env build', ...PROJECT],
    per: {
      'env build': { description: 'give up after this many seconds (nothing is left behind; exit 124)' },
      run: { description: 'stop the container after this many seconds (exit 124; default: pydbg.yaml timeout); building a missing variant image first is not counted' },
    },
  },
  {
    key: 'json', flags: '--json', description: 'machine-readable output on stdout', parse: (r) => v.parseJsonSwitch(r), on: JSON_SWITCH,
    per: {
      'env build': { description: 'print the result as JSON on stdout' },
      // a plain switch ('--json repro.py' is the switch and the repro); '--json -', the old spelling
      // of the same thing on run and check, is still accepted (parseCLI drops the '-')
      run: { description: "print the result (exit code, signal, duration, crash frames) as JSON on stdout; the command's own stdout goes to stderr" },
      check: { description: 'print the report as JSON on stdout instead of text' },
    },
  },
  {
    key: 'jsonOut', flags: '--json-out <file>', description: 'also write the result as JSON to FILE', parse: path, on: REPRO,
    per: { check: { description: 'also write the report as JSON to FILE' } },
  },
  { key: 'quiet', flags: '-q, --quiet', description: 'no progress on stderr', on: ['env build', 'env push', ...PROJECT], per: { run: { description: 'no pydbg progress on stderr' } } },
  { key: 'all', flags: '--all', description: 'remove every pydbg image: extension builds, project packages, variants, the shared toolchain and base', on: ['env rm'] },
  { key: 'olderThan', flags: '--older-than <age>', description: 'remove reports older than this (m, h, d, w; a bare number is days)', default: '7d', parse: (r, f) => v.parseAge(r, f), on: ['env gc'] },
  { key: 'dryRun', flags: '--dry-run', description: 'list what would be removed, remove nothing', on: ['env gc'] },
  { key: 'armRunners', flags: '--arm-runners <mode>', description: "where arm64 checks run: under QEMU on the x86-64 runner, or on GitHub's native arm64 runners (default: pydbg.yaml's ci.arm_runners, else qemu)", choices: ['qemu', 'native'], on: ['ci github'] },
  { key: 'output', flags: '-o, --output <file>', description: 'write the workflow to FILE instead of stdout (e.g. .github/workflows/pydbg.yml); a file pydbg did not write is kept unless --force', parse: path, on: ['ci github'] },
  { key: 'force', flags: '--force', description: 'with -o: replace FILE even when pydbg did not write it', on: ['ci github'] },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    id: 'variants', description: 'list the variant catalogue: what each builds, for which CPython versions, and why',
    examples: ['pydbg variants', 'pydbg variants --json'],
  },
  {
    id: 'env build', description: 'build (or reuse) a verified variant image', engine: true,
    examples: ['pydbg env build --variant nopymalloc --python 3.13', 'pydbg env build --variant debug,trace-refs --python 3.11 --json', "pydbg env build --variant debug --cflags='-DPy_REF_DEBUG' --configure-arg=--enable-shared", 'pydbg env build --variant debug --arch arm64'],
  },
  {
    id: 'env dockerfile', description: 'print exactly the Dockerfile that `env build` would build',
    examples: ['pydbg env dockerfile --variant nopymalloc --python 3.13'],
  },
  {
    id: 'env list', alias: 'ls', description: 'list pydbg images: variant, version, arch, size, age, verified properties', engine: true,
    examples: ['pydbg env list', 'pydbg env ls --json'],
  },
  {
    id: 'env inspect', description: "show an image's provenance and verified properties", engine: true,
    args: [{ syntax: '<image>', description: 'a tag, an id, or VERSION-VARIANT[-ARCH] (e.g. 3.13.5-nopymalloc)', parse: (r) => v.parseName(r, 'IMAGE') }],
    examples: ['pydbg env inspect 3.13.5-nopymalloc', 'pydbg env inspect pydbg/cpython:3.13.5-debug-amd64 --json'],
  },
  {
    id: 'env rm', description: 'remove pydbg variant images', engine: true,
    args: [{ syntax: '[images...]', description: 'tags, ids or VERSION-VARIANT[-ARCH]' }],
    examples: ['pydbg env rm 3.13.5-nopymalloc', 'pydbg env rm --all'],
  },
  {
    id: 'env push', description: 'push verified variant images to an OCI registry, by content key, with the layers their keys depend on', engine: true,
    args: [{ syntax: '[images...]', description: 'tags, ids or VERSION-VARIANT[-ARCH] (default: every verified variant image)' }],
    examples: ['pydbg env push --registry ghcr.io/acme/pydbg', 'pydbg env push 3.13.5-debug --registry 127.0.0.1:5000/pydbg --json'],
  },
  {
    id: 'env gc', description: 'free space: superseded extension and project-package images, build stages pydbg left, old reports', engine: true,
    examples: ['pydbg env gc --dry-run', 'pydbg env gc --older-than 30d'],
  },
  {
    id: 'run', description: "build the project's extension inside a variant and run a command there (exit code = the command's)", engine: true, passThrough: true,
    args: [{ syntax: '[command...]', description: 'the command to run inside the variant, after --' }],
    examples: ['pydbg run --variant debug --python 3.13 -- python repro.py', 'pydbg run --variant nopymalloc -- python -m pytest tests/test_leak.py', 'pydbg run --repro leak --json > result.json', 'pydbg run --gdb -e PYTHONMALLOC=malloc -- python repro.py', 'pydbg run --arch arm64 --python 3.10 --build-mode emulated -- python repro.py', 'pydbg run --no-build -- python repro.py', 'pydbg run --name svc --detach -- python server.py'],
  },
  {
    id: 'check', description: 'run an analysis on a repro inside the right variant; findings in your code first (exit 20 when there are any)', engine: true,
    args: [
      { syntax: '<analysis>', description: v.ANALYSIS_NAMES.join(' | '), parse: v.parseAnalysis },
      { syntax: '[repro...]', description: 'the repro: a script and its arguments (leaks: also module:function); put arguments that start with - after --' },
    ],
    examples: ['pydbg check memcheck repro.py', 'pydbg check leaks refleak:search --iterations 200', 'pydbg check asan repro.py --json-out report.json --sarif report.sarif', 'pydbg check memcheck --repro crash --json', 'pydbg check rss --malloc glibc,jemalloc soak.py', 'pydbg check tsan race.py', 'pydbg check memcheck --python 3.11,3.13 --variant debug --variant nopymalloc --arch amd64,arm64 repro.py', 'pydbg check memcheck --matrix --jobs 2 --sarif report.sarif repro.py'],
  },
  {
    id: 'shell', description: 'an interactive shell in the same environment as pydbg run', engine: true,
    examples: ['pydbg shell --variant trace-refs', 'pydbg shell --python 3.11 --rw'],
  },
  {
    id: 'ps', description: 'list named runs (pydbg run --name): name, Python, variant, arch, state, uptime, RSS, command', engine: true,
    examples: ['pydbg ps', 'pydbg ps --json'],
  },
  {
    id: 'stacks', description: "every thread of a named run's Python process, C frames and py-bt, your frames marked (gdb attaches and detaches)", engine: true,
    args: [{ syntax: '[name]', description: 'the named run (not with --core)', parse: (r) => v.parseRunName(r, 'NAME') }],
    examples: ['pydbg stacks svc', 'pydbg stacks svc --json', 'pydbg stacks --core ~/.cache/pydbg/cores/svc-20260101T120000Z.core'],
  },
  {
    id: 'heap', description: "a census of a named run's live objects per type over time: what grows in every interval, and who holds it (the referrer chain up to a module, class or frame)", engine: true,
    args: [{ syntax: '<name>', description: 'the named run', parse: (r) => v.parseRunName(r, 'NAME') }],
    examples: ['pydbg heap svc', 'pydbg heap svc --samples 4 --interval 15', 'pydbg heap svc --graph growth.svg', 'pydbg heap svc --samples 1 --json'],
  },
  {
    id: 'inject', description: "run Python code inside a named run's live process (through gdb; its output is printed)", engine: true,
    args: [{ syntax: '<name>', description: 'the named run', parse: (r) => v.parseRunName(r, 'NAME') }],
    examples: ["pydbg inject svc -c 'import gc; print(len(gc.garbage))'", "pydbg inject svc -c 'import sys; print(sys.gettotalrefcount())'"],
  },
  {
    id: 'core', description: "write a core file of a named run's process to ~/.cache/pydbg/cores (with a .json naming its image); the process keeps running", engine: true,
    args: [{ syntax: '<name>', description: 'the named run', parse: (r) => v.parseRunName(r, 'NAME') }],
    examples: ['pydbg core svc', 'pydbg core svc --json'],
  },
  {
    id: 'stop', description: 'stop a named run and remove its container (nothing is left behind)', engine: true,
    args: [{ syntax: '<name>', description: 'the named run', parse: (r) => v.parseRunName(r, 'NAME') }],
    examples: ['pydbg stop svc'],
  },
  {
    id: 'boards', description: 'list the board profiles: architecture and the QEMU CPU model each one runs with',
    examples: ['pydbg boards', 'pydbg run --board rpi4 -- python repro.py'],
  },
  {
    id: 'doctor', description: 'check the engine, its API version, disk space, the base image, and QEMU/binfmt state', engine: true,
    examples: ['pydbg doctor', 'pydbg doctor --json'],
  },
  {
    id: 'lock', description: "write pydbg.lock: the inputs, base and toolchain ids and content key of each of the project's images (pydbg.yaml's versions × variants × arches)", engine: true,
    examples: ['pydbg lock', 'pydbg lock --registry ghcr.io/acme/pydbg', 'pydbg env build --variant debug --locked'],
  },
  {
    id: 'ci github', description: "write a GitHub Actions workflow from pydbg.yaml's ci: section: an images job (build or pull, push), a job per check with a matrix over its cells, SARIF to code scanning per cell",
    examples: ['pydbg ci github > .github/workflows/pydbg.yml', 'pydbg ci github -o .github/workflows/pydbg.yml', 'pydbg ci github --arm-runners native -o .github/workflows/pydbg.yml'],
  },
];

/** The options of one command, with its per-command wording applied, in table order. */
export function optionsOf(id: CommandId): OptionSpec[] {
  return OPTIONS.filter((o) => o.on.includes(id)).map((o) => ({ ...o, ...o.per?.[id] }));
}

export const commandSpec = (id: CommandId): CommandSpec => COMMANDS.find((c) => c.id === id)!;

/** Command groups (`env`) and their description. */
export const GROUPS: Record<string, string> = { env: 'build and manage verified debug-interpreter images', ci: 'generate CI configuration from pydbg.yaml' };
