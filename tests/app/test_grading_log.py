"""``python -m app --grading-log FILE``: one JSON line per graded image (UTC time, the signed-in
user, the image file's SHA-256, the bundle's, grade, probabilities, TTA), never the image's
name; off by default; a file that cannot be a record refused at the start."""
from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app import server
from app.grading_log import GradingLog, GradingLogError


def _scan(path: Path, seed: int) -> Path:
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2  # graded: not noise, not blank
    noise = np.random.default_rng(seed).integers(0, 40, (96, 96))
    Image.fromarray((ramp + noise).astype(np.uint8)).save(path)
    return path


def _handler(demo: Any, name: str) -> Any:
    return next(f for f in demo.fns.values() if f.api_name == name).fn


def test_each_graded_file_of_a_batch_appends_a_line_without_its_name(predictor: Any, tmp_path: Path) -> None:
    """Catches a batch not recorded, or a record naming the file or lacking the user, the
    image's and the bundle's hashes, the grade, the probabilities or the TTA."""
    record = tmp_path / "logs" / "gradings.jsonl"
    record.parent.mkdir()
    demo = server.build_demo(predictor, server.AppSettings(grading_log=str(record)))
    scans = [_scan(tmp_path / f"Doe_Jane_{i}.png", i) for i in range(2)]
    *_, csv_path, _notes = _handler(demo, "grade_batch")([str(p) for p in scans],
                                                         SimpleNamespace(username="dr_x"))
    text = record.read_text(encoding="utf-8")
    assert "Doe_Jane" not in text and str(tmp_path) not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["image_sha256"] for line in lines] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in scans]
    rows = [r.split(",") for r in Path(csv_path).read_text(encoding="utf-8").splitlines()[1:]]
    assert [line["grade"] for line in lines] == [int(r[1]) for r in rows]
    assert [line["P"] for line in lines] == [[float(p) for p in r[2:]] for r in rows]
    for line in lines:
        assert line["user"] == "dr_x" and line["tta"] is predictor.tta and line["via"] == "batch"
        assert line["bundle_metadata_sha256"] == predictor.bundle.metadata_sha256
        assert line["grade_name"] == predictor.grade_names[line["grade"]] and line["utc"].endswith("+00:00")
    assert stat.S_IMODE(record.stat().st_mode) == 0o600


def test_a_single_grading_is_recorded_with_no_user_without_logins(predictor: Any, tmp_path: Path) -> None:
    """Catches the single-image tab's grading not recorded, and a user invented without logins;
    no record without --grading-log (the default)."""
    assert server.AppSettings().grading_log is None
    scan = _scan(tmp_path / "Doe_Jane.png", 0)
    record = tmp_path / "g.jsonl"
    *_, details = _handler(server.build_demo(predictor, server.AppSettings(grading_log=str(record))),
                           "grade")(str(scan), -1, None)
    [line] = [json.loads(text) for text in record.read_text(encoding="utf-8").splitlines()]
    assert line["user"] is None and line["via"] == "single" and "Doe_Jane" not in json.dumps(line)
    assert line["image_sha256"] == hashlib.sha256(scan.read_bytes()).hexdigest()
    assert line["grade"] == details["grade"] and line["P"] == pytest.approx(details["P"], abs=1e-6)


def test_a_place_that_cannot_hold_the_record_is_refused_at_the_start(tmp_path: Path) -> None:
    """Catches a bad --grading-log found only at the first grading (the gradings meanwhile
    unrecorded): a folder, a missing folder, a link."""
    (tmp_path / "real.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    for bad in (tmp_path, tmp_path / "missing" / "g.jsonl", tmp_path / "link.jsonl"):
        with pytest.raises(GradingLogError, match="(?s)--grading-log .*fix: give --grading-log a plain file"):
            GradingLog(bad)


def test_python_m_app_refuses_a_bad_grading_log_before_serving(
        predictor: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Catches --grading-log not wired to the command (ignored, or refused only at a grading)."""
    from app.__main__ import main

    assert main(["--bundle", str(predictor.path), "--quiet", "--grading-log", str(tmp_path)]) == 2
    assert f"error: --grading-log {tmp_path}: cannot be opened" in capsys.readouterr().err


def _a_line(n: int) -> str:
    return GradingLog.line(utc="2026-12-07T04:30:00+00:00", user=None, image_sha256=f"{n:064x}",
                           bundle_sha256="b" * 64, grade=1, grade_name="NPDR", probabilities=[0.1, 0.7, 0.2],
                           tta=True, via="single")


def test_a_short_write_is_finished_and_a_full_disk_leaves_no_glued_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a short os.write (a disk filling up) taken for the whole line: half a line
    written, success reported, and the next line glued to it."""
    import os

    record = GradingLog(tmp_path / "g.jsonl")
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[:max(1, len(data) // 2)]))
    assert record.record([_a_line(1), _a_line(2)])  # short writes: the rest follows
    assert [json.loads(t)["image_sha256"] for t in record.path.read_text().splitlines()] == [
        f"{1:064x}", f"{2:064x}"]
    full = {"left": 40}  # the disk fills up within the next line: 40 bytes, then nothing

    def filling(fd: int, data: bytes) -> int:
        n = min(len(data), full["left"])
        full["left"] -= n
        return real_write(fd, bytes(data)[:n]) if n else 0
    monkeypatch.setattr(os, "write", filling)
    assert not record.record([_a_line(3)])  # a failure, not success
    monkeypatch.setattr(os, "write", real_write)
    assert record.record([_a_line(4)])
    lines = record.path.read_text().splitlines()
    assert len(lines) == 4 and lines[2] == _a_line(3)[:40]  # the cut line stays alone
    assert json.loads(lines[3])["image_sha256"] == f"{4:064x}"


def test_each_run_of_failures_is_said_once_and_the_recovery_with_the_lines_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Catches a record that fails silently for ever after its first failure: each run of
    failures is said once, the next line written says recording works again and how many lines
    were lost."""
    import logging
    import os

    record = GradingLog(tmp_path / "g.jsonl")
    real_write = os.write
    caplog.set_level(logging.INFO, logger="app")
    for episode in (1, 2):
        monkeypatch.setattr(os, "write", lambda fd, data: 0)  # a full disk
        assert not record.record([_a_line(1), _a_line(2)]) and not record.record([_a_line(3)])
        monkeypatch.setattr(os, "write", real_write)
        assert record.record([_a_line(4)])
        said = [r.getMessage() for r in caplog.records]
        caplog.clear()
        assert len(said) == 2, said
        assert "2 grading line(s) could not be recorded" in said[0]
        assert said[1].endswith(f"recording again; 3 grading line(s) were lost since it failed "
                                f"({3 * episode} since the start)"), said
    assert record.lost == 6


def test_a_graded_upload_removed_before_its_hash_is_a_lost_line_said(
        predictor: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a graded image left out of the record silently (its upload gone before it was
    hashed: single_grading_lines had nothing to say)."""
    import logging

    scan = _scan(tmp_path / "Doe_Jane.png", 0)
    details = {"grade": 1, "P": [0.2, 0.5, 0.3]}
    assert server.single_grading_lines(predictor, str(scan), details, None)
    assert server.single_grading_lines(predictor, str(scan), {"error": "busy"}, None) == []
    scan.unlink()
    assert server.single_grading_lines(predictor, str(scan), details, None) is None
    # the single-image tab: graded, then the upload gone before the record hashes it
    grade = _handler(server.build_demo(predictor, server.AppSettings(grading_log=str(tmp_path / "g.jsonl"))),
                     "grade")
    scan = _scan(tmp_path / "Doe_Jane.png", 0)

    def gone(path: object) -> str:
        raise FileNotFoundError(2, "No such file or directory")
    monkeypatch.setattr(server, "sha256_file", gone)
    caplog.set_level(logging.INFO, logger="app")
    *_, details = grade(str(scan), -1, None)
    assert details.get("grade") is not None
    said = [r.getMessage() for r in caplog.records if "--grading-log" in r.getMessage()]
    assert len(said) == 1 and "1 grading line(s) not recorded: a graded upload was removed" in said[0]
    assert "Doe_Jane" not in said[0] and (tmp_path / "g.jsonl").read_text() == ""


def test_a_batch_whose_record_cannot_be_read_is_lost_lines_said(
        predictor: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a graded batch left out of the record silently (its provenance record unreadable:
    batch_grading_lines had no lines to give, and nothing was said)."""
    import logging

    record = tmp_path / "g.jsonl"
    grade_batch = _handler(server.build_demo(predictor, server.AppSettings(grading_log=str(record))),
                           "grade_batch")
    scans = [_scan(tmp_path / f"Doe_Jane_{i}.png", i) for i in range(2)]
    monkeypatch.setattr(server, "grading_provenance_record", lambda path: None)
    caplog.set_level(logging.INFO, logger="app")
    *_, csv_path, _notes = grade_batch([str(p) for p in scans], None)
    assert csv_path
    said = [r.getMessage() for r in caplog.records if "--grading-log" in r.getMessage()]
    assert len(said) == 1 and "2 grading line(s) not recorded: the batch's grades CSV" in said[0], said
    assert "Doe_Jane" not in said[0] and not (record.exists() and record.read_text())


def _hashes(path: Path) -> list[str]:
    return [json.loads(text)["image_sha256"][-2:] for text in path.read_text(encoding="utf-8").splitlines()]


def test_the_record_is_rotated_above_its_size_deleting_nothing_in_time_order(tmp_path: Path) -> None:
    """Catches a rotation that deletes or replaces a grading record (an audit record: the app
    removes nothing, however many rotations), cuts a line, names files out of time order or
    makes a file others may read; 0 never rotates."""
    size = len(_a_line(0).encode())
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=2 * size)  # two lines a file
    for n in range(1, 24):  # 11 rotations, most within one second: names taken, .001 ... .010
        assert record.record([_a_line(n)])
    assert record.record([_a_line(24), _a_line(25)])  # a batch past the size: rotated before, kept whole
    rotated = record.rotated_files()
    assert len(rotated) == 12 and {p for p in tmp_path.iterdir()} == {record.path, *rotated}
    every = [h for p in [*rotated, record.path] for h in _hashes(p)]
    assert every == [f"{n:02x}" for n in range(1, 26)], every  # every record on disk, in order
    assert [p.name for p in rotated] == sorted(p.name for p in rotated)  # `ls` order is time order
    assert _hashes(record.path) == ["18", "19"] and all(len(_hashes(p)) == 2 for p in rotated[:-1])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tmp_path.iterdir())
    (tmp_path / "never").mkdir()
    never = GradingLog(tmp_path / "never" / "n.jsonl")
    for n in range(5):
        assert never.record([_a_line(n)])  # max_bytes 0 (the class's default): never rotated
    assert len(_hashes(never.path)) == 5 and never.rotated_files() == []


def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.grading_log as grading_log

    class Frozen:
        @staticmethod
        def now(tz: object) -> Any:
            from datetime import UTC, datetime
            return datetime(2026, 12, 7, 8, 30, 0, tzinfo=UTC)
    monkeypatch.setattr(grading_log, "datetime", Frozen)


def test_a_rotation_never_replaces_a_file_already_named_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a rotated name that collides with a file there (the clock's second repeated, a
    clock set back, another server's rotation): the file there keeps its lines."""
    _frozen_clock(monkeypatch)
    size = len(_a_line(0).encode())
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=size)
    (tmp_path / "g.jsonl.20261207T083000Z").write_text(_a_line(90), encoding="utf-8")
    (tmp_path / "g.jsonl.20261207T083000Z.001").write_text(_a_line(91), encoding="utf-8")
    for n in range(1, 4):
        assert record.record([_a_line(n)])
    assert [p.name for p in record.rotated_files()] == [
        "g.jsonl.20261207T083000Z", "g.jsonl.20261207T083000Z.001", "g.jsonl.20261207T083000Z.002",
        "g.jsonl.20261207T083000Z.003"]
    assert [h for p in [*record.rotated_files(), record.path] for h in _hashes(p)] == ["5a", "5b", "01", "02", "03"]


def test_the_rotation_is_said_as_the_next_line_passing_the_size(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Catches "above N bytes, renamed": the file is rotated before the line that would take it
    past N bytes, while it holds N or less."""
    import logging

    caplog.set_level(logging.INFO, logger="app")
    size = len(_a_line(0).encode())
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=size + 1)
    assert record.record([_a_line(1)]) and record.record([_a_line(2)])
    (rotated,) = record.rotated_files()
    assert rotated.stat().st_size == size <= record.max_bytes  # not above: the next line would pass it
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"--grading-log {record.path}: the next line(s) would take it past {size + 1} bytes: "
                    f"renamed {rotated.name} and a new one begun (the app deletes no rotated file)"], said


def test_a_name_taken_after_it_was_seen_free_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a rotation that checks the name, then renames (os.rename replaces a file on
    POSIX): a server on another host, which the flock does not reach (NFS without locks),
    giving that name in between lost a rotated file. The hard link fails on a name taken."""
    import os

    _frozen_clock(monkeypatch)
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=len(_a_line(0).encode()))
    (tmp_path / "g.jsonl.20261207T083000Z").write_text(_a_line(90), encoding="utf-8")  # the other host's
    monkeypatch.setattr(os.path, "lexists", lambda path: False)  # it was free when looked at
    assert record.record([_a_line(1)]) and record.record([_a_line(2)])
    assert [p.name for p in record.rotated_files()] == ["g.jsonl.20261207T083000Z", "g.jsonl.20261207T083000Z.001"]
    assert [h for p in [*record.rotated_files(), record.path] for h in _hashes(p)] == ["5a", "01", "02"]


def test_a_filesystem_without_hard_links_is_rotated_by_a_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a rotation given up where os.link is refused (EPERM: a filesystem or file that
    takes no hard link): it renames to a free name, under the flock, as before."""
    import errno
    import os

    _frozen_clock(monkeypatch)

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=len(_a_line(0).encode()))
    (tmp_path / "g.jsonl.20261207T083000Z").write_text(_a_line(90), encoding="utf-8")
    for n in range(1, 4):
        assert record.record([_a_line(n)])
    assert [p.name for p in record.rotated_files()] == [
        "g.jsonl.20261207T083000Z", "g.jsonl.20261207T083000Z.001", "g.jsonl.20261207T083000Z.002"]
    assert [h for p in [*record.rotated_files(), record.path] for h in _hashes(p)] == ["5a", "01", "02", "03"]


def test_a_rotation_another_server_holds_or_cannot_rename_writes_the_line_all_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Catches a line lost to a rotation: another server sharing the record holding its flock
    (it rotates), or a folder where the rename fails: the line goes to the file, said once."""
    import fcntl
    import logging
    import os

    size = len(_a_line(0).encode())
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=size)
    assert record.record([_a_line(1)])
    other = os.open(record.path, os.O_RDONLY)  # another server, rotating it now
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        assert record.record([_a_line(2)])
    finally:
        os.close(other)
    assert _hashes(record.path) == ["01", "02"] and not record.rotated_files()
    caplog.set_level(logging.INFO, logger="app")

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "link", refused)  # a folder this account may not write
    monkeypatch.setattr(os, "rename", refused)
    assert record.record([_a_line(3)]) and record.record([_a_line(4)])
    assert _hashes(record.path) == ["01", "02", "03", "04"] and record.lost == 0
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "cannot rotate it" in said[0] and "Permission denied" in said[0], said
    monkeypatch.undo()
    assert record.record([_a_line(5)]) and _hashes(record.path) == ["05"]
    assert [h for p in record.rotated_files() for h in _hashes(p)] == ["01", "02", "03", "04"]


def test_a_server_that_waited_for_the_lock_does_not_rotate_the_file_begun_since(tmp_path: Path) -> None:
    """Catches a rotation of the wrong file: a server whose open file another server rotated
    (renamed, a new FILE begun) while it waited must not rename that new FILE, nor fail where
    FILE is gone (moved away by logrotate): False, its lines go to the file it holds."""
    import os

    record = GradingLog(tmp_path / "g.jsonl", max_bytes=len(_a_line(0).encode()))
    assert record.record([_a_line(1)])
    fd = os.open(record.path, os.O_RDWR | os.O_APPEND)
    try:
        os.rename(record.path, tmp_path / "g.jsonl.20261207T083000Z")  # the other server's rotation
        assert not record._rotated(fd, 10_000)  # FILE gone: nothing to rename
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.jsonl.20261207T083000Z"]
        (tmp_path / "g.jsonl").write_text(_a_line(2), encoding="utf-8")  # the file it began
        assert not record._rotated(fd, 10_000)  # another inode: not the file fd holds
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.jsonl", "g.jsonl.20261207T083000Z"]
        assert _hashes(record.path) == ["02"]
    finally:
        os.close(fd)


def test_a_filesystem_without_locks_is_said_once_not_taken_for_another_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Catches every flock error read as "another server rotates it now": on a filesystem
    without locks (ENOLCK, NFS mounted nolock) the file was never rotated and nothing said so.
    Only EWOULDBLOCK is another server; ENOLCK is said once, with the fix, the lines written."""
    import errno
    import fcntl
    import logging

    def no_locks(fd: int, operation: int) -> None:
        if operation & fcntl.LOCK_EX:
            raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    caplog.set_level(logging.INFO, logger="app")
    record = GradingLog(tmp_path / "g.jsonl", max_bytes=len(_a_line(0).encode()))
    for n in range(1, 4):
        assert record.record([_a_line(n)])
    assert _hashes(record.path) == ["01", "02", "03"] and not record.rotated_files() and record.lost == 0
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "cannot lock it for rotation (No locks available)" in said[0], said
    assert "--grading-log-max-mb 0 and logrotate" in said[0]


def test_grading_log_max_mb_is_parsed_and_the_record_rotates_at_it_and_0_never(predictor: Any, tmp_path: Path) -> None:
    """Catches --grading-log-max-mb parsed wrong (the default 100 MiB; 0 off; a negative or
    non-finite size refused as a usage error) or AppSettings.grading_log_max_mb not reaching
    the page's record (its wiring in python -m app: the next test)."""
    from app.__main__ import parse_args

    assert parse_args([]).grading_log_max_mb == 100 and parse_args(["--grading-log-max-mb", "0"]).grading_log_max_mb == 0
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            parse_args(["--grading-log-max-mb", bad])
    scan = _scan(tmp_path / "scan.png", 0)
    for max_mb, rotated in ((1e-6, True), (0, False)):  # 1e-6 MiB: 1 byte, each line rotates
        record = tmp_path / f"g{max_mb}.jsonl"
        grade = _handler(server.build_demo(predictor, server.AppSettings(
            grading_log=str(record), grading_log_max_mb=max_mb)), "grade")
        grade(str(scan), -1, None)
        grade(str(scan), -1, None)
        assert len(record.read_text(encoding="utf-8").splitlines()) == (1 if rotated else 2)
        assert len(GradingLog(record).rotated_files()) == (1 if rotated else 0)


@pytest.mark.parametrize("max_mb", ["0", "2.5"])
def test_python_m_app_serves_with_the_grading_log_max_mb_given(
        predictor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_mb: str) -> None:
    """Catches python -m app's main building AppSettings without --grading-log-max-mb (the
    default 100 MiB served whatever was given: 0, for a site whose logrotate rotates it,
    rotated all the same). The bundle's load and gradio's server are replaced."""
    import signal

    import app.predict
    from app.__main__ import main

    served: list[Any] = []

    class Demo:
        is_running = False  # a server that has stopped: python -m app's wait ends at once

        def block_thread(self) -> None:
            pass

        def close(self, verbose: bool = True) -> None:
            pass

    def serve(predictor: Any, settings: Any, **kwargs: Any) -> Demo:
        served.append(settings)
        return Demo()
    monkeypatch.setattr(server, "serve", serve)
    monkeypatch.setattr(app.predict, "Predictor", lambda *args, **kwargs: predictor)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    record = tmp_path / "g.jsonl"
    assert main(["--bundle", str(predictor.path), "--threads", "1", "--grading-log", str(record),
                 "--grading-log-max-mb", max_mb]) == 0
    (settings,) = served
    assert settings.grading_log == str(record) and settings.grading_log_max_mb == float(max_mb)
