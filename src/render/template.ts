import { BUG_HINT, PydbgError, ExitCode } from '../errors.js';

/**
 * A deliberately strict renderer: `{{name}}` placeholders only. A placeholder with no value, or a
 * value with no placeholder, is an error (a template/code mismatch is a pydbg bug, never a silently
 * wrong Dockerfile).
 */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export function placeholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

export function render(template: string, values: Record<string, string>, name = 'template'): string {
  const used = placeholders(template);
  const missing = used.filter((p) => !(p in values));
  const unknown = Object.keys(values).filter((k) => !used.includes(k));
  if (missing.length || unknown.length) {
    const parts = [];
    if (missing.length) parts.push(`no value for ${missing.map((m) => `{{${m}}}`).join(', ')}`);
    if (unknown.length) parts.push(`no placeholder for ${unknown.join(', ')}`);
    throw new PydbgError(ExitCode.INTERNAL, `${name}: ${parts.join('; ')}`, { hint: BUG_HINT });
  }
  const out = template.replace(PLACEHOLDER, (_m, key: string) => values[key]!);
  if (/\{\{|\}\}/.test(out.replace(/\$\{\{/g, ''))) {
    throw new PydbgError(ExitCode.INTERNAL, `${name}: malformed placeholder left after rendering`, { hint: BUG_HINT });
  }
  return out;
}

/** POSIX shell single-quoting for values put into RUN lines. */
export function shQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
