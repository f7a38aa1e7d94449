"""The transductive-score warning: ``export`` and ``export --score`` on images the backbone's
self-supervised pretraining read without their grades (drac_ssl.scoring, drac_ssl.export,
drac_ssl.grading.training_images, the notes file of drac_ssl.submission).

A trial user scored IDRiD's public test grades with a VICReg bundle pretrained on those very
test images and the QWK was printed as a clean test figure. These tests check that the bundle
lists the images its pretraining read (per split, VICReg and UMM joined, outside starting
weights recorded); that ``--score`` warns by SHA-256 (renamed copies too), by the ingest
manifest for a run's own export, or by the notes file's ``pretraining_image`` column for the
README's ``export RUN --images DIR --out TEAM.csv`` then ``--score TEAM.csv``; that it stays
quiet for images never read, a scratch variant or a pretraining that left the test images out;
that it hedges (transductive None, with the fix) for old bundles, old notes files and outside
weights; and that the check hashes each file once and loads no torch.

One module-scoped tiny run (tests/helpers/tiny_run.py: fake ingest of 30 labelled + 6 test
images, one VICReg step, a linear-head fine-tuning, the export and ``bundles/vicreg``) serves
the end-to-end cases (those that change it work on a copy); bundles and notes files written by
hand serve the rest; CPU, seconds."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fake_ingest import make_fake_ingest
from tiny_run import build_tiny_run, tiny_config

from drac_ssl import export, scoring
from drac_ssl.export import main as export_main
from drac_ssl.grading import bundle as bundles
from drac_ssl.grading import training_images
from drac_ssl.grading.training_images import (
    HASH_HEX,
    PRETRAINING_IMAGES_KEY,
    file_prefix,
    pretraining_images_line,
    pretraining_images_of,
    pretraining_images_record,
    pretraining_splits,
    training_hashes,
)
from drac_ssl.manifest import read_manifest
from drac_ssl.submission import (
    IMAGE_NOTES_COLUMNS,
    PRETRAINING_IMAGE_COLUMN,
    PRETRAINING_OUTSIDE_MARK,
    image_notes_path,
    read_pretraining_notes,
    write_image_notes,
    write_submission,
)
from tests.helpers.export_without_torch import export_in_fresh_process

WARNING = "scored images were among those the self-supervised pretraining"
OUTSIDE = "pretrain.backbone.weights /weights/imagenet_r18.safetensors"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished tiny run pretrained on its 6 test images (``pretrain.use_test_images``'s
    default): its bundle, ``export/submission.csv`` and ``bundles/vicreg``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    yield build_tiny_run(tmp_path_factory.mktemp("run"), variants=("vicreg",))
    torch.set_num_threads(threads)


def _test_rows(run: Path) -> list[dict]:
    return [r for r in read_manifest(run / "data" / "manifest.csv") if r["split"] == "test"]


def _test_cases(run: Path) -> list[str]:
    return [r["id"] for r in _test_rows(run)]


def _labels(path: Path, cases: list[str]) -> Path:
    path.write_text("image,level\n" + "".join(f"{c},{i % 3}\n" for i, c in enumerate(cases)))
    return path


def _submission(path: Path, cases: list[str]) -> Path:
    probs = np.full((len(cases), 3), 0.25)
    probs[np.arange(len(cases)), np.arange(len(cases)) % 3] = 0.5
    write_submission(path, cases, probs, num_grades=3)
    return path


def _score(args: list[str], capsys: pytest.CaptureFixture[str], out_json: Path) -> tuple[str, dict]:
    """The console (stdout, where the figures and their warnings are, then stderr) and the
    ``--json`` record of ``export --score``."""
    assert export_main([*args, "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "QWK" in captured.out, captured.out
    return captured.out + captured.err, json.loads(out_json.read_text())


def _renamed_copies(run: Path, folder: Path) -> list[str]:
    """The run's test images copied into ``folder`` under other names."""
    folder.mkdir()
    cases = []
    for i, row in enumerate(_test_rows(run)):
        cases.append(f"renamed_{i}.png")
        shutil.copyfile(run / "images" / row["path"], folder / cases[-1])
    return cases


def _other_pixels(folder: Path, cases: list[str], seed: int) -> Path:
    """Files named ``cases`` in ``folder`` (made here) whose 64 px blurred-noise pixels no
    ingested image has."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for case in cases:
        texture = cv2.GaussianBlur(rng.integers(0, 255, (64, 64)).astype(np.uint8), (5, 5), 0)
        cv2.imwrite(str(folder / case), texture)
    return folder


def _bundle_folder(path: Path, meta: dict) -> Path:
    path.mkdir()
    (path / "MODEL_CARD.md").write_text("# model\n")
    (path / "metadata.json").write_text(json.dumps(meta))
    return path


def _drop_record(bundle: Path) -> None:
    """Remove the pretraining-images record from ``bundle``, as a bundle built before it was."""
    meta = json.loads((bundle / "metadata.json").read_text())
    del meta[PRETRAINING_IMAGES_KEY]
    (bundle / "metadata.json").write_text(json.dumps(meta))


def _png(path: Path, seed: int) -> str:
    """A small PNG at ``path``; its SHA-256."""
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 255, (32, 32)).astype(np.uint8), (3, 3), 0))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stage(run: Path, stage: str, use_test_images: bool = True, **extra: object) -> None:
    """A stage's ``metadata.json`` as a DRAC pretraining (``pretrain`` or ``umm``) records it."""
    (run / stage).mkdir(parents=True, exist_ok=True)
    (run / stage / "metadata.json").write_text(json.dumps({
        "config": {"data": {"dataset": "drac"}, "pretrain": {"use_test_images": use_test_images}},
        "initial_weights": "", **extra}))


def _scratch_bundle(run: Path, copy: Path) -> Path:
    """A copy of ``run`` whose selected bundle (RUN/bundle) is its scratch variant's (no list)."""
    shutil.copytree(run, copy)
    meta_path = copy / "bundle" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["variant"] = "scratch"
    del meta[PRETRAINING_IMAGES_KEY]
    meta_path.write_text(json.dumps(meta))
    return copy


def _scratch_selected(run: Path, copy: Path) -> Path:
    """A copy of ``run`` whose selected bundle (RUN/bundle) and export are its scratch variant's."""
    _scratch_bundle(run, copy)
    summary_path = copy / "export" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps({**summary, "variant": "scratch",
                                        "submission": str(copy / "export" / "submission.csv")}))
    return copy


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "images" not in p.parts and "cache" not in p.parts}


def test_the_bundle_lists_the_test_images_its_pretraining_read(run: Path) -> None:
    """The run's bundle records the SHA-256 prefixes of the 6 test images its VICReg
    pretraining read (not the labelled ones, the other list's); scratch was never pretrained."""
    meta = json.loads((run / "bundle" / "metadata.json").read_text())
    record = meta[PRETRAINING_IMAGES_KEY]
    tests = {r["sha256"][:HASH_HEX] for r in _test_rows(run)}
    assert record["images"] == 6 and record["test"] == 6 and record["test_read"] is True
    assert record["stages"] == "VICReg" and record["unlabelled"] == 0
    assert pretraining_splits(meta) == {"test": tests, "unlabelled": set()}
    assert not tests & (training_hashes(meta) or set())  # the labelled ones are the other list's
    assert pretraining_images_of(run, "scratch") is None  # never pretrained


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


def test_a_reused_or_renamed_run_s_umm_start_is_its_own(tmp_path: Path) -> None:
    """UMM's ``umm.source`` in runs/base/pretrain is the own pretraining of runs/base-2
    (``run.reuse``: stages.json ``reused_from``), and of a run renamed since (its stages'
    recorded outputs), and of a run whose pretrain file is the same weights; another file is
    outside."""
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


def test_score_warns_that_a_figure_on_pretrained_images_is_transductive_even_renamed(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``RUN --score --images`` on the run's test images renamed warns by SHA-256, on stdout
    between the QWK and the confusion matrix, with the fix (found by a trial user)."""
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
    """A ``--variant vicreg`` export lying in the run is told by the ingest manifest, with
    RUN or without it, and no ``--images``."""
    # exported again (the fixture exported it first): RUN/export/submission_vicreg.csv
    # rewritten by the reused RUN/bundles/vicreg
    export.run(tiny_config(), run, variant="vicreg")
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


def test_a_run_s_own_export_is_told_from_one_read_of_its_notes_file_and_bundle(
        run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second read of the code: the pretraining check read the notes file beside the
    submission, then the look at the run's own export read it again, and the variant's
    bundle's metadata.json (which holds the hash lists) twice more (its variant, its record).
    Each is read once now, and the check says what it said."""
    from opened_files import count_opens

    sub = run / "export" / "submission_vicreg.csv"
    notes, meta = image_notes_path(sub), run / "bundles" / "vicreg" / "metadata.json"
    opened = count_opens(monkeypatch, notes.name, meta.name)
    told = scoring.pretraining_images_check(sub)
    assert told is not None and told["transductive"] is True and (told["n"], told["of"]) == (6, 6)
    assert told["bundle"] == str(run.resolve() / "bundles" / "vicreg") and "ingest manifest" in told["source"]
    assert opened[notes.resolve()] == 1 and opened[meta.resolve()] == 1, opened


def test_a_relative_path_inside_the_run_s_export_folder_is_the_run_s_export(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``--score submission.csv`` typed inside RUN/export is the run's own export."""
    labels = _labels(tmp_path / "l.csv", _test_cases(run))
    monkeypatch.chdir(run / "export")
    said, record = _score(["--score", "submission.csv", "--labels", str(labels)], capsys, tmp_path / "s.json")
    assert f"warning: 6 of 6 {WARNING} (VICReg)" in said, said
    assert record["pretraining_images"]["transductive"] is True
    assert "ingest manifest" in record["pretraining_images"]["source"]


def test_the_readme_flow_warns_through_the_notes_file(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``export RUN --images DIR --out TEAM.csv`` says at export time that the pretraining
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
    rows = notes.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == ",".join(IMAGE_NOTES_COLUMNS) and PRETRAINING_IMAGE_COLUMN in rows[0].split(",")
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


def test_a_submission_file_of_no_variant_is_told_by_its_notes(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RUN/export/submission_mine.csv (no variant mine, no summary_mine.json) is not the
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


def test_files_given_again_do_not_override_the_run_s_own_export(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The run's submission graded the ingest's test images whatever ``--images`` holds now;
    files of other pixels under the same names are told to be no byte-identical copy."""
    cases = _test_cases(run)
    labels = _labels(tmp_path / "l.csv", cases)
    new = _other_pixels(tmp_path / "new", cases, seed=7)
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


def test_images_the_pretraining_never_read_get_no_warning(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files of other pixels under the test images' names: no warning, transductive False."""
    cases = [f"{i:03d}.png" for i in range(31, 37)]  # the test images' names, other pixels
    folder = _other_pixels(tmp_path / "new", cases, seed=1)
    sub = _submission(tmp_path / "v.csv", cases)
    said, record = _score([str(run), "--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases)),
                          "--images", str(folder)], capsys, tmp_path / "s.json")
    assert WARNING not in said and "transductive" not in said, said
    told = record["pretraining_images"]
    assert told["transductive"] is False and told["n"] == 0 and told["of"] == 6 and told["line"] == ""


def test_a_pretraining_that_left_the_test_images_out_gives_no_warning(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle rebuilt from a pretraining recorded with ``pretrain.use_test_images=false``
    lists no image, and scoring the test images renamed gives no warning."""
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


def test_the_scratch_variant_is_never_transductive_and_an_old_bundle_is_doubted(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scratch bundle is never transductive; a bundle built before the list whose
    pretraining read its test images is said to have, not counted; without RUN (and not a
    run's own export) the record has no field."""
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
    splits = pretraining_splits(json.loads((run / "bundle" / "metadata.json").read_text())) or {}
    assert file_prefix(tmp_path / "renamed" / cases[0]) in set().union(*splits.values())


def test_a_run_s_own_scratch_export_is_clean_and_the_hedge_names_only_the_run_s_variants(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RUN/export/submission.csv written by a scratch RUN/bundle gets no warning (the
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


def test_a_run_whose_selected_bundle_is_scratch_still_says_its_pretraining_read_them(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """RUN names the selected bundle; a ``--variant vicreg`` export graded from a folder is
    scored with RUN: when RUN's bundle is scratch, the run's pretraining is still said."""
    copy = _scratch_bundle(run, tmp_path / "run")
    cases = _renamed_copies(copy, tmp_path / "renamed")
    sub = _submission(tmp_path / "v.csv", cases)
    said, record = _score([str(copy), "--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases)),
                           "--images", str(tmp_path / "renamed")], capsys, tmp_path / "s.json")
    assert "warning: 6 of 6 scored images were among those the self-supervised pretraining (VICReg) of this run" \
        in said, said
    assert "pass RUN/bundles/NAME as RUN" in said
    assert record["pretraining_images"]["transductive"] is None


def test_a_bundle_built_before_the_list_is_rebuilt_and_told_from_its_run(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``export RUN --variant vicreg`` rebuilds a bundle that lacks the record instead of
    reusing it for ever; a RUN whose bundle lacks it is told from the run folder; a bundle
    outside any run is doubted with the fix that rebuilds it."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    export.run(tiny_config(), copy, variant="vicreg")
    assert bundles.reusable_bundle(copy, "vicreg") == copy / "bundles" / "vicreg"
    for bundle in (copy / "bundles" / "vicreg", copy / "bundle"):
        _drop_record(bundle)
    # reused to grade --images (nothing written into the run), rebuilt by an
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
    export.run(tiny_config(), copy, variant="vicreg")  # rebuilt: the record is back
    assert PRETRAINING_IMAGES_KEY in json.loads((copy / "bundles" / "vicreg" / "metadata.json").read_text())


def test_an_old_bundle_grading_images_writes_nothing_into_the_run(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``RUN --variant vicreg --images DIR --out CSV`` with a RUN/bundles/vicreg built
    before the list reuses it (no file of the run changes: no lock, no log line, no rebuild),
    tells the graded images from the run's records and says how to add the list; ``RUN
    --variant vicreg`` alone, which writes into the run anyway, rebuilds it and says why.

    Each export makes the record from the run's files once (a second read of the code: the
    check that the bundle lacks it made it, then the build, or the grading, made it again,
    hashing the UMM start's weights each time): counted through _initial_weights, which every
    making of it calls."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _drop_record(copy / "bundles" / "vicreg")
    before = _snapshot(copy)
    folder = tmp_path / "test_images"
    shutil.copytree(copy / "images" / "test", folder)
    out = tmp_path / "x.csv"
    made: list[Path] = []
    real = training_images._initial_weights
    monkeypatch.setattr(training_images, "_initial_weights", lambda run_dir, read: made.append(run_dir) or real(run_dir, read))
    assert export_main([str(copy), "--variant", "vicreg", "--images", str(folder), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert _snapshot(copy) == before, "the run folder was written"
    assert "reused: built from the same fine-tuning outputs" in said, said
    assert "was built before bundles listed the images its backbone's self-supervised pretraining read" in said
    assert "--variant vicreg (without --images)" in said
    assert "6 of 6 graded images were among those the self-supervised pretraining" in said  # by the run's records
    assert len(made) == 1, made  # for the grading; the note's check made none
    made.clear()
    export.run(tiny_config(), copy, variant="vicreg")
    said = capsys.readouterr().out
    assert "rebuilt from" in said and "because it was built before bundles listed" in said, said
    assert PRETRAINING_IMAGES_KEY in json.loads((copy / "bundles" / "vicreg" / "metadata.json").read_text())
    assert len(made) == 1, made  # the check's, handed to the build


def test_whether_the_run_gives_a_record_is_told_without_making_it(
        run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """has_pretraining_records (the check whether a reused bundle lacks the list) says what
    pretraining_images_of being None says, and makes no record (no weights hashed)."""
    no_manifest = tmp_path / "no_manifest"
    shutil.copytree(run / "pretrain", no_manifest / "pretrain", ignore=shutil.ignore_patterns("*.pt", "*.safetensors"))
    (no_manifest / "data").mkdir()
    (no_manifest / "data" / "manifest.csv").write_text("not,a\nmanifest\n")
    cases = [(run, "vicreg", True), (run, "vicreg_umm", True), (run, "scratch", False),
             (tmp_path / "empty", "vicreg", False), (no_manifest, "vicreg", False)]
    made: list[Path] = []
    real = training_images._initial_weights
    monkeypatch.setattr(training_images, "_initial_weights", lambda run_dir, read: made.append(run_dir) or real(run_dir, read))
    told = [training_images.has_pretraining_records(folder, variant) for folder, variant, _ in cases]
    assert told == [known for _, _, known in cases] and made == []
    assert told == [pretraining_images_of(folder, variant) is not None for folder, variant, _ in cases]


def test_a_bundle_with_no_list_says_so_at_export_and_score(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle outside any run, built before the list, says at export time that it
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


def test_an_old_notes_header_says_it_cannot_tell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A notes file with the 6-column header (before pretraining_image) and no RUN: a note
    that it cannot tell and how to, not silence."""
    cases = ["a.png", "b.png", "c.png"]
    sub = _submission(tmp_path / "TEAM.csv", cases)
    image_notes_path(sub).write_text(",".join(IMAGE_NOTES_COLUMNS[:6]) + "\n"
                                     + "".join(f"{c},0,,,,variant=vicreg\n" for c in cases))
    said, record = _score(["--score", str(sub), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    assert record["pretraining_images"]["transductive"] is None
    assert "written before the pretraining_image column" in said and "pass RUN and --images" in said, said


def test_the_fix_is_named_per_split_and_outside_weights_are_hedged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An image of data.unlabelled is told to be left out of data.unlabelled, not
    pretrain.use_test_images=false; a pretraining started from outside weights is a hedge
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


def test_outside_weights_travel_in_the_notes_file(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle whose pretraining started from outside weights grades files of other
    pixels: the export says the doubt and marks them in the pretraining_image column; ``--score
    TEAM.csv`` alone then hedges (transductive None, the outside weights named) as ``RUN
    --images`` does, with what would settle it."""
    bundle = tmp_path / "bundle"
    shutil.copytree(run / "bundle", bundle)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta[PRETRAINING_IMAGES_KEY]["initial_weights"] = OUTSIDE
    (bundle / "metadata.json").write_text(json.dumps(meta))
    cases = ["a.png", "b.png", "c.png"]
    folder = _other_pixels(tmp_path / "new", cases, seed=3)
    team = tmp_path / "TEAM.csv"
    assert export_main([str(bundle), "--images", str(folder), "--out", str(team)]) in (0, 4)
    said = capsys.readouterr().out
    assert f"started from outside weights ({OUTSIDE})" in said and "not transductive on that account" in said, said
    read = read_pretraining_notes(image_notes_path(team))
    assert read is not None and sorted(read) == cases
    assert all(e["splits"] == [] and e["outside"] == OUTSIDE for e in read.values()), read
    assert f"{PRETRAINING_OUTSIDE_MARK}: {OUTSIDE})" in image_notes_path(team).read_text(encoding="utf-8-sig")
    said, record = _score(["--score", str(team), "--labels", str(_labels(tmp_path / "l.csv", cases))],
                          capsys, tmp_path / "s.json")
    told = record["pretraining_images"]
    assert told["transductive"] is None and told["initial_weights"] == OUTSIDE and told["n"] == 0, told
    assert "note: the pretraining of this backbone started from outside weights" in said
    assert ("the check cannot tell; if that training set (e.g. ImageNet) holds none of these images, the "
            "figure is not transductive on that account") in said


def test_each_file_is_hashed_once_with_progress(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The training and the pretraining check share one hash per file, and the hashing
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
    result, done = export_in_fresh_process(args)
    assert result == {"code": 0, "heavy": []}, done.stderr
    assert f"warning: 3 of 4 {WARNING} (VICReg)" in done.stdout, done.stdout
