"""A label CSV whose image names carry a folder part (a clinic data manager's finding F1).

The ingest reads the image folder's own level only and matched ``visit2/e05.jpg`` to the root's
``e05.jpg``, another visit's picture, silently (exit 0, the manifest holding the root file's
sha). Now such a row is refused when the path names another picture; folder parts dropped
otherwise are counted in one note with an example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, validate
from drac_ssl.config import DataConfig

N_IMAGES = 10  # e00.jpg .. e09.jpg, grade i % 5


def colour_jpeg(path: Path, seed: int) -> None:
    """A distinct 64 px colour JPEG (upsampled noise) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    coarse = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(path, quality=95)


def export(root: Path, names: dict[int, str]) -> Path:
    """A plain folder of ``N_IMAGES`` colour JPEGs graded ``i % 5``, its CSV semicolon-separated
    (as a German Excel writes it), the name of row ``i`` written as ``names[i]`` if given."""
    for i in range(N_IMAGES):
        colour_jpeg(root / f"e{i:02d}.jpg", i)
    lines = ["Image ID;DR grade", *(f"{names.get(i, f'e{i:02d}.jpg')};{i % 5}"
                                    for i in range(N_IMAGES))]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def config(root: Path) -> DataConfig:
    return DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                      image_column="Image ID", grades=["icdr"])


def test_a_row_naming_another_visit_s_picture_is_refused(tmp_path: Path) -> None:
    root = export(tmp_path / "d", {5: "visit2/e05.jpg"})
    colour_jpeg(root / "visit2" / "e05.jpg", 99)  # another picture under the same name
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    found = [p for p in refused.value.problems if p.severity == "error"]
    assert len(found) == 1, found  # the root e05.jpg is the row's: not also 'without label'
    problem = found[0]
    assert problem.path == f"{root / 'labels.csv'}:7" and problem.kind == "match"
    assert "visit2/e05.jpg" in problem.what and "another picture" in problem.what
    assert "only the files of" in problem.what and "visit2_e05.jpg" in problem.fix
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_a_copy_under_the_folder_part_is_the_same_picture_and_noted(tmp_path: Path) -> None:
    root = export(tmp_path / "d", {5: "visit2/e05.jpg", 1: "C:\\PACS\\export\\e01.jpg",
                                   2: "images/e02.jpg"})
    (root / "visit2").mkdir()
    (root / "visit2" / "e05.jpg").write_bytes((root / "e05.jpg").read_bytes())  # a copy: same picture
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert result.n_train == N_IMAGES
    said = [n for n in result.notes if "had a folder part" in n]
    assert len(said) == 1, result.notes
    assert "3 name(s) had a folder part, dropped (e.g. C:/PACS/export/e01.jpg -> e01.jpg)" in said[0]


def test_plain_names_get_no_folder_note(tmp_path: Path) -> None:
    result = ingest.run(config(export(tmp_path / "d", {})), tmp_path / "out", verbose=False)
    assert not [n for n in result.notes if "folder part" in n], result.notes


def test_the_row_keeps_its_folder_part_as_written(tmp_path: Path) -> None:
    root = export(tmp_path / "d", {3: "a\\b\\e03.jpg"})
    table, _ = validate.read_labels(root / "labels.csv", "Image ID", "DR grade")
    assert table is not None
    row = next(r for r in table.rows if r.name == "e03.jpg")
    assert row.folder == "a/b" and not next(r for r in table.rows if r.name == "e04.jpg").folder


def test_a_resized_copy_read_with_the_original_s_csv_is_no_error(tmp_path: Path) -> None:
    """Review F1: /d/labels.csv names ``original/e00.jpg`` ..., the ingest reads /d/resized (the
    same pictures shrunk): the files the rows name lie outside the image folder, so one note
    says so, no error per row."""
    data = tmp_path / "d"
    export(data / "original", {})
    lines = ["Image ID;DR grade", *(f"original/e{i:02d}.jpg;{i % 5}" for i in range(N_IMAGES))]
    (data / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for i in range(N_IMAGES):
        (data / "resized").mkdir(exist_ok=True)
        Image.open(data / "original" / f"e{i:02d}.jpg").resize((32, 32)).save(data / "resized" / f"e{i:02d}.jpg")
    cfg = config(data / "resized")
    cfg.labels_csv = str(data / "labels.csv")
    result = ingest.run(cfg, tmp_path / "out", verbose=False)
    assert result.n_train == N_IMAGES
    said = [n for n in result.notes if "folder part" in n]
    assert len(said) == 1, result.notes
    assert f"10 names with a folder part outside {data / 'resized'} name other files" in said[0]
    assert f"original/e00.jpg -> e00.jpg, not {data / 'original' / 'e00.jpg'}" in said[0]


@pytest.mark.parametrize("written", ["IMAGES/e{i:02d}.jpg", "./e{i:02d}.jpg"])
def test_a_folder_part_naming_the_file_read_gets_no_note(tmp_path: Path, written: str) -> None:
    """Review F2: Messidor-2's ``IMAGES/e00.png`` read from the CSV's folder, and ``./e00.png``,
    name the very file matched: nothing was dropped."""
    data = tmp_path / "m"
    images = export(data / "IMAGES", {i: written.format(i=i) for i in range(N_IMAGES)})
    (images / "labels.csv").rename(data / "labels.csv")
    cfg = config(images)
    cfg.labels_csv = str(data / "labels.csv")
    result = ingest.run(cfg, tmp_path / "out", verbose=False)
    assert result.n_train == N_IMAGES
    assert not [n for n in result.notes if "folder part" in n], result.notes


def test_a_name_without_extension_is_checked_with_the_file_s_suffix(tmp_path: Path) -> None:
    """Review F3: ``visit2/e05`` was matched to the root's e05.jpg unchecked, though a different
    visit2/e05.jpg exists."""
    root = export(tmp_path / "d", {5: "visit2/e05"})
    colour_jpeg(root / "visit2" / "e05.jpg", 99)
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    found = [p for p in refused.value.problems if p.severity == "error"]
    assert len(found) == 1 and found[0].kind == "match", found
    assert "another picture than" in found[0].what and str(root / "visit2" / "e05.jpg") in found[0].what


def test_an_absolute_folder_part_keeps_its_leading_slash(tmp_path: Path) -> None:
    """``/data/aptos/e03.jpg`` (and a UNC path written with backslashes) is absolute: kept as
    such, so that it is not looked up as ``<root>/data/aptos/e03.jpg`` (a final read)."""
    root = export(tmp_path / "d", {3: "/data/aptos/e03.jpg", 4: "\\\\server\\share\\e04.jpg"})
    table, _ = validate.read_labels(root / "labels.csv", "Image ID", "DR grade")
    assert table is not None
    folders = {r.name: r.folder for r in table.rows}
    assert folders["e03.jpg"] == "/data/aptos" and folders["e04.jpg"] == "//server/share"
