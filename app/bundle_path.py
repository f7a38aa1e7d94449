"""Which model bundle the app serves, told from paths alone: ``--bundle`` (a bundle folder
or a run folder holding ``bundle/``, checked by :func:`drac_ssl.grading.bundle_folder.bundle_folder`)
or the newest bundle under ``--runs-dir`` (:func:`run_bundles`, :func:`find_newest_bundle`,
:func:`find_bundles`), which the app then says it chose, of how many, and how to choose another
(:func:`chosen_bundle_words`: a trial user served a trial run's bundle, the newest, instead of
the full run's without a word of it). Each bundle's ``metadata.json`` (which may hold long
lists of SHA-256 hashes) is read once, into a :class:`RunBundle` of what the choice and its
words need.

Standard library only (with :mod:`drac_ssl.io`'s JSON reader, stdlib too, and PyYAML,
:mod:`drac_ssl.config`, for the hint of
:func:`make_bundle_hint` when no bundle is found), so ``python -m app`` says a bundle that is
not there before torch and gradio load (:func:`app.__main__.main`; 11-16 s of imports on the 2-core development
machine). :mod:`app.predict` re-exports :class:`NoBundleError`, :func:`find_newest_bundle`
and :func:`make_bundle_hint`, their home before.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drac_ssl.io import read_json_dict  # stdlib only

__all__ = ["SHOWN_OTHERS", "NoBundleError", "RunBundle", "chosen_bundle_words", "find_bundles",
           "find_newest_bundle", "make_bundle_hint", "run_bundles"]

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
    # a --runs-dir not there said so (a CLI review: "No model bundle found under nope/" alone
    # read as if the folder were searched), from the folder a relative one is read from
    where = (" (" if runs_dir.is_dir() else
             ": that is a file, not a folder (" if runs_dir.exists() else
             f": that folder does not exist (read from the current folder, {Path.cwd()}; "
             if not runs_dir.is_absolute() else ": that folder does not exist (")
    return (
        f"No model bundle found under {runs_dir}/{where}a bundle is RUN/bundle/metadata.json).\n"
        f"If your runs are elsewhere (run.out_dir=...): {app} --runs-dir THAT_FOLDER, "
        f"or {app} --bundle THAT_FOLDER/NAME/bundle\n"
        f"Otherwise make one with the pipeline, e.g.\n"
        f"{train}"
        f"then serve it:  {app} --bundle runs/NAME/bundle\n"
        f"(or, to try the interface only, an untrained demo bundle: "
        f"{python_command('app.demo_bundle')} runs/demo && {app} --bundle runs/demo/bundle)")


def _bundle_paths(root: Path) -> list[Path]:
    """Every ``*/bundle`` and ``*/*/bundle`` folder under ``root`` holding a ``metadata.json``,
    as found (a folder reached through a symbolic link too), in path order."""
    return sorted(p.parent for pattern in ("*/bundle/metadata.json", "*/*/bundle/metadata.json")
                  for p in root.glob(pattern) if p.is_file())


def _link_under(bundle: Path, root: Path) -> Path | None:
    """The first symbolic link on the way from ``root`` to ``bundle`` (``runs/latest`` of
    ``runs/latest/bundle`` when ``runs/latest -> resume7``), None when there is none."""
    at = root
    for part in bundle.relative_to(root).parts:
        at = at / part
        if at.is_symlink():
            return at
    return None


def _same_bundles(root: Path) -> dict[Path, list[Path]]:
    """The bundles under ``root`` (:func:`_bundle_paths`), one name each: paths that lead to
    the same folder (:meth:`pathlib.Path.resolve`: ``runs/latest -> resume7`` gives
    ``runs/latest/bundle`` and ``runs/resume7/bundle``) are one bundle, named by the path that
    goes through no symbolic link (else the first by name), with the symbolic links of the
    others (``[runs/latest]``) as its other names."""
    groups: dict[Path, list[Path]] = {}
    for path in _bundle_paths(root):
        groups.setdefault(path.resolve(), []).append(path)
    named: dict[Path, list[Path]] = {}
    for paths in groups.values():
        kept, *others = sorted(paths, key=lambda p: (_link_under(p, root) is not None, str(p)))
        named[kept] = [_link_under(p, root) or p for p in others]
    return named


@dataclass(frozen=True)
class RunBundle:
    """A run bundle found under ``--runs-dir`` and what its ``metadata.json`` says that
    :func:`chosen_bundle_words` needs, read once (:func:`_read_run_bundle`). Hashable (a set
    or dict key): equal when every field is, hashed by all but :attr:`task`, a dict."""

    path: Path  # RUN/bundle (or RUN/SUB/bundle), by the name that goes through no symbolic link
    also: tuple[Path, ...]  # its other names: the symbolic links to its run (runs/latest), :func:`_same_bundles`
    created_utc: str | None  # the recorded build time as written, None when there is none that is a time
    # when it was built, in seconds since the epoch: its recorded created_utc, which a copy
    # (cp -r, scp, a git checkout) keeps, else metadata.json's modification time (written
    # last when a bundle is built), which a copy resets
    built: float
    written: float | None  # metadata.json's modification time, read only without created_utc
    kind: str | None  # demo, phantom, trial or full (:func:`_bundle_kind`); None: cannot be told
    # what it grades (:func:`_task`); compared, but left out of the hash (a dict has none)
    task: dict[str, Any] = field(hash=False)

    @property
    def built_words(self) -> str:
        """How the note says :attr:`built`: ``built 2025-03-01T10:20:00+00:00`` (the recorded
        ``created_utc`` as written), or, without one, ``metadata.json written 2025-03-01 11:20``
        (local time: no build time recorded, and a copy resets it)."""
        if self.created_utc is not None:
            return f"built {self.created_utc}"
        mtime = time.localtime(self.written)
        return f"metadata.json written {time.strftime('%Y-%m-%d %H:%M', mtime)}, no build time recorded"


def _read_run_bundle(path: Path, also: Sequence[Path]) -> RunBundle:
    """The :class:`RunBundle` of the bundle folder ``path`` (other names ``also``), its
    ``metadata.json`` read once; the file's modification time is read only when it records no
    build time (OSError, FileNotFoundError, when the file is gone by then)."""
    meta = _metadata(path)
    created = _created(meta)
    if created is not None:
        built, written = created.timestamp(), None
    else:
        written = (path / "metadata.json").stat().st_mtime
        built = written
    return RunBundle(path=path, also=tuple(also),
                     created_utc=None if created is None else str(meta["created_utc"]),
                     built=built, written=written, kind=_bundle_kind(meta), task=_task(meta))


def _survey(root: Path) -> list[RunBundle]:
    """The run bundles under ``root``, each once (:func:`_same_bundles`) and read once, the
    newest first (:attr:`RunBundle.built`), ties by path."""
    names = _same_bundles(root)
    found = [_read_run_bundle(path, names[path]) for path in sorted(names)]
    return sorted(found, key=lambda bundle: bundle.built, reverse=True)


def run_bundles(runs_dir: str | os.PathLike[str] = "runs") -> list[RunBundle]:
    """Every run bundle under ``runs_dir`` as :func:`find_bundles` finds them, the newest
    first, each with what its ``metadata.json`` says (:class:`RunBundle`, the file read once);
    :class:`NoBundleError` with the commands to make one (:func:`make_bundle_hint`) when
    there is none."""
    found = _survey(Path(runs_dir))
    if not found:
        raise NoBundleError(make_bundle_hint(Path(runs_dir)))
    return found


def find_bundles(runs_dir: str | os.PathLike[str] = "runs") -> list[Path]:
    """Every run bundle under ``runs_dir`` (``*/bundle`` or ``*/*/bundle`` holding a
    ``metadata.json``; not a variant's ``RUN/bundles/NAME``), each once (a run reached through a
    symbolic link as well, ``runs/latest -> resume7``, is counted under its own name:
    :func:`_same_bundles`), the newest first: by when it was built (:attr:`RunBundle.built`:
    its ``metadata.json``'s ``created_utc``, else the file's modification time), ties by path
    (the first by name is chosen); [] for none."""
    return [bundle.path for bundle in _survey(Path(runs_dir))]


def find_newest_bundle(runs_dir: str | os.PathLike[str] = "runs") -> Path:
    """The bundle folder under ``runs_dir`` (``*/bundle`` or ``*/*/bundle``) built last
    (:func:`run_bundles`); :class:`NoBundleError` with the commands to make one."""
    return run_bundles(runs_dir)[0].path


def _metadata(bundle: Path) -> dict[str, Any]:
    """``bundle``'s ``metadata.json`` as a dict; {} when it cannot be read or is not an object."""
    return read_json_dict(bundle / "metadata.json") or {}


def _created(meta: dict[str, Any]) -> _dt.datetime | None:
    """When a bundle was built: its ``metadata.json``'s (``meta``) ``created_utc`` (ISO 8601,
    written by :func:`drac_ssl.grading.bundle.build_bundle`; one without a zone read as UTC),
    None when it records none or one that is not a time."""
    text = meta.get("created_utc")
    try:
        when = _dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return when if when is None or when.tzinfo else when.replace(tzinfo=_dt.UTC)


_NOT_FOR_GRADING = {
    "trial": "a trial run's (its training was cut short: its grades check that the pipeline runs, "
             "not how well it grades)",
    "demo": "an untrained demo bundle (its grades mean nothing)",
    "phantom": "trained on phantom images (its grades say nothing about a real eye)",
}
"""How :func:`chosen_bundle_words` says a chosen bundle of each kind of :func:`_bundle_kind`
that is not a model to grade with."""


def _bundle_kind(meta: dict[str, Any]) -> str | None:
    """What a bundle's ``metadata.json`` (``meta``) says it is: ``demo`` (an untrained demo bundle),
    ``phantom`` (trained on phantom images), ``trial`` (a trial run:
    :func:`drac_ssl.trial_run.trial_run_words`), ``full`` (its run recorded as not a trial);
    None when it cannot be told (no ``trial_run`` record: a bundle built before it; a file
    that cannot be read)."""
    from drac_ssl.trial_run import trial_run_words  # stdlib and PyYAML: no training code

    if not meta:
        return None
    if meta.get("demo"):
        return "demo"
    if isinstance(meta.get("data"), dict) and meta["data"].get("kind") == "phantom":
        return "phantom"
    record = meta.get("trial_run")
    if trial_run_words(record):
        return "trial"
    return "full" if isinstance(record, dict) and record.get("trial") is False else None


def _task(meta: dict[str, Any]) -> dict[str, Any]:
    """What a bundle grades, as far as its ``metadata.json`` (``meta``) records it (None where
    it does not): its grades (``class_names``), the channels of its input (``input.channels``: 1 grey,
    3 colour) and the kind of image (``data.modality``: ``octa`` or ``fundus``; not
    ``data.kind``, which tells phantom stand-ins from the DRAC images they stand in for)."""
    names = meta.get("class_names")
    channels = (meta.get("input") or {}).get("channels") if isinstance(meta.get("input"), dict) else None
    modality = (meta.get("data") or {}).get("modality") if isinstance(meta.get("data"), dict) else None
    return {"grades": list(names) if isinstance(names, list) else None, "channels": channels,
            "images": modality}


def _same_task(a: RunBundle, b: RunBundle) -> bool:
    """Whether bundles ``a`` and ``b`` grade the same task (:attr:`RunBundle.task`): the same
    grades, input channels and kind of image, each compared where both record it."""
    ta, tb = a.task, b.task
    return all(ta[key] == tb[key] for key in ta if ta[key] is not None and tb[key] is not None)


def chosen_bundle_words(found: Sequence[RunBundle], runs_dir: str | os.PathLike[str]) -> tuple[str, str]:
    """What ``python -m app`` says when no ``--bundle`` was given and it serves ``found[0]``,
    the newest of the run bundles :func:`run_bundles` found under ``runs_dir`` (``found``,
    newest first, not empty; nothing is read again): a note and a warning ('' for none).

    The note says which bundle it serves, that it is the newest of how many run bundles
    (``RUN/bundle``: a variant's ``RUN/bundles/NAME`` is not counted, and the note says how to
    serve one), when it was built (:attr:`RunBundle.built_words`), "tied: chosen by name" when
    the next one was built at the same time, its other names (a symbolic link to its run:
    "(also runs/latest)", :func:`_same_bundles`), up to :data:`SHOWN_OTHERS` of the others ("and
    N more") and that ``--bundle PATH`` serves another; of a single bundle, that it is the only
    one. The warning, when the chosen bundle is not a model to grade with (a trial run's, an
    untrained demo bundle, trained on phantom images: :func:`_bundle_kind`) while an older one
    comes from a full training run of the same task (:func:`_same_task`: a DRAC trial is not
    offered a 5-grade fundus model), names the newest of those and the ``--bundle`` that
    serves it. A bundle whose kind cannot be told (built before the bundle recorded
    ``trial_run``) is neither flagged nor offered."""
    chosen, others = found[0], list(found[1:])
    where = f"{Path(runs_dir).as_posix().rstrip('/')}/"

    def said(bundle: RunBundle) -> str:
        also = bundle.also
        return f"{bundle.path}" + (f" (also {', '.join(str(a) for a in also)})" if also else "")

    variants = "a variant's bundle: --bundle RUN/bundles/NAME"
    if not others:
        return (f"no --bundle given: serving {said(chosen)} ({chosen.built_words}), the only run "
                f"bundle (RUN/bundle) under {where} (--bundle PATH serves another; {variants})", "")
    tied = "; tied: chosen by name" if chosen.built == others[0].built else ""
    shown = ", ".join(f"{said(b)} ({b.built_words})" for b in others[:SHOWN_OTHERS])
    more = f" and {len(others) - SHOWN_OTHERS} more" if len(others) > SHOWN_OTHERS else ""
    kind = chosen.kind
    full = ([b for b in others if b.kind == "full" and _same_task(b, chosen)]
            if kind in _NOT_FOR_GRADING else [])
    example = (full[0] if full else others[0]).path
    note = (f"no --bundle given: serving {said(chosen)}, the newest of {len(found)} run bundles "
            f"(RUN/bundle) under {where} ({chosen.built_words}{tied}); the others, newest first: "
            f"{shown}{more}. To serve another: --bundle PATH, e.g. --bundle {example} ({variants})")
    if not full:
        return note, ""
    which = (f"{full[0].path} ({full[0].built_words}) comes" if len(full) == 1 else
             f"{len(full)} older bundles come, the newest {full[0].path} ({full[0].built_words}),")
    return note, (f"{chosen.path}, served as the newest, is {_NOT_FOR_GRADING[str(kind)]}, while {which} "
                  f"from a full training run of the same task: to serve it, --bundle {full[0].path}")
