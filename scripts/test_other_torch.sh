#!/usr/bin/env bash
# The test suite on another torch release than the pinned one, on the CPU: by default torch
# 2.11.0 + torchvision 0.26.0, the release of the lent GPU machine (the package must run on
# 2.11 and on the pinned 2.14). It builds its own virtual environment
# .venv-torch<VERSION>[-py<X.Y>] (git-ignored) from PyPI with the other pins of
# scripts/requirements-cpu.txt (all but setuptools, below); the first run downloads torch's
# CUDA wheels (about 4 GB) and takes several minutes more than the suite. PYTHON picks the
# interpreter (default python3): the GPU machine runs Python 3.12, this machine 3.11 (pyenv has
# 3.12 here).
#   bash scripts/test_other_torch.sh                  # torch 2.11.0, torchvision 0.26.0
#   bash scripts/test_other_torch.sh 2.12.1 0.27.1    # another pair
#   bash scripts/test_other_torch.sh -n 0 tests/drac_ssl/test_distributed.py   # pytest arguments
#   PYTHON=~/.pyenv/versions/3.12.1/bin/python bash scripts/test_other_torch.sh   # the GPU machine's pair
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=2.11.0
VISION=0.26.0
if [[ ${1:-} =~ ^[0-9] ]]; then  # the versions come first, both or neither
  [[ ${2:-} =~ ^[0-9] ]] || { echo "usage: bash scripts/test_other_torch.sh [TORCH VISION] [pytest args]" >&2; exit 2; }
  TORCH=$1 VISION=$2
  shift 2
fi
PY=${PYTHON:-python3}
PYVER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
VENV=.venv-torch$TORCH
# the machine's own Python keeps the plain name; another Python gets its own folder
[ "$PYVER" = "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" ] || VENV=$VENV-py$PYVER
REQ=$VENV/requirements.txt
if [ ! -x "$VENV/bin/python" ]; then
  echo "[test_other_torch] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
# The pins with the other pair, and setuptools relaxed to pyproject.toml's build-system range:
# the main pin (setuptools==84.2.1, for setup.sh's editable install, which this venv never does)
# conflicts with torch 2.11.0's own "setuptools<82", and pip stopped with ResolutionImpossible
# before any test. The tests that build the wheel (--no-build-isolation) still need >= 77.
sed -e "s/^torch==.*/torch==$TORCH/" -e "s/^torchvision==.*/torchvision==$VISION/" \
  -e "s/^setuptools==.*/setuptools>=77/" scripts/requirements-cpu.txt > "$REQ.new"
if ! cmp -s "$REQ.new" "$REQ"; then
  echo "[test_other_torch] installing torch $TORCH, torchvision $VISION and the other pins into $VENV"
  # the machine's pip constraints may cap torch at the pinned release; this venv is the exception
  PIP_CONSTRAINT= "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ.new" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  mv "$REQ.new" "$REQ"
else
  rm "$REQ.new"
fi
"$VENV/bin/python" -c "import torch, torchvision; print(f'[test_other_torch] torch {torch.__version__}, torchvision {torchvision.__version__}')"
# the package from this checkout (no editable install: the tests run the code from the
# checkout anyway, and the setuptools torch admits may be older than the main pin)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export NO_ALBUMENTATIONS_UPDATE=1 GRADIO_ANALYTICS_ENABLED=False PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ $# -eq 0 ]; then set -- -n auto --dist loadfile --no-loadscope-reorder; fi
exec "$VENV/bin/python" -m pytest -q "$@"
