"""Tests written to kill mutants that survived a mutation audit of app/: each asserts a rule of
the login file, the upload sweeps, the working-folder cleanup or the upload decoder that the rest
of the suite did not pin."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import inputs
from app.auth import (
    AuthFileError,
    hash_password,
    parse_hash,
    read_auth_file,
    readable_by_others,
    verify_password,
)
from app.retention import KEPT_S, UploadClaims, sweep_old_entries, sweep_unclaimed_uploads
from app.workdir import PREFIX, STARTING_GRACE_S, remove_stale_workdirs
from data_prep.problems import Problem

FAST = {"n": 2**10, "r": 1, "p": 1}  # the cheapest parameters a line may have


def test_a_plaintext_password_is_compared_whole_not_by_its_start() -> None:
    assert not verify_password("secretX", "secretY")
    assert not verify_password("pw3", "pw2")
    assert verify_password("secretX", "secretX")


def test_a_hashed_password_is_checked_on_every_character() -> None:
    long_pw = "correct horse battery staple"
    assert verify_password(long_pw, hash_password(long_pw, **FAST))
    assert not verify_password(long_pw[:8] + "zz", hash_password(long_pw[:8], **FAST))


def test_a_hash_with_a_seventh_field_is_malformed_and_its_line_refused(tmp_path: Path) -> None:
    extra = hash_password("pw", **FAST) + "$x"
    with pytest.raises(ValueError, match=r"six \$-separated fields.*this one has 7"):
        parse_hash(extra)
    path = tmp_path / "logins"
    path.write_text(f"alice:{extra}\n")
    with pytest.raises(AuthFileError, match=r"line 1: the scrypt hash of user 'alice' is malformed: "
                                            r"a scrypt hash has six"):
        read_auth_file(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_group_readable_login_file_is_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "logins"
    path.write_text("alice:pw\n")
    path.chmod(0o640)
    assert readable_by_others(path)
    path.chmod(0o600)
    assert not readable_by_others(path)


def test_an_upload_claimed_between_listing_and_deletion_survives_the_sweep(tmp_path: Path) -> None:
    """The sweep lists an old unclaimed upload; a batch claims it just before the sweep takes
    claims.lock to delete it: the re-check under the lock keeps it."""
    upload = tmp_path / "a.png"
    upload.write_bytes(b"x")
    claims = UploadClaims()
    real = claims.lock

    class ClaimingLock:
        def __enter__(self) -> None:
            claims.lock = real
            claims.claim(str(upload))  # a handler claims it now (takes the real lock itself)
            claims.lock = self
            real.acquire()

        def __exit__(self, *exc: object) -> None:
            real.release()

    claims.lock = ClaimingLock()  # type: ignore[assignment]
    removed = sweep_unclaimed_uploads({str(upload)}, claims, tmp_path, older_than=10, now=time.time() + 3600)
    assert removed == [] and upload.exists()


def test_a_file_just_moved_in_with_an_old_mtime_is_kept(tmp_path: Path) -> None:
    """A file's age is from its last write or move (ctime), not its mtime alone: a picture
    moved into the folder keeps its old mtime but was put there now."""
    folder = tmp_path / "kept"
    folder.mkdir()
    picture = folder / "p.png"
    picture.write_bytes(b"x")
    old = time.time() - 10 * KEPT_S
    os.utime(picture, (old, old))  # changes ctime to now, as a move does
    assert sweep_old_entries(folder) == []
    assert picture.exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_another_accounts_stale_folder_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / f"{PREFIX}{_dead_pid()}_abc123"
    stale.mkdir()
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # the folder is now another account's
    assert remove_stale_workdirs(tmp_path) == []
    assert stale.is_dir()


def test_a_live_servers_folder_without_a_lock_file_is_kept_after_the_grace(tmp_path: Path) -> None:
    live = os.getppid()  # running, and not this process
    folder = tmp_path / f"{PREFIX}{live}_abc123"
    folder.mkdir()
    old = time.time() - 10 * STARTING_GRACE_S
    os.utime(folder, (old, old))
    assert remove_stale_workdirs(tmp_path) == []
    assert folder.is_dir()


def test_a_partly_decoded_file_with_an_error_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decoder gave pixels but also an error-level problem (a picture cut short, filled
    in): the upload is refused, with the problem's words, not graded."""
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64), 90, np.uint8)).save(buf, format="PNG")
    real = inputs.inspect_image

    def partly(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        decoded = real(*args, **kwargs)
        assert decoded.gray is not None
        cut = Problem("a.png", "truncated PNG (the rest of the picture is missing)", "re-copy it")
        return dataclasses.replace(decoded, problems=[*decoded.problems, cut])

    monkeypatch.setattr(inputs, "inspect_image", partly)
    with pytest.raises(inputs.InputRejected, match=r"`a\.png` cannot be read: truncated PNG"):
        inputs.load_bytes(buf.getvalue(), "a.png")
