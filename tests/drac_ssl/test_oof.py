"""The out-of-fold file: one layout (written by finetune), one reader (report, compare, export)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import report
from drac_ssl.finetune import _csv_text
from drac_ssl.oof import OOF_FILE, OofError, oof_columns, read_oof


def test_the_columns_finetune_writes_are_read_back_for_any_number_of_grades_and_head() -> None:
    assert oof_columns(3, "classification") == ["id", "grade", "fold", "P0", "P1", "P2", "score", "pred",
                                                "logit0", "logit1", "logit2"]
    assert oof_columns(5, "regression")[-3:] == ["score", "pred", "raw_score"]


@pytest.mark.parametrize(("k", "output"), [(3, "classification"), (5, "regression"), (2, "classification")])
def test_a_file_in_finetunes_layout_reads_back_exactly(tmp_path: Path, k: int, output: str) -> None:
    rng = np.random.default_rng(k)
    probs = rng.dirichlet(np.ones(k), size=7)
    rows = [[f"case{i}.png", i % k, i % 5, *(f"{p:.6f}" for p in probs[i]), f"{probs[i] @ np.arange(k):.6f}",
             int(probs[i].argmax()), *(["0.1"] * (k if output == "classification" else 1))] for i in range(7)]
    path = tmp_path / OOF_FILE
    path.write_text(_csv_text(oof_columns(k, output), rows))
    oof = read_oof(path)
    assert oof.ids == tuple(f"case{i}.png" for i in range(7))
    assert oof.num_grades == k and oof.probs.shape == (7, k)
    np.testing.assert_allclose(oof.probs, probs, atol=5e-7)
    assert oof.grades.tolist() == [i % k for i in range(7)]
    assert oof.folds is not None and oof.folds.tolist() == [i % 5 for i in range(7)]
    assert oof.pred.tolist() == probs.argmax(1).tolist()


@pytest.mark.parametrize(("text", "said"), [
    ("id,grade,P0,P1,pred\na,0,0.5,0.5,0\na,1,0.5,0.5,1\n", "id 'a' appears more than once"),
    ("id,grade,P0,P1,pred\na,0,0.5,0.5,0\nb,one,0.5,0.5,1\n", "line 3: grade is 'one', not an integer"),
    ("id,grade,P0,pred\na,0,1.0,0\n", "no column P1"),
    ("id,grade,P0,P1\n", "no column pred"),
    ("id,grade,P0,P1,pred\n", "no rows"),
])
def test_a_damaged_file_is_an_error_naming_the_file_and_what_is_wrong(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / OOF_FILE
    path.write_text(text)
    with pytest.raises(OofError) as err:
        read_oof(path)
    assert str(err.value).startswith(str(path)) and said in str(err.value)
    with pytest.raises(OofError, match="no such file"):
        read_oof(tmp_path / "missing.csv")


def test_the_report_says_a_variant_is_incomplete_when_its_out_of_fold_file_is_damaged(tmp_path: Path) -> None:
    """report.md read oof.csv with its own reader, which raised a bare ValueError on a damaged
    file and lost the whole report; it now says that variant's predictions cannot be read."""
    vdir = tmp_path / "finetune" / "vicreg"
    vdir.mkdir(parents=True)
    (vdir / "metrics.json").write_text(json.dumps({"qwk": 0.5}))
    (vdir / OOF_FILE).write_text("id,grade,fold,P0,P1,P2,score,pred\na,0,0,0.2,0.3,0.5,1.3,\n")
    lines, note = report._variant_section(tmp_path, tmp_path / "figures", "vicreg")
    text = "\n".join(lines)
    assert "Incomplete: the out-of-fold predictions cannot be read" in text
    assert "line 2: pred is '', not an integer" in text and note is None
