"""The frozen feature banks' run-level cache (``drac_ssl.bank_cache``).

Within one fine-tuning stage the variants share their training views' inputs (augmented
once, not once per variant) and, where two backbones' weights are bitwise equal up to a
stage (the UMM backbone re-tunes only the stages after its cut), the maps of that stage:
the second backbone runs the later stages alone. The banks must be bit-identical to those
computed without any cache. 20 random 48 px grey images at 32 px, ResNet-18, CPU, seconds.
"""

from __future__ import annotations

import copy
import json
import random
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fake_ingest import SOURCE_SIZE, TINY_FINETUNE

from drac_ssl import finetune
from drac_ssl.bank_cache import BANK_CACHE_BYTES, BankCache
from drac_ssl.checkpoint import save_weights
from drac_ssl.config import load_config
from drac_ssl.grading.model import GradingModel, InputSpec, ModelSpec
from drac_ssl.models import Backbone, load_local_weights
from drac_ssl.run_state import TRAIN_VIEWS

N_IMAGES = 20


def _ctx(head: str, budget: int = BANK_CACHE_BYTES) -> finetune._Context:
    """A fine-tuning context over ``N_IMAGES`` random images: two training views (batches of
    8), the eval view with its four TTA flips; its bank cache holds ``budget`` bytes."""
    settings = {**TINY_FINETUNE, "finetune.head": head, "finetune.frozen_train_views": "2",
                "finetune.tta": "true"}
    cfg = load_config(None, [f"{k}={v}" for k, v in settings.items()])
    images = np.random.default_rng(0).integers(0, 256, (N_IMAGES, SOURCE_SIZE, SOURCE_SIZE), dtype=np.uint8)
    spec = replace(InputSpec.from_config(cfg), source_size=SOURCE_SIZE, channels=1)
    ctx = finetune._Context(
        cfg=cfg, ft=cfg.finetune, data=SimpleNamespace(images=images), spec=spec,  # type: ignore[arg-type]
        device=torch.device("cpu"), bf16=False, workers=0, lab=[{"id": str(i)} for i in range(N_IMAGES)],
        cache_idx=np.arange(N_IMAGES), grades=np.zeros(N_IMAGES, dtype=np.int64),
        folds=np.arange(N_IMAGES) % 2, fold_ids=[0, 1])
    ctx.banks.budget = budget
    return ctx


def _backbones(cut: str) -> dict[str, Backbone]:
    """scratch (its own random init), vicreg (another), and vicreg_umm: vicreg's weights with
    every stage after ``cut`` changed (as UMM's re-tuning of the stages after umm.early_cut)."""
    torch.manual_seed(1)
    scratch = Backbone("resnet18")
    torch.manual_seed(2)
    vicreg = Backbone("resnet18")
    umm = copy.deepcopy(vicreg)
    with torch.no_grad():
        for stage in umm.stage_modules(cut):
            for p in stage.parameters():
                p.add_(0.01)
    return {"scratch": scratch, "vicreg": vicreg, "vicreg_umm": umm}


def _model(backbone: Backbone, head: str) -> GradingModel:
    torch.manual_seed(3)
    model = ModelSpec(arch="resnet18", in_channels=1, cifar_stem=False, head=head,
                      dropout=0.0).build(copy.deepcopy(backbone))
    finetune._apply_freeze(model, "frozen")
    return model


def _stage_calls(backbone: Backbone) -> dict[str, int]:
    """Counts of each stage's forward calls, filled as the backbone runs."""
    calls = dict.fromkeys(backbone.stage_names, 0)
    for name, module in [("stem", backbone.conv1), *[(n, getattr(backbone, n)) for n in backbone.stage_names[1:]]]:
        module.register_forward_pre_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    return calls


@pytest.mark.parametrize(("head", "cut"), [("linear", "layer3"), ("conv", "layer3"), ("linear", "layer2")])
def test_cached_banks_are_bit_identical_and_the_umm_bank_runs_only_its_own_stages(
        head: str, cut: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backbones = _backbones(cut)
    uncached = {}
    for name, backbone in backbones.items():
        ctx = _ctx(head, budget=0)  # nothing fits: every bank computed from its own inputs
        uncached[name] = finetune._feature_bank(_model(backbone, head), ctx)
        assert not ctx.banks.inputs and not ctx.banks.maps and ctx.banks.held == 0

    ctx = _ctx(head)
    for name in ("vicreg", "vicreg_umm"):  # as finetune.run announces the pretrained variants
        ctx.banks.expect(backbones[name].stage_digests())
    stack_inputs = finetune._stack_inputs
    drawn: list[int] = []

    def counting(*args: object) -> object:
        drawn.append(args[-1])  # the view's seed (0: the eval view)
        return stack_inputs(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(finetune, "_stack_inputs", counting)
    models = {name: _model(backbone, head) for name, backbone in backbones.items()}
    calls = {name: _stage_calls(m.backbone) for name, m in models.items()}
    shared = Backbone.stage_names.index(cut)  # vicreg keeps the maps after the cut ...
    assert ctx.banks.stage_to_keep(backbones["vicreg"].stage_digests()) == shared
    for name, model in models.items():
        bank = finetune._feature_bank(model, ctx)
        assert torch.equal(bank.train_views, uncached[name].train_views), name
        assert torch.equal(bank.eval_views, uncached[name].eval_views), name
        if name == "vicreg":  # kept for the UMM bank, within the budget
            assert ctx.banks.maps and 0 < ctx.banks.held <= ctx.banks.budget
    # the last announced bank built, the cache let everything go
    assert not ctx.banks.inputs and not ctx.banks.maps and ctx.banks.held == 0 and not ctx.banks.expected
    # the two training views were augmented once for the three variants, the eval view once
    assert sorted(drawn) == sorted(set(drawn)) and len(drawn) == 3
    n_batches = 2 * -(-N_IMAGES // finetune.EXTRACT_BATCH) + 4 * -(-N_IMAGES // finetune.EXTRACT_BATCH)
    every_stage = dict.fromkeys(Backbone.stage_names, n_batches)
    assert calls["scratch"] == every_stage and calls["vicreg"] == every_stage
    # ... and the UMM backbone ran the stages after it alone, on every view and flip
    assert calls["vicreg_umm"] == {n: (n_batches if i > shared else 0)
                                   for i, n in enumerate(Backbone.stage_names)}


def test_digests_follow_the_weights_stage_by_stage() -> None:
    backbones = _backbones("layer2")
    pre, umm = backbones["vicreg"].stage_digests(), backbones["vicreg_umm"].stage_digests()
    assert len(pre) == len(Backbone.stage_names)
    assert pre[:3] == umm[:3] and pre[3] != umm[3] and pre[4] != umm[4]  # stem..layer2 equal
    assert backbones["scratch"].stage_digests()[0] != pre[0]
    # a BatchNorm running statistic (a buffer) is part of the weights the maps depend on
    changed = copy.deepcopy(backbones["vicreg"])
    changed.layer1[0].bn1.running_mean.add_(1.0)
    assert changed.stage_digests()[0] == pre[0] and changed.stage_digests()[1] != pre[1]


def test_a_budget_too_small_for_the_maps_keeps_the_inputs_and_computes_again() -> None:
    backbones = _backbones("layer3")
    head = "linear"
    reference = finetune._feature_bank(_model(backbones["vicreg_umm"], head), _ctx(head, budget=0))
    ctx = _ctx(head, budget=0)
    inputs_bytes = sum(t.numel() * t.element_size()
                       for t in finetune._view_inputs(_ctx(head), finetune.epoch_seed(ctx.seed, 10_000)))
    ctx.banks.budget = inputs_bytes  # the first training view's inputs, then nothing fits
    for name in ("vicreg", "vicreg_umm"):
        ctx.banks.expect(backbones[name].stage_digests())
    finetune._feature_bank(_model(backbones["vicreg"], head), ctx)
    assert len(ctx.banks.inputs) == 1 and not ctx.banks.maps and ctx.banks.held == inputs_bytes
    umm = _model(backbones["vicreg_umm"], head)
    calls = _stage_calls(umm.backbone)
    bank = finetune._feature_bank(umm, ctx)
    assert calls["stem"] > 0  # no map kept: computed from the inputs
    assert torch.equal(bank.train_views, reference.train_views)
    assert torch.equal(bank.eval_views, reference.eval_views)


def test_a_layer4_batchnorm_buffer_changes_layer4s_digest_alone_and_layer3_stays_shared() -> None:
    # real UMM freezes the early stages: only the late stages' BatchNorm statistics may move
    pre = _backbones("layer3")["vicreg"]
    changed = copy.deepcopy(pre)
    changed.layer4[0].bn1.running_var.mul_(2.0)
    a, b = pre.stage_digests(), changed.stage_digests()
    assert a[:-1] == b[:-1] and a[-1] != b[-1]
    cache = BankCache()
    cache.expect(a)
    cache.expect(b)
    assert cache.stage_to_keep(a) == Backbone.stage_names.index("layer3")


def _rng_states() -> tuple[object, ...]:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _same_rng(x: tuple[object, ...], y: tuple[object, ...]) -> bool:
    return (torch.equal(x[0], y[0]) and all(np.array_equal(u, v) for u, v in zip(x[1], y[1], strict=True))  # type: ignore[arg-type]
            and x[2] == y[2])


def test_announce_skips_reused_and_unloadable_sources_quietly_and_draws_nothing(tmp_path: Path) -> None:
    head = "linear"
    ctx = _ctx(head)
    ctx.ft = replace(ctx.ft, freeze="frozen")
    spec = ModelSpec(arch="resnet18", in_channels=1, cifar_stem=False, head=head, dropout=0.0)
    backbones = _backbones("layer3")
    finetune_dir = tmp_path / "run" / "finetune"
    paths = {}
    for name in ("vicreg", "vicreg_umm"):  # an extra fc.* key: the load warns of it
        paths[name] = tmp_path / f"{name}.safetensors"
        save_weights(paths[name], {**backbones[name].state_dict(), "fc.weight": torch.zeros(2, 512)})
    # every fold of vicreg_umm finished and reusable: its bank is never built, not announced
    umm_dir = finetune_dir / "vicreg_umm"
    umm_dir.mkdir(parents=True)
    _, accepted = finetune._fold_signatures(ctx, "vicreg_umm", paths["vicreg_umm"], spec, umm_dir)
    for fold in ctx.fold_ids:
        (umm_dir / f"fold{fold}.json").write_text(json.dumps(
            {"signature": sorted(accepted)[0], "val_raw": [[0.0]], "train_views": TRAIN_VIEWS}))
        # a weights file that reads as one: an older record's (no weights_file) is checked so
        save_weights(umm_dir / f"fold{fold}.safetensors", {"head.weight": torch.zeros(1)})
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    before = _rng_states()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finetune._announce_backbones(ctx, spec, {"scratch": None, **paths}, finetune_dir)
    assert not caught, [str(w.message) for w in caught]
    assert _same_rng(before, _rng_states())
    assert ctx.banks.expected == [backbones["vicreg"].stage_digests()]
    # one fold left to train: announced
    (umm_dir / f"fold{ctx.fold_ids[-1]}.safetensors").unlink()
    ctx.banks.expected.clear()
    finetune._announce_backbones(ctx, spec, paths, finetune_dir)
    assert ctx.banks.expected == [backbones[n].stage_digests() for n in ("vicreg", "vicreg_umm")]
    # a missing file, one that is no weights file, one of another shape: not announced, no error
    # (the variant's own load reports it, inside the stage's run)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not weights")
    wide = tmp_path / "wide.safetensors"
    save_weights(wide, Backbone("resnet18", in_channels=3).state_dict())
    ctx.banks.expected.clear()
    finetune._announce_backbones(ctx, spec, {"vicreg": tmp_path / "missing.safetensors",
                                             "vicreg_umm": garbage}, finetune_dir)
    finetune._announce_backbones(ctx, spec, {"vicreg": wide}, finetune_dir)
    assert ctx.banks.expected == []
    with pytest.raises(ValueError, match="wrong shape"):  # as the variant's own load says it
        load_local_weights(spec.build_backbone(), wide, strict=True)
