#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned dependencies
# and the package installed in editable mode. Idempotent: a second run with unchanged pins
# only checks a stamp file and returns in well under a second.
#
# pip, not uv: uv installed the same pins in 84 s instead of pip's ~3 min here, but took
# opencv-python-headless 5.0.0.93's manylinux2014 build from the machine's local wheel store
# where pip takes PyPI's manylinux_2_28 build of the same version. Another OpenCV build resizes
# the cache differently, and every figure moves: the default job's out-of-fold QWK of vicreg was
# 0.760 instead of the committed 0.771 (December 2026). The pins name versions, not builds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
REQ=scripts/requirements-cpu.txt
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.drac_ssl_stamp"
want=$(cat "$REQ" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] $VENV is up to date"
else
  echo "[setup] installing pinned dependencies into $VENV (first time takes a few minutes)"
  # this machine's pip config lists local wheel indexes, some of which are absent: drop
  # those harmless "Location ... is ignored" lines so real errors stay visible
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  echo "$want" > "$stamp"
fi
export NO_ALBUMENTATIONS_UPDATE=1
