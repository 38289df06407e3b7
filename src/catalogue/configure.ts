/**
 * Which ./configure switches decide which verified property, so a user's --configure-arg that
 * undoes what the variant promises is refused before the build (the probe would only catch it
 * after a full configure/make). Pure: data plus one check.
 */
import { catalogueError, clip } from '../errors.js';
import type { ExpectedProps, VariantName } from './variants.js';

type Decided = 'py_debug' | 'with_pymalloc' | 'with_valgrind' | 'trace_refs' | 'gil_disabled' | 'asan' | 'ubsan' | 'tsan';

/** configure's feature name (the part after --with-/--without- or --enable-/--disable-) → the property it sets when on. */
const SWITCHES: ReadonlyArray<{ feature: string; kind: 'with' | 'enable'; property: Decided; on: string; off: string }> = [
  { feature: 'pydebug', kind: 'with', property: 'py_debug', on: 'with Py_DEBUG', off: 'without Py_DEBUG' },
  { feature: 'pymalloc', kind: 'with', property: 'with_pymalloc', on: 'with pymalloc', off: 'without pymalloc' },
  { feature: 'valgrind', kind: 'with', property: 'with_valgrind', on: 'with Valgrind support', off: 'without Valgrind support' },
  { feature: 'trace-refs', kind: 'with', property: 'trace_refs', on: 'with Py_TRACE_REFS', off: 'without Py_TRACE_REFS' },
  { feature: 'address-sanitizer', kind: 'with', property: 'asan', on: 'with AddressSanitizer', off: 'without AddressSanitizer' },
  { feature: 'undefined-behavior-sanitizer', kind: 'with', property: 'ubsan', on: 'with UBSan', off: 'without UBSan' },
  { feature: 'thread-sanitizer', kind: 'with', property: 'tsan', on: 'with ThreadSanitizer', off: 'without ThreadSanitizer' },
  // --disable-gil turns the property on; --enable-gil / --disable-gil=no turn it off
  { feature: 'gil', kind: 'enable', property: 'gil_disabled', on: 'free-threaded (--disable-gil)', off: 'with the GIL' },
];

const OFF = new Set(['no', 'false', '0', 'off']);

/** What one configure argument sets, if it is one of the switches above: [property, value]. */
export function decidedBy(arg: string): [Decided, boolean] | undefined {
  const m = /^--(with|without|enable|disable)-([a-z0-9-]+)(?:=(.*))?$/.exec(arg.trim());
  if (!m) return undefined;
  const [, verb, feature, value] = m;
  const sw = SWITCHES.find((s) => s.feature === feature && (s.kind === 'with' ? verb === 'with' || verb === 'without' : verb === 'enable' || verb === 'disable'));
  if (!sw) return undefined;
  let on = verb === 'with' || verb === 'enable';
  if (value !== undefined && OFF.has(value.toLowerCase())) on = !on;
  // the GIL switch is inverted: --disable-gil means gil_disabled
  return [sw.property, sw.kind === 'enable' ? !on : on];
}

/** Refuse a user configure argument that contradicts what `variants` promise (exit 3, before any build). */
export function checkConfigureArgs(userArgs: readonly string[], variants: readonly VariantName[], expected: ExpectedProps): void {
  for (const arg of userArgs) {
    const d = decidedBy(arg);
    if (!d) continue;
    const [property, value] = d;
    if (expected[property] === value) continue;
    const sw = SWITCHES.find((s) => s.property === property)!;
    const name = variants.join(',');
    const promised = Boolean(expected[property]);
    throw catalogueError(
      `--configure-arg=${clip(arg)} contradicts variant '${name}', which builds ${promised ? sw.on : sw.off} (${property}=${promised ? 'yes' : 'no'} is verified in the image)`,
      `drop that --configure-arg, or pick a variant that builds ${value ? sw.on : sw.off} ('pydbg variants')`,
    );
  }
}
