"""What a generic data set's run report says of its published figures (course review F1).

The report of a Fashion-MNIST run called it "a generic data set with published figures" in its
title line and its data section, while docs/data.md says none is cited for Fashion-MNIST; MNIST
and CIFAR-10 have reference figures, but no committed run is comparable to them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drac_ssl.report import write_report


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_a_generic_runs_report_says_what_is_published_for_its_data_set(tmp_path: Path, dataset: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"dataset": dataset, "root": "data"},
                                                     "run": {"stages": ["pretrain"]}}))
    report = write_report(run).read_text()
    title, data = report.split("\n\n")[1], report.split("## Data")[1].split("## ")[0]
    assert "with published figures" not in report
    for part in (title, data):
        if dataset == "fashion_mnist":
            assert "no published figure is cited" in part and "reference figures" not in part, part
        else:
            assert "reference figures, none comparable" in part, part
            assert "docs/data.md#which-run-measured-which-figure" in part, part
            assert "no published figure" not in part, part
