"""A label CSV that writes its grades in its own words (an OCTA researcher's ``none`` /
``non-proliferative`` / ``proliferative``, columns ``Subject,Eye,ScanFile,Retinopathy``):
``none`` was read as "no grade" (every normal eye ungradable, and ``--ungradable leave_out``
dropped them all), ``non-proliferative`` was matched to PDR, its opposite, and the ``--grades``
that works was never suggested (``data_prep.validate.read_labels``, ``grade_words_fix``).

A review of that fix: a working CSV where ``none`` means "ungradable" (a referral cohort's
``NPDR``, ``PDR``, ``none``: no grade 0) then stopped the ingest, and the fix offered would make
those images grade 0. ``none`` is a grade's name only with no scale given and ungradable rows not
left out (``zero_words_named``), and its error then offers both readings."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from test_ingest import config, read_manifest, smooth_image, write_png

from data_prep import ingest, validate
from data_prep.problems import IngestError, as_config_keys
from drac_ssl.config import GRADE_SCALES, DataConfig

HEADER = ["Subject", "Eye", "ScanFile", "Retinopathy"]
WORDS = ["none", "non-proliferative", "proliferative"]
ICDR, DRAC = GRADE_SCALES["icdr"], GRADE_SCALES["drac"]


def octa_folder(root: Path, words: list[str]) -> Path:
    """A plain folder of 64 px scans, one per word (two eyes per subject), and its
    ``octa_grades.csv`` with the researcher's columns."""
    rows = []
    for i, word in enumerate(words):
        name = f"P{100 + i // 2}_{('OD', 'OS')[i % 2]}.png"
        write_png(root / name, smooth_image(i, 64))
        rows.append([f"P{100 + i // 2}", ("OD", "OS")[i % 2], name, word])
    with open(root / "octa_grades.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return root


def octa_config(root: Path, **overrides: object) -> DataConfig:
    return config(root, labels_csv=str(root / "octa_grades.csv"), image_column="ScanFile",
                  grade_column="Retinopathy", patient_column="Subject", **overrides)


def read(path: Path, names: tuple[str, ...] = DRAC, ungradable: str = "error"
         ) -> tuple[validate.LabelTable, list[validate.Problem]]:
    table, problems = validate.read_labels(path, "ScanFile", "Retinopathy", "Subject",
                                           grade_names=names, ungradable=ungradable)
    assert table is not None
    return table, problems


def test_the_researchers_words_give_three_grades_with_their_grades_fix_and_no_ungradable_row(
        tmp_path: Path) -> None:
    root = octa_folder(tmp_path / "scans", [w for w in WORDS for _ in range(4)])
    with pytest.raises(IngestError) as caught:
        ingest.run(octa_config(root), tmp_path / "out", verbose=False)
    message = str(caught.value)
    assert "an ungradable image?" not in message and "has no grade (" not in message, message
    # no PDR (nor any other grade) suggested for non-proliferative, no ICDR scale either
    assert "looks like" not in message and "--grades icdr" not in message, message
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert len(errors) == 4  # the 'none' rows; the other words are DRAC's NPDR and PDR
    first = errors[0]
    assert first.what == ("grade 'none' of P100_OD.png is read as a grade's name (no retinopathy), "
                          "not as an ungradable image, since the grade column writes its grades "
                          "as words; the scale (Normal, NPDR, PDR) has no grade of that name")
    assert first.fix.startswith(
        "the grade column's words ('none', 'non-proliferative', 'proliferative') look like your own "
        "grade names: pass them with --grades, grade 0 first, in order of severity as their names "
        "say: --grades \"none,non-proliferative,proliferative\" (data.grades=[none, "
        "non-proliferative, proliferative] for python -m drac_ssl.train)"), first.fix
    # the other reading comes second: 'none' as an image that could not be graded
    assert first.fix.endswith(
        "; or, if 'none' marks an image that could not be graded, write NA in its grade cell, or "
        "rerun with --ungradable leave_out (every row with no grade, 'none' included, is then left "
        "out with its image, listed in ingest_summary.json)"), first.fix
    assert first.fix.index("--grades") < first.fix.index("--ungradable leave_out")
    # python -m drac_ssl.train says the settings once each
    said = as_config_keys(first.fix)
    assert said.count("data.grades=[none, non-proliferative, proliferative]") == 1, said
    assert "--grades" not in said and "data.ungradable=leave_out" in said, said

    # following --ungradable leave_out takes 'none' as ungradable, as asked; the note that says
    # so names the --grades that would read it as grade 0 instead
    table, problems = read(root / "octa_grades.csv", ungradable="leave_out")
    assert [r.written for r in table.left_out] == ["none"] * 4
    assert not [p for p in problems if p.severity == "error"]

    # the fix works: three grades, every row read as its word's
    result = ingest.run(octa_config(root, grades=WORDS), tmp_path / "after", verbose=False)
    assert result.grade_names == tuple(WORDS)
    assert result.counts_per_grade == {0: 4, 1: 4, 2: 4}
    rows = {r["id"]: r["grade"] for r in read_manifest(result.manifest_path) if r["split"] == "train"}
    assert rows["P100_OD.png"] == "0" and rows["P102_OD.png"] == "1" and rows["P104_OD.png"] == "2"


def test_the_words_are_put_in_order_of_severity_or_said_to_be(tmp_path: Path) -> None:
    """First written proliferative, none, non-proliferative: the fix orders them by what their
    names mean; words of no known scale keep the order first written, and the fix says to put
    them in order of severity."""
    path = octa_folder(tmp_path / "a", ["proliferative", "none", "non proliferative"]) / "octa_grades.csv"
    fixes = {p.fix for p in read(path)[1] if p.severity == "error"}
    (fix,) = fixes
    assert '--grades "none,non proliferative,proliferative"' in fix, fix
    assert "in order of severity as their names say" in fix

    path = octa_folder(tmp_path / "b", ["stable", "none", "worse", "stable"]) / "octa_grades.csv"
    # the 'none' row's fix goes on with the ungradable reading; the other words' stops there.
    # No ready-made list in the order first written (a screening trial's R0, R2, R3, R1 was
    # offered ready to paste, and wrong): a template to fill in, mildest first
    (fix,) = {p.fix.split("; or, if 'none'")[0] for p in read(path)[1] if p.severity == "error"}
    assert '--grades "stable,none,worse"' not in fix and "data.grades=[stable, none, worse]" not in fix, fix
    assert ("one per grade in order of severity, grade 0 (the mildest) first; their order cannot be "
            "told from the words, and the order first written is not necessarily it: --grades "
            '"MILDEST,...,MOST SEVERE" (data.grades=[MILDEST, ..., MOST SEVERE] for python -m '
            "drac_ssl.train) with your 3 words in that order") in fix, fix
    assert "('stable', 'none', 'worse')" in fix  # the words themselves, to put in that order


def test_words_of_one_prefix_and_a_number_are_put_in_the_order_of_their_numbers(tmp_path: Path) -> None:
    """A screening programme's R0..R3 (first written R0, R2, R3, R1): the fix offered
    data.grades=[R0, R2, R3, R1], ready to paste and wrong. Words of one prefix and a number are
    sorted by their numbers, naturally (R10 after R2), with the words to check the order."""
    from data_prep.validate import numbered_order

    path = octa_folder(tmp_path / "r", ["R0", "R2", "R3", "R1"]) / "octa_grades.csv"
    (fix,) = {p.fix for p in read(path)[1] if p.severity == "error"}
    assert ('in the order of their numbers (R0 < R1 < R2 < R3: check that this is their order of '
            'severity): --grades "R0,R1,R2,R3" (data.grades=[R0, R1, R2, R3] for python -m '
            "drac_ssl.train)") in fix, fix
    assert "R0, R2, R3, R1]" not in fix and "R0,R2,R3,R1" not in fix
    assert numbered_order(["R2", "R10", "R1"]) == ["R1", "R2", "R10"]
    assert numbered_order(["Grade 2", "grade 1"]) == ["grade 1", "Grade 2"]  # one prefix, any case
    # not one prefix and a number each: no order offered
    assert numbered_order(["R0", "M1"]) is None and numbered_order(["R1", "R01"]) is None
    assert numbered_order(["R1", "mild"]) is None and numbered_order(["1", "2"]) is None


def test_none_among_numbers_or_beside_another_grade_0_word_is_still_an_ungradable_cell(
        tmp_path: Path) -> None:
    """A numeric ICDR column with 'none' cells: those rows are ungradable as before (an error
    naming --ungradable leave_out, or left out under it); so are they beside 'No DR', a grade-0
    word of their own."""
    path = octa_folder(tmp_path / "n", ["0", "1", "none", "2", "3", "4"]) / "octa_grades.csv"
    table, problems = read(path, ICDR)
    (bad,) = [p for p in problems if p.severity == "error"]
    assert bad.what == "P101_OD.png has no grade ('none'; an ungradable image?)"
    assert "--ungradable leave_out" in bad.fix
    table, problems = read(path, ICDR, ungradable="leave_out")
    assert [r.written for r in table.left_out] == ["none"]
    assert [p for p in problems if p.severity == "error"] == []

    path = octa_folder(tmp_path / "w", ["No DR", "Mild", "none", "PDR"]) / "octa_grades.csv"
    table, problems = read(path, ICDR, ungradable="leave_out")
    assert [r.written for r in table.left_out] == ["none"]
    assert [r.grade for r in table.rows] == [0, 1, 4]


def test_non_proliferative_is_npdr_on_drac_and_ambiguous_on_icdr() -> None:
    for word in ("non-proliferative", "Non proliferative", "nonproliferative", "NPDR",
                 "Non-proliferative DR"):
        assert validate.grade_from_name(word, DRAC) == 1, word
        assert validate.grade_from_name(word, ICDR) is None, word
        assert validate.ambiguous_grades(word, ICDR) == [1, 2, 3], word
    assert validate.ambiguous_grades("non-proliferative", DRAC) == []
    assert validate.grade_from_name("moderate non-proliferative", ICDR) == 2
    # a grade named by a long name takes the short name too
    assert validate.grade_from_name("NPDR", WORDS) == 1 and validate.grade_from_name("PDR", WORDS) == 2
    bad = validate.grade_problem("g.csv:3", "x.png", "non-proliferative", None, ICDR)
    assert bad is not None and bad.what == (
        "grade 'non-proliferative' of x.png is not an integer nor the name of one grade of the scale "
        "(No DR, Mild, Moderate, Severe, PDR): it could be grade 1 (Mild), 2 (Moderate) or 3 "
        "(Severe), so it is not read as any of them")


@pytest.mark.parametrize("word", ["non-proliferative", "nonprolifrative", "not proliferative",
                                  "Non-proliferative retinopathy", "no PDR"])
def test_a_word_is_never_suggested_as_the_grade_it_negates(word: str) -> None:
    """No suggestion is better than the opposite one: a grade's name behind non-, no- or not
    is never that grade's misspelling (nor, for non-proliferative, a grade of no retinopathy),
    whatever the scale in force; DRAC's NPDR may be suggested, it is what the word means."""
    opposite = {"PDR", "No DR", "no DR", "healthy"} - ({"No DR", "no DR"} if "PDR" in word else set())
    for scale in (ICDR, DRAC, ("no DR", "DR"), ("healthy", "PDR")):
        fix = validate.grade_words_fix([word], {0, 1}, scale)
        named = re.findall(rf"{re.escape(repr(word))} (?:looks like '([^']+)'|is grade \d+ \(([^)]+)\)"
                           rf"|for '([^']+)')", fix)
        assert not {n for found in named for n in found if n} & opposite, (scale, fix)
        assert "PDR" not in {n for found in named for n in found if n}, (scale, fix)


def test_misspellings_are_still_suggested_when_nothing_rules_them_out() -> None:
    assert validate.grade_words_fix(["sever"], {0}, ICDR).startswith(
        "a misspelt grade name? 'sever' for 'Severe' (grade 3)")
    fix = validate.grade_words_fix(["non-proliferativ"], {0, 2}, DRAC)
    assert fix.startswith("a misspelt grade name? 'non-proliferativ' for 'NPDR' (grade 1)"), fix
    fix = validate.grade_words_fix(["Non-proliferative retinopathy"], {0, 2}, DRAC)
    assert "'Non-proliferative retinopathy' for 'NPDR' (grade 1)" in fix, fix
    assert "misspelt" not in validate.grade_words_fix(["npdr"], {0}, ("no DR", "DR"))
    assert re.search(r"'sever' looks like 'Severe' \(grade 3\)",
                     validate.grade_words_fix(["sever"], {0, 1, 2}, DRAC))


def referral_folder(root: Path, words: list[str]) -> Path:
    """:func:`octa_folder` with each word on 3 rows, the CSV as ``grades.csv``' columns."""
    return octa_folder(root, [w for w in words for _ in range(3)])


@pytest.mark.parametrize(("words", "grades", "kept"), [
    (["NPDR", "PDR", "none"], ["drac"], {1: 3, 2: 3}),
    (["Mild", "Moderate", "Severe", "PDR", "none"], ["icdr"], {1: 3, 2: 3, 3: 3, 4: 3}),
    (["Mild", "Severe", "none"], ["Normal", "Mild", "Severe"], {1: 3, 2: 3}),
])
def test_none_stays_ungradable_when_the_scale_is_given(
        tmp_path: Path, words: list[str], grades: list[str], kept: dict[int, int]) -> None:
    """A referral cohort, or a DRAC subset in words with no Normal eye: under a scale given
    (--grades, a named scale included) that has no grade 'none', the 'none' rows are ungradable
    as before the own-words reading: left out under --ungradable leave_out (the ingest succeeds),
    an ungradable-row error naming that option otherwise; never a grade-0 name."""
    root = referral_folder(tmp_path / "d", words)
    result = ingest.run(octa_config(root, grades=grades, ungradable="leave_out"), tmp_path / "out",
                        verbose=False)
    assert [row.written for row, _ in result.left_out_ungradable] == ["none"] * 3
    assert {g: n for g, n in result.counts_per_grade.items() if n} == kept
    (left,) = [n for n in result.notes if "marked ungradable" in n]
    assert "3 rows marked ungradable (an empty or NA grade cell, or 'none')" in left, left
    assert "--grades" not in left  # the scale was given: no other reading is offered
    # nor does an empty grade 0's warning offer it: 'none' is no grade of the scale given
    assert not any("rows writing 'none'" in w or '--grades "none' in w for w in result.warnings), \
        result.warnings

    with pytest.raises(IngestError) as caught:
        ingest.run(octa_config(root, grades=grades), tmp_path / "err", verbose=False)
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert len(errors) == 3 and all("has no grade ('none'; an ungradable image?)" in p.what
                                    for p in errors), errors
    assert all("--ungradable leave_out" in p.fix and "read as a grade's name" not in p.what
               for p in errors)


def test_none_stays_ungradable_under_leave_out_without_a_scale(tmp_path: Path) -> None:
    """The review's case: NPDR, PDR and none, 3 rows each, --ungradable leave_out, no --grades:
    the 3 'none' rows are left out (the parent's rc 0), not a stop asking for --grades "none,...";
    the note says the other reading and its --grades, in case 'none' meant no retinopathy."""
    root = referral_folder(tmp_path / "d", ["NPDR", "PDR", "none"])
    result = ingest.run(octa_config(root, ungradable="leave_out"), tmp_path / "out", verbose=False)
    assert len(result.left_out_ungradable) == 3
    assert {g: n for g, n in result.counts_per_grade.items() if n} == {1: 3, 2: 3}
    (left,) = [n for n in result.notes if "marked ungradable" in n]
    assert left.endswith(
        "but if 'none' in this grade column of words names a grade (no retinopathy) rather than "
        "an image that could not be graded, pass --grades \"none,NPDR,PDR\" (data.grades=[none, "
        "NPDR, PDR] for python -m drac_ssl.train): its rows are then read as grade 0"), left
    # grade 0 is left without an image: its warning ties it to the 'none' rows just left out and
    # leads with the same reading, then the usual fix (review of a01d6f9, F4)
    (empty,) = [w for w in result.warnings if "grade 0 (Normal): no labelled image" in w]
    reading = left[left.index("but if 'none'") + len("but "):]
    assert ("grade 0 (Normal): no labelled image; the grading model never sees it; the 3 rows "
            "writing 'none' were left out as ungradable (--ungradable leave_out) -> " + reading
            + "; else check the label CSV") in empty, empty


def test_the_train_preflight_ties_an_empty_grade_0_to_the_none_rows_left_out(tmp_path: Path) -> None:
    """python -m drac_ssl.train's preflight says the ingest's empty-grade warning in settings:
    under data.ungradable=leave_out with no data.grades, the empty grade 0 names the 'none' rows
    left out and the data.grades that reads them as grade 0."""
    from drac_ssl import preflight
    from drac_ssl.config import load_config

    root = referral_folder(tmp_path / "d", ["NPDR", "PDR", "none"])
    cfg = load_config(None, [f"data.root={root}", f"data.labels_csv={root / 'octa_grades.csv'}",
                             "data.image_column=ScanFile", "data.grade_column=Retinopathy",
                             "data.patient_column=Subject", "data.ungradable=leave_out", "run.device=cpu"])
    (grades,) = [f for f in preflight.check(cfg, tmp_path / "run") if f.setting == "data.grades"]
    assert grades.severity == "warning"
    assert "the 3 rows writing 'none' were left out as ungradable (data.ungradable=leave_out)" in grades.what
    assert grades.fix.startswith(
        "if 'none' in this grade column of words names a grade (no retinopathy) rather than an image "
        "that could not be graded, pass data.grades=[none, NPDR, PDR]: its rows are then read as "
        "grade 0; else check the label CSV"), grades.fix


def test_empty_grades_adds_the_none_reading_only_to_an_empty_grade_0() -> None:
    """The reading is added where grade 0 has no image and its rows are not merely missing
    (--missing leave_out asks for their images instead); other empty grades keep their words."""
    from data_prep.grades import empty_grades

    said = ("the 3 rows writing 'none' were left out as ungradable (--ungradable leave_out)",
            "if 'none' ... names a grade, pass --grades \"none,NPDR,PDR\"")
    plain = empty_grades({0: 0, 1: 3, 2: 3}, DRAC)
    assert plain is not None
    assert empty_grades({0: 0, 1: 3, 2: 3}, DRAC, zero_left_out=said) == (
        f"{plain[0]}; {said[0]}", f"{said[1]}; else {plain[1]}")
    assert empty_grades({0: 3, 1: 0, 2: 3}, DRAC, zero_left_out=said) == empty_grades({0: 3, 1: 0, 2: 3}, DRAC)
    missing = empty_grades({0: 0, 1: 3, 2: 3}, DRAC, left_out={0: 2})
    assert empty_grades({0: 0, 1: 3, 2: 3}, DRAC, left_out={0: 2}, zero_left_out=said) == missing
    assert empty_grades({0: 3, 1: 3, 2: 3}, DRAC, zero_left_out=said) is None


def test_without_a_scale_or_leave_out_the_none_error_offers_both_readings(tmp_path: Path) -> None:
    """No scale given, ungradable rows an error: 'none' beside NPDR and PDR may be either; each
    'none' row's error leads with the --grades that names it (grade 0) and then says how to mark
    it ungradable instead; following either fix ingests."""
    root = referral_folder(tmp_path / "d", ["NPDR", "PDR", "none"])
    with pytest.raises(IngestError) as caught:
        ingest.run(octa_config(root), tmp_path / "err", verbose=False)
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert len(errors) == 3 and all("read as a grade's name (no retinopathy)" in p.what for p in errors)
    fix = errors[0].fix
    assert fix.startswith("the grade column's words ('NPDR', 'PDR', 'none') look like your own grade "
                          "names: pass them with --grades, grade 0 first, in order of severity as "
                          "their names say: --grades \"none,NPDR,PDR\""), fix
    assert "; or, if 'none' marks an image that could not be graded, write NA in its grade cell, or " \
           "rerun with --ungradable leave_out" in fix, fix

    named = ingest.run(octa_config(root, grades=["none", "NPDR", "PDR"]), tmp_path / "named",
                       verbose=False)
    assert named.counts_per_grade == {0: 3, 1: 3, 2: 3}
    left = ingest.run(octa_config(root, ungradable="leave_out"), tmp_path / "left", verbose=False)
    assert len(left.left_out_ungradable) == 3


def test_the_zero_word_rule() -> None:
    """zero_words_named, the one rule of the ingest and the scorer: 'none' of a column of words is
    a grade's name only with no scale given and ungradable rows not left out."""
    own = ["NPDR", "PDR", "none"]
    assert validate.zero_words_named(own, scale_given=False) == {"none"}
    assert validate.zero_words_named(own, scale_given=True) == frozenset()
    assert validate.zero_words_named(own, scale_given=False, leave_out=True) == frozenset()
    assert validate.zero_words_named(["NPDR", "PDR"], scale_given=False) == frozenset()
