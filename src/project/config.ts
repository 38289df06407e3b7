/**
 * pydbg.yaml: what the rest of pydbg needs of it (types, errors at file:line:field, loading). The
 * schema and the YAML parser live in config-parse.ts, imported only when the file exists.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode, PydbgError } from '../errors.js';
import type { ConfigSchema } from './config-parse.js';

export const CONFIG_FILE = 'pydbg.yaml';
export const BUILD_KINDS = ['auto', 'setup.py', 'pyproject', 'meson', 'command', 'sources', 'none'] as const;
export type PydbgConfig = import('zod').z.infer<typeof ConfigSchema>;

export interface LoadedConfig {
  config: PydbgConfig;
  /** absent when the project has no pydbg.yaml */
  path?: string;
  /** where a field's value is in the file (['variant'], ['python', 1]), 1-based; absent without a file */
  position?: (field: ReadonlyArray<string | number>) => { line: number; col: number } | undefined;
}

/** A config-sourced value the catalogue refused: the same message and hint, at the value's file:line:column, exit 10. */
export function atField(loaded: LoadedConfig, field: ReadonlyArray<string | number>, e: PydbgError): PydbgError {
  const pos = loaded.position?.(field);
  const name = field.map((f, i) => (typeof f === 'number' ? `[${f}]` : i ? `.${f}` : f)).join('');
  return configError(loaded.path ?? CONFIG_FILE, pos?.line, pos?.col, name, e.message, e.hint);
}

export function configError(path: string, line: number | undefined, col: number | undefined, field: string, message: string, hint?: string) {
  const where = line ? `${path}:${line}:${col ?? 1}` : path;
  return new PydbgError(ExitCode.CONFIG, `${where}: ${field ? `${field}: ` : ''}${message}`, {
    hint: hint ?? 'see the pydbg.yaml section of the README',
  });
}

export async function loadConfig(projectDir: string, explicit?: string): Promise<LoadedConfig> {
  const path = explicit ?? join(projectDir, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === 'ENOENT') return { config: {} };
    throw configError(path, undefined, undefined, '', `cannot read: ${(e as Error).message}`);
  }
  const { parseConfigDoc } = await import('./config-parse.js');
  return { ...parseConfigDoc(text, path), path };
}

export const asList = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
