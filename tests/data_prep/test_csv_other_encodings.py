"""Label CSVs saved by Chinese, Japanese or Mac Excel (review intl F2): not UTF-8, they were read
as Windows-1252 by a guess, their names garbled (``ÕÅÈý_01.png`` for GBK ``张三_01.png``), and
the errors then suggested garbled column names nobody can type (``--image-column 'Í¼Ïñ'``).
Now the encoding whose names match the folder is taken (with a note), and where none matches
the errors name the file's encoding as the likely cause."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, validate
from drac_ssl.config import DataConfig


def folder(root: Path, names: list[str], header: str, encoding: str, newline: str = "\r\n",
           csv_names: list[str] | None = None) -> Path:
    """Small distinct JPEGs ``names`` graded ``i % 3`` (the DRAC scale), a label CSV ``header`` naming
    ``csv_names`` (default ``names``) in ``encoding``."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for name in names:
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((48, 48), Image.Resampling.BILINEAR).save(root / name)
    rows = [f"{n},{i % 3}" for i, n in enumerate(csv_names or names)]
    (root / "labels.csv").write_bytes(newline.join([header, *rows, ""]).encode(encoding))
    return root


def images(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix == ".jpg")


def test_a_gbk_csv_is_read_as_gbk_when_its_names_match_the_folder(tmp_path: Path) -> None:
    names = [f"张三_{i:02d}.jpg" if i % 2 else f"eye_{i:02d}.jpg" for i in range(20)]
    root = folder(tmp_path / "d", names, "image name,DR grade", "gbk")
    result = ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                   grades=["drac"]), tmp_path / "out", verbose=False)
    said = [n for n in result.notes if "not UTF-8" in n]
    assert len(said) == 1 and "read as GBK / GB18030 (Chinese Excel)" in said[0], result.notes
    assert "(10 match; read as Windows-1252, 0)" in said[0], said[0]
    assert "张三_01.jpg" in (tmp_path / "out" / "manifest.csv").read_text(encoding="utf-8")


def test_a_mac_roman_csv_with_cr_line_ends_is_read_as_mac_roman(tmp_path: Path) -> None:
    names = [f"Léa_Öztürk_{i:02d}.jpg" for i in range(6)]
    root = folder(tmp_path / "d", names, "image name,DR grade", "mac_roman", newline="\r")
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade",
                                           images=images(root))
    assert table is not None and not [p for p in problems if p.severity == "error"], problems
    assert [r.name for r in table.rows] == names
    assert table.encoding == "mac_roman"
    assert any("read as Mac Roman" in p.what for p in problems), problems


def test_a_real_windows_1252_csv_stays_windows_1252(tmp_path: Path) -> None:
    names = [f"Müller_{i:02d}.jpg" for i in range(6)] + ["Straße_00.jpg", "François_00.jpg"]
    root = folder(tmp_path / "d", names, "image name,DR grade", "cp1252")
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade",
                                           images=images(root))
    assert table is not None and table.encoding == "cp1252"
    assert [r.name for r in table.rows] == names
    assert any("read as Windows-1252" in p.what for p in problems), problems


def test_a_gbk_header_is_never_offered_garbled(tmp_path: Path) -> None:
    """ASCII names, a GBK header ``图像;分级``: no encoding is told by the names; the errors say
    the file's encoding is the likely cause, not ``--image-column 'Í¼Ïñ'``."""
    names = [f"img{i:02d}.jpg" for i in range(6)]
    root = folder(tmp_path / "d", names, "图像,分级", "gbk")
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade",
                                           images=images(root))
    assert table is None
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 2, problems
    for problem in errors:
        assert "the CSV is not UTF-8 and was read as Windows-1252" in problem.what, problem.what
        assert problem.fix.startswith("save the CSV as 'CSV UTF-8'"), problem.fix
        assert "Í¼Ïñ" not in problem.fix and "did you mean" not in problem.fix, problem.fix


def test_garbled_names_without_a_match_name_the_encoding(tmp_path: Path) -> None:
    """A GBK CSV whose Chinese names match no file under any encoding (the images renamed):
    each label without image says the file's encoding, not only 'add the image'."""
    names = [f"eye_{i:02d}.jpg" for i in range(6)]
    root = folder(tmp_path / "d", names, "image name,DR grade", "gbk",
                  csv_names=[f"张三_{i:02d}.jpg" if i == 1 else n for i, n in enumerate(names)])
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade",
                                           images=images(root))
    assert table is not None and table.encoding == "cp1252"
    _, matched, _ = validate.match_labels(images(root), table, root)
    (missing,) = [p for p in matched if p.kind == "no-image"]
    assert "ÕÅÈý_01.jpg" in missing.what and "the CSV is not UTF-8" in missing.what, missing.what
    assert missing.fix.startswith("save the CSV as 'CSV UTF-8'"), missing.fix


def test_a_real_windows_1252_header_keeps_its_column_suggestion(tmp_path: Path) -> None:
    """Review (intl2) F2a: a legitimate Windows-1252 header (``Bild;Größe``, French ``Degré``)
    and a mistyped --grade-column lost main's ``did you mean 'Größe'?``: the fix was only to
    save the file as UTF-8. The suggestion leads again, the encoding a second thought."""
    names = [f"img{i:02d}.jpg" for i in range(6)]
    for header, typed, meant in [("Bild,Größe", "Groesse", "Größe"), ("Image,Degré", "Degree", "Degré")]:
        root = folder(tmp_path / typed, names, header, "cp1252")
        table, problems = validate.read_labels(root / "labels.csv", header.split(",")[0], typed,
                                               images=images(root))
        assert table is None
        (problem,) = [p for p in problems if p.severity == "error"]
        assert problem.fix.startswith(f"did you mean {meant!r}? pass --grade-column {meant!r}; "
                                      "if that name looks garbled, save the CSV as 'CSV UTF-8'"), problem.fix
        assert "not UTF-8" not in problem.what, problem.what


def test_garbled_column_names_are_told_from_written_ones() -> None:
    """What keeps a GBK / Shift-JIS header read as Windows-1252 from being offered: symbols
    among the letters, no ASCII letter, or a name given that is no Windows-1252 text."""
    from data_prep.labels import _readable_guess

    for written in ("Größe", "Degré", "Stärke", "Bild"):
        assert _readable_guess(written, "Groesse", "cp1252"), written
    for garbled in ("Í¼Ïñ", "·Ö¼¶", "ÕÅÈý", "‰æ‘œ"):
        assert not _readable_guess(garbled, "image name", "cp1252"), garbled
    assert not _readable_guess("Größe", "图像", "cp1252")


def test_a_real_windows_1252_csv_with_images_missing_blames_no_encoding(tmp_path: Path) -> None:
    """Review (intl2) F2b: a correct Windows-1252 CSV with some images missing said on every
    missing row that the file's encoding may be the cause, though its other non-ASCII names
    matched their files in that very reading."""
    names = [f"Müller_{i:02d}.jpg" for i in range(8)]
    root = folder(tmp_path / "d", names, "image name,DR grade", "cp1252")
    for gone in names[1::2]:
        (root / gone).unlink()
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade",
                                           images=images(root))
    assert table is not None and table.encoding == "cp1252" and table.names_matched == 4
    _, matched, _ = validate.match_labels(images(root), table, root)
    missing = [p for p in matched if p.kind == "no-image"]
    assert len(missing) == 4, matched
    for problem in missing:
        assert "not UTF-8" not in problem.what and problem.fix.startswith("add the image"), problem


def test_a_windows_1252_csv_naming_every_file_is_read_once(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The guess names every non-ASCII file and holds every column: no other encoding can
    match more, so none is read (five extra reads of the file before)."""
    from data_prep import labels

    names = [f"Straße_{i:02d}.jpg" for i in range(6)]
    root = folder(tmp_path / "d", names, "image name,DR grade", "cp1252")
    reads: list[str] = []
    real = labels.read_table
    def counted(path: Path, wanted=(), encoding: str = ""):  # type: ignore[no-untyped-def]
        reads.append(encoding)
        return real(path, wanted, encoding)

    monkeypatch.setattr(labels, "read_table", counted)
    monkeypatch.setattr(validate, "read_table", counted)
    table, _ = validate.read_labels(root / "labels.csv", "image name", "DR grade", images=images(root))
    assert table is not None and table.encoding == "cp1252"
    assert reads == [""], reads


def test_the_changed_grades_of_an_edited_gbk_csv_read_it_as_the_ingest_did(tmp_path: Path) -> None:
    """Review (intl2) F2c: after an edit, the changed-grades reader (source_check) read the
    label CSV without the folder's images, so a GBK file the ingest read as GBK (its names
    matching the folder) was read there as Windows-1252: no row named an ingested image and the
    changed grade went unnamed. The ingest records the encoding taken; the reader uses it."""
    from data_prep.source_check import grade_differences

    names = [f"张三_{i:02d}.jpg" for i in range(12)]
    root = folder(tmp_path / "d", names, "image name,DR grade", "gbk")
    out = tmp_path / "out"
    ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                          grades=["drac"]), out, verbose=False)
    summary = json.loads((out / "ingest_summary.json").read_text(encoding="utf-8"))
    assert summary["labels_csv_encoding"] == "gb18030", summary["labels_csv_encoding"]
    csv_path = root / "labels.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace("张三_02.jpg,2".encode("gbk"), "张三_02.jpg,0".encode("gbk")))
    assert grade_differences(out) == ["张三_02.jpg (line 4): 2 -> 0"]
    # an ingest from before the record: the dialect's tail tells the same
    del summary["labels_csv_encoding"]
    (out / "ingest_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    assert grade_differences(out) == ["张三_02.jpg (line 4): 2 -> 0"]


def test_scoring_reads_a_gbk_csv_whose_header_names_the_columns_given(tmp_path: Path) -> None:
    """The scorer has no folder to tell the encoding by, but the Chinese column names given
    (--image-column 图像) match the GBK header, read as Windows-1252 'Í¼Ïñ' before."""
    from drac_ssl.scoring import read_grade_labels

    path = tmp_path / "truth.csv"
    path.write_bytes("图像,分级\r\n张三_01.png,1\r\n李四_02.png,0\r\n".encode("gbk"))
    rows = read_grade_labels(path, ["a", "b", "c"], image_column="图像", grade_column="分级")
    assert rows.names == ["张三_01.png", "李四_02.png"] and rows.grades == [1, 0]


def test_the_encodings_tried_are_each_one_constant() -> None:
    """A final read, D6: the guessed encodings were restated in decode_text (its candidates, its
    note), not_utf8_words and reread_matching's note, and convmv's list restated NAME_ENCODINGS;
    each is read from its one constant now."""
    from data_prep import labels, layout

    assert labels.GUESSED_ENCODINGS == ("cp1252", "latin-1") == tuple(labels.GUESSED_ENCODING_WORDS)
    text, encoding, said = labels.decode_text("Größe,1\n".encode("cp1252"), Path("l.csv"))
    assert (text, encoding) == ("Größe,1\n", "cp1252") and "read as Windows-1252" in said[0].what
    assert "read as Latin-1" in labels.not_utf8_words("latin-1")
    assert layout.CONVMV_CANDIDATES.split(", ") == [layout.CONVMV_NAMES.get(c, c) for c, _ in layout.NAME_ENCODINGS]
