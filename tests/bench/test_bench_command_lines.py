"""Bench command lines read like the train command's: ``key=value`` overrides may stand on
either side of the options (``parse_intermixed_args``), as ``python -m drac_ssl.train`` allows."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_every_bench_taking_overrides_reads_them_between_options() -> None:
    for script in sorted(BENCH.glob("*.py")):
        text = script.read_text(encoding="utf-8")
        if not re.search(r'add_argument\("overrides", nargs="\*"', text):
            continue
        assert ".parse_args(" not in text, f"{script.name}: overrides must be parsed with parse_intermixed_args"
        assert "parse_intermixed_args(" in text, script.name


class _Parsed(Exception):
    pass


def test_cifar10_overrides_may_follow_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import cifar10_vicreg

    def stop(path: object, overrides: list[str]) -> None:
        raise _Parsed(overrides)

    monkeypatch.setattr(cifar10_vicreg, "load_config", stop)
    with pytest.raises(_Parsed) as got:
        cifar10_vicreg.main(["--epochs", "1", "pretrain.max_steps_per_epoch=2", "--eval-limit", "200",
                             "pretrain.knn_every=0"])
    overrides = got.value.args[0]
    assert "pretrain.max_steps_per_epoch=2" in overrides and "pretrain.knn_every=0" in overrides


def test_eval_limit_also_caps_the_knn_monitor_unless_the_command_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """configs/cifar10.yaml's monitor (knn_every 5, knn_limit 0) scored all 60k images before
    the first step of the help's CPU smoke command: minutes of silence."""
    from bench import cifar10_vicreg, low_label

    def stop(path: object, overrides: list[str] | None = None) -> None:
        raise _Parsed(overrides)

    for module, argv in ((cifar10_vicreg, ["--epochs", "1", "--eval-limit", "200"]),
                         (low_label, ["--dataset", "mnist", "--eval-limit", "200"])):
        monkeypatch.setattr(module, "load_config", stop)
        with pytest.raises(_Parsed) as got:
            module.main(argv)
        assert "pretrain.knn_limit=200" in got.value.args[0], module.__name__
        with pytest.raises(_Parsed) as got:
            module.main([*argv, "pretrain.knn_limit=0"])
        assert "pretrain.knn_limit=200" not in got.value.args[0], module.__name__
        with pytest.raises(_Parsed) as got:
            module.main(argv[:-2])
        assert not any(o.startswith("pretrain.knn_limit") for o in got.value.args[0]), module.__name__


def test_the_benches_pretrain_and_evaluate_on_one_data_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """layer_clusters evaluated the CIFAR archive whatever --config said, and a data.root=
    override changed cifar10_vicreg's and low_label's pretraining data but not their evaluation."""
    from bench import layer_clusters as lc
    from bench.common import REPO, data_root

    mnist = REPO / "configs" / "mnist.yaml"
    assert data_root(mnist, None, []).endswith("shared/data/mnist")  # the config's
    assert data_root(mnist, None, ["data.root=/x/y"]) == "/x/y"
    assert data_root(mnist, "/x/y", ["data.root=/x/y/"]) == "/x/y"
    with pytest.raises(ValueError, match="name different data"):
        data_root(mnist, "/a", ["data.root=/b"])

    seen: list[str] = []

    def load(dataset: str, path: str, *a: object, **k: object) -> None:
        seen.append(f"{dataset}:{path}")
        raise _Parsed(path)

    monkeypatch.setattr("drac_ssl.datasets.load_generic", load)
    for argv, want in ((["--config", str(mnist)], "mnist:"), (["--config", str(mnist), "data.root=/elsewhere"],
                                                               "mnist:/elsewhere")):
        with pytest.raises(_Parsed):
            lc.main([*argv, "--device", "cpu", "--out-dir", str(tmp_path)])
        assert seen[-1].startswith(want) and "cifar10" not in seen[-1], seen
    with pytest.raises(SystemExit):
        lc.main(["--config", str(mnist), "--data", "/a", "data.root=/b", "--out-dir", str(tmp_path)])


def test_cifar10_evaluates_the_data_it_pretrained_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import cifar10_vicreg

    def stop(path: str, *a: object, **k: object) -> None:
        raise _Parsed(path)

    monkeypatch.setattr(cifar10_vicreg, "run_pretraining", lambda cfg, run_dir: SimpleNamespace(
        result=SimpleNamespace(backbone_path=tmp_path / "b"), seconds=0.0))
    monkeypatch.setattr(cifar10_vicreg, "eval_splits", stop)
    with pytest.raises(_Parsed) as got:
        cifar10_vicreg.main(["--epochs", "1", "--out-dir", str(tmp_path), "data.root=/elsewhere/c.tar.xz"])
    assert got.value.args[0] == "/elsewhere/c.tar.xz"
