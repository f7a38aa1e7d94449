"""Optimisers and the learning-rate schedule (drac_ssl.optim)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from drac_ssl.config import PretrainConfig
from drac_ssl.optim import LARS, build_optimizer, lr_at, set_lr


def test_lr_warmup_then_cosine() -> None:
    kw = dict(total_steps=110, warmup_steps=10, base_lr=1.0)
    # warm-up: base * (step + 1) / warmup
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(4, **kw) == pytest.approx(0.5)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    # cosine over the remaining 100 steps: 0.5 * (1 + cos(pi * t))
    assert lr_at(10, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.5)  # t = 0.5
    assert lr_at(35, **kw) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # t = 0.25
    assert lr_at(110, **kw) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(500, **kw) == pytest.approx(0.0, abs=1e-12)
    # floor at base * min_lr_ratio: min + (base - min) * 0.5 at t = 0.5
    assert lr_at(60, **kw, min_lr_ratio=0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(110, **kw, min_lr_ratio=0.1) == pytest.approx(0.1)


def test_lr_constant_and_no_warmup() -> None:
    assert lr_at(0, total_steps=10, warmup_steps=0, base_lr=0.3) == pytest.approx(0.3)
    assert lr_at(7, total_steps=10, warmup_steps=0, base_lr=0.3, schedule="constant") == 0.3
    assert lr_at(1, total_steps=10, warmup_steps=4, base_lr=0.4, schedule="constant") == (
        pytest.approx(0.2))
    with pytest.raises(ValueError, match="schedule"):
        lr_at(0, total_steps=10, warmup_steps=0, base_lr=0.3, schedule="step")


def test_lars_decreases_a_quadratic() -> None:
    torch.manual_seed(0)
    target = torch.randn(8, 4)
    weight = nn.Parameter(torch.randn(8, 4))
    bias = nn.Parameter(torch.randn(4))
    opt = LARS([{"params": [weight]}, {"params": [bias], "lars_exclude": True, "lr": 0.05}],
               lr=5.0, weight_decay=0.0, momentum=0.9)

    def loss_fn() -> torch.Tensor:
        return ((weight - target) ** 2).sum() + (bias**2).sum()

    start = loss_fn().item()
    for _ in range(50):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss_fn().item() < 0.5 * start


def test_lars_trust_ratio_first_step() -> None:
    # One step from zero momentum: update = lr * eta * ||p|| / ||g|| * g.
    p = nn.Parameter(torch.tensor([3.0, 4.0]))  # ||p|| = 5
    p.grad = torch.tensor([0.0, 2.0])  # ||g|| = 2
    opt = LARS([p], lr=1.0, weight_decay=0.0, eta=0.1)
    opt.step()
    # q = 0.1 * 5 / 2 = 0.25 -> step 0.25 * [0, 2] = [0, 0.5]
    torch.testing.assert_close(p.detach(), torch.tensor([3.0, 3.5]))
    b = nn.Parameter(torch.tensor([1.0]))
    b.grad = torch.tensor([2.0])
    LARS([b], lr=0.1, weight_decay=0.0, lars_exclude=True).step()
    torch.testing.assert_close(b.detach(), torch.tensor([0.8]))  # plain SGD, no trust ratio
    c = nn.Parameter(torch.tensor([1.0]))
    c.grad = torch.tensor([2.0])
    LARS([c], lr=0.1, weight_decay=1.0, lars_exclude=True).step()
    # the flag leaves out the trust ratio only; the group's decay (0 from param_groups unless
    # decay_bias_and_norm) still applies: 1 - 0.1 * (2 + 1.0 * 1)
    torch.testing.assert_close(c.detach(), torch.tensor([0.7]))


def test_lars_clip_lr_caps_the_step_like_solo_learn() -> None:
    # clip_lr: q = min(eta * ||p|| / ||g|| / lr, 1), step = lr * q * g
    #        = min(eta * ||p||, lr * ||g||) along g (solo-learn solo/utils/lars.py).
    p = nn.Parameter(torch.tensor([3.0, 4.0]))  # ||p|| = 5
    p.grad = torch.tensor([0.0, 2.0])  # ||g|| = 2
    LARS([p], lr=1.0, weight_decay=0.0, eta=0.1, clip_lr=True).step()
    # eta * ||p|| = 0.5 < lr * ||g|| = 2: capped at 0.5 of the way along g / ||g||
    torch.testing.assert_close(p.detach(), torch.tensor([3.0, 3.5]))
    p = nn.Parameter(torch.tensor([3.0, 4.0]))
    p.grad = torch.tensor([0.0, 0.01])  # lr * ||g|| = 0.01 < eta * ||p||: plain SGD
    LARS([p], lr=1.0, weight_decay=0.0, eta=0.1, clip_lr=True).step()
    torch.testing.assert_close(p.detach(), torch.tensor([3.0, 3.99]))
    # with weight decay, solo-learn's denominator is ||g|| + wd ||p|| (official: ||g + wd p||)
    p = nn.Parameter(torch.tensor([3.0, 4.0]))
    p.grad = torch.tensor([0.0, 2.0])
    LARS([p], lr=1.0, weight_decay=0.1, eta=0.1, clip_lr=True).step()
    # q = 0.1 * 5 / (2 + 0.1 * 5) = 0.2; d = g + 0.1 p = [0.3, 2.4]; p - 0.2 d
    torch.testing.assert_close(p.detach(), torch.tensor([2.94, 3.52]))
    p = nn.Parameter(torch.tensor([3.0, 4.0]))  # lr 0: no step, no division by zero
    p.grad = torch.tensor([0.0, 2.0])
    LARS([p], lr=0.0, eta=0.1, clip_lr=True).step()
    torch.testing.assert_close(p.detach(), torch.tensor([3.0, 4.0]))


def test_build_optimizer_lars_moves_weights_like_solo_learns_cifar_recipe() -> None:
    # configs/cifar10.yaml copies solo-learn's VICReg CIFAR recipe (lars, lr 0.3, batch
    # 256, eta 0.02, clip_lr). With the official eta 0.001 and no clipping, each weight
    # tensor moved lr * eta = 3e-4 of its norm per step, 67x less than solo-learn's.
    from pathlib import Path

    from drac_ssl.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "cifar10.yaml", [])
    pc = cfg.pretrain
    torch.manual_seed(0)
    layer = nn.Linear(16, 8, bias=False)
    grad = torch.randn(8, 16)
    layer.weight.grad = grad.clone()
    before = layer.weight.detach().clone()
    build_optimizer(layer, pc).step()
    step = (layer.weight.detach() - before).norm()
    g = grad + pc.weight_decay * before
    # solo-learn's trust ratio: eta ||p|| / (||grad|| + wd ||p|| + 1e-8), clipped at lr
    q = min(0.02 * before.norm() / (grad.norm() + pc.weight_decay * before.norm() + 1e-8) / pc.lr, 1.0)
    solo = q * pc.lr * g.norm()
    assert step.item() == pytest.approx(float(solo), rel=1e-5)
    assert step.item() > 10 * pc.lr * 0.001 * before.norm().item()


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "lars"])
def test_build_optimizer_excludes_bias_and_norm_from_decay(name: str) -> None:
    model = Tiny()
    opt = build_optimizer(model, PretrainConfig(optimizer=name, lr=0.02, weight_decay=1e-3))
    groups = {g["name"]: g for g in opt.param_groups}
    assert {id(p) for p in groups["decay"]["params"]} == {id(model.conv.weight),
                                                          id(model.fc.weight)}
    no_decay = {id(p) for p in groups["no_decay"]["params"]}
    assert no_decay == {id(model.conv.bias), id(model.bn.weight), id(model.bn.bias),
                        id(model.fc.bias)}
    assert groups["decay"]["weight_decay"] == 1e-3
    assert groups["no_decay"]["weight_decay"] == 0.0
    assert all(g["lr"] == 0.02 for g in opt.param_groups)
    if name == "lars":
        assert groups["no_decay"]["lars_exclude"] and not groups["decay"]["lars_exclude"]
    expected = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
                "lars": LARS}[name]
    assert type(opt) is expected
    set_lr(opt, 0.5)
    assert all(g["lr"] == 0.5 for g in opt.param_groups)


@pytest.mark.parametrize("name", ["adam", "lars"])
def test_decay_bias_and_norm_decays_the_1d_group_but_keeps_it_out_of_lars(name: str) -> None:
    model = Tiny()
    opt = build_optimizer(model, PretrainConfig(optimizer=name, lr=0.02, weight_decay=1e-3,
                                                decay_bias_and_norm=True))
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["decay"]["weight_decay"] == groups["no_decay"]["weight_decay"] == 1e-3
    if name == "lars":  # the official rule: 1-D tensors never get the trust ratio
        assert groups["no_decay"]["lars_exclude"] and not groups["decay"]["lars_exclude"]


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("flag", [True, False])
def test_lars_applies_the_decay_to_the_1d_group_only_when_asked(foreach: bool, flag: bool) -> None:
    # zero gradients: whatever moves a bias is the weight decay alone. First step, momentum
    # buffer empty: p <- p - lr * (0 + wd * p), no trust ratio (the 1-D group stays out of it)
    torch.manual_seed(0)
    model = Tiny()
    opt = build_optimizer(model, PretrainConfig(optimizer="lars", lr=0.5, weight_decay=0.1,
                                                decay_bias_and_norm=flag))
    opt.foreach = foreach
    before = model.fc.bias.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    expected = before * (1 - 0.5 * 0.1) if flag else before
    torch.testing.assert_close(model.fc.bias.detach(), expected)


def test_finetune_optimizer_follows_decay_bias_and_norm() -> None:
    from drac_ssl import finetune
    from drac_ssl.config import FinetuneConfig

    class Graded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 3)
            self.backbone = Tiny()

    for flag, expected in ((False, 0.0), (True, 1e-3)):
        opt = finetune._optimizer(Graded(), FinetuneConfig(weight_decay=1e-3, decay_bias_and_norm=flag))
        decays = {g["name"]: g["weight_decay"] for g in opt.param_groups}
        assert decays["no_decay"] == decays["backbone_no_decay"] == expected
        assert decays["decay"] == decays["backbone_decay"] == 1e-3


def test_set_lr_respects_lr_scale() -> None:
    p, q = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [p], "lr_scale": 0.1}, {"params": [q]}], lr=1.0)
    set_lr(opt, 2.0)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 2.0])


def test_unknown_optimizer() -> None:
    with pytest.raises(ValueError, match="lars"):
        build_optimizer(Tiny(), PretrainConfig(optimizer="rmsprop"))


@pytest.mark.parametrize("clip_lr", [False, True])
def test_lars_foreach_matches_the_per_tensor_loop(clip_lr: bool) -> None:
    # The foreach path (the default) must be the same update as the per-tensor reference,
    # including a zero weight tensor and a zero gradient (trust ratio 1) and the excluded
    # group (no decay, no trust ratio), over several steps with momentum.
    def model() -> nn.Module:
        torch.manual_seed(0)
        m = Tiny()
        with torch.no_grad():
            m.fc.weight.zero_()  # ||p|| = 0
        return m

    a, b = model(), model()
    opts = [build_optimizer(m, PretrainConfig(optimizer="lars", lr=0.4, weight_decay=1e-2,
                                               lars_eta=0.02, lars_clip_lr=clip_lr)) for m in (a, b)]
    opts[1].foreach = False
    gen = torch.Generator().manual_seed(1)
    for step in range(4):
        grads = {n: torch.randn(p.shape, generator=gen) for n, p in a.named_parameters() if p.requires_grad}
        grads["conv.weight"] = torch.zeros_like(grads["conv.weight"]) if step == 0 else grads["conv.weight"]
        for m, opt in zip((a, b), opts, strict=True):
            for n, p in m.named_parameters():
                if p.requires_grad:
                    p.grad = grads[n].clone()
            set_lr(opt, 0.1 * (step + 1))
            opt.step()
    assert opts[0].foreach is None and opts[1].foreach is False
    moved = 0
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-7, msg=name)
        moved += int(not torch.equal(pa, model().get_parameter(name)))
    assert moved == 6  # every trainable tensor moved (the frozen layer's two did not)
