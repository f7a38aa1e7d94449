"""Stage 5: the model bundle, the challenge submission, and a command-line predictor.

``run(cfg, run_dir) -> ExportResult`` builds ``run_dir/bundle/`` from the fine-tuning
variant chosen in ``run_dir/finetune/summary.json`` (the best out-of-fold kappa):

* the fold ensemble's weights (safetensors; a frozen backbone is stored once),
* ``metadata.json``: the input format exactly as training used it (channels, size, the
  cached source size, normalisation, the preprocessing steps), class names, the head and
  its calibration (temperature, kappa thresholds), cross-validated metrics, data
  provenance (phantom or real DRAC), package version and the Grad-CAM target layer,
* ``MODEL_CARD.md``: what the model is, what it was trained on, how well it did in
  cross-validation, what it is for and what it is not for.

When the ingest manifest lists test images, they are graded with :func:`predict_images` and
written to ``run_dir/export/submission.csv`` (``case,class,P0,P1,P2``, real probabilities,
never one-hot) by :func:`drac_ssl.submission.write_submission`, then checked against the
test image folder with :func:`drac_ssl.submission.check_submission`.

Prediction (:func:`load_bundle`, :func:`predict_images`): each image goes through
:func:`preprocess_image` (INTER_AREA resize to the cached source size, as the ingest did,
then the training's evaluation transform), every fold model runs with flip TTA, and the
ensemble's probabilities / scores are turned into a grade with the stored calibration.
A Gradio app calls the same two functions.

Shared backbone: a bundle fine-tuned with ``finetune.freeze: frozen`` has one backbone for
every fold. :func:`load_bundle` compares the fold backbones' tensors (parameters and
buffers); when all are bit-identical the fold models share one backbone module and
:func:`predict_tensors` runs it once per TTA view, feeding its feature map to every fold
head (``folds x`` fewer backbone passes). Otherwise (``freeze: last`` / ``all``) every fold
model runs on its own. Both give the same outputs: the shared path performs each fold
model's operations on the same batches in the same order (bit-identical on CPU).

Command line::

    python -m drac_ssl.export RUN --images DIR --out TEAM.csv   # grade every image in DIR
    python -m drac_ssl.export --check TEAM.csv --images DIR     # validate a submission

Exit codes: 0 success, 1 the submission has problems (each printed as FILE:LINE: what ->
fix), 2 bad input (missing run or bundle, unreadable images, bad arguments), without a
traceback.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import functools
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from data_prep.cache import resize_gray
from data_prep.validate import inspect_image
from drac_ssl import GRADE_NAMES, __version__
from drac_ssl.augment import EvalDataset
from drac_ssl.config import Config
from drac_ssl.datasets import load_octa_cache
from drac_ssl.finetune import (
    FEATURE_STAGE,
    TTA_FLIPS,
    VARIANT_STAGE,
    Calibration,
    GradingModel,
    InputSpec,
    load_fold_model,
    predict_raw,
)
from drac_ssl.io import atomic_write_json, atomic_write_text
from drac_ssl.models import Backbone
from drac_ssl.runtime import resolve_device
from drac_ssl.submission import IMAGE_SUFFIXES, check_submission, write_submission

__all__ = [
    "BUNDLE_FORMAT",
    "GRADCAM_TARGET_LAYER",
    "Bundle",
    "ExportResult",
    "backbones_identical",
    "build_bundle",
    "data_provenance",
    "list_images",
    "load_bundle",
    "main",
    "predict_images",
    "preprocess_image",
    "read_image_any",
    "run",
]

BUNDLE_FORMAT = "drac_ssl bundle v1"
GRADCAM_TARGET_LAYER = "backbone.layer4"
FLIP_NAMES = {(): "identity", (-1,): "horizontal", (-2,): "vertical", (-2, -1): "both"}
PREDICT_CHUNK = 32  # images decoded and preprocessed at a time by the command line
PREDICT_BATCH = 64  # images per forward pass in predict_tensors (predict_raw's default)


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
        :func:`predict_tensors` runs it once per view for all fold heads."""
        if not self.models:
            return None
        first = self.models[0].backbone
        return first if all(m.backbone is first for m in self.models[1:]) else None


@dataclass
class ExportResult:
    bundle_dir: Path
    metadata_path: Path
    model_card_path: Path
    submission_path: Path | None
    n_test: int
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Reading and preprocessing images


def read_image_any(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file (PNG, JPEG, TIFF, BMP; grey, RGB/RGBA or 16-bit) as uint8 grey ``(H, W)``.

    Decoded and converted exactly like the ingest (:func:`data_prep.validate.inspect_image`:
    colour -> luminance, 16-bit -> value / 257). Raises FileNotFoundError for a missing
    file and ValueError (with what is wrong and how to fix it) for an unreadable one.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such image file")
    decoded = inspect_image(p.read_bytes(), str(p))
    if decoded.gray is None:
        raise ValueError("; ".join(problem.line for problem in decoded.problems)
                         or f"{p}: cannot be decoded as an image")
    return decoded.gray


@functools.lru_cache(maxsize=8)
def _eval_transform(spec: InputSpec) -> Any:
    return spec.eval_transform()


def _input_spec(metadata: dict[str, Any]) -> InputSpec:
    return InputSpec.from_metadata(metadata["input"] if "input" in metadata else metadata)


def preprocess_image(image: np.ndarray, metadata: dict[str, Any]) -> Tensor:
    """One uint8 grey image ``(H, W)`` -> the model input ``(C, S, S)`` float32.

    Exactly the training's evaluation path: INTER_AREA resize to the cached source size
    (what the ingest stored; a no-op for an image already at that size), then
    :class:`~drac_ssl.augment.EvalDataset` with the evaluation transform (INTER_AREA resize
    to the model size, ``(x / 255 - mean) / std``). ``metadata``: a bundle's
    ``metadata.json`` (or its ``input`` section).
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8 or array.ndim != 2:
        raise ValueError(
            f"expected a uint8 grey image (H, W), got {array.dtype} {array.shape}.\n"
            f"  fix: read files with drac_ssl.export.read_image_any, which converts RGB and "
            f"16-bit images like the ingest does")
    spec = _input_spec(metadata)
    if array.shape != (spec.source_size, spec.source_size):
        array = resize_gray(array, spec.source_size)
    image_tensor, _ = EvalDataset(array[None], _eval_transform(spec))[0]
    return image_tensor


# --------------------------------------------------------------------------------------
# The bundle


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
    per_grade = dict.fromkeys(range(len(GRADE_NAMES)), 0)
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
        "train_per_grade": {GRADE_NAMES[k]: v for k, v in per_grade.items() if k < len(GRADE_NAMES)},
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
        "submission": {"columns": ["case", "class", "P0", "P1", "P2"],
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
        raise BundleError(f"{bundle_dir}: format {meta.get('format')!r}, expected {BUNDLE_FORMAT!r}; "
                          f"re-export it with this version of drac_ssl")
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    models = [load_fold_model(meta, bundle_dir, entry) for entry in meta["folds"]]
    if len(models) > 1 and backbones_identical(models):
        for model in models[1:]:  # one module (and one copy of the weights) for every fold
            model.backbone = models[0].backbone
    models = [model.to(dev) for model in models]
    return Bundle(bundle_dir, meta, models, Calibration.from_dict(meta["calibration"]),
                  _input_spec(meta), dev)


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


@torch.no_grad()
def _predict_raw_shared(models: Sequence[GradingModel], backbone: Backbone, inputs: Tensor,
                        tta: bool, device: torch.device, batch_size: int = PREDICT_BATCH
                        ) -> list[np.ndarray]:
    """``[predict_raw(model, inputs, tta, device, batch_size) for model in models]`` for fold
    models holding the one module ``backbone``: the backbone runs once per batch and view and
    every head reads its :data:`FEATURE_STAGE` map (:meth:`GradingModel.features_from_map`).
    Same batches, views, order of accumulation and dtypes as :func:`predict_raw`."""
    was_training = [model.training for model in models]
    for model in models:
        model.eval()
    flips = TTA_FLIPS if tta else TTA_FLIPS[:1]
    out: list[list[Tensor]] = [[] for _ in models]
    try:
        for start in range(0, len(inputs), batch_size):
            x = inputs[start:start + batch_size].to(device)
            acc: list[Tensor | None] = [None] * len(models)
            for dims in flips:
                fmap = backbone.forward_until(x.flip(dims) if dims else x, FEATURE_STAGE)
                for i, model in enumerate(models):
                    y = model.head(model.features_from_map(fmap)).float()
                    prev = acc[i]
                    acc[i] = y if prev is None else prev + y
            for i, total in enumerate(acc):
                assert total is not None
                out[i].append((total / len(flips)).cpu())
    finally:
        for model, training in zip(models, was_training, strict=True):
            model.train(training)
    return [torch.cat(parts).double().numpy() if parts else np.zeros((0, 1)) for parts in out]


def predict_tensors(bundle: Bundle, inputs: Tensor, tta: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(probs (n, 3), score (n,), grade (n,))`` of the ensemble on preprocessed inputs.

    With a shared backbone (:attr:`Bundle.shared_backbone`) the backbone runs once per batch
    and TTA view for all fold heads; otherwise each fold model runs on its own. Same result.
    """
    shared = bundle.shared_backbone
    if shared is not None and len(bundle.models) > 1:
        raw = _predict_raw_shared(bundle.models, shared, inputs, tta, bundle.device)
    else:
        raw = [predict_raw(model, inputs, tta, bundle.device, batch_size=PREDICT_BATCH)
               for model in bundle.models]
    return bundle.calibration.decide(raw)


def predict_images(bundle: Bundle, images: Sequence[np.ndarray], tta: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Grade uint8 grey images ``(H, W)`` (any size: resized like the ingest).

    Returns ``probs`` ``(n, 3)`` (rows sum to 1) and ``classes`` ``(n,)`` int64: the fold
    ensemble's calibrated probabilities and thresholded grade, with flip TTA when ``tta``.
    """
    if len(images) == 0:
        return np.zeros((0, len(GRADE_NAMES))), np.zeros(0, dtype=np.int64)
    inputs = torch.stack([preprocess_image(image, bundle.metadata) for image in images])
    probs, _, grades = predict_tensors(bundle, inputs, tta)
    return probs, grades


# --------------------------------------------------------------------------------------
# The stage


def _test_images_dir(data_dir: Path, test_rows: Sequence[dict[str, Any]]) -> Path | None:
    """The folder of the test images, from the ingest summary or the manifest paths."""
    try:
        summary = json.loads((data_dir / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if summary.get("test_dir"):
        return Path(summary["test_dir"])
    root = summary.get("root")
    parents = {(Path(root) / r["path"]).parent for r in test_rows} if root else set()
    return parents.pop() if len(parents) == 1 else None


def run(cfg: Config, run_dir: str | os.PathLike[str]) -> ExportResult:
    """Build the bundle; grade the ingest's test images into ``export/submission.csv``.

    Raises:
        BundleError (a ValueError): the fine-tuning outputs are missing or incomplete, or the
            written submission fails its check.
    """
    run_dir = Path(run_dir)
    bundle_dir = build_bundle(run_dir)
    bundle = load_bundle(bundle_dir, resolve_device(cfg.run.device))
    notes: list[str] = []
    data_dir = run_dir / "data"
    images, rows = load_octa_cache(data_dir, bundle.spec.source_size)
    test_rows = [r for r in rows if r["split"] == "test"]
    submission_path: Path | None = None
    if test_rows:
        probs, grades = predict_images(
            bundle, [np.asarray(images[r["cache_index"]]) for r in test_rows], tta=cfg.finetune.tta)
        submission_path = write_submission(run_dir / "export" / "submission.csv",
                                           [r["id"] for r in test_rows], probs, grades)
        images_dir = _test_images_dir(data_dir, test_rows)
        if images_dir is None or not images_dir.is_dir():
            notes.append(f"test image folder {images_dir} not found: submission checked without it")
            images_dir = None
        problems = check_submission(submission_path, images_dir)
        if problems:
            raise BundleError(f"{submission_path}: the written submission fails its check:\n  "
                              + "\n  ".join(problems))
        counts = np.bincount(grades, minlength=len(GRADE_NAMES)).tolist()
        print(f"[export] {len(test_rows)} test images graded ({counts} per grade) -> "
              f"{submission_path} (checked against {images_dir or 'no image folder'})")
    else:
        notes.append("the ingest manifest has no test images: no submission written")
    atomic_write_json(run_dir / "export" / "summary.json", {
        "bundle": str(bundle_dir), "variant": bundle.metadata["variant"],
        "submission": None if submission_path is None else str(submission_path),
        "n_test": len(test_rows), "tta": cfg.finetune.tta, "notes": notes})
    print(f"[export] bundle -> {bundle_dir}")
    return ExportResult(bundle_dir, bundle_dir / "metadata.json", bundle_dir / "MODEL_CARD.md",
                        submission_path, len(test_rows), notes)


# --------------------------------------------------------------------------------------
# Command line


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of ``folder`` (not hidden), in natural order (``2.png`` < ``10.png``)."""
    from data_prep.ingest import natural_key

    files = [p for p in Path(folder).iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def _predict_folder(run: str, images_dir: Path, out: Path, tta: bool, device: str) -> int:
    bundle = load_bundle(run, resolve_device(device))
    files = list_images(images_dir)
    if not files:
        raise BundleError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    problems: list[str] = []
    probs_parts, grade_parts = [], []
    for start in range(0, len(files), PREDICT_CHUNK):
        chunk: list[np.ndarray] = []
        for path in files[start:start + PREDICT_CHUNK]:
            try:
                chunk.append(read_image_any(path))
            except (OSError, ValueError) as exc:
                problems.append(str(exc))
        if not problems:
            probs, grades = predict_images(bundle, chunk, tta=tta)
            probs_parts.append(probs)
            grade_parts.append(grades)
    if problems:
        raise BundleError(f"{len(problems)} image(s) cannot be read (nothing written):\n  "
                          + "\n  ".join(problems))
    write_submission(out, [p.name for p in files], np.concatenate(probs_parts),
                     np.concatenate(grade_parts))
    issues = check_submission(out, images_dir)
    for line in issues:
        print(line)
    print(f"{'OK' if not issues else 'PROBLEMS'}: {len(files)} images graded with {bundle.path} -> {out}")
    return 1 if issues else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drac_ssl.export RUN --images DIR --out TEAM.csv`` or ``--check TEAM.csv
    --images DIR``; returns the exit code (0 ok, 1 submission problems, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m drac_ssl.export",
        description="Grade a folder of UW-OCTA images with a drac_ssl model bundle into a DRAC "
                    "2022 Task 3 submission CSV, or check a submission CSV.",
        epilog="Examples:\n  python -m drac_ssl.export runs/default --images TEST_DIR --out team.csv\n"
               "  python -m drac_ssl.export --check team.csv --images TEST_DIR",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="run folder (with bundle/) or bundle folder")
    parser.add_argument("--images", metavar="DIR", help="folder of the images to grade / test images")
    parser.add_argument("--out", metavar="CSV", help="submission file to write")
    parser.add_argument("--check", metavar="CSV", help="validate this submission file instead")
    parser.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads (torch, OpenCV); 0 = the default policy: half the "
                             "cores, 1..4 (drac_ssl.runtime)")
    args = parser.parse_args(argv)
    try:
        from drac_ssl.runtime import apply_thread_policy

        apply_thread_policy(args.threads)
        if args.check:
            if args.run or args.out:
                raise BundleError("--check validates a file; give no RUN and no --out with it")
            if not Path(args.check).is_file():
                raise BundleError(f"{args.check}: no such submission file")
            if args.images and not Path(args.images).is_dir():
                raise BundleError(f"{args.images}: no such image folder")
            from drac_ssl.submission import main as check_main

            return check_main(["--check", args.check] + (["--images", args.images] if args.images else []))
        if not args.run or not args.images or not args.out:
            raise BundleError("to grade images give RUN, --images DIR and --out TEAM.csv "
                              "(or --check TEAM.csv to validate a file)")
        images_dir = Path(args.images)
        if not images_dir.is_dir():
            raise BundleError(f"{images_dir}: no such image folder")
        return _predict_folder(args.run, images_dir, Path(args.out), not args.no_tta, args.device)
    except (BundleError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
