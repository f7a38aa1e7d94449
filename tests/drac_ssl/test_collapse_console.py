"""The console says a collapsed representation, as report.md does (trial user F5).

A DRAC participant's run printed its ``[train] result:`` line and the pretraining's last line
without a word of the collapse that report.md's "Read this first" warned of ("The VICReg
representation looks collapsed"): someone reading the console alone took the run for sound.
The pretraining's (and UMM's) last line and the run's result lines now end with a
``warning:`` line, from the report's one rule (:func:`drac_ssl.collapse.collapse_symptoms`)
in the report's words (:func:`drac_ssl.collapse.collapse_warning`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fake_mnist import fake_mnist

from drac_ssl.collapse import collapse_warning, run_collapse_warnings
from drac_ssl.config import PACKAGE_CONFIGS, load_config

# the best epoch's monitors of a 1-epoch pretraining that collapsed (tests/drac_ssl/test_report.py's)
COLLAPSED = {"loss": 22.174007, "variance": 0.668895, "rate_reduction": 23.920582,
             "rate_reduction_last": 0.001117, "view_cosine_last": 0.999992}
HEALTHY = {"loss": 18.2, "variance": 0.12, "rate_reduction": 30.5, "rate_reduction_last": 4.388232,
           "view_cosine_last": 0.767453}


def _meta(metrics: dict[str, float]) -> dict[str, object]:
    return {"best_epoch": 0, "epochs_run": 1, "stopped": "completed", "metrics": metrics,
            "config": {"pretrain": {"loss": {"gamma": 1.0}}}}


def test_the_console_and_the_report_say_one_warning(tmp_path: Path) -> None:
    """The same symptoms, meaning and fix; report.md's in Markdown, the console's plain; a
    healthy stage says nothing, and each stage of a run folder is read from its record."""
    from drac_ssl.report import write_report

    console = collapse_warning(_meta(COLLAPSED), "pretrain")
    assert console.startswith("the VICReg representation looks collapsed: rate reduction of the probe 0.0011 "
                              "(under 0.5; runs that learnt have several) and view cosine 1.0000: every "
                              "image gives nearly the same features. Its features then carry little "
                              "information about the images"), console
    assert console.endswith("Pretrain for more epochs (pretrain.epochs) or with a larger batch "
                            "(pretrain.batch_size), and check the learning rate (pretrain.lr).")
    assert "`" not in console and "**" not in console and "below" not in console
    assert collapse_warning(_meta(HEALTHY), "pretrain") == ""
    assert collapse_warning({"metrics": "damaged"}, "umm") == ""  # no evidence either way
    # a run folder: pretraining healthy, UMM collapsed; report.md says the same words in Markdown
    run = tmp_path / "run"
    for stage, metrics in (("pretrain", HEALTHY), ("umm", COLLAPSED)):
        (run / stage).mkdir(parents=True)
        (run / stage / "metadata.json").write_text(json.dumps(_meta(metrics)))
    said = run_collapse_warnings(run)
    assert said == [collapse_warning(_meta(COLLAPSED), "umm")]
    assert said[0].startswith("the UMM representation looks collapsed: rate reduction of UMM's training batches")
    report = write_report(run).read_text(encoding="utf-8")
    marked = collapse_warning(_meta(COLLAPSED), "umm", markdown=True)
    assert f"> {marked}" in report and "(`umm.epochs`)" in marked and "`pretrain.epochs`" not in marked
    assert said[0].split(": ", 1)[1].split(". Its", 1)[0] in marked  # the same symptoms
    assert "VICReg representation looks collapsed" not in report
    assert run_collapse_warnings(tmp_path / "nothing") == []


def test_the_umm_warning_names_umms_own_settings() -> None:
    """A review: UMM's collapse warning gave VICReg's fix (pretrain.epochs, pretrain.batch_size,
    pretrain.lr), settings that leave UMM's re-tuning as it was. It now names UMM's own, each a
    real setting of the config; the VICReg warning's words are unchanged, and UMM's meaning
    names the one variant it trains."""
    import re
    from dataclasses import fields

    from drac_ssl.config import Config

    umm = collapse_warning(_meta(COLLAPSED), "umm")
    assert umm.endswith("Re-tune UMM for more epochs (umm.epochs) or with a larger batch (umm.batch_size), "
                        "and check its learning rates (umm.inner_lr, umm.outer_lr); if the VICReg "
                        "representation it starts from looks collapsed too, mend the pretraining first."), umm
    assert "pretrain." not in umm and "figures of the VICReg + UMM variant measure mostly" in umm
    marked = collapse_warning(_meta(COLLAPSED), "umm", markdown=True)
    assert "(`umm.batch_size`)" in marked and "(`umm.inner_lr`, `umm.outer_lr`)" in marked
    assert "VICReg + UMM variant below" in marked
    for words in (umm, collapse_warning(_meta(COLLAPSED), "pretrain")):  # each a setting there is
        for section, name in re.findall(r"\b(umm|pretrain)\.([a-z_]+)\b", words):
            assert name in {f.name for f in fields(getattr(Config(), section))}, (section, name)
    vicreg = collapse_warning(_meta(COLLAPSED), "pretrain", markdown=True)  # report.md's, as before
    assert vicreg.endswith("so the fine-tuning figures of the VICReg variants below measure mostly the head "
                           "and the fine-tuning, not the pretraining. Pretrain for more epochs "
                           "(`pretrain.epochs`) or with a larger batch (`pretrain.batch_size`), and check "
                           "the learning rate (`pretrain.lr`)."), vicreg


def test_the_fix_says_what_happened_not_settings_that_cannot_help() -> None:
    """A trial user's 30 photographs: batch 16 (one step an epoch), early stopping at epoch 12 of
    100 (pretrain.patience=5); the warning said 'more epochs or a larger batch', neither of which
    could help (early stop; a batch over 30 is refused). Now: a tiny pool says no setting mends
    it and points at the scratch comparison; a pool that stopped early names pretrain.patience
    and the epoch; a batch already the largest the pool allows is not offered larger."""
    def meta(n: int, batch: int, stopped: str) -> dict[str, object]:
        return {**_meta(COLLAPSED), "training_data": f"colour fundus photographs, {n:,} images", "stopped": stopped,
                "epochs_run": 12, "config": {"pretrain": {"batch_size": batch, "epochs": 100, "patience": 5}}}

    early = "early stopping: no improvement of the epoch loss for 5 epochs"
    tiny = collapse_warning(meta(30, 16, early), "pretrain")
    assert ("On 30 images (1 step an epoch at batch 16; it stopped early, at epoch 12 of 100, after "
            "pretrain.patience=5 epochs without a lower epoch loss), self-supervised learning cannot be "
            "expected to learn") in tiny, tiny
    assert "comparison with scratch" in tiny and "larger batch" not in tiny and "more epochs" not in tiny
    stopped = collapse_warning(meta(3000, 32, early), "pretrain")
    assert ("As it stopped early, at epoch 12 of 100, after pretrain.patience=5 epochs without a lower epoch "
            "loss, more epochs (pretrain.epochs) alone change nothing: raise pretrain.patience") in stopped, stopped
    assert "or pretrain with a larger batch (pretrain.batch_size)" in stopped
    largest = collapse_warning(meta(3000, 2048, "completed all epochs"), "pretrain", markdown=True)
    assert "larger batch" not in largest
    assert "(its batch, `pretrain.batch_size=2048`, is the largest 3000 images allow)" in largest, largest
    umm = collapse_warning({**meta(30, 16, early), "config": {"umm": {"batch_size": 16}}}, "umm")
    assert "On 30 images (1 step an epoch at batch 16)" in umm and "larger batch" not in umm, umm


def test_a_collapsed_pretraining_is_warned_of_on_the_console(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny MNIST pretraining (one step) whose variance term's target std is 100
    (``pretrain.loss.gamma=100``): the embeddings' std, about 1, is near 0 against it, so the
    collapse rule holds on its recorded monitors. The pretraining's last line and the
    ``[train] result:`` line are each followed by the warning, in report.md's words."""
    from drac_ssl import train

    root = fake_mnist(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    code = train.main(["-c", str(PACKAGE_CONFIGS / "mnist.yaml"), f"data.root={root}", "run.device=cpu",
                       "pretrain.epochs=1", "pretrain.max_steps_per_epoch=1", "pretrain.batch_size=8",
                       "pretrain.knn_every=0", "pretrain.warmup_epochs=0", "pretrain.expander=32-32",
                       "pretrain.augment.on_gpu=false", "pretrain.monitor_images=0",
                       "pretrain.backbone.stem_stride=2", "pretrain.loss.gamma=100",
                       "run.stages=[pretrain]", "run.out_dir=runs", "run.name=collapsed"])
    out = capsys.readouterr().out
    assert code == 0
    meta = json.loads((tmp_path / "runs" / "collapsed" / "pretrain" / "metadata.json").read_text())
    words = collapse_warning(meta, "pretrain")
    assert words.startswith("the VICReg representation looks collapsed: VICReg variance term "), words
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("[pretrain] completed all epochs"))
    # a pretraining capped at 1 step an epoch is a trial run: the console says the collapse is
    # expected of it (after a 3-step first try a trial user took it for a fault), on the
    # pretraining's own line as on the result's
    expected = " (expected in a trial run: its pretraining was cut short)"
    assert lines[at + 1] == f"[pretrain] warning: {words}{expected}", lines[at:at + 2]
    result = next(i for i, line in enumerate(lines) if line.startswith("[train] result: "))
    # said once in full (a trial user saw the paragraph twice): the result's line points at it
    assert lines[result + 1] == ("[train] warning: the VICReg representation looks collapsed: the [pretrain] "
                                 f"warning above says what was seen and what to do{expected}"), lines[result:result + 2]
    assert out.count(words) == 1
    assert "carry little information about the images" in words and "comparison with scratch" in words  # a tiny pool
    assert lines[result + 2].startswith("[train] next: "), lines[result:]
    report = (tmp_path / "runs" / "collapsed" / "report.md").read_text(encoding="utf-8")
    assert collapse_warning(meta, "pretrain", markdown=True) in report


def test_a_first_trys_collapse_is_said_expected_on_every_stages_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The last session's finding: after ``--first-try`` the ``[train]`` collapse line said the
    collapse was expected in a first try, the ``[pretrain]`` and ``[umm]`` lines said the same
    warning without it. A first try of MNIST's pretraining and UMM (``pretrain.loss.gamma=100``:
    the variance term near its cap, the collapse rule holds on both stages' monitors): each
    stage's line and each of the run's result lines end with the one clause
    (:func:`drac_ssl.collapse.expected_collapse_clause`)."""
    from drac_ssl import collapse, train

    root = fake_mnist(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    code = train.main(["-c", str(PACKAGE_CONFIGS / "mnist.yaml"), "--first-try", f"data.root={root}",
                       "run.device=cpu", "pretrain.expander=32-32", "pretrain.augment.on_gpu=false",
                       "pretrain.monitor_images=0", "pretrain.backbone.stem_stride=2", "pretrain.loss.gamma=100",
                       "run.stages=[pretrain,umm]", "run.out_dir=runs"])
    out = capsys.readouterr().out
    assert code == 0
    run = tmp_path / "runs" / "first-try"
    expected = " (expected in a first try: its pretraining is a few steps)"
    assert collapse.expected_collapse_clause(run) == collapse.EXPECTED_IN_FIRST_TRY == expected
    said = {}
    for stage in ("pretrain", "umm"):
        words = collapse_warning(json.loads((run / stage / "metadata.json").read_text()), stage)
        assert words.startswith(f"the {collapse.SSL_STAGE_TITLES[stage]} representation looks collapsed: "), words
        said[stage] = words
    warned = [line for line in out.splitlines() if " warning: the " in line and "looks collapsed" in line]
    pointer = "the {} representation looks collapsed: the [{}] warning above says what was seen and what to do"
    assert warned == [f"[pretrain] warning: {said['pretrain']}{expected}", f"[umm] warning: {said['umm']}{expected}",
                      f"[train] warning: {pointer.format('VICReg', 'pretrain')}{expected}",
                      f"[train] warning: {pointer.format('UMM', 'umm')}{expected}"], warned
    # the words come from one place: the stage's line is the console's rule of its record; a
    # process that did not run the stages (a resumed run) says them in full
    collapse._SAID_BY_THE_STAGE.clear()
    assert run_collapse_warnings(run) == [f"{said['pretrain']}{expected}", f"{said['umm']}{expected}"]
    # report.md keeps its own words, without the console's clause
    report = (run / "report.md").read_text(encoding="utf-8")
    assert collapse_warning(json.loads((run / "umm" / "metadata.json").read_text()), "umm", markdown=True) in report
    assert "expected in a first try" not in report


def _trial_folder(run: Path, pretrain: dict[str, object], *lines: dict[str, object],
                  finetune_epochs: int = 50, stages: dict[str, object] | None = None,
                  recorded: bool = True) -> Path:
    """A run folder as python -m drac_ssl.train leaves it: ``config.yaml`` (``pretrain`` and
    ``finetune.epochs``), a pretraining and a fine-tuning folder, the pretraining's
    ``metadata.json`` with collapsed monitors and the settings it ran with (``recorded``), one
    ``invocations.jsonl`` line per ``lines`` and, given, ``stages.json``."""
    settings = {"pretrain": {"batch_size": 8, "max_steps_per_epoch": 0, **pretrain},
                "finetune": {"epochs": finetune_epochs}, "run": {"name": run.name}}
    for stage in ("pretrain", "finetune"):
        (run / stage).mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(settings))
    if recorded:
        (run / "pretrain" / "metadata.json").write_text(json.dumps(
            {**_meta(COLLAPSED), "training_data": "997 images of data/manifest.csv", "config": settings}))
    (run / "invocations.jsonl").write_text("".join(json.dumps({"tool": "drac_ssl.train", **line}) + "\n"
                                                   for line in lines))
    if stages is not None:
        (run / "stages.json").write_text(json.dumps(stages))
    return run


def _typed(key: str, typed: int, file: int, **more: object) -> dict[str, object]:
    """An invocation line's record of ``key`` typed on the command line (trial_run.INVOCATION_KEY)."""
    from drac_ssl.trial_run import INVOCATION_KEY

    return {INVOCATION_KEY: {key: {"typed": typed, "file": file, "config": "configs/drac.yaml", **more}}}


def test_the_clause_is_said_only_of_a_trial_run(tmp_path: Path) -> None:
    """A run folder without a readable config.yaml (a stage run alone, as the tests do) or of a
    full run gets no clause; one whose invocations.jsonl records --first-try gets the first
    try's only while its config.yaml still holds what --first-try set (review F2)."""
    from drac_ssl.collapse import (
        EXPECTED_IN_FIRST_TRY,
        console_collapse_warning,
        expected_collapse_clause,
    )
    from drac_ssl.trial_run import FIRST_TRY_KEY

    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    assert expected_collapse_clause(run) == ""  # no config.yaml: unknown, no claim
    (run / "config.yaml").write_text("pretrain:\n  epochs: 100\n  batch_size: 8\n  max_steps_per_epoch: 0\n")
    assert expected_collapse_clause(run) == ""  # a full run
    assert console_collapse_warning(_meta(COLLAPSED), "pretrain", run) == collapse_warning(_meta(COLLAPSED), "pretrain")
    assert console_collapse_warning(_meta(HEALTHY), "pretrain", run) == ""
    # a first try's record, and the first try's settings in config.yaml: its pretraining 1 of 100
    # epochs (--first-try's), capped at 3 steps
    (run / "config.yaml").write_text("pretrain:\n  epochs: 1\n  batch_size: 8\n  max_steps_per_epoch: 3\n")
    (run / "invocations.jsonl").write_text(json.dumps(
        {"tool": "drac_ssl.train", FIRST_TRY_KEY: {"applied": ["pretrain.epochs=1", "pretrain.max_steps_per_epoch=3"]},
         **_typed("pretrain.epochs", 1, 100, option="--first-try")}) + "\n")
    assert expected_collapse_clause(run) == EXPECTED_IN_FIRST_TRY
    assert console_collapse_warning(_meta(COLLAPSED), "umm", run) == collapse_warning(_meta(COLLAPSED), "umm") + EXPECTED_IN_FIRST_TRY
    assert console_collapse_warning(_meta(HEALTHY), "umm", run) == ""


def test_a_full_pretraining_gets_no_clause_whatever_else_was_cut(tmp_path: Path) -> None:
    """Review F1: the clause followed trial_run_record's "trial", which a fine-tuning typed
    short makes true too: a full 100-epoch pretraining that collapsed read "(expected in a trial
    run: its pretraining was cut short)", false, and it hid a real collapse. The clause now
    follows the pretraining alone (trial_run.pretraining_cut_short), as the stage ran."""
    from drac_ssl.collapse import EXPECTED_IN_TRIAL_RUN, expected_collapse_clause
    from drac_ssl.trial_run import INVOCATION_KEY, pretraining_cut_short, trial_run_record

    # finetune.epochs=2 typed on a file's 50, the pretraining the file's 100 epochs: a trial
    # run (report.md says so, rightly), but not a pretraining cut short
    run = _trial_folder(tmp_path / "finetune-short", {"epochs": 100}, _typed("finetune.epochs", 2, 50),
                        finetune_epochs=2)
    record = trial_run_record(run)
    assert record is not None and record["trial"] is True and "fine-tuning was given 2 of the 50" in record["why"]
    assert pretraining_cut_short(run) == {}
    assert expected_collapse_clause(run) == ""
    assert run_collapse_warnings(run) == [collapse_warning(_meta(COLLAPSED), "pretrain")]
    # run.reuse took a full pretraining into a run whose fine-tuning was typed short
    run = _trial_folder(tmp_path / "reused", {"epochs": 100}, _typed("finetune.epochs", 2, 50),
                        finetune_epochs=2, stages={"pretrain": {"status": "done", "reused_from": "runs/full"}})
    assert trial_run_record(run)["trial"] is True and expected_collapse_clause(run) == ""
    # ... and one that took a trial's pretraining (its record carried into stages.json) gets it
    taken = {"pretrain.epochs": {"typed": 2, "file": 100, "config": "configs/drac.yaml", "ran": 2, "in": "runs/t"}}
    run = _trial_folder(tmp_path / "reused-trial", {"epochs": 2}, stages={
        "pretrain": {"status": "done", "reused_from": "runs/t", INVOCATION_KEY: taken}})
    assert set(pretraining_cut_short(run)) == {"pretrain.epochs"}
    assert expected_collapse_clause(run) == EXPECTED_IN_TRIAL_RUN
    # the pretraining itself cut short: its epochs typed far below the file's, or its step cap
    run = _trial_folder(tmp_path / "pretrain-short", {"epochs": 2}, _typed("pretrain.epochs", 2, 100))
    assert pretraining_cut_short(run)["pretrain.epochs"]["ran"] == 2
    assert expected_collapse_clause(run) == EXPECTED_IN_TRIAL_RUN
    assert run_collapse_warnings(run) == [collapse_warning(_meta(COLLAPSED), "pretrain") + EXPECTED_IN_TRIAL_RUN]
    run = _trial_folder(tmp_path / "capped", {"epochs": 100, "max_steps_per_epoch": 4})
    assert pretraining_cut_short(run) == {"pretrain.max_steps_per_epoch": {"cap": 4, "batch_size": 8, "images": 997}}
    assert expected_collapse_clause(run) == EXPECTED_IN_TRIAL_RUN
    # a cap the pool never reaches (997 images, 8 a batch: 124 steps) cuts nothing
    run = _trial_folder(tmp_path / "cap-unreached", {"epochs": 100, "max_steps_per_epoch": 500})
    assert expected_collapse_clause(run) == ""
    # the settings the stage ran with, not config.yaml's: a config.yaml whose cap differs from
    # the one its pretraining recorded is judged by the record
    run = _trial_folder(tmp_path / "recorded", {"epochs": 100})
    (run / "config.yaml").write_text(yaml.safe_dump({"pretrain": {"epochs": 100, "batch_size": 8,
                                                                  "max_steps_per_epoch": 3}}))
    assert expected_collapse_clause(run) == ""
    run = _trial_folder(tmp_path / "unrecorded", {"epochs": 100, "max_steps_per_epoch": 3}, recorded=False)
    assert expected_collapse_clause(run) == EXPECTED_IN_TRIAL_RUN  # no record: config.yaml, the pool unknown


def test_a_full_run_in_a_first_trys_folder_is_no_first_try(tmp_path: Path) -> None:
    """Review F2: a --first-try stopped before anything finished, then the full command with
    run.name=first-try (a folder where nothing finished takes a changed configuration): the
    first try's invocations.jsonl line stayed, and the full run's 100-epoch pretraining read
    "(expected in a first try: its pretraining is a few steps)", and its report "Made with
    --first-try". Both now need the first try's settings in config.yaml
    (trial_run.standing_first_try), the clause a pretraining cut short too."""
    from drac_ssl.collapse import (
        EXPECTED_IN_FIRST_TRY,
        EXPECTED_IN_TRIAL_RUN,
        expected_collapse_clause,
    )
    from drac_ssl.report import write_report
    from drac_ssl.trial_run import FIRST_TRY_KEY, first_try_record, standing_first_try

    first_try = {"tool": "drac_ssl.train", FIRST_TRY_KEY: {
        "applied": ["pretrain.epochs=1", "pretrain.max_steps_per_epoch=3", "run.name=first-try"]},
        **_typed("pretrain.epochs", 1, 100, option="--first-try")}
    run = _trial_folder(tmp_path / "first-try", {"epochs": 100}, first_try, {"tool": "drac_ssl.train"})
    assert first_try_record(run) is not None  # the stopped first try's line is still there
    assert standing_first_try(run) is None
    assert expected_collapse_clause(run) == ""
    assert run_collapse_warnings(run) == [collapse_warning(_meta(COLLAPSED), "pretrain")]
    report = write_report(run).read_text(encoding="utf-8")
    assert "Made with `--first-try`" not in report
    # the first try itself, in a folder of its own: both said
    run = _trial_folder(tmp_path / "own" / "first-try", {"epochs": 1, "max_steps_per_epoch": 3}, first_try)
    assert standing_first_try(run) == first_try[FIRST_TRY_KEY]
    assert expected_collapse_clause(run) == EXPECTED_IN_FIRST_TRY
    assert "Made with `--first-try`" in write_report(run).read_text(encoding="utf-8")
    # a first try whose pretraining the user typed (pretrain.epochs=20 in place of its 1): a
    # trial's clause, not "a few steps"
    typed = {**first_try, FIRST_TRY_KEY: {**first_try[FIRST_TRY_KEY], "applied": ["pretrain.max_steps_per_epoch=3"],
                                          "replaced": ["pretrain.epochs=20"]}}
    run = _trial_folder(tmp_path / "typed" / "first-try", {"epochs": 20, "max_steps_per_epoch": 3}, typed)
    assert standing_first_try(run) is not None
    assert expected_collapse_clause(run) == EXPECTED_IN_TRIAL_RUN
    # the same test of a configuration a command is about to run (to_dict of its Config)
    from drac_ssl.config import Config, to_dict
    from drac_ssl.trial_run import FIRST_TRY, first_try_settings, holds_first_try

    record = {"applied": first_try_settings(), "replaced": []}
    assert not holds_first_try(record, to_dict(Config()))  # the defaults: a full run
    assert holds_first_try(record, to_dict(load_config(None, list(FIRST_TRY))))
    assert not holds_first_try(None, to_dict(Config()))


def test_the_full_command_after_a_stopped_first_try_says_no_first_try(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F2 end to end through python -m drac_ssl.train's main: ``--first-try`` stopped in
    its ingest (a bad file), then the full command typed with ``run.name=first-try``, in the
    folder where nothing finished. The full run's pretraining (a stand-in recording collapsed
    monitors and the settings it ran with) is warned of without the first try's clause, and
    its report does not say it was made with ``--first-try``."""
    from drac_ssl import train
    from drac_ssl.config import to_dict
    from drac_ssl.trial_run import first_try_record

    def stopped(cfg, run_dir):  # type: ignore[no-untyped-def]
        raise ValueError(f"{run_dir}: an unreadable image (a stand-in for the ingest's refusal)")

    def collapsed(cfg, run_dir):  # type: ignore[no-untyped-def]
        (run_dir / "pretrain").mkdir(exist_ok=True)
        (run_dir / "pretrain" / "metadata.json").write_text(json.dumps({**_meta(COLLAPSED), "config": to_dict(cfg)}))
        return {}

    monkeypatch.chdir(tmp_path)
    (tmp_path / "long.yaml").write_text("data:\n  n_folds: 2\npretrain:\n  epochs: 100\n  batch_size: 4\n")
    common = ["-c", "long.yaml", "data.phantom_n_train=15", "data.phantom_n_test=3", "data.workers=1",
              "run.device=cpu", "run.stages=[ingest,pretrain]"]
    monkeypatch.setitem(train.STAGES, "ingest", stopped)
    assert train.main([*common, "--first-try"]) != 0
    run = tmp_path / "runs" / "first-try"
    assert first_try_record(run) is not None
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(train.STAGES, "pretrain", collapsed)
    capsys.readouterr()
    assert train.main([*common, "data.cache_sizes=[24]", "pretrain.augment.source_size=24",
                       "pretrain.augment.image_size=16", "run.name=first-try"]) == 0
    out = capsys.readouterr().out
    warned = [line for line in out.splitlines() if "looks collapsed" in line]
    assert warned == [f"[train] warning: {collapse_warning(_meta(COLLAPSED), 'pretrain')}"], warned
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "VICReg representation looks collapsed" in report and "Made with `--first-try`" not in report
    # nor does its config.yaml's comment call it the tiny first try (train.py's save_config)
    assert "the tiny first try" not in (run / "config.yaml").read_text(encoding="utf-8")


def test_a_first_try_whose_config_sets_few_epochs_on_a_small_pool_keeps_its_clause(tmp_path: Path) -> None:
    """Review of collapse_fix, F2: configs/default.yaml pretrains 3 epochs, so the first try's 1
    is not "far below" it, and on a pool under 32 images the 3-step cap cuts nothing either;
    the first try's clause was lost though its pretraining is one epoch of at most 3 steps.
    A standing first try that left the pretraining's settings as it set them keeps it."""
    from drac_ssl.collapse import EXPECTED_IN_FIRST_TRY, expected_collapse_clause
    from drac_ssl.trial_run import FIRST_TRY_KEY, pretraining_cut_short

    line = {FIRST_TRY_KEY: {"applied": ["pretrain.epochs=1", "pretrain.max_steps_per_epoch=3"]},
            **_typed("pretrain.epochs", 1, 3, option="--first-try")}
    run = _trial_folder(tmp_path / "first-try", {"epochs": 1, "max_steps_per_epoch": 3}, line, recorded=False)
    (run / "pretrain" / "metadata.json").write_text(json.dumps(
        {**_meta(COLLAPSED), "training_data": "30 images of data/manifest.csv",
         "config": yaml.safe_load((run / "config.yaml").read_text())}))
    assert pretraining_cut_short(run) == {}  # neither rule calls it cut
    assert expected_collapse_clause(run) == EXPECTED_IN_FIRST_TRY
    # the same folder with pretrain.epochs typed in the first try's place: no first-try clause
    typed = {FIRST_TRY_KEY: {"applied": ["pretrain.max_steps_per_epoch=3"], "replaced": ["pretrain.epochs=1"]}}
    run = _trial_folder(tmp_path / "typed", {"epochs": 1, "max_steps_per_epoch": 3}, typed, recorded=False)
    assert expected_collapse_clause(run) != EXPECTED_IN_FIRST_TRY


def test_a_second_run_in_the_same_process_says_the_stage_warnings_in_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 3 F10: the stages whose warning this process printed were remembered for the whole
    process, so a second run_pipeline of the same folder (a script, a notebook) whose stages
    were done pointed at "the [pretrain] warning above" with nothing above it."""
    from drac_ssl import collapse, train

    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    (run / "pretrain" / "metadata.json").write_text(json.dumps(_meta(COLLAPSED)))
    assert collapse.stage_collapse_warning(_meta(COLLAPSED), "pretrain", run)  # the first run's stage
    assert "warning above" in run_collapse_warnings(run)[0]
    seen: list[list[str]] = []

    def stages_done(*args: object) -> Path:  # the second run: every stage already done
        seen.append(run_collapse_warnings(run))
        return run

    monkeypatch.setattr(train, "_run_pipeline_stages", stages_done)
    train.run_pipeline(load_config(None, []))
    assert len(seen) == 1 and "warning above" not in seen[0][0]
    assert seen[0][0].startswith(collapse_warning(_meta(COLLAPSED), "pretrain"))


def test_a_pool_of_exactly_300_images_gets_the_settings_fix() -> None:
    """Mutation audit M65: only a pool of FEWER than :data:`FEW_IMAGES_TO_PRETRAIN` (300)
    images is told that no setting mends a collapse; one of exactly 300 gets the settings."""
    from drac_ssl.collapse import FEW_IMAGES_TO_PRETRAIN

    def words(n: int) -> str:
        return collapse_warning({**_meta(COLLAPSED), "training_data": f"colour fundus photographs, {n:,} images",
                                 "stopped": "completed all epochs", "epochs_run": 100,
                                 "config": {"pretrain": {"batch_size": 16, "epochs": 100, "patience": 5}}}, "pretrain")

    assert FEW_IMAGES_TO_PRETRAIN == 300
    assert "cannot be expected to learn" in words(299)
    exactly = words(300)
    assert "cannot be expected to learn" not in exactly and "Pretrain for more epochs" in exactly, exactly
