# pydbg pymalloc-stats: sys._debugmallocstats() before and after the repro, each into a file.
#   mallocstats.py OUTDIR TARGET [ARGS...]   (TARGET: a script, run as __main__)
import os
import runpy
import sys


def dump(path):
    # _debugmallocstats writes to the C-level stderr: point fd 2 at the file for the call
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(fd)
        os.close(saved)


def main():
    out, target, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    dump(os.path.join(out, 'mallocstats.before.txt'))
    sys.argv = [target] + args
    sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    status = 0
    try:
        runpy.run_path(target, run_name='__main__')
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        dump(os.path.join(out, 'mallocstats.after.txt'))
    sys.exit(status)


main()
