"""Which settings each stage's output depends on, and how a saved configuration differs.

One comparison serves every place that must not mix outputs of different configurations: a
rerun of ``python -m drac_ssl.train`` on an existing run folder, ``run.reuse`` taking finished
stages from another run folder (:mod:`drac_ssl.train`), a pretraining or UMM checkpoint resumed
by its stage (:mod:`drac_ssl.pretrain`, :mod:`drac_ssl.umm.stage`). A run folder's
``config.yaml`` edited after its stages ran is found by one check (:func:`edited_config_words`,
against what the stages saved themselves) for the training's resume, ``run.reuse`` and
``python -m drac_ssl.report``; ``python -m
drac_ssl.compare`` leaves :data:`OUTPUT_ONLY_SETTINGS` (but for its speed settings) out of the settings it lists as differing
between runs. Settings are nested dicts as
:func:`drac_ssl.config.to_dict` writes them; differences are ``"section.key: old -> new"``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from drac_ssl.config import (
    PATH_SETTINGS,
    PHANTOM_SET_SETTINGS,
    PHANTOM_UNUSED,
    REFERABLE_OFF,
    STATED_DATA_SETTINGS,
    Config,
    ConfigError,
    DataConfig,
    from_dict,
    read_yaml,
    referral_target_text,
    to_dict,
    validate_grades,
    with_former_defaults,
)
from drac_ssl.io import absolute_from, read_json_dict, same_path
from drac_ssl.run_state import made_in, read_stages_record

# settings that change what a resumed run does or writes, or how fast, not its results
OUTPUT_ONLY_SETTINGS: dict[str, bool] = {
    "run.stages": False, "run.tensorboard": False, "run.threads": False, "run.out_dir": False,
    "run.name": False, "run.private": False, "run.reuse": False, "run.keep_checkpoints": False,
    "data.workers": False, "pretrain.num_workers": True,
    **{f"data.{key}": False for key, _ in STATED_DATA_SETTINGS},
}
"""Settings that change no stage's result: which stages run, logging, threads, the worker
processes (``data.workers``: the ingest decodes each image alone, whichever process does it;
``pretrain.num_workers``: each view is drawn with its own seed, ``tests/drac_ssl/
test_finetune_workers.py``; both are speed only, and environment.json records the loader's
count), where the
run folder is (``run.out_dir`` / ``run.name``: a moved or renamed run folder resumes), who
may read it (``run.private``: the mode a new run folder is made with), where a new run folder took finished stages from (``run.reuse``: only equal settings) and
whether a finished run keeps its checkpoints (``run.keep_checkpoints``), and the data's
description, collection dates and reference standard (``data.description``, ...: said in
report.md and the model card, never read by a stage).
``run.threads`` changes a result's last digits only (CPU float sums depend on the thread
count): a resume with another count than made the state it resumes from is not refused (another
machine's default policy may differ) but warned about and recorded
(:func:`drac_ssl.train._resumed_with_other_threads`). ``pretrain.channels_last`` and
``pretrain.compile`` are not here: another memory layout or a compiled graph picks other
kernels, whose float sums differ in the last digits (a ResNet-18's outputs by ~1e-6 in fp32 on
a CPU for channels_last), so they count as changes of the result.

Each says whether it is one of :data:`SPEED_SETTINGS`, which ``python -m drac_ssl.compare``
still names when they differ (on a line of their own): only ``pretrain.num_workers``, which
changed the fine-tuning's views of a run made before its fold records said ``train_views``;
compare leaves the others out (:func:`drac_ssl.compare._differing_settings`)."""

SPEED_SETTINGS = ("pretrain.compile", "pretrain.channels_last", "pretrain.checkpoint_every",
                  *(key for key, speed in OUTPUT_ONLY_SETTINGS.items() if speed))
"""Settings that change how fast a run goes, not what it computes (its results only through
float rounding or the order of random draws; ``pretrain.num_workers`` not at all, each view
drawn from its own seed, except in a run fine-tuned by a drac_ssl before its fold records said
``train_views``, whose fine-tuning views followed the worker count): ``python -m
drac_ssl.compare``'s text names them in a line of their own instead of giving them a column;
its CSV keeps them. The first three change a result's last digits, so a resume checks them
(not output-only); the rest are the :data:`OUTPUT_ONLY_SETTINGS` marked as speed settings."""
REUSABLE_STAGES: dict[str, tuple[str, ...]] = {
    "ingest": ("data.",),
    # the pretraining's rate-reduction monitor (which picks monitor_peak.pt, UMM's start) uses
    # the UMM stage's membership and early-cut settings
    "pretrain": ("data.", "pretrain.", "run.seed", "umm.eps2", "umm.membership",
                 "umm.membership_temperature", "umm.early_cut"),
    "umm": ("data.", "pretrain.", "umm.", "run.seed"),
}
"""The stages whose outputs a resume checks and ``run.reuse`` can take from another run
folder, in pipeline order, with the settings (a section ``x.`` or one key) their outputs depend on. ``run.device`` is not one:
a pretraining made on a GPU may be fine-tuned on a CPU (the numbers differ by rounding).
``tests/drac_ssl/test_stage_settings.py`` reads ``pretrain.py`` (and the package functions it
hands the configuration to) and fails on a setting read there that ``"pretrain"`` leaves out."""

FOLD_SETTINGS = ("data.n_folds", "data.fold_seed", "data.near_duplicate_mse")
"""The ingest's settings that change nothing but the folds: the manifest's ``fold`` (and
``fold_group``) columns, never an image, the cache or a grade. Two runs that differ only in
them have pretrainings and UMMs that saw the same images, when neither stage chooses
anything by a figure read from the folds (:func:`fold_dependence`): ``run.reuse`` takes
those stages and runs the ingest again for the new folds (``drac_ssl.train.plan_reuse``,
checked on the new ingest's images by ``drac_ssl.train.check_refolded``)."""

FOLD_LABEL_FIGURES = {
    "knn_top1": "the k-NN monitor (pretrain.knn_every), which scores fold 0's graded images against "
                "the other folds'",
    "knn_start_top1": "the k-NN monitor's figure of the starting backbone (pretrain.knn_every), on "
                      "fold 0 against the other folds",
}
"""The figures a pretraining or UMM records that read the grades through the folds, and
what they are. Nothing else in either stage reads a grade or a fold (the pretraining's
image pool is every ingested image in cache order; UMM runs no k-NN monitor)."""

STAGE_CHOICES: dict[str, dict[str, str]] = {
    "pretrain": {
        "loss": "the pretraining's early stop (pretrain.patience) and the weights it hands on "
                "(best.pt: the lowest epoch loss)",
        "rate_reduction_last": "monitor_peak.pt (UMM's start under umm.start_from=peak|past_peak)",
    },
    "umm": {
        "probe_rate_reduction_last": "UMM's early stop and kept epoch (umm.early_stop_on_rate_reduction)",
        "rate_reduction_last": "UMM's early stop and kept epoch without pretraining's probe, and "
                               "the peak its start rule reads",
        "ssl_loss": "UMM's SSL-loss guard (umm.max_ssl_rise)",
    },
}
"""The figure each choice of a stage watches (its early stop, the weights it keeps, the
checkpoint a later stage starts from), by the key its history records. A choice that watches
one of :data:`FOLD_LABEL_FIGURES` makes the stage's output depend on the folds
(:func:`fold_dependence`). ``tests/drac_ssl/test_train.py`` checks this table against the
stages' :class:`drac_ssl.engine.Monitor` keys."""


def fold_dependence(stage: str, cfg: Config) -> tuple[str, tuple[str, ...]]:
    """How ``stage`` (``pretrain`` or ``umm``) under ``cfg`` depends on the fold assignment:
    ``(why its output does, "" when it does not; the fold-reading figures it records)``.

    Its output depends on the folds when a choice of :data:`STAGE_CHOICES` watches a figure
    of :data:`FOLD_LABEL_FIGURES` that the stage computes (the pretraining's k-NN monitor runs
    with ``pretrain.knn_every`` > 0; UMM runs none). The figures of the second item are
    recorded (``metrics.csv``, ``metadata.json``, the plots) but decide nothing: a stage
    taken into a run with other folds keeps them, measured on its own run's folds."""
    figures = tuple(FOLD_LABEL_FIGURES) if stage == "pretrain" and cfg.pretrain.knn_every > 0 else ()
    for key, choice in STAGE_CHOICES.get(stage, {}).items():
        if key in figures:
            return (f"{choice} watches {key}, {FOLD_LABEL_FIGURES[key]}: the kept weights depend on "
                    f"the fold assignment"), figures
    return "", figures


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Every setting that differs between two nested configurations (dicts), as sorted
    ``"section.key: old -> new"`` lines (``repr`` of each value; a missing key is None), less
    :data:`OUTPUT_ONLY_SETTINGS`; read them back with :func:`parse_difference_line`. Compare
    :func:`comparable` forms to ignore spelling."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, path + ".")
        elif a != b and path not in OUTPUT_ONLY_SETTINGS:
            diffs.append(f"{path}: {a!r} -> {b!r}")
    return diffs


def _first_outside(text: str, separator: str, quotes: bool) -> int:
    """Where ``separator`` first occurs in ``text`` outside round, square and curly brackets
    (and, with ``quotes``, outside a quoted string as ``repr`` writes one: ``'...'`` or
    ``"..."`` with backslash escapes); -1 when it does not."""
    depth, quote, at = 0, "", 0
    while at < len(text):
        char = text[at]
        if quote:
            if char == "\\":
                at += 1  # the escaped character, whatever it is
            elif char == quote:
                quote = ""
        elif quotes and char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0 and text.startswith(separator, at):
            return at
        at += 1
    return -1


def parse_difference_line(line: str) -> tuple[str, str, str]:
    """``(key, old, new)`` of a ``"key: old -> new"`` line of :func:`config_differences`, the
    values as written there (``repr``: ``"'fundus'"``, ``"None"`` for a key only one side has).

    The one reader of those lines (a resume's refusal, ``run.reuse``'s plan, the check of an
    edited ``config.yaml``, the fold settings ``stages.json`` records); it gives back exactly
    what :func:`config_differences` wrote, whatever ``": "`` or ``" -> "`` a value holds:

    * the key ends at the first ``": "`` outside brackets (a setting's dotted name holds
      neither; a phrase written in its place, such as ``"the ingest's data.modality (auto:
      ...): auto -> fundus"``, keeps its bracketed words);
    * the old value ends at the first ``" -> "`` after it outside brackets and quoted strings:
      a ``repr`` holds either separator only inside its quotes (a string) or brackets (a
      list, a dict), so ``"k: 'a -> b' -> 'c: d'"`` is ``("k", "'a -> b'", "'c: d'")``;
      words no ``repr`` wrote (an unclosed quote) end at the first ``" -> "``;
    * the new value is the rest.

    A line without such ``": "`` (``plan.why``'s ``"it has not finished in RUN"``) is
    ``(line, "", "")``; one without ``" -> "`` after its key is ``(key, rest, "")``: ``new``
    is "" only then (no ``repr`` is empty)."""
    at = _first_outside(line, ": ", quotes=False)
    if at < 0:
        return line, "", ""
    key, values = line[:at], line[at + 2:]
    arrow = _first_outside(values, " -> ", quotes=True)
    if arrow < 0:
        arrow = values.find(" -> ")
    if arrow < 0:
        return key, values, ""
    return key, values[:arrow], values[arrow + 4:]


UNREAD_PATIENCE = "not read (finetune.keep=last)"
"""How :func:`comparable` writes ``finetune.patience`` under ``finetune.keep=last``, which runs
every epoch: two such runs that differ only in it are the same run (the fold signature leaves it
out too), and a change of the rule shows the patience as this beside the other side's value."""


UNREAD_INNER_FRACTION = "not read (finetune.keep is not inner)"
"""How :func:`comparable` writes ``finetune.inner_fraction`` under ``finetune.keep=last|best``,
which hold out no inner split: as :data:`UNREAD_PATIENCE`, two such runs that differ only in it
are the same run (the fold signature leaves it out too)."""


def comparable(settings: dict[str, Any], cwd: str | None = None) -> dict[str, Any]:
    """``settings`` with what means the same written the same: paths (:data:`PATH_SETTINGS`)
    absolute and normalised (relative ones from ``cwd``, the folder the settings were used
    in; the current one when None; a trailing slash dropped) and ``run.device=auto`` as the
    device it picks here; ``finetune.referable_from`` off, no or false as ``off``;
    ``finetune.referral_target`` in its one written form (:func:`~drac_ssl.config.referral_target_text`);
    ``finetune.patience`` under ``finetune.keep=last`` as :data:`UNREAD_PATIENCE`;
    ``finetune.inner_fraction`` under any rule but ``finetune.keep=inner`` as
    :data:`UNREAD_INNER_FRACTION`; on the phantom set (``data.dataset=drac`` with an empty
    ``data.root``) the settings of a real data set's files it does not read
    (:data:`~drac_ssl.config.PHANTOM_UNUSED`) as their defaults, the values its ingest applied;
    with a ``data.root`` (your own images, no phantom set generated) the phantom set's counts
    and seed (:data:`~drac_ssl.config.PHANTOM_SET_SETTINGS`) as their defaults."""
    out = json.loads(json.dumps(settings, default=str))
    data = out.get("data")
    if isinstance(data, dict) and data.get("dataset", "drac") == "drac":
        # warned set but not used: rerunning without them (the warning's fix) is the same run
        unread = PHANTOM_UNUSED if not data.get("root") else PHANTOM_SET_SETTINGS
        for key in unread:
            name = key.split(".", 1)[1]
            if name in data:
                data[name] = json.loads(json.dumps(getattr(DataConfig(), name), default=str))
    for key in PATH_SETTINGS:
        section, _, name = key.rpartition(".")
        node: Any = out
        for part in section.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if isinstance(node.get(name), str) and node[name].strip():
            node[name] = absolute_from(node[name], cwd)
        elif isinstance(node.get(name), list):  # data.unlabelled: each folder
            node[name] = [absolute_from(v, cwd) if isinstance(v, str) and v.strip() else v for v in node[name]]
    finetune = out.get("finetune")
    if isinstance(finetune, dict) and str(finetune.get("referable_from")).lower() in REFERABLE_OFF:
        finetune["referable_from"] = "off"  # saved by YAML 1.1 readers as 'false'; 1.2 keeps 'off'
    if isinstance(finetune, dict) and "referral_target" in finetune:  # sensitivity:0.9 = sensitivity:0.90
        finetune["referral_target"] = referral_target_text(finetune["referral_target"])
    if isinstance(finetune, dict) and finetune.get("keep") == "last" and "patience" in finetune:
        finetune["patience"] = UNREAD_PATIENCE  # every epoch runs: no patience is read (s52c F6)
    if isinstance(finetune, dict) and finetune.get("keep") != "inner" and "inner_fraction" in finetune:
        finetune["inner_fraction"] = UNREAD_INNER_FRACTION  # no inner split is held out
    run = out.get("run")
    if isinstance(run, dict) and run.get("device") == "auto":
        from drac_ssl.runtime import resolve_device

        run["device"] = str(resolve_device("auto"))
    return out


def saved_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A run folder's saved ``config.yaml`` as this version reads it: settings added since it
    was written take their defaults (the values the run used), or, for a setting whose default
    changed since (:data:`drac_ssl.config.DEFAULTS_BEFORE`: ``finetune.keep``, three ``umm.*``), the value runs
    ran under before it existed; as written when it no longer parses (a removed setting), so
    the comparison names it."""
    try:
        return to_dict(from_dict(with_former_defaults(saved)))
    except ConfigError:
        return saved


def stage_resume_differences(stage: str, saved: dict[str, Any] | None, cfg: Config, out_dir: Path,
                             may_change: tuple[str, ...] = (),
                             prefixes: tuple[str, ...] | None = None) -> list[str]:
    """What differs, as ``"key: old -> new"`` lines, between the configuration a stage's
    checkpoint was saved with (``saved``: its ``config``) and ``cfg``, among the settings the
    stage's output depends on (:data:`REUSABLE_STAGES`; ``prefixes`` when given, e.g. the
    fine-tuning's ``("finetune.",)``), less :data:`OUTPUT_ONLY_SETTINGS` and ``may_change``
    (e.g. ``umm.epochs``: a finished stage may be given more epochs).

    The same comparison as a rerun of ``python -m drac_ssl.train`` makes of the whole run
    folder: settings added since the checkpoint take their defaults, relative paths are read
    from the folder the stage was run in (``out_dir/environment.json``). ``saved`` None (a
    checkpoint without its configuration): nothing to compare, [].

    A stage that ran here on the run folder's ingest (``out_dir/../data``; not one taken from
    another run) read the settings only the ingest applies (:data:`INGEST_ONLY_SETTINGS`) from
    its output: a value of its own in ``saved`` is none of its output's where ``cfg``'s is the
    ingest's (a run made before such values were recorded as the ingest's: config.yaml and the
    checkpoint said ``data.cache_sizes: [256, 512]`` given, the ingest had made 256 px alone).
    """
    if not isinstance(saved, dict):
        return []
    prefixes = REUSABLE_STAGES[stage] if prefixes is None else prefixes
    old, new = saved_settings(saved), to_dict(cfg)
    record, entry = ingest_record(out_dir.parent), _status(out_dir.parent).get(stage)
    if record is not None and not (isinstance(entry, dict) and (entry.get("reused_from") or entry.get("other_folds"))):
        keep = record.differences(new["data"])  # cfg's own values: compared as given
        old, new = record.applied(old, keep), record.applied(new, keep)
    diffs = config_differences(comparable(old, made_in(out_dir)), comparable(new))
    return [d for d in diffs
            if reads(prefixes, key := parse_difference_line(d)[0]) and key not in may_change]


def reads(prefixes: tuple[str, ...], key: str) -> bool:
    """Whether setting ``key`` is one of ``prefixes`` (a section ``x.`` or one key)."""
    return any(key.startswith(p) if p.endswith(".") else key == p for p in prefixes)


def data_channels_resolved(settings: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """``settings`` with ``pretrain.backbone.in_channels`` 0 ("the data's") replaced by the
    run's ingested channels when the ingest has run: a run folder made when the default was
    an explicit 1 resumes under the new default on its grey data."""
    backbone = settings.get("pretrain", {}).get("backbone", {})
    if backbone.get("in_channels") != 0 or not (run_dir / "data" / "ingest_summary.json").is_file():
        return settings
    from drac_ssl.scale import read_ingest_facts

    channels = read_ingest_facts(run_dir / "data").channels
    return {**settings, "pretrain": {**settings["pretrain"],
                                     "backbone": {**backbone, "in_channels": channels}}}


INGEST_ONLY_SETTINGS = ("data.root", "data.layout", "data.labels_csv", "data.image_column", "data.grade_column",
                        "data.unlabelled", "data.modality", "data.expected_side", "data.strict", "data.ungradable",
                        "data.missing", "data.n_folds", "data.fold_seed", "data.near_duplicate_mse",
                        "data.patient_column", "data.cache_sizes", "data.grades", "data.channels",
                        "data.fundus_crop", "data.graham", "data.graham_mask", "data.referable_from",
                        "data.site_column")
"""The ``data.*`` settings that only the ingest applies, each kept in what it wrote: where it
read the images and labels (``data.root``, the layout, the label CSV and its columns, the
unlabelled folders, what was done with an ungradable or missing row), and what it made of them
(the manifest's folds, the cache, the scale and channels ``ingest_summary.json`` records). A
stage after the ingest reads them from its output, never from the configuration: a run whose
ingest does not run again uses the ingest's (:class:`IngestRecord`)."""

DISCOVERY_SETTINGS = INGEST_ONLY_SETTINGS[:11]
"""The settings of :data:`INGEST_ONLY_SETTINGS` that tell the ingest where and how to read the
data (``data.root`` to ``data.missing``), not what to make of it: one left at its default
(:meth:`IngestRecord.unset`: ``data.root`` empty, ``data.layout=auto``, the default label
columns ...) names nothing, so a run over a standalone ingest takes that ingest's without a
word (docs/data.md's ``-c configs/drac.yaml run.stages=[pretrain,...]`` after ``python -m
data_prep ingest --root DIR``)."""

def _same_path(a: str, b: str) -> bool:
    """Whether two absolute paths name the same file or folder (written alike, or one reached
    through a symbolic link): :func:`drac_ssl.io.same_path`."""
    return same_path(a, b)


def _referable_from(*sections: dict[str, Any]) -> int:
    """The first whole ``referable_from`` > 0 of the ``data`` sections given (a configuration's,
    then the one the ingest recorded), else 0: the names ``data.grades`` resolves to depend on it
    (``icdr`` with ``data.referable_from=2`` is two grades, not five)."""
    for section in sections:
        n = section.get("referable_from")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return 0


@dataclasses.dataclass(frozen=True)
class IngestRecord:
    """What the ingest in ``data_dir`` (a run folder's ``data/``) recorded of itself:
    ``ingest_summary.json`` (``summary``) and the settings it was given (its ``config``,
    ``made``). Read by :func:`ingest_record`."""

    data_dir: Path
    summary: dict[str, Any]
    made: dict[str, Any]

    def _resolved(self, key: str) -> Any:
        value = self.summary.get(key)
        return value.get("value") if isinstance(value, dict) else value

    def value(self, setting: str) -> Any:
        """The value of ``setting`` (one of :data:`INGEST_ONLY_SETTINGS`) the stages after
        this ingest use, written as a setting: the one it was given, but where it recorded what
        that resolved to (``data.root``, the label CSV and the unlabelled folders as absolute
        paths, the layout found under ``auto``, the modality resolved). None for a setting it
        did not record (older ingests), or did not read (a MedMNIST ``.npz`` has no label
        columns); ``data.site_column`` unrecorded is ''."""
        key = setting.removeprefix("data.")
        given = self.made.get(key)
        if key in ("root", "labels_csv"):
            resolved = self.summary.get(key)
            return "" if not str(given or "").strip() else str(resolved or given)
        if key == "unlabelled":
            dirs = self.summary.get("unlabelled_dirs")
            return [] if not given else list(dirs) if isinstance(dirs, list) else given
        if key in ("layout", "modality"):
            resolved = self._resolved(key)
            return resolved if isinstance(resolved, str) and resolved else given
        if key == "site_column":
            return given or ""  # unrecorded (an ingest made before it existed): no site column
        return given

    def differs(self, setting: str, data: dict[str, Any], cwd: str | None = None) -> bool:
        """Whether ``data`` (a configuration's ``data`` section, as :func:`~drac_ssl.config.to_dict`
        writes it; relative paths read from ``cwd``) gives ``setting`` otherwise than this
        ingest applied it. Values are compared as the ingest reads them: paths as the file
        they name; ``data.layout`` only when not ``auto``; a label column left at its default
        as the layout's own; ``data.modality`` as it resolved (``auto`` against what the
        ingest was given); ``data.grades`` as the names it resolves to and ``data.channels``
        only when 1 or 3 (an empty or ``auto`` one is the layout's or the images');
        ``data.site_column`` unrecorded (an ingest made before it existed) as ''.
        ``data.cache_sizes`` as a set; ``data.graham_mask`` only with ``data.graham``. False
        for another setting the ingest did not record."""
        from data_prep.grades import resolve_grades
        from data_prep.layout import COLUMNS

        key = setting.removeprefix("data.")
        if key == "site_column" and key in data and key not in self.made:
            # an ingest made before data.site_column existed split on no site: recorded as ''
            return bool(str(data[key] or "").strip())
        if key not in self.made or key not in data:
            return False
        ours, given = data[key], self.made[key]
        if key in ("root", "labels_csv"):
            if not str(ours or "").strip():
                return bool(str(given or "").strip())
            resolved = self.summary.get(key)
            return not (isinstance(resolved, str) and resolved and _same_path(absolute_from(str(ours), cwd), resolved))
        if key == "unlabelled":
            dirs = self.summary.get("unlabelled_dirs")
            theirs = [str(d) for d in dirs] if isinstance(dirs, list) else [absolute_from(str(d)) for d in given or []]
            mine = [absolute_from(str(d), cwd) for d in ours or [] if str(d).strip()]
            return len(mine) != len(theirs) or not all(any(_same_path(a, b) for b in theirs) for a in mine)
        if key == "layout":
            return ours != "auto" and ours != self.value(setting)
        if key in ("image_column", "grade_column"):
            if given is None:  # a MedMNIST .npz: no label CSV, no columns read
                return False
            if str(ours or "").strip().casefold() == str(given).strip().casefold():
                return False
            # left at its default, a column resolves to the layout's own (data_prep.layout.COLUMNS)
            own = {pair[0 if key == "image_column" else 1] for pair in COLUMNS.values()}
            return not (ours == getattr(DataConfig(), key) and str(given) in own)
        if key == "modality":
            return ours != given and (ours == "auto" or ours != self.value(setting))
        if key == "grades":
            recorded = (self.summary.get("grades") or {}).get("names") if isinstance(
                self.summary.get("grades"), dict) else None
            try:
                validate_grades(list(ours))
            except ConfigError:
                return False  # its own error (the preflight's)
            layout = str(self.summary.get("layout") or "")
            return bool(ours) and isinstance(recorded, list) and \
                list(resolve_grades(list(ours), layout, _referable_from(data, self.made))[0]) != \
                [str(n) for n in recorded]
        if key == "channels":
            value = self._resolved("channels")
            return str(ours) in ("1", "3") and isinstance(value, int) and int(ours) != value
        if key == "cache_sizes":
            return isinstance(given, list) and set(ours or []) != set(given)
        if key == "graham_mask":
            return bool(data.get("graham") or self.made.get("graham")) and ours != given
        if key in ("patient_column", "site_column"):
            return str(ours or "").strip() != str(given or "").strip()
        return ours != given

    @staticmethod
    def unset(setting: str, data: dict[str, Any]) -> bool:
        """Whether ``data`` (a ``data`` section) leaves ``setting``, one of
        :data:`DISCOVERY_SETTINGS`, at its default (a path empty): it names nothing of its own."""
        key = setting.removeprefix("data.")
        if setting not in DISCOVERY_SETTINGS or key not in data:
            return False
        ours = data[key]
        if setting in PATH_SETTINGS:
            return not (ours if isinstance(ours, list) else str(ours or "").strip())
        return bool(ours == getattr(DataConfig(), key))

    def differences(self, data: dict[str, Any], cwd: str | None = None) -> dict[str, tuple[Any, Any]]:
        """The settings of :data:`INGEST_ONLY_SETTINGS` that ``data`` (a ``data`` section) gives
        otherwise than this ingest applied them (:meth:`differs`): setting -> ``(data's value,
        the ingest's)`` (:meth:`value`), in that order."""
        return {setting: (data[setting.removeprefix("data.")], self.value(setting))
                for setting in INGEST_ONLY_SETTINGS if self.differs(setting, data, cwd)}

    def applied(self, settings: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
        """``settings`` (nested, as :func:`~drac_ssl.config.to_dict` writes them) with each of
        :data:`INGEST_ONLY_SETTINGS` but ``keep`` set to this ingest's value (:meth:`value`):
        what the stages after it used, whatever was given. For comparisons: two
        configurations of a run that reads this ingest differ in these only where one keeps
        a value of its own (``keep``)."""
        data = dict(settings.get("data") or {})
        for setting in INGEST_ONLY_SETTINGS:
            key = setting.removeprefix("data.")
            value = self.value(setting)
            if setting not in keep and key in data and key in self.made and value is not None:
                data[key] = value
        return {**settings, "data": data}


def ingest_record(run_dir: str | os.PathLike[str]) -> IngestRecord | None:
    """The :class:`IngestRecord` of the ingest in ``run_dir/data``; None without one (no
    ``manifest.csv``), or without its settings (``ingest_summary.json``'s ``config``, older
    ingests)."""
    data_dir = Path(run_dir) / "data"
    if not (data_dir / "manifest.csv").is_file():
        return None
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    made = summary.get("config")
    return IngestRecord(data_dir, summary, made) if isinstance(made, dict) else None


STAGE_NOUNS = {"pretrain": "the pretraining", "umm": "UMM", "finetune": "the fine-tuning"}
"""How a message names the stages that save the settings they ran with (:func:`stage_ran_with`)."""


@functools.lru_cache(maxsize=4)
def _checkpoint_record(path: str, stamp: tuple[int, int]) -> dict[str, Any]:
    """``last.pt``'s ``config`` and ``threads`` (``stamp``: its modification time and size, so
    that a start's two readers, :func:`stage_ran_with` and
    :func:`drac_ssl.train._saved_state_threads`, load it once). Raises what ``torch.load``
    raises for a torn or foreign file."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {"config": state.get("config"), "threads": state.get("threads")}


def last_checkpoint(path: Path) -> dict[str, Any]:
    """:func:`_checkpoint_record` of ``path`` as it is now on disk."""
    info = path.stat()
    return _checkpoint_record(str(path), (info.st_mtime_ns, info.st_size))


def _status(run_dir: Path) -> dict[str, Any]:
    """``run_dir/stages.json`` (an empty dict when missing, unreadable or damaged)."""
    return read_stages_record(run_dir)


def _done(run_dir: Path, stage: str) -> bool:
    entry = _status(run_dir).get(stage)
    return isinstance(entry, dict) and entry.get("status") == "done"


def stage_ran_with(run_dir: Path, stage: str) -> tuple[dict[str, Any] | None, str]:
    """The settings ``stage`` (pretrain, umm or finetune) ran with in ``run_dir``, as the stage
    saved them itself, and the file they came from (relative to ``run_dir``): UMM's
    ``umm/config.yaml``, else the stage's ``checkpoints/last.pt`` ``config`` (its
    ``metadata.json``'s first once the stage is done: the same settings, without loading a
    checkpoint), else the other; the fine-tuning's, once it is done, its variants' ``model.json``
    ``finetune`` section (the first that has one, in name order; the other sections are not
    in it: None for them); (None, "") when the stage saved none (never started, stopped
    before its first save, or a fine-tuning not done: its rerun retrains what differs)."""
    folder = run_dir / stage
    if stage == "finetune":
        if not _done(run_dir, stage) or not folder.is_dir():
            return None, ""
        for model in sorted(folder.glob("*/model.json")):
            section = (read_json_dict(model) or {}).get("finetune")
            if isinstance(section, dict):
                return {"finetune": section}, model.relative_to(run_dir).as_posix()
        return None, ""
    saved = [folder / "checkpoints" / "last.pt", folder / "metadata.json"]
    if not any(path.is_file() for path in saved):
        return None, ""  # umm/config.yaml is written before the first save: not yet a record
    if _done(run_dir, stage):
        saved.reverse()
    for path in ([folder / "config.yaml"] if stage == "umm" else []) + saved:
        if not path.is_file():
            continue
        try:
            if path.suffix == ".pt":
                settings = last_checkpoint(path)["config"]
            elif path.suffix == ".json":
                settings = (read_json_dict(path) or {}).get("config")
            else:
                settings = read_yaml(path.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - a torn or foreign file: the stage says what is wrong
            continue
        if isinstance(settings, dict):
            return settings, path.relative_to(run_dir).as_posix()
    return None, ""


def _refolded_to(entry: Any) -> dict[str, str]:
    """For a stage ``run.reuse`` took from a run with other folds (its ``stages.json`` entry
    ``entry`` holds ``other_folds``): each :data:`FOLD_SETTINGS` key it records and the value
    (``repr``) this run gave it, ``{"data.fold_seed": "1"}``; {} for any other stage."""
    other = entry.get("other_folds") if isinstance(entry, dict) else None
    return {key: new for key, (_, new) in fold_lines(other.get("settings") if isinstance(other, dict) else None,
                                                       last=True).items()}


def fold_lines(lines: Any, last: bool = False) -> dict[str, tuple[str, str]]:
    """The :data:`FOLD_SETTINGS` keys of ``"key: old -> new"`` lines (``other_folds.settings``;
    anything but a list or tuple: none) and their ``(old, new)`` as written (``repr``); a key
    written twice: its first line, or its last with ``last``; a line without ``" -> "`` is
    none (:func:`parse_difference_line`)."""
    found: dict[str, tuple[str, str]] = {}
    for line in lines if isinstance(lines, list | tuple) else []:
        key, before, after = parse_difference_line(str(line))
        if key in FOLD_SETTINGS and after and (last or key not in found):
            found[key] = (before, after)
    return found


def taken_fold_settings(ran_with: dict[str, Any] | None, recorded: Any, cfg: Config) -> list[str]:
    """What a stage ``run.reuse`` takes into a run with ``cfg``'s folds records as its
    ``other_folds.settings``: ``"key: old -> new"`` (``repr`` of each value) for each
    :data:`FOLD_SETTINGS` key whose value the stage actually ran with differs from ``cfg``'s.

    The value it ran with is its own saved settings' (``ran_with``: :func:`stage_ran_with` in
    the run it is taken from, e.g. ``pretrain/metadata.json``, which a chain of reuses hard
    links from the run that pretrained), else the old value of the ``"key: old -> new"``
    lines ``recorded`` (the source's own ``other_folds.settings``, whose old value is the first
    run's, then the plan's difference with the source: first found wins); a key neither names
    ran with ``cfg``'s value. Only the keys that still differ are listed (a chain back to the
    first run's folds lists none). Review F1: a chain A -> B (fold_seed 1) -> C recorded only
    B -> C's difference, so C's config.yaml was refused as an edit."""
    old = {key: before for key, (before, _) in fold_lines(recorded).items()}  # repr as written
    data = saved_settings(ran_with).get("data") if isinstance(ran_with, dict) else None
    new = to_dict(cfg)["data"]
    lines = []
    for key in FOLD_SETTINGS:
        name = key.split(".", 1)[1]
        if isinstance(data, dict) and name in data:
            if data[name] != new[name]:
                lines.append(f"{key}: {data[name]!r} -> {new[name]!r}")
        elif key in old and old[key] != repr(new[name]):
            lines.append(f"{key}: {old[key]} -> {new[name]!r}")
    return lines


def _folds_made(run_dir: Path, status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """For a run folder some of whose stages ``run.reuse`` took from a run with other folds
    (``status``: its ``stages.json``; an entry with ``other_folds``): each
    :data:`FOLD_SETTINGS` key and the value (``repr``) this run's folds were made with, with
    the words that say where it is recorded (``{}`` for the value): the ingest's own
    ``data/ingest_summary.json`` ``config`` once the ingest is done, else the new value the
    taken stages' ``other_folds.settings`` record. {} for any
    other run folder: its stages' own settings say what its folds were (review F2: config.yaml
    edited back to the source run's fold_seed was accepted, the fine-tuning then ran on this
    run's folds while config.yaml and the report said the other's)."""
    entries = [e for e in status.values() if isinstance(e, dict) and isinstance(e.get("other_folds"), dict)]
    if not entries:
        return {}
    made: dict[str, tuple[str, str]] = {}
    ingest = status.get("ingest")
    if isinstance(ingest, dict) and ingest.get("status") == "done":
        summary = read_json_dict(run_dir / "data" / "ingest_summary.json") or {}
        config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
        for key in FOLD_SETTINGS:
            if key.split(".", 1)[1] in config:
                made[key] = (repr(config[key.split(".", 1)[1]]),
                             "this run's ingest made its folds with {} (data/ingest_summary.json)")
    for entry in entries:
        for key, value in _refolded_to(entry).items():
            made.setdefault(key, (value, "the stages run.reuse took were recorded for this run's folds "
                                         "with {} (stages.json other_folds)"))
    return made


def edited_config_words(run_dir: Path, written: dict[str, Any], then: str | None = None) -> str:
    """When ``run_dir/config.yaml`` (``written``, as read) disagrees with the settings a stage
    saved itself (:func:`stage_ran_with`) on one its output depends on (the comparison a
    resume of its checkpoint makes; the fine-tuning's: its ``finetune.*``; ``<stage>.epochs``
    may grow while the stage is unfinished; paths are not compared: a moved data folder is
    legitimate; a stage taken from a run with other folds ran with that run's
    :data:`FOLD_SETTINGS`: config.yaml states this run's, compared with what its ingest made
    the folds with, :func:`_folds_made`), the file was edited after
    the stages ran (or a stage was run alone with other settings): the refusal that says so,
    which values they ran with and the fix (put it back, then rerun; for the edited values, a
    new run folder). Empty when it agrees, or nothing saved says otherwise.

    ``then``: what the fix does once config.yaml is put back (default: rerun the training on
    this folder with it, ``rerun with it: python -m drac_ssl.train -c RUN/config.yaml ...``);
    one check for every
    reader of a run's config.yaml: a resume of ``python -m drac_ssl.train`` (compared with the
    edited file, it would be refused as "made with a different configuration" naming the
    edited value as the old one, and ``-c RUN/config.yaml`` refused again by the stage's
    checkpoint; a finished run would write the edited values into report.md), ``run.reuse``
    (it would take stages made with other settings than the new run's) and ``python -m
    drac_ssl.report`` (its configuration section would state the edited values)."""
    try:
        cfg = from_dict(data_channels_resolved(saved_settings(written), run_dir))
    except (ConfigError, TypeError, ValueError):
        return ""  # not a configuration this version reads: the usual comparison names it
    lines: list[str] = []
    back: dict[str, str] = {}
    status = _status(run_dir)
    # in_channels 0 means "the data's": a stage saves the count it resolved, and a generic data
    # set (no ingest) has nothing here to resolve 0 with, so 0 is never an edit
    data_channels = cfg.pretrain.backbone.in_channels == 0
    folds_made = _folds_made(run_dir, status)
    for stage, noun in STAGE_NOUNS.items():
        ran_with, where = stage_ran_with(run_dir, stage)
        if ran_with is not None and stage == "finetune":  # its section only; the rest as written
            ran_with = {**written, **ran_with}
        if ran_with is not None:  # in_channels 0 as the data's, as on the config.yaml side
            ran_with = data_channels_resolved(saved_settings(ran_with), run_dir)
        # more epochs resume an unfinished stage; a finished one ran with its own count
        finished = (status.get(stage) or {}).get("status") == "done"
        taken_with_other_folds = isinstance((status.get(stage) or {}).get("other_folds"), dict)
        for diff in stage_resume_differences(stage, ran_with, cfg, run_dir / stage,
                                             may_change=() if finished else (f"{stage}.epochs",),
                                             prefixes=("finetune.",) if stage == "finetune" else None):
            key, before, there = parse_difference_line(diff)
            if key in PATH_SETTINGS or key in back or (data_channels and key == "pretrain.backbone.in_channels"):
                continue
            if taken_with_other_folds and key in folds_made:  # ran with other folds: the ingest's are checked
                continue
            back[key] = before
            lines.append(f"{key} is {there} there but {noun} ran with {before} ({where})")
    for key, (made, said) in folds_made.items():  # config.yaml states the folds this run's ingest made
        value = getattr(cfg.data, key.split(".", 1)[1])
        if repr(value) != made and key not in back:
            back[key] = made
            lines.append(f"{key} is {value!r} there but {said.format(made)}")
    if not lines:
        return ""
    from drac_ssl.run_state import resume_in_place_command
    from drac_ssl.runtime import command_changes, new_run_pairs

    saved = run_dir / "config.yaml"
    # the run resumed in place, from any folder: absolute paths, relative path settings typed absolutely
    then = then or f"rerun with it: {resume_in_place_command(run_dir)}"
    return (f"{saved} does not say what the stages ran with (edited after they ran, or a stage "
            f"run alone, e.g. python -m drac_ssl.umm, with other settings):\n     " + "\n     ".join(lines)
            + f"\n     fix: make config.yaml say what they ran with "
            f"({', '.join(f'{k}: {v}' for k, v in back.items())}), then {then}; to run "
            f"with other values, fix config.yaml first, then start a new run that takes the finished "
            f"stages it can: {command_changes(new_run_pairs(run_dir), also='the other values')}")
