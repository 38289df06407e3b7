# pydbg leak hunt (CPython 2.7 and 3.x). Runs a repro repeatedly and measures, per round, the growth
# of sys.gettotalrefcount(), sys.getallocatedblocks(), tracemalloc's traced blocks/bytes, live
# objects per type and RSS. It only measures; pydbg decides what is a leak.
#   leakhunt.py OUT ROUNDS WARMUP ITERATIONS TARGET [ARGS...]
#   TARGET: a script (compiled once, run as __main__ each iteration) or module:function (no arguments)
# On 3.x it also attributes the growth (attribution.py): one extra round with the gc off that finds the new objects
# nobody references but whose refcount says somebody does (leaked), by type and site, and the
# extension function each Python line called. Checkpoints (checkpoint/pydbg_checkpoint.py, put
# on sys.path here) are measured per name in every round.
from __future__ import print_function

import gc
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKPOINT_DIR = os.path.join(HERE, 'checkpoint')
sys.path.append(CHECKPOINT_DIR)  # last: a module of the user's own name wins
os.environ['PYTHONPATH'] = os.pathsep.join([p for p in (os.environ.get('PYTHONPATH'), CHECKPOINT_DIR) if p])
sys.path.insert(0, HERE)
import attribution  # noqa: E402  (pydbg's, next to this file)
del sys.path[0]


def rss_bytes():
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except Exception:
        return None


def type_counts():
    counts = {}
    if hasattr(sys, 'getcounts'):  # COUNT_ALLOCS (chosen for this): allocations - frees per type
        source = 'getcounts'
        for entry in sys.getcounts():
            counts[entry[0]] = entry[1] - entry[2]
    elif hasattr(sys, 'getobjects'):  # Py_TRACE_REFS: every live object
        source = 'getobjects'
        objs = sys.getobjects(0)
        for o in objs:
            n = type(o).__name__
            counts[n] = counts.get(n, 0) + 1
        del objs
    else:  # objects tracked by the gc (containers)
        source = 'gc'
        objs = gc.get_objects()
        for o in objs:
            n = type(o).__name__
            counts[n] = counts.get(n, 0) + 1
        del objs
    return source, counts


def snapshot(tracemalloc):
    gc.collect()
    gc.collect()
    s = {'rss': rss_bytes()}
    if hasattr(sys, 'gettotalrefcount'):
        s['refs'] = sys.gettotalrefcount()
    if hasattr(sys, 'getallocatedblocks'):
        s['blocks'] = sys.getallocatedblocks()
    if tracemalloc is not None:
        s['traced_bytes'] = tracemalloc.get_traced_memory()[0]
        s['traced_blocks'] = len(tracemalloc._get_traces())
    s['type_source'], s['types'] = type_counts()
    return s


# the same rule as pydbg's leaks.ts (THRESHOLDS): a metric leaks when every counted round grows
# by at least this much per iteration
PER_ITERATION = {'refs': 0.5, 'blocks': 0.5, 'traced_blocks': 0.5, 'rss': 256}


def suspicious(rounds, iterations):
    """Whether anything grew in every round by the leak thresholds."""
    for key, least in PER_ITERATION.items():
        if all(d.get(key) is not None and d[key] >= least * iterations for d in rounds):
            return True
    names = set()
    for d in rounds:
        names.update(d['types'])
    return any(all(d['types'].get(n, 0) >= 0.5 * iterations for d in rounds) for n in names)


def load(target, args):
    if ':' in target and not os.path.exists(target):
        import importlib
        module, func = target.split(':', 1)
        sys.path.insert(0, os.getcwd())
        fn = getattr(importlib.import_module(module), func)
        return fn
    # Compile once and exec in a fresh __main__ namespace per iteration: runpy.run_path itself
    # leaves ~2 references per run behind (module swapping, recompiling), which would look like a leak.
    path = os.path.abspath(target)
    sys.path.insert(0, os.path.dirname(path))
    with open(path, 'rb') as f:
        code = compile(f.read(), path, 'exec')
    sys.argv = [path] + list(args)
    try:
        import builtins
    except ImportError:  # 2.7
        import __builtin__ as builtins

    def run_script():
        namespace = {'__name__': '__main__', '__file__': path, '__builtins__': builtins}
        try:
            exec(code, namespace)
        finally:
            namespace.clear()  # break the cycles between the script's functions and its globals
    return run_script


def main():
    out, rounds, warmup, iterations, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    args = sys.argv[6:]
    try:
        import tracemalloc
        tracemalloc.start(attribution.FRAMES)
    except ImportError:
        tracemalloc = None
    result = {'target': target, 'iterations': iterations, 'warmup': warmup, 'rounds': [], 'error': None,
              'has_refs': hasattr(sys, 'gettotalrefcount'), 'has_blocks': hasattr(sys, 'getallocatedblocks'),
              'has_tracemalloc': tracemalloc is not None}
    devnull = open(os.devnull, 'w')
    real_stdout = sys.stdout
    hunter = attribution.Hunter(tracemalloc, os.getcwd())
    import pydbg_checkpoint
    pydbg_checkpoint._hunter = hunter
    try:
        fn = load(target, args)
        hunter.calibrate()
        counted = []
        r = 0
        planned = warmup + rounds
        while r < planned:
            # No tracemalloc snapshot per round: holding and comparing one fragments the C heap, which
            # reads as RSS growth on clean code (an asyncio loop per run: ~50 KB a run); the
            # attribution round after the counted ones finds where leaked objects come from.
            before = snapshot(tracemalloc)
            sys.stdout = devnull
            hunter.start_round('measure')
            try:
                attribution.invoke(fn, iterations)
            finally:
                # a TextIOWrapper keeps pending chunks until its buffer fills: bounded, but it would
                # read as +1 reference per print() within a round
                devnull.flush()
                sys.stdout = real_stdout
            after = snapshot(tracemalloc)
            checkpoints = hunter.end_round()
            r += 1
            if r <= warmup:
                if r == warmup:
                    hunter.calibrate()
                continue
            delta = {'types': {}, 'checkpoints': checkpoints}
            for key in ('refs', 'blocks', 'traced_bytes', 'traced_blocks', 'rss'):
                if before.get(key) is not None and after.get(key) is not None:
                    delta[key] = after[key] - before[key]
            for name in set(before['types']) | set(after['types']):
                d = after['types'].get(name, 0) - before['types'].get(name, 0)
                if d:
                    delta['types'][name] = d
            result['type_source'] = after['type_source']
            counted.append(delta)
            print('pydbg leaks: round %d/%d: refs %+d, blocks %+d, rss %+d' % (
                len(counted), rounds, delta.get('refs', 0), delta.get('blocks', delta.get('traced_blocks', 0)),
                delta.get('rss', 0)), file=sys.stderr)
            if r == planned and len(counted) == rounds and 'unconfirmed_rounds' not in result and suspicious(counted, iterations):
                # growth in every counted round: a leak, or caches still filling (a stdlib-heavy script
                # settles over ~100 runs on 3.13). A leak grows again in as many more rounds.
                print('pydbg leaks: growth in every round; %d more rounds to confirm it' % rounds, file=sys.stderr)
                result['unconfirmed_rounds'] = counted
                counted = []
                planned += rounds
        result['rounds'] = counted
        if tracemalloc is not None:
            n = min(iterations, 200 if ':' in target and not os.path.exists(target) else 3)
            if hasattr(sys, 'getobjects'):
                n = min(n, 50)  # every object is walked twice per call there
            sys.stdout = devnull
            try:
                result['attribution'] = hunter.attribute(fn, n)
            finally:
                devnull.flush()
                sys.stdout = real_stdout
    except BaseException as e:  # the repro failed: keep what was measured
        sys.stdout = real_stdout
        import traceback
        result['error'] = ''.join(traceback.format_exception_only(type(e), e)).strip()
        traceback.print_exc()
    devnull.close()
    with open(out, 'w') as f:
        json.dump(result, f)
    sys.exit(1 if result['error'] else 0)


if __name__ == '__main__':
    main()
