/** What `pydbg run`/`shell`/`check` ask of the execution layer, and what it answers. */
import type { Engine } from '../engine/engine.js';
import type { Progress } from '../provision/variant.js';
import type { ExtensionBuild } from '../project/detect.js';
import type { CrashReport } from './crash.js';

/** One run in every target of a resolved project. Every value is already validated (by the CLI or api.ts). */
export interface RunRequest {
  /** the command; empty for a shell */
  argv: string[];
  shell?: boolean;
  /** build the variant image when it does not exist (the default); false: exit 13 with the command that builds it */
  buildMissing?: boolean;
  /**
   * stop after this many seconds (exit 124), per target, counted once its variant image is there:
   * building a missing image first is not limited by it
   */
  timeoutSeconds?: number;
  network?: boolean;
  rw?: boolean;
  gdb?: boolean;
  /** allow core dumps; with rw a core left in the project is analysed */
  core?: boolean;
  memoryBytes?: number;
  nanoCpus?: number;
  /** uid:gid; default: the project's owner, or 1000:1000 for a root-owned world-readable project */
  user?: string;
  /** -e NAME=VALUE, parsed */
  env?: Record<string, string>;
  /** --malloc: the C allocator preloaded into the run (glibc: none) */
  malloc?: import('../catalogue/allocators.js').Allocator;
  /** analyses: more mounts (an output directory) and environment */
  extraMounts?: Array<{ source: string; target: string; readOnly?: boolean }>;
  extraEnv?: Record<string, string>;
  /** analyses: Debian packages the run's image needs (check rss: the allocators' libraries) */
  extraPackages?: string[];
  /** analyses: the command turns ASLR off (ThreadSanitizer): the container runs without Docker's seccomp filter, which forbids it */
  aslrOff?: boolean;
  /** what to re-run under gdb when the command crashes (default: the command itself) */
  crashArgv?: string[];
  /** a named run: the container's name (and io.pydbg.name), SYS_PTRACE for `pydbg stacks/core/inject` */
  name?: string;
  /** start the named container and return at once; it runs until `pydbg stop NAME` */
  detach?: boolean;
}

export interface RunIO {
  engine: Engine;
  progress: Progress;
  signal: AbortSignal;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (b: boolean) => void };
  tty?: boolean;
}

export interface ExtensionInfo {
  kind: ExtensionBuild['kind'];
  cached: boolean;
  image: string;
  seconds: number;
}

export interface RunResult {
  command: string[];
  image: string;
  python: string;
  variant: string;
  exitCode: number;
  signal: string | null;
  durationSeconds: number;
  extension: ExtensionInfo;
  crash?: CrashReport;
  /** a named run's name */
  name?: string;
  /** --detach: the container was started and left running (exitCode 0 means it started) */
  detached?: boolean;
  containerId?: string;
}
