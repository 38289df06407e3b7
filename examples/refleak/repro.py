import sys

import refleak

for _ in range(100):
    refleak.search()
if hasattr(sys, "gettotalrefcount"):
    before = sys.gettotalrefcount()
    for _ in range(1000):
        refleak.search()
    print("refleak: total refcount grew by %.2f per call" % ((sys.gettotalrefcount() - before) / 1000.0))
else:
    print("refleak: release build, no sys.gettotalrefcount(): use a debug variant")
