/**
 * Verified images through a real OCI registry (Debian's docker-registry on 127.0.0.1, started by
 * .ci/run) into a second, empty engine (another dockerd with its own data root, also started by
 * .ci/run): push the suite's 3.13 debug image, read what the registry holds with its own HTTP API
 * (not through pydbg), pull it by key into the empty engine with every check, and find the leak
 * example's definitely-lost block there with memcheck. Nothing is built here.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, pydbg, requireEngine, requireImages, type BuildJson } from './helpers.js';
import type { AnalysisReport } from '../../src/analyses/types.js';

const REGISTRY = process.env.PYDBG_TEST_REGISTRY ?? '127.0.0.1:5055';
const ENGINE2 = process.env.PYDBG_TEST_ENGINE2 ?? 'tcp://127.0.0.1:2376';
// a namespace of its own per run: a registry kept between runs does not answer for this one
const PREFIX = `${REGISTRY}/pydbg-it-${Date.now().toString(36)}`;
const on2 = { DOCKER_HOST: ENGINE2 };

/** The registry's own answer (Docker Registry HTTP API v2), not pydbg's. */
async function manifest(repo: string, tag: string): Promise<{ digest: string; labels: Record<string, string> } | undefined> {
  const accept = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';
  const r = await fetch(`http://${REGISTRY}/v2/${repo}/manifests/${tag}`, { headers: { Accept: accept } });
  if (r.status === 404) return undefined;
  const m = (await r.json()) as { config: { digest: string } };
  const blob = await fetch(`http://${REGISTRY}/v2/${repo}/blobs/${m.config.digest}`);
  const config = (await blob.json()) as { config: { Labels: Record<string, string> } };
  return { digest: r.headers.get('docker-content-digest')!, labels: config.config.Labels };
}

let debug: BuildJson;

beforeAll(async () => {
  await requireEngine();
  ({ 'debug-3.13': debug } = await requireImages('debug-3.13'));
  const v2 = await fetch(`http://${REGISTRY}/v2/`).catch((e: Error) => e);
  if (v2 instanceof Error || v2.status !== 200) {
    throw new Error(`these tests need an OCI registry at ${REGISTRY} (bash .ci/run starts Debian's docker-registry there; PYDBG_TEST_REGISTRY moves it): ${v2 instanceof Error ? v2.message : `HTTP ${v2.status}`}`);
  }
  const info = await execa('docker', ['info', '--format', '{{.Images}}'], { env: on2, reject: false });
  if (info.exitCode !== 0) throw new Error(`these tests need a second engine at ${ENGINE2} (bash .ci/run starts one; PYDBG_TEST_ENGINE2 moves it): ${info.stderr.trim()}`);
  // the second engine starts empty: what a previous run pulled there is removed first
  await pydbg(['env', 'rm', '--all'], on2);
}, 120_000);

afterAll(async () => {
  await pydbg(['env', 'rm', '--all'], on2);
}, 120_000);

describe('a registry between two engines', () => {
  it('push: the image, its toolchain and base by key; the registry holds the same key label (its own API says so)', async () => {
    const r = await pydbg(['env', 'push', '3.13.5-debug', '--registry', PREFIX, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const out = JSON.parse(r.stdout) as { images: Array<{ image: string; pushed: Array<{ ref: string; digest?: string }> }> };
    const refs = out.images[0]!.pushed.map((p) => p.ref.slice(PREFIX.length + 1));
    expect(refs).toEqual([
      expect.stringMatching(/^base:bookworm-amd64-[0-9a-f]{12}$/), 'base:bookworm-amd64', expect.stringMatching(/^deps:bookworm-amd64-k[0-9a-f]{32}$/),
      `cpython:3.13.5-debug-amd64-k${debug.key.slice(0, 32)}`, 'cpython:3.13.5-debug-amd64',
    ]);
    const repo = `${PREFIX.slice(REGISTRY.length + 1)}/cpython`;
    const m = await manifest(repo, `3.13.5-debug-amd64-k${debug.key.slice(0, 32)}`);
    expect(m?.labels['io.pydbg.cache-key']).toBe(debug.key);
    expect(m?.labels['org.opencontainers.image.revision']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Date.parse(m?.labels['org.opencontainers.image.created'] ?? '')).toBeGreaterThan(0);
    expect(m?.labels['org.opencontainers.image.version']).toBe('3.13.5');
    expect(m?.digest).toBe(out.images[0]!.pushed[3]!.digest);
    // the engine keeps no registry tag of pydbg's
    const tags = await execa('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(tags.stdout).not.toContain(PREFIX);
  }, 600_000);

  it('pull into an empty engine: by key, checked (key label, platform, probe --fast), the same image id; then memcheck finds the leak there', async () => {
    const started = Date.now();
    const r = await pydbg(['env', 'build', '--variant', 'debug', '--python', '3.13', '--registry', PREFIX, '--pull-only', '--json'], on2);
    expect(r.exitCode, r.all).toBe(0);
    const got = JSON.parse(r.stdout) as BuildJson & { registry: { pulled: string[]; checked: string[] } };
    expect(got.imageId).toBe(debug.imageId);
    expect(got.key).toBe(debug.key);
    expect(got.registry.pulled).toHaveLength(3);
    expect(got.registry.checked.join('\n')).toMatch(/key label = the key computed here[\s\S]*platform linux\/amd64[\s\S]*probe --fast: \d+ properties as expected \(abiflags 'd', py_debug=yes, with_pymalloc=yes\)/);
    const out = await mkdtemp(join(tmpdir(), 'pydbg-registry-'));
    const check = await pydbg(['check', 'memcheck', '--variant', 'debug', '--python', '3.13', '-C', join(ROOT, 'examples', 'leak'), 'repro.py', '--out', join(out, 'r'), '--json'], on2);
    expect(check.exitCode, check.all.split('\n').slice(-20).join('\n')).toBe(20);
    const report = JSON.parse(check.stdout) as AnalysisReport;
    expect(report.userFindings.map((f) => [f.kind, f.userFrame?.file, f.userFrame?.line])).toEqual([['Leak_DefinitelyLost', 'leak.c', 7]]);
    console.log(`empty engine → pulled and checked → first memcheck finding: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 900_000);

  it('--pull-only for an image the registry does not have: exit 15 at once, nothing tagged', async () => {
    const before = await execa('docker', ['images', '-q'], { env: on2 });
    const r = await pydbg(['env', 'build', '--variant', 'nopymalloc', '--python', '3.11', '--registry', PREFIX, '--pull-only'], on2);
    expect(r.exitCode, r.all).toBe(15);
    expect(r.stderr).toMatch(/pydbg: error: .*cpython:3\.11\.2-nopymalloc-amd64-k[0-9a-f]{32} is not in the registry/);
    expect(r.stderr).toMatch(/hint: build and push it once: 'pydbg env build .* --registry .* --push'/);
    const after = await execa('docker', ['images', '-q'], { env: on2 });
    expect(after.stdout).toBe(before.stdout);
  }, 300_000);

  it('an unreachable registry: --pull-only says so (exit 15) and tags nothing', async () => {
    // the base and toolchain are on the second engine now: the image's own pull is what fails
    const r = await pydbg(['env', 'build', '--variant', 'nopymalloc', '--python', '3.11', '--registry', '127.0.0.1:1/nothing', '--pull-only'], on2);
    expect(r.exitCode, r.all).toBe(15);
    expect(r.stderr).toMatch(/pydbg: error: 127\.0\.0\.1:1\/nothing unreachable \(.*connection refused/);
  }, 120_000);
});
