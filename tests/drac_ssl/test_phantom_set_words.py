"""What the default run says of the phantom set it writes (a packaging trial, F6): it said it
"uses the embedded phantom set", read as a set inside the package, while it generated 846 MB
(997 images) into ./data/phantom of the current folder; and the end-of-run note named only the
first try's folder as deletable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drac_ssl import train


def test_the_ingest_says_it_generates_the_set_into_a_folder_of_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("data") / "phantom" / "seed0-train611-test386"
    line = train.phantom_start_line(root, 997, reused=False)
    assert line == (f"[ingest] data.root is empty: generating the embedded phantom UW-OCTA set (997 synthetic "
                    f"images, about 842 MiB, an estimate at 0.845 MiB per image) into {tmp_path / root}, under "
                    f"the current folder")
    assert train.phantom_start_line(root, 997, reused=True) == (
        f"[ingest] data.root is empty: reusing the embedded phantom UW-OCTA set generated earlier in {tmp_path / root}")


def test_the_size_said_before_generating_is_near_a_rendered_images_file() -> None:
    """A trial user: the start line gave the image count, not the ~844 MiB it writes into the
    current folder; its per-image estimate stays within 5% of a rendered phantom's PNG."""
    from data_prep import phantom

    for grade in (0, 1, 2):
        size = len(phantom.encode_phantom_png(phantom.phantom_image(0, grade, grade))) / 2**20
        assert abs(size - phantom.PNG_MIB_ESTIMATE) < 0.05 * phantom.PNG_MIB_ESTIMATE, (grade, size)


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


def _write_complete_set(folder: Path, n_train: int, n_test: int) -> None:
    """What :func:`data_prep.phantom.generate` leaves (seed 0), with 1 MiB in all of blank
    images: :func:`data_prep.phantom.holds_set` finds it complete."""
    from data_prep import phantom

    plan = phantom.plan_phantom(n_train, n_test, 0)
    for sub, cases in ((phantom.TRAIN_IMAGE_DIR, plan.train), (phantom.TEST_IMAGE_DIR, plan.test)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for case in cases:
            (folder / sub / case.name).write_bytes(b"")
    (folder / phantom.LABELS_CSV).parent.mkdir(parents=True, exist_ok=True)
    (folder / phantom.LABELS_CSV).write_text("image name,DR grade\n")
    (folder / "images" / "1.png").write_bytes(b"\0" * 2**20)
    (folder / phantom.MANIFEST_NAME).write_text(json.dumps({"params": phantom._params(n_train, n_test, 0, 1024)}))


class _IngestReached(Exception):
    """Raised by the stubbed ingest: the phantom set's lines are printed by then."""


def test_an_interrupted_generation_is_generated_again_and_its_size_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A set's folder without its phantom.json (written last: a generation interrupted) is
    generated again, said so, and its size said after; a complete one is reused, with no size
    line (a mutation audit M22, M23: either way the folder exists)."""
    from data_prep import ingest, phantom

    monkeypatch.chdir(tmp_path)
    cfg = train.load_config(train.DEFAULT_CONFIG, ["data.phantom_n_train=15", "data.phantom_n_test=3"])
    root = train.phantom_root(cfg)
    (root / "images").mkdir(parents=True)  # what an interrupted generation left
    generated: list[Path] = []

    def generate(folder: Path, **kwargs: object) -> None:
        generated.append(folder)
        _write_complete_set(folder, 15, 3)

    def stop(*args: object, **kwargs: object) -> None:
        raise _IngestReached

    monkeypatch.setattr(phantom, "generate", generate)
    monkeypatch.setattr(ingest, "run", stop)
    with pytest.raises(_IngestReached):
        train.stage_ingest(cfg, tmp_path / "run")
    out = capsys.readouterr().out
    assert generated == [root]
    assert out.startswith(train.phantom_start_line(root, 18, reused=False)), out
    assert f"[ingest] the phantom set takes 1.0 MiB in {root.absolute()}\n" in out, out
    with pytest.raises(_IngestReached):  # complete now: reused, no size line
        train.stage_ingest(cfg, tmp_path / "run")
    out = capsys.readouterr().out
    assert out.startswith(train.phantom_start_line(root, 18, reused=True)), out
    assert "MiB" not in out and "generating" not in out, out
    # a final review (F13): images deleted, phantom.json kept: generate() makes them again, which
    # was said as "reusing ... generated earlier", with no size line
    next((root / phantom.TRAIN_IMAGE_DIR).glob("*.png")).unlink()
    with pytest.raises(_IngestReached):
        train.stage_ingest(cfg, tmp_path / "run")
    out = capsys.readouterr().out
    assert out.startswith(train.phantom_start_line(root, 18, reused=False)), out
    assert f"[ingest] the phantom set takes 1.0 MiB in {root.absolute()}\n" in out, out
    assert generated == [root, root, root]


def test_a_run_on_a_data_root_ends_without_the_phantom_note(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A run with data.root did not touch the phantom set, even where an earlier run left one in
    ./data/phantom: its end names no phantom set to delete (a mutation audit M24)."""
    monkeypatch.chdir(tmp_path)
    args = ["data.phantom_n_train=15", "data.phantom_n_test=3", "data.n_folds=2", "data.workers=1", "run.device=cpu",
            "run.name=own-data", "run.stages=[ingest]"]
    root = train.phantom_root(train.load_config(train.DEFAULT_CONFIG, args))
    root.mkdir(parents=True)  # an earlier run's set, in this folder
    (root / "1.png").write_bytes(b"\0" * 2**20)
    own = tmp_path / "own"  # a folder of one's own: 6 graded images (never opened: ingest stubbed)
    own.mkdir()
    for i in range(6):
        (own / f"{i}.png").write_bytes(b"\0" * 16)
    (own / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{i}.png,{i % 3}\n" for i in range(6)))
    monkeypatch.setitem(train.STAGES, "ingest", lambda cfg, run_dir: {})
    assert train.main([*args, f"data.root={own}"]) == 0
    out = capsys.readouterr().out
    assert "[train] " in out and "note: the phantom set" not in out, out
    # the counts that put the earlier set in this folder are warned unused (not the note's words)
    assert "data.phantom_n_test=3 (command line 'data.phantom_n_test=3'): set but not used" in out, out
