"""torch and torchvision checked before either loads (a user's report): torchvision 0.29.1 on
torch 2.13 gave ``error: operator torchvision::nms does not exist`` in the export and tracebacks
in the app and ``app.demo_bundle``; torchvision missing gave ``ModuleNotFoundError``
tracebacks. :func:`drac_ssl.torch_pair.torch_pair_problem` says what is wrong and the
``pip install`` that fixes it; the commands exit with the usage error's code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from drac_ssl.exit_codes import USAGE_ERROR
from drac_ssl.torch_pair import (
    TESTED_PAIR,
    TORCH_RANGE,
    TORCHVISION_MINOR_OFFSET,
    TORCHVISION_RANGE,
    torch_pair_problem,
    torch_pair_refusal,
    torch_pair_warning,
)

REPO = Path(__file__).resolve().parents[2]
FIX = "pip install torch==2.14.1 torchvision==0.29.1"


@pytest.mark.parametrize("pair", [("2.14.1", "0.29.1"), ("2.11.0+cu126", "0.26.0+cu126"),
                                  ("2.13.0", "0.28.1"), ("2.12.1", "0.27.1+cpu")])
def test_a_supported_matching_pair_is_fine(pair: tuple[str, str]) -> None:
    assert torch_pair_problem(*pair) is None


@pytest.mark.parametrize(("torch", "vision", "built_for"), [("2.13.0", "0.29.1", "2.14"),
                                                            ("2.14.1+cu126", "0.26.0", "2.11")])
def test_a_mismatched_pair_is_refused_naming_both_versions(torch: str, vision: str, built_for: str) -> None:
    said = torch_pair_problem(torch, vision)
    assert said is not None
    assert f"torchvision {vision} is built for torch {built_for}, not the installed torch {torch}" in said
    assert FIX in said and "\n  fix: " in said
    # the torchvision that keeps the installed torch, as an alternative
    n = int(torch.split(".")[1]) + TORCHVISION_MINOR_OFFSET
    assert f'"torchvision>=0.{n},<0.{n + 1}"' in said


def test_a_missing_torchvision_or_torch_is_refused_with_the_install_command() -> None:
    said = torch_pair_problem("2.14.1", None)
    assert said is not None and said.startswith("torchvision is not installed (torch 2.14.1 is;")
    assert FIX in said
    said = torch_pair_problem(None, "0.29.1")
    assert said is not None and said.startswith("torch is not installed (torchvision 0.29.1 is;") and FIX in said
    said = torch_pair_problem(None, None)
    assert said is not None and said.startswith("torch and torchvision are not installed") and FIX in said


@pytest.mark.parametrize(("torch", "vision", "which"), [("2.10.0", "0.25.0", "torch 2.10.0 and torchvision 0.25.0 are"),
                                                        ("2.15.0", "0.30.0", "torch 2.15.0 and torchvision 0.30.0 are"),
                                                        ("2.15.0.dev20260101", "", "torch 2.15.0.dev20260101 is")])
def test_a_matching_pair_outside_the_supported_ranges_is_a_warning_not_a_refusal(
        torch: str, vision: str, which: str) -> None:
    """Review F4: torch 2.15 + torchvision 0.30 (a matching pair, e.g. a GPU image's, where pip
    cannot reach the network) was refused for every command; now each goes on, warned."""
    assert torch_pair_problem(torch, vision) is None
    said = torch_pair_warning(torch, vision)
    assert said is not None and said.startswith(f"{which} outside the versions drac_ssl is tested on")
    assert "torch>=2.11,<2.15" in said and "torchvision>=0.26,<0.30" in said and FIX in said
    assert torch_pair_warning(*TESTED_PAIR) is None


@pytest.mark.parametrize(("torch", "vision", "built_for"), [("2.14.1", "0.30.0", "2.15"),
                                                            ("2.15.0", "0.29.1", "2.14"),
                                                            ("2.10.0", "0.30.0", "2.15")])
def test_a_mismatched_pair_outside_the_ranges_is_still_refused(torch: str, vision: str, built_for: str) -> None:
    said = torch_pair_problem(torch, vision)
    assert said is not None and f"torchvision {vision} is built for torch {built_for}" in said and FIX in said
    assert torch_pair_warning(torch, vision) is None  # the refusal says it


def test_the_warning_is_said_once_and_the_command_goes_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import torch_pair

    versions = {"torch": "2.15.0", "torchvision": "0.30.0"}
    monkeypatch.setattr(torch_pair, "installed_version", versions.get)
    monkeypatch.setattr(torch_pair, "_warned", False)
    torch_pair.exit_on_bad_torch_pair()  # no SystemExit
    torch_pair.exit_on_bad_torch_pair()
    err = capsys.readouterr().err
    assert err.count("warning: torch 2.15.0 and torchvision 0.30.0 are outside") == 1, err
    versions["torchvision"] = "0.29.1"
    with pytest.raises(SystemExit) as caught:
        torch_pair.exit_on_bad_torch_pair()
    assert caught.value.code == USAGE_ERROR and "is built for torch 2.14" in capsys.readouterr().err


def test_a_version_that_cannot_be_read_is_not_judged() -> None:
    """An importable package without metadata (a build from source): nothing to compare."""
    assert torch_pair_problem("2.14.1", "") is None and torch_pair_problem("", "0.29.1") is None


def test_the_ranges_and_the_pair_are_those_of_pyproject_and_the_pins() -> None:
    """The package's one copy of the supported ranges is in step with pyproject.toml's
    dependencies, and the fix installs scripts/requirements-cpu.txt's pinned pair."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]

    def spec(name: str, bounds: tuple[tuple[int, int], tuple[int, int]]) -> None:
        (a, b), (c, d) = bounds
        assert f"{name}>={a}.{b},<{c}.{d}" in [x.replace(" ", "") for x in deps], (name, deps)

    spec("torch", TORCH_RANGE)
    spec("torchvision", TORCHVISION_RANGE)
    pins = dict(re.findall(r"^(torch|torchvision)==(\S+)", (REPO / "scripts" / "requirements-cpu.txt")
                           .read_text(encoding="utf-8"), re.M))
    assert (pins["torch"], pins["torchvision"]) == TESTED_PAIR
    assert torch_pair_problem(*TESTED_PAIR) is None
    # every supported torch has its torchvision inside the range, and the range's ends pair up
    for minor in range(TORCH_RANGE[0][1], TORCH_RANGE[1][1]):
        assert torch_pair_problem(f"2.{minor}.0", f"0.{minor + TORCHVISION_MINOR_OFFSET}.0") is None
    assert (TORCH_RANGE[0][1] + TORCHVISION_MINOR_OFFSET, TORCH_RANGE[1][1] + TORCHVISION_MINOR_OFFSET) == (
        TORCHVISION_RANGE[0][1], TORCHVISION_RANGE[1][1])


def test_this_environment_passes() -> None:
    assert torch_pair_refusal() is None


def test_the_commands_refuse_a_mismatched_pair_before_torch_loads(tmp_path: Path) -> None:
    """A torchvision 0.28.0 on this torch (its metadata first on the path, as a second
    install would be): export, train, the app and app.demo_bundle each say the problem and the
    fix, exit 2, without a traceback, and the demo writes nothing."""
    from drac_ssl.torch_pair import installed_version

    torch = installed_version("torch")
    if not torch or not torch.startswith("2.14."):
        pytest.skip(f"the fake torchvision 0.28.0 mismatches torch 2.14 only, not torch {torch}")
    site = tmp_path / "site"
    info = site / "torchvision-0.28.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n")
    bundle = tmp_path / "bundle"  # a bundle folder by its paths (what the app checks before torch)
    bundle.mkdir()
    (bundle / "metadata.json").write_text("{}")
    (bundle / "MODEL_CARD.md").write_text("card")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    commands = {
        "drac_ssl.export": [str(tmp_path / "run"), "--images", str(tmp_path), "--out", str(tmp_path / "s.csv")],
        "drac_ssl.train": [f"run.out_dir={tmp_path / 'runs'}"],
        "app": ["--bundle", str(bundle), "--temp-dir", str(tmp_path)],
        "app.demo_bundle": [str(tmp_path / "demo")],
    }
    for module, args in commands.items():
        proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        err = proc.stderr
        assert proc.returncode == USAGE_ERROR, (module, proc.returncode, err)
        assert "Traceback" not in err, (module, err)
        assert f"error: torchvision 0.28.0 is built for torch 2.13, not the installed torch {torch}" in err, (module, err)
        assert FIX in err, (module, err)
    assert not (tmp_path / "demo").exists() and not (tmp_path / "runs").exists()
