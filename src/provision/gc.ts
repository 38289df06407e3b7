/**
 * `pydbg env gc`: what pydbg may remove without losing anything a later command would reuse —
 *   - extension builds (pydbg/ext) and project-package images (pydbg/runtime) that are no longer
 *     the newest for their project and variant, or whose variant image is gone;
 *   - untagged images carrying a pydbg kind label: build stages a build left dangling (only when
 *     older than an hour: a younger one may belong to a build still running);
 *   - report directories under the reports directory older than the given age.
 * Variant images and the shared layers are never collected here (`pydbg env rm` removes those).
 * Planning only looks; applying removes without force, so an image a container still uses stays.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LABEL } from '../container/labels.js';
import type { Engine, ImageInfo } from '../engine/engine.js';

export interface GcItem {
  what: 'ext' | 'runtime' | 'stage' | 'report';
  /** an image's tag (or id), or a report directory's path */
  name: string;
  reason: string;
  /** about how much removing it frees (an image's own layers are estimated: size minus its variant's) */
  bytes: number;
  /** images: the id to remove; reports: absent */
  id?: string;
  tags?: string[];
  path?: string;
}

export interface GcOptions {
  reportsDir: string;
  /** reports older than this go */
  olderThanSeconds: number;
  now?: Date;
  /** dangling stages younger than this stay (a build may still be using them); default one hour */
  stageMinAgeSeconds?: number;
}

const age = (created: string, now: Date) => (now.getTime() - Date.parse(created)) / 1000;

export async function planGc(engine: Pick<Engine, 'findImages'>, o: GcOptions): Promise<GcItem[]> {
  const now = o.now ?? new Date();
  const all = await engine.findImages({ [LABEL.kind]: '' });
  const byTag = new Map(all.flatMap((i) => i.tags.map((t) => [t, i] as const)));
  const items: GcItem[] = [];

  // extension builds and project packages: the newest per (kind, project, variant) stays
  const groups = new Map<string, ImageInfo[]>();
  for (const i of all) {
    const kind = i.labels[LABEL.kind];
    if ((kind !== 'ext' && kind !== 'runtime') || i.tags.length === 0) continue;
    const what = kind === 'ext' ? 'extension build' : 'project packages';
    if (i.labels[LABEL.image] && !byTag.has(i.labels[LABEL.image]!)) {
      // its variant is gone, so nothing shares its layers any more
      items.push({ what: kind, name: i.tags[0]!, id: i.id, tags: i.tags, bytes: i.size, reason: `${what} for ${i.labels[LABEL.image]}, which no longer exists` });
      continue;
    }
    // images from before pydbg labelled project packages with their project are left alone
    if (!i.labels[LABEL.project]) continue;
    const key = `${kind}\0${i.labels[LABEL.project]}\0${i.labels[LABEL.image] ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  for (const list of groups.values()) {
    const [newest, ...older] = [...list].sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    for (const i of older) {
      const kind = i.labels[LABEL.kind] as 'ext' | 'runtime';
      const variant = byTag.get(i.labels[LABEL.image] ?? '');
      items.push({
        what: kind, name: i.tags[0]!, id: i.id, tags: i.tags,
        bytes: Math.max(0, i.size - (variant?.size ?? 0)),
        reason: `${kind === 'ext' ? 'extension build' : 'project packages'} superseded by ${newest!.tags[0]} (same project, ${i.labels[LABEL.image]})`,
      });
    }
  }

  // build stages left dangling: untagged, labelled by pydbg, and old enough not to be a running build's
  for (const i of all) {
    if (i.tags.length > 0 || age(i.created, now) < (o.stageMinAgeSeconds ?? 3600)) continue;
    items.push({ what: 'stage', name: i.id.replace(/^sha256:/, '').slice(0, 12), id: i.id, tags: [], bytes: i.size, reason: `untagged ${i.labels[LABEL.kind]} build stage` });
  }

  // reports older than the limit
  for (const entry of await readdir(o.reportsDir).catch(() => [] as string[])) {
    const path = join(o.reportsDir, entry);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    const days = (now.getTime() - st.mtimeMs) / 86400e3;
    if (days * 86400 <= o.olderThanSeconds) continue;
    items.push({ what: 'report', name: entry, path, bytes: await du(path), reason: `${Math.floor(days)} days old` });
  }
  return items;
}

export interface GcOutcome {
  removed: GcItem[];
  /** items the engine refused (in use by a container, needed by another image) */
  kept: Array<{ item: GcItem; why: string }>;
}

/**
 * Remove the planned items, children first (extension builds before the package images they are
 * made from), by id and without force: the engine refuses an image a container uses or another
 * image is built on, and then nothing of it changes (not even a tag); the item is kept, with why.
 */
export async function applyGc(engine: Pick<Engine, 'removeImage'>, items: readonly GcItem[]): Promise<GcOutcome> {
  const out: GcOutcome = { removed: [], kept: [] };
  const order: Array<GcItem['what']> = ['ext', 'runtime', 'stage', 'report'];
  for (const item of [...items].sort((a, b) => order.indexOf(a.what) - order.indexOf(b.what))) {
    try {
      if (item.path) await rm(item.path, { recursive: true, force: true });
      else if ((item.tags ?? []).length <= 1) await engine.removeImage(item.id!);
      else {
        // several tags: the engine removes by id only with force; untag all but one, then the id
        for (const t of item.tags!.slice(1)) await engine.removeImage(t);
        await engine.removeImage(item.id!);
      }
      out.removed.push(item);
    } catch (e) {
      out.kept.push({ item, why: (e as Error).message.replace(/^\(HTTP code \d+\)\s*/, '').split('\n')[0]! });
    }
  }
  return out;
}

/** Bytes under a path (files only; a directory's own blocks are not counted). */
async function du(path: string): Promise<number> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(path).catch(() => [] as string[])) n += await du(join(path, e));
  return n;
}
