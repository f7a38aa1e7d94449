"""A host process's random streams go on as if the package had not been called: an ingest (whose
folds import scikit-learn, which draws from Python's ``random`` as it loads), the app's
Predictor with heatmaps (MONAI, the same), and ``drac_ssl.train.main`` called from Python
(which seeds the three generators from ``run.seed``) leave Python's ``random``, NumPy's
``np.random`` and torch's generator as they found them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

_INGEST = """
import json, random, sys
import numpy as np
random.seed(11); np.random.seed(11)
before = random.getstate(), np.random.get_state()[1].tolist()
from data_prep import ingest, phantom
from drac_ssl.config import DataConfig
phantom.generate("ph", n_train=12, n_test=2, size=64, progress=False)
ingest.run(DataConfig(root="ph", cache_sizes=[32], n_folds=2, workers=1), "out", verbose=False)
print(json.dumps({"kept": [random.getstate() == before[0], np.random.get_state()[1].tolist() == before[1]],
                  "loaded": "sklearn" in sys.modules}))
"""

_PREDICTOR = """
import json, random, sys
from app.demo_bundle import build_demo_bundle
bundle = build_demo_bundle("runs/demo", image_size=32, source_size=48, n_folds=1)
random.seed(11)
before = random.getstate()
from app.predict import Predictor
Predictor(bundle, gradcam=True)
print(json.dumps({"kept": [random.getstate() == before, True], "loaded": "monai" in sys.modules}))
"""


_IMPORT = """
import json, random, sys
random.seed(11)
before = random.getstate()
import drac_ssl.report
found = {"report": [random.getstate() == before]}
import drac_ssl.compare  # imports report (loaded above): kept since the seed, as compare's import alone did
found["compare"] = [random.getstate() == before]
from drac_ssl.plots import roc_curves
import numpy as np
loaded_before, before_roc = "sklearn" in sys.modules, random.getstate()
roc_curves(np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]]), ["a", "b"])
for module in found:
    found[module].append(random.getstate() == before_roc)
print(json.dumps({"kept": found, "loaded": not loaded_before and "sklearn" in sys.modules}))
"""


@pytest.fixture(scope="module")
def imported_report_and_compare(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One fresh interpreter for both modules (torch's import paid once, not twice): for each,
    whether Python's seeded ``random`` is unchanged after its import (``import drac_ssl.report``,
    then ``import drac_ssl.compare``, which imports report: compared with the seeded state, as
    compare's import alone was) and across a ROC curve drawn after both, which loads
    scikit-learn (asserted not loaded before it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _IMPORT], cwd=tmp_path_factory.mktemp("import"), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["compare", "report"])
def test_importing_compare_or_report_leaves_python_s_random_stream(imported_report_and_compare: dict,
                                                                   module: str) -> None:
    # a fresh interpreter: plots (imported by report, imported by compare) loads scikit-learn only
    # when it draws a ROC curve, imported by import_keeping_random
    found = imported_report_and_compare
    assert found["loaded"], "the test did not import scikit-learn (or it was loaded before the ROC curve)"
    assert found["kept"][module] == [True, True]


@pytest.mark.parametrize("host", [_INGEST, _PREDICTOR], ids=["ingest", "predictor-with-heatmaps"])
def test_an_ingest_and_a_predictor_with_heatmaps_leave_the_host_s_random_streams(tmp_path: Path, host: str) -> None:
    # each in a fresh interpreter: scikit-learn and MONAI draw on their first import only
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", host], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["loaded"], "the test did not import scikit-learn / MONAI"
    assert found["kept"] == [True, True]


def test_train_main_from_python_gives_the_three_generators_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import drac_ssl.train as train
    from drac_ssl.runtime import seed_everything

    def run_that_seeds(*args: object, **kwargs: object) -> int:
        seed_everything(0)  # as every run does (the engine)
        random.random(), np.random.random(), torch.rand(1)
        raise RuntimeError("stopped")

    monkeypatch.setattr(train, "_main", run_that_seeds)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    with pytest.raises(RuntimeError, match="stopped"):
        train.main(["run.seed=0"])
    assert random.getstate() == before[0]
    np.testing.assert_array_equal(np.random.get_state()[1], before[1])
    assert torch.equal(torch.get_rng_state(), before[2])


def _importable(folder: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    """A module ``name`` of ``source`` on the import path, not yet imported."""
    (folder / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_import_keeping_random_gives_python_s_random_its_state_back(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # the one helper every lazy scikit-learn / MONAI import goes through: a module that draws
    # from Python's random as it loads (as they do), imported by it, leaves the stream where it was
    from drac_ssl.starting import import_keeping_random

    _importable(tmp_path, monkeypatch, "draws_on_import", "import random\nDRAWN = random.random()\n")
    random.seed(11)
    before = random.getstate()
    module = import_keeping_random("draws_on_import")
    assert random.getstate() == before
    random.seed(11)
    assert module.DRAWN == random.random()  # it did draw: the state was given back, not untouched
    monkeypatch.delitem(sys.modules, "draws_on_import")


def test_import_keeping_random_gives_the_state_back_when_the_import_fails(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # a module that draws and then raises (a broken install): the ImportError reaches the caller
    # and Python's random is where it was
    from drac_ssl.starting import import_keeping_random

    _importable(tmp_path, monkeypatch, "draws_then_fails", "import random\nrandom.random()\nraise ImportError('broken')\n")
    random.seed(12)
    before = random.getstate()
    with pytest.raises(ImportError, match="broken"):
        import_keeping_random("draws_then_fails")
    assert random.getstate() == before
