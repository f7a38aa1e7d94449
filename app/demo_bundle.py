"""A tiny, UNTRAINED model bundle for tests, the load benchmark and screenshots.

:func:`build_demo_bundle` writes the fine-tuning stage's output files for a random-init
ResNet-18 fold ensemble (``finetune/summary.json``, ``comparison.json`` and
``<variant>/{model,metrics,calibration}.json`` + safetensors, exactly the files
:mod:`drac_ssl.finetune` writes) and then calls the package's own
:func:`drac_ssl.grading.bundle.build_bundle`, so the bundle has the real format and metadata.
The metadata gets ``"demo"`` set, and the model card is the demo's own (:func:`demo_card`: a
warning banner, random weights, trained on nothing, no figures): its grades are meaningless,
and the app says so in red.

Command line: ``python -m app.demo_bundle OUT_RUN_DIR``, installed as ``drac-ssl-demo-bundle``
(says where it wrote the bundle and the command that opens it in the app).
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drac_ssl import GRADE_NAMES, __version__
from drac_ssl.config import _CHOICES, GRADE_SCALES, FinetuneConfig, to_dict
from drac_ssl.io import atomic_write_json, atomic_write_text
from drac_ssl.starting import (  # stdlib only
    add_version_option,
    ascii_int,
    command_name,
    python_command,
)

__all__ = ["DEMO_NOTE", "DEMO_TRAINED_ON", "build_demo_bundle", "demo_card", "main"]

DEMO_NOTE = ("UNTRAINED DEMO BUNDLE: random-init weights built by app.demo_bundle for tests and "
             "screenshots; its grades, probabilities and heatmaps mean nothing")


DEMO_TRAINED_ON = ("## What it was trained on\n"
                   "- Nothing: an untrained demo bundle, with no training data. Its weights are "
                   "random (`app.demo_bundle`): no pretraining, no fine-tuning, no cross-validation, "
                   "so it has no figures of its own. It is for trying the app's interface.\n\n")
"""The demo card's section on its training data (:func:`demo_card`; the package's card would
say ``unknown (unknown root); ? training images``)."""


def demo_card(meta: dict[str, Any], seed: int = 0) -> str:
    """The model card of the demo bundle whose ``metadata.json`` is ``meta``, written whole
    rather than the package's card with a section replaced: every section of that card
    describes a trained model (a fine-tuning, cross-validated figures, kappa-optimal
    thresholds, calibration on out-of-fold outputs, "as in training"), and a trial read them
    as this bundle's. What it is (random weights, ``seed``), :data:`DEMO_TRAINED_ON`, no
    performance, its intended use (the interface, tests, screenshots) and its limitations,
    with the demo's scope sentence (:data:`drac_ssl.grading.bundle.DEMO_SCOPE_WORDS`: the
    package's "This model grades DR severity only" is no claim to make of random weights)."""
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
    return f"""> **{DEMO_NOTE}.**

# Model card: untrained demo bundle ({model['arch']}, {model['head']} head)

**Not a medical device.** Research software; it must not be used to diagnose, grade or triage
patients. This bundle is not even a model of the task: its weights are random.

## What it is
- Task, in form only: {meta.get('task', '')}.
- Grades: {explain_grades(meta['class_names'])}.
- Model: {model['arch']} backbone ({channels} input channel{'s' if channels != 1 else ''}) and
  {model['head']} head ({model['output']}), every weight random (`app.demo_bundle`, seed {seed});
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


def build_demo_bundle(run_dir: str | Path, *, image_size: int = 128, source_size: int = 256,
                      n_folds: int = 2, head: str = "conv", arch: str = "resnet18",
                      seed: int = 0, grade_names: Sequence[str] = GRADE_NAMES,
                      channels: int = 1) -> Path:
    """Write a random-init fold ensemble as ``run_dir/bundle`` and return that folder.

    The backbone is frozen-style: one shared ``backbone.safetensors`` plus a head per fold,
    as the fine-tuning stage stores a frozen backbone. Cost: well under a second at 128 px.
    ``grade_names``: the scale (default DRAC's three; e.g. the five ICDR grades);
    ``channels``: 1 (grey UW-OCTA, the ``octa`` recipe) or 3 (colour fundus, ``fundus``).
    The weights are drawn from ``seed`` (the same bundle for the same arguments) inside
    ``torch.random.fork_rng``: the caller's global torch random state is left as it was (a
    review: a notebook's seeded experiment was reseeded).
    """
    import torch  # here, not at the top: python -m app.demo_bundle --help loads no torch

    with torch.random.fork_rng(devices=[]):  # the CPU generator: the weights are built on the CPU
        return _build_demo_bundle(run_dir, image_size=image_size, source_size=source_size,
                                  n_folds=n_folds, head=head, arch=arch, seed=seed,
                                  grade_names=grade_names, channels=channels)


def _build_demo_bundle(run_dir: str | Path, *, image_size: int, source_size: int, n_folds: int,
                       head: str, arch: str, seed: int, grade_names: Sequence[str],
                       channels: int) -> Path:
    """:func:`build_demo_bundle`'s work; it seeds the global torch generator."""
    import torch

    from drac_ssl.checkpoint import save_weights
    from drac_ssl.datasets import normalization_for
    from drac_ssl.grading.model import Calibration, InputSpec, ModelSpec
    from drac_ssl.metrics import default_thresholds

    run_dir = Path(run_dir)
    variant = "vicreg"
    vdir = run_dir / "finetune" / variant
    vdir.mkdir(parents=True, exist_ok=True)
    recipe = "octa" if channels == 1 else "fundus"
    mean, std = normalization_for(recipe)
    spec_in = InputSpec(channels=channels, source_size=source_size, image_size=image_size,
                        recipe=recipe, mean=tuple(mean), std=tuple(std))
    spec = ModelSpec(arch=arch, in_channels=channels, cifar_stem=False, head=head, dropout=0.0,
                     num_grades=len(grade_names))
    torch.default_generator.manual_seed(seed)  # the CPU generator alone (manual_seed seeds CUDA too)
    backbone = spec.build_backbone()
    save_weights(vdir / "backbone.safetensors",
                 {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                 {"format": "drac_ssl grading fold v1"})
    folds = []
    for k in range(n_folds):
        torch.default_generator.manual_seed(seed + 1 + k)
        head_state = {f"head.{n}": v for n, v in spec.build_head().state_dict().items()}
        save_weights(vdir / f"fold{k}.safetensors", head_state, {"format": "drac_ssl grading fold v1"})
        folds.append({"fold": k, "weights": ["backbone.safetensors", f"fold{k}.safetensors"]})

    ft = FinetuneConfig(head=head, freeze="frozen", image_size=image_size)
    atomic_write_json(vdir / "model.json", {
        "format": "drac_ssl grading model v1", "variant": variant, "backbone_source": None,
        "freeze": "frozen", "model": spec.to_dict(), "class_names": list(grade_names),
        "input": spec_in.to_metadata(), "folds": folds, "tta": True, "finetune": to_dict(ft),
        "package_version": __version__})
    calibration = Calibration("classification" if spec.output == "classification" else "regression",
                              thresholds=default_thresholds(len(grade_names)))
    atomic_write_json(vdir / "calibration.json", {**calibration.to_dict(), "fitted_on": "nothing (demo)"})
    nan = None
    atomic_write_json(vdir / "metrics.json", {
        "variant": variant, "n": 0, "qwk": nan, "qwk_ci95": [nan, nan], "auc": nan,
        "accuracy": nan, "macro_f1": nan, "qwk_fold_mean": nan, "qwk_fold_std": nan,
        "folds": [{"fold": k, "n_val": 0, "qwk": nan, "auc": nan, "accuracy": nan}
                  for k in range(n_folds)],
        "protocol": "none: untrained demo bundle"})
    ft_dir = run_dir / "finetune"
    atomic_write_json(ft_dir / "comparison.json", {"columns": [], "rows": [], "protocol": "none"})
    atomic_write_json(ft_dir / "summary.json", {"selected": variant, "selection": "demo bundle"})

    from drac_ssl.grading.bundle import build_bundle

    bundle = build_bundle(run_dir, variant)
    meta_path = bundle / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["demo"] = DEMO_NOTE
    meta["data"] = {"kind": "none", "note": DEMO_NOTE}
    atomic_write_json(meta_path, meta)
    # the package's card describes a trained model in every section (its data section said
    # "unknown (unknown root); ? training images", read by a trial as missing records): the
    # demo's own card says what it is
    atomic_write_text(bundle / "MODEL_CARD.md", demo_card(meta, seed))
    return bundle


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.demo_bundle RUN_DIR [--image-size 128] [--folds 2]`` (the installed
    ``drac-ssl-demo-bundle``); returns the exit code."""
    parser = argparse.ArgumentParser(prog=command_name("drac-ssl-demo-bundle", "app.demo_bundle"),
                                     description="Write an untrained demo model bundle.")
    parser.add_argument("run_dir", help="run folder to create (the bundle goes to RUN_DIR/bundle)")
    parser.add_argument("--image-size", type=ascii_int("--image-size"), default=128,
                        help="side in px of the model's input (default: %(default)s)")
    parser.add_argument("--source-size", type=ascii_int("--source-size"), default=256,
                        help="side in px an upload is first resized to, as the training cache "
                             "would hold it, before the model's size (default: %(default)s)")
    parser.add_argument("--folds", type=ascii_int("--folds"), default=2,
                        help="fold models in the ensemble, each graded image goes through all "
                             "(default: %(default)s)")
    parser.add_argument("--head", default="conv", choices=list(_CHOICES["finetune.head"]),  # grading.model.HEADS, without torch
                        help="the grading head on the backbone, as finetune.head (default: %(default)s)")
    parser.add_argument("--grades", default="drac", choices=sorted(GRADE_SCALES),
                        help="grade scale: drac (3 grades) or icdr (5)")
    parser.add_argument("--channels", type=ascii_int("--channels"), default=1, choices=[1, 3],
                        help="1: grey UW-OCTA model, 3: colour fundus model")
    add_version_option(parser)
    args = parser.parse_args(argv)
    bundle = build_demo_bundle(args.run_dir, image_size=args.image_size,
                               source_size=args.source_size, n_folds=args.folds, head=args.head,
                               grade_names=GRADE_SCALES[args.grades], channels=args.channels)
    print(f"Wrote an UNTRAINED demo bundle (random weights: for trying the interface; its grades "
          f"mean nothing) to {bundle}\nOpen it in the app: {python_command('app')} --bundle "
          f"{shlex.quote(str(bundle))}  (then http://127.0.0.1:7860 in a browser)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
