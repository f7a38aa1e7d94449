"""Preflight of ``python -m drac_ssl.train``: every setting checked before any stage runs.

:func:`check` walks the settings of every stage that will run (``run.stages``, less the
stages a resumed run folder has already finished) and checks each one against what the
methods need (a BatchNorm needs two samples per batch, a crop cannot be larger than the
cached image, stratified K-fold needs K images of every grade ...) and against the data,
read cheaply from its description, never by decoding an image:

* the embedded phantom set: its grade counts come from the generator's plan
  (:func:`data_prep.phantom.plan_phantom`), nothing is rendered;
* a data root (DRAC, APTOS, EyePACS, IDRiD, DeepDRiD, Messidor-2, MedMNIST, a plain folder + CSV): the folder
  listing and the label CSV, read as the ingest reads them (:func:`data_prep.layout.discover`
  and the ingest's label matching), which also reports a missing CSV or column early;
* an ingest already in the run folder (``RUN/data/manifest.csv``): its rows, folds and cached
  sizes (before fine-tuning, its folds are checked as those an ingest will make are:
  :func:`_check_ingest_folds`);
* MNIST, Fashion-MNIST, CIFAR-10: the training images counted from the files' headers
  (:func:`drac_ssl.datasets.generic_train_count`: an IDX header, an ``.npz``'s array header,
  an unpacked CIFAR-10 folder's listing), else (the CIFAR-10 archive, a damaged file) the
  published split size.

What only the decoded images can tell (``data.channels=auto``: grey or colour) is checked
right after the ingest, before pretraining (:func:`after_ingest`).

ALL problems are collected in one pass: :func:`run` raises one :class:`PreflightError`
listing every error (each: the setting, its value, where the value came from, what is wrong
and the fix) and returns the warnings. The orchestrator calls it before it creates the run
folder, so a configuration that cannot run leaves nothing behind.

:func:`read_config` is :func:`drac_ssl.config.load_config` that keeps going after a bad key or
value, so that those are listed together too, and that records where each setting came from
(``FILE:LINE`` or the command-line argument).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shlex
import shutil
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_prep.problems import counted, ingest_command
from drac_ssl import PRETRAIN_METHOD, can_make_folder
from drac_ssl import config as config_module
from drac_ssl.config import (
    FINETUNE_RANGES,
    Config,
    ConfigError,
    FixBase,
    SettingRange,
    get,
    layout_name,
    parse_override,
    range_problems,
    shipped_config_word,
)
from drac_ssl.io import absolute_from, invocations, read_json_dict, sha256_file
from drac_ssl.manifest import (
    SITE_COLUMN,
    labelled_rows,
    manifest_change,
    read_manifest,
    redo_ingest_fix,
)
from drac_ssl.run_state import PIPELINE as PIPELINE  # the one list of the stages, re-exported
from drac_ssl.run_state import made_in, read_stages_record, rebuild_call
from drac_ssl.stage_settings import (
    INGEST_ONLY_SETTINGS,
    IngestRecord,
    ingest_record,
    saved_settings,
)
from drac_ssl.starting import python_command

if TYPE_CHECKING:
    from data_prep.folds import FoldGaps

__all__ = [
    "PIPELINE",
    "DataFacts",
    "Finding",
    "INGEST_ONLY_SETTINGS",
    "ConfigFile",
    "PreflightError",
    "PresetOf",
    "Sources",
    "after_ingest",
    "apply_overrides",
    "check",
    "ingest_kept_settings",
    "ingest_pins",
    "NOT_APPLIED_KEY",
    "recorded_given",
    "shown_as_ingested",
    "missing_outputs",
    "pinned_to_ingest",
    "pretrain_checkpoints_needed",
    "read_config",
    "read_config_file",
    "reading_refusal",
    "run",
    "setting_problems",
    "stages_to_run",
    "typed_override",
    "user_typed",
    "umm_refusal",
]

GENERIC_DATASET_SIZES: dict[str, tuple[int, int, int]] = {
    "mnist": (60_000, 28, 1),
    "fashion_mnist": (60_000, 28, 1),
    "cifar10": (50_000, 32, 3),
}
"""Published training split size, image side and channels of the correctness-check datasets
(the size is the fallback when the files cannot be counted cheaply)."""
TORCH_STAGES = ("pretrain", "umm", "finetune", "export")
_DEFAULTS = Config()
_STAGE_OUTPUT_DIRS = ("pretrain", "umm", "finetune", "bundle", "export")


class PreflightError(ConfigError):
    """Settings that cannot run; the message lists every one (setting, value, where, what,
    fix). ``findings`` holds them, errors and warnings."""

    def __init__(self, findings: list[Finding], when: str = "before any stage ran") -> None:
        # of use to a run that goes ahead: a speed hint, a note
        self.findings = [f for f in findings if not f.speed_hint and f.severity != "note"]
        self.when = when
        findings = self.findings
        errors = [f for f in findings if f.severity == "error"]
        lines = [f"the configuration cannot run: {sum(f.count for f in errors)} problem(s) found {when}"]
        lines += [f"  {i}. {_follows_line(f, errors)}" for i, f in enumerate(errors, start=1)]
        others = [f for f in findings if f.severity != "error"]
        if others:
            lines.append(f"  and {len(others)} warning(s):")
            lines += [f"  - {_follows_line(f, errors)}" for f in others]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle (a process pool's worker): BaseException rebuilds cls(*self.args), the
        # message, which is no list of findings; rebuild from the findings and when
        return type(self), (self.findings, self.when), self.__dict__


def _follows_line(finding: Finding, errors: list[Finding]) -> str:
    """``finding.line``, its first line marked ``(follows from N: the misspelt data.image_colum
    did not set data.image_column)`` when it is about a setting an unknown setting of
    ``errors`` (the N-th, counted from 1) was meant to be (:class:`Finding`'s ``meant``), or a
    setting of a meant section (``pretrain.augment`` -> ``pretrain.augment.recipe``): its own
    setting, or one its fix or text sets (``pass data.image_column='filename'``). The value
    typed under the misspelt name was not applied, so fixing the typo may clear it."""
    for n, cause in enumerate(errors, start=1):
        if finding.misspelt or not cause.misspelt:
            continue
        for meant in cause.meant:
            sets = re.compile(rf"(?<![\w.]){re.escape(meant)}(?:\.[\w.]+)?=")
            if (finding.setting == meant or finding.setting.startswith(f"{meant}.")
                    or sets.search(finding.fix) or sets.search(finding.what)):
                first, nl, rest = finding.line.partition("\n")
                return (f"{first} (follows from {n}: the misspelt {cause.misspelt} did not set "
                        f"{meant}){nl}{rest}")
    return finding.line


@dataclass(frozen=True)
class Finding:
    """One problem with one setting. ``setting`` is the dotted key (empty for a problem of
    the config file itself or of the data, whose text says where); ``where`` is where the
    value came from (``configs/x.yaml:12``, ``command line 'k=v'`` or ``the default``);
    ``count`` how many problems it stands for (a line counting the data problems of one kind
    beyond the first 10 stands for all of them)."""

    setting: str
    value: Any
    what: str
    fix: str = ""
    severity: str = "error"  # error | warning | note (a fact to read before the stages, no problem)
    where: str = ""
    # the configuration itself could not be read (not valid YAML, no such -c file): the checks
    # would check the defaults instead of what was meant, so :func:`run` does not run them
    unread: bool = False
    count: int = 1
    # a hint to go faster (bf16 on a CPU with AMX-BF16), of use only to a run that goes ahead:
    # a refusal (:class:`PreflightError`) leaves it out, whatever its errors are about
    speed_hint: bool = False
    # an unknown setting (config.UnknownSettingError): the key as written and the settings
    # its "Did you mean" names; a problem about one of those is marked as following from it
    misspelt: str = ""
    meant: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """``setting=value (where): what is wrong`` and, indented below, ``fix: ...``."""
        head = ""
        if self.setting:
            where = f" ({self.where})" if self.where else ""
            head = f"{self.setting}={_show(self.value)}{where}: "
        first, *rest = f"{head}{self.what}".split("\n")
        # the common indent goes, not each line's: a YAML block in a fix keeps its nesting
        rest = textwrap.dedent("\n".join(line.rstrip() for line in rest)).split("\n")
        lines = [first] + [f"     {line}" for line in rest if line.strip()]
        if self.fix:
            lines.append(f"     fix: {self.fix}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value and not value.isspace() else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


# --------------------------------------------------------------------------------------
# Reading the configuration with every problem and where each value came from


def _leaves(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[list[str], Any]]:
    """(key path, value) of every leaf of a nested mapping (an empty mapping has none)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*prefix, str(key)))
    else:
        yield list(prefix), data


class Sources(dict[str, str]):
    """Where each setting came from (dotted key -> ``FILE:LINE`` or ``command line 'k=v'``), as
    :func:`read_config` returns them, and ``fixes``: the ``-c`` file's configuration as loaded
    before the overrides, whose values the fixes suggest (:class:`drac_ssl.config.FixBase`;
    None without a file); ``options``: the settings a command's option set last (``--threads
    N``: ``run.threads``), each its :class:`~drac_ssl.config.OptionOverride`, whose fix is said
    in the option's words. A plain dict works wherever a ``Sources`` is taken."""

    fixes: FixBase | None = None
    resolved_file: bool = False
    """The ``-c`` file is a run's resolved ``config.yaml`` (:data:`drac_ssl.config.RESOLVED_HEADER`):
    it sets every setting, so a setting it holds at its default says nothing of the user."""

    presets: list[config_module.PresetOverride]
    """The preset's overrides the command line was given (``--first-try``'s,
    :class:`~drac_ssl.config.PresetOverride`), in order; those still in ``options`` were
    applied, the others replaced by the user's own override of the setting."""

    overrides: list[str]
    """The command line's overrides as :func:`read_config` applied them, in order (the
    preset's and options' words among them): what :func:`drac_ssl.train.full_run_lines` reads
    the same command without ``--first-try`` from."""

    file: ConfigFile | None = None
    """The ``-c`` file as :func:`read_config` read it, before any override: what
    :func:`apply_overrides` gives other overrides to without reading the file again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: dict[str, config_module.OptionOverride] = {}
        self.presets = []
        self.overrides = []


@dataclass(frozen=True)
class ConfigFile:
    """A ``-c`` file as :func:`read_config_file` read it, before any override: ``cfg`` the
    defaults with each of its good settings applied, ``where`` each setting it set -> its
    ``FILE:LINE``, ``findings`` the problems of reading it (``unread``: it could not be read at
    all), ``fixes`` the file's configuration the fixes suggest values from and
    ``resolved_file`` whether it is a run's resolved ``config.yaml``; without a file, the
    built-in defaults and nothing else."""

    cfg: Config
    where: dict[str, str]
    findings: tuple[Finding, ...] = ()
    fixes: FixBase | None = None
    resolved_file: bool = False

    @property
    def unread(self) -> bool:
        """The file could not be read at all (its settings are the defaults)."""
        return any(f.unread for f in self.findings)


def read_config_file(path: str | os.PathLike[str] | None = None) -> ConfigFile:
    """Defaults, then the YAML file ``path`` (a file or a shipped config's name,
    :func:`drac_ssl.config.config_file`; None: the defaults alone), read once: each bad key or
    value a :class:`Finding` (with its ``FILE:LINE``), the good ones applied. The first half of
    :func:`read_config`; :func:`apply_overrides` is the second."""
    cfg, where, findings = Config(), {}, []
    if path is None:
        return ConfigFile(cfg, where)
    p = Path(path)
    try:
        p = config_module.config_file(path)  # a shipped config's name: its file
        data = config_module._load_yaml(p)
    except ConfigError as exc:
        findings.append(Finding("", None, str(exc), unread=True))
        data = {}
    for parts, value in _leaves(data):
        line = config_module._key_line(p, ".".join(parts))
        try:
            cfg = config_module._merge(cfg, config_module._nest(parts, value), line, source=p)
        except ConfigError as exc:
            finding = _reading_finding(exc)
            if finding not in findings:  # each setting of a dotted section's block: its one error
                findings.append(finding)
        else:
            where[".".join(parts)] = line
    resolved_file = False
    try:
        resolved_file = config_module.is_resolved_file(p)  # after a byte-order mark too
    except OSError:  # unreadable: already a finding above
        pass
    return ConfigFile(cfg, where, tuple(findings), FixBase(cfg, str(p)), resolved_file)


PresetOf = Callable[[Config | None], list[str]]
"""A preset option's overrides (:class:`~drac_ssl.config.PresetOverride` words) from the ``-c``
file's configuration as read (None: a file that could not be read), as
:func:`drac_ssl.trial_run.first_try_overrides` gives ``--first-try``'s."""


def read_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None,
                preset: PresetOf | None = None) -> tuple[Config, dict[str, str], list[Finding]]:
    """Defaults, the YAML file, then ``key=value`` overrides, like
    :func:`drac_ssl.config.load_config`, but a bad key or value does not stop the reading
    (``path``: a YAML file or a shipped config's name, :func:`drac_ssl.config.config_file`),
    and the file is read once (:func:`read_config_file`, then :func:`apply_overrides`).
    ``preset``: a preset option's overrides from the file's configuration (``--first-try``'s
    sizes depend on the file's own: :func:`drac_ssl.trial_run.first_try_overrides`), given
    before ``overrides``, which win.

    Returns:
        ``(cfg, sources, findings)``: the configuration with every good setting applied;
        ``sources`` (a :class:`Sources`) maps each dotted key that was set to where (``FILE:LINE``
        or ``command line 'k=v'``) and holds the file's configuration the fixes suggest values
        from and the file as read (``sources.file``); ``findings`` the unknown keys, bad types
        and YAML errors, each with its location (a file that cannot be read at all: ``unread``,
        and its settings are the defaults). The value checks are :func:`check`'s.
    """
    return apply_overrides(read_config_file(path), overrides, preset)


def apply_overrides(file: ConfigFile, overrides: list[str] | None = None, preset: PresetOf | None = None
                    ) -> tuple[Config, dict[str, str], list[Finding]]:
    """:func:`read_config` of a ``-c`` file already read (``file``, :func:`read_config_file`;
    ``sources.file`` of an earlier reading) with the command line's ``overrides``, the
    ``preset``'s first (see :func:`read_config`): nothing is read from disk."""
    cfg, findings = file.cfg, list(file.findings)
    sources = Sources(file.where)
    sources.fixes, sources.resolved_file, sources.file = file.fixes, file.resolved_file, file
    words = [*(preset(None if file.unread else file.cfg) if preset is not None else []), *(overrides or [])]
    sources.overrides = words
    given = config_module.typed_keys(words)
    for arg, problem in config_module.split_overrides(words):
        if problem:  # a list split at its spaces by the shell: its words said once, together
            findings.append(Finding("", None, problem))
            continue
        where = f"{TYPED}{config_module.typed_words(arg)}'"
        try:
            parts, value = parse_override(arg)
            nested = config_module._nest(parts, value)
            cfg = config_module._merge(cfg, nested, where, fixes=sources.fixes, given=given)
        except ConfigError as exc:
            findings.append(_reading_finding(exc))
            continue
        for leaf, _ in _leaves(nested):  # re-inserted: the command line's settings in its order
            sources.pop(".".join(leaf), None)
            sources[".".join(leaf)] = where
            if isinstance(arg, config_module.OptionOverride):
                sources.options[".".join(leaf)] = arg
                if isinstance(arg, config_module.PresetOverride) and arg not in sources.presets:
                    sources.presets.append(arg)
            else:
                sources.options.pop(".".join(leaf), None)
    for key, repeated in config_module.repeated_overrides(words):
        try:
            value = get(cfg, key)
        except AttributeError:  # an unknown setting: its own error says so
            continue
        last = repeated[-1]
        if isinstance(last, config_module.OptionOverride):  # --threads N: put last, so it wins
            others = list(dict.fromkeys(repeated[:-1]))
            what = (f"given as {last.typed} and as {config_module.in_words(others, 'and')} on the "
                    f"command line: {last.typed} is used (the option wins, wherever each stands)")
            findings.append(Finding(key, value, what, f"keep one: {last.typed}, or "
                                                      f"{config_module.in_words(others)} alone",
                                    severity="warning", where=f"{TYPED}{last.typed}'"))
            continue
        times = "twice" if len(repeated) == 2 else f"{len(repeated)} times"
        said = [f"'{w}'" for w in repeated]
        findings.append(Finding(key, value, f"given {times} on the command line, {', '.join(said[:-1])} "
                                            f"then {said[-1]}: the last is used", f"keep one: {last}",
                                severity="warning", where=f"{TYPED}{last}'"))
    for key, value in config_module.variable_problems(cfg):  # $MYRUNS/x: never expanded
        findings.append(Finding(key, value, f"{config_module.VARIABLES_NOT_EXPANDED} "
                                            f"({config_module.unexpanded_variable_words(value)})",
                                config_module.variable_fix(key, value), where=sources.get(key, "")))
    return config_module.expand_home(cfg), sources, findings


def _reading_finding(exc: ConfigError) -> Finding:
    """The finding of a key or value :func:`read_config` could not apply; an unknown setting
    keeps the key as written and the settings it is close to (:func:`_follows_line`)."""
    if isinstance(exc, config_module.UnknownSettingError):
        return Finding("", None, str(exc), misspelt=exc.setting, meant=exc.meant)
    return Finding("", None, str(exc))


TYPED = "command line '"
"""How :func:`read_config` marks a setting typed on the command line: ``command line 'k=v'``."""


def typed_override(where: str) -> str | None:
    """The ``key=value`` a source of :func:`read_config` (``sources[key]``) names when the
    setting was typed on the command line (the option typed, ``--threads 2``, for an
    :class:`~drac_ssl.config.OptionOverride`); None for a file's line or the default."""
    return where[len(TYPED):-1] if where.startswith(TYPED) and where.endswith("'") else None


def user_typed(sources: dict[str, str] | None, *, presets: bool = False) -> dict[str, str]:
    """Each setting typed on the command line -> its ``key=value`` word as typed
    (``{"run.name": "run.name=rm-tiny"}``; an option's as typed, ``--threads 2``), from
    ``sources`` of :func:`read_config` (none for None): the one answer to "did the user type
    this setting". A setting a preset option set (``--first-try``:
    :class:`~drac_ssl.config.PresetOverride`) is not one the user typed, so a fix adds its
    ``key=value``, which wins over the preset (replacing the option would drop its other
    settings; :func:`drac_ssl.runtime.command_changes`), and a setting the saved config puts
    back is not one "this command changes". ``presets=True``: every setting the command line
    set, a preset's too (its word the option, ``--first-try``): what a command rebuilt from
    this one must carry, and what a run records as set on its command line."""
    options = getattr(sources, "options", None) or {}
    return {key: word for key, where in (sources or {}).items()
            if (word := typed_override(where)) is not None
            and (presets or not isinstance(options.get(key), config_module.PresetOverride))}


def _where(setting: str, sources: dict[str, str] | None, cfg: Config) -> str:
    if sources is None:  # a Config built in code: say at least whether it is the default
        try:
            return "the default" if get(cfg, setting) == get(_DEFAULTS, setting) else ""
        except AttributeError:
            return ""
    parts = setting.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in sources:
            return sources[key]
    return "the default"


def _shipped_relative_root(cfg: Config, sources: dict[str, str] | None) -> str:
    """For a ``data.root`` that is missing: when a shipped config (``-c retinamnist``,
    :data:`drac_ssl.config.PACKAGE_CONFIGS`) set it to a relative path, which is read from the
    current folder and was written for the checkout's (``../shared/data/...``), the words that
    say so and what to add; when the user's own config file set a relative path, that it is
    read from the current folder, not the file's, and the path it names from the file's folder
    when that exists (a careless-user review); "" otherwise."""
    root = cfg.data.root
    where = _where("data.root", sources, cfg)
    if not root or os.path.isabs(os.path.expanduser(root)) or typed_override(where) is not None:
        return ""
    file = Path(where.rpartition(":")[0])
    if file.parent.resolve() != config_module.PACKAGE_CONFIGS.resolve():
        if not file.is_file():
            return ""
        # the user's own config file (a review: ../data/base in cfg/x.yaml, meant from cfg/)
        beside = (file.parent / Path(root).expanduser()).resolve()
        said = (f"; {file} sets this relative path, which is read from the current folder "
                f"({Path.cwd()}), not from the config file's folder")
        if beside.exists():
            return (f"{said}: from {file.parent} it names {beside}, which exists; write that "
                    f"absolute path in {file.name} (data.root: {beside}), or run the command from "
                    f"{file.parent.resolve()}")
        return f"{said}; an absolute path in {file.name} is read the same from any folder"
    said = f"; the shipped {file.name} sets this relative path, read from the current folder"
    checkout = config_module.CHECKOUT
    there = os.path.normpath(checkout / root) if checkout is not None else ""
    if checkout is not None and Path(there).exists() and Path.cwd().resolve() != checkout.resolve():
        return (f"{said} and written for the checkout's: run the command from {checkout}, or add "
                f"data.root={there}")
    # run from the checkout already, or the data it was written for is not beside it (a trial
    # user was told to run from the folder they were in, and to add a path that does not exist)
    source = SHIPPED_DATA_SOURCES.get(file.stem)
    return ((f"{said} and written for the checkout's, but the file is not found beside the checkout "
             f"({there} does not exist)" if checkout is not None else
             f"{said} and written for a drac_ssl checkout's")
            + f": add data.root=/path/to/{Path(root).name} (where your copy is"
            + (f"; {source}" if source else "") + ")")


SHIPPED_DATA_SOURCES = {
    "retinamnist": "the file is RetinaMNIST of MedMNIST v2: its retinamnist.npz, or the public npz "
                   "of 1,080 train + 120 val labelled and 400 test unlabelled 28 px images",
}
"""Where the data a shipped config (its file's stem) reads comes from, said when its relative
``data.root`` is missing (:func:`_shipped_relative_root`)."""


# --------------------------------------------------------------------------------------
# What will run


def _status(run_dir: Path) -> dict[str, Any]:
    return read_stages_record(run_dir)


def stages_to_run(cfg: Config, run_dir: Path) -> list[str]:
    """The known stages of ``run.stages`` in pipeline order, less those ``run_dir/stages.json``
    records as done."""
    status = _status(run_dir)
    return [s for s in PIPELINE if s in cfg.run.stages
            and not (isinstance(status.get(s), dict) and status[s].get("status") == "done")]


STAGE_OUTPUT_FOLDER = {"ingest": "data", "pretrain": "pretrain", "umm": "umm", "finetune": "finetune",
                       "export": "bundle"}
"""The folder of a run folder where each stage leaves what the later stages and the user read."""


def _listed_weights(description: Path) -> list[str]:
    """The weight files a ``model.json`` / bundle ``metadata.json`` lists under ``folds``."""
    try:
        folds = json.loads(description.read_text(encoding="utf-8")).get("folds") or []
        return sorted({str(n) for f in folds if isinstance(f, dict) for n in f.get("weights") or []})
    except (OSError, ValueError, AttributeError):
        return []


def missing_outputs(run_dir: Path, stage: str, entry: dict[str, Any] | None = None) -> list[Path]:
    """The files finished ``stage`` of ``run_dir`` left for the later stages and the user that
    are gone (a cheap existence check; nothing is read but the small JSON files that list them).

    Per stage: ingest ``data/manifest.csv`` and each ``data/cache/<size>px.npy`` its
    ``ingest_summary.json`` records; pretrain ``pretrain/backbone.safetensors`` (fine-tuning
    starts from it) and ``pretrain/vicreg_model.safetensors`` (UMM does); umm
    ``umm/backbone.safetensors``; finetune ``finetune/summary.json``, the selected variant's
    ``model.json`` and every fold weight file each variant's ``model.json`` lists; export
    ``bundle/metadata.json``, the fold weights it lists and ``export/submission.csv`` when
    the stage wrote one. ``entry``: the stage's ``stages.json`` entry (default: read it); a
    stage that was skipped (``"outputs": {"skipped": ...}``) left nothing to check."""
    if entry is None:
        entry = _status(run_dir).get(stage)
    outputs = (entry or {}).get("outputs") if isinstance(entry, dict) else None
    if isinstance(outputs, dict) and outputs.get("skipped"):
        return []
    folder = run_dir / STAGE_OUTPUT_FOLDER[stage]
    need: list[Path] = []
    if stage == "ingest":
        need.append(folder / "manifest.csv")
        cache = (read_json_dict(folder / "ingest_summary.json") or {}).get("cache")
        if isinstance(cache, dict):
            need += [folder / "cache" / f"{int(size)}px.npy" for size in cache if str(size).isdigit()]
    elif stage == "pretrain":
        need += [folder / "backbone.safetensors", folder / "vicreg_model.safetensors"]
    elif stage == "umm":
        need.append(folder / "backbone.safetensors")
    elif stage == "finetune":
        need.append(folder / "summary.json")
        selected = (read_json_dict(folder / "summary.json") or {}).get("selected")
        if isinstance(selected, str) and selected:
            need.append(folder / selected / "model.json")
        for description in sorted(folder.glob("*/model.json")):
            need += [description.parent / name for name in _listed_weights(description)]
    elif stage == "export":
        need.append(folder / "metadata.json")
        need += [folder / name for name in _listed_weights(folder / "metadata.json")]
        if isinstance(outputs, dict) and outputs.get("submission"):
            need.append(run_dir / "export" / "submission.csv")
    return [p for p in dict.fromkeys(need) if not p.is_file()]


@dataclass
class DataFacts:
    """What the checks need to know of the data, read without decoding an image."""

    source: str  # where the numbers come from, said in the messages
    n_images: int  # the pool pretraining and UMM draw from (DRAC: training and test images)
    n_test: int = 0  # of which test images (left out with pretrain.use_test_images=false)
    n_unlabelled: int = 0  # of which images of the data.unlabelled folders
    grade_counts: dict[int, int] = field(default_factory=dict)  # labelled training images per grade
    # label rows per grade left out by data.missing=leave_out (their images are missing)
    left_out_grades: dict[int, int] = field(default_factory=dict)
    # data.ungradable=leave_out left out the 'none' rows of a grade column of words, no scale
    # given: what the empty grade 0's warning adds (data_prep.validate.zero_word_empty_grade)
    zero_left_out: tuple[str, str] | None = None
    grade_names: tuple[str, ...] = ()
    # the ingest's note when it inferred the scale (data_prep.ingest.infer_icdr: a plain folder's
    # 0..4 grades of colour photographs read as ICDR's), in settings; "" for a scale given or a default
    grades_inferred: str = ""
    # labelled patients per grade (a patient in every grade its images have) when the folds are
    # grouped by patient: data.patient_column, the column a layout owns (DeepDRiD's patient_id)
    # or EyePACS eye pairs, counted from the label CSV, or for an existing ingest from its
    # manifest's patient column (_ingest_patients); None: folds per image, grade_counts counts
    patients_per_grade: dict[int, int] | None = None
    n_patients: int | None = None  # distinct patients of those images (None as above)
    # (grade, patient) of each labelled training image, as the ingest will split them, when the
    # folds are grouped by patient (None as above): a fold count offered as a fix is checked on them
    image_patients: tuple[tuple[int, str], ...] | None = None
    # the site of each of image_patients' images as the folds will split on them
    # (data_prep.ingest.fold_sites): None without data.site_column or with each site kept whole
    image_sites: tuple[str, ...] | None = None
    # False: data.site_column is set and the sites the folds split on could not be read, so a
    # fold count offered is left unchecked (checked on patients alone it could be wrong)
    sites_known: bool = True
    patients_from: str = ""  # where the patients come from, in words (the messages say it)
    cache_sizes: list[int] | None = None  # the cached sides (None: a generic dataset)
    native_size: int | None = None  # a generic dataset's image side
    channels: int | None = None  # None: known once the images are decoded (data.channels=auto)
    channels_why: str = ""
    # the images are colour fundus photographs, known before decoding (a fundus download
    # layout: a plain folder may hold grey ones) or from the ingest's modality: said in words
    fundus_why: str = ""
    fold_grades: dict[int, dict[int, int]] | None = None  # fold -> grade -> its images, of an existing ingest
    ingest_dir: Path | None = None
    ingest_root: str = ""  # the data root an existing ingest read
    labels_known: bool = True  # False: the label CSV has problems (reported), counts unreliable
    # (True when its only problems are rows without an image: the counts are of the rows with one)
    grade_rows: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # (name, CSV line)
    labels_name: str = ""  # the label CSV's file name, where grade_rows' lines are
    no_labels: tuple[str, str] = ("", "")  # (why, fix): the layout found no training folder
    # (why, fix): a layout that can have a testing set (DRAC, APTOS, EyePACS, IDRiD) without
    # a test image, so the export writes no submission; no_test_layout: 'a DRAC 2022 layout'
    no_test: tuple[str, str] = ("", "")
    no_test_layout: str = ""
    # the phantom set's data.phantom_n_train (None: not the phantom set): a fix of too few images
    # of a grade says a larger one, not a label CSV's edits (the phantom set reads none)
    phantom_n_train: int | None = None

    @property
    def n_labelled(self) -> int:
        return sum(self.grade_counts.values())

    @property
    def fold_sizes(self) -> dict[int, int] | None:
        """Labelled images per fold of an existing ingest (None before the folds exist)."""
        if self.fold_grades is None:
            return None
        return {f: sum(per.values()) for f, per in self.fold_grades.items()}


class _Findings:
    """Collects findings; the value and its origin are filled in from the configuration."""

    def __init__(self, cfg: Config, sources: dict[str, str] | None) -> None:
        self.cfg, self.sources, self.items = cfg, sources, []
        self.fixes: FixBase | None = getattr(sources, "fixes", None)  # the -c file's values

    def default(self, setting: str) -> str:
        """``setting=VALUE (the default)``, or the ``-c`` file's valid value of its own, not the
        bad one (``(as in FILE)``: :func:`drac_ssl.config.fallback`)."""
        value, words = config_module.fallback(setting, self.fixes, get(self.cfg, setting))
        return f"{setting}={_show(value)} ({words})"

    def add(self, severity: str, setting: str, what: str, fix: str = "", value: Any = None,
            count: int = 1, speed_hint: bool = False, where: str | None = None) -> None:
        """A finding; ``where`` (where the value came from) defaults to the configuration's
        source of ``setting`` (:func:`_where`): a value the data decided (an inferred scale)
        gives its own."""
        if setting and value is None:
            try:
                value = get(self.cfg, setting)
            except AttributeError:
                value = ""
        if where is None:
            where = _where(setting, self.sources, self.cfg) if setting else ""
        self.items.append(Finding(setting, value, what, fix, severity, where, count=count,
                                  speed_hint=speed_hint))

    def error(self, setting: str, what: str, fix: str = "", value: Any = None) -> None:
        self.add("error", setting, what, fix, value)

    def warning(self, setting: str, what: str, fix: str = "", value: Any = None) -> None:
        self.add("warning", setting, what, fix, value)

    def has_error(self, setting: str) -> bool:
        return any(f.severity == "error" and f.setting == setting for f in self.items)

    def command_changes(self, settings: list[tuple[str, str]], also: str = "") -> str:
        """:func:`drac_ssl.runtime.command_changes` of ``settings`` (``(key, value)`` pairs)
        with the settings typed on this command line (this check's ``sources``; for a Config
        built in code, without them, those of the enclosing
        :func:`drac_ssl.runtime.typed_settings` block): ``add run.name=X-2 ... to your
        command``, or ``replace run.name=X with run.name=X-2 ...`` when run.name was typed."""
        from drac_ssl.runtime import command_changes  # torch: loaded by the stages' checks anyway

        return command_changes(settings, self.typed(), also)

    def typed(self) -> dict[str, str] | None:
        """:func:`user_typed` of this check's ``sources``; None without them (a Config built
        in code): :func:`drac_ssl.runtime.command_changes` then reads the enclosing
        :func:`drac_ssl.runtime.typed_settings` block's."""
        return None if self.sources is None else user_typed(self.sources)


# --------------------------------------------------------------------------------------
# Settings on their own: choices and ranges


def _check_choices(c: _Findings, cfg: Config) -> None:
    for setting, choices in config_module._CHOICES.items():
        value = get(cfg, setting)
        if value not in choices:
            c.error(setting, f"not one of {', '.join(repr(x) if not x else x for x in choices)}",
                    config_module.choice_fix(value, choices, setting, c.fixes))


def _range(c: _Findings, cfg: Config, settings: Iterable[str], low: float, *, strict: bool = False,
           high: float | None = None, high_open: bool = False, why: str = "") -> None:
    """``low <= value`` (``low < value`` when ``strict``) and ``value <= high`` (``<`` when
    ``high_open``) for each setting; the fix is the default."""
    _ranges(c, cfg, [SettingRange(s, low, strict, high, high_open, why) for s in settings])


def _ranges(c: _Findings, cfg: Config, ranges: Iterable[SettingRange]) -> None:
    """An error for every setting outside its range, in the words of the stages' own checks
    (NaN or inf: ``not a finite number: it must be ...``, as :func:`config.check_ranges`)."""
    for r, value in range_problems(cfg, ranges):
        c.error(r.setting, r.problem_words(value), r.fix_words(c.fixes))


def _check_data_settings(c: _Findings, cfg: Config) -> None:
    d = cfg.data
    if d.n_folds < 2:
        c.error("data.n_folds", "cross-validation needs at least 2 folds", c.default("data.n_folds"))
    # the phantom counts' bound only where the phantom set is used: with a data.root they are
    # warned set but not used (UNUSED_SETTINGS), not refused
    _ranges(c, cfg, [dataclasses.replace(r, high=None) if d.root and r.setting in config_module.PHANTOM_COUNTS
                     else r for r in config_module.DATA_RANGES])
    sizes = d.cache_sizes
    if not sizes or not all(config_module.valid_cache_size(s) for s in sizes):
        low, high = config_module.CACHE_SIZES
        c.error("data.cache_sizes", f"each cached size must be {low}..{high} pixels, and at least one is needed",
                c.default("data.cache_sizes"))
    elif len(set(sizes)) < len(sizes):  # [28, 28]: harmless (the ingest caches each once), likely a slip
        twice = sorted({s for s in sizes if sizes.count(s) > 1})
        c.warning("data.cache_sizes", f"gives {config_module.in_words([str(s) for s in twice], 'and')} more "
                                      f"than once: each size is cached once (was another size meant?)",
                  f"data.cache_sizes=[{', '.join(str(s) for s in sorted(set(sizes)))}]")
    what, fix = config_module.grades_problem(d.grades)
    if what:
        c.error("data.grades", what, fix)


def _check_pretrain_settings(c: _Findings, cfg: Config) -> None:
    pc = cfg.pretrain
    _ranges(c, cfg, config_module.PRETRAIN_RANGES)
    if pc.optimizer in ("sgd", "lars"):
        _range(c, cfg, ["pretrain.momentum"], 0, high=1, high_open=True)
    if pc.optimizer == "lars":
        _range(c, cfg, ["pretrain.lars_eta"], 0, strict=True)
    if pc.monitor_images != 0 and pc.monitor_images < 2:
        c.error("pretrain.monitor_images",
                "must be 0 (the rate-reduction monitor off) or >= 2: Delta R of one image (or of "
                "none) has no coding rate to measure, and the monitor silently went off",
                f"pretrain.monitor_images=0 to turn the monitor off, or {c.default('pretrain.monitor_images')}")
    if 0 < pc.epochs <= pc.warmup_epochs:
        c.warning("pretrain.warmup_epochs",
                  f"the warm-up is as long as the run (pretrain.epochs={pc.epochs}): the learning "
                  f"rate never reaches pretrain.lr",
                  f"pretrain.warmup_epochs={max(0, pc.epochs // 10)}")
    if pc.batch_size < 2:
        c.error("pretrain.batch_size",
                "VICReg's expander normalises its hidden layers over the batch (BatchNorm1d) and "
                "its variance and covariance terms are statistics of the batch: a batch of one "
                "image has none (torch stops with 'Expected more than 1 value per channel when "
                "training')", c.default("pretrain.batch_size"))


def _check_model_settings(c: _Findings, cfg: Config) -> None:
    """What pretraining and UMM both build: backbone, expander, loss, augmentation."""
    from drac_ssl.models import parse_expander_spec

    pc = cfg.pretrain
    try:
        parse_expander_spec(pc.expander)
    except ValueError:
        c.error("pretrain.expander", "not an expander spec: the widths of the hidden and output "
                                     "layers, positive integers joined by '-' (e.g. 2048-2048-2048)",
                c.default("pretrain.expander"))
    _ranges(c, cfg, config_module.MODEL_RANGES)
    loss = pc.loss
    if loss.sim_coeff == loss.std_coeff == loss.cov_coeff == 0:
        c.error("pretrain.loss.sim_coeff", "all three VICReg coefficients are 0: nothing is learned",
                c.default("pretrain.loss.sim_coeff"))
    _check_crop_scale(c, "pretrain.augment.crop_scale", pc.augment.crop_scale)


def _check_crop_scale(c: _Findings, setting: str, scale: list[float]) -> None:
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
        c.error(setting, "must be [low, high] with 0 < low <= high <= 1 (area fractions of the image)",
                c.default(setting))


def _check_umm_batch(c: _Findings, cfg: Config) -> None:
    if cfg.umm.batch_size < 2:
        c.error("umm.batch_size",
                "UMM re-tunes the layers after the early cut and the expander with VICReg's loss: "
                "their BatchNorm layers and the variance / covariance terms are statistics of the "
                "batch, and a batch of one image has none (torch stops with 'Expected more than 1 "
                "value per channel')", c.default("umm.batch_size"))


def _check_umm_settings(c: _Findings, cfg: Config) -> None:
    uc = cfg.umm
    _ranges(c, cfg, config_module.UMM_RANGES)
    _check_umm_batch(c, cfg)
    from drac_ssl.models import STAGE_NAMES

    if uc.start_from in ("peak", "past_peak") and cfg.pretrain.monitor_images < 2:
        c.error("umm.start_from",
                f"umm.start_from={uc.start_from} picks the pretraining epoch from the rate-reduction "
                f"monitor's peak, and pretrain.monitor_images={cfg.pretrain.monitor_images} turns that "
                f"monitor off (it needs >= 2 images): the umm stage would stop after the whole "
                f"pretraining, finding no monitor in its history",
                "pretrain.monitor_images >= 2 (the default 64), or umm.start_from=best|last")
    if uc.outer_on_next_batch and uc.max_steps_per_epoch == 1:
        c.error("umm.outer_batch",
                "umm.outer_batch=next takes the outer objective F on the epoch's next batch, and "
                "umm.max_steps_per_epoch=1 leaves an epoch one batch: F's batch would be the inner "
                "step's own (the umm stage would stop after the whole pretraining)",
                "umm.max_steps_per_epoch=0 (the full epoch) or >= 2, or umm.outer_batch=same")
    if uc.early_cut in STAGE_NAMES and STAGE_NAMES.index(uc.early_cut) >= len(STAGE_NAMES) - 1:
        c.error("umm.early_cut", f"the cut must leave a stage to re-tune after it "
                                 f"({', '.join(STAGE_NAMES)})", c.default("umm.early_cut"))


def _bn_trains(cfg: Config) -> list[str]:
    """What normalises over the batch while fine-tuning trains."""
    from drac_ssl.grading.model import HEADS, head_normalises_over_batch

    ft = cfg.finetune
    parts = []
    if ft.head in HEADS and head_normalises_over_batch(ft.head):
        parts.append(f"the {ft.head} head's BatchNorm layers")
    if ft.freeze == "last":
        parts.append("the BatchNorm layers of the backbone's layer4 (finetune.freeze=last)")
    elif ft.freeze == "all":
        parts.append("every BatchNorm layer of the backbone (finetune.freeze=all)")
    return parts


def _check_finetune_settings(c: _Findings, cfg: Config) -> None:
    ft = cfg.finetune
    _ranges(c, cfg, FINETUNE_RANGES)  # finetune.check_settings reads the same table
    _check_crop_scale(c, "finetune.crop_scale", ft.crop_scale)
    bn = _bn_trains(cfg)
    if ft.batch_size == 1 and bn:
        from drac_ssl.grading.model import HEADS, head_normalises_over_batch

        plain = [h for h in HEADS if not head_normalises_over_batch(h)]  # linear, mlp, regression
        plain_words = " or ".join([", ".join(plain[:-1]), plain[-1]] if len(plain) > 1 else plain)
        c.error("finetune.batch_size",
                f"{' and '.join(bn)} normalise over the batch while training: a batch of one image "
                f"has no batch statistics (each image is normalised by its own, and torch stops "
                f"with 'Expected more than 1 value per channel' on a 1x1 feature map)",
                f"{c.default('finetune.batch_size')}; a batch of 1 works only with finetune.head="
                f"{plain_words} on finetune.freeze=frozen")
    # the default's 4 views over a short run (--first-try's 2 epochs) is the cap working as
    # documented; a count the user set is one they meant to be used
    if (ft.freeze == "frozen" and ft.frozen_train_views > ft.epochs > 0
            and _users_setting(c, "finetune.frozen_train_views")):
        c.warning("finetune.frozen_train_views",
                  f"more views than epochs: the frozen backbone's feature bank is capped at one "
                  f"view per epoch, so {ft.epochs} views (finetune.epochs) are made and used, while "
                  f"config.yaml and the bundle record {ft.frozen_train_views}",
                  f"finetune.frozen_train_views={ft.epochs}, or finetune.epochs={ft.frozen_train_views} "
                  f"to use every view")
    if ft.freeze != "frozen" and ft.backbone_lr_ratio == 0 and not c.has_error("finetune.freeze"):
        c.warning("finetune.backbone_lr_ratio",
                  f"finetune.freeze={ft.freeze} makes backbone layers trainable, but their learning "
                  f"rate is 0: they do not change", f"{c.default('finetune.backbone_lr_ratio')} or "
                                                    f"finetune.freeze=frozen")


def _users_setting(c: _Findings, setting: str) -> bool:
    """Whether ``setting`` holds a value the user chose: one other than its default (not set
    by a preset option such as ``--first-try``, whose values are the option's), or one they
    typed or wrote in a file of their own, even at the default. A shipped config's value
    (:func:`_scale_shipped`'s folders) is not the user's at all, nor is a run's resolved
    ``config.yaml`` (rerun with ``-c`` to reproduce or resume: it holds every setting, the
    shipped config's and ``--first-try``'s among them, and the run that wrote it warned of the
    values its user typed): only a setting typed on this command line is."""
    options = getattr(c.sources, "options", None) or {}
    if isinstance(options.get(setting), config_module.PresetOverride):
        return False
    changed = get(c.cfg, setting) != get(_DEFAULTS, setting)
    where = (c.sources or {}).get(setting)
    if where is None:
        return changed
    if where.startswith(TYPED):
        return True
    file, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return changed
    shipped = {p.resolve() for p in (config_module.PACKAGE_CONFIGS, config_module.CHECKOUT_CONFIGS,
                                     config_module.INSTALLED_CONFIGS)}
    if Path(file).expanduser().resolve().parent in shipped:
        return False  # the shipped config's value, not the user's
    # a run's config.yaml: its values are the earlier command's (warned then), not this one's
    return not getattr(c.sources, "resolved_file", False)


def _check_unused_settings(c: _Findings, cfg: Config, stages: Iterable[str]) -> None:
    """A warning for each setting of :data:`drac_ssl.config.UNUSED_SETTINGS` that another
    setting leaves unused while one of the stages that would read it runs, when the user set
    it (:func:`_users_setting`): a sweep over it would otherwise record values that changed
    nothing. The first row of the table naming the setting whose condition holds says why. A
    row decided by a setting refused as no valid choice (``pretrain.optimizer=LARS``: its own
    error gives the fix) warns nothing: its words would name the refused value as the cause."""
    stages = set(stages)
    warned: set[str] = set()
    refused = {s for s, choices in config_module._CHOICES.items() if get(cfg, s) not in choices}
    for row in config_module.UNUSED_SETTINGS:
        if not stages & set(row.stages):
            continue
        unused, deciding = _decided(row.unused, cfg)
        if not unused or deciding & refused:
            continue  # a refused choice (pretrain.optimizer=LARS) decides nothing: its error says so
        for setting in row.settings:
            if setting in warned or not _users_setting(c, setting):
                continue
            warned.add(setting)
            fix = row.fix.format(cfg=cfg)
            c.warning(setting, "set but not used: " + row.why.format(cfg=cfg),
                      fix if f"leave {setting} out" in fix else f"{fix}, or leave {setting} out")


class _ReadSettings:
    """A :class:`Config` (or one of its sections) that records each setting read from it."""

    def __init__(self, obj: Any, prefix: str, read: set[str]) -> None:
        self._obj, self._prefix, self._read = obj, prefix, read

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        dotted = f"{self._prefix}{name}"
        if dataclasses.is_dataclass(value):
            return _ReadSettings(value, dotted + ".", self._read)
        self._read.add(dotted)
        return value


def _decided(condition: Callable[[Config], bool], cfg: Config) -> tuple[bool, set[str]]:
    """``condition(cfg)`` and the settings (dotted) it read to decide: those short-circuited
    past (``a and b`` with ``a`` false) did not decide it."""
    read: set[str] = set()
    return bool(condition(_ReadSettings(cfg, "", read))), read  # type: ignore[arg-type]


def _stages_fix(stages: Iterable[str]) -> str:
    """``run.stages=[...]`` of the known ``stages`` in pipeline order; never an empty list,
    which runs nothing: without a known stage, every stage (the default)."""
    wanted = set(stages)
    if not wanted & set(PIPELINE):
        return "run.stages=[" + ",".join(PIPELINE) + "] (the default: every stage)"
    return "run.stages=[" + ",".join(s for s in PIPELINE if s in wanted) + "]"


def _check_stage_names(c: _Findings, cfg: Config) -> None:
    """Every stage of ``run.stages`` is one of :data:`PIPELINE`: a typo gets the stage it was
    meant to be, as an unknown setting does (``python -m drac_ssl.train``'s preflight and
    ``python -m drac_ssl.umm``'s :func:`umm_refusal` alike)."""
    unknown = [s for s in cfg.run.stages if s not in PIPELINE]
    if unknown:
        meant = {s: config_module.close_match(str(s).strip().lower(), PIPELINE) for s in unknown}
        said = ", ".join(f"{s!r} (did you mean {meant[s]!r}?)" if meant[s] else repr(s) for s in unknown)
        c.error("run.stages", f"unknown stage(s) {said}; the pipeline is {', '.join(PIPELINE)}",
                _stages_fix(meant.get(s, s) for s in cfg.run.stages))


def _check_threads(c: _Findings, cfg: Config) -> None:
    """``run.threads`` >= 0; the fix in the words typed: ``--threads N`` for a count given
    with the option (:class:`~drac_ssl.config.OptionOverride`), else ``run.threads=N``."""
    if cfg.run.threads >= 0:
        return
    fix = c.default("run.threads")
    option = (getattr(c.sources, "options", None) or {}).get("run.threads")
    if isinstance(option, config_module.OptionOverride):  # --threads N: the fix in its words
        value, words = config_module.fallback("run.threads", c.fixes)
        fix = f"{option.typed.split()[0]} {value} ({words})"
    c.error("run.threads", "must be 0 (the package's policy) or a positive count of threads", fix)


RERUN_APPLIED_SETTINGS: dict[str, tuple[str, ...]] = {
    "run.tensorboard": ("pretrain", "umm"),  # the epoch rows' scalars (pretrain.py, umm/stage.py)
    "run.threads": PIPELINE,  # the thread policy of the process that runs every stage
    "data.workers": ("ingest",),  # the ingest's (and the phantom set's) decoding processes
    "pretrain.num_workers": ("pretrain", "umm", "finetune"),  # their DataLoader workers
}
"""The output-only settings (:data:`~drac_ssl.stage_settings.OUTPUT_ONLY_SETTINGS`) a stage
applies while it runs, each -> the stages that read it: a resume with another value resumes
without a refusal, and the value reaches only those of its stages that still run
(:func:`_check_rerun_settings`)."""


def _check_rerun_settings(c: _Findings, cfg: Config, run_dir: Path, stages: list[str]) -> None:
    """A warning for each of :data:`RERUN_APPLIED_SETTINGS` that differs from the run folder's
    ``config.yaml`` while a stage that reads it finished there: that stage is not run again, so
    the new value (``run.tensorboard=true`` on a finished run) does nothing for it; the warning
    names the stages that still run and read it (none: it applies to no stage)."""
    saved = run_dir / "config.yaml"
    done = [s for s in PIPELINE if s in cfg.run.stages and s not in stages]
    if not done or not saved.is_file():
        return
    written = config_module.read_saved_config(run_dir)
    if not written:  # damaged: the resume's own check says what is wrong with it
        return
    old = saved_settings(written)
    for setting, readers in RERUN_APPLIED_SETTINGS.items():
        read_done = [s for s in done if s in readers]
        if not read_done:
            continue  # every stage that reads it still runs: it applies in full
        section, _, key = setting.partition(".")
        before = (old.get(section) or {}).get(key) if isinstance(old.get(section), dict) else None
        if before is None or before == get(cfg, setting):
            continue
        read_left = [s for s in PIPELINE if s in stages and s in readers]
        if read_left:
            left = f"only to {', '.join(read_left)}, which still run{'s' if len(read_left) == 1 else ''}"
        elif stages:
            left = f"to no stage: of those that still run ({', '.join(stages)}), none reads it"
        else:
            left = "to no stage: every one has finished"
        c.warning(setting, f"differs from {saved} ({_show(before)}), and applies {left}; the finished "
                           f"{', '.join(read_done)} stage(s) that read it are not run again with it",
                  "start a new run (another run.name) to run every stage with it, or leave it out")


def _check_stated_data(c: _Findings, cfg: Config, run_dir: Path, stages: list[str]) -> None:
    """A warning for each of ``data.description``, ``data.collection_dates`` and
    ``data.reference_standard`` (:data:`drac_ssl.config.STATED_DATA_SETTINGS`) that
    differs from the run folder's ``config.yaml`` when no stage runs: that file is kept as the
    finished run ran (:func:`drac_ssl.train._run_in_folder`), and report.md and the bundle's card
    say its words, so the new text was dropped without a word (a CLAIM review). The fix says how to
    record it: edit that file, then rewrite report.md and rebuild the bundle as the export stage
    does (:func:`drac_ssl.run_state.rebuild_call`, with the card's out-of-fold calibration
    figures where the run has them). Only a text given now is warned
    about: an empty one is the default, what a plain rerun of the run folder has, not a new text."""
    saved = run_dir / "config.yaml"
    if stages or not saved.is_file():  # a stage runs: config.yaml is written with the new text
        return
    written = config_module.read_saved_config(run_dir)
    if not written:
        return
    old = saved_settings(written)
    before = config_module.stated_data(old.get("data"))
    now = config_module.stated_data(dataclasses.asdict(cfg.data))
    run = shlex.quote(str(run_dir))
    for key, _ in config_module.STATED_DATA_SETTINGS:
        if key not in now or before.get(key) == now[key]:  # nothing given now: not a change
            continue
        was = repr(before[key]) if key in before else "not stated"
        c.warning(f"data.{key}", f"differs from {saved} ({was}) and is not recorded: a finished run's "
                                 "config.yaml is kept as it ran, and report.md and the bundle's MODEL_CARD.md "
                                 "say that file's",
                  f"to record it, edit data.{key} in {saved}, then rewrite report.md "
                  f"({python_command('drac_ssl.report')} {run}) and rebuild the bundle as the export stage "
                  f"does ({rebuild_call(run_dir)})")


def _check_run_settings(c: _Findings, cfg: Config, run_dir: Path) -> None:
    r = cfg.run
    _ranges(c, cfg, config_module.RUN_RANGES)
    _check_threads(c, cfg)
    if not r.stages:
        c.error("run.stages", config_module.empty_stages_words().removeprefix("run.stages is "),
                config_module.every_stage_fix())
    _check_stage_names(c, cfg)
    known = [s for s in r.stages if s in PIPELINE]
    if len(set(known)) != len(known):
        c.warning("run.stages", "a stage is listed twice; each runs once", _stages_fix(known))
    elif known != [s for s in PIPELINE if s in known]:
        c.warning("run.stages", f"stages always run in pipeline order ({' -> '.join(PIPELINE)}); "
                                f"the order given is not used", _stages_fix(known))
    what, fix = config_module.run_name_problem(r.name, r.out_dir)
    if what:
        c.error("run.name", what, fix)
        return  # the folder checks below would be of a folder outside run.out_dir
    if run_dir.exists() and not run_dir.is_dir():
        c.error("run.name", f"{run_dir} is a file, not a run folder", "choose another run.name")
    # os.path.exists: False, not PermissionError, for a path under a folder that cannot be read
    existing = next((p for p in [run_dir, *run_dir.absolute().parents] if os.path.exists(p)), None)
    if existing is not None and existing != run_dir and not existing.is_dir():
        c.error("run.out_dir", f"{existing} is a file, not a folder: the run folder {run_dir} "
                               f"cannot be made under it",
                f"run.out_dir=a folder (or a new path), e.g. run.out_dir={existing.parent / 'runs'}")
    elif existing is not None and existing == run_dir and not os.access(existing, os.W_OK | os.X_OK):
        c.error("run.out_dir", *read_only_run_folder_words(run_dir, c.typed()))
    elif existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        c.error("run.out_dir", f"{existing} is not writable: the run folder {run_dir} cannot be made",
                "run.out_dir=a folder you can write to")


def read_only_run_folder_words(run_dir: Path, typed: dict[str, str] | None = None) -> tuple[str, str]:
    """``(what, fix)`` for a run folder ``run_dir`` that exists but this account cannot write
    in: on a read-only file system (a read-only mount: ``os.statvfs``'s ``ST_RDONLY``) or by
    its permissions. The fix: make it writable, or carry on in a new run folder elsewhere that
    takes its finished stages (``run.reuse`` reads the folder and copies them: checked on a
    read-only bind mount; offered only when the folder holds a run: its ``config.yaml`` and
    ``stages.json``), else a run elsewhere, worded by :func:`drac_ssl.runtime.command_changes` (``typed``)."""
    from drac_ssl.runtime import command_changes

    try:
        mounted = bool(os.statvfs(run_dir).f_flag & getattr(os, "ST_RDONLY", 1))
    except (OSError, AttributeError):  # no statvfs (Windows)
        mounted = False
    why = "it is on a read-only file system (mount)" if mounted else "its permissions do not let this account write in it"
    # a run run.reuse can take stages from (drac_ssl.train's test of a run folder): only then offered
    holds = all((run_dir / name).is_file() for name in ("config.yaml", "stages.json"))
    what = (f"the run folder {run_dir} exists{' and holds a run' if holds else ''}, but it is read-only: "
            f"{why}, so no stage can write its outputs, checkpoints or lock there")
    writable = ("remount it read-write" if mounted else
                f"chmod -R u+w {shlex.quote(str(run_dir))} (or ask its owner)")
    if not holds:  # nothing to take: a run elsewhere starts from the beginning
        elsewhere = command_changes([("run.out_dir", "<a folder you can write to>")], typed)
        return what, f"make it writable ({writable}) and rerun the same command, or run elsewhere: {elsewhere}"
    elsewhere = command_changes([("run.out_dir", "<a folder you can write to>"), ("run.reuse", str(run_dir))],
                                typed)
    return what, (f"make it writable ({writable}) and rerun the same command, or carry on in a new run "
                  f"folder elsewhere that takes its finished stages (they are copied; the rest runs "
                  f"there): {elsewhere}")


# --------------------------------------------------------------------------------------
# The device


def _resolve_device(c: _Findings, cfg: Config) -> str:
    """``cpu`` or ``cuda`` (what ``run.device`` will mean on this machine); problems added."""
    import torch

    from drac_ssl.devices import cuda_shortfall

    name = str(cfg.run.device).strip()
    match = re.fullmatch(r"auto|cpu|cuda(?::(\d+))?", name)
    if match is None:
        c.error("run.device", "not a device this package runs on (auto, cpu, cuda or cuda:N)",
                "run.device=auto (CUDA when there is one, else the CPU)")
        return "cpu"
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if short := cuda_shortfall(int(match.group(1) or 0)):
        problem, no_cuda = short
        if no_cuda:
            c.error("run.device", problem,
                    "run.device=cpu, or run.device=auto (CUDA when there is one, else the CPU)")
            return "cpu"
        c.error("run.device", problem, "run.device=cuda:0")
    return "cuda"


def _native_bf16(torch: Any) -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument
        return bool(torch.cuda.is_bf16_supported())
    except (RuntimeError, AssertionError):
        return True  # cannot tell: say nothing


def _cxx_compiler() -> str | None:
    for name in (os.environ.get("CXX", ""), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


AMX_BF16_MIN_SIZE = 128
"""Pretraining crops (px) from which the preflight points a CPU with AMX-BF16 at bf16: 2.2x
faster than fp32 at 224 px, 1.2x at 64 px, 0.9x at 28 px (bench/results/cpu_precision.json)."""


SOCKET_PATH_MAX = 107
"""The longest path a Linux ``AF_UNIX`` socket may bind (``sun_path``: 108 bytes with its NUL)."""

WORKER_SOCKET_TAIL = len("/pymp-XXXXXXXX/listener-XXXXXXXX")
"""What multiprocessing adds to the temporary folder for the socket through which a DataLoader
worker hands its batches over (``multiprocessing.util.get_temp_dir``'s ``pymp-`` folder, the
``listener-`` address of ``multiprocessing.resource_sharer``): 32 bytes."""


def _check_temp_dir_for_workers(c: _Findings, cfg: Config, stages: list[str]) -> None:
    """A warning, before any stage, when a training stage will start DataLoader workers
    (:func:`drac_ssl.runtime.dataloader_workers` of ``pretrain.num_workers``) and the temporary
    folder (``$TMPDIR``, :func:`tempfile.gettempdir`) is too long for the socket their batches
    pass through on Linux (:data:`SOCKET_PATH_MAX`): the worker's feeder thread fails and the
    batch never arrives (seen in this project's CI, whose test folders under a long
    ``$TMPDIR`` passed the limit; a cluster's per-job ``$TMPDIR`` can be as long)."""
    import sys

    from drac_ssl.runtime import dataloader_workers

    if not sys.platform.startswith("linux") or not any(s in stages for s in ("pretrain", "umm", "finetune")):
        return
    folder = tempfile.gettempdir()
    length = len(os.fsencode(folder))
    if length + WORKER_SOCKET_TAIL <= SOCKET_PATH_MAX or dataloader_workers(cfg.pretrain.num_workers) == 0:
        return
    c.warning("pretrain.num_workers",
              f"the temporary folder {folder} is {length} bytes long: the DataLoader workers hand their "
              f"batches over through a socket under it, {length + WORKER_SOCKET_TAIL} bytes, over Linux's "
              f"{SOCKET_PATH_MAX} for one, so the first batch can fail",
              f"export TMPDIR=/tmp (any folder of at most {SOCKET_PATH_MAX - WORKER_SOCKET_TAIL} bytes), "
              f"or pretrain.num_workers=0")


def _check_device_use(c: _Findings, cfg: Config, device: str, stages: list[str]) -> None:
    pc = cfg.pretrain
    if device != "cpu":
        import torch

        trains = any(s in stages for s in ("pretrain", "umm", "finetune"))
        if trains and pc.precision in ("auto", "bf16") and not _native_bf16(torch):
            c.warning("pretrain.precision",
                      f"bf16 autocast on {torch.cuda.get_device_name(0)}, which has no native bf16 "
                      f"(emulated: slow)", "pretrain.precision=fp32")
        return
    ssl = [s for s in ("pretrain", "umm") if s in stages and (s != "umm" or cfg.umm.enabled)]
    trains = any(s in stages for s in ("pretrain", "umm", "finetune"))
    from drac_ssl.runtime import cpu_has_amx_bf16

    amx = cpu_has_amx_bf16()
    if trains and pc.precision == "bf16" and not amx:
        c.warning("pretrain.precision",
                  "bf16 autocast on a CPU without AMX-BF16: allowed, but bf16 may be emulated "
                  "there and run slower than fp32 (not measured on such a CPU), and its results "
                  "differ from an fp32 run",
                  "pretrain.precision=auto (bf16 on CUDA, fp32 on the CPU)")
    if trains and pc.precision == "auto" and amx and pc.augment.image_size >= AMX_BF16_MIN_SIZE:
        c.add("warning", "pretrain.precision",
              "this CPU has AMX-BF16, and auto trains in fp32 on the CPU: at 224 px bf16 "
              f"autocast ran the {PRETRAIN_METHOD} step 2.2 times faster than fp32 on such a CPU "
              "(bench/results/cpu_precision.json; at 28 px it was slower)",
              "pretrain.precision=bf16 (for pretraining, UMM and fine-tuning; the results "
              "differ slightly from an fp32 run)", speed_hint=True)  # said only when the run goes ahead
    if pc.compile == "true" and "pretrain" in stages:  # auto compiles on CUDA only
        compiler = _cxx_compiler()
        if compiler is None:
            c.error("pretrain.compile",
                    "torch.compile on the CPU generates C++ and needs a compiler (g++, c++ or "
                    "clang++ on the PATH, or $CXX); none was found",
                    "pretrain.compile=false, or install a C++ compiler")
        else:
            c.warning("pretrain.compile",
                      f"torch.compile on the CPU ({compiler}): the first steps compile for minutes; "
                      f"worth it only for long runs", "pretrain.compile=false for short runs")
    # augment.on_gpu on the CPU is said only when typed on this command line. A config file's
    # (mnist.yaml, fashion_mnist.yaml, cifar10.yaml, a copy printed from one) is its recipe's: the
    # same batched views on a CPU as on a GPU (the CPU quick checks ran so), and on this project's
    # 2-core CPU they fed as fast as a DataLoader worker (bench/results/feed_throughput_cpu.json),
    # so a CPU user of the config given was told to change what they need not (a review). A Config
    # built in Python (sources None: no command line) is not warned of either: nothing was typed.
    typed_on_gpu = typed_override(_where("pretrain.augment.on_gpu", c.sources, cfg)) is not None
    if pc.augment.on_gpu and ssl and typed_on_gpu:
        c.warning("pretrain.augment.on_gpu",
                  "a GPU option on the CPU: the batched augmentation runs in the training "
                  "process on the CPU, without DataLoader workers (on a 2-core CPU it fed about as "
                  "fast as one worker, the feed alone, no model: bench/results/feed_throughput_cpu.json)",
                  "pretrain.augment.on_gpu=false on a CPU machine")


# --------------------------------------------------------------------------------------
# The data, without decoding it


def _labels_from_manifest(path: Path, num_grades: int | None = None
                          ) -> tuple[int, dict[int, int], dict[int, dict[int, int]],
                                     list[tuple[int, int, str, str]], int, int, tuple[str, ...]]:
    """(rows, labelled per grade, labelled per fold and grade, the labelled rows as (grade,
    fold, patient: '' for none, image id) in file order, test rows, data.unlabelled rows, the
    labelled rows' sites in the same order: '' for none) of a manifest
    (:func:`data_prep.folds.fold_row`); ``num_grades``: the ingest's K, a grade outside
    ``0..K-1`` refused (:func:`drac_ssl.manifest.read_manifest`)."""
    from data_prep.folds import fold_row

    rows = read_manifest(path, ("id", "grade", "split", "fold"), num_grades)  # patient: optional
    grades: dict[int, int] = {}
    folds: dict[int, dict[int, int]] = {}
    labelled = labelled_rows(rows)
    train = [fold_row(row) for row in labelled]
    for grade, fold, _, _ in train:
        grades[grade] = grades.get(grade, 0) + 1
        per_grade = folds.setdefault(fold, {})
        per_grade[grade] = per_grade.get(grade, 0) + 1
    return (len(rows), grades, folds, train, sum(r["split"] == "test" for r in rows),
            sum(r["split"] == "unlabelled" for r in rows),
            tuple(str(r.get(SITE_COLUMN) or "") for r in labelled))


def _patient_counts(grades: list[int], patients: list[str],
                    counts: dict[int, int]) -> tuple[dict[int, int], int]:
    """(patients per grade of ``counts``' grades, distinct patients) of the labelled training
    images, one grade and one patient each: ``patients`` as the folds keep them, an image
    without a patient its own under its image id (:func:`data_prep.folds.patient_unit`, which
    the callers' sources apply: :func:`data_prep.ingest.image_patients` for the label CSV,
    :func:`data_prep.folds.manifest_units` for a manifest). A patient is counted in every grade
    its images have (:func:`data_prep.folds.units_per_grade`, the ingest's own count). The fold
    check of a new ingest counts here both from the label CSV (:func:`_facts_from_layout`) and
    from an existing ingest's manifest (:func:`_facts_from_ingest`: the full run after a first
    try, :func:`new_run_problems`).

    Raises:
        ValueError: ``patients`` and ``grades`` differ in length."""
    from data_prep.folds import units_per_grade

    per_grade = units_per_grade(grades, patients)
    return ({g: per_grade[g] if g < len(per_grade) else 0 for g in counts}, len(set(patients)))


def _facts_from_ingest(c: _Findings, cfg: Config, data_dir: Path) -> DataFacts | None:
    manifest = data_dir / "manifest.csv"
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((data_dir / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    recorded = tuple((summary.get("grades") or {}).get("names") or ()) if isinstance(summary, dict) else ()
    try:
        n, grades, folds, train, n_test, n_pool, train_sites = _labels_from_manifest(
            manifest, len(recorded) if len(recorded) >= 2 else None)
    except (OSError, ValueError, csv.Error) as exc:
        what, _, fix = str(exc).partition("\n  fix: ")  # a ManifestError names the file and its fix
        c.error("", what if what.startswith(str(manifest)) else f"{manifest}: the ingest output cannot "
                                                                   f"be read ({what})",
                fix or redo_ingest_fix(data_dir))
        return None
    names = recorded or _grade_names(cfg, "drac")
    sizes = sorted(int(p.name[:-len("px.npy")]) for p in (data_dir / "cache").glob("*px.npy")
                   if p.name[:-len("px.npy")].isdigit())
    if isinstance(summary.get("cache"), dict):  # only what the last ingest wrote (a review: a
        # leftover array of an earlier ingest's size follows another manifest); one it wrote
        # whose file is gone counts too: _check_finished_outputs says the ingest is incomplete
        sizes = sorted(int(s) for s in summary["cache"] if str(s).isdigit())
    channels = None
    present = [s for s in sizes if (data_dir / "cache" / f"{s}px.npy").is_file()]
    if present:
        import numpy as np

        try:
            shape = np.load(data_dir / "cache" / f"{present[0]}px.npy", mmap_mode="r").shape
            channels = 3 if len(shape) == 4 else 1
        except (OSError, ValueError, EOFError):
            channels = None
    counts = {g: grades.get(g, 0) for g in range(max(len(names), max(grades, default=-1) + 1))}
    left_out: dict[int, int] = {}  # data.missing=leave_out: the rows per grade, as the ingest read them
    for entry in summary.get("left_out_missing") or ():
        grade = entry.get("grade") if isinstance(entry, dict) else None
        if isinstance(grade, int):
            left_out[grade] = left_out.get(grade, 0) + 1
    modality = summary.get("modality")
    fundus = isinstance(modality, dict) and modality.get("value") == "fundus"
    patients_per_grade, n_patients, patients_from = _ingest_patients(train, summary, counts, manifest)
    image_patients = None
    if patients_per_grade is not None:
        from data_prep.folds import manifest_units, summary_grouped

        units, _ = manifest_units(train, summary_grouped(summary))
        image_patients = tuple(zip([g for g, _, _, _ in train], units or (), strict=True)) if units else None
    return DataFacts(source=f"the ingest in {data_dir}", n_images=n, n_test=n_test,
                     fundus_why=(f"the ingest found colour fundus photographs "
                                 f"({data_dir / 'ingest_summary.json'}: modality fundus)" if fundus else ""),
                     n_unlabelled=n_pool, grade_counts=counts, left_out_grades=left_out,
                     grade_names=names, cache_sizes=sizes, channels=channels,
                     grades_inferred=(f"{data_dir / 'ingest_summary.json'}: grades {source}"
                                      if (source := str((summary.get("grades") or {}).get("source") or ""))
                                      .startswith("inferred") else ""),
                     channels_why=f"the cache in {data_dir / 'cache'}",
                     fold_grades=folds, ingest_dir=data_dir, ingest_root=str(summary.get("root") or ""),
                     patients_per_grade=patients_per_grade, n_patients=n_patients,
                     patients_from=patients_from, image_patients=image_patients,
                     **_ingest_fold_sites(cfg, summary, train_sites, image_patients))


def _ingest_fold_sites(cfg: Config, summary: dict[str, Any], train_sites: tuple[str, ...],
                       image_patients: tuple[tuple[int, str], ...] | None) -> dict[str, Any]:
    """:class:`DataFacts`' ``image_sites`` and ``sites_known`` of an existing ingest, for a run
    with ``data.site_column``: ``train_sites``, the manifest's site of each labelled training
    row (:func:`_labels_from_manifest`'s, in its order), when the ingest split on sites (its
    summary's ``sites``), None when it kept each site whole; ``sites_known`` False when the
    ingest recorded no sites (a fold count offered is then left unchecked)."""
    if not cfg.data.site_column:
        return {"image_sites": None, "sites_known": True}
    recorded = summary.get("sites")
    if image_patients is None or not isinstance(recorded, dict):
        return {"image_sites": None, "sites_known": image_patients is None}
    if recorded.get("folds") == "whole":  # the sites are the patients: split without sites
        return {"image_sites": None, "sites_known": True}
    return ({"image_sites": train_sites, "sites_known": True} if len(train_sites) == len(image_patients)
            else {"image_sites": None, "sites_known": False})


def _ingest_patients(train: list[tuple[int, int, str, str]], summary: dict[str, Any],
                     counts: dict[int, int], manifest: Path
                     ) -> tuple[dict[int, int] | None, int | None, str]:
    """(patients per grade, distinct patients, where they come from in words) of an existing
    ingest's labelled rows ``train`` (:func:`_labels_from_manifest`'s) and its ``summary``:
    grouped as the ingest grouped its folds (:func:`data_prep.folds.manifest_units`: a row
    naming a patient, or the summary's ``data.patient_column``), counted as a new ingest's
    check counts them (:func:`_patient_counts`), said as a new ingest's check says them
    (:func:`_patients_words`, from the summary's records; ``the patient column of
    .../manifest.csv`` for a summary without them); (None, None, '') when the folds were per
    image. The patients, not near-twin groups (``fold_group``): a new ingest's check cannot
    know the twins before decoding either."""
    from data_prep.folds import manifest_units, summary_config, summary_grouped

    patients, _ = manifest_units(train, summary_grouped(summary))
    if patients is None:
        return None, None, ""
    per_grade, n_patients = _patient_counts([grade for grade, _, _, _ in train], patients, counts)
    setting = str(summary_config(summary).get("patient_column") or "")
    said = summary.get("patients")  # how the ingest grouped: its column (None for EyePACS' ids)
    if setting or (isinstance(said, dict) and said.get("grouped")):
        owned = str(said.get("column") or "") if isinstance(said, dict) else ""
        words = _patients_words(str(summary.get("layout") or ""), owned, setting)
    else:  # a summary from before it recorded them (or none): the manifest's column named them
        words = f"the patient column of {manifest}"
    return per_grade, n_patients, words


def _patients_words(layout: str, owned_column: str, patient_column: str) -> str:
    """Where the patients of patient-grouped folds come from, in words, as the fold check says
    them (``... has 6 patients (WORDS); ...``) for a new ingest (:func:`_facts_from_layout`:
    ``layout`` the layout the label CSV is read as, ``Layout.treated_as``) and for an existing
    one alike (:func:`_ingest_patients`: its summary's ``layout``, ``patients.column`` and
    ``config.patient_column``), so the note after a first try names them as its full run will:
    ``data.patient_column=NAME`` when set (``patient_column``), else the column the layout owns
    (``owned_column``: ``the DeepDRiD layout's column 'patient_id'``), else EyePACS's eye pairs
    (``the EyePACS image ids <patient>_left / _right``): the ingest's words for the last two
    (:func:`data_prep.ingest.patients_source_words`, its note's and summary's)."""
    from data_prep.ingest import patients_source_words

    if patient_column:
        return f"data.patient_column={patient_column}"
    return patients_source_words(layout, owned_column)


def _on_the_fallback_scale(problem: Any) -> bool:
    """Whether a label problem judges grades by the scale (outside 0..K-1, 1-based; a label
    CSV's ``outside {0, 1, 2}``, a MedMNIST ``.npz``'s ``outside 0..2``), which with an invalid
    ``data.grades`` is the default scale :func:`_grade_names` fell back to."""
    return problem.kind == "grade" and any(words in problem.what for words in (" outside {", " outside 0..",
                                                                               "look 1-based"))


def _grades_located(c: _Findings, cfg: Config, problem: Any, line: str) -> str:
    """``line`` (a label problem in the settings' words) with where ``data.grades`` was given
    after its first mention in the problem's text, ``data.grades (FILE:LINE)`` or ``data.grades
    (command line '...')``, when the problem judges grades by that scale (``kind`` grade) and the
    user gave it: a grade-count mismatch named the data file (``...npz:train_labels``) but not
    the config's line to edit (``the grade scale (data.grades, g.yaml:2) has 2 grades``, ``the
    scale of data.grades (g.yaml:2: 0 A, 1 B)``). Else ``line`` as it is."""
    if problem.kind != "grade" or not cfg.data.grades:
        return line
    where = _where("data.grades", c.sources, cfg)
    if where in ("", "the default"):
        return line
    what, arrow, fix = line.partition(" -> ")
    for said, located in ((r"\(data\.grades\)", f"(data.grades, {where})"),  # the scale (data.grades) has
                          (r"data\.grades \(", f"data.grades ({where}: "),  # the scale of data.grades (0 A, 1 B)
                          (r"(?<![\w.])data\.grades(?![\w.=\[])", f"data.grades ({where})")):  # not data.grades=[..]
        if found := re.search(said, what):
            return what[:found.start()] + located + what[found.end():] + arrow + fix
    return line


def _grade_names(cfg: Config, layout: str) -> tuple[str, ...]:
    from data_prep.grades import resolve_grades

    try:
        config_module.validate_grades(cfg.data.grades)
    except ConfigError:
        return config_module.GRADE_SCALES["drac"]
    return resolve_grades(cfg.data.grades, layout, cfg.data.referable_from)[0]


def _channels_setting(cfg: Config, default: str) -> tuple[int | None, str]:
    """The cache's channels as far as known before decoding (None: ``auto``, what the images
    are) and why; ``default``: what an empty ``data.channels`` means for the layout
    (:attr:`data_prep.layout.Layout.default_channels`, as the ingest reads it)."""
    setting = str(cfg.data.channels)
    if setting == "1":
        return 1, "data.channels=1"
    if setting == "3":
        return 3, "data.channels=3"
    if setting == "auto":
        return None, "data.channels=auto"
    if default == "auto":
        return None, "the layout's default, data.channels=auto"
    return 1, "the layout's default, data.channels=1 (grey)"


def _check_phantom_meant(c: _Findings, cfg: Config) -> None:
    """An empty ``data.root`` set anywhere but the default job's ``configs/default.yaml`` (a
    trial: ``-c configs/drac.yaml data.root=$DATA`` with ``DATA`` unset ran the GPU recipe on
    the phantom set): the run will use the synthetic phantom images, said as a warning."""
    where = _where("data.root", c.sources, cfg)
    if where in ("", "the default"):
        return
    if typed_override(where) is None:  # FILE:LINE (a Windows path holds a colon too)
        file = Path(where.rpartition(":")[0])
        if file.resolve() == (config_module.PACKAGE_CONFIGS / "default.yaml").resolve():
            return
        if file.name == "config.yaml" and (file.parent / "stages.json").is_file():
            return  # a run folder's saved configuration: that run's data, the phantom set
    c.warning("data.root", "empty: this run uses the embedded phantom UW-OCTA set (synthetic "
                           "images drawn by data_prep.phantom), not your images",
              "data.root=<the folder of your images>; the phantom set is the default job's "
              f"({python_command('drac_ssl.train')} with no -c)")


def phantom_root(cfg: Config) -> Path:
    """The folder of the embedded phantom UW-OCTA set an empty ``data.root`` runs on:
    ``data/phantom/seed<S>-train<N>-test<M>`` of the current folder (``data.phantom_seed``,
    ``data.phantom_n_train``, ``data.phantom_n_test``), relative as it is (README command (1)
    runs in the checkout, so the set is made once there)."""
    d = cfg.data
    return Path("data") / "phantom" / f"seed{d.phantom_seed}-train{d.phantom_n_train}-test{d.phantom_n_test}"


def _check_phantom_writable(c: _Findings, cfg: Config) -> None:
    """An error, before any stage, when the phantom set an empty ``data.root`` runs on is not
    there complete and its folder (:func:`phantom_root`, under the current folder) cannot be
    written or made: a read-only checkout on a cluster (a review: README command (1) made the
    run folder, then stopped in the ingest on ``data/phantom/.../.phantom.partial.json``, a
    relative path, with "remount it read-write" as the only fix). Said with the absolute path
    and what the user can do: run from a folder they can write, or make the set elsewhere and
    point ``data.root`` at it. A complete set is only read: no error on a read-only disk."""
    root = phantom_root(cfg).absolute()
    writable, nearest = can_make_folder(root)
    if writable:
        return
    existing = Path(nearest) if nearest is not None else None
    from data_prep import phantom

    d = cfg.data
    if existing == Path(os.path.abspath(root)) and phantom.holds_set(root, d.phantom_n_train, d.phantom_n_test, d.phantom_seed):
        return  # made before (by a run from a writable copy): only read
    if existing is None or not existing.is_dir():
        why = f"{existing} is not a folder" if existing is not None else "no folder of it exists"
    else:
        why = f"{existing} is {_read_only_words(existing)}"
    c.error("data.root",
            f"empty: the embedded phantom UW-OCTA set is made in {root} (data/phantom under the current "
            f"folder, {Path.cwd()}), which cannot be written: {why}", phantom_folder_fix(cfg))


def phantom_folder_fix(cfg: Config) -> str:
    """What to do when the phantom set's folder (:func:`phantom_root`) cannot be written: run
    from a folder one can write to, or make the set elsewhere with ``python -m data_prep
    phantom`` (its options from ``data.phantom_*`` where not the defaults) and point
    ``data.root`` at it. Used by the preflight and by :func:`drac_ssl.train.run_folder_write_words`."""
    from data_prep import phantom

    d = cfg.data
    options = (f" --n-train {d.phantom_n_train} --n-test {d.phantom_n_test} --seed {d.phantom_seed}"
               if (d.phantom_n_train, d.phantom_n_test, d.phantom_seed) != (phantom.N_TRAIN, phantom.N_TEST, 0) else "")
    return (f"run the command from a folder you can write to (cd there; scripts/run_default.sh always "
            f"runs in the checkout: call {python_command('drac_ssl.train')} itself), or make the set "
            f"once where you can write, {python_command('data_prep')} phantom --out DIR{options}, and "
            f"set data.root=DIR")


def _read_only_words(folder: Path) -> str:
    """``"on a read-only file system"`` (a read-only mount: ``os.statvfs``'s ``ST_RDONLY``) or
    ``"not writable by this account"``, for a folder this process cannot write in."""
    try:
        mounted = bool(os.statvfs(folder).f_flag & getattr(os, "ST_RDONLY", 1))
    except (OSError, AttributeError):  # no statvfs on Windows
        mounted = False
    return "on a read-only file system" if mounted else "not writable by this account"


def cpu_pretrain_seconds(pairs: int, image_size: int, cifar_stem: bool = False,
                         stem_stride: int = 1) -> float:
    """Estimated seconds of VICReg pretraining (ResNet-18, fp32, one thread) for ``pairs``
    image pairs of ``image_size`` px crops on the CPU: ``0.0047 + 5.6e-5 * m**2`` seconds a
    pair, ``m`` the side of the maps after the stem: ``image_size / 4`` through the ImageNet
    stem (stride-2 conv and max-pool; the same as ``0.0047 + 3.5e-6 * image_size**2``),
    ``image_size / stem_stride`` through the CIFAR stem (``cifar_stem``: no downsampling, so
    a 28 px crop costs what a 112 px one does through the ImageNet stem). Steps only: the
    augmentation and the monitors come on top. Another CPU differs: a warning's yardstick only.

    Fitted to the development machine's step times (``bench/results/cpu_precision.json``,
    ImageNet stem: 2.9 s per 16 pairs at 224 px, 0.61 s per 32 at 64 px; it predicts 28 px
    8 % high: 7.4 ms a pair against 6.9). The CIFAR stem checked on 2026-12-03 on the same
    2-core machine, shared with other jobs (load 2-5): ``pretrain.train_step`` on random views,
    fp32, one thread, settings interleaved within each of 4-5 rounds (the method of
    ``bench/cpu_precision.py``); per pair, fastest rounds: 28 px CIFAR stem
    (``configs/mnist.yaml``) 70 ms at batch 32, 86 ms at 256; 32 px CIFAR stem
    (``configs/cifar10.yaml``, batch 32) 86 ms; 64 px ImageNet stem (``configs/default.yaml``)
    38 ms; 224 px 324 ms. Against the 64 px pair of the same rounds (1.9-2.3x for 28 px,
    2.3x for 32 px) and its unshared 19.2 ms: 36-44 ms and 44 ms, where this gives 48.6 and
    62 ms (10-40 % high; the ImageNet stem at 28 px measured 14 ms, 0.37x, as it predicts).
    A 2-epoch x 2-step ``configs/mnist.yaml`` run there (``on_gpu`` augmentation on the CPU,
    the machine shared) saw 8-10 pairs/s: 100-125 ms a pair of wall time."""
    side = image_size / stem_stride if cifar_stem else image_size / 4
    return pairs * (0.0047 + 5.6e-5 * side ** 2)


GENERIC_CPU_TRY = ("docs/data.md's CPU command for this config (docs/data.md#correctness-configs-on-a-cpu: "
                   "pretrain.epochs=2 pretrain.max_steps_per_epoch=10 pretrain.batch_size=32 ... "
                   "run.keep_checkpoints=false)")
"""The CPU time warning's first fix for a generic data set's config (MNIST, Fashion-MNIST,
CIFAR-10): docs/data.md's short CPU command, not the README's tiny first try, which is a
command of the DRAC job."""


def _check_cpu_time(c: _Findings, cfg: Config, n_images: int) -> None:
    """A pretraining of more than an hour on the CPU (estimated by :func:`cpu_pretrain_seconds`),
    said before it starts: the GPU recipe on a CPU runs for hours."""
    pc = cfg.pretrain
    if pc.batch_size <= 0 or pc.epochs <= 0:
        return
    steps = n_images // pc.batch_size
    if pc.max_steps_per_epoch > 0:
        steps = min(steps, pc.max_steps_per_epoch)
    bb = pc.backbone
    seconds = cpu_pretrain_seconds(pc.epochs * steps * pc.batch_size, pc.augment.image_size,
                                   bool(bb.cifar_stem), int(bb.stem_stride))
    if seconds < 3600:
        return
    stem = ""
    if bb.cifar_stem:
        side = pc.augment.image_size // max(int(bb.stem_stride), 1)
        stem = (f" through the CIFAR stem ({side} x {side} maps after it, as a "
                f"{side * 4} px crop through the ImageNet stem: "
                f"{1000 * cpu_pretrain_seconds(1, pc.augment.image_size, True, int(bb.stem_stride)):.0f} "
                f"ms a pair)")
    images = ""
    if cfg.data.dataset in GENERIC_DATASET_SIZES:
        images = f" ({n_images} training images)"
    c.warning("pretrain.epochs",
              f"about {seconds / 3600:.0f} hours of {PRETRAIN_METHOD} pretraining on the CPU: at most "
              f"{pc.epochs} epochs x {steps} steps of {pc.batch_size} pairs{images} at "
              f"{pc.augment.image_size} px{stem} (estimated from the development machine's one-thread "
              f"step times, bench/results/cpu_precision.json: 2.9 s per 16 pairs at 224 px; more "
              f"threads take less, a shared CPU more; UMM and fine-tuning come on top)",
              "a GPU (run.device=cuda); or first " + (
                  GENERIC_CPU_TRY if cfg.data.dataset in GENERIC_DATASET_SIZES else
                  "the README's tiny first try: add --first-try to this command (every stage at a tiny "
                  f"size, its figures mean nothing; {python_command('drac_ssl.train')} --help says what it "
                  "sets)")
              + "; or fewer epochs, smaller crops")


def _phantom_counts_out_of_range(cfg: Config) -> list[str]:
    """The phantom counts (``data.phantom_n_train``, ``data.phantom_n_test``) above their range
    (:data:`drac_ssl.config.PHANTOM_MAX_IMAGES`): the set they ask for is not planned, and the
    first pass (:func:`reading_refusal`) refuses them before torch loads."""
    return [s for s in ("data.phantom_n_train", "data.phantom_n_test")
            if get(cfg, s) > config_module.PHANTOM_MAX_IMAGES]


def _facts_from_phantom(cfg: Config) -> DataFacts:
    from data_prep.phantom import plan_phantom

    d = cfg.data
    # values out of range are errors of their own (the ranges): the plan is made of valid ones
    plan = plan_phantom(max(d.phantom_n_train, 0), max(d.phantom_n_test, 0),
                        min(max(d.phantom_seed, 0), config_module.SEED_MAX))
    names = _grade_names(cfg, "drac")
    counts = {g: 0 for g in range(len(names))}
    for case in plan.train:
        counts[case.grade] = counts.get(case.grade, 0) + 1
    channels, why = _channels_setting(cfg, "1")  # the DRAC layout's default
    return DataFacts(
        source=f"the phantom set (data.phantom_n_train={d.phantom_n_train}, "
               f"data.phantom_n_test={d.phantom_n_test})",
        n_images=len(plan.train) + len(plan.test), n_test=len(plan.test), grade_counts=counts,
        grade_names=names,
        cache_sizes=sorted(set(d.cache_sizes)), channels=1 if channels is None else channels,
        channels_why=why if channels is not None else "the phantom images are grey",
        phantom_n_train=d.phantom_n_train)


def phantom_train_for_folds(n_folds: int, n_train: int) -> int | None:
    """The fewest phantom training images, at least ``n_train``, whose grades
    (:func:`data_prep.phantom.balanced_grade_counts`) hold ``n_folds`` images each, so that
    stratified ``n_folds``-fold cross-validation validates every grade in every fold; None
    when none up to :data:`~drac_ssl.config.PHANTOM_MAX_IMAGES` does."""
    from data_prep.phantom import balanced_grade_counts

    return next((n for n in range(max(n_train, 0), config_module.PHANTOM_MAX_IMAGES + 1)
                 if min(balanced_grade_counts(n)) >= n_folds), None)


_OCTA_RECIPE_WORDS = "made for grey UW-OCTA scans (its normalisation and colour handling)"


def _fundus_config_fix() -> str:
    """``-c fundus (colour photographs: ...)``: the shipped fundus config as ``-c`` takes it here
    (:func:`drac_ssl.config.shipped_config_word`: its name from any folder, its path where a
    file in the current folder takes the name), ``configs/fundus.yaml`` where no shipped one
    is (an install that lost its configs)."""
    word = shipped_config_word("fundus.yaml") or "configs/fundus.yaml"
    return f"-c {word} (colour photographs: the fundus recipe, the data's channels, the ICDR grades)"


def _fundus_recipe_fix(cfg: Config) -> str:
    """The fix of the octa recipe on fundus photographs: the fundus config (``-c fundus``,
    :func:`_fundus_config_fix`), or the recipe
    alone, or with ``pretrain.backbone.in_channels=3`` when the backbone takes 1 channel (the
    1-channel error's fix says the same: :func:`_fundus_channels_fix`)."""
    if cfg.pretrain.backbone.in_channels == 1 and str(cfg.data.channels) != "1":
        return (f"{_fundus_config_fix()}, or pretrain.augment.recipe=fundus "
                "pretrain.backbone.in_channels=3 together; unless octa is meant")
    return f"{_fundus_config_fix()}, or pretrain.augment.recipe=fundus alone; unless octa is meant"


def _fundus_channels_fix(cfg: Config, ingested: bool) -> str:
    """The fix of a 1-channel backbone (``pretrain.backbone.in_channels=1``, as
    ``configs/drac.yaml`` sets it) on colour fundus photographs: the fundus config, or the
    overrides that together make it run (the recipe too while it is octa: the preflight's
    recipe warning says the same, :func:`_fundus_recipe_fix`), or the photographs converted
    to grey (``data.channels=1``; once ``ingested``, in a new run folder: the ingest is redone).
    Before the ingest ``-c fundus`` comes first; after it, the overrides (they
    keep the data settings, so the ingest is reused)."""
    overrides = "pretrain.backbone.in_channels=3" + (
        " pretrain.augment.recipe=fundus" if cfg.pretrain.augment.recipe == "octa" else "")
    together = f"{overrides} together" if " " in overrides else overrides
    grey = ("data.channels=1 to train on the photographs converted to grey"
            + (" (in a new run folder, run.name=<a new name>: the ingest is redone)" if ingested else ""))
    if ingested:
        return f"{together} (the ingest is reused), or {_fundus_config_fix()}; or {grey}"
    return f"{_fundus_config_fix()}, or {together}; or {grey}"


def _fundus_before_decoding(d: Any, layout: Any) -> bool:
    """Whether the data is known to be fundus photographs before any image is decoded: said
    so (``data.modality=fundus``) or a fundus layout under ``data.modality=auto``."""
    return d.modality == "fundus" or (d.modality == "auto" and layout.fundus)


def _recipe_after_ingest(c: _Findings, cfg: Config, data_dir: Path, ingest_ran: bool = True) -> None:
    """The octa recipe on data the ingest found to be fundus photographs (a trial: a plain
    folder of colour photographs under ``data.channels=auto``, fundus by the ingest's rule,
    pretrained with the grey UW-OCTA recipe without a word). ``ingest_ran``: the ingest ran in
    this invocation, whose first preflight has said it already when the layout told before
    decoding; else (a rerun, the ingest skipped) it is said whatever told it."""
    if cfg.pretrain.augment.recipe != "octa":
        return
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    if (summary.get("modality") or {}).get("value") != "fundus":
        return
    from data_prep.layout import FUNDUS_LAYOUTS, discover
    from data_prep.problems import IngestError

    said_before = False
    if ingest_ran:
        try:
            said_before = _fundus_before_decoding(cfg.data, discover(cfg.data))
        except (IngestError, OSError):  # the data moved since: judge by the layout the ingest recorded
            said_before = cfg.data.modality == "fundus" or summary.get("layout") in FUNDUS_LAYOUTS
    if not said_before:
        c.warning("pretrain.augment.recipe",
                  f"the ingest found colour fundus photographs ({data_dir / 'ingest_summary.json'}: "
                  f"modality fundus), but the augmentation recipe is octa, {_OCTA_RECIPE_WORDS}",
                  _fundus_recipe_fix(cfg) + " (the ingest is reused when the same command is rerun)")


def _facts_from_layout(c: _Findings, cfg: Config) -> DataFacts | None:
    """The images and labels of ``data.root`` as the ingest will find them (folder listing and
    label CSV only); the problems the ingest would stop on are reported now."""
    from data_prep import ingest
    from data_prep.layout import FUNDUS_LAYOUTS, discover
    from data_prep.problems import (
        IngestError,
        as_config_keys,
        in_line_order,
        more_of_a_kind,
        shown_with_rest,
    )
    from data_prep.validate import zero_word_empty_grade

    d = cfg.data
    try:
        layout = discover(d)
    except IngestError as exc:
        c.error("data.root", as_config_keys(str(exc)).replace(" -> ", "\n     fix: ")
                + _shipped_relative_root(cfg, c.sources))
        return None
    names = _grade_names(cfg, layout.treated_as)
    columns = (f" (its label CSV has the {layout_name(layout.label_format)} layout's columns)"
               if layout.label_format else "")
    said_layout = f"the {layout_name(layout.kind)} layout{columns}"
    if _fundus_before_decoding(d, layout) and cfg.pretrain.augment.recipe == "octa":
        c.warning("pretrain.augment.recipe",
                  f"{said_layout} holds fundus photographs, but the augmentation recipe is "
                  f"octa, {_OCTA_RECIPE_WORDS}", _fundus_recipe_fix(cfg))
    try:
        # data.ungradable and data.missing as the ingest
        collected = ingest.collect_images(d, layout, names)
        # a plain folder's 0..4 grades read as ICDR's, as the ingest will (infer_icdr)
        inferred = ingest.infer_icdr(d, layout, names, collected)
        grades_inferred = ""
        if inferred is not None:
            collected, names = inferred[0], config_module.GRADE_SCALES["icdr"]
            grades_inferred = as_config_keys(f"{inferred[1].what} -> {inferred[1].fix}")
        entries, problems, table, _, missing = collected
        # no training or test image (study/ holding images/ and labels.csv), decided as the
        # ingest does before data.unlabelled's images join: those are no such images
        no_images = (not entries and not any(p.severity == "error" for p in problems))
        pool, found = ingest.collect_unlabelled(d, layout.root)  # data.unlabelled (listing only)
        entries, problems = entries + pool, problems + found + ingest.empty_image_files(entries + pool)
    except IngestError as exc:
        c.error("data.root", as_config_keys(str(exc)).replace(" -> ", "\n     fix: "))
        return None
    if config_module.grades_problem(d.grades)[0]:  # said as data.grades' own error
        problems = [p for p in problems if not _on_the_fallback_scale(p)]
    blocking = in_line_order([p for p in problems if p.severity == "error"])
    # a label CSV beside a training folder without an image (its images one folder too deep):
    # the ingest's stop, which names the subfolder; the counts of an empty training set would
    # only add batch-size errors and 'no labelled images: give the label CSV' that mislead
    no_training = any(p.kind == "no-training-images" for p in blocking)
    if no_images or no_training:
        # the ingest's own stop, with the likely root (study/ holding images/ and labels.csv):
        # beside data.unlabelled's errors if any, not the '0 images' findings that would follow
        if no_images:
            c.error("data.root", as_config_keys(ingest.no_images_message(layout)).replace(
                " -> ", "\n     fix: ", 1))
        else:
            blocking.sort(key=lambda p: p.kind != "no-training-images")  # the headline first
        for problem, rest in shown_with_rest(blocking):
            c.error("", as_config_keys(problem.line).replace(" -> ", "\n     fix: ", 1))
            if rest:
                c.add("error", "", as_config_keys(more_of_a_kind(rest)), "", count=len(rest))
        return None
    # the train command's data settings as the ingest's flags, so it runs as printed and
    # checks what the ingest stage will (review s52 F6), into a scratch folder of its own
    scratch = Path(tempfile.gettempdir()) / "drac_ssl-ingest-check"
    # as the ingest stage is given it: data.modality auto is fundus under the fundus recipe
    command = ingest_command(dataclasses.replace(d, modality=config_module.ingest_modality(config_module.to_dict(cfg))),
                             scratch)
    for problem, rest in shown_with_rest(blocking):  # at most 10 of a kind, as the ingest prints them
        c.error("", _grades_located(c, cfg, problem, as_config_keys(problem.line)).replace(" -> ", "\n     fix: ", 1))
        if rest:
            c.add("error", "", as_config_keys(more_of_a_kind(rest)),
                  f"{command} lists every one in {scratch / 'ingest_problems.txt'}",
                  count=len(rest))
    if blocking:
        from data_prep.layout import contents_compared  # noqa: PLC0415

        opened = ("the image files were not decoded yet (only the bytes of names differing in case "
                  "or form compared)" if contents_compared(p.line for p in blocking) else
                  "the image files themselves were not opened yet")
        c.warning("", f"{opened}: the ingest stage decodes "
                      "and checks every one (truncated, corrupt, unreadable) once these are fixed",
                  # the ingest stops on these too, before decoding (a trial: 6 min of decoding
                  # 1,500 images before them): once they are fixed it checks the files
                  f"once these are fixed, to check the image files alone: {command}")
    labelled = [e for e in entries if e.split == "train" and e.label is not None
                and e.label.grade is not None]
    if config_module.referable_from_problem(d.referable_from, d.grades)[0]:
        # data.referable_from refused beside data.grades (its own error): the labels counted as
        # they are, on data.grades' scale, not made two grades (a false "grade 2 (PDR): no labelled
        # image" beside 3 of them: small-set review F6)
        labelled = [dataclasses.replace(e, label=dataclasses.replace(e.label, grade=e.label.source_grade))
                    if e.label is not None and e.label.source_grade is not None else e for e in labelled]
    counts = {g: 0 for g in range(len(names))}
    for e in labelled:
        assert e.label is not None and e.label.grade is not None
        counts[e.label.grade] = counts.get(e.label.grade, 0) + 1
    patients_per_grade: dict[int, int] | None = None
    n_patients: int | None = None
    patients_from = ""
    image_patients = None
    # as the ingest will: data.patient_column, else the patient column the layout owns
    # (DeepDRiD's), or both eyes of a patient (EyePACS's <patient>_left / _right) share a fold
    if d.patient_column or ingest.own_patients(layout, d, labelled, "")[0]:
        patients_from = _patients_words(layout.treated_as, layout.patient_column, d.patient_column)
        image_grades = [e.label.grade for e in labelled if e.label is not None and e.label.grade is not None]
        patient_ids = ingest.image_patients(labelled)
        patients_per_grade, n_patients = _patient_counts(image_grades, patient_ids, counts)
        image_patients = tuple(zip(image_grades, patient_ids, strict=True))
    sites = ingest.fold_sites(labelled, d)  # as the ingest's folds will split on them
    image_sites = tuple(sites) if sites is not None else None
    grade_rows: dict[int, list[tuple[str, int]]] = {}
    if layout.labels_csv is not None and layout.npz is None:  # the rows a fix can name
        for e in labelled:
            assert e.label is not None and e.label.grade is not None
            grade_rows.setdefault(e.label.grade, []).append((e.label.name, e.label.line))
    channels, why = _channels_setting(cfg, layout.default_channels)
    where = f"{layout.labels_csv or layout.npz or layout.root}"
    # Rows without an image are the only label problems (a partial download): the counts of the
    # rows that have one are what a copy of the CSV with only those rows gives, so the fold
    # checks run on them now and their problems come in the same list, not after the trimming.
    only_missing = bool(blocking) and all(p.kind == "no-image" for p in blocking)
    if only_missing:
        where += f", counting only its {counted(len(labelled), 'row')} with an image"
    # no training folder (DRAC): the layout's note says where the training images go
    no_train = [p for p in layout.problems if p.kind == "no-training-set"]
    n_test = sum(1 for e in entries if e.split == "test")
    return DataFacts(source=where, n_images=len(entries), n_test=n_test,
                     n_unlabelled=len(pool), grade_counts=counts,
                     left_out_grades=ingest.left_out_grades(missing), grade_names=names,
                     zero_left_out=zero_word_empty_grade(table),
                     grades_inferred=grades_inferred,
                     patients_per_grade=patients_per_grade, n_patients=n_patients,
                     patients_from=patients_from, image_patients=image_patients, image_sites=image_sites,
                     cache_sizes=sorted(set(d.cache_sizes)), channels=channels, channels_why=why,
                     labels_known=not blocking or only_missing, grade_rows=grade_rows,
                     labels_name=layout.labels_csv.name if grade_rows and layout.labels_csv else "",
                     no_labels=(as_config_keys(no_train[0].what.partition(": ")[2]),
                                as_config_keys(no_train[0].fix)) if no_train else ("", ""),
                     no_test=_no_test_images(layout) if n_test == 0 else ("", ""),
                     no_test_layout=("a DRAC 2022 layout" if layout.kind == "drac"
                                     else f"an {layout_name(layout.kind)} layout"),
                     # a fundus download's photographs are colour (a plain folder, said to be
                     # fundus by data.modality or by its CSV's columns alone, may hold grey
                     # ones: told by decoding; review s52c F5)
                     fundus_why=(f"{said_layout} holds colour fundus photographs"
                                 if layout.kind in FUNDUS_LAYOUTS and d.modality != "octa" else ""))


def _no_test_images(layout: Any) -> tuple[str, str]:
    """``(why, fix)`` of a layout (:class:`data_prep.layout.Layout`) whose download holds a
    testing set (:data:`data_prep.layout.TEST_SPLIT_LAYOUTS`: DRAC, APTOS, EyePACS, IDRiD)
    without a test image: the ingest's no-testing-set note (where it looked; where the
    testing set goes, or the unzip command of ``DRAC2022_Testing_Set.zip`` lying there), or
    its testing folder empty; ``("", "")`` for the other layouts (a plain folder, DeepDRiD,
    MedMNIST: no test split by design)."""
    from data_prep.layout import TEST_SPLIT_LAYOUTS
    from data_prep.problems import as_config_keys

    if layout.kind not in TEST_SPLIT_LAYOUTS:
        return "", ""
    said = [p for p in layout.problems if p.kind == "no-testing-set"]
    if not said and layout.test_dir is None:  # two folders match its name: that error says it
        return "", ""
    if not said:
        return (f"its testing folder {layout.test_dir} holds no image",
                f"put the test images in {layout.test_dir}")
    fix = said[0].fix.removesuffix("; without it no submission is written")
    return as_config_keys(said[0].what.partition(": ")[2]), as_config_keys(fix)


_GENERIC_RECIPES = {1: "mnist", 3: "cifar"}
"""The recipe of a generic data set's channels (configs/mnist.yaml, fashion_mnist.yaml: mnist;
configs/cifar10.yaml: cifar)."""


def _check_recipe_channels(c: _Findings, cfg: Config, channels: int) -> None:
    """A warning, not a refusal, when the augmentation recipe's default channels
    (:data:`drac_ssl.eval_input.RECIPE_CHANNELS`) differ from a generic data set's: a grey
    recipe (octa, mnist) on CIFAR-10's colour photographs ran without a word (a course review),
    its views built for grey images."""
    from drac_ssl.eval_input import RECIPE_CHANNELS

    recipe = cfg.pretrain.augment.recipe
    meant = RECIPE_CHANNELS.get(recipe)
    if meant is None or meant == channels:
        return
    words = {1: "grey (1 channel)", 3: "RGB colour (3 channels)"}
    c.warning("pretrain.augment.recipe",
              f"the {recipe} recipe is made for {words.get(meant, f'{meant} channels')} images, but "
              f"data.dataset={cfg.data.dataset} images are {words.get(channels, f'{channels} channels')}",
              f"pretrain.augment.recipe={_GENERIC_RECIPES[channels]} (the "
              f"{'colour' if channels == 3 else 'grey'} recipe of configs/{cfg.data.dataset}.yaml)")


def _check_generic_files(c: _Findings, cfg: Config) -> None:
    """The files of a generic data set that the pretraining reads (the training split; the
    test split too for the k-NN monitor), looked up as its loader looks them up
    (:func:`drac_ssl.datasets.generic_files`), with the loader's message; an IDX file (MNIST,
    Fashion-MNIST) is decompressed to its end and its length checked against its header
    (:func:`drac_ssl.datasets.check_idx_whole`, about 0.2 CPU s for the largest), so a
    truncated copy stops here, not inside the pretraining stage after its run folder exists."""
    from drac_ssl.datasets import DatasetFormatError, check_idx_whole, generic_files

    d = cfg.data
    splits = ("train", "test") if cfg.pretrain.knn_every > 0 else ("train",)
    for split in splits:
        needed = " (the k-NN monitor's, pretrain.knn_every > 0)" if split == "test" else ""
        try:
            files = generic_files(d.dataset, Path(d.root).expanduser(), split)
        except FileNotFoundError as exc:
            what = str(exc).partition(" Nothing is downloaded")[0]  # the fix says it
            c.error("data.root", f"the {split} split{needed}: {what}",
                    "copy the files there or point data.root at the folder that holds them (nothing "
                    "is downloaded)" + (", or pretrain.knn_every=0 (no k-NN monitor)" if needed else ""))
            continue
        for path in files:
            if "idx" not in path.name:  # an .npz or CIFAR-10's archive / folder: its loader checks it
                continue
            try:
                check_idx_whole(path)
            except DatasetFormatError as exc:
                what, _, fix = str(exc).partition("\n  fix: ")
                c.error("data.root", f"the {split} split{needed}: {what}", fix)


def _data_facts(c: _Findings, cfg: Config, run_dir: Path, stages: list[str]) -> DataFacts | None:
    d = cfg.data
    if d.dataset in GENERIC_DATASET_SIZES:
        from drac_ssl.datasets import generic_train_count

        n, side, channels = GENERIC_DATASET_SIZES[d.dataset]
        counted = generic_train_count(d.dataset, Path(d.root).expanduser()) if d.root else None
        source = (f"the {d.dataset} training split ({counted} images in data.root)" if counted is not None
                  else f"the {d.dataset} training split (its published {n} images)")
        n = n if counted is None else counted
        if not d.root or not Path(d.root).expanduser().exists():
            c.error("data.root", f"data.dataset={d.dataset} reads its files from data.root, and "
                                 f"{'it is empty' if not d.root else 'that path does not exist'}",
                    f"data.root=<the folder (or archive) of {d.dataset}>; a relative path is "
                    f"read from the current folder, {Path.cwd()}" + _shipped_relative_root(cfg, c.sources))
        elif "pretrain" in stages:
            _check_generic_files(c, cfg)
        if "pretrain" in stages:
            _check_recipe_channels(c, cfg, channels)
        return DataFacts(source=source, n_images=n, native_size=side,
                         channels=channels, channels_why=f"{d.dataset} images")
    if d.dataset != "drac":
        return None  # a bad choice, reported by the choice check
    data_dir = run_dir / "data"
    if "ingest" in stages:
        if not d.root:
            _check_phantom_meant(c, cfg)
            _check_phantom_writable(c, cfg)
        if d.root:
            return _facts_from_layout(c, cfg)
        # a count beyond its range is its own error: no plan of a billion ids (it hung)
        return _facts_from_phantom(cfg) if not _phantom_counts_out_of_range(cfg) else None
    if (data_dir / "manifest.csv").is_file():
        if changed := manifest_change(data_dir):  # edited by hand: its rows say nothing of the data
            ingest = _status(run_dir).get("ingest")
            if not (isinstance(ingest, dict) and ingest.get("status") == "done"):  # else said once:
                c.error("", changed, redo_ingest_fix(data_dir))  # _check_finished_outputs
            return None
        _check_source_unchanged(c, run_dir, finetune_ahead="finetune" in stages, reuse=cfg.run.reuse)
        if "pretrain" in stages or "finetune" in stages:  # said after the ingest: again, each rerun
            _recipe_after_ingest(c, cfg, data_dir, ingest_ran=False)
        return _facts_from_ingest(c, cfg, data_dir)
    needing = [s for s in stages if s in TORCH_STAGES and (s != "umm" or cfg.umm.enabled)]
    if needing:
        c.error("run.stages", f"the {', '.join(needing)} stage(s) read the ingest output, but "
                              f"run.stages has no ingest and {data_dir / 'manifest.csv'} does not exist",
                _stages_fix(["ingest", *stages]))
    return None


def _check_source_unchanged(c: _Findings, run_dir: Path, finished: bool = False,
                            finetune_ahead: bool = False, reuse: str = "") -> None:
    """Warn when the images or labels under ``data.root`` changed since the run's finished
    ingest (:func:`data_prep.source_check.source_changes`): a resumed run goes on with the
    data as it was ingested, which is right for a resume, but not what a user who has just
    fixed a label expects; a ``finished`` run (every stage done) is rerun as nothing, which
    the user must hear too. A data root that is gone is said apart: the run's stages read the
    ingest's cache, not the images, so it needs nothing (and a finished run nothing at all).

    An error instead (a careless-user review, F4: a grade corrected during the pretraining was
    one warning among ~60 lines, and the fine-tuning used the old one) when the label CSV was
    edited and the fine-tuning is still ahead (``finetune_ahead``: in the stages to run) and
    has not started (no ``finetune`` entry in ``stages.json``, no ``finetune/`` folder): a
    finished ingest is never redone in place (its stages were made from it), so the fix is a
    new run folder for the corrected grades, or the label CSV put back to finish this one;
    the grades that changed are named (:func:`data_prep.source_check.grade_differences`: a row
    deleted, cut off, blanked or added is one too). Only when a grade differs, or the CSV cannot
    be compared with the ingest's grades: an edit that left the (image, grade) pairs as
    ingested (line endings, a byte-order mark, the row order, blank lines) is the warning,
    saying so; the warning names the differences otherwise. When the run's ingest was taken by ``run.reuse`` or ``reuse`` (the
    config's ``run.reuse``) is set, the new run's fix says to leave ``run.reuse`` out (with it
    the new run would take the old ingest again and stop here again)."""
    from data_prep.source_check import (
        BYTES_ONLY_WORDS,
        POOL_WORDS,
        differences_words,
        grade_differences,
        labels_edited,
        source_changes,
    )

    changes = source_changes(run_dir / "data")
    if not changes:
        return
    labels = labels_edited(run_dir / "data")
    grades = grade_differences(run_dir / "data") if labels is not None else None
    ingest = _status(run_dir).get("ingest")
    taken = ingest.get("reused_from", "") if isinstance(ingest, dict) else ""
    if (labels is not None and grades != [] and finetune_ahead and "finetune" not in _status(run_dir)
            and not (run_dir / "finetune").exists()):
        recorded = ((read_json_dict(run_dir / "data" / "ingest_summary.json") or {}).get("source_files")
                    or {}).get("labels_csv") or {}
        digest = str(recorded.get("sha256") or "")[:12]
        source = taken or reuse
        new_run = ("run the same command with run.name=<a new name> run.reuse='' (a new run "
                   f"without run.reuse: every stage runs again, its ingest made from the labels as "
                   f"they are now; with run.reuse it would take the ingest of {source}, made from "
                   f"the old grades, and stop here again)" if source else
                   "run the same command with run.name=<a new name> (a new run folder: every "
                   "stage runs, on the labels as they are now)")
        c.error("data.root",
                f"the label CSV {labels} was edited since this run ingested it"
                + (f" ({differences_words(grades)})" if grades
                   else " (its grades could not be compared with the ingest's)")
                + f", and the fine-tuning has not started: resumed, this run would fine-tune and be "
                  f"scored on the grades as they were ingested, not on the corrected ones (a finished "
                  f"ingest is never redone in {run_dir}: its stages were made from it)",
                f"to fine-tune on the corrected grades, {new_run}; to "
                f"finish this run on the grades as ingested, put {labels} back as it was"
                + (f" (SHA-256 {digest}...)" if digest else "") + " and rerun the same command")
        return
    if changes[0].startswith("the data root "):
        if finished:
            return
        c.warning("data.root", f"{changes[0]}. This run does not need it: its stages read the images "
                               f"as ingested, from {run_dir / 'data'}",
                  "nothing, to finish this run; to ingest the data in its new place, run the same "
                  "command with data.root=<its new place> and run.name=<a new name>")
        return
    if labels is not None and grades is not None:  # compared: only its bytes changed, or named
        said = f" ({BYTES_ONLY_WORDS})" if grades == [] else f" ({differences_words(grades)})"
        changes = [f"{ch}{said}" if ch.startswith(f"the label CSV {labels}") else ch for ch in changes]
    redo = (f"or delete {run_dir} and rerun without run.reuse (its ingest was taken from {taken}, "
            f"made from the old data)" if taken else f"or delete {run_dir} to redo this one")
    # only the ungraded pool's images changed: data.unlabelled is the setting to look at
    setting = "data.unlabelled" if all(POOL_WORDS in ch for ch in changes) else "data.root"
    c.warning(setting, f"the data changed since this run ingested it: {'; '.join(changes)}. "
                           + ("This run is finished: every stage was made from the data as it was "
                              "ingested, and nothing is rerun, so its results do not reflect the "
                              "changes" if finished else
                              "This run goes on with the data as it was ingested (its finished "
                              "stages were made from it) and does not read the changes"),
              f"to use the changed data, run the same command in a new run folder "
              f"(run.name=<a new name>, without run.reuse of this run, which would take its "
              f"ingest of the old data), {redo}")


def _pow2_at_most(n: int, cap: int) -> int:
    return max(2, min(cap, 2 ** int(math.log2(max(n, 2)))))


def _check_against_data(c: _Findings, cfg: Config, facts: DataFacts, stages: list[str],
                        ingest_runs: bool, folder_refused: bool = False) -> None:
    """The settings of the stages ``stages`` against the data ``facts`` say. ``folder_refused``:
    the run folder's configuration is refused already (a changed setting), so the run goes to a
    new folder whose ingest caches ``data.cache_sizes``: the cached sizes are checked against
    those, not against the refused folder's cache (whose sizes a fix would wrongly offer)."""
    pc, uc, ft, d = cfg.pretrain, cfg.umm, cfg.finetune, cfg.data
    umm_runs = "umm" in stages and uc.enabled
    ssl = "pretrain" in stages or umm_runs

    # the channels the backbone takes
    if ssl or "finetune" in stages:
        fundus_on_grey = bool(facts.fundus_why) and pc.backbone.in_channels == 1
        if facts.channels is not None and pc.backbone.in_channels not in (0, facts.channels):
            c.error("pretrain.backbone.in_channels",
                    f"the images have {facts.channels} channel(s) ({facts.channels_why}), the "
                    f"backbone's first convolution takes {pc.backbone.in_channels}",
                    _fundus_channels_fix(cfg, ingested=facts.ingest_dir is not None)
                    if fundus_on_grey else f"pretrain.backbone.in_channels={facts.channels}")
        elif facts.channels is None and fundus_on_grey:
            # data.channels=auto on a fundus layout: known before decoding that the colour
            # photographs stay colour; said now, not after the hours of the ingest (review s52 F5)
            c.error("pretrain.backbone.in_channels",
                    f"{facts.fundus_why} ({facts.channels_why}: kept in colour, 3 channels), "
                    f"but the backbone's first convolution takes 1 (the grey UW-OCTA setting)",
                    _fundus_channels_fix(cfg, ingested=False))

    # a run meant to end in a submission, with no test image to grade (a DRAC, APTOS,
    # EyePACS or IDRiD layout without its testing set): said before the hours of training,
    # not by the export stage at their end (a warning: a run may mean it)
    if "export" in stages and facts.no_test[0]:
        why, fix = facts.no_test
        kept = [s for s in cfg.run.stages if s != "export"]
        c.warning("data.root", f"{facts.no_test_layout} without test images ({why}): the export stage "
                               "will write no submission, after every other stage has run",
                  f"{fix}, then run the command again with run.name=<a new name> (this run, "
                  "once ingested, keeps its data without the testing set); or, to train without "
                  "a submission on purpose, "
                  + (_stages_fix(kept) if set(kept) & set(PIPELINE) else "leave export out of run.stages"))

    # batches of the self-supervised stages: every batch full (the last partial one is dropped)
    world = int(os.environ["WORLD_SIZE"]) if os.environ.get("WORLD_SIZE", "").isdigit() else 1
    world = max(1, world)
    pool = facts.n_images - (0 if pc.use_test_images or d.dataset != "drac" else facts.n_test)
    ungraded = (f" + {facts.n_unlabelled} ungraded (data.unlabelled; at most: the ingest leaves out "
                f"copies of other images)" if facts.n_unlabelled else "")
    pool_source = facts.source + (
        f": {facts.n_images - facts.n_test - facts.n_unlabelled} training{ungraded} + "
        f"{facts.n_test} test images (pretrain.use_test_images=true)"
        if pool == facts.n_images and facts.n_test else
        (f": {facts.n_images - facts.n_unlabelled} training{ungraded} images" if ungraded else "")
        if pool == facts.n_images else
        f"{ungraded and ' with' + ungraded[2:]}, less its {counted(facts.n_test, 'test image')} "
        "(pretrain.use_test_images=false)")
    if "pretrain" in stages and pc.batch_size >= 2:
        per_rank = pool // world
        if pc.batch_size > per_rank:
            sees = f"each of the {world} processes sees" if world > 1 else "pretraining draws from"
            c.error("pretrain.batch_size",
                    f"larger than the {counted(per_rank, 'image')} {sees} ({pool_source}); batches are "
                    f"always full (the last partial batch is dropped), so an epoch would have no step",
                    f"pretrain.batch_size={_pow2_at_most(per_rank, _DEFAULTS.pretrain.batch_size)}"
                    if per_rank >= 2 else "add images: pretraining needs at least 2")
    if umm_runs and uc.batch_size >= 2 and uc.batch_size > pool:
        c.error("umm.batch_size",
                f"larger than the {counted(pool, 'image')} UMM draws from ({pool_source}); batches "
                f"are always full, so an epoch would have no step",
                f"umm.batch_size={_pow2_at_most(pool, _DEFAULTS.umm.batch_size)}"
                if pool >= 2 else "add images: UMM needs at least 2")

    # the cached sizes the crops are cut from
    source = pc.augment.source_size
    cache_sizes, ingest_dir = facts.cache_sizes, facts.ingest_dir
    if folder_refused and ingest_dir is not None:  # the new run beside it caches data.cache_sizes
        cache_sizes, ingest_dir = sorted(set(d.cache_sizes)), None
    if cache_sizes is not None:
        # sizes data.cache_sizes may not hold are its own error: never offered in a fix here
        sizes = [s for s in cache_sizes if config_module.valid_cache_size(s)]
        where = ("data.cache_sizes" if ingest_dir is None
                 else f"the cache of {ingest_dir}")
        uses_cache = ssl or "finetune" in stages or "export" in stages
        if uses_cache and sizes and source not in sizes:
            larger = [s for s in sizes if s >= max(pc.augment.image_size, ft.image_size)]
            fix = f"pretrain.augment.source_size={(larger or sizes)[0]}"
            if ingest_dir is None:
                fix += f", or data.cache_sizes=[{', '.join(map(str, sorted({*sizes, source})))}]"
            c.error("pretrain.augment.source_size",
                    f"not a cached size: {where} holds {', '.join(f'{s} px' for s in sizes)}; the "
                    f"stages read the images from the cache at this size", fix)
        for setting, needed in (("pretrain.augment.image_size", ssl),
                                ("finetune.image_size", "finetune" in stages)):
            size = get(cfg, setting)
            if needed and size > source:
                bigger = [s for s in sizes if s >= size]
                fix = f"{setting}={source}"
                if bigger:
                    fix += f", or pretrain.augment.source_size={bigger[0]} (cached)"
                elif ingest_dir is None:
                    fix += f", or data.cache_sizes=[{', '.join(map(str, sorted({*sizes, size})))}] " \
                           f"and pretrain.augment.source_size={size}"
                c.error(setting, f"larger than the cached image it is cut from "
                                 f"(pretrain.augment.source_size={source}): every view would be "
                                 f"an upsampled crop, with no detail gained", fix)
    side = facts.native_size or source
    for setting, stage_runs in (("pretrain.augment.crop_scale", ssl),
                                ("finetune.crop_scale", "finetune" in stages)):
        scale = get(cfg, setting)
        if stage_runs and len(scale) == 2 and 0 < scale[0] <= 1:
            smallest = side * math.sqrt(scale[0] * 3 / 4)  # RandomResizedCrop's ratio 3/4..4/3
            if smallest < 1:
                low = math.ceil(4 / (3 * side * side) * 1000) / 1000
                c.error(setting, f"the smallest crop of a {side} px image would be "
                                 f"{smallest:.2f} px wide: it cannot be cut",
                        f"{setting}=[{max(low, 0.01):g}, {scale[1]:g}]")

    # labels: k-NN monitor, folds, cross-validation
    if not facts.labels_known:
        return  # the label problems are reported; counts made from them would mislead
    if "pretrain" in stages and pc.knn_every > 0 and d.dataset == "drac":
        present = [g for g, n in facts.grade_counts.items() if n > 0]
        if len(present) < 2:
            c.warning("pretrain.knn_every",
                      f"the k-NN monitor needs labelled images of at least two grades; "
                      f"{facts.source} has {facts.n_labelled} labelled image(s): it will not run",
                      "pretrain.knn_every=0")
    if d.dataset != "drac":
        return
    if config_module.grades_problem(d.grades)[0]:
        # data.grades is itself the error: the grades' names, counts per fold and the referable
        # cut would be said on the default scale it fell back to, which is nobody's scale
        return
    # data.referable_from refused (its own error): the grades counted per fold, and any without
    # an image, depend on the fix the user picks (data.grades=[] makes two grades of the labels;
    # data.referable_from off keeps data.grades' own): said once that is fixed, not first as a
    # stop the refusal's own first fix removes (small-set fix-up F2)
    per_grade = not config_module.referable_from_problem(d.referable_from, d.grades)[0]
    if per_grade and ingest_runs and d.n_folds >= 2:
        _check_folds(c, cfg, facts)
    elif per_grade and "finetune" in stages and facts.fold_grades:
        _check_ingest_folds(c, facts)
    if per_grade and (ingest_runs or "finetune" in stages) and facts.n_labelled:
        _check_empty_grades(c, facts, strict=ingest_runs and d.strict, ingest_runs=ingest_runs)
    if per_grade and "finetune" in stages and facts.n_labelled:
        _check_small_set(c, facts, d.n_folds)
    if "finetune" in stages:
        if facts.n_labelled == 0:
            why, fix = facts.no_labels
            c.error("run.stages", f"fine-tuning cross-validates on labelled training images, and "
                                  f"{facts.source} has none" + (f" ({why})" if why else ""),
                    f"{fix or 'give the label CSV (data.labels_csv)'}, or leave finetune and "
                    "export out of run.stages")
        elif facts.fold_sizes is not None and len(facts.fold_sizes) < 2:
            c.error("data.n_folds", f"the ingest in {facts.ingest_dir} put the labelled images in "
                                    f"{len(facts.fold_sizes)} fold(s); cross-validation needs 2 or more",
                    "rerun the ingest in a new run folder (another run.name) with data.n_folds=5",
                    value=d.n_folds)
        else:
            if facts.fold_sizes:
                smallest_train = facts.n_labelled - max(facts.fold_sizes.values())
            else:
                smallest_train = facts.n_labelled - math.ceil(facts.n_labelled / max(d.n_folds, 2))
            if 0 <= smallest_train < 2 and facts.n_labelled >= 2:
                c.error("data.n_folds", f"a fold would train on {smallest_train} labelled image(s) "
                                        f"({facts.n_labelled} in {facts.source}); fine-tuning needs 2 "
                                        f"or more", _too_few_to_fold_fix(facts.n_labelled, d.n_folds))
    if ("finetune" in stages and ft.keep == "inner" and facts.ingest_dir is not None
            and not c.has_error("data.n_folds")):
        _check_inner_split(c, cfg, facts.ingest_dir)
    if "finetune" in stages and facts.grade_names:
        # the referable cut needs the scale: said now, not after the pretraining
        try:
            cut = config_module.referable_cut(ft.referable_from, facts.grade_names)
        except ConfigError as exc:
            what, _, fix = str(exc).removeprefix("config: ").partition("\n  fix: ")
            what = what.split(" is ", 1)[-1]  # the finding names the setting and its value itself
            c.error("finetune.referable_from", f"{what} (the scale of {facts.source})", fix)
        else:
            names = tuple(str(n) for n in facts.grade_names)
            try:  # a bad form is refused as the config is read, or by config.validate (below)
                target = config_module.referral_target(ft.referral_target)
            except ConfigError:
                target = None
            if cut is None and target is not None:
                # a referral cut is on P(referable): the fine-tuning would refuse it after the pretraining
                c.error("finetune.referral_target",
                        f"{ft.referral_target} sets a cut on P(referable), but finetune.referable_from="
                        f"{ft.referable_from} gives no referable grades on the scale of {facts.source} "
                        f"({', '.join(names)})",
                        f"finetune.referable_from=R (referable = grade >= R, 1..{len(names) - 1}), or "
                        f"finetune.referral_target=off")
            elif cut is not None and target is not None and facts.grade_counts:
                # the cut is fitted on referable and other labelled images: both needed (a second
                # read: binary labels on the ICDR scale of a user's own YAML trained every fold first)
                above = sum(n for g, n in facts.grade_counts.items() if g >= cut)
                if above in (0, sum(facts.grade_counts.values())):
                    c.error("finetune.referral_target",
                            f"{ft.referral_target} sets a cut on P(referable), but "
                            f"{'none' if above == 0 else 'all'} of the labelled images of {facts.source} "
                            f"are referable (grade >= {cut}, finetune.referable_from={ft.referable_from})",
                            "finetune.referable_from=R with labelled images on both sides of R, or "
                            "finetune.referral_target=off")
            if (str(ft.referable_from).lower() == "auto" and len(names) == 5
                    and names != config_module.GRADE_SCALES["icdr"]):
                # five grades named otherwise: auto cannot tell they are ICDR's (a reviewer's catch)
                c.warning("finetune.referable_from",
                          f"auto gives no referable-DR figures on this scale ({', '.join(names)}): "
                          f"it recognises only the ICDR names "
                          f"({', '.join(config_module.GRADE_SCALES['icdr'])})",
                          "finetune.referable_from=2 if these are the ICDR grades (referable DR = "
                          "grade >= 2), or finetune.referable_from=off to silence this")


def _check_inner_split(c: _Findings, cfg: Config, data_dir: Path) -> None:
    """``finetune.keep=inner`` on an existing ingest (``data_dir``, its manifest): every fold's
    inner split drawn as the fine-tuning draws it (:func:`drac_ssl.finetune.inner_split_problem`),
    so a fold without one is refused now, not when the fine-tuning starts after the pretraining
    and UMM. The fix starts a new run taking the finished stages when the run folder holds any
    beyond the ingest (it refuses a changed setting), else sets the rule here."""
    from drac_ssl.finetune import inner_split_fix, inner_split_problem

    try:
        rows = read_manifest(data_dir / "manifest.csv", ("id", "grade", "split", "fold"))
    except (OSError, ValueError, csv.Error):
        return  # said by the ingest facts' own reading
    problem = inner_split_problem(cfg, rows)
    if problem:
        run_dir = data_dir.parent
        typed = user_typed(c.sources)
        c.error("finetune.keep", f"{problem.removeprefix('finetune.keep=inner: ').rstrip('.')} (the ingest in {data_dir})",
                inner_split_fix(run_dir, new_run=bool(blocking_outputs(run_dir)), typed=typed))


SMALL_GRADE = 10
"""A grade with fewer labelled images than this (or, when the folds group patients, fewer
patients) makes a small set's per-grade figures fragile: its one-vs-rest AUC's 95% interval
spans a third of the scale or more, one image more or less moves its recall by 10 points or
more, and each validation fold holds only a few of it (in 3 folds, 3 images put one in each).
Ten is the usual floor of events for a stable rate (the "10 events per variable" rule of
Peduzzi et al. 1996, J Clin Epidemiol 49:1373). Below it :func:`small_set_words` says so: a
note before the stages (:func:`_check_small_set`) and in report.md's "Read this first"."""


def small_set_words(grade_counts: dict[int, int], patients_per_grade: dict[int, int] | None,
                    names: tuple[str, ...] | list[str], n_folds: int | None, n_labelled: int,
                    of_patients: bool = False, unit: str = "patient") -> str | None:
    """What a small set's figures rest on, or None when every labelled grade has
    :data:`SMALL_GRADE` images or more (and patients, with ``patients_per_grade``): ``per-grade
    figures for PDR rest on 3 images (2 patients); NPDR on 12 images (7 patients)``, the
    commonest grades last left out; then, with ``n_folds`` 2, that each fold's model trains on
    half the ``n_labelled`` images. ``grade_counts``: labelled images per grade (0..K-1, a grade
    without any left out: the ingest's empty-grade warning says it); ``of_patients``: ``3 images
    of 2 patients`` (report.md's bold lead, which "Read this first" cuts at the first ``(``);
    ``unit``: what ``patients_per_grade`` counts, ``site`` when the folds keep sites whole with
    the site as the patient (leave-one-site-out: "of 2 sites", not "of 2 patients")."""
    small = [g for g, n in sorted(grade_counts.items())
             if n > 0 and (n < SMALL_GRADE or (patients_per_grade is not None
                                               and patients_per_grade.get(g, 0) < SMALL_GRADE))]
    if not small:
        return None

    def rests_on(g: int) -> str:
        images = counted(grade_counts[g], "image")
        if patients_per_grade is None:
            return images
        patients = counted(patients_per_grade.get(g, 0), unit)
        return f"{images} of {patients}" if of_patients else f"{images} ({patients})"

    small.sort(key=lambda g: grade_counts[g])  # the rarest first
    name = {g: str(names[g]) if g < len(names) else f"grade {g}" for g in small}
    words = (f"per-grade figures for {name[small[0]]} rest on {rests_on(small[0])}"
             + "".join(f"; {name[g]} on {rests_on(g)}" for g in small[1:]))
    if n_folds == 2:
        words += (f"; with data.n_folds=2 each fold's model trains on half the labelled images "
                  f"(about {n_labelled - math.ceil(n_labelled / 2)} of {n_labelled})")
    return words


def most_folds(grade_counts: dict[int, int], patients_per_grade: dict[int, int] | None) -> int:
    """The most folds, up to 5, that the set's rarest grade allows: its units (patients with
    ``patients_per_grade``, the folds grouping them, else labelled images), one per fold at
    least, as the preflight's fold check (:func:`_check_folds`) asks; 5 for an empty count."""
    units = [patients_per_grade.get(g, 0) if patients_per_grade is not None else n
             for g, n in grade_counts.items() if n > 0]
    return max(min([5, *units]), 0)


def small_set_fix(n_folds: int | None, most: int = 5) -> str:
    """What to do about :func:`small_set_words`' set: read, or add, not a setting that runs.
    With ``n_folds`` 2, the folds that train on more of the images: ``most``
    (:func:`most_folds`: the preflight refuses more) when above 2, else that 2 is the most
    this set allows (small-set review F1: data.n_folds=5 was suggested, then refused)."""
    folds = ""
    if n_folds == 2:
        folds = (f"; data.n_folds={most} trains each fold on {most - 1}/{most} of them" if most > 2 else
                 "; 2 folds is the most this set allows (each fold must hold at least one of every "
                 "grade's patients or images): more of the rarest grade allow more")
    return ("read those figures with their 95% intervals (report.md's per-grade AUC line gives them); "
            "more labelled images of those grades narrow them" + folds)


def _ingest_counts(data_dir: Path) -> tuple[dict[int, int], dict[int, int] | None, tuple[str, ...], int] | None:
    """(labelled images per grade, patients per grade or None, grade names, folds) of an
    existing ingest (its manifest and summary, counted as :func:`_facts_from_ingest` counts
    them); None when they cannot be read."""
    try:
        summary = json.loads((data_dir / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}
    summary = summary if isinstance(summary, dict) else {}
    names = tuple((summary.get("grades") or {}).get("names") or ())
    try:
        _, grades, folds, train, _, _, _ = _labels_from_manifest(data_dir / "manifest.csv",
                                                              len(names) if len(names) >= 2 else None)
        per_grade, _, _ = _ingest_patients(train, summary, grades, data_dir / "manifest.csv")
    except (OSError, ValueError, csv.Error):
        return None
    return grades, per_grade, names, len(folds)


def ingest_small_set_words(data_dir: Path, of_patients: bool = False) -> str | None:
    """:func:`small_set_words` of an existing ingest (:func:`_ingest_counts`; the folds it
    made); None when they cannot be read."""
    counts = _ingest_counts(data_dir)
    if counts is None:
        return None
    grades, per_grade, names, folds = counts
    return small_set_words(grades, per_grade, names, folds, sum(grades.values()), of_patients,
                           unit="site" if _ingest_site_folds(data_dir) else "patient")


def _ingest_site_folds(data_dir: Path) -> bool:
    """Whether an existing ingest kept each site whole in one fold (``sites.folds`` ``whole``,
    leave-one-site-out) with each labelled image's patient its site (``--patient-column site
    --site-column site``), so that the units counted as patients are sites."""
    try:
        summary = json.loads((data_dir / "ingest_summary.json").read_text(encoding="utf-8"))
        sites = summary.get("sites") if isinstance(summary, dict) else None
        if not (isinstance(sites, dict) and sites.get("folds") == "whole"):
            return False
        with open(data_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
            rows = [row for row in csv.DictReader(fh) if row.get("split") == "train"]
    except (OSError, ValueError, csv.Error):
        return False
    return bool(rows) and all(row.get("patient") and row.get("patient") == row.get(SITE_COLUMN)
                              for row in rows)


def ingest_small_set_fix(data_dir: Path) -> str:
    """:func:`small_set_fix` of an existing ingest: its folds, and the most its rarest grade allows."""
    counts = _ingest_counts(data_dir)
    if counts is None:
        return small_set_fix(None)
    grades, per_grade, _, folds = counts
    return small_set_fix(folds, most_folds(grades, per_grade))


def _check_small_set(c: _Findings, facts: DataFacts, n_folds: int) -> None:
    """A note, before the stages, when :func:`small_set_words` finds a grade too small for firm
    per-grade figures (small-set review F1: a full run on 45 images, PDR 3 of them, said nothing
    of it before its hours; its result line gave only the QWK's interval)."""
    folds: int | None = len(facts.fold_sizes) if facts.fold_sizes else n_folds
    options = getattr(c.sources, "options", None) or {}
    if not facts.fold_sizes and isinstance(options.get("data.n_folds"), config_module.PresetOverride):
        folds = None  # --first-try's 2 folds, not the user's: its run's figures mean nothing anyway
    words = small_set_words(facts.grade_counts, facts.patients_per_grade, facts.grade_names, folds,
                            facts.n_labelled)
    if words:
        c.add("note", "", f"a small set ({facts.source}): {words}",
              small_set_fix(folds, most_folds(facts.grade_counts, facts.patients_per_grade)))


BINARY_ON_A_SCALE = 4
"""Labels of grades 0 and 1 only on a scale of this many grades or more (two or more grades
above them without an image) are refused before the ingest runs: :func:`_binary_on_a_scale`."""


def _scale_shipped(sources: dict[str, str] | None) -> bool:
    """Whether ``data.grades`` came from the defaults (the layout's scale, or ``default.yaml``'s)
    or from a shipped config (``-c fundus``: a file of :data:`drac_ssl.config.PACKAGE_CONFIGS`,
    or of the checkout's ``configs/``), not from the user: neither typed on the command line
    (a preset's too) nor set in a YAML file of their own (``-c my.yaml``) or a run's saved
    ``config.yaml`` (a resume reads the scale the run was made with)."""
    if "data.grades" in user_typed(sources, presets=True):
        return False
    where = (sources or {}).get("data.grades")
    if not where:
        return True  # the default: the layout's scale
    file, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return True  # not a file's line: not a place the user wrote it
    folder = Path(file).expanduser().resolve().parent
    return folder in {p.resolve() for p in (config_module.PACKAGE_CONFIGS, config_module.CHECKOUT_CONFIGS,
                                            config_module.INSTALLED_CONFIGS)}


def _binary_on_a_scale(c: _Findings, facts: DataFacts, ingest_runs: bool) -> bool:
    """Whether the empty grades of ``facts`` are the labels of a two-grade screening set read on
    a scale of :data:`BINARY_ON_A_SCALE` or more grades that the user did not choose
    (:func:`_scale_shipped`: ``data.grades`` from the defaults or a shipped config, not typed on
    the command line nor set in their own YAML file or a run's saved config): every labelled
    image grade 0 or 1 (none left out), every grade above empty.
    Nearly always the scale of the config file (``configs/fundus.yaml``'s ICDR) on binary labels,
    not a choice: the model would get K outputs for 2 kinds of image, its AUCs and the
    referable cut undefined, after hours of pretraining (a trial's binary set crashed the
    fine-tuning there). Labels that really are the lower grades of that scale are trained on
    all the same once ``data.grades`` is typed or set in one's own file (the error's fix; then
    the ingest's warning)."""
    k = len(facts.grade_names)
    counts = {g: facts.grade_counts.get(g, 0) + (facts.left_out_grades or {}).get(g, 0) for g in range(k)}
    return (ingest_runs and k >= BINARY_ON_A_SCALE and counts.get(0, 0) > 0 and counts.get(1, 0) > 0
            and not any(counts[g] for g in range(2, k)) and not facts.grades_inferred
            and _scale_shipped(c.sources))


def _check_empty_grades(c: _Findings, facts: DataFacts, strict: bool, ingest_runs: bool = False) -> None:
    """A grade of ``data.grades`` without a labelled image: the ingest's warning
    (:func:`data_prep.grades.empty_grades`), in settings; an error with ``data.strict=true``
    when the ingest will run, as the ingest then refuses the data, and an error too for binary
    labels on a scale of 4 or more grades the user did not choose (from the defaults or a shipped
    config: :func:`_binary_on_a_scale`; its fix also says how to keep the scale). Under
    ``data.referable_from`` the finding names that setting, where the two names came from."""
    from data_prep.grades import empty_grades
    from data_prep.problems import as_config_keys, warning

    found = empty_grades(facts.grade_counts, facts.grade_names, where=f" in {facts.source}",
                         left_out=facts.left_out_grades, zero_left_out=facts.zero_left_out)
    if found is None:
        return
    if not strict and _binary_on_a_scale(c, facts, ingest_runs):
        names = list(facts.grade_names)
        typed = shlex.quote(f"data.grades=[{', '.join(names)}]")
        found = (f"{found[0]}: every labelled image is grade 0 or 1, most likely the labels of a "
                 f"two-grade (e.g. screening) set read on this {len(names)}-grade scale; refused "
                 f"before any stage runs",
                 f"{found[1]}; if these labels are the lower grades of the {len(names)}-grade scale "
                 f"and you mean to train on it all the same, type it on the command line, {typed}, "
                 f"or set it in your own config file (then only a warning)")
        c.add("error", "data.grades", as_config_keys(found[0]), as_config_keys(found[1]),
              value=list(facts.grade_names))
        return
    problem = warning(facts.source, *found, "grades")
    problem = problem.strict() if strict else problem
    what = as_config_keys(problem.what)
    where = None
    if facts.grades_inferred:  # not the default scale: the one the ingest will infer, and why
        from data_prep.ingest import INFERRED_ICDR

        where, what = INFERRED_ICDR, f"{what}\nthe ingest's note: {facts.grades_inferred}"
    if c.cfg.data.referable_from:  # the two names came from data.referable_from, not data.grades
        c.add(problem.severity, "data.referable_from", what, as_config_keys(problem.fix), where=where)
        return
    c.add(problem.severity, "data.grades", what, as_config_keys(problem.fix),
          value=list(facts.grade_names), where=where)


def _check_folds(c: _Findings, cfg: Config, facts: DataFacts) -> None:
    k = cfg.data.n_folds
    grouped = facts.patients_per_grade is not None
    counts = facts.patients_per_grade if grouped else facts.grade_counts
    assert counts is not None
    unit = "patient" if grouped else "labelled image"
    if facts.n_labelled == 0:
        return
    if grouped and facts.n_patients is not None and facts.n_patients < k:
        c.error("data.n_folds", f"{facts.source} has {counted(facts.n_patients, 'patient')} "
                                f"({facts.patients_from or 'data.patient_column'}); no patient may be in "
                                f"two folds, so there are at most {counted(facts.n_patients, 'fold')}",
                f"data.n_folds={facts.n_patients}" if facts.n_patients >= 2 else
                "add labelled images of other patients: cross-validation needs at least 2 "
                "patients, one per fold")
        return
    short = {g: n for g, n in counts.items() if 0 < n < k}
    if short:
        # a fold count offered is checked on the patients (and sites) as the ingest will split
        # them; unchecked where the sites are not known (an existing ingest's facts)
        what, fix = _rare_grades_words(facts, short, unit, k,
                                       cfg.data.fold_seed if facts.sites_known else None)
        c.error("data.n_folds", what, fix)


def _too_few_to_fold_fix(n: int, n_folds: int) -> str:
    """The fix of ``n`` labelled images too few for ``n_folds`` folds (a fold would train on
    fewer than 2). More folds, not fewer, give each fold more images to train on (k folds of n
    images: each trains on n - ceil(n / k)); a review's 3 images in 2 folds were told
    ``data.n_folds=2``, the value in use. The fewest folds that would do (at most one per
    image), or, when none would, how many images cross-validation needs."""
    def trains(images: int, folds: int) -> int:
        return images - math.ceil(images / folds)

    more = [k for k in range(n_folds + 1, n + 1) if trains(n, k) >= 2]
    if more:
        k = more[0]
        return (f"data.n_folds={k} (more folds, not fewer, give each fold more to train on: {k} folds "
                f"of {n} images train on {trains(n, k)} each), or add labelled images")
    return ("add labelled images: cross-validation needs at least 3 (data.n_folds=3: each fold "
            "trains on the other folds' images, 2 or more)")


def _rare_grades_words(facts: DataFacts, short: dict[int, int], unit: str, k: int,
                       seed: int | None = None) -> tuple[str, str]:
    """(what is wrong, the fix, in settings) of the grades ``short`` (grade -> its ``unit``s,
    fewer than the ``k`` folds), said once for all of them: one grade in the ingest's words
    (:func:`data_prep.folds.rare_grade`, its note on such folds); several in one sentence
    (``grade 0 (Normal) has only 4 labelled images, grade 1 (NPDR) only 4 ...``), their
    fixes joined: the fold count that suits them all or more images of each, then, for a
    grade of one image (no fold count helps), its own fix: more images or a merge into a
    neighbouring grade. Several grades of one image get one fix for them all: more images of
    each, or merges one at a time, the first said in full (each merge renumbers the grades and
    names those left, so two merges said side by side would name different scales, each wrong
    once the other is made; the check says the next merge on the renumbered labels)."""
    from data_prep.folds import FOLD_UNITS, rare_grade_parts, single_image_minimum
    from data_prep.folds import checked_fold_count as checked
    from data_prep.grades import grade_label, merge_fix
    from data_prep.problems import as_config_keys

    def fold_flag(n: int) -> str:  # checked on the patient grouping (with ``seed``) where known
        if seed is None or facts.image_patients is None:
            return f"--folds {n}"
        return checked([g for g, _ in facts.image_patients], [p for _, p in facts.image_patients],
                       n, seed, facts.image_sites)

    fewest, where = min(short.values()), f" in {facts.source}"
    parts = {g: rare_grade_parts(g, facts.grade_names, n, unit, k, fewest, where=where,
                                 rows=facts.grade_rows.get(g, []), labels=facts.labels_name)
             for g, n in sorted(short.items())}
    labels = {g: grade_label(g, facts.grade_names) for g in parts}
    by_count = {g: folds for g, (_, folds, _) in parts.items() if folds is not None}
    fix = []
    joiner = "; and "
    if facts.phantom_n_train is not None:  # no label CSV to add to or merge in: fewer folds or more images
        bigger = phantom_train_for_folds(k, facts.phantom_n_train)
        single = []
        fix = [fold_flag(min(by_count.values()))] if by_count and not any(
            folds is None for _, folds, _ in parts.values()) else []
        if bigger is not None:
            fix.append(f"data.phantom_n_train={bigger} (the fewest phantom training images with at "
                       f"least {k} of every grade)")
        joiner = ", or "
    elif len(by_count) == 1:  # the ingest's words
        ((g, folds),) = by_count.items()
        fix.append(f"{fold_flag(folds)}, or {parts[g][2]}")
    elif by_count:
        more = config_module.in_words([labels[g] for g in by_count], "and")
        fix.append(f"{fold_flag(min(by_count.values()))}, or add labelled {more} {FOLD_UNITS[unit].more} "
                   f"(at least {k} of each for {k} folds)")
    if facts.phantom_n_train is None:  # one image: more, or a merge
        single = [g for g, (_, folds, _) in parts.items() if folds is None]
    if len(single) == 1:
        fix.append(parts[single[0]][2])
    elif single:  # one fix for them all: merges said side by side would each name the other's scale wrong
        first = single[0]
        merge = merge_fix(first, facts.grade_names, facts.grade_rows.get(first, []), facts.labels_name,
                          None if unit != "labelled image" else 1)
        fix.append(f"add labelled {config_module.in_words([labels[g] for g in single], 'and')} "
                   f"{FOLD_UNITS[unit].more} ({single_image_minimum(k, ' of each')})"
                   + (f", or merge each into a neighbouring grade, one at a time (a merge renumbers the grades: "
                      f"this check then says the next on the renumbered labels), the first: {merge}" if merge else ""))
    if len(parts) == 1:
        ((what, _, _),) = parts.values()
        return what, as_config_keys(joiner.join(fix))
    first, *rest = sorted(short)
    counts = [f"{labels[first]} has only {FOLD_UNITS[unit].count(short[first])}",
              *(f"{labels[g]} only {short[g]}" for g in rest)]
    without = [f"{counted(k - short[first], 'fold')} would validate without any {labels[first]} image",
               *(f"{k - short[g]} without any {labels[g]} image" for g in rest)]
    what = (f"{config_module.in_words(counts, 'and')}{where}; stratified {k}-fold cross-validation needs "
            f"at least {k} of every grade ({config_module.in_words(without, 'and')})")
    return what, as_config_keys(joiner.join(fix))


def _check_ingest_folds(c: _Findings, facts: DataFacts) -> None:
    """The folds an existing ingest made (its manifest), checked as :func:`_check_folds` checks
    the folds an ingest will make, so that fine-tuning on a standalone ``python -m data_prep
    ingest`` is refused where the same data are refused when the pipeline runs the ingest: a
    grade with fewer labelled images than folds (some validation folds hold none of it) is an
    error; a grade with enough images that still misses a fold (folds from an older ingest, or
    grouped by patient) is a warning."""
    from data_prep.folds import FOLD_UNITS, REDO_FOR_FOLD_GROUPS, rare_grade_parts
    from data_prep.grades import grade_label
    from data_prep.problems import as_config_keys

    assert facts.fold_grades is not None
    k = len(facts.fold_grades)
    if k < 2:
        return  # said by the fine-tuning check of the fold count
    missing = {g: sum(1 for per in facts.fold_grades.values() if not per.get(g))
               for g, n in facts.grade_counts.items() if n}
    short = {g: facts.grade_counts[g] for g, without in missing.items()
             if without and facts.grade_counts[g] < k}
    root = shlex.quote(facts.ingest_root) if facts.ingest_root else "DATA_ROOT"

    def redo(folds: str = "") -> str:
        return (f"{python_command('data_prep')} ingest --root {root} --out {shlex.quote(str(facts.ingest_dir))}"
                f"{f' --folds {folds}' if folds else ''} (its other options as before), or ingest "
                f"in run.stages of a new run folder (run.name=<a new name>"
                f"{f' data.n_folds={folds}' if folds else ''})")

    for g, n in sorted(short.items()):
        what, folds, fix = rare_grade_parts(g, facts.grade_names, n, "labelled image", k,
                                            min(short.values()), without=missing[g],
                                            where=f" in {facts.source}")
        if folds:  # the folds are the ingest's: redo it
            c.error("", what, f"redo the ingest with {folds} folds: {redo(str(folds))}; or "
                              f"{as_config_keys(fix)} and redo it")
        else:  # more images or a merge, said in the ingest's flags, since the ingest is redone
            c.error("", what, f"{fix}; then redo the ingest with those flags: {python_command('data_prep')} ingest "
                              f"--root {root} --out {shlex.quote(str(facts.ingest_dir))} (its other "
                              f"options as before), or, in a new run folder with ingest in run.stages "
                              f"(run.name=<a new name>), in settings: {as_config_keys(fix)}")
    gapped = [(g, without) for g, without in sorted(missing.items()) if without and g not in short]
    gaps = _ingest_fold_gaps(facts) if gapped else None  # read once, and only when needed
    for g, without in gapped:
        said = grade_label(g, facts.grade_names)
        if gaps is not None and gaps.units_unknown:  # twins kept together, no fold_group column
            fix = f"{REDO_FOR_FOLD_GROUPS}: {redo()}"
        elif gaps is None or gaps.redo_helps:  # this version's folds of these images fill them
            fix = (f"redo the ingest (this version stratifies the folds by grade, and its folds "
                   f"of these images hold every grade): {redo()}")
        elif g not in gaps.left_out:  # its images are of fewer units (patients, image groups) than folds
            n = gaps.units[g] if g < len(gaps.units) else 0
            unit = FOLD_UNITS[gaps.unit]
            fix = (f"{unit.held(n)}: add labelled {said} {unit.more} and redo the ingest"
                   + (f", or redo it with {n} folds: {redo(str(n))}" if n >= 2 else f": {redo()}"))
        else:  # redone as it was, the ingest makes the same folds: change what checked to work
            fix = _gap_redo_fix(gaps, root, facts)
        c.warning("", f"{facts.source}: {without} of its {k} folds validate without any {said} "
                      f"image, although it has {counted(facts.grade_counts[g], 'labelled image')}: "
                      f"their kappa and AUC leave {said} out", fix)


def _ingest_fold_gaps(facts: DataFacts) -> FoldGaps | None:
    """:func:`data_prep.folds.manifest_fold_gaps` of the existing ingest (its manifest, and the
    fold seed of its summary: ``redo_helps`` when this version's folds of them hold the grades
    left out), recomputed with the units the ingest split: patients, or its ``fold_group``
    column when it kept near twins together (``data.near_duplicate_mse``); not recomputed
    (``units_unknown``) when the summary says twins were kept together but the manifest has no
    ``fold_group`` (made before the column existed); None when the manifest cannot be read."""
    from data_prep.folds import (
        fold_row,
        manifest_fold_gaps,
        summary_fold_seed,
        summary_grouped,
        summary_twins_grouped,
    )

    assert facts.ingest_dir is not None
    try:
        rows = read_manifest(facts.ingest_dir / "manifest.csv", ("id", "grade", "split", "fold"))
    except (OSError, ValueError, csv.Error):
        return None
    try:
        summary = json.loads((facts.ingest_dir / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}  # its fold seed: the default
    labelled = labelled_rows(rows)
    train = [fold_row(r) for r in labelled]
    groups = [(r.get("fold_group") or "").strip() for r in labelled]  # data.near_duplicate_mse > 0
    sites = [(r.get("site") or "").strip() for r in labelled]  # data.site_column: split on, as the ingest did
    return manifest_fold_gaps(train, summary_fold_seed(summary), facts.grade_names, summary_grouped(summary),
                              groups, summary_twins_grouped(summary), sites)


def _gap_redo_fix(gaps: FoldGaps, root: str, facts: DataFacts) -> str:
    """The fixes of :func:`data_prep.folds.gap_fixes` (in flags) for a done ingest: redo it with
    the first, when a seed or fold count was checked to work (:attr:`FoldGaps.flag`), or, in a
    new run folder, the same in settings, then the other fixes; else more patients, then redo it."""
    from data_prep.problems import as_config_keys

    out = shlex.quote(str(facts.ingest_dir))
    if not gaps.flag:
        return (f"{gaps.fix}; then redo the ingest: {python_command('data_prep')} ingest --root {root} --out {out} "
                f"(its other options as before)")
    option, *others = gaps.fixes
    return (f"redo the ingest with {option}: {python_command('data_prep')} ingest --root {root} --out {out} "
            f"{gaps.flag} (its other options as before), or, in a new run folder with ingest in "
            f"run.stages (run.name=<a new name>), {as_config_keys(gaps.flag)}"
            + (f"; else {', or '.join(others)}, and redo it likewise" if others else ""))


def _check_weights(c: _Findings, cfg: Config, data_channels: int | None = None) -> None:
    """``pretrain.backbone.weights``: a local file that loads into the configured backbone.

    ``in_channels`` 0 takes the data's channels (``data_channels``); while those are unknown
    (``data.channels=auto`` before the ingest) only the file itself is read, and the shapes are
    checked when the pretrain stage loads it."""
    bb = cfg.pretrain.backbone
    if not bb.weights:
        return
    path = Path(bb.weights).expanduser()
    if not path.is_file():
        what = "is a folder, not a weights file" if path.is_dir() else "no such file"
        c.error("pretrain.backbone.weights", f"{what} ({path.absolute()}); nothing is ever downloaded",
                "the path of a local weights file (.pt, .pth, .ckpt, .bin, .safetensors), or "
                "pretrain.backbone.weights='' for random initialisation")
        return
    channels = bb.in_channels or data_channels
    if bb.arch not in config_module._CHOICES["pretrain.backbone.arch"] or bb.in_channels < 0:
        return  # reported on its own; the weights cannot be matched to an unknown model
    if not channels:
        from drac_ssl.weights_file import read_weights_file

        try:
            read_weights_file(path)
        except (ValueError, OSError) as exc:  # WeightsFileError is a ValueError
            c.error("pretrain.backbone.weights", f"cannot be read:\n     {exc}")
        return
    from drac_ssl.models import Backbone, PartialLoadWarning, load_local_weights

    try:
        with warnings.catch_warnings():
            # unexpected keys (a classifier) are fine here; other warnings (a deprecation) show
            warnings.simplefilter("ignore", PartialLoadWarning)
            load_local_weights(Backbone(bb.arch, channels, bb.cifar_stem, bb.stem_stride), path,
                               strict=True)
    except (ValueError, OSError) as exc:  # WeightsFileError is a ValueError
        c.error("pretrain.backbone.weights", f"cannot be loaded into the configured backbone "
                                             f"({bb.arch}, in_channels={channels}, "
                                             f"cifar_stem={_show(bb.cifar_stem)}):\n     {exc}")


def _listed(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def redo_fix(run_dir: Path, stage: str, missing: list[Path], reuse_set: bool = False,
             typed: dict[str, str] | None = None) -> str:
    """How to mend finished ``stage`` of ``run_dir`` whose output files ``missing`` are gone:
    restore them, or run the stage (and the later ones, made from its output) again in a new
    run folder (``run.name=NAME-2``) that takes the intact stages before it (``run.reuse``).
    ``reuse_set``: the run's config sets ``run.reuse`` (the new ingest clears it).

    The new run folder is said as every new-run fix says it
    (:func:`drac_ssl.runtime.command_changes`): ``add run.name=NAME-2 run.reuse=RUN to your
    command``, or ``replace run.name=NAME with run.name=NAME-2 ...`` for a run.name typed on
    it (``typed``: each setting typed -> its ``key=value`` word; None: those of the enclosing
    :func:`drac_ssl.runtime.typed_settings` block). A command the fix prints whole (the
    bundle's rebuild) names the running interpreter (:func:`drac_ssl.starting.python_word`)."""
    from drac_ssl.runtime import command_changes, new_run_pairs

    restore = f"restore {'it' if len(missing) == 1 else 'them'} (e.g. from a copy of this run folder)"
    if stage == "ingest":
        pairs = new_run_pairs(run_dir)[:1] + ([("run.reuse", "''")] if reuse_set else [])
        return (f"{restore}, or ingest the data again in a new run folder, where every stage runs: "
                f"{command_changes(pairs, typed)}")
    new_run = command_changes(new_run_pairs(run_dir), typed)
    if stage in ("pretrain", "umm"):
        return (f"{restore}, or run {stage} and the later stages again in a new run folder that takes "
                f"the stages before it: delete {run_dir / STAGE_OUTPUT_FOLDER[stage]} (the incomplete "
                f"output), then {new_run}")
    rebuild = (f"; only the bundle is incomplete: rebuild it from the fine-tuning, as the export stage does: "
               f"{rebuild_call(run_dir)}"
               if stage == "export" and all(p.parent == run_dir / "bundle" for p in missing) else "")
    return (f"{restore}, or run the fine-tuning and export again in a new run folder that takes this "
            f"run's ingest, pretraining and UMM (and reuses its fine-tuning folds that are intact): "
            f"{new_run}{rebuild}")


def _check_finished_outputs(c: _Findings, cfg: Config, run_dir: Path, stages: list[str]) -> None:
    """A stage ``stages.json`` records as done (a resume skips it) whose output files are
    gone (:func:`missing_outputs`): of the stages in ``run.stages`` and those before a stage
    that runs. Nothing would remake them, and a later stage or the user reads them."""
    status = _status(run_dir)
    last = max((PIPELINE.index(s) for s in stages if s in PIPELINE), default=-1)
    for at, stage in enumerate(PIPELINE):
        entry = status.get(stage)
        if not (isinstance(entry, dict) and entry.get("status") == "done"):
            continue
        if stage not in cfg.run.stages and at > last:
            continue
        gone = missing_outputs(run_dir, stage, entry)
        if gone:
            c.error("", f"{run_dir / 'stages.json'} records the {stage} stage as done, but its output "
                        f"is incomplete: {_listed(gone)} {'is' if len(gone) == 1 else 'are'} missing "
                        f"(a resume skips a finished stage, so nothing would remake "
                        f"{'it' if len(gone) == 1 else 'them'})",
                    redo_fix(run_dir, stage, gone, bool(cfg.run.reuse), c.typed()))
        elif stage == "ingest":
            recorded = entry.get("outputs", {}).get("manifest_sha256") if isinstance(entry.get("outputs"), dict) else None
            for path, why in changed_ingest_outputs(run_dir / STAGE_OUTPUT_FOLDER[stage], recorded):
                c.error("", f"{run_dir / 'stages.json'} records the ingest stage as done, but {path} "
                            f"is not what it wrote: {why} (a resume skips a finished stage, so "
                            f"nothing would remake it, and the stages after it would read it)",
                        redo_fix(run_dir, stage, [path], bool(cfg.run.reuse), c.typed()))


def changed_ingest_outputs(data_dir: Path, recorded: str | None = None) -> list[tuple[Path, str]]:
    """The files of a finished ingest in ``data_dir`` that are not what it wrote, each with why:
    ``manifest.csv`` whose SHA-256 is not the one ``ingest_summary.json`` records
    (:func:`drac_ssl.manifest.manifest_change`: edited by hand), or not ``recorded``, the one
    the run's ``stages.json`` recorded when its ingest stage finished (another ingest wrote
    manifest and summary anew since: ``python -m data_prep ingest --out RUN/data``, which a CLI
    review found a resume took as "already done"; a run made before the record gives none), and each
    ``cache/<size>px.npy`` of the summary whose byte count is not the one ``cache/state.json``
    records, or whose time and SHA-256 are not (:func:`drac_ssl.datasets.cache_array_change`:
    truncated, overwritten; an array whose time alone changed is hashed once, and its time set
    back when its content is the recorded one: a copy without its file times). An ingest that
    recorded neither (made before these records) gives nothing."""
    from drac_ssl.datasets import cache_array_change

    found: list[tuple[Path, str]] = []
    if why := manifest_change(data_dir):
        found.append((data_dir / "manifest.csv", why.split(": ", 1)[1]))
    elif isinstance(recorded, str) and recorded:
        try:
            digest = sha256_file(data_dir / "manifest.csv")
        except OSError:  # missing or unreadable: said by missing_outputs and the reader
            digest = recorded
        if digest != recorded:
            found.append((data_dir / "manifest.csv", (
                f"its SHA-256 {digest[:12]}... is not the {recorded[:12]}... that stages.json recorded "
                f"when the ingest stage finished: another ingest wrote it anew since (python -m "
                f"data_prep ingest --out {data_dir}?), so the stages after it were made from other data")))
    cache = (read_json_dict(data_dir / "ingest_summary.json") or {}).get("cache")
    for size in sorted(int(s) for s in cache if str(s).isdigit()) if isinstance(cache, dict) else []:
        if why := cache_array_change(data_dir, size):
            found.append((data_dir / "cache" / f"{size}px.npy", why))
    return found


START_CHECKPOINTS = {"last": "last.pt", "past_peak": "last.pt", "peak": "monitor_peak.pt"}
"""The file of ``pretrain/checkpoints/`` each ``umm.start_from`` but ``best`` starts UMM from
(:func:`drac_ssl.umm.source.resolve_start`)."""


def pretrain_checkpoints_needed(cfg: Config, status: dict[str, Any]) -> bool:
    """Whether a UMM stage of the run folder whose ``stages.json`` is ``status`` will still
    start from the pretraining's checkpoints (``umm.enabled``, ``umm.start_from`` other than
    ``best``, and the umm stage not done there): ``run.keep_checkpoints=false`` keeps them."""
    umm = status.get("umm")
    return (cfg.umm.enabled and cfg.umm.start_from in START_CHECKPOINTS
            and not (isinstance(umm, dict) and umm.get("status") == "done"))


def _check_checkpoints(c: _Findings, cfg: Config, run_dir: Path, stages: list[str]) -> None:
    """``umm.start_from=last|peak|past_peak`` needs a file of ``pretrain/checkpoints/``: when
    UMM will run on a pretraining that is not run now (finished in this folder, or taken by
    ``run.reuse``) and the file is gone (``run.keep_checkpoints=false`` removed it), an error
    naming it; ``run.keep_checkpoints=false`` while a later UMM of this folder needs them, a
    warning that they are kept until then."""
    name = START_CHECKPOINTS.get(cfg.umm.start_from)
    if name is None or not cfg.umm.enabled:
        return
    status = _status(run_dir)
    pretrain = status.get("pretrain") if isinstance(status.get("pretrain"), dict) else {}
    path = run_dir / "pretrain" / "checkpoints" / name
    # the pretraining finished (its output is there, else _check_stage_outputs says so) but its
    # checkpoints/ folder is gone (a missing file in it: the stage's own error says why)
    if ("umm" in stages and "pretrain" not in stages and not path.parent.is_dir()
            and (run_dir / "pretrain" / "vicreg_model.safetensors").is_file()):
        source = pretrain.get("reused_from")
        removed = pretrain.get("checkpoints_removed")
        if source:
            what = (f"the pretraining taken from {source} had its checkpoints removed there after the "
                    f"run finished (run.keep_checkpoints=false)" if removed else
                    f"the pretraining was taken from {source}, whose pretrain/checkpoints/ is gone")
            fix = ("umm.start_from=best (UMM starts from the pretraining's vicreg_model.safetensors), or "
                   "leave run.reuse out: the pretraining runs here again and keeps its checkpoints")
            path = Path(source) / "pretrain" / "checkpoints" / name
        else:
            what = ("the pretraining's checkpoints were removed after the run finished "
                    "(run.keep_checkpoints=false)" if removed else f"{path.parent} is gone")
            from drac_ssl.runtime import new_run_pairs

            fix = (f"run UMM from the default start in a new run folder that takes this run's stages: "
                   f"{c.command_changes([*new_run_pairs(run_dir), ('umm.start_from', 'best')])}; or "
                   f"pretrain again in a new run folder (run.name=<a new name>)")
        c.error("umm.start_from", f"UMM would start from {path}, which does not exist: {what}", fix)
    elif not cfg.run.keep_checkpoints and "umm" not in stages and pretrain_checkpoints_needed(cfg, status):
        c.warning("run.keep_checkpoints",
                  f"umm.start_from={cfg.umm.start_from} starts UMM from pretrain/checkpoints/{name}, and "
                  f"the umm stage does not run now: the pretraining's checkpoints are kept until the umm "
                  f"stage has run in this folder (umm's own are removed when it finishes)",
                  "add umm to run.stages, or umm.start_from=best (UMM starts from "
                  "vicreg_model.safetensors and the checkpoints go now)")


def _check_stage_outputs(c: _Findings, cfg: Config, run_dir: Path, stages: list[str]) -> None:
    """A stage whose input comes from an earlier stage that is not run must find its output."""
    umm_runs = "umm" in stages and cfg.umm.enabled
    if cfg.data.dataset != "drac":
        for stage in ("finetune", "export"):
            if stage in stages:
                c.error("run.stages", f"the {stage} stage grades images of an ingested DRAC-style "
                                      f"dataset; data.dataset={cfg.data.dataset} is read directly by "
                                      f"pretraining (evaluate it with k-NN / linear probes, "
                                      f"drac_ssl.evaluation)",
                        _stages_fix([s for s in stages if s in ("pretrain", "umm")] or ["pretrain"]))
                break
    needs = {
        "umm": ("pretrain", run_dir / "pretrain" / "vicreg_model.safetensors", umm_runs),
        "finetune": ("pretrain", run_dir / "pretrain" / "backbone.safetensors", "finetune" in stages),
        "export": ("finetune", run_dir / "finetune" / "summary.json", "export" in stages),
    }
    status = _status(run_dir)
    for stage, (before, output, runs) in needs.items():
        done = isinstance(status.get(before), dict) and status[before].get("status") == "done"
        # a finished stage whose output is gone: _check_finished_outputs says so, and how to mend it
        if runs and before not in stages and not done and not output.is_file():
            c.error("run.stages", f"the {stage} stage needs the {before} stage's output {output}, "
                                  f"which does not exist, and {before} is not in run.stages",
                    _stages_fix([*stages, before]))
    if (cfg.umm.enabled and "finetune" in stages and "umm" not in stages
            and not (run_dir / "umm" / "backbone.safetensors").is_file()):
        c.warning("umm.enabled", "UMM is enabled but the umm stage is not in run.stages and has no "
                                 "output in this run folder: fine-tuning compares without the "
                                 "vicreg_umm variant",
                  "add umm to run.stages (before finetune), or umm.enabled=false")


# --------------------------------------------------------------------------------------
# The stages' own validators, as a net under the checks above


_OPTION_SETTINGS = {"--folds": "data.n_folds", "--workers": "data.workers",
                    "--cache-sizes": "data.cache_sizes", "--sizes": "data.cache_sizes",
                    "--near-duplicate-mse": "data.near_duplicate_mse",
                    "--expected-side": "data.expected_side", "--referable-from": "data.referable_from"}
_SETTING_IN_TEXT = re.compile(r"\b((?:data|pretrain|umm|finetune|run)\.[a-z_][a-z0-9_.]*[a-z0-9_])")


def _setting_named(message: str) -> str:
    option = re.match(r"(--[a-z-]+)", message)
    if option and option.group(1) in _OPTION_SETTINGS:
        return _OPTION_SETTINGS[option.group(1)]
    found = _SETTING_IN_TEXT.search(message)
    return found.group(1) if found else ""


def _stage_validators(cfg: Config, stages: list[str]) -> list[tuple[str, Any]]:
    """(stage, check raising ConfigError / ValueError) of every stage that will run."""
    checks: list[tuple[str, Any]] = [("config", lambda: config_module.validate(cfg))]
    if "ingest" in stages and cfg.data.dataset == "drac":
        from data_prep.ingest import check_settings

        checks.append(("ingest", lambda: check_settings(cfg.data)))
    if "umm" in stages and cfg.umm.enabled:
        from drac_ssl.umm.stage import check_settings as validate_umm

        checks.append(("umm", lambda: validate_umm(cfg.umm)))
    if "finetune" in stages:
        from drac_ssl.finetune import check_settings as validate_finetune

        checks.append(("finetune", lambda: validate_finetune(cfg)))
    return checks


def _run_stage_validators(c: _Findings, cfg: Config, stages: list[str]) -> None:
    """Each stage's own validator stops at its first problem; whatever one rejects that the
    checks above have not already reported for that setting is added, so the preflight never
    lets through what a stage would refuse later."""
    said: set[str] = set()  # the settings a validator's error named: another's in option words is the same
    for _, validator in _stage_validators(cfg, stages):
        try:
            validator()
        except (ConfigError, ValueError) as exc:
            if isinstance(exc, config_module.SettingsError):  # where each setting it names was set
                exc = exc.located(lambda setting: _where(setting, c.sources, c.cfg))
            message = str(exc)
            setting = _setting_named(message)
            option = re.match(r"(--[a-z-]+)", message)
            in_option_words = bool(option) and option.group(1) in _OPTION_SETTINGS
            if setting and (c.has_error(setting) or (setting in said and in_option_words)):
                # (the ingest's check of data.referable_from after the config's, in its own
                # --referable-from words a train user never typed: said once, in settings);
                # another problem of a setting already named, in settings' words, is its own
                continue
            said.add(setting)
            if not setting and any(f.severity == "error" for f in c.items):
                continue  # cannot tell which setting: the errors above already stop the run
            what = message.replace("\n  fix: ", "\n     fix: ").replace(" -> ", "\n     fix: ", 1)
            if any(f.what == what for f in c.items):
                continue  # two stages' validators share a check: say it once
            c.error("", what)


# --------------------------------------------------------------------------------------
# Entry points


def setting_problems(cfg: Config, sources: dict[str, str] | None = None) -> list[Finding]:
    """The errors of the values themselves (ranges, choices, shapes) of every stage of
    ``run.stages``, finished or not: what a new run folder would meet. :func:`check` checks
    only the stages left to run in a run folder, so a changed setting of a finished stage
    (refused in that folder) is checked here, for the same listing; nothing is read but a
    ``pretrain.backbone.weights`` file, no data and no device."""
    c = _Findings(cfg, sources)
    stages = [s for s in PIPELINE if s in cfg.run.stages]
    umm_runs = "umm" in stages and cfg.umm.enabled
    _check_choices(c, cfg)
    _ranges(c, cfg, config_module.RUN_RANGES)
    if "ingest" in stages and cfg.data.dataset == "drac":
        _check_data_settings(c, cfg)
    if "pretrain" in stages:
        _check_pretrain_settings(c, cfg)
    if "pretrain" in stages or umm_runs:
        _check_model_settings(c, cfg)
    if umm_runs:
        _check_umm_settings(c, cfg)
    if "finetune" in stages:
        _check_finetune_settings(c, cfg)
    return [f for f in c.items if f.severity == "error"]


def ingest_kept_settings(cfg: Config, run_dir: str | os.PathLike[str]) -> dict[str, tuple[Any, Any]]:
    """The settings of :data:`INGEST_ONLY_SETTINGS` that ``cfg`` gives otherwise than the
    ingest already in ``run_dir/data`` applied, when ``cfg``'s ``run.stages`` leaves the ingest
    out (``run.stages=[pretrain,umm,finetune,export]`` after ``python -m data_prep ingest
    --out RUN/data``): setting -> ``(cfg's value, the ingest's)``, in that order. The stages read
    that ingest's output, so ``cfg``'s value is not applied (a review: ``--first-try``'s
    ``data.n_folds=2`` said applied and recorded in config.yaml, while 5 folds were fine-tuned;
    ``data.root`` of another data set was silently ignored). Values are compared as the
    ingest reads them (:meth:`~drac_ssl.stage_settings.IngestRecord.differs`). {} for a
    generic data set, a run folder without an ingest, one without its settings
    (``ingest_summary.json``'s ``config``, older ingests), or a run whose ingest runs (a
    finished one that differs is refused by the rerun's own comparison of config.yaml)."""
    if cfg.data.dataset != "drac" or "ingest" in cfg.run.stages:
        return {}
    record = ingest_record(run_dir)
    return {} if record is None else record.differences(config_module.to_dict(cfg)["data"])


NOT_APPLIED_KEY = "ingest_kept"
"""The key of a ``python -m drac_ssl.train`` line of ``invocations.jsonl`` that recorded values
given for settings an ingest the run did not rerun kept at its own (:func:`pinned_to_ingest`):
``{"data.n_folds": 3}``, each as given (a path absolute). The same command again resumes the
run: its values are not a change (:func:`ingest_pins`)."""


def recorded_given(setting: str, value: Any) -> Any:
    """``value`` of ``setting`` as :data:`NOT_APPLIED_KEY` records it and :func:`ingest_pins`
    compares it: a path absolute (read from the current folder), ``data.cache_sizes`` sorted,
    anything else as JSON writes it."""
    if setting in config_module.PATH_SETTINGS:
        if isinstance(value, list):
            return [absolute_from(str(v)) for v in value]
        text = str(value or "")
        return absolute_from(text) if text.strip() else ""
    if setting == "data.cache_sizes" and isinstance(value, list):
        return sorted(value)
    return json.loads(json.dumps(value, default=str))


def ingest_pins(cfg: Config, run_dir: str | os.PathLike[str]) -> dict[str, tuple[Any, Any]]:
    """The settings of :func:`ingest_kept_settings` that the run takes at the ingest's values
    (:func:`pinned_to_ingest`): all of them in a run folder without ``config.yaml`` (a first
    run over a standalone ingest); in one with it (a resume), those whose value is the one the
    folder was given before, its ``config.yaml``'s (a folder made before such values were
    recorded as the ingest's: ``data.cache_sizes: [256, 512]`` there, 256 px ingested) or one
    an earlier invocation recorded as not applied (:data:`NOT_APPLIED_KEY`), and those left at
    a default that names nothing (:meth:`~drac_ssl.stage_settings.IngestRecord.unset`:
    ``data.root`` empty ...). Any other value
    is a change of a data setting on a resume, which the rerun's comparison with config.yaml
    refuses, as it refuses it with the ingest in ``run.stages``."""

    kept = ingest_kept_settings(cfg, run_dir)
    saved = Path(run_dir) / "config.yaml"
    if not kept or not saved.is_file():
        return kept
    data_now = config_module.to_dict(cfg)["data"]
    old = config_module.read_saved_config(run_dir)  # damaged: {}, the resume's own check says what is wrong
    data = old.get("data")
    data = data if isinstance(data, dict) else {}
    cwd = made_in(Path(run_dir))
    before: dict[str, list[Any]] = {}
    for line in invocations(Path(run_dir) / "invocations.jsonl"):
        for setting, value in (line.get(NOT_APPLIED_KEY) or {}).items() if isinstance(line.get(NOT_APPLIED_KEY),
                                                                                       dict) else ():
            before.setdefault(setting, []).append(value)
    pins = {}
    for setting, (ours, theirs) in kept.items():
        key, given = setting.removeprefix("data."), recorded_given(setting, ours)
        written = data.get(key)
        if setting in config_module.PATH_SETTINGS and cwd:  # config.yaml's relative paths: its folder's
            written = ([absolute_from(str(v), cwd) for v in written] if isinstance(written, list)
                       else absolute_from(str(written), cwd) if str(written or "").strip() else written)
        if (IngestRecord.unset(setting, data_now)  # names nothing: the ingest's, always
                or key in data and recorded_given(setting, written) == given or given in before.get(setting, [])):
            pins[setting] = (ours, theirs)
    return pins


def shown_as_ingested(setting: str, value: Any, summary: dict[str, Any]) -> str:
    """``value`` of ``setting`` as the ingest recorded it, with what it resolved to when it
    is left to the ingest (``data.channels=''`` is ``'' (auto: 3, RGB)``, ``data.grades=[]``
    ``[] (the layout's: No DR, Mild, ...)``, a named scale ``[icdr] (grades No DR, ...)``):
    the not-applied warning's and config.yaml's words (review: ``data.channels=''`` alone)."""
    shown = _show(value)
    if setting == "data.channels":
        resolved = (summary.get("channels") or {}).get("value") if isinstance(summary.get("channels"), dict) else None
        if isinstance(resolved, int) and str(value).strip() in ("", "auto"):
            return f"{shown} (auto: {resolved}, {'RGB' if resolved == 3 else 'grey'})"
    if setting == "data.grades":
        names = (summary.get("grades") or {}).get("names") if isinstance(summary.get("grades"), dict) else None
        if isinstance(names, list):
            whose = "the layout's: " if not value else "grades "
            return f"{shown} ({whose}{', '.join(map(str, names))})"
    return shown


def pinned_to_ingest(cfg: Config, run_dir: str | os.PathLike[str],
                     sources: dict[str, str] | None = None) -> tuple[Config, list[Finding]]:
    """``cfg`` with the settings of :func:`ingest_pins` set to the ingest's own values, so
    that config.yaml, report.md and the run's records say what the stages use, and a warning
    for each: which value is not applied, why, what is used instead (auto values with what
    they resolved to, :func:`shown_as_ingested`), and the fix (the ingest in ``run.stages``; or
    a typed setting left out, a file's given the ingest's value; a ``--first-try`` one has only
    the first); a discovery setting left at its default (``data.root`` empty:
    :meth:`~drac_ssl.stage_settings.IngestRecord.unset`) is set without a warning.
    ``(cfg, [])`` when nothing differs."""
    kept = ingest_pins(cfg, run_dir)
    if not kept:
        return cfg, []
    c = _Findings(cfg, sources)
    data_dir = Path(run_dir) / "data"
    presets = {key for key, origin in (getattr(sources, "options", None) or {}).items()
               if isinstance(origin, config_module.PresetOverride)}
    typed = user_typed(sources) if sources is not None else {}
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    root = str(summary.get("root") or "")
    given = absolute_from(cfg.data.root) if cfg.data.root.strip() else ""
    root_word = (f" data.root={shlex.quote(root)}"
                 if root and os.path.normpath(root) != os.path.normpath(given) else "")
    stages = _stages_fix(["ingest", *cfg.run.stages])
    data = config_module.to_dict(cfg)["data"]
    for setting, (ours, theirs) in kept.items():
        if IngestRecord.unset(setting, data):  # data.root left empty ...: taken without a word
            continue
        what = (f"not applied: run.stages has no ingest, so the stages read the ingest already in "
                f"{data_dir}, made with {setting}={shown_as_ingested(setting, theirs, summary)}; this run "
                f"uses that (config.yaml records it)")
        other = ("" if setting in presets else f"; or leave {setting} out of your command" if setting in typed
                 else f"; or give the ingest's, {setting}={_show(theirs)}, to say no more")
        fix = (f"to apply {setting}={_show(ours)}, run the ingest with it, in a new run folder: "
               f"{stages}{'' if setting == 'data.root' else root_word} run.name=<a new name>{other}")
        c.warning(setting, what, fix)
    changes = {setting.removeprefix("data."): theirs for setting, (_, theirs) in kept.items()}
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **changes)), c.items


def new_run_problems(cfg: Config, ingested: str | os.PathLike[str],
                     sources: dict[str, str] | None = None) -> list[Finding]:
    """The errors a new run folder of ``cfg`` would meet on the data another run already
    ingested (``ingested``: that run's folder, whose ``data/manifest.csv`` and
    ``ingest_summary.json`` give the counts): :func:`setting_problems`, then the checks
    against the data (:func:`_check_against_data`: batch sizes against the images, the folds
    of ``data.n_folds`` against the images per grade, the cached sizes) as the new run's own
    ingest would meet them, with its own folds and ``data.cache_sizes``, not the ingested
    run's. Cheap: no image is read beyond the ingest's records, nothing is written. For the
    end of a ``--first-try`` run (:func:`drac_ssl.train.full_run_lines`): what its full run,
    the same command without it, would be refused for. [] where the ingest cannot be read."""
    ingested = Path(ingested)
    stages = [s for s in PIPELINE if s in cfg.run.stages]
    findings = setting_problems(cfg, sources)
    if cfg.data.dataset != "drac" or not (ingested / "data" / "manifest.csv").is_file():
        return findings
    c = _Findings(cfg, sources)
    facts = _facts_from_ingest(c, cfg, ingested / "data")
    if facts is not None:  # the new run's ingest makes its own folds: the ingested ones say nothing
        facts = dataclasses.replace(facts, fold_grades=None)
        _check_against_data(c, cfg, facts, stages, ingest_runs="ingest" in stages, folder_refused=True)
    return findings + [f for f in c.items if f.severity == "error" and f not in findings]


def check(cfg: Config, run_dir: str | os.PathLike[str], sources: dict[str, str] | None = None,
          *, stages: list[str] | None = None, folder_refused: bool = False) -> list[Finding]:
    """Every problem of ``cfg`` for the stages that will run in ``run_dir``; nothing is written.

    Args:
        cfg: the configuration (values may be out of range: that is what is checked).
        run_dir: the run folder (it may not exist yet); a resumed folder's finished stages
            (``stages.json``) are not checked again, and its ingest output is the data.
        sources: where each setting came from (:func:`read_config`); None: unknown.
        stages: the stages to check (default :func:`stages_to_run`).
        folder_refused: ``run_dir``'s configuration is refused already (the caller reports
            it): its cache is not what the run will read (:func:`_check_against_data`).

    A stage ``stages.json`` records as done whose output files are gone
    (:func:`missing_outputs`) is an error naming them, with how to restore or redo it.

    Returns:
        The findings, errors first, then warnings. Cheap: no image is decoded, no phantom
        rendered, no model trained (a ``pretrain.backbone.weights`` file is read).
    """
    run_dir = Path(run_dir)
    c = _Findings(cfg, sources)
    stages = stages_to_run(cfg, run_dir) if stages is None else stages
    umm_runs = "umm" in stages and cfg.umm.enabled
    _check_choices(c, cfg)
    _check_run_settings(c, cfg, run_dir)
    if "ingest" in stages and cfg.data.dataset == "drac":
        _check_data_settings(c, cfg)
    _check_unused_settings(c, cfg, stages)
    _check_rerun_settings(c, cfg, run_dir, stages)
    _check_stated_data(c, cfg, run_dir, stages)
    if "pretrain" in stages:
        _check_pretrain_settings(c, cfg)
    if "pretrain" in stages or umm_runs:
        _check_model_settings(c, cfg)
        if cfg.run.tensorboard:
            from drac_ssl.tensorboard_log import require_tensorboard

            try:
                require_tensorboard()
            except ConfigError as exc:
                what, _, fix = str(exc).partition("\n  fix: ")
                c.error("run.tensorboard", what.removeprefix("run.tensorboard=true, but "), fix)
    if umm_runs:
        _check_umm_settings(c, cfg)
    if "finetune" in stages:
        _check_finetune_settings(c, cfg)
    device = None
    if any(s in stages for s in TORCH_STAGES):
        device = _resolve_device(c, cfg)
        _check_device_use(c, cfg, device, stages)
    _check_temp_dir_for_workers(c, cfg, stages)
    _check_stage_outputs(c, cfg, run_dir, stages)
    _check_finished_outputs(c, cfg, run_dir, stages)
    _check_checkpoints(c, cfg, run_dir, stages)
    facts = _data_facts(c, cfg, run_dir, stages) if stages else None
    if not stages and cfg.data.dataset == "drac" and (run_dir / "data" / "manifest.csv").is_file():
        _check_source_unchanged(c, run_dir, finished=True)  # a rerun of a finished run
    if facts is not None:
        _check_against_data(c, cfg, facts, stages, ingest_runs="ingest" in stages, folder_refused=folder_refused)
        if device == "cpu" and "pretrain" in stages and facts.n_images:
            _check_cpu_time(c, cfg, facts.n_images)
    if "pretrain" in stages:
        _check_weights(c, cfg, None if facts is None else facts.channels)
    _run_stage_validators(c, cfg, stages)
    return sorted(c.items, key=lambda f: f.severity != "error")


def reading_refusal(path: str | os.PathLike[str] | None, overrides: list[str],
                    preset: PresetOf | None = None) -> str:
    """The refusal of ``python -m drac_ssl.train`` before torch loads (~10 s on a loaded
    machine): "" when the configuration reads without a problem (:func:`read_config` of
    ``path``, ``overrides`` and ``preset``; the full :func:`run` follows, after the imports).
    Else the text of the :class:`PreflightError` that
    lists the reading problems (unknown settings, bad types, inf or NaN, a file that cannot be
    read) with the checks that need neither torch nor the data: choices, the number ranges of
    the stages of ``run.stages``, ``run.stages`` and ``run.name``. The checks against the data
    and the device are left to the rerun with these fixed (said on the last line)."""
    cfg, sources, findings = read_config(path, overrides, preset)
    phantom_too_big = (not cfg.data.root and cfg.data.dataset == "drac" and "ingest" in cfg.run.stages
                       and _phantom_counts_out_of_range(cfg))  # refused here: no plan of them after
    if not any(f.severity == "error" for f in findings) and not phantom_too_big:
        return ""
    if not any(f.unread for f in findings):
        c = _Findings(cfg, sources)
        stages = [s for s in PIPELINE if s in cfg.run.stages]
        _check_choices(c, cfg)
        _check_run_settings(c, cfg, Path(cfg.run.out_dir) / (cfg.run.name or ".new-run"))
        if "ingest" in stages and cfg.data.dataset == "drac":
            _check_data_settings(c, cfg)
        if "pretrain" in stages:
            _check_pretrain_settings(c, cfg)
        if "pretrain" in stages or ("umm" in stages and cfg.umm.enabled):
            _ranges(c, cfg, config_module.MODEL_RANGES)
        if "umm" in stages and cfg.umm.enabled:
            _ranges(c, cfg, config_module.UMM_RANGES)
            _check_umm_batch(c, cfg)
        if "finetune" in stages:
            _ranges(c, cfg, FINETUNE_RANGES)
        findings += [f for f in c.items if f.severity == "error" and f not in findings]
    return (f"{PreflightError(findings)}\n  (the checks against the data and the device follow "
            f"once these are fixed)")


def umm_refusal(path: str | os.PathLike[str] | None, overrides: list[str]) -> tuple[str, list[Finding]]:
    """The refusal of ``python -m drac_ssl.umm`` before torch loads and before its run folder
    is made: "" when the configuration reads (:func:`read_config`) and its settings pass
    what :func:`drac_ssl.config.load_config` checks and what the UMM stage checks
    (:func:`drac_ssl.umm.stage.check_settings`: choices, :data:`~drac_ssl.config.UMM_RANGES`,
    ``umm.batch_size`` >= 2) and the ranges of what UMM builds
    (:data:`~drac_ssl.config.MODEL_RANGES`). Else the text of the :class:`PreflightError`
    listing every one, each with its fix (``run.stages`` is not the command's: an empty one,
    which :func:`~drac_ssl.config.validate` refuses, and a stage name that is no stage, a typo
    refused as ``python -m drac_ssl.train`` refuses it, are its only errors here). Needs neither
    torch nor the data. Returns ``(refusal, warnings)``: the warnings of reading it (a setting
    given two values on the command line), for a command that goes ahead to print."""
    cfg, sources, findings = read_config(path, overrides)
    if not any(f.unread for f in findings):
        c = _Findings(cfg, sources)
        _check_choices(c, cfg)
        _check_threads(c, cfg)
        _check_stage_names(c, cfg)  # a typo, refused as python -m drac_ssl.train refuses it
        what, fix = config_module.run_name_problem(cfg.run.name, cfg.run.out_dir)
        if what:
            c.error("run.name", what, fix)
        _ranges(c, cfg, config_module.MODEL_RANGES)
        _ranges(c, cfg, config_module.UMM_RANGES)
        _check_umm_batch(c, cfg)
        _run_stage_validators(c, cfg, [])  # load_config's own checks, as a net under these
        findings += [f for f in c.items if f.severity == "error" and f not in findings]
    if not any(f.severity == "error" for f in findings):
        return "", findings
    return str(PreflightError(findings, when="before the run folder was made")), []


def run(cfg: Config, run_dir: str | os.PathLike[str], sources: dict[str, str] | None = None,
        earlier: Iterable[Finding] = (), *, folder_refused: bool = False) -> list[Finding]:
    """:func:`check` (``folder_refused`` passed on), plus ``earlier`` findings (of reading the
    config); raise :class:`PreflightError` listing them all when any is an error, else return
    the warnings.
    When the config file could not be read (an ``unread`` finding), nothing is checked: the
    error lists only the reading problems, not warnings about the defaults."""
    earlier = list(earlier)
    if any(f.unread for f in earlier):
        raise PreflightError(earlier)
    findings = earlier + [f for f in check(cfg, run_dir, sources, folder_refused=folder_refused)
                          if f not in earlier]  # said once
    findings.sort(key=lambda f: f.severity != "error")
    if any(f.severity == "error" for f in findings):
        raise PreflightError(findings)
    return findings


def after_ingest(cfg: Config, run_dir: str | os.PathLike[str],
                 sources: dict[str, str] | None = None) -> list[Finding]:
    """The checks against the data again, now from the ingest's manifest and cache (what only
    decoding tells: the channels of ``data.channels=auto``, whether a plain folder holds
    fundus photographs), before pretraining starts. Returns the warnings only decoding could
    give (the others were said before the ingest), for the caller to print.

    Raises:
        PreflightError: a later stage cannot run on the ingested data.
    """
    run_dir = Path(run_dir)
    stages = [s for s in stages_to_run(cfg, run_dir) if s != "ingest"]
    if not stages or cfg.data.dataset != "drac":
        return []
    c = _Findings(cfg, sources)
    facts = _facts_from_ingest(c, cfg, run_dir / "data")
    if facts is not None:
        _check_against_data(c, cfg, facts, stages, ingest_runs=False)
    new = _Findings(cfg, sources)
    if "pretrain" in stages or "finetune" in stages:
        _recipe_after_ingest(new, cfg, run_dir / "data")
    errors = [f for f in c.items if f.severity == "error"]
    if errors:  # the warnings with them: the rerun with the fix skips the ingest that told them
        raise PreflightError(errors + new.items, when=(
            f"after the ingest, before pretraining (only the decoded images tell these); the "
            f"ingest output in {run_dir / 'data'} is kept: fix the setting(s) and rerun the same "
            f"command, the ingest is reused"))
    return new.items


def blocking_outputs(run_dir: Path) -> list[str]:
    """The stage outputs of ``run_dir`` that a changed configuration would mix with (all but
    the ingest's, which depends on ``data.*`` only)."""
    return [name for name in _STAGE_OUTPUT_DIRS if (run_dir / name).exists()]
