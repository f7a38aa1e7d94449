"""Too few phantom images of a grade for the folds: the fix said to edit "a copy of the label
CSV, passed with data.labels_csv" (or add labelled images), which the phantom set (an empty
data.root) never reads. It now says fewer folds or a larger data.phantom_n_train, one that
the check accepts."""

from __future__ import annotations

from pathlib import Path

from drac_ssl import preflight, train


def _fold_errors(tmp_path: Path, n_train: int, n_folds: int) -> list[preflight.Finding]:
    cfg = train.load_config(train.DEFAULT_CONFIG, [
        f"data.phantom_n_train={n_train}", "data.phantom_n_test=0", "data.cache_sizes=[64]",
        f"data.n_folds={n_folds}", f"run.out_dir={tmp_path}", "run.name=ph", "run.device=cpu"])
    return [f for f in preflight.check(cfg, tmp_path / "ph", stages=["ingest"])
            if f.severity == "error" and f.setting == "data.n_folds"]


def test_phantom_fold_fix_says_phantom_settings_not_a_label_csv(tmp_path: Path) -> None:
    (one_image,) = _fold_errors(tmp_path, 10, 5)  # PDR has one image: no fold count helps
    assert "data.phantom_n_train=40" in one_image.fix, one_image.fix
    (two_images,) = _fold_errors(tmp_path, 20, 3)
    assert "data.n_folds=2" in two_images.fix and "data.phantom_n_train=21" in two_images.fix, two_images.fix
    for found in (one_image, two_images):
        assert "labels_csv" not in found.fix and "label CSV" not in found.fix and "merge" not in found.fix, found.fix
        assert "add labelled" not in found.fix, found.fix
    # the count offered is one the check accepts
    assert _fold_errors(tmp_path, 40, 5) == [] and _fold_errors(tmp_path, 21, 3) == []
