"""``--bundle RUN`` of a run whose training still runs (its lock held, no bundle yet): the
refusal is a BundleError the app catches, and a RunBusy (exit 75 for the export), not a bare
RunBusy that escapes ``python -m app`` as a traceback (a mutation audit M29)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

from drac_ssl.exit_codes import RunBusy
from drac_ssl.grading.bundle_folder import BundleError, bundle_folder
from drac_ssl.io import try_lock
from drac_ssl.run_state import RUN_LOCK


@pytest.mark.skipif(os.name == "nt", reason="flock: two opens of one file in one process conflict on POSIX")
def test_the_bundle_of_a_run_still_training_is_refused_as_both_kinds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main

    run = tmp_path / "training"
    run.mkdir()
    (run / "config.yaml").write_text(f"run:\n  out_dir: {tmp_path}\n  name: training\n"
                                     "  stages: [ingest, pretrain, umm, finetune, export]\n")
    (run / "stages.json").write_text(json.dumps({"ingest": {"status": "done", "seconds": 1.0}}))
    (run / RUN_LOCK).write_text(json.dumps({"tool": "drac_ssl.train", "pid": os.getpid(),
                                            "host": platform.node(), "date_utc": "2026-12-07T08:00:00+00:00"}))
    fd = os.open(run / RUN_LOCK, os.O_RDWR)
    try:
        assert try_lock(fd)  # held, as the training holds it
        with pytest.raises(BundleError, match="its training is still running") as info:
            bundle_folder(run)
        assert isinstance(info.value, RunBusy), type(info.value).__mro__
        capsys.readouterr()
        code = main(["--bundle", str(run)])  # said, not raised: no traceback
        err = capsys.readouterr().err
    finally:
        os.close(fd)
    assert code in (2, 75), code
    assert err.startswith(f"error: cannot load the bundle {run}: {run}: a run folder with no model bundle"), err
    assert "Traceback" not in err and "still running" in err, err
