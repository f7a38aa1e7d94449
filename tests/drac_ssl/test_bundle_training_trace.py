"""A bundle alone traces to its training data and environment (a regulatory auditor's finding:
metadata.json lacked the manifest's and label CSV's hashes, the library versions and the run
folder's name, so a bundle copied out of its run could not be traced). CPU, milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl.grading import bundle as bundles

MANIFEST = "d538c11b2fb659c4c64437f2ef991f89bbd0bef48d188dbfb051ca654fc7cd57"
LABELS = "1ccf06579858306acda2bb2aa3951736e29a1341be41c71fa059a17b6c96e298"


def test_the_bundle_records_and_its_card_says_the_runs_data_and_environment(tmp_path: Path) -> None:
    run = tmp_path / "first-try"
    (run / "data").mkdir(parents=True)
    (run / "data" / "ingest_summary.json").write_text(json.dumps({
        "manifest": "manifest.csv", "manifest_sha256": MANIFEST,
        "source_files": {"labels_csv": {"path": "/data/train.csv", "sha256": LABELS}}}))
    builds = {"torch": "2.14.1, wheel cp311-cp311-manylinux_2_28_x86_64, files c34200c11d08"}
    (run / "environment.json").write_text(json.dumps({
        "git_commit": "da7b0341", "git_dirty": False, "python": "3.11.7", "torch": "2.14.1+cu130",
        "numpy": "2.4.6", "opencv": "5.0.0", "builds": builds, "cwd": "/home/someone"}))
    prov = bundles.run_provenance(run)
    assert prov["run_folder"] == "first-try"
    assert prov["training_data"] == {"manifest_sha256": MANIFEST, "labels_csv_sha256": LABELS}
    assert prov["environment"]["torch"] == "2.14.1+cu130" and prov["environment"]["builds"] == builds
    assert "cwd" not in prov["environment"]  # versions, not the machine's paths
    line = bundles._training_trace_card({"provenance": prov})
    assert "run folder `first-try`" in line and f"manifest SHA-256 {MANIFEST[:12]}..." in line
    assert f"label CSV SHA-256 {LABELS[:12]}..." in line and "torch 2.14.1+cu130" in line
    assert "provenance.environment.builds" in line
    # a run folder without those records: said as not recorded, never guessed
    bare = bundles.run_provenance(tmp_path / "bare")
    assert bare["training_data"] == {"manifest_sha256": None, "labels_csv_sha256": None}
    assert "manifest SHA-256 not recorded" in bundles._training_trace_card({"provenance": bare})
    # a bundle built before they were recorded: no line
    assert bundles._training_trace_card({"provenance": {"run_seed": 0}}) == ""


@pytest.mark.parametrize("run_folder", ["run1", "", None, "absent"])
def test_the_card_and_the_rebuild_agree_on_no_run_folder(run_folder: str | None) -> None:
    # an older 'export . --variant NAME' recorded run_folder '' (Path('.').name): the rebuild
    # said "no provenance.run_folder" while the card traced it to run folder ``
    prov = {"training_data": {"manifest_sha256": MANIFEST}, "environment": {}}
    if run_folder != "absent":
        prov["run_folder"] = run_folder
    meta = {"provenance": prov}
    lacking = "no provenance.run_folder" in bundles.older_bundle_records(meta)
    line = bundles._training_trace_card(meta)
    assert lacking is (run_folder != "run1") and (line == "") is lacking, (lacking, line)
    assert not line or "run folder `run1`" in line


def test_the_cards_data_note_names_where_the_whole_data_path_is(tmp_path: Path) -> None:
    # an auditor: the card said "Images ingested from the data root above" and showed no root
    # (the card names the data folder by its last component only, for privacy)
    from fake_ingest import make_fake_ingest

    make_fake_ingest(tmp_path)
    note = bundles.data_provenance(tmp_path / "data", ["Normal", "NPDR", "PDR"])["note"]
    assert note == bundles.DATA_FOLDER_NOTE
    assert "data root above" not in note and "data.root" in note and "folder named above" in note
