/**
 * Real builds against the real engine: each variant, built by the global setup
 * (test/setup/images.ts) through `pydbg env build --json`, verified by the in-image probe, and
 * then exercised the way a C-extension author would use it. Each test reads the build result it
 * needs from the global setup; none depends on another test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { envBuild, type Progress } from '../../src/provision/variant.js';
import { planVariant } from '../../src/project/plan.js';
import { DockerEngine } from '../../src/engine/docker.js';
import type { BuildRequest } from '../../src/engine/engine.js';
import { buildsDir } from '../../src/paths.js';
import { buildVariant, inImage, pydbg, requireEngine, requireImages, type BuildJson } from './helpers.js';

const needed = () => requireImages('nopymalloc-3.11', 'debug-3.13', 'freethreaded-3.13', 'count-allocs-2.7', 'asan-3.13', 'ubsan-3.13', 'tsan-freethreaded-3.13', 'trace-refs-3.13');
let images: Awaited<ReturnType<typeof needed>>;
beforeAll(async () => {
  await requireEngine();
  images = await needed();
});

async function labels(image: string): Promise<Record<string, string>> {
  const res = await execa('docker', ['image', 'inspect', image, '--format', '{{json .Config.Labels}}']);
  return JSON.parse(res.stdout) as Record<string, string>;
}

function expectVerified(r: BuildJson, props: Record<string, unknown>) {
  expect(r.probe?.mismatches).toEqual([]);
  expect(r.verified).toMatchObject(props);
  // what the probe measured inside the image, not just what was asked for
  expect(r.probe?.properties).toMatchObject(props);
  expect(r.probe?.properties).toMatchObject({ ext_build: true });
  if (r.verified.py_debug) expect(r.probe?.properties.gdb_py_bt).toBe(true);
}

describe('pydbg env build (real engine, real CPython builds)', () => {
  it('3.11 nopymalloc: --with-pydebug --without-pymalloc --with-valgrind, Valgrind-ready', async () => {
    const r = images['nopymalloc-3.11'];
    expect(r.image).toBe('pydbg/cpython:3.11.2-nopymalloc-amd64');
    expectVerified(r, { version: '3.11.2', py_debug: true, ref_debug: true, with_pymalloc: false, with_valgrind: true, abiflags: 'd', allocator: 'malloc_debug' });
    const l = await labels(r.image);
    expect(l['io.pydbg.python']).toBe('3.11.2');
    expect(l['io.pydbg.source.sha256']).toBe('2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849');
    expect(JSON.parse(l['io.pydbg.configure-args']!)).toEqual(['--with-pydebug', '--without-pymalloc', '--with-valgrind']);
    expect(l['io.pydbg.base.id']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(l['io.pydbg.cache-key']).toBe(r.key);
    // Valgrind runs the interpreter cleanly with the shipped suppressions
    const out = await inImage(r.image, 'valgrind -q --error-exitcode=99 --suppressions=/opt/pydbg/valgrind-python.supp python -c "print(6*7)"');
    expect(out.trim()).toBe('42');
  });

  it('prints exactly the Dockerfile it built (env dockerfile)', async () => {
    const printed = await pydbg(['env', 'dockerfile', '--variant', 'nopymalloc', '--python', '3.11']);
    expect(printed.exitCode).toBe(0);
    const built = await readFile(join(buildsDir(), '3.11.2-nopymalloc-amd64', 'Dockerfile'), 'utf8');
    expect(printed.stdout + '\n').toBe(built);
  });

  it('a warm rebuild reuses the verified image without calling docker build', async () => {
    const built = images['nopymalloc-3.11'];
    class CountingEngine extends DockerEngine {
      builds = 0;
      override async build(req: BuildRequest) {
        this.builds += 1;
        return super.build(req);
      }
    }
    const counting = new CountingEngine();
    const quiet: Progress = { log() {}, phase() {}, event() {}, output() {} };
    const r = await envBuild(planVariant({ variant: 'nopymalloc', python: '3.11' }), { engine: counting, progress: quiet, signal: new AbortController().signal });
    expect(r.cached).toBe(true);
    expect(r.imageId).toBe(built.imageId);
    expect(counting.builds).toBe(0);
    // and through the CLI, as a user runs it
    const again = await buildVariant(['--variant', 'nopymalloc', '--python', '3.11']);
    expect(again.cached).toBe(true);
    expect(again.imageId).toBe(built.imageId);
    expect(again.seconds).toBeLessThan(5);
  });

  it('3.13 debug: Py_DEBUG with pymalloc behind the debug hooks, which catch a buffer overflow', async () => {
    const r = images['debug-3.13'];
    expect(r.image).toBe('pydbg/cpython:3.13.5-debug-amd64');
    expectVerified(r, { version: '3.13.5', py_debug: true, ref_debug: true, with_pymalloc: true, with_valgrind: false, abiflags: 'd', allocator: 'pymalloc_debug', mem_debug_hooks: true });
    const res = await execa('docker', ['run', '--rm', '--network', 'none', r.image, 'python', '-c', 'import _testcapi; _testcapi.pymem_buffer_overflow()'], { reject: false });
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toContain('bad trailing pad byte');
  });

  it('3.13 freethreaded: --disable-gil, abiflag t, mimalloc, GIL really off', async () => {
    const r = images['freethreaded-3.13'];
    expectVerified(r, { gil_disabled: true, abiflags: 't', allocator: 'mimalloc', py_debug: false });
    const out = await inImage(r.image, 'python -c "import sys; print(sys._is_gil_enabled())"');
    expect(out.trim()).toBe('False');
  });

  it('3.13 asan: --with-address-sanitizer, pymalloc off', async () => {
    const r = images['asan-3.13'];
    expect(r.image).toBe('pydbg/cpython:3.13.5-asan-amd64');
    expectVerified(r, { version: '3.13.5', asan: true, ubsan: false, with_pymalloc: false, py_debug: false });
    expect(JSON.parse((await labels(r.image))['io.pydbg.configure-args']!)).toEqual(['--with-address-sanitizer']);
  });

  it('3.13 tsan,freethreaded: --with-thread-sanitizer --disable-gil, the free-threaded suppressions in place', async () => {
    const r = images['tsan-freethreaded-3.13'];
    expect(r.image).toBe('pydbg/cpython:3.13.5-tsan_freethreaded-amd64');
    expectVerified(r, { version: '3.13.5', tsan: true, asan: false, gil_disabled: true, abiflags: 't', py_debug: false });
    expect(JSON.parse((await labels(r.image))['io.pydbg.configure-args']!)).toEqual(['--with-thread-sanitizer', '--disable-gil']);
    expect(await inImage(r.image, 'grep -c race_top: /opt/pydbg/tsan-suppressions.txt')).toMatch(/^[1-9]\d*\n?$/);
  });

  it('3.13 debug,trace-refs: sys.getobjects() lists every object, str and int included', async () => {
    const r = images['trace-refs-3.13'];
    expectVerified(r, { version: '3.13.5', py_debug: true, trace_refs: true, abiflags: 'd' });
    const out = await inImage(r.image, `python -c "import sys; ts = {type(o).__name__ for o in sys.getobjects(0)}; print('str' in ts and 'int' in ts)"`);
    expect(out.trim()).toBe('True');
  });

  it('3.13 ubsan: --with-undefined-behavior-sanitizer, pymalloc on', async () => {
    const r = images['ubsan-3.13'];
    expect(r.image).toBe('pydbg/cpython:3.13.5-ubsan-amd64');
    expectVerified(r, { version: '3.13.5', asan: false, ubsan: true, with_pymalloc: true, py_debug: false });
    expect(JSON.parse((await labels(r.image))['io.pydbg.configure-args']!)).toEqual(['--with-undefined-behavior-sanitizer']);
  });

  it('2.7 count-allocs: -DCOUNT_ALLOCS with Py_DEBUG, sys.getcounts per type, sys.getobjects; suppressions uncommented', async () => {
    const r = images['count-allocs-2.7'];
    expectVerified(r, { version: '2.7.18', py_debug: true, count_allocs: true, trace_refs: true, abiflags: null, mem_debug_hooks: true });
    const out = await inImage(r.image, `python -c "import sys; print(sorted(n for (n, a, f, m) in sys.getcounts())[:3] != [])"`);
    expect(out.trim()).toBe('True');
    // Py_TRACE_REFS is implied by Py_DEBUG on 2.7: every live object is on sys.getobjects
    const objs = await inImage(r.image, 'python -c "import sys; print(len(sys.getobjects(0)) > 1000 and sys.gettotalrefcount() > 0)"');
    expect(objs.trim()).toBe('True');
    // the ###{ … ###} blocks are uncommented; the file's ### prose stays a comment (valgrind parses it:
    // the probe's valgrind_suppressions)
    const supp = await inImage(r.image, 'grep -c "^###[{}]" /opt/pydbg/valgrind-python.supp || true; grep -c "fun:PyObject_Free" /opt/pydbg/valgrind-python.supp');
    expect(supp.trim().split('\n')).toEqual(['0', expect.stringMatching(/^[1-9]\d*$/)]);
    expect(r.probe?.properties).toMatchObject({ valgrind_suppressions: true, valgrind_stacks: true });
  });

  it('env list and env inspect show the verified properties and provenance', async () => {
    const list = await pydbg(['env', 'list', '--json']);
    expect(list.exitCode).toBe(0);
    const rows = JSON.parse(list.stdout) as Array<{ image: string; python: string; variant: string; arch: string; verified: Record<string, unknown> }>;
    expect(rows.map((r) => r.image)).toEqual(expect.arrayContaining(Object.values(images).map((b) => b.image)));
    const text = await pydbg(['env', 'list']);
    expect(text.stdout).toMatch(/3\.11\.2-nopymalloc-amd64\s+3\.11\.2\s+nopymalloc\s+amd64/);
    const insp = await pydbg(['env', 'inspect', '3.11.2-nopymalloc', '--json']);
    expect(insp.exitCode).toBe(0);
    const j = JSON.parse(insp.stdout) as { labels: Record<string, string>; architecture: string; probe: { properties: Record<string, unknown> } };
    expect(j.architecture).toBe('amd64');
    expect(j.labels['io.pydbg.variant']).toBe('nopymalloc');
    expect(j.probe.properties).toMatchObject({ with_pymalloc: false, with_valgrind: true });
    const missing = await pydbg(['env', 'inspect', '3.11.2-nope']);
    expect(missing.exitCode).toBe(8);
  });
});
