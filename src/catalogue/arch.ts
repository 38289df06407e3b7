import { catalogueError } from '../errors.js';

/**
 * Architecture is a dimension of the catalogue, the cache key and the image tag from the start.
 * Only amd64 images are built today; arm64/armv7 are described here so that adding them changes
 * data, not structure.
 */
export interface ArchDef {
  name: 'amd64' | 'arm64' | 'armv7';
  platform: string; // OCI platform string for the engine
  debianArch: string; // dpkg architecture (debootstrap --arch)
  buildable: boolean;
  note: string;
}

export const ARCHES: readonly ArchDef[] = [
  { name: 'amd64', platform: 'linux/amd64', debianArch: 'amd64', buildable: true, note: 'native x86-64' },
  { name: 'arm64', platform: 'linux/arm64', debianArch: 'arm64', buildable: false, note: 'cross-built, run under QEMU (not yet available)' },
  { name: 'armv7', platform: 'linux/arm/v7', debianArch: 'armhf', buildable: false, note: 'cross-built, run under QEMU (not yet available)' },
];

const ALIASES: Record<string, ArchDef['name']> = {
  amd64: 'amd64', x86_64: 'amd64', 'x86-64': 'amd64',
  arm64: 'arm64', aarch64: 'arm64',
  armv7: 'armv7', armhf: 'armv7', 'armv7l': 'armv7', arm: 'armv7',
};

export function resolveArch(input: string | undefined): ArchDef {
  const key = (input ?? 'amd64').trim().toLowerCase();
  const name = ALIASES[key];
  if (!name) throw catalogueError(`unknown architecture '${input}'`, `use one of: ${ARCHES.map((a) => a.name).join(', ')}`);
  const def = ARCHES.find((a) => a.name === name)!;
  if (!def.buildable) {
    throw catalogueError(
      `architecture ${def.name} is not buildable yet in this pydbg version`,
      'only amd64 variants can be built today; ARM cross-builds are planned',
    );
  }
  return def;
}
