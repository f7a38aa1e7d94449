"""A root given as ``../x`` is said, recorded and compared as a clean absolute path (a DRAC
2022 trial user, F6b: ``python -m data_prep ingest --root ../d2`` printed
``/tmp/.../repo/../d2/DRAC 2022/...``), symbolic links kept as named; an ingest recorded
before keeps its cache and its pool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_ingest import config, make_drac, make_plain, smooth_image, write_png

from data_prep import cache, ingest, validate
from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR, TRAIN_DIR
from drac_ssl.io import readable_absolute


def test_dot_dot_is_taken_out_and_symbolic_links_are_kept(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "volume" / "study" / "photos").mkdir(parents=True)
    (tmp_path / "data").symlink_to(tmp_path / "volume" / "study")
    monkeypatch.chdir(tmp_path / "repo")
    assert readable_absolute("../data/photos") == tmp_path / "data" / "photos"  # not volume/...
    assert readable_absolute("../missing/../nowhere") == tmp_path / "nowhere"  # said clean
    # '..' after a link is the target's parent to the system: the folder the system opens
    (tmp_path / "volume" / "study" / "labels").mkdir()
    (tmp_path / "volume" / "labels").mkdir()
    (tmp_path / "labels").mkdir()  # the written form: another folder
    said = readable_absolute("../data/../labels")
    assert os.path.samefile(said, tmp_path / "volume" / "labels") and ".." not in said.parts


def test_an_ingest_from_a_relative_root_says_and_records_it_clean(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_drac(tmp_path / "d2" / "DRAC 2022")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    result = ingest.run(config("../d2/DRAC 2022"), "../out", verbose=False)
    assert result.root == root and result.out_dir == tmp_path / "out"
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    assert summary["root"] == str(root) and summary["test_dir"].startswith(str(root))
    state = json.loads((tmp_path / "out" / "cache" / cache.STATE_NAME).read_text(encoding="utf-8"))
    assert state["root"] == str(root)
    # the messages: a test image named as a training image is said at the clean paths
    test = root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR
    write_png(test / "001.png", smooth_image(700))
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config("../d2/DRAC 2022"), "../out", verbose=False)
    message = str(refused.value)
    assert f"ingest of {root} stopped" in message and "/../" not in message
    assert f"{root / TASK_DIR / IMAGES_DIR / TRAIN_DIR / '001.png'}: a training and a test image" in message


def test_a_cache_recorded_with_dot_dot_is_still_this_roots(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An ingest made before the root was recorded clean (``repo/../d``) keeps its cache."""
    make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    ingest.run(config("../d"), tmp_path / "out", verbose=False)
    state_path = tmp_path / "out" / "cache" / cache.STATE_NAME
    state = json.loads(state_path.read_text(encoding="utf-8"))
    state["root"] = str(tmp_path / "repo" / ".." / "d")  # as written before
    state_path.write_text(json.dumps(state), encoding="utf-8")
    again = ingest.run(config("../d"), tmp_path / "out", verbose=False)
    assert (again.n_decoded, again.n_reused) == (0, 3)
    assert not any("cache was built from" in n for n in again.notes), again.notes


def test_a_pool_recorded_with_dot_dot_is_not_said_dropped(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pool").mkdir()
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    out = tmp_path / "out"
    out.mkdir()
    recorded = {"unlabelled_dirs": [str(tmp_path / "repo" / ".." / "pool")],
                "counts": {"per_split": {"unlabelled": 4}}}
    (out / ingest.SUMMARY_NAME).write_text(json.dumps(recorded), encoding="utf-8")
    assert ingest._pool_dropped(out, config("../d", unlabelled=["../pool"])) == []
    (dropped,) = ingest._pool_dropped(out, config("../d", unlabelled=[]))
    assert "leave out" in dropped.what


def test_a_link_taken_back_by_dot_dot_is_decided_before_the_last_part_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``--out ../link/../o`` was kept as written (``s/o``) while ``o`` was missing
    and resolved (``s/vol/o``) once it existed, so the second run wrote elsewhere."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "vol" / "study").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "vol" / "study")
    monkeypatch.chdir(tmp_path / "repo")
    before = readable_absolute("../link/../o")
    assert before == tmp_path / "vol" / "o"  # the folder the system creates for 'link/../o'
    os.mkdir("../link/../o")
    assert readable_absolute("../link/../o") == before and before.is_dir()
    # a link not taken back by '..' is kept as named, the last part missing or not
    assert readable_absolute("../link/new") == tmp_path / "link" / "new"
    # a later '..' after the link's is the system's too: the target's grandparent
    assert readable_absolute("../link/../../o2") == tmp_path / "o2"
    # a '..' taking back a real folder below the link keeps the link as named
    (tmp_path / "vol" / "study" / "sub").mkdir()
    assert readable_absolute("../link/sub/../o3") == tmp_path / "link" / "o3"


def test_an_out_folder_through_a_link_and_dot_dot_is_one_folder_across_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    (tmp_path / "repo").mkdir()
    (tmp_path / "vol" / "study").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "vol" / "study")
    monkeypatch.chdir(tmp_path / "repo")
    first = ingest.run(config("../d"), "../link/../o", verbose=False)
    again = ingest.run(config("../d"), "../link/../o", verbose=False)
    assert first.out_dir == again.out_dir == tmp_path / "vol" / "o"
    assert (again.n_decoded, again.n_reused) == (0, 3)  # the first run's cache, not a new ingest
