"""Evaluation protocols of methods.md section 3 on frozen backbone features.

* k-NN: ``drac_ssl.metrics.knn_accuracy`` (cosine similarity, k = 20 and 200, weights
  exp(sim / 0.07)).
* Linear probe: a linear layer on frozen, pre-expander backbone features, SGD momentum 0.9,
  cosine schedule, 100 epochs, weight decay 1e-6. The features are extracted once from the
  centre (un-augmented) images, so the probe trains in seconds; this is the common cheap
  variant of the protocol (no augmentation while the probe trains) and is stated as such in
  every result file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


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
