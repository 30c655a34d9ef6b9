#!/bin/sh
# venv-install.sh VENV: runs inside an image build (the builders copy it into the context with the
# build machine's CA bundle and the image's lock, context_add_ca and context_add_lock). Makes a
# Python venv at VENV and installs the image's pinned packages: requirements.lock beside this script
# with --no-deps, or, without a lock, $REQUIREMENTS (a build argument) resolved by pip; the builder
# then writes VENV/requirements.lock (pip freeze) back as the lock. pip trusts build-ca.crt (PyPI
# may sit behind an intercepting proxy) and keeps no cache; `pip check` must pass.
set -eu
here=$(dirname "$0")
venv=$1
python3 -m venv "$venv"
if [ -f "$here/requirements.lock" ]; then
  "$venv/bin/pip" install --no-cache-dir --cert "$here/build-ca.crt" --no-deps -r "$here/requirements.lock"
else
  # shellcheck disable=SC2086 # REQUIREMENTS is a list of requirement specifiers
  "$venv/bin/pip" install --no-cache-dir --cert "$here/build-ca.crt" ${REQUIREMENTS:?no requirements.lock and no REQUIREMENTS}
fi
"$venv/bin/pip" check
"$venv/bin/pip" freeze --all --exclude pip --exclude setuptools >"$venv/requirements.lock"
