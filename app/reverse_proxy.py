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

Stdlib only: ``python -m app`` checks the option before torch and gradio load.
"""

from __future__ import annotations

import string

__all__ = ["PATH_CHARACTERS", "root_path"]

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
