"""Equal probabilities read alike, in whole percentages, wherever they are shown (a trial:
0.005 / 0.005 / 0.99 was shown ``1%``, ``<1%``, ``99%``; a review: one-decimal tie texts were
wrong in the tenth and disagreed with the batch cells, bars and notes): where the rounding
together would split equal values, each is its own value rounded half up, and the figures then
add up to 99..101 for three grades, 98..102 for five."""

from __future__ import annotations

import itertools

import numpy as np

from app.predict import Prediction
from app.server import _label_value, percent_cells
from drac_ssl.figures import percent_texts, rounded_probabilities, tie_words, whole_percentages
from drac_ssl.grading.image_notes import decision_words


def test_equal_probabilities_get_the_same_whole_figure() -> None:
    assert whole_percentages([0.005, 0.005, 0.99]) == [1, 1, 99]  # 101: not 1 / 0 / 99
    assert percent_texts([0.005, 0.005, 0.99]) == ["1%", "1%", "99%"]
    assert percent_texts([0.455, 0.09, 0.455]) == ["46%", "9%", "46%"]
    assert percent_texts([1 / 3] * 3) == ["33%"] * 3  # 99
    assert percent_texts([1 / 7] * 4 + [3 / 7]) == ["14%"] * 4 + ["43%"]  # each within 0.5 of its value
    assert percent_texts([0.066] * 3 + [0.726, 0.076]) == ["7%"] * 3 + ["73%", "8%"]
    assert rounded_probabilities([1 / 3] * 3, 1000) == [333] * 3  # the notes CSV's thousandths too
    # no tie split by the rounding: as before, whole percentages adding up to 100
    assert percent_texts([0.034, 0.367, 0.599]) == ["3%", "37%", "60%"]
    assert percent_texts([0.996, 0.002, 0.002]) == [">99%", "<1%", "<1%"]
    assert percent_texts([0.004, 0.004, 0.992]) == ["<1%", "<1%", "99%"]  # 99: each below 1 reads <1%


def test_the_sum_stays_within_the_documented_bound() -> None:
    for k, n, most in ((3, 120, 1), (5, 30, 2)):
        for c in itertools.product(range(n + 1), repeat=k - 1):
            if sum(c) <= n:
                probs = [x / n for x in c] + [(n - sum(c)) / n]
                parts = whole_percentages(probs)
                assert abs(sum(parts) - 100) <= most, (probs, parts)
                assert all(parts[i] == parts[j] for i, j in itertools.combinations(range(k), 2)
                           if probs[i] == probs[j]), (probs, parts)


def test_the_widget_cells_and_words_say_the_same_figure() -> None:
    probs = np.array([0.455, 0.09, 0.455])
    pred = Prediction(name="x.png", grade=1, grade_name="NPDR", probs=probs,
                      heatmap=None, image=np.zeros((8, 8), np.uint8), seconds=0.0)
    value = _label_value(pred, ["Normal", "NPDR", "PDR"])
    assert value is not None and list(value["probabilities"]) == ["0 Normal: 46%", "1 NPDR: 9%", "2 PDR: 46%"]
    assert list(value["probabilities"].values()) == [0.46, 0.09, 0.46]  # the bars: the labels' figures
    assert percent_cells(probs) == [46, 9, 46]  # the batch table's cells
    assert tie_words(probs, [0, 2]) == "46% each"
    words = decision_words(probs, 1, ["Normal", "NPDR", "PDR"], "thresholds")
    assert words.startswith("0 Normal and 2 PDR are equally likely (46% each); "), words
