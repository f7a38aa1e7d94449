"""Evaluation protocols of methods.md section 3 on frozen backbone features.

* Features: :func:`embed_images` (deterministic resize + normalise, eval mode, optional
  bf16 autocast and channels-last), from host arrays or from uint8 images already on the
  device.
* k-NN: ``drac_ssl.metrics.knn_accuracy`` (cosine similarity, weights exp(sim / 0.07));
  :class:`KnnMonitor` runs it every few epochs of pretraining on images held on the device,
  with k = ``pretrain.knn_k`` (20); the benches (``bench/cifar10_vicreg.py``) also report
  k = 200, methods.md's second value.
* Linear probe: a linear layer on frozen, pre-expander backbone features, SGD momentum 0.9,
  cosine schedule, 100 epochs, weight decay 1e-6, on features standardised with the
  training split's mean and standard deviation (:func:`standardize`; methods.md names no
  scaling). The features are extracted once from the
  centre (un-augmented) images, so the probe trains in seconds; this is the common cheap
  variant of the protocol (no augmentation while the probe trains) and is stated as such in
  every result file.
* Low-label fine-tuning (layer-wise VICReg paper): :func:`finetune_classifier` trains a
  backbone + linear head end to end with Adam, staircase exponential decay (the paper's
  "step 50" read as every 50 optimiser steps, ``decay_every``, not epochs) and early
  stopping on a validation split (:func:`stratified_split`), keeping the best epoch; on
  precomputed features with ``nn.Identity()`` as the backbone it is the paper's linear
  probe. :func:`drac_ssl.augment.prepare_images` gives the normalised inputs (the preprocessing of
  ``pretrain.embed_images``).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from drac_ssl.augment import prepare_images, stats_for, to_device_uint8
from drac_ssl.console import ProgressLines, progress_bar
from drac_ssl.datasets import normalization_for
from drac_ssl.metrics import knn_accuracy


@torch.no_grad()
def embed_images(
    backbone: nn.Module,
    images: np.ndarray | torch.Tensor,
    recipe: str,
    image_size: int,
    device: torch.device,
    batch_size: int = 512,
    autocast: bool = False,
    channels_last: bool = False,
    progress: str | None = None,
) -> torch.Tensor:
    """Backbone features ``(N, D)`` float32 on ``device`` of uint8 images.

    ``progress``: a label for a progress bar over the batches on a terminal (cleared when
    done), and off one (a log file, ``nohup``) a plain line on stderr at most once a minute
    (:class:`drac_ssl.console.ProgressLines`: ``[k-NN monitor: 50000 training images] 12,000
    of 50,000 images (210 img/s, about 3 min left)``); None: neither. A k-NN monitor over 20k
    images takes minutes on a CPU.

    ``images``: a host array ``(N,H,W)`` / ``(N,H,W,3)`` or a uint8 tensor ``(N,C,H,W)``
    (:func:`~drac_ssl.augment.to_device_uint8`; on the device nothing is copied from the
    host). Deterministic preprocessing (:func:`~drac_ssl.augment.prepare_images`: resize to
    ``image_size``, normalise with the ``recipe``'s statistics for the images' channels:
    :func:`~drac_ssl.augment.stats_for`); the backbone runs in eval
    mode (BatchNorm running statistics) and its mode is restored afterwards. ``autocast``:
    bf16 forward passes (CUDA); ``channels_last``: NHWC inputs (what the training step uses
    on CUDA). No value is read back to the host.
    """
    if isinstance(images, torch.Tensor):
        channels = int(images.shape[1])
    else:
        channels = 1 if images.ndim == 3 else int(images.shape[-1])
    mean, std = (stats_for(v, channels) for v in normalization_for(recipe))
    was_training = backbone.training
    backbone.eval()
    feats = []
    starts = range(0, len(images), batch_size)
    lines = ProgressLines(sys.stderr, progress or "", enabled=bool(progress))  # off a terminal
    # a bar only on a terminal, not in a log file; off one no tqdm at all (console.progress_bar)
    bar = progress_bar(len(starts), progress or "", "batch", enabled=bool(progress), leave=False, mininterval=2.0)
    try:
        with bar:
            for start in starts:
                x = prepare_images(images[start : start + batch_size], mean, std, image_size, device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                    feats.append(backbone(x).float())
                bar.update(1)
                lines.count(min(start + batch_size, len(images)), len(images))
    finally:
        backbone.train(was_training)
    return torch.cat(feats)


class KnnMonitor:
    """k-NN top-1 (%) of a backbone on fixed labelled splits, the images held on the device.

    Built once per pretraining run: the uint8 train/test images (``(N,H,W[,C])`` arrays and
    int labels) go to ``device`` once (CIFAR-10: 180 MB), so the monitor that runs every few
    epochs copies nothing from the host. Each call embeds both splits with
    :func:`embed_images` and scores :func:`~drac_ssl.metrics.knn_accuracy` (cosine, ``k``
    neighbours weighted by exp(sim / 0.07), methods.md section 3); the one value read back
    to the host is the accuracy, nan when the features are not finite (NaN or inf).
    """

    def __init__(
        self,
        train: tuple[np.ndarray, np.ndarray],
        test: tuple[np.ndarray, np.ndarray],
        recipe: str,
        image_size: int,
        device: torch.device,
        k: int = 20,
        batch_size: int = 512,
    ) -> None:
        self.recipe, self.image_size, self.device, self.k = recipe, image_size, device, k
        self.batch_size = batch_size
        self.train_x = to_device_uint8(np.asarray(train[0]), device)
        self.test_x = to_device_uint8(np.asarray(test[0]), device)
        self.train_y = torch.as_tensor(np.asarray(train[1]), device=device).long()
        self.test_y = torch.as_tensor(np.asarray(test[1]), device=device).long()

    def features(self, backbone: nn.Module, autocast: bool = False,
                 channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of the train and test images, ``(N_train, D)`` and ``(N_test, D)``."""
        kw = dict(batch_size=self.batch_size, autocast=autocast, channels_last=channels_last)
        return (embed_images(backbone, self.train_x, self.recipe, self.image_size, self.device,
                             progress=f"k-NN monitor: {len(self.train_x)} training images", **kw),
                embed_images(backbone, self.test_x, self.recipe, self.image_size, self.device,
                             progress=f"k-NN monitor: {len(self.test_x)} test images", **kw))

    def __call__(self, backbone: nn.Module, autocast: bool = False, channels_last: bool = False) -> float:
        ftrain, ftest = self.features(backbone, autocast, channels_last)
        return 100.0 * float(knn_accuracy(ftrain, self.train_y, ftest, self.test_y, k=self.k))


@dataclass
class LinearProbeResult:
    top1: float  # percent on the test features
    train_top1: float
    lr: float
    epochs: int


def standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Z-score both with the training features' statistics (shapes (N, D), (M, D))."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def refuse_non_finite_features(what: str, *feats: torch.Tensor) -> None:
    """Raise ValueError when any of ``feats`` (feature tensors ``(n, d)``, any device) holds a
    NaN or inf, naming ``what`` (the backbone's file, say) and the fix. Their k-NN accuracy is
    nan (:func:`drac_ssl.metrics.knn_accuracy`) and a linear probe on them scores a believable
    figure (all rows one class: 50.0 on two balanced classes), so a bench refuses them before
    either is reported."""
    for f in feats:
        if not bool(torch.isfinite(f).all()):
            n = sum(int(t.shape[0]) for t in feats)
            raise ValueError(f"{what}: its features of the {n} images hold NaN or inf, so neither the k-NN "
                             f"nor the linear probe can score them: the backbone diverged, or its eval-mode "
                             f"batch-norm statistics overflowed; check its pretraining's console.log (k-NN "
                             f"'not scored') and rerun it")


def linear_probe(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    epochs: int = 100,
    lr: float = 0.1,
    batch_size: int = 256,
    weight_decay: float = 1e-6,
    seed: int = 0,
) -> LinearProbeResult:
    """Train a linear classifier on frozen features (N, D) -> labels (N,); report top-1 in %.

    SGD with momentum 0.9 and a cosine learning-rate schedule over ``epochs`` (methods.md
    section 3). Features are standardised with the training statistics first.
    """
    if train_feats.ndim != 2 or test_feats.ndim != 2:
        raise ValueError("linear_probe expects 2-D feature matrices (N, D)")
    device = train_feats.device
    xtr, xte = standardize(train_feats.float(), test_feats.float())
    ytr, yte = train_labels.long().to(device), test_labels.long().to(device)
    n_classes = int(max(ytr.max().item(), yte.max().item())) + 1
    g = torch.Generator(device="cpu").manual_seed(seed)
    head = nn.Linear(xtr.shape[1], n_classes).to(device)
    with torch.no_grad():
        head.weight.normal_(0, 0.01)
        head.bias.zero_()
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(xtr) / batch_size)
    total = epochs * steps_per_epoch
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=g).to(device)
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(head(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    with torch.no_grad():
        test_top1 = (head(xte).argmax(1) == yte).float().mean().item() * 100
        train_top1 = (head(xtr).argmax(1) == ytr).float().mean().item() * 100
    return LinearProbeResult(top1=test_top1, train_top1=train_top1, lr=lr, epochs=epochs)


# --------------------------------------------------------------------------------------
# Low-label fine-tuning (methods.md section 3, layer-wise VICReg paper protocol)


@dataclass
class FinetuneClassifierResult:
    """What :func:`finetune_classifier` returns (accuracies in percent)."""

    test_top1: float  # the kept (best-validation) weights on the test set
    val_top1: float  # the kept weights on the validation set
    best_epoch: int  # 0-based epoch whose weights were kept
    epochs_run: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False)  # backbone + head, best weights


def stratified_split(
    labels: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` indices of ``labels`` (N,) class-stratified; return ``(chosen, rest)``.

    Each class gets ``n * count_c / N`` rounded down, the remaining slots going to the
    largest fractional parts (ties to the lower class), so class proportions match the
    pool's as closely as integers allow. ``chosen`` and ``rest`` are sorted index arrays.
    """
    labels = np.asarray(labels)
    if not 0 < n <= len(labels):
        raise ValueError(f"cannot draw {n} of {len(labels)} samples")
    classes, counts = np.unique(labels, return_counts=True)
    quota = n * counts / len(labels)
    take = np.floor(quota).astype(int)
    short = n - int(take.sum())
    if short:
        order = np.argsort(-(quota - take), kind="stable")
        take[order[:short]] += 1
    chosen = []
    for c, k in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=int(k), replace=False))
    picked = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)
    rest = np.setdiff1d(np.arange(len(labels)), picked)
    return picked, rest


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, autocast: bool,
              batch_size: int = 1024) -> tuple[float, float]:
    """(top-1 in %, mean cross-entropy) of ``model`` in eval mode."""
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        with torch.autocast(device_type=xb.device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(xb)
        logits = logits.float()
        correct += int((logits.argmax(1) == yb).sum().item())
        loss += float(F.cross_entropy(logits, yb, reduction="sum").item())
    n = max(len(x), 1)
    return 100.0 * correct / n, loss / n


def finetune_classifier(
    backbone: nn.Module,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    num_classes: int | None = None,
    lr: float = 5e-4,
    batch_size: int = 128,
    max_epochs: int = 100,
    patience: int = 5,
    decay_every: int = 50,
    decay_rate: float = 0.95,
    seed: int = 0,
    device: torch.device | str | None = None,
    autocast: bool = False,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    min_steps: int = 0,
) -> FinetuneClassifierResult:
    """Train ``backbone`` + a new linear head end to end; keep the best-validation epoch.

    The protocol of the layer-wise VICReg paper (methods.md section 3, low-label
    fine-tuning): Adam at ``lr``, mini-batches of ``batch_size`` drawn without replacement
    each epoch, the learning rate multiplied by ``decay_rate`` every ``decay_every``
    optimiser steps (staircase exponential decay), no weight decay. After every epoch the
    model is scored on the validation set (eval mode); an epoch improves on the best when
    its validation accuracy is higher, or equal with a lower validation loss. Training
    stops after ``patience`` epochs without improvement (or ``max_epochs``), but not before
    ``min_steps`` optimiser steps (with 450 training images an epoch is 4 steps, and a
    randomly initialised ResNet's BatchNorm statistics are not settled after 5 of them), and
    the weights of the best epoch are restored and scored on the test set.

    ``backbone`` maps a batch of ``train_x`` rows to features ``(B, D)``: a ResNet
    :class:`~drac_ssl.models.Backbone` on normalised images (fine-tuning, every layer
    trained) or ``nn.Identity()`` on precomputed features (a linear probe). It is deep-copied,
    so the caller's module is left untouched. ``train_x``/``val_x``/``test_x`` are float
    tensors (images from :func:`drac_ssl.augment.prepare_images`, or features) and ``*_y`` int class labels;
    they are moved to ``device`` (default: ``train_x``'s). ``seed`` fixes the head's
    initialisation and the batch order (a from-scratch backbone must be seeded by the
    caller). ``autocast`` runs forward passes in bf16 (CUDA); the loss is float32.
    ``augment`` (optional) maps a training batch to an augmented one.
    """
    t0 = time.perf_counter()
    if len(train_x) == 0 or len(val_x) == 0:
        raise ValueError("finetune_classifier needs non-empty training and validation sets")
    if max_epochs < 1 or patience < 1:
        raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs} and {patience}")
    device = torch.device(device) if device is not None else train_x.device
    xtr, xva, xte = (t.to(device) for t in (train_x, val_x, test_x))
    ytr, yva, yte = (t.long().to(device) for t in (train_y, val_y, test_y))
    if num_classes is None:
        num_classes = int(max(ytr.max().item(), yva.max().item(), yte.max().item() if len(yte) else 0)) + 1
    body = copy.deepcopy(backbone).to(device)
    body.eval()
    with torch.no_grad():
        feature_dim = int(body(xtr[:2]).shape[1])
    with torch.random.fork_rng(devices=[]):  # seeded head, global RNG left as it was
        torch.manual_seed(seed)
        head = nn.Linear(feature_dim, num_classes)
    model = nn.Sequential(body, head).to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    g = torch.Generator(device="cpu").manual_seed(seed)

    history: list[dict[str, float]] = []
    best_key: tuple[float, float] = (-math.inf, -math.inf)
    best_epoch, best_state, bad, step = -1, None, 0, 0
    for epoch in range(max_epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g).to(device)
        loss_sum = torch.zeros((), device=device)
        seen = 0
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            if len(idx) < 2 and seen:  # a lone leftover sample: BatchNorm cannot train on it
                continue
            xb = xtr[idx]
            if augment is not None:
                xb = augment(xb)
            for group in opt.param_groups:
                group["lr"] = lr * decay_rate ** (step // decay_every)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            seen += len(idx)
            step += 1
        val_top1, val_loss = _evaluate(model, xva, yva, autocast)
        history.append({"epoch": epoch, "train_loss": float(loss_sum.item()) / max(seen, 1),
                        "val_top1": val_top1, "val_loss": val_loss,
                        "lr": lr * decay_rate ** (max(step - 1, 0) // decay_every)})
        key = (val_top1, -val_loss)
        if key > best_key:
            best_key, best_epoch, bad = key, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience and step >= min_steps:
                break
    assert best_state is not None
    model.load_state_dict(best_state)
    val_top1, _ = _evaluate(model, xva, yva, autocast)
    test_top1, _ = _evaluate(model, xte, yte, autocast) if len(xte) else (math.nan, math.nan)
    return FinetuneClassifierResult(
        test_top1=test_top1, val_top1=val_top1, best_epoch=best_epoch, epochs_run=len(history),
        seconds=time.perf_counter() - t0, history=history, model=model,
    )
