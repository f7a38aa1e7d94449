"""Weights from every common checkpoint layout, read with weights_only=True (issue #14, case 6).

Each layout is built here the way the library that writes it does (tiny ResNet-shaped state
dicts with torchvision's names), then loaded with :func:`drac_ssl.models.load_local_weights`.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_ingest import make_fake_ingest
from safetensors.torch import save_file
from torch import nn

from drac_ssl.config import BackboneConfig
from drac_ssl.models import Backbone, WeightsFileError, build_backbone, load_local_weights
from drac_ssl.weights_file import read_weights_file


class TinyBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)


class TinyResNet(nn.Module):
    """torchvision's ResNet child order and names, 4 channels wide."""

    def __init__(self, fc: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        for i in range(1, 5):
            setattr(self, f"layer{i}", nn.Sequential(TinyBlock(4)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        if fc:
            self.fc = nn.Linear(4, 3)


def tiny_state(seed: int, fc: bool = False) -> OrderedDict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = TinyResNet(fc=fc)
    for p in net.parameters():
        p.data.normal_()
    return net.state_dict()


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


def load_into_tiny(path: Path, **kwargs: bool) -> tuple[TinyResNet, object]:
    net = TinyResNet(fc=False)
    report = load_local_weights(net, path, **kwargs)
    return net, report


def assert_loaded(net: nn.Module, expected: dict[str, torch.Tensor]) -> None:
    got = net.state_dict()
    assert set(got) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, msg=k)


def test_plain_state_dict_with_classifier(tmp_path: Path) -> None:
    full = tiny_state(0, fc=True)  # a torchvision / MONAI bundle model.pt: classifier included
    path = tmp_path / "model.pt"
    torch.save(full, path)
    with pytest.warns(UserWarning, match=r"fc\.weight"):
        net, report = load_into_tiny(path)
    assert_loaded(net, {k: v for k, v in full.items() if not k.startswith("fc.")})
    assert report.missing == [] and sorted(report.unexpected) == ["fc.bias", "fc.weight"]


def test_lightning_solo_learn_checkpoint_takes_the_online_backbone(tmp_path: Path) -> None:
    online, momentum = tiny_state(1), tiny_state(2)
    ckpt = {
        "epoch": 99, "global_step": 12345, "pytorch-lightning_version": "2.4.0",
        "state_dict": {**prefixed(online, "backbone."), **prefixed(momentum, "momentum_backbone."),
                       "projector.0.weight": torch.zeros(8, 4)},
        "optimizer_states": [{"state": {0: {"momentum_buffer": torch.zeros(3)}}}],
        "hyper_parameters": {"lr": 0.3, "method": "byol"},
    }
    path = tmp_path / "byol-ep=99.ckpt"
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match="state_dict.backbone"):
        net, report = load_into_tiny(path)
    assert_loaded(net, online)
    assert report.source == "state_dict.backbone"
    assert "state_dict.projector.0.weight" in report.unexpected


def test_official_vicreg_checkpoint_with_ddp_prefix_and_optimizer(tmp_path: Path) -> None:
    state = tiny_state(3)
    ckpt = {  # main_vicreg.py: dict(epoch=..., model=model.state_dict(), optimizer=...)
        "epoch": 100,
        "model": {**prefixed(state, "module.backbone."),
                  "module.projector.0.weight": torch.zeros(8, 4)},
        "optimizer": {"state": {0: {"mu": torch.zeros(4)}}, "param_groups": [{"lr": 0.2, "params": [0]}]},
    }
    path = tmp_path / "model.pth"
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match=r"loaded 30 tensors from 'model.backbone'; ignored 1 unexpected key"):
        net, report = load_into_tiny(path)
    assert_loaded(net, state)
    assert report.source == "model.backbone" and report.missing == []


def test_dino_checkpoint_takes_the_teacher_and_numpy_epoch(tmp_path: Path) -> None:
    teacher, student = tiny_state(4), tiny_state(5)
    ckpt = {"student": prefixed(student, "module.backbone."), "teacher": prefixed(teacher, "backbone."),
            "epoch": np.int64(300)}
    path = tmp_path / "checkpoint.pth"
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match=r"from 'teacher.backbone'; ignored 30 unexpected key\(s\) \['student"):
        net, report = load_into_tiny(path)
    assert_loaded(net, teacher)
    assert report.source == "teacher.backbone"


def test_moco_pth_tar_takes_the_query_encoder(tmp_path: Path) -> None:
    query, key = tiny_state(6), tiny_state(7)
    ckpt = {"epoch": 200, "arch": "resnet50",
            "state_dict": {**prefixed(key, "module.encoder_k."), **prefixed(query, "module.encoder_q.")}}
    path = tmp_path / "checkpoint_0199.pth.tar"  # the suffix is .tar: format found from content
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match=r"from 'state_dict.encoder_q'; ignored 30 unexpected key\(s\) \['state_dict.module.encoder_k"):
        net, _ = load_into_tiny(path)
    assert_loaded(net, query)


def test_timm_checkpoint_prefers_the_raw_weights_over_ema(tmp_path: Path) -> None:
    raw, ema = tiny_state(8), tiny_state(9)
    path = tmp_path / "model_best.pth.tar"
    torch.save({"epoch": 10, "arch": "resnet18", "state_dict": raw, "state_dict_ema": ema,
                "metric": 0.5}, path)
    with pytest.warns(UserWarning, match=r"from 'state_dict'; ignored 30 unexpected key\(s\) \['state_dict_ema"):
        net, _ = load_into_tiny(path)
    assert_loaded(net, raw)


def test_torch_compile_prefix_and_legacy_serialization(tmp_path: Path) -> None:
    state = tiny_state(10)
    path = tmp_path / "compiled.pt"
    torch.save(prefixed(state, "_orig_mod."), path, _use_new_zipfile_serialization=False)
    net, report = load_into_tiny(path)
    assert_loaded(net, state)
    assert report.unexpected == []


def test_lightly_sequential_backbone(tmp_path: Path) -> None:
    # lightly's examples: backbone = nn.Sequential(*list(resnet.children())[:-1])
    source = TinyResNet(fc=True)
    for p in source.parameters():
        p.data.normal_()
    seq = nn.Sequential(*list(source.children())[:-1])
    path = tmp_path / "lightly.pth"
    torch.save({"resnet18_parameters": prefixed(seq.state_dict(), "backbone.")}, path)
    net, report = load_into_tiny(path)
    assert_loaded(net, {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")})
    assert report.unexpected == [] and report.missing == []


def test_safetensors_with_ddp_prefix(tmp_path: Path) -> None:
    state = tiny_state(11)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in prefixed(state, "module.").items()}, str(path))
    net, report = load_into_tiny(path)
    assert_loaded(net, state)
    assert report.unexpected == []


def test_numpy_scalars_and_arrays_load_without_a_global_allowlist(tmp_path: Path) -> None:
    state = tiny_state(12)
    ckpt = {"epoch": np.int64(90), "best_acc1": np.float64(0.75), "lr": np.float32(0.1),
            "history": np.arange(5), "state_dict": prefixed(state, "module.")}
    path = tmp_path / "numpy.pth"
    torch.save(ckpt, path)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)  # what the issue saw: torch alone refuses it
    net, _ = load_into_tiny(path)
    assert_loaded(net, state)
    allowed = {getattr(g, "__name__", str(g)) for g in torch.serialization.get_safe_globals()}
    assert "scalar" not in allowed and "_reconstruct" not in allowed  # allowed for one call only
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)


def test_numpy_1_pickled_scalars_load_under_numpy_2(tmp_path: Path) -> None:
    state = tiny_state(13)
    buf = io.BytesIO()
    torch.save({"epoch": np.int64(7), "state_dict": state}, buf)
    # rewrite the archive as numpy 1.x writes it (module numpy.core.multiarray)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    path = tmp_path / "numpy1.pth"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            out.writestr(info, data)
    assert read_weights_file(path)["state_dict.conv1.weight"].shape == state["conv1.weight"].shape
    net, _ = load_into_tiny(path)
    assert_loaded(net, state)


def test_namespace_checkpoint_says_what_it_holds_and_how_to_resave(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pth"
    state = tiny_state(14)
    torch.save({"args": argparse.Namespace(lr=0.1, arch="resnet18"), "model": state, "epoch": 3}, path)
    with pytest.raises(WeightsFileError) as err:
        load_into_tiny(path)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)  # the CLIs turn it into an `error:` line
    assert "argparse.Namespace" in msg and "command-line arguments" in msg
    assert "weights_only=False" in msg and "torch.save(obj['model']" in msg  # the key holding them
    assert f"'args': argparse.Namespace, 'model': {len(state)} tensors" in msg
    assert str(path) in msg and "Traceback" not in msg


def test_whole_pickled_model_is_named(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(TinyResNet(fc=False), path)
    with pytest.raises(WeightsFileError) as err:
        load_into_tiny(path)
    msg = str(err.value)
    assert "whole pickled model" in msg
    assert "torch.nn.modules.conv.Conv2d" in msg  # the offending globals are listed
    assert "TinyResNet" in msg and "torch.save(obj.state_dict()" in msg


def test_a_file_that_would_run_a_shell_command_is_refused_without_a_resave_recipe(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os
            return os.system, ("echo pwned",)

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": tiny_state(17), "x": Exploit()}, path)
    with pytest.raises(WeightsFileError) as err:
        load_into_tiny(path)
    msg = str(err.value)
    assert "system" in msg and "do NOT load it with weights_only=False" in msg
    assert "torch.save(" not in msg


@pytest.mark.parametrize("content, expected", [
    (b"not a checkpoint at all", "not a safetensors or PyTorch file"),
    (b"PK\x03\x04truncated", "truncated or damaged"),
])
def test_not_a_weights_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsFileError, match=expected):
        load_into_tiny(path)


def test_truncated_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(tiny_state(15), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFileError, match="truncated or damaged"):
        load_into_tiny(path)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_archive_gets_its_own_message(tmp_path: Path) -> None:
    net = TinyResNet(fc=False)
    path = tmp_path / "model.ts"
    try:
        torch.jit.save(torch.jit.script(nn.Sequential(net.conv1, net.bn1)), str(path))
    except Exception as exc:  # pragma: no cover - TorchScript unavailable in this build
        pytest.skip(f"TorchScript cannot save here: {exc}")
    with pytest.raises(WeightsFileError, match="TorchScript"):
        load_into_tiny(path)


def test_real_backbone_from_numpy_scalar_checkpoint(tmp_path: Path) -> None:
    """The issue's case through the config path: pretrain.backbone.weights -> build_backbone."""
    torch.manual_seed(0)
    src = Backbone("resnet18", in_channels=1, cifar_stem=True)
    path = tmp_path / "resnet18_epoch90.pth"
    torch.save({"epoch": np.int64(90), "best_qwk": np.float32(0.8),
                "state_dict": prefixed(src.state_dict(), "module.")}, path)
    backbone = build_backbone(BackboneConfig(in_channels=1, cifar_stem=True, weights=str(path)))
    torch.testing.assert_close(backbone.layer4[1].conv2.weight, src.layer4[1].conv2.weight)


def test_train_cli_reports_an_unloadable_checkpoint_as_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import train

    path = tmp_path / "dino_checkpoint.pth"
    torch.save({"args": argparse.Namespace(arch="resnet18"), "teacher": tiny_state(16)}, path)
    make_fake_ingest(tmp_path / "runs" / "w")  # the pretrain stage reads run_dir/data
    code = train.main([
        "run.out_dir=" + str(tmp_path / "runs"), "run.name=w", "run.stages=[pretrain]",
        "run.device=cpu", "pretrain.backbone.weights=" + str(path),
        "pretrain.augment.source_size=48", "pretrain.augment.image_size=16",
        "pretrain.backbone.cifar_stem=true", "pretrain.num_workers=0", "pretrain.batch_size=4",
    ])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert "argparse.Namespace" in err and "re-save" in err
    assert "torch.save(obj['teacher']" in err


def test_pretraining_from_a_weights_file_says_so_and_records_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from drac_ssl import train

    torch.manual_seed(0)
    path = tmp_path / "cifar_init.pt"
    torch.save(Backbone("resnet18", in_channels=1, cifar_stem=True).state_dict(), path)
    make_fake_ingest(tmp_path / "runs" / "w")
    args = ["run.out_dir=" + str(tmp_path / "runs"), "run.name=w", "run.stages=[pretrain]",
            "run.device=cpu", "pretrain.backbone.weights=" + str(path), "pretrain.epochs=2",
            "pretrain.max_steps_per_epoch=1", "pretrain.augment.source_size=48",
            "pretrain.augment.image_size=16", "pretrain.backbone.cifar_stem=true",
            "pretrain.num_workers=0", "pretrain.batch_size=4", "pretrain.monitor_images=0"]
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert f"[pretrain] the backbone starts from {path} (pretrain.backbone.weights)" in out
    meta = json.loads((tmp_path / "runs" / "w" / "pretrain" / "metadata.json").read_text())
    assert meta["initial_weights"] == str(path)


def test_pickle_cut_short_inside_the_archive_is_called_damaged(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"state_dict": tiny_state(18)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    path = tmp_path / "cut.pt"
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            out.writestr(info, data[: len(data) // 2] if info.filename.endswith("data.pkl") else data)
    with pytest.raises(WeightsFileError, match="truncated or damaged") as err:
        load_into_tiny(path)
    assert "re-save" not in str(err.value)


def test_numpy_random_state_is_named_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / "with_rng.pt"
    torch.save({"rng": np.random.RandomState(0), "state_dict": tiny_state(19)}, path)
    with pytest.raises(WeightsFileError) as err:
        load_into_tiny(path)
    msg = str(err.value)
    assert "numpy.random._pickle.__randomstate_ctor" in msg and "torch.save(obj['state_dict']" in msg
