"""An outside tester with awkward file locations (paths80).

F1: ``'run.out_dir=~/runs3'`` (quoted, so the shell left the ``~``) or ``run.out_dir: ~/runs`` in
a YAML file was taken literally by the training (``Path(cfg.run.out_dir) / name``) while the
ingest expanded it: one run split between ``$HOME/runs3`` and a folder ``./~/runs3``. Every path
setting's ``~`` is expanded once, when the config is loaded; the export's ``--images '~/x'`` too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import config, export, preflight
from drac_ssl.train import resolve_run_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_a_tilde_in_every_path_setting_is_home_wherever_it_is_given(home: Path, tmp_path: Path) -> None:
    typed = config.load_config(None, ["run.out_dir=~/x", "run.name=r1", "data.root=~/d",
                                      "data.labels_csv=~/d/l.csv", "data.unlabelled=[~/u, v]",
                                      "pretrain.backbone.weights=~/w.pt", "run.reuse=~/x/r0"])
    assert resolve_run_dir(typed) == home / "x" / "r1"
    assert (typed.data.root, typed.data.labels_csv, typed.data.unlabelled) == (
        str(home / "d"), str(home / "d" / "l.csv"), [str(home / "u"), "v"])
    assert (typed.pretrain.backbone.weights, typed.run.reuse) == (str(home / "w.pt"), str(home / "x" / "r0"))
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("run:\n  out_dir: ~/runs\n  name: r2\n", encoding="utf-8")
    assert resolve_run_dir(config.load_config(yaml_file)) == home / "runs" / "r2"
    saved = config.from_dict({"run": {"out_dir": "~/old", "name": "r3"}})  # a config.yaml of before
    assert resolve_run_dir(saved) == home / "old" / "r3"
    checked, _, findings = preflight.read_config(yaml_file, ["run.name=r4"])  # the preflight's reading
    assert resolve_run_dir(checked) == home / "runs" / "r4" and findings == []


def test_the_export_reads_a_quoted_tilde_as_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "imgs").mkdir(parents=True)
    code = export.main(["~/norun", "--images", "~/imgs", "--out", "~/o.csv"])
    err = capsys.readouterr().err
    assert code == 2 and str(home / "norun") in err, err
    assert "~/" not in err, err


def test_an_environment_variable_in_a_path_setting_is_refused_where_it_was_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F5: ``run.out_dir: ${MYRUNS}/x`` silently made a folder named ``${MYRUNS}``. Variables are
    not expanded (a path means what it says); a ``$`` folder that does not exist is refused, at
    its line or override, with the path the environment would give (single-quote advice where
    the variable is not set: test_a_real_folder_named_with_a_dollar_is_taken_as_written)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MYRUNS", "/srv/runs")
    monkeypatch.delenv("SCANS", raising=False)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("run:\n  name: r\n  out_dir: ${MYRUNS}/x\n", encoding="utf-8")
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(yaml_file)
    assert str(caught.value).startswith(
        f"{yaml_file}:3: run.out_dir=${{MYRUNS}}/x: environment variables are not expanded in config "
        "paths (there is no folder ${MYRUNS}).\n  fix: write the path itself: run.out_dir=/srv/runs/x "
        "(what the environment's ${MYRUNS} expands to here); a folder really named ${MYRUNS} is not "
        "used while MYRUNS is set in the environment"), \
        caught.value
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(None, ["data.unlabelled=[/a, $SCANS/b]"])
    assert str(caught.value).startswith("command line 'data.unlabelled=[/a, $SCANS/b]': data.unlabelled="
                                        "$SCANS/b: environment variables are not expanded"), caught.value
    assert "the variable is not set here either" in str(caught.value), caught.value
    assert '"' not in str(caught.value).split("fix:")[1], caught.value  # double quotes expand it
    assert config.load_config(None, ["run.name=a$b", "data.root=/d/price$"]).data.root == "/d/price$"
    _, _, findings = preflight.read_config(yaml_file)
    assert [(f.setting, f.where) for f in findings if "not expanded" in f.what] == [
        ("run.out_dir", f"{yaml_file}:3")], findings


def test_a_real_folder_named_with_a_dollar_is_taken_as_written(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Reviewer F3: ``$RECYCLE.BIN`` or ``a$b`` is a folder's real name; refusing every ``$``
    refused it. A ``$`` folder that exists is accepted; the run folder below it may be new."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECYCLE", raising=False)
    (tmp_path / "$RECYCLE.BIN").mkdir()
    (tmp_path / "a$b").mkdir()
    cfg = config.load_config(None, [f"data.root={tmp_path}/$RECYCLE.BIN", "run.out_dir=a$b/runs",
                                    "run.name=r"])
    assert (cfg.data.root, cfg.run.out_dir) == (f"{tmp_path}/$RECYCLE.BIN", "a$b/runs")
    assert resolve_run_dir(cfg) == Path("a$b/runs/r")
    monkeypatch.delenv("NEW", raising=False)
    with pytest.raises(config.ConfigError, match=r"there is no folder \$NEW") as caught:  # would be made
        config.load_config(None, ["run.out_dir=$NEW/runs"])
    assert "type the setting in single quotes ('run.out_dir=$NEW/runs')" in str(caught.value)


def test_compare_sees_an_old_runs_tilde_and_a_new_runs_expanded_path_as_one(home: Path) -> None:
    """Reviewer F4: a run recorded before the expansion has ``data.root: ~/aptos``, a new one
    ``/home/me/aptos``: one folder, not a differing setting."""
    from drac_ssl.compare import _differing_settings  # noqa: PLC0415

    old = {"data.root": "~/aptos", "data.unlabelled": ["~/u"], "finetune.lr": 1}
    new = {"data.root": str(home / "aptos"), "data.unlabelled": [str(home / "u")], "finetune.lr": 2}
    assert _differing_settings([old, new]) == ["finetune.lr"]
    assert _differing_settings([old, {**new, "data.root": str(home / "b")}]) == ["data.root", "finetune.lr"]


def test_a_set_variable_is_refused_though_a_folder_of_its_name_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reader F3: the old bug made a folder ``$MYRUNS``; with it there the refusal was off and
    ``run.out_dir=$MYRUNS/x`` kept writing into it. A part that is exactly a variable set in the
    environment is refused whether or not such a folder exists; ``a$b`` is still taken."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MYRUNS", "/srv/runs")
    monkeypatch.setenv("b", "/srv/b")
    for name in ("$MYRUNS", "${MYRUNS}", "a$b"):
        (tmp_path / name).mkdir()
    for value in ("$MYRUNS/x", "${MYRUNS}/x"):
        with pytest.raises(config.ConfigError) as caught:
            config.load_config(None, [f"run.out_dir={value}"])
        said = str(caught.value)
        assert f"not expanded in config paths ($MYRUNS is set in the environment; the folder named " \
               f"{value[:-2]} is not where it points" in said, said
        assert "write the path itself: run.out_dir=/srv/runs/x" in said and "make it first" not in said, said
    assert config.load_config(None, ["run.out_dir=a$b/runs"]).run.out_dir == "a$b/runs"
    _, _, findings = preflight.read_config(None, ["run.out_dir=$MYRUNS/x"])
    assert [f.setting for f in findings if "is set in the environment" in f.what] == ["run.out_dir"], findings


def test_a_second_variable_not_set_is_not_suggested_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reader F4: ``$A/$B`` with only A set expands to ``/srv/a/$B``, still a variable: the fix
    must not offer that path as the one to write."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("A", "/srv/a")
    monkeypatch.delenv("B", raising=False)
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(None, ["run.out_dir=$A/$B"])
    fix = str(caught.value).split("fix:", 1)[1]
    assert "the variable is not set here either" in fix and "/srv/a" not in fix, fix


def test_a_variable_set_but_empty_is_not_offered_as_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review of mend_b80: with ``EMPTYV=""`` the fix for ``$EMPTYV/runs`` offered
    ``run.out_dir=/runs``, a folder at the file system's root, as "what the environment's
    $EMPTYV expands to"; it now says the variable is empty and offers no path."""
    from drac_ssl import config

    monkeypatch.setenv("EMPTYV", "")
    said = config.variable_fix("run.out_dir", "$EMPTYV/runs")
    assert said.startswith("write the path itself ($EMPTYV is set but empty here, so it would give /runs)"), said
    assert "run.out_dir=/runs" not in said
