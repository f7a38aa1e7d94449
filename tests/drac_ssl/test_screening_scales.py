"""A screening-programme analyst's trial (binary non-referable / referable labels and a local
R0..R3 scale, folders built from RetinaMNIST): each finding here fails on the code before its fix.

* F1: binary labels run on ``configs/fundus.yaml``'s five ICDR grades crashed the fine-tuning's
  AUC bootstrap (``IndexError`` in ``_sums_by_value``: a pair of grades with no image), after
  the pretraining and UMM. The AUCs are n/a there, said why; the preflight refuses such labels
  before any stage runs unless ``data.grades`` is typed on the command line.
* F3: ``export --score`` of a two-grade submission gave no sensitivity or specificity (only an
  unnamed ``recall``), nor "QWK is Cohen's kappa here"; a K above 2 with the referable cut of
  the model's bundle gave no referable figures.
* F5: labels in the model's own words, scored without RUN: every row said "write 0, 1, 2 or 3";
  the names are now read from the export's notes file beside the submission when it is clean,
  and the error says to pass RUN otherwise.
* F6: the full run's command after ``--first-try ... run.reuse=<first try>`` carried that
  ``run.reuse``, which the full run refuses: left out, with a note.
* F7: new 28 px images were "far smaller than the model's input" for a model trained on 28 px
  images at 64 px: the bundle records its training images' sizes, compared too.
* F8: the two-grade result line without sensitivity and specificity; DRAC's tie-break and PDR
  figures in the report and card of other data; a four-grade run's referable figures silently
  off under ``auto``, and its table without the sensitivity and specificity two grades show.

(F4, the order of own grade words, is tests/data_prep/test_own_grade_words.py's.) Small arrays,
hand-written CSVs, fake run and bundle folders, and two first tries of the ingest alone (about
35 s of the file's minute on a 2-core CPU)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_preflight import SMALL_BATCHES, findings, plain_dataset
from test_report import HEALTHY, _run, _section

from drac_ssl import scoring, train
from drac_ssl.export import main as export_main
from drac_ssl.metrics import bootstrap_ci_counted, macro_ovo_auc, macro_ovr_auc
from drac_ssl.report import fold_auc_na_lines, write_report
from drac_ssl.submission import image_notes_path, write_image_notes, write_submission

FUNDUS = train.DEFAULT_CONFIG.parent / "fundus.yaml"
BINARY = ("non-referable", "referable")


# --------------------------------------------------------------------------------------
# F1: grades of the scale without an image


def test_the_auc_bootstrap_of_two_grades_without_an_image_is_undefined_not_a_crash() -> None:
    """The review's minimal case: labels 0 and 1 under five columns of probabilities. Grades 2,
    3 and 4 have no image, so the pair (2, 3) has none: the counted one-vs-one AUC indexed an
    empty array. Both AUCs are undefined on every resample: (nan, nan, 0 resamples used)."""
    rng = np.random.default_rng(0)
    y, probs = rng.integers(0, 2, 100), rng.dirichlet(np.ones(5), 100)
    for metric in (macro_ovo_auc, macro_ovr_auc):
        low, high, used = bootstrap_ci_counted(y, probs, metric, n_boot=50)
        assert np.isnan(low) and np.isnan(high) and used == 0, metric
    # one grade missing of four (a pair with one image side): nan as before, never an error
    y = np.array([0, 1, 2] * 10)
    low, high, used = bootstrap_ci_counted(y, rng.dirichlet(np.ones(4), 30), macro_ovo_auc, n_boot=20)
    assert np.isnan(low) and used == 0


def test_the_fine_tuning_console_says_why_the_aucs_are_n_a() -> None:
    """It printed "AUC OvO nan (one-vs-rest nan)" for binary labels on ICDR's five grades."""
    from types import SimpleNamespace

    from drac_ssl.finetune import _absent_grade_words

    icdr = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
    ctx = SimpleNamespace(num_grades=5, grades=np.array([0, 1] * 5))
    assert _absent_grade_words(ctx, icdr) == (  # type: ignore[arg-type]
        "; no labelled image of grade 2 (Moderate), grade 3 (Severe), grade 4 (PDR), and the AUCs need "
        "every grade: is data.grades the scale of these labels?")
    assert _absent_grade_words(SimpleNamespace(num_grades=2, grades=np.array([0, 1])), BINARY) == ""  # type: ignore[arg-type]


def test_binary_labels_on_the_fundus_recipe_s_five_grades_are_refused_before_any_stage(tmp_path: Path) -> None:
    """``-c configs/fundus.yaml`` and no ``data.grades``: labels 0 and 1 read on ICDR's five
    grades, grades 2..4 without an image. Once a warning (the run then crashed hours later);
    now an error whose fix names the two grades' data.grades and how to keep the scale. Typed
    on the command line, the scale is the user's choice: the warning as before. One empty grade
    of DRAC's three stays a warning (test_preflight)."""
    root = plain_dataset(tmp_path / "bin", [0, 1] * 8)
    settings = (f"data.root={root}", *SMALL_BATCHES)
    (refused,) = [f for f in findings(*settings, config=FUNDUS) if f.setting == "data.grades"]
    assert refused.severity == "error"
    assert refused.what.startswith("grade 2 (Moderate), grade 3 (Severe), grade 4 (PDR): no labelled image in ")
    assert "every labelled image is grade 0 or 1, most likely the labels of a two-grade" in refused.what
    assert refused.fix.startswith("data.grades=[name of grade 0, name of grade 1] (your 2 grades' names")
    assert ("type it on the command line, 'data.grades=[No DR, Mild, Moderate, Severe, PDR]', or set it in "
            "your own config file (then only a warning)") in refused.fix
    for typed in ("data.grades=[No DR, Mild, Moderate, Severe, PDR]", "data.grades=icdr"):
        (warned,) = [f for f in findings(*settings, typed, config=FUNDUS) if f.setting == "data.grades"]
        assert warned.severity == "warning", typed
    (named,) = [f for f in findings(*settings, f"data.grades=[{', '.join(BINARY)}]", config=FUNDUS)
                if f.setting == "data.grades"] or [None]
    assert named is None  # the fix followed: nothing to say


def test_binary_labels_on_a_scale_of_the_user_s_own_yaml_or_saved_config_are_only_warned(tmp_path: Path) -> None:
    """``-c my.yaml`` with ``data.grades: [A, B, C, D]`` and labels 0/1 was refused as if the
    scale came from a shipped config: a scale set in the user's own file, or in a run's saved
    config.yaml (a resume), is their choice, warned as when typed; the shipped default's or a
    shipped config's is refused (above)."""
    from drac_ssl.config import load_config, save_config

    root = plain_dataset(tmp_path / "bin", [0, 1] * 8)
    settings = (f"data.root={root}", *SMALL_BATCHES)
    own = tmp_path / "my.yaml"
    own.write_text("data:\n  grades: [A, B, C, D]\n", encoding="utf-8")
    (warned,) = [f for f in findings(*settings, config=own) if f.setting == "data.grades"]
    assert warned.severity == "warning", warned.line
    assert "grade 2 (C), grade 3 (D): no labelled image" in warned.what

    saved = tmp_path / "run" / "config.yaml"
    saved.parent.mkdir()
    save_config(load_config(FUNDUS), saved)
    (resumed,) = [f for f in findings(*settings, config=saved) if f.setting == "data.grades"]
    assert resumed.severity == "warning", resumed.line
    # the same scale from the shipped file is refused
    (shipped,) = [f for f in findings(*settings, config=FUNDUS) if f.setting == "data.grades"]
    assert shipped.severity == "error"


def test_the_report_names_every_grade_without_an_image_and_that_the_pooled_auc_is_n_a_too(tmp_path: Path) -> None:
    """Read this first listed only "No labelled image has grade 2" for grades 2, 3 and 4 (its
    headline is cut at " ("), and the fold table's note said "the pooled out-of-fold AUC above
    includes every image" beside a pooled AUC that is n/a."""
    run = _run(tmp_path, [0, 1, 2, 1, 1, 0] * 5, HEALTHY)
    with open(run / "finetune" / "vicreg" / "oof.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "grade", "fold", "P0", "P1", "P2", "score", "pred"])
        for i in range(30):
            writer.writerow([f"{i:03d}.png", 0, i % 5, 0.5, 0.3, 0.2, 0.7, 0])
    path = run / "finetune" / "vicreg" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "auc": None, "auc_ovr": None,
                                "auc_note": "grade(s) [1, 2] absent from y_true (30 samples): ..."}))
    text = write_report(run).read_text()
    assert "**No labelled image has grades 1, 2 (NPDR, PDR)**: the model has outputs" in text
    first = _section(text, "## Read this first")
    assert "- No labelled image has grades 1, 2 (" in first, first

    folds = np.arange(12) % 3
    said = fold_auc_na_lines([{"fold": 0, "auc": None}], np.zeros(12, dtype=int), folds, ["a", "b", "c"])
    assert "no labelled image at all has grade 1 (b) or grade 2 (c), so the pooled out-of-fold AUC above is n/a too" in said[0]
    assert "includes every image" not in said[0]
    grades = np.array([0, 1, 2] * 4)  # every grade somewhere, one fold lacking one: the old words
    said = fold_auc_na_lines([{"fold": 0, "auc": None}], np.where(folds == 0, 0, grades), folds, ["a", "b", "c"])
    assert "the pooled out-of-fold AUC above includes every image" in said[0]


# --------------------------------------------------------------------------------------
# F3 and F5: export --score of screening labels


def _hold(tmp: Path, labels: list[int], classes: list[int], k: int = 2) -> tuple[Path, list[str]]:
    """A submission of ``k`` grades whose class and probabilities follow ``classes``."""
    cases = [f"h_{i:03d}.png" for i in range(len(labels))]
    probs = np.full((len(cases), k), 0.1 / (k - 1))
    probs[np.arange(len(cases)), classes] = 0.9
    return write_submission(tmp / "hold.csv", cases, probs, np.array(classes), num_grades=k), cases


def _labels(path: Path, cases: list[str], grades: list[object]) -> Path:
    path.write_text("filename,referable\n" + "".join(f"{c},{g}\n" for c, g in zip(cases, grades, strict=True)))
    return path


LABELS = [1] * 10 + [0] * 14  # 10 referable, 14 not
CLASSES = [1] * 8 + [0] * 2 + [0] * 11 + [1] * 3  # 8 of 10 found, 11 of 14 cleared


def test_a_two_grade_score_says_sensitivity_and_specificity_as_the_training_does(tmp_path: Path) -> None:
    sub, cases = _hold(tmp_path, LABELS, CLASSES)
    record = scoring.score(sub, _labels(tmp_path / "L.csv", cases, LABELS), image_column="filename",
                           grade_column="referable", n_boot=200)
    assert record["sensitivity"] == pytest.approx(0.8) and record["specificity"] == pytest.approx(11 / 14)
    referable = record["referable"]
    assert referable["sensitivity_counts"] == [8, 10] and referable["specificity_counts"] == [11, 14]
    assert all(np.isfinite(referable["sensitivity_ci95"])) and all(np.isfinite(referable["specificity_ci95"]))
    assert record["referable_from_source"] == "two grades: grade 1 read as referable"
    lines = scoring.score_lines(record)
    (said,) = [line for line in lines if line.startswith("Two grades, read as a screening decision")]
    assert said.startswith("Two grades, read as a screening decision (referable = grade 1: 10 images of grade 1 "
                           "and 14 of grade 0), by the submission's class column: sensitivity 0.800 (8/10 images; 95% CI ")
    assert "(images of grade 1 found), specificity 0.786 (11/14 images; 95% CI " in said
    assert said.endswith("(grade 0 cleared). QWK is Cohen's kappa here.")
    # with the model's names, named as the training names them
    named = scoring.score(sub, tmp_path / "L.csv", image_column="filename", grade_column="referable",
                          n_boot=50, grade_names=BINARY)
    (said,) = [line for line in scoring.score_lines(named) if line.startswith("Two grades")]
    assert "(referable = grade 1, referable: 10 images of grade 1" in said
    assert "(images of grade 1, referable, found)" in said and "(grade 0, non-referable, cleared)" in said


def _bundle(folder: Path, names: list[str], cut: int | None) -> Path:
    folder.mkdir(parents=True)
    cv = {"referable": {"from_grade": cut}} if cut is not None else {}
    (folder / "metadata.json").write_text(json.dumps({"class_names": names, "cv_metrics": cv}))
    (folder / "MODEL_CARD.md").write_text("card")
    return folder


def test_more_grades_get_the_referable_figures_of_the_bundle_s_cut(tmp_path: Path) -> None:
    """R0..R3 trained with finetune.referable_from=2: scored with RUN, the referable figures at
    that cut; a bundle without one (referable_from=auto on a scale it does not know) gives none."""
    grades = [0, 1, 2, 3] * 6
    sub, cases = _hold(tmp_path, grades, [0, 1, 2, 3] * 5 + [0, 0, 1, 3], k=4)
    labels = _labels(tmp_path / "L.csv", cases, [f"R{g}" for g in grades])
    bundle = _bundle(tmp_path / "b2", ["R0", "R1", "R2", "R3"], 2)
    assert scoring.model_referable_cut(sub, str(bundle)) == 2
    record = scoring.score(sub, labels, image_column="filename", grade_column="referable", n_boot=50,
                           grade_names=scoring.model_grade_names(sub, str(bundle)), run_given=True,
                           referable_from=scoring.model_referable_cut(sub, str(bundle)))
    assert record["referable"]["from_grade"] == 2 and record["referable"]["n_referable"] == 12
    assert "sensitivity" not in record  # K > 2: the cut's figures, under referable
    (said,) = [line for line in scoring.score_lines(record) if line.startswith("Referable DR")]
    assert said.startswith("Referable DR (the cut of RUN's bundle (finetune.referable_from)): referable = "
                           "grade >= 2 (R2 or worse), 12 referable images and 12 not: AUC of P(referable) ")
    assert "sensitivity 0.917 (11/12 images; 95% CI" in said
    none = _bundle(tmp_path / "auto", ["R0", "R1", "R2", "R3"], None)
    assert scoring.model_referable_cut(sub, str(none)) is None


def test_word_labels_without_run_are_read_by_the_notes_file_s_names_or_said_to_need_run(tmp_path: Path) -> None:
    """F5: ``hold_bin_words.csv`` scored without RUN: every row "is not a grade number -> write 0
    or 1". The export's notes file beside the submission names each class (grade_name): read
    when clean, and said; without it the error says to pass RUN, whose names are then read."""
    from drac_ssl.submission import read_noted_grade_names

    sub, cases = _hold(tmp_path, LABELS, CLASSES)
    labels = _labels(tmp_path / "L.csv", cases, [BINARY[g] for g in LABELS])
    args = ["--score", str(sub), "--labels", str(labels), "--image-column", "filename",
            "--grade-column", "referable"]
    assert export_main([*args, "--json", str(tmp_path / "none.json")]) == 2  # no names anywhere
    rows = scoring.read_grade_labels(labels, scoring.scale_names(2), image_column="filename",
                                     grade_column="referable")
    bad = [p for p in rows.problems if p.severity == "error"]
    assert len(bad) == len(cases)
    assert bad[0].fix.startswith("the grade column's words ('referable', 'non-referable') look like the grade "
                                 "names of the model that wrote the submission: pass its run or bundle folder "
                                 "as RUN ("), bad[0].fix
    assert "else write 0 or 1" in bad[0].fix

    notes = write_image_notes(image_notes_path(sub), cases, CLASSES, [[]] * len(cases), [None] * len(cases),
                              bundle={"variant": "vicreg"}, grade_names=BINARY)
    assert read_noted_grade_names(notes) == BINARY
    out = tmp_path / "score.json"
    assert export_main([*args, "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["class_names"] == list(BINARY)
    assert record["class_names_from"] == f"{notes} (its grade_name column)"
    assert record["sensitivity"] == pytest.approx(0.8)
    # a notes file that names only one grade, or two names for one class, gives none
    write_image_notes(notes, cases, [0] * len(cases), [[]] * len(cases), [None] * len(cases),
                      bundle={"variant": "vicreg"}, grade_names=BINARY)
    assert read_noted_grade_names(notes) is None
    write_image_notes(notes, cases, CLASSES, [[]] * len(cases), [None] * len(cases),
                      bundle={"variant": "vicreg"}, grade_names=BINARY)
    notes.write_text(notes.read_text().replace(",referable,,\n", ",Referable,,\n", 1))
    assert read_noted_grade_names(notes) is None

    # the notes of another submission (a class changed since): its names are not read
    write_image_notes(notes, cases, CLASSES, [[]] * len(cases), [None] * len(cases),
                      bundle={"variant": "vicreg"}, grade_names=BINARY)
    assert scoring.notes_grade_names(sub) is not None
    flipped = [1 - c for c in CLASSES[:1]] + list(CLASSES[1:])
    write_image_notes(notes, cases, flipped, [[]] * len(cases), [None] * len(cases),
                      bundle={"variant": "vicreg"}, grade_names=BINARY)
    assert read_noted_grade_names(notes) == BINARY and scoring.notes_grade_names(sub) is None


def test_run_s_bundle_that_did_not_write_the_submission_is_warned(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``--score`` with RUN read RUN's referable cut and names without comparing RUN's bundle
    with the one the notes file's ``bundle`` cell says graded the submission."""
    from drac_ssl.io import sha256_file

    grades = [0, 1, 2, 3] * 6
    sub, cases = _hold(tmp_path, grades, [0, 1, 2, 3] * 5 + [0, 0, 1, 3], k=4)
    labels = _labels(tmp_path / "L.csv", cases, [str(g) for g in grades])
    bundle = _bundle(tmp_path / "b2", ["R0", "R1", "R2", "R3"], 2)
    digest = sha256_file(bundle / "metadata.json")[:12]
    args = ["--score", str(sub), "--labels", str(labels), "--image-column", "filename",
            "--grade-column", "referable", str(bundle)]

    def notes(sha: str) -> None:
        write_image_notes(image_notes_path(sub), cases, [0, 1, 2, 3] * 5 + [0, 0, 1, 3], [[]] * len(cases),
                          [None] * len(cases), bundle={"variant": "vicreg", "metadata_sha256": sha},
                          grade_names=["R0", "R1", "R2", "R3"])

    notes(digest)
    assert scoring.noted_bundle_mismatch(sub, str(bundle)) == ""
    notes("0123456789ab")
    said = scoring.noted_bundle_mismatch(sub, str(bundle))
    assert said.startswith(f"RUN's bundle {bundle} (metadata_sha256={digest}) is not the one that graded "
                           f"({image_notes_path(sub)} names metadata_sha256=0123456789ab): the grade names and "
                           f"the referable cut read from RUN may be another model's"), said
    assert said.endswith("pass the run or bundle folder that wrote the submission as RUN"), said
    assert scoring.noted_bundle_mismatch(sub, None) == ""
    capsys.readouterr()
    assert export_main([*args, "--json", str(tmp_path / "s.json")]) == 0
    captured = capsys.readouterr()
    # said once, in the Graded by line (a final read, D5: a second check printed it on stderr too)
    (graded,) = [line for line in captured.out.splitlines() if line.startswith("Graded by")]
    assert said.removesuffix("; pass the run or bundle folder that wrote the submission as RUN") in graded, graded
    assert (captured.out + captured.err).count("is not the one that") == 1, captured.out + captured.err
    assert (captured.out + captured.err).count(f"metadata_sha256={digest}") == 1, captured.out + captured.err
    assert json.loads((tmp_path / "s.json").read_text())["bundle_mismatch_warning"] == said


# --------------------------------------------------------------------------------------
# F6: the full run after a first try that took another first try's stages


def test_the_full_run_command_leaves_out_run_reuse_of_a_first_try(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``--first-try ... run.reuse=<first-try> run.name=ref2`` ended with "next: the full run"
    carrying ``run.reuse=.../first-try``, which that command then refused ("its ingest stage
    differs (cache_sizes, n_folds)"). The full run's command leaves it out, with a note why;
    the first try's own command keeps it (it ran)."""
    from test_first_try import _photographs
    from test_first_try_full_run import _first_try

    from drac_ssl import preflight
    from drac_ssl.commands import train_overrides, train_parser, train_preset
    from drac_ssl.trial_run import FIRST_TRY_OPTION

    own = [f"data.root={_photographs(tmp_path / 'photos', 18)}", f"run.out_dir={tmp_path / 'runs'}",
           "data.workers=1", "data.n_folds=3", "run.stages=[ingest]"]
    assert _first_try(monkeypatch, ["-c", "fundus", FIRST_TRY_OPTION, *own]) == 0
    first = tmp_path / "runs" / "first-try"
    again = [*own, f"run.reuse={first}", "run.name=ref2"]
    assert _first_try(monkeypatch, ["-c", "fundus", FIRST_TRY_OPTION, *again]) == 0
    args = train_parser().parse_intermixed_args(["-c", "fundus", FIRST_TRY_OPTION, *again])
    _, sources, _ = preflight.read_config(args.config, train_overrides(args), train_preset(args))
    lines = train.full_run_lines(tmp_path / "runs" / "ref2", sources)
    (command,) = [line for line in lines if line.startswith("next: ")]
    assert "run.reuse" not in command and "run.name=ref2" in command, command
    (note,) = [line for line in lines if line.startswith(f"note: run.reuse={first}")]
    assert note.endswith(f"is left out of the full run: {first} was made with {FIRST_TRY_OPTION}, and its "
                         "stages, made at the first try's sizes, cannot be taken into a run without it (its "
                         "ingest differs); the full run makes its own"), note


# --------------------------------------------------------------------------------------
# F7: new images of the training images' own size


def test_an_image_no_smaller_than_the_training_images_is_not_flagged_for_size(tmp_path: Path) -> None:
    """A first try on 28 px RetinaMNIST images, fine-tuned at 64 px: every new 28 px image was
    "far smaller than the model's input" (not reliably gradable, export exit 4). The bundle now
    records its training images' shorter sides (the manifest's orig_width / orig_height), and an
    image at least the size of 95% of them is not flagged; a smaller one still is, said so."""
    from fake_ingest import make_fake_ingest

    from drac_ssl.grading.bundle import data_provenance
    from drac_ssl.grading.model import InputSpec
    from drac_ssl.grading.predict import small_image_warning

    data = make_fake_ingest(tmp_path / "run", n_train=12, n_test=2, size=28)
    sides = data_provenance(data)["train_image_sides"]
    assert sides == {"n": 12, "min": 28, "p05": 28, "median": 28, "max": 28}  # test images not counted
    spec = InputSpec(channels=3, source_size=128, image_size=64, recipe="fundus", mean=(0.5,) * 3, std=(0.25,) * 3)
    bundle = {"input": spec.to_metadata(), "data": {"train_image_sides": sides}}
    assert small_image_warning((28, 28, 3), bundle) == ""
    assert small_image_warning((28, 40, 3), bundle) == ""
    # within 0.9 x the training side: 27 px on a 28 px-trained model was "far below"
    assert small_image_warning((27, 27, 3), bundle) == ""
    assert small_image_warning((28, 28, 3), {"input": spec.to_metadata()}).startswith(  # a bundle without it: as before
        "28x28 px, far below the 64 px the model was trained on")
    said = small_image_warning((25, 25, 3), bundle)  # 25 < 0.9 x 28
    assert said.startswith("25x25 px, far below the 64 px the model was trained on (its input size; warned "
                           "below half of it and below 90% of the 28 px side of half of the 12 images it "
                           "was trained on)"), said


def test_the_training_side_is_the_5th_percentile_from_20_images_the_median_below(tmp_path: Path) -> None:
    """A 5th percentile of a handful of images is their smallest one: from fewer than 20 the
    median is read. And only labelled training rows are counted, as the bundle's docstring says."""
    import csv as _csv

    from fake_ingest import make_fake_ingest

    from drac_ssl.grading.bundle import data_provenance
    from drac_ssl.grading.model import InputSpec
    from drac_ssl.grading.predict import small_image_warning, training_image_side

    spec = InputSpec(channels=3, source_size=128, image_size=224, recipe="fundus", mean=(0.5,) * 3,
                     std=(0.25,) * 3).to_metadata()
    many = {"input": spec, "data": {"train_image_sides": {"n": 40, "min": 10, "p05": 20, "median": 100, "max": 200}}}
    few = {"input": spec, "data": {"train_image_sides": {"n": 10, "min": 10, "p05": 20, "median": 100, "max": 200}}}
    assert training_image_side(many) == 20 and training_image_side(few) == 100
    assert small_image_warning((20, 20, 3), many) == ""
    assert small_image_warning((20, 20, 3), few).startswith("20x20 px, far below the 224 px")
    from drac_ssl.grading.bundle import _small_image_card_words
    assert _small_image_card_words(many) == (
        "\n- An image whose shorter side is below half the 224 px input and below 90% of the 20 px side of 95% "
        "of the images it was trained on is graded with a warning that its grade is unreliable (enlarged "
        "from far less detail).")

    data = make_fake_ingest(tmp_path / "run", n_train=12, n_test=2, size=28)
    path = data / "manifest.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(_csv.DictReader(fh))
    first = rows[0]
    assert first["split"] == "train"
    rows.append({**first, "id": "unlabelled-train.png", "grade": "", "orig_width": "5", "orig_height": "5"})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = _csv.DictWriter(fh, fieldnames=list(first), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert data_provenance(data)["train_image_sides"]["min"] == 28


# --------------------------------------------------------------------------------------
# F8: the result line, the report and the card of a screening run


def _variant_run(root: Path, names: list[str], referable: dict[str, object] | None,
                 referable_from: str = "auto", config: str | None = None) -> Path:
    """A run folder as result_line and report.md's fine-tuning section read it: the selected
    variant's metrics.json (with ``referable``), the comparison, the summary and config.yaml."""
    from drac_ssl.config import Config, load_config, save_config, to_dict

    ft = root / "finetune" / "vicreg"
    ft.mkdir(parents=True)
    figures = {"n": 400, "qwk": 0.29, "qwk_ci95": [0.2, 0.39], "auc": 0.73, "auc_ovr": 0.73, "accuracy": 0.65,
               "macro_f1": 0.64, "class_names": names, "decision": "thresholds"}
    (ft / "metrics.json").write_text(json.dumps({**figures, **({"referable": referable} if referable else {})}))
    row = {"variant": "vicreg", **figures, **({"referable_auc": referable["auc"]} if referable else {})}
    (root / "finetune" / "comparison.json").write_text(json.dumps({"rows": [row], "class_names": names}))
    (root / "finetune" / "summary.json").write_text(json.dumps({"selected": "vicreg", "decision": "thresholds"}))
    cfg = load_config(config) if config else Config()
    cfg.finetune.referable_from = referable_from
    save_config(cfg, root / "config.yaml")
    assert to_dict(cfg)["finetune"]["referable_from"] == referable_from
    return root


REFERABLE = {"from_grade": 1, "rule": "referable = grade 1 (referable)", "n_referable": 174, "n_not": 226,
             "auc": 0.73, "auc_ci95": [0.68, 0.78], "sensitivity": 111 / 174, "specificity": 149 / 226,
             "sensitivity_counts": [111, 174], "specificity_counts": [149, 226],
             "sensitivity_ci95": [0.567, 0.713], "specificity_ci95": [0.596, 0.719],
             "sensitivity_ci_method": "bootstrap", "specificity_ci_method": "bootstrap"}


def test_the_two_grade_result_line_gives_sensitivity_and_specificity(tmp_path: Path) -> None:
    run = _variant_run(tmp_path / "bin", list(BINARY), REFERABLE)
    line = train.result_line(run)
    assert line is not None and line.startswith(
        "result: VICReg (selected for export): out-of-fold Cohen's kappa (K=2: QWK equals it) 0.290 (95% CI "
        "0.200..0.390), AUC of P(referable) 0.730, 400 images; read as a screening decision (referable = grade 1, "
        "referable): sensitivity "
        "0.638 (111/174 images; 95% CI 0.567..0.713), specificity 0.659 (149/226 images; 95% CI 0.596..0.719)"), line
    # the bare numbers as names: "grade 1, 1" said nothing (the fine-tuning's words leave them out)
    numbers = train.result_line(_variant_run(tmp_path / "numbers", ["0", "1"], REFERABLE))
    assert numbers is not None and "(referable = grade 1): sensitivity 0.638" in numbers, numbers
    four = train.result_line(_variant_run(tmp_path / "four", ["R0", "R1", "R2", "R3"], None))
    assert four is not None and "sensitivity" not in four


def test_a_referable_cut_on_four_grades_gets_the_two_grade_columns_and_auto_says_how_to_turn_it_on(
        tmp_path: Path) -> None:
    """R0..R3 with finetune.referable_from=2: the table showed the referable AUC without the
    sensitivity and specificity a two-grade run shows; with auto the figures were silently off
    (only compare said how to turn them on)."""
    from drac_ssl.report import _finetune_section, read_this_first

    names = ["R0", "R1", "R2", "R3"]
    cut = {**REFERABLE, "from_grade": 2, "rule": "referable = grade >= 2 (R2 or worse)"}
    run = _variant_run(tmp_path / "cut", names, cut, referable_from="2")
    text = "\n".join(_finetune_section(run, run / "report"))
    header = next(line for line in text.splitlines() if line.startswith("| variant |"))
    assert header.endswith("| referable AUC (95% CI) | sensitivity | specificity |"), header
    assert "| 0.638 | 0.659 |" in text
    assert "sensitivity and specificity: of that referable decision, at the submitted grades" in text
    assert "No referable-DR figures" not in text

    auto = _variant_run(tmp_path / "auto", names, None)
    off = "\n".join(_finetune_section(auto, auto / "report"))
    assert ("\nNo referable-DR figures: `finetune.referable_from=auto` gives a referable cut on the ICDR scale "
            "(grade >= 2) and on two grades only, not on this scale (R0, R1, R2, R3). To have them, set the first "
            "referable grade, e.g. `finetune.referable_from=2` (referable = grade >= 2, R2 or worse)") in off
    # a plain note, not a warning: the run did what its settings say
    assert "No referable" not in "\n".join(read_this_first(off.splitlines()))
    # asked for off: nothing to say
    asked = _variant_run(tmp_path / "off", names, None, "off")
    said = "\n".join(_finetune_section(asked, asked / "report"))
    assert "No referable-DR figures" not in said


def test_a_drac_run_says_nothing_of_referable_figures_auto_leaves_off_on_purpose(tmp_path: Path) -> None:
    """Every default DRAC run's report opened (bold, in "Read this first") with "No
    referable-DR figures ... rerun with finetune.referable_from=2", though auto is off on
    DRAC's Normal/NPDR/PDR on purpose (docs/configuration.md): the run folder holds the
    config.yaml a ``-c configs/drac.yaml`` run saves and DRAC's kind of ingest records."""
    from drac_ssl import GRADE_NAMES
    from drac_ssl.report import _drac_data, _finetune_section, read_this_first

    root = Path(__file__).resolve().parents[2]
    run = _variant_run(tmp_path / "drac", list(GRADE_NAMES), None, config=str(root / "configs" / "drac.yaml"))
    assert "drac" == (yaml.safe_load((run / "config.yaml").read_text()).get("data") or {}).get("dataset")
    assert not _drac_data(run)  # the scale alone keeps it out
    text = "\n".join(_finetune_section(run, run / "report"))
    assert "referable_from" not in text, text
    assert "No referable" not in "\n".join(read_this_first(text.splitlines()))


def test_drac_s_tie_break_is_said_for_drac_data_alone() -> None:
    from drac_ssl.selection import recorded_selection, selection_words

    rule = selection_words({"vicreg": {"qwk": 0.5}, "scratch": {"qwk": 0.4}}, "thresholds", "vicreg")
    assert ", as DRAC breaks ties" in rule
    assert recorded_selection(rule, None, None, "vicreg") == rule
    assert recorded_selection(rule, None, None, "vicreg", drac=False) == rule.replace(", as DRAC breaks ties", "")


def test_a_referral_target_with_no_referable_labelled_image_is_refused_before_any_training(tmp_path: Path) -> None:
    """A second read of today's merges: binary labels on a four-grade scale of the user's own
    YAML (only warned) with ``finetune.referral_target`` set and ``referable_from`` 2 trained
    every fold of every variant before the cut's fit found no referable image. The preflight
    now says so first; with a cut that has labelled images on both sides it says nothing."""
    root = plain_dataset(tmp_path / "bin", [0, 1] * 8)
    own = tmp_path / "my.yaml"
    own.write_text("data:\n  grades: [A, B, C, D]\n", encoding="utf-8")
    settings = (f"data.root={root}", *SMALL_BATCHES, "finetune.referral_target=sensitivity:0.9")
    (refused,) = [f for f in findings(*settings, "finetune.referable_from=2", config=own)
                  if f.setting == "finetune.referral_target"]
    assert refused.severity == "error", refused.line
    assert "none of the labelled images" in refused.what and "grade >= 2" in refused.what
    assert "finetune.referable_from=R with labelled images on both sides of R" in refused.fix
    assert not [f for f in findings(*settings, "finetune.referable_from=1", config=own)
                if f.setting == "finetune.referral_target" and f.severity == "error"]
