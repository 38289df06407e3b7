/**
 * `pydbg ci github`: the workflow it writes is checked by GitHub's own workflow parser
 * (@actions/workflow-parser: the schema, expressions and the contexts each key may use), and its
 * meaning by reading it back: jobs, needs, permissions, one code-scanning category per cell, the
 * runner and QEMU of each cell, and every pydbg command in it parsed by pydbg's own CLI parser.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { parse as shellParse } from 'shell-quote';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { githubWorkflow, GENERATED_MARK, type GithubOptions, type GithubWorkflow } from '../../src/ci/github.js';
import { github } from '../../src/cli/commands/ci.js';
import { execute } from '../../src/cli/main.js';
import { parseCLI } from '../../src/cli/parse.js';
import { ExitCode, PydbgError } from '../../src/errors.js';
import { parseConfigDoc } from '../../src/project/config-parse.js';
import { PYDBG_VERSION } from '../../src/version.js';
import { tempProject, testDeps } from './cli-helpers.js';

const FILE = '/proj/pydbg.yaml';
const OPTS: GithubOptions = { version: '0.1.0', regenerate: 'pydbg ci github -o .github/workflows/pydbg.yml' };

/**
 * `arches`: pydbg.yaml's arch: as a list (another change lets the schema take one; the generator
 * reads either), set after parsing so these tests do not depend on that change.
 */
function generate(yaml: string, opts: Partial<GithubOptions> = {}, arches?: string[]): GithubWorkflow {
  const loaded = { ...parseConfigDoc(yaml, FILE), path: FILE };
  if (arches) (loaded.config as Record<string, unknown>).arch = arches;
  return githubWorkflow(loaded, { ...OPTS, ...opts });
}

function refusal(yaml: string, opts: Partial<GithubOptions> = {}): PydbgError {
  let err: unknown;
  try {
    generate(yaml, opts);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PydbgError);
  return err as PydbgError;
}

/** GitHub's parser: no schema or expression error, and the jobs it sees. */
async function githubParses(text: string): Promise<string[]> {
  const result = parseWorkflow({ name: 'pydbg.yml', content: text }, new NoOperationTraceWriter());
  expect(result.context.errors.getErrors().map((e) => e.message)).toEqual([]);
  const template = await convertWorkflowTemplate(result.context, result.value!);
  expect(template.errors ?? []).toEqual([]);
  return template.jobs.map((j) => j.id.value);
}

interface Entry {
  python: string;
  variant: string;
  arch: string;
  cell: string;
  runner?: string;
  qemu?: string;
  handoff?: string;
  artifact?: boolean;
}
interface WfStep {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  run?: string;
}
interface WfJob {
  name: string;
  needs?: string;
  'runs-on': string;
  permissions: Record<string, string>;
  strategy: { 'fail-fast': boolean; matrix: { include: Entry[] } };
  steps: WfStep[];
}
interface Wf {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, WfJob>;
}

/** `${{ matrix.x }}` replaced by the entry's value, as the runner does before bash sees the line. */
const expand = (line: string, e: Entry) => line.replace(/\$\{\{ matrix\.(\w+) \}\}/g, (_m, k: string) => String(e[k as keyof Entry]));

/** A pydbg command line of a step, as pydbg's CLI parser reads it (after the shell). */
function pydbgCommand(step: WfStep, e: Entry): ReturnType<typeof parseCLI> {
  const script = step.run!.replace(/^image=\$\(/m, '').replace(/ \| jq -r \.image\)$/m, '');
  const line = script.split('\n').find((l) => l.startsWith('pydbg '))!;
  expect(line, step.name).toBeDefined();
  const words = shellParse(expand(line, e).slice('pydbg '.length));
  expect(words.every((w) => typeof w === 'string'), line).toBe(true);
  return parseCLI(words as string[]);
}

const stepUsing = (job: WfJob, action: string) => job.steps.filter((s) => s.uses?.startsWith(action));

/** What the workflow means, read back; returns it for case-specific checks. */
async function semantics(w: GithubWorkflow, registry?: string, runsOn = 'ubuntu-24.04'): Promise<Wf> {
  const ids = await githubParses(w.text);
  const wf = parseYaml(w.text) as Wf;
  // an if: is an expression already: a `${{ }}` inside it turns it into a string, always true
  for (const job of Object.values(wf.jobs)) for (const s of job.steps) expect(s.if ?? '', s.name).not.toContain('${{');
  expect(w.text.startsWith(`${GENERATED_MARK} 0.1.0 `)).toBe(true);
  expect(w.text).toContain('regenerate it');
  expect(Object.keys(wf.on)).toEqual(['push', 'pull_request', 'workflow_dispatch']);
  expect(wf.permissions).toEqual({ contents: 'read' });
  expect(ids).toEqual(['images', ...w.checks.map((c) => c.id)]);

  const images = wf.jobs.images!;
  const imageCells = images.strategy.matrix.include;
  expect(imageCells.map((e) => e.cell)).toEqual(w.cells.map((c) => c.slug));
  expect(new Set(imageCells.map((e) => e.cell)).size).toBe(imageCells.length);
  expect(images.strategy['fail-fast']).toBe(false);
  expect(images['runs-on']).toBe(runsOn);
  expect(images.permissions).toEqual({ contents: 'read', ...(registry?.startsWith('ghcr.io/') ? { packages: 'write' } : {}) });
  // every image: ARM ones with QEMU, built (or pulled and pushed) by pydbg itself
  for (const e of imageCells) {
    expect(typeof e.python).toBe('string');
    expect(e.cell).not.toContain(',');
    if (e.arch !== 'amd64') expect(e.qemu).toBe(e.arch === 'arm64' ? 'arm64' : 'arm');
    const build = pydbgCommand(images.steps.find((s) => s.id === 'build')!, e);
    expect(build.command).toEqual(['env', 'build']);
    expect(build.options).toMatchObject({ python: e.python, variant: e.variant, arch: e.arch, json: true, ...(registry ? { registry, push: true } : {}) });
  }
  if (registry) expect(stepUsing(images, 'docker/login-action')).toHaveLength(1);

  const categories = new Set<string>();
  for (const c of w.checks) {
    const job = wf.jobs[c.id]!;
    expect(c.id).toMatch(/^[A-Za-z_][A-Za-z0-9_-]*$/);
    expect(job.needs).toBe('images');
    expect(job['runs-on']).toBe('${{ matrix.runner }}');
    expect(job.permissions).toMatchObject({ contents: 'read', 'security-events': 'write' });
    expect(job.permissions.packages === undefined || job.permissions.packages === 'read').toBe(true);
    const entries = job.strategy.matrix.include;
    expect(entries.map((e) => e.cell)).toEqual(c.cells.map((x) => x.slug));
    const check = job.steps.find((s) => s.id === 'check')!;
    const sarif = stepUsing(job, 'github/codeql-action/upload-sarif')[0]!;
    expect(sarif.if).toMatch(/^always\(\) && /);
    expect(job.steps.at(-1)!.if).toMatch(/^always\(\) && steps\.check\.outputs\.code != ''/);
    expect(job.steps.at(-1)!.run).toContain('exit 1');
    expect(check.run).toMatch(/^set \+e\n/);
    for (const e of entries) {
      // each cell's image comes from the images job
      expect(imageCells.some((i) => i.cell === e.cell && i.python === e.python && i.variant === e.variant && i.arch === e.arch), e.cell).toBe(true);
      const category = expand(String(sarif.with!.category), e);
      expect(categories.has(category), category).toBe(false);
      categories.add(category);
      expect(category).toBe(`pydbg-${c.analysis}-${c.repro}-${e.cell}`);
      expect(expand(String(sarif.with!.sarif_file), e)).toBe(`pydbg-${e.cell}.sarif`);
      const cmd = pydbgCommand(check, e);
      expect(cmd.command).toEqual(['check']);
      expect(cmd.args).toEqual({ analysis: c.analysis, repro: [] });
      expect(cmd.options).toMatchObject({ reproName: c.repro, python: e.python, variant: e.variant, arch: e.arch, build: false, sarif: `pydbg-${e.cell}.sarif`, junit: `pydbg-${e.cell}.xml` });
      // a QEMU step for exactly the emulated cells: on the x86-64 runner
      if (e.qemu) expect(e.runner).toBe(runsOn);
      if (e.arch === 'amd64') expect(e.qemu).toBeUndefined();
    }
    const qemu = stepUsing(job, 'docker/setup-qemu-action');
    expect(qemu.length).toBe(entries.some((e) => e.qemu) ? 1 : 0);
    if (qemu[0] && entries.some((e) => !e.qemu)) expect(qemu[0].if).toBe('matrix.qemu');
    // the image: pulled by key from the registry, or the images job's artifact
    const pull = job.steps.find((s) => s.run?.includes('--pull-only'));
    const download = stepUsing(job, 'actions/download-artifact')[0];
    for (const e of entries) {
      const handoff = e.handoff ?? (pull ? 'registry' : 'artifact');
      if (handoff === 'registry') {
        expect(pydbgCommand(pull!, e).options).toMatchObject({ registry, pullOnly: true, python: e.python, variant: e.variant, arch: e.arch });
      } else {
        expect(expand(String(download!.with!.name), e)).toBe(`pydbg-image-${e.cell}`);
        const saved = imageCells.find((i) => i.cell === e.cell)!;
        const save = images.steps.find((s) => s.name === 'save the image')!;
        expect(save.if === undefined || saved.artifact === true).toBe(true);
      }
    }
  }
  return wf;
}

const REPROS = 'repros:\n  leak: python leak.py\n  race: python race.py\n  crash: python crash.py\n';

describe('pydbg ci github: the workflow GitHub parses', () => {
  it('a registry on ghcr.io, ARM under QEMU, a combination variant', async () => {
    const w = generate(`python: ["3.12", "3.13"]\nvariant: [nopymalloc, "tsan,freethreaded"]\narch: arm64\n${REPROS}ci:\n  checks: [memcheck leak, tsan race]\n  registry: ghcr.io/acme/pydbg\n`);
    const wf = await semantics(w, 'ghcr.io/acme/pydbg');
    // arm64 only here: tsan is not offered there, memcheck refuses the tsan build
    expect(w.checks.map((c) => c.id)).toEqual(['check-memcheck-leak']);
    expect(w.cells.map((c) => c.slug)).toEqual(['3.12-nopymalloc-arm64', '3.13-nopymalloc-arm64']);
    expect(w.skipped.some((s) => s.check === 'tsan race' && /not offered for arm64/.test(s.reason))).toBe(true);
    expect(w.text).toMatch(/# Cells left out.*\n#   memcheck leak: 3\.12 tsan,freethreaded arm64: /);
    const job = wf.jobs['check-memcheck-leak']!;
    expect(job.permissions).toEqual({ contents: 'read', 'security-events': 'write', actions: 'read', packages: 'read' });
    expect(job.strategy.matrix.include.every((e) => e.runner === 'ubuntu-24.04' && e.qemu === 'arm64')).toBe(true);
    expect(stepUsing(job, 'docker/login-action')[0]!.with).toEqual({ registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' });
    expect(stepUsing(job, 'actions/download-artifact')).toHaveLength(0);
    expect(stepUsing(wf.jobs.images!, 'actions/upload-artifact')).toHaveLength(0);
  });

  it('no registry: images travel as artifacts; a tsan,freethreaded cell is quoted nowhere and named with +', async () => {
    const w = generate(`python: "3.13"\nvariant: ["tsan,freethreaded", debug]\n${REPROS}ci:\n  checks: [tsan race, leaks leak]\n`);
    const wf = await semantics(w);
    expect(w.cells.map((c) => c.slug)).toEqual(['3.13-tsan+freethreaded-amd64', '3.13-debug-amd64']);
    expect(wf.jobs['check-tsan-race']!.strategy.matrix.include).toEqual([{ python: '3.13', variant: 'tsan,freethreaded', arch: 'amd64', cell: '3.13-tsan+freethreaded-amd64', runner: 'ubuntu-24.04' }]);
    expect(w.checks.find((c) => c.id === 'check-tsan-race')!.cells[0]!.category).toBe('pydbg-tsan-race-3.13-tsan+freethreaded-amd64');
    const upload = stepUsing(wf.jobs.images!, 'actions/upload-artifact')[0]!;
    expect(upload.if).toBeUndefined();
    expect(upload.with).toMatchObject({ name: 'pydbg-image-${{ matrix.cell }}', path: 'pydbg-image.tar' });
    expect(wf.jobs.images!.steps.find((s) => s.name === 'save the image')!.run).toBe('docker save -o pydbg-image.tar "$IMAGE"');
    expect(wf.jobs.images!.permissions).toEqual({ contents: 'read' });
    expect(w.text).not.toContain('secrets.');
    // TSan needs the runner's mmap randomisation lowered: for its cells only
    const sysctl = (job: WfJob) => job.steps.filter((s) => s.run === 'sudo sysctl -w vm.mmap_rnd_bits=28');
    expect(sysctl(wf.jobs.images!)[0]!.if).toBe("contains(matrix.variant, 'tsan') || contains(matrix.variant, 'asan')");
    expect(sysctl(wf.jobs['check-tsan-race']!)[0]!.if).toBeUndefined();
    expect(sysctl(wf.jobs['check-leaks-leak']!)).toEqual([]);
  });

  it('--arm-runners native: arm64 on arm64 runners without QEMU, armv7 under QEMU on x86-64 (said so)', async () => {
    const w = generate(`python: "3.13"\nvariant: nopymalloc\n${REPROS}ci:\n  checks: [memcheck leak]\n`, { armRunners: 'native' }, ['amd64', 'arm64', 'armv7']);
    const wf = await semantics(w);
    expect(wf.jobs['check-memcheck-leak']!.strategy.matrix.include).toEqual([
      { python: '3.13', variant: 'nopymalloc', arch: 'amd64', cell: '3.13-nopymalloc-amd64', runner: 'ubuntu-24.04' },
      { python: '3.13', variant: 'nopymalloc', arch: 'arm64', cell: '3.13-nopymalloc-arm64', runner: 'ubuntu-24.04-arm' },
      { python: '3.13', variant: 'nopymalloc', arch: 'armv7', cell: '3.13-nopymalloc-armv7', runner: 'ubuntu-24.04', qemu: 'arm' },
    ]);
    // the images job builds every ARM image on x86-64, under QEMU
    expect(wf.jobs.images!.strategy.matrix.include.map((e) => e.qemu)).toEqual([undefined, 'arm64', 'arm']);
    expect(w.notes.join('\n')).toMatch(/armv7 cells run under QEMU on the x86-64 runner with --arm-runners native too/);
    expect(w.text).toContain('#   armv7 cells run under QEMU');
    // the same from pydbg.yaml, and the flag wins over it
    const fromFile = generate(`python: "3.13"\nvariant: nopymalloc\n${REPROS}ci:\n  checks: [memcheck leak]\n  arm_runners: native\n  arm_runs_on: my-arm-runner\n`, {}, ['amd64', 'arm64', 'armv7']);
    await semantics(fromFile);
    expect(fromFile.checks[0]!.cells[1]!.runner).toBe('my-arm-runner');
    const overridden = generate(`python: "3.13"\nvariant: nopymalloc\narch: arm64\n${REPROS}ci:\n  checks: [memcheck leak]\n  arm_runners: native\n`, { armRunners: 'qemu' });
    expect(overridden.checks[0]!.cells[0]).toMatchObject({ runner: 'ubuntu-24.04', qemu: 'arm64', emulated: true });
  });

  it('a registry with native arm64 runners: those cells take the artifact, the others pull by key', async () => {
    const w = generate(`python: "3.13"\nvariant: nopymalloc\n${REPROS}ci:\n  checks: [memcheck leak]\n  registry: registry.example.com:5000/team/pydbg\n`, { armRunners: 'native' }, ['amd64', 'arm64']);
    const wf = await semantics(w, 'registry.example.com:5000/team/pydbg');
    const job = wf.jobs['check-memcheck-leak']!;
    expect(job.strategy.matrix.include.map((e) => [e.cell, e.handoff])).toEqual([['3.13-nopymalloc-amd64', 'registry'], ['3.13-nopymalloc-arm64', 'artifact']]);
    expect(job.steps.find((s) => s.run?.includes('--pull-only'))!.if).toBe("matrix.handoff == 'registry'");
    expect(stepUsing(job, 'actions/download-artifact')[0]!.if).toBe("matrix.handoff == 'artifact'");
    // only the arm64 image is saved; every image is pushed
    expect(wf.jobs.images!.strategy.matrix.include.map((e) => e.artifact)).toEqual([undefined, true]);
    expect(stepUsing(wf.jobs.images!, 'actions/upload-artifact')[0]!.if).toBe('matrix.artifact');
    // another registry than ghcr.io: credentials from secrets, no packages permission
    expect(stepUsing(job, 'docker/login-action')[0]!.with).toEqual({ registry: 'registry.example.com:5000', username: '${{ secrets.REGISTRY_USERNAME }}', password: '${{ secrets.REGISTRY_PASSWORD }}' });
    expect(wf.jobs.images!.permissions).toEqual({ contents: 'read' });
    expect(job.permissions.packages).toBeUndefined();
    expect(w.text).toContain('# Secrets: REGISTRY_USERNAME and REGISTRY_PASSWORD');
  });

  it('cells the catalogue or the analysis refuses are left out and listed; an analysis falls back to its own variant', async () => {
    const w = generate(`python: ["2.7", "3.13"]\nvariant: [debug, asan]\n${REPROS}ci:\n  checks: [memcheck leak, asan crash, tsan race]\n`, {}, ['amd64', 'arm64']);
    await semantics(w);
    const left = w.skipped.map((s) => `${s.check} ${s.python} ${s.variant} ${s.arch}`);
    expect(left).toEqual(expect.arrayContaining(['memcheck leak 2.7 debug arm64', 'memcheck leak 3.13 asan amd64', 'asan crash 3.13 asan arm64', 'tsan race 3.13 debug amd64']));
    // tsan runs on none of pydbg.yaml's variants: its own tsan,freethreaded, as pydbg check would
    expect(w.checks.find((c) => c.analysis === 'tsan')!.cells.map((c) => c.slug)).toEqual(['3.13-tsan+freethreaded-amd64']);
    expect(w.notes.join('\n')).toMatch(/tsan race: none of pydbg\.yaml's variants can run tsan/);
    expect(w.checks.find((c) => c.analysis === 'asan')!.cells.map((c) => c.slug)).toEqual(['3.13-asan-amd64']);
    // one image per (version, variant, arch), however many checks use it
    expect(new Set(w.cells.map((c) => c.image)).size).toBe(w.cells.length);
  });

  it('a board, -C and --config reach every command; branches and the pydbg spec come from ci:', async () => {
    const w = generate(`python: "3.13"\nvariant: nopymalloc\nboard: rpi4\n${REPROS}ci:\n  checks: [memcheck leak]\n  branches: [main, release]\n  pydbg: github:acme/pydbg#v0.1.0\n  node: "22"\n  runs_on: ubuntu-22.04\n`, { project: 'ext', config: 'ext/ci.yaml' });
    const wf = await semantics(w, undefined, 'ubuntu-22.04');
    const job = wf.jobs['check-memcheck-leak']!;
    const cmd = pydbgCommand(job.steps.find((s) => s.id === 'check')!, job.strategy.matrix.include[0]!);
    expect(cmd.options).toMatchObject({ project: 'ext', config: 'ext/ci.yaml', board: 'rpi4', arch: 'arm64' });
    expect(pydbgCommand(wf.jobs.images!.steps.find((s) => s.id === 'build')!, job.strategy.matrix.include[0]!).options).toMatchObject({ board: 'rpi4' });
    expect(wf.on.push).toEqual({ branches: ['main', 'release'] });
    expect(job.steps.find((s) => s.name === 'install pydbg')!.run).toBe("npm install -g 'github:acme/pydbg#v0.1.0'");
    expect(job.steps.find((s) => s.uses === 'actions/setup-node@v4')!.with).toEqual({ 'node-version': '22' });
    expect(w.text).toContain('runs-on: ubuntu-22.04');
    expect(w.text).toContain('from ext/ci.yaml');
  });

  it("README's pydbg.yaml example makes a workflow GitHub parses", async () => {
    const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const example = /### pydbg\.yaml[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    const w = generate(example);
    await semantics(w, 'ghcr.io/acme/pydbg');
    expect(w.checks.map((c) => c.id)).toEqual(['check-memcheck-leak', 'check-leaks-leak']);
  });

  it('is deterministic, and by default installs this pydbg', () => {
    const yaml = `python: ["3.11", "3.13"]\nvariant: [debug, nopymalloc]\n${REPROS}ci:\n  checks: [memcheck leak, leaks leak]\n`;
    expect(generate(yaml).text).toBe(generate(yaml).text);
    expect(generate(yaml, { version: PYDBG_VERSION }).text).toContain(`run: npm install -g pydbg@${PYDBG_VERSION}`);
  });
});

describe('pydbg ci github: what it refuses', () => {
  it('no ci.checks (or no pydbg.yaml): exit 10 with an example', () => {
    const e = refusal(`${REPROS}`);
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toBe(`${FILE}: ci.checks: missing: nothing for CI to run`);
    expect(e.hint).toMatch(/ci: \{checks: \['memcheck crash'\]\}/);
    const none = (() => {
      try {
        githubWorkflow({ config: {} }, OPTS);
      } catch (x) {
        return x as PydbgError;
      }
    })()!;
    expect(none.exitCode).toBe(ExitCode.CONFIG);
    expect(none.message).toMatch(/no pydbg\.yaml: nothing for CI to run/);
  });

  it.each([
    [`${REPROS}ci:\n  checks: [memchek leak]\n`, "3:"],
    [`${REPROS}ci:\n  checks:\n    - memcheck leak\n    - memchek leak\n`, '8:7: ci.checks[1]: unknown analysis'],
  ])('an unknown analysis is named at its line: %j', (yaml, where) => {
    const e = refusal(yaml);
    expect(e.exitCode).toBe(ExitCode.CONFIG);
    expect(e.message).toContain(where.includes('ci.checks') ? `${FILE}:${where}` : 'unknown analysis');
    expect(e.hint).toMatch(/did you mean 'memcheck'\?/);
  });

  it('an unknown repro, a malformed entry, a repeated check, an unknown ci field, a bad registry: at file:line', () => {
    const repro = refusal(`${REPROS}ci:\n  checks:\n    - memcheck lek\n`);
    expect(repro.message).toBe(`${FILE}:7:7: ci.checks[0]: no repro named 'lek' under repros:`);
    expect(repro.hint).toMatch(/did you mean 'leak'\? repros: leak, race, crash/);
    expect(refusal(`ci:\n  checks: [memcheck leak]\n`).hint).toMatch(/add it under repros:/);
    const malformed = refusal(`${REPROS}ci:\n  checks:\n    - memcheck\n`);
    expect(malformed.exitCode).toBe(ExitCode.CONFIG);
    expect(malformed.message).toMatch(/:7:7: ci\.checks\.0: must be 'ANALYSIS REPRO'/);
    const twice = refusal(`${REPROS}ci:\n  checks:\n    - memcheck leak\n    - memcheck  leak\n`);
    expect(twice.message).toMatch(/:8:7: ci\.checks\[1\]: 'memcheck leak' repeats ci\.checks\[0\]/);
    const field = refusal(`${REPROS}ci:\n  checks: [memcheck leak]\n  arm_runner: native\n`);
    expect(field.message).toMatch(/:7:3: ci\.arm_runner: unknown field/);
    expect(field.hint).toMatch(/did you mean 'arm_runners'\?/);
    const mode = refusal(`${REPROS}ci:\n  checks: [memcheck leak]\n  arm_runners: arm\n`);
    expect(mode.message).toMatch(/ci\.arm_runners: must be one of: qemu, native/);
    const registry = refusal(`${REPROS}ci:\n  checks: [memcheck leak]\n  registry: https://ghcr.io/acme\n`);
    expect(registry.exitCode).toBe(ExitCode.CONFIG);
    expect(registry.message).toMatch(/:7:13: ci\.registry: --registry 'https:\/\/ghcr\.io\/acme': give the repository prefix without a scheme/);
    const arch = refusal(`arch: riscv\n${REPROS}ci:\n  checks: [memcheck leak]\n`);
    expect(arch.message).toMatch(/:1:7: arch: unknown architecture 'riscv'/);
  });

  it('no cell can run: exit 17 with each refusal', () => {
    const e = refusal(`python: "3.13"\narch: arm64\n${REPROS}ci:\n  checks: [tsan race]\n`);
    expect(e.exitCode).toBe(ExitCode.NO_CELL);
    expect(e.details.join('\n')).toMatch(/tsan race: 3\.13 debug arm64: the debug build is not built with ThreadSanitizer|tsan race: 3\.13 tsan,freethreaded arm64: variant 'tsan' is not offered for arm64/);
  });
});

describe('pydbg ci github: the command', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  const project = async () => {
    const p = await tempProject({ 'pydbg.yaml': `python: "3.13"\nvariant: [nopymalloc, debug]\narch: armv7\n${REPROS}ci:\n  checks: [memcheck leak]\n` });
    cleanups.push(p.cleanup);
    await mkdir(join(p.dir, '.git'));
    return p.dir;
  };

  it('prints the workflow on stdout and notes on stderr; needs no engine', async () => {
    const dir = await project();
    const t = testDeps(undefined, { cwd: dir });
    const r = await github({ project: '.' }, t.deps);
    expect(r.exitCode).toBe(0);
    expect(t.engineCalls()).toBe(0);
    expect(t.stdout.text()).toMatch(/^# Generated by pydbg /);
    expect(t.stdout.text()).toContain('regenerate it (at the repository\'s root) with: pydbg ci github > THIS_FILE');
    await githubParses(t.stdout.text());
    // through main: the table routes 'ci github' here
    const m = testDeps(undefined, { cwd: dir });
    expect(await execute(['ci', 'github', '-C', dir, '--arm-runners', 'native'], { stdout: m.stdout, stderr: m.stderr, deps: m.deps })).toBe(0);
    expect(m.stdout.text()).toContain('runner: ubuntu-24.04\n            qemu: arm');
    expect(m.stderr.text()).toMatch(/pydbg: note: armv7 cells run under QEMU/);
  });

  it('-o writes the file (directories made), rewrites its own, keeps a foreign one unless --force', async () => {
    const dir = await project();
    const t = testDeps(undefined, { cwd: dir });
    const out = '.github/workflows/pydbg.yml';
    await github({ project: '.', output: out }, t.deps);
    const first = await readFile(join(dir, out), 'utf8');
    expect(first).toContain('regenerate it (at the repository\'s root) with: pydbg ci github -o .github/workflows/pydbg.yml');
    expect(t.stderr.text()).toMatch(/wrote \.github\/workflows\/pydbg\.yml: 2 images, 1 check job \(2 cells\)/);
    await githubParses(first);
    // pydbg's own file is replaced without --force
    await github({ project: '.', output: out, armRunners: 'native' }, t.deps);
    expect(await readFile(join(dir, out), 'utf8')).toContain('--arm-runners native -o .github/workflows/pydbg.yml');
    // a hand-written workflow is kept
    await writeFile(join(dir, out), 'name: mine\n');
    const e = (await github({ project: '.', output: out }, t.deps).catch((x: unknown) => x)) as PydbgError;
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(e.message).toBe("'.github/workflows/pydbg.yml' exists and pydbg did not write it");
    expect(e.hint).toMatch(/--force/);
    expect(await readFile(join(dir, out), 'utf8')).toBe('name: mine\n');
    await github({ project: '.', output: out, force: true }, t.deps);
    expect(await readFile(join(dir, out), 'utf8')).toMatch(/^# Generated by pydbg/);
  });

  it('paths are relative to the repository root: -C from a parent, --config', async () => {
    const dir = await project();
    await mkdir(join(dir, 'ext'));
    await writeFile(join(dir, 'ext', 'pydbg.yaml'), `variant: nopymalloc\n${REPROS}ci:\n  checks: [memcheck leak]\n`);
    const t = testDeps(undefined, { cwd: join(dir, 'ext') });
    await github({ project: '.', output: '../.github/workflows/pydbg.yml' }, t.deps);
    const text = await readFile(join(dir, '.github/workflows/pydbg.yml'), 'utf8');
    expect(text).toContain('pydbg check memcheck --repro leak -C ext --python');
    expect(text).toContain('pydbg ci github -C ext -o .github/workflows/pydbg.yml');
    await githubParses(text);
  });
});
