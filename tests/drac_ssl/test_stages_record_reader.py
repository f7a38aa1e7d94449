"""One reader of a run folder's ``stages.json`` (:func:`drac_ssl.run_state.read_stages_record`).

It was read raw in about 20 places, each with its own handling of a damaged file (not UTF-8,
not JSON, empty, a JSON list): the resume of a finished run took it for "no stage done" and
checked the data again ("no label CSV found here") instead of naming the file; ``run.reuse``
of such a run said its ingest "has not finished"; the export of a run with no bundle said
every stage "not run" and offered a rerun the training refuses; report.md's "Read this
first" told the user to rerun that refused command; ``compare`` said "not UTF-8 text" with
no fix; the bench scripts ended in a JSON traceback."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from drac_ssl.config import ConfigError, load_config

DAMAGED = [  # the bytes, and what the reader says is wrong with them
    (b'{"ingest": {"status": "done"}\xff}', "not UTF-8 (byte 0xff at offset 29)"),
    (b'{"ingest": {"status": "do', "not valid JSON: "),
    (b'[{"ingest": "done"}]', "a JSON list, not an object"),
    (b"", "empty"),
]
IDS = ["not-utf8", "not-json", "list", "empty"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fake_ingest import make_finished_run

    from drac_ssl import report

    done = make_finished_run(tmp_path_factory.mktemp("stages") / "runs" / "done")
    assert report.main([str(done)]) == 0  # once here: the figures' first imports (seconds), not in a test
    return done


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run folder, whose stages.json a test may damage."""
    return Path(shutil.copytree(finished, tmp_path / "runs" / "done", symlinks=True))


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_a_damaged_record_is_empty_to_a_lenient_caller_and_a_clear_error_to_a_strict_one(
        tmp_path: Path, raw: bytes, said: str) -> None:
    from drac_ssl.run_state import read_stages_record, stages_record_damage

    assert read_stages_record(tmp_path) == {} == read_stages_record(tmp_path / "gone", strict=True)
    (tmp_path / "stages.json").write_text('{"ingest": {"status": "done"}}')
    assert read_stages_record(tmp_path, strict=True) == {"ingest": {"status": "done"}}
    assert stages_record_damage(tmp_path) is None
    (tmp_path / "stages.json").write_bytes(raw)
    assert read_stages_record(tmp_path) == {}
    assert stages_record_damage(tmp_path).startswith(said)
    with pytest.raises(ConfigError) as caught:
        read_stages_record(tmp_path, strict=True)
    assert str(caught.value).startswith(f"{tmp_path / 'stages.json'}: damaged: {said}"), caught.value
    assert "\n  fix: if the run had finished, you need not rerun it: " in str(caught.value)


def test_a_record_that_is_a_folder_is_an_oserror_to_a_strict_caller(tmp_path: Path) -> None:
    from drac_ssl.run_state import read_stages_record, stages_record_damage

    (tmp_path / "stages.json").mkdir()
    assert read_stages_record(tmp_path) == {}
    assert stages_record_damage(tmp_path) is None
    with pytest.raises(IsADirectoryError):
        read_stages_record(tmp_path, strict=True)


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_a_resume_names_the_damaged_record_not_the_data(run: Path, raw: bytes, said: str) -> None:
    """Before: the preflight took the finished run for a fresh one and checked its data."""
    from drac_ssl import train

    (run / "stages.json").write_bytes(raw)
    problem = train._existing_run_problem(load_config(run / "config.yaml"), run)
    assert problem.startswith(f"{run / 'stages.json'}: damaged: {said}"), problem
    assert problem.endswith(".\n  or: choose another run.name to start a new run"), problem


def test_the_training_command_refuses_a_damaged_record_with_its_file_and_fix(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import train

    (run / "stages.json").write_bytes(b"")
    assert train.main(["-c", str(run / "config.yaml"), f"run.out_dir={run.parent}", "run.name=done"]) == 2
    said = capsys.readouterr()
    said = said.out + said.err
    assert f"1. {run / 'stages.json'}: damaged: empty" in said, said
    assert "fix: if the run had finished, you need not rerun it" in said, said


def test_the_training_command_says_a_record_it_cannot_read_not_a_traceback(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review R5: a stages.json that is a folder ended the command in an IsADirectoryError traceback."""
    from drac_ssl import train

    (run / "stages.json").unlink()
    (run / "stages.json").mkdir()
    assert train.main(["-c", str(run / "config.yaml"), f"run.out_dir={run.parent}", "run.name=done"]) == 2
    said = capsys.readouterr()
    said = said.out + said.err
    assert f"1. {run / 'stages.json'}: cannot be read (Is a directory)." in said, said
    assert "fix: make it a file this account may read" in said, said
    assert "Traceback" not in said and "or: choose another run.name" in said, said


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_run_reuse_of_a_run_with_a_damaged_record_names_the_file(
        run: Path, tmp_path: Path, raw: bytes, said: str) -> None:
    """Before: "nothing is taken: its ingest stage is not finished (it has not finished in ...)"."""
    from drac_ssl import train

    (run / "stages.json").write_bytes(raw)
    with pytest.raises(ConfigError) as caught:
        train.plan_reuse(load_config(run / "config.yaml"), run, tmp_path / "runs" / "new")
    assert str(caught.value).startswith(f"{run / 'stages.json'}: damaged: {said}"), caught.value
    assert str(caught.value).endswith(".\n  or: run.reuse=another run folder"), caught.value


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_the_report_is_written_and_says_the_record_is_damaged_not_the_run_unfinished(
        run: Path, capsys: pytest.CaptureFixture[str], raw: bytes, said: str) -> None:
    from drac_ssl import report

    (run / "stages.json").write_bytes(raw)
    assert report.main([str(run)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {run / 'stages.json'}: damaged: {said}"), err
    assert "report.md is written without the stages' times" in err, err
    text = (run / "report.md").read_text()
    first = text.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    # not "Unfinished: ingest not run; ...; rerun the same command", which the training refuses
    assert "Unfinished" not in first and f"`stages.json` is damaged ({said}" in first, first
    # review R2: the record is what is deleted, not the run folder "it" read as
    assert "refuses the folder until its `stages.json` is deleted (the run's outputs stay)" in first, first
    times = text.split("## Stage wall times", 1)[1].split("\n## ", 1)[0]
    assert f"`stages.json` is damaged ({said}" in times and "To go on: if the run had finished" in times, times


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_the_export_of_a_run_with_no_bundle_names_the_damaged_record_and_how_to_resume(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: bytes, said: str) -> None:
    """Before: "its training has not finished: ingest not run; ..." and a rerun the training refuses."""
    from drac_ssl import export

    shutil.rmtree(run / "bundle")
    (run / "stages.json").write_bytes(raw)
    assert export.main([str(run), "--images", str(run / "images"), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert f"its stages.json is damaged ({said}" in err and "not run" not in err, err
    # review R3: the fine-tuning finished, so its selected variant grades first, losing nothing;
    # deleting the record (its stage times; with run.keep_checkpoints=false a retraining) comes after
    selected = json.loads((run / "finetune" / "summary.json").read_text())["selected"]
    variant = f"-m drac_ssl.export {run} --variant {selected} --images DIR --out FILE.csv; or, to finish the run"
    assert "fix: its fine-tuning finished: grade with the variant it selected" in err and variant in err, err
    assert err.index(variant) < err.index(f"delete {run / 'stages.json'}, then finish the run with its own command"), err


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_compare_reads_a_run_with_a_damaged_record_and_notes_it(tmp_path: Path, raw: bytes, said: str) -> None:
    """Review R4: compare refused the run, though it reads only the reuse and fold notes there."""
    from drac_ssl.compare import compare_runs, read_run
    from tests.drac_ssl.test_compare import make_run

    run = make_run(tmp_path, "base")
    (run / "stages.json").write_text(json.dumps({"pretrain": {"status": "done", "reused_from": "/runs/a"}}))
    assert read_run(run).reused == {"pretrain": "/runs/a"} and read_run(run).stages_damage is None
    (run / "stages.json").write_bytes(raw)
    damaged = read_run(run)
    assert damaged.reused == {} and damaged.stages_damage.startswith(said), damaged.stages_damage
    text = compare_runs([run], n_boot=20).markdown()
    assert f"- `base`: its stages.json is damaged ({said}" in text, text
    assert "read as none: a stage it took by run.reuse, and the code of each stage, are not said." in text, text
    (run / "stages.json").unlink()  # none: a run not made by the orchestrator, read as before
    assert read_run(run).reused == {} and read_run(run).stages_damage is None


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_a_bench_script_names_the_damaged_record_not_a_traceback(tmp_path: Path, raw: bytes, said: str) -> None:
    from bench.common import run_stages

    with pytest.raises(SystemExit, match="no such file"):
        run_stages(tmp_path)
    (tmp_path / "stages.json").write_text(json.dumps({"pretrain": {"seconds": 2.0}}))
    assert run_stages(tmp_path) == {"pretrain": {"seconds": 2.0}}
    (tmp_path / "stages.json").write_bytes(raw)
    with pytest.raises(SystemExit) as caught:
        run_stages(tmp_path)
    assert str(caught.value.code).startswith(f"[bench] {tmp_path / 'stages.json'}: damaged: {said}"), caught.value


def test_a_bench_script_says_a_folder_named_stages_json_cannot_be_read(tmp_path: Path) -> None:
    """A reviewer's finding: run_stages tested is_file(), so a folder of that name was "no such
    file ... ended before its first stage"."""
    from bench.common import run_stages

    (tmp_path / "stages.json").mkdir()
    with pytest.raises(SystemExit) as caught:
        run_stages(tmp_path)
    assert str(caught.value.code) == f"[bench] {tmp_path / 'stages.json'}: cannot be read (Is a directory)"


@pytest.mark.parametrize(("raw", "said"), DAMAGED, ids=IDS)
def test_the_epochs_bench_notes_a_damaged_record_of_its_starting_weights(
        tmp_path: Path, raw: bytes, said: str) -> None:
    """Review R6: the bench stopped (SystemExit) though it wants only the pretraining's seconds."""
    from bench.retinamnist_epochs import initial_weights

    weights = tmp_path / "pretrain" / "backbone.safetensors"
    override = [f"pretrain.backbone.weights={weights}"]
    (tmp_path / "stages.json").write_text(json.dumps({"pretrain": {"seconds": 12.5}}))
    assert initial_weights(override) == {"file": str(weights), "pretrain_seconds": 12.5}
    (tmp_path / "stages.json").write_bytes(raw)
    record = initial_weights(override)
    assert record["pretrain_seconds"] is None, record
    assert record["note"].startswith(f"{tmp_path / 'stages.json'} is damaged ({said}"), record
    assert record["note"].endswith("): its pretraining's seconds are unknown"), record


def test_run_reuse_of_a_run_whose_record_cannot_be_read_names_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reviewer's finding: plan_reuse caught ConfigError only, so a stages.json this account
    may not read (no permission: root reads anything, hence the stand-in) ended in an OSError
    traceback; the resume's own check (_existing_run_problem) already said the file and a fix."""
    from drac_ssl import train

    source = tmp_path / "runs" / "done"
    source.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[2] / "configs" / "mnist.yaml", source / "config.yaml")
    (source / "stages.json").write_text("{}", encoding="utf-8")

    def unreadable(run_dir: Path, strict: bool = False) -> dict:
        raise PermissionError(13, "Permission denied", str(Path(run_dir) / "stages.json"))

    monkeypatch.setattr(train, "read_stages_record", unreadable)
    with pytest.raises(ConfigError) as caught:
        train.plan_reuse(load_config(source / "config.yaml"), source, tmp_path / "runs" / "new")
    said = str(caught.value)
    assert said.startswith(f"{source / 'stages.json'}: cannot be read (Permission denied).\n  fix: "), said
    assert said.endswith("\n  or: run.reuse=another run folder"), said
