"""The fundus photographs' preprocessing (``--fundus-crop``, ``--graham``) asked for UW-OCTA
images (grey scans read as UW-OCTA, or ``--modality octa``): the ingest warns (a review: no word
before, while the mask greyed out a third of each scan), and says nothing for colour photographs
or for grey photographs declared fundus."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_ingest import config, write_csv

from data_prep import ingest

WORDS = "on UW-OCTA images"


def _scans(root: Path, colour: bool = False) -> Path:
    """Four 64 px vessel-like grey scans (or colour discs) with a label CSV."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        scan = np.full((64, 64), 20, np.uint8)
        for _ in range(8):
            p, q = rng.integers(0, 64, (2, 2))
            cv2.line(scan, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 230, 1)
        image = cv2.merge([scan // 4, scan // 2, scan]) if colour else scan
        cv2.imwrite(str(root / f"{i}.png"), image)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"{i}.png", i % 2] for i in range(4)])
    return root


def _said(done: ingest.IngestResult) -> list:
    return [p for p in done.findings if WORDS in p.what]


def test_crop_or_filter_on_grey_scans_is_warned_with_the_fix(tmp_path: Path) -> None:
    root = _scans(tmp_path / "octa")
    grades = ["Normal", "DR"]
    done = ingest.run(config(root, graham=True, fundus_crop=True, grades=grades), tmp_path / "both", verbose=False)
    [said] = _said(done)
    assert said.severity == "warning" and said.kind == "preprocessing"
    assert "--fundus-crop and --graham" in said.what and "--modality auto" in said.what
    assert "drop --fundus-crop and --graham" in said.fix and "--modality fundus" in said.fix
    [said] = _said(ingest.run(config(root, graham=True, grades=grades, modality="octa"),
                              tmp_path / "graham", verbose=False))
    assert said.what.startswith("--graham (") and "--modality octa" in said.what
    # grey photographs declared fundus: nothing to say
    assert not _said(ingest.run(config(root, fundus_crop=True, grades=grades, modality="fundus"),
                                tmp_path / "fundus", verbose=False))


def test_colour_photographs_with_the_crop_are_not_warned(tmp_path: Path) -> None:
    root = _scans(tmp_path / "photos", colour=True)
    done = ingest.run(config(root, fundus_crop=True, graham=True, channels="auto", grades=["Normal", "DR"]),
                      tmp_path / "out", verbose=False)
    assert done.channels == 3 and not _said(done)
