"""Every exception class of the package crosses a process boundary as itself.

A host service that runs the package in a ``ProcessPoolExecutor`` (or a ``multiprocessing``
pool, a DataLoader worker) gets a worker's exception back pickled. ``BaseException`` pickles
as ``cls(*self.args)`` plus ``__dict__``, and ``args`` holds the message alone: a class whose
``__init__`` requires more (``SubmissionCheckFailed``'s ``problems``, ``ServerBusy``'s
``retry_after_s``, ``PreflightError``'s findings) fails to unpickle in the parent, and
``concurrent.futures`` then declares the whole pool broken (``BrokenProcessPool``). The classes
are found by reading the sources (any class deriving, through the package's own classes, from
a builtin exception), so a new one is checked too; one whose ``__init__`` takes other
arguments than a message needs a line in ``ARGS``.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import pickle
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drac_ssl", "data_prep", "app")


def _exception_classes() -> list[tuple[str, str]]:
    """(module, class name) of each class of PACKAGES deriving from a builtin exception,
    directly or through another such class (names matched as written in the bases)."""
    known = {n for n in dir(builtins)
             if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)}
    trees = {p: ast.parse(p.read_text(encoding="utf-8"))
             for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    found: dict[tuple[str, str], None] = {}
    grew = True
    while grew:
        grew = False
        for path, tree in trees.items():
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if not isinstance(node, ast.ClassDef) or (module, node.name) in found:
                    continue
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & known:
                    found[(module, node.name)] = None
                    known.add(node.name)
                    grew = True
    return sorted(found)


def _args() -> dict[str, tuple]:
    from data_prep.problems import Problem
    from drac_ssl.preflight import Finding

    problem = Problem("scans/a.png", "cannot be decoded", "re-export it as PNG")
    return {
        "ImagesFolderError": ("no image files in imgs", "imgs", "team.csv"),
        "UnknownSettingError": ("unknown setting data.image_colum", "data.image_colum", ("data.image_column",)),
        "SettingsError": (["finetune.lr"], "finetune.lr must be > 0", "set finetune.lr=1e-4"),
        "CheckpointReadError": ("runs/x/last.pt cannot be read", "delete it and resume"),
        "SubmissionCheckFailed": ("team.csv fails its check", ["team.csv:3: P1 is not a number -> fix it"]),
        "ImageReadError": ("scans/a.png cannot be read", [problem]),
        "IngestError": ("1 problem found", [problem]),
        "PreflightError": ([Finding("data.root", "nope", "no such folder", fix="give data.root=DIR"),
                            Finding("finetune.epochs", 1, "one epoch is little", severity="warning")],
                           "before the run folder was made"),
        "ServerBusy": ("the server is busy: try again in 3 s", 2.5),
        "InputRejected": ("a.png is not an image", "p1/a.png"),
        "StageInterrupted": ("epoch 6 of 20 saved", "resume from epoch 7", "pretrain"),
        "InterruptedOutsideStage": ("stopped before any stage started",),
    }


def test_every_exception_class_pickles_with_message_and_attributes() -> None:
    classes = _exception_classes()
    # the ones the host service reported, and one of each package: the scan found them
    names = {name for _, name in classes}
    assert {"SubmissionCheckFailed", "ServerBusy", "IngestError", "PreflightError"} <= names
    args = _args()
    failures = []
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, BaseException), (module, name)
        try:
            exc = cls(*args[name]) if name in args else cls(f"{name}: what is wrong -> the fix")
        except TypeError as e:
            pytest.fail(f"{module}.{name} takes other arguments than a message ({e}): "
                        "add a line for it to ARGS in this test")
        try:
            back = pickle.loads(pickle.dumps(exc))
        except Exception as e:  # noqa: BLE001 - each failure is listed
            failures.append(f"{module}.{name}: {type(e).__name__}: {e}")
            continue
        if type(back) is not cls or str(back) != str(exc) or back.args != exc.args or vars(back) != vars(exc):
            failures.append(f"{module}.{name}: came back as {type(back).__name__} {str(back)!r} "
                            f"{vars(back)!r}, not {str(exc)!r} {vars(exc)!r}")
    assert not failures, "\n".join(failures)
