#!/bin/sh
# pydbg: run a command under gdb. A script with a #! line (pytest, a console script) is run through
# its interpreter, since gdb needs an executable.
# Usage: gdb-run.sh batch|interactive CMD [ARGS…]   or   gdb-run.sh core EXECUTABLE COREFILE
# Under QEMU user emulation (PYDBG_QEMU_GDB=1, set by pydbg for ARM on x86-64) there is no ptrace:
# the program is started with QEMU_GDB=<port>, so QEMU's gdb stub holds it at its first
# instruction, and gdb attaches with `target remote`.
mode="$1"; shift
if [ "$mode" = core ]; then
  # analyse a core file: gdb-run.sh core EXECUTABLE CORE
  exec gdb -q -nx -batch -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set debuginfod enabled off' \
    -x /opt/pydbg-run/pydbg_gdb.py \
    -ex 'echo PYDBG-REGS-BEGIN\n' -ex 'info registers' -ex 'echo PYDBG-REGS-END\n' \
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
# "#!/usr/bin/env python": run the interpreter itself (gdb needs the real executable)
if [ "$1" = /usr/bin/env ] || [ "$1" = env ]; then shift; fi
exe="$(command -v "$1" 2>/dev/null || echo "$1")"

if [ -n "${PYDBG_QEMU_GDB:-}" ]; then
  port="${PYDBG_QEMU_GDB_PORT:-42817}"
  # the program's own children must not stop for a debugger: qemu-site/sitecustomize.py drops
  # QEMU_GDB from the environment as soon as Python starts (and chains to any other sitecustomize)
  PYTHONPATH="/opt/pydbg-run/qemu-site${PYTHONPATH:+:$PYTHONPATH}" QEMU_GDB="$port" "$@" &
  pid=$!
  if [ "$mode" = interactive ]; then
    gdb -q -nx -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set debuginfod enabled off' \
      -ex 'set sysroot /' -ex 'set tcp connect-timeout 60' -x /opt/pydbg-run/pydbg_gdb.py \
      -ex "target remote 127.0.0.1:$port" -ex continue "$exe"
  else
    gdb -q -nx -batch -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set debuginfod enabled off' \
      -ex 'set sysroot /' -ex 'set tcp connect-timeout 60' -x /opt/pydbg-run/pydbg_gdb.py \
      -ex "target remote 127.0.0.1:$port" -ex continue \
      -ex 'echo PYDBG-REGS-BEGIN\n' -ex 'info registers' -ex 'echo PYDBG-REGS-END\n' \
      -ex 'echo PYDBG-BT-BEGIN\n' -ex bt -ex 'echo PYDBG-BT-END\n' \
      -ex pydbg-frames \
      -ex 'echo PYDBG-PYBT-BEGIN\n' -ex py-bt -ex 'echo PYDBG-PYBT-END\n' \
      "$exe"
  fi
  status=$?
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  exit "$status"
fi

if [ "$mode" = interactive ]; then
  exec gdb -q -nx -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set startup-with-shell off' \
    -ex 'set debuginfod enabled off' -x /opt/pydbg-run/pydbg_gdb.py -ex run --args "$@"
fi
exec gdb -q -nx -batch -iex 'set auto-load safe-path /' -ex 'set pagination off' -ex 'set startup-with-shell off' \
  -ex 'set debuginfod enabled off' -x /opt/pydbg-run/pydbg_gdb.py \
  -ex run \
  -ex 'echo PYDBG-REGS-BEGIN\n' -ex 'info registers' -ex 'echo PYDBG-REGS-END\n' \
  -ex 'echo PYDBG-BT-BEGIN\n' -ex bt -ex 'echo PYDBG-BT-END\n' \
  -ex pydbg-frames \
  -ex 'echo PYDBG-PYBT-BEGIN\n' -ex py-bt -ex 'echo PYDBG-PYBT-END\n' \
  --args "$@"
