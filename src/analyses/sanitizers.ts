import { join } from 'node:path';
import { OUT_MOUNT } from '../container/layout.js';
import { toProjectPath } from '../exec/crash.js';
import { matching, partialReason, reproArgv, type Analysis, type ParsedReport } from './analysis.js';
import type { RunResult } from '../exec/types.js';
import { groupFindings, type Finding, type Frame } from './types.js';

/** ASan/UBSan stack line: "    #0 0x7f.. in overflow /pydbg/build/oob.c:7" (column optional) or "(… /lib.so+0x12)". */
const FRAME = /^\s*#(\d+) 0x[0-9a-f]+ in (\S+)(?: (\S+?):(\d+)(?::\d+)?)?(?: \((\S+)\+0x[0-9a-f]+\))?\s*$/;
const FRAME_NOFN = /^\s*#(\d+) 0x[0-9a-f]+ +\((\S+)\+0x[0-9a-f]+\)\s*$/;

function frame(line: string): Frame | null {
  const m = FRAME.exec(line);
  if (m) {
    const mapped = toProjectPath(m[3] ?? null);
    return { function: m[2]!, file: mapped.file, line: m[4] ? Number(m[4]) : null, object: m[5] ?? null, inUserCode: mapped.user };
  }
  const n = FRAME_NOFN.exec(line);
  if (n) return { function: null, file: null, line: null, object: n[2]!, inUserCode: toProjectPath(n[2]!).user };
  return null;
}

function stackAt(lines: string[], start: number): [Frame[], number] {
  const frames: Frame[] = [];
  let i = start;
  while (i < lines.length && !/^\s*#\d+ /.test(lines[i]!)) i += 1;
  for (; i < lines.length; i += 1) {
    const f = frame(lines[i]!);
    if (!f) break;
    frames.push(f);
  }
  return [frames, i];
}

/** AddressSanitizer reports ("==PID==ERROR: AddressSanitizer: heap-buffer-overflow …") → findings. */
export function parseAsan(text: string): Finding[] {
  const lines = text.split('\n');
  const out: Finding[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const head = /==\d+==ERROR: AddressSanitizer: ([\w-]+)(.*)$/.exec(lines[i]!);
    if (!head) continue;
    const kind = head[1]!;
    const access = /^(READ|WRITE) of size (\d+)/.exec(lines[i + 1] ?? '');
    const [frames, next] = stackAt(lines, i + 1);
    const related: Finding['related'] = [];
    let j = next;
    // "0x… is located 20 bytes to the right of 20-byte region", then "allocated by…", "freed by…", "previously allocated by…"
    const located = lines.slice(next, next + 4).find((l) => /is located/.test(l));
    for (; j < lines.length && !/^SUMMARY: AddressSanitizer/.test(lines[j]!) && !/==\d+==ERROR/.test(lines[j]!); j += 1) {
      const rel = /^(freed by thread \S+ here|previously allocated by thread \S+ here|allocated by thread \S+ here):/.exec(lines[j]!);
      if (rel) {
        const [fs, k] = stackAt(lines, j + 1);
        related.push({ message: rel[1]!, frames: fs });
        j = k - 1;
      }
    }
    out.push({
      analysis: 'asan',
      kind,
      message: `${kind}${access ? `: ${access[1]} of size ${access[2]}` : ''}${located ? ` (${located.trim().replace(/^0x[0-9a-f]+ /, '')})` : ''}`,
      severity: 'error',
      userFrame: frames.find((f) => f.inUserCode) ?? null,
      frames,
      related,
      count: 1,
      data: access ? { access: access[1]!, size: Number(access[2]) } : {},
    });
    i = j;
  }
  return out;
}

/** UBSan's check names (-fsanitize=<name>) from its message wording. */
const UBSAN_KINDS: Array<[RegExp, string]> = [
  [/^shift exponent|^left shift of/, 'shift'],
  [/^signed integer overflow|^negation of/, 'signed-integer-overflow'],
  [/^index .* out of bounds/, 'bounds'],
  [/^division by zero|^division of/, 'integer-divide-by-zero'],
  [/misaligned address/, 'alignment'],
  [/null pointer/, 'null'],
  [/^load of value .* which is not a valid value for type/, 'bool-or-enum'],
  [/^pointer index expression|^applying (?:non-zero )?offset/, 'pointer-overflow'],
  [/is outside the range of representable values/, 'float-cast-overflow'],
  [/^variable length array bound/, 'vla-bound'],
  [/^execution reached an unreachable program point/, 'unreachable'],
  [/^execution reached the end of a value-returning function/, 'return'],
];

export function ubsanKind(message: string): string {
  return UBSAN_KINDS.find(([re]) => re.test(message))?.[1] ?? message.split(':')[0]!.replace(/\s+/g, '-');
}

/** UBSan: "/pydbg/build/x.c:12:9: runtime error: signed integer overflow: …" (+ stack with print_stacktrace=1). */
export function parseUbsan(text: string): Finding[] {
  const lines = text.split('\n');
  const out: Finding[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const m = /^(\S+?):(\d+):(\d+): runtime error: (.*)$/.exec(lines[i]!);
    if (!m) continue;
    const mapped = toProjectPath(m[1]!);
    const [frames] = stackAt(lines, i + 1);
    const here: Frame = { function: frames[0]?.function ?? null, file: mapped.file, line: Number(m[2]), object: null, inUserCode: mapped.user };
    out.push({
      analysis: 'ubsan',
      kind: ubsanKind(m[4]!),
      message: m[4]!,
      severity: 'error',
      userFrame: here.inUserCode ? here : (frames.find((f) => f.inUserCode) ?? null),
      frames: frames.length ? frames : [here],
      related: [],
      count: 1,
      data: { column: Number(m[3]) },
    });
  }
  return out;
}

const SANITIZERS = {
  asan: {
    tool: 'AddressSanitizer',
    summary: 'AddressSanitizer (asan variant): out-of-bounds accesses, use after free, double free, with stacks',
    helpUri: 'https://clang.llvm.org/docs/AddressSanitizer.html',
    env: { ASAN_OPTIONS: `detect_leaks=0:halt_on_error=1:print_summary=1:log_path=${OUT_MOUNT}/asan` },
    parse: parseAsan,
    rules: {
      'heap-buffer-overflow': 'an access outside a heap block',
      'stack-buffer-overflow': 'an access outside a stack variable',
      'global-buffer-overflow': 'an access outside a global variable',
      'heap-use-after-free': 'an access to heap memory after it was freed',
      'stack-use-after-return': 'an access to a stack variable after its function returned',
      'double-free': 'a heap block freed twice',
      'alloc-dealloc-mismatch': 'memory freed with a deallocator that does not match its allocator',
      SEGV: 'a segmentation fault on an unknown address',
    },
  },
  ubsan: {
    tool: 'UndefinedBehaviorSanitizer',
    summary: 'UndefinedBehaviorSanitizer (ubsan variant): shifts, overflows, bounds, alignment, null, as -fsanitize check names',
    helpUri: 'https://clang.llvm.org/docs/UndefinedBehaviorSanitizer.html',
    env: { UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=0:log_path=${OUT_MOUNT}/ubsan` },
    parse: parseUbsan,
    rules: {
      shift: 'a shift by a negative or too large exponent, or of a negative value',
      'signed-integer-overflow': 'signed integer arithmetic overflowed',
      bounds: 'an array index out of bounds',
      'integer-divide-by-zero': 'an integer division by zero',
      alignment: 'a misaligned pointer was used',
      null: 'a null pointer was used',
      'bool-or-enum': 'a load of an invalid bool or enum value',
      'pointer-overflow': 'pointer arithmetic overflowed',
      'float-cast-overflow': 'a float converted to a type that cannot represent it',
      'vla-bound': 'a variable-length array with a non-positive bound',
      unreachable: 'execution reached __builtin_unreachable()',
      return: 'a value-returning function ended without a return',
    },
  },
} as const;

/** A sanitizer's findings as a report: yours (a frame in your code) first, the rest the interpreter's. */
export function sanitizerReport(findings: Finding[], rawFiles: string[], run: RunResult, summary: Record<string, unknown>): ParsedReport {
  const found = groupFindings(findings);
  const user = found.filter((f) => f.userFrame);
  // a sanitizer stops the process on purpose: a non-zero exit with a report is a complete analysis
  const reason = found.length === 0 ? partialReason(run) : undefined;
  return { status: reason ? 'partial' : 'complete', partialReason: reason, userFindings: user, interpreterFindings: found.filter((f) => !user.includes(f)), rawFiles, summary };
}

function sanitizer(name: keyof typeof SANITIZERS): Analysis {
  const s = SANITIZERS[name];
  // log_path=<OUT>/asan: one <name>.<pid> file per process
  const outputs = new RegExp(`^${name}\\.[\\w.-]+$`);
  return {
    name,
    tool: s.tool,
    summary: s.summary,
    helpUri: s.helpUri,
    defaultVariant: name,
    rules: s.rules,
    unavailable(plan) {
      // GCC's UBSan in an ASan build ignores log_path: its reports never reach the file pydbg reads
      if (name === 'ubsan' && plan.spec.expected.ubsan && plan.spec.expected.asan) {
        return { message: `UBSan in the ${plan.spec.variants.join(',')} build reports only on stderr (it ignores log_path next to ASan): pydbg would report no findings`, hint: `use --variant ubsan --python ${plan.version.text}` };
      }
      if (plan.spec.expected[name]) return undefined;
      return { message: `the ${plan.spec.variants.join(',')} build is not built with ${name === 'asan' ? 'AddressSanitizer' : 'UBSan'}`, hint: `use --variant ${name} --python ${plan.version.text}` };
    },
    command({ repro }) {
      const argv = reproArgv(repro);
      return { argv, env: { ...s.env }, crashArgv: argv, notes: [], outputs: [outputs] };
    },
    parse(files, { outDir, run }) {
      const names = matching(files, outputs);
      return sanitizerReport(s.parse(names.map((f) => `${files.get(f)}\n`).join('')), names.map((f) => join(outDir, f)), run, {});
    },
  };
}

export const asan = sanitizer('asan');
export const ubsan = sanitizer('ubsan');
