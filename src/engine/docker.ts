/**
 * (Over 300 lines: the one class implementing the whole Engine interface against the real engine.)
 * The only module that imports dockerode, and only on the first engine call (a dynamic import,
 * cached): importing DockerEngine costs little, so commands that never reach the engine start fast.
 * Where the engine is comes from connection.ts (DOCKER_HOST, docker context, default sockets; an
 * ssh:// engine through ssh.ts's agent). An engine that does not share this machine's files gets
 * copies of a container's mounts instead of bind mounts (files.ts decides, copy.ts copies).
 */
import type Docker from 'dockerode';
import { statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';
import { ExitCode, PydbgError, quoted } from '../errors.js';
import { readBuildStream, readPullStream, type BuildEvent } from './buildstream.js';
import { isSsh, nodeConnectionDeps, resolveConnection, type Connection, type ConnectionDeps } from './connection.js';
import {
  BuildFailure, type BuildOutcome, type BuildRequest, type ContainerIO, type ContainerResult, type ContainerSpec, type Engine,
  type ContainerInfo, type EngineFiles, type EngineInfo, type ExecRequest, type ExecResult, type FilesMode, type ImageDetail, type ImageInfo, type RegistryAuth,
} from './engine.js';
import type { CopyPlan, Manifest } from './copy.js';
import { decideFiles, FILES_ENV, forcedFiles, localityOf } from './files.js';
import { createContainer, demux as demuxFrames, execIn } from './http-container.js';
import { getJson, getStream, putStream } from './http-get.js';
import { createOptions, runAttached, type ContainerHandle } from './run-container.js';
import { sshAgentFor } from './ssh.js';
import { engineUnreachable, errorCode } from './unreachable.js';

export { describeEndpoint } from './connection.js';
export { engineUnreachable } from './unreachable.js';

/** A connection that does not answer within this time fails (no socket timeout: a quiet `make` step must not be cut). */
export const CONNECTION_TIMEOUT_MS = 5000;
/** over ssh the first answer includes ssh's own connection and authentication */
export const SSH_CONNECTION_TIMEOUT_MS = 20_000;
const PING_TIMEOUT_MS = 8000;

export interface DockerEngineOptions {
  /** environment and file access for finding the engine (tests) */
  deps?: ConnectionDeps;
  /** a ready dockerode client (tests); otherwise dockerode is imported on the first call */
  client?: Docker;
  /** this machine's name, to tell whether a tcp:// engine is this machine (default: os.hostname()) */
  hostName?: string;
}

/** One dockerode module per process, loaded on first use. */
let dockerode: Promise<typeof Docker> | undefined;
const loadDockerode = () => (dockerode ??= import('dockerode').then((m) => m.default));
/** The copy machinery (tar-fs), loaded only by an engine that copies. */
const loadCopy = () => import('./copy.js');

export class DockerEngine implements Engine {
  private readonly conn: Connection | undefined;
  /** the configuration is unusable (malformed DOCKER_HOST, missing context): thrown by the first call */
  private readonly connError: unknown;
  private client: Promise<Docker> | undefined;

  readonly endpoint: string;

  constructor(opts: DockerEngineOptions = {}) {
    const deps = opts.deps ?? nodeConnectionDeps();
    try {
      this.conn = resolveConnection(deps);
      // a bad PYDBG_ENGINE_FILES is a usage error, thrown (like a bad address) before any request
      this.forcedFiles = forcedFiles(deps.env);
    } catch (e) {
      this.connError = e;
    }
    this.endpoint = this.conn?.endpoint ?? (deps.env.DOCKER_HOST || 'the current docker context');
    if (opts.client) this.client = Promise.resolve(opts.client);
    this.direct = !opts.client;
    this.hostName = opts.hostName ?? hostname();
    this.connectMs = this.conn && isSsh(this.conn.options) ? SSH_CONNECTION_TIMEOUT_MS : CONNECTION_TIMEOUT_MS;
  }

  private readonly forcedFiles: FilesMode | undefined;
  private readonly hostName: string;
  /** how long the engine may take to answer a request's headers */
  private readonly connectMs: number;
  private filesDecision: Promise<EngineFiles> | undefined;

  /** read-only JSON calls go over node's http (see http-get.ts) unless a client was injected */
  private readonly direct: boolean;
  private get<T>(path: string, timeoutMs = this.connectMs, signal?: AbortSignal): Promise<T> {
    if (this.connError !== undefined) return Promise.reject(this.connError);
    return getJson<T>(this.conn!.options, path, timeoutMs, signal);
  }

  /** what connection.ts found (undefined when the configuration is unusable) */
  get connection(): Connection | undefined {
    return this.conn;
  }

  /** The dockerode client; validates the configuration before any connection attempt. */
  protected api(): Promise<Docker> {
    if (this.connError !== undefined) return Promise.reject(this.connError);
    this.client ??= loadDockerode().then((D) => {
      // `timeout: undefined` overrides DOCKER_CLIENT_TIMEOUT, which docker-modem would turn into a socket timeout
      // ssh: dockerode gets the agent whose connections are ssh processes (ssh.ts), as http-get.ts does
      const where = isSsh(this.conn!.options) ? { host: 'docker', port: 80, protocol: 'http', agent: sshAgentFor(this.conn!.options) } : this.conn!.options;
      const options: Record<string, unknown> = { ...where, connectionTimeout: this.connectMs, timeout: undefined };
      try {
        return new D(options as Docker.DockerOptions);
      } catch (e) {
        // docker-modem also reads DOCKER_HOST / DOCKER_CERT_PATH itself, and throws on what it cannot use
        throw engineUnreachable(this.endpoint, e, { connection: this.conn });
      }
    });
    return this.client;
  }

  async ping(signal?: AbortSignal, opts: { resources?: boolean } = {}): Promise<EngineInfo> {
    const started = Date.now();
    try {
      // `version` only: `info` makes the engine gather a lot; asked only for the CPUs and memory (`resources`)
      let v: Docker.DockerVersion;
      if (this.direct) v = await this.get<Docker.DockerVersion>('/version', this.connectMs, signal);
      else {
        const docker = await this.api();
        const version = docker.version.bind(docker) as unknown as (o: object) => Promise<Docker.DockerVersion>;
        v = await version({ abortSignal: signal ?? AbortSignal.timeout(PING_TIMEOUT_MS) });
      }
      const info: EngineInfo = { serverVersion: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch, endpoint: this.endpoint, via: this.conn?.via };
      if (!opts.resources) return info;
      const i = this.direct ? await this.get<{ NCPU?: number; MemTotal?: number }>('/info', this.connectMs, signal) : ((await (await this.api()).info()) as { NCPU?: number; MemTotal?: number });
      return { ...info, ...(i.NCPU ? { ncpu: i.NCPU } : {}), ...(i.MemTotal ? { memTotal: i.MemTotal } : {}) };
    } catch (e) {
      if (signal?.aborted) throw signal.reason; // the caller's own abort: not an engine problem
      // docker-modem's connection timeout destroys the request: it surfaces as "socket hang up"
      const timedOut = errorCode(e) === 'ETIMEDOUT' || (errorCode(e) === 'ECONNRESET' && Date.now() - started >= this.connectMs - 100);
      throw engineUnreachable(this.endpoint, e, { connection: this.conn, timedOut });
    }
  }

  async inspectImage(ref: string): Promise<ImageDetail | undefined> {
    try {
      const i = this.direct
        ? await this.get<Docker.ImageInspectInfo>(`/images/${ref.replace(/[^A-Za-z0-9._/:@-]/g, encodeURIComponent)}/json`)
        : await (await this.api()).getImage(ref).inspect();
      return {
        id: i.Id,
        tags: i.RepoTags ?? [],
        labels: (i.Config?.Labels as Record<string, string> | null) ?? {},
        created: i.Created,
        size: i.Size,
        os: i.Os,
        architecture: i.Architecture,
        repoDigests: i.RepoDigests ?? [],
      };
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  /** One list request; no inspect per image (inspectImage gives os/architecture when needed). */
  async findImages(labels: Record<string, string>): Promise<ImageInfo[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    const filters = JSON.stringify({ label });
    const list = this.direct
      ? await this.get<Docker.ImageInfo[]>(`/images/json?filters=${encodeURIComponent(filters)}`)
      : await (await this.api()).listImages({ filters } as Docker.ListImagesOptions);
    return list.map(imageFromSummary);
  }

  async build(req: BuildRequest): Promise<BuildOutcome> {
    const docker = await this.api();
    const layers: string[] = [];
    const containers: string[] = [];
    let imageId: string | undefined;
    const built: string[] = [];
    let error: string | undefined;
    const handle = (evs: BuildEvent[]) => {
      for (const ev of evs) {
        if (ev.type === 'layer') layers.push(ev.id);
        else if (ev.type === 'container') containers.push(ev.id);
        else if (ev.type === 'built') {
          imageId = ev.id; // the last one: a multi-stage build reports each stage's image
          built.push(ev.id);
        }
        else if (ev.type === 'error') error = ev.message;
        req.onEvent?.(ev);
      }
    };
    const opts: Record<string, unknown> = {
      rm: true,
      forcerm: true,
      nocache: req.noCache ?? false,
      labels: req.labels ?? {},
      networkmode: req.networkMode ?? 'default',
      abortSignal: req.signal,
    };
    if (req.tag) opts.t = req.tag;
    if (req.platform) opts.platform = req.platform;
    // a context that cannot be read (a file vanished, no permission) fails the build with its reason
    let contextError: Error | undefined = req.context.errored ?? undefined;
    let failContext: (e: Error) => void = () => {};
    const contextFailed = new Promise<never>((_, reject) => (failContext = reject));
    contextFailed.catch(() => {});
    const onContextError = (e: Error) => {
      contextError = e;
      failContext(e);
    };
    req.context.on('error', onContextError);
    if (contextError) failContext(contextError);
    try {
      const stream = (await Promise.race([docker.buildImage(req.context as unknown as NodeJS.ReadableStream, opts), contextFailed])) as NodeJS.ReadableStream;
      contextFailed.catch((e: Error) => (stream as unknown as { destroy(e?: Error): void }).destroy(e));
      // Closing the connection is what makes the engine cancel a classic build; do it explicitly.
      const stop = () => (stream as unknown as { destroy(e?: Error): void }).destroy(new Error('aborted'));
      if (req.signal?.aborted) stop();
      req.signal?.addEventListener('abort', stop, { once: true });
      try {
        await readBuildStream(stream as AsyncIterable<Buffer | string>, handle);
      } finally {
        req.signal?.removeEventListener('abort', stop);
      }
    } catch (e) {
      const why = contextError ? `the build context could not be read: ${contextError.message}` : e instanceof Error ? e.message : String(e);
      throw new BuildFailure(req.signal?.aborted ? 'aborted' : why, { layers, containers });
    } finally {
      req.context.off('error', onContextError);
    }
    if (error || !imageId) throw new BuildFailure(error ?? 'the build ended without an image id', { layers, containers });
    // Always report the full id ("sha256:…"): short and full ids must never meet in a cache key.
    const full = await this.inspectImage(imageId);
    const finalId = full?.id ?? imageId;
    const hex = (id: string) => id.replace(/^sha256:/, '');
    const stageImages = [...new Set(built)].filter((id) => !hex(finalId).startsWith(hex(id)));
    return { imageId: finalId, layers, containers, stageImages };
  }

  async runContainer(spec: ContainerSpec, io: ContainerIO): Promise<ContainerResult> {
    if (this.connError !== undefined) throw this.connError;
    const copy = await this.copyPlanFor(spec);
    // copy mode keeps the container after it exits while a writable mount is to be copied out
    const copyOut = Boolean(copy?.steps.some((s) => s.writable));
    const manifests = new Map<string, Manifest>();
    const afterExit = copyOut ? (id: string) => () => this.copyOut(id, copy!, manifests) : () => undefined;
    if (this.direct) {
      // as `docker run --rm`: the engine removes the container when it exits (not when it is to be committed)
      const autoRemove = !io.commit && !copyOut;
      const container = await this.create(spec, copy, autoRemove);
      if (copy) await this.copyInOrRemove(container, copy, manifests, io.signal);
      return runAttached(container, demuxFrames, spec, io, autoRemove, afterExit(container.id));
    }
    const docker = await this.api();
    const options = createOptions(spec);
    const container = await docker.createContainer((copy ? { ...options, HostConfig: { ...options.HostConfig, Mounts: copy.mounts } } : options) as Docker.ContainerCreateOptions);
    if (copy) await this.copyInOrRemove(container as unknown as ContainerHandle & { id: string }, copy, manifests, io.signal);
    const demux = container.modem.demuxStream.bind(container.modem) as Parameters<typeof runAttached>[1];
    return runAttached(container as unknown as ContainerHandle, demux, spec, io, false, afterExit(container.id));
  }

  /** Not auto-removed (see Engine.startContainer); a failed start removes it. */
  async startContainer(spec: ContainerSpec): Promise<{ id: string }> {
    if (this.connError !== undefined) throw this.connError;
    const copy = await this.copyPlanFor(spec);
    const writable = copy?.steps.find((s) => s.writable);
    if (writable) {
      // nothing would copy it back: the container outlives this call and `pydbg stop` removes it
      throw new PydbgError(ExitCode.USAGE, `a container that keeps running cannot have its writable ${writable.target} copied back from the engine at ${this.endpoint} (its files are copied, not mounted)`, {
        hint: `run it in the foreground, or without --rw; ${FILES_ENV}=mount if the engine sees this machine's files`,
      });
    }
    const container = await this.create(spec, copy, false);
    if (copy) await this.copyInOrRemove(container, copy, new Map(), undefined);
    try {
      await container.start();
    } catch (e) {
      await container.remove({ force: true, v: true }).catch(() => {});
      throw e;
    }
    return { id: container.id };
  }

  async files(): Promise<EngineFiles> {
    if (this.connError !== undefined) throw this.connError;
    return (this.filesDecision ??= (async () => {
      const conn = this.conn!;
      // only a tcp engine needs asking (its name against this host's); not when the choice is forced
      let name: string | undefined;
      if (localityOf(conn) === 'ask') {
        const info = this.direct ? await this.get<{ Name?: string }>('/info') : ((await (await this.api()).info()) as { Name?: string });
        name = info.Name || undefined;
      }
      return decideFiles(conn, this.forcedFiles, name, this.hostName);
    })()).catch((e: unknown) => {
      this.filesDecision = undefined; // a failed /info is not a decision
      throw e;
    });
  }

  /** The copy plan when this engine gets copies and the spec has mounts (else undefined: bind mounts). */
  private async copyPlanFor(spec: ContainerSpec): Promise<CopyPlan | undefined> {
    if (!spec.mounts?.length) return undefined;
    return (await this.files()).mode === 'copy' ? (await loadCopy()).planCopy(spec.mounts) : undefined;
  }

  /** Create over http (the warm path): bind mounts, or the copy plan's volumes in their place. */
  private async create(spec: ContainerSpec, copy: CopyPlan | undefined, autoRemove: boolean) {
    const options = createOptions(spec, autoRemove);
    if (copy) options.HostConfig.Mounts = copy.mounts as unknown as typeof options.HostConfig.Mounts;
    try {
      return await createContainer(this.conn!.options, options, this.connectMs);
    } catch (e) {
      // a bind mount the engine cannot see: it is not on this machine after all (a forwarded socket, a VM without file sharing)
      const missing = /bind source path does not exist: (\S+)/i.exec((e as Error).message ?? '');
      if (!copy && missing) {
        throw new PydbgError(ExitCode.ENGINE, `the engine at ${this.endpoint} cannot see ${quoted(missing[1])}: it does not share this machine's files`, {
          hint: `${FILES_ENV}=copy copies the files into the containers instead (pydbg doctor shows what was decided)`,
          cause: e,
        });
      }
      throw e;
    }
  }

  /** Put every mount's source into the created container; on any failure the container is removed. */
  private async copyInOrRemove(container: Pick<ContainerHandle, 'remove'> & { id: string }, copy: CopyPlan, manifests: Map<string, Manifest>, signal: AbortSignal | undefined): Promise<void> {
    const { packStep } = await loadCopy();
    try {
      for (const step of copy.steps) {
        const manifest: Manifest = new Map();
        manifests.set(step.target, manifest);
        const tar = packStep(step, manifest);
        try {
          if (this.direct) await putStream(this.conn!.options, `/containers/${encodeURIComponent(container.id)}/archive?path=%2F`, tar, { contentType: 'application/x-tar', signal });
          else await (await this.api()).getContainer(container.id).putArchive(tar, { path: '/' });
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          if (e instanceof PydbgError) throw e;
          // a file here that cannot be read is the user's to fix; anything else is the engine's side
          const local = ['EACCES', 'EPERM', 'ENOENT', 'ELOOP', 'EIO'].includes((e as NodeJS.ErrnoException).code ?? '');
          throw new PydbgError(local ? ExitCode.USAGE : ExitCode.ENGINE, `could not copy ${quoted(step.source)} into the container at ${this.endpoint}: ${(e as Error).message}`, {
            hint: local ? 'pydbg copies every file of it to the engine: each must be readable by you' : 'is the engine still reachable? (pydbg doctor)',
            cause: e,
          });
        }
      }
    } catch (e) {
      await container.remove({ force: true, v: true }).catch(() => {});
      throw e;
    }
  }

  /** After the run: every writable mount copied back from the (exited) container; what could not be, as notes. */
  private async copyOut(id: string, copy: CopyPlan, manifests: Map<string, Manifest>): Promise<string[]> {
    const notes: string[] = [];
    const { extractInto } = await loadCopy();
    for (const step of copy.steps.filter((s) => s.writable)) {
      try {
        const tar = this.direct ? await this.archive(id, step.target) : await (await this.api()).getContainer(id).getArchive({ path: step.target });
        const file = step.kind === 'file' ? basename(step.source) : undefined;
        const r = await extractInto(tar, { root: file !== undefined ? dirname(step.source) : step.source, file, manifest: manifests.get(step.target) });
        for (const s of r.skipped) notes.push(`${step.target}/${s.path.replace(/^\/+/, '')} was not copied back: ${s.why}`);
      } catch (e) {
        if (step.kind === 'file' && isStatus(e, 404)) continue; // the container removed the file: the host's stays
        throw new PydbgError(ExitCode.ENGINE, `could not copy ${step.target} back from the container into ${quoted(step.source)}: ${(e as Error).message}`, {
          hint: 'what the container wrote there is lost; is the engine still reachable, and the directory writable? (pydbg doctor)',
          cause: e,
        });
      }
    }
    return notes;
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    const filters = label.length ? `&filters=${encodeURIComponent(JSON.stringify({ label }))}` : ''; // no labels: every container
    const list = await this.get<Docker.ContainerInfo[]>(`/containers/json?all=1${filters}`);
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names?.[0] ?? '').replace(/^\//, ''),
      imageId: c.ImageID,
      labels: c.Labels ?? {},
      state: c.State,
      status: c.Status,
      created: new Date(c.Created * 1000).toISOString(),
    }));
  }

  async exec(id: string, req: ExecRequest): Promise<ExecResult> {
    if (this.connError !== undefined) throw this.connError;
    return execIn(this.conn!.options, id, req, this.connectMs);
  }

  async archive(id: string, path: string): Promise<NodeJS.ReadableStream> {
    if (this.connError !== undefined) throw this.connError;
    return getStream(this.conn!.options, `/containers/${encodeURIComponent(id)}/archive?${new URLSearchParams({ path }).toString()}`, this.connectMs);
  }

  async pull(ref: string, platform: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void> {
    const docker = await this.api();
    const stream = (await docker.pull(ref, { platform, abortSignal: signal, ...(auth ? { authconfig: auth } : {}) } as object)) as NodeJS.ReadableStream;
    await readPullStream(stream as AsyncIterable<Buffer | string>);
  }

  async push(ref: string, auth?: RegistryAuth, signal?: AbortSignal): Promise<{ digest?: string }> {
    const docker = await this.api();
    const [repo, tag] = splitTag(ref);
    // the engine wants credentials even for a registry without any: an empty auth header
    const stream = (await docker.getImage(repo).push({ tag, abortSignal: signal, authconfig: auth ?? {} } as object)) as NodeJS.ReadableStream;
    return readPullStream(stream as AsyncIterable<Buffer | string>);
  }

  async remoteDigest(ref: string, auth?: RegistryAuth): Promise<string | undefined> {
    const docker = await this.api();
    try {
      const d = (await docker.getImage(ref).distribution({ authconfig: auth ?? {} } as object)) as { Descriptor?: { digest?: string } };
      return d.Descriptor?.digest;
    } catch (e) {
      // the engine answers a tag the registry does not have with 404, or 401/500 carrying "manifest unknown"
      const text = (e as Error).message ?? '';
      if (isStatus(e, 404) || /manifest unknown|not found|no such/i.test(text)) return undefined;
      throw e;
    }
  }

  async tag(imageId: string, repo: string, tag: string): Promise<void> {
    await (await this.api()).getImage(imageId).tag({ repo, tag });
  }

  async removeImage(ref: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<void> {
    const docker = await this.api();
    try {
      await docker.getImage(ref).remove({ force: opts.force ?? false, noprune: opts.noprune ?? false });
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
  }

  async removeContainer(id: string): Promise<void> {
    const docker = await this.api();
    try {
      await docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      if (isStatus(e, 404) || isStatus(e, 409)) return; // gone, or already being removed
      throw e;
    }
  }

  async danglingImageIds(): Promise<string[]> {
    const list = await (await this.api()).listImages({ filters: JSON.stringify({ dangling: ['true'] }) } as Docker.ListImagesOptions);
    return list.map((i) => i.Id);
  }

  async containersFromImages(imageIds: string[]): Promise<string[]> {
    if (imageIds.length === 0) return [];
    const shorts = imageIds.map((i) => i.replace(/^sha256:/, '').slice(0, 12));
    const list = await (await this.api()).listContainers({ all: true });
    return list
      .filter((c) => shorts.some((s) => c.ImageID.replace(/^sha256:/, '').startsWith(s) || c.Image.startsWith(s)))
      .map((c) => c.Id);
  }

  async dataRootFree(): Promise<{ rootDir: string; free?: number }> {
    const info = (await (await this.api()).info()) as { DockerRootDir?: string };
    const rootDir = info.DockerRootDir ?? '/var/lib/docker';
    // another machine's data root: a directory of that name here says nothing about it
    if ((await this.files().catch(() => undefined))?.remote !== false) return { rootDir };
    try {
      const s = await statfs(rootDir);
      return { rootDir, free: s.bavail * s.bsize };
    } catch {
      return { rootDir }; // remote engine or no permission: unknown
    }
  }
}

/** An ImageInfo from a listImages summary (Created is unix seconds; untagged shows as <none>:<none>). */
export function imageFromSummary(s: Pick<Docker.ImageInfo, 'Id' | 'RepoTags' | 'Labels' | 'Created' | 'Size'>): ImageInfo {
  return {
    id: s.Id,
    tags: (s.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    labels: (s.Labels as Record<string, string> | null) ?? {},
    created: new Date(s.Created * 1000).toISOString(),
    size: s.Size,
  };
}

/** "host:5000/repo:tag" → ["host:5000/repo", "tag"] (a port's colon is not a tag's) */
function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, 'latest'];
}

function isStatus(e: unknown, code: number): boolean {
  return typeof e === 'object' && e !== null && (e as { statusCode?: number }).statusCode === code;
}
