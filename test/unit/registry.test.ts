/**
 * Sharing verified images through a registry, against two FakeEngines (two machines) and the
 * registry between them: pull by key with its checks, fallbacks and refusals, push, credentials,
 * and pydbg.lock.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeEngine } from '../../src/engine/fake.js';
import { findAuth, registryHost, type CredentialDeps } from '../../src/engine/credentials.js';
import { envBuild, variantKeyParts, contextSource, type Progress } from '../../src/provision/variant.js';
import { depsKey } from '../../src/provision/layers.js';
import { presentBase } from '../../src/provision/base.js';
import { planVariant, type VariantPlan } from '../../src/project/plan.js';
import { contentKey } from '../../src/container/key.js';
import { LABEL, variantLabels } from '../../src/container/labels.js';
import { baseRef, depsRef } from '../../src/container/refs.js';
import { ExitCode, InterruptedError, PydbgError } from '../../src/errors.js';
import { classifyRegistryError, registryRefs } from '../../src/provision/registry-refs.js';
import { openRegistry, pushVariant } from '../../src/provision/registry.js';
import { currentInputs, formatLock, lockDrift, lockEntry, parseLock } from '../../src/provision/lock.js';
import { build } from '../../src/cli/commands/env.js';
import { lock } from '../../src/cli/commands/registry.js';
import { testDeps } from './cli-helpers.js';

const R = '127.0.0.1:5000/pydbg';
const quiet: Progress = { log() {}, phase() {}, event() {}, output() {} };
const never = new AbortController().signal;
const noCreds: CredentialDeps = { env: { HOME: '/nonexistent' }, readConfig: async () => undefined, runHelper: async () => undefined };
const io = { signal: never, log() {}, output() {}, event() {} };
const plan: VariantPlan = planVariant({ variant: 'debug', python: '3.13' });
const probeOk = { stdout: `PYDBG-PROBE ${JSON.stringify({ properties: { abiflags: 'd', py_debug: true, with_pymalloc: true, gdb_py_bt: null }, info: {}, mismatches: [], fast: true })}\n` };

let a: FakeEngine; // the machine that built and pushed
let b: FakeEngine; // a fresh machine sharing the registry

/** A machine where the plan's image was built and verified: base, toolchain and variant with real labels and keys. */
async function builtOn(e: FakeEngine, p: VariantPlan = plan): Promise<{ key: string; variantId: string }> {
  const baseId = e.addImage({ tags: [baseRef(p.arch)], labels: { [LABEL.kind]: 'base', [LABEL.baseOrigin]: 'bootstrapped', [LABEL.baseRef]: 'debian:bookworm-slim' } });
  const base = presentBase((await e.inspectImage(baseId))!, p.arch);
  const depsId = e.addImage({ tags: [depsRef(p.arch)], labels: { [LABEL.kind]: 'deps', [LABEL.key]: depsKey(p.arch, base), [LABEL.baseImage]: baseId } });
  const csrc = await contextSource(p);
  const key = contentKey(await variantKeyParts(p, { depsId }, csrc));
  const labels = variantLabels({ plan: p, key, base, depsId, sourceSha256: csrc.sha256, sourceOrigin: 'test' });
  const variantId = e.addImage({ tags: [p.image], labels });
  return { key, variantId };
}

beforeEach(async () => {
  process.env.PYDBG_HOME = await mkdtemp(join(tmpdir(), 'pydbg-home-'));
  a = new FakeEngine({ registryHosts: ['127.0.0.1:5000'] });
  b = new FakeEngine({ registryHosts: ['127.0.0.1:5000'], registry: a.registry });
});

const localTags = (e: FakeEngine) => e.images().flatMap((i) => i.tags).sort();

describe('registry refs and faults (pure)', () => {
  it('checks the prefix before any engine call: no scheme, lower case, no tag', () => {
    expect(registryRefs('ghcr.io/acme/pydbg/').prefix).toBe('ghcr.io/acme/pydbg');
    for (const bad of ['https://ghcr.io/acme', 'ghcr.io/Acme/pydbg', 'ghcr.io/acme/pydbg:latest', 'ghcr.io/acme@sha256:00', '']) {
      const e = (() => { try { registryRefs(bad); } catch (x) { return x as PydbgError; } })();
      expect(e?.exitCode, bad).toBe(ExitCode.USAGE);
      expect(e?.hint, bad).toBeTruthy();
    }
  });
  it('tags per architecture, keys by 32 hex digits', () => {
    const r = registryRefs(R);
    expect(r.variantByKey('3.13.5-debug-amd64', 'ab'.repeat(32))).toBe(`${R}/cpython:3.13.5-debug-amd64-k${'ab'.repeat(16)}`);
    expect(r.base('arm64', `sha256:${'cd'.repeat(32)}`)).toBe(`${R}/base:bookworm-arm64-${'cd'.repeat(6)}`);
    expect(r.variantByKey('x'.repeat(120), 'ef'.repeat(32))).toBe(`${R}/cpython:k${'ef'.repeat(16)}`);
  });
  it("reads the engine's words: missing, refused, unreachable", () => {
    expect(classifyRegistryError(new Error('(HTTP code 404) unexpected - manifest for x not found: manifest unknown')).fault).toBe('missing');
    expect(classifyRegistryError(new Error('Head "https://ghcr.io/v2/x/manifests/y": unauthorized: authentication required')).fault).toBe('refused');
    expect(classifyRegistryError(new Error('Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused')).fault).toBe('unreachable');
  });
});

describe('credentials come from the docker config, the way the docker CLI finds them', () => {
  const cfg = (json: unknown, helper?: Record<string, { Username: string; Secret: string }>): CredentialDeps => ({
    env: { DOCKER_CONFIG: '/cfg' },
    readConfig: async (p) => (p === '/cfg/config.json' ? JSON.stringify(json) : undefined),
    runHelper: async (h, server) => helper?.[`${h} ${server}`],
  });
  it('a credential helper for the host, else credsStore, else auths; Docker Hub by its key', async () => {
    const helped = await findAuth('ghcr.io', cfg({ credHelpers: { 'ghcr.io': 'gh' }, auths: { 'ghcr.io': { auth: Buffer.from('u:p').toString('base64') } } }, { 'gh ghcr.io': { Username: 'alice', Secret: 's3cret' } }));
    expect(helped).toEqual({ auth: { serveraddress: 'ghcr.io', username: 'alice', password: 's3cret' }, source: "credential helper 'gh'" });
    const token = await findAuth('ghcr.io', cfg({ credsStore: 'desktop' }, { 'desktop ghcr.io': { Username: '<token>', Secret: 'tok' } }));
    expect(token.auth).toEqual({ serveraddress: 'ghcr.io', identitytoken: 'tok' });
    const plain = await findAuth('127.0.0.1:5000', cfg({ auths: { 'http://127.0.0.1:5000': { auth: Buffer.from('bob:pw:with:colons').toString('base64') } } }));
    expect(plain).toEqual({ auth: { serveraddress: '127.0.0.1:5000', username: 'bob', password: 'pw:with:colons' }, source: 'docker config auths' });
    const hub = await findAuth(registryHost('acme/pydbg'), cfg({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('c:d').toString('base64') } } }));
    expect(hub.auth?.serveraddress).toBe('https://index.docker.io/v1/');
  });
  it('none, or a config that does not parse: anonymous, said as such', async () => {
    expect(await findAuth('ghcr.io', cfg({}))).toEqual({ source: 'none' });
    expect((await findAuth('ghcr.io', { ...cfg({}), readConfig: async () => '{oops' })).source).toMatch(/does not parse/);
  });
});

describe('env build --registry: pull by key, checked, else build locally', () => {
  it('a fresh machine pulls base, toolchain and image by key, checks them, keeps only pydbg tags, builds nothing', async () => {
    const { key, variantId } = await builtOn(a);
    const reg = await openRegistry({ prefix: R, credentials: noCreds });
    const pushed = await pushVariant(a, reg, (await a.inspectImage(plan.image))!, io);
    expect(pushed.pushed.map((p) => p.ref.slice(R.length + 1))).toEqual([
      expect.stringMatching(/^base:bookworm-amd64-[0-9a-f]{12}$/), 'base:bookworm-amd64', expect.stringMatching(/^deps:bookworm-amd64-k[0-9a-f]{32}$/),
      `cpython:3.13.5-debug-amd64-k${key.slice(0, 32)}`, 'cpython:3.13.5-debug-amd64',
    ]);
    expect(localTags(a).filter((t) => t.startsWith(R))).toEqual([]); // the registry's names are not kept locally

    b.scriptRun(probeOk);
    const r = await envBuild(plan, { engine: b, progress: quiet, signal: never, registry: { prefix: R, credentials: noCreds } });
    expect(r.cached).toBe(true);
    expect(r.imageId).toBe(variantId); // exactly the image that was pushed
    expect(r.key).toBe(key);
    expect(r.registry?.pulled).toHaveLength(3);
    expect(r.registry?.checked?.join('\n')).toMatch(/key label = the key computed here[\s\S]*platform linux\/amd64[\s\S]*probe --fast/);
    expect(b.runs[0]!.cmd).toEqual(['python', '/opt/pydbg/probe.py', '--fast', '/opt/pydbg/expected.json']);
    expect(b.runs[0]!.networkMode).toBe('none');
    expect(b.callsOf('build')).toHaveLength(0);
    expect(localTags(b)).toEqual([baseRef(plan.arch), depsRef(plan.arch), plan.image].map((t) => t).sort());
    expect(b.containers()).toHaveLength(0);
  });
  it('nothing in the registry: --pull-only fails with exit 15 and the command that fills it; without it pydbg builds and says why', async () => {
    const e = (await envBuild(plan, { engine: b, progress: quiet, signal: never, registry: { prefix: R, pullOnly: true, credentials: noCreds } }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.REGISTRY);
    expect(e.message).toMatch(/base:bookworm-amd64 is not in the registry/);
    expect(e.hint).toMatch(/--registry 127\.0\.0\.1:5000\/pydbg --push/);
    expect(b.callsOf('build')).toHaveLength(0);
    expect(localTags(b)).toEqual([]);
  });
  it('a key tag whose image carries another key is refused and removed, never tagged', async () => {
    const { key } = await builtOn(a);
    const reg = await openRegistry({ prefix: R, credentials: noCreds });
    await pushVariant(a, reg, (await a.inspectImage(plan.image))!, io);
    const ref = `${R}/cpython:3.13.5-debug-amd64-k${key.slice(0, 32)}:latest`.replace(/:latest$/, '');
    const entry = a.registry.get(ref)!;
    a.registry.set(ref, { ...entry, id: `sha256:${'9'.repeat(64)}`, labels: { ...entry.labels, [LABEL.key]: 'f'.repeat(64) } });
    const e = (await envBuild(plan, { engine: b, progress: quiet, signal: never, registry: { prefix: R, pullOnly: true, credentials: noCreds } }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.REGISTRY);
    expect(e.message).toMatch(/its key label \(ffffffffffffffff…\) is not the image's key/);
    expect(await b.inspectImage(plan.image)).toBeUndefined();
    expect(b.images().some((i) => i.id === `sha256:${'9'.repeat(64)}`)).toBe(false);
  });
  it('a pulled image whose interpreter is not the variant (probe --fast) is untagged and not used', async () => {
    await builtOn(a);
    await pushVariant(a, await openRegistry({ prefix: R, credentials: noCreds }), (await a.inspectImage(plan.image))!, io);
    b.scriptRun({ stdout: `PYDBG-PROBE ${JSON.stringify({ properties: {}, info: {}, mismatches: [{ property: 'py_debug', expected: true, actual: false }] })}\n` });
    const e = (await envBuild(plan, { engine: b, progress: quiet, signal: never, registry: { prefix: R, pullOnly: true, credentials: noCreds } }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.REGISTRY);
    expect(e.message).toMatch(/py_debug: expected true, got false/);
    expect(await b.inspectImage(plan.image)).toBeUndefined();
  });
  it('an unreachable registry: --pull-only is exit 15; otherwise the build goes on locally and the result says why', async () => {
    b.registryError = new Error('Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused');
    const e = (await envBuild(plan, { engine: b, progress: quiet, signal: never, registry: { prefix: R, pullOnly: true, credentials: noCreds } }).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.REGISTRY);
    expect(e.message).toMatch(/127\.0\.0\.1:5000\/pydbg unreachable \(.*connection refused\)/);
    // without --pull-only: on to the local build (here the layers exist, the source is a local
    // tarball, and the fake builds the variant)
    const tar = join(await mkdtemp(join(tmpdir(), 'pydbg-src-')), 'Python-3.13.5.tgz');
    await writeFile(tar, 'not really a tarball');
    const local = planVariant({ variant: 'debug', sourcePath: tar });
    await builtOn(b, local);
    await b.removeImage(local.image);
    b.scriptBuild(local.image, { events: [{ type: 'output', line: probeOk.stdout.trim() }] });
    const logs: string[] = [];
    const r = await envBuild(local, { engine: b, progress: { ...quiet, log: (m) => logs.push(m) }, signal: never, registry: { prefix: R, credentials: noCreds } });
    expect(r.cached).toBe(false);
    expect(r.registry?.miss).toMatch(/unreachable/);
    expect(logs.join('\n')).toMatch(/unreachable .*: building locally/);
  }, 15_000);
  it('an arm64 engine cannot build an arm64 image (exit 5), but may pull one (here: none there, exit 15)', async () => {
    const arm = new FakeEngine({ arch: 'arm64', registryHosts: ['127.0.0.1:5000'], registry: a.registry });
    const p = planVariant({ variant: 'debug', python: '3.13', arch: 'arm64' });
    const built = (await envBuild(p, { engine: arm, progress: quiet, signal: never }).catch((x: unknown) => x)) as PydbgError;
    expect(built.exitCode).toBe(ExitCode.ENGINE);
    expect(built.hint).toMatch(/pull the image with --registry/);
    const pulled = (await envBuild(p, { engine: arm, progress: quiet, signal: never, registry: { prefix: R, pullOnly: true, credentials: noCreds } }).catch((x: unknown) => x)) as PydbgError;
    expect(pulled.exitCode).toBe(ExitCode.REGISTRY);
    expect(pulled.message).toMatch(/base:bookworm-arm64 is not in the registry/);
    const fallback = (await envBuild(p, { engine: arm, progress: quiet, signal: never, registry: { prefix: R, credentials: noCreds } }).catch((x: unknown) => x)) as PydbgError;
    expect(fallback.exitCode).toBe(ExitCode.ENGINE);
    expect(arm.callsOf('build')).toHaveLength(0);
  });
  it('an interrupted pull leaves no tag behind', async () => {
    await builtOn(a);
    await pushVariant(a, await openRegistry({ prefix: R, credentials: noCreds }), (await a.inspectImage(plan.image))!, io);
    b.pullHang = true;
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new InterruptedError('interrupted', 'stopped by the user')), 20);
    const e = await envBuild(plan, { engine: b, progress: quiet, signal: ctl.signal, registry: { prefix: R, credentials: noCreds } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InterruptedError);
    expect(localTags(b)).toEqual([]);
    expect(b.callsOf('build')).toHaveLength(0);
  });
});

describe('push', () => {
  it('twice: the second finds everything there; a key tag holding another image is kept, not overwritten', async () => {
    const { key } = await builtOn(a);
    const reg = await openRegistry({ prefix: R, credentials: noCreds });
    const image = (await a.inspectImage(plan.image))!;
    await pushVariant(a, reg, image, io);
    const again = await pushVariant(a, reg, (await a.inspectImage(plan.image))!, io);
    expect(again.pushed.filter((p) => p.note === 'already there').length).toBeGreaterThanOrEqual(3);
    const ref = `${R}/cpython:3.13.5-debug-amd64-k${key.slice(0, 32)}`;
    a.registry.set(ref, { ...a.registry.get(ref)!, digest: `sha256:${'7'.repeat(64)}` });
    const third = await pushVariant(a, reg, (await a.inspectImage(plan.image))!, io);
    expect(third.pushed.find((p) => p.ref === ref)?.note).toMatch(/kept: the registry already has sha256:7777/);
    expect(a.registry.get(ref)!.digest).toBe(`sha256:${'7'.repeat(64)}`);
  });
  it('credentials reach the engine; a refused push is exit 15 with the docker login hint, and no registry tag stays', async () => {
    await builtOn(a);
    const creds: CredentialDeps = { env: { DOCKER_CONFIG: '/c' }, readConfig: async () => JSON.stringify({ auths: { '127.0.0.1:5000': { auth: Buffer.from('u:p').toString('base64') } } }), runHelper: async () => undefined };
    const reg = await openRegistry({ prefix: R, credentials: creds });
    expect(reg.authSource).toBe('docker config auths');
    a.registryError = new Error('unauthorized: authentication required');
    const e = (await pushVariant(a, reg, (await a.inspectImage(plan.image))!, io).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.REGISTRY);
    expect(e.hint).toMatch(/docker login 127\.0\.0\.1:5000/);
    expect(JSON.stringify(e)).not.toContain('"p"');
    expect(a.callsOf('remoteDigest')[0]![1]).toEqual({ serveraddress: '127.0.0.1:5000', username: 'u', password: 'p' });
    expect(localTags(a).filter((t) => t.startsWith(R))).toEqual([]);
  });
});

describe('pydbg.lock', () => {
  it('locks what is built; round-trips; names the first input that drifted', async () => {
    const { key } = await builtOn(a);
    const entry = await lockEntry(a, plan);
    expect(entry).toMatchObject({ python: '3.13.5', variant: 'debug', arch: 'amd64', key, base: { origin: 'bootstrapped' } });
    const text = await formatLock([entry]);
    expect(text).toMatch(/^# pydbg\.lock/);
    expect((await parseLock(text)).images[0]).toEqual(entry);
    expect(lockDrift(entry, await currentInputs(a, plan))).toBeUndefined();
    // another machine bootstrapped its own base: named, before anything is built
    b.addImage(); // (the fake numbers its ids: this makes b's base another id)
    await builtOn(b);
    expect(lockDrift(entry, await currentInputs(b, plan))).toMatch(/^the base image differs \(locked [0-9a-f]{12}… bootstrapped, this engine has [0-9a-f]{12}… bootstrapped\)/);
    expect(lockDrift({ ...entry, source: { sha256: '0'.repeat(64) } }, await currentInputs(a, plan))).toMatch(/^the CPython source differs/);
    expect(lockDrift({ ...entry, recipe: { ...entry.recipe, dockerfile: '0'.repeat(64) } }, await currentInputs(a, plan))).toMatch(/^the Dockerfile differs/);
  });
  it('a lockfile that does not parse or has a bad field: exit 16, naming the field', async () => {
    for (const [text, re] of [['images: [oops', /pydbg\.lock: /], ['lockfile: "1"\nimages:\n  - python: 3.13.5\n', /images\.0\.variant/], ['lockfile: "2"\nimages: []\n', /lockfile/]] as const) {
      const e = (await parseLock(text).catch((x: unknown) => x)) as PydbgError;
      expect(e.exitCode, text).toBe(ExitCode.LOCKFILE);
      expect(e.message, text).toMatch(re);
    }
  });
  it('pydbg lock writes pydbg.lock for the project cells; env build --locked refuses drift before any build (exit 16)', async () => {
    await builtOn(a);
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-lock-'));
    await writeFile(join(dir, 'pydbg.yaml'), 'python: "3.13"\nvariant: [debug, count-allocs]\n');
    const t = testDeps(a, { cwd: dir });
    const r = await lock({}, t.deps);
    expect(r.exitCode).toBe(0);
    expect(t.stdout.text()).toMatch(/1 image locked[\s\S]*3\.13\.5 debug amd64[\s\S]*skipped 3\.13 count-allocs amd64: /);
    // machine b: its own base → refused before any build or pull
    b.addImage(); // (another id for b's base)
    await builtOn(b);
    const tb = testDeps(b, { cwd: dir });
    const e = (await build({ variant: 'debug', python: '3.13', locked: true }, tb.deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.LOCKFILE);
    expect(e.message).toMatch(/--locked: 3\.13\.5 debug amd64: the base image differs/);
    expect(b.callsOf('build')).toHaveLength(0);
    // a cell not in the lock
    const n = (await build({ variant: 'nopymalloc', python: '3.13', locked: true }, tb.deps).catch((x: unknown) => x)) as PydbgError;
    expect(n.message).toMatch(/has no entry for 3\.13\.5 nopymalloc amd64/);
    // an empty machine without a registry cannot get the locked base: refused at once
    const c = new FakeEngine();
    const ec = (await build({ variant: 'debug', python: '3.13', locked: true }, testDeps(c, { cwd: dir }).deps).catch((x: unknown) => x)) as PydbgError;
    expect(ec.exitCode).toBe(ExitCode.LOCKFILE);
    expect(ec.message).toMatch(/the locked base image sha256:[0-9a-f]{12}… is not on this engine/);
    expect(ec.hint).toMatch(/--registry/);
  });
  it('--locked with --registry pulls the locked base by its id', async () => {
    await builtOn(a);
    await pushVariant(a, await openRegistry({ prefix: R, credentials: noCreds }), (await a.inspectImage(plan.image))!, io);
    const entry = await lockEntry(a, plan);
    const reg = await openRegistry({ prefix: R, credentials: noCreds });
    b.scriptRun(probeOk);
    const r = await envBuild(plan, { engine: b, progress: quiet, signal: never, registry: { prefix: R, baseId: entry.base.id, credentials: noCreds } });
    expect(r.key).toBe(entry.key);
    expect(r.registry?.pulled?.[0]).toBe(reg.refs.base('amd64', entry.base.id));
  });
});
