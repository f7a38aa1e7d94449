"""``python -m data_prep flatten``: a folder-per-grade tree (``TREE/0/*.png`` .. ``TREE/4/``)
made into one folder of images with ``labels.csv``, which the plain layout ingests.

Built from the 30 real APTOS 2019 samples (6 per ICDR grade) in ``aptos_samples/`` of
the real data folder (``$DRAC_SSL_SHARED_DATA``, else ``../shared/data``:
tests/helpers/shared_data.py); skipped with the reason when they are absent."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from data_prep import ingest
from data_prep.__main__ import main
from data_prep.problems import as_config_keys
from drac_ssl.config import DataConfig
from drac_ssl.starting import python_command


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


def copy_into(tree: Path, files: dict[str, Path]) -> None:
    """Copy each source of ``files`` to ``tree / <its relative path>``, folders made."""
    for rel, source in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tree / rel)


def tree_of(aptos_dir: Path, root: Path) -> dict[str, int]:
    """``root/<grade>/<id_code>.png`` for the 30 samples: {file name: grade}."""
    with open(aptos_dir / "train.csv", newline="", encoding="utf-8") as fh:
        rows = [(r["id_code"], int(r["diagnosis"])) for r in csv.DictReader(fh)]
    copy_into(root, {f"{grade}/{code}.png": aptos_dir / "train_images" / f"{code}.png" for code, grade in rows})
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
    # the next commands name the interpreter that runs them, as the usage line does
    assert f"next: {python_command('data_prep')} ingest --root {flat} --grades icdr" in out, out
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
    copy_into(tree, {f"{grade}/{i}.png": sources[grade * 2 + i] for grade in range(3) for i in range(2)})
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
    copy_into(tree, {**{f"{grade}/img{grade}.png": sources[grade] for grade in range(3)},
                     "1/a,b.png": sources[5], '2/say "x".png': sources[6], "2/sub/x.png": sources[7]})
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
    copy_into(tree, {f"{grade}/g{grade}.png": source for grade in range(2)})
    flat = tmp_path / "t_flat"
    flat.mkdir()
    (flat / "old.png").write_bytes(b"x")
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 2 and f"{flat}" in err and "not empty" in err and "--out" in err, err
    assert sorted(p.name for p in flat.iterdir()) == ["old.png"]  # nothing written
    (flat / "old.png").unlink()
    code, out, err = flatten(capsys, "--root", tree)  # an empty folder is fine
    assert code == 0, err

    for name in ("extra", "-1"):  # folders of images (an image-less one is skipped)
        (tree / name).mkdir()
        shutil.copyfile(source, tree / name / "x.png")
    code, out, err = flatten(capsys, "--root", tree, "--out", tmp_path / "other")
    assert code == 2 and "extra/" in err and "-1/" in err, err
    assert not (tmp_path / "other").exists()

    code, out, err = flatten(capsys, "--root", tmp_path / "missing")
    assert code == 2 and "missing" in err, err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = flatten(capsys, "--root", empty)
    assert code == 2 and "no grade folder" in err, err


def test_folder_names_holding_a_carriage_return_are_shown_escaped_and_the_character_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Trial finding F6: grade folders made by a script reading a CRLF file (``0\\r`` ..
    ``4\\r``) were refused as "5 subfolders of images not named as a grade: 0/, 1/, 2/, 3/, 4/",
    which look like grades. Their names are shown escaped and the hidden character named."""
    tree = tmp_path / "t"
    for grade in range(5):
        folder = tree / f"{grade}\r"
        folder.mkdir(parents=True)
        (folder / "a.png").write_bytes(b"not decoded: refused before any image is read")
    code, out, err = flatten(capsys, "--root", tree, "--out", tmp_path / "flat")
    said = " ".join(err.split())
    assert code == 2 and not (tmp_path / "flat").exists()
    assert "not named as a grade (a non-negative integer: 0/, 1/, ...): '0\\r'/, '1\\r'/, '2\\r'/, '3\\r'/, '4\\r'/" in said
    assert "the names hold a carriage return (\\r, invisible: the end of a line of a Windows text file" in said
    assert "-> rename each to its grade without that character" in said


def test_a_folder_name_holding_an_undecodable_byte_names_the_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F6: a folder named ``0`` and the byte 0xFF (no UTF-8: Python holds it as
    ``\\udcff``) was said to hold "U+DCFF (a control character)", a character no file name
    holds; it is the byte, named as one."""
    tree = tmp_path / "t"
    tree.mkdir()
    try:
        folder = Path(os.fsdecode(os.path.join(os.fsencode(tree), b"0\xff")))
        folder.mkdir()
    except (OSError, UnicodeError):
        pytest.skip("this file system takes no name that is not UTF-8")
    (folder / "a.png").write_bytes(b"not decoded: refused before any image is read")
    code, _, err = flatten(capsys, "--root", tree, "--out", tmp_path / "flat")
    said = " ".join(err.split())
    # shown as its byte, as readable_path writes it: no lone surrogate (\udcff), which nobody can type
    assert code == 2 and "'0\\xff'/" in said and "udcff" not in said, said
    assert "an undecodable byte 0xFF in the name" in said and "U+DCFF" not in said, said


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


def _png(path: Path, colour: bool = False, value: int = 0) -> Path:
    """A tiny 32x32 noise PNG (grey, or colour with unequal channels), seeded by ``value``."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(value).integers(0, 256, (32, 32, 3) if colour else (32, 32),
                                                  dtype=np.uint8)  # not blank: the ingest says so
    if colour:
        image[..., 2] = 200
    assert cv2.imwrite(str(path), image)
    return path


def _grey_tree(tree: Path, grades: range | list[int] = range(3)) -> None:
    for grade in grades:
        _png(tree / str(grade) / f"g{grade}.png", value=grade)


def test_dot_dot_root_and_out_spellings_are_normalised_before_the_inside_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``--root ..`` from ``TREE/0`` wrote ``TREE/0/.._flat`` inside the tree, and
    ``--out TREE/../TREE/x`` or an --out through a link into the tree escaped the check."""
    tree = tmp_path / "t"
    _grey_tree(tree)
    monkeypatch.chdir(tree / "0")
    code, out, err = flatten(capsys, "--root", "..")
    assert code == 0, err
    assert (tmp_path / "t_flat" / "labels.csv").is_file()
    assert not any(p.name.endswith("_flat") for p in tree.rglob("*")), list(tree.rglob("*"))
    code, out, err = flatten(capsys, "--root", tree, "--out", tmp_path / "x" / ".." / "t" / "x")
    assert code == 2 and "inside the tree" in err, err
    (tmp_path / "via").symlink_to(tree)
    code, out, err = flatten(capsys, "--root", tree, "--out", tmp_path / "via" / "x")
    assert code == 2 and "inside the tree" in err, err
    assert not (tree / "x").exists()


def test_link_follows_relative_symlinks_and_a_copy_fallback_is_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``--link`` hard-linked a relative symlink itself, dangling in FLAT."""
    import errno
    import os

    pool = _png(tmp_path / "pool" / "x.png", value=7)
    tree = tmp_path / "J"
    _grey_tree(tree, [1])
    (tree / "0").mkdir()
    (tree / "0" / "x.png").symlink_to(Path("..") / ".." / "pool" / "x.png")
    flat = tmp_path / "deep" / "er" / "flat"
    code, out, err = flatten(capsys, "--root", tree, "--out", flat, "--link")
    assert code == 0, err
    assert not (flat / "x.png").is_symlink() and (flat / "x.png").read_bytes() == pool.read_bytes()

    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    code, out, err = flatten(capsys, "--root", tree, "--out", tmp_path / "f2", "--link")
    assert code == 0 and "copied (--link: another file system)" in out, out


def test_test_folder_is_carried_and_an_image_less_folder_is_skipped_as_the_hint_says(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the ingest's hint suggested flatten for a tree with ``test/`` or ``docs/``,
    which flatten refused; an empty ``3/`` gave the hint and flatten different --grades."""
    from data_prep import layout

    tree = tmp_path / "t"
    _grey_tree(tree, [0, 1, 2, 4])
    (tree / "3").mkdir()
    _png(tree / "test" / "u.png", value=9)
    (tree / "docs").mkdir()
    (tree / "docs" / "readme.txt").write_text("x")
    words = layout._image_tree_words(tree, layout.image_subfolders(tree), 0)
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    flat = tmp_path / "t_flat"
    assert (flat / "test" / "u.png").is_file() and "u.png" not in (flat / "labels.csv").read_text()
    assert "docs/" in err and "no image" in err, err
    assert "--grades icdr" in words and "--grades icdr" in out, (words, out)
    result = ingest.run(config(flat, grades="icdr"), tmp_path / "run", verbose=False)
    assert result.n_train == 4 and result.n_test == 1


def test_other_scales_get_a_runnable_command_and_one_based_folders_are_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "six"
    _grey_tree(tree, range(6))
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    names = ", ".join(f"NAME{g}" for g in range(6))
    line = next(li for li in out.splitlines() if li.startswith("next:"))
    assert f'--grades "{names}" --out RUN/data' in line and line.endswith("RUN/data"), line
    assert f"'data.grades=[{names}]'" in out, out  # one shell word
    assert "one per grade" in out, out
    tree = tmp_path / "one"
    _grey_tree(tree, range(1, 6))
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    assert "1-based" in out and "rename" in out and "0/..4/" in out, out


def test_a_clash_is_named_by_its_first_spelling(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "t"
    _png(tree / "0" / "A.png")
    _png(tree / "1" / "a.png")
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    assert "(A.png)" in out, out


def test_colour_images_get_the_fundus_options_and_grey_ones_do_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "c"
    for grade in range(5):
        _png(tree / str(grade) / f"{grade}.png", colour=True)
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    assert "--grades icdr --modality fundus --channels 3" in out, out
    assert "python -m drac_ssl.train -c fundus data.root=" in out, out
    tree = tmp_path / "g"
    _grey_tree(tree)
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0 and "fundus" not in out, out


def test_messages_for_links_files_and_loose_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "t"
    _grey_tree(tree)
    (tree / "1" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (tree / "1" / "a.txt").write_text("x")
    (tree / "1" / "b.txt").write_text("x")
    (tree / "loose.png").write_bytes(b"x")
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
    assert "1 broken link" in err and "gone.png" in err, err
    assert "2 non-image files" in err and "would refuse them" in err, err
    loose = next(li for li in err.splitlines() if "loose.png" in li)
    assert "then flatten again (into a new or empty --out)" in loose, loose
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    code, out, err = flatten(capsys, "--root", tree, "--out", afile)
    assert code == 2 and "is a file" in err and "not empty" not in err, err
    code, out, err = flatten(capsys, "--root", afile)
    assert code == 2 and "is a file, not a folder" in err, err


def test_per_patient_folders_are_refused_as_grade_folders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DeepDRiD user: flatten took the evaluation Images/401/, 402/, 403/ as grades 401..403
    (labels.csv with those grades, then --grades with 404 names). Folders numbered beyond a
    grade scale (above 10/, or more than 10 of them: the rule of the ingest's advice,
    layout.grade_folder_names) are refused, said to look like per-patient folders, with the
    command that copies their images into one folder keeping their names; nothing is written."""
    import shlex

    tree = tmp_path / "Images"
    _grey_tree(tree, [401, 402, 403])
    code, out, err = flatten(capsys, "--root", tree)
    flat = tmp_path / "Images_flat"
    assert code == 2 and not flat.exists(), (out, err)
    assert "401/, 402/ and 403/" in err and "look like per-patient folders, not grades" in err, err
    assert f"-exec sh -c 'cp \"$@\" \"$0\"' {shlex.quote(str(flat) + '/')} {{}} +)" in err, err
    assert "--labels-csv FILE" in err and "python -m drac_ssl.export RUN --images" in err, err
    # the rule in words that add up (0/ .. 10/ is 11 folders, which the rule refuses)
    assert ("a folder-per-grade tree has at most 10 numbered folders, none above 10/: 0/ .. 9/ or "
            "1/ .. 10/)") in err and "0/ .. 10/)" not in err, err
    tree = tmp_path / "eleven"
    _grey_tree(tree, range(11))  # 0/ .. 10/: more than 10 folders
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 2 and "look like per-patient folders" in err, err
    tree = tmp_path / "ten"
    _grey_tree(tree, range(10))  # 0/ .. 9/: still grades
    code, out, err = flatten(capsys, "--root", tree)
    assert code == 0, err
