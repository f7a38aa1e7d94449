"""The fundus photographs' preprocessing (``--fundus-crop``, ``--graham``) asked for UW-OCTA
images (grey scans read as UW-OCTA, or ``--modality octa``): the ingest warns (a review: no word
before, while the mask greyed out a third of each scan), and says nothing for colour photographs
or for grey photographs declared fundus."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
from shared_data import SHARED_DATA, needs
from test_ingest import config, write_csv

from data_prep import ingest

WORDS = "on UW-OCTA images"
GRADES = ["Normal", "DR"]


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


def test_crop_and_filter_on_grey_scans_are_warned_with_the_fix(tmp_path: Path) -> None:
    done = ingest.run(config(_scans(tmp_path / "octa"), graham=True, fundus_crop=True, grades=GRADES),
                      tmp_path / "both", verbose=False)
    [said] = _said(done)
    assert said.severity == "warning" and said.kind == "preprocessing"
    assert "--fundus-crop and --graham" in said.what and "--modality auto" in said.what
    assert "no fundus disc on a dark surround" in said.what
    assert "drop --fundus-crop and --graham" in said.fix and "--modality fundus" in said.fix


def test_the_filter_on_declared_octa_is_warned(tmp_path: Path) -> None:
    [said] = _said(ingest.run(config(_scans(tmp_path / "octa"), graham=True, grades=GRADES, modality="octa"),
                              tmp_path / "graham", verbose=False))
    assert said.what.startswith("--graham (") and "--modality octa" in said.what


def test_grey_photographs_declared_fundus_are_not_warned(tmp_path: Path) -> None:
    assert not _said(ingest.run(config(_scans(tmp_path / "octa"), fundus_crop=True, grades=GRADES,
                                       modality="fundus"), tmp_path / "fundus", verbose=False))


def test_grey_photographs_the_crop_cut_are_said_to_look_like_photographs(tmp_path: Path) -> None:
    # red-free photographs in a plain folder: grey, so read as UW-OCTA under auto, yet each has a
    # disc on a dark surround that the crop cut out; "a scan has no disc" would contradict that
    root = tmp_path / "red_free"
    root.mkdir()
    for i in range(4):
        photo = np.zeros((64, 80), np.uint8)
        cv2.circle(photo, (40, 32), 24 + i, 150, -1)
        cv2.imwrite(str(root / f"{i}.png"), photo)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"{i}.png", i % 2] for i in range(4)])
    done = ingest.run(config(root, fundus_crop=True, grades=GRADES), tmp_path / "out", verbose=False)
    [said] = [p for p in done.findings if "treated as UW-OCTA" in p.what]
    assert "no fundus disc on a dark surround" not in said.what
    assert "in 4 of 4" in said.what and "look like grey fundus photographs" in said.what
    assert said.fix.startswith("add --modality fundus") and "drop --fundus-crop" in said.fix


def test_colour_photographs_with_the_crop_are_not_warned(tmp_path: Path) -> None:
    root = _scans(tmp_path / "photos", colour=True)
    done = ingest.run(config(root, fundus_crop=True, graham=True, channels="auto", grades=["Normal", "DR"]),
                      tmp_path / "out", verbose=False)
    assert done.channels == 3 and not _said(done)


@needs(SHARED_DATA / "drac_samples", "the real DRAC samples")
def test_real_drac_scans_whose_disc_box_is_the_frame_are_said_to_have_no_disc(tmp_path: Path) -> None:
    # a review: the crop's box on the 3 DRAC samples is the whole frame or nearly (1024 x 1014 px)
    # with a dark corner, so no finding, and the ingest told these UW-OCTA scans to be read as fundus
    root = tmp_path / "octa"
    shutil.copytree(SHARED_DATA / "drac_samples", root)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"sample_{i}.png", i] for i in range(3)])
    done = ingest.run(config(root, fundus_crop=True),
                      tmp_path / "out", verbose=False)
    [said] = [p for p in done.findings if "treated as UW-OCTA" in p.what or WORDS in p.what]
    assert "no fundus disc on a dark surround" in said.what and "drop --fundus-crop" in said.fix


def test_the_photograph_wording_needs_the_crop_to_cut_most_images(tmp_path: Path) -> None:
    """Half the images cut (2 of 4) is not most of them: a scan's wording; 3 of 4 is (a mutation audit)."""
    from types import SimpleNamespace

    plan = SimpleNamespace(modality="auto", options=SimpleNamespace(fundus_crop=True, graham=False),
                           resolved_modality=lambda layout, channels: "octa")
    layout = SimpleNamespace(treated_as="plain", fundus=False)
    [half] = ingest._fundus_options_on_octa(plan, layout, 1, tmp_path, cropped=(2, 4))  # type: ignore[arg-type]
    assert "no fundus disc on a dark surround" in half.what, half.what
    assert "look like grey fundus photographs" not in half.what
    [most] = ingest._fundus_options_on_octa(plan, layout, 1, tmp_path, cropped=(3, 4))  # type: ignore[arg-type]
    assert "look like grey fundus photographs" in most.what and "in 3 of 4" in most.what, most.what
