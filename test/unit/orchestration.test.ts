/**
 * Orchestration against the in-memory FakeEngine: what used to need a real engine and 20-minute
 * timeouts — cache hits, failed and interrupted builds, crash capture, timeouts, the extension cache.
 */
import { mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeEngine } from '../../src/engine/fake.js';
import { envBuild, ensureVariant, variantKeyParts, contextSource, type Progress } from '../../src/provision/variant.js';
import { depsKey } from '../../src/provision/layers.js';
import { presentBase } from '../../src/provision/base.js';
import { planVariant, type VariantPlan } from '../../src/project/plan.js';
import { resolveProject } from '../../src/project/project.js';
import { runProject } from '../../src/exec/run.js';
import { contentKey } from '../../src/container/key.js';
import { LABEL } from '../../src/container/labels.js';
import { baseRef, depsRef } from '../../src/container/refs.js';
import { ExitCode, InterruptedError, PydbgError } from '../../src/errors.js';
import { PROBE_PREFIX } from '../../src/container/protocol.js';

const quiet: Progress = { log() {}, phase() {}, event() {}, output() {} };
const never = new AbortController().signal;
let fake: FakeEngine;
let plan: VariantPlan;

/** A tarball source (no download) and the shared layers present, as on a warm machine. */
async function warmLayers(): Promise<void> {
  const tar = join(await mkdtemp(join(tmpdir(), 'pydbg-src-')), 'Python-3.13.5.tgz');
  await writeFile(tar, 'not really a tarball');
  plan = planVariant({ variant: 'debug', sourcePath: tar });
  const baseId = fake.addImage({ tags: [baseRef(plan.arch)], labels: { [LABEL.kind]: 'base', [LABEL.baseOrigin]: 'bootstrapped' } });
  const base = presentBase((await fake.inspectImage(baseId))!, plan.arch);
  fake.addImage({ tags: [depsRef(plan.arch)], labels: { [LABEL.kind]: 'deps', [LABEL.key]: depsKey(plan.arch, base) } });
}
const probeLine = (mismatches: unknown[] = []) => `${PROBE_PREFIX}${JSON.stringify({ properties: { py_debug: true }, info: {}, mismatches })}`;
const leftovers = async () => ({ containers: fake.containers().length, dangling: (await fake.danglingImageIds()).length });

beforeEach(async () => {
  process.env.PYDBG_HOME = await mkdtemp(join(tmpdir(), 'pydbg-home-'));
  fake = new FakeEngine();
  await warmLayers();
});

describe('env build (provision/variant)', () => {
  it('a cache hit does no build and re-tags the verified image', async () => {
    const deps = (await fake.inspectImage(depsRef(plan.arch)))!;
    const key = contentKey(await variantKeyParts(plan, { depsId: deps.id }, await contextSource(plan)));
    fake.addImage({ labels: { [LABEL.kind]: 'variant', [LABEL.key]: key, [LABEL.verified]: '{"py_debug":true}' } });
    const r = await envBuild(plan, { engine: fake, progress: quiet, signal: never });
    expect(r.cached).toBe(true);
    expect(fake.callsOf('build')).toHaveLength(0);
    expect((await fake.inspectImage(plan.image))?.labels[LABEL.key]).toBe(key);
  });
  it('a successful build is verified by the probe line and tagged', async () => {
    fake.scriptBuild(plan.image, { events: [{ type: 'output', line: probeLine() }] });
    const r = await envBuild(plan, { engine: fake, progress: quiet, signal: never });
    expect(r.cached).toBe(false);
    expect(r.probe?.properties).toEqual({ py_debug: true });
    expect(fake.callsOf('build')).toHaveLength(1);
  });
  it('a build whose every step was cached (no probe line) runs the whole probe in the image', async () => {
    fake.scriptRun({ stdout: `${probeLine()}\n` });
    const r = await envBuild(plan, { engine: fake, progress: quiet, signal: never });
    expect(r.probe?.properties).toEqual({ py_debug: true });
    expect(fake.runs[0]!.cmd).toEqual(['python', '/opt/pydbg/probe.py', '/opt/pydbg/expected.json']);
    expect(fake.runs[0]!.networkMode).toBe('none');
  });
  it('… and a mismatch there untags the image (exit 7)', async () => {
    fake.scriptRun({ stdout: `${probeLine([{ property: 'py_debug', expected: true, actual: false }])}\n`, exitCode: 1 });
    const e = (await envBuild(plan, { engine: fake, progress: quiet, signal: never }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.VERIFY);
    expect(e.details.join('\n')).toMatch(/py_debug: expected true, got false/);
    expect(await fake.inspectImage(plan.image)).toBeUndefined();
    expect(fake.containers()).toHaveLength(0);
  });
  it('a probe mismatch fails with exit 7 (verify), names the property, and tags nothing', async () => {
    fake.scriptBuild(plan.image, { events: [{ type: 'output', line: probeLine([{ property: 'py_debug', expected: true, actual: false }]) }], fail: 'probe failed', leftoverContainers: 1, danglingLayers: 2 });
    const e = await envBuild(plan, { engine: fake, progress: quiet, signal: never }).catch((x: PydbgError) => x);
    expect(e).toBeInstanceOf(PydbgError);
    expect((e as PydbgError).exitCode).toBe(ExitCode.VERIFY);
    expect((e as PydbgError).details.join('\n')).toMatch(/py_debug: expected true, got false/);
    expect(await fake.inspectImage(plan.image)).toBeUndefined();
    expect(await leftovers()).toEqual({ containers: 0, dangling: 0 });
  });
  it('a failed build leaves no tag, no container and no dangling image (exit 6)', async () => {
    fake.scriptBuild(plan.image, { fail: 'make: *** [Makefile] Error 1', leftoverContainers: 2, danglingLayers: 3 });
    const e = (await envBuild(plan, { engine: fake, progress: quiet, signal: never }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.BUILD);
    expect(await fake.inspectImage(plan.image)).toBeUndefined();
    expect(await leftovers()).toEqual({ containers: 0, dangling: 0 });
  });
  it('an interrupted build leaves nothing behind and says interrupted', async () => {
    fake.scriptBuild(plan.image, { hang: true, leftoverContainers: 1, danglingLayers: 1 });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new InterruptedError('interrupted', 'stopped by the user')), 20);
    const e = (await envBuild(plan, { engine: fake, progress: quiet, signal: ctl.signal }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.INTERRUPTED);
    expect(await fake.inspectImage(plan.image)).toBeUndefined();
    expect(await leftovers()).toEqual({ containers: 0, dangling: 0 });
  }, 15_000);
  it('a run without the image and without --build refuses with the command that builds it (exit 13), building nothing', async () => {
    const e = (await ensureVariant(plan, { engine: fake, progress: quiet, signal: never }, false).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NO_IMAGE);
    expect(e.hint).toContain('pydbg env build --variant debug');
    expect(fake.callsOf('build')).toHaveLength(0);
  });
});

describe('run (exec)', () => {
  async function projectWith(files: Record<string, string>, mode = 0o755): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-proj-'));
    for (const [n, t] of Object.entries(files)) await writeFile(join(dir, n), t);
    await chmod(dir, mode);
    return dir;
  }
  const io = (signal = never) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let errText = '';
    err.on('data', (c: Buffer) => (errText += c.toString()));
    out.resume();
    return { io: { engine: fake, progress: quiet, signal, stdout: out, stderr: err }, stderr: () => errText };
  };
  beforeEach(() => {
    fake.addImage({ tags: ['pydbg/cpython:3.13.5-debug-amd64'], labels: { [LABEL.kind]: 'variant' }, architecture: 'amd64' });
  });

  it('a crash triggers the gdb re-run and the report names the frame in the user code', async () => {
    const project = await resolveProject({ projectDir: await projectWith({ 'repro.py': 'import crash\n' }) });
    fake.scriptRun(
      { exitCode: 139, stderr: 'Fatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n  File "/src/repro.py", line 1 in <module>\n' },
      (spec) => ({
        stdout: [
          `spec ${spec.cmd.join(' ')}`,
          'Program received signal SIGSEGV, Segmentation fault.',
          'PYDBG-FRAME {"level":0,"function":"get_value","file":"/pydbg/build/crash.c","line":17,"objfile":"crash.so"}',
          'PYDBG-BT-BEGIN', '#0 get_value () at crash.c:17', 'PYDBG-BT-END',
        ].join('\n'),
      }),
    );
    const x = io();
    const [r] = await runProject(project, { argv: ['python', 'repro.py'] }, x.io);
    expect(r!.exitCode).toBe(139);
    expect(r!.signal).toBe('SIGSEGV');
    expect(fake.runs).toHaveLength(2);
    expect(fake.runs[1]!.cmd).toContain('batch');
    expect(r!.crash?.userFrame).toMatchObject({ function: 'get_value', file: 'crash.c', line: 17 });
    expect(x.stderr()).toContain('get_value');
    expect(fake.containers()).toHaveLength(0);
  });

  it('a timeout stops and removes the container', async () => {
    const project = await resolveProject({ projectDir: await projectWith({}) });
    fake.scriptRun({ hang: true });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new InterruptedError('timeout', 'the command ran longer than 1 s')), 20);
    const e = (await runProject(project, { argv: ['sleep', '100'] }, io(ctl.signal).io).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.TIMEOUT);
    expect(fake.containers()).toHaveLength(0);
  });

  it('the extension cache: built once (committed), reused while the tree is unchanged, rebuilt when it changes', async () => {
    const dir = await projectWith({ 'setup.py': 'from setuptools import setup\n', 'ext.c': 'int x;\n' }, 0o700);
    const project = await resolveProject({ projectDir: dir });
    const run = () => runProject(project, { argv: ['python', '-c', 'pass'] }, io().io);
    const [first] = await run();
    expect(first!.extension.cached).toBe(false);
    const build = fake.runs[0]!;
    expect(build.labels?.[LABEL.kind]).toBe('ext-build');
    // the copy is made readable by any user, whatever the project directory's mode
    expect(build.cmd.join(' ')).toMatch(/chmod -R u\+rwX,go\+rX \/pydbg\/build/);
    const [second] = await run();
    expect(second!.extension.cached).toBe(true);
    expect(fake.runs.filter((s) => s.labels?.[LABEL.kind] === 'ext-build')).toHaveLength(1);
    await writeFile(join(dir, 'ext.c'), 'int y;\n');
    const [third] = await run();
    expect(third!.extension.cached).toBe(false);
    // the superseded build of this project is removed
    expect(fake.images().filter((i) => i.labels[LABEL.kind] === 'ext')).toHaveLength(1);
  });

  it('environment precedence: defaults < pydbg.yaml env < -e; no network unless asked, then a bridge', async () => {
    const dir = await projectWith({ 'pydbg.yaml': 'env:\n  A: from-yaml\n  B: from-yaml\n' });
    const project = await resolveProject({ projectDir: dir });
    await runProject(project, { argv: ['true'], env: { B: 'from-flag' } }, io().io);
    expect(fake.runs[0]!.env).toMatchObject({ A: 'from-yaml', B: 'from-flag', PYTHONFAULTHANDLER: '1' });
    expect(fake.runs[0]!.networkMode).toBe('none');
    await runProject(project, { argv: ['true'], network: true }, io().io);
    expect(fake.runs[1]!.networkMode).toBe('bridge');
  });

  it('a command missing from the image is exit 127 with a hint, not a crash', async () => {
    const project = await resolveProject({ projectDir: await projectWith({}) });
    fake.scriptRun({ exitCode: 127, stderr: 'pydbg-exec: command not found: pyhton\n' });
    const e = (await runProject(project, { argv: ['pyhton'] }, io().io).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.COMMAND_NOT_FOUND);
  });
});
