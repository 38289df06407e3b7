/**
 * (Over 300 lines: the one class implementing the whole Engine interface against the real engine.)
 * The only module that imports dockerode, and only on the first engine call (a dynamic import,
 * cached): importing DockerEngine costs little, so commands that never reach the engine start fast.
 * Where the engine is comes from connection.ts (DOCKER_HOST, docker context, default sockets).
 */
import type Docker from 'dockerode';
import { statfs } from 'node:fs/promises';
import { readBuildStream, readPullStream, type BuildEvent } from './buildstream.js';
import { nodeConnectionDeps, resolveConnection, type Connection, type ConnectionDeps } from './connection.js';
import {
  BuildFailure, type BuildOutcome, type BuildRequest, type ContainerIO, type ContainerResult, type ContainerSpec, type Engine,
  type ContainerInfo, type EngineInfo, type ExecRequest, type ExecResult, type ImageDetail, type ImageInfo, type RegistryAuth,
} from './engine.js';
import { createContainer, demux as demuxFrames, execIn } from './http-container.js';
import { getJson, getStream } from './http-get.js';
import { createOptions, runAttached, type ContainerHandle } from './run-container.js';
import { engineUnreachable, errorCode } from './unreachable.js';

export { describeEndpoint } from './connection.js';
export { engineUnreachable } from './unreachable.js';

/** A connection that does not answer within this time fails (no socket timeout: a quiet `make` step must not be cut). */
export const CONNECTION_TIMEOUT_MS = 5000;
const PING_TIMEOUT_MS = 8000;

export interface DockerEngineOptions {
  /** environment and file access for finding the engine (tests) */
  deps?: ConnectionDeps;
  /** a ready dockerode client (tests); otherwise dockerode is imported on the first call */
  client?: Docker;
}

/** One dockerode module per process, loaded on first use. */
let dockerode: Promise<typeof Docker> | undefined;
const loadDockerode = () => (dockerode ??= import('dockerode').then((m) => m.default));

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
    } catch (e) {
      this.connError = e;
    }
    this.endpoint = this.conn?.endpoint ?? (deps.env.DOCKER_HOST || 'the current docker context');
    if (opts.client) this.client = Promise.resolve(opts.client);
    this.direct = !opts.client;
  }

  /** read-only JSON calls go over node's http (see http-get.ts) unless a client was injected */
  private readonly direct: boolean;
  private get<T>(path: string, timeoutMs = CONNECTION_TIMEOUT_MS, signal?: AbortSignal): Promise<T> {
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
      const options: Record<string, unknown> = { ...this.conn!.options, connectionTimeout: CONNECTION_TIMEOUT_MS, timeout: undefined };
      try {
        return new D(options as Docker.DockerOptions);
      } catch (e) {
        // docker-modem also reads DOCKER_HOST / DOCKER_CERT_PATH itself, and throws on what it cannot use
        throw engineUnreachable(this.endpoint, e, { connection: this.conn });
      }
    });
    return this.client;
  }

  async ping(signal?: AbortSignal): Promise<EngineInfo> {
    const started = Date.now();
    try {
      // `version` only: `info` makes the engine gather a lot, and only doctor needs it
      let v: Docker.DockerVersion;
      if (this.direct) v = await this.get<Docker.DockerVersion>('/version', CONNECTION_TIMEOUT_MS, signal);
      else {
        const docker = await this.api();
        const version = docker.version.bind(docker) as unknown as (o: object) => Promise<Docker.DockerVersion>;
        v = await version({ abortSignal: signal ?? AbortSignal.timeout(PING_TIMEOUT_MS) });
      }
      return { serverVersion: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch, endpoint: this.endpoint, via: this.conn?.via };
    } catch (e) {
      if (signal?.aborted) throw signal.reason; // the caller's own abort: not an engine problem
      // docker-modem's connection timeout destroys the request: it surfaces as "socket hang up"
      const timedOut = errorCode(e) === 'ETIMEDOUT' || (errorCode(e) === 'ECONNRESET' && Date.now() - started >= CONNECTION_TIMEOUT_MS - 100);
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
    if (this.direct) {
      if (this.connError !== undefined) throw this.connError;
      // as `docker run --rm`: the engine removes the container when it exits (not when it is to be committed)
      const autoRemove = !io.commit;
      const container = await createContainer(this.conn!.options, createOptions(spec, autoRemove), CONNECTION_TIMEOUT_MS);
      return runAttached(container, demuxFrames, spec, io, autoRemove);
    }
    const docker = await this.api();
    const container = await docker.createContainer(createOptions(spec));
    const demux = container.modem.demuxStream.bind(container.modem) as Parameters<typeof runAttached>[1];
    return runAttached(container as unknown as ContainerHandle, demux, spec, io);
  }

  /** Not auto-removed (see Engine.startContainer); a failed start removes it. */
  async startContainer(spec: ContainerSpec): Promise<{ id: string }> {
    if (this.connError !== undefined) throw this.connError;
    const container = await createContainer(this.conn!.options, createOptions(spec, false), CONNECTION_TIMEOUT_MS);
    try {
      await container.start();
    } catch (e) {
      await container.remove({ force: true, v: true }).catch(() => {});
      throw e;
    }
    return { id: container.id };
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
    return execIn(this.conn!.options, id, req, CONNECTION_TIMEOUT_MS);
  }

  async archive(id: string, path: string): Promise<NodeJS.ReadableStream> {
    if (this.connError !== undefined) throw this.connError;
    return getStream(this.conn!.options, `/containers/${encodeURIComponent(id)}/archive?${new URLSearchParams({ path }).toString()}`, CONNECTION_TIMEOUT_MS);
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
