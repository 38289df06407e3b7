#!/usr/bin/env node
// pydbg's fixed cost (not part of CI), side by side with another checkout in one run:
//   BENCH_BASELINE=/path/to/an/older/pydbg/checkout (built: dist/) npm run bench:run
// - a warm `pydbg env build` (the image exists; whole process), goal ≤ 0.25 s
// - `pydbg run` on a cached variant + cached extension vs a raw `docker run` of the same command in
//   the same image with the same mounts, goal ≤ docker run + 0.15 s
// Prints JSON. Medians of BENCH_ROUNDS (7) alternating rounds.
import { execa } from 'execa';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'pydbg.js');
const BASELINE = process.env.BENCH_BASELINE ? join(process.env.BENCH_BASELINE, 'bin', 'pydbg.js') : undefined;
const project = join(ROOT, 'examples', 'clean');
const variant = ['--variant', process.env.BENCH_VARIANT ?? 'debug', '--python', process.env.BENCH_PYTHON ?? '3.13'];
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

// a warm env build, whole process
{
  const clis = { this: CLI, ...(BASELINE ? { baseline: BASELINE } : {}) };
  const times = Object.fromEntries(Object.keys(clis).map((k) => [k, []]));
  for (const cli of Object.values(clis)) await execa(process.execPath, [cli, 'env', 'build', '-q', ...variant]);
  for (let i = 0; i < rounds; i++) {
    for (const [k, cli] of Object.entries(clis)) times[k].push(await time(() => execa(process.execPath, [cli, 'env', 'build', '-q', ...variant])));
  }
  const node = [];
  for (let i = 0; i < rounds; i++) node.push(await time(() => execa(process.execPath, ['-e', '0'])));
  process.stdout.write(`${JSON.stringify({
    command: `pydbg env build ${variant.join(' ')} (warm)`, rounds,
    seconds: { ...Object.fromEntries(Object.entries(times).map(([k, v]) => [`${k}_median`, +median(v).toFixed(3)])), node_alone_median: +median(node).toFixed(3) },
    goal: 'this_median <= 0.25',
  }, null, 2)}\n`);
}

// warm everything, and learn the extension image pydbg runs in
const first = await execa(process.execPath, [CLI, 'run', '-q', ...variant, '-C', project, '--json', '-', '--', 'python', 'repro.py']);
const image = JSON.parse(first.stdout).image;
const raw = ['run', '--rm', '--init', '--network', 'none', '-u', '1000:1000', '-e', 'HOME=/tmp', '-e', 'PYTHONPATH=/pydbg/build:/pydbg/build/src',
  '-v', `${project}:/src:ro`, '-w', '/src', image, 'python', 'repro.py'];

const pydbgTimes = [];
const baseTimes = [];
const rawTimes = [];
if (BASELINE) await execa(process.execPath, [BASELINE, 'run', '-q', ...variant, '-C', project, '--', 'python', 'repro.py']);
for (let i = 0; i < rounds; i++) {
  pydbgTimes.push(await time(() => execa(process.execPath, [CLI, 'run', '-q', ...variant, '-C', project, '--', 'python', 'repro.py'])));
  if (BASELINE) baseTimes.push(await time(() => execa(process.execPath, [BASELINE, 'run', '-q', ...variant, '-C', project, '--', 'python', 'repro.py'])));
  rawTimes.push(await time(() => execa('docker', raw)));
}
const result = {
  command: 'python repro.py (examples/clean)',
  rounds,
  seconds: {
    pydbg_run_median: +median(pydbgTimes).toFixed(3),
    ...(BASELINE ? { baseline_run_median: +median(baseTimes).toFixed(3) } : {}),
    docker_run_median: +median(rawTimes).toFixed(3),
  },
  overhead_seconds: +(median(pydbgTimes) - median(rawTimes)).toFixed(3),
  ...(BASELINE ? { baseline_overhead_seconds: +(median(baseTimes) - median(rawTimes)).toFixed(3) } : {}),
  goal: 'overhead_seconds <= 0.15',
  ratio: +(median(pydbgTimes) / median(rawTimes)).toFixed(3),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);

// memcheck: `pydbg check memcheck` vs the same valgrind command by hand in the same image (goal ≤ 1.05×)
if (process.env.BENCH_MEMCHECK !== '0') {
  const oob = join(ROOT, 'examples', 'oob_write');
  const mv = ['--variant', 'nopymalloc', '--python', process.env.BENCH_PYTHON ?? '3.13'];
  const warm = await execa(process.execPath, [CLI, 'run', '-q', ...mv, '-C', oob, '--json', '-', '--', 'true'], { reject: false });
  const extImage = JSON.parse(warm.stdout).image;
  const valgrind = ['valgrind', '--tool=memcheck', '--xml=yes', '--xml-file=/tmp/m.%p.xml', '--log-file=/tmp/m.%p.log', '--leak-check=full',
    '--show-leak-kinds=all', '--errors-for-leak-kinds=definite', '--track-origins=yes', '--num-callers=40',
    '--child-silent-after-fork=yes', '--suppressions=/opt/pydbg/valgrind-python.supp', 'python', 'repro.py'];
  const byHand = ['run', '--rm', '--init', '--network', 'none', '-u', '1000:1000', '-e', 'HOME=/tmp', '-e', 'PYTHONMALLOC=malloc', '-e', 'PYTHONPATH=/pydbg/build:/pydbg/build/src',
    '-v', `${oob}:/src:ro`, '-w', '/src', extImage, ...valgrind];
  const p = [];
  const h = [];
  for (let i = 0; i < 3; i++) {
    p.push(await time(() => execa(process.execPath, [CLI, 'check', 'memcheck', '-q', ...mv, '-C', oob, 'repro.py'], { reject: false })));
    h.push(await time(() => execa('docker', byHand, { reject: false })));
  }
  process.stdout.write(`${JSON.stringify({
    command: 'memcheck on examples/oob_write', rounds: 3,
    seconds: { pydbg_check_median: +median(p).toFixed(3), valgrind_by_hand_median: +median(h).toFixed(3) },
    ratio: +(median(p) / median(h)).toFixed(3),
  }, null, 2)}\n`);
}
