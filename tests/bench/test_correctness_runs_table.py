"""docs/data.md's table of the correctness runs (referee F3 of the MNIST / Fashion-MNIST /
CIFAR-10 reruns): one row per run, with the published figure and its source or none, the
command, the machine, and the GPU and CPU times the committed result files hold, so that the
table and the files cannot drift apart unnoticed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"


def _rows() -> dict[str, list[str]]:
    text = (REPO / "docs" / "data.md").read_text(encoding="utf-8")
    section = text.split("### Which run measured which figure", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    assert header == ["run", "published figure (source)", "comparable?", "command", "measured on", "GPU time",
                      "CPU time", "today's config measured?"], header
    return {cells[0]: cells for cells in ([c.strip() for c in line.strip().strip("|").split(" | ")]
                                         for line in lines[1:])}


def _record(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def test_every_correctness_run_has_one_row_and_its_times_are_the_result_files() -> None:
    rows = _rows()
    assert set(rows) == {"MNIST low-label", "Fashion-MNIST low-label", "CIFAR-10 VICReg, linear and k-NN",
                         "UMM ablation on CIFAR-10", "per-layer cluster quality, CIFAR-10", "quick check, MNIST",
                         "quick check v2, MNIST", "quick check v2, Fashion-MNIST", "quick check v3, MNIST",
                         "quick check v3, Fashion-MNIST", "quick check v3, MNIST, seed 2",
                         "quick check v3, Fashion-MNIST, seed 2", "quick check v3, MNIST, no pairs",
                         "quick check v3, Fashion-MNIST, no pairs"}
    assert all(len(cells) == 8 for cells in rows.values()), rows
    low = _record("low_label_mnist")
    seconds = low["pretrain"]["seconds"] + low["eval_seconds"]
    assert rows["MNIST low-label"][5].startswith(f"{seconds:.1f} s recorded"), rows["MNIST low-label"][5]
    cifar = _record("cifar10_vicreg")
    assert rows["CIFAR-10 VICReg, linear and k-NN"][5].startswith(
        f"{cifar['pretrain_seconds'] + cifar['eval_seconds']:.1f} s recorded")
    ablation = _record("umm_ablation")
    total = sum((v.get("umm_seconds") or 0) + (v.get("eval_seconds") or 0) for v in ablation["variants"].values())
    assert rows["UMM ablation on CIFAR-10"][5].startswith(
        f"{total:.1f} s recorded: UMM and evaluation of its {len(ablation['variants'])} variants")
    clusters = [sum(sum(t.values()) for t in r["timings"].values()) + (r.get("data_load_s") or 0)
                for r in (_record("layer_clusters_cifar10"), _record("layer_clusters_cifar10_umm"))]
    assert rows["per-layer cluster quality, CIFAR-10"][5].startswith(
        f"{clusters[0]:.1f} s and {clusters[1]:.1f} s recorded")
    for run, name in (("quick check, MNIST", "quick_check_mnist"), ("quick check v2, MNIST", "quick_check_mnist_v2"),
                      ("quick check v2, Fashion-MNIST", "quick_check_fashion_mnist_v2"),
                      ("quick check v3, MNIST", "quick_check_mnist_v3"),
                      ("quick check v3, Fashion-MNIST", "quick_check_fashion_mnist_v3"),
                      ("quick check v3, MNIST, seed 2", "quick_check_mnist_v3_seed2"),
                      ("quick check v3, Fashion-MNIST, seed 2", "quick_check_fashion_mnist_v3_seed2"),
                      ("quick check v3, MNIST, no pairs", "quick_check_mnist_v3_no_pairs"),
                      ("quick check v3, Fashion-MNIST, no pairs", "quick_check_fashion_mnist_v3_no_pairs")):
        quick = _record(name)
        assert rows[run][6].startswith(
            f"{quick['cpu_seconds_total'] / 60:.1f} CPU minutes ({quick['cpu_seconds_total']} s of process time; "
            f"{quick['wall_seconds']['total'] / 60:.1f} wall minutes"), run
        assert f"`{name}.json`" in rows[run][4], run
        judged = quick.get("judged_comparison") or quick  # v3 judges VICReg against its control
        assert f"{judged['gap_points']:+.2f} points" in rows[run][2], run
        assert ("not met" in rows[run][2]) is (not quick["claim_holds"]), run
        design = quick.get("design", {}).get("name", "v1")
        assert rows[run][3].endswith(f"--design {design}`") is (design != "v3"), run  # the default needs none
        seed = quick.get("design", {}).get("seed_repeat")
        assert (f"--seed {seed}`" in rows[run][3]) is (seed is not None), run
        control = quick.get("design", {}).get("control", "broken_pairs")
        assert (f"--control {control}`" in rows[run][3]) is (control != "broken_pairs"), run
    # the GPU runs hold no CPU time: said, not estimated; the CPU run no GPU time
    gpu_runs = {"MNIST low-label": ["low_label_mnist"], "CIFAR-10 VICReg, linear and k-NN": ["cifar10_vicreg"],
                "UMM ablation on CIFAR-10": ["umm_ablation"],
                "per-layer cluster quality, CIFAR-10": ["layer_clusters_cifar10", "layer_clusters_cifar10_umm"]}
    for run, names in gpu_runs.items():
        for name in names:
            assert "cpu_seconds" not in json.dumps(_record(name)) and "H100" in _record(name)["device"], name
            assert f"`{name}.json`" in rows[run][4], (run, rows[run][4])
        assert rows[run][6] == "not measured", (run, rows[run][6])
        assert "H100" in rows[run][4] and "2026-11-22" in rows[run][4]
    assert rows["quick check, MNIST"][5].startswith("not measured")


def test_the_published_figures_and_their_sources_are_those_of_methods_md() -> None:
    rows = _rows()
    methods = " ".join((REPO / "docs" / "methods.md").read_text(encoding="utf-8").split())
    # Fashion-MNIST: no figure is cited anywhere the package holds its figures
    fashion = rows["Fashion-MNIST low-label"]
    assert fashion[1].startswith("none cited") and "never run" in fashion[4]
    assert "Fashion" not in methods
    import bench.low_label as low_label
    from bench.low_label import PAPER_MNIST

    assert not [n for n in dir(low_label) if n.startswith("PAPER_") and "FASHION" in n.upper()]
    for labels, figures in PAPER_MNIST.items():
        assert f"{figures['finetune']:.2f}".rstrip("0").rstrip(".") in rows["MNIST low-label"][1], labels
    # the seed report: what methods.md says of it, and that it names no source
    seed = "A seed report: VICReg ResNet-34 on CIFAR-10, 100 epochs, LARS, batch 128: 76.67 % linear."
    assert seed in methods
    cifar = rows["CIFAR-10 VICReg, linear and k-NN"]
    assert "76.67 %" in cifar[1] and "batch 128" in cifar[1] and "unattributed" in cifar[1]
    assert cifar[2].startswith("no:") and rows["MNIST low-label"][2].startswith("no:")


def test_todays_cifar10_recipe_is_said_unmeasured_and_its_commits_postdate_the_result() -> None:
    import shutil

    import yaml
    from git_in_tests import run_git

    cifar = _rows()["CIFAR-10 VICReg, linear and k-NN"]
    today = yaml.safe_load((REPO / "configs" / "cifar10.yaml").read_text(encoding="utf-8"))["pretrain"]
    assert (today["batch_size"], today["lr"], today["lars_eta"], today["lars_clip_lr"], today["loss"]["std_coeff"]) == \
        (512, 0.6, 0.02, True, 50.0)
    assert cifar[7].startswith("no:") and "batch 512, lr 0.6, eta 0.02 clipped, `std_coeff` 50" in cifar[7]
    ran = _record("cifar10_vicreg")["config"]["pretrain"]
    assert (ran["batch_size"], ran["lr"], ran["loss"]["std_coeff"]) == (256, 0.3, 25.0)
    named = re.findall(r"\b[0-9a-f]{7}\b", cifar[7])
    assert named, cifar[7]
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("no git checkout: whether the named commits come after the result is not checked")
    for commit in named:  # each came after the commit that added the result
        out = run_git(REPO, "merge-base", "--is-ancestor", "84f9c5c", commit, check=False)
        if out.returncode == 128:  # git cannot find a commit: a shallow clone without that history
            assert "dubious ownership" not in out.stderr, out.stderr  # run_git names the checkout safe
            pytest.skip(f"git cannot tell whether {commit} comes after 84f9c5c: {out.stderr.strip()}")
        assert out.returncode == 0, f"{commit} is not after 84f9c5c, which committed cifar10_vicreg.json"
