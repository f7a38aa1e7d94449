"""drac_ssl.io.read_json / read_json_dict: the one reader of optional JSON records that the run
state, report.md, the preflight and the app's bundle survey share (each had its own copy)."""

from __future__ import annotations

from pathlib import Path

from drac_ssl.io import read_json, read_json_dict


def test_what_each_reader_gives_for_every_kind_of_record(tmp_path: Path) -> None:
    cases = {"object.json": ('{"a": 1}', {"a": 1}, {"a": 1}),
             "list.json": ("[1, 2]", [1, 2], None),
             "null.json": ("null", None, None),
             "number.json": ("5", 5, None),
             "cut.json": ('{"a": ', None, None),  # cut short by a crash
             "empty.json": ("", None, None)}
    for name, (text, value, obj) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert read_json(tmp_path / name) == value, name
        assert read_json_dict(tmp_path / name) == obj, name
    (tmp_path / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')  # not UTF-8
    (tmp_path / "folder.json").mkdir()  # unreadable as a file
    for name in ("latin1.json", "folder.json", "missing.json"):
        assert read_json(tmp_path / name) is None and read_json_dict(tmp_path / name) is None, name
    assert read_json(str(tmp_path / "list.json")) == [1, 2]  # a str path too


def test_an_ingest_summary_holding_no_object_reads_as_unreadable(tmp_path: Path) -> None:
    """The review found data_provenance (the bundle's data record) and the export's
    _test_images_dir raising AttributeError on an ingest_summary.json holding a list: each
    now reads it as it reads a missing or damaged one (read_json_dict)."""
    from drac_ssl.export import _test_images_dir
    from drac_ssl.grading.bundle import data_provenance

    (tmp_path / "ingest_summary.json").write_text("[1]", encoding="utf-8")
    rows = [{"id": "a", "path": "test/a.png", "split": "test"}]
    assert _test_images_dir(tmp_path, rows) is None
    assert data_provenance(tmp_path) == {
        "kind": "unknown", "note": f"no readable ingest summary at {tmp_path / 'ingest_summary.json'}"}
    (tmp_path / "ingest_summary.json").write_text('{"test_dir": "/x/test"}', encoding="utf-8")
    assert _test_images_dir(tmp_path, rows) == Path("/x/test")  # an object is still read
