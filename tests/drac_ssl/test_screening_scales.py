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
from test_preflight import SMALL_BATCHES, findings, plain_dataset
from test_report import HEALTHY, _run, _section

from drac_ssl import train
from drac_ssl.metrics import bootstrap_ci_counted, macro_ovo_auc, macro_ovr_auc
from drac_ssl.report import fold_auc_na_lines, write_report

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
    assert ("type it on the command line, 'data.grades=[No DR, Mild, Moderate, Severe, PDR]' (then only "
            "a warning)") in refused.fix
    for typed in ("data.grades=[No DR, Mild, Moderate, Severe, PDR]", "data.grades=icdr"):
        (warned,) = [f for f in findings(*settings, typed, config=FUNDUS) if f.setting == "data.grades"]
        assert warned.severity == "warning", typed
    (named,) = [f for f in findings(*settings, f"data.grades=[{', '.join(BINARY)}]", config=FUNDUS)
                if f.setting == "data.grades"] or [None]
    assert named is None  # the fix followed: nothing to say


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
