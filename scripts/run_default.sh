#!/usr/bin/env bash
# README command (1): set everything up, then run the main job on the embedded phantom data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1
exec .venv/bin/python -m drac_ssl.train "$@"
