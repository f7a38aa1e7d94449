"""Label CSVs in the dialects spreadsheet programs and scripts really write.

:func:`read_table` reads a CSV whatever its

- encoding (an Excel or OpenDocument workbook given for the CSV is named as such, with the
  fix to save it as CSV UTF-8, not decoded): UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text") or
  without (detected from the NUL bytes), UTF-32 with BOM, else Windows-1252 (Excel's "CSV"
  on Western-European Windows; a note says so), Latin-1 as the last resort; a caller that
  knows the folder's names reads such a guess again in another encoding whose names match
  (:func:`reread_matching`: GBK, Big5, Shift-JIS, Mac Roman, cp850);
- delimiter: ``,`` ``;`` (European Excel) tab ``|``; an Excel ``sep=;`` first line is obeyed;
- line ends: LF, CRLF, CR (old Mac Excel), mixed; blank lines anywhere, rows that are only
  delimiters (``;;``) and trailing empty cells (``a,b,,``) are skipped;
- quoting: quoted headers and values, stray spaces around them;
- an unnamed first column (a pandas index, ``df.to_csv()``) is ignored.

The delimiter is chosen by parsing the text with each candidate and scoring the result:
first how many of the wanted columns the header then holds, then whether every row has
the header's number of cells, then the number of columns; ``csv.Sniffer`` (which fails on
e.g. ``;`` + CRLF + a trailing empty line) only breaks ties. A row with more non-empty
cells than the header is an error (a decimal comma in a comma-separated file would
otherwise shift its values silently); one that fits the header because the column right of the
grade is a mostly empty comment column is caught there (:func:`split_decimal_problems`). A title
row above the header (Excel's report title) is an error naming the header's line.

Column names are matched exactly, else ignoring letter case and repeated spaces (a note).
A missing column gets a suggestion that can work (:func:`column_suggestion`): a real column
whose name is close or whose cells fit the role (file names, integer grades), never a header
cell that is a whole unsplit line, never one column for two roles.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import shlex
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.problems import Problem, counted, error, note
from drac_ssl.config import GRADE_SCALES
from drac_ssl.grading.image_notes import IMAGE_SUFFIXES

DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SEP_LINE = re.compile(r'^\ufeff?\s*"?sep=(.)"?\s*$', re.IGNORECASE)


@dataclass
class Table:
    """A parsed CSV: header cells and the non-blank rows (cells padded to the header)."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, list[str]]]  # (1-based physical line, cells)
    encoding: str
    delimiter: str
    notes: list[Problem] = field(default_factory=list)
    # the non-ASCII cells naming a file of the folder in this reading (reread_matching's count
    # when it weighed the encoding against a folder listing; None: not counted)
    names_matched: int | None = None

    @property
    def dialect(self) -> str:
        """``'semicolon-separated, UTF-8'``: what was read, for messages and the summary."""
        return f"{_NAMES.get(self.delimiter, repr(self.delimiter))}-separated, {self.encoding}"


def normalise(name: str) -> str:
    """A column name for a tolerant match: stripped, quotes removed, case-folded, one space."""
    return " ".join(name.strip().strip('"').strip("'").split()).casefold()


SAVE_AS_CSV = "open it in the spreadsheet program and save it as CSV: File > Save As > CSV UTF-8"
"""The fix for a workbook given where a CSV is read (:func:`workbook_words`)."""


def workbook_fix(workbook: str) -> str:
    """The fix for a file :func:`workbook_words` named ``workbook``: save it as CSV (a ZIP
    archive may hold the CSV: unzip it first)."""
    return f"unzip it, or {SAVE_AS_CSV}" if workbook == "a ZIP archive" else SAVE_AS_CSV


def workbook_words(raw: bytes) -> str | None:
    """What a file given as a CSV is when it is a spreadsheet workbook, not text: ``an Excel
    workbook`` (``.xlsx``: a ZIP holding ``xl/``; ``.xls``: an OLE compound file, whose NUL
    bytes would otherwise pass for UTF-16), ``an OpenDocument spreadsheet (.ods)``, ``a ZIP
    archive`` (another zipped file); None for anything else. ``raw``: the file's bytes."""
    if raw.startswith(b"PK\x03\x04"):
        if b"opendocument.spreadsheet" in raw[:200]:  # the ODF 'mimetype' member comes first
            return "an OpenDocument spreadsheet (.ods)"
        return "an Excel workbook" if b"xl/" in raw else "a ZIP archive"
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        return "an Excel workbook"  # .xls (or another old Office file: the same fix)
    return None


GUESSED_ENCODING_WORDS = {"cp1252": "Windows-1252", "latin-1": "Latin-1"}
"""The encodings :func:`decode_text` falls back to, in this order, for a file that is neither
UTF-8 nor UTF-16 / UTF-32 (Python codec: its name in the notes): a guess (they decode almost any
bytes), right for Western-European Excel, wrong (and silently garbled) for a GBK, Big5,
Shift-JIS, Mac Roman or DOS file."""

GUESSED_ENCODINGS = tuple(GUESSED_ENCODING_WORDS)
"""The codecs of :data:`GUESSED_ENCODING_WORDS`: ``("cp1252", "latin-1")``."""

OTHER_ENCODINGS = (("gb18030", "GBK / GB18030 (Chinese Excel)"),
                   ("big5", "Big5 (Traditional Chinese Excel)"),
                   ("shift_jis", "Shift-JIS (Japanese Excel)"),
                   ("mac_roman", "Mac Roman (Excel's 'CSV (Macintosh)')"),
                   ("cp850", "DOS Latin-1 (cp850)"))
"""The encodings :func:`reread_matching` tries, in this order, for a CSV read by a guess of
:data:`GUESSED_ENCODINGS`: (Python codec, words for the note)."""

SAVE_AS_UTF8 = ("save the CSV as 'CSV UTF-8' in the spreadsheet program (File > Save As > CSV "
                "UTF-8) and run again")
"""The fix for a CSV whose encoding had to be guessed and whose non-ASCII text does not match."""


def not_utf8_words(encoding: str) -> str:
    """The likely cause of a column or image name not found in a CSV read by a guess of
    :data:`GUESSED_ENCODINGS` (``encoding``): its non-ASCII text may be garbled."""
    words = GUESSED_ENCODING_WORDS.get(encoding, "Latin-1")
    return (f"the CSV is not UTF-8 and was read as {words}, so its non-ASCII text may be garbled "
            "(a file saved in another encoding: Chinese, Japanese or Mac Excel's 'CSV')")


def decode_text(raw: bytes, path: Path, encoding: str = "") -> tuple[str | None, str, list[Problem]]:
    """The text of a CSV file, the encoding used, and a note when it was not plain UTF-8;
    no text and an error for a spreadsheet workbook (:func:`workbook_words`). ``encoding``:
    decode with that codec only, without a note (None, no problem, when it fails: the caller
    tries another, :func:`reread_matching`)."""
    workbook = workbook_words(raw)
    if workbook is not None:
        return None, "", [error(path, f"{workbook}, not a CSV", workbook_fix(workbook), "csv")]
    if encoding:
        try:
            return raw.decode(encoding), encoding, []
        except UnicodeDecodeError:
            return None, "", []
    boms = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"))
    encoding = next((name for bom, name in boms if raw.startswith(bom)), "")
    head = raw[:4096]
    if not encoding and head.count(b"\x00") > len(head) // 4:
        odd = head[1::2].count(b"\x00") > head[0::2].count(b"\x00")
        encoding = "utf-16-le" if odd else "utf-16-be"
    candidates = [encoding] if encoding else ["utf-8", *GUESSED_ENCODINGS]
    for name in candidates:
        try:
            text = raw.decode(name)
        except UnicodeDecodeError:
            continue
        problems: list[Problem] = []
        if name.startswith(("utf-16", "utf-32")):
            problems.append(note(path, f"read as {name.upper()} (Excel's 'Unicode text' export)",
                                 "nothing to do", "csv-dialect"))
        elif name in GUESSED_ENCODINGS:
            problems.append(note(path, f"not UTF-8: read as {GUESSED_ENCODING_WORDS[name]}"
                                       " (what Excel's 'CSV' writes on Western-European Windows)",
                                 "check non-ASCII image names, or save as 'CSV UTF-8'", "csv-dialect"))
        return text, name, problems
    return None, "", [error(path, f"the CSV is not valid {encoding.upper()} text",
                            "save it again as 'CSV UTF-8' from the spreadsheet program", "csv")]


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]] | tuple[int, str]:
    """Non-blank records with their line numbers; cells stripped, trailing empty cells dropped.
    A record Python's CSV reader refuses (a cell over its limit of
    :func:`csv.field_size_limit` characters, 131,072: an unclosed quote that swallowed the rest
    of the file, a pasted blob) gives ``(line, the reader's words)`` instead."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                        skipinitialspace=True, strict=False)
    out: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            cleaned = [c.strip().lstrip("\ufeff").strip() for c in cells]
            while cleaned and not cleaned[-1]:
                cleaned.pop()
            if cleaned:
                out.append((reader.line_num, cleaned))
    except csv.Error as exc:
        return reader.line_num, str(exc)
    return out


LABEL_CSV_MAX_BYTES = 1024 ** 3
"""The largest label CSV read (1 GiB): EyePACS's 88,702 rows are about 1.2 MB, so this refuses
only a file that is no label table (a disk image renamed .csv), before it is read into memory."""


def _unreadable_record(path: Path, line: int, words: str) -> Problem:
    """The error of a label CSV whose record at ``line`` (where the reader stopped) Python's CSV
    reader refuses (``words``: its message): said with the file and line, not as an empty CSV
    (security review F4)."""
    long_cell = "field larger than field limit" in words
    what = (f"a cell longer than {csv.field_size_limit():,} characters, which no label table "
            f"holds ({words})" if long_cell else f"cannot be read as CSV ({words})")
    fix = ("look at that line (and the lines before it): close an unclosed quote (\"), or remove "
           "the text pasted into one cell; a label CSV holds one short row per image"
           if long_cell else "look at that line: fix its quotes, or save the table again as "
           "'CSV UTF-8' from the spreadsheet program")
    return error(f"{path}:{line}", what, fix, "csv")


def _score(records: list[tuple[int, list[str]]], wanted: Sequence[str]) -> tuple[int, float, int]:
    header = records[0][1]
    present = {normalise(c) for c in header}
    found = sum(normalise(w) in present for w in wanted if w)
    data = records[1:]
    fits = sum(len(cells) <= len(header) for _, cells in data) / len(data) if data else 1.0
    return found, (fits if len(header) > 1 else -1.0), len(header)


def _title_rows(parsed: dict[str, list[tuple[int, list[str]]]], wanted: Sequence[str]
                ) -> tuple[int, str] | None:
    """``(the header's line, the title)`` when the first record of a reading of ``parsed``
    (delimiter -> records) is a title above the header (Excel's ``DR-Graduierung Studie XY,
    Export 07.12.2026;;``), not the header: the second or third record holds more of the
    ``wanted`` columns than the first, or, none of them anywhere, the first is one cell, the
    later one several cells naming no file with image file names in the rows below it. None
    otherwise (a header on line 1 holds at least as many wanted columns as any row below)."""
    for records in parsed.values():
        first = records[0][1]
        found = _score(records, wanted)[0]
        for k in (1, 2):
            if k + 1 >= len(records):
                break
            line, header = records[k]
            better = _score(records[k:], wanted)[0] > found
            names_below = any(is_file_name(c) for _, cells in records[k + 1:k + 6] for c in cells)
            titled = (found == 0 and len(first) == 1 and len(header) >= 2 and names_below
                      and not any(is_file_name(c) for c in header))
            if better or titled:
                return line, " ".join(first)
    return None


def _sniffed(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ""


def read_table(path: Path, wanted: Sequence[str] = (), encoding: str = "") -> tuple[Table | None, list[Problem]]:
    """Read ``path`` in whatever dialect it is written (see the module docstring).

    ``wanted``: the column names the caller needs (they decide the delimiter when in doubt).
    ``encoding``: read with that codec (:func:`decode_text`), not the one found.
    Returns the table (None when it cannot be read at all) and the problems found: notes on
    the dialect, errors for unreadable files and for rows with too many cells.
    """
    try:
        size = path.stat().st_size
        if size > LABEL_CSV_MAX_BYTES:
            return None, [error(path, f"{size:,} bytes, larger than any label CSV (at most "
                                      f"{LABEL_CSV_MAX_BYTES:,} bytes, 1 GiB, are read)",
                                "give the label table itself (one row per image: its name and "
                                "grade)", "csv")]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [error(path, f"cannot read the CSV ({exc.strerror or exc})",
                            "check the path and the file permissions", "csv")]
    text, encoding, problems = decode_text(raw, path, encoding)
    if text is None:
        return None, problems
    first_line = text.split("\n", 1)[0].split("\r", 1)[0]
    forced = _SEP_LINE.match(first_line)
    parsed: dict[str, list[tuple[int, list[str]]]] = {}
    refused: list[tuple[int, str]] = []  # (line, the CSV reader's words) of each delimiter tried
    for delimiter in ([forced.group(1)] if forced else DELIMITERS):
        records = _records(text, delimiter)
        if isinstance(records, tuple):
            refused.append(records)
            continue
        if forced:
            records = records[1:]
        if records:
            parsed[delimiter] = records
    if not parsed and refused:
        return None, problems + [_unreadable_record(path, *refused[0])]
    if not parsed:
        return None, problems + [error(path, "the CSV is empty (no header row)",
                                       "write a header row with the column names, then one row "
                                       "per image", "csv")]
    if (title := _title_rows(parsed, wanted)) is not None:  # Excel's title row above the table
        line, words = title
        above = "line 1" if line == 2 else f"lines 1-{line - 1}"
        return None, problems + [error(f"{path}:1", f"line 1 looks like a title ({words!r}), not the "
                                                    f"header: the header is on line {line}",
                                       f"delete {above} (above the header) in the spreadsheet "
                                       "program and save the file again", "csv")]
    hint = _sniffed(text)
    delimiter = max(parsed, key=lambda d: (_score(parsed[d], wanted), d == hint,
                                           -DELIMITERS.index(d) if d in DELIMITERS else 0))
    records = parsed[delimiter]
    (_, columns), data = records[0], records[1:]
    if forced:
        problems.append(note(path, f"Excel 'sep={delimiter}' line obeyed", "nothing to do",
                             "csv-dialect"))
    if delimiter != ",":
        problems.append(note(path, f"read as {_NAMES.get(delimiter, repr(delimiter))}-separated",
                             "nothing to do", "csv-dialect"))
    if columns and (columns[0] == "" or re.fullmatch(r"Unnamed: ?0", columns[0])):
        problems.append(note(path, "the first column has no name (an index written by pandas?): "
                                   "ignored", "nothing to do", "csv-dialect"))
    rows: list[tuple[int, list[str]]] = []
    for line, cells in data:
        if len(cells) > len(columns):
            problems.append(error(
                f"{path}:{line}", f"{len(cells)} values but the header has {counted(len(columns), 'column')} "
                                  f"({_NAMES.get(delimiter, repr(delimiter))}-separated)",
                f"quote values that contain a {_NAMES.get(delimiter, repr(delimiter))} (a decimal "
                "comma?), or save the file with another delimiter", "csv"))
            continue
        rows.append((line, cells + [""] * (len(columns) - len(cells))))
    return Table(path, columns, rows, encoding, delimiter), problems


def reread_matching(path: Path, wanted: Sequence[str], table: Table, problems: list[Problem],
                    names_a_file: Callable[[str], bool] | None = None) -> tuple[Table, list[Problem]]:
    """``table`` (``path`` read by :func:`read_table` with ``wanted``, and its ``problems``) read
    again in the encoding of :data:`OTHER_ENCODINGS` whose non-ASCII text matches best, when
    its encoding was a guess (:data:`GUESSED_ENCODINGS`) and that one matches better: a GBK
    ``张三_01.png`` read as Windows-1252 is ``ÕÅÈý_01.png``, which names no file.

    A reading's match: the non-ASCII column names of ``wanted`` its header holds (letter case
    and spacing aside) plus its non-ASCII cells that ``names_a_file`` (an image of the folder,
    :func:`data_prep.validate.folder_name_test`; None: no folder listed). The first encoding
    of the best match wins; a tie with the guess keeps the guess. The guess's dialect note is
    then a note naming the encoding taken. No other encoding is read when the guess already
    holds every column of ``wanted`` and each non-ASCII cell of the image-name column
    (``wanted[0]``) names a file: none can match more (a real Windows-1252 file is read once,
    not six times). The table returned has :attr:`Table.names_matched` set (when
    ``names_a_file`` is given): a count of 0 with non-ASCII names missing says the encoding may
    be the cause, a count above 0 says it is right and those images are only missing.
    Returns the table and problems to use."""
    if table.encoding not in GUESSED_ENCODINGS:
        return table, problems

    def cells_matched(read: Table) -> int:
        if names_a_file is None:
            return 0
        return sum(names_a_file(cell) for _, cells in read.rows for cell in cells if not cell.isascii())

    def matched(read: Table) -> int:
        present = {normalise(c) for c in read.columns}
        return sum(normalise(w) in present for w in wanted if w and not w.isascii()) + cells_matched(read)

    def counted(read: Table) -> Table:
        read.names_matched = cells_matched(read) if names_a_file is not None else None
        return read

    guess_match = matched(table)
    if guess_match == 0 and not any(not c.isascii() for c in table.columns) and not any(
            not cell.isascii() for _, cells in table.rows for cell in cells):
        return counted(table), problems  # nothing but ASCII text: no encoding tells
    present = [normalise(c) for c in table.columns]
    if wanted and all(normalise(w) in present for w in wanted if w) and (
            names_a_file is None or all(names_a_file(cells[present.index(normalise(wanted[0]))])
                                        for _, cells in table.rows
                                        if not cells[present.index(normalise(wanted[0]))].isascii())):
        return counted(table), problems  # the guess holds every column and names every file
    best, best_problems, best_match, words = table, problems, guess_match, ""
    if best_match == 0 and not any(not c.isascii() for c in table.columns) and not any(
            not cell.isascii() for _, cells in table.rows for cell in cells):
        return table, problems  # nothing but ASCII text: no encoding tells
    for encoding, label in OTHER_ENCODINGS:
        other, found = read_table(path, wanted, encoding)
        if other is None:
            continue
        match = matched(other)
        if match > best_match:
            best, best_problems, best_match, words = other, found, match, label
    if best is table:
        return counted(table), problems
    guess = GUESSED_ENCODING_WORDS.get(table.encoding, "Latin-1")
    return counted(best), [note(path, f"not UTF-8: read as {words}, the encoding whose non-ASCII text "
                             f"matches the folder's file names and the columns given ({best_match} "
                             f"match; read as {guess}, {guess_match})",
                       f"nothing to do; to spare the guess, {SAVE_AS_UTF8}", "csv-dialect"),
                  *best_problems]


def column_index(table: Table, wanted: str) -> tuple[int | None, list[Problem]]:
    """The position of column ``wanted``: exact, else ignoring case and spacing (a note).

    None when it is absent or ambiguous (two columns of that name: an error).
    """
    exact = [i for i, c in enumerate(table.columns) if c == wanted]
    loose = exact or [i for i, c in enumerate(table.columns) if normalise(c) == normalise(wanted)]
    if len(loose) > 1:
        return None, [error(table.path, f"column {wanted!r} appears {len(loose)} times",
                            "keep one column of that name", "csv")]
    if not loose:
        return None, []
    if not exact:
        found = table.columns[loose[0]]
        return loose[0], [note(table.path, f"column {found!r} taken for {wanted!r} (letter case or "
                                           "spacing differ)", "nothing to do", "csv-dialect")]
    return loose[0], []


def _unsplit(cell: str) -> bool:
    return any(d in cell for d in DELIMITERS) or '"' in cell


NOT_PATIENT_ID_WORDS = frozenset({"grade", "grades", "grading", "level", "levels", "dr", "label",
                                  "labels", "class", "classes", "quality", "score", "scores",
                                  "severity", "stage"})
"""Words that make a column a grade-like value even when its name also says patient
(DeepDRiD's ``patient_DR_Level``): matched as whole words of the name (see
:func:`name_words`); ``grade``, ``level`` and ``severity`` also inside a run-together name
(``patient_drgrade``, :data:`GRADE_INSIDE_WORDS`). A word of :data:`PATIENT_ID_WORDS` outweighs them."""

PATIENT_ID_WORDS = frozenset({"id", "ids", "no", "nr", "num", "number", "code", "key"})
"""Words that make a patient / subject column an identifier whatever else its name says
(``Patient ID (DR study)``, ``patient_id_dr``)."""


def name_word_list(name: str) -> list[str]:
    """The lower-case words of a column name in order, split at anything not a letter or digit
    and at camel-case boundaries (``patient_DR_Level`` -> [patient, dr, level]; ``ExamID`` ->
    [exam, id]; ``DRGrade`` -> [dr, grade])."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def name_words(name: str) -> set[str]:
    """The lower-case words of a column name (:func:`name_word_list` as a set:
    ``patient_DR_Level`` -> patient, dr, level; ``PatientGrade`` -> patient, grade;
    ``DRGrade`` -> dr, grade)."""
    return set(name_word_list(name))


PATIENT_COLUMN_WORDS = ("patient", "subject", "participant")
"""Words that make a label-CSV column look like a patient id (any case, anywhere in the name,
e.g. ``PatientID``, ``subject_id``; :func:`data_prep.validate.looks_like_patient_column`), and,
as a whole word beside a word of :data:`PATIENT_LEVEL_WORDS`, a grade-like column a
patient-level grade (:func:`patient_level_column`)."""


VISIT_COLUMN_WORDS = frozenset({"exam", "examination", "visit", "encounter"})
"""Words that make a label-CSV column the id of an examination or visit (:func:`visit_id_column`:
``exam_id``, ``Examination``, ``visit_id``, ``EncounterID``): the images it groups are of one
patient (Messidor-2 photographs both eyes at each examination), so it draws the same
``--patient-column`` hint as a patient id. Whole words only: ``examiner``, ``example_id``,
``visitor`` and ``revisit`` are none of them."""

VISIT_ID_WORDS = frozenset({"id", "ids", "no", "nr", "num", "number", "key", "code"})
"""Words that, right after a word of :data:`VISIT_COLUMN_WORDS`, make the column an id
(``exam_id``, ``Exam No``, ``encounter number``, ``visit_key``); ``no`` / ``nr`` / ``num`` /
``number`` not after ``visit`` (:data:`VISIT_ORDINAL_WORDS`)."""

VISIT_ORDINAL_WORDS = frozenset({"no", "nr", "num", "number"})
"""Words that after ``visit`` count a patient's visits (``visit_number`` 1, 2, ...: the CDISC
VISITNUM), an ordinal shared by every patient, not an id: grouping folds by it would be wrong."""

DATE_WORDS = frozenset({"date", "dates", "time", "times", "datetime", "timestamp", "day", "days",
                        "month", "year", "age", "dt"})
"""Words that make a column a date or time, never an examination id (``exam_date``,
``visit_id_time``)."""


def visit_id_column(name: str) -> bool:
    """Whether a label-CSV column ``name`` is the id of an examination or visit: a word of
    :data:`VISIT_COLUMN_WORDS` standing alone (``Examination``, ``visit``) or followed at once by
    a word of :data:`VISIT_ID_WORDS` (``exam_id``, ``ExamID``, ``Encounter No``; ``visit_number``
    is an ordinal, :data:`VISIT_ORDINAL_WORDS`), as whole words of :func:`name_word_list`, and
    no word of :data:`DATE_WORDS` (``exam_date``). ``examiner``, ``example_id``, ``ExamplePath``,
    ``examined_by``, ``Exam eye``, ``visitor`` and ``revisit`` are not."""
    words = name_word_list(name)
    if set(words) & DATE_WORDS:
        return False
    if len(words) == 1:
        return words[0] in VISIT_COLUMN_WORDS
    return any(word in VISIT_COLUMN_WORDS and following in VISIT_ID_WORDS
               and not (word == "visit" and following in VISIT_ORDINAL_WORDS)
               for word, following in zip(words, words[1:], strict=False))


def patient_word_column(name: str) -> bool:
    """Whether a column ``name`` holds a word of :data:`PATIENT_COLUMN_WORDS` (any case, anywhere:
    ``PatientID``, ``subject_id``)."""
    low = name.lower()
    return any(word in low for word in PATIENT_COLUMN_WORDS)


def id_words(name: str) -> str:
    """What a column that looks like a patient id is, for the ingest's warning, its summary,
    the report, the model card and the scorer's note: ``a patient id``, or, for an examination
    or visit id without a patient word (:func:`visit_id_column`: ``exam_id``), ``an examination
    or visit id (of one patient)``."""
    if visit_id_column(name) and not patient_word_column(name):
        return "an examination or visit id (of one patient)"
    return "a patient id"


PATIENT_LEVEL_WORDS = frozenset({"level", "levels", "worse", "worst", "max", "maximum"})
"""Words that, beside a word of :data:`PATIENT_COLUMN_WORDS`, make a grade-like column one
value per patient (DeepDRiD's ``patient_DR_Level``, a ``patient worst grade``)."""


def patient_level_column(name: str) -> bool:
    """Whether a column ``name`` holds one value per patient: a word of
    :data:`PATIENT_COLUMN_WORDS` and one of :data:`PATIENT_LEVEL_WORDS`, as whole words of
    :func:`name_words` (DeepDRiD's ``patient_DR_Level``, the worse eye's grade): never offered
    as an image's grade column (:func:`column_suggestion`). ``subject grade``,
    ``Grade_subject``, ``subjective_grade`` and ``participant_dr_grade`` are offered."""
    words = name_words(name)
    return bool(words & set(PATIENT_COLUMN_WORDS)) and bool(words & PATIENT_LEVEL_WORDS)


def _patient_id_name(name: str) -> bool:
    """Whether a column ``name`` names patients, not a grade: a word of
    :data:`PATIENT_COLUMN_WORDS` and no grade-like word (:func:`grade_like_column`:
    ``patient_id``, ``Patient ID (DR study)``; not ``subjective_grade``)."""
    return patient_word_column(name) and not grade_like_column(name)


def _paths(table: Table, position: int) -> bool:
    """Whether most non-empty cells of column ``position`` hold a folder part
    (``\\regular_fundus_images\\...\\1_l1.jpg``, ``train/001.png``): a column of paths, not of
    bare names."""
    cells = [cells[position].strip() for _, cells in table.rows
             if position < len(cells) and cells[position].strip()]
    return 2 * sum("/" in c or "\\" in c for c in cells) > len(cells)


GRADE_INSIDE_WORDS = ("grade", "level", "severity")
"""Words that make a column grade-like anywhere in its name, run together included."""


def grade_like_column(name: str) -> bool:
    """Whether a label-CSV column ``name`` holds a grade-like value, so that it is never offered
    as the patient column (DeepDRiD's ``patient_DR_Level``, ``left_eye_DR_Level``,
    ``PatientGrade``): :data:`GRADE_INSIDE_WORDS` anywhere in the name, or a word of
    :data:`NOT_PATIENT_ID_WORDS` without one of :data:`PATIENT_ID_WORDS` (``Patient ID (DR
    study)`` is an id)."""
    words = name_words(name)
    low = name.lower()
    return (any(w in low for w in GRADE_INSIDE_WORDS)
            or bool(words & NOT_PATIENT_ID_WORDS) and not words & PATIENT_ID_WORDS)


def split_decimal_problems(table: Table, grade: int, taken: Collection[int]) -> list[Problem]:
    """A grade written with a decimal comma (``2,5``, European Excel) unquoted in a
    comma-separated file: its decimals land in the column right of the grade, which the row
    then fills without one value too many (``x.png,2,5,`` under ``name,grade,Bemerkung``), so
    the grade is read as 2 and 5 as a comment, silently.

    ``grade``: the grade column's position; ``taken``: the positions read for other roles
    (never the cell right of the grade). Only a right column that is no column of numbers of
    its own is judged: its name is not grade-like (:func:`grade_like_column`: ``grader 2``,
    ``DR level right``). A row whose grade cell and right cell are both all digits, the right
    one 1 or 2 digits (``2019`` is a year, never decimals), is an error naming the line when
    the right column holds at most :data:`SPLIT_DECIMAL_SPARSE` numbers in all (a comment
    column, ``Katarakt``, holding only the spilled decimals), and a note when its decimals are
    all 0 (``2,0`` is grade 2, read right). A right column of whole numbers on 3 or more rows
    (follow-up months, a visual acuity with a word or two among them, ``CF``, a DME 0/1 mark,
    an age) is a column of its own: one note when it is filled on at most half the rows with
    1- or 2-digit numbers not all 0, naming its lines, else nothing.
    """
    right = grade + 1
    if table.delimiter != "," or right >= len(table.columns) or right in taken:
        return []
    column = table.columns[right]
    if grade_like_column(column) or not table.rows:
        return []
    digits = re.compile(r"\d+")
    cells = [(line, row[grade].strip(), row[right].strip() if right < len(row) else "")
             for line, row in table.rows if grade < len(row)]
    numbers = [c for _, _, c in cells if digits.fullmatch(c)]
    split = [(line, whole, decimals) for line, whole, decimals in cells
             if digits.fullmatch(whole) and digits.fullmatch(decimals) and len(decimals) <= 2]
    if len(numbers) > SPLIT_DECIMAL_SPARSE:  # a column of numbers (a word or two among them: CF in a VA)
        filled = sum(bool(c) for _, _, c in cells)
        if (not split or 2 * filled > len(table.rows)
                or any(len(c) > 2 for c in numbers) or all(set(c) == {"0"} for c in numbers)):
            return []
        lines = ", ".join(str(line) for line, _, _ in split[:5]) + (", ..." if len(split) > 5 else "")
        return [note(f"{table.path}", f"column {column!r}, right of the grade column in a "
                     f"comma-separated file, holds whole numbers on {len(numbers)} of "
                     f"{len(table.rows)} rows (lines {lines}): read as a column of its own",
                     f"nothing to do if {column!r} holds its own values; if they are the decimals "
                     "of grades written with a decimal comma (2,5), write whole grades in those "
                     "lines", "csv")]
    problems: list[Problem] = []
    for line, whole, decimals in split:
        written = f"{whole},{decimals}"
        what = (f"'{written}' in a comma-separated file: read as grade {int(whole)} and "
                f"{decimals!r} in column {column!r} (a decimal comma split over two columns?)")
        if set(decimals) == {"0"}:
            problems.append(note(f"{table.path}:{line}", what,
                                 f"nothing to do ({written} is grade {int(whole)}); to silence "
                                 f"this, write {int(whole)}", "csv"))
            continue
        problems.append(error(
            f"{table.path}:{line}", what,
            f"if the grade was {whole}.{decimals}, not {int(whole)}: write a whole grade in line "
            f"{line} (the scale has no halves); if {decimals!r} is that image's own {column!r}, "
            f"move the column {column!r} away from the right of the grade column", "csv"))
    return problems


SPLIT_DECIMAL_SPARSE = 2
"""The most whole numbers a column right of the grade may hold, and no word, for
:func:`split_decimal_problems` to still take them for a grade's decimals (``2,5`` split over a
comment column): with more it is a column of numbers of its own (follow-up months)."""


MONTH_PREFIXES = frozenset({
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",  # English
    "mär", "mrz", "mai", "okt", "dez",  # German
    "fév", "fev", "avr", "jui", "aoû", "aou", "déc",  # French
    "ene", "abr", "ago", "dic", "gen", "mag", "giu", "lug", "set", "ott",  # Spanish, Italian
    "maa", "mei"})  # Dutch
"""The first three letters of month names, lower case, as Excel writes
them in a date cell after the day (``02.Jan``, ``3. Feb``, ``02-déc``): :func:`date_cell`."""

ENGLISH_MONTHS = frozenset({"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                            "nov", "dec"})
"""English month abbreviations: the only month words :func:`date_cell` reads before the day
(``Jan 03``); ``Set 1``, ``Gen 2``, ``Mai 2``, ``Mag 1`` may be grade names."""

_DAY_FIRST = re.compile(  # 02.Jan, 3. Feb, 02-Jan-26, 02-déc, 2. Januar 2026
    r"(?P<day>\d{1,2})(?:\.\s?|-|/)(?P<month>[^\W\d_]{3,9})\.?(?:[\s./-]+\d{2,4})?")
_MONTH_FIRST = re.compile(  # Jan 03, Jan-02, Feb 3, 2026 (a 1-digit day only before a year)
    r"(?P<month>[A-Za-z]{3})\.?[\s./-]?(?:(?P<day>\d{2})|(?P<short>\d{1,2})[\s,./-]+\d{2,4})")
_NUMBER_DATES = (
    re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?"),  # ISO 2026-01-02
    re.compile(r"\d{1,2}[./]\d{1,2}[./]\d{2,4}(?: \d{1,2}:\d{2}(?::\d{2})?)?"),  # 02.01.2026, 1/2/26
)


def date_cell(cell: str) -> bool:
    """Whether a grade cell holds a date: Excel turned a typed ``2.1`` or ``1/2`` into one.
    A day 1..31 then ``.``, ``. ``, ``-`` or ``/`` and a month name (:data:`MONTH_PREFIXES`:
    ``02.Jan``, ``3. Feb``, ``02-déc``); an English month abbreviation
    (:data:`ENGLISH_MONTHS`) then a 2-digit day, or a day and a year (``Jan 03``, ``Feb 3,
    2026``); an ISO date (``2026-01-02``) or a day.month.year one (``02.01.2026``). Not a
    grade name of a month word and a digit: ``Set 1``, ``Gen 2``, ``Mai 2``, ``Dec 1``,
    ``Mag 1``."""
    text = cell.strip().strip('"').strip()
    found = _DAY_FIRST.fullmatch(text)
    if found and 1 <= int(found["day"]) <= 31 and found["month"].casefold()[:3] in MONTH_PREFIXES:
        return True
    found = _MONTH_FIRST.fullmatch(text)
    if found and 1 <= int(found["day"] or found["short"]) <= 31 \
            and found["month"].casefold() in ENGLISH_MONTHS:
        return True
    return any(shape.fullmatch(text) for shape in _NUMBER_DATES)


def cell_file_name(cell: str) -> str:
    """The file name a label-CSV cell ends in, its spaces around stripped: the last part of a
    path written with ``/`` or Windows' ``\\`` (DeepDRiD's ``image_path``,
    ``regular-fundus-training\\Images\\1\\1_l1.jpg`` -> ``1_l1.jpg``), the cell itself when
    it is a name (``1_l1``); ``''`` for an empty cell."""
    return Path(cell.strip().replace("\\", "/")).name


def is_file_name(cell: str) -> bool:
    """Whether a cell (or header cell) ends in an image suffix (:data:`drac_ssl.grading
    .image_notes.IMAGE_SUFFIXES`, the package's one list): a file name."""
    return Path(cell.strip()).suffix.lower() in IMAGE_SUFFIXES

NAME_CUTOFF = 0.4
"""How close (difflib ratio) a column name must be to the one wanted to be offered by name."""


GRADE_LIKE_VALUES = 10
"""Grade-like cells: unpadded integers ``0 .. GRADE_LIKE_VALUES - 1`` (a grading scale has a
few grades); ids are larger or zero-padded (``101``, ``001``)."""


def column_fit(table: Table, position: int, role: str,
               names_a_file: Callable[[str], bool] | None = None) -> int:
    """How well the cells of column ``position`` fit ``role`` (``image-name``, ``grade``; any
    other role: 1): 2 they look like it, 1 cannot tell (no cell, or words), 0 they look like
    another role's.

    Most non-empty cells decide. Grade-like cells are unpadded integers ``0 ..
    GRADE_LIKE_VALUES - 1`` (``'2'``, ``'2.0'``: :func:`parse_grade`; not ``'001'`` nor
    ``'101'``, ids). The image-name role: 0 when the cells are grade-like (even where ``3``
    names ``3.png`` of a folder of numbered images); else 2 when they are file names (an image
    suffix, or ``names_a_file(cell)``: a name of the training folder, extension or not). The
    grade role: 2 when they are grade-like; 0 when they are file names."""
    cells = [cells[position].strip() for _, cells in table.rows
             if position < len(cells) and cells[position].strip()]
    if not cells or role not in ("image-name", "grade"):
        return 1
    files = sum(is_file_name(c) or (names_a_file is not None and names_a_file(c))
                for c in cells)
    grade_like = 2 * sum(_grade_like(c) for c in cells) > len(cells)
    if role == "image-name":
        return 0 if grade_like else 2 if 2 * files > len(cells) else 1
    return 2 if grade_like else 0 if 2 * files > len(cells) else 1


def _grade_like(cell: str) -> bool:
    """A cell that reads as a grade: an integer ``0 .. GRADE_LIKE_VALUES - 1``
    (:func:`parse_grade`), not written zero-padded (``'001'``: an id)."""
    grade = parse_grade(cell)
    digits = cell.strip().strip('"').strip()
    return (grade is not None and 0 <= grade < GRADE_LIKE_VALUES
            and not (len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()))


DME_COLUMNS = {"adjudicated_dme": 2, "Risk of macular edema": 3}
"""Public sets' columns of diabetic macular oedema (DME) beside the DR grade, with their number
of grades: Messidor-2's ``adjudicated_dme`` (0 no DME, 1 DME) and IDRiD's ``Risk of macular
edema`` (0, 1, 2). A DME classifier reads one as its grade column on a scale of that many
grades (``--grades "[no DME, DME]"``); on a DR scale it is refused (:func:`refused_grade_column`)."""

NOT_GRADE_COLUMNS = ("adjudicated_gradable", *DME_COLUMNS)
"""Columns of public sets' label CSVs that hold small integers beside the DR grade but are no
DR grade: Messidor-2's ``adjudicated_gradable`` (1 gradable, 0 not: the gradable column of
:data:`data_prep.layout.GRADABLE_COLUMNS`) and the DME columns (:data:`DME_COLUMNS`). Never
offered as the grade column (:func:`column_suggestion`), and refused when given as it on a DR
scale (:func:`refused_grade_column`): read as DR grades, every ungradable photograph would
silently be trained as grade 0."""


def not_grade_column(name: str) -> bool:
    """Whether column ``name`` is one of :data:`NOT_GRADE_COLUMNS` (compared as
    :func:`normalise` compares names)."""
    return normalise(name) in {normalise(c) for c in NOT_GRADE_COLUMNS}


def dme_grades(name: str) -> int:
    """The number of grades of DME column ``name`` (:data:`DME_COLUMNS`, names compared as
    :func:`normalise` compares them), 0 when it is no DME column."""
    return next((k for c, k in DME_COLUMNS.items() if normalise(c) == normalise(name)), 0)


def refused_grade_column(name: str, grade_names: Sequence[str]) -> bool:
    """Whether column ``name`` given as the grade column on the scale ``grade_names`` must be
    refused: a gradable column always (1 gradable, 0 not, never a grade); a DME column
    (:data:`DME_COLUMNS`) on a DR scale (ICDR, DRAC: :data:`drac_ssl.config.GRADE_SCALES`) or
    on a scale of another number of grades than its own; any other column never."""
    if not not_grade_column(name):
        return False
    k = dme_grades(name)
    return not k or tuple(grade_names) in GRADE_SCALES.values() or len(grade_names) != k


def column_suggestion(table: Table, wanted: str, role: str, avoid: Sequence[str] = (),
                      names_a_file: Callable[[str], bool] | None = None) -> str | None:
    """The real column of ``table`` to offer for a missing ``role`` column ``wanted``, or None.

    Candidates: never a header cell that holds a delimiter (a whole line not split), nor a
    column of ``avoid`` (read, or already offered, for another role: one column is never
    offered for two roles), nor for the patient role a grade-like one
    (:func:`grade_like_column`), nor for the grade role a patient-level one
    (:func:`patient_level_column`: DeepDRiD's ``patient_DR_Level`` would give each image its
    patient's worse eye) or a patient's id (a patient word and no grade word:
    DeepDRiD's ``patient_id`` holds small integers too) or a column that is no DR grade
    (:data:`NOT_GRADE_COLUMNS`: Messidor-2's ``adjudicated_gradable``), nor one whose cells fit another role (:func:`column_fit` 0: a
    column of grades is never offered as the image-name column). Of those whose name is
    close to ``wanted`` (difflib ratio :data:`NAME_CUTOFF`), the one whose cells fit best,
    then (image-name role) a column of bare names before one of paths (:func:`_paths`:
    DeepDRiD's ``image_id`` before its ``image_path``, when the folder's names say both fit),
    then the closest name; else, when the header is not a row of data, the column whose
    cells fit the role (file names for the image-name role, integers for the grade role:
    ``Photo file`` for ``image name``), likewise ordered."""
    avoided = {normalise(c) for c in avoid if c}
    usable = [(i, c) for i, c in enumerate(table.columns)
              if c and not _unsplit(c) and normalise(c) not in avoided
              and not (role == "patient" and grade_like_column(c))
              and not (role == "grade" and (patient_level_column(c) or _patient_id_name(c)
                                            or not_grade_column(c)))]

    def ratio(name: str) -> float:  # as difflib.get_close_matches weighs it
        return difflib.SequenceMatcher(None, name.lower(), wanted.lower()).ratio()

    def bare(i: int) -> int:  # 1: bare names (or not the image-name role), 0: paths
        return int(role != "image-name" or not _paths(table, i))

    scored = [(column_fit(table, i, role, names_a_file), bare(i), ratio(c), c) for i, c in usable]
    close = [s for s in scored if s[0] > 0 and s[2] >= NAME_CUTOFF]
    if close:
        return max(close, key=lambda s: s[:3])[3]
    if table.columns and is_file_name(table.columns[0]):
        return None  # the header is a row of data: its cells are no column names
    fitting = [s for s in scored if s[0] == 2]
    return max(fitting, key=lambda s: s[1:3])[3] if fitting else None


def _readable_guess(name: str, wanted: str, encoding: str) -> bool:
    """Whether ``name``, a column of a CSV read by the guess ``encoding`` (:data:`GUESSED_ENCODINGS`),
    reads as a name somebody wrote (``'Größe'``, ``'Degré'``, ``'Bild'``) rather than another
    encoding's bytes garbled (``'Í¼Ïñ'``, ``'·Ö¼¶'``, ``'ÕÅÈý'`` for GBK ``图像``, ``分级``,
    ``张三``): its non-ASCII characters are letters, beside at least one ASCII letter, and
    ``wanted`` (the name given) is writable in ``encoding`` (a given ``'图像'`` is not: the file
    is in another encoding)."""
    try:
        wanted.encode(encoding)
    except UnicodeEncodeError:
        return False
    if name.isascii():
        return True
    return (all(ch.isalpha() for ch in name if not ch.isascii())
            and any(ch.isascii() and ch.isalpha() for ch in name))


def name_grade_line(line: str) -> bool:
    """Whether a line of a label file is ``NAME GRADE`` separated by spaces or a tab, no header
    (DDR's ``train.txt`` / ``valid.txt`` / ``test.txt``: ``007-0004-000.jpg 2``): a file name,
    then a whole-number grade."""
    cells = line.split()
    return len(cells) == 2 and is_file_name(cells[0]) and re.fullmatch(r"[0-9]+", cells[1]) is not None


DEFAULT_LABEL_HEADER = ("image name", "DR grade")
"""The label CSV's default columns (``data.image_column``, ``data.grade_column``): the header
:func:`name_grade_command` writes, so that the CSV is read without column options."""


def name_grade_command(sources: Sequence[str | Path], dest: str | Path) -> str:
    """The one-line command (``PYTHON -c "..." SOURCE... DEST``) that writes the label CSV
    ``dest`` from header-less ``NAME GRADE`` files (:func:`name_grade_line`; DDR's), their lines
    in order, under the default columns (:data:`DEFAULT_LABEL_HEADER`); blank lines dropped.
    A grade ``5``, DDR's mark for an image its graders found ungradable, is written ``NA``, an
    ungradable cell that ``--ungradable leave_out`` leaves out on any DDR subset (one without
    grade 0 too, where a 5 as it is reads as labels 1..5); the ingest never drops a 5 itself.
    The code holds no ``"``, ``$``, backtick or backslash, so a POSIX shell's double quotes and
    Windows' ``cmd`` pass it as written; the paths are shell-quoted."""
    from drac_ssl.starting import python_word  # the interpreter the user runs, as every fix says it

    header = ",".join(repr(c) for c in DEFAULT_LABEL_HEADER)
    code = ("import csv,sys; *s,d=sys.argv[1:]; o=open(d,'w',newline='',encoding='utf-8'); "
            f"w=csv.writer(o); w.writerow([{header}]); "
            "[w.writerow([a,'NA' if b=='5' else b]) for f in s for l in open(f,encoding='utf-8-sig') "
            "if l.strip() for a,b in [(l.split()+[''])[:2]]]; "
            "o.close()")
    paths = " ".join(shlex.quote(str(p)) for p in (*sources, dest))
    return f'{python_word()} -c "{code}" {paths}'


def name_grade_fix(source: str | Path, dest: str | Path | None = None) -> str:
    """The fix for a header-less ``NAME GRADE`` label file ``source`` (DDR's): the command that
    writes it as ``dest`` (``STEM.csv`` beside it by default; :func:`name_grade_command`), then ``--labels-csv`` that
    CSV, and DDR's scale (``--grades icdr``) with its 5, written NA, left out
    (``--ungradable leave_out``: DDR's ungradable mark). The command is the fix's last line, on a line of its own."""
    dest = Path(source).with_suffix(".csv") if dest is None else Path(dest)
    return (f"its lines are 'NAME GRADE' with no header (DDR's train.txt, valid.txt and test.txt "
            f"are so; docs/data.md, DDR): write them as a CSV with the default columns "
            f"({', '.join(DEFAULT_LABEL_HEADER)}) with this command, then pass --labels-csv "
            f"{shlex.quote(str(dest))} (DDR's 5, its mark for an ungradable image, is written NA: "
            f"add --grades icdr --ungradable leave_out, which leaves those rows out):\n  "
            f"{name_grade_command([source], dest)}")


def missing_column(table: Table, wanted: str, role: str, option: str,
                   avoid: Sequence[str] = (),
                   names_a_file: Callable[[str], bool] | None = None) -> Problem:
    """The error for an absent column, with a fix that can work: ``option``, the ingest's flag
    naming the column (``--image-column``; ``python -m drac_ssl.train`` says it as its setting).

    The suggestion is :func:`column_suggestion`'s (by name and by what the cells hold; never
    a column of ``avoid``, those read or offered for another role); a header that is one
    unsplit line, or a first row that looks like data, is said as such.
    """
    columns = table.columns
    listed = ", ".join(repr(c) for c in columns) or "none"
    what = f"no {role} column {wanted!r} (columns: {listed}; read as {table.dialect})"
    if len(columns) == 1 and name_grade_line(columns[0]):  # DDR's 'NAME GRADE' lines
        return error(table.path, f"the header row {columns[0]!r} is an image name and a grade "
                                 "separated by a space, not column names", name_grade_fix(table.path), "csv")
    if len(columns) == 1:  # a label table needs 2 columns: one cell is a line not split
        return error(table.path, f"the header row {columns[0]!r} was not split into columns "
                                 f"(read as {table.dialect}; looked for {wanted!r})",
                     "save the file as a comma-, semicolon- or tab-separated CSV whose first row "
                     "holds the column names", "csv")
    name = column_suggestion(table, wanted, role, avoid, names_a_file)
    if table.encoding in GUESSED_ENCODINGS and not all(c.isascii() for c in (*columns, wanted)):
        if name is not None and _readable_guess(name, wanted, table.encoding):
            # a real Windows-1252 header ('Bild;Größe', 'Degré') and a mistyped option: the
            # suggestion stays the fix, the encoding only the second thought
            garbled = "that name looks" if not name.isascii() else "the column names look"
            return error(table.path, what,
                         f"did you mean {name!r}? pass {option} {name!r}; if {garbled} garbled, "
                         f"{SAVE_AS_UTF8}", "csv")
        # a garbled header ('Í¼Ïñ' for GBK '图像'): its names are never offered, nobody can type them
        return error(table.path, f"{what}; {not_utf8_words(table.encoding)}",
                     SAVE_AS_UTF8 + f" (then pass {option} NAME if the column is still not found)",
                     "csv")
    if name is not None:
        return error(table.path, what, f"did you mean {name!r}? pass {option} {name!r}", "csv")
    if columns and is_file_name(columns[0]):
        return error(table.path, what + "; the first row looks like data, not column names",
                     f"add a header row naming the columns (e.g. {wanted!r})", "csv")
    return error(table.path, what, f"pass {option} NAME with the name of the {role} column", "csv")


def one_column_for_two_roles(table: Table, position: int, roles: tuple[str, str],
                             options: tuple[str, str], avoid: Sequence[str] = (),
                             names_a_file: Callable[[str], bool] | None = None) -> Problem:
    """The one error for a column given for two ``roles`` (``('image-name', 'grade')``, each
    named by its flag of ``options``: ``--image-column X --grade-column X``), in place of the
    per-row errors reading it twice would give ('0 is listed 5 times', 'label without image').
    The fix names the role whose cells do not fit the column (:func:`column_fit`: a column of
    grades is the grade column, not the image-name one) with :func:`column_suggestion`'s
    column for it (never one of ``avoid``), when there is one; else the other role, when
    another column fits that one (ids given for both roles and a column of grades beside)."""
    column = table.columns[position]
    fits = [column_fit(table, position, role, names_a_file) for role in roles]
    listed = ", ".join(repr(c) for c in table.columns)
    what = f"{column!r} is given as both the {roles[0]} and the {roles[1]} column (the same column for two roles)"
    # the role the column fits worse first; the blame goes to the first role another column fits
    # (ids 101..104 given for both, no folder listing: the grade column 'Level' is the fix)
    order = sorted(range(2), key=lambda k: fits[k])
    for k in order:
        other = column_suggestion(table, "", roles[k], [column, *avoid], names_a_file)
        if other is not None:
            return error(table.path, what, f"pass {options[k]} {other!r} (its cells fit the "
                                           f"{roles[k]} column; columns: {listed})", "csv")
    if fits[0] != fits[1]:
        wrong = order[0]
        return error(table.path, what, f"pass {options[wrong]} NAME with the name of the "
                                       f"{roles[wrong]} column (columns: {listed})", "csv")
    return error(table.path, what, f"pass {options[0]} and {options[1]} naming two different "
                                   f"columns (columns: {listed})", "csv")


GRADE_INTEGER = r"[+-]?[0-9]+"
"""A grade cell written as an integer (stripped, outer ``"`` removed): :func:`parse_grade`."""
GRADE_NUMERAL = r"[+-]?[0-9]+(?:[.,][0-9]*)?(?:[eE][+-]?[0-9]+)?"
"""A grade cell written as a decimal (``2.0``, ``2,0``, ``2.00E+00``): :func:`parse_grade`
reads it when its value is a whole number. No backslash, quote, ``$`` or backquote: the
1-based fix's shell command (:func:`data_prep.validate.shift_grades_command`) embeds both
patterns, so that it shifts exactly the cells this module reads as grades."""


def parse_grade(raw: str) -> int | None:
    """An integer grade from a CSV cell (``'2'``, ``' 2 '``, ``'2.0'``, ``'2,0'``), else None.

    Only a plain numeral is read: ASCII digits with an optional sign, one decimal point or
    comma (European spreadsheets) and an exponent as a spreadsheet writes it (``2.00E+00``),
    whose value is a whole number. Python's ``float`` would also take ``'1_0'`` (10),
    ``'0_2'`` (2), ``'inf'`` or other scripts' digits; such a cell is no grade (the ingest
    quotes it as written)."""
    text = raw.strip().strip('"').strip()
    if re.fullmatch(GRADE_INTEGER, text):
        return int(text)
    if not re.fullmatch(GRADE_NUMERAL, text):
        return None
    value = float(text.replace(",", "."))  # a decimal comma (European spreadsheets)
    return int(value) if value.is_integer() else None
