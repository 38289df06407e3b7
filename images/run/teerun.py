# pydbg: run a command, copy its stdout+stderr to a file as well as to our own stderr/stdout, and
# exit the way it did (same code, or the same signal), so pydbg's crash capture still sees a crash.
# Usage: python teerun.py OUTFILE CMD [ARGS...]
import os
import signal
import subprocess
import sys
import threading


def pump(src, dst, log, lock):
    while True:
        chunk = os.read(src.fileno(), 65536)
        if not chunk:
            break
        dst.write(chunk)
        dst.flush()
        with lock:
            log.write(chunk)
            log.flush()


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    lock = threading.Lock()
    with open(out, 'wb') as log:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout = getattr(sys.stdout, 'buffer', sys.stdout)
        stderr = getattr(sys.stderr, 'buffer', sys.stderr)
        threads = [threading.Thread(target=pump, args=(p.stdout, stdout, log, lock)),
                   threading.Thread(target=pump, args=(p.stderr, stderr, log, lock))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        code = p.wait()
    if code < 0:
        try:
            import faulthandler
            faulthandler.disable()
        except ImportError:
            pass
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == '__main__':
    main()
