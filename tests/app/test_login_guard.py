"""Every login of ``python -m app --auth-file FILE`` checked, throttled and recorded (a hospital
security officer's trial: no throttle of failed logins, no record of who logged in): the
throttle with an injected clock (no sleeping, nothing timed), attempts at once, the record's
lines, mode, rotation and place, and the check gradio's ``launch`` is given, down to a real
login on loopback."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import inspect
import json
import logging
import math
import os
import re
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from step_clock import StepClock

from app.auth import (
    MAX_CONCURRENT_SCRYPT,
    MAX_USER_CHARS,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    Login,
    hash_password,
)
from app.login_guard import (
    AUDIT_MAX_BYTES,
    FAILURE_WINDOW_S,
    LOGIN_CHECK_THREADS,
    MAX_FAILURES_PER_MINUTE,
    MAX_FAILURES_PER_USER,
    REFUSALS_QUEUED,
    SUM_FLUSH_S,
    THROTTLED_NAMES_PER_MINUTE,
    USER_SHOWN_CHARS,
    AuditLog,
    AuditLogError,
    LoginGuard,
    Throttle,
    default_audit_path,
    folder_warning,
)

PASSWORD = "right:password"
FAST = {"n": 2**10, "r": 1, "p": 1}  # cheap hashes; unknown users are hashed with these too
LINE = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\t(?:("(?:[^"\\]|\\.)*")( \(\d+ characters\))?|\*)\t'
                  r"(ok|wrong password|unknown user|throttled(?: x\d+)?|error)\n")
"""A line of the record: time, the user name as a JSON string (when cut: and its length) or
``*`` (the throttled attempts of further names, summed), outcome (``throttled xN``: N of them)."""


class _HandTimer:
    """A timer of :class:`_HandTimers`: fired by the test, never by time."""

    def __init__(self, delay_s: float, action: Callable[[], None]) -> None:
        self.delay_s, self.action, self.cancelled, self.fired = delay_s, action, False, False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        assert not self.cancelled and not self.fired
        self.fired = True
        self.action()


class _HandTimers:
    """``AuditLog(flush_timer=...)`` for tests: keeps every timer started (``started``), none
    fires unless the test fires it, so the sums are written when the test says time is up."""

    def __init__(self) -> None:
        self.started: list[_HandTimer] = []

    def __call__(self, delay_s: float, action: Callable[[], None]) -> _HandTimer:
        self.started.append(_HandTimer(delay_s, action))
        return self.started[-1]


def _until(condition: Callable[[], object]) -> None:
    """Wait until ``condition()`` holds, for at most 60 s (a guard against a hang, not a timing:
    the assertions after it say what must have happened)."""
    for _ in range(6000):
        if condition():
            return
        threading.Event().wait(0.01)


async def _until_async(condition: Callable[[], object]) -> None:
    """:func:`_until` inside a running event loop (its sleeps let the loop run)."""
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.01)


def _guard(tmp_path: Path, clock: StepClock, **throttle: Any) -> LoginGuard:
    """alice and bob, hashed cheaply; ``clock`` drives both the throttle and the record's stamps;
    the record's flush timer is fired by hand (``guard.audit._flush_timer.started``)."""
    logins = [("alice", hash_password(PASSWORD, **FAST)), ("bob", hash_password("bobs", **FAST))]
    audit = AuditLog(tmp_path / "logins.log", flush_timer=_HandTimers(), wall_clock=clock)
    return LoginGuard(logins, audit=audit, throttle=Throttle(**throttle), clock=clock, wall_clock=clock)


def _outcomes(path: Path) -> list[tuple[str, str]]:
    """``(user, outcome)`` per line of the record (``*`` for the summed further names)."""
    lines = path.read_text(encoding="ascii").splitlines(keepends=True)
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    return [(json.loads(m[2]) + (m[3] or "") if m[2] else "*", m[4]) for m in parsed if m]


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
    guard.audit.close()  # the last throttled attempt shares a minute with one before: summed, written now
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
    MAX_FAILURES_PER_USER are checked, the rest throttled, and the record has a line for each
    checked one, one for the first throttled one and one ``throttled xN`` for the others."""
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
    guard.audit.close()
    outcomes = [outcome for _, outcome in _outcomes(guard.audit.path)]
    assert results == [False] * 40 and len(outcomes) == MAX_FAILURES_PER_USER + 2
    assert outcomes.count("wrong password") == MAX_FAILURES_PER_USER
    assert outcomes.count("throttled") == 1 and f"throttled x{40 - MAX_FAILURES_PER_USER - 1}" in outcomes


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
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    import signal

    import gradio as gr

    from app.__main__ import main

    calls: list[dict[str, Any]] = []
    answers: list[bool] = []

    def launch(self: gr.Blocks, **kwargs: Any) -> None:  # one login while the server "runs"
        calls.append(kwargs)
        answers.append(asyncio.run(kwargs["auth"]("alice", PASSWORD)))

    monkeypatch.setattr(gr.Blocks, "launch", launch)
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
    chosen.parent.chmod(0o777)  # others may replace the record: warned (review F6)
    caplog.set_level(logging.WARNING)
    assert main([*common, "--temp-dir", str(tmp_path), "--audit-log", str(chosen)]) == 0
    assert f"is appended to {chosen}" in capsys.readouterr().out
    assert f"its folder {chosen.parent} is not private (other accounts may write it)" in caplog.text
    assert answers == [True, True]
    assert chosen.read_text().endswith('"alice"\tok\n') and stat.S_IMODE(chosen.stat().st_mode) == 0o600
    caplog.clear()  # the server stopped: its guard checks no more logins, and says so (review F1)
    assert asyncio.run(calls[-1]["auth"]("alice", PASSWORD)) is False
    assert [r.getMessage() for r in caplog.records if r.name == "app"] == [
        "login refused: the server is stopping (every login until it has stopped is refused alike, "
        "unchecked and unrecorded; said once)"]
    assert main([*common, "--audit-log", str(tmp_path / "no" / "such" / "folder.log")]) == 2
    assert "cannot append to it" in capsys.readouterr().err


def test_docs_deploying_quotes_the_codes_figures_and_names() -> None:
    """docs/deploying.md states facts of the code (as tests/test_deploying_doc.py checks its
    other figures): the throttle, the record's place, size and format, the hash parameters."""
    import app.auth
    import app.login_guard
    from app.login_guard import AUDIT_FILE, AUDIT_FOLDER
    from app.retention import SWEEP_EVERY_S

    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(encoding="utf-8").split())
    assert f"{MAX_FAILURES_PER_USER} failed logins for one user name within {FAILURE_WINDOW_S / 60:g} minutes" in page
    assert f"{MAX_FAILURES_PER_MINUTE} failed logins in a minute, all names together" in page
    assert f"`<--temp-dir>/{AUDIT_FOLDER.format(uid='<uid>')}/{AUDIT_FILE}`" in page
    assert f"Above {AUDIT_MAX_BYTES // 2**20} MiB" in page and f"cut at {USER_SHOWN_CHARS} characters" in page
    assert f"n={SCRYPT_N}, r={SCRYPT_R}, p={SCRYPT_P}" in page
    assert f"written about {SUM_FLUSH_S:g} seconds after the first of them (`SUM_FLUSH_S`; up to a second more" in page
    assert app.login_guard._FLOCK_WAIT_S == 1.0  # "a second more": the timer's write waits that for a lock
    assert (f"loses about the last {SUM_FLUSH_S:g} seconds of summed throttled attempts, and the attempts "
            "whose checks were still running or waiting for a scrypt slot") in page
    assert ("A server that stops cleanly refuses the logins that come while it stops (the console log says "
            "so once: they are neither checked nor recorded), lets every check it was given end, those "
            "queued for a thread too") in page
    assert "drops the checks still queued and closes the record at once, with its sums" in page
    assert ("The throttle is asked before a check is queued: a throttled login, which hashes nothing, is "
            "refused without waiting behind them") in page
    assert f"one of the login checks' own {app.login_guard.LOGIN_CHECK_THREADS} threads (`LOGIN_CHECK_THREADS`" in page
    assert app.login_guard.LATE_MINUTES == 2 and "Only one more than 2 minutes older (`LATE_MINUTES`)" in page
    assert "while the record's minute is ahead of the system clock when the line is written means" in page
    assert (f"beyond {app.login_guard.REFUSALS_QUEUED} not yet written (`REFUSALS_QUEUED`), a further "
            "throttled login is only counted") in page
    assert "the record's minute only moves forward" not in page
    assert SWEEP_EVERY_S == 60 and "such as the sweep of old files every minute, never waits behind them" in page
    check_mib = 128 * SCRYPT_R * SCRYPT_N // 2**20
    assert check_mib == 16 and f"{check_mib} MiB of memory per check" in page
    assert (f"At most {MAX_CONCURRENT_SCRYPT} scrypt checks run at once (`MAX_CONCURRENT_SCRYPT` in "
            f"`app/auth.py`)") in page
    assert f"holds at most {MAX_CONCURRENT_SCRYPT * check_mib} MiB for hashing" in page
    most = app.auth._MAX_MEMORY // 2**20
    assert f"({MAX_CONCURRENT_SCRYPT * most} MiB with lines that ask the most memory a line may, {most} MiB a check)" in page
    assert MAX_CONCURRENT_SCRYPT == 2 and "password when it starts, two at a time (the same limit;" in page
    assert AuditLog.line(1767608102.0, "alice", "ok") == '2026-01-05T10:15:02Z\t"alice"\tok\n'
    assert '2026-01-05T10:15:02Z "alice" ok' in page  # the example line, tabs read as spaces


class _CountedScrypt:
    """``app.auth._scrypt`` replaced: records ``(n, r, p)`` of every call and returns a cheap
    stand-in digest (the same for the same input), so that checks are counted, never timed."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, password: str, n: int, r: int, p: int, salt: bytes, size: int = 32) -> bytes:
        self.calls.append((n, r, p))
        return hashlib.shake_256(password.encode("utf-8", "surrogatepass") + salt + f"{n},{r},{p}".encode()).digest(size)


def test_every_check_is_one_scrypt_of_the_same_size_whichever_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: a plaintext line was compared directly (microseconds) while an unknown name
    ran scrypt (a fraction of a second): the time told which names exist. Now a plaintext
    password is hashed when the guard is made, with the parameters unknown names get, and
    not kept; every check, right or wrong, known or not, is one scrypt of those parameters."""
    import app.auth

    scrypt = _CountedScrypt()
    monkeypatch.setattr(app.auth, "_scrypt", scrypt)
    for hashed_with, expected in (({}, (SCRYPT_N, SCRYPT_R, SCRYPT_P)), (FAST, (2**10, 1, 1))):
        logins = [Login("alice", hash_password(PASSWORD, **hashed_with), 1), Login("carol", "carols-secret", 2)]
        guard = LoginGuard(logins, throttle=Throttle(max_per_minute=1000))
        assert "carols-secret" not in repr(vars(guard)) and all(login.hashed for login in guard._logins.values())
        attempts = [("alice", PASSWORD, True), ("alice", "x", False), ("carol", "carols-secret", True),
                    ("carol", "x", False), ("nobody", "x", False), ("nobody", "carols-secret", False)]
        for user, password, right in attempts:
            scrypt.calls.clear()
            assert guard.check(user, password) is right
            assert scrypt.calls == [expected], (user, password, scrypt.calls)
    scrypt.calls.clear()
    LoginGuard([("dave", "pw")])  # plaintext only: the new lines' parameters
    assert scrypt.calls == [(SCRYPT_N, SCRYPT_R, SCRYPT_P)]


def test_an_exception_inside_the_check_is_a_recorded_refusal_not_a_server_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Review F2: a line OpenSSL refuses raised ValueError out of the check: gradio answered
    500 and the record had no line. Now it is said on the console, recorded and refused."""
    guard = _guard(tmp_path, StepClock(0.0))

    def broken(password: str, secret: str) -> bool:
        raise ValueError("Invalid parameter combination for n, r, p, maxmem.")

    monkeypatch.setattr("app.login_guard.verify_password", broken)
    caplog.set_level(logging.ERROR, logger="app")
    assert guard.check("alice", PASSWORD) is False
    assert asyncio.run(guard.gradio_auth("alice", PASSWORD)) is False  # what gradio awaits: no exception
    assert _outcomes(guard.audit.path) == [("alice", "error")] * 2
    assert "a login check failed (ValueError: Invalid parameter combination" in caplog.text
    assert PASSWORD not in caplog.text
    assert guard.throttle.tracked_users() == 1  # counted as failures: a broken check cannot be hammered


def test_the_throttle_keeps_32_bytes_a_name_and_long_names_are_refused_unhashed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F3: the throttle kept typed names as they came (a form field may be 1 MiB): now
    their SHA-256. A name longer than any line may hold is refused without hashing."""
    import app.auth

    guard = _guard(tmp_path, StepClock(0.0), max_per_minute=1000)
    scrypt = _CountedScrypt()
    monkeypatch.setattr(app.auth, "_scrypt", scrypt)
    huge = "m" * 2**20
    for i in range(10):
        assert not guard.check(f"{i}{huge}", PASSWORD)
    assert guard.throttle.tracked_users() == 10 and guard.throttle.stored_key_bytes() == 10 * 32
    assert scrypt.calls == []  # no line has a name over MAX_USER_CHARS: nothing to hide
    assert _outcomes(guard.audit.path)[0] == (f"0{'m' * (USER_SHOWN_CHARS - 1)}... ({2**20 + 1} characters)",
                                             "unknown user")
    assert not guard.check("a" * MAX_USER_CHARS, "x") and scrypt.calls == [(2**10, 1, 1)]  # at the limit: hashed


def test_throttled_attempts_are_summed_per_name_and_minute(tmp_path: Path) -> None:
    """Review F4: throttled attempts cost nothing, so a flood of them rotated the record's
    older lines away: one line each. Now a name's first in a minute has its line, the rest of
    that minute one ``throttled xN`` line; beyond THROTTLED_NAMES_PER_MINUTE names, one ``*`` line."""
    clock = StepClock(0.0)
    clock.now = 1767607500.0  # 2026-01-05T10:05:00Z
    guard = _guard(tmp_path, clock, max_failures=0)  # every attempt throttled
    for _ in range(100):
        guard.check("alice", PASSWORD)
    names = [f"name{i}" for i in range(THROTTLED_NAMES_PER_MINUTE + 9)]
    for name in names * 2:
        guard.check(name, "x")
    named = names[:THROTTLED_NAMES_PER_MINUTE - 1]  # alice has one of the named places
    assert _outcomes(guard.audit.path) == [("alice", "throttled"), *[(name, "throttled") for name in named]]
    clock.now += 60  # the next minute: its first attempt writes the sums of the last
    guard.check("bob", "bobs")
    lines = guard.audit.path.read_text(encoding="ascii").splitlines()
    assert lines[THROTTLED_NAMES_PER_MINUTE] == '2026-01-05T10:05:00Z\t"alice"\tthrottled x99'
    assert _outcomes(guard.audit.path)[THROTTLED_NAMES_PER_MINUTE:] == [
        ("alice", "throttled x99"), *[(name, "throttled") for name in named], ("*", "throttled x20"),
        ("bob", "throttled")]
    guard.check("bob", "bobs")
    guard.audit.close()  # the server stops: what is summed is written
    assert _outcomes(guard.audit.path)[-1] == ("bob", "throttled")
    assert len(guard.audit.path.read_text().splitlines()) == 2 * THROTTLED_NAMES_PER_MINUTE + 3  # for 160 attempts


def test_a_fifo_planted_as_the_record_is_refused_without_waiting(tmp_path: Path) -> None:
    """Review F6: opening a FIFO for writing waits for a reader: a FIFO planted where the
    record goes held the start (or, planted later, every login). Opened non-blocking now and
    refused as not a plain file; a record that is one gets a blocking descriptor back."""
    import fcntl

    fifo = tmp_path / "logins.log"
    os.mkfifo(fifo)
    said: list[str] = []

    def open_it() -> None:
        try:
            AuditLog(fifo)
        except AuditLogError as exc:
            said.append(str(exc))

    opener = threading.Thread(target=open_it, daemon=True)
    opener.start()
    opener.join(timeout=60)  # a guard against a hang, not a timing
    if opener.is_alive():
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # let the stuck open go
    assert not opener.is_alive(), "the record's open waited on a FIFO"
    assert said and said[0].startswith(f"--audit-log {fifo}: cannot append to it") and "a FIFO" in said[0]
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # with a reader the open succeeds: still refused
    try:
        with pytest.raises(AuditLogError, match="not a plain file of this account"):
            AuditLog(fifo)
    finally:
        os.close(reader)
    audit = AuditLog(tmp_path / "real.log")
    assert audit._fd is not None and not fcntl.fcntl(audit._fd, fcntl.F_GETFL) & os.O_NONBLOCK
    audit.close()


def test_an_audit_log_folder_others_may_change_is_warned_about(tmp_path: Path) -> None:
    """Review F6: whoever may write the record's folder may remove or replace the record."""
    folder = tmp_path / "audit"
    folder.mkdir(mode=0o700)
    path = folder / "logins.log"
    assert folder_warning(path) is None
    for mode in (0o770, 0o1777):
        folder.chmod(mode)
        said = folder_warning(path)
        assert said is not None and f"its folder {folder} is not private (other accounts may write it)" in said
    folder.chmod(0o700)
    if os.getuid() == 0:  # only root can give the folder away
        os.chown(folder, 54321, -1)
        assert "owned by another account (uid 54321)" in (folder_warning(path) or "")


def test_two_servers_sharing_the_record_do_not_rotate_it_twice(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F7: server B saw the full file, server A rotated it meanwhile, and B renamed A's
    new file onto logins.log.1: the old lines were lost. Now the size check and the rotation
    hold an flock, and a file that the path no longer names is opened anew, not rotated.
    The interleaving is forced: A rotates just after B found the path still names its file."""
    path = tmp_path / "logins.log"
    a, b = AuditLog(path, max_bytes=200), AuditLog(path, max_bytes=200)
    for _ in range(6):
        a.record(0.0, "old", "ok")  # 30 bytes a line: 180 bytes, the next line rotates
    original = b._reopen_if_moved
    raced: list[bool] = []

    def then_a_rotates() -> None:
        original()
        if not raced:
            raced.append(True)
            a.record(60.0, "a", "ok")  # A rotates: logins.log.1 holds the six old lines

    monkeypatch.setattr(b, "_reopen_if_moved", then_a_rotates)
    b.record(120.0, "b", "ok")
    assert raced
    old = path.with_name("logins.log.1").read_text()
    assert old.count('"old"') == 6, old  # not replaced by A's new file
    assert [user for user, _ in _outcomes(path)] == ["a", "b"]
    a.close()
    b.close()


def test_a_record_locked_by_another_server_is_appended_without_waiting_for_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Review F2: the flock was waited for without end, the in-process lock held: a server
    stuck holding it stopped every login of this one. Now the wait is bounded and the line is
    appended unlocked (not rotated, even past max_bytes), said once."""
    path = tmp_path / "logins.log"
    audit = AuditLog(path, max_bytes=40)
    holder = os.open(path, os.O_WRONLY)  # another open file description: its flock conflicts
    caplog.set_level(logging.WARNING, logger="app")
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: [audit.record(0.0, who, "ok") for who in ("a", "b")],
                                  daemon=True)
        worker.start()
        worker.join(60.0)  # a guard against a hang, not a timing
        assert not worker.is_alive(), "record() waited for the other holder's flock"
    finally:
        os.close(holder)
    assert [user for user, _ in _outcomes(path)] == ["a", "b"]  # both lines, no rotation
    assert not path.with_name("logins.log.1").exists()
    assert caplog.text.count("locked by another process") == 1
    audit.record(60.0, "c", "ok")  # the lock had again: rotated as usual
    assert [user for user, _ in _outcomes(path)] == ["c"]
    audit.close()


def test_the_throttle_runs_on_a_clock_that_the_system_time_does_not_move(tmp_path: Path) -> None:
    """Review F8: the throttle ran on the wall clock: setting the system time a day ahead freed
    every throttled name. It runs on time.monotonic now; the record keeps the wall clock."""
    import time

    assert inspect.signature(LoginGuard).parameters["clock"].default is time.monotonic
    wall = [1767607502.0]
    guard = LoginGuard([("alice", hash_password(PASSWORD, **FAST))], audit=AuditLog(tmp_path / "logins.log"),
                       wall_clock=lambda: wall[0])
    for _ in range(MAX_FAILURES_PER_USER):
        assert not guard.check("alice", "guess")
    wall[0] += 86400  # the system time set a day ahead
    assert not guard.check("alice", PASSWORD)
    assert _outcomes(guard.audit.path)[-1] == ("alice", "throttled")
    assert guard.audit.path.read_text().splitlines()[-1].startswith("2026-01-06T10:05:02Z")


def test_a_default_record_that_cannot_be_opened_does_not_name_an_audit_log_option(tmp_path: Path) -> None:
    """Review F8: the default place's failure said "--audit-log PATH" though none was given."""
    path = default_audit_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.mkdir()  # not a file
    with pytest.raises(AuditLogError) as info:
        AuditLog(path, default=True)
    message = str(info.value)
    assert message.startswith(f"the record of login attempts {path} (the default place: no --audit-log given)")
    assert f"--audit-log {path}" not in message and "fix: give --audit-log FILE" in message


def test_the_help_states_the_throttle_from_the_code(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Review F8: --help said "5 wrong passwords ... 15 minutes" in words of its own; it is
    built from the constants now, and says that unknown names count and that the global cap
    refuses everyone."""
    import app.login_guard
    from app.__main__ import parse_args

    monkeypatch.setattr(app.login_guard, "MAX_FAILURES_PER_USER", 7)
    monkeypatch.setattr(app.login_guard, "FAILURE_WINDOW_S", 600.0)
    monkeypatch.setattr(app.login_guard, "MAX_FAILURES_PER_MINUTE", 11)
    monkeypatch.setattr(app.login_guard, "AUDIT_MAX_BYTES", 3 * 2**20)
    monkeypatch.setattr(app.login_guard, "SUM_FLUSH_S", 4.0)
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("7 failed logins for a user name within 10 minutes refuse that name, right password or not, "
            "until the first is 10 minutes old (names not in the file count alike); 11 failed logins in "
            "a minute, all names together, refuse every login") in text
    assert "rotated to FILE.1 above 3 MiB" in text
    assert "throttled attempts summed per name and minute, each sum written within 4 s" in text


def test_docs_deploying_works_out_the_records_size_and_the_lockout() -> None:
    """Review F4 and F8: "some 150,000 attempts per 10 MiB" had no source; the figures are the
    sizes of AuditLog.line's lines now, and the flood's lines a minute come from the constants.
    The proxy section states the lockout the global cap allows, with an nginx limit_req for the
    login route; the timing claim holds only with one set of hash parameters, and says so."""
    page_text = (Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(encoding="utf-8")
    page = " ".join(page_text.split())
    small, typical = (len(AuditLog.line(0.0, user, outcome)) for user, outcome in
                      (("alice", "ok"), ("12345678", "wrong password")))
    long_escaped = len(AuditLog.line(0.0, "\U0001F600" * 1000, "unknown user"))
    assert (small, typical) == (32, 47) and 1200 < long_escaped < 1300
    assert "32 bytes for `\"alice\"` and `ok`, 47 for an 8-letter name and `wrong password`" in page
    assert f"up to about {round(long_escaped, -1):,}" in page
    assert (f"{AUDIT_MAX_BYTES // small:,} lines of the first kind, {AUDIT_MAX_BYTES // typical:,} of the "
            f"second, some {round(AUDIT_MAX_BYTES // long_escaped, -2):,} of the last") in page
    writings = math.ceil(60 / SUM_FLUSH_S) + 1  # the sums: every SUM_FLUSH_S and at the minute's end
    per_minute = MAX_FAILURES_PER_MINUTE + THROTTLED_NAMES_PER_MINUTE + writings * (THROTTLED_NAMES_PER_MINUTE + 1)
    assert f"at most {per_minute} lines a minute" in page
    assert f"written every {SUM_FLUSH_S:g} seconds and at the minute's end, {writings} times" in page
    assert AUDIT_MAX_BYTES / (per_minute * typical) / 60 > 18 and "over 18 hours" in page  # minutes, hours
    assert AUDIT_MAX_BYTES / (per_minute * long_escaped) < 60 and "under an hour" in page  # minutes
    assert "150,000" not in page and "0.8 s" not in page
    assert f"Beyond {THROTTLED_NAMES_PER_MINUTE} names in a minute" in page
    proxy = page[page.index("## In front of the app"):page.index("## Logins")]
    assert "whoever can reach the login page can lock everyone out" in proxy
    assert "limit_req_zone $binary_remote_addr" in proxy and "limit_req zone=drac_login" in proxy
    assert "location ~ ^/login/?$" in proxy  # gradio's routes: POST /login and /login/
    assert "so that neither the answer nor its time tells which names exist, as long as every hash line" not in page
    assert ("So neither the answer nor its time tells which names exist, as long as every hash line has "
            "the same parameters") in page


def test_summed_throttled_attempts_are_written_within_the_flush_delay_without_a_next_attempt(
        tmp_path: Path) -> None:
    """Review: the ``throttled xN`` sums waited for the next attempt after their minute or a
    clean stop, so a SIGKILL lost them however old. Now a timer, started when a sum begins,
    writes them SUM_FLUSH_S later (the timer is fired here by hand: nothing waits or is timed);
    the name keeps its place in the minute (no second first line), and close() stops the timer."""
    clock = StepClock(0.0)
    clock.now = 1767607500.0  # 2026-01-05T10:05:00Z
    guard = _guard(tmp_path, clock, max_failures=0)  # every attempt throttled
    timers = guard.audit._flush_timer
    for _ in range(4):
        clock.now += 1
        guard.check("alice", PASSWORD)
    guard.check("bob", "bobs")
    assert _outcomes(guard.audit.path) == [("alice", "throttled"), ("bob", "throttled")]  # the firsts only
    assert [timer.delay_s for timer in timers.started] == [SUM_FLUSH_S]  # one for the sums, not one an attempt
    timers.started[0].fire()  # SUM_FLUSH_S after alice's second attempt: no attempt came since
    lines = guard.audit.path.read_text(encoding="ascii").splitlines()
    assert lines[2:] == ['2026-01-05T10:05:02Z\t"alice"\tthrottled x3']  # stamped with the first summed
    clock.now += 1
    guard.check("alice", PASSWORD)  # the same minute: summed again, no line of its own
    guard.check("bob", "bobs")
    assert len(guard.audit.path.read_text().splitlines()) == 3 and len(timers.started) == 2
    timers.started[1].fire()
    assert _outcomes(guard.audit.path)[3:] == [("alice", "throttled"), ("bob", "throttled")]
    clock.now += 1
    guard.check("alice", PASSWORD)
    assert len(timers.started) == 3 and not timers.started[2].cancelled
    guard.audit.close()  # a clean stop writes the sum and stops the timer
    assert timers.started[2].cancelled and _outcomes(guard.audit.path)[-1] == ("alice", "throttled")
    before = guard.audit.path.read_text()
    timers.started[2].action()  # had it fired anyway: nothing left to write, the file not reopened
    assert guard.audit.path.read_text() == before and guard.audit._fd is None


def test_the_default_flush_timer_writes_the_sums_from_a_daemon_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a hand-fired timer, a real one writes the sum with no further attempt and no
    close(). Its thread is a daemon: it does not hold the server's exit. The delay is 0 s here
    and the timer's action waits until the test has recorded all three attempts (review F3: it
    raced the test's thread for the lock, and lost half the time with a 1 ms pause after each
    attempt); the thread is joined (a guard against a hang, not a timing)."""
    import app.login_guard

    monkeypatch.setattr(app.login_guard, "SUM_FLUSH_S", 0.0)
    started: list[threading.Timer] = []
    attempts_recorded = threading.Event()

    def kept(delay_s: float, action: Callable[[], None]) -> threading.Timer:
        def once_the_attempts_are_in() -> None:
            attempts_recorded.wait(60)
            action()

        started.append(app.login_guard._daemon_timer(delay_s, once_the_attempts_are_in))
        return started[-1]

    audit = AuditLog(tmp_path / "logins.log")
    assert audit._flush_timer is app.login_guard._daemon_timer  # the default
    audit._flush_timer = kept
    for _ in range(3):
        audit.record(60.0, "alice", "throttled")
    attempts_recorded.set()
    assert len(started) == 1 and started[0].daemon
    started[0].join(60)
    assert not started[0].is_alive()
    assert _outcomes(audit.path) == [("alice", "throttled"), ("alice", "throttled x2")]
    audit.close()


class _ScryptCrowd:
    """``hashlib.scrypt`` instrumented: counts the calls inside it at once (``peak``) and holds
    each one until more than ``bound`` are inside (the fault the tests look for), or the
    ``total`` expected calls have all begun, or ``hold_s`` has passed, so that callers the code
    lets in together are inside together; then hashes for real (a guard, not a timing: nothing
    is asserted about time). ``hold_s`` is a second so that only a machine stalled that long
    could keep the second slot's caller out while the first is held (the peak then short of
    the bound: a false failure); it was 0.3 s."""

    def __init__(self, bound: int, total: int, hold_s: float = 1.0) -> None:
        self.real, self.bound, self.total, self.hold_s = hashlib.scrypt, bound, total, hold_s
        self.inside = self.peak = self.calls = 0
        self._changed = threading.Condition()

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        with self._changed:
            self.inside += 1
            self.calls += 1
            self.peak = max(self.peak, self.inside)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.inside > self.bound or self.calls >= self.total,
                                   timeout=self.hold_s)
        try:
            return self.real(*args, **kwargs)
        finally:
            with self._changed:
                self.inside -= 1


class _HeldSlots:
    """Every scrypt slot (``app.auth._scrypt_slots``) held by the test, so that checks wait for
    one; :meth:`free` lets them go, once, whichever thread calls it first: the test, or the
    safety timer that frees them after 30 s were the test stuck (a guard, not a timing). Review
    F5: the tests' own ``free()`` ran from both without a lock (``while held: held.pop()``), so
    the two could both release a slot (ValueError from the bounded semaphore) on a failure path."""

    def __enter__(self) -> _HeldSlots:
        import app.auth

        self._slots, self._lock, self._held = app.auth._scrypt_slots, threading.Lock(), 0
        try:
            for _ in range(MAX_CONCURRENT_SCRYPT):
                assert self._slots.acquire(timeout=60), "a scrypt slot was not let go by an earlier test"
                self._held += 1
        except BaseException:
            self.free()
            raise
        self._safety = threading.Timer(30.0, self.free)
        self._safety.daemon = True
        self._safety.start()
        return self

    def free(self) -> None:
        with self._lock:
            while self._held:
                self._held -= 1
                self._slots.release()

    def __exit__(self, *exc: object) -> None:
        self._safety.cancel()
        self.free()


def test_no_more_than_max_concurrent_scrypt_logins_hash_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: each login in progress ran its own scrypt (16 MiB, up to 256 MiB a line), so 30
    at once held 30 times that. Now at most MAX_CONCURRENT_SCRYPT hash at once, the others
    wait; every check still hashes once, right or wrong, known name or not."""
    guard = _guard(tmp_path, StepClock(0.0), max_per_minute=1000)
    attempts = [("alice", PASSWORD, True), ("alice", "x", False), ("bob", "bobs", True), ("bob", "y", False),
                ("mallory", "z", False), ("eve", PASSWORD, False)]
    crowd = _ScryptCrowd(MAX_CONCURRENT_SCRYPT, total=len(attempts))
    monkeypatch.setattr(hashlib, "scrypt", crowd)
    start = threading.Barrier(len(attempts))
    results: dict[int, bool] = {}

    def attempt(i: int, user: str, password: str) -> None:
        start.wait()
        results[i] = guard.check(user, password)

    threads = [threading.Thread(target=attempt, args=(i, user, password))
               for i, (user, password, _) in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert crowd.calls == len(attempts)  # one scrypt each, as before
    assert crowd.peak == MAX_CONCURRENT_SCRYPT, crowd.peak  # never more; and the slots were used together
    assert [results[i] for i in range(len(attempts))] == [right for _, _, right in attempts]
    assert sorted(_outcomes(guard.audit.path)) == sorted(
        [("alice", "ok"), ("alice", "wrong password"), ("bob", "ok"), ("bob", "wrong password"),
         ("mallory", "unknown user"), ("eve", "unknown user")])


def test_a_login_waiting_for_a_scrypt_slot_does_not_hold_the_event_loop(tmp_path: Path) -> None:
    """The slots are taken in the worker thread of gradio_auth: with every slot held, the login
    waits while the event loop goes on (here: this coroutine runs and sees it unfinished); once
    a slot is free it is answered."""
    guard = _guard(tmp_path, StepClock(0.0))

    async def login_while_slots_are_held(slots: _HeldSlots) -> tuple[bool, bool]:
        task = asyncio.create_task(guard.gradio_auth("alice", PASSWORD))
        await _until_async(lambda: guard.throttle._pending or task.done())  # until the check is admitted and waits for a slot
        for _ in range(5):
            await asyncio.sleep(0.01)  # the loop serves on meanwhile
        waited = not task.done()
        slots.free()
        return waited, await task

    with _HeldSlots() as slots:  # were the check run on the loop, it would wait for the safety timer
        waited, answer = asyncio.run(login_while_slots_are_held(slots))
    guard.close()
    assert waited and answer is True
    assert _outcomes(guard.audit.path) == [("alice", "ok")]


def test_plaintext_lines_are_hashed_at_start_concurrently_within_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: plaintext lines were hashed one after another at start (some tenths of a second
    each with the default parameters). Now MAX_CONCURRENT_SCRYPT at a time, in threads
    (hashlib.scrypt lets go of the GIL), never more; each is still hashed once and checks."""
    hashed = Login("alice", hash_password(PASSWORD, **FAST), 1)  # the parameters all lines get
    plain = [Login(f"user{i}", f"secret-{i}", i + 2) for i in range(5)]
    crowd = _ScryptCrowd(MAX_CONCURRENT_SCRYPT, total=len(plain))
    monkeypatch.setattr(hashlib, "scrypt", crowd)
    guard = LoginGuard([hashed, *plain], throttle=Throttle(max_per_minute=1000))
    assert crowd.calls == len(plain) and crowd.peak == MAX_CONCURRENT_SCRYPT, (crowd.calls, crowd.peak)
    assert all(login.hashed for login in guard._logins.values()) and list(guard._logins) == [
        "alice", *(login.user for login in plain)]
    monkeypatch.setattr(hashlib, "scrypt", crowd.real)
    assert all(guard.check(login.user, login.secret) for login in plain)
    assert not guard.check("user0", "secret-1")


def _throttled_attempts(path: Path) -> int:
    """The throttled attempts the record holds: 1 a ``throttled`` line, N a ``throttled xN``."""
    outcomes = [outcome for _, outcome in _outcomes(path) if outcome.startswith("throttled")]
    return sum(int(outcome.removeprefix("throttled x")) if " x" in outcome else 1 for outcome in outcomes)


class _LockThen:
    """``AuditLog._lock`` for a test: a lock that runs ``then`` once, right after its first
    release, in the releasing thread: what another thread could do between two holds."""

    def __init__(self, then: Callable[[], None]) -> None:
        self._lock, self._then = threading.Lock(), then

    def __enter__(self) -> _LockThen:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        then, self._then = self._then, None
        if then is not None:
            then()


def test_an_attempt_recorded_while_the_record_closes_is_written_or_refused_never_lost(tmp_path: Path) -> None:
    """Review F1: close() wrote the sums (one hold of the lock), then took the lock again to
    close the file: two throttled attempts recorded in between were summed and never written
    (the file said 2 of 4). Now close() writes, stops the timer and closes under one hold; an
    attempt after it is refused (ValueError: LoginGuard.check logs it), so every attempt the
    record took is in the file."""
    audit = AuditLog(tmp_path / "logins.log", flush_timer=_HandTimers())
    for _ in range(2):
        audit.record(1767607560.0, "alice", "throttled")  # its first line, then a sum
    taken, refused = 2, 0

    def attempts_meanwhile() -> None:
        nonlocal taken, refused
        for _ in range(2):
            try:
                audit.record(1767607561.0, "alice", "throttled")
                taken += 1
            except ValueError as exc:
                assert "is closed" in str(exc)
                refused += 1

    audit._lock = _LockThen(attempts_meanwhile)  # type: ignore[assignment]
    audit.close()
    assert _throttled_attempts(audit.path) == taken and taken + refused == 4, (taken, refused)


def test_a_closed_record_is_not_opened_again_by_a_late_timer_or_attempt(tmp_path: Path) -> None:
    """Review F1: a timer already running when close() cancelled it, or one a later attempt
    started, wrote through _append, which opened the file again: a descriptor nothing closed.
    A closed record now starts no timer, writes nothing and opens nothing; close() again, and
    flush(), do nothing."""
    timers = _HandTimers()
    audit = AuditLog(tmp_path / "logins.log", flush_timer=timers)
    for _ in range(3):
        audit.record(1767607560.0, "alice", "throttled")
    assert len(timers.started) == 1
    audit.close()
    written = audit.path.read_text()
    assert timers.started[0].cancelled and _throttled_attempts(audit.path) == 3
    timers.started[0].action()  # it was running already: cancel() came too late
    with pytest.raises(ValueError, match=f"the record of login attempts {re.escape(str(audit.path))} is closed"):
        audit.record(1767607561.0, "alice", "throttled")
    with pytest.raises(ValueError, match="is closed"):
        audit.record(1767607562.0, "bob", "wrong password")
    audit.flush()
    audit.close()
    assert len(timers.started) == 1 and audit._fd is None and audit.path.read_text() == written


def test_a_stale_flush_timer_neither_writes_nor_drops_the_pending_one(tmp_path: Path) -> None:
    """Review F1: the timer's action set the pending timer to None whichever timer it was, so
    a stale one (run late) dropped a newer one's reference, wrote its sums early and let a
    second timer start beside it. Each timer's action carries a token now: only the pending
    timer's writes."""
    timers = _HandTimers()
    audit = AuditLog(tmp_path / "logins.log", flush_timer=timers)
    for _ in range(2):
        audit.record(1767607560.0, "alice", "throttled")
    timers.started[0].fire()
    audit.record(1767607561.0, "alice", "throttled")  # a new sum: a new timer
    written = audit.path.read_text()
    assert len(timers.started) == 2 and audit._pending_flush is timers.started[1]
    timers.started[0].action()  # the first, again: stale
    assert audit.path.read_text() == written and audit._pending_flush is timers.started[1]
    audit.record(1767607562.0, "alice", "throttled")
    assert len(timers.started) == 2  # no second timer beside the pending one
    timers.started[1].fire()
    assert _outcomes(audit.path)[-1] == ("alice", "throttled x2") and _throttled_attempts(audit.path) == 4
    audit.close()


def test_an_unexpected_error_in_the_timers_write_goes_to_the_apps_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Review F5: the timer's action caught only OSError (which _append logs itself); anything
    else went to threading.excepthook (stderr, not the app's log). It is logged on the "app"
    logger now, as an error, and the timer's thread ends quietly; the next sum gets a timer."""
    timers = _HandTimers()
    audit = AuditLog(tmp_path / "logins.log", flush_timer=timers)
    for _ in range(2):
        audit.record(1767607560.0, "alice", "throttled")

    def broken(text: str) -> None:
        raise RuntimeError("a bug in the write")

    audit._append = broken  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR, logger="app")
    timers.started[0].fire()  # raises nothing
    errors = [r for r in caplog.records if r.name == "app" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and "RuntimeError: a bug in the write" in errors[0].getMessage()
    assert str(audit.path) in errors[0].getMessage()
    del audit._append
    audit.record(1767607561.0, "alice", "throttled")
    assert len(timers.started) == 2
    audit.close()


def test_an_attempt_stamped_in_an_earlier_minute_does_not_begin_the_minute_again(tmp_path: Path) -> None:
    """Review F2: an attempt is stamped when its check begins, and one that waited for a
    scrypt slot is recorded late; record() began a new minute whenever the stamp's minute
    differed, backwards too, which forgot the minute's names, so the same 20 names had first
    lines again after each late attempt (30 late ones: 600 first lines in a minute). The
    record's minute only moves forward now: a late line keeps its own stamp and counts in the
    current minute; a later minute still begins anew."""
    timers = _HandTimers()
    audit = AuditLog(tmp_path / "logins.log", flush_timer=timers)
    minute = 1767607560.0  # 2026-01-05T10:06:00Z
    names = [f"name{i}" for i in range(THROTTLED_NAMES_PER_MINUTE)]
    rounds = 5
    for r in range(rounds):
        audit.record(minute - 0.1, "alice", "wrong password")  # its check began at 10:05:59.9
        for name in names:
            audit.record(minute + r, name, "throttled")
    audit.flush()
    outcomes = _outcomes(audit.path)
    firsts = [user for user, outcome in outcomes if outcome == "throttled"]
    assert sorted(firsts) == sorted(names), len(firsts)  # one first line a name in the minute
    assert _throttled_attempts(audit.path) == rounds * len(names)
    late = [line for line in audit.path.read_text().splitlines() if line.endswith("wrong password")]
    assert late == ['2026-01-05T10:05:59Z\t"alice"\twrong password'] * rounds
    audit.record(minute + 60, "name0", "throttled")  # 10:07: a new minute, a first line again
    assert audit.path.read_text().splitlines()[-1] == '2026-01-05T10:07:00Z\t"name0"\tthrottled'
    audit.close()


def test_login_checks_run_on_the_guards_own_threads_so_the_file_sweep_does_not_wait_behind_them(
        tmp_path: Path) -> None:
    """A login waiting for a scrypt slot held a thread of asyncio.to_thread's shared pool, the
    one the server's sweep of old files runs in: a flood could hold the sweep. gradio_auth runs
    checks on the guard's own LOGIN_CHECK_THREADS threads now: with the shared pool cut to one
    thread and every slot held, a to_thread call (what the sweep makes) is answered while the
    login still waits."""
    guard = _guard(tmp_path, StepClock(0.0))
    shared = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shared")  # asyncio.to_thread's, cut to one

    async def sweep_while_a_login_waits(slots: _HeldSlots) -> tuple[str, bool, bool]:
        asyncio.get_running_loop().set_default_executor(shared)
        task = asyncio.create_task(guard.gradio_auth("alice", PASSWORD))
        await _until_async(lambda: guard.throttle._pending or task.done())  # until the check is admitted and waits for a slot
        sweeper = await asyncio.to_thread(lambda: threading.current_thread().name)
        login_waited = not task.done()
        slots.free()
        return sweeper, login_waited, await task

    try:
        with _HeldSlots() as slots:  # were the check on the shared thread, the sweep would wait for the safety timer
            sweeper, login_waited, answer = asyncio.run(sweep_while_a_login_waits(slots))
    finally:
        shared.shutdown(wait=True)  # asyncio.run's end shuts it too; said here, whatever happens
    assert login_waited and answer is True and not sweeper.startswith("login-check")
    guard.close()
    assert _outcomes(guard.audit.path) == [("alice", "ok")]


def test_closing_the_guard_lets_the_checks_in_progress_end_and_records_them(tmp_path: Path) -> None:
    """LoginGuard.close() (main's, when the server stops) waits for the checks its threads
    are running, here one waiting for a scrypt slot, before it closes the record: their lines
    are in it."""
    guard = _guard(tmp_path, StepClock(0.0))
    with _HeldSlots():
        check = guard._check_threads.submit(guard.check, "alice", PASSWORD)
        _until(lambda: guard.throttle._pending)  # until it is admitted and waits for a slot
        closing = threading.Thread(target=guard.close)
        closing.start()
    closing.join(60)
    assert not closing.is_alive() and check.result(timeout=60) is True
    assert guard.audit._fd is None and _outcomes(guard.audit.path) == [("alice", "ok")]


def test_a_login_after_the_guard_closed_is_refused_and_said_not_a_server_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Review F1: after close() (its threads shut down) gradio_auth let RuntimeError('cannot
    schedule new futures after shutdown') escape into gradio's /login: a 500 with a traceback,
    nothing logged. main closes the guard while uvicorn may still end requests in progress
    (gradio's Server.close waits 5 s). Such a login is refused now, said once on the app's log;
    also when close() shuts the threads between gradio_auth's look and its hand-over (the
    throttle's count of the admitted attempt is given back: it was never checked)."""
    caplog.set_level(logging.WARNING, logger="app")
    guard = _guard(tmp_path, StepClock(0.0))
    guard._check_threads.shutdown()  # close() began after gradio_auth looked (the race)
    assert asyncio.run(guard.gradio_auth("alice", PASSWORD)) is False
    assert guard.throttle._pending == {} and guard.throttle.tracked_users() == 0
    guard.close()
    assert asyncio.run(guard.gradio_auth("alice", PASSWORD)) is False
    assert asyncio.run(guard.gradio_auth("bob", "bobs")) is False
    said = [r for r in caplog.records if r.name == "app"]
    assert [(r.levelno, r.getMessage()) for r in said] == [
        (logging.WARNING, "login refused: the server is stopping (every login until it has stopped is "
                          "refused alike, unchecked and unrecorded; said once)")]
    assert guard.audit.path.read_text() == ""


def test_a_late_stamp_counts_in_the_current_minute_and_a_clock_stepped_back_begins_a_new_one(
        tmp_path: Path) -> None:
    """Review F2: the record's minute only moved forward, so a wall clock stepped back (NTP
    correcting a clock that ran ahead) froze it: until the clock caught up, throttled names
    beyond the frozen minute's 20 were only summed under '*' (a line at 11:06, then 25 new names
    a minute at 10:06-10:08: '* throttled x25' each minute). A stamp up to 2 minutes older than
    the current minute is late (a check that waited for a thread and a scrypt slot): it counts in
    the current minute, whose names are not named again. An older one while the record's
    minute is ahead of the wall clock (review F4: read when the line is recorded) is the clock
    stepped back: it begins a new minute."""
    now = [0.0]  # the wall clock when a line is recorded
    audit = AuditLog(tmp_path / "logins.log", flush_timer=_HandTimers(), wall_clock=lambda: now[0])
    ten_six = 1767607560.0  # 2026-01-05T10:06:00Z
    now[0] = ten_six + 3600
    audit.record(ten_six + 3600, "alice", "wrong password")  # 11:06: the clock an hour ahead
    per_minute = THROTTLED_NAMES_PER_MINUTE + 5
    for minute in range(3):  # NTP steps it back: 25 new names a minute, 10:06-10:08
        for i in range(per_minute):
            now[0] = ten_six + 60 * minute + i
            audit.record(now[0], f"m{minute}-{i}", "throttled")
    late = ten_six + 2 * 60 - 120  # 10:06:00 while the minute is 10:08: late, counted in 10:08
    for user in ("m2-0", "m2-0", "m2-24"):
        audit.record(late, user, "throttled")
    audit.flush()
    outcomes = _outcomes(audit.path)
    firsts = [user for user, outcome in outcomes if outcome == "throttled"]
    assert len(firsts) == 3 * THROTTLED_NAMES_PER_MINUTE, len(firsts)  # 20 named each minute
    assert [outcome for user, outcome in outcomes if user == "*"] == ["throttled x5"] * 2 + ["throttled x6"]
    assert outcomes[-2:] == [("m2-0", "throttled x2"), ("*", "throttled x6")]  # the late ones: summed in 10:08
    now[0] = ten_six + 60 * 2 - 121  # the clock stepped back again, to 10:05:59
    audit.record(now[0], "m2-0", "throttled")  # 3 minutes back, the record's minute ahead: a new minute
    audit.close()
    assert audit.path.read_text().splitlines()[-1] == '2026-01-05T10:05:59Z\t"m2-0"\tthrottled'


def test_a_throttled_refusal_is_answered_while_admitted_checks_wait_for_threads_and_slots(
        tmp_path: Path) -> None:
    """Review F4: the throttle was asked inside the check's thread, so a throttled refusal
    (which hashes nothing) queued behind every check given to the LOGIN_CHECK_THREADS threads
    before it (2.08 s behind 8 checks). gradio_auth asks the throttle first now: an admitted
    check goes to those threads, a refusal is only recorded, on a thread of its own. Here every
    slot is held, twice LOGIN_CHECK_THREADS checks wait, and a throttled name's refusal is
    answered before any of them (it cannot have hashed: no slot was free)."""
    guard = _guard(tmp_path, StepClock(0.0), max_per_minute=1000)
    for _ in range(MAX_FAILURES_PER_USER):
        assert not guard.check("mallory", "guess")
    waiting = 2 * LOGIN_CHECK_THREADS

    async def refusal_while_checks_wait(slots: _HeldSlots) -> tuple[bool, bool, list[bool]]:
        checks = [asyncio.create_task(guard.gradio_auth(f"user{i}", "x")) for i in range(waiting)]
        await _until_async(lambda: sum(guard.throttle._pending.values()) >= LOGIN_CHECK_THREADS)  # until every check thread waits for a slot
        refusal = asyncio.create_task(guard.gradio_auth("mallory", PASSWORD))
        await _until_async(refusal.done)
        first = refusal.done() and not any(check.done() for check in checks)
        slots.free()
        return first, await refusal, list(await asyncio.gather(*checks))

    with _HeldSlots() as slots:
        first, refused, answers = asyncio.run(refusal_while_checks_wait(slots))
    guard.close()
    assert first and refused is False and answers == [False] * waiting
    outcomes = _outcomes(guard.audit.path)
    assert outcomes[MAX_FAILURES_PER_USER] == ("mallory", "throttled")  # before any of the checks' lines
    assert sorted(outcomes[MAX_FAILURES_PER_USER + 1:]) == sorted((f"user{i}", "unknown user") for i in range(waiting))


class _InterruptedWait:
    """A guard's pool whose ``shutdown(wait=True)`` is interrupted (Ctrl-C, or SIGTERM's
    handler, while the main thread waits for the checks): the pool is told to stop, then
    KeyboardInterrupt comes, as it would in the join. ``shutdown(wait=False, ...)`` is the real one."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        return self.pool.submit(*args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=False, cancel_futures=cancel_futures)
        if wait:
            raise KeyboardInterrupt


def test_an_interrupt_while_the_guard_closes_still_writes_the_sums_and_drops_the_queued_checks(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Review F3: a Ctrl-C while close() waited for the checks skipped the record's close: the
    sums not yet written were lost. The record is closed (its sums written) whatever stops the
    wait, and the checks still queued are dropped (a second Ctrl-C means: stop now), those
    running end (their lines, after the close, are refused and said on the log)."""
    guard = _guard(tmp_path, StepClock(0.0), max_failures=0)  # every attempt throttled
    for _ in range(3):
        assert not guard.check("alice", PASSWORD)  # its first line, then a sum of 2 not yet written
    guard._check_threads = _InterruptedWait(guard._check_threads)  # type: ignore[assignment]
    guard.throttle.max_failures = MAX_FAILURES_PER_USER
    caplog.set_level(logging.ERROR, logger="app")
    with _HeldSlots():
        running = [guard._check_threads.submit(guard.check, f"user{i}", "x") for i in range(LOGIN_CHECK_THREADS)]
        queued = guard._check_threads.submit(guard.check, "queued", "x")
        _until(lambda: sum(guard.throttle._pending.values()) >= LOGIN_CHECK_THREADS)  # until every thread has its check
        with pytest.raises(KeyboardInterrupt):
            guard.close()
        assert guard.audit._fd is None
        assert _outcomes(guard.audit.path) == [("alice", "throttled"), ("alice", "throttled x2")]
    assert queued.cancelled() and [check.result(timeout=60) for check in running] == [False] * LOGIN_CHECK_THREADS
    guard._check_threads.pool.shutdown(wait=True)
    assert caplog.text.count("could not be recorded (RecordClosedError: the record of login attempts") == LOGIN_CHECK_THREADS


def test_main_closes_the_guard_under_its_sigterm_handler_and_an_interrupt_there_is_no_traceback(
        tmp_path: Path, predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F3: main put SIGTERM's old handler back before it closed the guard, so a SIGTERM
    while the checks ended killed the process without the record's sums; and a Ctrl-C there
    escaped main as a traceback. The guard is closed first now, SIGTERM still stopping as Ctrl-C
    does, and an interrupt there ends main as any Ctrl-C does (0)."""
    import signal

    import gradio as gr

    from app.__main__ import _interrupt, main

    events: list[object] = []
    real_close = LoginGuard.close

    def close_then_interrupted(self: LoginGuard) -> None:
        events.append("close")
        real_close(self)
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM's handler, while it closed

    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: events.append((signum, handler)))
    monkeypatch.setattr(LoginGuard, "close", close_then_interrupted)
    logins = tmp_path / "logins"
    logins.write_text(f"alice:{hash_password(PASSWORD, **FAST)}\n")
    try:
        code = main(["--auth-file", str(logins), "--bundle", str(predictor.path), "--threads", "1",
                     "--temp-dir", str(tmp_path)])
    except KeyboardInterrupt:  # failed here, rather than stopping the whole test session
        pytest.fail("a KeyboardInterrupt while the guard closed escaped main")
    assert code == 0
    assert events == [(signal.SIGTERM, _interrupt), "close", (signal.SIGTERM, None)]


def test_a_late_line_counts_in_the_current_minute_unless_the_clock_was_stepped_back(tmp_path: Path) -> None:
    """Review F4: any line more than LATE_MINUTES behind began a new minute, and the next line
    of the current minute began it again, each time naming every name anew: 500 throttled
    attempts of 5 names with a 181 s late line every 10 wrote 550 lines. Such a line begins a
    new minute now only when the record's minute is ahead of the wall clock read as the line is
    recorded (the clock stepped back); otherwise it keeps its stamp and counts in the minute."""
    now = [0.0]
    audit = AuditLog(tmp_path / "logins.log", flush_timer=_HandTimers(), wall_clock=lambda: now[0])
    ten_six = 1767607560.0  # 2026-01-05T10:06:00Z
    for i in range(500):
        now[0] = ten_six + i * 0.1  # the clock as it was: the attempts come now
        audit.record(now[0], f"name{i % 5}", "throttled")
        if i % 10 == 9:
            audit.record(now[0] - 181, "alice", "wrong password")  # a check that waited 181 s
    audit.flush()
    outcomes = _outcomes(audit.path)
    assert [user for user, outcome in outcomes if outcome == "throttled"] == [f"name{i}" for i in range(5)]
    assert sum(outcome == "wrong password" for _, outcome in outcomes) == 50
    assert len(outcomes) == 5 + 50 + 5 and _throttled_attempts(audit.path) == 500  # the sums: one a name
    now[0] = ten_six - 181  # the clock stepped back 3 minutes: the record's minute is ahead of it
    audit.record(now[0], "name0", "throttled")
    audit.close()
    assert audit.path.read_text().splitlines()[-1] == '2026-01-05T10:02:59Z\t"name0"\tthrottled'  # named again


def test_a_check_that_ends_after_an_interrupted_close_is_refused_without_its_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Review F3: after a Ctrl-C in close(), a check still running when the record closed
    returned True without a line in the record (fail open). The right password is refused now
    when the record refuses the line because it is closed: no login without its line."""
    guard = _guard(tmp_path, StepClock(0.0))
    guard._check_threads = _InterruptedWait(guard._check_threads)  # type: ignore[assignment]
    caplog.set_level(logging.ERROR, logger="app")
    with _HeldSlots():
        running = guard._check_threads.submit(guard.check, "alice", PASSWORD)
        _until(lambda: guard.throttle._pending)  # until it is admitted and waits for a slot
        with pytest.raises(KeyboardInterrupt):
            guard.close()
    assert running.result(timeout=60) is False and guard.audit.path.read_text() == ""
    guard._check_threads.pool.shutdown(wait=True)
    assert "could not be recorded (RecordClosedError" in caplog.text and "it is refused" in caplog.text
    assert guard.check("bob", "bobs") is False  # the sync check alike


def test_a_queued_login_dropped_by_an_interrupted_close_is_refused_not_a_server_error(tmp_path: Path) -> None:
    """Review F3: the checks that an interrupted close() dropped from the queue raised
    CancelledError out of gradio_auth (a 500) and left their throttle counts unsettled (the
    attempt counted as a failure forever). gradio_auth answers such a login as refused at the
    stop now, and gives its count back."""
    guard = _guard(tmp_path, StepClock(0.0))
    guard._check_threads = _InterruptedWait(guard._check_threads)  # type: ignore[assignment]
    interrupted: list[BaseException] = []

    def close() -> None:
        try:
            guard.close()
        except KeyboardInterrupt as exc:
            interrupted.append(exc)

    async def logins_while_closing(slots: _HeldSlots) -> list[object]:
        tasks = [asyncio.create_task(guard.gradio_auth(f"user{i}", "x")) for i in range(LOGIN_CHECK_THREADS + 2)]
        await _until_async(lambda: len(guard.throttle._pending) == len(tasks)  # each thread waits, the last two queued
                           and len(guard._check_threads.pool._threads) == LOGIN_CHECK_THREADS)
        closing = threading.Thread(target=close)
        closing.start()
        await _until_async(lambda: not closing.is_alive())
        slots.free()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    with _HeldSlots() as slots:
        answers = asyncio.run(logins_while_closing(slots))
    guard._check_threads.pool.shutdown(wait=True)
    assert interrupted and answers == [False] * (LOGIN_CHECK_THREADS + 2), answers
    assert guard.throttle._pending == {} and guard.throttle.tracked_users() == LOGIN_CHECK_THREADS


def test_a_throttled_refusal_is_answered_without_waiting_for_the_record(tmp_path: Path) -> None:
    """Review F5: a throttled refusal awaited its line's write on the refusal thread, which can
    wait up to a second for another server's lock on the record: in a flood they piled up. The
    refusal is answered at once now (no wait on the event loop), its line written by the thread
    afterwards; beyond REFUSALS_QUEUED lines not yet written, the further throttled attempts
    are counted and written as one '*' sum: none lost, memory bounded."""
    guard = _guard(tmp_path, StepClock(0.0), max_failures=0)  # every attempt throttled
    extra = 50

    async def refusals_while_the_record_is_held() -> list[bool]:
        answered = []
        for i in range(REFUSALS_QUEUED + extra):
            task = asyncio.create_task(guard.gradio_auth("mallory", f"guess{i}"))
            await asyncio.sleep(0)  # the task runs until it would wait: it must not
            answered.append(task.done() and task.result() is False)
        return answered

    with guard.audit._lock:  # what a write waiting for another server's flock holds
        answered = asyncio.run(refusals_while_the_record_is_held())
        assert guard._unnamed == extra
    guard.close()
    assert answered == [True] * (REFUSALS_QUEUED + extra)
    outcomes = _outcomes(guard.audit.path)
    assert outcomes[0] == ("mallory", "throttled") and ("*", f"throttled x{extra}") in outcomes
    assert _throttled_attempts(guard.audit.path) == REFUSALS_QUEUED + extra



def test_a_throttled_count_after_the_last_write_is_said_not_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Final review F5: a throttled attempt counted after close()'s last sum of the counts
    (its refusal lines' writes dropped by a second Ctrl-C, the queue still full) was added to a
    count nothing would write. close() marks its sum final under the same lock, and such an
    attempt is said on the log instead."""
    guard = _guard(tmp_path, StepClock(0.0), max_failures=0)
    guard.close()
    guard._refusals_queued = REFUSALS_QUEUED  # lines dropped at the stop: never written
    caplog.set_level(logging.ERROR, logger="app")
    from app.login_guard import THROTTLED

    guard._record_refusal(1.0, "mallory", THROTTLED)
    assert guard._unnamed == 0
    assert "1 throttled login attempt could not be recorded (the record is closed)" in caplog.text
