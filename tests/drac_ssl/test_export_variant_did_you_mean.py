"""An editor's review (F13): ``export RUN --variant vicreg_umn`` listed the run's variants but
offered no "did you mean 'vicreg_umm'?", as train does for a misspelt setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl.export import main


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for variant in ("vicreg_umm", "scratch"):
        (run / "finetune" / variant).mkdir(parents=True)
        (run / "finetune" / variant / "model.json").write_text("{}")
    (run / "finetune" / "summary.json").write_text("{}")
    return run


def test_a_misspelt_variant_is_offered_the_close_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_run(tmp_path)), "--variant", "vicreg_umn"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Did you mean 'vicreg_umm'?" in err and "fix: --variant vicreg_umm" in err


def test_a_far_name_gets_the_list_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_run(tmp_path)), "--variant", "zzz"]) == 2
    err = capsys.readouterr().err
    assert "it has scratch, vicreg_umm" in err and "Did you mean" not in err
