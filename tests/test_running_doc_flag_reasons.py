"""docs/running.md's list of why the export flags an image names every reason of the rule.

Reviewer F3: the list ("Images not reliably gradable ... exit 4") lacked "mostly transparent"
and "one page or frame of several graded", two reasons the export counts in FLAGGED.
"""

from __future__ import annotations

from pathlib import Path

from drac_ssl.grading.image_notes import NOT_RELIABLY_GRADABLE

DOC = Path(__file__).resolve().parents[1] / "docs" / "running.md"

SAID_OTHERWISE = {
    "a colour picture, not UW-OCTA": "a colour picture for a grey UW-OCTA model",
}
"""A reason the paragraph words otherwise -> its words there."""


def test_the_flagging_paragraph_names_every_reason() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("**Images not reliably gradable")
    paragraph = " ".join(text[start:text.index("\n\n", start)].split())
    missing = [reason for _, reason in NOT_RELIABLY_GRADABLE
               if SAID_OTHERWISE.get(reason, reason) not in paragraph]
    assert not missing, f"docs/running.md's flagging list lacks: {missing}"
