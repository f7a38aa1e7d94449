"""Which settings each stage's output depends on, and how a saved configuration differs.

One comparison serves every place that must not mix outputs of different configurations: a
rerun of ``python -m drac_ssl.train`` on an existing run folder, ``run.reuse`` taking finished
stages from another run folder (:mod:`drac_ssl.train`), a pretraining or UMM checkpoint resumed
by its stage (:mod:`drac_ssl.pretrain`, :mod:`drac_ssl.umm.stage`); ``python -m
drac_ssl.compare`` leaves :data:`OUTPUT_ONLY_SETTINGS` out of the settings it lists as differing
between runs. Settings are nested dicts as
:func:`drac_ssl.config.to_dict` writes them; differences are ``"section.key: old -> new"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from drac_ssl.config import PATH_SETTINGS, REFERABLE_OFF, Config, ConfigError, from_dict, to_dict

# settings that change what a resumed run does or writes, or how fast, not its results
OUTPUT_ONLY_SETTINGS = ("run.stages", "run.tensorboard", "run.threads", "run.out_dir", "run.name",
                        "run.reuse", "run.keep_checkpoints")
"""Settings that change no stage's result: which stages run, logging, threads, where the
run folder is (``run.out_dir`` / ``run.name``: a moved or renamed run folder resumes),
where a new run folder took finished stages from (``run.reuse``: only equal settings) and
whether a finished run keeps its checkpoints (``run.keep_checkpoints``).
``run.threads`` changes a result's last digits only (CPU float sums depend on the thread
count): a resume with another count than made the state it resumes from is not refused (another
machine's default policy may differ) but warned about and recorded
(:func:`drac_ssl.train._resumed_with_other_threads`)."""
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


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Every setting that differs between two nested configurations (dicts), as sorted
    ``"section.key: old -> new"`` lines (``repr`` of each value; a missing key is None), less
    :data:`OUTPUT_ONLY_SETTINGS`. Compare :func:`comparable` forms to ignore spelling."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, path + ".")
        elif a != b and path not in OUTPUT_ONLY_SETTINGS:
            diffs.append(f"{path}: {a!r} -> {b!r}")
    return diffs


def made_in(run_dir: Path) -> str | None:
    """The working folder the run in ``run_dir`` was made from (``environment.json``'s ``cwd``;
    None for runs made before it was recorded)."""
    try:
        cwd = json.loads((run_dir / "environment.json").read_text(encoding="utf-8")).get("cwd")
    except (OSError, ValueError, AttributeError):
        return None
    return cwd if isinstance(cwd, str) and cwd else None


def comparable(settings: dict[str, Any], cwd: str | None = None) -> dict[str, Any]:
    """``settings`` with what means the same written the same: paths (:data:`PATH_SETTINGS`)
    absolute and normalised (relative ones from ``cwd``, the folder the settings were used
    in; the current one when None; a trailing slash dropped) and ``run.device=auto`` as the
    device it picks here; ``finetune.referable_from`` off, no or false as ``off``."""
    out = json.loads(json.dumps(settings, default=str))
    for key in PATH_SETTINGS:
        section, _, name = key.rpartition(".")
        node: Any = out
        for part in section.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue

        def absolute(text: str) -> str:
            path = os.path.expanduser(text)
            return os.path.normpath(os.path.join(cwd, path) if cwd else os.path.abspath(path))

        if isinstance(node.get(name), str) and node[name].strip():
            node[name] = absolute(node[name])
        elif isinstance(node.get(name), list):  # data.unlabelled: each folder
            node[name] = [absolute(v) if isinstance(v, str) and v.strip() else v for v in node[name]]
    finetune = out.get("finetune")
    if isinstance(finetune, dict) and str(finetune.get("referable_from")).lower() in REFERABLE_OFF:
        finetune["referable_from"] = "off"  # saved by YAML 1.1 readers as 'false'; 1.2 keeps 'off'
    run = out.get("run")
    if isinstance(run, dict) and run.get("device") == "auto":
        from drac_ssl.runtime import resolve_device

        run["device"] = str(resolve_device("auto"))
    return out


def saved_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A run folder's saved ``config.yaml`` as this version reads it: settings added since it
    was written take their defaults (the values the run used); as written when it no longer
    parses (a removed setting), so the comparison names it."""
    try:
        return to_dict(from_dict(saved))
    except ConfigError:
        return saved


def stage_resume_differences(stage: str, saved: dict[str, Any] | None, cfg: Config, out_dir: Path,
                             may_change: tuple[str, ...] = ()) -> list[str]:
    """What differs, as ``"key: old -> new"`` lines, between the configuration a stage's
    checkpoint was saved with (``saved``: its ``config``) and ``cfg``, among the settings the
    stage's output depends on (:data:`REUSABLE_STAGES`), less :data:`OUTPUT_ONLY_SETTINGS` and
    ``may_change`` (e.g. ``umm.epochs``: a finished stage may be given more epochs).

    The same comparison as a rerun of ``python -m drac_ssl.train`` makes of the whole run
    folder: settings added since the checkpoint take their defaults, relative paths are read
    from the folder the stage was run in (``out_dir/environment.json``). ``saved`` None (a
    checkpoint without its configuration): nothing to compare, [].
    """
    if not isinstance(saved, dict):
        return []
    prefixes = REUSABLE_STAGES[stage]
    diffs = config_differences(comparable(saved_settings(saved), made_in(out_dir)),
                                comparable(to_dict(cfg)))
    return [d for d in diffs
            if reads(prefixes, key := d.split(": ", 1)[0]) and key not in may_change]


def reads(prefixes: tuple[str, ...], key: str) -> bool:
    """Whether setting ``key`` is one of ``prefixes`` (a section ``x.`` or one key)."""
    return any(key.startswith(p) if p.endswith(".") else key == p for p in prefixes)
