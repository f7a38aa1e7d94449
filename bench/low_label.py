"""Low-label fine-tuning run (issue #7; methods.md section 3).

MNIST: pretrain VICReg on the 10k unlabelled training images (all that ../shared holds);
Fashion-MNIST: on the 60k unlabelled training images. Both with the package's own stage
(``drac_ssl.pretrain.run``) and ``configs/<dataset>.yaml``, or reuse a backbone with
``--backbone PATH``. Then, for each label count (500 / 1000 / 2500 / 5000) and seed, a
class-stratified labelled subset of the training split is drawn with that seed, 10 % of it
(stratified) held out for early stopping, and four classifiers are scored on the full
official 10k test set:

* fine-tune: the pretrained ResNet + a linear head, every layer trained;
* scratch: the same architecture from random init, the same protocol and budget;
* linear: a linear layer on frozen pre-expander features (standardised);
* random_linear: the same linear probe on the frozen features of a randomly initialised,
  never trained backbone of the same architecture (:func:`random_backbone`, seeded by
  ``run.seed``: the weights the pretraining started from; with ``--backbone``, the run.seed
  its ``metadata.json`` records, :func:`random_linear_seed`), the baseline that shows what
  pretraining added to the linear probe.

Protocol of the layer-wise VICReg paper (:data:`PAPER_SOURCE`): Adam lr 5e-4 (linear 5e-3), batch 128, learning
rate x0.95 every 50 steps, early stopping on validation accuracy with patience 5 (linear
10), best epoch kept. No augmentation while fine-tuning. Writes
``bench/results/low_label_<dataset>.json`` after every seed, so a run cut short keeps what
it finished.

    python -m bench.low_label --dataset mnist [--data DIR] [--epochs 50] [overrides ...]

Any departure from the full protocol (fewer pretraining epochs than the config's, a
``--backbone`` whose ``metadata.json`` does not show the full pretraining on the data set,
or, for ``random_linear``, not the run.seed it started from, or a warm start, a subset of ``--labels``, ``--seeds`` or ``--methods``, ``--eval-limit``, ``--max-epochs``
below 100, ``pretrain.max_steps_per_epoch``) is a smoke run: the default result name is
``low_label_<dataset>_smoke``, so it never replaces the committed figures, the record says
``"smoke": true``, why (``smoke_reasons``) and ``"paper": {"reference": false}``, and the
console prints "smoke run: checks that the protocol runs, not accuracy" instead of the
paper's figures.

The paper's figures are of an MLP, not of this ResNet-18, so the record never calls them
comparable (``"paper": {"comparable": false, "same_architecture": false, "why_not_comparable":
...}``): a ResNet-18 trained from scratch already beats the paper's pretrained MLP, so
beating them checks nothing. A full MNIST run shows them beside its own as a reference
(``"reference": true``); what the run measures is its own gap, fine-tune minus scratch under
the same protocol, and the linear probe of the frozen pretrained features. The one file written
before this field (``bench/results/low_label_mnist.json``, 2026-11-22) said
``"comparable": true`` for such a reference; it now holds ``"reference": true, "comparable":
false`` as this script writes them, with a dated note of what the run wrote (commit acd5109;
``bench.summarize`` reads both forms). CPU smoke test (a few minutes on the 2-core CPU)::

    python -m bench.low_label --dataset mnist --epochs 1 --labels 500 --seeds 0 \\
        --eval-limit 500 --max-epochs 2 --run-dir /tmp/lowlabel_smoke/run \\
        --out-dir /tmp/lowlabel_smoke pretrain.max_steps_per_epoch=2 \\
        pretrain.batch_size=32 pretrain.knn_every=0
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.common import (
    RESULTS,
    backbone_departures,
    given_backbone_epochs,
    monitor_limit_overrides,
    shortened_settings,
    smoke_fields,
    smoke_result_name,
    weights_metadata,
    write_result,
)
from bench.common import data_root as common_data_root
from bench.pretraining import run_bench_main, run_pretraining
from drac_ssl import pretrain
from drac_ssl.augment import prepare_images
from drac_ssl.config import Config, configured_channels, load_config, to_dict
from drac_ssl.datasets import load_generic, normalization_for
from drac_ssl.evaluation import (
    FinetuneClassifierResult,
    finetune_classifier,
    refuse_non_finite_features,
    stratified_split,
)
from drac_ssl.models import Backbone, build_backbone, load_local_weights
from drac_ssl.runtime import resolve_device
from drac_ssl.starting import python_command

PAPER_SOURCE = ('J. Datta, R. Rabbi, P. Saha, A. N. Zereen, M. Abdullah-Al-Wadud, J. Uddin, "Deep representation '
                'learning using layer-wise VICReg losses", Scientific Reports (Nature Portfolio), 2025, '
                'doi:10.1038/s41598-025-08504-2')
"""The layer-wise VICReg paper whose MNIST figures :data:`PAPER_MNIST` holds (docs/methods.md
section 3; the reference checked on 2026-12-06 against the publisher's page and a library record)."""

# Layer-wise VICReg paper (PAPER_SOURCE), MNIST, MLP: test accuracy (%) by number of labels.
# Another architecture than the ResNet-18 here: a reference, not a figure to reproduce.
PAPER_MNIST = {
    500: {"finetune": 85.13, "scratch": 77.78},
    1000: {"finetune": 88.66, "scratch": 81.33},
    2500: {"finetune": 91.69, "scratch": 88.52},
    5000: {"finetune": 94.23, "scratch": 93.68},
}
METHODS = ("finetune", "scratch", "linear", "random_linear")
PROBES = ("linear", "random_linear")
"""The methods that train a linear layer on frozen, standardised features (:func:`linear_probe`):
of the pretrained backbone, and of a randomly initialised one (:func:`random_backbone`)."""
# Early stopping starts only after this many optimiser steps, for every method alike: with 450
# training images an epoch is 4 steps, and on the first GPU run scratch at 500 labels stopped
# after 6 epochs (24 steps) with 19 % test accuracy, before its BatchNorm statistics settled.
MIN_STEPS = 300
HP: dict[str, dict[str, Any]] = {
    "finetune": {"lr": 5e-4, "patience": 5}, "scratch": {"lr": 5e-4, "patience": 5},
    "linear": {"lr": 5e-3, "patience": 10}, "random_linear": {"lr": 5e-3, "patience": 10}}
"""Each method's Adam learning rate and early-stopping patience (epochs); the rest of the
protocol is :data:`SCHEDULE` for all."""
SCHEDULE: dict[str, Any] = {"min_steps": MIN_STEPS, "batch_size": 128, "decay_every": 50, "decay_rate": 0.95}
"""Batch of 128, learning rate x0.95 every 50 optimiser steps (staircase), early stopping not
before :data:`MIN_STEPS` steps: the same for every method."""
DESCRIPTION = {
    "mnist": "MNIST: the first 10k training images (official order) unlabelled for pretraining "
             "and as the pool the labelled subsets are drawn from; official 10k test set",
    "fashion_mnist": "Fashion-MNIST: 60k training images unlabelled for pretraining and as the "
                     "pool the labelled subsets are drawn from; official 10k test set",
}


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "mean": round(statistics.fmean(values), 2) if values else None,
        "std": round(statistics.stdev(values), 2) if len(values) > 1 else None,
        "values": [round(v, 2) for v in values],
    }


SMOKE_LINE = "smoke run: checks that the protocol runs, not accuracy"


PAPER_NOT_COMPARABLE = (
    "the paper's figures are of an MLP; this run fine-tunes a ResNet-18 (another architecture, "
    "far stronger from scratch alone), so they are a reference, not a check: read the run's own "
    "fine-tune minus scratch gap and its linear probe")


def paper_reference(dataset: str, reasons: Sequence[str]) -> bool:
    """Whether the paper's figures are shown beside the run's as a reference: MNIST (the paper
    has no other figures) and the full protocol, no reason of :func:`smoke_reasons` (any one
    makes a smoke run). Never a comparison of like with like (:data:`PAPER_NOT_COMPARABLE`)."""
    return dataset == "mnist" and not reasons


def paper_record(reference: bool) -> dict[str, Any]:
    """The result file's ``paper`` entry: the paper's figures, whether they are shown as a
    reference (:func:`paper_reference`), and never ``comparable``: another architecture."""
    return {"source": f"layer-wise VICReg paper ({PAPER_SOURCE}), MNIST, MLP (methods.md section 3)",
            "figures": {str(k): v for k, v in PAPER_MNIST.items()},
            "reference": reference, "comparable": False, "same_architecture": False,
            "why_not_comparable": PAPER_NOT_COMPARABLE}


def random_backbone(cfg: Config, seed: int) -> Backbone:
    """A randomly initialised, never trained backbone of ``cfg``'s architecture
    (``pretrain.backbone``: arch, CIFAR stem, stem stride; :func:`configured_channels` input
    channels). ``pretrain.backbone.weights`` is not loaded.

    The weights are a pure function of ``seed`` (on one torch version): ``torch.manual_seed(seed)``
    then the :class:`~drac_ssl.models.Backbone` constructor, as ``pretrain.run`` builds its
    backbone right after ``seed_everything(run.seed)``, so ``random_backbone(cfg, cfg.run.seed)``
    holds the weights that the run's pretraining started from. BatchNorm keeps its initial
    running statistics (mean 0, variance 1), which eval-mode features use. The global torch RNG
    is left as it was."""
    bc = cfg.pretrain.backbone
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Backbone(bc.arch, in_channels=configured_channels(cfg), cifar_stem=bc.cifar_stem,
                        stem_stride=bc.stem_stride)


def random_linear_seed(run_seed: int, backbone: str | Path | None) -> tuple[int, str, list[str]]:
    """The seed of ``random_linear``'s random backbone (:func:`random_backbone`), in words where
    it comes from, and why it may not be the weights the evaluated backbone's pretraining
    started from (smoke reasons; empty: it is).

    Pretrained here (``backbone`` None): ``run_seed``, this run's ``run.seed``, the seed its
    pretraining used. A given ``--backbone``: the ``config.run.seed`` of the ``metadata.json``
    beside it (:func:`bench.common.weights_metadata`), since that pretraining may have used
    another seed than this config's; ``run_seed`` with a reason when none is readable, and a
    reason when the metadata shows a warm start (``initial_weights`` /
    ``config.pretrain.backbone.weights``): then no random initialisation is where it began."""
    if backbone is None:
        return run_seed, "run.seed of this run, whose pretraining started from it", []
    meta = weights_metadata(backbone)
    config = (meta or {}).get("config") or {}
    seed = (config.get("run") or {}).get("seed")
    reasons = []
    if isinstance(seed, int) and not isinstance(seed, bool):
        source = f"run.seed {seed} of the given backbone's pretraining (its metadata.json)"
    else:
        seed, source = run_seed, f"run.seed {run_seed} of this run's config (the given backbone's is unknown)"
        reasons.append(f"random_linear: the run.seed of --backbone {backbone}'s pretraining is unknown "
                       f"(no readable metadata.json with config.run.seed beside it), so its random "
                       f"backbone (run.seed {run_seed}) may not be the weights that pretraining started from")
    warm = (meta or {}).get("initial_weights") or (
        ((config.get("pretrain") or {}).get("backbone") or {}).get("weights"))
    if warm:
        reasons.append(f"random_linear: --backbone {backbone} was warm-started from {warm} "
                       f"(pretrain.backbone.weights), so no random initialisation is the weights its "
                       f"pretraining started from")
    return seed, source, reasons


def evenly_spaced(n: int, limit: int) -> slice:
    """Which of ``n`` test images a ``limit`` keeps: every ``n // limit``-th from the first
    (``--eval-limit``; 0 = all). MNIST's 10k with 2000: images 0, 5, 10, ..., 9995."""
    return slice(None, None, max(1, n // limit)) if limit else slice(None)


def labelled_subset(labels: np.ndarray, n_labels: int, val_fraction: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` index arrays into ``labels`` (N,): a class-stratified draw of
    ``n_labels`` with ``numpy.random.default_rng(seed)``, of which ``round(val_fraction *
    n_labels)`` (at least 1, stratified) are held out for early stopping. Raises ValueError
    when ``n_labels`` exceeds N (:func:`~drac_ssl.evaluation.stratified_split`)."""
    rng = np.random.default_rng(seed)
    subset, _ = stratified_split(labels, n_labels, rng)
    n_val = max(1, round(val_fraction * n_labels))
    val_pos, train_pos = stratified_split(labels[subset], n_val, rng)
    return subset[train_pos], subset[val_pos]


def linear_probe(train_feats: torch.Tensor, train_y: torch.Tensor, val_feats: torch.Tensor,
                 val_y: torch.Tensor, test_feats: torch.Tensor, test_y: torch.Tensor, *, seed: int,
                 max_epochs: int = 100, device: torch.device | None = None, autocast: bool = False,
                 num_classes: int = 10) -> tuple[FinetuneClassifierResult, np.ndarray]:
    """The low-label linear probe: a linear layer on frozen features ``(N, D)`` (from
    ``pretrain.embed_images``), each standardised with the training part's per-dimension mean
    and standard deviation (floored at 1e-6), trained with :data:`HP` ``["linear"]`` (Adam lr
    5e-3, patience 10) and :data:`SCHEDULE`; the best validation epoch is scored on
    ``test_feats``. ``seed`` fixes the head's initialisation and the batch order. The features
    of the pretrained and of a random backbone (``linear`` / ``random_linear``) go through the
    same call. Returns the result and the best epoch's predicted class of each test row
    (int64 ``(N_test,)`` on the host, for paired comparisons)."""
    # NaN features train a head that predicts one class: a believable chance-level figure
    refuse_non_finite_features("the probed backbone (pretrained or random)", train_feats, val_feats, test_feats)
    mu, sd = train_feats.mean(0, keepdim=True), train_feats.std(0, keepdim=True).clamp_min(1e-6)
    res = finetune_classifier(nn.Identity(), (train_feats - mu) / sd, train_y, (val_feats - mu) / sd, val_y,
                              (test_feats - mu) / sd, test_y, max_epochs=max_epochs, seed=seed, device=device,
                              autocast=autocast, num_classes=num_classes, **SCHEDULE, **HP["linear"])
    res.model.eval()
    with torch.no_grad():
        pred = res.model(((test_feats - mu) / sd).to(next(res.model.parameters()).device)).argmax(1)
    return res, pred.cpu().numpy().astype(np.int64)


DEFAULT_LABELS = (500, 1000, 2500, 5000)
DEFAULT_SEEDS = (0, 1, 2)


def smoke_reasons(*, eval_limit: int = 0, max_steps_per_epoch: int = 0, max_epochs: int = 100,
                  epochs: int, config_epochs: int, backbone: Sequence[str] | None = None,
                  labels: Sequence[int] = DEFAULT_LABELS, seeds: Sequence[int] = DEFAULT_SEEDS,
                  methods: Sequence[str] = METHODS, shortened: Sequence[str] = ()) -> list[str]:
    """Why a run is not the full protocol (empty: it is); any reason makes it a smoke run:
    ``--eval-limit``, ``pretrain.max_steps_per_epoch``, ``--max-epochs`` below 100, fewer
    pretraining epochs than the config's, a ``--backbone`` not made by the full pretraining
    (``backbone``: :func:`bench.common.backbone_departures`), a subset of the default label
    counts, seeds or methods, or another setting that does less than the config
    (``shortened``: :func:`bench.common.shortened_settings`)."""
    out = []
    if eval_limit:
        out.append(f"--eval-limit {eval_limit}")
    if max_steps_per_epoch:
        out.append(f"pretrain.max_steps_per_epoch={max_steps_per_epoch}")
    if max_epochs < 100:
        out.append(f"--max-epochs {max_epochs}, not 100")
    if epochs < config_epochs:
        out.append(f"{epochs} pretraining epoch(s), not the config's {config_epochs}")
    out += list(backbone or [])
    for flag, given, full in (("--labels", labels, DEFAULT_LABELS), ("--seeds", seeds, DEFAULT_SEEDS),
                              ("--methods", methods, METHODS)):
        missing = [x for x in full if x not in given]
        if missing:
            out.append(f"{flag} without {','.join(map(str, missing))}")
    out += [r for r in shortened if not r.startswith(("pretrain.epochs=", "pretrain.max_steps_per_epoch="))]
    return out


def result_name(dataset: str, name: str | None, reasons: Sequence[str], out_dir: Path | None = None) -> str:
    """The result file's name: ``name``, else ``low_label_<dataset>``; a smoke run (any of
    :func:`smoke_reasons`) gets ``_smoke``, so it never replaces the committed figures by default,
    and a chosen ``name`` over full figures in ``out_dir`` is refused (``smoke_result_name``)."""
    return smoke_result_name(f"low_label_{dataset}", reasons, name, out_dir=out_dir)


def main(argv: list[str] | None = None) -> None:
    """The command; a Ctrl-C ends with what was saved and how to resume (exit code 130)."""
    run_bench_main(_main, argv)


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.low_label"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--data", default=None,
                        help="dataset folder, for pretraining and evaluation alike (default: data.root of the "
                             "command's overrides, else configs/<dataset>.yaml's, ../shared/data/<dataset> beside "
                             "the repository); a data.root= that disagrees is an error")
    parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default: the config's)")
    parser.add_argument("--backbone", default=None, help="reuse this backbone file; skip pretraining")
    parser.add_argument("--labels", default="500,1000,2500,5000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--max-epochs", type=int, default=100, help="cap on classifier training epochs")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--run-dir", default=None, help="default: runs/bench-low-label-<dataset>")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default=None,
                        help="result name (default: low_label_<dataset>; for a smoke run, any departure from the "
                             "full protocol, low_label_<dataset>_smoke)")
    parser.add_argument("--eval-limit", type=int, default=0,
                        help="evaluate on N evenly spaced test images only (smoke test), and the k-NN monitor "
                             "during pretraining on N images of each split (pretrain.knn_limit=N unless given); "
                             "0 = all")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options

    dataset = args.dataset
    config = Path(__file__).resolve().parents[1] / "configs" / f"{dataset}.yaml"
    try:
        data_root = common_data_root(config, args.data, args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    run_dir = Path(args.run_dir or f"runs/bench-low-label-{dataset}")
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    overrides = [f"data.root={data_root}", *monitor_limit_overrides(args.eval_limit, args.overrides),
                 *args.overrides]
    if args.epochs is not None:
        overrides.insert(1, f"pretrain.epochs={args.epochs}")
    cfg = load_config(config, overrides)
    protocol_cfg = load_config(config, [f"data.root={data_root}"])
    label_counts, seeds = _ints(args.labels), _ints(args.seeds)
    random_seed, random_seed_source, seed_departures = (
        random_linear_seed(cfg.run.seed, args.backbone) if "random_linear" in methods
        else (cfg.run.seed, "", []))
    reasons = smoke_reasons(
        eval_limit=args.eval_limit, max_steps_per_epoch=cfg.pretrain.max_steps_per_epoch,
        max_epochs=args.max_epochs, epochs=cfg.pretrain.epochs, config_epochs=protocol_cfg.pretrain.epochs,
        backbone=[*backbone_departures(args.backbone, dataset, protocol_cfg.pretrain.epochs),
                  *seed_departures] if args.backbone else None,
        labels=label_counts, seeds=seeds, methods=methods,
        shortened=shortened_settings(to_dict(protocol_cfg), to_dict(cfg)))
    name = result_name(dataset, args.name, reasons, Path(args.out_dir))
    if reasons:
        print(f"[bench] {SMOKE_LINE} ({'; '.join(reasons)}); writes {name}.json")
    device = resolve_device(cfg.run.device)
    bf16 = pretrain.use_bf16(cfg, device)

    # ---- pretraining (or a given backbone) ------------------------------------------
    pretrain_info: dict[str, Any]
    if args.backbone:
        backbone_path = Path(args.backbone)
        pretrain_info = {"source": f"given backbone {backbone_path}", "seconds": 0.0,
                         **given_backbone_epochs(weights_metadata(backbone_path))}
        print(f"[bench] using backbone {backbone_path}; no pretraining")
    else:
        print(f"[bench] pretraining VICReg on {dataset} for {cfg.pretrain.epochs} epochs in {run_dir}")
        run = run_pretraining(cfg, run_dir)
        result, seconds = run.result, run.seconds
        backbone_path = result.backbone_path
        last = result.history[-1] if result.history else {}
        pretrain_info = {
            "source": f"pretrained here ({run_dir / 'pretrain'})",
            "seconds": round(seconds, 1),
            "seconds_note": "wall time of the pretraining in this invocation; after a resume (resumed true) "
                            "only part of it, the rest in seconds_earlier_attempts",
            **run.record(),
            "epoch_seconds_sum": round(sum(r.get("seconds", 0.0) for r in result.history), 1),
            "epochs": len(result.history),
            "best_epoch": result.best_epoch + 1,
            "final_loss": last.get("loss"),
            "final_knn_top1": next((r["knn_top1"] for r in reversed(result.history) if "knn_top1" in r), None),
            "stopped": result.stopped,
        }
        print(f"[bench] pretraining: {seconds:.1f} s, {len(result.history)} epochs, "
              f"final loss {last.get('loss')}")
    pretrained = build_backbone(cfg.pretrain.backbone)
    load_local_weights(pretrained, backbone_path)
    pretrained = pretrained.to(device)
    # the frozen backbones of the linear probes: pretrained, and the weights it started from
    probe_bodies = {"linear": pretrained, "random_linear": random_backbone(cfg, random_seed).to(device)}
    probe_bodies = {m: body for m, body in probe_bodies.items() if m in methods}

    # ---- data -----------------------------------------------------------------------
    train = load_generic(dataset, cfg.data.root, "train")
    test = load_generic(dataset, cfg.data.root, "test")
    assert train.labels is not None and test.labels is not None
    if args.eval_limit:
        keep = evenly_spaced(len(test.images), args.eval_limit)
        test.images, test.labels = test.images[keep], test.labels[keep]
    aug = cfg.pretrain.augment
    stats = pretrain.normalization_name(cfg)  # the data set's own statistics, as its pretraining's views
    mean, std = normalization_for(stats)  # as pretraining and pretrain.embed_images
    test_x = prepare_images(test.images, mean, std, aug.image_size, device)
    test_y = torch.as_tensor(test.labels, device=device)
    t_embed = time.perf_counter()
    # a label, as the k-NN monitor's: on a CPU each backbone's 10k test images take minutes
    test_feats = {m: pretrain.embed_images(body, test.images, stats, aug.image_size, device, autocast=bf16,
                                           progress=f"{m} probe: {len(test.images)} test images")
                  for m, body in probe_bodies.items()}
    test_embed_seconds = round(time.perf_counter() - t_embed, 1)
    print(f"[bench] pool {len(train.images)} training images, test {len(test.images)} images, device {device}"
          + (f"; the linear probes' test features embedded in {test_embed_seconds:.1f} s" if test_feats else ""))

    smoke = bool(reasons)
    reference = paper_reference(dataset, reasons)
    paper = PAPER_MNIST if reference else None
    protocol = (
        f"labelled subset: class-stratified draw of N from the training split ({len(train.images)} images) "
        f"with numpy default_rng(seed); {args.val_fraction:.0%} of it (stratified) held out for early stopping, "
        f"the rest trained on; scored on {len(test.images)} official test images. "
        f"fine-tune: pretrained {cfg.pretrain.backbone.arch} + linear head, all layers trained; "
        f"scratch: same architecture and protocol from random init (seeded); "
        f"both Adam lr 5e-4, batch 128, lr x0.95 every 50 steps (staircase), no weight decay, "
        f"early stopping patience 5 epochs on validation accuracy (ties: lower validation loss), not before "
        f"{MIN_STEPS} optimiser steps, "
        f"best epoch restored, at most {args.max_epochs} epochs; no augmentation; inputs /255 and "
        f"normalised with mean {mean} std {std} (as in pretraining). "
        f"linear: frozen pre-expander features of the un-augmented images, standardised with the "
        f"training part's statistics, linear layer, Adam lr 5e-3, same batch and decay, patience 10. "
        f"random_linear: the same linear probe on the frozen features of a randomly initialised, never "
        f"trained {cfg.pretrain.backbone.arch} of the same architecture (torch.manual_seed({random_seed}), "
        f"the {random_seed_source}, then the constructor: the weights the pretraining started from; "
        f"BatchNorm at its initial running statistics). "
        f"{'bf16 autocast' if bf16 else 'fp32'} forward passes, float32 loss."
    )
    record: dict[str, Any] = {
        "dataset": DESCRIPTION[dataset],
        "model": f"{cfg.pretrain.backbone.arch} (CIFAR stem {cfg.pretrain.backbone.cifar_stem}), "
                 f"VICReg, expander {cfg.pretrain.expander}",
        "complete": False,
        **smoke_fields(reasons),
        "pretrain": pretrain_info,
        "eval_images": {"pool": len(train.images), "test": len(test.images)},
        "protocol": protocol,
        "paper": paper_record(reference),
        **({"random_backbone": {
            "seed": random_seed,
            "seed_source": random_seed_source,
            "what": "torch.manual_seed(run.seed) then the backbone constructor: the initial weights of a "
                    "pretraining with this run.seed (pretrain.run seeds the same way); never trained, "
                    "BatchNorm at its initial running statistics"}} if "random_linear" in methods else {}),
        "labels": {},
        "eval_seconds": 0.0,
        "test_embed_seconds": test_embed_seconds,
        "seconds_note": "a run's seconds: the classifier's training; a linear probe's embed_seconds: "
                        "embedding its labelled subset's features (the test features, embedded once for "
                        "all: test_embed_seconds); eval_seconds: every label count, embedding included, "
                        "the test features' aside",
        "config": to_dict(cfg),
    }
    out_dir = Path(args.out_dir)
    eval_t0 = time.perf_counter()

    for n_labels in label_counts:
        if n_labels > len(train.images):
            print(f"[bench] skipping {n_labels} labels: the pool holds {len(train.images)} images")
            continue
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
        t_label = time.perf_counter()
        entry: dict[str, Any] = {}
        for seed in seeds:
            tr_idx, va_idx = labelled_subset(train.labels, n_labels, args.val_fraction, seed)
            xtr = prepare_images(train.images[tr_idx], mean, std, aug.image_size, device)
            xva = prepare_images(train.images[va_idx], mean, std, aug.image_size, device)
            ytr = torch.as_tensor(train.labels[tr_idx], device=device)
            yva = torch.as_tensor(train.labels[va_idx], device=device)
            line = []
            for method in methods:
                common = dict(max_epochs=args.max_epochs, seed=seed, device=device, autocast=bf16, num_classes=10)
                embed_s = None
                if method in PROBES:
                    t_embed = time.perf_counter()
                    ftr, fva = (pretrain.embed_images(probe_bodies[method], train.images[idx], stats, aug.image_size,
                                                      device, autocast=bf16) for idx in (tr_idx, va_idx))
                    embed_s = time.perf_counter() - t_embed
                    res, _ = linear_probe(ftr, ytr, fva, yva, test_feats[method], test_y, **common)
                else:
                    # scratch: seeded by the labelled subset's seed, one init per seed
                    body = pretrained if method == "finetune" else random_backbone(cfg, seed)
                    res = finetune_classifier(body, xtr, ytr, xva, yva, test_x, test_y, **common,
                                              **SCHEDULE, **HP[method])
                runs[method].append({"seed": seed, "test_top1": round(res.test_top1, 2),
                                     "val_top1": round(res.val_top1, 2), "best_epoch": res.best_epoch + 1,
                                     "epochs_run": res.epochs_run, "seconds": round(res.seconds, 2),
                                     **({"embed_seconds": round(embed_s, 2)} if embed_s is not None else {})})
                # a linear probe trains on features embedded before it: both times, each named
                took = (f"{res.seconds:.1f} s training + {embed_s:.1f} s embedding" if embed_s is not None
                        else f"{res.seconds:.1f} s")
                line.append(f"{method} {res.test_top1:.2f}% (best epoch {res.best_epoch + 1}/"
                            f"{res.epochs_run}, {took})")
            print(f"[bench] {n_labels} labels, seed {seed} ({len(tr_idx)} train / {len(va_idx)} val): "
                  + "; ".join(line))
            entry = {"train": len(tr_idx), "val": len(va_idx), "seeds": seeds[: seeds.index(seed) + 1]}
            for method in methods:
                entry[method] = {**_summary([r["test_top1"] for r in runs[method]]), "runs": runs[method]}
            entry["paper"] = paper.get(n_labels) if paper else None
            entry["eval_seconds"] = round(time.perf_counter() - t_label, 1)
            record["labels"][str(n_labels)] = entry
            record["eval_seconds"] = round(time.perf_counter() - eval_t0, 1)
            write_result(name, record, out_dir)
        summary = ", ".join(
            f"{m} {entry[m]['mean']:.2f}" + (f" +- {entry[m]['std']:.2f}" if entry[m]["std"] is not None else "")
            for m in methods)
        ref = ""
        if smoke:
            ref = f" ({SMOKE_LINE})"
        elif paper and n_labels in paper:
            ref = (f" (paper's MLP, another architecture, a reference only: fine-tune "
                   f"{paper[n_labels]['finetune']}, scratch {paper[n_labels]['scratch']})")
        print(f"[bench] {n_labels} labels over {len(seeds)} seed(s): {summary}{ref}; {entry['eval_seconds']:.1f} s")

    record["complete"] = True
    record["eval_seconds"] = round(time.perf_counter() - eval_t0, 1)
    write_result(name, record, out_dir)
    total = pretrain_info["seconds"] + test_embed_seconds + record["eval_seconds"]
    print(f"[bench] done: pretraining {pretrain_info['seconds']:.1f} s, test features {test_embed_seconds:.1f} s, "
          f"evaluation {record['eval_seconds']:.1f} s, total {total:.1f} s ({math.ceil(total / 60)} min)")


if __name__ == "__main__":
    main()
