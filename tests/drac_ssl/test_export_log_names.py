"""``python -m drac_ssl.export --log-names tag`` (a hospital security officer's trial, F8): the
export printed patient file names on its console, which a hospital's shared logs keep. With
``tag`` no console line names a file: each name is said as ``[name 1a2b3c4d]`` (the first 8
hex digits of its SHA-256, the app's log digest); the written CSVs and records still name every
case. ``full`` (the default) prints the names as before.

An untrained demo bundle grades (no run to train); CPU, seconds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.commands import export_early, export_log_names, export_parser
from drac_ssl.name_tags import NameTagger, name_digest, name_tag, tagged_console

GOOD = "Smith_John_OD.png"
BLANK = "Doe_Jane_12345678.png"  # a record number in the name: blank, so skipped
TRUNCATED = "Brown_Ann.png"
ODD = "Black, Jack.png"  # cannot be a case: the fix suggests Black_Jack.png
TEXT = "notes_Green_Tom.txt"
SUBFOLDER = "patient_White_Bob"
NAMES = (GOOD, BLANK, TRUNCATED, ODD, TEXT, SUBFOLDER)
# what must not reach the console in any form: the names, their patients, the suggested rename
SECRETS = ("Smith", "John", "Doe_Jane", "12345678", "Brown", "Black", "Jack", "Green", "White_Bob")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=48,
                             n_folds=1)


def _png(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", pixels)  # imwrite cannot take every name
    assert ok
    return data.tobytes()


def _scan(seed: int) -> np.ndarray:
    """A grey 64 px picture with structure (neither blank nor noise)."""
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64)), axis=0), axis=1)
    smooth -= smooth.min()
    return (255 * smooth / smooth.max()).astype(np.uint8)


def _clinic(folder: Path) -> Path:
    """A clinic folder whose every kind of entry the console would name: a graded image, a
    blank one, a truncated PNG, a name that cannot be a case, a text file and a sub-folder."""
    folder.mkdir(parents=True)
    (folder / GOOD).write_bytes(_png(_scan(0)))
    (folder / ODD).write_bytes(_png(_scan(1)))
    (folder / BLANK).write_bytes(_png(np.zeros((64, 64), np.uint8)))
    (folder / TRUNCATED).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (folder / TEXT).write_text("Patient Green Tom, seen today\n")
    (folder / SUBFOLDER).mkdir()
    (folder / SUBFOLDER / "OD.png").write_bytes(_png(_scan(2)))
    return folder


def _grade(bundle_dir: Path, folder: Path, out: Path, capsys: pytest.CaptureFixture[str],
           *more: str) -> tuple[int, str]:
    code = export.main([str(bundle_dir), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable", *more])
    said = capsys.readouterr()
    return code, said.out + said.err


def test_tag_names_no_file_on_the_console_and_the_csvs_still_name_the_cases(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _clinic(tmp_path / "clinic")
    out = tmp_path / "grades.csv"
    code, console = _grade(bundle_dir, folder, out, capsys, "--log-names", "tag")
    assert code == export.EXIT_SKIPPED
    for secret in SECRETS:
        assert secret not in console, (secret, console)
    # each file's lines carry its tag: the skipped ones, the text file, the sub-folder
    for name in (BLANK, TRUNCATED, ODD, TEXT, SUBFOLDER):
        assert name_tag(name) in console, name
    assert f"skipped: {folder}/{name_tag(TRUNCATED)}: a truncated PNG" in console
    assert "INCOMPLETE: 3 of the 4 file(s) not graded" in console  # the lines themselves stay
    # the written files name the cases, as they must
    with open(out, newline="", encoding="utf-8") as fh:
        assert [row["case"] for row in csv.DictReader(fh)] == [GOOD]
    record = export.skipped_record_path(out).read_text(encoding="utf-8")
    assert all(name.replace('"', '\\"') in record for name in (BLANK, TRUNCATED, ODD))
    assert sys.stdout is not None and "TaggingStream" not in type(sys.stdout).__name__  # restored


def test_full_is_the_default_and_names_every_file_as_before(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _clinic(tmp_path / "clinic")
    code, console = _grade(bundle_dir, folder, tmp_path / "grades.csv", capsys)
    assert code == export.EXIT_SKIPPED
    for name in (BLANK, TRUNCATED, ODD, TEXT, SUBFOLDER):
        assert name in console, name
    assert "rename it, e.g. to Black_Jack.png" in console and "[name " not in console
    code, again = _grade(bundle_dir, folder, tmp_path / "again.csv", capsys, "--log-names", "full")
    assert code == export.EXIT_SKIPPED and TRUNCATED in again


def test_tag_covers_a_refusal_check_and_score_too(bundle_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Without --skip-unreadable an unreadable file is an error (exit 2) listing it; --check
    lists the image without a row; --score the label that names no case: none names a file with
    tag, each does without."""
    folder = _clinic(tmp_path / "clinic")
    for mode, shown in (("tag", False), ("full", True)):
        code = export.main([str(bundle_dir), "--images", str(folder), "--out", str(tmp_path / "x.csv"),
                            "--log-names", mode])
        said = capsys.readouterr()
        assert code == 2 and "error:" in said.err
        assert (ODD in said.err) is shown and ("Black" in said.err) is shown

    graded = tmp_path / "graded"
    graded.mkdir()
    for seed, name in enumerate((GOOD, "Lee_Kim_OS.png")):
        (graded / name).write_bytes(_png(_scan(seed)))
    out = tmp_path / "g.csv"
    assert export.main([str(bundle_dir), "--images", str(graded), "--out", str(out)]) == 0
    capsys.readouterr()
    lines = out.read_text(encoding="utf-8").splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(line for line in lines if "Lee_Kim" not in line) + "\n", encoding="utf-8")
    for mode, shown in (("tag", False), ("full", True)):
        code = export.main(["--check", str(short), "--images", str(graded), "--log-names", mode])
        said = capsys.readouterr()
        assert code == 1
        assert ("Lee_Kim" in said.out + said.err) is shown, said
        assert (name_tag("Lee_Kim_OS.png") in said.out + said.err) is not shown

    labels = tmp_path / "labels.csv"
    labels.write_text(f"image name,DR grade\n{GOOD},0\nLee_Kim_OS.png,1\nStray_Patient_Ng.png,2\n", encoding="utf-8")
    for mode, shown in (("tag", False), ("full", True)):
        # the installed command's early path (no torch) scores, and exits there
        with pytest.raises(SystemExit) as ended:
            export_early(["--score", str(out), "--labels", str(labels), "--log-names", mode])
        said = capsys.readouterr()
        assert ended.value.code == 2 and "no case" in said.err, said.err
        assert ("Stray_Patient_Ng" in said.err) is shown, said.err


def test_the_tagger_replaces_whole_names_only() -> None:
    tagger = NameTagger(["1.png", "scan 7.png", "7", "Müller.png", "line\nbreak.png", "2024"])
    tag = name_tag("1.png")
    assert tagger("graded 1.png, 11.png and x1.png") == f"graded {tag}, 11.png and x1.png"
    assert tagger("`scan 7.png`: blank") == f"`{name_tag('scan 7.png')}`: blank"
    assert tagger("7 of 9 images") == "7 of 9 images"  # a short number is no name
    assert tagger("QWK 0.2024, 2024.png, 2024") == f"QWK 0.2024, {name_tag('2024')}.png, {name_tag('2024')}"
    assert tagger("/d/Müller.png: x") == f"/d/{name_tag('Müller.png')}: x"
    assert tagger("line\\nbreak.png: x") == f"{name_tag('line' + chr(10) + 'break.png')}: x"  # as printed
    assert NameTagger([])("any text") == "any text"


def test_the_tag_is_the_app_logs_digest() -> None:
    """One file's tag is the same in the export's console and the app's server log."""
    from app.server import name_tag as app_tag

    name = "Doe, Jane OD.png"
    assert name_digest(name) == hashlib.sha256(name.encode()).hexdigest()[:8]
    assert name_tag(name) == f"[name {name_digest(name)}]" and app_tag(name) == f"image {name_digest(name)}"


def test_the_console_is_restored_and_full_tags_nothing(tmp_path: Path) -> None:
    before = sys.stdout, sys.stderr
    buf = io.StringIO()
    with pytest.raises(SystemExit):
        with tagged_console(["secret.png"]):
            sys.stderr = buf  # swapped inside: still restored
            raise RuntimeError("no secret.png")
    assert (sys.stdout, sys.stderr) == before
    assert "RuntimeError: no secret.png" in buf.getvalue()  # a stream swapped in is its own
    args = export_parser().parse_args(["RUN", "--images", str(tmp_path)])
    assert args.log_names == "full" and export_log_names(args) is None
    (tmp_path / "Kim.png").write_bytes(b"")
    args = export_parser().parse_args(["RUN", "--log-names", "tag"])
    names = export_log_names(args, lambda where: ([f"case_of_{where}.png"], tmp_path))
    assert names == {"case_of_RUN.png"}  # RUN --variant NAME without --images: the ingest's test cases
    args = export_parser().parse_args(["RUN", "--images", str(tmp_path), "--log-names", "tag"])
    assert export_log_names(args) == {"Kim.png"}


def test_the_deploying_page_says_the_option_and_its_limit() -> None:
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(
        encoding="utf-8").split())
    assert "add `--log-names tag`" in page and name_tag("x").startswith("[name ")
    assert "`[name 1a2b3c4d]` instead of each file name" in page
    assert "can confirm a guess by hashing it" in page and "The default is `full`" in page
    assert "--log-names" in " ".join(export_parser().format_help().split())


def test_a_bug_s_traceback_is_tagged_too(bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception's message may name a file: with tag its traceback is printed
    inside the tagged console (exit 1, as Python's), not by Python after it, names and all."""
    folder = _clinic(tmp_path / "clinic")

    def broken(run: str, images_dir: Path, *args: object, **kwargs: object) -> int:
        raise TypeError(f"a bug on {images_dir / GOOD}")

    monkeypatch.setattr(export, "_predict_folder", broken)
    with pytest.raises(SystemExit) as ended:
        export.main([str(bundle_dir), "--images", str(folder), "--out", str(tmp_path / "g.csv"),
                     "--log-names", "tag"])
    said = capsys.readouterr()
    assert ended.value.code == 1 and "Traceback" in said.err and f"a bug on {folder}/{name_tag(GOOD)}" in said.err
    assert "Smith" not in said.err
    with pytest.raises(TypeError, match="Smith_John"):  # full: as before, the exception itself
        export.main([str(bundle_dir), "--images", str(folder), "--out", str(tmp_path / "g.csv")])
