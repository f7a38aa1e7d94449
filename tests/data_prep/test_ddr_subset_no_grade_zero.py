"""A DDR subset without grade 0 runs 1..5, its 5 ungradable, as an APTOS CSV written +1 does,
its 5 PDR. Told "ungradable first" (branch ddr81), the +1 CSV lost every PDR row; told "subtract
1" only, the DDR subset made its ungradable photographs PDR. The shift now comes first, and the
ungradable reading second only where the rows of grade 5 are DDR's images (NNN-NNNN-NNN.jpg),
in the ingest and in ``export --score``; a DDR subset whose 5s are NA (the printed conversion
writes them so) is left out without the "no grade 0 left" warning (fatal with --strict)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from data_prep import validate
from data_prep.problems import apply_strict
from drac_ssl import scoring
from drac_ssl.config import GRADE_SCALES

GRADES = [1, 2, 3, 4, 5, 2, 1, 2]


def write(path: Path, name: str = "007-{i:04d}-000.jpg") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("image name", "DR grade"),
                                  *((name.format(i=i), g) for i, g in enumerate(GRADES))])
    return path


def test_the_ingest_says_the_shift_first_and_ddrs_reading_second(tmp_path: Path) -> None:
    _, problems = validate.read_labels(write(tmp_path / "train.csv"), "image name", "DR grade",
                                       grade_names=GRADE_SCALES["icdr"])
    (said,) = [p for p in problems if p.severity == "error"]
    assert said.fix.startswith("subtract 1 from the DR grade column (but if these are DDR's labels, as "
                               "their names say (NNN-NNNN-NNN.jpg), and its 5 marks images its graders "
                               "found ungradable, do not subtract: write NA"), said.fix
    # the command's interpreter is python_word()'s: "python", or a venv's path such as .venv/bin/python
    assert re.match(r"\S*python3?(\.\d+)? -c ", said.fix.splitlines()[-1].lstrip()), said.fix


def test_without_ddrs_names_the_shift_is_the_only_reading(tmp_path: Path) -> None:
    _, problems = validate.read_labels(write(tmp_path / "train.csv", "img{i}.jpg"), "image name", "DR grade",
                                       grade_names=GRADE_SCALES["icdr"])
    (said,) = [p for p in problems if p.severity == "error"]
    assert "DDR" not in said.fix and "ungradable" not in said.fix, said.fix


def test_a_ddr_subset_with_its_fives_na_is_left_out_without_error(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv")
    path.write_text(path.read_text().replace(",5\n", ",NA\n"))
    table, problems = validate.read_labels(path, "image name", "DR grade", grade_names=GRADE_SCALES["icdr"],
                                           ungradable="leave_out")
    assert table is not None and [row.name for row in table.left_out] == ["007-0004-000.jpg"]
    for strict in (False, True):  # the warning, fatal with --strict, is not said at all
        said = apply_strict(problems, strict)
        assert not [p for p in said if "no row left is graded 0" in p.what], [p.what for p in said]
        assert not [p for p in said if p.severity == "error"], [p.what for p in said]


def test_the_scorer_says_the_shift_first_and_ddrs_reading_second(tmp_path: Path) -> None:
    labels = write(tmp_path / "test.csv")
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"007-{i:04d}-000.jpg,{min(g, 4)}," + ",".join("0.6" if k == min(g, 4) else "0.1" for k in range(5)) + "\n"
        for i, g in enumerate(GRADES)))
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, n_boot=20)
    text = str(caught.value)
    assert ("subtract 1 from the DR grade column (but if these are DDR's labels, as their names say "
            "(NNN-NNNN-NNN.jpg), and its 5 marks images its graders found ungradable, do not subtract: "
            "delete those rows") in text, text
