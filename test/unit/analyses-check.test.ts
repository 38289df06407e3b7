/**
 * The check orchestrator with runProject injected (no Docker, no module mocks): the stub plays the
 * tool by writing files into the directory mounted at OUT_MOUNT.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { check, type CheckDeps, type CheckInput } from '../../src/analyses/check.js';
import { OUT_MOUNT } from '../../src/container/layout.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import type { RunRequest, RunResult } from '../../src/exec/types.js';
import type { ResolvedProject } from '../../src/project/project.js';
import { offlineIO } from './check-io.js';

const XML = readFileSync(new URL('../fixtures/memcheck-oob-3.13.xml', import.meta.url), 'utf8');
const CLEAN_XML = '<?xml version="1.0"?>\n<valgrindoutput>\n<protocolversion>4</protocolversion>\n</valgrindoutput>\n';

const io = offlineIO;

interface Call { project: ResolvedProject; req: RunRequest; stageMode: number; mountMode: number; mountUid: number }

/** A runProject that writes `files` where the tool would, and exits with `exitCode`. */
function tool(files: Record<string, string>, exitCode = 0, calls: Call[] = []): CheckDeps['runProject'] {
  return async (project, req) => {
    const mount = req.extraMounts!.find((m) => m.target === OUT_MOUNT)!.source;
    const [s, m] = [await stat(dirname(mount)), await stat(mount)];
    calls.push({ project, req, stageMode: s.mode & 0o7777, mountMode: m.mode & 0o7777, mountUid: m.uid });
    for (const [name, content] of Object.entries(files)) await writeFile(join(mount, name), content);
    const result: RunResult = {
      command: req.argv, image: 'sha256:ext', python: project.targets[0]!.plan.version.text, variant: project.targets[0]!.plan.spec.variants.join(','),
      exitCode, signal: null, durationSeconds: 0.1, extension: { kind: 'none', cached: true, image: 'sha256:ext', seconds: 0 },
    };
    return [result];
  };
}

let root: string;
let projectDir: string;
let reportsDir: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pydbg-check-unit-'));
  projectDir = join(root, 'project');
  reportsDir = join(root, 'cache', 'reports');
  await mkdir(projectDir);
  await writeFile(join(projectDir, 'repro.py'), 'print("hi")\n');
});
afterEach(() => rm(root, { recursive: true, force: true }));

const input = (over: Partial<CheckInput> = {}): CheckInput => ({ project: { projectDir, python: '3.13' }, analysis: 'memcheck', repro: ['repro.py'], options: {}, ...over });
const deps = (runProject: CheckDeps['runProject'], over: Partial<CheckDeps> = {}): Partial<CheckDeps> => ({
  runProject, containerUser: async () => '1000:1000', reportsDir: () => reportsDir, now: () => new Date('2025-01-02T03:04:05.678Z'), ...over,
});
const rejection = (p: Promise<unknown>): Promise<PydbgError> => p.then(() => { throw new Error('expected an error'); }, (e: PydbgError) => e);

describe('check: exit codes from the files the tool wrote', () => {
  it('findings in the user code: 20, with the raw files and report.json in a new report directory', async () => {
    const r = await check(input(), io(), deps(tool({ 'memcheck.7.xml': XML, 'memcheck.7.log': 'log\n', 'stray.txt': 'x' })));
    expect(r.exitCode).toBe(ExitCode.FINDINGS);
    const dir = join(reportsDir, '2025-01-02T03-04-05-678Z-memcheck');
    expect(r.reportPath).toBe(join(dir, 'report.json'));
    expect((await readdir(dir)).sort()).toEqual(['memcheck.7.log', 'memcheck.7.xml', 'report.json']);
    expect(await readdir(reportsDir)).toEqual(['2025-01-02T03-04-05-678Z-memcheck']); // the temporary directory is gone
    const saved = JSON.parse(readFileSync(r.reportPath, 'utf8'));
    expect(saved).toMatchObject({ schema: 'pydbg.report/1', analysis: 'memcheck', variant: 'nopymalloc', command: ['python', 'repro.py'], status: 'complete' });
    expect(saved.rawFiles).toEqual([join(dir, 'memcheck.7.log'), join(dir, 'memcheck.7.xml')]);
    expect(r.report.userFindings[0]).toMatchObject({ kind: 'InvalidWrite', userFrame: { file: 'oob.c', line: 7 } });
  });
  it('a clean run: 0', async () => {
    expect((await check(input(), io(), deps(tool({ 'memcheck.7.xml': CLEAN_XML })))).exitCode).toBe(0);
  });
  it('a repro that failed before the analysis finished: partial, TOOL_FAILED', async () => {
    const r = await check(input(), io(), deps(tool({ 'memcheck.7.xml': CLEAN_XML }, 3)));
    expect(r.report.status).toBe('partial');
    expect(r.report.partialReason).toContain('exited with code 3');
    expect(r.exitCode).toBe(ExitCode.TOOL_FAILED);
  });
  it('a tool that wrote nothing: TOOL_FAILED, and no empty report directory is left', async () => {
    const e = await rejection(check(input(), io(), deps(tool({}, 1))));
    expect(e.exitCode).toBe(ExitCode.TOOL_FAILED);
    expect(existsSync(reportsDir)).toBe(false);
  });
  it("massif's SVG is written next to the profile by the orchestrator", async () => {
    const profile = 'time_unit: i\nsnapshot=0\n#-----------\ntime=5\nmem_heap_B=2048\nmem_heap_extra_B=8\nmem_stacks_B=0\nheap_tree=empty\n';
    const r = await check(input({ analysis: 'massif' }), io(), deps(tool({ 'massif.3.out': profile })));
    expect(r.exitCode).toBe(0);
    const svg = r.report.rawFiles.find((f) => f.endsWith('massif.svg'))!;
    expect(readFileSync(svg, 'utf8')).toMatch(/^<\?xml[\s\S]*<svg/);
    expect(dirname(svg)).toBe(dirname(r.reportPath));
  });
});

describe('check: nothing runs when the analysis cannot', () => {
  it('an unavailable analysis is refused before any engine call, and nothing is created', async () => {
    const run = vi.fn(tool({}));
    const e = await rejection(check(input({ project: { projectDir, python: '3.13', variant: 'asan' } }), io(), deps(run)));
    expect(e.exitCode).toBe(ExitCode.ANALYSIS_UNAVAILABLE);
    expect(e.hint).toContain('--variant nopymalloc');
    expect(run).not.toHaveBeenCalled();
    expect(existsSync(reportsDir)).toBe(false);
  });
  it('leaks refuses a module:function that is not one, before running anything', async () => {
    const run = vi.fn(tool({}));
    const e = await rejection(check(input({ analysis: 'leaks', repro: ['os;__import__("x"):f'] }), io(), deps(run)));
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(run).not.toHaveBeenCalled();
  });
  it('an unknown analysis, a missing repro, a repro given twice: usage errors', async () => {
    expect((await rejection(check(input({ analysis: 'asna' }), io(), deps(tool({}))))).hint).toContain("did you mean 'asan'?");
    expect((await rejection(check(input({ repro: [] }), io(), deps(tool({}))))).exitCode).toBe(ExitCode.USAGE);
    await writeFile(join(projectDir, 'pydbg.yaml'), 'repros:\n  a: python repro.py\n');
    expect((await rejection(check(input({ reproName: 'a' }), io(), deps(tool({}))))).exitCode).toBe(ExitCode.USAGE);
  });
  it('a run that fails before the tool ran removes what pydbg created (the --out directory too)', async () => {
    const failing: CheckDeps['runProject'] = async () => { throw new PydbgError(ExitCode.NO_IMAGE, 'no image'); };
    const out = join(root, 'new', 'out');
    expect((await rejection(check(input({ out }), io(), deps(failing)))).exitCode).toBe(ExitCode.NO_IMAGE);
    expect(existsSync(join(root, 'new'))).toBe(false);
    await rejection(check(input(), io(), deps(failing)));
    expect(existsSync(reportsDir)).toBe(false);
  });
});

describe('check: the project and the repro', () => {
  it("pydbg.yaml's variant is used when the analysis can run on it", async () => {
    const calls: Call[] = [];
    await writeFile(join(projectDir, 'pydbg.yaml'), 'variant: [asan, release]\n');
    const r = await check(input(), io(), deps(tool({ 'memcheck.1.xml': CLEAN_XML }, 0, calls)));
    expect(r.report.variant).toBe('release');
    expect(calls[0]!.project.targets.map((t) => t.plan.spec.variants.join(','))).toEqual(['release']);
    await writeFile(join(projectDir, 'pydbg.yaml'), 'variant: asan\n');
    expect((await check(input(), io(), deps(tool({ 'memcheck.1.xml': CLEAN_XML })))).report.variant).toBe('nopymalloc');
  });
  it('a named repro is split by shell rules: quoted arguments stay one word', async () => {
    const calls: Call[] = [];
    await writeFile(join(projectDir, 'pydbg.yaml'), 'repros:\n  q: python repro.py \'a b\' "c d"\n');
    const r = await check(input({ repro: [], reproName: 'q' }), io(), deps(tool({ 'memcheck.1.xml': CLEAN_XML }, 0, calls)));
    expect(calls[0]!.req.argv.slice(-4)).toEqual(['python', 'repro.py', 'a b', 'c d']);
    expect(calls[0]!.req.crashArgv).toEqual(['python', 'repro.py', 'a b', 'c d']);
    expect(r.report.command).toEqual(['python', 'repro.py', 'a b', 'c d']);
  });
});

describe('check: the output directory', () => {
  it("never changes a user-given --out directory's mode; the container writes into a private directory inside it", async () => {
    const out = join(root, 'mine');
    await mkdir(out);
    await chmod(out, 0o750);
    const calls: Call[] = [];
    const r = await check(input({ out }), io(), deps(tool({ 'memcheck.4.xml': XML }, 0, calls)));
    expect((await stat(out)).mode & 0o7777).toBe(0o750);
    const c = calls[0]!;
    const mount = c.req.extraMounts![0]!.source;
    expect(mount).not.toBe(out);
    expect(mount.startsWith(`${out}/.pydbg-tmp-`)).toBe(true);
    expect(c.stageMode).toBe(0o700);
    // writable for the container user (1000:1000 here) only: owned by it as root, else reachable only through the 0700 parent
    if (process.getuid?.() === 0) expect([c.mountUid, c.mountMode]).toEqual([1000, 0o700]);
    else expect(c.mountMode).toBe(0o777);
    expect(c.req.user).toBe('1000:1000');
    expect((await readdir(out)).sort()).toEqual(['memcheck.4.xml', 'report.json']);
    expect(r.reportPath).toBe(join(out, 'report.json'));
  });
  it('an --out directory that does not exist is created, and kept with the results', async () => {
    const out = join(root, 'a', 'b');
    const r = await check(input({ out }), io(), deps(tool({ 'memcheck.4.xml': CLEAN_XML })));
    expect(r.reportPath).toBe(join(out, 'report.json'));
    expect((await readdir(out)).sort()).toEqual(['memcheck.4.xml', 'report.json']);
  });
  it('--user wins over the project owner', async () => {
    const calls: Call[] = [];
    const owner = vi.fn(async () => '1000:1000');
    await check(input({ run: { user: '4242:4242' } }), io(), deps(tool({ 'memcheck.1.xml': CLEAN_XML }, 0, calls), { containerUser: owner }));
    expect(calls[0]!.req.user).toBe('4242:4242');
    expect(owner).not.toHaveBeenCalled();
  });
});
