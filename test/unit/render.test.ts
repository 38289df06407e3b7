import { describe, expect, it } from 'vitest';
import { render, placeholders, shQuote } from '../../src/render/template.js';
import { renderVariantDockerfile, renderDepsDockerfile, variantLabels, LABEL, loadTemplate } from '../../src/render/dockerfile.js';
import { planBuild } from '../../src/build/plan.js';
import { contentKey, stableJson } from '../../src/cache/key.js';
import { resolveArch } from '../../src/catalogue/arch.js';

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
      ['arch', 'configure_args', 'deps_image', 'finish_args', 'pydbg_version', 'python_version', 'regen_command', 'source_instruction', 'source_sha256', 'variant', 'variant_env'].sort(),
    );
  });
  it('shell quoting', () => {
    expect(shQuote('--with-pydebug')).toBe('--with-pydebug');
    expect(shQuote("-O0 -DX='a b'")).toBe(`'-O0 -DX='\\''a b'\\'''`);
  });
});

describe('Dockerfile rendering', () => {
  const plan = planBuild({ variant: 'count-allocs', python: '2.7' });
  const df = renderVariantDockerfile(plan, { kind: 'tarball', name: 'Python-2.7.18.tgz', sha256: 'f'.repeat(64) });
  it('puts the source layer before anything variant-specific (variants share it)', () => {
    const lines = df.split('\n').filter((l) => /^[A-Z]+ /.test(l));
    expect(lines[0]).toBe('FROM pydbg/deps:bookworm-amd64');
    expect(lines[1]).toBe('ADD src/Python-2.7.18.tgz /usr/src/cpython/');
    const other = renderVariantDockerfile(planBuild({ variant: 'debug', python: '2.7' }), { kind: 'tarball', name: 'Python-2.7.18.tgz', sha256: 'f'.repeat(64) });
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
  });
});

describe('cache keys', () => {
  it('are order-independent and change with any input', () => {
    expect(stableJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
    expect(contentKey({ a: 1, b: 2 })).toBe(contentKey({ b: 2, a: 1 }));
    expect(contentKey({ a: 1, b: 2 })).not.toBe(contentKey({ a: 1, b: 3 }));
  });
});
