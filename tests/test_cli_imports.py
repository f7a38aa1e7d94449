"""Every command answers ``--help`` and its usage errors before it imports torch, matplotlib,
gradio, MONAI, albumentations or scikit-learn: a one-screen answer took 10-25 s of imports on
a loaded 2-core machine. A subprocess per command runs its cases as ``python -m`` runs it (runpy, as
``__main__``), in turn, and says which heavy modules each case loaded (one process per command:
a command that loads torch cannot hide another that would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "matplotlib", "gradio", "monai", "albumentations", "sklearn")

# (module, argv, exit code): --help, a usage error, a missing file where the command checks it
# before any work
CASES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("drac_ssl.train", ("--help",), 0),
    ("drac_ssl.train", ("--threads", "two"), 2),
    ("drac_ssl.train", ("run.bogus=1", "pretrain.lr=nan", "run.stages=[]"), 2),  # config errors
    ("drac_ssl.umm", ("--help",), 0),
    ("drac_ssl.umm", (), 2),
    ("drac_ssl.umm", ("{tmp}/nope.safetensors",), 2),
    ("drac_ssl.umm", ("{tmp}", "--run-dir", "{tmp}/run", "umm.betta=1", "umm.epochs=0"), 2),  # config errors
    ("drac_ssl.export", ("--help",), 0),
    ("drac_ssl.export", ("--grades", "three"), 2),
    ("drac_ssl.export", ("--check", "{tmp}/nope.csv"), 2),
    ("drac_ssl.export", ("--score", "{tmp}/nope.csv", "--labels", "{tmp}/nope_labels.csv"), 2),
    ("drac_ssl.compare", ("--help",), 0),
    ("drac_ssl.compare", (), 2),
    ("drac_ssl.report", (), 2),
    ("drac_ssl.report", ("--help",), 0),
    ("drac_ssl.submission", ("--help",), 0),
    ("drac_ssl.settings_table", ("--help",), 0),
    ("drac_ssl.settings_table", ("--check",), 0),  # docs/configuration.md's table is current
    ("data_prep", ("--help",), 0),
    ("data_prep", ("ingest", "--help"), 0),
    ("data_prep", ("phantom", "--help"), 0),
    ("data_prep", ("flatten", "--help"), 0),
    ("data_prep", ("flatten", "--root", "{tmp}/nope"), 2),
    ("data_prep", ("ingest", "--root", "{tmp}/nope", "--out", "{tmp}/out"), 2),  # no such root
    ("data_prep", ("ingest", "--root", "{tmp}", "--out", "{tmp}/out", "--folds", "1"), 2),
    ("app", ("--help",), 0),
    ("app", ("--bundle", "{tmp}/nope", "--temp-dir", "{tmp}"), 2),  # no such bundle
    ("app", ("--bundle", "{tmp}", "--temp-dir", "{tmp}"), 2),  # a folder that is no bundle
    ("app", ("--runs-dir", "{tmp}/no_runs", "--temp-dir", "{tmp}"), 2),  # no bundle under runs
    ("app.demo_bundle", ("--help",), 0),
    ("app.demo_bundle", (), 2),
)

SAID: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {
    ("drac_ssl.train", ("run.bogus=1", "pretrain.lr=nan", "run.stages=[]")): (
        "3 problem(s)", "unknown setting 'run.bogus'", "'pretrain.lr' is nan, not a finite number",
        "run.stages=[] (command line 'run.stages=[]'): empty: no stage would run", "fix: "),
    ("drac_ssl.umm", ("{tmp}", "--run-dir", "{tmp}/run", "umm.betta=1", "umm.epochs=0")): (
        "2 problem(s) found before the run folder was made", "Did you mean 'umm.beta'?",
        "umm.epochs=0 (command line 'umm.epochs=0'): must be > 0", "fix: umm.epochs="),
    ("data_prep", ("ingest", "--root", "{tmp}/nope", "--out", "{tmp}/out")): (
        "/nope: data root path does not exist (", "-> check the --root path"),
    ("data_prep", ("ingest", "--root", "{tmp}", "--out", "{tmp}/out", "--folds", "1")): (
        "--folds 1: need at least 2 folds for cross-validation -> use --folds 5",),
    ("app", ("--bundle", "{tmp}/nope", "--temp-dir", "{tmp}")): (
        "error: cannot load the bundle ", "/nope: does not exist.\n  fix: pass RUN or RUN/bundle"),
    ("app", ("--bundle", "{tmp}", "--temp-dir", "{tmp}")): (
        "neither a model bundle (metadata.json + MODEL_CARD.md) nor a run folder with bundle/",),
    ("app", ("--runs-dir", "{tmp}/no_runs", "--temp-dir", "{tmp}")): (
        "error: No model bundle found under ", "python -m drac_ssl.train"),
}
"""What a case must say (beyond no traceback): a configuration's errors, every one listed with
its fix, an ingest's root that is not there, an app's bundle that is not there, before torch
(and gradio) load."""

RUNNER = """
import contextlib, io, json, runpy, sys
heavy, cases, results = {heavy!r}, json.loads(sys.argv[1]), []
for module, argv, _ in cases:
    before = {{name for name in heavy if name in sys.modules}}
    sys.argv = [module, *argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = "no exit"
        except SystemExit as stop:
            code = stop.code if stop.code is not None else 0
    loaded = sorted(name for name in heavy if name in sys.modules and name not in before)
    results.append({{"code": code, "loaded": loaded, "out": out.getvalue(), "err": err.getvalue()}})
print(json.dumps(results))
"""


def test_commands_answer_help_and_usage_errors_without_the_heavy_imports(tmp_path: Path) -> None:
    assert {key for key in SAID} <= {(m, argv) for m, argv, _ in CASES}, "a SAID entry of no case"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    problems = []
    for module in dict.fromkeys(m for m, _, _ in CASES):
        cases = [(m, [a.format(tmp=tmp_path) for a in argv], code) for m, argv, code in CASES
                 if m == module]
        proc = subprocess.run([sys.executable, "-c", RUNNER.format(heavy=HEAVY), json.dumps(cases)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = json.loads(proc.stdout.splitlines()[-1])
        # SAID is keyed by the case as written ('{tmp}' unfilled): looked up with the filled-in
        # argv, the umm case's words were never checked
        written = [argv for m, argv, _ in CASES if m == module]
        for (_, argv, code), template, got in zip(cases, written, results, strict=True):
            command, said = f"python -m {module} {' '.join(argv)}", got["out"] + got["err"]
            if got["code"] != code:
                problems.append(f"{command}: exit {got['code']}, not {code}: {said[-300:]}")
            if got["loaded"]:
                problems.append(f"{command}: imported {got['loaded']}")
            if "Traceback" in said or ("--help" in argv and f"python -m {module}" not in said):
                problems.append(f"{command}: said {said[-300:]!r}")
            for words in SAID.get((module, template), ()):
                if words not in said:
                    problems.append(f"{command}: did not say {words!r}: {said[-600:]!r}")
    assert not problems, "\n".join(problems)


CONSOLE_RUNNER = """
import contextlib, importlib, io, json, sys, tomllib
heavy = {heavy!r}
scripts = tomllib.load(open("pyproject.toml", "rb"))["project"]["scripts"]
module, _, name = scripts[sys.argv[1]].partition(":")
sys.argv = [sys.argv[1], *json.loads(sys.argv[2])]
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = getattr(importlib.import_module(module), name)()  # what the installed script runs
    except SystemExit as stop:
        code = stop.code if stop.code is not None else 0
loaded = sorted(n for n in heavy if n in sys.modules)
print(json.dumps({{"code": code, "loaded": loaded, "said": out.getvalue() + err.getvalue()}}))
"""


def test_the_installed_train_command_refuses_a_bad_configuration_before_torch_loads() -> None:
    """``drac-ssl-train`` (the console script of pyproject.toml, which imports its entry and
    calls it: no ``__main__``) takes the same early path as ``python -m drac_ssl.train``: a
    configuration's errors, every one with its fix, exit 2, torch not loaded."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    argv = ["run.bogus=1", "pretrain.lr=nan", "run.stages=[]"]
    proc = subprocess.run([sys.executable, "-c", CONSOLE_RUNNER.format(heavy=HEAVY), "drac-ssl-train",
                           json.dumps(argv)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["code"] == 2, got["said"][-600:]
    assert got["loaded"] == [], got["loaded"]
    for words in SAID[("drac_ssl.train", tuple(argv))]:
        assert words in got["said"], got["said"][-600:]


def test_the_installed_train_command_names_itself_in_its_usage() -> None:
    """A review: drac-ssl-train --help said 'usage: python -m drac_ssl.train', a command the
    user did not run; each spelling now names itself (python -m's is checked above)."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for argv, words in ((["--help"], "usage: drac-ssl-train [-h]"),
                        (["--threads", "two"], "drac-ssl-train: error: argument --threads")):
        proc = subprocess.run([sys.executable, "-c", CONSOLE_RUNNER.format(heavy=HEAVY), "drac-ssl-train",
                               json.dumps(argv)], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        said = json.loads(proc.stdout.splitlines()[-1])["said"]
        assert words in said and "python -m drac_ssl.train [-h]" not in said, said


def test_the_installed_export_report_compare_and_demo_bundle_commands_name_themselves() -> None:
    """The console scripts added for a user who installed the package without the checkout
    (drac-ssl-export, -report, -compare, -demo-bundle) answer --help in their own name and a
    usage error with exit 2, before torch loads, as python -m does."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for script, argv, code in (("drac-ssl-export", ["--help"], 0), ("drac-ssl-export", ["--grades", "three"], 2),
                               ("drac-ssl-report", ["--help"], 0), ("drac-ssl-report", [], 2),
                               ("drac-ssl-compare", ["--help"], 0), ("drac-ssl-compare", [], 2),
                               ("drac-ssl-demo-bundle", ["--help"], 0)):
        proc = subprocess.run([sys.executable, "-c", CONSOLE_RUNNER.format(heavy=HEAVY), script,
                               json.dumps(argv)], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = json.loads(proc.stdout.splitlines()[-1])
        assert got["code"] == code and got["loaded"] == [], (script, argv, got)
        assert f"usage: {script} [-h]" in got["said"] and " -m " not in got["said"].split("\n")[0], got


def test_the_installed_ingest_and_app_commands_refuse_a_path_that_is_not_there_before_torch_loads(
        tmp_path: Path) -> None:
    """``drac-ssl-ingest ingest --root NOPE`` and ``drac-ssl-app --bundle NOPE`` (the console
    scripts, no ``__main__``) said so after the thread policy had imported torch (3-5 s here),
    and the app after gradio too (11-16 s): exit 2 with the same words, nothing heavy loaded."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for script, module, argv in (
            ("drac-ssl-ingest", "data_prep", ("ingest", "--root", "{tmp}/nope", "--out", "{tmp}/out")),
            ("drac-ssl-app", "app", ("--bundle", "{tmp}/nope", "--temp-dir", "{tmp}"))):
        args = [a.format(tmp=tmp_path) for a in argv]
        proc = subprocess.run([sys.executable, "-c", CONSOLE_RUNNER.format(heavy=HEAVY), script,
                               json.dumps(args)], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = json.loads(proc.stdout.splitlines()[-1])
        assert got["code"] == 2, (script, got["said"][-600:])
        assert got["loaded"] == [], (script, got["loaded"])
        for words in SAID[(module, argv)]:
            assert words in got["said"], (script, got["said"][-600:])
