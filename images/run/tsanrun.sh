#!/bin/sh
# pydbg check tsan: run the repro with ASLR off, as ThreadSanitizer's fixed memory layout needs on
# kernels that randomise mmap with more than 28 bits. Usage: tsanrun.sh LAYOUT_FILE COMMAND...
# Writes "aslr=off|on mmap_rnd_bits=N" to LAYOUT_FILE, and the line of a ThreadSanitizer that
# cannot start at all (it says so on stderr, before it opens its log_path, and exits 0 with this
# image's exitcode=0): pydbg fails the check with it instead of reporting a clean run.
# setarch -R needs personality(ADDR_NO_RANDOMIZE), which Docker's default seccomp profile forbids:
# pydbg starts this container without it. Where even that is refused, the program runs with ASLR on
# (fine up to 28 bits).
set -u
layout="$1"
shift
bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo unknown)"
arch="$(uname -m)"
run=""
if setarch "$arch" -R true 2>/dev/null; then
  echo "aslr=off mmap_rnd_bits=$bits" > "$layout"
  run="setarch $arch -R"
else
  echo "aslr=on mmap_rnd_bits=$bits" > "$layout"
fi
# shellcheck disable=SC2086
$run python -c pass 2>&1 | grep -m 1 'FATAL: ThreadSanitizer' >> "$layout"
# shellcheck disable=SC2086
exec $run "$@"
