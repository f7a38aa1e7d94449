"""A JPEG missing only its final 2-byte end-of-image marker (EOI) was refused as truncated
(review formats F2), though its image data are all there (Pillow with
``LOAD_TRUNCATED_IMAGES`` decodes it as the complete file; this OpenCV, 5.0, returns no image
for it). It is decoded with a note when it is a single-scan sequential JPEG whose every block
libjpeg decodes without a warning once closed (``data_prep.decode.jpeg_only_eoi_missing``); a
byte more missing, a progressive file (cut at a scan boundary it would decode silently,
coarser) or a cut after a restart marker stay errors."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from data_prep import decode


@pytest.fixture()
def picture() -> np.ndarray:
    rng = np.random.default_rng(7)
    base = np.cumsum(np.cumsum(rng.normal(size=(64, 80)), 0), 1)
    base = (255 * (base - base.min()) / np.ptp(base)).astype(np.uint8)
    return np.dstack([base, np.roll(base, 3, 0), base // 2])


def _jpeg(picture: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def test_a_jpeg_missing_only_its_eoi_is_decoded_with_a_note(picture: np.ndarray) -> None:
    data = _jpeg(picture)
    assert data.endswith(b"\xff\xd9")
    full = decode.decode(data, "full.jpg")
    cut = decode.decode(data[:-2], "no_eoi.jpg")
    assert cut.pixels is not None, cut.problems
    np.testing.assert_array_equal(cut.pixels, full.pixels)
    assert [(p.severity, p.what) for p in cut.problems] == [("note", decode.JPEG_EOI_MISSING)]
    # what the review saw: Pillow's LOAD_TRUNCATED_IMAGES gives the same pixels (this OpenCV,
    # 5.0, returns no image for the file as it is: the decoder gives it the closed data)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data[:-2])).convert("RGB")), cut.pixels)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_image_data_cut_short_stay_truncated(picture: np.ndarray) -> None:
    data = _jpeg(picture)
    for cut in (3, 40):  # a byte of the image data gone: libjpeg warns once closed
        said = decode.decode(data[:-cut], "cut.jpg")
        assert said.pixels is None and [p.kind for p in said.problems] == ["truncated"], (cut, said.problems)
    progressive = _jpeg(picture, progressive=True)
    assert not decode.jpeg_only_eoi_missing(progressive[:-2])
    said = decode.decode(progressive[:-2], "prog.jpg")
    assert said.pixels is None and [p.kind for p in said.problems] == ["truncated"], said.problems
    ok, rst = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_RST_INTERVAL, 4])
    rst = rst.tobytes()
    last = max(rst.rfind(bytes([0xFF, m])) for m in range(0xD0, 0xD8))
    assert 0 < last < len(rst) - 2
    said = decode.decode(rst[:last + 2], "rst.jpg")  # cut just after a restart marker
    assert said.pixels is None and said.problems[0].kind == "truncated", said.problems
    assert decode.decode(rst[:-2], "rst_no_eoi.jpg").pixels is not None
