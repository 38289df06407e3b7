import { createHash } from 'node:crypto';

/**
 * Content keys. A key covers everything that can change what an image contains; two requests with
 * the same key are the same image, so a hit skips `docker build` entirely.
 */
export function contentKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex');
}

export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

export const KEY_SCHEMA = 1;
