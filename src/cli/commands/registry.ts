/**
 * `pydbg env push` (verified images to an OCI registry, with the layers their keys depend on) and
 * `pydbg lock` (pydbg.lock for the project's images).
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LABEL } from '../../container/labels.js';
import { userImageRef } from '../../container/refs.js';
import type { ImageDetail } from '../../engine/engine.js';
import { ExitCode, PydbgError, quoted } from '../../errors.js';
import { asList, loadConfig } from '../../project/config.js';
import { planVariant } from '../../project/plan.js';
import { cellOf, formatLock, LOCK_FILE, lockEntry, type LockEntry } from '../../provision/lock.js';
import { classifyRegistryError } from '../../provision/registry-refs.js';
import { openRegistry, pushVariant, type PushOutcome } from '../../provision/registry.js';
import { writeJson, type CommandResult, type Deps } from '../deps.js';

export async function push(o: { images?: string[]; registry: string; json?: boolean; quiet?: boolean }, deps: Deps): Promise<CommandResult> {
  const reg = await openRegistry({ prefix: o.registry });
  const engine = deps.engine();
  await engine.ping();
  let images: ImageDetail[];
  if (o.images?.length) {
    images = [];
    for (const r of o.images) {
      const i = await engine.inspectImage(userImageRef(r));
      if (!i || i.labels[LABEL.kind] !== 'variant') throw new PydbgError(ExitCode.NOT_FOUND, `no pydbg variant image ${quoted(r)}`, { hint: "see 'pydbg env list'" });
      images.push(i);
    }
  } else {
    const found = await engine.findImages({ [LABEL.kind]: 'variant' });
    images = (await Promise.all(found.map((f) => engine.inspectImage(f.id)))).filter((i): i is ImageDetail => Boolean(i?.labels[LABEL.verified]));
    if (images.length === 0) throw new PydbgError(ExitCode.NOT_FOUND, 'no verified variant image to push', { hint: "build one first: 'pydbg env build --variant debug'" });
  }
  const progress = deps.progress(o.quiet);
  const results: Array<{ image: string; pushed: PushOutcome['pushed'] }> = [];
  try {
    progress.log(`registry ${reg.refs.prefix} (credentials: ${reg.authSource})`);
    for (const i of images) {
      const name = i.tags.find((t) => t.startsWith('pydbg/cpython:')) ?? i.id;
      progress.phase(`push ${name}`);
      const io = { signal: deps.signal, log: (m: string) => progress.log(m), output: () => {}, event: () => {} };
      results.push({ image: name, pushed: (await pushVariant(engine, reg, i, io)).pushed });
    }
  } finally {
    progress.stop();
  }
  if (o.json) writeJson(deps.stdout, { registry: reg.refs.prefix, images: results });
  else {
    const lines: string[] = [];
    for (const r of results) {
      lines.push(`${r.image}`);
      for (const p of r.pushed) lines.push(`  ${p.ref}${p.digest ? `@${p.digest}` : ''}${p.note ? `  (${p.note})` : ''}`);
    }
    deps.stdout.write(`${lines.join('\n')}\n`);
  }
  return { exitCode: 0, data: results };
}

/**
 * pydbg.lock for the project's cells (pydbg.yaml's python × variant × arch, else the defaults):
 * each image must be built with the current inputs. With --registry, the registry digest of each
 * image's key tag is recorded when it is there.
 */
export async function lock(o: { project?: string; config?: string; registry?: string; json?: boolean }, deps: Deps): Promise<CommandResult> {
  const dir = resolve(deps.cwd, o.project ?? '.');
  const { config } = await loadConfig(dir, o.config ? resolve(deps.cwd, o.config) : undefined);
  const cells: Array<{ python: string; variant: string; arch: string }> = [];
  for (const python of asList(config.python) ?? ['3.13']) {
    for (const variant of asList(config.variant) ?? ['debug']) {
      for (const arch of asList(config.arch as string | string[] | undefined) ?? ['amd64']) cells.push({ python, variant, arch });
    }
  }
  const skipped: string[] = [];
  const plans = cells.flatMap((c) => {
    try {
      return [planVariant({ python: c.python, variant: c.variant, arch: c.arch })];
    } catch (e) {
      if (!(e instanceof PydbgError)) throw e;
      skipped.push(`${c.python} ${c.variant} ${c.arch}: ${e.message}`);
      return [];
    }
  });
  if (plans.length === 0) throw new PydbgError(ExitCode.NO_CELL, 'nothing to lock: no cell of pydbg.yaml can be built', { details: skipped, hint: 'fix python/variant/arch in pydbg.yaml' });
  const engine = deps.engine();
  await engine.ping();
  const reg = o.registry ? await openRegistry({ prefix: o.registry }) : undefined;
  const entries: LockEntry[] = [];
  for (const plan of plans) {
    const e = await lockEntry(engine, plan);
    if (reg) {
      const ref = reg.refs.variantByKey(plan.image.slice(plan.image.lastIndexOf(':') + 1), e.key);
      const digest = await engine.remoteDigest(ref, reg.auth).catch((err: unknown) => {
        const c = classifyRegistryError(err);
        if (c.fault === 'missing') return undefined;
        throw new PydbgError(ExitCode.REGISTRY, `${reg.refs.prefix}: ${c.text}`, { hint: c.fault === 'refused' ? `log in with 'docker login ${reg.refs.prefix.split('/')[0]}'` : 'is the registry running? (without --registry the lock records no digests)' });
      });
      if (digest) e.registry = { ref, digest };
    }
    entries.push(e);
  }
  const path = join(dir, LOCK_FILE);
  await writeFile(path, await formatLock(entries));
  if (o.json) writeJson(deps.stdout, { path, images: entries, skipped });
  else {
    const lines = [`${path}: ${entries.length} image${entries.length === 1 ? '' : 's'} locked`];
    for (const e of entries) lines.push(`  ${cellOf(e).padEnd(28)} key ${e.key.slice(0, 16)}…  base ${e.base.id.slice(7, 19)}  ${e.registry ? `pushed ${e.registry.digest.slice(0, 19)}…` : 'not in a registry'}`);
    for (const s of skipped) lines.push(`  skipped ${s}`);
    deps.stdout.write(`${lines.join('\n')}\n`);
  }
  return { exitCode: 0, data: { path, entries, skipped } };
}
