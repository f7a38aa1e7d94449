"""A label CSV from Chinese Excel (GBK, ASCII header ``image,grade``, Chinese image names)
given to ``export --score``: its encoding is a guess, and with an ASCII header only the image
names can tell GBK from Windows-1252. The names are matched against the submission's cases,
as the ingest matches them against the folder's images; before, ``张三_01.png`` was read as
``ÕÅÈý_01.png`` and no case paired."""

from __future__ import annotations

from pathlib import Path

from drac_ssl import scoring


def _gbk_pair(tmp_path: Path) -> tuple[Path, Path, list[int]]:
    names = [f"{who}_{i:02d}.png" for who in ("张三", "李四", "王五") for i in range(1, 5)]
    grades = [i % 3 for i in range(len(names))]
    labels = tmp_path / "labels.csv"
    labels.write_bytes(("image,grade\n" + "".join(f"{n},{g}\n" for n, g in zip(names, grades, strict=True)))
                       .encode("gbk"))
    lines = ["case,class,P0,P1,P2"] + [f"{n},{g}," + ",".join("0.8" if k == g else "0.1" for k in range(3))
                                       for n, g in zip(names, grades, strict=True)]
    sub = tmp_path / "team.csv"
    sub.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sub, labels, grades


def test_a_gbk_label_csv_with_an_ascii_header_pairs_the_submissions_cases(tmp_path: Path) -> None:
    sub, labels, grades = _gbk_pair(tmp_path)
    result = scoring.score(sub, labels, n_boot=10, image_column="image", grade_column="grade")
    assert result["n"] == len(grades), result
    assert result["accuracy"] == 1.0, result
    assert any("GBK" in line for line in result["label_notes"]), result["label_notes"]


def test_read_grade_labels_reads_gbk_names_given_the_cases(tmp_path: Path) -> None:
    sub, labels, _ = _gbk_pair(tmp_path)
    cases = [line.split(",")[0] for line in sub.read_text(encoding="utf-8").splitlines()[1:]]
    rows = scoring.read_grade_labels(labels, scoring.scale_names(3), image_column="image",
                                     grade_column="grade", cases=cases)
    assert list(rows.names) == cases, rows.names
