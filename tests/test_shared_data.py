"""tests/helpers/shared_data.py: where the tests find the real data (``DRAC_SSL_SHARED_DATA``,
else ``../shared/data``), and what a run says when the data is not there.

A clone anywhere but beside ``../shared`` used to skip every real-data test and still end green:
the variable points the tests at the data, a typo in it stops the run, and the run's summary
counts the tests that skipped for want of the data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from shared_data import (
    DEFAULT_SHARED_DATA,
    ENV_VAR,
    MISSING_MARK,
    REPO,
    SHARED_DATA,
    SharedDataError,
    check_complete,
    listed_files,
    missing_reason,
    need,
    needs,
    shared_data_folder,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_variable_wins_over_the_folder_beside_the_repository(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert shared_data_folder({ENV_VAR: str(tmp_path)}) == tmp_path
    monkeypatch.chdir(tmp_path.parent)  # a relative path is taken from the current folder
    assert shared_data_folder({ENV_VAR: tmp_path.name}) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path.parent))
    assert shared_data_folder({ENV_VAR: f"~/{tmp_path.name}"}) == tmp_path


def test_unset_reads_shared_data_beside_the_repository() -> None:
    assert REPO == ROOT and (REPO / "pyproject.toml").is_file()
    assert shared_data_folder({}) == DEFAULT_SHARED_DATA == ROOT.parent / "shared" / "data"
    if ENV_VAR not in os.environ:
        assert SHARED_DATA == DEFAULT_SHARED_DATA


@pytest.mark.parametrize("what", ["missing", "file", "empty"])
def test_set_but_not_a_folder_is_an_error_that_says_how_to_fix_it(tmp_path: Path, what: str) -> None:
    value = {"missing": str(tmp_path / "shraed" / "data"), "file": str(tmp_path / "data.txt"), "empty": ""}[what]
    (tmp_path / "data.txt").write_text("not a folder")
    with pytest.raises(SharedDataError) as error:
        shared_data_folder({ENV_VAR: value})
    message = str(error.value)
    said = {"missing": f"{ENV_VAR}={value} is no such folder", "file": f"{ENV_VAR}={value} is a file, not a folder",
            "empty": f"{ENV_VAR} is set but empty"}[what]
    assert said in message, message
    assert "set it to the folder that holds drac_samples/, aptos_samples/" in message, message
    assert f"or unset it to read {DEFAULT_SHARED_DATA}" in message, message


def test_skip_reasons_say_where_they_looked_and_name_the_variable(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    reason = missing_reason("the real DRAC samples", tmp_path / "drac_samples")
    assert reason == (f"the real DRAC samples not found at {tmp_path / 'drac_samples'} (real data absent; "
                      f"{ENV_VAR} is unset and ../shared/data beside the repository lacks it; "
                      f"set {ENV_VAR} to the data folder)")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    reason = missing_reason("RetinaMNIST", tmp_path / "retinamnist")
    assert reason == (f"RetinaMNIST not found at {tmp_path / 'retinamnist'} (real data absent; "
                      f"{ENV_VAR}={tmp_path} names a folder without it)")
    assert MISSING_MARK in reason
    with pytest.raises(pytest.skip.Exception, match="RetinaMNIST not found at"):
        need(tmp_path / "retinamnist", "RetinaMNIST")
    (tmp_path / "retinamnist" / "sub").mkdir(parents=True)  # the folders of a copy without their files
    with pytest.raises(pytest.skip.Exception, match="RetinaMNIST not found at"):
        need(tmp_path / "retinamnist", "RetinaMNIST")
    assert needs(tmp_path / "retinamnist", "RetinaMNIST").args == (True,)
    (tmp_path / "retinamnist" / "sub" / "x.npz").write_bytes(b"")
    assert need(tmp_path / "retinamnist", "RetinaMNIST") == tmp_path / "retinamnist"
    assert needs(tmp_path / "retinamnist", "RetinaMNIST").args == (False,)


def test_the_real_drac_samples_are_three_pngs() -> None:
    """The one real-data test of this file (run on its own by the next two tests)."""
    samples = need(SHARED_DATA / "drac_samples", "the real DRAC samples")
    assert sorted(p.name for p in samples.glob("sample_*.png")) == [f"sample_{i}.png" for i in range(3)]


_THREE_PNGS_LINE = test_the_real_drac_samples_are_three_pngs.__code__.co_firstlineno + 2  # its need(...)


def _pytest(env_value: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if env_value is not None:
        env[ENV_VAR] = env_value
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_shared_data.py", "-k", "three_pngs", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_run_pointed_at_a_folder_without_the_data_says_so_at_the_end(tmp_path: Path) -> None:
    run = _pytest(str(tmp_path), "-rs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout, run.stdout
    # -rs names the test's own line (need() hides its frame), with where it looked
    assert (f"SKIPPED [1] tests/test_shared_data.py:{_THREE_PNGS_LINE}: the real DRAC samples not found at "
            f"{tmp_path / 'drac_samples'} (real data absent; {ENV_VAR}={tmp_path} names a folder without it)"
            in run.stdout), run.stdout
    line = (f"1 test(s) skipped: the real data they need is not under {tmp_path} ({ENV_VAR}={tmp_path}); "
            f"point {ENV_VAR} at the team's shared data folder (the one that holds drac_samples/, "
            f"aptos_samples/, retinamnist/, ...) to run them, and -rs lists them")
    assert line in run.stdout, run.stdout


def test_a_run_with_the_variable_naming_no_folder_stops_before_any_test(tmp_path: Path) -> None:
    run = _pytest(str(tmp_path / "typo"))
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert f"{ENV_VAR}={tmp_path / 'typo'} is no such folder" in run.stderr, run.stderr
    assert "passed" not in run.stdout and "skipped" not in run.stdout, run.stdout


def _listing(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SHA256SUMS").write_text("".join(f"{'ab' * 32}  {name}\n" for name in names), encoding="utf-8")


def test_a_data_folder_missing_files_its_checksum_list_names_is_said_with_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The auditor's F2: a partial copy failed tests with raw FileNotFoundError/IngestError."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    check_complete(tmp_path)  # no list: nothing to check (the tests that need a file skip)
    names = [f"drac_samples/sample_{i}.png" for i in range(12)] + ["aptos_samples/train.csv"]
    _listing(tmp_path, *names)
    (tmp_path / "drac_samples").mkdir()
    (tmp_path / "drac_samples" / "sample_0.png").write_bytes(b"")
    with pytest.raises(SharedDataError) as error:
        check_complete(tmp_path)
    message = str(error.value)
    assert (f"the real data folder {tmp_path} ({ENV_VAR}={tmp_path}) is incomplete: 12 of the 13 files its "
            f"SHA256SUMS lists are missing: drac_samples/sample_1.png, ") in message, message
    assert "drac_samples/sample_0.png" not in message and ", ... (2 more)" in message, message
    assert "Copy them from the team's shared data folder" in message, message
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    check_complete(tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"{'ab' * 32}  a\nnot a line\n", encoding="utf-8")
    with pytest.raises(SharedDataError, match=r"SHA256SUMS, line 2: 'not a line' is not '<sha256>  <path>'"):
        check_complete(tmp_path)


def test_names_sha256sum_escapes_are_read_as_the_names_they_stand_for(tmp_path: Path) -> None:
    """sha256sum writes a line that starts with a backslash for a name holding a backslash or a
    newline, its name escaped: such a list stopped the run as 'not <sha256>  <path>'."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "SHA256SUMS").write_text(f"{'ab' * 32}  plain.png\n\\{'cd' * 32}  sub/back\\\\slash.png\n"
                                         f"\\{'ef' * 32}  new\\nline.png\n", encoding="utf-8")
    assert listed_files(tmp_path) == ["plain.png", "sub/back\\slash.png", "new\nline.png"]
    for name in ("plain.png", "sub/back\\slash.png"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(SharedDataError, match="1 of the 3 files its SHA256SUMS lists are missing: new\nline.png"):
        check_complete(tmp_path)
    (tmp_path / "new\nline.png").write_bytes(b"")
    check_complete(tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"\\{'ab' * 32}  odd\\x.png\n", encoding="utf-8")  # no escape of sha256sum
    with pytest.raises(SharedDataError, match=r"SHA256SUMS, line 1: .* is not '<sha256>  <path>'"):
        listed_files(tmp_path)


def test_an_unreadable_checksum_list_stops_with_the_fix_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SHA256SUMS the user may not read raised a bare PermissionError out of pytest_configure."""
    _listing(tmp_path, "drac_samples/sample_0.png")
    read_text = Path.read_text

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "SHA256SUMS":
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(SharedDataError) as error:
        check_complete(tmp_path)
    assert str(error.value) == (
        f"the real data folder's checksum list {tmp_path / 'SHA256SUMS'} cannot be read (Permission denied): make "
        f"it readable (`chmod a+r {tmp_path / 'SHA256SUMS'}`), or point {ENV_VAR} at a copy of the data you can read")


def test_a_run_pointed_at_an_incomplete_data_folder_stops_before_any_test(tmp_path: Path) -> None:
    _listing(tmp_path, "drac_samples/sample_0.png")
    run = _pytest(str(tmp_path))
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "is incomplete: 1 of the 1 files its SHA256SUMS lists are missing: drac_samples/sample_0.png" in run.stderr
    assert "passed" not in run.stdout and "skipped" not in run.stdout, run.stdout
