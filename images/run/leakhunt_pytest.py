# pydbg check leaks -- pytest ARGS: the leak hunt per test, like regrtest -R and pytest-leaks.
#   leakhunt_pytest.py OUT ROUNDS WARMUP ITERATIONS [PYTEST ARGS...]
# Each collected test's call phase (its fixtures set up once, as pytest-leaks does) runs WARMUP
# uncounted rounds, then ROUNDS counted ones, of ITERATIONS calls each, before pytest's own call;
# per round: the total refcount, allocated blocks and live gc objects per type, after a collection.
# OUT gets {"mode": "pytest", ..., "tests": {nodeid: {"file", "line", "rounds": [...], "error"}}}.
import gc
import json
import os
import sys

try:
    import pytest
except ImportError:  # not in the image: say so in the report pydbg reads (not only a traceback)
    with open(sys.argv[1], 'w') as f:
        json.dump({'mode': 'pytest', 'missing': 'pytest'}, f)
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leakhunt  # noqa: E402  (pydbg's, next to this file: the same per-type counts; checkpoints importable)
del sys.path[0]


def _reading():
    gc.collect()
    gc.collect()
    source, counts = leakhunt.type_counts()
    return {
        'refs': sys.gettotalrefcount() if hasattr(sys, 'gettotalrefcount') else None,
        'blocks': sys.getallocatedblocks() if hasattr(sys, 'getallocatedblocks') else None,
        'types': counts,
        'source': source,
    }


class LeakHunt(object):
    def __init__(self, rounds, warmup, iterations):
        self.rounds, self.warmup, self.iterations = rounds, warmup, iterations
        self.tests = {}
        self.source = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        path, line, _ = item.location
        entry = {'file': path, 'line': (line + 1) if line is not None else None, 'rounds': [], 'error': None}
        self.tests[item.nodeid] = entry
        devnull = open(os.devnull, 'w')
        saved = sys.stdout
        before = after = d = None
        try:
            for r in range(self.warmup + self.rounds):
                before = _reading()
                sys.stdout = devnull
                try:
                    for _ in range(self.iterations):
                        item.runtest()
                finally:
                    devnull.flush()
                    sys.stdout = saved
                after = _reading()
                self.source = after['source']
                if r < self.warmup:
                    continue
                d = {'types': {}}
                for k in ('refs', 'blocks'):
                    if before[k] is not None:
                        d[k] = after[k] - before[k]
                for n in set(before['types']) | set(after['types']):
                    v = after['types'].get(n, 0) - before['types'].get(n, 0)
                    if v:
                        d['types'][n] = v
                entry['rounds'].append(d)
                # before and after stay bound until the next round replaces them: each measurement
                # then sees two readings alive (the previous round's), and their sizes cancel
        except Exception as e:  # the test fails: pytest's own call reports it; the hunt says so
            sys.stdout = saved
            entry['error'] = '%s: %s' % (type(e).__name__, e)
        finally:
            devnull.close()
        yield


def main():
    out, rounds, warmup, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    args = sys.argv[5:]
    hunt = LeakHunt(rounds, warmup, iterations)
    sys.path.insert(0, os.getcwd())
    status = pytest.main(args, plugins=[hunt])
    with open(out, 'w') as f:
        json.dump({'mode': 'pytest', 'rounds_per_test': rounds, 'warmup': warmup, 'iterations': iterations,
                   'has_refs': hasattr(sys, 'gettotalrefcount'), 'has_blocks': hasattr(sys, 'getallocatedblocks'),
                   'type_source': hunt.source, 'exitstatus': int(status), 'tests': hunt.tests}, f)
    sys.exit(int(status))


if __name__ == '__main__':
    main()
