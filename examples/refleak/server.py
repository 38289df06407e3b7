# A long-running service (the python-ldap story): every request calls refleak.search(), which
# leaks one new empty list. It handles 100 requests a second by the clock (catching up after a
# pause), so the growth rate is known: `pydbg heap NAME` must find +100 lists a second that nothing
# refers to.
#   pydbg run --variant debug --name svc --detach -- python server.py
#   pydbg heap svc --samples 3 --interval 5
# Its request handler is also a soak: RSS grows under every allocator, so it is a leak, not fragmentation:
#   pydbg check rss --iterations 20000 server:handle
import time

import refleak

RATE = 100
STATS = {"requests": 0}


def handle():
    code, controls = refleak.search()
    STATS["requests"] += 1
    return code


def serve_forever():
    t0 = time.monotonic()
    while True:
        due = int((time.monotonic() - t0) * RATE)
        while STATS["requests"] < due:
            handle()
        time.sleep(0.01)


if __name__ == "__main__":
    print("ready", flush=True)
    serve_forever()
