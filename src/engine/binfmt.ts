import { readdir, readFile } from 'node:fs/promises';
import { ARCHES, archOfEngine, type ArchDef } from '../catalogue/arch.js';
import { ExitCode, PydbgError } from '../errors.js';

/**
 * QEMU user emulation for foreign-architecture containers: the kernel's binfmt_misc hands ARM
 * binaries to qemu-user. Containers need the F (fix-binary) flag: the interpreter is opened when
 * the handler is registered, so it works inside a container's root filesystem. pydbg never
 * assumes it: it reads the registration and says exactly how to fix it.
 */
export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

export interface BinfmtEntry {
  arch: ArchDef['name'];
  entry: string;
  state: 'ok' | 'missing' | 'disabled' | 'no-fix-binary' | 'not-mounted';
  flags: string;
  interpreter?: string;
}

export function registerCommand(arch?: ArchDef): string {
  const entries = arch?.binfmt ? [arch.binfmt] : ARCHES.flatMap((a) => (a.binfmt ? [a.binfmt] : []));
  return [
    'apt-get install -y qemu-user-static binfmt-support',
    `mountpoint -q ${BINFMT_DIR} || mount -t binfmt_misc binfmt_misc ${BINFMT_DIR}`,
    ...entries.map((e) => `update-binfmts --enable ${e}`),
  ].join(' && ');
}

/** Parse one /proc/sys/fs/binfmt_misc/<entry> file. */
export function parseBinfmt(arch: ArchDef, text: string | undefined): BinfmtEntry {
  const entry = arch.binfmt ?? '';
  if (text === undefined) return { arch: arch.name, entry, state: 'missing', flags: '' };
  const enabled = /^enabled/m.test(text);
  const flags = /^flags:\s*(\S*)/m.exec(text)?.[1] ?? '';
  const interpreter = /^interpreter\s+(\S+)/m.exec(text)?.[1];
  const state = !enabled ? 'disabled' : flags.includes('F') ? 'ok' : 'no-fix-binary';
  return { arch: arch.name, entry, state, flags, interpreter };
}

export async function readBinfmt(arch: ArchDef, dir = BINFMT_DIR): Promise<BinfmtEntry> {
  const entries = await readdir(dir).catch(() => undefined);
  if (!entries || !entries.includes('register')) return { arch: arch.name, entry: arch.binfmt ?? '', state: 'not-mounted', flags: '' };
  return parseBinfmt(arch, await readFile(`${dir}/${arch.binfmt}`, 'utf8').catch(() => undefined));
}

export function describeBinfmt(e: BinfmtEntry): string {
  switch (e.state) {
    case 'ok': return `${e.entry}: enabled, flags '${e.flags}', interpreter ${e.interpreter ?? '?'}`;
    case 'missing': return `no ${e.entry} handler registered`;
    case 'disabled': return `${e.entry} is registered but disabled`;
    case 'no-fix-binary': return `${e.entry} has flags '${e.flags}' without F (fix-binary): containers cannot use it`;
    case 'not-mounted': return `${BINFMT_DIR} is not mounted`;
  }
}

/**
 * Before building or running a foreign-architecture image on a local engine: is emulation there?
 * (A remote engine's kernel is not ours to read; a missing handler shows there as "exec format error",
 * which the build and run paths translate into the same error.)
 */
export async function requireEmulation(arch: ArchDef, engineArch: string, endpoint: string, dir = BINFMT_DIR): Promise<void> {
  if (!arch.binfmt || archOfEngine(engineArch)?.name === arch.name) return;
  const local = endpoint.startsWith('unix://') || endpoint.startsWith('/');
  if (!local) return;
  const e = await readBinfmt(arch, dir);
  if (e.state !== 'ok') throw emulationError(arch, describeBinfmt(e));
}

export function emulationError(arch: ArchDef, why: string): PydbgError {
  return new PydbgError(ExitCode.EMULATION, `${arch.name} needs QEMU user emulation, which is not set up: ${why}`, {
    hint: `as root: ${registerCommand(arch)}   (then 'pydbg doctor' shows it)`,
  });
}

/** "exec format error" from a container or build step: the engine could not run a foreign binary. */
export function isExecFormatError(text: string): boolean {
  return /exec format error/i.test(text);
}
