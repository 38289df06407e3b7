# A worker whose memory grows although nothing in Python keeps its jobs: two cycles the garbage
# collector cannot free, 20 jobs a second (by the clock).
#  - Job <-> holder.Holder: the C type holds job.finish but is invisible to the gc (no tp_traverse),
#    so the cycle is never collected, on every version. `pydbg heap` finds the Job objects growing,
#    with referrers but no chain to a module, class or frame: a cycle kept alive from C.
#  - Conn: a cycle with a __del__ method. CPython 2.7 cannot collect it and puts it in gc.garbage
#    (`pydbg heap` shows gc.garbage growing); 3.4+ collects it (PEP 442).
#   pydbg run --name worker --detach -- python worker.py
#   pydbg heap worker --samples 3 --interval 5
from __future__ import print_function

import sys
import time

import holder

RATE = 20
STATS = {"jobs": 0}


class Conn(object):
    def __init__(self):
        self.me = self  # a cycle...

    def __del__(self):  # ...with a finalizer: uncollectable on 2.7
        pass


class Job(object):
    def __init__(self, n):
        self.n = n
        self.holder = holder.Holder()
        self.holder.callback = self.finish  # Job -> Holder -> bound method -> Job, through C

    def finish(self):
        return self.n


def work(n):
    Conn()
    Job(n)
    STATS["jobs"] += 1


def serve_forever():
    t0 = time.time()
    while True:
        due = int((time.time() - t0) * RATE)
        while STATS["jobs"] < due:
            work(STATS["jobs"])
        time.sleep(0.01)


if __name__ == "__main__":
    print("ready")
    sys.stdout.flush()
    serve_forever()
