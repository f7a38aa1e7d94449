"""``export --score`` against labels in the user's own grade words (``none`` /
``non-proliferative`` / ``proliferative``), review of f998d22 F2: the ingest read such a column
as grade names while the scorer read its ``none`` as an ungradable image and asked for DRAC's
numbers, even against a bundle whose grades are named so. The scorer now takes the grade names
of the bundle that wrote the submission (RUN's, or its own run's), and reads ``none`` by the
ingest's rule (``data_prep.validate.zero_words_named``), in the ingest's words.

One module-scoped tiny run (tests/helpers/tiny_run.py) whose ingest recorded the grades
``none, non-proliferative, proliferative``; label CSVs written here; CPU, seconds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tiny_run import build_tiny_run

from data_prep import validate
from drac_ssl import scoring
from drac_ssl.config import GRADE_SCALES
from drac_ssl.export import main as export_main
from drac_ssl.manifest import read_manifest

WORDS = ("none", "non-proliferative", "proliferative")


def labels_csv(path: Path, cases: list[str], words: tuple[str, ...] = WORDS) -> Path:
    """``image,level`` rows, the words in turn over ``cases``."""
    path.write_text("image,level\n" + "".join(f"{c},{words[i % len(words)]}\n" for i, c in enumerate(cases)))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished tiny run whose grades are named ``none, non-proliferative, proliferative``:
    its bundle and ``export/submission.csv`` of its 6 test images."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    yield build_tiny_run(tmp_path_factory.mktemp("run"), grade_names=WORDS)
    torch.set_num_threads(threads)


def test_the_scorer_says_none_in_the_ingests_words_with_both_readings(tmp_path: Path) -> None:
    """Without the model's names (only K = 3: DRAC's), a ``none`` in a column of words is what the
    ingest says of it (a grade's name, not an ungradable image), and the fix gives both readings:
    RUN, whose grade names are then read, or delete the row as an ungradable image's."""
    labels = labels_csv(tmp_path / "L.csv", ["0.png", "1.png", "2.png"])
    rows = scoring.read_grade_labels(labels, scoring.scale_names(3))
    (bad,) = [p for p in rows.problems if p.severity == "error"]
    assert bad.path == f"{labels}:2"
    assert bad.what == validate.grade_zero_words("0.png", "none", GRADE_SCALES["drac"])
    assert "has no grade (" not in bad.what and "an ungradable image?" not in bad.what
    assert bad.fix.startswith("the grade column's words ('none', 'non-proliferative', 'proliferative') "
                              "look like the grade names of the model that wrote the submission: pass "
                              "its run or bundle folder as RUN"), bad.fix
    assert bad.fix.endswith("; or, if 'none' marks an image that could not be graded, delete the row "
                            "and the submission's row of the image: an image without a true grade "
                            "cannot be scored"), bad.fix
    assert rows.grades == [None, 1, 2]  # the other words are DRAC's NPDR and PDR

    # the ingest reads the same column so (no --grades given): the same words
    table, problems = validate.read_labels(labels, "image", "level")
    (ingest_bad,) = [p for p in problems if p.severity == "error"]
    assert ingest_bad.what == bad.what

    # the model's names known: 'none' is its grade 0; names without it: an ungradable cell, as
    # the ingest says it under a scale given
    named = scoring.read_grade_labels(labels, WORDS, names_known=True)
    assert named.grades == [0, 1, 2] and not [p for p in named.problems if p.severity == "error"]
    drac = scoring.read_grade_labels(labels, GRADE_SCALES["drac"], names_known=True)
    (ungradable,) = [p for p in drac.problems if p.severity == "error"]
    assert ungradable.what == "0.png has no grade ('none'; an ungradable image?)"
    _, given = validate.read_labels(labels, "image", "level", scale_given=True)
    assert [p.what for p in given if p.severity == "error"] == [ungradable.what]


def test_score_against_a_bundle_whose_grades_are_named_so_scores_the_none_rows(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``export RUN --score TEAM.csv --labels L.csv`` with L.csv in the bundle's own words: every
    row scored, ``none`` as grade 0, under the bundle's names; likewise for the submission the
    export wrote into its run (its own bundle tells), with no RUN; a copy elsewhere without RUN
    gets the error that names RUN."""
    assert json.loads((run / "bundle" / "metadata.json").read_text())["class_names"] == list(WORDS)
    cases = [r["id"] for r in read_manifest(run / "data" / "manifest.csv") if r["split"] == "test"]
    labels = labels_csv(tmp_path / "L.csv", cases)
    submission = run / "export" / "submission.csv"
    assert scoring.model_grade_names(submission) == WORDS
    assert scoring.model_grade_names(tmp_path / "elsewhere.csv", str(run)) == WORDS

    elsewhere = shutil.copyfile(submission, tmp_path / "team.csv")
    out = tmp_path / "score.json"
    assert export_main([str(run), "--score", str(elsewhere), "--labels", str(labels), "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["n"] == len(cases) == 6
    assert record["class_names"] == list(WORDS)
    assert [sum(row) for row in record["confusion"]] == [2, 2, 2]  # none, non-proliferative, proliferative

    own = tmp_path / "own.json"
    assert export_main(["--score", str(submission), "--labels", str(labels), "--json", str(own)]) == 0
    assert json.loads(own.read_text())["n"] == 6
    capsys.readouterr()

    assert export_main(["--score", str(elsewhere), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "grade 'none' of " in err and "is read as a grade's name (no retinopathy)" in err, err
    assert "pass its run or bundle folder as RUN" in err
