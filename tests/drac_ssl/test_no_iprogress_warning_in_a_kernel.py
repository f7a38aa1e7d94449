"""A notebook review: a training in a Jupyter kernel without ipywidgets printed ``TqdmWarning:
IProgress not found. Please update jupyter and ipywidgets``: the engine imported ``tqdm.auto``
at its top, and albumentations imports huggingface_hub, which imports it too. The engine's bars
are plain tqdm made on a terminal only (imported there), and albumentations is imported with
that one warning silenced (``drac_ssl.eval_input.quiet_albumentations``). The kernel is
simulated as tqdm.autonotebook detects one (``ipykernel.zmqshell`` loaded, a
``ZMQInteractiveShell``); the modules imported again are dropped afterwards."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drac_ssl import engine, evaluation
from drac_ssl.eval_input import quiet_albumentations


@pytest.fixture()
def fresh_kernel_imports() -> Iterator[None]:
    """A Jupyter kernel without ipywidgets, in which albumentations, huggingface_hub and
    tqdm.auto are not imported yet; sys.modules as it was afterwards."""
    before = dict(sys.modules)
    for name in list(sys.modules):
        if name.split(".")[0] in ("albumentations", "huggingface_hub") or name in (
                "tqdm.auto", "tqdm.autonotebook", "tqdm.notebook"):
            del sys.modules[name]

    class ZMQInteractiveShell:
        pass

    sys.modules["IPython"] = types.SimpleNamespace(get_ipython=ZMQInteractiveShell)  # type: ignore[assignment]
    sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n not in before]:
            del sys.modules[name]
        sys.modules.update(before)


def _iprogress_warnings(import_it: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import_it()  # type: ignore[operator]
    return [str(w.message) for w in caught if "IProgress not found" in str(w.message)]


@pytest.fixture()
def stand_in_albumentations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """A function writing a stand-in albumentations package (its ``__init__.py``: the given
    lines, then tqdm's IProgress warning), first on sys.path and not imported yet; the real
    module, if imported, is put back afterwards."""
    def write(lines: str = "") -> Path:
        package = tmp_path / "albumentations"
        package.mkdir()
        (package / "__init__.py").write_text(
            "import warnings\n"
            "from tqdm.std import TqdmWarning\n"
            f"{lines}"
            "warnings.warn('IProgress not found. Please update jupyter and ipywidgets.', TqdmWarning)\n")
        return package / "__init__.py"

    monkeypatch.syspath_prepend(str(tmp_path))
    real = sys.modules.pop("albumentations", None)
    try:
        yield write
    finally:
        sys.modules.pop("albumentations", None)
        if real is not None:
            sys.modules["albumentations"] = real


@pytest.mark.usefixtures("fresh_kernel_imports")
def test_albumentations_is_imported_without_the_iprogress_warning() -> None:
    assert _iprogress_warnings(quiet_albumentations) == []
    assert "tqdm.auto" in sys.modules  # the simulated kernel did import it (through huggingface_hub)


@pytest.mark.usefixtures("fresh_kernel_imports")
def test_the_simulated_kernel_does_warn_on_a_plain_import() -> None:
    """The fixture's kernel is one tqdm warns in (else the test above proves nothing)."""
    assert _iprogress_warnings(lambda: importlib.import_module("albumentations"))


def test_the_training_loops_import_no_tqdm_at_their_top() -> None:
    assert not hasattr(engine, "tqdm") and not hasattr(evaluation, "tqdm")


def test_filters_installed_while_albumentations_loads_survive_and_only_its_entry_goes(
        stand_in_albumentations: Callable[[str], Path]) -> None:
    """A review: ``warnings.catch_warnings`` restored its snapshot of the process-wide filter
    list, dropping the filters a library imported inside it installed (scipy's 'always' for
    its SpecialFunctionWarning). A stand-in albumentations installs one and warns."""
    from tqdm.std import TqdmWarning

    init = stand_in_albumentations(
        "warnings.filterwarnings('always', message='a filter of a library albumentations imports')\n")
    with warnings.catch_warnings(record=True) as caught:  # the test's own, around the call
        warnings.simplefilter("always")
        before = list(warnings.filters)
        module = quiet_albumentations()
        after = list(warnings.filters)
        assert quiet_albumentations() is module and warnings.filters == after  # imported: untouched
    assert module.__file__ == str(init)
    assert not [w for w in caught if issubclass(w.category, TqdmWarning)]
    added = [f for f in after if f not in before]
    assert [(f[0], f[1].pattern) for f in added] == [("always", "a filter of a library albumentations imports")]
    assert len(after) == len(before) + 1  # the silencing entry itself is gone


def test_the_callers_own_identical_filter_is_left_in_place(stand_in_albumentations: Callable[[str], Path]) -> None:
    """A caller that silences the IProgress warning itself, with the very filter
    quiet_albumentations would add, keeps it after the import (a mutation audit M25: removing
    the entry on exit though none was added lived)."""
    from tqdm.std import TqdmWarning

    init = stand_in_albumentations("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
        mine = warnings.filters[0]
        before = list(warnings.filters)
        assert quiet_albumentations().__file__ == str(init)
        assert warnings.filters == before and warnings.filters.count(mine) == 1
        warnings.warn("IProgress not found. Please update jupyter and ipywidgets.", TqdmWarning, stacklevel=1)
    assert not [w for w in caught if issubclass(w.category, TqdmWarning)]


def test_a_second_thread_waits_for_the_first_thread_s_import(
        stand_in_albumentations: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F7): the app's two first requests at once failed with ``partially initialized
    module 'albumentations' has no attribute 'Compose'``: sys.modules was read before the lock,
    and holds the module from the start of its import. The stand-in's import stops half-way
    (before its ``Compose``) until the second caller has reached the lock or returned; what the
    second caller got is looked at as it returns. No sleeps: Events only."""
    import threading

    from drac_ssl import eval_input

    gate = types.ModuleType("_quiet_import_gate")
    gate.half_way = threading.Event()  # type: ignore[attr-defined]
    gate.go_on = threading.Event()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, gate.__name__, gate)
    stand_in_albumentations(f"import {gate.__name__} as gate\n"
                            "gate.half_way.set()\n"
                            "assert gate.go_on.wait(10)\n"
                            "Compose = 'the whole module'\n")
    second_moved = threading.Event()  # reached the lock, or returned without it

    class WatchedLock:
        def __init__(self, lock: object) -> None:
            self.lock = lock

        def __enter__(self) -> object:
            if threading.current_thread().name == "second":
                second_moved.set()
            return self.lock.__enter__()  # type: ignore[attr-defined]

        def __exit__(self, *exc: object) -> object:
            return self.lock.__exit__(*exc)  # type: ignore[attr-defined]

    monkeypatch.setattr(eval_input, "_QUIET_IMPORT", WatchedLock(eval_input._QUIET_IMPORT))
    seen: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            module = quiet_albumentations()
            seen[name] = getattr(module, "Compose", "half a module")
        finally:
            if name == "second":
                second_moved.set()

    first = threading.Thread(target=call, args=("first",), name="first", daemon=True)
    first.start()
    assert gate.half_way.wait(10)  # type: ignore[attr-defined]
    second = threading.Thread(target=call, args=("second",), name="second", daemon=True)
    second.start()
    assert second_moved.wait(10)
    gate.go_on.set()  # type: ignore[attr-defined]
    first.join(10)
    second.join(10)
    assert seen == {"first": "the whole module", "second": "the whole module"}
