"""End to end: the app served on loopback (a free port, background thread) and called with
``gradio_client``: one image, a batch of two, bad input (then a good call still works)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from shared_data import SHARED_DATA, missing_reason

from app.demo_bundle import build_demo_bundle
from app.loopback import free_port
from app.predict import Predictor
from app.server import AppSettings, serve
from drac_ssl.export import load_bundle, predict_images, read_image_any
from drac_ssl.submission import check_submission

SAMPLES = SHARED_DATA / "drac_samples"
MAX_MB = 1.5  # the samples (< 1 MB) pass, a 2 MB file is refused with the app's message


@pytest.fixture(scope="module")
def samples() -> list[Path]:
    paths = [SAMPLES / f"sample_{i}.png" for i in range(3)]
    if not all(p.is_file() for p in paths):
        pytest.skip(missing_reason("the real DRAC samples", SAMPLES))
    return paths


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=64, source_size=128,
                             n_folds=2)


@pytest.fixture(scope="module")
def server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, object]]:
    """``(client, demo)``: the app served on loopback and a gradio_client for it, which downloads
    into a private folder (not gradio_client's default, /tmp/gradio, readable by others)."""
    from gradio_client import Client

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings = AppSettings(host="127.0.0.1", port=free_port(), max_mb=MAX_MB, queue_size=8)
    predictor = Predictor(bundle_dir, limits=settings.limits)
    demo = serve(predictor, settings, block=False, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{settings.port}/", verbose=False,
                     download_files=str(tmp_path_factory.mktemp("downloads"))), demo
    finally:
        demo.close()
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(server: tuple[object, object]) -> object:
    return server[0]


def test_full_queue_gets_the_apps_busy_message_then_serves_again(
        server: tuple[object, object], samples: list[Path]) -> None:
    """With the model busy and the app's queue full (8 waiting, held by test threads), a
    client gets the app's "busy, try again" answer as a normal result, not gradio's "Queue
    is full" error; once the line drains, the same client is served."""
    import threading
    import time

    from gradio_client import handle_file

    client, demo = server
    queue = demo.model_queue  # type: ignore[attr-defined]
    assert queue.workers == 1 and queue.queue_size == 8
    release = threading.Event()

    def hold() -> None:
        with queue.slot():
            release.wait(60)

    holders = []
    try:
        for k in range(9):  # one running, eight waiting
            holders.append(threading.Thread(target=hold, daemon=True))
            holders[-1].start()
            deadline = time.monotonic() + 30
            while queue.running + queue.waiting < k + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
        assert queue.running == 1 and queue.waiting == 8
        markdown, label, original, overlay, details = client.predict(
            handle_file(str(samples[0])), api_name="/grade")
        assert details["busy"] is True and "try again" in details["error"]
        assert markdown.startswith("## ⏳ Busy") and "the queue holds 8" in markdown
        assert not label and original is None and overlay is None  # nothing graded
    finally:
        release.set()
        for t in holders:
            t.join(60)
    *_, details = client.predict(handle_file(str(samples[0])), api_name="/grade")
    assert "error" not in details and details["grade"] in (0, 1, 2)


def test_single_image(client, samples: list[Path], bundle_dir: Path) -> None:
    from gradio_client import handle_file

    markdown, label, original, overlay, details = client.predict(
        handle_file(str(samples[2])), api_name="/grade")
    assert "error" not in details
    probs, classes = predict_images(load_bundle(bundle_dir), [read_image_any(samples[2])])
    assert details["grade"] == int(classes[0])
    np.testing.assert_allclose(details["P"], probs[0], rtol=0, atol=1e-12)
    # the e2e bundle is the untrained demo: its grade headed as the model's output only
    assert f"### Untrained demo — model output: Grade {details['grade']} {details['grade_name']}" in markdown
    assert "Inference" in markdown and details["inference_seconds"] > 0
    # the widget names the graded class (not the most probable one) and lists grades 0, 1, 2, each
    # with the result's whole percentage, the bars summing to 100% (a clinician trial: 101%)
    from drac_ssl.figures import percent_texts, whole_percentages

    shown = percent_texts(details["P"])
    assert label["label"] == f"{details['grade']} {details['grade_name']}: {shown[details['grade']]}"
    assert [c["label"][0] for c in label["confidences"]] == ["0", "1", "2"]
    np.testing.assert_allclose([c["confidence"] for c in label["confidences"]],
                               np.array(whole_percentages(details["P"])) / 100, atol=1e-9)
    assert details["heatmap"]["shape"] == [1024, 1024]
    assert details["heatmap"]["explains_grade"] == details["grade"]
    assert 0.0 <= details["heatmap"]["min"] <= details["heatmap"]["max"] <= 1.0
    for path in (original, overlay):
        with Image.open(path) as im:
            assert im.size == (768, 768)  # shown downscaled beside each other


def test_an_image_that_may_not_be_octa_is_said_before_its_grade(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    tiny = tmp_path / "tiny.png"
    ramp = np.add.outer(np.arange(32), np.arange(32)) * 3  # graded: not noise, not blank
    Image.fromarray((ramp + np.random.default_rng(1).integers(0, 40, (32, 32))).astype(np.uint8)).save(tiny)
    markdown, *_rest, details = client.predict(handle_file(str(tiny)), api_name="/grade")
    assert "error" not in details  # graded, but ...
    # a doubt about the file's size, not what it shows: the neutral heading (not "may not be UW-OCTA")
    warning_at = markdown.index("Check this image before reading the grade below")
    heading = markdown.index("### Untrained demo — model output: Grade")  # the demo bundle's
    assert warning_at < heading and "Too small" in markdown[:heading]
    assert "(⚠ see above)" in markdown


def test_in_process_servers_upload_into_this_processs_own_folder(
        server: tuple[object, object], gradio_uploads: Path, tmp_path: Path) -> None:
    """The app served in this test process keeps its uploads in this process's own folder
    (tests/app/conftest.py's ``GRADIO_TEMP_DIR``), not the machine-wide /tmp/gradio that other
    xdist workers and pytest runs share and sweep (a CI run lost an upload there); gradio's and
    gradio_client's import-time folders name it too (gradio was imported after it was set)."""
    import gradio as gr
    import gradio.route_utils
    import gradio_client.client
    from gradio_client import handle_file

    client, demo = server
    shared = (Path(tempfile.gettempdir()) / "gradio").resolve()
    assert gradio_uploads != shared and not gradio_uploads.is_relative_to(shared)
    assert gradio_uploads.is_dir() and str(os.getpid()) in gradio_uploads.name
    assert Path(gr.utils.get_upload_folder()) == gradio_uploads
    assert Path(demo.server_app.uploaded_file_dir).resolve() == gradio_uploads
    assert Path(gradio.route_utils.DEFAULT_TEMP_DIR) == gradio_uploads
    assert Path(gradio_client.client.DEFAULT_TEMP_DIR) == gradio_uploads
    scan = tmp_path / "own_folder_scan.png"
    ramp = np.add.outer(np.arange(64), np.arange(64)) * 2  # graded: not noise, not blank
    Image.fromarray((ramp + np.random.default_rng(7).integers(0, 40, (64, 64))).astype(np.uint8)).save(scan)
    *_shown, details = client.predict(handle_file(str(scan)), api_name="/grade")
    assert "error" not in details
    landed = [Path(folder) for folder, _dirs, files in os.walk(gradio_uploads) if scan.name in files]
    assert landed and all(folder.is_relative_to(gradio_uploads) for folder in landed)


def test_heatmap_for_another_grade(client, samples: list[Path]) -> None:
    from gradio_client import handle_file

    markdown, *_rest, details = client.predict(handle_file(str(samples[0])), 2, api_name="/grade")
    assert details["heatmap"]["explains_grade"] == 2
    # the demo bundle's random weights: the page names the grade and says its map means nothing
    assert "no part of it is evidence for grade 2 (PDR)" in markdown and "means nothing" in markdown
    assert details["heatmap"]["method"].startswith("Grad-CAM of grade 2 (PDR) at backbone.layer4")  # not on the page


def test_a_heatmap_choice_outside_the_radio_writes_no_traceback(client, samples: list[Path],
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    """gradio refuses ``explain=7`` before the app's handler runs, as before; the server's
    console gets no traceback for it (a review: 25 lines per request)."""
    from gradio_client import handle_file

    capfd.readouterr()
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(handle_file(str(samples[0])), 7, api_name="/grade")
    assert "Traceback" not in capfd.readouterr().err


def test_batch_of_two(client, samples: list[Path], tmp_path: Path) -> None:
    from gradio_client import handle_file

    summary, table, csv_path, notes_path = client.predict(
        [handle_file(str(samples[0])), handle_file(str(samples[1]))], api_name="/grade_batch")
    assert "2 images graded" in summary and "rejected" not in summary
    assert [row[0] for row in table["data"]] == ["sample_0.png", "sample_1.png"]
    # the probability cells: whole percentages as numbers, shown <1 / >99 at the ends (display values)
    assert all(type(c) is int for row in table["data"] for c in row[3:6] if c is not None)
    assert len(table["metadata"]["display_value"]) == 2
    assert check_submission(csv_path) == []
    lines = Path(csv_path).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "case,class,P0,P1,P2" and len(lines) == 3
    # the notes CSV beside it, for people: the same files, grades and (3 decimals of the 6)
    # probabilities, the grade in words, the bundle's caveat once in its first row
    noted = Path(notes_path).read_text(encoding="utf-8-sig").splitlines()
    assert (Path(notes_path).name == "grades_with_notes.csv"
            and noted[0] == ("case,grade,grade_name,most_likely_grade,P_Normal,P_NPDR,P_PDR,"
                             "not_reliably_gradable,model_output_only,training_image,notes"))
    about, *rows = list(csv.reader(noted[1:]))
    assert about[0] == "(about these grades)" and "Research software, not a medical device. Graded by bundle " in about[-1]
    submitted = list(csv.reader(lines[1:]))
    assert [row[0] for row in rows] == [row[0] for row in submitted]
    for mine, theirs in zip(rows, submitted, strict=True):
        assert (mine[1] or mine[8].split(" ")[0]) == theirs[1]  # the grade, or the model's output only
        np.testing.assert_allclose([float(x) for x in mine[4:7]], [float(x) for x in theirs[2:5]], atol=0.0015)
    assert not any(row[-1].endswith("Research software, not a medical device.") for row in rows)


def test_bad_input_then_good(client, samples: list[Path], tmp_path: Path) -> None:
    from gradio_client import handle_file

    fake = tmp_path / "notes.png"
    fake.write_text("this is a text file renamed .png\n", encoding="utf-8")
    markdown, label, original, overlay, details = client.predict(handle_file(str(fake)),
                                                                 api_name="/grade")
    assert "Cannot grade" in markdown and "not an image" in markdown
    assert "not an image" in details["error"] and original is None and overlay is None

    big = tmp_path / "big.png"
    noise = np.random.default_rng(0).integers(0, 256, (1400, 1400), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    big.write_bytes(buf.getvalue())
    assert big.stat().st_size > MAX_MB * 1024 * 1024
    markdown, *_rest, details = client.predict(handle_file(str(big)), api_name="/grade")
    assert "above the limit of 1.5 MiB" in markdown and "above the limit" in details["error"]

    summary, table, csv_path, _ = client.predict(
        [handle_file(str(fake)), handle_file(str(samples[0]))], api_name="/grade_batch")
    assert "1 image graded" in summary and "1 rejected" in summary
    assert summary.startswith("INCOMPLETE: 1 of the 2 files not graded: notes.png: is not an image")
    # the bad file is a row without a grade, not left out: the CSV cannot pass for a submission
    lines = Path(csv_path).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "case,class,P0,P1,P2,notes" and lines[1].startswith("notes.png,,,,,")
    assert "NOT GRADED: notes.png is not an image" in lines[1] and check_submission(csv_path) != []

    # a stray file of another type in a clinic batch: gradio refused the whole batch with its own
    # 'Invalid file type' error naming no file; it is one file not graded, like any other
    stray = tmp_path / "notes.txt"
    stray.write_text("referral letter\n", encoding="utf-8")
    summary, table, csv_path, _ = client.predict(
        [handle_file(str(stray)), handle_file(str(samples[0]))], api_name="/grade_batch")
    assert summary.startswith("INCOMPLETE: 1 of the 2 files not graded: notes.txt: "), summary
    assert "1 image graded" in summary and csv_path is not None
    # the same file on the single-image tab: the app's words, not gradio's "Invalid file type
    # ... ['.png', ...]"
    markdown, label, _, _, details = client.predict(handle_file(str(stray)), api_name="/grade")
    assert "Cannot grade" in markdown and "notes.txt" in details["error"] and "not an image" in details["error"]
    assert "Invalid file type" not in markdown and "['" not in markdown

    markdown, label, original, overlay, details = client.predict(
        handle_file(str(samples[1])), api_name="/grade")  # the server still serves
    assert "error" not in details and details["grade"] in (0, 1, 2)


@pytest.mark.parametrize("times_the_limit", [1.6])
def test_upload_far_above_the_limit_gets_the_apps_message(client, samples: list[Path], tmp_path: Path,
                                                          times_the_limit: float) -> None:
    """Above the app's limit (up to gradio's guard, twice it: transport_limit) the answer is
    the app's own message in the page, not gradio's upload error; the oversize file does not
    stay on the server."""
    import gradio as gr
    from gradio_client import handle_file

    from app.server import transport_limit

    limit = int(MAX_MB * 1024 * 1024)
    assert client.config["max_file_size"] == transport_limit(AppSettings(max_mb=MAX_MB).limits)
    assert client.config["max_file_size"] > times_the_limit * limit  # the browser lets it through
    name = f"huge_{times_the_limit:g}x.png"
    huge = tmp_path / name
    png = Path(samples[0]).read_bytes()
    huge.write_bytes(png + bytes(int(times_the_limit * limit) - len(png)))  # a real PNG, padded
    markdown, label, original, overlay, details = client.predict(handle_file(str(huge)),
                                                                 api_name="/grade")
    assert "Cannot grade" in markdown and f"`{name}` is" in markdown
    assert "above the limit of 1.5 MiB" in markdown and "above the limit" in details["error"]
    assert not label and original is None and overlay is None
    cache = Path(gr.utils.get_upload_folder())
    assert not [n for n in cached_sizes(cache, name) if n > limit]  # dropped at once

    summary, table, *_ = client.predict([handle_file(str(huge)), handle_file(str(samples[1]))],
                                        api_name="/grade_batch")
    assert "1 image graded" in summary and "1 rejected" in summary
    assert "above the limit of 1.5 MiB" in table["data"][0][-1]
    assert cached_sizes(cache, Path(samples[1]).name)  # where uploads land: the check above looked there


def cached_sizes(cache: Path, name: str) -> list[int]:
    """Sizes of the files called ``name`` in gradio's upload cache (shared with any other
    gradio process on the machine, whose cleaning may remove files while we look)."""
    sizes = []
    for folder, _dirs, files in os.walk(cache):  # os.walk skips folders that vanish
        if name in files:
            try:
                sizes.append((Path(folder) / name).stat().st_size)
            except OSError:
                pass
    return sizes


def test_probability_widget_names_the_graded_class_not_the_most_probable() -> None:
    from types import SimpleNamespace

    from app.server import _label_value, grade_probabilities

    pred = SimpleNamespace(grade=0, probs=np.array([0.365, 0.254, 0.381]),  # thresholds chose 0
                           not_reliably_gradable=[])
    data = grade_probabilities(num_top_classes=3).postprocess(_label_value(pred, ["Normal", "NPDR", "PDR"]))
    assert data.label == "0 Normal: 37%"  # each label says its whole percentage (they sum to 100)
    assert [c.label for c in data.confidences] == ["0 Normal: 37%", "1 NPDR: 25%", "2 PDR: 38%"]
    assert grade_probabilities().postprocess({"a": 0.2, "b": 0.8}).label == "b"  # plain dicts as gr.Label
    assert not (Path(__file__).parents[2] / "app" / "server.pyi").exists()  # no stub written by gradio
