"""A Messidor-2 download without its label CSV (a trial contributor's F4, F5): ``IMAGES/``
alone was said as a plain folder missing its CSV (``did you mean --root .../IMAGES``, then
``put the label CSV here``), never naming Messidor-2 or ``messidor_data.csv``; the CSV
passed from elsewhere was read as a plain folder's; ``--layout messidor2`` added the note of
a CSV "naming no examination" to the error that there is no CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep import ingest, layout, validate
from drac_ssl.config import DataConfig
from tests.data_prep.test_repeated_label_rows import colour_jpegs

HEADER = "image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable"


def images_only(root: Path) -> list[str]:
    """``root/IMAGES/`` of 25 colour JPEGs, no CSV: a Messidor-2 download without its grades."""
    return colour_jpegs(root / "IMAGES")


def config(root: Path, **overrides: object) -> DataConfig:
    return DataConfig(**{"root": str(root), "cache_sizes": [32], "n_folds": 2, "workers": 1,
                         **overrides})  # type: ignore[arg-type]


def refusal(cfg: DataConfig, out: Path) -> str:
    with pytest.raises(validate.IngestError) as error:
        ingest.run(cfg, out, verbose=False)
    return str(error.value) + "\n" + "\n".join(p.line for p in error.value.problems)


def test_images_without_their_csv_name_messidor2_s_grades_csv(tmp_path: Path) -> None:
    root = tmp_path / "messidor-2"
    images_only(root)
    said = refusal(config(root), tmp_path / "o1")
    assert (f"{root}: no label CSV found here -> a Messidor-2 folder (IMAGES/ of 25 images)? put "
            "the Messidor-2 adjudicated grades CSV (messidor_data.csv) here beside IMAGES/ or pass "
            f"--labels-csv FILE; if this is not Messidor-2: did you mean --root {root / 'IMAGES'} "
            "(25 images)?\n") in said, said
    assert said.count("--labels-csv") == 1, said  # each fix said once
    inside = refusal(config(root / "IMAGES"), tmp_path / "o2")  # the folder it offers, taken
    assert (f"a Messidor-2 IMAGES/ folder? put the Messidor-2 adjudicated grades CSV "
            f"(messidor_data.csv) in {root} beside it and pass that folder as --root; if this is "
            "not Messidor-2: put the label CSV here or pass --labels-csv FILE") in inside, inside
    # a folder that is not Messidor-2's (images/, lower case): no Messidor-2 guess
    other = tmp_path / "photos"
    colour_jpegs(other / "images")
    assert "Messidor-2" not in refusal(config(other), tmp_path / "o3")


def test_an_empty_images_folder_is_no_messidor2_download(tmp_path: Path) -> None:
    empty = tmp_path / "e" / "IMAGES"  # named as Messidor-2's, holding no image
    empty.mkdir(parents=True)
    said = refusal(config(empty), tmp_path / "out")
    assert "Messidor-2" not in said, said
    assert f"{empty}: no label CSV found here -> put the label CSV here or pass --labels-csv FILE" in said, said


def messidor_csv_elsewhere(tmp_path: Path, names: list[str]) -> Path:
    """Messidor-2's label CSV for ``names``, downloaded apart from its images (``downloads/``)."""
    csv_path = tmp_path / "downloads" / "messidor_data.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("\n".join([HEADER, *(f"{n},{i % 5},0,1" for i, n in enumerate(names))]) + "\n",
                        encoding="utf-8")
    return csv_path


def test_messidor2_s_csv_passed_from_elsewhere_reads_the_folder_as_messidor2(tmp_path: Path) -> None:
    root = tmp_path / "messidor-2"
    names = images_only(root)
    csv_path = messidor_csv_elsewhere(tmp_path, names)
    found = layout.discover(config(root, labels_csv=str(csv_path)))
    assert (found.kind, found.train_dir, found.labels_csv) == ("messidor2", root / "IMAGES", csv_path)
    assert (found.image_column, found.grade_column) == ("image_id", "adjudicated_dr_grade")
    # other columns, or images in the root itself: a plain folder as before
    plain_csv = tmp_path / "downloads" / "labels.csv"
    plain_csv.write_text("image name,DR grade\n", encoding="utf-8")
    assert layout.discover(config(root, labels_csv=str(plain_csv))).kind == "plain"
    colour_jpegs(root, n=1)
    assert layout.discover(config(root, labels_csv=str(csv_path))).kind == "plain"


def test_messidor2_without_its_csv_says_no_examination_note(tmp_path: Path) -> None:
    root = tmp_path / "messidor-2"
    images_only(root)
    with pytest.raises(validate.IngestError) as error:
        ingest.run(config(root, layout="messidor2"), tmp_path / "out", verbose=False)
    lines = [p.line for p in error.value.problems]
    assert any("messidor_data.csv: Messidor-2 label (adjudicated grades) CSV not found" in line
               for line in lines), lines
    assert not any("names no examination" in line for line in lines), lines


def test_an_images_folder_beside_a_csv_is_not_taken_for_messidor2_s(tmp_path: Path) -> None:
    root = tmp_path / "messidor-2"
    images_only(root)
    (root / "labels.csv").write_text("image,grade\n", encoding="utf-8")  # the folder above has a CSV
    assert layout.messidor2_csv_fix(root / "IMAGES", "the plain fix") == ""


def test_an_explicit_plain_layout_stays_plain_beside_messidor2_s_csv(tmp_path: Path) -> None:
    root = tmp_path / "messidor-2"
    names = images_only(root)
    csv_path = messidor_csv_elsewhere(tmp_path, names)
    assert layout.discover(config(root, labels_csv=str(csv_path))).kind == "messidor2"  # auto: guessed
    assert layout.discover(config(root, labels_csv=str(csv_path), layout="plain")).kind == "plain"
