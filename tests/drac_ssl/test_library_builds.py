"""Library builds in run folders: the same versions from other wheels can give other figures
(opencv-python-headless 5.0.0.93's manylinux2014 wheel moved the default job's out-of-fold
figures in a hand comparison of two clones' runs), so every run records which builds made it."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import torch

from drac_ssl import runtime


def _install(site: Path, record: str, wheel: str | None = "Tag: cp311-cp311-manylinux_2_28_x86_64\n",
             installer: str = "pip") -> importlib.metadata.Distribution:
    info = site / "fakecv-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakecv\nVersion: 1.0\n")
    (info / "INSTALLER").write_text(installer + "\n")
    if wheel is not None:
        (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + wheel)
    if record:
        (info / "RECORD").write_text(record)
    return importlib.metadata.PathDistribution(info)


LIBRARY = "fakecv/__init__.py,sha256=aaa,10\nfakecv/cv.abi3.so,sha256=bbb,99\n"


def test_the_same_wheel_reads_the_same_whatever_installed_it_and_where(tmp_path: Path) -> None:
    pip = _install(tmp_path / "a", LIBRARY + "fakecv/__pycache__/__init__.cpython-311.pyc,,\n"
                   "../../../bin/fakecv,sha256=ccc,50\nfakecv-1.0.dist-info/INSTALLER,sha256=ddd,4\n"
                   "fakecv-1.0.dist-info/RECORD,,\n")
    uv = _install(tmp_path / "b", "fakecv-1.0.dist-info/INSTALLER,sha256=eee,3\n"
                  "../../../../elsewhere/bin/fakecv,sha256=fff,61\n" + LIBRARY, installer="uv")
    words = runtime.build_words(pip)
    assert words.startswith("1.0, wheel cp311-cp311-manylinux_2_28_x86_64, files "), words
    assert runtime.build_words(uv) == words


def test_another_build_of_the_same_version_reads_differently(tmp_path: Path) -> None:
    made = runtime.build_words(_install(tmp_path / "a", LIBRARY))
    other_binary = runtime.build_words(_install(tmp_path / "b", LIBRARY.replace("bbb", "BBB")))
    other_tag = runtime.build_words(_install(tmp_path / "c", LIBRARY,
                                             wheel="Tag: cp37-abi3-manylinux2014_x86_64\n"))
    assert len({made, other_binary, other_tag}) == 3
    assert "wheel cp37-abi3-manylinux2014_x86_64" in other_tag
    assert runtime.build_words(_install(tmp_path / "d", LIBRARY, wheel=None)).startswith(
        "1.0, not from a wheel, files ")
    assert runtime.build_words(_install(tmp_path / "e", "")) == (
        "1.0, wheel cp311-cp311-manylinux_2_28_x86_64, no file list")


def test_this_process_s_builds_name_the_installed_versions() -> None:
    builds = runtime.library_builds()
    assert builds["torch"].startswith(torch.__version__.split("+")[0]), builds
    assert builds["numpy"].startswith(np.__version__ + ", "), builds
    assert any(name.startswith("opencv") for name in builds), builds
    builds["torch"] = "changed"  # a copy: the cached record is not the caller's to change
    assert runtime.library_builds()["torch"] != "changed"
    env = runtime.environment_info()
    assert env["builds"] == runtime.library_builds()
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # AVX2 here, AVX512 ...


def test_build_changes_name_each_library_that_differs_and_only_those() -> None:
    made = {"torch": "2.14.1, wheel A, files 1", "opencv-python-headless": "5.0.0.93, wheel B, files 2",
            "monai": "1.6.1, wheel C, files 3"}
    now = {"torch": "2.14.1, wheel A, files 1", "opencv-python-headless": "5.0.0.93, wheel D, files 4",
           "pillow": "12.3.0, wheel E, files 5"}
    changes = runtime.build_changes(made, now)
    assert changes == {"monai": {"made": "1.6.1, wheel C, files 3", "now": None},
                       "opencv-python-headless": {"made": "5.0.0.93, wheel B, files 2",
                                                  "now": "5.0.0.93, wheel D, files 4"},
                       "pillow": {"made": None, "now": "12.3.0, wheel E, files 5"}}
    assert runtime.build_change_words(changes) == (
        "monai 1.6.1, wheel C, files 3 -> not installed; opencv-python-headless 5.0.0.93, wheel B, "
        "files 2 -> 5.0.0.93, wheel D, files 4; pillow not installed -> 12.3.0, wheel E, files 5")
    assert runtime.build_changes(None, now) == {} and runtime.build_changes(made, dict(made)) == {}
