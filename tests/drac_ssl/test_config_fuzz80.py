"""Findings of an outside config fuzzer (213 mutants): quoted booleans, settings without an
upper bound, a YAML nested too deep, refusals that followed from a refused data.grades, and
checks that came only after the imports or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import train  # torch: imported once, as the module is collected
from drac_ssl.config import ConfigError, load_config


def test_quoted_values_are_read_as_the_settings_type_and_only_true_false_are_booleans(tmp_path: Path) -> None:
    """F0: ``enabled: "false"`` quoted is False (not a non-empty text, so True); ``"3"`` is 3 and
    ``"1e-3"`` 0.001; ``"1"`` quoted is refused as ``1`` unquoted is, with true as its fix."""
    path = tmp_path / "c.yaml"
    path.write_text('umm: {enabled: "false"}\npretrain: {epochs: "3", lr: "1e-3"}\n', encoding="utf-8")
    cfg = load_config(path)
    assert cfg.umm.enabled is False and cfg.pretrain.epochs == 3 and cfg.pretrain.lr == 0.001
    path.write_text('umm: {enabled: "True"}\n', encoding="utf-8")
    assert load_config(path).umm.enabled is True
    for text, fix in (('"1"', "umm.enabled=true"), ('"0"', "umm.enabled=false"), ('"yes"', "umm.enabled=true"),
                      ('" false"', "umm.enabled=false (without the spaces")):
        path.write_text(f"umm: {{enabled: {text}}}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        assert f"{path}:1: 'umm.enabled' must be true or false" in str(refused.value)
        assert f"fix: {fix}" in str(refused.value)


def test_a_phantom_count_beyond_its_bound_is_refused_before_torch_and_never_planned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F1: ``data.phantom_n_train=1000000000`` hung the preflight drawing a billion ids
    (plan_phantom); it is refused in the first pass, and the full check plans no such set."""
    from data_prep import phantom
    from drac_ssl import preflight

    refusal = preflight.reading_refusal(None, ["data.phantom_n_train=1000000000"])
    assert "data.phantom_n_train=1000000000 (command line 'data.phantom_n_train=1000000000'): must be >= 0 " \
           "and <= 100000" in refusal and "fix: data.phantom_n_train=611 (the default)" in refusal
    assert preflight.reading_refusal(None, ["data.phantom_n_test=100000"]) == ""  # the bound itself runs

    def planned(*args: object) -> None:
        raise AssertionError(f"planned {args}")

    monkeypatch.setattr(phantom, "plan_phantom", planned)
    cfg, sources, _ = preflight.read_config(None, ["data.phantom_n_test=100001"])
    c = preflight._Findings(cfg, sources)
    assert preflight._data_facts(c, cfg, tmp_path / "run", ["ingest"]) is None


def test_a_yaml_nested_thousands_deep_is_refused_with_its_line_not_a_recursion_traceback(tmp_path: Path) -> None:
    """F2: ``epochs: [[[...]]]`` 3000 deep gave PyYAML's RecursionError (a traceback, exit 1);
    it is refused as the alias limit is, with the line where the nesting starts."""
    path = tmp_path / "deep.yaml"
    path.write_text("run:\n  name: x\npretrain:\n  epochs: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path}:4: refused: its lists or mappings nest deeper")
    assert "fix: write each setting's value itself" in str(refused.value)


def _tiny_npz(folder: Path) -> Path:
    """A MedMNIST-shaped ``.npz`` of 40 28-pixel colour images graded 0..4 (ICDR) and 10 test
    images."""
    import numpy as np

    path = folder / "tiny_public.npz"
    images = np.zeros((40, 28, 28, 3), np.uint8)
    np.savez(path, train_images=images, train_labels=(np.arange(40) % 5)[:, None].astype(np.uint8),
             val_images=images[:10], val_labels=(np.arange(10) % 5)[:, None].astype(np.uint8),
             test_images=images[:10])
    return path


def test_labels_outside_the_fallback_scale_of_a_refused_data_grades_are_not_said(tmp_path: Path) -> None:
    """F3: a refused ``data.grades=[A,A]`` fell back to DRAC's 3 grades, and a MedMNIST
    ``.npz``'s ICDR labels were then told "outside 0..2 ... the grade scale has 3 grades: 0
    Normal ..." with a fix to edit the labels; they follow from the refusal and are left out
    (as a label CSV's already were), the refusal of data.grades said."""
    from drac_ssl import preflight

    npz = _tiny_npz(tmp_path)
    cfg, sources, _ = preflight.read_config(None, [f"data.root={npz}", "data.grades=[A,A]"])
    c = preflight._Findings(cfg, sources)
    preflight._check_data_settings(c, cfg)
    preflight._facts_from_layout(c, cfg)
    said = "\n".join(f.line for f in c.items)
    assert "gives the name 'A' twice" in said
    assert "outside 0.." not in said and "Normal" not in said.replace("[Normal, NPDR, PDR]", ""), said


def test_a_referral_target_of_no_such_form_is_refused_as_it_is_read_with_its_line(tmp_path: Path) -> None:
    """F4: ``finetune.referral_target=sensitivity:1.5`` (or ``referral_target: sensitivity``)
    was refused only by config.validate after the imports, alone and without where it was
    written; it is a reading problem now, with its FILE:LINE or override, before torch loads."""
    from drac_ssl import preflight

    path = tmp_path / "c.yaml"
    path.write_text("finetune:\n  epochs: 2\n  referral_target: sensitivity\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path}:3: 'finetune.referral_target' is 'sensitivity', not off nor")
    refusal = preflight.reading_refusal(None, ["finetune.referral_target=sensitivity:1.5", "pretrain.epochs=-1"])
    assert "command line 'finetune.referral_target=sensitivity:1.5': 'finetune.referral_target' is" in refusal
    assert "pretrain.epochs=-1" in refusal  # listed together
    assert load_config(None, ["finetune.referral_target=Specificity:0.95"]).finetune.referral_target \
        == "Specificity:0.95"


def test_a_real_data_sets_file_settings_are_said_unused_by_the_phantom_set() -> None:
    """F5: ``data.labels_csv=/nope.csv`` with an empty data.root (the phantom set) was accepted
    silently; it is warned set but not used (the layout, label CSV and its columns)."""
    from drac_ssl import preflight

    typed = ["data.labels_csv=/nope.csv", "data.patient_column=pid", "data.layout=plain"]
    cfg, sources, _ = preflight.read_config(None, [*typed, "data.fundus_crop=true"])
    c = preflight._Findings(cfg, sources)
    preflight._check_unused_settings(c, cfg, ["ingest"])
    unused = {f.setting: f.line for f in c.items if "set but not used: data.root is empty" in f.what}
    assert set(unused) == {"data.labels_csv", "data.patient_column", "data.layout"}, unused
    assert "or leave data.labels_csv out" in unused["data.labels_csv"]


def test_the_phantom_set_is_ingested_without_a_real_data_sets_file_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F5: the phantom's ingest read its folder with ``data.labels_csv=/nope.csv`` and stopped
    after the images were made; those settings (said unused) are left at their defaults there."""
    from data_prep import ingest, phantom
    from drac_ssl import preflight

    typed = ["data.labels_csv=/nope.csv", "data.patient_column=pid", "data.layout=plain"]
    cfg, _, _ = preflight.read_config(None, [*typed, "data.fundus_crop=true"])
    given: list[object] = []
    monkeypatch.setattr(phantom, "holds_set", lambda *a, **k: True)
    monkeypatch.setattr(phantom, "generate", lambda *a, **k: None)
    monkeypatch.setattr(train, "phantom_root", lambda cfg: tmp_path / "phantom")

    def ingested(data_cfg: object, out: object, **kwargs: object) -> object:
        given.append(data_cfg)
        raise RuntimeError("stop here")

    monkeypatch.setattr(ingest, "run", ingested)
    with pytest.raises(RuntimeError, match="stop here"):
        train.stage_ingest(cfg, tmp_path / "run")
    (data_cfg,) = given
    defaults = type(cfg.data)()
    assert all(getattr(data_cfg, k) == getattr(defaults, k) for k in ("labels_csv", "patient_column", "layout"))
    assert data_cfg.fundus_crop is True and data_cfg.root == str(tmp_path / "phantom")  # the others kept


def test_a_cache_size_given_twice_is_warned_with_the_list_of_each_once() -> None:
    """F7: ``data.cache_sizes=[28, 28]`` was accepted silently (the ingest caches each size
    once); a slip for another size is likely, so it is warned, with each size once as the fix."""
    from drac_ssl import preflight

    cfg, sources, _ = preflight.read_config(None, ["data.cache_sizes=[64, 28, 28]"])
    c = preflight._Findings(cfg, sources)
    preflight._check_data_settings(c, cfg)
    (said,) = [f for f in c.items if f.setting == "data.cache_sizes"]
    assert said.severity == "warning" and "gives 28 more than once: each size is cached once" in said.what
    assert said.fix == "data.cache_sizes=[28, 64]"


def test_a_grade_count_mismatch_names_the_line_of_data_grades(tmp_path: Path) -> None:
    """F8: ``grades: [A, B]`` on a MedMNIST ``.npz`` of 5 grades named the data file
    (``...npz:train_labels``) but not the config's line to edit; it names both now."""
    from drac_ssl import preflight

    npz = _tiny_npz(tmp_path)
    path = tmp_path / "two.yaml"
    path.write_text(f"data:\n  grades: [A, B]\n  root: {npz}\n", encoding="utf-8")
    cfg, sources, _ = preflight.read_config(path)
    c = preflight._Findings(cfg, sources)
    preflight._facts_from_layout(c, cfg)
    said = [f.line for f in c.items if f.severity == "error"]
    assert said and all(f"{npz}:" in line for line in said), said
    assert all(f"the grade scale (data.grades, {path}:2) has 2 grades: 0 A, 1 B" in line for line in said), said


def test_the_phantom_commands_counts_have_the_settings_bound(capsys: pytest.CaptureFixture[str]) -> None:
    """F1's bound on ``python -m data_prep phantom --n-train / --n-test`` too: a billion drew
    the plan of the ids there as in the preflight."""
    import argparse

    from data_prep import phantom

    parser = argparse.ArgumentParser()
    phantom.add_arguments(parser)
    assert parser.parse_args(["--out", "x", "--n-test", "100000"]).n_test == 100000
    for option in ("--n-train", "--n-test"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", option, "1000000000"])
        assert f"argument {option}: '1000000000' is not allowed" in capsys.readouterr().err


def test_a_deep_nesting_over_several_lines_is_said_at_the_line_it_starts() -> None:
    """F2: the line given is the outermost bracket's, where the value starts, brackets inside
    quotes and comments not counted."""
    from drac_ssl.config import _deep_nesting_line

    text = "a: '[[[['  # [[[[\nepochs:\n  [\n" + "[\n" * 100 + "]\n" * 101
    assert _deep_nesting_line(text) == 3
    assert _deep_nesting_line("epochs: [[3]]\n") is None


def test_an_override_nested_thousands_deep_is_refused_naming_it_not_a_recursion_traceback() -> None:
    """Review F1: ``pretrain.epochs=[[[...]]]`` 600 deep on the command line gave PyYAML's
    RecursionError (a traceback, exit 1) from typed_keys and load_config; it is refused as a
    file's is, naming the override, in the first pass too."""
    from drac_ssl import preflight
    from drac_ssl.config import typed_keys

    deep = "pretrain.epochs=" + "[" * 600 + "]" * 600  # past Python's recursion limit of 1000 (frames per bracket)
    assert typed_keys([deep]) == frozenset()  # said where the override is applied
    with pytest.raises(ConfigError) as refused:
        load_config(None, [deep])
    said = str(refused.value)
    assert said.startswith("command line 'pretrain.epochs=[[[") and "]': refused: its lists or mappings nest deeper" in said
    assert "fix: pretrain.epochs=100 (the default)" in said
    assert "refused: its lists or mappings nest deeper" in preflight.reading_refusal(None, [deep])


@pytest.mark.parametrize(("text", "line"), [
    ("run:\n# see [1\npretrain:\n  epochs: ", 4),  # a comment at a line's start
    ("# don't\nrun:\n  name: it's\npretrain:\n  epochs: ", 5),  # apostrophes open no quote
    ("run:\r\n  name: x  # don't\r\npretrain:\r\n  epochs: ", 4),  # CRLF: one line each
    ("a: [x, 'y''s [[[']\r\rb: ", 3),  # '' is an apostrophe inside quotes; a CR alone ends a line
    ('a: "x\\"[[[[" \nb: [\'[[\', "[["]\nepochs: ', 3),  # escaped and quoted brackets
])
def test_the_deep_nesting_line_skips_comments_and_apostrophes_and_counts_crlf_once(text: str, line: int) -> None:
    """Review F2: a ``#`` after a newline opened no comment (its ``[`` counted), an apostrophe of
    ``# don't`` or ``name: it's`` opened a quote that hid the nesting (None), and a CRLF file's
    line is counted as an editor counts it."""
    from drac_ssl.config import _deep_nesting_line

    assert _deep_nesting_line(text + "[" * 3000 + "]" * 3000 + "\n") == line


def test_a_phantom_count_beyond_its_bound_with_a_real_data_root_is_warned_unused_not_refused() -> None:
    """Review F3: with a data.root (your images) the phantom set is not made, so
    ``data.phantom_n_train=200000`` is no error there (it was refused after torch loaded): it is
    warned set but not used; with an empty data.root the bound still refuses it."""
    from drac_ssl import preflight

    overrides = ["data.root=/nonexistent/drac_images", "data.phantom_n_train=200000"]
    assert preflight.reading_refusal(None, overrides) == ""
    cfg, sources, _ = preflight.read_config(None, overrides)
    c = preflight._Findings(cfg, sources)
    preflight._check_data_settings(c, cfg)
    preflight._check_unused_settings(c, cfg, ["ingest"])
    said = [(f.severity, f.setting, f.what, f.fix) for f in c.items if f.setting == "data.phantom_n_train"]
    assert said == [("warning", "data.phantom_n_train",
                     "set but not used: data.root is set, so your images are ingested and no phantom set "
                     "is generated: this count of phantom images is not read",
                     "data.root=\"''\" (empty) to run the phantom set with it, or leave data.phantom_n_train out")]
    cfg, sources, _ = preflight.read_config(None, ["data.phantom_n_train=200000"])
    c = preflight._Findings(cfg, sources)
    preflight._check_data_settings(c, cfg)
    assert [f.severity for f in c.items if f.setting == "data.phantom_n_train"] == ["error"]


def test_dataconfig_reads_its_switches_as_a_config_file_does() -> None:
    """Review F4: ``DataConfig(strict="false")`` kept the text, which is truthy, and turned strict
    mode on; true / false in any case are read, a numpy bool is a bool, and "1", 0 are refused
    as a config file's are, with a Python fix."""
    import numpy as np

    from drac_ssl.config import DataConfig

    assert DataConfig(strict="false").strict is False and DataConfig(graham="TRUE").graham is True
    assert DataConfig(strict=np.bool_(True)).strict is True and DataConfig().strict is False
    for value, fix in (("1", "DataConfig(strict=True) (write true or false"), ("0", "DataConfig(strict=False) (write"),
                       (1, "DataConfig(strict=False) (the default)")):
        with pytest.raises(ConfigError) as refused:
            DataConfig(strict=value)
        assert str(refused.value).startswith(f"DataConfig: 'data.strict' must be true or false, got {value!r}.")
        assert f"fix: {fix}" in str(refused.value)
