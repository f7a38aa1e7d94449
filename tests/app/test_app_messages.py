"""The app's messages say what happened: a model fault is not blamed on the file, a bad heatmap
choice is a clear refusal, an image too many pixels to decode is refused before decoding, a
32-bit file is called 32-bit, an empty heatmap is worded by the grade it explains, and the
busy message does not claim that nothing was kept."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from app_fixtures import graded_scan
from PIL import Image

from app.demo_bundle import build_demo_bundle
from app.inputs import InputLimits, InputRejected, load_bytes
from app.predict import Predictor


@pytest.fixture()
def upload(tmp_path: Path) -> Path:
    return graded_scan(tmp_path / "scan.png")


def test_a_model_fault_is_said_as_a_model_fault(predictor: Predictor, upload: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import AppSettings, _grade_single

    fc = predictor.bundle.models[0].head.fc  # the model itself produces NaN
    monkeypatch.setattr(fc, "forward", lambda h: torch.full((h.shape[0], 3), float("nan")))
    markdown, label, original, overlay, details = _grade_single(predictor, AppSettings(), str(upload), -1)
    assert label is None and original is None
    assert "Cannot grade this file" not in markdown and "not a problem of the file" in markdown
    assert "model" in markdown.lower() and "NaN" in details["error"]
    assert details.get("model_error") is True


@pytest.mark.parametrize("explain", [7, -5, "PDR", 1.5, True])
def test_a_bad_heatmap_choice_is_refused_clearly(predictor: Predictor, upload: Path,
                                                 explain: object) -> None:
    from app.server import AppSettings, _grade_single

    markdown, label, _, _, details = _grade_single(predictor, AppSettings(), str(upload), explain)
    assert label is None and "Internal error" not in markdown and "Cannot grade this file" not in markdown
    assert "explain" in details["error"] and "-1" in details["error"]


def _png_header(width: int, height: int, bit_depth: int = 16, colour_type: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` (16-bit RGB), with one small IDAT chunk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + width * 6) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_too_many_pixels_are_refused_before_decoding() -> None:
    data = _png_header(8192, 8192)
    assert len(data) < 1024 * 1024  # far below the size limit in bytes
    with pytest.raises(InputRejected, match=r"67\.1 megapixels.*limit of 40 megapixels.*Downscale") as caught:
        load_bytes(data, "huge.png", InputLimits())
    assert "huge.png" in str(caught.value)
    with pytest.raises(InputRejected, match="megapixels"):
        load_bytes(_png_header(1000, 1000), "x.png", InputLimits(max_pixels=999_999))


def test_a_side_above_the_limit_is_refused_with_a_size_to_downscale_to() -> None:
    """A trial: 9000 px on a side was refused with "Downscale it first." and no size, where the
    40-megapixel refusal gives one. The size keeps the shape and meets both limits."""
    with pytest.raises(InputRejected) as caught:
        load_bytes(_png_header(9000, 100), "wide.png", InputLimits())
    assert str(caught.value).endswith("above the limit of 8192 px per side. Downscale it first (to at "
                                      "most 8192 x 91 px at this shape)."), caught.value
    with pytest.raises(InputRejected) as caught:  # a side and the megapixels: the stricter one
        load_bytes(_png_header(9000, 9000), "big.png", InputLimits())
    assert "(to at most 6324 x 6324 px at this shape)" in str(caught.value), caught.value
    assert 6324 ** 2 <= 40_000_000 < 6325 ** 2


def test_a_decompression_bomb_is_refused_with_a_size_to_downscale_to() -> None:
    """A review: a file above Pillow's own pixel limit (its DecompressionBombError, raised
    before the header's size is handed out) was refused with "Upload an image of at most 8192
    px per side" and no size, unlike the 8192 px refusal; it now gets that refusal's words and
    size (one helper, :func:`drac_ssl.grading.image_file.downscale_fix`, which the refusals of
    the app, the export and the ingest all say)."""
    from drac_ssl.grading.image_file import downscale_fix

    data = _png_header(20000, 10000, bit_depth=8, colour_type=0)
    with pytest.raises(Image.DecompressionBombError):  # Pillow refuses to give its size
        Image.open(io.BytesIO(data))
    with pytest.raises(InputRejected) as caught:
        load_bytes(data, "bomb.png", InputLimits())
    said = str(caught.value)
    fix = downscale_fix(20000, 10000, InputLimits())
    assert fix == "downscale it first (to at most 8192 x 4096 px at this shape)"
    assert said == (f"`bomb.png` is 20000 x 10000 px, above the limit of 8192 px per side. "
                    f"D{fix[1:]}."), said
    bmp = io.BytesIO()  # another format: its header read by Pillow's own plugin too
    Image.new("L", (8, 8)).save(bmp, format="BMP")
    header = bytearray(bmp.getvalue())
    struct.pack_into("<ii", header, 18, 30000, 10000)  # BITMAPINFOHEADER width, height
    with pytest.raises(InputRejected, match=r"`big\.bmp` is 30000 x 10000 px, .*\(to at most 8192 x 2730 px"):
        load_bytes(bytes(header), "big.bmp", InputLimits())
    # limits raised above Pillow's (a Python caller): Pillow's limit gives the size instead
    roomy = InputLimits(max_side=50_000, max_pixels=10**9)
    with pytest.raises(InputRejected) as caught:
        load_bytes(data, "bomb.png", roomy)
    said = str(caught.value)
    assert "20000 x 10000 px (200.0 megapixels)" in said and "Downscale it first (to at most " in said
    to_w, to_h = (int(v) for v in said.rsplit("at most ", 1)[1].split(" px")[0].split(" x "))
    assert to_w * to_h <= 2 * Image.MAX_IMAGE_PIXELS and to_w == 2 * to_h


def test_a_32_bit_file_is_called_32_bit() -> None:
    from app.inputs import is_plain_note

    buf = io.BytesIO()
    Image.fromarray(np.arange(256 * 256, dtype=np.int32).reshape(256, 256) * 1000).save(buf, format="TIFF")
    warnings = load_bytes(buf.getvalue(), "deep.tif").warnings
    (note,) = [w for w in warnings if "converted to 8-bit" in w]
    assert note.startswith("32-bit image converted to 8-bit") and "16-bit" not in note
    assert is_plain_note(note)
    buf = io.BytesIO()
    Image.fromarray(np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)).save(buf, format="PNG")
    (note,) = [w for w in load_bytes(buf.getvalue(), "d.png").warnings if "converted to 8-bit" in w]
    assert note.startswith("16-bit image converted to 8-bit") and is_plain_note(note)


def test_an_empty_heatmap_is_worded_by_the_grade_it_explains(predictor: Predictor,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from app.predict import Prediction
    from app.server import _heatmap_markdown

    monkeypatch.setattr(predictor, "untrained", False)  # a trained model's words (the demo's: nothing)

    def empty(explained: int) -> Prediction:
        return Prediction(name="x", grade=explained, grade_name=predictor.class_names[explained],
                          probs=np.full(3, 1 / 3), heatmap=np.zeros((8, 8), np.float32),
                          image=np.zeros((8, 8), np.uint8), seconds=0.1, explained=explained,
                          cam_cells=(4, 4), class_names=list(predictor.class_names))

    assert "common for *Normal*" in _heatmap_markdown(empty(0), predictor)
    pdr = _heatmap_markdown(empty(2), predictor)
    assert "heatmap is empty" in pdr and "Normal" not in pdr and "PDR" in pdr
    # a regression head's map explains its score, not a grade (a review: "the score of the
    # predicted grade score ... this grade")
    score = _heatmap_markdown(replace(empty(2), explains="score"), predictor)
    assert "pushes the predicted grade up" in score and "this grade" not in score
    assert "Heatmap for" not in score
    # heat only in the padding around a cropped disc is not "all evidence counts against it"
    padded = _heatmap_markdown(replace(empty(2), heat_only_in_padding=True), predictor)
    assert "only in the padding" in padded and "counts against" not in padded


def test_the_busy_message_does_not_claim_that_nothing_was_kept(tmp_path: Path) -> None:
    from app.model_queue import ModelQueue, ServerBusy
    from app.server import AppSettings, build_demo

    demo = build_demo(Predictor(build_demo_bundle(tmp_path / "run", image_size=32, source_size=48,
                                                  n_folds=1), gradcam=False), AppSettings(queue_size=0))
    queue: ModelQueue = demo.model_queue  # type: ignore[attr-defined]
    with queue.slot(), pytest.raises(ServerBusy) as caught, queue.slot():
        pass
    message = str(caught.value)
    assert "nothing was kept" not in message.lower()
    assert "deleted" in message and "hour" in message


def test_without_gradio_the_app_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import importlib
    import sys

    from app.__main__ import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio: ModuleNotFoundError
    assert main(["--runs-dir", "nowhere"]) == 2  # before any bundle is looked for
    err = capsys.readouterr().err
    assert "error: the app needs gradio, an optional dependency that is not installed" in err
    # drac_ssl is not on PyPI: the fix installs the checkout with its extra
    assert "fix: pip install '/path/to/drac_ssl[app]'" in err and "pip install -e '.[app]'" in err
    assert "Traceback" not in err
    monkeypatch.delitem(sys.modules, "app.server", raising=False)  # the library path says it too
    with pytest.raises(ModuleNotFoundError,
                       match=r"needs gradio.*\n  fix: pip install '/path/to/drac_ssl\[app\]'"):
        importlib.import_module("app.server")


def test_a_gradio_outside_the_tested_range_is_refused_with_the_fix(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A user's report: gradio 5.50 (which the extra's former ``gradio>=5`` admitted) crashed
    the page with a TypeError; the app now reads gradio's version from its metadata, without
    importing it, and stops with exit 2 and the one-line fix, as for a missing gradio."""
    import importlib.metadata

    import app
    from app.__main__ import main

    assert app.gradio_version_problem("6.31.0") is None
    assert app.gradio_version_problem("6.40.2") is None
    assert app.gradio_version_problem(importlib.metadata.version("gradio")) is None  # the pin
    for old_or_new in ("5.50.0", "6.30.1", "7.0.0", "4"):
        said = app.gradio_version_problem(old_or_new)
        assert said is not None and f"gradio {old_or_new}." in said, said
        assert said.endswith(f"\n  fix: pip install 'gradio{app.GRADIO_RANGE}'"), said
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return "5.50.0" if name == "gradio" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert main(["--runs-dir", "nowhere"]) == 2  # before any bundle is looked for
    err = capsys.readouterr().err
    assert err.startswith("error: the app needs gradio >=6.31,<7") and "gradio 5.50.0." in err, err
    assert "fix: pip install 'gradio>=6.31,<7'" in err and "No model bundle" not in err, err


def test_the_server_log_never_carries_an_uploaded_file_name(
        predictor: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """File names in hospitals often carry a patient's name or ID, and the console log goes
    to journald under a service manager: the log says "an image" with a short tag of the
    name (sha256, not reversible), also in tracebacks whose messages name the file; the
    page still names the file to its user."""
    import hashlib
    import logging

    import app.server as server
    from app.model_queue import ModelQueue
    from app.server import AppSettings, _grade_batch, _grade_single

    name = "DOE_Jane_1234567.png"
    path = tmp_path / name
    ramp = np.add.outer(np.arange(96), np.arange(96))  # graded: not noise, not blank
    Image.fromarray((ramp + np.random.default_rng(0).integers(0, 40, (96, 96))).astype(np.uint8)).save(path)
    tag = hashlib.sha256(name.encode()).hexdigest()[:8]
    caplog.set_level(logging.INFO, logger="app")
    secret = ("DOE_Jane", "1234567")

    def failing_read(p: object, *args: object, **kwargs: object) -> object:
        raise RuntimeError(f"cannot read {p}")

    with monkeypatch.context() as m:  # an internal error while reading: path in the traceback
        m.setattr(server, "load_upload", failing_read)
        markdown = _grade_single(predictor, AppSettings(), str(path), -1)[0]
        assert name in markdown
        summary, rows, _, _ = _grade_batch(predictor, AppSettings(), [str(path)])
        assert rows[0][0] == name
    with monkeypatch.context() as m:  # the model fails: its message names the file
        def failing_model(loaded: object, **kwargs: object) -> object:
            raise RuntimeError(f"no grade for {name}")
        m.setattr(predictor, "predict_loaded", failing_model)
        markdown = _grade_single(predictor, AppSettings(), str(path), -1)[0]
        assert name in markdown
    with monkeypatch.context() as m:  # the batch's preprocessing fails on it
        def failing_prepare(image: object) -> object:
            raise RuntimeError(f"no input for {path}")
        m.setattr(predictor, "prepare", failing_prepare, raising=False)
        m.setattr(predictor, "grade_batch", lambda *a, **k: failing_prepare(None))
        summary = _grade_batch(predictor, AppSettings(), [str(path)])[0]
        assert "model failed" in summary
    queue = ModelQueue(workers=1, queue_size=0)  # busy: refused before reading
    with queue.slot():
        markdown, *_, details = _grade_single(predictor, AppSettings(), str(path), -1, queue)
    assert details["busy"] and details["name"] == name
    text = caplog.text
    assert len(caplog.records) >= 5 and "Traceback" in text
    assert not any(s in text for s in secret), text
    assert f"image {tag}" in text


@pytest.mark.parametrize("max_mb", [1.5, 50.0, 400.0])
def test_gradio_stores_no_upload_far_above_the_apps_limit(max_mb: float) -> None:
    """gradio's own upload limit was at least 4 GiB: a review stored a 400 MB upload that no
    handler ever saw (it stays until the hourly clean-up). It is now twice the app's limit:
    a file between the two still gets the app's own message (test_app_e2e), anything larger
    is refused by gradio before it is stored."""
    from app.server import AppSettings, transport_limit

    limit = AppSettings(max_mb=max_mb).limits.max_bytes
    assert transport_limit(AppSettings(max_mb=max_mb).limits) == 2 * limit


def _float_tiff(rgb: np.ndarray) -> bytes:
    """A 32-bit float RGB TIFF (values 0..1) of ``rgb`` (uint8 RGB): Pillow cannot open it,
    OpenCV (the decoder's fallback) reads it."""
    import cv2

    ok, buf = cv2.imencode(".tiff", rgb[..., ::-1].astype(np.float32) / 255)
    assert ok
    return buf.tobytes()


def _tiff_with(data: bytes, tags: dict[int, int]) -> bytes:
    """``data`` (a little-endian TIFF) with the first IFD's ``tags`` (e.g. 256 ImageWidth,
    257 ImageLength, 259 Compression) set to the values given (as LONG), the pixel data
    unchanged."""
    out = bytearray(data)
    assert out[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", out, 4)[0]
    for i in range(struct.unpack_from("<H", out, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", out, at)[0]
        if tag in tags:
            struct.pack_into("<HII", out, at + 2, 4, 1, tags[tag])  # LONG, one value
    return bytes(out)


def test_a_tiff_pillow_cannot_open_is_graded_as_the_export_grades_it(
        predictor: Predictor, tmp_path: Path) -> None:
    """The app called a 32-bit float TIFF "not an image (... it holds bytes 49 49 2a 00 ...)",
    the TIFF signature itself, where the ingest and the export decode it with OpenCV. It now
    goes through the same decoder: graded (single and batch) with the pixels the export reads,
    its findings said; its size is checked from the TIFF header before decoding; a TIFF no
    decoder reads is named a TIFF, not "not an image"."""
    from app.server import AppSettings, _grade_batch, _grade_single
    from drac_ssl.grading.predict import read_image, read_image_any

    yy, xx = np.mgrid[:96, :96]
    rgb = np.dstack([xx * 2, yy * 2, 255 - xx]).astype(np.uint8)
    data = _float_tiff(rgb)
    path = tmp_path / "f32.tiff"
    path.write_bytes(data)
    with pytest.raises(Exception):  # noqa: B017 - the case itself: Pillow cannot open it
        Image.open(io.BytesIO(data))
    loaded = load_bytes(data, "f32.tiff")
    assert loaded.file_format == "TIFF" and (loaded.width, loaded.height) == (96, 96)
    np.testing.assert_array_equal(loaded.gray, read_image_any(path))  # the export's pixels
    assert any(w.startswith("Image file: Pillow cannot open this file; decoded by OpenCV")
               for w in loaded.warnings)
    assert any(w.startswith("Image file: float image") for w in loaded.warnings)
    colour = load_bytes(data, "f32.tiff", channels=3)
    np.testing.assert_array_equal(colour.for_channels(3), read_image(path, 3)[0])
    markdown, label, *_ , details = _grade_single(predictor, AppSettings(), str(path), -1)
    # an image not reliably gradable gets an empty probability widget (a clinician trial)
    assert "error" not in details and (label is None) == bool(details["not_reliably_gradable"]), markdown
    assert "not an image" not in markdown and "decoded by OpenCV" in markdown
    summary, rows, csv_path, _ = _grade_batch(predictor, AppSettings(), [str(path)])
    assert "1 image graded" in summary and "not an image" not in summary and csv_path is not None
    # the limits hold before decoding: the size comes from the TIFF header
    with pytest.raises(InputRejected, match="96 x 96 px, above the limit of 64 px per side"):
        load_bytes(data, "f32.tiff", InputLimits(max_side=64))
    with pytest.raises(InputRejected, match=r"8000 x 8000 px \(64\.0 megapixels\).*limit of 40 megapixels"):
        load_bytes(_tiff_with(data, {256: 8000, 257: 8000}), "huge.tiff")
    # a TIFF that no decoder reads is called a TIFF, with the decoder's reason (the ingest's)
    unknown = _tiff_with(data, {259: 60000})  # a compression no decoder knows
    with pytest.raises(InputRejected, match=r"`odd\.tif` cannot be read: a TIFF file that neither "
                                            r"Pillow nor OpenCV can decode") as caught:
        load_bytes(unknown, "odd.tif")
    assert "not an image" not in str(caught.value)
    # a TIFF whose header gives no size is refused before any decoding, named a TIFF
    with pytest.raises(InputRejected, match="`broken.tif` is a TIFF file whose header does not give its size"):
        load_bytes(b"II*\x00" + b"\x08\x00\x00\x00" + b"\x01\x00" + b"\xff" * 40, "broken.tif")
    # a file no decoder opens and that is no TIFF stays "not an image"
    with pytest.raises(InputRejected, match="is not an image"):
        load_bytes(b"\x00\x01\x02\x03" * 64, "x.tif")


def test_an_uploaded_dicom_file_is_refused_in_the_exports_words() -> None:
    """Review formats R4: the app refused a DICOM upload as "is not an image ... it holds a
    DICOM file" without the export's conversion advice (16-bit); it says the export's words
    (:data:`~drac_ssl.grading.image_notes.DICOM_WORDS`) and how to convert it, whatever its name."""
    from drac_ssl.grading.image_notes import DICOM_CONVERT, DICOM_WORDS

    dicom = b"\x00" * 128 + b"DICM" + b"\x02\x00" * 32
    for name in ("scan.dcm", "scan.png", "IM0001"):
        with pytest.raises(InputRejected) as caught:
            load_bytes(dicom, name)
        said = str(caught.value)
        assert said.startswith(f"`{name}` {DICOM_WORDS}. ") and DICOM_CONVERT[1:] in said, said
        assert "16-bit" in said and "not an image" not in said and "folder" not in said, said


def test_a_batch_that_fails_leaves_no_temporary_folder(predictor: Predictor, upload: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch writes its CSVs into a folder of its own under the process's batch folder;
    when the model failed mid-batch (its preprocessing, its grading) or writing a CSV raised,
    the folder stayed behind until the server stopped. It is removed on every path that hands
    no CSV to the page; a batch that gives CSVs keeps them (the page serves copies of them)."""
    import app.server as server
    from app.server import AppSettings, _grade_batch

    root = Path(server._batch_root())
    before = set(root.iterdir())

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the model broke")

    for method in ("grade_prepared_sentences", "prepare"):
        with monkeypatch.context() as m:
            m.setattr(predictor, method, broken)
            summary, rows, csv_path, notes_path = _grade_batch(predictor, AppSettings(), [str(upload)])
        assert "model failed" in summary and csv_path is None and notes_path is None, method
        assert set(root.iterdir()) == before, method
    with monkeypatch.context() as m:  # a CSV that cannot be written (a full disk): raised, removed
        m.setattr(server, "write_grades_for_people", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError, match="disk full"):
            _grade_batch(predictor, AppSettings(), [str(upload)])
        assert set(root.iterdir()) == before
    summary, rows, csv_path, notes_path = _grade_batch(predictor, AppSettings(), [str(upload)])
    assert csv_path is not None and Path(csv_path).is_file() and Path(notes_path).is_file(), summary
    assert set(root.iterdir()) - before == {Path(csv_path).parent}


def test_the_installed_app_command_names_itself_in_its_usage(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A review: drac-ssl-app --help said 'usage: python -m app', a command the user did not
    run; as drac-ssl-train's, each spelling now names itself (commands.command_name, which
    the app reads from drac_ssl.starting: no training code)."""
    import sys

    from app.__main__ import parse_args
    from drac_ssl.starting import python_command

    for argv0, usage in (("/usr/local/bin/drac-ssl-app", "usage: drac-ssl-app [-h]"),
                         ("/repo/app/__main__.py", f"usage: {python_command('app')} [-h]")):
        monkeypatch.setattr(sys, "argv", [argv0])
        with pytest.raises(SystemExit) as done:
            parse_args(["--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert usage in out, out
        assert ("Example: drac-ssl-app --bundle" if "drac-ssl-app" in argv0 else
                f"Example: {python_command('app')} --bundle") in out


def test_a_heatmap_choice_outside_the_radio_is_refused_by_gradio_with_one_log_line(
        predictor: Predictor, caplog: pytest.LogCaptureFixture) -> None:
    """A review: ``explain=7`` or ``"PDR"`` through the API is refused by gradio's own check of
    the radio's choices ("Value: 7 ... is not in the list of choices"), before the app's handler
    runs, and each wrote a 25-line traceback to the server console. The refusal is gradio's, as
    before (the client gets the same message); the console gets one line from the app."""
    import gradio as gr

    from app.server import AppSettings, build_demo

    demo = build_demo(predictor, AppSettings())
    (radio,) = [b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.label == "Heatmap for"]
    assert radio.preprocess("2") == "2" and radio.preprocess("-1") == "-1"
    for bad in (7, "PDR", True, "1.5"):
        caplog.clear()
        with caplog.at_level("WARNING", logger="app"), pytest.raises(gr.Error) as caught:
            radio.preprocess(bad)
        assert caught.value.print_exception is False  # no traceback on the console
        assert "is not in the list of choices: ['-1', '0', '1', '2']" in caught.value.message
        (record,) = [r for r in caplog.records if r.name == "app"]
        assert "\n" not in record.getMessage() and repr(bad) in record.getMessage()


def test_the_heatmap_choice_is_the_string_the_api_page_shows_and_a_whole_number_too(
        predictor: Predictor, upload: Path) -> None:
    """A load test: ``view_api()`` showed ``explain: Literal['-1', '0', '1', '2']`` and
    /gradio_api/info ``{'enum': [-1, 0, 1, 2], 'type': 'string'}`` (gradio calls every radio a
    string), and a script sending ``'-1'`` as shown was refused on every request ("Value: '-1'
    (type: <class 'str'>) is not in the list of choices: [-1, 0, 1, 2]"). The radio's values
    are strings now, as described; the whole numbers scripts sent before are taken too."""
    import gradio as gr

    from app.server import AppSettings, _grade_single, build_demo

    demo = build_demo(predictor, AppSettings())
    (radio,) = [b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.label == "Heatmap for"]
    info = radio.api_info()
    assert info["type"] == "string" and info["enum"] == ["-1", "0", "1", "2"]
    assert all(type(v) is str for v in info["enum"]) and radio.value == "-1"
    for sent, taken in (("-1", "-1"), (-1, "-1"), ("2", "2"), (2, "2"), (np.int64(0), "0")):
        assert radio.preprocess(sent) == taken, sent
    # the handler turns the radio's strings into grades, as it does the whole numbers
    *_, details = _grade_single(predictor, AppSettings(), str(upload), "1")
    assert details["heatmap"]["explains_grade"] == 1, details


def test_the_quiet_choice_refusal_leaves_an_older_gradio_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: gr.Error(print_exception=...) came in a gradio 5.x after 5.0, and the app's
    extra allows gradio>=5: there the wrapper would turn gradio's refusal into a TypeError.
    Without that parameter the radio's preprocess is left as gradio made it."""
    import gradio as gr

    from app import server

    class OlderError(Exception):
        def __init__(self, message: str = "Error raised.", duration: float | None = 10,
                     visible: bool = True, title: str = "Error") -> None:
            super().__init__(message)

    radio = gr.Radio(choices=[-1, 0, 1, 2], value=-1)
    plain = radio.preprocess
    monkeypatch.setattr(server.gr, "Error", OlderError)
    server._quiet_choice_refusal(radio)
    assert radio.preprocess == plain
    monkeypatch.undo()
    server._quiet_choice_refusal(radio)  # this gradio: wrapped
    assert radio.preprocess != plain


def test_the_result_markdown_keeps_apostrophes_and_quotes_but_no_html(predictor: Predictor, upload: Path) -> None:
    """A trial read ``model&#x27;s`` in the ``/grade`` markdown through gradio_client:
    ``html.escape`` wrote every apostrophe and quote as a character reference. Only what could
    open HTML is escaped now (app.server.md_words): a tag quoted from a file still cannot reach
    the page, a lone ``&`` or ``<`` stays as it is."""
    from app.server import AppSettings, _grade_single_now, _result_markdown, md_words

    assert md_words("the model's \"input\" & <b>x</b> &amp; P < 0.5") == (
        "the model's \"input\" & &lt;b>x&lt;/b> &amp;amp; P < 0.5")
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(gradcam=False), str(upload),
                                                       None, "scan.png")
    assert label is not None and "&#" not in markdown and "&quot;" not in markdown and "&amp;" not in markdown
    pred = predictor.predict_file(upload, gradcam=False)
    odd = replace(pred, warnings=[*pred.warnings, "Image file: the model's \"profile\" <script>x</script>.",
                                  "Not square: the model's input is square."])
    page = _result_markdown(odd, predictor)
    assert "- Not square: the model's input is square." in page.splitlines(), page
    assert "the model's \"profile\" &lt;script>x&lt;/script>." in page
    assert "<script>" not in page and "&#x27;" not in page and "&quot;" not in page


def test_a_single_image_says_how_long_it_waited_for_the_model(predictor: Predictor, upload: Path) -> None:
    """A load test: a request waiting for the model showed only a spinner (the waiting is
    inside the handler, so gradio calls it started). Its details JSON says ``waited_s``, the
    seconds it waited in line (the queue's clock: a fake one here), 0 for one that did not wait."""
    import threading

    from app.model_queue import ModelQueue
    from app.server import AppSettings, _grade_single

    now = [100.0]
    queue = ModelQueue(1, 1, clock=lambda: now[0])
    *_, details = _grade_single(predictor, AppSettings(gradcam=False), str(upload), None, queue)
    assert details["waited_s"] == 0 and "grade" in details
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with queue.slot():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(30)
    got: list[dict] = []
    waiter = threading.Thread(target=lambda: got.append(
        _grade_single(predictor, AppSettings(gradcam=False), str(upload), None, queue)[-1]), daemon=True)
    waiter.start()
    for _ in range(6000):  # until it is in line (no clock is read meanwhile)
        if queue.waiting == 1:
            break
        threading.Event().wait(0.005)
    now[0] = 107.5  # the model was busy for 7.5 s of the queue's clock
    release.set()
    holder.join(30)
    waiter.join(30)
    assert got and got[0]["waited_s"] == 7.5 and "grade" in got[0]
