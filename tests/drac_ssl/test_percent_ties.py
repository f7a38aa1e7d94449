"""Equal probabilities read alike (a trial: 0.005 / 0.005 / 0.99 was shown ``1%``, ``<1%``,
``99%``), the shown figures still adding up to 100 for a tie of two."""

from __future__ import annotations

import numpy as np

from app.predict import Prediction
from app.server import _label_value
from drac_ssl.figures import percent_texts, tie_words, whole_percentages


def test_equal_probabilities_are_shown_alike() -> None:
    assert percent_texts([0.005, 0.005, 0.99]) == ["<1%", "<1%", "99%"]
    assert percent_texts([0.455, 0.09, 0.455]) == ["45.5%", "9%", "45.5%"]  # 45.5 + 9 + 45.5 = 100
    assert percent_texts([1 / 3] * 3) == ["33.3%"] * 3  # a tie of three: a tenth short, documented
    assert tie_words([0.455, 0.09, 0.455], [0, 2]) == "45.5% each"
    # no tie split by the rounding: as before, whole percentages adding up to 100
    assert percent_texts([0.034, 0.367, 0.599]) == ["3%", "37%", "60%"]
    assert percent_texts([0.996, 0.002, 0.002]) == [">99%", "<1%", "<1%"]
    assert whole_percentages([0.005, 0.005, 0.99]) == [1, 0, 99]  # the bars and CSVs: sum 100


def test_the_widget_labels_say_the_results_texts() -> None:
    pred = Prediction(name="x.png", grade=2, grade_name="PDR", probs=np.array([0.005, 0.005, 0.99]),
                      heatmap=None, image=np.zeros((8, 8), np.uint8), seconds=0.0)
    value = _label_value(pred, ["Normal", "NPDR", "PDR"])
    assert value is not None and list(value["probabilities"]) == ["0 Normal: <1%", "1 NPDR: <1%", "2 PDR: 99%"]
    assert sum(value["probabilities"].values()) == 1.0
