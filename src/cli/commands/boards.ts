import { ARCHES, BOARDS } from '../../catalogue/arch.js';
import { writeJson, type CommandResult, type Deps } from '../deps.js';

export async function boards(o: { json?: boolean }, deps: Pick<Deps, 'stdout'>): Promise<CommandResult> {
  const data = BOARDS.map((b) => ({ ...b, platform: ARCHES.find((a) => a.name === b.arch)!.platform }));
  if (o.json) {
    writeJson(deps.stdout, data);
    return { exitCode: 0, data };
  }
  const rows = [['BOARD', 'ARCH', 'QEMU CPU', 'DESCRIPTION'], ...BOARDS.map((b) => [b.name, b.arch, b.cpu, b.description])];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) deps.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')}\n`);
  deps.stdout.write("\nUse: pydbg run --board NAME -- python repro.py   (the board's architecture, and QEMU_CPU=<cpu> for every process)\n");
  return { exitCode: 0, data };
}
