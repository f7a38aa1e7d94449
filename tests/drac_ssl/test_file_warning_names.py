"""``grade_images(file_warnings=...)`` keeps a file's name apart from what was said of it (review
s58r5 F8: without ``paths``, ``scan: left.png: Only 2 grey levels ...`` was cut at its first
": ", so the words began ``left.png: ...`` and the mask was not doubted); a plain line without
``paths`` is cut at the one ": " that can end a name, refused only where several can."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading import FileWarning, grade_images, load_bundle, read_image
from drac_ssl.grading.bundle import Bundle

MASK_REASON = "a thresholded export or mask"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return load_bundle(build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32, source_size=48,
                                         n_folds=1))


@pytest.fixture
def mask(tmp_path: Path) -> Path:
    """A 1-bit vessel mask in a file whose name holds ': '."""
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(96, 96)), axis=0), axis=1)
    path = tmp_path / "scan: left.png"
    Image.fromarray(((smooth > np.median(smooth)) * 255).astype(np.uint8)).convert("1").save(path)
    return path


def test_a_name_holding_a_colon_keeps_its_warning_whole(bundle: Bundle, mask: Path) -> None:
    image, said = read_image(mask, 1, kind=bundle.kind)
    assert len(said) == 1 and isinstance(said[0], FileWarning)
    assert said[0].name == "scan: left.png"
    assert said[0].words.startswith("Only 2 grey levels")
    assert said[0] == f"scan: left.png: {said[0].words}"  # still the joined string it was
    for paths in (None, [mask]):
        graded = grade_images(bundle, [image], file_warnings=[said], paths=paths)
        assert graded.file_warnings == [[said[0].words]]
        assert graded.not_reliably_gradable == [[MASK_REASON]]
    # as (name, words) pairs, or a plain line with the file's path: the same words
    pair = grade_images(bundle, [image], file_warnings=[[(said[0].name, said[0].words)]])
    plain = grade_images(bundle, [image], file_warnings=[[str(said[0])]], paths=[mask])
    assert pair.file_warnings == plain.file_warnings == [[said[0].words]]


def test_a_plain_line_is_cut_where_a_name_can_end(bundle: Bundle, mask: Path) -> None:
    """A plain string (how a warning comes back from JSON) without paths: cut at the one ": "
    after an image suffix or before a sentence's opening (review of the caveats merge, F2: every
    real warning's words hold ": ", so a plain line was always refused)."""
    image, said = read_image(mask, 1, kind=bundle.kind)
    line = str(said[0])
    assert type(line) is str and line.count(": ") > 1
    graded = grade_images(bundle, [image], file_warnings=[[line]])
    assert graded.file_warnings == [[said[0].words]]
    assert graded.not_reliably_gradable == [[MASK_REASON]]
    # JSON turns a (name, words) pair into a list, and a FileWarning into its joined line
    back = json.loads(json.dumps([[said[0].name, said[0].words], said[0]]))
    graded = grade_images(bundle, [image], file_warnings=[back])
    assert graded.file_warnings == [[said[0].words, said[0].words]]
    # a name without an image suffix, before a known opening; words holding ": " after a name
    for plain, words in (("scan 7: Image file: 50.0% of the pixels are (partly) transparent: composited",
                          "Image file: 50.0% of the pixels are (partly) transparent: composited"),
                         ("a.png: Too small", "Too small"),
                         ("b.TIF: something new: said", "something new: said"),
                         ("x: y", "y"), ("no name at all", "no name at all")):
        assert grade_images(bundle, [image], file_warnings=[[plain]]).file_warnings == [[words]], plain


def test_a_plain_line_whose_name_cannot_be_told_is_refused(bundle: Bundle, mask: Path) -> None:
    image, _ = read_image(mask, 1, kind=bundle.kind)
    with pytest.raises(ValueError, match=r"file_warnings\[0\]\[0\]: .*cannot be told.*'a.png' or "
                                         r"'a.png: b.png'.*pass paths="):
        grade_images(bundle, [image], file_warnings=[["a.png: b.png: Too small"]])
    with pytest.raises(ValueError, match=r"a string or a \(name, words\) pair"):
        grade_images(bundle, [image], file_warnings=[[3]])
    with pytest.raises(ValueError, match=r"a string or a \(name, words\) pair"):
        grade_images(bundle, [image], file_warnings=[[["a.png", "b", "c"]]])


def test_a_file_warning_survives_pickle_copy_and_json() -> None:
    said = FileWarning("scan: left.png", "Image file: 1-bit")
    for again in (pickle.loads(pickle.dumps(said)), copy.deepcopy(said), copy.copy(said)):
        assert isinstance(again, FileWarning)
        assert (again.name, again.words, str(again)) == (said.name, said.words, str(said))
    assert json.loads(json.dumps([said])) == ["scan: left.png: Image file: 1-bit"]


def test_a_size_note_keeps_its_size_as_data_through_a_file_warning_and_a_copy() -> None:
    """A reviewer's finding (F5): the export parsed the size back out of the note's words
    ('size 512x384, ...'); the note now carries the width and height, which the one line for a
    resized test set reads."""
    import pickle

    from drac_ssl.grading.predict import FileWarning, TrainingSideNote, training_side_note

    note = training_side_note(512, 384, 1024)
    said = FileWarning("scan: left.png", note)
    for words in (said.words, pickle.loads(pickle.dumps(said)).words):
        assert isinstance(words, TrainingSideNote) and (words.width, words.height) == (512, 384)
        assert words == "size 512x384, shorter side 384 px, not the 1024 px of every training image"
    assert training_side_note(2048, 1024, 1024) == ""
