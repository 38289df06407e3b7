/**
 * `pydbg check tsan`: ThreadSanitizer (the tsan variant, best with freethreaded) reports → findings.
 * A data race names both accesses with their stacks, the mutexes each thread held, where the memory
 * is (a global, a heap block and who allocated it) and where the threads were created.
 *
 * ThreadSanitizer wants a fixed memory layout that a kernel randomising mmap with more than 28 bits
 * breaks ("FATAL: ThreadSanitizer: unexpected memory mapping"). The run turns ASLR off inside its
 * container (tsanrun.sh: setarch -R); Docker's default seccomp profile forbids that personality
 * flag, so this check's container runs without the seccomp filter, and the report says so.
 */
import { join } from 'node:path';
import { helper, OUT_MOUNT } from '../container/layout.js';
import { ExitCode, PydbgError } from '../errors.js';
import { toProjectPath } from '../exec/crash.js';
import { TSAN_SUPPRESSIONS } from '../catalogue/variants.js';
import { matching, reproArgv, type Analysis } from './analysis.js';
import { sanitizerReport } from './sanitizers.js';
import { frameText, type Finding, type Frame } from './types.js';

/**
 * One stack frame of a ThreadSanitizer report, or null when the line is not one:
 * "    #0 add_unlocked /pydbg/build/counter.c:20 (counter.cpython-313t-x86_64-linux-gnu.so+0x1234)",
 * with a column or not, "<null>" for what the symbolizer did not know, no file at all
 * ("#0 foo (bin+0x12)"), a bare address for the module ("(0x7f…)"), C++ names with spaces.
 */
export function tsanFrame(line: string): Frame | null {
  const m = /^\s*#\d+ (.+?)\s*$/.exec(line);
  if (!m) return null;
  let rest = m[1]!;
  let object: string | null = null;
  const mod = / \((?:(\S+?)\+0x[0-9a-f]+|0x[0-9a-f]+)\)$/.exec(rest);
  if (mod) {
    object = mod[1] ?? null;
    rest = rest.slice(0, mod.index);
  }
  let fn = rest;
  let file: string | null = null;
  let lineNo: number | null = null;
  const loc = / (<null>|\S+?)(?::(\d+))?(?::\d+)?$/.exec(rest);
  if (loc && (loc[1] === '<null>' || loc[2] !== undefined || loc[1]!.includes('/'))) {
    fn = rest.slice(0, loc.index);
    if (loc[1] !== '<null>') file = loc[1]!;
    lineNo = loc[2] ? Number(loc[2]) : null;
  }
  const mapped = toProjectPath(file);
  return { function: fn === '<null>' || fn === '' ? null : fn, file: mapped.file, line: lineNo, object, inUserCode: mapped.user };
}

function stackAt(lines: string[], start: number): [Frame[], number] {
  const frames: Frame[] = [];
  let i = start;
  for (; i < lines.length; i += 1) {
    const f = tsanFrame(lines[i]!);
    if (!f) break;
    frames.push(f);
  }
  return [frames, i];
}

/** "data race" → data-race; "lock-order-inversion (potential deadlock)" → lock-order-inversion. */
export function tsanKind(head: string): string {
  return head.replace(/\s*\(.*\)\s*$/, '').trim().replace(/\s+/g, '-');
}

/**
 * The frame an access really happened in: the first one outside ThreadSanitizer's own runtime (its
 * interceptors) and outside CPython's installed headers (PyList_SET_ITEM, _Py_atomic_* inlined into
 * the caller: the access is the caller's).
 */
const ownFrame = (frames: Frame[]) =>
  frames.find((f) => !/libtsan/.test(f.object ?? '') && !/^__tsan_/.test(f.function ?? '') && !/^\/opt\/python\/include\//.test(f.file ?? '')) ?? frames[0] ?? null;

interface Access {
  /** "Write of size 8 at 0x… by thread T2" without the address */
  what: string;
  thread: string;
  mutexes: string | null;
  frames: Frame[];
}

/**
 * ThreadSanitizer reports ("WARNING: ThreadSanitizer: data race (pid=N)" … "SUMMARY: …") → findings.
 * A finding is the user's when one of the racing accesses happens in the user's code (its first
 * frame outside the TSan runtime); a race inside CPython reached from the user's code says so.
 */
export function parseTsan(text: string): Finding[] {
  const lines = text.split('\n');
  const out: Finding[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const head = /^WARNING: ThreadSanitizer: (.+?)(?: \(pid=\d+\))?\s*$/.exec(lines[i]!);
    if (!head) continue;
    const kind = tsanKind(head[1]!);
    const accesses: Access[] = [];
    const related: Finding['related'] = [];
    let location: string | null = null;
    let j = i + 1;
    for (; j < lines.length && !/^SUMMARY: ThreadSanitizer/.test(lines[j]!) && !/^WARNING: ThreadSanitizer/.test(lines[j]!) && !/^={10,}/.test(lines[j]!); j += 1) {
      const line = lines[j]!;
      // "  Write of size 8 at 0x7f… by thread T2 (mutexes: write M0):" / "  Previous atomic read … by main thread:"
      const acc = /^\s+((?:Previous )?(?:[Aa]tomic )?(?:[Rr]ead|[Ww]rite)) of size (\d+) at 0x[0-9a-f]+ by (main thread|thread T\d+)(?: \(mutexes: ([^)]*)\))?:\s*$/.exec(line);
      if (acc) {
        const [frames, k] = stackAt(lines, j + 1);
        accesses.push({ what: `${acc[1]!.toLowerCase()} of size ${acc[2]}`, thread: acc[3]!, mutexes: acc[4] ?? null, frames });
        j = k - 1;
        continue;
      }
      const loc = /^\s+Location is (.+?)(?: at 0x[0-9a-f]+)?(?: \(([^)+]+)\+0x[0-9a-f]+\))?(?: allocated by (main thread|thread T\d+))?[:.]?\s*$/.exec(line);
      if (loc) {
        location = loc[1]!.replace(/\.$/, '');
        const [frames, k] = stackAt(lines, j + 1);
        if (frames.length) related.push({ message: `location: ${location}${loc[3] ? `, allocated by ${loc[3]}` : ''}`, frames });
        j = k - 1;
        continue;
      }
      // a lock-order inversion: "  Cycle in lock order graph: M0 (0x…) => M1 (0x…) => M0", then per edge
      // "  Mutex M1 acquired here while holding mutex M0 in thread T1:" with its stack: the accesses
      const cycle = /^\s+Cycle in lock order graph: (.+?)\s*$/.exec(line);
      if (cycle) {
        location = `lock order ${cycle[1]!.replace(/ \(0x[0-9a-f]+\)/g, '')}`;
        continue;
      }
      const edge = /^\s+Mutex (M\d+) acquired here while holding mutex (M\d+) in (main thread|thread T\d+):\s*$/.exec(line);
      if (edge) {
        const [frames, k] = stackAt(lines, j + 1);
        accesses.push({ what: `lock of ${edge[1]}`, thread: edge[3]!, mutexes: edge[2]!, frames });
        j = k - 1;
        continue;
      }
      // "  Mutex M0 (0x…) created at:", "  Thread T2 (tid=12, running) created by main thread at:", "  Mutex M0 previously acquired by the same thread here:"
      const other = /^\s+((?:Mutex|Thread) .+?):\s*$/.exec(line);
      if (other) {
        const [frames, k] = stackAt(lines, j + 1);
        related.push({ message: other[1]!.replace(/ \(0x[0-9a-f]+\)/, '').replace(/ \(tid=\d+, [a-z]+\)/, ''), frames });
        j = k - 1;
        continue;
      }
      // a report whose stack follows its headline directly (signal-unsafe call, unlock of an unlocked mutex)
      if (/^\s+#\d+ /.test(line) && accesses.length === 0 && related.length === 0) {
        const [frames, k] = stackAt(lines, j);
        accesses.push({ what: kind, thread: '', mutexes: null, frames });
        j = k - 1;
      }
    }
    const sites = accesses.map((a) => ownFrame(a.frames));
    const userAt = sites.findIndex((f) => f?.inUserCode);
    const reached = userAt < 0 ? accesses.flatMap((a) => a.frames).find((f) => f.inUserCode) ?? null : null;
    // your access first: its stack is the finding's, the other one is related
    const order = userAt > 0 ? [accesses[userAt]!, ...accesses.filter((_, n) => n !== userAt)] : accesses;
    const describe = (a: Access) => `${a.what}${a.thread ? ` by ${a.thread}` : ''}${a.mutexes ? ` holding ${a.mutexes}` : a.thread ? ' holding no mutex' : ''} in ${frameText(ownFrame(a.frames))}`;
    const message = order.length
      ? `${head[1]}: ${order.map(describe).join('; ')}${location ? ` (on ${location})` : ''}${reached ? `, reached from your code at ${frameText(reached)}` : ''}`
      : head[1]!;
    out.push({
      analysis: 'tsan',
      kind,
      message,
      severity: 'error',
      userFrame: userAt >= 0 ? sites[userAt]! : null,
      frames: order[0]?.frames ?? [],
      related: [...order.slice(1).map((a) => ({ message: describe(a), frames: a.frames })), ...related],
      count: 1,
      data: {
        ...(order.length ? { accesses: order.map((a) => a.what).join(' / ') } : {}),
        ...(order.some((a) => a.mutexes) ? { mutexes: order.map((a) => a.mutexes ?? 'none').join(' / ') } : {}),
        ...(location ? { location } : {}),
      },
    });
    i = j - 1;
  }
  return out;
}

/** What tsanrun.sh found about the memory layout: ASLR turned off, or why not. */
export interface TsanLayout {
  aslr: 'off' | 'on';
  mmapRndBits: number | null;
}

export function parseTsanLayout(text: string | undefined): TsanLayout | undefined {
  const m = /^aslr=(off|on) mmap_rnd_bits=(\S+)/m.exec(text ?? '');
  if (!m) return undefined;
  return { aslr: m[1] as 'off' | 'on', mmapRndBits: /^\d+$/.test(m[2]!) ? Number(m[2]) : null };
}

const LOG = /^tsan\.\d+$/;
const LAYOUT = 'tsan-layout';

export const tsan: Analysis = {
  name: 'tsan',
  tool: 'ThreadSanitizer',
  summary: 'ThreadSanitizer (tsan variant; with freethreaded for races the GIL hid): data races with both stacks and the mutexes held',
  helpUri: 'https://clang.llvm.org/docs/ThreadSanitizer.html',
  defaultVariant: 'tsan,freethreaded',
  rules: {
    'data-race': 'two threads access the same memory at once, at least one writes, no lock orders them',
    'heap-use-after-free': 'a thread accesses heap memory another thread freed',
    'lock-order-inversion': 'two locks taken in opposite orders by two threads (a potential deadlock)',
    'thread-leak': 'a thread that was never joined',
    'signal-unsafe-call-inside-of-a-signal': 'an async-signal-unsafe function called in a signal handler',
    'unlock-of-an-unlocked-mutex': 'a mutex unlocked while not locked',
    'double-lock-of-a-mutex': 'a mutex locked twice by the same thread',
  },
  unavailable(plan) {
    if (plan.spec.expected.tsan) return undefined;
    return {
      message: `the ${plan.spec.variants.join(',')} build is not built with ThreadSanitizer`,
      hint: plan.version.major === 3 && plan.version.minor >= 13
        ? `use --variant freethreaded,tsan (or tsan) --python ${plan.version.text}`
        : `ThreadSanitizer builds exist from CPython 3.13 (configure --with-thread-sanitizer): use --variant freethreaded,tsan --python 3.13`,
    };
  },
  command({ repro }) {
    const argv = reproArgv(repro);
    return {
      argv: ['sh', helper('tsanrun.sh'), `${OUT_MOUNT}/${LAYOUT}`, ...argv],
      // every report, not only the first; reports go to one file per process; the run's own exit status stays the program's
      env: { TSAN_OPTIONS: `suppressions=${TSAN_SUPPRESSIONS} halt_on_error=0 exitcode=0 second_deadlock_stack=1 log_path=${OUT_MOUNT}/tsan` },
      crashArgv: argv,
      notes: ['ThreadSanitizer needs ASLR off: this check turns it off inside its container (setarch -R), which runs without Docker\'s seccomp filter for that'],
      outputs: [LOG, new RegExp(`^${LAYOUT}$`)],
      aslrOff: true,
    };
  },
  parse(files, { outDir, run, plan }) {
    const names = matching(files, LOG);
    const text = names.map((f) => `${files.get(f)}\n`).join('');
    const layout = parseTsanLayout(files.get(LAYOUT));
    // the start failure goes to stderr (tsanrun.sh copies it into the layout file), not to log_path
    const fatal = /FATAL: ThreadSanitizer:?\s*(.*)/.exec(`${text}\n${files.get(LAYOUT) ?? ''}`);
    if (fatal) {
      const bits = layout?.mmapRndBits ?? null;
      const why = fatal[1]!.trim() || 'no reason given';
      throw new PydbgError(
        ExitCode.TOOL_FAILED,
        layout?.aslr === 'off'
          ? `ThreadSanitizer could not start, even with ASLR off: ${why}`
          : `ThreadSanitizer could not start (${why}): the engine's kernel randomises mmap${bits !== null ? ` with ${bits} bits (vm.mmap_rnd_bits)` : ''} and ASLR could not be turned off in the container`,
        { hint: "on the engine's host: sudo sysctl -w vm.mmap_rnd_bits=28 (or allow personality(ADDR_NO_RANDOMIZE) in the engine's seccomp profile)" },
      );
    }
    return sanitizerReport(parseTsan(text), names.map((f) => join(outDir, f)), run, {
      aslr: layout ? (layout.aslr === 'off' ? 'off (setarch -R)' : `on (the container could not turn it off; vm.mmap_rnd_bits=${layout.mmapRndBits ?? '?'})`) : 'unknown',
      suppressions: `CPython's Tools/tsan/${plan.spec.env.PYDBG_TSAN_SUPPRESSIONS}`,
    });
  },
};
