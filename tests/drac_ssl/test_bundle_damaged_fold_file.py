"""A fine-tuning fold file damaged after a finished run (a run folder copied short): the bundle
build named its temporary copy (``runs/X/.bundle.tmp-13772/fold0.safetensors: a damaged
safetensors file ... fix: copy it again``) or blamed an interrupted fine-tuning rerun, whose fix
(rerun; the finished folds are reused) skips a fine-tuning ``stages.json`` says is done. The
build now checks each run file before it links it: the error names
``RUN/finetune/<variant>/foldK.safetensors`` and the fix that retrains that fold (checked by
hand on a tiny run: delete the fold's two files and ``stages.json``'s ``finetune`` entry, rerun
``python -m drac_ssl.train -c RUN/config.yaml``: that fold retrains, the export runs again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading.bundle import BundleError, build_bundle
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
    assert f"delete {vdir / name} and {vdir / Path(name).with_suffix('.json')}" in said, said
    assert f"\"finetune\" entry of {run / 'stages.json'}" in said and "drac_ssl.train -c" in said, said
    assert not list(run.glob(".bundle.tmp-*"))  # nothing left behind


def test_the_check_reads_the_header_alone(run: Path, tmp_path: Path) -> None:
    whole = next((run / "bundle").glob("*.safetensors"))
    assert safetensors_damage(whole) is None
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole.read_bytes()[:1000])
    assert safetensors_damage(cut)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    assert safetensors_damage(tmp_path / "empty.safetensors") == "the file is empty"
