"""A submission whose cases have no file extension (DeepDRiD's ids, ``1_l1``), checked and
scored: one problem that counts them when there are many, and the images' own extension in
the fix where the label CSV names it (a trial: 28 lines for 28 rows, each suggesting
``'1_l1.png'`` for JPEG images)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_scoring_deepdrid import EYES, deepdrid_labels, submission

from drac_ssl import scoring
from drac_ssl.export import main as export_main
from drac_ssl.submission import NO_EXTENSION_LISTED, check_submission


def test_score_of_cases_without_extension_is_one_problem_naming_the_labels_file_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels, cases, grades, _ = deepdrid_labels(tmp_path)
    bare = [case.removesuffix(".jpg") for case in cases]
    sub = submission(tmp_path / "team.csv", bare, grades)
    assert export_main(["--score", str(sub), "--labels", str(labels)]) == 1
    printed = capsys.readouterr()
    err = printed.out + printed.err
    said = [line for line in err.splitlines() if "no file extension" in line]
    assert said == [f"{sub}:2: all 20 cases have no file extension: '1_l1' (line 2), '1_l2' (line 3), "
                    "'1_r1' (line 4) and 17 more -> write each case as its image's file name, with its "
                    "extension: e.g. '1_l1.jpg', as the label CSV regular-fundus-validation.csv names "
                    "it"], err
    assert ".png" not in said[0], said
    assert "1 problem(s) in" in err, err
    # the named file name is right: written so, the same submission is scored
    fixed = submission(tmp_path / "fixed.csv", cases, grades)
    assert scoring.score(fixed, labels, n_boot=10)["accuracy"] == 1.0


def test_check_without_labels_asks_for_the_extension_without_guessing_one(tmp_path: Path) -> None:
    """No label CSV to read the images' names from: the fix asks for the extension, with
    examples, never '.png' alone; a few such cases are said one by one, more counted once."""
    few = submission(tmp_path / "few.csv", ["1_l1", "1_l2.jpg", "1_r1"], [0, 0, 0])
    assert check_submission(few) == [
        f"{few}:{line}: case '{case}' has no file extension -> write the image's file name, with its "
        "extension (e.g. .jpg, .png)" for line, case in ((2, "1_l1"), (4, "1_r1"))]
    cases = [f"{p}_{eye}{shot}" for p in EYES for eye in "lr" for shot in (1, 2)]
    cases[0] += ".jpg"  # one of 20 named right: 19 of the 20
    many = submission(tmp_path / "many.csv", cases, [0] * len(cases))
    problems = check_submission(many)
    assert len(problems) == 1 and problems.total == 1, problems
    assert problems[0].startswith(f"{many}:3: 19 of the 20 cases have no file extension: '1_l2' (line 3)")
    assert problems[0].endswith(f"and {19 - NO_EXTENSION_LISTED} more -> write each case as its "
                                "image's file name, with its extension (e.g. .jpg, .png)"), problems
