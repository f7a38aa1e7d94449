"""Where UMM starts: choosing, resolving and loading the pretrained VICReg model.

**Which checkpoint** (``umm.start_from``, when no checkpoint is passed explicitly). UMM is
meant for a model that has begun to memorise (methods.md section 2): past the peak of the
label-free rate-reduction monitor that pretraining records after every epoch
(``rate_reduction_last`` in ``pretrain/metrics.jsonl``: Delta R of the last layer's pooled
features of a fixed probe, :mod:`drac_ssl.pretrain`). Pretraining keeps three weight sets:
``vicreg_model.safetensors`` (the epoch of the lowest VICReg loss), ``checkpoints/last.pt``
(the last epoch run) and ``checkpoints/monitor_peak.pt`` (the epoch of the monitor's peak).

* ``best``: ``vicreg_model.safetensors`` (the default; what the pipeline did before).
* ``last``: ``checkpoints/last.pt``, at the epoch it holds (written every
  ``pretrain.checkpoint_every`` epochs: a pretraining killed in between has run later
  epochs, which this rule and ``past_peak`` leave out).
* ``peak``: ``checkpoints/monitor_peak.pt``, the early-stopped checkpoint of the paper.
* ``past_peak``: the over-trained checkpoint. With ``p`` the first epoch of the monitor's
  maximum ``r_p`` and ``L`` the epoch ``checkpoints/last.pt`` holds, it is that
  checkpoint provided ``L > p`` and ``r_L <= (1 - umm.past_peak_drop) * r_p``; otherwise the run has not
  passed its peak and UMM refuses to start, with the fix (pretrain longer with
  ``pretrain.patience=0``, or ``umm.start_from=last``). :func:`choose_start` is the rule,
  a pure function of the recorded history.

**Loading**: a ``vicreg_model.safetensors`` (its ``metadata.json`` is checked against the
configuration) or a pretrain / UMM checkpoint ``.pt`` (read with ``weights_only=True``, its
stored config checked). A mismatch is refused with the settings that would fix it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drac_ssl import PRETRAIN_METHOD
from drac_ssl.checkpoint import load_checkpoint
from drac_ssl.config import (  # START_RULES re-exported: config's _CHOICES holds it
    START_RULES,
    Config,
    configured_channels,
    with_data_channels,
)
from drac_ssl.io import finite_number, read_json_dict
from drac_ssl.models import (
    BackboneArchitecture,
    VICRegModel,
    build_vicreg_model,
    load_local_weights,
)
from drac_ssl.run_state import read_stages_record
from drac_ssl.starting import python_command

__all__ = ["MONITOR_KEY", "START_RULES", "StartPoint", "choose_start", "default_checkpoint",
           "load_pretrained_model", "monitor_peak", "pretrain_history", "resolve_checkpoint",
           "resolve_start", "saved_epoch", "start_note", "with_checkpoint_channels"]

MONITOR_KEY = "rate_reduction_last"
"""The pretraining monitor the start rule reads (a column of ``pretrain/metrics.jsonl``)."""
PEAK_CHECKPOINT = "monitor_peak.pt"


@dataclass
class StartPoint:
    """The checkpoint UMM starts from and why (``metadata.json``'s ``umm.start``).

    ``epoch`` / ``peak_epoch`` are 0-based pretraining epochs (None: unknown, e.g. an
    explicit checkpoint without a history); ``value`` / ``peak_value`` the monitor there.
    """

    rule: str
    path: Path
    epoch: int | None = None
    value: float | None = None
    peak_epoch: int | None = None
    peak_value: float | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (``path`` as a string), as ``metadata.json`` keeps it."""
        return {**dataclasses.asdict(self), "path": str(self.path)}


def default_checkpoint(run_dir: Path) -> Path:
    """``run_dir/pretrain/vicreg_model.safetensors``: the pretraining's output (backbone +
    expander), where ``umm.start_from=best`` starts; the path only, whether or not it exists."""
    return run_dir / "pretrain" / "vicreg_model.safetensors"


def monitor_peak(history: list[dict[str, Any]], key: str = MONITOR_KEY) -> tuple[int, float] | None:
    """``(epoch, value)`` of the monitor's maximum (the first one if tied); None without values."""
    best: tuple[int, float] | None = None
    for row in history:
        value = finite_number(row.get(key))
        if value is not None and (best is None or value > best[1]):
            best = (int(row["epoch"]), value)
    return best


def choose_start(history: list[dict[str, Any]], rule: str, drop: float = 0.05,
                 key: str = MONITOR_KEY) -> tuple[str, int | None, str]:
    """The start rule of the module docstring on a recorded pretraining history.

    Args:
        history: the pretraining rows (``epoch`` 0-based, the monitor under ``key``).
        rule: ``best`` | ``last`` | ``peak`` | ``past_peak``.
        drop: ``umm.past_peak_drop``, the fraction the monitor must have fallen below its peak.
        key: the monitor column.

    Returns:
        ``(checkpoint, epoch, reason)``: checkpoint ``best`` | ``last`` | ``peak`` (which
        weight set), the epoch its weights are from (None for ``best``: pretraining's
        metadata says) and a sentence for the log.

    Raises:
        ValueError: an unknown rule; ``peak``/``past_peak`` without monitor values;
            ``past_peak`` when the last epoch has not passed the peak (with the fix).
    """
    if rule not in START_RULES:
        raise ValueError(f"umm.start_from={rule!r} is not one of {', '.join(START_RULES)}.")
    last_epoch = int(history[-1]["epoch"]) if history else None
    if rule == "best":
        return "best", None, f"the pretraining output (the epoch of the lowest {PRETRAIN_METHOD} loss)"
    if rule == "last":
        return "last", last_epoch, f"the last pretraining epoch ({(last_epoch or 0) + 1})"
    peak = monitor_peak(history, key)
    if peak is None:
        raise ValueError(
            f"umm.start_from={rule} needs the rate-reduction monitor ({key}) in the pretraining "
            f"history, and there is none.\n  fix: pretrain with pretrain.monitor_images >= 2 (the "
            f"default 64), or umm.start_from=best|last")
    p, r_p = peak
    if rule == "peak":
        return "peak", p, f"the monitor's peak: epoch {p + 1}, {key} {r_p:.4g}"
    assert last_epoch is not None
    r_last = finite_number(history[-1].get(key))
    limit = (1.0 - drop) * r_p
    if last_epoch > p and r_last is not None and r_last <= limit:
        return "last", last_epoch, (
            f"past the monitor's peak: epoch {last_epoch + 1} ({key} {r_last:.4g}) is "
            f"{100 * (1 - r_last / r_p):.1f}% below the peak at epoch {p + 1} ({r_p:.4g}); "
            f"umm.past_peak_drop={drop}")
    raise ValueError(
        f"umm.start_from=past_peak: pretraining has not passed the monitor's peak: the peak is "
        f"at epoch {p + 1} ({key} {r_p:.4g}), the last epoch {last_epoch + 1} has "
        f"{'no value' if r_last is None else f'{r_last:.4g}'}, and past_peak needs a later epoch at "
        f"or below {limit:.4g} (umm.past_peak_drop={drop}).\n  fix: pretrain longer "
        f"(pretrain.epochs, pretrain.patience=0), lower umm.past_peak_drop, or umm.start_from=last")


def start_note(start: StartPoint, last_epoch: int | None = None) -> str:
    """A sentence when UMM starts at or before the monitor's peak, else "".

    methods.md section 2 applies UMM to a model that has begun to memorise, past the peak of
    the last-layer Delta R monitor; the default ``umm.start_from=best`` is not checked
    against it (a short pretraining has no peak), so the stage says so instead (console,
    ``metadata.json``'s ``umm.start_note``, report.md). "" when the start epoch or the
    monitor's peak is not known (e.g. the monitor was off) or the start is past the peak.

    Args:
        start: the start point (0-based ``epoch`` and ``peak_epoch``).
        last_epoch: the last pretraining epoch with a monitor value (0-based); the peak
            there means the monitor never peaked (it was still rising).
    """
    if start.epoch is None or start.peak_epoch is None or start.epoch > start.peak_epoch:
        return ""
    peak = start.peak_epoch
    never = (", the last pretraining epoch: the monitor never peaked"
             if last_epoch is not None and peak >= last_epoch else "")
    return (f"UMM started from epoch {start.epoch + 1}, not past the rate-reduction monitor's peak "
            f"(epoch {peak + 1}{never}): methods.md applies UMM to a model that has begun to "
            f"memorise; set umm.start_from=past_peak after a longer pretraining")


def pretrain_history(pretrain_dir: Path) -> list[dict[str, Any]]:
    """The pretraining rows from ``metrics.jsonl`` (written with every ``last.pt``)."""
    path = pretrain_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def resolve_start(run_dir: Path, checkpoint: str | Path | None, rule: str = "best",
                  drop: float = 0.05) -> StartPoint:
    """The checkpoint UMM starts from: ``checkpoint`` when given, else ``umm.start_from``'s.

    ``last`` / ``past_peak`` read the history (``metrics.jsonl``) up to the epoch
    ``checkpoints/last.pt`` holds (:func:`saved_epoch`), not to the last epoch run.

    Raises:
        FileNotFoundError: the checkpoint (or the pretraining output) does not exist.
        ValueError: the rule cannot be met (:func:`choose_start`).
    """
    pretrain_dir = run_dir / "pretrain"
    history = pretrain_history(pretrain_dir)
    if checkpoint is None and rule in ("last", "past_peak"):
        # metrics.jsonl has every epoch run, last.pt only every pretrain.checkpoint_every: the
        # rule judges the epoch whose weights it loads
        saved = saved_epoch(pretrain_dir / "checkpoints" / "last.pt")
        if saved is not None:
            history = [r for r in history if int(r["epoch"]) <= saved]
    peak = monitor_peak(history)
    peak_epoch, peak_value = peak if peak is not None else (None, None)
    values = {int(r["epoch"]): finite_number(r.get(MONITOR_KEY)) for r in history}
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                f"UMM checkpoint not found: {path}\n"
                f"  fix: pass RUN/pretrain/vicreg_model.safetensors (with its metadata.json) or a "
                f"pretrain checkpoint RUN/pretrain/checkpoints/last.pt"
            )
        return StartPoint("explicit", path, peak_epoch=peak_epoch, peak_value=peak_value,
                          reason="the checkpoint passed to UMM")
    which, epoch, reason = choose_start(history, rule, drop)
    path = {"best": default_checkpoint(run_dir),
            "last": pretrain_dir / "checkpoints" / "last.pt",
            "peak": pretrain_dir / "checkpoints" / PEAK_CHECKPOINT}[which]
    if which != "best" and not path.parent.is_dir() and default_checkpoint(run_dir).is_file():
        # the pretraining finished (its output is there); its checkpoints/ folder is gone
        entry = read_stages_record(run_dir).get("pretrain")
        removed = isinstance(entry, dict) and entry.get("checkpoints_removed")
        why = ("the run's checkpoints were removed after it finished (run.keep_checkpoints=false, "
               "stages.json)" if removed else f"{path.parent} is gone")
        raise FileNotFoundError(
            f"umm.start_from={rule} starts UMM from {path}, which does not exist: {why}.\n"
            f"  fix: umm.start_from=best (UMM starts from {default_checkpoint(run_dir)}), or pretrain "
            f"again with run.keep_checkpoints=true (the default) to start from a checkpoint")
    if not path.is_file():
        raise FileNotFoundError(
            f"UMM needs the pretrained {PRETRAIN_METHOD} model ({rule}), but {path} does not exist.\n"
            f"  fix: run the pretrain stage first (run.stages=[ingest,pretrain,umm]) or pass "
            f"a checkpoint: {python_command('drac_ssl.umm')} RUN/pretrain/vicreg_model.safetensors"
        )
    if which == "best":
        meta = read_json_dict(pretrain_dir / "metadata.json") or {}
        epoch = meta.get("best_epoch") if isinstance(meta.get("best_epoch"), int) else None
    return StartPoint(rule, path, epoch, values.get(epoch) if epoch is not None else None,
                      peak_epoch, peak_value, reason)


def saved_epoch(path: Path) -> int | None:
    """The 0-based epoch a pretrain / UMM checkpoint ``.pt`` holds (its stored ``epoch``);
    None when there is no such file or it records none."""
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    epoch = state.get("epoch") if isinstance(state, dict) else None
    return int(epoch) if isinstance(epoch, int) else None


def resolve_checkpoint(run_dir: Path, checkpoint: str | Path | None) -> Path:
    """The path of :func:`resolve_start` with the default rule (``best``)."""
    return resolve_start(run_dir, checkpoint).path


def _architecture(cfg: Config) -> dict[str, Any]:
    pc = cfg.pretrain
    return {
        "pretrain.backbone.arch": pc.backbone.arch,
        "pretrain.backbone.cifar_stem": pc.backbone.cifar_stem,
        "pretrain.backbone.stem_stride": pc.backbone.stem_stride,
        "pretrain.backbone.in_channels": pc.backbone.in_channels,
        "pretrain.expander": pc.expander,
    }


def _recorded_architecture(path: Path) -> dict[str, Any] | None:
    """The architecture a checkpoint says it has: metadata.json beside a .safetensors, or the
    config stored in a .pt checkpoint (read with ``weights_only=True``)."""
    if path.suffix == ".safetensors":
        meta_path = path.parent / "metadata.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arch = BackboneArchitecture.from_metadata(meta)
            return {
                "pretrain.backbone.arch": arch.arch,
                "pretrain.backbone.cifar_stem": arch.cifar_stem,
                "pretrain.backbone.stem_stride": arch.stem_stride,
                "pretrain.backbone.in_channels": arch.in_channels,
                "pretrain.expander": meta["architecture"]["expander"],
            }
        except (OSError, ValueError, KeyError, TypeError):
            return None
    if path.suffix in (".pt", ".pth"):
        state = load_checkpoint(path)
        pc = state.get("config", {}).get("pretrain") if isinstance(state, dict) else None
        if not isinstance(pc, dict):
            return None
        bb = pc.get("backbone", {})
        return {
            "pretrain.backbone.arch": bb.get("arch"),
            "pretrain.backbone.cifar_stem": bb.get("cifar_stem"),
            "pretrain.backbone.stem_stride": bb.get("stem_stride", 1),
            "pretrain.backbone.in_channels": bb.get("in_channels"),
            "pretrain.expander": pc.get("expander"),
        }
    return None


def with_checkpoint_channels(cfg: Config, path: str | Path) -> Config:
    """``cfg`` with ``pretrain.backbone.in_channels`` 0 ("the data's") replaced by the
    channels the checkpoint at ``path`` records (its ``metadata.json`` or stored config), or
    :func:`drac_ssl.config.configured_channels` when it records none; a set value is kept
    (:func:`load_pretrained_model` compares it with the checkpoint's)."""
    if cfg.pretrain.backbone.in_channels != 0:
        return cfg
    path = Path(path)
    recorded = _recorded_architecture(path) if path.is_file() else None
    channels = (recorded or {}).get("pretrain.backbone.in_channels") or configured_channels(cfg)
    return with_data_channels(cfg, int(channels), str(path))


def load_pretrained_model(cfg: Config, path: str | Path) -> VICRegModel:
    """The VICReg model (backbone + expander) of ``cfg.pretrain`` filled from ``path``.

    ``path``: ``vicreg_model.safetensors`` (its ``metadata.json`` is checked against the
    config when present) or a pretrain/UMM checkpoint ``.pt`` (read with
    ``weights_only=True``; its stored config is checked). ``pretrain.backbone.weights`` is
    not loaded: the checkpoint replaces it. ``pretrain.backbone.in_channels`` 0 takes the
    channels the checkpoint records.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint's architecture does not match the configuration, or it has
            no expander (a ``backbone.safetensors``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UMM checkpoint not found: {path}")
    recorded = _recorded_architecture(path)
    cfg = with_checkpoint_channels(cfg, path)
    expected = _architecture(cfg)
    if recorded is not None:
        diffs = [
            f"{k}: checkpoint {recorded[k]!r}, config {expected[k]!r}"
            for k in expected
            if recorded.get(k) is not None and recorded[k] != expected[k]
        ]
        if diffs:
            raise ValueError(
                f"{path}: the checkpoint's architecture does not match the configuration:\n  "
                + "\n  ".join(diffs)
                + "\n  fix: use the config the model was pretrained with (-c RUN/config.yaml) or "
                + " ".join(
                    f"{k}={_yaml_value(recorded[k])}"
                    for k in expected
                    if recorded.get(k) is not None and recorded[k] != expected[k]
                )
            )
    _refuse_other_statistics(cfg, path)
    pc = dataclasses.replace(
        cfg.pretrain, backbone=dataclasses.replace(cfg.pretrain.backbone, weights="")
    )
    model = build_vicreg_model(pc)
    try:
        load_local_weights(model, path, strict=True)
    except ValueError as exc:
        hint = ""
        if "expander" in str(exc) and "missing" in str(exc):
            hint = (
                "\n  fix: UMM re-tunes the expander too; pass vicreg_model.safetensors (backbone + "
                "expander), not backbone.safetensors."
            )
        raise ValueError(
            f"{path}: cannot be loaded into the configured {PRETRAIN_METHOD} model "
            f"({', '.join(f'{k}={v}' for k, v in expected.items())}):\n{exc}{hint}"
        ) from None
    return model


def _refuse_other_statistics(cfg: Config, path: Path) -> None:
    """Refuse weights pretrained on views normalised with other statistics than UMM's views
    (:func:`drac_ssl.pretrain.view_recipe`) would be: the ``input.normalization`` of the
    ``metadata.json`` beside a ``.safetensors``, or of ``RUN/pretrain/metadata.json`` for a
    checkpoint under ``RUN/pretrain/checkpoints/``. A Fashion-MNIST pretraining made before it
    had its own statistics recorded MNIST's. No record: nothing to compare.

    Raises:
        ValueError: the recorded statistics differ from this configuration's.
    """
    from drac_ssl import pretrain

    meta_path = path.parent / "metadata.json" if path.suffix == ".safetensors" else \
        path.parent.parent / "metadata.json" if path.parent.name == "checkpoints" else None
    meta = read_json_dict(meta_path) if meta_path is not None and meta_path.is_file() else None
    then = ((meta or {}).get("input") or {}).get("normalization") if isinstance((meta or {}).get("input"), dict) \
        else None
    if not isinstance(then, dict):
        return
    now = pretrain._statistics(cfg)
    try:
        same = all(len(then.get(k) or []) == len(now[k]) and all(
            abs(float(a) - b) <= 1e-9 for a, b in zip(then[k], now[k], strict=True)) for k in ("mean", "std"))
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ValueError(
            f"{path}: these weights were pretrained on views normalised with "
            f"{pretrain._statistics_words(then)} ({meta_path}), but UMM's views would be normalised with "
            f"{pretrain._statistics_words(now)} (data.dataset={cfg.data.dataset}); UMM would re-tune "
            f"them on other inputs than they learnt from.\n"
            f"  fix: pretrain again with this code (a Fashion-MNIST run made before it had its own "
            f"statistics recorded MNIST's), or start UMM from weights pretrained with these statistics")


def _yaml_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
