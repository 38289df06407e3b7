# pydbg check rss: leak or fragmentation? The same soak under several C allocators, side by side.
#   rsssoak.py OUT ROUNDS WARMUP ITERATIONS ALLOCATORS TARGET [ARGS...]
#   ALLOCATORS: comma-separated NAME or NAME=LIBRARY (glibc has no library: nothing preloaded)
#   TARGET: a script (compiled once, run as __main__ each iteration) or module:function, as leakhunt
# For each allocator, a fresh interpreter (this file with --soak) runs WARMUP + ROUNDS rounds of
# ITERATIONS calls with the library in LD_PRELOAD, and after each round (and a collection) reads its
# resident set size, the live gc objects and, on debug builds, the total refcount and allocated
# blocks: growth under every allocator is a leak, growth under some only is the allocator's
# fragmentation. It only measures; pydbg decides. CPython 2.7 and 3.x.
from __future__ import print_function

import gc
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def mapped(lib):
    """Whether this process maps the library (the preload really happened)."""
    names = (os.path.basename(lib), os.path.basename(os.path.realpath(lib)))  # maps shows the file behind a symlink
    try:
        with open('/proc/self/maps') as f:
            return any(os.path.basename(line.rstrip()) in names for line in f)
    except Exception:
        return False


def soak(out, rounds, warmup, iterations, allocator, lib, target, args):
    sys.path.insert(0, HERE)
    import leakhunt  # pydbg's, next to this file: the same repro loading and RSS reading
    del sys.path[0]
    result = {'allocator': allocator, 'library': lib or None, 'preloaded': bool(lib) and mapped(lib),
              'warmup': warmup, 'rounds': [], 'error': None, 'seconds': 0.0}
    devnull = open(os.devnull, 'w')
    real_stdout = sys.stdout
    t0 = time.time()
    try:
        if lib and not result['preloaded']:
            raise RuntimeError('%s was not loaded: LD_PRELOAD=%s had no effect' % (allocator, lib))
        fn = leakhunt.load(target, args)
        own_refs = 0
        for r in range(warmup + rounds):
            sys.stdout = devnull
            try:
                for _ in range(iterations):
                    fn()
            finally:
                devnull.flush()
                sys.stdout = real_stdout
            gc.collect()
            gc.collect()
            rss, objects = leakhunt.rss_bytes(), len(gc.get_objects())
            refs = sys.gettotalrefcount() - own_refs if hasattr(sys, 'gettotalrefcount') else None
            blocks = sys.getallocatedblocks() if hasattr(sys, 'getallocatedblocks') else None
            # the readings kept here are this file's, not the soak's: their references are not counted
            before = sys.gettotalrefcount() if refs is not None else 0
            reading = {'rss': rss, 'objects': objects, 'refs': refs, 'blocks': blocks}
            result['rounds'].append(reading)
            own_refs += (sys.gettotalrefcount() - before) if refs is not None else 0
            print('pydbg rss: %s %s %d/%d: rss %.1f MiB' % (
                allocator, 'warm-up' if r < warmup else 'round', r + 1 if r < warmup else r - warmup + 1,
                warmup if r < warmup else rounds, (reading['rss'] or 0) / 1048576.0), file=sys.stderr)
    except BaseException as e:  # the soak failed: keep what was measured
        sys.stdout = real_stdout
        import traceback
        result['error'] = ''.join(traceback.format_exception_only(type(e), e)).strip()
        traceback.print_exc()
    result['seconds'] = time.time() - t0
    devnull.close()
    with open(out, 'w') as f:
        json.dump(result, f)
    return 1 if result['error'] else 0


def main():
    if sys.argv[1] == '--soak':
        out, rounds, warmup, iterations, allocator, lib = sys.argv[2:8]
        sys.exit(soak(out, int(rounds), int(warmup), int(iterations), allocator, lib, sys.argv[8], sys.argv[9:]))
    out, rounds, warmup, iterations, allocators, target = sys.argv[1:7]
    args = sys.argv[7:]
    result = {'target': target, 'rounds': int(rounds), 'warmup': int(warmup), 'iterations': int(iterations), 'allocators': []}
    status = 0
    for spec in allocators.split(','):
        name, _, lib = spec.partition('=')
        part = '%s.%s.json' % (out, name)
        env = dict(os.environ)
        # the user's own preload (-e LD_PRELOAD=...) stays; the allocator goes first
        env['LD_PRELOAD'] = ' '.join([p for p in (lib, os.environ.get('LD_PRELOAD')) if p])
        if not env['LD_PRELOAD']:
            del env['LD_PRELOAD']
        print('pydbg rss: %s: %d warm-up and %d counted rounds of %s iterations' % (name, int(warmup), int(rounds), iterations), file=sys.stderr)
        code = subprocess.call([sys.executable, os.path.abspath(__file__), '--soak', part, rounds, warmup, iterations, name, lib, target] + args, env=env)
        try:
            with open(part) as f:
                one = json.load(f)
            os.remove(part)
        except (IOError, OSError, ValueError):
            one = {'allocator': name, 'library': lib or None, 'preloaded': False, 'warmup': int(warmup), 'rounds': [], 'seconds': 0.0, 'error': None}
        if code < 0:  # killed by a signal: say which, keeping the rounds measured before it
            names = dict((getattr(signal, n), n) for n in dir(signal) if n.startswith('SIG') and not n.startswith('SIG_'))
            one['error'] = 'the soak under %s was killed by %s (pydbg run --malloc %s reproduces it)' % (
                name, names.get(-code, 'signal %d' % -code), name)
        elif code != 0 and not one.get('error'):
            one['error'] = 'the soak under %s exited with code %d' % (name, code)
        one['exitCode'] = code
        result['allocators'].append(one)
        if code != 0:
            status = 1  # the soak's failure is in the report; not a crash of this driver for pydbg to re-run
        # after each allocator: a timeout during the next one keeps what was measured
        with open(out + '.tmp', 'w') as f:
            json.dump(result, f)
        os.rename(out + '.tmp', out)
    sys.exit(status)


if __name__ == '__main__':
    main()
