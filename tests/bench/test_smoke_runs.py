"""A smoke run of the correctness benchmarks (a few steps on the CPU) is never taken for the
committed figures: it writes its own file, says ``"smoke": true``, claims no comparison with a
paper or the seed report, and the README summary leaves it out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import cifar10_vicreg
from bench.summarize import render

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_a_short_cifar10_run_is_a_smoke_run_with_its_own_file() -> None:
    full = cifar10_vicreg.smoke_reasons(epochs=100, eval_limit=0, max_steps_per_epoch=0)
    assert full == []
    assert cifar10_vicreg.result_name(None, full) == "cifar10_vicreg"  # the committed figures
    for kwargs in ({"epochs": 1, "eval_limit": 0, "max_steps_per_epoch": 0},
                   {"epochs": 100, "eval_limit": 200, "max_steps_per_epoch": 0},
                   {"epochs": 100, "eval_limit": 0, "max_steps_per_epoch": 2}):
        reasons = cifar10_vicreg.smoke_reasons(**kwargs)
        assert reasons, kwargs
        assert cifar10_vicreg.result_name(None, reasons) == "cifar10_vicreg_smoke"
    assert cifar10_vicreg.result_name("mine", ["--eval-limit 200"]) == "mine"  # chosen: kept, "smoke": true


def test_the_seed_report_is_never_a_pass_mark_and_each_difference_is_named() -> None:
    """Methods review F1: a ``beats_seed_report`` boolean read as pass or fail against a
    ResNet-34 at batch 128 that names no probe. The record says not comparable, and why, from
    the run's own settings; it holds no verdict, whatever the settings."""
    ours = {"backbone": {"arch": "resnet18"}, "batch_size": 256, "optimizer": "lars"}
    record = cifar10_vicreg.seed_report_comparison(ours, 100)
    assert record["comparable"] is False and record["seed_report_linear_top1"] == 76.67
    assert record["differences"] == ["ResNet-18, not ResNet-34", "batch 256, not 128",
                                     cifar10_vicreg.PROBE_DIFFERENCE]
    assert "un-augmented" in cifar10_vicreg.PROBE_DIFFERENCE and "batch 128" in record["seed_report_states"]
    assert not any("beat" in key for key in record)
    # the seed report's own settings still differ in the probe: never comparable
    same = cifar10_vicreg.seed_report_comparison({"backbone": {"arch": "resnet34"}, "batch_size": 128,
                                                  "optimizer": "lars"}, 100)
    assert same["comparable"] is False and same["differences"] == [cifar10_vicreg.PROBE_DIFFERENCE]
    other = cifar10_vicreg.seed_report_comparison({**ours, "optimizer": "adam"}, 1, ["1 epoch(s), not 100"])
    assert "optimiser adam, not LARS" in other["differences"] and "1 epochs, not 100" in other["differences"]
    assert other["differences"][-1] == "a smoke run: 1 epoch(s), not 100"


def test_the_committed_cifar10_file_holds_the_comparison_the_script_writes_now() -> None:
    """The committed result's ``beats_seed_report`` was replaced after the run by the record the
    script now writes, computed from the file's own recorded config (no figure changed): the
    file says so in ``notes_added_after_the_run``."""
    committed = json.loads((RESULTS / "cifar10_vicreg.json").read_text(encoding="utf-8"))
    assert "beats_seed_report" not in committed
    assert committed["seed_report_comparison"] == cifar10_vicreg.seed_report_comparison(
        committed["config"]["pretrain"], committed["epochs"], committed.get("smoke_reasons") or [])
    notes = " ".join(committed["notes_added_after_the_run"])
    assert "No figure changed and nothing was rerun" in notes and '"beats_seed_report": false' in notes


def test_cifar10_eval_limit_help_says_evenly_spaced_not_first(capsys: pytest.CaptureFixture[str]) -> None:
    """The option's own help (a source grep held on a code comment's words alone, a review)."""
    with pytest.raises(SystemExit) as stop:
        cifar10_vicreg.main(["--help"])
    assert stop.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    eval_limit = help_text[help_text.index("--eval-limit"):]
    assert "evenly spaced images of each split" in eval_limit and "first N" not in eval_limit, eval_limit


def test_knn_is_skipped_when_k_reaches_the_training_images() -> None:
    assert cifar10_vicreg.knn_ks(50000) == (20, 200)
    assert cifar10_vicreg.knn_ks(200) == (20,)  # k-NN@200 would vote over every image
    assert cifar10_vicreg.knn_ks(15) == ()


def test_summarize_leaves_smoke_results_out(tmp_path: Path) -> None:
    committed = json.loads((RESULTS / "cifar10_vicreg.json").read_text(encoding="utf-8"))
    (tmp_path / "cifar10_vicreg.json").write_text(json.dumps(committed), encoding="utf-8")
    smoke = {**committed, "epochs": 1, "linear_probe_top1": 12.34, "knn_top1_k20": 11.11,
             "seed_report_comparison": cifar10_vicreg.seed_report_comparison(committed["config"]["pretrain"], 1,
                                                                             ["1 epoch(s), not 100"]),
             "smoke": True, "command": "python -m bench.cifar10_vicreg --epochs 1"}
    (tmp_path / "cifar10_vicreg_smoke.json").write_text(json.dumps(smoke), encoding="utf-8")
    # a smoke file written under the committed name by the old code, found by its contents
    (tmp_path / "cifar10_vicreg_old.json").write_text(json.dumps(
        {**smoke, "smoke": None, "eval_images": {"train": 250, "test": 200}}), encoding="utf-8")
    low = {"paper": {"comparable": True, "figures": {}}, "labels": {"500": {"finetune": {"mean": 14.0}}},
           "smoke": True}
    (tmp_path / "low_label_mnist_smoke.json").write_text(json.dumps(low), encoding="utf-8")
    text = render(tmp_path)
    assert "74.64" in text  # the committed figure is still shown
    assert "12.34" not in text and "11.11" not in text
    assert "14.00" not in text


def test_a_results_folder_of_smoke_runs_only_has_no_results(tmp_path: Path) -> None:
    (tmp_path / "cifar10_vicreg_smoke.json").write_text(json.dumps(
        {"smoke": True, "epochs": 1, "linear_probe_top1": 12.34}), encoding="utf-8")
    text = render(tmp_path)
    assert "(no results yet)" in text and "12.34" not in text


# ---- any departure from the full protocol is a smoke run (issue: small trials replaced
# committed files: layer_clusters on MNIST wrote layer_clusters_cifar10.json, and
# low_label --backbone X --labels 500 --seeds 0 --methods linear wrote low_label_mnist.json)


def test_every_low_label_departure_is_a_smoke_run_with_its_own_file() -> None:
    from bench.low_label import result_name, smoke_reasons

    full = smoke_reasons(epochs=50, config_epochs=50)
    assert full == [] and result_name("mnist", None, full) == "low_label_mnist"
    for kwargs in ({"backbone": ["--backbone x: 2 pretraining epoch(s), not 50"]},
                   {"labels": [500]}, {"seeds": [0]}, {"methods": ["linear"]}, {"epochs": 2},
                   {"eval_limit": 500}, {"max_steps_per_epoch": 2}, {"max_epochs": 2}):
        reasons = smoke_reasons(**{"epochs": 50, "config_epochs": 50, **kwargs})
        assert reasons, kwargs
        assert result_name("mnist", None, reasons) == "low_label_mnist_smoke", kwargs
    assert smoke_reasons(epochs=50, config_epochs=50, labels=[500, 1000, 2500, 5000, 10000]) == []


def test_a_given_backbone_counts_as_the_protocol_only_when_its_metadata_says_so(tmp_path: Path) -> None:
    from bench.common import backbone_departures

    weights = tmp_path / "backbone.safetensors"
    weights.write_bytes(b"")
    assert backbone_departures(weights, "mnist", 50) != []  # no metadata.json: unknown
    meta = {"epochs_run": 50, "stopped": "", "config": {"data": {"dataset": "mnist"},
                                                        "pretrain": {"max_steps_per_epoch": 0}}}
    (tmp_path / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    assert backbone_departures(weights, "mnist", 50) == []
    assert backbone_departures(weights, "cifar10", 50) != []
    (tmp_path / "metadata.json").write_text(json.dumps({**meta, "epochs_run": 2}), encoding="utf-8")
    assert any("2 pretraining epoch" in r for r in backbone_departures(weights, "mnist", 50))


def test_shortened_settings_name_what_does_less_than_the_config() -> None:
    from bench.common import shortened_settings

    protocol = {"data": {"dataset": "mnist"}, "pretrain": {"epochs": 50, "max_steps_per_epoch": 0},
                "finetune": {"epochs": 15, "n_boot": 1000}}
    assert shortened_settings(protocol, protocol) == []
    used = {"data": {"dataset": "mnist"}, "pretrain": {"epochs": 60, "max_steps_per_epoch": 2},
            "finetune": {"epochs": 3, "n_boot": 1000}}
    got = shortened_settings(protocol, used)
    assert [r.split("=")[0] for r in got] == ["pretrain.max_steps_per_epoch", "finetune.epochs"]


def test_layer_clusters_names_its_file_by_the_data_set_and_a_trial_is_a_smoke_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from bench import layer_clusters as lc
    from drac_ssl.datasets import ArrayDataset

    labels = np.repeat(np.arange(10), 3)
    fake = ArrayDataset(np.random.default_rng(0).integers(0, 256, (30, 28, 28), dtype=np.uint8), labels,
                        [str(k) for k in range(10)], "fake-mnist-test")
    monkeypatch.setattr("drac_ssl.datasets.load_generic", lambda *a, **k: fake)
    out = tmp_path / "out"
    config = str(lc.REPO / "configs" / "mnist.yaml")
    assert lc.main(["--config", config, "--data", str(tmp_path), "--device", "cpu", "--eval-limit", "20",
                    "--tsne-samples", "0", "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["layer_clusters_mnist_smoke.json"]
    record = json.loads((out / "layer_clusters_mnist_smoke.json").read_text(encoding="utf-8"))
    assert record["smoke"] is True and any("--eval-limit" in r for r in record["smoke_reasons"])
    with pytest.raises(SystemExit):  # a CIFAR-10 name on MNIST data
        lc.main(["--config", config, "--data", str(tmp_path), "--device", "cpu", "--name", "cifar10",
                 "--out-dir", str(out)])


def test_summarize_leaves_out_old_files_of_another_data_set_or_a_given_backbone(tmp_path: Path) -> None:
    from bench.summarize import is_smoke

    committed = json.loads((RESULTS / "layer_clusters_cifar10.json").read_text(encoding="utf-8"))
    assert not is_smoke("layer_clusters_cifar10", committed)
    assert is_smoke("layer_clusters_cifar10", {**committed, "dataset": "mnist"})
    assert is_smoke("layer_clusters_cifar10", {**committed, "eval_limit": 300})
    low = json.loads((RESULTS / "low_label_mnist.json").read_text(encoding="utf-8"))
    assert not is_smoke("low_label_mnist", low)
    assert is_smoke("low_label_mnist", {**low, "smoke": False, "pretrain": {"source": "given backbone x"}})
    for name in ("retinamnist_seed1", "retinamnist_epochs60", "umm_protocol_retinamnist"):
        record = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        (tmp_path / f"{name}.json").write_text(json.dumps({**record, "smoke": True}), encoding="utf-8")
    (tmp_path / "retinamnist.json").write_text((RESULTS / "retinamnist.json").read_text(encoding="utf-8"),
                                               encoding="utf-8")
    text = render(tmp_path)
    assert "retinamnist_seed1" not in text and "VICReg, 60 epochs" not in text


def test_smoke_results_of_every_bench_with_a_smoke_mode_get_their_own_name() -> None:
    from bench import retinamnist, retinamnist_epochs, umm_ablation

    assert umm_ablation.protocol_smoke_reasons(False, 0, 100, []) == []
    assert umm_ablation.protocol_smoke_reasons(False, 200, 100, [])
    assert umm_ablation.protocol_smoke_reasons(False, 0, 100, ["pairs"])
    for module in (retinamnist, retinamnist_epochs, umm_ablation):
        assert "smoke_result_name(" in Path(module.__file__).read_text(encoding="utf-8"), module.__name__
    assert cifar10_vicreg.smoke_reasons(100, 0, 0, dataset="mnist")
    assert cifar10_vicreg.smoke_reasons(100, 0, 0, probe_epochs=5)


def test_the_reviewers_low_label_trial_is_named_a_smoke_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """python -m bench.low_label --dataset mnist --backbone X --labels 500 --seeds 0 --methods linear
    replaced low_label_mnist.json with smoke false, comparable true."""
    from bench import low_label

    class Stop(Exception):
        pass

    def stop(*a: object, **k: object) -> None:
        raise Stop

    monkeypatch.setattr(low_label, "build_backbone", stop)
    with pytest.raises(Stop):
        low_label.main(["--dataset", "mnist", "--backbone", str(tmp_path / "backbone.safetensors"),
                        "--labels", "500", "--seeds", "0", "--methods", "linear", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "writes low_label_mnist_smoke.json" in out
    for reason in ("--labels without 1000,2500,5000", "--seeds without 1,2", "--methods without finetune,scratch",
                   "no readable metadata.json"):
        assert reason in out, reason


@pytest.mark.parametrize(("dataset", "mean"), [("fashion_mnist", 0.286), ("mnist", 0.1307)])
def test_low_label_evaluates_with_the_statistics_its_pretraining_used(
        dataset: str, mean: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fashion-MNIST's pretraining normalises with its own statistics
    (pretrain.normalization_name); the low-label bench normalised its evaluation with the
    mnist recipe's (0.1307 / 0.3081), features of other inputs than the backbone learnt on."""
    import numpy as np
    import torch

    from bench import low_label
    from drac_ssl.datasets import ArrayDataset

    class Stop(Exception):
        pass

    seen: dict[str, object] = {}

    def prepare(images: object, mean_: object, std_: object, *a: object, **k: object) -> None:
        seen["mean"] = mean_
        raise Stop

    split = ArrayDataset(np.zeros((20, 28, 28), np.uint8), np.arange(20) % 10, [str(c) for c in range(10)],
                         dataset)
    monkeypatch.setattr(low_label, "build_backbone", lambda *a, **k: torch.nn.Identity())
    monkeypatch.setattr(low_label, "load_local_weights", lambda *a, **k: None)
    monkeypatch.setattr(low_label, "load_generic", lambda *a, **k: split)
    monkeypatch.setattr(low_label, "prepare_images", prepare)
    with pytest.raises(Stop):
        low_label.main(["--dataset", dataset, "--backbone", str(tmp_path / "b.safetensors"),
                        "--out-dir", str(tmp_path)])
    assert seen["mean"] == pytest.approx([mean], abs=1e-3), seen


@pytest.mark.parametrize(("config", "stats"), [("fashion_mnist.yaml", "fashion_mnist"), ("mnist.yaml", "mnist")])
def test_layer_clusters_embeds_with_the_statistics_its_pretraining_used(
        config: str, stats: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the low-label bench: Fashion-MNIST's backbones learnt on inputs normalised with its
    own statistics, and layer_clusters embedded them with the mnist recipe's."""
    import numpy as np

    from bench import layer_clusters as lc
    from drac_ssl.datasets import ArrayDataset

    class Stop(Exception):
        pass

    seen: list[str] = []

    def spy(backbone: object, images: object, recipe: str, *a: object, **k: object) -> None:
        seen.append(recipe)
        raise Stop

    fake = ArrayDataset(np.zeros((30, 28, 28), np.uint8), np.repeat(np.arange(10), 3),
                        [str(k) for k in range(10)], "fake-test")
    monkeypatch.setattr("drac_ssl.datasets.load_generic", lambda *a, **k: fake)
    monkeypatch.setattr(lc, "stage_embeddings", spy)
    with pytest.raises(Stop):
        lc.main(["--config", str(lc.REPO / "configs" / config), "--data", str(tmp_path), "--device", "cpu",
                 "--eval-limit", "20", "--tsne-samples", "0", "--out-dir", str(tmp_path / "out")])
    assert seen == [stats]


@pytest.mark.parametrize(("variants", "smoke"), [("checkpoint", True), (None, False)])
def test_the_quick_umm_ablation_with_variants_left_out_is_a_smoke_run(
        variants: str | None, smoke: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A read-through: quick_main passed no left-out variants to protocol_smoke_reasons, so
    --variants checkpoint wrote a one-row umm_ablation.json over the committed file."""
    from bench import umm_ablation

    class Stop(Exception):
        pass

    def stop(*a: object, **k: object) -> None:
        raise Stop

    monkeypatch.setattr(umm_ablation, "data_root", stop)  # just after the result's name is chosen
    argv = ["--checkpoint", str(tmp_path / "last.pt"), "--out-dir", str(tmp_path)]
    with pytest.raises(Stop):
        umm_ablation.main(argv + (["--variants", variants] if variants else []))
    out = capsys.readouterr().out
    assert ("writes umm_ablation_smoke.json" in out and "--variants without" in out) is smoke, out
    assert ("smoke run" in out) is smoke, out


def test_the_committed_retinamnist_s2_command_stays_a_named_experiment() -> None:
    """A read-through: rerunning retinamnist_s2's committed command (pretrain.epochs=10 under
    --name retinamnist_s2) now wrote "smoke": true and its README row vanished; under the
    default name the same override is still a smoke run, and caps stay one under any name."""
    from bench import retinamnist
    from bench.common import shortened_settings
    from drac_ssl.config import load_config, to_dict

    config = retinamnist.CONFIG
    s2 = ["pretrain.backbone.cifar_stem=true", "pretrain.backbone.stem_stride=2", "pretrain.epochs=10"]
    departures = shortened_settings(to_dict(load_config(config, [])), to_dict(load_config(config, s2)))
    assert departures == ["pretrain.epochs=10 (the protocol's: 20)"]
    assert retinamnist.smoke_reasons(departures, "retinamnist_s2") == []
    assert retinamnist.smoke_reasons(departures, None) == departures
    capped = shortened_settings(to_dict(load_config(config, [])),
                                to_dict(load_config(config, ["pretrain.max_steps_per_epoch=2"])))
    assert capped and retinamnist.smoke_reasons(capped, "mine") == capped


def test_a_given_backbone_normalised_with_other_statistics_is_said(tmp_path: Path) -> None:
    """A read-through: a Fashion-MNIST backbone made before it had its own statistics (its
    metadata.json records MNIST's) was embedded with Fashion-MNIST's by low_label and
    layer_clusters without a word. low_label counts it a departure (a smoke run, said on the
    console); layer_clusters warns as it does of another recipe or size."""
    import warnings

    from bench import layer_clusters as lc
    from bench.common import backbone_departures, other_statistics
    from drac_ssl.checkpoint import save_weights
    from drac_ssl.config import load_config
    from drac_ssl.models import BackboneArchitecture

    old = {"input": {"normalization": {"mean": [0.1307], "std": [0.3081]}}}
    assert other_statistics(old, "mnist") == "" and other_statistics({}, "fashion_mnist") == ""
    assert "mean [0.1307] std [0.3081], not fashion_mnist's mean [0.286" in other_statistics(old, "fashion_mnist")
    cfg = load_config(lc.REPO / "configs" / "fashion_mnist.yaml", ["pretrain.augment.on_gpu=false"])
    arch = BackboneArchitecture.from_config(cfg.pretrain.backbone, 1)
    path = tmp_path / "backbone.safetensors"
    save_weights(path, arch.build().state_dict())
    (tmp_path / "metadata.json").write_text(json.dumps({
        **old, "config": {"data": {"dataset": "fashion_mnist"}, "pretrain": {}}, "epochs_run": 50}))
    assert any("normalised with mean [0.1307]" in r for r in backbone_departures(path, "fashion_mnist", 50))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lc.load_backbone(path, cfg)
    assert any("normalised with mean [0.1307]" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_a_smoke_run_given_the_name_of_full_figures_is_refused_before_it_runs(tmp_path: Path) -> None:
    """An explicit ``--name cifar10_vicreg`` on a trial replaced the committed file (left alone
    in session 43): it is refused, with the two ways out, before any work is done."""
    from bench.common import smoke_result_name

    (tmp_path / "cifar10_vicreg.json").write_text(json.dumps({"smoke": False, "epochs": 100}), encoding="utf-8")
    (tmp_path / "trial.json").write_text(json.dumps({"smoke": True}), encoding="utf-8")
    (tmp_path / "layer_clusters_mnist.json").write_text(json.dumps({"dataset": "mnist"}), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"cifar10_vicreg\.json.*full protocol.*--eval-limit 200.*"
                                         r"another --name.*cifar10_vicreg_smoke\.json"):
        smoke_result_name("cifar10_vicreg", ["--eval-limit 200"], "cifar10_vicreg", out_dir=tmp_path)
    with pytest.raises(SystemExit, match="layer_clusters_mnist.json"):  # no "smoke" key: older full figures
        smoke_result_name("mnist", ["--tsne-samples 10"], "mnist", out_dir=tmp_path, file_prefix="layer_clusters_")
    # a smoke file may be replaced, a full run may replace anything, a new name is free
    assert smoke_result_name("cifar10_vicreg", ["x"], "trial", out_dir=tmp_path) == "trial"
    assert smoke_result_name("cifar10_vicreg", [], "cifar10_vicreg", out_dir=tmp_path) == "cifar10_vicreg"
    assert smoke_result_name("cifar10_vicreg", ["x"], "new", out_dir=tmp_path) == "new"


@pytest.mark.parametrize("bench", ["cifar10_vicreg", "low_label", "layer_clusters", "retinamnist",
                                   "retinamnist_epochs", "umm_ablation"])
def test_every_bench_with_a_name_option_checks_it_against_full_figures(
        bench: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bench hands its --out-dir to the check (so a trial elsewhere is not refused for
    the committed file's sake, and one into bench/results is). bench.retinamnist and
    bench.retinamnist_epochs refuse to start without RetinaMNIST before they read --name, and
    a clone without ../shared/data failed here: they are pointed at an empty stand-in file (no
    job runs, so nothing reads it) and the test runs without the real data."""
    import importlib

    from bench import common

    module = importlib.import_module(f"bench.{bench}")
    if bench in ("retinamnist", "retinamnist_epochs"):
        fake = tmp_path / "retinamnist_public.npz"
        fake.write_bytes(b"")
        monkeypatch.setattr(module, "NPZ", fake)
    seen: list[Path | None] = []

    def check(default: str, reasons: object, name: str | None = None, *, out_dir: Path | None = None,
              file_prefix: str = "") -> str:
        seen.append(out_dir)
        raise SystemExit("checked")

    monkeypatch.setattr(module, "smoke_result_name", check)
    monkeypatch.setattr(common, "smoke_result_name", check)
    args = {"cifar10_vicreg": ["--epochs", "1", "--data", str(tmp_path)],
            "low_label": ["--dataset", "mnist", "--data", str(tmp_path), "--backbone", str(tmp_path / "b.safetensors")],
            "layer_clusters": ["--data", str(tmp_path)],
            "retinamnist": [],
            "retinamnist_epochs": ["--seeds", "5"],
            "umm_ablation": ["--checkpoint", str(tmp_path / "c.pt"), "--data", str(tmp_path)]}[bench]
    with pytest.raises(SystemExit, match="checked"):
        module.main([*args, "--name", "x", "--out-dir", str(tmp_path)])
    assert seen and seen[-1] == tmp_path


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", '"a string"'])
def test_a_backbones_unreadable_metadata_is_said_by_every_reader_not_raised(tmp_path: Path, text: str) -> None:
    """The bench read the ``metadata.json`` beside weights in five places, three of them
    without a guard (a JSON list raised AttributeError, broken JSON a JSONDecodeError); one
    reader, ``bench.common.weights_metadata``, now serves them all."""
    from bench.common import backbone_departures, given_backbone_epochs, weights_metadata
    from bench.retinamnist_epochs import initial_weights

    weights = tmp_path / "backbone.safetensors"
    weights.write_bytes(b"")
    assert weights_metadata(weights) is None  # absent
    (tmp_path / "metadata.json").write_text(text, encoding="utf-8")
    assert weights_metadata(weights) is None
    assert any("no readable metadata.json" in r for r in backbone_departures(weights, "mnist", 50))
    assert initial_weights([f"pretrain.backbone.weights={weights}"]) == {"file": str(weights)}
    assert given_backbone_epochs(weights_metadata(weights)) == {
        "evaluated_epoch": None, "evaluated_checkpoint": "unknown (no readable metadata.json beside the weights)",
        "epochs_run": None}
    (tmp_path / "metadata.json").write_text(json.dumps({"best_epoch": 6, "epochs_run": 9}), encoding="utf-8")
    record = given_backbone_epochs(weights_metadata(weights))
    assert record["evaluated_epoch"] == 7 and record["epochs_run"] == 9 and "best_epoch" in record["evaluated_checkpoint"]
