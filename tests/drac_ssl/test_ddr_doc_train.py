"""docs/data.md gave DDR's ingest line only (a second reviewer, F4): its train commands, read as
a shell reads them and resolved by the train command's own parser and config loader, train on
the folder the ingest line reads, with the ingest's ICDR scale, crop and ungradable rows left out."""

from __future__ import annotations

import shlex

from train_commands import REPO, resolved, train_commands


def test_ddrs_train_commands_resolve_to_the_ingest_lines_settings() -> None:
    text = (REPO / "docs" / "data.md").read_text(encoding="utf-8")
    found = [c for c in train_commands(text) if any(w.startswith("data.root=") and
                                                    w.endswith("DR_grading_trainval") for w in c)]
    assert len(found) == 2, found  # "One command per data set" and the DDR section
    ingest_roots = {shlex.split(line.split("--root", 1)[1])[0] for line in text.replace("\\\n", " ").splitlines()
                    if "data_prep ingest --root" in line and "DR_grading_trainval" in line}
    for command in found:
        config = resolved(command)
        assert config["data"]["root"] in ingest_roots, (config["data"]["root"], ingest_roots)
        assert list(config["data"]["grades"]) == ["icdr"], config["data"]["grades"]  # the ingest's --grades icdr
        assert config["data"]["fundus_crop"] is True
        assert config["data"]["ungradable"] == "leave_out"
