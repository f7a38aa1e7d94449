"""``data.graham=true`` on images already Graham-filtered (a trial: APTOS's Kaggle copies,
filtered a second time without a word): the ingest warns, and so does grading a bundle whose
ingest had the filter (it replays :func:`data_prep.cache.cache_rows`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_ingest import config, write_csv

from data_prep import ingest
from data_prep.cache import GRAHAM_TWICE_WORDS, CacheOptions, cache_rows
from data_prep.fundus import graham, looks_graham_filtered


def photograph(seed: int, side: int = 96) -> np.ndarray:
    """A fundus-like RGB photograph: an orange disc lit unevenly on a black surround, small
    dark spots."""
    rng = np.random.default_rng(seed)
    image = np.zeros((side, side, 3), np.float32)
    yy, xx = np.mgrid[:side, :side]
    disc = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 < (0.45 * side) ** 2
    light = 0.6 + 0.4 * xx / side  # brighter to the right
    for c, level in enumerate((200, 110, 50)):
        image[..., c] = np.where(disc, level * light, 0)
    for _ in range(12):
        x, y = rng.integers(side // 4, 3 * side // 4, 2)
        cv2.circle(image, (int(x), int(y)), 2, (60, 30, 10), -1)
    return np.clip(image + rng.normal(0, 3, image.shape) * disc[..., None], 0, 255).astype(np.uint8)


def test_a_photograph_does_not_look_filtered_and_its_filtered_copy_does() -> None:
    for seed in range(5):
        photo = photograph(seed)
        assert not looks_graham_filtered(photo) and not looks_graham_filtered(photo[..., 1])
        assert looks_graham_filtered(graham(photo)) and looks_graham_filtered(graham(photo[..., 1]))
    assert not looks_graham_filtered(np.zeros((40, 40), np.uint8))  # black: not mid-grey
    assert not looks_graham_filtered(np.full((40, 40, 3), (200, 128, 60), np.uint8))  # grey-looking, not its colour


def test_filtering_a_filtered_copy_again_is_warned_at_the_ingest_and_when_replayed(tmp_path: Path) -> None:
    root = tmp_path / "copies"
    root.mkdir()
    names = {f"{i:02d}.png": i % 2 for i in range(6)}
    for i, name in enumerate(names):
        cv2.imwrite(str(root / name), cv2.cvtColor(graham(photograph(i)), cv2.COLOR_RGB2BGR))
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[n, g] for n, g in names.items()])
    grades = ["Normal", "DR"]
    done = ingest.run(config(root, graham=True, channels="auto", grades=grades), tmp_path / "twice", verbose=False)
    said = [p for p in done.findings if p.kind == "graham-twice"]
    assert len(said) == 6 and said[0].severity == "warning" and "without --graham" in said[0].fix
    plain = ingest.run(config(root, channels="auto", grades=grades), tmp_path / "once", verbose=False)
    assert not [p for p in plain.findings if p.kind == "graham-twice"]  # no filter asked: nothing to say
    # grading replays the ingest's preprocessing: the same words for such an image
    _, found = cache_rows(graham(photograph(9)), [32], CacheOptions(target="native", graham=True), "x.png")
    assert [p.what for p in found] == [GRAHAM_TWICE_WORDS]
    _, found = cache_rows(photograph(9), [32], CacheOptions(target="native", graham=True), "x.png")
    assert found == []
