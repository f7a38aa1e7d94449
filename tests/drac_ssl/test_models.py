"""Backbone, expander and VICReg model (drac_ssl.models), on tiny CPU inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from drac_ssl.config import BackboneConfig, PretrainConfig
from drac_ssl.models import (
    Backbone,
    BackboneArchitecture,
    Expander,
    VICRegModel,
    build_backbone,
    build_vicreg_model,
    load_local_weights,
)


@pytest.fixture(scope="module")
def octa_backbone() -> Backbone:
    torch.manual_seed(0)
    return Backbone("resnet18", in_channels=1).eval()


def test_one_channel_224_output_shape(octa_backbone: Backbone) -> None:
    assert octa_backbone.conv1.in_channels == 1
    assert octa_backbone.conv1.weight.shape == (64, 1, 7, 7)
    assert octa_backbone.feature_dim == 512
    with torch.no_grad():
        out = octa_backbone(torch.randn(2, 1, 224, 224))
    assert out.shape == (2, 512)


def test_cifar_stem_32_output_shape() -> None:
    net = Backbone("resnet18", in_channels=3, cifar_stem=True).eval()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32))
        maps = net.forward_until(torch.randn(2, 3, 32, 32), "layer4")
    assert out.shape == (2, 512)
    assert maps.shape == (2, 512, 4, 4)  # stride 8 with the CIFAR stem


def test_an_input_of_other_channels_is_refused_naming_the_fix() -> None:
    """Backbone("resnet18") is grey (in_channels=1): RGB images gave PyTorch's raw
    "expected input[2, 3, 32, 32] to have 1 channels" (a methods trial, December 2026)."""
    grey = Backbone("resnet18", cifar_stem=True).eval()
    assert grey.in_channels == 1  # the default is kept: saved bundles and configs rely on it
    with pytest.raises(ValueError, match=r"in_channels=1\) expects images of shape \(n, 1, H, W\)") as caught:
        grey(torch.randn(2, 3, 32, 32))
    message = str(caught.value)
    assert "(2, 3, 32, 32)" in message and "3 channel(s)" in message
    assert "Backbone('resnet18', in_channels=3)" in message and "pretrain.backbone.in_channels" in message
    with pytest.raises(ValueError, match="in_channels=3"):
        grey.forward_until(torch.randn(2, 3, 32, 32), "layer2")
    with pytest.raises(ValueError, match="not a batch"):
        grey(torch.randn(1, 32, 32))
    rgb = Backbone("resnet18", in_channels=3, cifar_stem=True).eval()
    with pytest.raises(ValueError, match=r"in_channels=3\) expects .* in_channels=1\)"):
        rgb.forward_stages(torch.randn(2, 1, 32, 32))
    with torch.no_grad():  # feature maps after the stem are not inputs: no check there
        h = rgb.forward_until(torch.randn(2, 3, 32, 32), "layer2")
        assert rgb.forward_from(h, "layer2").shape == (2, 512)


def test_stride_two_cifar_stem_halves_every_map() -> None:
    net = Backbone("resnet18", in_channels=3, cifar_stem=True, stem_stride=2).eval()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (2, 2)
    with torch.no_grad():
        maps = net.forward_until(torch.randn(2, 3, 28, 28), "layer4")
    assert maps.shape == (2, 512, 2, 2)  # 28 px: stride 16 (the ImageNet stem gives 1 x 1)
    with pytest.raises(ValueError, match="stem_stride"):
        Backbone("resnet18", in_channels=3, cifar_stem=False, stem_stride=2)
    with pytest.raises(ValueError, match="stem_stride"):
        Backbone("resnet18", in_channels=3, cifar_stem=True, stem_stride=4)


def test_forward_equals_forward_from_forward_until(octa_backbone: Backbone) -> None:
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        full = octa_backbone(x)
        for cut in octa_backbone.stage_names:
            h = octa_backbone.forward_until(x, cut)
            torch.testing.assert_close(octa_backbone.forward_from(h, cut), full)


def test_forward_stages_dims(octa_backbone: Backbone) -> None:
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        stages = octa_backbone.forward_stages(x)
        torch.testing.assert_close(stages["layer4"], octa_backbone(x))
    assert list(stages) == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert [v.shape[1] for v in stages.values()] == [64, 64, 128, 256, 512]
    assert all(v.shape[0] == 2 for v in stages.values())


def test_stage_modules_and_unknown_cut(octa_backbone: Backbone) -> None:
    mods = octa_backbone.stage_modules("layer2")
    assert mods == [octa_backbone.layer3, octa_backbone.layer4]
    assert octa_backbone.stage_modules("layer4") == []
    with pytest.raises(ValueError, match="layer3"):
        octa_backbone.forward_until(torch.randn(1, 1, 32, 32), "layer5")


def test_freeze_until() -> None:
    net = Backbone("resnet18", in_channels=1)
    net.freeze_until("layer2")
    frozen = [net.conv1, net.bn1, net.layer1, net.layer2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (net.layer3, net.layer4) for p in m.parameters())
    net.train()
    assert not net.bn1.training and not net.layer2.training  # frozen BN stays in eval
    assert net.layer3.training
    model = VICRegModel(net, Expander(512, "16-8"))
    model.train()
    assert not net.layer1.training and net.layer4.training
    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())
    assert net.layer1.training


# ---- the stem's max-pool: channels-last kernel where it gives the same bits ------------------

_BITS = {torch.float32: torch.int32, torch.float64: torch.int64}


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.view(_BITS[a.dtype]), b.view(_BITS[b.dtype]))


def _awkward_map(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """A stem map with what a maximum could tell apart by its bits: ties (rounded values, many
    zeros as after ReLU), signed zeros, +-inf and NaNs of both signs and two payloads."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(shape, generator=g, dtype=dtype).round()
    pick = torch.rand(shape, generator=g)
    h[pick < 0.15] = 0.0
    h[(pick >= 0.15) & (pick < 0.25)] = -0.0
    h[(pick >= 0.25) & (pick < 0.27)] = float("inf")
    h[(pick >= 0.27) & (pick < 0.29)] = -float("inf")
    bits = h.view(_BITS[dtype])
    nan = torch.tensor(float("nan"), dtype=dtype).view(_BITS[dtype])
    bits[(pick >= 0.29) & (pick < 0.30)] = nan
    bits[(pick >= 0.30) & (pick < 0.31)] = -nan  # sign bit set: x86's default NaN
    bits[(pick >= 0.31) & (pick < 0.32)] = nan + 3  # another payload
    return h


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 64, 13, 9), (3, 64, 7, 1), (1, 64, 1, 1), (5, 64, 32, 32)])
def test_stem_pool_is_bitwise_plain_max_pool_in_both_layouts(octa_backbone: Backbone, shape: tuple[int, ...],
                                                             dtype: torch.dtype) -> None:
    plain = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    for layout in (torch.contiguous_format, torch.channels_last):
        h = _awkward_map(shape, dtype, seed=sum(shape)).contiguous(memory_format=layout)
        with torch.no_grad():
            got, want = octa_backbone._max_pool(h), plain(h)
        assert _same_bits(got, want), (shape, dtype, layout)
        assert got.is_contiguous(memory_format=layout)  # the layout the plain pool gives back
        # with a gradient: the same output, and the same gradient through tied maxima
        h_fast, h_plain = h.clone().requires_grad_(), h.clone().requires_grad_()
        got, want = octa_backbone._max_pool(h_fast), plain(h_plain)
        assert _same_bits(got, want), (shape, dtype, layout, "grad")
        upstream = torch.randn(got.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
        got.backward(upstream)
        want.backward(upstream)
        assert _same_bits(h_fast.grad, h_plain.grad), (shape, dtype, layout)


def test_stem_output_is_bitwise_plain_on_odd_inputs_and_takes_the_channels_last_kernel() -> None:
    """The whole stem, NCHW and channels-last images of odd sizes, eval and train mode, with
    and without gradient, against conv1 -> bn1 -> relu -> a plain ``nn.MaxPool2d``; an NCHW map
    needing no gradient reaches the pool channels-last (else this optimisation is gone)."""
    torch.manual_seed(3)
    net = Backbone("resnet18", in_channels=1)
    plain = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    seen: list[bool] = []
    net.maxpool.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    for training in (False, True):
        net.train(training)
        for size in ((37, 29), (45, 45), (3, 5)):
            for layout in (torch.contiguous_format, torch.channels_last):
                x = torch.randn(3, 1, *size).contiguous(memory_format=layout)
                for grad in (False, True):
                    with torch.set_grad_enabled(grad):
                        seen.clear()
                        # the same BatchNorm statistics update in train mode for both: a copy
                        state = {k: v.clone() for k, v in net.state_dict().items()}
                        got = net.forward_until(x, "stem")
                        net.load_state_dict(state)
                        want = plain(net.relu(net.bn1(net.conv1(x))))
                        net.load_state_dict(state)
                    assert _same_bits(got, want), (training, size, layout, grad)
                    assert got.is_contiguous(memory_format=layout) == want.is_contiguous(memory_format=layout)
                    assert got.requires_grad == grad
                    if layout is torch.contiguous_format and not grad:
                        assert seen == [True], (training, size)


def test_state_dict_keys_and_modules_stay_torchvisions() -> None:
    """Checkpoints keep loading: the backbone's keys are torchvision's resnet18 without ``fc``,
    and the stem's pool is still the registered ``maxpool`` module."""
    import torchvision

    net = Backbone("resnet18", in_channels=3)
    want = [k for k in torchvision.models.resnet18(weights=None).state_dict() if not k.startswith("fc.")]
    assert list(net.state_dict()) == want
    assert isinstance(net.maxpool, torch.nn.MaxPool2d)
    assert [name for name, _ in net.named_children()] == [
        "conv1", "maxpool", "bn1", "relu", "layer1", "layer2", "layer3", "layer4", "avgpool"]
    assert isinstance(Backbone("resnet18", in_channels=3, cifar_stem=True).maxpool, torch.nn.Identity)


def test_local_weights_round_trip_safetensors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    src = Backbone("resnet18", in_channels=1, cifar_stem=True)
    # saved the way a DDP-wrapped VICRegModel would name them, plus an expander key
    state = {f"module.backbone.{k}": v.contiguous() for k, v in src.state_dict().items()}
    state["module.expander.net.0.weight"] = torch.zeros(4, 512)
    path = tmp_path / "w.safetensors"
    save_file(state, str(path))
    dst = build_backbone(BackboneConfig(in_channels=1, cifar_stem=True))
    with pytest.warns(UserWarning, match="unexpected"):
        report = load_local_weights(dst, path)
    assert report.missing == []
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)


def test_local_weights_pt_into_vicreg_model(tmp_path: Path) -> None:
    cfg = PretrainConfig(expander="32-16")
    cfg.backbone.cifar_stem = True
    src = build_vicreg_model(cfg)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": src.state_dict(), "epoch": 3}, path)
    dst = build_vicreg_model(cfg)
    report = load_local_weights(dst, path)
    assert report.missing == [] and report.unexpected == []
    torch.testing.assert_close(dst.expander.net[0].weight, src.expander.net[0].weight)


def test_missing_file_and_wrong_channels(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        build_backbone(BackboneConfig(weights=str(tmp_path / "nope.safetensors")))
    rgb = Backbone("resnet18", in_channels=3, cifar_stem=True)
    path = tmp_path / "rgb.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="in_channels=3"):
        load_local_weights(Backbone("resnet18", in_channels=1, cifar_stem=True), path)


def test_expander_spec_and_errors() -> None:
    exp = Expander(512, "64-64-32")
    assert exp.out_dim == 32
    linears = [m for m in exp.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 64), (64, 64), (64, 32)]
    assert linears[-1].bias is None and linears[0].bias is not None
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in exp.net) == 2
    assert exp(torch.randn(4, 512)).shape == (4, 32)
    for bad in ["", "64-", "a-b", "64--32", "0-8", "-8"]:
        with pytest.raises(ValueError, match="expander spec"):
            Expander(512, bad)


def test_vicreg_model_forward() -> None:
    cfg = PretrainConfig(expander="32-32-16")
    cfg.backbone.cifar_stem = True
    model = build_vicreg_model(cfg)
    features, embedding = model(torch.randn(3, 1, 32, 32))
    assert features.shape == (3, 512) and embedding.shape == (3, 16)


def test_backbone_architecture_is_read_from_metadata_with_old_files_and_fallbacks() -> None:
    meta = {"architecture": {"backbone": "resnet18", "cifar_stem": True, "stem_stride": 2,
                             "expander": "32-32"}, "input": {"channels": 3}}
    arch = BackboneArchitecture.from_metadata(meta)
    assert arch == BackboneArchitecture("resnet18", 3, True, 2)
    backbone = arch.build()
    assert backbone.architecture == arch
    assert backbone(torch.zeros(1, 3, 28, 28)).shape == (1, 512)
    # written before the stride existed: stride 1, whatever the fallback says
    old = {"architecture": {"backbone": "resnet18", "cifar_stem": True}, "input": {"channels": 1}}
    fallback = BackboneArchitecture("resnet34", 3, False, 2)
    assert BackboneArchitecture.from_metadata(old, fallback) == BackboneArchitecture("resnet18", 1, True, 1)
    # an absent key: the fallback's value, or an error naming it without a fallback
    assert BackboneArchitecture.from_metadata({}, fallback) == BackboneArchitecture("resnet34", 3, False, 1)
    with pytest.raises(KeyError, match="input.channels"):
        BackboneArchitecture.from_metadata({"architecture": {"backbone": "resnet18", "cifar_stem": False}})
    cfg = BackboneConfig(arch="resnet18", in_channels=0, cifar_stem=True, stem_stride=2)
    assert BackboneArchitecture.from_config(cfg, data_channels=3) == BackboneArchitecture("resnet18", 3, True, 2)


@pytest.mark.parametrize("meta", [[1, 2], {"architecture": "resnet18", "input": {"channels": 1}},
                                  {"architecture": {"backbone": "resnet18", "cifar_stem": False}, "input": [3]}])
def test_malformed_metadata_is_a_type_error(meta: object) -> None:
    with pytest.raises(TypeError):
        BackboneArchitecture.from_metadata(meta)  # type: ignore[arg-type]


def test_vicreg_model_refuses_an_expander_of_other_width_when_built() -> None:
    """An expander whose ``in_dim`` is not the backbone's ``feature_dim`` is refused when the
    model is built, naming the fix; before, it was built and failed at the first batch with
    PyTorch's ``mat1 and mat2 shapes cannot be multiplied``."""
    with pytest.raises(ValueError, match=r"expander takes 256 features but the backbone \(resnet18\) "
                                         r"gives 512.*Expander\(backbone.feature_dim, '8-8'\)"):
        VICRegModel(Backbone("resnet18"), Expander(256, "8-8"))
    assert VICRegModel(Backbone("resnet18"), Expander(512, "8-8")).expander.out_dim == 8
