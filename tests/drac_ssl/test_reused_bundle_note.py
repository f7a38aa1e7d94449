"""A reused bundle built before bundles recorded the training images' bit depths is said, with
how to rebuild it (review of the bitdepth merge, F6: ``build_or_reuse_bundle`` reused it on
every export while its fine-tuning outputs were unchanged, so no graded file was compared with
the depths the run's ingest records, and nothing said why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl.export import variant_lines
from drac_ssl.grading.bundle import reused_bundle_note

GROUP = {"file": "16-bit", "encoding": "grey", "bits_used": 16, "depth_from": "maximum",
         "max_value": 65535, "n": {"train": 12, "test": 3, "unlabelled": 0}}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ingest_summary.json").write_text(json.dumps({"bit_depths": [GROUP]}))
    return tmp_path


def _bundle(run: Path, data: dict[str, object]) -> Path:
    folder = run / "bundles" / "vicreg"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps({"variant": "vicreg", "data": data}))
    return folder


def test_a_reused_bundle_without_the_depths_the_ingest_records_is_said(run: Path) -> None:
    bundle = _bundle(run, {"n_images": 15})
    lines = variant_lines(run, "vicreg", bundle, True, "")
    assert lines[0] == f"bundle: {bundle} (vicreg, reused: built from the same fine-tuning outputs)"
    (note,) = lines[1:]
    assert note.startswith(f"note: {bundle} was built before bundles recorded the training images' bit depths")
    assert f"delete {bundle} and export again" in note
    # built now, it records them: nothing to say
    assert variant_lines(run, "vicreg", bundle, False, "") == [lines[0].replace(
        "reused: built from the same fine-tuning outputs", f"built from {run / 'finetune' / 'vicreg'}")]


def test_no_note_when_the_bundle_has_them_or_the_ingest_does_not(run: Path) -> None:
    with_depths = _bundle(run, {"train_bit_depths": [{"file": "16-bit", "encoding": "grey",
                                                      "bits_used": 16, "n_train": 12}]})
    assert reused_bundle_note(run, with_depths) == ""
    without = _bundle(run, {"n_images": 15})
    assert reused_bundle_note(run, without)
    (run / "data" / "ingest_summary.json").write_text(json.dumps({"n_images": 15}))  # an older ingest
    assert reused_bundle_note(run, without) == ""
    (run / "data" / "ingest_summary.json").unlink()
    assert reused_bundle_note(run, without) == ""
