"""The model bundle: the fold ensemble of the fine-tuning variant chosen for export, with
everything needed to use it and to judge it.

:func:`build_bundle` writes ``run_dir/bundle/`` from ``run_dir/finetune/`` (the variant of
``finetune/summary.json``, the best out-of-fold kappa):

* the fold ensemble's weights (safetensors; a frozen backbone is stored once; hard links to
  ``finetune/<variant>/``'s files where the file system allows, so a bundle costs no disk
  space of its own: the fine-tuning replaces its files atomically and never writes into them,
  so the bundle keeps the weights it was built from),
* ``metadata.json`` (MONAI-bundle style): the input format exactly as training used it
  (channels, size, the cached source size, per-channel normalisation, the ingest's fundus
  preprocessing and the steps), the grade names (K of them, from the data), the head and its
  calibration (temperature, K - 1 kappa thresholds, the class decision), cross-validated
  metrics, data provenance (phantom, DRAC or another layout), package version, the
  Grad-CAM target layer and whether the run was a trial run (``trial_run``: its pretraining
  cut short, :mod:`drac_ssl.trial_run`; absent: unknown),
* ``input_profile.npz``: where the labelled training images lie at the model's input
  (:mod:`drac_ssl.grading.ood`), so that an image unlike them is flagged before its grade
  (none when the run folder holds no ingest cache; ``metadata.json`` says why; its
  ``input_profile.weak`` / ``weak_reasons`` say when the check cannot be relied on: fewer
  images than numbers per image, or a trial run's model, :func:`with_trial_run`),
* ``MODEL_CARD.md``: what the model is, what it was trained on, how well it did in
  cross-validation (per grade too), what it is for and what it is not for.

:func:`load_bundle` reads one back (a bundle folder or a run folder holding ``bundle/``):
the fold models (:func:`drac_ssl.grading.model.load_fold_model`), sharing one backbone
module when the folds' backbones are bit-identical (:func:`backbones_identical`), the
calibration and the input format. A bundle of another format is refused with the command
that rebuilds it. Prediction: :mod:`drac_ssl.grading.predict`.

The card's text and the words it shares (data provenance, caveats, calibration and CI wording)
live in :mod:`drac_ssl.grading.model_card`, which imports nothing of this module; this module
re-exports them, so ``from drac_ssl.grading.bundle import ...`` keeps working.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from drac_ssl import __version__
from drac_ssl.config import read_saved_config
from drac_ssl.devices import DEVICE_TYPES, cuda_shortfall
from drac_ssl.grading.bundle_folder import INPUT_SIDES, BundleError, bundle_folder
from drac_ssl.grading.demo import demo_card, demo_run_note, demo_run_seed  # stdlib only
from drac_ssl.grading.image_notes import (
    OTHER_DEPTH,
    grey_trained,
    image_kind,
    training_bit_depths,
)
from drac_ssl.grading.model import (
    HEADS,
    Calibration,
    GradingModel,
    InputSpec,
    load_fold_model,
    weight_name_problem,
)

# the model card and the words it shares: re-exported here (import them from either module);
# model_card imports nothing of this module, so the imports go one way
from drac_ssl.grading.model_card import (  # noqa: F401
    CALIBRATION_FAILED_WORDS,
    CI_HELD_FIXED,
    CI_UNIT_NOUNS,
    DATA_FOLDER_NOTE,
    DEMO_SCOPE_WORDS,
    ENSEMBLE_GRADE_ELSEWHERE,
    ENSEMBLE_GRADE_EVIDENCE,
    FREEZE_WORDS,
    FROZEN_SCRATCH_TITLE,
    GRADCAM_TARGET_LAYER,
    HEATMAP_BENCH_WORDS,
    HEATMAP_BENCH_WORDS_ONE_VIEW,
    HEATMAP_CAVEAT,
    NO_SUBGROUP_WORDS,
    OOF_CALIBRATION_KEY,
    OOF_CALIBRATION_NONE,
    OOF_CALIBRATION_NOT_RECORDED,
    PREPROCESSING_REFERENCES,
    RARE_RECALL,
    REFERABLE_SCOPE_WORDS,
    SCOPE_WORDS,
    SUBMISSION_P_CALIBRATED,
    SUBMISSION_P_UNCALIBRATED,
    TWIN_GROUP_WORDS,
    VARIANT_TITLES,
    WEIGHTS_DIGEST_BUILD_WORDS,
    WEIGHTS_SHA256_FROM,
    _image_sides,
    _milder_card_words,
    _model_card,
    _per_grade_card,
    _provenance_card,
    _recorded_run_folder,
    _referable_from,
    _small_image_card_words,
    _train_bit_depths,
    _training_trace_card,
    bundle_keep_best,
    bundle_pretraining_phantoms,
    calibration_failed,
    calibration_warning,
    caveat_line,
    chance_warning,
    ci_units_words,
    data_provenance,
    figure_caveats,
    fold_gap_words,
    fold_grouping_words,
    freeze_words,
    fundus_preprocessing_words,
    grade_caveats,
    grade_said,
    grading_provenance_words,
    groups_not_resampled_words,
    heatmap_bench_words,
    heatmap_limits,
    left_out_missing_words,
    left_out_words,
    mixed_phantom_words,
    near_twin_words,
    never_found_rows,
    never_found_words,
    ood_check_caveat,
    oof_calibration_words,
    per_grade_recall_cell,
    per_grade_recall_words,
    pooled_origins_words,
    preprocessing_references,
    pretraining_phantom_caveat,
    pretraining_phantom_words,
    probability_columns_words,
    rare_grades,
    referable_labels_words,
    referable_not_informative,
    scope_words,
    site_scope_words,
    stated_data,
    stated_data_lines,
    task_description,
    variant_title,
    wilson_interval,
    winner_caveat,
)
from drac_ssl.grading.ood import PROFILE_FILE, InputProfile, fit_input_profile
from drac_ssl.grading.predict import (
    FLIP_NAMES,
    TTA_FLIPS,
    input_spec_of,
    preprocess_image,
)
from drac_ssl.grading.training_images import (
    PRETRAINING_IMAGES_KEY,
    TRAINING_IMAGES_KEY,
    has_pretraining_records,
    ingest_pixel_digests,
    is_current_pretraining_record,
    pretraining_images_of,
    training_images_record,
)
from drac_ssl.grading.utc import utc_now  # stdlib only
from drac_ssl.io import (
    access_fix,
    atomic_write_json,
    atomic_write_text,
    read_json_dict,
    safetensors_damage,
    sha256_file,
)
from drac_ssl.manifest import (
    MANIFEST_FILE,
    PIXELS_COLUMN,
    labelled_rows,
    read_manifest,
)
from drac_ssl.models import Backbone
from drac_ssl.run_state import (
    read_stages_record,
    rebuild_advice,
    rebuild_call,
    resume_in_place_command_and_note,
)
from drac_ssl.runtime import last_component  # runtime loads no training code
from drac_ssl.scale import grade_names_of, submission_columns
from drac_ssl.selection import recorded_selection
from drac_ssl.starting import python_command
from drac_ssl.submission import GRADING_PROVENANCE_FORMAT  # the one spelling (out_paths reads it)
from drac_ssl.torch_pair import require_torch_pair  # stdlib only
from drac_ssl.trial_run import trial_run_record, trial_run_words
from drac_ssl.weights_file import WeightsFileError

__all__ = [
    "oof_recall_intervals",
    "BUNDLE_DEVICE_TYPES",
    "BUNDLE_FORMAT",
    "GRADCAM_TARGET_LAYER",
    "HEATMAP_BENCH_WORDS",
    "HEATMAP_BENCH_WORDS_ONE_VIEW",
    "HEATMAP_CAVEAT",
    "PREPROCESSING_REFERENCES",
    "VARIANT_STAGE",
    "Bundle",
    "BundleError",
    "backbones_identical",
    "calibration_failed",
    "older_bundle_records",
    "calibration_warning",
    "SUBMISSION_P_CALIBRATED",
    "SUBMISSION_P_UNCALIBRATED",
    "CALIBRATION_FAILED_WORDS",
    "GRADING_PROVENANCE_FORMAT",
    "grading_provenance_words",
    "probability_columns_words",
    "caveat_line",
    "DEMO_SCOPE_WORDS",
    "REFERABLE_SCOPE_WORDS",
    "SCOPE_WORDS",
    "grade_caveats",
    "grade_said",
    "never_found_rows",
    "never_found_words",
    "build_bundle",
    "channels_last_on",
    "chance_warning",
    "check_referral_cut",
    "ci_resampling_words",
    "ci_units_words",
    "data_folder_name",
    "data_provenance",
    "fold_grouping_words",
    "per_grade_recall_cell",
    "per_grade_recall_words",
    "stated_data",
    "stated_data_lines",
    "groups_not_resampled_words",
    "heatmap_bench_words",
    "heatmap_limits",
    "mixed_phantom_words",
    "pretraining_phantom_words",
    "pretraining_phantom_caveat",
    "bundle_pretraining_phantoms",
    "near_twin_words",
    "ood_check_caveat",
    "fundus_preprocessing_words",
    "left_out_missing_words",
    "left_out_words",
    "load_bundle",
    "usable_device",
    "pooled_origins_words",
    "pretraining_record_missing",
    "preprocessing_references",
    "referable_cut_of",
    "referable_not_informative",
    "reusable_bundle",
    "reused_bundle_note",
    "scope_words",
    "to_inference_layout",
    "variant_title",
    "winner_caveat",
    "bundle_keep_best",
    "figure_caveats",
    "verify_weight_hashes",
    "verify_profile_hash",
    "NO_SUBGROUP_WORDS",
    "profile_hash_note",
    "weights_hash_note",
    "model_card_note",
    "with_trial_run",
]

BUNDLE_FORMAT = "drac_ssl bundle v1"
VARIANT_STAGE = {"vicreg": "pretrain", "vicreg_umm": "umm"}
"""The run sub-folder whose ``backbone.safetensors`` + ``metadata.json`` a fine-tuning
variant starts from."""


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
    channels_last: bool = False  # weights stored channels-last (load_bundle: on the CPU)
    input_profile: InputProfile | None = None  # the out-of-distribution check (None: not built)
    # the SHA-256 (64 hex digits) of metadata.json's bytes as load_bundle read and parsed them
    metadata_sha256: str | None = None

    @property
    def tta_in_cv(self) -> bool:
        """Whether the cross-validated figures were measured with flip test-time augmentation
        (``metadata["tta"]["used_in_cv"]``, ``finetune.tta``): what prediction does when not
        told otherwise, so that a new image is graded as the reported figures were. True for
        a bundle written before it was recorded (flips were then always on)."""
        return bool((self.metadata.get("tta") or {}).get("used_in_cv", True))

    @property
    def grade_names(self) -> tuple[str, ...]:
        """The names of grades 0..K-1 the models grade on (``metadata["class_names"]``;
        DRAC's for a bundle written before the scale was recorded)."""
        return grade_names_of(self.metadata)

    @property
    def kind(self) -> str:
        """What the model grades: ``octa``, ``fundus`` or ``image``
        (:func:`drac_ssl.grading.image_notes.image_kind` of the ingest's recorded modality,
        else the input recipe and channels); the app and the export command doubt a colour
        file as UW-OCTA only for ``octa``."""
        return image_kind(self.spec.recipe, self.spec.channels,
                          (self.metadata.get("data") or {}).get("modality"))

    @property
    def grey_trained(self) -> tuple[int, int] | None:
        """``(grey, total)``: the grey pictures among the model's labelled training images and
        their number (:func:`drac_ssl.grading.image_notes.grey_trained`); None when the bundle
        does not record it. :func:`drac_ssl.grading.predict.read_image` words its warning on a
        grey picture given to a colour model from it."""
        return grey_trained(self.metadata)

    @property
    def bit_depths(self) -> tuple[tuple[str, int, int], ...] | None:
        """``((file, bits_used, n_train), ...)``: how the model's labelled training images became
        8-bit (:func:`drac_ssl.grading.image_notes.training_bit_depths`, ``data.train_bit_depths``);
        None when the bundle does not record them (nothing is compared then).
        :func:`drac_ssl.grading.predict.read_image` and the app warn about a file of another
        depth from it (:func:`drac_ssl.grading.image_notes.other_depth_warning`)."""
        return training_bit_depths(self.metadata)

    @property
    def training_side(self) -> int | None:
        """The shorter side (px) every labelled training image had (``data.train_image_sides``,
        which records shorter sides: its ``min`` equal to its ``max``; DRAC's 1024), for a
        UW-OCTA model (:attr:`kind` ``octa``), else None (sides that vary, a photograph model, an
        older bundle: nothing is compared). :func:`drac_ssl.grading.predict.read_image` notes a
        file whose shorter side is another (:func:`drac_ssl.grading.predict.training_side_note`)."""
        data = self.metadata.get("data")
        sides = data.get("train_image_sides") if isinstance(data, dict) else None
        side = sides.get("min") if isinstance(sides, dict) else None
        same = isinstance(side, int) and not isinstance(side, bool) and side > 0 and sides.get("max") == side
        return side if same and self.kind == "octa" else None

    @functools.cached_property
    def identity(self) -> dict[str, Any]:
        """Which bundle this is, for an audit trail of its grades (each
        :meth:`app.predict.Prediction.as_dict` carries it): ``created_utc`` (when it was built,
        ``metadata.json``'s), ``variant`` (the fine-tuning variant exported) and
        ``metadata_sha256``, the first 12 hex digits of the SHA-256 of ``metadata.json`` as
        :func:`load_bundle` read it (:attr:`metadata_sha256`; ``sha256sum bundle/metadata.json``
        gives it while the file is unchanged): the file records every weights file's SHA-256
        and the calibration, so a rebuilt or recalibrated bundle has another (None for a bundle
        not made by :func:`load_bundle`). Not the folder: the app's page shows the result's
        details, and the server's paths are not the viewer's business."""
        digest = self.metadata_sha256[:12] if self.metadata_sha256 else None
        return {"created_utc": self.metadata.get("created_utc"),
                "variant": self.metadata.get("variant"), "metadata_sha256": digest}

    def grading_provenance(self, n_images: int, command: str | None,
                           graded_utc: str | None = None, *, tta: bool | None = None,
                           images: Sequence[tuple[int, str]] | None = None) -> dict[str, Any]:
        """Which model graded a batch of ``n_images`` images, and how, for the export's
        provenance sidecar (:func:`drac_ssl.submission.provenance_path`,
        ``grades_provenance.json`` beside ``grades.csv``) and the app batch's notes CSV's first
        row (:func:`grading_provenance_words`): ``format`` (:data:`GRADING_PROVENANCE_FORMAT`),
        ``bundle`` (:attr:`identity`: ``metadata_sha256``, ``variant``, ``created_utc``; with
        the bundle's ``package_version`` and, where ``metadata.json``'s ``provenance`` records
        them, ``trained_at_commit`` (the run's git commit) and ``built_at_commit``; None when not
        recorded; ``metadata_sha256_full``, all 64 hex digits (:attr:`metadata_sha256`, the
        file as loaded), to compare with a bundle's ``sha256sum``), ``graded_by`` (``drac_ssl`` and the version grading now), ``command`` (the
        command line as typed, each path reduced to its last component by the export,
        :func:`drac_ssl.runtime.command_line` ``names_only``; None for the app),
        ``graded_utc`` (ISO 8601, seconds; now unless given) and ``n_images`` (the rows
        written); ``tta`` (whether flip test-time augmentation graded, True/False) when given;
        ``images`` when given, ``(row, sha256)`` pairs: ``[{"row": n, "sha256": 64 hex digits of
        the file's bytes}]``, one per graded image in the CSV's row order, ``n`` its row in the
        CSV (1 = the first after the header): the app batch's record, which holds no copy of the
        uploads and no file name (a name may be a patient's: the CSV beside it has them, the
        record only ties each row to a file's bytes; ``sha256sum`` of a file tells whether it is
        one that was graded).
        The submission CSV itself keeps DRAC's ``case,class,P0..`` format; the writer adds
        ``submission`` (:func:`drac_ssl.submission.write_grading_provenance`)."""
        prov = self.metadata.get("provenance") if isinstance(self.metadata.get("provenance"), dict) else {}

        def commit(key: str) -> str | None:
            code = prov.get(key)
            return str(code["git_commit"]) if isinstance(code, dict) and code.get("git_commit") else None

        return {"format": GRADING_PROVENANCE_FORMAT,
                "bundle": {**self.identity, "metadata_sha256_full": self.metadata_sha256,
                           "package_version": self.metadata.get("package_version"),
                           "trained_at_commit": commit("run_code"), "built_at_commit": commit("built_with")},
                "graded_by": {"package": "drac_ssl", "package_version": __version__},
                "command": command,
                "graded_utc": graded_utc or utc_now(),
                "n_images": int(n_images),
                **({} if tta is None else {"tta": bool(tta)}),
                **({} if images is None else {"images": [{"row": int(row), "sha256": str(digest)}
                                                         for row, digest in images]})}

    @property
    def shared_backbone(self) -> Backbone | None:
        """The backbone module every fold model holds (the same object), else None (no model).
        With more than one fold, :func:`drac_ssl.grading.predict.ensemble_outputs` (behind
        ``predict_tensors``) then runs it once per chunk of up to
        :data:`~drac_ssl.grading.predict.PREDICT_BATCH` (64) views, the TTA views of a chunk's
        images together, for all fold heads; a single fold model runs on its own."""
        if not self.models:
            return None
        first = self.models[0].backbone
        return first if all(m.backbone is first for m in self.models[1:]) else None


def _read_json(path: Path, what: str, fix: str | None = None) -> dict[str, Any]:
    """The JSON object of ``path``; BundleError naming ``path`` and ``what`` (and ``fix``,
    as a ``  fix:`` line, when given) when it is missing, unreadable, or valid JSON that is not
    an object (a list, a number: ``is a list, not a JSON object``), which every caller reads
    by key."""
    return _read_json_and_sha256(path, what, fix)[0]


def _read_json_and_sha256(path: Path, what: str, fix: str | None = None) -> tuple[dict[str, Any], str]:
    """:func:`_read_json` of ``path`` and the SHA-256 (64 hex digits) of the very bytes it
    parsed (a bundle's identity: read once, so the hash and the metadata used are of one file
    state). Raises BundleError as :func:`_read_json` does."""
    said = f"\n  fix: {fix}" if fix else ""
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: {what} not found{said}") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: {what} is unreadable ({exc}){said}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: {what} is a {type(data).__name__}, not a JSON object{said}")
    return data, hashlib.sha256(raw).hexdigest()


_METADATA_ENTRIES: dict[str, type] = {"model": dict, "calibration": dict, "folds": list}
"""The entries of a bundle's ``metadata.json`` :func:`load_bundle` cannot do without, and
their JSON types (object, object, array)."""


def _check_metadata_entries(bundle_dir: Path, meta: dict[str, Any]) -> None:
    """BundleError naming ``metadata.json`` when an entry of :data:`_METADATA_ENTRIES` is
    missing or of another type, ``calibration`` lacks ``output``, ``temperature`` or
    ``thresholds`` (a damaged or hand-edited file: a bare KeyError before), or ``input.channels``
    is not 1 or 3 (a model reads grey or RGB images; another count passed the load and failed
    at the first image)."""
    path, fix = bundle_dir / "metadata.json", f"\n  fix: {rebuild_advice(bundle_dir)}"
    for key, kind in _METADATA_ENTRIES.items():
        if key not in meta:
            raise BundleError(f"{path}: the bundle metadata has no {key!r} entry (the file is damaged "
                              f"or was edited){fix}")
        if not isinstance(meta[key], kind):
            raise BundleError(f"{path}: the bundle metadata's {key!r} is a {type(meta[key]).__name__}, "
                              f"not a {kind.__name__} (the file is damaged or was edited){fix}")
    lacks = [k for k in ("output", "temperature", "thresholds") if k not in meta["calibration"]]
    if lacks:
        raise BundleError(f"{path}: the bundle metadata's 'calibration' lacks "
                          f"{', '.join(map(repr, lacks))} (the file is damaged or was edited){fix}")
    section = meta["input"] if "input" in meta else meta  # as input_spec_of reads it
    channels = section.get("channels", "missing") if isinstance(section, dict) else "missing"
    if isinstance(channels, bool) or channels not in (1, 3):
        raise BundleError(f"{path}: the bundle metadata's input.channels is {channels!r}, not 1 "
                          f"(grey) or 3 (RGB), the channels a model reads (the file is damaged or "
                          f"was edited){fix}")


def _check_input_sizes(bundle_dir: Path, meta: dict[str, Any]) -> None:
    """BundleError naming ``metadata.json`` when its ``input`` section's ``size`` (``S`` or
    ``[S, S]``, the model's input side) or ``source_size`` (the side an upload is first resized
    to) is not a whole number in :data:`INPUT_SIDES` (a CLI review: a demo bundle written with
    ``--image-size -5`` loaded, and every image then failed in pydantic and cv2 tracebacks). A
    section without them is :meth:`~drac_ssl.grading.model.InputSpec.from_metadata`'s to say."""
    section = meta.get("input", meta)
    if not isinstance(section, dict):
        return
    path = bundle_dir / "metadata.json"
    for key in ("size", "source_size"):
        if key not in section:
            continue
        value = section[key]
        sides = value if key == "size" and isinstance(value, list) else [value]
        if sides and all(isinstance(v, int) and not isinstance(v, bool)
                         and INPUT_SIDES[0] <= v <= INPUT_SIDES[1] for v in sides):
            continue
        fix = (f"write the demo bundle again with sizes in that range: {python_command('app.demo_bundle')} "
               f"{shlex.quote(str(bundle_dir.parent))} (--image-size, --source-size)" if meta.get("demo")
               else rebuild_advice(bundle_dir))  # a demo's run folder would rebuild the same sizes
        raise BundleError(
            f"{path}: the bundle's input.{key} is {json.dumps(value)}, not a side in pixels (a whole "
            f"number, {INPUT_SIDES[0]}..{INPUT_SIDES[1]}): the file was edited or written with a "
            f"size that no model takes.\n  fix: {fix}")


def _check_weight_names(bundle_dir: Path, meta: dict[str, Any]) -> None:
    """BundleError naming ``metadata.json`` when a fold's ``weights`` entry is not a list of bare
    file names (:func:`drac_ssl.grading.model.weight_name_problem`), or ``input_profile.file``
    (when not None) is not one: a name such as ``/etc/passwd`` or ``../../x`` would make the
    bundle read a file outside its folder."""
    path = bundle_dir / "metadata.json"
    for entry in meta["folds"]:
        names = entry.get("weights") if isinstance(entry, dict) else None
        if not isinstance(names, list):
            raise BundleError(f"{path}: a fold entry of the bundle metadata has no list of weights "
                              f"files (the file is damaged or was edited).\n  fix: "
                              f"{rebuild_advice(bundle_dir)}")
        for name in names:
            if (problem := weight_name_problem(name)) is not None:
                raise BundleError(
                    f"{path}: fold {entry.get('fold')}'s weights file {problem}: a bundle's "
                    f"weights are read from its own folder only, and nothing was opened.\n  fix: the "
                    f"metadata.json was edited or is not a drac_ssl bundle's: copy the bundle folder "
                    f"again from where it was built, or {rebuild_advice(bundle_dir)}")
    name = _recorded_file(meta, "input_profile")[0]
    if name not in (None, "") and (problem := weight_name_problem(name)) is not None:
        raise BundleError(
            f"{path}: the input profile's file (input_profile.file) {problem}: a bundle's files "
            f"are read from its own folder only, and nothing was opened.\n  fix: the metadata.json "
            f"was edited or is not a drac_ssl bundle's: copy the bundle folder again from where it "
            f"was built, or {rebuild_advice(bundle_dir)}")


def unreadable_bundle_file(bundle_dir: str | os.PathLike[str], path: str | os.PathLike[str],
                           exc: OSError) -> BundleError:
    """The BundleError for a file of the bundle in ``bundle_dir`` that this account cannot read
    (``exc``: a PermissionError, an I/O error): names the file and, for a permission refused,
    says that the serving account needs read access to the whole bundle folder, and how to give
    it. The usual cause: the bundle was copied to the grading machine and made read-only to the
    app's account, another account than the one that built it, while the fine-tuning's
    ``*.safetensors`` are written with mode 0600 (its owner's alone). The commands are
    :func:`drac_ssl.io.access_fix`'s, as every other unreadable folder's."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        return BundleError(
            f"{path}: this account cannot read the bundle's file ({reason}); the account that "
            f"serves or grades with a bundle needs read access to every file in its folder, and "
            f"the weights files are written readable by their owner only (mode 0600).\n  fix: as "
            f"the bundle copy's owner (or root), give read access: "
            f"{access_fix(bundle_dir, everyone=True)} (the serving account's group GROUP); keep it "
            f"read-only to the serving account (docs/deploying.md)")
    return BundleError(f"{path}: the bundle's file cannot be read ({reason}).\n  fix: copy the bundle "
                       f"folder again, or {rebuild_advice(bundle_dir)}")


def _recorded_file(meta: dict[str, Any], key: str) -> tuple[Any, Any]:
    """The ``file`` and ``sha256`` that a bundle's ``metadata.json`` (``meta``) records under
    ``key`` (``"input_profile"``, ``"model_card"``), each as written, None where absent (both
    when ``meta[key]`` is no dict: absent, None). The one reader of such an entry; each caller
    judges the values by its own rule."""
    entry = meta.get(key)
    return (entry.get("file"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)


def _sha256_matches(path: Path, *recorded: str) -> tuple[str, bool]:
    """The SHA-256 of the file at ``path`` (lower-case hex) and whether it is the recorded
    digest, each of ``recorded`` (compared without case; a file recorded with two digests, by
    two folds that disagree, matches neither). Raises OSError when the file cannot be read:
    each caller says that its own way (:func:`unreadable_bundle_file`, a note)."""
    got = sha256_file(path)
    return got, {digest.lower() for digest in recorded} == {got}


def verify_weight_hashes(bundle_dir: str | os.PathLike[str], meta: dict[str, Any]) -> list[str]:
    """Check every weights file of the bundle in ``bundle_dir`` against the SHA-256 its
    ``metadata.json`` (``meta``) records (each fold's ``sha256``: ``{file name: hex digest}``,
    copied from the fine-tuning's ``model.json``, else taken of the files at the build); a file
    shared by the folds (a frozen backbone) is hashed once. Returns the names checked (empty for
    a bundle that records no digests, built before they were: nothing to check,
    :func:`weights_hash_note` says so). The names must have passed
    :func:`drac_ssl.grading.model.weight_name_problem` (:func:`load_bundle` checks them first).

    Raises:
        BundleError: some file's digest is not the recorded one; the message names each such
            file and its fold(s), both digests (the first 12 hex digits) and its size, says
            when its content is another file's of the bundle (fold files swapped or renamed),
            and the fix: copy the whole bundle folder again, or rebuild it from its run folder.
            A listed file that cannot be read (permissions: the serving account was not
            given read access to the bundle copy; an I/O error) is a BundleError too, naming the
            file and the fix (:func:`unreadable_bundle_file`).
    """
    bundle_dir = Path(bundle_dir)
    wanted: dict[str, dict[str, list[Any]]] = {}  # file name -> recorded digest -> its folds
    for entry in meta.get("folds") or []:
        digests = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digests, dict):
            continue
        for name in entry.get("weights") or []:
            digest = digests.get(name)
            if isinstance(digest, str) and digest:
                wanted.setdefault(name, {}).setdefault(digest.lower(), []).append(entry.get("fold"))
    owner = {digest: name for name, by_digest in wanted.items() for digest in by_digest}
    wrong: list[str] = []
    for name, by_digest in wanted.items():
        path = bundle_dir / name
        try:
            got, same = _sha256_matches(path, *by_digest)
        except OSError as exc:
            raise unreadable_bundle_file(bundle_dir, path, exc) from None
        if same:
            continue
        folds = sorted({f for fs in by_digest.values() for f in fs}, key=str)
        recorded = ", ".join(f"{d[:12]}..." for d in sorted(by_digest))
        other = owner.get(got)
        whose = (f"; its content is {other}'s as recorded (the fold files were swapped or renamed)"
                 if other is not None and other != name else "")
        wrong.append(f"  {path} (fold{'s' if len(folds) > 1 else ''} "
                     f"{', '.join(map(str, folds))}): SHA-256 {got[:12]}... of its "
                     f"{path.stat().st_size:,} bytes, recorded {recorded}{whose}")
    if wrong:
        raise BundleError(
            f"{bundle_dir}: {len(wrong)} weights file(s) are not the ones {bundle_dir / 'metadata.json'} "
            f"records, so the models would not be the ones its figures and calibration describe; "
            f"nothing was loaded:\n" + "\n".join(wrong) + "\n"
            f"  the files were changed, replaced or damaged after the bundle was built (a copy cut "
            f"short or interrupted, fold files swapped, an edit).\n  fix: copy the whole bundle "
            f"folder again from where it was built, or {rebuild_advice(bundle_dir)}")
    return sorted(wanted)


PROFILE_HASH_MISSING = ("records no SHA-256 of its input profile (built before it was recorded): the file "
                        "behind \"unlike the training images\" and \"not reliably gradable\" is used "
                        "unverified")
""":func:`profile_hash_note`'s words for a bundle built before ``input_profile.sha256``."""


def verify_profile_hash(bundle_dir: str | os.PathLike[str], meta: dict[str, Any]) -> bool:
    """Check the bundle's input profile (``input_profile.npz``, which decides "unlike the
    training images" and "not reliably gradable") against the SHA-256 its ``metadata.json``
    (``meta["input_profile"]["sha256"]``) records, as :func:`verify_weight_hashes` checks the
    weights. True when checked; False when there is nothing to check (no profile, or a bundle
    built before the digest was recorded: :func:`profile_hash_note` says so).

    Raises:
        BundleError: its digest is not the recorded one (the message names the file, both
            digests' first 12 hex digits, its size, and the fix: copy the bundle folder again,
            or rebuild it); the file cannot be read (:func:`unreadable_bundle_file`).
    """
    bundle_dir = Path(bundle_dir)
    name, recorded = _recorded_file(meta, "input_profile")
    if not name or not isinstance(recorded, str) or not recorded:
        return False
    path = bundle_dir / str(name)
    try:
        got, same = _sha256_matches(path, recorded)
    except OSError as exc:
        raise unreadable_bundle_file(bundle_dir, path, exc) from None
    if not same:
        raise BundleError(
            f"{path}: SHA-256 {got[:12]}... of its {path.stat().st_size:,} bytes, but "
            f"{bundle_dir / 'metadata.json'} records {recorded[:12]}... for it: the input profile, "
            f"which decides which images are flagged \"unlike the training images\" or \"not "
            f"reliably gradable\", is not the one the bundle was built with (changed, replaced "
            f"or damaged since); nothing was loaded.\n  fix: copy the whole bundle folder again "
            f"from where it was built, or {rebuild_advice(bundle_dir)}")
    return True


def _profile_recorded_unhashed(meta: dict[str, Any]) -> bool:
    """Whether ``meta`` records an input profile's file but no SHA-256 of it (a bundle built
    before it was recorded): :func:`profile_hash_note`'s note, :func:`older_bundle_records`'s
    rebuild."""
    name, recorded = _recorded_file(meta, "input_profile")
    return bool(name) and not recorded


def profile_hash_note(bundle: Bundle, paths: bool = True) -> str | None:
    """A note for a bundle whose input profile is used unverified, built before
    ``input_profile.sha256`` was recorded (:func:`verify_profile_hash`), with the fix
    (:func:`rebuild_advice`); None when it was checked, or the bundle has no profile.
    ``paths`` False: "This bundle" and no rebuild command (the app's page, which shows no
    server path)."""
    if bundle.input_profile is None or not _profile_recorded_unhashed(bundle.metadata):
        return None
    if not paths:
        return f"This bundle {PROFILE_HASH_MISSING}; rebuilding it from its run has it checked"
    return f"{bundle.path} {PROFILE_HASH_MISSING}. To have it checked: {rebuild_advice(bundle.path)}"


def _weights_unhashed(meta: dict[str, Any]) -> list[str]:
    """The weights files listed by ``meta``'s folds for which no fold records a SHA-256 (a bundle
    built before digests were recorded: :func:`verify_weight_hashes` checks nothing of them),
    sorted; [] when every one is recorded. :func:`weights_hash_note`'s note,
    :func:`older_bundle_records`'s rebuild, and :func:`build_bundle` takes them of the files."""
    listed: set[str] = set()
    hashed: set[str] = set()
    for entry in meta.get("folds") or []:
        if not isinstance(entry, dict):
            continue
        digests = entry.get("sha256") if isinstance(entry.get("sha256"), dict) else {}
        for name in entry.get("weights") or []:
            if isinstance(name, str):
                listed.add(name)
                if isinstance(digests.get(name), str) and digests.get(name):
                    hashed.add(name)
    return sorted(listed - hashed)


WEIGHTS_UNHASHED_RECORD = "no weights sha256"
""":func:`older_bundle_records`'s words for a bundle whose weights files' SHA-256 is not recorded."""

WEIGHTS_HASH_MISSING = ("records no SHA-256 of {what} (built before digests were recorded): the "
                        "weights are used unverified, so a file changed, swapped or damaged since "
                        "the build goes unnoticed")
""":func:`weights_hash_note`'s words; ``{what}``: "its weights files" or the files by name."""


def weights_hash_note(bundle: Bundle, paths: bool = True) -> str | None:
    """A note for a bundle whose weights files are used unverified: its ``metadata.json``
    records no SHA-256 of them (built before digests were recorded, :func:`verify_weight_hashes`
    checks nothing), with the fix (:func:`rebuild_advice`; a rebuild records them, of the files as
    they are then: later changes are caught, not damage before it). None when
    every weights file was checked, and for a demo bundle (``metadata["demo"]``: random
    weights, nothing to vouch for). ``paths`` False: "This bundle" and no rebuild command (the
    app's page, which shows no server path)."""
    meta = bundle.metadata
    unhashed = _weights_unhashed(meta)
    if not unhashed or meta.get("demo"):
        return None
    listed = {n for entry in meta.get("folds") or [] if isinstance(entry, dict)
              for n in entry.get("weights") or [] if isinstance(n, str)}
    what = "its weights files" if set(unhashed) == listed else f"its weights file(s) {', '.join(unhashed)}"
    words = WEIGHTS_HASH_MISSING.format(what=what)
    if not paths:
        return f"This bundle {words}; a rebuild records them, so later changes are caught"
    return f"{bundle.path} {words}. A rebuild records them, so later changes are caught: {rebuild_advice(bundle.path)}"


def model_card_note(bundle: Bundle, paths: bool = True) -> str | None:
    """A note when the bundle's ``MODEL_CARD.md`` is not the card it was built with: its SHA-256
    differs from ``metadata.json``'s ``model_card.sha256`` (an edit since: the card still loads,
    as it is only words, but what it says is no longer the build's) or the file is gone; None
    when it matches, or the bundle records no card hash (built before it did). The identity
    (``metadata_sha256``, of ``metadata.json``) covers the recorded hash, not the file.
    ``paths`` False: the file by its name alone and no rebuild command (the app's page, which
    shows no server path)."""
    name, recorded = _recorded_file(bundle.metadata, "model_card")
    if not isinstance(recorded, str) or not recorded:
        return None
    name = str(name or "MODEL_CARD.md")
    path = Path(bundle.path) / name
    shown = path if paths else name
    try:
        got, same = _sha256_matches(path, recorded)
    except OSError:
        return f"{shown} is missing or unreadable: the bundle's model card cannot be shown as built"
    if same:
        return None
    return (f"{shown} is not the card the bundle was built with (SHA-256 {got[:12]}..., "
            f"metadata.json records {recorded[:12]}...): it was edited since; what it says is not "
            f"the build's" + (f". To restore it: {rebuild_advice(bundle.path)}" if paths else ""))


data_folder_name = last_component
"""An alias of :func:`drac_ssl.runtime.last_component`, kept as this module's public name (in
``__all__``): the last component of a data root (``/srv/hospital/photos`` -> ``photos``; a
MedMNIST ``.npz`` file: its name; ``C:\\data\\photos`` -> ``photos``), ``""`` for none: what
the model card says of where its training images were. The card is shown to every user of the
app, and the folders above the data name the machine's layout (a user's home, a share,
sometimes a study or a patient): ``metadata.json`` keeps the whole ``data.root``, and the run
folder's ``data/ingest_summary.json`` too."""


def ci_resampling_words(resampling: dict[str, Any] | None, n_boot: int | None = None,
                        seed: int | None = None) -> str:
    """What bootstrap CIs resample, from a record of :func:`drac_ssl.oof.ci_resampling`
    (``metrics.json``, ``comparison.json``, a bundle's ``cv_metrics``: ``ci_resamples``
    ``patients``, ``groups`` or ``images``, ``ci_units`` their number): ``percentile bootstrap
    (1000 resamples) of the 23 patients, each with all its images``, ``... of the 14 image
    groups the folds kept whole (...), each with all its images`` (near twins kept together,
    ``data.near_duplicate_mse``) or ``... of the 44 images, each its own unit``, then
    :data:`CI_HELD_FIXED` (what they do not vary). A record without them (a run made before
    patient-level CIs): images. ``seed``: the seed the resamples were drawn from (the
    fine-tuning's: ``finetune.seed``, or ``run.seed`` when that is -1), said last when given
    (``...; resamples drawn with seed 0``): the interval's endpoints depend on it."""
    words = _resampled_words(resampling or {}, n_boot)
    return words + (f"; resamples drawn with seed {seed}" if seed is not None else "")


def _resampled_words(resampling: dict[str, Any], n_boot: int | None) -> str:
    """:func:`ci_resampling_words` without its seed."""
    how = "percentile bootstrap" + (f" ({n_boot} resamples)" if n_boot is not None else "")
    units = resampling.get("ci_units")
    count = f" {units}" if isinstance(units, int) and not isinstance(units, bool) else ""
    if resampling.get("ci_resamples") == "patients" and resampling.get("ci_unit") == "site":
        return (f"{how} of the{count} sites (leave-one-site-out: the site is the patient column), each "
                f"with all its images, {CI_HELD_FIXED}")
    if resampling.get("ci_resamples") == "patients":
        return f"{how} of the{count} patients, each with all its images, {CI_HELD_FIXED}"
    if resampling.get("ci_resamples") == "groups":
        return (f"{how} of the{count} image groups the folds kept whole ({TWIN_GROUP_WORDS}), each with all "
                f"its images, {CI_HELD_FIXED}")
    return f"{how} of the{count} images, each its own unit, {CI_HELD_FIXED}"


def referable_cut_of(metadata: dict[str, Any], num_grades: int) -> int | None:
    """The referable cut ``r`` a bundle's ``metadata.json`` records (``cv_metrics.referable
    .from_grade``: the fine-tuning reported referable DR, grade >= r; with two grades r = 1,
    grade 1 itself), or None: none recorded (a two-grade bundle built before two grades had
    their cut records none), fewer than two grades, or a value that is not an int in
    ``1 .. K-1`` (``True`` too, which Python counts as the int 1: a hand-edited or damaged
    file). The one rule of the app's P(referable) and the export's
    ``_referable.csv``, so that neither gives a figure the other refuses."""
    referable = (metadata.get("cv_metrics") or {}).get("referable")
    r = referable.get("from_grade") if isinstance(referable, dict) else None
    if isinstance(r, bool) or not isinstance(r, int) or num_grades < 2 or not 1 <= r <= num_grades - 1:
        return None
    return r


def check_referral_cut(bundle: Bundle) -> None:
    """Refuse a bundle whose referral cut (its calibration's ``referral``,
    ``finetune.referral_target``) is on other grades than its referable figures
    (:func:`referable_cut_of`), or has none to go with: a hand-edited or mixed bundle, which the
    export and the app would otherwise refer by one rule and word by the other, or silently
    drop (a review found the app did). A fine-tuning writes both from one
    ``finetune.referable_from``. Nothing for a bundle without a referral cut.

    Raises:
        BundleError: the two differ; the message names ``metadata.json`` and how to rebuild."""
    referral = getattr(bundle.calibration, "referral", None)
    if referral is None:
        return
    r = referable_cut_of(bundle.metadata, bundle.calibration.num_grades)
    if r != referral.from_grade:
        figures = f"its referable figures on grades >= {r}" if r is not None else "no referable figures"
        raise BundleError(f"{Path(bundle.path) / 'metadata.json'}: its calibration's referral cut is on grades "
                          f">= {referral.from_grade} but it records {figures} (cv_metrics.referable.from_grade): "
                          f"a referral by one and figures of the other would not describe each other.\n"
                          f"  fix: {rebuild_advice(bundle.path)}")


def per_grade_outcomes(report: dict[str, Any], names: Sequence[str],
                       intervals: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per grade, out of fold, from :func:`drac_ssl.metrics.grading_report`'s ``confusion``
    (rows: true grade, columns: given grade): ``grade``, ``name``, ``images`` (of that true
    grade), ``found`` (of those, given that grade), ``given`` (images given that grade), and
    ``recall`` (found / images; None for a grade without images); for a grade with images its
    95% CI, ``recall_ci95``, ``ci_method``, ``ci_n_eff``, ``ci_units`` (``ci_unit`` too where
    ``site``): those of ``intervals``
    (:func:`drac_ssl.metrics.recall_intervals` of the same images, with the run's patient
    groups: the Wilson interval on Kish's effective n) where its counts are the grade's, else the
    Wilson score interval of the counts (``wilson``). Empty without a confusion matrix of the
    right size."""
    confusion = report.get("confusion")
    k = len(names)
    if not isinstance(confusion, list) or len(confusion) != k or any(len(r) != k for r in confusion):
        return []
    by_grade = {int(r["grade"]): r for r in intervals or [] if isinstance(r, dict) and "grade" in r}
    out = []
    for g, name in enumerate(names):
        images = int(sum(confusion[g]))
        found = int(confusion[g][g])
        row: dict[str, Any] = {"grade": g, "name": str(name), "images": images, "found": found,
                               "given": int(sum(row[g] for row in confusion)),
                               "recall": found / images if images else None}
        got = by_grade.get(g)
        if images and got is not None and (got.get("n"), got.get("hits")) == (images, found):
            n_eff, units = got.get("ci_n_eff"), got.get("ci_units")
            row.update(recall_ci95=[float(b) for b in got["recall_ci95"]], ci_method=str(got.get("ci_method")),
                       ci_n_eff=None if n_eff is None else float(n_eff), ci_units=None if units is None else int(units),
                       **({"ci_unit": str(got["ci_unit"])} if got.get("ci_unit") else {}))
        elif images:
            row.update(recall_ci95=[float(b) for b in wilson_interval(found, images)], ci_method="wilson",
                       ci_n_eff=None, ci_units=None)
        out.append(row)
    return out


def oof_recall_intervals(run_dir: str | os.PathLike[str], vdir: str | os.PathLike[str]
                         ) -> list[dict[str, Any]] | None:
    """Each grade's out-of-fold recall with its 95% CI (:func:`drac_ssl.metrics.recall_intervals`)
    of the variant folder ``vdir``'s ``oof.csv``, on the units its pooled CIs resample
    (:func:`drac_ssl.oof.oof_units`: patients where the run knows them, so the interval is on
    Kish's effective n; images else; a leave-one-site-out run's sites, each row's ``ci_unit``
    ``site``); None when ``oof.csv`` cannot be read. report.md's and the
    bundle's per-grade sensitivity are both of it."""
    import numpy as np

    from drac_ssl.metrics import recall_intervals
    from drac_ssl.oof import OOF_FILE, OofError, oof_units, read_oof

    try:
        oof = read_oof(Path(vdir) / OOF_FILE)
    except OofError:
        return None
    units, what = oof_units(Path(run_dir), Path(vdir), [str(i) for i in oof.ids])
    rows = recall_intervals(oof.grades, oof.pred, oof.num_grades, groups=None if units is None else np.asarray(units))
    # a leave-one-site-out run resamples sites: the cell says "of 2 sites", not "patients"
    return [{**r, "ci_unit": "site"} for r in rows] if what == "sites" else rows


def training_input_profile(data_dir: str | os.PathLike[str], meta: dict[str, Any], model: GradingModel
                           ) -> tuple[InputProfile | None, str]:
    """The :class:`~drac_ssl.grading.ood.InputProfile` of the labelled training images of an
    ingest (``data_dir/manifest.csv`` rows with ``split=train``, a grade and a fold >= 0;
    their rows of ``data_dir/cache/<source size>px.npy``), each preprocessed as a new image
    would be (:func:`drac_ssl.grading.predict.preprocess_image` with ``ingested=True``), with
    the backbone features of ``model`` (the bundle's first fold model, on its device).
    Returns ``(profile, "")``, or ``(None, why)`` when the ingest cache or manifest is
    missing or unreadable, or there are too few images."""
    import numpy as np

    data_dir = Path(data_dir)
    device = next(model.parameters()).device
    spec = input_spec_of(meta)
    cache = data_dir / "cache" / f"{spec.source_size}px.npy"
    manifest = data_dir / "manifest.csv"
    if not cache.is_file() or not manifest.is_file():
        return None, f"no ingest cache {cache.name} and manifest in {data_dir}"
    try:
        rows = [r["cache_index"] for r in labelled_rows(read_manifest(manifest, ("grade", "split", "fold",
                                                                                 "cache_index")))]
        images = np.load(cache, mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        return None, f"the ingest in {data_dir} cannot be read ({exc})"

    def batches() -> Any:
        with torch.inference_mode():
            for start in range(0, len(rows), 64):
                x = torch.stack([preprocess_image(np.asarray(images[i]), meta, ingested=True)
                                 for i in rows[start:start + 64]])
                yield x, model.backbone(x.to(device)).float().cpu()

    try:
        return fit_input_profile(batches()), ""
    except ValueError as exc:
        return None, str(exc)


def training_images_of(data_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The bundle's record of its training images' hashes
    (:func:`drac_ssl.grading.training_images.training_images_record`) from the ingest's
    ``data_dir/manifest.csv``: the ``sha256`` of the rows the cross-validation used
    (:func:`drac_ssl.manifest.labelled_rows`), and their decoded-pixel hashes (the
    ``pixels_sha256`` column, :data:`drac_ssl.manifest.PIXELS_COLUMN`); for a manifest made
    before that column (a run made before it, or one whose ``run.reuse`` took such an ingest),
    hashed now from the images themselves
    (:func:`drac_ssl.grading.training_images.ingest_pixel_digests`: the ``.npz`` rows or the
    files, each checked against the manifest's ``sha256``), and file hashes only when they cannot
    all be read as they were. None when the manifest is missing or unreadable, or records no hash."""
    try:
        rows = labelled_rows(read_manifest(Path(data_dir) / MANIFEST_FILE,
                                           ("path", "grade", "split", "fold", "sha256")))
    except (OSError, ValueError, KeyError):
        return None
    pixels = ([str(r.get(PIXELS_COLUMN) or "") for r in rows]
              if rows and all(PIXELS_COLUMN in r for r in rows) else
              ingest_pixel_digests(data_dir, rows) if rows else None)
    record = training_images_record((str(r.get("sha256") or "") for r in rows), pixels)
    return record if record["images"] else None


ENVIRONMENT_KEYS = ("python", "torch", "torchvision", "numpy", "opencv", "scikit_learn", "builds", "device")
"""The keys of a run's ``environment.json`` copied into a bundle's ``provenance.environment``."""


def run_provenance(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What made the models of a run folder and what builds its bundle now, for
    ``metadata.json`` and the model card: ``run_folder`` (the run folder's name, not its path,
    also when ``run_dir`` is ``.`` or ends in ``..``),
    ``training_data`` (``manifest_sha256`` and ``labels_csv_sha256`` of the ingest,
    ``data/ingest_summary.json``), ``environment`` (:data:`ENVIRONMENT_KEYS` of the run's
    ``environment.json``: Python, torch and library versions, their wheel ``builds``, the
    device), ``run_seed`` (``run.seed`` of its ``config.yaml``),
    ``run_code`` (the commit, dirty flag and code fingerprint the run was made at,
    ``environment.json``; the fingerprint, :func:`drac_ssl.runtime.code_fingerprint`, names
    code that was no git checkout, e.g. a source archive: absent for a run made before it),
    ``finetune_code`` (those the fine-tuning ran on, ``stages.json``; absent when not
    recorded) and ``built_with`` (those of the code building the bundle now,
    :func:`drac_ssl.runtime.code_version`: the fingerprint alone without git). A value the run
    folder does not hold is None."""
    from data_prep.folds import summary_fold_seed
    from drac_ssl.runtime import code_version  # one git call

    run_dir = Path(run_dir)

    def read(name: str) -> dict[str, Any]:
        try:
            data = json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    env = read("environment.json")
    seed = (read_saved_config(run_dir).get("run") or {}).get("seed")
    finetune = (read_stages_record(run_dir).get("finetune") or {}).get("code")
    ingest = read("data/ingest_summary.json")
    labels = ((ingest.get("source_files") or {}).get("labels_csv") or {}) if isinstance(
        ingest.get("source_files"), dict) else {}
    # the folder's own name however it was typed: 'export . --variant NAME' in the run folder
    # gave Path('.').name == '' (recorded as no run folder: a rebuild at every export);
    # abspath, not resolve: a run reached through a link keeps the name the user gave it
    return {"run_folder": last_component(os.path.abspath(run_dir)),
            # what the models were trained on: the ingest's manifest and label CSV, by hash
            "training_data": {"manifest_sha256": ingest.get("manifest_sha256"),
                              "labels_csv_sha256": labels.get("sha256") if isinstance(labels, dict) else None},
            # what they were trained with: the run's environment.json (versions and builds)
            "environment": {key: env.get(key) for key in ENVIRONMENT_KEYS},
            "run_seed": seed if isinstance(seed, int) else None,
            # the seed the ingest split the folds with (data.fold_seed, as ingest_summary.json has it)
            **({"fold_seed": summary_fold_seed(ingest)} if ingest else {}),
            "run_code": ({k: env.get(k) for k in ("git_commit", "git_dirty")}
                         | ({"code_fingerprint": env["code_fingerprint"]} if env.get("code_fingerprint") else {})
                         if env.get("git_commit") or env.get("code_fingerprint") else None),
            **({"finetune_code": finetune} if isinstance(finetune, dict) else {}),
            "built_with": code_version()}


def with_trial_run(profile: InputProfile, meta: dict[str, Any]) -> InputProfile:
    """``profile`` marked :attr:`~drac_ssl.grading.ood.InputProfile.trial_run` when the
    bundle's ``meta`` records a trial run (``trial_run``, :func:`drac_ssl.trial_run.trial_run_words`;
    a bundle built before this was said, too), else as it is: a bundle without the record
    (unknown) or of a full run reads as before."""
    return replace(profile, trial_run=True) if trial_run_words(meta.get("trial_run")) else profile


def bundle_out_problem(out: Path, run_dir: Path) -> str | None:
    """Why :func:`build_bundle` must not write the bundle folder ``out`` (it replaces the folder
    whole), with the fix; None when it may: the run's own ``bundle/`` or ``bundles/NAME/``, a
    folder not there yet, an empty one, or an earlier bundle (its ``metadata.json`` says
    :data:`BUNDLE_FORMAT`). Refused (a careless-user review:
    output paths replaced the user's inputs with no check): a file, the run folder itself or
    a folder above it, one of its stage folders (``finetune/``, ``data/`` ...) or a folder
    inside one, and any other folder holding files (``out=`` naming an image folder would
    have deleted the images)."""
    from drac_ssl.out_paths import STAGE_FOLDERS

    def resolved(p: Path) -> Path:
        return Path(os.path.abspath(p))

    fix = f"pass out= a new folder, e.g. out='{run_dir / 'bundles' / 'NAME'}'"
    if out.is_file():
        return f"{out}: a file; the bundle is a folder.\n  fix: {fix}"
    here, run = resolved(out), resolved(run_dir)
    if here == run / "bundle" or here.parent == run / "bundles":
        return None  # the run's own bundle places: a damaged bundle there is rebuilt, as its errors say
    if run.is_relative_to(here):
        return f"{out}: the run folder {run_dir} or a folder above it; the bundle would replace it.\n  fix: {fix}"
    for stage in STAGE_FOLDERS:
        if stage in ("bundle", "bundles"):
            continue
        if here.is_relative_to(run / stage):
            return (f"{out}: inside {run_dir / stage}, a folder of the run's own files; the bundle "
                    f"would replace them.\n  fix: {fix}")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    try:
        meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and meta.get("format") == BUNDLE_FORMAT:
        return None
    return (f"{out}: a folder holding files of its own, not a model bundle (no metadata.json of "
            f"{BUNDLE_FORMAT!r}); the bundle replaces its folder whole, so they would be lost.\n  "
            f"fix: {fix}")


def build_bundle(run_dir: str | os.PathLike[str], variant: str | None = None,
                 out: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu", built_from: dict[str, str] | None = None,
                 pretraining_images: dict[str, Any] | None = None,
                 oof_calibration: dict[str, Any] | None = None) -> Path:
    """Write ``run_dir/bundle/`` (or ``out``) from the fine-tuning outputs (see the module
    docstring).

    ``variant`` defaults to the one selected in ``finetune/summary.json``; another variant
    (``scratch``, ``vicreg``, ``vicreg_umm``) gives that variant's fold ensemble, e.g. into
    ``out=run_dir/bundles/<variant>``. The bundle is assembled in a temporary folder and
    moved into place, replacing an older one. ``device``: where the first fold model
    describes the training images for the out-of-distribution profile (the run's device:
    a GPU run's export does not redo them on the CPU). ``built_from``: the
    :func:`finetune_outputs_digest` it is built from, recorded for :func:`build_or_reuse_bundle`
    (None: not recorded; the export stage's bundle is always rebuilt, so it hashes nothing).
    ``pretraining_images``: the record of the images its backbone's pretraining read
    (:func:`drac_ssl.grading.training_images.pretraining_images_of` of ``run_dir`` and
    ``variant``) when the caller has just made it (:func:`build_or_reuse_bundle`'s check); None:
    made here. ``oof_calibration``: the variant's out-of-fold calibration figures, report.md's
    Brier score and ECE (:func:`drac_ssl.report.oof_calibration_record`, which the export
    passes in), recorded as ``metadata.json``'s :data:`OOF_CALIBRATION_KEY` and said on the
    model card (:func:`oof_calibration_words`); None: not recorded (the card says so).

    The run folder of an untrained demo bundle (:func:`drac_ssl.grading.demo.demo_run_note`:
    ``app.demo_bundle``'s marks in ``finetune/``) gives a demo bundle every time, whoever
    builds it: ``metadata.json`` ``demo`` and ``data`` of kind ``none``, and the demo's own
    card (:func:`drac_ssl.grading.demo.demo_card`), so that a rebuild of random weights never
    reads as a trained model.

    Raises BundleError naming the file, what is wrong and the fix when a fine-tuning output it
    reads is missing, unreadable or not a JSON object, and when the ``metadata.json`` of the
    stage the variant's backbone comes from (``pretrain/``, ``umm/``) is there but unreadable or
    not a JSON object (absent, the bundle records that backbone's pretraining as ``unknown``).
    """
    run_dir = Path(run_dir)
    ft_dir = run_dir / "finetune"
    summary = _read_json(ft_dir / "summary.json",
                         "the fine-tuning summary (run the finetune stage first)")
    variant = variant or summary["selected"]
    vdir = fine_tuned_variant_dir(run_dir, variant)
    model_json = _read_json(vdir / "model.json", f"the {variant} model description")
    metrics = _read_json(vdir / "metrics.json", f"the {variant} metrics")
    calibration = _read_json(vdir / "calibration.json", f"the {variant} calibration")
    comparison = _read_json(ft_dir / "comparison.json", "the variant comparison")
    class_names = list(grade_names_of(model_json))
    k = len(class_names)
    if int(model_json["model"].get("num_grades", k)) != k or len(calibration["thresholds"]) != k - 1:
        raise BundleError(f"{vdir}: the model ({model_json['model'].get('num_grades')} outputs), "
                          f"its calibration ({len(calibration['thresholds'])} thresholds) and its "
                          f"{k} grade names ({', '.join(class_names)}) disagree; rerun the "
                          f"finetune stage")
    data = data_provenance(run_dir / "data", class_names)
    # the data facts the user stated (data.description, ...), for the card; absent: none stated
    if stated := stated_data(read_saved_config(run_dir).get("data")):
        data["stated"] = stated
    source_meta: dict[str, Any] = {}
    if variant in VARIANT_STAGE:
        meta_path = run_dir / VARIANT_STAGE[variant] / "metadata.json"
        if meta_path.is_file():  # absent: its pretraining "unknown"; damaged: said, not guessed
            source_meta = _read_json(
                meta_path, "the pretrained backbone's metadata",
                fix=f"the {VARIANT_STAGE[variant]} stage writes it as a JSON object: restore it from a copy "
                    f"of the run, or rerun that stage (a new run); or delete it, and the bundle records "
                    f"the {variant} backbone's pretraining as unknown")

    task = task_description(class_names, int(model_json["input"]["channels"]), data.get("kind"),
                            data.get("modality"))
    drac_task = task.startswith("DRAC")  # the model card's rule for DRAC's facts (_model_card)
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "package": "drac_ssl",
        "package_version": __version__,
        "created_utc": utc_now(),
        "task": task,
        "class_names": class_names,
        "input": model_json["input"],
        "model": model_json["model"],
        "freeze": model_json["freeze"],
        "finetune": model_json.get("finetune", {}),
        "variant": variant,
        # a tie said as a tie, for a summary written before those words too (recorded_selection)
        # DRAC's tie-break said as DRAC's for a DRAC task alone (a binary screening card said it)
        "selection": (recorded_selection(str(summary.get("selection", "")), summary.get("variants"),
                                         summary.get("decision"), variant, drac=drac_task)
                      + (f"; {summary['selection_evidence']}"
                                                      if summary.get("selection_evidence") else "")
                      if variant == summary.get("selected") else
                      f"asked for by name; the run selected {summary.get('selected')} "
                      f"({recorded_selection(str(summary.get('selection', '')), None, None, '', drac=drac_task)})"),
        "folds": model_json["folds"],
        "ensemble": ("mean over the fold models of the probabilities (classification head) or "
                     "of the score (regression head)"),
        "tta": {"used_in_cv": bool(model_json.get("tta", True)),
                "flips": [FLIP_NAMES[d] for d in TTA_FLIPS],
                "how": "mean raw model output over the flipped inputs, per fold model"},
        "calibration": {k: v for k, v in calibration.items()},
        # report.md's out-of-fold Brier score and ECE, as the export computed them (not here:
        # this module does not import the scoring module); absent without them
        **({OOF_CALIBRATION_KEY: dict(oof_calibration)} if oof_calibration else {}),
        "cv_metrics": {**{key: metrics.get(key) for key in (
            "n", "qwk", "qwk_ci95", "qwk_ci95_note", "auc", "auc_ovr", "accuracy", "macro_f1", "qwk_fold_mean",
            "qwk_fold_std", "decision", "decision_rules", "folds", "protocol")},
            # what the CIs resample (patients or images); a run made before: absent, images
            **{key: metrics[key] for key in ("ci_resamples", "ci_units", "protocol_words", "auc_ovr_ci95",
                                             "qwk_fold_std_ddof")
               if key in metrics},
            **{key: metrics[key] for key in ("sensitivity", "specificity") if key in metrics},  # two grades
            # finetune.referable_from: grade >= r (two grades: grade 1)
            **({"referable": metrics["referable"]} if "referable" in metrics else {}),
            # two grades with finetune.referral_target: the grades are the referral cut's
            **({"referral_decides_grade": True} if metrics.get("referral_decides_grade") else {})},
        "per_grade": per_grade_outcomes(metrics.get("report") or {}, class_names, oof_recall_intervals(run_dir, vdir)),
        "comparison": comparison.get("rows", []),
        "data": data,
        "backbone_pretraining": {**{k: source_meta.get(k) for k in
                                    ("stage", "training_data", "best_epoch", "metrics", "epochs_run")},
                                 "epochs_counted_from": 0}  # best_epoch: the epoch's index
        if source_meta else {"stage": "random init" if variant == "scratch" else "unknown"},
        "gradcam_target_layer": GRADCAM_TARGET_LAYER,
        "submission": {"columns": list(submission_columns(k)),
                       "class": ("most probable calibrated grade"
                                 if calibration.get("decision") == "argmax" else "thresholded score"),
                       # what the P columns are: not called calibrated when the calibration
                       # failed (its temperature at the edge of its search range)
                       "P": SUBMISSION_P_UNCALIBRATED if calibration_failed({"calibration": calibration})
                       else SUBMISSION_P_CALIBRATED},
        "not_a_medical_device": True,
        "provenance": run_provenance(run_dir),
        # a trial run (pretraining epochs capped, or a stage's epochs typed far below its config
        # file's): report.md's "A trial run" line, for the card,
        # the app and the export; absent (unknown) when the run's config.yaml cannot be read
        **({"trial_run": trial} if (trial := trial_run_record(run_dir)) is not None else {}),
        # the training images' hashes (compact): the export and --score say when graded images
        # are among them; absent when the manifest cannot be read
        **({TRAINING_IMAGES_KEY: hashes} if (hashes := training_images_of(run_dir / "data")) else {}),
        # the images its backbone's pretraining read without grades (the test images unless
        # pretrain.use_test_images=false, data.unlabelled): --score says a figure on them is
        # transductive; absent for scratch and when the manifest cannot be read
        **({PRETRAINING_IMAGES_KEY: pool} if (pool := pretraining_images if pretraining_images is not None
                                              else pretraining_images_of(run_dir, variant)) else {}),
        # what it was built from: build_or_reuse_bundle reuses it while these are unchanged
        # relative to the run folder, as the digest's keys: a bundle shared or a run moved
        # carries no absolute path of the machine it was built on
        **({"built_from": {"finetune_dir": f"finetune/{variant}", "sha256": built_from}}
           if built_from is not None else {}),
    }
    out = Path(out) if out is not None else run_dir / "bundle"
    if problem := bundle_out_problem(out, run_dir):  # the folder is replaced whole: never a user's
        raise BundleError(problem)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name in sorted({n for f in model_json["folds"] for n in f["weights"]}):
            if (problem := weight_name_problem(name)) is not None:
                raise BundleError(f"{vdir / 'model.json'}: a fold's weights file {problem}; "
                                  f"weights are read from {vdir} only.\n  fix: the model.json was "
                                  f"edited: rerun the finetune stage")
            source = vdir / name
            if not source.is_file():
                raise BundleError(f"{source}: weight file missing; rerun the finetune stage")
            _check_fold_file(run_dir, variant, model_json["folds"], source)  # the run's file, not the copy
            try:  # a hard link: the fine-tuning replaces its files atomically, never writes into them
                os.link(source, tmp / name)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(source, tmp / name)
            # the digest build_or_reuse_bundle has just taken, else the file itself: hashed once
            _check_weight_hash(model_json["folds"], name, tmp / name, vdir,
                               (built_from or {}).get(f"finetune/{variant}/{name}"), run_dir, variant)
        if unhashed := _weights_unhashed(meta):  # a model.json of before digests (an older run): taken now
            known = {name: str((built_from or {}).get(f"finetune/{variant}/{name}") or "") for name in unhashed}
            taken = {name: d if len(d) == 64 else sha256_file(tmp / name) for name, d in known.items()}
            meta["folds"] = [{**entry, "sha256": {**(entry.get("sha256") or {}),
                                                  **{n: taken[n] for n in entry["weights"] if n in taken}}}
                             for entry in meta["folds"]]
        # where the digests came from: the fine-tuning's (made as it saved the files) or this
        # build's (of the files as they are now: a damage before it goes unseen), on the card
        meta[WEIGHTS_SHA256_FROM] = "build" if unhashed else "fine-tuning"
        dev = torch.device(device)
        first = load_fold_model(meta, tmp, meta["folds"][0]).to(dev)
        profile, why_not = training_input_profile(run_dir / "data", meta, first)
        if profile is not None:
            profile.save(tmp / PROFILE_FILE)
            profile = with_trial_run(profile, meta)  # a trial run's model: the check is weak
            meta["input_profile"] = {"file": PROFILE_FILE, "sha256": sha256_file(tmp / PROFILE_FILE),
                                     "how": profile.describe(),
                                     "threshold": profile.threshold, "percentile": profile.percentile,
                                     "margin": profile.margin, "images": profile.n_images,
                                     "dimensions": profile.dimensions, "weak": profile.weak,
                                     "weak_reasons": profile.weak_reasons(), "caveat": profile.caveat()}
        else:
            meta["input_profile"] = {"file": None, "why": why_not}
        demo = demo_run_note(run_dir, variant)
        if demo:  # app.demo_bundle's random weights: a demo bundle however it is (re)built
            meta["demo"] = demo
            meta["data"] = {"kind": "none", "note": demo}
        card = (demo_card(meta, demo_run_seed(run_dir)) if demo else
                _model_card(meta, oof_csv=(vdir / "oof.csv").is_file()))
        atomic_write_text(tmp / "MODEL_CARD.md", card)
        # the card the app shows is part of the bundle's identity (metadata_sha256): its
        # SHA-256 recorded, written before metadata.json (the card is made from it, never of it)
        meta["model_card"] = {"file": "MODEL_CARD.md", "sha256": sha256_file(tmp / "MODEL_CARD.md")}
        atomic_write_json(tmp / "metadata.json", meta)
        _swap_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _swap_into_place(new: Path, out: Path) -> None:
    """Put the folder ``new`` (built beside ``out``) in place of ``out``, so that ``out`` is
    at every moment the old bundle or the new one, whole (but for the instant between two
    renames). The old one is first renamed aside (``.NAME.old.tmp-PID`` in the same folder, a
    name :func:`drac_ssl.io.remove_stale_temporaries` sweeps once this process is gone), the
    new one renamed onto ``out``, and then the old copy removed; when the second rename fails
    (or Ctrl-C comes between them) the old one is put back and the error raised. A folder
    cannot be renamed onto a folder that holds files (Windows: onto any), hence the
    rename aside rather than one replace."""
    aside = out.parent / f".{out.name}.old.tmp-{os.getpid()}"
    _remove_path(aside)  # this pid's, from an earlier process that ran under it
    moved = False
    try:
        try:
            os.replace(out, aside)
            moved = True
        except FileNotFoundError:  # no bundle yet, or another build moved it meanwhile
            pass
        os.replace(new, out)
    except BaseException:
        if moved and not out.exists():
            with contextlib.suppress(OSError):
                os.replace(aside, out)
        raise
    finally:
        if out.exists():  # the new one, or the old one put back: the aside copy is spare
            _remove_path(aside)


def _remove_path(path: Path) -> None:
    """Remove ``path`` (a folder with its files, a file or a link); nothing when absent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def retrain_fold_file_fix(run_dir: Path) -> str:
    """How to retrain a fine-tuning weights file of ``run_dir`` damaged or changed after the
    run recorded the fine-tuning done: the ``finetune`` entry of ``stages.json`` makes a rerun
    skip the stage, and the ``export`` entry the bundle and submission built from the old file,
    so both go; the rerun's fine-tuning checks each fold file against its fold's record
    (``weights_file``: size, SHA-256) and trains again the folds whose file differs, reusing the
    others (checked by hand on a tiny run: a cut fold0, a cut shared backbone, a fold file with one
    byte changed). The command is :func:`drac_ssl.run_state.resume_in_place_command`'s: the
    run's own ``-c RUN/config.yaml`` would, in a copied or moved run folder, name the original."""
    command, note = resume_in_place_command_and_note(run_dir)  # a copied or moved run folder where it is
    return (f"delete the `finetune` and `export` entries of {run_dir / 'stages.json'}, then rerun "
            f"`{command}` (a fold whose file was cut is trained again, the others are reused)"
            f"{f'; {note}' if note else ''}")


def finetune_recorded_done(run_dir: Path) -> bool:
    """Whether ``run_dir/stages.json`` records the fine-tuning stage done (False when it is
    missing or damaged: a bundle build does not need it)."""
    entry = read_stages_record(run_dir).get("finetune")
    return isinstance(entry, dict) and entry.get("status") == "done"


def damaged_fold_file_words(run_dir: Path, variant: str, folds: Sequence[dict[str, Any]],
                            source: Path, why: str) -> str:
    """The message for the fine-tuning's weights file ``source`` (``RUN/finetune/<variant>/
    foldK.safetensors``, or the folds' shared ``backbone.safetensors``) found damaged (``why``,
    :func:`drac_ssl.io.safetensors_damage`, or its bytes not those recorded) by a
    bundle build: the fine-tuning writes its files whole (atomically), so the file was damaged
    afterwards (a run folder copied short, a disk error); the fix is
    :func:`retrain_fold_file_fix`."""
    mine = [f.get("fold") for f in folds if source.name in (f.get("weights") or [])]
    what = f"fold {mine[0]}'s weights" if len(mine) == 1 else f"the weights {len(mine)} folds share"
    return (f"{source}: {what} are damaged ({why}); the fine-tuning wrote the file whole, so it was damaged "
            f"after (a copy of the run folder cut short, a disk error); nothing was built.\n  fix: copy "
            f"the run folder again from where it was trained, or train it again: {retrain_fold_file_fix(run_dir)}")


def _check_fold_file(run_dir: Path, variant: str, folds: Sequence[dict[str, Any]], source: Path) -> None:
    """BundleError (:func:`damaged_fold_file_words`) when the fine-tuning's weights file
    ``source`` is not a whole safetensors file; read before it is linked into the bundle, so
    that the error names the run's file and the fix for it, not the build's temporary copy."""
    try:
        why = safetensors_damage(source)
    except OSError as exc:
        raise BundleError(f"{source}: the fine-tuning's weights file cannot be read "
                          f"({exc.strerror or exc}).\n  fix: give this account read access to "
                          f"{source.parent}, then export again") from None
    if why is not None:
        raise BundleError(damaged_fold_file_words(run_dir, variant, folds, source, why))


def _check_weight_hash(folds: Sequence[dict[str, Any]], name: str, copy: Path, vdir: Path,
                       known: str | None = None, run_dir: Path | None = None, variant: str = "") -> None:
    """Raise :class:`BundleError` when ``copy`` (the bundle's link or copy of ``vdir/name``) is
    not the file ``model.json`` recorded (its ``sha256`` per fold; a model.json written before
    hashes were recorded is not checked). ``known``: the file's hash already taken by
    :func:`build_or_reuse_bundle`'s digest, so that it is not hashed twice. The fine-tuning writes each fold's weights
    as it finishes the fold and the variant's model.json, calibration and metrics only once
    every fold is done: a rerun interrupted in between leaves weights of another training. When
    ``run_dir``'s ``stages.json`` records the fine-tuning done, no rerun was interrupted: the
    file was changed after (:func:`damaged_fold_file_words`, whose fix retrains it)."""
    recorded = {f.get("fold"): (f.get("sha256") or {}).get(name) for f in folds if name in f.get("weights", [])}
    want = {h for h in recorded.values() if h}
    if not want:
        return
    got = known or sha256_file(copy)
    if got in want:
        return
    differs = f"SHA-256 {got[:12]}..., recorded {sorted(want)[0][:12]}..."
    if run_dir is not None and finetune_recorded_done(run_dir):
        raise BundleError(damaged_fold_file_words(run_dir, variant, folds, vdir / name,
                                                  f"its bytes are not those recorded: {differs}"))
    which = ", ".join(f"fold {k}" for k in sorted(recorded, key=str))
    raise BundleError(
        f"{vdir / name}: {which}'s weights are not the ones {vdir / 'model.json'} records "
        f"({differs}): a fine-tuning rerun "
        f"was most likely interrupted after it retrained this fold and before it finished the "
        f"variant, so the weights, the calibration and the figures come from different "
        f"trainings.\n  fix: finish the fine-tuning: rerun the command that was interrupted (it "
        f"resumes; the folds already done are reused), then export again")


def fine_tuned_variant_dir(run_dir: str | os.PathLike[str], variant: str) -> Path:
    """``run_dir/finetune/<variant>``, the outputs of a variant the run fine-tuned.

    Raises:
        BundleError: the run did not fine-tune ``variant`` (e.g. ``scratch`` with
            ``finetune.compare_scratch=false``, or a misspelt name); the message names the
            variants it has.
    """
    ft_dir = Path(run_dir) / "finetune"
    vdir = ft_dir / variant
    if not variant or "/" in variant or "\\" in variant or not (vdir / "model.json").is_file():
        done = sorted(p.parent.name for p in ft_dir.glob("*/model.json"))
        raise BundleError(f"{vdir}: no fine-tuned variant {variant!r} in this run (it has "
                          f"{', '.join(done) or 'none'}).\n  fix: choose one of those, or run the "
                          f"finetune stage with it (scratch needs finetune.compare_scratch=true)")
    return vdir


def finetune_outputs_digest(run_dir: str | os.PathLike[str], variant: str) -> dict[str, str]:
    """SHA-256 of each run output a bundle of ``variant`` is built from, by its path under
    ``run_dir``: the variant's ``model.json``, ``calibration.json``, ``metrics.json`` and weight
    files, the fine-tuning's ``summary.json`` and ``comparison.json`` (the selection words and
    the comparison the bundle copies), and what the bundle reads besides (a review found a
    bundle reused after the manifest changed): the ingest's ``manifest.csv`` and
    ``ingest_summary.json`` (the provenance, the input profile's images) and the pretraining and
    UMM ``metadata.json``. A missing file is ``"missing"``."""
    run_dir = Path(run_dir)
    vdir = run_dir / "finetune" / variant
    names = [f"finetune/{variant}/{n}" for n in ("model.json", "calibration.json", "metrics.json")]
    try:
        folds = json.loads((vdir / "model.json").read_text(encoding="utf-8")).get("folds") or []
        names += sorted({f"finetune/{variant}/{w}" for f in folds for w in f.get("weights") or []})
    except (OSError, ValueError, AttributeError):
        pass
    names += ["finetune/summary.json", "finetune/comparison.json", "data/manifest.csv",
              "data/ingest_summary.json", "pretrain/metadata.json", "umm/metadata.json"]
    return {n: sha256_file(run_dir / n) if (run_dir / n).is_file() else "missing" for n in names}


def build_or_reuse_bundle(run_dir: str | os.PathLike[str], variant: str,
                          out: str | os.PathLike[str] | None = None,
                          device: str | torch.device = "cpu", said: list[str] | None = None,
                          oof_calibration: dict[str, Any] | Callable[[], dict[str, Any] | None] | None = None,
                          ) -> tuple[Path, bool]:
    """The bundle of ``variant`` in ``out`` (default ``run_dir/bundles/<variant>``) and
    whether it was reused: a bundle already there of this format and variant, built from
    fine-tuning outputs identical to the run's now (:func:`finetune_outputs_digest`, recorded
    in its ``metadata.json`` as ``built_from``), is kept as it is; otherwise
    :func:`build_bundle` (re)builds it. It is called where the export writes into the run
    anyway (under the run's lock), so a bundle built before it listed the images its backbone's
    pretraining read (:func:`pretraining_record_missing`) is rebuilt with the list, to travel
    with a copy of it; ``said`` (a list, when given) gets why, ``"rebuilt because ..."``.
    ``oof_calibration``: :func:`build_bundle`'s, for a (re)build, or a function of no argument
    that returns it (:func:`drac_ssl.report.oof_calibration_of`: a bootstrap, called only when
    needed: not for a bundle reused that records them already). A bundle that records none
    while they are known (not None), or records them without ``ece_if_calibrated_p95`` (with the
    ECE's bootstrap CI ``ece_ci95``, before the stats audit's F1), is rebuilt to record them
    (:func:`older_bundle_records`), ``"rebuilt: older records (...)"`` said; one reused keeps
    what it recorded (and no bootstrap is run for it).
    Raises BundleError as :func:`build_bundle` does."""
    run_dir = Path(run_dir)
    out, digest, meta, reusable = _reuse_check(run_dir, variant, out)
    known: list[dict[str, Any] | None] = []  # oof_calibration, once worked out

    def figures() -> dict[str, Any] | None:
        if not known:
            known.append(oof_calibration() if callable(oof_calibration) else oof_calibration)
        return known[0]

    record = meta.get(OOF_CALIBRATION_KEY)
    if reusable and (not isinstance(record, dict) or "ece_if_calibrated_p95" not in record) \
            and figures() is not None:
        # built before the card gave them (or without them), or with the ECE's bootstrap CI
        # (ece_ci95, before the stats audit's F1): rebuilt to record them as a build now does
        reusable = False
    if not reusable and said is not None and meta.get("format") == BUNDLE_FORMAT \
            and (older := older_bundle_records(meta, oof_calibration_known=figures() is not None)):
        said.append(f"rebuilt: older records ({', '.join(older)})")
    pool = None  # the record a rebuild writes, made once: for the check, then for the build
    if reusable:  # pretraining_record_missing's rule, on the metadata _reuse_check read
        if _needs_no_pretraining_list(variant, meta):
            return out, True
        pool = pretraining_images_of(run_dir, variant)
        if pool is None:  # a build now would write none either
            return out, True
        if said is not None:
            said.append(f"rebuilt from {run_dir / 'finetune' / variant} because it was built before bundles "
                        f"listed the images its backbone's self-supervised pretraining read (export --score "
                        f"with a copy of it could not tell a transductive score)")
    return build_bundle(run_dir, variant, out, device=device, built_from=digest, pretraining_images=pool,
                        oof_calibration=figures()), False


def reusable_bundle(run_dir: str | os.PathLike[str], variant: str,
                    out: str | os.PathLike[str] | None = None, *,
                    unhashed_weights_ok: bool = False) -> Path | None:
    """The bundle folder of ``variant`` (default ``run_dir/bundles/<variant>``) when
    :func:`build_or_reuse_bundle` would reuse it as it is (nothing written), else None (it
    would build one). Only reads. Raises BundleError for a variant the run did not fine-tune
    (:func:`fine_tuned_variant_dir`). A bundle built before it listed the images its
    backbone's pretraining read is reusable here: in its run folder that is read from the run's
    records (:func:`drac_ssl.grading.training_images.pretraining_record`), and ``export RUN
    --variant NAME --images DIR --out CSV`` writes nothing into the run (a read-only one, a
    training holding its lock) to add it (review of the scorewarn2 merge, F1;
    :func:`reused_bundle_note` says so). ``unhashed_weights_ok``: a bundle whose only older
    record (:func:`older_bundle_records`) is its weights files' missing SHA-256 is reusable too
    (grading a folder: its weights are used unverified, as before digests were recorded, and
    :func:`weights_hash_note` says so; a read-only run folder still grades), while
    :func:`build_or_reuse_bundle` rebuilds it to record them (review of killtests6, F2)."""
    out, _, _, reusable = _reuse_check(Path(run_dir), variant, out,
                                       tolerated=(WEIGHTS_UNHASHED_RECORD,) if unhashed_weights_ok else ())
    return out if reusable else None


def pretraining_record_missing(run_dir: str | os.PathLike[str], variant: str,
                               out: str | os.PathLike[str] | None = None) -> bool:
    """Whether the bundle of ``variant`` in ``out`` (default ``run_dir/bundles/<variant>``)
    lacks the list of the images its backbone's pretraining read that a build now writes
    (:func:`_pretraining_record_current` False): what makes :func:`build_or_reuse_bundle`
    rebuild a bundle :func:`reusable_bundle` would reuse. False with no bundle there. Only reads."""
    out = Path(out) if out is not None else Path(run_dir) / "bundles" / variant
    meta = read_json_dict(out / "metadata.json")
    return meta is not None and not _pretraining_record_current(Path(run_dir), variant, meta)


def _reuse_check(run_dir: Path, variant: str, out: str | os.PathLike[str] | None,
                 tolerated: Sequence[str] = ()) -> tuple[Path, str, dict[str, Any], bool]:
    """The bundle folder, the fine-tuning outputs' digest (:func:`finetune_outputs_digest`),
    the ``metadata.json`` of the bundle there ({} when there is none or it cannot be read) and
    whether the bundle was built from them (of this format and variant, whole, its weights
    intact: :func:`_bundle_weights_intact`, no :func:`older_bundle_records` but those in
    ``tolerated``). Whether it lists the images its backbone's pretraining read is
    :func:`pretraining_record_missing`'s, apart."""
    vdir = fine_tuned_variant_dir(run_dir, variant)
    out = Path(out) if out is not None else run_dir / "bundles" / variant
    try:
        meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    digest = finetune_outputs_digest(run_dir, variant)  # hashed once: compared, else recorded
    reusable = (isinstance(meta, dict) and meta.get("format") == BUNDLE_FORMAT and meta.get("variant") == variant
                and (out / "MODEL_CARD.md").is_file()
                and (meta.get("built_from") or {}).get("sha256") == digest
                and all((out / w).is_file() for f in meta.get("folds") or [] for w in f.get("weights") or [])
                and _bundle_weights_intact(out, vdir, meta)
                and not [r for r in older_bundle_records(meta) if r not in tolerated])
    return out, digest, meta if isinstance(meta, dict) else {}, bool(reusable)


def older_bundle_records(meta: dict[str, Any], oof_calibration_known: bool = False) -> list[str]:
    """What a bundle's ``metadata.json`` (``meta``) lacks or says otherwise than a build now
    writes, in words (``[]``: nothing): ``input_profile.sha256`` (a profile recorded without it),
    the weights files' ``sha256`` (:func:`weights_hash_note`), ``model_card.sha256``,
    ``provenance.run_folder``, or a ``submission.P`` whose words disagree with
    :func:`calibration_failed` (a failed calibration called calibrated); with
    ``oof_calibration_known`` (the export has the run's out-of-fold Brier score and ECE to
    record: :func:`build_or_reuse_bundle`'s ``oof_calibration`` not None), no
    :data:`OOF_CALIBRATION_KEY` too ("no oof_calibration"), or one without
    ``ece_if_calibrated_p95`` (recorded with the ECE's bootstrap CI, before the stats audit's
    F1). Such a bundle is not reused by
    :func:`build_or_reuse_bundle` (the upgrade's rebuild command reused it unchanged before): it
    is rebuilt, ``"rebuilt: older records (...)"`` said."""
    lacking = []
    if oof_calibration_known and not isinstance(meta.get(OOF_CALIBRATION_KEY), dict):
        lacking.append(f"no {OOF_CALIBRATION_KEY}")
    elif oof_calibration_known and "ece_if_calibrated_p95" not in meta[OOF_CALIBRATION_KEY]:
        lacking.append(f"{OOF_CALIBRATION_KEY} without the ECE of a perfectly calibrated model")
    if _profile_recorded_unhashed(meta):
        lacking.append("no input_profile.sha256")
    if _weights_unhashed(meta):
        lacking.append(WEIGHTS_UNHASHED_RECORD)
    if not _recorded_file(meta, "model_card")[1]:
        lacking.append("no model_card.sha256")
    if _recorded_run_folder(meta) is None:
        lacking.append("no provenance.run_folder")
    words = (meta.get("submission") or {}).get("P") if isinstance(meta.get("submission"), dict) else None
    if words != (SUBMISSION_P_UNCALIBRATED if calibration_failed(meta) else SUBMISSION_P_CALIBRATED):
        lacking.append("submission.P's words disagree with its calibration")
    return lacking


def _pretraining_record_current(run_dir: Path, variant: str, meta: dict[str, Any]) -> bool:
    """Whether a bundle's ``meta`` holds this version's record of the images its backbone's
    pretraining read (per split, :func:`drac_ssl.grading.training_images.is_current_pretraining_record`),
    or a build now would write none (``scratch``; :func:`pretraining_images_of` None: no stage
    record, no manifest: :func:`drac_ssl.grading.training_images.has_pretraining_records`,
    which builds no record and hashes no weights file): a bundle built before the list is rebuilt
    once by ``export RUN --variant NAME``, not reused for ever with ``--score`` unable to tell a
    transductive figure (review of the scorewarn merge, F5)."""
    return _needs_no_pretraining_list(variant, meta) or not has_pretraining_records(run_dir, variant)


def _needs_no_pretraining_list(variant: str, meta: dict[str, Any]) -> bool:
    """Whether a bundle of ``variant`` whose ``metadata.json`` is ``meta`` lacks no list of the
    images its backbone's pretraining read, whatever its run holds: the ``scratch`` variant
    (never pretrained), or this version's record (per split,
    :func:`drac_ssl.grading.training_images.is_current_pretraining_record`)."""
    return variant == "scratch" or is_current_pretraining_record(meta)


def _bundle_weights_intact(bundle_dir: Path, vdir: Path, meta: dict[str, Any]) -> bool:
    """Whether every weights file of the bundle in ``bundle_dir`` is the one it was built with:
    the same file as the fine-tuning's in ``vdir`` (the hard link :func:`build_bundle` makes:
    no reading), else of the SHA-256 ``meta`` records for it (else, a bundle that records
    none, the fine-tuning file's). A weights file replaced or damaged after the build (a copy
    cut short, another fold's) makes the bundle rebuilt rather than reused: reused, it was
    refused by :func:`verify_weight_hashes`, whose advice (``export RUN --variant NAME``)
    reused it again (review F2). A name that is not a bare file name, or a file that cannot be
    read, is False (rebuilt)."""
    for entry in meta.get("folds") or []:
        if not isinstance(entry, dict):
            return False
        recorded = entry.get("sha256") if isinstance(entry.get("sha256"), dict) else {}
        for name in entry.get("weights") or []:
            if weight_name_problem(name) is not None:
                return False
            mine, source = bundle_dir / name, vdir / name
            try:
                if source.is_file() and os.path.samefile(mine, source):
                    continue
                want = recorded.get(name) or (sha256_file(source) if source.is_file() else None)
                if not isinstance(want, str) or not _sha256_matches(mine, want)[1]:
                    return False
            except OSError:
                return False
    return True


def reused_bundle_note(run_dir: str | os.PathLike[str], bundle_dir: str | os.PathLike[str]) -> str:
    """The note on a reused bundle (:func:`build_or_reuse_bundle`) that lacks a fact the run
    records and bundles now carry, "" for one that does not: a bundle built before bundles
    recorded the labelled training images' bit depths (no ``data.train_bit_depths`` in its
    ``metadata.json``) from a run whose ingest records them (``data/ingest_summary.json``
    ``bit_depths``, :func:`_train_bit_depths`) is reused on every export, its fine-tuning
    outputs unchanged, so no graded file is compared with them and nothing says why (review of
    the bitdepth merge, F6). The note says so and how to rebuild it: delete the bundle folder
    and export again (it is rebuilt from the same fine-tuning outputs). Likewise a bundle
    :func:`reusable_bundle` reuses that was built before bundles listed the images its
    backbone's pretraining read (:func:`pretraining_record_missing`): in its run folder they are
    read from the run's records, but a copy of the bundle alone cannot tell a transductive
    score; the note says how to add the list (``export RUN --variant NAME`` without ``--images``,
    which writes into the run). The notes joined by ``"; "``. Only reads; a bundle or summary
    that cannot be read is no note."""
    notes = [note for note in (_bit_depth_note(run_dir, bundle_dir), _pretraining_list_note(run_dir, bundle_dir))
             if note]
    return "; ".join(notes)


def _pretraining_list_note(run_dir: str | os.PathLike[str], bundle_dir: str | os.PathLike[str]) -> str:
    """:func:`reused_bundle_note`'s words on a bundle without the list of the images its
    backbone's pretraining read; "" for one that has it or needs none."""
    meta = read_json_dict(Path(bundle_dir) / "metadata.json")
    variant = str((meta or {}).get("variant") or "")
    if meta is None or not pretraining_record_missing(run_dir, variant, bundle_dir):
        return ""
    return (f"{bundle_dir} was built before bundles listed the images its backbone's self-supervised "
            f"pretraining read: reused as it is (nothing is written into {run_dir}), the graded files are "
            f"checked against the run's own records of them instead; a copy of this bundle outside "
            f"the run cannot tell a transductive score: to have the list in it, run "
            f"{python_command('drac_ssl.export')} {shlex.quote(str(run_dir))} --variant {variant} "
            f"(without --images), which rebuilds it from the same fine-tuning outputs")


def _bit_depth_note(run_dir: str | os.PathLike[str], bundle_dir: str | os.PathLike[str]) -> str:
    """:func:`reused_bundle_note`'s words on a bundle without the training images' bit depths."""
    try:
        meta = json.loads((Path(bundle_dir) / "metadata.json").read_text(encoding="utf-8"))
        summary = json.loads((Path(run_dir) / "data" / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not (isinstance(meta, dict) and isinstance(summary, dict)):
        return ""
    data = meta.get("data")
    if isinstance(data, dict) and "train_bit_depths" in data or not _train_bit_depths(summary):
        return ""
    return (f"{bundle_dir} was built before bundles recorded the training images' bit depths, "
            f"which this run's ingest records: reused as it is, no file it grades is compared "
            f"with them (no \"{OTHER_DEPTH}\" warning, no line on the model card); to have them, "
            f"delete {bundle_dir} and export again (it is rebuilt from the same fine-tuning outputs)")


def channels_last_on(device: torch.device) -> bool:
    """Whether :func:`load_bundle` stores the weights channels-last on ``device`` by default:
    on the CPU, where oneDNN's NHWC convolutions take about a fifth less time for a ResNet-18 at
    224 px (22 % less for the 4 views of one image, idle medians in ``bench/results/app_speed.json``);
    elsewhere the layout is left as it is."""
    return device.type == "cpu"


def to_inference_layout(model: nn.Module, channels_last: bool) -> nn.Module:
    """``model`` with its 4-D weights channels-last (in place; returned for chaining) when
    ``channels_last``; the outputs are the same function of the inputs, computed by other
    convolution kernels (float32 rounding differences only)."""
    return model.to(memory_format=torch.channels_last) if channels_last else model


#: where a bundle loads (:func:`usable_device`): the CPU or an NVIDIA GPU (``cuda``), where
#: torch says the machine has it; :data:`drac_ssl.devices.DEVICE_TYPES`, the package's one
#: policy (``mps`` and ``xpu``, which torch knows, are refused: the package has never been run
#: on them)
BUNDLE_DEVICE_TYPES = DEVICE_TYPES

_DEVICE_FIX = "fix: use device='cpu', or 'cuda' / 'cuda:N' where torch.cuda.is_available()"


def usable_device(device: str | int | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` where a bundle can be loaded and graded on this
    machine; the check :func:`load_bundle` makes before it reads anything (torch's own error,
    met only when the first weights move, was ``RuntimeError: Found no NVIDIA driver on your
    system``, and a ``meta`` device loaded and then failed at the first grade).

    Accepted: ``"cpu"`` (an index, ``"cpu:1"``, is the same one CPU: returned as ``cpu``);
    ``"cuda"`` or ``"cuda:N"`` where ``torch.cuda.is_available()`` and N is below
    ``torch.cuda.device_count()``; a ``torch.device`` of these. An integer N is CUDA device N
    (torch's rule: ``0`` is ``"cuda:0"``, not the CPU), checked as ``"cuda:N"``. The same
    devices as :func:`drac_ssl.runtime.resolve_device` (``run.device``, the export's
    ``--device``) takes, said in the same words where the machine lacks CUDA
    (:func:`drac_ssl.devices.cuda_shortfall`).

    Raises:
        ValueError: not a device name torch reads (``"gpu"``), not a string, integer or
            ``torch.device`` (``True``, ``1.0``), a negative integer; a device type torch
            knows that a bundle does not run on (``"mps"`` and ``"xpu"``, on which this
            package has never been run; ``"meta"``, which holds no weights; ``"hpu"``,
            ``"xla"``, ``"vulkan"``, ...); ``cuda`` without a usable CUDA device (a CPU-only
            torch build, no driver: ``torch.cuda.is_available()`` is False) or with an index
            the machine lacks. The message names the device as given and the fix:
            ``device='cpu'``, or ``'cuda'`` where ``torch.cuda.is_available()``.
    """
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise ValueError(f"device={device!r} ({type(device).__name__}) is not a device: pass a name "
                         f"('cpu', 'cuda', 'cuda:1'), an integer N for CUDA device N, or a "
                         f"torch.device.\n  {_DEVICE_FIX}")
    if isinstance(device, int):  # torch.device(0) is cuda:0: said so, not a bare '0'
        said = f"device={device} (an integer N is CUDA device N: 'cuda:{device}')"
        if device < 0:
            raise ValueError(f"{said}: a device number is 0 or more.\n  {_DEVICE_FIX}")
    else:
        said = f"device={str(device)!r}"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device={device!r} is not a device torch knows ({exc}).\n  {_DEVICE_FIX}") from None
    if dev.type == "cpu":
        return torch.device("cpu")  # one CPU: "cpu:1" is the same device, and compares equal as "cpu"
    if dev.type not in BUNDLE_DEVICE_TYPES:
        why = {"meta": " (a 'meta' tensor holds no values: nothing could be graded)",
               "mps": " (this package has never been run on an Apple GPU)",
               "xpu": " (this package has never been run on an Intel GPU)"}.get(dev.type, "")
        raise ValueError(f"{said}: a bundle loads on the CPU ('cpu') or an NVIDIA GPU ('cuda', "
                         f"'cuda:N'), not on {dev.type!r}{why}.\n  {_DEVICE_FIX}")
    if short := cuda_shortfall(dev.index):
        problem, no_cuda = short
        raise ValueError(f"{said}, but {problem}.\n  fix: " + (
            "use device='cpu', or check torch.cuda.is_available() first (a GPU machine needs its "
            "NVIDIA driver and a CUDA build of torch)" if no_cuda else "use device='cuda:0' (or 'cpu')"))
    return dev


def load_bundle(path: str | os.PathLike[str], device: str | int | torch.device = "cpu",
                channels_last: bool | None = None) -> Bundle:
    """Load a bundle folder (or a run folder holding ``bundle/``) onto ``device``.

    ``path``: ``RUN/bundle`` (what the export stage writes: ``metadata.json``, the fold
    models' safetensors, the model card) or the run folder ``RUN``. ``device``: where the
    models run (``"cpu"``, ``"cuda"``, ``"cuda:1"``; an integer N is
    ``"cuda:N"``), checked first (:func:`usable_device`: a device this machine lacks, or one
    a bundle does not run on, is said before anything is read).
    ``channels_last``: store the convolution weights channels-last (None: on the CPU only,
    :func:`channels_last_on`).

    Returns:
        :class:`Bundle`: the fold models in eval mode on ``device`` (one shared backbone
        module when the folds' backbones are identical), the ``metadata``, the
        ``calibration`` (temperature, thresholds, the class decision), the input ``spec``
        (channels, size, normalisation), ``grade_names`` and the out-of-distribution
        ``input_profile`` (None when the bundle has none). Pass it to
        :func:`drac_ssl.grading.predict.grade_images` / ``predict_images``.

    Raises:
        BundleError: (a ValueError) no bundle at ``path``, an unreadable or missing
            ``metadata.json``, one that is not a JSON object, a bundle of another format
            (rebuild it as the fix says, :func:`drac_ssl.run_state.rebuild_call`), a
            ``metadata.json`` without its
            ``model``, ``calibration`` or ``folds`` entry (or one of another JSON type; a
            ``calibration`` without ``output``, ``temperature`` or ``thresholds``, or with
            one that is not a number), a head this version does not know (a bundle from a
            newer drac_ssl: upgrade), grade names, thresholds and model outputs that
            disagree, a weight file name that is not a bare file name in the bundle folder
            (absolute, a path separator or ``..``: nothing is opened), a weight file the
            metadata lists that is missing (checked before any is loaded: the bundle is
            incomplete), a weight file whose SHA-256 is not the one ``metadata.json`` records
            (:func:`verify_weight_hashes`: changed, swapped or damaged since the build; every
            such file is named, with both digests), a damaged (cut short, empty) weight file
            or weights that do not fit the metadata's model, an ``input.channels`` other than
            1 or 3, a weight file this account cannot read (no read permission, an I/O error:
            :func:`unreadable_bundle_file`, which says the ``chmod`` that fixes it), or an
            unreadable input profile, or one whose SHA-256 is not ``input_profile.sha256``
            (:func:`verify_profile_hash`; a bundle built before that digest loads unchecked,
            :func:`profile_hash_note`); each message names the file and says the fix.
        drac_ssl.torch_pair.TorchPairError: (an ImportError) the installed torch and
            torchvision are no matching pair, or torchvision is missing: the versions and the
            ``pip install`` that fixes it (:func:`drac_ssl.torch_pair.require_torch_pair`),
            before anything is read.
        FileNotFoundError: a weight file that was there when the bundle was checked and is gone
            when it is loaded (removed meanwhile), re-raised as it is.
        ValueError: ``device`` is not one this machine has (``"cuda"`` without a usable CUDA
            device, an index it lacks, a name torch does not read) or not one a bundle runs on
            (``"mps"``, ``"xpu"``, ``"meta"``, ...): :func:`usable_device`'s
            words, which name the device and the fix (``device='cpu'``, or check
            ``torch.cuda.is_available()``).

    Integrity: every weights file is hashed (SHA-256, each file once) and compared with the
    digest ``metadata.json`` records for it (the fine-tuning's ``model.json`` records them and
    the bundle copies them), before any is loaded. That reads each file once more: about
    0.1 s per 45 MB ResNet-18 backbone (:func:`drac_ssl.io.sha256_file`), so a 5-fold bundle
    with one shared backbone pays about 0.1 s, one with a backbone per fold
    (``finetune.freeze: last`` / ``all``) about 0.5 s. A bundle that records no digests (built
    before they were recorded, or the demo bundle) loads as before, unchecked.
    """
    # a notebook's mismatched torchvision: said with its fix, not "torchvision::nms does not exist"
    require_torch_pair()
    dev = usable_device(device)  # before anything is read: torch's own error came mid-load
    bundle_dir = bundle_folder(path)
    meta, meta_sha256 = _read_json_and_sha256(bundle_dir / "metadata.json", "the bundle metadata",
                                              fix=rebuild_advice(bundle_dir))
    if meta.get("format") != BUNDLE_FORMAT:  # newer: upgrade; older or unknown: rebuild
        from drac_ssl.grading.bundle_folder import newer_format_words
        raise BundleError(newer_format_words(bundle_dir, meta.get("format"), meta.get("package_version"),
                                             BUNDLE_FORMAT, __version__) or (
            f"{bundle_dir}: format {meta.get('format')!r}, expected {BUNDLE_FORMAT!r}.\n  fix: "
            f"rebuild it with this version of drac_ssl from the run folder that made it: {rebuild_call()}"))
    _check_metadata_entries(bundle_dir, meta)
    _check_input_sizes(bundle_dir, meta)  # before any model is built or image resized to them
    head = meta["model"].get("head")
    if head not in HEADS:  # a bundle from a newer drac_ssl: not the user's training setting
        made_by = meta.get("package_version")
        raise BundleError(
            f"{bundle_dir / 'metadata.json'}: the bundle's model has a {head!r} head, which this "
            f"drac_ssl version ({__version__}) does not have (it knows {', '.join(HEADS)}); the "
            f"bundle was probably made by a newer drac_ssl"
            f"{f' ({made_by})' if made_by and made_by != __version__ else ''}.\n  fix: upgrade "
            f"drac_ssl to the version that made the bundle, or re-export the bundle from a run "
            f"fine-tuned with one of the known heads")
    try:
        calibration = Calibration.from_dict(meta["calibration"])
    except (TypeError, ValueError) as exc:  # a temperature or threshold that is not a number
        raise BundleError(f"{bundle_dir / 'metadata.json'}: the bundle metadata's 'calibration' does "
                          f"not read ({exc}).\n  fix: {rebuild_advice(bundle_dir)}") from None
    names = grade_names_of(meta)
    outputs = int(meta["model"].get("num_grades", len(names)))
    if not len(names) == calibration.num_grades == outputs:
        raise BundleError(f"{bundle_dir}: {len(names)} grade names, {calibration.num_grades - 1} "
                          f"thresholds and a {outputs}-grade model disagree.\n  fix: "
                          f"{rebuild_advice(bundle_dir)}")
    _check_weight_names(bundle_dir, meta)  # before any path is made of them
    gone = [f"{bundle_dir / name} (fold {entry.get('fold')})" for entry in meta["folds"]
            for name in entry.get("weights") or [] if not (bundle_dir / name).is_file()]
    if gone:
        raise BundleError(f"{bundle_dir}: the bundle is incomplete: the weight file(s) "
                          f"{', '.join(gone)} are missing.\n  fix: restore them, or "
                          f"{rebuild_advice(bundle_dir)}")
    verify_weight_hashes(bundle_dir, meta)
    try:
        models = [load_fold_model(meta, bundle_dir, entry) for entry in meta["folds"]]
    except WeightsFileError as exc:  # cut short or empty: the copy, not the run, is at fault
        raise BundleError(f"{exc}\n  or {rebuild_advice(bundle_dir)}") from None
    except ValueError as exc:  # weights that do not fit metadata.json's model
        raise BundleError(str(exc)) from None
    except FileNotFoundError:
        raise
    except OSError as exc:  # a bundle without recorded digests, read by an account without access
        raise unreadable_bundle_file(bundle_dir, exc.filename or bundle_dir, exc) from None
    if len(models) > 1 and backbones_identical(models):
        for model in models[1:]:  # one module (and one copy of the weights) for every fold
            model.backbone = models[0].backbone
    layout = channels_last_on(dev) if channels_last is None else bool(channels_last)
    models = [to_inference_layout(model.to(dev), layout) for model in models]
    profile = None
    if (meta.get("input_profile") or {}).get("file"):
        verify_profile_hash(bundle_dir, meta)  # as the weights: before it is read
        try:
            profile = with_trial_run(InputProfile.load(bundle_dir / meta["input_profile"]["file"]), meta)
        except ValueError as exc:
            raise BundleError(f"{exc}\n  fix: {rebuild_advice(bundle_dir)}") from None
    return Bundle(bundle_dir, meta, models, calibration, input_spec_of(meta), dev, layout, profile,
                  metadata_sha256=meta_sha256)


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
