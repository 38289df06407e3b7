import { ARCHES, BOARDS } from '../../catalogue/arch.js';

export function boards(o: { json?: boolean }): void {
  if (o.json) {
    process.stdout.write(`${JSON.stringify(BOARDS.map((b) => ({ ...b, platform: ARCHES.find((a) => a.name === b.arch)!.platform })), null, 2)}\n`);
    return;
  }
  const rows = [['BOARD', 'ARCH', 'QEMU CPU', 'DESCRIPTION'], ...BOARDS.map((b) => [b.name, b.arch, b.cpu, b.description])];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')}\n`);
  process.stdout.write("\nUse: pydbg run --board NAME -- python repro.py   (the board's architecture, and QEMU_CPU=<cpu> for every process)\n");
}
