"""Test order for the CI; no fsync and no figure layout engine in the test processes.

The order, for the CI's ``pytest -n auto --dist loadfile --no-loadscope-reorder``
(``scripts/test.sh``): the longest test files first.

With ``--dist loadfile`` each file runs whole on one worker, and a worker takes the next
file of the queue when it is almost done with its own. pytest-xdist queues the files by
their number of tests, which put the longest ones (test_train.py: few tests, over 3 minutes)
late: the other worker had finished everything while one still ran them, about 30 s of the
2-core CI (simulated on the junit times of a CI run: 628 s against 599 s for
longest-first). ``--no-loadscope-reorder`` makes the queue this collection order: the files
of :data:`SLOW_FILES` first, longest first, then the others by their number of tests as
pytest-xdist would order them. Within a file the order stays the file's own.

Also: a test module's temporary folders go when its last test ends (:func:`_module_temp_folders_freed`).

Also: the run stops when ``DRAC_SSL_SHARED_DATA`` names no folder or the data folder lacks a file
its ``SHA256SUMS`` lists, and its summary counts the
tests skipped because the real data was absent (tests/helpers/shared_data.py).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator

import pytest
from shared_data import ENV_VAR, MISSING_MARK, SharedDataError, check_complete, shared_data_folder

# Seconds of each file in a 2-worker run of the whole suite (the JUnit XML times of session 73's
# run on 2026-12-07, summed per file, on a machine shared with other work: about 1.6 times the
# CI's, so only their order counts), longest first. A file missing here only runs later; a
# renamed one falls back to its number of tests.
SLOW_FILES = (
    "tests/drac_ssl/test_train.py",  # ~210 s
    "tests/drac_ssl/test_export.py",  # ~165 s
    "tests/drac_ssl/test_finetune.py",  # ~140 s
    "tests/drac_ssl/test_pretrain.py",  # ~125 s
    "tests/drac_ssl/test_umm.py",  # ~125 s
    "tests/drac_ssl/test_report.py",  # ~90 s
    "tests/app/test_predict.py",  # ~55 s
    "tests/data_prep/test_ingest.py",  # ~50 s
    "tests/drac_ssl/test_transductive_score.py",  # ~45 s
    "tests/drac_ssl/test_package_layering.py",  # ~45 s
    "tests/data_prep/test_host_random_state.py",  # ~35 s (before compare's and report's checks shared a process)
    "tests/drac_ssl/test_colour_pipeline.py",  # ~35 s
    "tests/drac_ssl/test_finetune_inner_keep.py",  # ~35 s
    "tests/data_prep/test_layouts.py",  # ~30 s
    "tests/drac_ssl/test_trial_epochs.py",  # ~30 s
    "tests/drac_ssl/test_distributed.py",  # ~30 s
    "tests/app/test_app_serving_line.py",  # ~30 s
    "tests/drac_ssl/test_offline_imports.py",  # ~25 s
    "tests/drac_ssl/test_stop_signals.py",  # ~25 s
    "tests/drac_ssl/test_export_aptos_trial.py",  # ~25 s
    "tests/app/test_app_workdir.py",  # ~25 s
)


def pytest_configure(config: pytest.Config) -> None:
    """Stop before collecting anything when ``DRAC_SSL_SHARED_DATA`` is set but names no folder
    (a typo would otherwise skip every real-data test and the run would still end green), or
    when the data folder lacks files its ``SHA256SUMS`` lists (a partial copy failed tests with
    raw FileNotFoundError/IngestError; checking that the 45 files exist takes well under a ms)."""
    try:
        folder = shared_data_folder()
        if folder.is_dir():
            check_complete(folder)
    except SharedDataError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line at the end of a run in which tests skipped because the real data was absent:
    how many, where they looked, and how to point them at it (with or without ``-rs``)."""
    missing = [report for report in terminalreporter.stats.get("skipped", [])
               if MISSING_MARK in str(getattr(report, "longrepr", ""))]
    if not missing:
        return
    try:
        folder = shared_data_folder()
    except SharedDataError:  # pytest_configure stopped such a run
        return
    source = f"{ENV_VAR}={os.environ[ENV_VAR]}" if ENV_VAR in os.environ else "../shared/data beside the repository"
    terminalreporter.write_line(
        f"{len(missing)} test(s) skipped: the real data they need is not under {folder} ({source}); "
        f"point {ENV_VAR} at the team's shared data folder (the one that holds drac_samples/, "
        f"aptos_samples/, retinamnist/, ...) to run them, and -rs lists them",
        yellow=True, bold=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Sort ``items`` file by file: :data:`SLOW_FILES` in their order, then the other files
    by descending number of tests (ties: collection order); each file's tests keep theirs."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    order = sorted(files, key=lambda name: (rank.get(name, len(rank)), -len(files[name])))
    items[:] = [item for name in order for item in files[name]]


@pytest.fixture(scope="session", autouse=True)
def _no_fsync() -> Iterator[None]:
    """``os.fsync`` a no-op in the test processes (not in the subprocesses they start).

    Every write of the package is atomic (``drac_ssl.io.atomic_path``: temporary file, fsync,
    rename) and a run of the suite writes ~14 GB of run folders, mostly ResNet-18
    checkpoints, deleted at the end of each passing test: fsync forced every byte to the disk
    first (test_pretrain.py alone: 295 calls, 20 s of its 325 s, measured on the shared
    2-core host). What the tests check is unchanged: the temporary file and the rename still
    happen; only the kernel's flush to the disk, which no test can observe, is skipped.
    """
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


@pytest.fixture(scope="session", autouse=True)
def _no_figure_layout_engine() -> Iterator[None]:
    """The package's figures (``drac_ssl.plots._new_figure``) without matplotlib's
    constrained layout in the test processes (not in the subprocesses they start), except in
    tests/drac_ssl/test_plots.py, which puts the real one back for its tests.

    The layout engine lays every figure out twice more before it is drawn: about 40 % of a
    figure's time, and the suite saves some 440 PNG figures from its runs (a reduced
    in-process pipeline, measured interleaved on the 2-core host: 12.1-16.3 s without against
    14.1-23.9 s with). The figures keep their size, content and file; only where matplotlib
    places the axes, which no test outside test_plots.py looks at, changes. The patched
    function keeps the real one as ``__wrapped__``.
    """
    from drac_ssl import plots

    real = plots._new_figure

    def without_layout_engine(width: float, height: float):  # type: ignore[no-untyped-def]
        fig = real(width, height)
        fig.set_layout_engine("none")
        return fig

    without_layout_engine.__wrapped__ = real  # type: ignore[attr-defined]
    plots._new_figure = without_layout_engine
    try:
        yield
    finally:
        plots._new_figure = real


@pytest.fixture(scope="module", autouse=True)
def _module_temp_folders_freed(request: pytest.FixtureRequest,
                               tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The folders a test module made under pytest's base temporary folder
    (``tmp_path_factory.mktemp`` in its module fixtures: tiny runs, demo bundles, 0.1-0.8 GB
    each, mostly ResNet-18 checkpoints) removed when its last test ends, if none of its tests
    failed or errored; a teardown error of the module's own fixtures excepted: pytest counts it
    only after this finaliser ran, so the folders go all the same.

    ``tmp_path_retention_policy = "failed"`` (pyproject.toml) frees a passed test's own
    ``tmp_path`` at once, but pytest keeps every ``mktemp`` folder until the session ends, and
    all of them when a single test failed: a run of the suite held some 10-13 GB of them at its
    end and left them behind after a failure. A module with a failure keeps all its folders, as
    pytest keeps a failed test's; under any other retention policy (``-o
    tmp_path_retention_policy=all`` to look at them) nothing is removed here. A session-scoped
    fixture that made a folder with ``tmp_path_factory`` while a module ran would lose it at that
    module's end: none of the suite's does.
    """
    if request.config.getini("tmp_path_retention_policy") != "failed":
        yield
        return
    base = tmp_path_factory.getbasetemp()
    before, failed = set(base.iterdir()), request.session.testsfailed
    yield
    if request.session.testsfailed == failed:
        for path in set(base.iterdir()) - before:  # folders, and mktemp's "NAMEcurrent" links
            if path.is_symlink():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _stop_signal_handlers_given_back() -> Iterator[None]:
    """Each test leaves SIGINT's and SIGTERM's handlers as it found them: the commands' exit
    paths install their own for the interpreter's teardown (drac_ssl.starting.exit_on_signal,
    hold_signals_for_exit), and one left behind by a test that ran a command in-process made a
    later test's own Ctrl-C end the pytest worker (a CI run hung on it)."""
    from drac_ssl import starting

    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    # and the process's mark as a command's own (starting.mark_own_process: run_command and
    # train.command_main set it): left set, a later test's interrupt would hold its signals. A
    # test that sets it on purpose patches the flag (monkeypatch.setattr(starting,
    # "_OWN_PROCESS", [])); one that leaves the real flag set fails here, so that a main() that
    # marks a caller's process (a notebook's) shows, instead of being reset quietly
    own_process = list(starting._OWN_PROCESS)
    yield
    leaked = starting._OWN_PROCESS != own_process
    starting._OWN_PROCESS[:] = own_process
    for number, handler in saved.items():
        if handler is not None and signal.getsignal(number) is not handler:
            signal.signal(number, handler)
    if leaked:
        pytest.fail("the test left drac_ssl.starting's own-process flag set (mark_own_process): a "
                    "main() called from Python must not set it; a test that runs a command as its "
                    "own process patches it: monkeypatch.setattr(starting, \"_OWN_PROCESS\", [])",
                    pytrace=False)
