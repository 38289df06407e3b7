/**
 * The user's extension, built inside the runtime image and committed as an image, cached by
 * (runtime image, project tree, build script, CFLAGS). The build copy is made readable by every
 * user, so a build made as root serves a later run as 1000:1000 (the cache key does not cover users).
 */
import type { Engine, ImageInfo } from '../engine/engine.js';
import { isExecFormatError, emulationError } from '../engine/binfmt.js';
import { contentKey, KEY_SCHEMA } from '../container/key.js';
import { LABEL, projectLabelOf } from '../container/labels.js';
import { BUILD_DIR, PROJECT_MOUNT } from '../container/layout.js';
import { EXT_REPO, keyedRef, splitRef } from '../container/refs.js';
import { ExitCode, PydbgError } from '../errors.js';
import { DEFAULT_EXT_CFLAGS, extBuildScript, type ExtensionBuild } from '../project/detect.js';
import type { PydbgConfig } from '../project/config.js';
import type { VariantPlan } from '../project/plan.js';
import { TailBuffer } from '../exec/streams.js';
import { PYDBG_VERSION } from '../version.js';
import { findCached } from './images.js';
import { PROJECT_IGNORE, sha256Tree } from './sources.js';
import type { ExtensionInfo } from '../exec/types.js';

export interface ExtensionInput {
  plan: VariantPlan;
  runtime: ImageInfo;
  ext: ExtensionBuild;
  config: PydbgConfig;
  projectDir: string;
  /** QEMU variables for an emulated architecture */
  qemuEnv: Record<string, string>;
}

/** Pure: the cache key of an extension build. */
export function extensionKey(runtimeId: string, treeSha: string, script: string, cflags: string): string {
  return contentKey({ schema: KEY_SCHEMA, pydbg: PYDBG_VERSION, runtime: runtimeId, tree: treeSha, script, cflags });
}

export async function ensureExtension(engine: Engine, x: ExtensionInput, signal: AbortSignal, log: (m: string) => void): Promise<ExtensionInfo> {
  const t0 = Date.now();
  const { plan, ext } = x;
  if (ext.kind === 'none') return { kind: 'none', cached: true, image: x.runtime.id, seconds: 0 };
  const cflags = x.config.build?.cflags ?? DEFAULT_EXT_CFLAGS;
  const script = extBuildScript(ext, plan.version.major === 2);
  const key = extensionKey(x.runtime.id, await sha256Tree(x.projectDir, PROJECT_IGNORE), script, cflags);
  const ref = keyedRef(EXT_REPO, key);
  const found = await findCached(engine, 'ext', key, ref);
  if (found) return { kind: ext.kind, cached: true, image: found.id, seconds: (Date.now() - t0) / 1000 };

  log(`building the extension (${ext.kind}) against ${plan.image}`);
  const projectLabel = projectLabelOf(x.projectDir);
  const [repo, tag] = splitRef(ref);
  const out = new TailBuffer(256 * 1024);
  const res = await engine.runContainer(
    {
      image: x.runtime.id,
      cmd: ['sh', '-c', script],
      env: { CFLAGS: cflags, ...x.qemuEnv },
      workdir: PROJECT_MOUNT,
      user: '0:0',
      mounts: [{ source: x.projectDir, target: PROJECT_MOUNT, readOnly: true }],
      networkMode: 'none',
      labels: { [LABEL.kind]: 'ext-build' },
    },
    { stdout: out, stderr: out, signal, commit: { repo, tag, labels: { [LABEL.kind]: 'ext', [LABEL.key]: key, [LABEL.project]: projectLabel, [LABEL.image]: plan.image } } },
  );
  if (res.exitCode !== 0 || !res.committed) {
    if (isExecFormatError(out.text())) throw emulationError(plan.arch, 'the engine could not run an ARM binary (exec format error)');
    const lines = out.text().split('\n').filter(Boolean);
    const errors = lines.filter((l) => /error|Error|undefined reference|fatal|^pydbg: /.test(l)).slice(-20);
    throw new PydbgError(ExitCode.EXT_BUILD, `the extension failed to build against ${plan.image} (exit ${res.exitCode})`, {
      details: errors.length ? errors : lines.slice(-30),
      hint: buildFailureHint(lines, ext.kind),
    });
  }
  // older builds of this project for this image are superseded
  for (const old of await engine.findImages({ [LABEL.project]: projectLabel, [LABEL.image]: plan.image })) {
    if (old.id !== res.committed && old.labels[LABEL.kind] === 'ext') await engine.removeImage(old.id, { force: true }).catch(() => {});
  }
  return { kind: ext.kind, cached: false, image: res.committed, seconds: (Date.now() - t0) / 1000 };
}

/**
 * What to do about a failed build. A missing header or library is almost always a system package
 * the image lacks (Debian's -dev package): say where that goes. Pure.
 */
export function buildFailureHint(lines: readonly string[], kind: string): string {
  const where = `the build ran '${kind}' in a copy of the project at ${BUILD_DIR}`;
  if (lines.some((l) => l.startsWith('pydbg: the build backend ') || l.startsWith('pydbg: meson-python is not installed'))) return `${where}; the backend is a build requirement: list it in python_packages (with a wheelhouse offline), as the line above says`;
  const header = lines.map((l) => /fatal error: ([\w./+-]+\.h(?:pp)?): No such file or directory/.exec(l)?.[1]).find(Boolean);
  if (header) return `${where}; ${header} is missing: add the Debian package that provides it (usually a -dev package) to system_packages in pydbg.yaml`;
  const lib = lines.map((l) => /cannot find -l([\w.+-]+)/.exec(l)?.[1]).find(Boolean);
  if (lib) return `${where}; the library ${lib} is missing: add its Debian -dev package (lib${lib}-dev or similar) to system_packages in pydbg.yaml`;
  if (lines.some((l) => /pkg-config: not found|No such file or directory: 'pkg-config'|pkg-config.*not found/.test(l))) {
    return `${where}; pkg-config is missing: add pkg-config and the library's -dev package to system_packages in pydbg.yaml`;
  }
  return `${where}; fix the errors above and run again`;
}
