# Four threads add to the shared counter without a lock (counter.c:20).
import threading

import counter

N = 200000
start = threading.Barrier(4)


def worker():
    start.wait()  # all four at once
    counter.add_unlocked(N)


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("counter:", counter.value(), "(%d without lost updates)" % (4 * N))
