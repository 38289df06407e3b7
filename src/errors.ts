/**
 * Every error a user can cause is a PydbgError: one clear line, a hint, and a documented exit code.
 * The CLI entry point maps these to process exit codes; anything else is an internal error (1).
 */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CATALOGUE: 3,
  SOURCE: 4,
  ENGINE: 5,
  BUILD: 6,
  VERIFY: 7,
  NOT_FOUND: 8,
  BASE_IMAGE: 9,
  CONFIG: 10,
  EXT_BUILD: 11,
  NO_EXTENSION: 12,
  NO_IMAGE: 13,
  EMULATION: 14,
  REGISTRY: 15,
  LOCKFILE: 16,
  NO_CELL: 17,
  FINDINGS: 20,
  ANALYSIS_UNAVAILABLE: 21,
  TOOL_FAILED: 22,
  COMMAND_NOT_FOUND: 127,
  TIMEOUT: 124,
  INTERRUPTED: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Documented in README.md ("Exit codes"); keep the two in sync (a unit test checks). */
export const EXIT_CODE_DOCS: Record<ExitCodeValue, string> = {
  0: 'success',
  1: 'internal error in pydbg (a bug: please report it with the log)',
  2: 'usage error: unknown command, option or malformed argument',
  3: 'the catalogue refused the request: unknown variant or version, impossible variant × version, contradictory variants',
  4: 'CPython source problem: download failed, sha256 mismatch, unknown release without a hash, missing local source',
  5: 'Docker engine not reachable',
  6: 'image build failed (the failing step, its last lines and the full log path are printed)',
  7: 'verification failed: the built interpreter is not what the variant claims (no image is tagged)',
  8: "not found: no such pydbg image, named run (pydbg ps lists them) or Python process in it, or the leak hunt's module:function",
  9: 'base image unavailable: pull failed and offline bootstrap was not possible',
  10: 'pydbg.yaml is invalid (the message names the file, line and field)',
  11: "the user's extension failed to build inside the variant (compiler output is shown)",
  12: 'an extension was configured (pydbg.yaml build section) but pydbg cannot find it',
  13: "the variant image does not exist and --no-build was given (the hint gives the 'pydbg env build …' command)",
  14: 'ARM target but QEMU user emulation is not set up (binfmt_misc handler missing, disabled or without the F flag; the hint gives the commands)',
  15: 'registry: unreachable, refused the credentials, or holds a tag whose image does not match its key (with --pull-only or --locked; otherwise pydbg builds locally and says so)',
  16: 'pydbg.lock: does not parse, or --locked and the image pydbg would use differs from the one locked (the message names what differs)',
  17: 'matrix: no cell of versions × variants × arches can run (each refusal is listed)',
  20: 'pydbg check: findings in your code (the report lists them)',
  21: 'pydbg check: the analysis cannot run on this variant or version (the message says which variant works)',
  22: 'pydbg check: the tool crashed or the repro failed before the analysis finished (the report is marked partial); stacks/inject/core: gdb could not attach or read the core',
  127: 'pydbg run / shell: the command was not found in the container',
  124: 'timed out (--timeout); nothing is left behind',
  130: 'interrupted (Ctrl-C / SIGTERM); nothing is left behind',
};

export class PydbgError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  /** Extra lines shown after the message (e.g. the last lines of a failing build step). */
  readonly details: string[];
  constructor(exitCode: ExitCodeValue, message: string, opts: { hint?: string; details?: string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PydbgError';
    this.exitCode = exitCode;
    this.hint = opts.hint;
    this.details = opts.details ?? [];
  }
}

/** Text the user typed, cut to `max` characters for a message ('…' and the full length when cut). */
export function clip(s: string, max = 60): string {
  const chars = [...s];
  return chars.length > max ? `${chars.slice(0, max).join('')}… (${chars.length} characters)` : s;
}

/**
 * A value the user typed, for a message: quoted, control characters escaped, and cut to `max`
 * characters (a 10,000-character argument is not echoed back whole).
 */
export function quoted(v: unknown, max = 60): string {
  if (typeof v !== 'string') return String(v);
  const chars = [...v];
  const cut = chars.length > max ? `${chars.slice(0, max).join('')}…` : v;
  const esc = cut.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `'${esc}'${chars.length > max ? ` (${chars.length} characters)` : ''}`;
}

export const usageError = (message: string, hint?: string) => new PydbgError(ExitCode.USAGE, message, { hint });
export const catalogueError = (message: string, hint?: string) => new PydbgError(ExitCode.CATALOGUE, message, { hint });
export const sourceError = (message: string, hint?: string, cause?: unknown) =>
  new PydbgError(ExitCode.SOURCE, message, { hint, cause });

/** The hint of an error that is pydbg's own fault. */
export const BUG_HINT = 'this is a bug in pydbg; please report it with the command you ran';

/** What an interrupted or timed-out build leaves: the default hint of InterruptedError. */
export const BUILD_INTERRUPTED_HINT =
  'nothing was tagged and the build containers were removed; run the same command again: the finished shared layers (base, toolchain, build Python) are kept, the interrupted build starts over';

export class InterruptedError extends PydbgError {
  /** `hint` says what is kept; the default speaks of a build (a run's timeout says the container was removed). */
  constructor(reason: 'interrupted' | 'timeout', what: string, hint?: string) {
    super(
      reason === 'timeout' ? ExitCode.TIMEOUT : ExitCode.INTERRUPTED,
      reason === 'timeout' ? `timed out: ${what}` : `interrupted: ${what}`,
      { hint: hint ?? BUILD_INTERRUPTED_HINT },
    );
  }
}
