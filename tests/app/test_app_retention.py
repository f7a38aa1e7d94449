"""How long the server keeps files (app/retention.py; a security review): an upload no request
used goes after 30 minutes (the oldest first above a cap on their total size), not at gradio's
hourly clean-up; the page's pictures and the batch
CSVs go after an hour, not when the server stops; an upload a handler was given stays for
gradio's hour. The sweeps are called with a ``now`` in the future: no test waits for a clock."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.retention import (
    CACHE_CLEANUP,
    KEPT_S,
    SWEEP_EVERY_S,
    UNCLAIMED_CAP_BYTES,
    UNCLAIMED_UPLOAD_S,
    UploadClaims,
    retention_words,
    sweep_old_entries,
    sweep_unclaimed_uploads,
    sweep_upload_leftovers,
)


def _file(path: Path, text: str = "x") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_the_periods_are_the_documented_ones() -> None:
    # 30 minutes: gradio_client uploads a batch one file per request before /grade_batch, and
    # the batch claims its files only when it starts (5 minutes lost a slow batch's first files)
    assert UNCLAIMED_UPLOAD_S == 1800 and SWEEP_EVERY_S == 60
    assert UNCLAIMED_CAP_BYTES == 4 * 1024 ** 3
    assert CACHE_CLEANUP == (3600, 3600) and KEPT_S == 3600
    assert retention_words() == ("an upload no request used is deleted after 30 minutes (the "
                                 "oldest first above 4 GiB of them), the pictures and batch CSVs "
                                 "after an hour, the other uploads within 2 hours")
    page = (Path(__file__).resolve().parents[2] / "docs" / "app.md").read_text(encoding="utf-8")
    assert "| An upload no request used" in page and "30 to 31 minutes" in page
    assert "more than 4 GiB (`UNCLAIMED_CAP_BYTES`)" in page
    assert "1 hour to 1 hour 1 minute" in page and "belong in that reverse proxy" in page


def test_only_unclaimed_old_uploads_inside_the_upload_folder_are_deleted(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bare = _file(cache / "h1" / "bare.txt")
    graded = _file(cache / "h2" / "scan.png")
    waiting = _file(cache / "h3" / "batch.png")  # claimed later (the batch tab's upload event)
    outside = _file(tmp_path / "elsewhere" / "keep.png")
    target = _file(tmp_path / "target.png")
    link = cache / "h4" / "link.png"
    link.parent.mkdir()
    link.symlink_to(target)
    gone = str(cache / "h5" / "deleted.png")  # listed, no longer there
    uploads = {bare, graded, waiting, outside, str(link), gone}
    claims = UploadClaims()
    claims.claim([graded, None])
    now = time.time()
    removed = sweep_unclaimed_uploads(uploads, claims, cache, older_than=60, now=now + 30)
    assert removed == [] and claims.gone() == {gone}  # nothing old enough yet; the missing one noted
    claims.claim(waiting)
    removed = sweep_unclaimed_uploads(uploads, claims, cache, older_than=60, now=now + 120)
    assert [str(p) for p in removed] == [bare] and not Path(bare).exists()
    assert Path(graded).exists() and Path(waiting).exists() and Path(outside).exists()
    assert link.is_symlink() and Path(target).exists()  # a link is never deleted, nor its target
    assert claims.gone() == {bare, gone} and len(uploads) == 6  # gradio's set: never changed
    assert len(claims) == 2
    Path(graded).unlink()
    claims.forget_missing()
    assert len(claims) == 1 and waiting in claims and graded not in claims


class _ReadOnlySet(set):
    """gradio's ``upload_file_set`` as the sweep must treat it: gradio's hourly pass iterates it
    in another thread, and a change of its size meanwhile ends that pass for good."""

    def _refuse(self, *args: Any) -> None:
        raise AssertionError("the sweep changed gradio's upload_file_set")

    discard = remove = add = pop = clear = update = difference_update = _refuse
    __isub__ = __iand__ = __ior__ = _refuse


def test_the_sweep_never_changes_gradios_upload_set(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    bare = _file(cache / "h1" / "bare.txt")
    gone = str(cache / "h2" / "deleted.png")
    uploads = _ReadOnlySet({bare, gone})
    claims = UploadClaims()
    removed = sweep_unclaimed_uploads(uploads, claims, cache, older_than=60, now=time.time() + 120)
    assert [str(p) for p in removed] == [bare] and not Path(bare).exists()
    assert claims.gone() == {bare, gone} and set(uploads) == {bare, gone}


def test_unfinished_uploads_and_empty_upload_folders_are_swept(tmp_path: Path) -> None:
    """A client that disconnects mid-body leaves gradio's ``tmpXXXXXXXX`` directly in the upload
    folder, in no record; deleted uploads leave empty ``<sha256>`` folders. Both go; the lock
    file, the app's own folders and a folder still holding an upload stay."""
    cache = tmp_path / "cache"
    partial = Path(_file(cache / "tmpab_c1234", "A" * 50))
    lock = Path(_file(cache / ".lock"))
    other = Path(_file(cache / "notes.txt"))
    empty = cache / ("a" * 64)
    empty.mkdir()
    full = Path(_file(cache / ("b" * 64) / "scan.png"))
    own = cache / "drac_app_batch_x"
    own.mkdir()
    now = time.time()
    assert sweep_upload_leftovers(cache, older_than=1800, now=now + 60) == [empty]
    assert partial.exists()  # younger than the keep time: may still be arriving
    assert sweep_upload_leftovers(cache, older_than=1800, now=now + 1801) == [partial]
    assert lock.exists() and other.exists() and full.exists() and own.is_dir()
    assert sweep_upload_leftovers(tmp_path / "missing") == []


def test_above_the_cap_the_oldest_unclaimed_uploads_go_first(tmp_path: Path) -> None:
    """Young unclaimed uploads that together hold more than the cap: the oldest go until the
    rest fit; a claimed upload is neither deleted nor counted."""
    cache = tmp_path / "cache"
    now = time.time()
    paths = []
    for i in range(4):  # 100 bytes each, 40, 30, 20, 10 s old
        path = _file(cache / f"h{i}" / f"u{i}.png", "x" * 100)
        os.utime(path, (now - 40 + 10 * i, now - 40 + 10 * i))
        paths.append(path)
    claimed = _file(cache / "hc" / "graded.png", "x" * 1000)
    claims = UploadClaims()
    claims.claim(claimed)
    uploads = {*paths, claimed}
    removed = sweep_unclaimed_uploads(uploads, claims, cache, older_than=3600, now=now + 20,
                                      cap_bytes=250)
    assert [str(p) for p in removed] == paths[:2]  # 400 bytes -> 200: the two oldest
    assert all(Path(p).exists() for p in [*paths[2:], claimed])
    assert sweep_unclaimed_uploads(uploads, claims, cache, older_than=3600, now=now + 20,
                                   cap_bytes=250) == []


def test_a_batch_file_gone_before_the_batch_says_why_and_what_to_do(predictor: Any,
                                                                      tmp_path: Path) -> None:
    """A file deleted before its batch started (a slow gradio_client upload): its row says that
    unused uploads are deleted after the keep time, and to send smaller batches."""
    from app import server

    gone = tmp_path / "gone.png"
    rows = server._grade_batch(predictor, server.AppSettings(), [str(gone)])[1]
    assert rows[0][2] == "rejected"
    note = rows[0][-1]
    assert "could not be found on the server" in note and "within 30 minutes" in note, note
    assert "is deleted" in note and "smaller batches" in note, note


def test_the_batch_summary_says_how_long_its_csvs_can_be_downloaded(predictor: Any,
                                                                    tmp_path: Path) -> None:
    """The CSV links answer a bare 403 after the server's hour: the summary says so first."""
    from app import server

    summary = server._grade_batch(predictor, server.AppSettings(),
                                  [str(_image(tmp_path / "scan.png"))])[0]
    assert "The CSVs can be downloaded for an hour" in summary and "*Grade all* again" in summary


def test_old_entries_are_deleted_folders_whole_links_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    batch = root / "batch1"
    _file(batch / "submission.csv")
    picture = Path(_file(root / "00000001_image.jpg"))
    outside = Path(_file(tmp_path / "outside" / "keep.csv"))
    (root / "link").symlink_to(outside.parent)
    now = time.time()
    assert sweep_old_entries(root, older_than=3600, now=now) == []
    removed = sweep_old_entries(root, older_than=3600, now=now + 3601)
    assert sorted(p.name for p in removed) == ["00000001_image.jpg", "batch1", "link"]
    assert not batch.exists() and not picture.exists() and outside.exists()
    assert sweep_old_entries(None) == [] and sweep_old_entries(tmp_path / "missing") == []


def test_display_pictures_age_out_after_the_hour() -> None:
    from app import server

    files = server._DisplayFiles()
    grey = np.full((8, 8), 128, np.uint8)
    first = Path(files.write(grey, "image"))
    assert files.expire(KEPT_S, now=time.time()) == []  # a fresh picture stays
    assert first.exists()
    assert files.expire(KEPT_S, now=time.time() + KEPT_S + 1) == [first]
    assert not first.exists() and len(files._files) == 0
    second = Path(files.write(grey, "image"))  # the folder still works after a sweep
    assert second.exists() and second.parent == first.parent


def _image(path: Path, seed: int = 0) -> Path:
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2  # graded: not noise, not blank
    noise = np.random.default_rng(seed).integers(0, 40, (96, 96))
    Image.fromarray((ramp + noise).astype(np.uint8)).save(path)
    return path


def test_a_served_app_sweeps_a_bare_upload_keeps_a_graded_one_and_ages_its_own_files(
        predictor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On loopback: a bare ``POST /gradio_api/upload`` (no handler ever sees it) is deleted by the
    server's own sweep, which runs while the server runs; the upload a request graded stays;
    an hour on, the page's picture and the batch's CSV folder go too."""
    import httpx
    from gradio_client import Client, handle_file

    from app import server
    from app.loopback import free_port
    from app.server import AppSettings, serve, sweep_files

    image = _image(tmp_path / "scan.png")
    # the picture and batch folders are the process's: earlier tests' files (minutes old, so
    # "over the hour" at the fake times below) would be counted as this server's
    server._DISPLAY_FILES.expire(0.0, now=time.time() + 1)
    sweep_old_entries(server._BATCH_ROOT.name if server._BATCH_ROOT is not None else None, 0.0,
                      now=time.time() + 1)
    monkeypatch.setattr(server, "SWEEP_EVERY_S", 0.2)  # the sweep's pause, read at start
    settings = AppSettings(host="127.0.0.1", port=free_port())
    demo = serve(predictor, settings, block=False, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        *_, details = client.predict(handle_file(str(image)), -1, api_name="/grade")
        assert "error" not in details
        other = _image(tmp_path / "other.png", seed=1)  # batched alone: only the batch claims it
        summary, _rows, csv_file, _notes = client.predict([handle_file(str(other))],
                                                          api_name="/grade_batch")
        assert csv_file, summary
        graded = [p for p in demo.upload_file_set if p.endswith("scan.png")]
        assert len(graded) == 1 and graded[0] in demo.upload_claims
        batched = [p for p in demo.upload_file_set if p.endswith("other.png")]
        assert len(batched) == 1 and batched[0] in demo.upload_claims  # grade_batch's own claim
        answer = httpx.post(f"{url}gradio_api/upload", files={"files": ("bare.txt", b"not an image")})
        bare = answer.json()[0]
        assert Path(bare).is_file() and bare in demo.upload_file_set and bare not in demo.upload_claims
        monkeypatch.setattr(server, "UNCLAIMED_UPLOAD_S", 0)  # now: every unclaimed upload is old
        deadline = time.monotonic() + 60
        while Path(bare).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(bare).exists(), "the running server's sweep did not delete the bare upload"
        assert bare in demo.upload_claims.gone()  # gradio's own set is not changed
        assert Path(graded[0]).is_file()  # a request used it: gradio's hour
        # the server's own files (the client got copies): the picture and the batch's folder
        pictures = list(Path(server._DISPLAY_FILES._root.name).iterdir())
        batches = list(Path(server._batch_root()).iterdir())
        assert pictures and batches
        counts = sweep_files(demo, now=time.time() + KEPT_S - 60)
        assert counts["uploads"] == counts["pictures"] == counts["batches"] == 0  # within the hour
        assert counts["leftovers"] >= 1  # the bare upload's empty sha folder
        assert all(p.exists() for p in pictures + batches)
        counts = sweep_files(demo, now=time.time() + KEPT_S + 120)
        assert counts["pictures"] >= len(pictures) and counts["batches"] >= len(batches)
        assert not any(p.exists() for p in pictures + batches)
        assert counts["uploads"] == 0 and Path(graded[0]).is_file()  # gradio's rule deletes it
    finally:
        demo.close()


def test_the_batch_tabs_upload_claims_its_files_before_grade_all(predictor: Any, tmp_path: Path) -> None:
    """Files waiting on the batch tab for *Grade all* are claimed when they are uploaded (an
    event of their own, no queue), so a clinician who takes more than 30 minutes to click keeps
    them; the single-image tab grades (and claims) on upload."""
    from app.server import build_demo

    demo = build_demo(predictor)
    events = [f for f in demo.fns.values() if f.name == "claim_batch"]
    assert len(events) == 1
    (target, trigger), = events[0].targets
    files = demo.blocks[target]
    assert trigger == "upload" and files.file_count == "multiple" and events[0].queue is False
    waiting = [_file(tmp_path / "a.png"), _file(tmp_path / "b.png")]
    events[0].fn(waiting)
    assert all(p in demo.upload_claims for p in waiting)
    # the single-image tab: graded, so claimed, on upload (the step after its "Grading the image.")
    uploaded = [i for i, f in demo.fns.items() if f.targets and f.targets[0][1] == "upload" and f.name == "grading"]
    single = [f for f in demo.fns.values() if f.name == "grade" and f.trigger_after in uploaded]
    assert len(uploaded) == 1 and len(single) == 1


def test_the_upload_boxes_leave_no_empty_file_in_the_upload_folder(predictor: Any, tmp_path: Path) -> None:
    """A load test: every ``/grade`` call left a zero-byte ``tmpXXXXXXXX`` directly in the
    upload folder (922 after about 1,100 calls): gradio's ``gr.File(type="filepath")`` opens a
    ``NamedTemporaryFile`` there for each file it hands a handler and never uses it. Both
    upload boxes (single image, batch) hand on the upload's path and make no file."""
    import gradio as gr
    from gradio.data_classes import FileData, ListFiles

    from app import server

    demo = server.build_demo(predictor, server.AppSettings())
    boxes = {b.elem_id: b for b in demo.blocks.values()
             if isinstance(b, gr.File) and b.elem_id in (server.IMAGE_UPLOAD_ID, server.BATCH_UPLOAD_ID)}
    assert len(boxes) == 2
    scans = [_file(tmp_path / "uploads" / f"scan{i}.png") for i in range(2)]
    for box in boxes.values():
        box.GRADIO_CACHE = str(tmp_path / "cache")  # where gradio would make its file
        (tmp_path / "cache").mkdir(exist_ok=True)
    single = boxes[server.IMAGE_UPLOAD_ID].preprocess(FileData(path=scans[0]))
    batch = boxes[server.BATCH_UPLOAD_ID].preprocess(ListFiles(root=[FileData(path=p) for p in scans]))
    assert single == scans[0] and batch == scans
    assert list((tmp_path / "cache").iterdir()) == []
