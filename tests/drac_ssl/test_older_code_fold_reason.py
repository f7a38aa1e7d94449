"""An upgrade review (F4): folds of a run made by d7353f82, offered by run.reuse to a run of
the same settings, were retrained "(their settings or inputs differ from this run's: the
signature)" although nothing was changed: that code's folds (no ``train_views``) carry a
signature of its own too, so the older-code reason is checked before the signature."""

from __future__ import annotations

import pytest

from drac_ssl import finetune


def test_a_fold_of_older_code_is_named_so_before_its_signature_is_compared(capsys: pytest.CaptureFixture[str]) -> None:
    old = {"fold": 0, "signature": "a945e5e4", "val_raw": [[0.1]], "weights": "fold0.safetensors"}
    assert finetune._older_code_fold(old, accepted={"today"})
    assert not finetune._older_code_fold(old, accepted={"a945e5e4"})  # accepted: the reuse checks decide
    assert not finetune._older_code_fold({**old, "train_views": finetune.TRAIN_VIEWS}, accepted={"today"})
    assert not finetune._older_code_fold(None, accepted={"today"})
    offered = {"fold0.json": {"run": "/runs/old"}, "fold1.json": {"run": "/runs/old"}}
    finetune._say_reuse("vicreg", 2, offered, {}, [], old_views=[0, 1])
    said = capsys.readouterr().out
    assert f"2 retrained here: {finetune.OLD_VIEWS_WORDS}" in said and "signature" not in said


def test_settings_changed_on_folds_of_older_code_are_named_beside_that_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The older-code reason was said alone, so a setting the user really changed was not
    named (a review of oldrun_fx, F3): the differences are named beside it."""
    offered = {"fold0.json": {"run": "/runs/old"}, "fold1.json": {"run": "/runs/old"}}
    finetune._say_reuse("vicreg", 2, offered, {}, [], differ=["finetune.head: 'linear' -> 'mlp'"],
                        old_views=[0, 1])
    said = capsys.readouterr().out
    assert (f"2 retrained here: {finetune.OLD_VIEWS_WORDS}; their settings differ from this run's too: "
            "finetune.head: 'linear' -> 'mlp'") in said and "signature" not in said
