"""A server off the loopback interface without a login does not start (a security review: with
``--host 0.0.0.0`` and no ``--auth-file`` it only warned, then served the page, its API, the
uploads and batch CSVs and ``/config`` to anyone on the network). ``--auth-file`` or an explicit
``--insecure-no-auth`` starts it. No server is started: gradio's ``launch`` is replaced."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import pytest

from app.auth import INSECURE_NO_AUTH, is_loopback_host, open_host_refusal


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.1.1", True), ("localhost", True), ("LOCALHOST", True),
    ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.20", False), ("10.0.0.5", False),
    ("fe80::1", False), ("grading.example.org", False), ("localhost.example.org", False),
])
def test_only_the_loopback_interface_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_the_refusal_names_the_host_what_is_exposed_and_both_ways_to_start() -> None:
    said = open_host_refusal("0.0.0.0")
    assert "--host 0.0.0.0" in said and "no login" in said and "Not started" in said
    assert "fix:" in said and "--auth-file FILE" in said and INSECURE_NO_AUTH in said
    assert "reverse proxy" in said and "127.0.0.1" in said


def test_main_refuses_an_open_host_without_a_login_before_anything_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit code 2, the usage error of the package's commands (drac_ssl/exit_codes.py: "2 the
    command itself is wrong"), before a bundle is looked for."""
    from app.__main__ import main

    for host in ("0.0.0.0", "192.168.1.20", "::"):
        assert main(["--host", host, "--runs-dir", str(tmp_path)]) == 2, host
        err = capsys.readouterr().err
        assert err.startswith(f"error: --host {host} would serve the app"), err
        assert "--auth-file" in err and INSECURE_NO_AUTH in err
        assert "bundle" not in err  # refused before a bundle is looked for (there is none)


def test_help_says_an_open_host_needs_a_login_or_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import parse_args

    with pytest.raises(SystemExit) as info:
        parse_args(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert INSECURE_NO_AUTH in text and "exit code 2" in text
    assert "reverse proxy in front asks for a login" in text


def _launched(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import gradio as gr

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append(kwargs))
    return calls


def test_serve_refuses_an_open_host_without_a_login_and_binds_nothing(
        predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import AppSettings, serve

    calls = _launched(monkeypatch)
    with pytest.raises(ValueError, match="--auth-file") as info:
        serve(predictor, AppSettings(host="0.0.0.0"), block=False)
    assert INSECURE_NO_AUTH in str(info.value)
    assert calls == []
    serve(predictor, AppSettings(host="0.0.0.0"), block=False, auth=[("alice", "pw")])
    assert calls[-1]["server_name"] == "0.0.0.0" and callable(calls[-1]["auth"])  # a login guard's check
    serve(predictor, AppSettings(host="localhost"), block=False)  # loopback: no login needed
    assert calls[-1]["server_name"] == "localhost" and calls[-1]["auth"] is None


def test_insecure_no_auth_starts_it_and_the_log_warns(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main

    calls = _launched(monkeypatch)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    caplog.set_level(logging.WARNING, logger="app")
    assert main(["--host", "0.0.0.0", INSECURE_NO_AUTH, "--bundle", str(predictor.path), "--quiet",
                 "--port", "7998", "--threads", "1"]) == 0
    assert calls[-1]["server_name"] == "0.0.0.0" and calls[-1]["auth"] is None
    assert "no authentication" in caplog.text and INSECURE_NO_AUTH in caplog.text
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize("host, bound", [("::1", "[::1]"), ("[::1]", "[::1]"), ("127.0.0.1", "127.0.0.1"),
                                         ("localhost", "localhost"), (" ::1 ", "[::1]")])
def test_an_ipv6_literal_reaches_the_web_server_in_brackets(host: str, bound: str) -> None:
    """A review found ``--host ::1`` accepted as loopback, then gradio's own address
    ``http://::1:PORT`` invalid (a traceback at start)."""
    from app.auth import bind_name

    assert bind_name(host) == bound


def test_a_host_the_check_cannot_place_is_said_not_recognised_not_serving_everyone() -> None:
    for host in ("127.1", "::ffff:127.0.0.1", "grading.example.org"):
        said = open_host_refusal(host)
        assert "is not recognised as a loopback address" in said and "Not started" in said, said
    for host in ("0.0.0.0", "::", "", "192.168.1.20"):
        assert "would serve the app to every machine" in open_host_refusal(host)
