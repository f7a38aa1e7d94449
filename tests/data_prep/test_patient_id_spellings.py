"""Patient ids that differ only in spelling, and rows without a patient (a clinic data
manager's finding F3): ``P-007``, ``p-007`` and ``P007`` landed in three folds and empty
patient cells each became their own patient, both silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data_prep import ingest
from data_prep.folds import patient_id_key, patient_spellings
from drac_ssl.config import DataConfig


def test_spellings_that_differ_in_case_punctuation_or_spaces_are_found() -> None:
    assert patient_id_key(" P_-007 ") == patient_id_key("P7") == "p7"
    found = patient_spellings(["P-007", "Q1", "p-007", "", "P007", "Q1", "q 1", "R2", ""])
    assert found == [["P-007", "p-007", "P007"], ["Q1", "q 1"]]
    assert patient_spellings(["A1", "A2", "", ""]) == []


def plain_folder(root: Path, patients: list[str]) -> Path:
    """Distinct colour JPEGs graded ``i % 5`` with ``patients[i]`` in a ``Patient ID`` column."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    lines = ["image name,DR grade,Patient ID"]
    for i, patient in enumerate(patients):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(root / f"e{i:02d}.jpg")
        lines.append(f"e{i:02d}.jpg,{i % 5},{patient}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_the_ingest_names_look_alike_ids_and_counts_rows_without_a_patient(tmp_path: Path) -> None:
    patients = [f"Q{i // 2:02d}" for i in range(20)]
    patients[0:3] = ["P-007", "p-007", "P007"]
    patients[7] = patients[9] = patients[11] = patients[13] = ""
    root = plain_folder(tmp_path / "d", patients)
    result = ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                   grades=["icdr"], patient_column="Patient ID"),
                        tmp_path / "out", verbose=False)
    said = [w for w in result.warnings if "differ only in letter case" in w]
    assert len(said) == 1, result.warnings
    assert "'P-007' (line 2, fold " in said[0] and "'p-007' (line 3, fold " in said[0]
    assert "'P007' (line 4, fold " in said[0] and "write its id one way in column 'Patient ID'" in said[0]
    notes = [n for n in result.notes if "no patient" in n]
    assert notes == [f"{root / 'labels.csv'}: 4 rows have no patient in column 'Patient ID' (lines 9, "
                     "11, 13, ...): each is its own unit in the folds -> fill in the patient id where "
                     "such an image shares a patient with other rows; else nothing to do"], notes


def test_clean_patient_ids_get_neither(tmp_path: Path) -> None:
    root = plain_folder(tmp_path / "d", [f"P{i // 2:02d}" for i in range(20)])
    result = ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                   grades=["icdr"], patient_column="Patient ID"),
                        tmp_path / "out", verbose=False)
    assert not [f for f in result.findings if "no patient" in f.what or "letter case" in f.what]


def test_under_eyepacs_the_note_says_to_name_the_image_by_its_patient(tmp_path: Path) -> None:
    """Review F6: EyePACS's patients come from the image ids <patient>_left / _right; an image
    named otherwise has no patient, and 'fill in the patient id' named no column to fill."""
    from data_prep.ingest import ImageEntry, _patient_id_problems, pair_eyes
    from data_prep.validate import LabelRow

    names = ["10_left", "10_right", "11_left", "scan7", "12_right"]
    train = [ImageEntry(tmp_path / f"{n}.jpeg", f"{n}.jpeg", "train", LabelRow(f"{n}.jpeg", 0, "", i + 2))
             for i, n in enumerate(names)]
    source = str(tmp_path / "trainLabels.csv")
    assert pair_eyes(train, source)
    (said,) = _patient_id_problems(train, source, "")
    assert said.severity == "note"
    assert said.what == ("1 row has no patient in the image ids (<patient>_left / _right) (line 5): "
                         "each is its own unit in the folds"), said.what
    assert "rename it <patient>_left / <patient>_right (e.g. 10_left.jpeg" in said.fix
    assert "fill in the patient id" not in said.fix


def test_ids_that_differ_only_in_leading_zeros_are_spellings() -> None:
    """Review (intl) F1: a spreadsheet drops the leading zeros of part of a merged column
    (``00100`` typed, ``100`` saved): the two were two patients to the folds, silently."""
    assert patient_id_key("00100") == patient_id_key("100") == "100"
    assert patient_id_key("000") == patient_id_key("0") == "0"
    assert patient_id_key("A0B") == "a0b" and patient_id_key("10") != patient_id_key("1")
    assert patient_spellings(["00100", "100", "00101", "101", "102", "1020"]) == [["00100", "100"], ["00101", "101"]]


def test_the_ingest_warns_for_leading_zeros_and_keeps_the_ids_as_written(tmp_path: Path) -> None:
    """Warned, as ``P-007`` / ``p007`` are (not merged: only the CSV's author knows), each
    spelling named with its lines and folds; the manifest keeps the ids' text."""
    patients = [f"{100 + i // 2:05d}" if i % 2 == 0 else str(100 + i // 2) for i in range(20)]
    root = plain_folder(tmp_path / "d", patients)
    result = ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                   grades=["icdr"], patient_column="Patient ID"),
                        tmp_path / "out", verbose=False)
    said = [w for w in result.warnings if "leading zeros" in w]
    assert len(said) == 1, result.warnings
    assert "10 sets of patient ids in column 'Patient ID'" in said[0], said[0]
    assert "'00100' (line 2, fold " in said[0] and "'100' (line 3, fold " in said[0], said[0]
    assert "format the column as Text" in said[0] and "7 more such set(s)" in said[0], said[0]
    import csv
    with open(tmp_path / "out" / "manifest.csv", encoding="utf-8", newline="") as f:
        written = [row["patient"] for row in csv.DictReader(f) if row["split"] == "train"]
    assert sorted(written) == sorted(patients), written


def test_digit_runs_apart_keep_their_boundary_and_their_own_zeros() -> None:
    """Review (intl2) F1: the zeros were stripped after the punctuation went, so ``S01-12``
    (``s0112`` -> ``s112``) and ``S11-2`` were one key: 278 false sets among 5,000 ids
    ``S{site:02d}-{n}``, fatal under --strict."""
    assert patient_id_key("S01-12") == "s1|12" != patient_id_key("S11-2") == "s11|2"
    schemes = {"site-seq": [f"S{(i % 30) + 1:02d}-{i // 30 + 1}" for i in range(5000)],
               "site 01..12 - n": [f"{(i % 12) + 1:02d}-{i // 12 + 1}" for i in range(5000)],
               "year-month-seq": [f"2023-{m:02d}-{n}" for m in range(1, 13) for n in range(1, 400)],
               "eye suffix": [f"{i}_{eye}" for i in range(2500) for eye in "LR"],
               "year-seq": [f"{2015 + i % 8}-{i:03d}" for i in range(5000)],
               "1.0 vs 10": ["1.0", "10", "1"]}
    for scheme, ids in schemes.items():
        assert patient_spellings(ids) == [], scheme
    # what a dropped zero makes still is one set
    assert patient_spellings(["P1", "P01"]) == [["P1", "P01"]]
    assert patient_spellings(["00100", "100"]) == [["00100", "100"]]
    assert patient_spellings(["P-007", "p007"]) == [["P-007", "p007"]]
    assert patient_spellings(["S01-012", "S1-12", "s01 12", "S11-2"]) == [["S01-012", "S1-12", "s01 12"]]
    assert patient_spellings(["2024-01-05", "2024-1-5", "2024-11-5"]) == [["2024-01-05", "2024-1-5"]]


def test_an_eyepacs_id_with_a_dot_of_its_own_is_paired() -> None:
    """A review: eye_pair_patient took Path(id).stem of ids that are already stems, so
    ``1.2_left`` became ``1`` and matched no eye (not paired into patient ``1.2``). Only a known
    image extension is stripped now."""
    from data_prep.validate import eye_pair_patient, eye_suffix_share

    assert eye_pair_patient("1.2_left") == "1.2"
    assert eye_pair_patient("1.2_right.jpeg") == "1.2"
    assert eye_pair_patient("10_LEFT.PNG") == "10"
    assert eye_pair_patient("10_left.v2") is None  # not an image extension: the id is 10_left.v2
    assert eye_suffix_share(["1.2_left", "1.2_OD", "3.5"])[0] == 2


def test_the_eye_name_warning_names_the_patient_column_the_csv_has(tmp_path: Path) -> None:
    """A trial user's CSV (``Patient ID``, images ``patient001_OD.jpg``) without
    --patient-column: the first warning said to pass --patient-column 'Patient ID', the eye
    names' warning to *add* such a column to the label CSV, which has one. Both now name it."""
    from eye_pairs import ingest_eye_pairs

    result = ingest_eye_pairs(tmp_path, lambda n: f"patient{n:03d}", patient_column="Patient ID")
    (eyes,) = [w for w in result.warnings if "named <id>_OD/_OS" in w]
    assert "pass --patient-column 'Patient ID'" in eyes and "add a column" not in eyes, eyes
    assert any("pass --patient-column 'Patient ID'" in w for w in result.warnings if w != eyes)
