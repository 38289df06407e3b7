/**
 * First use: a missing variant image is built by run/shell/check (with what is missing and an
 * estimate said first), `--no-build` refuses (exit 13 with the command), a run's --timeout does not
 * count that build and says what a run leaves, and `--build-mode emulated` reaches run/check/shell.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { baseRequest, projectInput } from '../../src/cli/commands/run.js';
import { parseCLI } from '../../src/cli/parse.js';
import { LABEL } from '../../src/container/labels.js';
import { baseRef, depsRef, xbuildRef } from '../../src/container/refs.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import { RUN_TIMEOUT_HINT, runProject } from '../../src/exec/run.js';
import { planVariant, type VariantPlan } from '../../src/project/plan.js';
import { resolveProject, type ResolvedProject } from '../../src/project/project.js';
import { presentBase } from '../../src/provision/base.js';
import { describeEstimate, estimateBuild } from '../../src/provision/estimate.js';
import { depsKey } from '../../src/provision/layers.js';
import { ensureVariant, type Progress } from '../../src/provision/variant.js';
import { PROBE_PREFIX } from '../../src/container/protocol.js';

const never = new AbortController().signal;
const logs: string[] = [];
const progress: Progress = { log: (m) => logs.push(m), phase() {}, event() {}, output() {} };
const probeLine = `${PROBE_PREFIX}${JSON.stringify({ properties: { py_debug: true }, info: {}, mismatches: [] })}`;
let fake: FakeEngine;
let plan: VariantPlan;
let dir: string;

/** A tarball source (no download) and, when `warm`, the shared layers present. */
async function setup(warm: boolean): Promise<void> {
  const tar = join(await mkdtemp(join(tmpdir(), 'pydbg-src-')), 'Python-3.13.5.tgz');
  await writeFile(tar, 'not really a tarball');
  plan = planVariant({ variant: 'debug', sourcePath: tar });
  if (!warm) return;
  const baseId = fake.addImage({ tags: [baseRef(plan.arch)], labels: { [LABEL.kind]: 'base', [LABEL.baseOrigin]: 'bootstrapped' } });
  const base = presentBase((await fake.inspectImage(baseId))!, plan.arch);
  fake.addImage({ tags: [depsRef(plan.arch)], labels: { [LABEL.kind]: 'deps', [LABEL.key]: depsKey(plan.arch, base) } });
}

const project = (): ResolvedProject => ({ dir, config: {}, ext: { kind: 'none', reason: 'test' }, targets: [{ plan, ext: { kind: 'none', reason: 'test' } }] });
const io = (signal = never) => ({ engine: fake, progress, signal, stdout: process.stdout, stderr: process.stderr });

beforeEach(async () => {
  process.env.PYDBG_HOME = await mkdtemp(join(tmpdir(), 'pydbg-home-'));
  dir = await mkdtemp(join(tmpdir(), 'pydbg-proj-'));
  fake = new FakeEngine();
  logs.length = 0;
});

describe('a missing variant image', () => {
  it('is built first, saying what and about how long, then the run goes on', async () => {
    await setup(true);
    fake.scriptBuild(plan.image, { events: [{ type: 'output', line: probeLine }] });
    const img = await ensureVariant(plan, { engine: fake, progress, signal: never }, true);
    expect(img.tags).toContain(plan.image);
    expect(fake.callsOf('build')).toHaveLength(1);
    expect(logs[0]).toBe(`${plan.image} does not exist yet: building it first, about 2–4 minutes; later runs reuse it (--no-build refuses instead)`);
    expect(logs.at(-1)).toMatch(/built and verified in \d+ s; now running$/);
  });
  it('--no-build (buildMissing: false): exit 13 before any build, the hint is the pasteable build command', async () => {
    await setup(true);
    const e = (await runProject(project(), { argv: ['true'], buildMissing: false }, io()).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NO_IMAGE);
    expect(e.hint).toContain(`build it: '${plan.command}'`);
    expect(e.hint).toContain('without --no-build');
    expect(fake.callsOf('build')).toHaveLength(0);
  });
  it('the CLI builds by default; --no-build says no; --build is still accepted', () => {
    const req = (argv: string[]) => baseRequest(parseCLI(['run', ...argv, '--', 'true']).options);
    expect(req([]).buildMissing).toBe(true);
    expect(req(['--build']).buildMissing).toBe(true);
    expect(req(['--no-build']).buildMissing).toBe(false);
    expect(req(['--timeout', '5']).timeoutSeconds).toBe(5);
  });
});

describe('the estimate follows the catalogue and what is already there', () => {
  it('x86-64: 2–4 minutes, plus 3 for the base and toolchain on a first build', async () => {
    await setup(false);
    const cold = await estimateBuild(fake, plan);
    expect(cold.minutes).toEqual([5, 7]);
    expect(describeEstimate(cold, plan)).toBe('about 5–7 minutes: CPython 2–4, the amd64 base and toolchain layers 3 (once)');
    await setup(true);
    expect((await estimateBuild(fake, plan)).minutes).toEqual([2, 4]);
  });
  it('ARM cross: 4–8, plus every shared layer missing (the target layers under QEMU, the cross toolchain, the build Python)', async () => {
    const arm = planVariant({ variant: 'debug', python: '3.13', arch: 'arm64' });
    const e = await estimateBuild(fake, arm);
    expect(e.layers.map((l) => l.minutes)).toEqual([4, 3, 1, 3]);
    expect(e.minutes).toEqual([15, 19]);
    for (const ref of [baseRef(arm.arch), depsRef(arm.arch), baseRef(arm.host), depsRef(arm.host), xbuildRef(arm.host)]) fake.addImage({ tags: [ref] });
    expect((await estimateBuild(fake, arm)).minutes).toEqual([7, 11]);
  });
});

describe('--timeout on a run', () => {
  it('does not count building the missing image, and its hint speaks of the container, not a build', async () => {
    await setup(true);
    fake.scriptBuild(plan.image, { events: [{ type: 'output', line: probeLine }] });
    const build = fake.build.bind(fake);
    fake.build = async (r) => {
      await new Promise((res) => setTimeout(res, 300)); // a build longer than the time limit
      return build(r);
    };
    const [r] = await runProject(project(), { argv: ['true'], timeoutSeconds: 0.2 }, io());
    expect(r!.exitCode).toBe(0);

    fake.scriptRun({ hang: true });
    const e = (await runProject(project(), { argv: ['sleep', '9'], timeoutSeconds: 0.05 }, io()).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.TIMEOUT);
    expect(e.message).toBe('timed out: the command ran longer than 0.05 s');
    expect(e.hint).toBe(RUN_TIMEOUT_HINT);
    expect(e.hint).not.toMatch(/tagged|build/);
    expect(fake.containers()).toEqual([]);
  });
});

describe('--build-mode on run / check / shell', () => {
  it('selects the -emu image for an ARM version cross builds do not cover', async () => {
    const p = await resolveProject(projectInput(parseCLI(['run', '--arch', 'arm64', '--python', '3.10', '--build-mode', 'emulated', '-C', dir, '--', 'true']).options, { cwd: '/' }));
    expect(p.targets[0]!.plan.image).toBe('pydbg/cpython:3.10.22-debug-arm64-emu');
    for (const cmd of [['check', 'memcheck', 'x.py'], ['shell']]) {
      expect(parseCLI([...cmd, '--build-mode', 'emulated']).options.buildMode).toBe('emulated');
    }
  });
  it('without it, the refusal names a flag run/check/shell accept', async () => {
    const e = (await resolveProject({ projectDir: dir, arch: 'arm64', python: '3.10' }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.CATALOGUE);
    expect(e.hint).toContain('add --build-mode emulated (run, shell, check and env build take it');
    expect(() => parseCLI(['run', '--arch', 'arm64', '--build-mode', 'emulated', '--', 'true'])).not.toThrow();
  });
});
