"""bench.low_label's times name what they count (review F6): a linear probe's line said
``linear ... 0.0 s`` because embedding its labelled subset's features, most of its cost, was
not counted. The line now gives the training and the embedding apart, the record keeps both
(``seconds``, ``embed_seconds``), and the test features, embedded once before the label
counts, are timed and counted in the total."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def test_a_linear_probe_names_its_embedding_time_apart_from_its_training(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import low_label

    root = tmp_path / "mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        np.savez(root / f"mnist_{split}.npz", x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                 y=(np.arange(n) % 10).astype(np.uint8))
    weights = tmp_path / "given" / "backbone.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    monkeypatch.setattr(low_label, "load_local_weights", lambda *a, **k: None)  # a random backbone will do
    labels: list[str | None] = []
    embed = low_label.pretrain.embed_images

    def labelled(*args: object, **kwargs: object) -> object:
        labels.append(kwargs.get("progress"))  # type: ignore[arg-type]
        return embed(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(low_label.pretrain, "embed_images", labelled)
    out = tmp_path / "out"
    low_label.main(["--dataset", "mnist", "--data", str(root), "--backbone", str(weights), "--labels", "20",
                    "--seeds", "0", "--methods", "linear", "--val-fraction", "0.5", "--max-epochs", "1",
                    "--eval-limit", "10", "--out-dir", str(out), "run.device=cpu",
                    "pretrain.backbone.stem_stride=2"])
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("[bench] 20 labels, seed 0"))
    assert " s training + " in line and " s embedding)" in line, line
    assert "the linear probes' test features embedded in " in printed
    # review F5: the test images' embedding (424 s silent on a lecturer's CPU) shows its progress,
    # labelled as the k-NN monitor's is; the labelled subsets' few images need none
    assert labels[0] == "linear probe: 10 test images" and labels[1:] == [None, None], labels
    done = next(x for x in printed.splitlines() if x.startswith("[bench] done:"))
    assert ", test features " in done, done
    record = json.loads((out / "low_label_mnist_smoke.json").read_text(encoding="utf-8"))
    run = record["labels"]["20"]["linear"]["runs"][0]
    assert {"seconds", "embed_seconds"} <= set(run), run
    assert isinstance(record["test_embed_seconds"], float) and "embed_seconds" in record["seconds_note"]
