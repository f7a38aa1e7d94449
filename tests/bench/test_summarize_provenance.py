"""bench.summarize's words on settings a result file does not hold, read from git: the
``finetune.freeze`` of the config file at the record's commit (review F2: it read today's
``configs/<basename>``, ignoring overrides and ``--config=``), and whether a RetinaMNIST result
ran with the fundus recipe's hue jitter, from its commit's history (review F3: it compared
dates). Each test builds a small repository and points the renderer at it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from git_in_tests import isolated_git, run_git, shut_out_git_config

import bench.summarize as summarize
from bench.summarize import FROZEN_SCRATCH, HUE_INFERRED, _freeze_source, default_run_rows


def _git(repo: Path, *args: str) -> str:
    return isolated_git(repo, *args, user="t")


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "--short=7", "HEAD")


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not on PATH: these tests build a small git repository")
    shut_out_git_config(monkeypatch)  # the renderer's git reads as the tests' own
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    monkeypatch.setattr(summarize, "REPO", root)
    return root


def _freeze(value: str) -> str:
    return f"finetune:\n  freeze: {value}\n"


def test_the_freeze_setting_is_read_at_the_records_commit_and_overrides_win(repo: Path) -> None:
    then = _commit(repo, {"configs/default.yaml": _freeze("all"), "my/exp.yaml": _freeze("last")}, "then")
    _commit(repo, {"configs/default.yaml": _freeze("frozen"), "configs/exp.yaml": _freeze("frozen")}, "now")
    at = {"environment": {"git_commit": then}}
    # the file as it was at the record's commit, not as it is today
    assert _freeze_source({**at, "command": "python -m bench.default_run"}) == ("all", "")
    # an override on the command line wins over the file (the last one, as for the CLI)
    assert _freeze_source({**at, "command": "python -m bench.default_run finetune.freeze=last "
                                            "--name x finetune.freeze=frozen"}) == ("frozen", "")
    assert _freeze_source({**at, "command": "python -m bench.default_run --set finetune.freeze=all"})[0] == "all"
    # --config=FILE as well as --config FILE; a path outside configs/ read where it is (not
    # configs/<basename>, which today says frozen)
    assert _freeze_source({**at, "command": "python -m bench.default_run --config=my/exp.yaml"}) == ("last", "")
    assert _freeze_source({**at, "command": "python -m bench.default_run --config my/exp.yaml"}) == ("last", "")
    # an absolute path inside the repository is read relative to it; one outside is not known
    inside = f"python -m bench.default_run --config={repo / 'my' / 'exp.yaml'}"
    assert _freeze_source({**at, "command": inside}) == ("last", "")
    assert _freeze_source({**at, "command": "python -m bench.default_run --config /elsewhere/x.yaml"}) == (None, "")
    # the record's own config still comes first
    assert _freeze_source({**at, "command": "bench.default_run finetune.freeze=all",
                           "config_finetune": {"freeze": "last"}}) == ("last", "")


def test_a_freeze_setting_not_recorded_is_said_as_todays_file(repo: Path) -> None:
    _commit(repo, {"configs/default.yaml": _freeze("frozen")}, "now")
    for env in ({}, {"environment": {"git_commit": "deadbee"}}):  # none recorded, one git lacks
        freeze, note = _freeze_source({**env, "command": "python -m bench.default_run"})
        assert freeze == "frozen"
        assert note == "finetune.freeze=frozen as configs/default.yaml sets it today; not recorded"
    row = default_run_rows({"command": ".venv/bin/python -m bench.default_run",
                            "oof_metrics": {"rows": [{"variant": "scratch", "qwk": 0.5}]}})[0]
    assert (f"{FROZEN_SCRATCH} QWK 0.500; finetune.freeze=frozen as configs/default.yaml sets it "
            f"today; not recorded") in row
    # read at its commit: nothing to add
    head = _git(repo, "rev-parse", "--short=7", "HEAD")
    row = default_run_rows({"command": ".venv/bin/python -m bench.default_run", "environment": {"git_commit": head},
                            "oof_metrics": {"rows": [{"variant": "scratch", "qwk": 0.5}]}})[0]
    assert f"{FROZEN_SCRATCH} QWK 0.500 |" in row and "sets it today" not in row


def test_the_hue_jitter_is_decided_from_the_records_commit_not_its_date(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "configs").mkdir()
    before = _commit(repo, {"configs/retinamnist.yaml": "finetune:\n  epochs: 15\n"}, "with hue")
    removed = _commit(repo, {"drac_ssl/augment.txt": "no hue"}, "hue removed")
    after = _commit(repo, {"drac_ssl/other.txt": "later"}, "later")
    monkeypatch.setattr(summarize, "FUNDUS_HUE_REMOVED", removed)

    def words(commit: str | None, date: str) -> str:
        env = {"environment": {"git_commit": commit}} if commit else {}
        return summarize._older_recipe_words({
            "dataset": "retinamnist", "date_utc": date, **env,
            "config": {"finetune": {"epochs": 15}, "pretrain": {"augment": {"recipe": "fundus"}}}})

    # written after the change by the clock, but at a commit before it: ran with hue jitter
    late = words(before, "2099-01-01T00:00:00+00:00")
    assert late == (f"; recipe of {before}, not today's: the fundus recipe's hue jitter (0.02 of a turn, "
                    f"saturation 0.1; removed in {removed}) {HUE_INFERRED}")
    # written before it by the clock, at a commit that has it: today's recipe, nothing to say
    assert words(removed, "2000-01-01T00:00:00+00:00") == ""
    assert words(after, "2000-01-01T00:00:00+00:00") == ""
    # no commit, or one this history lacks: unknown, not guessed from the date
    assert "is unknown (no commit recorded;" in words(None, "2000-01-01T00:00:00+00:00")
    missing = words("deadbee", "2000-01-01T00:00:00+00:00")
    assert f"is unknown (git here cannot tell whether deadbee has {removed};" in missing
    assert "recipe of" not in missing


def test_history_needs_every_recorded_commit_not_only_the_hue_one(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """r4 F3: history_available checked only FUNDUS_HUE_REMOVED, so a clone holding it but not a
    record's commit rendered that record's words as "today" unnoticed."""
    known = _commit(repo, {"a.txt": "a"}, "known")
    monkeypatch.setattr(summarize, "FUNDUS_HUE_REMOVED", known)
    results = tmp_path / "results"
    results.mkdir()
    (results / "ok.json").write_text(json.dumps({"environment": {"git_commit": known}}), encoding="utf-8")
    assert summarize.missing_history(results) is None and summarize.history_available(results)
    (results / "old.json").write_text(json.dumps({"environment": {"git_commit": "0badc0d"}}), encoding="utf-8")
    assert summarize.missing_history(results) == (
        "the commit recorded by old.json (0badc0d) is not in this clone's history (a shallow clone?)")
    assert not summarize.history_available(results)


def _readme(root: Path) -> Path:
    """A README with the summary's markers, and a results page with the full results' markers."""
    readme = root / "README.md"
    readme.write_text(f"# x\n{summarize.SUMMARY_BEGIN}\nold summary\n{summarize.SUMMARY_END}\n", encoding="utf-8")
    (root / "docs").mkdir()
    (root / summarize.RESULTS_PAGE).write_text(f"# r\n{summarize.BEGIN}\nold table\n{summarize.END}\n",
                                               encoding="utf-8")
    return readme


def test_without_history_the_readme_is_not_written_unless_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """r4 F3: without git history (here: no .git) main() silently wrote weaker provenance words
    into README.md. It now refuses, says why and the fix (a full clone); --print and
    --without-history still work, the latter writing both the README and the results page."""
    copy = tmp_path / "copy"
    copy.mkdir()
    monkeypatch.setattr(summarize, "REPO", copy)
    monkeypatch.setattr(summarize, "render", lambda results_dir=None: "NEW TABLE")
    monkeypatch.setattr(summarize, "generated_sections", lambda results_dir=None: [
        ("README.md", summarize.SUMMARY_BEGIN, summarize.SUMMARY_END, "NEW SUMMARY"),
        (summarize.RESULTS_PAGE, summarize.BEGIN, summarize.END, "NEW TABLE")])
    readme = _readme(copy)
    page = copy / summarize.RESULTS_PAGE
    before = readme.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        summarize.main([])
    why = str(refused.value)
    assert why.startswith(f"[bench] README.md not written: {copy} is not a git repository, or git "
                          "is not on PATH"), why
    assert "Fix: run it in a full clone" in why and "--without-history" in why
    assert (readme.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")) == before
    summarize.main(["--print"])
    assert "NEW TABLE" in capsys.readouterr().out
    assert (readme.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")) == before
    summarize.main(["--without-history"])
    assert "NEW SUMMARY" in readme.read_text(encoding="utf-8") and "NEW TABLE" in page.read_text(encoding="utf-8")


def test_print_shows_exactly_what_the_writing_mode_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F5: ``--print`` printed the results page's rows without their anchors and with its
    links as seen from the repository root (two lines of the RetinaMNIST block differed even
    without the anchors), and neither the README's summary nor docs/retinamnist.md's section,
    while its help said it printed "it". It now prints, for each file, the lines the writing
    mode puts there, markers included: here each printed block is found, whole, in its file once
    written (the committed results, rendered in a copy without history, as both modes do)."""
    copy = tmp_path / "copy"
    shutil.copytree(summarize.REPO / "configs", copy / "configs")  # the settings some rows are read with
    monkeypatch.setattr(summarize, "REPO", copy)
    _readme(copy)
    (copy / summarize.RETINA_PAGE).write_text(f"# m\n{summarize.RETINA_BEGIN}\nold\n{summarize.RETINA_END}\n",
                                              encoding="utf-8")
    summarize.main(["--print"])
    printed = capsys.readouterr().out
    assert "old summary" in (copy / "README.md").read_text(encoding="utf-8")  # nothing written
    assert "old table" in (copy / summarize.RESULTS_PAGE).read_text(encoding="utf-8")
    summarize.main(["--without-history"])
    heads = list(re.finditer(r"^==> (.+) <==\n", printed, flags=re.MULTILINE))
    assert [h.group(1) for h in heads] == ["README.md", summarize.RESULTS_PAGE, summarize.RETINA_PAGE]
    ends = [h.start() - 2 for h in heads[1:]] + [len(printed) - 1]  # before "\n\n==> " and print's "\n"
    markers = [(summarize.SUMMARY_BEGIN, summarize.SUMMARY_END), (summarize.BEGIN, summarize.END),
               (summarize.RETINA_BEGIN, summarize.RETINA_END)]
    for head, end, (begin, finish) in zip(heads, ends, markers, strict=True):
        block = printed[head.end():end]
        written = (copy / head.group(1)).read_text(encoding="utf-8")
        assert block.startswith(begin + "\n") and block.endswith("\n" + finish), head.group(1)
        assert written[written.index(begin):written.index(finish) + len(finish)] == block, head.group(1)
    assert 'id="result-' in printed  # the results page's anchors, as written


def test_a_result_made_from_an_uncommitted_tree_is_said_so_from_git(repo: Path) -> None:
    """Correctness-run F1: five GPU results record 9e1451e, whose tree lacks bench/low_label.py
    and the others (first committed, with the results, minutes after the run), and
    cifar10_vicreg.json holds a key 9e1451e's script never writes; the README said "measured at
    commit 9e1451e (git checkout 9e1451e ...)". The words now come from git: the script absent
    at the recorded commit, or keys no Python file of it names."""
    base = _commit(repo, {"bench/old.py": "print('loss')\n", "bench/common.py": "KEYS = ('command',)\n"}, "base")
    new_script = _commit(repo, {"bench/new.py": "record = {'accuracy': 1}\n"}, "the new script")
    old_result = {"command": "python -m bench.old --out-dir /x", "accuracy": 1.0, "time_to_target": 3,
                  "environment": {"git_commit": base}}
    _commit(repo, {"bench/old.py": "record = {'time_to_target': 3}\n",
                   "bench/results/old.json": json.dumps(old_result),
                   "bench/results/new.json": json.dumps({**old_result, "command": "python bench/new.py"})},
            "results")
    results_commit = _git(repo, "rev-parse", "--short=7", "HEAD")
    new = summarize.read_result(repo / "bench" / "results" / "new.json")
    assert new[summarize.RESULT_FILE] == "bench/results/new.json"
    assert summarize._code_note(new) == (
        f" (code state not recorded; made from an uncommitted tree on top of {base}: bench/new.py is not in "
        f"that commit (first committed in {new_script}; this result in {results_commit}); commit read at the "
        f"end of the run)")
    # the script is in the commit, but the result holds a key that only the later script names
    old = summarize.read_result(repo / "bench" / "results" / "old.json")
    assert summarize._uncommitted_tree_words(old) == (
        f"made from an uncommitted tree on top of {base}: no Python file of that commit names its key "
        f"time_to_target, which bench/old.py names as committed with this result in {results_commit} "
        f"(2 lines changed since {base})")
    # 'accuracy' is named by a Python file of the base commit? no: but the later script does not
    # name it either, so it is no evidence; 'command' is named at the base commit
    assert "accuracy" not in str(summarize._uncommitted_tree_words(old))
    # a record whose code state was recorded (clean at start and end): keys are no evidence
    recorded = {**old, "environment": {"git_commit": base, "git_commit_at_end": base, "git_dirty": False}}
    assert summarize._uncommitted_tree_words(recorded) is None
    # built elsewhere (no file): the absent script is still said, without the result's commit
    loose = {k: v for k, v in new.items() if k != summarize.RESULT_FILE}
    assert summarize._uncommitted_tree_words(loose) == (
        f"made from an uncommitted tree on top of {base}: bench/new.py is not in that commit "
        f"(first committed in {new_script})")
    assert summarize._uncommitted_tree_words({k: v for k, v in old.items() if k != summarize.RESULT_FILE}) is None
    # a commit or a script git does not know: nothing guessed
    assert summarize._uncommitted_tree_words({**new, "environment": {"git_commit": "0badc0d"}}) is None
    assert summarize._uncommitted_tree_words({**new, "command": "python -m bench.never"}) is None
    # the renderer's generic row never shows the added key
    assert summarize.RESULT_FILE not in summarize.generic_rows("new", new)[0]


def test_a_result_rewritten_by_a_later_re_read_is_matched_with_the_script_that_rewrote_it(repo: Path) -> None:
    """Audit F3: retinamnist_epochs60.json was added in e360923, then rewritten by a re-read of
    the finished runs (new date_utc, a seed_ensemble key) in f80e312, whose script first names
    that key; its recorded commit 3062a4d names it nowhere. Read against the script of the
    file's first commit, the rule missed it. The commit that wrote the record's date_utc is the
    one to read; a later hand edit (a note, as_run) keeps date_utc and changes nothing."""
    base = _commit(repo, {"bench/runs.py": "record = {'per_seed': 1}\n"}, "base")
    first = {"command": "python -m bench.runs", "date_utc": "2026-11-30T08:50:36+00:00", "per_seed": 1,
             "environment": {"git_commit": base}}
    added = _commit(repo, {"bench/results/runs.json": json.dumps(first, indent=2)}, "the runs")
    reread = {**first, "date_utc": "2026-11-30T10:12:10+00:00", "seed_ensemble": 2}
    rewrote = _commit(repo, {"bench/runs.py": "record = {'per_seed': 1, 'seed_ensemble': 2}\n",
                             "bench/results/runs.json": json.dumps(reread, indent=2)}, "the re-read")
    noted = {**reread, "as_run": {"date_utc": first["date_utc"], "git_commit": "5f859f9"},
             "notes_added_after_the_run": ["a note"]}
    _commit(repo, {"bench/runs.py": "record = {'per_seed': 1, 'seed_ensemble': 2, 'later': 3}\n",
                   "bench/results/runs.json": json.dumps(noted, indent=2)}, "a hand edit, later code")
    assert summarize._written_in("bench/results/runs.json", noted) == rewrote != added
    assert summarize._written_in("bench/results/runs.json", {}) == added  # no date_utc: the first commit
    record = summarize.read_result(repo / "bench" / "results" / "runs.json")
    assert summarize._uncommitted_tree_words(record) == (
        f"made from an uncommitted tree on top of {base}: no Python file of that commit names its key "
        f"seed_ensemble, which bench/runs.py names as committed with this result in {rewrote} "
        f"(2 lines changed since {base})")
    # the date words say the top-level commit is the re-read's and name the runs' own record
    note = summarize._code_note(record)
    assert note.endswith("; commit read at the end of a re-read of the finished runs; the runs' own record "
                         "(`as_run`): commit 5f859f9, written 2026-11-30 08:50 UTC)"), note
    assert "commit read at the end of the run" not in note
    recorded = {**record, "environment": {"git_commit": base, "git_commit_at_end": base, "git_dirty": False}}
    assert summarize._code_note(recorded) == (
        " (re-read from the finished runs; the runs' own record (`as_run`): commit 5f859f9, written "
        "2026-11-30 08:50 UTC)")


def test_each_correctness_table_ends_with_its_recorded_command_and_whose_paths_it_names() -> None:
    from bench.summarize import command_line

    gpu = {"device": "NVIDIA H100 80GB HBM3", "command": "python -m bench.layer_clusters --backbone "
           "/root/work/b.safetensors --data .device_data/cifar10/x.tar.xz --compare c=/scratch/c.safetensors"}
    blank, line = command_line(gpu)
    assert blank == "" and line.startswith(f"Command, as its result file records it: `{gpu['command']}`.")
    assert ("Its paths are those of the GPU machine it ran on (NVIDIA H100 80GB HBM3): `/root/`: its run and "
            "output folders; `.device_data/`: its copy of the data (`../shared/data/` beside a clone); "
            "`/scratch/`: a folder of that machine. Put your own there.") in line
    cpu = command_line({"device": "CPU: AMD EPYC x2", "command": "python -m bench.quick_check"})
    assert cpu == ["", "Command, as its result file records it: `python -m bench.quick_check`."]
    assert command_line({"device": "d"}) == []


def test_the_first_commit_of_a_path_has_the_same_length_in_every_clone(repo: Path) -> None:
    """CI failed on d66015c because git's ``%h`` wrote 8 digits in the fresh clone and 7 in the
    developers' repository: the abbreviation's length follows the clone's object count and
    ``core.abbrev``. The README's words use a fixed length instead."""
    added = _commit(repo, {"bench/x.py": "print(1)\n"}, "add x")
    _git(repo, "config", "core.abbrev", "12")  # what %h would follow: 12 digits here
    assert len(_git(repo, "log", "-1", "--format=%h")) == 12
    assert summarize._first_commit_with("bench/x.py") == added[:summarize.SHORT_HASH]
    assert len(added) == summarize.SHORT_HASH == 7


def _asked_alone(repo: Path, args: tuple[str, ...]) -> str | None:
    """What ``git <args>`` prints in ``repo`` on its own (None: it fails), as the renderer asked it."""
    out = run_git(repo, *args, check=False)
    return out.stdout if out.returncode == 0 else None


def test_the_answers_read_in_bulk_are_what_each_git_command_prints(repo: Path) -> None:
    """A render asked git a few questions per result file, each its own command (353 commands
    for 84 files: 14 of the 19 s of test_summary_honesty); they are now read in bulk
    (summarize._read_git_answers). Over a history with a merged branch, a result file deleted
    and added again, a date line rewritten by a re-read then kept by a hand edit, a binary
    Python file, a config file, a script missing at its commit and a commit this history lacks,
    every answer read in bulk is what its own command prints, and the words are the same."""
    base = _commit(repo, {"bench/old.py": "record = {'per_seed': 1}\n", "configs/default.yaml": _freeze("all"),
                          "tools/blob.py": "\0binary seed_ensemble\n"}, "base")
    _git(repo, "checkout", "-q", "-b", "side")
    side = {"command": "python -m bench.side", "date_utc": "2026-11-01T00:00:00+00:00", "seed_ensemble": 1,
            "environment": {"git_commit": base}}
    _commit(repo, {"bench/side.py": "record = {'seed_ensemble': 1}\n",
                   "bench/results/side.json": json.dumps(side, indent=2)}, "a side branch's script and result")
    _git(repo, "checkout", "-q", "-")
    first = {"command": "python -m bench.old --config configs/default.yaml", "date_utc": "2026-11-02T00:00:00+00:00",
             "per_seed": 1, "time_to_target": 2, "environment": {"git_commit": base}}
    _commit(repo, {"bench/results/old.json": json.dumps(first, indent=2),
                   "bench/results/gone.json": json.dumps({**first, "command": "python -m bench.default_run"})},
            "the results")
    _git(repo, "merge", "-q", "--no-ff", "side", "-m", "merge the side branch")
    reread = {**first, "date_utc": "2026-11-03T00:00:00+00:00", "wall_s": 5}
    _commit(repo, {"bench/old.py": "record = {'per_seed': 1, 'time_to_target': 2, 'wall_s': 5}\n",
                   "bench/results/old.json": json.dumps(reread, indent=2)}, "a re-read")
    (repo / "bench" / "results" / "gone.json").unlink()
    _commit(repo, {"bench/results/old.json": json.dumps({**reread, "note": "by hand"}, indent=2)}, "a hand edit")
    _commit(repo, {"bench/results/gone.json": json.dumps({**first, "environment": {"git_commit": "0badc0d"}})},
            "gone.json again, at a commit this history lacks")
    records = [summarize.read_result(p) for p in sorted((repo / "bench" / "results").glob("*.json"))]

    def words() -> list[tuple[str, tuple[str | None, str], str | None]]:
        return [(summarize._code_note(r), _freeze_source(r), summarize._written_in(r[summarize.RESULT_FILE], r))
                for r in records]

    summarize._read_git_answers(records)
    bulk = {args: out for (where, args), out in summarize._GIT_ANSWERS.items() if where == str(repo)}
    asked = {args[0] + (f" {args[1]}" if args[0] == "log" else "") for args in bulk}
    assert asked == {"rev-parse", "cat-file", "log --diff-filter=A", "log -S", "show", "grep"}, asked
    for args, out in bulk.items():
        assert out == _asked_alone(repo, args), args
    assert ("grep", "-q", "-F", "-e", "seed_ensemble", base, "--", "*.py") in bulk  # the binary file names it
    read_in_bulk = words()
    for key in [key for key in summarize._GIT_ANSWERS if key[0] == str(repo)]:
        del summarize._GIT_ANSWERS[key]
    assert read_in_bulk == words()
    assert "made from an uncommitted tree" in read_in_bulk[2][0]  # side.json: its script is not in base


def test_a_result_written_alike_on_a_merged_branch_is_read_as_its_own_log_says(repo: Path) -> None:
    """Review F1 of f53a873: ``git log -- P1 P2 ...`` simplifies merged history over all the paths
    together. A result file written on main (M1) and alike on a side branch (S1, a cherry-pick)
    that also changed another path asked about (its script), then merged with ``--no-ff``: the
    merge equals the side branch on both paths, so the walk over both follows the side branch
    only and said S1 wrote the result, while ``git log -- r.json`` alone follows main (the merge
    equals main on r.json) and says M1. Each path's answer is now its own log's."""
    base = _commit(repo, {"bench/s.py": "record = {'qwk': 1}\n"}, "base")
    record = {"command": "python -m bench.s", "date_utc": "2026-11-05T00:00:00+00:00", "qwk": 1,
              "environment": {"git_commit": base}}
    text = json.dumps(record, indent=2)
    _git(repo, "checkout", "-q", "-b", "side")
    on_side = _commit(repo, {"bench/results/r.json": text, "bench/s.py": "record = {'qwk': 2}\n"},
                      "the result, and the script changed, on a side branch")
    _git(repo, "checkout", "-q", "-")
    on_main = _commit(repo, {"bench/results/r.json": text}, "the same result on main")
    _git(repo, "merge", "-q", "--no-ff", "side", "-m", "merge the side branch")
    for later in range(2):  # more history on both lines, so the walk order matters
        _commit(repo, {f"notes/{later}.md": "x\n"}, f"a later note {later}")
    records = [summarize.read_result(repo / "bench" / "results" / "r.json")]
    added = ("log", "--diff-filter=A", "--format=%H", "--", "bench/results/r.json")
    assert _asked_alone(repo, added) is not None and _asked_alone(repo, added).startswith(on_main)
    summarize._read_git_answers(records)
    bulk = {args: out for (where, args), out in summarize._GIT_ANSWERS.items() if where == str(repo)}
    assert added in bulk and ("log", "-S", summarize._date_line(record["date_utc"]), "--format=%H", "--",
                              "bench/results/r.json") in bulk
    for args, out in bulk.items():
        assert out == _asked_alone(repo, args), args
    assert summarize._written_in("bench/results/r.json", records[0]) == on_main != on_side
