/**
 * `pydbg env gc` on FakeEngine, and what `env list` / `env inspect` say about images that are not
 * variants (the shared layers a first build made).
 */
import { mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { inspect, list } from '../../src/cli/commands/env.js';
import { gc } from '../../src/cli/commands/gc.js';
import { parseCLI } from '../../src/cli/parse.js';
import { LABEL } from '../../src/container/labels.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { planGc } from '../../src/provision/gc.js';
import { testDeps } from './cli-helpers.js';

const DAY = 86400e3;
const NOW = new Date('2026-06-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const V313 = 'pydbg/cpython:3.13.5-debug-amd64';
let fake: FakeEngine;
let reports: string;

async function report(name: string, daysOld: number, bytes = 1000): Promise<string> {
  const dir = join(reports, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'report.json'), 'x'.repeat(bytes));
  const t = ago(daysOld * DAY);
  await utimes(dir, t, t);
  return dir;
}
const ext = (project: string, image: string, created: Date, tag: string, size = 1.45e9) =>
  fake.addImage({ tags: [tag], created, size, labels: { [LABEL.kind]: 'ext', [LABEL.project]: project, [LABEL.image]: image, [LABEL.key]: tag } });

beforeEach(async () => {
  fake = new FakeEngine();
  reports = await mkdtemp(join(tmpdir(), 'pydbg-reports-'));
  fake.addImage({ tags: [V313], size: 1.39e9, labels: { [LABEL.kind]: 'variant', [LABEL.image]: V313 } });
});

describe('env gc', () => {
  it('removes superseded extension/package images, old dangling stages and old reports; keeps the newest, young stages and variants', async () => {
    ext('p1', V313, ago(3 * DAY), 'pydbg/ext:old1');
    ext('p1', V313, ago(2 * DAY), 'pydbg/ext:old2');
    ext('p1', V313, ago(1 * DAY), 'pydbg/ext:newest');
    ext('p2', V313, ago(5 * DAY), 'pydbg/ext:other-project');
    ext('p1', 'pydbg/cpython:3.11.2-debug-amd64', ago(9 * DAY), 'pydbg/ext:variant-gone');
    fake.addImage({ tags: ['pydbg/runtime:r1'], created: ago(4 * DAY), size: 1.5e9, labels: { [LABEL.kind]: 'runtime', [LABEL.project]: 'p1', [LABEL.image]: V313 } });
    fake.addImage({ tags: ['pydbg/runtime:r2'], created: ago(1 * DAY), size: 1.5e9, labels: { [LABEL.kind]: 'runtime', [LABEL.project]: 'p1', [LABEL.image]: V313 } });
    fake.addImage({ tags: ['pydbg/runtime:legacy'], created: ago(30 * DAY), labels: { [LABEL.kind]: 'runtime', [LABEL.image]: V313 } });
    const oldStage = fake.addImage({ created: ago(2 * DAY), size: 9e8, labels: { [LABEL.kind]: 'buildpython' } });
    fake.addImage({ created: ago(60e3), labels: { [LABEL.kind]: 'deps' } }); // a build running now
    fake.addImage({ created: ago(9 * DAY) }); // not pydbg's
    const old = await report('2026-05-01T00-00-00-000Z-memcheck', 31, 2500);
    const young = await report('2026-05-30T00-00-00-000Z-leaks', 2);

    const t = testDeps(fake);
    const r = await gc({ olderThan: 7 * 86400 }, { ...t.deps, reportsDir: reports, now: NOW });
    const out = t.stdout.text();
    const removed = (r.data as { removed: Array<{ name: string }> }).removed.map((i) => i.name).sort();
    expect(removed).toEqual(['2026-05-01T00-00-00-000Z-memcheck', oldStage.replace('sha256:', '').slice(0, 12), 'pydbg/ext:old1', 'pydbg/ext:old2', 'pydbg/ext:variant-gone', 'pydbg/runtime:r1'].sort());
    const left = fake.images().flatMap((i) => i.tags);
    for (const kept of [V313, 'pydbg/ext:newest', 'pydbg/ext:other-project', 'pydbg/runtime:r2', 'pydbg/runtime:legacy']) expect(left).toContain(kept);
    expect(fake.images()).toHaveLength(7); // 12 - 5: the young stage and the image that is not pydbg's stay too
    expect(existsSync(old)).toBe(false);
    expect(existsSync(young)).toBe(true);
    expect(out).toMatch(/^removed {2}pydbg\/ext:old1 +extension build superseded by pydbg\/ext:newest \(same project, pydbg\/cpython:3\.13\.5-debug-amd64\) +~60\.0 MB$/m);
    expect(out).toMatch(/^removed {2}pydbg\/ext:variant-gone +extension build for pydbg\/cpython:3\.11\.2-debug-amd64, which no longer exists +~1\.4 GB$/m);
    expect(out).toMatch(/^removed {2}report 2026-05-01T00-00-00-000Z-memcheck +31 days old +~2\.5 kB$/m);
    // 2 × 60 MB + 1.45 GB + 110 MB + 900 MB + 2.5 kB
    expect(out).toMatch(/^freed about 2\.6 GB \(5 images, 1 report\)$/m);
  });

  it('--dry-run lists and removes nothing; an image a container uses is kept, with the reason', async () => {
    ext('p1', V313, ago(3 * DAY), 'pydbg/ext:old');
    ext('p1', V313, ago(1 * DAY), 'pydbg/ext:new');
    const t = testDeps(fake);
    await gc({ dryRun: true }, { ...t.deps, reportsDir: reports, now: NOW });
    expect(t.stdout.text()).toMatch(/^would remove {2}pydbg\/ext:old /m);
    expect(t.stdout.text()).toMatch(/^would free about 60\.0 MB \(1 image, 0 reports\); run without --dry-run to remove them$/m);
    expect(fake.images().flatMap((i) => i.tags)).toContain('pydbg/ext:old');

    // a container still runs from the old image: the engine refuses, gc says so and goes on
    fake.scriptRun({ hang: true });
    const stop = new AbortController();
    const running = fake.runContainer({ image: 'pydbg/ext:old', cmd: ['sleep'] }, { stdout: t.stdout, stderr: t.stderr, signal: stop.signal }).catch(() => {});
    const u = testDeps(fake);
    const r = await gc({}, { ...u.deps, reportsDir: reports, now: NOW });
    expect((r.data as { kept: unknown[] }).kept).toHaveLength(1);
    expect(u.stdout.text()).toMatch(/^kept {2}pydbg\/ext:old +conflict - image \w+ is used by a container$/m);
    stop.abort();
    await running;
  });

  it('nothing to do says so; --older-than takes m/h/d/w', async () => {
    const t = testDeps(fake);
    await gc({ olderThan: 30 * 86400 }, { ...t.deps, reportsDir: reports, now: NOW });
    expect(t.stdout.text()).toBe('nothing to remove: no superseded extension or project-package images, no build stages left behind, no reports older than 30 d\n');
    expect(parseCLI(['env', 'gc', '--older-than', '2w']).options.olderThan).toBe(14 * 86400);
    expect(() => parseCLI(['env', 'gc', '--older-than', 'soon'])).toThrow(/--older-than must be an age such as 7d/);
    expect(await planGc(fake, { reportsDir: join(reports, 'missing'), olderThanSeconds: 1, now: NOW })).toEqual([]);
  });
});

describe('env list and env inspect on the shared layers', () => {
  it('no variant yet: list names the shared layers doctor sees instead of "no pydbg images"', async () => {
    const empty = new FakeEngine();
    const t = testDeps(empty);
    await list({}, t.deps);
    expect(t.stdout.text()).toMatch(/^no pydbg images yet; build one with/);
    empty.addImage({ tags: ['pydbg/base:bookworm-amd64'], labels: { [LABEL.kind]: 'base' } });
    empty.addImage({ tags: ['pydbg/deps:bookworm-amd64'], labels: { [LABEL.kind]: 'deps' } });
    const u = testDeps(empty);
    await list({}, u.deps);
    expect(u.stdout.text()).toBe("no variant images yet; shared layers: pydbg/base:bookworm-amd64, pydbg/deps:bookworm-amd64\nbuild one with 'pydbg env build --variant debug --python 3.13' (or just 'pydbg run': a missing variant is built first)\n");
  });
  it('inspect of the base image shows no verified line (nothing is asserted of it); a variant keeps it', async () => {
    fake.addImage({ tags: ['pydbg/base:bookworm-amd64'], labels: { [LABEL.kind]: 'base', [LABEL.baseOrigin]: 'bootstrapped' } });
    const t = testDeps(fake);
    await inspect({ image: 'pydbg/base:bookworm-amd64' }, t.deps);
    expect(t.stdout.text()).not.toMatch(/verified|not-asserted/);
    expect(t.stdout.text()).toMatch(/^ {2}kind {10}base$/m);
    fake.addImage({ tags: ['pydbg/cpython:3.13.5-ubsan-amd64'], labels: { [LABEL.kind]: 'variant', [LABEL.verified]: '{"py_debug":false,"gdb_py_bt":null}' } });
    const u = testDeps(fake);
    await inspect({ image: '3.13.5-ubsan' }, u.deps);
    expect(u.stdout.text()).toMatch(/^ {2}verified {6}py_debug=no .*gdb_py_bt=not-asserted/m);
  });
});
