"""``--score``'s word on images the backbone was pretrained on without their grades (trial F1:
IDRiD's public test grades scored a VICReg bundle pretrained on those very test images, and the
QWK was printed as a clean test figure). One tiny run (fake ingest of 30 labelled + 6 test
images, one VICReg step, a linear-head fine-tuning, the export); CPU, seconds."""

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

from drac_ssl import export, finetune, pretrain, scoring
from drac_ssl.config import Config, load_config, save_config
from drac_ssl.export import main as export_main
from drac_ssl.grading import bundle as bundles
from drac_ssl.grading.training_images import (
    HASH_HEX,
    PRETRAINING_IMAGES_KEY,
    file_prefix,
    pretraining_hashes,
    pretraining_images_of,
    training_hashes,
)
from drac_ssl.manifest import read_manifest
from drac_ssl.submission import write_submission

WARNING = "scored images were among those the self-supervised pretraining"


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
    """A finished tiny run pretrained on its 6 test images (``pretrain.use_test_images``'s
    default), its bundle and ``export/submission.csv``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("run")
    make_fake_ingest(root)
    cfg = _config()
    save_config(cfg, root / "config.yaml")
    pretrain.run(cfg, root)
    finetune.run(cfg, root)
    export.run(cfg, root)
    yield root
    torch.set_num_threads(threads)


def _test_rows(run: Path) -> list[dict]:
    return [r for r in read_manifest(run / "data" / "manifest.csv") if r["split"] == "test"]


def _labels(path: Path, cases: list[str]) -> Path:
    path.write_text("image,level\n" + "".join(f"{c},{i % 3}\n" for i, c in enumerate(cases)))
    return path


def _submission(path: Path, cases: list[str]) -> Path:
    probs = np.full((len(cases), 3), 0.25)
    probs[np.arange(len(cases)), np.arange(len(cases)) % 3] = 0.5
    write_submission(path, cases, probs, num_grades=3)
    return path


def _renamed_copies(run: Path, folder: Path) -> list[str]:
    """The run's test images copied into ``folder`` under other names."""
    folder.mkdir()
    cases = []
    for i, row in enumerate(_test_rows(run)):
        cases.append(f"renamed_{i}.png")
        shutil.copyfile(run / "images" / row["path"], folder / cases[-1])
    return cases


def _score(args: list[str], capsys: pytest.CaptureFixture[str], out_json: Path) -> tuple[str, dict]:
    """The console (stdout, where the figures and their warnings are, then stderr) and the
    ``--json`` record of ``export --score``."""
    assert export_main([*args, "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "QWK" in captured.out, captured.out
    return captured.out + captured.err, json.loads(out_json.read_text())


def test_the_bundle_lists_the_test_images_its_pretraining_read(run: Path) -> None:
    meta = json.loads((run / "bundle" / "metadata.json").read_text())
    record = meta[PRETRAINING_IMAGES_KEY]
    tests = {r["sha256"][:HASH_HEX] for r in _test_rows(run)}
    assert record["images"] == 6 and record["test"] == 6 and record["test_read"] is True
    assert record["stages"] == "VICReg" and record["unlabelled"] == 0
    assert pretraining_hashes(meta) == tests
    assert not tests & (training_hashes(meta) or set())  # the labelled ones are the other list's
    assert pretraining_images_of(run, "scratch") is None  # never pretrained


def test_score_warns_that_a_figure_on_pretrained_images_is_transductive_even_renamed(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _renamed_copies(run, tmp_path / "renamed")
    sub = _submission(tmp_path / "v.csv", cases)
    said, record = _score([str(run), "--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases)),
                          "--images", str(tmp_path / "renamed")], capsys, tmp_path / "s.json")
    warning = f"warning: 6 of 6 {WARNING} (VICReg) of this model's backbone read, without their grades"
    assert warning in said, said
    assert said.index("QWK") < said.index(warning) < said.index("Confusion matrix")  # on stdout, by the figures
    assert "transductive, not a clean held-out test figure" in said
    assert "train again with pretrain.use_test_images=false" in said
    told = record["pretraining_images"]
    assert told["transductive"] is True and told["n"] == 6 and told["of"] == 6
    assert told["variant"] == "vicreg" and "unchecked" not in told


def test_a_variant_export_in_the_run_is_told_from_the_manifest_without_images(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export.run(_config(), run, variant="vicreg")  # RUN/export/submission_vicreg.csv, RUN/bundles/vicreg
    sub = run / "export" / "submission_vicreg.csv"
    cases = [r["id"] for r in _test_rows(run)]
    labels = _labels(tmp_path / "l.csv", cases)
    for args in ([str(run), "--score", str(sub), "--labels", str(labels)],
                 ["--score", str(sub), "--labels", str(labels)]):  # the run is the one it lies in
        said, record = _score(args, capsys, tmp_path / "s.json")
        assert f"warning: 6 of 6 {WARNING} (VICReg)" in said, said
        told = record["pretraining_images"]
        assert told["transductive"] is True and told["bundle"] == str(run / "bundles" / "vicreg")
        assert "ingest manifest" in told["source"]


def test_images_the_pretraining_never_read_get_no_warning(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    rng = np.random.default_rng(1)
    cases = [f"{i:03d}.png" for i in range(31, 37)]  # the test images' names, other pixels
    for case in cases:
        cv2.imwrite(str(folder / case), cv2.GaussianBlur(rng.integers(0, 255, (64, 64)).astype(np.uint8), (5, 5), 0))
    sub = _submission(tmp_path / "v.csv", cases)
    said, record = _score([str(run), "--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases)),
                          "--images", str(folder)], capsys, tmp_path / "s.json")
    assert WARNING not in said and "transductive" not in said, said
    told = record["pretraining_images"]
    assert told["transductive"] is False and told["n"] == 0 and told["of"] == 6 and told["line"] == ""


def test_a_pretraining_that_left_the_test_images_out_gives_no_warning(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    meta_path = copy / "pretrain" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["pretrain"]["use_test_images"] = False  # as such a pretraining records it
    meta_path.write_text(json.dumps(meta))
    bundles.build_bundle(copy)
    record = json.loads((copy / "bundle" / "metadata.json").read_text())[PRETRAINING_IMAGES_KEY]
    assert record["images"] == 0 and record["test_read"] is False and record["test"] == 0
    cases = _renamed_copies(copy, tmp_path / "renamed")
    sub = _submission(tmp_path / "v.csv", cases)
    said, scored = _score([str(copy), "--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases)),
                          "--images", str(tmp_path / "renamed")], capsys, tmp_path / "s.json")
    assert WARNING not in said, said
    assert scored["pretraining_images"]["transductive"] is False


def _bundle_folder(path: Path, meta: dict) -> Path:
    path.mkdir()
    (path / "MODEL_CARD.md").write_text("# model\n")
    (path / "metadata.json").write_text(json.dumps(meta))
    return path


def test_the_scratch_variant_is_never_transductive_and_an_old_bundle_is_doubted(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _renamed_copies(run, tmp_path / "renamed")
    sub = _submission(tmp_path / "v.csv", cases)
    labels = _labels(tmp_path / "l.csv", cases)
    scratch = _bundle_folder(tmp_path / "scratch", {"variant": "scratch",
                                                   "backbone_pretraining": {"stage": "random init"}})
    told = scoring.pretraining_images_check(sub, str(scratch), str(tmp_path / "renamed"))
    assert told is not None and told["transductive"] is False and told["n"] == 0 and told["line"] == ""
    said, record = _score([str(scratch), "--score", str(sub), "--labels", str(labels),
                          "--images", str(tmp_path / "renamed")], capsys, tmp_path / "s.json")
    assert WARNING not in said and record["pretraining_images"]["transductive"] is False
    # a bundle built before the list, whose pretraining read its test images: said, not counted
    old = _bundle_folder(tmp_path / "old", {"variant": "vicreg", "backbone_pretraining": {
        "training_data": "grey, 36 images (30 labelled; training and test images, no labels)"}})
    said, record = _score([str(old), "--score", str(sub), "--labels", str(labels),
                          "--images", str(tmp_path / "renamed")], capsys, tmp_path / "s.json")
    assert "warning: this model's backbone was pretrained on its run's test images" in said, said
    assert record["pretraining_images"]["transductive"] is None
    # without RUN (and not a run's own export) nothing tells: no field
    said, record = _score(["--score", str(sub), "--labels", str(labels)], capsys, tmp_path / "s.json")
    assert "pretraining_images" not in record and "pretrain" not in said
    assert file_prefix(tmp_path / "renamed" / cases[0]) in (pretraining_hashes(
        json.loads((run / "bundle" / "metadata.json").read_text())) or set())


def test_a_run_whose_selected_bundle_is_scratch_still_says_its_pretraining_read_them(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RUN names the selected bundle; a ``--variant vicreg`` export graded from a folder is
    scored with RUN: when RUN's bundle is scratch, the run's pretraining is still said."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    meta_path = copy / "bundle" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["variant"] = "scratch"
    del meta[PRETRAINING_IMAGES_KEY]
    meta_path.write_text(json.dumps(meta))
    cases = _renamed_copies(copy, tmp_path / "renamed")
    sub = _submission(tmp_path / "v.csv", cases)
    said, record = _score([str(copy), "--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases)),
                           "--images", str(tmp_path / "renamed")], capsys, tmp_path / "s.json")
    assert "warning: 6 of 6 scored images were among those the self-supervised pretraining (VICReg) of this run" \
        in said, said
    assert "pass RUN/bundles/NAME as RUN" in said
    assert record["pretraining_images"]["transductive"] is None
