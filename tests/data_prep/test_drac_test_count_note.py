"""A DRAC testing folder whose image count is not DRAC 2022 Task 3's 386 (docs/drac.md), a carried
gap: the ingest read 2 test images without a word, and the export's submission.csv was then short
of 384 cases (a missing case makes a challenge submission invalid). A subset is a fair choice (a
trial), so it is one note, not an error."""

from __future__ import annotations

from pathlib import Path

from test_ingest import config, make_drac, make_plain, smooth_image, write_png

from data_prep import ingest
from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR, TRAIN_DIR, discover
from drac_ssl.challenge import DRAC_TEST_IMAGES


def _small_drac(root: Path, n_test: int) -> Path:
    make_drac(root, n_train=4, test=False, train=False)
    for i in range(1, 5):
        write_png(root / TASK_DIR / IMAGES_DIR / TRAIN_DIR / f"{i:03d}.png", smooth_image(i, side=64))
    for i in range(n_test):
        write_png(root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR / f"{1500 + i}.png",
                  smooth_image(500 + i, side=64))
    return root


def test_a_drac_testing_set_of_another_count_than_386_is_one_note(tmp_path: Path) -> None:
    """Said where the ingest and the preflight read the folders (``collect_images``)."""
    cfg = config(_small_drac(tmp_path / "DRAC", n_test=2), n_folds=2, cache_sizes=[16], expected_side=64)
    entries, problems, *_ = ingest.collect_images(cfg, discover(cfg), ["Normal", "NPDR", "PDR"])
    assert sum(e.split == "test" for e in entries) == 2  # read as given: a subset is no error
    said = [p for p in problems if p.kind == ingest.DRAC_TEST_COUNT_KIND]
    test_dir = cfg.root + f"/{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}"
    assert [(p.severity, p.path, p.what, p.fix) for p in said] == [(
        "note", test_dir, "2 test images, not the 386 of DRAC 2022 Task 3's testing set (384 fewer): read as given",
        "a subset is fine for a trial; for a challenge submission (one row per test image, a missing case makes "
        "it invalid) copy the whole testing set here (unzip DRAC2022_Testing_Set.zip again) and run the ingest "
        "again")], problems


def test_the_note_is_not_said_for_386_images_no_testing_set_or_another_layout(tmp_path: Path) -> None:
    layout = discover(config(_small_drac(tmp_path / "DRAC", n_test=1)))
    assert layout.kind == "drac" and ingest.drac_test_count_note(layout, 1)
    assert ingest.drac_test_count_note(layout, DRAC_TEST_IMAGES) == []
    assert ingest.drac_test_count_note(layout, 0) == []  # no test image: the layout's own note says it
    plain = discover(config(make_plain(tmp_path / "plain", {"a.png": 0, "b.png": 1}, test=("t.png",))))
    assert plain.kind == "plain" and ingest.drac_test_count_note(plain, 1) == []
