"""The advice on the crop to the fundus disc (``data.fundus_crop=true``, ``--fundus-crop``) is said
in one wording, :func:`drac_ssl.grading.image_notes.fundus_crop_advice` (the last session's
finding: the README's first try said it "crops a camera's black surround to the disc", its full
run "crops each non-square photograph's black surround to the disc", docs/own_fundus_folder.md
and configs/fundus.yaml two more ways). Each place that gives the advice says it as it is."""

from __future__ import annotations

import re
from pathlib import Path

from drac_ssl.grading.image_notes import FUNDUS_CROP_DOES, fundus_crop_advice
from drac_ssl.grading.predict import squeeze_finding

REPO = Path(__file__).resolve().parents[2]


def _words(text: str) -> str:
    """``text`` as a reader reads it: comment marks, Markdown code marks and line breaks gone."""
    lines = [re.sub(r"^\s*#\s?", "", line) for line in text.splitlines()]
    return " ".join(" ".join(lines).replace("`", "").split())


def _quick_start_blocks() -> list[str]:
    """The code blocks of the README's quick start on one's own data (first try, then full runs)."""
    quick = (REPO / "README.md").read_text(encoding="utf-8").split(
        '<a id="quick-start-on-your-data"></a>', 1)[1].split('<a id="how-long"></a>', 1)[0]
    return re.findall(r"```bash\n(.*?)```", quick, re.S)


def test_the_readmes_first_try_and_full_run_give_the_one_advice() -> None:
    first_try, full_runs = _quick_start_blocks()[:2]
    assert "--first-try" in first_try and "data.fundus_crop=true" in first_try
    comments = [line for line in first_try.splitlines() if line.startswith("#")]
    assert fundus_crop_advice() in _words("\n".join(comments)), comments
    # the full run's plain fundus folder: its comment, just above its command
    fundus = full_runs.split("# a plain folder of colour fundus photographs", 1)[1].split(".venv/bin/python", 1)[0]
    assert fundus_crop_advice() in _words(fundus), fundus
    for block in (first_try, full_runs):  # no other wording of it left beside
        said = _words("\n".join(line for line in block.splitlines() if line.startswith("#")))
        assert said.count("data.fundus_crop=true") == said.count(fundus_crop_advice()), said


def test_the_guide_and_the_fundus_config_give_the_one_advice() -> None:
    guide = (REPO / "docs" / "own_fundus_folder.md").read_text(encoding="utf-8")
    assert fundus_crop_advice() in _words(guide)
    header = "\n".join(line for line in (REPO / "configs" / "fundus.yaml").read_text(encoding="utf-8").splitlines()
                       if line.startswith("#"))
    assert fundus_crop_advice() in _words(header), header


def test_the_advice_names_the_option_asked_for_and_the_squeeze_warning_says_what_it_does() -> None:
    """The ingest's flag and the training's setting, and the warning on a wide photograph
    graded by a model trained without the crop (the export's and the app's)."""
    assert fundus_crop_advice("--fundus-crop").startswith(f"--fundus-crop {FUNDUS_CROP_DOES}, ")
    assert fundus_crop_advice().startswith(f"data.fundus_crop=true {FUNDUS_CROP_DOES}, ")
    assert "leave it out for photographs already cropped square" in fundus_crop_advice()
    wide = squeeze_finding(320, 224, "fundus")
    assert f"without --fundus-crop (which {FUNDUS_CROP_DOES})" in wide, wide
    assert FUNDUS_CROP_DOES not in squeeze_finding(320, 224, "octa")  # no disc to crop: no such advice
    # review F4: the ingest squeezes only a photograph that is not square (data_prep.cache)
    assert "(most camera images: not square, and without it squeezed square)" in fundus_crop_advice()


def test_the_ingest_gives_the_same_advice_in_its_notes_warnings_and_help(tmp_path: Path) -> None:
    """Review F5: the ingest's note on a plain folder with a public layout's label columns gave
    the advice in its own words ("crop to the disc, pad to a square; else ..."), its squeeze
    warning's fix and its --help in two more: each now says the one wording."""
    import argparse

    from data_prep.cache import SQUEEZE_FIX
    from data_prep.ingest import add_arguments
    from data_prep.layout import Layout, _label_format_note

    assert SQUEEZE_FIX == f"add --fundus-crop, which {FUNDUS_CROP_DOES}"
    layout = Layout("plain", tmp_path, tmp_path, None, tmp_path / "labels.csv", label_format="eyepacs")
    note = _label_format_note(layout)
    assert fundus_crop_advice("--fundus-crop") in note.fix, note.fix
    assert note.fix.count("--fundus-crop") == 1, note.fix  # no second wording beside it
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    helped = " ".join(parser.format_help().split())
    assert f"--fundus-crop {FUNDUS_CROP_DOES}" in helped
