"""Figures in one set of words: report.md and ``python -m drac_ssl.compare`` read the same run
folder and must print its figures alike (docs/design.md: compare shows them "in report.py's
words"); the formatting layer (drac_ssl.figures) says each case once."""

from __future__ import annotations

import json
from pathlib import Path

from test_compare import make_run

from drac_ssl.compare import compare_runs
from drac_ssl.report import write_report


def _tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of ``text``, each a list of rows (header -> cell)."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = [c.strip() for c in line.strip("|").split(" | ")]
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("| "):
                    break
                rows.append(dict(zip(header, (c.strip() for c in body.strip().strip("|").split(" | ")),
                                     strict=True)))
            tables.append(rows)
    return tables


def _table_with(text: str, column: str) -> list[dict[str, str]]:
    found = [t for t in _tables(text) if t and column in t[0]]
    assert found, f"no table with a {column!r} column in:\n{text}"
    return found[0]


def test_report_and_compare_print_one_result_in_the_same_words(tmp_path: Path) -> None:
    """One run folder, one stored result: a difference with its CI, one whose CI has width 0,
    one with a bound missing, a difference of None and one of True (neither a figure); a
    variant's accuracy None and macro F1 True. report.md and compare print each alike."""
    run = make_run(tmp_path, "run", variants=("scratch", "vicreg", "vicreg_umm"))
    path = run / "finetune" / "comparison.json"
    comparison = json.loads(path.read_text())
    comparison["pretrained_minus_scratch"] = {
        "vicreg": {"accuracy": {"difference": 0.05, "ci_low": 0.01, "ci_high": 0.09},
                   "qwk": {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0},
                   "auc_ovr": {"difference": 0.05, "ci_low": None, "ci_high": 0.09}},
        "vicreg_umm": {"accuracy": {"difference": None, "ci_low": -0.1, "ci_high": 0.1},
                       "qwk": {"difference": True, "ci_low": -0.1, "ci_high": 0.1},
                       "auc_ovr": {"difference": -0.25, "ci_low": -0.4, "ci_high": -0.1}}}
    for row in comparison["rows"]:
        if row["variant"] == "vicreg":
            row.update(accuracy=None, macro_f1=True)
    path.write_text(json.dumps(comparison))

    report = write_report(run).read_text()
    compared = compare_runs([run]).markdown()

    mine = {row["difference"]: row for row in _table_with(report, "difference")}
    theirs = {row["difference"].split(" − ")[0]: row for row in _table_with(compared, "CI from (resamples, seed, units)")}
    for label, variant in (("VICReg - scratch", "vicreg"), ("VICReg + UMM - scratch", "vicreg_umm")):
        for title_report, title_compare in (("accuracy", "accuracy"), ("QWK", "QWK"), ("AUC (OvR)", "AUC OvR")):
            assert mine[label][title_report] == theirs[variant][title_compare], (label, title_report)
    cells = theirs["vicreg"]
    assert cells["accuracy"] == "+0.050 (+0.010..+0.090)"
    # width 0: the reason stays (the most informative of the old wordings)
    assert cells["QWK"] == "+0.000 (CI not meaningful: every resample gives 0.000: no resample of these images changes it)"
    assert cells["AUC OvR"] == "+0.050 (n/a..+0.090)"  # the bound that is known stays
    assert theirs["vicreg_umm"]["accuracy"] == theirs["vicreg_umm"]["QWK"] == "n/a"  # None, True: no figure

    mine_rows = {row["variant"].split(" (")[0]: row for row in _table_with(report, "fold QWK mean ± SD")}
    their_rows = {row["variant"]: row for row in _table_with(compared, "QWK (95% CI)")}
    for variant, title in (("scratch", "scratch"), ("vicreg", "VICReg")):
        for column in ("accuracy", "macro F1"):
            assert mine_rows[title][column] == their_rows[variant][column], (variant, column)
    assert their_rows["vicreg"]["accuracy"] == their_rows["vicreg"]["macro F1"] == "n/a"


def test_report_says_the_one_grade_note_the_run_stored_as_compare_does(tmp_path: Path) -> None:
    """compare reads the note the fine-tuning stored (recomputing it only for a run made before
    it was stored); report.md recomputed it from oof.csv, so the two could disagree on one run."""
    run = make_run(tmp_path, "run", one_grade=("scratch",))
    stored = "the note this run stored"
    for variant, note in (("scratch", None), ("vicreg", stored)):
        path = run / "finetune" / variant / "metrics.json"
        metrics = json.loads(path.read_text())
        metrics["one_grade_note"] = note
        path.write_text(json.dumps(metrics))
        comparison = json.loads((run / "finetune" / "comparison.json").read_text())
        for row in comparison["rows"]:
            if row["variant"] == variant:
                row["one_grade_note"] = note
        (run / "finetune" / "comparison.json").write_text(json.dumps(comparison))
    report = write_report(run).read_text()
    assert "> **After the cross-fitted calibration, every image" not in report  # scratch stored null: none
    assert f"> **After the cross-fitted calibration, {stored}**" in report
    # a run made before the note was stored: recomputed from oof.csv, as compare does
    for variant in ("scratch", "vicreg"):
        path = run / "finetune" / variant / "metrics.json"
        metrics = json.loads(path.read_text())
        del metrics["one_grade_note"]
        path.write_text(json.dumps(metrics))
    assert "> **After the cross-fitted calibration, every image was given one grade (1 NPDR)**" in (
        write_report(run).read_text())


def test_one_rendering_for_what_is_not_a_figure() -> None:
    import numpy as np

    from drac_ssl import figures, metrics

    for value in (None, True, False, float("nan"), float("inf"), "0.5", [0.5], np.bool_(True)):
        assert figures.figure_text(value) == figures.signed_text(value) == "n/a", value
        assert figures.format_with_ci(value, 0.1, 0.3) == figures.format_difference(value, 0.1, 0.3) == "n/a"
    assert figures.figure_text(np.float32(0.25)) == "0.250" and figures.figure_text(np.int64(2), 1) == "2.0"
    assert figures.signed_text(0.0) == "+0.000" and figures.signed_text(-0.0104) == "-0.010"
    # an interval: both bounds, one (the known one stays), none; width 0 keeps a reason
    assert figures.format_ci(0.1, 0.3) == "0.100..0.300"
    assert figures.format_ci(None, 0.3) == "n/a..0.300" and figures.format_ci(None, float("nan")) == "n/a"
    assert figures.format_ci(0.5, 0.5) == ("not meaningful: every resample gives 0.500: no resample of "
                                           "these images changes it")
    assert figures.format_ci(0.1, 0.3, "why") == "not meaningful: why"
    assert figures.format_with_ci(0.65, 0.6, 0.7) == "0.650 (0.600..0.700)"
    assert figures.format_with_ci(0.65, None, None) == "0.650 (CI n/a)"
    assert figures.format_with_ci(0.0, 0.0, 0.0, "every image was given one grade (1 NPDR)") == (
        "0.000 (CI not meaningful: every image was given one grade (1 NPDR))")
    assert figures.format_difference(0.05, 0.01, 0.09) == "+0.050 (+0.010..+0.090)"
    assert figures.format_signed_interval(-0.01, None) == "-0.010..n/a"
    assert figures.markdown_table(["a", "b"], [[1, "x"]]) == ["| a | b |", "|---|---|", "| 1 | x |", ""]
    # metrics' names are the same functions, and its width-0 reason the same words
    assert metrics.format_difference is figures.format_difference and metrics.figure_text is figures.figure_text
    assert metrics.degenerate_ci_reason(0.5, 0.5) == figures.constant_interval_reason(0.5)


def test_the_formatting_layer_imports_nothing_heavy() -> None:
    """The console, report.md, compare, the model card and the app all import it: stdlib only."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, drac_ssl.figures\n"
         "print(sorted(m for m in sys.modules if m.startswith(('drac_ssl', 'numpy', 'torch', 'sklearn'))))"],
        cwd=repo, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['drac_ssl', 'drac_ssl.figures']"


def test_a_bound_near_0_keeps_enough_decimals_to_say_which_side_of_0_it_is() -> None:
    """A statistician's review: a stored upper bound of -0.00027 printed as '-0.000', which the
    report's own words ('a CI that ends at 0 touches 0') then misread as touching 0."""
    from drac_ssl.figures import format_ci, format_difference

    assert format_difference(-0.0149, -0.0315, -0.00027) == "-0.015 (-0.032..-0.0003)"
    assert format_difference(-0.06, -0.125, 0.0) == "-0.060 (-0.125..+0.000)"  # exactly 0: touches
    assert format_ci(0.00004, 0.3) == "0.00004..0.300"
    assert format_ci(0.1234, 0.3) == "0.123..0.300"  # the usual 3 decimals
    assert format_ci(-4e-9, 0.3) == "0.000..0.300"  # beyond 6 decimals: float noise, 0
    assert format_difference(0.0, -1e-17, 0.05) == "+0.000 (+0.000..+0.050)"
    assert format_ci(-2.4e-6, 0.3) == "-0.000002..0.300"


def test_an_inconclusive_chance_warning_asks_for_images_not_another_recipe() -> None:
    """Review F6: beside "inconclusive, not evidence that the method fails" the remedy said "more
    training or another recipe", which undoes it; an inconclusive interval asks for more labelled
    images, in the default remedy and in the scoring's. A CI short of useful grading keeps them."""
    from drac_ssl.figures import CHANCE_NEEDS, chance_words
    from drac_ssl.scoring import DOMAIN_SHIFT_REMEDY, WEAK_CHECK_REMEDY

    small = {"qwk": 0.186, "qwk_ci95": [-0.138, 0.483], "auc_ovr": 0.56}  # a trial: reaches 0.4 too
    for remedy in (None, DOMAIN_SHIFT_REMEDY, WEAK_CHECK_REMEDY):
        said = chance_words(small) if remedy is None else chance_words(small, remedy=remedy)
        assert said is not None and "not evidence that the method fails" in said
        assert "another recipe" not in said and "more training" not in said and "more labelled images" in said, said
    assert chance_words(small).endswith("Do not read its grades or probabilities as a grading; it needs more "
                                        "labelled images.")
    short = chance_words({"qwk": -0.087, "qwk_ci95": [-0.412, 0.246], "auc_ovr": 0.433})
    assert short is not None and "inconclusive" not in short and short.endswith(f"it needs {CHANCE_NEEDS}.")


def test_an_interval_ending_exactly_at_useful_grading_is_inconclusive() -> None:
    """Mutation audit M64: a QWK interval whose upper end is exactly :data:`USEFUL_QWK` (0.4)
    reaches useful grading, so the result is inconclusive (``>=``, not ``>``)."""
    from drac_ssl.figures import USEFUL_QWK, chance_words

    said = chance_words({"qwk": 0.1, "qwk_ci95": [-0.2, USEFUL_QWK], "auc_ovr": 0.56})
    assert said is not None and "so the result is inconclusive" in said, said
    below = chance_words({"qwk": 0.1, "qwk_ci95": [-0.2, 0.399], "auc_ovr": 0.56})
    assert below is not None and "inconclusive" not in below, below


def test_the_chance_warning_quotes_the_one_vs_one_auc_the_result_line_gives() -> None:
    """A DRAC participant's finding (F5): the warning quoted the one-vs-rest AUC alone while the
    ``[train] result:`` line after it gave the macro one-vs-one AUC (DRAC's tie-breaker), two
    numbers for "the AUC". With both stored, both are said, labelled."""
    from drac_ssl.figures import chance_words

    said = chance_words({"qwk": 0.1, "qwk_ci95": [-0.2, 0.3], "auc": 0.58, "auc_ovr": 0.62})
    assert said is not None and ", macro AUC one-vs-rest 0.620, one-vs-one 0.580 (0.5 = chance)." in said, said
    ranked = chance_words({"qwk": 0.1, "qwk_ci95": [-0.2, 0.3], "auc": 0.79, "auc_ovr": 0.81,
                           "auc_ovr_ci95": [0.7, 0.9]})
    assert ranked is not None and "(macro AUC one-vs-rest 0.810, 95% CI 0.700..0.900, above 0.5; one-vs-one 0.790)" \
        in ranked, ranked
