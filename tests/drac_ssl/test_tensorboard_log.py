"""Optional TensorBoard scalars (run.tensorboard): what the event files hold, on tiny pretraining
runs (CPU, seconds), after a resume, when disabled and when the package is missing."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_pretrain import tiny_config, tiny_data

from drac_ssl import pretrain, train, umm
from drac_ssl.config import ConfigError
from drac_ssl.tensorboard_log import scalar_points, write_tensorboard


def tensorboard_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in ``log_dir`` as TensorBoard's own reader sees it: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every point
    reader.Reload()
    return {tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def expected_scalars(stage: str, history: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """What the event files must hold for ``history`` (read from metrics.jsonl): one point per
    row and numeric field, at the row's step."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for row in history:
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                expected.setdefault(f"{stage}/{key}", []).append((row["step"], float(value)))
    return expected


def assert_log_matches_metrics(out_dir: Path, stage: str) -> dict[str, list[tuple[int, float]]]:
    history = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    got = tensorboard_scalars(out_dir / "tensorboard")
    want = expected_scalars(stage, history)
    assert sorted(got) == sorted(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag  # one point per epoch
        # TensorBoard stores scalars as float32
        assert [v for _, v in got[tag]] == pytest.approx([v for _, v in points], rel=1e-6, abs=1e-12), tag
    assert len(list((out_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    return got


def test_scalar_points_tag_every_numeric_field_against_the_step() -> None:
    history = [
        {"epoch": 0, "step": 5, "lr": 0.1, "loss": 2.5, "outer_objective": None, "note": "x", "flag": True},
        {"epoch": 1, "step": 10, "lr": 0.05, "loss": 2.0, "knn_top1": 40.0},
    ]
    assert scalar_points("umm", history) == [
        ("umm/epoch", 0.0, 5), ("umm/lr", 0.1, 5), ("umm/loss", 2.5, 5),
        ("umm/epoch", 1.0, 10), ("umm/lr", 0.05, 10), ("umm/loss", 2.0, 10), ("umm/knn_top1", 40.0, 10),
    ]
    assert scalar_points("pretrain", []) == []


def test_rewriting_the_log_replaces_the_older_event_files(tmp_path: Path) -> None:
    first = [{"epoch": 0, "step": 2, "loss": 9.0}, {"epoch": 1, "step": 4, "loss": 8.0}]
    write_tensorboard(tmp_path, "pretrain", first)
    write_tensorboard(tmp_path, "pretrain", first[:1] + [{"epoch": 1, "step": 4, "loss": 7.0}])
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    assert tensorboard_scalars(tmp_path)["pretrain/loss"] == [(2, 9.0), (4, 7.0)]


@pytest.fixture(autouse=True)
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrain, "_plot_history", lambda *args, **kwargs: None)  # checked in test_pretrain


def test_enabled_pretraining_writes_the_epoch_metrics_as_scalars(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "2", "pretrain.knn_every": "1", "run.tensorboard": "true"})
    result = pretrain.run(cfg, tmp_path, data=tiny_data(labels=True))
    got = assert_log_matches_metrics(result.out_dir, "pretrain")
    for key in ("loss", "invariance", "variance", "covariance", "rate_reduction", "lr", "knn_top1",
                "epoch", "seconds", "pairs_per_second"):
        assert f"pretrain/{key}" in got, key
    assert "pretrain/step" not in got
    assert [s for s, _ in got["pretrain/loss"]] == [2, 4]  # x = global step: 8 images / batch 4


def test_resumed_pretraining_has_one_point_per_epoch_and_nothing_stale(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    cfg = tiny_config(**{"pretrain.epochs": "2", "run.tensorboard": "true"})
    first = pretrain.run(cfg, tmp_path, data=tiny_data(), stop_after_epoch=0)
    assert first.stopped == "interrupted"
    log_dir = first.out_dir / "tensorboard"
    assert [s for s, _ in tensorboard_scalars(log_dir)["pretrain/loss"]] == [2]
    # an earlier attempt that logged the second epoch (and a later one) before it was killed
    stale = SummaryWriter(str(log_dir))
    stale.add_scalar("pretrain/loss", -1.0, 4)
    stale.add_scalar("pretrain/loss", -1.0, 6)
    stale.add_scalar("pretrain/old_tag", 1.0, 6)
    stale.close()
    resumed = pretrain.run(cfg, tmp_path, data=tiny_data())
    assert len(resumed.history) == 2
    got = assert_log_matches_metrics(resumed.out_dir, "pretrain")
    assert [s for s, _ in got["pretrain/loss"]] == [2, 4]
    assert all(v > 0 for _, v in got["pretrain/loss"])


def test_disabled_writes_no_tensorboard_folder(tmp_path: Path) -> None:
    result = pretrain.run(tiny_config(**{"pretrain.epochs": "1"}), tmp_path, data=tiny_data())
    assert (result.out_dir / "metrics.jsonl").exists()
    assert not (result.out_dir / "tensorboard").exists()


def test_missing_package_is_a_clear_error_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    cfg = tiny_config(**{"run.tensorboard": "true"})
    fix = r"(?s)run\.tensorboard=true.*pip install tensorboard.*\[tensorboard\].*run\.tensorboard=false"
    with pytest.raises(ConfigError, match=fix):
        pretrain.run(cfg, tmp_path, data=tiny_data())
    assert not (tmp_path / "pretrain").exists()  # nothing trained, nothing written
    with pytest.raises(ConfigError, match=fix):
        umm.run(cfg, tmp_path, data=tiny_data())
    monkeypatch.chdir(tmp_path)  # the main job stops before ingest, with exit code 2
    assert train.main(["run.tensorboard=true", "run.name=tb", "run.device=cpu"]) == 2
    err = capsys.readouterr().err
    assert "pip install tensorboard" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
