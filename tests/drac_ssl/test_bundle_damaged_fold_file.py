"""A fine-tuning fold file damaged after a finished run (a run folder copied short): the bundle
build named its temporary copy (``runs/X/.bundle.tmp-13772/fold0.safetensors: a damaged
safetensors file ... fix: copy it again``) or blamed an interrupted fine-tuning rerun, whose fix
(rerun; the finished folds are reused) skips a fine-tuning ``stages.json`` says is done. The
build now checks each run file before it links it, and a file of the right size whose bytes
are not those recorded when ``stages.json`` says the fine-tuning is done: the error names
``RUN/finetune/<variant>/foldK.safetensors`` and the fix that retrains it (checked by hand on a
tiny run, for a cut fold0, a cut shared backbone and a fold file with one byte changed: delete
the ``finetune`` and ``export`` entries of ``stages.json`` and rerun the run's command: the fold
whose file differs retrains, the others are reused, the export builds the bundle again; with the
``finetune`` entry alone deleted the export stage was skipped, "already done", and the bundle
stayed the old model's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading.bundle import BundleError, build_bundle
from drac_ssl.io import sha256_file
from drac_ssl.weights_file import safetensors_damage


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()  # a hard link into the bundle stays whole
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1)
    return tmp_path / "run"


def test_a_cut_fold_file_is_named_in_the_run_with_the_fix_that_retrains_it(run: Path) -> None:
    vdir = next(p.parent for p in (run / "finetune").glob("*/model.json"))
    fold = json.loads((vdir / "model.json").read_text())["folds"][0]
    name = next(n for n in fold["weights"] if n.startswith("fold"))
    _cut(vdir / name)
    with pytest.raises(BundleError) as caught:
        build_bundle(run)
    said = str(caught.value)
    assert said.startswith(f"{vdir / name}: fold {fold['fold']}'s weights are damaged"), said
    assert ".tmp-" not in said and "interrupted" not in said, said
    assert _retrain_fix(run) in said, said
    assert not list(run.glob(".bundle.tmp-*"))  # nothing left behind


def _retrain_fix(run: Path) -> str:
    return f"delete the `finetune` and `export` entries of {run / 'stages.json'}, then rerun `"


def test_a_changed_fold_file_of_a_finished_fine_tuning_gets_the_fix_that_retrains_it(run: Path) -> None:
    """One byte changed (the size kept, so it reads as safetensors): "rerun the command that was
    interrupted" cannot work when stages.json records the fine-tuning done."""
    vdir = next(p.parent for p in (run / "finetune").glob("*/model.json"))
    model = json.loads((vdir / "model.json").read_text())
    name = next(n for n in model["folds"][0]["weights"] if n.startswith("fold"))
    model["folds"][0]["sha256"] = {n: sha256_file(vdir / n) for n in model["folds"][0]["weights"]}
    (vdir / "model.json").write_text(json.dumps(model))
    data = bytearray((vdir / name).read_bytes())
    data[-1] ^= 0x01
    (vdir / name).unlink()
    (vdir / name).write_bytes(bytes(data))
    assert safetensors_damage(vdir / name) is None
    with pytest.raises(BundleError, match="interrupted"):  # no stages.json: a rerun may have been cut
        build_bundle(run)
    (run / "stages.json").write_text(json.dumps({"finetune": {"status": "done"}}))
    with pytest.raises(BundleError) as caught:
        build_bundle(run)
    said = str(caught.value)
    assert said.startswith(f"{vdir / name}: fold 0's weights are damaged (its bytes are not those recorded"), said
    assert "interrupted" not in said and _retrain_fix(run) in said, said


def test_the_check_finds_a_cut_or_empty_file_and_passes_a_whole_one(run: Path, tmp_path: Path) -> None:
    whole = next((run / "bundle").glob("*.safetensors"))
    assert safetensors_damage(whole) is None
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole.read_bytes()[:1000])
    assert safetensors_damage(cut)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    assert safetensors_damage(tmp_path / "empty.safetensors") == "the file is empty"
