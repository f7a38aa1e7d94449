"""bench/name_tags.py: what its figures measure (not the figures themselves, which are timings)."""

from __future__ import annotations

from pathlib import Path

from bench.name_tags import measure

FAKE_TAGGER = '''
import re


def with_stems(names):
    return set(names)


class NameTagger:
    """A filter of one regular expression of all the names, as the code before d8eace7's
    successor built it: compiled through re's cache."""

    def __init__(self, names):
        self.pattern = re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True))))

    def __call__(self, text):
        return self.pattern.sub("[name 1a2b3c4d]", text)
'''


def test_the_memory_held_counts_a_pattern_the_tagger_compiles(tmp_path: Path) -> None:
    """Review F6: the memory a tagger holds was traced on a second build, which took the first
    build's compiled pattern from re's cache: a checkout whose tagger is one regular expression
    of the names (the baseline) had the pattern left out. re's cache is emptied before the
    traced build now: a fake checkout compiling a pattern of 1,500 names holds it (about
    0.5 MiB here; a few KiB when the cache served it)."""
    (tmp_path / "drac_ssl").mkdir()
    (tmp_path / "drac_ssl" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "drac_ssl" / "name_tags.py").write_text(FAKE_TAGGER, encoding="utf-8")
    run = measure(tmp_path, 1_500)
    assert run["listed"] == run["names"] == 1_500
    assert run["held_mib"] >= 0.2, run
