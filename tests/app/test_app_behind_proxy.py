"""The app starts on a machine whose environment names a proxy (a packaging review, F1): with
``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` set and no ``NO_PROXY`` (common on hospital
workstations), gradio's ``launch`` asked its own address through the proxy with ``httpx.get`` and
the app died with a bare ``httpx.ConnectError: [Errno 111]``. :func:`app.loopback.bypass_proxy`
now keeps the app's own addresses off the proxy, and a start that still cannot reach them ends
with a message naming the proxy variables (exit code 2). The proxy here is a closed port on
loopback: a request sent to it is refused at once."""

from __future__ import annotations

import http.server
import signal
import threading
import urllib.request
from typing import Any

import pytest

from app.loopback import LOOPBACK_NAMES, bypass_proxy, free_port, proxy_variables

PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _proxied(monkeypatch: pytest.MonkeyPatch, **more: str) -> str:
    """An unreachable proxy in every proxy variable, no NO_PROXY; the proxy's URL (with a password)."""
    proxy = f"http://user:s3cret@127.0.0.1:{free_port()}"
    for name in (*PROXY_NAMES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name, value in more.items():
        monkeypatch.setenv(name, value)
    return proxy


def test_bypass_proxy_adds_loopback_and_the_host_keeping_the_users_entries() -> None:
    env = {"NO_PROXY": "intranet.example, 10.0.0.0/8", "no_proxy": "pacs.example,localhost"}
    value = bypass_proxy("[fd00::5]", env)
    assert value.split(",") == ["pacs.example", "localhost", "intranet.example", "10.0.0.0/8",
                                "127.0.0.1", "::1", "fd00::5"]
    assert env["NO_PROXY"] == env["no_proxy"] == value
    assert bypass_proxy("fd00::5", env) == value  # nothing twice
    fresh: dict[str, str] = {}
    assert bypass_proxy("127.0.0.1", fresh).split(",") == list(LOOPBACK_NAMES)
    assert bypass_proxy("0.0.0.0", {}).split(",") == [*LOOPBACK_NAMES, "0.0.0.0"]


@pytest.mark.parametrize(("env", "read"), [({"NO_PROXY": "*"}, "*"),
                                           ({"no_proxy": "*", "NO_PROXY": "intranet.example"}, "*"),
                                           ({"NO_PROXY": "intranet.example, *"}, "intranet.example, *")])
def test_bypass_proxy_leaves_a_bypass_of_every_host_as_it_is(env: dict[str, str], read: str) -> None:
    """An entry ``*``: every request bypasses the proxy (httpx). ``*,localhost,...`` would not
    for urllib (and requests), which honour ``*`` only as the whole value."""
    before = dict(env)
    assert bypass_proxy("0.0.0.0", env) == read and env == before
    if read == "*":
        assert urllib.request.proxy_bypass_environment("pacs.example", {"no": read})


def test_proxy_variables_names_them_never_their_values() -> None:
    env = {"HTTP_PROXY": "http://u:pw@proxy:3128", "all_proxy": "socks5://p:1", "HTTPS_PROXY": " ",
           "NO_PROXY": "x", "TRAVIS_APT_PROXY": "y"}
    assert proxy_variables(env) == ["HTTP_PROXY", "all_proxy"]


def test_the_app_serves_behind_an_unreachable_proxy(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, a real launch: before the fix it raised httpx.ConnectError (gradio asked its
    own address through the proxy). The environment then keeps the user's proxy variables and
    bypasses loopback and the host only."""
    from app.server import AppSettings, serve

    proxy = _proxied(monkeypatch, NO_PROXY="intranet.example")
    settings = AppSettings(host="127.0.0.1", port=free_port())
    demo = serve(predictor, settings, block=False, quiet=True)
    try:
        import os

        assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == "intranet.example,localhost,127.0.0.1,::1"
        assert os.environ["HTTP_PROXY"] == proxy  # the user's proxy for everything else
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(f"http://127.0.0.1:{settings.port}/config", timeout=30) as answer:
            assert answer.status == 200
    finally:
        demo.close()


def test_a_start_that_still_cannot_reach_itself_names_the_proxy_variables(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A proxy NO_PROXY cannot turn away (simulated: the bypass does nothing): ``python -m app``
    says what failed, which proxy variables are set (not their values: a password) and how to
    start it, exit code 2, instead of a traceback."""
    import app.loopback
    from app.__main__ import main

    proxy = _proxied(monkeypatch)
    monkeypatch.setattr(app.loopback, "bypass_proxy", lambda host, environ=None: "")
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    port = free_port()
    assert main(["--bundle", str(predictor.path), "--port", str(port), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the app could not reach its own address http://127.0.0.1:{port}/"), err
    assert "ConnectError" in err and "ALL_PROXY, HTTPS_PROXY, HTTP_PROXY are set" in err, err
    assert "fix: start the app without the proxy variables (env -u ALL_PROXY -u HTTPS_PROXY -u HTTP_PROXY" in err
    assert "s3cret" not in err and proxy not in err and "Traceback" not in err


class _AnsweringProxy(http.server.BaseHTTPRequestHandler):
    """A proxy that turns every request away with 502, as a corporate proxy does for a host
    it cannot reach."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_error(502, "Bad Gateway")

    do_HEAD = do_GET

    def log_message(self, *args: Any) -> None:  # quiet
        pass


def _main_exit_words(predictor: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                     port: int, *, bypass: bool = False) -> str:
    """``python -m app`` started, with the bypass doing nothing unless ``bypass``; its exit code
    must be 2; its stderr."""
    import app.loopback
    from app.__main__ import main

    if not bypass:
        monkeypatch.setattr(app.loopback, "bypass_proxy", lambda host, environ=None: "")
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    assert main(["--bundle", str(predictor.path), "--port", str(port), "--threads", "1"]) == 2
    return capsys.readouterr().err


def test_a_proxy_answering_an_error_status_is_the_same_clear_exit(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A proxy that answers (502) instead of refusing: gradio raises a bare ``Exception("Couldn't
    start the app because ... failed (code 502)")``, not an httpx error; the same message and
    exit code 2, instead of a traceback."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AnsweringProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in (*PROXY_NAMES, "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        port = free_port()
        err = _main_exit_words(predictor, monkeypatch, capsys, port)
    finally:
        server.shutdown()
        server.server_close()
    assert err.startswith(f"error: the app could not reach its own address http://127.0.0.1:{port}/"), err
    assert "(Exception: Couldn't start the app because" in err and "(code 502)" in err, err
    assert "HTTP_PROXY are set" in err and "Traceback" not in err, err


def test_gradio_finding_its_page_unreachable_is_the_same_clear_exit(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """gradio's second check (``url_ok`` of the page, no answer it accepts) raises a
    ``ValueError`` asking for ``share=True``: the same message, exit code 2."""
    import gradio.networking

    _proxied(monkeypatch)
    monkeypatch.setattr(gradio.networking, "url_ok", lambda url: False)
    port = free_port()
    err = _main_exit_words(predictor, monkeypatch, capsys, port, bypass=True)  # startup-events answers
    assert err.startswith(f"error: the app could not reach its own address http://127.0.0.1:{port}/"), err
    assert "(ValueError: When localhost is not accessible" in err and "Traceback" not in err, err


def test_another_error_of_launch_is_not_taken_for_an_unreachable_address() -> None:
    from app.server import is_own_address_failure

    assert is_own_address_failure(Exception("Couldn't start the app because 'http://x/' failed (code 403)."))
    assert is_own_address_failure(ValueError("When localhost is not accessible, a shareable link must be created."))
    assert not is_own_address_failure(Exception("Couldn't find a free port"))
    assert not is_own_address_failure(RuntimeError("Couldn't start the app because of a bug"))
    assert not is_own_address_failure(ValueError("max_file_size must be positive"))
