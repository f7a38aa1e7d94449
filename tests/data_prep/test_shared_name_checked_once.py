"""A name in both the training and the test set is checked once per ingest, with the files'
contents (a second read: the ingest's listing checked it too, threw the answer away, and
checked again once the files were hashed), and the new training names its fix says are
picked against one set of taken names built once (it was rebuilt for every image renamed:
quadratic on an EyePACS-size folder). The preflight, which reads no file, still checks the
names from its listing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_ingest import config, make_drac, smooth_image, write_png

from data_prep import ingest, validate
from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR
from data_prep.validate import SHARED_NAME_KIND, Problem, TakenNames, names_in_both, training_rename
from drac_ssl import preflight


def colour_plain_folder(root: Path) -> Path:
    """A plain folder of 25 colour JPEGs graded 0..4 (so the ingest infers the ICDR scale,
    reading the folder twice) and ``test/eye_001.jpg``: a test image of a training name,
    other pixels."""
    rng = np.random.default_rng(11)
    for folder, names in ((root, [f"eye_{i:03d}.jpg" for i in range(25)]), (root / "test", ["eye_001.jpg"])):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(folder / name, quality=95)
    lines = ["image name,DR grade", *(f"eye_{i:03d}.jpg,{i % 5}" for i in range(25))]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def drac_tree(root: Path) -> Path:
    """A DRAC tree whose test set holds ``002.png`` too (other pixels)."""
    make_drac(root)
    write_png(root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR / "002.png", smooth_image(77))
    return root


def counting_names_in_both(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[Path, str] | None]:
    """Count the ingest's calls of :func:`names_in_both`: the ``digests`` of each call."""
    calls: list[Mapping[Path, str] | None] = []

    def counted(train: Sequence[Path], test: Sequence[Path], allowed: bool = False,
                digests: Mapping[Path, str] | None = None, **rest: object) -> list[Problem]:
        calls.append(digests)
        return names_in_both(train, test, allowed, digests, **rest)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "names_in_both", counted)
    return calls


@pytest.mark.parametrize("make", [drac_tree, colour_plain_folder], ids=["drac", "plain-icdr-inferred"])
def test_the_ingest_checks_a_shared_name_once_by_contents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         make: Callable[[Path], Path]) -> None:
    root = make(tmp_path / "data")
    calls = counting_names_in_both(monkeypatch)
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    assert len(calls) == 1, f"names_in_both ran {len(calls)} times"
    (digests,) = calls
    assert digests  # with the hashes: a renamed test file told from a copy
    (shared,) = [p for p in refused.value.problems if p.kind == SHARED_NAME_KIND]
    assert shared.severity == "error" and "different contents" in shared.what
    # the plain folder's scale is still inferred: both readings skip the listing's check
    assert not any("outside {" in p.what for p in refused.value.problems), refused.value.problems


def test_the_preflight_still_checks_a_shared_name_from_its_listing(tmp_path: Path) -> None:
    root = colour_plain_folder(tmp_path / "data")
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2",
                                                   "pretrain.batch_size=8", "umm.batch_size=8"])
    errors = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources) if f.severity == "error"]
    (shared,) = [line for line in errors if "share the name eye_001.jpg" in line]
    assert "contents not compared" in shared and "e.g. to eye_001_train.jpg" in shared
    assert not any("outside {" in line for line in errors), errors  # ICDR inferred there too


# --------------------------------------------------------------------------------------
# The new names said over many shared names are those the per-image rebuild picked


def fixes(train: list[Path], test: list[Path], rows: Collection[str] = (), eye_pairs: bool = False
          ) -> dict[str, str]:
    """Training file name -> the fix said for it (:func:`names_in_both`, contents differ)."""
    digests = {p: ("aa" if p.parent.name == "train" else "bb") * 32 for p in train + test}
    return {Path(p.path).name: p.fix for p in names_in_both(train, test, digests=digests,
                                                            row_names=rows, eye_pairs=eye_pairs)}


def test_many_shared_names_get_the_names_picked_one_by_one() -> None:
    train = [Path(f"train/img_{i:03d}.png") for i in range(400)]
    train += [Path("train/img_000_train.png"), Path("train/img_001_train.png"),
              Path("train/img_001_TRAIN2.png"), Path("train/a.png"), Path("train/a.jpg")]
    test = [Path(f"test/img_{i:03d}.png") for i in range(400)] + [Path("test/a.png"), Path("test/a.jpg")]
    rows = [p.stem for p in train[:400]] + ["img_002_train", "a.png", "a.jpg"]
    said = fixes(train, test, rows)
    assert len(said) == 402
    expected = {
        "img_000.png": "the file to img_000_train2.png and its row to img_000_train2",
        "img_001.png": "the file to img_001_train3.png and its row to img_001_train3",  # letter case ignored
        "img_002.png": "the file to img_002_train2.png and its row to img_002_train2",  # a row's name
        "img_399.png": "the file to img_399_train.png and its row to img_399_train",
        "a.png": "to a_train.png",
        "a.jpg": "to a_train2.jpg",  # a_train is a.png's new name (the stem, as a row names it)
    }
    for name, words in expected.items():
        assert said[name].startswith(f"rename the training file and its label row, e.g. {words},"), said[name]


def test_many_shared_eyepacs_names_keep_each_patient_s_two_eyes_together() -> None:
    train = [Path(f"train/{10 + i}_{side}.jpeg") for i in range(200) for side in ("left", "right")]
    train.append(Path("train/10train_right.jpeg"))  # patient 10train has an eye already
    test = [Path(f"test/{10 + i}_left.jpeg") for i in range(200)] + [Path("test/11_right.jpeg")]
    said = fixes(train, test, [p.stem for p in train], eye_pairs=True)
    assert said["10_left.jpeg"].startswith(
        "rename the training file and its label row, e.g. the file to 10train2_left.jpeg and its row "
        "to 10train2_left, and patient 10's other eye 10_right.jpeg with it, the file to "
        "10train2_right.jpeg and its row to 10train2_right"), said["10_left.jpeg"]
    # both eyes of patient 11 in the test set: the right eye gets the name its pair was said with
    assert "e.g. the file to 11train_right.jpeg and its row to 11train_right, and patient 11's other " \
           "eye 11_left.jpeg with it, the file to 11train_left.jpeg" in said["11_right.jpeg"]
    assert "e.g. the file to 209train_left.jpeg and its row to 209train_left," in said["209_left.jpeg"]


def test_taken_names_rename_as_training_rename_and_grow() -> None:
    taken = ["042.png", "042_TRAIN.png", "10train_right.jpeg", "7_train"]
    names = TakenNames(taken)
    # the names the code before TakenNames picked (literals, not training_rename: it now calls TakenNames)
    for name, eye_pairs, expected in (("042.png", False, "042_train2.png"),
                                      ("10_left.jpeg", True, "10train2_left.jpeg"),
                                      ("7.png", False, "7_train2.png")):
        assert names.rename(name, eye_pairs) == expected
        assert training_rename(name, taken, eye_pairs) == expected
    assert [names.rename("042.png"), names.rename("7.png")] == ["042_train2.png", "7_train2.png"]
    names.add("042_train2.png")
    assert names.rename("042.png") == "042_train3.png"  # a name said is taken


@pytest.mark.parametrize("listing,again", [(True, False), (False, True)])
def test_icdr_inference_does_not_hang_on_both_readings_checking_names_alike(
        tmp_path: Path, listing: bool, again: bool) -> None:
    # the two readings' errors are compared by count without the names in both sets (which do
    # not depend on the grade scale), so a caller whose two flags differ is not refused the
    # ICDR scale without a word (a review found it was)
    root = colour_plain_folder(tmp_path / "data")
    cfg = config(root)
    layout = ingest.discover(cfg)
    first = ingest.collect_images(cfg, layout, ingest.GRADE_SCALES["drac"], check_shared_names=listing)
    assert any(p.kind == SHARED_NAME_KIND for p in first[1]) is listing
    inferred = ingest.infer_icdr(cfg, layout, ingest.GRADE_SCALES["drac"], first, check_shared_names=again)
    assert inferred is not None
    (entries, problems, *_), note = inferred
    assert not any(ingest.is_scale_problem(p) for p in problems)
