"""Fixtures the app's test modules share, and each test process's own gradio upload folder.

Gradio keeps uploads content-addressed under ``GRADIO_TEMP_DIR``, else the machine-wide
``/tmp/gradio``: there another xdist worker or another pytest run could delete an upload with
the same bytes (a CI run lost ``sample_0.png`` that way), and test_app_retention.py's 0.2 s sweep
of unclaimed uploads (``app.server.sweep_files``) would sweep theirs. So this module, loaded
before any app test module imports gradio, points ``GRADIO_TEMP_DIR`` at a fresh 0700 folder of
this process's own (one per xdist worker), removed when the session ends. gradio 6 reads the
variable when an app is made (``gradio.utils.get_upload_folder``: the uploads, and the
``Blocks``' cache) and a few module constants at import (``gradio.route_utils``'s
``DEFAULT_TEMP_DIR``, gradio_client's default download folder), hence before the import: no
root conftest, plugin or module outside tests/app imports gradio at its top (test_app_e2e.py's
``test_in_process_servers_upload_into_this_processs_own_folder`` checks both).
``python -m app`` started by a test still makes its own private folder (``app.workdir``), which
replaces the variable for that process.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

GRADIO_UPLOADS = Path(tempfile.mkdtemp(prefix=f"drac_ssl_tests_gradio_{os.getpid()}_")).resolve()
"""This test process's gradio upload folder (``GRADIO_TEMP_DIR``)."""
_GRADIO_TEMP_DIR_BEFORE = os.environ.get("GRADIO_TEMP_DIR")
os.environ["GRADIO_TEMP_DIR"] = str(GRADIO_UPLOADS)
# also when a worker ends without pytest_unconfigure (an xdist worker that crashed; a final read, F4)
atexit.register(shutil.rmtree, GRADIO_UPLOADS, True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """At the end of the session: the upload folder goes and the variable is as before."""
    shutil.rmtree(GRADIO_UPLOADS, ignore_errors=True)
    if _GRADIO_TEMP_DIR_BEFORE is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = _GRADIO_TEMP_DIR_BEFORE


@pytest.fixture(scope="session")
def gradio_uploads() -> Path:
    """This test process's gradio upload folder (``GRADIO_TEMP_DIR``, set by this module)."""
    return GRADIO_UPLOADS


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: faster than two on a shared 2-core machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Any:
    """A tiny untrained demo bundle's Predictor (one fold, 32 px), one per test module; a module
    that needs another bundle defines its own ``predictor``."""
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor

    return Predictor(build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32,
                                       source_size=48, n_folds=1))
