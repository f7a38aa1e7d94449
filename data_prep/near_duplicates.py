"""Near-duplicate images: labelled ones kept in one fold, a test image's twin among the
training images warned of (an error with ``--strict``) (``data.near_duplicate_mse``).

A data set without patient ids (RetinaMNIST's ``.npz``) gets per-image folds, and an image
and its near twin (another photograph of the same eye, or the same photograph resized twice)
can then sit in different folds: the fold that validates one has trained on the other, and
the out-of-fold figures get credit for memory (``bench/near_duplicates.py`` measured 32 such
images of RetinaMNIST's 1,200 labelled ones). With ``data.near_duplicate_mse`` > 0 the ingest
joins the labelled images whose mean squared pixel difference is below it into groups, and
the folds keep each group together as they keep a patient's images
(:func:`data_prep.folds.assign_folds`, ``StratifiedGroupKFold``).

Conventions, shared with ``bench/near_duplicates.py`` (one implementation):

* the distance of two images is the mean over all their values (every pixel, every channel)
  of the squared difference, pixels scaled to 0..1 (``uint8 / 255``): ``1e-4`` is an RMS
  difference of 1 % of the range (2.6 grey levels of 255);
* every pair of images closer than the threshold (strictly) is linked, found exactly by
  comparing each image with every later one a block of rows at a time
  (``sklearn.metrics.pairwise_distances``, each pair once; memory: one block plus the pairs
  found), and
  the groups are the connected components of those links
  (``scipy.sparse.csgraph.connected_components``), so a chain a~b~c is one group even when a
  and c are further apart than the threshold (:func:`near_pairs`, :func:`twin_groups`); a
  threshold that links more than :data:`MAX_PAIRS_PER_IMAGE` pairs per image stops with
  ValueError (it is far above near twins);
* the test images and the unlabelled pool are compared with the training images (not with
  each other), each with its nearest training image (:func:`twins_across`): a test image's
  twin among the training images would credit the test figures with memory, and the ingest
  warns of it (an error with ``--strict``; JPEG q80 copies of the 128 px APTOS samples measured 4e-5 .. 4e-4 from their
  originals at 64 px, half below 1e-4; two distinct samples 4.5e-4 or more apart);
* :func:`nearest_neighbours` (each image's single nearest other image) is what
  ``bench/near_duplicates.py`` counts with: an image has a twin below the threshold exactly
  when its nearest neighbour is below it, so the counts agree with the groups' members;
* the ingest compares each labelled image's cached copy at the smallest of
  ``data.cache_sizes``, area-resized (OpenCV ``INTER_AREA``) to :data:`COMPARE_SIDE` px when
  larger (:func:`comparison_rows`), so that 35k EyePACS images fit in memory.

scikit-learn and SciPy are imported in the functions (seconds of imports the ingest's usage
errors need not wait for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from drac_ssl.starting import import_keeping_random

COMPARE_SIDE = 64
"""The largest side (px) at which the ingest compares the cached copies: a larger cache size
is area-resized to it (a 64 x 64 x 3 float32 row is 48 KiB: 35k images are 1.7 GiB)."""


def comparison_rows(images: np.ndarray, side: int = COMPARE_SIDE) -> np.ndarray:
    """The rows the distances are taken on: ``images`` as floats in 0..1, flattened.

    Args:
        images: ``(n, S, S)`` grey or ``(n, S, S, 3)`` RGB ``uint8`` cache rows.
        side: images with ``S > side`` are area-resized (``cv2.INTER_AREA``) to ``side`` x
            ``side`` first; smaller ones are compared as they are (never upscaled).

    Returns:
        ``(n, d)`` float32, ``d = S' * S' * channels`` with ``S' = min(S, side)``; pixels / 255.

    Raises:
        ValueError: ``images`` is not 3- or 4-dimensional, or not ``uint8``.
    """
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise ValueError(f"comparison_rows: expected (n, S, S[, 3]) uint8 cache rows, got shape "
                         f"{images.shape} of {images.dtype}")
    if images.shape[1] > side:
        images = np.stack([cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
                           for image in images]) if len(images) else \
            np.empty((0, side, side, *images.shape[3:]), dtype=np.uint8)
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)


def nearest_neighbours(x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``x`` (``(n, d)`` float), the index of its nearest row of ``y`` (``x``
    itself when None, the row itself excluded) by mean squared difference, and that distance
    (``sklearn.neighbors.NearestNeighbors``, exact search).

    Returns:
        ``(index, distance)``, each ``(n,)``; distances are means over the ``d`` values (in the
        squared units of ``x``: 0..1 for pixels / 255).

    Raises:
        ValueError: (scikit-learn's) fewer than 2 rows without ``y``, or ``y`` empty."""
    NearestNeighbors = import_keeping_random("sklearn.neighbors").NearestNeighbors

    search = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x if y is None else y)
    # without a query, each fitted row's neighbours leave out the row itself
    distance, index = search.kneighbors(None if y is None else x)
    return index[:, 0], distance[:, 0] ** 2 / x.shape[1]


def twins_across(queries: np.ndarray, references: np.ndarray | Iterable[np.ndarray], threshold: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``queries`` (a test split's, an unlabelled pool's) whose nearest row of
    ``references`` (the training images', the test images') is closer than ``threshold``
    (strictly), by mean squared difference (:func:`nearest_neighbours`, exact search).

    Args:
        queries: ``(m, d)`` floats (:func:`comparison_rows`: 0..1); a block of them at a time
            keeps memory at one query block plus ``references`` (or, for blocks of references,
            one query block plus one reference block, and the next while it is made).
        references: ``(n, d)`` floats of the same ``d``, or an iterable of such blocks
            ``(n_b, d)``, their rows numbered on from block to block, each compared and
            dropped before the next is taken (a generator: never all held; not drawn from when
            ``queries`` is empty). Of equally near rows the first is the twin, as if compared
            at once.
        threshold: the mean squared difference below which two rows are twins.

    Returns:
        ``(query_index, reference_index, distance)``, each ``(k,)`` for the ``k`` queries with
        a twin, in query order: the twin is the query's nearest reference row.

    Raises:
        ValueError: ``queries`` and ``references`` (a block of them) differ in ``d``."""
    if not len(queries):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    best = np.full(len(queries), np.inf)
    which = np.zeros(len(queries), dtype=np.int64)
    start = 0
    for block in [references] if isinstance(references, np.ndarray) else references:
        if len(block):
            if queries.shape[1] != block.shape[1]:
                raise ValueError(f"twins_across: rows of {queries.shape[1]} values against rows of "
                                 f"{block.shape[1]}")
            index, distance = nearest_neighbours(queries, block)
            closer = distance < best  # strictly: an earlier block keeps a tie, as argmin would
            best[closer] = distance[closer]
            which[closer] = index[closer] + start
        start += len(block)
    near = np.flatnonzero(best < threshold)
    return near.astype(np.int64), which[near], best[near]


BLOCK_BYTES = 64 * 2**20
"""The most bytes of (float64) distances one block of :func:`near_pairs` holds (64 MiB, the
bound ``sklearn.metrics.pairwise_distances_chunked`` gave it before)."""

BLOCK_ROWS = 256
"""The most rows in one block of :func:`near_pairs`: the search computes about
``n * (n + BLOCK_ROWS) / 2`` distances (the pairs plus the blocks' own lower triangles), near
the ``n * (n - 1) / 2`` pairs when ``n`` is large (a hand measurement, 4,000 random
64 x 64 x 3 rows, one BLAS thread on a loaded machine: 0.62 to 0.72 of the time of comparing
every block with all rows, the same pairs up to float32 rounding)."""

MAX_PAIRS_PER_IMAGE = 50
"""At most this many linked pairs per labelled image (``50 * n``): a threshold that links more
is far above near twins (1e-4 links 16 pairs of RetinaMNIST's 1,200 images) and would join
most images into a few groups; :func:`near_pairs` stops and says so."""


def near_pairs(rows: np.ndarray, threshold: float, max_pairs: int | None = None,
               setting: str = "data.near_duplicate_mse=", block_rows: int | None = None,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Every pair of rows whose mean squared difference is below ``threshold`` (strictly).

    The distances are computed a block of rows at a time, each block only with the rows from
    its own first row on (``sklearn.metrics.pairwise_distances``, euclidean): each pair once,
    about half the work of comparing every block with all ``n`` rows, with the same distances
    up to float32 rounding (float32 rows: float32, squared in float64; a block's size changes
    the BLAS summation order, so a pair within one rounding step of the threshold could flip). A block has at most :data:`BLOCK_ROWS` rows and
    :data:`BLOCK_BYTES` of distances, and only the pairs below the threshold are kept, so memory
    stays bounded by one block plus the pairs found.

    Args:
        rows: ``(n, d)`` floats (:func:`comparison_rows`: 0..1).
        threshold: the mean squared difference (squared units of ``rows``) below which two rows
            are twins.
        max_pairs: stop with ValueError once more pairs than this are found (default
            :data:`MAX_PAIRS_PER_IMAGE` ``* n``).
        setting: how the error names the value (``"--near-duplicate-mse "`` for the ingest's
            command line).
        block_rows: rows per block (default: :data:`BLOCK_ROWS`, fewer where
            :data:`BLOCK_BYTES` says so; a test sets a few to cross block edges).
        progress: called after each block with the number of pairs it settled (``n * (n - 1)
            / 2`` in all): the ingest's progress bar or lines.

    Returns:
        ``(m, 2)`` int64 pairs ``(i, j)``, ``i < j``, sorted by ``i`` then ``j``.

    Raises:
        ValueError: more than ``max_pairs`` pairs below ``threshold`` (the message names
            the setting, what was found and the fix).
    """
    pairwise_distances = import_keeping_random("sklearn.metrics").pairwise_distances

    n, d = rows.shape
    limit = MAX_PAIRS_PER_IMAGE * n if max_pairs is None else max_pairs
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)

    found: list[np.ndarray] = []
    total = start = 0  # pairs found, rows whose partners are all found
    while start < n:
        stop = min(n, start + (block_rows or max(1, min(BLOCK_ROWS, BLOCK_BYTES // (8 * (n - start))))))
        # (stop - start, n - start): the block against itself (its upper triangle) and the rows after
        distances = pairwise_distances(rows[start:stop], rows[start:], metric="euclidean")
        near = distances.astype(np.float64) ** 2 / d < threshold
        for i, row in enumerate(near):
            js = start + i + 1 + np.flatnonzero(row[i + 1:])
            if len(js):
                found.append(np.stack([np.full(len(js), start + i), js], axis=1).astype(np.int64))
                total += len(js)
        if progress is not None:
            rows_done = stop - start
            progress(rows_done * (n - 1 - start) - rows_done * (rows_done - 1) // 2)
        start = stop
        if total > limit:
            raise ValueError(
                f"{setting}{threshold:g} links too many labelled images: more than "
                f"{limit:,} pairs below it ({total:,} among the first {start:,} of {n:,} images; at most "
                f"{MAX_PAIRS_PER_IMAGE} per image), so the folds would keep most images in a few "
                f"groups; near twins are far closer -> use a value near 1e-4 (an RMS pixel "
                f"difference of 1 % of the range), or 0 (off)")
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


def twin_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    """Group id of each of ``n`` images: images linked by ``pairs`` share one (connected
    components, ``scipy.sparse.csgraph``, so a chain a~b~c is one group); every other image is a
    group of its own.

    Args:
        n: the number of images.
        pairs: ``(m, 2)`` image indices, each pair linked (:func:`near_pairs`).

    Returns:
        ``(n,)`` ints: each group named by its first image's index (the fold split of the
        groups depends on their names)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    _, first = np.unique(labels, return_index=True)
    return first[labels]


def near_duplicate_groups(rows: np.ndarray, threshold: float, max_pairs: int | None = None,
                          setting: str = "data.near_duplicate_mse=",
                          progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The near-twin groups of the rows of :func:`comparison_rows`: every pair below
    ``threshold`` (:func:`near_pairs`, which calls ``progress``) linked, the groups their
    connected components (:func:`twin_groups`). ``(n,)`` group ids (the first member's index);
    fewer than 2 rows: each its own group.

    Raises:
        ValueError: more than ``max_pairs`` pairs below ``threshold`` (:func:`near_pairs`)."""
    return twin_groups(len(rows), near_pairs(rows, threshold, max_pairs, setting, progress=progress))


def grouped_units(units: Sequence[str], groups: Sequence[int] | np.ndarray) -> list[str]:
    """The units the folds keep whole when both relations hold: images of one unit (a patient;
    an image without one is its own unit) or of one twin group are joined, and so are chains
    of them (the connected components of the union of both relations).

    Args:
        units: each image's unit id, ``(n,)`` strings (a patient id, or the image id).
        groups: each image's twin group (:func:`near_duplicate_groups`), ``(n,)``.

    Returns:
        ``(n,)`` unit ids: each component named by the unit of its first image, so a unit that
        no twin joins to another keeps its id (and the folds of units alone are unchanged by
        twins that stay inside one unit).

    Raises:
        ValueError: ``units`` and ``groups`` differ in length.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(units)
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"grouped_units: {n} units but {len(groups)} twin groups")
    if n == 0:
        return []
    _, unit_ids = np.unique(np.asarray(units, dtype=object).astype(str), return_inverse=True)
    _, group_ids = np.unique(groups, return_inverse=True)
    # a bipartite graph: image i -- unit node, image i -- group node
    nodes = n + int(unit_ids.max()) + 1 + int(group_ids.max()) + 1
    images = np.arange(n)
    rows = np.concatenate([images, images])
    cols = np.concatenate([n + unit_ids, n + int(unit_ids.max()) + 1 + group_ids])
    graph = coo_matrix((np.ones(2 * n), (rows, cols)), shape=(nodes, nodes))
    labels = connected_components(graph, directed=False)[1][:n]
    _, first = np.unique(labels, return_index=True)
    name = {int(labels[i]): str(units[i]) for i in first}
    return [name[int(label)] for label in labels]


def group_counts(groups: Sequence[int] | np.ndarray) -> tuple[int, int]:
    """``(images in a group of two or more, such groups)`` of twin group ids ``(n,)``."""
    _, sizes = np.unique(np.asarray(groups), return_counts=True)
    joined = sizes[sizes > 1]
    return int(joined.sum()), int(len(joined))


LOOSE_GRADES = 3
"""A near-twin group whose images carry this many grades or more is most likely a chain of
distinct pictures joined by a threshold too loose (one picture graded twice carries two)."""

LOOSE_MEMBERS = 5
"""A near-twin group of more than this many images is most likely a chain too (a copy-paste or
a re-encoding makes pairs, rarely six copies)."""

SUGGESTED_MSE = 1e-4
"""The documented threshold :data:`LOOSE_THRESHOLD` suggests: a threshold at or below it is
never called too loose (:func:`clash_fix`)."""

LOOSE_THRESHOLD = "the threshold is likely too loose: try 1e-4 (the documented value)"
"""What :func:`clash_fix` says of a group that looks like a chain."""


def clash_fix(n_images: int, n_grades: int, threshold: float | None = None,
              setting: str = "--near-duplicate-mse") -> str:
    """The fix of a near-twin group of ``n_images`` images carrying ``n_grades`` (>= 2) grades:
    correct the label CSV or delete the copy; first, for a group of :data:`LOOSE_GRADES` grades
    or more or more than :data:`LOOSE_MEMBERS` images (a loose threshold chains distinct
    pictures into one group: 1e-3 joined 19 APTOS photographs of grades 1..4, one fold taking
    18 of 30), that the threshold is too loose (``setting`` names it), unless ``threshold``
    (the mean squared difference set; ``None``: unknown) is :data:`SUGGESTED_MSE` or below:
    there the group is copies of one picture (six real copies graded 1 and 2 at 1e-4 were
    told to "try 1e-4"). A group of more than :data:`LOOSE_MEMBERS` images of two grades only
    may be such copies too, and is said so."""
    fix = "check which grade is right and correct the label CSV (or delete the copy)"
    if threshold is not None and threshold <= SUGGESTED_MSE:
        return fix
    said = f"{n_images} images of {n_grades} grades in one group ({setting})"
    if n_grades >= LOOSE_GRADES:
        return f"{said}: {LOOSE_THRESHOLD}; else {fix}"
    if n_images > LOOSE_MEMBERS:
        return f"{said}: unless they are copies of one picture, {LOOSE_THRESHOLD}; else {fix}"
    return fix
