# Run by `pydbg inject` inside a live Python process (through gdb: PyRun_SimpleString runs this file
# with runpy.run_path, PYDBG_DIR in its globals): the user's code comes from PYDBG_DIR/code.py, never from a command
# line; its stdout and stderr (and a traceback) go to PYDBG_DIR/out.txt, and PYDBG_DIR/status gets
# 0 (ran), 1 (raised) or the SystemExit code. It runs in a fresh namespace (`import __main__` for
# the program's globals). While it runs, sys.stdout/sys.stderr are redirected for every thread.
import os as _os
import sys as _sys
import traceback as _traceback


def _pydbg_inject(directory):
    status = 0
    out = open(_os.path.join(directory, 'out.txt'), 'w')
    saved = _sys.stdout, _sys.stderr
    _sys.stdout = _sys.stderr = out
    try:
        with open(_os.path.join(directory, 'code.py')) as f:
            source = f.read()
        exec(compile(source, '<pydbg inject>', 'exec'), {'__name__': '__pydbg_inject__', '__builtins__': __builtins__})
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        # the traceback from the user's code on (this file's frame left out)
        kind, value, tb = _sys.exc_info()
        _traceback.print_exception(kind, value, tb.tb_next if tb is not None and tb.tb_next is not None else tb)
        status = 1
    finally:
        _sys.stdout, _sys.stderr = saved
        out.close()
        with open(_os.path.join(directory, 'status'), 'w') as f:
            f.write(str(status))


_pydbg_inject(PYDBG_DIR)  # noqa: F821 (given by the caller)
