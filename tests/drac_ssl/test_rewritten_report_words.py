"""An upgrade review (F3): resuming a finished run made by older code (every stage "already
done, skipping") wrote its report.md and figures again with this code's words, silently."""

from __future__ import annotations

import json
from pathlib import Path

from drac_ssl.report import report_writer, rewritten_report_words

NOW = "# drac_ssl run report: old\n\nDRAC.\n\nWritten by drac_ssl 0.1.0 at commit 1cc28517 on 2026-12-07T18:50:29+00:00; ...\n"


def test_the_console_says_which_code_wrote_the_report_replaced(tmp_path: Path) -> None:
    run = tmp_path / "old"
    run.mkdir()
    assert report_writer(run) is None
    (run / "environment.json").write_text(json.dumps({"git_commit": "d7353f82"}))
    (run / "report.md").write_text("# drac_ssl run report: old\n\nMade at ... (no writer line)\n")
    before = report_writer(run)
    assert before == ""  # older code's report names no writer
    (run / "report.md").write_text(NOW)  # what write_report leaves
    assert report_writer(run) == "commit 1cc28517"
    assert rewritten_report_words(run, before) == (
        " (rewritten with its figures by this code, commit 1cc28517; the one replaced was written by "
        "older code, which named no writer (the run was made at commit d7353f82))")
    # a report of other recorded code, then the same code, then none before: said, silent, silent
    assert rewritten_report_words(run, "commit abcdef12").endswith("written by commit abcdef12)")
    assert rewritten_report_words(run, "commit 1cc28517") == ""
    assert rewritten_report_words(run, None) == ""
