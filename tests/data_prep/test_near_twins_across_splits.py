"""data.near_duplicate_mse across the splits (a clinic data manager's finding F2).

The check compared the labelled images only: a re-encoded (JPEG q80) copy of a test image
among the training images passed even with ``--near-duplicate-mse 1e-4``, and near twins
graded differently were only kept in one fold, with no word about the two grades. Built
from the real APTOS samples (re-encoding real photographs, not noise)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import ingest, validate
from data_prep.near_duplicates import clash_fix, twins_across
from drac_ssl.config import DataConfig

SIDE = 128


def jpeg(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """``rgb`` resized to ``SIDE`` px, written as a JPEG of ``quality``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    small = cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    assert cv2.imwrite(str(path), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])


def export(root: Path, aptos: list, extra_rows: list[str]) -> Path:
    """A plain folder: APTOS samples 0..19 as e00.jpg .. e19.jpg with their grades, 20..24 in
    test/ as t20.jpg .. t24.jpg; ``extra_rows`` appended to the CSV."""
    for i, (_, _, rgb) in enumerate(aptos[:20]):
        jpeg(root / f"e{i:02d}.jpg", rgb)
    for i, (_, _, rgb) in enumerate(aptos[20:25], start=20):
        jpeg(root / "test" / f"t{i}.jpg", rgb)
    lines = ["image name,DR grade", *(f"e{i:02d}.jpg,{g}" for i, (_, g, _) in enumerate(aptos[:20])),
             *extra_rows]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def config(root: Path, mse: float) -> DataConfig:
    return DataConfig(root=str(root), cache_sizes=[64], n_folds=2, workers=1,  # type: ignore[arg-type]
                      grades=["icdr"], near_duplicate_mse=mse)


def requantised(path: Path, quality: int = 80) -> np.ndarray:
    """The RGB pixels of ``path`` decoded and written again as a JPEG of ``quality``."""
    ok, data = cv2.imencode(".jpg", cv2.imread(str(path)), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def copy_of_t22(root: Path) -> None:
    """A JPEG q80 copy of the test image t22 among the training images, as ``copy.jpg``."""
    # t22's q80 copy is 5e-5 from it at the 64 px compared (q80 copies of these 128 px samples
    # measured 4e-5 .. 4e-4, distinct samples 4.5e-4 and more apart)
    copy = requantised(root / "test" / "t22.jpg")
    assert cv2.imwrite(str(root / "copy.jpg"), cv2.cvtColor(copy, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 80])


def test_a_re_encoded_test_image_among_the_training_images_is_a_warning(tmp_path: Path, aptos: list) -> None:
    """Review F4: an error blocked the ingest on a threshold's false positive (copies and
    distinct pictures overlap near 4e-4), and 'take the test image out' breaks a challenge
    submission: a warning, naming both files and the distance."""
    root = export(tmp_path / "d", aptos, ["copy.jpg,2"])
    copy_of_t22(root)
    result = ingest.run(config(root, 1e-4), tmp_path / "out", verbose=False)
    found = [p for p in result.findings if p.kind == "near-duplicates" and "test image" in p.what]
    assert len(found) == 1 and found[0].severity == "warning", found
    assert found[0].path == str(root / "test" / "t22.jpg")
    assert "near twin of the training image" in found[0].what and "copy.jpg (line 22)" in found[0].what
    assert "mean squared difference" in found[0].what and "--near-duplicate-mse 0.0001" in found[0].what
    assert "delete copy.jpg" in found[0].fix and "challenge stays as it is" in found[0].fix
    assert (tmp_path / "out" / "manifest.csv").exists()


def test_strict_refuses_a_test_image_with_a_twin_among_the_training_images(tmp_path: Path, aptos: list) -> None:
    root = export(tmp_path / "d", aptos, ["copy.jpg,2"])
    copy_of_t22(root)
    cfg = config(root, 1e-4)
    cfg.strict = True
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(cfg, tmp_path / "out", verbose=False)
    found = [p for p in refused.value.problems if p.severity == "error" and p.kind == "near-duplicates"]
    assert len(found) == 1, found
    assert "near twin of the training image" in found[0].what and "(rejected by --strict)" in found[0].what
    assert found[0].fix.endswith("or run without --strict to ingest the images as they are")


def test_unlabelled_images_near_twins_of_training_images_are_one_note(tmp_path: Path, aptos: list) -> None:
    """Pretraining sees both anyway: nothing leaks, one note counts them."""
    root = export(tmp_path / "d", aptos, [])
    pool = tmp_path / "pool"
    for i in (3, 7):
        jpeg(pool / f"u{i}.jpg", requantised(root / f"e{i:02d}.jpg"), quality=80)
    jpeg(pool / "u24.jpg", aptos[24][2])  # a picture of the test split only: no training twin
    cfg = config(root, 1e-4)
    cfg.unlabelled = [str(pool)]
    result = ingest.run(cfg, tmp_path / "out", verbose=False)
    said = [n for n in result.notes if "unlabelled pool" in n]
    assert len(said) == 1, result.notes
    assert said[0].startswith(f"{pool}: 2 images of the unlabelled pool are near twins of training "
                              "images below --near-duplicate-mse 0.0001 (e.g. pool/u3.jpg ~ e03.jpg)"), said[0]
    assert "nothing to do (pretraining sees the training images anyway)" in said[0]
    assert not [w for w in result.warnings if "near twin" in w], result.warnings


def test_near_twins_graded_differently_are_named_with_both_grades(tmp_path: Path, aptos: list) -> None:
    grade = aptos[3][1]
    other = (grade + 1) % 5
    root = export(tmp_path / "d", aptos, [f"e03b.jpg,{other}"])
    twin = requantised(root / "e03.jpg")
    assert cv2.imwrite(str(root / "e03b.jpg"), cv2.cvtColor(twin, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 80])
    result = ingest.run(config(root, 1e-4), tmp_path / "out", verbose=False)
    said = [w for w in result.warnings if "near twins with different grades" in w]
    assert len(said) == 1, result.warnings
    assert f"e03.jpg (line 5, grade {grade})" in said[0] and f"e03b.jpg (line 22, grade {other})" in said[0]
    assert "correct the label CSV" in said[0]


def test_with_the_check_off_the_summary_says_it_was_not_made(tmp_path: Path, aptos: list) -> None:
    root = export(tmp_path / "d", aptos, [])
    result = ingest.run(config(root, 0.0), tmp_path / "out", verbose=False)
    printed = ingest.format_summary(result)
    assert ingest.NEAR_DUPLICATES_OFF in printed and "--near-duplicate-mse 0" in ingest.NEAR_DUPLICATES_OFF
    on = ingest.run(config(root, 1e-4), tmp_path / "on", verbose=False)  # distinct pictures: no twin
    assert ingest.NEAR_DUPLICATES_OFF not in ingest.format_summary(on)
    assert not [p for p in on.findings if p.kind == "near-duplicates"], on.findings


def test_twins_across_takes_each_query_s_nearest_reference() -> None:
    references = np.array([[0.0, 0.0], [1.0, 1.0]])
    queries = np.array([[0.01, 0.0], [0.5, 0.5], [1.0, 0.99]])
    index, twin, mse = twins_across(queries, references, 1e-3)
    assert index.tolist() == [0, 2] and twin.tolist() == [0, 1]
    assert np.allclose(mse, [0.01 ** 2 / 2, 0.01 ** 2 / 2])
    assert [len(a) for a in twins_across(queries[:0], references, 1e-3)] == [0, 0, 0]
    with pytest.raises(ValueError, match="rows of 3 values against rows of 2"):
        twins_across(np.zeros((1, 3)), references, 1e-3)


def test_twins_across_blocks_of_references_finds_the_twins_of_all_of_them_at_once() -> None:
    # one block-wise search serves the ingest's pool-against-test comparison too (it had its own)
    references = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.5, 0.5]])  # rows 0 and 2 tie
    queries = np.array([[0.0, 0.01], [0.5, 0.49], [0.9, 0.9], [1.0, 1.0]])
    whole = twins_across(queries, references, 1e-3)
    blocks = twins_across(queries, (references[i:i + 2] for i in (0, 2)), 1e-3)
    assert [a.tolist() for a in blocks] == [a.tolist() for a in whole]
    assert blocks[0].tolist() == [0, 1, 3] and blocks[1].tolist() == [0, 3, 1]  # the first of a tie
    assert twins_across(queries, iter(()), 1e-3)[0].tolist() == []
    assert twins_across(queries, [references[:2]], 0.0)[0].tolist() == []  # strictly below: 0 is not
    with pytest.raises(ValueError, match="rows of 2 values against rows of 3"):
        twins_across(queries, [references, np.zeros((1, 3))], 1e-3)


def test_a_loose_threshold_chaining_many_grades_says_it_is_too_loose(tmp_path: Path, aptos: list) -> None:
    """A multi-site user's review: --near-duplicate-mse 1e-3 chained 19 APTOS photographs of
    grades 1..4 into one group (one fold took 18 of 30), and the advice was only to correct the
    label CSV. A group of 3 grades or more, or of more than 5 images, names the threshold."""
    root = export(tmp_path / "d", aptos, [])
    result = ingest.run(config(root, 1e-3), tmp_path / "out", verbose=False)
    said = [w for w in result.warnings if "near twins with different grades" in w]
    assert said, result.warnings
    chained = [w for w in said if "images of 4 grades in one group (--near-duplicate-mse): the "
                                  "threshold is likely too loose: try 1e-4 (the documented value)" in w]
    assert chained, said
    assert chained[0].endswith("; else check which grade is right and correct the label CSV (or "
                               "delete the copy)"), chained[0]


def test_clash_fix_names_the_threshold_for_a_chain_only() -> None:
    plain = "check which grade is right and correct the label CSV (or delete the copy)"
    assert clash_fix(2, 2) == plain and clash_fix(5, 2) == plain
    assert clash_fix(3, 3).startswith("3 images of 3 grades in one group (--near-duplicate-mse): the "
                                      "threshold is likely too loose: try 1e-4")
    assert clash_fix(6, 2).startswith("6 images of 2 grades in one group (--near-duplicate-mse): "
                                      "unless they are copies of one picture, the")


def test_clash_fix_never_says_try_1e4_at_1e4() -> None:
    """A review (F6): six real copies of one image graded 1 and 2 at --near-duplicate-mse 1e-4
    were told "the threshold is likely too loose: try 1e-4". At 1e-4 or below the fix is the
    label CSV's alone; above it, a group of two grades may be copies, said so."""
    plain = "check which grade is right and correct the label CSV (or delete the copy)"
    assert clash_fix(6, 2, 1e-4) == plain and clash_fix(19, 4, 5e-5) == plain
    assert clash_fix(6, 2, 1e-3) == ("6 images of 2 grades in one group (--near-duplicate-mse): "
                                     "unless they are copies of one picture, the threshold is "
                                     f"likely too loose: try 1e-4 (the documented value); else {plain}")
    assert clash_fix(3, 3, 1e-3).startswith("3 images of 3 grades in one group (--near-duplicate-mse): "
                                            "the threshold is likely too loose")
