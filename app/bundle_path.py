"""Which model bundle the app serves, told from paths alone: ``--bundle`` (a bundle folder
or a run folder holding ``bundle/``, checked by :func:`drac_ssl.grading.bundle_folder.bundle_folder`)
or the newest bundle under ``--runs-dir`` (:func:`find_newest_bundle`).

Standard library only (and PyYAML, :mod:`drac_ssl.config`, for the hint of
:func:`make_bundle_hint` when no bundle is found), so ``python -m app`` says a bundle that is
not there before torch and gradio load (:func:`app.__main__.main`; 11-16 s of imports on the 2-core development
machine). :mod:`app.predict` re-exports :class:`NoBundleError`, :func:`find_newest_bundle`
and :func:`make_bundle_hint`, their home before.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["NoBundleError", "find_newest_bundle", "make_bundle_hint"]


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


def find_newest_bundle(runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """The bundle folder under ``runs_dir`` (``*/bundle`` or ``*/*/bundle``) whose
    ``metadata.json`` is newest; :class:`NoBundleError` with the commands to make one."""
    root = Path(runs_dir)
    found = [p.parent for pattern in ("*/bundle/metadata.json", "*/*/bundle/metadata.json")
             for p in root.glob(pattern) if p.is_file()]
    if not found:
        raise NoBundleError(make_bundle_hint(root))
    return max(found, key=lambda p: (p / "metadata.json").stat().st_mtime)

