"""The package layering's promises (docs/design.md): inference without training code, the
command-line entry points, a clear message for a bundle of another format."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from git_in_tests import run_git

REPO = Path(__file__).resolve().parents[2]
TRAINING_MODULES = ("drac_ssl.finetune", "drac_ssl.bank_cache", "drac_ssl.pretrain", "drac_ssl.umm",
                    "drac_ssl.engine", "drac_ssl.export", "drac_ssl.train", "drac_ssl.optim", "drac_ssl.losses")
TRAINING_DATA = ("drac_ssl.datasets", "drac_ssl.augment", "drac_ssl.evaluation")
"""The training data layers: the data sets and their loaders, the augmentation, the probes.
Inference takes its input path from drac_ssl/eval_input.py, the layer both sides share."""
SCORING_MODULES = ("drac_ssl.scoring", "drac_ssl.report")
"""The scoring of a submission and the run's report (scipy's and sklearn's statistics, the
bootstraps): the export computes what a bundle records of them (the model card's out-of-fold
Brier score and ECE, ``report.oof_calibration_of``) and passes it to the build; grading and
the app import neither."""
TRAINING_ONLY_USERS = ("drac_ssl/finetune.py", "drac_ssl/bank_cache.py", "drac_ssl/pretrain.py",
                       "drac_ssl/umm/", "drac_ssl/engine.py", "drac_ssl/train.py", "drac_ssl/optim.py",
                       "drac_ssl/losses/", "drac_ssl/preflight.py", "drac_ssl/evaluation.py",
                       "drac_ssl/augment.py", "drac_ssl/datasets.py",
                       "bench/pretraining.py", "bench/pretrain_throughput.py", "bench/bank_cache.py",
                       "bench/umm_ablation.py", "bench/cifar10_vicreg.py")
"""The sources whose use of a name does not make it inference's (the training stages, their
layers, the orchestrator's checks and the benches of pretraining and fine-tuning alone; the
export stage is inference's: it builds and grades)."""
USED_IN_TRAINING_ONLY_BY_DESIGN = {
    "drac_ssl/grading/bundle.py: ci_resampling_words":
        "words, not training: the model card's CI wording (CI_HELD_FIXED, TWIN_GROUP_WORDS) beside "
        "it; the fine-tuning says them",
    "drac_ssl/grading/model.py: Calibration.without_referral":
        "a Calibration method beside with_decision (which inference uses): the same calibration "
        "without its referral cut; the fine-tuning's in-sample figures of each rule read it",
    "drac_ssl/grading/model.py: head_normalises_over_batch":
        "a fact of the heads, read off build_head; the preflight asks it before training",
}
"""Names of grading/ that only training code uses, kept there on purpose (each with why)."""


def _tracked(*folders: str) -> list[Path]:
    """The ``.py`` files under ``folders`` that git tracks (and the working tree still has), so
    that an untracked scratch file neither hides nor makes a finding; every ``.py`` file there
    when the repository is not a git checkout (an unpacked source archive has no scratch)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))
    done = run_git(REPO, "ls-files", "-z", "--", *folders, check=False)
    assert done.returncode == 0, f"git ls-files in {REPO} failed: {done.stderr}"  # no glob in its stead
    listed = done.stdout.split("\0")
    return sorted(REPO / f for f in listed if f.endswith(".py") and (REPO / f).is_file())


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)


def test_grading_and_the_app_import_no_training_code(tmp_path: Path) -> None:
    """Imported, then grading a bundle (a demo bundle built, an image read from a file and
    graded, its Grad-CAM drawn): no training module, data set loader or augmentation is loaded
    (the review found drac_ssl.datasets loaded by grading.model's import, drac_ssl.augment by
    every preprocessed image)."""
    image = tmp_path / "scan.png"
    proc = _python(
        "import json, sys\n"
        "import drac_ssl.grading.model, drac_ssl.grading.bundle, drac_ssl.grading.predict\n"
        "import drac_ssl.grading.batch, app.predict, app.demo_bundle, app.gradcam, app.inputs\n"
        "said = {'import': sorted(m for m in sys.modules if m.startswith('drac_ssl'))}\n"
        "import cv2, numpy as np\n"
        "from app.demo_bundle import build_demo_bundle\n"
        "from app.predict import Predictor\n"
        "from drac_ssl.grading import grade_files, load_bundle\n"
        f"folder = build_demo_bundle({str(tmp_path / 'run')!r}, image_size=32, source_size=48, n_folds=2)\n"
        "smooth = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (60, 50), dtype=np.uint8), (0, 0), 3)\n"
        f"cv2.imwrite({str(image)!r}, cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX))\n"
        f"graded = grade_files(load_bundle(folder), [{str(image)!r}], progress=False)\n"
        "assert not graded.failed, graded.failed\n"
        f"Predictor(folder).predict_file({str(image)!r})\n"
        "said['grading'] = sorted(m for m in sys.modules if m.startswith('drac_ssl'))\n"
        "print(json.dumps(said))\n")
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "drac_ssl.grading.predict" in loaded["import"]
    for when, modules in loaded.items():
        wrong = [m for m in modules if _is(m, TRAINING_MODULES + TRAINING_DATA + SCORING_MODULES)]
        assert not wrong, (f"after the {when}, grading/app loaded training or scoring code {wrong}: "
                           f"move what inference needs into a layer (drac_ssl/eval_input.py), or "
                           f"compute it in the export and pass it to the build (report.oof_calibration_of)")
    # the package re-exports the inference API, resolved on use: importing it alone loads no
    # torch, models or matplotlib (data_prep.layout imports drac_ssl.grading.image_notes)
    proc = _python(
        "import sys, drac_ssl.grading as g\n"
        "print(sorted(m for m in sys.modules if m.startswith(('drac_ssl.', 'torch', 'matplotlib'))))\n"
        "from drac_ssl.grading import grade_images, load_bundle, predict_images, read_image\n"
        "from drac_ssl.grading.predict import grade_images as direct\n"
        "assert grade_images is direct and set(g.__all__) >= {'load_bundle', 'grade_images', 'predict_images'}\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['drac_ssl.grading']", proc.stdout


STAGE_MODULES = ("drac_ssl.finetune", "drac_ssl.pretrain", "drac_ssl.umm", "drac_ssl.export",
                 "drac_ssl.train", "data_prep.ingest")
"""The stages (docs/design.md): the layers under them import none, the readers of run
records (report, compare) included."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the statement is (top level, inside a function
    or a ``try``): ``import a.b`` -> ``a.b``; ``from a import b`` -> ``a`` and ``a.b`` (b may
    be a module); relative imports resolved; ``importlib.import_module("a.b")`` with a literal
    name. Not seen: a module named by a computed string."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"):
            found.add(str(node.args[0].value))
    return found


def _source(module: str) -> Path | None:
    path = REPO.joinpath(*module.split("."))
    return next((p for p in (path / "__init__.py", path.with_suffix(".py")) if p.is_file()), None)


def _reached(modules: list[str]) -> dict[str, str]:
    """Each module of the repository that ``modules`` import, directly or through others (every
    import statement, a function's too, so a path taken only on one call counts), with the
    module that imports it; a module's parent packages count as imported (they run first)."""
    via: dict[str, str] = {m: "" for m in modules}
    todo = list(modules)
    while todo:
        module = todo.pop()
        path = _source(module)
        if path is None:
            continue
        parts = module.split(".")
        for other in sorted(_imports(path) | {".".join(parts[:i]) for i in range(1, len(parts))}):
            if other not in via and _source(other) is not None:
                via[other] = module
                todo.append(other)
    return via


def _is(module: str, names: tuple[str, ...]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def test_the_import_statements_keep_the_layering() -> None:
    """Read from the source, every import statement (inside functions too), beside the test
    above, which sees only what importing five modules loads."""
    # report and compare read run records, scoring a submission and labels: no import of a stage
    for path in (REPO / "drac_ssl" / "report.py", REPO / "drac_ssl" / "compare.py",
                 REPO / "drac_ssl" / "scoring.py"):
        stages = sorted(m for m in _imports(path) if _is(m, STAGE_MODULES))
        assert not stages, f"{path.name} imports the stage(s) {stages}: move what it needs into a layer"
    # grading and the app: no training code, however far the imports are followed
    starts = [_module_name(p) for folder in ("drac_ssl/grading", "app") for p in sorted((REPO / folder).glob("*.py"))]
    assert "drac_ssl.grading.predict" in starts and "app.server" in starts
    reached = _reached(starts)
    assert "drac_ssl.metrics" in reached and "drac_ssl.models" in reached  # the walk follows imports
    training = sorted(m for m in reached
                      if _is(m, TRAINING_MODULES + TRAINING_DATA + SCORING_MODULES + ("data_prep.ingest",)))
    chains = []
    for module in training:
        chain = [module]
        while via := reached[chain[-1]]:
            chain.append(via)
        chains.append(" <- ".join(chain))
    assert not chains, "grading/app reach training code: " + "; ".join(chains)


def _defined_names(path: Path) -> list[str]:
    """The public names ``path`` defines: its top-level functions, classes and assignments, and
    its classes' public methods (``Class.method``)."""
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        if isinstance(node, ast.ClassDef):
            names += [f"{node.name}.{m.name}" for m in node.body
                      if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")]
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.rpartition(".")[2].startswith("_")]


def _identifiers(path: Path) -> set[str]:
    """The names ``path``'s code uses (a name, an attribute, an imported name): not its
    definitions, strings, ``__all__`` entries or docstrings."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names)
    return found


def _public_api(path: Path) -> set[str]:
    """The names a package's ``__init__.py`` offers by name alone: every identifier-like string
    constant in it (``drac_ssl/grading/__init__.py``'s lazy re-exports, ``_EXPORTS`` and
    ``__all__``, resolved on first use by ``__getattr__``, so no code names them)."""
    return {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier()}


def test_no_training_only_code_lives_in_grading_or_the_app() -> None:
    """docs/design.md: grading/ is the graded model, no training code. Every public name that
    grading/ and app/ define (functions, classes, constants, methods) must be used by something
    other than the training code (its own module, the app, the export, the reports, data_prep,
    bench/ or scripts/): a name that only the fine-tuning or another training module uses belongs
    there or in a layer under it (the review found grading_loss, class_weights_for, monitor_score
    and InputSpec.view_transform so). By name, as the code uses names (:func:`_identifiers`;
    tests not counted): a name another module's code happens to spell alike is taken as used.
    A name of the package's public API (``drac_ssl/grading/__init__.py``'s re-exports) is
    inference's, whoever calls it in the repository. Only the files git tracks count. Each
    entry of :data:`USED_IN_TRAINING_ONLY_BY_DESIGN` must still be defined and still be used by
    training code alone (a stale entry fails: delete it)."""
    used = {p.relative_to(REPO).as_posix(): _identifiers(p)
            for p in _tracked("drac_ssl", "app", "data_prep", "bench", "scripts")}
    api = REPO / "drac_ssl" / "grading" / "__init__.py"
    used[api.relative_to(REPO).as_posix()] |= _public_api(api)
    assert "grade_files" in used["drac_ssl/grading/__init__.py"]  # the lazy re-exports are read
    training_only, by_design = [], {}
    for path in _tracked("drac_ssl/grading", "app"):
        if path.parent not in (REPO / "drac_ssl" / "grading", REPO / "app"):
            continue  # the folders' own modules, as the import test above reads them
        own = path.relative_to(REPO).as_posix()
        for name in _defined_names(path):
            users = {where for where, names in used.items() if name.rpartition(".")[2] in names}
            only_training = bool(users) and all(u.startswith(TRAINING_ONLY_USERS) for u in users)
            if f"{own}: {name}" in USED_IN_TRAINING_ONLY_BY_DESIGN:
                by_design[f"{own}: {name}"] = only_training
            elif only_training:
                training_only.append(f"{own}: {name} (used only by {', '.join(sorted(users))})")
    assert not training_only, ("training-only code in grading/ or app/: " + "; ".join(training_only)
                               + "; fix: move it to its training module or a layer under it "
                               "(a loss: drac_ssl/losses/)")
    stale = [f"{entry} ({'no longer defined' if entry not in by_design else 'now used beyond training'})"
             for entry in USED_IN_TRAINING_ONLY_BY_DESIGN if not by_design.get(entry)]
    assert not stale, ("stale USED_IN_TRAINING_ONLY_BY_DESIGN entries: " + "; ".join(stale)
                       + "; fix: delete them from tests/drac_ssl/test_package_layering.py")


def test_the_losses_import_no_stage() -> None:
    """drac_ssl/losses/ holds pure functions of tensors (docs/design.md, "Adding a
    self-supervised method"): however far their imports are followed, no stage, training loop
    or optimiser is reached (a stage passes in what a loss needs, e.g. ``gather``)."""
    starts = [_module_name(p) for p in sorted((REPO / "drac_ssl" / "losses").glob("*.py"))]
    assert "drac_ssl.losses.vicreg" in starts
    reached = _reached(starts)
    assert "drac_ssl.config" in reached  # the walk follows imports (VICRegLossConfig, for typing)
    forbidden = tuple(m for m in TRAINING_MODULES + STAGE_MODULES if m != "drac_ssl.losses")
    chains = []
    for module in sorted(m for m in reached if _is(m, forbidden)):
        chain = [module]
        while via := reached[chain[-1]]:
            chain.append(via)
        chains.append(" <- ".join(chain))
    assert not chains, ("drac_ssl/losses reaches training code (a stage, the engine or the optimiser): "
                        + "; ".join(chains)) + (
        "; fix: pass what the loss needs in as an argument, or move it into a layer the stage imports")


def test_grade_constants_are_defined_once_and_only_defaults() -> None:
    import drac_ssl
    from drac_ssl import scale, submission

    assert drac_ssl.NUM_GRADES == len(drac_ssl.GRADE_NAMES) == len(drac_ssl.PROB_COLUMNS)
    assert submission.SUBMISSION_COLUMNS == ("case", "class", *drac_ssl.PROB_COLUMNS)
    assert scale.submission_columns(3) == submission.SUBMISSION_COLUMNS
    assert scale.submission_columns(5)[-1] == "P4"
    # the modules that grade, score, plot, report, export and serve take K from the data:
    # none of them reads the DRAC constants (docs/design.md)
    for module in ("drac_ssl/metrics.py", "drac_ssl/plots.py", "drac_ssl/report.py",
                   "drac_ssl/compare.py", "drac_ssl/export.py", "drac_ssl/scoring.py",
                   "drac_ssl/grading/bundle.py", "drac_ssl/grading/model_card.py", "drac_ssl/grading/predict.py",
                   "app/predict.py", "app/server.py", "app/inputs.py"):
        text = (REPO / module).read_text(encoding="utf-8")
        for name in ("NUM_GRADES", "GRADE_NAMES", "PROB_COLUMNS"):  # DRAC_PROB_COLUMNS: the exception
            assert not re.search(rf"\b{name}\b", text), f"{module} uses drac_ssl.{name}"


ENTRY_POINTS = ("drac_ssl.train", "drac_ssl.export", "drac_ssl.umm", "drac_ssl.compare")


def test_module_entry_points_still_run() -> None:
    """``python -m MODULE --help`` for each command, run as ``python -m`` runs it (runpy, as
    ``__main__``), in one process: each start pays the torch imports once, not four times."""
    code = (
        "import contextlib, io, runpy, sys\n"
        f"for module in {ENTRY_POINTS!r}:\n"
        "    sys.argv = [module, '--help']\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        "            runpy.run_module(module, run_name='__main__', alter_sys=True)\n"
        "            code = 'no exit'\n"
        "        except SystemExit as stop:\n"
        "            code = stop.code\n"
        "    print(f'=== {module} exit {code}')\n"
        "    print(out.getvalue())\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    sections = proc.stdout.split("=== ")[1:]
    assert [s.split(" exit ", 1)[0] for s in sections] == list(ENTRY_POINTS), proc.stdout[:2000]
    for module, section in zip(ENTRY_POINTS, sections, strict=True):
        assert section.startswith(f"{module} exit 0\n"), section[:500]
        assert f"python -m {module}" in section, section[:500]


def test_bundle_of_another_format_says_how_to_rebuild_it(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle
    from drac_ssl.grading.bundle import BundleError, load_bundle

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    meta_path = bundle / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = "drac_ssl bundle v0"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"(?s)v0.*fix: rebuild.*build_bundle\('RUN', "
                                         r"oof_calibration=oof_calibration_of\('RUN'\)\)"):
        load_bundle(bundle)
