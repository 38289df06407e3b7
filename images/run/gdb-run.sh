#!/bin/sh
# pydbg: run a command under gdb. A script with a #! line (pytest, a console script) is run through
# its interpreter, since gdb needs an executable.
# Usage: gdb-run.sh batch|interactive CMD [ARGS…]   or   gdb-run.sh core EXECUTABLE COREFILE
mode="$1"; shift
if [ "$mode" = core ]; then
  # analyse a core file: gdb-run.sh core EXECUTABLE CORE
  exec gdb -q -nx -batch -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set debuginfod enabled off' \
    -x /opt/pydbg-run/pydbg_gdb.py \
    -ex 'echo PYDBG-BT-BEGIN\n' -ex bt -ex 'echo PYDBG-BT-END\n' \
    -ex pydbg-frames \
    -ex 'echo PYDBG-PYBT-BEGIN\n' -ex py-bt -ex 'echo PYDBG-PYBT-END\n' \
    "$1" "$2"
fi
prog="$(command -v "$1" 2>/dev/null || echo "$1")"
if [ -f "$prog" ] && [ "$(head -c 2 "$prog" 2>/dev/null)" = '#!' ]; then
  interp="$(head -n 1 "$prog" | sed 's/^#![[:space:]]*//')"
  shift
  # shellcheck disable=SC2086 # the interpreter line may carry an argument (e.g. "/usr/bin/env python")
  set -- $interp "$prog" "$@"
fi
if [ "$mode" = interactive ]; then
  exec gdb -q -nx -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set startup-with-shell off' \
    -ex 'set debuginfod enabled off' -x /opt/pydbg-run/pydbg_gdb.py -ex run --args "$@"
fi
exec gdb -q -nx -batch -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set startup-with-shell off' \
  -ex 'set debuginfod enabled off' -x /opt/pydbg-run/pydbg_gdb.py \
  -ex run \
  -ex 'echo PYDBG-BT-BEGIN\n' -ex bt -ex 'echo PYDBG-BT-END\n' \
  -ex pydbg-frames \
  -ex 'echo PYDBG-PYBT-BEGIN\n' -ex py-bt -ex 'echo PYDBG-PYBT-END\n' \
  --args "$@"
