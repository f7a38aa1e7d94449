"""Two-view augmentation: the albumentations CPU path, the batched GPU path (run on the
CPU here), evaluation preprocessing, DataLoader workers and device batching."""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from shared_data import SHARED_DATA, needs
from torch.utils.data import DataLoader
from torchvision import transforms as T

from drac_ssl.augment import (
    EvalDataset,
    GpuTwoViewAugment,
    RandomDraws,
    TwoViewDataset,
    build_eval_transform,
    build_view_transform,
    recipe_for,
    reseed_transform,
    seed_worker,
    to_device_uint8,
)
from drac_ssl.config import AugmentConfig
from drac_ssl.datasets import MNIST_MEAN, MNIST_STD, OCTA_MEAN, OCTA_STD, load_mnist

# (recipe, channels, source size, output size): small OCTA sizes keep the tests fast
RECIPES = [("octa", 1, 64, 32), ("cifar", 3, 32, 32), ("mnist", 1, 28, 28)]


def config(recipe: str, size: int) -> AugmentConfig:
    return AugmentConfig(recipe=recipe, image_size=size, source_size=size, crop_scale=[0.2, 1.0])


def iid_images(n: int, channels: int, size: int, recipe: str, seed: int = 0) -> np.ndarray:
    """I.i.d. pixels with exactly the recipe's mean/std (a two-point distribution on
    {0, hi}), so that any crop or interpolation keeps the statistics on average."""
    rec = recipe_for(config(recipe, size))
    rng = np.random.default_rng(seed)
    shape = (n, size, size) if channels == 1 else (n, size, size, channels)
    mean = np.array(rec.mean[:channels])
    std = np.array(rec.std[:channels])
    high = mean + std**2 / mean
    on = rng.random(shape) < mean / high
    return np.round(on * high * 255).astype(np.uint8)


def normalised(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (N,H,W[,C]) -> plain normalised float tensor (N,C,H,W)."""
    x = to_device_uint8(images, "cpu").float() / 255
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


# --------------------------------------------------------------------------------------
# CPU path


@pytest.mark.parametrize(("recipe", "channels", "source", "size"), RECIPES)
def test_two_views_shape_dtype_channels(recipe: str, channels: int, source: int, size: int) -> None:
    images = iid_images(4, channels, source, recipe)
    dataset = TwoViewDataset(images, build_view_transform(config(recipe, size)), seed=0)
    view_a, view_b = dataset[1]
    for view in (view_a, view_b):
        assert view.shape == (channels, size, size) and view.dtype == torch.float32
        assert torch.isfinite(view).all()
    assert not torch.equal(view_a, view_b)


def test_octa_default_sizes_512_to_224() -> None:
    cfg = AugmentConfig()  # octa, 512 -> 224
    image = iid_images(1, 1, 512, "octa")
    view_a, view_b = TwoViewDataset(image, build_view_transform(cfg), seed=0)[0]
    assert view_a.shape == view_b.shape == (1, 224, 224)


@pytest.mark.parametrize(("recipe", "channels", "source", "size"), RECIPES)
def test_views_are_normalised(recipe: str, channels: int, source: int, size: int) -> None:
    images = iid_images(8, channels, source, recipe)
    dataset = TwoViewDataset(images, build_view_transform(config(recipe, size)), seed=0)
    views = torch.stack([v for i in range(40) for v in dataset[i % 8]])
    assert abs(views.mean().item()) < 0.15


@needs(SHARED_DATA / "mnist", "the real MNIST")
def test_mnist_views_of_real_digits_are_roughly_centred() -> None:
    digits = load_mnist(SHARED_DATA / "mnist", "test").images[:200]
    dataset = TwoViewDataset(digits, build_view_transform(config("mnist", 28)), seed=0)
    views = torch.stack([dataset[i][0] for i in range(200)])
    assert abs(views.mean().item()) < 0.35  # crops zoom on the digit: a little brighter


@pytest.mark.parametrize(("recipe", "channels", "source", "size"), RECIPES)
def test_cpu_pipeline_without_randomness_is_plain_normalisation(
    recipe: str, channels: int, source: int, size: int
) -> None:
    cfg = config(recipe, source)
    rec = recipe_for(cfg).without_randomness()
    images = iid_images(2, channels, source, recipe)
    view, _ = TwoViewDataset(images, build_view_transform(cfg, recipe=rec), seed=0)[0]
    expected = normalised(images[:1], rec.mean, rec.std)[0]
    torch.testing.assert_close(view, expected, atol=1e-5, rtol=0)


def test_reseeding_makes_views_reproducible() -> None:
    images = iid_images(2, 3, 32, "cifar")
    cfg = config("cifar", 32)
    first = TwoViewDataset(images, build_view_transform(cfg), seed=7)
    second = TwoViewDataset(images, build_view_transform(cfg), seed=7)
    other = TwoViewDataset(images, build_view_transform(cfg), seed=8)
    a, b, c = first[0], second[0], other[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_one_shared_generator_decorrelates_flips() -> None:
    """albumentations' Compose(seed=...) makes hflip and vflip fire together; ours must not."""
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    rec = dataclasses.replace(
        recipe_for(config("octa", 4)).without_randomness(), hflip_p=0.5, vflip_p=0.5
    )
    transform = build_view_transform(config("octa", 4), recipe=rec)
    reseed_transform(transform, 0)
    base = transform.transforms[-1](image=image)["image"]  # Normalize only
    outcomes = set()
    for _ in range(60):
        out = transform(image=image)["image"]
        outcomes.add(next(k for k, ref in enumerate([base, base[:, ::-1], base[::-1], base[::-1, ::-1]]) if np.allclose(out, ref)))
    assert outcomes == {0, 1, 2, 3}


def test_two_view_dataset_on_memmap_with_indices_and_pickling(tmp_path: Path) -> None:
    images = iid_images(100, 1, 64, "octa")
    np.save(tmp_path / "64px.npy", images)
    cache = np.load(tmp_path / "64px.npy", mmap_mode="r")
    transform = build_view_transform(config("octa", 16))
    dataset = TwoViewDataset(cache, transform, indices=np.array([7, 2]))
    assert len(dataset) == 2
    assert dataset[0][0].shape == (1, 16, 16)
    blob = pickle.dumps(dataset)
    in_memory = pickle.dumps(TwoViewDataset(np.array(cache), transform))
    # the memmap is reopened in the worker, not copied into the pickle
    assert len(in_memory) - len(blob) > 0.9 * images.nbytes
    clone = pickle.loads(blob)
    assert isinstance(clone.images, np.memmap)
    np.testing.assert_array_equal(clone.images, images)
    assert cache.flags.writeable is False  # augmenting never writes into the cache


def test_dataloader_with_two_workers(tmp_path: Path) -> None:
    images = np.repeat(iid_images(1, 3, 32, "cifar"), 8, axis=0)  # 8 copies of one image
    np.save(tmp_path / "cifar.npy", images)
    cache = np.load(tmp_path / "cifar.npy", mmap_mode="r")
    dataset = TwoViewDataset(cache, build_view_transform(config("cifar", 32)))

    def run() -> list[torch.Tensor]:
        loader = DataLoader(
            dataset, batch_size=2, num_workers=2, worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        return [view_a for view_a, _ in loader]

    first, second = run(), run()
    assert len(first) == 4 and first[0].shape == (2, 3, 32, 32)
    # worker 0 makes batches 0 and 2, worker 1 batches 1 and 3: different RNG streams
    assert not torch.equal(first[0], first[1])
    # the same DataLoader generator seed gives the same views
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------------------
# evaluation preprocessing


def test_eval_dataset_octa_is_deterministic_area_resize() -> None:
    images = iid_images(3, 1, 64, "octa")
    cfg = AugmentConfig(recipe="octa", image_size=24, source_size=64)
    dataset = EvalDataset(images, build_eval_transform(cfg))
    x, label = dataset[2]
    again, _ = dataset[2]
    assert label == -1 and x.shape == (1, 24, 24)
    assert torch.equal(x, again)
    resized = cv2.resize(images[2], (24, 24), interpolation=cv2.INTER_AREA)
    torch.testing.assert_close(x, normalised(resized[None], OCTA_MEAN, OCTA_STD)[0], atol=1e-5, rtol=0)


def test_eval_dataset_mnist_is_plain_normalisation_with_labels() -> None:
    images = iid_images(4, 1, 28, "mnist")
    labels = np.array([3, 1, 4, 1])
    dataset = EvalDataset(images, build_eval_transform(config("mnist", 28)), labels, indices=np.array([2, 0]))
    x, label = dataset[0]
    assert label == 4 and len(dataset) == 2
    torch.testing.assert_close(x, normalised(images[2:3], MNIST_MEAN, MNIST_STD)[0], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------
# GPU path on the CPU


@pytest.mark.parametrize(("recipe", "channels", "source", "size"), RECIPES)
def test_gpu_augment_shapes_and_per_sample_parameters(
    recipe: str, channels: int, source: int, size: int
) -> None:
    aug = GpuTwoViewAugment(config(recipe, size), channels)
    one = to_device_uint8(iid_images(1, channels, source, recipe), "cpu")
    batch = one.repeat(6, 1, 1, 1)  # six identical images
    view_a, view_b = aug(batch, torch.Generator().manual_seed(0))
    for view in (view_a, view_b):
        assert view.shape == (6, channels, size, size) and view.dtype == torch.float32
        assert torch.isfinite(view).all()
    assert not torch.equal(view_a, view_b)
    for i in range(1, 6):  # identical inputs, different random parameters
        assert not torch.equal(view_a[0], view_a[i])


@pytest.mark.parametrize(("recipe", "channels", "source", "size"), RECIPES)
def test_gpu_augment_is_normalised(recipe: str, channels: int, source: int, size: int) -> None:
    aug = GpuTwoViewAugment(config(recipe, size), channels)
    batch = to_device_uint8(iid_images(64, channels, source, recipe), "cpu")
    view_a, view_b = aug(batch, torch.Generator().manual_seed(1))
    assert abs(torch.cat([view_a, view_b]).mean().item()) < 0.15


def test_gpu_augment_seeded_generator_is_deterministic() -> None:
    aug = GpuTwoViewAugment(config("octa", 32), 1)
    batch = to_device_uint8(iid_images(4, 1, 64, "octa"), "cpu")
    first = aug(batch, torch.Generator().manual_seed(3))
    second = aug(batch, torch.Generator().manual_seed(3))
    third = aug(batch, torch.Generator().manual_seed(4))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], third[0])


@pytest.mark.parametrize(("recipe", "channels", "source", "size"), RECIPES)
def test_gpu_augment_without_randomness_is_plain_normalisation(
    recipe: str, channels: int, source: int, size: int
) -> None:
    cfg = config(recipe, source)
    rec = recipe_for(cfg).without_randomness()
    aug = GpuTwoViewAugment(cfg, channels, recipe=rec)
    images = iid_images(3, channels, source, recipe)
    view_a, view_b = aug(to_device_uint8(images, "cpu"))
    expected = normalised(images, rec.mean, rec.std)
    torch.testing.assert_close(view_a, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(view_b, expected, atol=1e-5, rtol=0)


def test_gpu_geometry_flips_and_rot90_are_exact() -> None:
    cfg = config("octa", 16)
    base = recipe_for(cfg).without_randomness()
    images = iid_images(2, 1, 16, "octa")
    x = to_device_uint8(images, "cpu")
    plain = normalised(images, OCTA_MEAN, OCTA_STD)
    hflip = GpuTwoViewAugment(cfg, 1, dataclasses.replace(base, hflip_p=1.0))(x)[0]
    torch.testing.assert_close(hflip, plain.flip(-1), atol=1e-5, rtol=0)
    rotated = GpuTwoViewAugment(cfg, 1, dataclasses.replace(base, rot90_p=1.0))(
        x.repeat(16, 1, 1, 1), torch.Generator().manual_seed(0)
    )[0]
    candidates = [torch.rot90(plain.repeat(16, 1, 1, 1), k, dims=(2, 3)) for k in range(4)]
    seen = set()
    for i in range(32):
        matches = [k for k, c in enumerate(candidates) if torch.allclose(rotated[i], c[i], atol=1e-5)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {0, 1, 2, 3}


def test_gpu_crops_stay_inside_the_image() -> None:
    aug = GpuTwoViewAugment(config("cifar", 32), 3)
    draws = RandomDraws(4000, torch.Generator().manual_seed(0), torch.device("cpu"))
    w, h, cx, cy = aug._crop_boxes(draws, 32, 32)
    assert ((cx.abs() + w) <= 1 + 1e-6).all() and ((cy.abs() + h) <= 1 + 1e-6).all()
    area = w * h
    assert area.min() >= 0.2 - 1e-6 and area.max() <= 1 + 1e-6
    # same area distribution as torchvision's RandomResizedCrop (rejection sampling)
    torch.manual_seed(0)
    reference = [
        h * w / 1024
        for h, w in (
            T.RandomResizedCrop.get_params(torch.zeros(1, 32, 32), [0.2, 1.0], [3 / 4, 4 / 3])[2:]
            for _ in range(4000)
        )
    ]
    assert abs(area.mean().item() - float(np.mean(reference))) < 0.02


def test_gpu_colour_probabilities_and_hue_keeps_grey_grey() -> None:
    cfg = config("cifar", 8)
    base = recipe_for(cfg).without_randomness()
    rgb = to_device_uint8(iid_images(4000, 3, 8, "cifar"), "cpu")
    grey_only = GpuTwoViewAugment(cfg, 3, dataclasses.replace(base, gray_p=0.2))
    view, _ = grey_only(rgb, torch.Generator().manual_seed(0))
    pixels = view * grey_only.std + grey_only.mean
    is_grey = (pixels.amax(dim=1) - pixels.amin(dim=1)).amax(dim=(1, 2)) < 1e-5
    assert 0.17 < is_grey.float().mean().item() < 0.23
    # a hue rotation in YIQ leaves grey pixels grey
    hue_only = GpuTwoViewAugment(
        cfg, 3, dataclasses.replace(base, jitter_p=1.0, jitter_hue=0.5)
    )
    grey = rgb[:16, :1].repeat(1, 3, 1, 1)
    out, _ = hue_only(grey, torch.Generator().manual_seed(0))
    out = out * hue_only.std + hue_only.mean
    assert (out.amax(dim=1) - out.amin(dim=1)).max() < 1e-4


def test_gpu_blur_and_noise_keep_a_flat_image_flat_on_average() -> None:
    cfg = config("octa", 32)
    base = recipe_for(cfg).without_randomness()
    flat = torch.full((8, 1, 32, 32), 100, dtype=torch.uint8)
    blur = GpuTwoViewAugment(cfg, 1, dataclasses.replace(base, blur_p=1.0))
    view, _ = blur(flat, torch.Generator().manual_seed(0))
    expected = (100 / 255 - OCTA_MEAN[0]) / OCTA_STD[0]
    assert torch.allclose(view, torch.full_like(view, expected), atol=1e-5)
    noisy = GpuTwoViewAugment(cfg, 1, dataclasses.replace(base, noise_p=1.0))
    view, _ = noisy(flat, torch.Generator().manual_seed(0))
    assert view.std() > 0.01 and abs(view.mean().item() - expected) < 0.02


def test_gpu_every_step_at_once_fits_the_random_draws() -> None:
    cfg = config("cifar", 8)
    everything = dataclasses.replace(
        recipe_for(cfg), vflip_p=0.5, rot90_p=0.5, rotate_p=0.5, rotate_degrees=10.0, bc_p=0.5,
        bc_brightness=0.2, bc_contrast=0.2, gamma_p=0.5, gamma_range=(0.8, 1.2), blur_p=0.5,
        noise_p=0.5,
    )  # fmt: skip
    aug = GpuTwoViewAugment(cfg, 3, everything)
    view_a, view_b = aug(to_device_uint8(iid_images(4, 3, 8, "cifar"), "cpu"), torch.Generator().manual_seed(0))
    assert torch.isfinite(view_a).all() and torch.isfinite(view_b).all()
    draws = RandomDraws(2, None, torch.device("cpu"))
    draws.take(RandomDraws.ROWS)
    with pytest.raises(RuntimeError, match="raise RandomDraws.ROWS"):
        draws.take()


def test_gpu_two_views_are_one_pass_of_two_copies() -> None:
    aug = GpuTwoViewAugment(config("octa", 32), 1)
    batch = to_device_uint8(iid_images(5, 1, 64, "octa"), "cpu")
    view_a, view_b = aug(batch, torch.Generator().manual_seed(7))
    both = aug.views(batch.float() / 255, 2, torch.Generator().manual_seed(7))
    assert both.shape == (10, 1, 32, 32)
    torch.testing.assert_close(view_a, both[:5], atol=1e-6, rtol=0)
    torch.testing.assert_close(view_b, both[5:], atol=1e-6, rtol=0)
    # the copies draw their own geometry: no view equals its twin
    for i in range(5):
        assert not torch.allclose(view_a[i], view_b[i], atol=1e-3)


def test_gpu_augment_rejects_wrong_channels() -> None:
    aug = GpuTwoViewAugment(config("mnist", 28), 1)
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        aug(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))


# --------------------------------------------------------------------------------------
# device batching


def test_to_device_uint8_gray_and_rgb() -> None:
    gray = np.zeros((5, 6, 7), np.uint8)
    rgb = np.arange(5 * 6 * 7 * 3, dtype=np.int64).astype(np.uint8).reshape(5, 6, 7, 3)
    assert to_device_uint8(gray, "cpu").shape == (5, 1, 6, 7)
    tensor = to_device_uint8(rgb, "cpu")
    assert tensor.shape == (5, 3, 6, 7) and tensor.dtype == torch.uint8
    assert tensor[1, 2, 3, 4].item() == rgb[1, 3, 4, 2]


def test_cifar_crops_are_bicubic_with_edge_replication_and_stay_in_range() -> None:
    # solo-learn's CIFAR crops are bicubic; bicubic overshoots at hard edges, so the GPU
    # path clamps to [0, 1] (PIL and OpenCV round to uint8 the same way).
    cfg = config("cifar", 32)
    rec = dataclasses.replace(recipe_for(cfg).without_randomness(), crop_scale=(0.2, 0.3))
    assert (rec.interpolation, rec.border) == ("bicubic", "replicate")
    board = ((np.indices((32, 32)).sum(0) // 2) % 2 * 255).astype(np.uint8)  # 2x2 checkerboard
    x = to_device_uint8(np.repeat(board[None, ..., None], 3, axis=-1).repeat(64, axis=0), "cpu")
    mean, std = torch.tensor(rec.mean).view(1, 3, 1, 1), torch.tensor(rec.std).view(1, 3, 1, 1)
    bicubic = GpuTwoViewAugment(cfg, 3, rec)(x, torch.Generator().manual_seed(0))[0] * std + mean
    linear = GpuTwoViewAugment(cfg, 3, dataclasses.replace(rec, interpolation="bilinear"))(
        x, torch.Generator().manual_seed(0))[0] * std + mean
    assert bicubic.min() >= -1e-6 and bicubic.max() <= 1 + 1e-6
    assert (bicubic == 0).any() and (bicubic == 1).any()  # overshoot clamped, not rescaled
    assert (bicubic - linear).abs().max() > 0.05  # same crops, a different kernel
    with pytest.raises(ValueError, match="interpolation"):
        dataclasses.replace(rec, interpolation="nearest")
    # the CPU path uses OpenCV's cubic kernel for the same recipe
    crop = build_view_transform(cfg).transforms[0]
    assert crop.interpolation == cv2.INTER_CUBIC


def test_gpu_colour_jitter_applies_torchvision_ops_in_a_random_order_per_sample() -> None:
    # Each sample draws its own order of brightness, contrast, saturation, hue, as
    # torchvision's ColorJitter does per call; each op matches torchvision's on float images
    # (up to the luma weights 0.299 here vs 0.2989 there). Hue is left at 0 (identity).
    import torchvision.transforms.functional as TF

    cfg = config("cifar", 8)
    rec = dataclasses.replace(recipe_for(cfg).without_randomness(), jitter_p=0.8, jitter_brightness=0.4,
                              jitter_contrast=0.6, jitter_saturation=0.9, jitter_hue=0.1)
    aug = GpuTwoViewAugment(cfg, 3, rec)
    x = torch.from_numpy(iid_images(3, 3, 8, "cifar", seed=4)).permute(0, 3, 1, 2).float() / 255
    draws = RandomDraws(3, None, torch.device("cpu"))
    u = torch.full((RandomDraws.ROWS, 3), 0.5)
    u[0] = 0.0  # jitter on for every sample
    u[1:4] = torch.tensor([[0.9, 0.1, 0.6], [0.2, 0.8, 0.7], [0.95, 0.3, 0.05]]).T  # b, c, s per sample
    u[5:9] = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.2, 0.1, 0.4, 0.3]]).T
    draws.u = u
    out = aug._jitter(x.clone(), draws)
    names = ("b", "c", "s", "h")
    orders = [["b", "c", "s", "h"], ["h", "s", "c", "b"], ["c", "b", "h", "s"]]
    for i in range(3):
        factors = {"b": 0.6 + 0.8 * u[1, i].item(), "c": 0.4 + 1.2 * u[2, i].item(), "s": 0.1 + 1.8 * u[3, i].item()}
        ops = {"b": TF.adjust_brightness, "c": TF.adjust_contrast, "s": TF.adjust_saturation}
        expected = x[i]
        for name in orders[i]:
            if name != "h":
                expected = ops[name](expected, factors[name])
        torch.testing.assert_close(out[i], expected, atol=3e-3, rtol=0, msg=f"sample {i}")
    assert set(names) == {n for order in orders for n in order}
    # a different order gives a different image (the ops do not commute)
    fixed = aug._jitter(x.clone(), _draws_with_order(u, [[0.1, 0.2, 0.3, 0.4]] * 3))
    assert not torch.allclose(fixed[1], out[1], atol=1e-3)


def _draws_with_order(u: torch.Tensor, order_rows: list[list[float]]) -> RandomDraws:
    draws = RandomDraws(u.shape[1], None, torch.device("cpu"))
    draws.u = u.clone()
    draws.u[5:9] = torch.tensor(order_rows).T
    return draws


@pytest.mark.parametrize(("shape", "stats", "said"), [
    ((2, 8, 8), 3, "3 mean and 3 std value(s) for images of 1 channel(s)"),
    ((2, 8, 8, 3), 2, "2 mean and 2 std value(s) for images of 3 channel(s)"),
])
def test_prepare_images_refuses_statistics_of_other_channels(shape: tuple[int, ...], stats: int,
                                                             said: str) -> None:
    """An audit: grey ``(N,H,W)`` images with RGB mean/std came back as ``(N,3,H,W)`` (the
    statistics broadcast one grey channel to three), silently."""
    from drac_ssl.augment import prepare_images

    images = np.zeros(shape, np.uint8)
    with pytest.raises(ValueError, match=rf"{re.escape(said)}.*stats_for"):
        prepare_images(images, (0.5,) * stats, (0.25,) * stats, 8, "cpu")
    channels = 1 if len(shape) == 3 else 3
    for n in (1, channels):  # one value for every channel, or one per channel
        assert prepare_images(images, (0.5,) * n, (0.25,) * n, 8, "cpu").shape == (2, channels, 8, 8)


@pytest.mark.parametrize("path", ["cpu", "gpu"])
def test_without_randomness_a_larger_source_is_the_whole_image_resized(path: str) -> None:
    """The two "without randomness" tests above run at the source size, so the resize from
    the cache's size to the view size was untested (a test audit). A smooth ramp, 64 -> 32 px:
    the view is the whole image, downsized the right way round (a ramp along x stays along
    x), then normalised; any interpolation agrees on a ramp away from the border."""
    cfg = AugmentConfig(recipe="octa", image_size=32, source_size=64, crop_scale=[0.2, 1.0])
    rec = recipe_for(cfg).without_randomness()
    ramp = np.tile(np.linspace(20, 230, 64), (64, 1))  # brighter to the right
    images = np.stack([ramp, ramp.T]).round().astype(np.uint8)  # and one brighter downwards
    if path == "cpu":
        views = torch.stack([TwoViewDataset(images, build_view_transform(cfg, recipe=rec), seed=0)[i][0]
                             for i in range(2)])
    else:
        views, _ = GpuTwoViewAugment(cfg, 1, recipe=rec)(to_device_uint8(images, "cpu"))
    assert views.shape == (2, 1, 32, 32)
    small = np.stack([cv2.resize(im, (32, 32), interpolation=cv2.INTER_AREA) for im in images])
    expected = normalised(small, rec.mean, rec.std)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    torch.testing.assert_close(views[inner], expected[inner], atol=0.05, rtol=0)


def _grid_sample_fill(padding: str, pixels: list[int]) -> list[float]:
    """What ``grid_sample`` (align_corners=False, as the GPU path) reads at the integer pixel
    positions ``pixels`` of the row 0, 1, 2, 3."""
    row = torch.arange(4.0).view(1, 1, 1, 4)
    u = torch.tensor([(2 * p + 1) / 4 - 1 for p in pixels])
    grid = torch.stack([u, torch.zeros_like(u)], -1).view(1, 1, -1, 2)
    return torch.nn.functional.grid_sample(row, grid, padding_mode=padding,
                                           align_corners=False).view(-1).tolist()


def _opencv_fill(border: int, pixels: list[int]) -> list[float]:
    """What OpenCV's ``border`` (the CPU path's) puts at ``pixels`` (-2..5) of the row 0..3."""
    row = np.arange(4, dtype=np.float32).reshape(1, 4)
    padded = cv2.copyMakeBorder(row, 0, 0, 2, 2, border, value=0).ravel()
    return [float(padded[p + 2]) for p in pixels]


def test_the_reflect_border_is_one_pixel_apart_on_the_cpu_and_the_gpu() -> None:
    """Review (library calls) 3: the octa recipe's ``reflect`` is BORDER_REFLECT_101 on the CPU
    and grid_sample's ``reflection`` (BORDER_REFLECT) on the GPU. Pinned as it is, with the
    other two borders that do agree: a change of either side fails here, and the docstrings of
    drac_ssl/augment.py that say so are to change with it."""
    from drac_ssl.augment import _BORDERS
    assert recipe_for(AugmentConfig(recipe="octa")).border == "reflect"
    outside = [-2, -1, 4, 5]
    gpu, cpu = _BORDERS["reflect"]
    assert _grid_sample_fill(gpu, outside) == [1.0, 0.0, 3.0, 2.0]  # fedcba|abcd: edge repeated
    assert _opencv_fill(cpu, outside) == [2.0, 1.0, 2.0, 1.0]  # gfedcb|abcd: edge not repeated
    assert _opencv_fill(cv2.BORDER_REFLECT, outside) == _grid_sample_fill(gpu, outside)
    for name in ("zeros", "replicate"):
        gpu, cpu = _BORDERS[name]
        assert _grid_sample_fill(gpu, outside) == _opencv_fill(cpu, outside), name
