#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned dependencies
# and the package installed in editable mode. Idempotent: a second run with unchanged pins
# only checks a stamp file and returns in well under a second. An interpreter older than 3.11
# is refused before a .venv is made; an existing .venv of an older Python, or one whose Python
# does not run, is made again. A .venv of Python >= 3.11 is kept whatever PYTHON says (a note when
# it names another version), and one without pip gets it from ensurepip; it is made again only
# when ensurepip fails and nothing has been installed in it (tests/test_setup_venv_checks.py).
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
# An existing .venv is reused when it can take the pins: a .venv of Python 3.10 (a first run with
# the wrong python3) failed with "No matching distribution found for numpy==..." at every later
# run, PYTHON=python3.11 included, and one without pip (Debian's python3 without python3-venv,
# `uv venv` without --seed) with "No module named pip" and a false "exact wheels could not be
# installed". A .venv of another Python >= 3.11 than PYTHON names is kept, never removed for it:
# PYTHON is often exported for other tools, and the .venv may hold what its owner installed.
# venv_extras: what site-packages holds beyond what venv, virtualenv or uv put there (pip,
# setuptools, uv's _virtualenv hook); empty when the .venv holds nothing of its owner's
venv_extras() {
  local path name
  for path in "$VENV"/lib/python*/site-packages/* "$VENV"/lib/python*/site-packages/.[!.]*; do
    [ -e "$path" ] || [ -L "$path" ] || continue
    name=${path##*/}
    case "$name" in
      __pycache__|_virtualenv.py|_virtualenv.pth|distutils-precedence.pth|_distutils_hack) ;;
      pip|pip-*.dist-info|setuptools|setuptools-*.dist-info|pkg_resources) ;;
      *) echo "$name" ;;
    esac
  done
}
has_pip() { "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }  # 0.3 s
stale=""
if [ -e "$VENV" ] || [ -L "$VENV" ]; then
  have=$(py_version "$VENV/bin/python")
  if [ -z "$have" ]; then
    stale="has no Python that runs ($VENV/bin/python)"
  elif ! new_enough "$have"; then
    stale="is Python $have; drac_ssl needs Python >= $NEED"
  else
    if [ -n "${PYTHON:-}" ]; then  # README: PYTHON=python3.11; a PYTHON that does not run is not needed
      given=$(py_version "$PY")
      if [ -n "$given" ] && [ "$given" != "$have" ]; then
        echo "[setup] note: $VENV is Python $have, PYTHON=$PY is $given: $VENV kept;" \
             "rm -rf $VENV and run again to change"
      fi
    fi
    if ! up_to_date && ! has_pip; then
      echo "[setup] $VENV has no pip: installing it with $VENV/bin/python -m ensurepip"
      if why=$("$VENV/bin/python" -m ensurepip --upgrade 2>&1 >/dev/null | tail -n 1) && has_pip; then
        :
      else
        mapfile -t extras < <(venv_extras)
        if [ "${#extras[@]}" -eq 0 ]; then
          stale="has no pip, ensurepip could not install it (${why:-no message}), and nothing is installed in it"
        else
          held=$(printf '%s, ' "${extras[@]:0:3}")
          held=${held%, }
          if (( ${#extras[@]} > 3 )); then held="$held and $(( ${#extras[@]} - 3 )) more"; fi
          echo "[setup] error: $VENV has no pip, and $VENV/bin/python -m ensurepip could not install it" \
               "(${why:-no message}). $VENV is not removed: its site-packages holds what was installed" \
               "in it ($held). fix: install the venv module with ensurepip (Debian/Ubuntu: apt install" \
               "python$have-venv) and run bash scripts/setup.sh again, or remove it yourself" \
               "(rm -rf $VENV) and run bash scripts/setup.sh again to make it anew" >&2
          exit 1
        fi
      fi
    fi
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
  if ! has_pip; then
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
