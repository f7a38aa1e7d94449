"""Another account's run folder (mode 0700, ``run.private``, the default) given to a command: a
CLI review found an uncaught PermissionError traceback (exit 1) from train, report, compare,
the app's ``--bundle``, the ingest's ``--labels-csv``, and the export saying "check that it can
be written" of a file it could not read. Each says now, exit 2, the file, that the folder is
private to its owner, and the fixes (run as the owner, ``chmod -R g+rX``, copy the bundle).

The folder is closed by :func:`closed_folder.close_folder` (the tests run as root here, which
every mode lets in); the last test closes one for real with ``chmod`` where not root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from closed_folder import close_folder
from fake_ingest import make_finished_run

PRIVATE = "is private to its owner"
FIX = "chmod -R g+rX"


def _said(err: str, folder: Path) -> None:
    assert "Traceback" not in err, err
    assert f"{folder} {PRIVATE}" in err and "this account may not read it" in err, err
    assert "run the command as" in err and FIX in err, err


@pytest.fixture
def closed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = make_finished_run(tmp_path / "runs" / "theirs")
    close_folder(monkeypatch, run)
    return run


def test_report_and_compare_say_a_closed_run_folder(closed_run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import compare, report

    assert report.main([str(closed_run)]) == 2
    _said(capsys.readouterr().err, closed_run)
    mine = make_finished_run(tmp_path / "runs" / "mine")
    assert compare.main([str(mine), str(closed_run)]) == 2
    _said(capsys.readouterr().err, closed_run)


def test_train_says_a_closed_run_folder_and_config(closed_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import commands, train

    with pytest.raises(SystemExit) as stopped:  # -c RUN/config.yaml: before torch loads
        commands.refuse_train_early(["-c", str(closed_run / "config.yaml")])
    assert stopped.value.code == 2
    _said(capsys.readouterr().err, closed_run)
    # resuming it by name: the preflight reads its config.yaml (train.py's _existing_run_problem)
    code = train.main([f"run.out_dir={closed_run.parent}", f"run.name={closed_run.name}", "run.device=cpu",
                       "run.stages=[ingest]", f"data.root={closed_run.parent.parent / 'nowhere'}"])
    err = capsys.readouterr().err
    assert code == 2, err
    _said(err, closed_run)


def test_the_export_says_a_read_not_a_write(closed_run: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import export

    images = tmp_path / "images"
    images.mkdir()
    code = export.main([str(closed_run), "--images", str(images), "--out", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 2, err
    _said(err, closed_run)
    assert "can be written" not in err and "copy the bundle" in err, err
    # --check of a file in it: a usage error (exit 2), not "FILE:0:" and exit 1
    assert export.main(["--check", str(closed_run / "export" / "submission.csv")]) == 2
    err = capsys.readouterr().err
    _said(err, closed_run)
    assert ":0:" not in err


def test_the_app_bundle_and_the_ingest_say_a_closed_run_folder(closed_run: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from data_prep.__main__ import main as data_prep_main
    from drac_ssl.grading.bundle_folder import BundleError, bundle_folder

    for given in (closed_run, closed_run / "bundle"):
        with pytest.raises(BundleError) as refused:
            bundle_folder(given)
        _said(str(refused.value), closed_run)
        assert "copy the bundle" in str(refused.value)
    images = tmp_path / "images"
    images.mkdir()
    out = tmp_path / "ingested"
    assert data_prep_main(["ingest", "--root", str(images), "--labels-csv",
                           str(closed_run / "data" / "manifest.csv"), "--out", str(out)]) == 2
    _said(capsys.readouterr().err, closed_run)
    assert not out.exists()


def test_the_words_of_an_unreadable_file_and_of_a_failing_disk(tmp_path: Path) -> None:
    import errno

    from drac_ssl.io import unreadable_words

    file = tmp_path / "locked.csv"
    file.write_text("x\n")
    words = unreadable_words(PermissionError(errno.EACCES, "Permission denied", str(file)), what="a label CSV")
    assert words.startswith(f"{file} (a label CSV): this account may not read it (Permission denied")
    assert f"chmod g+r {file}" in words
    words = unreadable_words(OSError(errno.EIO, "Input/output error", str(file)))
    assert words.startswith(f"{file}: could not be read (Input/output error)") and "dmesg" in words


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="POSIX modes; root ignores them")
def test_a_run_folder_closed_by_its_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import report

    run = make_finished_run(tmp_path / "runs" / "closed")
    (run / "config.yaml").chmod(0)
    try:
        assert report.main([str(run)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "this account may not read it" in err, err
    finally:
        (run / "config.yaml").chmod(0o600)


def test_the_access_fix_is_worded_once_for_a_run_folder_and_a_bundle_copy(tmp_path: Path) -> None:
    """``drac_ssl.io.access_fix`` words the chmod/chgrp fix both refusals give: a run folder
    (patient data) is opened to a group only, a bundle copy also to every local account."""
    from drac_ssl.grading.bundle import unreadable_bundle_file
    from drac_ssl.io import access_fix

    folder = tmp_path / "my bundle"
    quoted = f"'{folder}'"
    group = f"chgrp -R GROUP {quoted} && chmod -R g+rX {quoted}"
    assert access_fix(folder) == group
    assert access_fix(folder, "rwX").endswith(f"chmod -R g+rwX {quoted}")
    assert access_fix(folder, everyone=True) == f"chmod -R a+rX {quoted} (every local account), or {group}"
    said = str(unreadable_bundle_file(folder, folder / "fold0.safetensors", PermissionError(13, "Permission denied")))
    assert access_fix(folder, everyone=True) in said
