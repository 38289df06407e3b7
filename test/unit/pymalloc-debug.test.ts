import { describe, expect, it } from 'vitest';
import { parseHookReports, pymallocDebugFindings } from '../../src/analyses/pymalloc-debug.js';
import { isDeadBytes, parseGdbOutput, type CrashReport } from '../../src/exec/crash.js';

// real output of CPython 3.13.5 (debug, PYTHONTRACEMALLOC=16) for _testcapi.pymem_buffer_overflow()
const OVERFLOW = `Debug memory block at address p=0x558292b8f1f0: API 'm'
    16 bytes originally requested
    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.
    The 8 pad bytes at tail=0x558292b8f200 are not all FORBIDDENBYTE (0xfd):
        at tail+0: 0x78 *** OUCH
        at tail+1: 0xfd
    Data at p: cd cd cd cd cd cd cd cd cd cd cd cd cd cd cd cd

Memory block allocated at (most recent call first):
  File "/src/repro.py", line 4
  File "/src/repro.py", line 5

Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte
Python runtime state: initialized

Current thread 0x00007f2c27d87740 (most recent call first):
  File "/src/repro.py", line 4 in f
`;

const crash = (over: Partial<CrashReport>): CrashReport => ({
  signal: 'SIGSEGV', userFrame: null, frames: [], bt: '', pyBt: '', faulthandler: [], reproducedUnderGdb: true, ...over,
});

describe('pymalloc-debug', () => {
  it('reads the hooks\' fatal report: kind, block, API, where it was allocated', () => {
    const [r] = parseHookReports(OVERFLOW);
    expect(r).toMatchObject({ kind: 'BufferOverflow', address: '0x558292b8f1f0', api: 'm', bytes: 16, fatal: '_PyMem_DebugRawFree: bad trailing pad byte' });
    expect(r!.allocatedAt).toEqual(['File "/src/repro.py", line 4', 'File "/src/repro.py", line 5']);
    const [f] = pymallocDebugFindings(OVERFLOW, undefined);
    expect(f!.message).toContain('16-byte block from API \'m\' (PyMem_*) was written past its end');
    expect(f!.related[0]!.frames[0]).toMatchObject({ file: 'repro.py', line: 4, inUserCode: true });
  });
  it('2.7 words it differently', () => {
    const text = "Debug memory block at address p=0x7f00aa:\n    24 bytes originally requested\n    The 8 pad bytes at p-8 are FORBIDDENBYTE, as expected.\nFatal Python error: bad leading pad byte\n";
    expect(parseHookReports(text)[0]).toMatchObject({ kind: 'BufferUnderflow', bytes: 24 });
  });
  it('a crash through the dead-byte fill is a use after free, at the user\'s frame', () => {
    const userFrame = { level: 1, function: 'use_after_free', file: 'uaf.c', line: 10, objfile: null, inUserCode: true };
    const c = crash({ deadByteRegisters: ['rax=0xdddddddddddddddd'], frames: [{ level: 0, function: 'PyBytes_AsString', file: 'Objects/bytesobject.c', line: 1234, objfile: null, inUserCode: false }, userFrame], userFrame });
    const [f] = pymallocDebugFindings('', c);
    expect(f).toMatchObject({ kind: 'UseAfterFree', userFrame: { function: 'use_after_free', file: 'uaf.c', line: 10 } });
    expect(f!.message).toContain('rax=0xdddddddddddddddd');
  });
  it('a dead value in the output, without a crash, is still reported (without a line)', () => {
    const [f] = pymallocDebugFindings('<refcnt -2459565876494606883 at 0x7f1234>\n', undefined);
    expect(f).toMatchObject({ kind: 'UseAfterFree', userFrame: null });
  });
  it('a clean run and an ordinary crash give nothing', () => {
    expect(pymallocDebugFindings('hello 42\n0xdd\n', undefined)).toEqual([]);
    expect(pymallocDebugFindings('', crash({ deadByteRegisters: [] }))).toEqual([]);
  });
  it('dead-byte register values, 64- and 32-bit, with a small offset; and gdb\'s register dump', () => {
    expect(isDeadBytes('0xdddddddddddddddd')).toBe(true);
    expect(isDeadBytes('0xdddddddddddddde8')).toBe(true);
    expect(isDeadBytes('0xdddddddd')).toBe(true);
    expect(isDeadBytes('0xdbdbdbdbdbdbdbdb')).toBe(true);
    expect(isDeadBytes('0x00000000dddddddd')).toBe(false);
    expect(isDeadBytes('0x7fffdddddddd')).toBe(false);
    const text = 'Program received signal SIGSEGV, Segmentation fault.\nPYDBG-REGS-BEGIN\nrax            0xdddddddddddddddd  -2459565876494606883\nrbx            0x7f0000001000      139637976731648\nx3             0xdddddddddddddde5  -2459565876494606875\nPYDBG-REGS-END\n';
    expect(parseGdbOutput(text).deadByteRegisters).toEqual(['rax=0xdddddddddddddddd', 'x3=0xdddddddddddddde5']);
  });
});
