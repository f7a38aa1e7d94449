"""``python -m app`` without ``--bundle`` says which bundle it chose, of how many, and how to
choose another; and warns when that newest bundle is a trial run's (or an untrained demo)
while an older one comes from a full training run.

A trial user (DRAC 2022) had runs/first-try, first-try611 and resume4..resume7: the app served
resume7/bundle, a trial run's, saying only "[app] bundle runs/resume7/bundle (2 fold model(s));
serving on ...", not the 611-image run's."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from opened_files import count_opens

from app.bundle_path import (
    SHOWN_OTHERS,
    NoBundleError,
    chosen_bundle_words,
    find_bundles,
    find_newest_bundle,
    run_bundles,
)

TRIAL = {"trial": True, "why": "the pretraining was cut short (max_steps_per_epoch=1)"}
FULL = {"trial": False}


def _bundle(runs: Path, name: str, age_s: float, meta: dict[str, Any] | None = None) -> Path:
    """``runs/name/bundle`` with a ``metadata.json`` (``meta``) written ``age_s`` seconds ago."""
    folder = runs / name / "bundle"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(meta or {}))
    t = time.time() - age_s
    os.utime(folder / "metadata.json", (t, t))
    return folder


def _trial_users_runs(runs: Path) -> dict[str, Path]:
    """The trial user's folder: the 611-image run (full), older, then trial runs, resume7 the newest."""
    made = {"first-try": _bundle(runs, "first-try", 7000, {"trial_run": TRIAL}),
            "first-try611": _bundle(runs, "first-try611", 6000, {"trial_run": FULL})}
    for i, name in enumerate(("resume4", "resume5", "resume6", "resume7")):
        made[name] = _bundle(runs, name, 4000 - 1000 * i, {"trial_run": TRIAL})
    return made


def test_the_note_says_the_newest_of_how_many_names_a_few_others_and_how_to_choose(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    made = _trial_users_runs(runs)
    found = run_bundles(runs)
    assert [b.path for b in found] == find_bundles(runs) == [
        made[n] for n in ("resume7", "resume6", "resume5", "resume4", "first-try611", "first-try")]
    assert find_newest_bundle(runs) == made["resume7"]
    note, warning = chosen_bundle_words(found, runs)
    assert note.startswith(f"no --bundle given: serving {made['resume7']}, the newest of 6 run bundles "
                           f"(RUN/bundle) under {runs.as_posix()}/ (metadata.json written "), note
    others = note.split("the others, newest first: ", 1)[1]
    named = re.findall(r"\S+/bundle \(metadata.json written \d{4}-\d\d-\d\d \d\d:\d\d, no build time recorded\)",
                       others)
    assert named == [f"{made[n]} (metadata.json written {time.strftime('%Y-%m-%d %H:%M', time.localtime(made[n].joinpath('metadata.json').stat().st_mtime))}, "
                     f"no build time recorded)" for n in ("resume6", "resume5", "resume4")], others
    assert len(named) == SHOWN_OTHERS and " and 2 more." in others
    assert "To serve another: --bundle PATH" in note
    # the newest is a trial run's, the 611-image run's is not: said, with the way to serve it
    assert warning.startswith(f"{made['resume7']}, served as the newest, is a trial run's (its training "
                              f"was cut short"), warning
    assert f"while {made['first-try611']} (" in warning
    assert warning.endswith(f"from a full training run of the same task: to serve it, --bundle {made['first-try611']}")
    assert note.endswith(f"e.g. --bundle {made['first-try611']} (a variant's bundle: --bundle RUN/bundles/NAME)")


def test_one_bundle_is_said_briefly_and_a_full_newest_or_an_unknown_one_is_not_flagged(tmp_path: Path) -> None:
    one = _bundle(tmp_path / "one", "run", 10, {"trial_run": TRIAL})
    note, warning = chosen_bundle_words(run_bundles(tmp_path / "one"), tmp_path / "one")
    assert note == (f"no --bundle given: serving {one} (metadata.json written "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(one.joinpath('metadata.json').stat().st_mtime))}, "
                    f"no build time recorded), the only run bundle (RUN/bundle) under "
                    f"{(tmp_path / 'one').as_posix()}/ (--bundle PATH serves another; a variant's bundle: "
                    f"--bundle RUN/bundles/NAME)")
    assert warning == ""  # nothing else to serve
    runs = tmp_path / "runs"
    _bundle(runs, "trial", 100, {"trial_run": TRIAL})
    _bundle(runs, "full", 10, {"trial_run": FULL})
    note, warning = chosen_bundle_words(run_bundles(runs), runs)
    assert "the newest of 2 run bundles" in note and " and " not in note.split("newest first: ")[1].split(". To")[0]
    assert warning == ""  # the newest is the full run's
    older = tmp_path / "older"
    _bundle(older, "full", 100, {"trial_run": FULL})
    _bundle(older, "before_the_record", 10, {})  # built before trial_run was recorded: unknown
    assert chosen_bundle_words(run_bundles(older), older)[1] == ""
    nothing_better = tmp_path / "trials"
    _bundle(nothing_better, "a", 100, {"trial_run": TRIAL})
    _bundle(nothing_better, "b", 10, {"trial_run": TRIAL})
    assert chosen_bundle_words(run_bundles(nothing_better), nothing_better)[1] == ""


def test_a_demo_or_phantom_newest_is_flagged_against_full_runs_counted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = _bundle(runs, "a", 300, {"trial_run": FULL})
    _bundle(runs, "b", 200, {"trial_run": FULL})
    _bundle(runs, "phantom", 150, {"trial_run": FULL, "data": {"kind": "phantom"}})  # not offered
    demo = _bundle(runs, "demo", 10, {"demo": "Untrained demo bundle"})
    warning = chosen_bundle_words(run_bundles(runs), runs)[1]
    assert warning.startswith(f"{demo}, served as the newest, is an untrained demo bundle"), warning
    assert "while 2 older bundles come, the newest " in warning and warning.endswith(
        f"to serve it, --bundle {runs / 'b' / 'bundle'}")
    assert str(a) not in warning
    os.utime(demo / "metadata.json", (time.time() - 1000, time.time() - 1000))  # the phantom now newest
    warning = chosen_bundle_words(run_bundles(runs), runs)[1]
    assert warning.startswith(f"{runs / 'phantom' / 'bundle'}, served as the newest, is trained on phantom "
                              f"images"), warning


def test_main_says_it_before_loading_and_in_the_serving_line(
        predictor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The app's own start-up: the note and the warning come before the bundle loads (torch and
    gradio take seconds), the serving line says the choice too; with --bundle, none of it."""
    import shutil

    import gradio as gr

    from app.__main__ import main

    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main's SIGTERM handler: not here
    runs = tmp_path / "runs"
    full = _bundle(runs, "first-try611", 500, {"trial_run": FULL})
    newest = runs / "demo" / "bundle"
    shutil.copytree(predictor.path, newest)  # the demo bundle, served: the newest
    meta = json.loads((newest / "metadata.json").read_text())  # built now: the newest
    meta["created_utc"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    (newest / "metadata.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["--runs-dir", str(runs), "--port", "7997", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    note = next(i for i, line in enumerate(lines) if line.startswith("[app] no --bundle given: serving "))
    warned = lines.index(f"[app] warning: {chosen_bundle_words(run_bundles(runs), runs)[1]}")
    every = next(i for i, line in enumerate(lines) if line.startswith("[app] every image:"))  # after the load
    assert note < warned < every, out
    assert f"serving {newest}, the newest of 2 run bundles" in lines[note]
    assert f"--bundle {full}" in lines[warned]
    assert f"[app] bundle {newest} (1 fold model(s); the newest of 2 under {runs}); serving on" in out, out
    assert main(["--bundle", str(newest), "--runs-dir", str(runs), "--port", "7997", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "no --bundle given" not in out and "newest" not in out, out


DRAC = {"class_names": ["Normal", "NPDR", "PDR"], "input": {"channels": 1}, "data": {"kind": "drac", "modality": "octa"}}
FUNDUS5 = {"class_names": ["No DR", "Mild", "Moderate", "Severe", "Proliferative"], "input": {"channels": 3},
           "data": {"kind": "aptos", "modality": "fundus"}}


def test_the_choice_goes_by_the_recorded_build_time_which_a_copy_keeps(tmp_path: Path) -> None:
    """A review: the newest by metadata.json's modification time, which cp -r, scp and a git
    checkout reset, so a copied old run could be served as the newest; and a tie, picked by
    path, was called "newest". The bundle's own created_utc decides now (the file's time only
    for a bundle that records none), the note says "built <created_utc>", and a tie says
    "tied: chosen by name"."""
    runs = tmp_path / "runs"
    old = _bundle(runs, "old", 0, {"created_utc": "2024-01-01T10:00:00+00:00"})  # copied just now
    new = _bundle(runs, "new", 3600, {"created_utc": "2024-06-01T10:00:00+00:00"})
    unknown = _bundle(runs, "unknown", 7200, {})  # no build time: its file's, 2 hours ago (after 2024)
    assert find_bundles(runs) == [unknown, new, old]
    runs2 = tmp_path / "runs2"
    old2 = _bundle(runs2, "old", 0, {"created_utc": "2024-01-01T10:00:00+00:00"})
    new2 = _bundle(runs2, "new", 3600, {"created_utc": "2024-06-01T10:00:00"})  # no zone: UTC
    assert find_bundles(runs2) == [new2, old2]
    note = chosen_bundle_words(run_bundles(runs2), runs2)[0]
    assert f"serving {new2}, the newest of 2 run bundles (RUN/bundle) under {runs2.as_posix()}/ " \
           f"(built 2024-06-01T10:00:00); the others, newest first: {old2} (built " \
           f"2024-01-01T10:00:00+00:00)." in note, note
    assert "tied" not in note
    tie = tmp_path / "tie"
    b = _bundle(tie, "b", 10, {"created_utc": "2024-06-01T10:00:00+00:00"})  # written later
    a = _bundle(tie, "a", 500, {"created_utc": "2024-06-01T10:00:00+00:00"})
    assert find_bundles(tie) == [a, b]
    note = chosen_bundle_words(run_bundles(tie), tie)[0]
    assert f"serving {a}, the newest of 2 run bundles" in note
    assert "(built 2024-06-01T10:00:00+00:00; tied: chosen by name)" in note, note


def test_a_run_linked_under_another_name_is_counted_once_with_its_other_name(tmp_path: Path) -> None:
    """A review: runs/latest -> resume7 made resume7's bundle two of the bundles found."""
    runs = tmp_path / "runs"
    resume7 = _bundle(runs, "resume7", 10, {"created_utc": "2024-06-01T10:00:00+00:00"})
    older = _bundle(runs, "resume6", 20, {"created_utc": "2024-05-01T10:00:00+00:00"})
    (runs / "latest").symlink_to("resume7")
    (runs / "a_link").symlink_to(runs / "resume6")  # first by name, yet a link: not the name kept
    assert find_bundles(runs) == [resume7, older]
    note = chosen_bundle_words(run_bundles(runs), runs)[0]
    assert f"serving {resume7} (also {runs / 'latest'}), the newest of 2 run bundles" in note, note
    assert f"{older} (also {runs / 'a_link'}) (built 2024-05-01" in note, note
    assert str(runs / "latest" / "bundle") not in note


def test_the_full_run_offered_grades_the_same_task(tmp_path: Path) -> None:
    """A review: a DRAC trial bundle, the newest, had an older full 5-grade colour fundus run
    offered in its stead. A full run is offered only when its grades, input channels and kind
    of image match the served bundle's."""
    runs = tmp_path / "runs"
    trial = _bundle(runs, "drac_trial", 10, {"trial_run": TRIAL, **DRAC})
    fundus = _bundle(runs, "aptos_full", 100, {"trial_run": FULL, **FUNDUS5})
    note, warning = chosen_bundle_words(run_bundles(runs), runs)
    assert warning == "" and f"e.g. --bundle {fundus}" in note  # named among the others, not offered
    grey_fundus = _bundle(runs, "grey_fundus_full", 150, {"trial_run": FULL, **DRAC,
                                                          "data": {"kind": "plain", "modality": "fundus"}})
    assert chosen_bundle_words(run_bundles(runs), runs)[1] == ""
    drac = _bundle(runs, "drac_full", 200, {"trial_run": FULL, **DRAC})
    phantom = _bundle(runs, "phantom", 5, {"trial_run": FULL, **DRAC, "data": {"kind": "phantom", "modality": "octa"}})
    warning = chosen_bundle_words(run_bundles(runs), runs)[1]
    assert warning.startswith(f"{phantom}, served as the newest, is trained on phantom images"), warning
    assert warning.endswith(f"from a full training run of the same task: to serve it, --bundle {drac}"), warning
    assert str(fundus) not in warning and str(grey_fundus) not in warning and str(trial) not in warning


def test_variant_bundles_are_not_counted_and_the_note_says_how_to_serve_one(tmp_path: Path) -> None:
    """A review: RUN/bundles/NAME (the export of another variant) is not among the bundles
    found, while the note said "the newest of N bundles under runs/"."""
    runs = tmp_path / "runs"
    run = _bundle(runs, "run", 100, {})
    variant = runs / "run" / "bundles" / "vicreg"
    variant.mkdir(parents=True)
    (variant / "metadata.json").write_text("{}")
    _bundle(runs, "other", 200, {})
    assert find_bundles(runs) == [run, runs / "other" / "bundle"]
    note = chosen_bundle_words(run_bundles(runs), runs)[0]
    assert "the newest of 2 run bundles (RUN/bundle) under" in note
    assert note.endswith("(a variant's bundle: --bundle RUN/bundles/NAME)"), note


def _long_hash_lists(runs: Path) -> dict[str, Path]:
    """The trial user's folder (:func:`_trial_users_runs`) with a link ``runs/latest`` to the
    newest run and, in each ``metadata.json``, a list of hashes as long as a large run's."""
    made = _trial_users_runs(runs)
    for bundle in made.values():
        meta = json.loads((bundle / "metadata.json").read_text())
        meta["training_images"] = {"sha256_prefixes": " ".join(f"{i:016x}" for i in range(20_000))}
        stat = (bundle / "metadata.json").stat()
        (bundle / "metadata.json").write_text(json.dumps(meta))
        os.utime(bundle / "metadata.json", (stat.st_atime, stat.st_mtime))
    (runs / "latest").symlink_to("resume7")
    return made


def test_each_bundle_s_metadata_is_read_once_for_the_choice_and_its_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second read of the code: find_bundles read every metadata.json (which may hold long
    hash lists) for the order, then the note and the warning read them again, the chosen one
    up to six times (its build time, its words, its kind, its task per full run). Now once
    per bundle, whatever the call chain."""
    runs = tmp_path / "runs"
    made = _long_hash_lists(runs)
    opened = count_opens(monkeypatch, "metadata.json")
    assert find_newest_bundle(runs) == made["resume7"]
    assert opened == {(b / "metadata.json").resolve(): 1 for b in made.values()}, opened
    opened.clear()
    found = run_bundles(runs)
    note, warning = chosen_bundle_words(found, runs)
    assert opened == {(b / "metadata.json").resolve(): 1 for b in made.values()}, opened
    assert f"serving {made['resume7']} (also {runs / 'latest'})" in note and f"--bundle {made['first-try611']}" in warning
    opened.clear()
    assert chosen_bundle_words(found, runs) == (note, warning) and not opened  # the words read nothing


def test_the_app_reads_each_bundle_s_metadata_once_before_it_loads_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m app`` without ``--bundle``: the note and the warning from one read of each
    bundle's metadata.json (stopped before the load, by a torch pair refused)."""
    import drac_ssl.torch_pair
    from app.__main__ import main
    from drac_ssl.exit_codes import USAGE_ERROR

    runs = tmp_path / "runs"
    made = _long_hash_lists(runs)
    monkeypatch.setattr(drac_ssl.torch_pair, "torch_pair_refusal", lambda: "stopped here by the test")
    opened = count_opens(monkeypatch, "metadata.json")
    assert main(["--runs-dir", str(runs), "--threads", "1", "--temp-dir", str(tmp_path)]) == USAGE_ERROR
    captured = capsys.readouterr()
    assert opened == {(b / "metadata.json").resolve(): 1 for b in made.values()}, opened
    assert f"[app] no --bundle given: serving {made['resume7']} (also {runs / 'latest'}), the newest of 6" in captured.out
    assert f"[app] warning: {made['resume7']}, served as the newest, is a trial run's" in captured.out
    assert captured.err == "error: stopped here by the test\n", captured.err


def test_no_bundle_is_said_in_one_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The app's error when no bundle is found is run_bundles' NoBundleError, the one
    find_newest_bundle raises too (the app built its own beside it)."""
    from app.__main__ import main

    with pytest.raises(NoBundleError) as raised:
        find_newest_bundle(tmp_path)
    assert main(["--runs-dir", str(tmp_path), "--temp-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {raised.value}\n"
    assert "No model bundle found under" in str(raised.value)


def test_a_run_bundle_is_hashable_and_equal_by_its_fields(tmp_path: Path) -> None:
    """A reviewer's finding: RunBundle, a frozen dataclass with a dict field (task), raised
    TypeError on hash(); its task is compared but left out of the hash."""
    runs = tmp_path / "runs"
    made = _trial_users_runs(runs)
    first, again = run_bundles(runs), run_bundles(runs)  # metadata.json read twice: equal records
    assert first == again and {*first} == {*again} and len({*first, *again}) == len(made)
    assert hash(first[0]) == hash(again[0]) and first[0] is not again[0]
    assert {b: b.path for b in first}[again[0]] == made["resume7"]
    other = dataclasses.replace(first[0], task={**first[0].task, "channels": 1})
    assert other != first[0] and hash(other) == hash(first[0])  # the task still tells them apart
