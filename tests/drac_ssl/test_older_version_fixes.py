"""An upgrade review (F5): re-ingesting into an ingest folder of older code printed "cache state
of another version, rebuilding -> nothing to do", and grading with an older bundle printed two
different rebuild fixes (build_bundle('RUN') for the missing out-of-distribution check, the
run's own path for the missing weights digests)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from data_prep import cache
from data_prep.problems import note
from drac_ssl import export
from drac_ssl.grading.bundle import rebuild_advice


def test_an_older_cache_is_said_rebuilt_with_its_version(tmp_path: Path) -> None:
    (tmp_path / cache.STATE_NAME).write_text(json.dumps({"version": 1, "root": str(tmp_path)}))
    state = cache.load_state(tmp_path, tmp_path, [128])
    # said before the rebuild (a review of oldrun_fx: "rebuilt; manifest.csv replaced -> nothing
    # to do" was printed before either happened): what the ingest is about to do, not "nothing"
    line = note(tmp_path, state.reason, state.action).line
    assert line == (f"{tmp_path}: cache of an older version (state 1, now {cache.STATE_VERSION}) -> "
                    f"rebuilding it; manifest.csv will be replaced")
    assert cache.other_version_words(cache.STATE_VERSION + 1).startswith("cache of a newer version")


def test_an_older_bundle_gets_one_rebuild_command(tmp_path: Path) -> None:
    run = tmp_path / "oldrun"
    (run / "finetune").mkdir(parents=True)
    (run / "finetune" / "summary.json").write_text("{}")
    bundle = SimpleNamespace(path=run / "bundle", input_profile=None, metadata={})
    note = export._ood_check_note(bundle)
    assert note is not None and note.endswith(f"A rebuild gives it one: {rebuild_advice(run / 'bundle')}")
    assert f"build_bundle('{run}')" in note and "build_bundle('RUN')" not in note
