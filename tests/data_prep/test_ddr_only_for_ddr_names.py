"""A ``train/`` folder with its own ``labels.csv`` beside a ``train.txt`` of ``a.png 1`` lines
(not DDR's names) was refused as "DDR's labels here are 'NAME GRADE' .txt files, no label CSV":
any ``NAME GRADE`` file beside a folder named like a DDR set was taken for DDR's. DDR is now
told only when the names are DDR grading images', and a set folder's own CSV is read first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data_prep import layout


def project(tmp_path: Path, names: list[str], *, csv: bool = True) -> Path:
    train = tmp_path / "proj" / "train"
    train.mkdir(parents=True)
    for name in names:
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(train / name)
    if csv:
        (train / "labels.csv").write_text("image,grade\n" + "".join(f"{n},{g}\n" for g, n in enumerate(names)))
    (train.parent / "train.txt").write_text("".join(f"{n} {1 - g}\n" for g, n in enumerate(names)))
    return train


def test_a_txt_of_other_names_beside_a_train_folder_is_not_ddrs(tmp_path: Path) -> None:
    train = project(tmp_path, ["a.png", "b.png"])
    assert layout.ddr_fix(train) == ""
    found = layout._discover_plain(train, "")
    assert found.labels_csv == train / "labels.csv"


def test_a_ddr_set_folders_own_csv_is_read_first(tmp_path: Path) -> None:
    train = project(tmp_path, ["007-0000-000.jpg", "007-0001-000.jpg"])
    found = layout._discover_plain(train, "")
    assert found.labels_csv == train / "labels.csv"


def test_a_ddr_set_folder_without_a_csv_is_still_told_as_ddr(tmp_path: Path) -> None:
    train = project(tmp_path, ["007-0000-000.jpg", "007-0001-000.jpg"], csv=False)
    assert "the labels of this DDR set are train.txt beside it" in layout.ddr_fix(train)
