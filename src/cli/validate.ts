/**
 * Every value a user types, validated in one place: the CLI's option table and api.ts call these,
 * so both refuse the same inputs with the same one-line message, hint and exit code (2, usage)
 * before the first engine call. Each returns the value in the form the layer below wants
 * (bytes, nano-CPUs, seconds, an env record). No heavy imports: the CLI's start-up loads this.
 */
import { quoted as show, usageError } from '../errors.js';
import { didYouMean } from '../suggest.js';
import { MAX_SECONDS } from '../timeout.js';
import { ALLOCATORS, type Allocator } from '../catalogue/allocators.js';
import { registryRefs } from '../provision/registry-refs.js';

/** Node timers overflow past 2^31-1 ms (and then fire at once): src/timeout.ts. */
export { MAX_SECONDS };

/** The engine refuses less (docker: "Minimum memory limit allowed is 6MB"). */
export const MIN_MEMORY = 6 * 1024 ** 2;
/** The engine's CPU granularity: NanoCPUs of at least 0.01 CPU. */
export const MIN_CPUS = 0.01;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `--memory 4g` → bytes. Units k, m, g, t (powers of 1024; `4gb`, `4GiB` too); a number is bytes. */
export function parseMemory(s: string | number, flag = '--memory'): number {
  let bytes: number;
  if (typeof s === 'number') bytes = s;
  else {
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(s.trim());
    if (!m) throw usageError(`${flag} must be a size such as 4g or 512m, not ${show(s)}`, 'units: k, m, g, t (powers of 1024)');
    bytes = Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  }
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY) {
    throw usageError(`${flag} must be at least 6m (the engine's minimum), not ${show(s)}`, 'e.g. 4g, 512m');
  }
  return bytes;
}

/** `--cpus 1.5` → NanoCPUs (1.5e9). */
export function parseCpus(s: string | number, flag = '--cpus'): number {
  const n = typeof s === 'number' ? s : /^\d+(\.\d+)?$|^\.\d+$/.test(s.trim()) ? Number(s) : NaN;
  if (!Number.isFinite(n) || n < MIN_CPUS || n > 1024) throw usageError(`${flag} must be a number of CPUs from 0.01 to 1024, not ${show(s)}`, `e.g. ${flag} 2 or ${flag} 0.5`);
  return Math.round(n * 1e9);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;

/** `--user UID[:GID]`: each part a number or a user/group name; nothing more. */
export function parseUser(s: string, flag = '--user'): string {
  const parts = s.split(':');
  const ok = parts.length <= 2 && parts.every((p) => /^\d+$/.test(p) || (NAME.test(p) && p.length <= 32));
  if (!ok) throw usageError(`${flag} must be USER or USER:GROUP (numbers or names), not ${show(s)}`, `e.g. ${flag} 1000:1000`);
  return s;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `-e NAME=VALUE` → [name, value]. An empty value is fine; a bare name is not (it would not be set). */
export function parseEnvPair(s: string, flag = '--env'): [string, string] {
  const i = s.indexOf('=');
  const name = i < 0 ? s : s.slice(0, i);
  if (i < 0 || !ENV_NAME.test(name)) {
    const hint = i < 0 && ENV_NAME.test(name) ? `give the value: ${flag} ${name}=VALUE (pydbg does not pass your own environment into the container)` : 'a name is letters, digits and _, not starting with a digit';
    throw usageError(`${flag} must be NAME=VALUE with a valid variable name, not ${show(s)}`, hint);
  }
  const value = s.slice(i + 1);
  if (value.includes('\0')) throw usageError(`${flag} ${name}: the value contains a NUL character`, 'a NUL cannot be passed in an environment variable');
  return [name, value];
}

/** A list of NAME=VALUE strings, or a record (api.ts), → a validated record. */
export function parseEnv(env: readonly string[] | Readonly<Record<string, string>>, flag = '--env'): Record<string, string> {
  const pairs = Array.isArray(env) ? env.map((e: string) => parseEnvPair(e, flag)) : Object.entries(env).map(([k, v]) => parseEnvPair(`${k}=${String(v)}`, flag));
  return Object.fromEntries(pairs);
}

/** `--timeout 90` → seconds (> 0; fractions allowed). */
export function parseSeconds(s: string | number, flag = '--timeout'): number {
  const n = typeof s === 'number' ? s : /^\d+(\.\d+)?$|^\.\d+$/.test(s.trim()) ? Number(s) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) {
    throw usageError(`${flag} must be a positive number of seconds (at most ${MAX_SECONDS}), not ${show(s)}`, `e.g. ${flag} 600`);
  }
  return n;
}

const AGE_UNITS: Record<string, number> = { m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** `--older-than 7d` → seconds. Units m (minutes), h, d, w; a bare number is days. */
export function parseAge(s: string, flag = '--older-than'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mhdw]?)$/i.exec(s.trim());
  const secs = m ? Number(m[1]) * AGE_UNITS[(m[2] || 'd').toLowerCase()]! : NaN;
  if (!Number.isFinite(secs) || secs <= 0) throw usageError(`${flag} must be an age such as 7d, 12h or 2w, not ${show(s)}`, 'units: m (minutes), h, d, w; a bare number is days');
  return secs;
}

/** A whole number ≥ min: --rounds, --iterations (min 1), --warmup (min 0). */
export function parseCount(s: string | number, flag: string, min = 1): number {
  const n = typeof s === 'number' ? s : /^\d+$/.test(s.trim()) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > 1e9) throw usageError(`${flag} must be a whole number ≥ ${min}, not ${show(s)}`, `e.g. ${flag} ${min + 3}`);
  return n;
}

/** `--sha256`: 64 hex digits (lower-cased). */
export function parseSha256(s: string, flag = '--sha256'): string {
  const t = s.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) throw usageError(`${flag} must be 64 hex digits (a sha256), not ${show(s)}`, 'e.g. sha256sum Python-3.13.5.tgz');
  return t.toLowerCase();
}

/** `--source-url`: an absolute http(s) URL that parses. */
export function parseSourceUrl(s: string, flag = '--source-url'): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw usageError(`${flag} is not a valid URL: ${show(s)}`, 'e.g. https://www.python.org/ftp/python/3.13.5/Python-3.13.5.tgz');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw usageError(`${flag} must be an http(s) URL, not ${show(s)}`, 'for a local tarball use --source PATH');
  return u.href;
}

/** Text that ends up in a generated Dockerfile (--configure-arg, --cflags): no control characters. */
export function parseDockerfileWord(s: string, flag: string): string {
  if (/[\x00-\x1f\x7f]/.test(s)) throw usageError(`${flag} must not contain control characters (newline, tab, …): ${show(s)}`, 'it is written into the Dockerfile: give one argument per flag');
  return s;
}

/** A file or directory argument: not empty, and not an option (`--out --json` is a mistake). */
export function parsePath(s: string, flag: string): string {
  if (s === '' || s.includes('\0')) throw usageError(`${flag} needs a path, not ${show(s)}`, `e.g. ${flag} ./some/path`);
  if (s.startsWith('-')) throw usageError(`${flag} needs a path, not the option ${show(s)}`, `give the path right after ${flag} (./${s} for a file named like an option)`);
  return s;
}

/** A name (a repro from pydbg.yaml, an image): not empty and not an option. */
export function parseName(s: string, flag: string): string {
  if (s === '' || s.startsWith('-') || /[\x00-\x1f\x7f]/.test(s)) throw usageError(`${flag} needs a name, not ${show(s)}`, `give the name right after ${flag}`);
  return s;
}

/** --registry HOST[:PORT]/PATH (checked like the registry code checks it: one rule). */
export function parseRegistry(s: string, flag: string): string {
  parseName(s, flag);
  return registryRefs(s).prefix;
}

/** An option value that must be one of `choices`. */
export function parseChoice<T extends string>(s: string, flag: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(s)) return s as T;
  throw usageError(`${flag} must be one of ${choices.join(', ')}, not ${show(s)}${didYouMean(s, choices)}`, `e.g. ${flag} ${choices[0]}`);
}

/**
 * `--json` is a switch everywhere (JSON on stdout). On run/check it used to take a FILE with
 * '-' for stdout: `--json -` still means the switch; a file name is refused with the new flag.
 */
export function parseJsonSwitch(v: string | boolean | undefined, flag = '--json'): true {
  if (v === undefined || v === true || v === '-') return true;
  throw usageError(`${flag} is a switch (JSON on stdout) and takes no file: ${show(v)}`, `to write the JSON to a file: --json-out ${String(v)}; a command goes after --`);
}

/** Kept equal to src/analyses/registry.ts ANALYSIS_NAMES (a unit test checks): parsing does not load the analyses. */
export const ANALYSIS_NAMES = ['memcheck', 'leaks', 'massif', 'pymalloc-stats', 'pymalloc-debug', 'asan', 'ubsan', 'tsan', 'rss'] as const;

/** An analysis name: `pydbg check ANALYSIS`, api.ts check(). */
export function parseAnalysis(name: string): string {
  if ((ANALYSIS_NAMES as readonly string[]).includes(name)) return name;
  throw usageError(`unknown analysis ${show(name)}${didYouMean(name, ANALYSIS_NAMES)}`, `analyses: ${ANALYSIS_NAMES.join(', ')}`);
}

export { closestTo, didYouMean, editDistance } from '../suggest.js';

/** A named run's name (`run --name`, `stacks NAME`, …): a container name, so [A-Za-z0-9][A-Za-z0-9_.-]*, at most 63 characters. */
export function parseRunName(s: string, flag: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(s)) {
    throw usageError(`${flag} must be a name of letters, digits, '_', '.' and '-' (not first), at most 63 characters, not ${show(s)}`, `e.g. ${flag === 'NAME' ? 'pydbg stacks svc' : `${flag} svc`}`);
  }
  return s;
}

/** `inject -c CODE`: any text but empty or with a NUL (it travels in an environment variable). */
export function parseCode(s: string, flag: string): string {
  if (s.trim() === '') throw usageError(`${flag} needs Python code, not an empty string`, `e.g. ${flag} 'import gc; print(len(gc.garbage))'`);
  if (s.includes('\0')) throw usageError(`${flag}: the code contains a NUL character`, 'a NUL cannot be passed to the process; write it as \\x00 in a string literal');
  return s;
}

/** The catalogue's allocators (a small pure module: cheap to load at start-up). */
export const ALLOCATOR_NAMES = ALLOCATORS;

/** `check rss --malloc LIST`: known allocators, comma-separated, none twice. */
export function parseAllocators(raw: string, flag = '--malloc'): Allocator[] {
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw usageError(`${flag} needs at least one allocator`, `e.g. ${flag} ${ALLOCATOR_NAMES.join(',')}`);
  for (const n of names) {
    if (!(ALLOCATOR_NAMES as readonly string[]).includes(n)) throw usageError(`${flag}: unknown allocator ${show(n)}${didYouMean(n, ALLOCATOR_NAMES)}`, `allocators: ${ALLOCATOR_NAMES.join(', ')}`);
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw usageError(`${flag}: ${dup} is listed twice`, `e.g. ${flag} ${ALLOCATOR_NAMES.join(',')}`);
  return names as Allocator[];
}
