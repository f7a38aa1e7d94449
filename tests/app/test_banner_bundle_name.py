"""The page's banner names the bundle folder by its last component only (a trial: every user
read ``Bundle ../srv/drac/bundle``, where the server keeps it); the whole path stays in the
server's start-up line. Since that name is ``bundle`` for every run's bundle, the banner also
says which build is served: its ``created_utc`` and the first 12 hex digits of its
``metadata.json``'s SHA-256 (a review: ``Bundle bundle`` no longer told which run was served)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.server import _banner, bundle_identity_words, bundle_shown_name
from drac_ssl.io import sha256_file


def test_the_shown_name_is_the_last_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bundle_shown_name("../srv/drac/bundle") == "bundle"
    assert bundle_shown_name("/srv/drac/bundle/") == "bundle"
    assert bundle_shown_name("runs/resume7/bundles/wide") == "wide"
    folder = tmp_path / "Doe_site" / "drac_bundle"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    assert bundle_shown_name(".") == "drac_bundle" and bundle_shown_name("..") == "Doe_site"


def test_the_banner_shows_no_folder_above_the_bundle(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = predictor.path
    relative = os.path.relpath(path)  # as a user types it: ../../tmp/.../bundle
    monkeypatch.setattr(type(predictor), "path", property(lambda self: Path(relative)))
    banner = _banner(predictor)
    identity = predictor.bundle.identity
    assert f"Bundle <code>{path.name}</code> (built {identity['created_utc']}, metadata.json SHA-256 " \
           f"{identity['metadata_sha256']}): " in banner
    assert relative not in banner and str(path.parent) not in banner and str(path) not in banner
    # the model card's identity as before: its architecture, head, variant and fold count
    meta = predictor.metadata
    assert f"{meta['model']['arch']} + {meta['model']['head']} head, variant {meta['variant']}" in banner


def test_the_banner_tells_which_build_is_served(predictor: Any) -> None:
    """Two runs' bundles, both folders named ``bundle``, read apart by their build time and
    digest: the values each result's ``details["bundle"]`` carries (``sha256sum metadata.json``)."""
    identity = predictor.bundle.identity
    digest = sha256_file(predictor.path / "metadata.json")[:12]
    assert identity["metadata_sha256"] == digest and identity["created_utc"]
    banner = _banner(predictor)
    assert f"built {identity['created_utc']}, metadata.json SHA-256 {digest}" in banner
    other = bundle_identity_words({"created_utc": "2025-03-01T10:20:00+00:00", "metadata_sha256": "3f2a9c1d0b7e"})
    assert other == "built 2025-03-01T10:20:00+00:00, metadata.json SHA-256 3f2a9c1d0b7e"
    assert other not in banner
    # a bundle without a build time, or whose metadata.json cannot be read now
    assert bundle_identity_words({"created_utc": None, "metadata_sha256": "3f2a9c1d0b7e"}) == (
        "build time not recorded, metadata.json SHA-256 3f2a9c1d0b7e")
    assert bundle_identity_words({"created_utc": "2025-03-01T10:20:00+00:00", "metadata_sha256": None}) == (
        "built 2025-03-01T10:20:00+00:00")


def test_an_edited_model_card_is_noted_in_the_banner_and_by_the_predictor(tmp_path: Path) -> None:
    """docs/upgrading.md said the identity "covers the profile and the card", but an edited
    MODEL_CARD.md loaded silently (it is words, not weights: it still loads). The card's hash,
    recorded in metadata.json, is compared at load and a difference said."""
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor
    from drac_ssl.grading.bundle import load_bundle, model_card_note

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1)
    assert model_card_note(load_bundle(bundle)) is None  # as built
    card = bundle / "MODEL_CARD.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nValidated for clinical use.\n", encoding="utf-8")
    predictor = Predictor(bundle, gradcam=False)
    (note,) = predictor.bundle_notes
    assert note.startswith("MODEL_CARD.md is not the card the bundle was built with (SHA-256 "), note
    assert "edited since" in note and str(tmp_path) not in note  # the page shows no server path
    banner = _banner(predictor).replace("&#x27;", "'")
    assert "Note: MODEL_CARD.md is not the card the bundle was built with" in banner
    said = model_card_note(predictor.bundle)  # the export's, with the path and the fix
    assert said is not None and said.startswith(f"{card} is not the card") and "To restore it: rebuild" in said


def test_an_older_bundles_unverified_input_profile_is_noted_in_the_banner(tmp_path: Path) -> None:
    """The export said that an older bundle's input profile (no input_profile.sha256) is used
    unverified; the app said nothing. Its banner's technical details now say it."""
    import json

    import numpy as np
    import torch

    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor
    from drac_ssl.grading.bundle import PROFILE_HASH_MISSING, load_bundle
    from drac_ssl.grading.ood import PROFILE_FILE, fit_input_profile
    from drac_ssl.grading.predict import preprocess_image, profile_features

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1)
    meta = json.loads((bundle / "metadata.json").read_text())
    rng = np.random.default_rng(0)
    train = torch.stack([preprocess_image(rng.integers(0, 255, (32, 32), dtype=np.uint8), meta) for _ in range(12)])
    fit_input_profile([(train, profile_features(load_bundle(bundle), train))]).save(bundle / PROFILE_FILE)
    meta["input_profile"] = {"file": PROFILE_FILE}  # as built before its sha256 was recorded
    (bundle / "metadata.json").write_text(json.dumps(meta))
    predictor = Predictor(bundle, gradcam=False)
    assert predictor.bundle_notes == [f"This bundle {PROFILE_HASH_MISSING}; rebuilding it from its run has it checked"]
    assert "Note: This bundle records no SHA-256 of its input profile" in _banner(predictor)


def test_the_banner_says_how_its_figures_were_chosen(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside the cross-validated kappa, the model card's caveats of it (a selection-bias audit
    F3): the variant won a comparison on the same images (more than one compared), and, under
    finetune.keep=best (or a bundle built before the setting: it ran so), each fold's epoch was
    chosen on the rows it scores. Neither for one variant asked for by name under keep=last."""
    from html import escape

    from drac_ssl.figures import KEEP_BEST_CAVEAT
    from drac_ssl.grading.bundle import winner_caveat

    base = predictor.metadata
    rows = [{"variant": "scratch", "qwk": 0.4}, {"variant": "vicreg", "qwk": 0.5}]
    said = {}
    for name, finetune, comparison in (("best", {**base.get("finetune", {}), "keep": "best"}, rows),
                                       ("older", {k: v for k, v in base.get("finetune", {}).items() if k != "keep"}, rows),
                                       ("last", {**base.get("finetune", {}), "keep": "last"}, rows[:1])):
        meta = {**base, "finetune": finetune, "comparison": comparison, "selection": "highest out-of-fold QWK"}
        monkeypatch.setattr(predictor, "metadata", meta)
        said[name] = (_banner(predictor), winner_caveat(meta))
    banner, winner = said["best"]
    assert winner.startswith("This variant was exported because its out-of-fold") and escape(winner) in banner
    assert escape(f"Figures {KEEP_BEST_CAVEAT}.") in banner
    assert escape(f"Figures {KEEP_BEST_CAVEAT}.") in said["older"][0]
    banner, winner = said["last"]
    assert winner == "" and "This variant was exported" not in banner and "keep=best" not in banner


def test_an_older_bundles_unverified_weights_are_noted_in_the_banner(tmp_path: Path) -> None:
    """A bundle whose folds record no SHA-256 of the weights files (built before digests were
    recorded) loaded without a word, while an unverified input profile got one: the banner's
    technical details now say it too, first, with no server path."""
    import json

    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor
    from drac_ssl.grading.bundle import WEIGHTS_HASH_MISSING

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1)
    meta = json.loads((bundle / "metadata.json").read_text())
    for entry in meta["folds"]:
        entry.pop("sha256")
    (bundle / "metadata.json").write_text(json.dumps(meta))
    assert Predictor(bundle, gradcam=False).bundle_notes == []  # a demo bundle: random weights
    meta.pop("demo")
    (bundle / "metadata.json").write_text(json.dumps(meta))
    predictor = Predictor(bundle, gradcam=False)
    words = WEIGHTS_HASH_MISSING.format(what="its weights files")
    assert predictor.bundle_notes[0] == f"This bundle {words}; a rebuild records them, so later changes are caught"
    assert "Note: This bundle records no SHA-256 of its weights files" in _banner(predictor)
    assert str(tmp_path) not in " ".join(predictor.bundle_notes)
