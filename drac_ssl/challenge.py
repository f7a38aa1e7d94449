"""DRAC 2022 Task 3's own facts that the package states, in one place: the size of the hidden
test set, the final leaderboard's top three (docs/drac.md's table, which
``tests/drac_ssl/test_challenge_facts.py`` holds these numbers to), and what a run's
out-of-fold QWK is against that leaderboard (:func:`leaderboard_words`: report.md's
cross-validated fine-tuning section and the model card).

Stdlib only (the report, the bundle and the submission check import it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from drac_ssl import GRADE_NAMES

__all__ = ["DRAC_TEST_IMAGES", "LEADERBOARD", "LEADERBOARD_SIDES", "LeaderboardEntry", "drac_scale",
           "leaderboard_qwks", "leaderboard_words"]

DRAC_TEST_IMAGES = 386
"""Images of the DRAC 2022 Task 3 test set (unlabelled; the leaderboard scored submissions on
them): a DRAC submission has one row for each."""


class LeaderboardEntry(NamedTuple):
    """One row of the final Task 3 leaderboard (docs/drac.md): rank, team, QWK (the ranking
    figure) and macro one-vs-one AUC (the tie-breaker), both on the hidden test set."""

    rank: int
    team: str
    qwk: float
    auc: float


LEADERBOARD = (
    LeaderboardEntry(1, 'VUNO "FAI"', 0.8910, 0.9147),
    LeaderboardEntry(2, "KT_Bio_Health", 0.8902, 0.9257),
    LeaderboardEntry(3, "(probably LaTIM)", 0.8761, 0.8938),
)
"""The final DRAC 2022 Task 3 leaderboard's top three, as docs/drac.md gives them."""


def leaderboard_qwks() -> str:
    """The top three's QWKs as people read them: ``0.8910 / 0.8902 / 0.8761``."""
    return " / ".join(f"{entry.qwk:.4f}" for entry in LEADERBOARD)


LEADERBOARD_SIDES = (512, 1024)
"""The input sides (px) of the leaderboard's top three (docs/drac.md: 1024, 512 and 1024 px)."""


def drac_scale(data: Mapping[str, Any], grade_names: Sequence[str]) -> bool:
    """Whether a run's data are DRAC Task 3's kind of data, the one rule of report.md's
    leaderboard paragraph, the model card's and the training's ``[train] result:`` line: the
    official DRAC layout (``layout`` ``drac``; None or '' for an ingest that did not record it)
    of UW-OCTA images (``modality`` ``octa``; None: not recorded), whether they are the
    challenge's (``kind`` ``drac``: the user's statement), the phantom stand-ins drawn in that
    layout (``phantom``) or a mix of the two (``drac`` with ``phantom_mixed``), graded on DRAC's
    three grades. Any other data set (RetinaMNIST, a fundus layout on the ICDR grades, a plain
    folder, phantom images copied into one) is not.

    ``data``: the run's data provenance (:func:`drac_ssl.grading.bundle.data_provenance`, a
    bundle's ``metadata.json`` ``data``): its ``kind``, ``layout`` and ``modality``."""
    layout, modality = data.get("layout") or "drac", data.get("modality") or "octa"
    return (data.get("kind") in ("drac", "phantom") and layout == "drac" and modality == "octa"
            and tuple(str(n) for n in grade_names) == GRADE_NAMES)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def leaderboard_words(data: Mapping[str, Any], grade_names: Sequence[str], trial: bool,
                      image_size: int | None = None) -> str:
    """What a run's out-of-fold QWK is against the DRAC 2022 leaderboard, one paragraph; ''
    for data that are not DRAC's kind (:func:`drac_scale`: a RetinaMNIST or fundus run is not
    DRAC's, and a sentence on a challenge it had no part in would read as if it had).

    ``data``: the run's data provenance (:func:`drac_scale`; ``n_train``, the labelled images
    the out-of-fold figures are on, and ``phantom_mixed``, ``{"marked": N, "images": M}`` when
    some of its images are phantoms, are read too); ``trial``: the run is a trial run
    (:mod:`drac_ssl.trial_run`: its training cut short); ``image_size``: the run's input side
    in px (None: not known). The official data of a full run get the comparison and why it
    does not hold (the ranking on the hidden test set, the top three's QWKs, other images,
    what docs/drac.md says the leaderboard's entries did: larger inputs only when the run's
    are smaller than theirs, the submission as the only comparable figure); phantom images,
    phantoms mixed into the data and a trial run get that the figure is not comparable, and
    why."""
    if not drac_scale(data, grade_names):
        return ""
    lead = "Against the DRAC 2022 leaderboard: not comparable."
    if data.get("kind") == "phantom":
        return (f"{lead} These images are the package's phantom stand-ins, not the challenge's, so "
                f"the out-of-fold QWK says nothing of a score on DRAC's hidden test set.")
    mixed = data.get("phantom_mixed")
    if isinstance(mixed, Mapping) and _count(mixed.get("marked")):
        which = "labelled images" if mixed.get("labelled") else "images"
        return (f"{lead} {mixed['marked']} of its {mixed.get('images')} {which} are the package's "
                "synthetic phantoms (drac_ssl's marker), mixed into the data: its out-of-fold QWK "
                "is partly measured on them and says nothing of a score on DRAC's hidden test set.")
    if trial:
        return (f"{lead} A trial run (its training cut short): its out-of-fold QWK checks that the "
                f"pipeline runs on the data; run the recipe in full (configs/drac.yaml) before "
                f"reading it against the leaderboard.")
    n_train = _count(data.get("n_train"))
    images = f"the {n_train} training images" if n_train else "the training images"
    low, high = LEADERBOARD_SIDES
    side = _count(image_size)
    sides = ("" if side >= low else f"inputs of {low} to {high} px, " if not side
             else f"larger inputs ({low} to {high} px; this run's {side} px), ")
    return ("Against the DRAC 2022 leaderboard: the challenge ranked Task 3 entries by QWK on its "
            f"hidden test set of {DRAC_TEST_IMAGES} images, where the final leaderboard's top three "
            f"scored {leaderboard_qwks()} (the package's docs/drac.md). The out-of-fold QWK here, on "
            f"{images}, is not a leaderboard score: it is measured on other images, and the "
            f"leaderboard's entries used {sides}ImageNet-pretrained backbones, 5-fold ensembles and "
            "flips/rotations (the winner flip test-time augmentation as well); two of the three "
            "also pseudo-labelled the test images. The only figure comparable with theirs is the "
            "challenge's own score of the exported submission CSV (export/submission.csv of the "
            "run folder).")
