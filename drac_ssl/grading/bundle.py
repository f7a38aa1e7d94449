"""The model bundle: the fold ensemble of the fine-tuning variant chosen for export, with
everything needed to use it and to judge it.

:func:`build_bundle` writes ``run_dir/bundle/`` from ``run_dir/finetune/`` (the variant of
``finetune/summary.json``, the best out-of-fold kappa):

* the fold ensemble's weights (safetensors; a frozen backbone is stored once),
* ``metadata.json`` (MONAI-bundle style): the input format exactly as training used it
  (channels, size, the cached source size, normalisation, the preprocessing steps), class
  names, the head and its calibration (temperature, kappa thresholds), cross-validated
  metrics, data provenance (phantom or real DRAC), package version and the Grad-CAM target
  layer,
* ``MODEL_CARD.md``: what the model is, what it was trained on, how well it did in
  cross-validation, what it is for and what it is not for.

:func:`load_bundle` reads one back (a bundle folder or a run folder holding ``bundle/``):
the fold models (:func:`drac_ssl.grading.model.load_fold_model`), sharing one backbone
module when the folds' backbones are bit-identical (:func:`backbones_identical`), the
calibration and the input format. A bundle of another format is refused with the command
that rebuilds it. Prediction: :mod:`drac_ssl.grading.predict`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from drac_ssl import GRADE_NAMES, NUM_GRADES, PROB_COLUMNS, __version__
from drac_ssl.grading.model import Calibration, GradingModel, InputSpec, load_fold_model
from drac_ssl.grading.predict import FLIP_NAMES, TTA_FLIPS, input_spec_of
from drac_ssl.io import atomic_write_json, atomic_write_text
from drac_ssl.models import Backbone

__all__ = [
    "BUNDLE_FORMAT",
    "GRADCAM_TARGET_LAYER",
    "VARIANT_STAGE",
    "Bundle",
    "BundleError",
    "backbones_identical",
    "build_bundle",
    "data_provenance",
    "load_bundle",
]

BUNDLE_FORMAT = "drac_ssl bundle v1"
GRADCAM_TARGET_LAYER = "backbone.layer4"
VARIANT_STAGE = {"vicreg": "pretrain", "vicreg_umm": "umm"}
"""The run sub-folder whose ``backbone.safetensors`` + ``metadata.json`` a fine-tuning
variant starts from."""


class BundleError(ValueError):
    """A bundle or run folder that cannot be used; the message says why and what to do."""


@dataclass
class Bundle:
    """A loaded model bundle: the fold models (eval mode, on ``device``), their calibration
    and the input format (``metadata["input"]``).

    When the folds' backbones are identical, :func:`load_bundle` makes the fold models hold
    one backbone module (:attr:`shared_backbone`); each fold model is still a complete
    :class:`GradingModel` (Grad-CAM deep-copies them one by one)."""

    path: Path
    metadata: dict[str, Any]
    models: list[GradingModel]
    calibration: Calibration
    spec: InputSpec
    device: torch.device

    @property
    def shared_backbone(self) -> Backbone | None:
        """The backbone module every fold model holds (the same object), else None: then
        :func:`drac_ssl.grading.predict.predict_tensors` runs it once per view for all fold heads."""
        if not self.models:
            return None
        first = self.models[0].backbone
        return first if all(m.backbone is first for m in self.models[1:]) else None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: {what} is unreadable ({exc})") from None


def data_provenance(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Where the training images came from, from the ingest's ``ingest_summary.json``.

    ``kind`` is ``phantom`` (the package's procedural stand-ins: the data root holds the
    generator's ``phantom.json``), ``drac`` (any other data: presumably real DRAC images) or
    ``unknown`` (no ingest summary).
    """
    from data_prep.phantom import MANIFEST_NAME as PHANTOM_MARKER

    summary_path = Path(data_dir) / "ingest_summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"kind": "unknown", "note": f"no readable ingest summary at {summary_path}"}
    root = summary.get("root") or ""
    phantom = bool(root) and (Path(root) / PHANTOM_MARKER).is_file()
    n_train = n_test = 0
    per_grade = dict.fromkeys(range(NUM_GRADES), 0)
    try:  # counts from the manifest itself, the list the later stages really used
        with open(Path(data_dir) / "manifest.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("split") == "test":
                    n_test += 1
                elif row.get("split") == "train":
                    n_train += 1
                    if (row.get("grade") or "").strip().isdigit():
                        per_grade[int(row["grade"])] = per_grade.get(int(row["grade"]), 0) + 1
    except OSError:
        pass
    return {
        "kind": "phantom" if phantom else "drac",
        "root": root,
        "layout": summary.get("layout"),
        "ingested_utc": summary.get("created_utc"),
        "n_train": n_train,
        "n_test": n_test,
        "train_per_grade": {GRADE_NAMES[k]: v for k, v in per_grade.items() if k < NUM_GRADES},
        "note": ("phantom UW-OCTA images drawn by data_prep.phantom: procedural stand-ins, NOT "
                 "patient data; metrics on them say nothing about real DR grading"
                 if phantom else "images ingested from the data root above (not the phantom set)"),
    }


def _model_card(meta: dict[str, Any]) -> str:
    cv = meta["cv_metrics"]
    data = meta["data"]
    inp = meta["input"]
    model = meta["model"]
    cal = meta["calibration"]

    def num(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    ci = cv.get("qwk_ci95") or [None, None]
    width = f", width {model['head_width']}" if model.get("head_width") else ""
    fold_lines = "\n".join(
        f"| {f['fold']} | {f['n_val']} | {num(f.get('qwk'))} | {num(f.get('auc'))} | "
        f"{num(f.get('accuracy'))} |" for f in cv.get("folds", []))
    comparison = "\n".join(
        f"| {r['variant']} | {num(r.get('qwk'))} ({num(r.get('qwk_ci_low'))}..{num(r.get('qwk_ci_high'))}) "
        f"| {num(r.get('auc'))} | {num(r.get('accuracy'))} | {num(r.get('macro_f1'))} |"
        for r in meta.get("comparison", []))
    data_warning = (
        "\n> **The training data were phantom images** (procedural stand-ins generated by "
        "`data_prep.phantom`), not patient data. This bundle only demonstrates the pipeline; "
        "its numbers say nothing about grading real UW-OCTA images.\n"
        if data.get("kind") == "phantom" else "")
    return f"""# Model card: drac_ssl DR grader ({meta['variant']}, {model['head']} head)

**Not a medical device.** Research software for the DRAC 2022 challenge; it must not be used
to diagnose, grade or triage patients.
{data_warning}
## What it is
- Task: diabetic retinopathy grade of one ultra-wide OCTA en-face image (DRAC 2022 Task 3):
  {', '.join(f'{k} {n}' for k, n in enumerate(meta['class_names']))}.
- Model: {model['arch']} backbone ({inp['channels']} input channel), backbone variant
  `{meta['variant']}` ({meta['selection']}), {model['head']} head ({model['output']}{width}),
  backbone {meta['freeze']} during fine-tuning; an ensemble of {len(meta['folds'])}
  cross-validation fold models with flip test-time augmentation.
- Output: probabilities P0..P2 ({cal['probabilities']}, temperature {cal['temperature']:.3f})
  and a grade = {cal['score']} cut at the kappa-optimal thresholds
  {', '.join(f'{t:.3f}' for t in cal['thresholds'])}.
- Input: {inp['preprocessing']}.
- Package: drac_ssl {meta['package_version']}, built {meta['created_utc']}.

## What it was trained on
- Data: {data.get('kind')} ({data.get('root') or 'unknown root'}); {data.get('n_train', '?')}
  training images (per grade: {data.get('train_per_grade', '?')}), {data.get('n_test', '?')}
  test images. {data.get('note', '')}
- Self-supervised pretraining (VICReg{', then UMM' if meta['variant'] == 'vicreg_umm' else ''})
  on the ingested images without labels{' (not used: random init)' if meta['variant'] == 'scratch' else ''};
  supervised fine-tuning by {len(meta['folds'])}-fold cross-validation on the labelled images.

## Cross-validated performance (out-of-fold, n = {cv.get('n')})
Quadratic weighted kappa {num(cv.get('qwk'))} (bootstrap 95% CI {num(ci[0])}..{num(ci[1])}),
macro one-vs-one AUC {num(cv.get('auc'))}, accuracy {num(cv.get('accuracy'))}, macro F1
{num(cv.get('macro_f1'))}. {cv.get('protocol', '')}

| fold | n | QWK | AUC | accuracy |
|---|---|---|---|---|
{fold_lines}

Variants compared under the same protocol:

| variant | QWK (95% CI) | AUC | accuracy | macro F1 |
|---|---|---|---|---|
{comparison}

## Intended use
Ranking and analysing DRAC 2022 Task 3 submissions; studying self-supervised pretraining
(VICReg, UMM) on UW-OCTA; teaching. Grad-CAM target layer: `{meta['gradcam_target_layer']}`.

## Limitations
- Not a medical device; not validated on any clinical population.
- Cross-validated on a small single-challenge data set (no external test set); kappa has a
  wide confidence interval. The reported metrics use cross-fitted thresholds and temperature;
  the deployed ones were fitted on all out-of-fold predictions.
- Images unlike the training data (other devices, fields of view, montages, 3 x 3 mm scans,
  artefacts) are graded without warning. Colour or 16-bit inputs are converted to 8-bit grey.
- The probabilities are calibrated on out-of-fold predictions only.
"""


def build_bundle(run_dir: str | os.PathLike[str], variant: str | None = None) -> Path:
    """Write ``run_dir/bundle/`` from the fine-tuning outputs (see the module docstring).

    ``variant`` defaults to the one selected in ``finetune/summary.json``. The bundle is
    assembled in a temporary folder and moved into place, replacing an older one.
    """
    run_dir = Path(run_dir)
    ft_dir = run_dir / "finetune"
    summary = _read_json(ft_dir / "summary.json",
                         "the fine-tuning summary (run the finetune stage first)")
    variant = variant or summary["selected"]
    vdir = ft_dir / variant
    model_json = _read_json(vdir / "model.json", f"the {variant} model description")
    metrics = _read_json(vdir / "metrics.json", f"the {variant} metrics")
    calibration = _read_json(vdir / "calibration.json", f"the {variant} calibration")
    comparison = _read_json(ft_dir / "comparison.json", "the variant comparison")
    source_meta: dict[str, Any] = {}
    if variant in VARIANT_STAGE:
        meta_path = run_dir / VARIANT_STAGE[variant] / "metadata.json"
        if meta_path.is_file():
            source_meta = _read_json(meta_path, "the pretrained backbone's metadata")

    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "package": "drac_ssl",
        "package_version": __version__,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "task": "DRAC 2022 Task 3: diabetic retinopathy grade of one UW-OCTA image",
        "class_names": list(GRADE_NAMES),
        "input": model_json["input"],
        "model": model_json["model"],
        "freeze": model_json["freeze"],
        "finetune": model_json.get("finetune", {}),
        "variant": variant,
        "selection": summary.get("selection", ""),
        "folds": model_json["folds"],
        "ensemble": ("mean over the fold models of the probabilities (classification head) or "
                     "of the score (regression head)"),
        "tta": {"used_in_cv": bool(model_json.get("tta", True)),
                "flips": [FLIP_NAMES[d] for d in TTA_FLIPS],
                "how": "mean raw model output over the flipped inputs, per fold model"},
        "calibration": {k: v for k, v in calibration.items()},
        "cv_metrics": {k: metrics.get(k) for k in ("n", "qwk", "qwk_ci95", "auc", "accuracy",
                                                   "macro_f1", "qwk_fold_mean", "qwk_fold_std",
                                                   "folds", "protocol")},
        "comparison": comparison.get("rows", []),
        "data": data_provenance(run_dir / "data"),
        "backbone_pretraining": {k: source_meta.get(k) for k in
                                 ("stage", "training_data", "best_epoch", "metrics", "epochs_run")}
        if source_meta else {"stage": "random init" if variant == "scratch" else "unknown"},
        "gradcam_target_layer": GRADCAM_TARGET_LAYER,
        "submission": {"columns": ["case", "class", *PROB_COLUMNS],
                       "class": "thresholded score", "P": "calibrated ensemble probabilities"},
        "not_a_medical_device": True,
    }
    out = run_dir / "bundle"
    tmp = run_dir / f".bundle.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name in sorted({n for f in model_json["folds"] for n in f["weights"]}):
            source = vdir / name
            if not source.is_file():
                raise BundleError(f"{source}: weight file missing; rerun the finetune stage")
            shutil.copyfile(source, tmp / name)
        atomic_write_json(tmp / "metadata.json", meta)
        atomic_write_text(tmp / "MODEL_CARD.md", _model_card(meta))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _bundle_dir(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if (p / "metadata.json").is_file() and (p / "MODEL_CARD.md").is_file():
        return p
    if (p / "bundle" / "metadata.json").is_file():
        return p / "bundle"
    raise BundleError(
        f"{p}: neither a model bundle (metadata.json + MODEL_CARD.md) nor a run folder with "
        f"bundle/.\n  fix: pass RUN or RUN/bundle of a run whose export stage finished "
        f"(python -m drac_ssl.train run.stages=[...,finetune,export])")


def load_bundle(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle folder (or a run folder holding ``bundle/``) onto ``device``."""
    bundle_dir = _bundle_dir(path)
    meta = _read_json(bundle_dir / "metadata.json", "the bundle metadata")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{bundle_dir}: format {meta.get('format')!r}, expected {BUNDLE_FORMAT!r}.\n  fix: "
            f"rebuild it with this version of drac_ssl from the run folder that made it: python -c "
            f"\"from drac_ssl.grading.bundle import build_bundle; build_bundle('RUN')\"")
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    models = [load_fold_model(meta, bundle_dir, entry) for entry in meta["folds"]]
    if len(models) > 1 and backbones_identical(models):
        for model in models[1:]:  # one module (and one copy of the weights) for every fold
            model.backbone = models[0].backbone
    models = [model.to(dev) for model in models]
    return Bundle(bundle_dir, meta, models, Calibration.from_dict(meta["calibration"]),
                  input_spec_of(meta), dev)


def backbones_identical(models: Sequence[GradingModel]) -> bool:
    """True when every model's backbone is the same module or has the same class and the
    same state (every parameter and buffer, BatchNorm statistics included: same names,
    dtypes, shapes and bit-identical values; a NaN anywhere counts as a difference)."""
    if len(models) < 2:
        return True
    first = models[0].backbone
    reference = first.state_dict()
    for model in models[1:]:
        other = model.backbone
        if other is first:
            continue
        if type(other) is not type(first):
            return False
        state = other.state_dict()
        if state.keys() != reference.keys():
            return False
        for name, tensor in reference.items():
            mine = state[name]
            if (mine.dtype != tensor.dtype or mine.shape != tensor.shape
                    or mine.device != tensor.device or not torch.equal(mine, tensor)):
                return False
    return True
