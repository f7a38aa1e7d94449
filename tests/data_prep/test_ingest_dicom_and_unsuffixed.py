"""The ingest tells a DICOM file and an image without an image suffix by their content, in the
export command's words (review intl F3): ``scan.dcm``, ``IM000001`` (a PACS export, ``DICM`` at
byte 128) and a JPEG named ``scan_02`` were each "not an image file", whose fix (move it out)
lost the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data_prep.layout import scan_image_folder
from drac_ssl.grading.image_notes import named_otherwise

DICOM = b"\x00" * 128 + b"DICM" + b"\x02\x00" * 32


def picture(path: Path, fmt: str) -> Path:
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(path, fmt)
    return path


def test_the_ingest_says_dicom_and_misnamed_images_as_the_export_does(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    picture(folder / "e01.png", "PNG")
    (folder / "scan_00.dcm").write_bytes(DICOM)
    (folder / "IM000001").write_bytes(DICOM)
    (folder / "scan_03.DICOM").write_bytes(b"not really")  # named DICOM: said so by its name
    picture(folder / "scan_02", "JPEG")
    picture(folder / "scan_04.dat", "PNG")
    (folder / "notes.txt").write_text("Patient: Jane Doe\n", encoding="utf-8")
    said = {Path(p.path).name: p for p in scan_image_folder(folder).problems}
    dicom = "holds a DICOM file (export the image as PNG or TIFF from the viewer), in an image folder"
    for name in ("scan_00.dcm", "IM000001", "scan_03.DICOM"):
        assert said[name].what == dicom, said[name]
        assert said[name].fix.startswith("put the exported PNG or TIFF in its place"), said[name].fix
    assert said["scan_02"].what.startswith("is a JPEG image whose name does not end in an image suffix")
    assert said["scan_02"].fix.startswith("rename it scan_02.jpg"), said["scan_02"].fix
    assert said["scan_04.dat"].fix.startswith("rename it scan_04.png"), said["scan_04.dat"].fix
    assert said["notes.txt"].what == "not an image file (.txt) in an image folder", said["notes.txt"]
    assert all(p.severity == "error" and p.kind == "non-image" for p in said.values())


def test_the_export_and_the_ingest_share_one_content_check(tmp_path: Path) -> None:
    """One helper (drac_ssl.grading.image_notes.named_otherwise): the export's words are kept."""
    from drac_ssl.submission import read_folder

    picture(tmp_path / "IM000002", "PNG")
    (tmp_path / "IM000003").write_bytes(DICOM)
    assert named_otherwise(tmp_path / "IM000002")[0] == "image"
    assert named_otherwise(tmp_path / "IM000003")[0] == "dicom"
    found = read_folder(tmp_path)
    png, dicom = found.others
    assert png[1].endswith("so it cannot be a case") and png[2] == "rename it IM000002.png", png
    # an image it cannot read, as a .webp: never a note only (review formats F1)
    assert dicom[0].name == "IM000003" and dicom[1].startswith("is a DICOM file"), dicom
    assert "16-bit" in dicom[2] and not found.not_images, (dicom, found.not_images)
