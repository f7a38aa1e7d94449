"""drac_ssl.console: the plain progress line a long loop prints off a terminal."""

from __future__ import annotations

from drac_ssl.console import count_progress_line


def test_a_count_progress_line_says_done_of_total_the_rate_and_the_time_left() -> None:
    assert count_progress_line("ingest", 12_000, 35_126, 57.0) == (
        "[ingest] 12,000 of 35,126 images (211 img/s, about 2 min left)")
    assert count_progress_line("ingest", 12_000, 35_126, 60.0 * 5) == (
        "[ingest] 12,000 of 35,126 images (40 img/s, about 10 min left)")
    assert count_progress_line("export", 3, 200, 60.0, noun="images graded") == (
        "[export] 3 of 200 images graded (0.05 img/s, about 66 min left)")
    assert count_progress_line("export", 1, 200, 60.0, noun="images graded") == (
        "[export] 1 of 200 images graded (0.017 img/s, about 3.3 h left)")
    assert count_progress_line("export", 100, 200, 61.0, noun="images graded") == (
        "[export] 100 of 200 images graded (1.6 img/s, about 61 s left)")
    assert count_progress_line("ingest", 6, 6, 61.0)== "[ingest] 6 of 6 images (0.098 img/s)"
    # a named loop's line: the name after the label, from the function (not cut from its line)
    assert count_progress_line("ingest", 3, 6, 60.0, "pairs", "pair", what="near copies") == (
        "[ingest] near copies: 3 of 6 pairs (0.05 pair/s, about 60 s left)")


def test_progress_lines_without_a_stream_print_nothing(capsys) -> None:
    """``sys.stderr`` is None under pythonw; ``print(file=None)`` writes to stdout, which carries
    a command's results (the export's lines): no stream, no progress lines (a review)."""
    from drac_ssl import console

    lines = console.ProgressLines(None, "export")
    assert not lines.on
    lines.say("[export] 1 of 2 images")
    assert capsys.readouterr().out == ""
