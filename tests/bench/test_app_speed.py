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
