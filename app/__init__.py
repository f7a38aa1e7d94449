"""Clinician-facing Gradio app for a drac_ssl model bundle: ``python -m app`` (or
``drac-ssl-app``).

Importing this package makes gradio offline before gradio itself is imported: analytics and
version checks off, Hugging Face Hub offline and without telemetry. See :mod:`app.server`
(the page), :mod:`app.predict` (the predict function), :mod:`app.gradcam` (heatmaps),
:mod:`app.workdir` (the private folder for uploads, removed when the server stops),
:mod:`app.model_queue` (the bounded queue in front of the model) and
:mod:`app.inputs` (upload checks).
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # forced: the app must not phone home
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations' version check

__all__ = ["GRADIO_MISSING", "__version__"]

from drac_ssl import __version__  # noqa: E402

GRADIO_MISSING = (
    "the app needs gradio, an optional dependency that is not installed.\n"
    "  fix: pip install 'drac_ssl[app]' (from the checkout: pip install -e '.[app]'), or "
    "bash scripts/setup.sh, which installs the pinned gradio into .venv")
"""What ``python -m app`` / ``drac-ssl-app`` and ``import app.server`` say without gradio."""
