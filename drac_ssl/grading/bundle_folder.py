"""Where a model bundle is, told from paths alone: a bundle folder (``metadata.json`` +
``MODEL_CARD.md``, what the export stage writes) or a run folder holding ``bundle/``.

Standard library only (a run folder's records, read to say why it has no bundle,
:mod:`drac_ssl.run_state`, are read only then): :func:`drac_ssl.grading.bundle.load_bundle` resolves its path here,
and ``python -m app`` does so before torch and gradio load, so a ``--bundle`` that is not
there is said in a fraction of a second (it took 11-16 s of imports on the 2-core
development machine). :class:`BundleError` lives here for that reason;
:mod:`drac_ssl.grading.bundle` re-exports it (one class).
"""

from __future__ import annotations

import os
from pathlib import Path

from drac_ssl.exit_codes import RunBusy  # stdlib only
from drac_ssl.starting import python_command

__all__ = ["BUNDLE_COPY_FIX", "INPUT_SIDES", "BundleBusy", "BundleError", "bundle_folder"]


INPUT_SIDES = (1, 8192)
"""The sides in pixels a bundle's ``input.size`` and ``input.source_size`` may have: from 1 up
to the largest image side grading reads (:class:`drac_ssl.grading.image_file.InputLimits`'s
``max_side``); :func:`drac_ssl.grading.bundle.load_bundle` checks them, ``app.demo_bundle``'s
``--image-size`` / ``--source-size`` take them (here: no torch for its ``--help``)."""


class BundleError(ValueError):
    """A bundle or run folder that cannot be used; the message says why and what to do."""


class BundleBusy(BundleError, RunBusy):
    """A run folder with no bundle yet whose training still runs (a live process holds its
    lock): a BundleError for the callers that refuse one, and a
    :class:`drac_ssl.exit_codes.RunBusy`, which ``python -m drac_ssl.export`` says with exit 75
    (:data:`drac_ssl.exit_codes.RUN_BUSY`: try again later), not 2."""


def bundle_folder(path: str | os.PathLike[str]) -> Path:
    """The bundle folder ``path`` names: ``path`` itself when it holds ``metadata.json`` and
    ``MODEL_CARD.md``, else ``path/bundle`` when that holds ``metadata.json`` (a run folder).
    Reads no file.

    Raises:
        BundleError: ``path`` does not exist (a relative path is said to be read from the
            current folder), lies in a folder this account may not read (a run folder of
            another account, mode 0700: :func:`drac_ssl.io.unreadable_words`), or is neither a bundle nor a run folder with ``bundle/``; the
            message names the fix. For a run folder of ``python -m drac_ssl.train`` whose
            export stage is not done, it says the stage running (the run's lock held by a live
            training: a :class:`BundleBusy`, also a RunBusy) or the stages interrupted, failed
            or not run, and the command that finishes the run
            (:func:`drac_ssl.run_state.unfinished_state`).
    """
    try:
        return _bundle_folder(Path(path))
    except OSError as exc:  # a run folder of another account (mode 0700): whose, and the fix; no traceback
        from drac_ssl.io import unreadable_words  # stdlib only

        raise BundleError(unreadable_words(exc, fix_more=BUNDLE_COPY_FIX)) from None


BUNDLE_COPY_FIX = ("have its owner copy the bundle to a folder your account may read "
                   "(cp -r RUN/bundle DEST && chmod -R a+rX DEST; docs/deploying.md) and pass DEST")
"""The last fix of a bundle in a folder this account may not read (:func:`bundle_folder`; the
export's too)."""


def _bundle_folder(p: Path) -> Path:
    """:func:`bundle_folder` of ``p``; an ``OSError`` of a folder it may not look into is raised."""
    if not p.exists():
        raise BundleError(f"{p}: does not exist.\n  fix: pass RUN or RUN/bundle of a run whose export "
                          f"stage finished (a relative path is read from the current folder, {Path.cwd()})")
    if (p / "metadata.json").is_file() and (p / "MODEL_CARD.md").is_file():
        return p
    if (p / "bundle" / "metadata.json").is_file():
        return p / "bundle"
    from drac_ssl.run_state import unfinished_state  # a run folder's records: only read here

    if (unfinished := unfinished_state(p, "export")) is not None:
        raise BundleError(unfinished.refused(
            f"{p}: a run folder with no model bundle (bundle/) yet: {unfinished.what}.\n  fix: {unfinished.fix}",
            busy=BundleBusy))
    raise BundleError(
        f"{p}: neither a model bundle (metadata.json + MODEL_CARD.md) nor a run folder with "
        f"bundle/.\n  fix: pass RUN or RUN/bundle of a run whose export stage finished (a "
        f"training with export in run.stages, as by default: {python_command('drac_ssl.train')} -c "
        f"configs/drac.yaml data.root=DATA_ROOT)")


def newer_format_words(bundle_dir: Path, found: object, made_by: object, reads: str,
                       version: str) -> str:
    """The error of a bundle whose ``metadata.json`` ``format`` (``found``: ``'drac_ssl bundle
    v3'``) is NEWER than the one this code reads (``reads``: ``'drac_ssl bundle v1'``): it was
    made by drac_ssl ``made_by`` (its ``package_version``), the fix is to upgrade drac_ssl.
    '' for an older or unknown format, whose fix stays a rebuild from its run. An editor's
    review (F2): a v3 bundle got the rebuild command, and pasting it overwrote the newer
    bundle with a v1 one."""
    stem = reads.rsplit("v", 1)[0] + "v"  # "drac_ssl bundle v"
    number = found[len(stem):] if isinstance(found, str) and found.startswith(stem) else ""
    ours = reads[len(stem):]
    if not (number.isascii() and number.isdigit() and ours.isdigit() and int(number) > int(ours)):
        return ""
    maker = f"drac_ssl {made_by}" if isinstance(made_by, str) and made_by else "a newer drac_ssl"
    return (f"{bundle_dir}: this bundle was made by {maker} (format v{int(number)}), and this "
            f"drac_ssl {version} reads v{ours} only.\n  fix: upgrade drac_ssl (a newer checkout or "
            f"wheel of it) to grade with it; leave the bundle as it is")
