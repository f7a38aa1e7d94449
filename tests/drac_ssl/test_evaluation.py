"""Evaluation protocols: low-label fine-tuning loop and the stratified draw (CPU, seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from drac_ssl.augment import prepare_images
from drac_ssl.datasets import normalization_for
from drac_ssl.evaluation import finetune_classifier, stratified_split


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread is fastest (and immune to a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(n: int, seed: int, dim: int = 8, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Well separated Gaussian blobs: class k centred at 4 * e_k."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, dim, generator=g) * 0.7
    x[torch.arange(n), y] += 4.0
    return x, y


def small_backbone() -> nn.Module:
    torch.manual_seed(123)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU())


def test_finetune_classifier_learns_a_separable_problem() -> None:
    xtr, ytr = blobs(240, 0)
    xva, yva = blobs(60, 1)
    xte, yte = blobs(300, 2)
    backbone = small_backbone()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    res = finetune_classifier(backbone, xtr, ytr, xva, yva, xte, yte, lr=5e-3, batch_size=32,
                              max_epochs=15, patience=5, seed=0)
    assert res.test_top1 > 90.0  # chance is 33 %
    assert res.val_top1 == max(h["val_top1"] for h in res.history)
    assert 0 <= res.best_epoch < res.epochs_run <= 15
    # the caller's backbone is not trained in place
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    # same seed, same result
    again = finetune_classifier(backbone, xtr, ytr, xva, yva, xte, yte, lr=5e-3, batch_size=32,
                                max_epochs=15, patience=5, seed=0)
    assert again.test_top1 == res.test_top1 and again.best_epoch == res.best_epoch


def test_finetune_classifier_early_stopping_keeps_the_best_epoch() -> None:
    # Validation labels are permuted, so the better the model fits the training labels the
    # worse it scores on validation: the best validation epoch comes early, training stops
    # `patience` epochs later and the kept weights are those of the best epoch, not the last.
    xtr, ytr = blobs(240, 0)
    xva, yva = blobs(60, 1)
    wrong = (yva + 1) % 3
    patience = 3
    res = finetune_classifier(nn.Identity(), xtr, ytr, xva, wrong, xva, yva, lr=5e-2, batch_size=32,
                              max_epochs=50, patience=patience, seed=0)
    keys = [(h["val_top1"], -h["val_loss"]) for h in res.history]
    best = max(range(len(keys)), key=lambda i: keys[i])
    assert res.best_epoch == best
    assert res.epochs_run == best + 1 + patience < 50  # stopped early
    assert res.val_top1 == pytest.approx(res.history[best]["val_top1"])
    assert res.history[-1]["val_loss"] > res.history[best]["val_loss"]
    # re-score the returned model: it carries the best epoch's weights
    assert res.model is not None
    res.model.eval()
    with torch.no_grad():
        val_acc = (res.model(xva).argmax(1) == wrong).float().mean().item() * 100
    assert val_acc == pytest.approx(res.history[best]["val_top1"])
    # min_steps holds early stopping off: 240 images at batch 32 are 8 steps per epoch
    held = finetune_classifier(nn.Identity(), xtr, ytr, xva, wrong, xva, yva, lr=5e-2, batch_size=32,
                               max_epochs=50, patience=patience, seed=0, min_steps=8 * 20)
    assert held.epochs_run == 20 > res.epochs_run
    assert held.best_epoch == res.best_epoch


def test_finetune_classifier_trains_a_resnet_on_images() -> None:
    from drac_ssl.models import Backbone

    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, size=(16, 8, 8), dtype=np.uint8)
    labels = np.arange(16) % 2
    images[labels == 1, 2:6, 2:6] = 255  # class 1: a bright square
    mean, std = normalization_for("mnist")
    x = prepare_images(images, mean, std, 8, "cpu")
    assert x.shape == (16, 1, 8, 8)
    y = torch.as_tensor(labels)
    torch.manual_seed(0)
    res = finetune_classifier(Backbone("resnet18", in_channels=1, cifar_stem=True), x[:12], y[:12],
                              x[12:], y[12:], x[12:], y[12:], lr=1e-3, batch_size=6, max_epochs=2,
                              patience=2, seed=0)
    assert res.epochs_run <= 2 and len(res.history) == res.epochs_run
    assert np.isfinite(res.history[0]["train_loss"])


def test_stratified_split_keeps_class_proportions() -> None:
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    chosen, rest = stratified_split(labels, 100, np.random.default_rng(0))
    assert len(chosen) == 100 and len(set(chosen)) == 100
    assert np.bincount(labels[chosen]).tolist() == [10, 20, 30, 40]
    assert len(np.intersect1d(chosen, rest)) == 0 and len(chosen) + len(rest) == len(labels)
    again, _ = stratified_split(labels, 100, np.random.default_rng(0))
    assert np.array_equal(chosen, again)
    other, _ = stratified_split(labels, 100, np.random.default_rng(1))
    assert not np.array_equal(chosen, other)
    odd, _ = stratified_split(labels, 7, np.random.default_rng(0))
    assert len(odd) == 7
    with pytest.raises(ValueError):
        stratified_split(labels, 0, np.random.default_rng(0))


def test_embed_images_and_knn_monitor_from_device_resident_images(capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The k-NN monitor keeps the uint8 images on the device; its features and score must be
    # those of the host-array path.
    from drac_ssl.augment import to_device_uint8
    from drac_ssl.evaluation import KnnMonitor, embed_images
    from drac_ssl.metrics import knn_accuracy
    from drac_ssl.models import Backbone

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(12) % 3
    torch.manual_seed(0)
    backbone = Backbone("resnet18", in_channels=3, cifar_stem=True)
    backbone.train()
    cpu = torch.device("cpu")
    host = embed_images(backbone, images, "cifar", 16, cpu, batch_size=5)
    resident = embed_images(backbone, to_device_uint8(images, cpu), "cifar", 16, cpu, batch_size=5)
    assert backbone.training  # restored
    assert host.shape == (12, 512)
    torch.testing.assert_close(host, resident)
    monitor = KnnMonitor((images[:8], labels[:8]), (images[8:], labels[8:]), "cifar", 16, cpu, k=3)
    assert monitor.train_x.shape == (8, 3, 16, 16) and monitor.train_x.dtype == torch.uint8
    expected = 100 * knn_accuracy(host[:8], torch.as_tensor(labels[:8]), host[8:], torch.as_tensor(labels[8:]), k=3)
    capsys.readouterr()
    assert monitor(backbone) == pytest.approx(expected)
    # redirected to a log file, no bar: its carriage returns would glue it to the epoch lines
    assert "k-NN monitor" not in capsys.readouterr().err
    import sys
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert monitor(backbone) == pytest.approx(expected)
    shown = capsys.readouterr().err  # minutes on a CPU for 20k images: on a terminal, a bar
    assert "k-NN monitor: 8 training images" in shown and "k-NN monitor: 4 test images" in shown
    with pytest.raises(ValueError, match="uint8"):
        embed_images(backbone, torch.zeros(2, 3, 16, 16), "cifar", 16, cpu)


def test_the_knn_monitor_says_its_progress_in_a_log_file(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A carried review item: an MNIST run's k-NN monitor sat silent for minutes in a log
    file (its bar is for terminals only); off a terminal it says a plain line at most once a
    minute, as the engine's epochs, the ingest and the export do."""
    import sys

    from step_clock import StepClock

    from drac_ssl import console
    from drac_ssl.evaluation import KnnMonitor
    from drac_ssl.models import Backbone

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(12) % 3
    torch.manual_seed(0)
    backbone = Backbone("resnet18", in_channels=3, cifar_stem=True)
    monitor = KnnMonitor((images[:8], labels[:8]), (images[8:], labels[8:]), "cifar", 16,
                         torch.device("cpu"), k=3, batch_size=2)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(console, "progress_clock", StepClock(70.0))  # a line due at every batch
    capsys.readouterr()
    monitor(backbone)
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[k-NN monitor")]
    assert said[0].startswith("[k-NN monitor: 8 training images] 2 of 8 images ("), said
    assert "[k-NN monitor: 4 test images] 4 of 4 images (" in said[-1], said
    monkeypatch.setattr(console, "progress_clock", StepClock(0.001))  # fast: no line
    monitor(backbone)
    assert "[k-NN monitor" not in capsys.readouterr().err


def test_low_label_finetune_lr_decays_every_decay_every_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step decay: lr * decay_rate ** (step // decay_every) at each optimiser step (mutation L01:
    the lr never decayed)."""
    seen: list[float] = []
    real = torch.optim.Adam.step

    def spy(self: torch.optim.Adam, *args: object, **kwargs: object) -> object:
        seen.append(self.param_groups[0]["lr"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=g)
    y = torch.arange(16) % 2
    finetune_classifier(nn.Identity(), x, y, x, y, x, y, lr=1.0, batch_size=8, max_epochs=2, patience=5,
                        decay_every=1, decay_rate=0.5)
    assert seen == pytest.approx([1.0, 0.5, 0.25, 0.125])
    # a staircase (methods.md's low-label protocol, "step 50, rate 0.95"): with decay_every 2 the
    # four steps run at lr, lr, 0.95 lr, 0.95 lr (mutant step / decay_every: 0.95 ** 0.5 at
    # step 1), and the history logs each epoch's last step's lr (the same mutant there: 0.95 ** 0.5)
    seen.clear()
    result = finetune_classifier(nn.Identity(), x, y, x, y, x, y, lr=1.0, batch_size=8, max_epochs=2,
                                 patience=5, decay_every=2, decay_rate=0.95)
    assert seen == [1.0, 1.0, 0.95, 0.95]
    assert [h["lr"] for h in result.history] == [1.0, 0.95]
