"""Equal probabilities read alike, in whole percentages, wherever they are shown (a trial:
0.005 / 0.005 / 0.99 was shown ``1%``, ``<1%``, ``99%``; a review: one-decimal tie texts were
wrong in the tenth and disagreed with the batch cells, bars and notes): where the rounding
together would split equal values, each is its own value rounded half up, and the figures then
add up to within floor(K/2) of 100 for K grades (99..101 for three grades, 98..102 for five),
and P(referable), the sum of the referable grades' figures, never contradicts them (a re-review:
0.01 / 0.495 / 0.495, shown 1% / 50% / 50%, read P(referable) ">99%")."""

from __future__ import annotations

import itertools
import random

import numpy as np

from app.predict import Prediction
from app.server import _label_value, percent_cells
from drac_ssl.figures import (
    percent_text,
    percent_texts,
    referable_percent_text,
    rounded_probabilities,
    tie_words,
    whole_percentages,
)
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


def test_the_sum_stays_within_half_the_grades_on_random_ties() -> None:
    """Any K (data.grades takes any): within floor(K/2) points of 100, thousandths of 1000."""
    rng = random.Random(7)
    worst = {}
    for total in (100, 1000):
        for k in range(2, 9):
            for _ in range(600):
                grid = rng.choice([40, 200, 2000, None])
                values = [rng.randint(0, grid) / grid if grid else rng.random() for _ in range(rng.randint(1, k - 1 or 1))]
                probs = [rng.choice(values) for _ in range(k)]
                if sum(probs) == 0:
                    continue
                parts = rounded_probabilities(probs, total)
                assert abs(sum(parts) - total) <= k // 2, (k, total, probs, parts)
                worst[k] = max(worst.get(k, 0), abs(sum(parts) - total))
    assert worst[3] == 1 and worst[5] == 2, worst  # the bound is reached, not loose


def test_p_referable_never_contradicts_the_figures_shown() -> None:
    # a milder grade shows 1% or more: at most 99%, though the referable figures add up to 100
    five = [0.0184] + [0.2454] * 4  # true 98.16%
    assert percent_texts(five) == ["2%"] + ["25%"] * 4 and sum(whole_percentages(five)[1:]) == 100
    assert referable_percent_text(five, 1) == "99%"
    assert percent_texts([0.01, 0.495, 0.495]) == ["1%", "50%", "50%"]
    assert referable_percent_text([0.01, 0.495, 0.495], 1) == "99%"  # true 99%
    # referable grades each shown <1% but adding up to 0.006: at least 1%
    assert percent_texts([0.994, 0.003, 0.003]) == [">99%", "<1%", "<1%"]
    assert referable_percent_text([0.994, 0.003, 0.003], 1) == "1%"
    # a grade's own figure is never contradicted; no contradiction, no change
    assert referable_percent_text([0.994, 0.003, 0.003], 2) == "<1%"  # the grade itself
    assert referable_percent_text([0.003, 0.003, 0.994, 0.0], 2) == ">99%"  # grade 2 alone shows >99%
    assert referable_percent_text([0.996, 0.002, 0.002], 1) == "<1%"  # true 0.4%
    assert referable_percent_text([0.002, 0.002, 0.996], 1) == ">99%"
    assert referable_percent_text([0.496, 0.010, 0.168, 0.158, 0.168], 2) == "50%"  # the shown sum


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


def test_p_referable_of_ties_from_grade_2_keeps_what_the_milder_grades_and_the_tail_say() -> None:
    # mutation audit M35: milder grades shown 0% / 0% yet 0.6 % together, so P(referable) is not 100 %
    assert referable_percent_text([0.003, 0.003, 0.497, 0.497], 2) == percent_text(99)
    # M34: the last grade alone reads as its own figure (shown <1%), not lifted to 1% by its 0.6 %
    assert referable_percent_text([0.497, 0.497, 0.006], 2) == percent_text(0)
