"""A DDR reviewer (F2): a DDR subset without grade 0 (grades 1..5, its 5 ungradable) was told
"the labels look 1-based -> subtract 1" with a command that edits the CSV in place; followed,
the ungradable photographs became PDR and every other row moved down a grade, and the
re-ingest passed silently. The ungradable reading of 5 now comes first, told not to subtract,
in the ingest and in ``export --score``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from data_prep import validate
from drac_ssl import scoring
from drac_ssl.config import GRADE_SCALES

GRADES = [1, 2, 3, 4, 5, 2, 1, 2]


def write(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image name", "DR grade"),
                                  *((f"007-{i:04d}-000.jpg", g) for i, g in enumerate(GRADES))])
    return path


def test_the_ingest_says_ungradable_before_the_shift(tmp_path: Path) -> None:
    _, problems = validate.read_labels(write(tmp_path / "train.csv"), "image name", "DR grade",
                                       grade_names=GRADE_SCALES["icdr"])
    (said,) = [p for p in problems if p.severity == "error"]
    assert "or their 5 marks ungradable images (DeepDRiD's and DDR's label for one)" in said.what
    assert said.fix.startswith("if grade 5 marks an image its graders found ungradable (DeepDRiD's "
                               "and DDR's label for one), do not subtract: write NA"), said.fix
    assert said.fix.index("--ungradable leave_out") < said.fix.index("subtract 1 from")


def test_the_scorer_says_ungradable_before_the_shift(tmp_path: Path) -> None:
    labels = write(tmp_path / "test.csv")
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"007-{i:04d}-000.jpg,{min(g, 4)}," + ",".join("0.6" if k == min(g, 4) else "0.1" for k in range(5)) + "\n"
        for i, g in enumerate(GRADES)))
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    text = str(caught.value)
    assert ("if grade 5 marks an image its graders found ungradable (DeepDRiD's and DDR's label for "
            "one), do not subtract: delete those rows") in text, text
    assert text.index("--ungradable leave_out") < text.index("subtract 1 from"), text
