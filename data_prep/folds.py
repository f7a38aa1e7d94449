"""Cross-validation folds of the training images: stratified by grade, grouped by patient.

There is no official DRAC validation split; the top teams used stratified 5-fold CV on the
611 training images. Folds are a pure function of (grades in manifest order, groups, K, seed),
and the manifest order is the natural sort of the file names, so the same seed and file set
always give the same folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from data_prep.validate import IngestError, error


def assign_folds(grades: Sequence[int], n_folds: int, seed: int,
                 patients: Sequence[str] | None = None,
                 source: str = "folds") -> tuple[np.ndarray, list[str]]:
    """Fold index 0..n_folds-1 for each training image, and any caveats as text.

    ``StratifiedKFold(shuffle=True, random_state=seed)``; with ``patients`` (one id per
    image) ``StratifiedGroupKFold`` instead, so no patient is in two folds. Raises
    :class:`IngestError` when there are too few images (or patients) for ``n_folds``;
    ``source`` (the label CSV) is where that problem is reported.
    """
    y = np.asarray(grades, dtype=np.int64)
    folds = np.full(len(y), -1, dtype=np.int64)
    if len(y) == 0:
        return folds, []
    units = len(set(patients)) if patients is not None else len(y)
    what = "patients" if patients is not None else "training images"
    if units < n_folds:
        problem = error(source, f"only {units} {what} for {n_folds} folds",
                        f"use --folds {max(units, 2)} or fewer (at least 2), or add training images")
        raise IngestError(problem.line, [problem])
    caveats: list[str] = []
    splitter: StratifiedKFold | StratifiedGroupKFold | KFold | GroupKFold
    if int(np.bincount(y).max()) < n_folds:
        # sklearn cannot stratify when every grade has fewer images than folds (tiny sets)
        caveats.append(f"folds: every grade has fewer than {n_folds} {what}, "
                       "folds are not stratified")
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed) \
            if patients is not None else KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    elif patients is not None:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fold, (_, val) in enumerate(splitter.split(np.zeros(len(y)), y, groups=patients)):
            folds[val] = fold
    caveats += [f"folds: {w.message}" for w in caught]
    return folds, caveats
