"""Which model graded a submission: the ``<stem>_provenance.json`` sidecar the export writes
beside each CSV (tied to it by the CSV's SHA-256), what ``--check`` and
:func:`drac_ssl.submission.provenance_words` say of it, the commits its record names, and the
note a bundle whose model card is gone gives."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.grading import bundle as bundles
from drac_ssl.submission import GRADING_PROVENANCE_FORMAT, provenance_words


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny demo bundle (32 px, five grades), built once for this module."""
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("provenance") / "run", image_size=32, source_size=32,
                             n_folds=1, grade_names=["No DR", "Mild", "Moderate", "Severe", "PDR"], channels=3)


def _photo(path: Path, shift: int = 0) -> None:
    """A 96 px fundus-like disc (uint8 BGR) at ``path``; ``shift`` changes its colours."""
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    disc = (np.hypot(xx - 48, yy - 48) < 44).astype(np.float32)[..., None]
    base = np.stack([60 + 0.8 * xx + shift, 80 + 0.6 * yy, 140 + 0.2 * (xx + yy)], -1)
    cv2.imwrite(str(path), np.clip(base * disc, 0, 255).astype(np.uint8))


def test_a_second_export_to_the_same_out_records_the_new_csvs_hash(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Catches the sidecar hashing the file that was at --out before the write (the earlier
    export's CSV): --check would then warn on the right CSV and pass a stale record."""
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "eye_0.png")
    out = tmp_path / "graded.csv"
    assert export.main([str(demo), "--images", str(photos), "--out", str(out)]) in (0, export.EXIT_FLAGGED)
    first = out.read_bytes()
    _photo(photos / "eye_1.png", shift=30)  # another batch: another CSV at the same --out
    assert export.main([str(demo), "--images", str(photos), "--out", str(out)]) in (0, export.EXIT_FLAGGED)
    assert out.read_bytes() != first
    record = json.loads((tmp_path / "graded_provenance.json").read_text(encoding="utf-8"))
    assert record["submission"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert record["n_images"] == 2
    capsys.readouterr()
    assert export.main(["--check", str(out)]) == 0
    assert "records another CSV" not in capsys.readouterr().err


def test_a_sidecar_of_another_format_or_csv_is_warned_and_the_digests_case_ignored(tmp_path: Path) -> None:
    """Catches a JSON object of another format (another tool's, a hand-written one) read as an
    earlier export's record (a note, not a warning), and a digest compared case-sensitively
    (an upper-case SHA-256 of this very CSV called another CSV's)."""
    csv = tmp_path / "grades.csv"
    csv.write_text("case,class,P0,P1\n1.png,0,0.9,0.1\n", encoding="utf-8")
    sidecar = tmp_path / "grades_provenance.json"
    sidecar.write_text(json.dumps({"format": "someone else's v3", "model": "x"}), encoding="utf-8")
    said = provenance_words(csv)
    assert said is not None and said.startswith("warning:") and "not the export's grading provenance" in said
    sidecar.write_text(json.dumps({"format": GRADING_PROVENANCE_FORMAT,
                                   "submission": {"file": "grades.csv", "sha256": "ab" * 32}}), encoding="utf-8")
    said = provenance_words(csv)
    assert said is not None and said.startswith("warning:") and "records another CSV" in said
    sidecar.write_text(json.dumps({"format": GRADING_PROVENANCE_FORMAT, "submission": {
        "file": "grades.csv", "sha256": hashlib.sha256(csv.read_bytes()).hexdigest().upper()}}), encoding="utf-8")
    assert provenance_words(csv) is None


def test_a_bundle_whose_model_card_is_gone_says_so(demo: Path, tmp_path: Path) -> None:
    """Catches a missing MODEL_CARD.md (recorded by hash at the build) passing silently as the
    card the bundle was built with; without paths the note names the card, not its folder."""
    copy = tmp_path / "bundle"
    shutil.copytree(demo, copy)
    loaded = bundles.load_bundle(copy)
    assert bundles.model_card_note(loaded) is None  # as built
    (copy / "MODEL_CARD.md").unlink()
    note = bundles.model_card_note(loaded)
    assert note is not None and "missing or unreadable" in note, note
    note = bundles.model_card_note(loaded, paths=False)
    assert note is not None and note.startswith("MODEL_CARD.md ") and str(copy) not in note, note


def test_the_grading_record_names_the_training_commit_and_the_build_commit_apart(demo: Path) -> None:
    """Catches the two commits swapped: trained_at_commit is the run's code
    (provenance.run_code), built_at_commit the bundle build's (provenance.built_with); swapped,
    a user would trace the grades to the wrong code."""
    loaded = bundles.load_bundle(demo)
    loaded.metadata["provenance"] = {**(loaded.metadata.get("provenance") or {}),
                                     "run_code": {"git_commit": "1111111", "git_dirty": False},
                                     "built_with": {"git_commit": "2222222", "git_dirty": False}}
    record = loaded.grading_provenance(3, "python -m drac_ssl.export run --images x")
    assert record["bundle"]["trained_at_commit"] == "1111111"
    assert record["bundle"]["built_at_commit"] == "2222222"
    assert "trained at commit 1111111" in bundles.grading_provenance_words(record)
