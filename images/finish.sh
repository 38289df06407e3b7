#!/bin/sh
# pydbg: finish a variant image. Run by the last RUN of the rendered Dockerfile.
#   $1  1 = uncomment the "###" PyObject_Free/Realloc blocks of Misc/valgrind-python.supp
#   $2  offline | pypi   where setuptools/wheel come from
#   $3  install (default) | present   present: a cross build installed pip/setuptools/wheel already
set -eu
uncomment="$1"
pipmode="$2"
tools="${3:-install}"
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
# (A cross build installed them on the build machine already: crosspip.sh.)
if [ "$tools" != present ]; then
  links="--find-links /usr/share/python-wheels"
  if [ -d /opt/pydbg/wheelhouse ]; then links="$links --find-links /opt/pydbg/wheelhouse"; fi
  major="$(python -c 'import sys; print(sys.version_info[0])')"
  if [ "$major" = 3 ]; then
    if [ "$pipmode" = pypi ]; then
      python -m pip install --upgrade setuptools wheel
    else
      # shellcheck disable=SC2086
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
  sh /opt/pydbg/setuptools-fix.sh "$(python -c 'import os, setuptools; print(os.path.dirname(setuptools.__file__))')"
fi

# The proof: fails the build (no tag) when the interpreter is not what the variant claims.
python /opt/pydbg/probe.py /opt/pydbg/expected.json
