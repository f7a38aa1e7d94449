"""bench/retinamnist_epochs.py: which seeds a run may use, and what it compares them with.

The runs themselves (``run_seed``) are replaced by folders written here, so these tests read
only what the bench does with finished run folders; the real runs take half an hour a seed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import retinamnist_epochs as epochs

GRADES = [0, 0, 1, 2, 3, 4, 2, 0]


def _variant(folder: Path, variant: str, accuracy: float) -> None:
    out = folder / "finetune" / variant
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "auc_ovr": 0.7, "qwk": 0.5}),
                                      encoding="utf-8")
    rows = ["id,grade,P0,P1,P2,P3,P4"]
    for i, g in enumerate(GRADES):
        p = [0.1] * 5
        p[g] = 0.6
        rows.append(f"c{i},{g}," + ",".join(str(x) for x in p))
    (out / "oof.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _fake_runs(monkeypatch: pytest.MonkeyPatch, made: list[int]) -> None:
    def run_seed(seed: int, n_epochs: int, runs_root: Path, threads: int, overrides: list[str], tag: str,
                 own_scratch: bool = False) -> Path:
        folder = runs_root / (f"e{n_epochs}_s{seed}" + (f"_{tag}" if tag else ""))
        _variant(folder, "vicreg", 0.52 + seed / 1000)
        if own_scratch:
            _variant(folder, "scratch", 0.51)
        (folder / "pretrain").mkdir(parents=True, exist_ok=True)
        (folder / "pretrain" / "metadata.json").write_text(json.dumps({"epochs_run": n_epochs}), encoding="utf-8")
        (folder / "stages.json").write_text(json.dumps({"pretrain": {"seconds": 1.0}}), encoding="utf-8")
        made.append(seed)
        return folder

    monkeypatch.setattr(epochs, "run_seed", run_seed)
    monkeypatch.setattr(epochs, "load_average", lambda: None)


@pytest.fixture()
def npz_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``epochs.NPZ`` an empty file in ``tmp_path``: the bench only checks that the file exists
    before its runs, and the fake runs read nothing (these tests skipped without the real one)."""
    npz = tmp_path / "retinamnist_public.npz"
    npz.write_bytes(b"")
    monkeypatch.setattr(epochs, "NPZ", npz)
    return npz


with_an_npz = pytest.mark.usefixtures("npz_here")


@with_an_npz
def test_five_new_seeds_with_their_own_scratch_are_a_full_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A confirmation on seeds without a committed job compares each with its own scratch,
    and is the full protocol (five seeds), not a smoke run."""
    made: list[int] = []
    _fake_runs(monkeypatch, made)
    epochs.main(["--seeds", "5,6,7,8,9", "--own-scratch", "--tag", "confirm", "--runs-root", str(tmp_path / "runs"),
                 "--out-dir", str(tmp_path)])
    assert sorted(made) == [5, 6, 7, 8, 9]
    record = json.loads((tmp_path / "retinamnist_epochs60_confirm.json").read_text(encoding="utf-8"))
    assert record["smoke"] is False and record["seeds"] == [5, 6, 7, 8, 9]
    diff = record["differences"]["vicreg60_confirm_minus_scratch"]["accuracy"]
    assert diff["mean"] == pytest.approx(0.017) and diff["positive"] == 5
    assert record["per_seed"]["5"]["committed"]["scratch_from"] == "this run"


@with_an_npz
def test_fewer_than_five_seeds_is_a_smoke_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_runs(monkeypatch, [])
    epochs.main(["--seeds", "5,6", "--own-scratch", "--tag", "confirm", "--runs-root", str(tmp_path / "runs"),
                 "--out-dir", str(tmp_path)])
    record = json.loads((tmp_path / "retinamnist_epochs60_confirm_smoke.json").read_text(encoding="utf-8"))
    assert record["smoke"] is True and any("2 of the 5 seeds" in r for r in record["smoke_reasons"])
    assert not (tmp_path / "retinamnist_epochs60_confirm.json").exists()


@with_an_npz
def test_a_seed_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    made: list[int] = []
    _fake_runs(monkeypatch, made)
    with pytest.raises(SystemExit):
        epochs.main(["--seeds", "5,5,6,7,8", "--own-scratch", "--tag", "confirm",
                     "--runs-root", str(tmp_path / "runs"), "--out-dir", str(tmp_path)])
    assert "seed 5 twice" in capsys.readouterr().err and made == []


@with_an_npz
def test_without_own_scratch_a_seed_needs_its_committed_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    _fake_runs(monkeypatch, made)
    with pytest.raises(SystemExit, match="no committed RetinaMNIST job for seed 5.*--own-scratch"):
        epochs.main(["--seeds", "5,6,7,8,9", "--tag", "confirm", "--runs-root", str(tmp_path / "runs"),
                     "--out-dir", str(tmp_path)])
    assert made == []


def test_pooling_with_the_committed_seeds_counts_every_seed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ten-seed interval fixed before the ``--tag repeat`` runs: this run's differences and
    the committed job's (VICReg minus scratch of the same file) in one mean, SE and t-interval;
    a seed in both is refused, since it would count twice."""
    committed = {s: {"scratch": {"accuracy": 0.50, "auc_ovr": 0.76, "qwk": 0.55},
                     "vicreg": {"accuracy": 0.50 + s / 100, "auc_ovr": 0.76, "qwk": 0.55}} for s in range(5)}
    monkeypatch.setattr(epochs, "committed", lambda s: committed[s])
    own = {str(s): {"accuracy": 0.0, "auc_ovr": 0.001 * (s - 20), "qwk": 0.0} for s in range(20, 25)}
    own_scratch = {s: {"accuracy": 0.55, "auc_ovr": 0.77, "qwk": 0.56} for s in own}
    pooled = epochs.pooled_with_committed(own, own_scratch)
    accuracy = pooled["differences"]["accuracy"]
    # differences 0, .01, .02, .03, .04 and five zeros: mean .01, SD .01491, SE .004714, t(.975, 9) 2.2622
    assert accuracy["n"] == 10 and accuracy["positive"] == 4
    assert accuracy["mean"] == pytest.approx(0.01) and accuracy["se"] == pytest.approx(0.0047, abs=1e-4)
    assert accuracy["t95"] == pytest.approx([0.01 - 2.2622 * 0.004714, 0.01 + 2.2622 * 0.004714], abs=1e-4)
    assert pooled["differences"]["auc_ovr"]["positive"] == 4  # seeds 21-24; the committed ones are 0
    assert pooled["run_seeds"] == [20, 21, 22, 23, 24] and pooled["committed_seeds"] == [0, 1, 2, 3, 4]
    # each half on its own (descriptive), and scratch over all ten seeds (0.50 five times, 0.55 five times)
    assert pooled["halves"]["accuracy"] == {"committed_mean": 0.02, "run_mean": 0.0, "difference": -0.02}
    assert pooled["scratch_mean"]["accuracy"] == pytest.approx(0.525)
    with pytest.raises(SystemExit, match="seed 3 is both"):
        epochs.pooled_with_committed({"3": {"accuracy": 0.0, "auc_ovr": 0.0, "qwk": 0.0}}, {})


@pytest.mark.parametrize(("args", "words"), [
    (["--epochs", "20", "--seeds", "20,21", "--own-scratch", "--tag", "x", "--set", "pretrain.loss.sim_coeff=5"],
     "pools with the committed job's recipe"),
    (["--epochs", "60", "--seeds", "20,21", "--own-scratch"], "pools with the committed job's recipe"),
    (["--epochs", "20", "--seeds", "20,21"], "pools with the committed job's recipe"),  # no --own-scratch
    (["--epochs", "20", "--seeds", "3,20", "--own-scratch"], "seed 3 is among the committed seeds"),
])
def test_pooling_is_refused_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    """A changed recipe, another length, the committed scratch, or a committed seed run again:
    refused by the argument check, before any run (a run of a seed takes half an hour), and
    before the data is looked for: said the same on a machine without RetinaMNIST."""
    made: list[int] = []
    _fake_runs(monkeypatch, made)
    monkeypatch.setattr(epochs, "NPZ", tmp_path / "retinamnist" / "retinamnist_public.npz")  # absent
    with pytest.raises(SystemExit):
        epochs.main([*args, "--pool-with-committed", "--runs-root", str(tmp_path), "--out-dir", str(tmp_path)])
    assert words in capsys.readouterr().err and made == []



def test_arguments_that_pass_their_checks_then_need_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without RetinaMNIST, arguments that pass every check stop on the missing file, named,
    before any run."""
    made: list[int] = []
    _fake_runs(monkeypatch, made)
    absent = tmp_path / "retinamnist" / "retinamnist_public.npz"
    monkeypatch.setattr(epochs, "NPZ", absent)
    with pytest.raises(SystemExit, match="RetinaMNIST not found at") as stopped:
        epochs.main(["--epochs", "20", "--seeds", "20,21", "--own-scratch", "--pool-with-committed",
                     "--runs-root", str(tmp_path), "--out-dir", str(tmp_path)])
    assert str(absent) in str(stopped.value) and made == []

@with_an_npz
def test_a_pooled_run_writes_and_renders_its_ten_seed_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.summarize import retinamnist_epochs_table

    _fake_runs(monkeypatch, [])
    epochs.main(["--epochs", "20", "--seeds", "20,21,22,23,24", "--own-scratch", "--pool-with-committed",
                 "--tag", "repeat", "--runs-root", str(tmp_path / "runs"), "--out-dir", str(tmp_path)])
    record = json.loads((tmp_path / "retinamnist_epochs20_repeat.json").read_text(encoding="utf-8"))
    pooled = record["pooled_with_committed"]
    assert pooled["differences"]["accuracy"]["n"] == 10
    # the committed half read from the committed files themselves (VICReg minus scratch of each)
    files = [json.loads((epochs.RESULTS / name).read_text(encoding="utf-8"))["variants"]
             for name in pooled["committed_files"]]
    committed_mean = sum(v["vicreg"]["accuracy"] - v["scratch"]["accuracy"] for v in files) / len(files)
    assert pooled["halves"]["accuracy"]["committed_mean"] == pytest.approx(committed_mean, abs=1e-4)
    # the fake runs: VICReg 0.52 + seed/1000 against scratch 0.51
    assert pooled["halves"]["accuracy"]["run_mean"] == pytest.approx(0.032, abs=1e-4)
    line = next(x for x in retinamnist_epochs_table(record) if x.startswith("Pooled over the 10 seeds"))
    low, high = pooled["differences"]["accuracy"]["t95"]
    assert f"accuracy {pooled['differences']['accuracy']['mean']:+.4f}" in line and f"{low:+.4f}..{high:+.4f}" in line
    assert "`retinamnist.json`" in line and "fixed in words before this run and judged by no mark" in line
