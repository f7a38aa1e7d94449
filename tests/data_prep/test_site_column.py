"""``data.site_column`` (``--site-column``) at the ingest: a multi-site review pooled 30 APTOS
and RetinaMNIST images in one plain folder + CSV with a ``site`` column, which the ingest
dropped; the folds were stratified by grade alone (site A got 5/4/9/6/6 of its 30 images over
5 folds). Now the column reaches the manifest and the folds are stratified on grade x site;
a run without it is byte for byte as before."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_ingest import config, smooth_image, write_csv, write_png

from data_prep import ingest, validate
from data_prep.folds import assign_folds, site_strata


def _grades(seed: int = 0) -> tuple[list[int], list[str]]:
    """30 images of site A and 120 of site B, grades drawn alike (half grade 0)."""
    rng = np.random.default_rng(seed)
    p = [0.5, 0.1, 0.2, 0.1, 0.1]
    grades = np.concatenate([rng.choice(5, 30, p=p), rng.choice(5, 120, p=p)]).tolist()
    return grades, ["A"] * 30 + ["B"] * 120


def test_folds_stratified_on_grade_and_site_spread_each_site_evenly() -> None:
    for seed in range(4):
        grades, sites = _grades(seed)
        folds, notes = assign_folds(grades, 5, seed, sites=sites)
        per_fold = np.bincount(folds[:30], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1, (seed, per_fold)  # 6/6/6/6/6, not 5/4/9/6/6
        # each grade of site A with at least 5 images spread over the folds too
        for g in range(5):
            at = [i for i in range(30) if grades[i] == g]
            if len(at) >= 5:
                counts = np.bincount(folds[at], minlength=5)
                assert counts.max() - counts.min() <= 1, (seed, g, counts)
        # the small grade x site strata are pooled by grade, and said
        (note,) = [n for n in notes if "grade x site" in n.what]
        assert "stratified by grade alone" in note.what and "grade 1 at A" in note.what
    # grade-only folds are what they were without sites (a run without a site column)
    grades, _ = _grades(0)
    before, _ = assign_folds(grades, 5, 0)
    assert np.bincount(before[:30], minlength=5).tolist() != [6] * 5  # the imbalance the review saw


def test_site_strata_with_patients_count_patients_and_keep_them_whole() -> None:
    grades = [0] * 20 + [1] * 20
    sites = (["A"] * 10 + ["B"] * 10) * 2
    patients = [f"p{i // 2}" for i in range(40)]  # two images each: 5 patients per grade x site
    strata, pooled = site_strata(grades, sites, 5, patients)
    assert pooled == [] and len(set(strata.tolist())) == 4
    strata, pooled = site_strata(grades, sites, 6, patients)  # 5 patients < 6 folds: all pooled
    assert len(set(strata.tolist())) == 2 and pooled == ["grade 0 at A: 5", "grade 0 at B: 5",
                                                         "grade 1 at A: 5", "grade 1 at B: 5"]
    folds, _ = assign_folds(grades, 5, 0, patients, sites=sites)
    for p in set(patients):
        assert len({int(folds[i]) for i in range(40) if patients[i] == p}) == 1
    assert all(np.bincount(folds[[i for i in range(40) if sites[i] == s]], minlength=5).tolist() == [4] * 5
               for s in "AB")
    with pytest.raises(ValueError, match="30 grades but 2 sites"):
        site_strata([0] * 30, ["A", "B"], 5)


def _pooled(root: Path, n: int = 12, sites: tuple[str, ...] = ("A", "B")) -> Path:
    """A plain folder of ``n`` images named per site (``A_00.png``), a CSV with a site column."""
    rows = []
    for i in range(n):
        site = sites[i % len(sites)]
        name = f"{site}_{i:02d}.png"
        write_png(root / name, smooth_image(i, side=256))
        rows.append([name, (i // len(sites)) % 3, site])
    write_csv(root / "labels.csv", ["image name", "DR grade", "site"], rows)
    return root


def _manifest(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_the_site_column_reaches_the_manifest_and_a_run_without_it_is_unchanged(tmp_path: Path) -> None:
    data = _pooled(tmp_path / "pooled")
    plain = ingest.run(config(data), tmp_path / "plain", verbose=False)
    header, _ = _manifest(plain.manifest_path)
    assert "site" not in header  # without --site-column: the manifest as before
    result = ingest.run(config(data, site_column="Site"), tmp_path / "sites", verbose=False)
    header, rows = _manifest(result.manifest_path)
    assert header[-1] == "site" and tuple(header[:-1]) == ingest.MANIFEST_COLUMNS
    assert all(r["site"] == r["id"][0] for r in rows)
    # the columns before it are those written without it, but the folds (stratified on grade x site)
    _, before = _manifest(plain.manifest_path)
    assert [{k: v for k, v in r.items() if k not in ("site", "fold")} for r in rows] == \
        [{k: v for k, v in r.items() if k != "fold"} for r in before]
    train = [r for r in rows if r["split"] == "train"]
    assert all(sorted(r["fold"] for r in train if r["site"] == s) == ["0", "0", "0", "1", "1", "1"] for s in "AB")
    # the command line's --site-column is data.site_column
    import argparse

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--root", str(data), "--out", str(tmp_path / "o"), "--site-column", "site"])
    assert ingest.config_from_args(args).site_column == "site"


def test_a_site_column_the_csv_lacks_or_an_empty_site_cell_is_an_error(tmp_path: Path) -> None:
    data = _pooled(tmp_path / "pooled")
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(config(data, site_column="centre"), tmp_path / "out", verbose=False)
    assert "--site-column 'centre' is not a column of the label CSV" in str(caught.value)
    assert "'image name', 'DR grade', 'site'" in str(caught.value)
    text = (data / "labels.csv").read_text().replace(",A\n", ",\n", 1)
    (data / "labels.csv").write_text(text)
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(config(data, site_column="site"), tmp_path / "out", verbose=False)
    assert "1 row(s) have an empty 'site' cell (line 2)" in str(caught.value)


def test_leave_one_site_out_with_the_site_as_patient(tmp_path: Path) -> None:
    """docs/data.md's leave-one-site-out: --patient-column site --site-column site --folds K
    for K sites puts each site whole in a fold of its own."""
    data = _pooled(tmp_path / "pooled", n=18, sites=("A", "B", "C"))
    result = ingest.run(config(data, patient_column="site", site_column="site", n_folds=3),
                        tmp_path / "out", verbose=False)
    _, rows = _manifest(result.manifest_path)
    by_site = {s: {r["fold"] for r in rows if r["site"] == s} for s in "ABC"}
    assert all(len(f) == 1 for f in by_site.values()), by_site
    assert len({next(iter(f)) for f in by_site.values()}) == 3  # one site per fold
    assert all(r["patient"] == r["site"] for r in rows)
