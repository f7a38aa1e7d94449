#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned dependencies
# and the package installed in editable mode. Idempotent: a second run with unchanged pins
# only checks a stamp file and returns in well under a second.
#
# The exact files: on Linux x86-64 with Python 3.11 and glibc >= 2.28 (the project's machines)
# pip installs scripts/requirements-cpu.lock, every wheel pinned by its SHA-256, not only by its
# version. The same version's other wheels can compute other figures: opencv-python-headless
# 5.0.0.93's manylinux2014 wheel (the machine's local wheel store has it) resizes differently
# from its manylinux_2_28 one (PyPI's, which pip prefers), and the default job's out-of-fold
# figures moved when uv took the local one (December 2026; vicreg's QWK by about 0.01 in a hand
# comparison of two clones' runs, not a bench result). Elsewhere, or when those files cannot be had, the version pins of requirements-cpu.txt
# are installed and the script says that figures may differ in their last digits.
# pip, not uv: uv reads pip's indexes in order (first index wins), not by the best wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
REQ=scripts/requirements-cpu.txt
LOCK=scripts/requirements-cpu.lock
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
# this machine's pip config lists local wheel indexes, some of which are absent: drop those
# harmless "Location ... is ignored" lines so real errors stay visible. --no-cache-dir: pip keeps
# no second copy of the wheels (the CUDA torch and nvidia ones: several GiB) in ~/.cache/pip
pip_quiet() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "$@" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}
stamp="$VENV/.drac_ssl_stamp"
want=$(cat "$REQ" "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] $VENV is up to date"
else
  echo "[setup] installing pinned dependencies into $VENV (first time takes a few minutes)"
  if "$VENV/bin/python" -c 'import platform, sys
libc, version = platform.libc_ver()
ok = (sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)
      and libc == "glibc" and tuple(int(p) for p in version.split(".")[:2]) >= (2, 28))
sys.exit(0 if ok else 1)'; then
    if ! pip_quiet --require-hashes -r "$LOCK"; then
      echo "[setup] warning: the exact wheels of $LOCK could not be installed (above: why);" \
           "installing the same versions from $REQ: the figures of bench/results may differ in" \
           "their last digits (environment.json's 'builds' says which wheels a run used)"
      pip_quiet -r "$REQ"
    fi
  else
    echo "[setup] not Linux x86-64 with Python 3.11 and glibc >= 2.28: installing the version pins" \
         "of $REQ (other wheels than the project's: figures may differ in their last digits)"
    pip_quiet -r "$REQ"
  fi
  # built with the venv's own setuptools: both branches install the pinned one (requirements-cpu.txt,
  # the lock), which pyproject.toml's build-system needs (>= 77; a new venv has 65.5 on Python 3.11)
  pip_quiet --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
export NO_ALBUMENTATIONS_UPDATE=1
