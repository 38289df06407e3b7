/**
 * "Every error a user can cause is a PydbgError: one line, a hint, …" (CONTRIBUTING.md), checked in
 * the source text: every site that makes one — `new PydbgError(`, `new CliUsageError(`,
 * `usageError(`, `catalogueError(`, `sourceError(`, `configError(` — must give a hint, unless it is
 * on the short allow-list below with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** file:first words of the message → why no hint is needed. Keep it short. */
const ALLOWED: Record<string, string> = {};

const FACTORIES = ['new PydbgError', 'new CliUsageError', 'usageError', 'catalogueError', 'sourceError', 'configError'] as const;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The top-level arguments of the call whose '(' is at `open`: strings, templates, comments and brackets skipped. */
export function callArgs(text: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  const templates: number[] = []; // brace depth at which each open `${` returns into a template
  let i = open;
  const skipString = (q: string) => {
    for (i++; i < text.length && text[i] !== q; i++) if (text[i] === '\\') i++;
  };
  const skipTemplate = (): void => {
    for (i++; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '`') return;
      else if (text[i] === '$' && text[i + 1] === '{') {
        templates.push(depth);
        depth++;
        i++;
        return;
      }
    }
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (c === '/' && text[i + 1] === '/') i = text.indexOf('\n', i);
    else if (c === '/' && text[i + 1] === '*') i = text.indexOf('*/', i) + 1;
    else if (c === "'" || c === '"') skipString(c);
    else if (c === '`') skipTemplate();
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (c === '}' && templates.at(-1) === depth) {
        templates.pop();
        skipTemplate();
      } else if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return args.filter(Boolean);
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new Error(`unbalanced call at ${open}`);
}

interface Site {
  where: string;
  call: string;
  args: string[];
}

function sites(): Site[] {
  const out: Site[] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    const rel = relative(join(SRC, '..'), file);
    for (const name of FACTORIES) {
      const re = new RegExp(`(?<![\\w.])${name.replace(' ', '\\s+')}\\(`, 'g');
      for (const m of text.matchAll(re)) {
        const before = text.slice(Math.max(0, m.index - 20), m.index);
        if (/(function|const)\s+$/.test(before)) continue; // the definition, not a site
        const args = callArgs(text, m.index + m[0].length - 1);
        const line = text.slice(0, m.index).split('\n').length;
        out.push({ where: `${rel}:${line}`, call: name, args });
      }
    }
  }
  return out;
}

function hasHint(s: Site): boolean {
  const given = (a: string | undefined) => a !== undefined && a !== 'undefined';
  switch (s.call) {
    case 'new PydbgError':
      return /(^|[{,\s])hint\s*[:,}]/.test(s.args[2] ?? '') && !/hint:\s*undefined\b/.test(s.args[2] ?? '');
    case 'new CliUsageError':
    case 'usageError':
    case 'catalogueError':
    case 'sourceError':
      return given(s.args[1]);
    case 'configError':
      // (path, line, col, field, message[, hint]): the hint defaults to the README's pydbg.yaml section
      return s.args.length >= 5;
  }
  return false;
}

const allowKey = (s: Site) => `${s.where.replace(/:\d+$/, '')}:${(s.call === 'new PydbgError' ? s.args[1] : s.args[0])?.replace(/^[`'"]/, '').split(/[\s,]/)[0]}`;

describe('every error a user can cause carries a hint', () => {
  const all = sites();
  it('finds the sites (the scanner works)', () => {
    expect(all.length).toBeGreaterThan(80);
    expect(callArgs("f(a, `x ${g(1, 2)} y`, { hint: 'h, i' })", 1)).toEqual(['a', '`x ${g(1, 2)} y`', "{ hint: 'h, i' }"]);
    expect(hasHint({ where: '', call: 'usageError', args: ["'m'"] })).toBe(false);
    expect(hasHint({ where: '', call: 'new PydbgError', args: ['c', "'m'", '{ details }'] })).toBe(false);
    expect(hasHint({ where: '', call: 'new PydbgError', args: ['c', "'m'", '{ hint }'] })).toBe(true);
  });
  it('each site gives one (or is allowed, with the reason)', () => {
    const missing = all.filter((s) => !hasHint(s) && !ALLOWED[allowKey(s)]).map((s) => `${s.where} ${s.call}(${s.args.join(', ').slice(0, 100)})`);
    expect(missing).toEqual([]);
  });
  it('configError has its default hint, and the allow-list has no stale entries', () => {
    expect(readFileSync(join(SRC, 'project', 'config.ts'), 'utf8')).toMatch(/hint: hint \?\? 'see the pydbg\.yaml section of the README'/);
    const used = new Set(all.filter((s) => !hasHint(s)).map(allowKey));
    for (const k of Object.keys(ALLOWED)) expect(used, k).toContain(k);
  });
});
