"""Settings other settings leave unused are warned, not silently recorded as applied
(drac_ssl.config.UNUSED_SETTINGS, the preflight's one table), and the ranges of the seeds, the
monitor probe and the loader workers are refused before any stage runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from drac_ssl import config as config_module
from drac_ssl import preflight, train
from drac_ssl.config import Config, get
from drac_ssl.trial_run import first_try_overrides


def findings(*overrides: str, config: Path | None = train.DEFAULT_CONFIG) -> list[preflight.Finding]:
    cfg, sources, parsed = preflight.read_config(config, list(overrides))
    assert parsed == []
    return preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)


def unused(*overrides: str, config: Path | None = train.DEFAULT_CONFIG) -> dict[str, preflight.Finding]:
    """Setting -> its 'set but not used' warning."""
    return {f.setting: f for f in findings(*overrides, config=config)
            if f.severity == "warning" and "not used" in f.what}


def errors(*overrides: str) -> dict[str, str]:
    return {f.setting: f.line for f in findings(*overrides) if f.severity == "error"}


@pytest.mark.parametrize(("overrides", "setting", "because"), [
    (["pretrain.momentum=0.5"], "pretrain.momentum", "pretrain.optimizer=adam"),
    (["pretrain.lars_eta=0.01"], "pretrain.lars_eta", "pretrain.optimizer=lars"),
    (["pretrain.lars_clip_lr=false", "pretrain.optimizer=sgd"], "pretrain.lars_clip_lr", "it is sgd"),
    (["pretrain.knn_k=5"], "pretrain.knn_k", "pretrain.knn_every=0"),
    (["pretrain.knn_limit=100"], "pretrain.knn_limit", "pretrain.knn_every=0"),
    (["umm.neumann_steps=5"], "umm.neumann_steps", "umm.hypergradient=unrolled"),
    (["umm.fd_radius=0.02"], "umm.fd_radius", "umm.hvp=exact"),
    (["umm.hvp=finite_difference", "umm.hypergradient=neumann", "umm.neumann_steps=0"], "umm.hvp",
     "umm.neumann_steps=0"),
    (["umm.patience=2"], "umm.patience", "umm.early_stop_on_rate_reduction=false"),
    (["umm.past_peak_drop=0.1"], "umm.past_peak_drop", "umm.start_from=best"),
    (["umm.alpha=2", "umm.use_rate_reduction=false"], "umm.alpha", "umm.use_rate_reduction=false"),
    (["umm.outer_lr=0.01", "umm.use_rate_reduction=false"], "umm.outer_lr", "umm.use_rate_reduction=false"),
    (["umm.hypergradient=neumann", "umm.use_rate_reduction=false"], "umm.hypergradient",
     "umm.use_rate_reduction=false"),
    (["umm.epochs=3", "umm.enabled=false"], "umm.epochs", "umm.enabled=false"),
    (["umm.alpha=2", "umm.enabled=false"], "umm.alpha", "umm.enabled=false"),  # the first row's words
    (["finetune.mlp_hidden=64"], "finetune.mlp_hidden", "finetune.head=conv"),
    (["finetune.backbone_lr_ratio=0.5"], "finetune.backbone_lr_ratio", "finetune.freeze=frozen"),
    (["data.graham_mask=false"], "data.graham_mask", "data.graham=false"),
    (["finetune.patience=3"], "finetune.patience", "finetune.keep=last"),
    (["finetune.inner_fraction=0.2"], "finetune.inner_fraction", "finetune.keep=last"),
])
def test_a_setting_another_setting_leaves_unused_is_warned(overrides: list[str], setting: str,
                                                           because: str) -> None:
    """Each was accepted silently and recorded as if applied (a sweep over it changed nothing)."""
    found = unused(*overrides)
    assert setting in found, [f.line for f in findings(*overrides)]
    line = found[setting].line
    assert f"{setting}=" in line and "set but not used" in line and because in line, line
    assert f"or leave {setting} out" in found[setting].fix, line


@pytest.mark.parametrize("overrides", [
    ["pretrain.momentum=0.5", "pretrain.optimizer=sgd"],
    ["pretrain.lars_eta=0.01", "pretrain.optimizer=lars"],
    ["pretrain.knn_k=5", "pretrain.knn_every=1"],
    ["umm.neumann_steps=5", "umm.hypergradient=neumann"],
    ["umm.fd_radius=0.02", "umm.hvp=finite_difference"],
    ["umm.patience=2", "umm.early_stop_on_rate_reduction=true"],
    ["umm.past_peak_drop=0.1", "umm.start_from=past_peak"],
    ["finetune.mlp_hidden=64", "finetune.head=mlp"],
    ["finetune.backbone_lr_ratio=0.5", "finetune.freeze=last"],
    ["data.graham_mask=false", "data.graham=true"],
])
def test_a_setting_that_is_read_is_not_warned(overrides: list[str]) -> None:
    setting = overrides[0].partition("=")[0]
    assert setting not in unused(*overrides)


def test_generic_data_sets_warn_the_ingest_settings_they_do_not_read() -> None:
    """F3: data.dataset=mnist is read as it is; data.n_folds, graham, cache_sizes were ignored."""
    found = unused("data.dataset=mnist", "data.root=x", "data.n_folds=3", "data.graham=true",
                   "data.strict=true", "data.near_duplicate_mse=0.001", "data.unlabelled=[u]")
    for setting in ("data.n_folds", "data.graham", "data.strict", "data.near_duplicate_mse"):
        assert "data.dataset=mnist" in found[setting].line, found[setting].line
    assert "the folders of data.unlabelled are not used" in found["data.unlabelled"].line
    assert "data.root" not in found and "data.dataset" not in found
    # the shipped default.yaml's own values (cache_sizes [128, 256]) are not the user's
    assert "data.cache_sizes" not in found


def test_shipped_configs_and_the_first_try_warn_nothing_unused() -> None:
    """Neither a shipped config's lines nor --first-try's overrides are the user's settings."""
    for config in sorted(Path(train.DEFAULT_CONFIG).parent.glob("*.yaml")):
        assert unused(config=config) == {}, config.name
    assert unused("umm.enabled=false") == {}  # default.yaml's umm.epochs etc. are not the user's
    for config in ("mnist", train.DEFAULT_CONFIG):  # --first-try's data.n_folds=2, cache_sizes=[128]
        cfg, sources, parsed = preflight.read_config(config, [], preset=first_try_overrides)
        assert parsed == [] and cfg.data.n_folds == 2
        assert [f.line for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
                if f.severity == "warning" and "not used" in f.what] == [], config


def test_a_hand_written_file_at_the_default_is_the_users(tmp_path: Path) -> None:
    own = tmp_path / "mine.yaml"
    own.write_text("pretrain:\n  momentum: 0.9\n", encoding="utf-8")
    assert "mine.yaml" in unused(config=own)["pretrain.momentum"].line


def test_the_table_names_real_settings_and_real_stages() -> None:
    cfg = Config()
    for row in config_module.UNUSED_SETTINGS:
        assert row.stages and set(row.stages) <= set(train.PIPELINE), row
        for setting in row.settings:
            get(cfg, setting)  # AttributeError for a setting that is not one
        row.why.format(cfg=cfg), row.fix.format(cfg=cfg)  # noqa: B018 - words that format


@pytest.mark.parametrize("setting", ["run.seed", "data.fold_seed", "data.phantom_seed", "finetune.seed"])
@pytest.mark.parametrize("value", [2**32, -2])
def test_seeds_outside_numpys_range_are_refused(setting: str, value: int) -> None:
    """F1: -1 or 2**32 stopped a run mid-way with numpy's own message (finetune.seed: -1 is run.seed's)."""
    if setting != "finetune.seed" and value == -2:
        value = -1
    line = errors(f"{setting}={value}")[setting]
    assert "2**32-1" in line, line
    assert setting not in errors(f"{setting}={2**32 - 1}")


@pytest.mark.parametrize("value", [1, -3])
def test_a_monitor_probe_of_one_image_or_fewer_is_refused(value: int) -> None:
    """F6: 1 or a negative count silently turned the monitor off; only 0 is off."""
    line = errors(f"pretrain.monitor_images={value}")["pretrain.monitor_images"]
    assert "must be 0" in line and ">= 2" in line, line
    assert "pretrain.monitor_images" not in errors("pretrain.monitor_images=0")
    assert "pretrain.monitor_images" not in errors("pretrain.monitor_images=2")


def test_loader_workers_below_minus_one_are_refused() -> None:
    """F6: pretrain.num_workers=-5 acted as -1."""
    assert ">= -1" in errors("pretrain.num_workers=-5")["pretrain.num_workers"]
    assert "pretrain.num_workers" not in errors("pretrain.num_workers=-1")


@pytest.mark.parametrize("start_from", ["peak", "past_peak"])
def test_a_peak_start_without_the_monitor_is_refused_before_pretraining(start_from: str) -> None:
    """F5: was refused by the umm stage only after the whole pretraining, with a fix of "> 0"."""
    line = errors(f"umm.start_from={start_from}", "pretrain.monitor_images=0")["umm.start_from"]
    assert "pretrain.monitor_images >= 2" in line, line
    assert "umm.start_from" not in errors(f"umm.start_from={start_from}")
    assert "umm.start_from" not in errors("umm.start_from=best", "pretrain.monitor_images=0")


def test_an_outer_batch_of_next_with_one_step_an_epoch_is_refused_before_pretraining() -> None:
    """Review F1: umm.outer_batch=next with umm.max_steps_per_epoch=1 was refused by the umm
    stage only after the whole pretraining (F's next batch would be the inner step's own)."""
    line = errors("umm.outer_batch=next", "umm.max_steps_per_epoch=1")["umm.outer_batch"]
    assert "umm.max_steps_per_epoch=1" in line and "next batch" in line, line
    (found,) = [f for f in findings("umm.outer_batch=next", "umm.max_steps_per_epoch=1")
                if f.setting == "umm.outer_batch"]
    assert "umm.max_steps_per_epoch=0" in found.fix and "umm.outer_batch=same" in found.fix, found.fix
    assert "umm.outer_batch" not in errors("umm.outer_batch=next", "umm.max_steps_per_epoch=2")
    assert "umm.outer_batch" not in errors("umm.outer_batch=same", "umm.max_steps_per_epoch=1")
    # without the outer level there is no F and no second batch to take it on
    assert "umm.outer_batch" not in errors("umm.outer_batch=next", "umm.max_steps_per_epoch=1",
                                           "umm.use_rate_reduction=false")


def test_more_frozen_views_than_epochs_is_warned() -> None:
    """F7: the bank is capped at finetune.epochs views while config.yaml says the larger count."""
    (warned,) = [f for f in findings("finetune.frozen_train_views=6", "finetune.epochs=3")
                 if f.setting == "finetune.frozen_train_views"]
    assert warned.severity == "warning" and "3 views" in warned.line, warned.line
    assert "finetune.frozen_train_views=3" in warned.fix
    assert not [f for f in findings("finetune.frozen_train_views=3", "finetune.epochs=3")
                if f.setting == "finetune.frozen_train_views"]
    # under freeze=last no bank is made at all: unused, the table's words
    assert "finetune.freeze=last" in unused("finetune.frozen_train_views=6",
                                            "finetune.freeze=last")["finetune.frozen_train_views"].line
    # the default's 4 over --first-try's 2 epochs is the documented cap, not the user's count
    assert not [f for f in findings("finetune.epochs=2") if f.setting == "finetune.frozen_train_views"]


@pytest.mark.parametrize(("typed", "meant"), [("pretrain.LR=0.1", "pretrain.lr=0.1"),
                                              ("finetune.Lr=0.1", "finetune.lr=0.1"),
                                              ("umm.EPOCHS=2", "umm.epochs=2")])
def test_a_name_typed_in_another_case_gets_its_did_you_mean(typed: str, meant: str) -> None:
    """F9: a case-only typo had no "Did you mean", only the section's list of keys."""
    _, _, read = preflight.read_config(train.DEFAULT_CONFIG, [typed])
    (unknown,) = read
    assert f"Did you mean '{meant.partition('=')[0]}'?" in unknown.line, unknown.line
    assert meant in unknown.line, unknown.line


@pytest.mark.parametrize(("config", "more"), [("mnist", []), (train.DEFAULT_CONFIG, ["umm.enabled=false"])])
def test_a_runs_saved_config_fed_back_warns_only_what_is_typed(tmp_path: Path, config: str | Path,
                                                               more: list[str]) -> None:
    """Review F1: ``-c RUN/config.yaml run.name=NEW`` (the file header's reproduce command, and
    a resume) warned of the first try's own values (data.cache_sizes=[128] on mnist, umm.epochs
    under umm.enabled=false): every non-default line of a saved config counted as the user's."""
    cfg, sources, parsed = preflight.read_config(config, more, preset=first_try_overrides)
    assert parsed == []
    saved = config_module.save_config(cfg, tmp_path / "config.yaml")
    assert unused(config=saved) == {} and unused("run.name=NEW", config=saved) == {}
    # a setting typed on this command line is the user's, over a saved config as anywhere
    typed = "umm.epochs=3" if more else "pretrain.knn_k=5"
    cfg, sources, _ = preflight.read_config(saved, [typed, "umm.enabled=false", "pretrain.knn_every=0"])
    found = {f.setting for f in preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)
             if f.severity == "warning" and "not used" in f.what}
    assert found == {typed.partition("=")[0]}, found


@pytest.mark.parametrize(("refused", "setting"), [("pretrain.optimizer=LARS", "pretrain.lars_eta=0.01"),
                                                  ("pretrain.optimizer=Adam", "pretrain.momentum=0.5"),
                                                  ("finetune.freeze=none", "finetune.frozen_train_views=2"),
                                                  ("finetune.freeze=none", "finetune.backbone_lr_ratio=0"),
                                                  ("umm.hvp=FINITE_DIFFERENCE", "umm.fd_radius=0.02")])
def test_a_refused_choice_decides_no_unused_warning(refused: str, setting: str) -> None:
    """Review F2: pretrain.optimizer=LARS was refused and lars_eta then warned "only
    pretrain.optimizer=lars reads it, and it is LARS"; finetune.freeze=none (refused: it means
    all) had frozen_train_views warned as unused by a freeze that draws fresh views."""
    name = setting.partition("=")[0]
    found = findings(refused, setting, "pretrain.knn_k=5")
    assert refused.partition("=")[0] in {f.setting for f in found if f.severity == "error"}
    assert name not in {f.setting for f in found if f.severity == "warning"}, [f.line for f in found]
    # a row the refused choice does not decide still warns (knn_every=0 leaves knn_k unused)
    assert "pretrain.knn_k" in {f.setting for f in found if "not used" in f.what}


def test_the_phantom_seed_with_your_own_images_is_warned_unused(tmp_path: Path) -> None:
    """debts81: with a data.root no phantom set is made, so data.phantom_seed is read by nothing;
    its counts were warned set but not used, the seed was not (silently recorded as applied)."""
    said = unused(f"data.root={tmp_path}", "data.phantom_seed=3")["data.phantom_seed"]
    assert "no phantom set is generated: the seed of the phantom images is not read" in said.what, said.what
    assert "data.phantom_seed" not in unused("data.phantom_seed=3")  # the phantom set reads it
