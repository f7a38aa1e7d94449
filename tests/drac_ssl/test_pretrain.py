"""The VICReg pretraining stage end to end on tiny data (CPU, seconds)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import drac_ssl
from drac_ssl import pretrain
from drac_ssl.checkpoint import load_checkpoint
from drac_ssl.config import Config, ConfigError, load_config, to_dict
from drac_ssl.distributed import DistInfo
from drac_ssl.losses.vicreg import VICRegLoss, VICRegTerms
from drac_ssl.models import build_backbone, load_local_weights


def tiny_config(**overrides: str) -> Config:
    args = [
        "pretrain.epochs=2", "pretrain.batch_size=4", "pretrain.num_workers=0",
        "pretrain.expander=32-32", "pretrain.augment.image_size=16", "pretrain.augment.source_size=24",
        "pretrain.augment.recipe=octa", "pretrain.backbone.cifar_stem=true", "pretrain.patience=0",
        "pretrain.lr=0.001", "run.device=cpu",
    ]
    args += [f"{k}={v}" for k, v in overrides.items()]
    return load_config(None, args)


def tiny_data(n: int = 8, size: int = 24, labels: bool = False) -> pretrain.PretrainData:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    knn = None
    if labels:
        y = np.arange(n) % 3
        knn = (images, y)
    return pretrain.PretrainData(images=images, description="random test images", knn_train=knn, knn_test=knn)


def test_one_epoch_writes_weights_metadata_metrics_and_plots(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "1"})
    result = pretrain.run(cfg, tmp_path, data=tiny_data())
    assert result.stopped == "completed all epochs"
    assert len(result.history) == 1
    row = result.history[0]
    for key in ("loss", "invariance", "variance", "covariance", "rate_reduction", "pairs_per_second"):
        assert np.isfinite(row[key]), key
    assert row["loss"] == pytest.approx(25 * row["invariance"] + 25 * row["variance"] + row["covariance"], rel=1e-4)
    backbone = build_backbone(cfg.pretrain.backbone)
    report = load_local_weights(backbone, result.backbone_path)
    assert not report.missing
    meta = json.loads(result.metadata_path.read_text())
    assert meta["input"]["channels"] == 1
    assert meta["input"]["size"] == [16, 16]
    assert meta["architecture"]["backbone"] == "resnet18"
    assert len(meta["input"]["normalization"]["mean"]) == 1
    out = result.out_dir
    assert (out / "metrics.csv").read_text().startswith("epoch,")
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert (out / "plots" / "pretrain_loss.png").stat().st_size > 1000
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")  # weights_only=True inside
    assert ckpt["epoch"] == 0 and "optimizer" in ckpt and "rng" in ckpt


def test_fashion_mnist_is_normalised_with_its_own_statistics_everywhere(tmp_path: Path) -> None:
    """A review: a Fashion-MNIST run's metadata said mean [0.1307] std [0.3081], MNIST's: the
    views, the k-NN monitor and the recorded normalisation all took the ``mnist`` recipe's
    statistics though ``FASHION_MNIST_MEAN/STD`` exist. A generic data set now normalises with
    its own (the recipe's for an ingested folder: the DRAC job is unchanged)."""
    from drac_ssl.datasets import FASHION_MNIST_MEAN, FASHION_MNIST_STD, OCTA_MEAN
    from drac_ssl.pretrain import backbone_metadata, normalization_name

    cfg = tiny_config(**{"data.dataset": "fashion_mnist", "pretrain.augment.recipe": "mnist",
                         "pretrain.epochs": "1"})
    assert normalization_name(cfg) == "fashion_mnist"
    for on_gpu in (True, False):
        cfg.pretrain.augment.on_gpu = on_gpu
        feed = pretrain.TwoViewFeed(tiny_data().images, cfg, torch.device("cpu"), pretrain.DistInfo())
        if on_gpu:
            assert feed.gpu_augment.recipe.mean == FASHION_MNIST_MEAN
            assert feed.gpu_augment.std.flatten().tolist() == pytest.approx(FASHION_MNIST_STD)
        else:
            normalize = next(t for t in feed.dataset.transform.transforms if type(t).__name__ == "Normalize")
            assert tuple(normalize.mean) == pytest.approx(FASHION_MNIST_MEAN)
    meta = backbone_metadata(cfg, tiny_data(), [], 0)
    assert meta["input"]["normalization"] == {"mean": list(FASHION_MNIST_MEAN), "std": list(FASHION_MNIST_STD)}
    result = pretrain.run(cfg, tmp_path / "fashion", data=tiny_data(labels=True))
    meta = json.loads(result.metadata_path.read_text())
    assert meta["input"]["normalization"]["mean"] == list(FASHION_MNIST_MEAN)
    # the k-NN monitor embeds with the same statistics
    seen: list[str] = []
    real_embed = pretrain.KnnMonitor.features

    def features(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(self.recipe)
        return real_embed(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrain.KnnMonitor, "features", features)
        pretrain.run(tiny_config(**{"data.dataset": "fashion_mnist", "pretrain.augment.recipe": "mnist",
                                    "pretrain.epochs": "1", "pretrain.knn_every": "1"}),
                     tmp_path / "knn", data=tiny_data(labels=True))
    assert seen and set(seen) == {"fashion_mnist"}, seen
    # an ingested folder (data.dataset=drac) keeps its recipe's statistics
    assert backbone_metadata(tiny_config(), tiny_data(), [], 0)["input"]["normalization"]["mean"] == list(OCTA_MEAN)


def test_the_backbone_metadata_records_the_cpu_threads_it_trained_with() -> None:
    """A reproducibility review: pretrain/metadata.json said "threads": 0 (the setting, half
    the cores of whatever machine), not the count the weights were trained with."""
    from drac_ssl.pretrain import backbone_metadata

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        meta = backbone_metadata(tiny_config(), tiny_data(), [], 0)
    finally:
        torch.set_num_threads(before)
    assert meta["cpu_threads"] == 3 and meta["config"]["run"]["threads"] == 0


def test_a_fashion_mnist_pretraining_begun_with_mnist_statistics_is_not_resumed_with_others(tmp_path: Path) -> None:
    """A Fashion-MNIST run folder interrupted before its own statistics were used (its
    last.pt records none, or other ones) would switch statistics mid-run on a resume: refused,
    with the statistics it began with and the way out."""
    cfg = tiny_config(**{"data.dataset": "fashion_mnist", "pretrain.augment.recipe": "mnist"})
    pretrain.run(cfg, tmp_path, data=tiny_data(), stop_after_epoch=0)
    last = tmp_path / "pretrain" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert state["normalization"]["mean"] == [0.286]
    del state["normalization"]  # as the code before this fix wrote it
    torch.save(state, last)
    with pytest.raises(ConfigError) as refused:
        pretrain.run(cfg, tmp_path, data=tiny_data())
    words = str(refused.value)
    assert "mean [0.1307] std [0.3081]" in words and "mean [0.286] std [0.353]" in words, words
    assert "fix:" in words and "run.name=NEW" in words, words
    # the same checkpoint of an MNIST run resumes (its statistics did not change)
    mnist = tiny_config(**{"data.dataset": "mnist", "pretrain.augment.recipe": "mnist"})
    pretrain.run(mnist, tmp_path / "mnist", data=tiny_data(), stop_after_epoch=0)
    last = tmp_path / "mnist" / "pretrain" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    del state["normalization"]
    torch.save(state, last)
    assert len(pretrain.run(mnist, tmp_path / "mnist", data=tiny_data()).history) == 2


@pytest.fixture(scope="module")
def interrupted_pretraining(tmp_path_factory: pytest.TempPathFactory) -> tuple[pretrain.PretrainResult, Path]:
    """:func:`tiny_config`'s pretraining (2 epochs) stopped after its first epoch
    (``stop_after_epoch=0``) as an interrupted run leaves its folder (``pretrain/checkpoints/
    last.pt``): the result and the folder. Made once; each resume test takes a copy
    (:func:`_copy_of_interrupted`), since it resumes the folder."""
    run_dir = tmp_path_factory.mktemp("interrupted")
    return pretrain.run(tiny_config(), run_dir, data=tiny_data(), stop_after_epoch=0), run_dir


def _copy_of_interrupted(interrupted: tuple[pretrain.PretrainResult, Path], where: Path) -> Path:
    """A copy of :func:`interrupted_pretraining`'s folder at ``where`` (which may exist, empty)."""
    import shutil

    shutil.copytree(interrupted[1], where, dirs_exist_ok=True)
    return where


def test_killed_and_resumed_run_gives_the_same_losses(
        interrupted_pretraining: tuple[pretrain.PretrainResult, Path], tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "2"})
    straight = pretrain.run(cfg, tmp_path / "straight", data=tiny_data())
    # pretrain.run(cfg, tmp_path / "resumed", data=tiny_data(), stop_after_epoch=0), made once
    first = interrupted_pretraining[0]
    _copy_of_interrupted(interrupted_pretraining, tmp_path / "resumed")
    assert first.stopped == "interrupted" and len(first.history) == 1
    resumed = pretrain.run(cfg, tmp_path / "resumed", data=tiny_data())
    assert len(resumed.history) == 2
    for a, b in zip(straight.history, resumed.history, strict=True):
        for key in ("loss", "invariance", "variance", "covariance", "rate_reduction", *pretrain.MONITOR_KEYS):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    # the rate-reduction monitor's peak checkpoint is the epoch of its maximum, after a resume too
    peak = max(straight.history, key=lambda r: r["rate_reduction_last"])["epoch"]
    for run in ("straight", "resumed"):
        state = load_checkpoint(tmp_path / run / "pretrain" / "checkpoints" / pretrain.PEAK_CHECKPOINT)
        assert state["epoch"] == peak and "model" in state and "config" in state


def test_each_checkpoint_is_followed_by_its_record_for_the_commands_without_torch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``checkpoints/last.json`` says what ``last.pt`` holds (its epoch, step and size), so
    that a killed pretraining's words (drac_ssl.run_state.checkpoint_saved) need no torch."""
    from drac_ssl.io import ends_sha256, sha256_file
    from drac_ssl.run_state import CHECKPOINT_RECORD, checkpoint_saved

    cfg = tiny_config(**{"pretrain.epochs": "3"})
    ckpt = tmp_path / "pretrain" / "checkpoints"
    for stop, done in ((0, 1), (None, 3)):  # interrupted after epoch 1 (as a kill then leaves it), resumed
        pretrain.run(cfg, tmp_path, data=tiny_data(), stop_after_epoch=stop)
        record = json.loads((ckpt / CHECKPOINT_RECORD).read_text())
        state = load_checkpoint(ckpt / "last.pt")
        assert record["epochs_done"] == state["epoch"] + 1 == done and record["epochs_planned"] == 3, record
        assert record["step"] == state["step"] == done * (8 // 4), record
        assert record["bytes"] == (ckpt / "last.pt").stat().st_size and record["checkpoint"] == "last.pt"
        assert record["ends_sha256"] == ends_sha256(ckpt / "last.pt"), record  # its own last.pt's, after it
        assert record["sha256"] == sha256_file(ckpt / "last.pt"), record  # the whole file (review F3)
        assert record["stopped"] == state["stopped"]
        saved = checkpoint_saved(tmp_path, "pretrain")
        assert saved.what.startswith(f"{'training finished, completed all epochs: ' if done == 3 else ''}"
                                     f"last checkpoint at epoch {done} of 3, step {done * 2}, written "), saved
    assert checkpoint_saved(tmp_path, "pretrain").then == "finishes the stage from it (no epoch is trained again)"
    # a record whose checkpoint was removed: the next attempt starts afresh and removes it
    # first, so a Ctrl-C (or kill) in its first epoch leaves no record of an epoch not there
    (ckpt / "last.pt").unlink()
    assert not checkpoint_saved(tmp_path, "pretrain").resumable

    def ctrl_c(self: VICRegLoss, z_a: torch.Tensor, z_b: torch.Tensor) -> VICRegTerms:
        raise KeyboardInterrupt

    monkeypatch.setattr(VICRegLoss, "forward", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        pretrain.run(cfg, tmp_path, data=tiny_data())
    assert not (ckpt / CHECKPOINT_RECORD).exists() and not (ckpt / "last.pt").exists()


def test_the_free_space_estimate_counts_the_peak_checkpoint(tmp_path: Path) -> None:
    """Review F1: the warning before the first epoch left out monitor_peak.pt (45 MB in the
    tiny configuration), the pretraining's own checkpoint: the task now names it, with the
    model's weights it holds, when the monitor is on (none without it)."""
    from types import SimpleNamespace

    model = torch.nn.Linear(4, 2)
    for images, expected in ((6, [pretrain.PEAK_CHECKPOINT]), (0, [])):
        task = SimpleNamespace(pc=SimpleNamespace(monitor_images=images), ckpt_dir=tmp_path, model=model)
        extra = pretrain._VICRegTraining.extra_checkpoints(task)  # type: ignore[arg-type]
        assert list(extra) == expected
        if expected:
            assert set(extra[pretrain.PEAK_CHECKPOINT]["model"]) == {"weight", "bias"}


def test_rate_reduction_monitor_uses_a_fixed_probe(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.monitor_images": "6"})
    data = tiny_data()
    probe = pretrain.build_monitor_probe(data.images, cfg)
    assert probe is not None and probe.view_a.shape == (6, 1, 16, 16)
    again = pretrain.build_monitor_probe(data.images, cfg)
    assert torch.equal(probe.view_a, again.view_a) and torch.equal(probe.view_b, again.view_b)
    assert not torch.equal(probe.view_a, probe.view_b)  # two different views of each image
    other = pretrain.build_monitor_probe(data.images, tiny_config(**{"pretrain.monitor_images": "6",
                                                                     "run.seed": "1"}))
    assert not torch.equal(probe.view_a, other.view_a)
    backbone = build_backbone(cfg.pretrain.backbone)
    first = pretrain.rate_reduction_monitor(backbone, probe, cfg, torch.device("cpu"), False)
    assert first == pretrain.rate_reduction_monitor(backbone, probe, cfg, torch.device("cpu"), False)
    assert set(first) == set(pretrain.MONITOR_KEYS) and first["rate_reduction_last"] >= 0
    # off: no monitor columns and no peak checkpoint
    result = pretrain.run(tiny_config(**{"pretrain.epochs": "1", "pretrain.monitor_images": "0"}), tmp_path,
                          data=data)
    assert "rate_reduction_last" not in result.history[0]
    assert not (tmp_path / "pretrain" / "checkpoints" / pretrain.PEAK_CHECKPOINT).exists()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "3"})
    calls = {"n": 0}
    original = VICRegLoss.forward
    steps_per_epoch = 8 // 4

    def poisoned(self: VICRegLoss, z_a: torch.Tensor, z_b: torch.Tensor) -> VICRegTerms:
        calls["n"] += 1
        terms = original(self, z_a, z_b)
        if calls["n"] > steps_per_epoch:  # second epoch onwards
            return terms._replace(loss=terms.loss * float("nan"))
        return terms

    monkeypatch.setattr(VICRegLoss, "forward", poisoned)
    with pytest.raises(pretrain.NonFiniteLossError, match="(?s)non-finite.*last good checkpoint") as stopped:
        pretrain.run(cfg, tmp_path, data=tiny_data())
    # a review: the fix said to lower pretrain.lr, which this run folder then refuses (a changed
    # setting): the new setting goes to a new run folder taking the finished ingest
    assert "a changed setting needs a new run folder (this one refuses it)" in str(stopped.value)
    (tmp_path / "stages.json").write_text("{}")  # a python -m drac_ssl.train run folder
    (tmp_path / "pretrain").rename(tmp_path / "pretrain-1")
    calls["n"] = 0
    with pytest.raises(pretrain.NonFiniteLossError) as stopped:
        pretrain.run(cfg, tmp_path, data=tiny_data())
    assert (f"start a new one that takes its finished ingest: add run.name={tmp_path.name}-2 "
            f"run.reuse={tmp_path} pretrain.lr={cfg.pretrain.lr / 10:g}") in str(stopped.value)
    (tmp_path / "pretrain").rename(tmp_path / "pretrain-2")
    (tmp_path / "pretrain-1").rename(tmp_path / "pretrain")
    state = load_checkpoint(tmp_path / "pretrain" / "checkpoints" / "last.pt")
    assert state["epoch"] == 0
    assert all(np.isfinite(v) for v in state["history"][0].values() if isinstance(v, float))


def test_early_stopping_on_the_epoch_loss(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "5", "pretrain.patience": "2", "pretrain.min_delta": "1e9",
                           "pretrain.max_steps_per_epoch": "1"})
    result = pretrain.run(cfg, tmp_path, data=tiny_data())
    assert result.stopped.startswith("early stopping")
    assert len(result.history) == 3  # the first epoch sets the best; two without improvement
    assert result.best_epoch == 0
    # the patience running out on the last epoch: all epochs ran, none was cut (a review read
    # "epoch 3/3" then "early stopping: ..."), in the result, metadata.json and the console
    cfg = tiny_config(**{"pretrain.epochs": "3", "pretrain.patience": "2", "pretrain.min_delta": "1e9",
                           "pretrain.max_steps_per_epoch": "1"})
    result = pretrain.run(cfg, tmp_path / "last", data=tiny_data())
    assert len(result.history) == 3
    assert result.stopped == "completed all epochs: no improvement of the epoch loss for 2 epochs"
    meta = json.loads((tmp_path / "last" / "pretrain" / "metadata.json").read_text())
    assert meta["stopped"] == result.stopped


def test_knn_monitor_runs_when_labels_exist_and_scores_the_starting_backbone_first(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """A trial read 82.6 % k-NN on MNIST after two steps as learning: the monitor now scores the
    starting backbone once, before any step, and says so (console, metadata, plot)."""
    from drac_ssl.runtime import seed_everything

    original = pretrain.KnnMonitor.__call__
    calls: list[tuple[dict[str, torch.Tensor], float]] = []

    def spy(self, backbone, *args, **kwargs) -> float:
        value = original(self, backbone, *args, **kwargs)
        calls.append(({k: v.clone() for k, v in backbone.state_dict().items()}, value))
        return value

    monkeypatch.setattr(pretrain.KnnMonitor, "__call__", spy)
    cfg = tiny_config(**{"pretrain.epochs": "1", "pretrain.knn_every": "1", "pretrain.knn_k": "3"})
    result = pretrain.run(cfg, tmp_path, data=tiny_data(labels=True))
    assert 0.0 <= result.history[0]["knn_top1"] <= 100.0
    assert len(calls) == 2  # the starting backbone, then epoch 1
    seed_everything(cfg.run.seed)  # what the engine does before the model is built
    start = pretrain.build_vicreg_model(cfg.pretrain).backbone.state_dict()
    assert all(torch.equal(calls[0][0][k], v) for k, v in start.items())
    assert not all(torch.equal(calls[1][0][k], v) for k, v in start.items())  # epoch 1 trained
    meta = json.loads(result.metadata_path.read_text())
    assert meta["knn_start_top1"] == round(calls[0][1], 3)
    assert (f"k-NN top-1 of the starting backbone, before any step: {round(calls[0][1], 3):.2f}%"
            in capsys.readouterr().out)
    # without the monitor: no baseline, nothing in the metadata
    plain = pretrain.run(tiny_config(**{"pretrain.epochs": "1"}), tmp_path / "plain", data=tiny_data(labels=True))
    assert "knn_start_top1" not in json.loads(plain.metadata_path.read_text()) and len(calls) == 2


def test_gpu_augmentation_path_runs_on_cpu(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "1", "pretrain.augment.on_gpu": "true"})
    result = pretrain.run(cfg, tmp_path, data=tiny_data())
    assert np.isfinite(result.history[0]["loss"])


@pytest.mark.parametrize(("on_gpu", "optimizer"), [("true", "lars"), ("false", "adam")])
def test_no_value_is_read_back_to_the_host_inside_an_epoch(tmp_path: Path, monkeypatch, on_gpu: str,
                                                           optimizer: str) -> None:
    # A host read (.item(), float(t), bool(t), .tolist(), .cpu(), ...) of a GPU tensor
    # waits for the GPU to drain its queue. The package's code may read a few values per
    # epoch, never per step: the count of reads made from drac_ssl must not grow with the
    # number of steps. (torch.optim.Adam reads its step counter, a CPU tensor: not counted.)
    import sys

    package = str(Path(pretrain.__file__).parent)
    reads = {"n": 0}
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            if sys._getframe(1).f_code.co_filename.startswith(package):
                reads["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)

    def count(steps: int) -> int:
        cfg = tiny_config(**{"pretrain.epochs": "1", "pretrain.batch_size": "2", "pretrain.optimizer": optimizer,
                             "pretrain.max_steps_per_epoch": str(steps), "pretrain.augment.on_gpu": on_gpu})
        reads["n"] = 0
        pretrain.run(cfg, tmp_path / f"steps{steps}", data=tiny_data(12))
        return reads["n"]

    assert count(1) == count(3)


def test_checkpoint_every_n_epochs_and_resume_from_the_last_one_written(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.epochs": "3", "pretrain.checkpoint_every": "2", "pretrain.max_steps_per_epoch": "1"})
    straight = pretrain.run(cfg, tmp_path / "straight", data=tiny_data())
    ckpt = load_checkpoint(tmp_path / "straight" / "pretrain" / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 2  # the last epoch is always written
    best = load_checkpoint(tmp_path / "straight" / "pretrain" / "checkpoints" / "best.pt")
    assert best["epoch"] == straight.best_epoch
    # killed after epoch 0: nothing written yet, a rerun starts from scratch
    pretrain.run(cfg, tmp_path / "early", data=tiny_data(), stop_after_epoch=0)
    assert not (tmp_path / "early" / "pretrain" / "checkpoints" / "last.pt").exists()
    # killed after epoch 1 (a checkpoint epoch): the rerun resumes there and matches
    pretrain.run(cfg, tmp_path / "resumed", data=tiny_data(), stop_after_epoch=1)
    assert load_checkpoint(tmp_path / "resumed" / "pretrain" / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = pretrain.run(cfg, tmp_path / "resumed", data=tiny_data())
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6), a["epoch"]


def test_resuming_with_other_settings_is_refused(
        interrupted_pretraining: tuple[pretrain.PretrainResult, Path], tmp_path: Path) -> None:
    """A review: a pretraining resumed with another run.seed or pretrain.* setting mixed two
    configurations in one run without a word. The settings its output depends on
    (stage_settings.REUSABLE_STAGES["pretrain"]) are compared; pretrain.epochs may grow."""
    _copy_of_interrupted(interrupted_pretraining, tmp_path)  # pretrain.run(tiny_config(), stop_after_epoch=0) there
    with pytest.raises(ConfigError) as info:
        pretrain.run(tiny_config(**{"run.seed": "3", "pretrain.lr": "0.002", "umm.early_cut": "layer2"}),
                     tmp_path, data=tiny_data())
    message = str(info.value)
    for line in ("run.seed: 0 -> 3", "pretrain.lr: 0.001 -> 0.002", "umm.early_cut: 'layer3' -> 'layer2'"):
        assert line in message, message
    assert "last.pt" in message and "fix:" in message
    resumed = pretrain.run(tiny_config(**{"pretrain.epochs": "3", "run.tensorboard": "false"}), tmp_path,
                           data=tiny_data())
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2]


@pytest.mark.parametrize(("setting", "compiled"), [("auto", False), ("true", True), ("false", False)])
def test_compile_setting_is_wired(tmp_path: Path, monkeypatch, setting: str, compiled: bool) -> None:
    # auto compiles on CUDA only; on this CPU only "true" compiles. torch.compile itself is
    # replaced by a recorder (compiling a ResNet on a 2-core CPU takes minutes).
    calls = []
    monkeypatch.setattr(torch, "compile", lambda module, **kw: calls.append(module) or module)
    cfg = tiny_config(**{"pretrain.epochs": "1", "pretrain.compile": setting, "pretrain.max_steps_per_epoch": "1"})
    pretrain.run(cfg, tmp_path, data=tiny_data())
    assert len(calls) == int(compiled)
    if compiled:
        assert isinstance(calls[0], torch.nn.Module) and hasattr(calls[0], "backbone")


def test_batch_larger_than_data_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tiny_config(**{"pretrain.batch_size": "64"})
    with pytest.raises(ValueError, match="pretrain.batch_size=64 is larger than"):
        pretrain.run(cfg, tmp_path, data=tiny_data())


# --------------------------------------------------------------------------------------
# the CPU feed: one stream across epochs, views independent of the worker count


def _feed(workers: int, n: int = 12) -> pretrain.TwoViewFeed:
    from drac_ssl.distributed import DistInfo

    cfg = tiny_config(**{"pretrain.num_workers": str(workers)})
    return pretrain.TwoViewFeed(tiny_data(n).images, cfg, torch.device("cpu"), DistInfo())


def _epoch(feed: pretrain.TwoViewFeed, epoch: int) -> list[torch.Tensor]:
    return [torch.cat([a, b]) for a, b in feed.epoch(epoch)]


def test_cpu_feed_views_do_not_depend_on_the_worker_count() -> None:
    in_process, with_workers = _feed(0), _feed(2)
    try:
        for epoch in (0, 1):
            first, second = _epoch(in_process, epoch), _epoch(with_workers, epoch)
            assert len(first) == len(second) == 3
            for x, y in zip(first, second, strict=True):
                torch.testing.assert_close(x, y, atol=0, rtol=0)
        assert not torch.equal(_epoch(in_process, 2)[0], _epoch(in_process, 3)[0])
    finally:
        with_workers.close()


def test_cpu_feed_streams_across_epochs_and_restarts_exactly() -> None:
    feed = _feed(0)
    _epoch(feed, 0)
    stream = feed._stream
    epoch1 = _epoch(feed, 1)
    assert feed._stream is stream  # the next epoch came from the same open stream
    # a resumed run (a fresh feed asked for epoch 1 first) sees the very same batches
    resumed = _epoch(_feed(0), 1)
    for x, y in zip(epoch1, resumed, strict=True):
        torch.testing.assert_close(x, y, atol=0, rtol=0)
    # an epoch abandoned half-way: the next one reopens the stream at the right place
    next(feed.epoch(2))
    epoch3 = _epoch(feed, 3)
    assert feed._stream is not stream
    for x, y in zip(epoch3, _epoch(_feed(0), 3), strict=True):
        torch.testing.assert_close(x, y, atol=0, rtol=0)


def test_knn_limit_scores_evenly_spaced_subsets_and_says_so(tmp_path: Path, monkeypatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A trial's 2-step MNIST run spent ~680 s in the k-NN monitor over 10k + 10k images:
    pretrain.knn_limit=N scores images i * n // N (i = 0..N-1) of each split instead; 0 (the
    default) keeps all of them."""
    seen = {}
    original = pretrain.KnnMonitor.__init__

    def recording(self, train, test, *args, **kwargs) -> None:
        seen["train"], seen["test"] = np.asarray(train[1]).copy(), np.asarray(test[1]).copy()
        original(self, train, test, *args, **kwargs)

    monkeypatch.setattr(pretrain.KnnMonitor, "__init__", recording)
    data = tiny_data(12, labels=True)
    data.knn_train = (data.images, np.arange(12))  # labels = indices: the subset is seen
    data.knn_test = (data.images[:10], np.arange(10))
    common = {"pretrain.epochs": "1", "pretrain.knn_every": "1", "pretrain.knn_k": "3"}
    result = pretrain.run(tiny_config(**common, **{"pretrain.knn_limit": "4"}), tmp_path / "cut", data=data)
    assert seen["train"].tolist() == [0, 3, 6, 9] and seen["test"].tolist() == [0, 2, 5, 7]
    assert 0.0 <= result.history[0]["knn_top1"] <= 100.0
    out = capsys.readouterr().out
    assert "k-NN monitor on 4 of 12 training and 4 of 10 test images (pretrain.knn_limit=4, evenly spaced)" in out
    meta = json.loads(result.metadata_path.read_text())
    assert meta["knn_monitor"] == {"knn_limit": 4, "train_images": 4, "of_train": 12, "test_images": 4,
                                   "of_test": 10}
    # the default: every image, and the metadata as before
    full = pretrain.run(tiny_config(**common), tmp_path / "all", data=data)
    assert seen["train"].tolist() == list(range(12)) and seen["test"].tolist() == list(range(10))
    assert "knn_monitor" not in json.loads(full.metadata_path.read_text())
    assert "pretrain.knn_limit" not in capsys.readouterr().out


def test_knn_limit_at_its_default_keeps_older_run_folders_resumable(tmp_path: Path) -> None:
    """A checkpoint saved before pretrain.knn_limit existed resumes (the default, 0, is what it
    used); another limit is a changed pretrain.* setting, refused like any other."""
    from drac_ssl.config import to_dict
    from drac_ssl.stage_settings import stage_resume_differences

    saved = to_dict(tiny_config())
    del saved["pretrain"]["knn_limit"]
    assert stage_resume_differences("pretrain", saved, tiny_config(), tmp_path) == []
    assert stage_resume_differences("pretrain", saved, tiny_config(**{"pretrain.knn_limit": "1000"}),
                                    tmp_path) == ["pretrain.knn_limit: 0 -> 1000"]


def test_ctrl_c_in_the_knn_monitor_keeps_the_trained_epoch(tmp_path: Path, monkeypatch) -> None:
    """A trial's Ctrl-C in the k-NN monitor (13 minutes into CIFAR-10's first epoch, after its
    steps and monitor_peak.pt) said "no epoch saved yet": the epoch is now saved, and the
    resumed run scores its monitors first and ends as the uninterrupted one does."""
    from drac_ssl.runtime import StageInterrupted

    cfg = tiny_config(**{"pretrain.epochs": "2", "pretrain.knn_every": "1", "pretrain.knn_k": "3"})
    straight = pretrain.run(cfg, tmp_path / "straight", data=tiny_data(labels=True))
    original = pretrain.KnnMonitor.__call__
    calls = {"n": 0}

    def cut(self, *args, **kwargs) -> float:
        calls["n"] += 1
        if calls["n"] == 2:  # the first call scores the starting backbone, before any step
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pretrain.KnnMonitor, "__call__", cut)
    with pytest.raises(StageInterrupted) as caught:
        pretrain.run(cfg, tmp_path / "resumed", data=tiny_data(labels=True))
    assert caught.value.saved == "epoch 1 of 2 saved"
    resumed = pretrain.run(cfg, tmp_path / "resumed", data=tiny_data(labels=True))
    keys = ("loss", "invariance", "variance", "covariance", "rate_reduction", "knn_top1", *pretrain.MONITOR_KEYS)
    assert [[r[k] for k in keys] for r in resumed.history] == [[r[k] for k in keys] for r in straight.history]
    # the starting backbone's k-NN travels in last.pt: the resumed run reports the one it measured
    assert calls["n"] == 4  # start, epoch 1 (cut); resumed: epoch 1 again, epoch 2, no second start
    assert (json.loads(resumed.metadata_path.read_text())["knn_start_top1"]
            == json.loads(straight.metadata_path.read_text())["knn_start_top1"])
    for name in ("last.pt", pretrain.PEAK_CHECKPOINT):
        a, b = (load_checkpoint(tmp_path / run / "pretrain" / "checkpoints" / name) for run in ("straight", "resumed"))
        assert a["epoch"] == b["epoch"]
        for key, value in a["model"].items():
            assert torch.equal(value, b["model"][key]), (name, key)


@pytest.mark.parametrize(("n_train", "why"), [
    (0, "no image is graded"),
    (1, "the graded images all have one grade"),
])
def test_a_knn_monitor_asked_for_without_two_grades_says_it_is_off_and_why(
        tmp_path: Path, n_train: int, why: str, capsys) -> None:
    """pretrain.knn_every=1 on an ingest whose graded images have fewer than two grades: the
    k-NN monitor (which needs two) turned itself off without a word; one line now says so."""
    from fake_ingest import SOURCE_SIZE, make_fake_ingest  # tests/helpers (pytest's pythonpath)

    data_dir = make_fake_ingest(tmp_path / "in", n_train=n_train, n_test=8)
    cfg = tiny_config(**{"pretrain.epochs": "1", "pretrain.knn_every": "1",
                         "pretrain.augment.source_size": str(SOURCE_SIZE)})
    data = pretrain.load_pretrain_data(cfg, data_dir)
    assert data.knn_train is None and data.knn_off.startswith(why), data.knn_off
    pretrain.run(cfg, tmp_path / "run", data=data)
    out = capsys.readouterr().out
    assert f"[pretrain] k-NN monitor off (pretrain.knn_every=1): {why}" in out, out
    # not asked for: nothing said
    quiet = pretrain.load_pretrain_data(tiny_config(**{"pretrain.augment.source_size": str(SOURCE_SIZE)}),
                                        data_dir)
    assert quiet.knn_off == ""


def test_an_ingested_folder_records_the_knn_monitors_test_count_for_its_noise_band(tmp_path: Path) -> None:
    """Review F1: a run on an ingested folder recorded no ``splits`` and, at the default
    pretrain.knn_limit=0, no ``knn_monitor``, so the report read a 0.8-point drop on fold 0's few
    images as "worse" without a noise band; the k-NN monitor's counts (fold 0's graded images
    against the other folds') are now ``knn_monitor`` of metadata.json at every knn_limit, not
    ``splits.test`` (which reads as the challenge's test split), and nothing when it is off."""
    from fake_ingest import SOURCE_SIZE, make_fake_ingest  # tests/helpers (pytest's pythonpath)

    data_dir = make_fake_ingest(tmp_path / "in", n_train=15, n_test=4)
    common = {"pretrain.epochs": "1", "pretrain.knn_every": "1", "pretrain.knn_k": "3",
              "pretrain.augment.source_size": str(SOURCE_SIZE)}
    data = pretrain.load_pretrain_data(tiny_config(**common), data_dir)
    assert data.knn_test is not None and data.knn_train is not None and 0 < len(data.knn_test[0]) < 15
    assert data.knn_test_fold == 0 and data.splits is None, (data.knn_test_fold, data.splits)
    n_test, n_train = len(data.knn_test[0]), len(data.knn_train[0])
    meta = json.loads(pretrain.run(tiny_config(**common), tmp_path / "run", data=data).metadata_path.read_text())
    assert meta["knn_monitor"] == {"test_fold": 0, "train_images": n_train, "test_images": n_test}, meta
    assert "splits" not in meta, meta["splits"]
    # pretrain.knn_limit keeps its record, with the fold beside it
    cut = pretrain.run(tiny_config(**common, **{"pretrain.knn_limit": "2"}), tmp_path / "cut", data=data)
    assert json.loads(cut.metadata_path.read_text())["knn_monitor"] == {
        "test_fold": 0, "train_images": 2, "test_images": 2, "knn_limit": 2, "of_train": n_train,
        "of_test": n_test}
    off = pretrain.load_pretrain_data(tiny_config(**{"pretrain.augment.source_size": str(SOURCE_SIZE)}), data_dir)
    assert off.knn_test is None and off.knn_test_fold is None and off.splits is None


def _task(keys: tuple[str, ...] | None = None, loss_name: str | None = None) -> pretrain._VICRegTraining:
    """The pretraining task without a model (describe / non_finite read only settings)."""
    named = {"keys": keys} if keys is not None else {}
    named.update({"loss_name": loss_name} if loss_name is not None else {})
    return pretrain._VICRegTraining(tiny_config(), None, None, None, None,  # type: ignore[arg-type]
                                    torch.device("cpu"), False, False, DistInfo(), **named)


def test_console_line_and_non_finite_error_read_the_term_names_from_the_task(tmp_path: Path) -> None:
    # VICReg's line as it was written before the names came from TERMS, character for character
    row = {"epoch": 0, "loss": 21.5, "invariance": 0.25, "variance": 0.5, "covariance": 3.125,
           "rate_reduction": 1.234, "pairs_per_second": 41.6, "knn_top1": 55.5,
           "rate_reduction_last": 2.5, "rate_reduction_early": 1.5}
    # (the first epoch's line is followed by the glossary's address: test_pretrain_console_glossary)
    assert _task().describe(row).splitlines()[0] == ("[pretrain] epoch 1/2 loss 21.5000 (inv 0.2500 var 0.5000 cov 3.1250) "
                                     "rate-reduction 1.23, k-NN 55.50%, monitor dR last 2.50 early 1.50 "
                                     "42 pairs/s")
    # another objective's terms (SimCLR-like): no KeyError on VICReg's names, its own printed
    other = _task(("loss", "positive_cosine", "rate_reduction"), "NT-Xent")
    row = {"epoch": 1, "loss": 4.5, "positive_cosine": 0.75, "rate_reduction": 0.5, "pairs_per_second": 10.0}
    assert other.describe(row) == ("[pretrain] epoch 2/2 loss 4.5000 (positive_cosine 0.7500) "
                                   "rate-reduction 0.50 10 pairs/s")
    error = str(other.non_finite(1, {"loss": float("nan"), "positive_cosine": 0.75, "rate_reduction": 0.5},
                                 ["loss"], tmp_path / "last.pt"))
    assert "the NT-Xent loss became non-finite" in error and "VICReg" not in error.split("\n")[0]
    assert "loss=nan, positive_cosine=0.75, rate_reduction=0.5;" in error
    # a loss with no terms besides itself: no empty brackets
    alone = _task(("loss", "rate_reduction"))
    assert "loss 4.5000 rate-reduction 0.50" in alone.describe(row)


def test_the_task_and_the_metadata_take_another_loss_s_terms_without_patching() -> None:
    """A second loss passes its term keys and name to the task, and the metadata records the
    task's terms (docs/design.md, "Adding a self-supervised method", step 3)."""
    from drac_ssl.pretrain import LOSS_NAME, TERMS, backbone_metadata

    assert (_task().keys, _task().loss_name) == (TERMS, LOSS_NAME)
    assert LOSS_NAME == drac_ssl.PRETRAIN_METHOD == "VICReg"
    other = _task(("loss", "positive_cosine", "rate_reduction"), "NT-Xent")
    assert (other.keys, other.loss_name) == (("loss", "positive_cosine", "rate_reduction"), "NT-Xent")
    assert _task().keys == TERMS  # the other task's keys are its own, not the class's
    best = {"epoch": 0, "loss": 4.5, "positive_cosine": 0.75, "invariance": 9.0, "rate_reduction": 0.5}
    metrics = backbone_metadata(tiny_config(), tiny_data(), [best], 0, terms=other.keys)["metrics"]
    assert metrics == {"loss": 4.5, "positive_cosine": 0.75, "rate_reduction": 0.5}
    assert "positive_cosine" not in backbone_metadata(tiny_config(), tiny_data(), [best], 0)["metrics"]


def test_loss_plot_draws_the_given_terms(tmp_path: Path, monkeypatch) -> None:
    drawn: list[tuple[list[str], str]] = []
    monkeypatch.setattr("drac_ssl.plots.plot_history",
                        lambda history, keys, path, title, **kwargs: drawn.append((list(keys), title)))
    history = [{"epoch": 0, "loss": 1.0, "positive_cosine": 0.5, "rate_reduction": 0.1}]
    pretrain._plot_history(tmp_path, history)
    pretrain._plot_history(tmp_path, history, terms=("loss", "positive_cosine", "rate_reduction"),
                           loss_name="NT-Xent")
    assert drawn[0] == (["loss", "invariance", "variance", "covariance"], "VICReg loss terms per epoch")
    assert drawn[2] == (["loss", "positive_cosine"], "NT-Xent loss terms per epoch")


def test_a_resume_begun_before_pool_copies_of_test_images_were_left_out_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F2 of the pool: a last.pt of the code that pretrained on the pool's pixel-copies of
    test images, resumed by the code that leaves them out, got another pool without a word."""
    task = object.__new__(pretrain._VICRegTraining)  # check_resume alone, no model
    task.cfg, task.ckpt_dir = tiny_config(), tmp_path / "pretrain" / "checkpoints"
    task.pc, task.data = task.cfg.pretrain, dataclasses.replace(tiny_data(), pool_test_copies=2)
    task.model, task.knn_start = torch.nn.Linear(1, 1), None
    task.optimizer = torch.optim.SGD(task.model.parameters(), lr=0.1)
    state = {"config": to_dict(task.cfg), **task.state_dict()}  # as last.pt holds it
    assert state["pool_test_copies"] == 2  # this version records the copies it left out
    said = "was begun by an older version that pretrained on 2 ungraded images with a test image's bytes"
    capsys.readouterr()
    task.check_resume(state)  # a last.pt of this version: its pool was recorded
    assert said not in capsys.readouterr().out
    del state["pool_test_copies"]  # as the code before the change wrote it
    task.check_resume(state)
    out = capsys.readouterr().out
    assert said in out and "does not replay the interrupted run exactly" in out, out
