"""Cross-setting checks say where each setting they involve was set (drac_ssl/config.py: "Every
bad key or value is reported with where it came from"), whether the configuration is read by
``load_config`` or by the commands' preflight, from a YAML file or from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import preflight
from drac_ssl.config import ConfigError, SettingsError, load_config


def _refusal(path: Path | None, *overrides: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_config(path, list(overrides))
    return str(caught.value)


def _preflight_error(path: Path | None, *overrides: str) -> str:
    """The error line the commands print for the configuration (python -m drac_ssl.train's
    preflight: its stage-validator net, which runs config.validate)."""
    cfg, sources, read = preflight.read_config(path, list(overrides))
    assert read == []
    lines = [f.line for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources, stages=[])
             if f.severity == "error"]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_stem_stride_refusal_names_the_file_line_and_the_default(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("pretrain:\n  backbone:\n    stem_stride: 2\n", encoding="utf-8")
    for message in (_refusal(path), _preflight_error(path)):
        assert f"pretrain.backbone.stem_stride=2 ({path}:3) sets the stride" in message, message
        assert "but pretrain.backbone.cifar_stem (the default) is false" in message, message
        assert "fix: pretrain.backbone.cifar_stem=true, or pretrain.backbone.stem_stride=1" in message
    # the same setting typed on the command line is named as typed
    message = _refusal(None, "pretrain.backbone.stem_stride=2")
    assert "pretrain.backbone.stem_stride=2 (command line 'pretrain.backbone.stem_stride=2') sets" in message
    # a section given whole on the command line is where its settings came from
    message = _refusal(path, "pretrain.backbone={stem_stride: 2, cifar_stem: false}")
    assert "cifar_stem (command line 'pretrain.backbone={stem_stride: 2, cifar_stem: false}') is false" \
        in message, message


def test_a_file_and_a_command_line_setting_are_each_located(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("# fine-tuning\nfinetune:\n  freeze: all\n  epochs: 4\n", encoding="utf-8")
    for message in (_refusal(path, "finetune.head_warmup_epochs=4"),
                    _preflight_error(path, "finetune.head_warmup_epochs=4")):
        assert ("finetune.head_warmup_epochs=4 (command line 'finetune.head_warmup_epochs=4') must be 0 "
                f"(off) or fewer than finetune.epochs=4 ({path}:4): it counts") in message, message
    # the command line wins over the file, and is named as the source
    message = _refusal(path, "finetune.head_warmup_epochs=2", "finetune.freeze=frozen")
    assert ("finetune.head_warmup_epochs (command line 'finetune.head_warmup_epochs=2') trains the head alone "
            "before the backbone is fine-tuned, but finetune.freeze=frozen (command line "
            "'finetune.freeze=frozen') never") in message, message


def test_run_name_and_out_dir_are_located_and_the_words_are_otherwise_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  out_dir: runs\n", encoding="utf-8")
    message = _refusal(path, "run.name=../x")
    assert message.startswith("config: run.name (command line 'run.name=../x') is the name of the run "
                              f"folder in run.out_dir ({path}:2), not a path"), message
    # read as plain text (no source known), the error is as it always was: config: WHAT. fix: ...
    error = SettingsError(("finetune.freeze",), "finetune.freeze=frozen is wrong", "finetune.freeze=all")
    assert isinstance(error, ConfigError)
    assert str(error) == "config: finetune.freeze=frozen is wrong.\n  fix: finetune.freeze=all"
    # a setting the words do not mention is said at the end; one with no source said is left out
    located = error.located(lambda s: "x.yaml:7")
    assert str(located).startswith("config: finetune.freeze=frozen (x.yaml:7) is wrong.")
    other = SettingsError(("a.b", "c.d"), "these disagree").located(lambda s: "" if s == "a.b" else "y.yaml:1")
    assert str(other) == "config: these disagree (c.d: y.yaml:1)."


def test_a_settings_error_pickles_as_itself() -> None:
    """Raised in a DataLoader worker or a multiprocessing child it is pickled to the parent:
    it comes back with its class, settings, words and fix (located or not)."""
    import pickle

    plain = SettingsError(("a.b",), "a.b=1 is wrong", "a.b=2")
    located = SettingsError(("a.b", "c.d"), "a.b=1 disagrees with c.d").located(lambda s: f"{s}.yaml:3")
    for error in (plain, located, SettingsError(("a.b",), "x")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is SettingsError
        assert (back.settings, back.what, back.fix, str(back)) == (error.settings, error.what, error.fix, str(error))
    assert str(pickle.loads(pickle.dumps(located))).startswith(
        "config: a.b=1 (a.b.yaml:3) disagrees with c.d (c.d.yaml:3)")


def test_an_unknown_setting_error_pickles_as_itself() -> None:
    """The same for a misspelt setting: its message, the key as written and what it meant."""
    import pickle

    from drac_ssl.config import UnknownSettingError

    error = UnknownSettingError("a.yaml:2: unknown setting 'data.image_colum'", "data.image_colum",
                                ("data.image_column",))
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is UnknownSettingError
    assert (str(back), back.setting, back.meant) == (str(error), "data.image_colum", ("data.image_column",))


def test_a_listed_value_with_a_bracketed_name_is_located_after_the_whole_list() -> None:
    """Small-set fix-up F7: the location pattern stopped at the first "]", so the source of
    data.grades=[No DR, Mild [R1], PDR] was spliced inside the list, after "Mild [R1]"."""
    from drac_ssl.config import SettingsError

    error = SettingsError(("data.grades",), "data.grades=[No DR, Mild [R1], PDR] names 3 grades")
    assert str(error.located(lambda s: "x.yaml:2")).startswith(
        "config: data.grades=[No DR, Mild [R1], PDR] (x.yaml:2) names 3 grades"), str(error.located(lambda s: "x.yaml:2"))
