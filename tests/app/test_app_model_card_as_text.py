"""The *Model card* tab shows a bundle's MODEL_CARD.md as text, never rendered (a security
review): a third-party bundle's card could embed remote images, ``![x](http://...)`` or
``<img src=...>``, that every clinician's browser opening the tab would fetch."""

from __future__ import annotations

from typing import Any

HOSTILE_CARD = """# A model card from elsewhere

![tracker](http://example.com/a.png)

<img src="https://example.com/b.png" alt="">

[![badge](http://example.com/c.svg)](http://example.com/)

Grades: 0 Normal, 1 NPDR, 2 PDR.
"""


def _components(demo: Any) -> list[dict[str, Any]]:
    config = demo.get_config_file() if hasattr(demo, "get_config_file") else demo.config
    return config["components"]


def test_a_card_with_remote_images_is_shown_as_text_and_renders_no_image(predictor: Any) -> None:
    from app.server import build_demo

    (predictor.path / "MODEL_CARD.md").write_text(HOSTILE_CARD, encoding="utf-8")
    components = _components(build_demo(predictor))
    shown = [c for c in components if str(c.get("props", {}).get("value")).strip() == HOSTILE_CARD.strip()]
    assert len(shown) == 1, "the card's text is not in the page as it is"
    assert shown[0]["type"] == "code" and shown[0]["props"].get("language") == "markdown"
    assert shown[0]["props"].get("interactive") is False
    # nothing the page renders as Markdown or HTML holds the card's images or its host
    rendered = [str(c["props"].get("value", "")) for c in components
                if c["type"] in ("markdown", "html")]
    assert rendered and not any("example.com" in text for text in rendered)
    assert not any("<img" in text for text in rendered)


def test_a_bundle_without_a_card_says_so_in_plain_words(predictor: Any) -> None:
    from app.server import build_demo

    (predictor.path / "MODEL_CARD.md").unlink()
    components = _components(build_demo(predictor))
    assert [c["type"] for c in components
            if c.get("props", {}).get("value") == "No MODEL_CARD.md in this bundle."] == ["code"]
