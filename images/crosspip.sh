#!/bin/sh
# pydbg: cross builds only, run on the build machine after `make install`. pip, setuptools and wheel
# are pure Python: the build Python (the same CPython version, so the same bytecode and the same
# site-packages layout) installs them into the target's prefix at native speed — instead of
# ensurepip and pip under QEMU, which cost about a minute per image. The target's own sysconfig
# data decides the layout (python3.13t/site-packages on free-threaded builds).
#   $1  offline | pypi   where setuptools/wheel come from
set -eu
pipmode="$1"
bp=/opt/pydbg/buildpython/python
src="$(cat /opt/python/.pydbg-srcdir)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore

py=''; for n in python3t python3; do
  if [ -e "/opt/python/bin/$n" ]; then py="$(readlink -f "/opt/python/bin/$n")"; break; fi
done
test -n "$py"
sysdata="$(ls /opt/python/lib/python3*/_sysconfigdata_*.py | head -n 1)"
tmp="$(mktemp -d)"
cp "$sysdata" "$tmp/"
bundled="$src/Lib/ensurepip/_bundled"
pipwhl="$(ls "$bundled"/pip-*.whl | head -n 1)"

# pip from the wheel CPython bundles (what ensurepip would install), run by the build Python with
# the target's sysconfig; --ignore-installed: the wheel on sys.path is not an installation.
tpip() {
  PYTHONPATH="$tmp" _PYTHON_SYSCONFIGDATA_NAME="$(basename "$sysdata" .py)" \
    "$bp" "$pipwhl/pip" install --prefix=/opt/python --ignore-installed --no-warn-script-location "$@"
}
tpip --no-index --find-links "$bundled" pip
links="--find-links /usr/share/python-wheels"
if [ -d /opt/pydbg/wheelhouse ]; then links="$links --find-links /opt/pydbg/wheelhouse"; fi
if [ "$pipmode" = pypi ]; then
  tpip setuptools wheel
else
  # shellcheck disable=SC2086
  tpip --no-index $links setuptools wheel
fi
rm -rf "$tmp"

# The scripts pip wrote name the build Python; they belong to the target's interpreter.
for f in /opt/python/bin/*; do
  if [ -f "$f" ] && head -n 1 "$f" | grep -q '^#!/opt/pydbg/buildpython/'; then
    sed -i "1s|^#!.*|#!$py|" "$f"
  fi
done

site="$(ls -d /opt/python/lib/python3*/site-packages | head -n 1)"
sh /opt/pydbg/setuptools-fix.sh "$site/setuptools"
ls "$site"
