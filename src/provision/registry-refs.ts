/**
 * Where pydbg's images live in an OCI registry (pure). Under a prefix such as ghcr.io/acme/pydbg:
 *   base:bookworm-amd64[-ID12]            the base (its id is the root of every key)
 *   deps:bookworm-amd64-kKEY32            the toolchain layer, by its key
 *   xbuild:bookworm-amd64-kKEY32          the cross toolchain layer (cross builds)
 *   buildpython:3.13.5-SHA12-amd64-kKEY32 the build machine's Python (cross builds)
 *   cpython:3.13.5-debug-amd64            a variant, for people (the newest pushed)
 *   cpython:3.13.5-debug-amd64-kKEY32     a variant, by its content key: what pydbg pulls
 * Tags are per architecture: the classic image store holds no multi-arch index.
 */
import { ExitCode, PydbgError, quoted } from '../errors.js';

/** 32 hex digits (128 bits) of a key in a tag: tags stay short, and a pulled image's label is checked against the full key. */
const k = (key: string) => `k${key.slice(0, 32)}`;
const MAX_TAG = 128;
const SCHEME = /^[a-z]+:[/][/]/i;

export interface RegistryRefs {
  prefix: string;
  base(arch: string, id?: string): string;
  deps(arch: string, key: string): string;
  xbuild(host: string, key: string): string;
  buildPython(localTag: string, key: string): string;
  variant(localTag: string): string;
  variantByKey(localTag: string, key: string): string;
}

/**
 * Checks a --registry value (host[:port]/path, lower case, no scheme, no tag) and returns its refs.
 * A value docker would not accept as a repository prefix is a usage error, before any engine call.
 */
export function registryRefs(value: string): RegistryRefs {
  const prefix = value.replace(/\/+$/, '');
  const scheme = SCHEME.exec(prefix)?.[0];
  if (scheme) {
    throw new PydbgError(ExitCode.USAGE, `--registry ${quoted(value)}: give the repository prefix without a scheme`, { hint: `e.g. --registry ${prefix.slice(scheme.length)}` });
  }
  const [host, ...path] = prefix.split('/');
  const hostOk = /^[a-zA-Z0-9.-]+(:\d{1,5})?$/.test(host ?? '');
  const pathOk = path.every((p) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(p));
  if (!prefix || !hostOk || !pathOk || prefix.includes('@') || (path.length > 0 && path.at(-1)!.includes(':'))) {
    throw new PydbgError(ExitCode.USAGE, `--registry ${quoted(value)} is not a repository prefix`, {
      hint: 'HOST[:PORT]/PATH in lower case, e.g. ghcr.io/acme/pydbg or 127.0.0.1:5000/pydbg',
    });
  }
  const tag = (t: string, fallback: string) => (t.length <= MAX_TAG ? t : fallback);
  return {
    prefix,
    base: (arch, id) => `${prefix}/base:bookworm-${arch}${id ? `-${id.replace(/^sha256:/, '').slice(0, 12)}` : ''}`,
    deps: (arch, key) => `${prefix}/deps:bookworm-${arch}-${k(key)}`,
    xbuild: (host, key) => `${prefix}/xbuild:bookworm-${host}-${k(key)}`,
    buildPython: (localTag, key) => `${prefix}/buildpython:${tag(`${localTag}-${k(key)}`, k(key))}`,
    variant: (localTag) => `${prefix}/cpython:${localTag}`,
    variantByKey: (localTag, key) => `${prefix}/cpython:${tag(`${localTag}-${k(key)}`, k(key))}`,
  };
}

/** What went wrong talking to a registry, from the engine's words (it relays the registry's). */
export type RegistryFault = 'missing' | 'unreachable' | 'refused' | 'other';

export function classifyRegistryError(e: unknown): { fault: RegistryFault; text: string } {
  const raw = e instanceof Error ? e.message : String(e);
  // the engine's messages carry the registry's answer after a "(HTTP code N)" prefix
  const text = raw.replace(/^\(HTTP code \d+\)\s*\S+\s*-\s*/, '').split('\n')[0]!.trim();
  if (/manifest unknown|not found|no such image|does not exist/i.test(raw)) return { fault: 'missing', text };
  if (/unauthorized|authentication required|denied|forbidden|incorrect username or password|401|403/i.test(raw)) return { fault: 'refused', text };
  if (/connection refused|no such host|i\/o timeout|timeout|dial tcp|EHOSTUNREACH|ENOTFOUND|server gave HTTP response to HTTPS client|TLS handshake|x509/i.test(raw)) return { fault: 'unreachable', text };
  return { fault: 'other', text };
}
