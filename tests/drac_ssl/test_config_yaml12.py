"""Config files and command-line overrides are read as YAML 1.2: only true/false (any case)
are booleans, so grade names such as no/yes or off/on stay the words written."""

import os
from pathlib import Path

import pytest

from drac_ssl import preflight, stage_settings
from drac_ssl.config import ConfigError, load_config, parse_override

HOME = os.path.expanduser("~")
"""What a path setting's ``~`` reads as (:func:`drac_ssl.config.expand_home`)."""


@pytest.mark.parametrize("names", [["no", "yes"], ["off", "on"], ["No", "Yes"], ["n", "y"]])
def test_grade_names_yes_no_on_off_stay_words_on_the_command_line(names: list[str]) -> None:
    cfg = load_config(None, [f"data.grades=[{', '.join(names)}]"])
    assert cfg.data.grades == names


def test_grade_names_yes_no_stay_words_in_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "screening.yaml"
    path.write_text("data:\n  grades: [no, yes]\n", encoding="utf-8")
    assert load_config(path).data.grades == ["no", "yes"]
    path.write_text("data:\n  grades:\n    - off\n    - on\n", encoding="utf-8")
    assert load_config(path).data.grades == ["off", "on"]


def test_only_true_and_false_in_any_case_are_booleans() -> None:
    assert parse_override("run.tensorboard=TRUE")[1] is True
    assert parse_override("run.tensorboard=False")[1] is False
    assert load_config(None, ["run.tensorboard=true"]).run.tensorboard is True
    for word in ("yes", "no", "on", "off", "y", "n"):
        assert parse_override(f"a.b={word}")[1] == word


def _refused_both_ways(tmp_path: Path, section: str, first: str, key: str, value: str) -> tuple[str, str]:
    """The ConfigError messages for ``section.key=value`` given on the command line and written
    in a config file ``tmp_path/c.yaml`` (``section:`` with the line ``first``, then ``key:``,
    so the setting is on line 3)."""
    with pytest.raises(ConfigError) as override:
        load_config(None, [f"{section}.{key}={value}"])
    path = tmp_path / "c.yaml"
    path.write_text(f"{section}:\n  {first}\n  {key}: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as in_file:
        load_config(path)
    return str(override.value), str(in_file.value)


@pytest.mark.parametrize("word, meant", [("yes", "true"), ("on", "true"), ("no", "false"), ("Off", "false")])
def test_a_bool_setting_written_yes_or_off_gets_the_type_error_and_a_true_false_fix(
        tmp_path: Path, word: str, meant: str) -> None:
    message, in_file = _refused_both_ways(tmp_path, "run", "out_dir: runs", "tensorboard", word)
    assert f"'run.tensorboard' must be true or false, got '{word}'" in message
    assert f"fix: run.tensorboard={meant} (write true or false" in message
    assert in_file.startswith(f"{tmp_path / 'c.yaml'}:3: 'run.tensorboard' must be true or false")


def test_a_repeated_grade_name_is_quoted_as_given() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["data.grades=[no, no]"])
    message = str(caught.value)
    assert "false" not in message
    assert message.startswith("config: data.grades=[no, no] gives the name 'no' twice "
                              "(grades 0 and 1)"), message
    cfg, sources, parsed = preflight.read_config(None, ["data.grades=[no, no]"])
    assert parsed == []
    (found,) = [f for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources,
                                           stages=["ingest"]) if f.setting == "data.grades"]
    assert found.severity == "error"
    assert found.what.startswith("gives the name 'no' twice (grades 0 and 1)"), found.what
    assert "'false'" not in found.line and "]" not in found.what


@pytest.mark.parametrize("written, said", [("[true, false]", "true and false, read as booleans"),
                                           ("[0, 1]", "0 and 1, read as numbers"),
                                           ("[Normal, 1, PDR]", "1, read as a number")])
def test_a_grade_name_read_as_a_boolean_or_number_is_refused_with_the_fix_to_quote_it(
        tmp_path: Path, written: str, said: str) -> None:
    message, in_file = _refused_both_ways(tmp_path, "data", "root: ''", "grades", written)
    assert f"'data.grades' holds {said}, not words" in message, message
    assert "grade names are words" in message and "quote" in message
    assert in_file.startswith(f"{tmp_path / 'c.yaml'}:3: 'data.grades' holds {said}")


def test_quoted_words_are_names() -> None:
    assert load_config(None, ["data.grades=['true', 'false']"]).data.grades == ["true", "false"]


def test_a_run_saved_with_referable_from_off_read_as_false_resumes_with_off() -> None:
    """Configs saved while YAML 1.1 was read hold finetune.referable_from=off as 'false'; the
    same command now reads 'off', which a resume must not take for a changed setting."""
    from drac_ssl.config import Config, to_dict

    saved = to_dict(load_config(None, ["finetune.referable_from=false"]))
    now = to_dict(load_config(None, ["finetune.referable_from=off"]))
    assert saved != now
    assert stage_settings.comparable(saved) == stage_settings.comparable(now)
    assert stage_settings.comparable(to_dict(Config()))["finetune"]["referable_from"] == "auto"


# A setting whose declared type is text (a name, a path) keeps the override's exact text: YAML
# 1.1 read 12:30 as the sexagesimal 750, 001 as 1 and cut a value at ' #' (a comment).
@pytest.mark.parametrize("override, setting, text", [
    ("data.labels_csv=12:30", "data.labels_csv", "12:30"),  # run.name=12:30: Windows refuses ':'
    ("run.name=001", "run.name", "001"),
    ("run.name=010", "run.name", "010"),
    ("run.name=exp #3", "run.name", "exp #3"),
    ("run.name=1_000", "run.name", "1_000"),
    ("data.root=/data/DRAC #2", "data.root", "/data/DRAC #2"),
    ("data.root=~", "data.root", HOME),  # a path setting's ~ is expanded when the config is read
    ("data.root=~/DRAC", "data.root", os.path.join(HOME, "DRAC")),
    ("data.root=./null", "data.root", "./null"),
    ("run.name='null'", "run.name", "null"),  # the fix's run.name="'null'" as the shell passes it
    ("data.labels_csv=labels #1.csv", "data.labels_csv", "labels #1.csv"),
    ("pretrain.backbone.weights=w: 1.pt", "pretrain.backbone.weights", "w: 1.pt"),
    ("run.name='quoted'", "run.name", "quoted"),  # a YAML-quoted value: its text, unquoted
])
def test_a_text_setting_keeps_the_overrides_exact_text(override: str, setting: str, text: str) -> None:
    from drac_ssl.config import get

    assert get(load_config(None, [override]), setting) == text
    cfg, _, problems = preflight.read_config(None, [override])
    assert problems == [] and get(cfg, setting) == text


def test_numbers_booleans_and_lists_still_parse_for_their_settings() -> None:
    cfg = load_config(None, ["pretrain.lr=1e-3", "pretrain.epochs=7", "data.strict=TRUE",
                             "data.cache_sizes=[64, 128]", "pretrain.compile=True",
                             "data.channels=3", "finetune.referable_from=2"])
    assert (cfg.pretrain.lr, cfg.pretrain.epochs, cfg.data.strict) == (1e-3, 7, True)
    assert cfg.data.cache_sizes == [64, 128]
    # a text setting written true / false in any case is the word, as before
    assert (cfg.pretrain.compile, cfg.data.channels, cfg.finetune.referable_from) == ("true", "3", "2")


def test_an_empty_data_root_on_the_command_line_is_an_error_not_the_phantom_set() -> None:
    """``data.root=$DRAC`` with the variable unset: the empty root would silently run the
    generated phantom set."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["data.root="])
    message = str(caught.value)
    assert message.startswith("command line 'data.root=': data.root is empty"), message
    assert "phantom" in message and "\n  fix: data.root=/path/to/" in message
    _, _, problems = preflight.read_config(None, ["data.root="])
    assert len(problems) == 1 and "data.root is empty" in problems[0].line
    # the phantom set, asked for in so many words: the quoted empty text
    assert load_config(None, ["data.root=''"]).data.root == ""


@pytest.mark.parametrize("written", ["~", "null", ""])
def test_a_path_written_as_yaml_null_in_a_config_file_is_an_error(tmp_path: Path, written: str) -> None:
    """``root: ~`` (or nothing after the colon) is YAML's null, not the home folder: it was
    read as the empty root, the phantom set."""
    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  dataset: drac\n  root: {written}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: 'data.root' has no value"), message
    assert "fix: " in message and 'root: "~"' in message and 'root: ""' in message
    _, _, problems = preflight.read_config(path)
    assert len(problems) == 1 and "'data.root' has no value" in problems[0].line


def test_a_text_setting_in_a_config_file_keeps_the_text_written(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  root: ''\n  labels_csv: 12:30\nrun:\n  name: 001\n  out_dir: 010\n",
                    encoding="utf-8")
    cfg = load_config(path)
    assert (cfg.run.name, cfg.run.out_dir, cfg.data.root, cfg.data.labels_csv) == ("001", "010", "", "12:30")
    assert preflight.read_config(path)[0] == cfg


# A number setting is read by YAML 1.2's rules, in an override and in a config file alike: YAML
# 1.1 (PyYAML) read 010 as the octal 8, 1:40 as the sexagesimal 100 and 0b11 as 3 (a review).
@pytest.mark.parametrize("written, value", [("010", 10), ("0010", 10), ("+7", 7), ("0x10", 16), ("0o10", 8),
                                            ("1e2", 100), ("100.0", 100)])
def test_a_number_setting_is_read_by_yaml_1_2s_rules(tmp_path: Path, written: str, value: int) -> None:
    assert load_config(None, [f"run.seed={written}"]).run.seed == value
    assert preflight.read_config(None, [f"run.seed={written}"])[0].run.seed == value
    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  root: ''\nrun:\n  seed: {written}\n", encoding="utf-8")
    assert load_config(path).run.seed == value
    assert preflight.read_config(path)[0].run.seed == value


def test_a_float_setting_is_read_by_yaml_1_2s_rules() -> None:
    assert load_config(None, ["pretrain.lr=010.5"]).pretrain.lr == 10.5
    assert load_config(None, ["pretrain.augment.crop_scale=[00.5, 1]"]).pretrain.augment.crop_scale == [0.5, 1.0]
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["pretrain.lr=1:30.5"])
    assert "'pretrain.lr' must be a number, got '1:30.5'.\n  fix: pretrain.lr=" in str(caught.value)


@pytest.mark.parametrize("written", ["1:40", "0b101", "1:40:00"])
def test_a_number_setting_written_as_yaml_1_1s_sexagesimal_or_binary_is_not_a_number(
        tmp_path: Path, written: str) -> None:
    message, in_file = _refused_both_ways(tmp_path, "pretrain", "lr: 0.1", "epochs", written)
    assert f"'pretrain.epochs' must be an integer, got '{written}', which is not a number" in message, message
    assert "fix: pretrain.epochs=100 (the default)" in message, message
    assert in_file.startswith(f"{tmp_path / 'c.yaml'}:3: 'pretrain.epochs' must be an integer, "
                              f"got '{written}'"), in_file
    cfg, _, problems = preflight.read_config(None, [f"pretrain.epochs={written}"])
    assert any(f"got '{written}', which is not a number" in p.what for p in problems), problems


def test_a_list_of_numbers_is_read_by_yaml_1_2s_rules_and_grade_names_are_quoted_as_typed(
        tmp_path: Path) -> None:
    assert load_config(None, ["data.cache_sizes=[064, 0128]"]).data.cache_sizes == [64, 128]
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["data.cache_sizes=[64, 1:40]"])
    assert "'data.cache_sizes[1]' must be an integer, got '1:40', which is not a number" in str(caught.value)
    message, in_file = _refused_both_ways(tmp_path, "data", "root: ''", "grades", "[010, 12:30]")
    assert "'data.grades' holds 010 and 12:30, read as numbers, not words" in message, message
    assert "data.grades=['010', '12:30']" in message, message
    assert "8" not in message.split("\n")[0] and "750" not in message, message
    assert in_file.startswith(f"{tmp_path / 'c.yaml'}:3: 'data.grades' holds 010 and 12:30"), in_file
    assert load_config(None, ["data.grades=['010', '12:30']"]).data.grades == ["010", "12:30"]


def test_every_package_config_resolves_as_before() -> None:
    """The configs/ files hold no number YAML 1.1 and 1.2 read differently: their resolved
    settings are the same under both rules (checked here against a plain YAML 1.1 reading)."""
    import yaml

    from drac_ssl.config import PACKAGE_CONFIGS, to_dict

    def leaves(d: object, prefix: str = "") -> dict[str, object]:
        if isinstance(d, dict):
            return {k: v for key, value in d.items() for k, v in leaves(value, f"{prefix}{key}.").items()}
        return {prefix[:-1]: d}

    for path in sorted(PACKAGE_CONFIGS.glob("*.yaml")):
        written = leaves(yaml.safe_load(path.read_text(encoding="utf-8")))
        resolved = leaves(to_dict(load_config(path)))
        for key, value in written.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert resolved[key] == value, (path, key)


@pytest.mark.parametrize("setting", ["data.root", "data.labels_csv", "pretrain.backbone.weights",
                                     "run.reuse", "run.name"])
@pytest.mark.parametrize("word", ["null", "Null", "NULL", "none", "None", "~"])
def test_null_or_none_typed_for_a_setting_whose_empty_value_means_something_is_refused(
        setting: str, word: str) -> None:
    """A review: run.reuse=null, pretrain.backbone.weights=none and run.name=null once meant
    empty (YAML's none); since text settings keep the text typed, run.name=null silently made
    a run folder named 'null' (reuse and weights were refused later, as missing paths). Such a
    word for these settings is refused where it is read, with how to write the empty value, as
    data.root= typed empty is (and as 'root: ~' in a config file is); data.root=~ stays the home
    folder."""
    if setting == "data.root" and word == "~":
        assert load_config(None, [f"{setting}={word}"]).data.root == HOME
        return
    with pytest.raises(ConfigError) as caught:
        load_config(None, [f"{setting}={word}"])
    message = str(caught.value)
    assert message.startswith(f"command line '{setting}={word}': {setting} is {word!r}, not an "
                              "empty value"), message
    empty = {"data.root": "leave data.root out", "run.name": "run.name= (nothing after the =)"}
    assert "\n  fix: " in message and empty.get(setting, f"{setting}= (nothing after the =)") in message
    _, _, problems = preflight.read_config(None, [f"{setting}={word}"])
    assert len(problems) == 1 and f"{setting} is {word!r}" in problems[0].line


def test_a_text_override_loses_the_spaces_around_it_as_yaml_read_them() -> None:
    """A review: run.name=" x " (the shell passes 'run.name= x ') kept its spaces, a run folder
    ' x ', where YAML read it as 'x'; spaces inside are kept, and a value quoted whole keeps
    its own."""
    assert load_config(None, ["run.name= x "]).run.name == "x"
    assert load_config(None, ["data.root= /data/DRAC 2022 "]).data.root == "/data/DRAC 2022"
    assert load_config(None, ["run.name=' x '"]).run.name == " x "


@pytest.mark.parametrize("section, key", [("pretrain.backbone", "weights"), ("run", "reuse"),
                                          ("data", "labels_csv")])
def test_a_file_path_left_as_yaml_null_is_not_offered_the_home_folder(tmp_path: Path, section: str,
                                                                       key: str) -> None:
    """A review: 'weights: ~' was told 'weights: "~" for the home folder', a folder that is no
    weights file (nor a run folder, nor a label CSV): only data.root, a folder, is offered it."""
    path = tmp_path / "c.yaml"
    head, _, last = section.rpartition(".")
    block = (f"{head}:\n  {last}:\n    {key}: ~\n" if head else f"{section}:\n  {key}: ~\n")
    path.write_text(block, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"'{section}.{key}' has no value" in message, message
    assert "home folder" not in message.split("fix:")[1] and f'{key}: ""' in message, message


# A list of text settings (data.unlabelled, data.grades, run.stages) typed on the command line
# was still read as YAML: 'data.unlabelled=[/a #2]' lost its '#2' as a comment (the list left
# unclosed, so its brackets became part of the one path), '/a #2,/b' silently became ['/a']
# (a review). Each item now keeps its text as typed, as a single text setting does.
@pytest.mark.parametrize("override, setting, items", [
    ("data.unlabelled=[/a #2]", "data.unlabelled", ["/a #2"]),
    ("data.unlabelled=[/a #2, /b]", "data.unlabelled", ["/a #2", "/b"]),
    ("data.unlabelled=/a #2,/b", "data.unlabelled", ["/a #2", "/b"]),
    ("data.unlabelled=[/scans: 2022, /x]", "data.unlabelled", ["/scans: 2022", "/x"]),
    ("data.unlabelled=[&a /x, !b /y, *c]", "data.unlabelled", ["&a /x", "!b /y", "*c"]),
    ("data.unlabelled=[~/scans, ~]", "data.unlabelled", [os.path.join(HOME, "scans"), HOME]),
    ("data.grades=[No DR #0, 'Mild, early', \"P\\\"DR\"]", "data.grades", ["No DR #0", "Mild, early", 'P"DR']),
    ("data.grades=[no, yes,]", "data.grades", ["no", "yes"]),  # YAML's trailing comma
    ("run.stages=[ingest , pretrain]", "run.stages", ["ingest", "pretrain"]),
    ("run.stages=ingest,pretrain", "run.stages", ["ingest", "pretrain"]),
    ("data.unlabelled=[]", "data.unlabelled", []),
])
def test_a_list_of_text_settings_keeps_each_items_text_as_typed(
        override: str, setting: str, items: list[str]) -> None:
    from drac_ssl.config import get

    assert get(load_config(None, [override]), setting) == items
    cfg, _, problems = preflight.read_config(None, [override])
    assert problems == [] and get(cfg, setting) == items


@pytest.mark.parametrize("override, said", [
    ("data.grades=[0, 1 #x]", "'data.grades' holds 0, read as a number"),
    ("data.grades=[Normal, TRUE]", "'data.grades' holds true, read as a boolean"),
    ("data.grades=[a, [b]]", "'data.grades[1]' must be a string, got ['b']"),
    ("data.grades=[a, b", "'data.grades' is a list that is not closed"),
    ("data.unlabelled=['/a, /b]", "'data.unlabelled' has a quote that is not closed"),
])
def test_a_list_of_text_settings_still_refuses_what_is_no_text(override: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert said in str(caught.value), str(caught.value)
    assert "\n  fix: " in str(caught.value)


@pytest.mark.parametrize("key, written, kind, digits", [
    ("epochs", "1_000", "an integer", "1000"),
    ("lr", "0.000_1", "a number", "0.0001"),
    ("lr", "1_0.5", "a number", "10.5"),
])
def test_a_number_written_with_underscores_is_not_a_number(
        tmp_path: Path, key: str, written: str, kind: str, digits: str) -> None:
    """A review: pretrain.epochs=1_000 was read as 1000 (Python's float() takes PEP 515's '_'),
    while YAML 1.2's core schema has no '_' in its numbers (YAML 1.1 had): it is text there, as
    1:40 is, and refused alike, in an override and in a config file, with the digits as the fix."""
    first = "lr: 0.1" if key == "epochs" else "epochs: 3"
    message, in_file = _refused_both_ways(tmp_path, "pretrain", first, key, written)
    said = (f"'pretrain.{key}' must be {kind}, got '{written}', which is not a number: YAML 1.2 "
            f"writes numbers without '_'")
    assert said in message and said in in_file, (message, in_file)
    assert message.endswith(f"\n  fix: pretrain.{key}={digits}"), message
    assert in_file.startswith(f"{tmp_path / 'c.yaml'}:3: "), in_file
    cfg, _, problems = preflight.read_config(None, [f"pretrain.{key}={written}"])
    assert any(said in p.what for p in problems), problems
    with pytest.raises(ConfigError, match=r"'data.cache_sizes\[0\]' must be an integer, got '1_024'"):
        load_config(None, ["data.cache_sizes=[1_024]"])


@pytest.mark.parametrize("written", ["~", "null", ""])
def test_a_run_name_written_as_yaml_null_in_a_config_file_is_refused_as_on_the_command_line(
        tmp_path: Path, written: str) -> None:
    """A review: 'name: ~' in a config file silently gave the automatic run name, while
    run.name=null on the command line is refused (an empty run.name means the automatic name,
    asked for as such): the file's none is refused too, with the empty name and a name as fixes."""
    path = tmp_path / "c.yaml"
    path.write_text(f"run:\n  out_dir: runs\n  name: {written}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: 'run.name' has no value: YAML reads ~, null and nothing "
                              "after the colon as none, not as a name"), message
    assert "\n  fix: name: my-run (or name: \"\" for the name <dataset>-<date>-<time>)" in message, message
    _, _, problems = preflight.read_config(path)
    assert len(problems) == 1 and "'run.name' has no value" in problems[0].line
    # as on the command line: refused there too, saying what the empty name means, and each fix
    # asks for the empty name in its own words (the file's name: "", the command line's run.name=)
    with pytest.raises(ConfigError) as typed:
        load_config(None, ["run.name=null"])
    means = "an empty run.name means the name <dataset>-<date>-<time>"
    assert means in message and means in str(typed.value), (message, str(typed.value))
    assert "\n  fix: run.name= (nothing after the =) for the name <dataset>-<date>-<time>" in str(typed.value)
    path.write_text("run:\n  name: ''\n", encoding="utf-8")  # the automatic name, asked for
    assert load_config(path).run.name == ""


@pytest.mark.parametrize("override, why, fix", [
    ("pretrain.lr=my_lr", False, "pretrain.lr=0.015 (the default)"),
    ("pretrain.epochs=1_000.5", True, "pretrain.epochs=100 (the default)"),
    ("finetune.label_fraction=0_5", True, "finetune.label_fraction=1, or e.g. finetune.label_fraction=0.1 for 10 %"),
    ("pretrain.epochs=-1_0", True, "pretrain.epochs=100 (the default)"),
    ("pretrain.lr=1_0.5", True, "pretrain.lr=10.5"),
])
def test_the_underscore_refusal_explains_and_offers_the_digits_only_where_they_fit(
        override: str, why: bool, fix: str) -> None:
    """A review: pretrain.lr=my_lr was told "YAML 1.2 writes numbers without '_'" (it was never a
    number), pretrain.epochs=1_000.5 was offered pretrain.epochs=1000.5 (refused again: not an
    integer) and finetune.label_fraction=0_5 offered 05. The '_' is explained only where the
    digits without it are a number, and offered only where they fit the setting's type and range."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    assert ("YAML 1.2 writes numbers without '_'" in message) == why, message
    assert "which is not a number" in message and message.endswith(f"\n  fix: {fix}"), message
    offered = message.split("\n  fix: ")[1].split(" ")[0].rstrip(",")
    load_config(None, [offered])  # the fix offered reads


@pytest.mark.parametrize("override, fix", [
    ('data.unlabelled=["C:\\scans"]', "'data.unlabelled=[C:\\scans]'"),
    ('data.unlabelled=[/a, "C:\\new"]', "'data.unlabelled=[/a, C:\\new]'"),
    ('data.unlabelled="C:\\new"', "'data.unlabelled=[C:\\new]'"),
    ('data.root="C:\\new"', "'data.root=C:\\new'"),
    ('run.name="a\\tb"', "'run.name=a\\tb'"),
])
def test_a_double_quoted_windows_path_is_refused_not_read_with_escapes(override: str, fix: str) -> None:
    """A review: 'data.unlabelled=["C:\\scans"]' kept its quote characters (YAML's error on the
    escape \\s was swallowed) and ["C:\\new"] became a path with a new line in it. In double
    quotes YAML reads a backslash as an escape, so such a value is refused, the fix without
    the double quotes (a value is taken as typed) or in single quotes, which keep every backslash."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    assert message.startswith(f"command line '{override}': "), message
    assert "backslash" in message and message.endswith(fix), message
    assert "single quotes" in message, message
    _, _, problems = preflight.read_config(None, [override])
    assert len(problems) == 1 and "backslash" in problems[0].line


@pytest.mark.parametrize("override, setting, value", [
    ("data.root='C:\\new'", "data.root", "C:\\new"),
    ("data.root=C:\\new", "data.root", "C:\\new"),
    ('data.root="C:\\\\new"', "data.root", "C:\\new"),  # YAML's own escape of a backslash
    ("data.unlabelled=['C:\\scans', C:\\new]", "data.unlabelled", ["C:\\scans", "C:\\new"]),
    ('data.grades=["P\\"DR", x]', "data.grades", ['P"DR', "x"]),
    ('run.name="a b"', "run.name", "a b"),
])
def test_a_windows_path_in_single_quotes_or_none_keeps_its_backslashes(
        override: str, setting: str, value: object) -> None:
    from drac_ssl.config import get

    assert get(load_config(None, [override]), setting) == value


@pytest.mark.parametrize("block, key, fix", [
    ("data:\n  unlabelled: [~]\n", "data.unlabelled[0]", '"~" (quoted) for the home folder'),
    ("data:\n  unlabelled:\n    - /a\n    -\n", "data.unlabelled[1]", '"~" (quoted) for the home folder'),
    ("data:\n  grades: [null, x]\n", "data.grades[0]", 'quote it: "null"'),
    ("run:\n  stages: [ingest, ~]\n", "run.stages[1]", "leave the item out"),
])
def test_a_list_item_written_as_yaml_null_in_a_config_file_is_refused(
        tmp_path: Path, block: str, key: str, fix: str) -> None:
    """A review: 'unlabelled: [~]' in a file gave the item '', which the ingest turned into the
    current folder without a word (while data.unlabelled=[~] on the command line is the home
    folder), and 'grades: [null, x]' was refused as an empty name. An item YAML reads as none
    is refused where it is, as 'root: ~' is, with the fix in the file's words."""
    path = tmp_path / "c.yaml"
    path.write_text(block, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: '{key}' has no value: YAML reads ~, null and an empty "
                              "item as none"), message
    assert "\n  fix: " in message and fix in message, message
    _, _, problems = preflight.read_config(path)
    assert len(problems) == 1 and f"'{key}' has no value" in problems[0].line, problems


@pytest.mark.parametrize("override, item", [
    ("data.unlabelled=[null]", "null"), ("data.unlabelled=[/a, None]", "None"),
    ("data.grades=[null, x]", "null"), ("data.grades=[x, ~]", "~"), ("data.grades=[NULL, x]", "NULL"),
])
def test_a_no_value_word_typed_as_an_item_of_grades_or_unlabelled_is_refused(override: str, item: str) -> None:
    """A review: data.grades=[null, x] on the command line became a grade named 'null' while a
    file refused it: a no-value word typed as an item of data.unlabelled (as for data.root:
    null, none, any case) or data.grades (YAML's none: ~, null) is refused with the fix;
    data.unlabelled=[~] stays the home folder (as data.root=~), and a grade may be named None,
    as in a file."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    key = override.split("=")[0]
    assert message.startswith(f"command line '{override}': {key} holds {item!r}, not an empty value"), message
    assert "\n  fix: " in message, message


def test_the_home_folder_and_a_grade_named_none_stay_items() -> None:
    assert load_config(None, ["data.unlabelled=[~, ~/b]"]).data.unlabelled == [HOME, os.path.join(HOME, "b")]
    assert load_config(None, ["data.grades=[None, Mild]"]).data.grades == ["None", "Mild"]
    assert load_config(None, ["data.grades=['null', x]"]).data.grades == ["null", "x"]


@pytest.mark.parametrize("override, setting, items", [
    ("data.unlabelled=2022", "data.unlabelled", ["2022"]),
    ("data.unlabelled=/data/scans: 2022", "data.unlabelled", ["/data/scans: 2022"]),
    ("data.unlabelled=/scans #2", "data.unlabelled", ["/scans #2"]),
    ("data.unlabelled='/a, b'", "data.unlabelled", ["/a, b"]),
    ("data.grades=icdr", "data.grades", ["icdr"]),
    ("run.stages=ingest", "run.stages", ["ingest"]),
])
def test_one_item_typed_without_brackets_is_a_list_of_that_text(override: str, setting: str, items: list[str]) -> None:
    """A review: data.unlabelled=2022 was refused as 'must be a list' and data.unlabelled=/data/scans:
    2022 as a mapping, while [2022], [/data/scans: 2022] and 2022,/b were read: a value without
    brackets took YAML's reading of the whole. It is now read as the inside of the brackets."""
    from drac_ssl.config import get

    assert get(load_config(None, [override]), setting) == items
    bracketed = f"{override.split('=', 1)[0]}=[{override.split('=', 1)[1]}]"
    assert get(load_config(None, [bracketed]), setting) == items


def _text_settings() -> list[str]:
    """Every text setting (type ``str``) of the configuration, dotted."""
    import dataclasses

    from drac_ssl.config import Config

    def walk(section: object, prefix: str) -> list[str]:
        found = []
        for f in dataclasses.fields(section):  # type: ignore[arg-type]
            value = getattr(section, f.name)
            if dataclasses.is_dataclass(value):
                found += walk(value, f"{prefix}{f.name}.")
            elif isinstance(value, str):
                found.append(f"{prefix}{f.name}")
        return found
    return walk(Config(), "")


def _yaml_block_of(dotted: str, written: str) -> str:
    """``a.b.c`` as a YAML block with ``c: written`` on its last line."""
    parts = dotted.split(".")
    return "".join(f"{'  ' * i}{part}:\n" for i, part in enumerate(parts[:-1])) + \
        f"{'  ' * (len(parts) - 1)}{parts[-1]}: {written}\n"


@pytest.mark.parametrize("written", ["~", "null"])
@pytest.mark.parametrize("setting", _text_settings())
def test_no_text_setting_written_as_yaml_null_in_a_file_silently_becomes_empty(
        tmp_path: Path, setting: str, written: str) -> None:
    """A review: 'image_column: ~' in a config file became '' without a word (data.layout: ~ was
    then refused as "data.layout='' is not one of ..." with no file or line). Every text
    setting written as YAML's none is refused with the file, its line and a fix; where the
    empty value means something (data.patient_column, data.channels, the paths, run.name) the
    message says what."""
    path = tmp_path / "c.yaml"
    block = _yaml_block_of(setting, written)
    path.write_text(block, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    line = block.count("\n")
    assert message.startswith(f"{path}:{line}: '{setting}' has no value: YAML reads ~, null and nothing "
                              "after the colon as none"), message
    name = setting.rsplit(".", 1)[-1]
    assert f"\n  fix: {name}: " in message, message
    _, _, problems = preflight.read_config(path)
    assert len(problems) == 1 and f"'{setting}' has no value" in problems[0].line


@pytest.mark.parametrize("setting, means", [("data.patient_column", "no patient column"),
                                            ("data.channels", "the layout's")])
def test_a_text_setting_whose_empty_value_means_something_says_what_when_written_as_null(
        tmp_path: Path, setting: str, means: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_yaml_block_of(setting, "~"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    name = setting.rsplit(".", 1)[-1]
    assert f"an empty {setting} means {means}" in message and f'{name}: ""' in message, message
    # the empty value, asked for in so many words, is read
    path.write_text(_yaml_block_of(setting, '""'), encoding="utf-8")
    assert load_config(path).data.patient_column == "" and load_config(path).data.channels == ""


def test_a_choice_setting_written_as_null_is_offered_its_choices(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  dataset: drac\n  layout: null\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: 'data.layout' has no value"), message
    assert "\n  fix: layout: auto (the default; one of auto, drac, plain," in message, message


@pytest.mark.parametrize("key, written, kind, digits", [
    ("epochs", "٣", "an integer", "3"),  # Arabic-Indic
    ("epochs", "３", "an integer", "3"),  # full-width
    ("epochs", "１０", "an integer", "10"),
    ("lr", "٠.٥", "a number", "0.5"),
    ("lr", "１e-３", "a number", "1e-3"),
])
def test_a_number_written_in_other_than_ascii_digits_is_not_a_number(
        tmp_path: Path, key: str, written: str, kind: str, digits: str) -> None:
    """A review: pretrain.epochs=٣ (and ３) were read as 3: Python's float() and int() take any
    Unicode decimal digit, while YAML 1.2's numbers are ASCII: text there, refused as 1_000 is,
    in an override and in a config file, with the ASCII digits as the fix."""
    first = "lr: 0.1" if key == "epochs" else "epochs: 3"
    message, in_file = _refused_both_ways(tmp_path, "pretrain", first, key, written)
    said = (f"'pretrain.{key}' must be {kind}, got '{written}', which is not a number: YAML 1.2 "
            f"writes numbers in ASCII digits (0-9)")
    assert said in message and said in in_file, (message, in_file)
    assert message.endswith(f"\n  fix: pretrain.{key}={digits}"), message
    assert in_file.startswith(f"{tmp_path / 'c.yaml'}:3: "), in_file
    load_config(None, [message.split("\n  fix: ")[1]])  # the fix offered reads
    cfg, _, problems = preflight.read_config(None, [f"pretrain.{key}={written}"])
    assert any(said in p.what for p in problems), problems


@pytest.mark.parametrize("override, fix", [
    ("pretrain.epochs=٣.٥", "pretrain.epochs=100 (the default)"),  # digits, but no integer
    ("pretrain.epochs=-٣", "pretrain.epochs=100 (the default)"),  # out of its range
    ("data.cache_sizes=[２５６]", "data.cache_sizes=[256,512] (the default)"),  # a list's item
])
def test_non_ascii_digits_are_offered_in_ascii_only_where_they_fit(override: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    assert "writes numbers in ASCII digits (0-9)" in message and message.endswith(f"\n  fix: {fix}"), message


def test_threads_in_other_than_ascii_digits_is_refused_by_the_train_command(
        capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.commands import train_parser

    with pytest.raises(SystemExit) as stop:
        train_parser().parse_intermixed_args(["--threads", "３"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--threads" in err and "'３'" in err and "ASCII digits" in err and "fix: --threads 3" in err, err
    assert train_parser().parse_intermixed_args(["--threads", "-1"]).threads == -1


COMMAND_INTEGER_OPTIONS = [  # (module, argv before the option, the option): every integer option
    ("data_prep.__main__", ["ingest", "--root", "NOPE"], "--threads"),
    ("data_prep.__main__", ["ingest", "--root", "NOPE"], "--folds"),
    ("data_prep.__main__", ["ingest", "--root", "NOPE"], "--seed"),
    ("data_prep.__main__", ["ingest", "--root", "NOPE"], "--workers"),
    ("data_prep.__main__", ["phantom", "--out", "NOPE"], "--n-train"),
    ("data_prep.__main__", ["phantom", "--out", "NOPE"], "--n-test"),
    ("data_prep.__main__", ["phantom", "--out", "NOPE"], "--seed"),
    ("data_prep.__main__", ["phantom", "--out", "NOPE"], "--workers"),
    ("app.__main__", [], "--threads"),
    ("app.demo_bundle", ["NOPE"], "--image-size"),
    ("app.demo_bundle", ["NOPE"], "--source-size"),
    ("app.demo_bundle", ["NOPE"], "--folds"),
    ("app.demo_bundle", ["NOPE"], "--channels"),
    ("drac_ssl.submission", ["--check", "NOPE"], "--grades"),
]


@pytest.mark.parametrize(("module", "before", "option"), COMMAND_INTEGER_OPTIONS,
                         ids=[f"{m}{o}" for m, _, o in COMMAND_INTEGER_OPTIONS])
def test_every_commands_integer_option_refuses_other_than_ascii_digits(
        module: str, before: list[str], option: str, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    """A review: train's --threads refused '３' (drac_ssl.starting.ascii_int), while the ingest's,
    the phantom's, the app's, the demo bundle's and --check's integer options read '３' and '٣'
    as 3 (Python's int() takes any Unicode decimal digit). Each is refused before anything runs,
    with the ASCII digits as the fix."""
    import importlib

    entry = importlib.import_module(module)
    nope = str(tmp_path / "NOPE")  # where a command that read the digits would write
    argv = [nope if word == "NOPE" else word for word in before] + [option, "３" if option != "--channels" else "٣"]
    with pytest.raises(SystemExit) as stop:
        (entry.parse_args if module == "app.__main__" else entry.main)(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "ASCII digits" in err and f"fix: {option} 3" in err, err


@pytest.mark.parametrize("option", ["--port", "--max-size-mb", "--max-side", "--concurrency", "--queue-size",
                                    "--max-batch", "--max-megapixels", "--grading-log-max-mb"])
def test_the_apps_number_options_refuse_other_than_ascii_digits(
        option: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The app's own number types (_port, _number, _count) read '７８６０' as 7860 and
    '３' as 3 through int()/float(); they refuse them now, naming the value and the range."""
    from app.__main__ import parse_args

    with pytest.raises(SystemExit) as stop:
        parse_args([option, "７８６０" if option == "--port" else "３"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    word = "７８６０" if option == "--port" else "３"
    given = {"--port": "1..65535", "--max-size-mb": "a number > 0", "--max-megapixels": "a number > 0",
             "--grading-log-max-mb": "a number >= 0"}
    assert option in err and repr(word) in err and given.get(option, "a whole number") in err, err
    assert parse_args([option, "7860" if option == "--port" else "3"]) is not None
