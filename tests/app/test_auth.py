"""``python -m app --auth-file FILE``: the login file's format and errors (never printing a
password), the login passed to gradio's ``launch``, and the warning for a server reachable
from other machines without one. No server is started: ``launch`` is replaced."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from app.auth import AuthFileError, Login, read_auth_file

SECRET = "s3cr3t:with:colons"


def test_users_and_passwords_are_read_comments_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "logins"
    path.write_text(f"# who may log in\n\nalice:{SECRET}\n  bob : pw2  \r\n# carol:old\n")
    assert read_auth_file(path) == [("alice", SECRET, 3), ("bob", "pw2", 4)]  # Login(user, secret, line)
    # a file saved by Notepad starts with a byte-order mark: not part of the first user's name
    path.write_bytes(b"\xef\xbb\xbfalice:pw1\r\nbob: pw2\r\n")
    assert [login[:2] for login in read_auth_file(path)] == [("alice", "pw1"), ("bob", "pw2")]


@pytest.mark.parametrize(("text", "line", "what"), [
    ("alice:pw\nno colon here\n", 2, "user:secret"),
    ("alice:pw\n:pw-without-user\n", 2, "user name"),
    ("# c\nalice:\n", 2, "password"),
    ("alice:pw\nalice:other\n", 2, "twice"),
    ("alice pw-without-user:x\n", 1, "space"),
])
def test_a_malformed_line_is_named_by_file_and_line_without_the_password(
        tmp_path: Path, text: str, line: int, what: str) -> None:
    path = tmp_path / "logins"
    path.write_text(text)
    with pytest.raises(AuthFileError) as info:
        read_auth_file(path)
    message = str(info.value)
    assert f"{path}, line {line}" in message and what in message
    assert "pw-without-user" not in message and "other" not in message and "no colon here" not in message


def test_a_user_named_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    """Review F8: the file's error names both lines; a LoginGuard given the same name twice (it
    kept the last one, silently) refuses too, naming both lines when they come from a file."""
    from app.login_guard import LoginGuard

    path = tmp_path / "logins"
    path.write_text("alice:pw1\n# c\nbob:pw\nalice:pw2\n")
    with pytest.raises(AuthFileError, match="the user 'alice' is named twice, on lines 1 and 4"):
        read_auth_file(path)
    with pytest.raises(AuthFileError, match="'alice' is named on lines 1 and 4 of the login file"):
        LoginGuard([Login("alice", "pw1", 1), Login("bob", "pw", 3), Login("alice", "pw2", 4)])
    with pytest.raises(AuthFileError, match="'alice' is named twice"):
        LoginGuard([("alice", "pw1"), ("alice", "pw2")])


@pytest.mark.parametrize("text", [None, "", "# only a comment\n\n"])
def test_a_missing_or_empty_file_is_an_error_naming_it(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "logins"
    if text is not None:
        path.write_text(text)
    with pytest.raises(AuthFileError, match=str(path)):
        read_auth_file(path)


def test_main_exits_2_on_a_bad_auth_file_before_loading_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main

    path = tmp_path / "logins"
    path.write_text("# logins\nalice s3cr3t\n")
    assert main(["--auth-file", str(path), "--bundle", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 2" in err and "s3cr3t" not in err
    assert "--bundle" not in err and "bundle" not in err  # refused before a bundle is looked for


def _launched(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import gradio as gr

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append(kwargs))
    return calls


def test_the_login_reaches_gradios_launch_and_main_passes_it(
        tmp_path: Path, predictor: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main
    from app.server import AppSettings, serve

    calls = _launched(monkeypatch)
    caplog.set_level(logging.WARNING, logger="app")
    serve(predictor, AppSettings(host="0.0.0.0"), auth=[("alice", SECRET)], block=False)
    check = calls[-1]["auth"]  # a check gradio runs per login (app.login_guard), not the passwords
    assert callable(check) and asyncio.run(check("alice", SECRET)) is True
    assert asyncio.run(check("alice", "wrong")) is False
    assert "no authentication" not in caplog.text and "TLS" in caplog.text
    assert SECRET not in caplog.text

    import signal

    import gradio as gr

    answers: list[bool] = []

    def launch(self: gr.Blocks, **kwargs: Any) -> None:  # a login while the server runs (main
        calls.append(kwargs)  # closes its guard when it returns)
        answers.append(asyncio.run(kwargs["auth"]("alice", SECRET)))

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    path = tmp_path / "logins"
    path.write_text(f"alice:{SECRET}\n")
    assert main(["--auth-file", str(path), "--bundle", str(predictor.path), "--quiet",
                 "--port", "7999", "--threads", "1", "--temp-dir", str(tmp_path)]) == 0
    assert calls[-1]["server_port"] == 7999 and answers == [True]
    out = capsys.readouterr().out
    assert SECRET not in out + caplog.text
    assert f"--auth-file {path}: line(s) 1 (alice) hold a plaintext password" in caplog.text


def test_no_login_off_loopback_is_warned_when_asked_for(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Without a login a server off loopback starts only with ``insecure_no_auth``
    (``--insecure-no-auth``; the refusal itself: test_app_open_host.py), and the log warns."""
    from app.server import AppSettings, serve

    calls = _launched(monkeypatch)
    caplog.set_level(logging.WARNING, logger="app")
    serve(predictor, AppSettings(host="0.0.0.0"), block=False, insecure_no_auth=True)
    assert calls[-1]["auth"] is None
    assert "no authentication" in caplog.text and "--insecure-no-auth" in caplog.text
    caplog.clear()
    serve(predictor, AppSettings(host="127.0.0.1"), block=False)
    assert calls[-1]["auth"] is None and caplog.text == ""


def test_a_login_file_others_may_read_is_noticed(tmp_path: Path) -> None:
    import os

    from app.auth import readable_by_others

    path = tmp_path / "logins"
    path.write_text("alice:pw\n")
    path.chmod(0o600)
    assert not readable_by_others(path)
    path.chmod(0o644)
    assert readable_by_others(path) == (os.name == "posix")
