import { describe, expect, it } from 'vitest';
import { render, placeholders, shQuote } from '../../src/render/template.js';
import { renderVariantDockerfile, renderDepsDockerfile, renderXbuildDockerfile, renderBuildPythonDockerfile, crossConfigSite, loadTemplate } from '../../src/render/dockerfile.js';
import { variantLabels, LABEL } from '../../src/container/labels.js';
import { planVariant } from '../../src/project/plan.js';
import { contentKey, stableJson } from '../../src/container/key.js';
import { ARCHES, resolveArch } from '../../src/catalogue/arch.js';

describe('strict template renderer', () => {
  it('fills placeholders', () => {
    expect(render('a {{x}} b {{ y }}', { x: '1', y: '2' })).toBe('a 1 b 2');
  });
  it('a missing value is an error', () => {
    expect(() => render('a {{x}} {{y}}', { x: '1' }, 't')).toThrow(/no value for \{\{y\}\}/);
  });
  it('an unknown value is an error', () => {
    expect(() => render('a {{x}}', { x: '1', z: '2' }, 't')).toThrow(/no placeholder for z/);
  });
  it('every shipped template renders only with exactly its placeholders', () => {
    expect(placeholders(loadTemplate('Dockerfile.variant')).sort()).toEqual(
      ['arch', 'build_note', 'configure_args', 'deps_image', 'finish_args', 'platform', 'pydbg_version', 'python_version', 'regen_command', 'source_instruction', 'source_sha256', 'variant', 'variant_env'].sort(),
    );
    expect(placeholders(loadTemplate('Dockerfile.cross'))).toEqual(expect.arrayContaining(['host_platform', 'buildpython_image', 'triplet', 'host_triplet', 'deps_image', 'pip']));
    expect(placeholders(loadTemplate('Dockerfile.buildpython')).sort()).toEqual(['host_arch', 'pydbg_version', 'python_version', 'source_instruction', 'source_sha256', 'xbuild_image']);
  });
  it('shell quoting', () => {
    expect(shQuote('--with-pydebug')).toBe('--with-pydebug');
    expect(shQuote("-O0 -DX='a b'")).toBe(`'-O0 -DX='\\''a b'\\'''`);
  });
});

describe('Dockerfile rendering', () => {
  const plan = planVariant({ variant: 'count-allocs', python: '2.7' });
  const df = renderVariantDockerfile(plan, { kind: 'tarball', name: 'Python-2.7.18.tgz', sha256: 'f'.repeat(64) });
  it('puts the source layer before anything variant-specific (variants share it)', () => {
    const lines = df.split('\n').filter((l) => /^[A-Z]+ /.test(l));
    expect(lines[0]).toBe('FROM pydbg/deps:bookworm-amd64');
    expect(lines[1]).toBe('ADD src/Python-2.7.18.tgz /usr/src/cpython/');
    const other = renderVariantDockerfile(planVariant({ variant: 'debug', python: '2.7' }), { kind: 'tarball', name: 'Python-2.7.18.tgz', sha256: 'f'.repeat(64) });
    const firstTwo = (s: string) => s.split('\n').filter((l) => /^[A-Z]+ /.test(l)).slice(0, 2);
    expect(firstTwo(other)).toEqual(firstTwo(df));
  });
  it('carries the variant flags, CFLAGS and suppression handling', () => {
    expect(df).toContain("--with-pydebug CFLAGS=-DCOUNT_ALLOCS;");
    expect(df).toContain('RUN sh /opt/pydbg/finish.sh 1 offline');
  });
  it('is readable: the regenerate command and the source hash are in the header', () => {
    expect(df).toContain('pydbg env dockerfile --variant count-allocs --python 2.7.18 --arch amd64');
    expect(df).toContain('f'.repeat(64));
  });
  it('deps layer names its base', () => {
    const d = renderDepsDockerfile(resolveArch('amd64'), { ref: 'pydbg/base:bookworm-amd64', origin: 'bootstrapped', upstream: 'debian:bookworm-slim' });
    expect(d).toContain('FROM pydbg/base:bookworm-amd64');
    expect(d).toContain('valgrind');
    expect(d).toContain('python3-setuptools-whl');
  });
  it('labels carry the full provenance', () => {
    const labels = variantLabels({ plan, key: 'k', base: { ref: 'b', id: 'sha256:b', origin: 'pulled', upstream: 'debian:bookworm-slim' }, depsId: 'sha256:d', sourceSha256: 's', sourceOrigin: 'u' });
    expect(labels[LABEL.python]).toBe('2.7.18');
    expect(JSON.parse(labels[LABEL.cflags]!)).toEqual(['-DCOUNT_ALLOCS']);
    expect(JSON.parse(labels[LABEL.verified]!)).toMatchObject({ count_allocs: true, py_debug: true });
    expect(labels[LABEL.baseImage]).toBe('sha256:b');
    expect(labels[LABEL.key]).toBe('k');
    // the OCI annotations registries show: no source URL for a local source, no time unless given
    expect(labels['org.opencontainers.image.revision']).toBe('sha256:s');
    expect(labels['org.opencontainers.image.version']).toBe('2.7.18');
    expect(labels['org.opencontainers.image.source']).toBeUndefined();
    const dl = variantLabels({ plan, key: 'k', base: { ref: 'b', id: 'sha256:b', origin: 'pulled', upstream: 'debian:bookworm-slim' }, depsId: 'sha256:d', sourceSha256: 's', sourceOrigin: 'https://deb.debian.org/x.tar.xz', created: '2026-11-22T13:00:00.000Z' });
    expect(dl['org.opencontainers.image.source']).toBe('https://deb.debian.org/x.tar.xz');
    expect(dl['org.opencontainers.image.created']).toBe('2026-11-22T13:00:00.000Z');
  });
});

describe('cache keys', () => {
  it('are order-independent and change with any input', () => {
    expect(stableJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
    expect(contentKey({ a: 1, b: 2 })).toBe(contentKey({ b: 2, a: 1 }));
    expect(contentKey({ a: 1, b: 2 })).not.toBe(contentKey({ a: 1, b: 3 }));
  });
});

describe('cross builds (ARM)', () => {
  const src = { kind: 'tarball' as const, name: 'Python-3.13.5.tar.xz', sha256: 'a'.repeat(64) };
  const plan = planVariant({ variant: 'debug', python: '3.13', arch: 'arm64' });
  const df = renderVariantDockerfile(plan, src);
  const from = df.split('\n').filter((l) => l.startsWith('FROM '));
  it('builds on the host architecture and runs the result on the target', () => {
    expect(from).toEqual([`FROM --platform=linux/amd64 pydbg/buildpython:3.13.5-${'a'.repeat(12)}-amd64 AS cross`, 'FROM pydbg/deps:bookworm-arm64']);
    expect(df).toContain('--host=aarch64-linux-gnu --build=x86_64-linux-gnu');
    expect(df).toContain('--with-build-python=/opt/pydbg/buildpython/python');
    expect(df).toContain('--with-computed-gotos --with-pydebug');
    expect(df).toContain('CONFIG_SITE=/opt/pydbg/config.site PKG_CONFIG=aarch64-linux-gnu-pkg-config');
    expect(df).toContain('COPY --from=cross /opt/python/ /opt/python/');
    // pip, setuptools and wheel: installed at native speed in stage 1, not by ensurepip under QEMU
    expect(df).toContain('RUN sh /opt/pydbg/crosspip.sh offline');
    expect(df).not.toContain('ensurepip --default-pip');
    expect(df).toContain('RUN sh /opt/pydbg/finish.sh 1 offline present');
  });
  it('one build Python image per source, shared by every variant and target', () => {
    const armv7 = renderVariantDockerfile(planVariant({ variant: 'nopymalloc', python: '3.13', arch: 'armv7' }), src);
    const firstFrom = (s: string) => s.split('\n').find((l) => l.startsWith('FROM --platform'));
    expect(firstFrom(armv7)).toBe(firstFrom(df));
    const bp = renderBuildPythonDockerfile(resolveArch('amd64'), plan.version, src);
    expect(bp).toContain('FROM pydbg/xbuild:bookworm-amd64');
    expect(bp).toContain('ADD src/Python-3.13.5.tar.xz /usr/src/cpython/');
    expect(bp).toContain('--prefix=/opt/pydbg/buildpython/install --without-ensurepip');
    expect(bp).not.toMatch(/pydebug|PYDBG_VARIANT|aarch64/);
    expect(armv7).toContain('--host=arm-linux-gnueabihf');
    expect(armv7).toContain('FROM pydbg/deps:bookworm-armv7');
  });
  it('emulated mode is the native Dockerfile on the target toolchain layer', () => {
    const e = renderVariantDockerfile(planVariant({ variant: 'debug', python: '3.13', arch: 'arm64', buildMode: 'emulated' }), src);
    expect(e).toContain('FROM pydbg/deps:bookworm-arm64');
    expect(e).not.toContain('--host=');
    expect(e).toContain('every step runs under QEMU');
  });
  it('config.site answers what configure cannot run on the build machine', () => {
    const site = crossConfigSite({ major: 3, minor: 13 }, resolveArch('arm64'));
    for (const a of ['ac_cv_buggy_getaddrinfo=no', 'ac_cv_file__dev_ptmx=yes', 'ac_cv_file__dev_ptc=no', 'ac_cv_aligned_required=no', 'ac_cv_working_tzset=yes', 'ac_cv_broken_sem_getvalue=no', 'ac_cv_computed_gotos=yes']) {
      expect(site.split('\n')).toContain(a);
    }
    expect(site).not.toContain('little_endian_double');
    expect(crossConfigSite({ major: 2, minor: 7 }, resolveArch('armv7'))).toContain('ac_cv_little_endian_double=yes');
  });
  it('the cross layer installs both toolchains and the targets\' -dev libraries', () => {
    const x = renderXbuildDockerfile(resolveArch('amd64'), ARCHES.filter((a) => a.crossGcc));
    expect(x).toContain('FROM pydbg/deps:bookworm-amd64');
    expect(x).toContain('dpkg --add-architecture arm64');
    expect(x).toContain('dpkg --add-architecture armhf');
    expect(x).toContain('gcc-aarch64-linux-gnu');
    expect(x).toContain('libssl-dev:armhf');
    expect(x).toContain('libffi-dev:arm64');
    expect(x).toContain('for t in aarch64-linux-gnu arm-linux-gnueabihf');
  });
  it('labels say how it was built', () => {
    const labels = variantLabels({ plan, key: 'k', base: { ref: 'b', id: 'sha256:b', origin: 'bootstrapped', upstream: 'debian:bookworm-slim' }, depsId: 'sha256:d', xbuildId: 'sha256:x', sourceSha256: 's', sourceOrigin: 'u' });
    expect(labels[LABEL.buildMode]).toBe('cross (on amd64)');
    expect(labels[LABEL.xbuildImage]).toBe('sha256:x');
    expect(labels[LABEL.platform]).toBe('linux/arm64');
  });
});
