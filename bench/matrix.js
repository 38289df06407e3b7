#!/usr/bin/env node
// pydbg check over a matrix (not part of CI): a four-cell memcheck matrix on examples/leak
// (3.11 and 3.13 × debug and nopymalloc, amd64) run with --jobs 1 and with --jobs 2, whole CLI
// processes, the images and the extension builds warm (a first, unmeasured run builds what is
// missing). Prints JSON: medians of BENCH_ROUNDS (3) alternating rounds, the speed-up, the engine's
// CPUs, and whether both runs gave the same table (same cells, rows and exit code).
//   BENCH_MATRIX="--python 3.11,3.13 --variant debug --variant nopymalloc" changes the cells
//   BENCH_MATRIX_EXAMPLE=oob_write runs another example
import { execa } from 'execa';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'pydbg.js');
const project = join(ROOT, 'examples', process.env.BENCH_MATRIX_EXAMPLE ?? 'leak');
const cells = (process.env.BENCH_MATRIX ?? '--python 3.11,3.13 --variant debug --variant nopymalloc').split(/\s+/).filter(Boolean);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (m) => process.stderr.write(`bench: ${m}\n`);

const check = (jobs, extra = []) => execa(process.execPath, [CLI, 'check', 'memcheck', '-q', ...cells, '--jobs', String(jobs), '-C', project, '--json', ...extra, 'repro.py'], { reject: false });

/** One whole `pydbg check` process: its wall time and its matrix JSON. */
async function timed(jobs) {
  const t0 = performance.now();
  const r = await check(jobs, ['--no-build']);
  const seconds = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0 && r.exitCode !== 20) throw new Error(`pydbg check --jobs ${jobs} exited ${r.exitCode}:\n${r.stderr.split('\n').slice(-20).join('\n')}`);
  return { seconds, matrix: JSON.parse(r.stdout) };
}

/** What must not depend on --jobs: the cells' outcomes, the rows and their counts, the exit code. */
const shape = (m) => JSON.stringify({ exitCode: m.exitCode, cells: m.cells.map((c) => [c.id, c.status, c.exitCode]), rows: m.rows.map((r) => [r.fingerprint, r.counts]) });

log(`warming up (builds missing images and extensions): pydbg check memcheck ${cells.join(' ')}`);
const warm = await check(1);
if (warm.exitCode !== 0 && warm.exitCode !== 20) throw new Error(`warm-up exited ${warm.exitCode}:\n${warm.stderr.split('\n').slice(-20).join('\n')}`);
const n = JSON.parse(warm.stdout).cells.filter((c) => c.status !== 'skipped').length;
const info = await execa('docker', ['info', '--format', '{{.NCPU}} {{.MemTotal}}'], { reject: false });
const [ncpu, memTotal] = info.stdout.trim().split(' ').map(Number);

const one = [];
const two = [];
let same = true;
for (let i = 0; i < rounds; i++) {
  const a = await timed(1);
  const b = await timed(2);
  log(`round ${i + 1}: --jobs 1 ${a.seconds.toFixed(1)} s, --jobs 2 ${b.seconds.toFixed(1)} s`);
  one.push(a.seconds);
  two.push(b.seconds);
  same &&= shape(a.matrix) === shape(b.matrix);
}
process.stdout.write(`${JSON.stringify({
  command: `pydbg check memcheck ${cells.join(' ')} -C examples/${process.env.BENCH_MATRIX_EXAMPLE ?? 'leak'} repro.py`,
  cells: n,
  rounds,
  engine: { ncpu, memTotalGiB: memTotal ? +(memTotal / 2 ** 30).toFixed(1) : undefined },
  seconds: { jobs1_median: +median(one).toFixed(3), jobs2_median: +median(two).toFixed(3) },
  speedup: +(median(one) / median(two)).toFixed(3),
  same_results: same,
}, null, 2)}\n`);
