/**
 * Live programs on the 3.13 debug image: a named run started with --detach (a small server: the
 * main thread and a worker each sleep in a C call inside a Python function), then ps, stacks
 * (both threads, with their Python function names), inject (a value from inside the process),
 * core + stacks --core (the same function, from the file), stop (no container left); the examples
 * (refleak service, deadlock, uncollectable cycles) on 3.13 debug and, as a second version, 2.7.
 */
import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pydbg, requireEngine, requireImages, ROOT } from './helpers.js';

const SERVER = `import threading, time

STATE = {"requests": 41}
CACHE = {"sessions": []}

class Session:
    def __init__(self, n):
        self.n = n

def worker_loop():
    while True:
        time.sleep(0.2)

def serve_forever():
    while True:
        CACHE["sessions"].append(Session(len(CACHE["sessions"])))  # the leak: nobody ever evicts
        time.sleep(0.2)

threading.Thread(target=worker_loop, name="worker", daemon=True).start()
print("ready", flush=True)
serve_forever()
`;

const NAME = `pydbg-live-test-${process.pid}`;
let project: string;
let home: string;

const containersNamed = async (name: string) =>
  (await execa('docker', ['ps', '-a', '--filter', `label=io.pydbg.name=${name}`, '--format', '{{.ID}}'])).stdout.split('\n').filter(Boolean);

beforeAll(async () => {
  await requireEngine();
  await requireImages('debug-3.13', 'count-allocs-2.7');
  project = await mkdtemp(join(tmpdir(), 'pydbg-live-'));
  home = await mkdtemp(join(tmpdir(), 'pydbg-live-home-'));
  await writeFile(join(project, 'server.py'), SERVER);
});

afterAll(async () => {
  // whatever a failed test left: the named run goes (then the temporary directories)
  for (const id of await containersNamed(NAME)) await execa('docker', ['rm', '-f', id], { reject: false });
  await rm(project, { recursive: true, force: true });
  await rm(home, { recursive: true, force: true });
});

describe('live programs', () => {
  const env = () => ({ PYDBG_HOME: home });
  const run = (args: string[]) => pydbg(args, env());

  it('run --name --detach prints the name and returns; the name is then refused', async () => {
    const r = await run(['run', '-q', '--variant', 'debug', '--python', '3.13', '-C', project, '--name', NAME, '--detach', '--', 'python', 'server.py']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout.trim()).toBe(NAME);
    const again = await run(['run', '-q', '--variant', 'debug', '--python', '3.13', '-C', project, '--name', NAME, '--detach', '--', 'python', 'server.py']);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`the name '${NAME}' is in use`);
    expect(await containersNamed(NAME)).toHaveLength(1);
  });

  it('ps lists it: python, variant, state, RSS, command', async () => {
    const r = await run(['ps', '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const row = (JSON.parse(r.stdout) as Array<Record<string, unknown>>).find((x) => x.name === NAME)!;
    expect(row).toMatchObject({ python: '3.13.5', variant: 'debug', arch: 'amd64', state: 'running', command: ['python', 'server.py'] });
    expect(row.rssKb as number).toBeGreaterThan(1000);
    const text = await run(['ps']);
    expect(text.stdout).toMatch(new RegExp(`${NAME}\\s+3\\.13\\.5\\s+debug\\s+amd64\\s+running`));
  });

  it('stacks: both threads with their Python functions, the user frames marked', async () => {
    await new Promise((r) => setTimeout(r, 500)); // the worker thread has started
    const r = await run(['stacks', NAME]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('2 thread(s)');
    expect(r.stdout).toMatch(/serve_forever at \/src\/server\.py:\d+ {3}<- your code/);
    expect(r.stdout).toMatch(/worker_loop at \/src\/server\.py:\d+ {3}<- your code/);
    expect(r.stdout).toContain('time_sleep at Modules/timemodule.c');
    const j = JSON.parse((await run(['stacks', NAME, '--json'])).stdout) as { threads: Array<{ pyFrames: Array<{ function: string }> }> };
    expect(j.threads.map((t) => t.pyFrames[0]?.function).sort()).toEqual(['serve_forever', 'worker_loop']);
  });

  it('inject: runs code inside the process and prints its output; an exception exits 1', async () => {
    const r = await run(['inject', NAME, '-c', 'import __main__, threading\nprint("requests", __main__.STATE["requests"] + 1, threading.active_count())']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout.trim()).toBe('requests 42 2');
    // quotes, $(…) and a gdb-looking line are just Python text
    const tricky = await run(['inject', NAME, '-c', `print("it's $(id) \\" ok")\n# call abort()`]);
    expect(tricky.stdout.trim()).toBe(`it's $(id) " ok`);
    const bad = await run(['inject', NAME, '-c', '1/0']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('ZeroDivisionError');
    // the process is still serving
    expect((await run(['stacks', NAME])).stdout).toContain('serve_forever');
  });

  it('heap: the growing type over three samples, and who holds it (module global CACHE), drawn as SVG', async () => {
    const svg = join(home, 'growth.svg');
    const r = await run(['heap', NAME, '--samples', '3', '--interval', '2', '--graph', svg, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const h = JSON.parse(r.stdout) as { samples: Array<{ types: Record<string, number> }>; growing: Array<{ type: string; perInterval: number }>; holders: { type: string; chains: Array<{ chain: Array<{ repr: string; link?: string }> | null }> } };
    expect(h.samples).toHaveLength(3);
    // 5 sessions a second, 2 s apart
    expect(h.growing[0]).toMatchObject({ type: '__main__.Session' });
    expect(h.growing[0]!.perInterval).toBeGreaterThanOrEqual(5);
    expect(h.holders.type).toBe('__main__.Session');
    const chain = h.holders.chains[0]!.chain!;
    expect(chain[0]).toMatchObject({ repr: 'module __main__', link: '.CACHE' });
    expect(chain.map((n) => n.link ?? '').slice(1)).toEqual(["['sessions']", expect.stringMatching(/^\[\d+\]$/), '']);
    expect(await readFile(svg, 'utf8')).toContain('who holds the growing __main__.Session');
    // the text report says the same
    const text = await run(['heap', NAME, '--samples', '2', '--interval', '1']);
    expect(text.stdout).toMatch(/growing in every interval:\n +TYPE +#1 +#2 +PER INTERVAL +PER MINUTE\n +__main__\.Session /);
    // pydbg's own bookkeeping in the process (the remembered ids) is not counted as growth
    expect(text.stdout).not.toMatch(/^ +(module|set) +\d+ +\d+ +\+1 /m);
    expect(text.stdout).toMatch(/who holds the growing __main__\.Session \(3 recent\):\n +module __main__ \.CACHE → dict of 1 \['sessions'\] → list of \d+ \[\d+\] → <__main__\.Session object at 0x/);
    // still serving, nothing left in the container
    expect((await run(['stacks', NAME])).stdout).toContain('serve_forever');
  });

  it('core writes a file tied to its image; stacks --core names the same functions', async () => {
    const r = await run(['core', NAME, '--json']);
    expect(r.exitCode, r.all).toBe(0);
    const { core, meta } = JSON.parse(r.stdout) as { core: string; meta: { image: string; exe: string } };
    expect(core.startsWith(join(home, 'cores', `${NAME}-`))).toBe(true);
    expect((await stat(core)).size).toBeGreaterThan(1e6);
    const sidecar = JSON.parse(await readFile(core.replace(/\.core$/, '.json'), 'utf8')) as { image: string };
    const { stdout: imageId } = await execa('docker', ['inspect', '--format', '{{.Image}}', (await containersNamed(NAME))[0]!]);
    expect(sidecar.image).toBe(imageId.trim());
    expect(meta.exe).toMatch(/^\/opt\/python\/bin\/python3/);
    // nothing left inside the container
    const { stdout: tmp } = await execa('docker', ['exec', NAME, 'sh', '-c', 'ls /tmp']);
    expect(tmp).not.toMatch(/pydbg-core/);
    const s = await run(['stacks', '--core', core]);
    expect(s.exitCode, s.all).toBe(0);
    expect(s.stdout).toMatch(/serve_forever at \/src\/server\.py:\d+/);
    expect(s.stdout).toMatch(/worker_loop at \/src\/server\.py:\d+/);
  });

  it('Ctrl-C during heap (between censuses): exit 130, the program keeps running, nothing of pydbg left in it', async () => {
    const p = execa(process.execPath, [join(ROOT, 'bin', 'pydbg.js'), 'heap', NAME, '--samples', '3', '--interval', '30'], { reject: false, env: env() });
    await new Promise((r) => setTimeout(r, 6000)); // the first census is taken; it waits for the second
    p.kill('SIGINT');
    const r = await p;
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(130);
    const ps = JSON.parse((await run(['ps', '--json'])).stdout) as Array<{ name: string; state: string }>;
    expect(ps.find((x) => x.name === NAME)?.state).toBe('running');
    const { stdout: tmp } = await execa('docker', ['exec', NAME, 'sh', '-c', 'ls -a /tmp']);
    expect(tmp).not.toMatch(/pydbg-/);
    expect(await containersNamed(NAME)).toHaveLength(1);
  });

  it('stop removes it: nothing left behind; stacks --core still reads the core of the program that is gone', async () => {
    const r = await run(['stop', NAME]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`stopped and removed ${NAME}`);
    expect(await containersNamed(NAME)).toEqual([]);
    const again = await run(['stacks', NAME]);
    expect(again.exitCode).toBe(8);
    const cores = (await readdir(join(home, 'cores'))).filter((f) => f.endsWith('.core'));
    expect(cores).toHaveLength(1);
    const s = await run(['stacks', '--core', join(home, 'cores', cores[0]!)]);
    expect(s.exitCode, s.all).toBe(0);
    expect(s.stdout).toMatch(/serve_forever at \/src\/server\.py:\d+/);
    const left = (await execa('docker', ['ps', '-a', '-q', '--filter', 'label=io.pydbg.kind'])).stdout.split('\n').filter(Boolean);
    for (const id of left) expect((await execa('docker', ['inspect', '--format', '{{index .Config.Labels "io.pydbg.name"}}', id])).stdout).not.toBe(NAME);
  });
});

describe('heap on a leaking C-extension service (examples/refleak/server.py)', () => {
  const SVC = `pydbg-heap-test-${process.pid}`;
  afterAll(async () => {
    for (const id of await containersNamed(SVC)) await execa('docker', ['rm', '-f', id], { reject: false });
  });

  it('names the growing list at its rate (±10 %), and says nothing holds it: a leaked reference', async () => {
    const EX = join(ROOT, 'examples', 'refleak');
    const start = await pydbg(['run', '-q', '--variant', 'debug', '--python', '3.13', '-C', EX, '--name', SVC, '--detach', '--', 'python', 'server.py'], { PYDBG_HOME: home });
    expect(start.exitCode, start.all).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    const r = await pydbg(['heap', SVC, '--samples', '3', '--interval', '5', '--json'], { PYDBG_HOME: home });
    expect(r.exitCode, r.all).toBe(0);
    const h = JSON.parse(r.stdout) as { growing: Array<{ type: string; perMinute: number }>; refsPerInterval: number | null; holders: { type: string; chains: Array<{ chain: unknown; verdict?: string; unexplainedRefs?: number }> } };
    expect(h.growing[0]!.type).toBe('list');
    // 100 requests a second, one list each: 6,000 a minute
    expect(h.growing[0]!.perMinute).toBeGreaterThan(5400);
    expect(h.growing[0]!.perMinute).toBeLessThan(6600);
    expect(h.refsPerInterval).toBeGreaterThan(0);
    expect(h.holders.type).toBe('list');
    expect(h.holders.chains.length).toBe(3);
    for (const c of h.holders.chains) expect(c).toMatchObject({ chain: null, verdict: 'leaked reference', unexplainedRefs: 1 });
    const stop = await pydbg(['stop', SVC], { PYDBG_HOME: home });
    expect(stop.exitCode).toBe(0);
    expect(await containersNamed(SVC)).toEqual([]);
  });
});

describe('stacks on a two-lock deadlock (examples/deadlock)', () => {
  const DL = `pydbg-deadlock-test-${process.pid}`;
  afterAll(async () => {
    for (const id of await containersNamed(DL)) await execa('docker', ['rm', '-f', id], { reject: false });
  });

  it('names both threads, the lock each holds and the line where each waits; the program keeps running', async () => {
    const start = await pydbg(['run', '-q', '--variant', 'debug', '--python', '3.13', '-C', join(ROOT, 'examples', 'deadlock'), '--name', DL, '--detach', '--', 'python', 'deadlock.py'], { PYDBG_HOME: home });
    expect(start.exitCode, start.all).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await pydbg(['stacks', DL], { PYDBG_HOME: home });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/^DEADLOCK: thread \d+ "(transfer|audit)" \(LWP \d+\) holds /m);
    expect(r.stdout).toMatch(/thread \d+ "transfer" \(LWP \d+\) holds accounts \(deadlock\.py:13\) and waits for ledger at deadlock\.py:15/);
    expect(r.stdout).toMatch(/thread \d+ "audit" \(LWP \d+\) holds ledger \(deadlock\.py:20\) and waits for accounts at deadlock\.py:22/);
    expect(r.stdout).toMatch(/blocked: waits for lock ledger at deadlock\.py:15, held by thread \d+ "audit"/);
    const j = JSON.parse((await pydbg(['stacks', DL, '--json'], { PYDBG_HOME: home })).stdout) as { deadlocks: Array<{ threads: Array<{ name: string }> }> };
    expect(j.deadlocks).toHaveLength(1);
    expect(j.deadlocks[0]!.threads.map((t) => t.name).sort()).toEqual(['audit', 'transfer']);
    // still running (still deadlocked): attaching and injecting did not kill it
    const ps = JSON.parse((await pydbg(['ps', '--json'], { PYDBG_HOME: home })).stdout) as Array<{ name: string; state: string }>;
    expect(ps.find((x) => x.name === DL)?.state).toBe('running');
    expect((await pydbg(['stop', DL], { PYDBG_HOME: home })).exitCode).toBe(0);
  });
});

describe('cycles the gc cannot free (examples/uncollectable/worker.py), on 3.13 and on 2.7', () => {
  const W = `pydbg-uncollectable-test-${process.pid}`;
  const EX = join(ROOT, 'examples', 'uncollectable');
  afterAll(async () => {
    for (const n of [`${W}-313`, `${W}-27`]) for (const id of await containersNamed(n)) await execa('docker', ['rm', '-f', id], { reject: false });
  });
  type Heap = { samples: Array<{ garbage: number }>; growing: Array<{ type: string; perMinute: number }>; holders: { type: string; chains: Array<{ chain: unknown; referrers?: number; verdict?: string }> } | null };

  it('3.13 debug: Job grows at 1,200 a minute (±10 %); it has a referrer but no chain to a module, class or frame (kept alive from C); gc.garbage stays empty', async () => {
    const name = `${W}-313`;
    const start = await pydbg(['run', '-q', '--variant', 'debug', '--python', '3.13', '-C', EX, '--name', name, '--detach', '--', 'python', 'worker.py'], { PYDBG_HOME: home });
    expect(start.exitCode, start.all).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    const r = await pydbg(['heap', name, '--samples', '3', '--interval', '5', '--json'], { PYDBG_HOME: home });
    expect(r.exitCode, r.all).toBe(0);
    const h = JSON.parse(r.stdout) as Heap;
    const job = h.growing.find((g) => g.type === '__main__.Job');
    expect(job, JSON.stringify(h.growing)).toBeDefined();
    expect(job!.perMinute).toBeGreaterThan(1080);
    expect(job!.perMinute).toBeLessThan(1320);
    expect(h.growing.some((g) => g.type === '__main__.Conn')).toBe(false); // collected (PEP 442)
    expect(h.samples.every((s) => s.garbage === 0)).toBe(true);
    expect(h.holders!.type).toBe('__main__.Job');
    expect(h.holders!.chains.length).toBeGreaterThan(0);
    for (const c of h.holders!.chains) expect(c).toMatchObject({ chain: null, referrers: expect.any(Number) });
    const text = await pydbg(['heap', name, '--samples', '1', '--holders', '0'], { PYDBG_HOME: home });
    expect(text.exitCode, text.all).toBe(0);
    expect((await pydbg(['stop', name], { PYDBG_HOME: home })).exitCode).toBe(0);
  });

  it('2.7 count-allocs: stacks names serve_forever; heap shows gc.garbage growing with the __del__ cycles; the worker keeps running', async () => {
    const name = `${W}-27`;
    const start = await pydbg(['run', '-q', '--variant', 'count-allocs', '--python', '2.7', '-C', EX, '--name', name, '--detach', '--', 'python', 'worker.py'], { PYDBG_HOME: home });
    expect(start.exitCode, start.all).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    const s = await pydbg(['stacks', name], { PYDBG_HOME: home });
    expect(s.exitCode, s.all).toBe(0);
    expect(s.stdout).toMatch(/serve_forever/);
    expect(s.stdout).toMatch(/worker\.py:\d+/);
    const r = await pydbg(['heap', name, '--samples', '2', '--interval', '4', '--json'], { PYDBG_HOME: home });
    expect(r.exitCode, r.all).toBe(0);
    const h = JSON.parse(r.stdout) as Heap;
    expect(h.samples[1]!.garbage).toBeGreaterThan(h.samples[0]!.garbage + 40); // 20 a second, 4 s apart
    expect(h.growing.map((g) => g.type)).toEqual(expect.arrayContaining(['__main__.Conn', '__main__.Job']));
    const text = await pydbg(['heap', name, '--samples', '1'], { PYDBG_HOME: home });
    expect(text.stdout).toMatch(/gc\.garbage \d+ uncollectable objects/);
    const ps = JSON.parse((await pydbg(['ps', '--json'], { PYDBG_HOME: home })).stdout) as Array<{ name: string; state: string; python: string }>;
    expect(ps.find((x) => x.name === name)).toMatchObject({ state: 'running', python: '2.7.18' });
    expect((await pydbg(['stop', name], { PYDBG_HOME: home })).exitCode).toBe(0);
    expect(await containersNamed(name)).toEqual([]);
  });
});
