/**
 * `pydbg run` / `shell` (and every analysis): for each target of the resolved project, provision
 * the images (variant → project packages → extension build), run the command in a container, and
 * capture a crash. This module only orchestrates; the pieces live in provision/ and exec/.
 */
import type { EngineInfo, ImageInfo } from '../engine/engine.js';
import { archOfEngine } from '../catalogue/arch.js';
import { emulationError, isExecFormatError, requireEmulation } from '../engine/binfmt.js';
import { copyNote } from '../engine/files.js';
import { PROJECT_MOUNT } from '../container/layout.js';
import { isCommandNotFound } from '../container/protocol.js';
import { ExitCode, PydbgError } from '../errors.js';
import { withTimeout } from '../timeout.js';
import { allocatorSetup } from '../catalogue/allocators.js';
import type { ResolvedProject, Target } from '../project/project.js';
import { ensureExtension } from '../provision/extension.js';
import { ensureRuntime } from '../provision/runtime.js';
import { ensureVariant } from '../provision/variant.js';
import { captureCrash } from './capture.js';
import { containerUser, runAttached, runSpec } from './container.js';
import { isCrash, signalOf } from './crash.js';
import { mapNameConflict, requireNameFree } from './live.js';
import type { ContainerSpec, Engine } from '../engine/engine.js';
import type { VariantPlan } from '../project/plan.js';
import type { Progress } from '../provision/variant.js';
import type { ExtensionInfo, RunIO, RunRequest, RunResult } from './types.js';

export type { RunIO, RunRequest, RunResult } from './types.js';

/** Run the request in every target in order; stop at the first that fails. */
export async function runProject(project: ResolvedProject, req: RunRequest, io: RunIO): Promise<RunResult[]> {
  if (!req.shell && req.argv.length === 0) throw new PydbgError(ExitCode.USAGE, 'no command given', { hint: 'pydbg run [options] -- python repro.py' });
  if (req.name && project.targets.length > 1) {
    throw new PydbgError(ExitCode.USAGE, `--name ${req.name} names one container, but the project has ${project.targets.length} targets`, { hint: 'choose one with --python and --variant' });
  }
  const engineInfo = await io.engine.ping();
  if (req.name) await requireNameFree(io.engine, req.name);
  await announceCopies(io);
  for (const n of project.notes ?? []) io.progress.log(`note: ${n}`);
  const results: RunResult[] = [];
  for (const t of project.targets) {
    if (project.targets.length > 1) io.progress.log(`=== CPython ${t.plan.version.text}, variant ${t.plan.spec.variants.join(',')}${t.plan.arch.name !== t.plan.host.name ? `, ${t.plan.arch.name}` : ''}`);
    const r = await runTarget(project, t, req, io, engineInfo);
    results.push(r);
    if (r.exitCode !== 0) break;
  }
  return results;
}

/** Engines whose copy mode was announced already (a check's follow-ups run on the same one). */
const announced = new WeakSet<object>();

/** Once per engine: an engine that gets copies of the project (not this machine's files) says so. */
async function announceCopies(io: RunIO): Promise<void> {
  const files = await io.engine.files();
  if (files.mode !== 'copy' || announced.has(io.engine)) return;
  announced.add(io.engine);
  io.progress.log(copyNote(files));
}

async function runTarget(project: ResolvedProject, target: Target, req: RunRequest, io: RunIO, engineInfo: EngineInfo): Promise<RunResult> {
  const { engine, progress } = io;
  const { plan, ext } = target;
  if (target.note) progress.log(`note: ${target.note}`);
  // ARM on an x86-64 engine: every process runs under qemu-user (binfmt_misc); gdb cannot ptrace
  // there, so gdb-run.sh drives QEMU's gdb stub instead; a board fixes the emulated CPU model.
  const emulated = archOfEngine(engineInfo.arch)?.name !== plan.arch.name;
  if (emulated) {
    await requireEmulation(plan.arch, engineInfo.arch, engineInfo.endpoint);
    progress.log(`${plan.arch.name} under QEMU user emulation${plan.board ? `: board ${plan.board.name}, CPU ${plan.board.cpu}` : ''}`);
  }
  const qemuEnv: Record<string, string> = {
    ...(emulated ? { PYDBG_QEMU_GDB: '1' } : {}),
    ...(emulated && plan.board ? { QEMU_CPU: plan.board.cpu } : {}),
  };

  const variant = await ensureVariant(plan, { engine, progress, signal: io.signal }, req.buildMissing !== false);
  // the time limit starts now: building a missing variant image is not what it limits
  const t = withTimeout(io.signal, req.timeoutSeconds, (s) => `the command ran longer than ${s} s`, RUN_TIMEOUT_HINT);
  try {
    return await runInVariant(project, target, req, { ...io, signal: t.signal }, variant, emulated, qemuEnv);
  } finally {
    t.clear();
  }
}

/** What a run's timeout leaves: the container, not a build. */
export const RUN_TIMEOUT_HINT = "the container was stopped and removed; give it longer with --timeout SECONDS (or pydbg.yaml's timeout:)";

async function runInVariant(project: ResolvedProject, target: Target, req: RunRequest, io: RunIO, variant: ImageInfo, emulated: boolean, qemuEnv: Record<string, string>): Promise<RunResult> {
  const { engine, progress } = io;
  const { plan, ext } = target;
  // --malloc jemalloc|tcmalloc: Debian's library in the derived image, preloaded (the user's -e wins)
  const alloc = allocatorSetup(req.malloc ?? 'glibc', plan.arch);
  const extra = [...alloc.packages, ...(req.extraPackages ?? [])].filter((p) => !(project.config.system_packages ?? []).includes(p));
  const config = extra.length ? { ...project.config, system_packages: [...(project.config.system_packages ?? []), ...new Set(extra)] } : project.config;
  if (req.malloc && req.malloc !== 'glibc') req = { ...req, env: { ...alloc.env, ...(req.env ?? {}) } };
  const runtime = await ensureRuntime(engine, plan, variant, config, project.dir, io);
  const started = Date.now();
  const extension = await ensureExtension(engine, { plan, runtime, ext, config: project.config, projectDir: project.dir, qemuEnv }, io.signal, (m) => progress.log(m));
  progress.log(
    extension.kind === 'none'
      ? `no extension to build (${ext.kind === 'none' ? ext.reason : ''}); running in ${plan.image}`
      : `extension (${extension.kind}) ${extension.cached ? 'unchanged: reusing the cached build' : `built in ${extension.seconds.toFixed(1)} s`}`,
  );

  const interactive = Boolean(req.shell || (req.gdb && io.tty));
  const spec = runSpec({
    plan, ext, image: extension.image, req, projectDir: project.dir,
    user: req.user ?? (await containerUser(project.dir, Boolean(req.rw))),
    qemuEnv, configEnv: project.config.env, configNetwork: project.config.network,
    interactive, tty: Boolean(io.tty),
  });
  if (req.detach) return startDetached(engine, spec, { req, plan, image: extension.image, extension, progress });
  const batchGdb = Boolean(req.gdb && !interactive && !req.shell);
  let out: Awaited<ReturnType<typeof runAttached>>;
  try {
    out = await runAttached(engine, spec, io, batchGdb);
  } catch (e) {
    throw mapNameConflict(e, req.name);
  }
  const durationSeconds = (Date.now() - started) / 1000;
  if (emulated && isExecFormatError(out.stderrTail.slice(-4000))) throw emulationError(plan.arch, 'the engine could not run an ARM binary (exec format error)');
  const argv = req.shell ? ['bash'] : req.argv;
  if (isCommandNotFound(out.exitCode, out.stderrTail)) {
    throw new PydbgError(ExitCode.COMMAND_NOT_FOUND, `command not found in the container: ${argv[0]}`, {
      hint: `the image has python (${plan.version.text}), pip, gcc, gdb and valgrind on PATH; project files are under ${PROJECT_MOUNT}`,
    });
  }
  const result: RunResult = {
    command: argv,
    image: extension.image,
    python: plan.version.text,
    variant: plan.spec.variants.join(','),
    exitCode: out.exitCode,
    signal: signalOf(out.exitCode) ?? null,
    durationSeconds,
    extension,
    ...(req.name ? { name: req.name } : {}),
  };
  if (isCrash(out.exitCode) && !req.shell && !(req.gdb && interactive)) {
    result.crash = await captureCrash(
      {
        spec,
        argv: req.crashArgv ?? argv,
        signal: result.signal,
        stderrTail: out.stderrTail,
        gdbText: batchGdb ? out.gdbText : undefined,
        coreDir: req.core && req.rw ? project.dir : undefined,
        startedAt: started,
      },
      io,
    );
  }
  return result;
}

/**
 * --detach: start the named container and return. The engine does not auto-remove it: a program
 * that exits stays (exited) for `pydbg ps` to show and `pydbg stop` to report and remove.
 */
async function startDetached(engine: Engine, spec: ContainerSpec, d: { req: RunRequest; plan: VariantPlan; image: string; extension: ExtensionInfo; progress: Progress }): Promise<RunResult> {
  let id: string;
  try {
    ({ id } = await engine.startContainer({ ...spec, tty: false, stdin: false }));
  } catch (e) {
    throw mapNameConflict(e, d.req.name);
  }
  d.progress.log(`started ${d.req.name} in the background: pydbg stacks ${d.req.name} | pydbg inject ${d.req.name} -c CODE | pydbg core ${d.req.name} | pydbg stop ${d.req.name}`);
  return {
    command: d.req.argv, image: d.image, python: d.plan.version.text, variant: d.plan.spec.variants.join(','), exitCode: 0, signal: null, durationSeconds: 0,
    extension: d.extension, name: d.req.name, detached: true, containerId: id,
  };
}
