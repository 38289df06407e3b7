/** The runtime image: the project's system and Python packages (pydbg.yaml) on top of a variant, cached by content. */
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Engine, ImageInfo } from '../engine/engine.js';
import { contentKey, KEY_SCHEMA } from '../container/key.js';
import { LABEL, projectLabelOf } from '../container/labels.js';
import { keyedRef, RUNTIME_REPO } from '../container/refs.js';
import { ExitCode, PydbgError } from '../errors.js';
import { buildsDir } from '../paths.js';
import type { PydbgConfig } from '../project/config.js';
import type { VariantPlan } from '../project/plan.js';
import { loadTemplate } from '../render/dockerfile.js';
import { render, shQuote } from '../render/template.js';
import { PYDBG_VERSION } from '../version.js';
import { packDir } from './context.js';
import { runBuild } from './image-build.js';
import { findCached } from './images.js';
import { sha256Tree } from './sources.js';
import type { Progress } from './variant.js';

const PROJECT_WHEELHOUSE = '/opt/pydbg/project-wheelhouse';

/** Pure: the runtime Dockerfile, every user value shell-quoted. */
export function renderRuntimeDockerfile(p: { variantImage: string; variantId: string; system: string[]; python: string[]; wheelhouse: boolean }): string {
  const q = (xs: string[]) => xs.map(shQuote).join(' ');
  const pipSource = p.wheelhouse ? `--no-index --find-links ${PROJECT_WHEELHOUSE} --find-links /usr/share/python-wheels ` : '';
  return render(
    loadTemplate('Dockerfile.runtime'),
    {
      pydbg_version: PYDBG_VERSION,
      variant_image: p.variantImage,
      variant_id: p.variantId,
      apt_step: p.system.length
        ? `RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${q(p.system)} && rm -rf /var/lib/apt/lists/*`
        : '# (no system packages)',
      wheelhouse_step: p.wheelhouse ? `COPY wheelhouse/ ${PROJECT_WHEELHOUSE}/` : '# (no wheelhouse)',
      pip_step: p.python.length
        ? `RUN PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 python -m pip install ${pipSource}${q(p.python)}`
        : '# (no Python packages)',
    },
    'Dockerfile.runtime',
  );
}

export async function ensureRuntime(
  engine: Engine,
  plan: VariantPlan,
  variant: ImageInfo,
  config: PydbgConfig,
  projectDir: string,
  io: { progress: Progress; signal: AbortSignal },
): Promise<ImageInfo> {
  const system = config.system_packages ?? [];
  const python = config.python_packages ?? [];
  if (system.length === 0 && python.length === 0) return variant;
  const wheelhouse = config.wheelhouse ? resolve(projectDir, config.wheelhouse) : undefined;
  if (wheelhouse && !existsSync(wheelhouse)) throw new PydbgError(ExitCode.CONFIG, `pydbg.yaml: wheelhouse: ${wheelhouse} does not exist`, { hint: 'wheelhouse: is a directory of .whl files, relative to the project' });
  const dockerfile = renderRuntimeDockerfile({ variantImage: plan.image, variantId: variant.id, system, python, wheelhouse: Boolean(wheelhouse) });
  const key = contentKey({ schema: KEY_SCHEMA, dockerfile, wheelhouse: wheelhouse ? await sha256Tree(wheelhouse) : null });
  const tag = keyedRef(RUNTIME_REPO, key);
  const found = await findCached(engine, 'runtime', key, tag);
  if (found) return found;
  const dir = join(buildsDir(), `runtime-${key.slice(0, 16)}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  if (wheelhouse) await symlink(wheelhouse, join(dir, 'wheelhouse'));
  io.progress.phase('project packages');
  io.progress.log(`installing ${[...system, ...python].join(', ')} into a derived image (cached)`);
  await runBuild(
    engine,
    { context: packDir(dir), tag, platform: plan.arch.platform, networkMode: 'host', labels: { [LABEL.kind]: 'runtime', [LABEL.key]: key, [LABEL.image]: plan.image, [LABEL.project]: projectLabelOf(projectDir) } },
    { signal: io.signal, log: (m) => io.progress.log(m), output: (l) => io.progress.output(l), event: (e) => io.progress.event(e) },
    'project packages',
  );
  return (await engine.inspectImage(tag))!;
}
