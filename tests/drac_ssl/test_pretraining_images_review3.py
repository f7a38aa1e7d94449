"""Review of the scorewarn2 merge (the transductive-score warning): an old bundle grading
``--images`` writes nothing into its run (F1); outside starting weights travel in the notes
file for ``--score`` alone (F2, F7); a reused or renamed run's UMM start is its own (F3); a
bundle with no list says so (F4); a ``submission_X.csv`` of no variant is not taken for the
run's export (F5); an old notes header says it cannot tell (F6). One tiny run (fake ingest of
30 labelled + 6 test images, one VICReg step, a linear-head fine-tuning, the export); CPU,
seconds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fake_ingest import SOURCE_SIZE, make_fake_ingest

from drac_ssl import export, finetune, pretrain
from drac_ssl.config import Config, load_config, save_config
from drac_ssl.export import main as export_main
from drac_ssl.grading.training_images import PRETRAINING_IMAGES_KEY, pretraining_images_of
from drac_ssl.manifest import read_manifest
from drac_ssl.submission import (
    IMAGE_NOTES_COLUMNS,
    PRETRAINING_OUTSIDE_MARK,
    image_notes_path,
    read_pretraining_notes,
    write_image_notes,
    write_submission,
)

WARNING = "scored images were among those the self-supervised pretraining"
OUTSIDE = "pretrain.backbone.weights /weights/imagenet_r18.safetensors"


def _config() -> Config:
    return load_config(None, [
        "pretrain.epochs=1", "pretrain.batch_size=8", "pretrain.num_workers=0", "pretrain.expander=32-32",
        "pretrain.augment.image_size=32", f"pretrain.augment.source_size={SOURCE_SIZE}",
        "pretrain.patience=0", "pretrain.max_steps_per_epoch=1", "run.device=cpu",
        f"data.cache_sizes=[{SOURCE_SIZE}]", "finetune.image_size=32", "finetune.epochs=1",
        "finetune.batch_size=8", "finetune.head=linear", "finetune.compare_scratch=false",
        "finetune.n_boot=100",
    ])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished tiny run pretrained on its 6 test images, with ``bundles/vicreg``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("run")
    make_fake_ingest(root)
    cfg = _config()
    save_config(cfg, root / "config.yaml")
    pretrain.run(cfg, root)
    finetune.run(cfg, root)
    export.run(cfg, root)
    export.run(cfg, root, variant="vicreg")
    yield root
    torch.set_num_threads(threads)


def _test_cases(run: Path) -> list[str]:
    return [r["id"] for r in read_manifest(run / "data" / "manifest.csv") if r["split"] == "test"]


def _labels(path: Path, cases: list[str]) -> Path:
    path.write_text("image,level\n" + "".join(f"{c},{i % 3}\n" for i, c in enumerate(cases)))
    return path


def _submission(path: Path, cases: list[str]) -> Path:
    probs = np.full((len(cases), 3), 0.25)
    probs[np.arange(len(cases)), np.arange(len(cases)) % 3] = 0.5
    write_submission(path, cases, probs, num_grades=3)
    return path


def _score(args: list[str], capsys: pytest.CaptureFixture[str], out_json: Path) -> tuple[str, dict]:
    assert export_main([*args, "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "QWK" in captured.out, captured.out
    return captured.out + captured.err, json.loads(out_json.read_text())


def _drop_record(bundle: Path) -> None:
    meta = json.loads((bundle / "metadata.json").read_text())
    del meta[PRETRAINING_IMAGES_KEY]
    (bundle / "metadata.json").write_text(json.dumps(meta))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "images" not in p.parts and "cache" not in p.parts}


def test_an_old_bundle_grading_images_writes_nothing_into_the_run(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F1: ``RUN --variant vicreg --images DIR --out CSV`` with a RUN/bundles/vicreg built
    before the list reuses it (no file of the run changes: no lock, no log line, no rebuild),
    tells the graded images from the run's records and says how to add the list; ``RUN
    --variant vicreg`` alone, which writes into the run anyway, rebuilds it and says why."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _drop_record(copy / "bundles" / "vicreg")
    before = _snapshot(copy)
    folder = tmp_path / "test_images"
    shutil.copytree(copy / "images" / "test", folder)
    out = tmp_path / "x.csv"
    assert export_main([str(copy), "--variant", "vicreg", "--images", str(folder), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert _snapshot(copy) == before, "the run folder was written"
    assert "reused: built from the same fine-tuning outputs" in said, said
    assert "was built before bundles listed the images its backbone's self-supervised pretraining read" in said
    assert "--variant vicreg (without --images)" in said
    assert "6 of 6 graded images were among those the self-supervised pretraining" in said  # by the run's records
    export.run(_config(), copy, variant="vicreg")
    said = capsys.readouterr().out
    assert "rebuilt from" in said and "because it was built before bundles listed" in said, said
    assert PRETRAINING_IMAGES_KEY in json.loads((copy / "bundles" / "vicreg" / "metadata.json").read_text())


def test_outside_weights_travel_in_the_notes_file(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F2, F7: a bundle whose pretraining started from outside weights grades files of other
    pixels: the export says the doubt and marks them in the pretraining_image column; ``--score
    TEAM.csv`` alone then hedges (transductive None, the outside weights named) as ``RUN
    --images`` does, with what would settle it."""
    bundle = tmp_path / "bundle"
    shutil.copytree(run / "bundle", bundle)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta[PRETRAINING_IMAGES_KEY]["initial_weights"] = OUTSIDE
    (bundle / "metadata.json").write_text(json.dumps(meta))
    folder = tmp_path / "new"
    folder.mkdir()
    rng = np.random.default_rng(3)
    cases = ["a.png", "b.png", "c.png"]
    for case in cases:
        cv2.imwrite(str(folder / case), cv2.GaussianBlur(rng.integers(0, 255, (64, 64)).astype(np.uint8), (5, 5), 0))
    team = tmp_path / "TEAM.csv"
    assert export_main([str(bundle), "--images", str(folder), "--out", str(team)]) in (0, 4)
    said = capsys.readouterr().out
    assert f"started from outside weights ({OUTSIDE})" in said and "not transductive on that account" in said, said
    read = read_pretraining_notes(image_notes_path(team))
    assert read is not None and sorted(read) == cases
    assert all(e["splits"] == [] and e["outside"] == OUTSIDE for e in read.values()), read
    assert f"{PRETRAINING_OUTSIDE_MARK}: {OUTSIDE})" in image_notes_path(team).read_text()
    said, record = _score(["--score", str(team), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is None and told["initial_weights"] == OUTSIDE and told["n"] == 0, told
    assert "note: the pretraining of this backbone started from outside weights" in said
    assert ("the check cannot tell; if that training set (e.g. ImageNet) holds none of these images, the "
            "figure is not transductive on that account") in said


def _stage(run: Path, stage: str, **extra: object) -> None:
    (run / stage).mkdir(parents=True, exist_ok=True)
    (run / stage / "metadata.json").write_text(json.dumps({
        "config": {"data": {"dataset": "drac"}, "pretrain": {"use_test_images": True}},
        "initial_weights": "", **extra}))


def test_a_reused_or_renamed_run_s_umm_start_is_its_own(tmp_path: Path) -> None:
    """F3: UMM's ``umm.source`` in runs/base/pretrain is the own pretraining of runs/base-2
    (``run.reuse``: stages.json ``reused_from``), and of a run renamed since (its stages'
    recorded outputs), and of a run whose pretrain file is the same weights; another file is outside."""
    base = tmp_path / "runs" / "base"
    (base / "pretrain").mkdir(parents=True)
    (base / "pretrain" / "vicreg_model.safetensors").write_bytes(b"weights of base")
    source = str(base / "pretrain" / "vicreg_model.safetensors")
    reused = tmp_path / "runs" / "base-2"
    make_fake_ingest(reused)
    _stage(reused, "pretrain")
    _stage(reused, "umm", umm={"source": source})
    assert "umm.source" in (pretraining_images_of(reused, "vicreg_umm") or {}).get("initial_weights", "")
    (reused / "stages.json").write_text(json.dumps({s: {"status": "done", "reused_from": str(base)}
                                                    for s in ("pretrain", "umm")}))
    record = pretraining_images_of(reused, "vicreg_umm")
    assert record is not None and "initial_weights" not in record, record
    renamed = tmp_path / "runs" / "renamed"
    make_fake_ingest(renamed)
    _stage(renamed, "pretrain")
    _stage(renamed, "umm", umm={"source": "/gone/old-name/pretrain/vicreg_model.safetensors"})
    (renamed / "stages.json").write_text(json.dumps({"pretrain": {"status": "done", "outputs": {
        "weights": "/gone/old-name/pretrain/vicreg_model.safetensors"}}}))
    assert "initial_weights" not in (pretraining_images_of(renamed, "vicreg_umm") or {"initial_weights": 1})
    same = tmp_path / "same"
    make_fake_ingest(same)
    _stage(same, "pretrain")
    (same / "pretrain" / "vicreg_model.safetensors").write_bytes(b"weights of base")
    _stage(same, "umm", umm={"source": source})
    assert "initial_weights" not in (pretraining_images_of(same, "vicreg_umm") or {"initial_weights": 1})
    (same / "pretrain" / "vicreg_model.safetensors").write_bytes(b"other weights")
    assert f"umm.source {source}" in (pretraining_images_of(same, "vicreg_umm") or {})["initial_weights"]


def test_a_bundle_with_no_list_says_so_at_export_and_score(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F4: a bundle outside any run, built before the list, says at export time that it
    records none (with the rebuild command); ``--score`` of a notes file whose every
    pretraining_image cell is unknown says the same, not that the images are listed."""
    alone = tmp_path / "alone"
    shutil.copytree(run / "bundle", alone)
    _drop_record(alone)
    folder = tmp_path / "test_images"
    shutil.copytree(run / "images" / "test", folder)
    team = tmp_path / "TEAM.csv"
    assert export_main([str(alone), "--images", str(folder), "--out", str(team)]) in (0, 4)
    said = capsys.readouterr().out
    assert f"NOTE: {alone} records no list of the images its backbone's self-supervised pretraining read" in said
    assert "RUN --variant vicreg writes RUN/bundles/vicreg with the list" in said, said
    cases = sorted(p.name for p in folder.iterdir())
    write_image_notes(image_notes_path(team), cases, [0] * len(cases), [[] for _ in cases], [None] * len(cases),
                      bundle={"variant": "vicreg"})
    said, record = _score(["--score", str(team), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    assert record["pretraining_images"]["transductive"] is None
    assert "records no list of the images" in said and "are listed by SHA-256" not in said, said
    assert "RUN --variant vicreg writes RUN/bundles/vicreg" in said


def test_a_submission_file_of_no_variant_is_told_by_its_notes(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F5: RUN/export/submission_mine.csv (no variant mine, no summary_mine.json) is not the
    run's export of --variant mine: its notes file's pretraining_image column tells."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    cases = _test_cases(copy)
    sub = _submission(copy / "export" / "submission_mine.csv", cases)
    write_image_notes(image_notes_path(sub), cases, [0] * len(cases), [[] for _ in cases], [False] * len(cases),
                      bundle={"variant": "vicreg"}, pretrained=[["test"]] * len(cases))
    said, record = _score(["--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is True and "pretraining_image column" in told["source"], told
    assert f"warning: 6 of 6 {WARNING}" in said


def test_an_old_notes_header_says_it_cannot_tell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F6: a notes file with the 6-column header (before pretraining_image) and no RUN: a note
    that it cannot tell and how to, not silence."""
    cases = ["a.png", "b.png", "c.png"]
    sub = _submission(tmp_path / "TEAM.csv", cases)
    image_notes_path(sub).write_text(",".join(IMAGE_NOTES_COLUMNS[:6]) + "\n"
                                     + "".join(f"{c},0,,,,variant=vicreg\n" for c in cases))
    said, record = _score(["--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    assert record["pretraining_images"]["transductive"] is None
    assert "written before the pretraining_image column" in said and "pass RUN and --images" in said, said
