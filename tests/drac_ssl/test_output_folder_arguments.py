"""Counts, sizes and output folders of the commands that make a folder (a CLI review):
``app.demo_bundle D --folds 0`` was an IndexError after D/finetune was half written, and
``--image-size -5`` / ``--source-size 0`` a bundle every image then failed on in pydantic and
cv2 tracebacks; ``data_prep phantom --n-train -3`` a ValueError traceback and ``--n-train 0``
an empty set; an output under a file (``--out good.csv/ph``) a NotADirectoryError or
FileExistsError traceback in phantom, flatten, demo_bundle and ``drac_ssl.umm --run-dir``;
``drac_ssl.umm good.csv`` made ``runs/default/`` with a stale lock before saying the file is no
checkpoint. Each is a usage error now (exit 2) naming the value, the range or the file, and
nothing is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text("image name,DR grade\n1.png,0\n")
    return path


def test_demo_bundle_ranges_and_a_folder_under_a_file(tmp_path: Path, a_file: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from app.demo_bundle import main

    out = tmp_path / "demo"
    for flag, value, words in (("--folds", "0", "give a whole number, 1 or more, e.g. 2 (the default)"),
                               ("--image-size", "-5", "give a whole number, 1..8192, e.g. 128"),
                               ("--source-size", "0", "give a whole number, 1..8192, e.g. 256")):
        with pytest.raises(SystemExit) as stopped:
            main([str(out), flag, value])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {flag}: '{value}' is not allowed: {words}" in err, err
        assert not out.exists()
    assert main([str(a_file / "demo")]) == 2
    err = capsys.readouterr().err
    assert f"{a_file}: is a file, not a folder, so RUN_DIR {a_file / 'demo'} cannot be made there" in err, err
    assert "Traceback" not in err


def test_a_bundle_whose_sizes_no_model_takes_is_refused_naming_its_metadata(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import BundleError, load_bundle

    bundle = build_demo_bundle(tmp_path / "demo", image_size=32, source_size=48, n_folds=1)
    meta_path = bundle / "metadata.json"
    meta = json.loads(meta_path.read_text())
    for key, value in (("size", [-5, -5]), ("source_size", 0), ("size", 32.5), ("source_size", True)):
        edited = {**meta, "input": {**meta["input"], key: value}}
        meta_path.write_text(json.dumps(edited))
        with pytest.raises(BundleError) as refused:
            load_bundle(bundle)
        said = str(refused.value)
        assert said.startswith(f"{meta_path}: the bundle's input.{key} is {json.dumps(value)}, not a side"), said
        assert "python -m app.demo_bundle" in said  # a demo's fix: write it again, not build_bundle
    meta_path.write_text(json.dumps(meta))
    assert load_bundle(bundle).spec.image_size == 32


def test_phantom_counts_and_out(tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from data_prep.__main__ import main

    out = tmp_path / "ph"
    for value in ("-3", "0", "2"):
        with pytest.raises(SystemExit) as stopped:
            main(["phantom", "--out", str(out), "--n-train", value])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert (f"argument --n-train: '{value}' is not allowed: give a whole number, 3..100000 "
                f"(one image of each of the 3 grades; at most data.phantom_n_train's bound)") in err, err
    with pytest.raises(SystemExit):
        main(["phantom", "--out", str(out), "--n-test", "-1"])
    assert "argument --n-test: '-1' is not allowed" in capsys.readouterr().err
    assert not out.exists()
    for given in (a_file / "ph", a_file):
        assert main(["phantom", "--out", str(given), "--n-train", "3", "--n-test", "0"]) == 2
        err = capsys.readouterr().err
        assert f"{a_file}: is a file, not a folder" in err and "fix: give --out a folder path" in err, err
        assert "Traceback" not in err


def test_flatten_out_under_a_file(tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from data_prep.__main__ import main

    tree = tmp_path / "tree"
    (tree / "0").mkdir(parents=True)
    assert main(["flatten", "--root", str(tree), "--out", str(a_file / "flat")]) == 2
    err = capsys.readouterr().err
    assert f"{a_file}: is a file, not a folder, so --out {a_file / 'flat'} cannot be made there" in err, err


def test_umm_checks_the_checkpoint_and_run_dir_before_making_a_run_folder(
        tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from drac_ssl.umm import cli as umm_cli

    monkeypatch.chdir(tmp_path)
    assert umm_cli.main([str(a_file), "run.device=cpu"]) == 2
    err = capsys.readouterr().err
    assert f"{a_file}: not a safetensors or PyTorch file (it starts with bytes b'image na')" in err, err
    assert not (tmp_path / "runs").exists()  # no runs/default/ with a stale .train.lock
    checkpoint = tmp_path / "vicreg_model.safetensors"
    checkpoint.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")  # a safetensors header: may be one
    assert umm_cli.main([str(checkpoint), "--run-dir", str(a_file / "x"), "run.device=cpu"]) == 2
    err = capsys.readouterr().err
    assert f"{a_file}: is a file, not a folder, so --run-dir {a_file / 'x'} cannot be made there" in err, err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_build_demo_bundle_refuses_sizes_no_model_takes(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle

    for sizes, said in (({"image_size": -5}, "image_size=-5 (1..8192 px)"),
                        ({"source_size": 0}, "source_size=0 (1..8192 px)")):
        with pytest.raises(ValueError, match=rf"^build_demo_bundle: {re.escape(said)}; nothing was written"):
            build_demo_bundle(tmp_path / "demo", **sizes)
        assert not (tmp_path / "demo").exists()
