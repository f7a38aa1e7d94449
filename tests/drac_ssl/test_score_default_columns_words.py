"""A DDR reviewer (F5): ``export --score ... --labels plain.csv`` of a fundus set said ``Labels:
columns 'image name' (image) and 'DR grade' (grade), the DRAC layout's``; those are the label
CSV's default columns, said so."""

from __future__ import annotations

from pathlib import Path

from drac_ssl import scoring


def test_the_default_columns_are_not_called_the_drac_layouts(tmp_path: Path) -> None:
    grades = [0, 1, 2, 3, 4, 0, 1, 2]
    cases = [f"007-{i:04d}-000.jpg" for i in range(len(grades))]
    labels = tmp_path / "plain.csv"
    labels.write_text("image name,DR grade\n" + "".join(f"{c},{g}\n" for c, g in zip(cases, grades, strict=True)))
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"{c},{g}," + ",".join("0.6" if k == g else "0.1" for k in range(5)) + "\n"
        for c, g in zip(cases, grades, strict=True)))
    record = scoring.score(sub, labels, n_boot=20)
    (line,) = [li for li in scoring.score_lines(record) if li.startswith("Labels:")]
    assert "columns 'image name' (image) and 'DR grade' (grade), the default columns;" in line, line
    assert "DRAC" not in line, line
