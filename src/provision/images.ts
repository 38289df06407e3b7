/**
 * Finding pydbg's cached images: one way for every kind. A content-keyed image is tagged by its
 * key's prefix (one inspect; its labels confirm the full key and the kind); a label search by key is
 * the fallback for an image whose tag was removed or moved.
 */
import type { Engine, ImageInfo } from '../engine/engine.js';
import { LABEL, type ImageKind } from '../container/labels.js';

export async function findCached(engine: Engine, kind: ImageKind, key: string, tag?: string): Promise<ImageInfo | undefined> {
  if (tag) {
    const hit = await engine.inspectImage(tag);
    if (hit && hit.labels[LABEL.key] === key && hit.labels[LABEL.kind] === kind) return hit;
  }
  const found = (await engine.findImages({ [LABEL.key]: key })).find((i) => i.labels[LABEL.kind] === kind);
  // a listed image may lack details (platform): inspect it once when found
  return found && !found.architecture ? ((await engine.inspectImage(found.id)) ?? found) : found;
}
