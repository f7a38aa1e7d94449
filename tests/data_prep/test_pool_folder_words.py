"""What the ingest and the preflight say of the ``data.unlabelled`` folders themselves: one
folder given twice, a change of the pool's images, and the setting unused by a generic data set
(a trial user's review: '10 images left out: pool3/u0640.png = pool3/u0640.png', 'data.root=...
the data changed' for a pool image added, and a fix saying 'leave data.unlabelled out' twice)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from test_ingest import config, make_plain, smooth_image, write_png

from data_prep import ingest
from drac_ssl import preflight


def test_a_folder_given_twice_is_read_once_and_said_so(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    pool = tmp_path / "pool3"
    for i in range(2):
        write_png(pool / f"u{i}.png", smooth_image(900 + i, side=256))
    out = tmp_path / "out"
    result = ingest.run(config(root, unlabelled=[str(pool), f"{pool}/"]), out, verbose=False)
    assert result.n_unlabelled == 2
    assert not [n for n in result.notes if "left out" in n], result.notes
    (twice,) = [n for n in result.notes if "given twice" in n]
    assert f"--unlabelled folder given twice (as {pool} and {pool}/): read once" in twice
    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert summary["unlabelled_dirs"] == [str(pool)] and summary["unlabelled_copies"] == []


def test_a_changed_pool_is_said_of_data_unlabelled(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    pool = tmp_path / "pool"
    write_png(pool / "u0.png", smooth_image(900, side=256))
    run_dir = tmp_path / "runs" / "x"
    ingest.run(config(root, unlabelled=[str(pool)]), run_dir / "data", verbose=False)
    write_png(pool / "u1.png", smooth_image(901, side=256))
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", f"data.unlabelled=[{pool}]"])
    c = preflight._Findings(cfg, sources)
    preflight._check_source_unchanged(c, run_dir)
    (found,) = c.items
    assert found.setting == "data.unlabelled", found
    assert "1 image added in the data.unlabelled folders (../pool/u1.png)" in found.what
    # a training image added too: data.root is named
    write_png(root / "007.png", smooth_image(902, side=256))
    c = preflight._Findings(cfg, sources)
    preflight._check_source_unchanged(c, run_dir)
    (found,) = c.items
    assert found.setting == "data.root"


def test_the_fix_of_an_unused_data_unlabelled_says_leave_it_out_once() -> None:
    cfg, sources, _ = preflight.read_config(None, ["data.dataset=mnist", "data.unlabelled=[/x]"])
    c = preflight._Findings(cfg, sources)
    preflight._check_unused_settings(c, cfg, ["ingest", "pretrain"])
    (found,) = [f for f in c.items if f.setting == "data.unlabelled"]
    assert found.fix == "leave data.unlabelled out for this data set"


def _colour_set(root: Path, n: int = 6) -> Path:
    from test_ingest import write_csv

    for i in range(n):
        rgb = np.stack([smooth_image(i, 64), smooth_image(50 + i, 64), smooth_image(100 + i, 64)], axis=2)
        write_png(root / f"{i:03d}.png", rgb)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"{i:03d}.png", i % 3] for i in range(n)])
    return root


def test_grey_pool_images_of_a_colour_set_are_counted(tmp_path: Path) -> None:
    """Grey pool images in a colour cache were replicated to three channels without a word."""
    root = _colour_set(tmp_path / "d")
    pool = tmp_path / "pool"
    write_png(pool / "octa.png", smooth_image(900, side=64))
    result = ingest.run(config(root, unlabelled=[str(pool)]), tmp_path / "out", verbose=False)
    assert result.channels == 3
    (grey,) = [n for n in result.notes if "grey image of the --unlabelled" in n]
    assert "1 grey image of the --unlabelled folders replicated to 3 identical channels, as the " \
           "labelled images are colour (pool/octa.png)" in grey


def test_a_pool_ten_times_the_graded_set_is_said(tmp_path: Path) -> None:
    root = _colour_set(tmp_path / "d", n=3)
    pool = tmp_path / "pool"
    for i in range(31):
        rgb = np.stack([smooth_image(200 + i, 16)] * 2 + [smooth_image(300 + i, 16)], axis=2)
        write_png(pool / f"u{i:02d}.png", rgb)
    result = ingest.run(config(root, unlabelled=[str(pool)], n_folds=2, cache_sizes=[16]), tmp_path / "out",
                        verbose=False)
    (said,) = [n for n in result.notes if "--unlabelled pool holds" in n]
    assert "the --unlabelled pool holds 31 images, 10x the 3 graded (training and test) images" in said
    assert "pretrain.epochs counts passes over the whole pool" in said
    (pool / "u30.png").unlink()  # 30 images: 10x, not more
    again = ingest.run(config(root, unlabelled=[str(pool)], n_folds=2, cache_sizes=[16]), tmp_path / "out2",
                       verbose=False)
    assert not [n for n in again.notes if "--unlabelled pool holds" in n]
