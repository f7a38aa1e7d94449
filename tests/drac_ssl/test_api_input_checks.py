"""Bad inputs to the public Python API are refused with what is wrong and how to fix it, not
answered with a silently wrong result or a bare library error (a reviewer's read of the API:
``p_referable(p, -1)`` gave the last grade only, ``score(ungradable='leave-out')`` read it as
``error``, a regression loss read column 0 of ``(n, K)``, cases given as paths were written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from drac_ssl import metrics, scoring
from drac_ssl.config import ConfigError, load_config
from drac_ssl.losses.grading import grading_loss
from drac_ssl.losses.vicreg import covariance_loss, invariance_loss, variance_loss, vicreg_loss
from drac_ssl.submission import (
    case_name_problem,
    check_submission,
    safe_case_name,
    write_submission,
)

P3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])


# ---------------------------------------------------------------- F1 p_referable


def test_p_referable_is_public_and_sums_the_referable_grades() -> None:
    assert "p_referable" in metrics.__all__
    assert metrics.p_referable(P3, 1) == pytest.approx([0.3, 0.9, 0.8, 0.4])


@pytest.mark.parametrize("cut", [-1, 0, 3, 5, 1.5, True])
def test_p_referable_refuses_a_cut_off_the_scale(cut: object) -> None:
    with pytest.raises(ValueError, match=r"the cut must be 1\.\.2 on the 3-grade scale"):
        metrics.p_referable(P3, cut)  # type: ignore[arg-type]


def test_p_referable_refuses_logits() -> None:
    with pytest.raises(ValueError, match=r"pass softmax\(logits\), not logits"):
        metrics.p_referable(np.log(P3), 1)


# ---------------------------------------------------------------- F2 / F3 score


def _files(tmp_path: Path) -> tuple[Path, Path]:
    cases = [f"{i}.png" for i in range(6)]
    grades = [0, 1, 2, 0, 1, 2]
    probs = np.eye(3)[grades] * 0.8 + 0.2 / 3
    sub = write_submission(tmp_path / "sub.csv", cases, probs, num_grades=3)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,DR grade\n" + "".join(f"{c},{g}\n" for c, g in zip(cases, grades, strict=True)))
    return sub, labels


@pytest.mark.parametrize("cut", [7, 0, -1, 3])
def test_score_refuses_a_referable_cut_off_the_scale(tmp_path: Path, cut: int) -> None:
    sub, labels = _files(tmp_path)
    with pytest.raises(ValueError, match=r"the cut must be 1\.\.2 on the 3-grade scale \(0 a, 1 b, 2 c\)"):
        scoring.score(sub, labels, grade_names=["a", "b", "c"], referable_from=cut, n_boot=5)
    # a cut on the scale is scored, as before
    record = scoring.score(sub, labels, grade_names=["a", "b", "c"], referable_from=2, n_boot=5)
    assert record["referable"] is not None


def test_score_refuses_an_unknown_ungradable_word(tmp_path: Path) -> None:
    sub, labels = _files(tmp_path)
    with pytest.raises(ValueError, match=r"ungradable='leave-out' is not a choice: pass one of 'error', 'leave_out'"):
        scoring.score(sub, labels, ungradable="leave-out", n_boot=5)


# ---------------------------------------------------------------- F5 regression loss


def test_regression_loss_refuses_more_than_one_column() -> None:
    grade = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"needs the head's single score of shape \(n, 1\); got an output of shape \(3, 3\)"):
        grading_loss(torch.zeros(3, 3), grade, "regression", None)
    assert torch.isfinite(grading_loss(torch.zeros(3, 1), grade, "regression", None))


# ---------------------------------------------------------------- F6 VICReg terms


@pytest.mark.parametrize("term", [variance_loss, covariance_loss])
def test_vicreg_terms_refuse_arrays_and_no_dimensions(term: object) -> None:
    with pytest.raises(TypeError, match=r"pass torch.as_tensor\(z\)"):
        term(np.ones((4, 3)))  # type: ignore[operator]
    with pytest.raises(TypeError, match=r"pass torch.as_tensor\(z\)"):
        term([[1.0, 2.0], [3.0, 4.0]])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"no dimensions \(d = 0\)"):
        term(torch.zeros(4, 0))  # type: ignore[operator]
    z = torch.tensor([[0, 1], [2, 5], [1, 1]])  # integers: computed in float32
    assert term(z).dtype == torch.float32  # type: ignore[operator]
    assert torch.allclose(term(z), term(z.float()))  # type: ignore[operator]


def test_invariance_and_vicreg_refuse_no_dimensions_and_take_integers() -> None:
    with pytest.raises(ValueError, match=r"invariance_loss .*no dimensions"):
        invariance_loss(torch.zeros(4, 0), torch.zeros(4, 0))
    with pytest.raises(ValueError, match=r"vicreg_loss .*no dimensions"):
        vicreg_loss(torch.zeros(4, 0), torch.zeros(4, 0))
    a, b = torch.tensor([[0, 1], [2, 3]]), torch.tensor([[1, 1], [2, 2]])
    assert invariance_loss(a, b).item() == pytest.approx(0.5)


# ---------------------------------------------------------------- F7 cases as paths


@pytest.mark.parametrize(("case", "name"), [("x/a.png", "a.png"), ("../b.png", "b.png"), ("=x/c.png", "c.png")])
def test_write_submission_refuses_a_path_with_its_file_name_as_the_fix(tmp_path: Path, case: str, name: str) -> None:
    with pytest.raises(ValueError, match=rf"contains a path separator .* pass the file name alone: '{name}'"):
        write_submission(tmp_path / "s.csv", [case, "z.png"], np.full((2, 3), 1 / 3), num_grades=3)
    assert not (tmp_path / "s.csv").exists()
    assert case_name_problem(safe_case_name(case)) is None  # a folder's file named so gets a rename


@pytest.mark.parametrize(("case", "why"), [("x/\x1ba.png", "control or formatting character"),
                                           ("x/", "path separator"), ("x/=a.png", "path separator")])
def test_write_submission_names_a_file_as_the_fix_of_a_path_only_when_it_is_a_case(tmp_path: Path, case: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as said:  # not '\x1ba.png', 'x' nor '=a.png'
        write_submission(tmp_path / "s.csv", [case, "z.png"], np.full((2, 3), 1 / 3), num_grades=3)
    assert "file name alone: " not in str(said.value)


def test_check_submission_refuses_a_path_case(tmp_path: Path) -> None:
    sub = tmp_path / "s.csv"
    sub.write_text("case,class,P0,P1,P2\nx/a.png,0,1.000000,0.000000,0.000000\n"
                   "b.png,0,1.000000,0.000000,0.000000\nx/\x1bc.png,0,1.000000,0.000000,0.000000\n")
    assert check_submission(sub, num_grades=3) == [
        f"{sub}:2: case 'x/a.png' contains a path separator ('/'): a case is the image's file "
        "name alone, which a path never matches -> write the image's file name alone as its case: 'a.png'",
        f"{sub}:4: case 'x/\\x1bc.png' contains a path separator ('/'): a case is the image's file "
        "name alone, which a path never matches -> write the image's file name alone as its case, e.g. '161.png'"]


def test_an_image_named_with_a_backslash_is_its_own_case(tmp_path: Path) -> None:
    """Linux files may hold a backslash (Python's zipfile names so a Windows zip's ``scans\\001.png``)."""
    images = tmp_path / "test"
    images.mkdir()
    for name in ("scans\\001.png", "b.png"):
        (images / name).write_bytes(b"")
    sub = tmp_path / "s.csv"
    write_submission(sub, ["scans\\001.png", "b.png"], np.full((2, 3), 1 / 3), num_grades=3)
    assert sub.read_text().splitlines()[1].startswith("scans\\001.png,")
    assert check_submission(sub, images, num_grades=3) == []
    assert case_name_problem("scans\\001.png") is None
    from data_prep.ingest import test_case_name_problems

    assert test_case_name_problems(sorted(images.iterdir()), images) == []  # the ingest keeps it too


# ---------------------------------------------------------------- F4 fit_temperature


def test_fit_temperature_refuses_probabilities() -> None:
    y = np.array([0, 2, 1, 0])
    with pytest.raises(ValueError, match=r"logits look like probabilities .* pass the model's raw outputs"):
        metrics.fit_temperature(P3, y)
    assert metrics.fit_temperature(np.log(P3), y) > 0


# ---------------------------------------------------------------- F10 / F11 whole numbers


@pytest.mark.parametrize("k", [2.5, "2.5", True])
def test_default_thresholds_refuses_no_whole_number(k: object) -> None:
    with pytest.raises(ValueError, match="must be a whole number of grades"):
        metrics.default_thresholds(k)  # type: ignore[arg-type]
    assert metrics.default_thresholds(3.0) == (0.5, 1.5)


def test_qwk_refuses_a_fractional_scale_and_a_huge_unstated_one() -> None:
    with pytest.raises(ValueError, match="must be a whole number of grades, got 3.7"):
        metrics.quadratic_weighted_kappa([0, 1, 2], [0, 1, 2], num_grades=3.7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"grade 1000000000 is the largest seen .* pass num_grades"):
        metrics.quadratic_weighted_kappa([0, 10**9], [0, 1])
    assert metrics.quadratic_weighted_kappa([0, 150], [0, 150]) == 1.0  # a 151 x 151 matrix: trivial


def test_qwk_takes_the_largest_unstated_grade_and_refuses_one_above() -> None:
    """The bound is inclusive: grade QWK_LARGEST_UNSTATED (2000) runs, 2001 is refused (a mutation audit)."""
    assert metrics.QWK_LARGEST_UNSTATED == 2000
    assert metrics.quadratic_weighted_kappa([0, 2000], [0, 2000]) == 1.0
    with pytest.raises(ValueError, match=r"grade 2001 is the largest seen and num_grades was not given"):
        metrics.quadratic_weighted_kappa([0, 2001], [0, 2001])
    assert "QWK_LARGEST_UNSTATED" in metrics.__all__


def test_a_whole_number_string_of_grades_reads_as_before() -> None:
    """``int("3")`` read it before the checks (as DataConfig reads ``"3"``): valid calls still work."""
    assert metrics.default_thresholds("3") == (0.5, 1.5)  # type: ignore[arg-type]
    assert metrics.quadratic_weighted_kappa([0, 1, 2], [0, 1, 2], num_grades="5") == 1.0  # type: ignore[arg-type]
    assert [r["grade"] for r in metrics.recall_intervals([0, 1, 2], [0, 1, 2], "3")] == [0, 1, 2]  # type: ignore[arg-type]


def test_load_config_refuses_a_bare_string_of_overrides() -> None:
    with pytest.raises(ConfigError, match=r"""pass \['pretrain.epochs=3'\]"""):
        load_config(None, "pretrain.epochs=3")  # type: ignore[arg-type]
    assert load_config(None, ["pretrain.epochs=3"]).pretrain.epochs == 3


# ---------------------------------------------------------------- F8 the ingest's settings


def test_data_config_refuses_a_whole_number_setting_of_another_type() -> None:
    from drac_ssl.config import DataConfig

    with pytest.raises(ConfigError, match=r"DataConfig: 'data.workers' must be an integer, got 'a'.*\n  fix: DataConfig\(workers=0\)"):
        DataConfig(workers="a")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'data.n_folds' must be an integer, got 2.5"):
        DataConfig(n_folds=2.5)  # type: ignore[arg-type]
    assert DataConfig(workers="3").workers == 3  # type: ignore[arg-type]
    assert type(DataConfig(workers=np.int64(2)).workers) is int  # type: ignore[arg-type]


def test_numpy_integers_are_whole_numbers_in_every_setting_and_a_bool_is_not() -> None:
    """A notebook's settings come from numpy arrays (``np.int64``): DataConfig took them for its
    own fields only; a saved or dict config refused them ("must be an integer, got
    np.int64(3)"), cache sizes from ``list(np.array([256, 512]))`` failed the size check and a
    referral cut np.int64(2) was no ICDR grade. Integers are :class:`numbers.Integral`; bools stay refused."""
    from drac_ssl.config import DataConfig, from_dict, referable_from_rule, valid_cache_size

    cfg = from_dict({"data": {"n_folds": np.int64(3), "cache_sizes": [np.int64(256), np.int32(512)]},
                     "pretrain": {"epochs": np.int64(7)}})
    assert (cfg.data.n_folds, cfg.data.cache_sizes, cfg.pretrain.epochs) == (3, [256, 512], 7)
    assert {type(v) for v in (cfg.data.n_folds, *cfg.data.cache_sizes, cfg.pretrain.epochs)} == {int}
    sides = DataConfig(cache_sizes=list(np.array([256, 512]))).cache_sizes
    assert sides == [256, 512] and {type(v) for v in sides} == {int}
    assert valid_cache_size(np.int64(256)) and not valid_cache_size(True)
    assert referable_from_rule(np.int64(2)).valid and not referable_from_rule(True).valid
    with pytest.raises(ConfigError, match=r"'pretrain.epochs' must be an integer, got True"):
        from_dict({"pretrain": {"epochs": True}})
    with pytest.raises(ConfigError, match=r"'data.n_folds' must be an integer, got True"):
        DataConfig(n_folds=True)


def test_a_numpy_integer_given_for_a_list_gets_the_same_fix_as_its_int() -> None:
    """``cache_sizes: np.int64(256)`` (a notebook's value for a list) was told the default
    ([256,512]) while a plain 256 was told [256]: the one-value fix took Python numbers only
    (a review, F2). A bool is still no number: the default."""
    from drac_ssl.config import from_dict

    def fix(value: object) -> str:
        with pytest.raises(ConfigError) as err:
            from_dict({"data": {"cache_sizes": value}})
        return str(err.value).rsplit("fix: ", 1)[-1]

    assert fix(256) == "data.cache_sizes=[256] (a list, even of one value; the default is [256,512])"
    assert fix(np.int64(256)) == fix(np.int32(256)) == fix(256)
    assert fix(True) == "data.cache_sizes=[256,512] (the default)"


def test_ingest_run_refuses_a_dict_for_its_config(tmp_path: Path) -> None:
    from data_prep import ingest

    with pytest.raises(TypeError, match=r"needs a drac_ssl.config.DataConfig, got a builtins.dict: pass DataConfig\(\*\*settings\)"):
        ingest.run({"root": str(tmp_path)}, tmp_path / "out")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- F12 words of the scale


def test_recall_intervals_names_num_grades_not_probabilities() -> None:
    with pytest.raises(ValueError, match=r"y_true holds grade 2, outside the 2 grades 0..1 of num_grades=2") as said:
        metrics.recall_intervals([0, 2], [0, 1], 2)
    assert "probs" not in str(said.value)


def test_auc_undefined_reason_refuses_a_number_for_probs() -> None:
    with pytest.raises(ValueError, match=r"probs must have shape \(n, K\), got \(\): pass the probabilities"):
        metrics.auc_undefined_reason([0, 1, 2], 3)
    assert metrics.auc_undefined_reason([0, 1], P3[:2]) is not None


# ---------------------------------------------------------------- F13 the export's listing


def test_list_images_of_a_missing_folder_or_a_file_is_an_images_folder_error(tmp_path: Path) -> None:
    from drac_ssl import export
    from drac_ssl.submission import ImagesFolderError

    with pytest.raises(ImagesFolderError, match=r"nowhere: no such image folder\n  fix: give the folder"):
        export.list_images(tmp_path / "nowhere")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ImagesFolderError, match=rf"a.png: no such image folder \(a file\)\n  fix: give the folder of the images, e.g. {tmp_path}"):
        export.list_images(tmp_path / "a.png")
    assert export.list_images(tmp_path) == [tmp_path / "a.png"]


def test_list_images_errors_are_the_oserrors_they_were(tmp_path: Path) -> None:
    """``except OSError`` (FileNotFoundError, NotADirectoryError) caught them before the checks."""
    from drac_ssl import export

    with pytest.raises(FileNotFoundError):
        export.list_images(tmp_path / "nowhere")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        export.list_images(tmp_path / "a.png")
