"""The code fingerprint (an upgrade review, F2): runs made from a source archive (``git
archive``, a GitHub ZIP) recorded ``git_commit: unknown`` and nothing else that named their
code, and ``__version__`` has been 0.1.0 throughout, so nothing told two such versions apart.
:func:`drac_ssl.runtime.code_fingerprint` hashes the package's own source without git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drac_ssl import runtime
from drac_ssl.grading import bundle as bundles

REPO = Path(__file__).resolve().parents[2]
FP = "c0de" * 16


def _tree(root: Path) -> Path:
    """A tiny source tree: the three folders, and files the fingerprint leaves out."""
    for rel, text in {"drac_ssl/__init__.py": "x = 1\n", "drac_ssl/grading/model.py": "y = 2\n",
                      "data_prep/ingest.py": "z = 3\n", "app/server.py": "w = 4\n",
                      "drac_ssl/__pycache__/model.py": "cached\n", "drac_ssl/_build_info.py": "BUILD_COMMIT = ''\n",
                      "drac_ssl/py.typed": "", "configs/default.yaml": "run: {}\n", "README.md": "hi\n",
                      "bench/speed.py": "v = 5\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_fingerprint_covers_the_python_source_of_the_three_folders_only(tmp_path: Path) -> None:
    first = runtime.source_fingerprint(_tree(tmp_path / "a"))
    assert len(first) == 64 and int(first, 16) >= 0
    assert runtime.source_fingerprint(_tree(tmp_path / "b")) == first  # where the tree lies: no matter
    other = tmp_path / "b"
    for rel in ("README.md", "configs/default.yaml", "bench/speed.py", "drac_ssl/__pycache__/model.py",
                "drac_ssl/_build_info.py", "drac_ssl/py.typed"):
        (other / rel).write_text("changed\n")
    assert runtime.source_fingerprint(other) == first  # none of these is covered
    for change in (lambda: (other / "app" / "server.py").write_text("w = 5\n"),
                   lambda: (other / "data_prep" / "new.py").write_text(""),
                   lambda: (other / "drac_ssl" / "grading" / "model.py").rename(other / "drac_ssl" / "model.py")):
        change()
        changed = runtime.source_fingerprint(other)
        assert changed != first
        first = changed


def test_this_process_records_its_fingerprint_and_version_with_or_without_git(tmp_path: Path) -> None:
    """The checkout's own fingerprint; a source archive of it (no .git, so
    no commit) names the same code."""
    assert runtime.code_fingerprint() == runtime.source_fingerprint(REPO)
    origin = runtime.code_origin()
    assert origin["code_fingerprint"] == runtime.code_fingerprint()
    assert origin["distribution_version"] == runtime.distribution_version()  # a checkout records it too
    assert runtime.code_version()["code_fingerprint"] == runtime.code_fingerprint()
    archive = tmp_path / "drac_ssl-main"  # as a GitHub ZIP unpacks: the files, no .git
    for folder in runtime.FINGERPRINT_FOLDERS:
        shutil.copytree(REPO / folder, archive / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", archive / "pyproject.toml")
    code = ("import json; from drac_ssl import runtime as r\n"
            "print(json.dumps({'origin': r.code_origin(), 'version': r.code_version()}))\n")
    env = {**os.environ, "PYTHONPATH": str(archive), "NO_ALBUMENTATIONS_UPDATE": "1"}
    env.pop("DRAC_SSL_CODE_STAMP", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    assert said["origin"]["git_commit"] == "unknown" and said["origin"]["code_source"] == "untracked source tree"
    assert said["origin"]["code_fingerprint"] == runtime.source_fingerprint(archive)
    assert said["version"] == {"code_fingerprint": runtime.source_fingerprint(archive)}
    assert said["origin"]["distribution_version"]


def test_a_bundle_names_the_fingerprint_beside_the_commit(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("run:\n  seed: 7\n")
    (tmp_path / "environment.json").write_text(json.dumps({"git_commit": "unknown", "git_dirty": None,
                                                           "code_fingerprint": FP}))
    (tmp_path / "stages.json").write_text(json.dumps(
        {"finetune": {"status": "done", "code": {"code_fingerprint": FP}}}))
    prov = bundles.run_provenance(tmp_path)
    assert prov["run_code"] == {"git_commit": "unknown", "git_dirty": None, "code_fingerprint": FP}
    assert prov["built_with"] == runtime.code_version()
    line = bundles._provenance_card({"provenance": {**prov, "built_with": {"git_commit": "abc1234",
                                                                            "git_dirty": False}}})
    assert line == (f"\n- Provenance: run seed 7; run made at code fingerprint {FP[:12]}; bundle built at "
                    "commit abc1234.")  # the fine-tuning ran on the run's code: not said twice
    (tmp_path / "environment.json").write_text(json.dumps({"git_commit": "unknown", "git_dirty": None}))
    line = bundles._provenance_card({"provenance": bundles.run_provenance(tmp_path)})
    assert f"run made at commit unknown, fine-tuned at code fingerprint {FP[:12]}" in line


@pytest.mark.parametrize("made", [{"git_commit": "54e10d4", "git_dirty": False, "code_fingerprint": FP},
                                  {"git_commit": "unknown", "code_fingerprint": FP}])
def test_code_words_name_the_fingerprint_only_without_a_commit(made: dict) -> None:
    words = runtime.code_at(made)
    assert words == ("commit 54e10d4" if made["git_commit"] != "unknown" else f"code fingerprint {FP[:12]}")
    assert runtime.code_at({"git_commit": "unknown"}) == runtime.UNKNOWN_CODE


def test_each_stage_sees_the_tree_as_it_is_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade review (F3): the fingerprint was cached per process while code_version asked
    git afresh before each stage, so after an edit mid-run a stage recorded the new commit or
    dirty flag with the fingerprint of the tree at the start. Both are read afresh now."""
    tree = _tree(tmp_path / "tree")
    monkeypatch.setattr(runtime, "_PACKAGE_DIR", str(tree / "drac_ssl"))
    monkeypatch.delenv("DRAC_SSL_CODE_STAMP", raising=False)
    runtime.code_source.cache_clear()
    try:
        before = runtime.code_version()
        assert before == {"code_fingerprint": runtime.source_fingerprint(tree)}  # no git checkout here
        (tree / "drac_ssl" / "grading" / "model.py").write_text("y = 3\n")  # edited between two stages
        after = runtime.code_version()
        assert after["code_fingerprint"] == runtime.source_fingerprint(tree) != before["code_fingerprint"]
        assert runtime.code_origin()["code_fingerprint"] == after["code_fingerprint"]
    finally:
        runtime.code_source.cache_clear()


def test_a_link_cycle_and_an_editors_lock_file_change_nothing(tmp_path: Path) -> None:
    """An upgrade review (F7): os.walk(followlinks=True) looped on a symbolic link to a folder
    above (until the path grew too long: hundreds of copies hashed), and an editor's lock file
    ``.#model.py`` (a dangling link while the file is edited) was hashed as "unreadable"."""
    tree = _tree(tmp_path / "tree")
    clean = runtime.source_fingerprint(tree)
    (tree / "drac_ssl" / "grading" / "loop").symlink_to(tree / "drac_ssl", target_is_directory=True)
    (tree / "drac_ssl" / "grading" / ".#model.py").symlink_to("user@host.1234:1700000000")  # emacs' lock
    (tree / "app" / ".hidden.py").write_text("not source\n")
    assert runtime.source_fingerprint(tree) == clean
    (tree / "drac_ssl" / "linked.py").symlink_to(tree / "app" / "server.py")  # a linked file: read
    assert runtime.source_fingerprint(tree) != clean
