"""The phantom UW-OCTA generator: determinism, DRAC layout, class balance, idempotence and
grade-ordered non-perfusion."""

from __future__ import annotations

import argparse
import contextlib
import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from step_clock import StepClock

from data_prep import phantom
from data_prep.phantom import (
    CSV_COLUMNS,
    LABELS_CSV,
    MANIFEST_NAME,
    TEST_IMAGE_DIR,
    TRAIN_IMAGE_DIR,
    balanced_grade_counts,
    generate,
    image_name,
    phantom_image,
    plan_phantom,
    render_phantom,
)

TRAIN_DIR = Path("C. Diabetic Retinopathy Grading/1. Original Images/a. Training Set")
CSV_PATH = Path(
    "C. Diabetic Retinopathy Grading/2. Groundtruths/"
    "a. DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv"
)
TEST_DIR = Path(
    "DRAC2022_Testing_Set/C. Diabetic Retinopathy Grading/1. Original Images/b. Testing Set"
)
SMALL = 128  # pixels: fast images for layout tests


def read_labels(root: Path) -> list[dict[str, str]]:
    with open(root / CSV_PATH, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def all_files(root: Path) -> dict[str, int]:
    """Every file under ``root`` (relative path -> mtime in ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "drac"
    generate(root, n_train=20, n_test=4, seed=5, workers=1, size=SMALL, progress=False)
    return root


# ---- rendering -------------------------------------------------------------------------


def test_same_seed_and_id_give_identical_bytes() -> None:
    a = phantom_image(seed=1, image_id=17, grade=1, size=256)
    b = phantom_image(seed=1, image_id=17, grade=1, size=256)
    assert a.dtype == np.uint8 and a.shape == (256, 256)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, phantom_image(seed=2, image_id=17, grade=1, size=256))
    assert not np.array_equal(a, phantom_image(seed=1, image_id=18, grade=1, size=256))
    r1 = render_phantom(2, np.random.default_rng(3), size=256)
    r2 = render_phantom(2, np.random.default_rng(3), size=256)
    assert np.array_equal(r1, r2)


def test_render_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        render_phantom(3, np.random.default_rng(0), size=256)
    with pytest.raises(ValueError):
        render_phantom(0, np.random.default_rng(0), size=16)


def dark_fraction(img: np.ndarray) -> float:
    """Share of 32 px blocks much darker than the image's typical block (non-perfusion)."""
    blocks = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    return float((blocks < 0.6 * np.median(blocks)).mean())


def test_nonperfusion_is_ordered_by_grade_on_average() -> None:
    per_grade = {
        grade: [dark_fraction(phantom_image(0, i, grade)) for i in range(5)] for grade in (0, 1, 2)
    }
    means = {grade: np.mean(v) for grade, v in per_grade.items()}
    assert means[0] < means[1] < means[2], per_grade
    # ordinal, not trivially separable: the severity ranges of neighbouring grades overlap
    sev = {
        g: [phantom.draw_severity(g, np.random.default_rng(i)) for i in range(200)]
        for g in (0, 1, 2)
    }
    assert max(sev[0]) > min(sev[1]) and max(sev[1]) > min(sev[2])


def test_full_size_images_look_like_drac(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    phantom.add_arguments(parser)
    defaults = parser.parse_args(["--out", str(tmp_path / "x")])
    assert (defaults.n_train, defaults.n_test, defaults.seed, defaults.workers) == (611, 386, 0, 0)
    args = parser.parse_args(
        ["--out", str(tmp_path / "drac"), "--n-train", "3", "--n-test", "1", "--seed", "2"]
    )
    assert args.func(args) == 0
    assert "3 train" in capsys.readouterr().out
    pngs = sorted((tmp_path / "drac").rglob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        with Image.open(png) as im:
            assert im.mode == "L" and im.size == (1024, 1024)
            pixels = np.asarray(im)
        assert pixels.dtype == np.uint8
        assert 70 < pixels.mean() < 110 and 45 < pixels.std() < 75
        p1, p50, p99 = np.percentile(pixels, [1, 50, 99])
        assert p1 < 15 and 60 < p50 < 95 and p99 > 225


# ---- plan: ids, names, grades ------------------------------------------------------------


def test_class_balance() -> None:
    assert balanced_grade_counts(611) == (329, 212, 70)
    assert balanced_grade_counts(20) == (11, 7, 2)
    assert balanced_grade_counts(3) == (1, 1, 1)
    assert balanced_grade_counts(0) == (0, 0, 0)
    for n in range(3, 80):
        counts = balanced_grade_counts(n)
        assert sum(counts) == n and min(counts) >= 1
        quotas = [n * c / 611 for c in (329, 212, 70)]
        assert all(abs(c - q) < 1.5 for c, q in zip(counts, quotas, strict=True))


def test_names_are_zero_padded() -> None:
    assert image_name(1) == "001.png"
    assert image_name(42) == "042.png"
    assert image_name(999) == "999.png"
    assert image_name(1000) == "1000.png"


def test_plan_ids_disjoint_sorted_sparse_and_balanced() -> None:
    plan = plan_phantom(611, 386, seed=0)
    train = [c.image_id for c in plan.train]
    test = [c.image_id for c in plan.test]
    assert len(train) == 611 and len(test) == 386
    assert train == sorted(train) and test == sorted(test)
    assert not set(train) & set(test)
    assert max(train + test) > len(train) + len(test)  # ids are not contiguous
    assert max(train + test) >= 1000  # four-digit names occur too
    for case in plan.train + plan.test:
        assert re.fullmatch(r"\d{3,}\.png", case.name) and int(case.name[:-4]) == case.image_id
    assert np.bincount([c.grade for c in plan.train]).tolist() == [329, 212, 70]
    assert tuple(np.bincount([c.grade for c in plan.test]).tolist()) == balanced_grade_counts(386)
    assert plan_phantom(611, 386, seed=0) == plan
    assert plan_phantom(611, 386, seed=1) != plan


# ---- generate: layout, idempotence, safety -------------------------------------------------


def test_layout_is_exactly_drac(small_set: Path) -> None:
    assert TRAIN_IMAGE_DIR == TRAIN_DIR and TEST_IMAGE_DIR == TEST_DIR and LABELS_CSV == CSV_PATH
    plan = plan_phantom(20, 4, seed=5)
    files = set(all_files(small_set))
    expected = (
        {str(TRAIN_DIR / c.name) for c in plan.train}
        | {str(TEST_DIR / c.name) for c in plan.test}
        | {str(CSV_PATH), MANIFEST_NAME}
    )
    assert files == expected  # nothing else: in particular no test grades anywhere

    with open(small_set / CSV_PATH, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == CSV_COLUMNS == ("image name", "DR grade")
    rows = read_labels(small_set)
    assert [r["image name"] for r in rows] == [c.name for c in plan.train]
    assert [int(r["DR grade"]) for r in rows] == [c.grade for c in plan.train]
    assert np.bincount([int(r["DR grade"]) for r in rows]).tolist() == [11, 7, 2]

    img = cv2.imread(str(small_set / TRAIN_DIR / plan.train[0].name), cv2.IMREAD_UNCHANGED)
    assert img.shape == (SMALL, SMALL) and img.dtype == np.uint8
    expected_img = phantom_image(5, plan.train[0].image_id, plan.train[0].grade, SMALL)
    assert np.array_equal(img, expected_img)


def test_second_run_does_not_rewrite(small_set: Path) -> None:
    before = all_files(small_set)
    generate(small_set, n_train=20, n_test=4, seed=5, workers=1, size=SMALL, progress=False)
    assert all_files(small_set) == before


def test_missing_image_is_restored_alone(tmp_path: Path) -> None:
    root = generate(
        tmp_path / "d", n_train=5, n_test=2, seed=1, workers=1, size=SMALL, progress=False
    )
    victim = next((root / TRAIN_DIR).glob("*.png"))
    original = victim.read_bytes()
    victim.unlink()
    before = {k: v for k, v in all_files(root).items() if k != MANIFEST_NAME and "Labels" not in k}
    generate(root, n_train=5, n_test=2, seed=1, workers=1, size=SMALL, progress=False)
    after = all_files(root)
    assert victim.read_bytes() == original
    assert all(after[k] == v for k, v in before.items())


def test_worker_count_does_not_change_results(tmp_path: Path) -> None:
    one = generate(
        tmp_path / "one", n_train=4, n_test=2, seed=9, workers=1, size=SMALL, progress=False
    )
    two = generate(
        tmp_path / "two", n_train=4, n_test=2, seed=9, workers=2, size=SMALL, progress=False
    )
    files = sorted(all_files(one))
    assert files == sorted(all_files(two))
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_workers_take_one_image_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C waits for the images the workers have taken: chunks of up to 8 held it ~30 s
    (8 images per worker plus a queued chunk); one image per task costs no measurable time
    (60 images, 2 workers: 12.2 / 11.8 s in chunks of 8, 12.6 / 11.1 s one at a time)."""
    sizes: list[int] = []

    class Recording:  # runs the work here, in order, and records the chunk size asked for
        def map(self, fn, tasks, chunksize=1):  # noqa: ANN001, ANN202
            sizes.append(chunksize)
            return [fn(t) for t in tasks]

    @contextlib.contextmanager
    def pool(n_workers, initializer=None):  # noqa: ANN001, ANN202
        yield Recording()

    monkeypatch.setattr(phantom, "spawn_pool", pool)
    generate(tmp_path / "d", n_train=40, n_test=8, seed=3, workers=2, size=SMALL, progress=False)
    assert sizes == [1]


def test_new_parameters_replace_the_old_set(tmp_path: Path) -> None:
    root = tmp_path / "d"
    generate(root, n_train=5, n_test=2, seed=1, workers=1, size=SMALL, progress=False)
    generate(root, n_train=6, n_test=3, seed=2, workers=1, size=SMALL, progress=False)
    plan = plan_phantom(6, 3, seed=2)
    assert {p.name for p in (root / TRAIN_DIR).glob("*")} == {c.name for c in plan.train}
    assert {p.name for p in (root / TEST_DIR).glob("*")} == {c.name for c in plan.test}
    case = plan.train[0]
    img = cv2.imread(str(root / TRAIN_DIR / case.name), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(img, phantom_image(2, case.image_id, case.grade, SMALL))


def test_refuses_to_overwrite_real_data(tmp_path: Path) -> None:
    real = tmp_path / "real" / TRAIN_DIR / "001.png"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"not ours")
    with pytest.raises(FileExistsError):
        generate(tmp_path / "real", n_train=3, n_test=1, workers=1, size=SMALL, progress=False)
    assert real.read_bytes() == b"not ours"



def test_phantom_generation_prints_a_progress_line_a_minute_off_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The default job's first step renders 997 phantom images (86 s on the 2-core machine)
    behind a bar that is off in a log (nohup, CI): a minute and more without a word. Off a
    terminal one plain line at most a minute says how far it is (drac_ssl.console's rule, as
    the ingest and export); with progress=False nothing; the images are the same."""
    from drac_ssl import console

    monkeypatch.setattr(console, "progress_clock", StepClock(61.0))  # a minute a read: a line per image
    monkeypatch.setattr(phantom.sys.stderr, "isatty", lambda: False)
    logged = generate(tmp_path / "log", n_train=5, n_test=2, seed=1, workers=1, size=SMALL)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[phantom] ")]
    assert lines and re.fullmatch(r"\[phantom\] 1 of 7 images \([\d.,]+ img/s, about \d+ (s|min|h) left\)",
                                  lines[0]), lines
    assert lines[-1].startswith("[phantom] 7 of 7 images ("), lines
    quiet = generate(tmp_path / "quiet", n_train=5, n_test=2, seed=1, workers=1, size=SMALL, progress=False)
    assert "[phantom]" not in capsys.readouterr().err
    for path in sorted(logged.rglob("*.png")):
        assert path.read_bytes() == (quiet / path.relative_to(logged)).read_bytes(), path


def test_default_sizes_are_the_data_settings_defaults() -> None:
    """The phantom set's 611 / 386 are typed once, as data.phantom_n_train / _n_test
    (drac_ssl/config.py): the generator's, the planner's and the command's defaults follow them."""
    import inspect

    from drac_ssl.config import DataConfig

    want = {"n_train": DataConfig().phantom_n_train, "n_test": DataConfig().phantom_n_test}
    for function in (phantom.plan_phantom, phantom.generate):
        defaults = inspect.signature(function).parameters
        assert {k: defaults[k].default for k in want} == want, function.__name__
    parser = argparse.ArgumentParser()
    phantom.add_arguments(parser)
    args = parser.parse_args(["--out", "x"])
    assert {"n_train": args.n_train, "n_test": args.n_test} == want
    assert f"(default {want['n_train']})" in parser.format_help()
