"""Every bench script's --help names it the way the README runs it (``PYTHON -m bench.X``),
and the low-label smoke run never takes the committed figures' file name by default nor
stands beside the paper's figures."""

from __future__ import annotations

import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_every_bench_parser_is_named_as_the_readme_runs_it() -> None:
    for script in sorted(BENCH.glob("*.py")):
        text = script.read_text(encoding="utf-8")
        parsers = text.count("argparse.ArgumentParser(")
        # prog=python_command("bench.X"): the interpreter that runs it, as the package's usage
        # lines name it (a venv not active: .venv/bin/python -m bench.X)
        names = re.findall(r'argparse\.ArgumentParser\(prog=(?:"python -m ([^"]+)"|python_command\("([^"]+)"\))', text)
        assert len(names) == parsers, f"{script.name}: a parser without prog="
        assert {a or b for a, b in names} <= {f"bench.{script.stem}"}, (script.name, names)


def test_the_low_label_smoke_run_writes_its_own_file_by_default() -> None:
    from bench.low_label import result_name

    assert result_name("mnist", None, []) == "low_label_mnist"  # the committed figures
    assert result_name("mnist", None, ["--eval-limit 500"]) == "low_label_mnist_smoke"
    assert result_name("fashion_mnist", "mine", ["--eval-limit 500"]) == "mine"


def test_a_low_label_smoke_run_is_not_comparable_with_the_paper() -> None:
    from bench.low_label import paper_comparable, smoke_reasons

    def reasons(**changed: int) -> list[str]:
        return smoke_reasons(**{"epochs": 50, "config_epochs": 50, **changed})

    assert paper_comparable("mnist", reasons()) is True
    assert paper_comparable("fashion_mnist", reasons()) is False  # the paper has MNIST figures only
    assert paper_comparable("mnist", reasons(eval_limit=500)) is False  # --eval-limit
    assert paper_comparable("mnist", reasons(max_steps_per_epoch=2)) is False  # pretrain.max_steps_per_epoch
    assert paper_comparable("mnist", reasons(max_epochs=2)) is False  # a short --max-epochs
    assert paper_comparable("mnist", reasons(epochs=2)) is False  # fewer pretraining epochs
