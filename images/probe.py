# pydbg variant probe: proves, inside the image, what the interpreter really is.
# Runs on CPython 2.7 and 3.x. Prints one line "PYDBG-PROBE <json>" and exits 1 on any mismatch
# with the expected properties (so the image build fails and nothing is tagged).
# `probe.py --fast EXPECTED`: the interpreter's own properties only (no gdb, Valgrind or extension
# build, which are reported as null and not compared): re-checks a pulled image in seconds.
from __future__ import print_function

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import platform


def config_bool(name):
    value = sysconfig.get_config_var(name)
    return bool(value) if value is not None else False


def allocator_name():
    for modname in ('_testinternalcapi', '_testcapi'):
        try:
            mod = __import__(modname)
        except ImportError:
            continue
        fn = getattr(mod, 'pymem_getallocatorsname', None)
        if fn is not None:
            return fn()
    return None


def sanitizer_symbols():
    try:
        import ctypes
        lib = ctypes.CDLL(None)
        return (hasattr(lib, '__asan_init'), hasattr(lib, '__ubsan_handle_add_overflow'),
                hasattr(lib, '__tsan_init'))
    except Exception:
        return False, False, False


def mem_debug_hooks(asan, allocator):
    """The debug hooks surround every block with forbidden bytes (0xFB on 2.7, 0xFD on 3.x)."""
    if asan and not (allocator or '').endswith('_debug'):
        return False  # reading outside a raw malloc block would (rightly) trip ASan itself
    import ctypes
    api = ctypes.pythonapi
    if sys.version_info[0] == 2:
        # 2.7: PYMALLOC_DEBUG routes the PyObject_MALLOC macro to _PyObject_DebugMalloc; the
        # PyObject_Malloc function stays raw pymalloc. The debug allocator exists only with the macro.
        names, forbidden = ('_PyObject_DebugMalloc', '_PyObject_DebugFree'), 0xFB
    else:
        # 3.6+: the hooks wrap whatever allocator is installed, behind the public API.
        names, forbidden = ('PyObject_Malloc', 'PyObject_Free'), 0xFD
    try:
        malloc, free = getattr(api, names[0]), getattr(api, names[1])
    except AttributeError:
        return False
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    free.argtypes = [ctypes.c_void_p]
    p = malloc(16)
    try:
        before = bytearray(ctypes.string_at(p - 1, 1))[0]
        after = bytearray(ctypes.string_at(p + 16, 1))[0]
    finally:
        free(p)
    return before == forbidden and after == forbidden


GDB_SCRIPT = "def pydbg_probe_fn():\n    id(42)\n\npydbg_probe_fn()\n"


def gdb_py_bt(workdir):
    """gdb + python-gdb.py: break in builtin_id and ask py-bt for the Python function. Under QEMU
    user emulation there is no ptrace, so gdb drives QEMU's gdb stub instead (QEMU_GDB=<port>)."""
    script = os.path.join(workdir, 'gdbprobe.py')
    with open(script, 'w') as f:
        f.write(GDB_SCRIPT)
    base = ['gdb', '-nx', '-batch', '-ex', 'set debuginfod enabled off']
    native = base + ['-ex', 'set startup-with-shell off', '-ex', 'break builtin_id', '-ex', 'run',
                     '-ex', 'py-bt', '--args', sys.executable, '-S', script]
    text = run_gdb(native)
    how = 'ptrace'
    if not gdb_ok(text) and no_ptrace(text):
        text = gdb_via_qemu_stub(base, script)
        how = 'qemu-gdb-stub'
    return gdb_ok(text), how, text[-1500:]


def gdb_ok(text):
    return 'pydbg_probe_fn' in text and 'Undefined command' not in text


def no_ptrace(text):
    return any(s in text for s in ('ptrace', "Couldn't get registers", 'Function not implemented',
                                   'During startup program exited'))


def run_gdb(cmd):
    try:
        out = subprocess.check_output(cmd, stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError) as e:
        out = getattr(e, 'output', None) or str(e).encode()
    return out.decode('utf-8', 'replace')


def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gdb_via_qemu_stub(base, script):
    port = free_port()
    env = dict(os.environ)
    env['QEMU_GDB'] = str(port)
    target = subprocess.Popen([sys.executable, '-S', script], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        return run_gdb(base + ['-ex', 'set sysroot /', '-ex', 'set tcp connect-timeout 30',
                               '-ex', 'target remote 127.0.0.1:%d' % port, '-ex', 'break builtin_id',
                               '-ex', 'continue', '-ex', 'py-bt', '-ex', 'kill', sys.executable])
    finally:
        if target.poll() is None:
            target.kill()
        target.wait()


EXT_C = r'''
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "pydbgprobe_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_pydbgprobe_ext(void) { return PyModule_Create(&mod); }
#else
PyMODINIT_FUNC initpydbgprobe_ext(void) { Py_InitModule("pydbgprobe_ext", methods); }
#endif
'''

SETUP_PY = '''
from setuptools import setup, Extension
setup(name="pydbgprobe_ext", version="0", ext_modules=[Extension("pydbgprobe_ext", ["pydbgprobe_ext.c"])])
'''


def ext_build(workdir):
    """Both ways users build extensions: setup.py build_ext --inplace, and pip install . (offline).
    Returns (build_ext ok, pip install ok, output tail)."""
    d = os.path.join(workdir, 'ext')
    os.mkdir(d)
    with open(os.path.join(d, 'pydbgprobe_ext.c'), 'w') as f:
        f.write(EXT_C)
    with open(os.path.join(d, 'setup.py'), 'w') as f:
        f.write(SETUP_PY)
    check = [sys.executable, '-c', 'import pydbgprobe_ext; print(pydbgprobe_ext.add(40, 2))']
    pip = [sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index']
    if sys.version_info[0] >= 3:
        pip.append('--no-build-isolation')
    def attempt(steps, cwd_check):
        try:
            for step in steps:
                subprocess.check_output(step, cwd=d, stderr=subprocess.STDOUT)
            out = subprocess.check_output(check, cwd=cwd_check, stderr=subprocess.STDOUT)
            return out.decode().strip().splitlines()[-1] == '42', ''
        except (OSError, subprocess.CalledProcessError) as e:
            return False, (getattr(e, 'output', None) or str(e).encode()).decode('utf-8', 'replace')[-1500:]

    inplace_ok, tail1 = attempt([[sys.executable, 'setup.py', 'build_ext', '--inplace']], d)
    shutil.rmtree(os.path.join(d, 'build'), ignore_errors=True)
    for f in os.listdir(d):
        if f.endswith('.so'):
            os.remove(os.path.join(d, f))
    pip_ok, tail2 = attempt([pip + ['.']], workdir)
    subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '-y', 'pydbgprobe_ext'],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return inplace_ok, pip_ok, (tail1 + '\n' + tail2).strip()


STDLIB_C_MODULES = {
    2: ['_ssl', '_hashlib', '_ctypes', 'zlib', 'bz2', '_sqlite3', 'readline', '_curses', 'dbm', 'gdbm',
        'pyexpat', '_json'],
    3: ['_ssl', '_hashlib', '_ctypes', 'zlib', '_bz2', '_lzma', '_sqlite3', 'readline', '_decimal', '_uuid',
        '_curses', '_dbm', '_gdbm', 'pyexpat', '_json'],
}


LEAK_C = """#include <stdlib.h>
void *pydbg_leak(void) { return malloc(100); }
int main(void) { void *p = pydbg_leak(); p = 0; return p != 0; }
"""


def valgrind_check(workdir, supp='/opt/pydbg/valgrind-python.supp'):
    """Valgrind accepts the image's suppressions file (a malformed one stops every memcheck run), and
    its stacks reach past malloc to the caller's file:line (on 32-bit ARM they stop at malloc unless
    Valgrind's own CFI is installed). Returns (suppressions ok, stacks ok, output tail)."""
    src = os.path.join(workdir, 'leak.c')
    exe = os.path.join(workdir, 'leak')
    with open(src, 'w') as f:
        f.write(LEAK_C)
    try:
        subprocess.check_output(['gcc', '-g', '-O0', '-o', exe, src], stderr=subprocess.STDOUT)
        out = subprocess.check_output(['valgrind', '--leak-check=full', '--suppressions=' + supp, exe],
                                      stderr=subprocess.STDOUT).decode('utf-8', 'replace')
    except (OSError, subprocess.CalledProcessError) as e:
        out = (getattr(e, 'output', None) or str(e).encode()).decode('utf-8', 'replace')
    return 'FATAL' not in out and 'definitely lost' in out, 'pydbg_leak (leak.c:2)' in out, out[-1500:]


def hash_algorithm():
    info = getattr(sys, 'hash_info', None)  # 3.4+
    return getattr(info, 'algorithm', None)


def missing_modules():
    missing = []
    for name in STDLIB_C_MODULES[sys.version_info[0]]:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


def package_version(name):
    try:
        from importlib import metadata  # 3.8+
        return metadata.version(name)
    except Exception:
        pass
    try:
        return getattr(__import__(name), '__version__', None)
    except Exception:
        return None


def main():
    args = sys.argv[1:]
    fast = '--fast' in args
    args = [a for a in args if a != '--fast']
    expected_path = args[0] if args else None
    workdir = tempfile.mkdtemp(prefix='pydbg-probe-')
    asan, ubsan, tsan = sanitizer_symbols()
    allocator = allocator_name()
    try:
        if fast:
            gdb_ok, gdb_how, gdb_tail = None, None, ''
            ext_ok, pip_ok, ext_tail = None, None, ''
            supp_ok, stacks_ok, valgrind_tail = None, None, ''
        else:
            gdb_ok, gdb_how, gdb_tail = gdb_py_bt(workdir)
            ext_ok, pip_ok, ext_tail = ext_build(workdir)
            supp_ok, stacks_ok, valgrind_tail = valgrind_check(workdir)
        props = {
            'version': '%d.%d.%d' % tuple(sys.version_info[:3]),
            'py_debug': config_bool('Py_DEBUG'),
            'ref_debug': hasattr(sys, 'gettotalrefcount'),
            'trace_refs': hasattr(sys, 'getobjects'),
            'count_allocs': hasattr(sys, 'getcounts'),
            'with_pymalloc': config_bool('WITH_PYMALLOC'),
            'with_valgrind': config_bool('WITH_VALGRIND'),
            'gil_disabled': config_bool('Py_GIL_DISABLED'),
            'abiflags': getattr(sys, 'abiflags', None),
            'allocator': allocator,
            'mem_debug_hooks': mem_debug_hooks(asan, allocator),
            'asan': asan,
            'ubsan': ubsan,
            'tsan': tsan,
            'gdb_py_bt': gdb_ok,
            'ext_build': ext_ok,
            'pip_install': pip_ok,
            'hash_algorithm': hash_algorithm(),
            'tzset': hasattr(time, 'tzset'),
            'computed_gotos': config_bool('HAVE_COMPUTED_GOTOS'),
            'missing_modules': missing_modules(),
            'valgrind_suppressions': supp_ok,
            'valgrind_stacks': stacks_ok,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info = {
        'executable': os.path.realpath(sys.executable),
        'sys_version': sys.version.replace('\n', ' '),
        'config_args': sysconfig.get_config_var('CONFIG_ARGS'),
        'cflags': sysconfig.get_config_var('CFLAGS'),
        'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX') or sysconfig.get_config_var('SO'),
        'gdb_via': gdb_how,
        'machine': platform.machine(),
        'pip': package_version('pip'),
        'setuptools': package_version('setuptools'),
        'wheel': package_version('wheel'),
        'PYTHONMALLOC': os.environ.get('PYTHONMALLOC'),
    }
    mismatches = []
    if expected_path:
        with open(expected_path) as f:
            expected = json.load(f)['expected']
        for key in sorted(expected):
            if expected[key] is None:
                continue  # not applicable to this version
            if fast and props.get(key) is None:
                continue  # not measured by --fast
            if props.get(key) != expected[key]:
                mismatches.append({'property': key, 'expected': expected[key], 'actual': props.get(key)})
    print('PYDBG-PROBE ' + json.dumps({'properties': props, 'info': info, 'mismatches': mismatches, 'fast': fast}, sort_keys=True))
    if mismatches and not fast:
        for m in mismatches:
            print('pydbg probe: %s: expected %r, got %r' % (m['property'], m['expected'], m['actual']), file=sys.stderr)
        if not props['gdb_py_bt']:
            print('pydbg probe: gdb output tail:\n' + gdb_tail, file=sys.stderr)
        if not props['valgrind_suppressions'] or not props['valgrind_stacks']:
            print('pydbg probe: valgrind output tail:\n' + valgrind_tail, file=sys.stderr)
        if not props['ext_build'] or not props['pip_install']:
            print('pydbg probe: extension build output tail:\n' + ext_tail, file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
