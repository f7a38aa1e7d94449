"""The files of a run folder: what each is and whether it can be deleted, in one table.

:data:`RUN_FILES` is the one place these words live. report.md ends with the entries the
run folder holds (:func:`files_section`: "Files in this folder"), so a run folder handed on
without the repository still explains its files; docs/running.md's annotated tree ("The run
folder explains itself") describes the same entries at length, and
``tests/drac_ssl/test_run_files.py`` fails when the two name different entries.

An entry's ``name`` is written as the docs tree writes it, relative to the run folder: a
folder ends in ``/``; ``<variant>``, ``<i>`` and ``<size>`` stand for any name (``*`` of a
glob). Sizes are apparent file sizes in MiB (2**20 bytes); a hard-linked file (the bundle's
and ``run.reuse``'s weights) counts under every entry that holds it, once in the total. The
table writes commands as the docs do (``python -m``); report.md names the interpreter as its
other commands do (:func:`drac_ssl.starting.python_command`, ``in_file``).
Stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from drac_ssl import PRETRAIN_METHOD
from drac_ssl.starting import python_word  # stdlib only

__all__ = ["RUN_FILES", "RunFile", "files_section", "held", "mib"]

MIB = 2 ** 20
SHOWN_FROM_MIB = 1.0
"""An entry's size is printed from this many MiB on (checkpoints, weights, the ingest cache):
a size of a few KiB helps nobody decide what to delete."""

KEEP = "Keep"
"""How a ``delete`` text opens when the file is needed (what reads it follows)."""


@dataclass(frozen=True)
class RunFile:
    """One entry of a run folder. ``name``: as docs/running.md's tree writes it (a folder
    ends in ``/``; ``<variant>``, ``<i>``, ``<size>`` match any name). ``what``: one line,
    what it is. ``delete``: one line, whether it can be deleted without losing the results
    (opens with :data:`KEEP`, or "Can be deleted" and when). ``until_finished``: deletable only
    once every stage of the run has finished (an interrupted stage resumes from it)."""

    name: str
    what: str
    delete: str
    until_finished: bool = False

    @property
    def pattern(self) -> str:
        """The glob of ``name`` relative to the run folder (placeholders -> ``*``, no ``/`` at the end)."""
        return re.sub(r"<[a-z]+>", "*", self.name).rstrip("/")

    def above(self, names: set[str]) -> str:
        """The nearest folder above it among ``names`` (``finetune/<variant>/oof.csv`` ->
        ``finetune/``); '' when none (a top-level entry)."""
        head = self.name.rstrip("/")
        while "/" in head:
            head = head.rpartition("/")[0]
            if head + "/" in names:
                return head + "/"
        return ""


_RERUN = "a rerun of the same command"
RUN_FILES: tuple[RunFile, ...] = (
    RunFile("config.yaml", "The resolved configuration: every setting the run was made with.",
            f"{KEEP}: {_RERUN} and `run.reuse` compare their settings with it, and report.md's "
            "configuration section reads it."),
    RunFile("environment.json", "Versions, device, git commit and command of the invocation that made the run.",
            f"{KEEP}: report.md's first lines and its warning of mixed library builds read it."),
    RunFile("code.patch", "The uncommitted changes (`git diff HEAD --binary`) of the checkout that made the run, "
            "verbatim (whatever the edits hold: check it before sharing the run folder).",
            "Can be deleted: nothing reads it; without it a dirty run cannot be remade exactly "
            "(`git checkout <git_commit_full> && git apply code.patch`)."),
    RunFile("stages.json", "Which stages finished, when, in how many seconds, what they wrote and on which code.",
            f"{KEEP}: without it {_RERUN} takes no stage for finished and runs them again."),
    RunFile("invocations.jsonl", "Every command run on this folder, one line each, and how it ended.",
            f"{KEEP}: the command that finishes an unfinished run, and report.md's provenance, come from it."),
    RunFile(".train.lock", "The lock one command at a time holds on this folder (a line naming the holder).",
            "Can be deleted when no command runs on the folder; the next command makes it again."),
    RunFile("console.log", "What `python -m drac_ssl.train` printed, one block per invocation.",
            "Can be deleted: a log only, nothing reads it."),
    RunFile("data/", "The ingest: manifest.csv (one row per image), ingest_summary.json, the cache.",
            f"{KEEP}: every later stage, {_RERUN} and `run.reuse` read the manifest."),
    RunFile("data/cache/", "The decoded images at each cached size (<size>px.npy) and state.json.",
            "Can be deleted without losing a result (report.md, the bundle and the submission stay), "
            f"but then {_RERUN} and a `run.reuse` of this run are refused (the ingest would be "
            "incomplete), and `python -m drac_ssl.export RUN --variant NAME` cannot grade the test images."),
    RunFile("pretrain/", f"The {PRETRAIN_METHOD} pretraining: backbone.safetensors, vicreg_model.safetensors, "
                         "metrics, plots.",
            f"{KEEP}: fine-tuning starts from backbone.safetensors and UMM from vicreg_model.safetensors; "
            f"{_RERUN} checks both are there."),
    RunFile("pretrain/checkpoints/", "Optimiser states of the last, best and monitor-peak epochs "
                                     "(last.pt, best.pt, monitor_peak.pt) and last.json, what last.pt "
                                     "holds (read without torch to say what a killed run saved).",
            "Can be deleted once every stage has finished (`run.keep_checkpoints=false` does it): "
            f"only an interrupted pretraining resumes from them; {_RERUN} and a `run.reuse` still work, "
            "except a UMM that starts from them (`umm.start_from=last|peak|past_peak`, here or "
            "through `run.reuse`; the default `best` reads pretrain/vicreg_model.safetensors).",
            until_finished=True),
    RunFile("pretrain/tensorboard/", "The pretraining's epoch metrics as TensorBoard scalars (run.tensorboard=true).",
            "Can be deleted: pretrain/metrics.csv holds the same figures."),
    RunFile("umm/", "The UMM stage: backbone.safetensors, vicreg_model.safetensors, the settings it "
                    "ran with, metrics, plots.",
            f"{KEEP}: the vicreg_umm fine-tuning starts from umm/backbone.safetensors; {_RERUN} checks it."),
    RunFile("umm/checkpoints/", "UMM's optimiser state of its last epoch (last.pt) and what it "
                                "holds (last.json).",
            "Can be deleted once every stage has finished (`run.keep_checkpoints=false` does it): "
            f"only an interrupted UMM resumes from it; {_RERUN} and a `run.reuse` still work.",
            until_finished=True),
    RunFile("umm/tensorboard/", "UMM's epoch metrics as TensorBoard scalars (run.tensorboard=true).",
            "Can be deleted: umm/metrics.csv holds the same figures."),
    RunFile("finetune/", "The cross-validated fine-tuning, one folder per variant, and the variants' "
                         "comparison (comparison.csv, summary.json: the variant chosen for the bundle).",
            f"{KEEP}: these are the results; report.md and `python -m drac_ssl.compare` read them."),
    RunFile("finetune/<variant>/fold<i>.safetensors", "The fine-tuned weights of one fold model "
                                                      "(fold<i>.json beside it: its epochs).",
            f"{KEEP}: the bundles are built from them, and {_RERUN} checks every one is there."),
    RunFile("finetune/<variant>/oof.csv", "Out-of-fold predictions: each labelled image graded by the "
                                          "fold model that did not train on it.",
            f"{KEEP}: the cross-validated figures, confusion matrices, ROC curves and paired "
            "differences of report.md come from it."),
    RunFile("finetune/<variant>/calibration.json", "The temperature and grade thresholds fitted on the "
                                                   "out-of-fold outputs.",
            f"{KEEP}: a bundle grades with them."),
    RunFile("bundle/", "The model bundle the app and `python -m drac_ssl.export` load: fold weights, "
                       "metadata.json, input_profile.npz, MODEL_CARD.md.",
            f"{KEEP}: it is the model. Its weights are hard links to finetune/'s (where the file "
            "system allows), so deleting either frees nothing while the other stays."),
    RunFile("bundles/<variant>/", "A variant's bundle exported by name (`python -m drac_ssl.export RUN --variant NAME`).",
            "Can be deleted: the same command builds it again from the fold weights."),
    RunFile("export/", "The export: summary.json (bundle, variant, decision, notes) and the submissions.",
            f"{KEEP}: summary.json says how the submission was made."),
    RunFile("export/submission.csv", "The test images graded by the bundle (case, class, P0..): the file to submit.",
            f"{KEEP}: it is the result to submit."),
    RunFile("export/submission_notes.csv", "Written when some test image is not reliably gradable (unlike "
                                           "the training images, blank, random noise ...), and always for "
                                           "a regression head: per case, why "
                                           "(case, class, not_reliably_gradable, training_image, grade_note, bundle: which "
                                           "bundle graded, pretraining_image, grade_name: the class in the "
                                           "bundle's grade names, score: what the thresholds cut into the "
                                           "class).",
            f"{KEEP}: it says which rows of the submission to doubt; `python -m drac_ssl.export --score` "
            "reads it."),
    RunFile("export/submission_provenance.json", "Which model graded submission.csv and how: the bundle "
                                                 "(its metadata.json's SHA-256, variant, commits), the drac_ssl "
                                                 "version, the command, the CSV's SHA-256, the caveats "
                                                 "(submission_<variant>_provenance.json beside a --variant one).",
            f"{KEEP}: submission.csv has no room for a model's name; `python -m drac_ssl.export --check "
            "export/submission.csv` warns when it records another CSV (one edited since)."),
    RunFile("report.md", "This report.",
            f"{KEEP}: `python -m drac_ssl.report RUN` writes it again from the run's files."),
    RunFile("report/", "The report's own figures, drawn from the fine-tuning's files (made only when "
                       "the run fine-tuned).",
            "Can be deleted: `python -m drac_ssl.report RUN` draws them again."),
    RunFile("bench/", "Result files of a bench run on this run's backbone (report.md's next step for a "
                      "run without fine-tuning: `--out-dir RUN/bench`).",
            "Can be deleted: the bench command writes them again."),
)
"""Every entry a run folder can hold, in the order report.md lists them (see :class:`RunFile`)."""


def held(run_dir: Path, entry: RunFile) -> list[Path]:
    """The paths of ``run_dir`` that ``entry`` names (a folder only as a folder, a file only
    as a file), sorted; [] when the run folder holds none."""
    want_dir = entry.name.endswith("/")
    return sorted(p for p in run_dir.glob(entry.pattern)
                  if (p.is_dir() if want_dir else p.is_file()) and not p.is_symlink())


def mib(paths: list[Path]) -> float:
    """Apparent size of ``paths`` (files, and every file under a folder) in MiB, a file with
    several hard links among them counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in paths:
        for file in ([path] if path.is_file() else path.rglob("*")):
            if file.is_file() and not file.is_symlink():
                st = file.stat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    return total / MIB


FIGURE_KINDS = (("_confusion.png", "confusion matrices"), ("_roc.png", "ROC curves"),
                ("_val_qwk.png", "validation-kappa curves"), ("_inner_qwk.png", "inner-split-kappa curves"),
                ("comparison.png", "the variants' comparison"))
"""The figures report.md draws into ``report/``, by how their file names end, as the files
list names them."""


def figure_kinds(folder: Path) -> str:
    """What ``folder`` (a run's ``report/``) holds, in words: the kinds of
    :data:`FIGURE_KINDS` found there, in that order, then any other files counted
    (``confusion matrices, ROC curves, the variants' comparison``); ``empty`` when it holds no file."""
    files = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    kinds = [words for end, words in FIGURE_KINDS if any(name.endswith(end) for name in files)]
    other = [name for name in files if not any(name.endswith(end) for end, _ in FIGURE_KINDS)]
    if other:
        kinds.append(f"{len(other)} other file(s)")
    return ", ".join(kinds) or "empty"


def _commands(text: str) -> str:
    """``text`` (the table's words, as docs/running.md writes them: `` `python -m drac_ssl.report
    RUN` ``) with each command's interpreter as report.md names it, a file read later
    (:func:`drac_ssl.starting.python_command`, ``in_file``: `` `.venv/bin/python -m
    drac_ssl.report RUN` `` when the venv was not active)."""
    return text.replace("`python -m ", f"`{python_word(in_file=True)} -m ")


def _line(run_dir: Path, entry: RunFile, paths: list[Path], finished: bool) -> str:
    """One list item: the name, what of it is here (the variants of a ``<variant>`` entry,
    the number of ``<i>`` files), its size from :data:`SHOWN_FROM_MIB`, what it is, and
    whether it can be deleted (for ``until_finished``, said against this run's state)."""
    notes: list[str] = []
    if "<variant>" in entry.name:
        notes.append(", ".join(sorted({p.relative_to(run_dir).parts[1] for p in paths})))
    if len(paths) > 1 and "<i>" in entry.name:
        notes.append(f"{len(paths)} files")
    if entry.name == "report/":  # what this run's holds, not every figure a report can draw
        notes.append(figure_kinds(paths[0]))
    size = mib(paths)
    if size >= SHOWN_FROM_MIB:
        notes.append(f"{size:.1f} MiB")
    delete = entry.delete
    if entry.until_finished:
        delete += (" This run has finished." if finished else
                   " This run has not finished: keep them until it has.")
    shown = f"`{entry.name}`" + (f" ({'; '.join(notes)})" if notes else "")
    return f"- {shown}: {_commands(entry.what)} {_commands(delete)}"


def files_section(run_dir: Path, finished: bool) -> list[str]:
    """report.md's "Files in this folder": each entry of :data:`RUN_FILES` that ``run_dir``
    holds, one line each (an entry inside another indented under it). ``finished``: every stage of the run is done (the checkpoints can
    go only then)."""
    lines = ["## Files in this folder", "",
             "What each file of this run folder is, and whether it can be deleted without losing "
             f"the results (sizes from {SHOWN_FROM_MIB:g} MiB on; the whole folder: "
             f"{mib(list(run_dir.iterdir())):.1f} MiB, a hard-linked file counted once).", ""]
    names = {e.name for e in RUN_FILES}
    shown: set[str] = set()
    for entry in RUN_FILES:
        paths = held(run_dir, entry)
        if entry.name == "report.md":  # the report being written lists itself, there or not yet
            paths = [run_dir / entry.name]
        if not paths:
            continue
        indent = "  " if entry.above(names) in shown else ""
        lines.append(indent + _line(run_dir, entry, paths, finished))
        shown.add(entry.name)
    return lines + [""]
