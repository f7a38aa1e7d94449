"""A dependency audit (F2): blanket ``warnings.simplefilter("ignore")`` blocks around
scikit-learn's scores, MONAI's Grad-CAM and the backbone loads hid every warning inside them,
so a library's DeprecationWarning there never reached the tests (pyproject.toml makes them
errors). Each block now silences only what it exists for."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from drac_ssl.metrics import bootstrap_ci, undefined_scores_quiet
from drac_ssl.models import PartialLoadWarning, load_local_weights


def test_a_deprecation_inside_a_bootstrap_score_reaches_the_caller() -> None:
    def deprecated_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        warnings.warn("this call is deprecated", DeprecationWarning, stacklevel=2)
        return float(np.mean(y_true == y_pred))

    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    with pytest.warns(DeprecationWarning, match="this call is deprecated"):
        bootstrap_ci(y, y, deprecated_score, n_boot=3, seed=0)


def test_undefined_scores_stay_quiet_and_a_future_warning_does_not() -> None:
    from sklearn.exceptions import UndefinedMetricWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with undefined_scores_quiet():
            warnings.warn("one grade only: AUC undefined", UndefinedMetricWarning, stacklevel=1)
            warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
            warnings.warn("invalid value encountered in scalar divide", RuntimeWarning, stacklevel=1)
            warnings.warn("the default will change", FutureWarning, stacklevel=1)
    assert [w.category for w in caught] == [FutureWarning]


def test_undefined_scores_quiet_lets_every_other_runtime_warning_through() -> None:
    """A review (F4): the block silenced every RuntimeWarning, so an overflow in ``np.exp``, the
    mean of an empty slice or the bootstrap's CountedMetricWarning (a RuntimeWarning) inside it
    went unseen. Only a 0/0's words are silenced."""
    from drac_ssl.metrics import CountedMetricWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with undefined_scores_quiet():
            np.exp(np.array([1000.0]))
            np.mean(np.array([]))
            np.array([0.0]) / np.array([0.0])  # the undefined score: silent
            warnings.warn("the bootstrap's counted qwk differs", CountedMetricWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3 and [w.category for w in caught][-1] is CountedMetricWarning
    assert "overflow encountered in exp" in messages[0] and "Mean of empty slice" in messages[1]


def test_a_deprecation_while_monai_builds_the_gradcam_reaches_the_caller(monkeypatch) -> None:
    from app import gradcam

    class Deprecated:
        def __init__(self, nn_module: nn.Module, target_layers: str) -> None:
            warnings.warn("Not all target_layers exist in the network module", UserWarning, stacklevel=1)
            warnings.warn("target_layers will be renamed", DeprecationWarning, stacklevel=1)

    monkeypatch.setattr(gradcam, "_signed_gradcam_class", lambda: Deprecated)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradcam.signed_gradcam(nn.Linear(2, 2), "weight")
    assert [w.category for w in caught] == [DeprecationWarning]


def test_a_partial_load_warns_its_own_category(tmp_path) -> None:
    """The checks that load a backbone only to see that it fits (preflight, finetune's bank
    signatures) silence this category alone."""
    module = nn.Linear(2, 2)
    path = tmp_path / "with_head.pt"
    torch.save({**module.state_dict(), "fc.weight": torch.zeros(1)}, path)
    with pytest.warns(PartialLoadWarning, match="ignored 1 unexpected"):
        load_local_weights(module, path)
    assert issubclass(PartialLoadWarning, UserWarning)
