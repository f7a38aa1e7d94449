"""The untrained demo bundle's own facts: how its run folder is marked, its note and its card.

``python -m app.demo_bundle RUN`` (:mod:`app.demo_bundle`) writes the fine-tuning stage's
files for random weights into ``RUN/finetune/`` and then calls
:func:`drac_ssl.grading.bundle.build_bundle`, like the export stage. That function reads the
marks below (:func:`demo_run_note`) and, on a demo run folder, writes the bundle as a demo's
every time: ``metadata.json`` ``demo`` (:data:`DEMO_NOTE`) and ``data`` of kind ``none``, and
the demo's own card (:func:`demo_card`). So rebuilding a demo bundle from its run folder (what
a damaged bundle's fix says, :func:`drac_ssl.run_state.rebuild_call`: ``build_bundle('RUN',
oof_calibration=oof_calibration_of('RUN'))``) gives a demo bundle again: a user who
did so got a bundle that read as a trained DRAC model (no "Untrained demo model" warning, the
package's card) while its weights were still random.

The marks (any one makes a demo run folder; a run folder written before
``finetune/summary.json`` had ``demo`` still has the other three):

* ``finetune/summary.json``: ``demo`` (:data:`DEMO_NOTE`), ``demo_seed`` (the seed of the
  weights, for the card), ``selection`` :data:`DEMO_SELECTION`;
* ``finetune/<variant>/calibration.json``: ``fitted_on`` :data:`DEMO_CALIBRATION`;
* ``finetune/<variant>/metrics.json``: ``protocol`` :data:`DEMO_PROTOCOL`.

The standard library and :mod:`drac_ssl.io` (itself standard library only) at import (the card's helpers are imported when it is written).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from drac_ssl.io import read_json_dict

__all__ = ["DEMO_CALIBRATION", "DEMO_NOTE", "DEMO_PROTOCOL", "DEMO_SELECTION", "DEMO_TRAINED_ON",
           "demo_card", "demo_ood_words", "demo_run_note", "demo_run_seed"]

DEMO_NOTE = ("UNTRAINED DEMO BUNDLE: random-init weights built by app.demo_bundle for tests and "
             "screenshots; its grades, probabilities and heatmaps mean nothing")
"""``metadata.json`` ``demo`` of a demo bundle (the app's red banner, the export's and the
card's words) and ``finetune/summary.json`` ``demo`` of its run folder."""

DEMO_SELECTION = "demo bundle"
"""``finetune/summary.json`` ``selection`` of a demo run folder."""

DEMO_CALIBRATION = "nothing (demo)"
"""``finetune/<variant>/calibration.json`` ``fitted_on`` of a demo run folder."""

DEMO_PROTOCOL = "none: untrained demo bundle"
"""``finetune/<variant>/metrics.json`` ``protocol`` of a demo run folder."""

DEMO_TRAINED_ON = ("## What it was trained on\n"
                   "- Nothing: an untrained demo bundle, with no training data. Its weights are "
                   "random (`app.demo_bundle`): no pretraining, no fine-tuning, no cross-validation, "
                   "so it has no figures of its own. It is for trying the app's interface.\n\n")
"""The demo card's section on its training data (:func:`demo_card`; the package's card would
say ``unknown (unknown root); ? training images``)."""


def _read(path: Path) -> dict[str, Any]:
    """``path``'s JSON object; {} when it is missing, unreadable or not an object."""
    return read_json_dict(path) or {}


def demo_run_note(run_dir: str | os.PathLike[str], variant: str | None = None) -> str | None:
    """:data:`DEMO_NOTE` when ``run_dir`` is the run folder of an untrained demo bundle (any
    one of the marks in the module docstring: its ``finetune/summary.json``, or ``variant``'s
    calibration or metrics; ``variant`` None: the summary's ``selected``), else None. Only
    reads; a file missing or unreadable is no mark."""
    ft_dir = Path(run_dir) / "finetune"
    summary = _read(ft_dir / "summary.json")
    if summary.get("demo") or summary.get("selection") == DEMO_SELECTION:
        return str(summary.get("demo") or DEMO_NOTE)
    name = variant or summary.get("selected")
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        return None
    if (_read(ft_dir / name / "calibration.json").get("fitted_on") == DEMO_CALIBRATION
            or _read(ft_dir / name / "metrics.json").get("protocol") == DEMO_PROTOCOL):
        return DEMO_NOTE
    return None


def demo_run_seed(run_dir: str | os.PathLike[str]) -> int | None:
    """The seed of a demo run folder's weights (``finetune/summary.json`` ``demo_seed``); None
    when not recorded (a demo run folder written before it was)."""
    seed = _read(Path(run_dir) / "finetune" / "summary.json").get("demo_seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def demo_ood_words(path: str | os.PathLike[str]) -> str:
    """What the export says of a demo bundle's missing "unlike the training images" check: none
    by design (there are no training images), and no rebuild to suggest (a rebuild gives the
    same demo bundle, without a check)."""
    return (f"{path} is an untrained demo bundle: it has no out-of-distribution check by design (it "
            f"was trained on no images, so there is nothing to compare an image with): no image is "
            f"flagged as unlike the training images, and its grades mean nothing")


def demo_card(meta: dict[str, Any], seed: int | None = 0) -> str:
    """The model card of the demo bundle whose ``metadata.json`` is ``meta``, written whole
    rather than the package's card with a section replaced: every section of that card
    describes a trained model (a fine-tuning, cross-validated figures, kappa-optimal
    thresholds, calibration on out-of-fold outputs, "as in training"), and a trial read them
    as this bundle's. What it is (random weights, ``seed``; None: not recorded),
    :data:`DEMO_TRAINED_ON`, no performance, its intended use (the interface, tests,
    screenshots) and its limitations, with the demo's scope sentence
    (:data:`drac_ssl.grading.bundle.DEMO_SCOPE_WORDS`: the package's "This model grades DR
    severity only" is no claim to make of random weights)."""
    from drac_ssl.grading.bundle import DEMO_SCOPE_WORDS
    from drac_ssl.grading.model import threshold_words
    from drac_ssl.scale import explain_grades

    model, inp, cal = meta["model"], meta["input"], meta["calibration"]
    k = len(meta["class_names"])
    folds = len(meta["folds"])
    channels = int(inp["channels"])
    flips = ("over 4 flips (test-time augmentation)"
             if (meta.get("tta") or {}).get("used_in_cv", True) else "without flips")
    rule = ("the most probable grade" if cal.get("decision") == "argmax" else
            f"{cal['score']} cut at the evenly spaced default thresholds "
            f"{threshold_words(cal['thresholds'])}, tuned on no image")
    conversion = ("Colour or 16-bit inputs are converted to 8-bit grey (luminance), as the "
                  "package's grey models read them." if channels == 1 else
                  "16-bit inputs are converted to 8-bit; grey inputs are replicated to three "
                  "channels with a warning.")
    seed_words = f", seed {seed}" if seed is not None else ", seed not recorded"
    return f"""> **{DEMO_NOTE}.**

# Model card: untrained demo bundle ({model['arch']}, {model['head']} head)

**Not a medical device.** Research software; it must not be used to diagnose, grade or triage
patients. This bundle is not even a model of the task: its weights are random.

## What it is
- Task, in form only: {meta.get('task', '')}.
- Grades: {explain_grades(meta['class_names'])}.
- Model: {model['arch']} backbone ({channels} input channel{'s' if channels != 1 else ''}) and
  {model['head']} head ({model['output']}), every weight random (`app.demo_bundle`{seed_words});
  {folds} fold model{'s' if folds != 1 else ''} (one shared backbone, a head each), graded as their
  mean {flips}.
- Output: probabilities P0..P{k - 1} ({cal['probabilities']}, temperature
  {cal['temperature']:.3f}: not calibrated) and a grade = {rule}.
- Input: {inp['preprocessing']}.
- Package: drac_ssl {meta['package_version']}, built {meta['created_utc']}.

{DEMO_TRAINED_ON}## Performance
- None: nothing was measured (no labelled image, no cross-validation). Its grades,
  probabilities and heatmaps come from random weights and mean nothing.

## Intended use
Trying the app's interface (`python -m app --bundle ...`); the package's tests, its load
benchmark and screenshots. Not for grading any image.
Grad-CAM target layer: `{meta['gradcam_target_layer']}`.

## Limitations
- Not a medical device; not validated on anything.
- {DEMO_SCOPE_WORDS}
- Untrained: a grade, a probability or a heatmap of this bundle says nothing about the image.
- No out-of-distribution check: with no training images there is nothing to compare an
  image with, so no image is flagged as unlike them. {conversion}
"""
