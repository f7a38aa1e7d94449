"""A bench's data path and its missing-data error (course review F2).

bench.cifar10_vicreg, bench.quick_check and bench.low_label read the configs' ``../shared/data``
whatever ``DRAC_SSL_SHARED_DATA`` said (bench.common's docstring says the benches read it), and
data missing under the path ended in a 25-line traceback ending in FileNotFoundError."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import common, pretraining
from drac_ssl import datasets
from drac_ssl.config import PACKAGE_CONFIGS


@pytest.mark.parametrize(("config", "rest"), [("mnist.yaml", "mnist"), ("cifar10.yaml", "cifar10/cifar10_jpeg.tar.xz")])
def test_a_configs_shared_data_path_follows_the_shared_data_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, rest: str) -> None:
    monkeypatch.setenv(common.SHARED_DATA_ENV, str(tmp_path / "team"))
    assert common.data_root(PACKAGE_CONFIGS / config, None, []) == str(tmp_path / "team" / rest)
    # --data and a data.root= override still come first
    assert common.data_root(PACKAGE_CONFIGS / config, "elsewhere", []) == "elsewhere"
    assert common.data_root(PACKAGE_CONFIGS / config, None, ["data.root=there"]) == "there"


def test_missing_data_ends_a_bench_in_two_lines_and_exit_code_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def bench(argv: list[str] | None) -> None:
        datasets.mnist_files(tmp_path / "nothing", "train")  # the loaders' own error, no run

    with pytest.raises(SystemExit) as stop:
        pretraining.run_bench_main(bench, [])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("error: MNIST train not found under"), err
    assert err[1].startswith("fix: --data PATH (or DRAC_SSL_SHARED_DATA="), err


def test_a_fault_that_is_no_data_error_keeps_its_traceback() -> None:
    def bench(argv: list[str] | None) -> None:
        raise ValueError("a bug, not the data")

    with pytest.raises(ValueError, match="a bug"):
        pretraining.run_bench_main(bench, [])


@pytest.mark.parametrize("given", [["--data", "elsewhere/mnist"], ["--data=elsewhere/mnist"],
                                   ["data.root=elsewhere/mnist"]])
def test_a_typed_data_path_is_fixed_with_data_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str]) -> None:
    """Review F2: with --data or data.root= typed the shared-data variable is not read, yet the fix
    line offered it."""
    def bench(argv: list[str] | None) -> None:
        datasets.mnist_files(tmp_path / "nothing", "train")

    with pytest.raises(SystemExit):
        pretraining.run_bench_main(bench, ["--test-images", "200", *given])
    fix = capsys.readouterr().err.strip().splitlines()[-1]
    assert fix.startswith("fix: --data PATH, the data set's own folder"), fix
    assert "DRAC_SSL_SHARED_DATA" not in fix, fix


def test_a_damaged_data_file_keeps_its_own_fix_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: a damaged MNIST .gz said "fix: copy ... again" and then "fix: --data PATH ...",
    which points at another path where the path was right."""
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_text("x\n")

    def bench(argv: list[str] | None) -> None:
        datasets.load_mnist(tmp_path, "train")

    with pytest.raises(SystemExit) as stop:
        pretraining.run_bench_main(bench, [])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "the file is damaged" in err and err.count("fix:") == 1 and "--data PATH" not in err, err
