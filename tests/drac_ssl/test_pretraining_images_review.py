"""Review of the transductive-score warning (``export --score`` on images the backbone's
self-supervised pretraining read): the README's flow (``export RUN --images DIR --out TEAM.csv``,
then ``--score TEAM.csv`` without RUN) warns through the notes file's ``pretraining_image``
column (F1); a relative in-run path (F2); a run's own export is told by its manifest, not by
files given again (F3); the variant that wrote a run's own export, scratch included (F4); a
bundle built before the list is rebuilt or told from its run (F5); each file hashed once, with
progress (F6); the fix named per split (F7); outside starting weights (F9); and the success path
of ``RUN --score --images`` loads no torch. One tiny run (fake ingest of 30 labelled + 6 test
images, one VICReg step, a linear-head fine-tuning, the export) for the end-to-end cases, and
bundles written by hand for the rest; CPU, seconds."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
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
from drac_ssl.grading import training_images
from drac_ssl.grading.training_images import (
    PRETRAINING_IMAGES_KEY,
    pretraining_images_line,
    pretraining_images_of,
    pretraining_images_record,
    pretraining_splits,
)
from drac_ssl.manifest import read_manifest
from drac_ssl.submission import (
    IMAGE_NOTES_COLUMNS,
    PRETRAINING_IMAGE_COLUMN,
    image_notes_path,
    read_pretraining_notes,
    write_submission,
)

WARNING = "scored images were among those the self-supervised pretraining"
REPO = Path(__file__).resolve().parents[2]


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
    default): its bundle and ``export/submission.csv``."""
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


def _other_pixels(folder: Path, cases: list[str]) -> Path:
    """Files named ``cases`` in ``folder`` whose pixels no ingested image has."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    for case in cases:
        texture = cv2.GaussianBlur(rng.integers(0, 255, (64, 64)).astype(np.uint8), (5, 5), 0)
        cv2.imwrite(str(folder / case), texture)
    return folder


def _score(args: list[str], capsys: pytest.CaptureFixture[str], out_json: Path) -> tuple[str, dict]:
    assert export_main([*args, "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "QWK" in captured.out, captured.out
    return captured.out + captured.err, json.loads(out_json.read_text())


def test_the_readme_flow_warns_through_the_notes_file(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F1: ``export RUN --images DIR --out TEAM.csv`` says at export time that the pretraining
    read the graded images and marks them in TEAM_notes.csv; ``--score TEAM.csv --labels L``
    without RUN then warns, as README says."""
    folder = tmp_path / "test_images"
    shutil.copytree(run / "images" / "test", folder)
    team = tmp_path / "TEAM.csv"
    assert export_main([str(run), "--images", str(folder), "--out", str(team)]) == 0
    out = capsys.readouterr().out
    assert ("6 of 6 graded images were among those the self-supervised pretraining (VICReg) of this "
            "model's backbone read, without their grades (same SHA-256): a score of their grades "
            "(export --score) is transductive") in out, out
    assert "train again with pretrain.use_test_images=false" in out
    notes = image_notes_path(team)
    rows = notes.read_text().splitlines()
    assert rows[0] == ",".join(IMAGE_NOTES_COLUMNS) and rows[0].endswith(PRETRAINING_IMAGE_COLUMN)
    read = read_pretraining_notes(notes)
    assert read is not None and sorted(read) == sorted(p.name for p in folder.iterdir())
    assert all(entry["splits"] == ["test"] and "variant=vicreg" in entry["bundle"] for entry in read.values())
    assert "yes (same SHA-256 as a test image)" in rows[1]
    cases = sorted(read)
    said, record = _score(["--score", str(team), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    assert f"warning: 6 of 6 {WARNING}" in said, said
    told = record["pretraining_images"]
    assert told["transductive"] is True and told["n"] == 6 and told["variant"] == "vicreg"
    assert "pretraining_image column" in told["source"]


def test_a_relative_path_inside_the_run_s_export_folder_is_the_run_s_export(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """F2: ``--score submission.csv`` typed inside RUN/export is the run's own export."""
    labels = _labels(tmp_path / "l.csv", _test_cases(run))
    monkeypatch.chdir(run / "export")
    said, record = _score(["--score", "submission.csv", "--labels", str(labels)], capsys, tmp_path / "s.json")
    assert f"warning: 6 of 6 {WARNING} (VICReg)" in said, said
    assert record["pretraining_images"]["transductive"] is True
    assert "ingest manifest" in record["pretraining_images"]["source"]


def test_files_given_again_do_not_override_the_run_s_own_export(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F3: the run's submission graded the ingest's test images whatever ``--images`` holds now;
    files of other pixels under the same names are told to be no byte-identical copy."""
    cases = _test_cases(run)
    labels = _labels(tmp_path / "l.csv", cases)
    new = _other_pixels(tmp_path / "new", cases)
    said, record = _score([str(run), "--score", str(run / "export" / "submission.csv"), "--labels", str(labels),
                           "--images", str(new)], capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is True and told["n"] == 6, told
    assert f"warning: 6 of 6 {WARNING}" in said
    # the same files as a submission of their own: none read, and a copy re-encoded is not recognised
    said, record = _score([str(run), "--score", str(_submission(tmp_path / "v.csv", cases)), "--labels",
                           str(labels), "--images", str(new)], capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is False and told["n"] == 0 and WARNING not in said
    assert any("byte-identical" in note and "re-encoded copy" in note for note in told["notes"]), told
    assert "note: none of the 6 checked file(s) is byte-identical to one of the 6 test images" in said


def _scratch_selected(run: Path, copy: Path) -> Path:
    """A copy of ``run`` whose selected bundle (RUN/bundle) and export are its scratch variant's."""
    shutil.copytree(run, copy)
    meta_path = copy / "bundle" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["variant"] = "scratch"
    del meta[PRETRAINING_IMAGES_KEY]
    meta_path.write_text(json.dumps(meta))
    summary_path = copy / "export" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps({**summary, "variant": "scratch",
                                        "submission": str(copy / "export" / "submission.csv")}))
    return copy


def test_a_run_s_own_scratch_export_is_clean_and_the_hedge_names_only_the_run_s_variants(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F4: RUN/export/submission.csv written by a scratch RUN/bundle gets no warning (the
    export's record names the variant); a submission from elsewhere scored with that RUN gets
    the hedge, naming the pretrained variants this run has (vicreg, not vicreg_umm)."""
    copy = _scratch_selected(run, tmp_path / "run")
    cases = _test_cases(copy)
    labels = _labels(tmp_path / "l.csv", cases)
    for args in ([str(copy), "--score", str(copy / "export" / "submission.csv")],
                 ["--score", str(copy / "export" / "submission.csv")]):
        said, record = _score([*args, "--labels", str(labels)], capsys, tmp_path / "s.json")
        told = record["pretraining_images"]
        assert told["transductive"] is False and told["variant"] == "scratch" and not told["line"], told
        assert WARNING not in said and "pass RUN/bundles/NAME" not in said
        assert "summary.json" in told["source"]
    folder = tmp_path / "copies"
    shutil.copytree(copy / "images" / "test", folder)
    said, record = _score([str(copy), "--score", str(_submission(tmp_path / "v.csv", cases)), "--labels",
                           str(labels), "--images", str(folder)], capsys, tmp_path / "s.json")
    assert "(--variant vicreg)" in said and "vicreg_umm" not in said, said
    assert record["pretraining_images"]["transductive"] is None


def test_a_bundle_built_before_the_list_is_rebuilt_and_told_from_its_run(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F5: ``export RUN --variant vicreg`` rebuilds a bundle that lacks the record instead of
    reusing it for ever; a RUN whose bundle lacks it is told from the run folder; a bundle
    outside any run is doubted with the fix that rebuilds it."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    export.run(_config(), copy, variant="vicreg")
    assert bundles.reusable_bundle(copy, "vicreg") == copy / "bundles" / "vicreg"
    for bundle in (copy / "bundles" / "vicreg", copy / "bundle"):
        meta = json.loads((bundle / "metadata.json").read_text())
        del meta[PRETRAINING_IMAGES_KEY]
        (bundle / "metadata.json").write_text(json.dumps(meta))
    # reused to grade --images (nothing written into the run: scorewarn3 F1), rebuilt by an
    # export that writes into the run anyway (--variant without --images)
    assert bundles.reusable_bundle(copy, "vicreg") == copy / "bundles" / "vicreg"
    assert bundles.pretraining_record_missing(copy, "vicreg")
    folder = tmp_path / "copies"
    shutil.copytree(copy / "images" / "test", folder)
    cases = sorted(p.name for p in folder.iterdir())
    sub, labels = _submission(tmp_path / "v.csv", cases), _labels(tmp_path / "l.csv", cases)
    said, record = _score([str(copy), "--score", str(sub), "--labels", str(labels), "--images", str(folder)],
                          capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is True and told["n"] == 6 and f"the run folder {copy.resolve()}" in told["source"]
    alone = tmp_path / "alone"
    shutil.copytree(copy / "bundle", alone)
    said, record = _score([str(alone), "--score", str(sub), "--labels", str(labels), "--images", str(folder)],
                          capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is None and "cannot be told" in told["line"]
    assert "RUN --variant vicreg writes RUN/bundles/vicreg" in said, said
    export.run(_config(), copy, variant="vicreg")  # rebuilt: the record is back
    assert PRETRAINING_IMAGES_KEY in json.loads((copy / "bundles" / "vicreg" / "metadata.json").read_text())


def test_each_file_is_hashed_once_with_progress(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """F6: the training and the pretraining check share one hash per file, and the hashing
    says its progress on stderr."""
    folder = tmp_path / "copies"
    shutil.copytree(run / "images" / "test", folder)
    cases = sorted(p.name for p in folder.iterdir())
    hashed: list[Path] = []
    real = training_images.file_prefix
    monkeypatch.setattr(training_images, "file_prefix", lambda path: hashed.append(Path(path)) or real(path))
    monkeypatch.setattr(scoring, "HASH_PROGRESS_FILES", 1)
    monkeypatch.setattr("drac_ssl.console.PROGRESS_EVERY_S", 0.0)
    said, record = _score([str(run), "--score", str(_submission(tmp_path / "v.csv", cases)), "--labels",
                           str(_labels(tmp_path / "l.csv", cases)), "--images", str(folder)],
                          capsys, tmp_path / "s.json")
    assert sorted(hashed) == sorted(folder / c for c in cases)  # once each, not twice
    assert record["training_images"]["of"] == 6 and record["pretraining_images"]["n"] == 6
    assert "[score] 6 of 6 files hashed" in said, said


def _bundle_folder(path: Path, meta: dict) -> Path:
    path.mkdir()
    (path / "MODEL_CARD.md").write_text("# model\n")
    (path / "metadata.json").write_text(json.dumps(meta))
    return path


def _png(path: Path, seed: int) -> str:
    """A small PNG at ``path``; its SHA-256."""
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 255, (32, 32)).astype(np.uint8), (3, 3), 0))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_fix_is_named_per_split_and_outside_weights_are_hedged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F7: an image of data.unlabelled is told to be left out of data.unlabelled, not
    pretrain.use_test_images=false; F9: a pretraining started from outside weights is a hedge
    (transductive null, a note) when no file matched."""
    folder = tmp_path / "graded"
    folder.mkdir()
    digests = {name: _png(folder / name, seed) for seed, name in enumerate(("t.png", "u.png", "new.png"))}
    record = pretraining_images_record({"test": [digests["t.png"]], "unlabelled": [digests["u.png"]]},
                                       stages="VICReg", test_read=True)
    bundle = _bundle_folder(tmp_path / "b", {"variant": "vicreg", PRETRAINING_IMAGES_KEY: record})
    labels = _labels(tmp_path / "l.csv", ["u.png", "new.png"])
    said, scored = _score([str(bundle), "--score", str(_submission(tmp_path / "v.csv", ["u.png", "new.png"])),
                           "--labels", str(labels), "--images", str(folder)], capsys, tmp_path / "s.json")
    line = scored["pretraining_images"]["line"]
    assert line.startswith("1 of 2 scored images was among") and line.endswith(
        "train again without these images in data.unlabelled"), line
    assert "use_test_images" not in line
    assert pretraining_images_line(2, 3, "VICReg", {"test", "unlabelled"}).endswith(
        "train again with pretrain.use_test_images=false and without these images in data.unlabelled")
    assert pretraining_images_line(1, 3, "VICReg", ["test"]).endswith(
        "train again with pretrain.use_test_images=false")
    outside = _bundle_folder(tmp_path / "o", {"variant": "vicreg", PRETRAINING_IMAGES_KEY: {
        **record, "initial_weights": "/weights/imagenet_r18.safetensors"}})
    labels = _labels(tmp_path / "l2.csv", ["new.png"])
    said, scored = _score([str(outside), "--score", str(_submission(tmp_path / "w.csv", ["new.png"])),
                           "--labels", str(labels), "--images", str(folder)], capsys, tmp_path / "s.json")
    told = scored["pretraining_images"]
    assert told["n"] == 0 and told["transductive"] is None and told["initial_weights"].endswith("imagenet_r18.safetensors")
    assert "note: the pretraining of this backbone started from outside weights" in said, said


def _stage(run: Path, stage: str, use_test_images: bool, **extra: object) -> None:
    (run / stage).mkdir(parents=True)
    (run / stage / "metadata.json").write_text(json.dumps({
        "config": {"data": {"dataset": "drac"}, "pretrain": {"use_test_images": use_test_images}},
        "initial_weights": "", **extra}))


def test_the_record_is_the_union_of_vicreg_and_umm_per_split(tmp_path: Path) -> None:
    """The record of ``vicreg_umm`` joins what each stage read: UMM read the test images though
    the pretraining left them out; the data.unlabelled pool is its own list; a labelled image
    copied into the pool stays the other list's; a UMM started outside the run is recorded."""
    run = tmp_path / "run"
    data = make_fake_ingest(run)
    manifest = data / "manifest.csv"
    lines = manifest.read_text().splitlines()
    trained_digest = lines[1].split(",")[6]
    pool = [hashlib.sha256(f"pool {i}".encode()).hexdigest() for i in range(3)] + [trained_digest]
    extra = [f"u{i}.png,unlabelled/u{i}.png,,unlabelled,-1,,{d},64,64,L,{36 + i}" for i, d in enumerate(pool)]
    manifest.write_text("\n".join(lines + extra) + "\n")
    _stage(run, "pretrain", use_test_images=False)
    only_pool = pretraining_images_of(run, "vicreg")
    assert only_pool is not None and only_pool["test_read"] is False
    assert only_pool["test"] == 0 and only_pool["unlabelled"] == 3  # the labelled copy is not counted
    _stage(run, "umm", use_test_images=True, umm={"source": str(run / "pretrain" / "vicreg_model.safetensors")})
    union = pretraining_images_of(run, "vicreg_umm")
    assert union is not None and union["stages"] == "VICReg, then UMM" and union["test_read"] is True
    assert union["test"] == 6 and union["unlabelled"] == 3 and union["images"] == 9
    assert "initial_weights" not in union  # UMM started from the run's own pretraining
    splits = pretraining_splits({"variant": "vicreg_umm", PRETRAINING_IMAGES_KEY: union})
    assert splits is not None and {d[:16] for d in pool[:3]} == splits["unlabelled"]
    assert trained_digest[:16] not in splits["unlabelled"] | splits["test"]
    shutil.rmtree(run / "umm")
    _stage(run, "umm", use_test_images=True, umm={"source": "/elsewhere/pretrain/vicreg_model.safetensors"})
    assert "umm.source /elsewhere/pretrain" in (pretraining_images_of(run, "vicreg_umm") or {})["initial_weights"]


RUNNER = """
import json, runpy, sys
sys.argv = ["drac_ssl.export", *json.loads(sys.argv[1])]
try:
    runpy.run_module("drac_ssl.export", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = [m for m in ("torch", "torchvision", "matplotlib", "gradio") if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def test_run_score_images_scores_without_loading_torch(tmp_path: Path) -> None:
    """``RUN --score SUB --labels L --images DIR`` (both checks hashing the files) succeeds and
    warns without importing torch (scikit-learn computes the figures; test_cli_imports covers
    the usage errors)."""
    folder = tmp_path / "graded"
    folder.mkdir()
    digests = [_png(folder / f"{i}.png", i) for i in range(4)]
    bundle = _bundle_folder(tmp_path / "b", {
        "variant": "vicreg", PRETRAINING_IMAGES_KEY: pretraining_images_record(
            {"test": digests[:3]}, stages="VICReg", test_read=True)})
    cases = [f"{i}.png" for i in range(4)]
    args = [str(bundle), "--score", str(_submission(tmp_path / "v.csv", cases)), "--labels",
            str(_labels(tmp_path / "l.csv", cases)), "--images", str(folder)]
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result == {"code": 0, "heavy": []}, done.stderr
    assert f"warning: 3 of 4 {WARNING} (VICReg)" in done.stdout, done.stdout
