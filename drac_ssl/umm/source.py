"""Where UMM starts: resolving and loading the pretrained VICReg model (backbone + expander).

A ``vicreg_model.safetensors`` (its ``metadata.json`` is checked against the configuration)
or a pretrain / UMM checkpoint ``.pt`` (read with ``weights_only=True``, its stored config
checked). A mismatch is refused with the settings that would fix it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from drac_ssl.checkpoint import load_checkpoint
from drac_ssl.config import Config
from drac_ssl.models import VICRegModel, build_vicreg_model, load_local_weights

__all__ = ["default_checkpoint", "load_pretrained_model", "resolve_checkpoint"]


def default_checkpoint(run_dir: Path) -> Path:
    return run_dir / "pretrain" / "vicreg_model.safetensors"


def resolve_checkpoint(run_dir: Path, checkpoint: str | Path | None) -> Path:
    if checkpoint is None:
        path = default_checkpoint(run_dir)
        if not path.is_file():
            raise FileNotFoundError(
                f"UMM needs the pretrained VICReg model, but {path} does not exist.\n"
                f"  fix: run the pretrain stage first (run.stages=[ingest,pretrain,umm]) or pass "
                f"a checkpoint: python -m drac_ssl.umm RUN/pretrain/vicreg_model.safetensors"
            )
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f"UMM checkpoint not found: {path}\n"
            f"  fix: pass RUN/pretrain/vicreg_model.safetensors (with its metadata.json) or a "
            f"pretrain checkpoint RUN/pretrain/checkpoints/last.pt"
        )
    return path


def _architecture(cfg: Config) -> dict[str, Any]:
    pc = cfg.pretrain
    return {
        "pretrain.backbone.arch": pc.backbone.arch,
        "pretrain.backbone.cifar_stem": pc.backbone.cifar_stem,
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
            arch = meta["architecture"]
            return {
                "pretrain.backbone.arch": arch["backbone"],
                "pretrain.backbone.cifar_stem": arch["cifar_stem"],
                "pretrain.backbone.in_channels": meta["input"]["channels"],
                "pretrain.expander": arch["expander"],
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
            "pretrain.backbone.in_channels": bb.get("in_channels"),
            "pretrain.expander": pc.get("expander"),
        }
    return None


def load_pretrained_model(cfg: Config, path: str | Path) -> VICRegModel:
    """The VICReg model (backbone + expander) of ``cfg.pretrain`` filled from ``path``.

    ``path``: ``vicreg_model.safetensors`` (its ``metadata.json`` is checked against the
    config when present) or a pretrain/UMM checkpoint ``.pt`` (read with
    ``weights_only=True``; its stored config is checked). ``pretrain.backbone.weights`` is
    not loaded: the checkpoint replaces it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint's architecture does not match the configuration, or it has
            no expander (a ``backbone.safetensors``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UMM checkpoint not found: {path}")
    expected = _architecture(cfg)
    recorded = _recorded_architecture(path)
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
            f"{path}: cannot be loaded into the configured VICReg model "
            f"({', '.join(f'{k}={v}' for k, v in expected.items())}):\n{exc}{hint}"
        ) from None
    return model


def _yaml_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
