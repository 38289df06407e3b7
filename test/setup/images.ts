/**
 * Global setup of the integration project: builds the suite's images (suite-images.ts) once,
 * one after another, through the CLI as a user would (`pydbg env build … --json`), before any
 * integration file runs. Vitest awaits a global setup without a timeout (unlike beforeAll), so a
 * fresh machine's builds are not cut short; each image still gets a generous ceiling so a hung
 * build cannot hold CI forever.
 *
 * Prints one line per image and a total; any failure fails the whole run with the build's last
 * stderr lines. The results are provided to the test files (inject('pydbgImages')) and, when
 * PYDBG_TEST_REPORT_DIR is set (.ci/run sets it), written to images.json there.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { SUITE_IMAGES, type BuildJson, type ImageTiming, type SuiteImageId } from './suite-images.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'pydbg.js');
/** per image; a fresh two-core machine needs 2–4 min (x86) or 4–8 min (ARM), plus ~3 min for the first */
const IMAGE_CEILING_MS = 30 * 60_000;
const STDERR_TAIL = 40;

export function fmt(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return s === 60 ? `${m + 1}m00s` : `${m}m${String(s).padStart(2, '0')}s`;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function record(timings: ImageTiming[], totalSeconds: number, failed?: string): Promise<void> {
  const dir = process.env.PYDBG_TEST_REPORT_DIR;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'images.json'), `${JSON.stringify({ images: timings, totalSeconds, failed: failed ?? null }, null, 2)}\n`);
}

async function buildOne(args: readonly string[], label: string): Promise<BuildJson> {
  const child = execa(process.execPath, [CLI, 'env', 'build', ...args, '--json'], { reject: false });
  const tail: string[] = [];
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      tail.push(l);
      if (tail.length > STDERR_TAIL) tail.shift();
      // pydbg's own progress off a TTY: a line per step and a heartbeat every 30 s
      if (l.startsWith('pydbg:')) say(`${label}   ${l}`);
    }
  });
  let timedOut = false;
  const ceiling = setTimeout(() => {
    timedOut = true;
    child.kill('SIGINT'); // pydbg removes its containers and partial images on SIGINT
    setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
  }, IMAGE_CEILING_MS);
  const res = await child;
  clearTimeout(ceiling);
  if (partial) tail.push(partial);
  const last = tail.slice(-STDERR_TAIL).join('\n');
  const cmd = `pydbg env build ${args.join(' ')}`;
  if (timedOut) throw new Error(`${cmd} did not finish within ${IMAGE_CEILING_MS / 60_000} min; its last stderr lines:\n${last}`);
  if (res.exitCode !== 0) throw new Error(`${cmd} exited ${res.exitCode ?? res.signal}; its last stderr lines:\n${last}`);
  try {
    return JSON.parse(res.stdout) as BuildJson;
  } catch {
    throw new Error(`${cmd} printed no JSON result:\n${res.stdout.slice(0, 2000)}\n${last}`);
  }
}

export default async function setup(project: TestProject): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: the integration tests run the built CLI (bin/pydbg.js); run `npm run build` first (`npm test` does)');
  }
  const started = Date.now();
  const timings: ImageTiming[] = [];
  const results: Partial<Record<SuiteImageId, BuildJson>> = {};
  const n = SUITE_IMAGES.length;
  say(`[images] building the integration suite's ${n} images, one at a time (cached ones take a second)`);
  for (const [i, img] of SUITE_IMAGES.entries()) {
    const label = `[images ${i + 1}/${n}]`;
    const t0 = Date.now();
    let r: BuildJson;
    try {
      r = await buildOne(img.args, label);
    } catch (e) {
      const msg = `${label} ${img.args.join(' ')} FAILED after ${fmt((Date.now() - t0) / 1000)}`;
      say(msg);
      await record(timings, (Date.now() - started) / 1000, `${img.id}: ${(e as Error).message}`);
      throw new Error(`${msg} (needed for: ${img.purpose})\n${(e as Error).message}`);
    }
    if (r.cached && !r.probe) {
      // the image's proof (<contextDir>/probe.json) is gone: staging a build of the same tag wipes it
      // (e.g. a build of it under another key that failed). The tests assert what the probe
      // measured, so prove it again.
      say(`${label} ${r.image} is cached but its probe report is missing: rebuilding it with --force`);
      try {
        r = await buildOne([...img.args, '--force'], label);
      } catch (e) {
        const msg = `${label} ${img.args.join(' ')} --force FAILED after ${fmt((Date.now() - t0) / 1000)}`;
        say(msg);
        await record(timings, (Date.now() - started) / 1000, `${img.id}: ${(e as Error).message}`);
        throw new Error(`${msg} (needed for: ${img.purpose})\n${(e as Error).message}`);
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    results[img.id] = r;
    timings.push({ id: img.id, image: r.image, cached: r.cached, seconds });
    say(`${label} ${r.image} ${r.cached ? `cached (${fmt(seconds)})` : `built in ${fmt(seconds)}`}`);
    await record(timings, (Date.now() - started) / 1000);
  }
  const total = (Date.now() - started) / 1000;
  const built = timings.filter((t) => !t.cached).length;
  say(`[images] ${n} images ready in ${fmt(total)} (${built} built, ${n - built} cached)`);
  await record(timings, total);
  project.provide('pydbgImages', results);
}
