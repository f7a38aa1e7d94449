"""Colour and K = 5 grades end to end (issue #12): a RetinaMNIST-shaped run (synthetic
``.npz``: 28 px RGB, 5 ICDR grades, unlabelled test rows) through ``python -m drac_ssl.train``
in seconds, the 5-column submission and its check against the manifest, the bundle, the
app, the class decision, and colour kept from the file to the probabilities.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from drac_ssl import export, finetune, train
from drac_ssl.config import ConfigError, load_config
from drac_ssl.grading.bundle import load_bundle
from drac_ssl.grading.predict import conform_channels, predict_images, preprocess_image, read_image
from drac_ssl.submission import check_submission

ICDR = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
SIZE = 28
N_TRAIN, N_VAL, N_TEST = 40, 10, 6

TINY = [
    "data.cache_sizes=[28]", "data.workers=1", "data.fundus_crop=true",
    "pretrain.epochs=1", "pretrain.batch_size=8", "pretrain.max_steps_per_epoch=1",
    "pretrain.num_workers=0", "pretrain.expander=16-16", "pretrain.augment.recipe=fundus",
    "pretrain.augment.image_size=28", "pretrain.augment.source_size=28",
    "pretrain.backbone.cifar_stem=true", "pretrain.backbone.stem_stride=2", "umm.epochs=1", "umm.batch_size=4",
    "umm.max_steps_per_epoch=1", "umm.use_js=false", "umm.hypergradient=neumann",
    "umm.neumann_steps=0", "finetune.image_size=28", "finetune.epochs=2", "finetune.batch_size=8",
    "finetune.head=linear", "finetune.compare_scratch=false", "finetune.n_boot=20",
    "run.device=cpu", "run.name=rmnist",
]


def fundus_like(grade: int, rng: np.random.Generator) -> np.ndarray:
    """A 28 px RGB 'fundus': an orange disc on black whose red spots grow with the grade."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    cv2.circle(image, (13, 14), 11, (190, 90, 40), -1)
    noisy = np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 1, 255)
    image = np.where(image > 0, noisy, 0).astype(np.uint8)  # a black surround, as photographed
    for _ in range(2 * grade):
        x, y = rng.integers(7, 21, 2)
        cv2.circle(image, (int(x), int(y)), 1, (240, 10, 10), -1)
    return image


def make_npz(path: Path) -> Path:
    """RetinaMNIST's layout: train/val images + labels (N, 1), test images without labels."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("val", N_VAL), ("test", N_TEST)):
        grades = np.arange(n) % 5
        arrays[f"{split}_images"] = np.stack([fundus_like(int(g), rng) for g in grades])
        if split != "test":
            arrays[f"{split}_labels"] = grades.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def tiny_run(work: Path, *overrides: str) -> Path:
    """``python -m drac_ssl.train`` on a RetinaMNIST-shaped ``.npz`` in ``work`` with
    :data:`TINY` and ``overrides`` (a later ``run.name`` wins), run from ``work``; its run
    folder. One intra-op thread, as the fixtures set for their module."""
    npz = make_npz(work / "retinamnist_tiny.npz")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert train.main([f"data.root={npz}", *TINY, *overrides]) == 0
    finally:
        os.chdir(cwd)
    name = next(o.split("=", 1)[1] for o in reversed([*TINY, *overrides]) if o.startswith("run.name="))
    return work / "runs" / name


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_run(tmp_path_factory.mktemp("rmnist"))
    torch.set_num_threads(threads)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_five_grade_colour_run_writes_a_five_column_submission(colour_run: Path) -> None:
    stages = json.loads((colour_run / "stages.json").read_text())
    assert all(s["status"] == "done" for s in stages.values())
    submission = colour_run / "export" / "submission.csv"
    assert submission.read_text().splitlines()[0] == "case,class,P0,P1,P2,P3,P4"
    rows = _rows(submission)
    assert [r["case"] for r in rows] == [f"test_{i:04d}.png" for i in range(N_TEST)]
    probs = np.array([[float(r[f"P{k}"]) for k in range(5)] for r in rows])
    assert np.allclose(probs.sum(1), 1, atol=1e-6) and (probs.max(1) < 1).all()
    assert {int(r["class"]) for r in rows} <= set(range(5))
    summary = json.loads((colour_run / "export" / "summary.json").read_text())
    assert summary["class_names"] == ICDR and any("array file" in n for n in summary["notes"])
    # the scale travelled: ingest summary -> pretrain metadata -> finetune -> bundle, card, report
    pre = json.loads((colour_run / "pretrain" / "metadata.json").read_text())
    assert pre["data"]["grades"] == ICDR and pre["input"]["channels"] == 3
    assert pre["config"]["pretrain"]["backbone"]["in_channels"] == 3  # from the data (0 set)
    oof = _rows(colour_run / "finetune" / "vicreg_umm" / "oof.csv")
    assert len(oof) == N_TRAIN + N_VAL and "P4" in oof[0] and "logit4" in oof[0]
    metrics = json.loads((colour_run / "finetune" / "vicreg_umm" / "metrics.json").read_text())
    assert metrics["class_names"] == ICDR and set(metrics["decision_rules"]) == {"thresholds", "argmax"}
    assert np.array(metrics["report"]["confusion"]).shape == (5, 5)
    for key in ("auc", "auc_ovr", "accuracy", "qwk"):
        assert key in metrics
    meta = json.loads((colour_run / "bundle" / "metadata.json").read_text())
    assert meta["class_names"] == ICDR and meta["model"]["num_grades"] == 5
    assert meta["input"]["channels"] == 3 and len(meta["input"]["normalization"]["mean"]) == 3
    assert meta["input"]["recipe"] == "fundus" and meta["model"]["cifar_stem"] is True
    assert meta["model"]["stem_stride"] == 2  # non-default: 4x fewer stem FLOPs, the suite's time
    assert len(meta["calibration"]["thresholds"]) == 4
    assert meta["submission"]["columns"] == ["case", "class", "P0", "P1", "P2", "P3", "P4"]
    assert meta["data"]["kind"] == "medmnist" and meta["data"]["channels"] == 3
    assert meta["input"]["ingest_preprocessing"] == {"fundus_crop": True, "graham": False,
                                                     "graham_mask": True}
    assert "crop to the fundus disc" in meta["input"]["preprocessing"]
    card = (colour_run / "bundle" / "MODEL_CARD.md").read_text()
    assert "colour fundus photograph" in card and "4 PDR" in card and "P0..P4" in card
    assert "crop to the fundus disc" in card
    assert meta["input_profile"]["file"] == "input_profile.npz"  # the out-of-distribution check
    assert "2 Moderate (moderate non-proliferative DR" in card  # the ICDR grades explained
    report = (colour_run / "report.md").read_text()
    assert "5 grades" in report and "AUC (OvR)" in report and "RGB colour" in report
    # MedMNIST's official train + val are pooled into the cross-validation (the manifest's origin)
    pooled = f"official train {N_TRAIN} + val {N_VAL}, pooled for the 5-fold cross-validation; "
    assert f"- training images: {N_TRAIN + N_VAL} ({pooled}No DR 10," in report
    assert meta["data"]["train_origins"] == {"train": N_TRAIN, "val": N_VAL}
    assert f"{N_TRAIN + N_VAL}\n  training images ({pooled}per grade: " in card


def test_check_against_the_manifest_without_an_image_folder(colour_run: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    submission = colour_run / "export" / "submission.csv"
    assert export.main(["--check", str(submission), "--manifest", str(colour_run)]) == 0
    assert "OK: 6 cases" in capsys.readouterr().out
    lines = submission.read_text().splitlines()
    missing = tmp_path / "missing.csv"
    missing.write_text("\n".join(lines[:-1]) + "\n")
    assert export.main(["--check", str(missing), "--manifest", str(colour_run / "data")]) == 1
    assert "test case 'test_0005.png' has no row" in capsys.readouterr().out
    three = tmp_path / "three.csv"  # a DRAC-shaped file for a 5-grade data set
    three.write_text("case,class,P0,P1,P2\n" + "".join(f"test_{i:04d}.png,0,0.5,0.3,0.2\n"
                                                       for i in range(N_TEST)))
    assert export.main(["--check", str(three), "--manifest", str(colour_run / "data" / "manifest.csv")]) == 1
    said = capsys.readouterr().out
    assert "the submission has 3 grades (case,class,P0,P1,P2)" in said and "has 5" in said, said
    assert export.main(["--check", str(submission), "--manifest", str(tmp_path)]) == 2
    assert "no ingest manifest" in capsys.readouterr().err


def test_red_only_image_does_not_grade_like_its_grey_copy(colour_run: Path) -> None:
    bundle = load_bundle(colour_run)
    red = np.zeros((40, 40, 3), np.uint8)
    red[8:32, 8:32, 0] = 220  # red only
    grey, said = conform_channels(conform_channels(red, 1)[0], 3)  # its grey copy, as RGB
    assert said and "replicated" in said[0] and not np.array_equal(red, grey)
    x_red, x_grey = (preprocess_image(im, bundle.metadata) for im in (red, grey))
    assert x_red.shape == (3, SIZE, SIZE)
    assert not torch.allclose(x_red[0], x_red[1])  # the channels stay apart in the model input
    assert torch.allclose(x_grey[0] * 0.2977 + 0.3974, x_grey[1] * 0.2001 + 0.2446, atol=1e-5)
    probs, _ = predict_images(bundle, [red, grey])
    assert probs.shape == (2, 5) and np.abs(probs[0] - probs[1]).max() > 1e-4
    with pytest.raises(ValueError, match="RGB image"):  # never converted silently
        preprocess_image(red[..., 0], bundle.metadata)


def test_files_are_read_in_the_models_channels(colour_run: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bundle = load_bundle(colour_run)
    rng = np.random.default_rng(1)
    folder = tmp_path / "images"
    folder.mkdir()
    colour = fundus_like(3, rng)
    Image.fromarray(colour).save(folder / "a.png")
    Image.fromarray(colour[..., 1]).save(folder / "b.png")  # a grey file
    Image.fromarray(np.repeat(colour[..., 1:2], 3, axis=2)).save(folder / "c.png")  # grey, saved as RGB
    pixels, said = read_image(folder / "a.png", 3)
    assert np.array_equal(pixels, colour) and said == []
    grey, said = read_image(folder / "b.png", 3)
    assert grey.shape == (SIZE, SIZE, 3) and "replicated to 3 identical channels" in said[0]
    same, said_rgb = read_image(folder / "c.png", 3)
    assert np.array_equal(same, grey)  # the same pixels, told apart in words only
    assert said_rgb[0].startswith("c.png: No colour: the file's three channels are identical")
    assert "replicated" not in said_rgb[0]
    # the app says the very same words (after the file name) for both files
    from app.inputs import load_bytes

    for name, words in (("b.png", said), ("c.png", said_rgb)):
        app_words = load_bytes((folder / name).read_bytes(), name, channels=3).warnings
        assert words[0] == f"{name}: {app_words[0]}"
    luma, said = read_image(folder / "a.png", 1)
    assert luma.shape == (SIZE, SIZE) and "converted to grayscale" in said[0]
    # a grey model's words are the app's (sanity_warnings): a doubt for a UW-OCTA model only
    for kind in ("octa", "fundus"):
        app_words = load_bytes((folder / "a.png").read_bytes(), "a.png", channels=1, kind=kind).warnings
        assert read_image(folder / "a.png", 1, kind=kind)[1] == [f"a.png: {w}" for w in app_words
                                                                 if w.startswith("Colour image")]
    assert "may not be OCTA" in read_image(folder / "a.png", 1, kind="octa")[1][0]
    assert "may not be OCTA" not in said[0]  # kind not known: the ingest's conversion, no doubt
    out = tmp_path / "team.csv"
    # grey pictures for a colour model: not reliably gradable, the app batch's rule (exit 4)
    assert export.main([str(colour_run), "--images", str(folder), "--out", str(out)]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    assert "b.png: Grey image: replicated" in captured.err and "1 converted" in captured.out
    notes = {row.split(",")[0]: row.split(",")[2] for row in (tmp_path / "team_notes.csv").read_text(encoding="utf-8-sig").splitlines()[1:]}
    assert "a grey picture for a colour model" in notes["b.png"] and "a grey picture" in notes["c.png"]
    assert notes["a.png"] == ""
    assert "c.png: No colour: the file's three channels are identical" in captured.err
    # c.png is read as it is, not converted: counted apart (a review)
    assert "1 with three identical channels, read as they are" in captured.out
    assert out.read_text().splitlines()[0] == "case,class,P0,P1,P2,P3,P4"
    assert check_submission(out, folder) == []
    # an original image and its ingest cache row give the same model input: the ingest's
    # crop to the fundus disc is replayed from the recorded settings
    cached = np.load(colour_run / "data" / "cache" / "28px.npy", mmap_mode="r")
    row = np.asarray(cached[N_TRAIN + N_VAL])  # test_0000
    with np.load(colour_run.parents[1] / "retinamnist_tiny.npz") as archive:
        original = archive["test_images"][0]
    assert not np.array_equal(original, row)  # the crop changed the picture
    from_file = preprocess_image(original, bundle.metadata)
    assert torch.equal(from_file, preprocess_image(row, bundle.metadata, ingested=True))
    no_replay = {**bundle.metadata, "input": {k: v for k, v in bundle.metadata["input"].items()
                                              if k != "ingest_preprocessing"}}
    assert not torch.equal(from_file, preprocess_image(original, no_replay))
    assert bundle.spec.channels == 3 and bundle.calibration.num_grades == 5


def test_the_app_shows_five_named_probabilities_in_colour(colour_run: Path, tmp_path: Path) -> None:
    from app.predict import Predictor
    from app.server import AppSettings, _grade_batch, table_columns

    predictor = Predictor(colour_run, gradcam=True)
    assert predictor.class_names == ICDR and predictor.channels == 3
    image = fundus_like(4, np.random.default_rng(2))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    (tmp_path / "eye.png").write_bytes(buf.getvalue())
    pred = predictor.predict_file(tmp_path / "eye.png")
    assert pred.image.shape == (SIZE, SIZE, 3) and np.array_equal(pred.image, image)
    assert pred.probs.shape == (5,) and list(pred.as_dict()["probabilities"]) == ICDR
    assert pred.heatmap is not None and pred.heatmap.shape == (SIZE, SIZE)
    assert not any("UW-OCTA" in w for w in pred.warnings)  # colour model: no OCTA checks
    Image.fromarray(image[..., 0]).save(tmp_path / "grey.png")
    grey = predictor.predict_file(tmp_path / "grey.png", gradcam=False)
    assert any("replicated to 3 identical channels" in w for w in grey.warnings)
    # worded from the grey images the bundle records it saw (none: a RetinaMNIST run)
    grey_seen, n_train = predictor.grey_trained  # type: ignore[misc]
    assert grey_seen == 0 and n_train > 0
    assert any(f"the model saw 0 grey images among {n_train} in training" in w for w in grey.warnings)
    card = (colour_run / "bundle" / "MODEL_CARD.md").read_text()
    assert f"(the model saw 0 grey images among {n_train} in training: a grey picture is marked " \
           "not reliably gradable" in card
    summary, rows, csv_path, _ = _grade_batch(predictor, AppSettings(), [str(tmp_path / "eye.png"),
                                                                        str(tmp_path / "grey.png")])
    assert len(rows[0]) == len(table_columns(predictor.grade_names)) == 9 and csv_path is not None  # no mean s/image column
    assert Path(csv_path).read_text().splitlines()[0] == "case,class,P0,P1,P2,P3,P4"
    assert "case,class,P0,P1,P2,P3,P4" in summary


def test_backbone_channels_that_contradict_the_data_are_an_error(colour_run: Path, tmp_path: Path) -> None:
    from drac_ssl import pretrain

    cfg = load_config(None, [*TINY, "pretrain.backbone.in_channels=1"])
    with pytest.raises(ConfigError, match=r"(?s)in_channels=1 contradicts the data: 3-channel.*"
                                          r"fix: pretrain.backbone.in_channels=3 \(or 0"):
        pretrain.run(cfg, tmp_path, data=pretrain.load_pretrain_data(cfg, colour_run / "data"))
    grey_data = pretrain.PretrainData(np.zeros((8, SIZE, SIZE), np.uint8), "grey test images")
    with pytest.raises(ConfigError, match="1-channel"):
        pretrain.run(load_config(None, [*TINY, "pretrain.backbone.in_channels=3"]), tmp_path,
                     data=grey_data)
    # a colour ingest and a grey backbone: fine-tuning refuses, naming both
    run = tmp_path / "mixed"
    shutil.copytree(colour_run / "data", run / "data")
    shutil.copytree(colour_run / "pretrain", run / "pretrain")
    meta = json.loads((run / "pretrain" / "metadata.json").read_text())
    meta["input"]["channels"] = 1
    (run / "pretrain" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"reads 1 channel\(s\) but the ingested images have 3"):
        finetune.run(load_config(None, [*TINY, "umm.enabled=false"]), run)


def test_argmax_decision_reuses_the_folds_and_reaches_the_bundle(colour_run: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # the last test of the module: it re-runs fine-tuning and export in the shared run folder,
    # from the working folder of the run (the fold signature holds the backbone's path as given)
    run = colour_run
    before = json.loads((run / "finetune" / "vicreg_umm" / "metrics.json").read_text())
    cfg = load_config(train.DEFAULT_CONFIG, [f"data.root={run}", *TINY, "finetune.decision=argmax"])
    capsys.readouterr()
    cwd = os.getcwd()
    os.chdir(run.parents[1])
    try:
        result = finetune.run(cfg, Path("runs") / run.name)
    finally:
        os.chdir(cwd)
    assert "reusing fold0.json" in capsys.readouterr().out  # the decision trains nothing
    metrics = result.variants["vicreg_umm"].metrics
    assert metrics["decision"] == "argmax" and before["decision"] == "thresholds"
    assert metrics["qwk"] == metrics["decision_rules"]["argmax"]["qwk"]
    assert metrics["accuracy"] == metrics["decision_rules"]["argmax"]["accuracy"]
    assert before["decision_rules"] == {  # the same numbers, only the selected rule moved
        rule: {**r, "selected": rule == "thresholds"} for rule, r in metrics["decision_rules"].items()}
    oof = _rows(run / "finetune" / "vicreg_umm" / "oof.csv")
    probs = np.array([[float(r[f"P{k}"]) for k in range(5)] for r in oof])
    assert [int(r["pred"]) for r in oof] == probs.argmax(1).tolist()
    assert "accuracy" in json.loads((run / "finetune" / "summary.json").read_text())["selection"]
    export.run(cfg, run)
    meta = json.loads((run / "bundle" / "metadata.json").read_text())
    assert meta["calibration"]["decision"] == "argmax"
    assert meta["submission"]["class"] == "most probable calibrated grade"
    rows = _rows(run / "export" / "submission.csv")
    written = np.array([[float(r[f"P{k}"]) for k in range(5)] for r in rows])
    assert [int(r["class"]) for r in rows] == written.argmax(1).tolist()


def test_a_five_grade_model_on_dracs_test_folder_is_warned_at_write_time(
        colour_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial: a 5-grade model graded DRAC's own test folder into a 5-grade file without a
    word, which --check then refuses (DRAC accepts only case,class,P0,P1,P2). The export now
    says so when it writes the file; another folder gets no such line."""
    from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR

    rng = np.random.default_rng(1)
    drac = tmp_path / "DRAC2022_Testing_Set" / TASK_DIR / IMAGES_DIR / TEST_DIR
    other = tmp_path / "new_photos"
    for folder in (drac, other):
        folder.mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(folder / f"{i + 1}.png"), fundus_like(i, rng)[..., ::-1])
    capsys.readouterr()
    assert export.main([str(colour_run), "--images", str(drac), "--out", str(tmp_path / "k5.csv")]) == 0
    err = capsys.readouterr().err
    (said,) = [line for line in err.splitlines() if "DRAC accepts only" in line]
    assert said.startswith(f"warning: {drac} is DRAC 2022's test set, and DRAC accepts only "
                           "case,class,P0,P1,P2 (its 3 grades); this model grades on 5 grades "
                           "(No DR, Mild, Moderate, Severe, PDR)")
    assert (tmp_path / "k5.csv").read_text().splitlines()[0] == "case,class,P0,P1,P2,P3,P4"  # as before
    assert export.main([str(colour_run), "--images", str(drac / "1.png"), "--out", str(tmp_path / "one.csv")]) == 0
    assert "DRAC accepts only" in capsys.readouterr().err  # one image of that folder too
    assert export.main([str(colour_run), "--images", str(other), "--out", str(tmp_path / "o.csv")]) == 0
    assert "DRAC accepts only" not in capsys.readouterr().err
