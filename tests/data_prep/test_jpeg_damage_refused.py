"""A truncated or damaged JPEG is refused in the package's words, through every path that reads
an image file: the ingest's decoder (:func:`data_prep.decode.decode`), grading's
:func:`drac_ssl.grading.predict.read_image` (the export, a user's own code) and the app's upload
(:func:`app.inputs.load_bytes`), which all decode through :func:`data_prep.decode.decode`.

A JPEG cut short and closed with an end-of-image marker (or whose image data lost bytes in a
copy) was decoded as if nothing were wrong, the missing part grey, and OpenCV's libjpeg printed
"Corrupt JPEG data: premature end of data segment" on stderr (file descriptor 2, which OpenCV's
log level does not reach) beside no word of the package's. Valid JPEGs (baseline, progressive,
grey, CMYK, bytes after or before the end marker) still decode, silently but for the package's
notes. Captured at the file-descriptor level (capfd)."""

from __future__ import annotations

import ctypes
import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import data_prep.decode as decode_module
from app.inputs import InputRejected, load_bytes
from data_prep.decode import decode, jpeg_damage, libjpeg_decode
from data_prep.validate import inspect_image
from drac_ssl.grading.predict import ImageReadError, read_image

LIBJPEG_WORDS = ("Corrupt JPEG", "Premature end", "libjpeg", "extraneous bytes")


def _picture(channels: int = 3, side: int = 192) -> np.ndarray:
    coarse = np.random.default_rng(7).integers(0, 256, (12, 12, channels), dtype=np.uint8)
    image = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)
    return image if channels == 3 else image.reshape(side, side)


def _jpeg(mode: str = "RGB", **options: object) -> bytes:
    buf = io.BytesIO()
    picture = Image.fromarray(_picture(1 if mode == "L" else 3))
    picture.convert(mode).save(buf, "JPEG", quality=90, **options)
    return buf.getvalue()


VALID = {
    "baseline": lambda: _jpeg(),
    "progressive": lambda: _jpeg(progressive=True),
    "grey": lambda: _jpeg("L"),
    "cmyk": lambda: _jpeg("CMYK"),
    "restart markers": lambda: _jpeg(restart_marker_blocks=4),
}


def _cut_and_closed(data: bytes) -> bytes:
    """The last third cut off and an end-of-image marker put after the cut: the structure is
    complete (SOI ... EOI), the image data are not."""
    return data[: len(data) * 2 // 3] + b"\xff\xd9"


def _copy_broken_off(fill: bytes) -> bytes:
    """A JPEG with restart markers every 2 blocks whose copy broke off halfway, the rest of the
    file's length filled with ``fill`` (zeros, text): no end marker. Closed with one, libjpeg
    decodes it without a warning (restart markers resynchronise it), the bottom flat grey: it is
    refused as truncated, never decoded as if only its end marker were missing (review formats
    R1)."""
    data = cv2.imencode(".jpg", _picture(), [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])[1].tobytes()
    half = len(data) // 2
    return data[:half] + fill * (len(data) - half)


def _rst_renumbered(data: bytes) -> bytes:
    """The first restart marker's number changed (RST0 -> RST3): a changed byte libjpeg sees."""
    at = data.index(b"\xff\xd0", data.index(b"\xff\xda"))
    return data[:at] + b"\xff\xd3" + data[at + 2:]


DAMAGED = {  # name -> (bytes, the opening of the package's words)
    "baseline cut and closed": (lambda: _cut_and_closed(_jpeg()), "truncated JPEG"),
    "progressive cut and closed": (lambda: _cut_and_closed(_jpeg(progressive=True)), "truncated JPEG"),
    "grey cut and closed": (lambda: _cut_and_closed(_jpeg("L")), "truncated JPEG"),
    "cmyk cut and closed": (lambda: _cut_and_closed(_jpeg("CMYK")), "truncated JPEG"),
    "one byte of image data lost": (lambda: _jpeg()[:-3] + b"\xff\xd9", "truncated JPEG"),
    "last third cut, no end marker": (lambda: _jpeg()[: len(_jpeg()) * 2 // 3], "truncated JPEG"),
    "end marker cut": (lambda: _jpeg()[:-2], "truncated JPEG"),
    "progressive end marker cut": (lambda: _jpeg(progressive=True)[:-2], "truncated JPEG"),
    "end marker and a byte of image data cut": (lambda: _jpeg()[:-3], "truncated JPEG"),
    "copy broken off, zero-filled": (lambda: _copy_broken_off(b"\x00"), "truncated JPEG"),
    "copy broken off, text after": (lambda: _copy_broken_off(b"U"), "truncated JPEG"),
    "restart marker changed": (lambda: _rst_renumbered(_jpeg(restart_marker_blocks=4)), "corrupt JPEG"),
}


def _no_libjpeg_line(capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    for words in LIBJPEG_WORDS:
        assert words not in err and words not in out, (words, err, out)


@pytest.mark.parametrize("name", list(DAMAGED))
def test_a_damaged_jpeg_is_refused_by_every_path_naming_the_file(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str) -> None:
    make, opening = DAMAGED[name]
    data = make()
    path = tmp_path / "fundus 12.jpg"
    path.write_bytes(data)
    capfd.readouterr()

    decoded = decode(data, str(path))  # the ingest's decoder
    assert decoded.pixels is None
    errors = [p for p in decoded.problems if p.severity == "error"]
    assert errors and errors[0].path == str(path) and errors[0].what.startswith(opening), decoded.problems
    assert "re-copy" in errors[0].fix
    assert inspect_image(data, str(path)).pixels is None  # what the ingest's cache calls
    _no_libjpeg_line(capfd)

    with pytest.raises(ImageReadError) as raised:  # the export's and a user's own code's path
        read_image(path, 3)
    assert str(raised.value).startswith(f"{path}: {opening}"), raised.value
    assert raised.value.problems[0].path == str(path)
    _no_libjpeg_line(capfd)

    with pytest.raises(InputRejected) as rejected:  # the app's upload
        load_bytes(data, "fundus 12.jpg", channels=3, kind="fundus")
    assert "`fundus 12.jpg`" in str(rejected.value) and opening in str(rejected.value)
    assert "re-copy" in str(rejected.value).lower()
    _no_libjpeg_line(capfd)


@pytest.mark.parametrize("name", list(VALID))
def test_valid_jpegs_are_decoded_without_a_word_on_stderr(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str) -> None:
    data = VALID[name]()
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(data)
    capfd.readouterr()
    decoded = decode(data, str(path))
    assert decoded.pixels is not None and decoded.pixels.shape[:2] == (192, 192)
    assert [p for p in decoded.problems if p.severity == "error"] == []
    if name != "cmyk":  # a CMYK file is said to be converted; nothing else is said
        assert decoded.problems == []
    pixels, _ = read_image(path, 3)
    assert pixels.shape == (192, 192, 3)
    assert load_bytes(data, path.name, channels=3, kind="fundus").pixels is not None
    _no_libjpeg_line(capfd)


def test_bytes_after_or_before_the_end_marker_are_a_note(capfd: pytest.CaptureFixture[str]) -> None:
    """A camera's or phone app's bytes after the end-of-image marker, and padding between the
    complete image data and the marker: the image is whole, so a note, not a refusal."""
    data = _jpeg()
    reference = decode(data, "a.jpg").pixels
    after = decode(data + b"\x00" * 30 + b"trailer", "after.jpg")
    before = decode(data[:-2] + b"\x00" * 40 + b"\xff\xd9", "before.jpg")
    for decoded, words in ((after, "37 byte(s) after the JPEG's end-of-image marker"),
                           (before, "byte(s) before the JPEG's end-of-image marker (EOI) ignored")):
        assert decoded.pixels is not None
        np.testing.assert_array_equal(decoded.pixels, reference)
        assert [(p.severity, p.kind) for p in decoded.problems] == [("note", "trailing-data")]
        assert words in decoded.problems[0].what
    _no_libjpeg_line(capfd)


def test_libjpeg_s_line_is_kept_and_another_line_goes_to_stderr(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """What reaches C's ``stderr`` stream while OpenCV decodes: libjpeg's warning is returned (and
    said in the package's words), any other line (another thread's) is written to stderr after."""

    libc = ctypes.CDLL(None)
    libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]

    def noisy(buffer: np.ndarray, flags: int) -> np.ndarray:  # as libjpeg writes: fprintf(stderr)
        stderr = ctypes.c_void_p.in_dll(libc, "stderr").value
        libc.fputs(b"Corrupt JPEG data: premature end of data segment\n", stderr)
        libc.fputs(b"another thread's line\n", stderr)
        return np.zeros((4, 4), np.uint8)

    monkeypatch.setattr(decode_module, "_imdecode", noisy)
    capfd.readouterr()
    image, said = libjpeg_decode(b"\xff\xd8\xff\xd9")
    assert image is not None and said == ["Corrupt JPEG data: premature end of data segment"]
    out, err = capfd.readouterr()
    assert "another thread's line" in err and "Corrupt JPEG" not in err
    (problem,) = jpeg_damage(said, "x.jpg")
    assert problem.severity == "error" and problem.kind == "truncated" and problem.path == "x.jpg"
    assert "Corrupt JPEG" not in problem.line


def test_an_unknown_libjpeg_warning_is_a_doubt_not_silence() -> None:
    (problem,) = jpeg_damage(["Warning: unknown JFIF revision number 3.01"], "x.jpg")
    assert problem.severity == "warning" and "unknown JFIF revision number 3.01" in problem.what
    assert jpeg_damage([], "x.jpg") == []


def test_the_ingest_stops_on_a_truncated_jpeg_naming_it(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """``python -m data_prep ingest`` end to end: the file cut short and closed with an end
    marker is one error of the one-pass validation (file, what is wrong, what to do)."""
    import csv

    from data_prep import ingest
    from data_prep.problems import IngestError
    from drac_ssl.config import DataConfig

    root = tmp_path / "d"
    root.mkdir()
    names = ["001.jpg", "002.jpg", "003.png", "scan 4.jpg"]
    for i, name in enumerate(names):
        Image.fromarray(np.roll(_picture(1, 64), 8 * i, axis=0)).save(root / name)
    (root / "scan 4.jpg").write_bytes(_cut_and_closed((root / "scan 4.jpg").read_bytes()))
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["image name", "DR grade"], *([n, i % 2] for i, n in enumerate(names))])
    config = DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                        grades=["Normal", "DR"])
    capfd.readouterr()
    with pytest.raises(IngestError) as caught:
        ingest.run(config, tmp_path / "out", verbose=False)
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert [(Path(p.path).name, p.kind) for p in errors] == [("scan 4.jpg", "truncated")], errors
    assert f"{root / 'scan 4.jpg'}: truncated JPEG (" in str(caught.value)
    _no_libjpeg_line(capfd)


def test_threads_decoding_at_once_each_get_their_own_verdict(capfd: pytest.CaptureFixture[str]) -> None:
    """The app decodes uploads in several threads: stderr is one per process, so the captures
    take turns, and no thread's libjpeg line is read as another's."""
    from concurrent.futures import ThreadPoolExecutor

    good, cut = _jpeg(), _cut_and_closed(_jpeg())
    work = [good, cut] * 12
    capfd.readouterr()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda data: decode(data, "x.jpg"), work))
    for data, decoded in zip(work, results, strict=True):
        assert (decoded.pixels is None) == (data is cut)
        assert [p.kind for p in decoded.problems] == ([] if data is good else ["truncated"])
    _no_libjpeg_line(capfd)


def test_a_decode_leaves_file_descriptor_2_to_the_host(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A host service embedding the package starts child processes from other threads: one that
    starts while a JPEG decodes inherits descriptor 2 as it is, so it must still be the host's
    stderr (it pointed at a temporary file, and the child's lines were lost); the damage is
    still found."""
    import subprocess
    import sys

    original = decode_module._imdecode
    seen = []

    def host_thread_meanwhile(buffer: np.ndarray, flags: int) -> np.ndarray | None:
        st = os.fstat(2)
        seen.append((st.st_dev, st.st_ino))
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'child line\\n')"], check=True)
        return original(buffer, flags)

    libjpeg_decode(_jpeg())  # the capture tried on its probe JPEG first (once per process)
    monkeypatch.setattr(decode_module, "_imdecode", host_thread_meanwhile)
    before = os.fstat(2)
    capfd.readouterr()
    image, said = libjpeg_decode(_cut_and_closed(_jpeg()))
    out, err = capfd.readouterr()
    assert seen == [(before.st_dev, before.st_ino)]
    assert "child line" in err
    assert image is not None and said == ["Corrupt JPEG data: premature end of data segment"]
    assert "Corrupt JPEG" not in err


def _fresh_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    """No sink made and no capture trusted yet in this process, as at its start."""
    monkeypatch.setattr(decode_module, "_SINK", [])
    monkeypatch.setattr(decode_module, "_CAPTURE_SEEN", {})


def _no_sink(*args: object, **kwargs: object) -> None:
    raise OSError("no temporary file (a /tmp that cannot be written)")


def test_cut_jpeg_refused_when_the_c_stderr_sink_cannot_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink failed to be made (glibc's tmpfile() in a /tmp that cannot be written): the
    failure was kept for the process and every cut JPEG decoded as undamaged. Now file
    descriptor 2 is redirected instead, and the sink is tried again at the next decode."""
    _fresh_captures(monkeypatch)
    monkeypatch.setattr(decode_module._CStderrSink, "__init__", _no_sink)
    decoded = decode(_cut_and_closed(_jpeg()), "cut.jpg")
    assert decoded.pixels is None and [p.kind for p in decoded.problems] == ["truncated"]
    monkeypatch.undo()
    _fresh_captures(monkeypatch)
    monkeypatch.setattr(decode_module._CStderrSink, "__init__", _no_sink)
    libjpeg_decode(_jpeg())
    monkeypatch.setattr(decode_module._CStderrSink, "__init__", _real_sink_init)
    image, said = libjpeg_decode(_cut_and_closed(_jpeg()))
    assert said == ["Corrupt JPEG data: premature end of data segment"]
    if os.name == "posix" and decode_module._glibc():
        assert decode_module._SINK, "the sink was not tried again after a failure"


_real_sink_init = decode_module._CStderrSink.__init__


def test_cut_jpeg_flagged_not_checked_when_no_capture_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither C's stderr stream nor file descriptor 2 can be redirected (no temporary file
    at all): the JPEG is decoded, with a warning that its damage was not checked, never as
    undamaged in silence."""
    _fresh_captures(monkeypatch)
    monkeypatch.setattr(decode_module.tempfile, "TemporaryFile", _no_sink)
    decoded = decode(_cut_and_closed(_jpeg()), "cut.jpg")
    assert [(p.severity, p.kind) for p in decoded.problems if p.kind == "not-checked"] == [
        ("warning", "not-checked")]
    assert "not checked" in str(decoded.problems)
    _, said = libjpeg_decode(_jpeg())
    assert said == [decode_module.JPEG_NOT_CHECKED]


@pytest.mark.skipif(not (os.name == "posix" and decode_module._glibc()), reason="the sink is glibc's here")
def test_late_line_in_the_sink_is_not_the_next_decodes(capfd: pytest.CaptureFixture[str]) -> None:
    """A line written to the sink after a decode (a thread that read the swapped pointer
    before it was put back) goes to file descriptor 2 at the next decode, not into its
    warnings."""
    libjpeg_decode(_jpeg())
    sink = decode_module._c_stderr_sink()
    assert sink is not None
    sink.libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    sink.libc.fputs(b"Premature end of JPEG file\n", sink.handle)
    capfd.readouterr()
    image, said = libjpeg_decode(_jpeg())
    assert image is not None and said == []
    assert "Premature end of JPEG file" in capfd.readouterr().err


def test_opencv_log_level_restored_after_concurrent_decodes() -> None:
    """PNG/TIFF/BMP decodes in 4 threads at once: OpenCV's process-wide log level is the
    caller's after (each saved and restored it alone, and a thread could restore another's
    silent level: stuck silent in 20 of 20 trials of the review's script)."""
    import threading

    logging = cv2.utils.logging
    picture = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    files = []
    for fmt in ("TIFF", "BMP"):
        buf = io.BytesIO()
        Image.fromarray(picture).save(buf, fmt)
        files.append(buf.getvalue())
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_WARNING)
    try:
        for _ in range(5):
            threads = [threading.Thread(target=lambda d=d: [decode_module._opencv_decode(d) for _ in range(100)])
                       for d in files * 2]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert logging.getLogLevel() == logging.LOG_LEVEL_WARNING
    finally:
        logging.setLogLevel(previous)
