# The same four threads, through the locked function: no race.
import threading

import counter

N = 200000
start = threading.Barrier(4)


def worker():
    start.wait()  # all four at once
    counter.add_locked(N)


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert counter.value() == 4 * N, counter.value()
print("counter:", counter.value())
