"""Checkpoints: full training state, written atomically, read back with ``weights_only=True``.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` (no pickled code runs when a user opens a file someone
sent them). Random-number-generator states are stored as tensors for the same reason.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from drac_ssl.io import NO_SPACE_WORDS, atomic_path, bytes_words, no_space
from drac_ssl.weights_file import refused_globals, torch_load_detail, unpickling_refused_words


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states as weights_only-safe objects."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": {
            "key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointWriteError(ValueError):
    """A checkpoint that could not be written (a full disk, a file-size limit, a quota, no
    permission): the message names the file, says why and that the same command resumes from
    the last complete checkpoint. A ``ValueError``, as every error the commands say in one
    message without a traceback (``python -m drac_ssl.train`` exits 2)."""


class _Hashing:
    """A binary file's ``write`` that also feeds a SHA-256: the bytes ``torch.save`` writes,
    hashed as they go out (its zip writer writes a file object in order, never seeking)."""

    def __init__(self, fh: Any, digest: Any) -> None:
        self.fh, self.digest = fh, digest

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def save_checkpoint(path: str | Path, state: dict[str, Any],
                    room: Callable[[], CheckpointRoom] | None = None,
                    digest: Any = None) -> Path:
    """Write ``state`` atomically (temp file + fsync + rename): a write cut short leaves the
    file at ``path`` as it was (an earlier complete checkpoint, or none), never a torn one.
    ``room``: what the stage's checkpoints need (:func:`checkpoint_room`), asked only when the
    disk is full, so the error's fix frees room for all of them at their peak (the figure of
    the warning before training), not for this one file (review F2: freeing one ``last.pt``'s
    worth failed again at ``monitor_peak.pt``); None: this file's size only. ``digest``: a
    ``hashlib.sha256()`` fed the file's bytes as they are written (its ``hexdigest()`` is then
    :func:`drac_ssl.io.sha256_file` of the file, without reading it back: 0.6 s for a 388 MiB
    checkpoint); meaningless after a failed write.

    Raises:
        CheckpointWriteError: the write failed: an ``OSError``, or torch's zip writer's
            ``RuntimeError`` (``[enforce fail at inline_container.cc:...] . unexpected pos``,
            how a full disk or ``ulimit -f`` reaches it), said with the path, "the disk is full
            or a file-size limit was reached" (:data:`drac_ssl.io.NO_SPACE_WORDS`) where that
            is the cause, and what the same command does next.
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            # our own file object, closed on a failure: torch's writer given a path kept the
            # removed temporary file open, so its blocks stayed taken and the next small write
            # (stages.json) failed in its place, naming that file (review F5)
            torch.save(state, fh if digest is None else _Hashing(fh, digest))
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "inline_container" not in str(exc):
            raise  # not torch's file writer: a bug, with its traceback
        # torch's "unexpected pos" hides the OSError of the write (ENOSPC, EFBIG): said instead
        cause = exc.__context__ if isinstance(exc, RuntimeError) and isinstance(exc.__context__, OSError) else exc
        full = no_space(exc) or no_space(cause)
        why = (NO_SPACE_WORDS if full else
               cause.strerror if isinstance(cause, OSError) and cause.strerror else "the file writer failed")
        detail = (f"{type(cause).__name__}: [Errno {cause.errno}] {cause.strerror}"
                  if isinstance(cause, OSError) and cause.errno else
                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        kept = (f"{path.name} there is the earlier complete one, kept as it was" if path.is_file()
                else f"no {path.name} was left (the temporary file is removed)")
        needs, more = "", "free space on that disk"
        if full:  # the room it needs, beside what is free once its temporary file is removed
            needed, free = checkpoint_file_bytes(state), _free_bytes(path.parent)
            needs = f"; it needs about {bytes_words(needed)} for this file"
            if room is not None:
                stage = room()
                needed = max(needed, stage.need)
                needs += (f", {bytes_words(stage.need)} for the stage's checkpoints still to be written, "
                          f"at their peak ({stage.files(path.name)})")
            if free is not None:
                needs += f", {bytes_words(free)} free in {path.parent} now"
            if free is not None and needed > free:
                more = f"free {bytes_words(needed - free)} or more on that disk"
        raise CheckpointWriteError(
            f"{path}: the checkpoint could not be written: {why} ({detail}){needs}; {kept}\n"
            f"  fix: {more} (or raise the file-size limit: ulimit -f), then rerun "
            f"the same command: it resumes from the last complete checkpoint (the stage starts "
            f"again from its first epoch when none was written)") from None
    return path


def tensor_bytes(state: Any) -> int:
    """Bytes of the tensors in ``state`` (nested dicts, lists and tuples), each storage counted
    once: what ``torch.save`` writes for it, less its pickle and zip records (a few hundred bytes
    a tensor: :func:`checkpoint_file_bytes` adds them)."""
    return _storages(state)[0]


def _storages(state: Any) -> tuple[int, int]:
    """The bytes of the tensor storages in ``state`` (:func:`tensor_bytes`) and their count."""
    seen: set[tuple[int, int]] = set()
    total, count, stack = 0, 0, [state]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in seen or not key[0]:
                seen.add(key)
                total, count = total + storage.nbytes(), count + 1
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total, count


CHECKPOINT_TENSOR_OVERHEAD = 512
"""A checkpoint file's bytes beyond each tensor's data (:func:`checkpoint_file_bytes`): its zip
record, its 64-byte alignment and its pickle. Measured on the tiny configuration's checkpoints:
pretraining's ``last.pt`` 104,649 bytes over its tensors' 134,163,116 (0.08%, 325 tensors),
``best.pt`` and ``monitor_peak.pt`` 45.9 kB (0.10%, 128 tensors), UMM's ``last.pt`` 85.8 kB
(0.05%, 250 tensors): 320 to 360 bytes a tensor, with the history and configuration pickled.
A share of the tensors' bytes would not do: 300 tensors of 64 bytes take 5 times their data."""
CHECKPOINT_OVERHEAD_FLOOR = 65_536
"""Bytes added to every checkpoint's estimate (:func:`checkpoint_file_bytes`) for its pickled
history, configuration and the zip's central directory (the 300 small tensors above and a
200-epoch history: 91 kB over the data, 219 kB estimated)."""


def checkpoint_file_bytes(state: Any) -> int:
    """The bytes ``torch.save(state)`` takes on disk, estimated from above: its tensors
    (:func:`tensor_bytes`), :data:`CHECKPOINT_TENSOR_OVERHEAD` per tensor and
    :data:`CHECKPOINT_OVERHEAD_FLOOR` (a history of thousands of epochs may pickle to more)."""
    data, count = _storages(state)
    return data + count * CHECKPOINT_TENSOR_OVERHEAD + CHECKPOINT_OVERHEAD_FLOOR


def _free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk of ``folder`` (its nearest existing folder); None when unknown."""
    where = next((p for p in (folder, *folder.parents) if p.is_dir()), folder)
    try:
        return shutil.disk_usage(where).free
    except OSError:
        return None


OPTIMIZER_SLOTS = 2
"""Values per parameter an optimiser's state holds at most, for the estimate of a checkpoint
before its first step (:func:`checkpoint_room`; torch creates the state at the first step):
Adam's two moments (UMM's outer optimiser); SGD's and LARS's momentum hold one."""


@dataclass(frozen=True)
class CheckpointRoom:
    """The disk a stage's checkpoints need (:func:`checkpoint_room`), in bytes, each file
    estimated by :func:`checkpoint_file_bytes`: ``last``, one ``last.pt`` (with
    :data:`OPTIMIZER_SLOTS` values per parameter for an optimiser without state yet), ``best``,
    ``best.pt`` (0 without one), ``extra``, the task's other checkpoint files by name
    (pretraining's ``monitor_peak.pt``), ``need``, what they take beyond the checkpoints already
    in the folder at their peak (the new ``last.pt`` is written beside the one before it, then
    renamed onto it: two at once, with ``best.pt`` and the others), ``free`` on its disk (None:
    unknown), ``where``, the checkpoint folder, and ``held``, the names of those files already
    there (:attr:`need` counts their bytes as held)."""

    last: int
    best: int
    need: int
    free: int | None
    where: Path
    extra: Mapping[str, int] = field(default_factory=dict)
    held: tuple[str, ...] = ()

    def files(self, writing: str = "") -> str:
        """``last.pt twice, best.pt and monitor_peak.pt``: the files of :attr:`need`, those still
        to be written: ``last.pt`` always (twice while none is there: the next is written beside
        it), ``best.pt`` and the others only while not :attr:`held` (a disk that filled at
        ``monitor_peak.pt`` named ``last.pt twice`` and ``best.pt`` already written), except
        ``writing``, the file whose write failed, listed even when held (``best.pt`` and
        ``monitor_peak.pt`` are written again at each new best)."""
        names = ["last.pt" if "last.pt" in self.held else "last.pt twice"]
        names += [name for name in (["best.pt"] if self.best else []) + list(self.extra)
                  if name not in self.held or name == writing]
        return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]

    def words(self) -> str:
        """``last.pt takes about 134.5 MB (...) for the model and its optimiser's state, written
        beside the one before it, best.pt about 44.9 MB (...) and monitor_peak.pt about 44.9 MB
        (...): about 359.0 MB (...) more at their peak, 188.7 MB (...) free in DIR``."""
        others = [f"best.pt about {bytes_words(self.best)}"] if self.best else []
        others += [f"{name} about {bytes_words(size)}" for name, size in self.extra.items()]
        tail = (", " + ", ".join(others[:-1]) + f" and {others[-1]}" if len(others) > 1 else
                f", and {others[0]}" if others else "")
        free = f", {bytes_words(self.free)} free in {self.where}" if self.free is not None else ""
        return (f"last.pt takes about {bytes_words(self.last)} for the model and its optimiser's state, "
                f"written beside the one before it{tail}: about {bytes_words(self.need)} more at "
                f"their peak{free}")


def checkpoint_room(ckpt_dir: str | Path, state: dict[str, Any], best_state: dict[str, Any] | None,
                    extra: Mapping[str, Any] | None = None) -> CheckpointRoom:
    """What the checkpoints of a stage about to train need in ``ckpt_dir`` (:class:`CheckpointRoom`),
    from ``state`` (the task's state dict, whose ``last.pt`` it estimates: its tensors, and for
    each optimiser's state dict without state yet, ``{"state": {}, "param_groups": ...}``,
    :data:`OPTIMIZER_SLOTS` times the bytes of ``state["model"]``), ``best_state`` (``best.pt``'s,
    None: none written) and ``extra`` (the task's other checkpoint files in ``ckpt_dir``, by
    name, with a state of their size: :meth:`drac_ssl.engine.TrainingTask.extra_checkpoints`),
    less the files of these names already there (an overestimate by up to one value per
    parameter for a momentum optimiser: a warning's figure)."""
    folder = Path(ckpt_dir)
    least = checkpoint_file_bytes(state)
    model = tensor_bytes(state.get("model", {}))
    stack, fresh = [state], 0
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "param_groups" in item and isinstance(item.get("state"), dict) and not item["state"]:
                fresh += 1
            else:
                stack.extend(v for v in item.values() if isinstance(v, dict))
    last = least + fresh * OPTIMIZER_SLOTS * model
    best = checkpoint_file_bytes(best_state) if best_state is not None else 0
    others = {name: checkpoint_file_bytes(s) for name, s in (extra or {}).items()}
    names = ("last.pt", "best.pt", *others)
    there = tuple(n for n in names if (folder / n).is_file())
    held = sum((folder / n).stat().st_size for n in there)
    need = max(last, 2 * last + best + sum(others.values()) - held)
    return CheckpointRoom(last, best, need, _free_bytes(folder), folder, others, there)


CHECKPOINT_REFUSED_FIX = (
    "a drac_ssl checkpoint holds only tensors, numbers, strings and containers, so this file was "
    "replaced or altered after drac_ssl wrote it: find out who could write to the run folder, "
    "delete the file, and rerun the stage (it then starts without that checkpoint).")
"""The end of the refusal of a checkpoint that needs Python objects unpickled, after
``fix: do NOT load it with weights_only=False ...;`` (:func:`load_checkpoint`)."""


class CheckpointReadError(ValueError):
    """A checkpoint file that is there but cannot be read as one (cut short, altered, not a
    checkpoint): ``what`` is what is wrong (naming the file), ``fix`` what to do; the message is
    ``what`` and ``"\\n  fix: " + fix``. The resume (:meth:`drac_ssl.engine.Engine.resume`)
    replaces the fix with its own (delete ``last.pt``: the stage trains again from epoch 1)."""

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what + (f"\n  fix: {fix}" if fix else ""))
        self.what, self.fix = what, fix


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a file that needs Python objects unpickled (a pickled function or
            class: never in a checkpoint drac_ssl wrote): refused in the words of a weights
            file holding code (:func:`drac_ssl.weights_file.unpickling_refused_words`: what it
            would call, ``fix: do NOT load it with weights_only=False``,
            :data:`CHECKPOINT_REFUSED_FIX`).
        CheckpointReadError (a ValueError): a file that cannot be read otherwise (cut short,
            not a checkpoint), with torch's reason in one line and a fix. torch's advice to rerun
            ``torch.load`` with ``weights_only=False`` is never passed on.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: checkpoint not found.\n  fix: pass the path of a run's "
            f"checkpoints/last.pt or best.pt"
        )
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupted file or one with pickled code
        names = refused_globals(p, exc)
        if names is not None:
            raise ValueError(unpickling_refused_words(p, names, exc, thing="drac_ssl checkpoint",
                                                      read="checkpoints", fix=CHECKPOINT_REFUSED_FIX)) from None
        raise CheckpointReadError(
            f"{p}: cannot be read as a drac_ssl checkpoint ({type(exc).__name__}: {torch_load_detail(exc)})",
            "drac_ssl writes a checkpoint whole (a temporary file renamed into place), so this one "
            "was cut short or altered since (a copy that did not finish, a disk error): put back a "
            "whole copy, or delete it and run the stage that wrote it again") from None


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Save tensors as safetensors (contiguous CPU copies), atomically."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)
