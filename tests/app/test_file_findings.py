"""What the decoder says about a file is a plain note beside the grade, not a doubt about the
image (a clinician review).

A real DRAC scan saved as a JPEG with Exif orientation 6 was graded under "⚠ This may not be a
UW-OCTA en-face image, so the grade below may mean nothing", its grade marked "(⚠ see above)",
because the orientation had been applied; so was an ICC profile not applied. Such findings are facts about the file, not doubts about what the
picture is: every one the decoder makes (``data_prep/decode.py``) is made here from a real
scan and must be a plain note (a grey PNG with transparency was also doubted as a colour
picture: it is grey); the doubts (a colour picture on a grey UW-OCTA model, a tiny
image) stay doubts, and a finding not yet classified is a doubt until someone decides.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_fixtures import drac_scan_or_stand_in
from PIL import Image, ImageCms, PngImagePlugin

from app.inputs import load_bytes
from app.predict import Predictor
from drac_ssl.grading.image_notes import FILE_FINDING, file_finding, is_plain_note


@pytest.fixture(scope="module")
def scan() -> np.ndarray:
    """A real DRAC UW-OCTA scan (1024 x 1024 grey), else a structured stand-in."""
    return drac_scan_or_stand_in(512)


def _save(image: Image.Image, file_format: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, file_format, **kwargs)
    return buf.getvalue()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add(kind, data)
    return info


def _text(key: str, value: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


def _damaged_crc(data: bytes, kind: bytes) -> bytes:
    """``data`` with the CRC of its first ``kind`` chunk changed: a metadata chunk damaged in a copy."""
    at = data.index(kind)
    end = at + 4 + struct.unpack(">I", data[at - 4:at])[0]
    return data[:end] + bytes(b ^ 0xFF for b in data[end:end + 4]) + data[end + 4:]


def _files(scan: np.ndarray) -> dict[str, tuple[bytes, str]]:
    """One file per finding of the decoder: name -> (bytes, words the finding holds)."""
    grey = Image.fromarray(scan)
    stack = [grey, Image.fromarray(np.flipud(scan)), Image.fromarray(np.fliplr(scan))]
    alpha = np.full(scan.shape, 255, np.uint8)
    alpha[: scan.shape[0] // 4] = 128
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    float_rgb = cv2.imencode(".tiff", np.repeat(scan[..., None], 3, 2).astype(np.float32) / 255)[1]
    jpeg = _save(grey, "JPEG", quality=95)
    return {
        "exif6.jpg": (_save(Image.fromarray(np.rot90(scan, 1)), "JPEG", quality=95, exif=_exif(6)),
                      "Exif Orientation 6: shown rotated 90 degrees clockwise"),
        "tiff_orientation.tif": (_save(grey, "TIFF", tiffinfo={274: 3}), "TIFF Orientation 3"),
        "exif9.jpg": (_save(grey, "JPEG", quality=95, exif=_exif(9)), "is not a valid value"),
        "two.mpo": (_save(stack[0], "MPO", save_all=True, append_images=stack[1:2]),
                    "multi-picture JPEG (MPO) with 2 pictures"),
        "profile.png": (_save(grey, "PNG", icc_profile=lab), "embedded ICC colour profile"),
        "gamma.png": (_save(grey, "PNG", pnginfo=_png_chunk(b"gAMA", struct.pack(">I", 100000))),
                      "PNG gAMA 1"),
        "chrm.png": (_save(grey, "PNG", pnginfo=_png_chunk(b"cHRM", struct.pack(">8I", *[
            30000] * 8))), "PNG cHRM chromaticities"),
        "dpi.png": (_save(grey, "PNG", dpi=(72, 96)), "non-square pixels"),
        "trailer.jpg": (jpeg + b"\r\n", "2 byte(s) after the JPEG"),
        "padded.jpg": (jpeg[:-2] + bytes(40) + b"\xff\xd9", "byte(s) before the JPEG's end-of-image marker"),
        "trailer.png": (_save(grey, "PNG") + b"junk", "4 byte(s) after the PNG"),
        "no_iend.png": (_save(grey, "PNG")[:-12], "no complete IEND end chunk"),
        "damaged_iend.png": (_save(grey, "PNG")[:-4] + b"\x00" * 4, "end chunk IEND fails its CRC check"),
        "damaged_text.png": (_damaged_crc(_save(grey, "PNG", pnginfo=_text("Comment", "scanned")), b"tEXt"),
                             "damaged PNG metadata left out: its tEXt chunk"),
        "damaged_gamma.png": (_damaged_crc(_save(grey, "PNG", pnginfo=_png_chunk(b"gAMA", struct.pack(
            ">I", 100000))), b"gAMA"), "so what it says (gamma) is not applied"),
        "alpha.png": (_save(Image.fromarray(np.dstack([scan, scan, scan, alpha]), "RGBA"), "PNG"),
                      "25.0% of the pixels are (partly) transparent: composited over black"),
        "grey_alpha.png": (_save(Image.fromarray(np.dstack([scan, alpha]), "LA"), "PNG"),
                           "25.0% of the pixels are (partly) transparent: composited over black"),
        "constant_alpha.png": (_save(Image.fromarray(np.dstack([scan, np.full_like(scan, 128)]), "LA"), "PNG"),
                               "the alpha channel holds one value everywhere (128 of 255"),
        "cmyk.jpg": (_save(grey.convert("CMYK"), "JPEG", quality=95),
                     "converted to RGB without colour management"),
        # stretched to exactly 0..1: the real scan spans 0..255, the stand-in without the real
        # data does not (its float TIFF said "float image (0..0.607843)")
        "float.tif": (_save(Image.fromarray(cv2.normalize(scan.astype(np.float32), None, 0, 1, cv2.NORM_MINMAX),
                                            "F"), "TIFF"),
                      "float image (0..1): values 0..1 scaled by 255"),
        "float_rgb.tif": (float_rgb.tobytes(), "Pillow cannot open this file; decoded by OpenCV"),
        # the ingest's misnamed warning (review formats F3: the app said nothing of it)
        "jpeg_named.png": (jpeg, "a JPEG file, though named .png (read as JPEG"),
        # named as a format the package does not read: the export refuses it by its name
        "png_named.dcm": (_save(grey, "PNG"), "a PNG file, though named .dcm (read as PNG"),
    }


def test_every_finding_of_the_decoder_is_a_plain_note(scan: np.ndarray) -> None:
    for name, (data, words) in _files(scan).items():
        loaded = load_bytes(data, name, channels=1, kind="octa")
        findings = [w for w in loaded.warnings if w.startswith(FILE_FINDING)]
        assert any(words in w for w in findings), (name, loaded.warnings)
        doubts = [w for w in loaded.warnings if not is_plain_note(w)]
        assert doubts == [], (name, doubts)
        colour = load_bytes(data, name, channels=3, kind="fundus")  # the same words, the same rule
        assert [w for w in colour.warnings if w.startswith(FILE_FINDING) and not is_plain_note(w)] == []
    # a Lab TIFF: its conversion is a note; its colour (Lab -> RGB) is doubted on its own
    lab = load_bytes(_save(Image.fromarray(scan).convert("RGB").convert("LAB"), "TIFF"), "lab.tif")
    (finding,) = [w for w in lab.warnings if "CIELAB image converted to RGB" in w]
    assert is_plain_note(finding)


def test_doubts_stay_doubts_and_a_new_finding_is_a_doubt_until_decided(scan: np.ndarray) -> None:
    photo = np.dstack([scan, np.roll(scan, 40, axis=0), scan // 2])
    colour = load_bytes(_save(Image.fromarray(photo), "PNG"), "photo.png", channels=1, kind="octa")
    assert [w for w in colour.warnings if not is_plain_note(w)][0].startswith("Colour image")
    tiny = load_bytes(_save(Image.fromarray(scan[:64, :64]), "PNG"), "tiny.png", channels=1, kind="octa")
    assert any(w.startswith("Too small") and not is_plain_note(w) for w in tiny.warnings)
    grey = load_bytes(_save(Image.fromarray(scan), "PNG"), "g.png", channels=3, kind="fundus")
    assert any(w.startswith("Grey image") and not is_plain_note(w) for w in grey.warnings)
    assert not is_plain_note(file_finding("a finding the decoder may make one day"))


def test_an_oriented_jpeg_of_a_real_scan_is_graded_without_the_not_octa_heading(
        predictor: Predictor, scan: np.ndarray, tmp_path: Path) -> None:
    """The reviewer's case, on both tabs: the orientation is a note before the grade, the
    grade is not marked, and the batch's notes column says "Note:"."""

    from app.server import AppSettings, _grade_batch_now, _grade_single_now

    assert predictor.kind == "octa"
    files = _files(scan)
    paths = []
    for name in ("exif6.jpg", "tiff_orientation.tif", "profile.png"):
        path = tmp_path / name
        path.write_bytes(files[name][0])
        paths.append(str(path))
        markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(), str(path), None, name)
        assert label is not None, markdown
        assert "may not be a UW-OCTA" not in markdown and "see above" not in markdown, markdown
        (finding,) = [w for w in details["warnings"] if w.startswith(FILE_FINDING)]
        assert f"Note: {finding}" in markdown and files[name][1] in finding  # as said: no &#x27;
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), paths)
    for row, name in zip(rows, ("exif6.jpg", "tiff_orientation.tif", "profile.png"), strict=True):
        assert row[1] is not None and row[-1].startswith(f"Note: {FILE_FINDING}"), row
        assert files[name][1] in row[-1]
    assert "unlike the training images" not in summary
    notes = Path(notes_path).read_text(encoding="utf-8-sig")
    assert "Note: Image file: Exif Orientation 6" in notes


def test_a_png_named_dcm_is_graded_with_the_misnamed_note_on_the_api_too(
        predictor: Predictor, scan: np.ndarray, tmp_path: Path) -> None:
    """A review: a PNG saved as ``scan.dcm`` was graded by the page, the API and
    ``Predictor.predict_file`` without a word (``export --images`` refuses it: "rename it
    scan.png"), though a JPEG named ``.png`` had its note: now the same plain note, the fix to
    rename it."""
    from app.server import AppSettings, _grade_single_now

    path = tmp_path / "scan.dcm"
    path.write_bytes(_save(Image.fromarray(scan), "PNG"))
    said = ("a PNG file, though named .dcm (read as PNG: the content decides, in grading); rename it "
            "to .png (a tool that goes by the name may misread it)")
    pred = predictor.predict_file(path, gradcam=False)  # a script's, and the API's reading
    assert [w for w in pred.warnings if said in w] and all(is_plain_note(w) for w in pred.warnings
                                                          if w.startswith(FILE_FINDING)), pred.warnings
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(gradcam=False), str(path), None,
                                                       "scan.dcm")
    assert label is not None and [w for w in details["warnings"] if said in w], details
    assert f"Note: {FILE_FINDING}" in markdown, markdown


def test_two_notes_are_two_paragraphs(predictor: Predictor, scan: np.ndarray, tmp_path: Path) -> None:
    """A phone's JPEG often has an orientation and a colour profile: its two notes ran into one
    paragraph ("Note: ... Note: ..."), markdown joining consecutive lines."""
    from app.server import AppSettings, _grade_single_now

    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    path = tmp_path / "phone.jpg"
    path.write_bytes(_save(Image.fromarray(np.rot90(scan, 1)), "JPEG", quality=95, exif=_exif(6),
                           icc_profile=lab))
    markdown, label, _, _, _ = _grade_single_now(predictor, AppSettings(), str(path), None, "phone.jpg")
    assert label is not None and markdown.count("Note: Image file: ") == 2, markdown
    lines = markdown.splitlines()
    for at, line in enumerate(lines):
        if line.startswith("Note: "):
            assert lines[at + 1] == "" and (at == 0 or lines[at - 1] == ""), markdown


def test_a_file_of_several_pages_is_not_reliably_gradable(scan: np.ndarray, tmp_path: Path) -> None:
    from drac_ssl.grading.image_notes import flagged_reasons
    from drac_ssl.grading.predict import read_image

    pages = [Image.fromarray(scan), Image.fromarray(scan[: scan.shape[0] // 2, : scan.shape[1] // 2])]
    files = {"stack.tif": _save(pages[0], "TIFF", save_all=True, append_images=pages[1:]),
             "animated.png": _save(pages[0], "PNG", save_all=True, append_images=[Image.fromarray(scan[::-1])])}
    side, half = scan.shape[0], scan.shape[0] // 2
    for name, data in files.items():
        loaded = load_bytes(data, name, channels=1, kind="octa")
        (frames,) = [w for w in loaded.warnings if "with 2 frames: only the first is used" in w]
        assert not is_plain_note(frames), frames
        assert flagged_reasons("", loaded.warnings) == ["one page or frame of several graded"], loaded.warnings
        # the export reads the file with the same words and the same rule
        (tmp_path / name).write_bytes(data)
        notes: list[str] = []
        _, said = read_image(tmp_path / name, 1, kind="octa", notes=notes)
        assert flagged_reasons(False, [w.split(": ", 1)[1] for w in said]) == ["one page or frame of several graded"]
    (tiff,) = [w for w in load_bytes(files["stack.tif"], "s.tif").warnings if "frames" in w]
    assert f"(pages: {side}x{side}, {half}x{half} px)" in tiff, tiff
