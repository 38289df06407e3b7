# A service's main loop: several calls into the extension, each in a named checkpoint.
# `pydbg check leaks service_loop.py` reports, per checkpoint, what leaks and by how much per call.
import svc

try:
    from pydbg_checkpoint import checkpoint
except ImportError:  # not under pydbg
    from contextlib import nullcontext as checkpoint


def handle(conn, i):
    with checkpoint("ping"):
        svc.ping(conn)
    with checkpoint("search"):
        result = svc.search(conn, 1000 + i)
    with checkpoint("format"):
        text = svc.format(result)
    return text


conn = svc.connect("ldap://example.org")
for i in range(5):
    handle(conn, i)
print("service_loop: 5 requests")
