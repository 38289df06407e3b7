import { describe, expect, it } from 'vitest';
import { keyedRef, splitRef, userImageRef, variantTag } from '../../src/container/refs.js';
import { finishArgs, parseProbeLine, PROBE_PREFIX, isCommandNotFound, EXEC_NOT_FOUND } from '../../src/container/protocol.js';
import { planVariant } from '../../src/project/plan.js';

describe('image references', () => {
  it('short names users type map to the tag planVariant gives, -emu and -xHASH included', () => {
    expect(userImageRef('3.13.5-debug')).toBe('pydbg/cpython:3.13.5-debug-amd64');
    expect(userImageRef('3.13.5-debug-arm64')).toBe('pydbg/cpython:3.13.5-debug-arm64');
    const emu = planVariant({ variant: 'debug', python: '3.13', arch: 'arm64', buildMode: 'emulated' });
    expect(userImageRef('3.13.5-debug-arm64-emu')).toBe(emu.image);
    expect(userImageRef('3.13.5-debug,trace-refs-x0123abcd')).toBe('pydbg/cpython:3.13.5-debug,trace-refs-amd64-x0123abcd');
    const custom = planVariant({ variant: 'debug', python: '3.13', configureArgs: ['--enable-shared'] });
    expect(userImageRef(custom.image.replace('pydbg/cpython:', '').replace('-amd64', ''))).toBe(custom.image);
    for (const ref of ['pydbg/cpython:3.13.5-debug-amd64', 'sha256:0123456789ab', '0123456789abcdef']) expect(userImageRef(ref)).toBe(ref);
  });
  it('tags compose one way', () => {
    expect(variantTag({ version: '3.13.5', slug: 'debug', arch: 'arm64', emulated: true, suffix: '' })).toBe('3.13.5-debug-arm64-emu');
    expect(keyedRef('pydbg/ext', 'abcdef0123456789ffff')).toBe('pydbg/ext:abcdef0123456789');
    expect(splitRef('localhost:5000/pydbg/ext:abc')).toEqual(['localhost:5000/pydbg/ext', 'abc']);
  });
});

describe('the protocol with the in-image scripts', () => {
  it('the probe line', () => {
    expect(parseProbeLine(`${PROBE_PREFIX}{"properties":{"a":1},"info":{},"mismatches":[]}`)?.properties).toEqual({ a: 1 });
    expect(parseProbeLine(`${PROBE_PREFIX}{not json`)).toBeUndefined();
    expect(parseProbeLine('other output')).toBeUndefined();
  });
  it("finish.sh's arguments and exec.sh's missing-command line", () => {
    expect(finishArgs({ uncommentSuppressions: true, pip: 'offline' })).toBe('1 offline');
    expect(finishArgs({ uncommentSuppressions: false, pip: 'pypi', pipPresent: true })).toBe('0 pypi present');
    expect(isCommandNotFound(127, `${EXEC_NOT_FOUND}: pyhton\n`)).toBe(true);
    expect(isCommandNotFound(127, 'sh: 1: foo: not found')).toBe(false);
  });
});

describe('the scripts speak the protocol pydbg parses', () => {
  it('every sentinel pydbg matches is printed by the script that owns it', async () => {
    const { readFile } = await import('node:fs/promises');
    const { GDB_FRAME_PREFIX, GDB_SECTIONS } = await import('../../src/container/protocol.js');
    const read = (p: string) => readFile(new URL(`../../images/${p}`, import.meta.url), 'utf8');
    expect(await read('probe.py')).toContain(`'${PROBE_PREFIX}'`);
    expect(await read('run/exec.sh')).toContain(`${EXEC_NOT_FOUND}: `);
    expect(await read('run/pydbg_gdb.py')).toContain(`'${GDB_FRAME_PREFIX}'`);
    const gdbRun = await read('run/gdb-run.sh');
    for (const [begin, end] of Object.values(GDB_SECTIONS)) expect(gdbRun).toContain(`echo ${begin}\\n' -ex`), expect(gdbRun).toContain(`echo ${end}\\n'`);
    expect(await read('finish.sh')).toMatch(/uncomment="\$1"\npipmode="\$2"\ntools="\$\{3:-install\}"/);
  });
  it('live programs: live.sh, pydbg_gdb.py (pydbg-threads) and pydbg_inject.py print what exec/live.ts and stacks.ts match', async () => {
    const { readFile } = await import('node:fs/promises');
    const p = await import('../../src/container/protocol.js');
    const read = (f: string) => readFile(new URL(`../../images/run/${f}`, import.meta.url), 'utf8');
    const live = await read('live.sh');
    expect(live).toContain(`printf '${p.LIVE_PREFIX}{"pid": %s, "rssKb": %s, "uid": %s, "exe": "%s"}\\n'`);
    expect(live).toContain(`echo "${p.LIVE_NO_PYTHON}"`);
    for (const mode of ['info', 'stacks', 'core', 'inject'] satisfies Array<import('../../src/container/protocol.js').LiveMode>) expect(live).toMatch(new RegExp(`^  ${mode}\\)`, 'm'));
    expect(live).toContain(`"\${${p.INJECT_CODE_ENV}:-}"`);
    expect(live).toContain(`echo "${p.INJECT_STATUS_PREFIX}$(cat`);
    expect(live).toContain(`echo ${p.INJECT_OUT[0]}\n`);
    expect(live).toContain(`echo ${p.INJECT_OUT[1]}\n`);
    // the string gdb runs in the process names only pydbg's helper and the directory mktemp made
    expect(live).toMatch(/PyRun_SimpleString\("__import__\('runpy'\)\.run_path\('\/opt\/pydbg-run\/pydbg_inject\.py', \{'PYDBG_DIR': '\$dir'\}, '__pydbg_inject__'\)"\)/);
    const gdb = await read('pydbg_gdb.py');
    expect(gdb).toContain(`'${p.GDB_THREAD_PREFIX}'`);
    expect(gdb).toContain(`'${p.GDB_THREADS_END}'`);
    expect(gdb).toContain(`'${p.GDB_SECTIONS.pyBt[0]}'`);
    const inj = await read('pydbg_inject.py');
    for (const f of ["'out.txt'", "'code.py'", "'status'"]) expect(inj).toContain(f);
  });
});
