"""Two-view augmentation for VICReg, on the CPU (albumentations) or batched on the device.

One :class:`ViewRecipe` per ``AugmentConfig.recipe`` holds every probability and range, and
both paths are built from it, so the CPU and the GPU pipelines draw from the same
distribution, up to interpolation details (the GPU path has no antialiasing) and one border:
``reflect`` (the octa recipe's rotated corners) is OpenCV's ``BORDER_REFLECT_101`` on the CPU
(``gfedcb|abcdefgh``: the edge pixel not repeated) and ``grid_sample``'s ``reflection`` at
``align_corners=False`` on the GPU, which is OpenCV's ``BORDER_REFLECT`` (``fedcba|abcdefgh``:
the edge pixel repeated), so the reflected fill is one pixel apart (:data:`_BORDERS`; pinned by
``tests/drac_ssl/test_augment.py``). ``zeros`` and ``replicate`` are the same on both:

- ``octa`` (UW-OCTA, 1 channel): random resized crop from the cached ``source_size`` image
  to ``image_size``, horizontal and vertical flips, a random multiple of 90 degrees, a
  small rotation (+-15 degrees, reflected border), brightness/contrast and gamma, Gaussian
  blur (p 0.2) and Gaussian noise (p 0.2). No colour: OCTA stays 1 channel.
- ``fundus`` (colour fundus photographs, 3 channels; grey data gets the grey part): random
  resized crop, horizontal and vertical flips, a rotation by any angle (a fundus photograph
  has no preferred orientation: the disc is round and left and right eyes are mirror
  images). The rotation follows the crop: on the CPU path the view's corners are filled
  with a constant (black; 128 for Graham-filtered images, :func:`graham_fill`), wedges that
  cut into the retina when the crop lies inside the disc; the GPU path samples the rotated
  crop from the whole image, filling only where it leaves the image. Rotating before the
  crop is untested here (docs/data.md, "Colour"). Then a mild colour jitter with
  p 0.8 (brightness, contrast and saturation 0.2: camera and pigmentation differences).
  No hue shift: hue carries the lesions (a haemorrhage's red, an exudate's yellow); on
  RetinaMNIST even 0.02 of a turn lowered the cross-validated AUC (``docs/retinamnist.md``). No
  greyscale, solarise, blur or noise by default: colour and fine detail (microaneurysms,
  exudates) carry the grade. Normalised with per-channel fundus statistics
  (:data:`drac_ssl.eval_input.FUNDUS_MEAN` / ``FUNDUS_STD``).
- ``cifar`` (solo-learn's VICReg CIFAR recipe, methods.md section 1): random resized crop
  (bicubic, as solo-learn), colour jitter (0.4, 0.4, 0.2, 0.1) with p 0.8 (the four in a
  random order, as torchvision), greyscale p 0.2,
  solarise p 0.1, horizontal flip p 0.5; the same distribution for both views (solo-learn's
  CIFAR recipe has no asymmetric blur/solarisation). docs/cifar10_recipe.md compares it
  line by line with solo-learn and lightly.
- ``mnist``: random resized crop and a small rotation (+-10 degrees); no flips (digits).

The crop scale comes from ``AugmentConfig.crop_scale`` for every recipe and the output size
from ``image_size``: a CIFAR-10 config should set ``crop_scale: [0.2, 1.0]`` and
``image_size: 32`` (MNIST: 28). Views are normalised with :func:`normalization_for`.

Reproducibility of the CPU path: albumentations 2.x ignores numpy's and Python's global
seeds; each ``Compose`` owns its RNG. A ``Compose`` is pickled into every DataLoader worker
with the same RNG state, so without care all workers would produce the same sequence of
augmentations. :class:`TwoViewDataset` therefore reseeds its transform in each worker from
``torch.utils.data.get_worker_info().seed`` (= ``torch.initial_seed()`` in the worker =
the DataLoader's base seed + worker id; the base seed is drawn from the DataLoader's
``generator`` or torch's global RNG at every epoch). Seeding torch (``torch.manual_seed``
or a seeded ``generator=``) thus makes the views reproducible for a fixed
``num_workers``. :func:`seed_worker` does the same explicitly and also seeds numpy and
``random``; pass it as ``worker_init_fn``. Stronger still, and what pretraining uses
(:class:`drac_ssl.pretrain.TwoViewFeed`): ``dataset[(i, seed)]`` reseeds the pipeline for
that one sample, so the views depend on (image, seed) only, not on which worker makes them
or how many there are; fine-tuning keys :class:`EvalDataset` the same way
(:func:`drac_ssl.finetune.view_keys`). (:func:`seed_worker` must not call ``cv2.setNumThreads``: that
deadlocks a forked worker; call ``cv2.setNumThreads(1)`` in the main process instead.) Note
that ``Compose(seed=...)`` seeds every transform with the same seed, so e.g. horizontal
and vertical flips always fire together; :func:`reseed_transform` shares one generator
across the whole pipeline instead.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset, get_worker_info

from drac_ssl.config import AugmentConfig
from drac_ssl.eval_input import (  # the deterministic input path, shared with inference
    LUMA,
    RECIPE_CHANNELS,
    RECIPES,  # noqa: F401 (re-exported: the recipe names)
    check_recipe,
    eval_transform,
    normalization_for,
    quiet_albumentations,
    stats_for,  # re-exported: drac_ssl.evaluation and the benches read it here
    to_chw,
)
from drac_ssl.starting import ignore_stop_signals_in_worker

A = quiet_albumentations()  # no "IProgress not found" in a Jupyter kernel (huggingface_hub's tqdm.auto)

# name -> (grid_sample padding_mode, OpenCV border). "reflect" is NOT the same fill on both:
# grid_sample's "reflection" (align_corners=False) reflects about the image's outer edge, so
# pixels -1, -2 read pixels 0, 1 (OpenCV's BORDER_REFLECT), while BORDER_REFLECT_101 reflects
# about the edge pixel's centre: pixels -1, -2 read 1, 2. A one-pixel shift of the octa
# recipe's rotated corners between the CPU and the GPU path; the CPU's is kept (the committed
# OCTA figures were made with it). tests/drac_ssl/test_augment.py pins both fills: a change of
# either side fails it, and this comment and the module docstring are to be updated with it.
_BORDERS = {"zeros": ("zeros", cv2.BORDER_CONSTANT), "reflect": ("reflection", cv2.BORDER_REFLECT_101),
            "replicate": ("border", cv2.BORDER_REPLICATE)}


@dataclass(frozen=True)
class ViewRecipe:
    """Every probability and range of one augmentation recipe (shared by CPU and GPU).

    Pixel values are in [0, 1] units. ``jitter_*`` follow torchvision's ``ColorJitter``
    (multiplicative brightness, contrast around the mean grey, saturation, hue as a
    fraction of a turn); ``bc_*`` follow albumentations' ``RandomBrightnessContrast``
    (``x * (1 + c) + b``).
    """

    name: str
    image_size: int
    crop_scale: tuple[float, float]
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    interpolation: str = "bilinear"  # bilinear | bicubic: resampling of the random resized crop
    hflip_p: float = 0.0
    vflip_p: float = 0.0
    rot90_p: float = 0.0  # when applied: k * 90 degrees with k uniform in 0..3
    rotate_p: float = 0.0
    rotate_degrees: float = 0.0
    jitter_p: float = 0.0
    jitter_brightness: float = 0.0
    jitter_contrast: float = 0.0
    jitter_saturation: float = 0.0
    jitter_hue: float = 0.0
    bc_p: float = 0.0
    bc_brightness: float = 0.0
    bc_contrast: float = 0.0
    gamma_p: float = 0.0
    gamma_range: tuple[float, float] = (1.0, 1.0)
    gray_p: float = 0.0
    solarize_p: float = 0.0
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    noise_p: float = 0.0
    noise_std: tuple[float, float] = (0.01, 0.05)
    # fill outside the image: zeros | reflect | replicate (rotated corners; and the taps of a
    # bicubic kernel at the edge, which PIL and OpenCV fill by replicating the edge pixels);
    # reflect is one pixel apart on the CPU and the GPU (see _BORDERS)
    border: str = "zeros"
    # with border "zeros": the constant level outside the image, in [0, 1] units (0: black;
    # 0.5 for Graham-filtered images, whose background is 128: graham_fill)
    fill: float = 0.0
    mean: tuple[float, ...] = field(default=(0.5,))
    std: tuple[float, ...] = field(default=(0.5,))

    def __post_init__(self) -> None:
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"interpolation must be bilinear or bicubic, got {self.interpolation!r}")
        if self.border not in _BORDERS:
            raise ValueError(f"border must be one of {', '.join(_BORDERS)}, got {self.border!r}")
        if not 0.0 <= self.fill <= 1.0:
            raise ValueError(f"fill must lie in [0, 1] (a level in [0, 1] units), got {self.fill!r}")

    def without_randomness(self) -> ViewRecipe:
        """The same recipe with every random operation switched off (for checks)."""
        return replace(
            self, crop_scale=(1.0, 1.0), hflip_p=0.0, vflip_p=0.0, rot90_p=0.0, rotate_p=0.0,
            jitter_p=0.0, bc_p=0.0, gamma_p=0.0, gray_p=0.0, solarize_p=0.0, blur_p=0.0,
            noise_p=0.0,
        )  # fmt: skip


def recipe_for(cfg: AugmentConfig, dataset: str | None = None) -> ViewRecipe:
    """The :class:`ViewRecipe` of ``cfg.recipe``; ``dataset`` (e.g. ``fashion_mnist``)
    picks that dataset's normalisation statistics instead of the recipe's."""
    check_recipe(cfg.recipe, cfg.crop_scale)
    mean, std = normalization_for(dataset or cfg.recipe)
    base = ViewRecipe(
        name=cfg.recipe,
        image_size=int(cfg.image_size),
        crop_scale=(float(cfg.crop_scale[0]), float(cfg.crop_scale[1])),
        mean=tuple(mean),
        std=tuple(std),
    )
    if cfg.recipe == "octa":
        return replace(
            base, hflip_p=0.5, vflip_p=0.5, rot90_p=1.0, rotate_p=0.5, rotate_degrees=15.0,
            bc_p=0.8, bc_brightness=0.2, bc_contrast=0.2, gamma_p=0.5, gamma_range=(0.8, 1.2),
            blur_p=0.2, blur_sigma=(0.1, 2.0), noise_p=0.2, noise_std=(0.01, 0.05),
            border="reflect",
        )  # fmt: skip
    if cfg.recipe == "fundus":
        return replace(
            base, hflip_p=0.5, vflip_p=0.5, rotate_p=1.0, rotate_degrees=180.0,
            jitter_p=0.8, jitter_brightness=0.2, jitter_contrast=0.2, jitter_saturation=0.2,
            jitter_hue=0.0, border="zeros",
        )  # fmt: skip
    if cfg.recipe == "cifar":
        # bicubic crops as solo-learn's CIFAR pipeline (torchvision RandomResizedCrop, BICUBIC)
        return replace(
            base, hflip_p=0.5, jitter_p=0.8, jitter_brightness=0.4, jitter_contrast=0.4,
            jitter_saturation=0.2, jitter_hue=0.1, gray_p=0.2, solarize_p=0.1,
            interpolation="bicubic", border="replicate",
        )  # fmt: skip
    return replace(base, rotate_p=0.5, rotate_degrees=10.0)


GRAHAM_BACKGROUND = 128
"""The level (of 255) of a Graham-filtered image's background and of its masked surround
(:func:`data_prep.fundus.graham`): what :func:`graham_fill` fills rotated corners with."""


def graham_fill(recipe: ViewRecipe, graham: bool) -> ViewRecipe:
    """``recipe`` whose rotated corners (border ``zeros``: the fundus recipe) are filled with the
    Graham filter's background :data:`GRAHAM_BACKGROUND` when the cached images are
    Graham-filtered (``data.graham``; a bundle's :attr:`~drac_ssl.grading.model.InputSpec.graham`):
    black corners on a mid-grey image are a hard false edge the filter left nowhere else.
    ``recipe`` unchanged otherwise (black, as every run without the filter)."""
    if not graham or recipe.border != "zeros":
        return recipe
    return replace(recipe, fill=GRAHAM_BACKGROUND / 255.0)


# --------------------------------------------------------------------------------------
# CPU path (albumentations)


def build_view_transform(
    cfg: AugmentConfig,
    channels: int | None = None,
    recipe: ViewRecipe | None = None,
    seed: int | None = None,
) -> A.Compose:
    """One random view: an albumentations pipeline from uint8 ``(H,W)``/``(H,W,3)`` to
    float32 normalised ``(S,S)``/``(S,S,3)``.

    ``channels`` defaults to the recipe's (octa/mnist 1, fundus/cifar 3; pass the data's);
    with 1 channel the
    colour-only operations (saturation, hue, greyscale) are left out. ``recipe`` overrides
    :func:`recipe_for`; ``seed`` seeds the pipeline (see :func:`reseed_transform`).
    """
    r = recipe or recipe_for(cfg)
    c = channels or RECIPE_CHANNELS[r.name]  # a grey recipe on colour data: the preflight warns
    size = (r.image_size, r.image_size)
    border = _BORDERS[r.border][1]
    interpolation = cv2.INTER_CUBIC if r.interpolation == "bicubic" else cv2.INTER_LINEAR
    ops: list[Any] = [
        A.RandomResizedCrop(
            size=size, scale=r.crop_scale, ratio=r.crop_ratio,
            interpolation=interpolation, area_for_downscale="image",
        )
    ]  # fmt: skip
    if r.hflip_p > 0:
        ops.append(A.HorizontalFlip(p=r.hflip_p))
    if r.vflip_p > 0:
        ops.append(A.VerticalFlip(p=r.vflip_p))
    if r.rot90_p > 0:
        ops.append(A.RandomRotate90(p=r.rot90_p))
    if r.rotate_p > 0 and r.rotate_degrees > 0:
        ops.append(
            A.Affine(
                rotate=(-r.rotate_degrees, r.rotate_degrees), border_mode=border,
                fill=round(255 * r.fill), p=r.rotate_p,
            )
        )
    if r.jitter_p > 0:
        colour = c == 3
        ops.append(
            A.ColorJitter(
                brightness=r.jitter_brightness, contrast=r.jitter_contrast,
                saturation=r.jitter_saturation if colour else 0.0,
                hue=r.jitter_hue if colour else 0.0, p=r.jitter_p,
            )
        )  # fmt: skip
    if r.bc_p > 0:
        ops.append(
            A.RandomBrightnessContrast(
                brightness_limit=r.bc_brightness, contrast_limit=r.bc_contrast, p=r.bc_p
            )
        )
    if r.gamma_p > 0:
        low, high = r.gamma_range
        ops.append(A.RandomGamma(gamma_limit=(100 * low, 100 * high), p=r.gamma_p))
    if r.gray_p > 0 and c == 3:
        ops.append(A.ToGray(num_output_channels=3, p=r.gray_p))
    if r.solarize_p > 0:
        ops.append(A.Solarize(threshold_range=(0.5, 0.5), p=r.solarize_p))
    if r.blur_p > 0:
        ops.append(A.GaussianBlur(blur_limit=0, sigma_limit=r.blur_sigma, p=r.blur_p))
    if r.noise_p > 0:
        ops.append(A.GaussNoise(std_range=r.noise_std, p=r.noise_p))
    ops.append(
        A.Normalize(mean=stats_for(r.mean, c), std=stats_for(r.std, c), max_pixel_value=255.0)
    )
    transform = A.Compose(ops)
    if seed is not None:
        reseed_transform(transform, seed)
    return transform


def build_eval_transform(
    cfg: AugmentConfig, channels: int | None = None, recipe: ViewRecipe | None = None
) -> A.Compose:
    """Deterministic preprocessing for evaluation / k-NN: resize to ``image_size`` with
    ``cv2.INTER_AREA`` (an exact copy when the size already matches, as for CIFAR-10 at 32
    and MNIST at 28) and normalise like the views: :func:`drac_ssl.eval_input.eval_transform`,
    the pipeline inference builds from a bundle's recorded input format too. No random
    operation."""
    r = recipe or recipe_for(cfg)
    c = channels or RECIPE_CHANNELS[r.name]
    return eval_transform(r.image_size, c, r.mean, r.std)


def reseed_transform(transform: A.BaseCompose, seed: int) -> None:
    """Seed an albumentations pipeline with ONE generator shared by all its transforms.

    (``Compose.set_random_seed`` gives every transform its own generator with the same
    seed, which correlates their decisions.)
    """
    seed = int(seed) % 2**32
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


class _ArrayBacked(Dataset):
    """Shared parts: index mapping, memmap-aware pickling, per-worker reseeding."""

    def __init__(self, images: np.ndarray, transform: A.BaseCompose, indices: np.ndarray | None) -> None:
        if images.ndim not in (3, 4):
            raise ValueError(f"images must be (N,H,W) or (N,H,W,C), got shape {images.shape}")
        self.images = images
        self.transform = transform
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self._seeded_for: int | None = None

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else int(self.images.shape[0])

    def _image(self, i: int) -> np.ndarray:
        row = int(self.indices[i]) if self.indices is not None else int(i)
        return np.array(self.images[row])  # a private copy, also out of a np.memmap

    def reseed(self, seed: int) -> None:
        """Seed the transform (done automatically once per DataLoader worker)."""
        reseed_transform(self.transform, seed)
        self._seeded_for = int(seed)

    def _ensure_worker_seed(self) -> None:
        info = get_worker_info()
        if info is not None and self._seeded_for != info.seed:
            self.reseed(info.seed)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        images = self.images
        filename = getattr(images, "filename", None)
        if isinstance(images, np.memmap) and filename and str(filename).endswith(".npy"):
            # Re-open the file in the worker instead of pickling the whole array.
            try:
                reopened = np.load(filename, mmap_mode="r")
                same = (
                    reopened.shape == images.shape
                    and reopened.dtype == images.dtype
                    and reopened.strides == images.strides
                )
            except (OSError, ValueError):
                same = False
            if same:
                state["images"] = None
                state["_memmap_file"] = str(filename)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        filename = state.pop("_memmap_file", None)
        self.__dict__.update(state)
        if filename is not None:
            self.images = np.load(filename, mmap_mode="r")


class TwoViewDataset(_ArrayBacked):
    """``dataset[i] -> (view_a, view_b)``: two independent random views of image ``i``.

    ``images`` is uint8 ``(N,H,W)`` (grey, views ``(1,S,S)``) or ``(N,H,W,3)`` (views
    ``(3,S,S)``), an ndarray or a ``np.memmap`` (only the requested row is read and
    copied). ``transform`` is :func:`build_view_transform`'s pipeline; ``indices`` selects
    a subset (e.g. the training rows of the OCTA cache). ``seed`` seeds the transform in
    this process; DataLoader workers reseed themselves (see the module docstring).
    Picklable: a memmap loaded from ``.npy`` is reopened in the worker, not copied.
    """

    def __init__(
        self,
        images: np.ndarray,
        transform: A.BaseCompose,
        indices: np.ndarray | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(images, transform, indices)
        if seed is not None:
            reseed_transform(self.transform, seed)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
        """``dataset[i]``: views drawn from the transform's running generator (reseeded once
        per worker); ``dataset[(i, seed)]``: views that depend only on image ``i`` and
        ``seed`` (the transform is reseeded first, ~60 us), whichever worker makes them."""
        if isinstance(key, tuple):
            i, seed = key
            reseed_transform(self.transform, seed)
        else:
            i = key
            self._ensure_worker_seed()
        image = self._image(i)
        view_a = self.transform(image=image)["image"]
        view_b = self.transform(image=image)["image"]
        return to_chw(view_a), to_chw(view_b)


class EvalDataset(_ArrayBacked):
    """``dataset[i] -> (tensor (C,S,S), label)`` with deterministic preprocessing
    (:func:`build_eval_transform`); ``label`` is -1 when ``labels`` is None.

    With a random pipeline (fine-tuning's training views, :func:`build_view_transform`) key it
    as ``dataset[(i, seed)]``: the transform is reseeded for that one sample first, so the view
    depends on image ``i`` and ``seed`` only, not on which DataLoader worker makes it or how
    many there are (:class:`TwoViewDataset`'s rule). ``dataset[i]`` draws from the
    transform's running generator, which :func:`seed_worker` reseeds once per worker."""

    def __init__(
        self,
        images: np.ndarray,
        transform: A.BaseCompose,
        labels: np.ndarray | None = None,
        indices: np.ndarray | None = None,
    ) -> None:
        super().__init__(images, transform, indices)
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int]:
        if isinstance(key, tuple):
            i, seed = key
            reseed_transform(self.transform, seed)
        else:
            i = key
        image = self._image(i)
        row = int(self.indices[i]) if self.indices is not None else int(i)
        label = -1 if self.labels is None else int(self.labels[row])
        return to_chw(self.transform(image=image)["image"]), label


def _reseed_tree(dataset: Any, seed: int) -> None:
    if hasattr(dataset, "reseed"):
        dataset.reseed(seed)
    if hasattr(dataset, "dataset"):  # torch Subset
        _reseed_tree(dataset.dataset, seed)
    for child in getattr(dataset, "datasets", []) or []:  # ConcatDataset
        _reseed_tree(child, seed)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoaders over :class:`TwoViewDataset`.

    Seeds numpy, ``random`` and the dataset's albumentations pipeline from
    ``torch.initial_seed()`` (which the DataLoader set to base seed + ``worker_id``), and
    ignores Ctrl-C and exits quietly (status 0) on SIGTERM
    (:func:`drac_ssl.starting.ignore_stop_signals_in_worker`: the main process stops on them
    and ends its workers).

    It deliberately does not call ``cv2.setNumThreads`` here: in a forked worker whose
    parent already ran a multi-threaded OpenCV operation that call deadlocks (measured
    with opencv-python-headless 4.x). To keep OpenCV from oversubscribing the cores, call
    ``cv2.setNumThreads(1)`` in the main process before the DataLoader starts.
    """
    ignore_stop_signals_in_worker(worker_id)  # the main process stops on Ctrl-C / SIGTERM and ends us
    seed = torch.initial_seed() % 2**32  # worker_id: already folded into torch.initial_seed()
    np.random.seed(seed)
    random.seed(seed)
    info = get_worker_info()
    if info is not None:
        _reseed_tree(info.dataset, info.seed)


# --------------------------------------------------------------------------------------
# GPU path (batched tensor ops)


def to_device_uint8(images: np.ndarray, device: torch.device | str) -> Tensor:
    """uint8 ``(N,H,W)`` or ``(N,H,W,C)`` -> uint8 tensor ``(N,C,H,W)`` on ``device``
    (grey gets a channel axis, RGB is permuted on the device)."""
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"expected uint8 (N,H,W) or (N,H,W,C), got {images.dtype} {images.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    if tensor.ndim == 3:
        return tensor.unsqueeze(1)
    return tensor.permute(0, 3, 1, 2).contiguous()


def prepare_images(
    images: np.ndarray | Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    image_size: int,
    device: torch.device | str,
) -> torch.Tensor:
    """uint8 ``(N,H,W)`` / ``(N,H,W,3)`` -> normalised float ``(N,C,S,S)`` on ``device``.

    ``images`` may also be a uint8 tensor ``(N,C,H,W)`` (e.g. from :func:`to_device_uint8`,
    kept on the device so that a monitor run every few epochs copies nothing from the host).

    The deterministic preprocessing of evaluation (:func:`drac_ssl.pretrain.embed_images`,
    the low-label protocol): divide by 255, bilinear (antialiased) resize to ``image_size``
    when needed, subtract ``mean`` and divide by ``std``. Not the resize of
    :func:`drac_ssl.eval_input.eval_transform` (``cv2.INTER_AREA``), which the fine-tuning
    and inference read: where a resize happens the two differ slightly (512 -> 224 px, a
    blurred random grey image: max 3.55, mean 0.52 grey levels; a hand comparison, not a
    bench figure), so a k-NN monitor or low-label figure and a fine-tuned model's see
    slightly different inputs of one image; none where the size already matches (MNIST,
    CIFAR-10). ``mean`` / ``std``: ``C`` values each (one per channel,
    in the images' channel order) or one value for every channel. A recipe's statistics
    (:func:`drac_ssl.eval_input.normalization_for`) are for its own channels: convert them
    with :func:`stats_for` (e.g. RGB statistics for grey images).

    Raises:
        ValueError: a tensor that is not uint8 ``(N,C,H,W)``, an array of another shape
            or dtype (:func:`to_device_uint8`), or ``mean`` / ``std`` whose length is neither ``C``
            nor 1 (grey images with RGB statistics would broadcast to ``(N,3,S,S)``).
    """
    if isinstance(images, Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected a uint8 (N,C,H,W) tensor, got {images.dtype} {tuple(images.shape)}")
        x = images.to(device).float() / 255.0
    else:
        x = to_device_uint8(np.asarray(images), device).float() / 255.0
    channels = int(x.shape[1])
    if len(mean) not in (1, channels) or len(std) not in (1, channels):
        raise ValueError(
            f"prepare_images: {len(mean)} mean and {len(std)} std value(s) for images of {channels} "
            f"channel(s); pass {channels} value(s) each (one per channel) or 1 for all: "
            f"drac_ssl.augment.stats_for(values, {channels}) converts a recipe's statistics")
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                          align_corners=False)
    mean_t = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def _gaussian_kernels(sigma: Tensor, radius: int) -> Tensor:
    """(B,) sigmas -> (B, 2*radius+1) normalised 1-D Gaussian kernels."""
    t = torch.arange(-radius, radius + 1, device=sigma.device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None] / sigma[:, None].clamp_min(1e-3)) ** 2)
    return k / k.sum(dim=1, keepdim=True)


class RandomDraws:
    """All the uniform numbers one augmentation pass needs, drawn by one kernel.

    ``rows`` x ``n`` numbers in [0, 1); the steps take rows in a fixed order, so a seeded
    generator gives the same views. One draw instead of ~40 small ones matters on a GPU,
    where each launch costs more than the arithmetic of a batch of parameters.
    """

    ROWS = 52  # octa takes 37, cifar 39, every step switched on 48 (a test checks the last)

    def __init__(self, n: int, gen: torch.Generator | None, device: torch.device) -> None:
        gen_device = gen.device if gen is not None else device
        self.u = torch.rand((self.ROWS, n), generator=gen, device=gen_device).to(device)
        self.taken = 0

    def take(self, k: int = 1) -> Tensor:
        """The next ``k`` rows: ``(n,)`` for one, ``(k, n)`` for more."""
        if self.taken + k > self.ROWS:
            raise RuntimeError(f"RandomDraws holds {self.ROWS} rows of random numbers and {self.taken + k} "
                               f"were asked for: raise RandomDraws.ROWS")
        rows = self.u[self.taken : self.taken + k]
        self.taken += k
        return rows[0] if k == 1 else rows

    def uniform(self, low: float, high: float) -> Tensor:
        return low + (high - low) * self.take()

    def coin(self, p: float) -> Tensor:
        return self.take() < p


class GpuTwoViewAugment(nn.Module):
    """Batched two-view augmentation on the device: ``(view_a, view_b) = aug(batch_uint8)``.

    Input uint8 ``(B,C,H,W)`` (or float in [0, 1]) on any device; output two float32
    ``(B,C,S,S)`` tensors normalised like the CPU path. Every sample draws its own
    parameters and the batch is processed without a Python loop over samples:

    1. Geometry, one ``F.affine_grid`` + ``F.grid_sample`` (the recipe's ``interpolation``:
       bilinear, or bicubic clamped to [0, 1] for cifar) per view: random
       resized crop (torchvision's sampling: 10 vectorised tries of area and log-aspect,
       the whole image when none fits), flips, rot90 and a small rotation applied in output
       space. No antialiasing: a large downscale (octa 512 -> 224 at small crop scale)
       aliases slightly more than the CPU path's area interpolation. The ``reflect`` border
       (octa) is ``grid_sample``'s ``reflection``, OpenCV's ``BORDER_REFLECT``, where the CPU
       path uses ``BORDER_REFLECT_101``: the fill of rotated corners is one pixel apart
       (:data:`_BORDERS`).
    2. Colour jitter with probability ``jitter_p``, brightness, contrast, saturation and
       hue in a random order per sample, as torchvision (:meth:`_jitter`). Hue is a
       rotation of the chroma plane in YIQ space by ``2 * pi * h``, ``h`` drawn uniform in
       ``-jitter_hue..jitter_hue``: not torchvision's HSV hue shift, nor close to it (see
       :meth:`_jitter`). Brightness/contrast (albumentations semantics) and gamma for
       octa.
    3. Greyscale (BT.601 luma, kept 3 channels) and solarise (invert values >= 0.5).
    4. Gaussian blur by a separable grouped convolution with a per-sample sigma (samples
       that are not blurred get a delta kernel), Gaussian noise with a per-sample std.
    5. Normalise with the recipe's mean/std.

    Random numbers come from ``generator`` (for speed, on the batch's device) or torch's
    global RNG; the same seeded generator gives the same views.
    """

    def __init__(self, cfg: AugmentConfig, channels: int, recipe: ViewRecipe | None = None) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.recipe = recipe or recipe_for(cfg)
        self.channels = channels
        mean = torch.tensor(stats_for(self.recipe.mean, channels), dtype=torch.float32)
        std = torch.tensor(stats_for(self.recipe.std, channels), dtype=torch.float32)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)
        self.register_buffer(
            "luma", torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        rgb_to_yiq = torch.tensor(
            [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
            dtype=torch.float32,
        )
        self.register_buffer("rgb_to_yiq", rgb_to_yiq, persistent=False)
        self.register_buffer("yiq_to_rgb", torch.linalg.inv(rgb_to_yiq), persistent=False)

    # ---- the steps ------------------------------------------------------------------

    def _crop_boxes(self, draws: RandomDraws, height: int, width: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Crop half-sizes and centres in normalised coordinates ([-1, 1] = full image)."""
        r = self.recipe
        tries = 10
        area = r.crop_scale[0] + (r.crop_scale[1] - r.crop_scale[0]) * draws.take(tries).T
        log_lo, log_hi = math.log(r.crop_ratio[0]), math.log(r.crop_ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * draws.take(tries).T)
        w = torch.sqrt(area * aspect * height / width)  # fraction of the image width
        h = torch.sqrt(area / aspect * width / height)
        ok = (w <= 1.0) & (h <= 1.0)
        first = torch.argmax(ok.to(torch.int8), dim=1, keepdim=True)
        any_ok = ok.any(dim=1)
        w = torch.where(any_ok, w.gather(1, first).squeeze(1), torch.ones_like(any_ok, dtype=w.dtype))
        h = torch.where(any_ok, h.gather(1, first).squeeze(1), torch.ones_like(any_ok, dtype=h.dtype))
        cx = (1.0 - w) * (2.0 * draws.take() - 1.0)
        cy = (1.0 - h) * (2.0 * draws.take() - 1.0)
        return w, h, cx, cy

    @property
    def _fill(self) -> float:
        """The constant level outside the image (``recipe.fill`` with border ``zeros``; else 0)."""
        return self.recipe.fill if self.recipe.border == "zeros" else 0.0

    def _geometry(self, x: Tensor, draws: RandomDraws, copies: int = 1, shifted: bool = False) -> Tensor:
        """``copies`` geometric views of each image: ``(copies * B, C, S, S)``, copy-major.
        ``shifted``: ``x`` already holds ``x - fill`` (:meth:`forward`'s own copy of a uint8
        batch, shifted in place), so no second copy of the source batch is made here."""
        r = self.recipe
        batch, _, height, width = x.shape
        n = copies * batch
        w, h, cx, cy = self._crop_boxes(draws, height, width)
        fx = torch.where(draws.coin(r.hflip_p), -1.0, 1.0)
        fy = torch.where(draws.coin(r.vflip_p), -1.0, 1.0)
        k = torch.floor(4 * draws.take()).clamp_max(3)
        k = torch.where(draws.coin(r.rot90_p), k, 0.0)
        small = draws.uniform(-r.rotate_degrees, r.rotate_degrees)
        small = torch.where(draws.coin(r.rotate_p), small, 0.0)
        angle = k * (math.pi / 2) + small * (math.pi / 180)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # output -> input: input = centre + diag(w, h) @ R(angle) @ diag(fx, fy) @ output
        theta = torch.stack(
            [
                torch.stack([w * cos * fx, -w * sin * fy, cx], dim=1),
                torch.stack([h * sin * fx, h * cos * fy, cy], dim=1),
            ],
            dim=1,
        )
        size = r.image_size
        grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
        padding = _BORDERS[r.border][0]
        # one sampling pass per copy reads the source batch in place (stacking the large
        # source images instead would copy them)
        # a constant fill c: sampling x - c with zeros outside and adding c back (the sampling is
        # linear in its input), so the inside is unchanged and the outside is c
        fill = self._fill
        source = x - fill if fill and not shifted else x  # a copy only for a caller's float batch
        out = torch.cat([
            F.grid_sample(source, part, mode=r.interpolation, padding_mode=padding, align_corners=False)
            for part in grid.split(batch)
        ])
        if fill:
            out += fill
        # bicubic overshoots at edges (as PIL's and OpenCV's do, before they round to uint8)
        return out.clamp_(0, 1) if r.interpolation == "bicubic" else out

    def _gray(self, x: Tensor) -> Tensor:
        return (x * self.luma).sum(dim=1, keepdim=True) if x.shape[1] == 3 else x

    def _jitter(self, x: Tensor, draws: RandomDraws) -> Tensor:
        """torchvision's ``RandomApply([ColorJitter(b, c, s, h)], p)``: for each sample, with
        probability ``jitter_p``, brightness, contrast, saturation and hue in a random order
        (a permutation per sample, as torchvision draws one per call), clamped to [0, 1]
        after each. Each of the four is an affine colour map ``x -> M x + t`` with a
        per-sample ``(C, C)`` matrix ``M`` (brightness ``b I``; contrast ``c I`` with
        ``t = (1 - c) * mean grey``; saturation ``s I + (1 - s) 1 luma^T``; hue a rotation
        of the YIQ chroma plane by ``2 pi h``), so each of the four slots of the order is one
        batched ``einsum``. Grey images get brightness and contrast only.

        The hue step is a YIQ chroma rotation by a symmetric random angle, NOT torchvision's
        ``adjust_hue`` (an HSV hue shift by ``h`` turns) nor an approximation of it: its
        rotation runs the other way round the colour wheel (the median HSV hue change of
        ``+h`` is about ``-h``), and, per colour, even with the sign flipped to match it is
        about as far from ``adjust_hue`` as leaving the colour alone. On 65,536 random
        colours, absolute difference per channel in [0, 1] units at ``h = 0.1`` (the cifar
        recipe's largest): ``+h`` max 1.00, mean 0.22; ``-h`` max 0.39, mean 0.085; no shift at
        all, mean 0.10 (at ``h = 0.02``: ``-h`` mean 0.022, no shift 0.020)
        (``python -m bench.hue_jitter_check``, ``bench/results/hue_jitter_check.json``). As the angle is drawn symmetrically, the
        direction does not change the recipe's distribution; the per-colour map does. Kept
        as it is: the committed CIFAR-10 figures were made with it."""
        r = self.recipe
        n, c = x.shape[0], x.shape[1]
        device = x.device
        on = draws.coin(r.jitter_p)

        def factor(spread: float, identity: float, centred: bool = False) -> Tensor:
            lo, hi = (-spread, spread) if centred else (max(0.0, 1 - spread), 1 + spread)
            return torch.where(on, draws.uniform(lo, hi), identity)

        brightness = factor(r.jitter_brightness, 1.0)
        contrast = factor(r.jitter_contrast, 1.0)
        saturation = factor(r.jitter_saturation, 1.0)
        hue = factor(r.jitter_hue, 0.0, centred=True)
        order = torch.argsort(draws.take(4).T, dim=1)  # (n, 4): a uniform random permutation
        eye = torch.eye(c, device=device).expand(n, c, c)
        maps = [brightness.view(n, 1, 1) * eye, contrast.view(n, 1, 1) * eye]
        if c == 3:
            s = saturation.view(n, 1, 1)
            maps.append(s * eye + (1 - s) * self.luma.view(1, 1, 3))
            phi = 2 * math.pi * hue
            cos, sin, zero, one = torch.cos(phi), torch.sin(phi), torch.zeros_like(phi), torch.ones_like(phi)
            rot = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], dim=1).view(n, 3, 3)
            maps.append(self.yiq_to_rgb @ rot @ self.rgb_to_yiq)
        else:
            maps += [eye, eye]
        maps_t = torch.stack(maps, dim=1)  # (n, 4, c, c)
        rows = torch.arange(n, device=device)
        for slot in range(4):
            op = order[:, slot]
            offset = torch.where(op == 1, 1 - contrast, 0.0) * self._gray(x).mean(dim=(1, 2, 3))
            x = torch.einsum("nij,njhw->nihw", maps_t[rows, op], x)
            x = (x + offset.view(n, 1, 1, 1)).clamp_(0, 1)
        return x

    def _colour(self, x: Tensor, draws: RandomDraws) -> Tensor:
        r = self.recipe
        n = x.shape[0]
        per_sample = (n, 1, 1, 1)
        if r.jitter_p > 0:
            x = self._jitter(x, draws)
        if r.bc_p > 0:
            # samples left alone get alpha 1, beta 0 (their values are already in [0, 1])
            on = draws.coin(r.bc_p)
            alpha = torch.where(on, 1 + draws.uniform(-r.bc_contrast, r.bc_contrast), 1.0)
            beta = torch.where(on, draws.uniform(-r.bc_brightness, r.bc_brightness), 0.0)
            x = torch.addcmul(beta.view(per_sample), x, alpha.view(per_sample)).clamp_(0, 1)
        if r.gamma_p > 0:
            on = draws.coin(r.gamma_p)
            gamma = draws.uniform(*r.gamma_range).view(per_sample)
            x = torch.where(on.view(per_sample), x.clamp_min(0).pow(gamma), x)
        if r.gray_p > 0 and x.shape[1] == 3:
            on = draws.coin(r.gray_p).view(per_sample)
            x = torch.where(on, self._gray(x).expand_as(x), x)
        if r.solarize_p > 0:
            on = draws.coin(r.solarize_p).view(per_sample)
            x = torch.where(on & (x >= 0.5), 1 - x, x)
        return x

    def _blur_and_noise(self, x: Tensor, draws: RandomDraws, gen: torch.Generator | None) -> Tensor:
        r = self.recipe
        n, c, height, width = x.shape
        if r.blur_p > 0:
            radius = max(1, math.ceil(3 * r.blur_sigma[1]))
            radius = min(radius, (min(height, width) - 1) // 2)
            kernels = _gaussian_kernels(draws.uniform(*r.blur_sigma), radius)
            delta = torch.zeros_like(kernels)
            delta[:, radius] = 1
            kernels = torch.where(draws.coin(r.blur_p)[:, None], kernels, delta).repeat_interleave(c, dim=0)
            flat = x.reshape(1, n * c, height, width)
            flat = F.pad(flat, (radius, radius, 0, 0), mode="reflect")
            flat = F.conv2d(flat, kernels.view(n * c, 1, 1, -1), groups=n * c)
            flat = F.pad(flat, (0, 0, radius, radius), mode="reflect")
            flat = F.conv2d(flat, kernels.view(n * c, 1, -1, 1), groups=n * c)
            x = flat.view(n, c, height, width)
        if r.noise_p > 0:
            std = torch.where(draws.coin(r.noise_p), draws.uniform(*r.noise_std), 0.0)
            gen_device = gen.device if gen is not None else x.device
            noise = torch.randn(x.shape, generator=gen, device=gen_device).to(x.device)
            x = torch.addcmul(x, noise, std.view(n, 1, 1, 1)).clamp_(0, 1)
        return x

    def normalize(self, x: Tensor) -> Tensor:
        """[0, 1] float ``(B,C,H,W)`` -> normalised with the recipe's mean/std."""
        return (x - self.mean) / self.std

    def views(self, x: Tensor, copies: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``copies`` independent random views of each image of a float [0, 1] batch
        ``(B,C,H,W)``: ``(copies * B, C, S, S)``, the first ``B`` rows the first copy."""
        return self._views(x, copies, generator)

    def _views(self, x: Tensor, copies: int, generator: torch.Generator | None,
               shifted: bool = False) -> Tensor:
        """:meth:`views`; ``shifted``: ``x`` holds ``x - fill`` (:meth:`_geometry`)."""
        draws = RandomDraws(copies * x.shape[0], generator, x.device)
        x = self._geometry(x, draws, copies, shifted)
        x = self._colour(x, draws)
        x = self._blur_and_noise(x, draws, generator)
        return self.normalize(x)

    @torch.no_grad()
    def forward(
        self, batch_uint8: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Two independently augmented views of each image of ``batch_uint8``.

        Args:
            batch_uint8: ``(B, C, H, W)`` with ``C`` = this module's ``channels``: uint8
                0..255 (divided by 255 here) or float already in [0, 1]; any device.
            generator: the random numbers (on the batch's device); None: torch's global RNG.

        Returns:
            ``(view_a, view_b)``: two float32 ``(B, C, S, S)`` tensors on the batch's device
            (``S`` the recipe's ``image_size``), normalised with the recipe's mean/std;
            ``view_a[i]`` and ``view_b[i]`` are two views of image ``i``.

        Raises:
            ValueError: the batch is not 4-D or its channel count is not ``channels`` (e.g. an
                RGB batch given to a grey module), with the shape expected and the one given.
        """
        if batch_uint8.ndim != 4 or batch_uint8.shape[1] != self.channels:
            raise ValueError(
                f"expected a (B,{self.channels},H,W) batch, got shape {tuple(batch_uint8.shape)}"
            )
        x = batch_uint8.float()
        shifted = False
        if batch_uint8.dtype == torch.uint8:
            x = x.div_(255.0)
            if self._fill:  # x is this call's own copy: shift it in place for the fill
                x = x.sub_(self._fill)
                shifted = True
        # Both views in one pass: every step launches its kernels once for the two views.
        # At OCTA's batch 32 the work per kernel is small and the launches (CPU side) are
        # what costs time on a GPU.
        views = self._views(x, 2, generator, shifted)
        return views[: x.shape[0]], views[x.shape[0] :]
