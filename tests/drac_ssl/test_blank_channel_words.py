"""The export's words for a blank colour image name each channel, as the app's do (a QA test, F4).

``export --skip-unreadable`` said of a 1x1 red pixel "blank or near-constant (pixel values
0..128, std 60.3)": the range and the spread were across its channels, not over the picture,
while the app said "red 128..128, green 0..0, blue 0..0".
"""

from __future__ import annotations

import numpy as np

from drac_ssl.grading.batch import blank_range_words, nothing_to_grade_problem


def test_a_blank_colour_pixel_is_said_per_channel() -> None:
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 128
    problem = nothing_to_grade_problem("one.png", red)
    assert problem is not None
    assert problem.what.startswith("blank or near-constant (pixel values: red 128..128, green 0..0, "
                                   "blue 0..0, std 0.0): there is nothing to grade"), problem.what


def test_grey_and_equal_channels_keep_one_range() -> None:
    assert blank_range_words(np.full((8, 8), 7, np.uint8)) == "grey levels 7..7, std 0.0"
    assert blank_range_words(np.full((8, 8, 3), 7, np.uint8)) == "pixel values 7..7, std 0.0"
