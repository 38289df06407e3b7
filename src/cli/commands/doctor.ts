import { execa } from 'execa';
import { ARCHES, resolveArch } from '../../catalogue/arch.js';
import { BINFMT_DIR, describeBinfmt, readBinfmt, registerCommand } from '../../engine/binfmt.js';
import type { Engine } from '../../engine/engine.js';
import { ExitCode, PydbgError, type ExitCodeValue } from '../../errors.js';
import { BASE_UPSTREAM, baseRef, depsRef } from '../../container/refs.js';
import { LABEL } from '../../container/labels.js';
import { writeJson, type CommandResult, type Deps } from '../deps.js';

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  hint?: string;
  exitCode?: ExitCodeValue;
}

/** binfmt_misc state for the ARM targets: registered, enabled, and with the F (fix-binary) flag. */
export async function binfmtStatus(dir = BINFMT_DIR): Promise<Check[]> {
  const out: Check[] = [];
  for (const arch of ARCHES.filter((a) => a.binfmt)) {
    const e = await readBinfmt(arch, dir);
    out.push({
      name: `qemu ${arch.name}`,
      status: e.state === 'ok' ? 'ok' : 'warn',
      detail: `${describeBinfmt(e)}${e.state === 'ok' ? '' : ` (needed only for ${arch.name} variants)`}`,
      hint: e.state === 'ok' ? undefined : `as root: ${registerCommand(arch)}`,
    });
  }
  return out;
}

export async function doctor(o: { json?: boolean }, deps: Pick<Deps, 'engine' | 'stdout'>): Promise<CommandResult> {
  const checks: Check[] = [];
  let engine: Engine | undefined;
  let engineOk = false;
  try {
    // constructing the engine may already fail (an unusable DOCKER_HOST): that is a failed check too
    engine = deps.engine();
    const info = await engine.ping();
    engineOk = true;
    checks.push({ name: 'engine', status: 'ok', detail: `Docker ${info.serverVersion} (API ${info.apiVersion}, ${info.os}/${info.arch}) at ${info.endpoint}` });
    const files = await engine.files();
    checks.push({
      name: 'files',
      status: 'ok',
      detail: files.mode === 'copy'
        ? `copied: the project into each container, reports and --rw writes back out (${files.reason})`
        : `bind-mounted (${files.reason})`,
    });
    const { rootDir, free } = await engine.dataRootFree();
    if (free === undefined) checks.push({ name: 'disk', status: 'warn', detail: `free space under ${rootDir} unknown (${files.remote ? 'the engine is on another machine' : 'remote engine?'})` });
    else {
      const gb = free / 1e9;
      checks.push({
        name: 'disk',
        status: gb < 5 ? 'fail' : gb < 15 ? 'warn' : 'ok',
        detail: `${gb.toFixed(1)} GB free under ${rootDir} (a variant image is ~1 GB; the shared layers ~0.9 GB)`,
        hint: gb < 15 ? "free space: 'pydbg env gc' (superseded builds, old reports), 'pydbg env rm', 'docker system prune'" : undefined,
        exitCode: gb < 5 ? ExitCode.ENGINE : undefined,
      });
    }
  } catch (e) {
    const pe = e as PydbgError;
    // a bad PYDBG_ENGINE_FILES is a usage error, not an engine one
    checks.push({ name: 'engine', status: 'fail', detail: pe.message, hint: pe.hint, exitCode: pe.exitCode === ExitCode.USAGE ? ExitCode.USAGE : ExitCode.ENGINE });
  }

  const amd64 = resolveArch('amd64');
  if (engine && engineOk) {
    const base = await engine.inspectImage(baseRef(amd64));
    const deps = await engine.inspectImage(depsRef(amd64));
    if (base) {
      checks.push({ name: 'base image', status: 'ok', detail: `${baseRef(amd64)} present (${base.labels[LABEL.baseOrigin] ?? 'unknown origin'}; ${BASE_UPSTREAM})` });
    } else {
      const upstream = await engine.inspectImage(BASE_UPSTREAM);
      const deboot = await execa('debootstrap', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }));
      const root = process.getuid?.() === 0;
      if (upstream) checks.push({ name: 'base image', status: 'ok', detail: `${BASE_UPSTREAM} is present locally; it will be adopted` });
      else if (deboot.exitCode === 0 && root) {
        checks.push({ name: 'base image', status: 'ok', detail: `not present; pulled from a registry if one answers, else bootstrapped offline with debootstrap` });
      } else {
        checks.push({
          name: 'base image',
          status: 'warn',
          detail: `not present; a pull of ${BASE_UPSTREAM} is needed (offline bootstrap unavailable: ${deboot.exitCode === 0 ? 'not root' : 'debootstrap not installed'})`,
          hint: 'apt-get install debootstrap (as root), or docker load a debian:bookworm-slim image',
        });
      }
    }
    checks.push({ name: 'toolchain layer', status: deps ? 'ok' : 'warn', detail: deps ? `${depsRef(amd64)} present` : 'not built yet (first env build adds ~1 min of apt)' });
  }
  const binfmt = await binfmtStatus();
  checks.push(...binfmt);
  if (engine && engineOk) {
    // the proof, where an ARM toolchain image exists: run `uname -m` in it
    for (const arch of ARCHES.filter((a) => a.binfmt)) {
      const deps = await engine.inspectImage(depsRef(arch));
      if (!deps) continue;
      const { PassThrough } = await import('node:stream');
      const out = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      const r = await engine
        .runContainer({ image: deps.id, cmd: ['uname', '-m'], networkMode: 'none', labels: { [LABEL.kind]: 'doctor' } }, { stdout: out, stderr: out })
        .catch((e: Error) => ({ exitCode: -1, error: e.message }));
      const ok = r.exitCode === 0 && text.trim() === arch.machine;
      checks.push({
        name: `run ${arch.name}`,
        status: ok ? 'ok' : 'warn',
        detail: ok ? `${depsRef(arch)}: uname -m = ${arch.machine} (emulated)` : `${depsRef(arch)} did not run: ${text.trim().split('\n').pop() || (r as { error?: string }).error || `exit ${r.exitCode}`}`,
        hint: ok ? undefined : `as root: ${registerCommand(arch)}`,
      });
    }
  }

  const failed = checks.find((c) => c.status === 'fail');
  const data = { ok: !failed, checks };
  if (o.json) writeJson(deps.stdout, data);
  else {
    const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
    for (const c of checks) {
      deps.stdout.write(`${mark[c.status]}  ${c.name.padEnd(16)} ${c.detail}\n`);
      if (c.hint && c.status !== 'ok') deps.stdout.write(`      ${''.padEnd(16)} hint: ${c.hint}\n`);
    }
  }
  return { exitCode: failed ? (failed.exitCode ?? ExitCode.ENGINE) : 0, data };
}
