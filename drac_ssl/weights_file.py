"""Read the tensors of a weights file in any common layout, without running code from it.

What people hand the package as ``pretrain.backbone.weights`` (or a fine-tuning source):

- a plain state dict (torchvision, MONAI bundles' ``models/model.pt``, the official VICReg
  ``resnet50.pth``, Hugging Face ``pytorch_model.bin``);
- a training checkpoint that wraps it: ``state_dict`` (PyTorch Lightning, solo-learn, MoCo,
  timm), ``model`` (torchvision reference scripts, official VICReg ``model.pth``),
  ``teacher`` / ``student`` (DINO), ``state_dict_ema`` (timm), ``backbone`` / ``encoder``,
  next to optimizer state, epoch counters and metrics, often as numpy scalars;
- parameter names with the wrapper prefixes ``module.`` (DistributedDataParallel) and
  ``_orig_mod.`` (``torch.compile``), owner prefixes (``backbone.``, ``module.encoder_q.``,
  ``teacher.backbone.``), or a ResNet stored as ``nn.Sequential(*resnet.children()[:-1])``
  (``backbone.0.weight`` for ``conv1.weight``: lightly's examples);
- safetensors files;
- the same files under any suffix (``.pt``, ``.pth``, ``.pth.tar``, ``.ckpt``, ``.bin``):
  the format is recognised from the file's first bytes.

Every ``.pt``-style file is read with ``torch.load(weights_only=True)``: no code stored in the
file runs. Numpy scalars, dtypes and arrays (``{'epoch': np.int64(90), ...}``) are allowed
for that one call with torch's own allow-list (:func:`torch.serialization.safe_globals`); a
file that needs anything else unpickled (a whole pickled model, an ``argparse.Namespace``,
a config object, a custom class) raises :class:`WeightsFileError` naming what it holds and
how to re-save its weights. Tested on torch 2.14; the allow-list API used here
(``safe_globals`` with ``(callable, "module.name")`` pairs,
``get_unsafe_globals_in_checkpoint``) exists unchanged since torch 2.6.
"""

from __future__ import annotations

import struct
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

# the header check of a safetensors file, torch-free (drac_ssl.run_state reads it without torch);
# re-exported for older callers (drac_ssl.weights_file.safetensors_damage, public before it moved)
from drac_ssl.io import safetensors_damage as safetensors_damage

__all__ = ["WeightsFileError", "WeightsMatch", "match_weights", "read_weights_file", "safetensors_damage"]

WRAPPER_SEGMENTS = ("module", "_orig_mod")
"""Name segments added by wrappers, not by the model: DDP / DataParallel, torch.compile."""

TORCHVISION_RESNET_CHILDREN = (
    "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc",
)
"""``list(resnet.children())`` of a torchvision ResNet, in order: the names a backbone stored
as ``nn.Sequential(*list(resnet.children())[:-1])`` lost (its keys read ``0.weight``,
``4.0.conv1.weight``)."""

# Among several complete copies of the model in one file, the one a user means: the online /
# query network over the momentum / key / EMA copy (MoCo lincls, solo-learn, timm's default),
# DINO's teacher over its student (DINO's own evaluation default).
_LESS_PREFERRED = ("student", "momentum", "encoder_k", "key_encoder", "target", "ema")


TRAINING_STATE_SECTIONS = frozenset({
    "optimizer", "optimizer_states", "optim", "lr_scheduler", "lr_schedulers", "scheduler",
    "scaler", "grad_scaler", "amp", "rng", "rng_state", "loops", "callbacks",
})
"""Top-level checkpoint keys that hold training state, not weights: never reported as unused."""


class WeightsFileError(ValueError):
    """A weights file that cannot be read as tensors; the message says why and how to fix it."""


# ---- reading ------------------------------------------------------------------------------


def _numpy_safe_globals() -> list[Any]:
    """Numpy scalar, dtype and array reconstructors, under the names numpy 1 and 2 pickle them.

    ``np.int64(90)`` pickles as ``numpy.core.multiarray.scalar(dtype, bytes)`` (numpy 1) or
    ``numpy._core.multiarray.scalar`` (numpy 2); a dtype as ``numpy.dtype('i8')`` whose state
    is set on an instance of ``numpy.dtypes.Int64DType`` (numpy >= 1.25); an array as
    ``numpy.core.multiarray._reconstruct(numpy.ndarray, ...)``. None of these runs code named
    in the file: the arguments are shapes, dtype codes and raw bytes.
    """
    from numpy._core import multiarray  # numpy >= 2 (pyproject.toml); numpy.core is deprecated
    allowed: list[Any] = [np.dtype, np.ndarray]
    for func in (multiarray.scalar, multiarray._reconstruct):
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed.append((func, f"{module}.{func.__name__}"))
    dtype_classes = getattr(np, "dtypes", None)
    if dtype_classes is not None:
        for name in getattr(dtype_classes, "__all__", []):
            cls = getattr(dtype_classes, name, None)
            if isinstance(cls, type):
                allowed.append(cls)
    return allowed


def _sniff_format(path: Path, head: bytes) -> str:
    """``safetensors`` | ``torch-zip`` | ``torchscript`` | ``torch-legacy`` | ``unknown``."""
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "damaged-zip"
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "torch-zip"
        return "zip"
    if head[:1] == b"\x80":  # pickle protocol marker: torch.save(..., _use_new_zipfile_serialization=False)
        return "torch-legacy"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < header_len <= path.stat().st_size - 8:
            return "safetensors"
    return "unknown"


def _what_globals_are(names: list[str]) -> str:
    """One line on what the unpicklable objects in a checkpoint probably are."""
    kinds: list[str] = []
    if any(n == "argparse.Namespace" for n in names):
        kinds.append("the training script's command-line arguments (argparse.Namespace)")
    if any(n.startswith(("omegaconf.", "hydra.")) for n in names):
        kinds.append("a Hydra/OmegaConf configuration")
    if any(n.startswith(("torch.nn.modules.", "torchvision.models.", "timm.models.", "monai.networks."))
           for n in names):
        kinds.append("a whole pickled model (torch.save(model) instead of model.state_dict())")
    if any(n.startswith(("pathlib.", "datetime.")) for n in names):
        kinds.append("paths or dates")
    if any(n.startswith("torch.optim.") for n in names):
        kinds.append("a pickled optimizer or scheduler object")
    known = ("argparse.", "omegaconf.", "hydra.", "torch.", "torchvision.", "timm.", "monai.",
             "pathlib.", "datetime.", "numpy.", "collections.", "builtins.")
    if any(not n.startswith(known) for n in names):
        kinds.append("objects of classes from the code that trained it")
    return "; ".join(kinds) if kinds else "Python objects other than tensors"


def _unsafe_globals(path: Path, exc: BaseException) -> list[str]:
    """Every global the file would need unpickled (torch's own scan), else the one in ``exc``."""
    scan = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    names: list[str] = []
    if scan is not None:
        try:
            names = list(scan(str(path)))
        except Exception:  # legacy (non-zip) files are not scanned
            names = []
    if not names:
        text = str(exc)
        marker = "GLOBAL "
        if marker in text:
            names = [text.split(marker, 1)[1].split(" ", 1)[0]]
    allowed_prefixes = ("numpy.core.multiarray.", "numpy._core.multiarray.", "numpy.dtype",
                        "numpy.ndarray", "numpy.dtypes.")
    return sorted(n for n in names if not n.startswith(allowed_prefixes))


_DANGEROUS = ("os.", "posix.", "nt.", "sys.", "subprocess.", "shutil.", "runpy.", "socket.",
              "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__",
              "builtins.getattr", "builtins.setattr", "builtins.open", "importlib.")


class _Placeholder:
    """Stands in for an object the file would need unpickled, to show the file's structure.

    Only this class's own code runs (it records what it was given); nothing named in the
    file is imported or called. Used for the error message only, never for loading weights.
    """

    global_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _peek(path: Path, names: list[str]) -> Any:
    """The file's structure with every object in ``names`` replaced by a :class:`_Placeholder`
    (``None`` when torch's unpickler refuses even that, e.g. for a blocked module)."""
    stand_ins = [(type(f"<{n}>", (_Placeholder,), {"global_name": n}), n) for n in names]
    try:
        with torch.serialization.safe_globals([*_numpy_safe_globals(), *stand_ins]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a description is best effort
        return None


def _describe(obj: Any) -> tuple[str, str]:
    """(what the top level holds, the expression that gives the state dict after a full load)."""
    if obj is None:
        return "its structure could not be read", "obj['state_dict']"
    if isinstance(obj, _Placeholder):
        return f"a pickled {obj.global_name} object", "obj.state_dict()"
    if not isinstance(obj, Mapping):
        return f"a {type(obj).__name__}", "obj.state_dict()"
    parts, best, best_n = [], "", 0
    for key, value in list(obj.items())[:12]:
        n = sum(1 for _ in _flatten(value))
        if isinstance(value, _Placeholder):
            parts.append(f"{key!r}: {value.global_name}")
        elif n:
            parts.append(f"{key!r}: {n} tensors")
        if n > best_n:
            best, best_n = str(key), n
    holds = "top-level keys " + ", ".join(parts) if parts else "no tensors at the top level"
    return holds, (f"obj[{best!r}]" if best else "obj['state_dict']")


_TORCH_ADVICE = ("Weights only load failed", "Check the documentation of torch.load", "(1)", "(2)")
"""Openings of the lines of torch's refusal that advise rather than say what is wrong (among them
"Re-running torch.load with weights_only set to False will likely succeed"): never passed on."""


def torch_load_detail(exc: BaseException) -> str:
    """What ``torch.load`` found wrong, in one line of at most 300 characters, without its
    advice: the ``WeightsUnpickler error:`` line's reason, else the first line that neither
    advises (:data:`_TORCH_ADVICE`) nor names ``weights_only`` (torch's "Re-running
    torch.load with weights_only set to False will likely succeed", which would run the code
    a refused file holds); ``"no detail"`` when nothing is left."""
    lines = [line.replace("\x1b[1m", "").replace("\x1b[0m", "").strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    reason = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("WeightsUnpickler error:")),
                  None)
    if reason is None:
        reason = next((line for line in lines if not line.startswith(_TORCH_ADVICE)
                       and "weights_only" not in line), "no detail")
    return reason[:300]


def refused_globals(path: str | Path, exc: BaseException) -> list[str] | None:
    """The globals (``module.name``) that ``torch.load(path, weights_only=True)`` refused to
    unpickle, when ``exc`` is that refusal (numpy's reconstructors left out, as they are
    allowed here); None when ``exc`` is another failure (a file cut short, not a PyTorch file,
    a pickle so damaged that the names it gives cannot exist). An empty list: a refusal whose
    globals torch did not name."""
    text = str(exc)
    names = _unsafe_globals(Path(path), exc) if "Weights only load failed" in text else []
    if (names or "Unsupported global" in text or "allowlisted" in text) and not _garbled(names):
        return names
    return None


def _held(names: list[str], exc: BaseException) -> str:
    """The refused globals, one an indented line (12 at most), else torch's reason."""
    held = "\n".join(f"    {n}" for n in names[:12]) or f"    ({type(exc).__name__}: {torch_load_detail(exc)})"
    if len(names) > 12:
        held += f"\n    ... and {len(names) - 12} more"
    return held


def unpickling_refused_words(path: str | Path, names: list[str], exc: BaseException, *,
                             thing: str = "weights file", read: str = ".pt files", fix: str) -> str:
    """The words of a file refused because unpickling it needs the globals ``names`` (from
    :func:`refused_globals`; ``exc``: torch's refusal) that a ``thing`` never holds: what
    unpickling would call (os, subprocess, builtins.eval ...: :data:`_DANGEROUS`) or need,
    that drac_ssl reads ``read`` with ``torch.load(weights_only=True)``, the globals, and
    ``  fix: do NOT load it with weights_only=False`` (which runs code stored in the file)
    followed by ``fix``. torch's own advice to set ``weights_only=False`` is never passed on.
    The refusal of a weights file whose globals are dangerous, and of any drac_ssl checkpoint
    (:func:`drac_ssl.checkpoint.load_checkpoint`, which never holds Python objects)."""
    dangerous = [n for n in names if n.startswith(_DANGEROUS)]
    needs = (f"unpickling this file would call {', '.join(dangerous[:5])}, which a {thing} has no "
             f"reason to do" if dangerous else
             f"unpickling this file needs Python objects that a {thing} never holds")
    return (f"{path}: {needs}. drac_ssl reads {read} with torch.load(weights_only=True) and refused "
            f"it. It needs:\n{_held(names, exc)}\n"
            f"  fix: do NOT load it with weights_only=False (that runs code stored in the file); {fix}")


def _resave_message(path: Path, names: list[str], exc: BaseException) -> str:
    if any(n.startswith(_DANGEROUS) for n in names):
        return unpickling_refused_words(
            path, names, exc, fix="get the weights again from their source, preferably as .safetensors.")
    held = _held(names, exc)
    structure, expression = _describe(_peek(path, names))
    stem = path.name.split(".", 1)[0]
    return (
        f"{path}: this checkpoint holds more than weights: {_what_globals_are(names)} "
        f"({structure}). drac_ssl reads .pt files with torch.load(weights_only=True), which "
        f"unpickles tensors, numbers, strings and containers only, so that no code stored in a "
        f"file runs. The file needs these Python objects unpickled:\n{held}\n"
        f"  fix: re-save only the weights, once, in an environment where you trust the file "
        f"(weights_only=False runs code stored in it):\n"
        f"      import torch\n"
        f"      obj = torch.load({str(path)!r}, map_location='cpu', weights_only=False)\n"
        f"      torch.save({expression}, '{stem}_weights.pt')"
        f"  # or safetensors.torch.save_file({expression}, '{stem}_weights.safetensors')\n"
        f"  then pass pretrain.backbone.weights={stem}_weights.pt"
    )


def _garbled(names: list[str]) -> bool:
    """A global named in the file that cannot exist (``torch.FloatStor``: a pickle cut short).

    Only modules already imported are looked at; nothing named in the file is imported.
    """
    for name in names:
        module, _, attr = name.rpartition(".")
        loaded = sys.modules.get(module)
        if loaded is not None and not hasattr(loaded, attr):
            return True
    return False


def _load_torch(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError ...
        names = refused_globals(path, exc)
        if names is not None:
            raise WeightsFileError(_resave_message(path, names, exc)) from None
        raise WeightsFileError(
            f"{path}: cannot be read as a PyTorch file ({type(exc).__name__}: {torch_load_detail(exc)}).\n"
            f"  fix: the file may be truncated or damaged; copy it again and check its size."
        ) from None


def _flatten(obj: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Tensor]]:
    """Every tensor in nested mappings, under dotted keys (``state_dict.backbone.conv1.weight``)."""
    if isinstance(obj, Tensor):
        yield prefix[:-1], obj
    elif isinstance(obj, Mapping) and depth < 12:
        for key, value in obj.items():
            yield from _flatten(value, f"{prefix}{key}.", depth + 1)


def load_safetensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of the safetensors file ``path`` (CPU).

    Raises:
        WeightsFileError (a ValueError): a damaged file (cut short, empty, a bad header),
            naming the file and the fix (copy it again and check its size).
        PermissionError: this account may not read it (not damaged: the caller says whose
            access is missing, e.g. :func:`drac_ssl.grading.bundle.unreadable_bundle_file`).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except PermissionError:
        raise
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsFileError(
            f"{path}: a damaged safetensors file ({exc}).\n  fix: copy it again and check its size."
        ) from None


def read_weights_file(path: str | Path) -> dict[str, Tensor]:
    """Every tensor in a local weights file, keyed by its dotted path inside the file.

    A plain state dict comes back as it is; a checkpoint ``{'epoch': 3, 'state_dict':
    {'conv1.weight': ...}, 'optimizer': {...}}`` as ``{'state_dict.conv1.weight': ...,
    'optimizer.state.0.momentum_buffer': ...}``; :func:`match_weights` picks the part that
    fits a model. Tensors are on the CPU.

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError (a ValueError): not a safetensors / PyTorch file, a damaged one, a
            TorchScript archive, a file that needs code unpickled (what it holds and the
            three lines that re-save its weights), or one without tensors.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"weights file not found: {p}. Nothing is downloaded; give the path of a local "
            f".safetensors/.pt file (pretrain.backbone.weights) or leave it empty for a "
            f"random initialisation."
        )
    with open(p, "rb") as fh:
        head = fh.read(16)
    kind = _sniff_format(p, head)
    if kind == "safetensors":
        obj: Any = load_safetensors(p)
    elif kind in ("torch-zip", "torch-legacy"):
        obj = _load_torch(p)
    else:
        raise WeightsFileError(_format_problem(p, kind, head))
    tensors = dict(_flatten(obj))
    if not tensors:
        keys = list(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
        raise WeightsFileError(f"{p}: holds no tensors (top level: {keys}).")
    return tensors


def _format_problem(p: Path, kind: str, head: bytes) -> str:
    """Why the file ``p`` of :func:`_sniff_format`'s ``kind`` (its first bytes ``head``) is no
    weights file drac_ssl reads, with the fix (``kind`` not ``safetensors``, ``torch-zip`` nor
    ``torch-legacy``)."""
    if kind == "torchscript":
        return (
            f"{p}: a TorchScript archive (torch.jit.save), not a state dict; drac_ssl does not "
            f"load TorchScript (loading it can run code stored in the file).\n"
            f"  fix: re-save its weights once, in an environment where you trust the file:\n"
            f"      import torch\n"
            f"      torch.save(torch.jit.load({str(p)!r}, map_location='cpu').state_dict(), "
            f"'{p.name.split('.', 1)[0]}_weights.pt')\n"
            f"  (a MONAI bundle ships the same weights as models/model.pt: pass that file instead)"
        )
    if kind == "damaged-zip":
        return (f"{p}: starts like a PyTorch file (a zip archive) but the archive cannot be read: "
                f"the file is truncated or damaged.\n  fix: copy it again and check its size "
                f"({p.stat().st_size} bytes here).")
    what = {"zip": "a zip archive that is not a PyTorch file (an .npz?)"}.get(
        kind, f"not a safetensors or PyTorch file (it starts with bytes {head[:8]!r})")
    return (f"{p}: {what}.\n  fix: give a .safetensors file or a file written by torch.save "
            f"(.pt, .pth, .pth.tar, .ckpt, .bin); ONNX, Keras/HDF5 and TensorFlow files are not "
            f"read.")


def weights_format_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a weights file :func:`read_weights_file` could read, told from its
    first bytes alone (a CSV, a TorchScript archive, a damaged zip: its message), None when it
    may be one (what it holds is :func:`read_weights_file`'s to say); for a check before any
    output is made (``python -m drac_ssl.umm`` on a label CSV made a run folder and left its
    lock first: a CLI review).

    Raises:
        OSError: ``path`` cannot be read.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(16)
    kind = _sniff_format(p, head)
    return None if kind in ("safetensors", "torch-zip", "torch-legacy") else _format_problem(p, kind, head)


# ---- matching a model ---------------------------------------------------------------------


class WeightsMatch(NamedTuple):
    """The part of a weights file that fits a model.

    ``state``: tensors renamed to the model's keys; ``prefix``: the path inside the file they
    came from (``''``, ``'state_dict.backbone.'``, ``'teacher.backbone.'`` ...; wrapper segments
    ``module.``/``_orig_mod.`` removed); ``unexpected``: file keys under that prefix the model
    lacks; ``ignored``: the other tensors of the file (other networks, the student of a
    teacher ...), less training state (:data:`TRAINING_STATE_SECTIONS`).
    """

    state: dict[str, Tensor]
    prefix: str
    unexpected: list[str]
    ignored: list[str]


def _drop_wrappers(key: str) -> str:
    return ".".join(s for s in key.split(".") if s not in WRAPPER_SEGMENTS)


def _sequential_resnet_name(key: str) -> str | None:
    """``backbone.4.0.conv1.weight -> backbone.layer1.0.conv1.weight`` (first index segment)."""
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            index = int(part)
            if index < len(TORCHVISION_RESNET_CHILDREN):
                return ".".join([*parts[:i], TORCHVISION_RESNET_CHILDREN[index], *parts[i + 1:]])
            return None
    return None


def _preference(prefix: str) -> tuple[int, int, str]:
    segments = [s for s in prefix.split(".") if s]
    penalty = sum(any(token in s for token in _LESS_PREFERRED) for s in segments)
    return penalty, len(prefix), prefix


def match_weights(tensors: Mapping[str, Tensor], target_keys: Iterable[str]) -> WeightsMatch:
    """Find the prefix under which ``tensors`` hold most of ``target_keys`` and rename them.

    Each file key is tried as written (less the wrapper segments ``module.``/``_orig_mod.``,
    unless the model itself uses them) and, for a ResNet saved as an ``nn.Sequential`` of its
    children, with its index renamed (``4.`` -> ``layer1.``). A prefix scores the number of
    distinct model keys found under it; ties go to the online/query/teacher copy over the
    momentum/key/EMA/student copy, then to the shorter prefix. An empty ``state`` means
    nothing matched.
    """
    targets = set(target_keys)
    keep_wrappers = any(seg in WRAPPER_SEGMENTS for t in targets for seg in t.split("."))
    # candidate names per file key: (name, is_alias)
    names: dict[str, list[tuple[str, bool]]] = {}
    for key in tensors:
        base = key if keep_wrappers else _drop_wrappers(key)
        cands = [(base, False)]
        alias = _sequential_resnet_name(base)
        if alias is not None:
            cands.append((alias, True))
        names[key] = cands
    votes: dict[str, set[str]] = {}
    for cands in names.values():
        for name, _ in cands:
            parts = name.split(".")
            for i in range(len(parts)):
                suffix = ".".join(parts[i:])
                if suffix in targets:
                    votes.setdefault(".".join(parts[:i]) + ("." if i else ""), set()).add(suffix)
    if not votes:
        return WeightsMatch({}, "", [], sorted(tensors))
    best = max(len(v) for v in votes.values())
    prefix = min((p for p, v in votes.items() if len(v) == best), key=_preference)
    state: dict[str, Tensor] = {}
    used: set[str] = set()
    # exact names first, so an alias never replaces a tensor stored under the model's name
    for alias_pass in (False, True):
        for key, cands in names.items():
            for name, is_alias in cands:
                local = name[len(prefix):]
                if (is_alias == alias_pass and key not in used and name.startswith(prefix)
                        and local in targets and local not in state):
                    state[local] = tensors[key]
                    used.add(key)
    unexpected: list[str] = []
    ignored: list[str] = []
    for key, cands in names.items():
        if key in used:
            continue
        base = cands[0][0]
        if key.split(".", 1)[0] in TRAINING_STATE_SECTIONS:
            continue
        if base.startswith(prefix):
            unexpected.append(base[len(prefix):])
        else:
            ignored.append(key)
    return WeightsMatch(state, prefix, unexpected, ignored)

