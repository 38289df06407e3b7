import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCLI } from '../../src/cli/parse.js';
import { COMMANDS, OPTIONS } from '../../src/cli/table.js';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
const commandsTable = readme.slice(readme.indexOf('## Commands'), readme.indexOf('## Exit codes'));

describe('README and --help follow the CLI tables', () => {
  it("lists every command in 'Commands'", () => {
    for (const c of COMMANDS) expect(commandsTable, c.id).toContain(`| \`pydbg ${c.id}`);
  });
  it('mentions every long flag of the option table', () => {
    for (const o of OPTIONS) {
      const long = /--[a-z0-9-]+/.exec(o.flags)![0];
      expect(readme, long).toMatch(new RegExp(`${long}(?![a-z0-9-])`));
    }
  });
  it('documents --json as a switch everywhere (a file is --json-out FILE)', () => {
    expect(readme).not.toMatch(/--json FILE|--json <file>|--json=FILE/);
    expect(readme).toContain('--json-out FILE');
  });
  it("each command's help shows its options, their defaults and its examples", () => {
    for (const c of COMMANDS) {
      const text = String(parseCLI(['help', ...c.id.split(' ')]).args.text);
      for (const o of OPTIONS.filter((x) => x.on.includes(c.id))) {
        const long = /--[a-z0-9-]+/.exec(o.flags)![0];
        expect(text, `${c.id} ${long}`).toContain(long);
      }
      for (const e of c.examples) expect(text, c.id).toContain(`  ${e}`);
    }
    expect(String(parseCLI(['help', 'run']).args.text)).toMatch(/--memory <size>.*\(default: 8g\)/);
    expect(String(parseCLI(['help', 'run']).args.text)).not.toContain('[-]');
  });
  it('every example parses', () => {
    for (const c of COMMANDS) {
      for (const e of c.examples) {
        const argv = e.replace(/ > .*$/, '').match(/'[^']*'|\S+/g)!.slice(1).map((w) => w.replace(/^'|'$/g, '').replace(/='(.*)'$/, '=$1'));
        expect(() => parseCLI(argv), e).not.toThrow();
      }
    }
  });
});
