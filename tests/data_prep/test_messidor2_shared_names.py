"""Messidor-2's ``IMAGES/`` is one flat folder like a plain folder's (a trial contributor's F1):
two sources' rows under one image name, their ``source`` column differing, are refused there
as they are in a plain folder, not kept with a warning. The flat-folder layouts are derived
from the layout list, so a new flat layout is in by itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ingest import make_drac, write_csv

from data_prep import ingest, validate
from data_prep.layout import GROUNDTRUTH_DIR, LABELS_CSV_NAME, NESTED_LAYOUTS, TASK_DIR
from drac_ssl.config import DATA_LAYOUTS, DataConfig
from tests.data_prep.test_repeated_label_rows import colour_jpegs

HEADER = "image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable,source"


def pooled_messidor2(root: Path) -> Path:
    """``root``: ``IMAGES/`` of 25 colour JPEGs and ``messidor_data.csv`` graded 0..4 from the
    source ``adcis``, ``eye_007.jpg`` named again by a second source (``other``), same grade."""
    names = colour_jpegs(root / "IMAGES")
    lines = [HEADER, *(f"{n},{i % 5},0,1,adcis" for i, n in enumerate(names)),
             f"{names[7]},2,0,1,other"]
    (root / "messidor_data.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def config(root: Path, **overrides: object) -> DataConfig:
    return DataConfig(**{"root": str(root), "cache_sizes": [32], "n_folds": 2, "workers": 1,
                         **overrides})  # type: ignore[arg-type]


def refused(cfg: DataConfig, out: Path) -> validate.Problem:
    with pytest.raises(validate.IngestError) as error:
        ingest.run(cfg, out, verbose=False)
    (problem,) = [p for p in error.value.problems if "two images under one name?" in p.what]
    return problem


def test_a_name_two_sources_share_is_refused_in_messidor2_as_in_a_plain_folder(
        tmp_path: Path) -> None:
    root = pooled_messidor2(tmp_path / "messidor-2")
    csv_path = root / "messidor_data.csv"
    as_messidor2 = refused(config(root), tmp_path / "m2")
    as_plain = refused(config(root / "IMAGES", labels_csv=str(csv_path)), tmp_path / "plain")
    assert as_messidor2.path == as_plain.path == f"{csv_path}:27", (as_messidor2, as_plain)
    assert as_messidor2.severity == "error" and "source 'adcis' vs 'other'" in as_messidor2.what
    assert validate.SHARED_NAME_FIX in as_messidor2.fix, as_messidor2.fix


def test_every_flat_folder_layout_can_hold_two_sources_under_one_name() -> None:
    """Each layout with its training images in one folder (not a per-patient folder of
    ``NESTED_LAYOUTS``, not MedMNIST's ``.npz``) is in ``SHARED_NAME_LAYOUTS``, none other."""
    flat = {k for k in DATA_LAYOUTS if k not in ("auto", "medmnist")} - NESTED_LAYOUTS
    assert "messidor2" in flat and "deepdrid" not in flat
    assert validate.SHARED_NAME_LAYOUTS == flat, (
        f"a flat-folder layout missing: add {sorted(flat - validate.SHARED_NAME_LAYOUTS)} to "
        "data_prep.validate.SHARED_NAME_LAYOUTS (or take it out of NESTED_LAYOUTS)")


def test_a_name_two_sites_share_is_refused_in_a_drac_folder(tmp_path: Path) -> None:
    """DRAC's training images lie in one folder too: its label CSV with a ``site`` column naming
    ``001.png`` twice, from two sites, is refused (it was kept with a warning, the first row)."""
    root = make_drac(tmp_path / "DRAC", n_train=6, test=False)
    csv_path = write_csv(root / TASK_DIR / GROUNDTRUTH_DIR / LABELS_CSV_NAME,
                         ["image name", "DR grade", "site"],
                         [*([f"{i:03d}.png", i % 3, "A"] for i in range(1, 7)), ["001.png", 1, "B"]])
    problem = refused(config(root), tmp_path / "out")
    assert problem.path == f"{csv_path}:8" and problem.severity == "error", problem
    assert "site 'A' vs 'B'" in problem.what, problem.what
