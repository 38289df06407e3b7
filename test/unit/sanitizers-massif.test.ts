import { describe, expect, it } from 'vitest';
import { parseAsan, parseUbsan, ubsanKind } from '../../src/analyses/sanitizers.js';
import { parseMassif, massifSvg } from '../../src/analyses/massif.js';
import { parseMallocStats, diffMallocStats } from '../../src/analyses/pymalloc-stats.js';

const ASAN = `=================================================================
==7==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x603000001a18 at pc 0x7f2c1c0f1189 bp 0x7ffd sp 0x7ffc
WRITE of size 4 at 0x603000001a18 thread T0
    #0 0x7f2c1c0f1189 in overflow /pydbg/build/oob.c:7
    #1 0x55d3d1a2b3c4 in cfunction_vectorcall_NOARGS Objects/methodobject.c:481
    #2 0x55d3d1a2b3c5  (/opt/python/bin/python3.13+0x1234)

0x603000001a18 is located 20 bytes to the right of 20-byte region [0x603000001a00,0x603000001a14)
allocated by thread T0 here:
    #0 0x7f2c1c4b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x7f2c1c0f117a in overflow /pydbg/build/oob.c:6:23

SUMMARY: AddressSanitizer: heap-buffer-overflow /pydbg/build/oob.c:7 in overflow
Shadow bytes around the buggy address:
`;

describe('AddressSanitizer reports', () => {
  it('kind, access, user frame and the allocation stack', () => {
    const [f, ...rest] = parseAsan(ASAN);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ kind: 'heap-buffer-overflow', data: { access: 'WRITE', size: 4 } });
    expect(f!.message).toBe('heap-buffer-overflow: WRITE of size 4 (is located 20 bytes to the right of 20-byte region [0x603000001a00,0x603000001a14))');
    expect(f!.userFrame).toMatchObject({ function: 'overflow', file: 'oob.c', line: 7, inUserCode: true });
    expect(f!.frames).toHaveLength(3);
    expect(f!.frames[2]).toMatchObject({ function: null, object: '/opt/python/bin/python3.13' });
    expect(f!.related[0]!.message).toBe('allocated by thread T0 here');
    expect(f!.related[0]!.frames[1]).toMatchObject({ file: 'oob.c', line: 6 });
  });
});

describe('UBSan reports', () => {
  it('the runtime error line and its stack', () => {
    const text = `/pydbg/build/ub.c:12:14: runtime error: signed integer overflow: 2147483647 + 1 cannot be represented in type 'int'\n    #0 0x7f1234 in add_one /pydbg/build/ub.c:12\n    #1 0x55aa in cfunction_call Objects/methodobject.c:537\n\nObjects/longobject.c:88:3: runtime error: left shift of negative value -1\n`;
    const [a, b] = parseUbsan(text);
    expect(a).toMatchObject({ kind: 'signed-integer-overflow', userFrame: { function: 'add_one', file: 'ub.c', line: 12 } });
    expect(b!.userFrame).toBeNull();
    expect(b!.kind).toBe('shift');
  });
  it('kinds are the -fsanitize check names', () => {
    expect(ubsanKind("shift exponent 40 is too large for 32-bit type 'unsigned int'")).toBe('shift');
    expect(ubsanKind("index 7 out of bounds for type 'int [7]'")).toBe('bounds');
    expect(ubsanKind("load of misaligned address 0x55 for type 'int', which requires 4 byte alignment")).toBe('alignment');
    expect(ubsanKind('something new: details')).toBe('something-new');
  });
});

const MASSIF = `desc: --depth=40
cmd: python repro.py
time_unit: i
#-----------
snapshot=0
#-----------
time=0
mem_heap_B=0
mem_heap_extra_B=0
mem_stacks_B=0
heap_tree=empty
#-----------
snapshot=1
#-----------
time=1000
mem_heap_B=3000
mem_heap_extra_B=100
mem_stacks_B=0
heap_tree=peak
n3: 3000 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.
 n1: 2048 0x4849AB: leaky_function (leak.c:7)
  n0: 2048 0x48AAAA: cfunction_call (methodobject.c:537)
 n1: 900 0x499999: list_resize (listobject.c:100)
  n1: 900 0x4AAAAA: helper (/pydbg/build/ext.c:42)
   n0: 900 0x4BBBBB: main (python.c:15)
 n0: 52 in 3 places, all below massif's threshold (0.50%)
#-----------
snapshot=2
#-----------
time=2000
mem_heap_B=1000
mem_heap_extra_B=50
mem_stacks_B=0
heap_tree=empty
`;

describe('massif', () => {
  it('snapshots, the peak, and sites with the first user frame on their path', () => {
    const p = parseMassif(MASSIF);
    expect(p.snapshots.map((s) => s.heap)).toEqual([0, 3000, 1000]);
    expect(p.peak?.index).toBe(1);
    expect(p.sites.map((s) => [s.bytes, s.frame.function])).toEqual([[2048, 'leaky_function'], [900, 'list_resize']]);
    expect(p.sites[1]!.userFrame).toMatchObject({ function: 'helper', file: 'ext.c', line: 42 });
    expect(massifSvg(p, 't')).toContain('peak 3 KiB');
  });
});

describe('pymalloc statistics', () => {
  it('size classes and arenas, diffed', () => {
    const before = `Small block threshold = 512, in 32 size classes.\n\nclass   size   num pools   blocks in use  avail blocks\n-----   ----   ---------   -------------  ------------\n    0     16           1             100           155\n    1     32           2             300           206\n\n# arenas allocated total           =                   10\n# arenas allocated current         =                    8\n# bytes in allocated blocks        =            1,234,567\n`;
    const after = before.replace('300           206', '400           106').replace('1,234,567', '1,237,767');
    const d = diffMallocStats(parseMallocStats(before), parseMallocStats(after));
    expect(d.rows).toEqual([
      { size: 16, before: 100, after: 100, delta: 0, poolsBefore: 1, poolsAfter: 1 },
      { size: 32, before: 300, after: 400, delta: 100, poolsBefore: 2, poolsAfter: 2 },
    ]);
    expect(d.bytesInUse).toEqual({ before: 1234567, after: 1237767 });
    expect(d.arenas.before).toBe(8);
  });
});
