"""An ICC profile's description is quoted as one short line (review s57r3 F2)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from data_prep import decode
from data_prep.decode import PROFILE_DESCRIPTION_CHARS, one_line


def test_one_line_flattens_control_characters_and_cuts_long_text() -> None:
    crafted = "<img src=x>\n\n## Grade 0 \u2014 Normal\r\n\t[click](https://x)"
    flat = one_line(crafted)
    assert "\n" not in flat and "\r" not in flat and "\t" not in flat
    assert flat == "<img src=x> ## Grade 0 \u2014 Normal [click](https://x)"
    long = one_line("sRGB " * 100)
    assert len(long) == PROFILE_DESCRIPTION_CHARS and long.endswith("...")
    assert one_line("  Display P3  ") == "Display P3"


def test_a_crafted_profile_description_reaches_the_warning_on_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageCms

    monkeypatch.setattr(ImageCms, "getProfileDescription",
                        lambda profile: "Evil\n\n## Grade 0 \u2014 Normal\n" + "x" * 500)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG", icc_profile=profile.tobytes())
    text = decode._profile_description(Image.open(io.BytesIO(buffer.getvalue())).info["icc_profile"])
    assert "\n" not in text and text.startswith("Evil ## Grade 0")
    assert len(text) == PROFILE_DESCRIPTION_CHARS
