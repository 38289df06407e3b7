/**
 * `--malloc`: the C allocator a run's processes use. glibc's is the default; the others are
 * Debian's packages, installed into the run's derived image and preloaded (LD_PRELOAD), as one
 * does by hand to tell a leak from fragmentation. Pure.
 */
import type { ArchDef } from './arch.js';

export const ALLOCATORS = ['glibc', 'jemalloc', 'tcmalloc'] as const;
export type Allocator = (typeof ALLOCATORS)[number];

const LIBS: Record<Exclude<Allocator, 'glibc'>, { pkg: string; lib: string }> = {
  jemalloc: { pkg: 'libjemalloc2', lib: 'libjemalloc.so.2' },
  tcmalloc: { pkg: 'libtcmalloc-minimal4', lib: 'libtcmalloc_minimal.so.4' },
};

/** The Debian package to install and the environment that preloads it (nothing for glibc). */
export function allocatorSetup(a: Allocator, arch: Pick<ArchDef, 'triplet'>): { packages: string[]; env: Record<string, string> } {
  if (a === 'glibc') return { packages: [], env: {} };
  const { pkg, lib } = LIBS[a];
  return { packages: [pkg], env: { LD_PRELOAD: `/usr/lib/${arch.triplet}/${lib}` } };
}
