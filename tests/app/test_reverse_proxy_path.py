"""``python -m app --root-path /drac``: the app behind a reverse proxy that serves it at
``/drac/`` and strips the prefix (a hospital trial, F2: without it the page's configuration said
``root = http://127.0.0.1:7880`` and the result links ``/gradio_api/file=...`` answered 404 at
the proxy). The option is checked before anything loads, reaches gradio's ``launch`` in its
normal form, and, served behind a prefix-stripping proxy (:class:`PrefixProxy`, which does what
docs/deploying.md's nginx ``location /drac/`` does), the login, the page's configuration and
the file links all go under ``/drac``."""

from __future__ import annotations

import json
import re
import signal
import socket
import socketserver
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.__main__ import parse_args
from app.loopback import free_port
from app.reverse_proxy import root_path
from data_prep.phantom import phantom_image

EXAMPLE = "e.g. /drac for https://HOST/drac/"


@pytest.mark.parametrize("given, normal", [("/", ""), ("/drac", "/drac"), ("/drac/", "/drac"),
                                           ("/eye-clinic/drac_2.v1", "/eye-clinic/drac_2.v1"),
                                           ("/~team/drac/", "/~team/drac")])
def test_a_root_path_is_taken_in_gradios_form(given: str, normal: str) -> None:
    assert root_path(given) == normal
    assert parse_args(["--root-path", given]).root_path == normal


@pytest.mark.parametrize("given, reason", [
    ("drac", "does not start with '/'"), ("", "does not start with '/'"),
    ("https://host/drac", "is a URL: give only its path"),
    ("//", "an empty, '.' or '..' part"), ("/drac//", "an empty, '.' or '..' part"),
    ("/a/../drac", "an empty, '.' or '..' part"), ("/eye clinic", "holds ' '"),
    ("/drac?x=1", "holds '='"), ("/dr%41c", "holds '%'"), ("/dräc", "holds 'ä'")])
def test_a_wrong_root_path_is_refused_before_anything_loads(
        given: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error (exit code 2) naming the value, what is wrong and the form to give."""
    from app.server import AppSettings

    with pytest.raises(ValueError, match=reason):
        root_path(given)
    with pytest.raises(SystemExit) as stop:
        parse_args(["--root-path", given])
    assert stop.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"argument --root-path: {given!r}" in err and reason in err and EXAMPLE in err, err
    if "://" not in given and given:  # serve() from Python code: the same rule (a URL: gradio's
        with pytest.raises(ValueError, match=reason):  # forms, below; "": the normal form of "/")
            AppSettings(root_path=given)


def test_an_empty_root_path_is_the_normal_form_of_slash_no_prefix() -> None:
    """Second read F1: ``root_path("/")`` is ``""``, which AppSettings refused (gradio_root_path
    takes ``""`` for a path without its ``/``), so ``--root-path /``, which the errors above
    recommend for the proxy's root, crashed with a traceback. ``""`` is now taken as no prefix."""
    from app.server import AppSettings

    assert AppSettings(root_path="").root_path == ""
    assert AppSettings(root_path="/").root_path == ""
    assert AppSettings().root_path is None


def test_the_root_path_reaches_gradios_launch_and_the_serving_line(
        predictor: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """In process, gradio's launch replaced: ``--root-path /drac/`` reaches it as ``/drac``
    and the serving line says where the page works; without the option and without
    GRADIO_ROOT_PATH launch gets None; with the variable, its normal form, which the line says."""
    import gradio as gr

    from app.__main__ import main

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: seen.append(kwargs))
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    monkeypatch.delenv("GRADIO_ROOT_PATH", raising=False)
    common = ["--bundle", str(predictor.path), "--port", "7996", "--threads", "1"]
    assert main([*common, "--root-path", "/drac/"]) == 0
    assert seen[-1]["root_path"] == "/drac"
    out = capsys.readouterr().out
    assert "serving on http://127.0.0.1:7996 for a reverse proxy at /drac/ (Ctrl-C stops)" in out, out
    assert main(common) == 0
    assert seen[-1]["root_path"] is None
    assert "serving on http://127.0.0.1:7996 (Ctrl-C stops)" in capsys.readouterr().out
    # review F4: gradio's own variable is checked as --root-path is, and given to launch, and said,
    # in its normal form; --root-path takes its place
    monkeypatch.setenv("GRADIO_ROOT_PATH", "/eye/")
    assert main(common) == 0
    assert seen[-1]["root_path"] == "/eye"
    assert ("serving on http://127.0.0.1:7996 for a reverse proxy at /eye/ (GRADIO_ROOT_PATH) "
            "(Ctrl-C stops)") in capsys.readouterr().out
    monkeypatch.setenv("GRADIO_ROOT_PATH", "https://eye.example.org/drac/")  # gradio takes a URL
    assert main(common) == 0
    assert seen[-1]["root_path"] == "https://eye.example.org/drac"
    assert "for a reverse proxy at https://eye.example.org/drac/ (GRADIO_ROOT_PATH)" in capsys.readouterr().out
    monkeypatch.setenv("GRADIO_ROOT_PATH", "eye clinic")  # wrong, but --root-path takes its place
    assert main([*common, "--root-path", "/drac"]) == 0
    assert seen[-1]["root_path"] == "/drac"
    assert "at /drac/ (Ctrl-C stops)" in capsys.readouterr().out
    # second read F1: / (the proxy's root), as the errors recommend, reaches launch as "" (no
    # prefix; gradio then reads no GRADIO_ROOT_PATH), from the option and from the variable; the
    # serving line names no proxy path
    monkeypatch.setenv("GRADIO_ROOT_PATH", "/eye")
    assert main([*common, "--root-path", "/"]) == 0
    assert seen[-1]["root_path"] == ""
    assert "serving on http://127.0.0.1:7996 (Ctrl-C stops)" in capsys.readouterr().out
    monkeypatch.setenv("GRADIO_ROOT_PATH", "/")
    assert main(common) == 0
    assert seen[-1]["root_path"] == ""
    assert "serving on http://127.0.0.1:7996 (Ctrl-C stops)" in capsys.readouterr().out


@pytest.mark.parametrize("given, normal", [
    ("/", ""), ("/eye/drac/", "/eye/drac"), ("https://eye.example.org", "https://eye.example.org"),
    ("http://eye.example.org:8443/drac/", "http://eye.example.org:8443/drac"),
    ("https://[::1]:8443/drac", "https://[::1]:8443/drac")])
def test_gradios_root_path_forms_are_taken_in_their_normal_form(given: str, normal: str) -> None:
    """A path as --root-path takes it, or a whole http(s) URL as gradio's launch and its
    GRADIO_ROOT_PATH take it (gradio then uses it whole for every address)."""
    from app.reverse_proxy import gradio_root_path
    from app.server import AppSettings

    assert gradio_root_path(given) == normal
    assert AppSettings(root_path=given).root_path == normal


@pytest.mark.parametrize("given, reason", [
    ("drac", "does not start with '/'"), ("/eye clinic/", "holds ' '"),
    ("HTTPS://eye.example.org/drac", "is a URL: give only its path"),  # gradio would take a path
    ("https:///drac", "names no host"), ("https://who@eye.example.org/drac", "holds a user name"),
    ("https://eye.example.org:70000/drac", "Port out of range"),
    ("https://eye.example.org/drac?x=1", "holds a query"), ("https://eye.example.org/drac#top", "a fragment"),
    ("https://eye.example.org/dr%41c", "its path '/dr%41c' holds '%'"),
    ("https://eye.example.org//drac", "its path '//drac' has an empty")])
def test_a_wrong_gradio_root_path_stops_the_start_before_anything_loads(
        given: str, reason: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review F4: GRADIO_ROOT_PATH went to gradio unchecked when --root-path was not given. A
    wrong one now stops ``python -m app`` with exit code 2 before the bundle is looked for
    (``--bundle`` names none here), naming the variable, the value, what is wrong and the fix."""
    from app.__main__ import main
    from app.reverse_proxy import gradio_root_path
    from app.server import AppSettings

    with pytest.raises(ValueError, match=re.escape(reason)):
        gradio_root_path(given)
    with pytest.raises(ValueError, match=re.escape(reason)):
        AppSettings(root_path=given)
    monkeypatch.setenv("GRADIO_ROOT_PATH", given)
    assert main(["--bundle", "/nonexistent/bundle"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: GRADIO_ROOT_PATH (used when --root-path is not given): {given!r}"), err
    assert reason in err and "fix: set it to the path at which the reverse proxy serves the app" in err
    assert "/nonexistent/bundle" not in err  # stopped before the bundle was looked for


class PrefixProxy(socketserver.ThreadingTCPServer):
    """A reverse proxy on 127.0.0.1, as docs/deploying.md's nginx sub-path block: a request for
    ``PREFIX/X`` goes to the app as ``/X`` with the client's ``Host`` and, when
    :attr:`forwarded_proto` is set, ``X-Forwarded-Proto`` (nginx's ``$scheme`` behind TLS);
    anything else gets 404. One request per connection (``Connection: close`` to the app), its
    bytes relayed both ways as they come, so gradio's event streams pass. :attr:`paths` records
    every request line's path as the client sent it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, prefix: str, app_port: int) -> None:
        self.prefix, self.app_port = prefix, app_port
        self.forwarded_proto: str | None = None
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Relay)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.prefix}/"


class _Relay(socketserver.BaseRequestHandler):
    server: PrefixProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                return
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        self.server.paths.append(target)
        prefix = self.server.prefix
        if not (target == prefix or target.startswith(prefix + "/")):
            client.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        hop = ("connection", "keep-alive", "proxy-connection", "x-forwarded-proto")
        headers = [line for line in header_lines if line.split(":", 1)[0].strip().lower() not in hop]
        headers.append("Connection: close")
        if self.server.forwarded_proto:
            headers.append(f"X-Forwarded-Proto: {self.server.forwarded_proto}")
        forwarded = "\r\n".join([f"{method} {target[len(prefix):] or '/'} {version}", *headers])
        with socket.create_connection(("127.0.0.1", self.server.app_port)) as app:
            app.sendall(forwarded.encode("latin-1") + b"\r\n\r\n" + body)

            def upstream() -> None:  # the rest of the request body, as it comes
                try:
                    while chunk := client.recv(65536):
                        app.sendall(chunk)
                except OSError:  # either side closed: the exchange is over
                    pass

            threading.Thread(target=upstream, daemon=True).start()
            try:
                while chunk := app.recv(65536):
                    client.sendall(chunk)
                client.shutdown(socket.SHUT_RDWR)
            except OSError:  # the client went away (a closed event stream): as nginx, let go
                pass


@pytest.fixture(scope="module")
def behind_proxy(predictor: Any) -> Iterator[tuple[PrefixProxy, Any]]:
    """``(proxy, demo)``: the app served on loopback with ``root_path="/drac"`` and a login,
    and a :class:`PrefixProxy` at ``/drac`` in front of it."""
    from app.server import AppSettings, serve

    settings = AppSettings(port=free_port(), root_path="/drac/")
    demo = serve(predictor, settings, block=False, quiet=True, auth=[("alice", "right horse")])
    proxy = PrefixProxy("/drac", settings.port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy, demo
    finally:
        proxy.shutdown()
        proxy.server_close()
        demo.close()


def test_through_a_prefix_stripping_proxy_every_address_is_under_the_prefix(
        behind_proxy: tuple[PrefixProxy, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The login posts to /drac/login (the route docs/deploying.md's nginx limits per client);
    the page's configuration gives ``root`` under /drac, https when the proxy says
    ``X-Forwarded-Proto: https``; a graded image's picture links are /drac/gradio_api/file=...
    and answer through the proxy (the trial's 404)."""
    import gradio_client.client as gc
    from gradio_client import handle_file

    proxy, _ = behind_proxy
    cookies = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    login = urllib.parse.urlencode({"username": "alice", "password": "right horse"}).encode()
    with cookies.open(proxy.url + "login", data=login, timeout=30) as answer:
        assert answer.status == 200
    with cookies.open(proxy.url + "config", timeout=30) as answer:
        assert json.load(answer)["root"] == proxy.url.rstrip("/")
    proxy.forwarded_proto = "https"
    with cookies.open(proxy.url + "config", timeout=30) as answer:
        assert json.load(answer)["root"] == proxy.url.rstrip("/").replace("http://", "https://")
    proxy.forwarded_proto = None

    links: list[str] = []  # the links the app's results carry, as a page would follow them
    download = gc.Endpoint._download_file
    monkeypatch.setattr(gc.Endpoint, "_download_file",
                        lambda self, x: links.append(x.get("url", "")) or download(self, x))
    scan = tmp_path / "scan.png"
    Image.fromarray(phantom_image(0, 1, 1, size=256)).save(scan)  # the page's smallest side
    client = gc.Client(proxy.url, auth=("alice", "right horse"), verbose=False,
                       download_files=str(tmp_path / "downloads"))
    *_, details = client.predict(handle_file(str(scan)), -1, api_name="/grade")
    assert "grade" in details, details
    assert links and all(link.startswith(proxy.url + "gradio_api/file=") for link in links), links
    for link in links:
        with cookies.open(link, timeout=30) as answer:
            assert answer.status == 200 and answer.read()
    assert "/drac/login" in proxy.paths
    assert all(path == "/drac" or path.startswith("/drac/") for path in proxy.paths), proxy.paths
