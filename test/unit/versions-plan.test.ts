import { describe, expect, it } from 'vitest';
import { archOfEngine, BOARDS, ociArch, resolveArch, resolveBoard, resolveTarget } from '../../src/catalogue/arch.js';
import { DEFAULT_RELEASE, RELEASES, resolveRelease } from '../../src/catalogue/versions.js';
import { planVariant } from '../../src/project/plan.js';
import { ExitCode, PydbgError } from '../../src/errors.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as PydbgError).exitCode;
  }
  return 0;
};

describe('versions', () => {
  it('every release has a sha256 and a python.org URL first', () => {
    for (const r of RELEASES) {
      expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.urls[0]).toBe(`https://www.python.org/ftp/python/${r.version}/${r.file}`);
    }
  });
  it('every supported minor has a default release in the table', () => {
    for (const [mm, ver] of Object.entries(DEFAULT_RELEASE)) {
      expect(ver.startsWith(`${mm}.`)).toBe(true);
      expect(RELEASES.some((r) => r.version === ver)).toBe(true);
    }
    expect(Object.keys(DEFAULT_RELEASE)).toEqual(['2.7', '3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '3.14', '3.15']);
  });
  it('the four releases served by Debian have a byte-identical mirror', () => {
    for (const v of ['2.7.18', '3.9.2', '3.11.2', '3.13.5']) {
      expect(resolveRelease(v).urls.some((u) => u.startsWith('http://deb.debian.org/debian/pool/main/p/'))).toBe(true);
    }
  });
  it('resolves MAJOR.MINOR and refuses unknown releases without a hash', () => {
    expect(resolveRelease('3.13').version).toBe('3.13.5');
    // EXIT_CODE_DOCS: an unknown release of a known version is a source without a hash (4);
    // an unknown version the catalogue's refusal (3); a malformed one a malformed argument (2)
    expect(code(() => resolveRelease('3.13.99'))).toBe(ExitCode.SOURCE);
    expect(code(() => resolveRelease('3.7'))).toBe(ExitCode.CATALOGUE);
    expect(code(() => resolveRelease('three'))).toBe(ExitCode.USAGE);
    expect(code(() => resolveRelease('3.x'))).toBe(ExitCode.USAGE);
  });
});

describe('arch', () => {
  it('resolves names and aliases to platforms and triplets', () => {
    expect(resolveArch('x86_64').platform).toBe('linux/amd64');
    expect(resolveArch('aarch64')).toMatchObject({ name: 'arm64', platform: 'linux/arm64', triplet: 'aarch64-linux-gnu', binfmt: 'qemu-aarch64' });
    expect(resolveArch('armhf')).toMatchObject({ name: 'armv7', platform: 'linux/arm/v7', debianArch: 'armhf', triplet: 'arm-linux-gnueabihf' });
    expect(ociArch(resolveArch('armv7'))).toBe('arm');
    expect(archOfEngine('amd64')?.name).toBe('amd64');
    expect(archOfEngine('arm64')?.name).toBe('arm64');
    expect(code(() => resolveArch('sparc'))).toBe(ExitCode.CATALOGUE);
  });
  it('boards fix the architecture and CPU; unknown boards list the known ones', () => {
    expect(resolveTarget({ board: 'rpi4' })).toMatchObject({ arch: { name: 'arm64' }, board: { cpu: 'cortex-a72' } });
    expect(resolveTarget({ board: 'RPI3' }).board?.cpu).toBe('cortex-a53');
    expect(resolveTarget({ board: 'rpi2' }).arch.name).toBe('armv7');
    expect(resolveTarget({ board: 'rpi4', arch: 'aarch64' }).arch.name).toBe('arm64');
    expect(code(() => resolveTarget({ board: 'rpi4', arch: 'armv7' }))).toBe(ExitCode.CATALOGUE);
    try {
      resolveBoard('rpi9');
      expect.unreachable();
    } catch (e) {
      expect((e as PydbgError).exitCode).toBe(ExitCode.CATALOGUE);
      expect((e as PydbgError).hint).toContain('rpi4 (arm64, cortex-a72)');
    }
    // every board's CPU is one qemu-user offers for its architecture (qemu 7.2 `-cpu help`)
    const qemuCpus: Record<string, string[]> = {
      arm64: ['a64fx', 'cortex-a35', 'cortex-a53', 'cortex-a57', 'cortex-a72', 'cortex-a76', 'max', 'neoverse-n1'],
      armv7: ['cortex-a15', 'cortex-a7', 'cortex-a8', 'cortex-a9', 'max'],
    };
    for (const b of BOARDS) expect(qemuCpus[b.arch]).toContain(b.cpu);
  });
});

describe('build mode', () => {
  it('ARM is cross-built by default on 3.11+, emulated on request, refused below 3.11 with the way out', () => {
    const p = planVariant({ variant: 'debug', python: '3.13', arch: 'arm64' });
    expect(p.mode).toBe('cross');
    expect(p.image).toBe('pydbg/cpython:3.13.5-debug-arm64');
    const e = planVariant({ variant: 'debug', python: '3.13', arch: 'arm64', buildMode: 'emulated' });
    expect(e.mode).toBe('emulated');
    expect(e.image).toBe('pydbg/cpython:3.13.5-debug-arm64-emu');
    expect(e.command).toContain('--build-mode emulated');
    expect(planVariant({ variant: 'debug', python: '3.11', board: 'rpi2' })).toMatchObject({ mode: 'cross', image: 'pydbg/cpython:3.11.2-debug-armv7' });
    expect(planVariant({ variant: 'debug', python: '3.13' }).mode).toBe('native');
    try {
      planVariant({ variant: 'debug', python: '3.9', arch: 'arm64' });
      expect.unreachable();
    } catch (err) {
      expect((err as PydbgError).exitCode).toBe(ExitCode.CATALOGUE);
      expect((err as PydbgError).hint).toContain('--build-mode emulated');
    }
    expect(planVariant({ variant: 'count-allocs', python: '2.7', arch: 'armv7', buildMode: 'emulated' }).mode).toBe('emulated');
    expect(code(() => planVariant({ variant: 'debug', python: '3.13', buildMode: 'cross' }))).toBe(ExitCode.USAGE);
    expect(code(() => planVariant({ variant: 'debug', python: '3.13', arch: 'arm64', buildMode: 'fast' }))).toBe(ExitCode.USAGE);
    expect(code(() => planVariant({ variant: 'asan', python: '3.13', arch: 'arm64' }))).toBe(ExitCode.CATALOGUE);
  });
});

describe('planVariant', () => {
  it('tags carry version, variant and arch', () => {
    expect(planVariant({ variant: 'nopymalloc', python: '3.13' }).image).toBe('pydbg/cpython:3.13.5-nopymalloc-amd64');
    expect(planVariant({ variant: 'trace-refs,debug', python: '3.11.2' }).image).toBe('pydbg/cpython:3.11.2-debug_trace-refs-amd64');
  });
  it('custom flags never shadow the standard tag', () => {
    const a = planVariant({ variant: 'debug', python: '3.13', cflags: ['-DPy_REF_DEBUG'] }).image;
    expect(a).toMatch(/^pydbg\/cpython:3\.13\.5-debug-amd64-x[0-9a-f]{8}$/);
    expect(planVariant({ variant: 'debug', python: '3.13', cflags: ['-DFOO'] }).image).not.toBe(a);
  });
  it('source options are checked; a tarball\'s version is never guessed', () => {
    expect(code(() => planVariant({ variant: 'debug', python: '3.13.5', sourceUrl: 'https://x/y.tgz' }))).toBe(ExitCode.USAGE);
    expect(code(() => planVariant({ variant: 'debug', sha256: 'ab' }))).toBe(ExitCode.USAGE);
    expect(code(() => planVariant({ variant: 'debug', sourcePath: '/tmp/x.tgz' }))).toBe(ExitCode.USAGE);
    expect(code(() => planVariant({ variant: 'debug', python: '3.13', sourcePath: '/tmp/cpython-fork.tgz' }))).toBe(ExitCode.USAGE);
    expect(planVariant({ variant: 'debug', python: '3.13', sourcePath: '/tmp/Python-3.12.4.tar.xz' }).version.text).toBe('3.12.4');
    expect(code(() => planVariant({ variant: 'debug', python: '3.12.3', sourcePath: '/tmp/Python-3.12.4.tar.xz' }))).toBe(ExitCode.USAGE);
    const p = planVariant({ variant: 'debug', python: '3.12.99', sourceUrl: 'https://x/Python-3.12.99.tgz', sha256: 'A'.repeat(64) });
    expect(p.source).toEqual({ kind: 'url', url: 'https://x/Python-3.12.99.tgz', sha256: 'a'.repeat(64) });
    expect(p.version.text).toBe('3.12.99');
  });
  it('a checkout provides its own version', () => {
    const p = planVariant({ variant: 'debug', sourcePath: '/src/cpython', sourceIsDir: true, treeVersion: '3.14.0' });
    expect(p.version.text).toBe('3.14.0');
    expect(code(() => planVariant({ variant: 'debug', python: '3.13.5', sourcePath: '/src/cpython', sourceIsDir: true, treeVersion: '3.14.0' }))).toBe(ExitCode.USAGE);
  });
});
