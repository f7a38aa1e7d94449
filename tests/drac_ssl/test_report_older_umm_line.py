"""An upgrade review (F2): report.md's UMM line for UMM weights made by code from before the
metadata recorded the objective (d7353f82: ``umm`` holds source, early_cut, tuned, weights)
said "Outer objective None, membership None, outer step on nothing; the guard (max SSL-loss
rise None) did not fire", though that code re-tuned layer4 and the expander and had no guard."""

from __future__ import annotations

from drac_ssl.report import _umm_line

OLD_INFO = {"source": "/runs/old/pretrain/vicreg_model.safetensors", "early_cut": "layer3",
            "tuned": ["layer4", "expander"], "weights": "last epoch"}
OLD_SETTINGS = {"enabled": True, "early_cut": "layer3", "use_rate_reduction": True, "outer_sign": "maximize"}


def test_the_umm_line_of_older_code_says_what_that_code_did() -> None:
    line = _umm_line(OLD_INFO, OLD_SETTINGS)
    assert "None" not in line and "nothing" not in line and "did not fire" not in line
    assert line == ("UMM was made by older code, whose metadata.json records no start rule and no objective; "
                    "that code's outer objective was F = -Delta R alone (umm.outer_sign=maximize), "
                    "membership pairs (each image's two views), with no guard. Re-tuned: layer4, "
                    "expander; output: last epoch.")
    assert "F = +Delta R" in _umm_line(OLD_INFO, {**OLD_SETTINGS, "outer_sign": "minimize"})
    assert "no outer step" in _umm_line(OLD_INFO, {**OLD_SETTINGS, "use_rate_reduction": False})
    # settings that name outer_ssl (not that code) or none: the objective is only said unrecorded
    unknown = _umm_line(OLD_INFO, {**OLD_SETTINGS, "outer_ssl": True})
    assert "pairs" not in unknown and "records no start rule and no objective. Re-tuned: layer4" in unknown
    assert _umm_line(OLD_INFO) == unknown


NEW_INFO = {"start": {"rule": "peak", "reason": "r", "epoch": 3}, "outer_objective": "F = -Delta R",
            "membership": "pairs", "outer_step_groups": ["layer4"], "weights": "last epoch"}


def test_a_guard_of_max_ssl_rise_0_is_said_off_not_unfired() -> None:
    """A rerun of an old config (umm.max_ssl_rise=0 from config.DEFAULTS_BEFORE): the guard is
    checked only when > 0 (drac_ssl.umm.stage), so the line said it "did not fire" of a guard
    that was off."""
    off = _umm_line({**NEW_INFO, "guard": {"max_ssl_rise": 0.0, "max_step_ratio": 0.0, "fired": False}})
    assert "no guard (umm.max_ssl_rise=0: off)." in off and "did not fire" not in off
    on = _umm_line({**NEW_INFO, "guard": {"max_ssl_rise": 0.1, "max_step_ratio": 0.0, "fired": False}})
    assert "the guard (max SSL-loss rise 0.1) did not fire." in on
    ratio = _umm_line({**NEW_INFO, "guard": {"max_ssl_rise": 0, "max_step_ratio": 2.0, "fired": False}})
    assert "the guard (umm.max_ssl_rise=0: off; max step ratio 2.0) did not fire." in ratio
