"""Tests that catch the mutants session 74's late mutation audit of its own new code found
surviving (each checked by hand against its mutant): the pretraining's own leaving-out of pool
copies of test images (an older ingest's pool), and the app's record of each batch's provenance
file."""

from __future__ import annotations

from pathlib import Path

from app.server import BatchSidecars
from drac_ssl.pretrain import _without_test_images


def test_the_pretraining_leaves_out_pool_copies_of_test_images_by_bytes_or_pixels() -> None:
    """M6 (copies = set()): an older ingest kept pool images with a test image's pixels; with
    pretrain.use_test_images=false they must not be pretrained on (a silent test leak)."""
    test = {"id": "t1", "split": "test", "sha256": "a" * 64, "pixels_sha256": "p" * 64}
    same_pixels = {"id": "u1", "split": "unlabelled", "sha256": "b" * 64, "pixels_sha256": "p" * 64}
    same_bytes = {"id": "u2", "split": "unlabelled", "sha256": "a" * 64, "pixels_sha256": ""}
    other = {"id": "u3", "split": "unlabelled", "sha256": "c" * 64, "pixels_sha256": "q" * 64}
    train = {"id": "r1", "split": "train", "sha256": "d" * 64, "pixels_sha256": "p" * 64}
    kept, n_copies = _without_test_images([test, same_pixels, same_bytes, other, train])
    assert [r["id"] for r in kept] == ["u3", "r1"]
    assert n_copies == 2


def test_a_batch_record_whose_file_is_gone_is_not_offered_and_is_forgotten(tmp_path: Path) -> None:
    """M24 (of() without is_file) and M23 (remember() without pruning): after the sweep removed
    a batch's folder its record is not offered, and the next batch forgets it."""
    sidecars = BatchSidecars()
    records = []
    for n in range(3):
        csv = tmp_path / f"b{n}.csv"
        csv.write_text(f"case,class\n{n}.png,0\n")
        record = tmp_path / f"b{n}_provenance.json"
        record.write_text("{}")
        records.append((csv, record))
    sidecars.remember(records[0][0], records[0][1])
    sidecars.remember(records[1][0], records[1][1])
    assert sidecars.of(records[0][0]) == str(records[0][1])
    records[0][1].unlink()
    assert sidecars.of(records[0][0]) is None
    sidecars.remember(records[2][0], records[2][1])
    assert len(sidecars._by_sha256) == 2
    assert sidecars.of(records[1][0]) == str(records[1][1])
