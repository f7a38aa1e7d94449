"""One configuration system for the whole package.

Dataclass defaults -> a YAML file from ``configs/`` -> command-line overrides such as
``data.root=/path`` or ``pretrain.lr=0.01``. The resolved configuration is written as
``config.yaml`` into every run folder, so a run explains itself and can be repeated with
``python -m drac_ssl.train -c RUN/config.yaml``.

Every bad key or value is reported with where it came from (file and line, or the
command-line argument), what is wrong and how to fix it: never a bare traceback.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import functools
import math
import numbers
import os
import re
import shlex
import types
import typing
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from drac_ssl.figures import KEEP_SELECTION_GAP  # stdlib only
from drac_ssl.name_tags import visible_text as visible_text  # one rendering of hidden characters

__all__ = ["Config", "ConfigError", "DataConfig", "PretrainConfig", "load_config"]
"""The public names (docs/python.md): the configuration, its data section (``data_prep.ingest.run``'s
argument), its pretraining section (``drac_ssl.models.build_vicreg_model``'s), the loader of a
YAML file or shipped config with overrides, and its error."""


class ConfigError(ValueError):
    """A configuration problem, with a message that says where, what and how to fix it."""


class UnknownSettingError(ConfigError):
    """A setting no section has: ``setting`` the dotted key as written (``data.image_colum``;
    a misspelt section with the one setting typed under it, ``pretrain.augmnt.recipe``),
    ``meant`` the settings its "Did you mean" names (``('data.image_column',)``,
    ``('pretrain.augment.recipe',)``, or a section, ``('pretrain.augment',)``, when what was
    typed under it is no setting of it or more than one; empty when none is close). The
    preflight marks a problem that follows from the typo (about a meant setting, or one of a
    meant section) by the typo's number."""

    def __init__(self, message: str, setting: str, meant: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.setting, self.meant = setting, tuple(meant)

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as cls(*self.args), and args holds the message alone: rebuild from
        # all three parts so that the error crosses a process boundary as itself (as SettingsError)
        return type(self), (str(self), self.setting, self.meant), self.__dict__


GRADE_SCALES: dict[str, tuple[str, ...]] = {
    "drac": ("Normal", "NPDR", "PDR"),  # DRAC 2022 Task 3
    "icdr": ("No DR", "Mild", "Moderate", "Severe", "PDR"),  # International Clinical DR scale
}
"""Named grade scales ``data.grades`` may name instead of listing the grades."""
REFERABLE_NAMES = ("non-referable", "referable")
"""The names of the two grades ``data.referable_from`` makes when ``data.grades`` is empty or
the labels' ICDR scale (:func:`referable_from_rule`)."""


class ReferableRule(typing.NamedTuple):
    """What :func:`referable_from_rule` says of a referral cut N and a grades setting."""

    valid: bool
    """N is an ICDR grade 1..4 (an int, not a bool): grade >= N is referable."""
    names: tuple[str, ...]
    """The names of the model's grades: :data:`REFERABLE_NAMES` when ``from_labels_scale``,
    else the grades setting's names as given (stripped)."""
    from_labels_scale: bool
    """The grades setting is empty or the ICDR scale the labels are on (``icdr``, or its five
    names), so the two grades are named :data:`REFERABLE_NAMES`."""

    @property
    def two_grades(self) -> bool:
        """The setting leaves two grades, as the cut makes (named by the rule, or two names)."""
        return len(self.names) == 2


def referable_from_rule(referable_from: object, grades: Sequence[str] = ()) -> ReferableRule:
    """The one rule of a referral cut N on ICDR labels (``data.referable_from`` of the ingest,
    ``--labels-referable-from`` of ``export --score``): ICDR grade >= N becomes grade 1
    (referable), below it grade 0 (:func:`referable_grade`); N must be an ICDR grade 1..4
    (0, the setting off, is the caller's to allow); ``grades`` (``data.grades``) must leave two
    grades: empty or the ICDR scale (named :data:`REFERABLE_NAMES`), or two names of its own.
    Pure: says, never raises; each caller words its own refusal."""
    icdr = GRADE_SCALES["icdr"]
    valid = _whole_number(referable_from) and 1 <= referable_from <= len(icdr) - 1
    names = tuple(str(g).strip() for g in grades)
    labels_scale = not names or [n.lower() for n in names] == ["icdr"] or names == icdr
    return ReferableRule(valid, REFERABLE_NAMES if labels_scale else names, labels_scale)


def referable_grade(grade: int, referable_from: int) -> int:
    """ICDR ``grade`` as one of the two grades of the cut ``referable_from``
    (:func:`referable_from_rule`): 1 (referable) when it is ``referable_from`` or more, else 0."""
    return int(grade >= referable_from)
LAYOUT_NAMES = {"drac": "DRAC", "plain": "plain", "aptos": "APTOS", "eyepacs": "EyePACS",
                "idrid": "IDRiD", "deepdrid": "DeepDRiD", "messidor2": "Messidor-2",
                "medmnist": "MedMNIST"}
"""Each layout kind (``data.layout``) and its name as people write it, for help texts and
messages (:func:`layout_root_help`): the one list of layouts, :data:`DATA_LAYOUTS` is built
from it, in this order."""
DATA_LAYOUTS = ("auto", *LAYOUT_NAMES)
"""The values of ``data.layout`` (``--layout``): ``auto`` and every layout of
:data:`LAYOUT_NAMES`, in its order (the ``--layout`` choices, the settings reference)."""
SCORED_LAYOUTS = ("drac", "aptos", "eyepacs", "idrid", "messidor2")
"""The layouts whose label columns ``python -m drac_ssl.export --score --labels`` looks for,
in this order (``drac_ssl.scoring.LABEL_LAYOUTS``; a plain folder's columns are DRAC's)."""


def in_words(names: Sequence[str], last: str = "or") -> str:
    """``A, B, C or D`` (``A``; ``A or B``)."""
    return f"{', '.join(names[:-1])} {last} {names[-1]}" if len(names) > 1 else "".join(names)


def layout_name(kind: str | None) -> str:
    """A layout kind as people write it (:data:`LAYOUT_NAMES`: ``aptos`` -> ``APTOS``), for the
    console, the report and the model card; a kind it does not know (``phantom``,
    ``unknown``) as it is; none (None or empty, an older record) ``unknown``."""
    if not kind:
        return "unknown"
    return LAYOUT_NAMES.get(kind, str(kind))


def layouts_in_words(layouts: Sequence[str] = DATA_LAYOUTS,
                     names: dict[str, str] | None = None) -> str:
    """``DRAC, APTOS, EyePACS, IDRiD, MedMNIST or a plain folder``: every layout of
    ``layouts`` (but ``auto``) by its name for people (:data:`LAYOUT_NAMES`), the plain folder
    last, so that a new layout is named by itself."""
    names = LAYOUT_NAMES if names is None else names
    said = [names.get(k, k) for k in layouts if k not in ("auto", "plain")]
    return in_words(said + (["a plain folder"] if "plain" in layouts else []))


def layout_root_help(layouts: Sequence[str] = DATA_LAYOUTS,
                     names: dict[str, str] | None = None) -> str:
    """What ``--root`` (``data.root``) takes, naming every layout of ``layouts`` (built from
    :data:`DATA_LAYOUTS` and :data:`LAYOUT_NAMES`, so a new layout is named by itself): the
    DRAC folder, each public dataset's folder, a MedMNIST ``.npz``, a plain folder."""
    names = LAYOUT_NAMES if names is None else names
    folders = [names.get(k, k) for k in layouts if k not in ("auto", "drac", "plain", "medmnist")]
    said = [f"unzipped {names.get('drac', 'DRAC')} folder (or 'C. Diabetic Retinopathy Grading')"]
    said += [f"an {' / '.join(folders)} folder"] if folders else []
    said += ["a MedMNIST .npz"] if "medmnist" in layouts else []
    said += ["a plain folder of images with a label CSV"] if "plain" in layouts else []
    return f"{', '.join(said[:-1])}, or {said[-1]}" if len(said) > 2 else in_words(said)
DATA_CHANNELS = ("auto", "1", "3", "")
DATA_MODALITIES = ("auto", "octa", "fundus")
DATA_UNGRADABLE = ("error", "leave_out")
"""``data.ungradable``: what a label row with no grade (an empty or NA cell) does."""

DATA_MISSING = ("error", "leave_out")
"""``data.missing``: what a label row whose image is not in the training folder does."""


STATED_DATA_SETTINGS = (("description", "description"), ("collection_dates", "collection dates"),
                        ("reference_standard", "reference standard, how the grades were given"))
"""The data facts a user states in settings (``data.<key>``, label), said by report.md and the
model card (:func:`drac_ssl.grading.model_card.stated_data_lines`; "not stated" when empty;
CLAIM 2024 and TRIPOD+AI ask for them): no stage reads them. Here, not in the model card's
module, so that the preflight compares them without importing torch."""


def stated_data(config_data: Any) -> dict[str, str]:
    """The :data:`STATED_DATA_SETTINGS` a run's ``config.yaml`` ``data`` section (``config_data``)
    states: ``{key: text}``, an empty or absent one left out; {} for anything but a mapping.
    Each text is one line, its whitespace collapsed (``" ".join(text.split())``): a YAML block
    scalar's line breaks would otherwise start headings (``## ...``) and tables (``| a |``) in
    report.md and the card, both of which say it as one list item."""
    if not isinstance(config_data, dict):
        return {}
    return {key: " ".join(config_data[key].split()) for key, _ in STATED_DATA_SETTINGS
            if isinstance(config_data.get(key), str) and config_data[key].strip()}


@dataclass
class DataConfig:
    """Where the images come from and how they are ingested.

    ``root`` empty means: the embedded phantom UW-OCTA data, generated on first use.

    ``layout`` ``auto`` recognises the official DRAC 2022 layout, the public DR datasets
    (APTOS 2019: ``train.csv`` + ``train_images/``; EyePACS / Kaggle DR 2015:
    ``trainLabels.csv`` + ``train/``; IDRiD grading: ``B. Disease Grading/``; DeepDRiD:
    ``regular-fundus-training/`` or the folder holding it; Messidor-2: ``messidor_data.csv`` +
    ``IMAGES/``; MedMNIST: a ``.npz`` file or a folder holding one) and
    otherwise takes a plain folder of images plus a label CSV. A plain folder's CSV without the ``image_column`` / ``grade_column``
    defaults but with the label columns of exactly one public layout (IDRiD, APTOS,
    EyePACS, Messidor-2) is read with those, and that layout's defaults below (scale, channels,
    modality) apply; columns set here are never replaced.

    ``grades``: the names of grades 0..K-1, K >= 2 (``[Normal, NPDR, PDR]``), or a named
    scale: ``drac`` (Normal, NPDR, PDR) or ``icdr`` (No DR, Mild, Moderate, Severe, PDR).
    Empty: the layout's scale (DRAC and plain folders: drac; APTOS, EyePACS, IDRiD, DeepDRiD,
    Messidor-2 and MedMNIST: icdr). A label outside 0..K-1 is an error that names this setting. From Python a
    list (``DataConfig(grades=["icdr"])``); a string is read as the command line and YAML read
    it, split at commas: ``"icdr"`` is the one named scale ``["icdr"]``, ``"Normal,NPDR,PDR"``
    three names (never its characters). ``cache_sizes`` likewise: ``"64"`` -> ``[64]``; a
    value that is neither a str nor a list/tuple is a ConfigError (the list's items are
    checked where the config is validated, :func:`load_config`, not here). A whole-number
    setting (``workers``, ``n_folds``, ``expected_side`` ...) that is no integer
    (``workers="a"``, ``n_folds=2.5``) is a ConfigError too; ``"3"`` and ``3.0`` are read as
    3. Ranges (``workers >= 0``, ``n_folds >= 2``) are checked when the ingest starts
    (:func:`data_prep.ingest.check_settings`) and by the preflight.

    ``channels``: ``1`` (grey; colour files are converted with a warning), ``3`` (RGB; grey
    files are replicated, said once) or ``auto`` (what the images are: all grey -> 1, any
    colour -> 3; an RGB file whose three channels are equal counts as grey). Empty: the
    layout's default (DRAC: 1, UW-OCTA is grey; plain folders and the fundus layouts: auto, so
    a plain folder of colour photographs stays colour and one of grey scans stays grey). The
    cache is ``(N, S, S)`` for 1 channel, ``(N, S, S, 3)`` RGB
    for 3.

    ``modality``: what the images are, ``octa`` (UW-OCTA en-face scans) or ``fundus``
    (fundus photographs); it decides which checks and words apply (a grey OCTA export is
    expected at 1024 x 1024; a fundus photograph converted to grey is what
    ``data.channels=1`` asks, not a fault), and the ingest records it for the report, the
    model card and the app. ``auto``: the layout's (DRAC: octa; APTOS, EyePACS, IDRiD,
    DeepDRiD, Messidor-2, MedMNIST: fundus; a plain folder: fundus when ingested in colour, else octa).
    ``python -m drac_ssl.train`` takes ``pretrain.augment.recipe=fundus`` as ``fundus`` for
    ``auto``, so a plain folder of fundus photographs ingested as grey is still fundus.

    ``expected_side``: the side (px) every grey image of the set is expected to have, square;
    an image of another size is resized with a warning. ``-1`` (the default): the layout's,
    1024 for the DRAC layout (the DRAC 2022 UW-OCTA export) when read as UW-OCTA, else no
    check; ``0``: no check. A plain folder gets no size expectation by default because a
    clinic's OCTA device exports its own sizes (800 and 1024 px for two scan areas, mixed in
    one set): DRAC's 1024 px would warn on every 800 px scan, and the size most images share
    would warn on every scan of the other area, while both are the device's native output.
    A grey set of several sizes gets one note listing them; an image far smaller than the
    others (a thumbnail or a crop) and a non-square one are warned of whatever this says.

    ``ungradable``: what a label-CSV row whose grade cell says "no grade" does (empty,
    ``NA``, ``n/a``, ``nan``, ``-``, ``?``, ``ungradable`` ...:
    :data:`data_prep.validate.UNGRADED_CELLS`), as public sets ship them for the images their
    graders found ungradable (empty cells, NA cells of EyePACS-derived sets; DeepDRiD's regular
    set writes grade 5, read alike under its layout: ``data_prep.layout.UNGRADABLE_GRADES``; a
    Messidor-2 CSV's ``adjudicated_gradable`` 0 marks its row so whatever the grade cell holds,
    in any layout: ``data_prep.layout.GRADABLE_COLUMNS``). ``error`` (the default): each is an
    error whose fix names its row. ``leave_out``: the row and its image are left out (not cached, not in the manifest,
    the folds or the test set), said in one note and listed in ``ingest_summary.json``
    (``left_out_ungradable``) and the run's report. Any other bad grade (``7``, ``x``) stays
    an error. Every layout with a label CSV; a MedMNIST ``.npz`` has no such cells.

    ``referable_from``: 0 (the default) trains on the label column's grades as they are. ``N``
    (1..4) makes two grades of ICDR labels at the ingest, for a referable-DR model: each label
    is read on the ICDR scale (0 No DR .. 4 PDR, numbers or names; Messidor-2's
    ``adjudicated_dr_grade``, APTOS's ``diagnosis`` ...) and becomes grade 1 when it is ``N``
    or more, else grade 0 (``N = 2``: referable DR, moderate NPDR or worse, Gulshan et al.,
    JAMA 2016). Only with two grades: ``grades`` empty, or ``icdr`` (the labels' scale, as
    ``configs/fundus.yaml`` sets it), names them ``non-referable, referable``; two names of its
    own are kept; any other scale is an error. The ingest records it
    (``ingest_summary.json`` ``grades.referable_from``: N, the column and the rows per ICDR
    grade), and so do the bundle's ``metadata.json`` (``data.referable_from``), the model card
    and the report; ``export --score --labels-referable-from N`` scores against such labels.
    Not ``finetune.referable_from``, which only reports a referable figure beside K > 2 grades.

    ``missing``: what a label-CSV row whose image is nowhere does (not in the training folder,
    nor in a subfolder of it, nor a near miss of an image without a row: those are mistakes
    that stay errors). ``error`` (the default): each is an error. ``leave_out``: the row is
    left out (a partial download, EyePACS's 35k rows of which part were fetched), said in one
    note (a warning when most rows go), listed in ``ingest_summary.json``
    (``left_out_missing``: name, CSV line, the grade as written) and counted in the run's
    report and the model card.

    Fundus preprocessing, off by default, applied to every cached copy (train and test):
    ``fundus_crop`` crops to the fundus disc (the bounding box of the largest region
    brighter than a tenth of the mean grey level, at least 7, as in Graham's radius
    estimate) and pads it to a square with black; ``graham`` subtracts the local mean
    colour, ``4 * img - 4 * GaussianBlur(img, sigma) + 128`` clipped to 0..255 with
    ``sigma`` = disc radius / 30 (= cache size / 60 once the disc fills the image), and with
    ``graham_mask`` sets everything outside 90 % of the radius to 128. B. Graham, "Kaggle
    Diabetic Retinopathy Detection competition report", 2015 (the winning entry).

    ``unlabelled``: folders of further images without grades (e.g. the DRAC Task 1 and Task 2
    UW-OCTA images, or a clinic's ungraded scans), each read like an image folder (not
    recursively) and validated, cached and preprocessed like the rest; they join the
    self-supervised pool of pretraining and UMM (manifest split ``unlabelled``) and are never
    fine-tuned on, evaluated or exported. A copy (byte-identical) of a training or test image,
    or of another image of the pool, is left out with a note, so no image is pretrained on
    twice.

    ``site_column``: '' (the default) reads no site. A column of the label CSV naming each
    image's site (the source it was pooled from: a clinic, a camera, a public set), which the
    ingest carries into the manifest's ``site`` column and the fine-tuning into ``oof.csv``'s:
    the folds are stratified on grade x site, so that each fold validates on every site in
    its share (a grade x site stratum of fewer units than folds is pooled with its grade's
    other small strata, said in a note), report.md gives the figures per site and the model
    card names the sites and their image counts. A row with an empty site cell is an error.
    It may name the patient column too (``--patient-column site --site-column site``: each
    fold holds whole sites, leave-one-site-out with as many folds as sites).

    ``near_duplicate_mse``: 0 (the default) leaves the folds as they are. A value > 0 compares
    every labelled image with every other (:mod:`data_prep.near_duplicates`: the cached copy at
    the smallest of ``cache_sizes``, area-resized to at most 64 px, all channels, pixels / 255)
    and links every pair whose mean squared difference is below it; the linked images (chains
    a~b~c join) make one group that the folds never split, as one patient's images; with
    patients known too, a group joins its images' patients. ``1e-4`` (an RMS difference of 1 %
    of the range) finds RetinaMNIST's 32 near twins (``bench/near_duplicates.py``); a value
    that joins more than 10 % of the labelled images is warned of, and one that links more than
    50 pairs per image is refused (docs/data.md, "Near duplicates": choosing a value). The manifest then gets a
    ``fold_group`` column (each training image's unit in the folds), and the bootstrap CIs
    resample those units (``ci_resamples: groups``, :func:`drac_ssl.oof.patient_groups`).

    ``description``, ``collection_dates``, ``reference_standard``: said only, each on one line
    (line breaks and runs of spaces collapsed), in report.md's Data section and the model card;
    no stage reads them. Given to a finished run (``python -m drac_ssl.train -c RUN/config.yaml
    data.description=...``) they are not recorded, and a warning says so: a finished run's
    ``config.yaml`` is kept as it ran. To record one, edit it in ``RUN/config.yaml``, then
    rewrite report.md (``python -m drac_ssl.report RUN``) and rebuild the bundle as the export
    stage does (``python -c "from drac_ssl.grading.bundle import build_bundle; from
    drac_ssl.report import oof_calibration_of; build_bundle('RUN',
    oof_calibration=oof_calibration_of('RUN'))"``; a variant's ``RUN/bundles/NAME``: remove
    that folder, then ``python -m drac_ssl.export RUN --variant NAME``), whose card reads that file.
    """

    # drac = graded retinal images through the ingest (whatever data.layout finds: DRAC, APTOS,
    # EyePACS, IDRiD, DeepDRiD, Messidor-2, MedMNIST or a plain folder + CSV; the name is DRAC's, the home task);
    # mnist | fashion_mnist | cifar10 = the correctness checks, read directly (no ingest)
    dataset: str = "drac"
    root: str = ""  # DRAC unzipped root, a public DR layout, a .npz, a plain image folder, or a generic dataset path
    layout: str = "auto"  # auto | drac | plain | aptos | eyepacs | idrid | deepdrid | messidor2 | medmnist
    labels_csv: str = ""  # plain layout: the label CSV (default: the only CSV in root)
    image_column: str = "image name"  # the label CSV's column of image names; the public layouts use their own unless this is changed (DataConfig's docstring)
    grade_column: str = "DR grade"  # the label CSV's column of grades; the public layouts use their own unless this is changed
    patient_column: str = ""  # optional: folds are grouped by it when present
    site_column: str = ""  # optional: the label CSV's column of each image's site (source); folds stratified on grade x site, figures per site (DataConfig's docstring)
    description: str = ""  # optional, said only (report.md, the model card; "not stated" when empty; a finished run: DataConfig's docstring): who and what the images are, e.g. population, setting, device
    collection_dates: str = ""  # optional, said only (report.md, the model card): when the images were taken, e.g. "2019-03 to 2021-06"
    reference_standard: str = ""  # optional, said only (report.md, the model card): how the grades were given, e.g. graders, protocol, adjudication
    unlabelled: list[str] = field(default_factory=list)  # folders of ungraded images: pretraining and UMM only
    grades: list[str] = field(default_factory=list)  # names of grades 0..K-1, or drac | icdr; empty: the layout's
    channels: str = ""  # 1 | 3 | auto; empty: the layout's (DRAC 1; plain folders, fundus layouts auto)
    modality: str = "auto"  # auto | octa | fundus: what the images are (DataConfig's docstring)
    # side (px) every grey image is expected to have, square, else a warning: -1 = the layout's (DRAC: 1024
    # when read as UW-OCTA, the export; other layouts: no check); 0 = no check; e.g. 800 for a device exporting 800 x 800
    expected_side: int = -1
    fundus_crop: bool = False  # crop to the fundus disc and pad to square (off by default)
    graham: bool = False  # Graham's local-mean subtraction (Kaggle DR 2015 winner), off by default
    graham_mask: bool = True  # with graham: 128 outside 90 % of the disc radius
    cache_sizes: list[int] = field(default_factory=lambda: [256, 512])  # sides (px, 8..4096) of the resized copies the ingest caches; pretrain.augment.source_size picks one
    n_folds: int = 5  # folds of the cross-validation (stratified by grade, grouped by patient when known); >= 2
    fold_seed: int = 0  # seed of the stratified (patient-grouped when known) fold assignment
    # > 0: every pair of labelled images whose mean squared pixel difference (0..1 scale, on the smallest
    # cached copy, at most 64 px) is below this is kept in one fold, as one patient's (chains join);
    # 0 = off (per-image or patient folds as before). 1e-4 (1 % RMS): RetinaMNIST's 32 near twins (docs/data.md)
    near_duplicate_mse: float = 0.0
    strict: bool = False  # make the ingest's warnings fatal: colour converted to grey, mixed bit depths, sizes other than expected_side ...
    ungradable: str = "error"  # error | leave_out: a row with an empty or NA grade (DataConfig's docstring)
    missing: str = "error"  # error | leave_out: a label row whose image is not there (DataConfig's docstring)
    # 1..4: two grades made from the labels' ICDR grades, grade >= N -> 1 (referable), else 0 (2: moderate
    # or worse); works with data.grades empty (non-referable, referable), icdr, or two names of your own; 0 = off
    # (DataConfig's docstring)
    referable_from: int = 0
    workers: int = 0  # processes decoding the images in the ingest; 0 = the usable cores (affinity mask, cgroup CPU quota)
    # the embedded phantom DRAC set (data.root empty): graded training and ungraded test
    # images generated (DRAC Task 3's 611 / 386 by default) from a seed
    phantom_n_train: int = 611  # phantom set: graded training images generated
    phantom_n_test: int = 386  # phantom set: ungraded test images generated
    phantom_seed: int = 0  # phantom set: the seed its images are generated from

    def __post_init__(self) -> None:
        # a str from Python is read as the command line and YAML read it (split at commas),
        # never iterated as characters ("icdr" -> 4 grades i, c, d, r)
        for key, tp in (("grades", list[str]), ("cache_sizes", list[int])):
            value = getattr(self, key)
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                setattr(self, key, _data_config_coerce(value, tp, key))
        if isinstance(self.cache_sizes, (list, tuple)):  # sides from a numpy array: plain ints
            self.cache_sizes = type(self.cache_sizes)(
                int(v) if _whole_number(v) else v for v in self.cache_sizes)
        # a whole-number setting given as something else (workers="a", n_folds=2.5) is said
        # here, as load_config says it, not met as a bare TypeError deep in the ingest; "3" and
        # 3.0 are read as 3, numpy integers as ints (their range is the ingest's check)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                setattr(self, f.name, int(value) if _whole_number(value) else _data_config_coerce(value, int, f.name))
            # a switch given as text or a number (strict="false" was truthy: strict mode on) is
            # read as a config file's is, true / false in any case; "1", 0 refused; np.bool_ a bool
            elif f.type == "bool" and not isinstance(value, bool):
                numpy_bool = getattr(getattr(value, "dtype", None), "kind", "") == "b" and getattr(value, "shape", None) == ()
                setattr(self, f.name, bool(value) if numpy_bool else _data_config_coerce(value, bool, f.name))


def _whole_number(value: Any) -> bool:
    """Whether ``value`` is an integer of Python or numpy (:class:`numbers.Integral`: ``np.int64``
    from a notebook's array), never a bool (``True`` is no count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _data_config_coerce(value: Any, tp: Any, key: str) -> Any:
    """:func:`_coerce` of the :class:`DataConfig` setting ``key`` given in Python, its fix in a
    Python caller's words: ``DataConfig(workers=0)``, not the config file's ``data.workers=0``
    (the problem still names the setting ``data.workers``, as the docs and ``load_config`` do)."""
    try:
        return _coerce(value, tp, "DataConfig", f"data.{key}")
    except ConfigError as exc:
        text = str(exc)
        head, sep, fix = text.partition("\n  fix: ")
        if not sep:
            raise
        as_str = tp == list[str]

        def python(m: re.Match[str]) -> str:
            given = m.group(1)
            if as_str and given.startswith("["):  # [a, b]: the names as Python's str items
                given = repr([part.strip() for part in given.strip("[]").split(",")])
            elif tp is bool and given in ("true", "false"):  # Python's True / False
                given = given.capitalize()
            return f"DataConfig({key}={given})"

        fix = re.sub(rf"\bdata\.{re.escape(key)}=(\[[^\]]*\]|[^\s,]+)", python, fix)
        raise ConfigError(f"{head}{sep}{fix}") from None


@dataclass
class BackboneConfig:
    """The backbone. ``in_channels`` 0 (the default) takes the data's channels: 1 for grey
    UW-OCTA, 3 for colour fundus photographs (the ingest's ``data.channels``) or CIFAR-10; a
    value of 1 or 3 must equal the data's, else pretraining stops with an error naming both
    (nothing is converted silently). ``cifar_stem``: a 3x3 stride-1 first convolution and no
    max-pool, for small images (CIFAR-10 at 32 px, RetinaMNIST at 28 px), any data set.
    ``stem_stride``: the stride of that 3x3 convolution; 2 halves every feature map (a 28 px
    image gives layer4 2 x 2 maps instead of 4 x 4, a quarter of the compute of stride 1; the
    ImageNet stem leaves 1 x 1). Needs ``cifar_stem: true``."""

    arch: str = "resnet18"  # resnet18 | resnet34 | resnet50 (models.ARCHS; torchvision's, no weights downloaded)
    in_channels: int = 0  # 0: the data's channels; 1 or 3 must match the data
    cifar_stem: bool = False  # 3x3 conv, no max-pool, for small (28-64 px) images
    stem_stride: int = 1  # stride of the CIFAR stem's conv: 1 (CIFAR) or 2 (28 px fundus)
    weights: str = ""  # optional local weights file; nothing is ever downloaded


@dataclass
class VICRegLossConfig:
    """Coefficients of methods.md section 1 (official-code convention)."""

    sim_coeff: float = 25.0  # lambda: weight of the invariance term
    std_coeff: float = 25.0  # mu: weight of the variance term
    cov_coeff: float = 1.0  # nu: weight of the covariance term
    gamma: float = 1.0  # target standard deviation of the variance term (hinge on gamma - std)
    eps: float = 1e-4  # added to the variance under the square root (numerical stability)


@dataclass
class AugmentConfig:
    recipe: str = "octa"  # octa (grey UW-OCTA) | fundus (colour fundus) | cifar | mnist
    image_size: int = 224  # side (px) of the pretraining and UMM views
    source_size: int = 512  # which cached copy (a side of data.cache_sizes) the views are cut from
    crop_scale: list[float] = field(default_factory=lambda: [0.3, 1.0])  # random-resized-crop area range (fractions of the image) of the views
    on_gpu: bool = False  # batched tensor augmentation on the device (cifar/mnist)


@dataclass
class PretrainConfig:
    """VICReg pretraining. DRAC defaults are the recipe of the project brief.

    ``batch_size`` is the number of image pairs **per process**: under ``torchrun
    --nproc_per_node=N`` every step trains on N x ``batch_size`` pairs (the VICReg variance and
    covariance terms and, on CUDA, BatchNorm see that global batch) at the same ``lr``, which
    is not scaled; each process draws from 1/N of the images. To keep one GPU's recipe on N
    GPUs, divide ``batch_size`` by N.
    """

    epochs: int = 100  # epochs of VICReg pretraining (early stopping: patience)
    batch_size: int = 32  # pairs per process (torchrun: N x this per step; PretrainConfig's docstring)
    optimizer: str = "adam"  # the optimiser: adam | adamw | sgd | lars
    lr: float = 0.015  # the optimiser's peak learning rate, after the warm-up (not scaled with the batch or the processes)
    weight_decay: float = 1e-4  # L2 (adam, sgd, lars) or decoupled (adamw); on biases and norm layers only with decay_bias_and_norm
    decay_bias_and_norm: bool = False  # true: weight decay on biases and norm scales/shifts too (the official VICReg code and timm leave them out)
    momentum: float = 0.9  # momentum of sgd and lars
    lars_eta: float = 0.02  # LARS trust coefficient (solo-learn's CIFAR recipe; the official VICReg code: 0.001)
    lars_clip_lr: bool = True  # solo-learn's clipped LARS: step = min(eta * |p|, lr * |g|) (false: official rule)
    warmup_epochs: int = 0  # epochs over which the lr rises linearly to lr before the schedule; 0 = none
    schedule: str = "cosine"  # the lr after the warm-up: cosine (decays to lr x min_lr_ratio) | constant
    min_lr_ratio: float = 0.0  # cosine: the lr ends at lr x this (0: decays to 0)
    expander: str = "128-128-128"  # hidden-...-output widths of the expander MLP
    patience: int = 5  # early stopping on the epoch VICReg loss; 0 = off
    min_delta: float = 0.0  # early stopping: an epoch improves only by more than this (loss units)
    precision: str = "auto"  # training precision: auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    channels_last: bool = True  # NHWC memory format (faster convolutions on CUDA and recent CPUs)
    # torch.compile of the training model: auto = on CUDA only (on the CPU the compile costs more
    # than it saves), true | false. It pays on long runs: a ResNet-18 step took ~40 s to compile
    # once (a one-off observation, not measured by a bench).
    compile: str = "auto"
    # data-loading worker processes (pretraining's and UMM's CPU views, the fine-tuning's): speed
    # only, each view has its own seed; -1 = the usable cores but one (affinity mask, cgroup CPU
    # quota; environment.json records the count)
    num_workers: int = -1
    knn_every: int = 0  # k-NN monitor every N epochs when labels of two grades exist (else a line says it is off); 0 = off
    knn_k: int = 20  # neighbours of the k-NN monitor (cosine similarity, weighted vote: Wu et al. 2018)
    # the k-NN monitor scores at most this many images of each labelled split (train and
    # test): images i * n // knn_limit for i = 0..knn_limit-1, evenly spaced in the split's
    # order; 0 = all (the default: over 10k + 10k MNIST images a CPU takes minutes per score)
    knn_limit: int = 0
    # label-free rate-reduction monitor after every epoch: Delta R (umm.membership) of the
    # early-cut and last-layer features of this many fixed images, two fixed views each, eval
    # mode; 0 = off, else at least 2 (UMM's start_from=peak|past_peak needs it)
    monitor_images: int = 64
    max_steps_per_epoch: int = 0  # steps per epoch at most; 0 = the full epoch (small values for smoke tests)
    # ingested data sets: also pretrain (and run UMM) on the test split's images, without their
    # labels (transductive: the test images are seen, never their grades); false: the
    # training split only, so the test images stay unseen until the export
    use_test_images: bool = True
    # full checkpoint (checkpoints/last.pt, best.pt) every N epochs and at the last one; a
    # resumed run restarts from the last one written. 1 = every epoch. Each write of a
    # ResNet-18 + 2048-wide expander with its LARS state is ~250 MB, fsynced.
    checkpoint_every: int = 1
    loss: VICRegLossConfig = field(default_factory=VICRegLossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)


@dataclass
class UMMConfig:
    """Undoing Memorization Mechanism, methods.md section 2 (``drac_ssl.umm``).

    Outer objective ``F = L_ssl(theta') - alpha * Delta R(theta')`` (``outer_ssl``,
    ``alpha``; ``alpha = 0`` is the fair control, same two-level step); Adam at both levels
    with the same learning rate; the anchor-based soft membership of the paper's Appendix C
    (``membership``, ``membership_temperature``); a guard that stops UMM when the SSL loss
    rises more than ``max_ssl_rise`` above its value at the start; ``start_from`` picks the
    pretraining checkpoint (``past_peak``: the over-trained one, past the peak of the
    rate-reduction monitor).
    """

    enabled: bool = True  # false: the umm stage is skipped and fine-tuning has no vicreg_umm variant
    early_cut: str = "layer3"  # layer2 | layer3: frozen up to and including this stage
    epochs: int = 10  # epochs of UMM's bi-level re-tuning
    batch_size: int = 32  # images per UMM step (two views each); >= 2
    inner_lr: float = 1e-4  # xi: the inner optimiser's lr and the unrolled look-ahead step
    outer_lr: float = 1e-4  # the outer optimiser's lr (the authors: the same at both levels)
    alpha: float = 1.0  # weight of Delta R in the outer objective; 0 = the fair control
    outer_ssl: bool = True  # F = L_ssl - alpha Delta R (false: the pre-#13 objective -alpha Delta R alone)
    rate_reduction_on: str = "features"  # what the outer objective's Delta R is taken on: features (the pooled backbone features before the expander, methods.md's last-layer features) | embedding (the expander's outputs, where the authors' code takes it); rows L2-normalised, umm.eps2 and umm.membership either way
    outer_batch: str = "same"  # which batch the outer objective F is taken on: same (the inner step's batch and views) | next (the epoch's next batch with its own two views, the last step's the epoch's first: other data, as the authors' separate loader iterators; design.md's departures)
    membership: str = "soft"  # soft (anchor-based, the paper's Appendix C) | pairs (each image's two views)
    membership_temperature: float = 0.1  # tau of the soft membership's softmax of cosine similarity
    beta: float = 1.0  # weight of the JS alignment term
    eps2: float = 0.5  # eps^2 of the coding rate
    hypergradient: str = "unrolled"  # how the outer gradient through the inner step is taken: unrolled | neumann
    neumann_steps: int = 3  # neumann: terms of the inverse-Hessian series (0: first-order, the Hessian ignored)
    use_js: bool = True  # the JS alignment term (weight beta) in the inner loss; false: dropped (still logged)
    use_rate_reduction: bool = True  # false: no outer level at all (single-level training on L_in)
    outer_sign: str = "maximize"  # maximize Delta R (the paper) | minimize (alpha's sign flipped)
    early_stop_on_rate_reduction: bool = False  # stop once the last-layer Delta R on pretraining's probe has not risen for `patience` epochs, keep its best epoch (false: every epoch runs; the SSL-loss guard applies either way)
    patience: int = 5  # early_stop_on_rate_reduction: epochs without a rise of the last-layer Delta R before UMM stops
    max_ssl_rise: float = 0.1  # guard: stop when the epoch SSL loss exceeds (1 + this) x its start value; 0 = off
    max_step_ratio: float = 0.0  # guard: stop when a group's outer/inner step-norm ratio exceeds this; 0 = off
    start_from: str = "best"  # best | last | peak | past_peak: which pretraining checkpoint UMM starts from
    past_peak_drop: float = 0.05  # past_peak: the monitor must have fallen this fraction below its peak
    hvp: str = "exact"  # exact (double backward) | finite_difference (DARTS central difference)
    fd_radius: float = 0.01  # finite_difference: step r = fd_radius / ||v|| (DARTS)
    inner_optimizer: str = "adam"  # adam (the authors: Adam at both levels) | sgd (real inner step == the unrolled one)
    tune_expander: bool = True  # re-tune the expander with the layers after early_cut
    max_steps_per_epoch: int = 0  # steps per epoch at most; 0 = the full epoch (small values for smoke tests)

    @property
    def outer_on_next_batch(self) -> bool:
        """Whether the outer objective is taken on the epoch's next batch: ``outer_batch=next``
        with an outer level (``use_rate_reduction``; without it the setting is unused)."""
        return self.outer_batch == "next" and self.use_rate_reduction


@dataclass
class FinetuneConfig:
    head: str = "conv"  # the grading head: linear | mlp | conv | regression
    freeze: str = "frozen"  # which backbone layers train: frozen (none) | last (layer4) | all
    epochs: int = 30  # epochs of each fold's fine-tuning
    batch_size: int = 32  # images per fine-tuning step
    lr: float = 1e-3  # Adam's learning rate of the head (backbone layers being tuned: x backbone_lr_ratio)
    backbone_lr_ratio: float = 0.1  # backbone layers being tuned (freeze last | all) train at lr x this
    weight_decay: float = 1e-4  # Adam's L2 penalty on the head and the tuned layers (biases and norm layers: decay_bias_and_norm)
    decay_bias_and_norm: bool = False  # true: the L2 penalty on biases and norm scales/shifts too
    dropout: float = 0.3  # dropout before the head's last linear layer (0 <= p < 1)
    class_balance: str = "weighted_loss"  # how rare grades are weighed: weighted_loss | balanced_sampler | none
    patience: int = 5  # keep=best|inner: epochs without a better validation (inner-split) kappa before a fold stops; 0 = never stops early
    image_size: int = 224  # side (px) of the images fine-tuned on and graded, cut from the cached pretrain.augment.source_size copy
    compare_scratch: bool = True  # also fine-tune the same model from random weights (the scratch variant), for comparison
    tta: bool = True  # test-time augmentation: the mean output over four flips of each image, in the folds' scores and (by default) the bundle's grades
    # random-resized-crop area range (fractions of the image) of the training views; milder
    # than pretraining's: a small crop of an ultra-wide field may cut away the only lesion
    crop_scale: list[float] = field(default_factory=lambda: [0.6, 1.0])
    frozen_train_views: int = 4  # freeze=frozen: augmented views per image, features precomputed (<= epochs)
    mlp_hidden: int = 256  # head=mlp: width of the hidden layer
    conv_head_channels: int = 128  # head=conv: channels of its 1x1 and 3x3 convolutions
    n_boot: int = 1000  # bootstrap resamples of the out-of-fold kappa's 95% confidence interval
    # class decision: thresholds = the expected grade cut at K-1 kappa-tuned thresholds (QWK,
    # DRAC's ranking score); argmax = the most probable calibrated grade (accuracy). Both are
    # reported in metrics.json; this one is stored in the calibration and the bundle.
    decision: str = "thresholds"
    # which weights of each fold are kept: last = the weights after the last epoch: no epoch is
    # chosen on the validation fold, the rows the out-of-fold metrics score (finetune.patience
    # is then not used); best = the epoch with the best validation
    # kappa (the lowest validation loss among equal kappas; early stopping with patience), chosen
    # on the very fold it is then scored on, so its kappa is optimistic (the other figures off
    # either way), by an amount not the same for every variant (python -m bench.keep_selection
    # indicates it on a run: best − last, which mixes that optimism with what a tuned epoch
    # honestly adds: the two cannot be split); inner = honest early stopping: each fold holds out
    # finetune.inner_fraction of its training images (an inner split, grade-stratified, patients
    # and near-twin groups kept whole), trains on the rest and keeps the epoch with the best
    # inner-split kappa (same tie rule and patience as best); the validation fold is scored
    # once, with the kept weights, and chooses nothing (python -m bench.keep_selection --rules
    # last,inner measures its cost or gain against last on a run)
    keep: str = "last"
    # keep=inner: the fraction (0 < f <= 0.5) of each fold's training images (of its patients or
    # image groups, when the folds keep those whole) held out as the inner split that chooses the
    # epoch; drawn per fold, stratified by grade, seeded by the fine-tuning's seed (the same
    # split for every variant). Not read under keep=last|best.
    inner_fraction: float = 0.15
    # LP-FT (Kumar et al., ICLR 2022, "Fine-Tuning can Distort Pretrained Features and
    # Underperform Out-of-Distribution"): the first N of finetune.epochs train the head alone on
    # the frozen pretrained backbone (batch-norm statistics fixed too), then the rest train what
    # finetune.freeze leaves trainable, on the same learning-rate schedule. Only for variants
    # with pretrained weights (a random backbone has no features to keep) and freeze=last|all.
    # With keep=best|inner the warm-up epochs are never kept and do not count towards the patience.
    head_warmup_epochs: int = 0
    # Low-label protocol: each fold trains on this fraction of its training images (drawn per
    # fold, stratified by grade with at least one image of each, seeded by the fine-tuning's
    # seed: the same images for every variant) and is
    # still scored on its whole validation fold, so the out-of-fold metrics cover every
    # labelled image. 1.0 = all. An epoch is one pass over the drawn images: raise
    # finetune.epochs to keep the number of optimiser steps (e.g. 0.1 -> about 7x-8x).
    label_fraction: float = 1.0
    # The seed of the fine-tuning alone (head init, scratch's backbone init, batch order,
    # augmentation, the label_fraction draw, the bootstrap); -1 = run.seed. Another value
    # repeats the fine-tuning on the same pretraining (with run.reuse: without pretraining again).
    seed: int = -1
    # Referable DR, the binary screening figure reported beside the grades (Gulshan et al.,
    # JAMA 2016; Krause et al., Ophthalmology 2018; ICO guidelines): grade >= r against below.
    # auto: r = 2 (moderate NPDR or worse) on the ICDR scale (data.grades=[icdr]), off on any
    # other scale (DRAC's Normal/NPDR/PDR has no standard cut: set 1 for "any DR", 2 for PDR)
    # but two grades, where it is 1 (grade 1 referable); an integer r in 1..K-1; off. Only what
    # is reported changes (metrics.json, report.md, the model card, the export's _referable.csv,
    # the app), never a fold's training.
    referable_from: str = "auto"
    # The referral cut for a screening target: sensitivity:L (refer when P(referable) >= the
    # most specific cut that finds at least L of the referable images) or specificity:L (the
    # most sensitive cut that clears at least L of the others); of cuts equal on that figure,
    # the better on the target's; L in (0, 1), e.g. sensitivity:0.90; off (the default): none. P(referable) = P_r + ... +
    # P_{K-1}, r = finetune.referable_from (needed: not off). Each fold's cut is cross-fitted as
    # the kappa thresholds are (on the other folds' out-of-fold outputs); the deployed one is
    # fitted on the pooled out-of-fold outputs (not cross-fitted); metrics.json's referable.referral gives the sensitivity and
    # specificity it reached out of fold with 95% CIs. Stored in the calibration and the bundle:
    # the export's _referable.csv and the app refer by it. With K = 2 it IS the grade decision
    # (grade 1 when P1 >= the cut, instead of finetune.decision's); with K > 2 the grades are
    # unchanged. Never a fold's training.
    referral_target: str = "off"


@dataclass
class RunConfig:
    out_dir: str = "runs"  # the folder run folders are made in (run.out_dir/run.name)
    name: str = ""  # the run folder's name in run.out_dir; empty: <dataset>-<date>-<time>
    # make a NEW run folder with mode 0700, its owner's alone: other local accounts cannot list
    # or read what it holds (file names and patient IDs in data/manifest.csv, the images' pixels
    # in data/cache/, finetune/*/oof.csv: docs/running.md); false: the system's default mode
    # (0777 less the umask, often 0755: readable by every local account). A folder that exists
    # with no run in it yet (an ingest's, one made by hand) is made 0700 too; one holding a run
    # keeps its mode. Output only: it may change on resume.
    private: bool = True
    seed: int = 0  # seed of the run's random draws (finetune.seed=-1 takes it too)
    device: str = "auto"  # where the stages compute: auto | cpu | cuda | cuda:N
    stages: list[str] = field(  # the stages to run, each once, in pipeline order
        default_factory=lambda: ["ingest", "pretrain", "umm", "finetune", "export"]
    )
    # also write the pretrain and UMM epoch metrics as TensorBoard scalars to
    # <run_dir>/<stage>/tensorboard/ (tags <stage>/<key>, x = the global step); needs the
    # optional package: pip install -e ".[tensorboard]". Output only: it may change on resume.
    tensorboard: bool = False
    # CPU threads of torch and OpenCV in this process; 0 = the package's policy (half the
    # usable cores, 1..4; OMP_NUM_THREADS when set): drac_ssl.runtime.default_threads.
    # Changes speed, not results (beyond float rounding): it may change on resume.
    threads: int = 0
    # Another run folder whose finished ingest / pretrain / umm stages a NEW run folder takes
    # instead of running them again, in pipeline order while their settings equal this run's
    # (ingest: data.*; pretrain: + pretrain.*, run.seed and the monitor's umm settings; umm:
    # + umm.*; run.device does not count): e.g. another
    # fine-tuning on the same pretraining. A change of the folds alone (data.fold_seed,
    # n_folds, near_duplicate_mse) takes pretrain and umm and runs the ingest again. Files are hard links (copies where links cannot be
    # made); stages.json says what came from where. Ignored when the run folder exists already.
    reuse: str = ""
    # false: once every stage of run.stages has finished (never earlier: an interrupted stage
    # resumes from them), remove the optimiser-state checkpoints of the finished pretrain and
    # umm stages (<run_dir>/pretrain/checkpoints/, umm/checkpoints/: about half of a run
    # folder); stages.json records it. Nothing a later stage or run.reuse reads by default is
    # lost, but a later umm.start_from=last|peak|past_peak on this run's pretraining (run.reuse)
    # is then impossible; the pretraining's are kept while a UMM of this folder still needs
    # them. Output only: it may change on resume (a rerun with false removes them too).
    keep_checkpoints: bool = True


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    umm: UMMConfig = field(default_factory=UMMConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    run: RunConfig = field(default_factory=RunConfig)


# --------------------------------------------------------------------------------------
# Loading, merging, overriding, saving


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _as_text(value: Any) -> str:
    """A value as it is written in a ``key=value`` override (and in YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_as_text(v) for v in value) + "]"
    return str(value) if value != "" else "''"


@dataclass(frozen=True)
class FixBase:
    """Where a fix finds the value it suggests in place of a bad one: ``cfg``, the configuration
    the ``-c`` file ``file`` gave, as loaded before the command line's overrides
    (:func:`load_config`, :func:`drac_ssl.preflight.read_config`). With ``-c
    configs/retinamnist.yaml pretrain.epochs=-1`` the fix is ``pretrain.epochs=20 (as in
    configs/retinamnist.yaml)``, not the built-in default's 100 (:func:`fallback`)."""

    cfg: Config
    file: str


_UNSET: Any = object()


def fallback(setting: str, fixes: FixBase | None = None, bad: Any = _UNSET) -> tuple[Any, str]:
    """The value a fix suggests for ``setting`` and the words saying whose it is: the ``-c``
    file's (``fixes``: ``as in FILE``) where the file sets a value other than the built-in
    default that is valid (in its range and choices) and is not ``bad`` (the file's own value
    may be the bad one); else the built-in default's (``the default``).

    Raises:
        AttributeError: ``setting`` is no setting of :class:`Config`."""
    default = get(Config(), setting)
    if fixes is not None:
        value = get(fixes.cfg, setting)
        r, choices = NUMBER_RANGES.get(setting), _CHOICES.get(setting)
        if (value != default and (bad is _UNSET or value != bad) and (r is None or r.holds(value))
                and (choices is None or value in choices)):
            return value, f"as in {fixes.file}"
    return default, "the default"


def _default_fix(key: str, fixes: FixBase | None = None, bad: Any = _UNSET) -> str:
    """``\n  fix: SETTING=DEFAULT (the default)`` for a setting of :class:`Config` (a list's
    item ``x[0]``: the whole list's default), or the ``-c`` file's value (:func:`fallback`:
    ``SETTING=VALUE (as in FILE)``); a number setting whose range has a ``fix``
    (:data:`NUMBER_RANGES`) gets that instead of the default; "" for a key that is not one."""
    setting = key.split("[", 1)[0]
    try:
        value, words = fallback(setting, fixes, bad if setting == key else _UNSET)
    except AttributeError:
        return ""
    if value in ("", [], None):  # an empty default means "none" or "auto": no example of a value
        kind = "path" if setting.endswith(("root", "csv", "weights", "reuse", "dir")) else "value"
        return f"\n  fix: {setting}=<a {kind}>, or leave it out for the default (empty)"
    r = NUMBER_RANGES.get(setting)
    if words == "the default" and r is not None and r.fix:  # the range's own fix: one wording for a
        return f"\n  fix: {r.fix}"  # value out of range and for one that is no number at all
    return f"\n  fix: {setting}={_as_text(value)} ({words})"


PAIR_LISTS = frozenset({"crop_scale"})
"""List settings that are a (min, max) pair, never a list of one value."""
CACHE_SIZES = (8, 4096)
"""The smallest and largest side, in pixels, of a cached copy (``data.cache_sizes``)."""


def valid_cache_size(size: Any) -> bool:
    """Whether ``size`` is a side ``data.cache_sizes`` may hold (:data:`CACHE_SIZES`)."""
    return _whole_number(size) and CACHE_SIZES[0] <= size <= CACHE_SIZES[1]


def _one_value_fix(key: str, value: Any, item_tp: Any, fixes: FixBase | None = None) -> str:
    """The fix for a list setting given one value (``data.cache_sizes: 64``): that value as a
    list of one (``[64]``) when it is a valid item (a cache size in :data:`CACHE_SIZES`) and the
    list is not a pair (:data:`PAIR_LISTS`), else the default (or the ``-c`` file's value)."""
    default = get(Config(), key)
    if not default:
        return f"\n  fix: {key}=[a, b]"
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)  # np.int64 too; strings were split
    fits = number and (item_tp is float or (item_tp is int and _whole_number(value)))
    if key == "data.cache_sizes":
        fits = fits and valid_cache_size(value)
    if not fits or key.rsplit(".", 1)[-1] in PAIR_LISTS:
        return _default_fix(key, fixes)
    return f"\n  fix: {key}=[{_as_text(value)}] (a list, even of one value; the default is {_as_text(default)})"


_YAML11_BOOLS = {"yes": "true", "y": "true", "on": "true", "no": "false", "n": "false", "off": "false"}
"""YAML 1.1's boolean words (read as words: :class:`YamlLoader`) and the boolean each meant."""


def _grade_names_read_as_values(value: list[Any], where: str) -> None:
    """A ConfigError when ``data.grades`` holds an item YAML read as a boolean (``true``), a
    number (``1``) or a one-pair mapping (``- DR: yes``, a colon and a space in a name): grade
    names are words, and a list of numbers is most often label values taken for names."""
    def odd_(v: Any) -> bool:
        return isinstance(v, (bool, int, float, NumberText))

    pairs = [v for v in value if isinstance(v, dict) and len(v) == 1]
    if pairs:  # "- DR: yes": YAML reads a colon and a space inside an item as key: value (a review)
        text = ", ".join(f"{k}: {_as_text(v)}" for pair in pairs for k, v in pair.items())
        raise ConfigError(
            f"{where}: 'data.grades' holds {text}, read as a key and its value, not as a name: in YAML a "
            f"colon followed by a space makes a mapping.\n"
            f"  fix: quote the name in the file (- \"{text.split(', ')[0]}\"), or drop the colon")
    odd = [v for v in value if odd_(v)]
    if not odd:
        return
    said = [str(v) if isinstance(v, NumberText) else _as_text(v) for v in odd]
    listed = f"{', '.join(said[:-1])} and {said[-1]}" if len(said) > 1 else said[0]
    kinds = {"boolean" if isinstance(v, bool) else "number" for v in odd}
    kind = " or ".join(sorted(kinds))
    kind = f"{kind}s" if len(said) > 1 else f"a {kind}"
    quoted = "[" + ", ".join(repr(str(v) if isinstance(v, NumberText) else _as_text(v)) if odd_(v)
                             else str(v) for v in value) + "]"
    raise ConfigError(
        f"{where}: 'data.grades' holds {listed}, read as {kind}, not words: grade names are "
        f"words, the names of grades 0..K-1 in order (the label CSV holds the numbers).\n"
        f"  fix: name the grades, e.g. data.grades=[no referable DR, referable DR] or "
        f"data.grades=[Normal, NPDR, PDR]; to use {listed} as names, quote them: data.grades={quoted}")


PHANTOM_PNG_MIB_ESTIMATE = 0.845
"""About how many MiB one phantom image takes (:data:`data_prep.phantom.PNG_MIB_ESTIMATE`, where
it is measured): here, without numpy, for the training's ``--help`` (the ``--first-try`` on the
phantom set says what it writes)."""

EMPTY_PATH_MEANS = {"data.root": "the embedded phantom UW-OCTA set (generated under data/phantom)",
                    "data.labels_csv": "the only CSV in data.root",
                    "pretrain.backbone.weights": "no weights file",
                    "run.reuse": "no other run's stages taken"}
"""The path settings whose empty value means something of its own, and what: a value YAML reads
as none (``root: ~``, ``root: null``, ``root:``) is an error for them (:func:`_null_path_text`),
not taken for the empty path; ``data.root=`` typed empty on the command line is one too
(:func:`parse_override`)."""


EMPTY_RUN_NAME_MEANS = "the name <dataset>-<date>-<time>"
"""What an empty ``run.name`` means: the run folder gets an automatic name."""


def _null_path_text(where: str, key: str) -> str:
    """The error of a path setting of :data:`EMPTY_PATH_MEANS`, or of ``run.name``, that YAML
    read as none, and the fix (in the file's words: ``root: ""`` for the empty path,
    ``name: ""`` for the automatic run name; ``root: "~"`` for the home folder, offered for
    ``data.root`` alone: the home folder is no weights file, run or label CSV)."""
    name = key.rsplit(".", 1)[-1]
    if key == "run.name":  # refused as run.name=null is on the command line (_no_value_word_text)
        return (f"{where}: '{key}' has no value: YAML reads ~, null and nothing after the colon as "
                f"none, not as a name, and an empty {key} means {EMPTY_RUN_NAME_MEANS}.\n"
                f"  fix: {name}: my-run (or {name}: \"\" for {EMPTY_RUN_NAME_MEANS})")
    home = f"{name}: \"~\" for the home folder; " if key == "data.root" else ""
    return (f"{where}: '{key}' has no value: YAML reads ~, null and nothing after the colon as "
            f"none, not as a path (nor ~ as the home folder), and an empty {key} means "
            f"{EMPTY_PATH_MEANS[key]}.\n  fix: {name}: /the/path (or {home}{name}: \"\" for "
            f"{EMPTY_PATH_MEANS[key]})")


EMPTY_TEXT_MEANS = {"data.patient_column": ("no patient column (the patients the layout names itself "
                                             "where it does, else folds not grouped by patient)",
                                             "the CSV's patient column, e.g. patient_id"),
                    "data.site_column": ("no site column (the folds stratified by grade alone, the figures pooled)",
                                         "the CSV's site column, e.g. site"),
                    "data.channels": ("the layout's (1 for DRAC, auto for a plain folder and the "
                                      "fundus layouts)", "auto, 1 or 3")}
"""The other text settings whose empty value means something, what it means and the values to
write instead: written as YAML's none in a config file (``patient_column: ~``), they are refused
(:func:`_null_text_text`) as the paths of :data:`EMPTY_PATH_MEANS` are, with the empty value
asked for in so many words (``patient_column: ""``) as one fix."""


def _null_text_text(where: str, key: str, fixes: FixBase | None = None) -> str:
    """The error of a text setting outside :data:`NO_VALUE_WORDS_REFUSED` that YAML read as none
    (``image_column: ~``, ``layout: null``, nothing after the colon) in a config file, and the
    fix in the file's words: for one of :data:`EMPTY_TEXT_MEANS` what its empty value means and
    ``name: ""`` for it, else the default (or the ``-c`` file's value: :func:`fallback`) and the
    setting's choices where it has some (the setting has no empty value: YAML's none was read as
    "" before, silently)."""
    name = key.rsplit(".", 1)[-1]
    head = f"{where}: '{key}' has no value: YAML reads ~, null and nothing after the colon as none"
    if key in EMPTY_TEXT_MEANS:
        means, values = EMPTY_TEXT_MEANS[key]
        return (f"{head}, and an empty {key} means {means}.\n  fix: {name}: {values} (or {name}: \"\" "
                f"for {means.split(' (')[0]})")
    value, words = fallback(key, fixes)
    choices = [c for c in _CHOICES.get(key, ()) if c]
    listed = f"; one of {', '.join(choices)}" if choices else ""
    left_out = ", as when the line is left out)" if words == "the default" else "), or leave the line out for the default"
    return (f"{head}, not as text, and {key} has no empty value.\n  fix: {name}: {_as_text(value)} "
            f"({words}{listed}{left_out}")


def _null_item_text(where: str, key: str, i: int) -> str:
    """The error of item ``i`` of the list of text settings ``key`` that YAML read as none
    (``unlabelled: [~]``, ``grades: [null, x]``, an empty ``-``), and the fix in the file's
    words: for ``data.unlabelled`` ``"~"`` quoted for the home folder (as ``root: "~"``; the
    command line's ``data.unlabelled=[~]`` is the home folder too), for ``data.grades`` the
    word quoted as a grade's name."""
    what, fix = {
        "data.unlabelled": ("a folder", 'the folder\'s path, "~" (quoted) for the home folder (as '
                                        'root: "~"), or leave the item out'),
        "data.grades": ("a grade's name", 'name every grade, e.g. grades: [Normal, NPDR, PDR]; to '
                                          'name a grade null, quote it: "null"'),
    }.get(key, ("text", "leave the item out"))
    return (f"{where}: '{key}[{i}]' has no value: YAML reads ~, null and an empty item as none, "
            f"not as {what}.\n  fix: {fix}")


def _not_finite_text(where: str, key: str, value: Any, fixes: FixBase | None = None) -> str:
    """The error of an inf or NaN given to number setting ``key``: the value, the setting's
    range (:data:`NUMBER_RANGES`) where it has one, and the fix."""
    text = str(value) if isinstance(value, str) else _as_text(value)
    r = NUMBER_RANGES.get(key)
    return (f"{where}: '{key}' is {text}, not a finite number" + (f": it {r.words()}" if r else "")
            + f".{_default_fix(key, fixes)}")


def _no_underscores(value: Any, where: str, key: str, kind: str, fixes: FixBase | None = None) -> None:
    """A ConfigError for a number setting's text written with ``_``, which Python's ``float()``
    would read (PEP 515) but YAML 1.2's core schema, whose numbers the config follows
    (:func:`yaml12_number`), does not: ``1_000`` is text there, as ``1:40`` is. Where the
    digits without ``_`` are a YAML 1.2 number the error says why (YAML 1.2 writes numbers
    without '_') and offers them where they fit the setting (an integer for an integer
    setting, inside its range: :data:`NUMBER_RANGES`; ``pretrain.epochs=1000``), else the
    setting's default (or the ``-c`` file's value); text that is no number without its ``_``
    either (``my_lr``) gets the plain "not a number" error."""
    if not (isinstance(value, str) and "_" in value):
        return
    digits = value.strip().replace("_", "")
    _refuse_number_text(value, digits, "without '_'", where, key, kind, fixes)


def _ascii_digits(text: str) -> str:
    """``text`` with each Unicode decimal digit that is not ASCII (Arabic-Indic ``٣``, full-width
    ``３``) as its ASCII digit (``3``); any other character kept."""
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and unicodedata.decimal(c, None) is not None
                   else c for c in text)


def _ascii_only(value: Any, where: str, key: str, kind: str, fixes: FixBase | None = None) -> None:
    """A ConfigError for a number setting's text holding a character that is not ASCII: Python's
    ``float()`` and ``int()`` read any Unicode decimal digit (``٣``, ``３``: 3) and Unicode spaces,
    but YAML 1.2's core schema, whose numbers the config follows (:func:`yaml12_number`), writes
    numbers in ASCII alone. Where the text with its digits made ASCII is a number the error says
    why and offers those digits where they fit the setting (:func:`_no_underscores`' rule), else
    the setting's default (or the ``-c`` file's value)."""
    if not (isinstance(value, str) and not value.isascii()):
        return
    _refuse_number_text(value, _ascii_digits(value.strip()), "in ASCII digits (0-9)", where, key, kind, fixes)


def _refuse_number_text(value: str, digits: str, how: str, where: str, key: str, kind: str,
                        fixes: FixBase | None = None) -> None:
    """Raise the ConfigError of number setting ``key`` given the text ``value``, which Python reads
    as a number and YAML 1.2 does not: where ``digits`` (the text as YAML 1.2 writes it) is a
    number, why (``YAML 1.2 writes numbers HOW``) and ``digits`` as the fix when it fits the
    setting (an integer for an integer setting, inside its range: :data:`NUMBER_RANGES`; not a
    list's item), else the setting's default (or the ``-c`` file's value)."""
    number = yaml12_number(digits) if digits.isascii() else None
    why = f": YAML 1.2 writes numbers {how}" if number is not None else ""
    r = NUMBER_RANGES.get(key)
    fits = (number is not None and "[" not in key and math.isfinite(number)
            and (kind != "an integer" or float(number).is_integer()) and (r is None or r.holds(number)))
    fix = f"\n  fix: {key}={digits}" if fits else _default_fix(key, fixes, value)
    raise ConfigError(f"{where}: '{key}' must be {kind}, got {value!r}, which is not a number{why}.{fix}")


def _empty_text(where: str, key: str, kind: str, fixes: FixBase | None, value: Any) -> str:
    """The error of the ``kind`` setting ``key`` (an integer, a number, true or false, a list)
    given no value: YAML's none in a file (``epochs:`` with nothing after the colon, ``~``,
    ``null``) or an empty word on the command line (``pretrain.epochs=``): "is empty", not "got
    None" (a CLI review), with the default (or the ``-c`` file's value) as the fix."""
    how = ("nothing after the '='" if where.startswith("command line") else
           "nothing after its colon, or ~ or null, which YAML reads as none")
    return f"{where}: '{key}' is empty ({how}): it must be {kind}.{_default_fix(key, fixes, value)}"


_EMPTY_KINDS: dict[Any, str] = {int: "an integer", float: "a number", bool: "true or false"}
"""The setting types whose empty value :func:`_coerce` says in :func:`_empty_text`'s words."""


def _coerce(value: Any, tp: Any, where: str, key: str, fixes: FixBase | None = None) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError otherwise, with
    the setting's default (or the ``-c`` file's value, ``fixes``: :func:`fallback`) as the fix."""
    origin = typing.get_origin(tp)
    if (value is None or (isinstance(value, str) and not value.strip())) and (
            tp in _EMPTY_KINDS or (value is None and origin in (list, tuple))):
        raise ConfigError(_empty_text(where, key, _EMPTY_KINDS.get(tp, "a list"), fixes, value))
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            first = dataclasses.fields(tp)[0].name  # a real setting of the section, as example
            example = _as_text(getattr(tp(), first))
            unspaced = _keys_without_space_in(value)
            if unspaced and where.startswith("command line"):
                fix = f"give its settings one by one: {' '.join(f'{key}.{k}={v}' for k, v in unspaced)}"
            elif unspaced:  # `  epochs:3`, the section's only or last key: YAML read one text
                fix = ("a mapping key needs a space after the colon (YAML read "
                       f"{value!r} as one text, not {'a key' if len(unspaced) == 1 else 'keys'} and "
                       f"{'its value' if len(unspaced) == 1 else 'their values'}): write "
                       + in_words([f"`{k}:{v}` as `{k}: {v}`" for k, v in unspaced], "and")
                       + f", indented under `{key.rsplit('.', 1)[-1]}:`.")
            elif where.startswith("command line"):
                fix = f"give its settings one by one, e.g. {key}.{first}={example}"
            else:  # each level of a dotted key one indent under the one above: pasteable YAML
                parts = [*key.split("."), f"{first}: {example}"]
                block = "\n".join(f"  {'  ' * i}{part}{':' * (i < len(parts) - 1)}"
                                  for i, part in enumerate(parts))
                fix = f"write it as a YAML block, e.g.\n{block}"
            raise ConfigError(f"{where}: '{key}' must be a mapping of settings, got {value!r}.\n  fix: {fix}")
        return _merge(tp(), value, where, key, fixes)
    if origin in (list, tuple):
        (item_tp,) = typing.get_args(tp)[:1] or (Any,)
        if isinstance(value, str):  # allow a=1,2,3 on the command line
            text = value.strip()
            if (text.startswith("[") and "]" not in text) or (text.endswith("]") and "[" not in text):
                # [64 or 64]: a bracket typed and its pair forgotten, not a '[64' item
                which = "closed" if text.startswith("[") else "opened"
                missing = "closing ']'" if text.startswith("[") else "opening '['"
                raise ConfigError(f"{where}: '{key}' is a list that is not {which}: '{text}' has no "
                                  f"{missing}.\n  fix: {key}=[{text.strip('[]')}]")
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            fix = _one_value_fix(key, value, item_tp, fixes)
            raise ConfigError(f"{where}: '{key}' must be a list, got {value!r}.{fix}")
        if item_tp is str and None in value:  # 'unlabelled: [~]': none, not '' (the current folder)
            raise ConfigError(_null_item_text(where, key, list(value).index(None)))
        if key == "data.grades":
            _grade_names_read_as_values(list(value), where)
        return [_coerce(v, item_tp, where, f"{key}[{i}]", fixes) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):  # "false" quoted: False
            return value.lower() == "true"
        word = str(value).strip().lower()
        if isinstance(value, str) and word in ("true", "false"):  # " true": the word with spaces around it
            fix = (f"\n  fix: {key}={word} (without the spaces: {value!r} is not the word {word})")
        elif isinstance(value, str) and word in _YAML11_BOOLS:  # YAML 1.1's booleans are words here
            fix = (f"\n  fix: {key}={_YAML11_BOOLS[word]} (write true or false: only they are "
                   f"booleans, {value!r} is a word)")
        elif isinstance(value, str) and word in ("1", "0"):  # "1" quoted: refused as 1 unquoted is
            fix = (f"\n  fix: {key}={'true' if word == '1' else 'false'} (write true or false: only "
                   f"they are booleans, {value!r} is text)")
        else:
            fix = _default_fix(key, fixes, value)
        raise ConfigError(f"{where}: '{key}' must be true or false, got {value!r}.{fix}")
    if tp is int:
        if _whole_number(value):  # numpy's too (np.int64 from a notebook's array), exactly
            return int(value)
        if isinstance(value, bool) or not isinstance(value, (str, float)):
            raise ConfigError(f"{where}: '{key}' must be an integer, got {value!r}.{_default_fix(key, fixes, value)}")
        _no_underscores(value, where, key, "an integer", fixes)
        _ascii_only(value, where, key, "an integer", fixes)
        try:
            as_float = float(value)
        except ValueError:  # '1:40', '0b101': YAML 1.1's numbers are text under 1.2
            raise ConfigError(f"{where}: '{key}' must be an integer, got {value!r}, which is not a "
                              f"number.{_default_fix(key, fixes, value)}") from None
        if not math.isfinite(as_float):
            raise ConfigError(_not_finite_text(where, key, value, fixes))
        if not as_float.is_integer():
            raise ConfigError(f"{where}: '{key}' must be an integer, got {value!r}.{_default_fix(key, fixes, value)}")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}.{_default_fix(key, fixes, value)}")
        _no_underscores(value, where, key, "a number", fixes)
        _ascii_only(value, where, key, "a number", fixes)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}.{_default_fix(key, fixes, value)}") from None
        if not math.isfinite(number):
            raise ConfigError(_not_finite_text(where, key, value, fixes))
        return number
    if tp is str:
        if value is None:
            if key in NO_VALUE_WORDS_REFUSED:  # an empty value that means something: asked for as ""
                raise ConfigError(_null_path_text(where, key))
            raise ConfigError(_null_text_text(where, key, fixes))  # none is no text: not read as ""
        if isinstance(value, bool):  # YAML's true/false for a setting that also takes words
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: '{key}' must be a string, got {value!r}.{_default_fix(key, fixes, value)}")
        return str(value)
    return value


def close_match(word: Any, names: Sequence[str]) -> str:
    """The name in ``names`` closest in spelling to ``word`` (difflib, its default cutoff 0.6),
    or "" when none is close: the "Did you mean" of an unknown setting or stage name. Spelling
    is compared lower-cased, so a name typed in another case (``pretrain.LR``, ``finetune.Lr``)
    is offered as the name it is."""
    lowered: dict[str, str] = {}
    for name in names:
        lowered.setdefault(str(name).lower(), name)
    found = difflib.get_close_matches(str(word).lower(), list(lowered), n=1)
    return lowered[found[0]] if found else ""


SETTING_SYNONYMS: dict[str, dict[str, str]] = {
    "data": dict.fromkeys(("label", "labels", "label_column", "labels_column", "diagnosis",
                           "diagnosis_column", "level", "dr_grade", "grade", "grade_col",
                           "label_col"), "grade_column"),
}
"""Setting names a user types for another setting of the section, offered before a close
spelling (:func:`meant_setting`): the name of the label CSV's grade column said as other tools
and the public sets say it (``label``, ``diagnosis``: APTOS, ``level``: EyePACS, ``dr_grade``) is
``data.grade_column``, or, as the value says (:func:`meant_setting`), ``data.labels_csv`` (a
path) or ``data.grades`` (a scale). By spelling alone ``label`` is ``unlabelled`` and ``label_column`` is
``image_column``: a trial user who followed that fix read the grades from the wrong column."""


def meant_setting(section: str, word: Any, names: Sequence[str], value: Any = None) -> str:
    """The setting of the section ``section`` (``data``; "" at the top) whose name ``names``
    lists that an unknown name ``word`` meant: its synonym (:data:`SETTING_SYNONYMS`) as its
    ``value`` says (:func:`_grade_setting_by_value`), else the closest spelling
    (:func:`close_match`), else ""."""
    synonym = SETTING_SYNONYMS.get(section, {}).get(str(word).lower(), "")
    if synonym == "grade_column":
        synonym = _grade_setting_by_value(value)
    return synonym if synonym in names else close_match(word, names)


def _grade_setting_by_value(value: Any) -> str:
    """Which of the data settings a grade column's other name (``data.labels``, ``data.grade``)
    set to ``value`` meant: a path or a file ending .csv / .tsv (``/data/trainLabels.csv``) is
    ``labels_csv``, a list of names or a scale's name (``[no, mild]``, ``icdr``) ``grades``,
    anything else (a column's name, ``level``; no value) ``grade_column``."""
    text = "" if value is None or isinstance(value, (list, tuple)) else str(value).strip()
    if isinstance(value, (list, tuple)) or text.startswith("[") or text.lower() in GRADE_SCALES:
        return "grades"
    if text.lower().endswith((".csv", ".tsv")) or "/" in text or "\\" in text:
        return "labels_csv"
    return "grade_column"


CLOSE_NAME_CUTOFF = 0.8
"""How close (difflib's ratio) a name typed without its section must be to a setting's name to be
offered as meant (``lrr`` -> ``lr``, ``epoch`` -> ``epochs``): stricter than a name within its
section (:func:`close_match`), as it is compared with every section's names and an option the
command does not have (``--version``, ``--out``) should stay argparse's own refusal."""


def _setting_names(base: Any) -> list[str]:
    """The last parts of every setting of dataclass ``base``, each once, in the sections' order."""
    found: list[str] = []
    for f in dataclasses.fields(base):
        value = getattr(base, f.name)
        for name in (_setting_names(value) if dataclasses.is_dataclass(value) else [f.name]):
            if name not in found:
                found.append(name)
    return found


def close_setting_name(word: str) -> str:
    """The name of a setting, in any section, closest in spelling to ``word`` (``lrr`` -> ``lr``,
    ``num_worker`` -> ``num_workers``; :data:`CLOSE_NAME_CUTOFF`), or "" when none is close."""
    found = difflib.get_close_matches(word.lower(), _setting_names(Config()), n=1, cutoff=CLOSE_NAME_CUTOFF)
    return found[0] if found else ""


def _settings_ending(base: Any, last: str, prefix: str = "") -> list[str]:
    """The dotted settings of dataclass ``base`` whose last part is ``last``, in the order
    of the sections (``epochs`` -> pretrain.epochs, umm.epochs, finetune.epochs)."""
    found = []
    for f in dataclasses.fields(base):
        value = getattr(base, f.name)
        if dataclasses.is_dataclass(value):
            found += _settings_ending(value, last, f"{prefix}{f.name}.")
        elif f.name == last and prefix:
            found.append(f"{prefix}{f.name}")
    return found


def settings_named(name: str) -> list[str]:
    """The dotted settings ``name`` may mean: itself when it is one (``pretrain.lr``), else
    every setting whose last part is its last part (``lr`` or ``train.lr`` -> ``pretrain.lr``,
    ``finetune.lr``); empty when none is."""
    tp = _declared_type(name.split("."))
    if tp is not None and not dataclasses.is_dataclass(tp):
        return [name]
    return _settings_ending(Config(), name.rsplit(".", 1)[-1])


def _typed_rest(value: Any) -> str:
    """The dotted setting a nested ``value`` of one key sets (``{'recipe': 'fundus'}`` ->
    ``recipe``, ``{'a': {'b': 1}}`` -> ``a.b``); "" for a plain value, or a block setting more
    than one (a YAML section)."""
    parts = []
    while isinstance(value, dict) and len(value) == 1:
        key, value = next(iter(value.items()))
        parts.append(str(key))
    return ".".join(parts) if parts and not isinstance(value, dict) else ""


def _has_setting(section: Any, dotted: str) -> bool:
    """Whether dataclass ``section`` has the (possibly nested) setting ``dotted``."""
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(section) or part not in {f.name for f in dataclasses.fields(section)}:
            return False
        section = getattr(section, part)
    return True


SETTINGS_LISTED = "drac_ssl/config.py, docs/configuration.md (Settings reference)"
"""Where every setting, its default and its meaning are written, for an unknown setting's fix:
the comment on each setting's line here, and the table :mod:`drac_ssl.settings_table` writes from
them into the page (``tests/drac_ssl/test_settings_table.py`` keeps it so)."""


def _leaf_value(value: Any, rest: str) -> Any:
    """The value set under ``rest`` (:func:`_typed_rest`) of a nested ``value``; ``value`` itself
    when ``rest`` is empty."""
    for part in rest.split(".") if rest else ():
        value = value[part]
    return value


class WrittenValue(str):
    """The value of a key that is no setting, in a config file, as written there: the source
    text of a value on one line (``010``, ``'12:30'``, ``[ingest]``, its comment aside), put in
    place of YAML's reading of it by :func:`_written_values`, so that the unknown setting's fix
    writes the value as the file does (``image_column: 010``), not as YAML 1.1 read it (8)."""


def _as_written(node: yaml.Node, data: Any) -> Any:
    """``data`` (the value of a key that is no setting, composed from ``node``) with each value
    on one line replaced by its :class:`WrittenValue`; the values under a mapping each on
    their own (a misspelt section's settings). A value over several lines (a block list) is
    kept as read."""
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name in data:
                data[name] = _as_written(value, data[name])
        return data
    start, end = node.start_mark, node.end_mark
    if isinstance(node, (yaml.ScalarNode, yaml.SequenceNode)) and start.buffer and start.line == end.line:
        text = start.buffer[start.index:end.index].strip()
        if text:
            return WrittenValue(text)
    return data


def _unknown_setting_fix(where: str, setting: str, meant: Sequence[str], value: Any) -> str:
    """The fix of unknown setting ``setting`` whose "Did you mean" names ``meant``, set to
    ``value``: on the command line (``where``) the override meant with the value typed
    (``pretrain.lr=0.1 or finetune.lr=0.1``); in a file the YAML of the first setting meant,
    its value as written (a :class:`WrittenValue`; a value over several lines: rename or move
    the key, the value untouched); a section meant, one of its settings; none meant, where
    every setting is listed (:data:`SETTINGS_LISTED`)."""
    if not meant:
        return f"one of the valid keys above, or leave it out (every setting, its default and meaning: {SETTINGS_LISTED})"
    typed = where.startswith("command line '") and where.endswith("'")
    shown = where[len("command line '"):-1].split("=", 1)[1] if typed and "=" in where else _as_text(value)
    section = _declared_type(meant[0].split("."))
    if dataclasses.is_dataclass(section):
        listed = f"its settings: {', '.join(f.name for f in dataclasses.fields(section))}"
        if typed:
            return f"a setting of {meant[0]}, {meant[0]}.<setting>={shown} ({listed})"
        if isinstance(value, dict):
            return f"rename it {meant[0]} ({listed})"
        written = value if isinstance(value, WrittenValue) else "<its value>"
        return f"a setting of {meant[0]}, written under it ({listed})\n{_yaml_block(meant[0], '<setting>', written)}"
    if typed:
        return in_words([shell_word(f"{m}={shown}") for m in meant])
    if isinstance(value, dict):
        return f"rename it {meant[0]}" + "".join(f", or {m}" for m in meant[1:])
    others = f" (or as {in_words(list(meant[1:]))})" if len(meant) > 1 else ""
    parent, _, name = meant[0].rpartition(".")
    if not isinstance(value, WrittenValue):  # over several lines: the key renamed or moved
        typed_parent, _, typed_name = setting.rpartition(".")
        how = (f"rename {typed_name} to {name}" if parent == typed_parent else
               f"move {typed_name} into the {parent} section" + (f" as {name}" if name != typed_name else ""))
        return f"{how}, its value as written{others}"
    return f"write it as{others}\n{_yaml_block(parent, name, value)}"


def _dotted_setting(section: Any, key: str, value: Any = None) -> str:
    """The setting of dataclass ``section`` that the dotted ``key`` names (``finetune.epochs``),
    or, its last name unknown, the one it meant (:func:`meant_setting`): its synonym, chosen by
    the ``value`` it is given where the synonym names several settings (``data.labels:
    /d/trainLabels.csv`` -> ``data.labels_csv``, ``data.labels: [no, mild]`` -> ``data.grades``),
    else the closest spelling (``finetune.epoch`` -> ``finetune.epochs``); "" when its sections
    are none of ``section``'s or nothing is close."""
    if _has_setting(section, key):
        return key
    head, _, leaf = key.rpartition(".")
    if not _has_setting(section, head) or not dataclasses.is_dataclass(inner := _setting(section, head)):
        return ""
    close = meant_setting(head, leaf, [f.name for f in dataclasses.fields(inner)], value)
    return f"{head}.{close}" if close else ""


def _setting(section: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        section = getattr(section, part)
    return section


def _dotted_key_words(full: str, key: str, value: Any, names: Sequence[str], typed: str = "",
                      existing: tuple[str, int, bool] | None = None) -> str:
    """The error of the setting ``full`` written in a file as one dotted key ``key``
    (``finetune.epochs: 3``, a setting that exists; ``typed``: the key with its sections,
    when its last name is misspelt: ``finetune.epoch``): YAML reads the dots as part of one
    name, so the fix is the nested form of that same setting, its value as written. With
    ``existing`` (a section of ``full`` the file already has, its 1-based line, and whether it
    is written inline, ``pretrain: {epochs: 5}``: ``("pretrain", 1, False)``,
    :func:`_existing_section`), the fix is to move it into that section: a second
    ``pretrain:`` key, as the nested form alone suggests, would be a key written twice; into
    an inline section, as one more ``key: value`` inside its ``{ }`` (``lr: 1``; a block of
    settings as ``augment: {recipe: fundus}``), not as a block under it."""
    parent, _, name = full.rpartition(".")
    meant = f" Did you mean {full!r}?" if typed and typed != full else ""
    if existing is not None and existing[2]:  # pretrain: {epochs: 5}: a block under it would not read
        section, line, _ = existing
        top = section.split(".")[-1]
        rest = full[len(section) + 1:].split(".")
        entry = _flow_entry(rest, value)
        how = (f"add `{entry}` inside its {{ }} on line {line} (the {section} section the file has "
               f"there, written inline; a second '{top}:' key would be written twice), a comma "
               f"between it and the settings there: {top}: {{..., {entry}}}"
               + (", the settings of its block inside the new { } as key: value, comma-separated"
                  if isinstance(value, dict) else "") if entry is not None else
               f"add {' > '.join(rest)} inside the {{ }} of the {section} section the file has on "
               f"line {line} (a second '{top}:' key would be written twice), its value as written")
    else:
        if existing is not None:
            section, line, _ = existing
            top = section.split(".")[-1]
            write = (f"move it into the {section} section the file has on line {line} (a second "
                     f"'{top}:' key would be written twice), nested")
        else:
            write = "write it nested"
        if isinstance(value, dict):  # a section written dotted (pretrain.augment: {recipe: x})
            how = (f"{write}, its settings one indent further under the last line\n"
                   f"{_yaml_block(parent, name, '').rstrip()}")
        elif isinstance(value, WrittenValue):
            how = f"{write}\n{_yaml_block(parent, name, value)}"
        else:  # a value over several lines: kept as written, under the nested key
            how = f"{write} ({' > '.join(full.split('.'))}), its value as written"
    return (f"unknown setting '{key}': a key written with dots is one name in a YAML file, not the "
            f"setting {full} (dotted names are the command line's: {full}=...).{meant}\n"
            f"  valid keys here: {', '.join(names)}\n"
            f"  fix: {how}")


def _flow_entry(path: Sequence[str], value: Any) -> str | None:
    """``lr: 1`` (``path`` ``['lr']``), ``augment: {recipe: fundus}`` (``['augment', 'recipe']``):
    the setting as one entry of an inline YAML mapping, its value as written
    (:class:`WrittenValue`); a block of settings (a dict: ``pretrain.augment:`` with lines under
    it) as ``augment: {...}``, the ``...`` its settings, said by the caller; None for a value
    over several lines (a block list), which has no one-line form as written."""
    if isinstance(value, dict):
        text = "{...}"
    elif isinstance(value, WrittenValue):
        text = str(value)
    else:
        return None
    for part in reversed(path[1:]):
        text = f"{{{part}: {text}}}"
    return f"{path[0]}: {text}"


def _section_line(path: Path | None, section: str) -> tuple[int, bool] | None:
    """The 1-based line, as an editor counts it (:func:`_editor_position`), of the key of the
    section ``section`` (``pretrain``, ``pretrain.augment``) in the YAML file ``path``: each
    part a key of the mapping of the one before, the last one's value a mapping (settings under
    it) or empty; with whether that mapping is written inline (``pretrain: {epochs: 5}``, a YAML
    flow mapping). None when the file has no such section, or cannot be read as YAML."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").removeprefix(BYTE_ORDER_MARK)
        node = yaml.compose(text, Loader=YamlLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for part in section.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and str(k.value) == part),
                     None)
        if found is None:
            return None
        line, node = _editor_position(text, found[0].start_mark.index)[0] + 1, found[1]
    empty = isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and not node.value
    if line is None or not (isinstance(node, yaml.MappingNode) or empty):
        return None
    return line, isinstance(node, yaml.MappingNode) and bool(node.flow_style)


def _existing_section(source: Path | None, prefix: str, full: str) -> tuple[str, int, bool] | None:
    """The deepest section on the way to the setting ``full`` (below ``prefix``, the section
    the dotted key is written in) that the file ``source`` already has, with its line and
    whether it is written inline (:func:`_section_line`); None when it has none, or no file."""
    parts = full.split(".")[:-1]
    depth = len(prefix.split(".")) if prefix else 0
    for end in range(len(parts), depth, -1):
        section = ".".join(parts[:end])
        if (found := _section_line(source, section)) is not None:
            return section, *found
    return None


def _yaml_block(section: str, key: str, value: str) -> str:
    """``key: value`` under the dotted ``section`` as a config file writes it, each level one
    indent under the one above, indented 4 for a fix (``    data:\n      image_column: x``)."""
    parts = [p for p in section.split(".") if p]
    lines = [f"    {'  ' * i}{part}:" for i, part in enumerate(parts)]
    return "\n".join([*lines, f"    {'  ' * len(parts)}{key}: {value}"])


SHELL_SYNTAX = "$`*?!&;|()<>#{}"
"""Characters a POSIX shell reads as syntax in a bare word (:func:`shell_word` quotes them)."""


def shell_word(text: str) -> str:
    """``text`` as one word of a shell command: as it is where a POSIX shell gives it back
    unchanged, else quoted (:func:`shlex.quote`: ``'data.grades=[No DR, Mild]'``), as the fixes
    of overrides with spaces are written. A word holding a character the shell reads as
    syntax (``$`*?!&;|()<>#{}``: ``data.root=/data/R&D`` ran ``data.root=/data/R`` in the
    background, ``drac(1)`` was a syntax error; :func:`shlex.split` takes them as letters) is
    quoted too. ``[`` ``]`` stay bare (``run.stages=[ingest,pretrain]``, the package's fixes):
    bash passes an unmatched pattern through; zsh's ``nomatch`` refuses it."""
    try:
        same = shlex.split(text) == [text]
    except ValueError:  # a quote left open
        same = False
    if same and not set(text) & set(SHELL_SYNTAX):
        return text
    if "'" in text and not set(text) & set('"$`\\!'):  # data.grades=['null', x]: "..." reads better
        return f'"{text}"'
    return shlex.quote(text)


def typed_keys(overrides: Sequence[str]) -> frozenset[str]:
    """The dotted keys the command line's ``overrides`` set (those that can be read), the user's
    own: a :class:`PresetOverride` (``--first-try``'s) is left out, as :func:`repeated_overrides`
    leaves it out, so that a misspelt ``pretrain.epoch=2`` beside ``--first-try`` is still told
    ``pretrain.epochs=2``, not "already given on this command line"."""
    keys = set()
    for arg, problem in split_overrides(overrides):
        if problem or isinstance(arg, PresetOverride):
            continue
        try:
            keys.add(".".join(parse_override(arg)[0]))
        except ConfigError:  # its own error is said where the override is applied
            continue
    return frozenset(keys)


def _merge(base: Any, updates: dict[str, Any], where: str, prefix: str = "",
           fixes: FixBase | None = None, given: frozenset[str] = frozenset(),
           source: Path | None = None) -> Any:
    """Return a copy of dataclass ``base`` with ``updates`` applied (recursively, checked); a
    bad value's fix suggests the ``-c`` file's value where ``fixes`` is given (:func:`fallback`).
    ``given``: the keys the command line sets (:func:`typed_keys`), left out of an unknown
    setting's fix (``finetune.max_steps_per_epoch=2`` with ``pretrain.max_steps_per_epoch=2``
    typed too: that one does not shorten the fine-tuning). ``source``: the YAML file
    ``updates`` were read from, whose sections a dotted key's fix names (:func:`_existing_section`)."""
    hints = _type_hints(type(base))
    names = [f.name for f in dataclasses.fields(base)]
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in names and "." in str(key) and not where.startswith("command line '") \
                and (meant_dotted := _dotted_setting(base, str(key), value)):
            # finetune.epochs: 3 at the top of a file: the command line's dotted name written as
            # one YAML key (a review: told to write it under pretrain:, "Did you mean" itself)
            nested = f"{prefix}.{meant_dotted}" if prefix else meant_dotted
            raise UnknownSettingError(f"{where}: " + _escaped(_dotted_key_words(
                nested, str(key), value, names, full, _existing_section(source, prefix, nested))),
                full, [nested])
        if key not in names:
            close = meant_setting(prefix, key, names, value)
            synonym = bool(close) and close != close_match(key, names)  # label: grade_column
            meant = [f"{prefix + '.' if prefix else ''}{close}"] if close else []
            # a misspelt section (pretrain.augmnt.recipe=fundus): the setting typed under it,
            # when it is one of the close section's, is what was meant (pretrain.augment.recipe)
            rest = _typed_rest(value)
            if close and rest and _has_setting(getattr(base, close), rest):
                full, meant = f"{full}.{rest}", [f"{meant[0]}.{rest}"]
            # the setting's name as typed, at the wrong level (lr, train.lr, data.epochs): every
            # section that has a setting of that name (pretrain.lr, finetune.lr); before a mere
            # close spelling in the section typed (umm.image_size: not umm.batch_size first), after
            # the setting of a close section (train.lr: pretrain.lr, then finetune.lr)
            leaf = (rest or str(key)).rsplit(".", 1)[-1] if rest or not isinstance(value, dict) else ""
            elsewhere = [m for m in _settings_ending(Config(), leaf)
                         if m not in meant] if leaf and not synonym else []
            meant = meant + elsewhere if rest else elsewhere + meant
            if not meant and leaf:  # lrr, epoch: a misspelt name, every section's setting of the closest
                meant = _settings_ending(Config(), close_setting_name(leaf))
            said = ", ".join(repr(m) for m in meant[:-1]) + " or " * (len(meant) > 1)
            hint = f" Did you mean {said}{meant[-1]!r}?" if meant else ""
            left = [m for m in meant if m not in given]
            if prefix and not rest and meant and all(m.rsplit(".", 1)[-1] == key for m in meant):
                # the name is right, the section is not: other sections have it (a trial took
                # "Did you mean" for a setting of this section); none asked when all are given
                hint = (f" {prefix} has no setting {key}; {in_words(meant, 'and')} "
                        f"exist{'s' if len(meant) == 1 else ''} in {'its' if len(meant) == 1 else 'their'} "
                        f"section{'s' * (len(meant) > 1)}." + (hint if left else ""))
            fix = (_unknown_setting_fix(where, full, left, _leaf_value(value, rest)) if left or not meant else
                   f"leave it out: {prefix or 'the configuration'} has no such setting (valid keys above); "
                   f"{in_words(meant, 'and')}, already given on this command line, "
                   f"set{'s' if len(meant) == 1 else ''} {'its' if len(meant) == 1 else 'their'} own "
                   f"section{'s' * (len(meant) > 1)} only")
            # a look-alike space never printed raw, but a file's path is printed as it is (load_config
            # finds it there to add the key's line; macOS writes U+202F in file names before AM/PM)
            shown_where = _escaped(where) if where.startswith("command line '") else where
            raise UnknownSettingError(f"{shown_where}: " + _escaped(
                f"unknown setting '{full}'.{hint}\n"
                f"  valid keys here: {', '.join(names)}\n"
                f"  fix: {fix}"), full, meant)
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = _merge(current, value, where, full, fixes, given, source)
        else:
            changes[key] = _coerce(value, hints[key], where, full, fixes)
            if full == "finetune.referral_target":  # its form read here, with where it was written
                referral_target(changes[key], where)
    return dataclasses.replace(base, **changes)


_BOOL_TAG = "tag:yaml.org,2002:bool"


YAML_EXPANDED_NODES_LIMIT = 10_000
"""The most values (YAML nodes, each alias counted as a copy of what it names) a YAML text read
by :class:`YamlLoader` may hold: a full run's ``config.yaml`` holds about 300, and no shipped
config uses an alias. 8 levels of 9 aliases (a "billion laughs" file) expand to 43 million,
which took 34 s and 950 MB before the settings check refused them (security review F6)."""


class YamlAliasExpansionError(yaml.composer.ComposerError):
    """A YAML text whose aliases (``*name``) expand beyond :data:`YAML_EXPANDED_NODES_LIMIT`
    values; ``problem_mark`` is the first alias (PyYAML's 0-based line)."""


class YamlNoSuchDateError(yaml.constructor.ConstructorError):
    """Text YAML 1.1 reads as a date that is no date (``name: 2026-02-30``, ``2026-13-01``);
    ``problem_mark`` is the value (PyYAML's 0-based line), ``value`` the text as written and
    ``reason`` datetime's words (``day is out of range for month``)."""

    value: str = ""
    reason: str = ""


def _expanded_nodes(node: yaml.Node, sizes: dict[int, int]) -> int:
    """The values ``node`` stands for with every alias expanded (a node reached twice counted
    twice), in time linear in the distinct nodes (``sizes``: id -> size, memoised)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a cycle (an alias inside its own anchor) counts once, not forever
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_nodes(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_nodes(k, sizes) + _expanded_nodes(v, sizes) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


class YamlLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with YAML 1.2's booleans: only ``true`` and ``false`` (any case).

    PyYAML follows YAML 1.1, where ``yes``, ``no``, ``on`` and ``off`` are booleans too, so a
    grade scale written ``[no, yes]`` would silently become ``['false', 'true']``. Every
    config file and command-line override is read with this loader (:func:`read_yaml`): those
    words stay the words written, and a bool setting written ``yes`` gets the type error
    that says to write true or false.

    A text whose aliases expand beyond :data:`YAML_EXPANDED_NODES_LIMIT` values is refused
    once composed, before anything walks it (:class:`YamlAliasExpansionError`): the walks of
    the settings would follow every alias, exponentially many for a "billion laughs" file."""

    _first_alias: yaml.Mark | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._first_alias is None and self.check_event(yaml.AliasEvent):
            self._first_alias = self.peek_event().start_mark
        return super().compose_node(parent, index)  # type: ignore[no-any-return]

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None and self._first_alias is not None:
            size = _expanded_nodes(node, {})
            if size > YAML_EXPANDED_NODES_LIMIT:
                raise YamlAliasExpansionError(
                    None, None, f"its aliases (*name) expand to {size:,} values, more than the "
                    f"{YAML_EXPANDED_NODES_LIMIT:,} a config may hold", self._first_alias)
        return node

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """YAML 1.1's date for date-shaped text (``2026-02-28``); for text shaped so that is no
        date (``2026-02-30``: datetime's bare ``ValueError``, with no file or line) the
        :class:`YamlNoSuchDateError` at the value."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            error = YamlNoSuchDateError(None, None, f"YAML reads {node.value} as a date, and it is no date ({exc})",
                                        node.start_mark)
            error.value, error.reason = node.value, str(exc)
            raise error from None


YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", YamlLoader.construct_yaml_timestamp)
YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|false)$", re.IGNORECASE), list("tTfF"))


def read_yaml(text: str) -> Any:
    """The YAML ``text`` as Python values, read with :class:`YamlLoader` (YAML 1.2 booleans).

    Raises:
        yaml.YAMLError: text that is not valid YAML, or date-shaped text that is no date
            (:class:`YamlNoSuchDateError`, ``2026-02-30``)."""
    return yaml.load(text, Loader=YamlLoader)  # noqa: S506 - a SafeLoader subclass


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
r"""Where a config file's lines end as an editor counts them (``\n``, ``\r\n``, ``\r``). PyYAML
(YAML 1.1) and ``str.splitlines`` also end a line at U+0085, U+2028 and U+2029 (and
``splitlines`` at a form feed), which moved every line number a message gave by one for each
such character above the mistake (a config file may hold none of them, :data:`_YAML_ONLY_BREAKS`,
but a YAML mistake above one is named first); editors show none of them as a line's end."""


def _editor_lines(text: str) -> list[str]:
    """``text``'s lines as an editor shows them (ended by :data:`_LINE_BREAK` only), without
    their line ends; as ``str.splitlines``, no empty line after a final line end."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines[-1] == "" else lines


def _editor_position(text: str, index: int) -> tuple[int, int]:
    """The line and column (both 0-based, as PyYAML's marks) of character ``index`` of ``text``,
    lines counted as an editor counts them (:data:`_LINE_BREAK`), columns in characters."""
    index = min(max(index, 0), len(text))
    line, start = 0, 0
    for found in _LINE_BREAK.finditer(text):
        if found.end() > index:  # a line end at or after the character (its own \r\n's \n too)
            break
        line, start = line + 1, found.end()
    return line, index - start


def _editor_mark(text: str, mark: yaml.Mark | None) -> yaml.Mark | None:
    """PyYAML's ``mark`` in ``text`` (the stream it read) with its line and column counted as an
    editor counts them (:func:`_editor_position`); None stays None."""
    if mark is None:
        return None
    line, column = _editor_position(text, mark.index)
    return yaml.Mark(mark.name, mark.index, line, column, None, None)


class _LineLoader(YamlLoader):
    """:class:`YamlLoader` for ``-c`` files: a key written twice in one mapping is an error
    (:func:`_repeated_key`), not the last value silently winning."""


def _repeated_key(node: yaml.Node | None, text: str,
                  path: tuple[str, ...] = ()) -> tuple[str, int, int] | None:
    """The first key written twice in one mapping of the YAML ``node`` composed from ``text``:
    its dotted name (``pretrain.epochs``) and the 1-based lines of both, as an editor counts
    them (:func:`_editor_position`); None when every key is once."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            if name and name != "<<":
                line = _editor_position(text, key.start_mark.index)[0] + 1
                if name in seen:
                    return ".".join((*path, name)), seen[name], line
                seen[name] = line
            found = _repeated_key(value, text, (*path, name))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _repeated_key(item, text, (*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",))
            if found:
                return found
    return None


class ConfigFolders(typing.NamedTuple):
    """Where the shipped configs are, for a ``drac_ssl/config.py`` at a given path
    (:func:`config_folders`)."""

    package: Path
    """The shipped configs' folder (:data:`PACKAGE_CONFIGS`); it may be missing."""
    checkout: Path | None
    """The drac_ssl checkout the module runs from (:data:`CHECKOUT`); None for an install."""
    unread: Path | None = None
    """A ``configs/`` beside the package, holding ``default.yaml``, that was not read because the
    folder above the package has no drac_ssl ``pyproject.toml`` (a copied tree, the package
    copied into another project): the errors name it and how to read it
    (:data:`NO_CONFIGS_WHY`, :data:`NO_CONFIGS_FIX`); None otherwise."""


def config_folders(module_file: str | os.PathLike[str]) -> ConfigFolders:
    """The shipped configs' folder and the checkout, for this module at ``module_file``
    (``.../drac_ssl/config.py``), from the files around it alone:

    * an install (``pip install .``, a wheel): ``drac_ssl/configs/`` beside the module, package
      data that pyproject.toml maps from ``configs/`` (``[tool.setuptools.package-dir]``), so the
      files are not written twice; no checkout;
    * a checkout, or an editable install (``pip install -e .``): the repository's ``configs/``
      (the one copy), where the folder above the package holds the ``pyproject.toml`` of the
      project ``drac_ssl`` and ``configs/``; that folder is the checkout;
    * neither (an install that lost its configs, :data:`NO_CONFIGS_WHY`; the package copied
      into another project): the install's ``drac_ssl/configs/``, missing, which the errors
      name; no checkout, so that a tool that needs one (:mod:`drac_ssl.settings_table`)
      refuses rather than read a stray ``site-packages/configs`` or the other project's. A
      ``configs/default.yaml`` beside the package, read no more for want of the pyproject (a
      tree copied without it), is given as ``unread``, which the errors name."""
    import tomllib

    package = Path(module_file).resolve().parent
    installed, root = package / "configs", package.parent
    if installed.is_dir():
        return ConfigFolders(installed, None)
    try:
        with open(root / "pyproject.toml", "rb") as fh:
            name = (tomllib.load(fh).get("project") or {}).get("name")
    except (OSError, ValueError):  # none there (site-packages); tomllib.TOMLDecodeError
        name = None
    if name == "drac_ssl" and (root / "configs").is_dir():
        return ConfigFolders(root / "configs", root)
    beside = root / "configs"
    return ConfigFolders(installed, None, beside if (beside / "default.yaml").is_file() else None)


def no_configs_words(folders: ConfigFolders) -> tuple[str, str]:
    """Why ``folders.package`` (the shipped configs' folder) can be missing, and the fix, as
    ``(why, fix)``: an install that lost ``drac_ssl/configs`` (reinstall), or, where a
    ``configs/`` beside the package was not read (``folders.unread``), that folder, why it was
    not (no drac_ssl ``pyproject.toml`` above the package, or another project's), and how to
    read it: drac_ssl's pyproject.toml copied there (when there is none) or ``-c`` its file by
    path."""
    if folders.unread is None:
        return ("this drac_ssl install lacks its shipped configs (drac_ssl/configs/*.yaml, "
                "which a wheel built from the checkout carries)",
                "reinstall drac_ssl from its checkout (pip install -e . or pip install .)")
    import tomllib

    root = folders.unread.parent
    try:
        with open(root / "pyproject.toml", "rb") as fh:
            other = (tomllib.load(fh).get("project") or {}).get("name")
    except FileNotFoundError:
        other = None
    except (OSError, ValueError):  # tomllib.TOMLDecodeError
        other = "?"
    example = next(folders.unread / n for n in ("drac.yaml", "default.yaml") if (folders.unread / n).is_file())
    by_path = f"-c {shell_word(str(example))} (a config file by its path)"
    if other is None:
        return (f"drac_ssl/configs/*.yaml is not beside the package, and a configs/ beside the package "
                f"at {folders.unread} was not read (no drac_ssl pyproject.toml at {root}, which marks a "
                f"checkout)",
                f"copy drac_ssl's pyproject.toml to {root} (beside that configs/), or {by_path}")
    return (f"drac_ssl/configs/*.yaml is not beside the package, and a configs/ beside the package at "
            f"{folders.unread} was not read (the pyproject.toml at {root} is not drac_ssl's"
            + (f": project {other!r})" if other != "?" else ": it does not read)"),
            by_path)


_FOLDERS = config_folders(__file__)
CHECKOUT_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
"""The repository's ``configs/``: the one copy of the shipped configs, read from here in a
checkout and by an editable install (``pip install -e .``)."""
INSTALLED_CONFIGS = Path(__file__).resolve().parent / "configs"
"""Where an installed wheel carries the same files: ``drac_ssl/configs/*.yaml``, package data
that pyproject.toml maps from ``configs/`` (``[tool.setuptools.package-dir]``), so they are not
written twice."""
PACKAGE_CONFIGS = _FOLDERS.package
"""The shipped configs' folder (:func:`config_folders`): :data:`INSTALLED_CONFIGS` in an install
(``pip install .``, a wheel), :data:`CHECKOUT_CONFIGS` in a checkout or an editable install.
``-c NAME`` reads ``NAME.yaml`` from here (:func:`config_file`); missing only where an install
lost them (:data:`NO_CONFIGS_WHY`). Found by path, not ``importlib.resources.files("drac_ssl.configs")``:
setuptools' editable install does not import that package (a folder without ``__init__.py``
mapped elsewhere: ModuleNotFoundError, tried with setuptools 84)."""
CHECKOUT = _FOLDERS.checkout
"""The drac_ssl checkout this code runs from (where ``pyproject.toml``, ``configs/``, ``docs/``
and ``bench/`` are, and the folder the shipped configs' relative paths were written for:
``../shared/data``); None for an installed package, one that lost its configs included."""
NO_CONFIGS_WHY, NO_CONFIGS_FIX = no_configs_words(_FOLDERS)
"""Why :data:`PACKAGE_CONFIGS` can be missing, said by every error that needs it, and the fix
(:func:`no_configs_words`): reinstall, or, in a tree copied without drac_ssl's pyproject.toml,
that file or ``-c`` the unread ``configs/`` file by its path."""
CONFIG_SUFFIX = ".yaml"
DOCS = CHECKOUT / "docs" if CHECKOUT is not None else Path(__file__).resolve().parent / "docs"
"""The documentation (``docs/*.md``) that ``--help`` texts and messages cite as
``docs/<name>.md``: the checkout's ``docs/`` (with ``docs/img``), or in an install
``drac_ssl/docs``, package data that pyproject.toml maps from ``docs/`` as it does the configs,
its ``*.md`` only (``docs/img``'s screenshots stay in the sdist and the checkout) (a packaging
trial: the wheel and the sdist carried no docs, so an installed copy cited files it did not have). ``drac-ssl-train
--docs [NAME]`` prints it (:func:`docs_path`)."""


def docs_path(name: str | None = None) -> Path:
    """:data:`DOCS`, or its file ``NAME.md`` for ``name`` (``running``, ``running.md`` and
    ``docs/running.md`` alike), as an absolute path. Raises ConfigError when the folder is
    missing (an install that lost it) or holds no such file (the error lists the names)."""
    if not DOCS.is_dir():
        raise ConfigError(f"no documentation at {DOCS} (an install without its docs): reinstall drac_ssl, "
                          f"or read docs/ in a checkout of it")
    if name is None:
        return DOCS
    stem = name.removeprefix("docs/").removesuffix(".md")
    file = DOCS / f"{stem}.md"
    if "/" in stem or not stem or not file.is_file():
        names = ", ".join(sorted(p.stem for p in DOCS.glob("*.md")))
        raise ConfigError(f"no document {name!r} in {DOCS}: give one of {names}")
    return file


def shipped_config_names() -> list[str]:
    """The names ``-c NAME`` takes (``default``, ``drac``, ``retinamnist`` ...): the stems of
    :data:`PACKAGE_CONFIGS`' ``*.yaml`` files, sorted; [] where there are none."""
    return sorted(p.stem for p in PACKAGE_CONFIGS.glob(f"*{CONFIG_SUFFIX}") if p.is_file())


def config_name(given: str | os.PathLike[str]) -> str | None:
    """The shipped config's name ``-c GIVEN`` asks for when ``GIVEN`` is no existing file and has
    no folder part: ``retinamnist`` and ``retinamnist.yaml`` -> ``retinamnist``; None for an
    existing file (a file always wins: a file ``./drac`` is read, not the shipped ``drac``) and
    for one with a folder part (``configs/drac.yaml``, ``./drac``, ``~/my.yaml``), which is read
    as the path it is. A folder is never a config: a data folder ``retinamnist/`` in the current
    folder leaves ``-c retinamnist`` the shipped config."""
    text = os.fspath(given)
    # os.path.isfile: False, not a PermissionError, for a file in a folder closed to this account
    # (another account's run folder): read as the path it is, whose reading says why it cannot be
    if not text or os.path.isfile(text) or any(sep and sep in text for sep in (os.sep, os.altsep)):
        return None
    return text[:-len(CONFIG_SUFFIX)] if text.endswith(CONFIG_SUFFIX) else text


def _shipped_named(path: Path) -> Path | None:
    """The shipped config of ``path``'s name (``PACKAGE_CONFIGS/NAME.yaml`` for ``.../NAME`` or
    ``.../NAME.yaml``), None when there is none."""
    stem = path.name[:-len(CONFIG_SUFFIX)] if path.name.endswith(CONFIG_SUFFIX) else path.name
    shipped = PACKAGE_CONFIGS / f"{stem}{CONFIG_SUFFIX}"
    return shipped if stem and shipped.is_file() else None


def config_file(given: str | os.PathLike[str], option: str = "-c") -> Path:
    """The YAML file ``-c GIVEN`` reads, the one place a config is named: ``GIVEN`` itself when it
    is an existing file or has a folder part (``~`` expanded, as ``data.root``'s is; a missing
    one is said by its reading: :func:`load_config`); else the shipped config of that name
    (:func:`config_name`): ``PACKAGE_CONFIGS/NAME.yaml``, an absolute path, which the run
    records (``invocations.jsonl``: ``config_file``) and every message names. A bare name that
    is both a file here and a shipped config reads the file (:func:`shadowed_shipped_config`,
    which the commands say).

    Raises:
        ConfigError: an empty ``GIVEN`` (``-c ''``); a folder (never a config; the fix names
            the shipped config of its name when there is one); a name that is neither a file in
            the current folder nor a shipped config (the message lists the shipped names, its
            fix in ``option``, the option the user typed: ``--print-config retinamnist`` for
            ``--print-config retina``, where ``-c retinamnist`` would start a training)."""
    text = os.fspath(given)
    if not text.strip():
        raise ConfigError(
            f"-c {text!r}: an empty config name (a shell variable that was not set?), so no config "
            f"file is named.\n  fix: -c NAME (a shipped config: {', '.join(shipped_config_names()) or 'none here'}) "
            f"or -c PATH to a YAML file, or leave -c out for the shipped default")
    name = config_name(text)
    if name is None:
        path = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
        if os.path.isdir(path):  # False for one in a folder closed to this account: its reading says
            raise ConfigError(_folder_config_text(path, text))
        return path
    shipped = PACKAGE_CONFIGS / f"{name}{CONFIG_SUFFIX}"
    if shipped.is_file():
        return shipped
    names = shipped_config_names()
    close = difflib.get_close_matches(name, names, n=1)
    meant = f"{option} {close[0]}" if close else f"{option} NAME"
    if names:
        listed = f"the shipped configs, by name: {', '.join(names)}"
        fix = (f"{meant} (a shipped config by name), or {option} PATH to a YAML file of your own (a file "
               f"always wins over a name)")
    else:
        listed = f"no shipped configs here ({NO_CONFIGS_WHY})"
        fix = f"{option} PATH to a YAML file of your own, or {NO_CONFIGS_FIX}"
    here = ("is a folder here, not a config file" if Path(text).is_dir()
            else f"no such config file in the current folder ({Path.cwd()})")
    raise ConfigError(
        f"{text}: {here}, nor a config shipped with drac_ssl of that name; {listed}.\n  fix: {fix}")


def _folder_config_text(path: Path, given: str = "") -> str:
    """``PATH: is a folder, not a config file`` (``given``: the words as typed, else ``path``)
    and the fix: the shipped config of the folder's name when there is one (``-c
    ./retinamnist`` for a data folder: ``-c retinamnist``), else an example config."""
    shipped = _shipped_named(path)
    if shipped is not None:
        fix = (f"-c {shipped.stem} (the shipped config of that name, {shipped}), or -c PATH to a "
               f"YAML file in it")
    else:
        fix = f"pass a YAML config file with -c, e.g. {_example_config()}"
    return f"{given or path}: is a folder, not a config file.\n  fix: {fix}"


def config_file_in(given: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path | None:
    """The file ``-c GIVEN`` reads when the command runs in ``folder`` (:func:`config_file`'s
    rule, from that folder rather than the current one), absolute: ``folder/GIVEN`` when that
    is a file or ``GIVEN`` has a folder part (``~`` expanded), else the shipped config of that
    name; None where it names none (empty, a folder, an unknown name). Used to tell whether a
    recorded command's ``-c`` word still names the file its run read
    (:func:`drac_ssl.run_state.resume_command`)."""
    text = os.fspath(given)
    if not text.strip():
        return None
    path = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
    here = Path(folder) / path
    if here.is_file() or any(sep and sep in text for sep in (os.sep, os.altsep)):
        return None if here.is_dir() else here.absolute()
    shipped = _shipped_named(path)  # a folder of that name does not count (config_name)
    return None if shipped is None else shipped.absolute()


def shadowed_shipped_config(given: str | os.PathLike[str]) -> Path | None:
    """The shipped config a bare ``-c GIVEN`` (no folder part) would name, had the current
    folder no file of that name: ``-c drac.yaml`` with a ``./drac.yaml`` reads the local file
    (:func:`config_file`), and this is the shipped ``PACKAGE_CONFIGS/drac.yaml`` it stands in
    for; None when ``GIVEN`` is no such file, has a folder part, names no shipped config, or is
    that config itself (run from the configs' folder)."""
    text = os.fspath(given)
    if (not text or any(sep and sep in text for sep in (os.sep, os.altsep))
            or not Path(text).is_file()):
        return None
    shipped = _shipped_named(Path(text))
    return None if shipped is None or shipped.resolve() == Path(text).resolve() else shipped


def shadowed_config_words(given: str | os.PathLike[str]) -> str:
    """What a command says when ``-c GIVEN`` reads a file in the current folder that has a
    shipped config's name (:func:`shadowed_shipped_config`): which file it reads (the local
    one) and how to read the shipped one; "" otherwise."""
    shipped = shadowed_shipped_config(given)
    if shipped is None:
        return ""
    text = os.fspath(given)
    return (f"{text} is the file in the current folder ({Path(text).absolute()}), which is read, "
            f"not the shipped config {shipped.stem} ({shipped}); for that one: -c {shell_word(str(shipped))}")


def config_word(path: str | os.PathLike[str]) -> str:
    """The word ``-c`` takes for the config file ``path`` here: a shipped config's name
    (``drac``) when ``path`` is the shipped file and ``-c NAME`` reads it from the current
    folder (:func:`config_file`: no local file of that name), else ``path`` as given; quoted
    for the shell (:func:`shell_word`)."""
    given = Path(path)
    shipped = _shipped_named(given)
    if shipped is not None and given.resolve() == shipped.resolve():
        try:
            if config_file(shipped.stem).resolve() == shipped.resolve():
                return shell_word(shipped.stem)
        except ConfigError:
            pass
    return shell_word(os.fspath(path))


def shipped_config_summary(path: Path) -> str:
    """What the config file ``path`` is for: the first line of the comment that opens it, ``#``
    and spaces stripped, up to its first colon (``MNIST correctness run``), else the whole line
    (``...`` added when the comment goes on), at most 100 characters; "" when the file opens
    with no comment or cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[:2]
    except (OSError, UnicodeDecodeError):
        return ""
    if not lines or not lines[0].startswith("#"):
        return ""
    text = lines[0].lstrip("#").strip()
    if ":" in text:
        text = text.split(":", 1)[0].rstrip()
    elif len(lines) > 1 and lines[1].startswith("#"):
        text += " ..."
    return text if len(text) <= 100 else text[:96].rstrip() + " ..."


def list_configs_text(command: str = "python -m drac_ssl.train") -> str:
    """What ``--list-configs`` prints: each shipped config's name, what it is for
    (:func:`shipped_config_summary`) and its ``data.root`` when that is a relative path (read
    from the current folder: :data:`PATH_SETTINGS`), then how to name one and copy one out;
    ``command`` the train command as the user runs it."""
    names = shipped_config_names()
    if not names:
        return (f"No shipped configs in {PACKAGE_CONFIGS} ({NO_CONFIGS_WHY}).\n"
                f"  fix: {NO_CONFIGS_FIX}, or pass -c PATH to a YAML file of your own")
    width = max(len(n) for n in names)
    lines = [f"Configs shipped with drac_ssl ({PACKAGE_CONFIGS}); run one with {command} -c NAME:"]
    for name in names:
        path = PACKAGE_CONFIGS / f"{name}{CONFIG_SUFFIX}"
        lines.append(f"  {name:<{width}}  {shipped_config_summary(path)}".rstrip())
        root = _relative_path_settings(path).get("data.root")
        if root:
            lines.append(f"  {'':<{width}}  data.root: {root} (from the current folder; elsewhere "
                         f"add data.root=/path/to/it)")
    lines.append(f"A file given to -c always wins over a name (a folder never does). To edit one, copy it out: "
                 f"{command} --print-config NAME > my.yaml, then {command} -c my.yaml")
    lines.append(f"A tiny first try of any of them on your data (every stage at a tiny size, never larger than "
                 f"the config's own, into run.out_dir/first-try; minutes on a CPU; its figures mean nothing): "
                 f"{command} -c NAME --first-try data.root=... ({command} --help says what it sets)")
    return "\n".join(lines)


def _relative_path_settings(path: Path) -> dict[str, str]:
    """The :data:`PATH_SETTINGS` the config file ``path`` sets to a relative path (``{"data.root":
    "../shared/data/mnist"}``): read from the current folder, so right only from the folder
    they were written for; {} when there are none or the file does not read."""
    try:
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
        values = {key: get(_merge(Config(), data, str(path)), key) for key in PATH_SETTINGS}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ConfigError, AttributeError):
        return {}
    return {k: v for k, v in values.items()
            if isinstance(v, str) and v and not os.path.isabs(os.path.expanduser(v))}


def default_config_file(name: str = "default.yaml") -> Path:
    """The shipped ``NAME`` (:data:`PACKAGE_CONFIGS`), the config a command uses when given no
    ``-c``.

    Raises:
        ConfigError: the file is missing (an install that lost its configs,
            :data:`NO_CONFIGS_WHY`): the commands refuse rather than silently run the built-in
            :class:`Config` defaults (the 224 px 100-epoch GPU recipe) in its place."""
    path = PACKAGE_CONFIGS / name
    if path.is_file():
        return path
    raise ConfigError(
        f"{path}: the default config file is missing ({NO_CONFIGS_WHY}), so there is no "
        f"config to run without -c.\n"
        f"  fix: pass a config file with -c FILE (e.g. -c configs/{name} from the drac_ssl "
        f"checkout), or {NO_CONFIGS_FIX}")


def shipped_config(name: str = "drac.yaml") -> Path | None:
    """The package's config ``name`` as a command can be given it here: ``configs/NAME`` when the
    current folder has it (a checkout), else its full path in :data:`PACKAGE_CONFIGS` (an
    install, or an editable install run from any folder); None where neither is
    (:data:`NO_CONFIGS_WHY`)."""
    for example in (Path("configs") / name, PACKAGE_CONFIGS / name):
        if example.is_file():
            return example
    return None


def shipped_config_word(name: str = "drac.yaml") -> str | None:
    """The word ``-c`` takes for the package's config ``name`` here, as a fix or hint prints
    it: its name (``drac``) where ``-c drac`` reads it from the current folder (:func:`config_word`),
    else the path :func:`shipped_config` gives; None where neither is (:data:`NO_CONFIGS_WHY`)."""
    shipped = PACKAGE_CONFIGS / name
    if shipped.is_file():
        return config_word(shipped)
    example = shipped_config(name)  # ./configs/NAME, an install that lost its own
    return None if example is None else shell_word(str(example))


def _example_config() -> str:
    """An existing config to name in a fix (``-c drac``), or where the configs are when none is
    here."""
    example = shipped_config_word("drac.yaml")
    if example is not None:
        return f"-c {example}"
    return f"-c FILE, e.g. configs/drac.yaml in the drac_ssl checkout ({NO_CONFIGS_WHY}; or {NO_CONFIGS_FIX})"
PATH_SETTINGS = ("data.root", "data.labels_csv", "data.unlabelled", "pretrain.backbone.weights")
"""Settings holding a path (``data.unlabelled``: a list of them): compared as the file they
name (``data/`` and ``./data`` agree), and read from the current folder when relative."""

HOME_PATH_SETTINGS = (*PATH_SETTINGS, "run.out_dir", "run.reuse")
"""Every setting naming a file or folder: a leading ``~`` (``~/runs``, ``~user/runs``) is
expanded once, when the config is loaded (:func:`load_config`, :func:`from_dict`), so that
every stage reads one path (an outside tester, F1: ``run.out_dir=~/runs3`` typed in quotes
split a run between ``$HOME/runs3`` and a literal ``./~/runs3``)."""


ENVIRONMENT_VARIABLE = re.compile(r"\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
"""``$NAME`` or ``${NAME}`` in a path setting (:func:`variable_problems`)."""

VARIABLES_NOT_EXPANDED = "environment variables are not expanded in config paths"
"""What is wrong with ``run.out_dir: ${MYRUNS}/x`` when no folder ``${MYRUNS}`` exists or
``MYRUNS`` is set in the environment (an outside tester, F5: it made a folder ``${MYRUNS}``
silently); why, :func:`unexpanded_variable_words`; the fix is :func:`variable_fix`'s."""


def _set_variable(part: str) -> str | None:
    """The name of the environment variable ``part`` (one part of a path) is, exactly
    (``$MYRUNS`` or ``${MYRUNS}``), when that variable is set here; None otherwise (``a$b``,
    ``$RECYCLE.BIN``, or a variable not set)."""
    whole = ENVIRONMENT_VARIABLE.fullmatch(part)
    if whole is None:
        return None
    name = whole.group(1).strip("{}")
    return name if name in os.environ else None


def unexpanded_variable(value: str) -> str | None:
    """The folder ``value`` (a path setting, ``~`` expanded, relative to the current folder)
    names up to its first part holding ``$NAME`` or ``${NAME}`` that was meant to be expanded
    from the environment (``${MYRUNS}/runs``), where reading or making it would use a folder
    literally named ``${MYRUNS}``: a part that is exactly ``$NAME`` or ``${NAME}`` of a variable
    set in the environment, whether or not such a folder exists (the old bug made one: a reader,
    F3), or a part holding a variable whose folder does not exist. None when no part is either
    (``D:/$RECYCLE.BIN``, ``runs/a$b``: a real folder, as written; a run folder below it may be
    made)."""
    parts = Path(os.path.expanduser(value)).parts
    for i, part in enumerate(parts):
        if ENVIRONMENT_VARIABLE.search(part):
            folder = Path(*parts[:i + 1])
            if _set_variable(part) is not None or not os.path.lexists(folder):
                return str(folder)
    return None


def unexpanded_variable_words(value: str) -> str:
    """Why ``value`` is refused (:func:`unexpanded_variable` is not None), for the words after
    :data:`VARIABLES_NOT_EXPANDED`: ``there is no folder ${MYRUNS}``, or, a folder of that name
    being there, ``$MYRUNS is set in the environment; the folder named $MYRUNS is not where it
    points``."""
    folder = unexpanded_variable(value) or ""
    name = _set_variable(Path(folder).name)
    if name is None or not os.path.lexists(folder):
        return f"there is no folder {folder}"
    return (f"${name} is set in the environment; the folder named {folder} is not where it points "
            "(move what it holds there, then remove it)")


def variable_fix(setting: str, value: str) -> str:
    """The fix for ``value`` of the path setting ``setting`` naming a folder with ``$NAME``
    that does not exist (:func:`unexpanded_variable`): write the path itself, the one the
    environment would give when its variables are set here (:func:`os.path.expandvars`); a
    folder really named so is made first, and typed in single quotes, which keep ``$``."""
    expanded = os.path.expandvars(value)
    empty = sorted({m.group(0) for m in ENVIRONMENT_VARIABLE.finditer(value)
                    if os.environ.get(m.group(1).strip("{}")) == ""})
    said = (f"write the path itself ({', '.join(empty)} {'is' if len(empty) == 1 else 'are'} set "
            f"but empty here, so it would give {expanded or 'an empty path'})" if empty else
            f"write the path itself: {setting}={expanded} (what the environment's "
            f"{', '.join(sorted(set(m.group(0) for m in ENVIRONMENT_VARIABLE.finditer(value))))} "
            f"expands to here)" if expanded != value and not ENVIRONMENT_VARIABLE.search(expanded)
            else "write the path itself (the variable is not set here either)")
    part = Path(unexpanded_variable(value) or "").name
    name = _set_variable(part)
    if name is not None:  # exactly a set variable: meant to expand, even with such a folder there
        return f"{said}; a folder really named {part} is not used while {name} is set in the environment"
    return (f"{said}; for a folder really named with $, make it first, and on the command line "
            f"type the setting in single quotes ('{setting}={value}'), which keep the $")


def variable_problems(cfg: Config) -> list[tuple[str, str]]:
    """``(setting, value)`` of each :data:`HOME_PATH_SETTINGS` value (an item of
    ``data.unlabelled``) holding ``$NAME`` or ``${NAME}`` in a part whose folder does not exist,
    or a part that is exactly a variable set in the environment (:func:`unexpanded_variable`):
    never expanded (paths mean what they say), so refused (:func:`load_config`, the preflight)
    rather than made or used as a folder of that name. Another path whose ``$`` folder exists is
    taken as written."""
    found = []
    for dotted in HOME_PATH_SETTINGS:
        value = get(cfg, dotted)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and unexpanded_variable(item) is not None:
                found.append((dotted, item))
    return found


def expand_home(cfg: Config) -> Config:
    """``cfg`` with the leading ``~`` of each :data:`HOME_PATH_SETTINGS` value expanded
    (:func:`os.path.expanduser`), in place; returned for chaining. Other values are kept."""
    for dotted in HOME_PATH_SETTINGS:
        section, key = dotted.rsplit(".", 1)
        owner = get(cfg, section)
        value = getattr(owner, key)
        if isinstance(value, str) and value.startswith("~"):
            setattr(owner, key, os.path.expanduser(value))
        elif isinstance(value, list) and any(isinstance(v, str) and v.startswith("~") for v in value):
            setattr(owner, key, [os.path.expanduser(v) if isinstance(v, str) and v.startswith("~") else v
                                 for v in value])
    return cfg


def _missing_config_fix(path: Path) -> str:
    """The fix for a ``-c`` file that does not exist. A relative path whose file name is one of
    the package's configs (``-c configs/mnist.yaml`` from another folder) gets that config by
    its name (``-c mnist``, :func:`config_file`), not loaded in its place: the relative data
    paths inside it are read from the current folder too, which the fix says, with their values
    from the checkout (an installed package has none: set them)."""
    shipped = PACKAGE_CONFIGS / path.name
    if not path.is_absolute() and path.suffix == CONFIG_SUFFIX and shipped.is_file():
        fix = f"-c {shipped.stem} (the package's own {path.name}, {shipped})"
        relative = _relative_path_settings(shipped)
        if relative:
            said = ", ".join(f"{k}: {v}" for k, v in relative.items())
            if CHECKOUT is not None:
                fix += (f"; the relative paths in it ({said}) are read from the current folder too, so "
                        f"run the command from {CHECKOUT}, or add "
                        + " ".join(f"{k}={os.path.normpath(CHECKOUT / v)}" for k, v in relative.items()))
            else:
                fix += (f"; the relative paths in it ({said}) are read from the current folder too: add "
                        + " ".join(f"{k}=/path/to/your/copy" for k in relative))
        return fix
    return f"pass an existing file with -c, e.g. {_example_config()}"


_UNCLOSED = {"while scanning a quoted scalar": ("the quoted value", "the same quote mark"),
             "while parsing a flow sequence": ("the '[' list", "']'"),
             "while parsing a flow mapping": ("the '{' mapping", "'}'")}
"""PyYAML's context of a value opened and never closed -> (what was opened, what closes it)."""

_NOT_A_KEY = ("could not find expected ':'", "mapping values are not allowed here")
"""PyYAML's problems when a plain value at a line's start among a section's keys is no key (its
``: `` missing, or the value read on over the next key's line up to its colon): where that value
starts ``word:`` and a look-alike, the look-alike is the mistake (:func:`_scan_values`)."""

_SIMPLE_KEY = "while scanning a simple key"
"""PyYAML's context when a line read as the start of a key never reached its ``:`` (``epochs:30``
with the next line read on as the same text): its ``context_mark`` is the mistake's line. Other
contexts mark where the enclosing structure starts ("while parsing a block mapping": the
section's first key, or ``data:`` for a key indented one space short forty lines further on)."""


_KEY_WITHOUT_SPACE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):(?P<value>[^\s:].*)$")
"""A line ``key:value`` with no space after the colon (``  epochs:30``): YAML reads it as one
plain text, not a key and its value, and PyYAML stops a line later. Taken for that mistake only
when ``key`` is a section's or a setting's name (:func:`_config_keys`): a list item or a value
holding a colon (``    - http://x``, ``    - C:\\data``) is valid YAML, not a key."""

_SHOWN_CHARS = 80
"""A quoted line of a config file is cut to this many characters in an error message."""

END_OF_FILE = "the end of the file"
"""Where PyYAML noticed a mistake when only blank or comment lines follow it: said so, not a
line number and an empty quote (``line 55 ````)."""


def _keys_without_space_in(value: Any) -> list[tuple[str, str]]:
    """The (key, value) pairs of a text a section was given when every word of it is
    ``key:value`` with no space after the colon and ``key`` a section's or setting's name
    (:data:`_KEY_WITHOUT_SPACE`): ``pretrain:`` over ``  epochs:3`` alone is the section
    ``pretrain`` holding the text ``'epochs:3'`` (two such lines: ``'epochs:3 batch_size:4'``),
    valid YAML; [] otherwise."""
    words = value.split() if isinstance(value, str) else []
    found = [_KEY_WITHOUT_SPACE.match(word) for word in words]
    if not found or any(m is None or m["key"] not in _config_keys() for m in found):
        return []
    return [(m["key"], m["value"]) for m in found if m is not None]


@functools.cache
def _config_keys() -> frozenset[str]:
    """Every key a config file can hold at some level: the sections' names (``data``,
    ``backbone``) and their settings' (``epochs``, ``image_size``); worked out once."""
    def keys(base: Any) -> set[str]:
        found = set()
        for f in dataclasses.fields(base):
            found.add(f.name)
            value = getattr(base, f.name)
            if dataclasses.is_dataclass(value):
                found |= keys(value)
        return found

    return frozenset(keys(Config()))


@functools.cache
def _section_names() -> frozenset[str]:
    """The name of every section a config file can hold, at any level (``pretrain``, ``augment``)."""
    def sections(base: Any) -> set[str]:
        found = set()
        for f in dataclasses.fields(base):
            value = getattr(base, f.name)
            if dataclasses.is_dataclass(value):
                found |= {f.name, *sections(value)}
        return found

    return frozenset(sections(Config()))


def _is_filler(line: str) -> bool:
    r"""Whether a config line holds nothing but spaces or a comment. A tab before it (``\t``,
    ``  \t# note``) is no filler: YAML refuses it there, and a message that passed over it
    blamed the line above (a review)."""
    if "\t" in line[:len(line) - len(line.lstrip())]:
        return False
    return not line.strip() or line.lstrip().startswith("#")


def _at_end(lines: Sequence[str], number: int) -> bool:
    """Whether line ``number`` (1-based) is past the last line, or it and every line after it
    hold nothing but spaces or comments: PyYAML noticed the mistake at the end of the file."""
    return all(_is_filler(line) for line in lines[max(number, 1) - 1:])


def _shown(line: str) -> str:
    """A config line as an error message quotes it: the spaces at its end dropped, cut to
    :data:`_SHOWN_CHARS` characters with ``...`` at the cut, so that a cut line is not taken
    for the whole one. Every message that quotes a line of the file cuts it here (two of them
    cut it without the ``...``; a review). The characters :func:`_escaped` writes as escapes
    (``\\u00a0``, ``\\u2028``) are: printed raw, a look-alike reads as a space (a YAML error
    quoting ``  epoch:`` + U+00A0 + ``3`` showed a line that looked right; a review) and U+2028 as a
    line's end."""
    text = _escaped(line).rstrip()  # one at the end is shown, not dropped as a space
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _quoted_line(lines: Sequence[str], number: int) -> str:
    """``line 52 `  epochs:30``` (``number`` 1-based), the line cut by :func:`_shown`; a line
    blank to the eye but for tabs is said so, not quoted empty."""
    text = _shown(lines[number - 1]) if 0 < number <= len(lines) else ""
    if not text and 0 < number <= len(lines) and "\t" in lines[number - 1]:
        return f"line {number} (blank but for a tab)"
    return f"line {number} `{text}`"


def _key_without_space(lines: Sequence[str], number: int) -> str | None:
    """Line ``number`` (1-based) written right, ``  epochs: 30``, when it is ``key:value`` with
    no space after the colon and ``key`` a section's or setting's name (:data:`_KEY_WITHOUT_SPACE`);
    None otherwise."""
    if not 0 < number <= len(lines):
        return None
    found = _KEY_WITHOUT_SPACE.match(lines[number - 1].rstrip())
    if found is None or found["key"] not in _config_keys():
        return None
    return f"{found['indent']}{found['key']}: {found['value']}"


def _line_above(lines: Sequence[str], number: int) -> int:
    """The nearest line above line ``number`` (1-based) that holds more than a comment or
    spaces; 0 when there is none."""
    above = number - 1
    while above > 0 and (above > len(lines) or _is_filler(lines[above - 1])):
        above -= 1
    return above


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _spaces(n: int) -> str:
    return f"{n} space" if n == 1 else f"{n} spaces"


def _tab_fix(lines: Sequence[str], number: int, column: int) -> str | None:
    """The fix for a tab on line ``number`` (1-based) where PyYAML stopped (``column``, 0-based)
    or in its indentation, None when there is none there: YAML takes no tab there. A tab on a
    blank line, before a comment or at the end of a line is to be deleted (told to indent a
    comment "as far as the other keys", a review found nothing to line up); one before a key,
    replaced with spaces as far as the line above; one inside a line, replaced with a space."""
    line = lines[number - 1] if 0 < number <= len(lines) else ""
    lead = line[:len(line) - len(line.lstrip(" \t"))]
    if "\t" not in lead and line[column:column + 1] != "\t":
        return None
    if not line.strip():  # a blank line holding a tab: nothing to indent
        return (f"YAML indents with spaces, not tabs, and takes no tab on a blank line: delete the tab "
                f"on line {number} (it holds nothing else).")
    if line.lstrip(" \t").startswith("#"):  # a comment: nothing to line up with a section's keys
        return (f"YAML takes no tab before a comment: delete the tab on line {number} (a comment may be "
                f"indented with spaces, any number).")
    if "\t" not in lead and not line[column:].strip(" \t\r\n"):  # after the value, nothing more
        return (f"YAML takes no tab outside quotes: delete the tab at the end of line {number}.")
    if "\t" in lead:
        above = _line_above(lines, number)
        like = (f", as far as the other keys of its section ({_quoted_line(lines, above)}: "
                f"{_spaces(_indentation(lines[above - 1]))})" if above else "")
        return f"YAML indents with spaces, not tabs: indent line {number} with spaces{like}."
    return (f"YAML indents with spaces, not tabs, and takes no tab outside quotes: replace the tab "
            f"on line {number} (column {column + 1}) with a space.")


def _indent_words(lines: Sequence[str], number: int) -> str | None:
    """Why line ``number`` (1-based) is out of place by its indentation, or None when its
    indentation is one the lines above it have open: a key indented unlike every enclosing
    section's keys (``  epochs: 30`` written with one space), or a list item (``- ``) among a
    section's keys."""
    if not 0 < number <= len(lines) or _is_filler(lines[number - 1]):
        return None
    above = _line_above(lines, number)
    if not above:
        return None
    line, over = lines[number - 1], lines[above - 1]
    n = _indentation(line)
    if re.search(r":\s*(#.*)?$", over) and n > _indentation(over):
        return None  # the first key of the section the line above opens
    levels = [_indentation(over)]
    for earlier in range(above - 1, 0, -1):  # the enclosing sections' keys
        text = lines[earlier - 1]
        if not _is_filler(text) and _indentation(text) < levels[-1]:
            levels.append(_indentation(text))
    if n not in levels:
        at = in_words([str(level) for level in sorted(levels)])
        unlike = f"like none of the lines above it ({at} spaces; {_quoted_line(lines, above)})"
        if _is_list_item(over) and _is_list_item(line):
            return (f"line {number} is a list item indented {_spaces(n)}, {unlike}: indent it as far as "
                    f"the items above it ({_spaces(_indentation(over))}).")
        if _is_list_item(line):  # not a key: "indent a key ..." did not say what to do with the `- `
            return (f"line {number} is a list item (`- `) indented {_spaces(n)}, {unlike}: among a "
                    f"section's keys write it without the `- `, indented as far as the other keys; in a "
                    f"list, as an item under a key of its own (`key:`, the items indented below it).")
        return (f"line {number} is indented {_spaces(n)}, {unlike}: indent a key as far as the other keys "
                f"of its section (YAML reads which section a key is in from its indentation).")
    if _is_list_item(line) and _is_list_item(over):  # a list's item indented less than the others
        return (f"line {number} is a list item indented {_spaces(n)}, less than the items above it "
                f"({_quoted_line(lines, above)}): indent it as far as the items above "
                f"({_spaces(_indentation(over))}).")
    if _is_list_item(line):
        return (f"line {number} is a list item (`- `) among the keys of a section: write it without "
                f"the `- `, or as an item under a key of its own (`key:`, the items indented below it).")
    return None


def _is_list_item(line: str) -> bool:
    """Whether a config line is a block list's item (``  - x``, or ``-`` alone)."""
    item = line.lstrip(" ")
    return item.rstrip() == "-" or item.startswith("- ")


BYTE_ORDER_MARK = "\ufeff"
r"""What Windows Notepad and some editors write before a UTF-8 file's first line: not part of
the config (it made line 1's key ``\ufeffpretrain`` and was quoted in messages; a review)."""

_CONTROL_NAMES = {"\x00": "a NUL byte", "\x0c": "a form feed", "\x1b": "an escape character",
                  "\x7f": "a delete character"}


_LOOKALIKE_SPACES = {
    "\u00a0": "a non-breaking space (U+00A0)", "\u1680": "an Ogham space mark (U+1680)",
    "\u2000": "an en quad (U+2000)", "\u2001": "an em quad (U+2001)", "\u2002": "an en space (U+2002)",
    "\u2003": "an em space (U+2003)", "\u2004": "a three-per-em space (U+2004)",
    "\u2005": "a four-per-em space (U+2005)", "\u2006": "a six-per-em space (U+2006)",
    "\u2007": "a figure space (U+2007)", "\u2008": "a punctuation space (U+2008)",
    "\u2009": "a thin space (U+2009)", "\u200a": "a hair space (U+200A)", "\u200b": "a zero-width space (U+200B)",
    "\u202f": "a narrow non-breaking space (U+202F)", "\u205f": "a medium mathematical space (U+205F)",
    "\u3000": "an ideographic space (U+3000)", "\u2060": "a word joiner (U+2060)",
    "\ufeff": "a byte-order mark (U+FEFF)"}
"""Characters an editor, a web page or a word processor leaves where a space was meant, which
YAML reads as text: before a key (``pretrain:`` then a key indented by one became the
section's empty value) or after a colon (``epochs:`` + U+00A0 + ``3`` became the text
``'epochs:\xa03'``), each then given a message about something else (a review). Unicode's
spaces (category Zs) but the plain space, and the zero-width space: the typographic spaces
U+2000-U+200A (a figure space, U+2007, from a spreadsheet's numbers), U+205F and U+1680 were
missed (a review). With them the characters an editor shows as nothing (:data:`_INVISIBLE`): a word
joiner, and a byte-order mark anywhere but before the first line (``cat a.yaml b.yaml`` of two
files saved with one), which gave "unknown setting 'run.name'. Did you mean 'run.name'?" (a review)."""

_INVISIBLE = "\u200b\u2060\ufeff"
"""The look-alikes (:data:`_LOOKALIKE_SPACES`) an editor shows as nothing at all, not as a space:
the fix deletes one (in a line's indentation, or where YAML needs no space), or replaces it by a
plain space where YAML needs one (right after a key's colon or a list's dash)."""

_LOOKALIKE_CHARS = "".join(_LOOKALIKE_SPACES)
"""The characters of :data:`_LOOKALIKE_SPACES`, for a regular expression's character class
(none needs an escape there) and :meth:`str.lstrip`."""

_YAML_ONLY_BREAKS = {"\x85": "a next-line character (U+0085)", "\u2028": "a line separator (U+2028)",
                     "\u2029": "a paragraph separator (U+2029)"}
"""Characters YAML 1.1 (PyYAML) takes for a line's end and an editor does not (:data:`_LINE_BREAK`):
``  epochs: 3  # was`` + U+2028 + ``  lr: 5.0`` is one comment line on screen and sets lr
(a review); refused anywhere in a config file (:func:`_misread_character_error`): inside a quoted
value PyYAML does not keep it either (``'a`` + U+0085 + ``b'`` was read ``'a b'``; a review), and no
setting needs one."""

_LOOKALIKE_NEXT = f"(?=[{_LOOKALIKE_CHARS}])"
"""A regular expression's look-ahead: a look-alike space (:data:`_LOOKALIKE_SPACES`) comes next,
for the patterns that find one where a space was meant (:data:`_KEY_LOOKALIKE`,
:data:`_LOOKALIKE_AT`, :data:`_LOOKALIKE_AFTER_DASH`)."""

_KEY_LOOKALIKE = re.compile(f"(?P<key>[^\\s:#'\"]*):{_LOOKALIKE_NEXT}")
"""A key's colon followed by a look-alike at the start of a plain value, which YAML reads as one
text: ``{epochs:`` + U+00A0 + ``3}`` is the key ``'epochs:\xa03'`` (its group ``key`` the key,
flagged where it is a config key or YAML reads or expects a key there, :func:`_scan_values`)."""

_LOOKALIKE_AT = re.compile(f"^[ {_LOOKALIKE_CHARS}]*(?P<dash>- +)?{_KEY_LOOKALIKE.pattern}")
"""A line's start up to a key's colon followed by a look-alike space (:data:`_KEY_LOOKALIKE`);
its group ``key`` is the key (``dash``, a list item's dash), which must be a config key
(:func:`_config_keys`) for the line to be flagged: ``- No:`` + U+00A0 + ``DR`` in ``data.grades``
is a valid grade name (a review)."""

_LOOKALIKE_AFTER_DASH = re.compile(f" *- *{_LOOKALIKE_NEXT}")
"""A line's leading list dash followed by a look-alike space, plain spaces between them or
none: ``-`` + U+00A0 + ``No DR`` is no list item for YAML but the text ``'-\xa0No DR'``, which
the items below it were read into (``- Mild`` too: one grade; a review)."""

_IN_PLAIN = re.compile(f"(?P<comment>[{_LOOKALIKE_CHARS}]+(?=#))"
                       f"|(?P<end>[{_LOOKALIKE_CHARS}]+(?=[ \t]*(?:[\r\n{''.join(_YAML_ONLY_BREAKS)}]|\\Z)))")
"""A look-alike space inside a plain value's text (:attr:`_ValueScan.in_plain`) that misleads
where it stands, its group's name saying why: ``comment``, a run of them right before a ``#``,
which YAML reads as text, not as a comment's start (it needs a plain space or a tab there): ``root:
/data/x`` + U+3000 + ``# 数据目录`` is the root ``'/data/x\u3000# 数据目录'`` (a review); ``end``,
a run of them that ends the value (before a line's end, `` #``, ``,`` or ``]``), kept in it:
``name: run1`` + U+00A0 is the run folder ``'run1\xa0'`` (a review). Matched within one plain
value's text (its end the pattern's end)."""

_MISREAD = re.compile(f"[{_LOOKALIKE_CHARS}{''.join(_YAML_ONLY_BREAKS)}]")
"""Any character :func:`_misread_character_error` looks for: a file without one is not scanned."""

_ESCAPED = {ord(char): f"\\u{ord(char):04x}" for char in (*_LOOKALIKE_SPACES, *_YAML_ONLY_BREAKS)}
"""Each look-alike (:data:`_LOOKALIKE_SPACES`) and line break only YAML sees (:data:`_YAML_ONLY_BREAKS`)
-> its escape (``\\u00a0``), for :meth:`str.translate`."""


def _escaped(text: str) -> str:
    """``text`` with each look-alike (:data:`_LOOKALIKE_SPACES`) and each line break only YAML sees
    (:data:`_YAML_ONLY_BREAKS`) written as an escape (``\\u00a0``, ``\\u2028``), as a message shows
    it: printed raw, an editor and a terminal show a look-alike as a space or nothing (a review:
    ``unknown setting 'pretrain.epochs: 3'``, ``fix: rename epochs: 3 to epochs``) and a terminal
    may show U+2028 as a line's end though an editor shows the line whole (:data:`_LINE_BREAK`)."""
    return text.translate(_ESCAPED)


_CONTROL_WORDS = {"\r": "a carriage return (\\r, invisible: the end of a line of a Windows text file, which "
                         "a name read from one line by line keeps)",
                  "\n": "a line feed (\\n)", "\t": "a tab (\\t)"}
"""The control characters :func:`hidden_characters` names in words of their own."""


def hidden_characters(text: str) -> list[str]:
    """Each character of ``text`` that a terminal or a file listing shows as nothing or as a
    space (``str.isprintable`` is False: control characters, the look-alike spaces of
    :data:`_LOOKALIKE_SPACES`, U+2028 ...), named in words once each, in the order they first
    occur: ``['a carriage return (\\r, invisible: ...)', 'a non-breaking space (U+00A0)']``.
    A message that shows a name with :func:`visible_text` says with them what the escapes are
    (a trial user: folders ``0\\r`` .. ``4\\r`` made by a script reading a CRLF file were
    listed as ``0/, 1/, ...``, "not named as a grade"). A byte of a file name that does not
    decode (``os.fsdecode`` keeps it as a lone surrogate, U+DC80..U+DCFF, ``'\\udcff'``) is
    named as that byte: ``an undecodable byte 0xFF in the name`` (not "U+DCFF (a control
    character)", a review)."""
    words = []
    for char in dict.fromkeys(c for c in text if not c.isprintable()):
        if 0xDC80 <= ord(char) <= 0xDCFF:  # surrogateescape's stand-in for a byte that is no UTF-8
            words.append(f"an undecodable byte 0x{ord(char) - 0xDC00:02X} in the name")
            continue
        words.append(_CONTROL_WORDS.get(char) or _LOOKALIKE_SPACES.get(char) or _YAML_ONLY_BREAKS.get(char)
                     or f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character').lower()})")
    return words


class _ValueScan(typing.NamedTuple):
    """What PyYAML finds of a config file's values before its first mistake (:func:`_scan_values`)."""

    text_lines: frozenset[int]
    """The lines (1-based, :func:`_editor_lines`) that start inside a value's text: a block
    scalar's lines (those after a ``|`` or ``>`` header, ``name: |``, that YAML reads as the value)
    and a quoted value's lines after its first."""
    stopped: int | None
    """The line (1-based, as an editor counts) of the first mistake PyYAML's reader or parser
    meets, the line its message names (:func:`_yaml_error_text`: where a quote, ``[`` or ``{``
    left open starts); None when there is none. No value below it is found."""
    quoted_breaks: frozenset[tuple[int, int]]
    """The line (1-based) and column (0-based) of each line break only YAML sees
    (:data:`_YAML_ONLY_BREAKS`) inside a quoted value, where YAML starts no new line but reads
    U+0085 as a space and keeps U+2028 and U+2029, dropping the spaces around them."""
    read_as_text: tuple[tuple[int, int, bool], ...]
    """The line (1-based) and column (0-based) of each look-alike space that YAML reads as text
    where a space was meant, found by where PyYAML reads a plain value (not by the line's look,
    :func:`_lookalike_column`): inside ``[...]`` or ``{...}``, a plain value's first character
    (after ``[``, ``{``, ``,`` or a key's ``: ``) or right after a config key's colon at a plain
    value's start (:data:`_KEY_LOOKALIKE`); and right after the colon at the start of a mapping's
    key, or of a plain value at a line's start that PyYAML stopped at, not finding it a key
    (``  epoch:`` + U+00A0 + ``3`` among a section's keys), whatever the word before the colon
    (every mapping of a config file is a section, its keys config keys: none holds one; a review),
    and at the start of a section's plain value on a line below the section's name (``pretrain:``
    then ``  epoch:`` + U+00A0 + ``3``, its only key: the section's text; a review).
    In a quoted value or a comment, none. With each, whether it is in a list item or a value
    inside brackets, not a key: one that may be meant (``[name:`` + U+00A0 + ``a]``, a grade name,
    is valid YAML; retyped, it would be a mapping; a review), kept as written once quoted."""
    in_plain: tuple[tuple[int, int, str], ...]
    """The line (1-based) and column (0-based) of each look-alike space inside a plain value's text
    (not quoted, no block scalar's) that misleads where it stands, with why (:data:`_IN_PLAIN`):
    ``comment``, right before a ``#``, which YAML then reads as text, not as a comment's start
    (``- 正常`` + U+3000 + ``# 无病变`` is the grade ``'正常\u3000# 无病变'``; a review); ``end``, at its
    end, kept in it (``- Normal`` + U+00A0 is the grade ``'Normal\xa0'``; a review); ``after``, at its
    start right after a closed ``]`` or ``}`` (``grades: [a, b]`` + U+00A0, a YAML error that named
    no look-alike; a review)."""


class _ValueScanner(YamlLoader):
    """:class:`YamlLoader` that keeps each block or quoted scalar its scanner reads (``values``),
    one that a mistake right after it keeps from the parser too, and each plain scalar it reads
    (``plain``), with whether it is inside ``[...]`` or ``{...}``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.values: list[yaml.ScalarToken] = []
        self.quoted: list[yaml.ScalarToken] = []
        self.plain: list[tuple[yaml.ScalarToken, bool]] = []

    def scan_plain(self) -> yaml.ScalarToken:
        token = super().scan_plain()
        self.plain.append((token, bool(self.flow_level)))
        return token

    def scan_flow_scalar(self, style: str) -> yaml.ScalarToken:
        token = super().scan_flow_scalar(style)
        self.values.append(token)
        self.quoted.append(token)
        return token

    def scan_block_scalar(self, style: str) -> yaml.ScalarToken:
        token = super().scan_block_scalar(style)
        self.values.append(token)
        return token


def _scan_values(text: str) -> _ValueScan:
    """The lines of ``text`` that start inside a value's text, the line of its first YAML
    mistake and the look-alike spaces read as text in flow style (:class:`_ValueScan`). Found
    by PyYAML's scanner and parser (the scalars of style ``|``, ``>``, ``'`` or ``"``; the plain
    ones inside ``[...]`` or ``{...}``), so every header YAML takes (``|-``, ``>+2``, ``- |``)
    counts, a line indented back to the key's level ends a block scalar, and quotes and comments
    are YAML's. A plain value's next lines are not counted: a look-alike there is as likely a
    key's indentation. A character YAML takes nowhere (a NUL, a form feed), which PyYAML refuses
    before it reads anything, is read as a space (the values are still found) and is the first
    mistake where it comes first."""
    refused = yaml.reader.Reader.NON_PRINTABLE.search(text)
    stops = [] if refused is None else [refused.start()]
    scanner = None
    starts = [0, *(found.end() for found in _LINE_BREAK.finditer(text))]
    keys: set[int] = set()  # where each plain scalar the parser reads as a mapping's key starts
    open_nodes: list[tuple[bool, int, Any]] = []  # each collection open: a mapping?, nodes read, last key
    try:  # PyYAML's reader checks every character when the loader is built (a review: a traceback)
        scanner = _ValueScanner(yaml.reader.Reader.NON_PRINTABLE.sub(" ", text))
        while scanner.check_event():
            event = scanner.get_event()
            if isinstance(event, yaml.CollectionEndEvent):
                open_nodes.pop()
            elif isinstance(event, yaml.NodeEvent):
                if open_nodes:
                    mapping, read, key_event = open_nodes[-1]
                    plain = isinstance(event, yaml.ScalarEvent) and event.style is None
                    if mapping and read % 2 == 0 and plain:
                        keys.add(event.start_mark.index)
                    elif (mapping and plain and isinstance(key_event, yaml.ScalarEvent)
                          and key_event.value in _section_names() and event.start_mark.line > key_event.start_mark.line):
                        keys.add(event.start_mark.index)  # a section's text on the lines below it: a key meant
                    open_nodes[-1] = (mapping, read + 1, event if read % 2 == 0 else None)
                if isinstance(event, yaml.CollectionStartEvent):
                    open_nodes.append((isinstance(event, yaml.MappingStartEvent), 0, None))
    except yaml.YAMLError as exc:
        opened = getattr(exc, "context", None) in _UNCLOSED
        mark = getattr(exc, "context_mark" if opened else "problem_mark", None)
        if mark is not None:
            stops.append(mark.index)
        if scanner is not None and scanner.plain and getattr(exc, "problem", None) in _NOT_A_KEY:
            at = scanner.plain[-1][0].start_mark.index  # the plain value PyYAML stopped at
            if not text[starts[bisect.bisect_right(starts, at) - 1]:at].strip(" " + _LOOKALIKE_CHARS):
                keys.add(at)  # at its line's start: a key meant
    finally:
        values, quoted, plain = ([], [], []) if scanner is None else (scanner.values, scanner.quoted, scanner.plain)
        if scanner is not None:
            scanner.dispose()
    spans = [(token.start_mark.index, token.end_mark.index) for token in values]
    in_quotes = [at for token in quoted for at in range(token.start_mark.index, token.end_mark.index)
                 if text[at] in _YAML_ONLY_BREAKS]
    read_as_text, in_plain = [], []
    for token, _ in plain:
        start = token.start_mark.index
        number = bisect.bisect_right(starts, start)
        if text[start] in _LOOKALIKE_SPACES and text[starts[number - 1]:start].rstrip(" \t").endswith(("]", "}")):
            in_plain.append((number, start - starts[number - 1], "after"))  # `[a, b]` + U+00A0
            continue
        for found in _IN_PLAIN.finditer(text, start, token.end_mark.index):
            number = bisect.bisect_right(starts, found.start())
            in_plain.append((number, found.start() - starts[number - 1], found.lastgroup or ""))
    for token, in_flow in plain:
        start = at = token.start_mark.index
        key = _KEY_LOOKALIKE.match(text, at)  # the key holds no space: the text as written
        if key is not None and (at in keys or in_flow and key["key"] in _config_keys()):
            at = key.end()
        elif not (in_flow and text[at] in _LOOKALIKE_SPACES):
            continue
        number = bisect.bisect_right(starts, at)
        read_as_text.append((number, at - starts[number - 1], in_flow and start not in keys))
    return _ValueScan(
        frozenset(number for number, start in enumerate(starts, start=1)
                  if any(first < start < end for first, end in spans)),
        _editor_position(text, min(stops))[0] + 1 if stops else None,
        frozenset((line + 1, column) for line, column in (_editor_position(text, at) for at in in_quotes)),
        tuple(read_as_text),
        tuple(in_plain))


def _lookalike_column(line: str, read_as_text: Iterable[tuple[int, bool]],
                      text_line: bool) -> tuple[int, int, bool] | None:
    """The column (0-based) of the first look-alike space (:data:`_LOOKALIKE_SPACES`) in ``line``
    that YAML reads as text where a space was meant: in its indentation, right after a config
    key's colon (:data:`_LOOKALIKE_AT`), after its leading list dash (:data:`_LOOKALIKE_AFTER_DASH`),
    or at one of the columns ``read_as_text`` (:attr:`_ValueScan.read_as_text`, each with whether
    it may be meant); with the length of the line's indentation, plain spaces and look-alikes (an
    invisible one there, :data:`_INVISIBLE`, is deleted, not retyped), and whether it may be meant:
    in a list item (after a config key's colon, ``- name:`` + U+00A0 + ``a``) or a value inside
    brackets (:attr:`_ValueScan.read_as_text`). None when there is none. A line that starts inside a value's text (``text_line``,
    :attr:`_ValueScan.text_lines`) has only its ``read_as_text`` columns looked at."""
    lead = len(line) - len(line.lstrip(" " + _LOOKALIKE_CHARS))
    found = list(read_as_text)
    if not text_line:
        found += [(i, False) for i, char in enumerate(line[:lead]) if char in _LOOKALIKE_SPACES][:1]
        if (dash := _LOOKALIKE_AFTER_DASH.match(line)) is not None:
            found.append((dash.end(), False))
        if (after := _LOOKALIKE_AT.match(line)) is not None and after["key"] in _config_keys():
            found.append((after.end(), after["dash"] is not None))
    if not found:
        return None
    column, meant = min(found)
    return column, lead, meant


def _indentation_fix(indentation: str) -> tuple[str, str]:
    """The fix for the visible look-alike spaces (:data:`_LOOKALIKE_SPACES` but :data:`_INVISIBLE`)
    in a line's ``indentation``, and, where it holds more than one or an ideographic space, how many
    of each it holds (``, whose indentation holds 2 ideographic spaces (U+3000)``; else ``""``). An
    editor shows an ideographic space (U+3000) two columns wide, so each becomes two plain spaces
    (one would change the line's nesting; a review), any other one plain space."""
    counts: dict[str, int] = {}
    for char in indentation:
        if char in _LOOKALIKE_SPACES and char not in _INVISIBLE:
            counts[char] = counts.get(char, 0) + 1
    total, wide = sum(counts.values()), counts.get("\u3000", 0)

    def counted(char: str, number: int) -> str:
        noun, code = _LOOKALIKE_SPACES[char].split(" ", 1)[1].rsplit(" (", 1)
        return f"{number} {noun}{'s' * (number > 1)} ({code}"

    held = "" if total == 1 and not wide else (
        ", whose indentation holds " + in_words([counted(char, number) for char, number in counts.items()], "and"))
    if not wide:
        return f"retype {'it' if total == 1 else 'each'} as a plain space (an editor shows the two alike)", held
    if wide == total:
        return (f"replace {'it' if total == 1 else 'each'} by two plain spaces (an editor shows "
                f"{'it' if total == 1 else 'each'} two columns wide)"), held
    return ("replace each ideographic space by two plain spaces (an editor shows it two columns wide) and each "
            "other one by one plain space"), held


def _misread_character_error(path: Path, text: str) -> str | None:
    """``FILE:LINE: ...`` for the first character of ``text`` that YAML reads unlike an editor
    shows it, its column (1-based), the line with the character written as an escape
    (``\\u00a0``), and the fix; None when there is none. Lines are counted as an editor counts
    them (:data:`_LINE_BREAK`). Two kinds:

    * a look-alike space (:data:`_LOOKALIKE_SPACES`) in a line's indentation, right after a
      key's colon or a line's leading list dash (``-`` + U+00A0 + ``No DR``), or inside ``[...]``
      or ``{...}`` at a plain value's start or right after a key's colon (:func:`_lookalike_column`):
      YAML reads it as text; the fix, retype it as a plain space (an ideographic space, U+3000, in the
      indentation by two, :func:`_indentation_fix`; one an editor shows as nothing,
      :data:`_INVISIBLE`: delete it, or replace it by a plain space right after a colon or dash).
      After any word's colon too where YAML reads a key or stops not finding one
      (:attr:`_ValueScan.read_as_text`). Right before a ``#`` in a plain value (not quoted, no block
      scalar's): YAML reads the ``#`` after it as text too, not a comment's start (``root: /data/x``
      + U+3000 + ``# 数据目录``), fix: replace it by a plain space, or quote the value if the ``#`` is
      meant (:attr:`_ValueScan.in_plain`). At a plain value's end (``name: run1`` + U+00A0): YAML
      keeps it in the value; fix: delete it, or quote the value if it is meant. At the start of a
      plain value right after a closed ``]`` or ``}``: fix, delete it. Other look-alikes inside a value, a quote or a comment, and
      after the colon of a word that is no config key elsewhere (a grade name ``No:`` + U+00A0 +
      ``DR``), are left alone: YAML reads them as the text they are; so is every line of a block scalar's text
      (``name: |`` and the lines indented below it) and of a quoted value after its first
      (:func:`_scan_values`), a look-alike at its start too. One with fewer plain spaces before it
      than a block scalar's lines have is refused: YAML reads the value's indentation from the
      plain spaces alone, so that line ends the value;
    * a line break only YAML sees (:data:`_YAML_ONLY_BREAKS`), anywhere (a quoted value's and a
      block scalar's text too): YAML (1.1) reads what follows it as a line of its own, which an
      editor shows on the same line (a setting after ``# was`` set; a review), and folds it into a
      space or drops the spaces around it inside a quoted value; the fix, delete it or replace it
      by a line break.

    None too where a YAML mistake comes on a line above the character's (a ``[`` left open, a
    NUL): the loader names that mistake, the first (a review: a look-alike below it, even one in
    a block scalar's text, was named and the mistake never shown)."""
    if _MISREAD.search(text) is None:
        return None
    scan = _scan_values(text)
    for number, line in enumerate(_editor_lines(text), start=1):
        if _MISREAD.search(line) is None:
            continue
        flagged = [(column, meant) for at, column, meant in scan.read_as_text if at == number]
        whys = {column: why for at, column, why in scan.in_plain if at == number and (column, False) not in flagged
                and (column, True) not in flagged}
        lookalike = _lookalike_column(line, [*flagged, *((column, False) for column in whys)],
                                      number in scan.text_lines)
        first_break = next((i for i, char in enumerate(line) if char in _YAML_ONLY_BREAKS), None)
        if lookalike is None and first_break is None:
            continue
        if scan.stopped is not None and scan.stopped < number:
            return None
        shown = _shown(line)
        if lookalike is None or (first_break is not None and first_break < lookalike[0]):
            char = line[first_break]
            if (number, first_break) not in scan.quoted_breaks:
                read = ("YAML reads what follows it as a new line (after a `#`, a setting written there would be "
                        "set).\n  fix: delete it or replace it by a line break.")
            elif char == "\x85":  # no new line: a review (a setting after a `#` was said for a quote)
                read = "inside quotes YAML reads it as a space.\n  fix: delete it, or replace it by a plain space."
            else:
                read = ("inside quotes YAML keeps it but drops the spaces around it.\n  fix: delete it, or replace it "
                        "by a plain space.")
            return (f"{path}:{number}: {_YAML_ONLY_BREAKS[char]} at column {first_break + 1} ends a line "
                    f"for YAML, though an editor shows none: line {number} `{shown}`; {read}")
        column, lead, meant = lookalike
        char = line[column]
        if whys.get(column) == "comment" and column >= lead:  # `正常` + U+3000 + `# 无病变`: the comment is the value's text
            return (f"{path}:{number}: {_LOOKALIKE_SPACES[char]} at column {column + 1}: YAML reads it as text, "
                    f"so the `#` after it does not start a comment: line {number} `{shown}`.\n  fix: replace it "
                    f"by a plain space{' (it is invisible)' * (char in _INVISIBLE)}, or quote the value if the "
                    f"`#` is meant.")
        held = ""
        if whys.get(column) == "end":  # `name: run1` + U+00A0: the run folder 'run1\xa0'
            return (f"{path}:{number}: {_LOOKALIKE_SPACES[char]} at column {column + 1}: YAML reads it as text, "
                    f"the value's last character, though an editor shows {'nothing' if char in _INVISIBLE else 'a space'}"
                    f": line {number} `{shown}`.\n  fix: delete it, or quote the value if it is meant.")
        if whys.get(column) == "after":  # `[a, b]` + U+00A0: text after the closed list
            comment = line[column:].lstrip(_LOOKALIKE_CHARS).startswith("#")  # `[a, b]` + U+3000 + `# note`: a space meant
            return (f"{path}:{number}: {_LOOKALIKE_SPACES[char]} at column {column + 1}: YAML reads it as text "
                    f"after the closed `{line[:column].rstrip()[-1]}`, though an editor shows "
                    f"{'nothing' if char in _INVISIBLE else 'a space'}: line {number} `{shown}`.\n  fix: "
                    + ("replace it by a plain space (or delete it)." if comment else "delete it."))
        if char not in _INVISIBLE and column < lead:  # U+3000 is two columns wide: a space for each
            fix, held = _indentation_fix(line[:lead])
        elif char not in _INVISIBLE:
            fix = "retype it as a plain space (an editor shows the two alike)"
        elif column < lead:
            fix = f"delete it (it is invisible{'; the spaces around it indent the line' * (' ' in line[:lead])})"
        elif line[column - 1] in ":-":  # `epochs:` or `-` and the value: YAML needs a space there
            fix = "replace it by a plain space (it is invisible)"
        else:
            fix = "delete it (it is invisible)"
        if meant:  # a list item's or a bracketed value's text: a grade name may hold one
            fix += ", or quote the value if the character is meant"
        return (f"{path}:{number}: {_LOOKALIKE_SPACES[char]} at column {column + 1}: YAML reads it as text, "
                f"not as a space: line {number} `{shown}`{held}.\n  fix: {fix}.")
    return None


def _not_text_error(path: Path, exc: yaml.reader.ReaderError, text: str) -> str:
    r"""``FILE:LINE: not valid YAML (...)`` for a character YAML does not take anywhere in a
    file (PyYAML's ``ReaderError``: a NUL byte from a binary copy, a form feed from a
    printer-paged file): its line and column from ``exc.position`` (the character's offset in
    ``text``), the line quoted with the character written as an escape (``\x00``), and the fix.
    Lines are counted as an editor counts them (:data:`_LINE_BREAK`): ``str.splitlines`` also
    breaks at a form feed."""
    position = min(max(exc.position, 0), len(text))
    at, column = _editor_position(text, position)
    number, column, line = at + 1, column + 1, _LINE_BREAK.split(text)[at]
    char = chr(exc.character) if isinstance(exc.character, int) else text[position:position + 1] or "?"
    code = f"U+{ord(char):04X}"
    named = _CONTROL_NAMES.get(char, "a control character" if ord(char) < 0x20 else "a character")
    seen = f"a box, as ^{chr(ord(char) + 64)}" if ord(char) < 0x20 else "a box"
    shown = "".join(c if c == "\t" or c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 0x100
                    else f"\\u{ord(c):04x}" for c in line)
    return (f"{path}:{number}: not valid YAML ({named}, {code}, at column {column} is not a text "
            f"character): line {number} `{_shown(shown)}`.\n  fix: delete that character (an editor may show "
            f"it as {seen}, or not at all: retyping line {number} removes it).")


def _yaml_error_text(path: Path, exc: yaml.YAMLError, text: str) -> str:
    """``FILE:LINE: not valid YAML (...)`` and the fix. PyYAML marks where it noticed the
    problem (``problem_mark``), often a line below the mistake: for a quote left open, the
    end of the file; for ``  epochs:30`` (no space after the colon), the next line. When its
    context says a quote, ``[`` or ``{`` was opened and not closed, the line is where it
    opened. When its context is :data:`_SIMPLE_KEY` (``context_mark`` on the mistake's line),
    or its ``context_mark`` is on the line just above, or the line above the one it noticed
    (comments and blank lines passed over) is ``key:value`` without the space (``key`` a
    section's or setting's name), the message names both lines, ``FILE:52-53: ...`` (the
    first, where the mistake is, for an editor to jump to), and quotes each from ``text`` (the
    file's text); for a missing space the fix is the line as it should be written. Any other
    context mark (a block mapping's: where the enclosing section starts, far above a key
    indented one space short) is not named. A mistake PyYAML notices on its own line is
    ``FILE:LINE``, that line quoted, and the fix: for a tab, that YAML indents with spaces; for
    an indentation that no line above has open or a list item among keys, what is wrong with
    it; else the line above named. A mistake noticed past the last line (only blank or comment
    lines after it) is said to be at :data:`END_OF_FILE`, and the last line that holds more is
    ``LINE``; a tab where PyYAML stopped is named on its own line first (a blank line holding a
    tab, even the last, gets "delete the tab"), and a list item (``- ``) among keys on its own
    line, even right after a section's first key (whose line is then PyYAML's context). A value
    left open on the last line with no newline after it (PyYAML's mark at the end of the
    stream, on the opening line) is still said to be open. A byte-order mark before line 1 is
    no part of it; a character YAML takes nowhere (PyYAML's ``ReaderError``: a NUL, a form
    feed) is named by :func:`_not_text_error`."""
    text = text.removeprefix(BYTE_ORDER_MARK)
    mark = _editor_mark(text, getattr(exc, "problem_mark", None))
    start = _editor_mark(text, getattr(exc, "context_mark", None))
    context = str(getattr(exc, "context", "") or "")
    lines = _editor_lines(text)
    if isinstance(exc, yaml.reader.ReaderError):
        return _not_text_error(path, exc, text)
    if isinstance(exc, YamlNoSuchDateError) and mark is not None:  # valid YAML: no line-above hint
        shown = lines[mark.line] if mark.line < len(lines) else ""
        quoted = shown.replace(exc.value, f"'{exc.value}'", 1) if exc.value in shown else f"'{exc.value}'"
        return (f"{path}:{mark.line + 1}: {exc.value} is read as a date (YAML 1.1 reads text shaped "
                f"YYYY-MM-DD so), and it is no date ({exc.reason}): line {mark.line + 1} `{shown}`.\n  "
                f"fix: quote it to keep it as text, `{quoted}`, or write the date meant.")
    unclosed = _UNCLOSED.get(context)
    at_stream_end = mark is not None and mark.index >= len(text)  # no final newline after the value
    if unclosed and start is not None and (mark is None or mark.line != start.line or at_stream_end):
        opened, closer = unclosed
        stops = ("" if mark is None else
                 f" at {END_OF_FILE}" if at_stream_end or _at_end(lines, mark.line + 1)
                 else f" on line {mark.line + 1}")
        stopped = f"; PyYAML stops{stops}: {exc.problem}" if mark is not None else ""
        return (f"{path}:{start.line + 1}: not valid YAML ({opened} that starts on this line is not "
                f"closed{stopped}).\n  fix: close it on line {start.line + 1}: {closer} at the end "
                f"of the value.")
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return (f"{path}: not valid YAML ({problem}).\n"
                f"  fix: check indentation and 'key: value' syntax.")
    noticed = mark.line + 1
    tab_fix = _tab_fix(lines, noticed, mark.column)
    if tab_fix is not None:  # a tab where PyYAML stopped: that line, even at the end of the file
        return (f"{path}:{noticed}: not valid YAML ({problem}): {_quoted_line(lines, noticed)}.\n"
                f"  fix: {tab_fix}")
    if 0 < noticed <= len(lines) and _is_list_item(lines[noticed - 1]):
        item_words = _indent_words(lines, noticed)  # an item among keys, even right after the first
        if item_words is not None:  # key (PyYAML's context is then that key, on the line above)
            return (f"{path}:{noticed}: not valid YAML ({problem}): {_quoted_line(lines, noticed)}.\n"
                    f"  fix: {item_words}")
    at_end = _at_end(lines, noticed)
    first = (start.line + 1 if start is not None and start.line < mark.line
             and (context == _SIMPLE_KEY or start.line == mark.line - 1) else None)
    above = _line_above(lines, noticed)
    if first is None and _key_without_space(lines, above) is not None:
        first = above  # PyYAML read `key:value` as text and stopped on the next key
    if first is None and at_end and above:
        first = above  # nothing written where it stopped: the last line that holds more
    if first is None:
        fixed = _key_without_space(lines, noticed)
        fix = ((f"a mapping key needs a space after the colon: write line {noticed} as `{fixed}`."
                if fixed is not None else None)
               or _indent_words(lines, noticed)
               or "check indentation and 'key: value' syntax on that line"
               + (f" and the one above ({_quoted_line(lines, above)}): PyYAML may notice a "
                  f"mistake a line late." if above else "."))
        return (f"{path}:{noticed}: not valid YAML ({problem}): {_quoted_line(lines, noticed)}.\n"
                f"  fix: {fix}")
    fixed = _key_without_space(lines, first)
    if at_end:
        fix = (f"a mapping key needs a space after the colon: write line {first} as `{fixed}`."
               if fixed is not None else
               f"check indentation and 'key: value' syntax on line {first}, the last line before the "
               f"end of the file.")
        return (f"{path}:{first}: not valid YAML ({problem}, noticed at {END_OF_FILE}): "
                f"{_quoted_line(lines, first)}.\n  fix: {fix}")
    fix = (f"a mapping key needs a space after the colon: write line {first} as `{fixed}`."
           if fixed is not None else
           f"check indentation and 'key: value' syntax on line {first} and line {noticed}.")
    return (f"{path}:{first}-{noticed}: not valid YAML ({problem}, noticed on line {noticed}; the "
            f"mistake can be on the line before): {_quoted_line(lines, first)}, "
            f"{_quoted_line(lines, noticed)}.\n  fix: {fix}")


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_TEXT_READ_AS_VALUE = (*_NUMBER_TAGS, "tag:yaml.org,2002:timestamp")
"""What YAML 1.1 makes of some plain text (``12:30`` the sexagesimal 750, ``010`` the octal 8,
``2024-05-01`` a date)."""

_YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_YAML12_SPECIAL = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


def yaml12_number(text: str) -> int | float | None:
    """The number the plain YAML scalar ``text`` is under YAML 1.2's core schema, else None:
    decimal integers (``010`` is 10, not YAML 1.1's octal 8), ``0o`` octal and ``0x`` hexadecimal
    (which YAML 1.1 read alike: ``0x10`` is 16), decimal floats (``1e-3``, ``.5``), ``.inf`` and
    ``.nan`` (its three spellings each). YAML 1.1's sexagesimal (``1:40``, 100), binary (``0b11``)
    and ``_`` separators (``1_000``) are no numbers under 1.2: None, and a number setting written
    so is refused (:func:`_coerce`; ``1_000``, which Python's ``float()`` reads, by
    :func:`_no_underscores`)."""
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text, 10)
    if re.fullmatch(r"0o[0-7]+", text):
        return int(text[2:], 8)
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return int(text[2:], 16)
    if _YAML12_FLOAT.fullmatch(text):
        return float(text)
    if text in (*_YAML12_SPECIAL, *(w.replace("inf", "Inf").replace("nan", "NaN") for w in _YAML12_SPECIAL),
                *(w.upper() for w in _YAML12_SPECIAL)):
        return _YAML12_SPECIAL[text.lower()]
    return None


class NumberText(str):
    """An item of a list of text settings (``data.grades``) written as a plain number (``010``,
    ``12:30``: a number to YAML 1.1 or 1.2), kept as typed: the grade-name check refuses it
    quoting this text (:func:`_grade_names_read_as_values`), not YAML's reading of it (8, 750)."""


def _written_values(node: yaml.Node | None, data: Any, tp: Any = Config, item: bool = False) -> Any:
    """``data`` (the document of the composed ``node``, of declared type ``tp``) with the plain
    values YAML 1.1 misreads replaced, for a config file and an override alike: a setting
    declared text (a name, a path) keeps the text written where YAML read a number or a date
    (``labels_csv: 12:30`` is ``'12:30'``, not 750); a number setting is read by YAML 1.2's rules
    (:func:`yaml12_number`: ``seed: 010`` is 10; ``epochs: 1:40`` stays the text ``'1:40'``,
    which :func:`_coerce` refuses as not a number); an ``item`` of a list of text settings
    written as a number is a :class:`NumberText`. Booleans (``true``) and none (``~``) are left
    to :func:`_coerce`; a quoted value is text already. Mappings are changed in place."""
    if dataclasses.is_dataclass(tp):
        if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
            hints = _type_hints(tp)
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name in hints and name in data:
                    data[name] = _written_values(value, data[name], hints[name])
                elif name in data:  # no such setting: its fix writes the value as written
                    data[name] = _as_written(value, data[name])
        return data
    if typing.get_origin(tp) in (list, tuple):
        (item_tp,) = typing.get_args(tp)[:1] or (Any,)
        if isinstance(node, yaml.SequenceNode) and isinstance(data, list) and len(node.value) == len(data):
            return [_written_values(n, d, item_tp, item=True) for n, d in zip(node.value, data, strict=True)]
        return data
    if not isinstance(node, yaml.ScalarNode) or node.style is not None:
        return data
    if tp in (int, float):
        number = yaml12_number(node.value)
        if number is not None:
            return number
        return node.value if node.tag in _NUMBER_TAGS else data
    if tp is str:
        if item and (node.tag in _NUMBER_TAGS or yaml12_number(node.value) is not None):
            return NumberText(node.value)
        if node.tag in _TEXT_READ_AS_VALUE:
            return node.value
    return data


def _table_words(path: Path, text: str) -> str | None:
    """The error of ``-c`` naming a table, not a config (a review: ``-c labels.csv`` was told
    "the top level is the str 'image name,DR grade eye_001.jpg,3 ...'"): a ``.csv`` / ``.tsv``
    file, or text whose first line has commas, semicolons or tabs and no ``key:``, and a second
    line alike; None for anything else (YAML reads it)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return None
    first = lines[0]

    def tabular(line: str) -> bool:
        return any(sep in line for sep in ",;\t") and not re.match(r"^\s*[\w.-]+\s*:(\s|$)", line)

    if path.suffix.lower() not in (".csv", ".tsv") and not (len(lines) >= 2 and tabular(first) and tabular(lines[1])):
        return None
    shown = first.strip()[:60] + ("..." if len(first.strip()) > 60 else "")
    return (f"{path}: this looks like a label CSV (its first line: {shown!r}), not a config file (a "
            f"YAML file of sections: data:, pretrain:, umm:, finetune:, run:).\n  fix: give a label "
            f"CSV as a setting, data.labels_csv={shell_word(str(path))} (with data.root=<the image "
            f"folder>), and -c a config file, e.g. {_example_config()}")


DEEP_NESTING_WORDS = ("its lists or mappings nest deeper than Python's recursion limit lets YAML read "
                      "(a setting's value is a number, a word or a list of them)")
"""Why a value nested thousands of brackets deep is refused, in a config file (:func:`_load_yaml`)
or an override (:func:`parse_override`)."""
_DEEP_NESTING = 64
"""How many brackets deep :func:`_deep_nesting_line` takes for a nesting too deep to read: no
setting's value nests more than two."""


def _deep_nesting_line(text: str) -> int | None:
    r"""The 1-based line (as an editor counts them, :func:`_editor_position`) of the outermost
    flow bracket (``[``, ``{``) of the first value of the YAML ``text`` nested
    :data:`_DEEP_NESTING` deep; None where none nests so deep (a block nesting of ``- -``) or
    YAML finds an error before one does. PyYAML's own scanner reads the tokens (it keeps no
    recursion, unlike its composer), so quotes, comments, plain words (``a[b``) and block
    scalars (``key: |``) are YAML's, not a scan of ours: libyaml's where PyYAML has it (10 ms
    for a file 3000 deep; the Python scanner takes 0.3 s, each ``[`` a possible key it looks
    1024 characters past)."""
    depth, start = 0, 0
    try:
        for token in yaml.scan(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                start = token.start_mark.index if depth == 0 else start  # where the value starts
                depth += 1
                if depth >= _DEEP_NESTING:
                    return _editor_position(text, start)[0] + 1
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)) and depth:
                depth -= 1
    except yaml.YAMLError:  # a YAML error before any value nests so deep
        return None
    return None


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        here = "" if path.is_absolute() else f" (looked for from the current folder, {Path.cwd()})"
        raise ConfigError(
            f"{path}: config file not found{here}.\n  fix: {_missing_config_fix(path)}"
        ) from None
    except UnicodeDecodeError as exc:  # saved as Latin-1 / Windows-1252 (root: café)
        raise ConfigError(f"{_not_utf8_words(path, exc)}.\n  fix: save the file as UTF-8.") from None
    except OSError as exc:  # a folder, no permission
        if os.path.isdir(path):
            raise ConfigError(_folder_config_text(path)) from None
        if isinstance(exc, PermissionError):  # another account's run folder (mode 0700): whose, and the fix
            from drac_ssl.io import unreadable_words  # stdlib only

            raise ConfigError(unreadable_words(exc, path, "the config file")) from None
        raise ConfigError(
            f"{path}: cannot be read ({exc.strerror or exc}).\n  fix: pass a YAML config file "
            f"with -c, e.g. {_example_config()}"
        ) from None
    text = text.removeprefix(BYTE_ORDER_MARK)  # Notepad's: line 1's key is `pretrain`, not `\ufeffpretrain`
    misread = _misread_character_error(path, text)
    if misread is not None:  # before YAML reads it: what YAML makes of it is a misleading error
        raise ConfigError(misread)
    if (table := _table_words(path, text)) is not None:  # -c labels.csv: not "the top level is the str"
        raise ConfigError(table)
    loader = None
    try:
        loader = _LineLoader(text)  # a SafeLoader subclass; refuses a NUL or form feed anywhere
        node = loader.get_single_node()
        repeated = _repeated_key(node, text)
        data = loader.construct_document(node) if node is not None else None
        data = _written_values(node, data)
    except YamlAliasExpansionError as exc:
        line = _editor_position(text, exc.problem_mark.index)[0] + 1 if exc.problem_mark else 1
        raise ConfigError(f"{path}:{line}: refused: {exc.problem} (a 'billion laughs' file, "
                          f"which would take minutes and gigabytes to read).\n  fix: write each "
                          f"setting's value itself, without anchors (&name) and aliases (*name); "
                          f"no shipped config uses them.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_error_text(path, exc, text)) from None
    except RecursionError:  # [[[...]]] 3000 deep: PyYAML composes (and we walk) nodes recursively
        line = _deep_nesting_line(text)
        raise ConfigError(f"{path}{'' if line is None else f':{line}'}: refused: {DEEP_NESTING_WORDS}."
                          f"\n  fix: write each setting's value itself, e.g. epochs: 3 or "
                          f"cache_sizes: [128, 256]") from None
    finally:
        if loader is not None:
            loader.dispose()
    if repeated:
        key, first, second = repeated
        where, fix = ((f", on lines {first} and {second}", "keep one of the two lines (delete the other)")
                      if first != second else  # {epochs: 3, epochs: 4} (a review: "on lines 1 and 1")
                      (f" on line {first}", f"keep one of the two on line {first} (delete the other with its value)"))
        raise ConfigError(
            f"{path}:{second}: {key!r} is written twice in the same section{where}; only one value can "
            f"be used.\n  fix: {fix}."
        )
    if data is None:  # 0 bytes or only comments: the defaults would run, a full-size run
        raise ConfigError(
            f"{path}: config file is empty (no settings in it), so every setting would be the "
            f"built-in default.\n  fix: pass a config with settings, e.g. -c "
            f"{config_word(PACKAGE_CONFIGS / 'default.yaml')} (the shipped default.yaml), or write the settings you want into {path}."
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the {type(data).__name__} {data!r:.40}"
        raise ConfigError(f"{path}: the top level is {kind}, not a mapping of sections (data:, "
                          f"pretrain:, umm:, finetune:, run:).\n  fix: write the settings under "
                          f"their sections, e.g.\n    pretrain:\n      epochs: 50\n    run:\n"
                          f"      name: mine")
    if is_resolved_text(text):  # a run's config.yaml, perhaps from before a default
        data = with_former_defaults(data)  # changed: read as it ran (-c RUN/config.yaml resumes)
    return data


def _not_utf8_words(path: Path, exc: UnicodeDecodeError) -> str:
    """``FILE:LINE: not UTF-8 (byte 0xff)``: where ``path``'s bytes (``exc.object``) stop being
    UTF-8 (a file saved as Latin-1 / Windows-1252, or damaged)."""
    line = exc.object[:exc.start].count(b"\n") + 1
    return f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x})"


SAVED_CONFIG = "config.yaml"
"""The name of a run folder's saved configuration, read by :func:`read_saved_config`
(:func:`save_config` writes to whatever path its caller gives: the run writes ``RUN/config.yaml``)."""


def read_saved_config(run_dir: str | os.PathLike[str], strict: bool = False) -> dict[str, Any]:
    """The run folder ``run_dir``'s saved ``config.yaml`` as the nested dict it holds, read
    as written (:func:`read_yaml`: no former defaults filled in, unlike :func:`load_config`):
    the one reader of a run's saved configuration. ``{}`` when there is none: no such file
    (or no such folder), or a file with no settings (empty, only comments).

    A damaged file (bytes that are not UTF-8, text that is not YAML, a top level that is not a
    mapping of sections) or one that cannot be read: ``{}`` too unless ``strict``, for a
    caller to which "no config" is normal (a report line, a note left out); with ``strict``,
    for one that needs the settings (a resume, ``python -m drac_ssl.report``), it raises.

    Raises:
        ConfigError: (``strict``) the damaged file, ``FILE:LINE:`` where known, what is wrong
            and ``\n  fix: ...`` (a date-shaped value that is no date, ``name: 2026-02-30``,
            too: PyYAML's bare ``ValueError``).
        OSError: (``strict``) the file cannot be read (no permission, a folder of that name):
            what every command says in :func:`drac_ssl.io.unreadable_words`."""
    path = Path(run_dir) / SAVED_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        if not strict:
            return {}
        if isinstance(exc, OSError):
            raise
        raise ConfigError(f"{_not_utf8_words(path, exc)}: the run's saved configuration cannot be read "
                          f"(damaged, or saved by an editor in another encoding).\n  fix: "
                          f"{_saved_config_fix('save it as UTF-8')}") from None
    try:
        data = read_yaml(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a value PyYAML cannot construct
        if not strict:
            return {}
        if isinstance(exc, yaml.YAMLError):  # a no-date date (2026-02-30) too: YamlNoSuchDateError
            raise ConfigError(_yaml_error_text(path, exc, text)) from None
        raise ConfigError(f"{path}: a value in it cannot be read ({exc}).\n  fix: "
                          f"{_saved_config_fix('quote that value')}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        if not strict:
            return {}
        kind = "a list" if isinstance(data, list) else f"the {type(data).__name__} {data!r:.40}"
        raise ConfigError(f"{path}: the top level is {kind}, not the mapping of sections (data:, "
                          f"pretrain:, umm:, finetune:, run:) a run's saved configuration holds.\n  "
                          f"fix: {_saved_config_fix('write its settings under their sections')}")
    return data


def _saved_config_fix(how: str) -> str:
    """The fix of a damaged run's ``config.yaml`` (:func:`read_saved_config`), ``how`` the
    repair of the file itself; ends in "." as every fix (a caller adds an alternative on its own line)."""
    return f"put back the config.yaml the run wrote (a copy, a backup), or {how} with the values the run was made with."


def _key_line(path: Path, dotted: str) -> str:
    """Best-effort 'file:line' of a dotted key in a YAML file (block style): each component
    is looked for inside the block of the one before, so ``finetune.epochs`` is not taken
    for ``pretrain.epochs``. Falls back to the deepest component found."""
    try:
        lines = _editor_lines(path.read_text(encoding="utf-8").removeprefix(BYTE_ORDER_MARK))
    except (OSError, UnicodeDecodeError):
        return str(path)
    found, start, indent = None, 0, -1
    parts = [p.split("[")[0] for p in dotted.split(".")]
    for cut in range(len(parts) - 1):  # a dotted key written as one (finetune.epochs: 3), or a
        # dotted section whose settings are a block under it (pretrain.augment:\n  recipe: x,
        # read as pretrain.augment.recipe): the longest such key first
        for end in range(len(parts), cut + 1, -1):
            literal = ".".join(parts[cut:end])
            for i, line in enumerate(lines):
                text = line.lstrip()
                if text.startswith((f"{literal}:", f"'{literal}':", f'"{literal}":')) and (
                        cut == 0 or _key_line(path, ".".join(parts[:cut])) != str(path)):
                    return f"{path}:{i + 1}"
    for part in parts:
        for i in range(start, len(lines)):
            text = lines[i].lstrip()
            depth = len(lines[i]) - len(text)
            if not text or text.startswith("#"):
                continue
            if depth <= indent:  # left the enclosing block
                return f"{path}:{found + 1}" if found is not None else str(path)
            if text.startswith(f"{part}:"):
                found, start, indent = i, i + 1, depth
                break
        else:
            break
    return f"{path}:{found + 1}" if found is not None else str(path)


NO_DASHES = "settings are overrides written section.key=value, without dashes (not options)"
"""What is wrong with ``--run.name=x``, said by :func:`parse_override` and by the commands'
parser (:func:`drac_ssl.commands.option_override_fix`) in the same words."""


def undashed_overrides(name: str, value: str) -> str:
    """The override(s) ``--NAME=VALUE`` meant, in words: ``pretrain.lr=0.1`` for
    ``--pretrain.lr``, ``pretrain.lr=0.1 or finetune.lr=0.1`` for ``--lr`` (every setting
    :func:`settings_named` finds, ``-`` read as ``_``), each one shell word (:func:`shell_word`:
    ``'run.name=my run'``); "" when NAME names none."""
    meant = settings_named(name.replace("-", "_")) if name else []
    return in_words([shell_word(f"{m}={value}") for m in meant]) if meant else ""


def undashed_problem(name: str, value: str) -> str:
    """What is wrong with the override ``--NAME=VALUE`` meant once its dashes are gone, when
    NAME is no setting (:func:`undashed_overrides` finds none): ``pretrain.lrr`` says
    ``unknown setting 'pretrain.lrr'. Did you mean 'pretrain.lr'?`` with its valid keys and
    fix lines (``fix: pretrain.lr=0.1``), as :func:`load_config` says it; "" when NAME=VALUE
    reads."""
    undashed = f"{name}={value}"
    exc = _undashed_error(undashed)
    return str(exc).removeprefix(f"command line '{undashed}': ") if exc else ""


def _undashed_error(undashed: str) -> ConfigError | None:
    """The :class:`ConfigError` the override ``undashed`` (``pretrain.lrr=0.1``) raises when read
    and merged onto the defaults, as its dashed spelling's (:func:`undashed_problem`,
    :func:`_refuse_undashed`); None when it reads."""
    try:
        parts, read = parse_override(undashed)
        _merge(Config(), _nest(parts, read), f"command line '{undashed}'")
    except ConfigError as exc:
        return exc
    return None


def parse_override(arg: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into (['a','b','c'], parsed value). The value of a setting
    declared text (a name, a path, a word: ``run.name``, ``data.root``) is its exact text
    (:func:`_override_text`: ``data.labels_csv=12:30`` is ``'12:30'``, ``data.root=/d/DRAC #2`` keeps
    its ``#2``), and so is each item of a list of text settings (:func:`_override_text_list`:
    ``data.unlabelled=[/scans #2]`` keeps its ``#2``); any other value is parsed as YAML 1.2
    (:func:`_read_override_value`: ``yes``,
    ``no``, ``on`` and ``off`` stay words; numbers by YAML 1.2's rules, ``010`` 10; booleans and
    ``[a, b]`` lists are read as such).

    Raises:
        ConfigError: no ``=``, no key, a key written as an option (``--run.name=x``: the
            commands refuse it, :data:`NO_DASHES`), ``data.root`` typed empty, or a no-value
            word (``null``) for a setting whose empty value means something
            (:data:`NO_VALUE_WORDS_REFUSED`)."""
    if "=" not in arg:
        raise ConfigError(
            f"command line: '{arg}' is not an override.\n"
            f"  fix: write overrides as section.key=value, e.g. data.root=/path/to/DRAC"
        )
    key, raw = arg.split("=", 1)
    key = key.strip()
    if key.startswith("-"):  # as the commands refuse --run.name=x (commands.option_override_fix)
        name = key.lstrip("-")
        fix = undashed_overrides(name, raw.strip())
        if not fix:  # --pretrain.lrr=0.1: what is wrong with pretrain.lrr=0.1 too
            _refuse_undashed(arg, f"{name}={raw}")
            fix = shell_word(f"{name}={raw.strip()}")
        raise ConfigError(f"command line '{arg}': {NO_DASHES}.\n  fix: {fix}")
    if not key:
        raise ConfigError(f"command line '{arg}': no key before '='.\n  fix: write it section.key=value, "
                          f"e.g. {shell_word('pretrain.lr=' + (raw.strip() or '0.1'))}")
    tp = _declared_type(key.split("."))
    try:
        if tp is str:
            return key.split("."), _override_text(arg, key, raw)
        if typing.get_origin(tp) in (list, tuple) and typing.get_args(tp)[:1] == (str,):
            return key.split("."), _override_text_list(arg, key, raw)
        try:
            value = _read_override_value(raw, tp) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
    except RecursionError:  # pretrain.epochs=[[[...]]] 3000 deep, as a file's (_load_yaml)
        raise ConfigError(f"command line '{typed_words(arg)}': refused: {DEEP_NESTING_WORDS}."
                          f"{_default_fix(key)}") from None
    return key.split("."), value


def _refuse_undashed(arg: str, undashed: str) -> None:
    """Raise, for the override ``arg`` written with dashes (``--pretrain.lrr=0.1``), what is
    wrong with it without them (``undashed``, ``pretrain.lrr=0.1``: an unknown setting, with
    its did-you-mean and fix, as an :class:`UnknownSettingError`) after :data:`NO_DASHES`;
    return when ``undashed`` reads."""
    exc = _undashed_error(undashed)
    if exc is None:
        return
    said = str(exc).removeprefix(f"command line '{undashed}': ")
    message = f"command line '{arg}': {NO_DASHES}; without them: {said}"
    if isinstance(exc, UnknownSettingError):
        raise UnknownSettingError(message, exc.setting, exc.meant) from None
    raise ConfigError(message) from None


def _read_override_value(raw: str, tp: Any) -> Any:
    """An override's value read as YAML (:class:`YamlLoader`), then as a config file's value of
    declared type ``tp`` is (:func:`_written_values`: YAML 1.2's numbers, grade names as typed);
    ``tp`` None (no such setting) is YAML's reading.

    Raises:
        yaml.YAMLError: ``raw`` is not valid YAML."""
    loader = YamlLoader(raw)  # a SafeLoader subclass
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return _written_values(node, data, tp) if tp is not None else data


def _declared_type(parts: Sequence[str]) -> Any:
    """The annotated type of the setting ``parts`` of :class:`Config` (``['data', 'root']`` ->
    ``str``, ``['data']`` -> :class:`DataConfig`); None for a key no section has."""
    tp: Any = Config
    for part in parts:
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            return None
        tp = _type_hints(tp).get(part)
        if tp is None:
            return None
    return tp


def _override_text(arg: str, key: str, raw: str) -> Any:
    """The value of a text setting (a name, a path, a word) typed as ``key=raw``: its text (the
    spaces around it aside, as YAML read them: ``run.name= x `` is ``x``), not YAML's reading of it (YAML 1.1 made ``12:30`` the number 750, ``010`` 8, and cut
    ``exp #3`` at its comment). A value quoted whole (``'...'`` or ``"..."``) is the quoted text,
    one in ``[...]`` or ``{...}`` the YAML list or mapping (which :func:`_coerce` refuses with
    the fix); ``true`` / ``false`` in any case the word in lower case, as YAML's booleans were
    read.

    Raises:
        ConfigError: ``data.root`` typed empty (``data.root=$DRAC`` with the variable unset),
            which would run the embedded phantom set instead of the data meant; a value in double
            quotes with a backslash escape (``"C:\\new"``: :func:`_refuse_backslash_escape`)."""
    text = raw.strip()
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    if quoted:
        _refuse_backslash_escape(arg, key, text, f"{key}={text[1:-1]}")
    if quoted or (text[:1], text[-1:]) in (("[", "]"), ("{", "}")):  # a list: its type error
        try:
            value = read_yaml(text)
        except yaml.YAMLError:
            value = None
        if isinstance(value, (str, list, dict)):
            return value
    if text.lower() in ("true", "false"):
        return text.lower()
    if key in NO_VALUE_WORDS_REFUSED and text.lower() in NO_VALUE_WORDS and not (
            text == "~" and key == "data.root"):  # data.root=~ is the home folder, as ~/x is
        raise ConfigError(_no_value_word_text(arg, key, text))
    if key == "data.root" and not text:
        raise ConfigError(
            f"command line '{arg}': data.root is empty (an unset shell variable, data.root=$DRAC, "
            f"gives this), and an empty data.root means {EMPTY_PATH_MEANS['data.root']}, not "
            f"your data.\n  fix: data.root=/path/to/your/data; to run the phantom set, leave "
            f"data.root out (with a config whose root is \"\") or write data.root=\"''\"")
    return text  # the spaces around it aside, as YAML read a plain value


def _override_text_list(arg: str, key: str, raw: str) -> Any:
    """The value of a list of text settings (``data.unlabelled``, ``data.grades``,
    ``run.stages``) typed as ``key=raw``: each item its text as typed, as a single text
    setting's is (:func:`_override_text`), not YAML's reading of the list (which cut
    ``[/scans #2]`` at its comment, left the list unclosed and so took ``[/scans`` for a path).

    ``[a, b]`` and ``a,b`` are split at their commas (an empty item, YAML's trailing comma,
    is left out), and a value without brackets is read as the inside of them (``2022`` is
    ``[2022]``, ``/scans: 2022`` one path, not YAML's number or mapping); an item quoted whole
    (``'Mild, early'``) is the quoted text, commas and all; an item in ``[...]`` or ``{...}``
    is YAML's list or mapping (which :func:`_coerce` refuses with the fix); the other items
    keep their text, the spaces around them aside, except what YAML would read as a boolean
    or number (``true``, ``010``): a boolean, or a :class:`NumberText` keeping the text, which
    the grade-name check refuses (as in a config file: :func:`_written_values`). A list opened
    or closed alone (``[a, b``) is returned as typed, for :func:`_coerce`'s fix.

    Raises:
        ConfigError: a quote opened at the start of an item and never closed; an item in
            double quotes with a backslash escape (``["C:\\scans"]``:
            :func:`_refuse_backslash_escape`)."""
    text = raw.strip()
    if not text:
        return ""
    bracketed = text[:1] == "[" and text[-1:] == "]"
    if not bracketed and (text[:1] == "[" or text[-1:] == "]"):  # [a, b: _coerce's "not closed" and its fix
        return text
    items = _text_items(text[1:-1] if bracketed else text)  # 2022 as [2022], not YAML's number
    if items is None:
        raise ConfigError(
            f"command line '{arg}': '{key}' has a quote that is not closed: an item that starts "
            f"with ' or \" ends at the same quote mark.\n  fix: close the quote, e.g. "
            f"'{key}=[\"first item\", second]' (the whole override in the shell's quotes), or "
            f"leave the quote out: each item is taken as typed")
    items = [item for item in items if item]
    for i, item in enumerate(items):
        if item[:1] == '"':  # each item as typed, this one without its double quotes
            plain = item[1:-1]
            meant = plain if "," not in plain and plain[:1] not in "'\"[{" else "'" + plain.replace("'", "''") + "'"
            _refuse_backslash_escape(arg, key, item, f"{key}=[{', '.join([*items[:i], meant, *items[i + 1:]])}]")
    for i, item in enumerate(items):
        if _no_value_item(key, item):
            raise ConfigError(_no_value_item_text(arg, key, items, i))
    return [_text_item(item) for item in items]


def _no_value_item(key: str, item: str) -> bool:
    """Whether ``item``, typed unquoted in the list ``key``, is a word for "no value" that the
    command line refuses there: for ``data.unlabelled`` a :data:`NO_VALUE_WORDS` word but ``~``
    (the home folder, as ``data.root=~``), for ``data.grades`` what YAML reads as none (``~``,
    ``null``, ``Null``, ``NULL``), which a config file refuses there (:func:`_null_item_text`;
    ``None`` is a word to YAML and may name a grade)."""
    if key == "data.unlabelled":
        return item.lower() in NO_VALUE_WORDS and item != "~"
    if key == "data.grades":
        return YamlLoader("").resolve(yaml.ScalarNode, item, (True, False)) == "tag:yaml.org,2002:null"
    return False


def _no_value_item_text(arg: str, key: str, items: list[str], i: int) -> str:
    """The error of item ``i`` of ``items`` (the list ``key`` typed in ``arg``), a no-value word
    (:func:`_no_value_item`), and the fix: the item left out, or the word as a name (a folder
    ``./null``, a grade quoted)."""
    item = items[i]
    if key == "data.unlabelled":
        would = f"a folder named {item!r}"
        fix = f"leave the item out ({key}=[] for no folder); for a folder of that name, ./{item}"
    else:
        named = ", ".join([*items[:i], f"'{item}'", *items[i + 1:]])
        would = f"a grade named {item!r} (a config file reads it as none, and refuses it)"
        fix = f"name every grade, e.g. data.grades=[Normal, NPDR, PDR]; to name a grade {item}, quote it: " \
              + shell_word(f"{key}=[{named}]")
    return (f"command line '{arg}': {key} holds {item!r}, not an empty value: each item of {key} is "
            f"the text typed, so this would be {would}.\n  fix: {fix}")


def _backslash_escape(inner: str) -> bool:
    """Whether ``inner`` (double-quoted text without its quotes) holds a backslash escape other
    than ``\\"`` and ``\\\\`` (a quote mark, a backslash): ``\\n`` (a new line), ``\\t``,
    ``\\x41`` ... and ``\\s`` (an error in YAML)."""
    i = inner.find("\\")
    while i >= 0:
        if inner[i + 1:i + 2] not in ('"', "\\"):
            return True
        i = inner.find("\\", i + 2)
    return False


def _refuse_backslash_escape(arg: str, key: str, quoted: str, fixed: str) -> None:
    """A ConfigError for the double-quoted ``quoted`` (a value or a list's item of the override
    ``arg``) holding a backslash escape (:func:`_backslash_escape`): YAML reads ``"C:\\new"`` as
    ``C:``, a new line and ``ew``, and ``"C:\\scans"`` not at all, so a Windows path typed so is
    not the path meant. The fix is the override ``fixed``, the value without its double quotes
    (taken as typed), one shell word (:func:`shell_word`)."""
    if quoted[:1] != '"' or not _backslash_escape(quoted[1:-1]):
        return
    raise ConfigError(
        f"command line '{arg}': '{key}' has {quoted}, a backslash in double quotes, which YAML "
        f"reads as an escape (\\n a new line, \\t a tab, \\s an error): a Windows path written so "
        f"is not the path typed.\n  fix: leave the double quotes out (the value is taken as typed) or "
        f"use single quotes, which keep every backslash: {shell_word(fixed)}")


def _text_items(inner: str) -> list[str] | None:
    """The items of ``inner`` (a list's text without its brackets) split at the commas
    between them, each stripped: a comma inside an item quoted from its start (``'a, b'``)
    or inside an item that opens ``[`` or ``{`` (until it closes) is the item's; None when a
    quote that starts an item is not closed."""
    items: list[str] = []
    i, n = 0, len(inner)
    while True:
        while i < n and inner[i] in " \t":
            i += 1
        start = i
        if i < n and inner[i] in "'\"":  # to its closing quote ('' and \" are quote marks inside)
            quote, i = inner[i], i + 1
            while i < n:
                if quote == '"' and inner[i] == "\\":
                    i += 2
                elif inner[i] == quote and not (quote == "'" and inner[i + 1:i + 2] == "'"):
                    break
                else:
                    i += 2 if inner[i] == quote else 1
            if i >= n:
                return None
            i += 1
        depth = 0
        nested = i < n and inner[i] in "[{"
        while i < n and (inner[i] != "," or depth):
            if nested and inner[i] in "[{":
                depth += 1
            elif nested and inner[i] in "]}":
                depth -= 1
            i += 1
        items.append(inner[start:i].strip())
        if i >= n:
            return items
        i += 1


def _text_item(item: str) -> Any:
    """One item of :func:`_override_text_list`: a quoted item's text, a ``[...]`` / ``{...}``
    item's YAML value, a boolean for ``true`` / ``false`` (any case), a :class:`NumberText` for
    what YAML 1.1 or 1.2 reads as a number, else the text as typed."""
    if item[0] in "'\"[{":
        try:
            value = read_yaml(item)
        except yaml.YAMLError:
            return item
        return value if isinstance(value, (str, list, dict)) else item
    if item.lower() in ("true", "false"):
        return item.lower() == "true"
    tag = YamlLoader("").resolve(yaml.ScalarNode, item, (True, False))
    if tag in _NUMBER_TAGS or yaml12_number(item) is not None:
        return NumberText(item)
    return item


NO_VALUE_WORDS = ("null", "none", "~")
"""Words that mean "no value" to YAML (``null``, ``~``, any case) or Python (``None``), which an
override of a text setting takes as typed (:func:`_override_text`)."""
NO_VALUE_WORDS_REFUSED = (*EMPTY_PATH_MEANS, "run.name")
"""The text settings whose empty value means something of its own (:data:`EMPTY_PATH_MEANS`,
``run.name``'s automatic name), for which a :data:`NO_VALUE_WORDS` override is refused with how
to write the empty value (``run.name=null`` would make a run folder named ``null``; ``data.root=~``
stays the home folder); in a config file, YAML's none for one of them is refused alike
(:func:`_null_path_text`: ``name: ~`` is not the automatic run name)."""


def _no_value_word_text(arg: str, key: str, text: str) -> str:
    """The error of ``key=text`` (a :data:`NO_VALUE_WORDS` word for a setting of
    :data:`NO_VALUE_WORDS_REFUSED`): what it would be read as, what the empty value means, and
    the fix: the empty value as typed (``key=``; ``data.root``'s is refused when typed empty, so
    its phantom set is asked for as the setting left out or ``data.root="''"``), or the word
    itself as a name (a path ``./null``, a quoted run name)."""
    means = EMPTY_PATH_MEANS.get(key, EMPTY_RUN_NAME_MEANS)
    if key == "run.name":
        would, literal = f"a run folder named {text!r}", f"to name the run {text}, quote it: run.name=\"'{text}'\""
    else:
        would = "the home folder" if text == "~" else f"the path {text!r}"
        literal = f"a file or folder named {text}: {key}=./{text}" if text != "~" else ""
    empty = (f"data.root=/path/to/your/data; to run {means}, leave data.root out (with a config "
             f"whose root is \"\") or write data.root=\"''\"" if key == "data.root" else
             f"{key}= (nothing after the =) for {means}")
    return (f"command line '{arg}': {key} is {text!r}, not an empty value: an override of a text "
            f"setting is the text typed, so this would be {would} (an empty {key} means "
            f"{means}).\n  fix: {empty}" + (f"; {literal}" if literal else ""))


class OptionOverride(str):
    """An override a command's option stands for (``--threads 2`` is ``run.threads=2``): read as
    that override (it is the ``str``), while ``typed``, the option as typed (``--threads 2``), is
    what the messages name as where the value came from (:func:`load_config`,
    :func:`drac_ssl.preflight.read_config`: ``command line '--threads 2'``)."""

    typed: str

    def __new__(cls, override: str, typed: str) -> OptionOverride:
        word = super().__new__(cls, override)
        word.typed = typed
        return word

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # str has one argument
        """The arguments of ``__new__`` that ``copy`` and ``pickle`` call it with."""
        return str(self), self.typed


class PresetOverride(OptionOverride):
    """One override of a preset a command's option stands for (``--first-try``: the settings of
    :data:`drac_ssl.trial_run.FIRST_TRY`, each one of these, ``typed`` the option): read and
    named as an :class:`OptionOverride` (``command line '--first-try'``), but given before the
    command line's own overrides, so that the user's ``section.key=value`` of the same setting,
    typed anywhere, wins, and without the warning of a setting given twice
    (:func:`repeated_overrides` leaves it out)."""


def typed_words(word: str) -> str:
    """What the user typed for the command-line ``word``: an :class:`OptionOverride`'s option
    (``--threads 2``), else the word itself (``run.threads=2``)."""
    return getattr(word, "typed", word)


def _is_override(word: str) -> bool:
    """Whether the command-line ``word`` is a ``key=value`` override (a key before an ``=``)."""
    key = word.split("=", 1)[0].strip().lstrip("-")
    return "=" in word and bool(key) and " " not in key


def repeated_overrides(overrides: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``(setting, words)`` for each setting the command line's ``overrides`` give more than one
    value (``pretrain.epochs=3 ... pretrain.epochs=5``): ``words`` every override of it, in the
    order given (an :class:`OptionOverride`, ``--threads N``, is given last, so it wins), each
    the word typed; the last is read, as before, and the commands say so in a warning
    (:func:`drac_ssl.preflight.read_config`). A setting given one value, however often, means
    one thing and is not listed. A :class:`PresetOverride` (``--first-try``'s) is a starting
    value the user's own override replaces on purpose: not listed."""
    words: dict[str, list[str]] = {}
    for word in overrides:
        if isinstance(word, PresetOverride):
            continue
        if _is_override(word) and not word.lstrip().startswith("-"):  # --k=v: refused, not read
            words.setdefault(word.split("=", 1)[0].strip(), []).append(word)
    return [(key, tuple(given)) for key, given in words.items()
            if len({w.split("=", 1)[1].strip() for w in given}) > 1]


def split_overrides(overrides: Sequence[str]) -> list[tuple[str, str]]:
    """The command line's ``overrides`` as ``(override, problem)`` pairs, ``problem`` "" for each
    one to read. A list typed with spaces and no quotes (``data.grades=[No DR, Mild]``) arrives
    as several words (``data.grades=[No``, ``DR,``, ``Mild]``): a word whose value opens ``[``
    without closing it, with the words after it that are no ``key=value`` (up to the one that
    closes it), is one pair whose problem says so and quotes the whole override as the fix. A
    word that names a setting followed by a word without ``=`` (``finetune.lr 0.1``) is one
    pair whose fix is ``finetune.lr=0.1`` (:func:`undashed_overrides`)."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(overrides):
        word = overrides[i]
        after = overrides[i + 1] if i + 1 < len(overrides) else ""
        if ("=" not in word and after and "=" not in after and not word.startswith("-")
                and not after.startswith("-") and (meant := undashed_overrides(word.strip(), after))):
            # finetune.lr 0.1: a setting and its value typed apart, one pair with the fix (an
            # editor's review, F14: two "is not an override" errors, no finetune.lr=0.1)
            pairs.append((f"{word} {after}", (
                f"command line '{word}' '{after}': a setting and its value typed apart (a space "
                f"where the '=' goes).\n  fix: {meant}")))
            i += 2
            continue
        value = word.split("=", 1)[1].strip() if _is_override(word) else ""
        rest: list[str] = []
        if value.startswith("[") and "]" not in value:
            for follower in overrides[i + 1:]:
                if _is_override(follower):
                    break
                rest.append(follower)
                if "]" in follower:
                    break
        if not rest:
            pairs.append((word, ""))
            i += 1
            continue
        typed = [word, *rest]
        whole = " ".join(typed) + ("" if "]" in rest[-1] else "]")
        said = " ".join(f"'{w}'" for w in typed)
        pairs.append((" ".join(typed), (
            f"command line {said}: the list {word.split('=', 1)[0].strip().lstrip('-')} was split at "
            f"its spaces into {len(typed)} words by the shell (a value with spaces typed without "
            f"quotes).\n  fix: quote the whole override, e.g. '{whole}'")))
        i += len(typed)
    return pairs


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    """``(['a', 'b', 'c'], v)`` -> ``{'a': {'b': {'c': v}}}``: an override ``a.b.c=v`` as the
    nested mapping a YAML file gives (also :func:`drac_ssl.preflight.read_config`'s)."""
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then ``key=value`` overrides, all checked. A bad
    override's fix suggests the file's value (:class:`FixBase`), else the built-in default.
    ``path``: a YAML file, or a shipped config's name (``retinamnist``: :func:`config_file`).
    ``overrides``: a list of ``key=value`` words (``["pretrain.epochs=3"]``), as on the command line.

    Raises:
        ConfigError: the file cannot be found or read, a setting is unknown or its value is
            wrong (the message names the file and line, or the override, and the fix; a
            :class:`SettingsError` when settings conflict); ``overrides`` a single string,
            not a list of them."""
    if isinstance(overrides, str | bytes):
        raise ConfigError(f"overrides must be a list of key=value strings, got the string {overrides!r}: "
                          f"pass [{overrides!r}]")
    cfg, fixes = Config(), None
    p, data = None, {}
    if path is not None:
        p = config_file(path)
        data = _load_yaml(p)
        try:
            cfg = _merge(cfg, data, str(p), source=p)
        except ConfigError as exc:
            # point at the line of the offending key
            msg = str(exc)
            if isinstance(exc, UnknownSettingError):
                key = exc.setting  # as written: the message escapes its look-alike spaces
            else:
                said = msg.removeprefix(f"{p}:")  # a folder may hold an apostrophe (O'Neil)
                key = said.split("'")[1] if "'" in said else ""
            raise ConfigError(msg.replace(f"{p}:", f"{_key_line(p, key)}:", 1)) from None
        fixes = FixBase(cfg, str(p))
    given = typed_keys(overrides or [])
    for arg, problem in split_overrides(overrides or []):
        if problem:
            raise ConfigError(problem)
        parts, value = parse_override(arg)
        cfg = _merge(cfg, _nest(parts, value), f"command line '{typed_words(arg)}'", fixes=fixes, given=given)
    threads = next((w for w in reversed(overrides or []) if isinstance(w, OptionOverride)
                    and w.split("=", 1)[0].strip() == "run.threads"), None)
    if threads is not None and cfg.run.threads < 0:  # --threads -1: named as typed, as the preflight does
        value, words = fallback("run.threads", fixes)
        raise ConfigError(f"command line '{threads.typed}': {THREADS_WORDS}, got {cfg.run.threads}.\n"
                          f"  fix: {threads.typed.split()[0]} {value} ({words})")
    if found := variable_problems(cfg):
        setting, value = found[0]
        where = _given_where(p, data if isinstance(data, dict) else {}, overrides or [])(setting)
        raise ConfigError(f"{where}: {setting}={value}: {VARIABLES_NOT_EXPANDED} "
                          f"({unexpanded_variable_words(value)}).\n"
                          f"  fix: {variable_fix(setting, value)}")
    expand_home(cfg)
    try:
        validate(cfg, fixes)
    except SettingsError as exc:  # say where each setting it names was set
        raise exc.located(_given_where(p, data if isinstance(data, dict) else {}, overrides or [])) from None
    return cfg


EARLY_CUTS = ("layer2", "layer3")
"""``umm.early_cut``: the backbone stage up to which UMM freezes the layers."""
HYPERGRADIENTS = ("unrolled", "neumann")
"""``umm.hypergradient``: how the outer gradient through the inner step is taken
(:func:`drac_ssl.umm.bilevel.hypergradient`)."""
HVP_MODES = ("exact", "finite_difference")
"""``umm.hvp``: the Hessian-vector product by double backward or by DARTS' central difference."""
INNER_OPTIMIZERS = ("adam", "sgd")
"""``umm.inner_optimizer``."""
OUTER_SIGNS = ("maximize", "minimize")
"""``umm.outer_sign``: maximise Delta R (the paper) or minimise it."""
MEMBERSHIPS = ("soft", "pairs")
"""``umm.membership``: the rate reduction's memberships (:func:`drac_ssl.losses.mcr2.rate_reduction`)."""
OUTER_BATCHES = ("same", "next")
"""``umm.outer_batch``: F on the inner step's batch, or on the epoch's next one."""
RATE_REDUCTION_ON = ("features", "embedding")
"""``umm.rate_reduction_on``: F's Delta R on the pooled backbone features (before the
expander) or on the expander's outputs."""
START_RULES = ("best", "last", "peak", "past_peak")
"""``umm.start_from``: which pretraining checkpoint UMM starts from."""

_CHOICES: dict[str, tuple[str, ...]] = {
    "data.dataset": ("drac", "mnist", "fashion_mnist", "cifar10"),
    "data.layout": DATA_LAYOUTS,
    "data.channels": DATA_CHANNELS,
    "data.modality": DATA_MODALITIES,
    "data.ungradable": DATA_UNGRADABLE,
    "data.missing": DATA_MISSING,
    "pretrain.optimizer": ("adam", "adamw", "sgd", "lars"),
    "pretrain.schedule": ("cosine", "constant"),
    "pretrain.precision": ("auto", "bf16", "fp32"),
    "pretrain.compile": ("auto", "true", "false"),
    "pretrain.augment.recipe": ("octa", "fundus", "cifar", "mnist"),
    "pretrain.backbone.arch": ("resnet18", "resnet34", "resnet50"),
    "umm.early_cut": EARLY_CUTS,
    "umm.hypergradient": HYPERGRADIENTS,
    "umm.outer_sign": OUTER_SIGNS,
    "umm.hvp": HVP_MODES,
    "umm.inner_optimizer": INNER_OPTIMIZERS,
    "umm.membership": MEMBERSHIPS,
    "umm.outer_batch": OUTER_BATCHES,
    "umm.rate_reduction_on": RATE_REDUCTION_ON,
    "umm.start_from": START_RULES,
    "finetune.head": ("linear", "mlp", "conv", "regression"),
    "finetune.freeze": ("frozen", "last", "all"),
    "finetune.class_balance": ("weighted_loss", "balanced_sampler", "none"),
    "finetune.decision": ("thresholds", "argmax"),
    "finetune.keep": ("best", "last", "inner"),
}


def dotted_settings(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested settings mapping (a config file as read, :func:`to_dict`'s output) as one
    level of dotted keys: ``{"finetune": {"head": "mlp"}}`` -> ``{"finetune.head": "mlp"}``
    (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(dotted_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def get(cfg: Any, dotted: str) -> Any:
    obj = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class SettingRange:
    """The allowed range of one number setting: ``low <= value`` (``low < value`` when
    ``strict``) and, with a ``high``, ``value <= high`` (``< high`` when ``high_open``).
    ``why`` ends the words (``": the fraction ..."`` or ``" (-1: run.seed's)"``); ``fix`` is
    the fix to print, the default (``setting=<default> (the default)``) when empty."""

    setting: str
    low: float
    strict: bool = False
    high: float | None = None
    high_open: bool = False
    why: str = ""
    fix: str = ""

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is in the range (NaN and inf never are)."""
        if not math.isfinite(value):
            return False
        ok = value > self.low if self.strict else value >= self.low
        if self.high is not None:
            ok = ok and (value < self.high if self.high_open else value <= self.high)
        return bool(ok)

    def words(self) -> str:
        """What the value must be: ``must be > 0 and <= 1: the fraction ...``."""
        low = f"{'>' if self.strict else '>='} {_bound_words(self.low)}"
        high = "" if self.high is None else f" and {'<' if self.high_open else '<='} {_bound_words(self.high)}"
        return f"must be {low}{high}{self.why}"

    def problem_words(self, value: Any) -> str:
        """What is wrong with ``value``, a value outside the range, after ``setting=value``:
        :meth:`words`, or for NaN and inf ``not a finite number: it must be ...`` (``inf``
        is no number ``>= 0`` names: it is not in the range because it is not finite)."""
        return self.words() if math.isfinite(value) else f"not a finite number: it {self.words()}"

    def fix_words(self, fixes: FixBase | None = None) -> str:
        """The fix: ``fix``, or ``setting=<default> (the default)``, or with ``fixes`` the ``-c``
        file's value where it has a valid one of its own (:func:`fallback`: ``(as in FILE)``)."""
        if self.fix:
            return self.fix
        value, words = fallback(self.setting, fixes)
        return f"{self.setting}={value} ({words})"


SEED_MAX = 2**32 - 1
SEED_WHY = ": numpy's random generators take a seed of 0..2**32-1"
"""The largest seed (``run.seed``, ``data.fold_seed``, ``data.phantom_seed``, ``finetune.seed``)
numpy's ``RandomState`` takes; -1 or 2**32 stopped a run mid-way with numpy's own message."""
PHANTOM_MAX_IMAGES = 100_000
"""The most phantom images of one split (``data.phantom_n_train``, ``data.phantom_n_test``): a
1024-pixel phantom scan is ~0.85 MiB of PNG (:data:`PHANTOM_PNG_MIB_ESTIMATE`) and ~0.2 s of one core to draw, so 100,000 are ~83 GiB
and ~6 CPU hours (160 times DRAC's 611), and the plan of the ids (:func:`data_prep.phantom.plan_phantom`)
takes ~0.5 s; a billion hung the preflight's plan and would exhaust the memory."""
PHANTOM_MAX_WHY = (": the phantom set is a stand-in for DRAC's 611 / 386 scans, and 100,000 of them "
                   "are ~83 GiB of PNG and ~6 CPU hours to draw")

RUN_RANGES: tuple[SettingRange, ...] = (SettingRange("run.seed", 0, high=SEED_MAX, why=SEED_WHY),)
"""The number ranges of ``run.*``, checked by :mod:`drac_ssl.preflight` whatever the stages."""

def _bound_words(bound: float) -> str:
    """A range's bound as written: a whole number in full (``4294967295``, not ``4.29497e+09``)."""
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e16 else f"{bound:g}"


FINETUNE_RANGES: tuple[SettingRange, ...] = (
    *(SettingRange(s, 0, strict=True) for s in ("finetune.epochs", "finetune.lr", "finetune.image_size")),
    *(SettingRange(s, 1) for s in ("finetune.batch_size", "finetune.frozen_train_views",
                                   "finetune.mlp_hidden", "finetune.conv_head_channels",
                                   "finetune.n_boot")),
    *(SettingRange(s, 0) for s in ("finetune.backbone_lr_ratio", "finetune.weight_decay",
                                   "finetune.patience")),
    SettingRange("finetune.dropout", 0, high=1, high_open=True),
    SettingRange("finetune.label_fraction", 0, strict=True, high=1,
                 why=": the fraction of each fold's training images the fold trains on (1 = all of them)",
                 fix="finetune.label_fraction=1, or e.g. finetune.label_fraction=0.1 for 10 %"),
    SettingRange("finetune.inner_fraction", 0, strict=True, high=0.5,
                 why=(": the fraction of each fold's training images held out as the inner split "
                      "that chooses the epoch under finetune.keep=inner (at most half: the fold "
                      "must still train on most of its images)"),
                 fix="finetune.inner_fraction=0.15 (the default), or e.g. 0.2"),
    SettingRange("finetune.seed", -1, high=SEED_MAX,
                 why=" (-1: run.seed's; 0..2**32-1 the fine-tuning's own, numpy's range of seeds)",
                 fix="finetune.seed=-1 (the default)"),
)
"""The number ranges of the fine-tuning, the one list: :mod:`drac_ssl.preflight` reports every
setting outside its range, :func:`drac_ssl.finetune.check_settings` (a direct
``finetune.run``) refuses the first. A new number setting of the fine-tuning (a head's width)
gets its line here."""


DATA_RANGES: tuple[SettingRange, ...] = (
    SettingRange("data.workers", 0, why=" (0 = the usable cores)"),
    SettingRange("data.expected_side", -1, high=65535,
                 why=": the side in pixels every grey image is expected to have (-1: the layout's, "
                     "1024 for DRAC; 0: no check)",
                 fix="data.expected_side=-1 (the default: the layout's), 0 (no check), or the "
                     "images' side, e.g. data.expected_side=800"),
    SettingRange("data.referable_from", 0, high=4,
                 why=": the ICDR grade from which a label is grade 1 (referable) of two (0 = off)",
                 fix="data.referable_from=0 (off, the default), or data.referable_from=2 (referable DR: "
                     "moderate NPDR or worse)"),
    SettingRange("data.near_duplicate_mse", 0,
                 why=": the mean squared pixel difference (0..1 scale) below which labelled images "
                     "are kept in one fold (0 = off)",
                 fix="data.near_duplicate_mse=0 (off, the default), or e.g. data.near_duplicate_mse=1e-4"),
    *(SettingRange(s, 0, high=PHANTOM_MAX_IMAGES, why=PHANTOM_MAX_WHY)
      for s in ("data.phantom_n_train", "data.phantom_n_test")),
    *(SettingRange(s, 0, high=SEED_MAX, why=SEED_WHY) for s in ("data.fold_seed", "data.phantom_seed")),
)
PRETRAIN_RANGES: tuple[SettingRange, ...] = (
    *(SettingRange(s, 0, strict=True) for s in ("pretrain.epochs", "pretrain.lr")),
    *(SettingRange(s, 0) for s in ("pretrain.weight_decay", "pretrain.warmup_epochs", "pretrain.patience",
                                   "pretrain.min_delta", "pretrain.knn_every", "pretrain.max_steps_per_epoch")),
    SettingRange("pretrain.knn_limit", 0, why=" (0 = every image of each split)"),
    SettingRange("pretrain.knn_k", 1),
    SettingRange("pretrain.num_workers", -1, why=" (-1: chosen from the usable cores; 0: loaded in the "
                                                "main process)"),
    SettingRange("pretrain.min_lr_ratio", 0, high=1),
)
"""The number ranges of the pretraining that hold whatever its optimiser (momentum and
``lars_eta``: :mod:`drac_ssl.preflight`, for the optimisers that use them)."""
MODEL_RANGES: tuple[SettingRange, ...] = (
    SettingRange("pretrain.backbone.in_channels", 0),  # 0: the data's channels
    *(SettingRange(s, 0) for s in ("pretrain.loss.sim_coeff", "pretrain.loss.std_coeff",
                                   "pretrain.loss.cov_coeff")),
    *(SettingRange(s, 0, strict=True) for s in ("pretrain.loss.gamma", "pretrain.loss.eps",
                                                "pretrain.augment.image_size")),
)
"""What pretraining and UMM both build: backbone, loss, augmentation."""
UMM_RANGES: tuple[SettingRange, ...] = (
    *(SettingRange(s, 0, strict=True) for s in ("umm.epochs", "umm.inner_lr", "umm.eps2", "umm.fd_radius")),
    *(SettingRange(s, 0) for s in ("umm.outer_lr", "umm.beta", "umm.neumann_steps", "umm.patience",
                                   "umm.max_steps_per_epoch")),
    SettingRange("umm.alpha", 0, why=": the weight of Delta R in UMM's outer objective F = L_ssl - "
                                     "alpha * Delta R (0: the fair control; umm.outer_sign=minimize, "
                                     "not a negative alpha, flips its sign)"),
    SettingRange("umm.membership_temperature", 0, strict=True),
    SettingRange("umm.max_ssl_rise", 0, why=" (0 = the guard off)"),
    SettingRange("umm.max_step_ratio", 0, why=" (0 = the guard off)"),
    SettingRange("umm.past_peak_drop", 0, high=1, high_open=True,
                 why=": the fraction below its peak the rate-reduction monitor must have fallen"),
)
"""UMM's number ranges, the one list: :func:`drac_ssl.umm.stage.check_settings` refuses the
first setting outside its range (it also checks UMM's :data:`_CHOICES` and ``umm.batch_size``
>= 2), the preflight and ``python -m drac_ssl.umm`` list them all before anything is made. A
new number setting of UMM gets its line here (``tests/drac_ssl/test_umm_settings_tables.py``)."""
NUMBER_RANGES: dict[str, SettingRange] = {
    r.setting: r for r in (*RUN_RANGES, *DATA_RANGES, *PRETRAIN_RANGES, *MODEL_RANGES, *UMM_RANGES,
                           *FINETUNE_RANGES)}
"""Each number setting's range, by setting, for the words of a refused inf or NaN (:func:`_coerce`)."""


@dataclass(frozen=True)
class UnusedWhen:
    """Settings another setting makes unused, one row of :data:`UNUSED_SETTINGS`: while
    ``unused(cfg)`` holds no stage reads ``settings``. ``why`` says why and ``fix`` how to make
    them take effect (both ``str.format``-ed with ``cfg=`` the configuration); ``stages``: the
    stages that would read them (the preflight warns only when one of them runs)."""

    settings: tuple[str, ...]
    unused: typing.Callable[[Config], bool]
    why: str
    fix: str
    stages: tuple[str, ...]


_GENERIC_UNUSED = ("data.dataset", "data.root", "data.unlabelled")
PHANTOM_UNUSED = ("data.layout", "data.labels_csv", "data.image_column", "data.grade_column",
                  "data.patient_column", "data.site_column")
"""The ingest's settings of a real data set's files (its layout, label CSV and columns), which
the phantom set (an empty ``data.root``) does not use: it is ingested with its own DRAC layout
and label CSV (``drac_ssl.train.stage_ingest`` gives it their defaults), and the preflight warns
them set but not used (:data:`UNUSED_SETTINGS`)."""
PHANTOM_COUNTS = ("data.phantom_n_train", "data.phantom_n_test")
"""The phantom set's image counts: bounded (:data:`PHANTOM_MAX_IMAGES`) where the phantom set is
used (an empty ``data.root``), warned set but not used (:data:`UNUSED_SETTINGS`) where it is not."""
PHANTOM_SET_SETTINGS = (*PHANTOM_COUNTS, "data.phantom_seed")
"""Every setting of the phantom set (its image counts and its seed), none read where a
``data.root`` is set: :data:`UNUSED_SETTINGS` warns them set (the counts' row and the seed's,
each in its words) and ``drac_ssl.stage_settings`` records them as their defaults there."""
_UMM_READ_BY_PRETRAIN_MONITOR = ("umm.early_cut", "umm.membership", "umm.membership_temperature", "umm.eps2")
_OUTER_LEVEL = ("umm.alpha", "umm.outer_lr", "umm.outer_sign", "umm.outer_ssl", "umm.outer_batch",
                "umm.rate_reduction_on", "umm.hypergradient", "umm.neumann_steps", "umm.hvp", "umm.fd_radius", "umm.max_step_ratio")

UNUSED_SETTINGS: tuple[UnusedWhen, ...] = (
    UnusedWhen(("data.unlabelled",), lambda c: c.data.dataset != "drac",
               "data.dataset={cfg.data.dataset} is read as it is, without the ingest, so the folders of "
               "data.unlabelled are not used", "leave data.unlabelled out for this data set",
               ("ingest", "pretrain")),
    UnusedWhen(tuple(f"data.{f.name}" for f in dataclasses.fields(DataConfig)
                     if f"data.{f.name}" not in _GENERIC_UNUSED),
               lambda c: c.data.dataset != "drac",
               "data.dataset={cfg.data.dataset} is read as it is from data.root, without the ingest, "
               "and this is a setting of the ingest (or of the phantom set)",
               "data.dataset=drac to ingest a retinal image folder with it", ("ingest", "pretrain")),
    UnusedWhen(PHANTOM_UNUSED, lambda c: c.data.dataset == "drac" and not c.data.root,
               "data.root is empty, so the phantom DRAC set is generated and ingested with its own "
               "layout and label CSV: this setting of your own data's files is not read",
               "data.root=<the folder of your images> to ingest your data with it", ("ingest",)),
    UnusedWhen(PHANTOM_COUNTS, lambda c: c.data.dataset == "drac" and bool(c.data.root),
               "data.root is set, so your images are ingested and no phantom set is generated: this "
               "count of phantom images is not read",
               "data.root=\"''\" (empty) to run the phantom set with it",
               ("ingest",)),
    UnusedWhen(PHANTOM_SET_SETTINGS[len(PHANTOM_COUNTS):], lambda c: c.data.dataset == "drac" and bool(c.data.root),
               "data.root is set, so your images are ingested and no phantom set is generated: the "
               "seed of the phantom images is not read",
               "data.root=\"''\" (empty) to run the phantom set with it", ("ingest",)),
    UnusedWhen(("data.graham_mask",), lambda c: not c.data.graham,
               "data.graham=false applies no Graham filter, so there is no mask to put outside its disc",
               "data.graham=true to apply the filter with this mask", ("ingest",)),
    UnusedWhen(("pretrain.momentum",), lambda c: c.pretrain.optimizer in ("adam", "adamw"),
               "pretrain.optimizer={cfg.pretrain.optimizer} has no momentum setting (Adam's moment "
               "estimates are its own)", "pretrain.optimizer=sgd or lars, which use it", ("pretrain",)),
    UnusedWhen(("pretrain.lars_eta", "pretrain.lars_clip_lr"), lambda c: c.pretrain.optimizer != "lars",
               "only pretrain.optimizer=lars reads it, and it is {cfg.pretrain.optimizer}",
               "pretrain.optimizer=lars", ("pretrain",)),
    UnusedWhen(("pretrain.knn_k", "pretrain.knn_limit"), lambda c: c.pretrain.knn_every == 0,
               "pretrain.knn_every=0 turns the k-NN monitor off", "pretrain.knn_every=N (a k-NN "
               "accuracy every N epochs)", ("pretrain",)),
    UnusedWhen(tuple(f"umm.{f.name}" for f in dataclasses.fields(UMMConfig)
                     if f.name != "enabled" and f"umm.{f.name}" not in _UMM_READ_BY_PRETRAIN_MONITOR),
               lambda c: not c.umm.enabled, "umm.enabled=false skips the umm stage",
               "umm.enabled=true to run UMM", ("umm",)),
    UnusedWhen(_OUTER_LEVEL, lambda c: not c.umm.use_rate_reduction,
               "umm.use_rate_reduction=false drops UMM's outer level (single-level training on L_in): "
               "no outer objective, outer step or hypergradient", "umm.use_rate_reduction=true",
               ("umm",)),
    UnusedWhen(("umm.neumann_steps",), lambda c: c.umm.hypergradient != "neumann",
               "umm.hypergradient={cfg.umm.hypergradient} takes no Neumann series",
               "umm.hypergradient=neumann", ("umm",)),
    UnusedWhen(("umm.hvp", "umm.fd_radius"),
               lambda c: c.umm.hypergradient == "neumann" and c.umm.neumann_steps == 0,
               "umm.hypergradient=neumann with umm.neumann_steps=0 is the first-order hypergradient: "
               "no Hessian-vector product is taken", "umm.neumann_steps >= 1 or umm.hypergradient=unrolled",
               ("umm",)),
    UnusedWhen(("umm.fd_radius",), lambda c: c.umm.hvp != "finite_difference",
               "umm.hvp={cfg.umm.hvp} takes Hessian-vector products by double backward, with no "
               "finite-difference step", "umm.hvp=finite_difference", ("umm",)),
    UnusedWhen(("umm.patience",), lambda c: not c.umm.early_stop_on_rate_reduction,
               "umm.early_stop_on_rate_reduction=false runs every UMM epoch: no early stop to be patient for",
               "umm.early_stop_on_rate_reduction=true", ("umm",)),
    UnusedWhen(("umm.past_peak_drop",), lambda c: c.umm.start_from != "past_peak",
               "umm.start_from={cfg.umm.start_from} does not look for the epoch past the monitor's peak",
               "umm.start_from=past_peak", ("umm",)),
    UnusedWhen(("finetune.patience",), lambda c: c.finetune.keep == "last",
               "finetune.keep=last (the default since December 2026) runs every one of finetune.epochs "
               "and keeps the last: no fold stops early, so the patience is not used",
               "finetune.keep=best to stop each fold early on its validation kappa (chosen on the fold it "
               "is scored on, so its kappa is optimistic: python -m bench.keep_selection indicates by how "
               f"much, {KEEP_SELECTION_GAP}), or finetune.keep=inner to stop it early on an inner split of its training images "
               "(honest)", ("finetune",)),
    UnusedWhen(("finetune.inner_fraction",), lambda c: c.finetune.keep != "inner",
               "finetune.keep={cfg.finetune.keep} holds out no inner split: the fraction is not used",
               "finetune.keep=inner to choose each fold's epoch on that fraction of its training images",
               ("finetune",)),
    UnusedWhen(("finetune.mlp_hidden",), lambda c: c.finetune.head != "mlp",
               "finetune.head={cfg.finetune.head} has no MLP hidden layer", "finetune.head=mlp",
               ("finetune",)),
    UnusedWhen(("finetune.conv_head_channels",), lambda c: c.finetune.head != "conv",
               "finetune.head={cfg.finetune.head} has no convolutions", "finetune.head=conv",
               ("finetune",)),
    UnusedWhen(("finetune.frozen_train_views",), lambda c: c.finetune.freeze != "frozen",
               "finetune.freeze={cfg.finetune.freeze} draws fresh views every epoch: no feature bank of "
               "precomputed views is made", "finetune.freeze=frozen", ("finetune",)),
    UnusedWhen(("finetune.backbone_lr_ratio",), lambda c: c.finetune.freeze == "frozen",
               "finetune.freeze=frozen trains no backbone layer, so no layer takes this ratio of finetune.lr",
               "finetune.freeze=last or all to tune backbone layers at that rate", ("finetune",)),
)
"""Settings that other settings make unused, the one table (each row checked against the code
that reads the settings): :func:`drac_ssl.preflight.check` warns ``X=V: set but not used:
<why>`` with ``fix: <how to make it take effect>, or leave X out`` for each setting of a row
whose condition holds that the user set (typed, or in a file of their own) or that differs from
its default (not a shipped config's value, ``--first-try``'s, or a line of a run's saved
``config.yaml``: :func:`drac_ssl.preflight._users_setting`), when one of the row's stages runs;
not for a row decided by a setting refused as no valid choice. The first row naming a setting whose condition
holds gives the words."""


def range_problems(cfg: Config, ranges: Iterable[SettingRange]) -> list[tuple[SettingRange, Any]]:
    """``(range, value)`` of each setting of ``cfg`` outside its range, in the order of ``ranges``."""
    return [(r, value) for r in ranges if not r.holds(value := get(cfg, r.setting))]


def check_ranges(cfg: Config, ranges: Iterable[SettingRange]) -> None:
    """Raise ConfigError for the first setting of ``cfg`` outside its range: the setting, its
    value, what it must be and the fix; NaN or inf in :func:`load_config`'s words
    (``'umm.alpha' is inf, not a finite number: it must be >= 0.``), since ``umm.alpha=inf must
    be >= 0`` would contradict itself."""
    for r, value in range_problems(cfg, ranges)[:1]:
        head = f"{r.setting}={value}" if math.isfinite(value) else f"'{r.setting}' is {value},"
        raise ConfigError(f"config: {head} {r.problem_words(value)}.\n  fix: {r.fix_words()}")


def check_choices(cfg: Config, prefix: str = "", fixes: FixBase | None = None) -> None:
    """Raise ConfigError for the first setting of :data:`_CHOICES` whose name starts with
    ``prefix`` (``"umm."``: UMM's; "": every one) and whose value in ``cfg`` is none of its
    choices: the setting, its value, the choices and the fix (the choice it most likely means,
    else the ``-c`` file's: :func:`choice_fix`)."""
    for dotted, choices in _CHOICES.items():
        if not dotted.startswith(prefix):
            continue
        value = get(cfg, dotted)
        if value not in choices:
            raise ConfigError(
                f"config: {dotted}={value!r} is not one of "
                f"{', '.join(c or repr(c) + ' (the default)' for c in choices)}.\n"
                f"  fix: {choice_fix(value, choices, dotted, fixes)}"
            )


_CHOICE_MEANINGS: dict[str, dict[str, str]] = {
    "finetune.freeze": {"none": "all", "no": "all", "false": "all", "off": "all", "unfrozen": "all",
                        "full": "all", "whole": "all", "yes": "frozen", "true": "frozen", "on": "frozen",
                        "head": "frozen", "linear": "frozen", "linear_probe": "frozen"},
    "pretrain.compile": {"on": "true", "yes": "true", "off": "false", "no": "false"},
    "data.ungradable": {word: "leave_out" for word in ("drop", "skip", "exclude", "omit", "remove",
                                                       "ignore", "leave", "leaveout", "true")},
    "data.missing": {word: "leave_out" for word in ("drop", "skip", "exclude", "omit", "remove",
                                                    "ignore", "leave", "leaveout", "true")},
}
"""Words users write for a choice, by setting: ``finetune.freeze=none`` (nothing frozen) means
``all`` (the whole backbone trains), not the nearest spelling ``frozen``; ``data.ungradable=drop``
(or skip, exclude ...) means ``leave_out``."""


def closest_choice(value: Any, choices: Sequence[str], setting: str = "") -> str:
    """The choice ``value`` most likely means: what its word means for ``setting``
    (:data:`_CHOICE_MEANINGS`, ``freeze=none`` -> ``all``), else the nearest spelling
    (``fundas`` -> ``fundus``), else the first (the default where the first is the default)."""
    text = str(value).strip().lower()
    meant = _CHOICE_MEANINGS.get(setting, {}).get(text)
    if meant in choices:
        return meant
    near = difflib.get_close_matches(text, [c for c in choices if c], n=1, cutoff=0.6)
    return near[0] if near else choices[0]


def choice_fix(value: Any, choices: Sequence[str], setting: str, fixes: FixBase | None = None) -> str:
    """The fix of ``setting=value``, none of ``choices``: ``setting=CHOICE``, the choice its word
    means or the nearest spelling (:func:`closest_choice`); a word near none gets the ``-c``
    file's valid value of its own, ``finetune.freeze=all (as in configs/retinamnist.yaml)``
    (:func:`fallback`, as the number settings' fixes), else the default. An editor's review
    (F7): ``-c configs/retinamnist.yaml finetune.freeze=sometimes`` was told the package's
    ``frozen``, overruling the file's ``all``."""
    text = str(value).strip().lower()
    meant = _CHOICE_MEANINGS.get(setting, {}).get(text)
    near = difflib.get_close_matches(text, [c for c in choices if c], n=1, cutoff=0.6)
    if meant not in choices and not near:
        try:
            kept, words = fallback(setting, fixes, value)
        except AttributeError:  # no setting of Config: the first choice, as closest_choice
            kept, words = choices[0], ""
        if words.startswith("as in ") and kept in choices:
            return f"{setting}={kept or repr(kept)} ({words})"
    choice = closest_choice(value, choices, setting)
    return f"{setting}={choice or repr(choice)}"


THREADS_WORDS = "run.threads must be 0 (the default policy) or a positive count"
"""What a negative ``run.threads`` (or ``--threads``) is told, by :func:`validate` and
:func:`load_config`."""


_LISTED = r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]"
"""A bracketed list value in a message, brackets paired one level deep: ``[No DR, Mild [R1], PDR]``
whole, not cut at the first ``]`` (:meth:`SettingsError.located` puts a setting's source after it)."""


class SettingsError(ConfigError):
    """A value check of :func:`validate` that names the settings it involves, so that the
    message can say where each was set (config files, the command line: "Every bad key or value
    is reported with where it came from"). ``settings``: the dotted settings, the one to change
    first; ``what``: what is wrong, naming them; ``fix``: how to fix it ("" for none). Read
    as text, it is ``config: WHAT.`` and the fix, as before; :meth:`located` puts each
    setting's source after its first mention."""

    def __init__(self, settings: Sequence[str], what: str, fix: str = "") -> None:
        self.settings, self.what, self.fix = tuple(settings), what, fix
        super().__init__(self._words(what))

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as cls(*self.args), and args holds the words alone: rebuild from
        # the parts (a located error's words are its what), so that the error crosses a process
        # boundary (a DataLoader worker, multiprocessing) as itself
        return type(self), (self.settings, self.what, self.fix), self.__dict__

    def _words(self, what: str) -> str:
        return f"config: {what}." + (f"\n  fix: {self.fix}" if self.fix else "")

    def located(self, where: typing.Callable[[str], str]) -> ConfigError:
        """This error with ``(WHERE)`` after the first mention of each of its settings
        (``pretrain.backbone.stem_stride=2 (a.yaml:3) sets ...``), ``where(setting)`` its
        source (``FILE:LINE``, ``command line 'k=v'``, ``the default``; "" for none said); a
        setting the words do not mention is added at the end. The class and ``settings`` stay."""
        what = self.what
        for setting in self.settings:
            said = where(setting)
            if not said:
                continue
            # a list value whole (data.grades=[Normal, NPDR, PDR]), a name's own bracketed part
            # in it (Mild [R1]) paired, not taken for its end: the source after it, not in it
            mention = re.search(rf"(?<![\w.]){re.escape(setting)}(?:=(?:{_LISTED}|[^\s,;:()]*[^\s,;:().]))?(?![\w.])",
                                what)
            if mention:
                what = f"{what[:mention.end()]} ({said}){what[mention.end():]}"
            else:
                what += f" ({setting}: {said})"
        located = SettingsError(self.settings, what, self.fix)
        return located


def _given_where(file: Path | None, data: dict[str, Any], overrides: Sequence[str]) -> typing.Callable[[str], str]:
    """Where :func:`load_config` took each setting from, for :meth:`SettingsError.located`:
    the last command-line override of it (or of a section holding it), else its line in the
    YAML ``file`` (whose mapping is ``data``), else the default."""
    typed: dict[str, str] = {}
    for arg, problem in split_overrides(overrides):
        if problem:
            continue
        try:
            typed[".".join(parse_override(arg)[0])] = f"command line '{typed_words(arg)}'"
        except ConfigError:
            continue

    def where(setting: str) -> str:
        parts = setting.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in typed:
                return typed[".".join(parts[:n])]
        node: Any = data
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return _key_line(file, setting) if file is not None else "the default"
        return "the default"
    return where


def validate(cfg: Config, fixes: FixBase | None = None) -> None:
    """Value checks beyond types: choices and ranges, and the settings that must agree (a
    :class:`SettingsError` naming them, which :func:`load_config` and the preflight locate);
    ``fixes``: the ``-c`` file's values a choice's fix suggests (:func:`choice_fix`)."""
    check_choices(cfg, fixes=fixes)
    positive = ["data.n_folds", "pretrain.epochs", "pretrain.batch_size",  # finetune.*: FINETUNE_RANGES
                "pretrain.augment.image_size", "pretrain.checkpoint_every"]
    for dotted in positive:
        if get(cfg, dotted) <= 0:
            raise ConfigError(f"config: {dotted} must be > 0, got {get(cfg, dotted)}.")
    if cfg.data.n_folds < 2:
        raise ConfigError("config: data.n_folds must be at least 2 for cross-validation.")
    validate_grades(cfg.data.grades)
    what, fix = referable_from_problem(cfg.data.referable_from, cfg.data.grades)
    if what:
        raise SettingsError(("data.referable_from", "data.grades"), what, fix)
    _referable_setting(cfg.finetune.referable_from)  # its range needs the data's scale: referable_cut
    referral_target(cfg.finetune.referral_target)  # that it has a referable cut needs the scale too
    if cfg.pretrain.backbone.in_channels < 0:
        raise ConfigError(f"config: pretrain.backbone.in_channels must be 0 (the data's channels), "
                          f"1 or 3, got {cfg.pretrain.backbone.in_channels}.\n"
                          f"  fix: pretrain.backbone.in_channels=0")
    bb = cfg.pretrain.backbone
    if bb.stem_stride not in (1, 2):
        raise ConfigError(f"config: pretrain.backbone.stem_stride must be 1 or 2, got {bb.stem_stride}.\n"
                          f"  fix: pretrain.backbone.stem_stride=1")
    if bb.stem_stride != 1 and not bb.cifar_stem:
        raise SettingsError(("pretrain.backbone.stem_stride", "pretrain.backbone.cifar_stem"),
                            f"pretrain.backbone.stem_stride={bb.stem_stride} sets the stride of "
                            f"the CIFAR stem's 3x3 convolution, but pretrain.backbone.cifar_stem is "
                            f"false (the ImageNet stem has its own fixed strides)",
                            "pretrain.backbone.cifar_stem=true, or pretrain.backbone.stem_stride=1")
    ft = cfg.finetune
    if ft.head_warmup_epochs < 0 or (ft.head_warmup_epochs and ft.head_warmup_epochs >= ft.epochs):
        raise SettingsError(
            ("finetune.head_warmup_epochs", "finetune.epochs"),
            f"finetune.head_warmup_epochs={ft.head_warmup_epochs} must be 0 (off) or fewer "
            f"than finetune.epochs={ft.epochs}: it counts the first epochs of the fine-tuning that "
            f"train the head alone",
            f"finetune.head_warmup_epochs=0, or a value in 1..{max(1, ft.epochs - 1)}")
    if ft.head_warmup_epochs and ft.freeze == "frozen":
        raise SettingsError(
            ("finetune.head_warmup_epochs", "finetune.freeze"),
            "finetune.head_warmup_epochs trains the head alone before the backbone is "
            "fine-tuned, but finetune.freeze=frozen never fine-tunes the backbone",
            "finetune.head_warmup_epochs=0, or finetune.freeze=all (or last)")
    if cfg.pretrain.lr <= 0:
        raise ConfigError(f"config: pretrain.lr must be > 0, got {cfg.pretrain.lr}.")
    if not cfg.run.stages:
        raise ConfigError(f"config: {empty_stages_words()}.\n  fix: {every_stage_fix()}")
    if cfg.run.threads < 0:
        raise ConfigError(f"config: {THREADS_WORDS}, got {cfg.run.threads}.\n  fix: run.threads=0")
    what, fix = run_name_problem(cfg.run.name, cfg.run.out_dir)
    if what:
        raise SettingsError(("run.name", "run.out_dir") if "run.out_dir=" in what else ("run.name",), what, fix)


def empty_stages_words() -> str:
    """What an empty ``run.stages`` is (it ran nothing and exited 0, hiding every other error),
    naming the stages of the pipeline."""
    return (f"run.stages is empty: no stage would run (the stages: "
            f"{', '.join(RunConfig().stages)}, run in that order)")


def every_stage_fix() -> str:
    """``run.stages=[...every stage...] (the default: every stage)``."""
    return f"run.stages=[{','.join(RunConfig().stages)}] (the default: every stage), or the ones wanted, e.g. run.stages=[ingest]"


NOT_IN_FOLDER_NAMES = '<>:"|?*'
"""The characters Windows refuses in a file or folder name besides its separators / and \\
(:func:`run_name_problem`)."""


def run_name_problem(name: str, out_dir: str) -> tuple[str, str]:
    """What is wrong with ``run.name`` and the fix, or ``("", "")`` when it is a plain folder
    name (or empty: ``<dataset>-<date>-<time>``).

    The run folder is ``run.out_dir/run.name``: a name with a path separator (``/`` or ``\\``),
    ``.``, ``..`` or an absolute path would put it elsewhere (``../../x``: outside
    ``run.out_dir``). The fix is the name's last part (``run1`` when it has none) and,
    where the folder the name pointed at can be made, the ``run.out_dir`` that makes it there.

    A name holding a character Windows refuses in a file name (:data:`NOT_IN_FOLDER_NAMES`,
    ``12:30``) is refused on every system, so that a run folder can be copied to any: the fix
    replaces each with ``-`` (``12-30``).
    """
    if name and "/" not in name and "\\" not in name and (odd := sorted(set(name) & set(NOT_IN_FOLDER_NAMES))):
        said = " ".join(odd)
        return (f"run.name is the name of the run folder: {name!r} holds {said}, which Windows "
                f"refuses in a folder name (a run folder must open on any system)",
                f"run.name={''.join('-' if c in NOT_IN_FOLDER_NAMES else c for c in name)}")
    if not name or ("/" not in name and "\\" not in name and name not in (".", "..")):
        return "", ""
    target = os.path.normpath(os.path.join(out_dir, name))
    outside = os.path.isabs(name) or os.path.relpath(target, out_dir or ".").split(os.sep)[0] == ".."
    why = ("is an absolute path" if os.path.isabs(name) else "is a path ('.' or '..')"
           if name in (".", "..") else "holds a path separator")
    what = (f"run.name is the name of the run folder in run.out_dir, not a path: {name!r} "
            f"{why}, so the run folder would be {target}"
            + (f", outside run.out_dir={out_dir}" if outside else ""))
    plain = Path(name.replace("\\", "/")).name
    fix = f"run.name={plain if plain not in ('', '.', '..') else 'run1'}"
    parent, base = os.path.split(target)
    if name not in (".", "..") and base not in ("", ".", "..") and parent != os.path.normpath(out_dir):
        fix += (f"; to make the run folder {target}, set the folder it is made in: "
                f"run.out_dir={parent or '.'} run.name={base}")
    return what, fix


REFERABLE_OFF = ("off", "false", "no", "none")
"""Words of ``finetune.referable_from`` for no referable figures (a bare ``false`` is read as
a boolean, which the setting holds as ``'false'``; configs saved before YAML 1.2 was read hold
``off`` and ``no`` as ``'false'`` too)."""


def _referable_setting(value: str) -> int | str:
    """``finetune.referable_from`` as ``'auto'``, ``'off'`` or a grade >= 1; ConfigError else."""
    text = str(value).strip().lower()
    if text == "auto" or text in REFERABLE_OFF:
        return "auto" if text == "auto" else "off"
    try:
        cut = int(text)
    except ValueError:
        cut = 0
    if cut < 1 or str(cut) != text:
        raise ConfigError(
            f"config: finetune.referable_from={value!r} is not auto, off or a grade 1..K-1 (the "
            f"lowest referable grade: referable = grade >= it).\n"
            f"  fix: finetune.referable_from=auto (the default: 2 on the ICDR scale, 1 with two "
            f"grades, else off), or "
            f"e.g. finetune.referable_from=2")
    return cut


REFERRAL_METRICS = ("sensitivity", "specificity")
"""The figures ``finetune.referral_target`` can set a referral cut for: ``sensitivity`` (the
referable images found) or ``specificity`` (the others cleared)."""


def referral_target(value: str, where: str = "config") -> tuple[str, float] | None:
    """``finetune.referral_target`` as ``(metric, level)`` (``"sensitivity:0.90"`` ->
    ``("sensitivity", 0.9)``; :data:`REFERRAL_METRICS`, ``0 < level < 1``), or None for
    ``off`` (also ``none``, ``no``, ``false`` and an empty value: :data:`REFERABLE_OFF`).

    Raises:
        ConfigError: any other value, its message starting ``WHERE:`` (``where``: the file's
            ``FILE:LINE`` or the override, as a config is read, :func:`_merge`); it gives the
            form and an example fix.
    """
    text = str(value).strip().lower()
    if text in (*REFERABLE_OFF, ""):
        return None
    metric, _, level_text = text.partition(":")
    metric = metric.strip()
    try:
        level = float(level_text)
    except ValueError:
        level = float("nan")
    if metric not in REFERRAL_METRICS or not 0 < level < 1:
        raise ConfigError(
            f"{where}: 'finetune.referral_target' is {value!r}, not off nor METRIC:LEVEL with METRIC "
            f"{' or '.join(REFERRAL_METRICS)} and LEVEL a fraction strictly between 0 and 1 (the "
            f"referable images the referral cut must find, or the others it must clear).\n"
            f"  fix: finetune.referral_target=sensitivity:0.90, or finetune.referral_target=off "
            f"(the default)")
    return metric, level


def level_text(level: float) -> str:
    """A screening level as the settings and the reports write it: two decimals when it has no
    more (0.9 -> ``0.90``, 0.95 -> ``0.95``), else as many as it has (0.975 -> ``0.975``)."""
    return f"{level:.2f}" if abs(level * 100 - round(level * 100)) < 1e-9 else f"{level:g}"


def referral_target_text(value: Any) -> Any:
    """``finetune.referral_target`` in its one written form, so that values meaning the same
    compare equal (a resume with ``sensitivity:0.90`` of a run made with ``sensitivity:0.9``):
    ``off`` for every off word (:data:`REFERABLE_OFF`, a YAML reader's ``false``), else
    ``METRIC:LEVEL`` with :func:`level_text`'s decimals (``Sensitivity:0.9`` ->
    ``sensitivity:0.90``); a value :func:`referral_target` refuses is returned as it is."""
    try:
        target = referral_target(value)
    except ConfigError:
        return value
    return "off" if target is None else f"{target[0]}:{level_text(target[1])}"


def referable_cut(value: str, names: Sequence[str]) -> int | None:
    """The lowest referable grade ``r`` that ``finetune.referable_from`` (``value``) gives on
    the data's scale ``names`` (grades ``0 .. K-1``), or None for no referable figures.

    ``auto``: 2 on the ICDR scale (:data:`GRADE_SCALES` ``icdr``: referable DR = moderate
    NPDR or worse), 1 on any two-grade scale (grade 1 is the referable one), None on any
    other; ``off``: None; an integer: itself. With K = 2 grades the cut is grade 1 (``auto`` or
    ``1``), so a two-grade run gets the referable figures a cut gives on more grades (the AUC
    of P(referable) with its CI and operating points, the CIs of sensitivity and specificity,
    the export's ``_referable.csv``, the app's line); before, it silently got none.

    Raises:
        ConfigError: a value that is not auto, off or an integer, or an integer outside
            ``1 .. K-1``; the message names the scale and the fix.
    """
    setting = _referable_setting(value)
    names = [str(n) for n in names]
    k = len(names)
    if setting == "off":
        return None
    if setting == "auto":
        return 2 if tuple(names) == GRADE_SCALES["icdr"] else 1 if k == 2 else None
    if not 1 <= int(setting) <= k - 1:
        scale = next((f"{key} scale" for key, v in GRADE_SCALES.items() if tuple(names) == v),
                     f"{k}-grade scale")
        listed = ", ".join(f"{g} {n}" for g, n in enumerate(names))
        raise ConfigError(
            f"config: finetune.referable_from={setting} is outside 1..{k - 1} on the data's {scale} "
            f"({listed}): referable = grade >= it, so it must leave some grade on each side.\n"
            f"  fix: finetune.referable_from={min(2, k - 1)}, or finetune.referable_from=off")
    return int(setting)


UNGRADABLE_NAMES = frozenset({
    "ungradable", "ungradeable", "ungraded", "notgradable", "notgradeable", "nongradable",
    "nongradeable", "notgraded", "unknown", "na", "notapplicable", "notavailable", "missing",
    "nograde", "cannotgrade", "cannotbegraded", "poorquality", "insufficientquality",
    "badquality", "excluded", "unreadable"})
"""Words that mark an image its graders could not grade (DDR's and DeepDRiD's grade 5, an NA
cell), never a grade's name (:func:`grades_problem`): as a name in ``data.grades`` they would
make those images a grade of their own. Held as :func:`ungradable_name` matches them: letters
and digits only, lower case. ``none`` is not among them (a grade-0 name, no DR)."""
UNGRADABLE_NAME_TAIL = re.compile(r"(image|images|photo|photos|photograph|photographs)$")
"""A trailing word an ungradable name may carry (``Ungradable image``), dropped before the match."""


def ungradable_name(name: str) -> bool:
    """Whether a grade name is a word for "could not be graded" (:data:`UNGRADABLE_NAMES`):
    letter case, accents' marks, spaces and punctuation aside (``N.A.``, ``n/a``, ``Not
    applicable``, ``Ungradeable``), a trailing ``image`` / ``photo`` dropped (``Ungradable
    image``); a name of punctuation only (``?``, ``-``) is one too."""
    text = unicodedata.normalize("NFKD", name).casefold()
    key = "".join(ch for ch in text if ch.isalnum())
    if not key:
        return bool(name.strip())  # '?', '-', '--': no grade's name
    if key in UNGRADABLE_NAMES:
        return True
    short = UNGRADABLE_NAME_TAIL.sub("", key)
    return short != key and short in UNGRADABLE_NAMES


def grades_problem(grades: Sequence[str]) -> tuple[str, str]:
    """What is wrong with ``data.grades`` and the fix, or ``("", "")`` when it is empty, one
    named scale (drac, icdr) or >= 2 distinct non-empty names. Names are quoted as given;
    two names that differ only in case are one name (the label CSV's grade words are read
    ignoring case). One word close to a scale's name (``icdr5``, ``dracc``: :func:`close_match`)
    is said as the scale it most likely meant, its fix first."""
    if not grades or (len(grades) == 1 and grades[0].strip().lower() in GRADE_SCALES):
        return "", ""
    names = [g.strip() for g in grades]
    scales = ", ".join(f"{k} ({', '.join(v)})" for k, v in GRADE_SCALES.items())
    example = "e.g. data.grades=[Normal, NPDR, PDR]"
    meant = close_match(names[0].lower(), list(GRADE_SCALES)) if len(names) == 1 else ""
    if meant:  # data.grades=icdr5: a scale's name mistyped, not one grade
        return (f"names one grade ({names[0]!r}); grading needs at least 2 (did you mean {meant}?)",
                f"data.grades=[{meant}] (the {meant} scale: {', '.join(GRADE_SCALES[meant])}), or list "
                f"the grade names in order, e.g. data.grades=[no referable DR, referable DR]")
    if len(names) == 1 and names[0].isascii() and names[0].isdigit():  # --grades 3: a count, as export's --grades
        what = (f"names one grade ({names[0]!r}); a count of grades? It takes the grades' names (or a "
                f"scale's), not their number")
        scale = next((k for k, v in GRADE_SCALES.items() if len(v) == int(names[0])), None)
        if 2 <= int(names[0]) <= 8:  # --grades 4: an example of 4 names, not Normal, NPDR, PDR
            example = f"e.g. data.grades=[{', '.join(f'G{g}' for g in range(int(names[0])))}]"
        if scale is not None:
            return what, (f"data.grades=[{scale}] ({', '.join(GRADE_SCALES[scale])}), or list the "
                          f"{names[0]} grade names in order, {example}")
        return what, f"list the {names[0]} grade names in order, {example}, or name a scale: {scales}"
    if len(names) < 2:
        return (f"names one grade ({names[0]!r}); grading needs at least 2",
                f"list the grade names in order, e.g. data.grades=[no referable DR, referable DR] "
                f"or data.grades=[Normal, NPDR, PDR], or name a scale: {scales}")
    empty = [g for g, n in enumerate(names) if not n]
    if empty:
        said = ", ".join(str(g) for g in empty)
        return (f"gives grade{'s' if len(empty) > 1 else ''} {said} an empty name",
                f"one non-empty name per grade 0..K-1, {example}")
    no_grade = [g for g, n in enumerate(names) if ungradable_name(n)]
    if no_grade:  # DDR's 'Ungradable' as a sixth ICDR grade: trained above PDR
        said = ", ".join(f"grade {g} {names[g]!r}" for g in no_grade)
        kept = [n for g, n in enumerate(names) if g not in no_grade]
        rest = ("data.grades=[icdr]" if len(kept) == 5 else f"data.grades=[{', '.join(kept)}]"
                if len(kept) >= 2 else example)
        return (f"names {said}, which marks images that could not be graded, not a grade: its "
                f"images would be trained and scored as a grade of their own"
                + (" above the worst" if no_grade[-1] == len(names) - 1 else ""),
                f"name the disease grades only ({rest}); write NA (or leave the cell empty) in "
                "the grade cells of ungradable images and set data.ungradable=leave_out, which "
                "leaves them out")
    seen: dict[str, list[int]] = {}
    for g, n in enumerate(names):
        seen.setdefault(n.casefold(), []).append(g)
    for repeated in (gs for gs in seen.values() if len(gs) > 1):
        at = f"{', '.join(str(g) for g in repeated[:-1])} and {repeated[-1]}"
        times = "twice" if len(repeated) == 2 else f"{len(repeated)} times"
        spelled = {names[g] for g in repeated}
        if len(spelled) == 1:
            what = f"gives the name {names[repeated[0]]!r} {times} (grades {at})"
        else:
            what = (f"gives the names {', '.join(repr(names[g]) for g in repeated)} (grades {at}), "
                    f"which differ only in case: grade names are compared ignoring case")
        return what, f"one distinct name per grade 0..K-1, {example}"
    return "", ""


def referable_from_problem(referable_from: int, grades: Sequence[str]) -> tuple[str, str]:
    """What is wrong with ``data.referable_from`` beside ``data.grades`` and the fix, in the
    settings' words, or ``("", "")``. ``referable_from`` 0 is off; 1..4 (its range is
    :data:`DATA_RANGES`') makes two grades of ICDR labels, so ``grades`` must leave two grades:
    empty, or the ICDR scale the labels are on (``icdr`` or its five names: the two grades are
    then named non-referable, referable), or two names of its own; any other scale is an error
    (:func:`referable_from_rule`)."""
    if not referable_from or not _whole_number(referable_from):
        return "", ""
    if referable_from_rule(referable_from, grades).two_grades:  # the range is DATA_RANGES'
        return "", ""
    names = [str(g).strip() for g in grades]
    return (f"data.referable_from={referable_from} makes two grades of the labels' ICDR grades (grade >= "
            f"{referable_from} referable, below it not), but data.grades=[{', '.join(names)}] names "
            f"{len(names) if len(names) > 1 else 'another scale'}",
            "data.grades=[] (or icdr: the labels' scale; the two grades are then named non-referable, "
            "referable), or two names, data.grades=[non-referable, referable]; or data.referable_from=0 "
            "to train on the grades as they are")


def validate_grades(grades: list[str]) -> None:
    """``data.grades``: empty, one named scale (drac, icdr), or >= 2 distinct non-empty names
    (:func:`grades_problem`); ConfigError otherwise, quoting the names as given."""
    what, fix = grades_problem(grades)
    if what:
        raise ConfigError(f"config: data.grades=[{', '.join(str(g) for g in grades)}] {what}.\n"
                          f"  fix: {fix}")


DATASET_CHANNELS = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3}
"""Channels of the generic data sets (read without an ingest)."""


def with_data_channels(cfg: Config, channels: int, where: str) -> Config:
    """``cfg`` with ``pretrain.backbone.in_channels`` set to the data's ``channels``.

    ``in_channels`` 0 takes them; an equal value is kept; any other value is a
    :class:`ConfigError` naming both and the fix (no silent conversion of the images).
    ``where`` names the data in the message.
    """
    bb = cfg.pretrain.backbone
    if channels not in (1, 3):
        raise ConfigError(f"{where}: images with {channels} channels; the backbone reads grey (1) "
                          f"or RGB (3) images")
    if bb.in_channels not in (0, channels):
        kind = "RGB colour" if channels == 3 else "grey"
        raise ConfigError(
            f"config: pretrain.backbone.in_channels={bb.in_channels} contradicts the data: "
            f"{channels}-channel ({kind}) images ({where}), and nothing is converted "
            f"silently.\n  fix: pretrain.backbone.in_channels={channels} (or 0: take the data's "
            f"channels), or re-ingest the data with data.channels={bb.in_channels}")
    if bb.in_channels == channels:
        return cfg
    return dataclasses.replace(cfg, pretrain=dataclasses.replace(
        cfg.pretrain, backbone=dataclasses.replace(bb, in_channels=channels)))


def configured_channels(cfg: Config) -> int:
    """``pretrain.backbone.in_channels``, or for 0 the channels of a generic data set
    (:data:`DATASET_CHANNELS`); an ingested data set's channels are its ingest's
    (:func:`drac_ssl.scale.read_ingest_facts`), 1 when nothing else is known."""
    return cfg.pretrain.backbone.in_channels or DATASET_CHANNELS.get(cfg.data.dataset, 1)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


RESOLVED_HEADER = "# Resolved drac_ssl configuration"
"""The first words of a configuration :func:`save_config` wrote (a run folder's
``config.yaml``): it holds every setting, those the user never set too."""


def is_resolved_text(text: str) -> bool:
    """``text`` (a file's contents, or its first line) is a configuration :func:`save_config`
    wrote: it starts with :data:`RESOLVED_HEADER`, after a UTF-8 byte-order mark if an editor
    saved one (Notepad's; :func:`load_config` reads past it, so every reader must)."""
    return text.removeprefix(BYTE_ORDER_MARK).startswith(RESOLVED_HEADER)


def is_resolved_file(path: str | os.PathLike[str]) -> bool:
    """The file ``path`` is a run's resolved ``config.yaml`` (:func:`is_resolved_text` of its
    first line). Raises OSError when it cannot be opened; undecodable bytes do not raise."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return is_resolved_text(fh.readline())


REPRODUCE_WORDS = "to reproduce in a new run folder"
"""How a saved ``config.yaml``'s header and report.md's provenance introduce
:func:`reproduce_command`."""

def reproduce_command(config_file: str, out_dir: str = "", threads: int | None = None) -> str:
    """``python -m drac_ssl.train -c CONFIG_FILE [run.out_dir=OUT_DIR] [run.threads=N]
    run.name=NEW``: a new run of a saved configuration in a run folder of its own
    (``config_file`` as it is to be typed: a quoted path, or ``THIS_FILE`` in the file's own
    header; ``out_dir``, quoted too, the folder to make it in, absolute in report.md: a run's
    ``run.out_dir``, ``runs`` by default, is relative to the folder it was started in, a
    review's F7; ``threads``, the CPU thread count the run used, when its ``run.threads`` does
    not say it: 0, the default, is half the cores of the machine it runs on, and CPU float
    sums depend on the count, a reproducibility review). The interpreter as a file read later,
    from anywhere, can say it (:func:`drac_ssl.starting.python_command`'s ``in_file``)."""
    from drac_ssl.starting import python_command  # stdlib only

    where = f" run.out_dir={out_dir}" if out_dir else ""
    count = f" run.threads={threads}" if threads is not None else ""
    return f"{python_command('drac_ssl.train', in_file=True)} -c {config_file}{where}{count} run.name=NEW"


def resume_words(out_dir: str) -> str:
    """How a saved ``config.yaml``'s header says that ``-c THIS_FILE`` alone resumes its run:
    with a relative ``run.out_dir`` (``out_dir``), only typed in the folder the run was
    started in (a review, F7: elsewhere it names another folder)."""
    if os.path.isabs(out_dir):
        return "-c THIS_FILE alone resumes this run, or reports it when finished"
    return (f"-c THIS_FILE alone, typed in the folder the run was started in (its run.out_dir, "
            f"{out_dir}, is relative to it), resumes this run, or reports it when finished")


def save_config(cfg: Config, path: str | os.PathLike[str], comment: str = "",
                threads: int | None = None) -> Path:
    """Write the resolved configuration as YAML (atomically). Every setting is written, those
    the run's stages do not read too; for a generic data set (``data.dataset`` not ``drac``) a
    second comment line says which do not apply (:func:`generic_config_note`); ``comment``, a
    line about how the run was made (``--first-try``'s settings), after them. ``threads``: the
    CPU thread count the run uses, added to the header's reproduce command when
    ``run.threads`` is not that count (0: half the cores; :func:`reproduce_command`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    note = generic_config_note(cfg.data.dataset)
    tmp.write_text(
        # a file read later, from anywhere: no absolute interpreter path (python_word's in_file)
        RESOLVED_HEADER + f"; {REPRODUCE_WORDS}: "
        f"{reproduce_command('THIS_FILE', threads=threads if threads != cfg.run.threads else None)} "
        # the file keeps the run's own run.name: alone it names this folder again
        f"({resume_words(str(cfg.run.out_dir))})\n"
        + (f"# {note}\n" if note else "")
        + "".join(f"# {line}\n" for line in comment.splitlines())
        + settings_yaml(to_dict(cfg)),
        encoding="utf-8",
    )
    os.replace(tmp, p)
    return p


def settings_yaml(settings: dict[str, Any]) -> str:
    """``settings`` as the YAML text of a ``config.yaml`` (written as UTF-8): non-ASCII
    characters as they are (``root: /data/my dïr``; a CLI review found ``"my d\\xEFr"`` escapes,
    which a user cannot read or search for), unless that text would not read back as the
    escaped one does, or a character in it would be refused by the reader
    (:func:`_misread_character_error`: a look-alike space at a value's end, say): then escaped,
    as before (the same values either way)."""
    escaped = yaml.safe_dump(settings, sort_keys=False)
    text = yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
    if text == escaped:
        return text
    try:
        same = (read_yaml(text) == read_yaml(escaped)
                and _misread_character_error(Path("config.yaml"), text) is None)
    except yaml.YAMLError:
        same = False
    return text if same else escaped


def generic_config_note(dataset: str) -> str:
    """For a generic data set's ``config.yaml`` (``dataset`` not ``drac``: read whole by the
    pretraining, no ingest): the settings written there that do not apply, since the file
    holds every setting with its value (``pretrain.use_test_images: true``, the default, read
    as if the pretraining had seen the test split); '' for ``drac``."""
    if dataset == "drac":
        return ""
    return (f"data.dataset={dataset}: the pretraining learns from its training split alone (the test "
            f"split feeds only the k-NN monitor); pretrain.use_test_images and the data.* settings but "
            f"dataset and root are ingest settings, not applied")


DEFAULTS_BEFORE: dict[str, Any] = {
    "finetune.keep": "best",
    "umm.outer_ssl": False,
    "umm.membership": "pairs",
    "umm.max_ssl_rise": 0.0,
}
"""Settings whose default is not what code from before they existed ran, with the value that
code ran under: ``finetune.keep`` became a setting with ``best``, the rule of every earlier
run, and its default became ``last`` in December 2026; ``umm.outer_ssl``, ``umm.membership``
and ``umm.max_ssl_rise`` came in one commit (6b2ca5d1, 2026-11-30) with today's UMM (``F =
L_ssl - alpha Delta R``, soft membership, a guard), where earlier code took the outer step on
``F = -Delta R`` alone (``outer_ssl: false``), of each image's two views (``pairs``), with no
guard (``0``; an upgrade review: a rerun of such a run's config.yaml ran today's objective
silently, its UMM variant's QWK 0.36 -> 0.09). The other settings added since default to what
that code did (``umm.rate_reduction_on: features``, ``umm.outer_batch: same``,
``umm.start_from: best``, ``umm.alpha: 1``, ``finetune.decision: thresholds``, ...). A saved
``config.yaml`` that lacks one is read
with this value (:func:`with_former_defaults`), not today's default, both as a saved side
compared on a resume and as a ``-c`` file (one that starts with :data:`RESOLVED_HEADER`; a
hand-written file gets today's defaults); the fine-tuning's fold
signature leaves this value out of its hash, as it did when it was the default."""


def former_defaults_filled(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The :data:`DEFAULTS_BEFORE` settings a ``-c`` file ``path`` lacks and is read with
    (dotted key -> the former value): only for a run's resolved ``config.yaml`` (it starts
    with :data:`RESOLVED_HEADER`; a hand-written file gets today's defaults); ``{}`` for any
    other file, one that names them all, or one that cannot be read (the reading says why)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        saved = yaml.safe_load(text.removeprefix(BYTE_ORDER_MARK)) if is_resolved_text(text) else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return _former_defaults_lacking(saved) if isinstance(saved, dict) else {}


def _former_defaults_lacking(saved: dict[str, Any]) -> dict[str, Any]:
    """The :data:`DEFAULTS_BEFORE` settings (dotted key -> the former value) that ``saved`` (a
    nested configuration) does not name: a section that is no mapping names none of its keys.
    The one test of :func:`former_defaults_filled` and :func:`with_former_defaults`."""
    lacking = {}
    for dotted, value in DEFAULTS_BEFORE.items():
        section, key = dotted.split(".", 1)
        part = saved.get(section)
        if not (isinstance(part, dict) and key in part):
            lacking[dotted] = value
    return lacking


def former_defaults_words(filled: dict[str, Any]) -> str:
    """``filled`` (:func:`former_defaults_filled`, less the settings given on the command line)
    in words for the console: which settings an older run's ``config.yaml`` lacks and the
    values they are read with (its code's), or '' when none."""
    if not filled:
        return ""
    values = ", ".join(f"{key}={_yaml_word(value)}" for key, value in filled.items())
    return (f"the config.yaml was written by code from before {', '.join(filled)} existed: read with "
            f"the values that code ran under, {values} (today's defaults differ; docs/upgrading.md)")


def _yaml_word(value: Any) -> str:
    """``value`` as a command-line override writes it (``false``, ``pairs``, ``0.0``)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def ingest_modality(settings: dict[str, Any]) -> str:
    """The ``data.modality`` the ingest stage is given for a configuration (as a dict, e.g.
    :func:`to_dict`'s): ``auto`` becomes ``fundus`` under ``pretrain.augment.recipe=fundus``
    (``drac_ssl.train.stage_ingest``; the preflight's printed ingest command says the same)."""
    data = settings.get("data") or {}
    modality = str(data.get("modality") or "auto")
    recipe = ((settings.get("pretrain") or {}).get("augment") or {}).get("recipe")
    return "fundus" if modality == "auto" and recipe == "fundus" else modality


def with_former_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` (a run folder's nested ``config.yaml``) with each :data:`DEFAULTS_BEFORE`
    setting it does not name set to that former value (a copy; ``saved`` is not changed)."""
    out = {**saved}
    for dotted, value in _former_defaults_lacking(saved).items():
        section, key = dotted.split(".", 1)
        part = out.get(section)
        out[section] = {**(part if isinstance(part, dict) else {}), key: value}
    return out


def variant_keep(saved: object, metrics: object = None) -> str | None:
    """A fine-tuned variant's ``finetune.keep`` (``best``, ``last`` or ``inner``: how its folds'
    epochs were kept), the one reading of it train's result line, compare, report.md and a
    bundle's model card share: ``metrics["keep"]`` (its ``metrics.json``) when it records one
    (a string), else the ``finetune.keep`` of ``saved`` (a run's nested ``config.yaml``, or
    ``{"finetune": ...}`` of a bundle's ``metadata.json``) read with
    :func:`with_former_defaults`: ``best`` for a run made before the setting existed (it ran
    so), not today's default. None when neither says (``saved`` not a dict: no configuration)."""
    recorded = metrics.get("keep") if isinstance(metrics, dict) else None
    if isinstance(recorded, str):
        return recorded
    if not isinstance(saved, dict):
        return None
    keep = (with_former_defaults(saved).get("finetune") or {}).get("keep")
    return keep if isinstance(keep, str) else None


def from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from a dict (e.g. read back from a checkpoint or config.yaml)."""
    return expand_home(_merge(Config(), data, "saved config"))
