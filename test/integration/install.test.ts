/**
 * A real install, as a new user does it: `npm pack` of a copy of the clone (prepack empties dist/,
 * prepare compiles it), the tarball installed into a temporary prefix (dependencies from the
 * registry), and the installed `pydbg` run from a directory outside the clone — doctor, and a run in
 * the suite's 3.13 debug image (`--no-build`: this file builds nothing). Also `npm install -g .` from
 * the clone (a link; prepare builds dist/). The copy keeps the shared work tree's dist/ untouched.
 */
import { execa } from 'execa';
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireEngine, requireImages, ROOT } from './helpers.js';

const PACKED = ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'bin', 'src', 'templates', 'images'];
let tmp: string;
let clone: string;

const npm = (args: string[], cwd: string) => execa('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, reject: false, all: true });

beforeAll(async () => {
  await requireEngine();
  await requireImages('debug-3.13');
  tmp = await mkdtemp(join(tmpdir(), 'pydbg-install-'));
  clone = join(tmp, 'clone');
  await mkdir(clone);
  for (const f of PACKED) await cp(join(ROOT, f), join(clone, f), { recursive: true });
  // the clone's devDependencies (tsc for prepare), as after `npm ci`
  await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('install', () => {
  it('npm pack: the tarball carries dist/ (built by prepack/prepare), bin, templates and images, and no sources', async () => {
    const packed = await npm(['pack', '--pack-destination', tmp], clone);
    expect(packed.exitCode, packed.all).toBe(0);
    const tgz = (await readdir(tmp)).find((f) => f.endsWith('.tgz'))!;
    const list = (await execa('tar', ['tzf', join(tmp, tgz)])).stdout.split('\n');
    for (const f of ['package/bin/pydbg.js', 'package/dist/cli/main.js', 'package/dist/api.js', 'package/templates/Dockerfile.variant', 'package/images/probe.py', 'package/README.md']) {
      expect(list, f).toContain(f);
    }
    expect(list.filter((f) => f.startsWith('package/src/') || f.endsWith('.map'))).toEqual([]);

    // installed into a prefix (as `npm install -g`), run from a directory that is not the clone
    const prefix = join(tmp, 'prefix');
    const inst = await npm(['install', '-g', '--prefix', prefix, join(tmp, tgz)], tmp);
    expect(inst.exitCode, inst.all).toBe(0);
    const elsewhere = join(tmp, 'elsewhere');
    await mkdir(elsewhere);
    const bin = join(prefix, 'bin', 'pydbg');
    const doctor = await execa(bin, ['doctor'], { cwd: elsewhere, reject: false, all: true });
    expect(doctor.all).toMatch(/^ok {4}engine/m);
    expect(doctor.all).toMatch(/^ok {4}toolchain layer/m);
    const run = await execa(bin, ['run', '--variant', 'debug', '--python', '3.13', '--no-build', '--', 'python', '-c', 'print(1)'], { cwd: elsewhere, reject: false });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('1');
  });

  it('npm install -g . from the clone links it and builds dist/ (prepare)', async () => {
    await rm(join(clone, 'dist'), { recursive: true, force: true });
    const prefix = join(tmp, 'prefix-link');
    const inst = await npm(['install', '-g', '--prefix', prefix, '.'], clone);
    expect(inst.exitCode, inst.all).toBe(0);
    const v = await execa(join(prefix, 'bin', 'pydbg'), ['variants'], { cwd: tmp, reject: false });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stdout).toContain('nopymalloc');
  });
});
