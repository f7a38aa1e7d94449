"""``python -m drac_ssl.export RUN --images DIR`` as a hospital's nightly batch meets a clinic
folder (a hospital ML engineer's review): file names that cannot be cases, per-patient
sub-folders, a night without images, entries that are no image, broken links.

An untrained demo bundle grades (no run to train); CPU, seconds.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.submission import check_submission, printable_text

ODD = {  # a name that cannot be a case -> the name the fix suggests
    "a,b.png": "a_b.png",
    'x"y.png': "x_y.png",
    "line\nbreak.png": "line_break.png",
    " lead.png": "lead.png",
    "Doe, John_OD.jpg": "Doe_John_OD.jpg",
    "=cmd|calc.png": "cmd|calc.png",  # CSV formula injection: a formula in Excel
    "+1.png": "1_2.png",  # 1.png is there already
    "-x.png": "x.png",
    "@sum.png": "sum.png",
}


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=48,
                             n_folds=1)


def _scan(seed: int) -> np.ndarray:
    """A grey 64 px picture with structure (neither blank nor noise: nothing --skip-unreadable skips)."""
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64)), axis=0), axis=1)
    smooth -= smooth.min()
    return (255 * smooth / smooth.max()).astype(np.uint8)


def _write(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, _scan(seed))  # imwrite cannot take every name
    assert ok
    path.write_bytes(data.tobytes())
    return path


def _cases(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [row["case"] for row in csv.DictReader(fh)]


def test_names_that_cannot_be_cases_are_said_before_grading_and_skipped_with_a_safe_name(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """F1, F10: one odd name (``a,b.png``, ``x"y.png``, a line break, a leading space) threw the
    whole batch away with "case 1 ('a,b.png') contains a comma, quote or line break", no path, no
    fix, after grading every image; ``=cmd|calc.png`` was written as it is, a formula in a
    spreadsheet. Each is now said before any image is read (path, why, a safe name to rename it
    to); --skip-unreadable skips them with that fix in the record and grades the rest; renamed
    as said, every file is graded."""
    folder = tmp_path / "clinic"
    for seed, name in enumerate([*ODD, "1.png", "2.png"]):
        _write(folder / name, seed)
    out = tmp_path / "grades.csv"

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("an image was read before the names were said")

    monkeypatch.setattr(export, "read_image", never)
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic"], "nothing is written"
    assert (f"error: {len(ODD)} of the {len(ODD) + 2} file(s) cannot be graded (nothing written; "
            f"no image read or graded yet):") in err, err
    for name, safe in ODD.items():
        assert f"\n  {printable_text(str(folder / name))}: its name " in err, (name, err)
        assert f"-> rename it, e.g. to {safe}\n" in err, (safe, err)
    assert "line\\nbreak.png" in err and "\nbreak.png" not in err  # one line per file
    assert "starts with '='" in err and "formula" in err, err
    assert "add --skip-unreadable" in err.splitlines()[-1], err
    monkeypatch.undo()

    # --skip-unreadable: the rest graded; each odd name skipped, with its fix, in the record
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    captured = capsys.readouterr()
    assert _cases(out) == ["1.png", "2.png"]
    record = json.loads(export.skipped_record_path(out).read_text())
    assert {e["file"]: e["fix"] for e in record["skipped"]} == {
        name: f"rename it, e.g. to {safe}" for name, safe in ODD.items()}
    assert {e["path"] for e in record["skipped"]} == {str(folder / name) for name in ODD}  # as they are
    assert "named so that the name cannot be a case: rename them as said" in captured.out, captured.out

    # renamed as the record says: every file graded, the CSV complete and safe in a spreadsheet
    for entry in record["skipped"]:
        path = Path(entry["path"])
        path.rename(path.with_name(entry["fix"].split("e.g. to ", 1)[1]))
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)]) in (0, export.EXIT_FLAGGED)
    cases = _cases(out)
    assert sorted(cases) == sorted([*ODD.values(), "1.png", "2.png"])
    assert not [c for c in cases if c[0] in "=+-@"]
    assert check_submission(out, folder) == []


def test_per_patient_folders_sharing_image_names_get_a_command_that_copies_every_image(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F6: patA/OD.png and patB/OD.png were told "first rename the images that share a name"
    beside a command that did not rename: run as given, only one OD.png landed in the flat
    folder. The command now copies each image as SUBFOLDER_NAME when names are shared, so every
    image lands under a name of its own; it runs twice, and it never replaces a file of the
    flat folder by another (it fails naming it)."""
    images = tmp_path / "nightly"
    sources = {"patA_OD.png": "patA/OD.png", "patA_OS.png": "patA/OS.png",
               "patB_OD.png": "patB/OD.png", "pat C_OD.png": "pat C/OD.png"}
    for seed, rel in enumerate(sources.values()):
        _write(images / rel, seed)
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "first rename" not in err, err
    assert "each image is copied as SUBFOLDER_NAME" in err, err
    (command,) = [line.strip() for line in err.splitlines() if line.strip().startswith("mkdir -p ")]
    flat = images.with_name("nightly_flat")
    assert f"then run this command again with --images {shlex.quote(str(flat))}" in err, err
    for _ in range(2):  # a second run over the same copies passes
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stderr)
    assert sorted(p.name for p in flat.iterdir()) == sorted(sources)
    for name, rel in sources.items():
        assert (flat / name).read_bytes() == (images / rel).read_bytes(), name
    assert export.main([str(bundle_dir), "--images", str(flat), "--out", str(out)]) in (0, export.EXIT_FLAGGED)
    assert sorted(_cases(out)) == sorted(sources)
    # a file of the flat folder with other bytes is never replaced: the command fails on it
    other = (images / "patB" / "OD.png").read_bytes()
    (flat / "patA_OD.png").write_bytes(other)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "patA_OD.png: there already, not replaced" in done.stderr, done.stderr
    assert (flat / "patA_OD.png").read_bytes() == other


def test_the_copy_command_takes_a_test_folder_too_and_makes_names_the_export_grades(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review s58r3 F5: the printed copy command skipped a sub-folder named test/ (the ingest's
    plain layout reads it as the test split), so its images were lost to the export. F10: the
    renaming copy made names the export then refused (``-patC_OD.png``, a comma from a
    ``Doe, John/`` folder). Every sub-folder is copied now, and a SUBFOLDER that would make such
    a name is written as safe_case_name makes it: the copies are graded, each under its own name."""
    images = tmp_path / "night's scans"
    sources = {"patA_OD.png": "patA/OD.png", "test_OD.png": "test/OD.png",
               "patC_OD.png": "-patC/OD.png", "Doe_John_OD.png": "Doe, John/OD.png",
               "pat'B_OD.png": "pat'B/OD.png", "x=1_OD.png": "x=1/OD.png"}
    for seed, rel in enumerate(sources.values()):
        _write(images / rel, seed)
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "! -path './test/*'" not in err, err
    (command,) = [line.strip() for line in err.splitlines() if line.strip().startswith("mkdir -p ")]
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (command, done.stderr)
    flat = images.with_name(f"{images.name}_flat")
    assert sorted(p.name for p in flat.iterdir()) == sorted(sources)
    for name, rel in sources.items():
        assert (flat / name).read_bytes() == (images / rel).read_bytes(), name
    assert export.main([str(bundle_dir), "--images", str(flat), "--out", str(out)]) in (0, export.EXIT_FLAGGED)
    assert sorted(_cases(out)) == sorted(sources)


def test_a_folder_with_nothing_to_grade_exits_5_not_2(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F6: an empty folder exited 2, the code of a wrong command, though "no images tonight" is
    a normal night of a nightly job. A folder holding nothing that could be a case (empty, or
    only text files holding no image, empty sub-folders, hidden files) now exits
    EXIT_NO_IMAGES (5) with one NOTHING TO GRADE line, writes nothing and leaves an earlier CSV
    as it was (said); sub-folders holding images stay a wrong command (2). --help says 5."""
    from drac_ssl.commands import export_parser

    assert export.EXIT_NO_IMAGES == 5
    assert "5 nothing to grade" in export_parser().format_help().replace("\n", " ")
    empty = tmp_path / "tonight"
    empty.mkdir()
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(empty), "--out", str(out)]) == export.EXIT_NO_IMAGES
    captured = capsys.readouterr()
    assert captured.out.startswith(f"NOTHING TO GRADE: {empty} holds no image (.png, "), captured.out
    assert "(it is empty)" in captured.out and "error" not in captured.err, captured
    assert not out.exists()
    out.write_text("case,class,P0,P1,P2\nyesterday.png,0,1.0,0.0,0.0\n")
    (empty / "notes.txt").write_text("no clinic today")
    (empty / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (empty / "patA").mkdir()
    assert export.main([str(bundle_dir), "--images", str(empty), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_NO_IMAGES
    said = capsys.readouterr().out
    assert "it holds 3 other entries" in said and f"{out}, of an earlier export, is left as it was" in said, said
    assert _cases(out) == ["yesterday.png"]
    _write(empty / "patA" / "OD.png", 0)  # images one level down: the command is wrong
    assert export.main([str(bundle_dir), "--images", str(empty), "--out", str(out)]) == 2


def test_a_folder_that_is_not_empty_is_no_quiet_night(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review s58r3 F2: exit 5 ("nothing to grade", a quiet night) fired for folders that are
    not empty: a DRAC root (images two levels down), a DeepDRiD set (Images/<patient>/), a
    folder of DICOM files, sub-folders of .webp or .dcm files. Each is 2 again (someone must
    act), its fix saying where the images are; 5 stays for text files, hidden files and
    sub-folders holding nothing else at any depth (a job's logs/ and results/, review s58r5 F2)."""
    out = tmp_path / "grades.csv"

    def grade(folder: Path) -> tuple[int, str]:
        capsys.readouterr()
        code = export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    drac = tmp_path / "C. Diabetic Retinopathy Grading"
    testing = drac / "1. Original Images" / "b. Testing Set"
    for seed, name in enumerate(["1.png", "2.png"]):
        _write(testing / name, seed)
    (drac / "2. Groundtruths").mkdir()
    code, said = grade(drac)
    assert code == 2 and "NOTHING TO GRADE" not in said, said
    assert "point --images at the folder that holds the images themselves" in said, said
    assert f"--images {shlex.quote(str(testing))} (2 images)" in said, said

    deepdrid = tmp_path / "regular-fundus-validation"
    for seed, rel in enumerate(["Images/1/1_l1.png", "Images/2/2_l1.png"]):
        _write(deepdrid / rel, seed)
    code, said = grade(deepdrid)
    assert code == 2 and f"--images {shlex.quote(str(deepdrid / 'Images'))}, which gives the command" in said, said

    dicom = tmp_path / "dicom_night"
    dicom.mkdir()
    for i in range(2):  # no .dcm suffix on one: the content says DICOM
        (dicom / f"IMG{i}{'.dcm' if i else ''}").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 64)
    (dicom / "notes.txt").write_text("two scans")
    code, said = grade(dicom)
    assert code == 2 and "NOTHING TO GRADE" not in said, said
    assert "IMG0: is a DICOM file" in said and "16-bit" in said, said

    ok, data = cv2.imencode(".png", np.full((64, 64), 128, np.uint8))
    for sub, name, content in (("webp_sub", "x.webp", data.tobytes()),
                               ("dcm_sub", "1.dcm", b"\x00" * 128 + b"DICM" + b"\x00" * 64)):
        (tmp_path / sub / "patA" / name).parent.mkdir(parents=True)
        (tmp_path / sub / "patA" / name).write_bytes(content)
        code, said = grade(tmp_path / sub)
        assert code == 2 and "NOTHING TO GRADE" not in said, (sub, said)
        assert "point --images at the folder that holds the images themselves" in said, said

    quiet = tmp_path / "quiet"
    (quiet / "patA" / "2024" / "empty").mkdir(parents=True)
    (quiet / "patA" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (quiet / "worklist.csv").write_text("patient,eye\n")
    (quiet / "report.pdf").write_bytes(b"%PDF-1.4 ...")
    (quiet / "logs" / "2024").mkdir(parents=True)  # a job's own files in its drop folder (review s58r5 F2)
    (quiet / "logs" / "2024" / "run.txt").write_text("graded 0 images\n")
    (quiet / "results").mkdir()
    (quiet / "results" / "grades.csv").write_text("case,class,P0,P1,P2\n")
    code, said = grade(quiet)
    assert code == export.EXIT_NO_IMAGES and said.startswith(f"NOTHING TO GRADE: {quiet}"), said
    assert not out.exists()


def test_every_entry_not_graded_is_in_the_record_and_a_broken_link_is_said_as_one(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F7, F8: files skipped as no image (scan.dcm), sub-folders and hidden files got a note on
    stderr only, none in grades.skipped.json, which a PACS integration reads; a dangling symbolic
    link was "the file is gone (moved or deleted while the folder was read)". The record now
    lists every entry not graded (left_out, each with its kind, why and fix): graded cases,
    skipped files and left_out together name every entry of the folder; the summary line counts
    them; a broken link is said as one, with its target."""
    folder = tmp_path / "clinic"
    for seed, name in enumerate(["1.png", "2.png"]):
        _write(folder / name, seed)
    (folder / "scan.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 64)
    (folder / "notes.txt").write_text("scan notes")
    _write(folder / "old" / "3.png", 3)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    os.symlink(tmp_path / "moved" / "4.png", folder / "gone.png")
    os.symlink(tmp_path / "moved" / "4.txt", folder / "gone.txt")
    out = tmp_path / "grades.csv"
    broken = f"broken symbolic link (points to {tmp_path / 'moved' / '4.png'}, which does not exist)"
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'gone.png'}: {broken} -> point the link at the image, or remove it" in err, err
    assert "the file is gone" not in err, err
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    captured = capsys.readouterr()
    record = json.loads(export.skipped_record_path(out).read_text())
    skipped = {e["file"]: e["problem"] for e in record["skipped"]}
    assert skipped.keys() == {"gone.png", "scan.dcm"} and skipped["gone.png"] == broken, skipped
    assert skipped["scan.dcm"].startswith("is a DICOM file"), skipped  # an image not read: skipped
    left = {e["file"]: e for e in record["left_out"]}
    assert {name: e["kind"] for name, e in left.items()} == {
        "gone.txt": "broken link", "notes.txt": "not an image", "old": "sub-folder", ".DS_Store": "hidden"}
    assert all(e["problem"] and e["fix"] and e["path"] == str(folder / e["file"]) for e in left.values())
    # every entry of the folder: a graded case, a skipped file or an entry left out
    assert sorted([*_cases(out), *(e["file"] for e in record["skipped"]), *left]) == sorted(os.listdir(folder))
    summary = captured.out.splitlines()[0]
    assert (f"not graded either: 2 file(s) holding no image and 1 sub-folder(s) (see the notes; "
            f"listed in {export.skipped_record_path(out)})") in summary, summary
    assert ".DS_Store" not in captured.out + captured.err  # hidden files: in the record only


def test_a_dicom_file_is_an_image_it_cannot_read_not_a_note(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review formats F1: a DICOM file of the --images folder (``scan.dcm``, or a PACS export
    without extension: the ``DICM`` tag at byte 128) got only a ``note:`` and the export exited
    0, the case silently missing from the grades CSV, while a ``.webp`` stopped it. A DICOM file
    is an image the package cannot read, like a ``.webp``: exit 2 with how to convert it, or
    skipped and said with --skip-unreadable (the CSV then marked incomplete)."""
    folder = tmp_path / "night"
    _write(folder / "1.png", 1)
    dicom = b"\x00" * 128 + b"DICM" + b"\x02\x00" * 32
    (folder / "scan.dcm").write_bytes(dicom)
    (folder / "PACS_0001").write_bytes(dicom)
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert not out.exists()
    for name in ("scan.dcm", "PACS_0001"):
        assert f"{folder / name}: is a DICOM file" in err and f"note: {folder / name}" not in err, err
    assert "16-bit" in err and "--skip-unreadable" in err, err
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    assert _cases(out) == ["1.png"]
    record = json.loads(export.skipped_record_path(out).read_text())
    assert sorted(e["file"] for e in record["skipped"]) == ["PACS_0001", "scan.dcm"], record


def test_a_jpeg_named_png_is_said_as_a_note_as_the_ingest_warns(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review formats F3: a JPEG named .png (a .png is taken for lossless) was read by its
    content, and only the ingest said so; the export command said nothing. It says the ingest's
    words as a plain note, and grades it all the same."""
    folder = tmp_path / "night"
    _write(folder / "1.png", 1)
    ok, jpeg = cv2.imencode(".jpg", _scan(2))
    (folder / "2.png").write_bytes(jpeg.tobytes())
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    assert export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "though named .png" in line]
    assert len(said) == 1 and said[0].startswith("note: 2.png: Image file: a JPEG file"), err
    assert "rename it to .jpg" in said[0], said
    assert _cases(out) == ["1.png", "2.png"]
