"""Fine-tuning's random training views do not depend on ``pretrain.num_workers``.

Each image of an epoch carries its own augmentation seed (``finetune.view_keys``, as
pretraining's ``TwoViewFeed`` does), so the DataLoader workers that draw the views, and how
many there are, change nothing. Before, the views came from each worker's generator, seeded
by the DataLoader's base seed plus the worker id: ``--first-try`` gave a VICReg QWK of 0.416
with one worker and 0.307 with none. Tiny fake ingest (30 labelled 64 px images, 2 folds),
CPU, seconds; the workers are real forked processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_ingest import TINY_FINETUNE, make_fake_ingest
from torch.utils.data import DataLoader

from drac_ssl import finetune, pretrain
from drac_ssl.augment import EvalDataset, build_view_transform, seed_worker
from drac_ssl.config import AugmentConfig, Config, load_config


def tiny_config(**overrides: str) -> Config:
    own = {"finetune.n_boot": "10", "data.n_folds": "2", "umm.enabled": "false",
           "finetune.compare_scratch": "false", "finetune.epochs": "2"}
    return load_config(None, [f"{k}={v}" for k, v in {**TINY_FINETUNE, **own, **overrides}.items()])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("workers")
    make_fake_ingest(root, n_folds=2)
    pretrain.run(tiny_config(), root)
    yield root
    torch.set_num_threads(threads)


def _fine_tune(pretrained: Path, tmp_path: Path, workers: int, freeze: str) -> list[dict]:
    """The fold records of a fine-tuning with ``workers`` DataLoader workers, in a run folder
    of its own whose data/ and pretrain/ are the shared pretrained run's."""
    run = tmp_path / f"{freeze}_{workers}"
    run.mkdir()
    for name in ("data", "pretrain"):
        (run / name).symlink_to(pretrained / name, target_is_directory=True)
    finetune.run(tiny_config(**{"pretrain.num_workers": str(workers), "finetune.freeze": freeze}), run)
    return [json.loads((run / "finetune" / "vicreg" / f"fold{k}.json").read_text()) for k in (0, 1)]


@pytest.mark.parametrize("freeze", ["last", "frozen"])
def test_fine_tuning_gives_the_same_folds_with_0_and_2_workers(pretrained: Path, tmp_path: Path,
                                                               freeze: str) -> None:
    # last: a trainable stage, views drawn every epoch through the DataLoader; frozen: the
    # feature bank's views, drawn once
    in_process = _fine_tune(pretrained, tmp_path, 0, freeze)
    with_workers = _fine_tune(pretrained, tmp_path, 2, freeze)
    for a, b in zip(in_process, with_workers, strict=True):
        assert a["val_raw"] == b["val_raw"]  # the held-out outputs, to the last bit
        assert [e["train_loss"] for e in a["history"]] == [e["train_loss"] for e in b["history"]]


def _images(n: int = 12, size: int = 40) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (n, size, size), dtype=np.uint8)


def _views(dataset: EvalDataset, keys: list, workers: int, seed: int) -> torch.Tensor:
    loader = DataLoader(dataset, batch_size=4, sampler=keys, num_workers=workers,
                        worker_init_fn=seed_worker if workers else None,
                        generator=torch.Generator().manual_seed(seed))
    return torch.cat([x for x, _ in loader])


def test_views_follow_the_sample_key_not_the_worker() -> None:
    transform = build_view_transform(AugmentConfig(recipe="octa", image_size=24, source_size=40))
    dataset = EvalDataset(_images(), transform, labels=np.arange(12) % 3)
    positions = np.array([5, 0, 7, 7, 2, 11, 3, 9])  # an image twice, as a balanced epoch may
    keys = finetune.view_keys(positions, seed=17)
    assert [p for p, _ in keys] == positions.tolist()
    assert keys == finetune.view_keys(positions, seed=17)  # a pure function of its arguments
    assert keys != finetune.view_keys(positions, seed=18)
    in_process, two = _views(dataset, keys, 0, 17), _views(dataset, keys, 2, 17)
    assert torch.equal(in_process, two)
    assert not torch.equal(in_process[2], in_process[3])  # the same image drawn twice: two views
    # a key's views do not depend on the keys around it
    assert torch.equal(dataset[keys[4]][0], in_process[4])


def test_the_old_unkeyed_scheme_depends_on_the_worker_count() -> None:
    # the control: the test above could fail. Views drawn from the dataset's running
    # generator (reseeded once per worker by seed_worker) differ between 0 and 2 workers
    transform = build_view_transform(AugmentConfig(recipe="octa", image_size=24, source_size=40))
    dataset = EvalDataset(_images(), transform)
    dataset.reseed(17)
    order = list(range(12))
    in_process = _views(dataset, order, 0, 17)
    dataset.reseed(17)
    assert not torch.equal(in_process, _views(dataset, order, 2, 17))


def test_fold_records_say_how_their_views_were_drawn(pretrained: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    records = _fine_tune(pretrained, tmp_path, 0, "frozen")
    assert all(r["train_views"] == finetune.TRAIN_VIEWS for r in records)
    # a fold saved by the code whose views depended on the worker count is trained again
    run = tmp_path / "frozen_0"
    path = run / "finetune" / "vicreg" / "fold1.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != "train_views"}
    path.write_text(json.dumps(old))
    capsys.readouterr()
    finetune.run(tiny_config(**{"pretrain.num_workers": "0"}), run)
    out = capsys.readouterr().out
    assert "vicreg fold 0: reusing fold0.json" in out
    assert "vicreg fold 1: fold1.json is not reused" in out and "pretrain.num_workers" in out
    assert json.loads(path.read_text())["train_views"] == finetune.TRAIN_VIEWS
