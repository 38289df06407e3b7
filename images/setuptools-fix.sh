#!/bin/sh
# pydbg: Debian's setuptools wheel is patched for Debian's own distutils (install --install-layout=deb,
# --prefix-option); on an upstream interpreter its install_lib/install_egg_info then fail with
# "AttributeError: install_layout" / "prefix_option", which breaks every `pip install .`.
# Drop those two hooks (the probe proves `pip install .` works afterwards).
#   $1  the setuptools package directory
set -eu
st="$1"
if grep -qE "set_undefined_options\('install',\('(install_layout|prefix_option)'" "$st"/command/*.py 2>/dev/null; then
  sed -i -E "s/self\.set_undefined_options\('install',\('(install_layout|prefix_option)','(install_layout|prefix_option)'\)\)/pass  # pydbg: no Debian install layout on this interpreter/" \
    "$st"/command/*.py
  find "$st/command" -name '__pycache__' -prune -exec rm -rf {} +
  echo "pydbg: neutralised Debian's install_layout/prefix_option hooks in $st"
fi
