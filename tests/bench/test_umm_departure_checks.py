"""bench/umm_departure_checks.py: design.md's UMM figures (the methods review's c2.py and c3.py,
run by hand before) are the committed result's."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_design_md_cites_the_committed_checks() -> None:
    record = json.loads((REPO / "bench/results/umm_departure_checks.json").read_text())
    design = " ".join((REPO / "docs/design.md").read_text(encoding="utf-8").split())
    outer = record["outer_batch"]
    assert (f"cosine {outer['cos_outer_inner_same_batch']:.2f}, against {outer['cos_outer_inner_other_batch']:.2f} "
            "with the outer loss on another batch") in design
    assert (f"`xi |grad L_in|` {outer['look_ahead_length']:.3f} against `xi sqrt(#params)` "
            f"{outer['first_adam_step_length']:.2f}") in design
    assert f"about {round(outer['adam_over_look_ahead'])} times shorter" in design
    by_tau = {m["temperature"]: m for m in record["membership"]}
    assert f"cosine {by_tau[0.1]['cos_soft_pairs']:.3f} on free features" in design
    assert f"(cosine {by_tau[0.5]['cos_soft_pairs']:.3f}, {by_tau[1.0]['cos_soft_pairs']:.3f})" in design
    assert (f"({by_tau[0.1]['view_cosine_along_soft']:.4f} against {by_tau[0.1]['view_cosine_along_pairs']:.4f} "
            "per unit step)") in design
    assert "c2.py" not in design and "c3.py" not in design and "python -m bench.umm_departure_checks" in design
