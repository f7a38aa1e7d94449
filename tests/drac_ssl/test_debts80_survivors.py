"""Tests that the merged debts80/cfgfuzz80 code survived mutants of: the shell-quoting rule's
``!`` (interactive bash's history expansion), the rebuild call's need of metrics.json beside
oof.csv, the unquoted ``<...>`` placeholder of a suggested setting, and YAML's rule that ``#``
opens a comment only after a space."""

from __future__ import annotations

from pathlib import Path

from drac_ssl.config import _DEEP_NESTING, _deep_nesting_line
from drac_ssl.run_state import _shell_code, rebuild_call
from drac_ssl.runtime import _shell_word


def test_a_bang_alone_takes_single_quotes() -> None:
    # in double quotes interactive bash expands !x from its history
    assert _shell_code("print('/tmp/a!b')") == "'print('\"'\"'/tmp/a!b'\"'\"')'"
    assert _shell_code("print(1)") == '"print(1)"'


def test_oof_csv_without_metrics_json_keeps_the_short_call(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "finetune" / "vicreg").mkdir(parents=True)
    (run / "finetune" / "summary.json").write_text('{"selected": "vicreg"}', encoding="utf-8")
    (run / "finetune" / "vicreg" / "oof.csv").write_text("x", encoding="utf-8")
    assert "oof_calibration" not in rebuild_call(run)  # its figures need metrics.json too
    (run / "finetune" / "vicreg" / "metrics.json").write_text("{}", encoding="utf-8")
    assert "oof_calibration_of" in rebuild_call(run)


def test_a_placeholder_is_printed_unquoted() -> None:
    assert _shell_word("run.out_dir=<a folder you can write to>") == "run.out_dir=<a folder you can write to>"
    assert _shell_word("run.out_dir=/tmp/my runs") == "run.out_dir='/tmp/my runs'"


def test_a_hash_inside_a_word_opens_no_comment() -> None:
    # a#b is one word: the [ after it still counts, so the nesting reaches the limit from line 1
    deep = "x: [a#b, [\n" + "[" * (_DEEP_NESTING - 2) + "1" + "]" * _DEEP_NESTING + "\n"
    assert _deep_nesting_line(deep) == 1
    commented = "x: [a #b, [\n" + "[" * (_DEEP_NESTING - 2) + "1" + "]" * _DEEP_NESTING + "\n"
    assert _deep_nesting_line(commented) is None
