import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { DockerEngine } from '../../src/engine/docker.js';

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

export function pydbg(args: string[], env: Record<string, string> = {}): ResultPromise<{ reject: false; all: true; env: Record<string, string> }> {
  return execa(process.execPath, [CLI, ...args], { reject: false, all: true, env: { ...env } });
}

export interface BuildJson {
  image: string;
  imageId: string;
  cached: boolean;
  key: string;
  verified: Record<string, unknown>;
  probe?: { properties: Record<string, unknown>; info: Record<string, unknown>; mismatches: unknown[] };
  seconds: number;
  base: { origin: string };
}

/** `pydbg env build … --json`, with progress passed through to the test log. */
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
