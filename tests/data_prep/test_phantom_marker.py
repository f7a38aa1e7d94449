"""The phantom marker that travels with each phantom PNG: written by the generator, read from
the header by the decoder, kept in the cache state, counted by the ingest, and a run on
phantom PNGs copied away from their ``phantom.json`` counts as phantom (provenance, report)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, validate
from data_prep.decode import PHANTOM_TEXT, PHANTOM_TEXT_KEY, decode, phantom_marked
from data_prep.layout import GROUNDTRUTH_DIR, IMAGES_DIR, LABELS_CSV_NAME, TASK_DIR, TRAIN_DIR
from data_prep.phantom import (
    MANIFEST_NAME,
    TRAIN_IMAGE_DIR,
    encode_phantom_png,
    generate,
    phantom_image,
)
from drac_ssl.config import DataConfig
from drac_ssl.grading.bundle import data_provenance
from drac_ssl.report import _data_section

SMALL = 128  # pixels: fast phantoms
SIZE = 64  # cache side


def config(root: Path, **overrides: object) -> DataConfig:
    settings: dict[str, object] = {"root": str(root), "cache_sizes": [SIZE], "n_folds": 2,
                                   "workers": 1}
    settings.update(overrides)
    return DataConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "drac"
    return generate(root, n_train=6, n_test=2, seed=3, workers=1, size=SMALL, progress=False)


def real_looking_drac(root: Path, copied: list[Path], n_real: int = 6) -> Path:
    """An official DRAC tree of ``n_real`` smooth non-phantom images (grades 0, 1, 2 in turn)
    plus the ``copied`` phantom PNGs (byte copies, grade 0), and no ``phantom.json``."""
    train = root / TASK_DIR / IMAGES_DIR / TRAIN_DIR
    train.mkdir(parents=True)
    rows = []
    for i in range(n_real):
        coarse = np.random.default_rng(i).integers(0, 256, (16, 16), dtype=np.uint8)
        assert cv2.imwrite(str(train / f"{i + 1:03d}.png"),
                           cv2.resize(coarse, (SMALL, SMALL), interpolation=cv2.INTER_LINEAR))
        rows.append([f"{i + 1:03d}.png", i % 3])
    for j, source in enumerate(copied):
        shutil.copy(source, train / f"{100 + j}.png")
        rows.append([f"{100 + j}.png", j % 3 if not n_real else 0])
    (root / TASK_DIR / GROUNDTRUTH_DIR).mkdir(parents=True)
    with open(root / TASK_DIR / GROUNDTRUTH_DIR / LABELS_CSV_NAME, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["image name", "DR grade"], *rows])
    return root


def test_phantom_png_carries_the_marker_and_the_same_pixels() -> None:
    img = phantom_image(0, 7, 1, SMALL)
    data = encode_phantom_png(img)
    with Image.open(io.BytesIO(data)) as im:  # the header read alone holds it
        assert im.info[PHANTOM_TEXT_KEY] == PHANTOM_TEXT
    decoded = decode(data, "x.png")
    assert decoded.phantom and not decoded.problems
    np.testing.assert_array_equal(decoded.pixels, img)
    plain = cv2.imencode(".png", img)[1].tobytes()
    assert not decode(plain, "y.png").phantom
    assert not phantom_marked({PHANTOM_TEXT_KEY: "a retinal image"})
    assert not phantom_marked({"Comment": PHANTOM_TEXT})


def test_every_generated_image_is_marked(phantom_set: Path) -> None:
    pngs = sorted(phantom_set.rglob("*.png"))
    assert len(pngs) == 8
    for png in pngs:
        with Image.open(png) as im:
            assert phantom_marked(im.info), png


def test_copied_phantoms_mixed_into_real_data_are_said_as_a_mix_and_named(tmp_path: Path,
                                                                          phantom_set: Path) -> None:
    """Phantom PNGs copied among other images, no phantom.json: the run keeps its layout's kind
    and says the mix (review F3: one copied phantom made a whole APTOS run "the phantom UW-OCTA
    set ... NOT patient data"); never the words of clean real data."""
    copies = sorted((phantom_set / TRAIN_IMAGE_DIR).glob("*.png"))[:3]
    root = real_looking_drac(tmp_path / "DRAC", copies)
    out = tmp_path / "run" / "data"
    result = ingest.run(config(root), out, verbose=False)

    assert result.layout == "drac" and result.n_phantom_marked == 3
    marked = [p for p in result.findings if p.kind == "phantom"]
    assert sorted(Path(p.path).name for p in marked) == ["100.png", "101.png", "102.png"]
    assert all(p.severity == "warning" and "synthetic phantom image" in p.what
               and "mix the phantoms with the other images" in p.what for p in marked)
    assert ("phantom: 3 of 9 images carry drac_ssl's phantom marker (synthetic images, not retinal "
            "ones): the run's figures and its model mix the phantoms") in ingest.format_summary(result)
    prov = data_provenance(out)
    assert prov["kind"] == "drac" and prov["phantom_marked"] == 3
    assert prov["phantom_mixed"] == {"marked": 3, "images": 9, "labelled": True}
    assert "phantom_pretraining" not in prov
    section = "\n".join(_data_section(tmp_path / "run"))
    assert ("**3 of 9 labelled images are synthetic phantoms (drac_ssl's marker) mixed into DRAC data: the "
            "figures mix them.**") in section
    assert "phantom UW-OCTA set" not in section and "not recognised as the package's phantom set" not in section

    # a rerun reuses every file from the cache: the marker is kept in its state
    again = ingest.run(config(root), out, verbose=False)
    assert again.n_decoded == 0 and again.n_phantom_marked == 3
    assert data_provenance(out)["phantom_marked"] == 3

    with pytest.raises(validate.IngestError, match="rejected by --strict"):
        ingest.run(config(root, strict=True), tmp_path / "strict", verbose=False)


def test_phantoms_alone_copied_away_from_their_set_make_a_phantom_run(tmp_path: Path,
                                                                     phantom_set: Path) -> None:
    copies = sorted((phantom_set / TRAIN_IMAGE_DIR).glob("*.png"))
    root = real_looking_drac(tmp_path / "DRAC", copies, n_real=0)
    result = ingest.run(config(root), tmp_path / "run" / "data", verbose=False)
    assert result.n_phantom_marked == len(copies)
    assert "the run counts as one on phantom data" in ingest.format_summary(result)
    prov = data_provenance(tmp_path / "run" / "data")
    assert prov["kind"] == "phantom" and "phantom_mixed" not in prov
    section = "\n".join(_data_section(tmp_path / "run"))
    assert "Honest note: this run used the phantom UW-OCTA set" in section
    assert f"{len(copies)} of its {len(copies)} images carry the phantom marker" in section


def test_real_images_alone_are_not_phantom(tmp_path: Path) -> None:
    root = real_looking_drac(tmp_path / "DRAC", [])
    result = ingest.run(config(root), tmp_path / "run" / "data", verbose=False)
    assert result.n_phantom_marked == 0
    prov = data_provenance(tmp_path / "run" / "data")
    assert prov["kind"] == "drac" and "phantom_marked" not in prov


def test_the_phantom_set_itself_counts_its_images_without_a_warning(tmp_path: Path,
                                                                     phantom_set: Path) -> None:
    assert (phantom_set / MANIFEST_NAME).is_file()
    result = ingest.run(config(phantom_set), tmp_path / "data", verbose=False)
    assert result.n_phantom_marked == 8
    assert not [p for p in result.findings if p.kind == "phantom"]
    prov = data_provenance(tmp_path / "data")
    assert prov["kind"] == "phantom" and prov["phantom_marked"] == 8


def test_one_copied_phantom_in_an_aptos_run_keeps_its_layout_and_scope(tmp_path: Path) -> None:
    """Review F3: one phantom PNG copied into an APTOS folder made the whole run "the phantom
    UW-OCTA set ... NOT patient data", lost its layout's name and got DRAC's card scope. A mix
    keeps the layout and the scope, and the report, the model card, the app's and the export's
    caveat (grade_caveats) and the comparison say the mix; no DRAC leaderboard paragraph."""
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import _model_card, grade_caveats

    run, images = tmp_path / "run", tmp_path / "aptos"
    (run / "data").mkdir(parents=True)
    images.mkdir()
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(
            [["id", "path", "grade", "split", "fold", "patient"],
             *[[f"{i}.png", f"{i}.png", i % 5, "train", i % 2, ""] for i in range(10)]])
    icdr = ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]
    (run / "data" / "ingest_summary.json").write_text(json.dumps(
        {"root": str(images), "layout": "aptos", "phantom_marked": 1, "created_utc": "2026-12-01T00:00:00",
         "grades": {"names": icdr, "k": 5, "source": "layout"}, "channels": {"value": 3},
         "modality": {"value": "fundus", "setting": "auto"}}))
    prov = data_provenance(run / "data")
    assert prov["kind"] == "aptos" and prov["phantom_mixed"] == {"marked": 1, "images": 10}
    mixed = "1 of 10 images are synthetic phantoms (drac_ssl's marker) mixed into APTOS data: the figures mix them"
    section = "\n".join(_data_section(run))
    assert f"**{mixed[0].upper()}{mixed[1:]}.**" in section and "(APTOS layout)" in section
    assert "phantom UW-OCTA set" not in section and "NOT patient data" not in section

    bundle = build_demo_bundle(tmp_path / "demo" / "run", image_size=32, source_size=64)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    meta = {**meta, "class_names": icdr, "data": prov, "trial_run": {"trial": False}}
    card = _model_card(meta)
    assert "this one data set" in card and "a small single-challenge data set" not in card
    assert f"**{mixed[0].upper()}{mixed[1:]}.**" in card
    assert "phantom images** (procedural" not in card and "leaderboard" not in card.lower()
    said = grade_caveats(meta)
    assert len(said) == 1 and mixed in said[0] and "phantom images (procedural" not in said[0]


def _real_pool(folder: Path, n: int = 4) -> Path:
    """A folder of ``n`` smooth non-phantom images: a data.unlabelled pool of real images."""
    folder.mkdir(parents=True)
    for i in range(n):
        coarse = np.random.default_rng(50 + i).integers(0, 256, (16, 16), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"u{i}.png"), cv2.resize(coarse, (SMALL, SMALL)))
    return folder


def test_phantoms_only_in_the_unlabelled_pool_leave_the_figures_real_and_are_said_apart(
        tmp_path: Path, phantom_set: Path) -> None:
    """Review s58r3 F7: "mixed" and "phantom" counted every image, the unlabelled pool's too, so
    phantoms in the pretraining pool alone made "the figures mix them" of a run whose labelled
    images were all real. The ingest now records the marked images per split; the figures are
    judged on the labelled ones, and a pretraining-only mix is said as such."""
    root = real_looking_drac(tmp_path / "DRAC", [])
    pool = tmp_path / "pool"
    pool.mkdir()
    for j, source in enumerate(sorted((phantom_set / TRAIN_IMAGE_DIR).glob("*.png"))[:3]):
        shutil.copy(source, pool / f"p{j}.png")
    out = tmp_path / "run" / "data"
    result = ingest.run(config(root, unlabelled=[str(pool)]), out, verbose=False)
    assert result.n_phantom_marked == 3
    summary = json.loads((out / "ingest_summary.json").read_text(encoding="utf-8"))
    assert summary["phantom_marked_by_split"] == {"train": 0, "test": 0, "unlabelled": 3}
    assert "none of the labelled images is one" in ingest.format_summary(result)
    prov = data_provenance(out)
    assert prov["kind"] == "drac" and "phantom_mixed" not in prov
    assert prov["phantom_pretraining"] == {"marked": 3, "test": 0, "unlabelled": 3, "images": 3}
    said = ("3 unlabelled (data.unlabelled) images are synthetic phantoms (drac_ssl's marker), none of "
            "the labelled images: the out-of-fold figures are measured on the DRAC images alone, but "
            "the self-supervised pretraining read the phantoms too")
    assert prov["note"].startswith(said), prov["note"]
    section = "\n".join(_data_section(tmp_path / "run"))
    assert f"**{said[0].upper()}{said[1:]}" in section and "the figures mix them" not in section
    assert "no labelled image with its phantom marker" in section


def test_every_labelled_image_a_phantom_is_a_phantom_run_whatever_the_pool(
        tmp_path: Path, phantom_set: Path) -> None:
    """Review s58r3 F7, the other direction: every labelled image a phantom, the unlabelled
    pool real, was "mixed" (not every image marked), though every figure is measured on
    phantoms: a phantom run now."""
    copies = sorted((phantom_set / TRAIN_IMAGE_DIR).glob("*.png"))
    root = real_looking_drac(tmp_path / "DRAC", copies, n_real=0)
    out = tmp_path / "run" / "data"
    result = ingest.run(config(root, unlabelled=[str(_real_pool(tmp_path / "pool"))]), out, verbose=False)
    assert result.n_phantom_marked == len(copies) and result.n_unlabelled == 4
    assert "the run counts as one on phantom data" in ingest.format_summary(result)
    prov = data_provenance(out)
    assert prov["kind"] == "phantom" and "phantom_mixed" not in prov and "phantom_pretraining" not in prov
    assert "Honest note: this run used the phantom UW-OCTA set" in "\n".join(_data_section(tmp_path / "run"))
