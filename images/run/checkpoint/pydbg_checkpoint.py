# pydbg checkpoints: name the parts of your own code a leak hunt should measure.
#
#   from pydbg_checkpoint import checkpoint
#   with checkpoint("search"):
#       conn.search_s(...)
#
# Under `pydbg check leaks script.py`, each named checkpoint accumulates, over all its calls, the
# growth across its block: total refcount, allocated memory blocks, traced bytes, RSS, and (in one
# extra attribution round) the new objects that survive it, by type, allocation site and the
# extension function called there; pydbg then reports, per checkpoint, what leaks and by how much
# per call. Anywhere else (pydbg run, other analyses, plain python with this file on the path)
# checkpoint() does nothing. This file has no dependencies: copy it next to your script to run it
# outside pydbg, or guard the import:
#   try:
#       from pydbg_checkpoint import checkpoint
#   except ImportError:  # not under pydbg
#       from contextlib import nullcontext as checkpoint
# CPython 2.7 and 3.x.
__all__ = ['checkpoint']

# set by pydbg's leak hunt (leakhunt.py): an object with enter(name) and exit(name)
_hunter = None

try:
    _str = basestring  # noqa: F821 (2.7)
except NameError:
    _str = str


class checkpoint(object):
    """A named block whose growth pydbg's leak hunt measures; nothing otherwise."""
    __slots__ = ('name',)

    def __init__(self, name):
        if not isinstance(name, _str) or not name:
            raise TypeError('checkpoint() needs a non-empty name (a str), not %r' % (name,))
        self.name = name

    def __enter__(self):
        h = _hunter
        if h is not None:
            h.enter(self.name)
        return self

    def __exit__(self, exc_type, exc, tb):  # no *args: a packed tuple per call would be measured
        h = _hunter
        if h is not None:
            h.exit(self.name)
        return False
