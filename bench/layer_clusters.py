"""Per-layer cluster quality (Davies-Bouldin, Calinski-Harabasz) and a t-SNE figure of the
test embeddings, as the layer-wise paper reports (methods.md section 3; issue #7).

For each compared backbone (a random-init baseline of the same architecture, the backbone
of ``--backbone`` and every ``--compare NAME=PATH``), the test split of the config's data
set (CIFAR-10: 10 000 images) is embedded at every stage, ``stem``, ``layer1`` ..
``layer4``, each globally average-pooled (:meth:`drac_ssl.models.Backbone.forward_stages`),
with the evaluation preprocessing of :func:`drac_ssl.pretrain.embed_images` (resize,
normalise; fp32). Against the true labels:

* ``sklearn.metrics.davies_bouldin_score`` (lower is better) and
  ``calinski_harabasz_score`` (higher is better) of each stage's raw pooled features;
* t-SNE (``sklearn.manifold.TSNE``, PCA initialisation, perplexity 30, after a PCA to 50
  dimensions) of the final-layer features of a stratified subsample (default 5000), one panel
  per backbone, coloured by class.

Weights files are those pretraining writes (``backbone.safetensors`` with ``metadata.json``
beside it; the metadata's architecture wins over the config's). The GPU only embeds; the
scores and t-SNE run on the CPU.

    python -m bench.layer_clusters --backbone RUN/pretrain/backbone.safetensors \\
        [--compare vicreg_umm=RUN/umm/backbone.safetensors] [--config configs/cifar10.yaml]
        [--data PATH] [--name NAME] [--out-dir DIR] [--eval-limit N] [--no-random]

Writes ``bench/results/layer_clusters_<name>.json`` and ``..._<name>_tsne.png``; ``<name>``
is the config's data set by default. A run short of the full protocol (``--eval-limit``,
another ``--tsne-samples`` than 5000, a ``--backbone`` whose ``metadata.json`` does not show
the config's full pretraining on that data set) is a smoke run: ``<name>_smoke``,
``"smoke": true`` and why (``smoke_reasons``); ``bench/summarize.py`` leaves it out.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    RESULTS,
    backbone_departures,
    data_root,
    other_statistics,
    smoke_fields,
    smoke_result_name,
    weights_metadata,
    write_result,
)
from drac_ssl import pretrain  # noqa: E402
from drac_ssl.config import Config, configured_channels, load_config  # noqa: E402
from drac_ssl.metrics import cluster_quality  # noqa: E402
from drac_ssl.models import Backbone, BackboneArchitecture, load_local_weights  # noqa: E402
from drac_ssl.runtime import resolve_device  # noqa: E402
from drac_ssl.starting import python_command  # noqa: E402

TSNE_PERPLEXITY = 30.0
TSNE_PCA_DIMS = 50
RANDOM_NAME = "random_init"


# --------------------------------------------------------------------------------------
# Backbones


def load_backbone(path: str | os.PathLike[str], cfg: Config) -> tuple[Backbone, dict[str, Any]]:
    """The backbone of a weights file; architecture from ``metadata.json`` beside it when
    present (pretraining writes one), else from ``cfg.pretrain.backbone``."""
    p = Path(path)
    arch = BackboneArchitecture.from_config(cfg.pretrain.backbone, configured_channels(cfg))
    meta_path = p.with_name("metadata.json")
    info: dict[str, Any] = {"path": str(p), "metadata": None}
    meta = weights_metadata(p)
    if meta is None and meta_path.is_file():
        warnings.warn(f"{meta_path}: unreadable (not a JSON object); the weights are loaded into "
                      f"the config's architecture", stacklevel=2)
    if meta is not None:
        arch = BackboneArchitecture.from_metadata(meta, fallback=arch)
        info["metadata"] = {k: meta.get(k) for k in ("stage", "training_data", "best_epoch",
                                                     "epochs_run", "metrics")}
        want = meta.get("input", {})
        aug = cfg.pretrain.augment
        if want.get("recipe") not in (None, aug.recipe) or \
                (want.get("size") or [aug.image_size])[0] != aug.image_size:
            warnings.warn(f"{meta_path}: the weights were trained on {want.get('recipe')} "
                          f"{want.get('size')} inputs; embedding with the config's {aug.recipe} "
                          f"{aug.image_size} px", stacklevel=2)
        if other := other_statistics(meta, pretrain.normalization_name(cfg)):
            warnings.warn(f"{meta_path}: the weights were {other}", stacklevel=2)
    backbone = arch.build()
    load_local_weights(backbone, p, strict=True)
    info.update(arch._asdict())
    return backbone, info


def random_backbone(like: Backbone | None, cfg: Config, seed: int) -> tuple[Backbone, dict[str, Any]]:
    """A randomly initialised backbone of ``like``'s architecture (else the config's)."""
    arch = (like.architecture if like is not None
            else BackboneArchitecture.from_config(cfg.pretrain.backbone, configured_channels(cfg)))
    torch.manual_seed(seed)
    return arch.build(), {"path": None, "note": f"random init (torch seed {seed})", **arch._asdict()}


# --------------------------------------------------------------------------------------
# Features and scores


class _AllStages(nn.Module):
    """``x -> cat(pooled features of every stage)`` so that :func:`pretrain.embed_images`
    (preprocessing, batching, eval mode) serves every stage in one pass."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.widths: dict[str, int] = {}

    def forward(self, x: Tensor) -> Tensor:
        feats = self.backbone.forward_stages(x)
        self.widths = {name: int(f.shape[1]) for name, f in feats.items()}
        return torch.cat(list(feats.values()), dim=1)


def stage_embeddings(backbone: Backbone, images: np.ndarray, recipe: str, image_size: int,
                     device: torch.device, batch_size: int = 512) -> dict[str, np.ndarray]:
    """``{stage: (N, C_stage) float32}``: every stage's globally average-pooled features of
    uint8 ``images`` (evaluation preprocessing of :func:`pretrain.embed_images`, fp32),
    in :attr:`Backbone.stage_names` order."""
    if len(images) == 0:
        raise ValueError("stage_embeddings needs at least one image")
    wrapper = _AllStages(backbone).to(device)
    flat = pretrain.embed_images(wrapper, images, recipe, image_size, device,
                                 batch_size=batch_size, autocast=False).cpu()
    parts = torch.split(flat, list(wrapper.widths.values()), dim=1)
    return {name: part.numpy().astype(np.float32, copy=False)
            for name, part in zip(wrapper.widths, parts, strict=True)}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def cluster_scores(features: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per stage: ``{"dim", "davies_bouldin", "calinski_harabasz"}`` against ``labels``, by
    :func:`drac_ssl.metrics.cluster_quality` (None where a score is undefined, e.g. every
    feature constant)."""
    out: dict[str, dict[str, Any]] = {}
    for name, x in features.items():
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            scores = cluster_quality(x, labels)
        out[name] = {"dim": int(np.asarray(x).shape[1]),
                     "davies_bouldin": _finite(scores["davies_bouldin"]),
                     "calinski_harabasz": _finite(scores["calinski_harabasz"])}
    return out


def stratified_subsample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` samples with every class in proportion to its size (largest
    remainders get the leftover places); all indices when ``n >= len(labels)``."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    if n < 1:
        raise ValueError(f"subsample size must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    take = np.floor(exact).astype(np.int64)
    leftover = n - int(take.sum())
    take[np.argsort(-(exact - take), kind="stable")[:leftover]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
              for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))


def tsne_2d(x: np.ndarray, seed: int = 0, pca_dims: int = TSNE_PCA_DIMS,
            perplexity: float = TSNE_PERPLEXITY, n_jobs: int | None = None) -> np.ndarray:
    """2-D t-SNE (PCA init) of ``x`` ``(n, d)``, after a PCA to ``pca_dims`` when ``d`` is larger."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(x, dtype=np.float32)
    if pca_dims and x.shape[1] > pca_dims and len(x) > pca_dims:
        x = PCA(n_components=pca_dims, random_state=seed).fit_transform(x)
    perplexity = min(perplexity, max(1.0, (len(x) - 1) / 3))
    tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, learning_rate="auto",
                random_state=seed, n_jobs=n_jobs)
    return tsne.fit_transform(x).astype(np.float32)


def plot_tsne_panels(panels: Sequence[tuple[str, np.ndarray]], labels: np.ndarray,
                     class_names: Sequence[str], path: str | os.PathLike[str], title: str) -> Path:
    """One scatter panel per ``(title, (n, 2) points)``, coloured by class, a shared legend."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from drac_ssl.io import atomic_path

    k = len(panels)
    fig = Figure(figsize=(4.6 * k + 1.8, 5.0), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, k, squeeze=False)).ravel()
    cmap = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    colors = [cmap(i % cmap.N) for i in range(len(class_names))]
    point_colors = np.array([colors[int(y)] for y in labels])
    size = float(np.clip(6000 / max(1, len(labels)), 2.0, 8.0))  # smaller points when many
    for ax, (name, pts) in zip(axes, panels, strict=True):
        ax.scatter(pts[:, 0], pts[:, 1], c=point_colors, s=size, alpha=0.7, linewidths=0,
                   rasterized=True)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], marker="o", linestyle="", markersize=7, color=colors[i], label=c)
               for i, c in enumerate(class_names)]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return Path(path)


# --------------------------------------------------------------------------------------
# The benchmark


KNOWN_DATASETS = ("cifar10", "mnist", "fashion_mnist", "drac", "retinamnist")
"""Data sets a result name may start with: a ``--name`` naming one the config does not use is refused."""
TSNE_SAMPLES = 5000


def smoke_reasons(eval_limit: int, tsne_samples: int, backbone: Sequence[str]) -> list[str]:
    """Why a run is not the full protocol (empty: it is): ``--eval-limit``, another
    ``--tsne-samples`` than 5000, or a ``--backbone`` not made by the config's full
    pretraining (``backbone``: :func:`bench.common.backbone_departures`)."""
    out = [f"--eval-limit {eval_limit}"] if eval_limit else []
    if tsne_samples != TSNE_SAMPLES:
        out.append(f"--tsne-samples {tsne_samples}, not {TSNE_SAMPLES}")
    return out + list(backbone)


def _parse_compare(items: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--compare expects NAME=PATH, got {item!r}")
        out.append((name, path))
    return out


def _fmt(v: float | None, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.layer_clusters"), allow_abbrev=False,
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default=None,
                        help="backbone weights (safetensors written by pretraining)")
    parser.add_argument("--backbone-name", default="vicreg", help="its name in the table")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                        help="another backbone to evaluate (repeatable)")
    parser.add_argument("--no-random", action="store_true", help="no random-init baseline")
    parser.add_argument("--config", default=str(REPO / "configs" / "cifar10.yaml"))
    parser.add_argument("--data", default=None,
                        help="the data set's file or folder (default: data.root of the overrides, else the "
                             "config's; a relative one is read from the repository root when not found here); "
                             "a data.root= that disagrees is an error")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--eval-limit", type=int, default=0,
                        help="about N evenly spaced test images, every class present (smoke tests); 0 = all")
    parser.add_argument("--tsne-samples", type=int, default=TSNE_SAMPLES,
                        help="stratified subsample for t-SNE (0: no t-SNE figure)")
    parser.add_argument("--tsne-pca-dims", type=int, default=TSNE_PCA_DIMS,
                        help="PCA dimensions before t-SNE (0: none)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None,
                        help="results: layer_clusters_<name>.json/_tsne.png (default: the config's data.dataset; "
                             "a smoke run, any departure from the full protocol, adds _smoke); a name starting "
                             "with another data set's name is refused")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("overrides", nargs="*", help="config overrides (key=value)")
    args = parser.parse_intermixed_args(argv)  # overrides on both sides of the options

    try:
        data = data_root(args.config, args.data, args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    cfg = load_config(args.config, [f"data.root={data}", *args.overrides])
    dataset = cfg.data.dataset
    def names(d: str) -> bool:
        return args.name is not None and (args.name == d or args.name.startswith(f"{d}_"))

    other = next((d for d in KNOWN_DATASETS if d != dataset and names(d) and not names(dataset)), None)
    if other:
        parser.error(f"--name {args.name} names {other} but the config's data set is {dataset} "
                     f"({args.config}); fix: --name {dataset}..., or leave --name out")
    reasons = smoke_reasons(args.eval_limit, args.tsne_samples,
                            backbone_departures(args.backbone, dataset, cfg.pretrain.epochs) if args.backbone else [])
    result = smoke_result_name(dataset, reasons, args.name, out_dir=Path(args.out_dir),
                               file_prefix="layer_clusters_")
    if reasons:
        print(f"[layer_clusters] smoke run ({'; '.join(reasons)}): checks that the protocol runs; "
              f"writes layer_clusters_{result}.json", flush=True)
    device = resolve_device(args.device)
    entries: list[tuple[str, Backbone, dict[str, Any]]] = []
    named = ([(args.backbone_name, args.backbone)] if args.backbone else []) + _parse_compare(args.compare)
    for name, path in named:
        backbone, info = load_backbone(path, cfg)
        entries.append((name, backbone, info))
    if not args.no_random:
        backbone, info = random_backbone(entries[0][1] if entries else None, cfg, args.seed)
        entries.insert(0, (RANDOM_NAME, backbone, info))
    if not entries:
        parser.error("nothing to evaluate: give --backbone / --compare, or drop --no-random")
    if len({name for name, _, _ in entries}) != len(entries):
        parser.error(f"backbone names must differ: {[name for name, _, _ in entries]}")

    from drac_ssl.datasets import load_generic

    t0 = time.perf_counter()
    test = load_generic(cfg.data.dataset, cfg.data.root, "test", cache_dir=pretrain.default_cache_dir())
    images, labels = test.images, np.asarray(test.labels)
    if args.eval_limit:  # evenly spaced, so every class is present (the split is sorted by class)
        keep = slice(None, None, max(1, len(images) // args.eval_limit))
        images, labels = images[keep], labels[keep]
    load_s = time.perf_counter() - t0
    aug = cfg.pretrain.augment
    print(f"[layer_clusters] {len(images)} {cfg.data.dataset} test images ({load_s:.1f} s); "
          f"backbones: {', '.join(n for n, _, _ in entries)}; embedding on {device}", flush=True)

    tsne_idx = stratified_subsample(labels, args.tsne_samples, args.seed) if args.tsne_samples else None
    table: dict[str, Any] = {}
    panels: list[tuple[str, np.ndarray]] = []
    timings: dict[str, dict[str, float]] = {}
    stats = pretrain.normalization_name(cfg)  # the data set's own statistics, as its pretraining's views
    for name, backbone, info in entries:
        t1 = time.perf_counter()
        feats = stage_embeddings(backbone, images, stats, aug.image_size, device, args.batch_size)
        backbone.cpu()
        embed_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        scores = cluster_scores(feats, labels)
        score_s = time.perf_counter() - t2
        table[name] = {"backbone": info, "layers": scores}
        for stage, s in scores.items():
            print(f"[layer_clusters] {name:>14} {stage:>6} (dim {s['dim']:4d}): "
                  f"DB {_fmt(s['davies_bouldin'], 3)}  CH {_fmt(s['calinski_harabasz'], 1)}", flush=True)
        tsne_s = 0.0
        if tsne_idx is not None:
            t3 = time.perf_counter()
            last = list(feats)[-1]
            pts = tsne_2d(feats[last][tsne_idx], seed=args.seed, pca_dims=args.tsne_pca_dims, n_jobs=-1)
            tsne_s = time.perf_counter() - t3
            s = scores[last]
            panels.append((f"{name} ({last})\nDB {_fmt(s['davies_bouldin'], 2)}, "
                           f"CH {_fmt(s['calinski_harabasz'], 0)}", pts))
            print(f"[layer_clusters] {name}: t-SNE of {len(tsne_idx)} points in {tsne_s:.1f} s", flush=True)
        timings[name] = {"embed_s": round(embed_s, 2), "scores_s": round(score_s, 2),
                         "tsne_s": round(tsne_s, 2)}

    out_dir = Path(args.out_dir)
    figure = None
    if tsne_idx is not None:
        figure = plot_tsne_panels(
            panels, labels[tsne_idx], test.class_names,
            out_dir / f"layer_clusters_{result}_tsne.png",
            f"t-SNE of {cfg.data.dataset} test embeddings ({len(tsne_idx)} images, stratified), "
            f"final backbone stage")
        print(f"[layer_clusters] wrote {figure}")
    write_result(f"layer_clusters_{result}", {
        **smoke_fields(reasons),
        "what": ("per-layer cluster quality of the test-set embeddings against the true labels "
                 "(Davies-Bouldin: lower is better; Calinski-Harabasz: higher is better), "
                 "layer-wise VICReg paper protocol (methods.md section 3)"),
        "dataset": cfg.data.dataset,
        "split": "test",
        "images": len(images),
        "eval_limit": args.eval_limit or None,
        "features": ("each stage's output globally average-pooled (Backbone.forward_stages), raw "
                     f"(no normalisation); evaluation preprocessing {aug.recipe} {aug.image_size} px, {stats} statistics "
                     "(pretrain.embed_images), fp32"),
        "stages": list(next(iter(table.values()))["layers"]),
        "backbones": table,
        "tsne": None if tsne_idx is None else {
            "figure": figure.name if figure else None, "samples": len(tsne_idx),
            "stage": f"final ({list(feats)[-1]})",
            "subsample": f"stratified by class, seed {args.seed}",
            "method": (f"sklearn.manifold.TSNE(init='pca', perplexity={TSNE_PERPLEXITY:g}, "
                       f"learning_rate='auto')" + (f" after PCA to {args.tsne_pca_dims} dims"
                                                   if args.tsne_pca_dims else "")),
        },
        "timings": timings,
        "data_load_s": round(load_s, 1),
    }, out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
