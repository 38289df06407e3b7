#!/usr/bin/env node
// pydbg benchmark (not part of CI). Prints measured times and ratios as JSON on stdout.
//   cold_vs_raw:            pydbg env build --force (configure, make, install, probe) / raw configure && make, same source, same base
//   warm:                   a repeated identical env build (no docker build), in-process and as a CLI process
//   two_variants_vs_separate: two variants of one version with pydbg / two standalone builds (apt + source + configure && make each)
import { execa } from 'execa';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envBuild } from '../dist/provision/variant.js';
import { planVariant } from '../dist/project/plan.js';
import { DockerEngine } from '../dist/engine/docker.js';
import { materialiseSource } from '../dist/provision/sources.js';
import { renderDepsDockerfile } from '../dist/render/dockerfile.js';
import { depsRef } from '../dist/container/refs.js';
import { resolveArch } from '../dist/catalogue/arch.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.BENCH_PYTHON ?? '3.13';
const [variantA, variantB] = (process.env.BENCH_VARIANTS ?? 'nopymalloc,debug').split(',');
const engine = new DockerEngine();
const quiet = { log() {}, phase() {}, event() {}, output() {} };
const signal = new AbortController().signal;
const log = (m) => process.stderr.write(`bench: ${m}\n`);
const secs = (t0) => (performance.now() - t0) / 1000;
const round = (x) => Math.round(x * 1000) / 1000;

async function timed(name, fn) {
  log(`${name} …`);
  const t0 = performance.now();
  const r = await fn();
  const s = secs(t0);
  log(`${name}: ${s.toFixed(1)} s`);
  return [s, r];
}

async function pydbgCold(variant) {
  return timed(`pydbg env build --force ${variant} ${python}`, () =>
    envBuild(planVariant({ variant, python }), { engine, progress: quiet, signal, force: true }));
}

async function rawBuild(variant, tarball) {
  const plan = planVariant({ variant, python });
  const args = plan.spec.configureArgs.join(' ') + (plan.spec.cflags.length ? ` CFLAGS='${plan.spec.cflags.join(' ')}'` : '');
  const script = `mkdir /b && tar xf /src.tar -C /b --strip-components=1 && cd /b && ./configure ${args} >/dev/null && make -j"$(nproc)" >/dev/null`;
  return timed(`raw configure && make (${variant})`, () =>
    execa('docker', ['run', '--rm', '--network', 'none', '-v', `${tarball}:/src.tar:ro`, depsRef(resolveArch('amd64')), 'sh', '-c', script]));
}

async function aptLayer() {
  // the apt layer a standalone Dockerfile pays on every build, measured without cache
  const df = renderDepsDockerfile(resolveArch('amd64'), { ref: 'pydbg/base:bookworm-amd64', origin: 'local', upstream: 'debian:bookworm-slim' });
  const tag = 'pydbg-bench/apt-throwaway:latest';
  const [s] = await timed('standalone apt layer (no cache)', () =>
    execa('docker', ['build', '--no-cache', '--network', 'host', '-t', tag, '-'], { input: df }));
  await execa('docker', ['rmi', tag], { reject: false });
  return s;
}

// Make sure base, toolchain and source exist (first build, not measured).
await timed('prepare (base, toolchain layer, source)', () => envBuild(planVariant({ variant: variantA, python }), { engine, progress: quiet, signal }));
const src = await materialiseSource(planVariant({ variant: variantA, python }).source);

const [coldA] = await pydbgCold(variantA);
const [rawA] = await rawBuild(variantA, src.path);
const [coldB] = await pydbgCold(variantB);
const [rawB] = await rawBuild(variantB, src.path);
const [warm] = await timed('warm env build (in-process)', () => envBuild(planVariant({ variant: variantA, python }), { engine, progress: quiet, signal }));
const [warmCli] = await timed('warm env build (CLI process)', () => execa(process.execPath, [join(ROOT, 'bin', 'pydbg.js'), 'env', 'build', '--variant', variantA, '--python', python, '-q']));
const apt = await aptLayer();

const result = {
  python,
  variants: [variantA, variantB],
  seconds: { pydbg_cold: { [variantA]: round(coldA), [variantB]: round(coldB) }, raw_configure_make: { [variantA]: round(rawA), [variantB]: round(rawB) }, warm_in_process: round(warm), warm_cli: round(warmCli), standalone_apt_layer: round(apt) },
  ratios: {
    cold_vs_raw: round(coldA / rawA),
    warm_vs_cold: round(warm / coldA),
    two_variants_vs_separate: round((coldA + coldB) / (apt + rawA + apt + rawB)),
  },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
