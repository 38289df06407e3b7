# Run by `pydbg stacks` inside a live Python process (through `pydbg inject`) when two or more of
# its threads are blocked acquiring a lock: which lock each thread waits for and which it holds, as
# far as the source makes it derivable. Prints one PYDBG-LOCKS JSON line.
#   waits: the innermost frame's current line is `with X:` or `X.acquire(...)`
#   holds: `with X:` lines that enclose the current line of any frame (by indentation)
# X must be a dotted name (looked up in the frame's locals, then globals; attributes read with
# inspect.getattr_static, so no property or __getattr__ runs) naming a lock (Lock, RLock).
# A lock taken with acquire() and released later in the function is not seen as held.
import json
import linecache
import re
import sys
import threading

try:
    from inspect import getattr_static
except ImportError:  # 2.7
    getattr_static = getattr

NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')
WITH = re.compile(r'^(\s*)(?:async\s+)?with\s+(.+?)\s*:\s*(#.*)?$')
ACQUIRE = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)\.acquire\s*\(')
LOCK_TYPES = tuple(set([type(threading.Lock()), type(threading.RLock())] + [getattr(threading, n) for n in ('_RLock', '_PyRLock', '_CRLock') if isinstance(getattr(threading, n, None), type)]))


def _resolve(expr, frame):
    expr = expr.strip()
    if not NAME.match(expr):
        return None
    parts = expr.split('.')
    if parts[0] in frame.f_locals:
        o = frame.f_locals[parts[0]]
    elif parts[0] in frame.f_globals:
        o = frame.f_globals[parts[0]]
    else:
        return None
    for p in parts[1:]:
        try:
            o = getattr_static(o, p)
        except AttributeError:
            return None
    return o if isinstance(o, LOCK_TYPES) else None


def _items(text):
    """`a, b as x` -> ['a', 'b']"""
    return [i.split(' as ')[0].strip() for i in text.split(',')]


def _indent(line):
    return len(line) - len(line.lstrip())


def _waits(frame):
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    m = WITH.match(line)
    exprs = _items(m.group(2)) if m else ACQUIRE.findall(line)
    for e in exprs:
        lock = _resolve(e, frame)
        if lock is not None:
            return {'expr': e, 'id': id(lock), 'file': frame.f_code.co_filename, 'line': frame.f_lineno}
    return None


def _holds(frame, innermost):
    out = []
    fname = frame.f_code.co_filename
    cur = linecache.getline(fname, frame.f_lineno)
    if not cur:
        return out
    limit = _indent(cur)
    # the current line of the innermost frame is being entered, not held
    if not innermost:
        m = WITH.match(cur)
        if m:
            for e in _items(m.group(2)):
                lock = _resolve(e, frame)
                if lock is not None:
                    out.append({'expr': e, 'id': id(lock), 'file': fname, 'line': frame.f_lineno})
    first = frame.f_code.co_firstlineno
    for n in range(frame.f_lineno - 1, first - 1, -1):
        line = linecache.getline(fname, n)
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        ind = _indent(line)
        if ind >= limit:
            continue
        limit = ind
        m = WITH.match(line)
        if m:
            for e in _items(m.group(2)):
                lock = _resolve(e, frame)
                if lock is not None:
                    out.append({'expr': e, 'id': id(lock), 'file': fname, 'line': n})
        if ind == 0:
            break
    return out


def _pydbgs(frame):
    """A frame of this injection (this file, runpy, pydbg_inject.py, the injected string), not the program's."""
    fn = frame.f_code.co_filename
    return fn == __file__ or fn == '<pydbg inject>' or fn.endswith(('runpy.py', 'pydbg_inject.py')) or fn.startswith('<frozen runpy')


def main():
    names = {}
    for t in threading.enumerate():
        names[t.ident] = (t.name, getattr(t, 'native_id', None))
    out = []
    for ident, frame in sys._current_frames().items():
        name, native = names.get(ident, (None, None))
        entry = {'ident': ident, 'name': name, 'lwp': native, 'waits': None, 'holds': []}
        f = frame
        innermost = True
        while f is not None:
            if not _pydbgs(f):
                if innermost and entry['waits'] is None:
                    entry['waits'] = _waits(f)
                entry['holds'].extend(_holds(f, innermost))
                innermost = False
            f = f.f_back
        out.append(entry)
    sys.stdout.write('PYDBG-LOCKS %s\n' % json.dumps(out))


main()
