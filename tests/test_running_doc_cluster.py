"""docs/running.md's "On a cluster" section against the training's ``--help``: each exit code
``drac_ssl.exit_codes.TRAIN_EXIT_CODES`` lists has its row in the section's table (a review: a
job script is written from that table, and 75 was new), and the table lists no other."""

from __future__ import annotations

import re
from pathlib import Path

from drac_ssl.exit_codes import RUN_BUSY, TRAIN_EXIT_CODES

REPO = Path(__file__).resolve().parents[1]


def _cluster_section() -> str:
    doc = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    start = doc.index("\n## On a cluster\n")
    end = doc.index("\n## ", start + 1)
    return doc[start:end]


def test_every_training_exit_code_has_its_row_in_the_cluster_table() -> None:
    listed = {int(code) for code in re.findall(r"(?:Exit codes:|;|,) (\d+) ", TRAIN_EXIT_CODES)}
    assert {0, 1, 2, RUN_BUSY, 130, 143} <= listed, listed  # the pattern reads the --help text
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", _cluster_section(), flags=re.MULTILINE)}
    assert rows == listed, f"docs/running.md, On a cluster: table rows {sorted(rows)}, --help {sorted(listed)}"


def test_the_cluster_section_says_the_other_commands_exit_75_on_a_busy_folder() -> None:
    """The UMM stage, the report and the export exit 75 on a busy run folder as the training
    does (they exited 2, and the section said so): the section says it, no longer the
    caveat, and each command's --help (drac_ssl.exit_codes) lists it."""
    from drac_ssl.exit_codes import EXPORT_EXIT_CODES, REPORT_EXIT_CODES, UMM_EXIT_CODES

    section = _cluster_section()
    assert re.search(r"`python -m drac_ssl\.umm`, `\.report` and `\.export` refused on a run folder another "
                     r"process\s+holds exit 75 too", section)
    doc = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    assert "still exit 2" not in doc and "Only the training exits 75" not in doc
    assert "2 for .umm, .report, .export" not in doc
    for codes in (EXPORT_EXIT_CODES, REPORT_EXIT_CODES, UMM_EXIT_CODES):
        assert f"{RUN_BUSY} " in codes and "in use" in codes, codes


def test_the_cluster_section_says_where_torch_compiles_cache_goes_and_the_package_leaves_it() -> None:
    """torch.compile (pretrain.compile, auto on CUDA) keeps its cache in $TMPDIR/torchinductor_<user>:
    a job-local $TMPDIR loses it, and each requeued job compiles again. The section names the
    variable that keeps it; the package itself never sets it (a user's setting is theirs)."""
    section = " ".join(_cluster_section().split())
    assert "torchinductor_<user>/" in section
    assert "export TORCHINDUCTOR_CACHE_DIR=$SCRATCH/.torchinductor" in section
    setters = [path for path in (REPO / "drac_ssl").rglob("*.py")
               if "TORCHINDUCTOR_CACHE_DIR" in path.read_text(encoding="utf-8")]
    assert not setters, setters
