"""A reader of the cli_fx merge (F1): the installed ``drac-ssl-ingest`` ran
``data_prep.__main__:main`` itself, not through :func:`drac_ssl.starting.run_command`, so the
process was never marked the command's own and a second SIGTERM while it stopped killed it
(-15). Every console script of pyproject.toml now starts as its ``python -m`` entry does."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from drac_ssl import starting

ROOT = Path(__file__).resolve().parents[2]

# how each console script's process is the command's own, as its ``python -m`` entry's is
OWN_PROCESS_BY = {
    "drac-ssl-train": "train.command_main (starting.mark_own_process, run_command's flag) then exit_with",
    "drac-ssl-ingest": "run_command",
    "drac-ssl-export": "run_command",
    "drac-ssl-report": "run_command",
    "drac-ssl-compare": "run_command",
    "drac-ssl-app": "its own handlers around the server (python -m app: the same main)",
    "drac-ssl-demo-bundle": "no signal handling (python -m app.demo_bundle: the same main)",
}


def _scripts() -> dict[str, str]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["scripts"]


def test_every_console_script_is_listed_with_how_it_runs_as_its_own_process() -> None:
    assert set(_scripts()) == set(OWN_PROCESS_BY)


@pytest.mark.parametrize("script", [name for name, how in OWN_PROCESS_BY.items() if how == "run_command"])
def test_a_run_command_script_marks_its_process_the_commands_own(script: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    module_name, function_name = _scripts()[script].split(":")
    target = getattr(importlib.import_module(module_name), function_name)
    seen: list[object] = []

    def fake_run_command(main: object, stage: str | None = None) -> None:
        seen.append(main)
        raise SystemExit(0)

    monkeypatch.setattr(starting, "run_command", fake_run_command)
    monkeypatch.setattr(starting, "quiet_while_starting", lambda prog: None)
    if script == "drac-ssl-ingest":
        with pytest.raises(SystemExit):
            target()
        assert len(seen) == 1
    else:  # the parsers of export/report/compare run first: their source says run_command
        import inspect

        assert "run_command(" in inspect.getsource(target)
