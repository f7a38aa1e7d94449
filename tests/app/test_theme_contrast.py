"""Every text colour of the page's theme stands out from what it is drawn on (WCAG 2.2 AA,
1.4.3: 4.5:1 for normal text), and every radio's border and the focus outline from theirs
(1.4.11: 3:1), in the light and the dark mode. An accessibility review found
gradio's default theme's primary buttons white on #f97316 (2.80:1), the selected tab's text
#f97316 on white (2.80:1) and the muted info text #bbbbc2 on white (1.91:1). The colours are
read from the CSS the theme itself writes, its ``var(--...)`` references resolved as a browser
would, so a colour changed anywhere in the theme is checked."""

from __future__ import annotations

import re

import pytest

NAMED = {"white": "#ffffff", "black": "#000000"}

# (text, background) variables of the theme; what gradio draws with them, from its own CSS
PAIRS = [
    ("button_primary_text_color", "button_primary_background_fill"),  # the Grade buttons
    ("button_primary_text_color_hover", "button_primary_background_fill_hover"),
    ("button_secondary_text_color", "button_secondary_background_fill"),
    ("button_secondary_text_color_hover", "button_secondary_background_fill_hover"),
    ("color_accent", "background_fill_primary"),  # the selected tab's text
    ("body_text_color", "background_fill_primary"),  # tab names, markdown
    ("body_text_color", "block_background_fill"),
    ("body_text_color_subdued", "background_fill_primary"),  # info and muted text
    ("body_text_color_subdued", "block_background_fill"),
    ("block_info_text_color", "block_background_fill"),
    ("block_label_text_color", "block_label_background_fill"),  # "Probabilities", "Grades"
    ("block_title_text_color", "block_background_fill"),
    ("checkbox_label_text_color", "checkbox_label_background_fill"),  # the "Heatmap for" radio
    ("checkbox_label_text_color_selected", "checkbox_label_background_fill_selected"),
    ("input_placeholder_color", "input_background_fill"),
    ("link_text_color", "background_fill_primary"),
    ("link_text_color_visited", "background_fill_primary"),
    ("link_text_color_hover", "background_fill_primary"),
    ("table_text_color", "table_even_background_fill"),  # the batch table
    ("table_text_color", "table_odd_background_fill"),
    ("accordion_text_color", "block_background_fill"),
    ("error_text_color", "error_background_fill"),
]


def theme_variables(css: str) -> dict[str, dict[str, str]]:
    """The ``--name: value`` declarations of a theme's CSS, as ``{"light": {...}, "dark":
    {...}}`` (the ``:root`` block and the ``:root.dark`` one)."""
    blocks = re.findall(r"(:root[^{]*)\{([^}]*)\}", css)
    modes: dict[str, dict[str, str]] = {"light": {}, "dark": {}}
    for selector, body in blocks:
        mode = "dark" if ".dark" in selector else "light"
        for name, value in re.findall(r"--([\w-]+):\s*([^;]+);", body):
            modes[mode][name] = value.strip()
    return modes


def resolve(name: str, variables: dict[str, str]) -> str:
    """The colour ``#rrggbb`` a theme variable comes to, through its ``var(--...)`` chain."""
    value = variables[name.replace("_", "-")]
    for _ in range(20):
        ref = re.fullmatch(r"var\(--([\w-]+)\)", value)
        if not ref:
            break
        value = variables[ref.group(1)]
    value = NAMED.get(value.lower(), value.lower())
    assert re.fullmatch(r"#[0-9a-f]{6}", value), f"{name}: {value} is not a plain colour"
    return value


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.2's contrast ratio of two sRGB colours ``#rrggbb``: (L1 + 0.05) / (L2 + 0.05)."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_ratio_is_wcags() -> None:
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#f97316") == pytest.approx(2.80, abs=0.01)  # the review's figure
    assert contrast_ratio("#bbbbc2", "#ffffff") == pytest.approx(1.91, abs=0.01)


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_every_text_colour_of_the_theme_reaches_4_5_to_1(mode: str) -> None:
    from app.server import THEME

    # _get_theme_css is gradio's private method (the CSS it serves for the theme): pyproject's
    # app extra pins gradio>=6.31,<7, the versions it is tested with; a gradio 7 may rename it
    variables = theme_variables(THEME._get_theme_css())[mode]
    low = []
    for text, background in PAIRS:
        fg, bg = resolve(text, variables), resolve(background, variables)
        ratio = contrast_ratio(fg, bg)
        if ratio < 4.5:
            low.append(f"{text} {fg} on {background} {bg}: {ratio:.2f}:1")
    assert not low, "\n".join(low)


BOUNDARIES = [
    ("checkbox_border_color", "checkbox_background_color"),  # an unchecked radio's ring, its box
    ("checkbox_border_color", "checkbox_label_background_fill"),  # and the choice's field round it
    ("checkbox_border_color_hover", "checkbox_background_color_hover"),
    ("checkbox_border_color_hover", "checkbox_label_background_fill_hover"),
    ("color_accent", "checkbox_label_background_fill"),  # the focused radio's outline (FOCUS_CSS)
    ("color_accent", "background_fill_primary"),
]
"""(boundary, background) pairs of controls: WCAG 2.2's 1.4.11 asks 3:1 of what identifies a
control. A browser review found the unchecked *Heatmap for* radio's border #d4d4d8 on white,
1.48:1."""


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_every_radio_border_and_focus_outline_reaches_3_to_1(mode: str) -> None:
    from app.server import THEME

    variables = theme_variables(THEME._get_theme_css())[mode]
    low = []
    for line, background in BOUNDARIES:
        fg, bg = resolve(line, variables), resolve(background, variables)
        ratio = contrast_ratio(fg, bg)
        if ratio < 3.0:
            low.append(f"{line} {fg} on {background} {bg}: {ratio:.2f}:1")
    assert not low, "\n".join(low)
    assert contrast_ratio("#d4d4d8", "#ffffff") == pytest.approx(1.48, abs=0.01)  # the review's figure


def test_the_page_uses_the_theme() -> None:
    import inspect

    from app import server

    assert "theme=THEME" in inspect.getsource(server.serve)
