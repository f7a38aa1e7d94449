"""The path under which a reverse proxy serves the app: ``python -m app --root-path /drac``.

A proxy that serves the app at ``https://host/drac/`` and strips ``/drac`` before it passes a
request on (nginx's ``location /drac/ { proxy_pass http://127.0.0.1:7860/; }``) leaves gradio
unable to tell that prefix from the request: the page's configuration, its file links
(``/gradio_api/file=...``, the pictures and batch CSVs) and the login form's address would
point at the host's root, where the proxy has nothing (404). gradio's ``launch(root_path=...)``
puts the prefix back into every address it makes (:func:`app.server.serve` passes
:attr:`app.server.AppSettings.root_path`); the scheme and host come from the proxy's ``Host`` /
``X-Forwarded-Host`` and ``X-Forwarded-Proto`` headers (docs/deploying.md, "In front of the
app: a reverse proxy").

gradio's own ``GRADIO_ROOT_PATH`` variable, used when ``--root-path`` is not given, is checked
by :func:`gradio_root_path`: the same path, or a whole ``http://`` / ``https://`` URL, which
gradio also takes (it then puts that URL, scheme and host included, in every address it makes).

Stdlib only: ``python -m app`` checks the option and the variable before torch and gradio load.
"""

from __future__ import annotations

import string
import urllib.parse

__all__ = ["PATH_CHARACTERS", "gradio_root_path", "root_path"]

PATH_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~")
"""The characters a part of the path may hold: RFC 3986's unreserved characters, which need no
percent-encoding in a URL and no quoting in an nginx ``location``."""


def root_path(text: str) -> str:
    """``text``, the path part of the address at which the proxy serves the app, in the form
    gradio's ``launch(root_path=...)`` takes: ``"/drac"`` for ``/drac`` or ``/drac/`` (one
    trailing slash is dropped), ``"/eye/drac"`` for a deeper one, ``""`` for ``/`` (the app at
    the proxy's root: no prefix).

    Raises ValueError, its message naming ``text``, what is wrong and a right form, for a path
    that does not start with ``/`` (``drac``; a whole URL, ``https://host/drac``: give its path,
    the proxy passes the scheme and host), an empty, ``.`` or ``..`` part (``//``, ``/a/../b``),
    or a character other than letters, digits and ``- . _ ~`` (a space, ``%``, ``?``, ``#``, a
    non-ASCII letter), which a URL would have to percent-encode."""
    example = "e.g. /drac for https://HOST/drac/"
    if "://" in text:
        raise ValueError(f"{text!r} is a URL: give only its path, {example} (the proxy passes the "
                         f"scheme and host to the app in its Host and X-Forwarded-Proto headers)")
    if not text.startswith("/"):
        raise ValueError(f"{text!r} does not start with '/': give the path at which the reverse "
                         f"proxy serves the app, {example}, or / for the proxy's root")
    trimmed = text[:-1] if text.endswith("/") else text
    for part in trimmed.split("/")[1:]:
        if part in ("", ".", ".."):
            raise ValueError(f"{text!r} has an empty, '.' or '..' part: give each part between the "
                             f"slashes as a name, {example}")
        if bad := sorted(set(part) - PATH_CHARACTERS):
            raise ValueError(f"{text!r} holds {', '.join(map(repr, bad))}: give the path in "
                             f"letters, digits and - . _ ~ between the slashes, {example}")
    return trimmed


def gradio_root_path(text: str) -> str:
    """``text`` in either form gradio's ``launch(root_path=...)`` and its ``GRADIO_ROOT_PATH``
    take, checked and in its normal form: a path as :func:`root_path` takes it (``"/drac/"``
    -> ``"/drac"``), or a URL that starts with ``http://`` or ``https://`` (gradio's own test,
    ``gradio_client.utils.is_http_url_like``), which gradio then uses whole for the page's
    addresses, whatever the proxy's ``Host`` and ``X-Forwarded-Proto`` say:
    ``"https://eye.example.org/drac/"`` -> ``"https://eye.example.org/drac"`` (its path under
    :func:`root_path`'s rules, one trailing slash dropped).

    Raises ValueError, its message naming ``text`` and what is wrong, for a path
    :func:`root_path` refuses (``drac``, ``/eye clinic``; ``HTTPS://host`` too, which gradio
    would take for a path) and for a URL without a host, with a query (``?``), a fragment
    (``#``) or a user name, or whose path :func:`root_path` refuses."""
    if not text.startswith(("http://", "https://")):
        return root_path(text)
    form = "give http(s)://HOST/PATH, e.g. https://eye.example.org/drac, or only the path, /drac"
    parts = urllib.parse.urlsplit(text)
    if "@" in parts.netloc:
        raise ValueError(f"{text!r} holds a user name ('@'): {form}")
    if not parts.hostname:
        raise ValueError(f"{text!r} names no host: {form}")
    try:
        _ = parts.port  # urllib checks the port when it is read
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}: {form}") from None
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"{text!r} holds a query ('?') or a fragment ('#'): {form}")
    try:
        path = root_path(parts.path or "/")
    except ValueError as exc:
        raise ValueError(f"{text!r}: its path {exc}") from None
    return f"{parts.scheme}://{parts.netloc}{path}"
