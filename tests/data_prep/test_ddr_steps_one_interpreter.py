"""The printed DDR steps mixed interpreters: the CSV line began with the running interpreter
(``/opt/venv/bin/python -c ...``, :func:`drac_ssl.starting.python_word`) while the ingest and
score lines said a bare ``python -m``, another interpreter or none where the venv is not
active. Every printed command now starts with the same interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep import layout
from drac_ssl import starting

VENV = "/opt/venv/bin/python"


def ddr_tree(tmp_path: Path) -> Path:
    root = tmp_path / "DR_grading"
    for n, name in enumerate(layout.DDR_SETS):
        (root / name).mkdir(parents=True)
        (root / f"{name}.txt").write_text(f"00{n}-0000-000.jpg 0\n00{n}-0001-000.jpg 2\n")
    return root


@pytest.mark.parametrize("folder", ["", "train", "test"])
def test_every_printed_ddr_command_starts_with_the_running_interpreter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    monkeypatch.setattr(starting, "interpreter_word", lambda: VENV)
    root = ddr_tree(tmp_path)
    said = layout.ddr_fix(root / folder if folder else root)
    assert f"{VENV} -c " in said, said  # the CSV line
    assert " python -m drac_ssl.export --score TEAM.csv" not in said, said
    assert " python -m data_prep ingest" not in said, said
    if folder != "train":  # the grading folder's and test/'s score line
        assert f"{VENV} -m drac_ssl.export --score TEAM.csv" in said, said
    if folder != "test":
        assert f"{VENV} -m data_prep ingest --root" in said, said
