import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyseHeap, chainText, formatHeap, heapCode, heapSvg, holdersTarget, parseHeapOutput, type Census, type HeapReport } from '../../src/exec/heap.js';

const census = (types: Record<string, number>, extra: Partial<Census> = {}): Census => ({ source: 'gc', types, refs: 1000, blocks: 500, rssKb: 40_000, garbage: 0, at: 0, ...extra });

describe('heap census analysis (pure)', () => {
  it('names the types that grew in every interval, fastest first; a type that grew once is not one', () => {
    const s = [census({ list: 100, dict: 50, Conn: 3, tuple: 10 }), census({ list: 600, dict: 52, Conn: 3, tuple: 40 }), census({ list: 1100, dict: 51, Conn: 3, tuple: 70 })];
    const a = analyseHeap(s);
    expect(a.growing).toEqual([
      { type: 'list', counts: [100, 600, 1100], perInterval: 500, perMinute: null },
      { type: 'tuple', counts: [10, 40, 70], perInterval: 30, perMinute: null },
    ]);
    expect(a.refsPerInterval).toBeNull(); // the refcount did not grow
  });
  it('totals: refcount, blocks and RSS per interval when they grew every time; a type absent at first counts from 0', () => {
    const s = [census({}, { refs: 10, blocks: 5, rssKb: 100 }), census({ Leaky: 4 }, { refs: 20, blocks: 9, rssKb: 300, at: 15 }), census({ Leaky: 8 }, { refs: 30, blocks: 13, rssKb: 500, at: 30 })];
    expect(analyseHeap(s)).toMatchObject({ refsPerInterval: 10, blocksPerInterval: 4, rssKbPerInterval: 200, growing: [{ type: 'Leaky', counts: [0, 4, 8], perInterval: 4, perMinute: 16 }] });
    expect(analyseHeap([census({ a: 1 })]).growing).toEqual([]); // one sample: nothing can grow
  });
  it('the report: totals, the growing table, who holds it', () => {
    const r: HeapReport = {
      name: 'svc', pid: 7, intervalSeconds: 15,
      samples: [census({ list: 100 }, { rssKb: 40960 }), census({ list: 600 }, { rssKb: 43008, at: 15 })],
      growing: [{ type: 'list', counts: [100, 600], perInterval: 500, perMinute: 2000 }],
      refsPerInterval: null, blocksPerInterval: null, rssKbPerInterval: 2048,
      holders: { type: 'list', chains: [{ object: { type: 'list', repr: 'list of 0' }, chain: [{ type: 'module', repr: 'module svc', link: '.CACHE' }, { type: 'dict', repr: 'dict of 500', link: "['k1']" }, { type: 'list', repr: 'list of 0' }] }, { object: { type: 'list', repr: 'list of 0' }, chain: null, referrers: 0, unexplainedRefs: 1, verdict: 'leaked reference' }] },
    };
    const text = formatHeap(r);
    expect(text).toContain('pydbg heap svc: pid 7, 2 samples 15 s apart (objects the gc tracks;');
    expect(text).toContain('  RSS        40.0 MiB → 42.0 MiB (+2.0 MiB per interval)');
    expect(text).toMatch(/ {4}TYPE +#1 +#2 +PER INTERVAL +PER MINUTE\n {4}list +100 +600 +\+500 +\+2000\n/);
    expect(text).toContain("    module svc .CACHE → dict of 500 ['k1'] → list of 0");
    expect(text).toContain('    list of 0: nothing holds it: a leaked reference (its refcount counts 1 reference no object accounts for, the signature of a C-extension refleak; find the call with pydbg check leaks)');
    const svg = heapSvg(r.holders!);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('who holds the growing list');
    expect(svg).toContain("['k1']");
    expect(svg.match(/<rect /g)).toHaveLength(3);
    expect(svg).toContain('</svg>');
  });
  it('one sample: the most common types instead of growth', () => {
    const r = { name: 'svc', pid: 7, intervalSeconds: 10, samples: [census({ dict: 9, list: 30 })], growing: [], refsPerInterval: null, blocksPerInterval: null, rssKbPerInterval: null, holders: null };
    expect(formatHeap(r)).toMatch(/most common types:\n +30 +list\n +9 +dict\n/);
  });
  it("the injected code runs pydbg's file with JSON-quoted arguments; its output line is parsed", () => {
    expect(heapCode(['holders', "it's", 3])).toBe(`import runpy; runpy.run_path("/opt/pydbg-run/pydbg_heap.py", {'PYDBG_HEAP_ARGS': ["holders","it's",3]}, '__pydbg_heap__')`);
    expect(parseHeapOutput<{ a: number }>('noise\nPYDBG-HEAP {"a": 1}\n')).toEqual({ a: 1 });
    expect(parseHeapOutput('PYDBG-HEAP {broken')).toBeNull();
    expect(chainText([{ type: 'm', repr: 'module m', link: '.X' }, { type: 'list', repr: 'list of 1' }])).toBe('module m .X → list of 1');
  });
});

describe('images/run/pydbg_heap.py (run by this machine\'s python3, as it runs inside the process)', () => {
  const HEAP = join(__dirname, '..', '..', 'images', 'run', 'pydbg_heap.py');
  const py = (program: string) => execFileSync('python3', ['-c', program], { encoding: 'utf8' });
  const run = (args: unknown[], setup = '') =>
    JSON.parse(py(`${setup}\nimport runpy; runpy.run_path(${JSON.stringify(HEAP)}, {'PYDBG_HEAP_ARGS': ${JSON.stringify(args)}}, '__pydbg_heap__')`).split('\n').filter((l) => l.startsWith('PYDBG-HEAP ')).at(-1)!.slice(11));

  it('census: objects per type, RSS, garbage', () => {
    const c = run(['census'], 'class Leaky: pass\nKEEP = [Leaky() for _ in range(37)]');
    expect(c.types['__main__.Leaky']).toBe(37);
    expect(c.source).toBe('gc');
    expect(c.rssKb).toBeGreaterThan(1000);
    expect(c.garbage).toBe(0);
  });
  it('holders: the chain from a module global down to the object, each link named', () => {
    const setup = 'import types, sys\nsvc = types.ModuleType("svc")\nsys.modules["svc"] = svc\nclass Conn: pass\nsvc.CACHE = {"k1": [Conn()]}';
    const h = run(['holders', '__main__.Conn', 2], setup);
    expect(h.type).toBe('__main__.Conn');
    expect(h.chains).toHaveLength(1);
    const chain = h.chains[0].chain as Array<{ repr: string; link?: string }>;
    expect(chain.at(-1)!.repr).toMatch(/^<__main__\.Conn object at 0x/);
    expect(chain.map((n) => n.link ?? '').join(' ')).toMatch(/\.CACHE .*\['k1'\] \[0\]/);
    expect(chain[0]!.repr).toMatch(/^module (svc|__main__)$/);
  });
  it('holders: an object nothing refers to, yet with a reference counted: a leaked reference', () => {
    // ctypes.pythonapi.Py_IncRef leaks one reference to each list, as a C extension would
    const first = `import runpy; runpy.run_path(${JSON.stringify(HEAP)}, {'PYDBG_HEAP_ARGS': ['census', 'remember']}, '__pydbg_heap__')`;
    const setup = `import ctypes\n${first}\nfor _ in range(3):\n    x = []\n    ctypes.pythonapi.Py_IncRef(ctypes.py_object(x))\ndel x`;
    const h = run(['holders', 'list', 1], setup);
    expect(h.chains[0]).toMatchObject({ chain: null, referrers: 0, unexplainedRefs: 1, verdict: 'leaked reference' });
  });
});

describe('whose holders to trace', () => {
  const g = (type: string, perInterval: number) => ({ type, counts: [0, perInterval], perInterval, perMinute: null });
  it('the fastest-growing type, unless a class of the program grows within 10 % of it', () => {
    expect(holdersTarget([g('method', 101), g('__main__.Job', 100), g('list', 50)])?.type).toBe('__main__.Job');
    expect(holdersTarget([g('list', 200), g('__main__.Job', 100)])?.type).toBe('list');
    expect(holdersTarget([g('svc.Session', 10), g('dict', 10)])?.type).toBe('svc.Session');
    expect(holdersTarget([])).toBeUndefined();
  });
});
