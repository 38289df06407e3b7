/** The only module that imports dockerode. */
import Docker from 'dockerode';
import { statfs } from 'node:fs/promises';
import { BuildStreamParser, type BuildEvent } from './buildstream.js';
import {
  BuildFailure, type BuildOutcome, type BuildRequest, type ContainerIO, type ContainerResult, type ContainerSpec, type Engine,
  type EngineInfo, type ImageInfo,
} from './engine.js';
import { ExitCode, PydbgError } from '../errors.js';

export function describeEndpoint(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

export function engineUnreachable(endpoint: string, cause?: unknown): PydbgError {
  const why = cause instanceof Error ? cause.message : String(cause ?? '');
  return new PydbgError(ExitCode.ENGINE, `Docker engine not reachable at ${endpoint}${why ? ` (${why})` : ''}`, {
    hint: 'start it (e.g. `sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running engine; pydbg does not read docker CLI contexts',
    cause,
  });
}

export class DockerEngine implements Engine {
  readonly endpoint = describeEndpoint();
  // No socket timeout: a quiet `make` step must not be cut. Connection timeout + per-call signals.
  private readonly docker = new Docker({ connectionTimeout: 5000 } as Docker.DockerOptions);

  async ping(signal?: AbortSignal): Promise<EngineInfo> {
    try {
      const version = this.docker.version.bind(this.docker) as unknown as (o: object) => Promise<Docker.DockerVersion>;
      // `version` only: `info` makes the engine gather a lot, and only doctor needs it
      const v = await version({ abortSignal: signal ?? AbortSignal.timeout(8000) });
      return { serverVersion: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch, endpoint: this.endpoint };
    } catch (e) {
      throw engineUnreachable(this.endpoint, e);
    }
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    try {
      const i = await this.docker.getImage(ref).inspect();
      return {
        id: i.Id,
        tags: i.RepoTags ?? [],
        labels: (i.Config?.Labels as Record<string, string> | null) ?? {},
        created: i.Created,
        size: i.Size,
        os: i.Os,
        architecture: i.Architecture,
      };
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async findImages(labels: Record<string, string>): Promise<ImageInfo[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    const list = await this.docker.listImages({ filters: JSON.stringify({ label }) } as Docker.ListImagesOptions);
    const out: ImageInfo[] = [];
    for (const s of list) {
      const info = await this.inspectImage(s.Id);
      if (info) out.push(info);
    }
    return out;
  }

  async build(req: BuildRequest): Promise<BuildOutcome> {
    const layers: string[] = [];
    const containers: string[] = [];
    let imageId: string | undefined;
    const built: string[] = [];
    let error: string | undefined;
    const parser = new BuildStreamParser();
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
    try {
      const stream = (await this.docker.buildImage(req.context as unknown as NodeJS.ReadableStream, opts)) as NodeJS.ReadableStream;
      // Closing the connection is what makes the engine cancel a classic build; do it explicitly.
      const stop = () => (stream as unknown as { destroy(e?: Error): void }).destroy(new Error('aborted'));
      if (req.signal?.aborted) stop();
      req.signal?.addEventListener('abort', stop, { once: true });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer | string>) handle(parser.push(chunk.toString()));
        handle(parser.end());
      } finally {
        req.signal?.removeEventListener('abort', stop);
      }
    } catch (e) {
      throw new BuildFailure(req.signal?.aborted ? 'aborted' : e instanceof Error ? e.message : String(e), { layers, containers });
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
    const container = await this.docker.createContainer({
      Image: spec.image,
      Cmd: spec.cmd,
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      WorkingDir: spec.workdir,
      User: spec.user,
      Tty: spec.tty ?? false,
      OpenStdin: spec.stdin ?? false,
      StdinOnce: spec.stdin ?? false,
      AttachStdin: spec.stdin ?? false,
      AttachStdout: true,
      AttachStderr: true,
      Labels: spec.labels ?? {},
      HostConfig: {
        // Mounts (not Binds): a missing source is an error, never a silently created root-owned dir
        Mounts: (spec.mounts ?? []).map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly !== false })),
        NetworkMode: spec.networkMode ?? 'none',
        Memory: spec.memoryBytes,
        NanoCpus: spec.nanoCpus,
        PidsLimit: spec.pidsLimit,
        Init: spec.init ?? true,
        Ulimits: spec.coreDumps ? [{ Name: 'core', Soft: -1, Hard: -1 }] : undefined,
      },
    });
    let stop: (() => void) | undefined;
    try {
      // attach before start, or early output is lost
      const stream = (await container.attach({ stream: true, stdout: true, stderr: true, stdin: spec.stdin ?? false, hijack: spec.stdin ?? false })) as NodeJS.ReadWriteStream;
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
      if (spec.tty) stream.pipe(io.stdout, { end: false });
      else container.modem.demuxStream(stream, io.stdout, io.stderr);
      if (spec.stdin && io.stdin) io.stdin.pipe(stream);
      const killed = { value: false };
      stop = () => {
        killed.value = true;
        container.kill({ signal: 'SIGKILL' }).catch(() => {});
      };
      if (io.signal?.aborted) throw io.signal.reason;
      io.signal?.addEventListener('abort', stop, { once: true });
      await container.start();
      io.onStart?.(async (rows, cols) => {
        await container.resize({ h: rows, w: cols }).catch(() => {});
      });
      const waited = (await container.wait()) as { StatusCode: number };
      // let the last output drain; the fallback timer must not outlive the race (it would hold the process)
      let drainTimer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise((r) => (drainTimer = setTimeout(r, 2000)))]);
      clearTimeout(drainTimer);
      if (io.signal?.aborted) throw io.signal.reason;
      let committed: string | undefined;
      if (waited.StatusCode === 0 && io.commit) {
        const res = (await container.commit({ repo: io.commit.repo, tag: io.commit.tag, changes: Object.entries(io.commit.labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`) } as object)) as { Id: string };
        committed = res.Id;
      }
      return { exitCode: waited.StatusCode, committed };
    } finally {
      if (stop) io.signal?.removeEventListener('abort', stop);
      await container.remove({ force: true, v: true }).catch(() => {});
    }
  }

  async pull(ref: string, platform: string, signal?: AbortSignal): Promise<void> {
    const stream = (await this.docker.pull(ref, { platform, abortSignal: signal } as object)) as NodeJS.ReadableStream;
    let buf = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.trim()) continue;
        try {
          const m = JSON.parse(l) as { error?: string; errorDetail?: { message?: string } };
          if (m.error || m.errorDetail) throw new Error(m.errorDetail?.message ?? m.error);
        } catch (e) {
          if (e instanceof SyntaxError) continue;
          throw e;
        }
      }
    }
  }

  async tag(imageId: string, repo: string, tag: string): Promise<void> {
    await this.docker.getImage(imageId).tag({ repo, tag });
  }

  async removeImage(ref: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<void> {
    try {
      await this.docker.getImage(ref).remove({ force: opts.force ?? false, noprune: opts.noprune ?? false });
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      if (isStatus(e, 404) || isStatus(e, 409)) return; // gone, or already being removed
      throw e;
    }
  }

  async danglingImageIds(): Promise<string[]> {
    const list = await this.docker.listImages({ filters: JSON.stringify({ dangling: ['true'] }) } as Docker.ListImagesOptions);
    return list.map((i) => i.Id);
  }

  async containersFromImages(imageIds: string[]): Promise<string[]> {
    if (imageIds.length === 0) return [];
    const shorts = imageIds.map((i) => i.replace(/^sha256:/, '').slice(0, 12));
    const list = await this.docker.listContainers({ all: true });
    return list
      .filter((c) => shorts.some((s) => c.ImageID.replace(/^sha256:/, '').startsWith(s) || c.Image.startsWith(s)))
      .map((c) => c.Id);
  }

  async dataRootFree(): Promise<{ rootDir: string; free?: number }> {
    const info = (await this.docker.info()) as { DockerRootDir?: string };
    const rootDir = info.DockerRootDir ?? '/var/lib/docker';
    try {
      const s = await statfs(rootDir);
      return { rootDir, free: s.bavail * s.bsize };
    } catch {
      return { rootDir }; // remote engine or no permission: unknown
    }
  }
}

function isStatus(e: unknown, code: number): boolean {
  return typeof e === 'object' && e !== null && (e as { statusCode?: number }).statusCode === code;
}
