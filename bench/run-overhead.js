#!/usr/bin/env node
// pydbg run overhead (not part of CI): `pydbg run` on a cached variant + cached extension vs a raw
// `docker run` of the same command in the same image with the same mounts. Prints JSON.
import { execa } from 'execa';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'pydbg.js');
const project = join(ROOT, 'examples', 'clean');
const variant = ['--variant', process.env.BENCH_VARIANT ?? 'debug', '--python', process.env.BENCH_PYTHON ?? '3.13'];
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

// warm everything, and learn the extension image pydbg runs in
const first = await execa(process.execPath, [CLI, 'run', '-q', ...variant, '-C', project, '--json', '-', '--', 'python', 'repro.py']);
const image = JSON.parse(first.stdout).image;
const raw = ['run', '--rm', '--init', '--network', 'none', '-u', '1000:1000', '-e', 'HOME=/tmp', '-e', 'PYTHONPATH=/pydbg/build:/pydbg/build/src',
  '-v', `${project}:/src:ro`, '-w', '/src', image, 'python', 'repro.py'];

const pydbgTimes = [];
const rawTimes = [];
for (let i = 0; i < rounds; i++) {
  pydbgTimes.push(await time(() => execa(process.execPath, [CLI, 'run', '-q', ...variant, '-C', project, '--', 'python', 'repro.py'])));
  rawTimes.push(await time(() => execa('docker', raw)));
}
const result = {
  command: 'python repro.py (examples/clean)',
  rounds,
  seconds: { pydbg_run_median: +median(pydbgTimes).toFixed(3), docker_run_median: +median(rawTimes).toFixed(3) },
  ratio: +(median(pydbgTimes) / median(rawTimes)).toFixed(3),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
