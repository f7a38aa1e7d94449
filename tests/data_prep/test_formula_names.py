"""Image and patient names a spreadsheet would read as formulas (security review F2): the
manifest and oof.csv write them guarded (a ``'`` first), and every reader gets them back."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_ingest import config, smooth_image, write_csv, write_png

from data_prep import ingest
from data_prep.source_check import grade_differences
from drac_ssl.io import FORMULA_CELL_STARTS, guarded_cell, unguarded_cell
from drac_ssl.manifest import read_manifest

NAMES = {"=HYPERLINK(1).png": "=1+1", "+cmd.png": "P2", "@SUM(A1).png": "P3", "-x.png": "-P4",
         "'quote.png": "P5", "a.png": "P6", "b.png": "P7", "c.png": "P8"}
"""image -> patient: formula starts, a name starting with ' (the guard's own mark), plain names."""


@pytest.mark.parametrize("text", ["=A1", "+1", "-1", "@x", "\tx", "\rx", "'a", "''=b", "a'b", "", "plain"])
def test_a_guarded_cell_runs_no_formula_and_gives_its_text_back(text: str) -> None:
    cell = guarded_cell(text)
    assert cell[:1] not in FORMULA_CELL_STARTS
    assert unguarded_cell(cell) == text


def _ingested(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i, name in enumerate(NAMES):
        write_png(root / name, smooth_image(i, side=96))
    write_csv(root / "labels.csv", ["image name", "DR grade", "patient"],
              [[name, i % 2, patient] for i, (name, patient) in enumerate(NAMES.items())])
    out = tmp_path / "data"
    ingest.run(config(root, patient_column="patient", grades=["none", "some"]), out, verbose=False)
    return out


def test_the_manifest_guards_formula_names_and_its_readers_get_them_back(tmp_path: Path) -> None:
    out = _ingested(tmp_path)
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    for row in raw:
        for column in ("id", "path", "patient"):
            assert row[column][:1] not in FORMULA_CELL_STARTS, row
    assert {row["path"] for row in raw} >= {"'=HYPERLINK(1).png", "''quote.png"}
    rows = read_manifest(out / "manifest.csv", ("id", "path", "grade", "split", "fold"))
    assert {row["path"]: row["patient"] for row in rows} == NAMES
    # the label CSV rewritten with the same grades: no grade differs (the manifest's paths
    # read back as the files' own names, not as '=HYPERLINK(1).png)
    labels = tmp_path / "images" / "labels.csv"
    labels.write_text(labels.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert grade_differences(out) == []


@pytest.mark.slow  # about 5 CPU seconds: a real ingest, pretraining and fine-tuning of 8 images
def test_oof_csv_guards_formula_names_and_its_readers_get_them_back(tmp_path: Path) -> None:
    from fake_ingest import TINY_FINETUNE

    from drac_ssl import finetune, pretrain
    from drac_ssl.config import load_config
    from drac_ssl.oof import PATIENT_COLUMN, read_oof, read_oof_column

    _ingested(tmp_path)
    settings = {**TINY_FINETUNE, "data.cache_sizes": "[64]", "pretrain.augment.source_size": "64",
                "data.n_folds": "2", "finetune.epochs": "1", "finetune.n_boot": "10"}
    cfg = load_config(None, [f"{k}={v}" for k, v in settings.items()])
    pretrain.run(cfg, tmp_path)
    finetune.run(cfg, tmp_path)
    oof = tmp_path / "finetune" / "vicreg" / "oof.csv"
    with open(oof, newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    assert all(row[c][:1] not in FORMULA_CELL_STARTS for row in raw for c in ("id", PATIENT_COLUMN))
    read = read_oof(oof)
    assert sorted(read.ids) == sorted(NAMES)
    assert dict(zip(read.ids, read_oof_column(oof, PATIENT_COLUMN) or [], strict=True)) == NAMES
