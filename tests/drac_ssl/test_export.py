"""Model bundle, submission, command line and run report (drac_ssl.export, drac_ssl.report).

One tiny run (fake ingest of 30 labelled + 6 test 64 px images cached at 48 px, one VICReg
step, 5-fold linear-head fine-tuning at 32 px, export) serves every test; CPU, seconds.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fake_ingest import SOURCE_SIZE, make_fake_ingest

from drac_ssl import export, finetune, pretrain
from drac_ssl.config import Config, load_config, save_config
from drac_ssl.report import write_report
from drac_ssl.submission import check_submission


def tiny_config() -> Config:
    return load_config(None, [
        "pretrain.epochs=1", "pretrain.batch_size=8", "pretrain.num_workers=0", "pretrain.expander=32-32",
        "pretrain.augment.image_size=32", f"pretrain.augment.source_size={SOURCE_SIZE}",
        "pretrain.patience=0", "pretrain.max_steps_per_epoch=1", "run.device=cpu",
        f"data.cache_sizes=[{SOURCE_SIZE}]", "finetune.image_size=32", "finetune.epochs=1",
        "finetune.batch_size=8", "finetune.head=linear", "finetune.compare_scratch=false",
    ])


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    root = tmp_path_factory.mktemp("run")
    make_fake_ingest(root)
    cfg = tiny_config()
    save_config(cfg, root / "config.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(finetune, "N_BOOT", 100)
        pretrain.run(cfg, root)
        finetune.run(cfg, root)
        export.run(cfg, root)
    (root / "stages.json").write_text(json.dumps({
        name: {"status": "done", "seconds": 1.5, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}
        for name in ("ingest", "pretrain", "finetune", "export")}))
    yield root
    torch.set_num_threads(threads)


def _submission(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exported_submission_passes_the_check_with_real_probabilities(exported_run: Path) -> None:
    path = exported_run / "export" / "submission.csv"
    test_dir = exported_run / "images" / "test"
    assert check_submission(path, test_dir) == []
    rows = _submission(path)
    assert sorted(r["case"] for r in rows) == sorted(p.name for p in test_dir.iterdir())
    probs = np.array([[float(r[f"P{k}"]) for k in range(3)] for r in rows])
    assert np.allclose(probs.sum(1), 1, atol=1e-6)
    assert (probs.max(1) < 1).all()  # probabilities, not one-hot


def test_predict_images_on_the_original_files_matches_the_export(exported_run: Path) -> None:
    bundle = export.load_bundle(exported_run)
    rows = _submission(exported_run / "export" / "submission.csv")
    images = [export.read_image_any(exported_run / "images" / "test" / r["case"]) for r in rows]
    assert images[0].shape == (64, 64)  # the original size: resized to the 48 px source like the ingest
    probs, classes = export.predict_images(bundle, images, tta=True)
    written = np.array([[float(r[f"P{k}"]) for k in range(3)] for r in rows])
    assert np.allclose(probs, written, atol=2e-6)
    assert classes.tolist() == [int(r["class"]) for r in rows]
    single = export.preprocess_image(images[0], bundle.metadata)
    assert single.shape == (1, 32, 32) and single.dtype == torch.float32


def test_bundle_metadata_and_model_card(exported_run: Path) -> None:
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    assert meta["format"] == export.BUNDLE_FORMAT
    assert meta["input"]["channels"] == 1 and meta["input"]["size"] == [32, 32]
    assert meta["input"]["source_size"] == SOURCE_SIZE
    assert len(meta["input"]["normalization"]["mean"]) == 1
    assert meta["class_names"] == ["Normal", "NPDR", "PDR"]
    assert meta["gradcam_target_layer"] == "backbone.layer4"
    assert meta["calibration"]["thresholds"][0] < meta["calibration"]["thresholds"][1]
    assert meta["cv_metrics"]["n"] == 30 and "qwk" in meta["cv_metrics"]
    assert meta["data"]["kind"] == "drac" and meta["data"]["n_test"] == 6
    assert len(meta["folds"]) == 5
    for fold in meta["folds"]:
        assert all((exported_run / "bundle" / w).is_file() for w in fold["weights"])
    card = (exported_run / "bundle" / "MODEL_CARD.md").read_text()
    assert "not a medical device" in card.lower() and "Limitations" in card


def test_read_image_any_converts_rgb_and_16_bit_like_the_ingest(tmp_path: Path) -> None:
    gray = np.random.default_rng(0).integers(0, 256, (20, 24), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.dstack([gray] * 3))
    cv2.imwrite(str(tmp_path / "deep.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray.tif"), gray)
    for name in ("rgb.png", "deep.png", "gray.tif"):
        image = export.read_image_any(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (20, 24)
        assert np.array_equal(image, gray), name
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match="broken.png"):
        export.read_image_any(tmp_path / "broken.png")
    with pytest.raises(ValueError, match="uint8 grey"):
        export.preprocess_image(np.zeros((8, 8, 3), np.uint8), {"input": {}})


def test_command_line_grades_a_folder_and_checks_files(exported_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    test_dir = exported_run / "images" / "test"
    team = tmp_path / "team.csv"
    assert export.main([str(exported_run), "--images", str(test_dir), "--out", str(team)]) == 0
    assert team.read_text() == (exported_run / "export" / "submission.csv").read_text()
    assert export.main(["--check", str(team), "--images", str(test_dir)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(team.read_text().splitlines()[:-1]) + "\n")  # one image missing
    capsys.readouterr()
    assert export.main(["--check", str(bad), "--images", str(test_dir)]) != 0
    assert "has no row" in capsys.readouterr().out
    for argv in ([str(tmp_path / "no-run"), "--images", str(test_dir), "--out", str(team)],
                 ["--check", str(tmp_path / "missing.csv")],
                 [str(exported_run), "--images", str(tmp_path / "nowhere"), "--out", str(team)]):
        assert export.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err


def test_report_is_written_and_links_existing_images(exported_run: Path) -> None:
    path = write_report(exported_run)
    text = path.read_text()
    for heading in ("## Data", "## Configuration", "## Stage wall times", "## Self-supervised pretraining",
                    "## Cross-validated fine-tuning", "## Export"):
        assert heading in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert any("pretrain/plots/" in link for link in links)
    assert any(link.endswith("comparison.png") for link in links)
    assert any(link.endswith("vicreg_confusion.png") for link in links)
    assert any(link.endswith("vicreg_roc.png") for link in links)
    for link in links:
        assert (exported_run / link).is_file(), link
    assert "| fold | train | val |" in text and "| pretrain | done |" in text
