"""report.md's "Files in this folder" (drac_ssl.run_files) and docs/running.md's annotated
tree of a run folder: one table of entries, the report listing those a run folder holds
(review s52 F7: the report named three files, the map was only in the repository's docs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from drac_ssl.report import write_report
from drac_ssl.run_files import MIB, RUN_FILES, held

REPO = Path(__file__).resolve().parents[2]
NAMES = {entry.name for entry in RUN_FILES}


def _files_section(report: str) -> str:
    return report.split("## Files in this folder", 1)[1]


def _nested(section: str, name: str) -> bool:
    """Whether ``name``'s item is indented under another (an entry inside a listed folder)."""
    return any(line.startswith(f"  - `{name}`") for line in section.splitlines())


def test_the_report_lists_the_files_the_run_folder_holds_and_no_others(tmp_path: Path) -> None:
    """A finished run folder: report.md ends with its files, each with what it is and whether
    it can be deleted; the checkpoints' size is given, and entries the folder lacks (UMM's
    checkpoints, console.log, a variant's bundle, TensorBoard logs) are not listed."""
    from fake_ingest import make_finished_run

    run = make_finished_run(tmp_path / "runs" / "done")
    (run / "pretrain" / "checkpoints").mkdir()
    (run / "pretrain" / "checkpoints" / "last.pt").write_bytes(b"\0" * (3 * MIB))
    (run / "finetune" / "vicreg" / "oof.csv").write_text("case\n")
    (run / "export" / "submission_provenance.json").write_text("{}")  # the export always writes it
    (run / "report").mkdir()  # a figure an earlier report drew (this fake run has none to draw)
    (run / "report" / "vicreg_confusion.png").write_bytes(b"")
    text = write_report(run).read_text(encoding="utf-8")
    assert text.rstrip().split("\n## ")[-1].startswith("Files in this folder"), "not the last section"
    files = _files_section(text)
    items = re.findall(r"^ *- `([^`]+)`", files, flags=re.M)
    for entry in RUN_FILES:
        if held(run, entry) or entry.name == "report.md":
            assert entry.name in items, entry.name
    for absent in ("umm/checkpoints/", "console.log", "bundles/<variant>/", "pretrain/tensorboard/",
                   "finetune/<variant>/calibration.json", "invocations.jsonl"):
        assert absent not in items, absent
    for present in ("config.yaml", "stages.json", "data/", "data/cache/", "pretrain/checkpoints/",
                    "finetune/<variant>/fold<i>.safetensors", "finetune/<variant>/oof.csv", "bundle/",
                    "export/submission.csv", "export/submission_provenance.json", "report/"):
        assert present in items, present
    checkpoints = next(line for line in files.splitlines() if "`pretrain/checkpoints/`" in line)
    assert _nested(files, "pretrain/checkpoints/"), "an entry inside pretrain/ is indented under it"
    assert "(3.0 MiB)" in checkpoints and "run.keep_checkpoints=false" in checkpoints, checkpoints
    assert "umm.start_from=last|peak|past_peak" in checkpoints and "This run has finished." in checkpoints
    oof = next(line for line in files.splitlines() if "`finetune/<variant>/oof.csv`" in line)
    assert "(vicreg)" in oof and "Keep" in oof, oof
    figures = next(line for line in files.splitlines() if "`report/`" in line)
    # what this folder holds, not every figure a report can draw (a review: an empty report/
    # of a pretraining-only run was "confusion matrices, ROC and validation curves")
    assert "`report/` (confusion matrices)" in figures and "Can be deleted" in figures, figures


def test_the_checkpoints_of_an_unfinished_run_are_to_be_kept(tmp_path: Path) -> None:
    """An interrupted fine-tuning: the pretraining's checkpoints are listed, but not as
    deletable now (an unfinished stage's resume may still need the run's checkpoints)."""
    from fake_ingest import make_finished_run

    run = make_finished_run(tmp_path / "runs" / "open")
    (run / "pretrain" / "checkpoints").mkdir()
    (run / "pretrain" / "checkpoints" / "best.pt").write_bytes(b"\0")
    stages = json.loads((run / "stages.json").read_text())
    for stage in ("finetune", "export"):
        stages[stage] = {"status": "interrupted"}
    (run / "stages.json").write_text(json.dumps(stages))
    files = _files_section(write_report(run).read_text(encoding="utf-8"))
    checkpoints = next(line for line in files.splitlines() if "`pretrain/checkpoints/`" in line)
    assert "This run has not finished: keep them until it has." in checkpoints, checkpoints
    assert "MiB)" not in checkpoints, "a size under 1 MiB is not printed"


def _docs_tree() -> dict[str, str]:
    """docs/running.md's annotated tree of a run folder: each entry's name -> its description
    (its continuation lines included); an entry line names one or more (``a/, b/``)."""
    doc = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    block = doc.split("## The run folder explains itself", 1)[1].split("```", 2)[1]
    tree: dict[str, str] = {}
    current: list[str] = []
    for line in block.splitlines()[1:]:
        entry = re.match(r"^  ([^\s,]+(?:, [^\s,]+)*)(?: +(.*))?$", line)
        if entry:
            current = entry.group(1).split(", ")
            for name in current:
                tree[name] = entry.group(2) or ""
        elif line.strip():
            for name in current:
                tree[name] += " " + line.strip()
    return tree


def test_the_table_and_the_docs_tree_name_the_same_entries() -> None:
    """Every entry of drac_ssl.run_files.RUN_FILES is in docs/running.md's tree (by name, or,
    inside a folder of the tree, named in that folder's description), and every entry of the
    tree is in the table: the two cannot drift apart."""
    tree = _docs_tree()
    assert {"config.yaml", "data/", "finetune/", "report.md"} <= set(tree), sorted(tree)
    for entry in RUN_FILES:
        if entry.name in tree:
            continue
        folder = entry.above(set(tree))
        assert folder, f"{entry.name} is neither in docs/running.md's tree nor inside a folder of it"
        leaf = entry.name.rstrip("/").rpartition("/")[2] + ("/" if entry.name.endswith("/") else "")
        assert leaf in tree[folder], f"docs/running.md's {folder} does not describe {leaf} ({entry.name})"
    missing = sorted(set(tree) - NAMES)
    assert not missing, f"docs/running.md's tree has entries drac_ssl.run_files.RUN_FILES lacks: {missing}"


def test_each_entry_says_what_it_is_and_whether_it_can_go() -> None:
    for entry in RUN_FILES:
        assert entry.what.endswith(".") and entry.delete.endswith("."), entry.name
        assert entry.delete.startswith(("Keep", "Can be deleted")), entry.name
        assert not entry.until_finished or entry.delete.startswith("Can be deleted"), entry.name
