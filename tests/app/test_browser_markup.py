"""What the page's markup, script and style hold for a browser review's findings (headless
Chromium, keyboard only, the accessibility tree): CI has no browser, so these tests check what
each fix rests on; ``bench/app_browser_a11y.py`` measures it in a browser.

F1/F2 live regions that hold a sentence only, found whenever their tab is built; F3 the pictures'
captions above them, not floating over them; F4 the heatmap key's bar never 0 px wide; F5 the
*Heatmap for* radios a group with a visible focus; F6 focus kept after an upload and its Clear;
F7 the upload zone described by its label; F8 download links named by their file; F9 no button
that does nothing, distinct Fullscreen names, accordions with ``aria-expanded``; F10 no code span
that pushes the page sideways, no text under 12 px.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.predict import Predictor


def _event(demo: Any, **where: Any) -> list[Any]:
    return [f for f in demo.fns.values() if all(getattr(f, k) == v for k, v in where.items())]


def _outputs(f: Any) -> list[str | None]:
    return [getattr(o, "elem_id", None) for o in f.outputs]


def test_the_page_script_keeps_watching_for_the_live_regions(predictor: Predictor) -> None:
    """F1: the script marked ``#batch-result`` live, retrying for 10 s, and the element exists
    only once the Batch tab is opened: opened later, it was never a live region. A
    MutationObserver on the page that is never disconnected marks whatever appears, whenever."""
    from app.server import LIVE_IDS, PAGE_JS, AppSettings, build_demo

    demo = build_demo(predictor, AppSettings())
    loaded = [f.js for f in demo.fns.values() if f.js and f.fn is None]
    assert loaded == [PAGE_JS]  # run once as the page loads
    assert "new MutationObserver(fix).observe(document.body" in PAGE_JS
    assert "childList: true, subtree: true" in PAGE_JS
    for gives_up in ("disconnect", "setInterval", "clearInterval", "setTimeout", "tries"):
        assert not re.search(rf"\b{gives_up}\b", PAGE_JS), gives_up
    for live in LIVE_IDS:
        assert f'"{live}"' in PAGE_JS


def test_the_live_region_is_the_sentence_not_the_block_with_gradios_progress(predictor: Predictor) -> None:
    """F2: ``role="status"`` was on the whole block, which holds gradio's progress display: the
    status read "0.0s", "0.1s Result: ...", the batch "queue: 1/1 | 0.1s", "processing | 0.5s"
    and a 1,600-character summary. Now the block's sentence element is the region, the block
    is none, the progress is hidden there, and the batch has a one-sentence status of its own."""
    from app.server import (
        BATCH_RESULT_ID,
        BATCH_STATUS_ID,
        LIVE_IDS,
        PAGE_CSS,
        PAGE_JS,
        STATUS_ID,
        AppSettings,
        build_demo,
    )

    assert set(LIVE_IDS) == {STATUS_ID, BATCH_STATUS_ID} and BATCH_RESULT_ID not in LIVE_IDS
    script = PAGE_JS.replace(" ", "")
    # gradio's Markdown: the block holds the status tracker and [data-testid=markdown], the sentence
    assert "block.querySelector('[data-testid=\"markdown\"]')" in script
    for name in ("role", "aria-live", "aria-atomic"):
        assert f'"{name}"' in script
    assert 'set(sentence,"role","status")' in script and 'set(sentence,"aria-live","polite")' in script
    assert "block.removeAttribute(name)" in script  # the block itself is no region
    assert 'region.setAttribute("role"' not in script  # the old script's mark on the block
    for live in LIVE_IDS:  # off screen, and without gradio's progress
        assert f'#{live} [data-testid="status-tracker"]' in PAGE_CSS
        assert re.search(rf"#{live}[^{{}}]*\{{[^}}]*clip: rect\(0 0 0 0\)", PAGE_CSS), live
    # gradio's own page-wide announcer ("Loading", "In queue: 1 of 1", "common.complete") silenced
    assert "'.sr-only[aria-live]:not([aria-live=\"off\"])'" in PAGE_JS and '"aria-live", "off"' in PAGE_JS
    demo = build_demo(predictor, AppSettings())
    ids = [c.get("props", {}).get("elem_id") for c in demo.config["components"]]
    assert ids.count(STATUS_ID) == 1 and ids.count(BATCH_STATUS_ID) == 1 and ids.count(BATCH_RESULT_ID) == 1


def test_each_grading_says_it_started_then_says_its_result(predictor: Predictor, tmp_path: Path) -> None:
    """F2: a grading of the same image again left the status as it was (a live region speaks
    when its text changes); now every grading's first step sets "Grading the image." (a step of
    its own, before the model's, so that the result always comes after it), then the result's
    sentence; the same for a batch ("Grading 2 files.", then "2 files: 2 graded; ...")."""
    from app.server import (
        BATCH_STATUS_ID,
        STATUS_ID,
        AppSettings,
        batch_status,
        build_demo,
        grading_status,
    )
    from tests.helpers.app_fixtures import ramp_scan

    demo = build_demo(predictor, AppSettings())
    (grade,) = _event(demo, api_name="grade")
    (batch,) = _event(demo, api_name="grade_batch")
    ids = {id(f): i for i, f in demo.fns.items()}
    graders = [f for f in demo.fns.values() if f.fn is not None and [o._id for o in f.outputs]
               == [o._id for o in grade.outputs] and f.name in ("grade", "regrade")]
    assert len(graders) == 3  # the Grade button, an upload, the heatmap choice
    triggers = set()
    for f in graders:
        (start,) = [s for i, s in demo.fns.items() if i == f.trigger_after]
        assert _outputs(start) == [STATUS_ID] and start.queue is False and start.show_progress == "hidden"
        triggers.add(start.targets[0][1])
        assert start.fn(str(tmp_path / "a.png")) == "Grading the image." and start.fn(None) == ""
    assert triggers == {"click", "upload", "change"}
    (start,) = [s for i, s in demo.fns.items() if i == batch.trigger_after]
    assert _outputs(start) == [BATCH_STATUS_ID] and start.fn(["a.png", "b.png"]) == "Grading 2 files."
    (said,) = [f for f in demo.fns.values() if f.trigger_after == ids[id(batch)] and _outputs(f) == [BATCH_STATUS_ID]
               and not f.trigger_only_on_failure]
    table = batch.outputs[1]
    paths = [str(ramp_scan(tmp_path / "s0.png")), str(ramp_scan(tmp_path / "s1.png", 1))]
    summary, value, *_ = batch.fn(paths + [str(tmp_path / "missing.png")])
    back = table.preprocess(table.postprocess(value))  # the table as the page sends it back
    sentence = said.fn(summary, back)
    assert sentence == batch_status(summary, value["data"], predictor)
    assert sentence.startswith("3 files: 2 graded, 1 rejected") and sentence.endswith("; untrained demo.")
    assert len(sentence) < 120 and sentence.count(".") == 1
    assert grading_status([]) == "" and grading_status(["x"], batch=True) == "Grading 1 file."


def test_each_grading_is_a_status_step_then_the_model_step_each_with_a_failure_step(
        predictor: Predictor, tmp_path: Path) -> None:
    """F2 and a second review: read from the dependencies the page's script runs
    (``demo.config["dependencies"]``), not from the source. Each of the four gradings (Grade, an
    upload, the heatmap choice, Grade all) is a status step started by its trigger, then the
    model's step chained with ``.then`` to it (not ``.success``), in the same trigger mode, and
    nothing else after the status step. Gradio's page runs a failed step's ``.failure`` steps
    only, not its ``.then`` ones: a step that failed inside gradio (an ``explain`` outside the
    choices, a path outside gradio's cache: refused before the app's handler runs) left the
    status at "Grading the image." / "Grading 2 files.". Now each status step and each model
    step has one ``.failure`` step that says so in its tab's status ("" when the upload is gone,
    as when the x cancels a grading)."""
    from app.server import (
        BATCH_STATUS_ID,
        HEATMAP_FOR_ID,
        STATUS_ID,
        AppSettings,
        build_demo,
        failed_status,
    )

    demo = build_demo(predictor, AppSettings())
    deps = {d["id"]: d for d in demo.config["dependencies"]}
    kinds = {c["id"]: c.get("props", {}).get("elem_id") or c["type"] for c in demo.config["components"]}
    models = [i for i, f in demo.fns.items() if getattr(f.fn, "__name__", "") in ("grade", "regrade", "grade_batch")]
    assert len(models) == 4
    started = []
    for i in models:
        model = deps[i]
        start = deps[model["trigger_after"]]
        status_id = BATCH_STATUS_ID if demo.fns[i].fn.__name__ == "grade_batch" else STATUS_ID
        # the model's step: chained to the status step with .then (run whenever it completes)
        assert [list(t) for t in model["targets"]] == [[None, "then"]]
        assert model["trigger_only_on_success"] is False and model["trigger_only_on_failure"] is False
        assert model["queue"] is True
        # the status step: started by the page's trigger, before anything else, said at once
        assert start["trigger_after"] is None and len(start["targets"]) == 1
        (target, event), = start["targets"]
        started.append((kinds[target], event))
        assert [kinds[o] for o in start["outputs"]] == [status_id]
        assert start["queue"] is False and start["show_progress"] == "hidden"
        assert start["trigger_mode"] == model["trigger_mode"]
        assert model["trigger_mode"] == ("always_last" if kinds[target] == HEATMAP_FOR_ID else "once")
        assert [d["id"] for d in deps.values() if d["trigger_after"] == start["id"]
                and not d["trigger_only_on_failure"]] == [i]
        # one failure step on each: the status says the grading failed
        for step in (start, model):
            (failed,) = [d for d in deps.values() if d["trigger_after"] == step["id"] and d["trigger_only_on_failure"]]
            assert [list(t) for t in failed["targets"]] == [[None, "failure"]]
            assert failed["trigger_only_on_success"] is False
            assert [kinds[o] for o in failed["outputs"]] == [status_id] and failed["inputs"] == start["inputs"]
            assert failed["queue"] is False and failed["show_progress"] == "hidden"
            fn = demo.fns[failed["id"]].fn
            if status_id == BATCH_STATUS_ID:
                assert fn([str(tmp_path / "a.png")]) == "Nothing was graded: an error; the message says why."
                assert fn([]) == "" and fn(None) == ""
            else:
                assert fn(str(tmp_path / "a.png")) == "Not graded: an error; the message says why."
                assert fn(None) == ""
        # the result's own steps (its sentence, the pictures' alt text) run after a result only
        after = [d for d in deps.values() if d["trigger_after"] == i and not d["trigger_only_on_failure"]]
        assert after and all(d["outputs"] for d in after)
    assert sorted(event for _, event in started) == ["change", "click", "click", "upload"]
    assert (HEATMAP_FOR_ID, "change") in started
    assert failed_status([]) == "" and failed_status(["a", "b"], batch=True).startswith("Nothing was graded")


def test_the_batch_status_counts_what_the_table_shows(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import _busy_markdown, batch_status

    monkeypatch.setattr(predictor, "untrained", False)
    rows = [["a.png", 1, "NPDR", 10, 60, 30, ""], ["b.png", 2, "PDR (not reliably gradable)", None, None, None, "x"],
            ["c.png", None, "rejected", None, None, None, "not an image"], ["d.png", 0, "Normal", 90, 5, 5, ""],
            ["e.png", 0, "Normal (not reliably gradable)", None, None, None, "y"]]
    assert batch_status("**4 images graded**", rows, predictor) == "5 files: 4 graded, 1 rejected; 2 not reliably gradable."
    assert batch_status("**1 image graded**", rows[:1], predictor) == "1 file: 1 graded."
    assert batch_status("x", [["", None, "", None, None, None, ""]], predictor) == "Nothing was graded; the message says why."
    assert batch_status("Upload one or more images first.", [], predictor) == "Nothing was graded; the message says why."
    assert batch_status(_busy_markdown("wait"), [], predictor).startswith("Busy: nothing was graded")
    failed = batch_status("⛔ The model failed while grading the batch (RuntimeError: x): a fault", rows[2:3], predictor)
    assert failed == "The model failed on the batch; the message says more."
    assert batch_status("", [], predictor) == ""


def test_the_captions_are_paragraphs_above_the_pictures_not_floating_labels(predictor: Predictor) -> None:
    """F3: gradio floats a picture's label over its top: 59 of the heatmap's 418 px hidden on a
    desktop, about 90 on a phone, 127 at 200% zoom, the solid-outlined hottest cell included.
    The labels are hidden and each caption is a paragraph above its picture; the label stays
    the output's name for API clients (short: the caption as label made a 239-character name),
    and the alt texts are set as before."""
    from app.server import (
        CAPTION_CLASS,
        HEATMAP_CAPTION,
        HEATMAP_IMAGE_ID,
        HEATMAP_LABEL,
        IMAGE_ID,
        IMAGE_LABEL,
        AppSettings,
        _image_caption,
        build_demo,
    )

    demo = build_demo(predictor, AppSettings())
    (grade,) = _event(demo, api_name="grade")
    original, overlay = grade.outputs[2:4]
    assert (original.elem_id, overlay.elem_id) == (IMAGE_ID, HEATMAP_IMAGE_ID)
    for picture, caption, label in ((original, _image_caption(predictor), IMAGE_LABEL),
                                    (overlay, HEATMAP_CAPTION, HEATMAP_LABEL)):
        assert picture.show_label is False and picture.label == label
        siblings = picture.parent.children
        (above,) = [c for c in siblings if CAPTION_CLASS in (getattr(c, "elem_classes", None) or [])]
        assert siblings.index(above) < siblings.index(picture) and above.value == caption
    alts = [f for f in demo.fns.values() if [o._id for o in f.outputs] == [original._id, overlay._id]]
    assert len(alts) == 4  # every result sets the alt texts


def test_the_heatmap_keys_bar_keeps_a_width_on_a_narrow_screen() -> None:
    """F4: beside its long "high: ..." words the bar shrank to 0 px at 640 px and below."""
    from app.server import KEY_BAR_MIN_PX, heat_key_html

    key = heat_key_html()
    (bar,) = re.findall(r'<span style="([^"]*linear-gradient[^"]*)"', key)
    assert KEY_BAR_MIN_PX >= 90 and f"min-width:{KEY_BAR_MIN_PX}px" in bar
    row = key.split('<span>low</span>')[0].rsplit("<div", 1)[1]
    assert "flex-wrap:wrap" in row  # the words go onto a line of their own


def test_the_heatmap_radios_are_one_named_group_with_a_visible_focus(predictor: Predictor) -> None:
    """F5: no visible focus, each radio its own ``name`` (arrow keys did nothing), the group
    without a name. (The border's contrast: tests/app/test_theme_contrast.py.)"""
    from app.server import FOCUS_CSS, HEATMAP_FOR_ID, PAGE_CSS, PAGE_JS, AppSettings, build_demo

    demo = build_demo(predictor, AppSettings())
    (grade,) = _event(demo, api_name="grade")
    assert grade.inputs[1].elem_id == HEATMAP_FOR_ID
    assert FOCUS_CSS in PAGE_CSS
    rule = re.search(rf'#{HEATMAP_FOR_ID} input\[type="radio"\]:focus-visible \{{([^}}]*)\}}', FOCUS_CSS)
    assert rule and re.search(r"outline: 2px solid", rule.group(1))
    assert f'const RADIOS = ["{HEATMAP_FOR_ID}"]' in PAGE_JS
    script = PAGE_JS.replace(" ", "")
    assert 'set(radio,"name",id)' in script  # one name: the arrow keys move within the group
    assert 'set(group,"role","radiogroup")' in script and 'set(group,"aria-labelledby",id+"-title")' in script
    assert "[data-testid=\"block-info\"]" in script  # the group's visible title "Heatmap for"


def test_focus_goes_to_clear_or_the_drop_zone_not_the_body(predictor: Predictor) -> None:
    """F6 and F7: focus fell to ``<body>`` when gradio swapped the drop zone for the file after
    an upload, and back after Clear; the zone's name did not say what to upload."""
    from app.server import PAGE_JS, UPLOAD_IDS, AppSettings, build_demo

    demo = build_demo(predictor, AppSettings())
    (grade,) = _event(demo, api_name="grade")
    (batch,) = _event(demo, api_name="grade_batch")
    assert (grade.inputs[0].elem_id, batch.inputs[0].elem_id) == UPLOAD_IDS
    script = PAGE_JS.replace(" ", "")
    assert 'document.addEventListener("focusin"' in script
    assert "!lastFocus.isConnected" in script and "document.activeElement===document.body" in script
    assert '.icon-button-wrapperbutton' in script and "to.focus()" in script  # Clear, else the zone
    assert 'set(zone,"aria-describedby",id+"-label")' in script


def test_links_buttons_and_accordions_say_what_they_are() -> None:
    """F8 and F9: download links named by size alone ("1.5 KB"), the probability rows and the
    pictures buttons that do nothing, two "Fullscreen" buttons, an accordion without
    ``aria-expanded``."""
    from app.server import FULLSCREEN_NAMES, PAGE_JS, PROBABILITY_ID

    script = PAGE_JS.replace(" ", "")
    assert '"Download"+file' in script and 'a.getAttribute("download")' in script
    assert f"#{PROBABILITY_ID}button.confidence-set" in script and ".image-frame" in script
    assert "b.disabled=true" in script and 'set(b,"role","none")' in script
    assert 'set(b,"tabindex","-1")' in script
    names = list(FULLSCREEN_NAMES.values())
    assert len(set(names)) == len(names) and all(n.startswith("Fullscreen: ") for n in names)
    assert 'button[aria-label="Fullscreen"]' in PAGE_JS
    assert 'set(button,"aria-expanded"' in script and '[data-testid="accordion-content"]' in PAGE_JS


def test_code_spans_wrap_and_small_print_stays_readable() -> None:
    """F10: at 390 px the batch summary's code span (919 px) pushed the page sideways; the
    *Limits* line was 11.2 px."""
    from app.server import PAGE_CSS, READING_CSS

    assert READING_CSS in PAGE_CSS
    assert re.search(r"\.prose code \{[^}]*overflow-wrap: anywhere", READING_CSS)
    small = re.search(r"\.prose small \{[^}]*font-size: max\((\d+(?:\.\d+)?)px, (\d+(?:\.\d+)?)em\)", READING_CSS)
    assert small and float(small.group(1)) >= 12 and float(small.group(2)) * 14 >= 12  # gradio's 14 px text


def test_every_hook_of_the_page_script_is_in_gradios_frontend() -> None:
    """The classes, test ids and labels the script and the style find gradio's elements by are
    in the gradio installed (its built frontend): a gradio that renames one fails here, not
    silently in a browser."""
    import gradio

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in assets.glob("*.js"))
    for hook in ("block-label", "upload-container", "confidence-set", "image-frame", "label-wrap",
                 "accordion-content", "block-info", "download-link", "sr-only", "status-tracker",
                 "icon-button-wrapper", "gr-accordion", '"markdown"', "Fullscreen"):
        assert hook in text, hook


def test_the_upload_labels_keep_clear_of_their_clear_button() -> None:
    """At 390 px an upload's label ran under its × (Clear): "...BMP; grey" hidden."""
    from app.server import READING_CSS, UPLOAD_IDS

    for upload in UPLOAD_IDS:
        assert re.search(rf'#{upload} \[data-testid="block-label"\][^{{]*\{{ max-width: calc\(100% - \d+px\)', READING_CSS)
