"""Grading from Python on an offline host (a hospital's nightly CPU batch): importing the package
makes no network connection (albumentations' PyPI version check), the grading code imports the
heavy libraries only when it needs them, and one call caps every thread pool grading uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_NO_NETWORK = """
import socket, sys
tried = []
def _refuse(*args, **kwargs):
    tried.append(args[:2])
    raise OSError("network refused by the test")
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
socket.socket.connect = lambda self, *a: _refuse(*a)
"""


def _python(code: str, drop: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, with the variables ``drop`` names removed from the
    environment and ``env`` set."""
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    environ.update(env, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True,
                          text=True, timeout=300)


def _python_json(code: str, drop: tuple[str, ...] = (), **env: str):
    """:func:`_python`'s run of ``code``, which must succeed, and the JSON of its last line of output."""
    proc = _python(code, drop, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


OFFLINE_VARIABLES = ("NO_ALBUMENTATIONS_UPDATE", "HF_HUB_DISABLE_TELEMETRY")


def test_importing_the_app_sets_the_packages_offline_variables_and_keeps_a_hosts() -> None:
    # one list (drac_ssl.OFFLINE_ENVIRONMENT): the app sets what the package sets, only where unset
    from drac_ssl import OFFLINE_ENVIRONMENT

    assert set(OFFLINE_ENVIRONMENT) == set(OFFLINE_VARIABLES)
    code = (f"import json, os, app\nprint(json.dumps({{k: os.environ.get(k) for k in {OFFLINE_VARIABLES!r}}}))\n")
    assert _python_json(code, drop=OFFLINE_VARIABLES) == OFFLINE_ENVIRONMENT
    host = _python_json(code, NO_ALBUMENTATIONS_UPDATE="0", HF_HUB_DISABLE_TELEMETRY="0")
    assert host == dict.fromkeys(OFFLINE_VARIABLES, "0")


def test_importing_the_package_makes_no_connection_and_sets_the_offline_variables() -> None:
    found = _python_json(_NO_NETWORK + (
        "import os, json\n"
        "import drac_ssl.grading.predict\n"
        "lazy = {m: m in sys.modules for m in ('albumentations', 'sklearn', 'pandas', 'torchvision')}\n"
        "import drac_ssl.augment  # albumentations itself, as the first grading imports it\n"
        "print(json.dumps({'tried': tried, 'lazy': lazy, 'albumentations': 'albumentations' in sys.modules,\n"
        f"                  'env': {{k: os.environ.get(k) for k in {OFFLINE_VARIABLES!r}}}}}))\n"),
        drop=OFFLINE_VARIABLES)
    assert found["albumentations"], "the test did not import albumentations"
    assert found["tried"] == [], f"a network connection was attempted: {found['tried']}"
    assert found["env"] == {"NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    # importing the grading code loads none of these (a bundle loads torchvision, the first
    # grade albumentations; scikit-learn and pandas never)
    assert found["lazy"] == {"albumentations": False, "sklearn": False, "pandas": False,
                             "torchvision": False}, found["lazy"]


def test_a_value_the_caller_set_is_kept() -> None:
    proc = _python("import os, drac_ssl; print(os.environ['NO_ALBUMENTATIONS_UPDATE'])",
                   NO_ALBUMENTATIONS_UPDATE="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"


def test_grading_with_a_bundle_loads_no_scikit_learn(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    proc = _python(
        "import sys, numpy as np\n"
        "from drac_ssl.grading import grade_images, load_bundle\n"
        f"bundle = load_bundle({str(bundle)!r})\n"
        "graded = grade_images(bundle, [np.tile(np.arange(64, dtype=np.uint8), (64, 1))])\n"
        "assert graded.probs.shape == (1, 3)\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'monai', 'matplotlib') if m in sys.modules))\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_limit_threads_caps_torch_and_opencv_and_warns_only_when_the_inter_op_pool_was_sized_already() -> None:
    """After a grading's convolutions, ``limit_threads(1)`` caps all three pools, silently: a
    trial user could not make it warn as docs/python.md said it would "after loading or
    grading" (grading never sizes or uses torch's inter-op pool). The warning comes from a second
    call asking for another count (torch sizes the pool once per process), and says so. One
    interpreter for both (one torch import)."""
    found = _python_json(
        "import cv2, json, torch, warnings\n"
        "from drac_ssl.grading import limit_threads\n"
        "with torch.no_grad():\n"
        "    torch.nn.Conv2d(3, 4, 3)(torch.randn(2, 3, 32, 32))  # a grading's convolutions\n"
        "with warnings.catch_warnings(record=True) as said:\n"
        "    warnings.simplefilter('always')\n"
        "    first = limit_threads(1)\n"
        "    now = {'torch': torch.get_num_threads(), 'inter': torch.get_num_interop_threads(),\n"
        "           'cv2': cv2.getNumThreads()}\n"
        "    second = limit_threads(2)\n"
        "print(json.dumps({'first': first, 'now': now, 'second': second,\n"
        "                  'said': [str(w.message) for w in said]}))\n",
        drop=("OMP_NUM_THREADS",))
    assert found["now"] == {"torch": 1, "inter": 1, "cv2": 1}, found
    assert found["first"] == {"torch_intra_op": 1, "torch_inter_op": 1, "opencv": 1}, found
    assert found["second"]["torch_inter_op"] == 1, found
    assert found["second"]["torch_intra_op"] == 2 and found["second"]["opencv"] == 2, found
    (said,) = found["said"]  # the second call only
    assert said.startswith("limit_threads(2): torch's inter-op pool was sized already, to 1 threads"), said
    assert said.endswith("-> call limit_threads once, at the start"), said
    page = " ".join((REPO / "docs" / "python.md").read_text(encoding="utf-8").split())
    assert "keeps its size once it has run, and `limit_threads` then warns" not in page
    assert "a first `limit_threads` after them still sets all three, silently" in page


def test_limit_threads_refuses_what_is_not_a_thread_count() -> None:
    import pytest

    from drac_ssl.grading import limit_threads

    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            limit_threads(bad)  # type: ignore[arg-type]


SERVER_VARIABLES = ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE")


def test_the_app_library_leaves_the_server_variables_to_the_host_and_the_server_sets_them() -> None:
    # a host service embedding Predictor (import app.predict) keeps its own values: forcing
    # them would change other libraries of its process (docs/python.md, "Offline"); the server
    # (import app.server, as python -m app does) still sets them before gradio is imported
    found = _python_json(
        "import json, os, sys\n"
        "import app.predict\n"
        f"library = {{k: os.environ.get(k) for k in {SERVER_VARIABLES!r}}}\n"
        "first = 'gradio' in sys.modules\n"
        "os.environ.pop('GRADIO_ANALYTICS_ENABLED')\n"
        "import app.server\n"
        f"server = {{k: os.environ.get(k) for k in {SERVER_VARIABLES!r}}}\n"
        "import huggingface_hub.constants as c\n"
        "print(json.dumps({'library': library, 'server': server, 'gradio_first': first,\n"
        "                  'hub_offline': bool(c.HF_HUB_OFFLINE)}))\n",
        drop=SERVER_VARIABLES, GRADIO_ANALYTICS_ENABLED="True")
    assert found["library"] == {"GRADIO_ANALYTICS_ENABLED": "True", "HF_HUB_OFFLINE": None}
    assert found["gradio_first"] is False
    assert found["server"] == {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    assert found["hub_offline"] is True  # set before the hub client read it
