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


def test_the_extension_suggestions_read_gbk_stems_as_the_labels_are_read(tmp_path: Path) -> None:
    """A final read: the suggestions for cases without extension (label_image_names) read the
    label CSV by the guess alone, so a GBK CSV's Chinese stems showed garbled (``ÕÅÈý_01``) in
    the fix; they are read as read_grade_labels reads them, the submission's cases deciding."""
    sub, labels, _ = _gbk_pair(tmp_path)
    bare = [line.split(",")[0][:-len(".png")] for line in sub.read_text(encoding="utf-8").splitlines()[1:]]
    names = scoring.label_image_names(labels, bare, image_column="image", grade_column="grade")
    assert names["张三_01"] == "张三_01.png" and not any("Õ" in n for n in names), names
    # --score's fix for a submission whose cases lost their extension names them as written
    stripped = tmp_path / "bare.csv"
    stripped.write_text("\n".join(line.replace(".png,", ",", 1) for line in sub.read_text(encoding="utf-8")
                                  .splitlines()) + "\n", encoding="utf-8")
    try:
        scoring.score(stripped, labels, n_boot=10, image_column="image", grade_column="grade")
    except scoring.SubmissionCheckFailed as failed:
        said = "\n".join(str(p) for p in failed.problems)
    else:
        raise AssertionError("a submission without extensions was scored")
    assert "张三_01.png" in said and "ÕÅÈý" not in said, said
