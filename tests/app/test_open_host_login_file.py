"""Security review F1: served beyond this machine, a login file others may read or holding a
plaintext password is refused (on loopback it is warned, as before); ``python -m app.auth
hash`` refuses a password under 12 characters. No server or bundle is started."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from app.auth import (
    MIN_PASSWORD_CHARS,
    hash_password,
    main,
    open_host_auth_file_refusal,
    read_auth_file,
)

FAST = {"n": 2**10, "r": 8, "p": 1}  # a cheap hash: what is tested is the file, not scrypt


def _logins(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "logins"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_open_host_refuses_a_login_file_others_may_read_or_with_a_plaintext_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main as app_main

    hashed = f"alice:{hash_password('a long passphrase', **FAST)}\n"
    path = _logins(tmp_path, hashed + "bob:pw2\n", 0o644)
    said = open_host_auth_file_refusal(path, read_auth_file(path), "0.0.0.0")
    assert said is not None and said.startswith(f"--auth-file {path}: other users of this machine "
                                                f"may read it (mode 644) and line(s) 2 (bob) hold a "
                                                f"plaintext password."), said
    assert "Not started" in said and f"chmod 600 {path}" in said and "app.auth hash bob" in said
    assert "pw2" not in said
    # before any bundle is looked for: exit code 2, the error on stderr
    assert app_main(["--host", "0.0.0.0", "--auth-file", str(path), "--bundle", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --auth-file {path}: other users") and "pw2" not in err, err
    path.chmod(0o600)
    assert "may read it" not in (open_host_auth_file_refusal(path, read_auth_file(path), "::") or "")
    path.write_text(hashed, encoding="utf-8")
    assert open_host_auth_file_refusal(path, read_auth_file(path), "0.0.0.0") is None


@pytest.mark.parametrize("password", ["Q", "Qz7!kp Wv", "Q" * (MIN_PASSWORD_CHARS - 1)])
def test_the_hash_command_refuses_a_password_under_12_characters(password: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["hash", "alice"], stdin=io.StringIO(f"{password}\n"), stdout=out, stderr=err) == 2
    said = err.getvalue()
    assert out.getvalue() == "" and said.startswith(f"error: the password has {len(password)} character{'s' * (len(password) != 1)}, "
                                                    f"fewer than the 12 needed"), said
    assert "fix:" in said and password not in said
    assert main(["hash", "alice"], stdin=io.StringIO("x" * MIN_PASSWORD_CHARS + "\n"), stdout=out, stderr=err) == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("root", ["/drac", "/"])
@pytest.mark.parametrize("given_as", ["--root-path", "GRADIO_ROOT_PATH"])
def test_behind_a_reverse_proxy_a_weak_login_file_is_refused_on_loopback_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        root: str, given_as: str) -> None:
    """Review F3: docs/deploying.md's unit listens on 127.0.0.1 behind nginx with --root-path
    /drac: served beyond this machine, so a group-readable or plaintext login file is refused
    there too (it was only warned); without a proxy, loopback still only warns. Review 2 F2:
    ``--root-path /`` (or GRADIO_ROOT_PATH=/), the app at the proxy's root, is ``""`` in
    gradio's form, which was taken for no proxy: it is refused as behind any other path, and
    the message says "at /"."""
    from app.__main__ import main as app_main

    path = _logins(tmp_path, "bob:pw2\n", 0o640)
    monkeypatch.delenv("GRADIO_ROOT_PATH", raising=False)
    if given_as == "GRADIO_ROOT_PATH":
        monkeypatch.setenv("GRADIO_ROOT_PATH", root)
        given: list[str] = []
    else:
        given = ["--root-path", root]
    assert app_main(["--host", "127.0.0.1", *given, "--auth-file", str(path),
                     "--bundle", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --auth-file {path}: other users of this machine may read it (mode 640) "
                          f"and line(s) 1 (bob) hold a plaintext password. Behind a reverse proxy at "
                          f"{root} (--root-path or GRADIO_ROOT_PATH)"), err
    assert "pw2" not in err and f"chmod 600 {path}" in err and "Not started" in err
    monkeypatch.delenv("GRADIO_ROOT_PATH", raising=False)  # loopback alone: warned, not refused here
    app_main(["--host", "127.0.0.1", "--auth-file", str(path), "--bundle", str(tmp_path / "none")])
    assert "Not started" not in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_open_host_with_a_root_path_is_said_served_on_that_host(tmp_path: Path) -> None:
    """Mutation audit M62: ``--host 0.0.0.0`` with a root path was said only "behind a reverse
    proxy" (the loopback test dropped); it is served on 0.0.0.0 itself, the proxy or not."""
    path = _logins(tmp_path, "bob:pw2\n", 0o640)
    said = open_host_auth_file_refusal(path, read_auth_file(path), "0.0.0.0", root_path="/drac")
    assert said is not None and "With --host 0.0.0.0 the app is served to other machines" in said, said
    assert "Behind a reverse proxy" not in said, said
