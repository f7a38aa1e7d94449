"""Whether a run folder is a trial run, and the words for it: its pretraining epochs were
capped by ``pretrain.max_steps_per_epoch`` (the README's tiny first try, a smoke test), so
its figures check that the pipeline runs on the data, not how well it grades.

One rule, read from the run folder's ``config.yaml`` and the pool size its pretraining (or
UMM) recorded, for every reader: report.md's "Read this first" (:func:`cut_short_words`),
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
from pathlib import Path
from typing import Any

import yaml

from drac_ssl.config import read_yaml

__all__ = ["cap_words", "cut_short_words", "pool_size", "trial_run_record", "trial_run_words"]

TRIAL_RUN = "A trial run"
"""How :func:`trial_run_words` starts."""


def pool_size(run_dir: Path) -> int | None:
    """How many images pretraining and UMM drew pairs from: the ``N images`` of the stage's
    recorded ``training_data`` (``RUN/<stage>/metadata.json``,
    :func:`drac_ssl.pretrain.load_pretrain_data`), else None."""
    for stage in ("pretrain", "umm"):
        try:
            meta = json.loads((run_dir / stage / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found = (re.search(r"(\d+) images", str(meta.get("training_data") or ""))
                 if isinstance(meta, dict) else None)
        if found:
            return int(found.group(1))
    return None


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
    ``{"trial": False}`` when not (a full pretraining, or none run), None when its
    ``config.yaml`` cannot be read (unknown)."""
    run_dir = Path(run_dir)
    try:
        cfg = read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(cfg, dict):
        return None
    pretrain = cfg.get("pretrain")
    if not isinstance(pretrain, dict) or not (run_dir / "pretrain").is_dir():
        return {"trial": False}
    cap = cap_words("pretrain", pretrain, pool_size(run_dir))
    return {"trial": True, "why": f"the pretraining was cut short ({cap})"} if cap else {"trial": False}


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
    """'' or the line of report.md's "Read this first" on a run whose pretraining epochs were
    capped by ``pretrain.max_steps_per_epoch`` (:func:`trial_run_words` of
    :func:`trial_run_record`, with ``not_what``)."""
    return trial_run_words(trial_run_record(run_dir), not_what)
