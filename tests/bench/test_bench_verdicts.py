"""The closing verdict blocks of bench.cifar10_vicreg and bench.quick_check (course review F4).

bench.cifar10_vicreg ended on ``k-NN@20 16.00%, k-NN@200 skipped ..., linear 16.50%`` with no
mark or reference beside it; bench.quick_check's last line led with the comparison that is not
judged and ended "claim does not hold" without the claim or the mark (>= 2 points, McNemar
p < 0.001). Both now end with what was judged and its mark, the figure and the verdict, and the
reference or what the run does not show."""

from __future__ import annotations

from bench import cifar10_vicreg, quick_check


def test_the_cifar10_verdict_names_the_marks_the_verdicts_and_the_reference_not_comparable() -> None:
    pretrain = {"backbone": {"arch": "resnet18"}, "batch_size": 256, "optimizer": "lars"}
    smoke = ["1 epoch(s), not 100", "--eval-limit 200"]
    goals = {"linear_top1_at_100_epochs_ge_83": "not applicable: " + "; ".join(smoke),
             "pretrain_100_epochs_under_240_s": "not applicable: " + "; ".join(smoke)}
    lines = cifar10_vicreg.verdict_lines(16.5, 1, goals, cifar10_vicreg.seed_report_comparison(pretrain, 1, smoke),
                                         41.4)
    text = "\n".join(lines)
    assert lines[0] == "verdict:" and len(lines) == 5, text
    assert "linear top-1 >= 83 % after 100 epochs" in lines[1] and "16.50 % after 1 epoch(s)" in lines[1], text
    assert "not judged (1 epoch(s), not 100; --eval-limit 200)" in lines[1], text
    assert "under 240 s on one H200" in lines[2] and "41.4 s" in lines[2], text
    assert "76.67 %" in lines[3] and "not comparable (ResNet-18, not ResNet-34; batch 256, not 128" in lines[3], text
    assert "a smoke run" not in lines[3] and "a smoke run checks that the protocol runs" in lines[4], text
    # a full run: the recorded verdicts, in words
    full = cifar10_vicreg.verdict_lines(84.0, 100, {"linear_top1_at_100_epochs_ge_83": True,
                                                    "pretrain_100_epochs_under_240_s": False,
                                                    "measured_on": "NVIDIA H200"},
                                        cifar10_vicreg.seed_report_comparison(pretrain, 100), 300.0)
    assert full[1].endswith(": met") and full[2].endswith("300.0 s (this run on NVIDIA H200): not met"), full
    assert "one pretraining at one seed" in full[4], full


def test_the_cifar10_speed_line_names_the_device_and_is_not_comparable_off_an_h200() -> None:
    """Review F3: the speed line said "met" or "not met" against the H200 mark without saying the
    run's device; an H100's or a CPU's seconds are not comparable with it."""
    pretrain = {"backbone": {"arch": "resnet18"}, "batch_size": 256, "optimizer": "lars"}
    for device in ("NVIDIA H100 80GB HBM3", "cpu"):
        lines = cifar10_vicreg.verdict_lines(84.0, 100, {"linear_top1_at_100_epochs_ge_83": True,
                                                         "pretrain_100_epochs_under_240_s": True,
                                                         "measured_on": device},
                                             cifar10_vicreg.seed_report_comparison(pretrain, 100), 200.0)
        assert lines[2].endswith(f"200.0 s (this run on {device}): not comparable (the mark is for an H200)"), lines
        assert lines[1].endswith(": met"), lines  # the accuracy mark holds on any device


def test_the_quick_check_verdict_says_the_claim_its_mark_and_what_is_not_judged() -> None:
    lines = quick_check.verdict_lines("broken_pairs", (76.5, 78.5), -2.0, 0.65, False,
                                      ["override pretrain.epochs=1"], "against the random backbone, +4.00 points")
    text = "\n".join(lines)
    assert lines[0] == "verdict:", text
    assert "against the broken-pairs control's" in lines[1] and "BatchNorm statistics refitted" in lines[1], text
    assert lines[1].endswith("mark: a gap >= 2 points and McNemar p < 0.001"), text
    assert "VICReg 76.50 % against broken-pairs control 78.50 %: -2.00 points (McNemar p 0.65)" in lines[2], text
    assert "below the mark, but a smoke run judges nothing" in lines[2] and "override pretrain.epochs=1" in lines[2]
    assert lines[3] == "  not judged: against the random backbone, +4.00 points", text
    assert "docs/data.md#correctness-checks-quick-start" in lines[4], text
    full = quick_check.verdict_lines(None, (88.0, 85.0), 3.0, 1e-4, True, [], "refitted, +1.00 points")
    assert "random one it started from, as pretrained" in full[1] and full[2].endswith("; the claim holds"), full


def test_a_full_quick_check_says_whether_the_claim_holds_as_recorded() -> None:
    # the full run's verdict follows ``holds`` (mutation audit M45: it said "holds" always)
    below = quick_check.verdict_lines("random_init", (50.0, 49.0), 1.0, 0.5, False, [], "x")
    assert below[2].endswith("; the claim does not hold"), below[2]
    above = quick_check.verdict_lines("random_init", (55.0, 49.0), 6.0, 1e-5, True, [], "x")
    assert above[2].endswith("; the claim holds"), above[2]
