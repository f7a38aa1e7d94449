"""finetune.keep=inner: each fold chooses its epoch on an inner split of its training images
(drac_ssl.finetune.inner_split), never on the validation fold it is scored on.

Tiny fake ingest (30 labelled 64 px images, 10 per grade, 2 folds), CPU, seconds.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fake_ingest import TINY_FINETUNE, make_fake_ingest

from drac_ssl import finetune, pretrain
from drac_ssl.config import Config, ConfigError, load_config


def tiny_config(**overrides: str) -> Config:
    own = {"finetune.n_boot": "20", "data.n_folds": "2", "umm.enabled": "false"}
    return load_config(None, [f"{k}={v}" for k, v in {**TINY_FINETUNE, **own, **overrides}.items()])


@pytest.fixture(scope="module")
def two_fold_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("inner")
    make_fake_ingest(root, n_folds=2)
    pretrain.run(tiny_config(), root)
    yield root
    torch.set_num_threads(threads)


def _linked_run(source: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("data", "pretrain"):
        (run / name).symlink_to(source / name, target_is_directory=True)
    return run


def _ctx(cfg: Config, grades: np.ndarray, folds: np.ndarray, patients: list[str] | None = None) -> SimpleNamespace:
    """A stand-in :class:`finetune._Context` with what the split positions read."""
    ctx = SimpleNamespace(cfg=cfg, ft=cfg.finetune, grades=grades, folds=folds, patients=patients,
                          seed=cfg.finetune.seed if cfg.finetune.seed >= 0 else cfg.run.seed,
                          fold_ids=sorted(set(folds.tolist())))
    for name in ("train_positions", "inner_positions", "fit_positions"):
        setattr(ctx, name, (lambda f, n=name: getattr(finetune._Context, n)(ctx, f)))
    return ctx


def test_the_inner_split_is_stratified_disjoint_seeded_and_keeps_groups_whole() -> None:
    grades = np.repeat(np.arange(3), [60, 30, 10])
    chosen = finetune.inner_split(grades, None, 0.2, np.random.default_rng(0))
    # 20 of 100 images, in the grades' proportions (12, 6, 2)
    assert np.bincount(grades[chosen], minlength=3).tolist() == [12, 6, 2]
    assert np.array_equal(chosen, finetune.inner_split(grades, None, 0.2, np.random.default_rng(0)))
    assert not np.array_equal(chosen, finetune.inner_split(grades, None, 0.2, np.random.default_rng(1)))
    # patients: every patient's images all inner or all trained on; the patient's grade is its highest
    patients = [f"p{i // 2}" for i in range(100)]  # two images each
    grouped = finetune.inner_split(grades, patients, 0.2, np.random.default_rng(0))
    inner_patients = {patients[i] for i in grouped}
    assert all((i in set(grouped.tolist())) == (patients[i] in inner_patients) for i in range(100))
    assert len(inner_patients) == 10  # 20 % of the 50 patients
    # a grade with one unit only is never held out whole: every grade is still trained on
    rare = np.array([0] * 9 + [1])
    for seed in range(20):
        held = finetune.inner_split(rare, None, 0.5, np.random.default_rng(seed))
        assert 9 not in held.tolist() and len(held) >= 1
    with pytest.raises(ValueError, match=r"finetune\.keep=inner: fold 3 has 1 training .*\n  fix: finetune\.keep=last"):
        finetune.inner_split(np.array([0, 1]), ["a", "a"], 0.15, np.random.default_rng(0), where="fold 3")


def test_each_folds_inner_split_leaves_its_validation_and_training_images_and_follows_the_seed() -> None:
    folds, grades = np.arange(60) % 5, np.repeat(np.arange(3), 20)
    # units of two images (10k + f, 10k + f + 5) of one grade, inside one fold, as the folds keep them
    patients = [f"u{i // 10}-{i % 5}" for i in range(60)]
    cfg = tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": "0.25"})
    ctx = _ctx(cfg, grades, folds, patients)
    for fold in range(5):
        train, inner, fit = ctx.train_positions(fold), ctx.inner_positions(fold), ctx.fit_positions(fold)
        val = np.flatnonzero(folds == fold)
        assert len(inner) and not set(inner.tolist()) & set(val.tolist())
        assert not set(inner.tolist()) & set(fit.tolist())
        assert sorted([*inner.tolist(), *fit.tolist()]) == train.tolist()
        held = {patients[i] for i in inner}
        assert not held & {patients[i] for i in fit}  # groups whole
        assert set(grades[fit].tolist()) == {0, 1, 2}
        # 6 of the fold's 24 units, 2 of each grade's 8: 4 images of each grade
        assert len(held) == 6 and np.bincount(grades[inner], minlength=3).tolist() == [4, 4, 4]
        assert np.array_equal(inner, ctx.inner_positions(fold))  # the same for every call (variant)
    other = _ctx(tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": "0.25",
                                "finetune.seed": "5"}), grades, folds, patients)
    assert any(not np.array_equal(ctx.inner_positions(f), other.inner_positions(f)) for f in range(5))
    # no inner split under the other rules: the fold trains on all its training images
    last = _ctx(tiny_config(), grades, folds, patients)
    assert last.inner_positions(0).size == 0 and np.array_equal(last.fit_positions(0), last.train_positions(0))
    # image units without patients: stratified by grade, about the fraction
    plain = _ctx(tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": "0.25"}), grades, folds)
    inner = plain.inner_positions(0)
    assert len(inner) == 12 and np.bincount(grades[inner], minlength=3).tolist() == [4, 4, 4]


@pytest.mark.parametrize("value", ["0", "0.6", "-0.1", "nan", "1"])
def test_an_inner_fraction_outside_zero_to_a_half_is_refused_with_its_range(value: str) -> None:
    with pytest.raises(ConfigError, match=r"finetune\.inner_fraction.*must be > 0 and <= 0\.5.*inner split"
                       r"(.|\n)*fix: finetune\.inner_fraction=0\.15"):
        finetune.check_settings(tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": value}))


def test_keep_inner_is_an_allowed_rule_and_the_choices_name_it() -> None:
    finetune.check_settings(tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": "0.5"}))
    with pytest.raises(ConfigError, match=r"finetune\.keep(.|\n)*inner"):
        tiny_config(**{"finetune.keep": "middle"})


def test_keep_inner_keeps_the_inner_best_epoch_scores_validation_once_and_resumes_only_alike(
        two_fold_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _linked_run(two_fold_run, tmp_path)
    settings = {"finetune.keep": "inner", "finetune.inner_fraction": "0.3", "finetune.epochs": "5",
                "finetune.patience": "2", "finetune.compare_scratch": "true", "finetune.lr": "0.01"}
    result = finetune.run(tiny_config(**settings), run)
    out = capsys.readouterr().out
    assert out.count("best inner-split epoch") == 4 and "inner QWK" in out
    inner_ids: dict[str, dict[int, list[str]]] = {}
    for name, variant in result.variants.items():
        metrics = variant.metrics
        assert metrics["keep"] == "inner" and metrics["inner_fraction"] == 0.3
        assert "finetune.keep=inner" in metrics["protocol_words"] and "optimistic" not in metrics["protocol_words"]
        for row in metrics["folds"]:
            record = json.loads((variant.out_dir / f"fold{row['fold']}.json").read_text())
            history = record["history"]
            # the loop scored the inner split only: no validation figure per epoch
            assert all("val_qwk" not in h and "val_loss" not in h for h in history)
            # the kept epoch is the inner-best: highest inner kappa, lowest inner loss among ties,
            # and the patience stopped the fold no earlier than it allows
            kappas = [h["inner_qwk"] if h["inner_qwk"] is not None else -2.0 for h in history]
            best = max(range(len(history)), key=lambda e: (kappas[e], -history[e]["inner_loss"]))
            assert record["best_epoch"] == best == row["best_epoch"]
            first_best = kappas.index(max(kappas))
            assert len(history) == 5 or len(history) == first_best + 1 + 2
            # three disjoint sets: trained on, inner, validation
            train, inner, val = set(record["train_ids"]), set(record["inner_ids"]), set(record["val_ids"])
            assert inner and not (train & inner) and not (train & val) and not (inner & val)
            assert len(train) + len(inner) == 15 and record["n_inner"] == len(inner) == row["n_inner"]
            assert row["best_inner_qwk_uncalibrated"] == history[best]["inner_qwk"]
            # the validation kappa scored once after the choice (with the flips of finetune.tta)
            # has its own key: best_val_qwk_uncalibrated is the in-loop figure of keep=best|last
            assert math.isfinite(row["val_qwk_uncalibrated"]) and "best_val_qwk_uncalibrated" not in row
            assert row["val_qwk_uncalibrated"] == record["val_qwk_uncalibrated"]
            inner_ids.setdefault(name, {})[row["fold"]] = record["inner_ids"]
        # folds.csv: the inner split's own column, so train + inner + val are all 30 labelled images
        with open(variant.out_dir / "folds.csv", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
        assert [int(r["n_train"]) + int(r["n_inner"]) + int(r["n_val"]) for r in table] == [30, 30]
        # the fake ingest names no patients: every image its own unit, no groups claimed kept whole
        assert "kept whole" not in metrics["protocol_words"]
    assert inner_ids["scratch"] == inner_ids["vicreg"]  # the same split for every variant
    assert "finetune.keep=inner" in json.loads(result.comparison_path.read_text())["protocol"]
    # report.md: the fold table's inner column and the inner split's kappa figure, captioned as such
    from drac_ssl.report import FIGURE_CAPTIONS, write_report

    text = write_report(run).read_text(encoding="utf-8")
    assert "| fold | train | inner | val | kept epoch |" in text
    # small-set review F3: the inner count an integer (figure_text printed 4.000), and the inner
    # split of 4-5 images said on the console, in metrics.json and in "Read this first"
    for row in result.variants["vicreg"].metrics["folds"]:
        assert f"| {row['fold']} | {row['n_train']} | {row['n_inner']} | {row['n_val']} |" in text
    note = result.variants["vicreg"].metrics["inner_split_note"]
    assert note.startswith("epoch chosen on ") and note.endswith("prefer finetune.keep=last (the default: "
                                                                 "the last epoch, none chosen) on a set this small")
    assert f"[finetune] note: finetune.keep=inner: {note}" in out
    first = text.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert f"- {note[:1].upper()}{note[1:].split(' (', 1)[0]} (" in first, first
    assert "vicreg_inner_qwk.png" in text and "vicreg_val_qwk.png" not in text
    assert f"*Figure: {FIGURE_CAPTIONS['inner_qwk']}*" in text and "Validation QWK per epoch" not in text

    # the same settings reuse every fold; another inner fraction or rule retrains them
    capsys.readouterr()
    finetune.run(tiny_config(**settings), run)
    assert capsys.readouterr().out.count("reusing") == 4
    finetune.run(tiny_config(**{**settings, "finetune.inner_fraction": "0.2"}), run)
    assert "reusing" not in capsys.readouterr().out
    finetune.run(tiny_config(**{**settings, "finetune.keep": "best", "finetune.inner_fraction": "0.2"}), run)
    assert "reusing" not in capsys.readouterr().out


def test_an_inner_split_small_or_without_a_grade_is_said_and_a_large_one_is_not() -> None:
    """Small-set review F3: keep=inner chose each fold's epoch on an inner split of 4 images
    without the rare grade (inner_split never holds a grade's last unit out) without a word."""
    grades = np.array([0] * 30 + [1] * 12 + [2] * 3)
    folds = np.arange(45) % 2
    patients = [f"n{i % 20}" for i in range(30)] + [f"m{i % 4}" for i in range(12)] + ["r0", "r0", "r1"]
    folds[42:45] = [0, 0, 1]  # r0's two PDR images in one fold, r1's in the other
    cfg = tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": "0.2"})
    ctx = _ctx(cfg, grades, folds, patients)
    ctx.grade_names = ("Normal", "NPDR", "PDR")
    note = finetune.inner_split_note(ctx)
    sizes = {f: ctx.inner_positions(f).size for f in ctx.fold_ids}
    assert all(2 not in set(grades[ctx.inner_positions(f)].tolist()) for f in ctx.fold_ids)  # by design
    fold = min(sizes, key=lambda f: (sizes[f], f))
    held = len(set(grades[ctx.inner_positions(fold)].tolist()))
    assert note == (f"epoch chosen on {sizes[fold]} images of {held} grades (fold {fold}'s inner split, without any "
                    f"PDR image: a grade's last patient is never held out): prefer finetune.keep=last (the default: "
                    f"the last epoch, none chosen) on a set this small"), note
    big = np.repeat(np.arange(3), [200, 100, 60])
    large = _ctx(cfg, big, np.arange(big.size) % 2)
    large.grade_names = ("Normal", "NPDR", "PDR")
    assert finetune.inner_split_note(large) is None
    assert finetune.inner_split_note(_ctx(tiny_config(), grades, folds, patients)) is None  # keep=last


def test_the_inner_fraction_is_signed_only_under_keep_inner() -> None:
    cfg = tiny_config()
    ft = json.loads(json.dumps(finetune.to_dict(cfg.finetune)))
    for keep in ("last", "best"):
        signed = finetune._signed_settings({**ft, "keep": keep, "inner_fraction": 0.4}, scratch=False)
        assert "inner_fraction" not in signed
    assert finetune._signed_settings({**ft, "keep": "inner"}, scratch=False)["inner_fraction"] == 0.15


def _preflight_findings(*overrides: str) -> list:
    from drac_ssl import preflight, train

    cfg, sources, parsed = preflight.read_config(train.DEFAULT_CONFIG, list(overrides))
    assert parsed == []
    return preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)


def test_the_preflight_refuses_a_bad_inner_fraction_and_warns_of_one_no_rule_reads() -> None:
    (error,) = [f for f in _preflight_findings("finetune.keep=inner", "finetune.inner_fraction=0.7")
                if f.severity == "error" and f.setting == "finetune.inner_fraction"]
    assert "must be > 0 and <= 0.5" in error.line, error.line
    unused = [f for f in _preflight_findings("finetune.inner_fraction=0.3")
              if f.severity == "warning" and f.setting == "finetune.inner_fraction"]
    assert len(unused) == 1 and "finetune.keep=last" in unused[0].line and "finetune.keep=inner" in unused[0].fix
    assert not [f for f in _preflight_findings("finetune.keep=inner", "finetune.inner_fraction=0.3")
                if f.setting == "finetune.inner_fraction"]
    # the patience warning of keep=last now offers the honest early stop too
    (patience,) = [f for f in _preflight_findings("finetune.patience=3") if f.setting == "finetune.patience"]
    assert "finetune.keep=inner" in patience.fix


def test_an_inner_fraction_no_rule_reads_is_no_difference_of_a_run_folder(tmp_path: Path) -> None:
    from drac_ssl import train
    from drac_ssl.config import save_config

    run = tmp_path / "runs" / "inner"
    base = [f"run.out_dir={tmp_path / 'runs'}", "run.name=inner"]
    save_config(load_config(train.DEFAULT_CONFIG, base), run / "config.yaml")
    (run / "data").mkdir()
    (run / "data" / "manifest.csv").write_text("id\n", encoding="utf-8")
    (run / "finetune").mkdir()  # a stage's output: every setting is compared
    assert not train._existing_run_problem(load_config(train.DEFAULT_CONFIG, [*base, "finetune.inner_fraction=0.3"]), run)
    refused = train._existing_run_problem(load_config(train.DEFAULT_CONFIG, [*base, "finetune.keep=inner"]), run)
    assert "finetune.keep: 'last' -> 'inner'" in refused, refused


def test_keep_inner_with_a_trained_backbone_layer_chooses_on_the_inner_split_too(
        two_fold_run: Path, tmp_path: Path) -> None:
    run = _linked_run(two_fold_run, tmp_path)
    result = finetune.run(tiny_config(**{"finetune.keep": "inner", "finetune.freeze": "last",
                                         "finetune.head": "linear", "finetune.epochs": "3",
                                         "finetune.patience": "0", "finetune.compare_scratch": "false",
                                         "finetune.tta": "false"}), run)
    variant = result.variants["vicreg"]
    for row in variant.metrics["folds"]:
        record = json.loads((variant.out_dir / f"fold{row['fold']}.json").read_text())
        history = record["history"]
        assert len(history) == 3 and all(set(h) >= {"inner_qwk", "inner_loss"} and "val_qwk" not in h
                                         for h in history)
        kappas = [h["inner_qwk"] if h["inner_qwk"] is not None else -2.0 for h in history]
        assert record["best_epoch"] == max(range(3), key=lambda e: (kappas[e], -history[e]["inner_loss"]))
        assert not set(record["inner_ids"]) & (set(record["train_ids"]) | set(record["val_ids"]))


def test_an_image_grade_inside_higher_graded_patients_is_never_held_out_whole() -> None:
    # fold 1 trains on fold 0: its only grade-1 image sits in patient c beside a grade-2 image,
    # so c's unit grade is 2 and the unit-grade guarantee alone could draw c whole (a review:
    # grade 1 untrained in 18 of 40 seeds)
    grades = np.array([0, 0, 0, 0, 1, 2, 0, 0, 2, 2, 0, 0, 0, 1, 2, 0])
    patients = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f", "v1", "v2", "v3", "v4"]
    folds = np.array([0] * 12 + [1] * 4)
    for seed in range(40):
        ctx = _ctx(tiny_config(**{"finetune.keep": "inner", "finetune.inner_fraction": "0.5",
                                  "run.seed": str(seed)}), grades, folds, patients)
        fit, inner = ctx.fit_positions(1), ctx.inner_positions(1)
        assert set(grades[fit].tolist()) == {0, 1, 2}, seed
        assert len(inner) and not {patients[i] for i in inner} & {patients[i] for i in fit}


def test_the_smallest_drawn_unit_holding_an_untrained_grade_is_given_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # units in first-seen order: p (0), big (1: grades 1, 2, 2), small (2: grades 1, 2), e (3: 2)
    grades = np.array([0, 0, 1, 2, 2, 1, 2, 2])
    units = ["p", "p", "big", "big", "big", "small", "small", "e"]
    # the draw takes big and small, both holding grade 1's only images; e keeps grade 2 trained on
    monkeypatch.setattr(finetune, "stratified_split", lambda labels, n, rng: (np.array([1, 2]), None))
    held = finetune.inner_split(grades, units, 0.5, np.random.default_rng(0))
    assert held.tolist() == [2, 3, 4]  # big stays held out; small (2 images) went back


def test_a_fold_without_an_inner_split_stops_the_fine_tuning_before_anything_is_written(
        two_fold_run: Path, tmp_path: Path) -> None:
    # label_fraction=0.1 draws one image per grade: no grade has a second to hold out
    run = _linked_run(two_fold_run, tmp_path)
    with pytest.raises(ValueError, match=r"finetune\.keep=inner: fold 0's training images hold no grade "
                       r"(.|\n)*fix: start a new run (.|\n)*run\.reuse=(.|\n)*finetune\.keep=last"):
        finetune.run(tiny_config(**{"finetune.keep": "inner", "finetune.label_fraction": "0.1"}), run)
    assert not (run / "finetune").exists()


def _inner_manifest(run: Path) -> None:
    """An ingest's manifest of 6 labelled images, one of each grade in each of 2 folds: no fold's
    training images hold a grade twice, so no inner split can be drawn."""
    (run / "data").mkdir(parents=True)
    lines = ["id,grade,split,fold,cache_index"] + [f"im{i},{i % 3},train,{i // 3},{i}" for i in range(6)]
    (run / "data" / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_preflight_refuses_keep_inner_on_an_ingest_whose_folds_have_no_inner_split(tmp_path: Path) -> None:
    from drac_ssl import preflight, train

    run = tmp_path / "runs" / "x"
    _inner_manifest(run)

    def refusal(*overrides: str) -> list:
        cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [*overrides, "data.n_folds=2"])
        return [f for f in preflight.check(cfg, run, sources, stages=["finetune"])
                if f.setting == "finetune.keep" and f.severity == "error"]

    assert not refusal("finetune.keep=last")
    (only_ingest,) = refusal("finetune.keep=inner")
    assert "fold 0's training images hold no grade" in only_ingest.line, only_ingest.line
    assert only_ingest.fix.startswith("finetune.keep=last") and "run.reuse" not in only_ingest.fix
    (run / "pretrain").mkdir()  # a finished stage: this run folder refuses a changed setting
    (finished,) = refusal("finetune.keep=inner")
    assert "run.reuse=" in finished.fix and "finetune.keep=last" in finished.fix, finished.fix


def test_the_label_draw_words_say_the_inner_split_comes_out_of_the_draw() -> None:
    grades, folds = np.repeat(np.arange(3), 20), np.arange(60) % 2
    inner = _ctx(tiny_config(**{"finetune.keep": "inner", "finetune.label_fraction": "0.5",
                                "finetune.inner_fraction": "0.2"}), grades, folds)
    trained = {inner.fit_positions(f).size for f in (0, 1)}
    assert len(trained) == 1 and 0 < min(trained) < 15
    words, fraction = finetune._label_draw(inner)
    assert words.startswith("each fold draws 15 of its 30 training images (finetune.label_fraction=0.5")
    assert words.endswith(f"of which its inner split is held out (finetune.keep=inner): it trains on "
                          f"{trained.pop()}") and "trains on 15" not in words and fraction == 0.5
    last = _ctx(tiny_config(**{"finetune.label_fraction": "0.5"}), grades, folds)
    assert finetune._label_draw(last)[0].startswith("each fold trains on 15 of its 30 training images")


def test_the_inner_protocol_words_name_units_kept_whole_only_when_there_are_some() -> None:
    ft = tiny_config(**{"finetune.keep": "inner"}).finetune
    assert "kept whole" not in finetune._inner_words(ft, None)  # every image its own unit
    assert "grade-stratified, patients kept whole," in finetune._inner_words(ft, ["patient:a", "image:b"])
    assert "patients and near-twin groups kept whole" in finetune._inner_words(ft, ["group:g1", "patient:a"])


@pytest.mark.parametrize("freeze", ["frozen", "last"])  # cached-head path, full-network path
def test_keep_best_saves_the_best_epochs_weights_not_the_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              freeze: str) -> None:
    """finetune.keep=best: each fold saves (and scores) the best epoch's weights, here epoch 0 of
    3, not the last epoch's (mutations K01: head.load_state_dict(best) dropped on the cached-head
    path; K02: model.load_state_dict(best) dropped on the full-network path)."""
    from drac_ssl.weights_file import load_safetensors

    torch.set_num_threads(1)
    make_fake_ingest(tmp_path, n_folds=2)
    own = {"finetune.n_boot": "5", "data.n_folds": "2", "umm.enabled": "false", "finetune.keep": "best",
           "finetune.epochs": "3", "finetune.patience": "0", "finetune.lr": "0.05", "finetune.freeze": freeze,
           "finetune.compare_scratch": "false"}
    cfg = load_config(None, [f"{k}={v}" for k, v in {**TINY_FINETUNE, **own}.items()])
    pretrain.run(cfg, tmp_path)
    real, calls, copies = finetune.quadratic_weighted_kappa, [0], []

    def kappa(*args: object, **kwargs: object) -> float:  # the loop's first 6 calls (2 folds x 3 epochs)
        calls[0] += 1
        return [1.0, 0.0, 0.0][(calls[0] - 1) % 3] if calls[0] <= 6 else real(*args, **kwargs)

    monkeypatch.setattr(finetune, "quadratic_weighted_kappa", kappa)
    real_copy = finetune._state_copy
    monkeypatch.setattr(finetune, "_state_copy", lambda m: copies.append(real_copy(m)) or copies[-1])
    variant = finetune.run(cfg, tmp_path).variants["vicreg"]
    for fold in (0, 1):
        assert json.loads((variant.out_dir / f"fold{fold}.json").read_text())["best_epoch"] == 0
        saved = load_safetensors(variant.out_dir / f"fold{fold}.safetensors")
        best = copies[fold]  # the one copy of fold `fold`: its epoch 0
        common = [k for k in saved if any(k.endswith(b) for b in best)]
        assert common
        for k in common:
            b = next(v for n, v in best.items() if k.endswith(n))
            assert torch.equal(saved[k], b), k
