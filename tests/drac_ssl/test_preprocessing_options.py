"""A fundus preprocessing option (``data.fundus_crop``, ``data.graham`` ...) is mirrored by
hand in about ten files, from the ingest's flag to the replay on an upload
(docs/design.md, "Adding a preprocessing option"). These guard tests check that every place
names the same options, with the same defaults, and that the two backward-compatibility
rules hold; a place left out trains on preprocessed images and grades uploads without it.

The one list they start from is :data:`drac_ssl.scale.DEFAULT_PREPROCESSING`."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import ingest
from data_prep.cache import CacheOptions
from data_prep.layout import Layout
from data_prep.problems import CLI_TO_CONFIG
from drac_ssl import finetune
from drac_ssl.config import DataConfig
from drac_ssl.grading.bundle import (
    PREPROCESSING_REFERENCES,
    fundus_preprocessing_words,
    preprocessing_references,
)
from drac_ssl.grading.model import InputSpec
from drac_ssl.scale import DEFAULT_PREPROCESSING, read_ingest_facts

OPTIONS = tuple(DEFAULT_PREPROCESSING)
"""Every option, in the order the ingest records them."""

DERIVED = {"graham_reflect_padding": lambda cfg: cfg.fundus_crop and cfg.graham}
"""Options the ingest derives from the settings (``ingest._plan``): no ``data.*`` setting, no
flag; each with how it follows from the :class:`DataConfig`. A new derived option goes here."""

SETTINGS = tuple(key for key in OPTIONS if key not in DERIVED)
"""The options a person sets: ``data.<key>`` and an ingest flag."""

REQUIRES = {"graham_mask": ("graham",), "graham_reflect_padding": ("fundus_crop", "graham")}
"""Options that only modify another (their words and their effect need it on). Every other
option is a step of its own: on by itself, it is replayed on an upload and named in every
description of the preprocessing."""

STEPS = tuple(key for key in OPTIONS if key not in REQUIRES)

CACHE_NOT_OPTIONS = {"target", "expected_side", "grey_is_chosen"}
""":class:`CacheOptions` fields that are not fundus options (channels, the UW-OCTA size check,
the wording of a chosen grey conversion)."""
SPEC_NOT_OPTIONS = {"channels", "source_size", "image_size", "recipe", "mean", "std", "crop_scale"}
""":class:`InputSpec` fields that are not fundus options."""

CACHE_STATE_BEFORE_OPTIONS = {"target", "expected_side", "fundus_crop", "graham", "graham_mask"}
"""The keys of a cache state written before any later option existed: such a state reads as
equal to today's (:meth:`CacheOptions.changes_from`), so these caches are not rebuilt."""
METADATA_BEFORE_OPTIONS = {"fundus_crop", "graham", "graham_mask"}
"""The keys of ``ingest_preprocessing`` in bundles made before any later option existed: an
option added since is recorded only when on, so their ``metadata.json`` stays equal."""


def flipped(key: str) -> dict[str, bool]:
    """The options with ``key`` away from its default and what it needs on, the rest default."""
    return {**DEFAULT_PREPROCESSING, **{k: True for k in REQUIRES.get(key, ())},
            key: not DEFAULT_PREPROCESSING[key]}


def spec(**options: bool) -> InputSpec:
    return InputSpec(channels=3, source_size=32, image_size=24, recipe="fundus",
                     mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), **options)


def defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def ingest_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_prep ingest")
    ingest.add_arguments(parser)
    return parser


def flag_of(parser: argparse.ArgumentParser, key: str) -> argparse.Action:
    """The ingest's flag that sets ``data.<key>`` (its argparse destination is the key)."""
    actions = [a for a in parser._actions if a.dest == key]
    assert len(actions) == 1, (
        f"data_prep/ingest.py add_arguments: the preprocessing option {key!r} needs one flag with "
        f"dest={key!r} (found {len(actions)}); see docs/design.md, adding a preprocessing option")
    return actions[0]


def test_every_place_names_the_same_options_with_the_same_defaults() -> None:
    """CacheOptions, InputSpec and DataConfig hold each option under its name, defaulting to
    DEFAULT_PREPROCESSING's value (off: the cache as it was, the upload as it was)."""
    cache = {k: v for k, v in defaults(CacheOptions).items() if k not in CACHE_NOT_OPTIONS}
    assert cache == DEFAULT_PREPROCESSING, (
        "data_prep/cache.py CacheOptions and drac_ssl/scale.py DEFAULT_PREPROCESSING disagree "
        "(a field that is not an option belongs in this test's CACHE_NOT_OPTIONS)")
    input_spec = {k: v for k, v in defaults(InputSpec).items() if k not in SPEC_NOT_OPTIONS}
    assert input_spec == DEFAULT_PREPROCESSING, (
        "drac_ssl/grading/model.py InputSpec and drac_ssl/scale.py DEFAULT_PREPROCESSING disagree")
    data = defaults(DataConfig)
    assert {k: data.get(k) for k in SETTINGS} == {k: DEFAULT_PREPROCESSING[k] for k in SETTINGS}, (
        "drac_ssl/config.py DataConfig lacks an option of DEFAULT_PREPROCESSING, or its default differs")
    assert not set(DERIVED) & set(data), "a derived option is no data.* setting"


def test_every_data_setting_that_changes_the_cache_is_an_option(tmp_path: Path) -> None:
    """Each option reaches the cache (``ingest._plan``), derived ones as DERIVED says; and no
    other ``data.*`` switch changes how a row is made unless DEFAULT_PREPROCESSING lists it."""
    layout = Layout("aptos", tmp_path, tmp_path, None, None)
    base = ingest._plan(DataConfig(), layout, [32])[0].options
    for name, value in defaults(DataConfig).items():
        if not isinstance(value, bool):
            continue
        options = ingest._plan(DataConfig(**{name: not value}), layout, [32])[0].options
        changed = {k for k in OPTIONS if getattr(options, k) != getattr(base, k)}
        if name in SETTINGS:
            assert name in changed, f"data_prep/ingest.py _plan: data.{name} does not reach CacheOptions"
        else:
            assert not changed, (f"data.{name} changes the cache's {sorted(changed)}; if it is a "
                                 f"preprocessing option, add it to DEFAULT_PREPROCESSING")
    for key, rule in DERIVED.items():
        for on in (dict.fromkeys(SETTINGS, True), {**DEFAULT_PREPROCESSING, key: False}):
            cfg = DataConfig(**{k: on[k] for k in SETTINGS})
            assert getattr(ingest._plan(cfg, layout, [32])[0].options, key) == bool(rule(cfg)), key


def test_the_ingest_flags_set_each_option_and_name_it_in_the_pipeline() -> None:
    """Each setting has its flag (argparse dest = the key), ``config_from_args`` passes it on,
    and ``CLI_TO_CONFIG`` says it as the setting for ``python -m drac_ssl.train``."""
    parser = ingest_parser()
    required = ["--root", "r", "--out", "o"]
    plain = ingest.config_from_args(parser.parse_args(required))
    for key in SETTINGS:
        action = flag_of(parser, key)
        flag = action.option_strings[0]
        assert action.default == DEFAULT_PREPROCESSING[key] and action.nargs == 0, flag
        cfg = ingest.config_from_args(parser.parse_args([*required, flag]))
        assert getattr(cfg, key) is not DEFAULT_PREPROCESSING[key], (
            f"data_prep/ingest.py config_from_args does not pass {flag} on to data.{key}")
        assert dataclasses.replace(cfg, **{key: getattr(plain, key)}) == plain, flag
        said = f"data.{key}={'false' if DEFAULT_PREPROCESSING[key] else 'true'}"
        assert CLI_TO_CONFIG.get(flag) == said, f"data_prep/problems.py CLI_TO_CONFIG: {flag!r}: {said!r}"
    for action in parser._actions:  # every switch reaches the config (none dropped by hand)
        if action.nargs == 0 and not isinstance(action, argparse._HelpAction):
            cfg = ingest.config_from_args(parser.parse_args([*required, action.option_strings[0]]))
            assert cfg != plain, f"config_from_args drops {action.option_strings[0]}"


def test_compatibility_rules_keep_older_caches_and_bundles_equal() -> None:
    """An option added later leaves older caches and bundles equal (docs/design.md: existing
    caches are not rebuilt, older bundles' metadata stays equal). The cache state keeps every
    key (so that a key missing from an old state is told apart from one switched off), and
    :meth:`CacheOptions.changes_from` reads a state written before the later options as that
    run had them: nothing differs. The bundle's ``ingest_preprocessing`` has a later option's
    key only when on."""
    assert CACHE_STATE_BEFORE_OPTIONS <= set(CacheOptions().state())
    for before in ({"target": "gray", "expected_side": 1024},  # a DRAC cache
                   {"target": "gray", "expected_side": 0, "grey_is_chosen": True},  # grey fundus
                   {"target": "native", "expected_side": 0}):  # a colour set
        now = CacheOptions(**before)
        old = {k: v for k, v in now.state().items() if k in CACHE_STATE_BEFORE_OPTIONS}
        assert now.changes_from(old) == [], (
            "data_prep/cache.py CacheOptions.changes_from: an older state must read as equal", before)
    assert CacheOptions(expected_side=0).changes_from(CacheOptions().state()) == [
        "expected image size 1024 -> none"]
    assert set(spec().ingest_preprocessing) == METADATA_BEFORE_OPTIONS, (
        "drac_ssl/grading/model.py InputSpec.ingest_preprocessing: a new option's key only when on")
    for key in OPTIONS:
        options = flipped(key)
        assert CacheOptions(**options).state()[key] == options[key], key
        assert spec(**options).ingest_preprocessing[key] == options[key], key


@pytest.mark.parametrize("key", OPTIONS)
def test_each_option_is_recorded_read_back_and_replayed(key: str) -> None:
    """A model trained with the option grades uploads with it: the bundle's input section
    reads back to the same spec, and the spec's cache options (the replay) carry it; fine-tuning
    and ``from_metadata`` read the recorded options through ``with_ingest_preprocessing``."""
    options = flipped(key)
    trained = spec(**options)
    assert InputSpec.from_metadata(trained.to_metadata()) == trained
    assert spec().with_ingest_preprocessing(trained.ingest_preprocessing) == trained
    assert spec().with_ingest_preprocessing({**options, "words": ["x"], "reference": "y"}) == trained
    replay = trained.cache_options()
    assert {k: getattr(replay, k) for k in OPTIONS} == options
    if key in STEPS:
        assert trained.replays_fundus_preprocessing, (
            f"drac_ssl/grading/model.py InputSpec.replays_fundus_preprocessing ignores {key}")


@pytest.mark.parametrize("key", STEPS)
def test_each_step_is_named_wherever_the_preprocessing_is_said(key: str) -> None:
    """The ingest's words, the bundle's input section, the report and model card's words and
    the app's name a step that is on."""
    from app.server import _resize_words

    on = flipped(key)
    assert ingest._preprocessing_words(DataConfig(**{key: True}), [], 1), "ingest._preprocessing_words"
    assert fundus_preprocessing_words(on, {}) != "none", "bundle.fundus_preprocessing_words"
    assert spec(**on).to_metadata()["preprocessing"] != spec().to_metadata()["preprocessing"], (
        "InputSpec.to_metadata")
    assert _resize_words(spec(**on)) != _resize_words(spec()), "app/server.py _resize_words"


def test_each_step_names_its_own_source() -> None:
    """The model card cites the source of each step that is on (Graham's for the crop and the
    filter), never one step's source for another: every step has its entry in
    drac_ssl/grading/model_card.py PREPROCESSING_REFERENCES ("" when it has none)."""
    assert set(PREPROCESSING_REFERENCES) == set(STEPS), (
        "drac_ssl/grading/model_card.py PREPROCESSING_REFERENCES: one entry per step")
    for key in STEPS:
        assert preprocessing_references({key: True}) == PREPROCESSING_REFERENCES[key], key
    assert preprocessing_references(DEFAULT_PREPROCESSING) == ""


def test_finetune_copies_the_recorded_options_without_naming_them() -> None:
    """``finetune.run`` takes the ingest's options through ``with_ingest_preprocessing`` (all of
    DEFAULT_PREPROCESSING's keys); an option named in drac_ssl/finetune.py would be a hand copy
    that a new option can miss."""
    source = Path(inspect.getsourcefile(finetune)).read_text(encoding="utf-8")  # type: ignore[arg-type]
    named = sorted({node.value for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.Constant) and node.value in OPTIONS})
    assert named == [], f"drac_ssl/finetune.py names {named}: copy them with with_ingest_preprocessing"
    assert "with_ingest_preprocessing(data.preprocessing)" in inspect.getsource(finetune.run)


def test_the_ingest_records_every_option_and_reads_it_back(tmp_path: Path) -> None:
    """``ingest_summary.json`` records each option as applied (every setting away from its
    default here, so the derived ones are on too), and :func:`read_ingest_facts` reads them.
    The console's summary names the layout as people write it ("APTOS", not ``aptos``)."""
    root = tmp_path / "aptos"  # an APTOS 2019 folder: train.csv + train_images/
    (root / "train_images").mkdir(parents=True)
    for i in range(4):
        image = np.zeros((40, 48, 3), np.uint8)
        cv2.circle(image, (24, 20), 16, (180, 90 + 20 * i, 50), -1)
        cv2.imwrite(str(root / "train_images" / f"i{i}.png"), image)
    (root / "train.csv").write_text("id_code,diagnosis\n" + "".join(f"i{i},{i % 2}\n" for i in range(4)))
    settings = {k: not DEFAULT_PREPROCESSING[k] for k in SETTINGS}
    cfg = DataConfig(root=str(root), cache_sizes=[16], n_folds=2, workers=1, **settings)
    result = ingest.run(cfg, tmp_path / "data", verbose=False)
    assert f"ingest summary: APTOS layout, {root}" in ingest.format_summary(result)
    recorded = json.loads((tmp_path / "data" / "ingest_summary.json").read_text())["preprocessing"]
    assert set(recorded) - {"words", "reference"} == set(OPTIONS), recorded
    expected = {**settings, **{k: bool(rule(cfg)) for k, rule in DERIVED.items()}}
    facts = read_ingest_facts(tmp_path / "data")
    assert facts.preprocessing == {k: expected[k] for k in OPTIONS}, (
        "data_prep/ingest.py _summary: the 'preprocessing' section must record every option")
