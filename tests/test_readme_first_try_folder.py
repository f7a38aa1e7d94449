"""The README's quick start says where ``--first-try`` added to its full-run commands puts the
trial (a tester, F2): it said "in runs/first-try, so the full run after it has a folder of its
own", but those commands type ``run.name=...``, which wins over the option's, so the trial took
runs/myphotos and the full run after it was refused there ("fix: run.name=myphotos-2"). The
sentence is held to the folder each command resolves to."""

from __future__ import annotations

from train_commands import README, resolved, train_commands


def test_the_readme_says_where_a_first_try_of_its_full_run_commands_goes() -> None:
    section = README.read_text(encoding="utf-8").split("Then the full runs, one command each", 1)[1]
    section = section.split('<a id="how-long"></a>', 1)[0]
    commands = train_commands(section)
    assert len(commands) >= 3, commands
    prose = " ".join(section.split("```", 2)[2].split())  # the words after the commands' block
    typed_any = False
    for command in commands:
        typed = [w.split("=", 1)[1] for w in command if w.startswith("run.name=")]
        trial = resolved([*command, "--first-try"])["run"]["name"]
        assert trial == (typed[-1] if typed else "first-try"), (command, trial)
        typed_any |= bool(typed)
    assert "`runs/first-try`" in prose and "leave out its `run.name=...`" in prose, prose
    if typed_any:  # the trial takes the typed folder: the README says so, and what the full run then needs
        assert "a typed `run.name` wins" in prose and "`run.name=NAME-2`" in prose, prose
