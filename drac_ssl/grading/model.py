"""The grading model: what a bundle holds and what fine-tuning trains (K grades, grey or colour).

Everything needed to rebuild, feed and read one fold model, and nothing of the
cross-validation loop (:mod:`drac_ssl.finetune`) or of the bundle files
(:mod:`drac_ssl.grading.bundle`):

* :class:`InputSpec`: the input format (channels, cached source size, model size,
  normalisation, the evaluation transform; the training views it records, ``crop_scale``,
  are drawn by :func:`drac_ssl.finetune.train_view_transform`);
* heads (:func:`build_head`, :data:`HEADS`):

  - ``linear``: dropout + linear layer on the pooled features;
  - ``mlp``: linear (``finetune.mlp_hidden``, 256) + ReLU + dropout + linear;
  - ``conv``: on the ``layer4`` feature map before pooling, 1x1 conv + BN + ReLU, 3x3 conv +
    BN + ReLU (``finetune.conv_head_channels``, 128), global average pool, dropout, linear:
    the small convolutional head that overfitted least in the project's seed report;
  - ``regression``: dropout + linear layer with ONE output, the grade as a number (SmoothL1
    loss), as the challenge winner did;

* :class:`GradingModel` (backbone + head) and :class:`ModelSpec` (what rebuilds it, stored
  in ``model.json`` and the bundle's ``metadata.json``); :func:`load_fold_model`;
* :class:`Calibration`, the class decision: classification heads give
  ``softmax(logits / T)`` with a temperature ``T`` fitted on out-of-fold logits (Guo et al.
  2017), the score is the expected grade ``sum_k k * P_k``; the regression head's score is
  its output and its probabilities ``softmax(-(score - k)^2 / T)`` over the grades
  (:func:`regression_logits`, a Gaussian-kernel mapping) with ``T`` fitted by negative
  log-likelihood. The grade (``finetune.decision``) is either the score cut at K - 1
  kappa-optimal thresholds (``thresholds``, DRAC's default: kappa rewards the order of the
  grades) or the most probable calibrated grade (``argmax``, which maximises accuracy);
* nothing that only training needs: the fine-tuning's loss and class weights are
  :mod:`drac_ssl.losses.grading`'s, its early-stopping score :func:`drac_ssl.finetune.monitor_score`.

The number of grades K (>= 2) is the data's (``ModelSpec.num_grades``, the length of the
calibration's thresholds + 1); records written before K was stored are DRAC's 3 grades
(:data:`drac_ssl.NUM_GRADES`). Channels: 1 (grey UW-OCTA) or 3 (RGB fundus), from the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from drac_ssl import NUM_GRADES, eval_input
from drac_ssl.config import REFERRAL_METRICS, Config, FinetuneConfig, configured_channels
from drac_ssl.figures import figure_text, finite_number
from drac_ssl.metrics import (
    DEFAULT_THRESHOLDS,
    apply_thresholds,
    expected_grade,
    fit_kappa_thresholds,
    fit_temperature,
    level_text,
    operating_cut,
    p_referable,
    softmax,
)
from drac_ssl.models import ARCHS, Backbone
from drac_ssl.run_state import rebuild_advice
from drac_ssl.scale import DEFAULT_PREPROCESSING
from drac_ssl.submission import WRITE_DECIMALS, cut_units, written_units

__all__ = [
    "DEFAULT_CROP_SCALE",
    "FEATURE_STAGE",
    "HEADS",
    "HEAD_WIDTH_DEFAULTS",
    "HEAD_WIDTH_SETTINGS",
    "DECISIONS",
    "Calibration",
    "ConvHead",
    "GradingModel",
    "InputSpec",
    "LinearHead",
    "MLPHead",
    "ModelSpec",
    "ReferralCut",
    "build_head",
    "head_normalises_over_batch",
    "load_fold_model",
    "regression_logits",
    "threshold_words",
    "weight_name_problem",
]

HEADS: dict[str, str] = {"linear": "classification", "mlp": "classification",
                         "conv": "classification", "regression": "regression"}
"""Head name -> output kind."""
FEATURE_STAGE = "layer4"
"""The backbone stage whose feature map the heads read (Grad-CAM's target layer too)."""
_FT_DEFAULTS = FinetuneConfig()
HEAD_WIDTH_SETTINGS: dict[str, str] = {"mlp": "mlp_hidden", "conv": "conv_head_channels"}
"""Head name -> the ``finetune`` setting that gives its hidden width (heads without one are
absent; a head ignores the other heads' width settings)."""
HEAD_WIDTH_DEFAULTS: dict[str, int] = {head: getattr(_FT_DEFAULTS, key) for head, key in HEAD_WIDTH_SETTINGS.items()}
"""Hidden width of the heads that have one (``finetune.mlp_hidden`` /
``finetune.conv_head_channels`` defaults); a ``model.json`` without ``head_width`` has these."""
DEFAULT_CROP_SCALE: tuple[float, float] = (_FT_DEFAULTS.crop_scale[0], _FT_DEFAULTS.crop_scale[1])
"""``finetune.crop_scale`` default; an input spec recorded without ``train_crop_scale`` has it."""
DECISIONS = ("thresholds", "argmax")
"""Class decisions (``finetune.decision``): the expected grade cut at kappa-tuned thresholds,
or the most probable calibrated grade."""


# --------------------------------------------------------------------------------------
# What the model expects and what it is


@dataclass(frozen=True)
class InputSpec:
    """The input format of a grading model: a uint8 image with ``channels`` channels (grey
    ``(H, W)`` or RGB ``(H, W, 3)``) becomes the cached source image exactly as the ingest
    made it (the optional crop to the fundus disc at full resolution, INTER_AREA resize to
    ``source_size``, the optional Graham filter: :func:`data_prep.cache.cache_rows` with
    :meth:`cache_options`), then is resized to ``image_size`` and normalised with per-channel
    ``mean``/``std`` (:meth:`eval_transform`). Training views are random
    resized crops of ``crop_scale`` (area fractions) of the source image."""

    channels: int
    source_size: int
    image_size: int
    recipe: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_scale: tuple[float, float] = DEFAULT_CROP_SCALE
    fundus_crop: bool = False  # the ingest's data.fundus_crop, replayed at inference
    graham: bool = False  # the ingest's data.graham
    graham_mask: bool = True  # the ingest's data.graham_mask
    graham_reflect_padding: bool = False  # how the ingest padded crops for the filter (scale)

    @property
    def ingest_preprocessing(self) -> dict[str, bool]:
        """The ingest's fundus options this model's images went through (the padding flag
        only when on: a model.json without it is replayed with the older black padding)."""
        prep = {"fundus_crop": self.fundus_crop, "graham": self.graham,
                "graham_mask": self.graham_mask}
        if self.graham_reflect_padding:
            prep["graham_reflect_padding"] = True
        return prep

    @property
    def replays_fundus_preprocessing(self) -> bool:
        """True when a raw image must be cropped / filtered like the ingest did."""
        return self.fundus_crop or self.graham

    def cache_options(self) -> Any:
        """The :class:`data_prep.cache.CacheOptions` that turn a decoded image (already in
        ``channels``) into the ingest's cached copy."""
        from data_prep.cache import CacheOptions

        # every option of DEFAULT_PREPROCESSING by its name (a field of both classes), so a
        # new option cannot be left out of the replay (docs/design.md, adding a preprocessing
        # option; tests/drac_ssl/test_preprocessing_options.py)
        return CacheOptions(target="gray" if self.channels == 1 else "native", expected_side=0,
                            **{key: getattr(self, key) for key in DEFAULT_PREPROCESSING})

    def with_ingest_preprocessing(self, recorded: Mapping[str, Any] | None) -> InputSpec:
        """This spec with the ingest's fundus options ``recorded`` (an ``ingest_summary.json``
        ``preprocessing`` section, :attr:`drac_ssl.scale.IngestFacts.preprocessing`, or a
        bundle's ``ingest_preprocessing``): every key of
        :data:`drac_ssl.scale.DEFAULT_PREPROCESSING`, a missing one (an older record) at its
        default, each read as a bool; other keys (``words``, ``reference``) are ignored.
        Fine-tuning and :meth:`from_metadata` both go through it, so neither can drop an
        option."""
        prep = {**DEFAULT_PREPROCESSING, **(recorded or {})}
        return replace(self, **{key: bool(prep[key]) for key in DEFAULT_PREPROCESSING})

    @classmethod
    def from_config(cls, cfg: Config) -> InputSpec:
        """The spec the configuration describes; the channels are
        :func:`drac_ssl.config.configured_channels` (fine-tuning replaces them, the source
        size and the fundus options with the data's)."""
        aug = cfg.pretrain.augment
        mean, std = eval_input.normalization_for(aug.recipe)
        return cls(channels=configured_channels(cfg), source_size=aug.source_size,
                   image_size=cfg.finetune.image_size, recipe=aug.recipe, mean=tuple(mean),
                   std=tuple(std), crop_scale=(float(cfg.finetune.crop_scale[0]),
                                               float(cfg.finetune.crop_scale[1])))

    def eval_transform(self) -> Any:
        """Deterministic preprocessing, an albumentations pipeline from a uint8 ``(H, W)`` /
        ``(H, W, C)`` image to float32 ``(S, S)`` / ``(S, S, C)``: INTER_AREA resize to
        ``image_size``, then ``(x / 255 - mean) / std`` per channel
        (:func:`drac_ssl.eval_input.eval_transform`, the one the fine-tuning's
        :func:`drac_ssl.augment.build_eval_transform` builds for the same spec). Raises
        ValueError for a ``recipe`` or ``crop_scale`` that no training records
        (:func:`drac_ssl.eval_input.check_recipe`)."""
        eval_input.check_recipe(self.recipe, list(self.crop_scale))
        return eval_input.eval_transform(self.image_size, self.channels, self.mean, self.std)

    def to_metadata(self) -> dict[str, Any]:
        """This spec as a bundle's ``metadata.json`` ``input`` section (JSON-ready), which
        :meth:`from_metadata` reads back to an equal spec: ``channels`` (1 grey, 3 RGB),
        ``size`` (``[image_size, image_size]``, the model's input in pixels),
        ``source_size`` (pixels, the ingest cache's side), ``recipe``, ``value_range``,
        ``normalization`` (``mean``/``std`` per channel, of x/255), ``preprocessing`` (the
        steps from an image file to the model's input, in words, for a reader of the
        bundle), ``train_crop_scale`` (area fractions) and, only when a fundus option is not
        the default, ``ingest_preprocessing`` (:attr:`ingest_preprocessing`)."""
        if self.channels == 1 and not self.replays_fundus_preprocessing:
            steps = (f"8-bit grey image -> cv2.resize to {self.source_size}x{self.source_size} "
                     f"(INTER_AREA, as the ingest cache) -> cv2.resize to {self.image_size}x"
                     f"{self.image_size} (INTER_AREA) -> (x/255 - mean) / std")
        else:
            kind = "8-bit grey image" if self.channels == 1 else "8-bit RGB image"
            crop = " -> crop to the fundus disc and pad to a square" if self.fundus_crop else ""
            filt = (f" -> Graham's local-mean subtraction (sigma {self.source_size}/60"
                    f"{', mask outside 90% of the radius' if self.graham_mask else ''})"
                    if self.graham else "")
            to_model = ("" if self.image_size == self.source_size else
                        f" -> cv2.resize to {self.image_size}x{self.image_size} (INTER_AREA)")
            steps = (f"{kind}{crop} -> cv2.resize to {self.source_size}x{self.source_size} "
                     f"(INTER_AREA){filt} (as the ingest cache){to_model} -> (x/255 - mean) / std "
                     f"per channel")
        meta = {
            "channels": self.channels,
            "size": [self.image_size, self.image_size],
            "source_size": self.source_size,
            "recipe": self.recipe,
            "value_range": "uint8 0..255, divided by 255, then normalised",
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "preprocessing": steps,
            "train_crop_scale": list(self.crop_scale),
        }
        if self.replays_fundus_preprocessing or not self.graham_mask:  # not all off: recorded
            meta["ingest_preprocessing"] = self.ingest_preprocessing
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> InputSpec:
        """The spec recorded by :meth:`to_metadata` (a bundle's ``metadata.json`` ``input``
        section). ``size`` may be ``[S, S]`` or ``S``; a section without ``train_crop_scale``
        (an older bundle) gets :data:`DEFAULT_CROP_SCALE`, and one without
        ``ingest_preprocessing`` the ingest's defaults
        (:data:`drac_ssl.scale.DEFAULT_PREPROCESSING`: no fundus crop, no Graham filter).

        Raises:
            KeyError: a required key is missing (``channels``, ``source_size``, ``size``,
                ``recipe``, ``normalization`` with ``mean`` and ``std``).
            ValueError, TypeError: a value is not a number where one is needed.
        """
        size = meta["size"]
        crop = meta.get("train_crop_scale") or DEFAULT_CROP_SCALE  # absent in older model.json
        return cls(channels=int(meta["channels"]), source_size=int(meta["source_size"]),
                   image_size=int(size[0] if isinstance(size, list) else size),
                   recipe=str(meta["recipe"]),
                   mean=tuple(float(v) for v in meta["normalization"]["mean"]),
                   std=tuple(float(v) for v in meta["normalization"]["std"]),
                   crop_scale=(float(crop[0]), float(crop[1]))
                   ).with_ingest_preprocessing(meta.get("ingest_preprocessing"))


class LinearHead(nn.Module):
    """Dropout + linear layer on pooled features ``(n, in_dim) -> (n, out_dim)``."""

    uses_map = False

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, out_dim)

    def forward(self, h: Tensor) -> Tensor:
        """Pooled features ``h`` ``(n, in_dim)`` -> ``(n, out_dim)``: logits (one per grade) or,
        as the regression head, the score ``(n, 1)``. Dropout acts in training mode only."""
        return self.fc(self.dropout(h))


class MLPHead(nn.Module):
    """Linear (``hidden``) + ReLU + dropout + linear on pooled features."""

    uses_map = False

    def __init__(self, in_dim: int, out_dim: int, dropout: float,
                 hidden: int = HEAD_WIDTH_DEFAULTS["mlp"]) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(hidden, out_dim))

    def forward(self, h: Tensor) -> Tensor:
        """Pooled features ``h`` ``(n, in_dim)`` -> logits ``(n, out_dim)``. Dropout acts in
        training mode only."""
        return self.net(h)


class ConvHead(nn.Module):
    """Small convolutional head on the feature map ``(n, C, h, w)`` before pooling:
    1x1 conv (``width``) + BN + ReLU, 3x3 conv (``width``) + BN + ReLU, global average
    pool, dropout, linear ``-> (n, out_dim)``."""

    uses_map = True

    def __init__(self, in_channels: int, out_dim: int, dropout: float,
                 width: int = HEAD_WIDTH_DEFAULTS["conv"]) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False),
                                    nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.conv = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width, out_dim)

    def forward(self, h: Tensor) -> Tensor:
        """The feature map ``h`` ``(n, in_channels, h, w)`` (the backbone's
        :data:`FEATURE_STAGE`, not pooled) -> logits ``(n, out_dim)``. BatchNorm normalises
        over the batch and the map's cells in training mode, with its running statistics in
        eval mode; dropout acts in training mode only."""
        h = self.pool(self.conv(self.reduce(h))).flatten(1)
        return self.fc(self.dropout(h))


def build_head(head: str, feature_dim: int, dropout: float, num_grades: int = NUM_GRADES,
               width: int | None = None) -> nn.Module:
    """The head ``head`` (see :data:`HEADS`) for a backbone of ``feature_dim`` channels.

    ``width``: the hidden width of the ``mlp`` head or the channels of the ``conv`` head
    (None: :data:`HEAD_WIDTH_DEFAULTS`); the other heads have none and ignore it.
    Classification heads output ``(n, num_grades)`` logits, ``regression`` ``(n, 1)`` (whatever
    ``num_grades``). Raises ValueError for an unknown head, and for a classification head of
    ``num_grades`` < 2: one logit would pass for the regression head's single score.
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)} (finetune.head).")
    if HEADS[head] == "classification" and num_grades < 2:
        raise ValueError(f"num_grades={num_grades}: the {head!r} head grades at least 2 grades "
                         f"(one logit per grade); a single output is the 'regression' head's")
    if head == "linear":
        return LinearHead(feature_dim, num_grades, dropout)
    if head in HEAD_WIDTH_DEFAULTS and width is None:
        width = HEAD_WIDTH_DEFAULTS[head]
    if head == "mlp":
        return MLPHead(feature_dim, num_grades, dropout, hidden=width)
    if head == "conv":
        return ConvHead(feature_dim, num_grades, dropout, width=width)
    return LinearHead(feature_dim, 1, dropout)


def head_normalises_over_batch(head: str) -> bool:
    """Whether the head ``head`` (see :data:`HEADS`) has BatchNorm layers, which normalise
    over the batch while training (a batch of one image has no batch statistics). Read off
    a tiny instance of the head itself, so a new head needs no entry anywhere for it
    (:mod:`drac_ssl.preflight` asks this). Raises ValueError for an unknown head."""
    built = build_head(head, 8, 0.0, width=2)
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in built.modules())


class GradingModel(nn.Module):
    """Backbone + head. ``forward(x (n, C, S, S)) -> raw output`` (logits ``(n, K)`` or a
    regression score ``(n, 1)``). Grad-CAM target layer: ``backbone.layer4``.

    ``x`` is the normalised model input (:meth:`InputSpec.eval_transform`, float32, channels
    ``C`` = the backbone's ``in_channels``, side ``S`` = ``InputSpec.image_size``); the raw
    output is not calibrated: :class:`Calibration` turns it into probabilities, a score and a
    grade."""

    def __init__(self, backbone: Backbone, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def features(self, x: Tensor) -> Tensor:
        """What the head reads from the input ``x`` ``(n, C, S, S)``: the backbone's
        :data:`FEATURE_STAGE` (``layer4``) map ``(n, F, h, w)`` for a head that reads the map
        (the conv head, ``head.uses_map``; ``layer4``'s stride is 32 with the ImageNet stem,
        ``8 * stem_stride`` with the CIFAR stem: :class:`drac_ssl.models.Backbone`), or the
        backbone's globally average-pooled features ``(n, F)`` (the linear, MLP and regression
        heads); ``F`` is the backbone's feature width (:data:`drac_ssl.models.ARCHS`: 512 for
        ResNet-18 / 34, 2048 for ResNet-50)."""
        if getattr(self.head, "uses_map", False):
            return self.backbone.forward_until(x, FEATURE_STAGE)
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        """The raw output of the input ``x`` ``(n, C, S, S)`` float32: ``head(features(x))``,
        logits ``(n, K)`` (classification heads) or the regression score ``(n, 1)``, float32 on
        ``x``'s device. Raises ValueError (the backbone's, naming the fix) for an input that is
        not ``(n, in_channels, H, W)``."""
        return self.head(self.features(x))

    def features_from_map(self, fmap: Tensor) -> Tensor:
        """:meth:`features` from the backbone's :data:`FEATURE_STAGE` map
        ``fmap = backbone.forward_until(x, FEATURE_STAGE)``: the map itself (conv head) or its
        pooling by the backbone. ``head(features_from_map(fmap))`` is bit-identical to
        ``forward(x)`` (the same operations in the same order), so several heads on one
        backbone can share one backbone pass."""
        if getattr(self.head, "uses_map", False):
            return fmap
        return self.backbone.forward_from(fmap, FEATURE_STAGE)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a :class:`GradingModel` (stored in ``model.json``).

    ``head_width``: the ``mlp`` head's hidden width or the ``conv`` head's channels (None:
    :data:`HEAD_WIDTH_DEFAULTS`); always None for the heads without one."""

    arch: str
    in_channels: int
    cifar_stem: bool
    head: str
    dropout: float
    num_grades: int = NUM_GRADES  # K; a model.json without it is DRAC's 3 grades
    head_width: int | None = None
    stem_stride: int = 1  # the CIFAR stem's stride; a model.json without it: 1

    def __post_init__(self) -> None:  # one spelling per model: the width resolved or None
        width = self.head_width if self.head in HEAD_WIDTH_DEFAULTS else None
        if self.head in HEAD_WIDTH_DEFAULTS and width is None:
            width = HEAD_WIDTH_DEFAULTS[self.head]
        object.__setattr__(self, "head_width", None if width is None else int(width))

    @property
    def output(self) -> str:
        """``classification`` or ``regression``."""
        return HEADS[self.head]

    def build_backbone(self) -> Backbone:
        """A randomly initialised backbone of this architecture."""
        return Backbone(self.arch, in_channels=self.in_channels, cifar_stem=self.cifar_stem,
                        stem_stride=self.stem_stride)

    def build_head(self) -> nn.Module:
        """A randomly initialised head."""
        return build_head(self.head, ARCHS[self.arch], self.dropout, self.num_grades,
                          self.head_width)

    def build(self, backbone: Backbone | None = None) -> GradingModel:
        """The model with ``backbone`` (default: a new random one) and a new head."""
        return GradingModel(backbone if backbone is not None else self.build_backbone(),
                            self.build_head())

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "in_channels": self.in_channels, "cifar_stem": self.cifar_stem,
                "head": self.head, "dropout": self.dropout, "num_grades": self.num_grades,
                "output": self.output, "feature_stage": FEATURE_STAGE,
                "head_width": self.head_width, "stem_stride": self.stem_stride}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        width = d.get("head_width")  # None or absent: the default width of the head
        return cls(arch=str(d["arch"]), in_channels=int(d["in_channels"]),
                   cifar_stem=bool(d["cifar_stem"]), head=str(d["head"]),
                   dropout=float(d["dropout"]), num_grades=int(d.get("num_grades", NUM_GRADES)),
                   head_width=None if width is None else int(width),
                   stem_stride=int(d.get("stem_stride", 1)))


# --------------------------------------------------------------------------------------
# Raw outputs -> probabilities, scores and grades


def regression_logits(score: np.ndarray, num_grades: int) -> np.ndarray:
    """``-(score - k)^2`` for ``k = 0 .. K-1``: ``(n,) -> (n, K)``; their softmax (with a
    temperature) is the regression head's probability mapping."""
    s = np.asarray(score, dtype=np.float64).reshape(-1, 1)
    return -((s - np.arange(num_grades, dtype=np.float64)[None]) ** 2)


def threshold_words(thresholds: Sequence[float], sep: str = ", ") -> str:
    """Thresholds as people read them: 3 decimals, more (up to 6) while two of them would print
    alike (a trial's card showed ``2.001, 2.001, 2.001, 2.012`` for 2.00094, 2.00115, 2.00118,
    2.01201, which read as degenerate); one that is not a finite number is ``n/a``
    (:func:`drac_ssl.figures.figure_text`)."""
    finite = [v for v in map(finite_number, thresholds) if v is not None]
    digits = 3
    while digits < 6 and len({f"{v:.{digits}f}" for v in finite}) < len(set(finite)):
        digits += 1
    return sep.join(figure_text(t, digits) for t in thresholds)


@dataclass(frozen=True)
class ReferralCut:
    """A referral cut set for a screening target (``finetune.referral_target``): refer an image
    when its P(referable) = ``P_r + ... + P_{K-1}`` (``r = from_grade``, of the calibrated
    probabilities) is at or above ``cut``. The cut was chosen on out-of-fold outputs to reach
    ``metric >= level`` there (:func:`drac_ssl.metrics.operating_cut`). With K = 2 it is the
    grade decision (:meth:`Calibration.grades_of`)."""

    metric: str  # sensitivity | specificity: the figure the cut was set to reach
    level: float  # ... at least this fraction, in (0, 1)
    from_grade: int  # r: referable = grade >= r
    cut: float  # refer when P(referable) >= cut

    def __post_init__(self) -> None:
        if self.metric not in REFERRAL_METRICS or not 0 < float(self.level) < 1:
            raise ValueError(f"a referral cut's target must be sensitivity or specificity at a level in "
                             f"(0, 1), got {self.metric!r} at {self.level!r}")
        if isinstance(self.from_grade, bool) or int(self.from_grade) < 1:
            raise ValueError(f"a referral cut's referable grade must be >= 1, got {self.from_grade!r}")
        if not np.isfinite(float(self.cut)):
            raise ValueError(f"a referral cut must be a finite number, got {self.cut!r}")

    @property
    def target(self) -> str:
        """The setting's value: ``sensitivity:0.90``."""
        return f"{self.metric}:{level_text(self.level)}"

    def words(self) -> str:
        """The target in words: ``sensitivity >= 0.90``."""
        return f"{self.metric} >= {level_text(self.level)}"

    def probability(self, probs: np.ndarray) -> np.ndarray:
        """``(n,)`` P(referable) of probabilities ``(n, K)``."""
        return p_referable(probs, self.from_grade)

    def refer(self, probs: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
        """``(n,)`` int64: 1 where P(referable) of ``probs`` ``(n, K)`` as a submission CSV and
        ``oof.csv`` write them (6 decimals: :func:`drac_ssl.submission.written_units`) is at
        or above the cut, compared in millionths (:func:`drac_ssl.submission.cut_units`): the
        app, the export's ``_referable.csv`` (the written ``P_referable``) and the fine-tuning
        (``oof.csv``'s probabilities) refer every image alike. ``classes`` ``(n,)``: the grades
        written beside the rows, where known (the app's grade): at an exact tie of the largest
        probabilities the file's remainder goes to the written class, and P(referable) is read
        as the file holds it (``oof.csv``, written without them: None). Raises ValueError for a
        row of probabilities that is not finite (a NaN compares false and would silently clear
        the image)."""
        p = _finite_probs(probs, "referral cut", "cannot be referred or cleared")
        units = written_units(p, classes)[:, self.from_grade:].sum(axis=1)
        return (units >= cut_units(self.cut)).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "metric": self.metric, "level": float(self.level),
                "from_grade": int(self.from_grade), "cut": float(self.cut),
                "rule": f"refer when P(referable), the sum of P_g over grades g >= {self.from_grade}, >= cut",
                "fitted_on": "out-of-fold outputs, the cut chosen to reach the target there "
                             "(finetune.referral_target)"}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferralCut:
        """A cut written by :meth:`to_dict`. Raises ValueError (or TypeError) for one that does
        not read: a key missing, a target, grade or cut that is not one."""
        lacks = [key for key in ("metric", "level", "from_grade", "cut") if key not in d]
        if lacks:
            raise ValueError(f"its referral cut lacks {', '.join(lacks)}")
        return cls(str(d["metric"]), float(d["level"]), int(d["from_grade"]), float(d["cut"]))


@dataclass(frozen=True)
class Calibration:
    """How raw outputs become probabilities, a score and a grade, for K grades.

    ``output="classification"``: ``P = softmax(logits / temperature)``, score = expected
    grade of ``P``. ``output="regression"``: score = the output, ``P = softmax(-(score -
    k)^2 / temperature)`` over ``k = 0..K-1``. Grade (``decision``): ``thresholds`` =
    ``apply_thresholds(score, thresholds)`` with the K - 1 kappa-tuned ``thresholds``;
    ``argmax`` = the most probable calibrated grade ``argmax_k P_k`` (thresholds are still
    fitted and stored, so either rule can be reported). An ensemble averages probabilities
    (classification) or scores (regression) over its models. ``K = len(thresholds) + 1``.

    ``referral`` (``finetune.referral_target``; None: none, as every calibration written before
    it): a :class:`ReferralCut` on P(referable). With K = 2 it decides the grade (grade 1 when
    P1 >= its cut, whatever ``decision`` says: :attr:`referral_decides`); with K > 2 the grades
    are unchanged and it only refers (:meth:`refer`).
    """

    output: str
    temperature: float = 1.0
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    decision: str = "thresholds"
    referral: ReferralCut | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown class decision {self.decision!r}; choose "
                             f"{' or '.join(DECISIONS)} (finetune.decision)")
        if len(self.thresholds) < 1:
            raise ValueError("a calibration needs K - 1 >= 1 thresholds")
        if self.referral is not None and self.referral.from_grade > len(self.thresholds):
            raise ValueError(f"a referral cut from grade {self.referral.from_grade} is outside the "
                             f"{len(self.thresholds) + 1} grades of its calibration")

    @property
    def num_grades(self) -> int:
        """K: the number of grades (thresholds + 1)."""
        return len(self.thresholds) + 1

    @property
    def referral_decides(self) -> bool:
        """Whether the referral cut is the grade decision: K = 2 with a :attr:`referral`."""
        return self.referral is not None and self.num_grades == 2

    @classmethod
    def fit(cls, raw: np.ndarray, grades: np.ndarray, output: str, num_grades: int | None = None,
            decision: str = "thresholds", referral: tuple[str, float, int] | None = None) -> Calibration:
        """Temperature (NLL) and kappa-optimal thresholds fitted on out-of-fold outputs, and,
        with ``referral``, a :class:`ReferralCut`.

        Args:
            raw: ``(n, K)`` logits (``output="classification"``) or ``(n, 1)`` regression
                scores, one row per image.
            grades: ``(n,)`` true grades in ``0 .. K-1``.
            output: the head's output, ``classification`` or ``regression``.
            num_grades: K (classification: default the logits' width; regression: default
                the largest grade + 1, at least 2: pass the data's K).
            decision: the class decision stored (:data:`DECISIONS`).
            referral: ``(metric, level, r)`` (``finetune.referral_target`` and the referable
                grade ``r``): the cut on P(referable) = ``P_r + ... + P_{K-1}`` (probabilities
                under the fitted temperature) that reaches ``metric >= level`` on these images
                (:func:`drac_ssl.metrics.operating_cut`: for sensitivity the highest such cut,
                for specificity the lowest); None: no referral cut.

        Raises:
            ValueError: a row of ``raw`` holds NaN or inf (the outputs of a fold model whose
                training diverged; the message counts the rows), logits of another width than
                K, or grades outside the scale (from the fitting functions); with ``referral``,
                grades all referable or all not (no cut can be chosen).
        """
        raw = np.asarray(raw, dtype=np.float64)
        grades = np.asarray(grades, dtype=np.int64)
        bad = np.flatnonzero(~np.isfinite(raw).all(axis=tuple(range(1, raw.ndim))))
        if bad.size:
            what = "logits" if output == "classification" else "regression outputs"
            raise ValueError(f"{bad.size} of {len(raw)} rows of the {what} are not finite (NaN or "
                             f"infinite; first at row {int(bad[0])}): no calibration can be fitted on "
                             f"them: the model that gave them is broken (e.g. its training diverged)")
        if output == "classification":
            k = int(num_grades) if num_grades is not None else raw.shape[1]
            if raw.shape[1] != k:
                raise ValueError(f"logits have {raw.shape[1]} columns for {k} grades")
            temperature = fit_temperature(raw, grades)
            score = expected_grade(softmax(raw, temperature))
        else:
            k = int(num_grades) if num_grades is not None else max(int(grades.max()) + 1, 2)
            temperature = fit_temperature(regression_logits(raw[:, 0], k), grades)
            score = raw[:, 0]
        thresholds = fit_kappa_thresholds(score, grades, num_grades=k)
        cal = cls(output, float(temperature), tuple(float(t) for t in thresholds), decision)
        if referral is None:
            return cal
        metric, level, r = referral
        truth = grades >= int(r)
        if truth.all() or not truth.any():
            raise ValueError(f"a referral cut for {metric} >= {level_text(level)} needs referable "
                             f"(grade >= {r}) and non-referable images among the {len(grades)} it is "
                             f"fitted on; {'all are' if truth.all() else 'none is'} referable")
        probs, _ = cal.probs_and_scores([raw])
        # on P(referable) as oof.csv and a submission write it, in millionths: the cut is a
        # 6-decimal number (a whole one above them all where only referring none reaches the
        # level), and refer() gives exactly the figures operating_cut read off these images
        units = written_units(probs)[:, int(r):].sum(axis=1).astype(np.float64)
        cut, _, _ = operating_cut(truth, units, metric, float(level))
        stored = math.ceil(cut) / 10**WRITE_DECIMALS
        return replace(cal, referral=ReferralCut(metric, float(level), int(r), stored))

    def with_decision(self, decision: str) -> Calibration:
        """The same temperature, thresholds and referral cut with another class decision."""
        return replace(self, decision=decision)

    def without_referral(self) -> Calibration:
        """The same calibration without its referral cut: the grades of ``decision`` alone."""
        return replace(self, referral=None)

    def probs_and_scores(self, raw_per_model: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(probs (n, K), score (n,))``, float64, of the ensemble of the given raw outputs.

        ``raw_per_model``: one array per model (fold), each of the same ``n`` images: logits
        ``(n, K)`` (``output="classification"``: ``P`` is the mean over the models of
        ``softmax(logits / temperature)``, the score its expected grade ``sum_k k * P_k``) or
        regression scores ``(n, 1)`` (the score is the mean of the models' scores, ``P`` =
        ``softmax(-(score - k)^2 / temperature)``). Non-finite outputs are not refused here:
        they give NaN probabilities (:meth:`grades_of` refuses those).

        Raises:
            ValueError: ``raw_per_model`` is empty, or the logits have another number of
                columns than the calibration's K grades (``len(thresholds) + 1``; the bundle's
                model and calibration disagree). Arrays of different ``n`` across models raise
                numpy's ValueError."""
        if not raw_per_model:
            raise ValueError("probs_and_scores needs the raw outputs of at least one model")
        if self.output == "classification":
            probs = np.mean([softmax(np.asarray(r, dtype=np.float64), self.temperature)
                             for r in raw_per_model], axis=0)
            if probs.shape[1] != self.num_grades:
                raise ValueError(f"the model outputs {probs.shape[1]} grades but the calibration "
                                 f"has {self.num_grades} (thresholds {self.thresholds})")
            return probs, expected_grade(probs)
        score = np.mean([np.asarray(r, dtype=np.float64)[:, 0] for r in raw_per_model], axis=0)
        return softmax(regression_logits(score, self.num_grades), self.temperature), score

    def grades_of(self, probs: np.ndarray, score: np.ndarray) -> np.ndarray:
        """The grades ``(n,)`` int64 of ``decision`` for probabilities ``(n, K)`` and scores
        ``(n,)``. Raises ValueError for a NaN or infinite score with ``decision="thresholds"``
        (:func:`drac_ssl.metrics.apply_thresholds`) and for a row of probabilities holding one
        with ``decision="argmax"`` (``np.argmax`` would call a NaN row grade 0) or a referral cut
        that decides (:attr:`referral_decides`: K = 2, grade 1 when P1 >= its cut)."""
        if self.referral is not None and self.num_grades == 2:
            return self.referral.refer(probs)
        if self.decision == "argmax":
            p = _finite_probs(probs, "argmax decision", "has no grade")
            return p.argmax(axis=1).astype(np.int64)
        return apply_thresholds(score, self.thresholds)

    def decide(self, raw_per_model: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(probs, score, grade)`` of the ensemble."""
        probs, score = self.probs_and_scores(raw_per_model)
        return probs, score, self.grades_of(probs, score)

    def refer(self, probs: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray | None:
        """``(n,)`` int64 referral decisions of probabilities ``(n, K)`` by the :attr:`referral`
        cut (:meth:`ReferralCut.refer`, ``classes`` the grades written beside them where known),
        or None without one."""
        return None if self.referral is None else self.referral.refer(probs, classes)

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON (``calibration.json``, a bundle's ``calibration``); the
        ``referral`` key only with a referral cut, so that one without is written as before."""
        grade = ("number of thresholds t with score >= t" if self.decision == "thresholds"
                 else "argmax_k P_k (the most probable calibrated grade)")
        if self.referral_decides:
            grade = ("1 when P1 >= referral.cut (the referral cut of finetune.referral_target), "
                     "else 0; decision and thresholds not used for the grade")
        return {"output": self.output, "temperature": self.temperature,
                "thresholds": list(self.thresholds),
                "probabilities": ("softmax(logits / temperature)" if self.output == "classification"
                                  else "softmax(-(score - k)^2 / temperature), k = "
                                  + ", ".join(str(k) for k in range(self.num_grades))),
                "score": ("expected grade sum_k k * P_k" if self.output == "classification"
                          else "regression output"),
                "grade": grade, "decision": self.decision, "num_grades": self.num_grades,
                **({"referral": self.referral.to_dict()} if self.referral is not None else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        """A calibration written by :meth:`to_dict`; one without ``decision`` (written before
        the option existed) cuts at its thresholds, one without ``referral`` (before
        ``finetune.referral_target``, or without it) has no referral cut. Raises ValueError,
        TypeError or KeyError for one that does not read."""
        referral = d.get("referral")
        if referral is not None and not isinstance(referral, Mapping):
            raise ValueError(f"its referral is not a mapping: {referral!r}")
        return cls(str(d["output"]), float(d["temperature"]),
                   tuple(float(t) for t in d["thresholds"]), str(d.get("decision") or "thresholds"),
                   None if referral is None else ReferralCut.from_dict(referral))


def _finite_probs(probs: Any, rule: str, consequence: str) -> np.ndarray:
    """``probs`` ``(n, K)`` as float64, or ValueError naming ``rule`` and the first row that is
    not finite (a NaN compares false: a decision would silently give a grade or clear it)."""
    p = np.asarray(probs, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1)) if p.ndim == 2 else np.array([])
    if bad.size:
        raise ValueError(f"{rule}: {bad.size} of {p.shape[0]} rows of probabilities are not finite "
                         f"(first at row {int(bad[0])}: {p[bad[0]].tolist()}); a NaN or infinite "
                         f"probability {consequence}: the outputs it came from are broken (e.g. a "
                         f"model whose training diverged)")
    return p


def weight_name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as the name of a weights file in a fold's ``weights`` list
    (``model.json``, a bundle's ``metadata.json``), None when nothing is. A weights file is
    read from the folder that holds the record, so its name must be a bare file name: not a
    string, empty, ``.``, absolute (``/etc/passwd``, ``C:\\x``, a drive ``C:x``), holding a
    path separator (``/`` or ``\\``), a NUL or ``..`` anywhere is refused, so that an edited
    record cannot make the package open a file outside that folder."""
    if not isinstance(name, str) or not name:
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name or ".." in name or name == "." or "\0" in name or ":" in name[1:2]:
        return (f"{name!r} is not a bare file name (it is absolute or holds a path separator, a "
                f"drive or '..')")
    return None


def load_fold_model(model_json: dict[str, Any], folder: Path, fold_entry: dict[str, Any]) -> GradingModel:
    """Rebuild one fold's :class:`GradingModel` from ``model.json`` and its weight files in
    ``folder`` (eval mode, CPU). Every parameter and buffer must be present.

    Raises:
        FileNotFoundError: a weight file is missing.
        WeightsFileError (a ValueError): a weight file is damaged (cut short, empty).
        ValueError: a weight file's name is not a bare file name in ``folder``
            (:func:`weight_name_problem`: absolute, a path separator or ``..``; nothing is
            opened), or the weights do not match the model (a missing or extra tensor, or one
            of another shape: metadata.json's channels or grades are not the weights')."""
    from drac_ssl.weights_file import load_safetensors

    state: dict[str, Tensor] = {}
    for name in fold_entry["weights"]:
        if (problem := weight_name_problem(name)) is not None:
            raise ValueError(f"{folder}: fold {fold_entry.get('fold')}'s weights file {problem}; "
                             f"weights are read from {folder} only.\n  fix: the record was edited or "
                             f"is not drac_ssl's: copy the bundle (or run folder) again, or rebuild it")
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: weight file of fold {fold_entry['fold']} is missing")
        state.update(load_safetensors(path))
    spec = ModelSpec.from_dict(model_json["model"])
    with torch.device("meta"):  # no random init: every tensor comes from the files
        model = spec.build()
    expected = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)} in the file, {tuple(expected[k].shape)} in the model"
             for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:  # e.g. metadata.json says 1 input channel, the weights were trained on 3
        raise ValueError(f"{folder}: fold {fold_entry['fold']} weights do not fit the model its "
                         f"metadata describes ({spec.in_channels} input channel(s), {spec.num_grades} "
                         f"grades, head {spec.head}): {'; '.join(wrong[:3])}"
                         + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
                         + ".\n  fix: the metadata and the weights come from different models: copy the "
                         f"bundle again, or {rebuild_advice(folder)}")
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(f"{folder}: fold {fold_entry['fold']} weights do not match the model "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()
