"""An OCTA researcher's review of the ingest on another device's images (grey 16-bit, 800 and
1024 px mixed, 2 grades): 62 of 63 warnings were the device's native properties (41 "16-bit
image", 21 "size 800x800, not 1024x1024" with DRAC-only advice) and buried the one that
mattered (a grade with no labelled image). Each finding here fails without its fix:

* F5: ``data.expected_side`` (``--expected-side``): DRAC's 1024 px for the DRAC layout only; a
  plain folder expects no size and notes the sizes of a grey set of several; a set converted
  alike from 16 bits gets one note, not a warning per file; the grade without an image is the
  printed summary's last line and ``ingest_summary.json``'s ``attention``.
* F3: a dim 16-bit scan read at another depth than the rest is named; the set's depths are
  recorded (``bit_depths``) for a later step to compare.
* F4: an 8-bit RGB file of a grey picture among 16-bit grey files gets the colour-encoding note
  under ``channels=auto`` and is named in the depth warning.
* F7: a grade written as a word without ``--grades`` gets a ``--grades`` fix shaped from the
  CSV's values, and following it ingests.

Small synthetic images (CPU, a few seconds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_ingest import config, expect_error, read_manifest, write_csv

from data_prep import ingest
from data_prep.layout import Layout
from drac_ssl.config import DataConfig, load_config


def deep_scan(seed: int, side: int, top: int = 65535) -> np.ndarray:
    """A smooth 16-bit grey scan of ``side`` px whose values reach about ``top``."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.05, 1.0, (8, 8)).astype(np.float32)
    image = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)
    return np.round(image / image.max() * top).astype(np.uint16)


def device_set(root: Path, n: int = 6, sides: tuple[int, ...] = (96, 80),
               rgb: int | None = None, dim: int | None = None) -> Path:
    """A plain folder of ``n`` 16-bit grey scans of alternating ``sides``, graded 0 and 1 (a
    2-grade set: on DRAC's default scale its PDR has no image); image ``rgb`` saved as an 8-bit
    RGB file of the same grey picture instead, image ``dim`` a dim scan (max 3276)."""
    root.mkdir(parents=True)
    for i in range(n):
        image = deep_scan(i, sides[i % len(sides)], 3276 if i == dim else 65535)
        if i == rgb:
            image = np.dstack([(image >> 8).astype(np.uint8)] * 3)
        assert cv2.imwrite(str(root / f"s{i:02d}.png"), image)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"s{i:02d}.png", i % 2] for i in range(n)])
    return root


def summary(result: ingest.IngestResult) -> dict[str, object]:
    return json.loads(result.summary_path.read_text(encoding="utf-8"))


def test_the_expected_side_is_drac_s_for_the_drac_layout_only_and_a_setting() -> None:
    """-1 (the default): 1024 for the DRAC layout read as UW-OCTA, no check for a plain folder
    (whatever its modality) or a fundus layout; 0 or a side set are taken as they are; a value
    below -1 is refused by the ingest and by the config's ranges."""
    drac, plain = Layout("drac", Path("r"), None, None, None), Layout("plain", Path("r"), None, None, None)
    assert ingest.expected_side(DataConfig(), drac, True) == 1024
    assert ingest.expected_side(DataConfig(), drac, False) == 0  # --modality fundus
    assert ingest.expected_side(DataConfig(), plain, True) == 0
    assert ingest.expected_side(DataConfig(expected_side=0), drac, True) == 0
    assert ingest.expected_side(DataConfig(expected_side=800), plain, True) == 800
    with pytest.raises(ingest.IngestError, match=r"--expected-side -2: must be -1 .* -> use --expected-side 0"):
        ingest.check_settings(DataConfig(expected_side=-2))
    from drac_ssl.config import DATA_RANGES, range_problems

    cfg = load_config(None, ["data.expected_side=-2"])
    assert [r.setting for r, _ in range_problems(cfg, DATA_RANGES)] == ["data.expected_side"]
    # the flag sets the setting, and the pipeline's messages say it as the setting
    import argparse

    from data_prep.problems import as_config_keys

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--root", "r", "--out", "o", "--expected-side", "800"])
    assert ingest.config_from_args(args).expected_side == 800
    assert as_config_keys("--expected-side 0 (no size check)") == "data.expected_side=0 (no size check)"


def test_a_device_set_says_the_one_warning_that_matters_last(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The review's set in small: 16-bit grey scans of two native sizes, 2 grades on the default
    3-grade scale. No size warning (a plain folder expects no size; one note lists the sizes),
    no per-file 16-bit warning (one note for the set, fatal with --strict no more), and the
    one warning left, PDR without an image, is repeated as the printed summary's last line and
    in ingest_summary.json's attention."""
    data = device_set(tmp_path / "d")
    result = ingest.run(config(data), tmp_path / "out")
    printed = capsys.readouterr().out
    assert len(result.warnings) == 1 and "grade 2 (PDR): no labelled image" in result.warnings[0], result.warnings
    assert result.attention == result.warnings
    assert printed.rstrip().splitlines()[-1] == f"needs attention before training: {result.warnings[0]}"
    assert summary(result)["attention"] == result.warnings
    (sizes,) = [n for n in result.notes if "images of 2 sizes" in n]
    assert "3 of 96x96 px, 3 of 80x80 px" in sizes and "--expected-side N" in sizes
    (depth,) = [n for n in result.notes if "bit" in n]
    assert "all 6 images are 16-bit grey files, converted to 8-bit alike" in depth, depth
    assert "value >> 8" in depth and "no sBIT chunk" in depth
    assert not [w for w in result.warnings if "16-bit image" in w or "size " in w]
    assert summary(result)["bit_depths"] == [{"file": "16-bit", "encoding": "grey", "bits_used": 16,
                                              "depth_from": "maximum", "max_value": 65535,
                                              "n": {"train": 6, "test": 0, "unlabelled": 0}}]
    # --strict stops on the warning that matters only; the device's native output passes
    expect_error(config(data, strict=True), tmp_path / "strict", "grade 2 (PDR): no labelled image",
                 "rejected by --strict")
    assert ingest.run(config(data, strict=True, grades=["no referable DR", "referable DR"]),
                      tmp_path / "strict2", verbose=False).warnings == []
    # a size set by the user is held to, with a fix that names the setting
    held = ingest.run(config(data, expected_side=96), tmp_path / "held", verbose=False)
    sized = [w for w in held.warnings if "size 80x80, not 96x96" in w]
    assert len(sized) == 3 and all("--expected-side 0 (no size check)" in w for w in sized), held.warnings
    assert not [n for n in held.notes if "images of 2 sizes" in n]


def test_a_dim_scan_among_full_range_ones_is_named_and_the_depths_recorded(tmp_path: Path) -> None:
    """F3: a dim 16-bit scan (max 3276) is read as 12-bit data, shifted by 4 bits where the
    others were by 8: the ingest names it in one warning, and ingest_summary.json records both
    depths, so that a later step can compare an image with the training images' depth."""
    data = device_set(tmp_path / "d", dim=4)
    result = ingest.run(config(data, grades=["no", "yes"]), tmp_path / "out", verbose=False)
    (mixed,) = [w for w in result.warnings if "different bit depths" in w]
    assert "5 files are 16-bit grey, scaled by value >> 8" in mixed, mixed
    assert "1 file is 16-bit grey read as 12-bit data, scaled by value >> 4" in mixed, mixed
    assert "e.g. " + str(data / "s04.png") in mixed and "guessed from its own maximum" in mixed
    depths = summary(result)["bit_depths"]
    assert [(d["bits_used"], d["n"]["train"], d["max_value"]) for d in depths] == [(16, 5, 65535), (12, 1, 3276)]
    expect_error(config(data, grades=["no", "yes"], strict=True), tmp_path / "strict",
                 "different bit depths", "rejected by --strict")


def test_an_8_bit_rgb_file_among_16_bit_grey_ones_is_said_under_auto(tmp_path: Path) -> None:
    """F4: under channels=auto an 8-bit RGB file of a grey picture got no note (the channels=1
    path gave one) and the summary said 'all images are grey'; the depth check said nothing of
    it. Now the note is the one the decoder gives under channels=1, the channels' reason counts
    the RGB file, and the depth warning names '1 file is 8-bit RGB' beside the 16-bit grey ones."""
    data = device_set(tmp_path / "d", rgb=2)
    result = ingest.run(config(data, grades=["no", "yes"]), tmp_path / "out", verbose=False)
    assert result.channels == 1
    assert (f"{data / 's02.png'}: RGB image (converted to grayscale: channels identical, nothing "
            "lost) -> nothing to do") in result.notes
    (mixed,) = [w for w in result.warnings if "different bit depths" in w]
    assert re.search(r"5 files are 16-bit grey, scaled by value >> 8 \(mean grey level \d+, SD \d+\); "
                     r"1 file is 8-bit RGB, used as it is \(mean grey level \d+\)", mixed), mixed
    assert "export mistake" in mixed and str(data / "s02.png") in mixed
    assert "guessed" not in mixed  # every 16-bit file was read at its full 16 bits
    assert summary(result)["channels"]["reason"].endswith("all images are grey, 1 of them in an RGB file)")
    # under channels=1 the decoder says it, once
    grey = ingest.run(config(data, grades=["no", "yes"], channels="1"), tmp_path / "grey", verbose=False)
    assert sum("RGB image (converted to grayscale" in n for n in grey.notes) == 1


def test_a_grade_written_as_a_word_gets_a_grades_fix_from_the_csv_and_it_works(tmp_path: Path) -> None:
    """F7: 'Referable' in a CSV of 0 and 1, without --grades, got DRAC's '0 (Normal), 1 (NPDR)
    or 2 (PDR)'. The fix is now a --grades of the CSV's 2 grades; as both are written as numbers
    the word is not put on either (r4 F1): the user must choose; following the choice reads the
    word as its grade."""
    data = device_set(tmp_path / "d")
    csv_path = data / "labels.csv"
    csv_path.write_text(csv_path.read_text().replace("s03.png,1", "s03.png,Referable"))
    message = expect_error(config(data), tmp_path / "out",
                           "grade 'Referable' of s03.png is not an integer nor the name of a grade "
                           "of the scale (Normal, NPDR, PDR)")
    fix = message.split("-> ", 1)[1]
    assert fix.startswith("if 'Referable' names a grade, pass every grade's name with --grades, in "
                          'grade order (grade 0 first): --grades "NAME0,NAME1" (the CSV also writes '
                          "grades 0, 1 as numbers); which grade it is cannot be told from the CSV, so "
                          "you must choose the word's grade"), fix
    assert "name of grade" not in fix
    result = ingest.run(config(data, grades=["name of grade 0", "Referable"]), tmp_path / "after", verbose=False)
    rows = {r["id"]: r["grade"] for r in read_manifest(result.manifest_path)}
    assert rows["s03.png"] == "1" and rows["s00.png"] == "0"


def test_a_grade_word_of_a_known_scale_gets_that_scale_not_the_top_place(tmp_path: Path) -> None:
    """r4 F1: 'Severe' in a CSV of 0, 1, 2, 4 got '--grades "name of grade 0,...,name of grade
    3,Severe"', making Severe grade 4 (ICDR's Severe is 3). Now the fix is --grades icdr, and
    following it reads Severe as grade 3."""
    data = device_set(tmp_path / "d", n=5)
    write_csv(data / "labels.csv", ["image name", "DR grade"],
              [["s00.png", 0], ["s01.png", 1], ["s02.png", 2], ["s03.png", "Severe"], ["s04.png", 4]])
    message = expect_error(config(data), tmp_path / "out", "grade 'Severe' of s03.png")
    fix = message.split("-> ", 1)[1]
    assert fix.startswith("the grade words name grades of a known scale: pass --grades icdr (the "
                          "ICDR scale: 0 No DR, 1 Mild, 2 Moderate, 3 Severe, 4 PDR; 'Severe' is "
                          "grade 3 (Severe))"), fix
    assert "name of grade" not in fix
    result = ingest.run(config(data, grades=["icdr"]), tmp_path / "after", verbose=False)
    rows = {r["id"]: r["grade"] for r in read_manifest(result.manifest_path)}
    assert rows["s03.png"] == "3" and rows["s04.png"] == "4"


def test_a_misspelt_word_of_another_scale_is_never_put_on_a_grade_the_csv_uses() -> None:
    """r4 F1: 'sever' among 0, 1, 2 (DRAC's scale in force) was put on grade 2, a grade the CSV
    writes as a number. Now it is read as ICDR's Severe (grade 3, spelt so); a word of no scale
    goes only in a grade the CSV does not use, or the user is told to choose."""
    from data_prep.validate import grade_words_fix
    drac = ("Normal", "NPDR", "PDR")
    fix = grade_words_fix(["sever"], {0, 1, 2}, drac)
    assert fix.startswith("the grade words name grades of a known scale: pass --grades icdr (the ICDR "
                          "scale: 0 No DR, 1 Mild, 2 Moderate, 3 Severe, 4 PDR; 'sever' looks like "
                          "'Severe' (grade 3): write it 'Severe')"), fix
    gap = grade_words_fix(["Bad"], {0, 1, 2, 4}, drac)
    assert 'e.g. --grades "name of grade 0,name of grade 1,name of grade 2,Bad,name of grade 4"' in gap, gap
    choose = grade_words_fix(["Bad"], {0, 1, 2}, drac)
    assert '--grades "NAME0,NAME1,NAME2"' in choose and "you must choose the word's grade" in choose, choose
    assert "Bad" not in choose.split("--grades", 1)[1].split(";", 1)[0]


def test_a_cache_rebuild_names_the_options_that_differ_and_old_states_are_reused(tmp_path: Path) -> None:
    """r4 F5: a rebuild said "other decoding options (channels, fundus crop, Graham filter)"
    when only data.expected_side differed; it names what differs now. A state written before
    grey_is_chosen (and graham_reflect_padding) were kept is read as that run had them (grey on
    purpose: target gray and no expected size), so upgrading does not rebuild it."""
    data = device_set(tmp_path / "d")
    out = tmp_path / "out"
    ingest.run(config(data, grades=["no", "yes"], expected_side=1024), out, verbose=False)
    plain = ingest.run(config(data, grades=["no", "yes"]), out, verbose=False)
    assert plain.n_decoded == 6
    assert ("cache was built with other decoding options (expected image size 1024 -> none) "
            "-> rebuilding it") in "\n".join(plain.notes), plain.notes
    fundus = config(data, grades=["no", "yes"], channels="1", modality="fundus")
    first = ingest.run(fundus, out, verbose=False)
    assert first.n_decoded == 6
    state_path = first.cache_paths[64].parent / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert state["options"]["grey_is_chosen"] is True
    for key in ("grey_is_chosen", "graham_reflect_padding"):  # as a state before them was written
        del state["options"][key]
    state_path.write_text(json.dumps(state), encoding="utf-8")
    again = ingest.run(fundus, out, verbose=False)
    assert (again.n_decoded, again.n_reused) == (0, 6), again.notes


def test_a_one_letter_placeholder_becomes_a_setting_with_its_value() -> None:
    """r4 F9: as_config_keys turned "--expected-side N warns" into "data.expected_side N warns"
    (a flag and a one-letter placeholder), not the setting "=N"."""
    from data_prep.problems import as_config_keys

    assert as_config_keys("--expected-side N warns; --expected-side 800") == (
        "data.expected_side=N warns; data.expected_side=800")
    assert as_config_keys("--strict rejects it") == "data.strict=true rejects it"
