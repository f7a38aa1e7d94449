"""A CLI review (F4): train, export, compare, report, umm and submission list their exit codes in
``--help``; ``data_prep ingest`` / ``phantom`` / ``flatten``, the app, ``app.demo_bundle`` and
``app.auth`` did not, though scripts and service managers act on them (docs/running.md,
docs/deploying.md). Each now does, from :mod:`drac_ssl.exit_codes`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import data_prep.__main__ as data_prep_main
from app import __main__ as app_main
from app import auth, demo_bundle
from drac_ssl import exit_codes


@pytest.mark.parametrize(("call", "argv", "codes"), [
    (data_prep_main.main, ["--help"], exit_codes.DATA_PREP_EXIT_CODES),
    (data_prep_main.main, ["ingest", "--help"], exit_codes.INGEST_EXIT_CODES),
    (data_prep_main.main, ["phantom", "--help"], exit_codes.PHANTOM_EXIT_CODES),
    (data_prep_main.main, ["flatten", "--help"], exit_codes.FLATTEN_EXIT_CODES),
    (app_main.parse_args, ["--help"], exit_codes.APP_EXIT_CODES),
    (demo_bundle.main, ["--help"], exit_codes.DEMO_BUNDLE_EXIT_CODES),
    (auth.main, ["hash", "--help"], exit_codes.AUTH_EXIT_CODES),
    (auth.main, ["--help"], exit_codes.AUTH_EXIT_CODES),
])
def test_the_help_of_every_command_lists_its_exit_codes(
        call: Callable[[Sequence[str]], object], argv: list[str], codes: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        call(argv)
    assert stopped.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert codes.startswith("Exit codes: 0 ") and " ".join(codes.split()) in help_text, help_text[-400:]
    if call is data_prep_main.main:  # a scheduler's SIGTERM: 143, as the training's
        assert "143 stopped by SIGTERM" in help_text and "1 a crash" in help_text
