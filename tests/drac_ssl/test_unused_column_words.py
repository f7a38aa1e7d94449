"""How the report, the model card and the scorer name a label-CSV column that looks like a
patient id but was not used (review s57r2, F1): an examination or visit id (``exam_id``) is
said as one, as the ingest's warning says, not as "a patient id"."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl.compare import _units_words
from drac_ssl.export import main as export_main
from drac_ssl.grading.bundle import fold_grouping_words

WORDS = [("subject_id", "a patient id"), ("exam_id", "an examination or visit id (of one patient)")]


@pytest.mark.parametrize(("column", "words"), WORDS)
def test_the_report_and_the_model_card_name_what_the_column_looks_like(column: str, words: str) -> None:
    card = fold_grouping_words({"n_train": 30, "n_patients": None, "unused_patient_column": column})
    assert (f"the label CSV's column {column!r} looks like {words} (the ingest warned): if it is, "
            f"images of one patient may be in different folds") in card, card
    compared = _units_words("images", None, None, 30, column)
    assert (f"images (treated as independent, although column {column!r} looks like {words} and "
            "the folds did not use it") in compared, compared


@pytest.mark.parametrize(("column", "words"), WORDS)
def test_the_scorer_names_what_the_column_looks_like(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, words: str) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(f"image name,DR grade,{column}\n"
                      + "".join(f"{i}.png,{i % 5},E{i // 2}\n" for i in range(10)))
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(
        f"{i}.png,{i % 5}," + ",".join("0.6" if k == i % 5 else "0.1" for k in range(5)) + "\n"
        for i in range(10)))
    assert export_main(["--score", str(sub), "--labels", str(labels)]) == 0
    err = capsys.readouterr().err
    assert f"column {column!r} looks like {words}, but the bootstrap CIs" in err, err
