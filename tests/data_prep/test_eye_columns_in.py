"""One test of "this CSV grades each eye in a column of its own" (data_prep.layout.eye_columns_in),
which seven readers had written out each for itself: the layout detection, the ingest's per-eye
notes and fixes, and ``export --score``'s column reading. Its edge cases, which a merge of the
copies could get wrong: both columns or none, the header's own spelling returned, the layout's
(left, right) order whatever the header's."""

from __future__ import annotations

from data_prep.layout import EYE_COLUMNS, eye_columns_in


def test_both_eye_columns_are_needed_and_come_back_as_the_header_spells_them() -> None:
    left, right = EYE_COLUMNS["deepdrid"]
    assert eye_columns_in([]) == {}
    assert eye_columns_in(["image_id", left]) == {}  # one eye's column is no pair
    assert eye_columns_in(["image_id", right, "patient_DR_Level"]) == {}
    # right before left in the header, spelt otherwise: the layout's order, the header's names
    header = ["image_id", ' "RIGHT_eye_DR_level" ', "Left_Eye_DR_Level", "patient_id"]
    assert eye_columns_in(header) == {"deepdrid": ("Left_Eye_DR_Level", ' "RIGHT_eye_DR_level" ')}
    # two columns that read alike: the last is the one named (as a reader's dict of the header)
    assert eye_columns_in([left, "LEFT_EYE_DR_LEVEL", right]) == {"deepdrid": ("LEFT_EYE_DR_LEVEL", right)}
    assert eye_columns_in(iter(["x", left, right])) == {"deepdrid": (left, right)}  # any iterable
