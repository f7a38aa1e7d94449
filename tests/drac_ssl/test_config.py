"""The one configuration system: defaults -> YAML -> command-line overrides, with clear errors."""

import os
import re
from pathlib import Path

import pytest

from drac_ssl.config import Config, ConfigError, from_dict, load_config, save_config, to_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, Config)


def test_drac_recipe_defaults() -> None:
    cfg = load_config(CONFIGS / "drac.yaml")
    assert cfg.pretrain.optimizer == "adam"
    assert cfg.pretrain.lr == pytest.approx(0.015)
    assert cfg.pretrain.weight_decay == pytest.approx(1e-4)
    assert cfg.pretrain.batch_size == 32
    assert cfg.pretrain.patience == 5
    assert cfg.pretrain.augment.image_size == 224
    assert cfg.pretrain.backbone.in_channels == 1


def test_overrides_apply_after_yaml_and_parse_types() -> None:
    cfg = load_config(
        CONFIGS / "drac.yaml",
        ["data.root=/tmp/DRAC data", "pretrain.lr=0.01", "pretrain.augment.crop_scale=[0.5, 1.0]",
         "data.strict=true", "data.cache_sizes=128,256"],
    )
    assert cfg.data.root == "/tmp/DRAC data"
    assert cfg.pretrain.lr == pytest.approx(0.01)
    assert cfg.pretrain.augment.crop_scale == [0.5, 1.0]
    assert cfg.data.strict is True
    assert cfg.data.cache_sizes == [128, 256]


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'pretrain.lrr'.*Did you mean 'pretrain.lr'"):
        load_config(None, ["pretrain.lrr=0.1"])


def test_bad_value_type_says_which_key() -> None:
    with pytest.raises(ConfigError, match=r"pretrain.epochs' must be an integer"):
        load_config(None, ["pretrain.epochs=ten"])


def test_bad_value_type_gets_a_fix_with_a_value_that_works(tmp_path: Path) -> None:
    cases = {"pretrain.lr=abc": "'pretrain.lr' must be a number, got 'abc'.\n  fix: pretrain.lr=0.015 (the default)",
             "pretrain.epochs=2.5": "'pretrain.epochs' must be an integer, got 2.5.\n  fix: pretrain.epochs=100 (the default)",
             "umm.enabled=maybe": "fix: umm.enabled=true (the default)",
             "data.cache_sizes=abc,1": "fix: data.cache_sizes=[256,512] (the default)",
             "pretrain.expander=[1, 2]": "fix: pretrain.expander=128-128-128 (the default)"}
    for override, expected in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config(None, [override])
        assert expected in str(info.value)
        fixed = str(info.value).split("fix: ")[1].split(" (the default)")[0]
        load_config(None, [fixed])  # the fix loads
    # an empty default (the phantom set for data.root) is no fix for a wrong value: a placeholder
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  root: [a, b]\n")
    with pytest.raises(ConfigError, match=r"fix: data.root=<a path>, or leave it out for the default \(empty\)"):
        load_config(bad)


def test_a_setting_without_its_section_suggests_the_settings_of_that_name(tmp_path: Path) -> None:
    top = tmp_path / "top.yaml"
    top.write_text("run:\n  name: a\nstages: [ingest]\n")
    with pytest.raises(ConfigError, match=r"top.yaml:3: unknown setting 'stages'. Did you mean 'run.stages'\?"):
        load_config(top)
    with pytest.raises(ConfigError, match=r"Did you mean 'pretrain.lr' or 'finetune.lr'\?"):
        load_config(None, ["lr=0.1"])


def test_bad_choice_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"pretrain.optimizer='rmsprop' is not one of adam"):
        load_config(None, ["pretrain.optimizer=rmsprop"])
    # a typo gets the choice it was meant to be, not the first (default) one
    with pytest.raises(ConfigError, match=r"fix: pretrain.augment.recipe=fundus"):
        load_config(None, ["pretrain.augment.recipe=fundas"])


def test_yaml_error_points_at_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  root: /x\npretrain:\n  epochz: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:4: unknown setting 'pretrain.epochz'"):
        load_config(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("data:\n  root: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: not valid YAML"):
        load_config(broken)


def test_a_config_not_in_utf8_names_the_line_and_the_byte(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("data:\n  n_folds: 2\n  root: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(latin)
    assert str(info.value) == f"{latin}:3: not UTF-8 (byte 0xe9).\n  fix: save the file as UTF-8."


def test_an_unclosed_quote_or_bracket_is_reported_where_it_opens(tmp_path: Path) -> None:
    quote = tmp_path / "quote.yaml"
    quote.write_text('data:\n  root: "/x\npretrain:\n  epochs: 3\n')
    with pytest.raises(ConfigError, match=r"quote.yaml:2: not valid YAML \(the quoted value that starts "
                                          r"on this line is not closed"):
        load_config(quote)
    bracket = tmp_path / "bracket.yaml"
    bracket.write_text("data:\n  cache_sizes: [64\npretrain:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"bracket.yaml:2: not valid YAML \(the '\[' list that starts "
                                          r"on this line is not closed"):
        load_config(bracket)


def test_a_list_written_as_one_value_or_left_open_gets_the_fix_that_keeps_it(tmp_path: Path) -> None:
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("data:\n  cache_sizes: 64\n")
    with pytest.raises(ConfigError, match=r"(?s)scalar.yaml:2: 'data.cache_sizes' must be a list, got 64\."
                                          r"\n  fix: data.cache_sizes=\[64\] \(a list, even of one value; "
                                          r"the default is \[256,512\]\)"):
        load_config(scalar)
    with pytest.raises(ConfigError, match=r"fix: data.cache_sizes=\[64\] \(a list"):
        load_config(None, ["data.cache_sizes=64"])
    # a (min, max) pair is not a list of one: the default shows its shape
    with pytest.raises(ConfigError, match=r"fix: finetune.crop_scale=\[0.6,1.0\] \(the default\)"):
        load_config(None, ["finetune.crop_scale=0.5"])
    for text, said in (("[64", "closed: '[64' has no closing ']'"),
                       ("[64,128", "closed: '[64,128' has no closing ']'"),
                       ("64]", "opened: '64]' has no opening '['")):
        with pytest.raises(ConfigError) as info:
            load_config(None, [f"data.cache_sizes={text}"])
        assert str(info.value) == (f"command line 'data.cache_sizes={text}': 'data.cache_sizes' is a list "
                                   f"that is not {said}.\n  fix: data.cache_sizes="
                                   f"[{text.strip('[]')}]")


def test_missing_file_and_bad_override_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is not an override"):
        load_config(None, ["pretrain.lr"])


def test_run_name_must_be_a_plain_folder_name_in_out_dir() -> None:
    with pytest.raises(ConfigError, match=r"(?s)'\.\./\.\./escape' holds a path separator, so the run "
                                          r"folder would be /tmp/escape, outside run.out_dir=/tmp/t9/runs.*"
                                          r"fix: run.name=escape; .* run.out_dir=/tmp run.name=escape"):
        load_config(None, ["run.out_dir=/tmp/t9/runs", "run.name=../../escape"])
    for name in ("sub/run", "/abs/run", ".."):
        with pytest.raises(ConfigError, match="not a path"):
            load_config(None, [f"run.name={name}"])
    for path in sorted(CONFIGS.glob("*.yaml")):  # the shipped names are plain
        assert "/" not in load_config(path).run.name


@pytest.mark.parametrize("name, fixed", [("12:30", "12-30"), ("a<b>", "a-b-"), ('say"hi"', "say-hi-"),
                                         ("a|b", "a-b"), ("what?", "what-"), ("run*", "run-")])
def test_run_name_with_a_character_windows_refuses_is_refused_on_every_system(
        tmp_path: Path, name: str, fixed: str) -> None:
    """A review: run.name=12:30 made a run folder on Linux and would be an OSError traceback on
    Windows, which refuses <>:"|?* in a file name. Refused everywhere, so a run folder can be
    copied between systems, with the name those characters replaced by '-' as the fix."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, [f"run.name={name}"])
    message = str(caught.value)
    assert f"{name!r} holds " in message and "Windows" in message, message
    assert f"fix: run.name={fixed}" in message, message
    from drac_ssl import preflight
    from drac_ssl.config import run_name_problem

    cfg, sources, findings = preflight.read_config(None, [f"run.name={name}"])
    assert findings == [] and cfg.run.name == name  # read as typed, then refused by the check
    (found,) = [f for f in preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["ingest"])
                if f.setting == "run.name"]
    assert found.severity == "error" and "Windows" in found.what, found

    what, fix = run_name_problem(name, "runs")
    assert what and fix == f"run.name={fixed}"
    assert run_name_problem(fixed, "runs") == ("", "")


def test_a_shipped_config_named_from_another_folder_gets_its_name_and_a_word_on_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:  # not loaded in its place: its data.root would miss
        load_config("configs/mnist.yaml")
    message = str(info.value)
    assert f"configs/mnist.yaml: config file not found (looked for from the current folder, {tmp_path})" in message
    assert f"fix: -c mnist (the package's own mnist.yaml, {CONFIGS / 'mnist.yaml'})" in message
    assert "(data.root: ../shared/data/mnist) are read from the current folder too" in message
    assert f"run the command from {CONFIGS.parent}, or add data.root={os.path.normpath(CONFIGS.parent / '../shared/data/mnist')}" in message
    # no shipped file of that name: the example is one that exists from here
    with pytest.raises(ConfigError, match="fix: pass an existing file with -c, e.g. -c drac$"):
        load_config("sub/nope.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)


def test_saved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "cifar10.yaml", ["pretrain.epochs=7"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = load_config(path)
    assert to_dict(again) == to_dict(cfg)
    assert from_dict(to_dict(cfg)) == cfg


def test_finetune_settings_that_were_constants_have_their_old_defaults() -> None:
    ft = Config().finetune
    assert ft.crop_scale == [0.6, 1.0] and ft.frozen_train_views == 4
    assert ft.mlp_hidden == 256 and ft.conv_head_channels == 128 and ft.n_boot == 1000
    cfg = load_config(CONFIGS / "drac.yaml", ["finetune.crop_scale=[0.7, 1]", "finetune.n_boot=200",
                                              "finetune.mlp_hidden=64", "finetune.conv_head_channels=32",
                                              "finetune.frozen_train_views=2"])
    assert cfg.finetune.crop_scale == [0.7, 1.0] and cfg.finetune.n_boot == 200
    assert (cfg.finetune.mlp_hidden, cfg.finetune.conv_head_channels, cfg.finetune.frozen_train_views) == (64, 32, 2)
    assert cfg.pretrain.augment.crop_scale == [0.3, 1.0]  # a different setting of the same name


def test_bad_type_points_at_the_key_in_its_own_section(tmp_path: Path) -> None:
    # crop_scale and epochs exist under pretrain too: the line must be the finetune one
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  epochs: 3\n  augment:\n    crop_scale: [0.3, 1.0]\n"
                   "finetune:\n  epochs: 2\n  crop_scale: wide\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:7: 'finetune.crop_scale\[0\]' must be a number"):
        load_config(bad)
    bad.write_text("pretrain:\n  epochs: 3\nfinetune:\n  head: mlp\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:5: 'finetune.epochs' must be an integer"):
        load_config(bad)
    bad.write_text("finetune:\n  n_boot: lots\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: 'finetune.n_boot' must be an integer"):
        load_config(bad)


def test_bad_type_line_found_under_a_folder_named_with_an_apostrophe(tmp_path: Path) -> None:
    # the setting is the first quoted word after the file's name, not a piece of its path (a review)
    folder = tmp_path / "O'Neil données"
    folder.mkdir()
    bad = folder / "bad.yaml"
    bad.write_text("run:\n  name: a\npretrain:\n  epochs: many\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert str(caught.value).startswith(f"{bad}:4: 'pretrain.epochs' must be an integer")


def test_compile_setting_takes_yaml_booleans_and_auto_means_cuda_only() -> None:
    import torch

    from drac_ssl.runtime import use_compile

    assert load_config(None, []).pretrain.compile == "auto"
    assert load_config(None, ["pretrain.compile=true"]).pretrain.compile == "true"  # YAML bool
    assert load_config(None, ["pretrain.compile=False"]).pretrain.compile == "false"
    with pytest.raises(ConfigError, match="pretrain.compile"):
        load_config(None, ["pretrain.compile=sometimes"])
    with pytest.raises(ConfigError, match="checkpoint_every"):
        load_config(None, ["pretrain.checkpoint_every=0"])
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert (use_compile("auto", cpu), use_compile("auto", cuda)) == (False, True)
    assert (use_compile("true", cpu), use_compile("false", cuda)) == (True, False)


def test_stem_stride_needs_the_cifar_stem_and_says_the_fix() -> None:
    with pytest.raises(ConfigError, match="fix: pretrain.backbone.cifar_stem=true"):
        load_config(None, ["pretrain.backbone.stem_stride=2"])
    with pytest.raises(ConfigError, match="must be 1 or 2"):
        load_config(None, ["pretrain.backbone.cifar_stem=true", "pretrain.backbone.stem_stride=3"])
    cfg = load_config(None, ["pretrain.backbone.cifar_stem=true", "pretrain.backbone.stem_stride=2"])
    assert cfg.pretrain.backbone.stem_stride == 2


def test_data_missing_is_a_checked_choice() -> None:
    """data.missing: error (the default: a label row without its image stops the ingest) or
    leave_out (a partial download: such rows are left out, on the record)."""
    assert Config().data.missing == "error"
    assert load_config(None, ["data.missing=leave_out"]).data.missing == "leave_out"
    with pytest.raises(ConfigError, match=r"data.missing='skip' is not one of error, leave_out"):
        load_config(None, ["data.missing=skip"])
    with pytest.raises(ConfigError, match=r"fix: data.missing=leave_out"):
        load_config(None, ["data.missing=leave-out"])


def test_data_ungradable_is_a_checked_choice() -> None:
    """data.ungradable: error (the default: an empty or NA grade stops the ingest) or leave_out."""
    assert Config().data.ungradable == "error"
    assert load_config(None, ["data.ungradable=leave_out"]).data.ungradable == "leave_out"
    with pytest.raises(ConfigError, match=r"data.ungradable='drop' is not one of error, leave_out"):
        load_config(None, ["data.ungradable=drop"])
    with pytest.raises(ConfigError, match=r"fix: data.ungradable=leave_out"):  # the typo's meaning
        load_config(None, ["data.ungradable=leave-out"])


ICDR = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
DRAC = ["Normal", "NPDR", "PDR"]


@pytest.mark.parametrize(("value", "names", "cut"), [
    ("auto", ICDR, 2),  # the ICDR scale: referable DR = moderate NPDR or worse
    ("auto", DRAC, None),  # DRAC's scale has no standard referable cut
    ("auto", ["a", "b", "c", "d", "e"], None),  # five grades, not the ICDR ones
    ("1", DRAC, 1), ("2", DRAC, 2), ("3", ICDR, 3),
    ("off", ICDR, None), ("false", ICDR, None),  # a bare false is a boolean, held as "false"
    # two grades: grade 1 is the cut (an OCTA researcher's finetune.referable_from=1 was
    # silently ignored, leaving a two-grade run without the referable figures), off stays off
    ("1", ["no referable DR", "referable DR"], 1),
    ("auto", ["no referable DR", "referable DR"], 1),
    ("off", ["no referable DR", "referable DR"], None),
])
def test_referable_from_resolves_on_the_data_scale(value: str, names: list[str], cut: int | None) -> None:
    from drac_ssl.config import referable_cut

    assert referable_cut(value, names) == cut


def test_referable_from_is_a_setting_of_the_fine_tuning() -> None:
    assert Config().finetune.referable_from == "auto"
    assert load_config(None, ["finetune.referable_from=off"]).finetune.referable_from == "off"  # YAML 1.2
    assert load_config(None, ["finetune.referable_from=false"]).finetune.referable_from == "false"
    assert load_config(None, ["finetune.referable_from=2"]).finetune.referable_from == "2"
    with pytest.raises(ConfigError, match=r"finetune\.referable_from='maybe'.*\n  fix: finetune\.referable_from=auto"):
        load_config(None, ["finetune.referable_from=maybe"])
    with pytest.raises(ConfigError, match=r"finetune\.referable_from='0'"):
        load_config(None, ["finetune.referable_from=0"])


@pytest.mark.parametrize(("value", "names", "words"), [
    ("3", DRAC, r"finetune\.referable_from=3 is outside 1\.\.2 on the data's drac scale \(0 Normal, 1 NPDR, 2 PDR\)"),
    ("5", ICDR, r"outside 1\.\.4 on the data's icdr scale \(0 No DR, 1 Mild, 2 Moderate, 3 Severe, 4 PDR\)"),
    ("2", ["a", "b"], r"outside 1\.\.1 on the data's 2-grade scale \(0 a, 1 b\)"),
])
def test_referable_from_outside_the_scale_is_an_error_naming_it(value: str, names: list[str], words: str) -> None:
    from drac_ssl.config import referable_cut

    with pytest.raises(ConfigError, match=words + r"[\s\S]*fix: finetune\.referable_from="):
        referable_cut(value, names)


def test_without_the_repository_configs_a_command_without_c_is_refused_and_fixes_name_real_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # an install that lost its configs: PACKAGE_CONFIGS points into site-packages, where none is
    import drac_ssl.config as config_module
    from drac_ssl import train
    from drac_ssl.umm import cli as umm_cli

    gone = tmp_path / "site-packages" / "configs"
    monkeypatch.setattr(config_module, "PACKAGE_CONFIGS", gone)
    monkeypatch.chdir(tmp_path)
    checkpoint = tmp_path / "vicreg_model.safetensors"
    checkpoint.write_bytes(b"")
    for main, argv in ((train.main, []), (umm_cli.main, [str(checkpoint)])):
        assert main(argv) == 2  # not the built-in Config() defaults run in its place
        err = capsys.readouterr().err
        assert f"{gone / 'default.yaml'}: the default config file is missing" in err
        assert config_module.NO_CONFIGS_WHY in err
        assert "fix: pass a config file with -c FILE" in err and "pip install -e ." in err
        assert "Traceback" not in err
    for bad in ("sub/nope.yaml", tmp_path):  # a missing file, a folder: no fix naming site-packages
        with pytest.raises(ConfigError) as info:
            load_config(bad)
        assert str(gone) not in str(info.value) and "configs/drac.yaml in the drac_ssl checkout" in str(info.value)


def test_a_string_for_a_list_setting_from_python_is_read_as_the_command_line_reads_it() -> None:
    from drac_ssl.config import DataConfig, validate_grades

    assert DataConfig(grades="icdr").grades == ["icdr"]  # the named scale, not grades i, c, d, r
    assert DataConfig(grades="Normal,NPDR,PDR").grades == load_config(None, ["data.grades=Normal,NPDR,PDR"]).data.grades
    validate_grades(DataConfig(grades="icdr").grades)
    assert DataConfig(cache_sizes="64").cache_sizes == [64]
    with pytest.raises(ConfigError, match=r"DataConfig: 'data.cache_sizes\[0\]' must be an integer, got 'big'"):
        DataConfig(cache_sizes="big")
    with pytest.raises(ConfigError, match="'data.cache_sizes' must be a list, got 64"):
        DataConfig(cache_sizes=64)


def test_a_key_written_twice_in_one_mapping_names_the_key_and_both_lines(tmp_path: Path) -> None:
    p = tmp_path / "twice.yaml"
    p.write_text("run:\n  name: a\npretrain:\n  epochs: 3\n  lr: 0.1\n  epochs: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert str(p) in msg and "pretrain.epochs" in msg and "lines 4 and 6" in msg and "fix:" in msg
    # the same key in two different mappings is no repeat
    p.write_text("pretrain:\n  epochs: 3\nfinetune:\n  epochs: 4\n")
    assert (load_config(p).pretrain.epochs, load_config(p).finetune.epochs) == (3, 4)
    # a top-level section written twice
    p.write_text("pretrain:\n  epochs: 3\nrun:\n  name: a\npretrain:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"'pretrain' .*lines 1 and 5"):
        load_config(p)


@pytest.mark.parametrize("text", ["", "# nothing set yet\n\n# still nothing\n"])
def test_an_empty_config_file_is_an_error_not_the_full_size_defaults(tmp_path: Path, text: str) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"config file is empty.*\n  fix: pass a config with "
                       r"settings, e.g. -c default \(the shipped default\.yaml\), or write"):
        load_config(p)


def test_the_head_choices_are_the_grading_heads() -> None:
    """config keeps finetune.head's choices as a literal (importing drac_ssl.grading.model
    would make every config read import torch): a head added to HEADS must be added there."""
    from drac_ssl import config
    from drac_ssl.grading.model import HEADS

    assert set(config._CHOICES["finetune.head"]) == set(HEADS)


@pytest.mark.parametrize("text", ["42\n", "- pretrain\n- finetune\n", "just words\n"])
def test_a_config_whose_top_level_is_not_a_mapping_says_what_it_is_and_the_fix(
        tmp_path: Path, text: str) -> None:
    """A bad-input review: a YAML whose top level is a scalar or a list said only "the top
    level must be a mapping", with no fix; the fix now shows sections as YAML (valid when
    pasted)."""
    import yaml

    p = tmp_path / "scalar.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(p)
    said = str(refused.value)
    assert said.startswith(f"{p}: the top level is ") and "not a mapping of sections" in said
    what, _, fix = said.partition("\n  fix: ")
    block = fix.split("\n", 1)[1]
    assert isinstance(yaml.safe_load(block), dict), fix  # the example is valid YAML sections


# inf and NaN are no values of a number setting: NaN passed every "<= 0" check, inf every
# lower bound (an audit: pretrain.lr=nan, pretrain.epochs=inf, umm.alpha=nan ran).
@pytest.mark.parametrize("override, words", [
    ("pretrain.lr=nan", "it must be > 0"),
    ("finetune.lr=inf", "it must be > 0"),
    ("pretrain.lr=.inf", "it must be > 0"),
    ("pretrain.epochs=inf", "it must be > 0"),
    ("umm.alpha=nan", "it must be >= 0"),
    ("umm.alpha=-inf", "it must be >= 0"),
    ("finetune.label_fraction=NaN", "it must be > 0 and <= 1"),
])
def test_inf_and_nan_are_refused_with_the_range_and_a_fix(tmp_path: Path, override: str, words: str) -> None:
    from drac_ssl import preflight

    setting, value = override.split("=")
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    value = value.lstrip(".")  # YAML's .inf is the float inf
    assert message.startswith(f"command line '{override}': '{setting}' is {value}, not a finite "
                              f"number: {words}"), message
    assert f"\n  fix: {setting}=" in message
    _, _, problems = preflight.read_config(None, [override])
    assert len(problems) == 1 and "not a finite number" in problems[0].line
    path = tmp_path / "c.yaml"
    section, key = setting.split(".")
    path.write_text(f"{section}:\n  {key}: {override.split('=')[1]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"c.yaml:2: '{setting}' is {value}, not a finite number"):
        load_config(path)


def test_a_range_never_holds_inf_or_nan() -> None:
    from drac_ssl.config import SettingRange

    r = SettingRange("pretrain.lr", 0, strict=True)
    assert r.holds(0.5) and not r.holds(float("inf")) and not r.holds(float("nan"))
    assert not SettingRange("umm.alpha", 0).holds(float("-inf"))


def test_umm_alpha_is_a_checked_weight_of_at_least_0() -> None:
    """alpha weighs Delta R in F = L_ssl - alpha * Delta R (methods.md section 2); 0 is the fair
    control, and umm.outer_sign=minimize, not a negative alpha, flips its sign."""
    from drac_ssl import preflight
    from drac_ssl.config import UMMConfig
    from drac_ssl.umm.stage import check_settings

    cfg, sources, _ = preflight.read_config(None, ["umm.alpha=-1"])
    (found,) = [f for f in preflight.setting_problems(cfg, sources) if f.setting == "umm.alpha"]
    assert found.what.startswith("must be >= 0"), found.what
    assert "umm.outer_sign=minimize" in found.what and found.fix == "umm.alpha=1.0 (the default)"
    for alpha in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="umm.alpha"):
            check_settings(UMMConfig(alpha=alpha))
    check_settings(UMMConfig(alpha=0.0))


@pytest.mark.parametrize("override", ["run.stages=[]", "run.stages="])
def test_no_stage_at_all_is_an_error_naming_the_stages(tmp_path: Path, override: str) -> None:
    """run.stages=[] exited 0 having done nothing, and hid every other error (the preflight
    checks the stages that run)."""
    from drac_ssl import preflight

    every = "run.stages=[ingest,pretrain,umm,finetune,export]"
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert "run.stages is empty: no stage would run" in str(caught.value)
    assert "ingest, pretrain, umm, finetune, export" in str(caught.value)
    assert f"fix: {every}" in str(caught.value)
    cfg, sources, _ = preflight.read_config(None, [override, "pretrain.lr=-1"])
    found = {f.setting: f.line for f in preflight.check(cfg, tmp_path / "x", sources) if f.severity == "error"}
    assert "empty: no stage would run" in found["run.stages"] and every in found["run.stages"]
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  stages: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="run.stages is empty"):
        load_config(path)


def test_a_fix_suggests_the_loaded_files_value_not_the_built_in_default(tmp_path: Path) -> None:
    """-c configs/retinamnist.yaml pretrain.epochs=-1 was told pretrain.epochs=100 (the built-in
    default, the 224 px GPU recipe's), not the 20 of the file the user chose: a fix now suggests
    the value of the -c file as loaded before the overrides, naming it; the built-in default
    where the file does not set the setting, or where the file's own value is the bad one."""
    from drac_ssl import preflight

    retina = CONFIGS / "retinamnist.yaml"
    in_file = f"(as in {retina})"
    with pytest.raises(ConfigError, match=rf"fix: pretrain\.epochs=20 {re.escape(in_file)}"):
        load_config(retina, ["pretrain.epochs=abc"])  # a reading error of the override
    cfg, sources, _ = preflight.read_config(retina, ["pretrain.epochs=-1", "finetune.epochs=0",
                                                     "umm.alpha=-1", "data.n_folds=1"])
    fixes = {f.setting: f.fix for f in preflight.setting_problems(cfg, sources)}
    assert fixes["pretrain.epochs"] == f"pretrain.epochs=20 {in_file}", fixes
    assert fixes["finetune.epochs"] == f"finetune.epochs=15 {in_file}", fixes
    assert fixes["umm.alpha"] == "umm.alpha=1.0 (the default)", fixes  # the file does not set it
    assert fixes["data.n_folds"] == "data.n_folds=5 (the default)", fixes  # the file's 5 is the default
    refusal = preflight.reading_refusal(retina, ["pretrain.epochs=-1", "run.bogus=1"])
    assert f"fix: pretrain.epochs=20 {in_file}" in refusal, refusal
    # the file's own value is the bad one: the built-in default
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("pretrain:\n  epochs: -1\n  lr: abc\n", encoding="utf-8")
    cfg, sources, findings = preflight.read_config(bad_file, [])
    assert "fix: pretrain.lr=0.015 (the default)" in findings[0].line, findings[0].line
    fixes = {f.setting: f.fix for f in preflight.setting_problems(cfg, sources)}
    assert fixes["pretrain.epochs"] == "pretrain.epochs=100 (the default)", fixes
    # no -c: the built-in default, as before
    cfg, sources, _ = preflight.read_config(None, ["pretrain.epochs=-1"])
    assert {f.setting: f.fix for f in preflight.setting_problems(cfg, sources)}["pretrain.epochs"] == (
        "pretrain.epochs=100 (the default)")


def test_a_list_override_split_by_the_shell_at_its_spaces_says_to_quote_it() -> None:
    """data.grades=[No DR, Mild] typed without quotes arrives as the words 'data.grades=[No',
    'DR,' and 'Mild]': the fix said data.grades=[No] and called the other words no overrides.
    Now the words are taken together and the fix quotes the whole override."""
    from drac_ssl import preflight

    words = ["data.grades=[No", "DR,", "Mild]", "pretrain.epochs=3"]
    quoted = "'data.grades=[No DR, Mild]'"
    cfg, _, findings = preflight.read_config(None, words)
    assert len(findings) == 1, [f.line for f in findings]
    assert "split at its spaces" in findings[0].line and f"fix: quote the whole override, e.g. {quoted}" in (
        findings[0].line), findings[0].line
    assert "is not an override" not in findings[0].line and cfg.pretrain.epochs == 3
    with pytest.raises(ConfigError, match=re.escape(quoted)):
        load_config(None, words)
    # a list left open to the end: the words that follow, closed
    _, _, findings = preflight.read_config(None, ["data.grades=[No", "DR,", "Mild", "run.name=x"])
    assert len(findings) == 1 and "e.g. 'data.grades=[No DR, Mild]'" in findings[0].line, findings[0].line


def test_a_cache_size_fix_never_offers_an_invalid_size(tmp_path: Path) -> None:
    """data.cache_sizes=-1 was told data.cache_sizes=[-1], and data.cache_sizes=[-1] was told
    pretrain.augment.source_size=-1, or data.cache_sizes=[-1, 128]: the fix offered the bad
    size back."""
    from drac_ssl import preflight

    with pytest.raises(ConfigError) as caught:
        load_config(None, ["data.cache_sizes=-1"])
    assert "fix: data.cache_sizes=" in str(caught.value) and "-1" not in str(caught.value).split("fix:")[1]
    assert "fix: data.cache_sizes=[64]" in str(pytest.raises(ConfigError, load_config, None, ["data.cache_sizes=64"]).value)
    cfg, sources, _ = preflight.read_config(CONFIGS / "default.yaml", ["data.cache_sizes=[-1]"])
    errors = [f for f in preflight.check(cfg, tmp_path / "run", sources) if f.severity == "error"]
    assert errors and all("-1" not in f.fix for f in errors), [f.line for f in errors]
    assert any(f.setting == "data.cache_sizes" for f in errors)


@pytest.mark.parametrize(("override", "meant"), [
    ("train.lr=0.1", ("pretrain.lr", "finetune.lr")),  # a misspelt section: every section with lr
    ("lr=0.1", ("pretrain.lr", "finetune.lr")),
    ("data.epochs=3", ("pretrain.epochs", "umm.epochs", "finetune.epochs")),  # the wrong section
    ("umm.image_size=32", ("pretrain.augment.image_size", "finetune.image_size", "umm.batch_size")),
    ("pretrain.seed=1", ("finetune.seed", "run.seed")),
    ("pretrain.lrr=0.1", ("pretrain.lr",)),  # a typo in the right section: as before
])
def test_a_known_setting_at_the_wrong_level_names_every_section_that_has_it(
        override: str, meant: tuple[str, ...]) -> None:
    from drac_ssl.config import UnknownSettingError

    with pytest.raises(UnknownSettingError) as caught:
        load_config(None, [override])
    assert caught.value.meant == meant, str(caught.value)
    said = ", ".join(repr(m) for m in meant[:-1]) + " or " * (len(meant) > 1) + repr(meant[-1])
    assert f"Did you mean {said}?" in str(caught.value)


@pytest.mark.parametrize(("argv", "fix"), [
    (["--pretrain.lr=0.1"], "pretrain.lr=0.1"),
    (["--pretrain.lr", "0.1"], "pretrain.lr=0.1"),
    (["--lr=0.1", "-c", "x.yaml"], "pretrain.lr=0.1 or finetune.lr=0.1"),
    (["--epochs", "3"], "pretrain.epochs=3, umm.epochs=3 or finetune.epochs=3"),
])
def test_an_override_written_as_an_option_gets_the_override_as_the_fix(
        argv: list[str], fix: str, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.commands import train_parser

    with pytest.raises(SystemExit) as stop:
        train_parser().parse_intermixed_args(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and "section.key=value, without dashes" in err, err
    assert f"fix: {fix}" in err, err


@pytest.mark.parametrize(("argv", "fix"), [
    (["--pretrain.lrr=0.1"], "pretrain.lr=0.1"),
    (["--pretrain.lrr", "0.1"], "pretrain.lr=0.1"),
    (["--finetune.epoch=3", "-c", "x.yaml"], "finetune.epochs=3"),
])
def test_an_unknown_setting_written_as_an_option_gets_the_did_you_mean_and_the_fix(
        argv: list[str], fix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m drac_ssl.train --pretrain.lrr=0.1`` got argparse's bare "unrecognized
    arguments" while ``--pretrain.lr=0.1`` got the fix, and load_config says both: the command
    now says what is wrong without the dashes too (an unknown setting, its did-you-mean and
    fix), before torch loads (:func:`drac_ssl.commands.refuse_train_early`)."""
    from drac_ssl.commands import refuse_train_early

    with pytest.raises(SystemExit) as stop:
        refuse_train_early(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {argv[0]}" in err and "section.key=value, without dashes" in err, err
    setting = argv[0].lstrip("-").partition("=")[0]
    assert f"unknown setting '{setting}'. Did you mean '{fix.partition('=')[0]}'?" in err, err
    assert f"fix: {fix}" in err, err


def test_an_unknown_option_that_names_no_setting_stays_argparse_s_own_refusal(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--verbose`` is an option the command does not have, not a setting with dashes: argparse's
    line, without a word on overrides."""
    from drac_ssl.commands import train_parser

    with pytest.raises(SystemExit):
        train_parser().parse_intermixed_args(["--verbose"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --verbose" in err and "without dashes" not in err, err


def test_c_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """-c a.yaml -c b.yaml read b.yaml alone, silently: one config file is read."""
    from drac_ssl.commands import train_parser
    from drac_ssl.umm import cli as umm_cli

    for parse in (lambda argv: train_parser().parse_intermixed_args(argv),
                  lambda argv: umm_cli.main(["RUN", *argv])):
        with pytest.raises(SystemExit) as stop:
            parse(["-c", "configs/mnist.yaml", "pretrain.epochs=1", "--config", "configs/cifar10.yaml"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "--config given twice (configs/mnist.yaml, then configs/cifar10.yaml)" in err, err


def test_a_setting_given_two_values_on_the_command_line_is_said_in_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pretrain.epochs=3 ... pretrain.epochs=5: the last silently won. It still wins (a base
    list of overrides with one appended to change it is a common way to build a command), and
    the commands now say so in a warning; the same value twice means one thing: nothing said."""
    from drac_ssl import preflight
    from drac_ssl.umm import cli as umm_cli

    words = ["pretrain.epochs=3", "run.name=a", "pretrain.epochs=5"]
    assert load_config(None, words).pretrain.epochs == 5
    cfg, _, findings = preflight.read_config(None, words)
    assert cfg.pretrain.epochs == 5 and len(findings) == 1, [f.line for f in findings]
    assert findings[0].severity == "warning" and findings[0].line == (
        "pretrain.epochs=5 (command line 'pretrain.epochs=5'): given twice on the command line, "
        "'pretrain.epochs=3' then 'pretrain.epochs=5': the last is used\n     fix: keep one: pretrain.epochs=5")
    assert preflight.read_config(None, ["run.name=a", "run.name=a"])[2] == []
    assert preflight.reading_refusal(None, words) == ""  # a warning refuses nothing
    # python -m drac_ssl.umm prints it and goes ahead (here to its checkpoint, not a real one)
    checkpoint = tmp_path / "vicreg_model.safetensors"
    checkpoint.write_bytes(b"")
    umm_cli.main([str(checkpoint), "--run-dir", str(tmp_path / "run"), "umm.alpha=0", "umm.alpha=0.5"])
    assert ("[umm] warning: umm.alpha=0.5 (command line 'umm.alpha=0.5'): given twice on the command "
            "line, 'umm.alpha=0' then 'umm.alpha=0.5': the last is used") in capsys.readouterr().out


@pytest.mark.parametrize(("override", "fix"), [
    ("data.image_colum=file", "\n  fix: data.image_column=file"),
    ("lr=0.1", "\n  fix: pretrain.lr=0.1 or finetune.lr=0.1"),
    ("pretrain.augmnt.recipe=fundus", "\n  fix: pretrain.augment.recipe=fundus"),
    ("pretrain.augmnt=x", "\n  fix: a setting of pretrain.augment, pretrain.augment.<setting>=x (its "
                          "settings: recipe, image_size"),
    ("run.bogus=1", "\n  fix: one of the valid keys above, or leave it out (every setting, its "
                    "default and meaning: drac_ssl/config.py"),
])
def test_an_unknown_setting_says_how_to_fix_it(override: str, fix: str) -> None:
    """A review: an unknown setting's error had no "fix:" line, as every other config error has:
    the setting meant with the value typed, or where the settings are listed."""
    from drac_ssl import preflight

    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert fix in str(caught.value), str(caught.value)
    (finding,) = preflight.read_config(None, [override])[2]
    assert "     fix: " in finding.line, finding.line


def test_an_unknown_setting_in_a_file_gets_the_yaml_it_meant_as_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  root: ''\n  image_colum: file name\nstages: [ingest]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: unknown setting 'data.image_colum'"), message
    assert message.endswith("\n  fix: write it as\n    data:\n      image_column: file name"), message
    path.write_text("stages: [ingest]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).endswith("\n  fix: write it as\n    run:\n      stages: [ingest]"), str(caught.value)


@pytest.mark.parametrize("argv", [["--threads", "2", "run.threads=3"], ["run.threads=3", "--threads", "2"]])
def test_threads_given_as_the_option_and_as_an_override_warns_with_both_values(argv: list[str]) -> None:
    """A review: --threads 2 run.threads=3 warned "run.threads=2 ... given twice on the command
    line, 'run.threads=3' then 'run.threads=2': the last is used", quoting an override never
    typed and an order that was not the user's. --threads still wins wherever each stands; the
    warning now names both as typed and which one is used."""
    from drac_ssl import preflight
    from drac_ssl.commands import train_overrides, train_parser

    overrides = train_overrides(train_parser().parse_intermixed_args(argv))
    assert load_config(None, overrides).run.threads == 2
    cfg, _, findings = preflight.read_config(None, overrides)
    assert cfg.run.threads == 2 and len(findings) == 1, [f.line for f in findings]
    assert findings[0].severity == "warning"
    assert findings[0].line == (
        "run.threads=2 (command line '--threads 2'): given as --threads 2 and as run.threads=3 on "
        "the command line: --threads 2 is used (the option wins, wherever each stands)\n"
        "     fix: keep one: --threads 2, or run.threads=3 alone"), findings[0].line
    same = train_overrides(train_parser().parse_intermixed_args(["--threads", "2", "run.threads=2"]))
    assert preflight.read_config(None, same)[2] == []  # one value: nothing to say


@pytest.mark.parametrize(("override", "fix"), [
    ("--run.name=x", "run.name=x"),
    ("-pretrain.lr=0.1", "pretrain.lr=0.1"),
    ("--lr=0.1", "pretrain.lr=0.1 or finetune.lr=0.1"),
])
def test_an_override_with_dashes_from_python_is_refused_as_the_command_line_refuses_it(
        override: str, fix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: load_config(None, ["--run.name=x"]) took it as run.name=x, while the commands
    refuse --run.name=x (settings are overrides, not options) with the override as the fix: the
    same refusal, in the same words, now comes from load_config and read_config."""
    from drac_ssl import preflight
    from drac_ssl.commands import train_parser

    with pytest.raises(SystemExit):
        train_parser().parse_intermixed_args([override])
    said = capsys.readouterr().err
    assert "section.key=value, without dashes (not options)" in said and f"fix: {fix}" in said, said
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert str(caught.value) == (f"command line '{override}': settings are overrides written "
                                 f"section.key=value, without dashes (not options).\n  fix: {fix}")
    (finding,) = preflight.read_config(None, [override, "run.name=y"])[2]
    assert "without dashes" in finding.line and finding.severity == "error", finding.line


@pytest.mark.parametrize("written, text", [("010", "010"), ("12:30", "12:30"), ("1_000", "1_000"),
                                           ("等级", "等级"), ("'x' # a comment", "x")])
def test_an_unknown_setting_in_a_file_is_fixed_with_its_value_as_written(
        tmp_path: Path, written: str, text: str) -> None:
    """A review: 'image_colum: 010' was told 'fix: ... image_column: 8' (and 12:30 750, 1_000
    1000, 等级 "\\u7B49\\u7EA7"): the fix dumped PyYAML's YAML 1.1 reading of the value, while
    image_column: 010 is read as the text '010'. The fix now writes the value as the file does,
    so that following it sets what was typed."""
    from drac_ssl import preflight

    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  image_colum: {written}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    kept = written.split(" #")[0]
    assert message.endswith(f"\n  fix: write it as\n    data:\n      image_column: {kept}"), message
    (finding,) = preflight.read_config(path)[2]
    assert f"image_column: {kept}" in finding.line, finding.line
    path.write_text(f"data:\n  image_column: {kept}\n", encoding="utf-8")  # the fix, followed
    assert load_config(path).data.image_column == text


def test_an_unknown_setting_whose_value_spans_lines_is_renamed_or_moved_with_its_value_untouched(
        tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  unlabeled:\n    - /a\n    - 010\nstages:\n  - ingest\n", encoding="utf-8")
    from drac_ssl import preflight

    lines = [f.line for f in preflight.read_config(path)[2]]
    assert lines[0].startswith(f"{path}:2: unknown setting 'data.unlabeled'"), lines
    assert lines[0].endswith("fix: rename unlabeled to unlabelled, its value as written"), lines
    assert lines[1].endswith("fix: move stages into the run section, its value as written"), lines


def test_an_unknown_setting_s_fix_is_written_as_the_place_it_was_typed_in(tmp_path: Path) -> None:
    """A review: a misspelt section in a file ('pretrian: 3') got a command-line fix
    (pretrain.<setting>=3), and a command-line fix with a space (data.image_colum=file name) was
    not quoted for the shell, which splits it. A file gets the YAML block, the command line one
    word, quoted as the other fixes are ('data.grades=[No DR, Mild]')."""
    path = tmp_path / "c.yaml"
    path.write_text("pretrian: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    # the section's settings as PretrainConfig lists them (a new field changes the text, not the test)
    import dataclasses

    from drac_ssl.config import PretrainConfig

    listed = f"(its settings: {', '.join(f.name for f in dataclasses.fields(PretrainConfig))})"
    assert f"\n  fix: a setting of pretrain, written under it {listed}" in message, message
    assert message.endswith(f"{listed}\n    pretrain:\n      <setting>: 3"), message
    assert "pretrain.<setting>" not in message, message
    path.write_text("pretrain:\n  augmnt: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).endswith("\n    pretrain:\n      augment:\n        <setting>: 3"), str(caught.value)
    path.write_text("pretrian:\n  epochz: 3\n  lrr: 1\n", encoding="utf-8")  # a section, misspelt
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"\n  fix: rename it pretrain {listed}" in str(caught.value), str(caught.value)
    for override, fix in (("data.image_colum=file name", "'data.image_column=file name'"),
                          ("lr=1 e", "'pretrain.lr=1 e' or 'finetune.lr=1 e'"),
                          ("data.image_colum=file", "data.image_column=file"),
                          ("--run.name=my run", "'run.name=my run'")):
        with pytest.raises(ConfigError) as caught:
            load_config(None, [override])
        assert str(caught.value).endswith(f"\n  fix: {fix}"), str(caught.value)


@pytest.mark.parametrize(("override", "said", "fix"), [
    ("--pretrain.lrr=0.1", "unknown setting 'pretrain.lrr'. Did you mean 'pretrain.lr'?", "pretrain.lr=0.1"),
    ("--foo=1", "unknown setting 'foo'.", "one of the valid keys above, or leave it out"),
    ("-=3", "no key before '='", "write it section.key=value, e.g. pretrain.lr=3"),
    ("--pretrain=3", "'pretrain' must be a mapping of settings", "give its settings one by one"),
])
def test_a_dashed_override_that_is_no_setting_without_its_dashes_says_that_too(
        override: str, said: str, fix: str) -> None:
    """A review: --pretrain.lrr=0.1 was refused with 'fix: pretrain.lrr=0.1', itself an unknown
    setting (--foo=1: 'fix: foo=1', -=3: 'fix: =3'). Without its dashes the override is read as
    one typed so, and what is wrong with it then (its did-you-mean and fix) is said too."""
    from drac_ssl import preflight
    from drac_ssl.config import UnknownSettingError

    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    assert message.startswith(f"command line '{override}': settings are overrides written "
                              "section.key=value, without dashes (not options)"), message
    assert said in message and f"\n  fix: {fix}" in message, message
    assert message.count("fix:") == 1, message
    if "unknown setting" in said:
        assert isinstance(caught.value, UnknownSettingError) and caught.value.setting == override.lstrip("-").split("=")[0]
    (finding,) = preflight.read_config(None, [override])[2]
    assert said in finding.line, finding.line


@pytest.mark.parametrize(("argv", "what", "fix"), [
    (["run.threads=3", "run.threads=4", "--threads", "2"],
     "given as --threads 2 and as run.threads=3 and run.threads=4 on the command line: --threads 2 is used",
     "keep one: --threads 2, or run.threads=3 or run.threads=4 alone"),
    (["run.threads=2", "run.threads=3", "--threads", "2"],
     "given as --threads 2 and as run.threads=2 and run.threads=3 on the command line: --threads 2 is used",
     "keep one: --threads 2, or run.threads=2 or run.threads=3 alone"),
    (["run.threads=3", "run.threads=4", "run.threads=3"],
     "given 3 times on the command line, 'run.threads=3', 'run.threads=4' then 'run.threads=3': the last is used",
     "keep one: run.threads=3"),
])
def test_a_setting_given_more_than_two_values_names_every_override_typed(
        argv: list[str], what: str, fix: str) -> None:
    """A review: the repeated-override warning compared the first and the last word alone:
    run.threads=3 run.threads=4 --threads 2 named run.threads=3 (4 was typed last, not named),
    and run.threads=2 run.threads=3 --threads 2 said nothing though run.threads=3 was typed and
    not used. Every value given is looked at, and each override typed is named."""
    from drac_ssl import preflight
    from drac_ssl.commands import train_overrides, train_parser

    overrides = train_overrides(train_parser().parse_intermixed_args(argv))
    _, _, findings = preflight.read_config(None, overrides)
    assert len(findings) == 1 and findings[0].severity == "warning", [f.line for f in findings]
    assert what in findings[0].what and findings[0].fix == fix, findings[0].line


def test_load_config_names_the_threads_option_typed_in_its_refusal(tmp_path: Path) -> None:
    """A review: load_config(None, train_overrides(--threads -1)) still said 'fix:
    run.threads=0', an override never typed (only the preflight named --threads): it names the
    option typed and its fix too, the -c file's count where the file sets a valid one."""
    from drac_ssl.commands import train_overrides, train_parser

    overrides = train_overrides(train_parser().parse_intermixed_args(["--threads", "-1"]))
    with pytest.raises(ConfigError) as caught:
        load_config(None, overrides)
    assert str(caught.value) == ("command line '--threads -1': run.threads must be 0 (the default "
                                 "policy) or a positive count, got -1.\n  fix: --threads 0 (the default)")
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  threads: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fix: --threads 2 \(as in "):
        load_config(path, overrides)
    with pytest.raises(ConfigError, match=r"^config: run.threads must be .*\n  fix: run.threads=0$"):
        load_config(None, ["run.threads=-1"])


def test_an_option_override_copies_and_pickles_with_its_typed_words() -> None:
    """A review: copy.copy, copy.deepcopy and pickle of an OptionOverride failed (__new__
    missing 'typed'), so a list of train_overrides could not be copied or sent to a process."""
    import copy
    import pickle

    from drac_ssl.config import OptionOverride

    word = OptionOverride("run.threads=2", "--threads 2")
    for again in (copy.copy(word), copy.deepcopy(word), pickle.loads(pickle.dumps(word)),
                  copy.deepcopy([word])[0]):
        assert isinstance(again, OptionOverride) and again == "run.threads=2" and again.typed == "--threads 2"


@pytest.mark.parametrize(("argv", "meant", "fix"), [
    (["--lrr=0.1"], ("pretrain.lr", "finetune.lr"), "pretrain.lr=0.1 or finetune.lr=0.1"),
    (["--lrr", "0.1", "-c", "x.yaml"], ("pretrain.lr", "finetune.lr"), "pretrain.lr=0.1 or finetune.lr=0.1"),
    (["--epoch=3"], ("pretrain.epochs", "umm.epochs", "finetune.epochs"),
     "pretrain.epochs=3, umm.epochs=3 or finetune.epochs=3"),
    (["--seeds=3"], ("finetune.seed", "run.seed"), "finetune.seed=3 or run.seed=3"),
    (["--num_worker=2"], ("pretrain.num_workers",), "pretrain.num_workers=2"),
])
def test_a_misspelt_setting_without_a_section_written_as_an_option_gets_the_settings_it_could_mean(
        argv: list[str], meant: tuple[str, ...], fix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``--pretrain.lrr=0.1`` got a did-you-mean and a fix, ``--lrr=0.1`` argparse's
    bare "unrecognized arguments" (and ``lrr=0.1`` no did-you-mean): a name without a section
    close to a setting's (difflib, cutoff 0.8) now names every setting of that name, in every
    section, with the overrides as the fix."""
    from drac_ssl.commands import refuse_train_early
    from drac_ssl.config import UnknownSettingError

    with pytest.raises(SystemExit) as stop:
        refuse_train_early(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {argv[0]}" in err and "section.key=value, without dashes" in err, err
    name = argv[0].lstrip("-").partition("=")[0]
    said = ", ".join(repr(m) for m in meant[:-1]) + " or " * (len(meant) > 1) + repr(meant[-1])
    assert f"unknown setting '{name}'. Did you mean {said}?" in err, err
    assert f"fix: {fix}" in err, err
    value = fix.split("=")[1].split()[0].rstrip(",")
    with pytest.raises(UnknownSettingError) as caught:  # the same override typed without dashes
        load_config(None, [f"{name}={value}"])
    assert caught.value.meant == meant and str(caught.value).endswith(f"\n  fix: {fix}"), str(caught.value)


@pytest.mark.parametrize("argv", [["--verbose"], ["--force=yes"], ["--quiet"]])
def test_an_option_not_close_to_a_setting_stays_argparse_s_own_refusal(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.commands import train_parser

    with pytest.raises(SystemExit):
        train_parser().parse_intermixed_args(argv)
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {argv[0]}" in err and "without dashes" not in err, err


def test_the_train_command_s_own_options_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.commands import train_parser

    parsed = train_parser().parse_intermixed_args(["-c", "x.yaml", "--threads", "2", "pretrain.lr=0.1"])
    assert str(parsed.config) == "x.yaml" and parsed.threads == 2 and parsed.overrides == ["pretrain.lr=0.1"]
    with pytest.raises(SystemExit) as stop:
        train_parser().parse_intermixed_args(["--help"])
    assert stop.value.code == 0 and "--threads" in capsys.readouterr().out


def test_a_setting_of_other_sections_is_said_so_and_the_fix_leaves_out_what_is_already_given() -> None:
    """A new-user trial: finetune.max_steps_per_epoch=2 (no such setting) typed with
    pretrain.max_steps_per_epoch=2 umm.max_steps_per_epoch=2 was asked "Did you mean" those two
    and told to type them, though both were given and neither shortens the fine-tuning."""
    from drac_ssl.config import ConfigError, load_config

    def said(overrides: list[str]) -> str:
        with pytest.raises(ConfigError) as refused:
            load_config(None, overrides)
        return str(refused.value)

    both = said(["finetune.max_steps_per_epoch=2", "pretrain.max_steps_per_epoch=2", "umm.max_steps_per_epoch=2"])
    assert ("finetune has no setting max_steps_per_epoch; pretrain.max_steps_per_epoch and "
            "umm.max_steps_per_epoch exist in their sections") in both, both
    assert "Did you mean" not in both and "=2" not in both.split("fix: ", 1)[1], both
    assert "fix: leave it out: finetune has no such setting" in both, both
    # one of them given: the fix names only the other
    one = said(["finetune.max_steps_per_epoch=2", "pretrain.max_steps_per_epoch=2"])
    assert one.rstrip().endswith("fix: umm.max_steps_per_epoch=2"), one
    # the typo within a section is as before
    typo = said(["pretrain.lrr=0.1"])
    assert "Did you mean 'pretrain.lr'?" in typo and typo.rstrip().endswith("fix: pretrain.lr=0.1"), typo


@pytest.mark.parametrize(("typed", "meant"), [("icdr5", "icdr"), ("ICDR-5", "icdr"), ("dracc", "drac"),
                                              ("idcr", "icdr")])
def test_a_mistyped_scale_name_is_told_the_scale_it_meant(
        typed: str, meant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Trial F6: ``data.grades=icdr5`` was told only "names one grade ('icdr5'); grading needs
    at least 2", the scale's name buried in a list of fixes. One word close to a scale's name
    says the scale it meant, its fix first, in the train command's words and the ingest's."""
    from data_prep.__main__ import main as data_prep_main
    from drac_ssl.config import GRADE_SCALES, grades_problem

    what, fix = grades_problem([typed])
    assert what == f"names one grade ({typed!r}); grading needs at least 2 (did you mean {meant}?)"
    assert fix.startswith(f"data.grades=[{meant}] (the {meant} scale: {', '.join(GRADE_SCALES[meant])})"), fix
    assert load_config(None, [f"data.grades=[{meant}]"]).data.grades == [meant]  # the fix reads
    with pytest.raises(ConfigError, match=re.escape(f"(did you mean {meant}?).\n  fix: data.grades=[{meant}]")):
        load_config(None, [f"data.grades={typed}"])
    assert data_prep_main(["ingest", "--root", str(tmp_path), "--out", str(tmp_path / "out"),
                           "--grades", typed]) == 2
    err = capsys.readouterr().err
    assert f"(did you mean {meant}?). -> --grades \"{meant}\" (the {meant} scale" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["Normal", "referable", "x"])
def test_one_grade_name_far_from_every_scale_name_gets_no_did_you_mean(name: str) -> None:
    from drac_ssl.config import grades_problem

    what, fix = grades_problem([name])
    assert what == f"names one grade ({name!r}); grading needs at least 2" and "did you mean" not in what
    assert fix.startswith("list the grade names in order"), fix


def test_a_variant_s_keep_is_its_metrics_else_its_config_with_the_former_default() -> None:
    # one reading for train's result line, compare, report.md and a bundle's card (each had its own)
    from drac_ssl.config import variant_keep

    assert variant_keep({"finetune": {"keep": "last"}}, {"keep": "inner"}) == "inner"
    assert variant_keep({"finetune": {"keep": "last"}}, {"keep": None, "qwk": 0.5}) == "last"
    assert variant_keep({"finetune": {"epochs": 3}}) == "best"  # made before the setting: it ran so
    assert variant_keep({"pretrain": {}}) == "best" and variant_keep({}) == "best"
    assert variant_keep(None, {"qwk": 0.5}) is None and variant_keep(None, {"keep": "last"}) == "last"
    # a recorded keep that is no string (a damaged metrics.json) is not taken: the config's (M7)
    assert variant_keep({"finetune": {"keep": "last"}}, {"keep": 3}) == "last"
