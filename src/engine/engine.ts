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
  rootDir: string;
  endpoint: string;
}

export interface ImageInfo {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  created: string; // ISO
  size: number;
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
}

export interface Engine {
  readonly endpoint: string;
  ping(signal?: AbortSignal): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  /** images carrying every given label (value '' = label present with any value) */
  findImages(labels: Record<string, string>): Promise<ImageInfo[]>;
  build(req: BuildRequest): Promise<BuildOutcome>;
  pull(ref: string, platform: string, signal?: AbortSignal): Promise<void>;
  tag(imageId: string, repo: string, tag: string): Promise<void>;
  removeImage(ref: string, opts?: { force?: boolean; noprune?: boolean }): Promise<void>;
  removeContainer(id: string): Promise<void>;
  danglingImageIds(): Promise<string[]>;
  /** containers (any state) started from one of these image ids (full or 12-char short) */
  containersFromImages(imageIds: string[]): Promise<string[]>;
  /** containers carrying a label, for cleanup checks */
  containersWithLabel(label: string): Promise<string[]>;
  dataRootFree(): Promise<number | undefined>;
}

export class BuildFailure extends Error {
  constructor(
    message: string,
    readonly outcome: Omit<BuildOutcome, 'imageId'>,
  ) {
    super(message);
  }
}
