# pydbg (ARM under QEMU, --gdb / crash capture): the program was started with QEMU_GDB=<port> so
# that gdb can attach through QEMU's gdb stub. Its children must not wait for a debugger too: drop
# the variable now (os.environ.pop also unsets it for subprocesses), then hand over to any other
# sitecustomize on the path, as if this one did not exist.
import os
import sys

os.environ.pop('QEMU_GDB', None)
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != _here]
if os.environ.get('PYTHONPATH'):
    rest = [p for p in os.environ['PYTHONPATH'].split(os.pathsep) if os.path.abspath(p or '.') != _here]
    if rest:
        os.environ['PYTHONPATH'] = os.pathsep.join(rest)
    else:
        del os.environ['PYTHONPATH']
_me = sys.modules.pop('sitecustomize')
try:
    import sitecustomize  # noqa: F401  (the next one on the path, if any: pydbg's site/ in a run)
except ImportError:
    pass
# with no other one, this module must be back in sys.modules when it returns (else the import
# system fails with KeyError: 'sitecustomize')
sys.modules.setdefault('sitecustomize', _me)
