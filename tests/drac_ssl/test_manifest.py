"""The ingest's manifest.csv, read by one reader (drac_ssl.manifest) wherever it is read:
the fine-tuning's data (datasets.load_octa_cache), compare's patients, the bundle's data
counts (grading.bundle.data_provenance) and the export's test ids."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from data_prep import ingest
from drac_ssl import compare, datasets, export, manifest
from drac_ssl.finetune import labelled_rows, patient_groups
from drac_ssl.grading.bundle import data_provenance
from drac_ssl.manifest import REQUIRED_COLUMNS, ManifestError, read_manifest

ROWS = [  # id, grade, split, fold, patient
    ("a", "0", "train", "0", ""), ("b", "1", "train", "1", ""), ("c", "2", "train", "0", ""),
    ("d", "", "train", "-1", "p7"),  # not the ingest's (every training image has a grade and
    # a fold): a hand-edited manifest; it names the only patient
    ("t1", "", "test", "-1", ""), ("t2", "", "test", "-1", ""), ("u1", "", "unlabelled", "-1", ""),
]


def write_manifest(data: Path, drop: str = "") -> Path:
    data.mkdir(parents=True, exist_ok=True)
    columns = [c for c in ingest.WRITTEN_COLUMNS if c != drop]
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for i, (image, grade, split, fold, patient) in enumerate(ROWS):
            writer.writerow({"id": image, "path": f"{image}.png", "grade": grade, "split": split,
                             "fold": fold, "patient": patient, "sha256": "0" * 64, "orig_width": 8,
                             "orig_height": 8, "orig_mode": "L", "cache_index": i, "origin": split})
    (data / "ingest_summary.json").write_text(json.dumps({"root": str(data), "grades": ["a", "b", "c"]}))
    return data / "manifest.csv"


def test_the_ingest_writes_the_readers_columns_first_from_one_definition() -> None:
    """The reader's required columns are the first the ingest writes, and the ingest's list is
    the manifest module's (one definition: the two cannot drift apart)."""
    assert ingest.WRITTEN_COLUMNS is manifest.WRITTEN_COLUMNS
    written = manifest.WRITTEN_COLUMNS
    assert written[:len(REQUIRED_COLUMNS)] == REQUIRED_COLUMNS
    assert written[len(REQUIRED_COLUMNS):] == (manifest.ORIGIN_COLUMN, manifest.PIXELS_COLUMN)
    assert len(set(written)) == len(written)


def test_the_reader_takes_the_ingests_columns_and_types_them(tmp_path: Path) -> None:
    rows = read_manifest(write_manifest(tmp_path / "data"))
    assert [r["id"] for r in rows] == [r[0] for r in ROWS]
    assert rows[0]["grade"] == 0 and rows[3]["grade"] is None and rows[3]["fold"] == -1
    assert rows[2]["cache_index"] == 2 and rows[0]["orig_width"] == 8 and rows[0]["path"] == "a.png"


@pytest.mark.parametrize("column", ["fold", "split", "grade", "id"])
def test_a_missing_column_is_an_error_naming_the_file_at_every_reader(tmp_path: Path, column: str) -> None:
    manifest = write_manifest(tmp_path / "data", drop=column)
    with pytest.raises(ManifestError, match=rf"{manifest}: no column {column}\b.*ingest"):
        read_manifest(manifest)
    with pytest.raises(ManifestError, match=rf"{manifest}: no column {column}\b"):
        compare._read_patients(manifest)
    if column != "fold":  # the counts of the data do not read the folds
        with pytest.raises(ManifestError, match=rf"{manifest}: no column {column}\b"):
            data_provenance(manifest.parent)
    if column in ("id", "split"):
        with pytest.raises(export.BundleError, match=rf"{manifest}: no column {column}\b"):
            export.manifest_test_cases(manifest)
    (tmp_path / "data" / "cache").mkdir()
    np.save(tmp_path / "data" / "cache" / "8px.npy", np.zeros((len(ROWS), 8, 8), np.uint8))
    with pytest.raises(datasets.DatasetFormatError, match=rf"{manifest}: no column {column}\b"):
        datasets.load_octa_cache(tmp_path / "data", 8)


def test_the_readers_agree_on_the_rows(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "data")
    _, rows = datasets.load_octa_cache(_cache(tmp_path / "data"), 8)
    assert [r["id"] for r in labelled_rows(rows)] == ["a", "b", "c"]
    # compare resamples what the fine-tuning resampled: no labelled image names a patient, so
    # the images (the looser filter took the ungraded row's patient and said "patients")
    assert patient_groups(labelled_rows(rows)) is None
    assert compare._read_patients(manifest) is None
    provenance = data_provenance(manifest.parent, ["a", "b", "c"])
    assert (provenance["n_train"], provenance["n_test"], provenance["n_unlabelled"]) == (4, 2, 1)
    assert provenance["train_per_grade"] == {"a": 1, "b": 1, "c": 1}
    assert export.manifest_test_cases(tmp_path)[0] == ["t1", "t2"]


def _cache(data: Path) -> Path:
    (data / "cache").mkdir(exist_ok=True)
    np.save(data / "cache" / "8px.npy", np.zeros((len(ROWS), 8, 8), np.uint8))
    return data


def test_an_excel_bom_an_older_manifest_without_patients_and_broken_files_are_read_or_said(
        tmp_path: Path) -> None:
    """A review of the one reader: a BOM read as part of 'id' ('no column id'), an ingest from
    before the patient column crashed compare with a traceback (it had printed the comparison),
    an empty file and a short row were named by the wrong fault."""
    manifest = write_manifest(tmp_path / "data", drop="patient")  # an older ingest's
    assert compare._read_patients(manifest) is None
    assert data_provenance(manifest.parent, ["a", "b", "c"])["n_train"] == 4
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text("\ufeff" + text, encoding="utf-8")  # saved by Excel
    assert [r["id"] for r in read_manifest(manifest, ("id", "grade"))][:2] == ["a", "b"]
    manifest.write_text(text + "x,x.png,1\n", encoding="utf-8")  # a short last row
    with pytest.raises(ManifestError, match=rf"line {len(ROWS) + 2}: fewer fields than the header's"):
        read_manifest(manifest, ("id", "split", "fold"))
    assert len(read_manifest(manifest, ("id", "path"))) == len(ROWS) + 1  # what a caller reads only
    manifest.write_text("", encoding="utf-8")
    with pytest.raises(ManifestError, match="empty \\(no header line"):
        read_manifest(manifest)
    with pytest.raises(export.BundleError, match=r"\(not an ingest manifest\?\)\n  fix: run the python -m data_prep ingest command"):
        export.manifest_test_cases(manifest)


def _manifest(folder: Path, rows: list[tuple[str, str, str]]) -> None:
    """``folder/data/manifest.csv`` of ``(id, split, sha256)`` rows, paths ``img/<id>.png``."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "manifest.csv").write_text(
        "id,path,split,sha256\n" + "".join(f"{i},img/{i}.png,{split},{digest}\n" for i, split, digest in rows),
        encoding="utf-8")


def test_a_rerun_from_a_runs_config_yaml_names_the_files_that_differ_from_that_runs_data(tmp_path: Path) -> None:
    """A reproducibility review: ``-c RUN/config.yaml`` on data that had changed since gave
    other figures, and nothing compared the data with the manifest that run recorded."""
    from drac_ssl.config import Config, FixBase
    from drac_ssl.preflight import Sources
    from drac_ssl.train import data_against_config_run

    source, rerun = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    _manifest(source, [("1", "train", "aa"), ("2", "train", "bb"), ("3", "test", "cc")])
    (source / "config.yaml").write_text("run:\n  seed: 0\n", encoding="utf-8")
    (source / "stages.json").write_text("{}", encoding="utf-8")
    _manifest(rerun, [("1", "train", "aa"), ("2", "train", "b2"), ("4", "train", "dd"), ("3", "train", "cc")])
    sources = Sources()
    sources.fixes = FixBase(Config(), str(source / "config.yaml"))
    said = data_against_config_run(sources, rerun)
    assert said is not None and f"not the data of {source}, whose config.yaml -c read" in said, said
    # a review: 3 moved from test to train was said as new and gone under one path
    assert ("1 differ (img/2.png); 1 changed split (img/3.png moved from test to train); 1 new (img/4.png); "
            "this run cannot repeat its figures") in said, said
    _manifest(rerun.with_name("c"), [("1", "train", "aa"), ("2", "train", "bb"), ("3", "test", "cc")])
    assert data_against_config_run(sources, rerun.with_name("c")) is None  # the same files
    assert data_against_config_run(sources, source) is None  # its own folder: a resume
    assert data_against_config_run({}, rerun) is None  # no -c file


def test_a_warning_found_once_the_command_ran_is_kept_in_its_invocations_line(tmp_path: Path) -> None:
    """A review: the rerun's data-changed warning was said on the console only; it is added to
    the invocation's line of invocations.jsonl, which record_end still finds and ends."""
    import json

    from drac_ssl import runtime

    earlier = runtime.record_start(tmp_path, "drac_ssl.train", {"seed": 0})
    runtime.record_end(tmp_path, earlier, 0.0, exit_code=0)
    line = runtime.record_start(tmp_path, "drac_ssl.train", {"seed": 0})
    runtime.add_to_invocation(tmp_path, {"data_against_config_run": "the data are not the data of RUN"})
    runtime.record_end(tmp_path, line, 0.0, exit_code=0)
    first, second = (json.loads(x) for x in (tmp_path / runtime.INVOCATIONS).read_text().splitlines())
    assert "data_against_config_run" not in first and first["ended"]["outcome"] == "finished"
    assert second["data_against_config_run"] == "the data are not the data of RUN", second
    assert second["ended"]["outcome"] == "finished", second
