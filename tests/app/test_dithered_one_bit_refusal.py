"""A dithered 1-bit export is told as one, not as a damaged file (a QA test, F3).

A colour photograph saved as a 1-bit (dithered) PNG looks like random noise to the structure
check, and the app refused it with "looks like random noise ... it is damaged: export or copy it
again", advice that cannot mend it, while a grey 1-bit file got the specific "Only 2 grey levels
(...; a 1-bit file)". The few-levels check now comes before the noise words, in the app's
refusal and in the export's ``--skip-unreadable`` problem alike.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.inputs import load_bytes, refusal
from drac_ssl.grading.batch import nothing_to_grade_problem


def _dithered_photo() -> bytes:
    """A flat skin-coloured photo dithered to 1 bit by Pillow (Floyd-Steinberg)."""
    rgb = np.dstack([np.full((64, 64), v, np.uint8) for v in (150, 110, 90)])
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("1").save(buf, "PNG")
    return buf.getvalue()


def test_the_app_names_the_two_levels_of_a_dithered_1_bit_file_not_damage() -> None:
    for kind, channels, what in (("octa", 1, "UW-OCTA image"), ("fundus", 3, "colour fundus photograph")):
        image = load_bytes(_dithered_photo(), "d.png", channels=channels, kind=kind)
        said = refusal(image, kind, channels)
        assert said.startswith("`d.png` has only 2 grey levels (0 and 255; a 1-bit file) and its "
                               "neighbouring pixels are unrelated"), said
        assert f"a 1-bit (dithered) black-and-white export, not a {what}" in said
        assert "damaged" not in said and "random noise" not in said


def test_the_export_skips_it_in_the_same_terms() -> None:
    image = load_bytes(_dithered_photo(), "d.png", channels=1, kind="octa")
    problem = nothing_to_grade_problem("d.png", image.gray)
    assert problem is not None
    assert problem.what.startswith("only 2 grey levels (0 and 255), and its neighbouring pixels are unrelated")
    assert "a 1-bit (dithered) black-and-white export" in problem.what and "damaged" not in problem.fix
    # real noise keeps its words
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    assert nothing_to_grade_problem("n.png", noise).what.startswith("looks like random noise")  # type: ignore[union-attr]


def test_a_colour_and_a_grey_model_say_it_in_the_same_words() -> None:
    """Reviewer F5: the export on a colour model said "2 levels per colour channel (0 and 255)"
    of a 1-bit file's three identical channels and "a dithered black-and-white export", the app
    "2 grey levels"; both now say grey levels and "a 1-bit (dithered) black-and-white export"."""
    image = load_bytes(_dithered_photo(), "d.png", channels=3, kind="fundus")
    for pixels in (image.gray, np.dstack([image.gray] * 3)):
        problem = nothing_to_grade_problem("d.png", pixels)
        assert problem is not None
        assert problem.what.startswith("only 2 grey levels (0 and 255), and its neighbouring"), problem.what
        assert "a 1-bit (dithered) black-and-white export, with nothing to grade" in problem.what
    said = refusal(image, "fundus", 3)
    assert "a 1-bit (dithered) black-and-white export, not a colour fundus photograph" in said, said
