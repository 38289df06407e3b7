/**
 * The daily loop: the user's extension built inside a variant and a repro run there, on the real
 * engine, with the examples as inputs. Images (built by the global setup, test/setup/images.ts):
 * 3.13 debug, 3.13 freethreaded, 3.11 nopymalloc.
 */
import { chmod, cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const EX = join(ROOT, 'examples');
interface RunJson {
  exitCode: number;
  signal: string | null;
  python: string;
  variant: string;
  extension: { kind: string; cached: boolean };
  crash?: { signal: string; userFrame: { function: string; file: string; line: number } | null; pyBt: string; faulthandler: string[] };
}

async function runJson(args: string[]): Promise<{ json: RunJson; stderr: string; exitCode: number }> {
  const r = await pydbg(['run', '--json', '-', ...args]);
  let json: RunJson;
  try {
    json = JSON.parse(r.stdout) as RunJson;
  } catch {
    throw new Error(`pydbg run ${args.join(' ')} printed no JSON (exit ${r.exitCode}):\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  }
  return { json, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

async function copyExample(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pydbg-${name}-`));
  await cp(join(EX, name), dir, { recursive: true });
  return dir;
}

async function runContainers(): Promise<string[]> {
  const r = await execa('docker', ['ps', '-a', '-q', '--filter', 'label=io.pydbg.kind=run']);
  const b = await execa('docker', ['ps', '-a', '-q', '--filter', 'label=io.pydbg.kind=ext-build']);
  return [...r.stdout.split('\n'), ...b.stdout.split('\n')].filter(Boolean);
}

beforeAll(async () => {
  await requireEngine();
  await requireImages('debug-3.13', 'freethreaded-3.13', 'nopymalloc-3.11');
});

describe('pydbg run on 3.13 debug', () => {
  const v = ['--variant', 'debug', '--python', '3.13'];

  it('use_after_free: the debug hooks (pymalloc_debug) fill the freed block with 0xDD…, so the use crashes at uaf.c:10 and the report says why', async () => {
    const r = await runJson([...v, '-C', join(EX, 'use_after_free'), '--', 'python', 'repro.py']);
    expect(r.exitCode).toBe(139);
    expect(r.json.crash?.userFrame).toMatchObject({ function: 'use_after_free', file: 'uaf.c', line: 10 });
    // 0xDDDDDDDDDDDDDDDD: the object's type pointer, read from memory the debug hooks freed and filled
    expect(r.stderr).toMatch(/=0xdddddddddddddd[0-9a-f]{2}: the allocator's dead-byte fill/);
  });

  it('clean example (pyproject.toml): builds, runs, exit 0, stdout passed through', async () => {
    const r = await runJson([...v, '-C', join(EX, 'clean'), '--', 'python', 'repro.py']);
    expect(r.exitCode).toBe(0);
    expect(r.json).toMatchObject({ exitCode: 0, signal: null, python: '3.13.5', variant: 'debug', extension: { kind: 'pyproject' } });
    expect(r.stderr).toContain('clean: ok'); // with --json -, the command's stdout goes to stderr
  });

  it('refleak example (setup.py): the leaked list shows as +1 total refcount per call', async () => {
    const r = await pydbg(['run', ...v, '-C', join(EX, 'refleak'), '--', 'python', 'repro.py']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/total refcount grew by 1\.0\d per call/);
  });

  it('nullderef example: SIGSEGV, and the report names get_value at crash.c:17 and the Python frame', async () => {
    const r = await runJson([...v, '-C', join(EX, 'nullderef'), '--', 'python', 'repro.py']);
    expect(r.exitCode).toBe(139);
    expect(r.json.signal).toBe('SIGSEGV');
    expect(r.json.crash?.userFrame).toEqual(expect.objectContaining({ function: 'get_value', file: 'crash.c', line: 17 }));
    expect(r.json.crash?.pyBt).toContain('lookup_all');
    expect(r.json.crash?.faulthandler.join('\n')).toContain('Fatal Python error: Segmentation fault');
    expect(r.stderr).toContain('crashed with SIGSEGV in get_value at crash.c:17 (your extension)');
    const src = (await readFile(join(EX, 'nullderef', 'crash.c'), 'utf8')).split('\n');
    expect(src[16]).toContain('e->value'); // line 17 really is the dereference
  });

  it('--gdb runs the command under gdb from the start', async () => {
    const r = await runJson([...v, '--gdb', '-C', join(EX, 'nullderef'), '--', 'python', 'repro.py']);
    expect(r.json.crash?.userFrame).toEqual(expect.objectContaining({ function: 'get_value', line: 17 }));
  });

  it('the extension build is cached: hit when unchanged, miss after a .c change', async () => {
    const dir = await copyExample('clean');
    const c = join(dir, 'clean.c');
    // the cache is keyed by content: make this copy's sources unique to this test run
    await writeFile(c, `${await readFile(c, 'utf8')}\n/* run ${Date.now()} */\n`);
    const first = await runJson([...v, '-C', dir, '--', 'python', 'repro.py']);
    expect(first.json.extension.cached).toBe(false);
    const second = await runJson([...v, '-C', dir, '--', 'python', 'repro.py']);
    expect(second.json.extension.cached).toBe(true);
    await writeFile(c, `${await readFile(c, 'utf8')}\n/* edited */\n`);
    const third = await runJson([...v, '-C', dir, '--', 'python', 'repro.py']);
    expect(third.json.extension.cached).toBe(false);
    expect(third.exitCode).toBe(0);
  });

  it('a directory with no extension runs the command as is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-plain-'));
    await writeFile(join(dir, 'hello.py'), 'import sys\nprint("refs", hasattr(sys, "gettotalrefcount"))\n');
    const r = await runJson([...v, '-C', dir, '--', 'python', 'hello.py']);
    expect(r.json.extension.kind).toBe('none');
    expect(r.stderr).toContain('refs True');
  });

  it('exit codes pass through; the mount is read-only; the user is not root', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-plain-'));
    await chmod(dir, 0o755); // a readable project: no need for root in the container
    expect((await pydbg(['run', ...v, '-C', dir, '--', 'python', '-c', 'import sys; sys.exit(7)'])).exitCode).toBe(7);
    const ro = await pydbg(['run', ...v, '-C', dir, '--', 'sh', '-c', 'touch /src/x 2>/dev/null && echo writable || echo read-only; id -u']);
    expect(ro.stdout.split('\n')[0]).toBe('read-only');
    expect(ro.stdout.split('\n')[1]).not.toBe('0');
  });

  it('user errors: one line, a hint, the documented exit code', async () => {
    const plain = await mkdtemp(join(tmpdir(), 'pydbg-plain-'));
    const nf = await pydbg(['run', ...v, '-C', plain, '--', 'no-such-tool', '--x']);
    expect(nf.exitCode).toBe(127);
    expect(nf.stderr).toContain('command not found in the container: no-such-tool');

    const bad = await mkdtemp(join(tmpdir(), 'pydbg-badcfg-'));
    await writeFile(join(bad, 'pydbg.yaml'), 'python: "3.13"\nbuild:\n  kind: setup.py\n  sorces: [a.c]\n');
    const cfg = await pydbg(['run', ...v, '-C', bad, '--', 'true']);
    expect(cfg.exitCode).toBe(10);
    expect(cfg.stderr).toMatch(/pydbg\.yaml:4:3: build\.sorces: unknown field/);

    await writeFile(join(bad, 'pydbg.yaml'), 'build:\n  kind: setup.py\n');
    const missing = await pydbg(['run', ...v, '-C', bad, '--', 'true']);
    expect(missing.exitCode).toBe(12);
    expect(missing.stderr).toContain('no setup.py');

    const broken = await copyExample('clean');
    await writeFile(join(broken, 'clean.c'), '#include <Python.h>\nint broken( {\n');
    const b = await pydbg(['run', ...v, '-C', broken, '--', 'python', 'repro.py']);
    expect(b.exitCode).toBe(11);
    expect(b.stderr).toMatch(/clean\.c:2:\d+: error/);

    const noimg = await pydbg(['run', '--no-build', '--variant', 'ubsan', '--python', '3.12', '-C', plain, '--', 'true']);
    expect(noimg.exitCode).toBe(13);
    expect(noimg.stderr).toContain("pydbg env build --variant ubsan --python 3.12.12");
    expect(await runContainers()).toEqual([]);
  });

  it('Ctrl-C stops and removes the container (exit 130); --timeout does too (exit 124)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-plain-'));
    const child = execa(process.execPath, [CLI, 'run', ...v, '-C', dir, '--', 'python', '-c', 'import time; print("started", flush=True); time.sleep(300)'], { reject: false });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('never started')), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('started')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    expect(await runContainers()).toHaveLength(1);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(await runContainers()).toEqual([]);

    const t = await pydbg(['run', ...v, '-C', dir, '--timeout', '3', '--', 'python', '-c', 'import time; time.sleep(300)']);
    expect(t.exitCode).toBe(124);
    expect(t.stderr).toContain('timed out');
    expect(await runContainers()).toEqual([]);
  });
});

describe('pydbg run on 3.13 freethreaded', () => {
  it('a pyproject extension falls back to build_ext offline (no cp313t wheel tags) and runs', async () => {
    const r = await pydbg(['run', '--variant', 'freethreaded', '--python', '3.13', '-C', join(EX, 'clean'), '--', 'python', 'repro.py']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('building with setup.py build_ext instead');
    expect(r.stdout).toContain('clean: ok');
  });
});

describe('pydbg.yaml: system and Python packages in a cached derived image', () => {
  it('installs apt packages and wheelhouse wheels once, then reuses the image', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-pkgs-'));
    await chmod(dir, 0o755);
    // a tiny pure-Python wheel, written by hand (a wheel is a zip with METADATA/WHEEL/RECORD)
    const wheels = join(dir, 'wheels');
    await execa('mkdir', ['-p', wheels]);
    const makeWheel = String.raw`
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1] + '/pydbgdemo-1.0-py3-none-any.whl', 'w')
z.writestr('pydbgdemo.py', 'ANSWER = 42\n')
z.writestr('pydbgdemo-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\nName: pydbgdemo\nVersion: 1.0\n')
z.writestr('pydbgdemo-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\nGenerator: pydbg-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
z.writestr('pydbgdemo-1.0.dist-info/RECORD', '')
z.close()
`;
    await execa('python3', ['-c', makeWheel, wheels]);
    await writeFile(join(dir, 'pydbg.yaml'), 'system_packages: [libyaml-dev]\npython_packages: [pydbgdemo]\nwheelhouse: wheels\nenv:\n  PYDBG_DEMO: "yes"\n');
    const probe = ['sh', '-c', 'test -f /usr/include/yaml.h && python -c "import os, pydbgdemo; print(pydbgdemo.ANSWER, os.environ[\'PYDBG_DEMO\'])"'];
    const first = await pydbg(['run', '--variant', 'debug', '--python', '3.13', '-C', dir, '--', ...probe]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe('42 yes');
    expect(first.stderr).toContain('installing libyaml-dev, pydbgdemo into a derived image');
    const second = await pydbg(['run', '--variant', 'debug', '--python', '3.13', '-C', dir, '--', ...probe]);
    expect(second.stdout.trim()).toBe('42 yes');
    expect(second.stderr).not.toContain('installing');
  });
});

describe('--malloc: another C allocator, preloaded', () => {
  it.each([
    ['jemalloc', 'libjemalloc.so.2'],
    ['tcmalloc', 'libtcmalloc_minimal.so.4'],
  ])('--malloc %s: the process maps %s (and glibc runs map neither)', async (allocator, lib) => {
    const maps = ['python', '-c', "import re; print(sorted(set(re.findall(r'lib(?:jemalloc|tcmalloc\\w*)\\.so[.\\d]*', open('/proc/self/maps').read()))))"];
    const r = await pydbg(['run', '--variant', 'debug', '--python', '3.13', '-C', join(EX, 'clean'), '--malloc', allocator, '--', ...maps]);
    expect(r.exitCode, r.all).toBe(0);
    // /proc/self/maps names the file the symlink points to (libtcmalloc_minimal.so.4.5.10)
    expect(r.stdout.trim()).toMatch(new RegExp(`^\\['${lib.replace(/\./g, '\\.')}[.\\d]*'\\]$`));
    const plain = await pydbg(['run', '--variant', 'debug', '--python', '3.13', '-C', join(EX, 'clean'), '--malloc', 'glibc', '--', ...maps]);
    expect(plain.stdout.trim()).toBe('[]');
  });
});

describe('pydbg run on 3.11 nopymalloc', () => {
  const v = ['--variant', 'nopymalloc', '--python', '3.11'];
  const valgrind = ['valgrind', '--error-exitcode=3', '--errors-for-leak-kinds=definite', '--leak-check=full', '--suppressions=/opt/pydbg/valgrind-python.supp', 'python', 'repro.py'];

  it('leak example under Valgrind: definitely lost at the malloc line', async () => {
    const r = await pydbg(['run', ...v, '-C', join(EX, 'leak'), '--', ...valgrind]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/10,240 bytes in 10 blocks are definitely lost/);
    expect(r.stderr).toMatch(/by 0x[0-9A-F]+: leaky_function \(leak\.c:7\)/);
  });

  it('oob_write example under Valgrind: invalid write at the write', async () => {
    const r = await pydbg(['run', ...v, '-C', join(EX, 'oob_write'), '--', ...valgrind]);
    expect(r.stderr).toMatch(/Invalid write of size 4\n.*at 0x[0-9A-F]+: overflow \(oob\.c:7\)/);
  });

  it('clean example under Valgrind: no errors', async () => {
    const r = await pydbg(['run', ...v, '-C', join(EX, 'clean'), '--', ...valgrind]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('clean: ok');
    expect(r.stderr).toMatch(/ERROR SUMMARY: 0 errors/);
  });
});
