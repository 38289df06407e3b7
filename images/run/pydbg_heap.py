# Run by `pydbg heap` inside a live Python process (through `pydbg inject`: gdb holds the GIL while it
# runs). Prints one JSON line starting with PYDBG-HEAP.
#   census [remember] live objects per type (after a collection), total refcount, allocated blocks,
#                     RSS, len(gc.garbage), tracemalloc's top lines if tracing; 'remember' keeps the
#                     ids of the objects alive now (in sys.modules['__pydbg_heap_state__']), so that
#                     holders looks at objects created since
#   holders TYPE N    for up to N recent objects of TYPE: the chain of referrers from the object up
#                     to a module, a class or a running frame (breadth-first over gc.get_referrers,
#                     like objgraph's find_backref_chain), each link named (attribute, key, index)
# Works on 2.7 and 3.x. On trace-refs builds every object is counted (sys.getobjects), else the
# objects the gc tracks (a tuple of atoms, str, int, float are not: their growth shows in the refcount).
import gc
import json
import sys
import types

MAX_DEPTH = 12
MAX_NODES = 20000
REPR_CHARS = 80


def _rss_kb():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError):
        pass
    return None


def _name(t):
    m = getattr(t, '__module__', None)
    n = getattr(t, '__qualname__', None) or t.__name__
    return n if m in (None, 'builtins', '__builtin__') else '%s.%s' % (m, n)


def _objects():
    if hasattr(sys, 'getobjects'):
        return sys.getobjects(0), 'getobjects'
    return gc.get_objects(), 'gc'


STATE = '__pydbg_heap_state__'


def census(remember=False):
    gc.collect()
    objs, source = _objects()
    if remember:
        state = types.ModuleType(STATE)
        state.ids = set(id(o) for o in objs)
        sys.modules[STATE] = state
    # the remembered ids are pydbg's, not the program's: not counted
    state = sys.modules.get(STATE)
    mine = set([id(state), id(getattr(state, '__dict__', None)), id(getattr(state, 'ids', None))]) if state is not None else set()
    counts = {}
    for o in objs:
        if mine and id(o) in mine:
            continue
        t = type(o)
        counts[t] = counts.get(t, 0) + 1
    del objs, state
    out = {
        'source': source,
        'types': dict((_name(t), n) for t, n in counts.items()),
        'refs': sys.gettotalrefcount() if hasattr(sys, 'gettotalrefcount') else None,
        'blocks': sys.getallocatedblocks() if hasattr(sys, 'getallocatedblocks') else None,
        'rssKb': _rss_kb(),
        'garbage': len(gc.garbage),
    }
    tm = sys.modules.get('tracemalloc')
    if tm is not None and tm.is_tracing():
        out['tracemalloc'] = [{'file': st.traceback[0].filename, 'line': st.traceback[0].lineno, 'size': st.size, 'count': st.count}
                              for st in tm.take_snapshot().statistics('lineno')[:10]]
    return out


def _short(o):
    try:
        r = repr(o)
    except Exception as e:  # a broken __repr__ must not stop the census
        r = '<repr failed: %s>' % type(e).__name__
    return r if len(r) <= REPR_CHARS else r[:REPR_CHARS - 3] + '...'


def _describe(o):
    t = type(o)
    d = {'type': _name(t)}
    if isinstance(o, types.ModuleType):
        d['repr'] = 'module %s' % o.__name__
        f = getattr(o, '__file__', None)
        if f:
            d['file'] = f
    elif isinstance(o, type):
        d['repr'] = 'class %s' % _name(o)
    elif isinstance(o, types.FrameType):
        d['repr'] = 'frame of %s() at %s:%d' % (o.f_code.co_name, o.f_code.co_filename, o.f_lineno)
    elif isinstance(o, (list, dict, set, tuple, frozenset)):
        d['repr'] = '%s of %d' % (type(o).__name__, len(o))
    else:
        d['repr'] = _short(o)
    return d


def _link(parent, child):
    """How parent refers to child: '.attr', '[key]', '[index]', or ''."""
    try:
        if isinstance(parent, dict):
            for k, v in parent.items():
                if v is child:
                    return '[%s]' % _short(k)
                if k is child:
                    return 'key %s' % _short(k)
        elif isinstance(parent, (list, tuple)):
            for i, v in enumerate(parent):
                if v is child:
                    return '[%d]' % i
        elif isinstance(parent, types.FrameType):
            for k, v in parent.f_locals.items():
                if v is child:
                    return 'local %s' % k
        d = getattr(parent, '__dict__', None)
        if isinstance(d, dict) and d is child:
            return '.__dict__'
        if isinstance(d, dict):
            for k, v in d.items():
                if v is child:
                    return '.%s' % k
    except Exception:
        pass
    return ''


def _is_root(o):
    return isinstance(o, (types.ModuleType, type, types.FrameType))


def _chain(obj, ignore):
    """The shortest referrer chain from a root to obj (root first), or None."""
    parent = {id(obj): None}
    keep = {id(obj): obj}
    queue = [obj]
    depth = {id(obj): 0}
    seen = 0
    while queue:
        cur = queue.pop(0)
        if depth[id(cur)] >= MAX_DEPTH:
            continue
        refs = gc.get_referrers(cur)
        roots = []
        try:
            for r in refs:
                if id(r) in parent or id(r) in ignore or r is refs or r is queue or r is parent or r is keep or r is depth or r is roots:
                    continue
                if isinstance(r, types.FrameType) and r.f_code.co_filename == __file__:
                    continue
                parent[id(r)] = cur
                keep[id(r)] = r
                depth[id(r)] = depth[id(cur)] + 1
                seen += 1
                if _is_root(r):
                    roots.append(r)
                elif seen < MAX_NODES:
                    queue.append(r)
        finally:
            del refs
        if roots:
            # a module global reads better than a class attribute, and both better than a frame
            r = sorted(roots, key=lambda x: 0 if isinstance(x, types.ModuleType) else 1 if isinstance(x, type) else 2)[0]
            out = [r]
            c = r
            while parent[id(c)] is not None:
                c = parent[id(c)]
                out.append(c)
            return out
    return None


def _fold_dicts(ch, nodes):
    """module .__dict__ -> dict ['CACHE'] -> ... reads as module .CACHE -> ..."""
    out = []
    i = 0
    while i < len(nodes):
        d = nodes[i]
        nxt = ch[i + 1] if i + 1 < len(ch) else None
        if d.get('link') == '.__dict__' and isinstance(nxt, dict) and i + 2 < len(ch):
            for k, v in nxt.items():
                if v is ch[i + 2] and isinstance(k, str):
                    d = dict(d, link='.%s' % k)
                    i += 1
                    break
        out.append(d)
        i += 1
    return out


def holders(typename, n):
    gc.collect()
    objs, _ = _objects()
    state = sys.modules.pop(STATE, None)
    old = getattr(state, 'ids', None) or set()
    of_type = [o for o in objs if _name(type(o)) == typename]
    # objects created since the first census (the growth), else any; the earliest of them: the
    # newest are this call's own (runpy's bookkeeping)
    new = [o for o in of_type if id(o) not in old]
    sample = new[:n] if new else of_type[-n:]
    del new
    del objs, of_type, old, state
    ignore = set([id(sample)])
    chains = []
    for o in sample:
        ch = _chain(o, ignore)
        if ch is None:
            # no chain to a root: is anything the gc can see holding it at all? A refcount with no
            # referrer is a reference nobody owns: the signature of a C-extension refleak.
            held = [r for r in gc.get_referrers(o) if r is not sample and not (isinstance(r, types.FrameType) and r.f_code.co_filename == __file__)]
            # sample, the loop variable and getrefcount's argument hold 3
            unexplained = sys.getrefcount(o) - 3 - len(held)
            chains.append({'object': _describe(o), 'chain': None, 'referrers': len(held), 'unexplainedRefs': unexplained,
                           'verdict': 'leaked reference' if not held and unexplained > 0 else 'no root'})
            del held
            continue
        nodes = []
        for i, node in enumerate(ch):
            d = _describe(node)
            if i + 1 < len(ch):
                d['link'] = _link(node, ch[i + 1])
            nodes.append(d)
        chains.append({'object': _describe(o), 'chain': _fold_dicts(ch, nodes)})
        del ch
    return {'type': typename, 'chains': chains}


def main(argv):
    if argv[0] == 'census':
        out = census(argv[1:] == ['remember'])
    elif argv[0] == 'holders':
        out = holders(argv[1], int(argv[2]))
    else:
        raise SystemExit('pydbg_heap: unknown mode %r' % argv[0])
    sys.stdout.write('PYDBG-HEAP %s\n' % json.dumps(out))


main(PYDBG_HEAP_ARGS)  # noqa: F821 (given by the caller)
