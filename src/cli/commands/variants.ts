import { isAvailable, rangeText, VARIANTS } from '../../catalogue/variants.js';
import { SUPPORTED_MINORS, DEFAULT_RELEASE } from '../../catalogue/versions.js';

export async function variants(o: { json?: boolean }): Promise<void> {
  const rows = VARIANTS.map((v) => ({
    name: v.name,
    versions: rangeText(v),
    available: SUPPORTED_MINORS.filter((mm) => {
      const [major, minor] = mm.split('.').map(Number) as [number, number];
      return isAvailable(v, { major, minor });
    }),
    builds: v.builds,
    purpose: v.purpose,
    ...(v.rangeReason ? { note: v.rangeReason } : {}),
  }));
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ variants: rows, pythons: DEFAULT_RELEASE }, null, 2)}\n`);
    return;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  const lines = rows.map(
    (r) => `${r.name.padEnd(w)}  ${r.versions.padEnd(6)}  ${r.builds}\n${' '.repeat(w + 10)}${r.purpose}${r.note ? ` (${r.note})` : ''}`,
  );
  process.stdout.write(`${lines.join('\n')}\n\nCompose with commas, e.g. --variant debug,trace-refs or freethreaded,debug.\n`);
  process.stdout.write(`CPython versions: ${Object.entries(DEFAULT_RELEASE).map(([m, r]) => `${m} (→ ${r})`).join(', ')}\n`);
}
