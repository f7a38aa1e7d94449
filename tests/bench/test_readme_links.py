"""The README and docs/ resolve for a user of the repository alone: the README starts with
its two commands, its in-page links reach a heading or an anchor, its file links reach files
of the repository, and the method note the code cites ("methods.md") ships in docs/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def _outside_code(text: str) -> list[str]:
    lines, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            lines.append(line)
    return lines


def _github_anchor(heading: str) -> str:
    """GitHub's heading id: lower case, punctuation but ``-`` and ``_`` dropped, spaces -> ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_starts_with_its_two_commands() -> None:
    head = README.read_text(encoding="utf-8").splitlines()[:6]
    assert head[0] == "# drac_ssl" and head[2] == "```bash" and head[5] == "```", head
    assert head[3].startswith("bash scripts/run_default.sh ") and head[4].startswith("bash scripts/test.sh "), head


def test_every_in_page_link_of_the_readme_reaches_a_heading_or_an_anchor() -> None:
    lines = _outside_code(README.read_text(encoding="utf-8"))
    targets = {_github_anchor(m.group(2)) for line in lines if (m := re.match(r"^(#{1,6}) (.+)$", line))}
    targets |= {a for line in lines for a in re.findall(r'<a id="([^"]+)"></a>', line)}
    links = [a for line in lines for a in re.findall(r"\]\(#([^)]+)\)", line)]
    assert links, "the README's contents links nothing"
    assert sorted(set(links) - targets) == []


def test_every_file_link_of_the_readme_and_docs_exists() -> None:
    for page in [README, *sorted((REPO / "docs").glob("*.md"))]:
        for line in _outside_code(page.read_text(encoding="utf-8")):
            for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", line):
                assert (page.parent / target).exists(), f"{page.name}: link to {target}, which is not there"


def test_the_method_note_the_code_cites_ships_with_the_repository() -> None:
    cited = [p for p in (REPO / "drac_ssl").rglob("*.py") if "methods.md" in p.read_text(encoding="utf-8")]
    assert cited, "no module cites methods.md any more: drop this test"
    assert (REPO / "docs" / "methods.md").is_file()
    readme = README.read_text(encoding="utf-8")
    assert "shared/docs/methods.md" not in readme and "(docs/methods.md)" in readme
