#!/bin/sh
# pydbg: start the user's command, saying clearly when it does not exist in the image.
if ! command -v "$1" >/dev/null 2>&1; then
  echo "pydbg-exec: command not found: $1" >&2
  exit 127
fi
exec "$@"
