"""File names that are not valid UTF-8 (review intl F6): an old Windows ZIP unpacked on Linux
leaves Latin-1 bytes (``M\\xfcller_00.png``), which Python lists as lone surrogates; the ingest
offered "did you mean M\\udcfcller_00.png?", a fix nobody can type. Now the folder scan says the
name is not UTF-8, shows its bytes and what they read as, and how to rename the folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest
from data_prep.layout import name_bytes, scan_image_folder, valid_utf8_name
from data_prep.problems import IngestError, format_problems
from drac_ssl.config import DataConfig

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                reason="the file system must take names that are not UTF-8")


def folder_with_latin1_names(root: Path) -> Path:
    root.mkdir()
    rng = np.random.default_rng(2)
    lines = [b"image name;DR grade"]
    for i in range(8):
        name = b"M\xfcller_%02d.png" % i if i < 3 else b"eye_%02d.png" % i
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((48, 48), Image.Resampling.BILINEAR)
        with open(os.fsencode(root) + b"/" + name, "wb") as fh:
            image.save(fh, "PNG")
        lines.append(name + b";%d" % (i % 3))  # the CSV in Windows-1252: Müller
    (root / "labels.csv").write_bytes(b"\r\n".join(lines) + b"\r\n")
    return root


def test_a_name_not_utf8_is_said_with_its_bytes_and_the_rename(tmp_path: Path) -> None:
    root = folder_with_latin1_names(tmp_path / "d")
    odd = os.fsdecode(b"M\xfcller_00.png")
    assert not valid_utf8_name(odd) and valid_utf8_name("Müller_00.png")
    assert name_bytes(odd) == "M\\xfcller_00.png"
    scan = scan_image_folder(root)
    assert len(scan.images) == 5  # the three are not read
    said = [p for p in scan.problems if "not valid UTF-8" in p.what]
    assert len(said) == 3 and all(p.kind == "non-image" for p in said)
    assert ("the file name is not valid UTF-8 (its bytes: M\\xfcller_00.png; Müller_00.png if read as "
            "Windows-1252)") in said[0].what, said[0].what
    assert said[0].fix.startswith(f"rename the files in UTF-8, e.g. the whole folder: convmv -f cp1252 "
                                  f"-t utf8 -r --notest {root}"), said[0].fix
    printed = format_problems(said)
    # review intl2 F6b: the line's path and 'as for ... above' in the bytes form too
    assert printed.count("convmv -f") == 1 and printed.count("-> as for M\\xfcller_00.png above") == 2, printed
    assert f"\n  {root}/M\\xfcller_00.png: the file name" in printed and "\udcfc" not in printed, printed


def test_the_ingest_offers_no_name_nobody_can_type(tmp_path: Path) -> None:
    root = folder_with_latin1_names(tmp_path / "d")
    with pytest.raises(IngestError) as stopped:
        ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                              grades=["drac"]), tmp_path / "out", verbose=False)
    errors = [p for p in stopped.value.problems if p.severity == "error"]
    assert len(errors) == 3 and all("not valid UTF-8" in p.what for p in errors), errors
    assert not any("did you mean" in p.fix or "\udcfc" in p.fix for p in stopped.value.problems)


def latin_folder(root: Path, names: list[bytes], rows: list[str] | None = None) -> Path:
    """A folder of small PNGs under the byte names ``names`` and a UTF-8 label CSV naming
    ``rows`` (graded ``i % 3``), when given, beside ``eye_NN.png`` images."""
    root.mkdir()
    rng = np.random.default_rng(4)
    files = [*names, *(b"eye_%02d.png" % i for i in range(6))]
    for name in files:
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        with open(os.fsencode(root) + b"/" + name, "wb") as fh:
            Image.fromarray(coarse).resize((48, 48), Image.Resampling.BILINEAR).save(fh, "PNG")
    cells = [*(rows or []), *(f"eye_{i:02d}.png" for i in range(6))]
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{c},{i % 3}\n" for i, c in enumerate(cells)),
                                     encoding="utf-8")
    return root


@pytest.mark.parametrize(("names", "codec", "reads"), [
    (["Größe_01.png", "Müller_02.png"], "cp437", "Größe_01.png if read as DOS"),  # an old ZIP tool
    (["张三_01.png", "李四_02.png"], "gbk", "张三_01.png if read as GBK"),
    (["田中_01.png"], "shift_jis", "田中_01.png if read as Shift-JIS"),
])
def test_the_rename_names_the_encoding_whose_reading_is_a_name(tmp_path: Path, names: list[str], codec: str,
                                                               reads: str) -> None:
    """Review (intl2) F6a: convmv's -f was the first encoding that decodes, almost always
    Windows-1252: DOS (cp437) 'Größe' and GBK names were told -f cp1252, and --notest would
    have renamed them to 'Gr”áe' / 'ÕÅÈý'. The encoding whose reading looks like a name is told."""
    python = {"gbk": "gbk", "cp437": "cp437", "shift_jis": "shift_jis"}[codec]
    root = latin_folder(tmp_path / "d", [n.encode(python) for n in names])
    said = [p for p in scan_image_folder(root).problems if "not valid UTF-8" in p.what]
    assert len(said) == len(names)
    assert any(reads in p.what for p in said), said
    assert said[0].fix.startswith(f"rename the files in UTF-8, e.g. the whole folder: convmv -f {codec} -t utf8 "
                                  f"-r --notest {root}"), said[0].fix


def test_a_label_row_naming_the_file_decides_the_encoding(tmp_path: Path) -> None:
    """DOS 'Straße' (Stra\\xe1e) also reads as a name in Windows-1252 ('Straáe'), which comes
    first; the label row 'Straße_00.png' says it was DOS."""
    root = latin_folder(tmp_path / "d", ["Straße_00.png".encode("cp437")], rows=["Straße_00.png"])
    (alone,) = [p for p in scan_image_folder(root).problems if "not valid UTF-8" in p.what]
    assert "convmv -f cp1252 " in alone.fix and "try -f cp437" in alone.fix, alone.fix
    with pytest.raises(IngestError) as stopped:
        ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                              grades=["drac"]), tmp_path / "out", verbose=False)
    (said,) = [p for p in stopped.value.problems if "not valid UTF-8" in p.what]
    assert "Straße_00.png if read as DOS (an old ZIP tool's), as a label row names it" in said.what, said.what
    assert "convmv -f cp437 -t utf8 -r --notest" in said.fix and "cp1252" not in said.fix, said.fix
    assert not [p for p in stopped.value.problems if p.kind == "no-image"], stopped.value.problems


def test_a_name_in_no_likely_encoding_says_so_and_the_dry_run(tmp_path: Path) -> None:
    root = latin_folder(tmp_path / "d", [b"\x80\x81\x82_01.png"])
    (said,) = [p for p in scan_image_folder(root).problems if "not valid UTF-8" in p.what]
    assert "the encoding it was written in is unknown" in said.what, said.what
    assert "--notest only shows the renames (a dry run, convmv's default)" in said.fix, said.fix
    assert "try -f cp1252, cp437, gbk, shift_jis, big5 in turn (convmv --list" in said.fix, said.fix
    assert said.path == f"{root}/\\x80\\x81\\x82_01.png", said.path


def test_a_patient_folder_not_utf8_is_said_so_and_not_written(tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD patient folder whose name is not valid UTF-8 (Images/M\\xfcller/): its
    images' paths crashed the manifest write (UnicodeEncodeError). It is said as a file name
    is, bytes shown readably, its images not read and its rows not labels without image."""
    from test_layouts import config, deepdrid_tree

    images, _, _ = deepdrid_tree(tmp_path, aptos)
    os.rename(os.fsencode(images / "3"), os.fsencode(images) + b"/M\xfcller")
    with pytest.raises(IngestError) as stopped:
        ingest.run(config(images.parent, n_folds=3), tmp_path / "out", verbose=False)
    errors = [p for p in stopped.value.problems if p.severity == "error"]
    assert len(errors) == 1, errors
    assert errors[0].path == f"{images}/M\\xfcller", errors[0].path
    assert errors[0].what.startswith("the folder name is not valid UTF-8 (its bytes: M\\xfcller; Müller if "
                                     "read as Windows-1252)"), errors[0].what
    assert "its images are not read" in errors[0].what and f"--notest {images} " in errors[0].fix
    assert "\udcfc" not in format_problems(stopped.value.problems)
