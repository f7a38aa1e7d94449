"""The app's predict function: grade, probabilities and Grad-CAM heatmap of one image.

:class:`Predictor` wraps a loaded bundle. Grades and probabilities come from
:func:`drac_ssl.grading.predict.predict_images`, the function the export command uses (its
preprocessing is :func:`drac_ssl.grading.predict.preprocess_image`, the training's evaluation path),
so the app and a submission agree to the last bit for the same image. The heatmap is
:class:`app.gradcam.EnsembleGradCAM` on the same preprocessed tensor, explaining the grade
that is shown, resized back to the image's shape.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.gradcam import EnsembleGradCAM, resize_heatmap
from app.inputs import InputLimits, LoadedImage, load_upload
from drac_ssl import GRADE_NAMES

__all__ = ["NoBundleError", "Prediction", "Predictor", "find_newest_bundle", "make_bundle_hint"]


class NoBundleError(FileNotFoundError):
    """No model bundle where one was expected; the message says how to make one."""


def make_bundle_hint(runs_dir: Path) -> str:
    """The commands that produce a bundle (and one for an untrained demo bundle)."""
    return (
        f"No model bundle found under {runs_dir}/ (a bundle is RUN/bundle/metadata.json).\n"
        f"Make one with the pipeline, e.g.\n"
        f"  python -m drac_ssl.train                      # CPU demo on phantom data, all stages\n"
        f"  python -m drac_ssl.train -c configs/drac.yaml data.root=/path/to/DRAC "
        f"run.stages=[ingest,pretrain,umm,finetune,export]\n"
        f"then serve it:  python -m app --bundle runs/NAME/bundle\n"
        f"(or, to try the interface only, an untrained demo bundle: "
        f"python -m app.demo_bundle runs/demo && python -m app --bundle runs/demo/bundle)")


def find_newest_bundle(runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """The bundle folder under ``runs_dir`` (``*/bundle`` or ``*/*/bundle``) whose
    ``metadata.json`` is newest; :class:`NoBundleError` with the commands to make one."""
    root = Path(runs_dir)
    found = [p.parent for pattern in ("*/bundle/metadata.json", "*/*/bundle/metadata.json")
             for p in root.glob(pattern) if p.is_file()]
    if not found:
        raise NoBundleError(make_bundle_hint(root))
    return max(found, key=lambda p: (p / "metadata.json").stat().st_mtime)


@dataclass
class Prediction:
    """One graded image.

    ``probs`` ``(3,)`` sums to 1; ``heatmap`` float32 ``(H, W)`` in [0, 1] with the image's
    shape (None when Grad-CAM is off); ``seconds`` the inference time (preprocessing, the
    ensemble with TTA and Grad-CAM; not the file decoding, in ``read_seconds``).
    """

    name: str
    grade: int
    grade_name: str
    probs: np.ndarray
    heatmap: np.ndarray | None
    image: np.ndarray
    seconds: float
    read_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    explained: int | None = None  # the grade the heatmap explains
    cam_cells: tuple[int, int] | None = None  # Grad-CAM resolution (target layer map size)

    @property
    def heatmap_empty(self) -> bool:
        """True when Grad-CAM found no region with positive evidence for ``explained``."""
        return self.heatmap is not None and float(self.heatmap.max()) <= 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no arrays except the probabilities)."""
        return {
            "name": self.name, "grade": self.grade, "grade_name": self.grade_name,
            "probabilities": {n: float(p) for n, p in zip(GRADE_NAMES, self.probs, strict=True)},
            "P": [float(p) for p in self.probs],
            "inference_seconds": round(self.seconds, 4), "read_seconds": round(self.read_seconds, 4),
            "image_size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "warnings": list(self.warnings),
        }

    def heatmap_summary(self, target_layer: str) -> dict[str, Any] | None:
        """What the heatmap shows, for the details JSON (None without a heatmap)."""
        if self.heatmap is None or self.explained is None:
            return None
        return {"target_layer": target_layer, "explains_grade": self.explained,
                "cells": list(self.cam_cells) if self.cam_cells else None,
                "shape": list(self.heatmap.shape), "min": float(self.heatmap.min()),
                "max": float(self.heatmap.max()), "empty": self.heatmap_empty}


class Predictor:
    """A loaded bundle ready to grade images.

    Args:
        bundle: a bundle folder (or a run folder with ``bundle/``), or a loaded
            :class:`drac_ssl.grading.bundle.Bundle`.
        tta: flip test-time augmentation, as the export command (default on).
        gradcam: compute heatmaps in :meth:`predict` (default on).
        limits: upload limits for :meth:`predict_file`.

    Calls are serialised by a lock: one image at a time uses all the CPU threads torch has.
    """

    def __init__(self, bundle: Any, tta: bool = True, gradcam: bool = True,
                 limits: InputLimits | None = None) -> None:
        from drac_ssl.grading.bundle import Bundle, load_bundle

        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, "cpu")
        self.metadata: dict[str, Any] = self.bundle.metadata
        self.tta = tta
        self.limits = limits or InputLimits()
        self.class_names: list[str] = list(self.metadata.get("class_names") or GRADE_NAMES)
        self.target_layer: str = str(self.metadata.get("gradcam_target_layer", "backbone.layer4"))
        output = str(self.metadata.get("model", {}).get("output", "classification"))
        self.cam = EnsembleGradCAM(self.bundle.models, self.target_layer, output) if gradcam else None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return Path(self.bundle.path)

    def probabilities(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(probs (n, 3), classes (n,))`` of uint8 grey images: exactly
        :func:`drac_ssl.grading.predict.predict_images` with this predictor's TTA setting."""
        from drac_ssl.grading.predict import predict_images

        with self._lock, torch.no_grad():
            return predict_images(self.bundle, images, tta=self.tta)

    def predict(self, image: np.ndarray, name: str = "image", warnings: list[str] | None = None,
                gradcam: bool = True, explain: int | None = None) -> Prediction:
        """Grade one uint8 grey image ``(H, W)``.

        The heatmap explains grade ``explain`` (default: the returned grade): regions whose
        activation raises that grade's score."""
        from drac_ssl.grading.predict import predict_images, preprocess_image

        gray = np.asarray(image)
        t0 = time.perf_counter()
        with self._lock:
            with torch.no_grad():
                probs, classes = predict_images(self.bundle, [gray], tta=self.tta)
            grade = int(classes[0])
            heatmap = cells = explained = None
            if gradcam and self.cam is not None:
                explained = grade if explain is None else int(explain)
                if not 0 <= explained < len(self.class_names):
                    raise ValueError(f"explain must be a grade 0..{len(self.class_names) - 1}, "
                                     f"got {explain}")
                x = preprocess_image(gray, self.metadata)
                heatmap = resize_heatmap(self.cam(x, explained), gray.shape[:2])
                cells = self.cam.last_cells
        seconds = time.perf_counter() - t0
        return Prediction(name=name, grade=grade, grade_name=self.class_names[grade],
                          probs=np.asarray(probs[0], dtype=np.float64), heatmap=heatmap,
                          image=gray, seconds=seconds, warnings=list(warnings or []),
                          explained=explained, cam_cells=cells)

    def predict_loaded(self, loaded: LoadedImage, gradcam: bool = True,
                       explain: int | None = None) -> Prediction:
        """Grade an image read by :func:`app.inputs.load_upload` (its warnings carried over)."""
        return self.predict(loaded.gray, loaded.name, loaded.warnings, gradcam=gradcam,
                            explain=explain)

    def predict_file(self, path: str | os.PathLike[str], gradcam: bool = True) -> Prediction:
        """Read (with this predictor's limits) and grade an image file; raises
        :class:`app.inputs.InputRejected` for a file that cannot be graded."""
        t0 = time.perf_counter()
        loaded = load_upload(path, self.limits)
        read_seconds = time.perf_counter() - t0
        pred = self.predict_loaded(loaded, gradcam=gradcam)
        pred.read_seconds = read_seconds
        return pred
