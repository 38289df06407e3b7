/**
 * Live programs without an engine: the tar and exec plumbing, the stack report, live.sh's protocol,
 * and run --name/--detach, ps, stacks, inject, core, stacks --core, stop on a FakeEngine.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseCLI } from '../../src/cli/parse.js';
import { run } from '../../src/cli/commands/run.js';
import { core, formatDuration, formatPs, heap, inject, ps, stacks, stop } from '../../src/cli/commands/live.js';
import { LABEL } from '../../src/container/labels.js';
import { INJECT_CODE_ENV, parseInjectOutput, parseLiveLine } from '../../src/container/protocol.js';
import { DockerEngine } from '../../src/engine/docker.js';
import { FakeEngine } from '../../src/engine/fake.js';
import { demuxBuffer } from '../../src/engine/http-container.js';
import { createOptions } from '../../src/engine/run-container.js';
import { extractFirstFile, headerSize, tarOf } from '../../src/engine/tar.js';
import { ExitCode, type PydbgError } from '../../src/errors.js';
import { metaPathOf } from '../../src/exec/live.js';
import { formatStacks, parseThreads } from '../../src/exec/stacks.js';
import { tempProject, testDeps } from './cli-helpers.js';

const DEBUG_313 = 'pydbg/cpython:3.13.5-debug-amd64';
const opts = <T>(argv: string[]) => {
  const p = parseCLI(argv);
  return { ...p.args, ...p.options } as T;
};
const frame = (level: number, fn: string, file: string | null, line: number | null) => `PYDBG-FRAME ${JSON.stringify({ level, function: fn, file, line, objfile: null })}`;
const LIVE = 'PYDBG-LIVE {"pid": 7, "rssKb": 20480, "uid": 1000, "exe": "/opt/python/bin/python3.13"}';
/** what live.sh stacks prints for a two-thread server whose worker is inside the user's extension */
const STACKS_OUT = [
  LIVE,
  '[New LWP 8]',
  'PYDBG-THREAD {"num": 1, "lwp": 7, "name": "python"}',
  frame(0, '__GI___clock_nanosleep', '/build/glibc/clock_nanosleep.c', 48),
  frame(1, 'time_sleep', '/usr/src/cpython/Python-3.13.5/Modules/timemodule.c', 408),
  'PYDBG-PYBT-BEGIN',
  'Traceback (most recent call first):',
  '  File "/src/server.py", line 7, in serve_forever',
  '    time.sleep(0.5)',
  '  File "/src/server.py", line 10, in <module>',
  'PYDBG-PYBT-END',
  'PYDBG-THREAD {"num": 2, "lwp": 8, "name": "worker"}',
  frame(0, 'spin', '/pydbg/build/svc.c', 21),
  frame(1, 'cfunction_call', '/usr/src/cpython/Python-3.13.5/Objects/methodobject.c', 540),
  'PYDBG-PYBT-BEGIN',
  'Traceback (most recent call first):',
  '  File "/src/server.py", line 4, in worker_loop',
  '  File "/opt/python/lib/python3.13/threading.py", line 994, in run',
  'PYDBG-PYBT-END',
  'PYDBG-THREAD {"num": 3, "lwp": 9, "name": null}',
  frame(0, 'epoll_wait', null, null),
  'PYDBG-PYBT-BEGIN',
  'Unable to locate python frame',
  'PYDBG-PYBT-END',
  'PYDBG-THREADS-END',
  '[Inferior 1 (process 7) detached]',
].join('\n');

describe('tar: one file out of an archive', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pydbg-tar-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('the first regular file, whole, whatever the chunking; headers before it are skipped', async () => {
    const content = Buffer.alloc(70_001, 7);
    content.write('start', 0);
    // a pax header entry ('x') before the file, as the engine writes for long names
    const pax = tarOf({ 'PaxHeaders/x.core': 'path=x.core\n' });
    pax[156] = 'x'.charCodeAt(0);
    const archive = Buffer.concat([pax.subarray(0, pax.length - 1024), tarOf({ 'x.core': content, 'y.txt': 'second' })]);
    for (const size of [1, 511, 512, 513, 4096, archive.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < archive.length; i += size) chunks.push(archive.subarray(i, i + size));
      const dest = join(dir, `out-${size}`);
      expect(await extractFirstFile(Readable.from(chunks), dest)).toBe(content.length);
      expect((await readFile(dest)).equals(content)).toBe(true);
    }
  });
  it('sizes in base-256 (files over 8 GiB); an archive without a file or cut short is an error', async () => {
    const h = Buffer.alloc(512);
    h[124] = 0x80;
    h.writeUInt32BE(3, 132); // 2^33 + … as base-256
    h[131] = 2;
    expect(headerSize(h)).toBe(2 * 2 ** 32 + 3);
    await expect(extractFirstFile(Readable.from([Buffer.alloc(1024)]), join(dir, 'none'))).rejects.toThrow(/no regular file/);
    const cut = tarOf({ 'a.core': Buffer.alloc(2000, 1) }).subarray(0, 1200);
    await expect(extractFirstFile(Readable.from([cut]), join(dir, 'cut'))).rejects.toThrow(/ended in the middle/);
  });
});

describe('exec plumbing', () => {
  it('a whole multiplexed answer splits into stdout and stderr', () => {
    const f = (t: number, s: string) => {
      const p = Buffer.from(s);
      const h = Buffer.alloc(8);
      h[0] = t;
      h.writeUInt32BE(p.length, 4);
      return Buffer.concat([h, p]);
    };
    expect(demuxBuffer(Buffer.concat([f(1, 'a→'), f(2, 'warn\n'), f(1, 'b\n')]))).toEqual({ stdout: 'a→b\n', stderr: 'warn\n' });
    expect(demuxBuffer(Buffer.alloc(0))).toEqual({ stdout: '', stderr: '' });
  });
  it('a named spec: the name (query, for the http client), SYS_PTRACE, never auto-removed when detached', () => {
    const o = createOptions({ image: 'i', cmd: ['x'], name: 'svc', capAdd: ['SYS_PTRACE'] });
    expect(o).toMatchObject({ name: 'svc', HostConfig: { CapAdd: ['SYS_PTRACE'], AutoRemove: false } });
    expect(createOptions({ image: 'i', cmd: ['x'] }).HostConfig.CapAdd).toBeUndefined();
    expect('name' in createOptions({ image: 'i', cmd: ['x'] })).toBe(false);
  });

  describe('DockerEngine over http: exec, archive, containers, a named create', () => {
    let server: Server;
    let socketPath: string;
    const seen: Array<{ method: string; url: string; body: string }> = [];
    beforeAll(async () => {
      socketPath = join(await mkdtemp(join(tmpdir(), 'pydbg-http-')), 'engine.sock');
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push({ method: req.method!, url: req.url!, body });
          const url = req.url!;
          if (url.startsWith('/containers/create')) return res.end(JSON.stringify({ Id: 'c1' }));
          if (url === '/containers/c1/start') return (res.statusCode = 204), res.end();
          if (url === '/containers/c1/exec') return res.end(JSON.stringify({ Id: 'e1' }));
          if (url === '/exec/e1/start') {
            res.setHeader('Content-Type', 'application/vnd.docker.raw-stream');
            const frameOf = (t: number, s: string) => Buffer.concat([Buffer.from([t, 0, 0, 0, 0, 0, 0, Buffer.byteLength(s)]), Buffer.from(s)]);
            res.write(frameOf(1, 'PYDBG-LIVE'));
            return res.end(Buffer.concat([frameOf(2, 'oops\n'), frameOf(1, ' ok\n')]));
          }
          if (url === '/exec/e1/json') return res.end(JSON.stringify({ ExitCode: 3 }));
          if (url.startsWith('/containers/c1/archive?path=%2Ftmp%2Fx.core')) return res.end(tarOf({ 'x.core': 'CORE' }));
          if (url.startsWith('/containers/json?all=1&filters=')) {
            return res.end(JSON.stringify([{ Id: 'c1', Names: ['/svc'], ImageID: 'sha256:ab', Labels: { [LABEL.name]: 'svc' }, State: 'running', Status: 'Up 2 minutes', Created: 1_700_000_000 }]));
          }
          res.statusCode = 404;
          res.end(JSON.stringify({ message: `No such container: ${url}` }));
        });
      });
      await new Promise<void>((r) => server.listen(socketPath, r));
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));
    const engine = () => new DockerEngine({ deps: { env: { DOCKER_HOST: `unix://${socketPath}` }, home: '/h', exists: () => false, readText: () => undefined } });

    it('exec: create with the command and environment (no shell), start, demultiplex, exit code', async () => {
      const r = await engine().exec('c1', { cmd: ['sh', '/opt/pydbg-run/live.sh', 'inject'], env: { [INJECT_CODE_ENV]: 'print("$(x)")' }, user: '0:0' });
      expect(r).toEqual({ exitCode: 3, stdout: 'PYDBG-LIVE ok\n', stderr: 'oops\n' });
      const create = seen.find((s) => s.url === '/containers/c1/exec')!;
      expect(JSON.parse(create.body)).toMatchObject({ Cmd: ['sh', '/opt/pydbg-run/live.sh', 'inject'], Env: [`${INJECT_CODE_ENV}=print("$(x)")`], User: '0:0', Tty: false });
      expect(JSON.parse(seen.find((s) => s.url === '/exec/e1/start')!.body)).toEqual({ Detach: false, Tty: false });
    });
    it('archive streams the tar; a missing path is the engine 404', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'pydbg-arch-'));
      expect(await extractFirstFile(await engine().archive('c1', '/tmp/x.core'), join(dir, 'x'))).toBe(4);
      const e = (await engine().archive('c1', '/nope').catch((x: unknown) => x)) as { statusCode: number };
      expect(e.statusCode).toBe(404);
    });
    it('startContainer names it in the query, starts it, without AutoRemove; listContainers filters by label', async () => {
      expect(await engine().startContainer({ image: 'i', cmd: ['x'], name: 'svc', capAdd: ['SYS_PTRACE'] })).toEqual({ id: 'c1' });
      const create = seen.find((s) => s.url.startsWith('/containers/create'))!;
      expect(create.url).toBe('/containers/create?name=svc');
      expect(JSON.parse(create.body)).not.toHaveProperty('name');
      expect(JSON.parse(create.body).HostConfig).toMatchObject({ AutoRemove: false, CapAdd: ['SYS_PTRACE'] });
      const [c] = await engine().listContainers({ [LABEL.name]: '' });
      expect(c).toMatchObject({ id: 'c1', name: 'svc', state: 'running', status: 'Up 2 minutes', created: new Date(1_700_000_000_000).toISOString() });
      expect(decodeURIComponent(seen.at(-1)!.url)).toContain(`{"label":["${LABEL.name}"]}`);
    });
  });
});

describe('the stack report', () => {
  it('one stack per thread: C frames (the user frame marked), py-bt frames (the project marked)', () => {
    const { threads, complete } = parseThreads(STACKS_OUT);
    expect(complete).toBe(true);
    expect(threads.map((t) => [t.num, t.lwp, t.name])).toEqual([[1, 7, 'python'], [2, 8, 'worker'], [3, 9, null]]);
    expect(threads[0]!.pyFrames).toEqual([
      { file: '/src/server.py', line: 7, function: 'serve_forever', user: true },
      { file: '/src/server.py', line: 10, function: '<module>', user: true },
    ]);
    expect(threads[1]!.userFrame).toMatchObject({ function: 'spin', file: 'svc.c', line: 21 });
    expect(threads[1]!.pyFrames[1]).toMatchObject({ function: 'run', user: false });
    expect(threads[2]!.pyFrames).toEqual([]);
    expect(threads[2]!.pyBt).toBe('');
  });
  it('text: a line per thread naming its innermost Python function, marks, and a cut C stack', () => {
    const { threads, complete } = parseThreads(STACKS_OUT);
    const text = formatStacks({ source: 'svc', pid: 7, python: '3.13.5', variant: 'debug', threads, complete });
    expect(text).toContain('pydbg stacks svc: CPython 3.13.5 debug, pid 7, 3 thread(s)');
    expect(text).toContain('Thread 1 (LWP 7) "python": serve_forever at /src/server.py:7');
    expect(text).toContain('    serve_forever at /src/server.py:7   <- your code');
    expect(text).toContain('    run at /opt/python/lib/python3.13/threading.py:994\n');
    expect(text).toContain('    #0 spin at svc.c:21   <- your code');
    expect(text).toContain('    #1 time_sleep at Modules/timemodule.c:408\n');
    expect(text).toContain('Thread 3 (LWP 9)\n  Python: no Python frames in this thread');
    const many = { ...threads[0]!, frames: Array.from({ length: 20 }, (_, i) => ({ ...threads[0]!.frames[0]!, level: i })) };
    expect(formatStacks({ source: 'x', threads: [many], complete: false })).toMatch(/partial[\s\S]*#11 [\s\S]*… 8 more \(--json has every frame\)/);
  });
  it("live.sh's lines: the process, and inject's status and output", () => {
    expect(parseLiveLine(`noise\n${LIVE}\n`)).toEqual({ pid: 7, rssKb: 20480, uid: 1000, exe: '/opt/python/bin/python3.13' });
    expect(parseLiveLine('PYDBG-LIVE-NOPYTHON\n')).toBeUndefined();
    expect(parseInjectOutput('gdb noise\nPYDBG-INJECT-STATUS 1\nPYDBG-INJECT-OUT-BEGIN\nline\nPYDBG-INJECT-OUT-END looks\nPYDBG-INJECT-OUT-END\n')).toEqual({ status: 1, output: 'line\nPYDBG-INJECT-OUT-END looks\n' });
    expect(parseInjectOutput('PYDBG-INJECT-STATUS none\n').status).toBeNull();
  });
  it('ps: durations, sizes, a table', () => {
    expect([formatDuration(null), formatDuration(5), formatDuration(125), formatDuration(7260), formatDuration(90000)]).toEqual(['-', '5s', '2m05s', '2h01m', '1d01h']);
    const text = formatPs([{ name: 'svc', id: 'c', python: '3.13.5', variant: 'debug', arch: 'amd64', command: ['python', 'server.py'], state: 'running', status: 'Up', created: '', uptimeSeconds: 65, pid: 7, rssKb: 20480 }]);
    expect(text).toMatch(/^NAME +PYTHON +VARIANT +ARCH +STATE +UPTIME +PID +RSS +COMMAND\nsvc +3\.13\.5 +debug +amd64 +running +1m05s +7 +20\.0 MiB +python server\.py\n$/);
    expect(formatPs([])).toContain('no named runs');
  });
});

describe('live programs on a fake engine', () => {
  let fake: FakeEngine;
  let home: string;
  const cleanups: Array<() => Promise<void>> = [];
  const saved = process.env.PYDBG_HOME;
  beforeEach(async () => {
    fake = new FakeEngine();
    fake.addImage({ tags: [DEBUG_313], labels: { [LABEL.kind]: 'variant', [LABEL.image]: DEBUG_313, [LABEL.python]: '3.13.5', [LABEL.variant]: 'debug', [LABEL.arch]: 'amd64' } });
    home = await mkdtemp(join(tmpdir(), 'pydbg-home-'));
    process.env.PYDBG_HOME = home;
    cleanups.push(() => rm(home, { recursive: true, force: true }));
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env.PYDBG_HOME;
    else process.env.PYDBG_HOME = saved;
    while (cleanups.length) await cleanups.pop()!();
  });
  async function startSvc(name = 'svc') {
    const p = await tempProject({ 'server.py': 'import time\n' });
    cleanups.push(p.cleanup);
    const t = testDeps(fake, { cwd: p.dir });
    const r = await run(opts(['run', '--name', name, '--detach', '--', 'python', 'server.py']), t.deps);
    return { r, t, dir: p.dir };
  }

  it('run --name --detach: started (not run to the end), named, labelled, SYS_PTRACE; prints the name', async () => {
    const { r, t, dir } = await startSvc();
    expect(r.exitCode).toBe(0);
    expect(t.stdout.text()).toBe('svc\n');
    expect(fake.callsOf('runContainer')).toHaveLength(0);
    const [spec] = fake.callsOf('startContainer')[0] as [import('../../src/engine/engine.js').ContainerSpec];
    expect(spec).toMatchObject({ name: 'svc', capAdd: ['SYS_PTRACE'], stdin: false, tty: false });
    expect(spec.labels).toMatchObject({ [LABEL.kind]: 'run', [LABEL.name]: 'svc', [LABEL.python]: '3.13.5', [LABEL.variant]: 'debug', [LABEL.arch]: 'amd64', [LABEL.command]: '["python","server.py"]', [LABEL.projectDir]: dir });
    expect(fake.containers()).toHaveLength(1);
    expect(r.data).toMatchObject({ name: 'svc', detached: true, exitCode: 0 });
  });

  it('a name in use is refused before any other work (exit 2); --detach without --name makes one up', async () => {
    await startSvc();
    const callsBefore = fake.calls.length;
    const e = (await startSvc().catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(e.message).toBe("the name 'svc' is in use (a pydbg run, running)");
    expect(e.hint).toContain('pydbg stop svc');
    expect(fake.calls.slice(callsBefore).map((c) => c.method)).toEqual(['ping', 'listContainers']);
    expect(fake.containers()).toHaveLength(1);
    const p = await tempProject({});
    cleanups.push(p.cleanup);
    const t = testDeps(fake, { cwd: p.dir });
    await run(opts(['run', '-d', '--', 'python', '-c', 'pass']), t.deps);
    expect(t.stdout.text()).toMatch(/^run-[0-9a-f]{6}\n$/);
    // a container pydbg did not start has the name: the engine's 409 becomes the same refusal
    await fake.startContainer({ image: DEBUG_313, cmd: ['sleep', '1'], name: 'theirs' });
    const e2 = (await startSvc('theirs').catch((x: unknown) => x)) as PydbgError;
    expect(e2.exitCode).toBe(ExitCode.USAGE);
    expect(e2.message).toBe("the name 'theirs' is in use (a container has it)");
  });

  it('--detach refuses --gdb and --timeout; a foreground named run is named and attachable, and removed when it ends', async () => {
    const t = testDeps(fake);
    await expect(run(opts(['run', '-d', '--gdb', '--', 'python', 'x.py']), t.deps)).rejects.toThrow(/--detach and --gdb/);
    await expect(run(opts(['run', '-d', '--timeout', '5', '--', 'python', 'x.py']), t.deps)).rejects.toThrow(/--detach and --timeout/);
    const p = await tempProject({});
    cleanups.push(p.cleanup);
    fake.scriptRun({ exitCode: 0 });
    const r = await run(opts(['run', '-C', p.dir, '--name', 'fg', '--', 'python', 'x.py']), testDeps(fake).deps);
    expect(r.exitCode).toBe(0);
    expect(fake.runs.at(-1)).toMatchObject({ name: 'fg', capAdd: ['SYS_PTRACE'] });
    expect(fake.containers()).toHaveLength(0);
  });

  it('ps: running ones with their process (RSS from live.sh), exited ones with their status', async () => {
    await startSvc();
    await startSvc('done');
    fake.exitContainer('done');
    fake.scriptExec({ stdout: `${LIVE}\n` });
    const t = testDeps(fake);
    const r = await ps({}, t.deps);
    const rows = r.data as Array<Record<string, unknown>>;
    expect(rows.map((x) => [x.name, x.state, x.pid, x.rssKb])).toEqual([['done', 'exited', null, null], ['svc', 'running', 7, 20480]]);
    expect(fake.execs).toHaveLength(1);
    expect(fake.execs[0]).toMatchObject({ cmd: ['sh', '/opt/pydbg-run/live.sh', 'info'], user: '0:0' });
    expect(t.stdout.text()).toMatch(/svc +3\.13\.5 +debug +amd64 +running .* 20\.0 MiB +python server\.py/);
  });

  it('stacks NAME: live.sh stacks as root, the report on stdout; unknown and exited names are refused', async () => {
    await startSvc();
    fake.scriptExec({ stdout: STACKS_OUT });
    const t = testDeps(fake);
    await stacks(opts(['stacks', 'svc']), t.deps);
    expect(fake.execs[0]).toMatchObject({ cmd: ['sh', '/opt/pydbg-run/live.sh', 'stacks'], user: '0:0' });
    expect(t.stdout.text()).toContain('pydbg stacks svc: CPython 3.13.5 debug, pid 7, 3 thread(s)');
    const j = testDeps(fake);
    fake.scriptExec({ stdout: STACKS_OUT });
    const data = JSON.parse(((await stacks(opts(['stacks', 'svc', '--json']), j.deps)), j.stdout.text())) as { threads: unknown[]; raw?: string };
    expect(data.threads).toHaveLength(3);
    expect(data.raw).toBeUndefined();
    const e = (await stacks(opts(['stacks', 'nope']), testDeps(fake).deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(e.hint).toContain('running now: svc');
    fake.exitContainer('svc');
    await expect(stacks(opts(['stacks', 'svc']), testDeps(fake).deps)).rejects.toThrow(/is not running/);
    await expect(stacks(opts(['stacks']), testDeps(fake).deps)).rejects.toThrow(/give a NAME or --core FILE/);
  });

  it('a run emulated under QEMU (arm64 on an amd64 engine) is refused by stacks, heap, inject and core: gdb cannot attach there', async () => {
    const armImage = fake.addImage({ tags: ['pydbg/cpython:3.13.5-debug-arm64'], architecture: 'arm64' });
    await fake.startContainer({ image: armImage, cmd: ['python'], name: 'arm', labels: { [LABEL.name]: 'arm', [LABEL.arch]: 'arm64' } });
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['stacks', () => stacks(opts(['stacks', 'arm']), testDeps(fake).deps)],
      ['heap', () => heap(opts(['heap', 'arm', '--samples', '1']), testDeps(fake).deps)],
      ['inject', () => inject(opts(['inject', 'arm', '-c', 'print(1)']), testDeps(fake).deps)],
      ['core', () => core(opts(['core', 'arm']), testDeps(fake).deps)],
    ];
    for (const [what, attempt] of attempts) {
      const e = (await attempt().catch((x: unknown) => x)) as PydbgError;
      expect(e.exitCode, what).toBe(ExitCode.USAGE);
      expect(e.message, what).toContain('runs arm64 under QEMU user emulation on this amd64 engine');
      expect(e.hint, what).toContain('--gdb');
    }
    expect(fake.execs).toHaveLength(0);
  });

  it("a container pydbg did not start, and a run with no Python process: one line, a hint, exit 8; nothing run in them", async () => {
    const img = fake.addImage({ tags: ['nginx:latest'] });
    await fake.startContainer({ image: img, cmd: ['nginx'], name: 'web' });
    const e = (await stacks(opts(['stacks', 'web']), testDeps(fake).deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(e.message).toBe("'web' is a container pydbg did not start: pydbg attaches only to its own runs");
    expect(e.hint).toContain('pydbg run --name NAME --detach');
    expect(fake.execs).toHaveLength(0);
    await startSvc('sleeper');
    fake.scriptExec({ stdout: 'PYDBG-LIVE-NOPYTHON\n' });
    const n = (await heap(opts(['heap', 'sleeper', '--samples', '1']), testDeps(fake).deps).catch((x: unknown) => x)) as PydbgError;
    expect(n.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(n.message).toBe("no Python process in 'sleeper'");
    expect(n.hint).toContain('has no python process running now');
  });

  it('stacks: gdb that cannot attach is exit 22 with its reason', async () => {
    await startSvc();
    fake.scriptExec({ stdout: `${LIVE}\nptrace: Operation not permitted.\n`, exitCode: 0 });
    const e = (await stacks(opts(['stacks', 'svc']), testDeps(fake).deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.TOOL_FAILED);
    expect(e.message).toContain('ptrace: Operation not permitted.');
  });

  it('inject: the code travels in the environment, never in the command; output printed; a raised exception exits 1', async () => {
    await startSvc();
    const code = `print("it's $(id)")\n# "); call abort(); ("`;
    fake.scriptExec({ stdout: `${LIVE}\nPYDBG-INJECT-STATUS 0\nPYDBG-INJECT-OUT-BEGIN\nit's $(id)\nPYDBG-INJECT-OUT-END\n` });
    const t = testDeps(fake);
    const r = await inject(opts(['inject', 'svc', '-c', code]), t.deps);
    expect(r.exitCode).toBe(0);
    expect(t.stdout.text()).toBe("it's $(id)\n");
    expect(fake.execs[0]!.cmd).toEqual(['sh', '/opt/pydbg-run/live.sh', 'inject']);
    expect(fake.execs[0]!.env).toEqual({ [INJECT_CODE_ENV]: code });
    fake.scriptExec({ stdout: `${LIVE}\nPYDBG-INJECT-STATUS 1\nPYDBG-INJECT-OUT-BEGIN\nTraceback …\nZeroDivisionError\nPYDBG-INJECT-OUT-END\n` });
    const bad = testDeps(fake);
    expect((await inject(opts(['inject', 'svc', '-c', '1/0']), bad.deps)).exitCode).toBe(1);
    expect(bad.stderr.text()).toContain('raised an exception');
    fake.scriptExec({ stdout: `${LIVE}\nCould not attach to process.\nPYDBG-INJECT-STATUS none\n` });
    await expect(inject(opts(['inject', 'svc', '-c', 'x']), testDeps(fake).deps)).rejects.toThrow(/gdb could not attach/);
  });

  it('core: written by gdb in the container, copied out through the archive, a JSON naming its image; nothing left in the container', async () => {
    await startSvc();
    fake.scriptExec((req) => ({ stdout: `${LIVE}\nSaved corefile ${req.cmd[3]}\n`, files: { [req.cmd[3]!]: 'ELF-CORE' } }));
    fake.scriptExec((req) => ({ remove: [req.cmd[2]!] }));
    const t = testDeps(fake);
    const r = await core(opts(['core', 'svc']), t.deps);
    const { core: file, meta } = r.data as { core: string; meta: Record<string, unknown> };
    expect(file).toMatch(new RegExp(`^${home}/cores/svc-\\d{8}T\\d{6}Z\\.core$`));
    expect(await readFile(file, 'utf8')).toBe('ELF-CORE');
    const c = fake.containers()[0]!;
    expect(meta).toMatchObject({ name: 'svc', image: c.image, variantImage: DEBUG_313, python: '3.13.5', pid: 7, exe: '/opt/python/bin/python3.13', command: ['python', 'server.py'] });
    expect(JSON.parse(await readFile(metaPathOf(file), 'utf8'))).toEqual(meta);
    const inContainer = fake.execs[0]!.cmd[3]!;
    expect(inContainer).toMatch(/^\/tmp\/pydbg-core-[0-9a-f]{12}\.core$/);
    expect(fake.execs[1]!.cmd).toEqual(['rm', '-f', inContainer]);
    expect(c.files?.size).toBe(0);
    expect((await readdir(join(home, 'cores'))).sort()).toEqual([file.split('/').at(-1), metaPathOf(file).split('/').at(-1)].sort());
    expect(t.stdout.text()).toContain('.core\n');
    expect(t.stderr.text()).toContain('pydbg stacks --core');
  });

  it('core: a failed gdb writes nothing on the host and still cleans the container', async () => {
    await startSvc();
    fake.scriptExec({ stdout: `${LIVE}\nptrace: Operation not permitted.\n`, exitCode: 4 });
    const e = (await core(opts(['core', 'svc']), testDeps(fake).deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.TOOL_FAILED);
    expect(fake.execs.at(-1)!.cmd.slice(0, 2)).toEqual(['rm', '-f']);
    await expect(readdir(join(home, 'cores'))).rejects.toThrow();
  });

  it('stacks --core: gdb on the core in a container of its image, the core file alone mounted read-only', async () => {
    await startSvc();
    const image = fake.containers()[0]!.image;
    const dir = join(home, 'cores');
    await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
    const file = join(dir, 'svc-20260101T000000Z.core');
    await writeFile(file, 'ELF');
    await writeFile(metaPathOf(file), JSON.stringify({ name: 'svc', image, python: '3.13.5', variant: 'debug', pid: 7, exe: '/opt/python/bin/python3.13', command: [], created: '' }));
    fake.scriptRun({ stdout: STACKS_OUT });
    const t = testDeps(fake, { cwd: dir });
    await stacks(opts(['stacks', '--core', 'svc-20260101T000000Z.core']), t.deps);
    const spec = fake.runs.at(-1)!;
    expect(spec.image).toBe(image);
    expect(spec.cmd.slice(-3)).toEqual(['pydbg-threads', '/opt/python/bin/python3.13', '/pydbg/core/svc-20260101T000000Z.core']);
    expect(spec.mounts).toContainEqual({ source: file, target: '/pydbg/core/svc-20260101T000000Z.core', readOnly: true });
    expect(spec.networkMode).toBe('none');
    expect(t.stdout.text()).toContain(`pydbg stacks ${file}: CPython 3.13.5 debug, pid 7, 3 thread(s)`);
    expect(fake.containers()).toHaveLength(1); // only the live one: the reader was removed
    // no JSON next to it, or its image gone: said so
    await writeFile(join(dir, 'other.core'), 'ELF');
    await expect(stacks(opts(['stacks', '--core', 'other.core']), t.deps)).rejects.toThrow(/no other\.json next to/);
    await writeFile(metaPathOf(file), JSON.stringify({ image: 'sha256:' + 'f'.repeat(64), exe: '/x' }));
    await expect(stacks(opts(['stacks', '--core', file]), t.deps)).rejects.toThrow(/no longer exists/);
  });

  it('stop: removes a running or an exited run; nothing is left; an unknown name is exit 8', async () => {
    await startSvc();
    await startSvc('done');
    fake.exitContainer('done');
    const t = testDeps(fake);
    await stop(opts(['stop', 'svc']), t.deps);
    await stop(opts(['stop', 'done']), t.deps);
    expect(t.stdout.text()).toBe('stopped and removed svc (it was running)\nstopped and removed done (Exited (0) 1 second ago)\n');
    expect(fake.containers()).toEqual([]);
    const e = (await stop(opts(['stop', 'svc']), testDeps(fake).deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(e.hint).toContain('pydbg run --name NAME --detach');
  });
});
