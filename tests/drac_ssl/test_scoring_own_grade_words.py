"""``export --score`` against labels in the user's own grade words (``none`` /
``non-proliferative`` / ``proliferative``), review of f998d22 F2: the ingest read such a column
as grade names while the scorer read its ``none`` as an ungradable image and asked for DRAC's
numbers, even against a bundle whose grades are named so. The scorer now takes the grade names
of the bundle that wrote the submission (RUN's, or its own run's), and reads ``none`` by the
ingest's rule (``data_prep.validate.zero_words_named``), in the ingest's words.

Review of a01d6f9: labels in the dataset's words (``Normal``, ``NPDR``, ``PDR``) still score
against such a bundle (the default scale's names read what the model's do not, never as another
grade), and a RUN whose names are not read (none recorded, another K) is said so.

One module-scoped tiny run (tests/helpers/tiny_run.py) whose ingest recorded the grades
``none, non-proliferative, proliferative``; label CSVs and hand-written submissions written
here; CPU, about 45 s in CI, most of it building the tiny run (36 s alone on the 2-core host)."""

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


def test_the_datasets_words_score_against_a_bundle_of_its_own_names(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review of a01d6f9, F1: labels in DRAC's words (``Normal``, ``NPDR``, ``PDR``) against the
    bundle named ``none, non-proliferative, proliferative`` scored before the model's names were
    read, and must still: ``Normal``, which those names do not read, is read by DRAC's, said in
    a note; the same true grades as the bundle's own words give the same figures."""
    cases = [r["id"] for r in read_manifest(run / "data" / "manifest.csv") if r["split"] == "test"]
    submission = shutil.copyfile(run / "export" / "submission.csv", tmp_path / "team.csv")
    records = {}
    for words in (WORDS, GRADE_SCALES["drac"], ("None", "NPDR", "Proliferative DR")):
        labels = labels_csv(tmp_path / f"{words[0]}.csv", cases, words)
        out = tmp_path / f"{words[0]}.json"
        assert export_main([str(run), "--score", str(submission), "--labels", str(labels),
                            "--json", str(out)]) == 0, words
        records[words[0]] = json.loads(out.read_text())
        err = capsys.readouterr().err
        assert ("2 grades written in the DRAC scale's names, not the model's (none, "
                "non-proliferative, proliferative), read as their numbers: Normal=0 (none)" in err) \
            == (words[0] == "Normal"), err
    for record in records.values():
        assert record["class_names"] == list(WORDS) and record["n"] == 6
        assert [sum(row) for row in record["confusion"]] == [2, 2, 2]
        assert record["confusion"] == records["none"]["confusion"] and record["qwk"] == records["none"]["qwk"]

    # the submission the export wrote into its run, no RUN: its own bundle's names, DRAC's words too
    mixed = labels_csv(tmp_path / "mixed.csv", cases, ("Normal", "non-proliferative", "PDR", "none",
                                                      "NPDR", "proliferative"))
    out = tmp_path / "mixed.json"
    assert export_main(["--score", str(run / "export" / "submission.csv"), "--labels", str(mixed),
                        "--json", str(out)]) == 0
    assert json.loads(out.read_text())["confusion"] == records["none"]["confusion"]


def test_the_default_scale_never_reads_a_word_as_another_grade_than_the_models(tmp_path: Path) -> None:
    """The fallback to the default scale's names reads only the words the model's names do not
    read, and only where both scales place that grade alike: against names in the reverse order
    (``proliferative, non-proliferative, none``), ``PDR`` is the model's grade 0 (its own name's
    short form wins) and ``Normal``, DRAC's grade 0, is refused, not read as proliferative: the
    model's ``proliferative`` is DRAC's grade 2, so DRAC's names read no word of the file."""
    labels = labels_csv(tmp_path / "L.csv", ["0.png", "1.png", "2.png", "3.png"],
                        ("Normal", "NPDR", "PDR", "none"))
    reverse = scoring.read_grade_labels(labels, WORDS[::-1], names_known=True)
    assert reverse.grades == [None, 1, 0, 2]
    (bad,) = [p for p in reverse.problems if p.severity == "error"]
    assert bad.path == f"{labels}:2"
    assert bad.what == ("grade 'Normal' of 0.png is neither a grade number nor one of the names "
                        "proliferative, non-proliferative, none (the DRAC scale's names, Normal, NPDR, "
                        "PDR, were not used for this file: the model's grade 0 is named 'proliferative', "
                        "which is grade 2 (PDR) on the DRAC scale)")

    own = scoring.read_grade_labels(labels, WORDS, names_known=True)
    assert own.grades == [0, 1, 2, 0] and not [p for p in own.problems if p.severity == "error"]
    # a word neither scale reads names both in its error
    other = labels_csv(tmp_path / "O.csv", ["0.png", "1.png"], ("Normal", "Severe"))
    (bad,) = [p for p in scoring.read_grade_labels(other, WORDS, names_known=True).problems
              if p.severity == "error"]
    assert bad.what.endswith("nor one of the names none, non-proliferative, proliferative or of the DRAC "
                             "scale (Normal, NPDR, PDR)"), bad.what
    # the named scale itself (the names not known): no second reading, no note of one
    drac = scoring.read_grade_labels(labels, scoring.scale_names(3))
    assert drac.grades[:3] == [0, 1, 2] and not any("DRAC scale's names" in p.what for p in drac.problems)

    # five grades of the model's own words: ICDR's names read the rest
    icdr = labels_csv(tmp_path / "I.csv", [f"{i}.png" for i in range(4)], ("No DR", "Moderate", "PDR", "mild"))
    named = scoring.read_grade_labels(icdr, ("none", "mild", "moderate", "severe", "proliferative"),
                                      names_known=True)
    assert named.grades == [0, 2, 4, 1] and not [p for p in named.problems if p.severity == "error"]


def test_names_in_the_reverse_order_of_a_named_scale_turn_the_fallback_off(tmp_path: Path) -> None:
    """A reviewer's finding: against a bundle named ``severe, moderate, mild`` (none of them a
    DRAC name), ``Normal, NPDR, PDR`` were read as 0, 1, 2, ``Normal`` as grade 0 'severe'. ICDR
    reads those names as its grades 3, 2, 1: the model's grades run the other way, and the
    default names read no word of the file, each an error that says why."""
    reverse = ("severe", "moderate", "mild")
    labels = labels_csv(tmp_path / "L.csv", ["0.png", "1.png", "2.png", "3.png"],
                        ("Normal", "NPDR", "PDR", "mild"))
    rows = scoring.read_grade_labels(labels, reverse, names_known=True)
    assert rows.grades == [None, None, None, 2]  # the model's own word is read as before
    errors = [p for p in rows.problems if p.severity == "error"]
    assert [p.path for p in errors] == [f"{labels}:{line}" for line in (2, 3, 4)]
    assert errors[0].what == (
        "grade 'Normal' of 0.png is neither a grade number nor one of the names severe, moderate, mild "
        "(the DRAC scale's names, Normal, NPDR, PDR, were not used for this file: the model's names run "
        "against the ICDR scale's order: its grade 0 'severe' is grade 3 (Severe) there, its grade 1 "
        "'moderate' grade 2 (Moderate))"), errors[0].what
    assert not any("written in the DRAC scale's names" in p.what for p in rows.problems)
    # names in the scale's own order keep the fallback, but only where the two names of a grade
    # number name overlapping ICDR grades (8f501df, a second read): DRAC's NPDR (ICDR 1..3) is read
    # as the model's 'moderate' (2); Normal (0) is no 'mild' (1) and PDR (4) no 'severe' (3)
    ordered = scoring.read_grade_labels(labels, reverse[::-1], names_known=True)
    assert ordered.grades == [None, 1, None, 0]
    refused = [p for p in ordered.problems if p.severity == "error"]
    assert [p.path for p in refused] == [f"{labels}:{line}" for line in (2, 4)]
    assert all("disagree on that grade" in p.what for p in refused), [p.what for p in refused]


def submission_csv(path: Path, cases: list[str], k: int) -> Path:
    """A submission of ``k`` grades for ``cases``: class ``i % k``, its P 0.6, the rest shared."""
    rest = 0.4 / (k - 1)
    rows = [f"{c},{i % k}," + ",".join("0.6" if g == i % k else f"{rest:g}" for g in range(k))
            for i, c in enumerate(cases)]
    path.write_text(f"case,class,{','.join(f'P{g}' for g in range(k))}\n" + "\n".join(rows) + "\n")
    return path


def test_a_run_whose_names_are_not_read_is_said_so(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review of a01d6f9, F2: RUN given but its names not read (no run folder; a bundle of another
    K) no longer gets the fix "pass RUN": it says why; a bundle of another K than the
    submission's is a warning, not a silent fall back to the named scale."""
    cases = [r["id"] for r in read_manifest(run / "data" / "manifest.csv") if r["split"] == "test"]
    labels = labels_csv(tmp_path / "L.csv", cases)
    team = shutil.copyfile(run / "export" / "submission.csv", tmp_path / "team.csv")
    nothing = tmp_path / "not_a_run"
    nothing.mkdir()
    assert export_main([str(nothing), "--score", str(team), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert ("look like the grade names of the model that wrote the submission, but RUN records no "
            "grade names (it is no run or bundle folder, or its bundle's metadata.json has no "
            "class_names): pass the run or bundle folder of the model that wrote it as RUN") in err, err
    assert "pass its run or bundle folder as RUN" not in err

    # a 2-grade submission against the 3-grade bundle: its names are not the submission's
    two = submission_csv(tmp_path / "two.csv", cases, 2)
    worded = labels_csv(tmp_path / "W.csv", cases, ("none", "referable"))
    assert export_main([str(run), "--score", str(two), "--labels", str(worded)]) == 2
    err = capsys.readouterr().err
    assert "but RUN's bundle names 3 grades, the submission has 2: pass the run or bundle folder" in err, err

    # a 5-grade submission scored with RUN: scored under ICDR's names, with the warning
    five = submission_csv(tmp_path / "five.csv", cases, 5)
    numbers = labels_csv(tmp_path / "N.csv", cases, ("0", "1", "2", "3", "4"))
    out = tmp_path / "five.json"
    assert export_main([str(run), "--score", str(five), "--labels", str(numbers), "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    said = ("RUN's bundle names 3 grades (none, non-proliferative, proliferative), the submission has 5: "
            "its names are not used; the grades are named, and the label words read, by the ICDR "
            "scale's (No DR, Mild, Moderate, Severe, PDR)")
    assert record["class_names"] == list(GRADE_SCALES["icdr"])
    assert record["class_names_warning"].startswith(said), record["class_names_warning"]
    assert f"warning: {said}" in capsys.readouterr().err
    # a bundle of the submission's K: no warning
    assert "class_names_warning" not in scoring.score(team, labels, grade_names=WORDS, run_given=True, n_boot=10)


@pytest.mark.parametrize("model_names", [("Mild", "Severe", "Proliferative"), ("moderate", "severe", "PDR")])
def test_drac_s_normal_is_never_read_as_a_model_s_mild_grade_0(tmp_path: Path, model_names: tuple[str, ...]) -> None:
    """A second read of this session's change: against a model whose grade 0 is named Mild (or
    moderate), DRAC's ``Normal`` (grade 0 on DRAC's scale) was read as that grade 0 with
    "nothing to do"; the two names of one grade number now have to name overlapping ICDR grades
    (validate.severity_range), else the word is an error that says the scales disagree."""
    path = tmp_path / "L.csv"
    path.write_text("image,grade\n1.png,Normal\n2.png,PDR\n", encoding="utf-8")
    rows = scoring.read_grade_labels(path, model_names, names_known=True, image_column="image",
                                     grade_column="grade")
    assert rows.grades == [None, 2]
    (refused,) = [p for p in rows.problems if p.severity == "error"]
    assert "'Normal'" in refused.what and "disagree on that grade" in refused.what
    # a model whose grade 0 is a grade-0 name still reads Normal by DRAC's names
    rows = scoring.read_grade_labels(path, ("none", "non-proliferative", "proliferative"), names_known=True,
                                     image_column="image", grade_column="grade")
    assert rows.grades == [0, 2] and not [p for p in rows.problems if p.severity == "error"]
