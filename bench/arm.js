#!/usr/bin/env node
// pydbg ARM benchmark (not part of CI). Prints measured times and ratios as JSON on stdout.
//   cross_vs_x86:       arm64 variant, cross-compiled (cross build + pip on the build machine + the
//                       probe under QEMU) / the x86-64 build of the same variant (goal ≤ 1.5). The
//                       build Python image of the source exists (built once per source, like the
//                       toolchain layers).
//   cross_with_build_python_vs_x86: the same, after removing the build Python image: the first
//                       ARM variant of a new source pays for it
//   emulated_vs_cross:  the same arm64 variant built natively under QEMU (--build-mode emulated)
//                       / the cross build (the anchor: expect ≥ 5)
//   ext_build_arm64_vs_amd64: building the clean example extension inside the arm64 image (emulated
//                       gcc) / inside the amd64 image
// Every build is --force (no builder cache) after one preparing build that creates the shared
// layers (base, toolchain, cross toolchain) for both architectures, which are not measured.
// BENCH_EMULATED=0 skips the emulated build (it takes tens of minutes).
import { execa } from 'execa';
import { cp, mkdtemp, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contextSource, envBuild } from '../dist/provision/variant.js';
import { planVariant } from '../dist/project/plan.js';
import { DockerEngine } from '../dist/engine/docker.js';
import { buildPythonRef } from '../dist/container/refs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.BENCH_PYTHON ?? '3.13';
const variant = process.env.BENCH_VARIANT ?? 'debug';
const engine = new DockerEngine();
const quiet = { log() {}, phase() {}, event() {}, output() {} };
const signal = new AbortController().signal;
const log = (m) => process.stderr.write(`bench: ${m}\n`);
const round = (x) => Math.round(x * 1000) / 1000;

async function timed(name, fn) {
  log(`${name} …`);
  const t0 = performance.now();
  const r = await fn();
  const s = (performance.now() - t0) / 1000;
  log(`${name}: ${s.toFixed(1)} s`);
  return [s, r];
}
const build = (arch, buildMode, force) => envBuild(planVariant({ variant, python, arch, buildMode }), { engine, progress: quiet, signal, force });

await timed('prepare amd64 (not measured)', () => build('amd64', undefined, false));
await timed('prepare arm64 cross (not measured)', () => build('arm64', undefined, false));

const [x86] = await timed(`amd64 ${python} ${variant} --force`, () => build('amd64', undefined, true));
const [cross] = await timed(`arm64 ${python} ${variant} cross --force`, () => build('arm64', undefined, true));
const plan = planVariant({ variant, python, arch: 'arm64' });
const bpRef = buildPythonRef(plan.host, plan.version, (await contextSource(plan)).sha256);
await engine.removeImage(bpRef, { force: true });
log(`removed ${bpRef}`);
const [crossBp] = await timed(`arm64 ${python} ${variant} cross --force, build Python included`, () => build('arm64', undefined, true));
let emulated;
if (process.env.BENCH_EMULATED !== '0') {
  [emulated] = await timed(`arm64 ${python} ${variant} --build-mode emulated --force`, () => build('arm64', 'emulated', true));
}

async function extBuild(arch) {
  // a fresh copy each time: the extension cache is keyed by the project's content
  const dir = await mkdtemp(join(tmpdir(), 'pydbg-bench-ext-'));
  await cp(join(ROOT, 'examples', 'clean'), dir, { recursive: true });
  await appendFile(join(dir, 'clean.c'), `\n/* bench ${Date.now()} ${arch} */\n`);
  await writeFile(join(dir, 'bench.txt'), String(Math.random()));
  const [s] = await timed(`pydbg run --arch ${arch} (extension build + run)`, () =>
    execa(process.execPath, [join(ROOT, 'bin', 'pydbg.js'), 'run', '-q', '--arch', arch, '--variant', variant, '--python', python, '-C', dir, '--', 'python', '-c', 'import clean'], { stdio: 'inherit' }));
  return s;
}
const extAmd64 = await extBuild('amd64');
const extArm64 = await extBuild('arm64');

const result = {
  python,
  variant,
  seconds: { amd64: round(x86), arm64_cross: round(cross), arm64_cross_with_build_python: round(crossBp), arm64_emulated: emulated === undefined ? null : round(emulated), run_with_ext_build: { amd64: round(extAmd64), arm64: round(extArm64) } },
  ratios: {
    cross_vs_x86: round(cross / x86),
    cross_with_build_python_vs_x86: round(crossBp / x86),
    emulated_vs_cross: emulated === undefined ? null : round(emulated / cross),
    ext_build_arm64_vs_amd64: round(extArm64 / extAmd64),
  },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
