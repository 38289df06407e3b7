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
  /** read-only unless readOnly === false */
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
}

export interface Engine {
  /** create, attach, start, wait, (commit), and always remove a container */
  runContainer(spec: ContainerSpec, io: ContainerIO): Promise<ContainerResult>;
  readonly endpoint: string;
  ping(signal?: AbortSignal): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageDetail | undefined>;
  /** images carrying every given label (value '' = label present with any value); no os/architecture */
  findImages(labels: Record<string, string>): Promise<ImageInfo[]>;
  build(req: BuildRequest): Promise<BuildOutcome>;
  pull(ref: string, platform: string, signal?: AbortSignal): Promise<void>;
  tag(imageId: string, repo: string, tag: string): Promise<void>;
  removeImage(ref: string, opts?: { force?: boolean; noprune?: boolean }): Promise<void>;
  removeContainer(id: string): Promise<void>;
  danglingImageIds(): Promise<string[]>;
  /** containers (any state) started from one of these image ids (full or 12-char short) */
  containersFromImages(imageIds: string[]): Promise<string[]>;
  /** the engine's data root and its free space (unknown for a remote engine) */
  dataRootFree(): Promise<{ rootDir: string; free?: number }>;
}

export class BuildFailure extends Error {
  constructor(
    message: string,
    readonly outcome: Omit<BuildOutcome, 'imageId'>,
  ) {
    super(message);
  }
}
