/**
 * The one seam to the Docker engine. Everything else in pydbg receives an Engine; only
 * docker.ts implements it with dockerode. Tests can supply a fake.
 */
import type { Readable } from 'node:stream';
import type { BuildEvent } from './buildstream.js';

export interface EngineInfo {
  serverVersion: string;
  apiVersion: string;
  os: string;
  arch: string;
  endpoint: string;
  /** how the endpoint was found (DOCKER_HOST, a docker context, a default socket) */
  via?: string;
  /** the engine's CPUs and memory in bytes (its /info: asked only with ping's `resources`) */
  ncpu?: number;
  memTotal?: number;
}

/** How a container gets the host's files: bind mounts, or copies (an engine on another machine: files.ts). */
export type FilesMode = 'mount' | 'copy';

export interface EngineFiles {
  mode: FilesMode;
  /** one line: why (`the engine at tcp://… is not this machine (…)`, `PYDBG_ENGINE_FILES=copy (…)`) */
  reason: string;
  /** the engine does not share this machine's files, as detected (whatever PYDBG_ENGINE_FILES forced) */
  remote: boolean;
  /** PYDBG_ENGINE_FILES decided */
  forced: boolean;
}

/**
 * An image as a listing describes it (findImages: one request, no inspect per image). The
 * platform is known only when inspected: inspectImage returns an ImageDetail.
 */
export interface ImageInfo {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  created: string; // ISO
  size: number;
  os?: string;
  architecture?: string;
  /** repository digests ("registry/repo@sha256:…"): where the image is known to be in a registry */
  repoDigests?: string[];
}

/** An inspected image: the platform is always known. */
export interface ImageDetail extends ImageInfo {
  os: string;
  architecture: string;
}

export interface BuildRequest {
  context: Readable;
  tag?: string;
  labels?: Record<string, string>;
  platform?: string;
  networkMode?: string;
  noCache?: boolean;
  signal?: AbortSignal;
  onEvent?: (ev: BuildEvent) => void;
}

export interface BuildOutcome {
  imageId: string;
  /** image ids the builder reported (cached or new) in step order */
  layers: string[];
  /** intermediate containers the builder started */
  containers: string[];
  /** images of earlier stages of a multi-stage build (untagged: the builder leaves them dangling) */
  stageImages?: string[];
}

export interface ContainerSpec {
  image: string;
  cmd: string[];
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  /**
   * read-only unless readOnly === false. On an engine whose files are copied (files()): copied in
   * before the start, and a writable one copied back out after the container exited on its own
   */
  mounts?: Array<{ source: string; target: string; readOnly?: boolean }>;
  networkMode?: string; // 'none' | 'host' | 'bridge'
  tty?: boolean;
  stdin?: boolean;
  memoryBytes?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  labels?: Record<string, string>;
  /** run an init process as PID 1 (signals, zombie reaping) */
  init?: boolean;
  /** allow core dumps (ulimit -c unlimited) */
  coreDumps?: boolean;
  /** the container's name (a named run: `pydbg stacks NAME` finds it); the engine refuses one in use (409) */
  name?: string;
  /** Linux capabilities to add (a named run: SYS_PTRACE, so gdb can attach from a `docker exec`) */
  capAdd?: string[];
  /** HostConfig.SecurityOpt, e.g. seccomp=unconfined (check tsan: setarch -R needs personality(ADDR_NO_RANDOMIZE)) */
  securityOpt?: string[];
}

/** A container as a listing describes it. */
export interface ContainerInfo {
  id: string;
  /** without the leading '/' */
  name: string;
  imageId: string;
  labels: Record<string, string>;
  /** 'running', 'exited', 'created', … */
  state: string;
  /** the engine's own words: 'Up 5 minutes', 'Exited (0) 3 seconds ago' */
  status: string;
  /** ISO */
  created: string;
}

/** A command run in a running container (docker exec): its output, collected, and its exit code. */
export interface ExecRequest {
  cmd: string[];
  env?: Record<string, string>;
  /** default: the container's user */
  user?: string;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ContainerIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
  signal?: AbortSignal;
  /** after a successful (exit 0) run, commit the container to this image before removing it */
  commit?: { repo: string; tag: string; labels: Record<string, string> };
  /** called once the container is running (e.g. to forward terminal resizes) */
  onStart?: (resize: (rows: number, cols: number) => Promise<void>) => void;
}

export interface ContainerResult {
  exitCode: number;
  /** id of the committed image, when commit was asked and the run succeeded */
  committed?: string;
  /** copy mode: what could not be copied back into a writable mount, one line each (`out/x: a fifo (not copied)`) */
  notes?: string[];
}

export interface Engine {
  /** create, attach, start, wait, (commit), and always remove a container */
  runContainer(spec: ContainerSpec, io: ContainerIO): Promise<ContainerResult>;
  readonly endpoint: string;
  /** `resources`: also the engine's CPUs and memory (ncpu, memTotal; one more request) */
  ping(signal?: AbortSignal, opts?: { resources?: boolean }): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageDetail | undefined>;
  /** images carrying every given label (value '' = label present with any value); no os/architecture */
  findImages(labels: Record<string, string>): Promise<ImageInfo[]>;
  build(req: BuildRequest): Promise<BuildOutcome>;
  pull(ref: string, platform: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void>;
  /** push a tag to its registry; resolves with the manifest digest the registry answered */
  push(ref: string, auth?: RegistryAuth, signal?: AbortSignal): Promise<{ digest?: string }>;
  /** what a registry holds under a tag, without pulling (GET /distribution/{ref}/json); undefined when it has no such tag */
  remoteDigest(ref: string, auth?: RegistryAuth): Promise<string | undefined>;
  tag(imageId: string, repo: string, tag: string): Promise<void>;
  removeImage(ref: string, opts?: { force?: boolean; noprune?: boolean }): Promise<void>;
  removeContainer(id: string): Promise<void>;
  danglingImageIds(): Promise<string[]>;
  /** containers (any state) started from one of these image ids (full or 12-char short) */
  containersFromImages(imageIds: string[]): Promise<string[]>;
  /** the engine's data root and its free space (unknown for a remote engine) */
  dataRootFree(): Promise<{ rootDir: string; free?: number }>;
  /**
   * create and start a container that keeps running after this call returns (`pydbg run --detach`):
   * never auto-removed, so a program that exited stays visible until removeContainer
   */
  startContainer(spec: ContainerSpec): Promise<{ id: string }>;
  /** containers (any state) carrying every given label (value '' = present with any value) */
  listContainers(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** run a command in a running container and wait for it (docker exec) */
  exec(id: string, req: ExecRequest): Promise<ExecResult>;
  /** a path in a container as a tar stream (GET /containers/{id}/archive) */
  archive(id: string, path: string): Promise<NodeJS.ReadableStream>;
  /** whether containers get the host's files by bind mounts or by copies (decided once: files.ts) */
  files(): Promise<EngineFiles>;
}

/** Credentials for one registry, as the engine takes them (X-Registry-Auth); from the user's docker config, never from pydbg's files. */
export interface RegistryAuth {
  serveraddress: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

export class BuildFailure extends Error {
  constructor(
    message: string,
    readonly outcome: Omit<BuildOutcome, 'imageId'>,
  ) {
    super(message);
  }
}
