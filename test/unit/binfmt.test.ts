import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveArch } from '../../src/catalogue/arch.js';
import { parseBinfmt, readBinfmt, registerCommand, requireEmulation } from '../../src/engine/binfmt.js';
import { ExitCode, type PydbgError } from '../../src/errors.js';

const entry = (flags: string, enabled = true) =>
  `${enabled ? 'enabled' : 'disabled'}\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: ${flags}\noffset 0\nmagic 7f454c46\nmask ffffffff\n`;

describe('binfmt_misc', () => {
  const arm64 = resolveArch('arm64');
  it('reads the state of a handler', () => {
    expect(parseBinfmt(arm64, entry('PF')).state).toBe('ok');
    expect(parseBinfmt(arm64, entry('P')).state).toBe('no-fix-binary');
    expect(parseBinfmt(arm64, entry('PF', false)).state).toBe('disabled');
    expect(parseBinfmt(arm64, undefined).state).toBe('missing');
  });
  it('refuses a foreign architecture without a usable handler, with the exact commands', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'binfmt-'));
    await writeFile(join(dir, 'register'), '');
    await writeFile(join(dir, 'qemu-aarch64'), entry('P'));
    const err = await requireEmulation(arm64, 'amd64', 'unix:///var/run/docker.sock', dir).then(() => undefined, (e: PydbgError) => e);
    expect(err?.exitCode).toBe(ExitCode.EMULATION);
    expect(err?.message).toContain('without F');
    expect(err?.hint).toContain('update-binfmts --enable qemu-aarch64');
    await writeFile(join(dir, 'qemu-aarch64'), entry('PF'));
    await expect(requireEmulation(arm64, 'amd64', 'unix:///var/run/docker.sock', dir)).resolves.toBeUndefined();
    // armv7 has no handler in this directory
    const e2 = await requireEmulation(resolveArch('armv7'), 'amd64', 'unix:///var/run/docker.sock', dir).then(() => undefined, (e: PydbgError) => e);
    expect(e2?.message).toContain('no qemu-arm handler');
  });
  it('needs nothing for the native architecture, and cannot read a remote engine\'s kernel', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'binfmt-'));
    await expect(requireEmulation(resolveArch('amd64'), 'amd64', 'unix:///var/run/docker.sock', empty)).resolves.toBeUndefined();
    await expect(requireEmulation(arm64, 'arm64', 'unix:///var/run/docker.sock', empty)).resolves.toBeUndefined();
    await expect(requireEmulation(arm64, 'amd64', 'tcp://10.0.0.2:2376', empty)).resolves.toBeUndefined();
    const notMounted = await mkdtemp(join(tmpdir(), 'binfmt-'));
    await mkdir(join(notMounted, 'x'));
    expect((await readBinfmt(arm64, notMounted)).state).toBe('not-mounted');
    expect(registerCommand(arm64)).toContain('mount -t binfmt_misc');
  });
});
