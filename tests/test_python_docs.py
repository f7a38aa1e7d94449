"""docs/python.md's examples run as written, in order, in one namespace (a notebook), in an
empty folder: the page builds the demo bundles it loads and writes the two images it grades (a
trial user found ``load_bundle("runs/default")`` raising and ``a.png`` never introduced, the test
having made both beforehand); and the page says the things a library user trips on (a review of
the package used from Python)."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "python.md"


def _python_blocks() -> list[str]:
    """Every ```python block of the page, an indented one (in a list item) dedented: a trial user
    found the wrapper script's block, indented, skipped, and failing as written (``argv``
    undefined)."""
    text = PAGE.read_text(encoding="utf-8")
    return [textwrap.dedent(m.group(2)) for m in re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M)]


def test_every_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks()
    assert len(blocks) == 12, "docs/python.md's examples were not all found"
    assert sum(block.count("```") for block in blocks) == 0, "a block ran past its fence"
    monkeypatch.chdir(tmp_path)
    # the wrapper script's block is a script: run with its arguments (a config that does not
    # exist: the cheapest run of train.main, which returns 2), it ends with sys.exit(rc)
    monkeypatch.setattr(sys, "argv", ["wrapper.py", "-c", "no_such_config_here"])
    exits: list[tuple[int, object]] = []
    assert list(tmp_path.iterdir()) == []  # nothing made beforehand: the page makes what it uses
    namespace: dict[str, object] = {}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            for number, block in enumerate(blocks):
                try:
                    exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 (the page's own code)
                except SystemExit as e:  # only a script's sys.exit, said below
                    exits.append((number, e.code))
    finally:
        torch.set_num_threads(before)
    assert printed.getvalue().count("\n") >= 10
    assert exits == [(0, 2)] and namespace["rc"] == 2, exits  # the wrapper exits as the command did
    # what the examples promise
    # ingest and train from Python: the ingest's result, the pipeline's run folder (the ingest only)
    checked = namespace["checked"]
    assert (checked.n_train, checked.channels, checked.grade_names) == (30, 3, ("Normal", "NPDR", "PDR"))  # type: ignore[attr-defined]
    run_dir = Path(namespace["run_dir"])  # type: ignore[arg-type]
    assert run_dir.resolve() == (tmp_path / "runs" / "from_python").resolve()
    assert (run_dir / "data" / "manifest.csv").is_file() and (run_dir / "stages.json").is_file()
    assert namespace["z_a"].grad is not None  # type: ignore[attr-defined]
    assert tuple(namespace["features"].shape) == (2, 512)  # type: ignore[attr-defined]
    # the own-loop example: three VICReg steps that trained the backbone through the expander
    history = namespace["history"]
    assert len(history) == 3 and all(np.isfinite(history)) and history[0] > 0, history  # type: ignore[arg-type]
    model = namespace["model"]
    assert model.backbone.conv1.weight.grad is not None  # type: ignore[attr-defined]
    assert tuple(namespace["loop_terms"].loss.shape) == ()  # type: ignore[attr-defined]
    graded = namespace["graded"]
    assert graded.probs.shape == (2, 3) and np.allclose(graded.probs.sum(axis=1), 1.0)  # type: ignore[attr-defined]
    # the colour photograph read by the grey UW-OCTA bundle is doubted as OCTA (kind=bundle.kind)
    doubts = namespace["doubts"]
    assert doubts[0] == [] and any("UW-OCTA is grey" in line for line in doubts[1]), doubts  # type: ignore[index]
    # the batch goes on past a missing file, and gives one verdict per graded image
    failed = namespace["failed"]
    assert list(failed) == ["gone.png"] and "no such image file -> check the path" in failed["gone.png"], failed  # type: ignore[call-overload,index]
    assert graded.not_reliably_gradable == [[], ["a colour picture, not UW-OCTA"]]  # type: ignore[attr-defined]
    assert graded.training_image == [None, None]  # type: ignore[attr-defined]  # no hashes in the demo bundle
    record = namespace["record"]
    assert record["image_size"] == [256, 256] and set(record["bundle"]) == {  # type: ignore[index]
        "created_utc", "variant", "metadata_sha256"}
    # grade_files: the same grades and verdict as the loop, the missing file listed with its fix
    result = namespace["result"]
    np.testing.assert_allclose(result.graded.probs, graded.probs, atol=1e-6)  # type: ignore[attr-defined]
    assert result.graded.not_reliably_gradable == graded.not_reliably_gradable  # type: ignore[attr-defined]
    assert [f.path.name for f in result.failed] == ["gone.png"]  # type: ignore[attr-defined]
    assert "gone.png: no such image file -> check the path" in printed.getvalue()
    # a CSV for people: the byte-order mark Excel needs for accented and Chinese names (intl2 docs)
    assert (tmp_path / "grades.csv").read_bytes().startswith("\ufeff".encode())
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["a.png", "b.png"] and list(rows[0])[:5] == [
        "path", "name", "grade", "grade_name", "P0"]
    assert rows[1]["not_reliably_gradable"] == "a colour picture, not UW-OCTA"
    assert list(rows[0]).index("notes") == list(rows[0]).index("warnings") + 1  # result.to_records()
    # arrays: OpenCV's BGR swapped and Pillow's RGB are the same pixels, graded alike by the colour
    # demo; the colour picture conformed for the grey model keeps its doubt
    assert (namespace["from_cv2"] == namespace["from_pil"]).all()  # type: ignore[union-attr]
    on_fundus = namespace["on_fundus"]
    assert on_fundus.probs.shape == (2, 5) and (on_fundus.probs[0] == on_fundus.probs[1]).all()  # type: ignore[attr-defined]
    assert on_fundus.grade_names == ("No DR", "Mild", "Moderate", "Severe", "PDR")  # type: ignore[attr-defined]
    assert namespace["on_octa"].not_reliably_gradable == [["a colour picture, not UW-OCTA"]]  # type: ignore[attr-defined]
    # the heatmap: (H, W) in [0, 1] on the image, drawn over it
    shown = namespace["shown"]
    assert shown.heatmap is not None and shown.heatmap.shape == shown.image.shape[:2]  # type: ignore[attr-defined]
    assert shown.heatmap.dtype == np.float32 and 0 <= shown.heatmap.min() and shown.heatmap.max() <= 1  # type: ignore[attr-defined]
    from PIL import Image

    with Image.open(tmp_path / "a_heatmap.png") as overlay:
        assert overlay.mode == "RGB" and overlay.size == (256, 256)


PUBLIC = {"drac_ssl.train": {"main", "run_pipeline", "TrainingInProgress"},
          "drac_ssl.config": {"DataConfig", "Config", "ConfigError", "load_config"},
          "data_prep.ingest": {"run", "IngestResult", "IngestError"},
          "data_prep.problems": {"IngestError"},
          "drac_ssl.runtime": {"apply_thread_policy", "worker_context", "random_state_kept"}}
"""The names docs/python.md has a library user call or catch, by module."""


def test_the_names_the_page_calls_are_public() -> None:
    """A trial user: the page calls public "the names in a module's __all__", yet drac_ssl.train,
    drac_ssl.config, data_prep.ingest, data_prep.problems and drac_ssl.runtime had no __all__,
    so ingest.run, DataConfig, IngestError, train.main, run_pipeline, load_config and
    TrainingInProgress were formally not public. Every name of theirs the page gives by its
    dotted path is in its module's __all__, and every __all__ entry exists."""
    import importlib

    text = PAGE.read_text(encoding="utf-8")
    for module_name, needed in PUBLIC.items():
        module = importlib.import_module(module_name)
        exported = set(getattr(module, "__all__", ()))
        named = set(re.findall(rf"{re.escape(module_name)}\.([A-Za-z_]\w*)", text))
        assert needed | named <= exported, (module_name, sorted((needed | named) - exported))
        assert all(hasattr(module, name) for name in exported), module_name
        # 10, not 8: drac_ssl.runtime's three exit codes of a job done (running.md's nightly job)
        assert len(exported) <= 10, (module_name, "keep the public names few and deliberate")
    assert "## Ingest and train from Python" in text and "`drac_ssl.config.DataConfig(workers=1)`" in text


CONTRIBUTOR_NAMES = {"drac_ssl.train": {"check_refolded", "plan_reuse"},
                     "data_prep.ingest": {"collect_unlabelled"},
                     "data_prep.problems": {"cut_per_kind"}}
"""Internals of :data:`PUBLIC`'s modules that docs/design.md (the page for contributors) names by
their dotted path; on any other page such a path is presented as a user's name."""


def test_every_page_names_only_public_names_of_these_modules() -> None:
    """A review: running.md gave ``drac_ssl.runtime.EXIT_FLAGGED`` / ``EXIT_NO_IMAGES`` (a
    nightly job's codes) and ``drac_ssl.train.RunFolderWriteError``, data.md and
    configuration.md three tables and helpers, by the dotted path a user imports, yet none was
    in its module's ``__all__``. Every ``module.Name`` of these modules on README.md and
    docs/*.md is in ``__all__``, or an internal design.md (only) names."""
    import importlib

    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = []
    for module_name in PUBLIC:
        exported = set(importlib.import_module(module_name).__all__)
        for page in pages:
            allowed = CONTRIBUTOR_NAMES.get(module_name, set()) if page.name == "design.md" else set()
            text = page.read_text(encoding="utf-8")
            for name in set(re.findall(rf"(?<![\w.]){re.escape(module_name)}\.([A-Za-z_]\w*)", text)):
                if name not in exported | allowed:
                    missing.append(f"{page.name}: {module_name}.{name}")
    assert not missing, sorted(missing)
    assert {"EXIT_FLAGGED", "EXIT_NO_IMAGES", "EXIT_SKIPPED"} <= set(importlib.import_module("drac_ssl.runtime").__all__)


def test_the_page_says_what_a_library_user_trips_on() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "kind=bundle.kind" in text and "__all__" in text and "`app.py`" in text
    assert "terms.loss.backward()" in text
    # a hospital's offline nightly batch (review): the exceptions to catch, the threads, the
    # network, the install without internet, the memory, heatmaps off, the size order
    for said in ("except (ImageReadError, OSError)", "limit_threads(1)", "NO_ALBUMENTATIONS_UPDATE",
                 "--no-index --find-links", "CUDA build", "resident", "gradcam=False", "MPLCONFIGDIR",
                 "[width, height]", "libpng error", "not_reliably_gradable", "training_image"):
        assert said in text, said
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/python.md" in readme
    import drac_ssl

    assert "docs/python.md" in (drac_ssl.__doc__ or "")


def test_the_offline_install_installs_the_wheel_it_built() -> None:
    """A packaging trial: the recipe built drac_ssl's wheel into wheelhouse/ and then installed
    the checkout in editable mode (``--no-deps -e .``), so the wheel went unused and the server
    needed the checkout."""
    text = PAGE.read_text(encoding="utf-8")
    recipe = text[text.index("**Installing without internet.**"):]
    recipe = recipe[recipe.index("```bash"):recipe.index("```\n", recipe.index("```bash") + 7)]
    assert "pip wheel --no-deps -w wheelhouse ." in recipe
    assert recipe.rstrip().endswith(".venv/bin/pip install --no-index --find-links wheelhouse drac_ssl"), recipe
    assert " -e " not in recipe


def test_the_pages_way_to_read_larger_files_keeps_the_local_file_limit() -> None:
    """Every ``limits=...`` the page recommends for larger files, evaluated as written (a
    ``...`` filled with a larger side), keeps :data:`LOCAL_FILE_LIMITS`' 512 MiB of file: the page
    said ``limits=InputLimits(...)``, which starts from the app's upload limits and so lowered the
    file size limit of ``read_image`` / ``grade_files`` to 50 MiB."""
    import dataclasses

    from drac_ssl.grading import LOCAL_FILE_LIMITS, InputLimits
    from drac_ssl.grading.image_file import LOCAL_FILE_LIMITS as own

    assert LOCAL_FILE_LIMITS is own and LOCAL_FILE_LIMITS.max_bytes == 512 * 1024 * 1024
    assert InputLimits().max_bytes == 50 * 1024 * 1024  # why the page must not say InputLimits(...)
    said = re.findall(r"`limits=([^`]+)`", PAGE.read_text(encoding="utf-8"))
    assert said, "docs/python.md no longer says how to read larger files"
    for expression in said:
        limits = eval(expression.replace("...", "max_side=16384"),  # noqa: S307 (the page's own code)
                      {"dataclasses": dataclasses, "InputLimits": InputLimits,
                       "LOCAL_FILE_LIMITS": LOCAL_FILE_LIMITS})
        assert limits.max_bytes == LOCAL_FILE_LIMITS.max_bytes, expression
        assert limits.max_side > LOCAL_FILE_LIMITS.max_side, expression


def test_the_score_signature_lists_every_keyword_of_score() -> None:
    """A docs trial: the page's ``score(...)`` lacked ungradable, labels_referable_from and
    trained_referable_from, and did not say referable_from= needs grade_names= of the same K."""
    import inspect

    from drac_ssl.scoring import score

    text = PAGE.read_text(encoding="utf-8")
    shown = text[text.index("    score(submission, labels, *"):text.index(") -> dict", text.index("    score(submission"))]
    missing = [name for name in inspect.signature(score).parameters if f"{name}" not in shown]
    assert missing == [], missing
    assert "`referable_from=` takes effect only with `grade_names=`" in text


def test_the_offline_install_offers_the_lock_files_exact_wheels() -> None:
    """A trial user: the offline recipe downloaded ``-r scripts/requirements-cpu.txt`` (versions
    only) where ``scripts/setup.sh`` installs the lock's very wheels, which the figures were made
    with. The page offers the lock with ``--require-hashes``, which pip accepts only when every
    line pins one version (``==``) with its hash: the lock's lines are so."""
    text = PAGE.read_text(encoding="utf-8")
    recipe = text[text.index("**Installing without internet.**"):text.index("**Installing into your own environment**")]
    assert "`--require-hashes -r scripts/requirements-cpu.lock`" in recipe, recipe
    lines = [line for line in (REPO / "scripts" / "requirements-cpu.lock").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) > 50
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+!-]+ --hash=sha256:[0-9a-f]{64}", line), line


def test_the_installed_docs_say_which_links_resolve_only_in_the_repository() -> None:
    """A trial user read the installed docs (``drac-ssl-train --docs``): links to ../README.md,
    ../tests/... and the images in img/ led nowhere, as the wheel ships docs/*.md alone. The
    offline section and the ``--docs`` help say where they resolve."""
    from drac_ssl.commands import train_parser

    text = PAGE.read_text(encoding="utf-8")
    offline = text[text.index("**Installing without internet.**"):text.index("**Installing into your own environment**")]
    assert "links outside `docs/`" in offline and "resolve only in the repository or the sdist" in offline
    docs = next(a for a in train_parser()._actions if "--docs" in a.option_strings)
    assert "resolve only in the repository or sdist" in docs.help, docs.help
    # the links the sentence is about exist (else it would be stale)
    pages = "".join(p.read_text(encoding="utf-8") for p in (REPO / "docs").glob("*.md"))
    assert "](../README.md" in pages and "](img/" in pages


def test_the_ingest_and_train_example_runs_twice_in_one_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: run a second time in the same folder, the example stopped at
    ``photos.mkdir()`` (FileExistsError). The second run reuses the photos, the ingest and the
    run folder."""
    block = next(b for b in _python_blocks() if "run_pipeline(cfg)" in b)
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        for _ in range(2):
            namespace: dict[str, object] = {}
            exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 (the page's own code)
    assert namespace["checked"].n_train == 30  # type: ignore[attr-defined]
    assert Path(namespace["run_dir"]).resolve() == (tmp_path / "runs" / "from_python").resolve()  # type: ignore[arg-type]
