# Two workers take the same two locks in opposite orders: each ends up holding one and waiting
# for the other, forever. `pydbg stacks NAME` reports the deadlock with both threads' lines.
#   pydbg run --name dl --detach -- python deadlock.py
#   pydbg stacks dl
import threading
import time

accounts = threading.Lock()
ledger = threading.Lock()


def transfer():
    with accounts:
        time.sleep(0.2)
        with ledger:
            print("transfer done")


def audit():
    with ledger:
        time.sleep(0.2)
        with accounts:
            print("audit done")


workers = [threading.Thread(target=transfer, name="transfer"), threading.Thread(target=audit, name="audit")]
for w in workers:
    w.start()
print("started", flush=True)
for w in workers:
    w.join()
