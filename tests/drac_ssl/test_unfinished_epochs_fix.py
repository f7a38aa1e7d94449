"""An interruption review (F6): ``pretrain.epochs=6`` typed for a run stopped at epoch 2 of 4
was refused with "choose another run.name" or "rerun with the saved config" (which puts 4
back), while the documented way, more epochs in the run's config.yaml, resumes it ("2 of 6
done"). The refusal now names that way first when every difference is the epochs of an
unfinished pretraining or UMM; a finished stage's epochs stay an edit, refused as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import train
from drac_ssl.config import load_config, save_config
from drac_ssl.starting import python_command

DONE = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}


@pytest.mark.parametrize("pretrain_status", ["running", "done"])
def test_more_epochs_of_an_unfinished_pretraining_point_to_the_run_s_config_yaml(
        tmp_path: Path, pretrain_status: str) -> None:
    run = tmp_path / "runs" / "k6"
    base = [f"run.out_dir={tmp_path / 'runs'}", "run.name=k6", "pretrain.epochs=4"]
    save_config(load_config(train.DEFAULT_CONFIG, base), run / "config.yaml")
    (run / "data").mkdir()
    (run / "data" / "manifest.csv").write_text("id\n", encoding="utf-8")
    (run / "pretrain" / "checkpoints").mkdir(parents=True)  # a stage's output: every setting is compared
    pretrain = DONE if pretrain_status == "done" else {"status": "running", "attempts": 1}
    (run / "stages.json").write_text(json.dumps({"ingest": DONE, "pretrain": pretrain}), encoding="utf-8")
    refused = train._existing_run_problem(load_config(train.DEFAULT_CONFIG, [*base, "pretrain.epochs=6"]), run)
    assert "pretrain.epochs: 4 -> 6\n     fix: " in refused, refused
    way = (f"fix: to train the unfinished pretraining to that count in this run (it resumes from the epochs "
           f"saved), write it into {run / 'config.yaml'} (epochs: 6 under pretrain:) and rerun with that file: "
           f"{python_command('drac_ssl.train')} -c {run / 'config.yaml'} ")
    if pretrain_status == "done":  # a finished stage ran with its own count: an edit, as before
        assert way not in refused and "rerun with the saved config" in refused, refused
    else:
        assert way in refused, refused
        assert "; or choose another run.name to start a new run with that count" in refused
        assert "rerun with the saved config" not in refused  # it would put the 4 back
