"""A cluster review (F1): on a read-only checkout README command (1) (scripts/run_default.sh,
which runs in the checkout) made the run folder, then stopped in the ingest on
``data/phantom/.../.phantom.partial.json: could not be written: the disk is read-only ...
fix: remount it read-write``: a path relative to a folder the message never named, and a fix a
cluster user cannot apply. The preflight now refuses the run before any stage with the phantom
folder's absolute path and what the user can do; the write error names the absolute path and
the same ways out."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from drac_ssl import io, preflight, train
from drac_ssl.config import load_config

RUN = ["run.device=cpu", "run.name=ro", "run.stages=[ingest]", "data.phantom_n_train=15", "data.phantom_n_test=3",
       "data.n_folds=2", "run.out_dir=elsewhere/runs"]


def test_a_phantom_folder_that_cannot_be_made_is_refused_before_any_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "data").write_text("")  # data/phantom cannot be made here, root or not (ENOTDIR)
    monkeypatch.chdir(checkout)
    ran: list[str] = []
    monkeypatch.setitem(train.STAGES, "ingest", lambda cfg, run_dir: ran.append("ingest") or {})
    assert train.main(RUN) == 2
    err = capsys.readouterr().err
    folder = checkout / "data" / "phantom" / "seed0-train15-test3"
    assert f"the embedded phantom UW-OCTA set is made in {folder} " in err, err
    assert f"which cannot be written: {checkout / 'data'} is not a folder" in err, err
    assert "run the command from a folder you can write to" in err and "phantom --out DIR --n-train 15" in err, err
    assert "data.root=DIR" in err and "remount" not in err, err
    assert ran == [] and not (checkout / "elsewhere").exists()  # nothing run, no run folder made


def test_a_read_only_folder_is_refused_unless_it_holds_the_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for a folder without write permission (os.access: a read-only mount too); a
    complete set there is only read, so it runs."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, RUN)
    real_access = os.access
    monkeypatch.setattr(preflight.os, "access", lambda p, mode: real_access(p, mode) and Path(p) != tmp_path)
    findings = preflight.check(cfg, tmp_path / "elsewhere" / "runs" / "ro")
    said = [f for f in findings if f.setting == "data.root" and f.severity == "error"]
    assert len(said) == 1 and f"{tmp_path} is " in said[0].what, findings
    monkeypatch.setattr("data_prep.phantom.holds_set", lambda *a, **k: True)
    (tmp_path / "data" / "phantom" / "seed0-train15-test3").mkdir(parents=True)
    findings = preflight.check(cfg, tmp_path / "elsewhere" / "runs" / "ro")
    assert not [f for f in findings if f.setting == "data.root" and f.severity == "error"], findings


def test_a_write_refused_in_the_phantom_folder_names_its_absolute_path_and_the_ways_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, RUN)
    partial = Path("data/phantom/seed0-train15-test3/.phantom.partial.json")  # as the ingest names it
    with pytest.raises(train.RunFolderWriteError) as said, train.run_folder_writes(cfg, tmp_path / "runs" / "ro"):
        with io.writing(partial):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(partial))
    words = str(said.value)
    assert words.startswith(f"{tmp_path / partial}: could not be written: the disk is read-only"), words
    assert "or run the command from a folder you can write to" in words and "data.root=DIR" in words, words


def test_an_existing_read_only_phantom_folder_is_refused_though_its_parent_is_writable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches the writability check starting at the phantom folder's parents, skipping the
    folder itself: a partial set copied read-only under a writable data/phantom would fail the
    ingest, so the preflight refuses it, naming that folder."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, RUN)
    folder = tmp_path / "data" / "phantom" / "seed0-train15-test3"
    folder.mkdir(parents=True)
    real_access = os.access  # root may write anything: the folder is made read-only by its answer
    monkeypatch.setattr(preflight.os, "access", lambda p, mode: real_access(p, mode) and Path(p) != folder)
    findings = preflight.check(cfg, tmp_path / "elsewhere" / "runs" / "ro")
    said = [f for f in findings if f.setting == "data.root" and f.severity == "error"]
    assert len(said) == 1 and f"{folder} is " in said[0].what, findings


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_a_permission_refused_in_the_phantom_folder_gives_the_read_only_ways_out(
        code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches only EROFS getting the phantom folder's ways out: a checkout the user may not
    write (EACCES/EPERM, not a read-only mount) is told to run from a writable folder or set
    data.root, naming the phantom file, not told to chmod the run folder."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, RUN)
    partial = Path("data/phantom/seed0-train15-test3/.phantom.partial.json")
    with pytest.raises(train.RunFolderWriteError) as said, train.run_folder_writes(cfg, tmp_path / "runs" / "ro"):
        with io.writing(partial):
            raise OSError(code, os.strerror(code), str(partial))
    words = str(said.value)
    assert words.startswith(f"{tmp_path / partial}: could not be written"), words
    assert "or run the command from a folder you can write to" in words and "data.root=DIR" in words, words
