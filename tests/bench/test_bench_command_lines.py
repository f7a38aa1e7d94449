"""Bench command lines read like the train command's: ``key=value`` overrides may stand on
either side of the options (``parse_intermixed_args``), as ``python -m drac_ssl.train`` allows."""

from __future__ import annotations

import re
from pathlib import Path

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
