"""Whether a run folder is a trial run, and the words for it: its training was cut short, so
its figures check that the pipeline runs on the data, not how well it grades. Two ways:

* its pretraining epochs were capped by ``pretrain.max_steps_per_epoch`` (the README's tiny
  first try, a smoke test): :func:`cap_words`;
* a stage ran far fewer epochs than its configuration file sets: ``pretrain.epochs`` or
  ``finetune.epochs`` typed on the command line below a quarter
  (:data:`SHORT_FRACTION`) of the ``-c`` file's value (``pretrain.epochs=2`` on
  ``configs/default.yaml``'s 100), the stage run (its folder there), with or without a
  step cap (trial finding F11: such a run looked finished everywhere). ``python -m
  drac_ssl.train`` records each such setting typed, with the file's value, in its
  ``invocations.jsonl`` line (:data:`INVOCATION_KEY`, :func:`typed_epochs`); the last
  invocation that typed it counts, against the epochs ``config.yaml`` says the stage ran
  (a resume that typed the file's count again makes a full run of it:
  :func:`short_epochs_words`). A count set in the file itself, or typed at a quarter of the
  file's or more (``pretrain.epochs=50`` on 100), is a choice of the run, not a trial. A run
  started from a trial run's ``config.yaml`` (``-c runs/first-try/config.yaml``, as the README's
  new-run-from-overrides example) is judged against the file that trial was given: its record
  is carried forward (``via``, :func:`typed_epochs`); and a stage ``run.reuse`` takes carries
  its source's record into the new run's ``stages.json`` entry (:func:`taken_record`), so the
  trial's pretraining stays a trial's in every run that takes it.

One rule, read from the run folder's ``config.yaml``, its ``invocations.jsonl`` and the pool
size its pretraining (or UMM) recorded, for every reader: report.md's "Read this first" (:func:`cut_short_words`),
the bundle's ``metadata.json`` ``trial_run`` (:func:`trial_run_record`, written by
:func:`drac_ssl.grading.bundle.build_bundle`), and from there the model card, the app's banner
and caveat and the export command (:func:`trial_run_words`). A bundle without the key (built
before it existed, or from a run folder whose ``config.yaml`` cannot be read) is unknown: no
claim either way. UMM's own cap is the default job's design, for its cost on the CPU, and is
said in the report's configuration section, not here.

Stdlib and PyYAML only: the app imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drac_ssl import PRETRAIN_METHOD
from drac_ssl.config import read_saved_config
from drac_ssl.io import invocations, read_json_dict
from drac_ssl.run_state import read_stages_record

__all__ = ["EPOCH_SETTINGS", "FIRST_TRY", "FIRST_TRY_KEY", "FIRST_TRY_OPTION", "FIRST_TRY_SIZES",
           "INVOCATION_KEY", "SHORT_FRACTION", "cap_words", "cut_short_words", "epoch_records",
           "first_try_help", "first_try_overrides", "first_try_record", "first_try_settings", "first_try_words",
           "holds_first_try", "pool_size", "pretraining_cut_short", "short_epochs_words", "standing_first_try", "taken_record",
           "trial_run_record", "trial_run_words", "typed_epochs"]

FIRST_TRY_OPTION = "--first-try"
"""The option of ``python -m drac_ssl.train`` (and ``drac-ssl-train``) that applies :data:`FIRST_TRY`."""

FIRST_TRY: dict[str, str] = {
    "data.cache_sizes=[128]": "the ingest still decodes and checks every image, but caches one "
                              "small copy, 128 px a side (not 256 and 512)",
    "data.n_folds=2": "two folds, the fewest cross-validation takes: each variant is fine-tuned "
                      "twice, not five times",
    "pretrain.augment.source_size=128": "the pretraining's and UMM's views are cut from that 128 px "
                                        "copy (it must be one of data.cache_sizes)",
    "pretrain.augment.image_size=64": "64 px views: a ResNet step takes a fraction of a second on a CPU",
    "pretrain.epochs=1": "one pretraining epoch",
    "pretrain.max_steps_per_epoch=3": f"of 3 steps: {PRETRAIN_METHOD}'s loop, checkpoint and monitors run once "
                                      "over and learn nothing (this cap makes report.md, the bundle "
                                      "and the app call the run a trial run)",
    "pretrain.batch_size=8": "8 pairs a step, which a folder of a few dozen images fills",
    "pretrain.warmup_epochs=0": "no learning-rate warm-up: a config's warm-up would be as long as the one "
                                "epoch (the preflight's warning)",
    "pretrain.knn_every=0": "the k-NN monitor off: on MNIST, Fashion-MNIST and CIFAR-10 it scores every "
                            "test image against every training image after the epoch, minutes on a CPU",
    "umm.epochs=1": "one epoch of UMM's bi-level re-tuning",
    "umm.max_steps_per_epoch=2": "of 2 steps: its hypergradient runs, nothing is learnt",
    "umm.batch_size=8": "8 images a UMM step",
    "finetune.epochs=2": "two fine-tuning epochs per fold and variant: the epoch loop, the kept-epoch "
                         "rule and the out-of-fold figures run",
    "finetune.image_size=64": "the fine-tuning's and the bundle's images 64 px, cut from the 128 px copy",
    "run.keep_checkpoints=false": "the pretraining and UMM resume checkpoints (the ResNet-18's size "
                                  "whatever the data) are removed once every stage has finished",
    "run.name=first-try": "its own run folder, run.out_dir/first-try, not the config's: the full run "
                          "after it (the same command without --first-try) starts a folder of its own",
}
"""The tiny first try, ``--first-try`` (:data:`FIRST_TRY_OPTION`): each ``section.key=value``
override it applies -> what it is for. Together they run the whole pipeline (ingest,
pretraining, UMM, cross-validated fine-tuning, export; a generic data set's pretraining) on the
data at a tiny size, minutes on a CPU on any shipped config (``-c configs/drac.yaml``, ``-c
configs/fundus.yaml``, ``-c retinamnist``, ``-c mnist``, the default): it checks the data, the
layout and every stage and leaves a run folder to read; its figures mean nothing (report.md,
the bundle and the app say it is a trial run: :func:`cap_words`). Its image sizes
(:data:`FIRST_TRY_SIZES`) only ever make a config's images smaller: one whose own size is no
larger (RetinaMNIST's and MNIST's 28 px) keeps its own (:func:`first_try_settings`). The
overrides are given before the command line's own (:func:`first_try_overrides`), so a
``section.key=value`` the user types wins (``run.name=mine`` too). The one list: the README's
first try (what it sets, in docs/running.md's "The tiny first try") and docs/own_fundus_folder.md's,
the ``--help`` (:func:`first_try_help`) and the
run's record (:data:`FIRST_TRY_KEY`) are made from it."""

FIRST_TRY_SIZES = ("data.cache_sizes", "pretrain.augment.source_size", "pretrain.augment.image_size",
                   "finetune.image_size")
"""The settings of :data:`FIRST_TRY` that are image sizes (px), each left out where the ``-c``
file's own value is no larger (:func:`first_try_settings`): a tiny first try never enlarges an
image (a 28 px set read at 64 px costs five times the compute and shows nothing more)."""

FIRST_TRY_KEY = "first_try"
"""The key of a ``python -m drac_ssl.train`` line of ``invocations.jsonl`` that ran with
``--first-try`` (its ``argv`` has the option as typed):
``{"applied": [...], "replaced": [...], "kept": [...], "not_applied": [...]}``, the
:data:`FIRST_TRY` overrides it applied, the user's own overrides that replaced others, the
size settings it left at the config's own value, no larger than its, and its overrides an
ingest the run did not rerun kept at that ingest's values (``drac_ssl.preflight.pinned_to_ingest``;
only when there are some) (:func:`first_try_record`; ``kept`` absent before it existed)."""


def _setting(word: str) -> str:
    """The dotted setting of a ``section.key=value`` word of :data:`FIRST_TRY`."""
    return word.split("=", 1)[0]


def first_try_settings(cfg: Any = None, cached: Sequence[int] = ()) -> list[str]:
    """The :data:`FIRST_TRY` words ``--first-try`` applies on top of ``cfg``, the configuration
    the ``-c`` file gives (a :class:`drac_ssl.config.Config`; None: every word), in order. The
    rule: a size setting of :data:`FIRST_TRY_SIZES` is left out where ``cfg``'s own value is
    at most the preset's, so the config keeps it and no image is enlarged (``-c retinamnist``
    keeps its 28 px cache, views and fine-tuning images; ``-c mnist`` its 28 px views).
    ``data.cache_sizes`` goes with ``pretrain.augment.source_size``, the cached copy the views
    are cut from: the 128 px cache is applied where the config caches a larger copy and its
    views come from one of at least 128 px (the preset's source, or its own 128), so the copy
    they are cut from is always cached.

    ``cached``: the sizes an ingest the run does not run again holds (its cache is not made
    anew, so ``data.cache_sizes`` is not applied: ``drac_ssl.preflight.pinned_to_ingest``): the
    views are cut from one of them, the smallest, where it is smaller than the config's own
    source (``pretrain.augment.source_size=256`` over a 256 and 512 px ingest; the preset's
    128 px where it holds that size), and the view sizes no larger than it (a review: 128 px
    applied over a 256/512 px ingest, then refused as not a cached size)."""
    from drac_ssl.config import get, parse_override

    if cfg is None:
        return list(FIRST_TRY)
    preset = {_setting(w): parse_override(w)[1] for w in FIRST_TRY if _setting(w) in FIRST_TRY_SIZES}
    source, cache = cfg.pretrain.augment.source_size, list(cfg.data.cache_sizes)
    keep = {key for key in ("pretrain.augment.source_size", "pretrain.augment.image_size",
                            "finetune.image_size") if get(cfg, key) <= preset[key]}
    if not cache or max(cache) <= max(preset["data.cache_sizes"]) or source < preset["pretrain.augment.source_size"]:
        keep.add("data.cache_sizes")
    held = sorted(int(size) for size in cached)
    if not held:
        return [w for w in FIRST_TRY if _setting(w) not in keep]
    wanted = preset["pretrain.augment.source_size"]
    smallest = wanted if wanted in held else held[0]
    sizes = {"pretrain.augment.source_size": smallest,
             **{key: min(preset[key], smallest) for key in ("pretrain.augment.image_size", "finetune.image_size")}}
    words = []
    for word in FIRST_TRY:
        key = _setting(word)
        if key in sizes and get(cfg, key) <= sizes[key] or key == "data.cache_sizes" and key in keep:
            continue  # the config's own, no larger: kept
        words.append(f"{key}={sizes[key]}" if key in sizes else word)
    return words


def first_try_overrides(config: Any = None, cached: Sequence[int] = ()) -> list[str]:
    """The :data:`FIRST_TRY` overrides as ``python -m drac_ssl.train -c CONFIG`` reads them, in
    order: each a :class:`drac_ssl.config.PresetOverride` (read as ``key=value``, named
    ``--first-try`` in the messages, replaced without a warning by the user's override of the
    same setting); the size settings the ``-c`` file already sets no larger are left out
    (:func:`first_try_settings`). ``config``: the file's configuration as read (a
    :class:`drac_ssl.config.Config`: :func:`drac_ssl.preflight.read_config` passes it, having
    read the file once), or the file (a path or a shipped config's name, as ``-c`` takes it),
    loaded here. None, or a file that cannot be read or does not load (its own errors are said
    where the command reads it): every word. ``cached``: as :func:`first_try_settings`'s."""
    from drac_ssl.config import Config, ConfigError, PresetOverride, load_config

    cfg = config if isinstance(config, Config) else None
    if config is not None and cfg is None:
        try:
            cfg = load_config(config)
        except (ConfigError, OSError, ValueError):
            cfg = None
    return [PresetOverride(word, FIRST_TRY_OPTION) for word in first_try_settings(cfg, cached)]


def first_try_help() -> str:
    """The ``--help`` text of ``--first-try``: what it sets, what it is for, that its figures
    mean nothing and that the user's overrides win."""
    from drac_ssl.config import PHANTOM_PNG_MIB_ESTIMATE, DataConfig  # PyYAML only

    sizes = ", ".join(FIRST_TRY_SIZES)
    images = DataConfig.phantom_n_train + DataConfig.phantom_n_test
    return ("the tiny first try, on top of any config (-c NAME): minutes on a CPU, it checks your data, "
            "the layout and every stage (ingest, pretraining, UMM, fine-tuning, export) and leaves a run "
            "folder to read; its figures mean nothing (report.md says it is a trial run). It sets "
            + " ".join(FIRST_TRY) + f" before your own overrides: a section.key=value you type wins. Its "
            f"sizes ({sizes}) only ever make images smaller: where the config's own is no larger "
            "(-c retinamnist's 28 px) it is kept. Without data.root (the default config) it runs on the "
            f"phantom set, which it first generates ({images} synthetic images, about "
            f"{images * PHANTOM_PNG_MIB_ESTIMATE / 1024:.2f} GiB) into ./data/phantom under the current "
            "folder, once: later runs reuse it; add data.root=YOUR_IMAGES to try your own data instead")


def first_try_words(record: Any) -> str:
    """How report.md and the console say a :data:`FIRST_TRY_KEY` ``record``: ``--first-try applied
    data.cache_sizes=[128] ... (pretrain.epochs=3 typed in its place; the config's own
    finetune.image_size kept, no larger; data.n_folds=2 not applied: the run's ingest is not
    run again, its own value is used)``; '' for no record."""
    if not isinstance(record, dict):
        return ""
    applied = [str(w) for w in record.get("applied") or []]
    replaced = [str(w) for w in record.get("replaced") or []]
    kept = [str(w) for w in record.get("kept") or []]
    unapplied = [str(w) for w in record.get("not_applied") or []]
    words = f"{FIRST_TRY_OPTION} applied {' '.join(applied) if applied else 'none of its settings'}"
    said = ([f"{' '.join(replaced)} typed in {'its place' if len(replaced) == 1 else 'their places'}"]
            if replaced else [])
    said += [f"the config's own {' '.join(kept)} kept, no larger than its"] if kept else []
    said += ([f"{' '.join(unapplied)} not applied: the run's ingest is not run again, its own "
              f"value{'s are' if len(unapplied) > 1 else ' is'} used"] if unapplied else [])
    return words + (f" ({'; '.join(said)})" if said else "")


def first_try_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The :data:`FIRST_TRY_KEY` record of the run folder's last ``python -m drac_ssl.train`` line
    of ``invocations.jsonl`` that has one (a run made or resumed with ``--first-try``); None for
    none."""
    found = None
    for record in invocations(Path(run_dir) / "invocations.jsonl"):
        if isinstance(record.get(FIRST_TRY_KEY), dict):
            found = record[FIRST_TRY_KEY]
    return found


TRIAL_RUN = "A trial run"
"""How :func:`trial_run_words` starts."""

EPOCH_SETTINGS = {"pretrain.epochs": "pretraining", "finetune.epochs": "fine-tuning"}
"""The epoch counts a trial run cuts on the command line, each with its stage's noun."""

SHORT_FRACTION = 4
"""A stage's epochs typed on the command line below 1/SHORT_FRACTION of its ``-c`` file's
value make the run a trial run (2 of 100: a trial; 30 of 100: a shorter run chosen)."""

INVOCATION_KEY = "epochs_typed"
"""The key of a ``python -m drac_ssl.train`` line of ``invocations.jsonl`` that records the
epoch counts typed on its command line: ``{"pretrain.epochs": {"typed": 2, "file": 100,
"config": "configs/default.yaml"}}``, with ``"option": "--first-try"`` for a count that option
set (:func:`typed_epochs`)."""


def typed_epochs(typed: dict[str, int], file_values: dict[str, int], config_file: str,
                 carried: dict[str, dict[str, Any]] | None = None, counts: dict[str, int] | None = None,
                 via: str = "", options: dict[str, str] | None = None) -> dict[str, Any]:
    """The record of :data:`INVOCATION_KEY`: each of :data:`EPOCH_SETTINGS` typed on the
    command line (``typed``: setting -> its value) with the ``-c`` file's value
    (``file_values``; the built-in default where the file does not set it) and the file's
    name ``config_file``; {} when none was typed. ``options``: setting -> the option that set
    it (``--first-try``), recorded as its ``option``.

    ``carried``: when the ``-c`` file is a run folder's ``config.yaml`` (``via``, that run
    folder), that run's records (:func:`epoch_records`): a setting it recorded is judged
    against the file that run was given (its ``file`` and ``config``), not against the
    ``config.yaml`` it left (whose count is the trial's own); and one not typed now is
    recorded too, with this run's count (``counts``: setting -> the value it runs with) and
    ``via``, and the ``option`` that set it there (``--first-try``), so a new run from a trial's
    ``config.yaml`` is a trial as well, said as that run set it."""
    records: dict[str, Any] = {}
    for key in EPOCH_SETTINGS:
        was = (carried or {}).get(key)
        if isinstance(was, dict) and isinstance(was.get("file"), int):  # the trial's own file
            file_value, name = was["file"], str(was.get("config") or config_file)
        elif key in file_values:
            file_value, name, was = file_values[key], str(config_file), None
        else:
            continue
        if key in typed:
            records[key] = {"typed": int(typed[key]), "file": int(file_value), "config": name,
                            **({"option": options[key]} if key in (options or {}) else {})}
        elif was is not None and via and key in (counts or {}):
            records[key] = {"typed": int((counts or {})[key]), "file": int(file_value), "config": name,
                            "via": str(via), **({"option": str(was["option"])} if was.get("option") else {})}
    return records


def _latest_typed(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each of :data:`EPOCH_SETTINGS`' last record (:data:`INVOCATION_KEY`) among the run's
    ``python -m drac_ssl.train`` lines of ``invocations.jsonl``; {} for none."""
    latest: dict[str, dict[str, Any]] = {}
    for record in invocations(run_dir / "invocations.jsonl"):
        typed = record.get(INVOCATION_KEY)
        if isinstance(typed, dict):
            latest.update((key, value) for key, value in typed.items()
                          if key in EPOCH_SETTINGS and isinstance(value, dict))
    return latest


def epoch_records(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The record each of :data:`EPOCH_SETTINGS` of a run folder is judged by: for a stage
    ``run.reuse`` took from another run, the record carried in its ``stages.json`` entry
    (:data:`INVOCATION_KEY` there: the source's, with ``ran``, the epochs the stage ran
    there, and ``in``, the run folder that ran it; :func:`taken_record`); else the last
    ``python -m drac_ssl.train`` line of ``invocations.jsonl`` that recorded it. {} for none
    (nothing typed, or a run folder made before the record)."""
    run_dir = Path(run_dir)
    records = _latest_typed(run_dir)
    status = read_stages_record(run_dir)
    for key in EPOCH_SETTINGS:
        entry = status.get(key.partition(".")[0]) if isinstance(status, dict) else None
        carried = entry.get(INVOCATION_KEY) if isinstance(entry, dict) and entry.get("reused_from") else None
        if isinstance(carried, dict) and isinstance(carried.get(key), dict):
            records[key] = carried[key]
    return records


def _ran(cfg: dict[str, Any], key: str) -> Any:
    """``key``'s value in the configuration ``cfg`` (a run's ``config.yaml`` as read), or None."""
    stage, _, name = key.partition(".")
    section = cfg.get(stage) if isinstance(cfg, dict) else None
    return section.get(name) if isinstance(section, dict) else None


def taken_record(source: str | Path, stage: str) -> dict[str, Any]:
    """What ``run.reuse`` carries of a stage it takes from run folder ``source`` into the new
    run's ``stages.json`` entry (as :data:`INVOCATION_KEY`), so that the taken stage is judged
    as it was there: ``{"pretrain.epochs": {"typed": 2, "file": 100, "config":
    "configs/default.yaml", "ran": 2, "in": "runs/first-try"}}``, the source's record
    (:func:`epoch_records`; one carried there already, from a chain of reuses, as it is; its
    ``option`` kept, a count ``--first-try`` set there) with
    the epochs the stage ran there (its ``config.yaml``) and the run that ran it; {} when the
    stage has no epoch setting or the source no record of it."""
    source = Path(source)
    carried = {}
    for key, record in epoch_records(source).items():
        if key.partition(".")[0] != stage:
            continue
        if "in" not in record:  # the source's own record: the epochs its config.yaml says it ran
            cfg = read_saved_config(source)
            if not cfg:
                continue
            record = {**record, "ran": _ran(cfg, key), "in": str(source)}
        carried[key] = record
    return carried


def short_epochs_words(run_dir: Path, cfg: dict[str, Any]) -> list[str]:
    """Why the run is a trial run by its epoch counts, one phrase per stage: ``the pretraining
    was given 2 of the 100 epochs configs/default.yaml sets (pretrain.epochs=2 typed on the command
    line)``, for each of :data:`EPOCH_SETTINGS` whose stage ran (its folder is in
    ``run_dir``) and whose count is below 1/:data:`SHORT_FRACTION` of the file's value its
    record says (:func:`epoch_records`): the count in ``cfg`` (the run's ``config.yaml``, as
    read) against the last ``python -m drac_ssl.train`` that recorded it
    (:data:`INVOCATION_KEY`: typed, or carried by ``-c`` of a trial run's ``config.yaml``,
    its ``via``), or, for a stage ``run.reuse`` took, the count it ran in its source against
    the source's record; [] for none (no record: nothing typed, or a run folder made before
    the record)."""
    records = epoch_records(run_dir)
    said = []
    for key, noun in EPOCH_SETTINGS.items():
        record = records.get(key)
        if record is None or not (run_dir / key.partition(".")[0]).is_dir():
            continue
        try:
            ran = int(record["ran"] if "ran" in record else _ran(cfg, key))
            file_value = int(record.get("file"))
        except (TypeError, ValueError):
            continue
        if ran * SHORT_FRACTION < file_value:
            config = record.get("config") or "its config file"
            setter = f"set by {record['option']}" if record.get("option") else "typed"  # --first-try's
            if record.get("in"):
                how = f"{key}={ran} {setter} on the command line of {record['in']}, whose {noun} run.reuse took"
            elif record.get("via"):
                how = (f"{key}={ran} {setter} on the command line of {record['via']}, whose config.yaml "
                       f"this run was started from")
            else:
                how = f"{key}={ran} {setter} on the command line"
            said.append(f"the {noun} was given {ran} of the {file_value} epochs {config} sets ({how})")
    return said


def pool_size(run_dir: Path) -> int | None:
    """How many images pretraining and UMM drew pairs from: the ``N images`` of the stage's
    recorded ``training_data`` (``RUN/<stage>/metadata.json``,
    :func:`drac_ssl.pretrain.load_pretrain_data`), else None."""
    for stage in ("pretrain", "umm"):
        try:
            meta = json.loads((run_dir / stage / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (found := recorded_pool(meta)) is not None:
            return found
    return None


def recorded_pool(meta: Any) -> int | None:
    """The ``N images`` (digits, commas allowed) of a stage's recorded ``training_data`` (its
    ``metadata.json``, ``meta``); None when it names none or ``meta`` is no dict."""
    found = (re.search(r"(\d[\d,]*) images", str(meta.get("training_data") or ""))
             if isinstance(meta, dict) else None)
    return int(found.group(1).replace(",", "")) if found else None


def cap_words(stage: str, settings: dict[str, Any], n_images: int | None) -> str:
    """What ``<stage>.max_steps_per_epoch`` left of an epoch, e.g. ``capped at 4 steps an
    epoch by umm.max_steps_per_epoch: 64 of 997 image pairs an epoch``; '' when it is 0 (a
    full epoch) or does not cut the epoch short (``n_images`` // batch steps or fewer).
    ``settings``: the stage's section of ``config.yaml``; ``n_images``: the pool (None: not
    known, the pairs said as at most)."""
    try:
        cap, batch = int(settings.get("max_steps_per_epoch") or 0), int(settings.get("batch_size") or 0)
    except (TypeError, ValueError):
        return ""
    if cap <= 0 or batch <= 0 or (n_images is not None and n_images // batch <= cap):
        return ""
    seen = f"{cap * batch} of {n_images}" if n_images is not None else f"at most {cap * batch}"
    return f"capped at {cap} steps an epoch by {stage}.max_steps_per_epoch: {seen} image pairs an epoch"


def trial_run_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The trial-run fact of a run folder, for a bundle's ``metadata.json``: ``{"trial": True,
    "why": "the pretraining was cut short (capped at 3 steps an epoch by ...)"}`` when
    ``pretrain.max_steps_per_epoch`` cut its pretraining's epochs short (:func:`cap_words`),
    and/or with ``the pretraining was given 2 of the 100 epochs ...`` when a stage's epochs typed on
    the command line were far below its config file's (:func:`short_epochs_words`), the
    reasons joined by " and "; ``{"trial": False}`` when neither (a full run, or no stage
    run), None when its ``config.yaml`` cannot be read (unknown)."""
    run_dir = Path(run_dir)
    cfg = read_saved_config(run_dir)
    if not cfg:
        return None
    pretrain = cfg.get("pretrain")
    why = []
    if isinstance(pretrain, dict) and (run_dir / "pretrain").is_dir():
        if cap := cap_words("pretrain", pretrain, pool_size(run_dir)):
            why.append(f"the pretraining was cut short ({cap})")
    why += short_epochs_words(run_dir, cfg)
    return {"trial": True, "why": " and ".join(why)} if why else {"trial": False}


def trial_run_words(record: Any, not_what: str = "how well it grades") -> str:
    """``A trial run: the pretraining was cut short (...); its figures check that the pipeline
    runs on this data, not how well it grades`` for a :func:`trial_run_record` that says so (a
    bundle's ``metadata.json`` ``trial_run``), '' otherwise (not a trial, or unknown: None, a
    bundle without the key). ``not_what``: what the figures do not show (a generic run's
    report: "how good its features are", it grades nothing)."""
    if not isinstance(record, dict) or record.get("trial") is not True:
        return ""
    why = str(record.get("why") or "its training was cut short")
    return f"{TRIAL_RUN}: {why}; its figures check that the pipeline runs on this data, not {not_what}"


def cut_short_words(run_dir: Path, not_what: str = "how well it grades") -> str:
    """'' or the line of report.md's "Read this first" on a trial run: its pretraining epochs
    capped by ``pretrain.max_steps_per_epoch``, or a stage's epochs typed far below its
    config file's (:func:`trial_run_words` of :func:`trial_run_record`, with ``not_what``)."""
    return trial_run_words(trial_run_record(run_dir), not_what)


def _setting_value(cfg: Any, dotted: str) -> Any:
    """The value of the ``section.key`` (or deeper) setting ``dotted`` in a configuration read as
    a dict (a run's ``config.yaml``, a stage's recorded ``config``); None where it is absent."""
    value = cfg
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def holds_first_try(record: Any, settings: Any) -> bool:
    """Whether the configuration ``settings`` (a run's ``config.yaml`` as read, or
    :func:`drac_ssl.config.to_dict` of the one a command is about to run) holds every setting
    the :data:`FIRST_TRY_KEY` ``record`` says ``--first-try`` applied or was typed in place of
    one (``applied`` and ``replaced``): a run with the first try's settings. False for no
    record (None, not a dict) or a record word that does not parse. Its ``data.*`` words
    (``data.n_folds=2``, ``data.cache_sizes=[128]``) are not asked: a run that reads an ingest
    it does not run again holds that ingest's values instead (``drac_ssl.preflight.pinned_to_ingest``;
    a first try's folder made before that said 2 folds in config.yaml over a 5-fold ingest, and
    its rewritten config.yaml says 5)."""
    from drac_ssl.config import ConfigError, parse_override

    if not isinstance(record, dict):
        return False
    for word in [*(record.get("applied") or []), *(record.get("replaced") or [])]:
        try:
            keys, value = parse_override(str(word))
        except ConfigError:
            return False
        if keys[0] != "data" and _setting_value(settings, ".".join(keys)) != value:
            return False
    return True


def standing_first_try(run_dir: str | Path) -> dict[str, Any] | None:
    """The run folder's :func:`first_try_record` when its ``config.yaml`` still holds every
    setting that record's ``--first-try`` applied or was typed in place of one
    (:func:`holds_first_try`): the run there is that first try, or a resume of it. None else:
    no record, no readable ``config.yaml``, a record word that does not parse, or a later run
    in the folder with settings of its own (a ``--first-try`` stopped before anything
    finished, then the full command with ``run.name=first-try``, which a folder where nothing
    finished accepts; :func:`first_try_record` alone still returned the first try's record,
    review F2). What report.md's configuration section and the console's collapse clause
    (:func:`drac_ssl.collapse.expected_collapse_clause`) call a first try."""
    run_dir = Path(run_dir)
    record = first_try_record(run_dir)
    if record is None:
        return None
    settings = read_saved_config(run_dir)
    return record if settings and holds_first_try(record, settings) else None


def pretraining_cut_short(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """How the run folder's pretraining itself was cut short, by the setting that cut it; {}
    when it was not (a full pretraining, whatever the fine-tuning's epochs: review F1), when the
    run has no ``pretrain`` folder, or when neither its record nor ``config.yaml`` can be read.
    Judged by the settings the stage ran with: the ``config`` its ``pretrain/metadata.json``
    recorded (for a stage ``run.reuse`` took, the source's, linked with the stage), else the
    run's ``config.yaml``. Two keys, each with its facts:

    * ``pretrain.max_steps_per_epoch``: ``{"cap": 3, "batch_size": 8, "images": 997}`` when
      the step cap left less than a whole epoch (:func:`cap_words`; ``images`` the pool,
      :func:`pool_size`, None when not known);
    * ``pretrain.epochs``: the epoch record it is judged by (:func:`epoch_records`: ``typed``,
      ``file``, ``config``, an ``option`` of ``--first-try``, a reuse's ``in``) with ``ran``,
      the epochs the stage ran, when those are below 1/:data:`SHORT_FRACTION` of the file's.

    The structured form of the pretraining's part of :func:`trial_run_record`'s ``why``."""
    run_dir = Path(run_dir)
    if not (run_dir / "pretrain").is_dir():
        return {}
    meta = read_json_dict(run_dir / "pretrain" / "metadata.json") or {}
    ran_with = meta.get("config")
    if not isinstance(ran_with, dict):
        ran_with = read_saved_config(run_dir)
    pretrain = ran_with.get("pretrain") if isinstance(ran_with, dict) else None
    if not isinstance(pretrain, dict):
        return {}
    cut: dict[str, dict[str, Any]] = {}
    images = pool_size(run_dir)
    if cap_words("pretrain", pretrain, images):  # positive integers there, checked
        cut["pretrain.max_steps_per_epoch"] = {"cap": int(pretrain["max_steps_per_epoch"]),
                                               "batch_size": int(pretrain["batch_size"]), "images": images}
    record = epoch_records(run_dir).get("pretrain.epochs")
    if record is not None:
        try:
            ran = int(pretrain.get("epochs") if pretrain.get("epochs") is not None else record.get("ran"))
            file_value = int(record.get("file"))
        except (TypeError, ValueError):
            return cut
        if ran * SHORT_FRACTION < file_value:
            cut["pretrain.epochs"] = {**record, "ran": ran}
    return cut


def input_check_weak(meta: Any) -> bool:
    """Whether a grading bundle's "unlike the training images" check is weak: its
    ``metadata.json`` (read as ``meta``) has an ``input_profile`` with a ``file`` (the bundle
    has a check) and ``weak: true``, or the bundle is a trial run's (:func:`trial_run_words` of
    its ``trial_run``: a check built before ``weak`` said so). False without a check, or when
    ``meta`` is not a dict (nothing tells). The one rule of the app's and the export's caveat
    (:func:`drac_ssl.grading.bundle.ood_check_caveat`) and the scoring's
    (:func:`drac_ssl.scoring.bundle_check_weak`); here because this module is plain Python:
    the scoring must not load torch, which :mod:`drac_ssl.grading` does."""
    if not isinstance(meta, dict):
        return False
    profile = meta.get("input_profile")
    if not isinstance(profile, dict) or not profile.get("file"):
        return False
    return profile.get("weak") is True or bool(trial_run_words(meta.get("trial_run")))
