"""Image and patient names a spreadsheet would read as formulas (security review F2): the
manifest and oof.csv write them guarded (a ``'`` first), and every reader gets them back."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_ingest import config, smooth_image, write_csv, write_png

from data_prep import ingest
from data_prep.source_check import grade_differences
from drac_ssl.io import FORMULA_CELL_STARTS, declares_guarded_cells, guarded_cell, unguarded_cell
from drac_ssl.manifest import read_manifest

NAMES = {"=HYPERLINK(1).png": "=1+1", "+cmd.png": "P2", "@SUM(A1).png": "P3", "-x.png": "-P4",
         "'quote.png": "P5", "a.png": "P6", "b.png": "P7", "c.png": "P8"}
"""image -> patient: formula starts, a name starting with ' (the guard's own mark), plain names."""


@pytest.mark.parametrize("text", ["=A1", "+1", "-1", "@x", "\tx", "\rx", "'a", "''=b", "a'b", "", "plain"])
def test_a_guarded_cell_runs_no_formula_and_gives_its_text_back(text: str) -> None:
    cell = guarded_cell(text)
    assert cell[:1] not in FORMULA_CELL_STARTS
    assert unguarded_cell(cell, guarded=True) == text


def _ingested(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i, name in enumerate(NAMES):
        write_png(root / name, smooth_image(i, side=96))
    write_csv(root / "labels.csv", ["image name", "DR grade", "patient"],
              [[name, i % 2, patient] for i, (name, patient) in enumerate(NAMES.items())])
    out = tmp_path / "data"
    ingest.run(config(root, patient_column="patient", grades=["none", "some"]), out, verbose=False)
    return out


def test_the_manifest_guards_formula_names_and_its_readers_get_them_back(tmp_path: Path) -> None:
    out = _ingested(tmp_path)
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    for row in raw:
        for column in ("id", "path", "patient"):
            assert row[column][:1] not in FORMULA_CELL_STARTS, row
    assert {row["path"] for row in raw} >= {"'=HYPERLINK(1).png", "''quote.png"}
    rows = read_manifest(out / "manifest.csv", ("id", "path", "grade", "split", "fold"))
    assert {row["path"]: row["patient"] for row in rows} == NAMES
    # the label CSV rewritten with the same grades: no grade differs (the manifest's paths
    # read back as the files' own names, not as '=HYPERLINK(1).png)
    labels = tmp_path / "images" / "labels.csv"
    labels.write_text(labels.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert grade_differences(out) == []


@pytest.mark.slow  # about 5 CPU seconds: a real ingest, pretraining and fine-tuning of 8 images
def test_oof_csv_guards_formula_names_and_its_readers_get_them_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also review 2 F3: a re-fine-tune killed between oof.csv and metrics.json left the older
    metrics.json (without formula_cells_guarded) beside the new, guarded oof.csv, whose ids were
    then read with their '; the old record now goes before oof.csv is written."""
    import json

    from fake_ingest import TINY_FINETUNE

    from drac_ssl import finetune, pretrain
    from drac_ssl.config import load_config
    from drac_ssl.oof import PATIENT_COLUMN, OofError, read_oof, read_oof_column

    _ingested(tmp_path)
    settings = {**TINY_FINETUNE, "data.cache_sizes": "[64]", "pretrain.augment.source_size": "64",
                "data.n_folds": "2", "finetune.epochs": "1", "finetune.n_boot": "10"}
    cfg = load_config(None, [f"{k}={v}" for k, v in settings.items()])
    pretrain.run(cfg, tmp_path)
    oof = tmp_path / "finetune" / "vicreg" / "oof.csv"
    oof.parent.mkdir(parents=True)
    (oof.parent / "metrics.json").write_text(json.dumps({"qwk": 0.5}), encoding="utf-8")  # an older run's
    real = finetune.atomic_write_json

    def killed(path: Path, obj: object) -> Path:
        if Path(path) == oof.parent / "metrics.json":
            raise KeyboardInterrupt("killed between oof.csv and metrics.json")
        return real(path, obj)

    monkeypatch.setattr(finetune, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        finetune.run(cfg, tmp_path)
    assert oof.is_file() and not (oof.parent / "metrics.json").exists()  # no older record beside it
    with pytest.raises(OofError, match="is missing") as caught:  # read killed: refused (review 3 F2)
        read_oof(oof)
    assert "fix: rerun the same command" in str(caught.value)
    monkeypatch.setattr(finetune, "atomic_write_json", real)
    finetune.run(cfg, tmp_path)
    with open(oof, newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    assert all(row[c][:1] not in FORMULA_CELL_STARTS for row in raw for c in ("id", PATIENT_COLUMN))
    read = read_oof(oof)
    assert sorted(read.ids) == sorted(NAMES)
    assert dict(zip(read.ids, read_oof_column(oof, PATIENT_COLUMN) or [], strict=True)) == NAMES


OLD_NAMES = {"=a.png": "=1+1", "'c.png": "'P2", "b.png": "P3"}
"""image -> patient as a file written before the guard holds them: unguarded, a first ' included."""


def _write_unguarded_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """A CSV as the code before the guard wrote it: the names as they are, no ' added."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def test_a_manifest_and_oof_written_before_the_guard_read_exactly_as_written(tmp_path: Path) -> None:
    """Review F2: a manifest.csv or oof.csv without the record's formula_cells_guarded (a run
    made before the guard) holds the names themselves: 'c.png is that name, not c.png."""
    import json

    from drac_ssl.oof import PATIENT_COLUMN, oof_record_fields, read_oof, read_oof_column

    data = tmp_path / "data"
    _write_unguarded_csv(data / "manifest.csv", ["id", "path", "grade", "split", "fold", "patient"],
                         [[n, n, 0, "train", 0, p] for n, p in OLD_NAMES.items()])
    (data / "ingest_summary.json").write_text(json.dumps({"manifest": "manifest.csv"}), encoding="utf-8")
    rows = read_manifest(data / "manifest.csv", ("id", "path", "grade", "split", "fold"))
    assert {r["id"]: r["patient"] for r in rows} == OLD_NAMES
    variant = tmp_path / "finetune" / "vicreg"
    _write_unguarded_csv(variant / "oof.csv", ["id", "grade", "fold", "P0", "P1", "pred", PATIENT_COLUMN],
                         [[n, 0, 0, "0.6", "0.4", 0, p] for n, p in OLD_NAMES.items()])
    (variant / "metrics.json").write_text(json.dumps({"qwk": 0.5}), encoding="utf-8")
    assert read_oof(variant / "oof.csv").ids == tuple(OLD_NAMES)
    assert read_oof_column(variant / "oof.csv", PATIENT_COLUMN) == list(OLD_NAMES.values())
    # the same names guarded, with the record saying so: the same names back
    _write_unguarded_csv(variant / "oof.csv", ["id", "grade", "fold", "P0", "P1", "pred", PATIENT_COLUMN],
                         [[guarded_cell(n), 0, 0, "0.6", "0.4", 0, guarded_cell(p)] for n, p in OLD_NAMES.items()])
    (variant / "metrics.json").write_text(json.dumps(oof_record_fields(variant / "oof.csv")), encoding="utf-8")
    assert read_oof(variant / "oof.csv").ids == tuple(OLD_NAMES)
    assert read_oof_column(variant / "oof.csv", PATIENT_COLUMN) == list(OLD_NAMES.values())


def test_run_reuse_of_a_run_before_the_guard_keeps_its_pretraining_and_umm(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F1: run.reuse of a run whose manifest was written before the guard (=HYPERLINK(1).png
    as it is, no formula_cells_guarded in its ingest_summary.json), refolded by this version
    (the same images, '=HYPERLINK(1).png guarded): the same images, so the taken pretraining and
    UMM stand; they were thrown away (manifest differs in more than its fold columns)."""
    import json
    import shutil

    from drac_ssl import train
    from drac_ssl.io import GUARDED_CELLS_FIELD, sha256_file

    new = _ingested(tmp_path / "new")
    old = tmp_path / "old-run" / "data"
    shutil.copytree(new, old)
    with open(new / "manifest.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    # as the code before the guard wrote it: the names as they are, other folds, no marker
    folds = table[0].index("fold")
    _write_unguarded_csv(old / "manifest.csv", table[0],
                         [[unguarded_cell(c, guarded=True) if i != folds else str((int(c) + 1) % 2) if c else c
                           for i, c in enumerate(row)] for row in table[1:]])
    assert "=HYPERLINK(1).png" in (old / "manifest.csv").read_text(encoding="utf-8")
    summary = json.loads((old / "ingest_summary.json").read_text(encoding="utf-8"))
    assert summary.pop(GUARDED_CELLS_FIELD) is True
    summary["manifest_sha256"] = sha256_file(old / "manifest.csv")  # that ingest's record of it
    (old / "ingest_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    size = int(next((new / "cache").glob("*px.npy")).name.removesuffix("px.npy"))
    assert train.refolded_image_difference(new, old, size) == ""
    assert train.refolded_image_difference(old, new, size) == ""
    run = new.parent
    cfg = train.load_config(train.DEFAULT_CONFIG, [f"pretrain.augment.source_size={size}"])
    other = {"ingest_of": str(old.parent), "settings": ["data.fold_seed: 0 -> 1"], "fold_figures": [],
             "images": "not checked yet (after the ingest)"}
    status = {"ingest": {"status": "done"},
              **{s: {"status": "done", "reused_from": "x", "other_folds": dict(other)} for s in ("pretrain", "umm")}}
    for stage in ("pretrain", "umm"):
        (run / stage).mkdir()
    train.check_refolded(cfg, run, status)
    assert list(status) == ["ingest", "pretrain", "umm"], status
    assert status["pretrain"]["other_folds"]["images"].startswith("the same")
    assert (run / "pretrain").is_dir() and "they stand as taken" in capsys.readouterr().out


def test_an_oof_record_of_another_file_is_refused_not_misread(tmp_path: Path) -> None:
    """Review 2 F3: a record's formula_cells_guarded is taken for the file it describes only (its
    oof_sha256): a guarded oof.csv beside the record of another (a run killed between writing
    them) is refused with the fix, not read with '=a.png for =a.png; a record with the field but
    no digest is not trusted (the file read as written)."""
    import json

    from drac_ssl.io import GUARDED_CELLS_FIELD
    from drac_ssl.oof import OofError, oof_csv_text, oof_record_fields, read_oof

    oof = tmp_path / "finetune" / "vicreg" / "oof.csv"
    oof.parent.mkdir(parents=True)
    header = ["id", "grade", "fold", "P0", "P1", "pred"]
    oof.write_text(oof_csv_text(header, [[n, 0, 0, "0.6", "0.4", 0] for n in OLD_NAMES]), encoding="utf-8")
    record = oof.parent / "metrics.json"
    record.write_text(json.dumps(oof_record_fields(oof)), encoding="utf-8")
    assert read_oof(oof).ids == tuple(OLD_NAMES)
    oof.write_text(oof_csv_text(header, [[n, 1, 0, "0.4", "0.6", 1] for n in OLD_NAMES]), encoding="utf-8")
    with pytest.raises(OofError, match="interrupted between writing them") as caught:
        read_oof(oof)
    assert "fix: rerun the same command" in str(caught.value)
    record.write_text(json.dumps({GUARDED_CELLS_FIELD: True}), encoding="utf-8")  # no digest
    assert read_oof(oof).ids[0] == guarded_cell("=a.png")


def test_a_refold_killed_before_its_summary_leaves_no_older_summary_beside_the_new_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 2 F4: an ingest rerun over an unchanged cache (other folds) rewrote the manifest
    but removed the old ingest_summary.json only when the cache changed: killed before the new
    summary, an older one (without formula_cells_guarded) stood beside the guarded manifest,
    whose '=HYPERLINK(1).png was then read as a name. The old summary now goes first; and a
    summary that records another manifest's SHA-256 is refused by read_manifest."""
    import json

    from drac_ssl.io import GUARDED_CELLS_FIELD
    from drac_ssl.manifest import ManifestError

    out = _ingested(tmp_path)
    summary = out / "ingest_summary.json"
    old = json.loads(summary.read_text(encoding="utf-8"))
    del old[GUARDED_CELLS_FIELD]  # as an ingest before the guard wrote it
    summary.write_text(json.dumps(old), encoding="utf-8")
    real = ingest.atomic_write_json

    def killed(path: Path, obj: object) -> Path:
        if Path(path).name == summary.name:
            raise KeyboardInterrupt("killed before the summary")
        return real(path, obj)

    monkeypatch.setattr(ingest, "atomic_write_json", killed)
    cfg = config(tmp_path / "images", patient_column="patient", grades=["none", "some"], fold_seed=7)
    with pytest.raises(KeyboardInterrupt):
        ingest.run(cfg, out, verbose=False)
    assert (out / "manifest.csv").is_file() and not summary.exists()
    # read in the killed state: the guarded manifest without its summary is refused, not read
    # with its guard's ' in the names (review 3 F1)
    with pytest.raises(ManifestError, match="is missing") as caught:
        read_manifest(out / "manifest.csv", ("id", "path", "grade", "split", "fold"))
    assert "fix: run the python -m data_prep ingest command" in str(caught.value)
    # the reader's side: a summary of another manifest is refused, with the fix
    summary.write_text(json.dumps({**old, "manifest_sha256": "0" * 64}), encoding="utf-8")
    with pytest.raises(ManifestError, match="interrupted between writing them") as caught:
        read_manifest(out / "manifest.csv", ("id", "path", "grade", "split", "fold"))
    assert "fix: run the python -m data_prep ingest command" in str(caught.value)


def test_an_ingest_whose_manifest_write_fails_leaves_a_manifest_that_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 3 F1: the old summary goes before the manifest is rewritten, so a disk full while
    writing the manifest left the last guarded manifest without its summary, which the readers
    took for a manifest written before the guard ("'=HYPERLINK(1).png" read as a name)."""
    import errno

    from drac_ssl.manifest import ManifestError

    out = _ingested(tmp_path)
    real = ingest.atomic_write_text

    def disk_full(path: Path, text: str, encoding: str = "utf-8") -> Path:
        if Path(path).name == "manifest.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text, encoding)

    monkeypatch.setattr(ingest, "atomic_write_text", disk_full)
    cfg = config(tmp_path / "images", patient_column="patient", grades=["none", "some"], fold_seed=7)
    with pytest.raises(ingest.IngestError, match="No space left"):
        ingest.run(cfg, out, verbose=False)
    assert not (out / "ingest_summary.json").exists()
    with pytest.raises(ManifestError, match="is missing"):
        read_manifest(out / "manifest.csv", ("id", "path", "grade", "split", "fold"))



def test_a_manifest_edited_after_its_ingest_is_a_change_not_a_crash(tmp_path: Path) -> None:
    """Review 3 F4: source_changes read the manifest through manifest_cells_guarded, whose
    ManifestError (a summary recording another manifest's SHA-256) it did not catch, so a
    manifest hand-edited after a run crashed report.py and the training's last lines."""
    from data_prep.source_check import data_changed_words

    out = _ingested(tmp_path)
    manifest = out / "manifest.csv"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    words = data_changed_words(out)
    assert words.startswith("the data changed since this run ingested it: ")
    assert f"the manifest {manifest} is not the one its ingest_summary.json describes" in words


@pytest.mark.parametrize("text", ["=A1", "+1", "-1", "@x", "\tx", "\rx"])
def test_every_formula_start_of_owasp_s_list_is_guarded(text: str) -> None:
    """Mutation audit M21: a start dropped from :data:`FORMULA_CELL_STARTS` (the carriage
    return) still passed the round trip above, which checks the guarded cell against the same
    shortened list. Catches that: each of OWASP's starts gets the guard's ``'``."""
    assert guarded_cell(text) == "'" + text


def test_a_record_of_another_file_beside_a_csv_without_a_quote_is_read_as_is(tmp_path: Path) -> None:
    """Mutation audit M22: a CSV without a cell starting with ``'`` reads alike guarded or not,
    so a record whose digest is another file's leaves it to its reader (False), not refused."""
    csv_path = tmp_path / "oof.csv"
    csv_path.write_text("image,grade\na.png,1\n=b.png,0\n", encoding="utf-8")
    record = tmp_path / "metrics.json"
    record.write_text('{"formula_cells_guarded": true, "oof_sha256": "' + "0" * 64 + '"}', encoding="utf-8")
    assert declares_guarded_cells(record, csv_path, "oof_sha256", "rerun") is False


def test_a_quote_inside_a_quoted_cell_starts_no_cell(tmp_path: Path) -> None:
    """A read of the merged change: the missing-record check found ``,'`` anywhere in the text,
    so a site ``North,'East`` (one quoted cell) had a CSV without its record refused as an
    interrupted write. The cells are split by the CSV reader now; a real ``'`` cell is still refused."""
    csv_path = tmp_path / "oof.csv"
    record = tmp_path / "metrics.json"  # missing
    csv_path.write_text("id,site,grade\na.png,\"North,'East\",1\n", encoding="utf-8")
    assert declares_guarded_cells(record, csv_path, "oof_sha256", "rerun") is False
    csv_path.write_text("id,site,grade\n'=a.png,North,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="record .* is missing"):
        declares_guarded_cells(record, csv_path, "oof_sha256", "rerun")
