/**
 * ARM: cross-built on the x86-64 engine (by the global setup, test/setup/images.ts), verified and
 * run under QEMU user emulation.
 * Needs binfmt_misc handlers for aarch64 and arm with the F flag (.ci/run registers them); a
 * missing handler fails these tests with pydbg's own error, never a skip.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/analyses/types.js';
import { buildVariant, pydbg, requireEngine, requireImages, ROOT, type BuildJson } from './helpers.js';

const EX = join(ROOT, 'examples');
let arm64: BuildJson;
let armv7: BuildJson;

async function imageInspect(ref: string): Promise<{ Architecture: string; Variant?: string; Config: { Labels: Record<string, string> } }> {
  const r = await execa('docker', ['image', 'inspect', ref]);
  return (JSON.parse(r.stdout) as Array<{ Architecture: string; Variant?: string; Config: { Labels: Record<string, string> } }>)[0]!;
}

beforeAll(async () => {
  await requireEngine();
  const images = await requireImages('arm64-debug-3.13', 'armv7-nopymalloc-3.13');
  arm64 = images['arm64-debug-3.13'];
  armv7 = images['armv7-nopymalloc-3.13'];
});

describe('cross-built images', () => {
  it('arm64 3.13 debug: a real arm64 image, cross-built, and the probe passed under QEMU', async () => {
    const img = await imageInspect(arm64.image);
    expect(img.Architecture).toBe('arm64');
    expect(img.Config.Labels['io.pydbg.build-mode']).toBe('cross (on amd64)');
    expect(img.Config.Labels['io.pydbg.xbuild.id']).toMatch(/^sha256:/);
    expect(img.Config.Labels['io.pydbg.buildpython.id']).toMatch(/^sha256:/);
    const p = arm64.probe!;
    expect(p.mismatches).toEqual([]);
    expect(p.properties).toMatchObject({
      py_debug: true, ext_build: true, pip_install: true, gdb_py_bt: true,
      // what a cross build loses without the CONFIG_SITE answers
      hash_algorithm: 'siphash13', tzset: true, computed_gotos: true, missing_modules: [],
    });
    expect(p.info).toMatchObject({ machine: 'aarch64', gdb_via: 'qemu-gdb-stub' });
    expect(String(p.info.config_args)).toContain('--host=aarch64-linux-gnu');
  });
  it('armv7 3.13 nopymalloc: linux/arm/v7, no pymalloc, Valgrind-ready', async () => {
    const img = await imageInspect(armv7.image);
    expect(img.Architecture).toBe('arm');
    expect(img.Variant).toBe('v7');
    expect(armv7.probe!.properties).toMatchObject({ with_pymalloc: false, with_valgrind: true, hash_algorithm: 'siphash13', missing_modules: [] });
    expect(armv7.probe!.info).toMatchObject({ machine: 'armv7l' });
    // one build Python per source, shared by both targets
    expect((await imageInspect(armv7.image)).Config.Labels['io.pydbg.buildpython.id']).toBe((await imageInspect(arm64.image)).Config.Labels['io.pydbg.buildpython.id']);
  });
  it('pip, installed on the build machine, belongs to the target interpreter', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'pydbg-arm-'));
    const r = await pydbg(['run', '--arch', 'arm64', '--variant', 'debug', '-C', empty, '--', 'pip', '--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^pip \S+ from \/opt\/python\/lib\/python3\.13\/site-packages\/pip \(python 3\.13\)/);
    const s = await pydbg(['run', '--arch', 'arm64', '--variant', 'debug', '-C', empty, '--', 'sh', '-c', 'head -n 1 /opt/python/bin/pip; python -c "import setuptools, wheel, platform; print(platform.machine(), setuptools.__version__)"']);
    expect(s.stdout).toMatch(/^#!\/opt\/python\/bin\/python3\.13\n/);
    expect(s.stdout).toContain('aarch64');
  });
  it('a warm request reuses the image without building', async () => {
    const again = await buildVariant(['--variant', 'debug', '--python', '3.13', '--arch', 'arm64']);
    expect(again.cached).toBe(true);
    expect(again.imageId).toBe(arm64.imageId);
  });
  it('3.9 cannot be cross-built: the error says how to build it anyway', async () => {
    const r = await pydbg(['env', 'build', '--variant', 'debug', '--python', '3.9', '--arch', 'arm64']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('--build-mode emulated');
  });
});

describe('running under QEMU', () => {
  it('the clean example builds for arm64 inside the emulated container and runs', async () => {
    const r = await pydbg(['run', '--arch', 'arm64', '-C', join(EX, 'clean'), '--', 'python', '-c', 'import clean, platform; print("machine", platform.machine()); import runpy; runpy.run_path("repro.py")']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('machine aarch64');
    expect(r.stdout).toContain('clean: ok');
  });
  it('a board sets the emulated CPU: rpi3 (Cortex-A53, ARMv8.0) has no LSE atomics, the default CPU does', async () => {
    // AT_HWCAP from the process's auxiliary vector (QEMU emulates it for the guest); bit 8 = atomics
    const code = ['import struct', 'with open("/proc/self/auxv", "rb") as f: d = f.read()', 'w = struct.unpack("<%dQ" % (len(d) // 8), d)', 'print("atomics", bool(dict(zip(w[::2], w[1::2]))[16] & 256))'].join('\n');
    const board = await pydbg(['run', '--board', 'rpi3', '--variant', 'debug', '-C', join(EX, 'clean'), '--', 'python', '-c', code]);
    expect(board.stderr).toContain('board rpi3, CPU cortex-a53');
    expect(board.stdout).toContain('atomics False');
    const dflt = await pydbg(['run', '--arch', 'arm64', '--variant', 'debug', '-C', join(EX, 'clean'), '--', 'python', '-c', code]);
    expect(dflt.stdout).toContain('atomics True');
  });
  it('nullderef: the crash backtrace comes through QEMU\'s gdb stub and names crash.c:17', async () => {
    const r = await pydbg(['run', '--arch', 'arm64', '--json', '-', '-C', join(EX, 'nullderef'), '--', 'python', 'repro.py']);
    expect(r.exitCode).toBe(139);
    const json = JSON.parse(r.stdout) as { crash: { userFrame: { function: string; file: string; line: number }; pyBt: string; reproducedUnderGdb: boolean } };
    expect(json.crash.reproducedUnderGdb).toBe(true);
    expect(json.crash.userFrame).toMatchObject({ function: 'get_value', file: 'crash.c', line: 17 });
    expect(json.crash.pyBt).toContain('repro.py');
  });
  it('memcheck on arm64 finds the out-of-bounds write at oob.c:7', async () => {
    const r = await pydbg(['check', 'memcheck', '--arch', 'arm64', '--variant', 'debug', '-C', join(EX, 'oob_write'), 'repro.py', '--json', '-']);
    expect(r.exitCode).toBe(20);
    const report = JSON.parse(r.stdout) as AnalysisReport;
    const f = report.userFindings.find((x) => x.kind === 'InvalidWrite');
    expect(f?.userFrame).toMatchObject({ function: 'overflow', file: 'oob.c', line: 7 });
  });
  it('leak hunting works unchanged under emulation: +1 list per call', async () => {
    const r = await pydbg(['check', 'leaks', '--arch', 'arm64', '--variant', 'debug', '-C', join(EX, 'refleak'), 'refleak:search', '--iterations', '200', '--json', '-']);
    expect(r.exitCode).toBe(20);
    const report = JSON.parse(r.stdout) as AnalysisReport;
    expect(report.userFindings.map((f) => f.message).join('\n')).toMatch(/1 list per call/);
  });
  it('a named arm64 run: stacks, heap, inject and core refuse with the reason and the alternative (--gdb); stop removes it', async () => {
    const name = `pydbg-arm-live-${process.pid}`;
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-arm-live-'));
    try {
      const started = await pydbg(['run', '-q', '--arch', 'arm64', '--variant', 'debug', '-C', dir, '--name', name, '--detach', '--', 'python', '-c', 'import time; time.sleep(600)']);
      expect(started.exitCode, started.all).toBe(0);
      for (const cmd of [['stacks', name], ['heap', name, '--samples', '1'], ['inject', name, '-c', 'print(1)'], ['core', name]]) {
        const r = await pydbg(cmd);
        expect(r.exitCode, `${cmd[0]}: ${r.all}`).toBe(2);
        expect(r.stderr).toContain('runs arm64 under QEMU user emulation on this amd64 engine');
        expect(r.stderr).toContain('--gdb');
        expect(r.stderr).not.toMatch(/ptrace|Traceback/);
      }
    } finally {
      const stopped = await pydbg(['stop', name]);
      expect(stopped.exitCode, stopped.all).toBe(0);
      const left = await execa('docker', ['ps', '-a', '-q', '--filter', `label=io.pydbg.name=${name}`]);
      expect(left.stdout.trim()).toBe('');
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('memcheck on armv7 (nopymalloc) finds the definite leak at leak.c:7', async () => {
    const r = await pydbg(['check', 'memcheck', '--arch', 'armv7', '-C', join(EX, 'leak'), 'repro.py', '--json', '-']);
    expect(r.exitCode).toBe(20);
    const report = JSON.parse(r.stdout) as AnalysisReport;
    const f = report.userFindings.find((x) => x.kind === 'Leak_DefinitelyLost');
    expect(f?.userFrame).toMatchObject({ function: 'leaky_function', file: 'leak.c', line: 7 });
  });
});
