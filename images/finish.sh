#!/bin/sh
# pydbg: finish a variant image. Run by the last RUN of the rendered Dockerfile.
#   $1  1 = uncomment the "###" PyObject_Free/Realloc blocks of Misc/valgrind-python.supp
#   $2  offline | pypi   where setuptools/wheel come from
set -eu
uncomment="$1"
pipmode="$2"
src="$(cat /opt/python/.pydbg-srcdir)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore

# Valgrind suppressions matched to this very source tree.
if [ "$uncomment" = 1 ]; then
  # only inside the ###{ … ###} blocks: the file's own prose comments also start with ###
  sed '/^###{/,/^###}/ s/^###//' "$src/Misc/valgrind-python.supp" > /opt/pydbg/valgrind-python.supp
else
  cp "$src/Misc/valgrind-python.supp" /opt/pydbg/valgrind-python.supp
fi

# setuptools + wheel for building extensions. Offline: Debian's python3-setuptools-whl /
# python3-wheel-whl and the user's wheelhouse; pypi: the package index (network at build time).
links="--find-links /usr/share/python-wheels"
if [ -d /opt/pydbg/wheelhouse ]; then links="$links --find-links /opt/pydbg/wheelhouse"; fi
major="$(python -c 'import sys; print(sys.version_info[0])')"
if [ "$major" = 3 ]; then
  if [ "$pipmode" = pypi ]; then
    python -m pip install --upgrade setuptools wheel
  else
    python -m pip install --no-index $links setuptools wheel
  fi
else
  # 2.7: ensurepip already installed pip and setuptools; wheel is optional there.
  if [ "$pipmode" = pypi ]; then
    python -m pip install 'setuptools<45' 'wheel<0.38'
  elif [ -d /opt/pydbg/wheelhouse ] && ls /opt/pydbg/wheelhouse | grep -q '^wheel-.*py2'; then
    python -m pip install --no-index --find-links /opt/pydbg/wheelhouse wheel
  fi
fi

# Debian's setuptools wheel is patched for Debian's own distutils (install --install-layout=deb,
# --prefix-option); on an upstream interpreter its install_lib/install_egg_info then fail with
# "AttributeError: install_layout" / "prefix_option", which breaks every `pip install .`.
# Drop those two hooks (the probe below proves `pip install .` works afterwards).
st="$(python -c 'import os, setuptools; print(os.path.dirname(setuptools.__file__))')"
if grep -qE "set_undefined_options\('install',\('(install_layout|prefix_option)'" "$st"/command/*.py 2>/dev/null; then
  sed -i -E "s/self\.set_undefined_options\('install',\('(install_layout|prefix_option)','(install_layout|prefix_option)'\)\)/pass  # pydbg: no Debian install layout on this interpreter/" \
    "$st"/command/*.py
  find "$st/command" -name '__pycache__' -prune -exec rm -rf {} +
  echo "pydbg: neutralised Debian's install_layout/prefix_option hooks in $st"
fi

# The proof: fails the build (no tag) when the interpreter is not what the variant claims.
python /opt/pydbg/probe.py /opt/pydbg/expected.json
