"""What the images are (UW-OCTA or fundus photographs): recorded by the ingest, inferred for
older ingests, and taken from the fundus recipe by the pipeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from drac_ssl.config import load_config, to_dict
from drac_ssl.scale import read_ingest_facts
from drac_ssl.train import stage_ingest


def _summary(folder: Path, **fields: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "ingest_summary.json").write_text(json.dumps(fields))
    return folder


def test_older_ingests_without_a_recorded_modality_are_inferred(tmp_path: Path) -> None:
    def modality(name: str, **fields: object) -> str:
        return read_ingest_facts(_summary(tmp_path / name, **fields)).modality

    assert modality("a", layout="aptos", channels={"value": 3}) == "fundus"
    assert modality("b", layout="plain", channels={"value": 3}) == "fundus"
    assert modality("c", layout="plain", channels={"value": 1}) == "octa"
    assert modality("d", layout="drac") == "octa"
    facts = read_ingest_facts(_summary(tmp_path / "e", layout="drac", modality={"value": "fundus"}))
    assert facts.modality == "fundus" and not facts.is_drac  # recorded: it wins


def test_the_pipeline_ingests_a_plain_folder_as_fundus_under_the_fundus_recipe(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    with open(root / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image name", "DR grade"])
        for i in range(8):
            cv2.imwrite(str(root / f"eye{i}.png"), rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
            writer.writerow([f"eye{i}.png", i % 2])
    base = [f"data.root={root}", "data.cache_sizes=[32]", "data.n_folds=2", "data.channels=1",
            "data.grades=[none,some]", "data.workers=1"]
    stage_ingest(load_config(None, base + ["pretrain.augment.recipe=fundus"]), tmp_path / "fundus")
    facts = read_ingest_facts(tmp_path / "fundus" / "data")
    assert facts.modality == "fundus" and facts.describe_images() == "grey fundus photographs (plain layout)"
    summary = json.loads((tmp_path / "fundus" / "data" / "ingest_summary.json").read_text())
    assert not any("UW-OCTA" in w for w in summary["warnings"])
    stage_ingest(load_config(None, base), tmp_path / "octa")  # the default recipe: the layout decides
    summary = json.loads((tmp_path / "octa" / "data" / "ingest_summary.json").read_text())
    assert read_ingest_facts(tmp_path / "octa" / "data").modality == "octa"
    # a plain folder is no DRAC export: no 1024 px check unless asked (data.expected_side)
    assert not any("UW-OCTA export" in w for w in summary["warnings"])
    stage_ingest(load_config(None, base + ["data.expected_side=1024"]), tmp_path / "octa1024")
    summary = json.loads((tmp_path / "octa1024" / "data" / "ingest_summary.json").read_text())
    assert any("UW-OCTA export" in w for w in summary["warnings"]), "\n".join(summary["warnings"])


def test_a_run_folder_with_only_its_ingest_refuses_a_recipe_that_changes_the_modality(tmp_path: Path) -> None:
    from drac_ssl.config import save_config
    from drac_ssl.train import _existing_run_problem, ingest_modality

    run_dir = tmp_path / "run"
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data" / "manifest.csv").write_text("id\n")  # the ingest finished, nothing after it
    save_config(load_config(None, ["data.channels=1"]), run_dir / "config.yaml")
    # outside data.*, the ingest reads only the recipe's say on the modality
    assert _existing_run_problem(load_config(None, ["data.channels=1", "pretrain.lr=0.5"]), run_dir) == ""
    problem = _existing_run_problem(
        load_config(None, ["data.channels=1", "pretrain.augment.recipe=fundus"]), run_dir)
    assert "the ingest's data.modality" in problem and "auto -> fundus" in problem
    explicit = load_config(None, ["data.channels=1", "data.modality=octa", "pretrain.augment.recipe=fundus"])
    assert ingest_modality(to_dict(explicit)) == "octa"  # an explicit modality is never overridden
