#!/usr/bin/env bash
# README command (2): set everything up, then lint and run the test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NO_ALBUMENTATIONS_UPDATE=1 GRADIO_ANALYTICS_ENABLED=False PYTHONUNBUFFERED=1
.venv/bin/ruff check drac_ssl data_prep app tests bench
.venv/bin/python -m pytest -q "$@"
