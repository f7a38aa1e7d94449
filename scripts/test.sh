#!/usr/bin/env bash
# README command (2): set everything up, then lint and run the test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NO_ALBUMENTATIONS_UPDATE=1 GRADIO_ANALYTICS_ENABLED=False PYTHONUNBUFFERED=1
.venv/bin/ruff check drac_ssl data_prep app tests bench
# One worker per core, each test file whole on one worker (its module fixtures built once),
# longest files first (tests/conftest.py: xdist would queue them by their number of tests),
# each worker with one torch thread so that the workers do not oversubscribe the cores.
# Extra arguments go to pytest: `bash scripts/test.sh -n 0` runs in one process.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
.venv/bin/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder "$@"
