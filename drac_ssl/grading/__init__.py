"""The trained grader and inference, without any training code.

* :mod:`drac_ssl.grading.model`: the grading model (input format, heads, backbone + head,
  its spec, calibration and the class decision; the fine-tuning's loss is
  :mod:`drac_ssl.losses.grading`'s, the input transform :mod:`drac_ssl.eval_input`'s);
* :mod:`drac_ssl.grading.bundle`: the model bundle (format, build, load, metadata, card);
  :mod:`drac_ssl.grading.model_card`: its model card and the words it shares (re-exported by bundle);
  :mod:`drac_ssl.grading.bundle_folder`: where a bundle is, from paths alone (stdlib only);
* :mod:`drac_ssl.grading.predict`: preprocessing, flip TTA, the fold ensemble;
  :mod:`drac_ssl.grading.image_file`: what an image file must be to be graded (the app's
  upload rule too);
* :mod:`drac_ssl.grading.batch`: a list of image files graded in chunks, each file that
  cannot be graded listed with why (the export command's ``--images`` loop).

The export stage, the app and the benches use these; none of them imports the
cross-validation loop (:mod:`drac_ssl.finetune`) or the SSL stages.

The inference API is re-exported here (:data:`__all__`)::

    from drac_ssl.grading import grade_images, limit_threads, load_bundle, read_image

    limit_threads(1)  # torch's two pools and OpenCV's, before the bundle is loaded
    bundle = load_bundle("runs/default")
    read = [read_image(p, bundle.spec.channels, kind=bundle.kind, grey_trained=bundle.grey_trained,
                       bit_depths=bundle.bit_depths) for p in paths]
    images = [image for image, _ in read]  # uint8 grey or RGB; the words: what reading each said
    graded = grade_images(bundle, images, file_warnings=[said for _, said in read], paths=paths)
    graded.not_reliably_gradable  # per image: why its grade is not reliable ([] for none)

or, for a list of files, the same in one call (chunks, per-file failures, progress)::

    result = grade_files(bundle, paths, progress=True)
    result.to_records()  # one dict per graded file: pandas.DataFrame(...) takes them
    result.failed  # per file not graded: .path, .error ("PATH: what is wrong -> what to do")

or a folder, listed as ``python -m drac_ssl.export --images DIR`` lists it (the same files
graded, the same refused; each record with its ``stem``)::

    result = grade_folder(bundle, "test_images")

Each warning ``read_image`` returns is a :class:`~drac_ssl.grading.predict.FileWarning`: the
string ``NAME: WORDS``, its ``name`` and ``words`` kept apart (a file named ``scan: left.png``
keeps its name whole).

The names are resolved on first use (PEP 562), so ``import drac_ssl.grading`` alone (as
:mod:`data_prep.layout` does for :mod:`drac_ssl.grading.image_notes`) imports neither torch
nor the models.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bundle": "bundle",
    "BundleError": "bundle",
    "FileFailure": "batch",
    "FileWarning": "predict",
    "GradedFiles": "batch",
    "GradedFolder": "batch",
    "load_bundle": "bundle",
    "GradedImages": "predict",
    "ImageReadError": "predict",
    "InputLimits": "image_file",
    "LOCAL_FILE_LIMITS": "image_file",
    "conform_channels": "predict",
    "grade_files": "batch",
    "grade_folder": "batch",
    "grade_images": "predict",
    "limit_threads": "predict",
    "predict_images": "predict",
    "read_image": "predict",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
