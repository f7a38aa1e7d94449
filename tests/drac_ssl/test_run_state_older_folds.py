"""What a killed fine-tuning saved, counted on disk (:func:`drac_ssl.run_state.finetune_saved_on_disk`),
for a run interrupted under a drac_ssl older than per-sample view seeds: its fold records have
no ``train_views``, a resume trains them again, and the count says so (a review, F4: six such
folds were said as "no fold saved yet")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from drac_ssl.run_state import FOLDS_PLAN, OLDER_FOLDS_WORDS, TRAIN_VIEWS, finetune_saved_on_disk

VARIANTS = ["scratch", "vicreg", "vicreg_umm"]


def _fold(folder: Path, fold: int, views: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"head.weight": np.zeros((5, 8), np.float32)}, str(folder / f"fold{fold}.safetensors"))
    record = {"signature": "sig", "val_raw": [[0.1, 0.9], [0.7, 0.3]],
              **({"train_views": TRAIN_VIEWS} if views else {})}
    (folder / f"fold{fold}.json").write_text(json.dumps(record))


def _run(tmp_path: Path, new: dict[str, list[int]], old: dict[str, list[int]]) -> Path:
    finetune = tmp_path / "run" / "finetune"
    finetune.mkdir(parents=True)
    (finetune / FOLDS_PLAN).write_text(json.dumps({"variants": VARIANTS, "folds": [0, 1],
                                                  "signatures": {v: ["sig"] for v in VARIANTS}}))
    for variant, folds in new.items():
        for k in folds:
            _fold(finetune / variant, k, views=True)
    for variant, folds in old.items():
        for k in folds:
            _fold(finetune / variant, k, views=False)
    return tmp_path / "run"


def test_folds_of_an_older_drac_ssl_are_counted_apart_not_as_none(tmp_path: Path) -> None:
    run = _run(tmp_path, {}, {v: [0, 1] for v in VARIANTS})
    assert finetune_saved_on_disk(run) == (
        "6 folds saved by an older drac_ssl, trained again on resume (their views followed "
        "pretrain.num_workers)", "start it again")


def test_older_folds_beside_reusable_ones_are_named_after_them(tmp_path: Path) -> None:
    run = _run(tmp_path, {"scratch": [0, 1]}, {"vicreg": [0]})
    saved, resume = finetune_saved_on_disk(run)
    assert saved == f"2 of 6 folds saved: scratch 2 of 2, vicreg 0 of 2, vicreg_umm 0 of 2; 1 fold {OLDER_FOLDS_WORDS}"
    assert resume == "resume: the saved folds are reused, the others trained"


def test_without_older_folds_the_words_are_as_before(tmp_path: Path) -> None:
    assert finetune_saved_on_disk(_run(tmp_path, {}, {})) == ("no fold saved yet", "start it again")
    assert finetune_saved_on_disk(_run(tmp_path / "all", {v: [0, 1] for v in VARIANTS}, {}))[0] == "all 6 folds saved"
