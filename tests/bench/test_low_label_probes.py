"""bench.low_label's linear probes: the random-backbone baseline (``random_linear``) is the
untrained starting point of the pretraining, deterministic per seed, and the probe trains no
backbone weight (CPU, seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "mnist.yaml"


def _cfg(*overrides: str):  # type: ignore[no-untyped-def]
    from drac_ssl.config import load_config

    return load_config(CONFIG, ["pretrain.backbone.stem_stride=2", *overrides])


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_random_backbone_is_deterministic_per_seed_and_is_what_pretraining_starts_from() -> None:
    from bench.low_label import random_backbone
    from drac_ssl.models import build_vicreg_model
    from drac_ssl.runtime import seed_everything

    cfg = _cfg()
    first, again, other = (_state(random_backbone(cfg, s)) for s in (0, 0, 1))
    assert _same(first, again)
    assert not _same(first, other)
    # pretrain.run: the Engine calls seed_everything(run.seed), then build_vicreg_model builds
    # the backbone first; the same seed gives the same weights
    seed_everything(0)
    assert _same(first, _state(build_vicreg_model(cfg.pretrain).backbone))
    body = random_backbone(cfg, 0)
    assert body.stem_stride == 2 and body.cifar_stem and body.in_channels == 1


def test_the_random_backbone_leaves_the_global_rng_and_loads_no_warm_start(tmp_path: Path) -> None:
    from bench.low_label import random_backbone

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    random_backbone(_cfg(), 5)
    assert torch.equal(torch.rand(3), expected)
    # pretrain.backbone.weights (a warm start) is not read: still the seed's random weights
    missing = tmp_path / "absent.safetensors"
    assert _same(_state(random_backbone(_cfg(f"pretrain.backbone.weights={missing}"), 5)),
                 _state(random_backbone(_cfg(), 5)))


def test_the_linear_probe_trains_no_backbone_weight_and_its_predictions_give_its_accuracy() -> None:
    from bench.low_label import linear_probe, random_backbone
    from drac_ssl.evaluation import embed_images

    body = random_backbone(_cfg(), 0)
    before = _state(body)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    labels = torch.as_tensor(np.arange(60) % 3)
    feats = embed_images(body, images, "mnist", 28, torch.device("cpu"))
    assert feats.shape == (60, 512)
    res, pred = linear_probe(feats[:30], labels[:30], feats[30:40], labels[30:40], feats[40:], labels[40:],
                             seed=0, max_epochs=3, num_classes=3)
    assert _same(before, _state(body))  # weights and BatchNorm statistics untouched
    assert pred.shape == (20,) and pred.dtype == np.int64
    assert 100.0 * float(np.mean(pred == labels[40:].numpy())) == pytest.approx(res.test_top1)


def test_labelled_subsets_are_disjoint_stratified_and_fixed_by_the_seed() -> None:
    from bench.low_label import evenly_spaced, labelled_subset

    labels = np.repeat(np.arange(10), 100)
    tr, va = labelled_subset(labels, 500, 0.1, seed=3)
    assert len(tr) == 450 and len(va) == 50 and not set(tr) & set(va)
    assert np.bincount(labels[va], minlength=10).tolist() == [5] * 10
    tr2, va2 = labelled_subset(labels, 500, 0.1, seed=3)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert not np.array_equal(tr, labelled_subset(labels, 500, 0.1, seed=4)[0])
    assert list(range(10000))[evenly_spaced(10000, 2000)][:3] == [0, 5, 10]
    assert len(list(range(10000))[evenly_spaced(10000, 0)]) == 10000


def test_a_run_without_the_random_backbone_probe_is_a_smoke_run() -> None:
    from bench.low_label import METHODS, smoke_reasons

    assert "random_linear" in METHODS
    assert smoke_reasons(epochs=50, config_epochs=50) == []
    assert smoke_reasons(epochs=50, config_epochs=50, methods=["finetune", "scratch", "linear"]) == [
        "--methods without random_linear"]


def _metadata(folder: Path, meta: dict) -> Path:  # type: ignore[type-arg]
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder / "backbone.safetensors"


def test_the_random_backbone_of_a_given_backbone_takes_its_pretrainings_seed(tmp_path: Path) -> None:
    """Review s57r2 F3: with --backbone PATH, random_linear took this config's run.seed, while
    the given backbone may have been pretrained with another seed or warm-started. Its seed
    is the one its metadata.json records; unknown or warm-started is a smoke reason."""
    from bench.low_label import random_linear_seed

    assert random_linear_seed(3, None) == (3, "run.seed of this run, whose pretraining started from it", [])
    seeded = _metadata(tmp_path / "seeded", {"initial_weights": "", "config": {
        "run": {"seed": 7}, "pretrain": {"backbone": {"weights": ""}}}})
    seed, source, reasons = random_linear_seed(0, seeded)
    assert (seed, reasons) == (7, []) and "run.seed 7 of the given backbone's pretraining" in source

    seed, source, reasons = random_linear_seed(0, tmp_path / "bare" / "backbone.safetensors")
    assert seed == 0 and "unknown" in source
    (reason,) = reasons
    assert reason.startswith("random_linear: the run.seed of --backbone ") and "is unknown" in reason, reason

    warm = _metadata(tmp_path / "warm", {"initial_weights": "runs/a/pretrain/backbone.safetensors",
                                         "config": {"run": {"seed": 2}}})
    seed, _, reasons = random_linear_seed(0, warm)
    assert seed == 2 and len(reasons) == 1
    assert "was warm-started from runs/a/pretrain/backbone.safetensors (pretrain.backbone.weights)" in reasons[0]
    warm_by_config = _metadata(tmp_path / "warm2", {"config": {
        "run": {"seed": 2}, "pretrain": {"backbone": {"weights": "w.safetensors"}}}})
    assert "warm-started from w.safetensors" in random_linear_seed(0, warm_by_config)[2][0]


def test_the_command_builds_random_linear_from_the_given_backbones_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The wiring: ``--backbone PATH`` of a warm-started pretraining with run.seed 7 builds the
    random backbone from seed 7 (not this config's 0) and names the warm start as a departure."""
    from bench import low_label

    class Built(Exception):
        pass

    def built(cfg: object, seed: int) -> None:
        raise Built(seed)

    weights = _metadata(tmp_path / "given", {"initial_weights": "w0.safetensors", "config": {
        "run": {"seed": 7}, "data": {"dataset": "mnist"}}})
    monkeypatch.setattr(low_label, "load_local_weights", lambda *a, **k: None)
    monkeypatch.setattr(low_label, "random_backbone", built)
    with pytest.raises(Built) as got:
        low_label.main(["--dataset", "mnist", "--backbone", str(weights), "--eval-limit", "10",
                        "--out-dir", str(tmp_path / "out"), "run.device=cpu"])
    assert got.value.args == (7,)
    assert "random_linear: --backbone " in capsys.readouterr().out


def test_the_linear_probe_refuses_non_finite_features() -> None:
    """A head trained on NaN features predicts one class: a believable chance-level accuracy for
    the low-label bench and quick_check (both probe through this function)."""
    from bench.low_label import linear_probe

    feats, labels = torch.ones(12, 4), torch.as_tensor(np.arange(12) % 2)
    feats[7, 1] = float("inf")
    with pytest.raises(ValueError, match="features of the 12 images hold NaN or inf"):
        linear_probe(feats[:6], labels[:6], feats[6:9], labels[6:9], feats[9:], labels[9:], seed=0, max_epochs=1,
                     num_classes=2)
