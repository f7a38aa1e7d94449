#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned dependencies
# and the package installed in editable mode. Idempotent: a second run with unchanged pins
# only checks a stamp file and returns in well under a second. An interpreter older than 3.11
# is refused before a .venv is made; an existing .venv of an older Python, of another one than
# PYTHON names, or without pip is made again (tests/test_setup_venv_checks.py).
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
NEED=3.11  # pyproject.toml's requires-python; numpy's pins have no wheel for older Pythons
# major.minor of the interpreter $1 ("3.11"); empty when it does not run
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }
new_enough() {  # whether major.minor $1 is at least $NEED
  [[ "$1" =~ ^([0-9]+)\.([0-9]+)$ ]] || return 1
  local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  (( major > ${NEED%%.*} || (major == ${NEED%%.*} && minor >= ${NEED#*.}) ))
}
stamp="$VENV/.drac_ssl_stamp"
want=$(cat "$REQ" "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)
up_to_date() { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }  # installed with these pins
# An existing .venv is reused only when it can take the pins: a .venv of Python 3.10 (a first
# run with the wrong python3) failed with "No matching distribution found for numpy==..." at
# every later run, PYTHON=python3.11 included, and one without pip (Debian's python3 without
# python3-venv) with "No module named pip" and a false "exact wheels could not be installed".
stale=""
if [ -e "$VENV" ] || [ -L "$VENV" ]; then
  have=$(py_version "$VENV/bin/python")
  if [ -z "$have" ]; then
    stale="has no Python that runs ($VENV/bin/python)"
  elif ! new_enough "$have"; then
    stale="is Python $have; drac_ssl needs Python >= $NEED"
  elif [ -n "${PYTHON:-}" ] && [ "$have" != "$(py_version "$PY")" ]; then  # README: PYTHON=python3.11
    stale="is Python $have, not the Python of PYTHON=$PY"
  elif ! up_to_date && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then  # pip: 0.3 s
    stale="has no pip ($VENV/bin/python -m pip fails: made without ensurepip, e.g. Debian's python3 without python3-venv)"
  fi
fi
if [ -n "$stale" ] || [ ! -x "$VENV/bin/python" ]; then
  given=$(py_version "$PY")
  if ! new_enough "$given"; then
    echo "[setup] error: drac_ssl needs Python >= $NEED (pyproject.toml's requires-python), and" \
         "$PY is ${given:-not a Python that runs}${stale:+ ($VENV $stale)}." \
         "fix: install Python $NEED with its venv module (Debian/Ubuntu: apt install python$NEED" \
         "python$NEED-venv) and run PYTHON=python$NEED bash scripts/setup.sh" >&2
    exit 1
  fi
  if [ -n "$stale" ]; then
    echo "[setup] $VENV $stale: removing it and making it again with $PY ($given)"
    rm -rf "$VENV"  # a symbolic link: the link only
  fi
  echo "[setup] creating $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv "$VENV"  # Debian without python$NEED-venv: venv's own message says what to install
  if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "[setup] error: the new $VENV has no pip ($PY's venv made it without ensurepip)." \
         "fix: install the venv module with ensurepip (Debian/Ubuntu: apt install python$given-venv)," \
         "or give another PYTHON; then run bash scripts/setup.sh again" >&2
    exit 1
  fi
fi
# this machine's pip config lists local wheel indexes, some of which are absent: drop those
# harmless "Location ... is ignored" lines so real errors stay visible. --no-cache-dir: pip keeps
# no second copy of the wheels (the CUDA torch and nvidia ones: several GiB) in ~/.cache/pip
pip_quiet() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "$@" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}
if up_to_date; then
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
