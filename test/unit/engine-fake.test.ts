import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/engine/buildstream.js';
import { BuildFailure, type Engine } from '../../src/engine/engine.js';
import { FakeEngine } from '../../src/engine/fake.js';

function sink() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return { s, text: () => text };
}
const ctx = () => Readable.from([Buffer.from('tar')]);

describe('FakeEngine: images', () => {
  it('is an Engine; ping reports the configured architecture', async () => {
    const fake: Engine = new FakeEngine({ arch: 'arm64' });
    expect((await fake.ping()).arch).toBe('arm64');
  });
  it('inspects by tag, full id, id without sha256: and short id; findImages matches labels and omits the platform', async () => {
    const fake = new FakeEngine();
    const id = fake.addImage({ tags: ['pydbg/cpython:3.13-debug'], labels: { 'io.pydbg.kind': 'variant', 'io.pydbg.key': 'k1' }, architecture: 'arm64' });
    for (const ref of ['pydbg/cpython:3.13-debug', id, id.slice(7), id.slice(7, 19)]) expect((await fake.inspectImage(ref))?.id).toBe(id);
    expect((await fake.inspectImage(id))?.architecture).toBe('arm64');
    expect(await fake.inspectImage('nope:1')).toBeUndefined();
    const found = await fake.findImages({ 'io.pydbg.kind': 'variant', 'io.pydbg.key': '' });
    expect(found.map((i) => i.id)).toEqual([id]);
    expect(found[0]!.architecture).toBeUndefined();
    expect(await fake.findImages({ 'io.pydbg.key': 'other' })).toEqual([]);
  });
  it('tag moves a tag: the old holder becomes dangling', async () => {
    const fake = new FakeEngine();
    const a = fake.addImage({ tags: ['r:t'] });
    const b = fake.addImage();
    expect(await fake.danglingImageIds()).toEqual([b]);
    await fake.tag(b, 'r', 't');
    expect((await fake.inspectImage('r:t'))?.id).toBe(b);
    expect(await fake.danglingImageIds()).toEqual([a]);
  });
  it('removeImage: by tag untags (deleting with the last tag), by id needs force when several tags, missing is fine', async () => {
    const fake = new FakeEngine();
    const id = fake.addImage({ tags: ['r:a', 'r:b'] });
    await expect(fake.removeImage(id)).rejects.toMatchObject({ statusCode: 409 });
    await fake.removeImage('r:a');
    expect((await fake.inspectImage(id))?.tags).toEqual(['r:b']);
    await fake.removeImage('r:b');
    expect(fake.images()).toEqual([]);
    await fake.removeImage('r:gone');
    const two = fake.addImage({ tags: ['r:x', 'r:y'] });
    await fake.removeImage(two, { force: true });
    expect(fake.images()).toEqual([]);
  });
});

describe('FakeEngine: containers', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  it('runs with a scripted exit code and output, records the spec, and leaves no container', async () => {
    const fake = new FakeEngine();
    const img = fake.addImage({ tags: ['img:1'] });
    fake.scriptRun({ exitCode: 139, stdout: 'out\n', stderr: 'Segmentation fault\n' });
    const out = sink();
    const err = sink();
    const spec = { image: 'img:1', cmd: ['python', 'repro.py'] };
    expect(await fake.runContainer(spec, { stdout: out.s, stderr: err.s })).toEqual({ exitCode: 139 });
    expect([out.text(), err.text()]).toEqual(['out\n', 'Segmentation fault\n']);
    expect(fake.runs).toEqual([spec]);
    expect(fake.containers()).toEqual([]);
    // unscripted: exit 0; a script may be a function of the spec
    fake.scriptRun((s) => ({ exitCode: s.cmd.length }));
    expect((await fake.runContainer({ image: img, cmd: ['a', 'b'] }, { stdout: out.s, stderr: err.s })).exitCode).toBe(2);
    expect((await fake.runContainer({ image: img, cmd: [] }, { stdout: out.s, stderr: err.s })).exitCode).toBe(0);
    await expect(fake.runContainer({ image: 'nope:1', cmd: [] }, { stdout: out.s, stderr: err.s })).rejects.toMatchObject({ statusCode: 404 });
  });
  it('writes scripted files into a writable bind mount only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydbg-fake-'));
    dirs.push(dir);
    const fake = new FakeEngine();
    fake.addImage({ tags: ['img:1'] });
    const io = { stdout: sink().s, stderr: sink().s };
    fake.scriptRun({ files: { '/out/report/asan.log': 'ERROR: AddressSanitizer' } });
    await fake.runContainer({ image: 'img:1', cmd: [], mounts: [{ source: dir, target: '/out', readOnly: false }] }, io);
    expect(await readFile(join(dir, 'report', 'asan.log'), 'utf8')).toBe('ERROR: AddressSanitizer');
    fake.scriptRun({ files: { '/src/x': 'y' } });
    await expect(fake.runContainer({ image: 'img:1', cmd: [], mounts: [{ source: dir, target: '/src' }] }, io)).rejects.toThrow(/not inside a writable bind mount/);
    expect(fake.containers()).toEqual([]);
  });
  it('a hanging run rejects with the abort reason when aborted; the container is gone', async () => {
    const fake = new FakeEngine();
    fake.addImage({ tags: ['img:1'] });
    fake.scriptRun({ hang: true });
    const ac = new AbortController();
    const run = fake.runContainer({ image: 'img:1', cmd: ['sleep'] }, { stdout: sink().s, stderr: sink().s, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 5));
    expect(fake.containers()).toHaveLength(1);
    ac.abort(new Error('timed out'));
    await expect(run).rejects.toThrow('timed out');
    expect(fake.containers()).toEqual([]);
  });
  it('commit after exit 0 makes a tagged image with the base labels plus the commit labels', async () => {
    const fake = new FakeEngine();
    fake.addImage({ tags: ['rt:1'], labels: { base: 'yes' } });
    const commit = { repo: 'pydbg/ext', tag: 'k', labels: { 'io.pydbg.kind': 'ext' } };
    const r = await fake.runContainer({ image: 'rt:1', cmd: [] }, { stdout: sink().s, stderr: sink().s, commit });
    expect((await fake.inspectImage('pydbg/ext:k'))).toMatchObject({ id: r.committed, labels: { base: 'yes', 'io.pydbg.kind': 'ext' } });
    fake.scriptRun({ exitCode: 1 });
    expect(await fake.runContainer({ image: 'rt:1', cmd: [] }, { stdout: sink().s, stderr: sink().s, commit })).toEqual({ exitCode: 1 });
  });
});

describe('FakeEngine: builds and calls', () => {
  it('a successful build tags an image with the labels and emits events; calls are recorded', async () => {
    const fake = new FakeEngine();
    fake.scriptBuild('pydbg/cpython:x', { labels: { verified: '{}' }, events: [{ type: 'step', index: 1, total: 1, instruction: 'FROM base' }], stages: 1 });
    const evs: BuildEvent[] = [];
    const out = await fake.build({ context: ctx(), tag: 'pydbg/cpython:x', labels: { 'io.pydbg.kind': 'variant' }, platform: 'linux/arm64', onEvent: (e) => evs.push(e) });
    expect(await fake.inspectImage('pydbg/cpython:x')).toMatchObject({ id: out.imageId, architecture: 'arm64', labels: { 'io.pydbg.kind': 'variant', verified: '{}' } });
    expect(evs.map((e) => e.type)).toEqual(['step', 'built']);
    expect(out.stageImages).toHaveLength(1);
    expect(await fake.danglingImageIds()).toEqual(out.stageImages);
    expect(fake.callsOf('build')).toHaveLength(1);
    expect(fake.calls.map((c) => c.method)).toEqual(['build', 'inspectImage', 'danglingImageIds']);
  });
  it('a failed build: BuildFailure, no tag, and leftovers that the Engine API can find and remove', async () => {
    const fake = new FakeEngine();
    fake.scriptBuild('t:1', { fail: "The command '/bin/sh -c make' returned a non-zero code: 2", leftoverContainers: 1, danglingLayers: 2 });
    const evs: BuildEvent[] = [];
    const e = (await fake.build({ context: ctx(), tag: 't:1', onEvent: (x) => evs.push(x) }).catch((x: unknown) => x)) as BuildFailure;
    expect(e).toBeInstanceOf(BuildFailure);
    expect(evs.at(-1)).toEqual({ type: 'error', message: e.message });
    expect(await fake.inspectImage('t:1')).toBeUndefined();
    expect(e.outcome.layers).toHaveLength(2);
    expect(fake.containers()).toHaveLength(1);
    // what the real cleanup does: containers by layer, then the dangling layers
    for (const id of await fake.containersFromImages(e.outcome.layers)) await fake.removeContainer(id);
    for (const id of await fake.danglingImageIds()) if (e.outcome.layers.some((l) => id.slice(7).startsWith(l))) await fake.removeImage(id);
    expect(fake.containers()).toEqual([]);
    expect(await fake.danglingImageIds()).toEqual([]);
  });
  it('a hanging build fails with "aborted" when req.signal aborts, leaving its scripted leftovers', async () => {
    const fake = new FakeEngine();
    fake.scriptBuild('t:1', { hang: true, leftoverContainers: 2 });
    const ac = new AbortController();
    const b = fake.build({ context: ctx(), tag: 't:1', signal: ac.signal });
    setTimeout(() => ac.abort(new Error('interrupted')), 5);
    await expect(b).rejects.toThrow('aborted');
    expect(fake.containers()).toHaveLength(2);
    expect(await fake.inspectImage('t:1')).toBeUndefined();
  });
  it('unreachable and pull failures are scriptable', async () => {
    const fake = new FakeEngine();
    fake.unreachable = new Error('engine down');
    await expect(fake.ping()).rejects.toThrow('engine down');
    fake.pullError = new Error('registry unreachable');
    await expect(fake.pull('debian:bookworm', 'linux/amd64')).rejects.toThrow('registry unreachable');
    fake.pullError = undefined;
    await fake.pull('debian:bookworm', 'linux/arm64');
    expect((await fake.inspectImage('debian:bookworm'))?.architecture).toBe('arm64');
  });
});
