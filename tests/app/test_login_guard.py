"""Every login of ``python -m app --auth-file FILE`` checked, throttled and recorded (a hospital
security officer's trial: no throttle of failed logins, no record of who logged in): the
throttle with an injected clock (no sleeping, nothing timed), attempts at once, the record's
lines, mode, rotation and place, and the check gradio's ``launch`` is given, down to a real
login on loopback."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from step_clock import StepClock

from app.auth import hash_password
from app.login_guard import (
    AUDIT_MAX_BYTES,
    FAILURE_WINDOW_S,
    MAX_FAILURES_PER_MINUTE,
    MAX_FAILURES_PER_USER,
    USER_SHOWN_CHARS,
    AuditLog,
    AuditLogError,
    LoginGuard,
    Throttle,
    default_audit_path,
)

PASSWORD = "right:password"
FAST = {"n": 2**10, "r": 1, "p": 1}  # cheap hashes; unknown users are hashed with these too
LINE = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\t("(?:[^"\\]|\\.)*")( \(\d+ characters\))?\t'
                  r"(ok|wrong password|unknown user|throttled)\n")
"""A line of the record: time, the user name as a JSON string (when cut: and its length), outcome."""


def _guard(tmp_path: Path, clock: StepClock, **throttle: Any) -> LoginGuard:
    logins = [("alice", hash_password(PASSWORD, **FAST)), ("bob", hash_password("bobs", **FAST))]
    return LoginGuard(logins, audit=AuditLog(tmp_path / "logins.log"), throttle=Throttle(**throttle),
                      clock=clock)


def _outcomes(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="ascii").splitlines(keepends=True)
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    return [(json.loads(m[2]) + (m[3] or ""), m[4]) for m in parsed if m]


def test_the_documented_defaults() -> None:
    assert (MAX_FAILURES_PER_USER, FAILURE_WINDOW_S, MAX_FAILURES_PER_MINUTE) == (5, 900.0, 30)
    assert AUDIT_MAX_BYTES == 10 * 2**20


def test_a_user_name_with_too_many_failures_is_refused_even_with_the_right_password(tmp_path: Path) -> None:
    clock = StepClock(0.0)
    guard = _guard(tmp_path, clock)
    assert guard.check("alice", PASSWORD)  # a right password does not clear earlier failures
    for _ in range(MAX_FAILURES_PER_USER):
        clock.now += 60
        assert not guard.check("alice", "guess")
    first_failure = clock.now - 4 * 60
    assert not guard.check("alice", PASSWORD)  # throttled
    assert guard.check("bob", "bobs")  # another user name is not
    clock.now = first_failure + FAILURE_WINDOW_S - 1
    assert not guard.check("alice", PASSWORD)  # still 5 failures within the window
    clock.now = first_failure + FAILURE_WINDOW_S  # the first failure is 15 minutes old
    assert guard.check("alice", PASSWORD)
    assert not guard.check("alice", "guess") and not guard.check("alice", PASSWORD)  # 5 again in the window
    assert [outcome for user, outcome in _outcomes(guard.audit.path) if user == "alice"] == [
        "ok", *["wrong password"] * 5, "throttled", "throttled", "ok", "wrong password", "throttled"]


def test_unknown_user_names_are_throttled_alike_and_forgotten_after_the_window(tmp_path: Path) -> None:
    clock = StepClock(0.0)
    guard = _guard(tmp_path, clock, max_per_minute=1000)
    for i in range(MAX_FAILURES_PER_USER + 1):
        guard.check("mallory", f"guess{i}")
    for i in range(20):
        guard.check(f"name{i}", "guess")
    assert _outcomes(guard.audit.path)[:MAX_FAILURES_PER_USER + 1] == [
        *[("mallory", "unknown user")] * MAX_FAILURES_PER_USER, ("mallory", "throttled")]
    assert guard.throttle.tracked_users() == 21
    clock.now += FAILURE_WINDOW_S
    assert guard.check("alice", PASSWORD) and guard.throttle.tracked_users() == 0  # memory stays bounded


def test_failures_across_user_names_over_the_minute_cap_refuse_every_login(tmp_path: Path) -> None:
    clock = StepClock(0.0)
    guard = _guard(tmp_path, clock, max_per_minute=3)
    assert not guard.check("alice", "a") and not guard.check("bob", "b") and not guard.check("x", "c")
    clock.now += 59
    assert not guard.check("bob", "bobs")  # the right password, refused: 3 failures in the last minute
    clock.now += 1
    assert guard.check("bob", "bobs")  # the first failure is a minute old
    assert [outcome for _, outcome in _outcomes(guard.audit.path)] == [
        "wrong password", "wrong password", "unknown user", "throttled", "ok"]


def test_attempts_in_progress_count_so_that_many_at_once_get_no_more_tries() -> None:
    throttle = Throttle(max_failures=2, max_per_minute=3)
    assert throttle.admit("alice", 0.0) and throttle.admit("alice", 0.0)
    assert not throttle.admit("alice", 0.0)  # two still being checked: as if they failed
    assert throttle.admit("bob", 0.0) and not throttle.admit("carol", 0.0)  # three in flight in all
    throttle.settle("alice", True, 1.0)
    throttle.settle("bob", True, 1.0)
    assert throttle.admit("alice", 1.0)  # one right and one in flight: room for one more


def test_concurrent_wrong_logins_for_one_user_get_exactly_the_allowed_tries(tmp_path: Path) -> None:
    """gradio runs logins in worker threads: 40 at once for one user name, all wrong; exactly
    MAX_FAILURES_PER_USER are checked, the rest throttled, and the record has one line each."""
    guard = _guard(tmp_path, StepClock(0.0))
    start = threading.Barrier(40)
    results: list[bool] = []

    def attempt() -> None:
        start.wait()
        results.append(guard.check("alice", "guess"))

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = [outcome for _, outcome in _outcomes(guard.audit.path)]
    assert results == [False] * 40 and len(outcomes) == 40
    assert outcomes.count("wrong password") == MAX_FAILURES_PER_USER
    assert outcomes.count("throttled") == 40 - MAX_FAILURES_PER_USER


def test_the_record_has_one_line_per_attempt_never_the_password_and_is_private(tmp_path: Path) -> None:
    clock = StepClock(0.0)
    clock.now = 1767607502.0  # 2026-01-05T10:05:02Z
    guard = _guard(tmp_path, clock)
    guard.check("alice", PASSWORD)
    guard.check("alice", "Wr0ngPassw0rd")
    guard.check("eve\n2026-01-01T00:00:00Z\t\"alice\"\tok", "Wr0ngPassw0rd")  # a forged line
    guard.check("é" * (USER_SHOWN_CHARS + 5), "Wr0ngPassw0rd")
    text = guard.audit.path.read_text(encoding="ascii")
    assert PASSWORD not in text and "Wr0ngPassw0rd" not in text
    assert text.splitlines()[:2] == ['2026-01-05T10:05:02Z\t"alice"\tok',
                                     '2026-01-05T10:05:02Z\t"alice"\twrong password']
    assert len(text.splitlines()) == 4  # the name's line break and tabs are escaped, not written
    outcomes = _outcomes(guard.audit.path)
    assert outcomes[2] == ("eve\n2026-01-01T00:00:00Z\t\"alice\"\tok", "unknown user")
    assert outcomes[3][0] == "é" * USER_SHOWN_CHARS + f"... ({USER_SHOWN_CHARS + 5} characters)"
    assert stat.S_IMODE(os.stat(guard.audit.path).st_mode) == 0o600


def test_the_record_is_rotated_above_its_size_and_made_anew_when_moved(tmp_path: Path) -> None:
    path = tmp_path / "logins.log"
    audit = AuditLog(path, max_bytes=200)
    for _ in range(10):
        audit.record(0.0, "alice", "ok")  # 31 bytes a line
    old = path.with_name("logins.log.1")
    assert old.read_text().count("\n") == 6 and path.read_text().count("\n") == 4  # 6 lines fit 200 bytes
    for _ in range(10):
        audit.record(0.0, "alice", "ok")
    assert old.read_text().count("\n") == 6 and path.read_text().count("\n") == 2  # the oldest 8 are gone
    assert not path.with_name("logins.log.2").exists()
    path.rename(tmp_path / "moved.log")  # logrotate, an operator
    audit.record(0.0, "bob", "throttled")
    assert path.read_text() == '1970-01-01T00:00:00Z\t"bob"\tthrottled\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_record_lies_in_a_private_folder_that_outlives_the_working_folder(tmp_path: Path) -> None:
    from app.workdir import remove_stale_workdirs, workdir_pid

    path = default_audit_path(tmp_path)
    assert path == tmp_path / f"drac_app_logins_{os.getuid()}" / "logins.log"
    assert workdir_pid(path.parent.name) is None  # never taken for a stopped server's folder
    audit = AuditLog(path, default=True)
    audit.record(0.0, "alice", "ok")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert remove_stale_workdirs(tmp_path) == [] and path.is_file()
    audit.close()
    path.parent.chmod(0o755)
    AuditLog(path, default=True).close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # made private again


def test_a_record_that_cannot_be_kept_is_an_error_naming_it_and_the_fix(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "logins.log"
    link.symlink_to(target)  # a link is not followed
    with pytest.raises(AuditLogError, match=rf"--audit-log {re.escape(str(link))}: cannot append to it"):
        AuditLog(link)
    blocker = default_audit_path(tmp_path).parent
    blocker.write_text("")  # a file where the folder goes
    with pytest.raises(AuditLogError, match="not a folder") as info:
        AuditLog(default_audit_path(tmp_path), default=True)
    assert "fix: remove it, or give --audit-log FILE" in str(info.value)


def test_a_record_that_cannot_be_written_is_said_once_and_logins_go_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    guard = _guard(tmp_path, StepClock(0.0))
    guard.audit.path.unlink()
    guard.audit.path.mkdir()  # the file cannot be opened again
    caplog.set_level(logging.WARNING, logger="app")
    assert guard.check("alice", PASSWORD) and not guard.check("alice", "x")
    assert caplog.text.count("cannot append to the record of login attempts") == 1


def test_serve_gives_gradio_the_guards_async_check(predictor: Any, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """A coroutine function: gradio 6 awaits it (a plain function it would call on its event
    loop, holding up every request for a scrypt check)."""
    import gradio as gr

    from app.server import AppSettings, serve

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append(kwargs))
    guard = _guard(tmp_path, StepClock(0.0))
    serve(predictor, AppSettings(host="0.0.0.0"), auth=guard, block=False)
    check = calls[-1]["auth"]
    assert check == guard.gradio_auth and inspect.iscoroutinefunction(check)
    assert asyncio.run(check("alice", PASSWORD)) is True and asyncio.run(check("alice", "x")) is False
    assert [outcome for _, outcome in _outcomes(guard.audit.path)] == ["ok", "wrong password"]


def test_a_real_login_on_loopback_goes_through_the_guard(predictor: Any, tmp_path: Path) -> None:
    from app.loopback import free_port
    from app.server import AppSettings, serve

    guard = _guard(tmp_path, StepClock(0.0))
    settings = AppSettings(host="127.0.0.1", port=free_port())
    demo = serve(predictor, settings, auth=guard, block=False, quiet=True)
    try:
        def login(user: str, password: str) -> int:
            body = urllib.parse.urlencode({"username": user, "password": password}).encode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/login", body, timeout=30) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert login("alice", "guess") == 400
        assert login("alice", PASSWORD) == 200
        with pytest.raises(urllib.error.HTTPError) as info:  # the page itself still asks for a login
            urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/config", timeout=30)
        assert info.value.code == 401
    finally:
        demo.close()
    assert [outcome for _, outcome in _outcomes(guard.audit.path)] == ["wrong password", "ok"]


def test_main_says_where_the_record_is_and_makes_it(
        tmp_path: Path, predictor: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    import gradio as gr

    from app.__main__ import main

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    logins = tmp_path / "logins"
    logins.write_text(f"alice:{hash_password(PASSWORD, **FAST)}\n")
    common = ["--auth-file", str(logins), "--bundle", str(predictor.path), "--threads", "1"]
    assert main([*common, "--temp-dir", str(tmp_path)]) == 0
    path = default_audit_path(tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert f"every login attempt (UTC time, user name, outcome; never a password) is appended to {path}" in out
    assert "5 failed logins for a user name within 15 minutes" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    chosen = tmp_path / "audit" / "drac.log"
    chosen.parent.mkdir()
    assert main([*common, "--temp-dir", str(tmp_path), "--audit-log", str(chosen)]) == 0
    assert f"is appended to {chosen}" in capsys.readouterr().out
    assert asyncio.run(calls[-1]["auth"]("alice", PASSWORD)) is True
    assert chosen.read_text().endswith('"alice"\tok\n') and stat.S_IMODE(chosen.stat().st_mode) == 0o600
    assert main([*common, "--audit-log", str(tmp_path / "no" / "such" / "folder.log")]) == 2
    assert "cannot append to it" in capsys.readouterr().err


def test_docs_deploying_quotes_the_codes_figures_and_names() -> None:
    """docs/deploying.md states facts of the code (as tests/test_deploying_doc.py checks its
    other figures): the throttle, the record's place, size and format, the hash parameters."""
    from app.auth import SCRYPT_N, SCRYPT_P, SCRYPT_R
    from app.login_guard import AUDIT_FILE, AUDIT_FOLDER

    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(encoding="utf-8").split())
    assert f"{MAX_FAILURES_PER_USER} failed logins for one user name within {FAILURE_WINDOW_S / 60:g} minutes" in page
    assert f"{MAX_FAILURES_PER_MINUTE} failed logins in a minute, all names together" in page
    assert f"`<--temp-dir>/{AUDIT_FOLDER.format(uid='<uid>')}/{AUDIT_FILE}`" in page
    assert f"Above {AUDIT_MAX_BYTES // 2**20} MiB" in page and f"cut at {USER_SHOWN_CHARS} characters" in page
    assert f"n={SCRYPT_N}, r={SCRYPT_R}, p={SCRYPT_P}" in page
    assert AuditLog.line(1767608102.0, "alice", "ok") == '2026-01-05T10:15:02Z\t"alice"\tok\n'
    assert '2026-01-05T10:15:02Z "alice" ok' in page  # the example line, tabs read as spaces
