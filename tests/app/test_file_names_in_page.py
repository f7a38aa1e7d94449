"""A file's name is shown as it is wherever the page says it, and nothing in a name (or in a
file's content) becomes markup (a clinician review).

``O'Brien & Co OD.png`` was shown as ``O&#x27;Brien &amp; Co OD.png``: the name was
html-escaped and then put in a code span, which the page's markdown renderer escapes again.
``patient `Smith`.png`` lost its backticks in the batch's notes ("patient Smith.png"), so
the note no longer named the case. The markdown is rendered here by a CommonMark renderer
(markdown-it-py, a dependency of gradio's own dependencies) with raw HTML on, as gradio's
renderer has it before its sanitiser: a name must come out as the text of a code element,
and no name or file content as an element of its own.

Through the page, gradio (6.31) removes ``<>:"/\\|?*`$!{}`` and control characters from an
upload's name before a handler sees it (``gradio_client.utils.strip_invalid_filename_characters``),
so there ``'``, ``&``, ``_``, ``[``, ``]``, ``~`` ... arrive and the rest cannot; the handlers are
tested with every name, as a Python caller (or another gradio) may give them.
"""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import drac_scan_or_stand_in
from PIL import Image

from app.predict import Predictor

markdown_it = pytest.importorskip("markdown_it")


NAMES = ["O'Brien & Co OD.png", "patient `Smith`.png", "<script>alert(1).png",
         "<img src=x onerror=alert(1)>.png", "`left` OD.png", "a``b & <c>.png", "*bold* _x_ [l](u).png"]
"""Names a clinic's files may carry, and names made to break out of a code span or into markup."""

ALLOWED_TAGS = {"p", "code", "h2", "h3", "ul", "li", "strong", "small", "sub", "em"}
"""The elements the app's own markdown makes (headings, lists, bold, small print)."""


class _Page(HTMLParser):
    """The elements of rendered HTML, its text and the text of each ``<code>`` element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.code: list[str] = []
        self.text = ""
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "code":
            self._in_code = True
            self.code.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._in_code:
            self.code[-1] += data


def rendered(markdown: str) -> _Page:
    """``markdown`` as the page shows it: CommonMark with raw HTML allowed."""
    page = _Page()
    page.feed(markdown_it.MarkdownIt("commonmark").render(markdown))
    return page


def _scan() -> np.ndarray:
    return drac_scan_or_stand_in(300)


def _write(folder: Path, name: str, array: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    path = folder / name
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("name", NAMES)
def test_the_result_line_shows_the_name_as_it_is(predictor: Predictor, tmp_path: Path, name: str) -> None:
    from app.server import AppSettings, _grade_single_now

    path = _write(tmp_path, name, _scan())
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(), str(path), None, name)
    assert label is not None and details["name"] == name
    page = rendered(markdown)
    assert name in page.code, (name, page.code)
    assert set(page.tags) <= ALLOWED_TAGS, page.tags


@pytest.mark.parametrize("name", NAMES)
def test_a_refusal_shows_the_name_as_it_is(predictor: Predictor, tmp_path: Path, name: str) -> None:
    from app.server import AppSettings, _grade_single_now

    path = _write(tmp_path, name, np.full((300, 300), 40, np.uint8))  # blank: refused
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(), str(path), None, name)
    assert label is None and "blank" in details["error"]
    page = rendered(markdown)
    assert name in page.code, (name, page.code)
    assert set(page.tags) <= ALLOWED_TAGS, page.tags


def test_what_a_file_holds_is_shown_as_text_not_markup(predictor: Predictor, tmp_path: Path) -> None:
    """A file that is not an image is refused with the first characters it holds: text such
    as ``<style>*{display:none}`` went into the markdown as markup (gradio's sanitiser then
    removed the element and the text after it: the refusal ended at ``it holds text "``)."""
    from app.server import AppSettings, _grade_single_now

    letter = tmp_path / "letter.txt"
    letter.write_text("<style>*{display:none}</style> referral", encoding="utf-8")
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(), str(letter), None,
                                                       "letter.txt")
    assert label is None and "is not an image" in details["error"]
    page = rendered(markdown)
    assert "style" not in page.tags and set(page.tags) <= ALLOWED_TAGS, page.tags
    assert "letter.txt" in page.code


def test_a_batch_names_each_file_as_it_is_in_its_notes_and_its_summary(
        predictor: Predictor, tmp_path: Path) -> None:
    """The notes of a file not graded started with its name without backticks (``patient
    Smith.png`` for ``patient `Smith`.png``); the INCOMPLETE line of the summary put the names
    into the markdown as they were (``<img ...>`` became an element). The summary says them as
    text, in the export command's words."""
    from app.server import AppSettings, _grade_batch_now

    blank = [_write(tmp_path / f"d{i}", name, np.full((300, 300), 40, np.uint8))
             for i, name in enumerate(NAMES)]
    scan = _write(tmp_path, "scan.png", _scan())
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(),
                                                    [str(p) for p in blank] + [str(scan)])
    assert [r[0] for r in rows] == [*NAMES, "scan.png"]
    for name, row in zip(NAMES, rows, strict=False):
        assert row[1] is None and row[-1].startswith(f"{name} is blank"), (name, row[-1])
    notes = Path(notes_path).read_text(encoding="utf-8-sig")
    assert "patient `Smith`.png is blank" in notes
    page = rendered(summary)
    assert set(page.tags) <= ALLOWED_TAGS, page.tags
    for name in NAMES:
        assert f"{name}: is blank" in page.text, (name, page.text)


def test_a_batch_file_whose_name_cannot_be_a_case_is_not_graded_and_gets_a_safe_name(
        predictor: Predictor, tmp_path: Path) -> None:
    """A hospital review (F10): a case ``=cmd|calc.png`` was written as it is into a CSV a
    spreadsheet opens, where it is a formula. The one rule of a case name
    (drac_ssl.submission.case_name_problem, the export's too) now refuses a name starting with
    ``= + - @`` as it refused a comma or a quote: the batch grades the rest and says why, with a
    name to rename it to (the submission writer refuses such a name, so the batch would
    otherwise stop on it)."""
    from app.server import AppSettings, _grade_batch_now

    odd = [_write(tmp_path / f"d{i}", name, _scan()) for i, name in enumerate(["=cmd|calc.png", "@sum.png"])]
    scan = _write(tmp_path, "scan.png", _scan())
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(),
                                                           [str(p) for p in odd] + [str(scan)])
    assert [r[0] for r in rows] == ["=cmd|calc.png", "@sum.png", "scan.png"]
    for row, first, safe in zip(rows, "=@", ["cmd|calc.png", "sum.png"], strict=False):
        assert row[1] is None, row
        assert f"starts with '{first}'" in row[-1] and f"rename it, e.g. to `{safe}`" in row[-1], row[-1]
    assert rows[-1][1] is not None  # the rest is graded
    assert "INCOMPLETE: 2 of the 3 files not graded" in rendered(summary).text


def test_no_cell_of_the_batch_csvs_starts_as_a_formula_and_a_safe_name_is_free_in_the_batch(
        predictor: Predictor, tmp_path: Path) -> None:
    """Review s58r3 F1: a file ``=HYPERLINK(1)&A1.png`` was refused as a case but written, as
    it is, as the first cell of its NOT GRADED row in grades_INCOMPLETE.csv and
    grades_with_notes.csv, the files a spreadsheet opens (CSV injection). Its cell now starts
    with ``'`` (OWASP), its notes say so, and no cell of either file starts with ``= + - @``,
    a tab or a carriage return; --check still names the files for what they are and the row
    NOT GRADED. F9: the name suggested is none of the batch's (``cmd|calc.png`` is taken)."""
    import csv

    from app.server import AppSettings, _grade_batch_now
    from drac_ssl.submission import FORMULA_CELL_STARTS, NEUTRALISED_NAME_WORDS, check_submission

    names = ["=HYPERLINK(1)&A1.png", "=cmd|calc.png", "-2+3.png"]
    odd = [_write(tmp_path / f"d{i}", name, _scan()) for i, name in enumerate(names)]
    taken = _write(tmp_path / "d9", "cmd|calc.png", _scan())
    scan = _write(tmp_path, "scan.png", _scan())
    _, rows, csv_path, notes_path = _grade_batch_now(
        predictor, AppSettings(), [str(p) for p in odd] + [str(taken), str(scan)])
    assert csv_path is not None and notes_path is not None
    assert "rename it, e.g. to `cmd|calc_2.png`" in rows[1][-1], rows[1][-1]  # F9
    for path in (csv_path, notes_path):
        with open(path, newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
        cells = [cell for row in table for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_CELL_STARTS)], (path, table)
        first = {row[0]: row[-1] for row in table[1:]}
        for name in names:
            assert first[f"'{name}"].startswith("NOT GRADED: ") and NEUTRALISED_NAME_WORDS in first[f"'{name}"]
        assert "scan.png" in first and NEUTRALISED_NAME_WORDS not in first["scan.png"]
        (line,) = check_submission(path)
        if path == notes_path:  # the notes CSV for people (a clinician trial): named in one problem
            assert "this is the app's grades_with_notes.csv" in line and "not a submission" in line, line
            continue
        # named as the files are, without the quote the writer added (review s58r5 F6)
        assert "the app's batch file with a notes column" in line and ": =HYPERLINK(1)&A1.png (line 2)" in line, line
