/** Image references (repository:tag) for every kind of pydbg image, and the short names users type. Pure. */
import type { ArchDef } from '../catalogue/arch.js';
import type { PyVersion } from '../catalogue/versions.js';

export const IMAGE_REPO = 'pydbg/cpython';
export const EXT_REPO = 'pydbg/ext';
export const RUNTIME_REPO = 'pydbg/runtime';
export const BASE_UPSTREAM = 'debian:bookworm-slim';

export const baseRef = (arch: ArchDef) => `pydbg/base:bookworm-${arch.name}`;
export const depsRef = (arch: ArchDef) => `pydbg/deps:bookworm-${arch.name}`;
/** the cross-compilation layer on the build machine's architecture (one for every ARM target) */
export const xbuildRef = (host: ArchDef) => `pydbg/xbuild:bookworm-${host.name}`;
/**
 * A version as a tag may spell it ([A-Za-z0-9_.-]): a checkout's "3.13.0a1+" is "3.13.0a1plus";
 * anything else outside the set becomes '_'.
 */
export const tagVersion = (text: string) => text.replace(/\+/g, 'plus').replace(/[^A-Za-z0-9_.-]/g, '_');
const buildPythonTag = (host: ArchDef, version: Pick<PyVersion, 'text'>, sourceSha256: string) =>
  `${tagVersion(version.text)}-${sourceSha256.slice(0, 12)}-${host.name}`;
/** the build machine's CPython of one source (cross builds: --with-build-python), e.g. pydbg/buildpython:3.13.5-93e583f24345-amd64 */
export const buildPythonRef = (host: ArchDef, version: Pick<PyVersion, 'text'>, sourceSha256: string) =>
  `pydbg/buildpython:${buildPythonTag(host, version, sourceSha256)}`;
/** where the build Python image's context is staged (under the builds directory) */
export const buildPythonDir = (host: ArchDef, version: Pick<PyVersion, 'text'>, sourceSha256: string) =>
  `buildpython-${buildPythonTag(host, version, sourceSha256)}`;

/** A variant image's tag: VERSION-VARIANTS-ARCH, '-emu' for an emulated ARM build, '-xHASH' for custom inputs. */
export function variantTag(p: { version: string; slug: string; arch: string; emulated: boolean; suffix: string }): string {
  return `${tagVersion(p.version)}-${p.slug}-${p.arch}${p.emulated ? '-emu' : ''}${p.suffix}`;
}
export const variantRef = (tag: string) => `${IMAGE_REPO}:${tag}`;
/** Content-keyed caches (runtime packages, extension builds) are tagged by the key's prefix. */
export const keyedRef = (repo: string, key: string) => `${repo}:${key.slice(0, 16)}`;

/**
 * What `env inspect`/`env rm` accept: a tag or id as is, or the short VERSION-VARIANT[-ARCH][-emu][-xHASH]
 * (amd64 when no architecture is named) → pydbg/cpython:….
 */
export function userImageRef(s: string): string {
  if (s.includes(':') || s.includes('/') || /^(sha256:)?[0-9a-f]{12,64}$/.test(s)) return s;
  const m = /^(.*?)(?:-(amd64|arm64|armv7))?(-emu)?(-x[0-9a-f]{8})?$/.exec(s)!;
  return variantRef(`${m[1]!.replace(/\+/g, 'plus')}-${m[2] ?? 'amd64'}${m[3] ?? ''}${m[4] ?? ''}`);
}

export function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return [ref.slice(0, i), ref.slice(i + 1)];
}
