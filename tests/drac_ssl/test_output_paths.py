"""Output paths named on the command line never replace the user's inputs (a careless-user
review, F1: ``export --out data/new3/eye_001.jpg`` turned a JPEG into CSV text with exit 0,
``--out data/base/labels.csv`` replaced the label CSV, ``--out RUN/data/manifest.csv`` the
run's manifest; ``data_prep ingest --root D --out D`` wrote its manifest and cache among the
images). Each is refused before any work, exit 2, with the file, what is wrong and the fix,
and the file is left byte for byte as it was (drac_ssl/out_paths.py)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.out_paths import STAGE_FOLDERS, export_out_problem, written_by_export

JPEG = cv2.imencode(".jpg", np.full((32, 32, 3), 120, np.uint8))[1].tobytes()
LABELS = "image name,DR grade\neye_001.jpg,3\neye_002.jpg,0\n"


@pytest.fixture()
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The review's tree, in the current folder: data/base (images + labels.csv, the run's
    data root), data/new3 (images to grade), runs/first-try (a run folder whose ingest read
    data/base)."""
    monkeypatch.chdir(tmp_path)
    for folder in ("data/base", "data/new3"):
        Path(folder).mkdir(parents=True)
        for name in ("eye_001.jpg", "eye_002.jpg"):
            (Path(folder) / name).write_bytes(JPEG)
    Path("data/base/labels.csv").write_text(LABELS, encoding="utf-8")
    run = Path("runs/first-try")
    (run / "data").mkdir(parents=True)
    (run / "data" / "manifest.csv").write_text("id,path,grade,split,fold\n", encoding="utf-8")
    (run / "data" / "ingest_summary.json").write_text(json.dumps({
        "root": str(tmp_path / "data/base"), "train_dir": str(tmp_path / "data/base"),
        "test_dir": None, "labels_csv": str(tmp_path / "data/base/labels.csv"),
        "unlabelled_dirs": []}), encoding="utf-8")
    (run / "stages.json").write_text("{}", encoding="utf-8")
    return tmp_path


def _refused(out: str, capsys: pytest.CaptureFixture[str], images: str = "data/new3") -> str:
    before = {p: p.read_bytes() for p in Path(".").rglob("*") if p.is_file()}
    assert export.main(["runs/first-try", "--images", images, "--out", out]) == 2
    after = {p: p.read_bytes() for p in Path(".").rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing replaced
    return capsys.readouterr().err


def test_an_image_of_the_graded_folder_is_refused_as_out(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused("data/new3/eye_001.jpg", capsys)
    assert "error: data/new3/eye_001.jpg: --out lies inside the --images folder data/new3" in err, err
    assert "fix: write it outside the image folder, e.g. --out data/submission.csv" in err, err
    err = _refused("data/new3/grades.csv", capsys)  # a new CSV among the images: the same
    assert "--out lies inside the --images folder" in err, err


def test_the_runs_label_csv_and_its_data_root_are_refused(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused("data/base/labels.csv", capsys)
    assert "data/base/labels.csv: --out is the run's label CSV" in err and "fix: choose another path" in err, err
    err = _refused("data/base/sub.csv", capsys)
    assert "--out lies in the run's data root" in err and "second label file" in err, err


@pytest.mark.parametrize("out", ["runs/first-try/data/manifest.csv", "runs/first-try/export/submission.csv",
                                 "runs/first-try/finetune/x.csv"])
def test_the_runs_stage_folders_are_refused(user: Path, capsys: pytest.CaptureFixture[str], out: str) -> None:
    err = _refused(out, capsys)
    assert f"{out}: --out lies in runs/first-try/" in err and "a folder of the run's own files" in err, err
    assert "fix: choose a path outside the run's stage folders, e.g. --out runs/first-try_submission.csv" in err


def test_a_name_without_csv_and_an_existing_file_of_another_kind_are_refused(
        user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused("results", capsys)
    assert "results: --out names the submission CSV to write, and this name does not end in .csv (no suffix)" in err
    assert "fix: give a new file name ending in .csv, e.g. --out results.csv" in err
    Path("mine.csv").write_text(LABELS, encoding="utf-8")  # the user's own CSV, outside every folder
    err = _refused("mine.csv", capsys)
    assert "mine.csv: --out names an existing file that the export did not write (a file whose first " \
           "line is 'image name,DR grade')" in err, err
    assert "its contents would be lost" in err and "fix: choose another path, e.g. --out submission.csv" in err
    Path("other_notes.csv").write_text("my,notes\n", encoding="utf-8")  # written beside --out
    err = _refused("other.csv", capsys)
    assert "the export writes the per-image notes file beside --out as other_notes.csv, an existing file " \
           "it did not write" in err, err


def test_an_earlier_export_and_an_empty_file_may_be_replaced(tmp_path: Path) -> None:
    earlier = tmp_path / "sub.csv"
    earlier.write_text("case,class,P0,P1,P2\n001.png,0,1.0,0.0,0.0\n", encoding="utf-8")
    assert written_by_export(earlier)
    assert export_out_problem(earlier, None, None) is None
    (tmp_path / "sub_referable.csv").write_text("case,P_referable,referable\n001.png,0,0\n", encoding="utf-8")
    assert export_out_problem(earlier, None, None) is None
    (tmp_path / "empty.csv").touch()
    assert export_out_problem(tmp_path / "empty.csv", None, None) is None
    (tmp_path / "kaggle.csv").write_text("id_code,diagnosis\n", encoding="utf-8")
    assert written_by_export(tmp_path / "kaggle.csv")  # export --format kaggle's: rerun to the same --out
    assert export_out_problem(tmp_path / "kaggle.csv", None, None) is None
    (tmp_path / "other.csv").write_text("id,grade\n", encoding="utf-8")
    assert not written_by_export(tmp_path / "other.csv")



def test_a_provenance_json_of_the_users_is_refused_the_exports_own_replaced(tmp_path: Path) -> None:
    """The sidecar ``<stem>_provenance.json`` is guarded like ``_notes.csv``: a JSON file of the
    user's own of that name (any other content) stops the export; an earlier export's (its
    ``format``) may be replaced."""
    from drac_ssl.submission import GRADING_PROVENANCE_FORMAT

    out = tmp_path / "grades.csv"
    mine = tmp_path / "grades_provenance.json"
    mine.write_text(json.dumps({"patient": "my own record"}), encoding="utf-8")
    problem = export_out_problem(out, None, None)
    assert problem is not None and "the grading provenance (which model graded) beside --out as " \
        f"{mine}, an existing file it did not write" in problem, problem
    mine.write_text(json.dumps({"format": GRADING_PROVENANCE_FORMAT, "n_images": 1}), encoding="utf-8")
    assert export_out_problem(out, None, None) is None

@pytest.mark.parametrize("k", [2, 3, 5])
def test_what_the_writers_write_is_recognised_as_the_exports(k: int, tmp_path: Path) -> None:
    """EXPORT_HEADERS reads each header from the module that writes it: whatever the writers
    write (each format of kaggle.FORMATS, the referable file with and without its fourth
    column) may be replaced by a rerun, a header one column short may not."""
    from drac_ssl.kaggle import FORMATS, write_kaggle
    from drac_ssl.out_paths import EXPORT_HEADERS
    from drac_ssl.submission import referable_path, write_referable, write_submission

    assert len(EXPORT_HEADERS) == len(FORMATS)  # one rule per format the export writes
    probs = np.full((2, k), 0.5 / (k - 1))
    probs[0, 0] = probs[1, 1] = 0.5  # not one-hot: write_submission warns of those
    sub = write_submission(tmp_path / "sub.csv", ["1.png", "2.png"], probs, num_grades=k)
    kaggle = write_kaggle(tmp_path / "kaggle.csv", ["1", "2"], [0, 1])
    for path in (sub, kaggle):
        assert written_by_export(path) and export_out_problem(path, None, None) is None, path.read_text()
    for not_informative in ("", "its referable AUC's 95% CI is not above 0.5"):
        write_referable(sub, 1, not_informative=not_informative)
        assert export_out_problem(sub, None, None) is None, referable_path(sub).read_text()
    short = tmp_path / "short.csv"
    short.write_text(sub.read_text().replace(f",P{k - 1}", "", 1), encoding="utf-8")
    assert written_by_export(short) == (k > 2)  # case,class,P0..P{k-2}: a K-1 grade header


def test_the_stage_folders_are_the_run_files_tables() -> None:
    from drac_ssl.run_files import RUN_FILES

    assert set(STAGE_FOLDERS) == {f.name.split("/")[0] for f in RUN_FILES if "/" in f.name}


def test_a_real_export_writes_again_over_its_own_submission(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.demo_bundle import build_demo_bundle

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1,
                               grade_names=["No DR", "Mild", "Moderate", "Severe", "PDR"], channels=3)
    photos = tmp_path / "photos"
    photos.mkdir()
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    disc = (np.hypot(xx - 48, yy - 48) < 44).astype(np.float32)[..., None]
    base = np.stack([60 + 0.8 * xx, 80 + 0.6 * yy, 140 + 0.2 * (xx + yy)], -1)
    cv2.imwrite(str(photos / "eye_0.png"), np.clip(base * disc, 0, 255).astype(np.uint8))
    out = tmp_path / "graded.csv"
    for _ in range(2):  # the second run replaces the first's files, as before
        assert export.main([str(bundle), "--images", str(photos), "--out", str(out)]) in (0, export.EXIT_FLAGGED)
        assert out.read_text(encoding="utf-8").startswith("case,class,P0,P1,P2,P3,P4\n")
        summary = next(line for line in capsys.readouterr().out.splitlines() if " graded with " in line)
        assert summary.endswith("; which model graded: graded_provenance.json"), summary  # the sidecar named
    assert export.main([str(bundle), "--images", str(photos), "--out", str(bundle / "x.csv")]) == 2
    assert "--out lies in" in capsys.readouterr().err  # the bundle folder (inside the run's bundle/)
    # the sidecar is tied to its CSV (the file's name and SHA-256, the bundle's whole metadata
    # SHA-256), and export --check says when it is missing or describes another file
    import hashlib

    sidecar = tmp_path / "graded_provenance.json"
    record = json.loads(sidecar.read_text(encoding="utf-8"))
    assert record["submission"] == {"file": "graded.csv", "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
    assert record["bundle"]["metadata_sha256_full"] == hashlib.sha256(
        (bundle / "metadata.json").read_bytes()).hexdigest()
    # the command names each path by its last component (the folders above can name a patient)
    assert str(tmp_path) not in record["command"] and "--images photos --out graded.csv" in record["command"], \
        record["command"]
    capsys.readouterr()
    assert export.main(["--check", str(out)]) == 0
    assert "graded_provenance.json" not in capsys.readouterr().err  # it names this very file
    out.write_text(out.read_text(encoding="utf-8").replace("eye_0.png", "eye_9.png"), encoding="utf-8")  # edited
    assert export.main(["--check", str(out)]) == 0  # a warning: the exit code is the file's
    err = " ".join(capsys.readouterr().err.split())
    assert f"warning: {sidecar} records another CSV (graded.csv, SHA-256 {record['submission']['sha256'][:12]}" in err
    # an earlier export's record, without the CSV's SHA-256: a note (it may describe another file)
    del record["submission"]
    sidecar.write_text(json.dumps(record), encoding="utf-8")
    assert export.main(["--check", str(out)]) == 0
    assert f"note: {sidecar} records no SHA-256 of its CSV (written before it did)" in \
        " ".join(capsys.readouterr().err.split())
    sidecar.write_text("{not json", encoding="utf-8")  # no grading provenance at all: a warning
    assert export.main(["--check", str(out)]) == 0
    assert f"warning: {sidecar} is not the export's grading provenance" in " ".join(capsys.readouterr().err.split())
    # none: --check is DRAC's format check, run on CSVs of any tool: a missing drac_ssl record
    # is no finding, and nothing is said of it
    sidecar.unlink()
    assert export.main(["--check", str(out)]) == 0
    err = capsys.readouterr().err
    assert "provenance" not in err and "which model graded" not in err, err


def test_ingest_refuses_an_out_in_its_root(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from data_prep.__main__ import main as data_prep_main

    root = tmp_path / "copy"
    root.mkdir()
    for i in range(4):
        (root / f"eye_{i}.jpg").write_bytes(JPEG)
    (root / "manifest.csv").write_text("image name,DR grade\n" + "".join(
        f"eye_{i}.jpg,{i % 2}\n" for i in range(4)), encoding="utf-8")  # a label file named manifest.csv
    before = {p: p.read_bytes() for p in root.rglob("*")}
    for out in (root, root / "ingested"):
        assert data_prep_main(["ingest", "--root", str(root), "--out", str(out), "--folds", "2"]) == 2
        err = capsys.readouterr().err
        assert f"error: {out}: --out {'is' if out == root else 'lies inside'} the --root folder {root}" in err, err
        assert "fix: choose a folder outside it, e.g. --out runs/copy/data" in err, err
        assert {p: p.read_bytes() for p in root.rglob("*")} == before
    # a review: run from inside --root (--root .), the suggested runs/copy/data lay inside it too
    monkeypatch.chdir(root)
    assert data_prep_main(["ingest", "--root", ".", "--out", "runs/base/data", "--folds", "2"]) == 2
    err = capsys.readouterr().err
    assert "fix: choose a folder outside it, e.g. --out ../runs/copy/data" in err, err
    assert {p: p.read_bytes() for p in root.rglob("*")} == before


def test_compare_and_score_refuse_a_file_they_did_not_write(
        user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import compare
    from drac_ssl.commands import export_parser, score_arguments_problem

    assert compare.main(["runs/first-try", "--csv", "data/base/labels.csv"]) == 2
    err = capsys.readouterr().err
    assert "data/base/labels.csv: --csv names an existing file that compare did not write" in err, err
    assert Path("data/base/labels.csv").read_text(encoding="utf-8") == LABELS
    Path("sub.csv").write_text("case,class,P0,P1\neye_001.jpg,0,1,0\n", encoding="utf-8")
    args = export_parser().parse_args(["--score", "sub.csv", "--labels", "data/base/labels.csv",
                                       "--json", "runs/first-try/stages.json"])
    problem = score_arguments_problem(args) or ""
    assert "runs/first-try/stages.json: --json names an existing file that export --score did not write" in problem
    Path("score.json").write_text(json.dumps({"submission": "s", "labels": "l", "qwk": 0.1}), encoding="utf-8")
    args = export_parser().parse_args(["--score", "sub.csv", "--labels", "data/base/labels.csv", "--json", "score.json"])
    assert score_arguments_problem(args) is None  # its own earlier record: written again


def test_the_demo_bundle_and_build_bundle_never_replace_a_folder_of_the_users(
        user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.demo_bundle import main as demo_main
    from drac_ssl.grading.bundle import bundle_out_problem

    stages = Path("runs/first-try/stages.json").read_bytes()
    assert demo_main(["runs/first-try"]) == 2
    err = capsys.readouterr().err
    assert "runs/first-try: a run folder (a training's: the demo would replace its finetune/summary.json" in err
    assert "fix: give a new folder, e.g. runs/first-try-demo" in err
    assert demo_main(["data/new3"]) == 2 and "a folder holding files of its own" in capsys.readouterr().err
    # a review: 'python -m app.demo_bundle .' crashed (Path('.').with_name); its full path is named
    for here in (".", "runs/first-try/.."):
        assert demo_main([here]) == 2
        named = Path(here).resolve()
        assert f"fix: give a new folder, e.g. {named.with_name(named.name + '-demo')}" in capsys.readouterr().err
    assert Path("runs/first-try/stages.json").read_bytes() == stages and not Path("runs/first-try/finetune").exists()
    run = Path("runs/first-try")
    # build_bundle(RUN, out=...) replaces its folder whole: an image folder would have been deleted
    assert "a folder holding files of its own, not a model bundle" in (bundle_out_problem(Path("data/new3"), run) or "")
    assert "inside runs/first-try/data" in (bundle_out_problem(run / "data" / "b", run) or "")
    assert "the run folder runs/first-try or a folder above it" in (bundle_out_problem(Path("runs"), run) or "")
    assert bundle_out_problem(run / "bundles" / "vicreg", run) is None
    assert bundle_out_problem(Path("new_bundle"), run) is None


def test_the_module_imports_stdlib_only_and_a_checked_file_loads_its_recogniser(tmp_path: Path) -> None:
    """What the module docstring says: importing it loads no yaml, numpy nor torch (the
    export's argument checks run before torch); checking a submission CSV's header loads
    drac_ssl.scale (and with it yaml), never torch."""
    import subprocess
    import sys

    (tmp_path / "out.csv").write_text("case,class,P0,P1,P2\n1.png,0,0.8,0.1,0.1\n", encoding="utf-8")
    code = ("import sys\nfrom drac_ssl import out_paths\n"
            "seen = lambda: sorted(m for m in ('yaml', 'numpy', 'torch', 'drac_ssl.scale') if m in sys.modules)\n"
            "print(seen())\n"
            f"print(out_paths.written_by_export({str(tmp_path / 'out.csv')!r}), seen())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.splitlines()
    assert out[0] == "[]", out
    assert out[1].startswith("True [") and "'drac_ssl.scale'" in out[1] and "'yaml'" in out[1], out
    assert "torch" not in out[1], out


def test_a_prefix_of_an_option_is_refused_and_the_labels_option_is_named_as_typed(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``export --label`` was argparse's "ambiguous option" (a prefix of --labels, --labels-csv,
    --labels-referable-from) and ``--labe x.csv`` was taken as --labels: every parser of a
    user's paths refuses a prefix now (``allow_abbrev=False``), and ``--labels-csv`` without
    ``--score`` is named as typed, not as ``--labels``."""
    from drac_ssl.commands import (
        compare_parser,
        export_parser,
        report_parser,
        score_arguments_problem,
    )

    for parser in (export_parser(), compare_parser(), report_parser()):
        assert parser.allow_abbrev is False
    with pytest.raises(SystemExit):
        export_parser().parse_args(["--score", "team.csv", "--labe", "x.csv"])
    assert "unrecognized arguments: --labe" in capsys.readouterr().err
    for typed in ("--labels", "--labels-csv"):
        args = export_parser().parse_args(["runs/x", typed, "x.csv"])
        assert args.labels == "x.csv"
        assert score_arguments_problem(args) == (f"{typed} goes with --score SUBMISSION.csv (score a "
                                                 "submission against labels you hold)")


def test_a_command_keeps_only_the_last_component_of_its_paths_and_other_values_as_typed() -> None:
    """The export's provenance sidecar records its command with paths cut to their last
    component; a review: every word holding a "/" was cut, so data.grades=[No DR, Mild/Moderate,
    PDR] became data.grades=Moderate, PDR]. Only positional words and the values of path
    options (by the parser's metavar) and path settings are cut now."""
    from drac_ssl.commands import export_parser
    from drac_ssl.runtime import last_component, name_only_words

    words = ["/venv/bin/python", "-m", "drac_ssl.export", "/srv/runs/r1/", "--images", "/srv/patients/jane-doe/photos/",
             "--out=/srv/x/grades.csv", "--labels", "C:\\Users\\jane\\labels.csv", "--variant", "a/b",
             "--image-column=Image/Name", "data.grades=[No DR, Mild/Moderate, PDR]", "data.root=/data/DRAC 2022",
             "data.unlabelled=[/a/u1, /b/u2]", "run.out_dir=/scratch/jane/runs", "--tta"]
    assert name_only_words(words, export_parser()) == [
        "python", "-m", "drac_ssl.export", "r1", "--images", "photos", "--out=grades.csv", "--labels", "labels.csv",
        "--variant", "a/b", "--image-column=Image/Name", "data.grades=[No DR, Mild/Moderate, PDR]",
        "data.root=DRAC 2022", "data.unlabelled=[u1, u2]", "run.out_dir=runs", "--tta"]
    assert last_component("C:\\data\\photos") == "photos" and last_component(None) == ""


def test_a_bundle_s_identity_is_the_hash_of_the_metadata_it_loaded_read_once(tmp_path: Path) -> None:
    """A review: metadata.json was hashed twice (the identity's 12 digits on first use, the
    sidecar's 64 digits again), each from the file as it was then, not as load_bundle parsed it:
    a file replaced in between gave a record whose two hashes disagree and describe a bundle
    that was not the one loaded. Now one hash, of the bytes load_bundle parsed."""
    import hashlib

    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import load_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1)
    loaded = (bundle_dir / "metadata.json").read_bytes()
    bundle = load_bundle(bundle_dir)
    (bundle_dir / "metadata.json").write_bytes(loaded + b"\n")  # replaced after the load (a rebuild)
    full = hashlib.sha256(loaded).hexdigest()
    record = bundle.grading_provenance(1, None)["bundle"]
    assert record["metadata_sha256_full"] == full and record["metadata_sha256"] == full[:12], record
    assert bundle.identity["metadata_sha256"] == full[:12]
