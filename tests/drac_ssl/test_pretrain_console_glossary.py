"""The pretraining's epoch line is explained in one place (lecturer review F6): "rate-reduction
21.04" and "monitor dR last 8.71 early 1.90" on one line, with no word on what either is. Every
field the line prints, and every column of metrics.jsonl it comes from, is defined in
docs/running.md's "Reading the pretraining console", which the first epoch's line names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from drac_ssl import pretrain
from drac_ssl.config import load_config
from drac_ssl.pretrain import CONSOLE_GLOSSARY, MONITOR_KEYS, TERMS, _VICRegTraining

REPO = Path(__file__).resolve().parents[2]


def _glossary() -> str:
    page, anchor = CONSOLE_GLOSSARY.split("#")
    text = (REPO / page).read_text(encoding="utf-8")
    heading = next(line for line in text.splitlines()
                   if line.startswith("## ") and re.sub(r"[^\w\- ]", "", line[3:].lower()).replace(" ", "-") == anchor)
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def _line(epoch: int) -> str:
    task = SimpleNamespace(pc=SimpleNamespace(epochs=2), keys=TERMS)
    row = {"epoch": epoch, "loss": 21.7, "invariance": 0.03, "variance": 0.7, "covariance": 1.1,
           "rate_reduction": 21.04, "knn_top1": 61.1, "rate_reduction_last": 8.71, "rate_reduction_early": 1.9,
           "pairs_per_second": 95.0}
    return _VICRegTraining.describe(task, row)  # type: ignore[arg-type]


def test_every_field_of_the_epoch_line_is_defined_in_the_glossary_with_its_column() -> None:
    line, glossary = _line(1), _glossary()
    printed = ["loss", "inv", "var", "cov", "rate-reduction", "k-NN", "monitor dR last", "early", "pairs/s"]
    for field in printed:
        assert f" {field} " in f" {line} ".replace("(", " ").replace(",", " "), (field, line)
        assert f"`{field}" in glossary, field
    for column in (*TERMS, *MONITOR_KEYS, "knn_top1", "pairs_per_second"):
        assert f"`{column}`" in glossary, column
    assert "nats" in glossary and "knn_start_top1" in glossary
    # the two rate reductions of one line are said to be different quantities
    assert "different features, images, modes and memberships" in " ".join(glossary.split())


def test_a_nan_knn_figure_is_said_as_non_finite_features_and_kept_out_of_the_reports() -> None:
    """knn_accuracy gives nan for non-finite features (it once gave class 0's share as an
    accuracy): the epoch line says why instead of "k-NN nan%", and the reports' k-NN lines,
    which took any float, leave the figure out rather than compare nan with the start."""
    from drac_ssl.report import knn_start_comparison_of_run

    task = SimpleNamespace(pc=SimpleNamespace(epochs=2), keys=TERMS)
    row = {"epoch": 1, "loss": 21.7, "invariance": 0.03, "variance": 0.7, "covariance": 1.1,
           "rate_reduction": 21.04, "knn_top1": float("nan"), "pairs_per_second": 95.0}
    line = _VICRegTraining.describe(task, row)  # type: ignore[arg-type]
    assert f", k-NN {pretrain.KNN_NOT_FINITE_WORDS} " in line and "nan" not in line, line
    meta = {"knn_start_top1": 60.0, "config": {"data": {"dataset": "mnist"}}}
    assert knn_start_comparison_of_run(meta, [row]) is None
    assert knn_start_comparison_of_run({**meta, "knn_start_top1": float("nan")}, [{**row, "knn_top1": 59.0}]) is None
    assert knn_start_comparison_of_run(meta, [{**row, "knn_top1": 59.0}]) is not None


def test_a_nan_knn_figure_is_recorded_as_null_not_a_bare_nan() -> None:
    """json.dumps wrote the monitor's nan as a bare ``NaN`` into metrics.jsonl and
    metadata.json, which strict JSON parsers refuse: it is None (null), as the losses' non-finite
    epoch means are, and the epoch line and the reports read None as not scored."""
    from drac_ssl.report import finite_knn_figure, knn_start_comparison_of_run

    task = SimpleNamespace(pc=SimpleNamespace(monitor_images=0, knn_every=1, epochs=2, knn_k=20),
                           knn=lambda *_: float("nan"), model=SimpleNamespace(backbone=None), bf16=False,
                           channels_last=False)
    out = _VICRegTraining.epoch_monitors(task, 0, {})  # type: ignore[arg-type]
    assert out == {"knn_top1": None}
    assert json.loads(json.dumps(out, allow_nan=False)) == {"knn_top1": None}
    assert pretrain.knn_record(float("inf")) is None and pretrain.knn_record(61.12345) == 61.123
    row = {"epoch": 0, "loss": 21.7, "invariance": 0.03, "variance": 0.7, "covariance": 1.1,
           "rate_reduction": 21.04, "knn_top1": None, "pairs_per_second": 95.0}
    line = _VICRegTraining.describe(SimpleNamespace(pc=task.pc, keys=TERMS), row)  # type: ignore[arg-type]
    assert f", k-NN {pretrain.KNN_NOT_FINITE_WORDS} " in line, line
    assert not finite_knn_figure(None)
    assert knn_start_comparison_of_run({"knn_start_top1": None}, [{**row, "knn_top1": 59.0}]) is None


@pytest.mark.parametrize("weights", ["", "/data/resnet18_nan.safetensors"])
def test_a_nan_starting_knn_names_the_weights_file_only_when_there_is_one(weights: str, capsys) -> None:
    """The starting backbone's "not scored" line said "check pretrain.backbone.weights: the file
    may hold NaN or inf" on a random start too, where there is no file: it names the file only
    when one is set, and otherwise the batch-norm statistics and the precision."""
    task = SimpleNamespace(pc=SimpleNamespace(knn_k=20, backbone=SimpleNamespace(weights=weights)),
                           knn=lambda *_: float("nan"), knn_start=None, model=SimpleNamespace(backbone=None),
                           bf16=True, channels_last=False, train_model=SimpleNamespace(train=lambda: None))
    _VICRegTraining.begin_epoch(task, 0)  # type: ignore[arg-type]
    line = capsys.readouterr().out
    assert pretrain.KNN_NOT_FINITE_WORDS in line
    if weights:
        assert f"check pretrain.backbone.weights: {weights} may hold NaN or inf" in line, line
    else:
        assert "pretrain.backbone.weights" not in line and "batch-norm running statistics" in line, line
        assert "pretrain.precision=fp32" in line


def test_the_first_epochs_line_names_the_glossary_and_later_ones_do_not() -> None:
    first, second = _line(0), _line(1)
    assert first.splitlines()[1] == f"[pretrain] what these fields are: {CONSOLE_GLOSSARY}"
    assert "\n" not in second


def test_every_column_of_a_real_metrics_csv_is_defined_in_the_glossary(tmp_path: Path) -> None:
    """Review F2: the page promised each column of metrics.csv but left ``step``, ``lr`` and
    ``seconds`` out, and called ``view_cosine_last`` a metrics.jsonl-only column. The header of
    a one-epoch run's metrics.csv (k-NN and fixed-image monitors on) is checked against it."""
    cfg = load_config(None, ["pretrain.epochs=1", "pretrain.batch_size=4", "pretrain.num_workers=0",
                             "pretrain.expander=32-32", "pretrain.augment.image_size=16",
                             "pretrain.augment.source_size=24", "pretrain.augment.recipe=octa",
                             "pretrain.backbone.cifar_stem=true", "pretrain.lr=0.001", "run.device=cpu",
                             "pretrain.knn_every=1", "pretrain.knn_k=3", "pretrain.monitor_images=8"])
    images = np.random.default_rng(0).integers(0, 256, size=(8, 24, 24), dtype=np.uint8)
    labelled = (images, np.arange(8) % 3)
    result = pretrain.run(cfg, tmp_path, data=pretrain.PretrainData(images=images, description="random images",
                                                                    knn_train=labelled, knn_test=labelled))
    header = (result.out_dir / "metrics.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"step", "lr", "seconds", "view_cosine_last", "knn_top1"} <= set(header), header
    glossary = _glossary()
    for column in header:
        assert f"`{column}`" in glossary, column
    cosine = next(p for p in glossary.split("\n- ") if p.startswith("`view_cosine_last`"))
    assert "`metrics.csv`" in cosine and "only" not in cosine, cosine
