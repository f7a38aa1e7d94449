"""The UMM stage (drac_ssl.umm): hypergradients and the anchored outer objective on tiny
float64 problems, the start rule on recorded monitor curves, then the stage end to end on
tiny images from a one-epoch pretraining run (CPU, seconds): the fair control (alpha = 0),
the outer-step exclusion, the guard."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from drac_ssl import pretrain, umm
from drac_ssl.config import Config, ConfigError, load_config
from drac_ssl.losses.alignment import alignment_js
from drac_ssl.losses.mcr2 import rate_reduction
from drac_ssl.losses.vicreg import VICRegLoss, vicreg_loss
from drac_ssl.models import build_backbone, build_vicreg_model, load_local_weights
from drac_ssl.umm import stage as umm_stage

# --------------------------------------------------------------------------------------
# Hypergradients on a tiny two-layer problem in float64


def tiny_problem(seed: int = 0) -> tuple[list[torch.Tensor], umm.ParamFn, umm.ParamFn]:
    """theta = (W1, b1, W2); features tanh(h W1 + b1), embedding features @ W2.

    Inner: VICReg + 0.7 * JS (density from dL/dh, second derivatives); outer: -Delta R of the
    features. Returns (theta, inner_loss_fn, outer_loss_fn).
    """
    g = torch.Generator().manual_seed(seed)
    h_a = torch.randn(6, 5, generator=g, dtype=torch.float64)
    h_b = h_a + 0.5 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    theta = [
        0.6 * torch.randn(5, 4, generator=g, dtype=torch.float64),
        0.1 * torch.randn(4, generator=g, dtype=torch.float64),
        0.6 * torch.randn(4, 3, generator=g, dtype=torch.float64),
    ]

    def features(p: Sequence[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ p[0] + p[1])

    def inner_loss_fn(p: Sequence[torch.Tensor]) -> torch.Tensor:
        a = h_a.clone().requires_grad_(True)
        b = h_b.clone().requires_grad_(True)
        loss = vicreg_loss(features(p, a) @ p[2], features(p, b) @ p[2]).loss
        js, _ = alignment_js(loss, (a, b), create_graph=True)
        return loss + 0.7 * js

    def outer_loss_fn(p: Sequence[torch.Tensor]) -> torch.Tensor:
        return -rate_reduction(features(p, h_a), features(p, h_b), eps2=0.5).delta

    return [t.requires_grad_(True) for t in theta], inner_loss_fn, outer_loss_fn


def unrolled_objective(
    theta: Sequence[torch.Tensor], inner_loss_fn: umm.ParamFn, outer_loss_fn: umm.ParamFn, xi: float
) -> float:
    """F(theta - xi grad L_in(theta)), the function the one-step hypergradient differentiates."""
    leaves = [t.detach().clone().requires_grad_(True) for t in theta]
    grads = torch.autograd.grad(inner_loss_fn(leaves), leaves)
    with torch.no_grad():
        return float(outer_loss_fn([t - xi * g for t, g in zip(leaves, grads, strict=True)]))


def flat_dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    return float(sum((x * y).sum() for x, y in zip(a, b, strict=True)))


@pytest.mark.parametrize("hvp", ["exact", "finite_difference"])
def test_unrolled_hypergradient_matches_central_differences(hvp: str) -> None:
    theta, inner_loss_fn, outer_loss_fn = tiny_problem()
    xi = 0.3
    hg = umm.hypergradient(
        theta,
        inner_loss_fn(theta),
        outer_loss_fn,
        inner_lr=xi,
        method="unrolled",
        hvp=hvp,
        fd_radius=1e-5,
        inner_loss_fn=inner_loss_fn,
    )
    g = torch.Generator().manual_seed(1)
    for _ in range(2):
        direction = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in theta]
        eps = 1e-5
        plus = unrolled_objective(
            [t + eps * d for t, d in zip(theta, direction, strict=True)],
            inner_loss_fn,
            outer_loss_fn,
            xi,
        )
        minus = unrolled_objective(
            [t - eps * d for t, d in zip(theta, direction, strict=True)],
            inner_loss_fn,
            outer_loss_fn,
            xi,
        )
        numeric = (plus - minus) / (2 * eps)
        analytic = flat_dot(hg.gradient, direction)
        assert analytic == pytest.approx(numeric, rel=1e-5 if hvp == "exact" else 1e-4, abs=1e-8)
    # the second-order term matters: the first-order gradient alone is measurably different
    first_order = flat_dot(
        [
            v
            for v in umm.hypergradient(
                theta,
                inner_loss_fn(theta),
                outer_loss_fn,
                inner_lr=xi,
                method="neumann",
                neumann_steps=0,
            ).gradient
        ],
        direction,
    )
    assert abs(first_order - numeric) > 1e3 * abs(analytic - numeric)


def test_neumann_identities_k0_is_the_lookahead_gradient_and_k1_the_unrolled_one() -> None:
    theta, inner_loss_fn, outer_loss_fn = tiny_problem(seed=3)
    xi = 0.2
    k0 = umm.hypergradient(
        theta, inner_loss_fn(theta), outer_loss_fn, inner_lr=xi, method="neumann", neumann_steps=0
    )
    lookahead = [t.detach().clone().requires_grad_(True) for t in k0.lookahead]
    direct = torch.autograd.grad(outer_loss_fn(lookahead), lookahead, allow_unused=True)
    assert direct[2] is None and torch.equal(k0.gradient[2], torch.zeros_like(theta[2]))
    for a, b in zip(k0.gradient[:2], direct[:2], strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
    k1 = umm.hypergradient(
        theta, inner_loss_fn(theta), outer_loss_fn, inner_lr=xi, method="neumann", neumann_steps=1
    )
    unrolled = umm.hypergradient(
        theta, inner_loss_fn(theta), outer_loss_fn, inner_lr=xi, method="unrolled"
    )
    for a, b in zip(k1.gradient, unrolled.gradient, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    inner_grad = torch.autograd.grad(inner_loss_fn(theta), theta)
    for t, g, t1 in zip(theta, inner_grad, k0.lookahead, strict=True):
        assert torch.allclose(t1, t.detach() - xi * g)


def test_neumann_series_converges_to_the_implicit_hypergradient_on_a_quadratic() -> None:
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T / 6 + 0.1 * torch.eye(6, dtype=torch.float64)  # inner Hessian, SPD
    b = torch.randn(6, generator=g, dtype=torch.float64)
    theta = [torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)]
    xi = 0.5 / float(torch.linalg.eigvalsh(a).max())  # ||xi A|| < 1: the series converges

    def inner_loss_fn(p: Sequence[torch.Tensor]) -> torch.Tensor:
        return 0.5 * p[0] @ a @ p[0]

    def outer_loss_fn(p: Sequence[torch.Tensor]) -> torch.Tensor:
        return b @ p[0]

    implicit = torch.linalg.solve(torch.eye(6, dtype=torch.float64) + xi * a, b)
    errors = []
    for k in (0, 2, 8, 40):
        for hvp in ("exact", "finite_difference"):
            hg = umm.hypergradient(
                theta,
                inner_loss_fn(theta),
                outer_loss_fn,
                inner_lr=xi,
                method="neumann",
                neumann_steps=k,
                hvp=hvp,
                inner_loss_fn=inner_loss_fn,
            )
            err = float((hg.gradient[0] - implicit).norm())
            if hvp == "exact":
                errors.append(err)
            else:
                assert err == pytest.approx(errors[-1], abs=1e-8)
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-6 * float(b.norm())


def test_unknown_modes_are_clear_errors() -> None:
    theta, inner_loss_fn, outer_loss_fn = tiny_problem()
    with pytest.raises(ValueError, match="umm.hypergradient"):
        umm.hypergradient(
            theta, inner_loss_fn(theta), outer_loss_fn, inner_lr=0.1, method="implicit"
        )
    with pytest.raises(ValueError, match="umm.hvp"):
        umm.hypergradient(theta, inner_loss_fn(theta), outer_loss_fn, inner_lr=0.1, hvp="magic")


# --------------------------------------------------------------------------------------
# ComposableBatchNorm: same values as torch's BatchNorm, derivatives of every order


@pytest.mark.parametrize(
    "shape,momentum", [((8, 5, 3, 3), 0.1), ((8, 5), 0.1), ((8, 5, 2, 2), None)]
)
def test_composable_batch_norm_matches_torch(
    shape: tuple[int, ...], momentum: float | None
) -> None:
    torch.manual_seed(0)
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(5, momentum=momentum)
    nn.init.normal_(bn.weight)
    nn.init.normal_(bn.bias)
    reference = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(5, momentum=momentum)
    reference.load_state_dict(bn.state_dict())
    holder = nn.Sequential(bn)
    assert umm.make_batch_norm_composable(holder) == 1
    composable = holder[0]
    assert isinstance(composable, umm.ComposableBatchNorm)
    assert list(holder.state_dict()) == [f"0.{k}" for k in reference.state_dict()]
    for _ in range(3):
        x = 2 + 3 * torch.randn(shape)
        assert torch.allclose(composable(x), reference(x), atol=1e-5)
    for key, value in reference.state_dict().items():
        assert torch.allclose(composable.state_dict()[key].float(), value.float(), atol=1e-6), key
    composable.eval()
    reference.eval()
    x = torch.randn(shape)
    assert torch.allclose(composable(x), reference(x), atol=1e-5)


def test_composable_batch_norm_has_third_derivatives() -> None:
    torch.manual_seed(0)
    bn = umm.ComposableBatchNorm(nn.BatchNorm1d(3))
    x = torch.randn(6, 3, requires_grad=True)
    (g,) = torch.autograd.grad(bn(x).pow(3).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), bn.weight, create_graph=True)
    (ggg,) = torch.autograd.grad(gg.sum(), bn.weight)
    assert torch.isfinite(ggg).all() and float(ggg.abs().sum()) > 0


# --------------------------------------------------------------------------------------
# The stage on tiny images


def tiny_config(**overrides: str) -> Config:
    args = [
        "pretrain.epochs=1",
        "pretrain.batch_size=8",
        "pretrain.num_workers=0",
        "pretrain.max_steps_per_epoch=1",
        "pretrain.expander=32-32",
        "pretrain.augment.image_size=32",
        "pretrain.augment.source_size=48",
        "pretrain.augment.recipe=octa",
        "pretrain.backbone.cifar_stem=true",
        "pretrain.patience=0",
        "pretrain.lr=0.001",
        "run.device=cpu",
        "umm.epochs=2",
        "umm.batch_size=8",
        "umm.max_steps_per_epoch=1",
        "umm.early_cut=layer3",
        "umm.inner_lr=0.01",
        "umm.outer_lr=0.001",
    ]
    args += [f"{k}={v}" for k, v in overrides.items()]
    return load_config(None, args)


def tiny_data(n: int = 24, size: int = 48) -> pretrain.PretrainData:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    return pretrain.PretrainData(images=images, description="random test images")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder holding a one-epoch pretraining output."""
    run_dir = tmp_path_factory.mktemp("pretrained")
    pretrain.run(tiny_config(), run_dir, data=tiny_data())
    return run_dir


# The stage runs below take the cheapest complete path (first-order hypergradient, JS logged
# but not trained): a ResNet-18 step with the exact third-order
# hypergradient costs several CPU seconds, so the default path is checked once, on one step,
# in test_default_step_trains_through_third_derivatives_on_the_resnet_layers.
CHEAP = {"umm.hypergradient": "neumann", "umm.neumann_steps": "0", "umm.use_js": "false"}


@pytest.fixture(scope="module")
def umm_run(pretrained: Path, tmp_path_factory: pytest.TempPathFactory) -> umm.UMMResult:
    """Two one-step UMM epochs from the pretraining output."""
    run_dir = tmp_path_factory.mktemp("umm")
    return umm.run(
        tiny_config(**CHEAP),
        run_dir,
        data=tiny_data(),
        checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors",
    )


@pytest.fixture(scope="module")
def interrupted_umm(pretrained: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[umm.UMMResult, Path]:
    """One CHEAP UMM epoch from the pretraining output, stopped after it (``stop_after_epoch=0``)
    as an interrupted run leaves its folder (``umm/checkpoints/last.pt``), plots left out as in
    the tests that resume it: the result and the folder. Made once; each resume test takes a
    copy (:func:`_copy_of_interrupted`), since it resumes or rewrites the folder."""
    run_dir = tmp_path_factory.mktemp("interrupted")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(umm_stage, "_plot_history", lambda *args: None)
        result = umm.run(tiny_config(**CHEAP), run_dir, data=tiny_data(),
                         checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors", stop_after_epoch=0)
    return result, run_dir


def _copy_of_interrupted(interrupted: tuple[umm.UMMResult, Path], where: Path) -> Path:
    """A copy of :func:`interrupted_umm`'s folder at ``where`` (which may exist, empty)."""
    import shutil

    shutil.copytree(interrupted[1], where, dirs_exist_ok=True)
    return where


def test_umm_writes_loadable_weights_metadata_metrics_and_plots(umm_run: umm.UMMResult) -> None:
    assert umm_run.stopped == "completed all epochs"
    assert [r["epoch"] for r in umm_run.history] == [0, 1]
    keys = umm.step_keys(["layer4", "expander"])
    for row in umm_run.history:
        for key in keys:
            assert row[key] is not None and math.isfinite(row[key]), key
        assert row["ssl_rise"] is not None
        assert -1.0 <= row["view_cosine_last"] <= 1.0
        assert row["rate_reduction_last"] == pytest.approx(
            row["coding_rate_last"] - row["compress_rate_last"], abs=1e-4)
        assert 0.0 <= row["js"] <= math.log(2)
        assert row["inner_loss"] == row["ssl_loss"]  # use_js=false: JS logged, not trained
    backbone = build_backbone(tiny_config().pretrain.backbone)
    assert not load_local_weights(backbone, umm_run.backbone_path).missing
    assert not load_local_weights(
        build_vicreg_model(tiny_config().pretrain), umm_run.model_path
    ).missing
    meta = json.loads(umm_run.metadata_path.read_text())
    assert meta["stage"] == "umm"
    assert meta["format"] == "drac_ssl backbone v1"
    assert meta["input"]["size"] == [32, 32] and meta["input"]["channels"] == 1
    assert meta["umm"]["early_cut"] == "layer3" and meta["umm"]["tuned"] == ["layer4", "expander"]
    assert set(meta["metrics"]) == set(keys) | {"probe_rate_reduction_last", "probe_rate_reduction_early",
                                                 "probe_view_cosine_last"}
    assert meta["umm"]["outer_step_groups"] == ["layer4", "expander"]
    assert meta["umm"]["excluded_from_outer_step"] == []
    assert meta["umm"]["outer_objective"] == "F = L_ssl(theta') - 1 * Delta R(theta')"
    assert meta["umm"]["start"]["rule"] == "explicit" and meta["umm"]["guard"]["fired"] is False
    assert meta["umm"]["ssl_start"] > 0
    out = umm_run.out_dir
    assert (out / "metrics.csv").read_text().startswith("epoch,")
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    for plot in ("umm_rate_reduction.png", "umm_losses.png", "umm_steps.png", "umm_start.png"):
        assert (out / "plots" / plot).stat().st_size > 1000
    assert (out / "config.yaml").exists()


def test_frozen_layers_and_their_batch_norm_statistics_do_not_change(
    pretrained: Path, umm_run: umm.UMMResult
) -> None:
    before = load_file(str(pretrained / "pretrain" / "vicreg_model.safetensors"))
    after = load_file(str(umm_run.model_path))
    assert set(before) == set(after)
    frozen = (
        "backbone.conv1.",
        "backbone.bn1.",
        "backbone.layer1.",
        "backbone.layer2.",
        "backbone.layer3.",
    )
    frozen_keys = [k for k in before if k.startswith(frozen)]
    assert any("running_mean" in k for k in frozen_keys)
    for key in frozen_keys:
        assert torch.equal(before[key], after[key]), key
    for key in (
        "backbone.layer4.0.conv1.weight",
        "backbone.layer4.1.bn2.weight",
        "backbone.layer4.0.bn1.running_mean",
        "backbone.layer4.1.bn2.running_var",
        "expander.net.0.weight",
    ):
        assert not torch.equal(before[key], after[key]), key


def pretraining_rows(pretrained: Path) -> list[dict]:
    return [json.loads(line) for line in (pretrained / "pretrain" / "metrics.jsonl").read_text().splitlines()]


def test_umm_measures_delta_r_on_pretrainings_probe_on_the_same_scale(
    pretrained: Path, umm_run: umm.UMMResult
) -> None:
    """A review: UMM's rate_reduction_last is a mean over its training batches (fresh views,
    train mode), pretraining's the fixed probe in eval mode, so the two curves were on
    different scales and umm.early_stop_on_rate_reduction stopped on the noisier one. UMM now
    measures the same probe every epoch and at its start: the start equals pretraining's
    monitor at the checkpoint it starts from, and the early features (frozen) do not move."""
    (row,) = pretraining_rows(pretrained)  # one pretraining epoch: its weights are UMM's start
    meta = json.loads(umm_run.metadata_path.read_text())
    start = meta["umm"]["probe_start"]
    assert start["rate_reduction_last"] == pytest.approx(row["rate_reduction_last"], abs=1e-3)
    assert start["rate_reduction_early"] == pytest.approx(row["rate_reduction_early"], abs=1e-3)
    assert meta["umm"]["monitor"].startswith("probe_rate_reduction_last")
    for epoch_row in umm_run.history:
        assert math.isfinite(epoch_row["probe_rate_reduction_last"])
        assert -1.0 <= epoch_row["probe_view_cosine_last"] <= 1.0
        assert epoch_row["probe_rate_reduction_early"] == pytest.approx(start["rate_reduction_early"], abs=1e-5)
    # layer4 was tuned: the last-layer figure moved off its start
    assert umm_run.history[-1]["probe_rate_reduction_last"] != pytest.approx(
        start["rate_reduction_last"], abs=1e-6)


def test_resumed_run_gives_the_same_history_and_weights(
    pretrained: Path, umm_run: umm.UMMResult, interrupted_umm: tuple[umm.UMMResult, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)  # plots are checked above
    checkpoint = pretrained / "pretrain" / "vicreg_model.safetensors"
    first = interrupted_umm[0]  # its first epoch, then stopped; resumed below in a copy of its folder
    _copy_of_interrupted(interrupted_umm, tmp_path)
    assert first.stopped == "interrupted" and len(first.history) == 1
    resumed = umm.run(tiny_config(**CHEAP), tmp_path, data=tiny_data(), checkpoint=checkpoint)
    assert len(resumed.history) == 2
    for a, b in zip(umm_run.history, resumed.history, strict=True):
        for key in umm.step_keys(["layer4", "expander"]):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    straight, again = load_file(str(umm_run.model_path)), load_file(str(resumed.model_path))
    for key, value in straight.items():
        assert torch.allclose(value.float(), again[key].float(), rtol=1e-5, atol=1e-6), key
    # resuming a run folder with other UMM settings is refused (ablations need their own folder)
    with pytest.raises(ConfigError, match=r"umm.beta: 1.0 -> 0.5(.|\n)*--run-dir"):
        umm.run(
            tiny_config(**CHEAP, **{"umm.beta": "0.5"}),
            tmp_path,
            data=tiny_data(),
            checkpoint=checkpoint,
        )


def test_measuring_the_probe_leaves_umm_s_training_unchanged(
    pretrained: Path, umm_run: umm.UMMResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe is measured in eval mode from views of its own seeds: UMM's weights and
    BatchNorm statistics are the same with it (pretrain.monitor_images 24, umm_run) and
    without it (0), and metadata.json says how many images it held."""
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    without = umm.run(tiny_config(**CHEAP, **{"pretrain.monitor_images": "0"}), tmp_path, data=tiny_data(),
                      checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    assert "probe_rate_reduction_last" not in without.history[-1]
    a, b = load_file(str(umm_run.model_path)), load_file(str(without.model_path))
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    meta = json.loads(umm_run.metadata_path.read_text())
    assert "fixed probe of 24 images" in meta["umm"]["monitor"], meta["umm"]["monitor"]
    assert json.loads(without.metadata_path.read_text())["umm"]["monitor"].startswith("rate_reduction_last")


def _as_before_the_probe(last: Path) -> None:
    """Rewrite a UMM ``last.pt`` as the code before the probe columns saved it."""
    from drac_ssl.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(last)
    state["history"] = [{k: v for k, v in row.items() if not k.startswith("probe_")}
                        for row in state["history"]]
    state.pop("probe_start")
    state["best_rate_reduction"] = state.pop("best_probe_rate_reduction")
    save_checkpoint(last, state)


def test_a_umm_checkpoint_from_before_the_probe_monitor_resumes_unless_it_stops_on_it(
    pretrained: Path, interrupted_umm: tuple[umm.UMMResult, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint written before UMM measured the probe holds a best value of the batch mean.
    With umm.early_stop_on_rate_reduction (which would compare the probe's figures with it, two
    scales) it is refused, with a fix; without it (the default) the monitor decides nothing, so
    the run resumes (a review: a long UMM need not restart), its probe columns from the resumed
    epoch on, and metadata.json says the start was not measured."""
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    checkpoint = pretrained / "pretrain" / "vicreg_model.safetensors"
    stopping = tiny_config(**CHEAP, **{"umm.early_stop_on_rate_reduction": "true"})
    umm.run(stopping, tmp_path / "a", data=tiny_data(), checkpoint=checkpoint, stop_after_epoch=0)
    last = tmp_path / "a" / "umm" / "checkpoints" / "last.pt"
    _as_before_the_probe(last)
    with pytest.raises(ConfigError) as info:
        umm.run(stopping, tmp_path / "a", data=tiny_data(), checkpoint=checkpoint)
    message = str(info.value)
    assert str(last) in message and "probe" in message and "fix:" in message, message
    assert f"delete {tmp_path / 'a' / 'umm'}" in message, message
    _copy_of_interrupted(interrupted_umm, tmp_path / "b")  # umm.run(CHEAP, stop_after_epoch=0) there
    _as_before_the_probe(tmp_path / "b" / "umm" / "checkpoints" / "last.pt")
    resumed = umm.run(tiny_config(**CHEAP), tmp_path / "b", data=tiny_data(), checkpoint=checkpoint)
    assert resumed.stopped == "completed all epochs"
    assert "probe_rate_reduction_last" not in resumed.history[0]
    assert math.isfinite(resumed.history[1]["probe_rate_reduction_last"])
    meta = json.loads(resumed.metadata_path.read_text())
    assert "not measured" in meta["umm"]["probe_start"]["note"], meta["umm"]["probe_start"]


def test_resuming_with_other_data_pretrain_or_seed_settings_is_refused(
    pretrained: Path, interrupted_umm: tuple[umm.UMMResult, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: an interrupted UMM rerun with another run.seed, pretrain.loss.* or
    pretrain.augment.* resumed without a word and mixed two configurations in one run (its
    config.yaml then claimed the new one). Every setting the UMM stage's output depends on
    (stage_settings.REUSABLE_STAGES["umm"]) is now compared; umm.epochs and the output-only
    settings may change."""
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    checkpoint = pretrained / "pretrain" / "vicreg_model.safetensors"
    _copy_of_interrupted(interrupted_umm, tmp_path)  # umm.run(CHEAP, stop_after_epoch=0) there
    saved = (tmp_path / "umm" / "config.yaml").read_text()
    changed = {"run.seed": "7", "pretrain.loss.sim_coeff": "5", "pretrain.augment.crop_scale": "[0.9,1.0]",
               "data.fold_seed": "3"}
    (tmp_path / "stages.json").write_text("{}")  # a run folder of drac_ssl.train: run.reuse is a fix
    with pytest.raises(ConfigError) as info:
        umm.run(tiny_config(**CHEAP, **changed), tmp_path, data=tiny_data(), checkpoint=checkpoint)
    message = str(info.value)
    for line in ("run.seed: 0 -> 7", "pretrain.loss.sim_coeff: 25.0 -> 5.0",
                 "pretrain.augment.crop_scale: [0.3, 1.0] -> [0.9, 1.0]", "data.fold_seed: 0 -> 3"):
        assert line in message, message
    assert "fix:" in message and "--run-dir" in message and "run.reuse" in message
    assert (tmp_path / "umm" / "config.yaml").read_text() == saved  # nothing overwritten
    # more epochs and the settings that change no result (stage_settings.OUTPUT_ONLY_SETTINGS) resume
    resumed = umm.run(tiny_config(**CHEAP, **{"umm.epochs": "3", "run.name": "moved"}), tmp_path,
                      data=tiny_data(), checkpoint=checkpoint)
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2]


def test_resumed_run_with_tensorboard_logs_one_point_per_epoch(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_tensorboard_log import assert_log_matches_metrics

    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    cfg = tiny_config(**CHEAP, **{"run.tensorboard": "true"})
    checkpoint = pretrained / "pretrain" / "vicreg_model.safetensors"
    umm.run(cfg, tmp_path, data=tiny_data(), checkpoint=checkpoint, stop_after_epoch=0)
    result = umm.run(cfg, tmp_path, data=tiny_data(), checkpoint=checkpoint)
    got = assert_log_matches_metrics(result.out_dir, "umm")
    assert {f"umm/{k}" for k in umm.STEP_KEYS} <= set(got)
    assert [s for s, _ in got["umm/rate_reduction_last"]] == [1, 2]  # one step per epoch


@pytest.mark.slow  # about 10 CPU seconds: the exact third-order step through ResNet-18 layer4
def test_default_step_trains_through_third_derivatives_on_the_resnet_layers(
    pretrained: Path,
) -> None:
    """The default path (unrolled, exact HVP, JS trained) on the real ResNet-18 layers."""
    cfg = tiny_config()
    assert (cfg.umm.hypergradient, cfg.umm.hvp, cfg.umm.use_js, cfg.umm.outer_sign) == (
        "unrolled",
        "exact",
        True,
        "maximize",
    )
    model, head, tuned = tuned_model(cfg, pretrained)
    assert not any(n.startswith(("backbone.layer3", "backbone.conv1")) for n in tuned)
    x = torch.randn(2, 8, 1, 32, 32)
    weight = model.backbone.layer4[0].conv1.weight
    # one full step: its exact Hessian-vector product is a third derivative of the SSL loss
    before = weight.detach().clone()
    logs = umm.umm_step(
        model,
        head,
        tuned,
        x[0],
        x[1],
        cfg.umm,
        VICRegLoss(),
        umm.build_optimizers(list(tuned.values()), cfg.umm),
    )
    for key in umm.STEP_KEYS:
        assert math.isfinite(float(logs[key])), key
    assert float(logs["hypergradient_norm"]) > 0
    assert float(logs["inner_loss"]) == pytest.approx(
        float(logs["ssl_loss"] + logs["js"]), rel=1e-6
    )
    assert not torch.equal(before, weight.detach())


def test_ablation_without_the_outer_problem_is_plain_inner_training(pretrained: Path) -> None:
    cfg = tiny_config(**{"umm.use_rate_reduction": "false", "umm.use_js": "false"})
    model = umm.load_pretrained_model(cfg, pretrained / "pretrain" / "vicreg_model.safetensors")
    model.backbone.freeze_until("layer3")
    head = umm.AfterCut(model, "layer3").train()
    tuned = {n: p for n, p in head.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in tuned.items()}
    x = torch.randn(2, 8, 1, 32, 32)
    logs = umm.umm_step(
        model,
        head,
        tuned,
        x[0],
        x[1],
        cfg.umm,
        VICRegLoss(),
        umm.build_optimizers(list(tuned.values()), cfg.umm),
    )
    assert math.isnan(float(logs["outer_objective"])) and math.isnan(
        float(logs["hypergradient_norm"])
    )
    assert math.isfinite(float(logs["js"]))  # still logged
    assert float(logs["inner_loss"]) == float(logs["ssl_loss"])
    name = "backbone.layer4.0.conv1.weight"
    assert not torch.equal(before[name], tuned[name].detach())


def fake_steps(rate_reductions: list[float], **planted: list[float]):
    """A stand-in for umm.umm_step (one step per epoch): logs the given last-layer rate
    reduction (and any ``planted`` key's values, per epoch) and writes the epoch number into
    one tuned weight, so the chosen weights show."""
    calls = {"n": 0}

    def step(model, head, tuned, view_a, view_b, uc, loss_fn, optimizers, bf16=False, outer_views=None,
             early_cache=None):
        epoch = calls["n"]
        calls["n"] += 1
        with torch.no_grad():
            tuned["backbone.layer4.0.conv1.weight"].fill_(float(epoch))
        logs = {k: torch.tensor(1.0) for k in umm.step_keys(umm.parameter_groups(list(tuned)))}
        logs["rate_reduction_last"] = torch.tensor(rate_reductions[epoch])
        for key, values in planted.items():
            logs[key] = torch.tensor(values[epoch])
        return logs

    return step


def planted_probe(last: list[float], start: float = 0.0):
    """A stand-in for the probe measurement (pretrain.rate_reduction_monitor): the start value,
    then ``last[epoch]`` as the last-layer rate reduction, one call per epoch."""
    calls = {"n": 0}

    def measure(backbone, probe, cfg, device, autocast, batch_size=256):
        n = calls["n"]
        calls["n"] += 1
        value = start if n == 0 else last[n - 1]
        return {"rate_reduction_last": value, "rate_reduction_early": 1.0, "view_cosine_last": 0.5}

    return measure


def test_early_stopping_on_the_probe_rate_reduction_keeps_the_best_weights(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor is the probe's Delta R, not the batch mean (planted to peak elsewhere)."""
    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([9.0, 1.0, 1.0, 1.0, 1.0, 1.0]))
    monkeypatch.setattr(umm_stage, "rate_reduction_monitor", planted_probe([5.0, 7.0, 6.0, 6.5, 9.0, 9.0]))
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    cfg = tiny_config(
        **{"umm.epochs": "6", "umm.early_stop_on_rate_reduction": "true", "umm.patience": "2"}
    )
    result = umm.run(cfg, tmp_path, data=tiny_data(),
                     checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    assert result.stopped.startswith("early stopping")
    assert len(result.history) == 4 and result.best_epoch == 1
    weights = load_file(str(result.model_path))
    assert torch.all(weights["backbone.layer4.0.conv1.weight"] == 1.0)
    meta = json.loads(result.metadata_path.read_text())
    assert meta["metrics"]["probe_rate_reduction_last"] == 7.0
    assert meta["metrics"]["rate_reduction_last"] == 1.0


def test_early_stopping_on_the_last_layer_rate_reduction_keeps_the_best_weights(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pretraining's probe (pretrain.monitor_images=0) the monitor is the batch mean."""
    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([5.0, 7.0, 6.0, 6.5, 9.0, 9.0]))
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    cfg = tiny_config(
        **{"umm.epochs": "6", "umm.early_stop_on_rate_reduction": "true", "umm.patience": "2",
           "pretrain.monitor_images": "0"}
    )
    result = umm.run(
        cfg,
        tmp_path,
        data=tiny_data(),
        checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors",
    )
    assert result.stopped.startswith("early stopping")
    assert len(result.history) == 4 and result.best_epoch == 1
    weights = load_file(str(result.model_path))
    assert torch.all(weights["backbone.layer4.0.conv1.weight"] == 1.0)
    assert json.loads(result.metadata_path.read_text())["metrics"]["rate_reduction_last"] == 7.0


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([5.0, math.nan]))
    with pytest.raises(umm.UMMNonFiniteError, match="non-finite rate_reduction_last"):
        umm.run(
            tiny_config(),
            tmp_path,
            data=tiny_data(),
            checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors",
        )
    state = torch.load(tmp_path / "umm" / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 0 and len(state["history"]) == 1
    # the fix names where a changed setting can run (this folder refuses it): a new folder
    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([math.nan]))
    with pytest.raises(umm.UMMNonFiniteError) as stopped:
        umm.run(tiny_config(), tmp_path / "alone", data=tiny_data(),
                checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    said = str(stopped.value)
    assert "python -m drac_ssl.umm ... --run-dir NEW" in said and "No checkpoint was written yet" in said, said
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stages.json").write_text("{}")  # a run folder of python -m drac_ssl.train
    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([math.nan]))
    with pytest.raises(umm.UMMNonFiniteError) as stopped:
        umm.run(tiny_config(), tmp_path / "run", data=tiny_data(),
                checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    assert f"add run.name=run-2 run.reuse={tmp_path / 'run'} and the changed setting" in str(stopped.value)
    # run.name typed on python -m drac_ssl.train's command line: replaced, not given twice
    from drac_ssl.runtime import typed_settings

    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([math.nan]))
    with typed_settings({"run.name": "run.name=run"}), pytest.raises(umm.UMMNonFiniteError) as stopped:
        umm.run(tiny_config(), tmp_path / "run", data=tiny_data(),
                checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    assert (f"replace run.name=run with run.name=run-2 and add run.reuse={tmp_path / 'run'} and the "
            f"changed setting in your command") in str(stopped.value), stopped.value


def test_the_umm_command_says_a_non_finite_stop_as_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The engine printed the diagnostic and the command returned 1 in silence; the engine now
    leaves a stage's NonFiniteError to its command (python -m drac_ssl.train says it so too)."""
    from drac_ssl.umm import cli as umm_cli

    checkpoint = tmp_path / "vicreg_model.safetensors"
    # a safetensors header (8-byte length, then JSON): the command checks the file's format before
    # it makes the run folder (an empty file is refused there); the stage itself is replaced below
    checkpoint.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")

    def diverges(cfg, run_dir, checkpoint, data_dir):  # type: ignore[no-untyped-def]
        raise umm.UMMNonFiniteError("[umm] epoch 1: non-finite ssl_loss\n  fix: lower umm.outer_lr")

    monkeypatch.setattr(umm_stage, "run", diverges)
    capsys.readouterr()
    assert umm_cli.main([str(checkpoint), "--run-dir", str(tmp_path / "run"), "run.device=cpu"]) == 1
    captured = capsys.readouterr()
    assert captured.err.endswith("error: [umm] epoch 1: non-finite ssl_loss\n  fix: lower umm.outer_lr\n")
    assert "non-finite" not in captured.out and "Traceback" not in captured.err


def test_checkpoint_formats_and_mismatches_are_clear(pretrained: Path, tmp_path: Path) -> None:
    cfg = tiny_config()
    last_pt = pretrained / "pretrain" / "checkpoints" / "last.pt"
    model = umm.load_pretrained_model(cfg, last_pt)  # weights_only=True inside
    assert isinstance(model.expander, nn.Module)
    with pytest.raises(ValueError, match="expander"):  # backbone only: no expander to re-tune
        umm.load_pretrained_model(cfg, pretrained / "pretrain" / "backbone.safetensors")
    wrong = tiny_config(**{"pretrain.backbone.cifar_stem": "false"})
    with pytest.raises(ValueError, match="cifar_stem: checkpoint True, config False"):
        umm.load_pretrained_model(wrong, pretrained / "pretrain" / "vicreg_model.safetensors")
    halved = tiny_config(**{"pretrain.backbone.stem_stride": "2"})  # same weights' shapes
    with pytest.raises(ValueError, match="stem_stride: checkpoint 1, config 2"):
        umm.load_pretrained_model(halved, pretrained / "pretrain" / "vicreg_model.safetensors")
    with pytest.raises(FileNotFoundError, match="pretrain stage first"):
        umm.run(cfg, tmp_path, data=tiny_data())


def test_weights_pretrained_with_other_statistics_are_refused(pretrained: Path, tmp_path: Path) -> None:
    """A read-through: a Fashion-MNIST pretraining made before it had its own statistics
    (its metadata.json records MNIST's) went into UMM, whose views now use Fashion-MNIST's,
    with no word. The recorded input.normalization is compared, beside a .safetensors and for
    a checkpoint under RUN/pretrain/checkpoints/ alike; no record, no comparison."""
    import json
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(pretrained / "pretrain", copy / "pretrain")
    meta_path = copy / "pretrain" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    cfg = tiny_config()
    assert isinstance(umm.load_pretrained_model(cfg, copy / "pretrain" / "vicreg_model.safetensors"), nn.Module)
    meta["input"]["normalization"] = {"mean": [0.1307], "std": [0.3081]}
    meta_path.write_text(json.dumps(meta))
    for path in (copy / "pretrain" / "vicreg_model.safetensors", copy / "pretrain" / "checkpoints" / "last.pt"):
        with pytest.raises(ValueError, match=r"normalised with mean \[0.1307\] std \[0.3081\]"):
            umm.load_pretrained_model(cfg, path)
    meta_path.unlink()  # nothing recorded: nothing to compare
    assert isinstance(umm.load_pretrained_model(cfg, copy / "pretrain" / "checkpoints" / "last.pt"), nn.Module)


def test_cli_mismatched_architecture_exits_2_with_a_fix(pretrained: Path, capsys) -> None:
    code = umm.main(
        [
            str(pretrained / "pretrain" / "vicreg_model.safetensors"),
            "pretrain.expander=32-32",
            "pretrain.backbone.cifar_stem=false",
            "pretrain.augment.image_size=32",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "does not match" in err and "pretrain.backbone.cifar_stem=true" in err


def test_cli_missing_checkpoint_exits_2_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In process: ``python -m drac_ssl.umm`` runs this very main (the entry point itself is
    checked by test_package_layering's --help test); a subprocess cost 15-25 s of imports."""
    assert umm.main([str(tmp_path / "nope.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "checkpoint not found" in err and "nope.safetensors" in err


def test_cli_config_errors_are_all_listed_with_fixes_and_leave_no_run_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command made the run folder (and its .train.lock) before the stage checked its
    settings, and load_config stopped at the first bad key, without a fix: now every reading
    problem and every UMM setting out of range is listed, each with its fix, as
    python -m drac_ssl.train lists them, and nothing is made."""
    checkpoint = tmp_path / "vicreg_model.safetensors"
    checkpoint.write_bytes(b"")  # never read: the settings are refused first
    run_dir = tmp_path / "ablation"
    bad = ["umm.betta=0.5", "umm.epochs=0", "umm.alpha=-1", "umm.max_ssl_rise=-1", "umm.batch_size=1"]
    assert umm.main([str(checkpoint), "--run-dir", str(run_dir), *bad]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "5 problem(s)" in err, err
    for words in ("unknown setting 'umm.betta'. Did you mean 'umm.beta'?",
                  "umm.epochs=0 (command line 'umm.epochs=0')", "fix: umm.epochs=1 (as in ",
                  "umm.alpha=-1.0", "umm.max_ssl_rise=-1.0", "umm.batch_size=1"):
        assert words in err, (words, err)
    assert err.count("fix: ") == 5, err  # each value's and the typo's (umm.beta=0.5)
    assert "fix: umm.beta=0.5" in err, err
    assert not run_dir.exists()
    # a value the stage's own check refuses, that only the stage knew: refused before the folder too
    assert umm.main([str(checkpoint), "--run-dir", str(run_dir), "umm.past_peak_drop=1"]) == 2
    assert "umm.past_peak_drop" in capsys.readouterr().err and not run_dir.exists()


def test_cli_is_refused_while_a_training_holds_the_run_folder(
        pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m drac_ssl.umm RUN`` writes RUN/umm: while ``python -m drac_ssl.train`` (or
    another copy) holds RUN's lock, both would write it; this one is refused, writing nothing,
    with the training's exit code for a busy folder (75, a job script requeues it; it was 2)."""
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.runtime import hold_run

    run_dir = tmp_path / "busy"
    run_dir.mkdir()
    args = [str(pretrained / "pretrain" / "vicreg_model.safetensors"), "--run-dir", str(run_dir),
            *(f"{k}={v}" for k, v in CHEAP.items())]
    with hold_run(run_dir):
        assert umm.main(args) == RUN_BUSY == 75
    err = capsys.readouterr().err
    assert "in use: python -m drac_ssl.train, process" in err and "Traceback" not in err
    assert "--run-dir OTHER" in err  # the umm's own fix, not the training's run.name=
    assert not (run_dir / "umm").exists()
    # a new --run-dir is made and held too, so two copies started together cannot both run
    # there (this one then stops at the checkpoint's architecture, inside the held folder)
    new = tmp_path / "new"
    assert umm.main([args[0], "--run-dir", str(new), "pretrain.backbone.cifar_stem=false"]) == 2
    assert "does not match" in capsys.readouterr().err
    assert '"tool": "drac_ssl.umm"' in (new / ".train.lock").read_text()


def test_cli_exits_busy_while_the_source_runs_pretraining_still_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``python -m drac_ssl.umm RUN`` (or ``RUN/pretrain/vicreg_model.safetensors``)
    started while RUN's training still pretrains said "does not exist ... run the pretrain stage
    first" and exited 2 (a UMM job beside the training job, or its requeued copy, on SLURM):
    it now says the training's state and exits 75 (try again later). A lock left by a dead
    training is no run in progress: exit 2, the missing checkpoint said as before."""
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.run_state import RUN_LOCK
    from drac_ssl.runtime import hold_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm]\n")
    (run / "stages.json").write_text(json.dumps({
        "ingest": {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}},
        "pretrain": {"status": "running"}}))
    commands = [[str(run), "--run-dir", str(tmp_path / "u")], [str(run / "pretrain" / "vicreg_model.safetensors")]]
    capsys.readouterr()
    with hold_run(run):  # the training, pretraining
        assert [umm.main(argv) for argv in commands] == [RUN_BUSY, RUN_BUSY] == [75, 75]
    err = capsys.readouterr().err
    assert err.count("its training is still running: pretrain running (python -m drac_ssl.train, process") == 2, err
    assert "Traceback" not in err and "run the pretrain stage first" not in err, err
    assert not (tmp_path / "u").exists() and not (run / "umm").exists()
    (run / RUN_LOCK).write_text(json.dumps({"tool": "drac_ssl.train", "pid": 2 ** 22 + 1,
                                            "host": "elsewhere", "date_utc": "2026-01-01T00:00:00+00:00"}))
    assert [umm.main(argv) for argv in commands] == [2, 2]
    err = capsys.readouterr().err
    assert "still running" not in err and "UMM checkpoint not found" in err and "run the pretrain stage first" in err, err


def test_cli_says_a_run_dir_it_cannot_make_in_one_line_and_exits_2(
        pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``--run-dir`` in a folder this account cannot write exited 1 (the code of a
    non-finite loss) with a PermissionError traceback; it is one error line naming the folder
    and the fixes (:func:`drac_ssl.io.unreadable_words`, as the report says it), exit 2."""
    import errno

    from drac_ssl import io

    closed = tmp_path / "closed"
    closed.mkdir()
    closed.chmod(0o500)  # read and enter, not write
    if getattr(os, "geteuid", lambda: 1)() == 0:  # root writes it anyway: refused as the kernel refuses others
        real = io.make_run_folder

        def refused(path: object, private: bool = True) -> bool:
            if Path(str(path)).parent == closed:
                with io.writing(Path(str(path))):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real(path, private)

        monkeypatch.setattr(io, "make_run_folder", refused)
    try:
        code = umm.main([str(pretrained / "pretrain" / "vicreg_model.safetensors"), "--run-dir",
                         str(closed / "u"), *(f"{k}={v}" for k, v in CHEAP.items())])
    finally:
        closed.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("error:") == 1, err
    assert str(closed / "u") in err and "fix" in err, err
    assert not (closed / "u").exists()


# --------------------------------------------------------------------------------------
# The anchored outer objective (issue #13) on the tiny float64 problem


def anchored_problem(alpha: float, outer_ssl: bool = True, membership: str = "soft", seed: int = 0,
                     rate_reduction_on: str = "features"):
    """The tiny problem with UMM's own outer objective ``umm.outer_objective``:
    ``F = L_ssl(theta') - alpha * Delta R(theta')`` on features tanh(h W1 + b1) and
    embeddings features @ W2 (W2 plays the expander)."""
    theta, inner_loss_fn, _ = tiny_problem(seed)
    g = torch.Generator().manual_seed(seed)
    h_a = torch.randn(6, 5, generator=g, dtype=torch.float64)
    h_b = h_a + 0.5 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    uc = load_config(None, [f"umm.alpha={alpha}", f"umm.outer_ssl={str(outer_ssl).lower()}",
                            f"umm.membership={membership}", "umm.membership_temperature=0.3",
                            f"umm.rate_reduction_on={rate_reduction_on}"]).umm
    loss_fn = VICRegLoss()

    def terms(p: Sequence[torch.Tensor]) -> umm.OuterTerms:
        fa, fb = torch.tanh(h_a @ p[0] + p[1]), torch.tanh(h_b @ p[0] + p[1])
        return umm.outer_objective(fa, fb, fa @ p[2], fb @ p[2], loss_fn, uc)

    return theta, inner_loss_fn, terms, (h_a, h_b, uc, loss_fn)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_anchored_outer_objective_gradient_matches_central_differences(alpha: float) -> None:
    theta, inner_loss_fn, terms, (h_a, h_b, uc, loss_fn) = anchored_problem(alpha)

    def outer_loss_fn(p: Sequence[torch.Tensor]) -> torch.Tensor:
        return terms(p).objective

    # F is what it says: L_ssl - alpha * Delta R (soft membership), exactly L_ssl at alpha = 0
    fa, fb = torch.tanh(h_a @ theta[0] + theta[1]), torch.tanh(h_b @ theta[0] + theta[1])
    ssl = loss_fn(fa @ theta[2], fb @ theta[2]).loss
    rr = rate_reduction(fa, fb, membership="soft", temperature=0.3).delta
    value = outer_loss_fn(theta)
    if alpha == 0.0:
        assert torch.equal(value, ssl)
    else:
        assert float(value.detach()) == pytest.approx(float((ssl - alpha * rr).detach()), rel=1e-12)
    xi = 0.3
    hg = umm.hypergradient(theta, inner_loss_fn(theta), outer_loss_fn, inner_lr=xi)
    assert hg.direct == [True, True, True]
    g = torch.Generator().manual_seed(2)
    for _ in range(2):
        direction = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in theta]
        eps = 1e-5
        plus = unrolled_objective([t + eps * d for t, d in zip(theta, direction, strict=True)],
                                  inner_loss_fn, outer_loss_fn, xi)
        minus = unrolled_objective([t - eps * d for t, d in zip(theta, direction, strict=True)],
                                   inner_loss_fn, outer_loss_fn, xi)
        numeric = (plus - minus) / (2 * eps)
        assert flat_dot(hg.gradient, direction) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_without_the_ssl_anchor_the_expander_gets_only_the_cross_term() -> None:
    theta, inner_loss_fn, terms, _ = anchored_problem(1.0, outer_ssl=False)
    hg = umm.hypergradient(theta, inner_loss_fn(theta), lambda p: terms(p).objective, inner_lr=0.3)
    # Delta R on the features does not reach W2: its outer gradient is -xi (H v) alone
    assert hg.direct == [True, True, False]
    assert float(hg.gradient[2].abs().sum()) > 0
    cfg = load_config(None, ["umm.outer_ssl=false"])
    assert umm.outer_step_groups(cfg.umm, ["layer4", "expander"]) == ["layer4"]
    assert umm.outer_step_groups(load_config(None, []).umm, ["layer4", "expander"]) == ["layer4", "expander"]
    assert umm.outer_step_groups(load_config(None, ["umm.outer_ssl=false", "umm.alpha=0"]).umm,
                                 ["layer4", "expander"]) == []


def test_rate_reduction_on_the_embedding_takes_delta_r_of_the_expander_outputs() -> None:
    theta, inner_loss_fn, terms, (h_a, h_b, uc, _) = anchored_problem(1.0, outer_ssl=False,
                                                                    rate_reduction_on="embedding")
    fa, fb = torch.tanh(h_a @ theta[0] + theta[1]), torch.tanh(h_b @ theta[0] + theta[1])
    on_z = rate_reduction(fa @ theta[2], fb @ theta[2], eps2=uc.eps2, membership="soft",
                          temperature=0.3).delta.detach()
    on_features = rate_reduction(fa, fb, eps2=uc.eps2, membership="soft", temperature=0.3).delta.detach()
    got = terms(theta)
    assert float(got.rate_reduction) == pytest.approx(float(on_z), rel=1e-12)
    assert float(got.rate_reduction) != pytest.approx(float(on_features), rel=1e-3)
    assert float(got.objective.detach()) == pytest.approx(-float(on_z), rel=1e-12)
    # Delta R now reaches W2 (the expander's part) directly: it takes an outer step
    hg = umm.hypergradient(theta, inner_loss_fn(theta), lambda p: terms(p).objective, inner_lr=0.3)
    assert hg.direct == [True, True, True]
    cfg = load_config(None, ["umm.outer_ssl=false", "umm.rate_reduction_on=embedding"])
    assert umm.outer_step_groups(cfg.umm, ["layer4", "expander"]) == ["layer4", "expander"]
    with pytest.raises(ValueError, match="umm.rate_reduction_on=embedding"):
        umm.outer_objective(fa, fb, None, None, VICRegLoss(), cfg.umm)


# --------------------------------------------------------------------------------------
# The start rule on recorded monitor curves


def curve(values: list[float]) -> list[dict[str, float]]:
    return [{"epoch": e, "loss": 20.0 - e, "rate_reduction_last": v} for e, v in enumerate(values)]


def test_start_rule_picks_the_right_checkpoint_from_a_recorded_monitor_curve() -> None:
    history = curve([3.0, 5.0, 7.0, 6.9, 6.0, 5.5])  # peak at epoch 2, then memorising
    assert umm.choose_start(history, "peak")[:2] == ("peak", 2)
    which, epoch, reason = umm.choose_start(history, "past_peak", drop=0.05)
    assert (which, epoch) == ("last", 5) and "21.4% below the peak at epoch 3" in reason
    assert umm.choose_start(history, "last")[:2] == ("last", 5)
    assert umm.choose_start(history, "best")[:2] == ("best", None)
    # the last epoch has not fallen far enough below the peak (6.9 > 0.95 * 7.0)
    with pytest.raises(ValueError, match="has not passed the monitor's peak(.|\n)*fix: pretrain longer"):
        umm.choose_start(history[:4], "past_peak", drop=0.05)
    assert umm.choose_start(history[:4], "past_peak", drop=0.01)[:2] == ("last", 3)
    # still rising: the last epoch is the peak
    with pytest.raises(ValueError, match="past_peak"):
        umm.choose_start(history[:3], "past_peak", drop=0.0)
    # ties: the first maximum is the peak
    assert umm.monitor_peak(curve([5.0, 7.0, 7.0, 4.0])) == (1, 7.0)
    # no monitor recorded
    with pytest.raises(ValueError, match="pretrain.monitor_images"):
        umm.choose_start([{"epoch": 0, "loss": 1.0}], "past_peak")


def test_pretraining_keeps_the_monitor_peak_and_start_from_resolves_it(pretrained: Path) -> None:
    rows = [json.loads(line) for line in (pretrained / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["rate_reduction_last"]) and math.isfinite(r["rate_reduction_early"])
               for r in rows)
    start = umm.resolve_start(pretrained, None, "peak")
    assert start.path == pretrained / "pretrain" / "checkpoints" / "monitor_peak.pt"
    assert start.epoch == 0 and start.value == rows[0]["rate_reduction_last"]
    assert isinstance(umm.load_pretrained_model(tiny_config(), start.path), nn.Module)
    assert umm.resolve_start(pretrained, None, "last").path.name == "last.pt"
    best = umm.resolve_start(pretrained, None, "best")
    assert best.path.name == "vicreg_model.safetensors" and best.epoch == 0
    with pytest.raises(ValueError, match="has not passed"):  # one epoch: nothing past the peak
        umm.resolve_start(pretrained, None, "past_peak")


def _pretrain_folder(run_dir: Path, values: list[float], saved_epoch: int) -> None:
    """``run_dir/pretrain`` as a pretraining killed after epoch ``len(values)`` leaves it with
    ``pretrain.checkpoint_every`` > 1: ``metrics.jsonl`` has every epoch, ``last.pt`` (and the
    peak checkpoint) only ``saved_epoch``."""
    from drac_ssl.checkpoint import save_checkpoint

    folder = run_dir / "pretrain"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curve(values)))
    for name in ("last.pt", "monitor_peak.pt"):
        save_checkpoint(folder / "checkpoints" / name, {"epoch": saved_epoch, "model": {}})


def test_last_and_past_peak_take_the_epoch_of_the_saved_weights(tmp_path: Path) -> None:
    """A review: ``metrics.jsonl`` is written every epoch, ``last.pt`` only every
    ``pretrain.checkpoint_every``; the start point named the last epoch of the history, a
    later one than the weights it loads, and past_peak judged an epoch it did not load."""
    _pretrain_folder(tmp_path, [3.0, 7.0, 6.0, 5.0], saved_epoch=1)  # last.pt: epoch 2, the peak
    start = umm.resolve_start(tmp_path, None, "last")
    assert start.path.name == "last.pt" and start.epoch == 1 and start.value == 7.0
    assert "epoch (2)" in start.reason
    with pytest.raises(ValueError, match="has not passed the monitor's peak"):
        umm.resolve_start(tmp_path, None, "past_peak")
    # a finished pretraining (last.pt holds the last epoch): as before
    _pretrain_folder(tmp_path / "done", [3.0, 7.0, 6.0, 5.0], saved_epoch=3)
    start = umm.resolve_start(tmp_path / "done", None, "past_peak")
    assert (start.rule, start.epoch, start.peak_epoch, start.value) == ("past_peak", 3, 1, 5.0)


def test_a_start_from_a_removed_checkpoint_names_the_file_and_the_default_start(tmp_path: Path) -> None:
    """run.keep_checkpoints=false removed pretrain/checkpoints/ after the run finished; UMM run
    on it alone (python -m drac_ssl.umm RUN umm.start_from=last) was told to "run the pretrain
    stage first", which had run."""
    _pretrain_folder(tmp_path, [3.0, 7.0, 6.0, 5.0], saved_epoch=3)
    (tmp_path / "pretrain" / "vicreg_model.safetensors").write_bytes(b"")
    import shutil

    shutil.rmtree(tmp_path / "pretrain" / "checkpoints")
    (tmp_path / "stages.json").write_text(json.dumps({"pretrain": {"status": "done", "checkpoints_removed": {
        "folder": "pretrain/checkpoints", "mib": 250.0, "utc": "2026-01-01T00:00:00+00:00"}}}))
    for rule, name in (("last", "last.pt"), ("peak", "monitor_peak.pt"), ("past_peak", "last.pt")):
        with pytest.raises(FileNotFoundError) as caught:
            umm.resolve_start(tmp_path, None, rule)
        message = str(caught.value)
        assert message.startswith(f"umm.start_from={rule} starts UMM from "
                                  f"{tmp_path / 'pretrain' / 'checkpoints' / name}, which does not exist: "
                                  f"the run's checkpoints were removed after it finished "
                                  f"(run.keep_checkpoints=false, stages.json)"), message
        assert "fix: umm.start_from=best" in message and "run the pretrain stage first" not in message
    # the default start reads vicreg_model.safetensors, which stays
    assert umm.resolve_start(tmp_path, None, "best").path.name == "vicreg_model.safetensors"


def test_the_start_note_says_when_umm_does_not_start_past_the_monitor_peak() -> None:
    """methods.md section 2 applies UMM past the monitor's peak; the default start_from=best
    is not checked, so the outputs say when the start is not past it (nothing without a
    monitor)."""
    def point(epoch: int | None, peak: int | None) -> umm.StartPoint:
        return umm.StartPoint("best", Path("x"), epoch, None, peak, 1.0 if peak is not None else None)

    note = umm.start_note(point(1, 2), last_epoch=4)
    assert note.startswith("UMM started from epoch 2, not past the rate-reduction monitor's peak (epoch 3)")
    assert "umm.start_from=past_peak" in note and "memorise" in note
    assert umm.start_note(point(2, 2), last_epoch=4).startswith("UMM started from epoch 3, not past")
    assert "never peaked" in umm.start_note(point(2, 2), last_epoch=2)  # still rising at the end
    assert umm.start_note(point(3, 2), last_epoch=4) == ""  # past the peak
    assert umm.start_note(point(1, None), last_epoch=4) == ""  # no monitor: nothing new
    assert umm.start_note(point(None, 2), last_epoch=4) == ""  # the start epoch is not known


def test_umm_from_the_default_start_says_it_is_not_past_the_peak(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    shutil.copytree(pretrained / "pretrain", tmp_path / "pretrain")
    result = umm.run(tiny_config(**CHEAP, **{"umm.epochs": "1"}), tmp_path, data=tiny_data())
    meta = json.loads(result.metadata_path.read_text())
    note = meta["umm"]["start_note"]
    assert note.startswith("UMM started from epoch 1, not past the rate-reduction monitor's peak (epoch 1")
    assert capsys.readouterr().out.count(note) == 1


# --------------------------------------------------------------------------------------
# The step on the ResNet layers: the fair control and the outer-step exclusion


def tuned_model(cfg: Config, pretrained: Path):
    model = umm.load_pretrained_model(cfg, pretrained / "pretrain" / "vicreg_model.safetensors")
    model.backbone.freeze_until("layer3")
    for stage in model.backbone.stage_modules("layer3"):
        umm.make_batch_norm_composable(stage)
    umm.make_batch_norm_composable(model.expander)
    head = umm.AfterCut(model, "layer3").train()
    tuned = {n: p for n, p in head.named_parameters() if p.requires_grad}
    return model, head, tuned


def one_step(cfg: Config, pretrained: Path, x: torch.Tensor, outer_views: torch.Tensor | None = None):
    """One umm_step from the pretrained weights (``outer_views``: F's batch with
    ``umm.outer_batch=next``); returns (logs, state after the inner step, state after the step)."""
    model, head, tuned = tuned_model(cfg, pretrained)
    optimizers = umm.build_optimizers(list(tuned.values()), cfg.umm)
    after_inner: dict[str, torch.Tensor] = {}
    inner_step = optimizers.inner.step

    def recording_step(*args, **kwargs):
        out = inner_step(*args, **kwargs)
        after_inner.update({n: p.detach().clone() for n, p in tuned.items()})
        return out

    optimizers.inner.step = recording_step
    logs = umm.umm_step(model, head, tuned, x[0], x[1], cfg.umm, VICRegLoss(), optimizers,
                        outer_views=None if outer_views is None else (outer_views[0], outer_views[1]))
    return logs, after_inner, {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_alpha_zero_is_the_control_step_delta_r_never_enters_it(
    pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.randn(2, 8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    control = tiny_config(**CHEAP, **{"umm.alpha": "0"})
    logs, inner_0, after_0 = one_step(control, pretrained, x)
    assert math.isfinite(float(logs["outer_rate_reduction"]))  # logged ...
    assert float(logs["outer_objective"]) == float(logs["outer_ssl_loss"])  # ... F = L_ssl
    # ... and never in an update: with Delta R poisoned, the step is bit-for-bit the same
    from drac_ssl.umm import step as umm_step_module

    def poisoned(*args, **kwargs):
        rr = rate_reduction(*args, **kwargs)
        return type(rr)(*(t * math.nan for t in rr))

    with monkeypatch.context() as m:
        m.setattr(umm_step_module, "rate_reduction", poisoned)
        logs_p, _, after_p = one_step(control, pretrained, x)
    assert math.isnan(float(logs_p["outer_rate_reduction"]))
    for key, value in after_0.items():
        assert torch.equal(value, after_p[key]), key
    # the same two-level structure as UMM: the bit-same inner step, then a different outer step
    _, inner_u, after_u = one_step(tiny_config(**CHEAP, **{"umm.alpha": "0.5"}), pretrained, x)
    for key, value in inner_0.items():
        assert torch.equal(value, inner_u[key]), key
    name = "backbone.layer4.0.conv1.weight"
    assert not torch.equal(after_0[name], after_u[name])
    assert not torch.equal(inner_0[name], after_0[name])  # the control takes its outer step too


def test_outer_step_skips_the_expander_when_delta_r_alone_is_the_outer_objective(pretrained: Path) -> None:
    x = torch.randn(2, 8, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    old = tiny_config(**CHEAP, **{"umm.outer_ssl": "false"})
    logs, after_inner, after = one_step(old, pretrained, x)
    assert float(logs["step_ratio_expander"]) == 0.0 and float(logs["step_ratio_layer4"]) > 0
    assert math.isnan(float(logs["outer_ssl_loss"]))
    for key, value in after_inner.items():
        assert torch.equal(value, after[key]) == key.startswith("expander."), key
    logs, _, _ = one_step(tiny_config(**CHEAP), pretrained, x)  # anchored: every group steps
    assert float(logs["step_ratio_expander"]) > 0 and float(logs["step_ratio_layer4"]) > 0


def test_with_next_batch_pairs_each_batch_with_the_next_and_the_last_with_the_first() -> None:
    from drac_ssl.umm.step import with_next_batch

    assert list(with_next_batch(iter([1, 2, 3]))) == [(1, 2), (2, 3), (3, 1)]
    assert list(with_next_batch([7])) == [(7, 7)]
    assert list(with_next_batch([])) == []


def test_outer_batch_next_takes_f_on_the_next_batch_and_same_on_the_inner_one(
    pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drac_ssl.umm import step as umm_step_module

    seen: list[int] = []
    real = umm_step_module.outer_objective

    def spy(feat_a, *args, **kwargs):
        seen.append(len(feat_a))
        return real(feat_a, *args, **kwargs)

    monkeypatch.setattr(umm_step_module, "outer_objective", spy)
    x = torch.randn(2, 4, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    nxt = torch.randn(2, 3, 1, 32, 32, generator=torch.Generator().manual_seed(4))  # 3 images: told apart
    logs_s, inner_s, after_s = one_step(tiny_config(**CHEAP), pretrained, x)
    assert seen and set(seen) == {4}  # same: F on the inner step's 4 images
    seen.clear()
    logs_n, inner_n, after_n = one_step(tiny_config(**CHEAP, **{"umm.outer_batch": "next"}), pretrained, x, nxt)
    assert seen and set(seen) == {3}  # next: F on the next batch's 3 images only
    for key, value in inner_s.items():  # the inner step does not read the outer batch
        assert torch.equal(value, inner_n[key]), key
    assert float(logs_s["ssl_loss"]) == float(logs_n["ssl_loss"])
    assert float(logs_s["outer_ssl_loss"]) != float(logs_n["outer_ssl_loss"])
    name = "backbone.layer4.0.conv1.weight"
    assert not torch.equal(after_s[name], after_n[name])
    model, head, tuned = tuned_model(tiny_config(), pretrained)  # refused before any forward
    for setting, outer_views in (("next", None), ("same", (nxt[0], nxt[1]))):
        uc = tiny_config(**CHEAP, **{"umm.outer_batch": setting}).umm
        with pytest.raises(ValueError, match=f"umm.outer_batch={setting}"):
            umm.umm_step(model, head, tuned, x[0], x[1], uc, VICRegLoss(),
                         umm.build_optimizers(list(tuned.values()), uc), outer_views=outer_views)


def test_outer_batch_next_feeds_the_stage_s_step_pairs_of_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    class Feed:
        def epoch(self, epoch: int):
            return iter([(f"a{i}", f"b{i}") for i in range(3)])

    calls: list[tuple[str, tuple[str, str] | None]] = []
    monkeypatch.setattr(umm_stage, "umm_step", lambda model, head, tuned, view_a, view_b, *args, outer_views=None,
                        **kwargs: calls.append((view_a, outer_views)) or {})
    for setting, use_rate_reduction, want in (
        ("next", True, [("a0", ("a1", "b1")), ("a1", ("a2", "b2")), ("a2", ("a0", "b0"))]),
        ("same", True, [("a0", None), ("a1", None), ("a2", None)]),
        ("next", False, [("a0", None), ("a1", None), ("a2", None)]),  # no outer level: nothing to pair
    ):
        task = object.__new__(umm_stage._UMMTraining)  # only what batches() and step() read
        task.uc = tiny_config(**{"umm.outer_batch": setting,
                                 "umm.use_rate_reduction": str(use_rate_reduction).lower()}).umm
        task.feed, task.model, task.head, task.tuned = Feed(), None, None, None
        task.loss_fn, task.optimizers, task.bf16, task.early_cache = None, None, False, None
        calls.clear()
        for i, batch in enumerate(task.batches(0)):
            task.step(batch, i)
        assert calls == want, setting


def test_outer_batch_next_reuses_the_outer_batch_s_early_features_bit_for_bit(
    pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review F2: step i's outer batch is step i+1's inner batch (the same view tensors);
    its frozen, eval-mode early stages ran twice. With the cache they run once, and the
    steps are bit-for-bit those without it."""
    from drac_ssl.umm import step as umm_step_module

    cfg = tiny_config(**CHEAP, **{"umm.outer_batch": "next"})
    g = torch.Generator().manual_seed(5)
    batches = [tuple(torch.randn(2, 3, 1, 16, 16, generator=g)) for _ in range(2)]
    count = {"n": 0}
    real = umm_step_module.early_features

    def counted(*args, **kwargs):
        count["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(umm_step_module, "early_features", counted)

    def epoch(cache: umm_step_module.EarlyFeatureCache | None):
        model, head, tuned = tuned_model(cfg, pretrained)
        optimizers = umm.build_optimizers(list(tuned.values()), cfg.umm)
        count["n"] = 0
        logs = [umm.umm_step(model, head, tuned, *inner, cfg.umm, VICRegLoss(), optimizers,
                             outer_views=outer, early_cache=cache)
                for inner, outer in umm_step_module.with_next_batch(batches)]
        return count["n"], logs, model.state_dict()

    calls_plain, logs_plain, state_plain = epoch(None)
    calls_cached, logs_cached, state_cached = epoch(umm_step_module.EarlyFeatureCache())
    assert calls_plain == 4 * 2  # two views of the inner and of the outer batch, each step
    assert calls_cached == 4 + 2  # the first step, then only the outer batch's views
    for plain, cached in zip(logs_plain, logs_cached, strict=True):
        for key, value in plain.items():
            assert torch.equal(value, cached[key]) or (value.isnan() and cached[key].isnan()), key
    for key, value in state_plain.items():
        assert torch.equal(value, state_cached[key]), key


@pytest.mark.parametrize(("overrides", "n_images", "cause", "not_the_cause"), [
    ({}, 24, "umm.max_steps_per_epoch=0", "umm.batch_size="),  # 24 images: 3 batches of 8, capped at 1
    ({"umm.max_steps_per_epoch": "0", "umm.batch_size": "16"}, 24, "umm.batch_size=12", "umm.max_steps_per_epoch=0"),
    # 3 images: umm.batch_size=2 still gives one batch (3 // 2); only more images make two
    ({"umm.max_steps_per_epoch": "0", "umm.batch_size": "2"}, 3, "4 images or more", "umm.batch_size="),
])
def test_outer_batch_next_is_refused_with_one_batch_an_epoch(
        pretrained: Path, tmp_path: Path, overrides: dict[str, str], n_images: int, cause: str,
        not_the_cause: str) -> None:
    """The fix names the setting that leaves one batch: the step cap, or a batch of more than
    half the images (review F1: it suggested umm.batch_size also when the cap was the cause),
    and with 2-3 images no batch size, which would leave one batch all the same."""
    cfg = tiny_config(**CHEAP, **{"umm.outer_batch": "next", **overrides})  # umm.max_steps_per_epoch=1
    with pytest.raises(ValueError, match="umm.outer_batch=next takes F on the epoch's next batch") as err:
        umm.run(cfg, tmp_path / "run", data=tiny_data(n_images),
                checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    fix = str(err.value).partition("fix: ")[2]
    assert cause in fix and not_the_cause not in fix and "umm.outer_batch=same" in fix, fix


# --------------------------------------------------------------------------------------
# The guard


def test_guard_stops_on_a_planted_ssl_blow_up_and_keeps_the_last_epoch_that_passed(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(umm_stage._UMMTraining, "measure_ssl_start", lambda self: 10.0)
    monkeypatch.setattr(umm_stage, "umm_step",
                        fake_steps([5.0, 6.0, 7.0, 8.0], ssl_loss=[10.5, 10.9, 25.0, 10.0]))
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    cfg = tiny_config(**{"umm.epochs": "4", "umm.max_ssl_rise": "0.1"})
    checkpoint = pretrained / "pretrain" / "vicreg_model.safetensors"
    result = umm.run(cfg, tmp_path, data=tiny_data(), checkpoint=checkpoint)
    assert result.guard_fired
    assert result.stopped.startswith("guard: the SSL loss rose 150.0% above its start value 10")
    assert [r["ssl_rise"] for r in result.history] == pytest.approx([0.05, 0.09, 1.5])
    weights = load_file(str(result.model_path))
    assert torch.all(weights["backbone.layer4.0.conv1.weight"] == 1.0)  # epoch 2's weights
    meta = json.loads(result.metadata_path.read_text())
    assert meta["umm"]["guard"]["fired"] and meta["umm"]["weights"].startswith("epoch 2,")
    assert meta["stopped"] == result.stopped and meta["metrics"]["ssl_loss"] == 10.9
    state = torch.load(tmp_path / "umm" / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["stopped"] == result.stopped and len(state["history"]) == 3
    # rerunning the command resumes into the stopped run: no further epoch
    again = umm.run(cfg, tmp_path, data=tiny_data(), checkpoint=checkpoint)
    assert again.guard_fired and len(again.history) == 3
    assert torch.all(load_file(str(again.model_path))["backbone.layer4.0.conv1.weight"] == 1.0)


def test_guard_on_the_first_epoch_keeps_the_starting_weights(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(umm_stage._UMMTraining, "measure_ssl_start", lambda self: 10.0)
    monkeypatch.setattr(umm_stage, "umm_step", fake_steps([5.0, 6.0], ssl_loss=[30.0, 10.0]))
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    checkpoint = pretrained / "pretrain" / "vicreg_model.safetensors"
    result = umm.run(tiny_config(), tmp_path, data=tiny_data(), checkpoint=checkpoint)
    assert result.guard_fired and len(result.history) == 1
    before, after = load_file(str(checkpoint)), load_file(str(result.model_path))
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    assert "starting weights" in json.loads(result.metadata_path.read_text())["umm"]["weights"]


def test_step_norm_guard_fires_when_the_outer_step_outgrows_the_inner_one(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(umm_stage, "umm_step",
                        fake_steps([5.0, 6.0, 7.0], step_ratio_layer4=[2.0, 150.0, 1.0]))
    monkeypatch.setattr(umm_stage, "_plot_history", lambda *args: None)
    cfg = tiny_config(**{"umm.epochs": "3", "umm.max_step_ratio": "10", "umm.max_ssl_rise": "0"})
    result = umm.run(cfg, tmp_path, data=tiny_data(),
                     checkpoint=pretrained / "pretrain" / "vicreg_model.safetensors")
    assert result.guard_fired and len(result.history) == 2
    assert "outer step outgrew the inner one in epoch 2 (layer4 150x" in result.stopped


def test_cli_takes_a_run_folder_and_starts_from_the_rule(pretrained: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {}
    monkeypatch.setattr(umm_stage, "run", lambda cfg, run_dir, checkpoint, data_dir: calls.update(
        cfg=cfg, run_dir=run_dir, start=checkpoint))
    args = [str(pretrained), "--run-dir", str(tmp_path), "umm.start_from=peak", "pretrain.expander=32-32",
            "pretrain.backbone.cifar_stem=true", "pretrain.augment.image_size=32"]
    assert umm.main(args) == 0
    assert calls["start"].rule == "peak" and calls["start"].path.name == "monitor_peak.pt"
    assert calls["run_dir"] == tmp_path
    assert umm.main([*args[:3], "umm.start_from=past_peak", *args[4:]]) == 2  # not past the peak


def test_cli_ctrl_c_after_the_last_epoch_says_what_the_checkpoint_holds(
        pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C outside the epoch loop (the weights being written after the last epoch) said
    'resume from the last checkpoint'; the train command says what last.pt holds, and so now
    does python -m drac_ssl.umm."""
    def ctrl_c(cfg, run_dir, **kwargs):  # type: ignore[no-untyped-def]
        (run_dir / "umm" / "checkpoints").mkdir(parents=True)
        torch.save({"epoch": 0, "stopped": "", "model": {"w": torch.zeros(2)}},
                   run_dir / "umm" / "checkpoints" / "last.pt")
        raise KeyboardInterrupt

    monkeypatch.setattr(umm_stage, "run", ctrl_c)  # cli.main imports it after parsing
    args = [str(pretrained / "pretrain" / "vicreg_model.safetensors"), "--run-dir", str(tmp_path),
            "umm.epochs=1", "run.device=cpu"]
    said = ("[umm] interrupted in umm (training finished: epoch 1 of 1 saved); rerun the same command to "
            "finish the stage from the saved weights (no epoch is trained again)\n")
    # the command's own process (python -m drac_ssl.umm: argv None): exit 130, no traceback
    monkeypatch.setattr(sys, "argv", ["drac_ssl.umm", *args])
    assert umm.main() == 130
    assert capsys.readouterr().err.endswith(said)
    shutil.rmtree(tmp_path / "umm")
    # a call from Python (a notebook): said the same, then raised again with the command's code,
    # as drac_ssl.train.main does, so that "Run All" stops (it returned 130 and the next cell ran)
    with pytest.raises(KeyboardInterrupt) as caught:
        umm.main(args)
    assert caught.value.exit_code == 130  # type: ignore[attr-defined]
    assert capsys.readouterr().err.endswith(said)
    # one traceback in a notebook, as train's: not the KeyboardInterrupt it was made from first
    # ("During handling of the above exception, another exception occurred")
    assert caught.value.__suppress_context__ and caught.value.__cause__ is None


def test_cli_ctrl_c_says_which_epoch_is_saved_and_the_rerun_resumes_there(
        pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m drac_ssl.umm`` words a Ctrl-C as ``python -m drac_ssl.train`` does: the
    stage, the epoch its last checkpoint holds, what the same command does next."""
    import signal

    monkeypatch.setattr(pretrain, "load_pretrain_data", lambda *args, **kwargs: tiny_data())
    real_step = umm_stage._UMMTraining.step

    def ctrl_c_in_the_second_epoch(self, batch, step):  # type: ignore[no-untyped-def]
        if step == 1:  # one step per epoch: epoch 2; a terminal's Ctrl-C is a SIGINT
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, batch, step)

    args = [str(pretrained / "pretrain" / "vicreg_model.safetensors"), "--run-dir", str(tmp_path),
            "umm.epochs=3", *(f"{k}={v}" for k, v in CHEAP.items()), "pretrain.expander=32-32",
            "pretrain.augment.image_size=32", "pretrain.augment.source_size=48",
            "pretrain.backbone.cifar_stem=true", "run.device=cpu", "umm.batch_size=8",
            "umm.max_steps_per_epoch=1", "umm.early_cut=layer3"]
    # Python's own Ctrl-C handler, as a terminal run has it (pytest started as a background job
    # of a script inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(umm_stage._UMMTraining, "step", ctrl_c_in_the_second_epoch)
            with pytest.raises(KeyboardInterrupt) as caught:
                umm.main(args)
            assert caught.value.exit_code == 130  # type: ignore[attr-defined]
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err
    assert err.endswith("[umm] interrupted in umm (epoch 1 of 3 saved); rerun the same command to "
                        "resume from epoch 2\n"), err
    assert umm.main(args) == 0  # the same command
    out = capsys.readouterr().out
    assert "1 of 3 epoch(s) done, continuing with epoch 2" in out and "[umm] epoch 1/3" not in out


def test_js_term_has_a_graph_that_trains_the_tuned_layers() -> None:
    """The inner objective's JS term keeps its graph (create_graph=True), so it has a gradient
    with respect to the tuned layers (mutation U02: create_graph=False, a JS that trains nothing)."""
    from drac_ssl.umm.layers import AfterCut, early_features
    from drac_ssl.umm.step import inner_objective

    torch.manual_seed(0)
    pc = load_config(None, ["pretrain.expander=16-16", "pretrain.backbone.cifar_stem=true",
                            "pretrain.backbone.in_channels=3"]).pretrain
    model = build_vicreg_model(pc)
    model.backbone.freeze_until("layer3")
    head = AfterCut(model, "layer3").train()
    params = [p for p in head.parameters() if p.requires_grad]
    x = torch.randn(2, 6, 3, 32, 32)
    h_a, h_b = (early_features(model, v, "layer3", False) for v in x)
    terms = inner_objective(head, h_a, h_b, VICRegLoss(), beta=1.0, use_js=True)
    assert terms.js.requires_grad
    grads = torch.autograd.grad(terms.js, params, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_kept_early_features_are_not_reused_once_the_backbone_is_unfrozen_past_the_cut(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation audit M41: the cache reused kept features whatever the backbone's frozen part
    (the check ``frozen_until == early_cut`` replaced by True) and no test saw it. Catches that:
    kept features are returned while the backbone is frozen up to the cut, and computed afresh
    once it is frozen up to another cut or not at all (its weights and BatchNorm statistics may
    then change between steps)."""
    from types import SimpleNamespace

    from drac_ssl.umm import step as umm_step_module

    fresh = torch.zeros(1)
    monkeypatch.setattr(umm_step_module, "early_features", lambda *args: fresh)
    view, kept = torch.ones(1), torch.full((1,), 2.0)
    cache = umm_step_module.EarlyFeatureCache()
    cache.keep([(view, kept)], "layer2", False)
    model = SimpleNamespace(backbone=SimpleNamespace(frozen_until="layer2"))
    assert cache.features(model, view, "layer2", False) is kept  # type: ignore[arg-type]
    for unfrozen in (None, "layer1"):
        model.backbone.frozen_until = unfrozen
        assert cache.features(model, view, "layer2", False) is fresh, unfrozen  # type: ignore[arg-type]
