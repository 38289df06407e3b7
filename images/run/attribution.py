# pydbg leak hunt, attribution (imported by leakhunt.py; CPython 2.7 and 3.x, attribution on 3.x).
#
# - Sites: an allocation site is the most recent frame of a tracemalloc traceback in the project
#   (the cwd), else the most recent frame outside pydbg; pydbg's own measuring is no site.
# - Hunter: checkpoints (pydbg_checkpoint.checkpoint) measured per name, and attribute(fn, n): one
#   extra round with the gc disabled (a new tuple stays tracked until a collection would untrack
#   it), sys.setprofile noting the extension function each Python line calls, and every new
#   gc-tracked object (every object on Py_TRACE_REFS builds) that survives a window (one call of the
#   repro, one checkpoint block) kept; after the round, an object is "leaked" when its refcount
#   counts references that no object the gc can see holds (a missing Py_DECREF). They are grouped
#   by window, type and allocation site, with a sample repr. str/int/bytes are never gc-tracked:
#   on builds without sys.getobjects() they are not named here.
import gc
import os
import sys

FRAMES = 32
OWN = set()
for _name in ('leakhunt.py', 'attribution.py', 'pydbg_checkpoint.py'):
    OWN.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), _name))
OWN.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'checkpoint', 'pydbg_checkpoint.py'))
SAMPLE_CHARS = 120
MAX_KEPT = 20000


def invoke(fn, n):
    for _ in range(n):
        fn()  # INVOKE: a traceback ending here allocated in the target itself (a C function)


INVOKE_LINE = invoke.__code__.co_firstlineno + 2


def _refs():
    return sys.gettotalrefcount() if hasattr(sys, 'gettotalrefcount') else 0


def _blocks():
    return sys.getallocatedblocks() if hasattr(sys, 'getallocatedblocks') else 0


def _rss():
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except Exception:
        return 0


def _unprofiled(fn):
    """fn() with the attribution round's profiler off (it would run for every id() of a window's bookkeeping)."""
    prof = sys.getprofile()
    sys.setprofile(None)
    try:
        return fn()
    finally:
        sys.setprofile(prof)


class Sites(object):
    """Site of a traceback (frames oldest first): (file, line) in the project, 'target', or None (pydbg's own)."""

    def __init__(self, cwd):
        self.root = os.path.normpath(cwd) + os.sep

    def name(self, filename):
        return filename[len(self.root):] if filename.startswith(self.root) else filename

    def of(self, frames):
        fallback = None
        for filename, lineno in reversed(frames):
            if filename in OWN:
                if filename.endswith('attribution.py') and lineno == INVOKE_LINE:
                    return fallback or 'target'
                return None  # pydbg measuring (a checkpoint, a snapshot)
            if filename.startswith(self.root):
                return (self.name(filename), lineno)
            if fallback is None and not filename.endswith('tracemalloc.py'):
                fallback = (filename, lineno)
        return fallback


def _frames(tb):
    fs = [(f.filename, f.lineno) for f in tb]
    return fs if sys.version_info >= (3, 7) else fs[::-1]  # 3.7+: oldest first


def extension_callable(fn):
    """'module.qualname()' when fn is implemented in an extension module (a shared library outside lib-dynload)."""
    owner = getattr(fn, '__self__', None)
    mod = owner if type(owner).__name__ == 'module' else None
    if mod is None:
        cls = getattr(fn, '__objclass__', None) or (type(owner) if owner is not None else None)
        mname = getattr(fn, '__module__', None) or getattr(cls, '__module__', None)
        mod = sys.modules.get(mname) if mname else None
    qual = getattr(fn, '__qualname__', None) or getattr(fn, '__name__', '?')
    if _is_extension(mod):
        return '%s.%s()' % (mod.__name__, qual)
    # a method of a type whose tp_name names the package ('hiredis.Reader' is defined in the
    # extension hiredis.hiredis, re-exported by the pure-Python package hiredis): the type is
    # found among an extension module's attributes
    cls = getattr(fn, '__objclass__', None) or (type(owner) if owner is not None and mod is not owner else None)
    if isinstance(cls, type) and _defined_in_extension(cls):
        if not qual.startswith(cls.__name__ + '.'):
            qual = '%s.%s' % (cls.__name__, qual)
        return '%s.%s()' % (cls.__module__, qual)
    return None


def _is_extension(mod):
    f = getattr(mod, '__file__', None) or ''
    return (f.endswith('.so') or f.endswith('.pyd')) and os.sep + 'lib-dynload' + os.sep not in f


_EXT_TYPES = {}


def _defined_in_extension(cls):
    if id(cls) not in _EXT_TYPES:
        found = False
        for m in list(sys.modules.values()):
            if _is_extension(m):
                try:
                    found = any(v is cls for v in vars(m).values())
                except TypeError:
                    continue
                if found:
                    break
        _EXT_TYPES[id(cls)] = found
    return _EXT_TYPES[id(cls)]


def _sample(o):
    try:
        r = repr(o)
    except Exception as e:
        r = '<repr failed: %s>' % type(e).__name__
    return r if len(r) <= SAMPLE_CHARS else r[:SAMPLE_CHARS - 3] + '...'


class Hunter(object):
    """The checkpoints' measurements (mode 'measure') and the attribution round (mode 'attribute')."""

    def __init__(self, tracemalloc, cwd):
        self.tracemalloc = tracemalloc
        self.sites = Sites(cwd)
        self.mode = 'off'
        self.stack = []
        self.stats = {}
        self.offset = [0, 0, 0, 0]
        self.kept = None

    # -- measure: gc.collect() at both ends, growth accumulated per name
    def _reading(self):
        gc.collect()
        tm = self.tracemalloc
        return [_refs(), _blocks(), tm.get_traced_memory()[0] if tm else 0, _rss()]

    def enter(self, name):
        if self.mode == 'measure':
            self.stack.append(self._reading())
        elif self.mode == 'attribute':
            self._open(name)

    def exit(self, name):
        if self.mode == 'measure':
            now = self._reading()
            start = self.stack.pop()
            s = self.stats.get(name)
            if s is None:
                s = self.stats[name] = [0, 0, 0, 0, 0]
            s[0] += 1
            for i in range(4):
                s[i + 1] += now[i] - start[i] - self.offset[i]
        elif self.mode == 'attribute':
            self._close(name)

    def start_round(self, mode):
        self.mode = mode
        self.stats = {}
        self.stack = []

    def end_round(self):
        self.mode = 'off'
        out = {}
        for name, s in self.stats.items():
            out[name] = {'calls': s[0], 'refs': s[1], 'blocks': s[2], 'traced_bytes': s[3], 'rss': s[4]}
        self.stats = {}
        return out

    def calibrate(self):
        """What an empty `with checkpoint(...)` block measures (the measuring's own references and blocks): subtracted."""
        import pydbg_checkpoint
        self.offset = [0, 0, 0, 0]
        self.start_round('measure')
        samples = []
        cp = pydbg_checkpoint.checkpoint
        for _ in range(21):
            with cp('calibrate'):
                pass
            s = self.stats['calibrate']
            samples.append(list(s[1:]))
            s[1:] = [0, 0, 0, 0]
        self.end_round()
        self.offset = [sorted(x[i] for x in samples)[len(samples) // 2] for i in range(3)] + [0]

    # -- attribute
    def _objects(self):
        if hasattr(sys, 'getobjects'):
            return sys.getobjects(0)
        try:
            return gc.get_objects(0)  # 3.8+: the young generation, all that is new with the gc off
        except TypeError:
            return gc.get_objects()

    def _open(self, name):
        _unprofiled(lambda: self.stack.append((name, self._objects())))

    def _close(self, name):
        _unprofiled(lambda: self._close_window(name))

    def _close_window(self, name):
        entry = self.stack.pop()
        before = entry[1]
        if len(self.kept) >= MAX_KEPT:
            return
        self.calls[name] = self.calls.get(name, 0) + 1
        lst = self.kept.setdefault(name, [])
        stack = self.stack
        after = self._objects()
        # the ids only now, after the snapshot: on Py_TRACE_REFS builds every int id() makes is an
        # object too, and would otherwise count as new in this window (and be kept)
        ids = set(map(id, before))
        for o in after:
            if id(o) not in ids and o is not before and o is not entry and o is not lst and o is not stack and o is not after:
                lst.append(o)
        del before, ids, after, entry

    def _profile(self, frame, event, arg):
        if event == 'c_call':
            code = frame.f_code
            key = (code.co_filename, frame.f_lineno)
            if key not in self.callees:
                ext = extension_callable(arg)
                if ext:
                    self.callees[key] = (code.co_name, ext)

    def attribute(self, fn, n):
        """One round of n calls with the gc off: the leaked objects per window, type and site."""
        self.kept = {}
        self.calls = {}
        self.callees = {}
        gc.collect()
        gc.disable()
        self.start_round('attribute')
        try:
            sys.setprofile(self._profile)
            try:
                for _ in range(n):
                    self._open('')
                    invoke(fn, 1)
                    self._close('')
            finally:
                sys.setprofile(None)
            self.mode = 'off'
            return self._leaked()
        finally:
            self.mode = 'off'
            self.kept = None
            gc.enable()
            gc.collect()

    def _leaked(self):
        kept = self.kept
        appearances = {}
        for lst in kept.values():
            for o in lst:
                appearances[id(o)] = appearances.get(id(o), 0) + 1
        mine = set(map(id, kept.values())) | {id(kept), id(appearances)}
        # references each kept object has beyond our lists; objects only we keep alive (a result
        # the repro dropped) are dead, and what they reference does not count: to a fixed point
        byid = {}
        for lst in kept.values():
            for o in lst:
                byid[id(o)] = o
        extra = {}
        for i, o in byid.items():
            extra[i] = sys.getrefcount(o) - 2 - appearances[i]  # - the argument, - the dict value
        o = None
        dead = set(i for i, e in extra.items() if e <= 0)
        for _ in range(8):
            got = dict((i, 0) for i in extra)
            for i in dead:
                for r in gc.get_referents(byid[i]):
                    if id(r) in got:
                        got[id(r)] += 1
            now = set(i for i, e in extra.items() if e - got[i] <= 0)
            if now == dead:
                break
            dead = now
        referenced = set()
        o = r = None
        everything = gc.get_objects()
        for o in everything:
            if id(o) in mine or id(o) in dead or id(o) == id(byid):
                continue
            hits = [r for r in gc.get_referents(o) if id(r) in appearances]
            if hits and not self._own(o):
                referenced.update(map(id, hits))
            hits = None
        del everything, o, r
        leaked = set(i for i in extra if i not in dead and i not in referenced)
        byid = None
        groups = {}
        for name, lst in kept.items():
            for o in lst:
                if id(o) not in leaked:
                    continue
                tb = self.tracemalloc.get_object_traceback(o)
                site = self.sites.of(_frames(tb)) if tb is not None else None
                if site is None:
                    continue  # allocated by pydbg's own measuring
                key = (name, type(o).__name__, site)
                g = groups.get(key)
                if g is None:
                    g = groups[key] = [0, _sample(o)]
                g[0] += 1
        out = []
        for (name, tname, site), (count, sample) in groups.items():
            where = site if isinstance(site, tuple) else None
            callee = self._callee(site)
            out.append({'window': name, 'type': tname, 'count': count, 'sample': sample,
                        'file': where[0] if where else None, 'line': where[1] if where else None,
                        'function': callee[0] if callee else None, 'callee': callee[1] if callee else None,
                        'target': site == 'target'})
        out.sort(key=lambda g: -g['count'])
        callees = [{'file': self.sites.name(f), 'line': l, 'function': c[0], 'callee': c[1]}
                   for (f, l), c in self.callees.items() if f not in OWN or l == INVOKE_LINE]
        return {'calls': self.calls, 'groups': out[:50], 'callees': callees[:200]}

    def _own(self, o):
        """Allocated by pydbg's measuring (a window's list of the objects before it): not a referrer that counts."""
        tb = self.tracemalloc.get_object_traceback(o)
        return tb is not None and self.sites.of(_frames(tb)) is None

    def _callee(self, site):
        if site == 'target':
            c = self.callees.get((os.path.join(os.path.dirname(os.path.abspath(__file__)), 'attribution.py'), INVOKE_LINE))
            return (None, c[1]) if c else None
        if isinstance(site, tuple):
            for (f, l), c in self.callees.items():
                if l == site[1] and self.sites.name(f) == site[0]:
                    return c
        return None
