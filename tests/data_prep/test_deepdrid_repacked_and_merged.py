"""A trial user's DeepDRiD findings: the per-eye note on a grade column that is each row's own
eye's (the docs' merge of the two eye columns), and a set repacked without ``Images/`` (the
per-patient folders beside ``regular-fundus-training.csv``).

The trees are built from the real APTOS samples as ``test_layouts.deepdrid_tree`` builds them
(28 photographs, 7 patients, 2 per eye); skipped with the reason when the samples are absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_layouts import (
    DEEPDRID_HEADER,
    config,
    deepdrid_tree,
    flat_copy,
    manifest,
    run_error,
    summary,
    write_rows,
)

from data_prep import ingest, layout, source_check, validate
from drac_ssl import scoring
from drac_ssl.config import GRADE_SCALES, DataConfig

UNREAD = "is read as each image's grade"  # the per-eye note's words


def merged(rows: list[list[object]], spelling: str = "int") -> list[list[object]]:
    """``rows`` of DeepDRiD's CSV with a last column ``grade``: each row's own eye's cell, as
    docs/data.md's pandas line writes it (``fillna`` of the left eye's column by the right's;
    ``astype('Int64')`` writes ``3``, without it the float ``3.0``)."""
    out = []
    for row in rows:
        cell = row[3] if row[3] != "" else row[4]
        out.append([*row, f"{float(cell)}" if spelling == "float" else cell])  # type: ignore[arg-type]
    return out


def flat_merged(tmp_path: Path, aptos: list, spelling: str = "int") -> tuple[Path, list[list[object]]]:
    """A flat copy of the set (every image in one folder) with ``labels.csv``: DeepDRiD's
    columns and the merged ``grade``."""
    images, _, rows = deepdrid_tree(tmp_path, aptos)
    flat = flat_copy(images, tmp_path / "flat")
    table = merged(rows, spelling)
    write_rows(flat / "labels.csv", [*DEEPDRID_HEADER, "grade"], table)
    return flat, table


def flat_config(flat: Path, **overrides: object) -> DataConfig:
    """The flags docs/data.md gives a flat copy with the merged column."""
    settings = {"image_column": "image_id", "grade_column": "grade", "patient_column": "patient_id",
                "grades": "icdr", "modality": "fundus", "channels": "3"}
    return config(flat, **{**settings, **overrides})


@pytest.mark.parametrize("spelling", ["int", "float"])
def test_the_docs_merge_of_the_eye_columns_gives_no_per_eye_note(
        tmp_path: Path, aptos: list, spelling: str) -> None:
    """F2: the recipe of docs/data.md (merge the two eye columns, pass --grade-column grade)
    ingested rightly but noted that 'grade' is 'one grade per row, not the image's own eye's
    -> drop --grade-column', which on a flat copy is an error. Each row's cell is its own
    eye's: no note, and export --score reads it without one either."""
    flat, table = flat_merged(tmp_path, aptos, spelling)
    result = ingest.run(flat_config(flat), tmp_path / "out", verbose=False)
    assert result.n_train == 28
    assert not any(UNREAD in n for n in result.notes + result.warnings), result.notes
    grades = {r["id"]: int(r["grade"]) for r in manifest(result)}
    assert all(grades[f"{row[1]}.jpg"] == int(float(row[-1])) for row in table)  # type: ignore[arg-type]
    rows = scoring.read_grade_labels(flat / "labels.csv", GRADE_SCALES["icdr"], grade_column="grade")
    assert not any(UNREAD in p.what for p in rows.problems), [p.line for p in rows.problems]


def test_the_docs_pandas_line_itself_gives_no_per_eye_note(tmp_path: Path, aptos: list) -> None:
    """The pandas line of docs/data.md, run as written, on DeepDRiD's CSV."""
    pd = pytest.importorskip("pandas")
    images, csv_path, _ = deepdrid_tree(tmp_path, aptos)
    flat = flat_copy(images, tmp_path / "flat")
    t = pd.read_csv(csv_path)
    t["grade"] = t.left_eye_DR_Level.fillna(t.right_eye_DR_Level).astype("Int64").replace(5, pd.NA)
    t.to_csv(flat / "labels.csv", index=False)
    result = ingest.run(flat_config(flat), tmp_path / "out", verbose=False)
    assert result.n_train == 28 and not any(UNREAD in n for n in result.notes), result.notes


def test_a_grade_column_that_is_not_a_rows_own_eye_is_still_noted_with_the_rows(
        tmp_path: Path, aptos: list) -> None:
    """The note stays where it is true: a grade column whose cell differs from the row's own
    eye's (a row mistyped in the merge) is noted, naming the row and both cells; on a flat copy
    the fix is to merge the columns (docs), never 'drop --grade-column' alone, which leaves no
    grade column there. An image id naming no eye makes it impossible to tell: said too."""
    flat, table = flat_merged(tmp_path, aptos)
    own = int(table[5][3] if table[5][3] != "" else table[5][4])  # type: ignore[arg-type]
    table[5][-1] = (own + 1) % 5  # 2_l2 (line 7): not its eye's grade
    write_rows(flat / "labels.csv", [*DEEPDRID_HEADER, "grade"], table)
    result = ingest.run(flat_config(flat), tmp_path / "out", verbose=False)
    (said,) = [n for n in result.notes if UNREAD in n]
    assert (f"'grade' is read as each image's grade, but it is not each image's own eye's grade: "
            f"this CSV grades each eye in 'left_eye_DR_Level' / 'right_eye_DR_Level', and 'grade' "
            f"differs from the image's own eye's cell on 1 of 28 rows ({table[5][1]} at line 7: "
            f"{(own + 1) % 5} vs 'left_eye_DR_Level' {own})") in said, said
    # review F3: the columns were merged, into a column that is not the patient's: the fix is
    # to correct the row, not to merge again, and no word of the patient's grade
    assert said.endswith("-> correct the rows named (each row's grade is its own eye's cell)"), said
    assert "merge" not in said.partition(" -> ")[2] and "patient" not in said, said
    rows = scoring.read_grade_labels(flat / "labels.csv", GRADE_SCALES["icdr"], grade_column="grade")
    (scored,) = [p for p in rows.problems if UNREAD in p.what]
    assert "on 1 of 28 rows" in scored.what and "drop --grade-column" in scored.fix, scored.line
    assert scored.fix.startswith("correct the rows named") and "patient" not in scored.fix, scored.fix

    table[5][-1] = own  # mended; an id that names no eye instead
    table[9][1] = "3_x2"
    (flat / "3_l2.jpg").rename(flat / "3_x2.jpg")
    write_rows(flat / "labels.csv", [*DEEPDRID_HEADER, "grade"], table)
    result = ingest.run(flat_config(flat), tmp_path / "out2", verbose=False)
    (said,) = [n for n in result.notes if UNREAD in n]
    assert ("but it may not be each image's own eye's grade" in said
            and "1 of 28 rows names no eye in its image id (3_x2 at line 11), so its own eye's "
                "grade cannot be told" in said), said
    # review F3: neither a merge nor a dropped --grade-column tells an id's eye: renaming it does
    assert said.endswith(f"-> {validate.EYE_FIX}"), said
    rows = scoring.read_grade_labels(flat / "labels.csv", GRADE_SCALES["icdr"], grade_column="grade")
    (scored,) = [p for p in rows.problems if UNREAD in p.what]
    assert scored.fix == scoring.EYE_SCORE_FIX, scored.fix

    for row in table:  # no row's own eye: no merge at all, whatever the column's name
        row[-1] = (int(row[3] if row[3] != "" else row[4]) + 1) % 5  # type: ignore[call-overload]
    table[9][1] = "3_l2"
    (flat / "3_x2.jpg").rename(flat / "3_l2.jpg")
    write_rows(flat / "labels.csv", [*DEEPDRID_HEADER, "grade"], table)
    result = ingest.run(flat_config(flat), tmp_path / "out3", verbose=False)
    (said,) = [n for n in result.notes if UNREAD in n]
    assert "on 28 of 28 rows" in said and said.endswith(
        f"-> {validate.PER_EYE_FIX['ingest-merged']}"), said


def test_the_patients_grade_on_the_set_folder_is_noted_with_the_layouts_fix(
        tmp_path: Path, aptos: list) -> None:
    """--grade-column patient_DR_Level with the set folder as --root: the rows where the
    worse eye is not the image's own are counted, and the fix is to drop the option (the
    layout reads the eye columns); a patient whose two eyes share a grade would not be."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    result = ingest.run(config(images.parent, grade_column="patient_DR_Level"), tmp_path / "out",
                        verbose=False)
    (said,) = [n for n in result.notes if UNREAD in n]
    differ = sum((r[3] if r[3] != "" else r[4]) != r[5] for r in rows)
    assert differ and f"on {differ} of 28 rows" in said, said
    assert said.endswith("-> to train on each image's own eye, drop --grade-column (the set folder "
                         "as --root reads each image's eye column); nothing to do if the patient's "
                         "grade is the label you mean"), said
    # every patient's eyes graded alike: patient_DR_Level is each row's own eye's, no note
    for row in rows:
        row[3 if row[3] != "" else 4] = row[5]
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    same = ingest.run(config(images.parent, grade_column="patient_DR_Level"), tmp_path / "same",
                      verbose=False)
    assert not any(UNREAD in n for n in same.notes), same.notes


def repacked(tmp_path: Path, aptos: list) -> tuple[Path, list[list[object]]]:
    """``regular-fundus-training/`` repacked without ``Images/``: ``<patient_id>/<image_id>.jpg``
    beside ``regular-fundus-training.csv``."""
    images, _, rows = deepdrid_tree(tmp_path, aptos)
    for patient in sorted(images.iterdir()):
        patient.rename(images.parent / patient.name)
    images.rmdir()
    return images.parent, rows


@pytest.mark.parametrize("kind", ["auto", "deepdrid"])
def test_a_set_repacked_without_images_folder_is_read_from_its_patient_folders(
        tmp_path: Path, aptos: list, kind: str) -> None:
    """F3: such a set was read as a plain folder, told to copy the images into one folder
    (beside 7 notes 'move its images up one level'), and then 'pass the DeepDRiD set folder as
    --root', what the user had passed; --layout deepdrid said 'no Images/ folder -> point
    --root at the folder holding regular-fundus-training.csv', which it was. The patient
    folders beside the CSV are now the set's images, read as DeepDRiD's own tree is."""
    root, rows = repacked(tmp_path, aptos)
    assert layout.detect_kind(root) == "deepdrid"
    result = ingest.run(config(root, n_folds=3, layout=kind), tmp_path / "out", verbose=False)
    assert result.layout == "deepdrid" and (result.n_train, result.n_test) == (28, 0)
    by_id = {r["id"]: r for r in manifest(result)}
    assert by_id["1_l1.jpg"]["path"] == "1/1_l1.jpg"
    for patient, image_id, _, left, right, _, _ in rows:
        assert int(by_id[f"{image_id}.jpg"]["grade"]) == (left if "_l" in image_id else right)
        assert by_id[f"{image_id}.jpg"]["patient"] == str(patient)
    assert summary(result)["patients"]["n_patients"] == 7
    assert not any("move its images up" in n or "subfolder ignored" in n for n in result.notes), result.notes
    assert not any("not an image file" in w for w in result.warnings), result.warnings  # the CSV
    (said,) = [n for n in result.notes if "per-patient folders here" in n]
    assert said.startswith(f"{root}: no 'Images/' folder: the 7 per-patient folders here (1/, 2/, 3/ "
                           "and 4 more) are read as the set's images"), said
    # the resume's data check lists the same images: nothing added, nothing removed
    assert source_check.source_changes(tmp_path / "out") == []
    # the folder above is told the set folder, as for the set as shipped
    message = run_error(config(root.parent), tmp_path / "above")
    assert f"-> pass --root {root} (the training set)" in message, message


def test_a_deepdrid_csv_without_any_patient_folder_says_what_is_missing(tmp_path: Path, aptos: list) -> None:
    """--layout deepdrid on a folder holding regular-fundus-training.csv and no image folder
    said 'point --root at the folder holding regular-fundus-training.csv', which it was: it
    now says that the CSV is here and where the images go."""
    root, _ = repacked(tmp_path, aptos)
    for patient in [p for p in root.iterdir() if p.is_dir()]:
        shutil.rmtree(patient)
    message = run_error(config(root, layout="deepdrid"), tmp_path / "out")
    assert message.startswith(f"{root}: regular-fundus-training.csv is here, but neither an 'Images/' "
                              "folder nor a subfolder holding images -> put each patient's images in a "
                              "folder of its own, 'Images/<patient_id>/' (as DeepDRiD ships it) or "
                              "'<patient_id>/' here"), message
    assert "point --root at" not in message, message


def test_the_copy_advice_for_per_patient_folders_comes_without_move_up_notes(
        tmp_path: Path, aptos: list) -> None:
    """A per-patient tree of no known layout (its CSV renamed) is told the command that
    copies its subfolders' images into one folder; the 'subfolder ignored -> move its images
    up one level' note of each of those subfolders offered the other way out beside it."""
    root, _ = repacked(tmp_path, aptos)
    (root / "regular-fundus-training.csv").rename(root / "labels.csv")
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(config(root, grades="icdr"), tmp_path / "out", verbose=False)
    message = str(caught.value)
    assert "copy them into one folder" in message and "find . -mindepth 2" in message, message
    assert "move its images up" not in message and "subfolder ignored" not in message, message


def test_files_beside_the_patient_folders_of_a_repacked_set_are_not_read_as_images(
        tmp_path: Path, aptos: list) -> None:
    """Review F1: a README.md and LICENSE beside the CSV of a repacked set stopped the ingest
    ('LICENSE: not an image file (no extension) in an image folder'), where beside Images/ in
    the set as shipped they are never looked at. Only the patient folders are read; an image
    file beside them is not, and a note names it with where it goes (a row naming it is then
    a label without image, which the note explains). The resume's data check skips the same."""
    root, _ = repacked(tmp_path, aptos)
    (root / "README.md").write_text("DeepDRiD, repacked\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    (root / "docs").mkdir()
    (root / "docs" / "notes.txt").write_text("no images here\n")
    (root / ".DS_Store").write_bytes(b"\0")
    shutil.copy(root / "1" / "1_l1.jpg", root / "cover.jpg")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert result.layout == "deepdrid" and result.n_train == 28
    assert not any(name in line for line in result.notes + result.warnings
                   for name in ("README.md", "LICENSE", "notes.txt", ".DS_Store")), result.notes
    (said,) = [n for n in result.notes if "cover.jpg" in n]
    assert said == (f"{root}: 1 image file beside the per-patient folders, in none of them, is not "
                    "read (cover.jpg): the set's images are read from its per-patient folders only "
                    "-> move it into its patient's folder ('<patient_id>/') if it belongs to the set")
    assert "cover.jpg" not in {r["id"] for r in manifest(result)}
    assert source_check.source_changes(tmp_path / "out") == []


def shipped_with_patients_beside(tmp_path: Path, aptos: list, moved_from: int) -> Path:
    """The set as shipped, its patient folders from ``moved_from`` on moved out of ``Images/``
    to beside it (all of them: an empty ``Images/``)."""
    images, _, _ = deepdrid_tree(tmp_path, aptos)
    for patient in sorted(images.iterdir()):
        if int(patient.name) >= moved_from:
            patient.rename(images.parent / patient.name)
    return images.parent


@pytest.mark.parametrize("moved_from", [4, 1])
def test_patient_folders_beside_images_are_named_as_not_read(
        tmp_path: Path, aptos: list, moved_from: int) -> None:
    """Review F2: with Images/ there, patient folders beside it were never named: Images/
    holding patients 1-3 and 4/-7/ beside the CSV gave 16 'label without image' errors, an
    empty Images/ beside all 7 'put the training images in .../Images', nothing pointing at
    the folders. A note names them and where they go."""
    root = shipped_with_patients_beside(tmp_path, aptos, moved_from)
    message = run_error(config(root), tmp_path / "out")
    n, named = ((4, "4/, 5/, 6/ and 7/") if moved_from == 4 else (7, "1/, 2/, 3/ and 4 more"))
    assert (f"{root}: {n} per-patient folders beside Images/ ({named}) are not read: a DeepDRiD "
            "set's images are read from 'Images/<patient_id>/' once 'Images/' is there -> move them "
            f"into 'Images/' ({root / 'Images'}) if they belong to the set") in message, message
    for patient in list(root.iterdir()):  # moved back as the note says: read
        if patient.is_dir() and patient.name != "Images":
            patient.rename(root / "Images" / patient.name)
    result = ingest.run(config(root), tmp_path / "again", verbose=False)
    assert result.n_train == 28 and not any("beside Images/" in n for n in result.notes)


def test_a_flat_copy_under_the_deepdrid_layout_is_named_with_the_flat_copy_route(
        tmp_path: Path, aptos: list) -> None:
    """Review F5: --layout deepdrid on a flat copy (28 images beside DeepDRiD's CSV) said
    'neither an Images/ folder nor a subfolder holding images -> put each patient's images in
    a folder of its own', not a word of the 28 images. They are named, with the flat copy's
    own route (drop --layout, merge the eye columns: docs/data.md), which then ingests."""
    flat, _ = flat_merged(tmp_path, aptos)
    shutil.copy(tmp_path / "regular-fundus-training" / "regular-fundus-training.csv", flat)
    message = run_error(flat_config(flat, layout="deepdrid"), tmp_path / "out")
    assert message.startswith(
        f"{flat}: 28 images here (1_l1.jpg, 1_l2.jpg, 1_r1.jpg and 25 more), beside "
        "regular-fundus-training.csv, in no per-patient folder: the DeepDRiD layout reads each "
        "patient's images from 'Images/<patient_id>/' (or '<patient_id>/' beside the CSV) -> to "
        "read this flat copy as it is, drop --layout deepdrid (a plain folder is read) and merge "
        "the two eye columns (left_eye_DR_Level / right_eye_DR_Level) into one grade column"), message
    assert "docs/data.md, DeepDRiD" in message, message
    (flat / "regular-fundus-training.csv").unlink()  # labels.csv holds the merged column
    result = ingest.run(flat_config(flat), tmp_path / "plain", verbose=False)
    assert result.n_train == 28


def test_a_flat_copy_in_a_format_to_convert_gets_the_flat_copy_route_too(
        tmp_path: Path) -> None:
    """Second read F5: the per-patient folders were told by an image of any format
    (``.webp`` too), the flat copy's images by the formats the package reads only, so a flat
    copy of ``.webp`` files was told only that neither ``Images/`` nor a subfolder of images is
    there. One test of an image file now: it is named as a flat copy, its files listed."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("1_l1.webp", "1_r1.webp", "2_l1.WEBP"):
        (flat / name).write_bytes(b"RIFF0000WEBP")  # never opened: a listing tells them
    (flat / "._1_l1.webp").write_bytes(b"")  # hidden (AppleDouble): not an image
    message = run_error(config(flat, layout="deepdrid"), tmp_path / "out")
    assert message.startswith(f"{flat}: 3 images here (1_l1.webp, 1_r1.webp and 2_l1.WEBP), in no "
                              "per-patient folder: the DeepDRiD layout reads"), message
    assert layout.count_images(flat) == 0  # read formats only: what a count of images says


def test_a_per_patient_tree_without_deepdrids_csv_names_the_csv_that_is_there(
        tmp_path: Path, aptos: list) -> None:
    """Review F5: a per-patient tree with labels.csv under --layout deepdrid was told 'the
    per-patient folders beside the label CSV are read' (there was no DeepDRiD CSV) and
    'DeepDRiD label CSV not found -> put it here or pass --labels-csv FILE', not naming the
    labels.csv that was there. The note says where the folders are, the error names the CSV
    with the option that reads it, which then ingests."""
    root, _ = repacked(tmp_path, aptos)
    (root / "regular-fundus-training.csv").rename(root / "labels.csv")
    message = run_error(config(root, layout="deepdrid"), tmp_path / "out")
    labels = root / "labels.csv"
    assert ("DeepDRiD label CSV (regular-fundus-training.csv or regular-fundus-validation.csv) not "
            "found; labels.csv is here -> if it is the set's label CSV, with DeepDRiD's columns "
            "(image_id, left_eye_DR_Level, right_eye_DR_Level, patient_id), pass --labels-csv "
            f"{labels}; else put regular-fundus-training.csv here") in message, message
    assert "beside the label CSV" not in message and "per-patient folders here" in message, message
    result = ingest.run(config(root, layout="deepdrid", labels_csv=str(labels)), tmp_path / "ok",
                        verbose=False)
    assert result.n_train == 28


def test_a_set_folder_is_told_by_its_first_patient_folder(
        tmp_path: Path, aptos: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F6: telling a repacked set folder listed every subfolder's files; it stops at
    the first folder holding an image (DeepDRiD's training set has hundreds of patients)."""
    root, _ = repacked(tmp_path, aptos)
    listed: list[Path] = []
    holds = layout._holds_image

    def counting(folder: Path) -> bool:
        listed.append(folder)
        return holds(folder)
    monkeypatch.setattr(layout, "_holds_image", counting)
    assert layout.looks_like_deepdrid(root)
    assert listed == [root / "1"], listed
