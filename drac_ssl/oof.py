"""The out-of-fold file, ``finetune/<variant>/oof.csv``: its columns and its one reader.

:mod:`drac_ssl.finetune` writes it (every labelled image graded once, by the fold model
that did not train on it, after cross-fitted calibration); :mod:`drac_ssl.report`,
:mod:`drac_ssl.compare` and :mod:`drac_ssl.export` read it back through :func:`read_oof`,
so a change of layout is made in one place.

Columns, one row per labelled image in manifest order:

- ``id``: the image id of the manifest;
- ``grade``: the reference grade, ``0..K-1``;
- ``fold``: the validation fold that graded it;
- ``P0..P{K-1}``: calibrated probabilities (each row sums to 1, 6 decimals);
- ``score``: the thresholds rule's input: the expected grade ``sum_k k P_k`` (classification
  head), or the fold model's raw output (regression head: the grade as a number);
- ``pred``: the grade given by the variant's class decision (``finetune.decision``);
- ``logit0..logit{K-1}`` (classification head) or ``raw_score`` (regression head): the fold
  model's uncalibrated output.
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drac_ssl.scale import prob_columns

OOF_FILE = "oof.csv"


class OofError(ValueError):
    """An ``oof.csv`` that cannot be read as :mod:`drac_ssl.finetune` writes it; the
    message names the file (and the line, for a bad value) and what is wrong."""


def oof_columns(num_grades: int, output: str) -> list[str]:
    """The header of an ``oof.csv`` for ``num_grades`` grades and a ``classification`` or
    ``regression`` head (see the module docstring)."""
    raw = ([f"logit{g}" for g in range(num_grades)] if output == "classification" else ["raw_score"])
    return ["id", "grade", "fold", *prob_columns(num_grades), "score", "pred", *raw]


@dataclass(frozen=True)
class OutOfFold:
    """One variant's out-of-fold outputs, ``n`` images in the file's order.

    ``ids`` ``(n,)`` str; ``grades`` ``(n,)`` int64 reference grades; ``probs`` ``(n, K)``
    float64 calibrated probabilities; ``pred`` ``(n,)`` int64 given grades; ``folds``
    ``(n,)`` int64 validation folds, None for a file without a ``fold`` column (written
    before it had one)."""

    ids: tuple[str, ...]
    grades: np.ndarray
    probs: np.ndarray
    pred: np.ndarray
    folds: np.ndarray | None

    @property
    def num_grades(self) -> int:
        """K, the number of ``P`` columns."""
        return int(self.probs.shape[1])


def read_oof(path: str | os.PathLike[str]) -> OutOfFold:
    """Read an ``oof.csv`` (K = its ``P0..P{K-1}`` columns, at least 2).

    Raises:
        OofError: the file is missing or unreadable, not a CSV, lacks ``id``, ``grade``,
            ``pred`` or ``P0``/``P1``, has no rows, repeats an id, or holds a value that is
            not a number (the message gives the line).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise OofError(f"{path}: no such file") from None
    except OSError as exc:
        raise OofError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise OofError(f"{path}: not a readable CSV file ({exc})") from None
    k = 0
    while f"P{k}" in columns:
        k += 1
    missing = [c for c in ("id", "grade", "pred") if c not in columns] + [f"P{g}" for g in range(k, 2)]
    if missing:
        raise OofError(f"{path}: no column {', '.join(missing)} (drac_ssl.finetune writes "
                       f"{', '.join(oof_columns(3, 'classification')[:3])}, P0..P{{K-1}}, score, pred, ...)")
    if not rows:
        raise OofError(f"{path}: no rows")

    def value(line: int, row: dict[str, Any], column: str, kind: type[int] | type[float]) -> Any:
        text: Any = row.get(column)  # None on a short row
        try:
            return kind(text)
        except (TypeError, ValueError):
            raise OofError(f"{path}, line {line}: {column} is {text!r}, not "
                           f"{'an integer' if kind is int else 'a number'}") from None

    ids = tuple(str(row["id"]) for _, row in rows)
    repeated = [image for image, count in Counter(ids).items() if count > 1]
    if repeated:
        raise OofError(f"{path}: id {repeated[0]!r} appears more than once")
    grades = np.array([value(line, row, "grade", int) for line, row in rows], dtype=np.int64)
    pred = np.array([value(line, row, "pred", int) for line, row in rows], dtype=np.int64)
    probs = np.array([[value(line, row, f"P{g}", float) for g in range(k)] for line, row in rows],
                     dtype=np.float64)
    folds = (np.array([value(line, row, "fold", int) for line, row in rows], dtype=np.int64)
             if "fold" in columns else None)
    return OutOfFold(ids, grades, probs, pred, folds)

