import { catalogueError, quoted, sourceError, usageError } from '../errors.js';

/**
 * CPython releases pydbg knows by hash. The sha256 values are the upstream python.org tarball
 * hashes (as published by python.org and carried by pyenv's python-build definitions). Debian's
 * pool serves some of the same tarballs byte-for-byte; those are listed as mirrors.
 */
export interface Release {
  version: string; // "3.13.5"
  file: string; // upstream file name, e.g. "Python-3.13.5.tar.xz"
  sha256: string;
  urls: string[]; // tried in order; python.org first, then byte-identical mirrors
}

const PYORG = 'https://www.python.org/ftp/python';
const DEBIAN_POOL = 'http://deb.debian.org/debian/pool/main/p';

function release(version: string, ext: 'tar.xz' | 'tgz', sha256: string, debianOrig?: string): Release {
  const file = `Python-${version}.${ext}`;
  const urls = [`${PYORG}/${version}/${file}`];
  if (debianOrig) {
    const mm = version.split('.').slice(0, 2).join('.');
    urls.push(`${DEBIAN_POOL}/python${mm}/${debianOrig}`);
  }
  return { version, file, sha256, urls };
}

/** Known releases, newest first within each minor. */
export const RELEASES: readonly Release[] = [
  release('2.7.18', 'tgz', 'da3080e3b488f648a3d7a4560ddee895284c3380b11d6de75edb986526b9a814', 'python2.7_2.7.18.orig.tar.gz'),
  release('3.8.20', 'tar.xz', '6fb89a7124201c61125c0ab4cf7f6894df339a40c02833bfd28ab4d7691fafb4'),
  release('3.9.25', 'tar.xz', '00e07d7c0f2f0cc002432d1ee84d2a40dae404a99303e3f97701c10966c91834'),
  release('3.9.2', 'tar.xz', '3c2034c54f811448f516668dce09d24008a0716c3a794dd8639b5388cbde247d', 'python3.9_3.9.2.orig.tar.xz'),
  release('3.10.22', 'tar.xz', 'c61fe9b1a1a7ec2a0b0388e664187c378a5325a89e3606d220abf5bdfccb2543'),
  release('3.11.14', 'tar.xz', '8d3ed8ec5c88c1c95f5e558612a725450d2452813ddad5e58fdb1a53b1209b78'),
  release('3.11.2', 'tgz', '2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849', 'python3.11_3.11.2.orig.tar.gz'),
  release('3.12.12', 'tar.xz', 'fb85a13414b028c49ba18bbd523c2d055a30b56b18b92ce454ea2c51edc656c4'),
  release('3.13.9', 'tar.xz', 'ed5ef34cda36cfa2f3a340f07cac7e7814f91c7f3c411f6d3562323a866c5c66'),
  release('3.13.5', 'tar.xz', '93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640', 'python3.13_3.13.5.orig.tar.xz'),
  release('3.14.0', 'tar.xz', '2299dae542d395ce3883aca00d3c910307cd68e0b2f7336098c8e7b7eee9f3e9'),
  release('3.15.0', 'tar.xz', 'ba4bed1ba346b916890b76d9e320451420aa69f6408997d33c66482eeae3d575'),
];

/**
 * What a bare "major.minor" means. Where a release is served byte-for-byte by two independent
 * sources (python.org and Debian's pool) we prefer it: it can be fetched and re-verified without
 * python.org. Pass a full version (e.g. 3.13.9) for another release.
 */
export const DEFAULT_RELEASE: Record<string, string> = {
  '2.7': '2.7.18',
  '3.8': '3.8.20',
  '3.9': '3.9.2',
  '3.10': '3.10.22',
  '3.11': '3.11.2',
  '3.12': '3.12.12',
  '3.13': '3.13.5',
  '3.14': '3.14.0',
  '3.15': '3.15.0',
};

export const SUPPORTED_MINORS = Object.keys(DEFAULT_RELEASE);
/** The newest MAJOR.MINOR the catalogue knows: a newer checkout builds with its rules. */
export const NEWEST_MINOR = SUPPORTED_MINORS.at(-1)!;

export interface PyVersion {
  major: number;
  minor: number;
  micro: number;
  /** as the source says it: "3.13.5", or a checkout's full PY_VERSION, "3.13.0a1+" */
  text: string;
  /** set when the version is newer than the catalogue: the MAJOR.MINOR whose rules it is built with */
  rulesOf?: string;
}

/** MAJOR.MINOR.MICRO of a version: what the interpreter reports in sys.version_info. */
export const releaseOf = (v: Pick<PyVersion, 'major' | 'minor' | 'micro'>) => `${v.major}.${v.minor}.${v.micro}`;

const VERSION_HINT = 'use MAJOR.MINOR (e.g. 3.13) or MAJOR.MINOR.MICRO (e.g. 3.13.5)';

/** "3.13.5" → a PyVersion. Anything else is a malformed argument (exit 2). */
export function parseVersion(text: string): PyVersion {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (!m) throw usageError(`not a CPython version: ${quoted(text)}`, VERSION_HINT);
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]), text };
}

/**
 * A checkout's PY_VERSION (Include/patchlevel.h), kept whole: "3.13.0a1+", "3.14.0rc2", "3.12.4".
 * The numbers are what the interpreter reports; the text is what labels and tags show.
 */
export function parsePatchlevel(text: string): PyVersion {
  const m = /^(\d+)\.(\d+)\.(\d+)((?:a|b|rc)\d+)?(\+)?$/.exec(text.trim());
  if (!m) throw usageError(`not a CPython version: ${quoted(text)} (from Include/patchlevel.h)`, 'PY_VERSION is MAJOR.MINOR.MICRO, optionally followed by a1/b2/rc1 and +');
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]), text: text.trim() };
}

/** Compare (major, minor) of v with "3.9"-style bound: negative, 0, positive. */
export function cmpMinor(v: Pick<PyVersion, 'major' | 'minor'>, bound: string): number {
  const [bMaj, bMin] = bound.split('.').map(Number) as [number, number];
  return v.major !== bMaj ? v.major - bMaj : v.minor - bMin;
}

export function minorOf(v: Pick<PyVersion, 'major' | 'minor'>): string {
  return `${v.major}.${v.minor}`;
}

export interface ResolvedSource {
  kind: 'release';
  release: Release;
}

/**
 * Resolve what the user typed after --python. "3.13" → the default 3.13 release; "3.13.5" → that
 * release if known. An unknown full version is refused unless the caller supplies its own source
 * (URL + sha256, or a local tree/tarball), which resolveVersionOnly() serves.
 */
export function resolveRelease(spec: string): Release {
  const s = spec.trim();
  if (!/^\d+\.\d+(\.\d+)?$/.test(s)) throw usageError(`not a CPython version: ${quoted(spec)}`, VERSION_HINT);
  if (/^\d+\.\d+$/.test(s)) {
    const def = DEFAULT_RELEASE[s];
    if (!def) throw unsupportedMinor(s);
    return findRelease(def)!;
  }
  const v = parseVersion(s);
  if (!DEFAULT_RELEASE[minorOf(v)]) throw unsupportedMinor(minorOf(v));
  const r = findRelease(s);
  if (!r) {
    const known = RELEASES.filter((x) => x.version.startsWith(`${minorOf(v)}.`)).map((x) => x.version);
    // a known version, an unknown release of it: a source without a hash (exit 4, not the catalogue's 3)
    throw sourceError(
      `CPython ${s} is not in pydbg's catalogue, so there is no pinned sha256 to verify it against`,
      `use a known release (${known.join(', ')}), or pass --source-url URL --sha256 HEX, or --source PATH (a CPython checkout or tarball)`,
    );
  }
  return r;
}

/**
 * For --source/--source-url (a source that brings its own bytes): a version pydbg can build — a
 * known MAJOR.MINOR, or one newer than the catalogue, built with the newest known version's rules
 * (`rulesOf`; the plan warns). Older unknown versions are refused.
 */
export function resolveVersionOnly(spec: string | PyVersion): PyVersion {
  const v = typeof spec !== 'string' ? spec : /^\d+\.\d+$/.test(spec.trim()) ? parseVersion(`${spec.trim()}.0`) : parseVersion(spec.trim());
  if (DEFAULT_RELEASE[minorOf(v)]) return v;
  if (cmpMinor(v, NEWEST_MINOR) > 0) return { ...v, rulesOf: NEWEST_MINOR };
  throw unsupportedMinor(minorOf(v));
}

export function findRelease(version: string): Release | undefined {
  return RELEASES.find((r) => r.version === version);
}

function unsupportedMinor(mm: string) {
  return catalogueError(`CPython ${mm} is not supported`, `supported versions: ${SUPPORTED_MINORS.join(', ')}`);
}
