import { catalogueError, quoted } from '../errors.js';
import { closestTo } from '../suggest.js';
import { checkConfigureArgs } from './configure.js';
import { cmpMinor, minorOf, releaseOf, type PyVersion } from './versions.js';

/**
 * The variant catalogue: CPython's debug-build flag history, encoded as data plus rules.
 * Pure: no Docker, no I/O. Checked against the 2.7.18, 3.9.2, 3.11.2 and 3.13.5 sources.
 * (Over 300 lines on purpose: the table and the rules that combine its rows are read together;
 * split, a version rule would sit apart from the flags it constrains.)
 */
export const VARIANT_NAMES = [
  'release',
  'debug',
  'trace-refs',
  'count-allocs',
  'pymalloc-debug',
  'nopymalloc',
  'asan',
  'ubsan',
  'tsan',
  'freethreaded',
] as const;
export type VariantName = (typeof VARIANT_NAMES)[number];

export interface VariantDef {
  name: VariantName;
  /** what it builds, in CPython's terms */
  builds: string;
  /** what a C-extension author uses it for */
  purpose: string;
  minVersion?: string; // inclusive "major.minor"
  maxVersion?: string; // inclusive "major.minor"
  /** why the range is what it is (shown when refusing) */
  rangeReason?: string;
}

export const VARIANTS: readonly VariantDef[] = [
  {
    name: 'release',
    builds: 'plain build with debug symbols (-g)',
    purpose: 'baseline; Valgrind-usable with PYTHONMALLOC=malloc on 3.6+',
  },
  {
    name: 'debug',
    builds: '--with-pydebug (Py_DEBUG, implies Py_REF_DEBUG; abiflag d on 3.8+)',
    purpose: 'assertions, sys.gettotalrefcount(), debug memory hooks',
  },
  {
    name: 'trace-refs',
    builds: 'Py_TRACE_REFS: implied by Py_DEBUG up to 3.7; --with-pydebug --with-trace-refs from 3.8',
    purpose: 'sys.getobjects(): every live object; ABI-incompatible with release extensions on 2.7-3.12',
  },
  {
    name: 'count-allocs',
    builds: '--with-pydebug, CFLAGS -DCOUNT_ALLOCS',
    purpose: 'sys.getcounts(): allocations per type',
    maxVersion: '3.8',
    rangeReason: 'COUNT_ALLOCS was removed in CPython 3.9 (bpo-39489)',
  },
  {
    name: 'pymalloc-debug',
    builds: 'pymalloc with its debug hooks: CFLAGS -DPYMALLOC_DEBUG on 2.7; PYTHONMALLOC=pymalloc_debug on 3.x',
    purpose: 'catches writes past a block, use after free of Python objects (0xDD fill)',
  },
  {
    name: 'nopymalloc',
    builds: '--with-pydebug --without-pymalloc --with-valgrind',
    purpose: 'the classic Valgrind build: every allocation goes through malloc',
  },
  {
    name: 'asan',
    builds: '--with-address-sanitizer (forces pymalloc off)',
    purpose: 'AddressSanitizer: out-of-bounds and use-after-free at the faulting line',
    minVersion: '3.6',
    rangeReason: 'configure gained --with-address-sanitizer in 3.6',
  },
  {
    name: 'ubsan',
    builds: '--with-undefined-behavior-sanitizer',
    purpose: 'UndefinedBehaviorSanitizer: overflow, misaligned access, bad shifts',
    minVersion: '3.6',
    rangeReason: 'configure gained --with-undefined-behavior-sanitizer in 3.6',
  },
  {
    name: 'tsan',
    builds: '--with-thread-sanitizer (CPython\'s own TSan suppressions in TSAN_OPTIONS)',
    purpose: 'ThreadSanitizer: data races between threads, both stacks (with freethreaded: races the GIL hid)',
    minVersion: '3.13',
    rangeReason: 'configure gained --with-thread-sanitizer in 3.13',
  },
  {
    name: 'freethreaded',
    builds: '--disable-gil (abiflag t; mimalloc allocator, PYTHONMALLOC=malloc is rejected)',
    purpose: 'the free-threaded build (PEP 703)',
    minVersion: '3.13',
    rangeReason: 'the free-threaded build (--disable-gil) exists from CPython 3.13',
  },
];

/** Where a tsan image keeps CPython's ThreadSanitizer suppressions for this source. */
export const TSAN_SUPPRESSIONS = '/opt/pydbg/tsan-suppressions.txt';

/** Pairs that cannot be combined, with the reason shown to the user. */
const CONFLICTS: ReadonlyArray<[VariantName, VariantName, string]> = [
  ['nopymalloc', 'pymalloc-debug', 'nopymalloc turns pymalloc off, pymalloc-debug needs it on'],
  ['nopymalloc', 'asan', 'AddressSanitizer and Valgrind cannot run together; pick one'],
  ['nopymalloc', 'freethreaded', 'the free-threaded build always uses mimalloc; it has no --without-pymalloc Valgrind mode'],
  ['pymalloc-debug', 'freethreaded', 'the free-threaded build uses mimalloc, not pymalloc'],
  ['pymalloc-debug', 'asan', '--with-address-sanitizer forces pymalloc off'],
  ['trace-refs', 'freethreaded', "configure refuses --with-trace-refs with --disable-gil"],
  ['asan', 'tsan', 'one sanitizer runtime per process: AddressSanitizer and ThreadSanitizer cannot be linked together'],
  ['nopymalloc', 'tsan', 'ThreadSanitizer and Valgrind cannot run together; pick one'],
];

/** Properties the probe proves inside the image. null = not applicable to this version. */
export interface ExpectedProps {
  version: string;
  py_debug: boolean;
  ref_debug: boolean; // sys.gettotalrefcount exists
  trace_refs: boolean; // sys.getobjects exists
  count_allocs: boolean; // sys.getcounts exists
  with_pymalloc: boolean;
  with_valgrind: boolean;
  gil_disabled: boolean;
  abiflags: string | null;
  allocator: string | null;
  mem_debug_hooks: boolean; // forbidden bytes around PyObject_Malloc blocks
  asan: boolean;
  ubsan: boolean;
  tsan: boolean;
  /** python-gdb.py auto-loads and py-bt names the Python function. Asserted on Py_DEBUG (-Og)
   *  builds; on optimised builds it depends on what the optimiser kept, so it is measured, not promised. */
  gdb_py_bt: boolean | null;
  ext_build: boolean; // a C extension builds with setuptools (build_ext), offline, and imports
  /** `pip install .` of that extension (PEP 517, offline) works and imports. Not asserted for the
   *  free-threaded build with offline wheels: Debian's wheel 0.38 cannot tag cp313t wheels. */
  pip_install: boolean | null;
  /** sys.hash_info.algorithm: SipHash unless the build degraded to FNV (a cross build without the
   *  aligned-access answer does) */
  hash_algorithm: string | null;
  tzset: boolean; // time.tzset exists (missing when configure could not prove it works)
  computed_gotos: boolean; // HAVE_COMPUTED_GOTOS: the eval loop's jump table
  /** stdlib C modules that do not import; on 2.7, _hashlib cannot build against OpenSSL 3 */
  missing_modules: string[];
  /** Valgrind accepts /opt/pydbg/valgrind-python.supp */
  valgrind_suppressions: boolean;
  /** Valgrind's stacks reach past malloc to the caller's file:line */
  valgrind_stacks: boolean;
}

export interface VariantSpec {
  variants: VariantName[]; // canonical order
  slug: string; // for tags: "debug_trace-refs"
  configureArgs: string[];
  cflags: string[];
  env: Record<string, string>;
  expected: ExpectedProps;
  /** uncomment the "###" PyObject_Free/Realloc blocks of Misc/valgrind-python.supp */
  uncommentSuppressions: boolean;
  notes: string[];
}

export interface UserBuildExtras {
  configureArgs?: string[];
  cflags?: string[];
  /** setuptools/wheel from the package index (newer than Debian's offline wheels) */
  pypi?: boolean;
}

export function parseVariantList(input: string | string[]): VariantName[] {
  const raw = (Array.isArray(input) ? input : [input])
    .flatMap((s) => s.split(/[,+]/))
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (raw.length === 0) throw catalogueError('no variant given', `choose from: ${VARIANT_NAMES.join(', ')}`);
  const out: VariantName[] = [];
  for (const r of raw) {
    const name = normaliseAlias(r);
    if (!(VARIANT_NAMES as readonly string[]).includes(name)) {
      const guess = closestTo(name, VARIANT_NAMES);
      throw catalogueError(`unknown variant ${quoted(r)}`, `${guess ? `did you mean '${guess}'? ` : ''}variants: ${VARIANT_NAMES.join(', ')} (see 'pydbg variants')`);
    }
    if (!out.includes(name as VariantName)) out.push(name as VariantName);
  }
  return VARIANT_NAMES.filter((n) => out.includes(n));
}

function normaliseAlias(s: string): string {
  const aliases: Record<string, string> = {
    pydebug: 'debug',
    'py_debug': 'debug',
    tracerefs: 'trace-refs',
    'py_trace_refs': 'trace-refs',
    countallocs: 'count-allocs',
    'count_allocs': 'count-allocs',
    'no-pymalloc': 'nopymalloc',
    valgrind: 'nopymalloc',
    'pymalloc_debug': 'pymalloc-debug',
    'free-threaded': 'freethreaded',
    nogil: 'freethreaded',
    'address-sanitizer': 'asan',
    'undefined-behavior-sanitizer': 'ubsan',
    'thread-sanitizer': 'tsan',
  };
  return aliases[s] ?? s;
}

export function variantDef(name: VariantName): VariantDef {
  return VARIANTS.find((v) => v.name === name)!;
}

export function isAvailable(def: VariantDef, v: Pick<PyVersion, 'major' | 'minor'>): boolean {
  if (def.minVersion && cmpMinor(v, def.minVersion) < 0) return false;
  if (def.maxVersion && cmpMinor(v, def.maxVersion) > 0) return false;
  return true;
}

export function rangeText(def: VariantDef): string {
  if (def.minVersion && def.maxVersion) return `${def.minVersion}–${def.maxVersion}`;
  if (def.minVersion) return `${def.minVersion}+`;
  if (def.maxVersion) return `≤${def.maxVersion}`;
  return 'all';
}

/** Turn a variant combination into configure args, CFLAGS, environment and expected properties. */
export function resolveVariant(names: VariantName[], version: PyVersion, extras: UserBuildExtras = {}): VariantSpec {
  const set = new Set(names);
  const has = (n: VariantName) => set.has(n);

  if (has('release') && set.size > 1) {
    const others = names.filter((n) => n !== 'release').join(',');
    throw catalogueError(`'release' cannot be combined with '${others}'`, `'release' means no debug options; use '${others}' alone`);
  }
  for (const n of names) {
    const def = variantDef(n);
    if (!isAvailable(def, version)) {
      throw catalogueError(
        `variant '${n}' does not exist for CPython ${minorOf(version)}: ${def.rangeReason ?? 'out of range'}`,
        `'${n}' is available for CPython ${rangeText(def)} (e.g. --python ${def.maxVersion ?? def.minVersion})`,
      );
    }
  }
  for (const [a, b, why] of CONFLICTS) {
    if (has(a) && has(b)) throw catalogueError(`variants '${a}' and '${b}' contradict each other: ${why}`, 'build them as two separate variants');
  }

  const py3 = version.major >= 3;
  const atLeast = (mm: string) => cmpMinor(version, mm) >= 0;
  const pydebug = has('debug') || has('trace-refs') || has('count-allocs') || has('nopymalloc');
  const configureArgs: string[] = [];
  const cflags: string[] = [];
  const env: Record<string, string> = {};
  const notes: string[] = [];

  if (pydebug) configureArgs.push('--with-pydebug');
  if (has('trace-refs')) {
    if (atLeast('3.8')) configureArgs.push('--with-trace-refs');
    else notes.push(`Py_TRACE_REFS is implied by Py_DEBUG on ${minorOf(version)}`);
    if (!atLeast('3.13')) notes.push(`trace-refs is ABI-incompatible with release-build extensions on ${minorOf(version)}: rebuild extensions for it`);
  }
  if (has('count-allocs')) cflags.push('-DCOUNT_ALLOCS');
  if (has('nopymalloc')) configureArgs.push('--without-pymalloc', '--with-valgrind');
  if (has('asan')) configureArgs.push('--with-address-sanitizer');
  if (has('ubsan')) configureArgs.push('--with-undefined-behavior-sanitizer');
  if (has('tsan')) configureArgs.push('--with-thread-sanitizer');
  if (has('freethreaded')) configureArgs.push('--disable-gil');

  const pymallocOn = !has('nopymalloc') && !has('asan');
  if (has('pymalloc-debug')) {
    if (py3) env.PYTHONMALLOC = 'pymalloc_debug';
    else if (!pydebug) cflags.push('-DPYMALLOC_DEBUG');
  }
  if (has('asan')) {
    // Leak detection at exit would fail every interpreter run (pip, the probe); analyses turn it on.
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
  if (has('ubsan')) env.UBSAN_OPTIONS = 'print_stacktrace=1';
  if (has('tsan')) {
    // CPython's own suppressions (Tools/tsan, copied before configure: make runs the new
    // interpreter), and no exit status 66 for a report in ordinary runs (pip, the probe); the
    // check turns reports into findings. The template also keeps make install's compileall to the
    // top level of Lib (-l) and byte-compiles the packages at optimisation level 0 only, without the
    // tests: under TSan, compileall alone took 5 of the 11 minutes on two cores.
    env.PYDBG_TSAN_SUPPRESSIONS = has('freethreaded') ? 'suppressions_free_threading.txt' : 'suppressions.txt';
    env.TSAN_OPTIONS = `suppressions=${TSAN_SUPPRESSIONS} exitcode=0`;
  }

  let allocator: string | null = null;
  if (atLeast('3.9')) {
    if (has('freethreaded')) allocator = pydebug ? 'mimalloc_debug' : 'mimalloc';
    else if (env.PYTHONMALLOC) allocator = env.PYTHONMALLOC;
    else if (pymallocOn) allocator = pydebug ? 'pymalloc_debug' : 'pymalloc';
    else allocator = pydebug ? 'malloc_debug' : 'malloc';
  }
  // 3.6+: the debug hooks wrap whichever allocator is in use; 2.7: PYMALLOC_DEBUG needs pymalloc.
  let memDebugHooks: boolean;
  if (allocator !== null) memDebugHooks = allocator.endsWith('_debug');
  else if (py3) memDebugHooks = pydebug || has('pymalloc-debug');
  else memDebugHooks = pymallocOn && (pydebug || has('pymalloc-debug'));

  const expected: ExpectedProps = {
    version: releaseOf(version),
    py_debug: pydebug,
    ref_debug: pydebug,
    trace_refs: has('trace-refs') || (pydebug && !atLeast('3.8')),
    count_allocs: has('count-allocs'),
    with_pymalloc: pymallocOn,
    with_valgrind: has('nopymalloc'),
    gil_disabled: has('freethreaded'),
    abiflags: py3 ? `${has('freethreaded') ? 't' : ''}${pydebug ? 'd' : ''}` : null,
    allocator,
    mem_debug_hooks: memDebugHooks,
    asan: has('asan'),
    ubsan: has('ubsan'),
    tsan: has('tsan'),
    gdb_py_bt: pydebug ? true : null,
    ext_build: true,
    pip_install: has('freethreaded') && !extras.pypi ? null : true,
    hash_algorithm: atLeast('3.11') ? 'siphash13' : py3 ? 'siphash24' : null,
    tzset: true,
    computed_gotos: true,
    missing_modules: py3 ? [] : ['_hashlib'],
    valgrind_suppressions: true,
    valgrind_stacks: true,
  };

  const userArgs = extras.configureArgs ?? [];
  const userCflags = extras.cflags ?? [];
  checkConfigureArgs(userArgs, names, expected);
  if (userArgs.length || userCflags.length) notes.push('user configure args / CFLAGS are recorded in the image labels');

  return {
    variants: names,
    slug: names.join('_'),
    configureArgs: [...configureArgs, ...userArgs],
    cflags: [...cflags, ...userCflags],
    env,
    expected,
    uncommentSuppressions: !py3 || (pymallocOn && !has('freethreaded')),
    notes,
  };
}
