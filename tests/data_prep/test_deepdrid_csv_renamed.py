"""A Messidor-2 / DeepDRiD trial (F2): a DeepDRiD set whose label CSV has another name
(``deepdrid.csv``, DeepDRiD's columns) was not found by itself, and its error said to flatten
the per-patient folders; the flat copy was then told to "pass the DeepDRiD set folder as
--root", which had failed already: a loop, the working route ``--layout deepdrid --labels-csv
FILE`` never said. Both errors now name that route (the copy second) (data_prep.layout.eye_columns_layout), and it
reads the set. Trees as ``test_layouts.deepdrid_tree`` builds them (the real APTOS samples)."""

from __future__ import annotations

import shlex
from pathlib import Path

from test_layouts import config, deepdrid_tree, flat_copy, run_error

from data_prep import layout

ROUTE = "--layout deepdrid --labels-csv {csv}"


def renamed_set(tmp_path: Path, aptos: list) -> tuple[Path, Path, Path]:
    images, csv_path, _ = deepdrid_tree(tmp_path, aptos)
    renamed = csv_path.rename(csv_path.with_name("deepdrid.csv"))
    return images.parent, images, renamed


def test_the_set_folder_is_told_the_deepdrid_layout_with_its_csv(tmp_path: Path, aptos: list) -> None:
    base, images, csv_path = renamed_set(tmp_path, aptos)
    said = run_error(config(base), tmp_path / "out")
    route = f"--root {shlex.quote(str(base))} " + ROUTE.format(csv=shlex.quote(str(csv_path)))
    assert route in said and said.index(route) < said.index("copy them into one folder")
    assert route in run_error(config(images), tmp_path / "out2")  # --root .../Images: the set folder
    # the route said reads the set, each image from its patient's folder
    found = layout.discover(config(base, layout="deepdrid", labels_csv=str(csv_path)))
    assert found.kind == "deepdrid" and found.labels_csv == csv_path


def test_a_flat_copy_is_told_the_route_not_only_the_set_folder(tmp_path: Path, aptos: list) -> None:
    base, images, csv_path = renamed_set(tmp_path, aptos)
    flat = flat_copy(images, tmp_path / "flat")
    said = run_error(config(flat, labels_csv=str(csv_path), image_column="image_id"), tmp_path / "out")
    assert "pass the DeepDRiD set folder as --root" in said
    assert ROUTE.format(csv=shlex.quote(str(csv_path))) in said
