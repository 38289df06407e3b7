/**
 * FakeEngine: an in-memory Engine for unit tests (no Docker). Over 300 lines because it implements
 * the whole Engine interface in one class, as DockerEngine does. It models only this:
 * - images: id ("sha256:<64 hex>"), tags ("repo:tag"), labels, os/architecture, created. `addImage`
 *   seeds one. `tag` moves a tag (its old holder loses it). `removeImage` by tag untags (and deletes the
 *   image with its last tag), by id deletes; like the engine it refuses (HTTP 409) an image with
 *   several tags or used by a container unless `force`. An image without tags counts as dangling.
 *   Refs match a full id, an id without "sha256:", a ≥12-char id prefix, or a tag (":latest" implied).
 * - builds: `scriptBuild(tag, script)` decides every build of that tag (unscripted: success).
 *   Success: an image with req.labels + script.labels, tagged req.tag; `stages` adds untagged
 *   earlier-stage images (reported in stageImages). Failure (`fail`) or `hang` (waits for
 *   req.signal, then fails 'aborted'): BuildFailure, no tag, and the scripted leftovers stay behind
 *   — `leftoverContainers` containers and `danglingLayers` untagged images, reported by short id in
 *   the outcome, for the real cleanup code to remove. Events (script.events, then 'built' or
 *   'error') go through req.onEvent.
 * - containers: `runContainer` records each spec in `runs` and plays the next `scriptRun` entry
 *   (a RunScript or a function of the spec; none left: exit 0): writes stdout/stderr text, writes
 *   `files` (container path → text) into the bind mount holding the path (must be writable), hangs
 *   until io.signal aborts if `hang`, commits (exit 0 + io.commit) to a new image, and always
 *   removes its container. `containers()` lists containers that still exist.
 * - live containers: `startContainer` creates a running container (name, labels) that stays until
 *   removeContainer (a name in use: HTTP 409); `listContainers` filters by label; `exec` records each
 *   request in `execs` and plays the next `scriptExec` entry (none left: exit 0, no output), whose
 *   `files` are written into the container's own file system (`archive` answers a tar of one of them;
 *   a missing path: 404); `exitContainer` makes a running one exit.
 * - ping: `arch`, `ncpu` and `memTotal` (bytes) are configurable; set `unreachable` to make ping throw it. `pullError` fails pulls.
 * - files: `filesMode` 'mount' (default) or 'copy' (a remote engine, `new FakeEngine({ files: 'copy' })`).
 *   In copy mode a script's write into a read-only mount changes only the container's copy (nothing
 *   reaches the host), a writable one is copied back; startContainer refuses a writable mount.
 * - registries: a ref under one of `registryHosts` is pushed into / pulled from `registry` (ref →
 *   the image as pushed, with its digest; a pull gives back the same id and labels, as a real
 *   registry does). A missing ref: "manifest unknown". `registryError` fails every registry call;
 *   `pullHang` makes a registry pull wait for its signal (an interrupted pull: nothing tagged).
 * - calls: every Engine method call, in order, as { method, args }.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { ExitCode, PydbgError } from '../errors.js';
import type { BuildEvent } from './buildstream.js';
import {
  BuildFailure, type BuildOutcome, type BuildRequest, type ContainerIO, type ContainerResult, type ContainerSpec, type Engine,
  type ContainerInfo, type EngineFiles, type EngineInfo, type ExecRequest, type ExecResult, type ImageDetail, type ImageInfo, type RegistryAuth,
} from './engine.js';
import { tarOf } from './tar.js';

export type FakeImage = ImageDetail;
export interface FakeContainer { id: string; image: string; spec?: ContainerSpec; name?: string; state?: string; created?: string; files?: Map<string, Buffer> }

export interface ExecScript {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** container path → content, written into the container's file system */
  files?: Record<string, string | Buffer>;
  /** container paths removed */
  remove?: string[];
}

export interface RunScript {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** container path → content, written into the writable bind mount that holds the path */
  files?: Record<string, string>;
  /** run until io.signal aborts (a timeout or an interrupt), then reject with its reason */
  hang?: boolean;
}

export interface BuildScript {
  /** fail with this message (the builder's errorDetail) */
  fail?: string;
  /** run until req.signal aborts, then fail with 'aborted' */
  hang?: boolean;
  /** success: labels the Dockerfile adds, the image's architecture (default: from req.platform or `arch`) */
  labels?: Record<string, string>;
  architecture?: string;
  /** success: untagged images of earlier stages */
  stages?: number;
  /** failure/hang: what the builder leaves behind */
  leftoverContainers?: number;
  danglingLayers?: number;
  /** emitted before the final 'built' / 'error' event */
  events?: BuildEvent[];
}

const conflict = (what: string) => Object.assign(new Error(`(HTTP code 409) conflict - ${what}`), { statusCode: 409 });
const notFound = (what: string) => Object.assign(new Error(`(HTTP code 404) no such image - ${what}`), { statusCode: 404 });
const hex = (id: string) => id.replace(/^sha256:/, '');
const short = (id: string) => hex(id).slice(0, 12);
const repoOf = (ref: string) => normTag(ref).slice(0, normTag(ref).lastIndexOf(':'));
const normTag = (t: string) => (t.slice(t.lastIndexOf('/') + 1).includes(':') ? t : `${t}:latest`);

export class FakeEngine implements Engine {
  readonly endpoint = 'fake://engine';
  filesMode: 'mount' | 'copy';
  arch: string;
  unreachable: Error | undefined;
  pullError: Error | undefined;
  /** registry hosts the fake models ("127.0.0.1:5000"); their refs live in `registry` */
  readonly registryHosts = new Set<string>();
  readonly registry: Map<string, FakeImage & { digest: string }>;
  registryError: Error | undefined;
  pullHang = false;
  free = 100e9;
  /** what ping answers for the engine's CPUs and memory (bytes) */
  ncpu = 4;
  memTotal = 16 * 2 ** 30;
  readonly calls: Array<{ method: string; args: unknown[] }> = [];
  /** every ContainerSpec run, in order */
  readonly runs: ContainerSpec[] = [];
  /** every exec, in order, with the container it ran in */
  readonly execs: Array<{ id: string } & ExecRequest> = [];
  private readonly execScripts: Array<ExecScript | ((req: ExecRequest, c: FakeContainer) => ExecScript)> = [];
  private readonly imgs = new Map<string, FakeImage>();
  private readonly ctrs = new Map<string, FakeContainer>();
  private readonly buildScripts = new Map<string, BuildScript>();
  private readonly runScripts: Array<RunScript | ((spec: ContainerSpec) => RunScript)> = [];
  private seq = 0;

  /** `registry`: share one (two fakes = two machines and the registry between them) */
  constructor(opts: { arch?: string; registry?: FakeEngine['registry']; registryHosts?: string[]; files?: 'mount' | 'copy' } = {}) {
    this.arch = opts.arch ?? 'amd64';
    this.filesMode = opts.files ?? 'mount';
    this.registry = opts.registry ?? new Map();
    for (const h of opts.registryHosts ?? []) this.registryHosts.add(h);
  }

  // ---- test controls ----
  addImage(o: { tags?: string[]; labels?: Record<string, string>; os?: string; architecture?: string; size?: number; created?: Date } = {}): string {
    const id = this.newId('image');
    this.imgs.set(id, { id, tags: [], labels: { ...o.labels }, created: (o.created ?? new Date()).toISOString(), size: o.size ?? 1e6, os: o.os ?? 'linux', architecture: o.architecture ?? this.arch });
    for (const t of o.tags ?? []) this.moveTag(id, normTag(t));
    return id;
  }
  scriptBuild(tag: string, script: BuildScript): void {
    this.buildScripts.set(normTag(tag), script);
  }
  scriptRun(...scripts: Array<RunScript | ((spec: ContainerSpec) => RunScript)>): void {
    this.runScripts.push(...scripts);
  }
  scriptExec(...scripts: Array<ExecScript | ((req: ExecRequest, c: FakeContainer) => ExecScript)>): void {
    this.execScripts.push(...scripts);
  }
  /** the program in a started container ends (it stays, exited, until removed) */
  exitContainer(nameOrId: string): void {
    const c = this.container(nameOrId);
    if (c) c.state = 'exited';
  }
  images(): FakeImage[] {
    return [...this.imgs.values()].map((i) => ({ ...i, tags: [...i.tags], labels: { ...i.labels } }));
  }
  containers(): FakeContainer[] {
    return [...this.ctrs.values()];
  }
  callsOf(method: keyof Engine): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  // ---- Engine ----
  async ping(signal?: AbortSignal): Promise<EngineInfo> {
    this.record('ping', [signal]);
    if (this.unreachable) throw this.unreachable;
    return { serverVersion: '27.0.0-fake', apiVersion: '1.47', os: 'linux', arch: this.arch, endpoint: this.endpoint, via: 'fake', ncpu: this.ncpu, memTotal: this.memTotal };
  }

  async inspectImage(ref: string): Promise<ImageDetail | undefined> {
    this.record('inspectImage', [ref]);
    const i = this.find(ref);
    return i && { ...i, tags: [...i.tags], labels: { ...i.labels } };
  }

  async findImages(labels: Record<string, string>): Promise<ImageInfo[]> {
    this.record('findImages', [labels]);
    const match = (i: FakeImage) => Object.entries(labels).every(([k, v]) => k in i.labels && (v === '' || i.labels[k] === v));
    // like a real listing: no os/architecture
    return [...this.imgs.values()].filter(match).map(({ id, tags, labels: l, created, size }) => ({ id, tags: [...tags], labels: { ...l }, created, size }));
  }

  async build(req: BuildRequest): Promise<BuildOutcome> {
    this.record('build', [req]);
    req.context.resume(); // the engine reads the whole context
    const s = (req.tag && this.buildScripts.get(normTag(req.tag))) || {};
    if (req.signal?.aborted) throw new BuildFailure('aborted', { layers: [], containers: [] });
    for (const ev of s.events ?? []) req.onEvent?.(ev);
    if (s.fail !== undefined || s.hang) {
      if (s.hang) await untilAborted(req.signal).catch((e: unknown) => { if (!req.signal?.aborted) throw e; });
      const layers = Array.from({ length: s.danglingLayers ?? 0 }, () => short(this.addImage()));
      const containers = Array.from({ length: s.leftoverContainers ?? 0 }, () => {
        const id = this.newId('container');
        this.ctrs.set(id, { id, image: layers.at(-1) ?? 'fake-base' });
        return short(id);
      });
      const message = s.hang ? 'aborted' : s.fail!;
      if (!s.hang) req.onEvent?.({ type: 'error', message });
      throw new BuildFailure(message, { layers, containers });
    }
    const stageImages = Array.from({ length: s.stages ?? 0 }, () => this.addImage());
    const architecture = s.architecture ?? req.platform?.split('/')[1] ?? this.arch;
    const imageId = this.addImage({ labels: { ...req.labels, ...s.labels }, architecture, tags: req.tag ? [req.tag] : [] });
    req.onEvent?.({ type: 'built', id: imageId });
    return { imageId, layers: [], containers: [], stageImages };
  }

  async runContainer(spec: ContainerSpec, io: ContainerIO): Promise<ContainerResult> {
    this.record('runContainer', [spec, io]);
    this.runs.push(spec);
    const image = this.find(spec.image);
    if (!image) throw notFound(spec.image);
    const id = this.newId('container');
    this.ctrs.set(id, { id, image: image.id, spec });
    try {
      if (io.signal?.aborted) throw io.signal.reason;
      const next = this.runScripts.shift() ?? {};
      const s = typeof next === 'function' ? next(spec) : next;
      io.onStart?.(async () => {});
      if (s.stdout) io.stdout.write(s.stdout);
      if (s.stderr) io.stderr.write(s.stderr);
      for (const [path, text] of Object.entries(s.files ?? {})) await writeIntoMount(spec, path, text, this.filesMode);
      if (s.hang) await untilAborted(io.signal);
      const exitCode = s.exitCode ?? 0;
      if (exitCode !== 0 || !io.commit) return { exitCode };
      const committed = this.addImage({ labels: { ...image.labels, ...io.commit.labels }, os: image.os, architecture: image.architecture });
      this.moveTag(committed, `${io.commit.repo}:${io.commit.tag}`);
      return { exitCode, committed };
    } finally {
      this.ctrs.delete(id);
    }
  }

  async pull(ref: string, platform: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void> {
    this.record('pull', [ref, platform, signal, auth]);
    if (this.pullError) throw this.pullError;
    if (!this.inRegistry(ref)) {
      this.addImage({ tags: [ref], architecture: platform.split('/')[1] ?? this.arch });
      return;
    }
    if (this.registryError) throw this.registryError;
    const r = this.registry.get(normTag(ref));
    if (!r) throw Object.assign(new Error(`manifest for ${ref} not found: manifest unknown: manifest unknown`), { statusCode: 404 });
    if (this.pullHang) await untilAborted(signal);
    if (signal?.aborted) throw signal.reason;
    const { digest, ...image } = r;
    const have = this.imgs.get(image.id);
    if (!have) this.imgs.set(image.id, { ...image, tags: [], labels: { ...image.labels }, repoDigests: [] });
    const local = this.imgs.get(image.id)!;
    local.repoDigests = [...new Set([...(local.repoDigests ?? []), `${repoOf(ref)}@${digest}`])];
    this.moveTag(image.id, normTag(ref));
  }

  async push(ref: string, auth?: RegistryAuth, signal?: AbortSignal): Promise<{ digest?: string }> {
    this.record('push', [ref, auth, signal]);
    const i = this.find(ref);
    if (!i) throw notFound(ref);
    if (this.registryError) throw this.registryError;
    if (signal?.aborted) throw signal.reason;
    const digest = `sha256:${createHash('sha256').update(`${i.id}|${repoOf(ref)}`).digest('hex')}`;
    this.registry.set(normTag(ref), { ...i, tags: [], labels: { ...i.labels }, digest });
    i.repoDigests = [...new Set([...(i.repoDigests ?? []), `${repoOf(ref)}@${digest}`])];
    return { digest };
  }

  async remoteDigest(ref: string, auth?: RegistryAuth): Promise<string | undefined> {
    this.record('remoteDigest', [ref, auth]);
    if (this.registryError) throw this.registryError;
    return this.registry.get(normTag(ref))?.digest;
  }

  private inRegistry(ref: string): boolean {
    const first = ref.split('/')[0]!;
    return ref.includes('/') && this.registryHosts.has(first);
  }

  async tag(imageId: string, repo: string, tag: string): Promise<void> {
    this.record('tag', [imageId, repo, tag]);
    const i = this.find(imageId);
    if (!i) throw notFound(imageId);
    this.moveTag(i.id, `${repo}:${tag}`);
  }

  async removeImage(ref: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<void> {
    this.record('removeImage', [ref, opts]);
    const i = this.find(ref);
    if (!i) return; // like DockerEngine: a missing image is not an error
    const inUse = [...this.ctrs.values()].some((c) => hex(i.id).startsWith(hex(c.image)));
    if (inUse && !opts.force) throw conflict(`image ${short(i.id)} is used by a container`);
    const byTag = i.tags.includes(normTag(ref)) && !hex(i.id).startsWith(hex(ref));
    if (byTag) i.tags = i.tags.filter((t) => t !== normTag(ref));
    else if (i.tags.length > 1 && !opts.force) throw conflict(`image ${short(i.id)} is referenced in multiple repositories`);
    if (!byTag || i.tags.length === 0) this.imgs.delete(i.id);
  }

  async removeContainer(id: string): Promise<void> {
    this.record('removeContainer', [id]);
    for (const c of this.ctrs.values()) if (c.id.startsWith(id)) this.ctrs.delete(c.id);
  }

  async danglingImageIds(): Promise<string[]> {
    this.record('danglingImageIds', []);
    return [...this.imgs.values()].filter((i) => i.tags.length === 0).map((i) => i.id);
  }

  async containersFromImages(imageIds: string[]): Promise<string[]> {
    this.record('containersFromImages', [imageIds]);
    const shorts = imageIds.map(short);
    return [...this.ctrs.values()].filter((c) => shorts.some((s) => hex(c.image).startsWith(s))).map((c) => c.id);
  }

  async dataRootFree(): Promise<{ rootDir: string; free?: number }> {
    this.record('dataRootFree', []);
    return { rootDir: '/var/lib/docker', free: this.free };
  }

  async files(): Promise<EngineFiles> {
    this.record('files', []);
    if (this.unreachable) throw this.unreachable;
    const remote = this.filesMode === 'copy';
    return { mode: this.filesMode, remote, forced: false, reason: remote ? `the engine at ${this.endpoint} is not this machine` : "the engine's socket is on this machine" };
  }

  async startContainer(spec: ContainerSpec): Promise<{ id: string }> {
    this.record('startContainer', [spec]);
    const writable = spec.mounts?.find((m) => m.readOnly === false);
    if (this.filesMode === 'copy' && writable) throw new PydbgError(ExitCode.USAGE, `a container that keeps running cannot have its writable ${writable.target} copied back from the engine at ${this.endpoint}`, { hint: 'run it in the foreground, or without --rw' });
    this.runs.push(spec);
    const image = this.find(spec.image);
    if (!image) throw notFound(spec.image);
    if (spec.name && this.container(spec.name)) throw conflict(`the container name "/${spec.name}" is already in use`);
    const id = this.newId('container');
    this.ctrs.set(id, { id, image: image.id, spec, name: spec.name, state: 'running', created: new Date().toISOString(), files: new Map() });
    return { id };
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerInfo[]> {
    this.record('listContainers', [labels]);
    const match = (l: Record<string, string>) => Object.entries(labels).every(([k, v]) => k in l && (v === '' || l[k] === v));
    return [...this.ctrs.values()]
      .filter((c) => match(c.spec?.labels ?? {}))
      .map((c) => ({
        id: c.id, name: c.name ?? short(c.id), imageId: c.image, labels: { ...c.spec?.labels }, state: c.state ?? 'running',
        status: c.state === 'exited' ? 'Exited (0) 1 second ago' : 'Up 1 second', created: c.created ?? new Date().toISOString(),
      }));
  }

  async exec(id: string, req: ExecRequest): Promise<ExecResult> {
    this.record('exec', [id, req]);
    this.execs.push({ id, ...req });
    const c = this.container(id);
    if (!c) throw Object.assign(new Error(`(HTTP code 404) no such container - ${id}`), { statusCode: 404 });
    if (c.state === 'exited') throw conflict(`container ${short(c.id)} is not running`);
    const next = this.execScripts.shift() ?? {};
    const s = typeof next === 'function' ? next(req, c) : next;
    c.files ??= new Map();
    for (const [path, content] of Object.entries(s.files ?? {})) c.files.set(path, Buffer.from(content));
    for (const path of s.remove ?? []) c.files.delete(path);
    return { exitCode: s.exitCode ?? 0, stdout: s.stdout ?? '', stderr: s.stderr ?? '' };
  }

  async archive(id: string, path: string): Promise<NodeJS.ReadableStream> {
    this.record('archive', [id, path]);
    const content = this.container(id)?.files?.get(path);
    if (!content) throw Object.assign(new Error(`(HTTP code 404) Could not find the file ${path} in container ${id}`), { statusCode: 404 });
    return Readable.from([tarOf({ [posix.basename(path)]: content })]);
  }

  // ---- internals ----
  private container(nameOrId: string): FakeContainer | undefined {
    return [...this.ctrs.values()].find((c) => c.name === nameOrId || c.id === nameOrId || (nameOrId.length >= 12 && hex(c.id).startsWith(hex(nameOrId))));
  }
  private record(method: keyof Engine, args: unknown[]): void {
    this.calls.push({ method, args });
  }
  private newId(kind: string): string {
    return `sha256:${createHash('sha256').update(`fake-${kind}-${++this.seq}`).digest('hex')}`;
  }
  private find(ref: string): FakeImage | undefined {
    const h = hex(ref);
    if (/^[0-9a-f]{12,64}$/.test(h)) {
      const byId = [...this.imgs.values()].find((i) => hex(i.id).startsWith(h));
      if (byId) return byId;
    }
    return [...this.imgs.values()].find((i) => i.tags.includes(normTag(ref)));
  }
  private moveTag(id: string, tag: string): void {
    for (const i of this.imgs.values()) i.tags = i.tags.filter((t) => t !== tag);
    this.imgs.get(id)!.tags.push(tag);
  }
}

function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  if (!signal) return Promise.reject(new Error('FakeEngine: a hanging script needs an AbortSignal'));
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Write a file a container "wrote" at `path`: through the writable bind mount that holds it (copy mode: a read-only one takes it, the host does not see it). */
async function writeIntoMount(spec: ContainerSpec, path: string, text: string, files: 'mount' | 'copy' = 'mount'): Promise<void> {
  const m = (spec.mounts ?? []).find((x) => path === x.target || path.startsWith(`${x.target.replace(/\/$/, '')}/`));
  if (m && m.readOnly !== false && files === 'copy') return;
  if (!m || m.readOnly !== false) throw new Error(`FakeEngine: ${path} is not inside a writable bind mount of this container`);
  const host = join(m.source, posix.relative(m.target, path));
  await mkdir(dirname(host), { recursive: true });
  await writeFile(host, text);
}
