"""Are torch and torchvision installed, supported and a matching pair? Said before either loads.

A user's report: with torchvision 0.29.1 on torch 2.13 the export printed ``error: operator
torchvision::nms does not exist`` and the app and ``app.demo_bundle`` a full traceback; with
torchvision missing, train, export and the app ended in a ``ModuleNotFoundError`` traceback
(``drac_ssl/models.py``, ``drac_ssl/runtime.py``). The commands that load torchvision (train,
export, umm, the app, ``app.demo_bundle``) now call :func:`torch_pair_refusal` where they
start, after their arguments are read and before torch is imported, and exit with
:data:`drac_ssl.exit_codes.USAGE_ERROR` and the ``pip install`` that fixes it.

The supported ranges are those of ``pyproject.toml``'s dependencies (:data:`TORCH_RANGE`,
:data:`TORCHVISION_RANGE`; ``tests/drac_ssl/test_torch_pair.py`` keeps the two in step).
The pairing rule: torchvision ``0.N`` is built for torch ``2.(N - 15)``
(:data:`TORCHVISION_MINOR_OFFSET`), as torchvision's compatibility table in its README lists
every release from torch 2.0 / torchvision 0.15 to torch 2.9 / 0.24; the releases this package
supports continue it (2.11 / 0.26, the lent GPU machine's pair, ``scripts/test_other_torch.sh``,
to 2.14 / 0.29, ``scripts/requirements-cpu.txt``). A torchvision wheel declares only a lower
bound on torch (0.29.1: ``torch>=2.14.0``), so pip lets a newer torch in beside an older
torchvision, and its compiled operators then fail to register.

Refused (exit 2): a mismatched pair, or torch or torchvision missing. A matching pair outside
the supported ranges (torch 2.15 with torchvision 0.30, a newer or older release than this
package was tested on) is only warned about, once, on stderr (:func:`torch_pair_warning`): on a
GPU machine torch often comes with the image and pip cannot reach the network to change it.

Standard library only, importing neither torch nor torchvision (``importlib.metadata``).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re

__all__ = ["TESTED_PAIR", "TORCHVISION_MINOR_OFFSET", "TORCHVISION_RANGE", "TORCH_RANGE",
           "TorchPairError", "exit_on_bad_torch_pair", "installed_version", "require_torch_pair",
           "say_torch_pair_warning", "torch_pair_problem", "torch_pair_refusal", "torch_pair_warning"]

TORCH_RANGE = ((2, 11), (2, 15))
"""torch ``>=2.11,<2.15`` (``pyproject.toml``): (lowest minor release, first one not supported)."""

TORCHVISION_RANGE = ((0, 26), (0, 30))
"""torchvision ``>=0.26,<0.30`` (``pyproject.toml``)."""

TORCHVISION_MINOR_OFFSET = 15
"""torchvision ``0.N`` pairs with torch ``2.(N - 15)`` (see the module docstring)."""

TESTED_PAIR = ("2.14.1", "0.29.1")
"""The pair the fix installs: ``scripts/requirements-cpu.txt``'s pins, what the tests run on."""


def _release(version: str) -> tuple[int, int] | None:
    """(major, minor) of a version string (``2.14.1+cu126`` -> (2, 14)); None when it does not
    start with two numbers."""
    found = re.match(r"\s*v?(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _range_words(name: str, bounds: tuple[tuple[int, int], tuple[int, int]]) -> str:
    (a, b), (c, d) = bounds
    return f"{name}>={a}.{b},<{c}.{d}"


def _fix(keep_torch: tuple[int, int] | None = None) -> str:
    """The fix line: the tested pair; with ``keep_torch`` (an installed torch in range) also the
    torchvision that matches it."""
    from drac_ssl.starting import python_word  # stdlib only

    fix = f"  fix: {python_word()} -m pip install torch=={TESTED_PAIR[0]} torchvision=={TESTED_PAIR[1]}"
    if keep_torch is not None:
        n = keep_torch[1] + TORCHVISION_MINOR_OFFSET
        fix += (f"\n  (or keep torch {keep_torch[0]}.{keep_torch[1]}: {python_word()} -m pip install "
                f"\"torchvision>=0.{n},<0.{n + 1}\")")
    return fix


def torch_pair_problem(torch_version: str | None, torchvision_version: str | None) -> str | None:
    """What is wrong with the installed torch and torchvision, with the fix, or None when they
    are a matching pair (one outside the supported ranges too: :func:`torch_pair_warning` says
    that).

    Args:
        torch_version, torchvision_version: the installed versions (``importlib.metadata``,
            e.g. ``"2.14.1+cu126"``); None when the package is not installed; ``""`` when it
            is importable but its version cannot be read (no metadata): not judged.

    Returns:
        The message (several lines: what is wrong, both versions named, then ``  fix: PYTHON
        -m pip install torch==2.14.1 torchvision==0.29.1``), or None.
    """
    needs = (f"drac_ssl needs {_range_words('torch', TORCH_RANGE)} with its matching "
             f"{_range_words('torchvision', TORCHVISION_RANGE)}")
    if torch_version is None and torchvision_version is None:
        return f"torch and torchvision are not installed ({needs})\n{_fix()}"
    if torch_version is None:
        return (f"torch is not installed (torchvision {torchvision_version} is; {needs})\n{_fix()}")
    torch_release = _release(torch_version) if torch_version else None
    in_range = torch_release is not None and TORCH_RANGE[0] <= torch_release < TORCH_RANGE[1]
    if torchvision_version is None:
        return (f"torchvision is not installed (torch {torch_version} is; {needs})\n"
                f"{_fix(torch_release if in_range else None)}")
    vision_release = _release(torchvision_version) if torchvision_version else None
    if torch_release is None or vision_release is None:
        return None  # a version that cannot be read: not judged
    wants = (2, vision_release[1] - TORCHVISION_MINOR_OFFSET)
    if vision_release[0] != 0 or torch_release != wants:
        return (f"torchvision {torchvision_version} is built for torch {wants[0]}.{wants[1]}, not "
                f"the installed torch {torch_version}: a mismatched pair fails inside torchvision "
                f"(\"operator torchvision::nms does not exist\")\n"
                f"{_fix(torch_release if in_range else None)}")
    return None


def torch_pair_warning(torch_version: str | None, torchvision_version: str | None) -> str | None:
    """The warning for a torch or torchvision outside the supported ranges
    (:data:`TORCH_RANGE`, :data:`TORCHVISION_RANGE`) when :func:`torch_pair_problem` finds
    nothing to refuse (a matching pair, e.g. torch 2.15.0 with torchvision 0.30.0): the
    commands go on, untested on it; None when both are in range, when there is a problem
    (the refusal says it) or a version cannot be read. Arguments as
    :func:`torch_pair_problem`'s."""
    if torch_pair_problem(torch_version, torchvision_version) is not None:
        return None
    outside = []
    for name, version, bounds in (("torch", torch_version, TORCH_RANGE),
                                  ("torchvision", torchvision_version, TORCHVISION_RANGE)):
        release = _release(version) if version else None
        if release is not None and not bounds[0] <= release < bounds[1]:
            outside.append(f"{name} {version}")
    if not outside:
        return None
    return (f"{' and '.join(outside)} {'is' if len(outside) == 1 else 'are'} outside the versions "
            f"drac_ssl is tested on ({_range_words('torch', TORCH_RANGE)}, "
            f"{_range_words('torchvision', TORCHVISION_RANGE)}); the pair matches, so this goes on, "
            f"but results and errors may differ from the tested ones\n"
            f"{_fix().replace('  fix:', '  to use the tested pair:', 1)}")


def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (``importlib.metadata``, nothing
    imported); ``""`` when a module of that name is importable without metadata (a build from
    source); None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        try:
            return "" if importlib.util.find_spec(name) is not None else None
        except (ImportError, ValueError):
            return None


def torch_pair_refusal() -> str | None:
    """:func:`torch_pair_problem` of the installed torch and torchvision: what a command says
    (``error: ...``) before exiting with :data:`drac_ssl.exit_codes.USAGE_ERROR`, or None."""
    return torch_pair_problem(installed_version("torch"), installed_version("torchvision"))


_warned = False
"""Whether :func:`say_torch_pair_warning` has printed its warning in this process."""


def say_torch_pair_warning() -> None:
    """Print :func:`torch_pair_warning` of the installed pair on stderr (``warning: ...``), once
    per process; nothing when there is none."""
    import sys

    global _warned
    if _warned:
        return
    warning = torch_pair_warning(installed_version("torch"), installed_version("torchvision"))
    if warning:
        _warned = True
        print(f"warning: {warning}", file=sys.stderr)


def exit_on_bad_torch_pair() -> None:
    """Where a command starts, before torch loads: :func:`torch_pair_refusal` said on stderr
    (``error: ...`` and the fix) and ``SystemExit`` with
    :data:`drac_ssl.exit_codes.USAGE_ERROR`; returns when the pair matches, after
    :func:`say_torch_pair_warning` when it lies outside the supported ranges."""
    import sys

    from drac_ssl.exit_codes import USAGE_ERROR  # stdlib only

    problem = torch_pair_refusal()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)
    say_torch_pair_warning()


class TorchPairError(ImportError):
    """The installed torch and torchvision are no matching pair, or one is missing
    (:func:`torch_pair_problem`'s words and fix): raised by :func:`require_torch_pair` where a
    call from Python would load torchvision (:func:`drac_ssl.train.main`,
    :func:`drac_ssl.grading.load_bundle`, ``app.predict.Predictor``), instead of torchvision's
    own ``operator torchvision::nms does not exist``. An ``ImportError``: what is wrong is the
    environment; fix it and restart the Python process (a notebook: restart the kernel), as
    the torch already imported stays loaded."""


@functools.cache
def _installed_pair_problem() -> str | None:
    """:func:`torch_pair_refusal`, read once per process (the versions a process has loaded
    do not change when pip installs others beside them)."""
    return torch_pair_refusal()


def require_torch_pair() -> None:
    """The raising variant of :func:`exit_on_bad_torch_pair`, for a call from Python (a
    notebook, a script): returns when the installed torch and torchvision are a matching pair
    (after :func:`say_torch_pair_warning` when they lie outside the supported ranges). The
    versions are read once per process (``importlib.metadata``, nothing imported), so a
    second call costs nothing.

    Raises:
        TorchPairError: a mismatched pair, or torch or torchvision missing; the message names
            both versions and says the ``pip install`` that fixes it, and the one that keeps
            an installed torch in range."""
    problem = _installed_pair_problem()
    if problem:
        raise TorchPairError(problem)
    _said_installed_pair_warning()


@functools.cache
def _said_installed_pair_warning() -> None:
    """:func:`say_torch_pair_warning` once per process for :func:`require_torch_pair`: a
    matching pair is not read again (:func:`say_torch_pair_warning` reads the versions on every
    call until it has warned)."""
    say_torch_pair_warning()
