"""docs/python.md's examples run as written, in order, in one namespace (a notebook), in a
folder holding what they name: ``runs/default`` (an untrained demo bundle in its place) and two
images ``a.png`` (a grey scan) and ``b.png`` (a colour photograph); and the page says the
things a library user trips on (a review of the package used from Python)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "python.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def _scan(side: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(side, side)), axis=0), axis=1)
    smooth -= smooth.min()
    return (255 * smooth / smooth.max()).astype(np.uint8)


def test_every_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    from app.demo_bundle import build_demo_bundle

    blocks = _python_blocks()
    assert len(blocks) == 6, "docs/python.md's examples were not all found"
    build_demo_bundle(tmp_path / "runs" / "default", image_size=32, source_size=48, n_folds=1)
    cv2.imwrite(str(tmp_path / "a.png"), _scan(96, 1))
    colour = np.stack([_scan(96, 2), _scan(96, 3), _scan(96, 4)], axis=-1)
    cv2.imwrite(str(tmp_path / "b.png"), colour)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            for block in blocks:
                exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 (the page's own code)
    finally:
        torch.set_num_threads(before)
    assert printed.getvalue().count("\n") >= 10
    # what the examples promise
    assert namespace["z_a"].grad is not None  # type: ignore[attr-defined]
    assert tuple(namespace["features"].shape) == (2, 512)  # type: ignore[attr-defined]
    # the own-loop example: three VICReg steps that trained the backbone through the expander
    history = namespace["history"]
    assert len(history) == 3 and all(np.isfinite(history)) and history[0] > 0, history  # type: ignore[arg-type]
    model = namespace["model"]
    assert model.backbone.conv1.weight.grad is not None  # type: ignore[attr-defined]
    assert tuple(namespace["loop_terms"].loss.shape) == ()  # type: ignore[attr-defined]
    graded = namespace["graded"]
    assert graded.probs.shape == (2, 3) and np.allclose(graded.probs.sum(axis=1), 1.0)  # type: ignore[attr-defined]
    # the colour photograph read by the grey UW-OCTA bundle is doubted as OCTA (kind=bundle.kind)
    doubts = namespace["doubts"]
    assert doubts[0] == [] and any("UW-OCTA is grey" in line for line in doubts[1]), doubts  # type: ignore[index]
    # the batch goes on past a missing file, and gives one verdict per graded image
    failed = namespace["failed"]
    assert list(failed) == ["gone.png"] and "no such image file" in failed["gone.png"], failed  # type: ignore[call-overload,index]
    assert graded.not_reliably_gradable == [[], ["a colour picture, not UW-OCTA"]]  # type: ignore[attr-defined]
    assert graded.training_image == [None, None]  # type: ignore[attr-defined]  # no hashes in the demo bundle
    record = namespace["record"]
    assert record["image_size"] == [96, 96] and set(record["bundle"]) == {  # type: ignore[index]
        "created_utc", "variant", "metadata_sha256"}


def test_the_page_says_what_a_library_user_trips_on() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "kind=bundle.kind" in text and "__all__" in text and "`app.py`" in text
    assert "terms.loss.backward()" in text
    # a hospital's offline nightly batch (review): the exceptions to catch, the threads, the
    # network, the install without internet, the memory, heatmaps off, the size order
    for said in ("except (ImageReadError, OSError)", "limit_threads(1)", "NO_ALBUMENTATIONS_UPDATE",
                 "--no-index --find-links", "CUDA build", "resident", "gradcam=False", "MPLCONFIGDIR",
                 "[width, height]", "libpng error", "not_reliably_gradable", "training_image"):
        assert said in text, said
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/python.md" in readme
    import drac_ssl

    assert "docs/python.md" in (drac_ssl.__doc__ or "")
