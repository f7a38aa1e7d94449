"""bench/common.py's result file: the code a run measured is the code at its start, and a
change during the run is recorded beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from git_in_tests import isolated_git, run_git


def _code(monkeypatch: pytest.MonkeyPatch, commit: str, dirty: bool | list[str]) -> None:
    """The checkout at ``commit``; ``dirty``: the changed code files (True: one, ``x.py``)."""
    import drac_ssl.runtime as runtime
    from bench import common

    files = (["x.py"] if dirty else []) if isinstance(dirty, bool) else dirty
    monkeypatch.setattr(runtime, "git_commit", lambda: commit)
    monkeypatch.setattr(runtime, "git_dirty", lambda: bool(files))
    # the real checkout's full SHA and diff would not be this made-up commit's
    monkeypatch.setattr(runtime, "git_changes", lambda: {})
    monkeypatch.setattr(common, "dirty_code_files", lambda repo=None: list(files))


def test_a_run_whose_commit_changes_midway_records_the_commit_at_both_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import common

    _code(monkeypatch, "aaaa111", False)
    started = common.run_start()
    _code(monkeypatch, "bbbb222", True)  # a commit, then an edit, while the bench runs
    record = json.loads(common.write_result("fake", {"figure": 1}, tmp_path, started=started)
                        .read_text(encoding="utf-8"))
    env = record["environment"]
    assert (env["git_commit"], env["git_dirty"]) == ("aaaa111", False)  # what ran
    assert (env["git_commit_at_end"], env["git_dirty_at_end"]) == ("bbbb222", True)
    assert record["started_utc"] == started.started_utc
    assert record["started_utc"] <= record["finished_utc"] == record["date_utc"]
    assert record["figure"] == 1


def test_the_start_defaults_to_when_the_bench_script_imported_bench_common(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import common

    monkeypatch.setattr(common, "RUN_START", common.RunStart("2020-01-01T00:00:00+00:00", "aaaa111", False))
    _code(monkeypatch, "aaaa111", False)
    record = json.loads(common.write_result("fake", {}, tmp_path).read_text(encoding="utf-8"))
    assert record["started_utc"] == "2020-01-01T00:00:00+00:00"
    env = record["environment"]
    assert env["git_commit"] == env["git_commit_at_end"] == "aaaa111"
    assert env["git_dirty"] is env["git_dirty_at_end"] is False


def _git(repo: Path, *args: str) -> None:
    run_git(repo, *args, user="t")


def test_only_changed_code_makes_a_checkout_dirty(tmp_path: Path) -> None:
    """A bench that writes two result files (low_label, umm_ablation) saw the first as an
    uncommitted change when writing the second; results and documents are not code."""
    from bench.common import dirty_code_files

    for name in ("bench/results/x.json", "bench/results/x.csv", "README.md", "docs/design.md",
                 "drac_ssl/model.py", "bench/x.py", "configs/default.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("0\n", encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "c")
    assert dirty_code_files(tmp_path) == []
    for name in ("bench/results/x.json", "bench/results/x.csv", "README.md", "docs/design.md"):
        (tmp_path / name).write_text("1\n", encoding="utf-8")
    (tmp_path / "untracked.py").write_text("1\n", encoding="utf-8")  # not in git: not the code measured
    assert dirty_code_files(tmp_path) == []
    (tmp_path / "drac_ssl/model.py").write_text("1\n", encoding="utf-8")
    (tmp_path / "configs/default.yaml").write_text("1\n", encoding="utf-8")
    _git(tmp_path, "add", "configs/default.yaml")  # staged counts too
    assert dirty_code_files(tmp_path) == ["configs/default.yaml", "drac_ssl/model.py"]
    _git(tmp_path, "mv", "bench/x.py", "bench/y.py")  # a rename: both names
    assert dirty_code_files(tmp_path) == ["bench/x.py", "bench/y.py", "configs/default.yaml",
                                          "drac_ssl/model.py"]
    assert dirty_code_files(tmp_path / "nowhere") is None  # no checkout: unknown


def test_the_result_file_names_the_uncommitted_code_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import common

    _code(monkeypatch, "aaaa111", [f"drac_ssl/m{i:02d}.py" for i in range(25)])
    started = common.run_start()
    _code(monkeypatch, "aaaa111", [])  # committed during the run
    env = json.loads(common.write_result("fake", {}, tmp_path, started=started)
                     .read_text(encoding="utf-8"))["environment"]
    assert env["git_dirty"] is True and env["git_dirty_file_count"] == 25
    assert env["git_dirty_files"] == [f"drac_ssl/m{i:02d}.py" for i in range(common.DIRTY_FILES_SHOWN)]
    assert env["git_dirty_at_end"] is False and env["git_dirty_files_at_end"] == []
    assert env["git_dirty_file_count_at_end"] == 0
    assert "bench/results/*" in env["git_dirty_not_code"] and "*.md" in env["git_dirty_not_code"]


def test_the_benches_read_the_real_data_where_the_tests_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # DRAC_SSL_SHARED_DATA moved the tests' real data but not the benches' (review s49)
    from bench.common import REPO, shared_data_folder

    assert shared_data_folder({}) == REPO.parent / "shared" / "data"
    assert shared_data_folder({"DRAC_SSL_SHARED_DATA": str(tmp_path)}) == tmp_path
    monkeypatch.chdir(tmp_path)
    assert shared_data_folder({"DRAC_SSL_SHARED_DATA": "mine"}) == tmp_path / "mine"  # from the current folder


def test_a_code_stamp_names_the_code_a_device_run_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The device copy's .git named an earlier commit than the code sent (README, RetinaMNIST
    300 epochs): with DRAC_SSL_CODE_STAMP the result file takes the stamp's commit and says so."""
    from bench import common

    _code(monkeypatch, "old0000", False)  # what the stale .git copy says
    stamp = tmp_path / "code_version.txt"
    stamp.write_text("# comment\ncommit 785295fabcdef0123456789abcdef0123456789\nwritten_utc 2026-12-05T10:00:00Z\n"
                     "changed  M drac_ssl/model.py\nchanged M  README.md\nchanged  M \"bench/a b.py\"\n",
                     encoding="utf-8")
    monkeypatch.setenv("DRAC_SSL_CODE_STAMP", str(stamp))
    started = common.run_start()
    assert (started.git_commit, started.git_dirty) == ("785295f", True)
    assert started.git_dirty_files == ("bench/a b.py", "drac_ssl/model.py")  # README.md is not code
    env = json.loads(common.write_result("fake", {}, tmp_path, started=started).read_text(encoding="utf-8"))["environment"]
    assert env["code_source"] == "code_stamp" and env["git_commit"] == env["git_commit_at_end"] == "785295f"
    assert env["git_commit_checkout"] == "old0000" and env["git_dirty_file_count_at_end"] == 2
    assert env["code_stamp"] == {"file": str(stamp), "commit": "785295fabcdef0123456789abcdef0123456789",
                                 "written_utc": "2026-12-05T10:00:00Z", "matches_tree": None}  # no sums: unchecked
    monkeypatch.setenv("DRAC_SSL_CODE_STAMP", "")  # empty: git, as without the variable
    env = json.loads(common.write_result("fake", {}, tmp_path, started=common.run_start())
                     .read_text(encoding="utf-8"))["environment"]
    assert env["code_source"] == "git" and env["git_commit"] == "old0000" and "code_stamp" not in env


def _sums_of(stamp: Path, *names: str, wrong: str = "") -> None:
    """code_files.sha256 beside ``stamp``: the sha256 of the repository files ``names`` (the
    tree the package runs from), that of ``wrong`` altered."""
    import hashlib

    from bench.common import REPO

    lines = []
    for name in names:
        digest = hashlib.sha256((REPO / name).read_bytes()).hexdigest()
        lines.append(f"{'0' * 64 if name == wrong else digest}  {name}\n")
    (stamp.parent / "code_files.sha256").write_text("".join(lines), encoding="utf-8")


def test_a_stamp_whose_files_differ_from_the_tree_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stamp left by an earlier 'prepare' named code the device did not run: its sums
    (code_files.sha256) are checked against the tree; when a file differs the commit is git's
    and the record says the stamp did not match, naming the file. The run folders'
    environment (drac_ssl.runtime) reads the same stamp the same way."""
    import drac_ssl.runtime as runtime
    from bench import common

    _code(monkeypatch, "old0000", False)
    stamp = tmp_path / "code_version.txt"
    stamp.write_text("commit 785295fabcdef0123456789abcdef0123456789\nwritten_utc 2026-12-05T10:00:00Z\n",
                     encoding="utf-8")
    _sums_of(stamp, "pyproject.toml", "bench/common.py")
    monkeypatch.setenv("DRAC_SSL_CODE_STAMP", str(stamp))
    started = common.run_start()
    assert started.git_commit == "785295f" and started.code_stamp is not None
    env = json.loads(common.write_result("fake", {}, tmp_path, started=started).read_text(encoding="utf-8"))["environment"]
    assert env["code_source"] == "code_stamp" and env["code_stamp"]["matches_tree"] is True
    assert env["git_commit_checkout"] == "old0000" and env["git_commit_at_end"] == "785295f"
    origin = runtime.code_origin()  # a run folder's environment.json names the same code
    assert (origin["git_commit"], origin["code_source"], origin["git_commit_checkout"]) == ("785295f", "code_stamp", "old0000")
    assert origin["code_stamp"]["matches_tree"] is True
    assert runtime.code_version() == {"git_commit": "785295f", "git_dirty": False, "code_fingerprint": runtime.code_fingerprint()}  # no mixed-code warning
    _sums_of(stamp, "pyproject.toml", "bench/common.py", wrong="bench/common.py")
    started = common.run_start()
    assert started.git_commit == "old0000" and started.code_stamp is None
    env = json.loads(common.write_result("fake", {}, tmp_path, started=started).read_text(encoding="utf-8"))["environment"]
    assert env["code_source"] == "git" and env["git_commit"] == "old0000" and "git_commit_checkout" not in env
    assert env["code_stamp"]["matches_tree"] is False and env["code_stamp"]["files_differing"] == ["bench/common.py"]
    origin = runtime.code_origin()
    assert origin["git_commit"] == "old0000" and origin["code_source"] == "git"
    assert origin["code_stamp"]["files_differing_count"] == 1
    # the GPU scripts' check refused it (DRAC_SSL_CODE_STAMP not exported): recorded all the same
    monkeypatch.delenv("DRAC_SSL_CODE_STAMP")
    monkeypatch.setenv("DRAC_SSL_CODE_STAMP_UNMATCHED", str(stamp))
    assert runtime.code_origin()["code_stamp"]["matches_tree"] is False
    monkeypatch.delenv("DRAC_SSL_CODE_STAMP_UNMATCHED")
    assert runtime.code_origin() == {"git_commit": "old0000", "git_dirty": False, "code_source": "git",
                                     "distribution_version": runtime.distribution_version(),
                                     "code_fingerprint": runtime.code_fingerprint()}


def test_code_version_checks_an_unchanged_stamp_against_the_tree_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """runtime.code_version is asked before every pipeline stage; with a stamp in use it read
    the stamp and hashed every file of its sums each time. Now once per process while the
    stamp and its sums are unchanged; another 'prepare' (a rewritten stamp or sums) is read
    and checked again."""
    import drac_ssl.code_stamp as code_stamp
    import drac_ssl.runtime as runtime

    hashed: list[Path] = []
    real = code_stamp.differing_files

    def counting(sums: Path, tree: Path = code_stamp.REPO) -> list[str]:
        hashed.append(sums)
        return real(sums, tree)

    monkeypatch.setattr(code_stamp, "differing_files", counting)
    monkeypatch.setattr(code_stamp, "_VERIFIED", {})
    stamp = tmp_path / "code_version.txt"
    stamp.write_text("commit 785295fabcdef0123456789abcdef0123456789\n", encoding="utf-8")
    _sums_of(stamp, "pyproject.toml", "bench/common.py")
    monkeypatch.setenv("DRAC_SSL_CODE_STAMP", str(stamp))
    assert runtime.code_version() == {"git_commit": "785295f", "git_dirty": False, "code_fingerprint": runtime.code_fingerprint()}
    assert runtime.code_version() == {"git_commit": "785295f", "git_dirty": False, "code_fingerprint": runtime.code_fingerprint()}
    assert len(hashed) == 1  # the second stage's question hashed nothing
    # another 'prepare': same size, other commit, written at once (same mtime on a coarse clock)
    stamp.write_text("commit abcdef10123456789abcdef0123456789abcd\n", encoding="utf-8")
    assert runtime.code_version() == {"git_commit": "abcdef1", "git_dirty": False, "code_fingerprint": runtime.code_fingerprint()}
    assert len(hashed) == 2
    stamp.write_text("commit abcdef10123456789abcdef0123456789abcd\nchanged  M drac_ssl/model.py\n",
                     encoding="utf-8")
    assert runtime.code_version() == {"git_commit": "abcdef1", "git_dirty": True, "code_fingerprint": runtime.code_fingerprint()}
    assert len(hashed) == 3
    # new sums that the tree does not match: checked again, and the stamp is not used
    _sums_of(stamp, "pyproject.toml", "bench/common.py", wrong="bench/common.py")
    assert (runtime.code_version() or {}).get("git_commit") != "abcdef1"
    assert len(hashed) == 4
    runtime.code_version()
    assert len(hashed) == 4
    # the first content again: already checked in this process
    stamp.write_text("commit 785295fabcdef0123456789abcdef0123456789\n", encoding="utf-8")
    _sums_of(stamp, "pyproject.toml", "bench/common.py")
    assert runtime.code_version() == {"git_commit": "785295f", "git_dirty": False, "code_fingerprint": runtime.code_fingerprint()}
    assert len(hashed) == 4
    # code_origin (once per run folder) and read_code_stamp still check every time
    assert runtime.code_origin()["code_stamp"]["matches_tree"] is True
    assert len(hashed) == 5
    # a stamp that cannot be read is not kept: each question raises
    for _ in range(2):
        with pytest.raises(ValueError, match="cannot be read"):
            code_stamp.read_code_stamp_once(tmp_path / "absent.txt")


def test_a_code_stamp_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path) -> None:
    from drac_ssl.code_stamp import read_code_stamp

    with pytest.raises(ValueError, match="cannot be read"):
        read_code_stamp(tmp_path / "absent.txt")
    (tmp_path / "bad.txt").write_text("written_utc 2026-12-05T10:00:00Z\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt: not a code stamp"):
        read_code_stamp(tmp_path / "bad.txt")


def test_prepare_writes_the_checkouts_commit_and_changes_into_the_stamp(tmp_path: Path) -> None:
    """bench/gpu_lib.sh write_code_stamp (run by 'prepare', here) and drac_ssl/code_stamp.py
    read_code_stamp (on the device) agree on the format, odd paths (a space, non-ASCII) unquoted;
    use_code_stamp (the device run) exports the stamp only while the tree matches its file sums,
    and names the files that differ otherwise. Both checks, the shell's at the run's start and
    Python's in each bench, check the same files: the code files the sums list (a result file
    or document edited after 'prepare' leaves both matching; a config makes both differ)."""
    from bench.common import REPO
    from drac_ssl.code_stamp import read_code_stamp

    odd = "bench/a b ü.py"
    for name in ("drac_ssl/model.py", "docs/x.md", "bench/y.py", odd, "README.md", "bench/results/r.json",
                 "configs/c.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("0\n", encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "c")
    for name in ("drac_ssl/model.py", "docs/x.md", odd):
        (tmp_path / name).write_text("1\n", encoding="utf-8")
    (tmp_path / "untracked.py").write_text("1\n", encoding="utf-8")
    out = subprocess.run(["bash", "-c", f'. "{REPO}/bench/gpu_lib.sh"; REPO="$1"; write_code_stamp "$2"', "_",
                          str(tmp_path), str(tmp_path / "stamp.txt")], capture_output=True, text=True, check=True)
    assert "3 changed tracked file(s), 4 code file sums" in out.stdout
    listed = [line[66:] for line in (tmp_path / "code_files.sha256").read_text(encoding="utf-8").splitlines()]
    assert sorted(listed) == sorted(["bench/y.py", odd, "configs/c.yaml", "drac_ssl/model.py"])  # code only
    head = isolated_git(tmp_path, "rev-parse", "HEAD")
    stamp = read_code_stamp(tmp_path / "stamp.txt", tree=tmp_path)
    assert stamp.commit == head and len(head) == 40 and stamp.written_utc.endswith("Z")
    # docs are not code, untracked files not the commit's; the odd name as it is (review F7)
    assert stamp.changed_code == (odd, "drac_ssl/model.py")
    assert stamp.matches_tree is True and stamp.differing == ()

    def use() -> tuple[str, str]:
        script = (f'. "{REPO}/bench/gpu_lib.sh"; REPO="$1"; GPU_CODE_STAMP="$2"; use_code_stamp; '
                  'echo "used=${DRAC_SSL_CODE_STAMP:-} unmatched=${DRAC_SSL_CODE_STAMP_UNMATCHED:-}"')
        done = subprocess.run(["bash", "-c", script, "_", str(tmp_path), str(tmp_path / "stamp.txt")],
                              capture_output=True, text=True, check=True)
        *said, last = done.stdout.splitlines()
        return "\n".join(said), last

    said, last = use()
    assert "matches the tree" in said and last == f"used={tmp_path / 'stamp.txt'} unmatched="
    # after 'prepare' a README, a document and a result file changed (or the run wrote them):
    # neither check looks at them
    for name in ("README.md", "docs/x.md", "bench/results/r.json"):
        (tmp_path / name).write_text("edited\n", encoding="utf-8")
    said, last = use()
    assert "matches the tree" in said and last == f"used={tmp_path / 'stamp.txt'} unmatched="
    assert read_code_stamp(tmp_path / "stamp.txt", tree=tmp_path).matches_tree is True
    # a config is code: both refuse the stamp, naming it
    (tmp_path / "configs/c.yaml").write_text("lr: 1\n", encoding="utf-8")
    said, last = use()
    assert last == f"used= unmatched={tmp_path / 'stamp.txt'}" and said.endswith("\n  configs/c.yaml")
    assert read_code_stamp(tmp_path / "stamp.txt", tree=tmp_path).differing == ("configs/c.yaml",)
    (tmp_path / "configs/c.yaml").write_text("0\n", encoding="utf-8")
    (tmp_path / odd).write_text("2\n", encoding="utf-8")  # the tree changed after 'prepare'
    said, last = use()
    assert last == f"used= unmatched={tmp_path / 'stamp.txt'}"
    assert "does not match this tree (1 file(s) differ" in said and said.endswith(f"\n  {odd}")
    assert read_code_stamp(tmp_path / "stamp.txt", tree=tmp_path).differing == (odd,)
    (tmp_path / "code_files.sha256").unlink()  # a stamp of an older 'prepare': unchecked, not used
    said, last = use()
    assert last.startswith("used= unmatched=") and "has no" in said


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_shared_data_variable_is_an_error_not_the_default_folder(value: str) -> None:
    """Set but empty fell back to ../shared/data silently; the tests stop on it
    (tests/helpers/shared_data.py), and so do the benches now."""
    from bench.common import shared_data_folder

    with pytest.raises(ValueError, match="DRAC_SSL_SHARED_DATA is set but empty: set it to the folder"):
        shared_data_folder({"DRAC_SSL_SHARED_DATA": value})


def test_a_bench_stops_at_once_when_the_shared_data_variable_is_empty() -> None:
    from bench.common import REPO

    env = {**os.environ, "DRAC_SSL_SHARED_DATA": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", "import bench.common"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: DRAC_SSL_SHARED_DATA is set but empty")


def test_out_of_fold_copies_keep_what_the_intervals_need_and_read_back(tmp_path: Path) -> None:
    """Referee F1: a result keeps its per-image out-of-fold predictions beside it, the columns
    the figures and bootstrap intervals are computed from (score and raw outputs dropped), rows
    as written, readable by drac_ssl.oof.read_oof; a file that is no out-of-fold file is refused."""
    import numpy as np

    from bench.common import keep_oof_copies, oof_copy_path
    from drac_ssl.oof import oof_columns, read_oof

    run = tmp_path / "run"
    (run / "finetune" / "vicreg").mkdir(parents=True)
    rows = [",".join(oof_columns(3, "classification"))]
    rows += [f"img_{i}.png,{i % 3},{i % 5},0.200000,0.300000,0.500000,1.300000,{(i + 1) % 3},0.1,0.2,0.3"
             for i in range(7)]
    (run / "finetune" / "vicreg" / "oof.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (run / "pixel_floor_oof.csv").write_text("id,grade,fold,P0,P1,P2,pred\nimg_0.png,0,0,0.1,0.2,0.7,2\n",
                                             encoding="utf-8")
    out = tmp_path / "results"
    kept = keep_oof_copies({"vicreg": run / "finetune" / "vicreg" / "oof.csv",
                            "pixel_floor": run / "pixel_floor_oof.csv"}, out, "retinamnist_x")
    copy = oof_copy_path(out, "retinamnist_x", "vicreg")
    assert copy == out / "retinamnist_x_oof_vicreg.csv" and copy.is_file()
    assert copy.read_text(encoding="utf-8").splitlines()[0] == "id,grade,fold,P0,P1,P2,pred"
    assert kept["vicreg"]["rows"] == 7 and kept["pixel_floor"]["rows"] == 1
    assert kept["vicreg"]["file"] == str(copy) and len(kept["vicreg"]["sha256"]) == 64
    a, b = read_oof(run / "finetune" / "vicreg" / "oof.csv"), read_oof(copy)
    assert list(a.ids) == list(b.ids) and np.array_equal(a.probs, b.probs) and np.array_equal(a.pred, b.pred)
    (run / "other.csv").write_text("case,class\nx,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"other\.csv: no id, grade, pred, P0, P1 column"):
        keep_oof_copies({"x": run / "other.csv"}, out, "retinamnist_x")


def test_an_out_of_fold_copy_of_guarded_names_reads_back_the_names(tmp_path: Path) -> None:
    """Review 2 F5: a copy of a guarded oof.csv kept its cells ('=a.png) without the record that
    says they are guarded, so read_oof(copy) gave '=a.png for =a.png; the copy holds the names."""
    import csv
    import json

    from bench.common import keep_oof_copies, oof_copy_path
    from drac_ssl.oof import OofError, oof_csv_text, oof_record_fields, read_oof

    source = tmp_path / "run" / "pixel_floor_oof.csv"
    source.parent.mkdir(parents=True)
    names = ["=a.png", "'c.png", "b.png"]
    source.write_text(oof_csv_text(["id", "grade", "fold", "P0", "P1", "pred"],
                                   [[n, 0, 0, "0.6", "0.4", 0] for n in names]), encoding="utf-8")
    source.with_suffix(".json").write_text(json.dumps(oof_record_fields(source)), encoding="utf-8")
    assert list(read_oof(source).ids) == names
    keep_oof_copies({"pixel_floor": source}, tmp_path / "results", "x")
    copy = oof_copy_path(tmp_path / "results", "x", "pixel_floor")
    with open(copy, newline="", encoding="utf-8") as fh:
        assert [row["id"] for row in csv.DictReader(fh)] == names  # the names, plain
    # without a record, a copy with a cell starting with ' cannot be told from a guarded file
    # cut before its record: refused, not misread (review 3 F1); without one it reads back
    with pytest.raises(OofError, match="is missing"):
        read_oof(copy)
    plain = ["=a.png", "b.png"]
    source.write_text(oof_csv_text(["id", "grade", "fold", "P0", "P1", "pred"],
                                   [[n, 0, 0, "0.6", "0.4", 0] for n in plain]), encoding="utf-8")
    source.with_suffix(".json").write_text(json.dumps(oof_record_fields(source)), encoding="utf-8")
    keep_oof_copies({"pixel_floor": source}, tmp_path / "results", "x")
    assert list(read_oof(copy).ids) == plain


def test_out_of_fold_copies_of_a_grouped_run_keep_each_images_resampling_unit(tmp_path: Path) -> None:
    """A review: the copies kept no patient or twin-group column, so a grouped run's cluster
    bootstrap could not be recomputed from them. With the run's units (bench.common.oof_units,
    from its manifest) the copy has a ci_unit column after fold; a run whose images are each
    their own unit gets none, and an image the units lack is refused."""
    import csv

    from bench.common import OOF_UNIT_COLUMN, keep_oof_copies, oof_copy_path, oof_units
    from drac_ssl.oof import read_oof

    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "finetune" / "vicreg").mkdir(parents=True)
    manifest = ["id,split,grade,fold,patient,cache_index"]
    manifest += [f"img_{i}.png,train,{i % 3},{i % 3},p{i // 2},{i}" for i in range(6)]
    manifest += ["test_0.png,test,,-1,,6"]
    (run / "data" / "manifest.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    oof = ["id,grade,fold,P0,P1,P2,score,pred"]
    oof += [f"img_{i}.png,{i % 3},{i % 3},0.2,0.3,0.5,1.3,2" for i in range(6)]
    (run / "finetune" / "vicreg" / "oof.csv").write_text("\n".join(oof) + "\n", encoding="utf-8")

    units = oof_units(run)
    assert units == {f"img_{i}.png": f"patient:p{i // 2}" for i in range(6)}
    out = tmp_path / "results"
    kept = keep_oof_copies({"vicreg": run / "finetune" / "vicreg" / "oof.csv"}, out, "x", units=units)
    with open(oof_copy_path(out, "x", "vicreg"), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert kept["vicreg"]["columns"] == ["id", "grade", "fold", OOF_UNIT_COLUMN, "P0", "P1", "P2", "pred"]
    assert [r[OOF_UNIT_COLUMN] for r in rows] == [f"patient:p{i // 2}" for i in range(6)]
    assert read_oof(oof_copy_path(out, "x", "vicreg")).ids == tuple(f"img_{i}.png" for i in range(6))

    # each image its own unit (no patient, no twins joined): no column, as before
    alone = ["id,split,grade,fold,patient,cache_index"]
    alone += [f"img_{i}.png,train,{i % 3},{i % 3},,{i}" for i in range(6)]
    (run / "data" / "manifest.csv").write_text("\n".join(alone) + "\n", encoding="utf-8")
    assert oof_units(run) is None
    assert oof_units(tmp_path / "no_run") is None
    with pytest.raises(ValueError, match=r"image 'img_5\.png' has no resampling unit"):
        keep_oof_copies({"vicreg": run / "finetune" / "vicreg" / "oof.csv"}, out, "x",
                        units={k: v for k, v in units.items() if k != "img_5.png"})
