"""A CLI review (F2): an unknown option got a suggestion only from train and umm; export, compare,
report, data_prep and the app said "unrecognized arguments" and nothing else, even for a name
another command uses (``--referable-from``, ``--run-dir``, ``--output``) or a positional argument
typed as an option (``report --run R``). Every command's parser
(:class:`drac_ssl.starting.CommandParser`) now says what it may have meant."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import data_prep.__main__ as data_prep_main
from app import __main__ as app_main
from app import demo_bundle
from drac_ssl import compare, export, report, starting


def _refused(call: Callable[[Sequence[str]], object], argv: list[str],
             capsys: pytest.CaptureFixture[str]) -> str:
    """The stderr of ``call(argv)``, which must end as a usage error (exit 2)."""
    try:
        code = call(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(("call", "argv", "said"), [
    (export.main, ["R", "--images", "I", "--output", "x.csv"], "--output: did you mean --out?"),
    # the closest alone where it is clearly closer (a review F5: "--out or --tta")
    (export.main, ["R", "--images", "I", "--outt", "x.csv"], "--outt: did you mean --out?"),
    (export.main, ["--score", "s.csv", "--labels", "l.csv", "--referable-frm", "2"],
     "--referable-frm: did you mean --referable-from?"),
    (compare.main, ["--run", "R"], "--run: RUN is given without an option name: drop --run"),
    (report.main, ["--run", "R"], "--run: RUN is given without an option name: drop --run"),
    (app_main.parse_args, ["--run-dir", "X"], "--run-dir: did you mean --runs-dir or --bundle?"),
    # the app takes a run folder as --bundle: a name difflib alone does not find from --run
    (app_main.parse_args, ["--run", "X"], "--run: did you mean --bundle?"),
    (demo_bundle.main, ["--run-dir", "X"], "--run-dir: RUN_DIR is given without an option name"),
    (data_prep_main.main, ["ingest", "--root", "r", "--out", "o", "--label-csv", "l.csv"],
     "--label-csv: did you mean --labels-csv?"),
    # a required option missing because it was misspelt: said in argparse's "required" error too
    (data_prep_main.main, ["phantom", "--output", "ph"], "required: --out --output: did you mean --out?"),
])
def test_an_unknown_option_is_refused_with_what_it_may_mean(
        call: Callable[[Sequence[str]], object], argv: list[str], said: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(call, argv, capsys)
    assert said in err, err


def test_export_takes_referable_from_as_its_labels_referable_from() -> None:
    from drac_ssl.commands import export_parser

    args = export_parser().parse_args(["--score", "s.csv", "--labels", "l.csv", "--referable-from", "2"])
    assert args.labels_referable_from == 2


@pytest.mark.parametrize("name", sorted(starting.OPTIONS_ELSEWHERE))
def test_each_alias_entry_changes_the_hint(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # a reader of the cli_fx merge (F6): --output, --out-dir, --runs-dir were found by difflib
    # anyway and --referable-from is export's own: entries that changed nothing
    parser = starting.CommandParser(prog="x")
    for option in starting.OPTIONS_ELSEWHERE[name]:
        parser.add_argument(option, help="an option")
    with_table = parser.unrecognized_fix([name])
    monkeypatch.setattr(starting, "OPTIONS_ELSEWHERE", {})
    assert with_table != parser.unrecognized_fix([name]), with_table
