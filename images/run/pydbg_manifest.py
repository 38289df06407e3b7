# pydbg: record what the extension build produced (CPython 2.7 and 3.x). pydbg runs this in the build
# container right after the build (extBuildScript embeds it), and site/sitecustomize.py reads the
# result in every run container, so that `import mypkg` finds the build, not the project's sources.
#
#   python pydbg_manifest.py OUT BUILD_DIR PROJECT STAMP KIND INPLACE
#
# It finds the compiled modules (files ending in one of the interpreter's extension suffixes) in the
# build copy BUILD_DIR, and those newer than the file STAMP in site-packages (pip install .), and
# gives each its dotted name and the directory its top-level name is imported from (its root):
#   - in BUILD_DIR: setuptools builds into build/lib.*/ at the dotted path before copying in place;
#     a matching file there gives the name (namespace packages, package_dir={'': 'Lib'}). Otherwise
#     the name comes from the chain of __init__.py above the file.
#   - in site-packages: the path below site-packages (or below an .egg directory) is the name.
# OUT (JSON): modules {top-level name: root}, extensions {dotted name: file}, and paths: directories
# to put on sys.path (INPLACE=1: BUILD_DIR and BUILD_DIR/src, as before, then the other roots).
import json
import os
import re
import sys

IDENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def suffixes():
    try:
        from importlib.machinery import EXTENSION_SUFFIXES
        s = list(EXTENSION_SUFFIXES)
    except ImportError:  # 2.7
        import imp
        s = [x[0] for x in imp.get_suffixes() if x[2] == imp.C_EXTENSION]
    return sorted(s, key=len, reverse=True)


SUFFIXES = suffixes()


def module_name(filename):
    for s in SUFFIXES:
        if filename.endswith(s) and IDENT.match(filename[:-len(s)]):
            return filename[:-len(s)]
    return None


def compiled(top, skip=lambda d, n: False):
    """(path, module name) of every compiled module under top; skip(dir, name) prunes directories."""
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(n for n in dirs if not n.startswith('.') and n != '__pycache__' and not skip(d, n))
        for f in sorted(files):
            m = module_name(f)
            if m:
                yield os.path.join(d, f), m


def lib_index(build):
    """setuptools' build/lib.*/ trees: file name -> [path components below lib.*]."""
    index = {}
    top = os.path.join(build, 'build')
    for lib in sorted(os.listdir(top)) if os.path.isdir(top) else []:
        if lib.startswith('lib'):
            base = os.path.join(top, lib)
            for path, _ in compiled(base):
                index.setdefault(os.path.basename(path), []).append(os.path.relpath(path, base).split(os.sep))
    return index


def in_place(build, path, mod, index):
    """(root, dotted name) of a compiled module in the build copy."""
    rel = os.path.relpath(path, build).split(os.sep)
    best = None
    for q in index.get(rel[-1], ()):
        if rel[-len(q):] == q and (best is None or len(q) > len(best)):
            best = q
    if best:
        return os.path.join(build, *rel[:len(rel) - len(best)]), best[:-1] + [mod]
    parts, d = [mod], os.path.dirname(path)
    while d != build and os.path.isfile(os.path.join(d, '__init__.py')):
        parts.insert(0, os.path.basename(d))
        d = os.path.dirname(d)
    return d, parts


def site_dirs():
    dirs = set()
    try:
        import site
        dirs.update(site.getsitepackages())
    except Exception:
        pass
    import sysconfig
    for k in ('purelib', 'platlib'):
        dirs.add(sysconfig.get_paths()[k])
    return sorted(os.path.normpath(d) for d in dirs if os.path.isdir(d))


def installed(site, stamp):
    """(root, dotted name, path) of the compiled modules installed under site since stamp."""
    for path, mod in compiled(site, lambda d, n: n.endswith(('.dist-info', '.egg-info'))):
        try:
            if os.stat(path).st_mtime < stamp:
                continue
        except OSError:  # a dangling link
            continue
        rel = os.path.relpath(path, site).split(os.sep)
        root = site
        if rel[0].endswith('.egg') and len(rel) > 1:
            root, rel = os.path.join(site, rel[0]), rel[1:]
        yield root, rel[:-1] + [mod], path


def main(out, build, project, stamp_file, kind, inplace):
    build = os.path.normpath(build)
    stamp = os.stat(stamp_file).st_mtime if os.path.exists(stamp_file) else 0
    sites = site_dirs()
    found = []  # (root, parts, path): what pip installed first, then the build copy
    for site in sites:
        found.extend(installed(site, stamp))
    if os.path.isdir(build):
        index = lib_index(build)
        for path, mod in compiled(build, lambda d, n: d == build and n == 'build'):
            root, parts = in_place(build, path, mod, index)
            found.append((root, parts, path))
    modules, extensions, conflicts = {}, {}, []
    for root, parts, path in found:
        if not all(IDENT.match(p) for p in parts):
            continue
        if modules.setdefault(parts[0], root) != root:
            conflicts.append(path)
            continue
        extensions['.'.join(parts)] = path
    paths = []
    if inplace:  # what PYTHONPATH held before the manifest existed
        paths = [build] + [p for p in [os.path.join(build, 'src')] if os.path.isdir(p)]
    for root in sorted(set(modules.values())):
        if root not in paths and not any(root == s or root.startswith(s + os.sep) for s in sites):
            paths.append(root)
    manifest = {'version': 1, 'kind': kind, 'build': build, 'project': os.path.normpath(project),
                'paths': paths, 'modules': modules, 'extensions': extensions, 'conflicts': conflicts}
    with open(out, 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    for name in sorted(extensions):
        print('pydbg: built %s (%s)' % (name, extensions[name]))
    if not extensions:
        print('pydbg: the build produced no compiled module under %s or site-packages' % build)


if __name__ == '__main__':
    a = sys.argv[1:]
    if len(a) != 6:
        sys.exit('usage: pydbg_manifest.py OUT BUILD_DIR PROJECT STAMP KIND INPLACE')
    main(a[0], a[1], a[2], a[3], a[4], a[5] == '1')
