"""Soak: "fragmentation, not a leak" -- RSS grows under glibc malloc only.

    pydbg check rss soak.py     (glibc, jemalloc, tcmalloc side by side: the fragmentation verdict)

ONE EXECUTION OF THIS FILE'S TOP-LEVEL CODE == ONE ROUND.  State (the bounded
ring of records) lives on the `sys` module, so it persists when a tool
exec()s / runpy.run_path()s this file repeatedly in one interpreter.  A
`soak_round()` function is also provided.  Standalone: `python soak.py N`
runs N rounds (no argument: exactly one round).  Standard library only;
CPython 3.x, with or without pymalloc (the 64 KiB buffers always come from
the C allocator).

The workload (think "LRU cache of small records parsed out of socket reads"):
  * a ring of RING = 3072 records of REC = 48 bytes each, created full in round 1
    -> the live set is constant: 3072 objects / 147456 bytes after every round;
  * each round reads a batch of BATCH = 64 messages into 64 KiB buffers (all
    in flight at once, like recv(65536) on 64 sockets), trims each buffer to
    its 48-byte record in place (`del buf[48:]` -> realloc() to a smaller size),
    and stores the records in the ring, evicting the 64 oldest.

Why RSS grows under glibc (~4 MB per round, linear, for RING/BATCH = 48
rounds, then it levels off at about RING x 64 KiB, roughly 200 MB; a leak
would keep growing):
  * glibc shrinks a block in place on realloc: the 48-byte record stays at
    the start of its 64 KiB chunk and the 65488-byte tail becomes a free hole.
  * The hole lies between two live records (the batch was allocated
    back to back), so it can't merge with a neighbour.  It is 64 bytes smaller
    than the next 65552-byte request, so no later buffer fits in it.
    glibc doesn't move blocks, and it doesn't madvise() free chunks in the
    middle of the heap on free() (only malloc_trim() does).  The pages stay
    resident.
  * The ring evicts the oldest records first: for the first 48 rounds those
    are the compact round-1 records, whose ~64-byte slots free no useful
    space.  So each round's 64 buffers come from fresh memory at the top of
    the heap, and the newest records pin that top, so brk can't be trimmed.
    (From round 49 on, evicted records free whole 64 KiB holes that merge
    and are reused, so RSS levels off.)
Why jemalloc / tcmalloc stay flat (after ~1-2 warm-up rounds):
  * they keep sizes apart: realloc to a much smaller size class MOVES the record
    into a 64-byte slab/span next to other records and frees the whole
    64 KiB buffer.  Each round's buffers reuse the previous round's freed
    extents/spans, and new records take the slots of evicted ones.  No holes.
"""
import gc
import os
import sys

RING = 3072          # live records (constant) = BATCH * 48 rounds of growth
BATCH = 64           # buffers in flight per round  -> ~4 MiB of heap per round
BUF = 65536          # read-buffer size (< glibc's 128 KiB mmap threshold)
REC = 48             # record size kept from each buffer


def _rss_bytes():                        # /proc/self/statm field 2 x page size
    fd = os.open("/proc/self/statm", os.O_RDONLY)   # os-level: no io objects
    try:
        return int(os.read(fd, 256).split()[1]) * os.sysconf("SC_PAGE_SIZE")
    finally:
        os.close(fd)


def soak_round():
    st = getattr(sys, "_frag_soak_state", None)
    if st is None:                       # round 1: create the full, compact ring
        st = sys._frag_soak_state = {
            "ring": [bytearray(REC) for _ in range(RING)], "pos": 0, "round": 0}
    st["round"] += 1
    ring = st["ring"]
    # A batch of reads, all buffers alive at the same time (back to back).
    bufs = [bytearray(BUF) for _ in range(BATCH)]       # zero-filled: touched
    for i, b in enumerate(bufs):
        b[:8] = (st["round"] * BATCH + i).to_bytes(8, "little")   # "payload"
        del b[REC:]                       # trim: realloc(p, 49) shrinks in place
    pos = st["pos"]
    ring[pos:pos + BATCH] = bufs          # evict the BATCH oldest records
    st["pos"] = (pos + BATCH) % RING
    del bufs, b, ring
    gc.collect()
    live_n = len(st["ring"])
    live_b = sum(len(r) for r in st["ring"])
    print("round %3d rss_mb %7.1f live_objects %d live_bytes %d"
          % (st["round"], _rss_bytes() / 2**20, live_n, live_b), flush=True)
    return st["round"]


if __name__ == "__main__" and len(sys.argv) > 1:
    for _ in range(int(sys.argv[1])):
        soak_round()
else:
    soak_round()                          # one execution == one round
