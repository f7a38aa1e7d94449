"""One reader of a run folder's saved ``config.yaml`` (:func:`drac_ssl.config.read_saved_config`).

An audit found it read raw in ~14 places, each catching its own set of errors: a config.yaml
with bytes that are not UTF-8 made ``report.run_keep`` / ``report.run_freeze`` raise
UnicodeDecodeError (their docstrings promise None), ``python -m drac_ssl.report RUN`` said
only "'utf-8' codec can't decode byte 0xff in position 14" (no file, no fix), and one whose
top level is a list ended the report in a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl.config import ConfigError, read_saved_config

BAD_BYTES = b"run:\n  name: x\xff\xfe\n"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fake_ingest import make_finished_run

    return make_finished_run(tmp_path_factory.mktemp("saved") / "runs" / "done")


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run folder, whose config.yaml a test may damage."""
    import shutil

    return Path(shutil.copytree(finished, tmp_path / "runs" / "done", symlinks=True))


def test_the_reader_gives_the_settings_and_empty_for_no_config(tmp_path: Path) -> None:
    assert read_saved_config(tmp_path) == {} == read_saved_config(tmp_path / "gone", strict=True)
    (tmp_path / "config.yaml").write_text("# only a comment\n")
    assert read_saved_config(tmp_path, strict=True) == {}
    (tmp_path / "config.yaml").write_text("run:\n  name: no\n  seed: 3\n")
    assert read_saved_config(tmp_path) == {"run": {"name": "no", "seed": 3}}  # YAML 1.2: 'no' a word


@pytest.mark.parametrize(("text", "said"), [
    (BAD_BYTES, ":2: not UTF-8 (byte 0xff): the run's saved configuration cannot be read"),
    (b"- data\n- run\n", ": the top level is a list, not the mapping of sections"),
    (b"run:\n  name: [x\n", ":2: not valid YAML"),
    # PyYAML's bare ValueError for date-shaped text that is no date (a review: run_state raised it)
    (b"run:\n  out_dir: runs\n  name: 2026-02-30\n", ":3: 2026-02-30 is read as a date (YAML 1.1"),
])
def test_a_damaged_config_is_empty_to_a_lenient_caller_and_a_clear_error_to_a_strict_one(
        tmp_path: Path, text: bytes, said: str) -> None:
    saved = tmp_path / "config.yaml"
    saved.write_bytes(text)
    assert read_saved_config(tmp_path) == {}
    with pytest.raises(ConfigError) as caught:
        read_saved_config(tmp_path, strict=True)
    assert str(caught.value).startswith(f"{saved}{said}"), caught.value
    assert "\n  fix: " in str(caught.value)


def test_run_state_reads_a_no_date_config_as_no_config(tmp_path: Path) -> None:
    from drac_ssl import run_state

    (tmp_path / "config.yaml").write_text("run:\n  out_dir: runs\n  name: 2026-02-30\n")
    assert run_state.recorded_run_folder(tmp_path, str(tmp_path)) is None
    assert run_state.planned_stages(tmp_path) == run_state.planned_stages(tmp_path / "gone")


def test_a_no_date_value_is_said_with_its_quoted_fix(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("run:\n  name: 2026-13-01  # a name\n")
    with pytest.raises(ConfigError, match=r"month must be in 1\.\.12.*\n  fix: quote it to keep it as "
                       r"text, `  name: '2026-13-01'  # a name`"):
        read_saved_config(tmp_path, strict=True)


def test_run_keep_and_run_freeze_say_none_for_a_config_that_is_not_utf8(run: Path) -> None:
    from drac_ssl import report

    (run / "config.yaml").write_bytes(BAD_BYTES)
    assert report.run_freeze(run) is None and report.run_keep(run) is None


@pytest.mark.parametrize(("text", "said"), [
    (BAD_BYTES, ":2: not UTF-8 (byte 0xff)"),
    (b"- data\n- run\n", ": the top level is a list"),
    (b"run:\n  name: [x\n", ":2: not valid YAML"),
])
def test_the_report_command_writes_the_report_and_names_a_damaged_config_and_the_fix(
        run: Path, capsys: pytest.CaptureFixture[str], text: bytes, said: str) -> None:
    """A review: invalid YAML made the report exit 2 with no report.md, where main wrote it
    ("No readable config.yaml"); its figures and records do not come from config.yaml."""
    from drac_ssl import report

    saved = run / "config.yaml"
    saved.write_bytes(text)
    assert report.main([str(run)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {saved}{said}"), err
    assert "\n  fix: " in err and "codec" not in err, err
    assert "Traceback" not in err and "report.md is written without the run's settings" in err, err
    section = (run / "report.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "cannot be read, so its settings are not shown" in section and f"{saved}{said}" in section, section
    assert "\n  fix: " in section and "No readable" not in section, section


def test_the_report_command_still_refuses_a_config_edited_after_the_stages_ran(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 stays for the one case where the report would state values the run did not run with."""
    from drac_ssl import report, train

    saved = run / "config.yaml"
    (run / "report.md").unlink(missing_ok=True)
    cfg = train.load_config(saved)
    (run / "pretrain" / "metadata.json").write_text(json.dumps({"config": train.to_dict(cfg)}))  # what it ran with
    train.save_config(train.load_config(saved, [f"pretrain.lr={cfg.pretrain.lr * 2}"]), saved)  # the hand edit
    assert report.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{saved} does not say what the stages ran with" in err and not (run / "report.md").exists(), err


def test_a_resume_and_a_reuse_of_a_run_with_a_damaged_config_name_the_file(run: Path, tmp_path: Path) -> None:
    from drac_ssl import train

    cfg = train.load_config(run / "config.yaml")
    saved = run / "config.yaml"
    saved.write_bytes(BAD_BYTES)
    problem = train._existing_run_problem(cfg, run)
    assert problem.startswith(f"{saved}:2: not UTF-8 (byte 0xff)"), problem
    # the alternative on its own line (a review: "... at the end of the value.; or choose ...")
    assert problem.endswith(".\n  or: choose another run.name to start a new run"), problem
    with pytest.raises(ConfigError, match=r"(?s)not UTF-8 .*\.\n  or: run.reuse=another run folder$"):
        train.plan_reuse(cfg, run, tmp_path / "runs" / "new")
    saved.write_text("run:\n  name: [x\n")  # invalid YAML: its fix ends in "." too
    problem = train._existing_run_problem(cfg, run)
    assert ".;" not in problem and problem.endswith(
        "' at the end of the value.\n  or: choose another run.name to start a new run"), problem


def test_a_value_pyyaml_cannot_construct_is_empty_or_a_clear_error(tmp_path: Path) -> None:
    # ``!!float abc``: PyYAML raises a bare ValueError, not a YAMLError (mutation audit M3)
    (tmp_path / "config.yaml").write_text("run:\n  x: !!float abc\n")
    assert read_saved_config(tmp_path) == {}
    with pytest.raises(ConfigError) as caught:
        read_saved_config(tmp_path, strict=True)
    said = str(caught.value)
    assert "config.yaml: a value in it cannot be read" in said and "abc" in said, said
    assert "\n  fix: put back the config.yaml the run wrote" in said and "quote that value" in said, said


def test_a_config_yaml_that_is_a_folder_is_an_oserror_to_a_strict_caller(tmp_path: Path) -> None:
    # documented: an unreadable file (a folder of that name) is passed on as the OSError (M2)
    (tmp_path / "config.yaml").mkdir()
    assert read_saved_config(tmp_path) == {}
    with pytest.raises(IsADirectoryError):
        read_saved_config(tmp_path, strict=True)


def test_a_run_folder_that_is_a_file_is_no_config_even_to_a_strict_caller(tmp_path: Path) -> None:
    # documented: "(or no such folder)" is {}; a file where the run folder should be is no such folder (M6)
    (tmp_path / "run").write_text("not a folder\n")
    assert read_saved_config(tmp_path / "run", strict=True) == {} == read_saved_config(tmp_path / "run")
