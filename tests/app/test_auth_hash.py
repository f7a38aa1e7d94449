"""Hashed passwords in the login file (a hospital security officer's trial: ``--auth-file`` kept
plaintext ``user:password`` lines): ``user:scrypt$n$r$p$salt$hash`` lines, checked with the
line's own salt and parameters; malformed ones named by file and line; plaintext lines still
accepted with a warning that names them and the command that converts each; that command,
``python -m app.auth hash USER``, which never echoes the password."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path

import pytest

from app.auth import (
    MAX_SCRYPT_WORK,
    MAX_USER_CHARS,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    AuthFileError,
    common_parameters,
    hash_command,
    hash_password,
    main,
    parameter_warning,
    parse_hash,
    plaintext_warning,
    read_auth_file,
    verify_password,
)

PASSWORD = "correct horse:battery"
FAST = {"n": 2**10, "r": 1, "p": 1}  # the cheapest parameters a line may have: tests stay quick


def test_a_hash_round_trips_and_a_wrong_password_does_not_match() -> None:
    secret = hash_password(PASSWORD, **FAST)
    assert re.fullmatch(r"scrypt\$1024\$1\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}", secret), secret
    assert PASSWORD not in secret
    assert verify_password(PASSWORD, secret)
    assert not verify_password("correct horse:batterY", secret)
    assert not verify_password(PASSWORD + " ", secret) and not verify_password("", secret)
    again = hash_password(PASSWORD, **FAST)
    assert again != secret and verify_password(PASSWORD, again)  # a new random salt per line


def test_new_lines_have_the_documented_parameters() -> None:
    secret = hash_password("pw")  # the real cost: one check, a fraction of a second
    assert secret.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")
    assert (SCRYPT_N, SCRYPT_R, SCRYPT_P) == (2**14, 8, 5)  # app/auth.py's docstring, docs/deploying.md
    assert verify_password("pw", secret) and not verify_password("pW", secret)


def test_a_plaintext_secret_still_matches_exactly() -> None:
    assert verify_password("pw2", "pw2") and not verify_password("pw", "pw2")


def test_a_password_that_is_no_valid_utf8_is_refused_not_an_error() -> None:
    assert not verify_password("\udcff", hash_password(PASSWORD, **FAST)) and not verify_password("\udcff", "pw")


def test_hashed_and_plaintext_lines_are_read_and_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "logins"
    path.write_text(f"# logins\nalice:{hash_password(PASSWORD, **FAST)}\nbob:pw2\n")
    alice, bob = read_auth_file(path)
    assert (alice.user, alice.line, alice.hashed) == ("alice", 2, True)
    assert (bob.user, bob.line, bob.hashed) == ("bob", 3, False)
    assert verify_password(PASSWORD, alice.secret) and not verify_password("pw2", alice.secret)


@pytest.mark.parametrize(("secret", "what"), [
    ("scrypt$1024$1$1$c2FsdHNhbHRzYWx0c2FsdA==", "six $-separated fields"),
    ("scrypt$1000$1$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "n must be a power of two"),
    ("scrypt$2097152$1$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "n must be"),
    ("scrypt$1048576$8$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "MiB per check"),
    ("scrypt$1024$0$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "r must be"),
    ("scrypt$1024$1$x$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "p must be"),
    ("scrypt$1024$1$1$not*base64$c2FsdHNhbHRzYWx0c2FsdA==", "salt field is not base64"),
    ("scrypt$1024$1$1$c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "salt field holds 4 bytes"),
    ("scrypt$1024$1$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdA==", "hash field holds 4 bytes"),
    # review F2: OpenSSL refuses n >= 2^(16 r) when the password is checked (a 500, no record line)
    ("scrypt$65536$1$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "n must be below 2^(16 r)"),
    # review F5: 2^15 * 8 * 33 = 8,650,752 block mixes per check, over 2^23
    ("scrypt$32768$8$33$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "more work per check"),
])
def test_a_malformed_hash_line_is_named_by_file_and_line(tmp_path: Path, secret: str, what: str) -> None:
    path = tmp_path / "logins"
    path.write_text(f"# logins\nbob:pw2\nalice:{secret}\n")
    with pytest.raises(AuthFileError) as info:
        read_auth_file(path)
    message = str(info.value)
    assert f"--auth-file {path}, line 3: the scrypt hash of user 'alice' is malformed" in message
    assert what in message, message
    assert f"fix: replace the line with the one `{hash_command('alice')}` prints" in message
    assert "pw2" not in message  # no line's text


def test_every_n_r_pair_parse_hash_accepts_is_one_openssl_runs() -> None:
    """Review F2: for r in {1, 2} and n = 2^10..2^20, parse_hash accepts a pair exactly when
    n < 2^(16 r) (and the memory and work caps allow it); a pair refused for that rule is one
    hashlib.scrypt refuses (it checks before hashing: cheap), and every accepted pair of up to
    8 MiB is hashed and checked for real (the larger ones, r=2 and n >= 2^16, follow the same
    rule, asserted; hashing them would take 16..256 MiB each)."""
    from app.auth import _scrypt

    salt, digest = "c2FsdHNhbHRzYWx0c2FsdA==", "c2FsdHNhbHRzYWx0c2FsdA=="
    accepted = []
    for r in (1, 2):
        for n in (2**k for k in range(10, 21)):
            try:
                parse_hash(f"scrypt${n}${r}$1${salt}${digest}")
            except ValueError as exc:
                assert n >= 2 ** (16 * r) and "below 2^(16 r)" in str(exc), (n, r, exc)
                with pytest.raises(ValueError):  # OpenSSL's own refusal
                    _scrypt("pw", n, r, 1, b"s" * 16)
                continue
            assert n < 2 ** (16 * r) and 128 * r * n <= 2**28 and n * r <= MAX_SCRYPT_WORK
            accepted.append((n, r))
            if 128 * r * n <= 8 * 2**20:
                secret = hash_password("pw", n=n, r=r, p=1)
                assert verify_password("pw", secret) and not verify_password("pW", secret)
    assert (2**15, 1) in accepted and (2**16, 1) not in accepted and (2**20, 2) in accepted
    assert len(accepted) == 6 + 11  # r=1: n = 2^10..2^15; r=2: all of 2^10..2^20


def test_the_work_cap_allows_the_new_lines_and_refuses_more() -> None:
    """Review F5: n*r*p at most MAX_SCRYPT_WORK (2^23), 12.8 times a new line's."""
    assert MAX_SCRYPT_WORK == 2**23 and MAX_SCRYPT_WORK / (SCRYPT_N * SCRYPT_R * SCRYPT_P) == 12.8
    salt = "c2FsdHNhbHRzYWx0c2FsdA=="
    assert parse_hash(f"scrypt${2**14}$8$64${salt}${salt}")[:3] == (2**14, 8, 64)  # exactly 2^23
    with pytest.raises(ValueError, match=r"n\*r\*p=10485760 .* more work per check than the 8388608 \(2\^23\)"):
        parse_hash(f"scrypt${2**18}$8$5${salt}${salt}")  # 256 MiB: within the memory cap, not the work cap


def test_the_plaintext_warning_names_the_lines_users_and_commands_never_the_password(tmp_path: Path) -> None:
    path = tmp_path / "logins"
    path.write_text(f"alice:{PASSWORD}\ncarol:{hash_password('pw3', **FAST)}\n\nbob:pw2\n")
    said = plaintext_warning(path, read_auth_file(path))
    assert said is not None
    assert said.startswith(f"--auth-file {path}: line(s) 1 (alice), 4 (bob) hold a plaintext password")
    assert "accepted for now" in said
    assert f"`{hash_command('alice')}`; `{hash_command('bob')}`" in said
    assert hash_command("alice").endswith("-m app.auth hash alice") and hash_command("o'k").endswith("""'o'"'"'k'""")
    assert "carol" not in said and PASSWORD not in said and "pw2" not in said
    path.write_text(f"carol:{hash_password('pw3', **FAST)}\n")
    assert plaintext_warning(path, read_auth_file(path)) is None


def test_lines_with_other_parameters_than_most_are_named_at_start(tmp_path: Path) -> None:
    """Review F1: unknown names are hashed with the parameters of most lines; a line with
    others takes another time to check, which tells that its name exists: the warning names it."""
    path = tmp_path / "logins"
    odd = {"n": 2**11, "r": 1, "p": 1}
    path.write_text(f"alice:{hash_password('a', **FAST)}\nbob:pw\ncarol:{hash_password('c', **odd)}\n"
                    f"dave:{hash_password('d', **FAST)}\n")
    logins = read_auth_file(path)
    assert common_parameters(logins) == (2**10, 1, 1)
    said = parameter_warning(path, logins)
    assert said is not None and said.startswith(f"--auth-file {path}: line(s) 3 (carol) have other scrypt parameters")
    assert "(n=1024, r=1, p=1, with which unknown names are hashed too)" in said
    assert f"`{hash_command('carol')}`" in said and "alice" not in said and "bob" not in said
    assert common_parameters(logins[1:3]) == (2**11, 1, 1)  # one hashed line: its own
    assert common_parameters(logins[1:2]) == (SCRYPT_N, SCRYPT_R, SCRYPT_P)  # plaintext only: the new lines'
    path.write_text(f"alice:{hash_password('a', **FAST)}\nbob:pw\n")
    assert parameter_warning(path, read_auth_file(path)) is None


def test_a_user_name_longer_than_the_limit_is_refused_by_the_file_and_the_command(tmp_path: Path) -> None:
    """Review F3: no line may have a name over MAX_USER_CHARS characters (so a longer typed
    name is refused unhashed, telling nothing)."""
    assert MAX_USER_CHARS == 256
    path = tmp_path / "logins"
    path.write_text(f"{'a' * MAX_USER_CHARS}:pw\n")
    assert read_auth_file(path)[0].user == "a" * MAX_USER_CHARS
    path.write_text(f"bob:pw\n{'a' * (MAX_USER_CHARS + 1)}:pw\n")
    with pytest.raises(AuthFileError, match=rf"line 2: the user name has 257 characters; at most {MAX_USER_CHARS}"):
        read_auth_file(path)
    out, err = io.StringIO(), io.StringIO()
    assert main(["hash", "a" * (MAX_USER_CHARS + 1)], stdin=io.StringIO("pw\n"), stdout=out, stderr=err) == 2
    assert out.getvalue() == "" and f"at most {MAX_USER_CHARS} characters" in err.getvalue()


def test_main_warns_of_plaintext_lines_and_exits_2_on_a_malformed_hash_before_any_bundle(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main as app_main

    path = tmp_path / "logins"
    path.write_text("alice:scrypt$1024$1$1$c2FsdA==$c2FsdA==\n")
    assert app_main(["--auth-file", str(path), "--bundle", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 1: the scrypt hash of user 'alice' is malformed" in err
    assert "bundle" not in err  # refused before a bundle is looked for


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_hash_command_reads_a_piped_password_and_prints_only_the_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["hash", "alice"], stdin=io.StringIO(f"{PASSWORD}\r\nnext line\n"), stdout=out, stderr=err) == 0
    line = out.getvalue()
    assert line.count("\n") == 1 and line.startswith("alice:scrypt$")
    user, secret = line.strip().split(":", 1)
    assert verify_password(PASSWORD, secret)  # the line ending is not part of the password
    assert PASSWORD not in line + err.getvalue() and "in place of alice's old line" in err.getvalue()


def test_the_hash_command_asks_twice_without_echo_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    answers = iter([PASSWORD, PASSWORD, PASSWORD, "typo"])
    prompts: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream=None: prompts.append(prompt) or next(answers))
    out, err = io.StringIO(), io.StringIO()
    assert main(["hash", "alice"], stdin=_Terminal(), stdout=out, stderr=err) == 0
    assert prompts == ["Password for alice: ", "The same again: "]
    assert verify_password(PASSWORD, out.getvalue().strip().split(":", 1)[1])
    out = io.StringIO()
    assert main(["hash", "alice"], stdin=_Terminal(), stdout=out, stderr=err) == 2  # the two differ
    assert out.getvalue() == "" and "differ" in err.getvalue() and PASSWORD not in err.getvalue()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_at_the_password_prompt_says_one_line_and_exits_as_a_signal(
        signum: int, code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # a reader of the cli_fx merge (F4): Ctrl-C at the prompt gave getpass's traceback (exit -2)
    # and SIGTERM killed the process (-15)
    import getpass

    from drac_ssl import starting

    monkeypatch.setattr(starting, "_TERMINATED", [])
    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream=None: signal.raise_signal(signum))
    before = signal.signal(signal.SIGTERM, _unhandled)  # a SIGTERM not taken fails, never kills pytest
    try:
        out, err = io.StringIO(), io.StringIO()
        try:
            got = main(["hash", "alice"], stdin=_Terminal(), stdout=out, stderr=err)
        except (KeyboardInterrupt, SigtermUnhandled) as exc:
            pytest.fail(f"the stop escaped the command: {exc!r}")
        assert got == code
        assert out.getvalue() == "" and "[app.auth] interrupted" in err.getvalue()
        assert signal.getsignal(signal.SIGTERM) is _unhandled  # the caller's handler given back
    finally:
        signal.signal(signal.SIGTERM, before)


class SigtermUnhandled(Exception):
    """The test's own SIGTERM handler's: the command did not take SIGTERM as Ctrl-C."""


def _unhandled(signum: int, frame: object) -> None:
    raise SigtermUnhandled


@pytest.mark.parametrize(("user", "stdin"), [
    ("alice", ""), ("alice", "\n"),  # an empty password
    ("a:b", "pw\n"), ("a b", "pw\n"), ("#alice", "pw\n"), (" ", "pw\n"),  # not a user name of the file
])
def test_the_hash_command_refuses_what_a_login_file_cannot_hold(user: str, stdin: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["hash", user], stdin=io.StringIO(stdin), stdout=out, stderr=err) == 2
    assert out.getvalue() == "" and err.getvalue().startswith("error: ")


def test_the_apps_help_names_the_hash_command_next_to_auth_file(capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    start = text.index("--auth-file FILE require a login")  # the option, not the usage line
    auth_help = text[start:text.index("--audit-log FILE", start)]
    assert f"'{hash_command()}'" in auth_help and "plaintext" in auth_help
    assert hash_command().endswith("python -m app.auth hash USER")


def test_python_m_app_auth_is_a_light_command(tmp_path: Path) -> None:
    """The real command, as an operator pipes a password to it: one line out, and neither torch
    nor gradio imported (a one-line answer must not take the app's start-up time)."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "app.auth", "hash", "alice"],
                          input=f"{PASSWORD}\n", capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert verify_password(PASSWORD, proc.stdout.strip().removeprefix("alice:"))
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "app" in imported and not imported & {"torch", "gradio", "cv2", "numpy"}, sorted(imported)
