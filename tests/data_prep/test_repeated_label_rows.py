"""A label row written twice in a plain folder's CSV (a trial user's findings F2, F3).

F2: one exact repeat of a grade-4 row stopped the automatic ICDR scale (the repeat was an error
on DRAC's default scale, where its grade is invalid, and a warning on ICDR's, so the two
readings' errors differed). F3: the repeat's warning called rows identical that differed in a
column the ingest does not read, and the counts left the repeat out ("2 of the 27 label rows"
for a file of 28).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, validate
from drac_ssl import preflight
from drac_ssl.config import DataConfig

N_IMAGES = 25  # eye_000.jpg .. eye_024.jpg, grade i % 5: eye_004.jpg is grade 4


def colour_jpegs(root: Path, n: int = N_IMAGES) -> list[str]:
    """``n`` distinct colour JPEGs (64 px, upsampled noise) in ``root``; their names."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    names = [f"eye_{i:03d}.jpg" for i in range(n)]
    for name in names:
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(root / name, quality=95)
    return names


def plain_folder(root: Path, extra: list[str]) -> Path:
    """A plain folder of colour JPEGs graded 0..4 (``image name,DR grade``), ``extra`` lines
    appended to its CSV."""
    names = colour_jpegs(root)
    lines = ["image name,DR grade", *(f"{n},{i % 5}" for i, n in enumerate(names)), *extra]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def config(root: Path, **overrides: object) -> DataConfig:
    return DataConfig(**{"root": str(root), "cache_sizes": [32], "n_folds": 2, "workers": 1,
                         **overrides})  # type: ignore[arg-type]



def _assert_no_image_count(root: Path, out: Path, count: str) -> None:
    """The ingest of ``root`` without ``--missing leave_out`` is refused with one count line of
    the rows without an image, starting ``"<count> label rows have no image in <root>"``."""
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), out, verbose=False)
    counts = {p.summary for p in refused.value.problems if p.kind == "no-image"}
    assert len(counts) == 1 and next(iter(counts)).startswith(f"{count} label rows have no image in {root}"), counts

def test_an_exact_repeat_of_a_grade_4_row_keeps_the_inferred_icdr_scale(tmp_path: Path) -> None:
    root = plain_folder(tmp_path / "d", ["eye_004.jpg,4"])  # line 27 repeats line 6
    csv_path = root / "labels.csv"
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert result.grade_names == ("No DR", "Mild", "Moderate", "Severe", "PDR")
    assert any("the scale was inferred as the 5 ICDR grades" in n for n in result.notes), result.notes
    warning = (f"{csv_path}:27: eye_004.jpg is listed 2 times (lines 6, 27) with grade 4 on both, the "
               "rows identical: the first is kept, line 27 left out -> nothing to do; delete line 27 "
               "to silence this")
    assert warning in result.warnings, result.warnings
    assert result.n_train == N_IMAGES and result.counts_per_grade[4] == 5
    summary = json.loads(result.summary_path.read_text())
    assert summary["grades"]["source"] == ingest.INFERRED_ICDR
    assert summary["left_out_repeated"] == [{"name": "eye_004.jpg", "line": 27, "grade_cell": "4",
                                             "grade": 4, "kept_line": 6}]
    assert ("left out: 1 row repeating an earlier row of the same image, grade and patient (the "
            "image kept once), listed in ingest_summary.json (left_out_repeated)"
            ) in ingest.format_summary(result)
    # the scale said: the same warning, on ICDR's scale as on DRAC's (where grade 4 is the error)
    said = ingest.run(config(root, grades=["icdr"]), tmp_path / "icdr", verbose=False)
    assert warning in said.warnings
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, grades=["drac"]), tmp_path / "drac", verbose=False)
    message = str(refused.value)
    assert "rows have a grade outside {0, 1, 2}" in message and "pass --grades icdr" in message
    assert "1 problem(s) must be fixed" in message, message
    # the same repeat, told to be deleted since the kept row's grade is the error (F4)
    assert warning.split(" -> ")[0] + " -> delete line 27; the grade error then stands for line 6 alone" \
        in message, message


def test_the_preflight_infers_icdr_beside_an_exact_repeat(tmp_path: Path) -> None:
    """``python -m drac_ssl.train`` without ``-c fundus`` read the same folder through the same
    ingest functions and stopped on both errors before any stage."""
    root = plain_folder(tmp_path / "d", ["eye_004.jpg,4"])
    cfg, sources, parsed = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2",
                                                        "pretrain.batch_size=8", "umm.batch_size=8"])
    assert parsed == []
    found = preflight.check(cfg, tmp_path / "runs" / "x", sources)
    errors = [f.line for f in found if f.severity == "error"]
    assert errors == [], errors
    assert not any("outside {" in f.line or "listed 2 times" in f.line for f in found)
    # said on DRAC's scale, its grade error is the one error: the repeat is none
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2",
                                                   "data.grades=drac", "pretrain.batch_size=8",
                                                   "umm.batch_size=8"])
    errors = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "y", sources) if f.severity == "error"]
    assert len(errors) == 1 and "11 rows have a grade outside {0, 1, 2}" in errors[0], errors


def test_an_exact_repeat_of_a_bad_grade_is_the_same_repeat_on_every_scale(tmp_path: Path) -> None:
    """The repeat is told by the grade cell as written: ``x`` twice is one row written twice, the
    grade error said at each line; an empty cell written twice stays an error (no grade given)."""
    root = plain_folder(tmp_path / "d", ["eye_030.jpg,x", "eye_030.jpg,x"])  # lines 27, 28
    csv_path = root / "labels.csv"
    (root / "eye_030.jpg").write_bytes((root / "eye_000.jpg").read_bytes())
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, grades=["icdr"]), tmp_path / "out", verbose=False)
    message = str(refused.value)
    assert (f"{csv_path}:28: eye_030.jpg is listed 2 times (lines 27, 28) with grade x on both, the "
            "rows identical: the first is kept, line 28 left out") in message, message
    assert "-> keep exactly one row per image" not in message, message
    assert f"{csv_path}:27: grade 'x' of eye_030.jpg is not an integer" in message, message
    # a repeat of a row in error is not told "nothing to do" (a reviewer, F4): deleting the
    # repeat leaves the grade error of the kept row alone
    assert ("line 28 left out -> delete line 28; the grade error then stands for line 27 alone"
            ) in message, message
    assert "nothing to do; delete line 28" not in message, message
    # an empty cell written twice stays an error: no grade is given twice, each row is said
    (root / "labels.csv").write_text("\n".join(
        ["image name,DR grade", *(f"eye_{i:03d}.jpg,{i % 5}" for i in range(N_IMAGES)),
         "eye_030.jpg,", "eye_030.jpg,"]) + "\n", encoding="utf-8")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, grades=["icdr"]), tmp_path / "empty", verbose=False)
    message = str(refused.value)
    assert "the rows identical" not in message and "line 28 left out" not in message, message
    assert f"{csv_path}:28: eye_030.jpg is listed 2 times (lines 27, 28)" in message, message
    assert "keep exactly one row per image" in message, message


def test_a_repeat_of_a_grade_outside_drac_scale_is_told_to_delete_it(tmp_path: Path) -> None:
    """A repeated ``4`` under DRAC's 3 grades: the kept row's grade is the error, so the repeat's
    fix is to delete it, never "nothing to do" (a reviewer, F4)."""
    root = plain_folder(tmp_path / "d", ["eye_004.jpg,4"])  # line 27 repeats line 6
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, grades=["drac"]), tmp_path / "drac", verbose=False)
    (repeat,) = [p for p in refused.value.problems if "is listed 2 times" in p.what]
    assert repeat.fix == "delete line 27; the grade error then stands for line 6 alone", repeat.fix


def test_three_copies_of_a_row_keep_the_first_and_name_both_repeats(tmp_path: Path) -> None:
    root = plain_folder(tmp_path / "d", ["eye_002.jpg,2", "eye_002.jpg,2"])  # lines 27, 28
    csv_path = root / "labels.csv"
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert (f"{csv_path}:27: eye_002.jpg is listed 3 times (lines 4, 27, 28) with grade 2 on all 3, "
            "the rows identical: the first is kept, lines 27, 28 left out -> nothing to do; "
            "delete lines 27, 28 to silence this") in result.warnings, result.warnings
    assert result.n_train == N_IMAGES
    summary = json.loads(result.summary_path.read_text())
    assert summary["left_out_repeated"] == [
        {"name": "eye_002.jpg", "line": line, "grade_cell": "2", "grade": 2, "kept_line": 4}
        for line in (27, 28)]
    assert "left out: 2 rows repeating an earlier row" in ingest.format_summary(result)


def test_a_repeat_whose_other_columns_differ_says_so_and_names_them(tmp_path: Path) -> None:
    """``eye_003.jpg;3;OD;ok`` and ``eye_003.jpg;3;OD;dup`` were 'the rows identical'. They agree
    on every column the ingest reads, so the first is kept with a warning, which names the
    column that differs; the counts are the file's rows as written (28 here, not 27)."""
    root = tmp_path / "d"
    names = colour_jpegs(root)
    rows = [f"{n};{i % 5};OD;ok" for i, n in enumerate(names)]
    rows += ["eye_003.jpg;3;OD;dup", "eye_090.jpg;1;OS;ok", "eye_091.jpg;2;OS;ok"]  # lines 27-29
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image name;DR grade;eye;note", *rows]) + "\n", encoding="utf-8")
    result = ingest.run(config(root, missing="leave_out"), tmp_path / "out", verbose=False)
    (said,) = [w for w in result.warnings if "is listed 2 times" in w]
    assert said == (f"{csv_path}:27: eye_003.jpg is listed 2 times (lines 5, 27) with grade 3 on "
                    "both, the same name and grade but other columns differ (note 'ok' vs 'dup'): "
                    "the first is kept, line 27 left out -> nothing to do if line 27 is a copy; if "
                    "it was meant for another image, write that image's name in it; else delete "
                    "line 27 to silence this"), said
    assert "identical" not in said
    (left,) = [n for n in result.notes if "were left out (--missing leave_out)" in n]
    assert f"2 of the 28 label rows have no image in {root}" in left, left
    printed = ingest.format_summary(result)
    assert "left out: 2 rows whose image is missing" in printed
    assert "left out: 1 row repeating an earlier row" in printed
    summary = json.loads(result.summary_path.read_text())
    assert summary["left_out_repeated"] == [{"name": "eye_003.jpg", "line": 27, "grade_cell": "3",
                                             "grade": 3, "kept_line": 5,
                                             "other_cells": [["eye", "OD"], ["note", "dup"]]}]
    assert [r["line"] for r in summary["left_out_missing"]] == [28, 29]
    # without leave_out the count line of the rows without an image counts the same 28
    _assert_no_image_count(root, tmp_path / "error", "2 of the 28")


SHARED = ("two sources share a name? prefix each source's files and CSV names with the source "
          "(A_7.png, B_7.png) and copy every file in again")


def test_two_sites_with_a_7_png_each_are_refused(tmp_path: Path) -> None:
    """The review's reproduction: ``7.png,4,A`` and ``7.png,4,B`` (one file left in the folder),
    beside ``8.png`` with grades 2 (A) and 0 (B): both are errors whose fix is to prefix each
    source's names; the identical rows of the same CSV stay a warning."""
    root = tmp_path / "pooled"
    names = colour_jpegs(root)
    rows = [f"{n},{i % 5},A" for i, n in enumerate(names)]
    rows += [f"{names[4]},4,B", f"{names[7]},0,B", f"{names[9]},4,A"]  # lines 27-29
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image name,DR grade,site", *rows]) + "\n", encoding="utf-8")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    errors = {p.path: p for p in refused.value.problems if p.severity == "error"}
    same = errors[f"{csv_path}:27"]
    assert same.what.endswith("with grade 4 on both, the same name and grade but other columns "
                              "differ (site 'A' vs 'B'): two images under one name? (two sources "
                              "each with their own eye_004.jpg: one copy overwrote the other, so "
                              "an image is lost and the row kept may not describe the pixels "
                              "left)"), same.what
    assert same.fix.startswith(SHARED), same.fix
    clash = errors[f"{csv_path}:28"]
    assert clash.what.endswith("with conflicting grades ['2', '0']; other columns differ (site "
                               "'A' vs 'B')"), clash.what
    assert clash.fix == f"{SHARED}; else keep exactly one row per image", clash.fix
    (copy,) = [p for p in refused.value.problems if p.path == f"{csv_path}:29"]
    assert copy.severity == "warning" and "the rows identical" in copy.what, copy


@pytest.mark.parametrize(("header", "cells", "differ"), [
    ("image name,DR grade,grader", ("A", "B"), "grader 'A' vs 'B'"),
    ("image name,DR grade,graded_on", ("2024-01-05", "2024-02-09"),
     "graded_on '2024-01-05' vs '2024-02-09'"),
    ("Unnamed: 0,image name,DR grade", ("3", "26"), "Unnamed: 0 '3' vs '26'"),
    ("image name,DR grade,reader_site", ("A", "B"), "reader_site 'A' vs 'B'")])
def test_a_repeat_differing_in_a_grader_date_or_index_column_is_a_warning(
        tmp_path: Path, header: str, cells: tuple[str, str], differ: str) -> None:
    """A review (F1): a ``grader`` column where two graders agree, a pandas index column and a
    ``graded_on`` date made a row of one image and grade an error with no override ("two images
    under one name?"); main warned and kept the first. Only a column naming the source
    (``site``, ``hospital``) in a flat-folder layout is the error now; these stay main's warning
    (fatal under --strict, as every warning)."""
    root = tmp_path / "d"
    names = colour_jpegs(root)
    index_first = header.startswith("Unnamed")

    def row(i: int, name: str, cell: str) -> str:
        return f"{cell},{name},{i % 5}" if index_first else f"{name},{i % 5},{cell}"

    rows = [row(i, n, cells[0] if i == 3 or not index_first else str(i)) for i, n in enumerate(names)]
    rows.append(row(3, names[3], cells[1]))  # line 27
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    (said,) = [w for w in result.warnings if "is listed 2 times" in w]
    assert said == (f"{csv_path}:27: eye_003.jpg is listed 2 times (lines 5, 27) with grade 3 on "
                    f"both, the same name and grade but other columns differ ({differ}): the first "
                    "is kept, line 27 left out -> nothing to do if line 27 is a copy; if it was "
                    "meant for another image, write that image's name in it; else delete line 27 "
                    "to silence this"), said
    assert "two images under one name" not in said
    with pytest.raises(validate.IngestError):
        ingest.run(config(root, strict=True), tmp_path / "strict", verbose=False)
    # conflicting grades with a grader column: keep one row first, no 'two sources' fix
    csv_path.write_text("\n".join([header, *rows[:-1], row(4, names[3], cells[1])]) + "\n",
                        encoding="utf-8")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "clash", verbose=False)
    (clash,) = [p for p in refused.value.problems if p.path == f"{csv_path}:27"]
    assert clash.fix == "keep exactly one row per image", clash.fix


def test_a_site_column_is_an_error_only_in_a_flat_folder_layout() -> None:
    """The scope of the two-sources error (F1): a differing ``site``/``Hospital``/``centre_id``
    cell, in a flat-folder layout (here plain, APTOS, EyePACS, IDRiD); never in DeepDRiD's per-patient folders
    (two sources' ``7.png`` cannot overwrite each other there), nor for a grader or a date."""
    def rows(column: str) -> list[validate.LabelRow]:
        return [validate.LabelRow(name="7.png", grade=4, patient="", line=line, written="4",
                                  others=((column, cell),))
                for line, cell in ((2, "A"), (3, "B"))]

    for column in ("site", "Hospital", "centre_id", "source", "Dataset", "study_center"):
        for kind in ("plain", "aptos", "eyepacs", "idrid", None):
            assert validate.shared_name_columns(rows(column), kind) == [column], (column, kind)
        assert validate.shared_name_columns(rows(column), "deepdrid") == [], column
    for column in ("grader", "rater_site", "graded_on", "source_date", "Unnamed: 0", "note",
                   "origin_time", "website"):
        assert validate.shared_name_columns(rows(column), "plain") == [], column
    table = validate.LabelTable(path=Path("labels.csv"), columns=["image", "grade", "site"],
                                rows=rows("site"))
    _, (said,) = validate.drop_repeated_rows(table, "deepdrid")
    assert said.severity == "warning" and "the first is kept" in said.what, said
    _, (said,) = validate.drop_repeated_rows(table, "aptos")
    assert said.severity == "error" and "two images under one name?" in said.what, said


def test_a_repeat_with_its_patient_said_names_the_patient_too(tmp_path: Path) -> None:
    root = tmp_path / "d"
    names = colour_jpegs(root)
    rows = [f"{n},{i % 5},p{i},ok" for i, n in enumerate(names)] + ["eye_003.jpg,3,p3,redo"]
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image name,DR grade,patient,note", *rows]) + "\n", encoding="utf-8")
    result = ingest.run(config(root, patient_column="patient"), tmp_path / "out", verbose=False)
    assert any(w.startswith(f"{csv_path}:27: eye_003.jpg is listed 2 times (lines 5, 27) with grade "
                            "3 on both, the same name, grade and patient but other columns differ "
                            "(note 'ok' vs 'redo')") for w in result.warnings), result.warnings


def test_a_repeat_differing_in_the_other_eyes_grade_or_the_gradable_mark_names_it(tmp_path: Path) -> None:
    """A reviewer (F1): every column read for any purpose was left out of the comparison, so
    rows differing only in the other eye's grade column (read to tell the other eye's row) or
    in the gradable column (``1`` and ``yes``) were "the rows identical". Every column but the
    image name, the row's own grade and the patient is compared and named."""
    root = tmp_path / "eyes"
    names = colour_jpegs(root)
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image,left_grade,right_grade",
                                   *(f"{n},{i % 5},{i % 5}" for i, n in enumerate(names)),
                                   "eye_002.jpg,2,0"]) + "\n", encoding="utf-8")
    result = ingest.run(config(root, image_column="image", grade_column="left_grade"),
                        tmp_path / "out", verbose=False)
    (said,) = [w for w in result.warnings if "is listed 2 times" in w]
    assert said.startswith(f"{csv_path}:27: eye_002.jpg is listed 2 times (lines 4, 27) with grade 2 "
                           "on both, the same name and grade but other columns differ (right_grade "
                           "'2' vs '0')"), said
    assert "identical" not in said
    summary = json.loads(result.summary_path.read_text())
    assert summary["left_out_repeated"][0]["other_cells"] == [["right_grade", "0"]]

    root = tmp_path / "gradable"
    names = colour_jpegs(root)
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image name,DR grade,adjudicated_gradable",
                                   *(f"{n},{i % 5},1" for i, n in enumerate(names)),
                                   "eye_002.jpg,2,yes"]) + "\n", encoding="utf-8")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "g", verbose=False)
    message = str(refused.value)
    assert (f"{csv_path}:27: eye_002.jpg is listed 2 times (lines 4, 27) with grade 2 on both, the "
            "same name and grade but other columns differ (adjudicated_gradable '1' vs 'yes'): the "
            "first is kept, line 27 left out -> if it was meant for another image, write that "
            "image's name in it; else delete line 27, and its error goes with it") in message, message
    assert "identical" not in message, message


def test_two_unread_columns_of_one_header_keep_both_cells(tmp_path: Path) -> None:
    """``note,note``: both columns' cells are kept and told apart by their column number (a
    reviewer, F6: a dict of the cells kept only the last)."""
    root = tmp_path / "d"
    names = colour_jpegs(root)
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image name,DR grade,note,note",
                                   *(f"{n},{i % 5},a,b" for i, n in enumerate(names)),
                                   "eye_002.jpg,2,x,z"]) + "\n", encoding="utf-8")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    (said,) = [w for w in result.warnings if "is listed 2 times" in w]
    assert ("other columns differ (note (column 3) 'a' vs 'x'; note (column 4) 'b' vs 'z')"
            ) in said, said
    summary = json.loads(result.summary_path.read_text())
    assert summary["left_out_repeated"][0]["other_cells"] == [["note (column 3)", "x"],
                                                              ["note (column 4)", "z"]]


def test_a_repeat_of_a_row_without_image_is_counted_and_named(tmp_path: Path) -> None:
    """A reviewer (F2): ``eye_090.jpg,1`` twice with no such image, under --missing leave_out,
    was "1 of the 27 label rows has no image": the total counted the repeat as written, the
    count did not, and the summary said the image was "kept once" though it is nowhere."""
    root = plain_folder(tmp_path / "d", ["eye_090.jpg,1", "eye_090.jpg,1"])  # lines 27, 28
    result = ingest.run(config(root, missing="leave_out"), tmp_path / "out", verbose=False)
    (left,) = [n for n in result.notes if "left out (--missing leave_out)" in n]
    assert (f"2 of the 27 label rows have no image in {root} and were left out (--missing "
            "leave_out): labels.csv:27 eye_090.jpg (line 28 repeats it)") in left, left
    printed = ingest.format_summary(result)
    assert ("left out: 1 row repeating an earlier row of the same image, grade and patient (its "
            "image missing, left out with the row it repeats), listed in ingest_summary.json "
            "(left_out_repeated)") in printed, printed
    assert "kept once" not in printed
    # without leave_out, the count of the rows without an image counts the repeat too
    _assert_no_image_count(root, tmp_path / "error", "2 of the 27")


def test_an_empty_training_folder_counts_the_rows_as_written(tmp_path: Path) -> None:
    """The error of a label CSV beside an empty training folder counts every row the file
    writes: repeats and rows left out as ungradable too (a reviewer, F2)."""
    root = tmp_path / "aptos"
    (root / "train_images").mkdir(parents=True)
    (root / "train.csv").write_text("id_code,diagnosis\na1,0\na2,1\na2,1\na3,\n", encoding="utf-8")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, grades=["icdr"], ungradable="leave_out"), tmp_path / "out",
                   verbose=False)
    (empty,) = [p for p in refused.value.problems if p.kind == "no-training-images"]
    assert empty.what.startswith("the label CSV has 4 rows but 0 training images"), empty.what


def test_two_rows_of_one_image_naming_other_sites_are_an_error(tmp_path: Path) -> None:
    """A final read: rows of one image differing only in the site column (``data.site_column``,
    which decides the folds and the figures per site) were a "copy" warning, the first site kept
    silently, whenever the column's name was not a source word (``cohort``). Now they are an
    error naming both lines, as two patients are; without --site-column, a warning as before."""
    root = tmp_path / "d"
    names = colour_jpegs(root)
    lines = ["image name,DR grade,cohort", *(f"{n},{i % 5},{'A' if i < 12 else 'B'}" for i, n in enumerate(names)),
             f"{names[0]},0,B"]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, site_column="cohort"), tmp_path / "out", verbose=False)
    said = [p for p in refused.value.problems if p.kind == "csv" and names[0] in p.what]
    assert said and said[0].severity == "error" and "lines 2, 27" in said[0].what
    assert "right site (cohort)" in said[0].fix
    result = ingest.run(config(root), tmp_path / "plain", verbose=False)  # no site column: a copy
    assert any(names[0] in w and "left out" in w for w in map(str, result.warnings))
