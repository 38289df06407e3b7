import { isAvailable, rangeText, VARIANTS } from '../../catalogue/variants.js';
import { SUPPORTED_MINORS, DEFAULT_RELEASE } from '../../catalogue/versions.js';
import { writeJson, type CommandResult, type Deps } from '../deps.js';

export async function variants(o: { json?: boolean }, deps: Pick<Deps, 'stdout'>): Promise<CommandResult> {
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
  const data = { variants: rows, pythons: DEFAULT_RELEASE };
  if (o.json) {
    writeJson(deps.stdout, data);
    return { exitCode: 0, data };
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  const lines = rows.map(
    (r) => `${r.name.padEnd(w)}  ${r.versions.padEnd(6)}  ${r.builds}\n${' '.repeat(w + 10)}${r.purpose}${r.note ? ` (${r.note})` : ''}`,
  );
  deps.stdout.write(`${lines.join('\n')}\n\nCompose with commas, e.g. --variant debug,trace-refs or freethreaded,debug.\n`);
  deps.stdout.write(`CPython versions: ${Object.entries(DEFAULT_RELEASE).map(([m, r]) => `${m} (→ ${r})`).join(', ')}\n`);
  return { exitCode: 0, data };
}
