"""``python -m data_prep flatten``: a folder-per-grade tree (``TREE/0/*.png`` .. ``TREE/4/``)
made into one folder of images with ``labels.csv``, which the plain layout ingests.

Built from the 30 real APTOS 2019 samples (6 per ICDR grade) in ``../shared/data/aptos_samples``;
skipped with the reason when ``../shared`` is absent."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from data_prep import ingest
from data_prep.__main__ import main
from data_prep.problems import as_config_keys
from drac_ssl.config import DataConfig


def config(root: Path, **overrides: object) -> DataConfig:
    return DataConfig(**{"root": str(root), "cache_sizes": [32], "n_folds": 2, "workers": 1,
                         **overrides})  # type: ignore[arg-type]


def manifest(result: ingest.IngestResult) -> list[dict[str, str]]:
    with open(result.manifest_path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def flatten(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main(["flatten", *map(str, argv)])
    said = capsys.readouterr()
    return code, said.out, said.err


def labels(folder: Path) -> list[list[str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def tree_of(aptos_dir: Path, root: Path) -> dict[str, int]:
    """``root/<grade>/<id_code>.png`` for the 30 samples: {file name: grade}."""
    with open(aptos_dir / "train.csv", newline="", encoding="utf-8") as fh:
        rows = [(r["id_code"], int(r["diagnosis"])) for r in csv.DictReader(fh)]
    for code, grade in rows:
        (root / str(grade)).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(aptos_dir / "train_images" / f"{code}.png", root / str(grade) / f"{code}.png")
    return {f"{code}.png": grade for code, grade in rows}


def test_a_grade_tree_is_flattened_and_ingested_with_every_image_at_its_grade(
        tmp_path: Path, aptos_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "bygrade"
    by_name = tree_of(aptos_dir, tree)
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    flat = tmp_path / "bygrade_flat"
    rows = labels(flat)
    assert rows[0] == ["image name", "DR grade"]  # the plain layout's default columns
    assert {name: int(grade) for name, grade in rows[1:]} == by_name  # names kept: no clash
    assert "grade 0: 6" in out and "grade 4: 6" in out, out
    assert f"python -m data_prep ingest --root {flat} --grades icdr" in out, out
    assert f"data.root={flat} data.grades=icdr" in out, out
    result = ingest.run(config(flat, grades="icdr"), tmp_path / "out", verbose=False)
    assert result.n_train == 30 and result.counts_per_grade == dict.fromkeys(range(5), 6)
    assert all(int(r["grade"]) == by_name[r["id"]] for r in manifest(result))
    # the tree is left as it was
    assert sorted(p.name for p in tree.iterdir()) == ["0", "1", "2", "3", "4"]


def test_names_shared_across_grade_folders_are_all_kept_at_their_grades(
        tmp_path: Path, aptos_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``0/0.png`` and ``1/0.png`` (Kaggle downloads) overwrote each other and gave
    two CSV rows for one file. A clash names every file ``<grade folder>_<name>``."""
    tree = tmp_path / "kaggle"
    sources = sorted((aptos_dir / "train_images").glob("*.png"))
    for grade in range(3):
        for i in range(2):
            (tree / str(grade)).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sources[grade * 2 + i], tree / str(grade) / f"{i}.png")
    flat = tmp_path / "out_flat"
    code, out, err = flatten(capsys, "--root", tree, "--out", flat, "--link")
    assert code == 0, err
    rows = labels(flat)[1:]
    assert sorted(rows) == [[f"{g}_{i}.png", str(g)] for g in range(3) for i in range(2)]
    for name, grade in rows:
        assert (flat / name).read_bytes() == (tree / grade / name.split("_", 1)[1]).read_bytes()
    assert "0.png" in out and "prefixed" in out, out
    assert "--grades" not in out.replace("data.grades", ""), out  # 0..2: the default 3-grade scale
    result = ingest.run(config(flat), tmp_path / "run", verbose=False)
    assert result.n_train == 6 and result.counts_per_grade == dict.fromkeys(range(3), 2)


def test_nested_folders_and_non_images_are_skipped_and_said_and_a_comma_name_round_trips(
        tmp_path: Path, aptos_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "t"
    sources = sorted((aptos_dir / "train_images").glob("*.png"))
    for grade in range(3):
        (tree / str(grade)).mkdir(parents=True)
        shutil.copyfile(sources[grade], tree / str(grade) / f"img{grade}.png")
    shutil.copyfile(sources[5], tree / "1" / "a,b.png")
    shutil.copyfile(sources[6], tree / "2" / 'say "x".png')
    (tree / "2" / "sub").mkdir()
    shutil.copyfile(sources[7], tree / "2" / "sub" / "x.png")
    (tree / "0" / "Thumbs.db").write_bytes(b"\0")
    (tree / "1" / "notes.txt").write_text("graded by hand\n")
    (tree / "0" / ".DS_Store").write_bytes(b"\0")
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    flat = tmp_path / "t_flat"
    assert sorted(p.name for p in flat.iterdir()) == sorted(
        ["img0.png", "img1.png", "img2.png", "a,b.png", 'say "x".png', "labels.csv"])
    said = out + err
    assert "1 nested subfolder" in said and "2/sub" in said, said
    assert "1 non-image file" in said and "notes.txt" in said, said
    assert "Thumbs.db" in said, said
    result = ingest.run(config(flat), tmp_path / "run", verbose=False)
    grades = {r["id"]: int(r["grade"]) for r in manifest(result)}
    assert grades == {"img0.png": 0, "img1.png": 1, "img2.png": 2, "a,b.png": 1, 'say "x".png': 2}


def test_an_existing_output_a_bad_folder_name_or_no_grade_folder_is_refused(
        tmp_path: Path, aptos_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "t"
    source = next((aptos_dir / "train_images").glob("*.png"))
    for grade in range(2):
        (tree / str(grade)).mkdir(parents=True)
        shutil.copyfile(source, tree / str(grade) / f"g{grade}.png")
    flat = tmp_path / "t_flat"
    flat.mkdir()
    (flat / "old.png").write_bytes(b"x")
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 2 and f"{flat}" in err and "not empty" in err and "--out" in err, err
    assert sorted(p.name for p in flat.iterdir()) == ["old.png"]  # nothing written
    (flat / "old.png").unlink()
    code, out, err = flatten(capsys, "--root", tree)  # an empty folder is fine
    assert code == 0, err

    (tree / "extra").mkdir()
    (tree / "-1").mkdir()
    code, out, err = flatten(capsys, "--root", tree, "--out", tmp_path / "other")
    assert code == 2 and "extra/" in err and "-1/" in err, err
    assert not (tmp_path / "other").exists()

    code, out, err = flatten(capsys, "--root", tmp_path / "missing")
    assert code == 2 and "missing" in err, err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = flatten(capsys, "--root", empty)
    assert code == 2 and "no grade folder" in err, err


def test_the_tree_error_names_the_flatten_command_in_each_command_s_terms(tmp_path: Path) -> None:
    """The ingest's 'folder-per-grade tree' error names ``python -m data_prep flatten``;
    ``python -m drac_ssl.train`` (:func:`as_config_keys`) keeps that command as it is typed
    and says the root to pass then as settings."""
    from data_prep import layout

    tree = tmp_path / "bygrade"
    for grade in range(5):
        (tree / str(grade)).mkdir(parents=True)
        (tree / str(grade) / "a.png").write_bytes(b"listed only")
    words = layout._image_tree_words(tree, layout.image_subfolders(tree), 0)
    flat = tmp_path / "bygrade_flat"
    assert f"python -m data_prep flatten --root {tree}" in words, words
    assert f"then pass --root {flat} --grades icdr" in words, words
    train = as_config_keys(words)
    assert f"python -m data_prep flatten --root {tree}" in train, train
    assert f"then pass data.root={flat} data.grades=icdr" in train, train
