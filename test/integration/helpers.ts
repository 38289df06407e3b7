import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { inject } from 'vitest';
import { DockerEngine } from '../../src/engine/docker.js';
import type { BuildJson, SuiteImageId } from '../setup/suite-images.js';

export type { BuildJson, SuiteImageId } from '../setup/suite-images.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'bin', 'pydbg.js');

/** Integration tests need the real engine. A missing engine fails them: never a silent skip. */
export async function requireEngine(): Promise<DockerEngine> {
  const engine = new DockerEngine();
  try {
    await engine.ping();
  } catch (e) {
    throw new Error(`integration tests need a running Docker engine: ${(e as Error).message}`);
  }
  return engine;
}

/**
 * The CLI as a user runs it. `run`, `shell` and `check` get `--no-build`: a missing variant image is
 * refused at once (exit 13, with the command that builds it) instead of being built inside a test;
 * the suite's images come from the global setup. A test about building on first use passes
 * `{ build: true }`.
 */
export function pydbg(args: string[], env: Record<string, string> = {}, opts: { build?: boolean } = {}): ResultPromise<{ reject: false; all: true; env: Record<string, string> }> {
  return execa(process.execPath, [CLI, ...noBuild(args, opts.build === true)], { reject: false, all: true, env: { ...env } });
}

function noBuild(args: string[], build: boolean): string[] {
  if (build || args.includes('--no-build')) return args;
  const at = args[0] === 'run' || args[0] === 'shell' ? 1 : args[0] === 'check' ? 2 : -1;
  if (at < 0 || args.length < at) return args;
  return [...args.slice(0, at), '--no-build', ...args.slice(at)];
}

/**
 * The suite's images a test file uses, as the global setup (test/setup/images.ts) built them.
 * Test files never build these themselves: a missing one fails the file here, with what to do.
 */
export async function requireImages<const T extends readonly SuiteImageId[]>(...ids: T): Promise<{ [K in T[number]]: BuildJson }> {
  const built = inject('pydbgImages') ?? {};
  const out: Partial<Record<SuiteImageId, BuildJson>> = {};
  const problems: string[] = [];
  for (const id of ids) {
    const b = built[id];
    if (!b) {
      problems.push(`${id}: not built by the global setup (run the integration tests through vitest's integration project: npm run test:integration, or npx vitest run test/integration/…)`);
      continue;
    }
    const res = await execa('docker', ['image', 'inspect', b.image, '--format', '{{.Id}}'], { reject: false });
    if (res.exitCode !== 0) problems.push(`${id}: ${b.image} is not in the engine any more (the global setup built it as ${b.imageId}): ${res.stderr.trim()}`);
    else if (res.stdout.trim() !== b.imageId) problems.push(`${id}: ${b.image} is ${res.stdout.trim()}, not the ${b.imageId} the global setup built`);
    else out[id] = b;
  }
  if (problems.length) throw new Error(`this file needs images it cannot find:\n  ${problems.join('\n  ')}`);
  return out as { [K in T[number]]: BuildJson };
}

/** `pydbg env build … --json` (in test files: only for images expected to be cached, or builds meant to fail). */
export async function buildVariant(args: string[]): Promise<BuildJson> {
  const res = await execa(process.execPath, [CLI, 'env', 'build', ...args, '--json'], { reject: false });
  if (res.exitCode !== 0) throw new Error(`pydbg env build ${args.join(' ')} exited ${res.exitCode}:\n${res.stderr.split('\n').slice(-40).join('\n')}`);
  return JSON.parse(res.stdout) as BuildJson;
}

/** Run a command inside an image (the tests' own docker use, via the CLI client). */
export async function inImage(image: string, cmd: string): Promise<string> {
  const res = await execa('docker', ['run', '--rm', '--network', 'none', image, 'sh', '-c', cmd], { reject: false, all: true });
  if (res.exitCode !== 0) throw new Error(`${cmd} in ${image} exited ${res.exitCode}: ${res.all}`);
  return res.stdout;
}

export async function engineLeftovers(engine: DockerEngine, since: number): Promise<{ containers: string[]; dangling: string[] }> {
  const all = await execa('docker', ['ps', '-a', '--format', '{{.ID}} {{.CreatedAt}} {{.Image}} {{.Command}}']);
  const containers = all.stdout.split('\n').filter(Boolean).filter((l) => {
    const created = Date.parse(l.split(' ').slice(1, 3).join('T') + 'Z');
    return Number.isNaN(created) || created >= since - 2000;
  });
  return { containers, dangling: await engine.danglingImageIds() };
}
