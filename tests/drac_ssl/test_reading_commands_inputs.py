"""The inputs of the reading commands (report, compare, export --check / --score) that a CLI
review found misread: ``report runs`` (the folder of the runs) wrote runs/report.md and exited
0; ``report RUN/config.yaml`` said "no such run folder"; ``compare RUN RUN`` compared a run
with itself; ``export --check DIR`` said "no such submission file"; ``--grades drac`` said only
"invalid int value"; ``--grades 0`` named no flag; ``--labels-csv`` (the ingest's name) was an
unknown option. Each is a usage error now (exit 2) saying what is wrong and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_ingest import make_finished_run


def test_report_refuses_a_folder_of_runs_and_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import report

    runs = tmp_path / "runs"
    run = make_finished_run(runs / "first")
    assert report.main([str(runs)]) == 2
    err = capsys.readouterr().err
    assert f"{runs}: not a run folder of python -m drac_ssl.train (no config.yaml" in err, err
    assert f"it holds run folders (first): pass one, e.g. {run}" in err, err
    assert not (runs / "report.md").exists() and not (runs / "report").exists()
    assert report.main([str(run / "config.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'config.yaml'}: RUN is a file, not a run folder" in err and f", {run}, which holds it" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report.main([str(empty)]) == 2 and not (empty / "report.md").exists()
    assert "fix: pass a run folder (runs/<run.name>)" in capsys.readouterr().err


def test_compare_refuses_a_run_given_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import compare

    run = make_finished_run(tmp_path / "runs" / "a")
    assert compare.main([str(run), f"{run}/"]) == 2
    err = capsys.readouterr().err
    assert f"{run}/: given twice (the same run folder as {run})" in err and "name each run folder once" in err, err


def test_export_check_and_score_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import export

    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2\n1.png,0,0.8,0.1,0.1\n")
    assert export.main(["--check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: --check is a folder, not a submission file" in err and f"--check {sub}" in err, err
    with pytest.raises(SystemExit) as stopped:  # 0 grades: argparse's usage error, the flag named
        export.main(["--check", str(sub), "--grades", "0"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --grades: 0: a grading scale has at least 2 grades" in err, err
    assert "3 for DRAC, 5 for ICDR" in err and "leave --grades out" in err
    with pytest.raises(SystemExit):
        export.main(["--check", str(sub), "--grades", "three"])
    assert "--grades takes the number of grades K here (3 for DRAC, 5 for ICDR" in capsys.readouterr().err
    # a scale's name is its count: drac -> 3 (the file's 3 columns agree), icdr -> 5 (they do not)
    assert export.main(["--check", str(sub), "--grades", "drac", "--images", str(_images(tmp_path, "1.png"))]) == 0
    assert "(--grades drac (3 DRAC grades))" in capsys.readouterr().err  # what was typed, not "--grades says"
    assert export.main(["--check", str(sub), "--grades", "ICDR"]) == 1
    said = capsys.readouterr()
    assert "has 3 grades (case,class,P0,P1,P2) but --grades icdr (5 ICDR grades):" in said.out, said.out
    assert "(--grades icdr (5 ICDR grades))" in said.err and "--grades says" not in said.out + said.err
    assert export.main(["--check", str(sub), "--grades", "3", "--images", str(tmp_path / "images")]) == 0
    assert "(--grades says 3 grades)" in capsys.readouterr().err  # a number: as before
    # --labels-csv, the ingest's name, is --labels
    args = export.export_parser().parse_args(["--score", str(sub), "--labels-csv", "l.csv"])
    assert args.labels == "l.csv"


def _images(tmp_path: Path, *names: str) -> Path:
    from png_bytes import cv2_png, smooth_scan

    folder = tmp_path / "images"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(cv2_png(smooth_scan()))
    return folder


@pytest.mark.parametrize(("module", "argv", "said"), [
    ("data_prep.__main__", ["ingest", "--help"], ["Validate every image and label", "Examples: ",
                                                  "ingest --root my_photos --labels-csv"]),
    ("data_prep.__main__", ["phantom", "--help"], ["Write a synthetic (phantom) UW-OCTA data set", "Example: ",
                                                   "phantom --out phantom_data", "(default: 0)"]),
    ("data_prep.__main__", ["flatten", "--help"], ["Example: ", "flatten --root graded_tree --out graded_flat"]),
    ("app.demo_bundle", ["--help"], ["Examples: ", "demo_bundle runs/demo ", "(default: drac)", "(default: 1)"]),
    ("app.auth", ["--help"], ["Example: ", "auth hash alice >> logins.txt"]),
    ("app.auth", ["hash", "--help"], ["Example: ", "auth hash alice >> logins.txt"]),
])
def test_each_help_has_an_example(module: str, argv: list[str], said: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A CLI review: these --help texts had no example line (and ingest and phantom no
    description, demo_bundle's --grades / --channels and phantom's --workers no default)."""
    import importlib

    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(module).main(argv)
    assert stopped.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # the words as argparse wraps them, on one line
    for words in said:
        assert words in out, (words, out)


def test_train_help_lists_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.commands import train_parser

    with pytest.raises(SystemExit):
        train_parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for code in ("Exit codes: 0 every stage", "; 1 a training stopped on a non-finite loss", "; 2 the run cannot start",
                 "; 75 this run is already running", "; 130 interrupted by Ctrl-C, 143 stopped by SIGTERM",
                 "requeue on 143 or 75, never on 1 or 2 (plain python -m; under torchrun the job sees torchrun's 1",
                 'last line of RUN/invocations.jsonl, its "ended" "exit_code"'):
        assert code in out, out


def test_export_check_says_a_manifest_path_with_braces_as_it_is(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A review of the --grades words: the manifest's path went into text that was then
    ``.format``-ed, so ``runs/{k}`` became ``runs/3`` and ``a{b}`` raised KeyError; and
    ``--grades icdr`` against a manifest of 3 grades was said as ``--grades 5``, ``--grades
    drac`` beside the grade names as two parentheses in a row."""
    from drac_ssl import export

    data = tmp_path / "r{k}{b}"
    data.mkdir()
    manifest = data / "manifest.csv"
    manifest.write_text("id,split,path\n1.png,test,test/1.png\n")  # no ingest_summary: DRAC's 3 grades
    five = tmp_path / "five.csv"
    five.write_text("case,class,P0,P1,P2,P3,P4\n1.png,0,0.6,0.1,0.1,0.1,0.1\n")
    assert export.main(["--check", str(five), "--manifest", str(manifest)]) == 1
    said = capsys.readouterr()
    assert f"but the manifest of {manifest} has 3 grades (Normal, NPDR, PDR):" in said.out, said.out
    kaggle = tmp_path / "kaggle.csv"
    kaggle.write_text("id_code,diagnosis\n1,0\n")
    export.main(["--check", str(kaggle), "--manifest", str(manifest)])
    assert f"(diagnosis 0..2; the manifest of {manifest} has 3 grades)" in capsys.readouterr().err
    assert export.main(["--check", str(five), "--manifest", str(manifest), "--grades", "drac"]) == 1
    out = capsys.readouterr().out
    assert "but --grades drac (3 DRAC grades: Normal, NPDR, PDR): the submission of another run" in out, out
    assert export.main(["--check", str(five), "--manifest", str(manifest), "--grades", "icdr"]) == 2
    err = capsys.readouterr().err
    assert "--grades icdr (5 ICDR grades) contradicts the manifest's 3 grades (Normal, NPDR, PDR)" in err, err


def test_grades_words_format_nothing_they_are_given() -> None:
    """``grades_k_said`` formats no text it is given (it may hold a path); a scale's name is a
    ``GradesScale``, not words with a ``{k}`` in them."""
    from drac_ssl.scale import (
        GradesScale,
        grades_count,
        grades_k_said,
        grades_scale_from,
        grades_typed,
    )

    assert grades_k_said("the manifest of runs/{k}/a{b} has", 3) == "the manifest of runs/{k}/a{b} has 3 grades"
    assert grades_scale_from(grades_count("ICDR")) == GradesScale("icdr")
    assert grades_k_said(grades_scale_from(grades_count("icdr")), 5) == "--grades icdr (5 ICDR grades)"
    assert grades_k_said(grades_scale_from(grades_count("3")), 3, ["a", "b", "c"]) == "--grades says 3 grades (a, b, c)"
    assert grades_k_said("", 3) == "the check expects 3 grades" and grades_scale_from(None) == ""
    assert grades_typed(grades_count("5")) == "--grades 5"
