import { describe, expect, it } from 'vitest';
import { resolveArch } from '../../src/catalogue/arch.js';
import { DEFAULT_RELEASE, RELEASES, resolveRelease } from '../../src/catalogue/versions.js';
import { planBuild } from '../../src/build/plan.js';
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
    expect(code(() => resolveRelease('3.13.99'))).toBe(ExitCode.CATALOGUE);
    expect(code(() => resolveRelease('3.7'))).toBe(ExitCode.CATALOGUE);
    expect(code(() => resolveRelease('three'))).toBe(ExitCode.CATALOGUE);
  });
});

describe('arch', () => {
  it('amd64 builds; ARM is described but refused for now', () => {
    expect(resolveArch('x86_64').platform).toBe('linux/amd64');
    expect(code(() => resolveArch('arm64'))).toBe(ExitCode.CATALOGUE);
    expect(code(() => resolveArch('sparc'))).toBe(ExitCode.CATALOGUE);
  });
});

describe('planBuild', () => {
  it('tags carry version, variant and arch', () => {
    expect(planBuild({ variant: 'nopymalloc', python: '3.13' }).image).toBe('pydbg/cpython:3.13.5-nopymalloc-amd64');
    expect(planBuild({ variant: 'trace-refs,debug', python: '3.11.2' }).image).toBe('pydbg/cpython:3.11.2-debug_trace-refs-amd64');
  });
  it('custom flags never shadow the standard tag', () => {
    const a = planBuild({ variant: 'debug', python: '3.13', cflags: ['-DPy_REF_DEBUG'] }).image;
    expect(a).toMatch(/^pydbg\/cpython:3\.13\.5-debug-amd64-x[0-9a-f]{8}$/);
    expect(planBuild({ variant: 'debug', python: '3.13', cflags: ['-DFOO'] }).image).not.toBe(a);
  });
  it('source options are checked; a tarball\'s version is never guessed', () => {
    expect(code(() => planBuild({ variant: 'debug', python: '3.13.5', sourceUrl: 'https://x/y.tgz' }))).toBe(ExitCode.USAGE);
    expect(code(() => planBuild({ variant: 'debug', sha256: 'ab' }))).toBe(ExitCode.USAGE);
    expect(code(() => planBuild({ variant: 'debug', sourcePath: '/tmp/x.tgz' }))).toBe(ExitCode.USAGE);
    expect(code(() => planBuild({ variant: 'debug', python: '3.13', sourcePath: '/tmp/cpython-fork.tgz' }))).toBe(ExitCode.USAGE);
    expect(planBuild({ variant: 'debug', python: '3.13', sourcePath: '/tmp/Python-3.12.4.tar.xz' }).version.text).toBe('3.12.4');
    expect(code(() => planBuild({ variant: 'debug', python: '3.12.3', sourcePath: '/tmp/Python-3.12.4.tar.xz' }))).toBe(ExitCode.USAGE);
    const p = planBuild({ variant: 'debug', python: '3.12.99', sourceUrl: 'https://x/Python-3.12.99.tgz', sha256: 'A'.repeat(64) });
    expect(p.source).toEqual({ kind: 'url', url: 'https://x/Python-3.12.99.tgz', sha256: 'a'.repeat(64) });
    expect(p.version.text).toBe('3.12.99');
  });
  it('a checkout provides its own version', () => {
    const p = planBuild({ variant: 'debug', sourcePath: '/src/cpython', sourceIsDir: true, treeVersion: '3.14.0' });
    expect(p.version.text).toBe('3.14.0');
    expect(code(() => planBuild({ variant: 'debug', python: '3.13.5', sourcePath: '/src/cpython', sourceIsDir: true, treeVersion: '3.14.0' }))).toBe(ExitCode.USAGE);
  });
});
