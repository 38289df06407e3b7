# Loaded into gdb by pydbg's crash capture: `pydbg-frames` prints the stopped thread's frames as
# JSON lines (function, full source path, line, object file) for pydbg to parse.
import json

import gdb


class PydbgFrames(gdb.Command):
    def __init__(self):
        super(PydbgFrames, self).__init__('pydbg-frames', gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        try:
            frame = gdb.newest_frame()
        except gdb.error:
            print('PYDBG-NOFRAME')
            return
        level = 0
        while frame is not None and level < 100:
            sal = frame.find_sal()
            path = None
            objfile = None
            if sal.symtab is not None:
                try:
                    path = sal.symtab.fullname()
                except Exception:
                    path = sal.symtab.filename
                try:
                    objfile = sal.symtab.objfile.filename
                except Exception:
                    pass
            if objfile is None:
                try:
                    objfile = gdb.solib_name(frame.pc())
                except Exception:
                    pass
            print('PYDBG-FRAME ' + json.dumps({
                'level': level,
                'function': frame.name(),
                'file': path,
                'line': sal.line or None,
                'objfile': objfile,
            }))
            frame = frame.older()
            level += 1


PydbgFrames()


class PydbgThreads(gdb.Command):
    """`pydbg-threads`: every thread of the attached process (or core): a PYDBG-THREAD line, its
    frames as PYDBG-FRAME lines (pydbg-frames) and its py-bt between PYDBG-PYBT markers."""

    def __init__(self):
        super(PydbgThreads, self).__init__('pydbg-threads', gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        inferior = gdb.selected_inferior()
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            thread.switch()
            print('PYDBG-THREAD ' + json.dumps({'num': thread.num, 'lwp': thread.ptid[1], 'name': thread.name}))
            gdb.execute('pydbg-frames')
            print('PYDBG-PYBT-BEGIN')
            try:
                print(gdb.execute('py-bt', to_string=True).rstrip('\n'))
            except gdb.error as e:
                print('(py-bt failed: %s)' % e)
            print('PYDBG-PYBT-END')
        print('PYDBG-THREADS-END')


PydbgThreads()
