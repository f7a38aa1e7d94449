"""A long fix shared by many printed lines is printed once (review intl, minor): ten rows of
word grades each repeated the same ~700-character --grades advice."""

from __future__ import annotations

from data_prep.problems import LONG_FIX, error, format_problems, note


def test_a_long_fix_said_again_points_at_the_first_line() -> None:
    long_fix = "pass every grade's name with --grades ... " + "x" * LONG_FIX
    problems = [error(f"/d/labels.csv:{n}", f"grade 'w{n}' is no grade", long_fix, "grade") for n in (5, 6, 9)]
    problems += [error("/d/other.csv:2", "grade 'w' is no grade", long_fix, "grade"),
                 error("/d/labels.csv:11", "short", "delete the row", "grade"),
                 error("/d/labels.csv:12", "short", "delete the row", "grade"),
                 note("/d/labels.csv", "read as semicolon-separated", "nothing to do")]
    printed = format_problems(problems).splitlines()
    assert printed.count(f"  /d/labels.csv:5: grade 'w5' is no grade -> {long_fix}") == 1, printed
    assert "  /d/labels.csv:6: grade 'w6' is no grade -> as for line 5 above" in printed, printed
    assert "  /d/labels.csv:9: grade 'w9' is no grade -> as for line 5 above" in printed, printed
    assert "  /d/other.csv:2: grade 'w' is no grade -> as for /d/labels.csv:5 above" in printed, printed
    assert sum(line.endswith("-> delete the row") for line in printed) == 2  # a short fix: said again
    assert sum(long_fix in line for line in printed) == 1
