"""``bench/app_speed.py`` times what the app does: its timed request (:func:`bench.app_speed.grade_request`)
on its Predictor (:func:`bench.app_speed.app_predictor`, ``python -m app``'s defaults on the
DRAC-shaped demo bundle) gives the grade, probabilities and heat map of the page's own call
(:func:`app.server._load`, then :meth:`app.predict.Predictor.predict_loaded`), and that map
averages the grade's 4 flipped views (the app's map since 2026-12-05), not the identity view
alone. A review: the committed result had been timed when the map read the identity view only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import app_speed


def test_the_bench_times_the_pages_request_with_the_map_of_the_grades_views(tmp_path: Path) -> None:
    from app.predict import Predictor
    from app.server import _load
    from drac_ssl.grading.predict import TTA_FLIPS

    predictor = app_speed.app_predictor(tmp_path)
    assert predictor.tta and predictor.map_flips == tuple(TTA_FLIPS) and predictor.cam is not None
    assert len(predictor.bundle.models) == 5 and predictor.bundle.spec.image_size == 224
    paths, _ = app_speed._images(tmp_path)
    timed = app_speed.grade_request(predictor, paths[0])
    loaded = _load(str(paths[0]), predictor.limits, predictor.channels, predictor.kind, predictor.grey_trained)
    page = predictor.predict_loaded(loaded)
    assert timed.heatmap is not None and "gradcam" in timed.timings
    assert timed.cam_views == page.cam_views == 4
    assert timed.grade == page.grade and np.array_equal(timed.probs, page.probs)
    np.testing.assert_array_equal(timed.heatmap, page.heatmap)
    # the identity view's map alone (the app's before 2026-12-05) is another map
    identity = Predictor(predictor.bundle, tta=False).predict_loaded(loaded, explain=timed.explained)
    assert identity.cam_views == 1 and not np.allclose(identity.heatmap, timed.heatmap)


def test_the_set_aside_app_speed_runs_are_quoted_as_they_came() -> None:
    """The committed app_speed.json is the quietest of three runs of one command on one commit;
    docs/app.md says so and quotes the other two (kept in bench/results/set_aside/), whose
    beside-the-neighbour p95 missed the 0.3 s goal: a rerun that replaces a file, or words that
    drop the misses, fail here."""
    import json
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    doc = " ".join((repo / "docs" / "app.md").read_text(encoding="utf-8").split())
    kept = json.loads((repo / "bench" / "results" / "app_speed.json").read_text(encoding="utf-8"))
    runs = [json.loads((repo / "bench" / "results" / "set_aside" / f"app_speed_run{i}.json").read_text(
        encoding="utf-8")) for i in (1, 2)]
    for run in runs:
        assert run["command"] == kept["command"] and run["environment"]["git_commit"] == kept["environment"]["git_commit"]
        assert run["environment"]["git_dirty"] is False
    loads = [[*r["results"]["idle"]["load_avg_1min"], *r["results"]["busy_neighbour"]["load_avg_1min"]] for r in runs]
    kept_loads = [*kept["results"]["idle"]["load_avg_1min"], *kept["results"]["busy_neighbour"]["load_avg_1min"]]
    assert all(max(kept_loads) < max(load) for load in loads)  # "the quietest of three runs"
    idle = [r["results"]["idle"] for r in runs]
    busy = [r["results"]["busy_neighbour"] for r in runs]
    assert all(s["goal_met"] for s in idle) and not any(s["goal_met"] for s in busy)
    said = (f"met the goal idle (p95 {idle[0]['model_time_s']['p95']:.2f} s, {idle[1]['model_time_s']['p95']:.2f} s) "
            f"and missed it beside the neighbour (p95 {busy[0]['model_time_s']['p95']:.2f} s, "
            f"{busy[1]['model_time_s']['p95']:.2f} s)")
    assert said in doc, said
    assert f"on the same code ({kept['environment']['git_commit']})" in doc
    # a review: the selection was said in docs/app.md alone; every place that quotes the kept
    # run's figures says it now, with the two busier runs' misses
    quietest = f"the quietest of {len(runs) + 1} runs"
    missed = (f"beside the neighbour {busy[0]['model_time_s']['p95']:.2f} / {busy[1]['model_time_s']['p95']:.2f} s "
              "p95 in the two busier ones: not met")
    from bench.summarize import SUMMARY_BEGIN, SUMMARY_END, render_page, render_summary

    places = {"README.md": 1, "docs/status.md": 1, "docs/design.md": 2}
    for place, times in places.items():
        text = (repo / place).read_text(encoding="utf-8")
        if place == "README.md":  # its prose: the generated summary is checked below
            text = text.split(SUMMARY_BEGIN)[0] + text.split(SUMMARY_END)[1]
        text = " ".join(text.split())
        assert text.count(quietest) == times and text.count(missed) == times, place
    status_row = next(line for line in (repo / "README.md").read_text(encoding="utf-8").splitlines()
                      if line.startswith("| clinician app"))
    assert f"(#14; {quietest}; {missed};" in status_row
    # the generated rows name the set-aside runs with their verdicts, read from the files

    full = next(line for line in render_page().splitlines() if 'id="result-app_speed"' in line)
    summary = next(line for line in render_summary().splitlines() if "[app_speed]" in line)
    assert f"{quietest} of the same command on the same commit" in full and quietest in summary
    for i, s in enumerate(busy, start=1):
        assert (f"app_speed_run{i}, 1-min load up to {max(loads[i - 1]):.1f}: idle p50 {idle[i - 1]['model_time_s']['p50']} s"
                in full)
        assert f"one busy neighbour p50 {s['model_time_s']['p50']} s / p95 {s['model_time_s']['p95']} s (NOT met)" in full
    assert ("the 2 busier, set aside: one busy neighbour p50 "
            f"{busy[0]['model_time_s']['p50']}, {busy[1]['model_time_s']['p50']} s / p95 "
            f"{busy[0]['model_time_s']['p95']}, {busy[1]['model_time_s']['p95']} s (NOT met)") in summary
    for place in ("README.md", "docs/results.md"):
        assert (full if place == "docs/results.md" else summary) in (repo / place).read_text(encoding="utf-8")


def _speed() -> dict:
    import json

    return json.loads((Path(__file__).resolve().parents[2] / "bench" / "results" / "app_speed.json")
                      .read_text(encoding="utf-8"))


def test_the_docstrings_quote_the_committed_backbone_medians() -> None:
    """A review: predict.py said channels-last took "136 against 178 ms" and bundle.py "a quarter
    less" after a rerun wrote 122.7 against 158.3 ms (22 % less); both are read from the file here."""
    from drac_ssl.grading import bundle, predict

    backbone = _speed()["results"]["idle"]["backbone_4_views_ms_median"]
    nhwc, nchw = backbone["channels_last_1_pass_of_4_views"], backbone["nchw_1_pass_of_4_views"]
    four = backbone["nchw_4_passes_of_1_view"]
    module = " ".join(predict.__doc__.split())
    assert f"oneDNN's NHWC convolutions: {nhwc:.0f} against {nchw:.0f} ms for the same pass" in module
    assert f"development CPU: {nchw:.0f} against {four:.0f} ms" in module
    less = 1 - nhwc / nchw
    assert 0.175 <= less < 0.25  # "about a fifth"
    channels = " ".join(bundle.channels_last_on.__doc__.split())
    assert f"take about a fifth less time for a ResNet-18 at 224 px ({round(less * 100)} % less for the 4 views" in channels


ONE_OFF_GRADCAM = ("20.1 ms", "10.3 ms", "x1.94", "x1.80-2.11", "0.142 s", "0.131 s", "x1.08", "x2.5")
"""A one-off timing of the 4-view map against the identity view's, with no script: withdrawn."""


def test_the_cost_of_the_four_view_map_is_the_benchs_figure() -> None:
    """A review: app/gradcam.py and docs/app.md gave a one-off 20.1 against 10.3 ms (x1.94) that no
    script reruns, beside the bench's 23 ms; one figure, the committed file's, is quoted now."""
    import app.gradcam

    repo = Path(__file__).resolve().parents[2]
    idle = _speed()["results"]["idle"]
    said = (f"the Grad-CAM step of the 4 views took a median {idle['parts_median_ms']['gradcam']} ms of the "
            f"{idle['model_time_s']['p50']} s model time per image (idle medians, ``bench/results/app_speed.json``)")
    module = " ".join(app.gradcam.__doc__.split())
    doc = " ".join((repo / "docs" / "app.md").read_text(encoding="utf-8").split())
    assert said in module
    assert said.replace("took", "takes").replace("``", "`")[:-1] in doc  # "..., below)"
    assert f"(the Grad-CAM a median {idle['parts_median_ms']['gradcam']} ms of it)" in doc
    for text in (module, doc):
        assert [w for w in ONE_OFF_GRADCAM if w in text] == []


def test_the_app_page_says_when_the_neighbours_effect_is_within_noise() -> None:
    """At the kept run's load its idle p95 is above its busy p95: the page says the neighbour's
    effect is within noise there, rather than let 0.16 s read as the busy figure it is not."""
    idle, busy = (_speed()["results"][state]["model_time_s"]["p95"] for state in ("idle", "busy_neighbour"))
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "app.md").read_text(encoding="utf-8").split())
    said = (f"At that run's load its idle p95 ({idle} s) is above its busy one ({busy} s): there the neighbour's "
            "effect is within the noise of the run.")
    assert (said in doc) is (idle > busy), said
