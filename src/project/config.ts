import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { closest } from 'fastest-levenshtein';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ExitCode, PydbgError } from '../errors.js';

export const CONFIG_FILE = 'pydbg.yaml';

/**
 * pydbg.yaml. YAML is read with the failsafe schema (every scalar is a string), so `python: 3.10`
 * stays "3.10" instead of becoming the number 3.1.
 */
const Str = z.string().min(1, 'must not be empty');
const OneOrMany = z.union([Str, z.array(Str).min(1)]);
const Bool = z.enum(['true', 'false', 'yes', 'no', 'on', 'off']).transform((v) => ['true', 'yes', 'on'].includes(v));
const Seconds = z.string().regex(/^\d+(\.\d+)?$/, 'must be a number of seconds').transform(Number);

export const BUILD_KINDS = ['auto', 'setup.py', 'pyproject', 'meson', 'command', 'sources', 'none'] as const;

export const ConfigSchema = z
  .object({
    python: OneOrMany.optional(),
    variant: OneOrMany.optional(),
    arch: Str.optional(),
    board: Str.optional(),
    build: z
      .object({
        kind: z.enum(BUILD_KINDS).optional(),
        command: Str.optional(),
        sources: z.array(Str).min(1).optional(),
        module: Str.optional(),
        libraries: z.array(Str).optional(),
        include_dirs: z.array(Str).optional(),
        cflags: Str.optional(),
      })
      .strict()
      .optional(),
    system_packages: z.array(Str).optional(),
    python_packages: z.array(Str).optional(),
    wheelhouse: Str.optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid environment variable name'), z.string()).optional(),
    repros: z.record(Str, Str).optional(),
    network: Bool.optional(),
    timeout: Seconds.optional(),
  })
  .strict();

export type PydbgConfig = z.infer<typeof ConfigSchema>;

export interface LoadedConfig {
  config: PydbgConfig;
  /** absent when the project has no pydbg.yaml */
  path?: string;
}

export function configError(path: string, line: number | undefined, col: number | undefined, field: string, message: string, hint?: string) {
  const where = line ? `${path}:${line}:${col ?? 1}` : path;
  return new PydbgError(ExitCode.CONFIG, `${where}: ${field ? `${field}: ` : ''}${message}`, {
    hint: hint ?? 'see the pydbg.yaml section of the README',
  });
}

/** Parse and validate pydbg.yaml text. Errors name the file, line and field. */
export function parseConfig(text: string, path = CONFIG_FILE): PydbgConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { schema: 'failsafe', lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw configError(path, pos.line, pos.col, '', e.message.split('\n')[0]!, 'fix the YAML syntax');
  }
  const data: unknown = doc.toJS() ?? {};
  const parsed = ConfigSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const fieldPath = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const node = keyNode(doc, fieldPath, key);
    const pos = node?.range ? lc.linePos(node.range[0]) : undefined;
    const known = knownKeys(fieldPath);
    const guess = known.length ? closest(key, known) : undefined;
    return throwIt(configError(path, pos?.line, pos?.col, [...fieldPath, key].join('.'), 'unknown field', guess ? `did you mean '${guess}'? known fields: ${known.join(', ')}` : undefined));
  }
  const node = doc.getIn(issue.path as Array<string | number>, true) as YamlNode | undefined;
  const pos = node?.range ? lc.linePos(node.range[0]) : undefined;
  throw configError(path, pos?.line, pos?.col, fieldPath.join('.') || '(top level)', describeIssue(issue));
}

function throwIt(e: PydbgError): never {
  throw e;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value' && 'values' in issue) return `must be one of: ${(issue.values as unknown[]).join(', ')}`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'invalid_union') return 'expected a string or a list of strings';
  return issue.message;
}

function keyNode(doc: Document, parentPath: string[], key: string): YamlNode | undefined {
  const parent = parentPath.length ? doc.getIn(parentPath, true) : doc.contents;
  if (!isMap(parent)) return undefined;
  for (const item of parent.items) {
    if (isScalar(item.key) && item.key.value === key) return item.key;
  }
  return undefined;
}

function knownKeys(path: string[]): string[] {
  if (path.length === 0) return Object.keys(ConfigSchema.shape);
  if (path.length === 1 && path[0] === 'build') return Object.keys(ConfigSchema.shape.build.unwrap().shape);
  return [];
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
  return { config: parseConfig(text, path), path };
}

export const asList = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
