import { catalogueError, quoted } from '../errors.js';
import { closestTo } from '../suggest.js';

/**
 * Architectures pydbg builds for. amd64 is native; arm64 and armv7 are cross-compiled on the
 * x86-64 engine (a host-architecture builder stage with Debian's cross toolchains) and only *run*
 * under QEMU user emulation (binfmt_misc). The data here is what the renderer, the key and the
 * tag need; nothing else in pydbg knows about triplets.
 */
export interface ArchDef {
  name: 'amd64' | 'arm64' | 'armv7';
  platform: string; // OCI platform string for the engine
  debianArch: string; // dpkg architecture (debootstrap --arch, apt's :arch suffix)
  /** GNU triplet: configure --host, the cross compiler prefix, the multiarch directory */
  triplet: string;
  /** what `uname -m` says inside a container of this architecture */
  machine: string;
  /** binfmt_misc entry that runs this architecture's binaries on another host (qemu-user-static) */
  binfmt?: string;
  /** Debian package of the cross compiler (on an x86-64 build machine) */
  crossGcc?: string;
  /** the default QEMU CPU model (what `-cpu` / QEMU_CPU would be without a board) */
  defaultCpu?: string;
  /** packages this architecture's toolchain layer needs beyond the common list */
  aptExtra?: string[];
  note: string;
}

export const ARCHES: readonly ArchDef[] = [
  { name: 'amd64', platform: 'linux/amd64', debianArch: 'amd64', triplet: 'x86_64-linux-gnu', machine: 'x86_64', note: 'native x86-64' },
  {
    name: 'arm64', platform: 'linux/arm64', debianArch: 'arm64', triplet: 'aarch64-linux-gnu', machine: 'aarch64',
    binfmt: 'qemu-aarch64', crossGcc: 'gcc-aarch64-linux-gnu', defaultCpu: 'max',
    note: 'AArch64: cross-built on x86-64, run under qemu-aarch64',
  },
  {
    name: 'armv7', platform: 'linux/arm/v7', debianArch: 'armhf', triplet: 'arm-linux-gnueabihf', machine: 'armv7l',
    binfmt: 'qemu-arm', crossGcc: 'gcc-arm-linux-gnueabihf', defaultCpu: 'max',
    // Valgrind's 32-bit ARM unwinder needs CFI for its own malloc replacement (Debian strips it):
    // without valgrind-dbg every stack stops at malloc and no finding reaches the user's frame
    aptExtra: ['valgrind-dbg'],
    note: '32-bit ARMv7 hard-float (Debian armhf): cross-built on x86-64, run under qemu-arm',
  },
];

const ALIASES: Record<string, ArchDef['name']> = {
  amd64: 'amd64', x86_64: 'amd64', 'x86-64': 'amd64',
  arm64: 'arm64', aarch64: 'arm64',
  armv7: 'armv7', armhf: 'armv7', armv7l: 'armv7', arm: 'armv7',
};

export function resolveArch(input: string | undefined): ArchDef {
  const key = (input ?? 'amd64').trim().toLowerCase();
  const name = ALIASES[key];
  if (!name) throw catalogueError(`unknown architecture ${quoted(input)}`, `use one of: ${ARCHES.map((a) => a.name).join(', ')} (or a board: 'pydbg boards')`);
  return ARCHES.find((a) => a.name === name)!;
}

/** The architecture an image of this platform reports in its config (amd64, arm64, arm). */
export const ociArch = (a: ArchDef) => a.platform.split('/')[1]!;

/** The engine's architecture as the Engine API reports it (x86_64, aarch64, …) → our name, if known. */
export function archOfEngine(engineArch: string): ArchDef | undefined {
  const name = ALIASES[engineArch.trim().toLowerCase()];
  return name ? ARCHES.find((a) => a.name === name) : undefined;
}

/**
 * How an image for `target` is built on an engine of architecture `host`:
 *   native   — same architecture, the standard Dockerfile
 *   cross    — x86-64 builder stage with the cross toolchain, runtime stage emulated (the default)
 *   emulated — the standard Dockerfile, every step under QEMU (fallback and comparison anchor)
 */
export type BuildMode = 'native' | 'cross' | 'emulated';
export const BUILD_MODES = ['cross', 'emulated'] as const;

/**
 * How long a variant build takes, in minutes (measured on a two-core x86-64 machine; README
 * "ARM" has the numbers): the interpreter itself by build mode, and each shared layer a first
 * build also makes. Used for the estimate a run prints before building a missing image.
 */
export const BUILD_MINUTES: Readonly<Record<BuildMode, readonly [number, number]>> = { native: [2, 4], cross: [4, 8], emulated: [25, 35] };
export const LAYER_MINUTES = {
  /** the target's base + toolchain layer: x86-64 natively, an ARM one under QEMU */
  native: 3,
  emulated: 4,
  /** the cross toolchain layer on the build machine */
  xbuild: 1,
  /** the build Python of one source (cross builds) */
  buildPython: 3,
} as const;

/** CPython versions whose cross build is verified (they take --with-build-python). */
export const CROSS_MIN_VERSION = '3.11';

/** Board profiles: an architecture plus the QEMU CPU model that board has. */
export interface BoardDef {
  name: string;
  arch: ArchDef['name'];
  cpu: string;
  description: string;
}

export const BOARDS: readonly BoardDef[] = [
  { name: 'rpi3', arch: 'arm64', cpu: 'cortex-a53', description: 'Raspberry Pi 3 / Zero 2 W, 64-bit OS' },
  { name: 'rpi4', arch: 'arm64', cpu: 'cortex-a72', description: 'Raspberry Pi 4 / 400 / CM4, 64-bit OS' },
  { name: 'rpi5', arch: 'arm64', cpu: 'cortex-a76', description: 'Raspberry Pi 5, 64-bit OS' },
  { name: 'jetson-nano', arch: 'arm64', cpu: 'cortex-a57', description: 'NVIDIA Jetson Nano' },
  { name: 'graviton2', arch: 'arm64', cpu: 'neoverse-n1', description: 'AWS Graviton2 / Ampere Altra (Neoverse N1)' },
  { name: 'rpi2', arch: 'armv7', cpu: 'cortex-a7', description: 'Raspberry Pi 2, 32-bit OS' },
  { name: 'beaglebone', arch: 'armv7', cpu: 'cortex-a8', description: 'BeagleBone Black (AM335x)' },
  { name: 'odroid-xu4', arch: 'armv7', cpu: 'cortex-a15', description: 'ODROID-XU4 (Exynos 5422, big cores)' },
];

export function resolveBoard(input: string): BoardDef {
  const key = input.trim().toLowerCase();
  const b = BOARDS.find((x) => x.name === key);
  if (!b) {
    const guess = closestTo(key, BOARDS.map((x) => x.name));
    throw catalogueError(`unknown board ${quoted(input)}`, `${guess ? `did you mean '${guess}'? ` : ''}known boards: ${BOARDS.map((x) => `${x.name} (${x.arch}, ${x.cpu})`).join(', ')}`);
  }
  return b;
}

/** --arch and --board together: the board decides, and a contradicting --arch is an error. */
export function resolveTarget(o: { arch?: string; board?: string }): { arch: ArchDef; board?: BoardDef } {
  if (!o.board) return { arch: resolveArch(o.arch) };
  const board = resolveBoard(o.board);
  const arch = resolveArch(board.arch);
  if (o.arch && resolveArch(o.arch).name !== arch.name) {
    throw catalogueError(`--board ${board.name} is ${arch.name}, not ${resolveArch(o.arch).name}`, `drop --arch, or pick a ${resolveArch(o.arch).name} board ('pydbg boards')`);
  }
  return { arch, board };
}
