"""``python -m app --bundle RUN`` on a run with no bundle yet whose training still runs: exit 75
(:data:`drac_ssl.exit_codes.RUN_BUSY`, try again later), in the words ``python -m
drac_ssl.export`` says it with, not 2 (which a service's ``RestartPreventExitStatus=2`` never
restarts, and a script cannot tell from a wrong option)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.__main__ import main
from drac_ssl.exit_codes import RUN_BUSY, RunBusy
from drac_ssl.grading.bundle_folder import BundleError, bundle_folder
from drac_ssl.runtime import hold_run


def test_a_run_whose_training_still_runs_exits_busy_not_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm, finetune, export]\n")
    (run / "stages.json").write_text(json.dumps({"finetune": {"status": "running"}}))
    with hold_run(run):  # the training, running
        # one exception of both kinds: a bare RunBusy escaped main as a traceback (a mutation audit M29)
        with pytest.raises(BundleError, match="its training is still running") as info:
            bundle_folder(run)
        assert isinstance(info.value, RunBusy), type(info.value).__mro__
        assert main(["--bundle", str(run), "--temp-dir", str(tmp_path)]) == RUN_BUSY == 75
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot load the bundle {run}: a run folder with no model bundle "
                          f"(bundle/) yet: its training is still running: "), err
    assert "wait for it to finish" in err and "Traceback" not in err
    # no training holds it any more (stages.json still says "running": a killed one): 2, as before
    assert main(["--bundle", str(run), "--temp-dir", str(tmp_path)]) == 2
    assert "still running" not in capsys.readouterr().err
