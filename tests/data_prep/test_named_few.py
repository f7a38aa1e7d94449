"""``data_prep.problems.named_few``: the lists of names the ingest's messages shorten."""

from __future__ import annotations

from data_prep.problems import named_few


def test_one_left_over_is_named_not_counted() -> None:
    """Second read F7: four folders with three shown read ``1/, 2/, 3/ and 1 more``, a count
    no shorter than the name it hid; one left over is named, two or more counted."""
    assert named_few(["1/", "2/", "3/", "4/"], 3) == "1/, 2/, 3/ and 4/"
    assert named_few(["1/", "2/", "3/", "4/", "5/"], 3) == "1/, 2/, 3/ and 2 more"
    assert named_few(["a", "b", "c"], 3) == "a, b and c"
    assert named_few(["a"], 3) == "a"
    assert named_few(["x: 1", "y: 2", "z: 3"], 1, sep="; ", last="; and ", unit=" rows") == \
        "x: 1; and 2 more rows"
    assert named_few(["x: 1", "y: 2"], 1, sep="; ", last="; and ", unit=" rows") == "x: 1; and y: 2"
