import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../src/engine/engine.js';
import { createOptions, runAttached, type ContainerHandle, type Demux } from '../../src/engine/run-container.js';

/** A container whose attach stream, exit and failures the test drives. */
class Scripted implements ContainerHandle {
  readonly stream = new PassThrough();
  readonly log: string[] = [];
  attachError: Error | undefined;
  private exited!: (r: { StatusCode: number }) => void;
  private readonly waiting = new Promise<{ StatusCode: number }>((r) => (this.exited = r));
  exit(code: number, output = '') {
    if (output) this.stream.write(output);
    this.stream.end();
    this.exited({ StatusCode: code });
  }
  async attach() {
    this.log.push('attach');
    if (this.attachError) throw this.attachError;
    return this.stream;
  }
  async start() {
    this.log.push('start');
  }
  wait() {
    this.log.push('wait');
    return this.waiting;
  }
  async remove(o: { force: boolean }) {
    this.log.push(`remove force=${o.force}`);
    this.exited({ StatusCode: 137 });
  }
  async resize() {}
  async commit(o: object) {
    this.log.push(`commit ${JSON.stringify(o)}`);
    return { Id: 'sha256:committed' };
  }
}
const demux: Demux = (s, out) => s.on('data', (d: Buffer) => out.write(d));
const spec: ContainerSpec = { image: 'img', cmd: ['true'] };
function sink() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return { s, text: () => text };
}
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('engine runContainer lifecycle', () => {
  it('attach before start; the exit code and output come through; the container is removed', async () => {
    const c = new Scripted();
    const out = sink();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s });
    await tick();
    c.exit(3, 'hello\n');
    await expect(run).resolves.toEqual({ exitCode: 3, committed: undefined });
    expect(out.text()).toBe('hello\n');
    expect(c.log).toEqual(['attach', 'start', 'wait', 'remove force=true']);
  });
  it('an attach-stream error while the container runs rejects the run, and the container is still removed', async () => {
    const c = new Scripted();
    const out = sink();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s });
    await tick();
    c.stream.destroy(new Error('attach connection reset'));
    await expect(run).rejects.toThrow('attach connection reset');
    expect(c.log.at(-1)).toBe('remove force=true');
  });
  it('an attach-stream error after the exit (output cut) rejects too', async () => {
    const c = new Scripted();
    const out = sink();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s });
    await tick();
    c['exited']({ StatusCode: 0 }); // exited, output still draining…
    c.stream.destroy(new Error('stream broke while draining'));
    await expect(run).rejects.toThrow('stream broke while draining');
    expect(c.log.at(-1)).toBe('remove force=true');
  });
  it('a failing attach rejects, and the container is removed', async () => {
    const c = new Scripted();
    c.attachError = new Error('attach refused');
    const out = sink();
    await expect(runAttached(c, demux, spec, { stdout: out.s, stderr: out.s })).rejects.toThrow('attach refused');
    expect(c.log).toEqual(['attach', 'remove force=true']);
  });
  it('an abort while waiting rejects with the abort reason at once and removes (kills) the container', async () => {
    const c = new Scripted();
    const out = sink();
    const ac = new AbortController();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s, signal: ac.signal });
    await tick();
    ac.abort(new Error('timed out'));
    await expect(run).rejects.toThrow('timed out');
    expect(c.log).toEqual(['attach', 'start', 'wait', 'remove force=true']);
  });
  it('an abort wins over the stream error it causes', async () => {
    const c = new Scripted();
    const out = sink();
    const ac = new AbortController();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s, signal: ac.signal });
    await tick();
    ac.abort(new Error('interrupted'));
    c.stream.destroy(new Error('socket closed'));
    await expect(run).rejects.toThrow('interrupted');
  });
  it('already aborted: nothing is attached or started, the container is removed', async () => {
    const c = new Scripted();
    const out = sink();
    const ac = new AbortController();
    ac.abort(new Error('interrupted'));
    await expect(runAttached(c, demux, spec, { stdout: out.s, stderr: out.s, signal: ac.signal })).rejects.toThrow('interrupted');
    expect(c.log).toEqual(['remove force=true']);
  });
  it('commits only after exit 0, with the labels as LABEL changes', async () => {
    const commit = { repo: 'pydbg/ext', tag: 'k', labels: { 'io.pydbg.kind': 'ext' } };
    const ok = new Scripted();
    const out = sink();
    const run = runAttached(ok, demux, spec, { stdout: out.s, stderr: out.s, commit });
    await tick();
    ok.exit(0);
    expect(await run).toEqual({ exitCode: 0, committed: 'sha256:committed' });
    expect(ok.log).toContain('commit {"repo":"pydbg/ext","tag":"k","changes":["LABEL io.pydbg.kind=\\"ext\\""]}');
    const bad = new Scripted();
    const run2 = runAttached(bad, demux, spec, { stdout: out.s, stderr: out.s, commit });
    await tick();
    bad.exit(1);
    expect(await run2).toEqual({ exitCode: 1, committed: undefined });
    expect(bad.log.some((l) => l.startsWith('commit'))).toBe(false);
  });
  it('create options: read-only bind mounts by default, no network, an init process', () => {
    const o = createOptions({ image: 'i', cmd: ['sh'], env: { A: '1' }, mounts: [{ source: '/p', target: '/w' }, { source: '/o', target: '/out', readOnly: false }] });
    expect(o.Env).toEqual(['A=1']);
    expect(o.HostConfig.Mounts).toEqual([
      { Type: 'bind', Source: '/p', Target: '/w', ReadOnly: true },
      { Type: 'bind', Source: '/o', Target: '/out', ReadOnly: false },
    ]);
    expect(o.HostConfig.NetworkMode).toBe('none');
    expect(o.HostConfig.Init).toBe(true);
  });
});

describe('AutoRemove (as docker run --rm)', () => {
  class AutoRemoving extends Scripted {
    waitRegistered(condition: string) {
      this.log.push(`wait registered (${condition})`);
      return Promise.resolve({ done: this.wait() });
    }
  }
  it('the wait is registered before start, and the engine removes the container itself', async () => {
    const c = new AutoRemoving();
    const out = sink();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s }, true);
    await tick();
    c.exit(3, 'bye\n');
    expect((await run).exitCode).toBe(3);
    expect(c.log).toEqual(['attach', 'wait registered (removed)', 'wait', 'start']);
    expect(createOptions(spec, true).HostConfig.AutoRemove).toBe(true);
    expect(createOptions(spec).HostConfig.AutoRemove).toBe(false);
  });
  it('an abort still force-removes it', async () => {
    const c = new AutoRemoving();
    const ctl = new AbortController();
    const out = sink();
    const run = runAttached(c, demux, spec, { stdout: out.s, stderr: out.s, signal: ctl.signal }, true);
    await tick();
    ctl.abort(new Error('stop'));
    await expect(run).rejects.toThrow('stop');
    expect(c.log).toContain('remove force=true');
  });
});
