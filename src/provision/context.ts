import { copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-fs';
import { imageFile } from '../render/dockerfile.js';
import { TREE_IGNORE } from './sources.js';

/** Pack a staged build-context directory (symlinks followed) into a tar stream for the engine. */
export function packDir(dir: string): Readable {
  const stream = tar.pack(dir, {
    dereference: true,
    ignore: (name: string) => {
      const rel = name.slice(dir.length + 1);
      return rel.startsWith('src/tree/') && TREE_IGNORE.test(rel.slice('src/tree/'.length));
    },
  }) as unknown as Readable;
  // a file that vanishes or cannot be read while packing must fail the build, not crash the process
  // before the engine call attaches: the engine sees it as `stream.errored` or its own listener
  stream.on('error', () => {});
  return stream;
}

export const PROBE_FILES = ['probe.py', 'finish.sh', 'setuptools-fix.sh', 'crosspip.sh'] as const;

export interface StageInput {
  dir: string;
  dockerfile: string;
  expectedJson: string;
  /** absent when the Dockerfile takes the source from an image (cross builds) */
  source?: { kind: 'tarball' | 'tree'; path: string; name: string };
  wheelhouse?: string;
  /** cross builds: configure's answers for the target (pydbg/config.site) */
  configSite?: string;
}

/**
 * Stage a variant build context where the user can read it:
 *   Dockerfile, src/<tarball> (or src/tree → the checkout), pydbg/{probe.py,finish.sh,expected.json},
 *   pydbg/config.site (cross builds), pydbg/wheelhouse
 */
export async function stageVariantContext(s: StageInput): Promise<void> {
  await rm(s.dir, { recursive: true, force: true });
  await mkdir(join(s.dir, 'src'), { recursive: true });
  await mkdir(join(s.dir, 'pydbg'), { recursive: true });
  await writeFile(join(s.dir, 'Dockerfile'), s.dockerfile);
  if (s.source) await symlink(s.source.path, join(s.dir, 'src', s.source.kind === 'tree' ? 'tree' : s.source.name));
  for (const f of PROBE_FILES) await copyFile(imageFile(f), join(s.dir, 'pydbg', f));
  await writeFile(join(s.dir, 'pydbg', 'expected.json'), s.expectedJson);
  if (s.configSite) await writeFile(join(s.dir, 'pydbg', 'config.site'), s.configSite);
  if (s.wheelhouse) await symlink(s.wheelhouse, join(s.dir, 'pydbg', 'wheelhouse'));
}
