"""The model card (``MODEL_CARD.md``) of a bundle and the words it shares with the export,
the reports and the app: data provenance, caveats, calibration and confidence-interval wording.

:func:`_model_card` writes the card from a bundle's ``metadata.json``; :func:`data_provenance`
records what the data was. :mod:`drac_ssl.grading.bundle` builds and loads the bundle and
re-exports these names (import them from either); this module imports nothing of it, so the
imports stay one way (bundle -> model_card).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from data_prep.labels import id_words
from data_prep.problems import CROP_NOT_APPLIED, crop_words
from drac_ssl import PRETRAIN_METHOD
from drac_ssl.challenge import drac_scale, leaderboard_words
from drac_ssl.config import STATED_DATA_SETTINGS, layout_name, stated_data, variant_keep  # noqa: F401 (re-exported)
from drac_ssl.figures import (
    AUC_TWO_GRADES,
    KAPPA_TWO_GRADES,
    KEEP_BEST_CAVEAT,
    chance_words,
    ece_with_reference,
    figure_text,
    finite_pair,
    format_ci,
    format_with_ci,
    kappa_name,
    recall_ci_cell,
)
from drac_ssl.grading.image_notes import (
    GREY_TRAINED_RULE,
    bit_depth_words,
    grey_trained,
    grey_trained_enough,
    grey_training_words,
    training_bit_depths,
)
from drac_ssl.grading.model import threshold_words
from drac_ssl.grading.predict import (
    input_spec_of,
    training_side_words,
)
from drac_ssl.io import read_json_dict
from drac_ssl.manifest import (
    MANIFEST_FILE,
    read_manifest,
    resampling_unit,
)
from drac_ssl.metrics import (
    REFERRAL_RULE,
    RESAMPLING_UNITS,
    TEMPERATURE_BOUNDS,
    counted_units,
    cut_text,
    grade_name_words,
    patient_screening_summary,
    referable_summary,
    referral_words,
    temperature_at_bound,
    two_grade_summary,
    wilson_interval,
)
from drac_ssl.runtime import last_component  # runtime loads no training code
from drac_ssl.scale import explain_grades, read_ingest_facts
from drac_ssl.trial_run import trial_run_words

GRADCAM_TARGET_LAYER = "backbone.layer4"
"""The layer whose Grad-CAM the app shows (``metadata["gradcam_target_layer"]``): the backbone's
last feature map (:data:`drac_ssl.grading.model.FEATURE_STAGE`), which every head reads (the
linear, MLP and regression heads its global average pool, the conv head the map itself), so one
layer serves every head, and the map the prediction's own forward pass already has, so the
heatmap of every fold costs one backward pass through the heads
(:class:`app.gradcam.FoldMapGradCAM`). For the conv head it is not the last convolutional layer
(``head.conv`` is); ``app/gradcam.py`` says what that changes."""

HEATMAP_CAVEAT = ("Not a lesion detector: the heatmap is a coarse attribution of one score "
                  "(Grad-CAM), not validated against lesion annotations.")
"""The standing caveat of the app's heatmap: on the page's heatmap line, in ``docs/app.md`` and in
the model card's limitations (with :data:`HEATMAP_BENCH_WORDS`)."""

HEATMAP_BENCH_WORDS = ("On a test model with a planted cue (a bright spot in one of the 7 x 7 "
                       "cells of synthetic grey images, a frozen random-init ResNet-18 with "
                       "trained fold heads; bench figures, `bench/results/heatmap_sanity.json`, "
                       "rerun with `python -m bench.heatmap_sanity`; they tell nothing about the "
                       "maps of the model this card describes), the map's peak (the 4 flipped views "
                       "averaged, as the grade averages them) was within one cell of the spot in 89 "
                       "of 96 images with the conv head (a randomly placed peak: 15 %, 361 of the "
                       "2401 cell pairs; a map stuck on one cell: at most 9 of 49) and on the spot's "
                       "own cell in 47 of 96 (the identity view alone, as with flips off: 81 and 21); "
                       "with the linear head it was within one cell in 40 of "
                       "96, its maps of different images correlated +0.77 with one another (an "
                       "image-independent spatial habit; +0.12 with the conv head), and "
                       "re-initialising that head left its maps much as they were (median rank "
                       "correlation +0.79 with the trained model's), failing that sanity check by the "
                       "bench's own rule (median |Spearman| < 0.5).")
"""What the heatmap bench found, for a bundle whose grade averages the 4 flipped views (flip TTA:
the model card of such a bundle and ``docs/app.md``; :data:`HEATMAP_BENCH_WORDS_ONE_VIEW` for
a bundle without, :func:`heatmap_bench_words`; the page says a shorter
version for a conv- or linear-head bundle, :func:`app.server.heatmap_page_caveat`): figures of
``bench/results/heatmap_sanity.json``, written by ``python -m bench.heatmap_sanity``
(``bench/heatmap_sanity.py`` says how; the map is the app's own, Grad-CAM of the folds' mean
logit at ``layer4`` over the grade's 4 flipped views, explaining the spot's grade). They are
figures of a test model on synthetic images with a random frozen backbone, and say nothing about
the maps of the bundle whose card quotes them. The chance baselines: a peak and a cue each in a
uniformly random cell of 7 x 7 lie within one cell (king's move) of each other in 361 of 2401
pairs, 15 %; a map whose peak sits on one inner cell whatever the image does so for 9 of 49
cues, 18 %, the worst case of a map that ignores the image; 89 of 96 differs from them at exact
binomial p of 2.2e-64 and 9.3e-57, the linear head's 40 of 96 at 3.0e-10 and 1.0e-7. The
randomisation check (the cascading randomisation of Adebayo et al. 2018, "Sanity Checks for
Saliency Maps") replaces the heads' weights, then the backbone's layers top-down; the bench's
own rule, not the paper's: a map passes a step when the median absolute Spearman correlation of
its signed cells with the trained model's is below 0.5 (an inverted map, a correlation near -1,
has kept its structure; the conv head's |rho| 0.49 after the heads, the linear head's 0.79).
``tests/app/test_heatmap_claims.py`` checks every figure quoted here against the committed JSON,
and that the words limiting them are said. These words replace a one-off trial's (its scripts
lost), which had found the peak about as often as chance would; the bench did not reproduce
that."""
HEATMAP_BENCH_WORDS_ONE_VIEW = ("On a test model with a planted cue (a bright spot in one of the 7 x 7 "
                                "cells of synthetic grey images, a frozen random-init ResNet-18 with "
                                "trained fold heads; bench figures, `bench/results/heatmap_sanity.json`, "
                                "rerun with `python -m bench.heatmap_sanity`; they tell nothing about the "
                                "maps of the model this card describes), the map's peak (the identity "
                                "view alone, as this model's grade uses no flips) was within one cell of "
                                "the spot in 81 of 96 images with the conv head (a randomly placed peak: "
                                "15 %, 361 of the 2401 cell pairs; a map stuck on one cell: at most 9 of "
                                "49) and on the spot's own cell in 21 of 96 (the 4 flipped views averaged, "
                                "as with flips on: 89 and 47); with the linear head it was within one cell "
                                "in 39 of 96, its maps of different images correlated +0.70 with one "
                                "another (an image-independent spatial habit; +0.11 with the conv head), "
                                "and re-initialising that head left its maps (the 4 views averaged: the "
                                "bench ran this check with flips on only) much as they were (median rank "
                                "correlation +0.79 with the trained model's), failing that sanity check by "
                                "the bench's own rule (median |Spearman| < 0.5).")
"""The bench's words for a bundle whose grade uses no flips (``metadata["tta"]["used_in_cv"]``
false, ``finetune.tta: false``), whose map is the identity view's alone (the app's default,
:attr:`app.predict.Predictor.map_flips`): :data:`HEATMAP_BENCH_WORDS` with the figures of the
bench's identity-view map (``heads.*.combinations.identity_view`` of
``bench/results/heatmap_sanity.json``: the conv head 81 and 21 of 96, the linear head 39; the
maps' mean pairwise correlation +0.11 and +0.70), the 4-view figures beside them, and the
randomisation check said to be the 4-view map's (the bench ran it on the app's default map
only). ``tests/app/test_heatmap_claims.py`` checks them against the committed JSON."""


def heatmap_bench_words(views: int) -> str:
    """The heatmap bench's words for a map of ``views`` views (:data:`HEATMAP_BENCH_WORDS` for the
    4 flipped views averaged, :data:`HEATMAP_BENCH_WORDS_ONE_VIEW` for the identity view alone).
    Raises ValueError for another count: the bench measured these two."""
    if views == 4:
        return HEATMAP_BENCH_WORDS
    if views == 1:
        return HEATMAP_BENCH_WORDS_ONE_VIEW
    raise ValueError(f"heatmap_bench_words: views must be 1 (the identity view) or 4 (the flip TTA's "
                     f"views), the counts the heatmap bench measured; got {views!r}")


def data_provenance(data_dir: str | os.PathLike[str],
                    grade_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Where the training images came from, from the ingest's ``ingest_summary.json``.

    ``kind`` is ``phantom`` (the package's procedural stand-ins: the data root holds the
    generator's ``phantom.json``, or every ingested image carried the phantom marker the
    generator writes into each PNG, ``ingest_summary.json``'s ``phantom_marked``),
    ``drac`` (the official DRAC layout of UW-OCTA images:
    whether they are the official data is the user's statement), the layout's name
    otherwise (``plain``, ``aptos``, ``eyepacs``, ``idrid``, ``deepdrid``, ``messidor2``, ``medmnist``; ``unknown`` when
    the summary names none), or ``unknown`` (no ingest summary). ``phantom_marked``: the images
    that carry the marker, absent when none does. Phantom or a mix is judged on the labelled
    training images, which the figures are measured on (``ingest_summary.json``'s
    ``phantom_marked_by_split``; an ingest made before it recorded the splits: every image of
    the manifest): ``phantom`` when every one of them is marked; ``phantom_mixed`` when some but
    not all of them are and there is no ``phantom.json`` (phantom PNGs copied among other
    images), ``{"marked": N, "images": M, "labelled": True}`` (M: the labelled images; without
    ``labelled``, from an older ingest, M is every image), absent otherwise: the kind stays the
    layout's, and every reader says the mix (:func:`mixed_phantom_words`), never clean real
    data. ``phantom_pretraining``: when phantoms lie among the test images or the
    ``data.unlabelled`` pool of a run that is not phantom, ``{"marked": N, "test": a,
    "unlabelled": b, "images": M}`` (M: those splits' images), absent otherwise: the figures are
    not on them, the self-supervised pretraining is, said apart
    (:func:`pretraining_phantom_words`). ``modality`` is what the
    images are (``octa`` or ``fundus``, :class:`drac_ssl.scale.IngestFacts`).
    ``train_per_grade`` is keyed by the grade names (``grade_names``, default: the ingest's).
    ``n_patients``: the distinct patients of the training images when the folds were grouped
    by patient (the manifest's ``patient`` column is filled: ``data.patient_column``,
    DeepDRiD's ``patient_id`` or EyePACS eye pairs), None when every image was its own unit. ``unused_patient_column``:
    then, a column of the label CSV that looks like a patient id (``ingest_summary.json``'s
    ``patients.unused_column``; None for an ingest made before it was recorded).
    ``referable_from`` (only when the ingest had ``data.referable_from`` > 0): the two grades
    were made of ICDR labels, ``ingest_summary.json``'s ``grades.referable_from`` (``from_grade``,
    ``source_scale``, ``source_column``, ``train_per_source_grade``, ``rule``;
    :func:`referable_labels_words` says it); ``export --score`` suggests its ``from_grade``
    (:func:`drac_ssl.scoring.model_labels_referable_from`).
    ``n_left_out_ungradable``: the label rows left out as ungradable with their images
    (``data.ungradable=leave_out``, ``ingest_summary.json``'s ``left_out_ungradable``; 0 when
    none was or the ingest did not record it). ``n_left_out_missing``: the label rows left
    out because their image was nowhere (``data.missing=leave_out``, ``left_out_missing``; 0
    likewise). ``ingest_warnings``: how many warnings the
    ingest gave (``findings_by_kind``'s ``warning:*``; its ``warnings`` lines for an ingest
    that did not count them by kind). ``crop_not_applied``: with ``data.fundus_crop``, the
    images the crop left uncropped per reason (:data:`CROP_NOT_APPLIED`'s words; only the
    reasons found, {} when every image was cropped or the crop was off;
    :func:`fundus_preprocessing_words`). ``folds_without_grade``: each grade (its number, a
    string) that some validation fold of the manifest holds no image of, and those folds
    ({} when every fold holds every grade); ``fold_gap_fix``: for the grades of as many
    patients (images) as folds among them, what fills every fold, in settings
    (:func:`data_prep.folds.fold_gaps`: a fold seed or fold count checked to work, more
    patients; or rerunning the ingest, when this version makes other folds of the same rows,
    or when its manifest lacks the ``fold_group`` its twin-grouped folds were split by:
    :data:`data_prep.folds.REDO_FOR_FOLD_GROUPS`, with ``fold_groups_missing: true``, absent
    otherwise); '' otherwise (:func:`fold_gap_words` says both). ``fold_unit``: with some fold
    without a grade, the unit its folds kept whole, a key of :data:`data_prep.folds.FOLD_UNITS`
    (``patient``, ``image group``: near twins kept together, or ``labelled image`` for folds
    not grouped), absent when every fold holds every grade. ``near_duplicates``: only when the ingest
    kept near twins in one fold (``data.near_duplicate_mse`` > 0), ``ingest_summary.json``'s
    record of it (the setting, ``n_images`` in ``n_groups`` groups, ``with_patients``), which
    :func:`fold_grouping_words` says; absent otherwise, so that a bundle's ``data`` without the
    option is what it was. ``near_duplicates_off``: ``true`` when the ingest recorded the check
    as off (``near_duplicates: null``, training images ingested); absent otherwise.
    ``train_origins``: only when the training images came from more
    than one official split (the manifest's ``origin`` column: MedMNIST's ``train`` and
    ``val``, pooled for the cross-validation), how many came from each, in the manifest's
    order (:func:`pooled_origins_words` says it); absent otherwise. ``train_bit_depths``: how
    the labelled training images became 8-bit, one entry per group converted alike
    (``ingest_summary.json``'s ``bit_depths``, :func:`_train_bit_depths`: ``file`` ``16-bit``,
    ``encoding``, ``bits_used``, ``n_train``), which grading compares each file with
    (:func:`drac_ssl.grading.image_notes.other_depth_warning`) and the model card says
    (:func:`drac_ssl.grading.image_notes.bit_depth_words`); absent for an ingest that did not
    record them: nothing is compared then, and nothing is said. ``train_image_sides``: the
    labelled training images' shorter sides as read (:func:`_image_sides`: ``n``, ``min``,
    ``p05``, ``median``, ``max``, px), which the warning of an image far smaller than the
    model's input compares with (:func:`drac_ssl.grading.predict.small_image_warning`: 28 px
    RetinaMNIST images trained at 64 px are not too small for their own model); absent for a
    manifest without them. ``train_sites``: only when the ingest read a site column
    (``data.site_column``: the manifest's ``site`` column), the labelled images per site in
    site order, which the model card names (:func:`site_scope_words`); absent otherwise.
    ``site_folds``: with them, how the folds treated the sites (``ingest_summary.json``'s
    ``sites.folds``, a key of :data:`data_prep.folds.SITE_FOLDS`); absent for an ingest that
    did not record it.
    """
    from data_prep.folds import fold_row
    from data_prep.phantom import MANIFEST_NAME as PHANTOM_MARKER

    summary_path = Path(data_dir) / "ingest_summary.json"
    summary = read_json_dict(summary_path)  # a file holding a list, not an object: unreadable too
    if summary is None:
        return {"kind": "unknown", "note": f"no readable ingest summary at {summary_path}"}
    root = summary.get("root") or ""
    marked = summary.get("phantom_marked")  # absent in an ingest made before it was recorded
    marked = marked if isinstance(marked, int) and not isinstance(marked, bool) and marked > 0 else 0
    listed = bool(root) and (Path(root) / PHANTOM_MARKER).is_file()  # the phantom set's own folder
    facts = read_ingest_facts(data_dir)
    names = list(grade_names) if grade_names is not None else list(facts.grade_names)
    n_train = n_test = n_unlabelled = 0
    per_grade = dict.fromkeys(range(len(names)), 0)
    patients: set[str] = set()  # training images' patients (an image without one: its own)
    grouped = False
    try:  # counts from the manifest itself, the list the later stages really used
        rows = read_manifest(Path(data_dir) / MANIFEST_FILE, ("id", "grade", "split"))
    except FileNotFoundError:
        rows = []
    origins: dict[str, int] = {}  # the training rows' official splits (the ingest's origin column)
    sites: dict[str, int] = {}  # the training rows' sites (data.site_column: the manifest's site column)
    sides: list[int] = []  # the labelled training images' shorter sides as read (px), where recorded
    fold_rows: list[tuple[int, int, str, str]] = []  # (grade, fold, patient, id) of the training rows
    fold_groups: list[str] = []  # their fold_group (data.near_duplicate_mse > 0; '' otherwise)
    fold_sites: list[str] = []  # their site (data.site_column; '' otherwise), as the folds split them
    for row in rows:
        if row["split"] == "train" and row["grade"] is not None and str(row.get("fold", "")).isdigit():
            fold_rows.append(fold_row(row))
            fold_groups.append((row.get("fold_group") or "").strip())
            fold_sites.append((row.get("site") or "").strip())
        if row["split"] == "test":
            n_test += 1
        elif row["split"] == "unlabelled":  # data.unlabelled: pretraining only
            n_unlabelled += 1
        elif row["split"] == "train":
            n_train += 1
            origin = (row.get("origin") or "").strip()  # absent in a manifest made before it
            if origin:
                origins[origin] = origins.get(origin, 0) + 1
            site = (row.get("site") or "").strip()  # absent without data.site_column
            if site:
                sites[site] = sites.get(site, 0) + 1
            patient = (row.get("patient") or "").strip()  # optional: older ingests lack it
            grouped = grouped or bool(patient)
            width, height = (str(row.get(c) or "").strip() for c in ("orig_width", "orig_height"))
            if width.isdigit() and height.isdigit() and row["grade"] is not None and row["grade"] >= 0:
                sides.append(min(int(width), int(height)))  # the labelled images', as _image_sides says
            patients.add(resampling_unit(patient, row["id"]))
            if row["grade"] is not None and row["grade"] >= 0:
                per_grade[row["grade"]] = per_grade.get(row["grade"], 0) + 1
    by_kind = summary.get("findings_by_kind")
    by_kind = {str(k): v for k, v in by_kind.items() if isinstance(v, int)} if isinstance(by_kind, dict) else {}
    warned = (sum(v for k, v in by_kind.items() if k.startswith("warning:")) if by_kind
              else len(summary.get("warnings") or []))
    skipped = {why: by_kind.get(f"warning:{kind}", 0) for kind, why in CROP_NOT_APPLIED.items()
               } if facts.preprocessing.get("fundus_crop") else {}
    gaps = _fold_gaps(fold_rows, summary, names, fold_groups, fold_sites)
    site_facts = summary.get("sites") if isinstance(summary.get("sites"), dict) else {}
    site_folds = str(site_facts.get("folds") or "")
    layout = summary.get("layout")
    twins = summary.get("near_duplicates")
    # judged on the labelled images, which the figures are measured on (the ingest's count per
    # split; an ingest made before it: every image): every one marked (or the set's
    # phantom.json): a phantom run; some: a mix, said as such in the layout's own kind (an APTOS
    # run with one copied phantom stays APTOS); none, the phantoms among the test images or the
    # unlabelled pool only: real figures, a pretraining that saw phantoms, said apart
    n_images = n_train + n_test + n_unlabelled
    by_split = _phantom_by_split(summary.get("phantom_marked_by_split")) if marked else None
    pretraining = None
    if by_split is None:
        phantom = listed or marked >= max(n_images, 1)
        mixed = {"marked": marked, "images": n_images} if marked and not phantom else None
    else:
        on_labelled = by_split["train"]
        phantom = listed or (on_labelled >= n_train if n_train else marked >= max(n_images, 1))
        mixed = ({"marked": on_labelled, "images": n_train, "labelled": True}
                 if on_labelled and not phantom else None)
        elsewhere = by_split["test"] + by_split["unlabelled"]
        if elsewhere and not phantom:
            pretraining = {"marked": elsewhere, "test": by_split["test"],
                           "unlabelled": by_split["unlabelled"], "images": n_test + n_unlabelled}
    # drac: the official layout (whether it holds the official data is the user's statement)
    kind = "phantom" if phantom else ("drac" if facts.is_drac else str(layout or "unknown"))
    return {
        "kind": kind,
        "root": root,
        "layout": layout,
        "ingested_utc": summary.get("created_utc"),
        "n_train": n_train,
        "n_test": n_test,
        "n_unlabelled": n_unlabelled,
        "n_patients": len(patients) if grouped else None,
        # not grouped although the label CSV has a patient-looking column (the ingest's warning)
        "unused_patient_column": None if grouped else (
            (summary.get("patients") or {}).get("unused_column")
            if isinstance(summary.get("patients"), dict) else None),
        "n_left_out_ungradable": len(summary.get("left_out_ungradable") or []),
        # data.referable_from > 0: the two grades were made of ICDR labels (absent when off)
        **({"referable_from": mapped} if (mapped := _referable_from(summary)) else {}),
        "n_left_out_missing": len(summary.get("left_out_missing") or []),
        "train_per_grade": {names[k]: v for k, v in per_grade.items() if k < len(names)},
        "grades": names,
        "channels": facts.channels,
        # labelled training images that were grey pictures (None: an ingest that did not record it)
        "n_grey_train": _grey_train(summary),
        # the labelled training images' bit depths, how each group became 8-bit (absent: an
        # ingest that did not record them; grading then compares nothing)
        **({"train_bit_depths": depths} if (depths := _train_bit_depths(summary)) else {}),
        # the labelled training images' own sizes (absent: a manifest without them): an image
        # no smaller than they were is not warned as far smaller than the model's input
        **({"train_image_sides": _image_sides(sides)} if sides else {}),
        "modality": facts.modality,
        "preprocessing": facts.preprocessing,
        "ingest_warnings": warned,
        "crop_not_applied": {why: n for why, n in skipped.items() if n > 0},
        **gaps,
        **({"near_duplicates": twins} if isinstance(twins, dict) else {}),
        # the ingest recorded its near-duplicate check as off (near_duplicates: null): said, so
        # that no one reads silence as "none found" (absent: on, or an ingest that did not say)
        **({"near_duplicates_off": True} if "near_duplicates" in summary and twins is None and n_train else {}),
        # images with drac_ssl's phantom marker (all of them: a phantom run; some: a mix)
        **({"phantom_marked": marked} if marked else {}),
        **({"phantom_mixed": mixed} if mixed else {}),
        # phantoms among the test images / the unlabelled pool: in pretraining, not the figures
        **({"phantom_pretraining": pretraining} if pretraining else {}),
        # several official splits pooled into the training images (MedMNIST's train + val)
        **({"train_origins": origins} if len(origins) > 1 else {}),
        # data.site_column: the labelled images per site, in site order (absent without it)
        **({"train_sites": dict(sorted(sites.items()))} if sites else {}),
        # how the folds treated the sites (ingest_summary.json's sites.folds; absent before it)
        **({"site_folds": site_folds} if sites and site_folds else {}),
        "note": ("phantom UW-OCTA images drawn by data_prep.phantom: procedural stand-ins, NOT "
                 "patient data; metrics on them say nothing about real DR grading"
                 if phantom else "; ".join(x for x in (
                     mixed_phantom_words({"phantom_mixed": mixed, "layout": layout}),
                     pretraining_phantom_words({"phantom_pretraining": pretraining, "layout": layout})) if x)
                 if mixed or pretraining else
                 # the card names the data folder by its last component only (last_component),
                 # metadata.json's data.root whole: "the data root above" named none on the card
                 DATA_FOLDER_NOTE),
    }


DATA_FOLDER_NOTE = ("images ingested from the data folder named above (its whole path: metadata.json's "
                    "data.root); not recognised as the phantom set")
"""``metadata.json``'s ``data.note`` (and the model card's) for real images."""


NO_SUBGROUP_WORDS = "No subgroup analysis: no site column given (data.site_column)"
"""report.md's Data section and the model card, for a run whose ingest read no site column: the
figures are pooled, and nothing says how they differ by site, camera or population."""


def _no_subgroup_card(data: dict[str, Any]) -> str:
    """The model card's line :data:`NO_SUBGROUP_WORDS` for a bundle whose ``data`` records no
    ``train_sites`` (no ``data.site_column``); '' with sites (report.md gives their figures)."""
    return "" if data.get("train_sites") else f"\n- {NO_SUBGROUP_WORDS}."


def site_scope_words(sites: Any, folds: str = "sites") -> str:
    """What the model card's limitation says the model was cross-validated on when the ingest
    read a site column (``data.site_column``; ``sites``: :func:`data_provenance`'s
    ``train_sites``, labelled images per site): ``2 pooled sites, A (30 images) and B (120
    images), the folds stratified on grade x site (report.md gives the figures per site)``;
    '' when there are none (the card then says "this one data set"). ``folds``: how the folds
    treated the sites (:data:`data_prep.folds.SITE_FOLDS`' keys, :func:`data_provenance`'s
    ``site_folds``; an unknown one, or '' from an ingest before it was recorded, reads as
    ``sites``); ``whole`` (leave-one-site-out, the site as the patient column) adds that the
    CIs resample the few sites. A site name holding a comma or a quote is quoted."""
    from data_prep.folds import SITE_FOLDS

    if not isinstance(sites, dict) or not sites:
        return ""

    def name(site: Any) -> str:
        text = str(site)
        return '"' + text.replace('"', '\\"') + '"' if any(c in text for c in ',"()') else text

    named = [f"{name(site)} ({n} image{'s' if n != 1 else ''})" for site, n in sites.items()]
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    how = SITE_FOLDS.get(folds, SITE_FOLDS["sites"])
    ci = (", so its CIs resample the few sites and are not meaningful" if folds == "whole" else "")
    return (f"{len(named)} pooled site{'s' if len(named) != 1 else ''}, {listed}, {how}{ci} "
            f"(report.md gives the figures per site)")


def _referable_from(summary: dict[str, Any]) -> dict[str, Any] | None:
    """``ingest_summary.json``'s ``grades.referable_from`` (``data.referable_from`` > 0), or None
    when absent (off, or an ingest made before it) or malformed."""
    grades = summary.get("grades")
    mapped = grades.get("referable_from") if isinstance(grades, dict) else None
    n = mapped.get("from_grade") if isinstance(mapped, dict) else None
    return dict(mapped) if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None


def referable_labels_words(data: dict[str, Any]) -> str:
    """How the two grades were made of ICDR labels (``data``: :func:`data_provenance`'s, with
    ``referable_from``), for the model card and report.md: ``two grades made of the ICDR grades
    of the label column 'adjudicated_dr_grade' (data.referable_from=2): grade 1 (referable) = ICDR
    grade >= 2 (Moderate, Severe, PDR), grade 0 (non-referable) = ICDR grade < 2 (No DR, Mild);
    training images per ICDR grade: No DR 3, Mild 5, ...``; '' when it has none (labels trained
    as they were)."""
    mapped = data.get("referable_from")
    if not isinstance(mapped, dict) or not isinstance(mapped.get("from_grade"), int):
        return ""
    n = mapped["from_grade"]
    icdr = [str(x) for x in mapped.get("source_scale") or ()] or ["No DR", "Mild", "Moderate", "Severe", "PDR"]
    names = [str(x) for x in data.get("grades") or ("non-referable", "referable")]
    names = names if len(names) == 2 else ["non-referable", "referable"]
    per_grade = mapped.get("train_per_source_grade") if isinstance(mapped.get("train_per_source_grade"), dict) else {}
    counts = ("; training images per ICDR grade: "
              + ", ".join(f"{name} {per_grade.get(str(g), 0)}" for g, name in enumerate(icdr)) if per_grade else "")
    column = f" of the label column {mapped['source_column']!r}" if mapped.get("source_column") else ""
    return (f"two grades made of the ICDR grades{column} (data.referable_from={n}): grade 1 ({names[1]}) = "
            f"ICDR grade >= {n} ({', '.join(icdr[n:])}), grade 0 ({names[0]}) = ICDR grade < {n} "
            f"({', '.join(icdr[:n])}){counts}")


def _small_image_card_words(meta: dict[str, Any]) -> str:
    """The model card's line on which images are warned as too small
    (:func:`drac_ssl.grading.predict.small_image_warning`): below half the input size and, where
    the bundle records its training images' sides, below 0.9 x the side of 95 % of them (their
    median from fewer than 20)."""
    size = input_spec_of(meta).image_size
    trained = training_side_words(meta)
    own = (f" and below 90% of the {trained[0]} px side of {trained[1]}" if trained is not None else "")
    return (f"\n- An image whose shorter side is below half the {size} px input{own} is graded "
            f"with a warning that its grade is unreliable (enlarged from far less detail).")


def _image_sides(sides: Sequence[int]) -> dict[str, int]:
    """``data.train_image_sides`` of a bundle: the shorter sides (px, as the files were read,
    the manifest's ``orig_width`` / ``orig_height``) of its ``n`` labelled training images, their
    ``min``, ``p05`` (the 5th percentile, the lower one: the side at place ``floor(0.05 (n - 1))``
    of the sorted sides), ``median`` (the lower one) and ``max``.
    :func:`drac_ssl.grading.predict.small_image_warning` reads ``p05`` (``median`` from fewer
    than 20 images): an image at least 0.9 x that large is not warned as far smaller than the
    images the model learnt from."""
    ordered = sorted(int(v) for v in sides)
    n = len(ordered)
    return {"n": n, "min": ordered[0], "p05": ordered[int(0.05 * (n - 1))],
            "median": ordered[(n - 1) // 2], "max": ordered[-1]}


def _phantom_by_split(value: Any) -> dict[str, int] | None:
    """``ingest_summary.json``'s ``phantom_marked_by_split`` as ``{"train", "test",
    "unlabelled"}`` counts, or None where it is absent or malformed (an ingest made before it:
    the marked images are then judged against every image, as before)."""
    if not isinstance(value, dict):
        return None
    counts = {split: value.get(split, 0) for split in ("train", "test", "unlabelled")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        return None
    return counts


def mixed_phantom_words(data: dict[str, Any]) -> str:
    """``3 of 9 images are synthetic phantoms (drac_ssl's marker) mixed into APTOS data: the
    figures mix them`` for a run's data provenance (:func:`data_provenance`, a bundle's
    ``metadata.json`` ``data``) whose ``phantom_mixed`` says that some of its images, not all,
    carry the phantom marker; '' otherwise (no phantom, or a phantom run)."""
    mixed = data.get("phantom_mixed")
    if not isinstance(mixed, dict) or not mixed.get("marked"):
        return ""
    which = "labelled images" if mixed.get("labelled") else "images"
    return (f"{mixed['marked']} of {mixed.get('images')} {which} are synthetic phantoms (drac_ssl's "
            f"marker) mixed into {layout_name(data.get('layout'))} data: the figures mix them")


def pretraining_phantom_words(data: dict[str, Any]) -> str:
    """``2 test images and 3 unlabelled (data.unlabelled) images are synthetic phantoms
    (drac_ssl's marker), none of the labelled ones: the out-of-fold figures are measured on the
    APTOS images alone, but the self-supervised pretraining read the phantoms too ...`` for a
    run's data provenance (:func:`data_provenance`) whose ``phantom_pretraining`` says that
    phantom images lie among its test images or its unlabelled pool; '' otherwise."""
    pool = data.get("phantom_pretraining")
    if not isinstance(pool, dict) or not pool.get("marked"):
        return ""
    parts = [f"{pool['test']} test image{'s' * (pool['test'] != 1)}" if pool.get("test") else "",
             f"{pool['unlabelled']} unlabelled (data.unlabelled) image{'s' * (pool['unlabelled'] != 1)}"
             if pool.get("unlabelled") else ""]
    where = " and ".join(x for x in parts if x)
    verb = "is a synthetic phantom" if pool["marked"] == 1 else "are synthetic phantoms"
    return (f"{where} {verb} (drac_ssl's marker), none of the labelled images: the out-of-fold "
            f"figures are measured on the {layout_name(data.get('layout'))} images alone, but the "
            f"self-supervised pretraining read the phantoms too (the test images unless "
            f"pretrain.use_test_images=false)"
            + ("; the export grades the test ones, which are no patient's" if pool.get("test") else ""))


def bundle_pretraining_phantoms(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The phantoms that the self-supervised pretraining of a bundle's backbone read, from its
    ``metadata.json`` (``meta``): ``{"test": a, "unlabelled": b, "test_read": bool | None}``
    when ``data.phantom_pretraining`` (:func:`data_provenance`) says that phantom images lie
    among the run's test images or its ``data.unlabelled`` pool and the bundle's backbone came
    from that pretraining; ``a`` counts the test ones only where the pretraining read the test
    images (``test_read``: True when its recorded ``backbone_pretraining.training_data`` names
    them, False when it says they were left out, ``pretrain.use_test_images=false``; None when
    it records neither, a bundle built before the words: the test ones are counted, the
    default being to read them). None otherwise: no such phantoms, the ``scratch`` variant
    (a random backbone, never pretrained: its model learnt from the real labelled images
    alone), or a pretraining that read none of them (the test ones, left out)."""
    pool = (meta.get("data") or {}).get("phantom_pretraining")
    if not isinstance(pool, dict) or not pool.get("marked") or meta.get("variant") == "scratch":
        return None
    seen = str((meta.get("backbone_pretraining") or {}).get("training_data") or "")
    test_read = (True if "and test images" in seen else False if "test images left out" in seen
                 else None)  # pretrain.load_pretrain_data's words
    test = int(pool.get("test") or 0) if test_read is not False else 0
    unlabelled = int(pool.get("unlabelled") or 0)
    if not test and not unlabelled:
        return None
    return {"test": test, "unlabelled": unlabelled, "test_read": test_read}


def pretraining_phantom_caveat(meta: dict[str, Any], plural: bool = False, grade: str = "") -> str:
    """:func:`grade_caveats`' sentence on a bundle whose labelled images are real but whose
    backbone's self-supervised pretraining read synthetic phantoms too
    (:func:`bundle_pretraining_phantoms`): ``Pretrained on synthetic phantoms too: 3 unlabelled
    (data.unlabelled) images that its self-supervised pretraining read are synthetic phantoms
    (drac_ssl's marker), none of the labelled images it was fine-tuned and measured on: this
    grade comes from an encoder that learnt from phantoms as well as real images.``; '' when
    there are none (:func:`bundle_pretraining_phantoms` is None). Not the words of a phantom
    run (its grades say nothing about a real eye) nor of a mix (the figures mix them): the
    out-of-fold figures of this one are the real images'. ``plural``: "these grades";
    ``grade``: another subject of a plural verb (the app's banner: "its grades")."""
    read = bundle_pretraining_phantoms(meta)
    if read is None:
        return ""
    parts = [f"{read['test']} test image{'s' * (read['test'] != 1)}" if read["test"] else "",
             f"{read['unlabelled']} unlabelled (data.unlabelled) image{'s' * (read['unlabelled'] != 1)}"
             if read["unlabelled"] else ""]
    n = read["test"] + read["unlabelled"]
    hedge = (" (the test ones unless pretrain.use_test_images=false)"
             if read["test"] and read["test_read"] is None else "")
    grade, verb = (grade, "") if grade else ("these grades", "") if plural else ("this grade", "s")
    return (f"Pretrained on synthetic phantoms too: {' and '.join(x for x in parts if x)} that its "
            f"self-supervised pretraining read {'is a synthetic phantom' if n == 1 else 'are synthetic phantoms'} "
            f"(drac_ssl's marker){hedge}, none of the labelled images it was fine-tuned and measured "
            f"on: {grade} come{verb} from an encoder that learnt from phantoms as well as real images.")


def _grey_card_words(trained: tuple[int, int] | None) -> str:
    """The model card's words on grey inputs after "replicated ... with a warning": from
    ``trained`` (:func:`drac_ssl.grading.image_notes.grey_trained`), e.g. `` (the model saw 1
    grey image among 30 in training: a grey picture is marked not reliably gradable; a grey
    picture counts as ...)``."""
    seen = grey_training_words(trained)
    if trained is None:
        return f" ({seen})"
    verdict = ("graded with that warning" if grey_trained_enough(trained)
               else "marked not reliably gradable")
    return f" ({seen}: a grey picture is {verdict}; {GREY_TRAINED_RULE})"


def _grey_train(summary: dict[str, Any]) -> int | None:
    """``ingest_summary.json``'s ``channels.grey_train``: the labelled training images that were
    grey pictures; None for an ingest made before it was recorded."""
    channels = summary.get("channels")
    value = channels.get("grey_train") if isinstance(channels, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _train_bit_depths(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The labelled training images' bit depths from ``ingest_summary.json``'s ``bit_depths``
    (one entry per group of files converted to 8-bit alike, :func:`data_prep.ingest.file_depth`):
    ``[{"file": "16-bit", "encoding": "grey", "bits_used": 12, "n_train": 41}, ...]``, the
    groups holding training images, largest first as the ingest lists them; [] for an ingest
    made before it recorded them, or a malformed record."""
    groups = summary.get("bit_depths")
    out: list[dict[str, Any]] = []
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            return []
        n = group.get("n")
        n_train = n.get("train") if isinstance(n, dict) else None
        file, used = group.get("file"), group.get("bits_used")
        if not (isinstance(file, str) and isinstance(used, int) and not isinstance(used, bool)
                and isinstance(n_train, int) and not isinstance(n_train, bool)):
            return []
        if n_train > 0:
            out.append({"file": file, "encoding": str(group.get("encoding") or ""), "bits_used": used,
                        "n_train": n_train})
    return out


def pooled_origins_words(prov: dict[str, Any], n_folds: Any = None) -> str:
    """What pooled the training images when they came from several official splits
    (:func:`data_provenance`'s ``train_origins``), e.g. ``official train 1080 + val 120,
    pooled for the 5-fold cross-validation``; ``n_folds``: the folds (None or not a number:
    "the cross-validation"). '' when the images came from one split, or the manifest does not
    say (no ``origin`` column)."""
    origins = prov.get("train_origins")
    if not isinstance(origins, dict) or len(origins) < 2:
        return ""
    folds = f"{n_folds}-fold " if isinstance(n_folds, int) and not isinstance(n_folds, bool) else ""
    return ("official " + " + ".join(f"{name} {count}" for name, count in origins.items())
            + f", pooled for the {folds}cross-validation")


def _fold_gaps(rows: Sequence[tuple[int, int, str, str]], summary: dict[str, Any],
               names: Sequence[str], fold_groups: Sequence[str] | None = None,
               sites: Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`data_provenance`'s ``folds_without_grade`` and ``fold_gap_fix`` of the training
    rows (grade, fold, patient, image id) of a manifest, in its folds, with the ingest's
    ``data.fold_seed`` and patient grouping from ``summary`` (its ``config``; the defaults, seed
    0 and no patient column, for an older summary without them), or the units of the rows'
    ``fold_groups`` (the manifest's ``fold_group`` column: near twins kept together), split on
    the rows' ``sites`` (its ``site`` column) as the ingest did."""
    from data_prep.folds import (
        REDO_FOR_FOLD_GROUPS,
        manifest_fold_gaps,
        summary_fold_seed,
        summary_grouped,
        summary_twins_grouped,
    )
    from data_prep.problems import as_config_keys

    gaps = manifest_fold_gaps(rows, summary_fold_seed(summary), names, summary_grouped(summary),
                              fold_groups, summary_twins_grouped(summary), sites)
    fix = ""
    if gaps.units_unknown and gaps.without:  # its folds' units are not in the manifest
        fix = (f"{REDO_FOR_FOLD_GROUPS} in a new run folder (run.name=<a new name>, ingest in "
               f"run.stages); its fold notes then say what fills every fold")
    elif gaps.redo_helps:
        fix = ("rerun the ingest (ingest in run.stages of a new run folder, run.name=<a new name>): "
               "this version makes other folds of the same images")
    elif gaps.left_out:
        fix = f"in a new run folder (run.name=<a new name>, ingest in run.stages), {as_config_keys(gaps.fix)}"
    return {"folds_without_grade": {str(g): folds for g, folds in gaps.without.items()},
            "fold_gap_fix": fix, **({"fold_unit": gaps.unit} if gaps.without else {}),
            **({"fold_groups_missing": True} if gaps.units_unknown else {})}


def fold_gap_words(data: dict[str, Any]) -> str:
    """The report's and the model card's sentence on validation folds without some grade, from
    :func:`data_provenance` ``data`` (``folds_without_grade``, ``fold_gap_fix``): ``fold 0
    validates without any grade 1 (Mild) image, fold 1 without any grade 3 (Severe) image:
    those folds' AUCs cannot be computed (n/a in the per-fold table) ...``, then the fix; ''
    when every fold holds every grade, or ``data`` does not say (a bundle made before).

    Without a fix (each grade left out has fewer units than folds), why, in the words of the
    unit the folds kept whole (:func:`_fold_unit`): ``(a grade with fewer patients than folds
    cannot be in every fold)``, ``image groups`` or ``labelled images``; ``patients, image
    groups or images`` only where the unit is unknown: data recorded before ``fold_unit``
    (an older bundle's) whose folds kept near twins together with patients named (the units
    were patients or image groups, which only the manifest's ``fold_group`` tells), or that
    does not say ``n_patients``."""
    from data_prep.folds import FOLD_UNITS
    from data_prep.grades import grade_label

    without = data.get("folds_without_grade") or {}
    if not isinstance(without, dict) or not without:
        return ""
    names = list(data.get("grades") or [])
    per_fold: dict[int, list[str]] = {}
    for grade, folds in sorted(without.items(), key=lambda item: int(item[0])):
        for fold in folds:
            per_fold.setdefault(int(fold), []).append(grade_label(int(grade), names))
    said = ", ".join(f"fold {fold} {'validates ' if i == 0 else ''}without any {' or '.join(grades)} image"
                     for i, (fold, grades) in enumerate(sorted(per_fold.items())))
    one = len(per_fold) == 1
    whose = "its" if one else "those folds'"
    words = (f"{said}: {whose} AUCs cannot be computed (n/a in the "
             f"per-fold table: a fold's AUC needs an image of every grade) and "
             f"{'its' if one else 'their'} kappa leaves {'that grade' if len(without) == 1 else 'those grades'} "
             f"out; the pooled out-of-fold figures include every image")
    fix = data.get("fold_gap_fix")
    if fix:
        words += f". To put every grade in every fold: {fix}"
    else:
        unit = _fold_unit(data)
        units = f"{FOLD_UNITS[unit].noun}s" if unit else "patients, image groups or images"
        words += f" (a grade with fewer {units} than folds cannot be in every fold)"
    return words


def _fold_unit(data: dict[str, Any]) -> str:
    """The unit the folds of :func:`data_provenance` ``data`` kept whole, a key of
    :data:`data_prep.folds.FOLD_UNITS`: its ``fold_unit``, else (data recorded before it) what
    the rest implies: ``labelled image`` (no patients, no near twins kept together),
    ``patient`` (patients, no twins) or ``image group`` (twins, no patients); '' when unknown
    (twins kept together with patients named: the units are patients where no twins are of
    different patients, or a bundle made before ``n_patients``)."""
    from data_prep.folds import FOLD_UNITS, TWIN_UNIT

    unit = data.get("fold_unit")
    if isinstance(unit, str) and unit in FOLD_UNITS:
        return unit
    if "n_patients" not in data:
        return ""
    joined, _ = near_twin_words(data.get("near_duplicates"))
    patients = data["n_patients"] is not None
    if not joined:
        return "patient" if patients else "labelled image"
    return "" if patients else TWIN_UNIT


TWIN_GROUP_WORDS = "an image with its near twins and, where patients are named, their patients' images"
"""What an image group of ``ci_resamples: groups`` is (an ingest with ``data.near_duplicate_mse``
> 0, whose manifest's ``fold_group`` column names them: a unit the folds kept whole)."""

CI_UNIT_NOUNS = RESAMPLING_UNITS
"""The noun of one resampling unit for each ``ci_resamples`` value
(:func:`drac_ssl.oof.ci_resampling`): :data:`drac_ssl.metrics.RESAMPLING_UNITS`, the
table the bootstrap's own messages use."""


def ci_units_words(resamples: Any, units: Any, unit: str = "") -> str:
    """``15 patients``, ``14 image groups`` or ``30 images``: ``units`` of the ``ci_resamples``
    kind ``resamples`` (an unknown kind: images), for the console's ``resampling ...``; the
    noun alone, plural, when ``units`` is not an int. ``unit`` ``site`` (``ci_unit``: the
    patients are sites, leave-one-site-out): ``2 sites``."""
    noun = "site" if unit == "site" and resamples == "patients" else CI_UNIT_NOUNS.get(str(resamples), "image")
    if isinstance(units, int) and not isinstance(units, bool):
        return counted_units(units, noun)
    return f"{noun}s"


CI_HELD_FIXED = ("with the trained fold models and their cross-fitted calibration held fixed "
                 "(training randomness, such as another seed or fold split, is not in the interval, "
                 "nor is a choice made on these same rows: which variant is exported and, under "
                 "finetune.keep=best, each fold's epoch)")
"""What the bootstrap CIs of the out-of-fold figures do not resample (methods review, December
2026): one training's outputs are resampled; a rerun with another ``run.seed`` can move a figure
by as much as the interval's half-width (``python -m drac_ssl.compare`` puts such runs side by
side). Nor do they account for a choice made on the rows they score (selection-bias audit F5):
the exported variant, the winner of a comparison on them, and under ``finetune.keep=best`` each
fold's epoch. The one source of these words: the fine-tuning's protocol (report.md, the model
card, through :func:`drac_ssl.grading.bundle.ci_resampling_words`) and ``python -m drac_ssl.compare`` say them."""


PREPROCESSING_REFERENCES: dict[str, str] = {"fundus_crop": "B. Graham, Kaggle DR 2015",
                                            "graham": "B. Graham, Kaggle DR 2015"}
"""The source each fundus preprocessing step follows, keyed by its option
(:data:`drac_ssl.scale.DEFAULT_PREPROCESSING`; the modifiers ``graham_mask`` and
``graham_reflect_padding`` have none of their own): the model card cites the sources of the
steps that are on (:func:`preprocessing_references`), once each. A new step names its own
source here, ``""`` when it has none (``tests/drac_ssl/test_preprocessing_options.py``)."""


def preprocessing_references(preprocessing: dict[str, Any]) -> str:
    """The sources of the fundus steps on in ``preprocessing`` (a bundle's
    ``ingest_preprocessing``), in :data:`PREPROCESSING_REFERENCES`' order, each once, joined
    by ``; ``: ``B. Graham, Kaggle DR 2015``, or ``""`` when no step that is on has one."""
    cited = [ref for key, ref in PREPROCESSING_REFERENCES.items() if ref and preprocessing.get(key)]
    return "; ".join(dict.fromkeys(cited))


def fundus_preprocessing_words(preprocessing: dict[str, Any], data: dict[str, Any]) -> str:
    """The fundus preprocessing of the ingest, for the report and the model card: ``crop to
    the fundus disc, Graham's local-mean subtraction`` or ``none``; a crop that left images
    uncropped says so, from :func:`data_provenance` ``data``'s ``crop_not_applied``: ``crop
    to the fundus disc (requested; not applied to 30 of 30 images: no dark surround around
    the disc)``, each reason's count after it when there are two. ``preprocessing``: the
    ingest's options (:class:`drac_ssl.scale.IngestFacts`, a bundle's
    ``ingest_preprocessing``). The crop's words are the ingest summary's
    (:func:`data_prep.problems.crop_words`)."""
    total = sum(int(data.get(f"n_{split}") or 0) for split in ("train", "test", "unlabelled"))
    crop = crop_words(data.get("crop_not_applied") or {}, total)
    done = [name for name, on in ((crop, preprocessing.get("fundus_crop")),
                                  ("Graham's local-mean subtraction", preprocessing.get("graham")))
            if on]
    return ", ".join(done) if done else "none"


def left_out_words(n: int) -> str:
    """The report's and the model card's line on the label rows left out as ungradable
    (``data.ungradable=leave_out``; :func:`data_provenance`'s ``n_left_out_ungradable``)."""
    from data_prep.problems import counted

    one = n == 1
    return (f"{counted(n, 'row')} marked ungradable {'was' if one else 'were'} left out "
            f"(data.ungradable=leave_out), with {'its image' if one else 'their images'}; "
            f"ingest_summary.json lists {'it' if one else 'them'}")


def left_out_missing_words(n: int) -> str:
    """The report's and the model card's line on the label rows left out because their image
    was nowhere (``data.missing=leave_out``, a partial download; :func:`data_provenance`'s
    ``n_left_out_missing``)."""
    from data_prep.problems import counted

    one = n == 1
    return (f"{counted(n, 'label row')} whose image is missing {'was' if one else 'were'} left out "
            f"(data.missing=leave_out); ingest_summary.json lists {'it' if one else 'them'}")


def near_twin_words(twins: Any) -> tuple[bool, str]:
    """The near twins an ingest kept in one fold (``data.near_duplicate_mse`` > 0), from
    ``ingest_summary.json``'s ``near_duplicates`` (:func:`data_provenance`'s): ``(True, "8
    labelled images in 4 groups, each group in one fold (data.near_duplicate_mse=0.0001: a
    mean squared pixel difference below it, compared at 64 px)")`` (``each group, with its
    images' patients, in one fold`` when the folds were grouped by patient too), ``(False, "no
    near twins found below data.near_duplicate_mse=0.0001 (mean squared pixel difference,
    compared at 64 px)")`` when it found none, and ``(False, "")`` when the option was off (None) or the record is not a dict."""
    if not isinstance(twins, dict):
        return False, ""
    from data_prep.problems import counted

    mse, px = twins.get("near_duplicate_mse"), twins.get("compared_px")
    setting = (f"data.near_duplicate_mse={mse:g}" if isinstance(mse, int | float) and not isinstance(mse, bool)
               else "data.near_duplicate_mse")
    how = f"{setting}: a mean squared pixel difference below it" + (f", compared at {px} px" if px else "")
    n_images, n_groups = twins.get("n_images"), twins.get("n_groups")
    if not isinstance(n_groups, int) or not n_groups:
        return False, (f"no near twins found below {setting} (mean squared pixel difference"
                       + (f", compared at {px} px)" if px else ")"))
    joined = ", with its images' patients," if twins.get("with_patients") else ""
    images = counted(n_images, "labelled image") if isinstance(n_images, int) else "images"
    return True, f"{images} in {counted(n_groups, 'group')}, each group{joined} in one fold ({how})"


_IMAGES_NOT_GROUPS = ("not the groups the folds kept whole, so with near twins among the images they are "
                      "likely too narrow")
"""What CIs of images miss where the folds kept near twins together (:func:`fold_grouping_words`)."""


def groups_not_resampled_words(resamples: str) -> str:
    """What CIs that resample ``resamples`` (a ``ci_resamples``: ``patients`` or ``images``)
    miss in a run whose ingest kept near twins together before its manifest had the
    ``fold_group`` column (:func:`data_provenance`'s ``fold_groups_missing``), and how to
    resample the groups (:data:`data_prep.folds.REDO_FOR_FOLD_GROUPS`), to follow ``... CIs
    resample patients, `` or ``..., images, ``: ``not the image groups the folds kept whole,
    which the manifest does not name (...): where near twins are of different patients, ...;
    to resample the groups, redo the ingest ... and fine-tune again`` (patients: the groups
    are those patients only where no twins are of different patients, which such a manifest
    cannot tell), ``not the groups the folds kept whole, so with near twins among the images
    they are likely too narrow: to resample them, redo the ingest ... and fine-tune again``
    (images). The words of the report's and the model card's folds line
    (:func:`fold_grouping_words`) and of ``python -m drac_ssl.compare``'s note on such a run.

    Raises:
        ValueError: ``resamples`` is neither ``patients`` nor ``images`` (image groups are
            what such a run cannot resample)."""
    from data_prep.folds import REDO_FOR_FOLD_GROUPS

    if resamples == "patients":
        return ("not the image groups the folds kept whole, which the manifest does not name (made "
                "before its fold_group column): where near twins are of different patients, the folds "
                "kept those patients together and these CIs are likely too narrow; to resample the "
                f"groups, {REDO_FOR_FOLD_GROUPS} and fine-tune again")
    if resamples == "images":
        return f"{_IMAGES_NOT_GROUPS}: to resample them, {REDO_FOR_FOLD_GROUPS} and fine-tune again"
    raise ValueError(f"groups_not_resampled_words: resamples must be 'patients' or 'images', not {resamples!r}")


NEAR_DUPLICATES_OFF_WORDS = ("near copies across folds, or of a test image among the training images, "
                             "were not looked for (the ingest's near-duplicate check was off: "
                             "data.near_duplicate_mse=1e-4 turns it on)")
"""What the report and the card add to the folds' sentence when the ingest's near-duplicate
check was off (:data:`data_prep.ingest.NEAR_DUPLICATES_OFF`, the ingest's console line)."""


def stated_data_lines(stated: Any) -> list[str]:
    """One Markdown list item per :data:`STATED_DATA_SETTINGS`: ``- collection dates
    (data.collection_dates): 2019-03 to 2021-06``, ``not stated`` for one ``stated`` (a
    :func:`stated_data` dict) lacks. ``<``, ``>`` and ``&`` are escaped (:func:`html.escape`): the
    user's words are shown as typed, never as HTML a Markdown viewer renders (``<script>``)."""
    stated = stated_data(stated if isinstance(stated, dict) else {})  # one line each, even a hand-edited bundle's
    return [f"- {label} (data.{key}): {html.escape(stated.get(key) or 'not stated', quote=False)}"
            for key, label in STATED_DATA_SETTINGS]


def fold_grouping_words(data: dict[str, Any], cv: dict[str, Any] | None = None) -> str:
    """:func:`_fold_grouping_core`'s sentence, followed, when :func:`data_provenance` says the
    ingest's near-duplicate check was off (``near_duplicates_off``), by
    :data:`NEAR_DUPLICATES_OFF_WORDS` (a CLAIM review: "treated as independent (no patient
    column)" alone, while the ingest's console said near copies went unnoticed)."""
    words = _fold_grouping_core(data, cv)
    if words and data.get("near_duplicates_off") is True:
        words += f"; {NEAR_DUPLICATES_OFF_WORDS}"
    return words


def _fold_grouping_core(data: dict[str, Any], cv: dict[str, Any] | None = None) -> str:
    """One sentence on how the cross-validation folds were formed, for the report and the
    model card, from :func:`data_provenance` ``data``: grouped by patient (N patients for M
    images), the near twins kept together or none found (``data.near_duplicate_mse``, its
    ``near_duplicates``: :func:`near_twin_words`; nothing when it was off), and then what the bootstrap CIs resample, from ``cv`` (a
    ``metrics.json``, a bundle's ``cv_metrics`` or ``comparison.json``: ``ci_resamples`` /
    ``ci_units``, see :func:`drac_ssl.grading.bundle.ci_resampling_words`): patients, the image groups the folds kept
    whole (``groups``: near twins joined with patients), or, for a run that recorded none (made
    before patient-level CIs), images, not patients (so likely too narrow when a patient has
    several images); or the images treated as independent. An ingest that kept near twins
    together before its manifest had the ``fold_group`` column (``fold_groups_missing``) split
    its folds by image groups no run can resample: CIs of images, or of patients (the groups
    joined patients' images where twins were of different patients, which the manifest cannot
    tell), are said to be likely too narrow, with :data:`data_prep.folds.REDO_FOR_FOLD_GROUPS`
    (:func:`groups_not_resampled_words`).
    '' when ``data`` does not say (no manifest, or a bundle built before ``n_patients``)."""
    n_train = data.get("n_train")
    if "n_patients" not in data or not n_train:
        return ""
    from data_prep.problems import counted

    n_patients = data["n_patients"]
    unused = data.get("unused_patient_column")
    joined, twins = near_twin_words(data.get("near_duplicates"))  # joined: some twins kept together
    resamples = (cv or {}).get("ci_resamples")
    units = (cv or {}).get("ci_units")
    counted_units = isinstance(units, int) and not isinstance(units, bool)
    groups_ci = ""
    if resamples == "groups":
        groups_ci = ("; the bootstrap 95% CIs resample the image groups the folds kept whole ("
                     + (f"{counted(units, 'image group')}, " if counted_units else "")
                     + "each with all its images)")
    elif joined and resamples == "images":  # a fine-tuning made before the CIs resampled them
        groups_ci = ("; the bootstrap 95% CIs resample images, "  # with the redo for an ingest made before fold_group
                     + (groups_not_resampled_words("images") if data.get("fold_groups_missing")
                        else _IMAGES_NOT_GROUPS))
    but = f" but for near twins: {twins}" if joined else ""
    none = twins if not joined else ""
    if n_patients is None and unused:
        return (f"folds: the {counted(n_train, 'training image')} treated as independent"
                f"{f' ({none})' if none else but}, although "
                f"the label CSV's column {unused!r} looks like {id_words(str(unused))} (the ingest warned): if "
                f"it is, images of one patient may be in different folds, and every "
                f"cross-validated figure and CI here is likely optimistic; "
                f"data.patient_column={unused} groups them{groups_ci}")
    if n_patients is None:
        return (f"folds: the {counted(n_train, 'training image')} treated as independent (no "
                f"patient column{f'; {none}' if none else ''}){but}; images of one patient, if any, may "
                f"be in different folds{groups_ci}")
    unit = "site" if data.get("site_folds") == "whole" else "patient"  # leave-one-site-out
    words = (f"folds: grouped by {unit}{' (leave-one-site-out)' if unit == 'site' else ''}, "
             f"{counted(n_patients, unit)} for "
             f"{counted(n_train, 'training image')} (each {unit}'s images in one fold)"
             + (f"; near twins kept together: {twins}" if joined else f"; {none}" if none else ""))
    if groups_ci:
        words += groups_ci
    elif resamples == "patients":
        units = cv.get("ci_units") if cv else None
        count = (f" ({counted(units, unit)}, each with all its images)"
                 if isinstance(units, int) and not isinstance(units, bool) else " (each with all its images)")
        words += f"; the bootstrap 95% CIs resample {unit}s{count}"
        if joined and data.get("fold_groups_missing"):  # twins joined with patients, the groups unnamed
            words += f", {groups_not_resampled_words('patients')}"
    elif n_patients < n_train:
        words += ("; the bootstrap 95% CIs resample images, not patients, so with correlated "
                  "images of one patient they are likely too narrow")
    return words


def _protocol_for_people(cv: dict[str, Any]) -> str:
    """How the out-of-fold figures were made, for the model card: ``protocol_words`` (without
    the notes on metrics.json's own fields, such as ``qwk_ci95_note``), or, for a bundle made
    before it was stored, ``protocol`` cut where those notes begin."""
    words = cv.get("protocol_words")
    if not isinstance(words, str) or not words:
        words = str(cv.get("protocol") or "").split(" (decision_rules:", 1)[0]
        words = words.split("; qwk_in_sample_thresholds", 1)[0]
    words = words.rstrip(". ")
    return f"{words[:1].upper()}{words[1:]}" if words else "Protocol not recorded"


def referable_not_informative(metadata: dict[str, Any]) -> str:
    """Why a bundle's P(referable) (``P_r + ... + P_{K-1}``, :func:`drac_ssl.grading.bundle.referable_cut_of`) carries
    no information, in one sentence without its full stop; "" when it may carry some. The one
    rule of the app (which leaves the figure out, and says this in ``referable["reason"]``) and
    the export (whose ``_referable.csv`` then says it in a ``not_informative`` column).

    The rule judges the out-of-fold AUC of P(referable) on its own (its bootstrap 95% CI,
    ``cv_metrics.referable.auc_ci95``), whatever the grades' QWK says: a QWK above chance is
    agreement over all K grades, not evidence that this one summed probability separates
    referable images from the others, and a bundle with no ``qwk_ci95`` says nothing either way.

    - the CI lies above 0.5 (chance; lower end > 0.5): informative, "" (also for a model under
      the chance warning, :func:`chance_warning`: its probabilities rank referable images,
      though its grades do not agree);
    - the CI lies below 0.5 (upper end < 0.5): not informative, said as ranking referable images
      the wrong way round (as a referral score it points the wrong way);
    - the CI reaches 0.5, or is not recorded (a missing or non-finite bound, an AUC that is
      ``n/a``): not informative, "no evidence that this probability tells referable images
      apart", an unrecorded interval said as such, not as one that reaches 0.5.

    The sentence says one of three states of the grades: under the chance warning (it begins
    "This model gives no evidence of grading better than chance, ..."); better than chance
    (the lower end of ``qwk_ci95`` > 0: "although its grades agree better than chance"); or
    unknown (``qwk_ci95`` missing or non-finite: no claim about the grades). A bundle whose ``cv_metrics``
    records no referable figures at all (no ``referable`` mapping: it has no P(referable) to
    show, :func:`drac_ssl.grading.bundle.referable_cut_of` is None) gives ""."""
    cv = metadata.get("cv_metrics") or {}
    referable = cv.get("referable")
    if not isinstance(referable, dict):
        return ""  # no referable cut reported: no P(referable) to judge
    ci = finite_pair(referable.get("auc_ci95"))
    if ci is not None and ci[0] > 0.5:
        return ""
    auc = figure_text(referable.get("auc"))
    chance = bool(chance_warning(cv))
    qwk_ci = finite_pair(cv.get("qwk_ci95"))
    better = not chance and qwk_ci is not None and qwk_ci[0] > 0  # grades agree better than chance
    lead = ("This model gives no evidence of grading better than chance, and" if chance else
            "Although this model's grades agree better than chance," if better else "This model's")
    if ci is None:
        note = referable.get("auc_note")
        shown = f"{auc}: {note}" if auc == "n/a" and note else auc
        if chance:
            return (f"{lead} its out-of-fold AUC of P(referable) ({shown}) has no 95% CI "
                    f"recorded: nothing shows that this probability tells referable images apart")
        return (f"The out-of-fold AUC of this model's P(referable) ({shown}) has no 95% CI recorded: "
                f"there is no evidence that this probability tells referable images apart")
    if ci[1] < 0.5:  # below chance as a whole: it ranks, the wrong way round
        who = f"{lead} its" if chance or better else lead
        return (f"{who} P(referable) ranks referable images below the others: the 95% "
                f"CI of its out-of-fold AUC, {format_ci(*ci)} (AUC {auc}), lies below 0.5 "
                f"(chance), so as a referral score it points the wrong way")
    if chance:
        return ("This model gives no evidence of grading better than chance, nor of telling "
                f"referable images apart: the 95% CI of its out-of-fold AUC of P(referable), "
                f"{format_ci(*ci)} (AUC {auc}), does not lie above 0.5 (chance)")
    return (f"There is no evidence that this model's P(referable) tells referable images apart: "
            f"the 95% CI of its out-of-fold AUC, {format_ci(*ci)} (AUC {auc}), does not lie "
            f"above 0.5 (chance)" + (", although its grades agree better than chance" if better else ""))


def chance_warning(cv: dict[str, Any]) -> str | None:
    """A warning when out-of-fold metrics ``cv`` (a variant's ``metrics.json``, a bundle's
    ``cv_metrics``) give no evidence of grading better than chance: the lower end of the
    quadratic weighted kappa's bootstrap 95% CI is at or below 0 (QWK 0 = chance agreement).
    When the macro one-vs-rest AUC's CI (``auc_ovr_ci95``, runs since it was stored) lies
    above 0.5, the warning says that the probabilities do rank the images better than chance
    while the grades do not yet agree. None otherwise, or when there are no metrics (an
    untrained demo bundle). The words are :func:`drac_ssl.figures.chance_words`' (``python -m
    drac_ssl.export --score`` says them of a submission scored against held labels)."""
    return chance_words(cv)


def grade_caveats(meta: dict[str, Any], plural: bool = False) -> list[str]:
    """What a bundle's ``metadata.json`` says against reading its grades as a grading, one
    sentence each, in the words of the app's caveat (:func:`caveat_line`) and the export
    command's warnings: an untrained demo bundle (``demo``), one trained on phantom images
    (``data.kind`` ``phantom``) or on data with phantoms mixed in (``data.phantom_mixed``:
    :func:`mixed_phantom_words`), one whose labelled images are real but whose backbone's
    pretraining read phantoms (``data.phantom_pretraining``: :func:`pretraining_phantom_caveat`),
    a trial run (``trial_run``, :func:`drac_ssl.trial_run.trial_run_words`),
    an "unlike the training images" check that is weak for it (:func:`ood_check_caveat`);
    [] for none. ``plural``: of a batch's grades ("these grades"), else of one ("this grade")."""
    grade, verb = ("these grades", "") if plural else ("this grade", "s")
    said = []
    if meta.get("demo"):
        said.append(f"Untrained demo model: {grade} mean{verb} nothing.")
    elif (meta.get("data") or {}).get("kind") == "phantom":
        said.append(f"Trained on phantom images (procedural stand-ins, not patient data): {grade} "
                    f"say{verb} nothing about a real eye.")
    elif mixed := mixed_phantom_words(meta.get("data") or {}):
        said.append(f"Trained on data of which {mixed}: {grade} come{verb} from a model that "
                    f"learnt from synthetic images too.")
    elif pool := pretraining_phantom_caveat(meta, plural):  # labelled images real, the encoder's not
        said.append(pool)
    if trial_run_words(meta.get("trial_run")):
        said.append("From a trial run (its training was cut short): its grades check that the "
                    "pipeline runs, not how well it grades.")
    unreliable = ood_check_caveat(meta)
    if unreliable:
        said.append(unreliable)
    return said


SCOPE_WORDS = ("This model grades diabetic retinopathy (DR) severity only: it does not assess "
               "diabetic macular oedema or any other eye disease.")
"""What every trained bundle's model does not assess, said where the app states its caveats
(its banner) and in the model card's limitations; an untrained demo bundle says
:data:`DEMO_SCOPE_WORDS` instead (:func:`scope_words`)."""

DEMO_SCOPE_WORDS = ("This demo bundle grades nothing (its weights are random); the models the package "
                    "trains grade diabetic retinopathy (DR) severity only and do not assess diabetic "
                    "macular oedema or any other eye disease.")
"""The scope sentence of an untrained demo bundle (``metadata.json`` ``demo``): :data:`SCOPE_WORDS`
("This model grades DR severity only") would read as a claim about a bundle that is not a model
of the task (a review)."""


def scope_words(meta: dict[str, Any]) -> str:
    """:data:`DEMO_SCOPE_WORDS` for an untrained demo bundle (``meta["demo"]``), else
    :data:`SCOPE_WORDS`: the app's banner and the demo card say it."""
    return DEMO_SCOPE_WORDS if meta.get("demo") else SCOPE_WORDS

REFERABLE_SCOPE_WORDS = ("P(referable) here is from the DR grade alone; a clinical referral also "
                         "covers diabetic macular oedema, which this model does not assess.")
"""Said beside P(referable) on the page, and in the model card of a bundle that reports it."""


def caveat_line(meta: dict[str, Any], plural: bool = False) -> str:
    """The one line that goes with every result of a bundle (the app's
    :attr:`app.predict.Predictor.caveat`, and of a batch with ``plural``): its
    :func:`grade_caveats`, "Do not use this grade to diagnose or triage a patient." when neither
    a demo nor phantom data says more, and always "Research software, not a medical device."."""
    grade = "these grades" if plural else "this grade"
    lead = ([] if meta.get("demo") or (meta.get("data") or {}).get("kind") == "phantom" else
            [f"Do not use {grade} to diagnose or triage a patient."])
    return " ".join([*lead, *grade_caveats(meta, plural), "Research software, not a medical device."])


def task_description(grade_names: Sequence[str], channels: int, kind: str | None,
                     modality: str | None = None) -> str:
    """One line on what the model grades: DRAC 2022 Task 3 for grey 3-grade DRAC data, else
    the scale and the kind of image (``modality``: the ingest's ``octa`` or ``fundus``)."""
    if channels == 1 and list(grade_names) == ["Normal", "NPDR", "PDR"] and kind in (
            None, "drac", "phantom", "unknown"):
        return "DRAC 2022 Task 3: diabetic retinopathy grade of one UW-OCTA image"
    image = ("colour fundus photograph" if channels == 3 else "grey fundus photograph"
             if modality == "fundus" else "UW-OCTA image" if modality == "octa" else "grey retinal image")
    return f"diabetic retinopathy grade ({len(grade_names)} grades) of one {image}"




def grading_provenance_words(record: dict[str, Any]) -> str:
    """One line of :meth:`drac_ssl.grading.bundle.Bundle.grading_provenance`'s ``record`` for people (the app batch's
    notes CSV, first row): ``Graded by bundle metadata_sha256=...; variant=...;
    created_utc=... (drac_ssl 0.1.0, trained at commit da7b0341) with drac_ssl 0.1.0 at
    2026-12-07T02:30:00+00:00, 4 images.`` A value not recorded reads ``unknown``."""
    bundle = record.get("bundle") or {}
    ids = "; ".join(f"{key}={'unknown' if bundle.get(key) is None else bundle.get(key)}"
                    for key in ("metadata_sha256", "variant", "created_utc"))
    made = [f"drac_ssl {bundle.get('package_version') or 'unknown'}"]
    if bundle.get("trained_at_commit"):
        made.append(f"trained at commit {bundle['trained_at_commit']}")
    n = int(record.get("n_images") or 0)
    return (f"Graded by bundle {ids} ({', '.join(made)}) with drac_ssl "
            f"{(record.get('graded_by') or {}).get('package_version')} at {record.get('graded_utc')}, "
            f"{n} image{'' if n == 1 else 's'}.")


def calibration_failed(meta: dict[str, Any]) -> bool:
    """Whether the bundle's calibration failed: its fitted temperature
    (``meta["calibration"]["temperature"]``) sits at the edge of its search range
    (:func:`drac_ssl.metrics.temperature_at_bound`, :data:`drac_ssl.metrics.TEMPERATURE_BOUNDS`,
    the rule of report.md and the model card). The one rule behind :func:`calibration_warning`
    and :func:`probability_columns_words` (the export's console and ``--images`` output,
    report.md's Export section) and the model card's calibration line. False for a bundle
    without a calibration or with a temperature that is not a number."""
    return temperature_at_bound((meta.get("calibration") or {}).get("temperature"))


SUBMISSION_P_CALIBRATED = "calibrated ensemble probabilities"
"""``metadata.json``'s ``submission.P`` of a bundle whose calibration succeeded."""

CALIBRATION_FAILED_WORDS = "the calibration failed (its temperature is at the edge of its search range)"
"""What a failed calibration is (:func:`calibration_failed`), in the records' and report.md's
words: :data:`SUBMISSION_P_UNCALIBRATED` and report.md's out-of-fold calibration line
(:func:`drac_ssl.report._calibration_measure_lines`). The app's line for clinicians and
:func:`calibration_warning` say it in their own words (no temperature, or its value)."""
SUBMISSION_P_UNCALIBRATED = (f"ensemble probabilities, NOT calibrated: {CALIBRATION_FAILED_WORDS}; read the "
                             f"grade, not the probabilities")
"""``metadata.json``'s ``submission.P`` when the calibration failed (:func:`calibration_failed`);
a bundle whose stored words differ is rebuilt by ``export RUN --variant NAME``, so this text
stays as built."""


def calibration_warning(meta: dict[str, Any]) -> str | None:
    """A warning, in words a clinician reads, when the bundle's calibration failed
    (:func:`calibration_failed`); None otherwise. The plain meaning comes first, the numbers in
    brackets: at the top of the range (100) the percentages are likely to be nearly equal for
    every grade (a trial's tiny runs: about 0.333 each of 3 grades), at the bottom (0.01) close
    to 0 % or 100 %; in both they do not say how likely each grade is, while the grade, cut at
    thresholds fitted on these same outputs out of fold, is what the cross-validated figures
    measured, hence "Read the grade, not the percentages." When the bundle gives no evidence of
    grading better than chance too (:func:`chance_warning` of ``meta["cv_metrics"]``, said
    before it: "Do not read its grades or probabilities"), it ends "The percentages say
    nothing; see above about the grade." instead, so as not to tell the reader to read the
    grade. The app says it with every result and in its banner, the export command on its
    console and in ``export/summary.json``."""
    if not calibration_failed(meta):
        return None
    t = float(meta["calibration"]["temperature"])
    low, high = TEMPERATURE_BOUNDS
    top = t > (low * high) ** 0.5
    shown = ("likely to be nearly equal for every grade, and do not say how likely each grade is"
             if top else "likely to be close to 0 % or 100 %, overstating how sure the model is")
    read = ("The percentages say nothing; see above about the grade."
            if chance_warning(meta.get("cv_metrics") or {}) else "Read the grade, not the percentages.")
    return (f"Probabilities not calibrated: the percentages are {shown} (the model's calibration "
            f"failed: its temperature, {t:.3g}, is at the {'top' if top else 'bottom'} of the range "
            f"searched, {low:g}..{high:g}). {read}")


def probability_columns_words(meta: dict[str, Any]) -> str:
    """What the probability columns (``P0..P{K-1}``) of the bundle's outputs are, for the export
    command's console and ``--images`` output and report.md's Export section: "the calibrated
    probabilities of the grades", or, when the calibration failed (:func:`calibration_failed`),
    "the model's probabilities of the grades, NOT calibrated (the calibration failed: see the
    warning)"."""
    if calibration_failed(meta):
        return ("the model's probabilities of the grades, NOT calibrated (the calibration failed: "
                "see the warning)")
    return "the calibrated probabilities of the grades"


OOF_CALIBRATION_KEY = "oof_calibration"
"""``metadata.json``'s entry for the out-of-fold calibration figures report.md gives (the Brier
score and the ECE; :func:`oof_calibration_words`), passed in at the build by the export
(:func:`drac_ssl.grading.bundle.build_bundle`'s ``oof_calibration``: this package's grading modules do not import the
scoring module that computes them). Absent: a bundle built before it was recorded, or built
without them."""

OOF_CALIBRATION_NOT_RECORDED = (
    "Calibration, out of fold (Brier score, ECE): not recorded in this bundle (built before "
    "the export recorded them, or without them though its run has its out-of-fold "
    "predictions); the run's report.md gives them.")
"""The model card's calibration-figures line for a bundle without :data:`OOF_CALIBRATION_KEY`
whose run has its out-of-fold predictions (``oof.csv``): the figures exist, in report.md.
:data:`OOF_CALIBRATION_NONE` when it has none."""

OOF_CALIBRATION_NONE = (
    "Calibration, out of fold (Brier score, ECE): none, as the run has no out-of-fold "
    "predictions (its oof.csv) to compute them from.")
"""The model card's calibration-figures line for a bundle built from a run without the
variant's ``oof.csv`` (a demo run, an older fine-tuning): no figures exist to record or read
elsewhere, unlike :data:`OOF_CALIBRATION_NOT_RECORDED`."""


def oof_calibration_words(record: dict[str, Any], temperature: object = None) -> str:
    """The out-of-fold calibration line of report.md (:func:`drac_ssl.report._calibration_measure_lines`)
    and the model card, from ``record`` (:func:`drac_ssl.report.oof_calibration_record`:
    ``n_images``, ``resampled`` (``images``, ``patients`` ...: the Brier CI's bootstrap units),
    ``brier``, ``brier_ci95``, ``ece`` (unitless, 0..1 for the ECE, 0..2 for a multi-class
    Brier score), ``ece_if_calibrated`` and ``ece_if_calibrated_p95`` (the ECE a perfectly
    calibrated model with these probabilities would show: :func:`drac_ssl.figures.ece_with_reference`;
    a record made before says it has none, and its ``ece_ci95`` is not shown),
    ``reference_brier`` (the no-skill forecast's: every image given the
    grade frequencies) and ``words`` (what each measure is)). When the calibration
    ``temperature`` sits at its search bound (:func:`drac_ssl.metrics.temperature_at_bound`:
    the calibration failed) it says, in :data:`CALIBRATION_FAILED_WORDS`, that a low ECE there
    comes from near-flat probabilities, not from calibration. A figure not recorded reads as
    :func:`drac_ssl.figures.format_with_ci` writes a missing one."""
    brier = list(record.get("brier_ci95") or [None, None])[:2]
    flat = (f" {CALIBRATION_FAILED_WORDS[0].upper()}{CALIBRATION_FAILED_WORDS[1:]}: a low ECE here comes from "
            "near-flat probabilities, not from calibration." if temperature_at_bound(temperature) else "")
    return (f"Calibration, out of fold (oof.csv's cross-fitted probabilities, {record.get('n_images')} images; "
            f"Brier score's 95% CI: percentile bootstrap of the {record.get('resampled') or 'images'}): Brier score "
            f"{format_with_ci(record.get('brier'), *brier)} (a constant prediction of the grade "
            f"frequencies, which has no skill, scores {figure_text(record.get('reference_brier'))}: a model "
            f"scoring no lower shows none either), ECE "
            f"{ece_with_reference(record)} (lower is better for both).{flat} "
            f"{record.get('words')}.")


def _calibration_card_line(cal: dict[str, Any], oof: object = None, oof_csv: bool = True) -> str:
    """The model card's calibration limitation: calibrated on out-of-fold predictions only, or,
    when that calibration failed (:func:`calibration_failed`), that its probabilities are not
    calibrated, with :func:`_temperature_edge`'s words; then, on a line of its own, the
    out-of-fold Brier score and ECE (``oof``, ``metadata.json``'s :data:`OOF_CALIBRATION_KEY`:
    :func:`oof_calibration_words`, report.md's line), or, when the bundle has none (``oof``
    None or not a JSON object), :data:`OOF_CALIBRATION_NOT_RECORDED` (``oof_csv``: the run has
    the out-of-fold predictions they come from) or :data:`OOF_CALIBRATION_NONE` (it has none)."""
    figures = ("\n- " + (oof_calibration_words(oof, cal.get("temperature")) if isinstance(oof, dict)
                         else OOF_CALIBRATION_NOT_RECORDED if oof_csv else OOF_CALIBRATION_NONE))
    if calibration_failed({"calibration": cal}):
        return ("The probabilities are not calibrated: their calibration, fitted on out-of-fold "
                "predictions only, failed." + _temperature_edge(cal) + figures)
    return "The probabilities are calibrated on out-of-fold predictions only." + figures


def _temperature_edge(cal: dict[str, Any]) -> str:
    """The model card's words when the calibration's temperature sits at the edge of its search
    range (:func:`drac_ssl.metrics.fit_temperature`, 0.01..100), as report.md says them; ''
    otherwise."""
    t = cal.get("temperature")
    if not temperature_at_bound(t):
        return ""
    return (f"\n- The calibration's temperature ({t:.3g}) sits at the edge of its search range "
            "(0.01..100): the raw outputs could not be calibrated (often a model that has not "
            "learnt, or outputs far out of scale); its probabilities are close to one-hot or flat.")


def _tta_words(meta: dict[str, Any]) -> str:
    """How the model card says the test-time augmentation: the one the cross-validation used,
    which prediction applies unless told otherwise (:attr:`Bundle.tta_in_cv`)."""
    if bool((meta.get("tta") or {}).get("used_in_cv", True)):
        return ("with flip test-time augmentation (the mean over 4 flips), as the cross-validated "
                "figures were measured")
    return ("without test-time augmentation, as the cross-validated figures were measured "
            "(`--tta` adds flips they did not measure)")


def _sentence(text: Any) -> str:
    """``text`` as a sentence of the card: its first letter capitalised (the provenance note is
    written to follow a colon elsewhere), ending in a full stop; '' for none."""
    text = str(text or "").strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _unlabelled_words(data: dict[str, Any]) -> str:
    """', and N ungraded images (data.unlabelled, pretraining only)' for the model card; ''
    without any (or for a bundle made before they were counted)."""
    n = int(data.get("n_unlabelled") or 0)
    return f", and {n} ungraded images (data.unlabelled, for pretraining only)" if n else ""


def _scratch_words(meta: dict[str, Any]) -> str:
    """The model card's words for the ``scratch`` variant: not pretrained, and, with the backbone
    frozen, never trained at all (random features under a trained head: a trial read "scratch"
    as a network trained from scratch)."""
    if meta.get("freeze") == "frozen":
        return (" (not used: the backbone is randomly initialised and frozen, so only the head "
                "was trained, on random features)")
    return " (not used: the backbone starts from a random initialisation)"


def _transductive_words(meta: dict[str, Any]) -> str:
    """The model card's note that the pretraining the backbone comes from saw the test images
    (their pixels, never a grade), as report.md says it: when its recorded ``training_data``
    (:func:`drac_ssl.pretrain.load_pretrain_data`'s words) names them; '' otherwise, e.g.
    with ``pretrain.use_test_images=false``."""
    seen = str((meta.get("backbone_pretraining") or {}).get("training_data") or "")
    if "and test images" not in seen:
        return ""
    return (". **The test images graded in `submission.csv` were among them** (transductive: "
            "their pixels, never a grade; `pretrain.use_test_images=false` leaves them out)")


def heatmap_limits(meta: dict[str, Any]) -> str:
    """The model card's limitation on the app's heatmap: :data:`HEATMAP_CAVEAT`, what one map
    explains (Grad-CAM of the ensemble's mean output at the bundle's target layer, scaled to its
    own maximum), that a grade chosen by thresholds rests on another score than a grade's logit
    and one chosen by argmax on every grade's logit (``calibration.decision``; a regression
    head's thresholds cut the score its map explains), the views it averages (the grade's:
    ``metadata["tta"]["used_in_cv"]``, true for a bundle written before it was recorded), and the
    bench's figures of a map of those views (:func:`heatmap_bench_words`: the 4 flipped views
    averaged, or the identity view alone)."""
    layer = meta.get("gradcam_target_layer", GRADCAM_TARGET_LAYER)
    flips = bool((meta.get("tta") or {}).get("used_in_cv", True))  # Bundle.tta_in_cv
    regression = (meta.get("model") or {}).get("output") == "regression"
    decision = (meta.get("calibration") or {}).get("decision", "thresholds")
    # two grades and a referral cut (finetune.referral_target): the cut on P1 gives the grade
    cut = (meta.get("calibration") or {}).get("referral")
    cut_decides = isinstance(cut, dict) and len((meta.get("calibration") or {}).get("thresholds") or []) == 1
    score = ("the ensemble's mean regression output (the score its thresholds cut)" if regression
             else "the ensemble's mean raw logit of one grade")
    chosen = (" The grade shown is chosen by another score: P(grade 1), which weighs both grades' logits, "
              f"against the referral cut (finetune.referral_target={cut.get('target')})."
              if cut_decides and isinstance(cut, dict) and not regression else
              " The grade shown is chosen by another score: the expected grade cut at thresholds."
              if not regression and decision == "thresholds" else
              " The grade shown is the most probable one of the calibrated probabilities, which "
              "weigh every grade's logit: one grade's logit alone does not decide it."
              if not regression else "")
    views = ("the image and its 3 flips, each view's map flipped back onto the image and averaged "
             "before the ReLU; served without flips (the app's `--no-tta`), the image alone, whose "
             "bench figures the next sentence gives in brackets" if flips else
             "this model's grade uses no flips (`finetune.tta: false`), so the image alone; served with "
             "flips (the app's `--tta`), the image and its 3 flips, each view's map flipped back onto the "
             "image and averaged before the ReLU")
    return (f"{HEATMAP_CAVEAT} A map explains {score} (Grad-CAM at `{layer}`, over the folds and "
            f"over the same views as the grade: {views}), cell by cell of that layer, and is scaled to "
            f"its own maximum: its colours carry no absolute "
            f"strength.{chosen} {heatmap_bench_words(4 if flips else 1)}")


def winner_caveat(meta: dict[str, Any]) -> str:
    """The model card's sentence on a bundle whose variant won a comparison on the images its
    figures score (``metadata.json``'s ``comparison`` holds more than one variant and its
    ``selection`` was not asked for by name): "This variant was exported because its
    out-of-fold QWK was the highest ... on the same images: the figures of a winner chosen on
    them overstate, by an amount not measured here, how it grades new images." '' otherwise.
    The app's banner says it beside the figures too."""
    n_compared = len(meta.get("comparison") or [])
    if n_compared <= 1 or str(meta.get("selection", "")).startswith("asked for by name"):
        return ""
    # finetune.select_variant: QWK with the thresholds decision, accuracy with argmax
    argmax = (meta.get("calibration") or {}).get("decision", "thresholds") == "argmax"
    chosen_by = "accuracy" if argmax else kappa_name(len(meta.get("class_names") or ()), short=True)
    why = (f"its out-of-fold {chosen_by} was the highest (or tied highest) of these {n_compared}"
           if not (meta.get("cv_metrics") or {}).get("referral_decides_grade") else
           # two grades and finetune.referral_target: the screening target ranked them
           f"its referral cut's out-of-fold figures ranked first of these {n_compared} (the target "
           f"met first, then the other figure: the selection above says which)")
    return (f"This variant was exported because {why} on the same images: the figures of a winner "
            f"chosen on them overstate, by an amount not measured here, how it grades new images.")


def bundle_keep_best(meta: dict[str, Any]) -> bool:
    """Whether the bundle's cross-validated figures come from ``finetune.keep=best`` folds (each
    fold's epoch chosen on the rows it scores: :data:`drac_ssl.figures.KEEP_BEST_CAVEAT`):
    ``metadata.json``'s ``finetune.keep``, read as :func:`drac_ssl.config.variant_keep` reads a
    run's (``best`` for a bundle built before the setting existed: it ran so); False for a bundle that records no ``finetune`` settings."""
    finetune = meta.get("finetune")
    return isinstance(finetune, dict) and variant_keep({"finetune": finetune}) == "best"


def figure_caveats(meta: dict[str, Any]) -> list[str]:
    """The caveats of a bundle's cross-validated figures, each a sentence, in the order said:
    the variant won a comparison on the images they score (:func:`winner_caveat`), and its folds'
    epochs were chosen on those images (``finetune.keep=best``, :func:`bundle_keep_best`:
    "Figures chosen on the rows they score ..."). Empty when neither holds. The one source of
    the model card's caveats under its comparison table and of the app's banner beside the
    figures, so that the two say the same."""
    said = [winner_caveat(meta), f"Figures {KEEP_BEST_CAVEAT}." if bundle_keep_best(meta) else ""]
    return [sentence for sentence in said if sentence]


PHANTOM_SOFTWARE_WORDS = ", here a demonstration of the pipeline on synthetic phantom images"
"""The card's first line for a bundle trained on phantom data (``data.kind`` ``phantom``): never
"for the DRAC 2022 challenge" (a CLAIM review of README command (1)'s card)."""

PHANTOM_USE_WORDS = ("Demonstrating the pipeline (ingest, pretraining, fine-tuning, export) on synthetic "
                     "phantom images, checking an installation, teaching; not ranking or analysing DRAC "
                     "2022 submissions, nor grading any real image: it never saw one.")
"""The card's Intended use for a bundle trained on phantom data."""

PHANTOM_SCOPE_WORDS = ("synthetic phantom images only (procedural stand-ins, no real image: the figures "
                       "say how the pipeline ran, nothing about grading real images)")
"""What the card's Limitations say a phantom bundle was cross-validated on."""


def _model_card(meta: dict[str, Any], oof_csv: bool = True) -> str:
    """The bundle's ``MODEL_CARD.md`` text from its ``metadata.json`` ``meta``; ``oof_csv``:
    whether its run has the variant's out-of-fold predictions (:func:`_calibration_card_line`'s
    words for a bundle recording no out-of-fold calibration figures)."""
    cv = meta["cv_metrics"]
    data = meta["data"]
    inp = meta["input"]
    model = meta["model"]
    cal = meta["calibration"]
    num = figure_text  # n/a for a figure that is absent or not a finite number (report.md's words)

    ci = cv.get("qwk_ci95") or [None, None]
    width = f", width {model['head_width']}" if model.get("head_width") else ""
    names = list(meta["class_names"])
    k = len(names)
    drac = meta.get("task", "").startswith("DRAC")
    two = k == 2  # one AUC, P(referable)'s, and the kappa by its name (a Messidor-2 trial, F4/F5)
    fold_lines = "\n".join(
        f"| {f['fold']} | {f['n_val']} | {num(f.get('qwk'))} | "
        + ("" if two else f"{num(f.get('auc'))} | ")
        + f"{num(f.get('auc_ovr'))} | {num(f.get('accuracy'))} |" for f in cv.get("folds", []))
    comparison = "\n".join(
        f"| {variant_title(r['variant'], meta.get('freeze'))} | {num(r.get('qwk'))} ({format_ci(r.get('qwk_ci_low'), r.get('qwk_ci_high'), r.get('qwk_ci_note'))}) "
        + (f"| {num(r.get('auc'))} " if not two else "")
        + f"| {num(r.get('auc_ovr'))} | {num(r.get('accuracy'))} | {num(r.get('macro_f1'))} |"
        for r in meta.get("comparison", []))
    fold_header = ("| fold | n | Cohen's kappa | AUC of P(referable) | accuracy |\n|---|---|---|---|---|" if two else
                   "| fold | n | QWK | AUC (OvO) | AUC (OvR) | accuracy |\n|---|---|---|---|---|---|")
    variant_header = (f"| variant | {KAPPA_TWO_GRADES} (95% CI) | {AUC_TWO_GRADES} | accuracy | macro F1 |\n"
                      "|---|---|---|---|---|" if two else
                      "| variant | QWK (95% CI) | AUC (OvO) | AUC (OvR) | accuracy | macro F1 |\n|---|---|---|---|---|---|")
    ci_words_ = format_ci(ci[0], ci[1], cv.get('qwk_ci95_note'))
    auc_ci = cv.get("referable", {}).get("auc_ci95") if isinstance(cv.get("referable"), dict) else None
    headline = (f"Cohen's kappa (with two grades the quadratic weighted kappa equals it) {num(cv.get('qwk'))} "
                f"(bootstrap 95% CI {ci_words_}),\n{AUC_TWO_GRADES} = P1 {num(cv.get('auc_ovr', cv.get('auc')))}"
                + (f" (95% CI {format_ci(*auc_ci[:2])})" if isinstance(auc_ci, list) and len(auc_ci) >= 2 else "")
                + " (with two grades the one AUC: one-vs-one and one-vs-rest are this number)," if two else
                f"Quadratic weighted kappa {num(cv.get('qwk'))} (bootstrap 95% CI {ci_words_}),\n"
                f"macro one-vs-one AUC {num(cv.get('auc'))}, macro one-vs-rest AUC {num(cv.get('auc_ovr'))},")
    for caveat in figure_caveats(meta):  # the app's banner says the same (figure_caveats)
        comparison += f"\n\n{caveat}"
    data_warning = (
        "\n> **The training data were phantom images** (procedural stand-ins generated by "
        "`data_prep.phantom`), not patient data. This bundle only demonstrates the pipeline; "
        "its numbers say nothing about grading real UW-OCTA images.\n"
        if data.get("kind") == "phantom" else "")
    if mixed := mixed_phantom_words(data):  # never read as clean real data
        data_warning += (f"\n> **{mixed[0].upper()}{mixed[1:]}.** The model learnt from them too; "
                         "take them out and train again for figures of the real images alone.\n")
    if pool := pretraining_phantom_words(data):  # phantoms in the pretraining only
        if meta.get("variant") == "scratch":  # its backbone was never pretrained
            after = ("This bundle's variant, scratch, was not pretrained: its model learnt from "
                     "the real labelled images alone.")
        elif bundle_pretraining_phantoms(meta) is None:  # the test ones, left out of it
            after = ("The pretraining of this bundle's backbone left the test images out "
                     "(`pretrain.use_test_images=false`): it read none of the phantoms.")
        else:
            after = "Take them out and train again for an encoder that saw real images alone."
        data_warning += f"\n> **{pool[0].upper()}{pool[1:]}.** {after}\n"
    grouping = fold_grouping_words(data, cv)
    folds_line = f"\n- {grouping[0].upper()}{grouping[1:]}." if grouping else ""
    pooled = pooled_origins_words(data, len(meta["folds"]))  # MedMNIST's official train + val
    pooled = f"{pooled}; " if pooled else ""
    if labels_made := referable_labels_words(data):  # ICDR labels made two grades at the ingest
        folds_line += f"\n- Labels: {labels_made}."
    if data.get("n_left_out_ungradable"):  # the model never saw the images graders found ungradable
        folds_line += f"\n- {left_out_words(data['n_left_out_ungradable'])}."
    if data.get("n_left_out_missing"):  # label rows of a partial download: no image to learn from
        folds_line += f"\n- {left_out_missing_words(data['n_left_out_missing'])}."
    depths = training_bit_depths(meta)
    if depths:  # what grading compares each file with (image_notes.other_depth_warning)
        folds_line += (f"\n- Bit depth of the labelled training images: {bit_depth_words(depths)}; "
                       f"an image of another bit depth, or read at another (a dim 16-bit scan read as "
                       f"12-bit data), is graded with a warning that it may not be scaled to 8 bits "
                       f"as they were.")
    gap = fold_gap_words(data)
    if gap:  # a fold without some grade: its per-fold AUC is n/a below
        folds_line += f"\n- {gap[0].upper()}{gap[1:]}."
    chance = chance_warning(cv)
    if chance:
        data_warning += f"\n> **{chance}**\n"
    trial = trial_run_words(meta.get("trial_run"))
    if trial:  # report.md's "Read this first" says it too
        data_warning += f"\n> **{trial}.**\n"
    unseen = [f"{g['grade']} ({g['name']})" for g in meta.get("per_grade") or [] if g.get("images") == 0]
    if unseen:  # a trial: a two-grade set run on DRAC's three grades, unsaid in the card
        data_warning += (f"\n> **No labelled image had grade {', '.join(unseen)}**: this model has "
                         f"outputs for grades it never saw, and its AUCs are undefined; the "
                         f"grading scale ({', '.join(names)}) may not be that of the labels.\n")
    fundus_data = data.get("modality") == "fundus" or (data.get("modality") is None and inp["channels"] == 3)
    unlike = ("other cameras, fields of view, image quality, artefacts" if fundus_data
              else "other devices, fields of view, montages, 3 x 3 mm scans, artefacts")
    phantom = data.get("kind") == "phantom"  # synthetic stand-ins: a demonstration, never DRAC's data
    scope = (PHANTOM_SCOPE_WORDS if phantom else "a small single-challenge data set" if drac_scale(data, names) else
             site_scope_words(data.get("train_sites"), str(data.get("site_folds") or "")) or "this one data set")
    decision = cal.get("decision", "thresholds")
    if decision == "argmax":
        grade_rule = (f"the most probable grade (argmax of the calibrated probabilities; the "
                      f"kappa-tuned cut of {cal['score']} would be at "
                      f"{threshold_words(cal['thresholds'])})")
    else:
        grade_rule = (f"{cal['score']} cut at the kappa-optimal thresholds "
                      f"{threshold_words(cal['thresholds'])}")
        if k == 2 and cal.get("output", "classification") == "classification" and cal.get("thresholds"):
            grade_rule += (f" (with two grades the expected grade is P1: {names[1]} when P1 >= "
                           f"{cal['thresholds'][0]:.3f}, which need not be 0.5)")
    referral = cal.get("referral") if isinstance(cal.get("referral"), dict) else None
    if referral is not None and k == 2:  # finetune.referral_target: the cut decides the grade
        named = grade_name_words(names, 1)[2:]  # "" for the bare numbers: "1 (1)" said nothing
        grade_rule = (f"1{f' ({named})' if named else ''} when P1 >= {cut_text(referral.get('cut'))}, else 0: the referral cut set for "
                      f"{referral_words(referral)} on the out-of-fold outputs "
                      f"(finetune.referral_target={referral.get('target')}; the class decision "
                      f"`{decision}` is not used)")
    elif referral is not None:
        grade_rule += (f"; referral (not a grade): P(referable), grades >= {referral.get('from_grade')}, "
                       f"at or above {cut_text(referral.get('cut'))}, the cut set for "
                       f"{referral_words(referral)} on the out-of-fold outputs "
                       f"(finetune.referral_target={referral.get('target')})")
    rules = cv.get("decision_rules") or {}
    screening = ""
    if k == 2 and ("sensitivity" in cv or isinstance(cv.get("referable"), dict)):
        # report.md's words: at the cross-fitted thresholds (each fold's), the deployed one apart
        screening = f"\n{two_grade_summary(cv, names, cal, auc_said=True)}"  # its AUC: the headline's
        per_patient = (cv.get("referable") or {}).get("per_patient")
        if isinstance(per_patient, dict):  # patients known: a patient referred if any image is
            screening += f" Referable DR {patient_screening_summary(per_patient)}."
    elif isinstance(cv.get("referable"), dict) and k > 2:  # finetune.referable_from: grade >= r
        screening = f"\nReferable DR, out of fold: {referable_summary(cv['referable'])}."
    rule_line = ""
    if isinstance(rules.get(REFERRAL_RULE), dict):  # two grades: the referral cut gave the grades
        cut_rule = rules[REFERRAL_RULE]
        rule_line = (f"\nGrades by the referral cut (`finetune.referral_target={cut_rule.get('target')}`), "
                     f"cross-fitted: {kappa_name(k, short=True)} {num(cut_rule.get('qwk'))}, accuracy {num(cut_rule.get('accuracy'))}; "
                     f"the rules of `finetune.decision` alone (`{decision}` set, not used for the grades), "
                     f"cross-fitted on the same probabilities: " + "; ".join(
                         f"{name}: {kappa_name(k, short=True)} {num(r.get('qwk'))}, accuracy {num(r.get('accuracy'))}"
                         for name, r in rules.items() if name != REFERRAL_RULE) + ".")
    elif rules:
        rule_line = "\nClass decision `" + decision + "` (`finetune.decision`); both rules, cross-fitted: " + "; ".join(
            f"{name}: {kappa_name(k, short=True)} {num(r.get('qwk'))}, accuracy {num(r.get('accuracy'))}"
            for name, r in rules.items()) + "."
    per_grade = _per_grade_card(meta.get("per_grade") or [])
    profile = meta.get("input_profile") or {}
    if profile.get("file"):
        ood_line = (f"Images unlike the training data ({unlike}) may be graded badly. An image "
                    f"is flagged before its grade as unlike the training images when it lies "
                    f"more than {profile.get('margin', 2):g} times as far from them as all but "
                    f"{100 - profile.get('percentile', 99):g} % of the training images themselves "
                    f"do, measured on the model's own features and the image's coarse layout of "
                    f"brightness and colour ({profile.get('how')}). It catches images of another "
                    f"kind, not lesions the model misreads: an unflagged image may still be "
                    f"graded badly." + (f" **Weak for this bundle:** {profile['caveat']}." if profile.get("weak") else ""))
    else:
        ood_line = (f"Images unlike the training data ({unlike}) are graded without warning: this "
                    f"bundle has no out-of-distribution check ({profile.get('why') or 'built by an older version'}).")
    prep = inp.get("ingest_preprocessing") or {}
    conversion = ("Colour or 16-bit inputs are converted to 8-bit grey (luminance), as in training."
                  if inp["channels"] == 1 else
                  "16-bit inputs are converted to 8-bit; grey inputs are replicated to three "
                  "channels with a warning" + _grey_card_words(grey_trained(meta)) + ".")
    fundus = ""
    steps = fundus_preprocessing_words(prep, data)
    if steps != "none":  # any step on (not a modifier alone: graham_mask is on by default)
        cited = preprocessing_references(prep)  # each step's own source, none for a step without
        fundus = ("\n- Fundus preprocessing of the ingest, replayed on every input: "
                  + steps + (f" ({cited})." if cited else "."))
    referable_scope = f" {REFERABLE_SCOPE_WORDS}" if isinstance(cv.get("referable"), dict) else ""
    # DRAC's kind of data: the figures against the challenge's leaderboard, report.md's words
    leaderboard = leaderboard_words(data, names, bool(trial), inp.get("size"))
    leaderboard = f"\n\n{leaderboard}" if leaderboard else ""
    stated = "\n".join(stated_data_lines(data.get("stated")))  # the user's words, or "not stated"
    return f"""# Model card: drac_ssl DR grader ({meta['variant']}, {model['head']} head)

**Not a medical device.** Research software{PHANTOM_SOFTWARE_WORDS if phantom else ' for the DRAC 2022 challenge' if drac else ''}; it must not be used
to diagnose, grade or triage patients.
{data_warning}
## What it is
- Task: {meta.get('task', '')}.
- Grades: {explain_grades(names)}.
- Model: {model['arch']} backbone ({inp['channels']} input channel{'s' if inp['channels'] != 1 else ''}), backbone variant
  `{meta['variant']}` ({meta['selection']}), {model['head']} head ({model['output']}{width}),
  {freeze_words(meta['freeze'])} during fine-tuning; an ensemble of {len(meta['folds'])}
  cross-validation fold models {_tta_words(meta)}{_weights_digest_card(meta)}.
- Output: probabilities P0..P{k - 1} ({cal['probabilities']}, temperature {cal['temperature']:.3f})
  and a grade = {grade_rule}.
- Input: {inp['preprocessing']}.{fundus}{_small_image_card_words(meta)}
- Package: drac_ssl {meta['package_version']}, built {meta['created_utc']}.{_provenance_card(meta)}{_training_trace_card(meta)}

## What it was trained on
- Data: {layout_name(data.get('kind'))} ({last_component(data.get('root')) or 'unknown root'}); {data.get('n_train', '?')}
  training images ({pooled}per grade: {_counts_words(data.get('train_per_grade'))}), {data.get('n_test', '?')}
  test images{_unlabelled_words(data)}. {_sentence(data.get('note', ''))}{folds_line}{_no_subgroup_card(data)}
{stated}
- Self-supervised pretraining ({PRETRAIN_METHOD}{', then UMM' if meta['variant'] == 'vicreg_umm' else ''})
  on the ingested images without labels{_scratch_words(meta) if meta['variant'] == 'scratch' else _transductive_words(meta)};
  supervised fine-tuning by {len(meta['folds'])}-fold cross-validation on the labelled images.

## Cross-validated performance (out-of-fold, n = {cv.get('n')})
{headline}
accuracy {num(cv.get('accuracy'))}, macro F1 {num(cv.get('macro_f1'))}. {_protocol_for_people(cv)}.{rule_line}{screening}{leaderboard}

{fold_header}
{fold_lines}
{per_grade}
Variants compared under the same protocol:

{variant_header}
{comparison}

## Intended use
{PHANTOM_USE_WORDS if phantom else
 f'Ranking and analysing DRAC 2022 Task 3 submissions; studying self-supervised pretraining '
 f'({PRETRAIN_METHOD}, UMM) on UW-OCTA; teaching.' if drac else
 f'Studying self-supervised pretraining ({PRETRAIN_METHOD}, UMM) for diabetic retinopathy grading '
 f'on this data set; benchmarking; teaching.'}
Grad-CAM target layer: `{meta['gradcam_target_layer']}` (the feature map every head reads; for a
conv head not its last convolution, `head.conv`).

## Limitations
- Not a medical device; not validated on any clinical population.
- {SCOPE_WORDS}{referable_scope}
- {heatmap_limits(meta)}
- Cross-validated on {scope}, with no external test set; kappa has a
  wide confidence interval. The reported metrics use cross-fitted thresholds and temperature;
  the deployed ones were fitted on all out-of-fold predictions (with finetune.label_fraction
  below 1: those of the images some fold was trained on).
- {ood_line} {conversion}
- {_calibration_card_line(cal, meta.get(OOF_CALIBRATION_KEY), oof_csv)}
- The figures above are those of single fold models, each with its own cross-fitted
  calibration; this bundle grades with the mean of its {len(meta['folds'])} fold models, calibrated with the
  temperature and thresholds fitted on single models' outputs. The ensemble itself has no
  out-of-fold figure (a fold model that gives nearly one score to every image pulls the mean;
  the export stage notes a grade the ensemble gives no test image), so the per-grade figures
  above, sensitivity included, do not describe the grades this bundle gives to new images.{_milder_card_words(cal, drac)}
"""


ENSEMBLE_GRADE_EVIDENCE = (
    "another bundle, README command (1)'s (the default job, trained and tested on synthetic "
    "images), found 29 of 44 PDR test images (66 %, Wilson 95 % CI "
    "51–78 %) against 84 % out of fold (different images and calibrations; "
    "`bench/results/ensemble_grade.json`, docs/design.md \"What the figures describe, and what is "
    "deployed\")")
"""What ``python -m bench.ensemble_grade`` measured on README command (1)'s run
(``bench/results/ensemble_grade.json``: ``rules.current.per_grade["2 PDR"]`` against
``single_models_out_of_fold.per_grade["2 PDR"]``; a test checks the figures against that file):
another bundle's figures, named as such in every card that quotes them (its images called
synthetic, not phantom: a card of a bundle trained on real images says nothing of phantoms,
``tests/app/test_phantom_caveat_cases.py``)."""


ENSEMBLE_GRADE_ELSEWHERE = ("measured once, on a bundle of DRAC's three grades, in "
                            "`bench/results/ensemble_grade.json`")
"""What the card of a bundle on other data than DRAC's says of :data:`ENSEMBLE_GRADE_EVIDENCE`:
where it was measured, not its PDR figures, which are of another scale."""


def _milder_card_words(cal: dict[str, Any], drac: bool = True) -> str:
    """The model card's sentence on grades milder than the most likely one, for a bundle whose
    grade is a score cut at thresholds (``cal["decision"]`` ``thresholds``, the default: the
    expected grade Σ k·P_k, or a regression head's score), with the one measurement of it
    (:data:`ENSEMBLE_GRADE_EVIDENCE`) for a bundle of DRAC's task (``drac``: the card's
    ``task`` says DRAC 2022 Task 3, DRAC's three grades of UW-OCTA), where it was measured; for
    another task only where
    (:data:`ENSEMBLE_GRADE_ELSEWHERE`: a binary screening card quoted "29 of 44 PDR test
    images"); "" for the most probable grade's rule (``argmax``), which never gives one, and for a two-grade bundle whose referral cut decides the grade
    (``cal["referral"]``, ``finetune.referral_target``: a cut on P1 set for a screening target)."""
    if cal.get("decision", "thresholds") != "thresholds":
        return ""
    if isinstance(cal.get("referral"), dict) and cal.get("num_grades") == 2:
        return ""
    evidence = f": {ENSEMBLE_GRADE_EVIDENCE}" if drac else f" ({ENSEMBLE_GRADE_ELSEWHERE})"
    return (f" Its grade, {cal['score']} cut at thresholds tuned for the best overall agreement "
            f"(kappa), can be milder than the most likely grade (the largest probability), and the "
            f"app warns under each such result; such a rule can find the severest grade less often "
            f"than the out-of-fold figures above say{evidence}.")

FREEZE_WORDS = {"frozen": "backbone frozen (the head alone trained)",
                "last": "backbone frozen except its last stage (layer4)",
                "all": "the whole backbone trained"}
"""``finetune.freeze`` in words: the model card's and ``drac_ssl.finetune``'s console line."""


VARIANT_TITLES = {"scratch": "scratch (random init)", "vicreg": PRETRAIN_METHOD,
                  "vicreg_umm": f"{PRETRAIN_METHOD} + UMM"}
"""Each fine-tuning variant's name for a reader (report.md, its plots, the model card)."""

FROZEN_SCRATCH_TITLE = "scratch (random init, frozen: random features + trained head)"
"""The ``scratch`` variant's name under ``finetune.freeze=frozen``: a random backbone that is
never trained, under a trained head, not a network trained from scratch (an audit)."""


def variant_title(name: str, freeze: Any = None) -> str:
    """The variant ``name`` for a reader (:data:`VARIANT_TITLES`, else the name as written);
    ``freeze``: ``finetune.freeze`` of the run (None: not known), which turns ``scratch``
    under a frozen backbone into :data:`FROZEN_SCRATCH_TITLE`."""
    if name == "scratch" and freeze == "frozen":
        return FROZEN_SCRATCH_TITLE
    return VARIANT_TITLES.get(name, name)


def freeze_words(freeze: Any) -> str:
    """``finetune.freeze`` in words (:data:`FREEZE_WORDS`), or the setting as written."""
    return FREEZE_WORDS.get(str(freeze), f"backbone setting `{freeze}`")


RARE_RECALL = 0.2
"""A grade found (recalled) in fewer than this share of its images, out of fold, is named in
the model card as one the model rarely finds."""


def rare_grades(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a per-grade table (``metadata["per_grade"]``) whose grade has images and
    was found in fewer than :data:`RARE_RECALL` of them, out of fold."""
    return [r for r in rows if r.get("images") and r.get("recall") is not None and r["recall"] < RARE_RECALL]


def grade_said(r: dict[str, Any], names: list[str] | None) -> str:
    """The grade of a per-grade row (``metadata["per_grade"]``) by its name in ``names`` (the
    page's), else by the row's recorded name."""
    g = r.get("grade")
    return names[g] if names and isinstance(g, int) and 0 <= g < len(names) else str(r.get("name"))


def never_found_rows(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``metadata["per_grade"]`` (the model card's per-grade table) whose grade has
    images the model NEVER found out of fold (``found == 0``), in the table's order; ``[]`` for
    none. Name them with :func:`grade_said`."""
    return [r for r in rare_grades(meta.get("per_grade") or []) if r.get("found") == 0]


def never_found_words(meta: dict[str, Any], names: list[str] | None = None) -> str:
    """The plain sentence for the grades the model NEVER found out of fold (a per-grade row of
    ``metadata["per_grade"]`` with images and ``found == 0``: the model card's table), "" for
    none: ``Out of fold this model never found PDR (0 of 72 images): a grade other than PDR
    does not rule it out.`` Said on every result, under its heading, and in a batch's summary and
    caveat (``app.server.model_caveat``: the notes CSV's first row), in the export's warnings
    and its provenance sidecar's ``caveats``, not as small print (a clinician
    trial: "rarely found ... PDR (0 of 72)" was small print on the single-image page only).
    ``names``: the grade names as the page says them (``Severe NPDR``), grade 0 first; the
    table's recorded names without them. Text, not markdown."""
    never = never_found_rows(meta)
    if not never:
        return ""
    which = [grade_said(r, names) for r in never]
    shown = ", ".join(f"{w} (0 of {r['images']} images)" for w, r in zip(which, never, strict=True))
    named = which[0] if len(which) == 1 else f"{', '.join(which[:-1])} or {which[-1]}"
    return (f"Out of fold this model never found {shown}: a grade other than {named} does not rule "
            f"{'it' if len(never) == 1 else 'them'} out.")


def _counts_words(counts: Any) -> str:
    """``{'No DR': 540, 'Mild': 140}`` -> ``No DR 540, Mild 140`` ("?" when not a mapping)."""
    if not isinstance(counts, dict) or not counts:
        return "?"
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def per_grade_recall_cell(row: dict[str, Any]) -> str:
    """One per-grade row's sensitivity (a row of :func:`drac_ssl.grading.bundle.per_grade_outcomes`:
    ``found`` of ``images`` given their grade out of fold) with its 95% CI in the package's cell,
    as ``export --score``'s per-grade table says it (:func:`drac_ssl.figures.recall_ci_cell`):
    ``0.842 (16/19; 0.624..0.945)``; with patients ``0.842 (16/19 images; 0.580..0.960, n_eff
    9.1 of 10 patients)`` (the row's ``recall_ci95`` and ``ci_method`` from
    :func:`drac_ssl.metrics.recall_intervals`). A row recorded before those keys gets the plain
    Wilson score interval of its counts; ``found`` alone for a grade without images. The model
    card's and report.md's per-grade sensitivity (a CLAIM review: a share of 212 images without
    an interval)."""
    found, images = row.get("found"), row.get("images")
    if not images:
        return f"{found}"
    ci = row.get("recall_ci95")
    if not (isinstance(ci, list) and len(ci) == 2):
        ci, row = list(wilson_interval(found, images)), {**row, "ci_method": "wilson"}
    return recall_ci_cell({**row, "n": images, "hits": found, "recall": found / images, "recall_ci95": ci})


def per_grade_recall_words(k: int) -> str:
    """What each grade's share graded correctly out of fold is, for ``k`` grades: ``graded
    correctly (sensitivity, Wilson 95% CI)``; with two grades ``...; for grade 0, the
    specificity)``: grade 0's share found is the specificity. The card's per-grade table and
    report.md's sensitivity line say it alike."""
    return ("graded correctly (sensitivity, Wilson 95% CI; for grade 0, the specificity)" if k == 2
            else "graded correctly (sensitivity, Wilson 95% CI)")


def _per_grade_card(rows: Sequence[dict[str, Any]]) -> str:
    """The model card's per-grade table and, for grades found in under :data:`RARE_RECALL`
    of their images, a warning that names them."""
    if not rows:
        return ""

    table = "\n".join(f"| {r['grade']} {r['name']} | {r['images']} | {per_grade_recall_cell(r)} | {r['given']} |"
                      for r in rows)
    rare = rare_grades(rows)
    warning = ""
    if rare:
        warning = ("\n> **This model rarely finds " + ", ".join(
            f"grade {r['grade']} ({r['name']}: {r['found']} of {r['images']} found"
            + ("; never given" if r["given"] == 0 else "") + ")" for r in rare)
            + "**, out of fold (sensitivity under "
            + f"{RARE_RECALL:.0%}): do not rely on it to find "
            + ("that grade" if len(rare) == 1 else "those grades") + ".\n")
    recall = per_grade_recall_words(len(rows))
    return ("\nPer grade, out of fold, of single fold models (the grade the fold model that did not "
            "train on an image gave it, against the true one; not the grades this bundle gives, "
            "which are its fold models' mean: see Limitations):\n\n"
            f"| true grade | images | {recall} | images given this grade |\n"
            "|---|---|---|---|\n" + table + "\n" + warning)


def _provenance_card(meta: dict[str, Any]) -> str:
    """The model card's provenance line (``metadata["provenance"]``; '' for a bundle without)."""
    prov = meta.get("provenance")
    if not isinstance(prov, dict):
        return ""

    from drac_ssl.runtime import code_at, known_commit, same_code

    def code(c: Any, other: Any = None) -> str:  # commit 54e10d4 (dirty); code fingerprint 7883bc5e9bbd
        # (the fingerprint added where it alone tells c from other); commit unknown
        return code_at(c, other if isinstance(other, dict) else None) if isinstance(c, dict) and (
            known_commit(c) or c.get("code_fingerprint")) else "commit unknown"

    run_code, finetune_code = prov.get("run_code"), prov.get("finetune_code")
    if not (isinstance(finetune_code, dict) and not same_code(finetune_code, run_code or {})):
        finetune_code = None
    fold_seed = prov.get("fold_seed")  # absent: a bundle built before it was recorded
    folds = f", fold seed {fold_seed} (data.fold_seed)" if isinstance(fold_seed, int) else ""
    words = (f"\n- Provenance: run seed {prov.get('run_seed', 'unknown')}{folds}; run made at "
             f"{code(run_code, finetune_code)}")
    if finetune_code is not None:
        words += f", fine-tuned at {code(finetune_code, run_code)}"
    return words + f"; bundle built at {code(prov.get('built_with'))}."


WEIGHTS_SHA256_FROM = "weights_sha256_from"
"""``metadata.json``'s key saying where the folds' weights digests came from: ``"fine-tuning"``
(its ``model.json``, written as it saved the files) or ``"build"`` (taken of the bundle's own
files by :func:`drac_ssl.grading.bundle.build_bundle`, the ``model.json`` recording none: an older run, the demo);
absent in a bundle built before it was recorded."""

WEIGHTS_DIGEST_BUILD_WORDS = ("; its weights' SHA-256 taken at the build: they catch later changes, "
                              "not damage before it")
""":func:`_weights_digest_card`'s clause for digests taken at the build."""


def _weights_digest_card(meta: dict[str, Any]) -> str:
    """The model card's clause on weights digests taken at the build
    (:data:`WEIGHTS_SHA256_FROM` ``"build"``): :data:`WEIGHTS_DIGEST_BUILD_WORDS`; '' otherwise
    (the fine-tuning's digests, or a bundle that does not record where they came from)."""
    return WEIGHTS_DIGEST_BUILD_WORDS if meta.get(WEIGHTS_SHA256_FROM) == "build" else ""


def _recorded_run_folder(meta: dict[str, Any]) -> Any:
    """The run folder's name a bundle's ``metadata.json`` (``meta``) records
    (``provenance.run_folder``, :func:`drac_ssl.grading.bundle.run_provenance`), None for none: a bundle built before it
    was recorded, or an empty name (an older ``export . --variant NAME`` in the run folder
    recorded ``Path('.').name``, ''). The one rule of "no run folder": the model card's trace
    line (:func:`_training_trace_card`) and the rebuild (:func:`drac_ssl.grading.bundle.older_bundle_records`)."""
    prov = meta.get("provenance")
    name = prov.get("run_folder") if isinstance(prov, dict) else None
    return name if name else None


def _training_trace_card(meta: dict[str, Any]) -> str:
    """The model card's line tracing the bundle to its run, data and environment
    (:func:`drac_ssl.grading.bundle.run_provenance`'s ``run_folder``, ``training_data``, ``environment``): '' for a bundle
    built before they were recorded, or that records no run folder's name
    (:func:`_recorded_run_folder`). Hashes shortened to 12 hex digits (whole in metadata.json)."""
    run_folder = _recorded_run_folder(meta)
    if run_folder is None:
        return ""
    prov = meta["provenance"]
    data = prov.get("training_data") or {}
    env = prov.get("environment") or {}

    def short(value: Any) -> str:
        return f"{str(value)[:12]}..." if value else "not recorded"

    libraries = ", ".join(f"{name} {env[key]}" for key, name in (
        ("python", "Python"), ("torch", "torch"), ("torchvision", "torchvision"), ("numpy", "NumPy"),
        ("opencv", "OpenCV"), ("scikit_learn", "scikit-learn")) if env.get(key))
    return (f"\n- Traced to: run folder `{run_folder}`; its ingest's manifest SHA-256 "
            f"{short(data.get('manifest_sha256'))}, label CSV SHA-256 {short(data.get('labels_csv_sha256'))}; "
            f"trained with {libraries or 'library versions not recorded'}"
            f"{' (their wheel builds: metadata.json provenance.environment.builds)' if env.get('builds') else ''}.")


def ood_check_caveat(meta: dict[str, Any]) -> str:
    """The app's and the export's sentence when a bundle's "unlike the training images" check
    is weak (``metadata.json``'s ``input_profile.weak``, or a trial run's bundle with a check,
    built before ``weak`` said so: :func:`drac_ssl.grading.bundle.with_trial_run`), '' otherwise (no check: the page
    and the export say that apart). Short: it ends each graded row of the app's CSV; the
    reasons are :meth:`~drac_ssl.grading.ood.InputProfile.caveat`'s (the model card). The rule:
    :func:`drac_ssl.trial_run.input_check_weak`."""
    from drac_ssl.trial_run import input_check_weak

    if not input_check_weak(meta):  # the one rule, the scoring's too
        return ""
    return ("Its check for images unlike the training images is unreliable for this bundle: an image "
            "it does not flag may still be of another kind.")


