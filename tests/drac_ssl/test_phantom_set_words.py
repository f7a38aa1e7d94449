"""What the default run says of the phantom set it writes (a packaging trial, F6): it said it
"uses the embedded phantom set", read as a set inside the package, while it generated 846 MB
(997 images) into ./data/phantom of the current folder; and the end-of-run note named only the
first try's folder as deletable."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import train


def test_the_ingest_says_it_generates_the_set_into_a_folder_of_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("data") / "phantom" / "seed0-train611-test386"
    line = train.phantom_start_line(root, 997, reused=False)
    assert line == (f"[ingest] data.root is empty: generating the embedded phantom UW-OCTA set (997 synthetic "
                    f"images) into {tmp_path / root}, under the current folder")
    assert train.phantom_start_line(root, 997, reused=True) == (
        f"[ingest] data.root is empty: reusing the embedded phantom UW-OCTA set generated earlier in {tmp_path / root}")


def test_the_end_of_run_note_names_the_phantom_set_and_its_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("data") / "phantom" / "seed0-train2-test1"
    (root / "images").mkdir(parents=True)
    (root / "images" / "1.png").write_bytes(b"\0" * 2**20)
    (root / "images" / "2.png").write_bytes(b"\0" * 2**20)
    assert train.phantom_size_line(root) == (
        f"note: the phantom set {tmp_path / root} (2.0 MiB) can be deleted too once no run needs it: later "
        f"runs from this folder without data.root reuse it, or generate it again")


def test_a_run_on_the_phantom_set_ends_with_the_note(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The note is printed at the end of a run whose empty data.root ran on the phantom set
    (its ingest stubbed: the set's folder as a run leaves it)."""
    monkeypatch.chdir(tmp_path)
    args = ["data.phantom_n_train=15", "data.phantom_n_test=3", "data.n_folds=2", "data.workers=1", "run.device=cpu",
            "run.name=phantom-note", "run.stages=[ingest]"]
    root = train.phantom_root(train.load_config(train.DEFAULT_CONFIG, args))
    root.mkdir(parents=True)
    (root / "1.png").write_bytes(b"\0" * 2**20)
    monkeypatch.setitem(train.STAGES, "ingest", lambda cfg, run_dir: {})
    assert train.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"[train] {train.phantom_size_line(root)}", lines[-3:]
    assert f"note: the phantom set {tmp_path / root} (1.0 MiB) can be deleted too" in lines[-1]
