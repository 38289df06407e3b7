/**
 * The integration suite's images: one per purpose, built once, in this order, by the global setup
 * (test/setup/images.ts) before any integration file runs. Test files never build these; they ask
 * for them with requireImages() (test/integration/helpers.ts) and fail clearly if one is missing.
 *
 * Budget on a fresh two-core machine: base + toolchain layer ~3 min (paid by the first image),
 * each x86 variant 2–4 min, each ARM cross build 4–8 min (plus the shared cross toolchain and build
 * Python on the first). Adding an image here costs that much on every fresh CI machine.
 */
export interface SuiteImage {
  /** what test files ask for */
  id: SuiteImageId;
  /** `pydbg env build` arguments */
  args: readonly string[];
  /** which tests use it (shown by the global setup) */
  purpose: string;
}

export const SUITE_IMAGE_IDS = ['debug-3.13', 'trace-refs-3.13', 'nopymalloc-3.11', 'count-allocs-2.7', 'debug-2.7', 'asan-3.13', 'ubsan-3.13', 'freethreaded-3.13', 'tsan-freethreaded-3.13', 'arm64-debug-3.13', 'armv7-nopymalloc-3.13'] as const;
export type SuiteImageId = (typeof SUITE_IMAGE_IDS)[number];

export const SUITE_IMAGES: readonly SuiteImage[] = [
  { id: 'debug-3.13', args: ['--variant', 'debug', '--python', '3.13'], purpose: 'run on the examples and real-project layouts; check memcheck (PYTHONMALLOC=malloc), leaks (attribution), pymalloc-debug, pymalloc-stats, massif; reports; live programs; the npm-pack install' },
  { id: 'trace-refs-3.13', args: ['--variant', 'debug,trace-refs', '--python', '3.13'], purpose: "check leaks' trace-refs follow-up: naming a leaked str the gc cannot count" },
  { id: 'nopymalloc-3.11', args: ['--variant', 'nopymalloc', '--python', '3.11'], purpose: 'the Valgrind build: check memcheck/leaks/pymalloc-debug on 3.11, Valgrind under run, env build verification and warm rebuild' },
  { id: 'count-allocs-2.7', args: ['--variant', 'count-allocs', '--python', '2.7'], purpose: 'check leaks with sys.getcounts; 2.7 verification (count-allocs, trace refs, suppressions)' },
  { id: 'debug-2.7', args: ['--variant', 'debug', '--python', '2.7'], purpose: 'the check matrix (2.7, 3.13 × count-allocs, debug × amd64, arm64): the one cell no other suite image gives (about 1.5 min)' },
  // Two sanitizer images, not one asan,ubsan: with GCC's separate libasan and libubsan, UBSan in a
  // combined build ignores log_path (UBSAN_OPTIONS and ASAN_OPTIONS alike) and reports only on
  // stderr, so `pydbg check ubsan` on it finds nothing (exit 0) where the ubsan build finds the
  // shift. The combined build also cost 12 min on two cores.
  { id: 'asan-3.13', args: ['--variant', 'asan', '--python', '3.13'], purpose: 'check asan; memcheck refused on an ASan build' },
  { id: 'ubsan-3.13', args: ['--variant', 'ubsan', '--python', '3.13'], purpose: 'check ubsan' },
  { id: 'freethreaded-3.13', args: ['--variant', 'freethreaded', '--python', '3.13'], purpose: 'free-threaded verification; run falls back to build_ext' },
  { id: 'tsan-freethreaded-3.13', args: ['--variant', 'freethreaded,tsan', '--python', '3.13'], purpose: 'check tsan: the race example and its clean twin' },
  { id: 'arm64-debug-3.13', args: ['--variant', 'debug', '--python', '3.13', '--arch', 'arm64'], purpose: 'ARM: cross build, run, board CPU, gdb stub, memcheck, leaks under QEMU' },
  { id: 'armv7-nopymalloc-3.13', args: ['--variant', 'nopymalloc', '--python', '3.13', '--arch', 'armv7'], purpose: 'ARM: armv7 cross build, memcheck under QEMU' },
];

/** What `pydbg env build --json` prints (the fields the tests read). */
export interface BuildJson {
  image: string;
  imageId: string;
  cached: boolean;
  key: string;
  verified: Record<string, unknown>;
  probe?: { properties: Record<string, unknown>; info: Record<string, unknown>; mismatches: unknown[] };
  seconds: number;
  base: { origin: string };
}

/** One line of the global setup's timing record (also written to $PYDBG_TEST_REPORT_DIR/images.json). */
export interface ImageTiming {
  id: SuiteImageId;
  image: string;
  cached: boolean;
  seconds: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** the global setup's build results, by image id */
    pydbgImages: Partial<Record<SuiteImageId, BuildJson>>;
  }
}
