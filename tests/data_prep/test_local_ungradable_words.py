"""Local words for an ungradable image (review intl F5): ``k.A.``, ``nicht beurteilbar`` and
``non gradable`` among grades all written as numbers, or with ``--ungradable leave_out``, were
told to "pass every grade's name with --grades"; the fix now leads with writing NA in those
rows, which is what they mean."""

from __future__ import annotations

from pathlib import Path

from data_prep import validate
from drac_ssl.config import GRADE_SCALES

ICDR = GRADE_SCALES["icdr"]


def labels(tmp_path: Path, grades: list[str]) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("Bild;Stufe\n" + "".join(f"img{i:02d}.png;{g}\n" for i, g in enumerate(grades)),
                    encoding="utf-8-sig")
    return path


def word_fixes(path: Path, ungradable: str = "error") -> dict[str, str]:
    _, problems = validate.read_labels(path, "Bild", "Stufe", grade_names=ICDR, ungradable=ungradable,
                                       scale_given=True)
    return {p.what.split("'")[1]: p.fix for p in problems if p.severity == "error" and "not an integer" in p.what}


def test_words_beside_every_grade_as_a_number_lead_with_na(tmp_path: Path) -> None:
    path = labels(tmp_path, ["0", "1", "2", "3", "4", "k.A.", "nicht beurteilbar", "3", "non gradable"])
    fixes = word_fixes(path)
    assert set(fixes) == {"k.A.", "nicht beurteilbar", "non gradable"}, fixes
    for fix in fixes.values():
        assert fix.startswith("if 'k.A.' and 'nicht beurteilbar' and 'non gradable' mark ungradable images "
                              "(the CSV writes every grade, 0 to 4, as a number), write NA (or leave the "
                              "cell empty) in those rows and rerun with --ungradable leave_out"), fix
        assert "; else if 'k.A.' and 'nicht beurteilbar' and 'non gradable' name grades, pass every" in fix


def test_under_leave_out_a_word_leads_with_na_even_with_grades_missing(tmp_path: Path) -> None:
    path = labels(tmp_path, ["0", "1", "2", "k.A.", "", "NA"])
    (fix,) = word_fixes(path, "leave_out").values()
    assert fix.startswith("if 'k.A.' marks ungradable images, write NA (or leave the cell empty) in those "
                          "rows, which --ungradable leave_out then leaves out with their images; else "), fix


def test_a_word_that_may_be_a_grade_name_keeps_its_fix(tmp_path: Path) -> None:
    """Grades missing, ungradable rows an error: the word may name one of them (unchanged)."""
    path = labels(tmp_path, ["0", "1", "2", "Referable"])
    (fix,) = word_fixes(path).values()
    assert fix.startswith("if 'Referable' names a grade, pass every grade's name with --grades"), fix
    # a misspelt name of the scale is a misspelling, never an ungradable image
    path = labels(tmp_path, ["0", "1", "2", "3", "4", "Sever"])
    (fix,) = word_fixes(path).values()
    assert fix.startswith("a misspelt grade name? 'Sever'"), fix
