"""An outside tester (paths80, F2): ``python -m data_prep flatten --root /ro/tree`` with a
read-only parent (the default ``TREE_flat`` beside the tree), or ``--out`` in a read-only place,
ended in a raw OSError traceback from ``out.mkdir``. It is a refusal (exit 2) naming the folder,
the reason and the fix (``--out`` a writable folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.__main__ import main


def test_an_output_folder_that_cannot_be_made_is_refused_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "tree"
    for grade in range(2):
        (tree / str(grade)).mkdir(parents=True)
        pixels = np.random.default_rng(grade).integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tree / str(grade) / f"g{grade}.png")
    flat = tmp_path / "tree_flat"
    made = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self == flat:  # root ignores chmod: the read-only parent as the kernel says it
            raise PermissionError(13, "Permission denied", str(self))
        made(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    code = main(["flatten", "--root", str(tree)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: cannot make {flat} (Permission denied) -> pass --out a writable "
                          "folder (new or empty), e.g. --out ~/tree_flat"), err
    assert "Traceback" not in err and not flat.exists()
