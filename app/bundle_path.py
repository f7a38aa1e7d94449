"""Which model bundle the app serves, told from paths alone: ``--bundle`` (a bundle folder
or a run folder holding ``bundle/``, checked by :func:`drac_ssl.grading.bundle_folder.bundle_folder`)
or the newest bundle under ``--runs-dir`` (:func:`find_newest_bundle`, of :func:`find_bundles`),
which the app then says it chose, of how many, and how to choose another
(:func:`chosen_bundle_words`: a trial user served a trial run's bundle, the newest, instead of
the full run's without a word of it).

Standard library only (and PyYAML, :mod:`drac_ssl.config`, for the hint of
:func:`make_bundle_hint` when no bundle is found), so ``python -m app`` says a bundle that is
not there before torch and gradio load (:func:`app.__main__.main`; 11-16 s of imports on the 2-core development
machine). :mod:`app.predict` re-exports :class:`NoBundleError`, :func:`find_newest_bundle`
and :func:`make_bundle_hint`, their home before.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SHOWN_OTHERS", "NoBundleError", "chosen_bundle_words", "find_bundles", "find_newest_bundle",
           "make_bundle_hint"]

SHOWN_OTHERS = 3
"""The other bundles :func:`chosen_bundle_words` names, at most (then "and N more")."""


class NoBundleError(FileNotFoundError):
    """No model bundle where one was expected; the message says how to make one."""


def make_bundle_hint(runs_dir: Path, command: str | None = None) -> str:
    """The commands that produce a bundle (and one for an untrained demo bundle), the app's
    own named ``command`` (default: as it was run, ``drac-ssl-app`` or ``python -m app``:
    :func:`drac_ssl.starting.command_name`, as its ``--help`` does). The training commands are
    those that run in this install: where the package's configs are (a checkout, an editable
    install, an install's ``drac_ssl/configs``) the no-argument demo, ``-c drac`` the DRAC config
    and ``-c fundus`` the colour fundus config (when it is there), by name from any folder
    (:func:`drac_ssl.config.shipped_config_word`; by path where a file in the current folder
    takes the name); where they are not (an install
    that lost them, whose train command refuses to run without ``-c``), ``-c FILE`` with a
    config file of one's own, and why."""
    from drac_ssl.config import (  # PyYAML, no torch
        NO_CONFIGS_FIX,
        NO_CONFIGS_WHY,
        PACKAGE_CONFIGS,
        shipped_config_word,
    )
    from drac_ssl.starting import (  # stdlib only: no training code for the app
        command_name,
        python_command,
    )

    app = command or command_name("drac-ssl-app", "app")
    drac = shipped_config_word("drac.yaml")
    fundus = shipped_config_word("fundus.yaml")
    stages = "data.root=/path/to/DRAC run.stages=[ingest,pretrain,umm,finetune,export]"
    if drac is not None:
        demo = (f"  {python_command('drac_ssl.train')}   # CPU demo on phantom data, all stages\n"
                if (PACKAGE_CONFIGS / "default.yaml").is_file() else "")
        train = f"{demo}  {python_command('drac_ssl.train')} -c {drac} {stages}\n"
        if fundus is not None:  # colour fundus photographs: a plain folder + label CSV, APTOS, IDRiD ...
            train += (f"  {python_command('drac_ssl.train')} -c {fundus} "
                      f"data.root=/path/to/photos data.fundus_crop=true   # colour fundus "
                      f"photographs (docs/own_fundus_folder.md)\n")
    else:
        train = (f"  {python_command('drac_ssl.train')} -c FILE {stages}\n"
                 f"  ({NO_CONFIGS_WHY}: FILE is a config file of your own, e.g. a copy of the "
                 f"DRAC recipe, configs/drac.yaml of the drac_ssl checkout; or {NO_CONFIGS_FIX})\n")
    return (
        f"No model bundle found under {runs_dir}/ (a bundle is RUN/bundle/metadata.json).\n"
        f"If your runs are elsewhere (run.out_dir=...): {app} --runs-dir THAT_FOLDER, "
        f"or {app} --bundle THAT_FOLDER/NAME/bundle\n"
        f"Otherwise make one with the pipeline, e.g.\n"
        f"{train}"
        f"then serve it:  {app} --bundle runs/NAME/bundle\n"
        f"(or, to try the interface only, an untrained demo bundle: "
        f"{python_command('app.demo_bundle')} runs/demo && {app} --bundle runs/demo/bundle)")


def find_bundles(runs_dir: str | os.PathLike[str] = "runs") -> list[Path]:
    """Every bundle folder under ``runs_dir`` (``*/bundle`` or ``*/*/bundle`` holding a
    ``metadata.json``), the newest first: by the modification time of its ``metadata.json``
    (written last when a bundle is built), ties by path; [] for none."""
    root = Path(runs_dir)
    found = [p.parent for pattern in ("*/bundle/metadata.json", "*/*/bundle/metadata.json")
             for p in root.glob(pattern) if p.is_file()]
    return sorted(sorted(found), key=_written, reverse=True)


def find_newest_bundle(runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """The bundle folder under ``runs_dir`` (``*/bundle`` or ``*/*/bundle``) whose
    ``metadata.json`` is newest (:func:`find_bundles`); :class:`NoBundleError` with the
    commands to make one."""
    found = find_bundles(runs_dir)
    if not found:
        raise NoBundleError(make_bundle_hint(Path(runs_dir)))
    return found[0]


def _written(bundle: Path) -> float:
    """When ``bundle``'s ``metadata.json`` was last written (seconds since the epoch)."""
    return (bundle / "metadata.json").stat().st_mtime


def _when(bundle: Path) -> str:
    """``bundle``'s :func:`_written` as local ``YYYY-MM-DD HH:MM``."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(_written(bundle)))


_NOT_FOR_GRADING = {
    "trial": "a trial run's (its training was cut short: its grades check that the pipeline runs, "
             "not how well it grades)",
    "demo": "an untrained demo bundle (its grades mean nothing)",
    "phantom": "trained on phantom images (its grades say nothing about a real eye)",
}
"""How :func:`chosen_bundle_words` says a chosen bundle of each kind of :func:`_bundle_kind`
that is not a model to grade with."""


def _bundle_kind(bundle: Path) -> str | None:
    """What ``bundle``'s ``metadata.json`` says it is: ``demo`` (an untrained demo bundle),
    ``phantom`` (trained on phantom images), ``trial`` (a trial run:
    :func:`drac_ssl.trial_run.trial_run_words`), ``full`` (its run recorded as not a trial);
    None when it cannot be told (no ``trial_run`` record: a bundle built before it; a file
    that cannot be read)."""
    from drac_ssl.trial_run import trial_run_words  # stdlib and PyYAML: no training code

    try:
        meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if meta.get("demo"):
        return "demo"
    if isinstance(meta.get("data"), dict) and meta["data"].get("kind") == "phantom":
        return "phantom"
    record = meta.get("trial_run")
    if trial_run_words(record):
        return "trial"
    return "full" if isinstance(record, dict) and record.get("trial") is False else None


def chosen_bundle_words(found: Sequence[Path], runs_dir: str | os.PathLike[str]) -> tuple[str, str]:
    """What ``python -m app`` says when no ``--bundle`` was given and it serves ``found[0]``,
    the newest of the bundles :func:`find_bundles` found under ``runs_dir`` (``found``, newest
    first, not empty): a note and a warning ('' for none).

    The note says which bundle it serves, that it is the newest of how many (by when its
    ``metadata.json`` was written, with that time), names up to :data:`SHOWN_OTHERS` of the
    others ("and N more") and that ``--bundle PATH`` serves another; of a single bundle, that
    it is the only one. The warning, when the chosen bundle is not a model to grade with (a
    trial run's, an untrained demo bundle, trained on phantom images: :func:`_bundle_kind`)
    while an older one comes from a full training run, names the newest of those and the
    ``--bundle`` that serves it. A bundle whose kind cannot be told (built before the bundle
    recorded ``trial_run``) is neither flagged nor offered."""
    chosen, others = found[0], list(found[1:])
    where = f"{Path(runs_dir).as_posix().rstrip('/')}/"
    if not others:
        return (f"no --bundle given: serving {chosen}, the only bundle under {where} "
                f"(--bundle PATH serves another)", "")
    shown = ", ".join(f"{b} ({_when(b)})" for b in others[:SHOWN_OTHERS])
    more = f" and {len(others) - SHOWN_OTHERS} more" if len(others) > SHOWN_OTHERS else ""
    kind = _bundle_kind(chosen)
    full = [b for b in others if _bundle_kind(b) == "full"] if kind in _NOT_FOR_GRADING else []
    example = full[0] if full else others[0]
    note = (f"no --bundle given: serving {chosen}, the newest of {len(found)} bundles under {where} "
            f"(by when its metadata.json was written, {_when(chosen)}); the others, newest first: "
            f"{shown}{more}. To serve another: --bundle PATH, e.g. --bundle {example}")
    if not full:
        return note, ""
    which = (f"{full[0]} ({_when(full[0])}) comes" if len(full) == 1 else
             f"{len(full)} older bundles come, the newest {full[0]} ({_when(full[0])}),")
    return note, (f"{chosen}, served as the newest, is {_NOT_FOR_GRADING[str(kind)]}, while {which} "
                  f"from a full training run: to serve it, --bundle {full[0]}")
