"""Control and formatting characters in image file names (a hospital security review, F4): a
file named ``$'\\e]0;PWNED\\aa.png'`` retitled the terminal the export printed it to, and
``$'\\e[2Jb.png'`` cleared it; the bytes reached the CSV. Such a name is now no case (NOT
GRADED, with a name to rename it to, like a comma), and no console line carries it raw.
An untrained demo bundle grades; CPU, seconds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.exit_codes import INCOMPLETE_SUBMISSION
from drac_ssl.submission import case_name_problem, printable_text, safe_case_name

HOSTILE = {
    "\x1b]0;PWNED\x07a.png": ("U+0007, U+001B", "]0;PWNEDa.png"),  # OSC: sets the terminal title
    "\x1b[2Jb.png": ("U+001B", "[2Jb.png"),  # clears the screen
    "scan\u202egnp.exe.png": ("U+202E", "scangnp.exe.png"),  # RIGHT-TO-LEFT OVERRIDE
    "tab\there.png": ("U+0009", "tabhere.png"),
    "zero\u200bwidth.png": ("U+200B", "zerowidth.png"),  # ZERO WIDTH SPACE is Cf
}


def test_a_name_holding_a_control_or_formatting_character_is_no_case_and_the_fix_is() -> None:
    for name, (codes, fixed) in HOSTILE.items():
        why = case_name_problem(name)
        assert why is not None and f"contains a control or formatting character ({codes})" in why, name
        assert safe_case_name(name) == fixed and case_name_problem(fixed) is None, name
    for fine in ("1003.png", "Ärztin_OD.png", "scan (2).jpg", "日本語.png"):
        assert case_name_problem(fine) is None, fine
    assert printable_text("\x1b]0;PWNED\x07a.png") == "\\x1b]0;PWNED\\x07a.png"


def test_the_formatting_characters_of_real_names_are_allowed_and_line_separators_are_not() -> None:
    """A review: refusing every Cf character refused Persian names (ZWNJ), Devanagari ones
    (ZWJ), bidi marks and the soft hyphen, while U+2028 / U+2029 (Zl / Zp: line breaks to
    ``str.splitlines``) went through."""
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645_OD.png"  # ZWNJ in the word
    for fine in (persian, "\u0915\u094d\u200d\u0937.png", "a\u200eb.png", "\u05d0\u200fscan.png",
                 "\u0645\u061c1.png", "Augen\u00adarzt.png"):
        assert case_name_problem(fine) is None, ascii(fine)
        assert printable_text(fine) == fine, ascii(fine)  # shown as it is
    for bad, code in (("a\u2028b.png", "U+2028"), ("a\u2029b.png", "U+2029"), ("a\u2066b.png", "U+2066"),
                      ("a\u2060b.png", "U+2060"), ("\ufeffa.png", "U+FEFF"), ("a\U000e0041.png", "U+E0041")):
        why = case_name_problem(bad)
        assert why is not None and f"({code})" in why, ascii(bad)
        assert safe_case_name(bad) in ("ab.png", "a.png") and case_name_problem(safe_case_name(bad)) is None
        assert "\\u" in printable_text(bad) or "\\U" in printable_text(bad), ascii(bad)  # escaped
    assert len("a\u2028b.png".splitlines()) == 2  # why U+2028 is refused


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=48,
                             n_folds=1)


def _scan(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64)), axis=0), axis=1)
    smooth -= smooth.min()
    ok, data = cv2.imencode(".png", (255 * smooth / smooth.max()).astype(np.uint8))
    assert ok
    return data.tobytes()


def test_the_export_refuses_them_and_prints_no_control_character(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clinic"
    folder.mkdir()
    (folder / "good.png").write_bytes(_scan(0))
    (folder / "copy.png").write_bytes(_scan(0))  # the duplicate-copies line names files too
    for k, name in enumerate(HOSTILE):
        (folder / name).write_bytes(_scan(k + 1))
    (folder / "notes\x1b[2J.txt").write_text("not an image\n")  # the "not graded" note names it
    out = tmp_path / "grades.csv"
    code = export.main([str(bundle_dir), "--images", str(folder), "--out", str(out), "--skip-unreadable"])
    said = capsys.readouterr()
    console = said.out + said.err
    assert code == INCOMPLETE_SUBMISSION, console  # 2 of 7 graded: the rest NOT GRADED, said
    assert not any(c in console for c in "\x1b\x07\u202e\u200b\t"), repr(console)
    assert "\\x1b]0;PWNED\\x07a.png" in console and "contains a control or formatting character" in console
    written = out.read_text(encoding="utf-8")
    assert not any(c in written for c in "\x1b\x07\u202e\u200b\t")
    assert {line.split(",")[0] for line in written.splitlines()[1:]} == {"good.png", "copy.png"}


@pytest.mark.parametrize("code", range(0x206A, 0x2070))
def test_the_deprecated_format_characters_are_refused_too(code: int) -> None:
    """U+206A..206F (category Cf, deprecated: symmetric swapping, digit shapes) hide in a name
    like the other invisible ones (a final read)."""
    assert case_name_problem(f"scan{chr(code)}1.png") is not None


def test_one_rendering_of_hidden_characters_says_every_name(tmp_path: Path) -> None:
    """A final read, D7: three helpers escaped a name's hidden characters (submission's
    printable_text, name_tags' copy without numpy, which escaped the formatting characters a name
    may hold, and config's visible_text; a broken link's target had a fourth, inline). One
    now: name_tags.printable_text (its rule unchanged: every character the old one kept), with
    visible_text quoting it."""
    from drac_ssl import config, name_tags, submission
    from drac_ssl.grading.image_file import path_refusal

    assert submission.printable_text is name_tags.printable_text
    assert config.visible_text is name_tags.visible_text
    assert submission.ALLOWED_FORMAT_CHARACTERS is name_tags.ALLOWED_FORMAT_CHARACTERS
    for code in [*range(0x250), *range(0x2000, 0x2070), 0xFEFF, 0x180E, *range(0xFFF9, 0xFFFC), 0xE0001, 0xDCFF]:
        char = chr(code)
        kept = (char.isprintable() or char in submission.ALLOWED_FORMAT_CHARACTERS) \
            and not submission.refused_name_character(char)  # the old printable_text's rule
        assert (printable_text(f"a{char}b") == f"a{char}b") == kept, hex(code)
    persian = "mi\u200cravam\r.png"  # ZWNJ kept (a Persian word), the carriage return escaped
    assert printable_text(persian) == "mi\u200cravam\\r.png"
    assert persian in name_tags.said_forms(persian) and "mi\u200cravam\\r.png" in name_tags.said_forms(persian)
    assert name_tags.visible_text("0\r") == repr("0\r") == "'0\\r'" and name_tags.visible_text("0") == "0"
    assert name_tags.visible_text("a\u200cb") == "'a\\u200cb'"  # alone, every hidden one shows
    # a review, F3: the backslash is doubled too (it showed 'a\b\r', its \b read as a backspace), not in printable_text
    assert name_tags.visible_text("a\\b\r") == repr("a\\b\r") == "'a\\\\b\\r'"
    assert name_tags.visible_text("a\\b") == "a\\b" and printable_text("a\\b\r") == "a\\b\\r"
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / persian)
    refusal = path_refusal(link)
    assert refusal is not None and f"points to {printable_text(str(tmp_path / persian))}," in refusal.what
