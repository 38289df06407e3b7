import { join } from 'node:path';
import { helper, OUT_MOUNT } from '../container/layout.js';
import { toProjectPath, type CrashReport } from '../exec/crash.js';
import { partialReason, reproArgv, type Analysis } from './analysis.js';
import { groupFindings, type Finding, type Frame } from './types.js';

/**
 * Python's memory debug hooks (PYTHONMALLOC=pymalloc_debug / malloc_debug, on by default in debug
 * builds; PYMALLOC_DEBUG on 2.7) surround every block with FORBIDDENBYTE pads, check them and the
 * API id when the block is freed, and fill freed blocks with DEADBYTE (0xDD; 0xDB on 2.7).
 *
 *  - pad or API damage → a fatal error ("bad trailing pad byte", "bad ID") with the block's
 *    description; with tracemalloc, where the block was allocated; the abort is then re-run under
 *    gdb for the C stack that freed it (the user's frame).
 *  - use after free → freed memory reads as 0xDDDD…: a pointer loaded from it crashes (a register
 *    holds the pattern when the signal comes), or a value made of it shows up in the output.
 */

const FATAL_KINDS: Array<{ re: RegExp; kind: string; what: string }> = [
  { re: /bad trailing pad byte/, kind: 'BufferOverflow', what: 'written past its end (the pad bytes after the block were overwritten)' },
  { re: /bad leading pad byte/, kind: 'BufferUnderflow', what: 'written before its start (the pad bytes before the block were overwritten)' },
  { re: /bad ID/, kind: 'AllocatorMismatch', what: 'freed with a different allocator family than it was allocated with' },
];

/** the value of a 64- or 32-bit word of dead bytes, as printed in decimal or hex */
const DEAD_VALUES = /(?<![0-9a-fA-Fx])(?:-2459565876494606883|15987178197214944733|-572662307|3722304989|-2604246222170760229|15842497851538791387|3688618971|-606348325|0x(?:dd){8}|0x(?:db){8})(?![0-9a-fA-F])/i;

export interface HookReport {
  kind: string;
  message: string;
  address?: string;
  api?: string;
  bytes?: number;
  allocatedAt: string[];
  fatal: string;
}

/** The hooks' fatal reports in the repro's output. */
export function parseHookReports(output: string): HookReport[] {
  const out: HookReport[] = [];
  const lines = output.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /Debug memory block at address p=(0x[0-9a-fA-F]+)(?:: API '(\w)')?/.exec(lines[i]!);
    if (!m) continue;
    let fatal = '';
    let bytes: number | undefined;
    const allocatedAt: string[] = [];
    let j = i + 1;
    for (; j < lines.length && j < i + 80; j++) {
      const l = lines[j]!;
      const b = /(\d+) bytes originally requested/.exec(l);
      if (b) bytes = Number(b[1]);
      if (/Memory block allocated at/.test(l)) {
        for (let k = j + 1; k < lines.length && /^\s+File "/.test(lines[k]!); k++) allocatedAt.push(lines[k]!.trim());
      }
      const f = /^Fatal Python error: (.*)$/.exec(l);
      if (f) {
        fatal = f[1]!.trim();
        break;
      }
      if (/Debug memory block at address/.test(l)) break;
    }
    const known = FATAL_KINDS.find((k) => k.re.test(fatal)) ?? FATAL_KINDS.find((k) => k.re.test(lines.slice(i, j).join('\n')));
    const api = m[2];
    const apiName = api ? `API '${api}' (${api === 'o' ? 'PyObject_*' : api === 'm' ? 'PyMem_*' : api === 'r' ? 'PyMem_Raw*' : '?'})` : 'the debug allocator';
    out.push({
      kind: known?.kind ?? 'MemoryDebugError',
      message: `${bytes !== undefined ? `a ${bytes}-byte block` : 'a block'} from ${apiName} was ${known?.what ?? `reported by the memory debug hooks${fatal ? `: ${fatal}` : ''}`}${known ? '; detected when it was freed' : ''}`,
      address: m[1],
      api,
      bytes,
      allocatedAt,
      fatal,
    });
    i = j;
  }
  return out;
}

export function toFrames(crash: CrashReport | undefined): { frames: Frame[]; userFrame: Frame | null } {
  const frames: Frame[] = (crash?.frames ?? []).map((f) => ({ function: f.function, file: f.file, line: f.line, object: f.objfile, inUserCode: f.inUserCode }));
  return { frames, userFrame: frames.find((f) => f.inUserCode) ?? null };
}

export function pymallocDebugFindings(output: string, crash: CrashReport | undefined): Finding[] {
  const findings: Finding[] = [];
  const { frames, userFrame } = toFrames(crash);
  for (const r of parseHookReports(output)) {
    findings.push({
      analysis: 'pymalloc-debug',
      kind: r.kind,
      message: r.message,
      severity: 'error',
      userFrame,
      frames,
      related: r.allocatedAt.length ? [{ message: 'the block was allocated at (tracemalloc, most recent call first)', frames: r.allocatedAt.map(pyFrame) }] : [],
      count: 1,
      data: { ...(r.address ? { address: r.address } : {}), ...(r.bytes !== undefined ? { bytes: r.bytes } : {}), ...(r.api ? { api: r.api } : {}), fatal: r.fatal },
    });
  }
  if (findings.length === 0 && crash?.deadByteRegisters?.length) {
    findings.push({
      analysis: 'pymalloc-debug',
      kind: 'UseAfterFree',
      message: `${crash.signal ?? 'crash'} dereferencing freed memory: ${crash.deadByteRegisters.join(', ')} is the debug allocator's dead-byte fill, so a pointer was read from a block Python had already freed`,
      severity: 'error',
      userFrame,
      frames,
      related: [],
      count: 1,
      data: { registers: crash.deadByteRegisters.join(' ') },
    });
  }
  if (findings.length === 0) {
    const line = output.split('\n').find((l) => DEAD_VALUES.test(l));
    if (line) {
      findings.push({
        analysis: 'pymalloc-debug',
        kind: 'UseAfterFree',
        message: `the output shows a value read from freed memory (the debug allocator's dead-byte fill): ${line.trim().slice(0, 160)}; no crash, so no C location — 'pydbg check memcheck' gives the line`,
        severity: 'error',
        userFrame: null,
        frames: [],
        related: [],
        count: 1,
        data: { output: line.trim().slice(0, 300) },
      });
    }
  }
  return findings;
}

function pyFrame(line: string): Frame {
  const m = /File "([^"]+)", line (\d+)(?:, in (.+))?/.exec(line);
  const mapped = toProjectPath(m?.[1] ?? null);
  return { function: m?.[3] ?? null, file: mapped.file, line: m ? Number(m[2]) : null, object: null, inUserCode: mapped.user };
}

const OUTPUT = 'output.txt';

export const pymallocDebug: Analysis = {
  name: 'pymalloc-debug',
  tool: "Python's memory debug hooks (pad bytes, API ids, 0xDD dead-byte fill) + gdb",
  summary: "Python's memory debug hooks: buffer over/underflows, allocator mismatches, use after free (0xDD fill)",
  helpUri: 'https://docs.python.org/3/c-api/memory.html#pymem-debug-hooks',
  defaultVariant: 'pymalloc-debug',
  rules: {
    BufferOverflow: 'a write past the end of a block (its trailing pad bytes were overwritten)',
    BufferUnderflow: 'a write before the start of a block (its leading pad bytes were overwritten)',
    AllocatorMismatch: 'a block freed with a different allocator family than it was allocated with',
    UseAfterFree: "memory read after it was freed (the debug allocator's dead-byte fill)",
    MemoryDebugError: "an error reported by Python's memory debug hooks",
  },
  unavailable(plan) {
    if (plan.spec.expected.mem_debug_hooks) return undefined;
    return {
      message: `the ${plan.spec.variants.join(',')} build has no memory debug hooks (no pad bytes, no dead-byte fill)`,
      hint: `use --variant pymalloc-debug (or any debug variant) --python ${plan.version.text}`,
    };
  },
  command({ plan, repro }) {
    const argv = reproArgv(repro);
    // tracemalloc (3.4+) makes the hooks' reports say where the damaged block was allocated
    const env: Record<string, string> = plan.version.major >= 3 ? { PYTHONTRACEMALLOC: '16' } : {};
    return { argv: ['python', helper('teerun.py'), `${OUT_MOUNT}/${OUTPUT}`, ...argv], env, crashArgv: argv, notes: [], outputs: [/^output\.txt$/] };
  },
  parse(files, { outDir, run }) {
    const output = files.get(OUTPUT) ?? '';
    const found = groupFindings(pymallocDebugFindings(output, run.crash));
    // a fatal error or a crash is how the hooks report: with a finding, the analysis is complete
    const reason = found.length === 0 ? partialReason(run) : undefined;
    return {
      status: reason ? 'partial' : 'complete',
      partialReason: reason,
      userFindings: found,
      interpreterFindings: [],
      rawFiles: files.has(OUTPUT) ? [join(outDir, OUTPUT)] : [],
      summary: { crash: run.crash ? { signal: run.crash.signal, deadByteRegisters: run.crash.deadByteRegisters ?? [] } : null },
    };
  },
};
