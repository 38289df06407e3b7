/**
 * `pydbg check` over a matrix on the in-memory FakeEngine (src/analyses/matrix-run.ts and the
 * check command): every cell runs through check() with its own report directory, --jobs is capped
 * by the engine's CPUs and memory, a failing cell does not stop the others, --no-build and a
 * matrix without a possible cell are refused before anything runs, and nothing is left behind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile as read, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkMatrix } from '../../src/analyses/matrix-run.js';
import type { MatrixResult } from '../../src/analyses/matrix.js';
import { check } from '../../src/cli/commands/check.js';
import { parseCLI } from '../../src/cli/parse.js';
import { LABEL } from '../../src/container/labels.js';
import type { ContainerSpec } from '../../src/engine/engine.js';
import { FakeEngine, type RunScript } from '../../src/engine/fake.js';
import { ExitCode, InterruptedError, PydbgError } from '../../src/errors.js';
import { runProject } from '../../src/exec/run.js';
import type { RunIO } from '../../src/exec/types.js';
import { testDeps } from './cli-helpers.js';

const XML = readFileSync(new URL('../fixtures/memcheck-oob-3.13.xml', import.meta.url), 'utf8');
const CLEAN_XML = '<?xml version="1.0"?>\n<valgrindoutput>\n<protocolversion>4</protocolversion>\n</valgrindoutput>\n';
const CELLS = [['3.11.2', 'debug'], ['3.11.2', 'nopymalloc'], ['3.13.5', 'debug'], ['3.13.5', 'nopymalloc']] as const;
const MATRIX = ['--python', '3.11,3.13', '--variant', 'debug', '--variant', 'nopymalloc'];

let fake: FakeEngine;
let root: string;
let project: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pydbg-matrix-run-'));
  process.env.PYDBG_HOME = join(root, 'home');
  project = join(root, 'project');
  await mkdir(project);
  await writeFile(join(project, 'repro.py'), 'import oob\n');
  fake = new FakeEngine();
  for (const [python, variant] of CELLS) {
    const tag = `pydbg/cpython:${python}-${variant}-amd64`;
    fake.addImage({ tags: [tag], labels: { [LABEL.kind]: 'variant', [LABEL.image]: tag, [LABEL.python]: python, [LABEL.variant]: variant, [LABEL.arch]: 'amd64', [LABEL.verified]: '{}' } });
  }
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** The cell a container runs: from its image's labels ("3.13.5 debug"). */
const cellOf = (spec: ContainerSpec) => {
  const i = fake.images().find((x) => x.id === spec.image || x.tags.includes(spec.image))!;
  return `${i.labels[LABEL.python]} ${i.labels[LABEL.variant]}`;
};
/** Each cell's tool run: findings in 3.13 debug, the others clean, unless `over` says otherwise. */
const tool = (over: Record<string, RunScript> = {}) => (spec: ContainerSpec): RunScript =>
  over[cellOf(spec)] ?? { files: { '/pydbg/out/memcheck.7.xml': cellOf(spec) === '3.13.5 debug' ? XML : CLEAN_XML }, stdout: `repro in ${cellOf(spec)}\n` };
const script = (over: Record<string, RunScript> = {}) => fake.scriptRun(...CELLS.map(() => tool(over)));

const readFile = (p: string) => read(p, 'utf8');
const opts = <T>(argv: string[]) => {
  const p = parseCLI(argv);
  return { ...p.args, ...p.options } as T;
};
const leftovers = () => fake.containers().length;

describe('pydbg check over a matrix (the command, on the fake engine)', () => {
  it('one table on stdout, a report directory per cell, SARIF runs and JUnit suites per cell; exit 20', async () => {
    script();
    const t = testDeps(fake, { cwd: project });
    const r = await check(opts(['check', 'memcheck', ...MATRIX, '--out', 'rep', '--sarif', 'r.sarif', '--junit', 'r.xml', '--json-out', 'm.json', '--user', '0:0', 'repro.py']), t.deps);
    expect(r.exitCode).toBe(ExitCode.FINDINGS);
    const text = t.stdout.text();
    expect(text).toMatch(/^pydbg check memcheck: 4 cells \(4 ran\), python repro\.py\n/);
    expect(text).toMatch(/InvalidWrite\s+oob\.c:7 \(overflow\)\s+-\s+-\s+×1\s+-\s+Invalid write of size 4/);
    expect(await readdir(join(project, 'rep'))).toEqual(['3.11-debug-amd64', '3.11-nopymalloc-amd64', '3.13-debug-amd64', '3.13-nopymalloc-amd64']);
    const m = JSON.parse(await readFile(join(project, 'm.json'))) as MatrixResult;
    expect(m.cells.map((c) => [c.id, c.status, c.exitCode])).toEqual([['3.11-debug-amd64', 'ran', 0], ['3.11-nopymalloc-amd64', 'ran', 0], ['3.13-debug-amd64', 'ran', 20], ['3.13-nopymalloc-amd64', 'ran', 0]]);
    expect(m.cells[2]!.reportPath).toBe(join(project, 'rep', '3.13-debug-amd64', 'report.json'));
    expect(r.data).toEqual(m);
    const sarif = JSON.parse(await readFile(join(project, 'r.sarif')));
    expect(sarif.runs.map((x: { automationDetails: { id: string } }) => x.automationDetails.id)).toEqual(m.cells.map((c) => `pydbg/memcheck/${c.id}/`));
    expect((await readFile(join(project, 'r.xml'))).match(/<testsuite /g)).toHaveLength(4);
    // the repro's output goes to stderr, each line naming its cell
    expect(t.stderr.text()).toContain('[3.11 nopymalloc amd64] repro in 3.11.2 nopymalloc\n');
    expect(t.logs.some((l) => l.startsWith('[3.13 debug amd64] '))).toBe(true);
    expect(leftovers()).toBe(0);
  });

  it('--json: the pydbg.matrix/1 JSON on stdout; a skipped cell is listed with its reason', async () => {
    fake.scriptRun(tool(), tool());
    const t = testDeps(fake, { cwd: project });
    const r = await check(opts(['check', 'memcheck', '--python', '3.13', '--variant', 'debug', '--variant', 'asan', '--variant', 'nopymalloc', '--json', '--user', '0:0', 'repro.py']), t.deps);
    const m = JSON.parse(t.stdout.text()) as MatrixResult;
    expect(m.schema).toBe('pydbg.matrix/1');
    expect(m.cells.map((c) => [c.id, c.status])).toEqual([['3.13-debug-amd64', 'ran'], ['3.13-asan-amd64', 'skipped'], ['3.13-nopymalloc-amd64', 'ran']]);
    expect(m.cells[1]!.reason).toBe('Valgrind cannot run an AddressSanitizer build (variant asan)');
    expect(r.exitCode).toBe(20);
    expect(fake.runs).toHaveLength(2);
  });

  it('no cell can run: exit 17 with each refusal, before any engine call', async () => {
    const t = testDeps(fake, { cwd: project });
    const e = (await check(opts(['check', 'tsan', '--python', '3.11,3.12', 'race.py']), t.deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NO_CELL);
    expect(e.message).toBe('no cell of 2 versions × 1 variant × 1 arch can run pydbg check tsan');
    expect(e.details).toHaveLength(2);
    expect(t.engineCalls()).toBe(0);
    expect(fake.calls).toEqual([]);
  });

  it('--no-build: every missing image is named and nothing runs (exit 13)', async () => {
    for (const tag of ['pydbg/cpython:3.11.2-debug-amd64', 'pydbg/cpython:3.13.5-nopymalloc-amd64']) await fake.removeImage(tag);
    const t = testDeps(fake, { cwd: project });
    const e = (await check(opts(['check', 'memcheck', ...MATRIX, '--no-build', 'repro.py']), t.deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NO_IMAGE);
    expect(e.message).toBe('2 variant images of the matrix do not exist yet and --no-build was given');
    expect(e.details).toEqual([
      '3.11 debug amd64: pydbg env build --variant debug --python 3.11.2 --arch amd64',
      '3.13 nopymalloc amd64: pydbg env build --variant nopymalloc --python 3.13.5 --arch amd64',
    ]);
    expect(fake.runs).toEqual([]);
    expect(fake.callsOf('build')).toEqual([]);
  });

  it('no repro: a usage error before any engine call', async () => {
    const t = testDeps(fake, { cwd: project });
    const e = (await check(opts(['check', 'memcheck', ...MATRIX]), t.deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(t.engineCalls()).toBe(0);
  });
});


function io(signal = new AbortController().signal): RunIO & { logs: string[] } {
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.resume();
  return { engine: fake, progress: { log: (m) => logs.push(m), phase() {}, event() {}, output() {} }, signal, stdout: sink, stderr: sink, logs };
}
const input = (over: Record<string, unknown> = {}) => ({ project: { projectDir: project }, analysis: 'memcheck', repro: ['repro.py'], options: {}, run: { user: '0:0' }, ...over });
const flags = { python: '3.11,3.13', variant: ['debug', 'nopymalloc'] };

describe('checkMatrix: running the cells', () => {
  it("--jobs is capped by the engine's CPUs (said in a note); the cells run that many at a time", async () => {
    fake.ncpu = 2;
    fake.memTotal = 64 * 2 ** 30;
    script();
    let now = 0;
    let most = 0;
    const counted: typeof runProject = async (...a) => {
      most = Math.max(most, ++now);
      await new Promise((r) => setTimeout(r, 30));
      try {
        return await runProject(...a);
      } finally {
        now -= 1;
      }
    };
    const x = io();
    const m = await checkMatrix(input(), flags, 4, x, { runProject: counted });
    expect(most).toBe(2);
    expect(x.logs).toContain('note: --jobs 4 lowered to 2: the engine has 2 CPUs');
    expect(m.cells.every((c) => c.status === 'ran')).toBe(true);
  });

  it('and by its memory at --memory per cell', async () => {
    fake.memTotal = 20 * 2 ** 30;
    script();
    const x = io();
    await checkMatrix(input({ run: { user: '0:0', memoryBytes: 8 * 2 ** 30 } }), flags, 3, x);
    expect(x.logs).toContain('note: --jobs 3 lowered to 2: the engine has 20 GiB of memory for 8 GiB per cell (--memory)');
  });

  it('a failing cell does not stop the others; the exit is the worst cell\'s', async () => {
    script({ '3.11.2 nopymalloc': { exitCode: 1, stderr: 'valgrind: cannot start\n' } });
    const m = await checkMatrix(input(), flags, 2, io());
    expect(m.cells.map((c) => [c.id, c.status, c.exitCode])).toEqual([
      ['3.11-debug-amd64', 'ran', 0],
      ['3.11-nopymalloc-amd64', 'failed', ExitCode.TOOL_FAILED],
      ['3.13-debug-amd64', 'ran', 20],
      ['3.13-nopymalloc-amd64', 'ran', 0],
    ]);
    expect(m.cells[1]!.reason).toMatch(/valgrind wrote no XML report/);
    expect(m.exitCode).toBe(ExitCode.TOOL_FAILED);
    expect(fake.runs).toHaveLength(4);
    expect(leftovers()).toBe(0);
  });

  it('a build that fails fails its cell only; the others still run', async () => {
    await fake.removeImage('pydbg/cpython:3.11.2-debug-amd64');
    script();
    const failing = async () => { throw new PydbgError(ExitCode.BUILD, 'the image build failed at make'); };
    const m = await checkMatrix(input(), flags, 1, io(), { ensureVariant: async (plan, o, build) => (plan.image.includes('3.11.2-debug') ? failing() : (await o.engine.inspectImage(plan.image))!) });
    expect(m.cells.map((c) => [c.status, c.exitCode])).toEqual([['failed', 6], ['ran', 0], ['ran', 20], ['ran', 0]]);
    expect(m.exitCode).toBe(6);
  });

  it('an interrupt stops every cell and leaves no container and no report directory behind', async () => {
    fake.scriptRun(...CELLS.map(() => ({ hang: true })));
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new InterruptedError('interrupted', 'stopped by the user')), 50);
    const e = (await checkMatrix(input(), flags, 2, io(ctl.signal)).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(fake.runs).toHaveLength(2); // the next cells never started
    expect(leftovers()).toBe(0);
    expect(existsSync(join(root, 'home', 'reports'))).toBe(false);
  });

  it('without --out, one new directory under the reports with a subdirectory per cell', async () => {
    script();
    const m = await checkMatrix(input(), flags, 2, io());
    const [dir] = await readdir(join(root, 'home', 'reports'));
    expect(dir).toMatch(/-memcheck$/);
    expect((await readdir(join(root, 'home', 'reports', dir!))).sort()).toEqual(m.cells.map((c) => c.id).sort());
  });
});
