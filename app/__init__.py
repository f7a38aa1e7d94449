"""Clinician-facing Gradio app for a drac_ssl model bundle: ``python -m app`` (or
``drac-ssl-app``).

Importing this package (``import app.predict``, the library entry point, too) sets only what
``import drac_ssl`` sets, and only where unset (:data:`drac_ssl.OFFLINE_ENVIRONMENT`:
``NO_ALBUMENTATIONS_UPDATE`` and ``HF_HUB_DISABLE_TELEMETRY``, and ``MPLCONFIGDIR`` when unset and
matplotlib's default config or cache folder cannot be written), by importing it first. The server's variables, which would change other libraries of a
host process (``GRADIO_ANALYTICS_ENABLED=False`` forced, ``HF_HUB_OFFLINE=1`` unless set), are
set by :func:`offline_server_environment`, which the server calls before gradio is imported
(``python -m app``, ``import app.server``). See :mod:`app.server`
(the page), :mod:`app.predict` (the predict function), :mod:`app.gradcam` (heatmaps),
:mod:`app.workdir` (the private folder for uploads, removed when the server stops),
:mod:`app.model_queue` (the bounded queue in front of the model) and
:mod:`app.inputs` (upload checks).
"""

from __future__ import annotations

import os
import re

# first: importing drac_ssl sets drac_ssl.OFFLINE_ENVIRONMENT where unset (harmless to a host)
from drac_ssl import __version__

__all__ = ["GRADIO_MISSING", "GRADIO_RANGE", "__version__", "gradio_version_problem",
           "installed_gradio_problem", "offline_server_environment"]


def offline_server_environment() -> None:
    """Make the app's server offline before gradio (and the Hugging Face Hub client it
    imports) is imported: ``GRADIO_ANALYTICS_ENABLED=False`` forced (the app must not phone
    home), ``HF_HUB_OFFLINE=1`` unless set. Called by :func:`app.__main__.main` and at the top
    of :mod:`app.server`, never by the library entry points (:mod:`app.predict`): these
    variables would change other libraries of a host process (docs/python.md, "Offline")."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


GRADIO_RANGE = ">=6.31,<7"
"""The gradio versions the app runs on: pyproject.toml's ``app`` extra is ``gradio`` with this
range, and scripts/requirements-cpu.txt's pin (the version tested) lies in it
(``tests/test_cli_version.py`` checks both). gradio 5 lacks what the page uses (``gr.Image``'s
``buttons``: a TypeError when the page is built)."""
_GRADIO_LOWEST, _GRADIO_BELOW = (6, 31), (7, 0)  # GRADIO_RANGE as (major, minor) bounds

GRADIO_MISSING = (
    "the app needs gradio, an optional dependency that is not installed.\n"
    "  fix: pip install '/path/to/drac_ssl[app]' (the checkout's folder; inside it: "
    "pip install -e '.[app]'), or bash scripts/setup.sh, which installs the pinned gradio into .venv")
"""What ``python -m app`` / ``drac-ssl-app`` and ``import app.server`` say without gradio."""


def gradio_version_problem(version: str | None) -> str | None:
    """What ``drac-ssl-app`` says of an installed gradio ``version`` (``"5.50.0"``) outside
    :data:`GRADIO_RANGE`: the versions it needs and the one-line fix; None inside it, or for
    None or a version that does not start with a number (nothing to compare: the app tries)."""
    match = re.match(r"(\d+)(?:\.(\d+))?", version or "")
    if match is None:
        return None
    if _GRADIO_LOWEST <= (int(match[1]), int(match[2] or 0)) < _GRADIO_BELOW:
        return None
    return (f"the app needs gradio {GRADIO_RANGE} (the app extra's range); this environment has "
            f"gradio {version}.\n  fix: pip install 'gradio{GRADIO_RANGE}'")


def installed_gradio_problem() -> str | None:
    """:func:`gradio_version_problem` of the installed gradio, read from its distribution's
    metadata (``importlib.metadata``: gradio itself is not imported, which takes seconds);
    None when gradio has no metadata here (not installed, or on ``PYTHONPATH`` alone)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return gradio_version_problem(version("gradio"))
    except PackageNotFoundError:
        return None
