"""The page hides the probability widget's own rounded figure with :data:`app.server.PROBABILITY_CSS`
(``#grade-probabilities dd.confidence``), a selector on gradio's private markup of its Label
component: the app's extra allows any gradio 5, whose frontend may rename that element. This test
reads the installed gradio's built frontend and fails loudly where ``<dd class="confidence`` is gone
(the widget would show its own 0% / 100% and a sum of 101% again beside each label's figure)."""

from __future__ import annotations

from pathlib import Path

import gradio

from app.server import PROBABILITY_CSS, PROBABILITY_ID

ASSETS = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
MARKUP = '<dd class="confidence'


def test_the_installed_gradio_label_still_writes_the_element_the_css_hides() -> None:
    assert PROBABILITY_CSS.startswith(f"#{PROBABILITY_ID} dd.confidence"), PROBABILITY_CSS
    assert ASSETS.is_dir(), f"{ASSETS}: no built frontend in gradio {gradio.__version__}"
    holding = [p.name for p in sorted(ASSETS.glob("*.js")) if MARKUP in p.read_text(errors="replace")]
    assert holding, (f"gradio {gradio.__version__}'s frontend ({ASSETS}) has no {MARKUP!r}: its Label no "
                     f"longer writes the element app.server.PROBABILITY_CSS hides; find the widget's "
                     f"figure's new markup and change the selector (and this test)")
