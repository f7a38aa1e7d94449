#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned dependencies
# and the package installed in editable mode. Idempotent: a second run with unchanged pins
# only checks a stamp file and returns in well under a second.
#
# The pins are installed with uv (pinned below; itself installed into .venv by pip) when it
# can be had: it unpacks the ~5 GB of wheels in parallel, about a minute and a half instead
# of pip's three on a 2-core machine. It keeps no cache (--no-cache: the ~6 GB of unpacked
# wheels would stay in ~/.cache/uv, where pip keeps nothing of a local wheel store). uv reads
# none of pip's configuration, so pip's own reading of its settings for `pip install`
# (index-url, extra-index-url, find-links, no-index, constraint, cert; from pip's option
# parser) is handed to it. Where uv cannot be installed or fails, pip installs the same pins
# (DRAC_SSL_INSTALLER=pip forces that). Bytecode is compiled at install time either way:
# Python may be told not to write it (PYTHONDONTWRITEBYTECODE), and torch then compiles from
# source at every import.
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

uv_options() {  # pip's own reading of its settings for `pip install`, as uv options, one per line
  # (pip's option parser: its config files in their precedence, the PIP_* variables, multi-line
  # values; uv reads none of them). Exits non-zero where pip's parser cannot be had: pip then.
  "$VENV/bin/python" - <<'PY'
import os
from pip._internal.commands import create_command
opts, _ = create_command("install").parse_args([])
def there(url):  # an absent local index or folder: pip warns and skips it, uv would stop
    local = url[7:] if url.startswith("file://") else url if "://" not in url else ""
    return not local or os.path.exists(local)
out = ["--no-index"] if opts.no_index else []
out += ["--index-url", opts.index_url] if opts.index_url else []
extra = [u for u in opts.extra_index_urls if there(u)]
for url in extra:
    out += ["--extra-index-url", url]
for link in (u for u in opts.find_links if there(u)):
    out += ["--find-links", link]
for path in (c for c in opts.constraints if os.path.isfile(c)):
    out += ["--constraint", path]
if extra:  # pip weighs every index's releases together; uv's default takes the first index's
    out += ["--index-strategy", "unsafe-best-match"]
if opts.cert:
    out += ["--cert", opts.cert]  # read by install_with_uv: uv takes it as SSL_CERT_FILE
print("\n".join(out))
PY
}

install_with_uv() {
  quiet_pip install -q --disable-pip-version-check "$UV_PIN" || return 1
  local listed line cert="" options=()
  listed=$(uv_options) || return 1
  while IFS= read -r line; do  # a loop, not mapfile: bash 3.2 (macOS) has none
    [ -n "$line" ] && options+=("$line")
  done <<< "$listed"
  if [ "${#options[@]}" -ge 2 ] && [ "${options[${#options[@]}-2]}" = --cert ]; then
    cert=${options[${#options[@]}-1]}
    options=("${options[@]:0:${#options[@]}-2}")
  fi
  if [ -n "$cert" ] && [ -f "$cert" ]; then export SSL_CERT_FILE="$cert"; fi
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --compile-bytecode --no-cache \
    ${options[@]+"${options[@]}"} -r "$REQ"
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
