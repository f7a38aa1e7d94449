"""UMM's settings are checked from the package's two tables (docs/design.md, "Where a setting's
check goes"): ``drac_ssl.config._CHOICES`` for a choice, ``drac_ssl.config.UMM_RANGES`` for a
number's range. The preflight reads the tables, and so does the stage's own
``drac_ssl.umm.stage.check_settings``: these tests fail when the two drift apart (a setting
without a table line, a stage that checks its own copy of a range or a list of choices)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from drac_ssl import config
from drac_ssl.config import UMM_RANGES, ConfigError, UMMConfig

EXPLICIT = {"umm.batch_size": "checked in code: >= 2 with its reason (VICReg's variance)"}
"""Number settings of UMM that no range table line holds, each with where it is checked."""


def _umm_settings(*kinds: type) -> set[str]:
    hints = typing.get_type_hints(UMMConfig)
    return {f"umm.{f.name}" for f in dataclasses.fields(UMMConfig) if hints[f.name] in kinds}


def test_every_umm_number_has_a_range_and_every_umm_choice_its_choices() -> None:
    numbers = _umm_settings(int, float)  # bool is no int for the type hints
    ranged = {r.setting for r in UMM_RANGES}
    assert numbers - set(EXPLICIT) == ranged, (
        "every number setting of UMMConfig gets a line in config.UMM_RANGES (or an entry in "
        f"EXPLICIT, with where it is checked): missing {sorted(numbers - set(EXPLICIT) - ranged)}, "
        f"no such setting {sorted(ranged - numbers)}")
    chosen = {s for s in config._CHOICES if s.startswith("umm.")}
    assert _umm_settings(str) == chosen, "every text setting of UMMConfig is a choice of config._CHOICES"


def test_the_umm_modules_use_the_configs_choices() -> None:
    """The names the UMM modules check against are the config's own tuples, not copies."""
    from drac_ssl.losses import mcr2
    from drac_ssl.umm import bilevel, source, stage, step

    for module, name, setting in [
        (stage, "EARLY_CUTS", "umm.early_cut"), (stage, "INNER_OPTIMIZERS", "umm.inner_optimizer"),
        (stage, "OUTER_SIGNS", "umm.outer_sign"), (stage, "MEMBERSHIPS", "umm.membership"),
        (mcr2, "MEMBERSHIPS", "umm.membership"), (bilevel, "HYPERGRADIENTS", "umm.hypergradient"),
        (bilevel, "HVP_MODES", "umm.hvp"), (step, "OUTER_BATCHES", "umm.outer_batch"),
        (step, "RATE_REDUCTION_ON", "umm.rate_reduction_on"), (source, "START_RULES", "umm.start_from"),
    ]:
        assert getattr(module, name) is config._CHOICES[setting], (module.__name__, name)


def _outside(r: config.SettingRange) -> list[float]:
    below = r.low if r.strict else r.low - 1
    above = [] if r.high is None else [r.high if r.high_open else r.high + 1]
    return [below, *above]


@pytest.mark.parametrize("r", UMM_RANGES, ids=lambda r: r.setting)
def test_the_umm_stage_refuses_what_its_range_refuses_in_its_words(r: config.SettingRange) -> None:
    from drac_ssl.umm.stage import check_settings

    name = r.setting.removeprefix("umm.")
    kind = type(getattr(UMMConfig(), name))
    for value in _outside(r):
        value = kind(value)
        with pytest.raises(ConfigError) as caught:
            check_settings(dataclasses.replace(UMMConfig(), **{name: value}))
        assert str(caught.value) == f"config: {r.setting}={value} {r.words()}.\n  fix: {r.fix_words()}"
    if not r.strict:
        check_settings(dataclasses.replace(UMMConfig(), **{name: kind(r.low)}))  # the bound is in


@pytest.mark.parametrize("setting", [s for s in config._CHOICES if s.startswith("umm.")])
def test_the_umm_stage_takes_each_choice_and_refuses_any_other(setting: str) -> None:
    from drac_ssl.umm.stage import check_settings

    name, choices = setting.removeprefix("umm."), config._CHOICES[setting]
    for choice in choices:
        check_settings(dataclasses.replace(UMMConfig(), **{name: choice}))
    typo = choices[-1] + "x"  # the fix names the choice meant, not the first
    with pytest.raises(ConfigError) as caught:
        check_settings(dataclasses.replace(UMMConfig(), **{name: typo}))
    assert str(caught.value) == (f"config: {setting}={typo!r} is not one of {', '.join(choices)}.\n"
                                 f"  fix: {setting}={choices[-1]}")


@pytest.mark.parametrize("r", UMM_RANGES, ids=lambda r: r.setting)
def test_a_nan_or_inf_umm_number_is_said_not_finite_not_out_of_range(r: config.SettingRange) -> None:
    """``umm.alpha=inf must be >= 0`` contradicts itself (inf is >= 0): NaN and inf are said
    as load_config says them, by the stage's check and the preflight's alike."""
    from drac_ssl import preflight
    from drac_ssl.umm.stage import check_settings

    name = r.setting.removeprefix("umm.")
    for value in (float("inf"), float("-inf"), float("nan")):
        uc = dataclasses.replace(UMMConfig(), **{name: value})
        with pytest.raises(ConfigError) as caught:
            check_settings(uc)
        assert str(caught.value) == (f"config: '{r.setting}' is {value}, not a finite number: it "
                                     f"{r.words()}.\n  fix: {r.fix_words()}")
        said = [f.line for f in preflight.check(config.Config(umm=uc), "runs-that-do-not-exist/x", stages=["umm"])
                if f.setting == r.setting and f.severity == "error"]
        assert len(said) == 1 and f": not a finite number: it {r.words()}\n" in said[0], said
        assert said[0].endswith(f"fix: {r.fix_words()}"), said


def test_the_umm_stage_refuses_a_batch_of_one_image() -> None:
    """umm.batch_size has no range line (EXPLICIT): the stage's own check refuses a batch of
    one (VICReg's variance of one image is none) with the default as the fix, and takes 2."""
    from drac_ssl.umm.stage import check_settings

    with pytest.raises(ConfigError) as caught:
        check_settings(UMMConfig(batch_size=1))
    assert "umm.batch_size must be >= 2" in str(caught.value)
    assert str(caught.value).endswith("\n  fix: umm.batch_size=32 (the default)")
    check_settings(UMMConfig(batch_size=2))
    with pytest.raises(ConfigError, match=r"^config: 'umm.batch_size' is inf, not a finite number\.\n"):
        check_settings(UMMConfig(batch_size=float("inf")))  # type: ignore[arg-type]
