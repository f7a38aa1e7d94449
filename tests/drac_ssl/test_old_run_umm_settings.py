"""An upgrade review (F1): a run made by code from before umm.outer_ssl, umm.membership and
umm.max_ssl_rise existed (d7353f82, 2026-11-22: F = -Delta R, each image's two views, no guard)
was rerun or resumed from its resolved config.yaml with today's UMM objective, silently (its UMM
variant's QWK 0.36 -> 0.09), and compare showed the old side with today's defaults. Built here
as a fake old config.yaml (no old code is run)."""

from __future__ import annotations

from pathlib import Path

import yaml

from drac_ssl import preflight
from drac_ssl.compare import _with_defaults
from drac_ssl.config import RESOLVED_HEADER, Config, load_config, to_dict
from drac_ssl.train import _former_defaults_line

NEW_UMM = ("outer_ssl", "membership", "max_ssl_rise", "alpha", "rate_reduction_on", "outer_batch",
           "membership_temperature", "max_step_ratio", "start_from", "past_peak_drop")


def _old_config(tmp_path: Path) -> Path:
    """A resolved config.yaml as d7353f82 wrote it: today's settings less those added since."""
    settings = to_dict(Config())
    for key in NEW_UMM:
        del settings["umm"][key]
    del settings["finetune"]["keep"]
    path = tmp_path / "old" / "config.yaml"
    path.parent.mkdir()
    path.write_text("# Resolved drac_ssl configuration; rerun with: python -m drac_ssl.train -c THIS_FILE\n"
                    + yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    assert path.read_text(encoding="utf-8").startswith(RESOLVED_HEADER)
    return path


def test_an_old_runs_config_runs_the_umm_objective_that_code_ran(tmp_path: Path) -> None:
    path = _old_config(tmp_path)
    umm = load_config(path, ["run.name=fromold"]).umm
    assert (umm.outer_ssl, umm.membership, umm.max_ssl_rise) == (False, "pairs", 0.0)
    # the other UMM settings added since default to what that code did
    assert (umm.alpha, umm.rate_reduction_on, umm.outer_batch, umm.start_from) == (1.0, "features", "same", "best")
    # a hand-written file (no resolved header) gets today's defaults
    plain = tmp_path / "plain.yaml"
    plain.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    assert load_config(plain).umm.outer_ssl is True and load_config(plain).umm.membership == "soft"


def test_the_run_says_which_settings_it_filled_with_the_old_values(tmp_path: Path) -> None:
    path = _old_config(tmp_path)
    _, sources, _ = preflight.read_config(path, ["umm.membership=soft"])
    [line] = _former_defaults_line(sources)
    assert line.startswith("[train] config: the config.yaml was written by code from before ")
    assert "umm.outer_ssl=false" in line and "umm.max_ssl_rise=0.0" in line and "finetune.keep=best" in line
    assert "membership" not in line  # typed on the command line: today's value, as typed
    assert load_config(path, ["umm.membership=soft"]).umm.membership == "soft"
    _, sources, _ = preflight.read_config(None)  # no -c file: nothing filled
    assert _former_defaults_line(sources) == []


def test_compare_shows_the_old_side_with_the_values_it_ran_under(tmp_path: Path) -> None:
    saved = yaml.safe_load(_old_config(tmp_path).read_text(encoding="utf-8"))
    settings, defaulted = _with_defaults(saved)
    assert settings["umm.outer_ssl"] is False and settings["umm.membership"] == "pairs"
    assert settings["umm.max_ssl_rise"] == 0.0 and "umm.outer_ssl" in defaulted


def test_an_old_config_saved_with_a_byte_order_mark_is_said_so_too(tmp_path: Path) -> None:
    """Saved again by Notepad (a UTF-8 byte-order mark): load_config read past the mark and
    gave the old values, but the line saying so looked for the header at byte 0 and was not
    printed (a review of oldrun_fx, F2)."""
    path = _old_config(tmp_path)
    path.write_text("\ufeff" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_config(path).umm.outer_ssl is False
    _, sources, _ = preflight.read_config(path)
    [line] = _former_defaults_line(sources)
    assert "umm.outer_ssl=false" in line and "umm.max_ssl_rise=0.0" in line
