"""The docs pages the code cites, shared by the tests that check them (test_readme_links: each
ships in docs/; test_packaging: each is package data of the wheel's drac_ssl.docs), so that the
two checks cannot read different citations (a review found them using two patterns, one taking
the placeholder ``docs/NAME.md`` for a missing page, the other passing it)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository these tests run in."""
CITED_DOC = re.compile(r"\bdocs/([\w.-]+\.md)\b")
"""A page as a module cites it: ``docs/running.md``. The words about the pages write the
placeholder ``docs/<name>.md``, which this does not match."""
SHARED_DOCS = "of the shared docs"
"""The words of a line citing a page the team's shared notes hold, not docs/ (not checked)."""
PACKAGE_FOLDERS = ("drac_ssl", "data_prep", "app")
"""The top-level packages of the wheel."""


def cited_docs(folders: Iterable[str] = PACKAGE_FOLDERS) -> dict[str, list[str]]:
    """Every ``docs/NAME.md`` the ``*.py`` files under ``folders`` (of the repository) cite,
    lines citing the shared docs left out: ``NAME.md`` -> the files citing it, relative to the
    repository, in order."""
    cited: dict[str, list[str]] = {}
    for folder in folders:
        for module in sorted((REPO / folder).rglob("*.py")):
            for line in module.read_text(encoding="utf-8").splitlines():
                if SHARED_DOCS in line:
                    continue
                for name in CITED_DOC.findall(line):
                    files = cited.setdefault(name, [])
                    if str(module.relative_to(REPO)) not in files:
                        files.append(str(module.relative_to(REPO)))
    return cited
