"""data.unlabelled end to end: a RetinaMNIST-shaped ``.npz`` (as in test_colour_pipeline) plus
a folder of ungraded photographs through ``python -m drac_ssl.train``: the photographs are
pretrained on (VICReg and UMM) and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_colour_pipeline import N_TEST, N_TRAIN, N_VAL, _rows, fundus_like, tiny_run

from drac_ssl import stage_settings, train

N_POOL = 8


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("pool")
    pool = work / "ungraded"
    pool.mkdir()
    rng = np.random.default_rng(1)
    for i in range(N_POOL):
        cv2.imwrite(str(pool / f"u{i}.png"), cv2.cvtColor(fundus_like(i % 5, rng), cv2.COLOR_RGB2BGR))
    # 2 folds of 1 epoch: the test is about which images each stage sees, not the CV
    yield tiny_run(work, f"data.unlabelled=[{pool}]", "finetune.decision=argmax", "data.n_folds=2",
                   "finetune.epochs=1", "run.name=pool")
    torch.set_num_threads(threads)


def test_ungraded_images_are_pretrained_on_and_nothing_else(pool_run: Path) -> None:
    """data.unlabelled: the folder's photographs join the pretraining pool (the description
    counts them), never the folds, the out-of-fold figures or the submission; the report
    and the model card say how many there were."""
    manifest = _rows(pool_run / "data" / "manifest.csv")
    pool = [r for r in manifest if r["split"] == "unlabelled"]
    assert [r["id"] for r in pool] == [f"ungraded/u{i}.png" for i in range(N_POOL)]
    pre = json.loads((pool_run / "pretrain" / "metadata.json").read_text())
    assert (f"{N_TRAIN + N_VAL + N_TEST + N_POOL} images ({N_TRAIN + N_VAL} labelled; training and "
            f"test images and {N_POOL} ungraded ones (data.unlabelled), no labels)") in pre["training_data"]
    assert len(_rows(pool_run / "finetune" / "vicreg_umm" / "oof.csv")) == N_TRAIN + N_VAL
    assert len(_rows(pool_run / "export" / "submission.csv")) == N_TEST
    meta = json.loads((pool_run / "bundle" / "metadata.json").read_text())
    assert meta["data"]["n_unlabelled"] == N_POOL and meta["data"]["n_train"] == N_TRAIN + N_VAL
    card = (pool_run / "bundle" / "MODEL_CARD.md").read_text()
    assert f"and {N_POOL} ungraded images (data.unlabelled, for pretraining only)" in card
    report = (pool_run / "report.md").read_text()
    assert f"- ungraded images for pretraining and UMM only (data.unlabelled): {N_POOL}" in report
    assert (f"  - `{pool_run.parent.parent / 'ungraded'}`: {N_POOL} kept, 0 left out as copies of other images, "
            "0 skipped (subfolders, hidden files)") in report  # one line per folder
    assert "**The test images were among them**" in report


def _plain_folder(root: Path, n: int = 12) -> Path:
    """A plain folder of ``n`` grey 64 px images of grades 0..2 and its label CSV."""
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        cv2.imwrite(str(root / f"{i:03d}.png"), np.full((64, 64), 10 * i, np.uint8))
        rows.append(f"{i:03d}.png,{i % 3}")
    (root / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    return root


def test_the_preflight_counts_the_ungraded_images_and_stops_on_a_missing_folder(tmp_path: Path) -> None:
    """Before any stage runs: the pretraining pool's count names the ungraded images (they
    make a batch fit that the labelled images alone would not), and a folder that does not
    exist is an error in the train command's words."""
    from drac_ssl import preflight

    root = _plain_folder(tmp_path / "d")
    pool = tmp_path / "pool"
    pool.mkdir()
    for i in range(6):
        cv2.imwrite(str(pool / f"p{i}.png"), np.full((64, 64), 7 * i, np.uint8))

    def errors(*overrides: str) -> dict[str, str]:
        cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [f"data.root={root}",
                                                                       "run.device=cpu", *overrides])
        return {f.setting: f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
                if f.severity == "error"}

    alone = errors("pretrain.batch_size=16", "umm.batch_size=8")
    assert "larger than the 12 images pretraining draws from" in alone["pretrain.batch_size"]
    with_pool = errors("pretrain.batch_size=32", "umm.batch_size=8", f"data.unlabelled=[{pool}]")
    assert ("larger than the 18 images pretraining draws from "
            f"({root / 'labels.csv'}: 12 training + 6 ungraded (data.unlabelled; at most: the ingest "
            "leaves out copies of other images) images)"
            ) in with_pool["pretrain.batch_size"], with_pool
    assert "pretrain.batch_size" not in errors("pretrain.batch_size=16", "umm.batch_size=8",
                                               f"data.unlabelled=[{pool}]")
    missing = errors("pretrain.batch_size=8", "umm.batch_size=8", f"data.unlabelled=[{tmp_path / 'nope'}]")
    assert any(f"{tmp_path / 'nope'}: data.unlabelled folder 1 of 1 does not exist" in line
               and "point data.unlabelled at a folder of images without grades" in line
               for line in missing.values()), missing


def test_unlabelled_folders_are_compared_as_paths_on_resume_and_reuse(tmp_path: Path) -> None:
    """A review: data.unlabelled was compared as text, so a resume refused the same folder
    written another way ('extra' vs './extra/') and accepted another folder written the same
    from elsewhere. Each entry is now a path, as data.root is."""
    from drac_ssl.config import load_config, to_dict

    def settings(*folders: str) -> dict:
        return to_dict(load_config(None, [f"data.unlabelled=[{', '.join(folders)}]"]))

    here = stage_settings.comparable(settings("extra", "/abs/x"), str(tmp_path))
    same = stage_settings.comparable(settings("./extra/", "/abs/x/"), str(tmp_path))
    assert here["data"]["unlabelled"] == [str(tmp_path / "extra"), "/abs/x"]
    assert stage_settings.config_differences(here, same) == []
    elsewhere = stage_settings.comparable(settings("extra", "/abs/x"), str(tmp_path / "other"))
    assert stage_settings.config_differences(here, elsewhere) != []


def test_the_preflight_warns_of_settings_that_would_do_nothing(tmp_path: Path) -> None:
    """A review: data.unlabelled on a generic data set (read without the ingest) and
    finetune.referable_from=auto on five grades not named as ICDR's were silently ignored."""
    from drac_ssl import preflight

    def warnings(config: Path | None, *overrides: str) -> dict[str, str]:
        cfg, sources, _ = preflight.read_config(config, ["run.device=cpu", *overrides])
        return {f.setting: f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
                if f.severity == "warning"}

    found = warnings(None, "data.dataset=mnist", f"data.root={tmp_path}", f"data.unlabelled=[{tmp_path}]")
    assert "the folders of data.unlabelled are not used" in found["data.unlabelled"]
    root = _plain_folder(tmp_path / "five", n=15)
    with open(root / "labels.csv", "w") as fh:
        fh.write("image name,DR grade\n" + "\n".join(f"{i:03d}.png,{i % 5}" for i in range(15)) + "\n")
    five = ["none", "mild", "moderate", "severe", "proliferative"]
    found = warnings(train.DEFAULT_CONFIG, f"data.root={root}", f"data.grades=[{', '.join(five)}]",
                     "data.n_folds=3", "pretrain.batch_size=8", "umm.batch_size=8")
    assert "auto gives no referable-DR figures on this scale" in found["finetune.referable_from"]
    assert "finetune.referable_from=2" in found["finetune.referable_from"]
    quiet = warnings(train.DEFAULT_CONFIG, f"data.root={root}", f"data.grades=[{', '.join(five)}]",
                     "data.n_folds=3", "pretrain.batch_size=8", "umm.batch_size=8",
                     "finetune.referable_from=2")
    assert "finetune.referable_from" not in quiet
