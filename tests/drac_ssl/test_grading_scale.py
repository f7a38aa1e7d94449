"""K grades (issue #12): metrics against hand-computed values, K - 1 kappa thresholds, the
class decision, heads with K outputs, the K-column submission and its check, plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from drac_ssl import metrics, stage_settings
from drac_ssl.grading import model as grading
from drac_ssl.losses.grading import class_weights_for
from drac_ssl.plots import plot_confusion, plot_roc
from drac_ssl.scale import (
    DEFAULT_PREPROCESSING,
    IngestFacts,
    default_grade_names,
    grade_names_of,
    prob_columns,
    read_ingest_facts,
    submission_columns,
)
from drac_ssl.submission import check_submission, write_submission

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")

# 7 cases on the 5-grade scale, probabilities in exact binary fractions (rows sum to 1
# exactly, so the tie below survives renormalisation); by hand (Mann-Whitney counts, ties
# 1/2): one-vs-rest: grades 0, 1, 2, 4 separate perfectly, grade 3 has one tie in 6 pairs
# (11/12), macro = (4 + 11/12) / 5 = 59/60; one-vs-one: 9 of 10 pairs perfect, the pair
# (2, 3) averages 1/2 (P3 tied) and 1 (P2): 3/4, macro = (9 + 3/4) / 10 = 39/40. Argmax
# gets 5 of 7 (case 3 -> 4, case 5 -> 1).
Y5 = np.array([0, 1, 2, 3, 4, 0, 4])
P5 = np.array([[.5, .125, .125, .125, .125], [.125, .5, .125, .125, .125],
               [.125, .125, .375, .25, .125], [.125, .125, .125, .25, .375],
               [.0625, .0625, .125, .125, .625], [.25, .375, .125, .125, .125],
               [.125, .125, .125, .125, .5]])


def test_qwk_on_five_grades_by_hand() -> None:
    # y = 0 0 1 4, pred = 0 1 1 3 (K = 5): sum w*O = 1 + 1 = 2 (unnormalised (i-j)^2);
    # expected sum w*E = (2*11 + 1*5 + 1*35) / 4 = 15.5; kappa = 1 - 2 / 15.5 = 27/31
    assert metrics.quadratic_weighted_kappa([0, 0, 1, 4], [0, 1, 1, 3], 5) == pytest.approx(27 / 31)
    # grades 2 and 3 unused by both raters keep their distance: the same value without K
    assert metrics.quadratic_weighted_kappa([0, 0, 1, 4], [0, 1, 1, 3]) == pytest.approx(27 / 31)
    assert metrics.quadratic_weighted_kappa([0, 4], [4, 0], 5) == pytest.approx(-1.0)


def test_auc_one_vs_one_and_one_vs_rest_by_hand() -> None:
    assert metrics.macro_ovr_auc(Y5, P5) == pytest.approx(59 / 60)
    assert metrics.macro_ovo_auc(Y5, P5) == pytest.approx(39 / 40)
    assert metrics.ovr_auc_per_grade(Y5, P5) == pytest.approx([1, 1, 1, 11 / 12, 1])
    report = metrics.grading_report(Y5, P5, class_names=ICDR)
    assert report["auc"] == report["auc_ovo"] == pytest.approx(39 / 40)
    assert report["auc_ovr"] == pytest.approx(59 / 60)
    assert report["auc_per_grade"]["Severe"] == pytest.approx(11 / 12)
    assert report["class_names"] == list(ICDR) and report["labels"] == [0, 1, 2, 3, 4]
    assert np.array(report["confusion"]).shape == (5, 5)
    assert np.trace(np.array(report["confusion"])) == 5 and report["confusion"][3][4] == 1
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert set(report["f1"]) == set(ICDR)
    # a grade absent from y_true: both AUCs undefined, the reason said once
    missing = metrics.grading_report(Y5[Y5 != 3], np.delete(P5, 3, axis=0), class_names=ICDR)
    assert math.isnan(missing["auc"]) and math.isnan(missing["auc_ovr"])
    assert "[3] absent" in missing["auc_note"] and math.isnan(missing["auc_per_grade"]["Severe"])


def test_three_grade_auc_by_hand() -> None:
    # 2 cases per grade; by hand: one-vs-rest 7/8, 9/16, 1 -> 39/48; one-vs-one pairs
    # (0,1) 3/4, (0,2) 1, (1,2) (3/8 + 1)/2 -> 39/48 as well (balanced K = 3)
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[.7, .2, .1], [.4, .4, .2], [.3, .5, .2], [.5, .3, .2], [.2, .3, .5],
                  [.1, .6, .3]])
    assert metrics.ovr_auc_per_grade(y, p) == pytest.approx([7 / 8, 9 / 16, 1.0])
    assert metrics.macro_ovr_auc(y, p) == pytest.approx(39 / 48)
    assert metrics.macro_ovo_auc(y, p) == pytest.approx(39 / 48)


def test_grading_report_refuses_names_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="5 columns but 3 class names"):
        metrics.grading_report(Y5, P5, class_names=("a", "b", "c"))
    with pytest.raises(ValueError, match="grade 4 found"):
        metrics.grading_report(Y5, None, Y5, class_names=("a", "b", "c"))
    assert metrics.grading_report([0, 1], None, [0, 1])["class_names"] == ["0", "1"]
    assert default_grade_names(3) == ("Normal", "NPDR", "PDR")


@pytest.mark.parametrize("k", [2, 3, 5])
def test_kappa_thresholds_for_k_grades(k: int) -> None:
    rng = np.random.default_rng(k)
    y = np.repeat(np.arange(k), 12)
    scores = 0.3 * y + rng.uniform(0, 0.25, y.size)  # ordered, but not at k + 0.5
    cuts = metrics.fit_kappa_thresholds(scores, y, num_grades=k)
    assert len(cuts) == k - 1 and all(a < b for a, b in zip(cuts, cuts[1:], strict=False))
    assert metrics.quadratic_weighted_kappa(y, metrics.apply_thresholds(scores, cuts), k) == 1.0
    if k > 2:  # the default cuts at 0.5, 1.5, ... lose the top grades
        default = metrics.apply_thresholds(scores, metrics.default_thresholds(k))
        assert metrics.quadratic_weighted_kappa(y, default, k) < 1.0
    assert metrics.fit_kappa_thresholds(scores, y, num_grades=k) == cuts  # deterministic


def test_kappa_thresholds_with_fewer_distinct_scores_than_cuts() -> None:
    y = np.array([0, 0, 4, 4])
    cuts = metrics.fit_kappa_thresholds(np.array([0.0, 0.0, 1.0, 1.0]), y, num_grades=5)
    assert len(cuts) == 4 and np.all(np.diff(cuts) > 0)
    pred = metrics.apply_thresholds(np.array([0.0, 1.0]), cuts)
    assert pred[0] < pred[1]
    with pytest.raises(ValueError, match="grades 0..2"):
        metrics.fit_kappa_thresholds(np.array([0.0, 1.0]), [0, 4], num_grades=3)


def test_calibration_with_five_grades_and_both_decisions() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 30)
    logits = np.eye(5)[y] * 2.0 + rng.normal(0, 1.0, (y.size, 5))
    cal = grading.Calibration.fit(logits, y, "classification", 5, "thresholds")
    assert cal.num_grades == 5 and len(cal.thresholds) == 4
    probs, score, grade = cal.decide([logits])
    assert probs.shape == (150, 5) and np.allclose(probs.sum(1), 1)
    assert np.array_equal(grade, metrics.apply_thresholds(score, cal.thresholds))
    argmax = cal.with_decision("argmax")
    assert np.array_equal(argmax.decide([logits])[2], probs.argmax(1))
    assert not np.array_equal(grade, probs.argmax(1))  # the two rules differ on these data
    back = grading.Calibration.from_dict(json.loads(json.dumps(argmax.to_dict())))
    assert back == argmax and back.to_dict()["decision"] == "argmax"
    assert back.to_dict()["num_grades"] == 5
    # a calibration written before the option existed: DRAC's 3 grades, cut at its thresholds
    old = grading.Calibration.from_dict({"output": "classification", "temperature": 1.5,
                                         "thresholds": [0.6, 1.4]})
    assert old.decision == "thresholds" and old.num_grades == 3
    with pytest.raises(ValueError, match="outputs 5 grades but the calibration has 3"):
        old.decide([logits])
    with pytest.raises(ValueError, match="finetune.decision"):
        grading.Calibration("classification", decision="vote")


def test_regression_calibration_maps_to_k_grades() -> None:
    y = np.repeat(np.arange(5), 10)
    raw = (y + np.linspace(-0.3, 0.3, y.size))[:, None]
    cal = grading.Calibration.fit(raw, y, "regression", 5)
    probs, score, grade = cal.decide([raw])
    assert probs.shape == (50, 5) and np.allclose(probs.sum(1), 1)
    assert np.array_equal(cal.with_decision("argmax").decide([raw])[2], probs.argmax(1))
    assert metrics.quadratic_weighted_kappa(y, grade, 5) > 0.95
    assert "k = 0, 1, 2, 3, 4" in cal.to_dict()["probabilities"]


@pytest.mark.parametrize(("head", "k"), [("linear", 3), ("mlp", 5), ("conv", 5), ("regression", 5)])
def test_heads_have_k_outputs_and_specs_keep_k(head: str, k: int) -> None:
    spec = grading.ModelSpec("resnet18", 3, True, head, 0.0, num_grades=k)
    out = spec.build()(torch.zeros(2, 3, 28, 28))
    assert out.shape == (2, 1 if head == "regression" else k)
    assert grading.ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).num_grades == k
    legacy = {key: v for key, v in spec.to_dict().items() if key != "num_grades"}
    assert grading.ModelSpec.from_dict(legacy).num_grades == 3  # written before K was stored
    weights = class_weights_for(np.array([0, 0, 1, k - 1]), k)
    assert weights.shape == (k,) and weights[0] == pytest.approx(4 / (k * 2))
    with pytest.raises(ValueError, match=f"scale has {k} grades"):
        class_weights_for(np.array([0, k]), k)


@pytest.mark.parametrize("head", sorted(h for h, kind in grading.HEADS.items() if kind == "classification"))
@pytest.mark.parametrize("k", [1, 0, -2])
def test_a_classification_head_of_fewer_than_two_grades_is_refused(head: str, k: int) -> None:
    """One logit would look like the regression head's single score (a review:
    ``build_head("linear", 512, 0.1, num_grades=1)`` built one); K >= 2 everywhere else."""
    with pytest.raises(ValueError, match=rf"num_grades={k}.*at least 2 grades"):
        grading.build_head(head, 512, 0.1, num_grades=k)
    with pytest.raises(ValueError, match="at least 2 grades"):
        grading.ModelSpec("resnet18", 1, True, head, 0.0, num_grades=k).build_head()


def test_the_regression_head_still_has_one_output_whatever_num_grades() -> None:
    for k in (1, 2, 5):
        assert grading.build_head("regression", 8, 0.0, num_grades=k)(torch.zeros(2, 8)).shape == (2, 1)


def test_submission_with_five_grades_and_its_check(tmp_path: Path) -> None:
    cases = [f"test_{i:04d}.png" for i in range(4)]
    path = write_submission(tmp_path / "s.csv", cases, P5[:4], np.array([0, 1, 2, 4]), num_grades=5)
    lines = path.read_text().splitlines()
    assert lines[0] == "case,class,P0,P1,P2,P3,P4" == ",".join(submission_columns(5))
    assert check_submission(path) == []  # K read from the header
    assert check_submission(path, num_grades=5, grade_names=ICDR, cases=cases) == []
    assert any("the submission has 5 grades" in p and "expects 3" in p and "do not delete columns" in p
               for p in check_submission(path, num_grades=3))  # another run's file: not a header to fix
    with pytest.raises(ValueError, match=r"pass num_grades=5"):
        write_submission(tmp_path / "t.csv", cases, P5[:4])  # the DRAC default refuses 5 columns
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace(",0,", ",5,", 1), *lines[2:3],
                              "test_9999.png,0,0.2,0.2,0.2,0.2,0.2", "test_3.png,4,0.2,0.2,0.2,0.2,0.2"])
                   + "\n")
    problems = check_submission(bad, grade_names=ICDR, cases=cases)
    text = "\n".join(problems)
    assert "class 5 is outside {0, 1, 2, 3, 4}" in text and "4 (PDR)" in text
    assert "case 'test_9999.png' is not a test case of the manifest" in text
    assert "case 'test_3.png' is not a test case name -> write 'test_0003.png'" not in text
    assert "test case 'test_0002.png' has no row" in text
    wrong_sum = tmp_path / "sum.csv"
    wrong_sum.write_text(lines[0] + "\ntest_0000.png,0,0.5,0.1,0.1,0.1,0.1\n")
    assert any("P0+P1+P2+P3+P4 = 0.9" in p for p in check_submission(wrong_sum))


def test_scale_facts_from_the_ingest_summary(tmp_path: Path) -> None:
    assert read_ingest_facts(tmp_path) == IngestFacts()  # nothing recorded: DRAC, grey
    (tmp_path / "ingest_summary.json").write_text(json.dumps({
        "layout": "medmnist", "grades": {"names": list(ICDR), "k": 5},
        "channels": {"value": 3}, "preprocessing": {"fundus_crop": True, "graham": False}}))
    facts = read_ingest_facts(tmp_path)
    assert facts.grade_names == ICDR and facts.channels == 3 and facts.recorded
    # the recorded keys kept, the others at their defaults (a new option off by default leaves
    # this test as it is); the padding not recorded: the older one
    assert facts.preprocessing == {**DEFAULT_PREPROCESSING, "fundus_crop": True, "graham": False,
                                   "graham_reflect_padding": False}
    assert prob_columns(5) == ("P0", "P1", "P2", "P3", "P4")
    assert grade_names_of({}) == ("Normal", "NPDR", "PDR")
    assert grade_names_of({"class_names": list(ICDR)}) == ICDR


def test_plots_with_five_grades(tmp_path: Path) -> None:
    report = metrics.grading_report(Y5, P5, class_names=ICDR)
    for path in (plot_confusion(report["confusion"], tmp_path / "cm.png", ICDR),
                 plot_roc(Y5, P5, tmp_path / "roc.png", ICDR), plot_roc(Y5, P5, tmp_path / "r2.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        plot_roc(Y5, P5, tmp_path / "bad.png", ("a", "b", "c"))


def test_demo_bundle_with_five_grades_in_colour(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import load_bundle
    from drac_ssl.grading.predict import predict_images

    bundle = load_bundle(build_demo_bundle(tmp_path / "run", image_size=32, source_size=32,
                                           grade_names=ICDR, channels=3))
    assert bundle.metadata["class_names"] == list(ICDR) and bundle.spec.channels == 3
    probs, grades = predict_images(bundle, [np.zeros((40, 40, 3), np.uint8)], tta=False)
    assert probs.shape == (1, 5) and 0 <= grades[0] < 5
    assert predict_images(bundle, [])[0].shape == (0, 5)
    with pytest.raises(ValueError, match="RGB image"):
        predict_images(bundle, [np.zeros((40, 40), np.uint8)])


def test_a_bundle_written_before_the_scale_was_recorded_is_drac(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import BundleError, load_bundle
    from drac_ssl.grading.predict import predict_images

    path = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32)
    meta_path = path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    for key in ("class_names",):
        meta.pop(key)
    meta["model"].pop("num_grades")
    for key in ("decision", "num_grades"):
        meta["calibration"].pop(key)
    meta_path.write_text(json.dumps(meta))
    bundle = load_bundle(path)
    assert bundle.calibration.num_grades == 3 and bundle.calibration.decision == "thresholds"
    probs, _ = predict_images(bundle, [np.zeros((40, 40), np.uint8)], tta=False)
    assert probs.shape == (1, 3)
    meta["calibration"]["thresholds"] = [0.5, 1.5, 2.5]  # 4 grades against a 3-grade model
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="disagree"):
        load_bundle(path)


def test_submission_command_line_takes_k_from_the_header_or_the_option(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl.submission import main

    path = write_submission(tmp_path / "s.csv", ["a.png", "b.png"], P5[:2], num_grades=5)
    assert main(["--check", str(path)]) == 0
    assert "checked as 5 grades (P0..P4)" in capsys.readouterr().err
    assert main(["--check", str(path), "--grades", "3"]) == 1
    captured = capsys.readouterr()
    said = captured.out  # the option by its name, as python -m drac_ssl.export --check says it
    assert "the submission has 5 grades (case,class,P0,P1,P2,P3,P4) but --grades says 3 grades" in said
    assert "replace it with" not in said
    assert "checked as 3 grades (P0..P2) (--grades says 3 grades)" in captured.err  # on a failure too


def test_an_old_run_folder_resumes_under_the_new_in_channels_default(tmp_path: Path) -> None:
    from drac_ssl.config import load_config, to_dict

    (tmp_path / "data").mkdir()
    summary = tmp_path / "data" / "ingest_summary.json"
    old = to_dict(load_config(None, ["pretrain.backbone.in_channels=1"]))  # the old default
    new = to_dict(load_config(None))  # in_channels 0: the data's
    summary.write_text(json.dumps({"channels": {"value": 1}}))
    resolved = [stage_settings.data_channels_resolved(c, tmp_path) for c in (old, new)]
    assert stage_settings.config_differences(*resolved) == []
    summary.write_text(json.dumps({"channels": {"value": 3}, "grades": {"names": list(ICDR)}}))
    resolved = [stage_settings.data_channels_resolved(c, tmp_path) for c in (old, new)]
    assert stage_settings.config_differences(*resolved) == ["pretrain.backbone.in_channels: 1 -> 3"]


def test_umm_refuses_a_checkpoint_of_other_channels_than_the_data(tmp_path: Path) -> None:
    from drac_ssl import pretrain, umm
    from drac_ssl.config import ConfigError, load_config

    cfg = load_config(None, ["pretrain.epochs=1", "pretrain.batch_size=4", "pretrain.max_steps_per_epoch=1",
                             "pretrain.num_workers=0", "pretrain.expander=8-8", "pretrain.augment.image_size=16",
                             "pretrain.augment.source_size=16", "pretrain.backbone.cifar_stem=true",
                             "umm.batch_size=4", "umm.epochs=1", "run.device=cpu"])
    rng = np.random.default_rng(0)
    grey = pretrain.PretrainData(rng.integers(0, 255, (8, 16, 16), dtype=np.uint8), "grey images")
    pretrain.run(cfg, tmp_path, data=grey)
    colour = pretrain.PretrainData(rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8), "colour images")
    with pytest.raises(ConfigError, match=r"(?s)reads 1 channel\(s\) but the data \(colour images\) has 3"):
        umm.run(cfg, tmp_path, data=colour)


def test_model_spec_keeps_the_stem_stride_and_reads_old_specs_as_one() -> None:
    spec = grading.ModelSpec("resnet18", 3, True, "linear", 0.0, num_grades=5, stem_stride=2)
    again = grading.ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.build_backbone().conv1.stride == (2, 2)
    old = spec.to_dict()
    del old["stem_stride"]  # a model.json written before the setting existed
    assert grading.ModelSpec.from_dict(old).stem_stride == 1


@pytest.mark.parametrize(("grades", "num_grades", "error", "words"), [
    (np.array([], dtype=np.int64), None, ValueError, "no grades and no num_grades: pass num_grades=K"),
    (np.array([-1, 0]), 3, ValueError, "grade -1 found; grades are 0 .. 2"),
    (np.array([0.0, 1.0]), 2, TypeError, "needs integer grades; got dtype float64"),
    (np.array([True, False]), 2, TypeError, "needs integer grades; got dtype bool"),
    (np.array([[0, 1]]), 2, ValueError, r"grades of shape \(n,\); got \(1, 2\)"),
    (np.array([0, 1]), 0, ValueError, "num_grades >= 1, got 0"),
    # a uint64 grade above int64's range was cast first and reported as -9223372036854775808
    (np.array([0, 2**63], dtype=np.uint64), 3, ValueError, "grade 9223372036854775808 found, but the scale has 3"),
    (np.array([0, 2**63], dtype=np.uint64), None, ValueError, "grade 9223372036854775808 found: no scale"),
])
def test_class_weights_for_says_what_is_wrong_with_the_grades(grades: np.ndarray, num_grades: int | None,
                                                              error: type[Exception], words: str) -> None:
    """Each was NumPy's error (``zero-size array to reduction operation``, ``no negative
    elements``, ``Cannot cast array data from dtype('float64')``), or no error at all
    (booleans, ``num_grades=0`` with grades, 2-D)."""
    with pytest.raises(error, match=words):
        class_weights_for(grades, num_grades)
    np.testing.assert_allclose(class_weights_for(np.array([], dtype=np.int64), 3), [1.0, 1.0, 1.0])


def test_grading_loss_refuses_an_unknown_kind() -> None:
    """``"classfication"`` was computed as the regression loss, without a word; the kinds it
    knows are the heads' outputs."""
    from drac_ssl.losses.grading import KINDS, grading_loss

    assert set(KINDS) == set(grading.HEADS.values())
    output, grade = torch.randn(3, 3), torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"unknown kind 'classfication'; expected one of classification, regression"):
        grading_loss(output, grade, "classfication", None)
    assert torch.isfinite(grading_loss(output, grade, "classification", None))
    assert torch.isfinite(grading_loss(output[:, :1], grade, "regression", None))


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_grading_loss_takes_float64_class_weights_with_half_output(kind: str) -> None:
    """Float64 class weights (numpy's ``class_weights_for`` as a tensor) beside float16 logits
    were refused by cross-entropy (``expected scalar type Float but found Double``): the weights
    follow the float32 the output is cast to, for both heads."""
    from drac_ssl.losses.grading import grading_loss

    grade = torch.tensor([0, 1, 2, 1])
    output = torch.randn(4, 3 if kind == "classification" else 1, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    got = grading_loss(output.half(), grade, kind, weights)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, grading_loss(output.half().float(), grade, kind, weights.float()))


def test_calibration_divides_by_t_and_fits_thresholds_on_calibrated_probabilities() -> None:
    """softmax(raw / T), not raw * T (mutation C02), and the thresholds are fitted on the
    expected grade of the temperature-scaled probabilities (mutation C03: of the raw softmax)."""
    cal = grading.Calibration("classification", temperature=2.0, thresholds=(0.5, 1.5))
    probs, _ = cal.probs_and_scores([np.array([[2.0, 0.0, 0.0]])])
    e = math.e
    assert probs[0] == pytest.approx([e / (e + 2), 1 / (e + 2), 1 / (e + 2)])
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    raw = 5.0 * (2.0 * np.eye(3)[y] + rng.normal(0, 1.0, (60, 3)))  # over-confident: T far from 1
    fitted = grading.Calibration.fit(raw, y, "classification", 3)
    t = metrics.fit_temperature(raw, y)
    assert abs(t - 1) > 0.2
    assert fitted.thresholds == pytest.approx(
        metrics.fit_kappa_thresholds(metrics.expected_grade(metrics.softmax(raw, t)), y, num_grades=3))
