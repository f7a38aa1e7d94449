"""Start-up helpers for tools that run the app on loopback (tests, load bench, screenshot).

Light on purpose: no gradio import, so a caller can start the app in a subprocess and wait
for it without paying for the UI library twice.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import MutableMapping

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""The names of this machine's loopback interface that :func:`bypass_proxy` keeps off any proxy."""

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
"""The proxy variables (either case) that httpx and urllib read (``urllib.request.getproxies``)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_variables(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The proxy variables set (non-empty) in ``environ`` (default ``os.environ``), by their
    names as written (``HTTP_PROXY``, ``https_proxy``), sorted; never their values, which may
    hold a password (``http://user:secret@proxy:3128``)."""
    env = os.environ if environ is None else environ
    return sorted(name for name, value in env.items() if name.lower() in PROXY_VARIABLES and value.strip())


def bypass_proxy(host: str, environ: MutableMapping[str, str] | None = None) -> str:
    """Add :data:`LOOPBACK_NAMES` and ``host`` (``--host``, brackets of an IPv6 literal
    dropped) to ``NO_PROXY`` and ``no_proxy`` of ``environ`` (default ``os.environ``), keeping
    every entry already in either (the two are merged, the user's first, and both set to the
    result: urllib and httpx read the lower-case one when both are set); the value set.

    Why: gradio's ``launch`` checks its own address with ``httpx.get``, which goes through
    ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` unless ``NO_PROXY`` names the host; on a
    workstation with a proxy and no ``NO_PROXY`` the app died at start with a bare
    ``httpx.ConnectError`` (a packaging review, F1). Only loopback and the app's own host are
    added: every other request keeps the user's proxy.

    An entry ``*`` (no request goes through a proxy) leaves both variables as they are, and the
    value returned is the one urllib and httpx read (``no_proxy`` when set): urllib, and requests
    through it, bypass every proxy only when the whole value is ``*``, so ``*,localhost,...``
    would have sent every request of the app's process to the proxy."""
    env = os.environ if environ is None else environ
    entries: list[str] = []
    for name in ("no_proxy", "NO_PROXY"):
        for part in env.get(name, "").split(","):
            if part.strip() and part.strip() not in entries:
                entries.append(part.strip())
    if "*" in entries:
        return env.get("no_proxy") or env.get("NO_PROXY", "")
    own = host.strip().strip("[]")
    for name in (*LOOPBACK_NAMES, *([own] if own else [])):
        if name not in entries:
            entries.append(name)
    value = ",".join(entries)
    env["NO_PROXY"] = env["no_proxy"] = value
    return value


def wait_until_serving(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` (the app) has exited. The
    poll goes to ``url`` directly, never through a proxy of the environment (``HTTP_PROXY``
    would take a loopback address to the proxy)."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before answering")
        try:
            with direct.open(url, timeout=2) as r:  # noqa: S310 (loopback only)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
