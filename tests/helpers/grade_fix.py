"""Test helper shared by tests/data_prep and tests/drac_ssl (on pytest's ``pythonpath``):
do what a grade fix of the ingest or the preflight says, as a user would."""

from __future__ import annotations

import re
from pathlib import Path


def follow_grade_fix(fix: str, csv_path: Path, option: str, neighbour: int = 0) -> str:
    """Do what a grade fix says in a two-column label CSV (the copy it says to make: the
    CSV given, in a test): give the lines it names the first (``neighbour=0``) or second grade it offers, then replace the grades one by one in
    the order it gives. Returns the text of the fix that matches the regular expression
    ``option`` (what it says to pass: ``--grades "..."`` or ``data.grades=[...]``)."""
    lines = csv_path.read_text().splitlines()
    relabel = re.search(r"give its images? ([^(]+) \(lines? ([\d, ]+)\) grade (.+?) instead of \d+, then", fix)
    if relabel:
        to = re.findall(r"(\d+) \(", relabel[3])[neighbour]
        for number in relabel[2].split(", "):
            name = lines[int(number) - 1].split(",")[0]
            assert name in relabel[1].split(", "), (name, fix)  # the line holds the image named
            lines[int(number) - 1] = f"{name},{to}"
    moves = re.search(r"so that they run 0\.\.\d+ \(([^)]*)\)", fix)
    for old, new in re.findall(r"(\d+) -> (\d+)", moves[1] if moves else ""):
        lines = [lines[0]] + [f"{row.split(',')[0]},{new}" if row.split(",")[1] == old else row
                              for row in lines[1:]]
    csv_path.write_text("\n".join(lines) + "\n")
    said = re.search(option, fix)
    assert said is not None, fix
    return said[0]
