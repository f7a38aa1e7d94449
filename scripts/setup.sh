#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned dependencies
# and the package installed in editable mode. Idempotent: a second run with unchanged pins
# only checks a stamp file and returns in well under a second.
#
# The pins are installed with uv (pinned below; itself installed into .venv by pip) when it
# can be had: it unpacks the ~5 GB of wheels in parallel, about a minute and a half instead
# of pip's three on a 2-core machine. It keeps no cache (--no-cache: the ~6 GB of unpacked
# wheels would stay in ~/.cache/uv, where pip keeps nothing of a local wheel store). uv reads
# none of pip's configuration, so pip's index settings (index-url, extra-index-url,
# find-links, cert: `pip config list`) are handed to it. Where uv cannot be installed or
# fails, pip installs the same pins (DRAC_SSL_INSTALLER=pip forces that). Bytecode is compiled at install time either way: Python may be told not to write it
# (PYTHONDONTWRITEBYTECODE), and torch then compiles from source at every import.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
REQ=scripts/requirements-cpu.txt
UV_PIN=uv==0.13.9
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.drac_ssl_stamp"
want=$(cat "$REQ" pyproject.toml | sha256sum | cut -d' ' -f1)

quiet_pip() {  # this machine's pip config lists local wheel indexes, some of which are absent:
  # drop those harmless "Location ... is ignored" lines so real errors stay visible
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}

uv_index_options() {  # pip's index settings as uv options, one per line
  "$VENV/bin/python" - <<'PY'
import os, subprocess, sys
listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
options, extra = [], False
for line in listed.splitlines():
    key, _, value = line.partition("=")
    key, value = key.rsplit(".", 1)[-1], value.strip().strip("'\"")
    if key == "no-index" and value.lower() in ("1", "true", "yes", "on"):
        options.append("--no-index")
        continue
    for item in value.split():
        local = item[7:] if item.startswith("file://") else item if "://" not in item else ""
        if local and not os.path.exists(local):
            continue  # an absent local index: pip warns and skips it, uv would stop
        if key == "index-url" and "--index-url" not in options:  # the first: pip's precedence
            options += ["--index-url", item]
        elif key == "extra-index-url":
            options += ["--extra-index-url", item]
            extra = True
        elif key == "find-links":
            options += ["--find-links", item]
if extra:  # pip weighs every index's releases together; uv's default takes the first index's
    options += ["--index-strategy", "unsafe-best-match"]
print("\n".join(options))
PY
}

install_with_uv() {
  quiet_pip install -q --disable-pip-version-check "$UV_PIN" || return 1
  local options cert
  mapfile -t options < <(uv_index_options)
  cert=${PIP_CERT:-$("$VENV/bin/python" -m pip config get global.cert 2>/dev/null || true)}
  [ -n "$cert" ] && [ -f "$cert" ] && export SSL_CERT_FILE="$cert"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --compile-bytecode --no-cache \
    "${options[@]}" -r "$REQ"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] $VENV is up to date"
else
  echo "[setup] installing pinned dependencies into $VENV (first time takes a few minutes)"
  if [ "${DRAC_SSL_INSTALLER:-uv}" = pip ] || ! install_with_uv; then
    [ "${DRAC_SSL_INSTALLER:-uv}" = pip ] || echo "[setup] uv could not install the pins; installing them with pip"
    quiet_pip install -q --disable-pip-version-check -r "$REQ"
  fi
  quiet_pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
export NO_ALBUMENTATIONS_UPDATE=1
