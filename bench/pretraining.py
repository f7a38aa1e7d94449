"""The pretraining of the correctness benches (``bench.cifar10_vicreg``, ``bench.low_label``):
:func:`drac_ssl.pretrain.run` with the care ``python -m drac_ssl.train`` takes around it.

* A run folder whose pretraining finished (``pretrain/metadata.json``) with another
  ``pretrain.epochs`` is refused before any work (:func:`finished_epochs_problem`):
  ``pretrain.run`` alone would resume it and restart the cosine schedule from the finished
  state (the learning rate jumps back up), as ``drac_ssl.train`` refuses too.
"""

from __future__ import annotations

import json
from pathlib import Path

from drac_ssl import pretrain
from drac_ssl.config import Config


def finished_epochs_problem(cfg: Config, run_dir: str | Path, epochs_flag: str = "--epochs") -> str:
    """Why ``run_dir`` cannot be pretrained with ``cfg``: its pretraining finished
    (``pretrain/metadata.json``) with another ``pretrain.epochs``; empty when it can. Worded
    as ``python -m drac_ssl.train`` refuses a changed finished stage."""
    meta_path = Path(run_dir) / "pretrain" / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    old = ((meta.get("config") or {}).get("pretrain") or {}).get("epochs")
    new = cfg.pretrain.epochs
    if old is None or old == new:
        return ""
    return (f"{meta_path}: this run folder was made with a different configuration:\n     "
            f"pretrain.epochs: {old} -> {new}\n     its pretraining finished; resuming it with other "
            f"epochs would restart the learning-rate schedule from its end (the cosine schedule's "
            f"lr jumps back up) and mix two schedules in one run\n     fix: choose another "
            f"--run-dir to start a new run, or rerun with the saved setting ({epochs_flag} {old})")


def run_pretraining(cfg: Config, run_dir: str | Path, epochs_flag: str = "--epochs",
                    data: pretrain.PretrainData | None = None) -> pretrain.PretrainResult:
    """``pretrain.run(cfg, run_dir)``, refused first by :func:`finished_epochs_problem`
    (``SystemExit`` with the error and its fix)."""
    problem = finished_epochs_problem(cfg, run_dir, epochs_flag)
    if problem:
        raise SystemExit(f"error: {problem}")
    return pretrain.run(cfg, run_dir, data=data)
