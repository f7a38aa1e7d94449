"""drac_ssl: diabetic retinopathy grading with VICReg + UMM (DRAC 2022 Task 3 and any graded set).

The pipeline, one module per stage (``docs/design.md`` draws the map)::

    data_prep (ingest) -> pretrain (VICReg) -> umm -> finetune (5-fold CV) -> export
                                                            |
                                           grading: model, bundle, predict (app, benches)

``python -m drac_ssl.train`` runs them all from one YAML config. From your own code:
``docs/python.md`` (the losses in :mod:`drac_ssl.losses`, the backbone in
:mod:`drac_ssl.models`, the metrics in :mod:`drac_ssl.metrics`, grading with a bundle in
:mod:`drac_ssl.grading`; a module's ``__all__`` lists its public names).

The grading scale of a run comes from its data: the ingest resolves ``data.grades`` (or the
layout's scale, e.g. ICDR's 5 grades for APTOS / EyePACS / IDRiD / RetinaMNIST) and records
K and the grade names in ``ingest_summary.json``; fine-tuning, the bundle, the model card,
the report, the export and the app read them from there (:mod:`drac_ssl.scale`). The
constants below are the DRAC 2022 Task 3 scale: the default for the phantom / DRAC data and
for run folders and bundles written before the scale was recorded, never an assumption of
code that has the data's scale at hand.

Importing the package keeps it off the network: albumentations (imported for the evaluation
transform) asks PyPI for a newer version when it is imported, a DNS lookup and an HTTPS
connection that block an offline host for seconds, unless ``NO_ALBUMENTATIONS_UPDATE`` is
set; the Hugging Face Hub client it imports sends telemetry unless
``HF_HUB_DISABLE_TELEMETRY`` is set. Both are set here (:data:`OFFLINE_ENVIRONMENT`,
``os.environ.setdefault``: a value the caller set is kept) before any module of the package
imports albumentations; the package
itself never downloads anything (``docs/python.md``, "Offline"). An albumentations imported
before ``drac_ssl`` has made its check already.

Where matplotlib (the run's figures, the app's Grad-CAM) could not write its default config
and cache folders (a read-only or missing home, as on a cluster's compute nodes), ``MPLCONFIGDIR``
is set before matplotlib is imported (:func:`_matplotlib_config_dir`): to its config folder where
only the cache cannot be written (its ``matplotlibrc`` still read), else to a private folder of
this user's under the temporary folder; matplotlib otherwise warned twice in every run's log and
rebuilt its font cache each time. A value the caller set is kept.
"""

import os as _os
import sys as _sys

OFFLINE_ENVIRONMENT = {
    "NO_ALBUMENTATIONS_UPDATE": "1",  # albumentations' PyPI version check
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub, imported by albumentations
}
"""The environment variables importing the package sets, each only where unset
(``os.environ.setdefault``: harmless to a host, whose own values are kept), before any module
of it imports albumentations: the one list, which ``import app`` sets too by importing the
package first (the app server's own variables are :func:`app.offline_server_environment`'s).
Importing the package sets one more, not listed here as it is set only when needed:
``MPLCONFIGDIR``, when it is unset and matplotlib's default config or cache folder cannot be
written or made (:func:`_matplotlib_config_dir`)."""
for _name, _value in OFFLINE_ENVIRONMENT.items():
    _os.environ.setdefault(_name, _value)
del _name, _value


def can_make_folder(folder: str | _os.PathLike[str]) -> tuple[bool, str | None]:
    """Whether ``folder`` is a folder this process can write, or could make (``mkdir -p``): its
    nearest existing ancestor (itself when it exists; a link counts, as ``os.path.lexists``)
    is a folder it can write and enter; with that ancestor (an absolute path, None when no
    component exists), which a message names. Makes nothing (unlike matplotlib's own check).
    The one such check: matplotlib's folders here (stdlib only, at import) and the preflight's
    phantom-set folder (:func:`drac_ssl.preflight.phantom_root`)."""
    path = _os.path.abspath(folder)
    while not _os.path.lexists(path):
        parent = _os.path.dirname(path)
        if parent == path:
            return False, None
        path = parent
    return _os.path.isdir(path) and _os.access(path, _os.W_OK | _os.X_OK), path


def _can_make(folder: str) -> bool:
    """:func:`can_make_folder`'s yes or no."""
    return can_make_folder(folder)[0]


def _matplotlib_config_dir() -> str | None:
    """Set ``MPLCONFIGDIR`` when it is not set and matplotlib's default config or cache folder
    cannot be written or made (Linux: ``$XDG_CONFIG_HOME/matplotlib`` or
    ``~/.config/matplotlib``, and ``$XDG_CACHE_HOME/matplotlib`` or ``~/.cache/matplotlib``;
    other POSIX systems: ``~/.matplotlib``, both in one); matplotlib then neither warns
    ("mkdir -p failed ... Matplotlib created a temporary cache directory") nor builds its font
    cache again at every start. ``MPLCONFIGDIR`` names matplotlib's config folder as well as
    its cache, so where only the cache cannot be written it is set to the config folder itself
    (its ``matplotlibrc``, a host's style, still read; the font cache kept there too); where the
    config folder cannot be written either, to ``<tempfile.gettempdir()>/drac_ssl-matplotlib-<uid>``
    (made mode 0700). Left as it is: a value already set (a host's, ``docs/deploying.md``'s
    service), default folders that can be written, Windows, and a temporary folder of that name
    that is not this user's private folder (a link, another account's, or one others may
    write, mode & 0o077 not 0, whose files anyone could have put there: matplotlib's own
    fall-back then). Returns the folder set, or None. Never raises."""
    if _os.environ.get("MPLCONFIGDIR") or _os.name != "posix":
        return None
    try:
        home = _os.path.expanduser("~")
        if _sys.platform.startswith(("linux", "freebsd")):
            config = _os.path.join(_os.environ.get("XDG_CONFIG_HOME") or _os.path.join(home, ".config"), "matplotlib")
            cache = _os.path.join(_os.environ.get("XDG_CACHE_HOME") or _os.path.join(home, ".cache"), "matplotlib")
        else:
            config = cache = _os.path.join(home, ".matplotlib")
        known = home != "~"  # "~": no home known
        if known and _can_make(config):
            if _can_make(cache):
                return None
            _os.environ["MPLCONFIGDIR"] = config  # the cache beside the config: its rc kept
            return config
        import stat
        import tempfile

        folder = _os.path.join(tempfile.gettempdir(), f"drac_ssl-matplotlib-{_os.getuid()}")
        _os.makedirs(folder, mode=0o700, exist_ok=True)
        made = _os.lstat(folder)
        if (not stat.S_ISDIR(made.st_mode) or made.st_uid != _os.getuid() or made.st_mode & 0o077
                or not _os.access(folder, _os.W_OK)):
            return None
        _os.environ["MPLCONFIGDIR"] = folder
        return folder
    except Exception:  # noqa: BLE001 - best effort: matplotlib's own fall-back
        return None


_matplotlib_config_dir()

__version__ = "0.1.0"
try:  # a wheel or sdist built from a git checkout: 0.1.0+<count>.g<commit>[.dirty], its metadata's version
    from drac_ssl._build_info import BUILD_VERSION as __version__  # noqa: F401 - setup.py writes it
except ImportError:  # a checkout (git names its code), or a build without git
    pass
PRETRAIN_METHOD = "VICReg"
"""The self-supervised method that pretrains the backbone, by the name people read: the one
source of that name in the report, the model card, the comparison, the collapse warnings,
the console and the pretraining plot (``tests/drac_ssl/test_method_name.py`` holds every
other module to it). A second method makes this a look-up of ``pretrain.method``
(docs/design.md, "Adding a self-supervised method")."""
GRADE_NAMES = ("Normal", "NPDR", "PDR")
"""DR grades of DRAC 2022 Task 3, index = grade: 0 Normal, 1 NPDR, 2 PDR (the default scale)."""
NUM_GRADES = len(GRADE_NAMES)
"""How many grades DRAC 2022 Task 3 tells apart (3); a run's own K is ``len(grade_names)``."""
PROB_COLUMNS = tuple(f"P{k}" for k in range(NUM_GRADES))
"""Probability columns of a DRAC submission: ``P0, P1, P2`` (K grades: ``P0..P{K-1}``)."""
