"""``app.predict.Predictor`` used from a script on files (trial user F6, F7, F9): it reads what
``read_image`` reads (its file limits, not the app's 50 MiB upload limit, which the app passes
itself), a result and a refusal carry the path as given (two ``IMG0001.jpg`` of two folders
told apart; the app's page and CSVs still say names only), and ``device=`` loads the bundle
where asked, a device the machine lacks said with its fix before anything is read."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from app_fixtures import graded_scan
from PIL import Image

from app.demo_bundle import build_demo_bundle
from app.inputs import InputLimits, InputRejected, load_upload
from app.predict import Predictor
from drac_ssl.grading.bundle import BundleError, load_bundle, usable_device
from drac_ssl.grading.image_file import LOCAL_FILE_LIMITS
from drac_ssl.grading.predict import read_image

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32, source_size=48, n_folds=1)


@pytest.fixture(scope="module")
def predictor(bundle_dir: Path, one_thread: None) -> Predictor:
    return Predictor(bundle_dir, gradcam=False)


@pytest.fixture(scope="module")
def large_tiff(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uncompressed 16-bit RGB TIFF of 3100 x 3100 px: 55 MiB of file (a camera's original
    is that large), 9.6 megapixels (within the pixel limits), a smooth picture (not noise)."""
    side = np.arange(3100, dtype=np.float32)
    grey = 20000 + 15000 * np.outer(np.cos(side / 55.0), np.sin(side / 40.0))
    image = np.stack([grey, grey * 0.8, grey * 0.6], axis=-1).astype(np.uint16)
    path = tmp_path_factory.mktemp("large") / "camera original.tif"
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_TIFF_COMPRESSION, 1])  # 1: none
    return path


def test_predict_file_reads_a_file_read_image_reads(predictor: Predictor, bundle_dir: Path,
                                                    large_tiff: Path) -> None:
    """A file above the app's 50 MiB: read_image reads it, and so does predict_file (it was
    refused: the Predictor had the app's upload limit); the app's limit, passed, refuses it."""
    assert 50 * MIB < large_tiff.stat().st_size < LOCAL_FILE_LIMITS.max_bytes
    assert predictor.limits == LOCAL_FILE_LIMITS
    assert read_image(large_tiff, predictor.channels)[0].shape == (3100, 3100)
    pred = predictor.predict_file(large_tiff)
    assert pred.image.shape == (3100, 3100) and pred.as_dict()["path"] == str(large_tiff)
    app_limits = Predictor(bundle_dir, gradcam=False, limits=InputLimits())  # the app's default upload limit
    with pytest.raises(InputRejected, match="above the limit of 50 MiB") as refused:
        app_limits.predict_file(large_tiff)
    assert refused.value.path == str(large_tiff)


def test_the_app_gives_the_predictor_its_upload_limits(bundle_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    """``python -m app`` makes its Predictor with ``--max-size-mb`` (and the side and pixel
    limits): its uploads are read as before, 50 MiB unless told otherwise."""
    import app.server
    from app.__main__ import main

    served: list[Predictor] = []

    def serve(predictor: Predictor, *args: object, **kwargs: object) -> None:
        served.append(predictor)
        raise OverflowError("bind(): not served in a test")

    monkeypatch.setattr(app.server, "serve", serve)
    for options, limits in (([], InputLimits()),
                            (["--max-size-mb", "60", "--max-side", "4000", "--max-megapixels", "12"],
                             InputLimits(max_bytes=60 * MIB, max_side=4000, max_pixels=12_000_000))):
        assert main(["--bundle", str(bundle_dir), "--threads", "1", "--temp-dir", str(tmp_path),
                     "--no-gradcam", *options]) == 2
        assert served[-1].limits == limits


def test_a_result_and_a_refusal_carry_the_path_as_given(predictor: Predictor, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two PACS folders with an IMG0001 each: the names are one, the paths two."""
    monkeypatch.chdir(tmp_path)
    for folder in ("p1", "p2"):
        (tmp_path / folder).mkdir()
        graded_scan(tmp_path / folder / "IMG0001.png")
    results = predictor.predict_file("p1/IMG0001.png"), predictor.predict_file(Path("p2") / "IMG0001.png")
    first, second = (result.as_dict() for result in results)  # a Path: its str
    assert first["name"] == second["name"] == "IMG0001.png"
    assert (first["path"], second["path"]) == ("p1/IMG0001.png", "p2/IMG0001.png")
    # printed apart too: the path beside the name
    assert [repr(result).split(", grade=")[0] for result in results] == [
        "Prediction(name='IMG0001.png', path='p1/IMG0001.png'", "Prediction(name='IMG0001.png', path='p2/IMG0001.png'"]
    from_array = predictor.predict(np.asarray(Image.open("p1/IMG0001.png")))
    assert from_array.as_dict()["path"] is None and "path=" not in repr(from_array)  # an array: no path

    Image.fromarray(np.zeros((96, 96), np.uint8)).save(tmp_path / "p2" / "IMG0002.png")  # blank
    (tmp_path / "p1" / "IMG0002.png").write_text("not an image")
    for given, why in (("p2/IMG0002.png", "blank"), ("p1/IMG0002.png", "text"), ("p1/IMG0003.png", "does not exist")):
        with pytest.raises(InputRejected, match=why) as refused:
            predictor.predict_file(given)
        assert refused.value.path == given, given
        assert "p1/" not in str(refused.value) and "p2/" not in str(refused.value)  # the message: the name
        again = pickle.loads(pickle.dumps(refused.value))  # a process pool's worker hands it back
        assert (type(again), str(again), again.path) == (InputRejected, str(refused.value), given)
    with pytest.raises(InputRejected, match="No file given") as refused:
        load_upload(None, upload=False)
    assert refused.value.path is None


def test_the_app_shows_names_never_the_server_paths(predictor: Predictor, tmp_path: Path) -> None:
    """The page's details JSON, its markdown and the batch's rows and CSVs name a file by its
    name: the upload's path (gradio's cache on the server) is in none of them, nor ``path``."""
    from app.server import AppSettings, _grade_batch, _grade_single

    cache = tmp_path / "gradio-cache" / "0a1b2c"
    cache.mkdir(parents=True)
    good = graded_scan(cache / "IMG0001.png")
    Image.fromarray(np.zeros((96, 96), np.uint8)).save(cache / "IMG0002.png")  # blank: refused
    markdown, label, _, _, details = _grade_single(predictor, AppSettings(), str(good), -1)
    assert label is not None and details["name"] == "IMG0001.png" and "path" not in details
    assert str(cache) not in markdown + repr(details)
    markdown, _, _, refused = _grade_single(predictor, AppSettings(), str(cache / "IMG0002.png"), -1)[:4]
    assert str(cache) not in markdown
    summary, rows, csv_path, notes_path = _grade_batch(predictor, AppSettings(), [str(good), str(cache / "IMG0002.png")])
    assert [row[0] for row in rows] == ["IMG0001.png", "IMG0002.png"]
    written = "".join(Path(p).read_text(encoding="utf-8-sig") for p in (csv_path, notes_path) if p)
    assert written and str(cache) not in summary + repr(rows) + written


def test_predictor_loads_the_bundle_on_the_device_given(bundle_dir: Path, one_thread: None) -> None:
    on_cpu = Predictor(bundle_dir, gradcam=False, device="cpu")
    assert on_cpu.bundle.device == torch.device("cpu")
    assert Predictor(bundle_dir, gradcam=False).bundle.device == torch.device("cpu")  # the default
    assert Predictor(on_cpu.bundle, gradcam=False, device=torch.device("cpu")).bundle is on_cpu.bundle


def test_a_device_the_machine_lacks_is_said_with_its_fix_before_anything_is_read(
        bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_bundle(device="cuda") without a GPU raised torch's ``RuntimeError: Found no NVIDIA
    driver`` from inside the load; now a ValueError naming the device and the fix, before the
    bundle is read (a bundle folder that is not there is not what is said)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine, on any
    for device in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match=r"device='cuda(:0)?', but this machine has no usable CUDA device") as exc:
            load_bundle(tmp_path / "no bundle here", device)
        assert not isinstance(exc.value, BundleError)
        assert "fix: use device='cpu', or check torch.cuda.is_available()" in str(exc.value)
    with pytest.raises(ValueError, match="(?s)device='cuda'.*fix: use device='cpu'"):
        Predictor(bundle_dir, device="cuda")
    with pytest.raises(ValueError, match="device='gpu' is not a device torch knows"):
        load_bundle(bundle_dir, "gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"(?s)device='cuda:3', but this machine has 1 CUDA device\(s\).*cuda:0"):
        usable_device("cuda:3")
    cpu_bundle = load_bundle(bundle_dir, "cpu")
    with pytest.raises(ValueError, match="loaded on cpu"):  # a loaded bundle runs where it was loaded
        Predictor(cpu_bundle, device="cuda")


@pytest.mark.parametrize("device", ["meta", "hpu", "vulkan", "xla", "ipu", torch.device("meta"),
                                    "mps", "xpu"])
def test_a_device_a_bundle_does_not_run_on_is_refused_before_anything_is_read(
        device: str | torch.device, tmp_path: Path) -> None:
    """``meta`` loaded and then failed at the first grade, ``hpu`` raised ModuleNotFoundError,
    ``vulkan`` and ``xla`` torch's raw RuntimeError mid-load: each is now the ValueError that
    says where a bundle runs and the fix, before the (missing) bundle is looked at."""
    with pytest.raises(ValueError, match=r"(?s)a bundle loads on the CPU \('cpu'\) or an NVIDIA GPU.*"
                                         r"fix: use device='cpu'") as exc:
        load_bundle(tmp_path / "no bundle here", device)
    assert not isinstance(exc.value, BundleError)
    assert f"device='{torch.device(device).type}'" in str(exc.value)
    assert ("holds no values" in str(exc.value)) == (torch.device(device).type == "meta")


def test_the_cpu_with_an_index_is_the_one_cpu(bundle_dir: Path, one_thread: None) -> None:
    """``cpu:1`` was accepted by the load and then refused as another device than the bundle's
    ``cpu``: any CPU index is the one CPU, said as ``cpu``."""
    assert usable_device("cpu:1") == torch.device("cpu") and usable_device("cpu:1").index is None
    bundle = load_bundle(bundle_dir, "cpu:1")
    assert bundle.device == torch.device("cpu")
    assert Predictor(bundle, gradcam=False, device="cpu:3").bundle is bundle
    assert Predictor(load_bundle(bundle_dir, "cpu"), gradcam=False, device=torch.device("cpu", 1)).bundle.device.type == "cpu"


def test_an_integer_device_is_that_cuda_device_and_said_so(monkeypatch: pytest.MonkeyPatch,
                                                          bundle_dir: Path) -> None:
    """torch reads ``0`` as ``cuda:0``: the message said ``device='0'``; now it says the rule,
    and a negative number, a bool or a float is refused in words, not by torch."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device=0 \(an integer N is CUDA device N: 'cuda:0'\), but this "
                                         r"machine has no usable CUDA device"):
        usable_device(0)
    with pytest.raises(ValueError, match=r"device=-1 .*a device number is 0 or more"):
        usable_device(-1)
    for wrong in (True, 1.0, None):
        with pytest.raises(ValueError, match=rf"device={wrong!r} \({type(wrong).__name__}\) is not a device"):
            usable_device(wrong)  # type: ignore[arg-type]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert usable_device(1) == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"device=2 \(an integer N is CUDA device N: 'cuda:2'\), but this "
                                         r"machine has 2 CUDA device\(s\)"):
        usable_device(2)
    with pytest.raises(ValueError, match=r"device='cuda:0', but the bundle given was loaded on cpu"):
        Predictor(load_bundle(bundle_dir, "cpu"), gradcam=False, device=0)


def test_mps_and_xpu_are_refused_by_every_device_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Second read F2: usable_device took ``mps`` / ``xpu`` where torch said they were
    available, while ``run.device`` and the export's ``--device`` refused them; the package has
    never been run on either, so every check refuses them now, even where torch has one, and
    a CUDA device the machine lacks is said in the same words by both checks."""
    from drac_ssl.runtime import resolve_device

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 1)
    for name, kind in (("mps", "Apple"), ("xpu", "Intel"), ("xpu:0", "Intel")):
        with pytest.raises(ValueError, match=rf"device='{name}': a bundle loads on the CPU .* not on "
                                             rf"'{name[:3]}' \(this package has never been run on an {kind} GPU\)"):
            usable_device(name)
        with pytest.raises(RuntimeError, match="not a device this package runs on"):
            resolve_device(name, setting="--device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as bundle_side:
        usable_device("cuda")
    with pytest.raises(RuntimeError) as run_side:
        resolve_device("cuda", setting="--device")
    said = "but this machine has no usable CUDA device (torch "
    assert said in str(bundle_side.value) and said in str(run_side.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for check, error in ((usable_device, ValueError), (resolve_device, RuntimeError)):
        with pytest.raises(error, match=r"cuda:1'?, but this machine has 1 CUDA device\(s\), numbered from 0"):
            check("cuda:1")
