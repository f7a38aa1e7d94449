"""DRAC 2022 Task 3's facts in code (drac_ssl.challenge) and what report.md and the model card
say of a run's out-of-fold QWK against the DRAC leaderboard (a DRAC participant's finding F1:
nothing related the two, and an out-of-fold QWK on the training images reads as a score).
No training: hand-made run folders and an untrained demo bundle's metadata."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from drac_ssl.challenge import DRAC_TEST_IMAGES, LEADERBOARD, leaderboard_qwks, leaderboard_words
from drac_ssl.report import write_report

REPO = Path(__file__).resolve().parents[2]
DRAC = ["Normal", "NPDR", "PDR"]
ICDR = ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]


def test_the_leaderboard_and_the_test_set_size_are_docs_dracs() -> None:
    """The numbers live once in code; docs/drac.md (the team's note, copied verbatim) is where
    they come from: the code must say what the page says."""
    page = (REPO / "docs" / "drac.md").read_text(encoding="utf-8")
    table = page.split("## Final leaderboard, Task 3", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()
            if re.match(r"^\|\s*\d", line)]
    assert [(int(r[0]), r[1], float(r[2]), float(r[3])) for r in rows] == [tuple(e) for e in LEADERBOARD]
    assert f"Test set: {DRAC_TEST_IMAGES} unlabelled images" in page
    assert leaderboard_qwks() == "0.8910 / 0.8902 / 0.8761"


def _data(kind: str | None, layout: str | None = "drac", **more: object) -> dict:
    """A run's data provenance as leaderboard_words reads it (data_provenance's keys)."""
    return {"kind": kind, "layout": layout, "modality": "octa", "n_train": 611, **more}


def test_leaderboard_words_follow_the_data_and_the_trial() -> None:
    full = leaderboard_words(_data("drac"), DRAC, trial=False)
    assert full.startswith("Against the DRAC 2022 leaderboard: the challenge ranked Task 3 entries by "
                           "QWK on its hidden test set of 386 images")
    assert "top three scored 0.8910 / 0.8902 / 0.8761" in full
    assert "on the 611 training images, is not a leaderboard score" in full
    assert "ensembles" in full and "pseudo-labelled the test images" in full
    assert "export/submission.csv" in full
    for data, trial in ((_data("phantom"), False), (_data("phantom"), True), (_data("drac"), True),
                        (_data("drac", phantom_mixed={"marked": 1, "images": 611}), False)):
        said = leaderboard_words(data, DRAC, trial=trial)
        assert said.startswith("Against the DRAC 2022 leaderboard: not comparable."), said
        assert "0.8910" not in said  # no number to set the run's figure against
    assert "phantom" in leaderboard_words(_data("phantom"), DRAC, trial=True)
    assert "trial run" in leaderboard_words(_data("drac"), DRAC, trial=True)
    assert "1 of its 611 images are the package's synthetic phantoms" in leaderboard_words(
        _data("drac", phantom_mixed={"marked": 1, "images": 611}), DRAC, trial=False)
    # not DRAC's data: nothing (a RetinaMNIST or APTOS run had no part in the challenge), nor the
    # phantom set's images copied into a plain folder or graded as fundus photographs
    for data, names in ((_data("medmnist", "medmnist"), ICDR), (_data("aptos", "aptos"), ICDR),
                        (_data("plain", "plain"), DRAC), (_data("drac"), ICDR),
                        (_data("unknown", None), DRAC), (_data(None, None), DRAC),
                        (_data("phantom", "plain"), DRAC), (_data("phantom", "aptos"), DRAC),
                        ({**_data("phantom"), "modality": "fundus"}, DRAC)):
        assert leaderboard_words(data, names, trial=False) == "", data


def test_the_leaderboard_words_say_what_docs_drac_md_says_of_the_entries() -> None:
    """docs/drac.md's recipes: flip TTA for the winner only, "flips/rotations" for all three
    (not said to be at test time), inputs of 512 to 1024 px; a run's own inputs are called
    smaller only when they are (review F6)."""
    page = " ".join((REPO / "docs" / "drac.md").read_text(encoding="utf-8").split())
    assert "5-fold ensembles and flips/rotations" in page and "flip TTA" in page
    assert page.count("TTA") == 1  # the winner's alone
    full = leaderboard_words(_data("drac"), DRAC, trial=False, image_size=224)
    assert "5-fold ensembles and flips/rotations (the winner flip test-time augmentation as well)" in full
    assert "5-fold ensembles and test-time augmentation" not in full
    assert "larger inputs (512 to 1024 px; this run's 224 px)" in full
    for side in (512, 1024):  # as large as theirs: no "larger"
        said = leaderboard_words(_data("drac"), DRAC, trial=False, image_size=side)
        assert "larger" not in said and "512 to 1024 px" not in said
    assert "used inputs of 512 to 1024 px, " in leaderboard_words(_data("drac"), DRAC, trial=False)


def _run(root: Path, layout: str, names: list[str], phantom: bool = False, modality: str = "") -> Path:
    """A finished run folder as the report reads it: the ingest's summary and manifest (six
    training images of ``names``' first three grades), a fine-tuning comparison of one variant."""
    run, images = root / "run", root / "images"
    (run / "data").mkdir(parents=True)
    images.mkdir()
    if phantom:
        (images / "phantom.json").write_text("{}")  # data_prep.phantom's marker
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "path", "grade", "split", "fold", "patient"])
        writer.writerows([[f"{i:03d}.png", f"{i:03d}.png", i % 3, "train", i % 2, ""] for i in range(6)])
    (run / "data" / "ingest_summary.json").write_text(json.dumps(
        {"root": str(images), "layout": layout, "created_utc": "2026-12-01T00:00:00",
         "grades": {"names": names, "k": len(names), "source": "layout"},
         "modality": {"value": modality or ("octa" if layout == "drac" else "fundus"), "setting": "auto"}}))
    (run / "finetune").mkdir()
    row = {"variant": "vicreg", "n": 6, "qwk": 0.6, "qwk_ci_low": 0.3, "qwk_ci_high": 0.8, "auc": 0.7,
           "auc_ovr": 0.7, "accuracy": 0.5, "macro_f1": 0.4, "qwk_fold_mean": 0.6, "qwk_fold_std": 0.1,
           "seconds": 1.0}
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [row], "class_names": names, "protocol": "2-fold"}))
    (run / "finetune" / "summary.json").write_text(json.dumps(
        {"selected": "vicreg", "selection": "the only variant", "variants": {"vicreg": row}}))
    return run


def _finetune_section(report: Path) -> str:
    return report.read_text(encoding="utf-8").split("## Cross-validated fine-tuning", 1)[1].split("\n## ", 1)[0]


def test_report_md_says_what_the_out_of_fold_qwk_is_against_the_leaderboard(tmp_path: Path) -> None:
    section = _finetune_section(write_report(_run(tmp_path / "drac", "drac", DRAC)))
    assert leaderboard_words(_data("drac", n_train=6), DRAC, trial=False) in section
    assert "on the 6 training images, is not a leaderboard score" in section
    # the phantom set, in DRAC's layout: not comparable
    section = _finetune_section(write_report(_run(tmp_path / "phantom", "drac", DRAC, phantom=True)))
    assert "Against the DRAC 2022 leaderboard: not comparable. These images are the package's phantom" in section
    # a trial run of the real layout (its pretraining capped): not comparable, as a trial
    run = _run(tmp_path / "trial", "drac", DRAC)
    (run / "pretrain").mkdir()
    (run / "pretrain" / "metadata.json").write_text(json.dumps({"training_data": "997 images of the ingest"}))
    (run / "config.yaml").write_text("pretrain:\n  batch_size: 8\n  max_steps_per_epoch: 3\n")
    section = _finetune_section(write_report(run))
    assert "Against the DRAC 2022 leaderboard: not comparable. A trial run" in section
    # a fundus data set on the ICDR grades: nothing of DRAC's leaderboard
    text = write_report(_run(tmp_path / "aptos", "aptos", ICDR)).read_text(encoding="utf-8")
    assert "leaderboard" not in text.lower()


@pytest.fixture(scope="module")
def demo_meta(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from app.demo_bundle import build_demo_bundle

    bundle = build_demo_bundle(tmp_path_factory.mktemp("demo") / "run", image_size=32, source_size=64)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    return meta


def test_the_model_card_says_it_too(demo_meta: dict) -> None:
    from drac_ssl.grading.bundle import _model_card

    drac = {**demo_meta, "data": {"kind": "drac", "n_train": 611, "root": "/data/DRAC 2022"},
            "trial_run": {"trial": False}}
    card = _model_card(drac)
    performance = card.split("## Cross-validated performance", 1)[1].split("\n## ", 1)[0]
    assert leaderboard_words(_data("drac"), DRAC, trial=False, image_size=demo_meta["input"]["size"]) in performance
    trial = {**drac, "trial_run": {"trial": True, "why": "the pretraining was cut short"}}
    assert "Against the DRAC 2022 leaderboard: not comparable. A trial run" in _model_card(trial)
    phantom = {**drac, "data": {**drac["data"], "kind": "phantom"}}
    assert "not comparable. These images are the package's phantom" in _model_card(phantom)
    five = {**drac, "class_names": ICDR, "data": {"kind": "aptos", "n_train": 611}}
    assert "leaderboard" not in _model_card(five).lower()


def test_a_drac_participant_finds_the_steps_from_the_download_to_a_submission() -> None:
    """A DRAC participant's finding (F3): docs/drac.md held the challenge's facts and the README
    the commands, scattered; no page went from the official download to a submission. The
    README's five steps do, docs/drac.md links them, and their folder names and commands are
    the ones the code takes."""
    import shlex

    from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR
    from drac_ssl.commands import export_parser
    from drac_ssl.submission import is_drac_test_folder

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(../README.md#drac-download-to-submission)" in (REPO / "docs" / "drac.md").read_text(encoding="utf-8")
    assert "(#drac-download-to-submission)" in readme.split("## Status", 1)[0]  # found from the top
    steps = readme.split('<a id="drac-download-to-submission"></a>', 1)[1].split("\n<a id=", 1)[0]
    for archive in (TASK_DIR, TEST_ROOT_DIR):  # the two archives, and the folders they unzip to
        assert f"`{archive}.zip`" in steps and f"`{archive}/`" in steps
    assert "[tiny first try](#tiny-first-try)" in steps and "-c configs/drac.yaml" in steps
    first_try = readme.split('<a id="tiny-first-try"></a>', 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_try.startswith(".venv/bin/python -m drac_ssl.train -c configs/drac.yaml data.root=")
    train = next(line.strip().rstrip(".").strip("`") for line in steps.splitlines() if "-m drac_ssl.train" in line)
    assert shlex.split(train)[3:5] == ["-c", "configs/drac.yaml"] and (REPO / "configs" / "drac.yaml").is_file()
    assert f"grades the {DRAC_TEST_IMAGES} test images into `runs/drac/export/submission.csv`" in steps
    check = shlex.split(steps.split("```bash\n", 1)[1].split("```", 1)[0])
    args = export_parser().parse_args(check[3:])
    assert args.check == "runs/drac/export/submission.csv" and is_drac_test_folder(args.images)
    assert args.images.endswith(f"/{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}")
    assert f"OK: {DRAC_TEST_IMAGES}" in " ".join(steps.split())
    assert "is not a leaderboard score" in " ".join(steps.split())


def test_a_plain_grey_folder_gets_no_leaderboard_paragraph_in_the_report_nor_the_card(
        tmp_path: Path, demo_meta: dict) -> None:
    """One rule (drac_ssl.challenge.drac_scale) for report.md and the model card (review F4):
    the card took any phantom run on DRAC's grade names, the report only DRAC's layout. A plain
    folder of grey images (DRAC's grade names by default), of real or phantom images, gets
    neither paragraph; the DRAC layout's phantoms get both."""
    from drac_ssl.grading.bundle import _model_card, data_provenance

    for name, phantom in (("real", False), ("phantom", True)):
        run = _run(tmp_path / name, "plain", DRAC, phantom=phantom, modality="octa")
        prov = data_provenance(run / "data")
        assert prov["kind"] == ("phantom" if phantom else "plain") and prov["modality"] == "octa"
        assert "leaderboard" not in write_report(run).read_text(encoding="utf-8").lower()
        card = _model_card({**demo_meta, "data": prov, "trial_run": {"trial": False}})
        assert "leaderboard" not in card.lower()
        assert "a small single-challenge data set" not in card
    run = _run(tmp_path / "drac", "drac", DRAC, phantom=True)
    prov = data_provenance(run / "data")
    card = _model_card({**demo_meta, "data": prov, "trial_run": {"trial": False}})
    said = leaderboard_words(prov, DRAC, trial=False)
    assert said.startswith("Against the DRAC 2022 leaderboard: not comparable. These images are the")
    assert said in card and said in _finetune_section(write_report(run))
