"""An outside tester (paths80, F4): under ``LC_ALL=C PYTHONUTF8=0 PYTHONCOERCECLOCALE=0`` Python
reads file names as ASCII, so a valid UTF-8 name (``é04.png``) is listed with lone surrogates and
was called "not valid UTF-8", with convmv advice that renames nothing. It is the locale's, said
with the fix (PYTHONUTF8=1 or a UTF-8 locale)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from data_prep.layout import locale_only_name, undecodable_problems

UTF8_AS_ASCII = "é04.png".encode().decode("ascii", "surrogateescape")  # as LC_ALL=C lists it


def test_a_utf8_name_read_under_an_ascii_locale_is_the_locales_not_the_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: "ascii")
    assert locale_only_name(UTF8_AS_ASCII) == "é04.png"
    assert locale_only_name("M\udcfcller_00.png") is None  # Latin-1 bytes: not UTF-8 either
    (problem,) = undecodable_problems([tmp_path / UTF8_AS_ASCII])
    assert ("the file name b'\\xc3\\xa904.png' (its bytes) is valid UTF-8, 'é04.png', but this Python "
            "reads file names as ascii (PYTHONUTF8=0 or PYTHONCOERCECLOCALE=0 under an ASCII locale)"
            ) in problem.line, problem.line  # reviewer F7: LC_ALL=C alone reads UTF-8 on 3.11
    assert "LC_ALL=C or unset" not in problem.line, problem.line
    assert "PYTHONUTF8=1" in problem.line and "LC_ALL=C.UTF-8" in problem.line, problem.line
    assert "convmv" not in problem.line and "not valid UTF-8" not in problem.line, problem.line


def test_under_a_utf8_locale_a_name_not_utf8_keeps_the_convmv_advice(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: "utf-8")
    assert locale_only_name(UTF8_AS_ASCII) is None
    (problem,) = undecodable_problems([tmp_path / "M\udcfcller_00.png"])
    assert "not valid UTF-8" in problem.line and "convmv" in problem.line, problem.line
