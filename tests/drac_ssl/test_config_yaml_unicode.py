"""config.yaml wrote a non-ASCII path escaped (``root: "/data/my d\\xEFr"``, a CLI review): a
user could neither read it nor search for it. It is written as UTF-8 with the characters as
they are, and reads back equal; a character the reader would refuse or misread stays escaped.
And a setting given no value is said "is empty", not "got None"."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from drac_ssl.config import load_config, save_config


@pytest.mark.parametrize(("root", "written"), [
    ("/data/my dïr ünï/bílder x", "  root: /data/my dïr ünï/bílder x\n"),
    ("/data/眼底 照片", "  root: /data/眼底 照片\n"),
    ("/data/run1\u00a0", None),  # a look-alike space at a value's end: escaped, never refused on reading
    ("/data/a\u2028b", None),  # a line break only YAML sees: escaped
])
def test_a_non_ascii_root_is_written_as_it_is_and_read_back_equal(tmp_path: Path, root: str,
                                                                 written: str | None) -> None:
    cfg = load_config(None, ["run.name=rüb"])
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=root))
    path = save_config(cfg, tmp_path / "config.yaml")
    text = path.read_bytes().decode("utf-8")  # UTF-8, no byte-order mark
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    if written is not None:
        assert written in text and "  name: rüb\n" in text and "\\x" not in text, text
    else:  # the whole file escaped, as before
        assert root not in text and text.isascii()
    again = load_config(path)
    assert again.data.root == root and again == cfg


def test_an_empty_value_is_said_empty_not_none(tmp_path: Path) -> None:
    """A CLI review: ``epochs:`` with nothing after the colon was "must be an integer, got None"."""
    from drac_ssl.preflight import read_config

    path = tmp_path / "my.yaml"
    path.write_text("data:\n  n_folds:\n  strict: ~\n  cache_sizes: null\n")
    _, _, findings = read_config(path, ["pretrain.epochs="])
    said = "\n".join(f.line for f in findings)
    assert "got None" not in said and "got ''" not in said, said
    for line, key, kind in ((2, "data.n_folds", "an integer"), (3, "data.strict", "true or false"),
                            (4, "data.cache_sizes", "a list")):
        assert (f"{path}:{line}: '{key}' is empty (nothing after its colon, or ~ or null, which YAML reads "
                f"as none): it must be {kind}.") in said, said
    assert "'pretrain.epochs' is empty (nothing after the '='): it must be an integer." in said, said
