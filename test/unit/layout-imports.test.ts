/**
 * The extension build records what it produced, and the run puts pydbg's import redirection on
 * PYTHONPATH (src/project/imports.ts): the build script and the run's environment. The Python side
 * (the manifest and the finder) is tested with real interpreters in layout-python.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSpec } from '../../src/exec/container.js';
import { extBuildScript, type ExtensionBuild } from '../../src/project/detect.js';
import { BUILD_MANIFEST, BUILD_STAMP, CHECKPOINT_DIR, IMPORT_SITE, runPythonPath } from '../../src/project/imports.js';
import type { VariantPlan } from '../../src/project/plan.js';
import type { RunRequest } from '../../src/exec/types.js';
import { RUN_HELPERS } from '../../src/container/layout.js';

const KINDS: ExtensionBuild[] = [
  { kind: 'setup.py', marker: 'setup.py' },
  { kind: 'pyproject', marker: 'pyproject.toml' },
  { kind: 'meson', marker: 'meson.build' },
  { kind: 'command', command: 'make -C ext && pip install --no-deps .' },
  { kind: 'sources', sources: ['a.c'], module: 'm', libraries: [], includeDirs: [] },
];
const NONE: ExtensionBuild = { kind: 'none', reason: 'nothing to build' };
const manifestPy = readFileSync(join(RUN_HELPERS, 'pydbg_manifest.py'), 'utf8').trimEnd();

describe('extBuildScript records what the build produced', () => {
  it.each(KINDS.map((k) => [k.kind, k] as const))('%s: stamp before the build, manifest after it, then the copy made readable', (_, ext) => {
    for (const py2 of [false, true]) {
      const lines = extBuildScript(ext, py2).split('\n');
      const stamp = lines.indexOf(`touch ${BUILD_STAMP}`);
      const record = lines.findIndex((l) => l.startsWith(`python - '${BUILD_MANIFEST}'`));
      expect(stamp).toBeGreaterThan(lines.findIndex((l) => l.includes('tar -xf -')));
      expect(record).toBeGreaterThan(stamp);
      // in-place kinds keep BUILD_DIR (and src/) on sys.path; pip-installing kinds do not
      const inplace = ext.kind === 'setup.py' || ext.kind === 'sources' || ext.kind === 'command' ? '1' : '0';
      expect(lines[record]).toBe(
        `python - '${BUILD_MANIFEST}' '/pydbg/build' '/src' '${BUILD_STAMP}' '${ext.kind}' '${inplace}' <<'PYDBG_MANIFEST_EOF' || echo "pydbg: could not record what the build produced (${BUILD_MANIFEST})" >&2`,
      );
      expect(lines[record - 1]).toBe('cd /pydbg/build'); // a build command may have changed directory
      // the script is embedded verbatim (a change to it changes the cache key, so it rebuilds)
      const end = lines.indexOf('PYDBG_MANIFEST_EOF');
      expect(lines.slice(record + 1, end).join('\n')).toBe(manifestPy);
      expect(lines.slice(end + 1)).toEqual(['chmod -R go+rX /pydbg/build 2>/dev/null || true']);
    }
  });

  it('the build steps themselves are unchanged', () => {
    expect(extBuildScript(KINDS[0]!, false)).toContain('\npython setup.py build_ext --inplace\n');
    expect(extBuildScript(KINDS[1]!, false)).toContain('\npython -m pip install --no-deps --no-build-isolation --no-index .\n');
    expect(extBuildScript(KINDS[1]!, true)).toContain('\npython -m pip install --no-deps .\n');
    expect(extBuildScript(KINDS[3]!, false)).toContain('\nmake -C ext && pip install --no-deps .\n');
    expect(extBuildScript(KINDS[4]!, false)).toContain('\npython .pydbg_setup.py build_ext --inplace\n');
  });

  it('nothing to build: nothing to record', () => {
    expect(extBuildScript(NONE, false)).toBe('true');
  });

  it('every script is valid sh (sh -n)', () => {
    for (const ext of KINDS) {
      const r = spawnSync('sh', ['-n', '-c', extBuildScript(ext, false)], { encoding: 'utf8' });
      expect(r.status, `${ext.kind}: ${r.stderr}`).toBe(0);
    }
  });
});

describe('the run environment: pydbg\'s sitecustomize first on PYTHONPATH', () => {
  const plan = { version: { text: '3.13.5' }, spec: { variants: ['debug'] }, image: 'pydbg/cpython:3.13.5-debug-amd64' } as unknown as VariantPlan;
  const spec = (ext: ExtensionBuild, req: Partial<RunRequest> = {}, configEnv?: Record<string, string>) =>
    runSpec({ plan, ext, image: 'img', req: { argv: ['python', 'repro.py'], ...req }, projectDir: '/p', user: '1000:1000', qemuEnv: {}, configEnv, interactive: false, tty: false });

  it('an extension: PYTHONPATH is the site directory (the build roots come from the manifest at run time)', () => {
    expect(IMPORT_SITE).toBe('/opt/pydbg-run/site');
    for (const ext of KINDS) expect(spec(ext).env.PYTHONPATH).toBe(`${IMPORT_SITE}:${CHECKPOINT_DIR}`);
  });

  it('PYTHONPATH from pydbg.yaml or -e is added after it, not instead of it', () => {
    expect(spec(KINDS[0]!, {}, { PYTHONPATH: '/src/lib' }).env.PYTHONPATH).toBe(`${IMPORT_SITE}:/src/lib:${CHECKPOINT_DIR}`);
    expect(spec(KINDS[0]!, { env: { PYTHONPATH: '/a:/b' } }, { PYTHONPATH: '/src/lib' }).env.PYTHONPATH).toBe(`${IMPORT_SITE}:/a:/b:${CHECKPOINT_DIR}`);
    expect(spec(KINDS[0]!, { env: { PYTHONPATH: `${IMPORT_SITE}:/a` } }).env.PYTHONPATH).toBe(`${IMPORT_SITE}:/a:${CHECKPOINT_DIR}`);
  });

  it('no extension: nothing to redirect, PYTHONPATH is the user\'s, then pydbg_checkpoint', () => {
    expect(spec(NONE).env.PYTHONPATH).toBe(CHECKPOINT_DIR);
    expect(spec(NONE, { env: { PYTHONPATH: '/a' } }).env.PYTHONPATH).toBe(`/a:${CHECKPOINT_DIR}`);
  });

  it('runPythonPath keeps empty entries (the current directory) and drops a repeated site directory', () => {
    expect(runPythonPath(KINDS[0]!, undefined)).toBe(`${IMPORT_SITE}:${CHECKPOINT_DIR}`);
    expect(runPythonPath(KINDS[0]!, ':/x')).toBe(`${IMPORT_SITE}::/x:${CHECKPOINT_DIR}`);
    expect(runPythonPath(NONE, undefined)).toBe(CHECKPOINT_DIR);
  });

  it('the helpers mount carries the site directory and the manifest script', () => {
    const r = spec(KINDS[0]!);
    expect(r.mounts).toContainEqual({ source: RUN_HELPERS, target: '/opt/pydbg-run', readOnly: true });
    expect(readFileSync(join(RUN_HELPERS, 'site', 'sitecustomize.py'), 'utf8')).toContain(`os.environ.get('PYDBG_MANIFEST', '${BUILD_MANIFEST}')`);
  });
});
