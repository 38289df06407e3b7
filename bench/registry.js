#!/usr/bin/env node
// pydbg benchmark (not part of CI): from an engine with an empty image store to the first memcheck
// finding, pulling the image from a registry vs building it. Prints JSON on stdout.
//   Needs: the 3.13 debug image on the main engine, a registry (PYDBG_TEST_REGISTRY, default
//   127.0.0.1:5055) and a second engine (PYDBG_TEST_ENGINE2, default tcp://127.0.0.1:2376), as
//   bash .ci/run starts them. The second engine's pydbg images are removed before each measurement.
//   BENCH_BUILD=0 skips the (minutes-long) build measurement.
import { execa } from 'execa';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'pydbg.js');
const REGISTRY = process.env.PYDBG_TEST_REGISTRY ?? '127.0.0.1:5055';
const ENGINE2 = process.env.PYDBG_TEST_ENGINE2 ?? 'tcp://127.0.0.1:2376';
const prefix = `${REGISTRY}/pydbg-bench-${Date.now().toString(36)}`;
const log = (m) => process.stderr.write(`bench: ${m}\n`);
const on2 = { DOCKER_HOST: ENGINE2 };
const pydbg = (args, env = {}) => execa(process.execPath, [CLI, ...args], { env, reject: false, all: true });

async function emptyEngine2() {
  await pydbg(['env', 'rm', '--all'], on2);
  await execa('docker', ['system', 'prune', '-af'], { env: on2, reject: false });
}

async function firstFinding(label, getImage) {
  await emptyEngine2();
  const t0 = performance.now();
  const got = await getImage();
  if (got.exitCode !== 0) throw new Error(`${label}: ${got.all.split('\n').slice(-10).join('\n')}`);
  const image = (performance.now() - t0) / 1000;
  const check = await pydbg(['check', 'memcheck', '--variant', 'debug', '--python', '3.13', '-C', join(ROOT, 'examples', 'leak'), 'repro.py', '--no-build', '--json'], on2);
  if (check.exitCode !== 20) throw new Error(`${label}: memcheck exited ${check.exitCode}: ${check.all.split('\n').slice(-10).join('\n')}`);
  const total = (performance.now() - t0) / 1000;
  log(`${label}: image ${image.toFixed(1)} s, first finding at ${total.toFixed(1)} s`);
  return { image_seconds: Math.round(image * 10) / 10, first_finding_seconds: Math.round(total * 10) / 10 };
}

const push = await pydbg(['env', 'push', '3.13.5-debug', '--registry', prefix]);
if (push.exitCode !== 0) throw new Error(`push: ${push.all}`);
const result = { registry: prefix };
result.pull = await firstFinding('pull from the registry', () => pydbg(['env', 'build', '--variant', 'debug', '--python', '3.13', '--registry', prefix, '--pull-only'], on2));
if (process.env.BENCH_BUILD !== '0') {
  result.build = await firstFinding('build on the empty engine', () => pydbg(['env', 'build', '--variant', 'debug', '--python', '3.13'], on2));
  result.pull_vs_build = Math.round((result.build.first_finding_seconds / result.pull.first_finding_seconds) * 10) / 10;
}
await emptyEngine2();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
