"""The ``drac_ssl.train`` commands the README and docs/own_fundus_folder.md give for a first
try on one's own fundus folder, read from their code blocks as a shell reads them (tests/helpers
is on the test path: ``from train_commands import ...``). Shared by the guide's test (the two
are the same command) and the README figures' test (the bench timed the README's)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "own_fundus_folder.md"


def train_commands(markdown: str) -> list[list[str]]:
    """Every ``python -m drac_ssl.train`` command of the ```` ```bash ```` blocks of
    ``markdown``, each as the words a shell passes it: comments dropped, backslash-newline
    continuations joined, quotes removed (``shlex``)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        text = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        for line in text.replace("\\\n", " ").splitlines():
            words = shlex.split(line)
            if words[1:3] == ["-m", "drac_ssl.train"]:
                commands.append(words)
    return commands


def readme_fundus_first_try() -> list[str]:
    """The README quick start's tiny first try on a folder of fundus photographs: its one
    ``-c configs/fundus.yaml --first-try ...`` command (AssertionError unless exactly one)."""
    section = README.read_text(encoding="utf-8").split('<a id="quick-start-on-your-data"></a>', 1)[1]
    found = [c for c in train_commands(section.split('<a id="how-long"></a>', 1)[0])
             if "configs/fundus.yaml" in c and "--first-try" in c]
    assert len(found) == 1, f"the README's quick start gives {len(found)} fundus first-try commands, not 1"
    return found[0]


def guide_first_try() -> list[str]:
    """docs/own_fundus_folder.md's step 2: its one train command."""
    text = GUIDE.read_text(encoding="utf-8")
    step = text[text.index("**2. "):text.index("**3. ")]
    (command,) = train_commands(step)
    return command


def settings(command: list[str]) -> tuple[str, dict[str, str]]:
    """A train command's config file (``-c``) and its ``key=value`` settings."""
    config = command[command.index("-c") + 1]
    return config, dict(w.split("=", 1) for w in command if "=" in w and not w.startswith("-"))


def resolved(command: list[str]) -> dict:
    """The configuration a ``python -m drac_ssl.train`` command runs with (its options parsed
    by the command's own parser, ``--first-try`` included, then read by ``load_config``), as a
    dict, read from the repository root (the docs' commands' folder)."""
    from drac_ssl.commands import train_overrides, train_parser, train_preset
    from drac_ssl.config import load_config, to_dict

    assert command[1:3] == ["-m", "drac_ssl.train"], command
    args = train_parser().parse_intermixed_args(command[3:])
    preset = train_preset(args)  # --first-try's words for the -c file's own sizes
    config = REPO / args.config
    return to_dict(load_config(config, [*(preset(load_config(config)) if preset else []), *train_overrides(args)]))
