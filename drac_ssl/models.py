"""Backbone, expander and the VICReg model.

- :class:`Backbone`: a torchvision ResNet (18/34/50, ``weights=None``) without its classifier,
  with a 1-channel stem for OCTA (no silent RGB copies) and an optional CIFAR stem (3x3 conv,
  stride 1, no max-pool; solo-learn's CIFAR recipe). Its submodules keep torchvision's names
  (``conv1``, ``bn1``, ``layer1`` ... ``layer4``) so torchvision-format state dicts load as they
  are. It can run up to / from a named stage, which UMM needs (methods.md section 2).
- :class:`Expander`: the VICReg projector MLP (Bardes et al., ICLR 2022; official
  ``main_vicreg.py``: Linear+BN+ReLU blocks, last Linear without bias).
- :class:`VICRegModel`: backbone + expander, ``forward(x) -> (features, embedding)``.

Nothing here ever downloads weights: :func:`load_local_weights` reads a local file only.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn

from drac_ssl import PRETRAIN_METHOD
from drac_ssl.weights_file import WeightsFileError, match_weights, read_weights_file

if TYPE_CHECKING:
    from drac_ssl.config import BackboneConfig, PretrainConfig

__all__ = [
    "ARCHS",
    "Backbone",
    "BackboneArchitecture",
    "Expander",
    "LoadReport",
    "PartialLoadWarning",
    "VICRegModel",
    "WeightsFileError",
    "build_backbone",
    "build_vicreg_model",
    "load_local_weights",
]

ARCHS: dict[str, int] = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
"""Supported architectures and their pooled feature dimension."""

STAGE_NAMES: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4")


class Backbone(nn.Module):
    """ResNet trunk returning pooled features ``(n, feature_dim)``.

    Args:
        arch: ``resnet18`` | ``resnet34`` | ``resnet50`` (torchvision, random init).
        in_channels: input channels; 1 (the default) for grey UW-OCTA (``conv1`` is a real
            1-channel conv), 3 for colour photographs. A batch of other channels is refused.
        cifar_stem: 3x3 stride-1 ``conv1`` and no max-pool (for 32 px images).
        stem_stride: the stride of the CIFAR stem's ``conv1`` (1 or 2; 2 halves every map,
            e.g. for 28 px fundus photographs). Only with ``cifar_stem``.

    Input: float32 ``(n, in_channels, H, W)``, channels in RGB order for ``in_channels=3``,
    normalised per channel as ``(pixels / 255 - mean) / std`` with ``mean``, ``std`` in [0, 1]
    units from :func:`drac_ssl.eval_input.normalization_for` of the training recipe (``octa``,
    ``fundus``, ...; :func:`drac_ssl.augment.prepare_images` turns uint8 ``(N, H, W[, 3])``
    images into such a batch; :func:`drac_ssl.eval_input.eval_transform` does the same for one
    image but returns HWC, to be permuted to CHW and stacked).
    Torchvision's ImageNet weights (:func:`load_local_weights`) expect ImageNet's statistics
    instead, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225). Any ``H, W`` the stem's and
    layers' strides leave at least 1 px for.

    Stages, in order: ``stem`` (conv1, bn1, relu, maxpool), ``layer1`` ... ``layer4``. For an
    input ``(n, in_channels, H, W)`` with the ImageNet stem, ``layerK`` has stride
    ``2^(K+1)``; with the CIFAR stem, ``stem_stride * 2^(K-1)``.

    Weights are initialised as torchvision's ResNet with ``zero_init_residual=False``: every
    residual branch's last BatchNorm starts at weight 1. The official VICReg code builds its
    ResNet with ``zero_init_residual=True`` (those weights start at 0, so each block starts as
    the identity); this package does not (docs/design.md, "Where the code fills in or departs
    from methods.md"; solo-learn and lightly do not either).

    Raises:
        ValueError: unknown ``arch``, ``in_channels`` < 1, ``stem_stride`` not 1 or 2, or a
            stride of 2 without ``cifar_stem``; from ``forward`` / ``forward_until`` /
            ``forward_stages``: an input that is not ``(n, in_channels, H, W)`` (e.g. RGB
            images given to the default 1-channel backbone), naming the fix
            (``Backbone(arch, in_channels=3)``).
    """

    stage_names: tuple[str, ...] = STAGE_NAMES

    def __init__(self, arch: str = "resnet18", in_channels: int = 1, cifar_stem: bool = False,
                 stem_stride: int = 1):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(
                f"unknown backbone arch {arch!r}; choose one of {', '.join(ARCHS)} "
                f"(pretrain.backbone.arch)."
            )
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}.")
        if stem_stride not in (1, 2) or (stem_stride != 1 and not cifar_stem):
            raise ValueError(f"stem_stride must be 1, or 2 with the CIFAR stem; got {stem_stride} "
                             f"with cifar_stem={cifar_stem} (pretrain.backbone.stem_stride).")
        # torchvision here, not at the top: it imports torch._dynamo (about 2 s), which
        # importing the grading code does not need before a bundle is loaded
        import torchvision

        net = getattr(torchvision.models, arch)(weights=None)
        self.arch = arch
        self.in_channels = in_channels
        self.cifar_stem = cifar_stem
        self.stem_stride = stem_stride
        self.feature_dim: int = ARCHS[arch]
        if cifar_stem:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=stem_stride, padding=1,
                                   bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            if in_channels != 3:
                self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3,
                                       bias=False)
            else:
                self.conv1 = net.conv1
            self.maxpool = net.maxpool
        if self.conv1 is not net.conv1:
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = net.bn1
        self.relu = net.relu
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self._frozen_until: str | None = None

    # ---- stages ----------------------------------------------------------------------

    def _stem(self, x: Tensor) -> Tensor:
        return self._max_pool(self.relu(self.bn1(self.conv1(x))))

    def _max_pool(self, h: Tensor) -> Tensor:
        """The stem's ``maxpool`` on ``h`` ``(n, 64, H, W)``, through PyTorch's channels-last
        CPU kernel where that gives the very same bits faster.

        PyTorch pools an NCHW map that needs no gradient with its channels-first CPU kernel,
        which is not vectorised over channels; its channels-last kernel is. So a float32 or
        float64 NCHW map on the CPU that needs no gradient (the frozen backbone of the
        fine-tuning feature bank and of its predictions, UMM's frozen early stages, the k-NN
        monitor) is copied channels-last, pooled and copied back to NCHW: the layout the plain
        call gives and the same values bit for bit (a maximum rounds nothing; ties, signed
        zeros, infinities and NaNs of either sign included: tests/drac_ssl/test_models.py), in
        less time (``python -m bench.stem_pool``, ``bench/results/stem_pool.json``). Every other
        map goes to the module as it is: one that needs a gradient (there the backward's extra
        copies cost more than the forward saves), one already channels-last (the bundle's CPU
        layout, CUDA pretraining: that kernel already), bfloat16 / float16 (in bfloat16 the two
        kernels return NaNs with different bits), a GPU's (not measured); and the CIFAR stem's
        ``nn.Identity``. ``maxpool`` stays the registered module it was, so state dicts and
        forward hooks are unchanged.
        """
        if (isinstance(self.maxpool, nn.MaxPool2d) and not h.requires_grad and h.device.type == "cpu"
                and h.dtype in (torch.float32, torch.float64) and h.is_contiguous()
                and not h.is_contiguous(memory_format=torch.channels_last)):
            return self.maxpool(h.contiguous(memory_format=torch.channels_last)).contiguous()
        return self.maxpool(h)

    def _stage_index(self, cut: str) -> int:
        try:
            return self.stage_names.index(cut)
        except ValueError:
            raise ValueError(
                f"unknown stage {cut!r}; choose one of {', '.join(self.stage_names)}."
            ) from None

    def _stage(self, name: str) -> nn.Module:
        if name == "stem":
            return nn.ModuleList([self.conv1, self.bn1, self.relu, self.maxpool])
        return getattr(self, name)

    def _check_input(self, x: Tensor) -> None:
        """ValueError unless ``x`` is a batch ``(n, in_channels, H, W)``: PyTorch's own error
        for a grey network given RGB images ("expected input[2, 3, 32, 32] to have 1
        channels") names neither the setting nor the fix."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            given = (f"{x.shape[1]} channel(s)" if x.ndim == 4
                     else f"a {x.ndim}-d tensor, not a batch (n, C, H, W)")
            raise ValueError(
                f"Backbone({self.arch!r}, in_channels={self.in_channels}) expects images of shape "
                f"(n, {self.in_channels}, H, W); got shape {tuple(x.shape)}: {given}. Build it with "
                f"Backbone({self.arch!r}, in_channels={x.shape[1] if x.ndim == 4 else 'C'}) for such "
                f"images (in a config: pretrain.backbone.in_channels), or give it "
                f"{self.in_channels}-channel images (in_channels defaults to 1, grey UW-OCTA)."
            )

    def _run(self, h: Tensor, start: int, stop: int) -> Tensor:
        """Apply stages ``start <= i < stop`` (from the input, ``start == 0``: its shape is
        checked, :meth:`_check_input`)."""
        if start == 0:
            self._check_input(h)
        for i in range(start, stop):
            name = self.stage_names[i]
            h = self._stem(h) if name == "stem" else getattr(self, name)(h)
        return h

    def _pool(self, h: Tensor) -> Tensor:
        return torch.flatten(self.avgpool(h), 1)

    def run_stages(self, h: Tensor, start: int, stop: int) -> Tensor:
        """Stages ``start <= i < stop`` of :attr:`stage_names` applied to ``h``: the input
        ``(n, in_channels, H, W)`` when ``start == 0`` (its shape checked, ValueError as
        :meth:`forward`), else the map after stage ``start - 1``. Returns the map after stage
        ``stop - 1``, not pooled. ``run_stages(run_stages(x, 0, k), k, m)`` performs the same
        operations in the same order as ``run_stages(x, 0, m)``, so the two are bit-identical."""
        return self._run(h, start, stop)

    def stage_digests(self) -> tuple[str, ...]:
        """One SHA-256 hex digest per stage of :attr:`stage_names`, cumulative: the ``k``-th
        covers the architecture (:attr:`architecture`) and the name, dtype, shape and bytes of
        every parameter and buffer (BatchNorm running statistics included) of the stages up to
        and including the ``k``-th. Two backbones whose ``k``-th digests are equal compute the
        same map after stage ``k`` from the same input in eval mode (the fine-tuning's frozen
        feature banks share such maps across variants, e.g. a UMM backbone whose trainable cut
        left the earlier stages as pretraining's)."""
        digest = hashlib.sha256(repr(tuple(self.architecture)).encode())
        out: list[str] = []
        for name in self.stage_names:
            for key, t in self._stage(name).state_dict().items():
                t = t.detach().to("cpu").contiguous()
                digest.update(f"{name}.{key}:{t.dtype}:{tuple(t.shape)};".encode())
                digest.update(t.reshape(-1).view(torch.uint8).numpy())  # its buffer: no copy
            out.append(digest.copy().hexdigest())
        return tuple(out)

    def forward(self, x: Tensor) -> Tensor:
        """``(n, in_channels, H, W) -> (n, feature_dim)`` globally average-pooled features."""
        return self._pool(self._run(x, 0, len(self.stage_names)))

    def forward_until(self, x: Tensor, cut: str) -> Tensor:
        """Feature map ``(n, C, H', W')`` after stage ``cut`` (inclusive)."""
        return self._run(x, 0, self._stage_index(cut) + 1)

    def forward_from(self, h: Tensor, cut: str) -> Tensor:
        """The stages after ``cut`` on feature map ``h``, then pooled: ``(n, feature_dim)``.

        ``forward(x) == forward_from(forward_until(x, cut), cut)`` for every cut.
        """
        return self._pool(self._run(h, self._stage_index(cut) + 1, len(self.stage_names)))

    def forward_stages(self, x: Tensor) -> dict[str, Tensor]:
        """Globally average-pooled features of every stage: ``{name: (n, C_stage)}``.

        Channel widths for resnet18/34: stem 64, layer1 64, layer2 128, layer3 256,
        layer4 512 (resnet50: 64, 256, 512, 1024, 2048).
        """
        out: dict[str, Tensor] = {}
        h = x
        for i, name in enumerate(self.stage_names):
            h = self._run(h, i, i + 1)
            out[name] = self._pool(h)
        return out

    def stage_modules(self, after: str) -> list[nn.Module]:
        """The stage modules after the cut ``after`` (the layers UMM re-tunes)."""
        return [self._stage(n) for n in self.stage_names[self._stage_index(after) + 1:]]

    # ---- freezing --------------------------------------------------------------------

    def freeze_until(self, cut: str) -> None:
        """Freeze every stage up to and including ``cut``.

        Their parameters get ``requires_grad=False`` and the modules are put in eval mode
        (BatchNorm running statistics stay fixed); :meth:`train` keeps them in eval mode.
        """
        last = self._stage_index(cut)
        self.unfreeze()
        for name in self.stage_names[: last + 1]:
            module = self._stage(name)
            for p in module.parameters():
                p.requires_grad_(False)
            module.eval()
        self._frozen_until = cut

    def unfreeze(self) -> None:
        """Undo :meth:`freeze_until`: every parameter trainable again."""
        for p in self.parameters():
            p.requires_grad_(True)
        self._frozen_until = None
        self.train(self.training)

    @property
    def frozen_until(self) -> str | None:
        """The stage frozen up to (inclusive), or None."""
        return self._frozen_until

    @property
    def architecture(self) -> BackboneArchitecture:
        """What builds another backbone like this one (its weights aside)."""
        return BackboneArchitecture(self.arch, self.in_channels, self.cifar_stem, self.stem_stride)

    def train(self, mode: bool = True) -> Backbone:
        """``nn.Module.train(mode)``, but the stages frozen by :meth:`freeze_until` stay in
        eval mode (their BatchNorm statistics fixed). Returns ``self``."""
        super().train(mode)
        if self._frozen_until is not None:
            for name in self.stage_names[: self._stage_index(self._frozen_until) + 1]:
                self._stage(name).eval()
        return self


class BackboneArchitecture(NamedTuple):
    """What builds a :class:`Backbone`, as a pretrained backbone's ``metadata.json`` records it
    (written by :mod:`drac_ssl.pretrain` and the UMM stage: ``architecture.backbone``,
    ``architecture.cifar_stem``, ``architecture.stem_stride``, ``input.channels``).

    The one reader of that record: fine-tuning, the UMM source check and the benchmarks all
    build the backbone a weights file was trained with through :meth:`from_metadata`.
    """

    arch: str
    in_channels: int
    cifar_stem: bool
    stem_stride: int = 1

    @classmethod
    def from_config(cls, cfg: BackboneConfig, data_channels: int = 1) -> BackboneArchitecture:
        """The configured architecture (``in_channels`` 0 = ``data_channels``)."""
        return cls(cfg.arch, cfg.in_channels or data_channels, bool(cfg.cifar_stem), int(cfg.stem_stride))

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any],
                      fallback: BackboneArchitecture | None = None) -> BackboneArchitecture:
        """The architecture a ``metadata.json`` (parsed) records.

        Args:
            meta: the parsed file.
            fallback: where a key is absent, its value from here; ``None``: an absent key
                raises. ``stem_stride`` is the exception: metadata written before the setting
                existed had only stride 1, so an absent stride is 1 either way.

        Raises:
            KeyError: a key is absent and there is no ``fallback``.
            TypeError, ValueError: not a JSON object, or a recorded value of the wrong type.
        """
        if not isinstance(meta, Mapping):
            raise TypeError(f"metadata must be a JSON object, not {type(meta).__name__}")
        recorded, given = meta.get("architecture") or {}, meta.get("input") or {}
        if not isinstance(recorded, Mapping) or not isinstance(given, Mapping):
            raise TypeError("metadata 'architecture' and 'input' must be JSON objects")
        channels = given.get("channels")
        if fallback is None:
            missing = [k for k, v in (("architecture.backbone", recorded.get("backbone")),
                                      ("architecture.cifar_stem", recorded.get("cifar_stem")),
                                      ("input.channels", channels)) if v is None]
            if missing:
                raise KeyError(f"metadata lacks {', '.join(missing)}")
            fallback = cls("", 0, False)
        return cls(str(recorded.get("backbone", fallback.arch)),
                   int(channels if channels is not None else fallback.in_channels),
                   bool(recorded.get("cifar_stem", fallback.cifar_stem)),
                   int(recorded.get("stem_stride", 1)))

    def build(self) -> Backbone:
        """A randomly initialised :class:`Backbone` of this architecture."""
        return Backbone(self.arch, in_channels=self.in_channels, cifar_stem=self.cifar_stem,
                        stem_stride=self.stem_stride)


class PartialLoadWarning(UserWarning):
    """:func:`load_local_weights` left keys of the file unused (a classifier ``fc.*``, an
    expander) or of the module unfilled: a UserWarning, so that a caller that expects it (a
    check that loads a backbone only to see that it fits) silences this one warning by its
    category and no other (a library's deprecation notice still shows)."""


class LoadReport(NamedTuple):
    """What :func:`load_local_weights` could not match (empty lists: a perfect match)."""

    missing: list[str]
    unexpected: list[str]
    source: str = ""
    """Where in the file the loaded tensors were (``''``: top level; ``'state_dict.backbone'``,
    ``'teacher.backbone'`` ...; wrapper prefixes ``module.``/``_orig_mod.`` not shown)."""


def load_local_weights(
    module: nn.Module, path: str | os.PathLike[str], strict: bool = True
) -> LoadReport:
    """Load a local weights file into ``module`` (never downloads anything).

    Any common layout loads (:mod:`drac_ssl.weights_file`): a plain state dict, a checkpoint
    wrapping it (``state_dict``, ``model``, ``teacher``/``student``, ``backbone``,
    ``encoder`` ..., next to optimizer state and numpy scalars), with ``module.`` (DDP) and
    ``_orig_mod.`` (torch.compile) prefixes, owner prefixes (``backbone.``,
    ``module.encoder_q.``; e.g. a whole :class:`VICRegModel` checkpoint into a
    :class:`Backbone`), a ResNet saved as an ``nn.Sequential`` of its children, or a
    safetensors file; ``.pt``-style files are read with ``torch.load(weights_only=True)``.
    The part of the file under the prefix that holds most of ``module``'s keys is loaded.

    Args:
        module: the module to fill.
        path: the weights file.
        strict: raise when keys of ``module`` are missing from the file. Unexpected keys in
            the file (e.g. a classifier ``fc.*``, an expander, optimizer state) only give a
            warning (:class:`PartialLoadWarning`).

    Returns:
        :class:`LoadReport` with the missing and unexpected keys (unexpected: every tensor of
        the file that was not loaded, less optimizer/scheduler/RNG state).

    Raises:
        FileNotFoundError: the file does not exist.
        WeightsFileError (a ValueError): not a weights file, damaged, or it needs code
            unpickled (the message names what it holds and how to re-save its weights).
        ValueError: shape mismatch (with a hint, e.g. ``in_channels``), no key in common, or
            missing keys with ``strict=True``.
    """
    p = Path(path)
    own = module.state_dict()
    tensors = read_weights_file(p)
    match = match_weights(tensors, own)
    state = match.state
    common = list(state)
    if not common:
        raise ValueError(
            f"{p}: no parameter name in common with {type(module).__name__} (file keys like "
            f"{list(tensors)[:3]}, expected keys like {list(own)[:3]}). Is it a ResNet "
            f"backbone / {PRETRAIN_METHOD} checkpoint?"
        )
    mismatched = [k for k in common if state[k].shape != own[k].shape]
    if mismatched:
        lines = [f"  {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in mismatched[:8]]
        hints: list[str] = []
        conv1 = next((k for k in mismatched if k.endswith("conv1.weight")
                      and "layer" not in k), None)
        if conv1 is not None:
            f_shape, m_shape = state[conv1].shape, own[conv1].shape
            if f_shape[1] != m_shape[1]:
                hints.append(
                    f"the file's first conv takes {f_shape[1]} input channel(s), the model "
                    f"{m_shape[1]}: set pretrain.backbone.in_channels={f_shape[1]} (or convert "
                    f"the images to match)."
                )
            if f_shape[-1] != m_shape[-1]:
                hints.append(
                    f"the file's stem conv is {f_shape[-1]}x{f_shape[-1]}, the model's "
                    f"{m_shape[-1]}x{m_shape[-1]}: set pretrain.backbone.cifar_stem="
                    f"{'true' if f_shape[-1] == 3 else 'false'}."
                )
        if not hints:
            hints.append("check pretrain.backbone.arch and the expander spec against the file.")
        raise ValueError(
            f"{p}: {len(mismatched)} tensor(s) have the wrong shape:\n" + "\n".join(lines)
            + "\n  fix: " + "\n  fix: ".join(hints)
        )
    result = module.load_state_dict(state, strict=False)
    report = LoadReport(list(result.missing_keys),
                        list(result.unexpected_keys) + match.unexpected + match.ignored,
                        match.prefix.rstrip("."))
    if report.missing and strict:
        raise ValueError(
            f"{p}: {len(report.missing)} key(s) of {type(module).__name__} are missing from the "
            f"file, e.g. {report.missing[:5]}. Pass strict=False to load the rest anyway."
        )
    if report.unexpected or report.missing:
        warnings.warn(PartialLoadWarning(
            f"{p}: loaded {len(common)} tensors"
            f"{f' from {report.source!r}' if report.source else ''}; ignored {len(report.unexpected)} unexpected "
            f"key(s) {report.unexpected[:5]}; {len(report.missing)} missing {report.missing[:5]}."),
            stacklevel=2,
        )
    return report


def build_backbone(cfg: BackboneConfig) -> Backbone:
    """Backbone from ``PretrainConfig.backbone``; loads ``cfg.weights`` when set (local only).

    ``cfg.in_channels`` 0 means "the data's channels": the stages resolve it from their data
    first (:func:`drac_ssl.config.with_data_channels`); without data it builds the package's
    default, a 1-channel (grey UW-OCTA) backbone.

    Raises:
        ValueError: a setting :class:`Backbone` refuses (``arch``, ``stem_stride``).
        FileNotFoundError, WeightsFileError, ValueError: ``cfg.weights`` unreadable or not
            matching, as :func:`load_local_weights` raises them.
    """
    backbone = Backbone(cfg.arch, in_channels=cfg.in_channels or 1, cifar_stem=cfg.cifar_stem,
                        stem_stride=cfg.stem_stride)
    if cfg.weights:
        load_local_weights(backbone, cfg.weights)
    return backbone


class Expander(nn.Module):
    """VICReg expander (projector) MLP ``(n, in_dim) -> (n, out_dim)``.

    ``spec`` lists the widths of the hidden and output layers, e.g. ``"8192-8192-8192"``
    (official ImageNet), ``"2048-2048-2048"`` (CIFAR), ``"128-128-128"`` (DRAC). As in the
    official code, every layer but the last is Linear + BatchNorm1d + ReLU, and the last is
    a Linear without bias.

    Raises:
        ValueError: ``in_dim`` < 1, or a ``spec`` that is not positive widths joined by ``-``
            (:func:`parse_expander_spec`).
    """

    def __init__(self, in_dim: int, spec: str) -> None:
        super().__init__()
        widths = parse_expander_spec(spec)
        if in_dim < 1:
            raise ValueError(f"Expander in_dim must be >= 1, got {in_dim}.")
        dims = [in_dim, *widths]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 2):
            layers += [nn.Linear(dims[i], dims[i + 1]), nn.BatchNorm1d(dims[i + 1]),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-2], dims[-1], bias=False))
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.out_dim: int = widths[-1]
        self.spec = spec

    def forward(self, h: Tensor) -> Tensor:
        """Features ``(n, in_dim)`` -> embedding ``(n, out_dim)``, float as ``h``. In training
        mode BatchNorm needs ``n >= 2`` (PyTorch's ValueError otherwise); a width other than
        ``in_dim`` is PyTorch's RuntimeError."""
        return self.net(h)


def parse_expander_spec(spec: str) -> list[int]:
    """``"2048-2048-2048" -> [2048, 2048, 2048]``; ValueError for anything else."""
    parts = str(spec).strip().split("-")
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        widths = []
    if not widths or any(w < 1 for w in widths):
        raise ValueError(
            f"bad expander spec {spec!r}: write the positive layer widths joined by '-', "
            f"e.g. pretrain.expander=2048-2048-2048 (hidden..output)."
        )
    return widths


class VICRegModel(nn.Module):
    """Backbone + expander. ``forward(x) -> (features (n, feature_dim), embedding (n, out_dim))``.

    The features (pre-expander) are what downstream tasks use; the embedding feeds the loss.

    Raises:
        ValueError: ``expander.in_dim`` is not ``backbone.feature_dim`` (checked here, not at
            the first batch).
    """

    def __init__(self, backbone: Backbone, expander: Expander) -> None:
        super().__init__()
        feature_dim = getattr(backbone, "feature_dim", None)
        if feature_dim is not None and expander.in_dim != feature_dim:
            raise ValueError(
                f"{type(self).__name__}: the expander takes {expander.in_dim} features but the "
                f"backbone "
                f"({getattr(backbone, 'arch', type(backbone).__name__)}) gives {feature_dim}; "
                f"build it as Expander(backbone.feature_dim, {expander.spec!r}).")
        self.backbone = backbone
        self.expander = expander

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images ``(n, in_channels, H, W)`` (normalised as :class:`Backbone` says) ->
        ``(features (n, feature_dim), embedding (n, out_dim))``; ValueError as
        :meth:`Backbone.forward` for a batch of other channels."""
        features = self.backbone(x)
        return features, self.expander(features)


def build_vicreg_model(pcfg: PretrainConfig) -> VICRegModel:
    """VICReg model from a :class:`~drac_ssl.config.PretrainConfig`: :func:`build_backbone` of
    ``pcfg.backbone`` and an :class:`Expander` of ``pcfg.expander`` on its features.

    Raises:
        ValueError, FileNotFoundError, WeightsFileError: as :func:`build_backbone` and
            :class:`Expander` raise them (a bad ``pcfg.expander`` spec included).
    """
    backbone = build_backbone(pcfg.backbone)
    return VICRegModel(backbone, Expander(backbone.feature_dim, pcfg.expander))
