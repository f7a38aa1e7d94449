"""Images pooled from several sites into one plain folder (a multi-site user's review): the
sizes of a colour set, and a cache that enlarges most of the images many times, are said;
site folders sharing image names get commands that rename the copies and the CSV's names."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, layout, validate
from drac_ssl.config import DataConfig


def mixed_folder(root: Path, n_large: int, n_small: int, large: int = 64, small: int = 12) -> Path:
    """A plain folder of colour PNGs (smooth upsampled noise, distinct) graded 0..4 in turn:
    ``n_large`` of ``large`` px (``L_0.png`` ...) then ``n_small`` of ``small`` px (``S_0.png``
    ...), as two sites' images at their own resolutions."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    names = [f"L_{i}.png" for i in range(n_large)] + [f"S_{i}.png" for i in range(n_small)]
    for name in names:
        side = large if name.startswith("L") else small
        coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((side, side), Image.Resampling.BILINEAR).save(root / name)
    rows = [f"{n},{i % 5}" for i, n in enumerate(names)]
    (root / "labels.csv").write_text("\n".join(["image name,DR grade", *rows]) + "\n", encoding="utf-8")
    return root


def config(root: Path, **overrides: object) -> DataConfig:
    return DataConfig(**{"root": str(root), "cache_sizes": [16, 48], "n_folds": 2, "workers": 1,
                         **overrides})  # type: ignore[arg-type]


def size_notes(result: ingest.IngestResult) -> list[str]:
    return [n for n in result.notes if "sizes (" in n or "enlarged more than" in n]


def test_a_colour_set_of_two_resolutions_says_its_sizes_and_the_enlargement(tmp_path: Path) -> None:
    """10 images of 64 px and 20 of 12 px at --cache-sizes 16,48: the 20 are enlarged 4x, the
    small majority never 'far smaller than the others' (the median is 12 px), and the sizes
    note was for OCTA sets only: no word of it. Now both notes."""
    root = mixed_folder(tmp_path / "pooled", 10, 20)
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert not [w for w in result.warnings if "far smaller" in w], result.warnings
    sizes, enlarged = size_notes(result)
    assert sizes.startswith(f"{root}: images of 2 sizes (20 of 12x12 px, 10 of 64x64 px), each "
                            "resized to the cache sizes (16 px, 48 px): photographs pooled from "
                            "several sources"), sizes
    assert enlarged.startswith(f"{root}: 20 of the 30 images (67%) are enlarged more than 2x to "
                               "the 48 px cache (4.00x; the smallest: S_0.png 12x12 px, S_1.png "
                               "12x12 px, S_2.png 12x12 px, ...) while the largest are 64 px"), enlarged
    assert "can stand in for the source and so for the grade" in enlarged


def test_few_or_all_enlarged_images_are_not_this_note(tmp_path: Path) -> None:
    """3 of 30 (10%, not more) enlarged: no enlargement note (the sizes are still said); every
    image enlarged (one size, 12 px): the cache's own 'no detail is gained' note only."""
    result = ingest.run(config(mixed_folder(tmp_path / "few", 27, 3)), tmp_path / "o1", verbose=False)
    assert [n for n in size_notes(result) if "enlarged more than" in n] == [], result.notes
    assert any("images of 2 sizes" in n for n in result.notes), result.notes
    result = ingest.run(config(mixed_folder(tmp_path / "all", 0, 30)), tmp_path / "o2", verbose=False)
    assert size_notes(result) == [], result.notes
    assert any("no detail is gained" in n for n in result.notes), result.notes


def test_two_site_folders_sharing_names_get_commands_that_rename_images_and_csv(tmp_path: Path) -> None:
    """``siteA/1.png`` and ``siteB/1.png`` with a label CSV naming ``siteA/1.png``: the printed
    ``cp`` kept the names (one copy replacing the other) and said to 'first rename' them, and
    the CSV's ``siteA/`` parts were then dropped to ``1.png``. Now each image is copied as
    ``siteA_1.png`` and a second command writes the CSV's names so (a semicolon CSV with a
    BOM, a quoted cell); run as printed, the copy ingests every image."""
    root = tmp_path / "pooled"
    rng = np.random.default_rng(5)
    rows = []
    for site in ("siteA", "siteB"):
        (root / site).mkdir(parents=True)
        for i in range(1, 7):
            coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((32, 32), Image.Resampling.BILINEAR).save(root / site / f"{i}.png")
            name = f'"{site}/{i}.png"' if i == 1 else f"{site}/{i}.png"
            rows.append(f"{name};{(i + len(rows)) % 5};{site[-1]}")
    csv_path = root / "labels.csv"
    csv_path.write_text("\n".join(["image name;DR grade;site", *rows]) + "\n", encoding="utf-8-sig")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    message = str(refused.value)
    assert "first rename" not in message, message
    assert ("each image is copied as SUBFOLDER_NAME, e.g. siteA_1.png and siteB_1.png), and write "
            "the label CSV's names the same way (SUBFOLDER/NAME -> SUBFOLDER_NAME") in message, message
    lines = message.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("mkdir -p "))
    flat = tmp_path / "pooled_flat"
    assert lines[at + 2] == f"then pass --root {flat}", lines[at:at + 3]
    for command in lines[at:at + 2]:
        subprocess.run(command.strip(), shell=True, check=True)
    assert sorted(p.name for p in flat.glob("*.png")) == sorted(
        f"{s}_{i}.png" for s in ("siteA", "siteB") for i in range(1, 7))
    written = (flat / "labels.csv").read_text(encoding="utf-8-sig").splitlines()
    assert written[1] == '"siteA_1.png";1;A' and written[2] == "siteA_2.png;3;A", written
    result = ingest.run(config(flat), tmp_path / "flat_out", verbose=False)
    assert result.n_train == 12


def test_record_numbers_study_and_person_ids_are_guessed_as_patient_columns(tmp_path: Path) -> None:
    """The review: a site's ``MRN`` (or ``study_id``, ``person_id``) column drew no
    --patient-column hint, so its patients' images were split across folds without a word.
    ``study`` alone (a pooled set's source), ``case_id`` (DRAC's image) and ``personal`` are no
    patient ids."""
    def ids(column: str) -> list[str]:
        return [f"P{i // 2}" for i in range(40)]  # 20 patients, 2 images each

    for name in ("MRN", "Patient MRN", "study_id", "StudyID", "subject", "subject_id",
                 "person_id", "PersonID", "Person No", "Study No"):
        assert validate.patient_column_guess(["image", name, "grade"], "grade", "image", ids) == name, name
        assert validate.id_words(name) == "a patient id", name
    for name in ("study", "study_site", "case", "case_id", "personal", "person", "MRN_grade",
                 "source_study_id", "MRN_site", "Study Centre ID"):
        assert validate.patient_column_guess(["image", name, "grade"], "grade", "image", ids) is None, name
    root = mixed_folder(tmp_path / "d", 8, 0)
    lines = (root / "labels.csv").read_text(encoding="utf-8").splitlines()
    lines = [f"{lines[0]},site,MRN", *(f"{line},A,M{i // 2}" for i, line in enumerate(lines[1:]))]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert any("column 'MRN' looks like a patient id" in w and "pass --patient-column 'MRN'" in w
               for w in result.warnings), result.warnings


def site_tree(root: Path, folders: tuple[str, str], cells: tuple[str, str], encoding: str = "utf-8"
              ) -> Path:
    """Two site folders ``folders`` of 1.png..3.png each (PNG bytes, 8 px) and a label CSV whose
    names start with ``cells`` (the folders as the CSV writes them), in ``encoding``."""
    rng = np.random.default_rng(9)
    rows = []
    for folder, cell in zip(folders, cells, strict=True):
        (root / folder).mkdir(parents=True)
        for i in range(1, 4):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
            rows.append(f"{cell}/{i}.png,{i % 5}")
    (root / "labels.csv").write_bytes(("\n".join(["image name,DR grade", *rows]) + "\n").encode(encoding))
    return root


@pytest.mark.parametrize(("folders", "cells", "encoding"), [
    (("SiteA", "siteB"), ("siteA", "siteB"), "utf-8"),  # the CSV's case is not the folder's
    (("siteA", "sit\u0065\u0301"), ("siteA", "sit\u00e9"), "utf-8"),  # NFD folder, NFC cells
    (("siteA", "sit\u00e9"), ("siteA", "sit\u00e9"), "cp1252")])  # a cp1252 CSV's é
def test_the_csv_rename_command_is_printed_only_when_its_names_will_match(
        tmp_path: Path, folders: tuple[str, str], cells: tuple[str, str], encoding: str) -> None:
    """A review (F7): the command rewriting the CSV's ``SUBFOLDER/`` matched the folder names
    byte for byte, so ``siteA/`` cells beside a ``SiteA`` folder, NFC cells beside an NFD folder
    and a cp1252 CSV's ``sité`` were left as they were and the copy's ingest failed ("label
    without image"). The command is now printed only when the CSV, read as the ingest reads
    it, has every subfolder cell rewritten; else the old advice (rename first)."""
    root = site_tree(tmp_path / "pooled", folders, cells, encoding)
    subs = [(root / f, 3) for f in folders]
    flat = tmp_path / "pooled_flat"
    assert layout._csv_rename_command(root, root / "labels.csv", flat) == ""
    advice = layout._copy_into_one_folder(root, subs, root / "labels.csv")
    assert "write the label CSV's names the same way" not in advice, advice
    assert "first rename the images that share a name across subfolders" in advice, advice


def test_the_csv_rename_command_never_replaces_another_csv_in_the_copy(tmp_path: Path) -> None:
    """A review (F8): the command wrote ROOT_flat/labels.csv over a CSV there already (one edited
    in the copy) without a word. Run twice it passes (same content); with another CSV there it
    stops naming it, the file kept."""
    root = site_tree(tmp_path / "pooled", ("siteA", "siteB"), ("siteA", "siteB"))
    flat = tmp_path / "pooled_flat"
    command = layout._csv_rename_command(root, root / "labels.csv", flat)
    assert command, command
    flat.mkdir()
    subprocess.run(command, shell=True, check=True)
    assert (flat / "labels.csv").read_text().splitlines()[1] == "siteA_1.png,1"
    subprocess.run(command, shell=True, check=True)  # the same content: passes
    (flat / "labels.csv").write_text("image name,DR grade\nsiteA_1.png,4\n")
    ran = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert ran.returncode == 1, ran
    assert f"{flat / 'labels.csv'}: there already with other content, not replaced" in ran.stderr, ran.stderr
    assert (flat / "labels.csv").read_text() == "image name,DR grade\nsiteA_1.png,4\n"


def test_a_study_id_column_of_a_few_sources_is_no_patient_id(tmp_path: Path) -> None:
    """A review (F9): ``study_id`` holding only ``AREDS`` / ``UKB`` (the source) was guessed as a
    patient id, a warning fatal under --strict and a summary's ``unused_column``. A column named
    only by the new words (``study_id``, ``MRN``, ``Study No``) needs many distinct values now:
    at least 2 per fold, at most 10 rows per value; ``patient_id`` needs none."""
    few = ["AREDS", "UKB"] * 20
    many = [f"S{i // 2}" for i in range(40)]
    for name in ("study_id", "MRN", "Study No"):
        assert validate.patient_column_guess([name], cells=lambda c: few) is None, name
        assert validate.patient_column_guess([name], cells=lambda c: many) == name, name
        assert validate.patient_column_guess([name], cells=lambda c: many, n_folds=11) is None, name
        assert validate.patient_column_guess([name]) is None, name  # no cells: no guess
    assert validate.patient_column_guess(["patient_id"], cells=lambda c: few) == "patient_id"
    assert validate.patient_column_guess(["patient_id"]) == "patient_id"
    root = mixed_folder(tmp_path / "d", 8, 0)
    lines = (root / "labels.csv").read_text(encoding="utf-8").splitlines()
    lines = [f"{lines[0]},study_id", *(f"{line},{('AREDS', 'UKB')[i % 2]}" for i, line in enumerate(lines[1:]))]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest.run(config(root, strict=True), tmp_path / "out", verbose=False)
    assert not [w for w in result.warnings if "looks like a patient id" in w], result.warnings
    assert result.patients is not None and result.patients["unused_column"] is None, result.patients


def test_two_near_sizes_are_not_several_resolutions() -> None:
    """A review (F5): 250 px beside 260 px at a 512 px cache (4% apart, one source's sizes) gave
    "images of several resolutions, maybe pooled". The enlarged images must also be less than
    half the largest; the factors are said with two decimals (2.05x, not 2.0x, for '> 2x')."""
    near = [(f"a{i}.png", 250, 250) for i in range(20)] + [(f"b{i}.png", 260, 260) for i in range(10)]
    assert validate.enlarged_images_note(near, 512, "root") == []
    far = [(f"a{i}.png", 250, 250) for i in range(20)] + [(f"b{i}.png", 600, 600) for i in range(10)]
    (said,) = validate.enlarged_images_note(far, 512, "root")
    assert "20 of the 30 images (67%) are enlarged more than 2x to the 512 px cache (2.05x; " in said.what, said


def test_a_known_layout_s_camera_sizes_get_no_pooled_sources_note(tmp_path: Path) -> None:
    """A review (F4): the colour sizes note ("photographs pooled from several sources") fired on
    APTOS, EyePACS and Messidor sets, whose cameras export several sizes, at every ingest. It is
    a plain folder's note only (known sets: no note, as main); the plain folder still has it."""
    plain = mixed_folder(tmp_path / "plain", 20, 10, large=40, small=32)
    result = ingest.run(config(plain), tmp_path / "o1", verbose=False)
    assert any("images of 2 sizes" in n and "pooled from several sources" in n for n in result.notes), result.notes
    root = tmp_path / "aptos"
    mixed_folder(root / "train_images", 20, 10, large=40, small=32)
    lines = (root / "train_images" / "labels.csv").read_text().splitlines()
    (root / "train_images" / "labels.csv").unlink()
    (root / "train.csv").write_text("\n".join(["id_code,diagnosis", *(
        f"{line.split(',')[0][:-4]},{line.split(',')[1]}" for line in lines[1:])]) + "\n")
    result = ingest.run(config(root), tmp_path / "o2", verbose=False)
    assert result.layout == "aptos" and result.n_train == 30, result
    assert not [n for n in result.notes if "images of 2 sizes" in n], result.notes


def test_far_smaller_names_a_size_that_exists_and_compares_within_each_site(tmp_path: Path) -> None:
    """A docs trial: 8 px and 64 px images half and half warned each small one 'far smaller
    than the other images (typically 36 px)', a mean of two sizes no image has. Now the size
    said is one the images have (64 px); with a site column each site's images are compared
    with their own site's (each site one size: no such warning)."""
    root = mixed_folder(tmp_path / "pooled", 15, 15, small=8)
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    small = [w for w in result.warnings if "far smaller" in w]
    assert len(small) == 15 and all("(typically 64 px)" in w for w in small), small
    rows = (root / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(
        [rows[0] + ",site", *[f"{r},{'big' if r.startswith('L') else 'small'}" for r in rows[1:]]]) + "\n")
    result = ingest.run(config(root, site_column="site"), tmp_path / "out2", verbose=False)
    assert not [w for w in result.warnings if "far smaller" in w], result.warnings
