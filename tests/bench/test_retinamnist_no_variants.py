"""A run whose ``finetune/summary.json`` lists no variant is refused with its file named
(bench.retinamnist.run_variants), not read as a run that fine-tuned nothing (an empty
comparison written as the benchmark's figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.retinamnist import run_variants


def test_a_summary_listing_no_variant_is_refused(tmp_path: Path) -> None:
    summary = tmp_path / "finetune" / "summary.json"
    summary.parent.mkdir()
    summary.write_text(json.dumps({"variants": {}}), encoding="utf-8")
    with pytest.raises(SystemExit, match="lists no fine-tuned variant") as caught:
        run_variants(tmp_path)
    assert str(summary) in str(caught.value)
    summary.write_text(json.dumps({"variants": {"scratch": {}, "vicreg": {}}}), encoding="utf-8")
    assert run_variants(tmp_path) == ["scratch", "vicreg"]
