/**
 * pydbg.yaml's schema and parser (yaml + zod): loaded only when a project has a pydbg.yaml (config.ts
 * imports it on demand), so a run without one does not pay for either library.
 */
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { clip, PydbgError } from '../errors.js';
import { BUILD_KINDS, CONFIG_FILE, configError, type LoadedConfig, type PydbgConfig } from './config.js';
import { closestTo } from '../suggest.js';
import { MAX_SECONDS } from '../timeout.js';


/**
 * pydbg.yaml. YAML is read with the failsafe schema (every scalar is a string), so `python: 3.10`
 * stays "3.10" instead of becoming the number 3.1.
 */
const Str = z.string().min(1, 'must not be empty');
const OneOrMany = z.union([Str, z.array(Str).min(1)]);
const Bool = z.enum(['true', 'false', 'yes', 'no', 'on', 'off']).transform((v) => ['true', 'yes', 'on'].includes(v));
const Seconds = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of seconds')
  .transform(Number)
  .refine((n) => n > 0 && n <= MAX_SECONDS, `must be a positive number of seconds (at most ${MAX_SECONDS})`);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** ci: what `pydbg ci github` generates (the analyses and repro names are checked there, against the registry and repros:). */
const CiSchema = z
  .object({
    checks: z.array(Str.regex(/^\S+\s+\S+$/, "must be 'ANALYSIS REPRO' (e.g. 'memcheck leak', REPRO a name under repros:)")).min(1).optional(),
    registry: Str.optional(),
    arm_runners: z.enum(['qemu', 'native']).optional(),
    runs_on: Str.optional(),
    arm_runs_on: Str.optional(),
    branches: OneOrMany.optional(),
    node: Str.optional(),
    pydbg: Str.optional(),
  })
  .strict();


export const ConfigSchema = z
  .object({
    python: OneOrMany.optional(),
    variant: OneOrMany.optional(),
    arch: OneOrMany.optional(),
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
    env: z.record(z.string().regex(ENV_NAME, 'is not a valid environment variable name'), z.string()).optional(),
    repros: z.record(Str, Str).optional(),
    network: Bool.optional(),
    timeout: Seconds.optional(),
    ci: CiSchema.optional(),
  })
  .strict();


/** Parse and validate pydbg.yaml text. Errors name the file, line and field. */
export function parseConfig(text: string, path = CONFIG_FILE): PydbgConfig {
  return parseConfigDoc(text, path).config;
}

export function parseConfigDoc(text: string, path: string): Required<Pick<LoadedConfig, 'config' | 'position'>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { schema: 'failsafe', lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw configError(path, pos.line, pos.col, '', e.message.split('\n')[0]!, 'fix the YAML syntax');
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    // an alias bomb (aliases of aliases expanding to millions of nodes), or another document yaml cannot resolve
    const pos = firstAlias(doc, lc);
    const bomb = /alias/i.test((e as Error).message);
    throw configError(path, pos?.line, pos?.col, '', bomb ? 'YAML aliases here expand to too much data (an alias bomb?)' : `cannot read the YAML: ${clip((e as Error).message.split('\n')[0]!, 120)}`, 'write the values out: pydbg.yaml needs no anchors or aliases');
  }
  const position = (field: ReadonlyArray<string | number>) => {
    const node = doc.getIn([...field], true) as YamlNode | undefined;
    return node?.range ? lc.linePos(node.range[0]) : undefined;
  };
  const parsed = ConfigSchema.safeParse(data);
  if (parsed.success) return { config: parsed.data, position };
  const issue = parsed.error.issues[0]!;
  const fieldPath = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const node = keyNode(doc, fieldPath, key);
    const pos = node?.range ? lc.linePos(node.range[0]) : undefined;
    const known = knownKeys(fieldPath);
    const guess = closestTo(key, known);
    const list = known.length ? `known fields: ${known.join(', ')}` : undefined;
    return throwIt(configError(path, pos?.line, pos?.col, [...fieldPath, clip(key, 40)].join('.'), 'unknown field', guess ? `did you mean '${guess}'? ${list}` : list));
  }
  // a bad key of a record (env:): point at the key, and say what a name must be
  const badKey = issue.code === 'invalid_key' || (fieldPath[0] === 'env' && fieldPath.length === 2 && !ENV_NAME.test(fieldPath[1]!));
  if (badKey && fieldPath[0] === 'env') {
    const key = fieldPath.at(-1)!;
    const node = keyNode(doc, fieldPath.slice(0, -1), key);
    const pos = node?.range ? lc.linePos(node.range[0]) : undefined;
    throw configError(path, pos?.line, pos?.col, `env.${clip(key, 40)}`, 'not a valid environment variable name', 'a name is letters, digits and _, not starting with a digit (e.g. PYTHONMALLOC)');
  }
  const node = doc.getIn(issue.path as Array<string | number>, true) as YamlNode | undefined;
  const pos = node?.range ? lc.linePos(node.range[0]) : undefined;
  throw configError(path, pos?.line, pos?.col, fieldPath.map((f) => clip(f, 40)).join('.') || '(top level)', describeIssue(issue));
}

function firstAlias(doc: Document, lc: LineCounter): { line: number; col: number } | undefined {
  let at: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      at = node.range?.[0];
      return visit.BREAK;
    },
  });
  return at === undefined ? undefined : lc.linePos(at);
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
  if (path.length === 1 && path[0] === 'ci') return Object.keys(CiSchema.shape);
  return [];
}

