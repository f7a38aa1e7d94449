"""``python -m drac_ssl.export --log-names tag`` (a hospital security officer's trial, F8): the
export printed patient file names on its console, which a hospital's shared logs keep. With
``tag`` no console line names a file: each name is said as ``[name 1a2b3c4d]`` (the first 8
hex digits of its HMAC-SHA-256 under the run's key; here ``DRAC_SSL_LOG_NAMES_KEY``, set for
every test, so that a test can say which tag a name gets); the written CSVs and records still
name every case. ``full`` (the default) prints the names as before. The matcher, the forms of a
name and the key: ``test_name_tags_matcher.py``.

An untrained demo bundle grades (no run to train); CPU, seconds.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import commands, export
from drac_ssl.commands import export_early, export_log_names, export_parser
from drac_ssl.name_tags import (
    KEY_ENV,
    NameTagger,
    folder_names,
    name_digest,
    name_tag,
    path_names,
    tagged_console,
    with_stems,
)
from drac_ssl.submission import DEEPER_SEARCHED

GOOD = "Smith_John_OD.png"
BLANK = "Doe_Jane_12345678.png"  # a record number in the name: blank, so skipped
TRUNCATED = "Brown_Ann.png"
ODD = "Black, Jack.png"  # cannot be a case: the fix suggests Black_Jack.png
TEXT = "notes_Green_Tom.txt"
SUBFOLDER = "patient_White_Bob"
NAMES = (GOOD, BLANK, TRUNCATED, ODD, TEXT, SUBFOLDER)
# what must not reach the console in any form: the names, their patients, the suggested rename
SECRETS = ("Smith", "John", "Doe_Jane", "12345678", "Brown", "Black", "Jack", "Green", "White_Bob")
KEY = "5e8b1d0c3a7f49e2b6d4c1a09f8e7d36"  # DRAC_SSL_LOG_NAMES_KEY of every test here: 32 hex digits


@pytest.fixture(autouse=True)
def _log_names_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run of the module tags under :data:`KEY` (a run's own random key otherwise)."""
    monkeypatch.setenv(KEY_ENV, KEY)


def tag(name: str) -> str:
    """The console's tag of ``name`` under :data:`KEY`."""
    return name_tag(name, KEY.encode())


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
        assert tag(name) in console, name
    assert f"skipped: {tag(str(folder))}/{tag(TRUNCATED)}: a truncated PNG" in console
    assert "INCOMPLETE: 3 of the 4 files not graded" in console  # the lines themselves stay
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
        assert (tag("Lee_Kim_OS.png") in said.out + said.err) is not shown

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
    one = tagger.tag("1.png")
    assert tagger("graded 1.png, 11.png and x1.png") == f"graded {one}, 11.png and x1.png"
    assert tagger("`scan 7.png`: blank") == f"`{tagger.tag('scan 7.png')}`: blank"
    assert tagger("7 of 9 images") == "7 of 9 images"  # a short number is no name
    assert tagger("QWK 0.2024, 2024.png, 2024") == f"QWK 0.2024, {tagger.tag('2024')}.png, {tagger.tag('2024')}"
    assert tagger("/d/Müller.png: x") == f"/d/{tagger.tag('Müller.png')}: x"
    assert tagger("line\\nbreak.png: x") == f"{tagger.tag('line' + chr(10) + 'break.png')}: x"  # as printed
    assert NameTagger([])("any text") == "any text"


def test_the_tag_is_keyed_and_the_app_logs_digest_is_not() -> None:
    """The console's tag is the HMAC-SHA-256 of the name under the run's key, so a guessed name
    cannot be confirmed by hashing it; the app's server log keeps the plain SHA-256 (its own
    ``image 1a2b3c4d``), which the console's tag no longer equals."""
    from app.server import name_tag as app_tag

    name = "Doe, Jane OD.png"
    keyed = hmac.new(KEY.encode(), name.encode(), "sha256").hexdigest()[:8]
    assert tag(name) == f"[name {keyed}]" and name_digest(name, KEY.encode()) == keyed
    plain = hashlib.sha256(name.encode()).hexdigest()[:8]
    assert name_digest(name) == plain and app_tag(name) == f"image {plain}" and keyed != plain


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
    # RUN --variant NAME without --images: the ingest's test cases (and their stems); RUN's path
    # and the current folder's, said by messages too (review F1)
    # (as whole paths only: their last parts are words of the fix lines' commands, review F1)
    given = {*path_names("RUN", last_parts=False), *path_names(os.getcwd(), last_parts=False)}
    assert names == with_stems({"case_of_RUN.png"}) | given
    args = export_parser().parse_args(["RUN", "--images", str(tmp_path), "--log-names", "tag"])
    assert export_log_names(args) == with_stems({"Kim.png", *path_names(tmp_path)}) | given


def test_the_deploying_page_says_the_option_and_its_limit() -> None:
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(
        encoding="utf-8").split())
    assert "add `--log-names tag`" in page and name_tag("x").startswith("[name ")
    assert "`[name 1a2b3c4d]` instead of each file name" in page and "HMAC-SHA-256" in page
    assert "cannot confirm a guess by hashing it" in page and "The default is `full`" in page
    assert "another tag in the next run" in page and f"sets `{KEY_ENV}`" in page
    assert "--find-tag 1a2b3c4d" in page  # the way to trace a tag: test_find_tag_prints_...
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
    assert ended.value.code == 1 and "Traceback" in said.err and f"a bug on {tag(str(folder))}/{tag(GOOD)}" in said.err
    assert "Smith" not in said.err
    with pytest.raises(TypeError, match="Smith_John"):  # full: as before, the exception itself
        export.main([str(bundle_dir), "--images", str(folder), "--out", str(tmp_path / "g.csv")])


def _early_check_refusal(tmp_path: Path, folder: Path, mode: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``--check`` of an empty submission against ``folder`` under ``--log-names MODE``: refused
    before torch loads (exit 2); what it said on stderr."""
    submission = tmp_path / "team.csv"
    submission.write_text("case,class,P0,P1,P2\n", encoding="utf-8")
    with pytest.raises(SystemExit) as ended:
        export_early(["--check", str(submission), "--images", str(folder), "--log-names", mode])
    said = capsys.readouterr().err
    assert ended.value.code == 2, said
    return said


def test_an_early_check_refusal_listing_the_folder_is_tagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F1: ``--check CSV --images DIR`` of a folder without images is refused before
    torch loads (exit 2), its message listing the files holding an image under another name
    and the sub-folder that holds images; it was printed before the filter stood."""
    folder = tmp_path / "night"
    (folder / "Sub_Patient_Sam").mkdir(parents=True)
    (folder / "Sub_Patient_Sam" / "OD.png").write_bytes(_png(_scan(0)))
    (folder / "Doe_Dat_Person.dat").write_bytes(_png(_scan(1)))
    for mode, shown in (("full", True), ("tag", False)):
        said = _early_check_refusal(tmp_path, folder, mode, capsys)
        assert "no images" in said, said
        for secret in ("Sub_Patient_Sam", "Doe_Dat_Person"):
            assert (secret in said) is shown, (mode, secret, said)
        if not shown:
            assert tag("Sub_Patient_Sam") in said and tag("Doe_Dat_Person.dat") in said


def test_the_stem_of_a_listed_name_is_tagged(bundle_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Review F4: a file holding an image under another suffix is skipped with "rename it
    STEM.png"; the stem is tagged as a name of its own. A short stem (``OD``) is left as it
    is: it names nobody and would tag a common word of every line."""
    folder = tmp_path / "night"
    folder.mkdir()
    (folder / GOOD).write_bytes(_png(_scan(0)))
    (folder / "Doe_Dat_Person.dat").write_bytes(_png(_scan(1)))
    for mode, shown in (("full", True), ("tag", False)):
        code, console = _grade(bundle_dir, folder, tmp_path / "g.csv", capsys, "--log-names", mode)
        assert code == export.EXIT_SKIPPED and "rename it" in console, console
        assert ("Doe_Dat_Person" in console) is shown, (mode, console)
    assert f"rename it {tag('Doe_Dat_Person')}.png" in console

    tmp_path = tmp_path / "names"
    tmp_path.mkdir()
    (tmp_path / "Doe_Dat_Person.dat").write_bytes(b"")
    (tmp_path / "OD.png").write_bytes(b"")
    names = export_log_names(export_parser().parse_args(["RUN", "--images", str(tmp_path),
                                                         "--log-names", "tag"]))
    assert names is not None and {"Doe_Dat_Person", "Doe_Dat_Person.dat", "OD.png"} <= names
    assert "OD" not in names
    tagger = NameTagger(names)
    tagged = tagger("rename it Doe_Dat_Person.png; OD of OD.png")
    assert tagged == f"rename it {tagger.tag('Doe_Dat_Person')}.png; OD of {tagger.tag('OD.png')}"


def test_every_entry_of_a_large_images_folder_is_listed(tmp_path: Path) -> None:
    """Review F2: the names were listed up to 20,000 entries; past that a file's name reached
    the console untagged. The export lists the whole folder; so does the tagging (20,100
    empty files here)."""
    folder = tmp_path / "big"
    folder.mkdir()
    wanted = {f"Patient_{i:05d}.png" for i in range(20_100)}
    for name in wanted:
        os.close(os.open(folder / name, os.O_CREAT | os.O_WRONLY))
    try:
        names = export_log_names(export_parser().parse_args(
            ["RUN", "--images", str(folder), "--log-names", "tag"]))
        assert names is not None and wanted <= names
    finally:
        shutil.rmtree(folder)


def test_the_folders_of_images_four_levels_down_are_tagged(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F3: an ``--images`` folder whose images are four levels down is refused with the
    folder that holds them ("the images are deeper: e.g. --images .../Visit_Delta"); the tags
    listed two levels only, so the deeper folders' names were printed."""
    root = tmp_path / "export"
    deep = root / "Site_Alpha" / "Ward_Beta" / "Patient_Gamma" / "Visit_Delta"
    deep.mkdir(parents=True)
    (deep / "x.png").write_bytes(_png(_scan(0)))
    assert DEEPER_SEARCHED[0] == 4  # the depth the export's search goes to
    for mode, shown in (("full", True), ("tag", False)):
        code = export.main([str(bundle_dir), "--images", str(root), "--out", str(tmp_path / "g.csv"),
                            "--log-names", mode])
        said = capsys.readouterr()
        console = said.out + said.err
        assert code == 2 and "the images are deeper" in console, console
        for secret in ("Alpha", "Beta", "Gamma", "Delta"):
            assert (secret in console) is shown, (mode, secret, console)
    assert f"{tag('Patient_Gamma')}/{tag('Visit_Delta')}" in console
    # the walk's budget: one folder visited lists the sub-folders' entries only
    assert "Patient_Gamma" not in folder_names(root, levels=5, visits=1)
    assert "x.png" not in folder_names(root, levels=5, visits=3)
    assert {"Patient_Gamma", "Visit_Delta", "x.png"} <= folder_names(root, levels=5, visits=4)


def test_a_bug_checking_the_arguments_has_its_traceback_tagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F6: the arguments' problems were looked for before the tagged console stood, so
    an unexpected exception there had its traceback printed by Python, names and all."""
    folder = tmp_path / "night"
    folder.mkdir()
    (folder / "Secret_Sally.png").write_bytes(b"")
    submission = tmp_path / "team.csv"
    submission.write_text("case,class,P0,P1,P2\n", encoding="utf-8")

    def broken(args: object) -> str | None:
        raise OSError(f"a bug on {folder / 'Secret_Sally.png'}")

    monkeypatch.setattr(commands, "check_arguments_problem", broken)
    with pytest.raises(SystemExit) as ended:
        export_early(["--check", str(submission), "--images", str(folder), "--log-names", "tag"])
    said = capsys.readouterr().err
    assert ended.value.code == 1 and "Traceback" in said and "Secret_Sally" not in said, said
    assert f"a bug on {tag(str(folder))}/{tag('Secret_Sally.png')}" in said
    with pytest.raises(OSError, match="Secret_Sally"):  # full: the exception itself, as before
        export_early(["--check", str(submission), "--images", str(folder)])


def test_the_names_inside_a_linked_sub_folder_are_listed(tmp_path: Path) -> None:
    """Review F1: a top-level link to a folder is a sub-folder to the export (``Path.is_dir``
    follows it, its deeper search walks inside), but the tagging did not enter it, so the
    names inside were printed untagged. Links below the first level stay unentered, as in the
    export's deeper search."""
    (tmp_path / "sub" / "Doe_John").mkdir(parents=True)
    (tmp_path / "sub" / "Doe_John" / "a.png").write_bytes(b"")
    (tmp_path / "sub" / "Smith_Ann.png").write_bytes(b"")
    (tmp_path / "sub" / "Deep_Link").symlink_to(tmp_path / "other")
    (tmp_path / "other" / "Hidden_Below").mkdir(parents=True)
    images = tmp_path / "images"
    images.mkdir()
    (images / "linked").symlink_to(Path("..") / "sub")
    names = folder_names(images, levels=5, visits=10)
    assert {"linked", "Doe_John", "Smith_Ann.png", "a.png", "Deep_Link"} <= names, names
    assert "Hidden_Below" not in names
    tagged = export_log_names(export_parser().parse_args(
        ["RUN", "--images", str(images), "--log-names", "tag"]))
    assert tagged is not None and {"Doe_John", "Smith_Ann.png"} <= tagged


def test_a_name_of_thousands_of_characters_is_tagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F7: the tagger's pattern was built by a recursion as deep as the longest name: a
    label CSV cell of 1,500 characters raised RecursionError, whose traceback Python printed
    untagged. No pattern of the names at all now (a dict of their forms, :class:`NameTagger`):
    a long name, and names each a prefix of the next, cost nothing more."""
    long = "Doe_" + "x" * 5_000 + ".png"
    tagger = NameTagger([long])
    assert tagger(f"no case: {long}.") == f"no case: {tagger.tag(long)}."
    nested = ["a" * k for k in range(4, 700)]  # 696 groups, each inside the last
    tagger = NameTagger(nested)
    assert tagger("b " + "a" * 300 + " c") == f"b {tagger.tag('a' * 300)} c"
    assert tagger("b " + "a" * 800 + " c") == "b " + "a" * 800 + " c"  # no listed name

    graded = tmp_path / "graded"
    graded.mkdir()
    submission = tmp_path / "team.csv"
    submission.write_text("case,class,P0,P1,P2\nGood_Gina.png,0,0.5,0.3,0.2\n", encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text(f"image name,DR grade\nGood_Gina.png,0\n{long},1\n", encoding="utf-8")
    with pytest.raises(SystemExit) as ended:
        export_early(["--score", str(submission), "--labels", str(labels), "--log-names", "tag"])
    said = capsys.readouterr()
    assert ended.value.code == 2 and "x" * 50 not in said.out + said.err, said


def test_the_label_names_read_the_submissions_grades_from_its_header_as_csv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review (library calls) 5: the submission's header was split at every comma, so a quoted
    header cell holding one ("P0, no DR") made K one grade too many for the label CSV's scale;
    csv.reader reads it as submission.py does."""
    from drac_ssl import scoring

    submission = tmp_path / "team.csv"
    submission.write_text('case,class,"P0, no DR",P1,P2\nGood_Gina.png,0,0.5,0.3,0.2\n', encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade,patient\nGood_Gina.png,0,Gina_G\n", encoding="utf-8")
    scales: list[int] = []
    read = scoring.read_grade_labels

    def spy(path: object, grade_names: list[str], **kwargs: object) -> object:
        scales.append(len(grade_names))
        return read(path, grade_names, **kwargs)

    monkeypatch.setattr(scoring, "read_grade_labels", spy)
    args = export_parser().parse_args(["--score", str(submission), "--labels", str(labels),
                                       "--patient-column", "patient"])
    assert commands._label_names(args) == {"Good_Gina.png", "Gina_G"}
    assert scales == [3]


def test_an_exception_gathering_the_names_names_no_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F7: the names were gathered before the filter stood, so an exception of that
    step was printed by Python, its message naming a file. Now it is said in one line without
    its message (exit 1)."""
    def broken(*args: object, **kwargs: object) -> set[str]:
        raise OSError(f"cannot read {tmp_path / 'Secret_Sally.png'}")

    monkeypatch.setattr(export, "export_log_names", broken)
    with pytest.raises(SystemExit) as ended:
        export.main(["RUN", "--images", str(tmp_path), "--out", str(tmp_path / "g.csv"),
                     "--log-names", "tag"])
    said = capsys.readouterr()
    assert ended.value.code == 1 and "Secret_Sally" not in said.out + said.err
    assert "error: --log-names tag: the file names to hide could not be gathered (OSError at " in said.err


def test_a_name_said_quoted_or_in_its_repr_is_tagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review: a name's ``shlex.quote`` form (a fix's ``e.g. '.../O'"'"'Brien_Pat'``) and its
    ``repr`` (``case ' Bob\\'s "best" \\\\scan.png '``, a backslash doubled and a quote
    escaped) were printed untagged, and so was a case stripped of its spaces (``write 'Smith,
    Ann.png'``). Each is tagged now."""
    folder = tmp_path / "night"
    (folder / "O'Brien_Pat").mkdir(parents=True)
    (folder / "O'Brien_Pat" / "OD.png").write_bytes(_png(_scan(0)))
    for mode, shown in (("full", True), ("tag", False)):
        said = _early_check_refusal(tmp_path, folder, mode, capsys)
        assert "e.g. '" in said, said
        assert ("Brien" in said) is shown, (mode, said)
    assert f"e.g. '{tag(str(folder))}/{tag(chr(39).join(['O', 'Brien_Pat']))}'" in said, said

    quoted = tmp_path / "quoted.csv"
    cases = (' Bob\'s "best" \\scan.png ', " Smith, Ann.png ")
    quoted.write_text("case,class,P0,P1,P2\n" + "".join(
        f"\"{case.replace(chr(34), chr(34) * 2)}\",0,0.5,0.3,0.2\n" for case in cases), encoding="utf-8")
    for mode, shown in (("full", True), ("tag", False)):
        code = export.main(["--check", str(quoted), "--log-names", mode])
        said = capsys.readouterr()
        console = said.out + said.err
        assert code == 1 and "has surrounding spaces" in console, console
        for secret in ("Bob", "best", "scan", "Smith", "Ann"):
            assert (secret in console) is shown, (mode, secret, console)
    assert f"case '{tag(cases[0])}' has surrounding spaces -> write '{tag(cases[0].strip())}'" in console


def test_each_run_has_its_own_key_unless_one_is_set(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: the tag was the plain SHA-256 of the name, so a guessed name could be confirmed
    by hashing it. Now it is keyed: without ``DRAC_SSL_LOG_NAMES_KEY`` by a random key of the run
    (two runs tag the same file differently, and neither equals the plain digest); with it,
    every run alike; a key too short is refused (exit 2) before anything is done."""
    folder = tmp_path / "night"
    (folder / "Sub_Patient_Sam").mkdir(parents=True)
    (folder / "Sub_Patient_Sam" / "OD.png").write_bytes(_png(_scan(0)))
    submission = tmp_path / "team.csv"
    submission.write_text("case,class,P0,P1,P2\n", encoding="utf-8")

    def console_tags() -> set[str]:
        with pytest.raises(SystemExit) as ended:
            export_early(["--check", str(submission), "--images", str(folder), "--log-names", "tag"])
        said = capsys.readouterr().err
        assert ended.value.code == 2 and "Sub_Patient_Sam" not in said, said
        return {word[:8] for word in said.split("[name ")[1:]}

    keyed = console_tags()  # the sub-folder's, and those of the paths given (path_names)
    assert keyed == console_tags() and name_digest("Sub_Patient_Sam", KEY.encode()) in keyed
    monkeypatch.delenv(KEY_ENV)
    first, second = console_tags(), console_tags()
    assert len(first) == len(second) == len(keyed) and not first & second and not first & keyed
    assert name_digest("Sub_Patient_Sam") not in first  # not the digest anyone can compute
    monkeypatch.setenv(KEY_ENV, "Sam")
    with pytest.raises(SystemExit) as ended:
        export_early(["--check", str(submission), "--images", str(folder), "--log-names", "tag"])
    said = capsys.readouterr().err
    assert ended.value.code == 2 and f"{KEY_ENV} holds 3 character(s)" in said and "Sub_Patient" not in said


def test_the_paths_given_and_the_folders_above_them_are_tagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F2: the name of the --images folder, and of the folders above it, were printed
    untagged (``--check ../p/Doe_Jane_sub.csv --images ../p/Doe_Jane`` said "../p/Doe_Jane: no
    images"). The paths of --images, --out, --check, --score and --labels are now listed whole
    (as given, absolute, resolved), with the folders above them as whole paths, and their last
    parts and stems; not every part as a word (``p`` here), which would tag ``data`` or
    ``test`` in every line."""
    (tmp_path / "p" / "Doe_Jane" / "visit_Alpha").mkdir(parents=True)
    (tmp_path / "p" / "Doe_Jane_sub.csv").write_text("case,class,P0,P1,P2\n", encoding="utf-8")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for images in ("../p/Doe_Jane", "../p/Doe_Jane/visit_Alpha"):
        for mode, shown in (("full", True), ("tag", False)):
            with pytest.raises(SystemExit) as ended:
                export_early(["--check", "../p/Doe_Jane_sub.csv", "--images", images, "--log-names", mode])
            said = capsys.readouterr().err
            assert ended.value.code == 2 and "no images" in said, said
            assert ("Doe_Jane" in said) is shown and ("Alpha" in said) is (shown and "Alpha" in images), said
        assert said.startswith(f"error: {tag(images)}: no images"), said
        assert f"--check {tag('../p/Doe_Jane_sub.csv')} --manifest RUN" in said, said

    names = export_log_names(export_parser().parse_args(
        ["RUN", "--images", "../p/Doe_Jane", "--out", "../p/Doe_Jane_out/grades.csv",
         "--log-names", "tag"]))
    above = tmp_path.resolve() / "p"
    assert names is not None and {
        "../p/Doe_Jane", "../p", "Doe_Jane", str(above / "Doe_Jane"), str(above),  # --images
        "../p/Doe_Jane_out", "grades.csv", "grades", "../p/Doe_Jane_out/grades",  # --out, its stems
        str(above / "Doe_Jane_out" / "grades.csv")} <= names, sorted(names)
    assert "work" not in names and str(tmp_path.resolve() / "work") in names  # the current folder, whole (review F1; final F1)
    assert not {"p", "..", ".", "/", "Doe_Jane_out"} & names, sorted(names)
    tagger = NameTagger(names)
    said = tagger("note: ../p/Doe_Jane_out/grades_notes.csv says why; the folder ../p/Doe_Jane_out")
    assert "Doe" not in said and said.endswith(f"the folder {tagger.tag('../p/Doe_Jane_out')}"), said


def test_find_tag_prints_the_names_of_a_tag_among_those_the_export_lists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: the docs traced a tag with ``openssl dgst -hmac "$KEY"`` in a shell loop: the
    key on a command line (``ps`` shows it) and ``for f in DIR/*``, which misses hidden entries,
    sub-folders' entries, stems and the names of the CSVs and labels. ``--find-tag`` reads the
    key from the environment and walks the export's own listing (export_log_names) for the
    arguments given; exit 0 found, 1 not found, 2 no key, a bad key or a bad tag."""
    folder = tmp_path / "night"
    (folder / "Sub_Ann").mkdir(parents=True)
    (folder / "Sub_Ann" / "Deep_Ann_OD.png").write_bytes(b"")
    (folder / ".Doe_Hidden.png").write_bytes(b"")
    (folder / "Doe_Dat_Person.dat").write_bytes(b"")
    (folder / "Plain_Pat.png").write_bytes(b"")
    submission = tmp_path / "team.csv"
    submission.write_text("case,class,P0,P1,P2\nCase_Only_Cy.png,0,0.5,0.3,0.2\n", encoding="utf-8")
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade\nLabel_Only_Lee.png,1\n", encoding="utf-8")
    sought = (".Doe_Hidden.png", "Deep_Ann_OD.png", "Doe_Dat_Person", "Case_Only_Cy.png",
              "Label_Only_Lee.png", "Plain_Pat.png")
    given = ["--images", str(folder), "--score", str(submission), "--labels", str(labels)]
    found = [f"[name {name_digest(name, KEY.encode())}]" for name in sought]
    assert export.main([*given, *(arg for tag in found for arg in ("--find-tag", tag))]) == 0
    said = capsys.readouterr()
    assert said.out.splitlines() == [f"{tag[6:14]}  {name}" for tag, name in zip(found, sought, strict=True)]
    assert said.err == ""
    # the installed command's early path lets it through to main, which prints the names
    export_early([*given, "--find-tag", found[0]])

    assert export.main([*given, "--find-tag", name_digest("Nobody.png", KEY.encode())]) == 1
    said = capsys.readouterr()
    assert said.out == "" and "note: no name of the" in said.err
    assert export.main(["--images", str(folder), "--find-tag", "Plain_Pat"]) == 2
    assert "is not a tag" in capsys.readouterr().err
    monkeypatch.setenv(KEY_ENV, "hospital-key-001")
    assert export.main([*given, "--find-tag", found[0]]) == 2
    err = capsys.readouterr().err
    assert "hospital-key-001" not in err and f"{KEY_ENV} holds 16 character(s)" in err, err
    monkeypatch.delenv(KEY_ENV)
    assert export.main([*given, "--find-tag", found[0]]) == 2
    assert f"--find-tag needs {KEY_ENV}" in capsys.readouterr().err


def test_the_deploying_page_keeps_the_key_off_command_lines() -> None:
    """Review F1: the page's way to trace a tag put the key on openssl's command line; it now
    gives --find-tag, and keeps the key in an EnvironmentFile= of mode 0600 or a
    LoadCredential=, not Environment= (``systemctl show`` prints it)."""
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(
        encoding="utf-8").split())
    assert '-hmac "$DRAC_SSL_LOG_NAMES_KEY"' not in page and "for f in" not in page
    assert "--find-tag" in page and "EnvironmentFile=" in page and "0600" in page
    assert "LoadCredential=" in page and "not `Environment=`" in page and "systemctl show" in page


def test_a_stem_that_is_a_word_of_the_console_s_own_is_not_tagged(tmp_path: Path) -> None:
    """Review F8: a folder holding ``error.txt`` had its stem ``error`` tagged, so every
    ``error:`` line began ``[name 1a2b3c4d]:``. A stem that is one of the words the console
    starts its lines with (error, warning, note, fix, skipped, OK, INCOMPLETE) is left out; the
    file's whole name is still tagged, and so is any other stem. Short or common entry names
    themselves (``in``, ``OD``, ``png``) are still tagged: one may be a patient's initials."""
    for name in ("error.txt", "note.md", "warning.log", "Doe_Jane.png", "in"):
        (tmp_path / name).write_bytes(b"")
    names = export_log_names(export_parser().parse_args(["RUN", "--images", str(tmp_path), "--log-names", "tag"]))
    assert names is not None and {"error.txt", "note.md", "warning.log", "Doe_Jane", "in"} <= names
    assert not {"error", "note", "warning"} & names
    tagger = NameTagger(names)
    assert tagger("error: note: warning: fix: x") == "error: note: warning: fix: x"
    assert tagger("rename it Doe_Jane.jpg; error.txt") == (
        f"rename it {tagger.tag('Doe_Jane')}.jpg; {tagger.tag('error.txt')}")


def test_run_manifest_json_and_the_current_folder_are_tagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: RUN, --manifest, --json and the current folder were printed untagged
    (``error: [name 705b20d2]/Jones_Bob/run: no ingest manifest``; from ``p/Jones_Bob``: "(a
    relative path is read from the current folder, .../Jones_Bob)"). Their paths are listed
    now, as those of --images and the others; --find-tag finds them from the same folder."""
    home = tmp_path / "p" / "Jones_Bob"
    (home / "run").mkdir(parents=True)
    (tmp_path / "team.csv").write_text("case,class,P0,P1,P2\n", encoding="utf-8")
    (tmp_path / "p" / "scans").mkdir()
    (tmp_path / "p" / "scans" / "OD.png").write_bytes(_png(_scan(0)))
    runs = (["--check", str(tmp_path / "team.csv"), "--manifest", str(home / "run")],  # no ingest manifest there
            ["Gone_Run", "--images", "../scans", "--out", "../o.csv"])  # does not exist: says the current folder
    for given, says in zip(runs, ("no ingest manifest", "read from the current folder"), strict=True):
        monkeypatch.chdir(home if "Gone_Run" in given else tmp_path)
        for mode, shown in (("full", True), ("tag", False)):
            try:
                code = export.main([*given, "--log-names", mode])
            except SystemExit as ended:
                code = ended.code
            said = capsys.readouterr()
            console = said.out + said.err
            assert code != 0 and says in console, console
            assert ("Jones_Bob" in console) is shown and ("Gone_Run" in console) is (shown and "Gone_Run" in given), console

    names = export_log_names(export_parser().parse_args(
        ["runs/Smith_Al", "--manifest", "m/Lee_Ann", "--score", "s.csv", "--labels", "l.csv",
         "--json", "Kim_Ray.json", "--log-names", "tag"]))
    assert names is not None and {"runs/Smith_Al", "m/Lee_Ann", "Kim_Ray.json", str(home.resolve())} <= names, sorted(names)
    # RUN, --manifest and --json with their last parts and stems (a review of 1c6dafe: a fix says
    # ~/Smith_Al-copy); the current folder (.../p/Jones_Bob) as a whole path only
    assert {"Smith_Al", "Lee_Ann", "Kim_Ray"} <= names and "Jones_Bob" not in names, sorted(names)
    monkeypatch.chdir(home)
    found = name_digest(os.getcwd(), KEY.encode())
    assert export.main(["--check", str(tmp_path / "team.csv"), "--find-tag", found]) == 0
    assert capsys.readouterr().out == f"{found}  {os.getcwd()}\n"
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text(
        encoding="utf-8").split())
    assert "`--labels`, `--manifest` and `--json`, and the current folder" in page
    assert "run from the same folder as that run when its paths are relative" in page
    assert "--json), from the same current folder" in " ".join(export_parser().format_help().split())


def test_a_malformed_find_tag_is_echoed_at_most_4_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """Review F7: a TAG that is no tag was echoed whole: a key pasted there by mistake landed
    on stderr. Final review F3: 12 characters of a 16-byte base64 key are 72 of its 128 bits.
    A value longer than a tag is said by its length alone now, a shorter one by 4 characters."""
    for pasted in ("5e8b1d0c3a7f49e2b6d4c1a09f8e7d36" + "0" * 32, "q3Zr8LkT2mWx9YbN4cVd7A=="):
        assert export.main(["--find-tag", pasted]) == 2
        err = capsys.readouterr().err
        assert f"--find-tag of {len(pasted)} characters is not a tag" in err, err
        assert pasted[:4] not in err and pasted[-4:] not in err
    assert export.main(["--find-tag", "Plain_Pat"]) == 2
    err = capsys.readouterr().err
    assert "--find-tag 'Plai'... (9 characters) is not a tag" in err and "Plain" not in err, err
    assert export.main(["--find-tag", "abc"]) == 2
    assert "--find-tag 'abc' is not a tag" in capsys.readouterr().err


def test_a_patient_named_run_folder_is_tagged_where_a_message_says_it_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review of 1c6dafe (F1): RUN was tagged as a whole path only, so ``~/Jones_Bob-copy`` (the
    fix of a run folder the user cannot write to) printed the patient's name. RUN, --manifest and
    --json keep their last parts and stems again, the package's own words excepted."""
    (tmp_path / "runs" / "Jones_Bob").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    names = export_log_names(export_parser().parse_args(
        ["runs/Jones_Bob", "--json", "out/Smith_Ann.json", "--log-names", "tag"]))
    assert names is not None and {"Jones_Bob", "Smith_Ann.json", "Smith_Ann"} <= names, sorted(names)
    tagger = NameTagger(names)
    line = "fix: cp -r runs/Jones_Bob ~/Jones_Bob-copy, then the same command with ~/Jones_Bob-copy"
    assert "Jones_Bob" not in tagger(line).replace(tagger.tag("Jones_Bob"), ""), tagger(line)
    assert "Smith_Ann" not in tagger("wrote Smith_Ann and Smith_Ann.json"), tagger("wrote Smith_Ann")


def test_the_fix_lines_commands_stay_readable_under_tags(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Final review F1: from a folder named ``drac_ssl`` with RUN ``runs/default``, the last
    parts of RUN and of the current folder were tagged, and the fix line printed ``python -m
    [name cb119da3].train``; with ``runs/drac``, ``python -m [name 7303e184]_ssl.export``. The
    current folder is tagged as a whole path only now, RUN's last part only when it is no package
    word, the package's own words never, while a patient-named --images folder still is."""
    home = tmp_path / "drac_ssl"
    (home / "runs" / "default").mkdir(parents=True)
    (tmp_path / "Doe_Jane").mkdir()
    monkeypatch.chdir(home)
    for run in ("runs/default", "runs/drac"):
        names = export_log_names(export_parser().parse_args(
            [run, "--images", "../Doe_Jane", "--out", "o.csv", "--log-names", "tag"]))
        assert names is not None and "Doe_Jane" in names and os.getcwd() in names, sorted(names)
        assert not {"drac_ssl", "drac", "default", "runs", "configs", run} & names, sorted(names)
        tagger = NameTagger(names)
        fix = (f"  fix: as by default: python -m drac_ssl.train -c configs/drac.yaml run.dir={run}; "
               f"python -m drac_ssl.export {run} --images ../Doe_Jane")
        assert tagger(fix) == fix.replace("../Doe_Jane", tagger.tag("../Doe_Jane")), tagger(fix)
        assert tagger("no image in Doe_Jane") == f"no image in {tagger.tag('Doe_Jane')}"
        assert tagger(f"read from {os.getcwd()}") == f"read from {tagger.tag(os.getcwd())}"
        assert export.main([run, "--images", "../Doe_Jane", "--out", "o.csv", "--log-names", "tag"]) != 0
        said = capsys.readouterr()
        console = said.out + said.err
        assert run in console and "Doe_Jane" not in console, console
        assert "drac_ssl.train -c configs/drac.yaml" in console or "does not exist" in console, console
