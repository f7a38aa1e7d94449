"""The app batch's grades CSV carries the export's grading provenance record beside it
(``<stem>_provenance.json``, :func:`drac_ssl.submission.write_grading_provenance`): which
bundle, which code, each graded file's SHA-256, when, the flip TTA; tied to the CSV offered by
its SHA-256, so that ``export --check`` accepts the pair, and offered as the page's third
download."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app import server
from drac_ssl import export
from drac_ssl.submission import GRADING_PROVENANCE_FORMAT, provenance_path


def _scan(path: Path, seed: int) -> Path:
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2  # graded: not noise, not blank
    noise = np.random.default_rng(seed).integers(0, 40, (96, 96))
    Image.fromarray((ramp + noise).astype(np.uint8)).save(path)
    return path


def test_the_batch_csv_has_the_exports_provenance_record_beside_it(
        predictor: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Catches a batch CSV offered with no record of the model that graded it, or a record
    that names another CSV (--check would warn) or leaves out the images and the TTA."""
    scans = [_scan(tmp_path / f"Smith_John_1960-01-0{i + 1}_OD.png", i) for i in range(2)]
    summary, _rows, csv_path, _notes = server._grade_batch(predictor, server.AppSettings(), [str(p) for p in scans])
    assert csv_path
    sidecar = provenance_path(csv_path)
    record = json.loads(sidecar.read_text(encoding="utf-8"))
    assert record["format"] == GRADING_PROVENANCE_FORMAT
    assert record["submission"] == {"file": Path(csv_path).name,
                                    "sha256": hashlib.sha256(Path(csv_path).read_bytes()).hexdigest()}
    assert record["bundle"]["metadata_sha256_full"] == predictor.bundle.metadata_sha256
    assert record["tta"] is predictor.tta and record["n_images"] == 2 and record["command"] is None
    assert record["images"] == [{"row": n, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                                for n, p in enumerate(scans, 1)]
    assert f"`{sidecar.name}`" in summary
    capsys.readouterr()
    assert export.main(["--check", csv_path, "--images", str(tmp_path)]) == 0
    assert "provenance" not in capsys.readouterr().err


def test_the_batch_tab_offers_the_record_as_a_third_download(predictor: Any, tmp_path: Path) -> None:
    """Catches the record written but not handed to the page (no download beside the CSV), and
    /grade_batch growing a fifth value for it: gradio_client hands a client every output of the
    event, and clients unpack four."""
    demo = server.build_demo(predictor, server.AppSettings())
    grade = next(f for f in demo.fns.values() if f.api_name == "grade_batch")
    assert len(grade.outputs) == 4
    values = grade.fn([str(_scan(tmp_path / "eye.png", 0))])
    assert len(values) == 4
    _summary, _table, csv_path, notes_path = values
    csv_file = grade.outputs[2]
    # the private step after it: from the CSV the page holds (gradio's copy, in a folder of its
    # own), the record beside the batch's CSV
    (offer,) = [f for f in demo.fns.values() if f.inputs == [csv_file] and f.fn is not None
                and getattr(f.fn, "__name__", "") == "provenance_of"]
    assert offer.api_visibility == "private" and len(offer.outputs) == 1
    assert "provenance" in offer.outputs[0].label
    cached = tmp_path / "cache" / "0123abcd" / Path(csv_path).name
    cached.parent.mkdir(parents=True)
    shutil.copyfile(csv_path, cached)
    sidecar = offer.fn(str(cached))
    assert sidecar == str(provenance_path(csv_path)) and Path(sidecar).is_file() and notes_path
    assert offer.fn(None) is None
    cached.write_text("case,class,P0,P1,P2\n", encoding="utf-8")  # another CSV: no record of it
    assert offer.fn(str(cached)) is None


def test_the_record_names_no_uploaded_file(predictor: Any, tmp_path: Path) -> None:
    """Catches the record keeping the uploads' file names (a name may be a patient's: the page
    says bundle hash, code version, each image's SHA-256, time, TTA): each image is its row in
    the CSV, which also ties it to the row when files not graded come first."""
    bad = tmp_path / "Doe_Jane_1970-05-06_OS.png"
    bad.write_bytes(b"not an image")
    scan = _scan(tmp_path / "Smith_John_1960-01-02_OD.png", 0)
    _summary, _rows, csv_path, _notes = server._grade_batch(predictor, server.AppSettings(), [str(bad), str(scan)])
    text = provenance_path(csv_path).read_text(encoding="utf-8")
    for name in ("Smith", "John", "Doe", "Jane", "1960", "1970", scan.stem, bad.stem):
        assert name not in text
    record = json.loads(text)
    assert record["images"] == [{"row": 2, "sha256": hashlib.sha256(scan.read_bytes()).hexdigest()}]
    assert Path(csv_path).read_text(encoding="utf-8").splitlines()[2].startswith(scan.name + ",")
