#!/bin/sh
# pydbg: a live program in a named run's container, from `docker exec` (as root, with SYS_PTRACE).
# Usage: live.sh info | stacks | core PATH | inject
#   info    one PYDBG-LIVE line: the program's Python process (pid, rss, executable, uid)
#   stacks  info, then gdb attaches and prints every thread (pydbg-threads), then detaches
#   core    info, then gdb writes a core file of the process to PATH (a path pydbg chose)
#   inject  info, then runs $PYDBG_INJECT_CODE (given in the environment, never on a command line)
#           inside the process with pydbg_inject.py; its output between PYDBG-INJECT-OUT markers
# The program's Python process: the first process under /opt/python/bin whose ancestors reach
# PID 1 (the init; the run's command is its child), not one of a `docker exec` (they reach 0).
set -u
find_pid() {
  for p in $(ls /proc | grep -E '^[0-9]+$' | sort -n); do
    [ "$p" = 1 ] && continue
    exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
    case "$exe" in /opt/python/bin/*) ;; *) continue ;; esac
    q=$p
    while [ -n "$q" ] && [ "$q" != 1 ] && [ "$q" != 0 ]; do
      q=$(awk '/^PPid:/ { print $2 }' "/proc/$q/status" 2>/dev/null)
    done
    if [ "$q" = 1 ]; then echo "$p"; return 0; fi
  done
  return 1
}

mode="${1:-info}"
pid=$(find_pid) || { echo "PYDBG-LIVE-NOPYTHON"; exit 3; }
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
exe=$(readlink "/proc/$pid/exe")
printf 'PYDBG-LIVE {"pid": %s, "rssKb": %s, "uid": %s, "exe": "%s"}\n' "$pid" "${rss:-0}" "${uid:-0}" "$exe"

gdb_attach() {
  timeout "${PYDBG_GDB_TIMEOUT:-120}" gdb -q -nx -batch -iex 'set auto-load safe-path /' -ex 'set pagination off' \
    -ex 'set debuginfod enabled off' -x /opt/pydbg-run/pydbg_gdb.py -p "$pid" "$@"
}

case "$mode" in
  info) ;;
  stacks)
    gdb_attach -ex pydbg-threads 2>&1
    ;;
  core)
    case "${2:-}" in /tmp/pydbg-core-[0-9a-f]*.core) ;; *) echo "live.sh: bad core path" >&2; exit 2 ;; esac
    gdb_attach -ex "generate-core-file $2" 2>&1
    [ -s "$2" ] || exit 4
    ;;
  inject)
    dir=$(mktemp -d /tmp/pydbg-inject.XXXXXXXX) || exit 5
    printf '%s' "${PYDBG_INJECT_CODE:-}" > "$dir/code.py"
    chown -R "$uid" "$dir"
    # the gdb script names only pydbg's own files (and binds no name in __main__): the user's code is
    # read from code.py by pydbg_inject.py
    cat > "$dir/inject.gdb" <<GDB
set \$pydbg_gil = (int) PyGILState_Ensure()
set \$pydbg_rc = (int) PyRun_SimpleString("__import__('runpy').run_path('/opt/pydbg-run/pydbg_inject.py', {'PYDBG_DIR': '$dir'}, '__pydbg_inject__')")
call (void) PyGILState_Release(\$pydbg_gil)
printf "PYDBG-INJECT-RC %d\n", \$pydbg_rc
GDB
    gdb_attach -x "$dir/inject.gdb" 2>&1
    echo "PYDBG-INJECT-STATUS $(cat "$dir/status" 2>/dev/null || echo none)"
    echo PYDBG-INJECT-OUT-BEGIN
    cat "$dir/out.txt" 2>/dev/null
    echo PYDBG-INJECT-OUT-END
    rm -rf "$dir"
    ;;
  *) echo "live.sh: unknown mode $mode" >&2; exit 2 ;;
esac
