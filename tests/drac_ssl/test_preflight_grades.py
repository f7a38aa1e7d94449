"""An invalid ``data.grades`` is the one finding about the scale: nothing computed on the
default scale it fell back to (a grade without images, rare grades, out-of-range rows)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_preflight import plain_dataset

from drac_ssl import preflight


@pytest.mark.parametrize("grades, labels", [("[referable]", [0, 1] * 4),
                                            ("[no, no]", [0, 1] * 4),
                                            ("[a, b, b, c, d]", [0, 1, 2, 3, 4] * 2)])
def test_an_invalid_grade_scale_gets_no_findings_made_on_the_default_scale(
        tmp_path: Path, grades: str, labels: list[int]) -> None:
    root = plain_dataset(tmp_path / "plain", labels)
    cfg, sources, parsed = preflight.read_config(None, [f"data.root={root}", f"data.grades={grades}",
                                                        "data.n_folds=2"])
    assert parsed == []
    found = preflight.check(cfg, tmp_path / "runs" / "x", sources)
    (said,) = [f for f in found if f.setting == "data.grades"]
    assert said.severity == "error" and "PDR" not in said.what
    on_default = [f.line for f in found if f is not said and (
        "PDR" in f.line or "outside {" in f.line or "look 1-based" in f.line)]
    assert on_default == []


def test_a_file_on_another_scale_is_one_preflight_error_as_the_ingest_says_it(tmp_path: Path) -> None:
    """The preflight says the ingest's one problem for a 5-grade file on the 3-grade default
    (not 10 row lines and a count), in the pipeline's settings: data.grades=icdr."""
    root = plain_dataset(tmp_path / "plain", [i % 5 for i in range(25)])
    cfg, sources, parsed = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2"])
    assert parsed == []
    found = [f for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
             if "outside {0, 1, 2}" in f.line]
    (said,) = found
    assert said.severity == "error"
    assert f"{root / 'labels.csv'}: 10 rows have a grade outside {{0, 1, 2}}" in said.line
    assert "3 (5 rows) and 4 (5 rows)" in said.line and "pass data.grades=icdr" in said.line
    assert not any("more 'grade'" in f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources))


def test_colour_photographs_graded_0_to_4_pass_as_icdr_without_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain folder of colour files whose grades run 0..4 is read on the ICDR scale, as the
    ingest will read it (data_prep.ingest.infer_icdr: a trial's first command failed on DRAC's
    3-grade default); the preflight tells colour by the files' headers, decoding none."""
    import csv

    import numpy as np
    from PIL import Image

    import data_prep.validate

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the preflight decoded an image")

    monkeypatch.setattr(data_prep.validate, "inspect_image", forbidden)
    root = tmp_path / "plain"
    root.mkdir()
    rng = np.random.default_rng(0)
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image name", "DR grade"])
        for i in range(25):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i:03d}.jpg")
            writer.writerow([f"{i:03d}.jpg", i % 5])
    cfg, sources, parsed = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2"])
    assert parsed == []
    found = preflight.check(cfg, tmp_path / "runs" / "x", sources)
    assert not any("outside {" in f.line for f in found), [f.line for f in found]
    # said otherwise, DRAC's scale and its error stand
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2", "data.grades=drac"])
    assert any("10 rows have a grade outside {0, 1, 2}" in f.line
               for f in preflight.check(cfg, tmp_path / "runs" / "x", sources))


def _plain_rgb_folder(root: Path, grey: bool, grades: list[int]) -> Path:
    """A plain folder of RGB PNGs (40 px noise; ``grey``: three identical channels) graded
    ``grades``, one file per grade."""
    import csv

    import numpy as np
    from PIL import Image

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image name", "DR grade"])
        for i, grade in enumerate(grades):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            if grey:
                pixels[..., 1] = pixels[..., 2] = pixels[..., 0]
            Image.fromarray(pixels).save(root / f"{i:03d}.png")
            writer.writerow([f"{i:03d}.png", grade])
    return root


def test_rgb_files_of_grey_pictures_graded_0_to_4_keep_drac_s_scale_in_the_preflight_as_in_the_ingest(
        tmp_path: Path) -> None:
    """RGB files whose three channels are identical are grey pictures to the ingest (a plain
    folder of them reads as UW-OCTA, on DRAC's scale): the preflight must not infer ICDR from
    their RGB headers, or the ingest fails with 'grade outside {0, 1, 2}' after the run folder
    was made (review s56r3 F3). Colour files of the same grades are still read as ICDR."""
    from data_prep import ingest
    from data_prep.decode import decode

    grades = [0, 1, 3, 4] * 6
    grey = _plain_rgb_folder(tmp_path / "grey", True, grades)
    assert decode((grey / "000.png").read_bytes(), "000.png").colour is False  # the ingest's own decoding: grey
    assert not ingest._colour_by_header([grey / "000.png"])
    cfg, sources, _ = preflight.read_config(None, [f"data.root={grey}", "data.n_folds=2"])
    said = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
            if "outside {0, 1, 2}" in f.line]
    assert len(said) == 1 and "12 rows have a grade outside {0, 1, 2}" in said[0]

    colour = _plain_rgb_folder(tmp_path / "colour", False, grades)
    assert ingest._colour_by_header([colour / "000.png"])
    cfg, sources, _ = preflight.read_config(None, [f"data.root={colour}", "data.n_folds=2"])
    assert not any("outside {" in f.line for f in preflight.check(cfg, tmp_path / "runs" / "y", sources))


def test_an_inferred_scale_is_shown_as_inferred_with_the_ingest_s_note(tmp_path: Path) -> None:
    """A finding about the ICDR scale the ingest will infer (here: grade 2 without an image) says
    where the scale came from, not '(the default)', and repeats the ingest's note (review s56r3 F4)."""
    root = _plain_rgb_folder(tmp_path / "colour", False, [0, 1, 3, 4] * 6)
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2"])
    (said,) = [f for f in preflight.check(cfg, tmp_path / "runs" / "x", sources) if f.setting == "data.grades"]
    assert said.value == ["No DR", "Mild", "Moderate", "Severe", "PDR"]
    assert "(the default)" not in said.line
    assert "(inferred: the ICDR scale (icdr)" in said.line
    assert "the ingest's note: no data.grades given" in said.line and "data.grades=icdr" in said.line


def test_colour_photographs_graded_0_to_3_are_not_read_as_icdr(tmp_path: Path) -> None:
    """A methods researcher's trial (s56): a colour folder graded 0..3 (a 4-grade scale, as
    Messidor's) was inferred as the 5 ICDR grades, its model given a fifth output no image
    trains, with only a warning. Only 0..4 with 0 and 4 both present is inferred; 0..3 keeps the
    scale's error, which names data.grades, in the preflight and the ingest alike."""
    from data_prep import ingest
    from drac_ssl.config import DataConfig

    root = _plain_rgb_folder(tmp_path / "four", False, [0, 1, 2, 3] * 6)
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.n_folds=2"])
    said = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
            if "outside {0, 1, 2}" in f.line]
    assert len(said) == 1, said
    with pytest.raises(Exception) as refused:
        ingest.run(DataConfig(root=str(root), n_folds=2, cache_sizes=[32], workers=1), tmp_path / "out",
                   verbose=False)
    assert "outside {0, 1, 2}" in str(refused.value), str(refused.value)


def test_a_grade_without_images_under_referable_from_names_that_setting(tmp_path: Path) -> None:
    """Review F3: the two names came from data.referable_from, so the empty grade's finding names
    it, not data.grades (whose shipped value the user never chose here)."""
    root = plain_dataset(tmp_path / "plain", [2, 3, 4, 2, 3, 4, 2, 3])  # every image referable
    cfg, sources, parsed = preflight.read_config(None, [f"data.root={root}", "data.referable_from=2",
                                                        "data.n_folds=2"])
    assert parsed == []
    found = [f for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
             if "grade 0 (non-referable): no labelled image" in f.line]
    assert [f.setting for f in found] == ["data.referable_from"], [(f.setting, f.line) for f in found]
    assert found[0].line.startswith("data.referable_from=2 (command line 'data.referable_from=2')"), found[0].line
