# pydbg: in the run container, the project's own modules import from pydbg's build of the extension.
#
# pydbg builds the extension in a copy of the project (/pydbg/build, in place, or pip-installed into
# site-packages) but runs the command in /src, the project itself; Python puts the script's
# directory first on sys.path, so `import mypkg` would find /src/mypkg, which has no compiled module.
# The build recorded what it produced in /pydbg/manifest.json (pydbg_manifest.py): each top-level
# name that holds a compiled module, with the directory it comes from (its root). pydbg puts this
# directory on PYTHONPATH, so every Python process of the run (children too) loads this file, which
#   - puts the build's import directories (manifest "paths") on sys.path, where PYTHONPATH goes;
#   - puts a finder first on sys.meta_path that imports exactly those top-level names from their
#     root, and each compiled module from the build, whatever sys.path says; other names import as
#     usual;
#   - prints one `pydbg: note: ...` line on stderr (once per process and its children) when it
#     cannot guarantee this: a recorded name was imported from elsewhere anyway, a compiled module
#     failed to load (its package may then fall back to pure Python), or there is no manifest;
#   - then hands over to the next sitecustomize on the path, if any.
# CPython 3 (find_spec) and 2.7 (find_module/load_module with imp). python -I, -E or -S skip it;
# so does `-e PYDBG_MANIFEST=` (empty): imports then go exactly as Python alone would do them.
import os
import sys

MANIFEST = os.environ.get('PYDBG_MANIFEST', '/pydbg/manifest.json')
TOPS = {}  # top-level name -> the directory it must be imported from
EXTS = {}  # dotted name of a compiled module -> its file in the build
BUILD = os.path.join(os.path.dirname(MANIFEST), 'build')


def note(key, text):
    """One stderr line per key: the keys already said travel to child processes in PYDBG_NOTED."""
    said = os.environ.get('PYDBG_NOTED', '')
    if key in said.split('|'):
        return
    os.environ['PYDBG_NOTED'] = said + '|' + key if said else key
    try:
        sys.stderr.write('pydbg: note: %s\n' % text)
        sys.stderr.flush()
    except Exception:
        pass


def under(path, root):
    return os.path.normpath(path).startswith(os.path.normpath(root) + os.sep)


def origin(name):
    return getattr(sys.modules.get(name), '__file__', None) or '?'


def where(name, path):
    """The directory to import name from (None: not the build's business), noting a parent from elsewhere."""
    top = name.partition('.')[0]
    if top not in TOPS:
        return None
    if name == top:
        return TOPS[top]
    f = EXTS.get(name)
    if f is None:
        return None
    d = os.path.dirname(f)
    if path is not None and d not in [os.path.normpath(p) for p in path]:
        parent = name.rpartition('.')[0]
        note('shadowed:' + top, "%s was imported from %s, not from pydbg's build in %s; its compiled %s is loaded from the build"
             % (parent, origin(parent), TOPS[top], name))
    return d


def missing(name, d):
    note('missing:' + name, "%s is not in pydbg's build (%s); importing it from sys.path" % (name, d))


def failed(name, path, e):
    text = str(e) if path in str(e) else '%s: %s' % (path, e)
    tail = '; its package may fall back to pure Python' if '.' in name else ''
    note('failed:' + name, 'compiled module %s failed to import: %s%s' % (name, text, tail))


def check_at_exit():
    for top, root in sorted(TOPS.items()):
        f = getattr(sys.modules.get(top), '__file__', None)
        if f and not under(os.path.abspath(f), root):
            built = ', '.join(sorted(n for n in EXTS if n.partition('.')[0] == top))
            note('shadowed:' + top, "%s was imported from %s, not from pydbg's build in %s (compiled: %s)"
                 % (top, os.path.abspath(f), root, built))


if sys.version_info[0] >= 3:
    from importlib.machinery import ExtensionFileLoader, PathFinder

    class BuiltExtension(ExtensionFileLoader):
        """A compiled module of the build; a failure to load it is noted."""

        def create_module(self, spec):
            try:
                return ExtensionFileLoader.create_module(self, spec)
            except ImportError as e:
                failed(spec.name, self.path, e)
                raise

        def exec_module(self, module):
            try:
                ExtensionFileLoader.exec_module(self, module)
            except ImportError as e:
                failed(module.__name__, self.path, e)
                raise

    class BuildFinder(object):
        def find_spec(self, name, path=None, target=None):
            d = where(name, path)
            if d is None:
                return None
            spec = PathFinder.find_spec(name, [d])
            if spec is None:
                missing(name, d)
            elif isinstance(spec.loader, ExtensionFileLoader):
                spec.loader = BuiltExtension(spec.loader.name, spec.loader.path)
            elif spec.origin in (None, 'namespace') and spec.submodule_search_locations is not None:
                # a namespace package: the build's portion first, then the others on sys.path
                rest = PathFinder.find_spec(name)
                mine = list(spec.submodule_search_locations)
                others = list(rest.submodule_search_locations or []) if rest else []
                spec.submodule_search_locations = mine + [p for p in others if p not in mine]
            return spec

        def invalidate_caches(self):
            pass
else:
    import imp

    class BuiltLoader(object):
        def __init__(self, found):
            self.found = found

        def load_module(self, name):
            f, path, desc = self.found
            try:
                return imp.load_module(name, f, path, desc)
            except ImportError as e:
                if desc[2] == imp.C_EXTENSION:
                    failed(name, path, e)
                raise
            finally:
                if f:
                    f.close()

    class BuildFinder(object):
        def find_module(self, name, path=None):
            d = where(name, path)
            if d is None:
                return None
            try:
                return BuiltLoader(imp.find_module(name.rpartition('.')[2], [d]))
            except ImportError:
                missing(name, d)
                return None


def native(s):
    return s.encode('utf-8') if sys.version_info[0] < 3 and not isinstance(s, str) else s


def install(position):
    """Read the manifest; put its paths on sys.path at position and the finder first on sys.meta_path."""
    import json
    try:
        with open(MANIFEST) as f:
            m = json.load(f)
    except (IOError, OSError, ValueError) as e:
        paths = [BUILD, os.path.join(BUILD, 'src')]
        note('manifest', 'cannot read the build manifest %s (%s): imports search the script directory, then %s'
             % (MANIFEST, getattr(e, 'strerror', None) or e, ' and '.join(paths)))
        sys.path[position:position] = [p for p in paths if os.path.isdir(p)]
        return
    for k, v in m.get('modules', {}).items():
        TOPS[native(k)] = native(v)
    for k, v in m.get('extensions', {}).items():
        EXTS[native(k)] = native(v)
    sys.path[position:position] = [native(p) for p in m.get('paths', []) if p not in sys.path and os.path.isdir(p)]
    if not TOPS:
        note('nothing', 'the build (%s) left no compiled module pydbg could find in %s or site-packages: '
             'imports search the script directory first, as usual' % (m.get('kind'), m.get('build')))
        return
    sys.meta_path.insert(0, BuildFinder())
    import atexit
    atexit.register(check_at_exit)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    position = 0
    for i in reversed(range(len(sys.path))):
        if os.path.abspath(sys.path[i] or '.') == here:
            del sys.path[i]
            position = i
    try:
        if MANIFEST:
            install(position)
    except Exception as e:  # never break the user's interpreter
        note('error', 'the import set-up failed (%s: %s): imports use sys.path as is' % (type(e).__name__, e))
    # hand over to the next sitecustomize on the path, if any; keep this module under another name
    # (2.7 clears a dropped module's globals, which the finder uses) and, when there is no other,
    # under its own (the import system expects to find it there when this file returns)
    me = sys.modules['_pydbg_site'] = sys.modules.pop(__name__)
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        pass
    sys.modules.setdefault(__name__, me)


main()
