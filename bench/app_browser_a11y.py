"""The clinician app in a real browser, by keyboard and through the accessibility tree ->
``bench/results/app_browser_a11y.json``.

    python -m bench.app_browser_a11y [--url URL] [--chromium PATH] [--chromedriver PATH]
                                     [--selenium-site DIR] [--shots DIR] [--name NAME]

Not a test (CI has no browser): it needs selenium and a Chromium with its chromedriver, and
without them says what is missing and exits 0, writing nothing. ``--selenium-site DIR``: a
``site-packages`` folder that holds selenium (another virtual environment's), put at the end of
``sys.path`` so that this interpreter's own packages come first.

Starts ``python -m app`` on a free 127.0.0.1 port with an untrained demo bundle
(:mod:`app.demo_bundle`; ``--url``: measure a server already running there instead, whose code
need not be this checkout's), opens it in headless Chromium and measures what a browser review
(keyboard only, the accessibility tree) found:

- F1, F2: which elements are live regions once the *Batch* tab is opened after 11 s (a script
  that gave up after 10 s left it none), and every text each live region held while a single
  image was graded, graded again and a batch of files was graded (gradio's progress, "0.0s",
  "processing | 0.5s", and the 1,600-character batch summary were read out);
- F3: how many pixels of each picture's top something else covers (gradio's floating label did:
  59 of the heatmap's 418 px at 1280 x 900), at 1280 x 900, 390 x 844 (a phone), 640 x 450
  (200% zoom) and 320 x 256 (400%), the pictures' alt texts;
- F4: the heatmap key's colour bar width at those sizes (0 px at 640 and below);
- F5: the *Heatmap for* radios' names, what ArrowRight does, the group's accessible name, the
  focused radio's outline and the unchecked radio's border contrast;
- F6: where focus is after an upload and after the upload's × (Clear);
- F7: the upload zone's accessible name and description;
- F8: the download links' accessible names;
- F9: the buttons the accessibility tree lists (the probability rows and the pictures were
  buttons that do nothing; two were "Fullscreen") and the accordion's ``aria-expanded``;
- F10: the page's width against the window's at 390 px after a batch, the widest code span, and
  the *Limits* line's font size.

Screenshots go to ``--shots`` (default: none). The images are the real DRAC samples under the
shared data folder (``bench.common.SHARED_DATA``), else grey ramps made here; the batch adds a
colour photograph when there is one (APTOS: not reliably gradable for a UW-OCTA model) and a
text file (rejected).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA, stop_process, write_result  # noqa: E402
from drac_ssl.starting import python_command  # noqa: E402

SIZES = {"desktop": (1280, 900), "phone": (390, 844), "zoom200": (640, 450), "zoom400": (320, 256)}
"""The window sizes (CSS px) measured: 640 x 450 is 1280 x 900 at 200% zoom, 320 x 256 at 400%."""

PROGRESS = re.compile(r"(^|\s)\d+\.\d+s\b|queue:|processing \||^Loading$|\bcommon\.\w+")
"""What gradio's progress displays write ("0.0s", "queue: 1/1 | 0.1s", "processing | 0.5s"; its
page-wide announcer "Loading", "In queue: 1 of 1", "common.complete")."""

LIVE_RECORDER = r"""
window.__said = [];
const last = new Map();
const note = () => {
  for (const e of document.querySelectorAll('[aria-live]')) {
    if (e.getAttribute('aria-live') === 'off') continue;
    const owner = e.id || (e.closest('[id]') || {}).id || '';
    const key = owner + '|' + (e.dataset.testid || e.tagName);
    const text = e.textContent.replace(/\s+/g, ' ').trim();
    if (last.get(key) !== text) { last.set(key, text); window.__said.push([owner, text]); }
  }
};
note();
new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                   attributes: true});
"""

FOCUSED = r"""
const e = document.activeElement;
if (!e) return null;
const cs = getComputedStyle(e);
return {tag: e.tagName, name: e.getAttribute('aria-label') || (e.innerText || '').trim().slice(0, 60),
        id: (e.closest('[id]') || {}).id || '', outline: cs.outlineStyle + ' ' + cs.outlineWidth,
        outline_colour: cs.outlineColor, focus_visible: e.matches(':focus-visible')};
"""

COVERED = r"""
const out = {};
for (const id of arguments[0]) {
  const block = document.getElementById(id);
  const img = block && block.querySelector('img');
  if (!img) { out[id] = null; continue; }
  img.scrollIntoView({block: 'start'});
  window.scrollBy(0, -4);
  const r = img.getBoundingClientRect();
  const x = r.left + r.width / 2;
  let covered = 0;
  for (let y = Math.ceil(r.top); y < Math.min(r.bottom, window.innerHeight); y++) {
    const hit = document.elementFromPoint(x, y);
    if (hit === img || (hit && hit.contains(img))) break;
    covered++;
  }
  const label = block.querySelector('label[data-testid="block-label"]');
  const caption = block.parentElement.closest('.column') &&
                  block.parentElement.closest('.column').querySelector('.picture-caption');
  out[id] = {covered_px: covered, height_px: Math.round(r.height), alt: img.alt,
             floating_label: !!(label && label.offsetParent),
             caption: caption ? caption.innerText.trim() : null,
             caption_above: caption ? caption.getBoundingClientRect().bottom <= r.top + 0.5 : null};
}
return out;
"""

LAYOUT = r"""
const de = document.documentElement;
const key = document.querySelector('[aria-label^="Key of the heatmap"]');
const bar = key && [...key.querySelectorAll('*')].find(e => getComputedStyle(e).backgroundImage.includes('gradient'));
const codes = [...document.querySelectorAll('code')].filter(c => c.offsetParent);
const limits = [...document.querySelectorAll('small')].find(s => s.innerText.trim().startsWith('Limits'));
return {page_width: de.scrollWidth, window_width: de.clientWidth,
        key_bar_px: bar && bar.offsetParent ? Math.round(bar.getBoundingClientRect().width) : null,
        widest_code_px: codes.length ? Math.max(...codes.map(c => Math.round(c.getBoundingClientRect().width))) : null,
        limits_font_px: limits ? parseFloat(getComputedStyle(limits).fontSize) : null};
"""

RADIOS = r"""
const group = document.getElementById('heatmap-for');
const radios = [...group.querySelectorAll('input[type=radio]')];
const unchecked = radios.find(r => !r.checked);
const cs = getComputedStyle(unchecked);
const bg = getComputedStyle(unchecked.closest('label')).backgroundColor;
return {names: [...new Set(radios.map(r => r.name))], checked: radios.findIndex(r => r.checked),
        group_role: group.getAttribute('role'), labelledby: group.getAttribute('aria-labelledby'),
        unchecked_border: cs.borderTopColor, label_background: bg};
"""


def _rgb(css: str) -> tuple[float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)[:3]]
    return values[0], values[1], values[2]


def contrast(first: str, second: str) -> float:
    """WCAG 2.2's contrast ratio of two CSS ``rgb(...)`` colours."""
    def luminance(rgb: tuple[float, float, float]) -> float:
        lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted((luminance(_rgb(first)), luminance(_rgb(second))), reverse=True)
    return round((high + 0.05) / (low + 0.05), 2)


def _missing(chromium: str | None, chromedriver: str | None) -> list[str]:
    """What this run lacks: selenium, the browser, its driver."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ModuleNotFoundError:
        missing.append("selenium (pip install selenium, or --selenium-site DIR)")
    if not chromium or not Path(chromium).is_file():
        missing.append("chromium (--chromium PATH)")
    if not chromedriver or not Path(chromedriver).is_file():
        missing.append("chromedriver (--chromedriver PATH)")
    return missing


def _images(tmp: Path) -> tuple[list[Path], list[Path]]:
    """(single-image uploads, the batch's files): the DRAC samples or grey ramps; the batch adds
    an APTOS photograph when there is one and a text file."""
    real = sorted((SHARED_DATA / "drac_samples").glob("sample_*.png"))[:4]
    if len(real) < 2:
        import cv2
        import numpy as np

        real = []
        for k in range(3):
            ramp = np.tile(np.linspace(20 + 20 * k, 220, 512, dtype=np.float32), (512, 1))
            rng = np.random.default_rng(k)
            noisy = np.clip(ramp + rng.normal(0, 12, ramp.shape), 0, 255).astype(np.uint8)
            path = tmp / f"ramp_{k}.png"
            cv2.imwrite(str(path), cv2.GaussianBlur(noisy, (5, 5), 0))
            real.append(path)
    photo = sorted((SHARED_DATA / "aptos_samples" / "train_images").glob("*"))[:1]
    text = tmp / "notes.txt"
    text.write_text("not an image\n", encoding="utf-8")
    return real, [*real, *photo, text]


class Page:
    """One headless Chromium window on the app."""

    def __init__(self, url: str, chromium: str, chromedriver: str, shots: Path | None) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--force-device-scale-factor=1", "--lang=en-US"):
            options.add_argument(arg)
        self.d = webdriver.Chrome(service=Service(chromedriver), options=options)
        self.url, self.shots = url, shots
        self.size("desktop")

    def size(self, name: str) -> None:
        w, h = SIZES[name]
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})
        time.sleep(0.8)

    def load(self) -> None:
        self.d.get(self.url)
        for _ in range(120):
            if self.js("return !!document.getElementById('grade-status') && document.readyState == 'complete'"):
                break
            time.sleep(0.5)
        time.sleep(1.5)

    def js(self, script: str, *args: Any) -> Any:
        return self.d.execute_script(script, *args)

    def keys(self, *keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.d).send_keys(*keys).perform()
        time.sleep(0.15)

    def focus(self, selector: str) -> bool:
        return bool(self.js("const e = document.querySelector(arguments[0]); if (e) e.focus(); return !!e;", selector))

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Give a file input files as a file chooser does (no focus moved by the script)."""
        doc = self.d.execute_cdp_cmd("DOM.getDocument", {"depth": -1, "pierce": True})
        node = self.d.execute_cdp_cmd("DOM.querySelector", {"nodeId": doc["root"]["nodeId"], "selector": selector})
        self.d.execute_cdp_cmd("DOM.setFileInputFiles", {"nodeId": node["nodeId"], "files": [str(p) for p in paths]})

    def wait(self, script: str, timeout: float = 120.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if self.js(script):
                return True
            time.sleep(0.3)
        return False

    def said(self) -> list[list[str]]:
        """The texts the live regions held since :data:`LIVE_RECORDER` was installed, in order."""
        said = self.js("const s = window.__said || []; window.__said = []; return s;")
        return [[owner, text] for owner, text in said if text]

    def buttons(self) -> list[str]:
        """The accessible names of the buttons in the accessibility tree."""
        nodes = self.d.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
        def value(node: dict[str, Any], key: str) -> Any:
            return (node.get(key) or {}).get("value")
        return [value(n, "name") or "" for n in nodes if not n.get("ignored") and value(n, "role") == "button"]

    def ax_name(self, role: str) -> list[str]:
        nodes = self.d.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
        return [(n.get("name") or {}).get("value", "") for n in nodes
                if not n.get("ignored") and (n.get("role") or {}).get("value") == role]

    def shot(self, name: str) -> None:
        if self.shots is None:
            return
        metrics = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": metrics["width"], "height": min(metrics["height"], 6000), "scale": 1}})
        (self.shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.d.quit()


def _announced(said: list[list[str]]) -> dict[str, Any]:
    texts = [text for _, text in said]
    return {"texts": said, "longest_chars": max((len(t) for t in texts), default=0),
            "progress_read_out": [t for t in texts if PROGRESS.search(t)]}


def single_image(page: Page, images: list[Path]) -> dict[str, Any]:
    """F2 to F10 on the single-image tab."""
    from selenium.webdriver.common.keys import Keys

    out: dict[str, Any] = {}
    page.load()
    page.js(LIVE_RECORDER)
    zone = "#image-upload button.upload-container"
    out["F7_upload_zone"] = page.js(
        "const z = document.querySelector(arguments[0]); const d = z.getAttribute('aria-describedby');"
        "return {name: z.getAttribute('aria-label'), description: d && document.getElementById(d) ?"
        " document.getElementById(d).innerText.trim() : null};", zone)
    page.focus(zone)
    page.set_files("#image-upload input[type=file]", images[:1])
    status = "return /Result|Graded/.test(document.getElementById('grade-status').textContent)"
    page.wait(status)
    time.sleep(1.5)
    out["F6_focus_after_upload"] = page.js(FOCUSED)
    out["F2_live_upload"] = _announced(page.said())
    out["F8_upload_link"] = page.js("return [...document.querySelectorAll('#image-upload a[data-testid=download-link]')]"
                                    ".map(a => a.getAttribute('aria-label') || a.innerText.trim())")
    # F9: the buttons of the accessibility tree, the accordion
    buttons = page.buttons()
    grade_rows = re.compile(r"^(\d+ )?\d+ \S.*: (<1|>99|\d+)%$")
    alts = page.js("return [...document.querySelectorAll('img')].map(i => i.alt).filter(a => a)")
    out["F9_buttons"] = {"all": buttons,
                         "probability_rows": [b for b in buttons if grade_rows.match(b)],
                         "pictures": [b for b in buttons if b in alts],
                         "fullscreen": [b for b in buttons if b.startswith("Fullscreen")]}
    accordion = "[...document.querySelectorAll('button')].find(b => b.innerText.startsWith('Details'))"
    before = page.js(f"return {accordion}.getAttribute('aria-expanded')")
    page.js(f"{accordion}.focus()")
    page.keys(Keys.ENTER)
    time.sleep(0.5)
    out["F9_accordion_expanded"] = [before, page.js(f"return {accordion}.getAttribute('aria-expanded')")]
    page.keys(Keys.ENTER)
    # F3, F4, F10 at every size
    out["sizes"] = {}
    for name in SIZES:
        page.size(name)
        out["sizes"][name] = {"pictures": page.js(COVERED, ["image-picture", "heatmap-picture"]), **page.js(LAYOUT)}
        page.js("window.scrollTo(0, 0)")
        page.shot(f"single_{name}")
    page.size("desktop")
    # F5: the radios, by keyboard; a regrade for the heatmap of another grade
    out["F5_radios_before"] = page.js(RADIOS)
    page.focus("#heatmap-for input[type=radio]")
    page.said()
    page.keys(Keys.ARROW_RIGHT)
    out["F5_focus_after_arrow"] = page.js(FOCUSED)
    out["F5_radios_after_arrow"] = page.js(RADIOS)
    radios = out["F5_radios_before"]
    out["F5_unchecked_border_contrast"] = contrast(radios["unchecked_border"], radios["label_background"])
    out["F5_radiogroup_names"] = page.ax_name("radiogroup")
    if page.shots is not None:
        page.js("document.getElementById('heatmap-for').scrollIntoView({block: 'center'})")
        shot = page.d.find_element("css selector", "#heatmap-for").screenshot_as_png
        (page.shots / "radios_focus.png").write_bytes(shot)
    time.sleep(4)
    out["F2_live_heatmap_choice"] = _announced(page.said())
    # the same image graded again (Grade): said again, no progress
    page.js("[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Grade').focus()")
    page.keys(Keys.ENTER)
    time.sleep(4)
    out["F2_live_regrade"] = _announced(page.said())
    # F6: the upload's x by keyboard
    page.focus("#image-upload .icon-button-wrapper button")
    page.keys(Keys.ENTER)
    time.sleep(1.5)
    out["F6_focus_after_clear"] = page.js(FOCUSED)
    return out


def batch(page: Page, files: list[Path]) -> dict[str, Any]:
    """F1, F2, F8 and F10 on the batch tab, opened 11 s after the page loaded."""
    from selenium.webdriver.common.keys import Keys

    out: dict[str, Any] = {}
    page.load()
    time.sleep(11)
    page.js("[...document.querySelectorAll('[role=tab]')].find(t => t.offsetParent && t.innerText.trim() === 'Batch').focus()")
    page.keys(Keys.ENTER)
    time.sleep(1.5)
    out["F1_live_regions_late_open"] = page.js(
        "return [...document.querySelectorAll('[aria-live],[role=status]')].map(e => ({owner: e.id || "
        "(e.closest('[id]') || {}).id || '', testid: e.dataset.testid || e.tagName, role: e.getAttribute('role'),"
        " live: e.getAttribute('aria-live')}))")
    page.js(LIVE_RECORDER)
    page.set_files("#batch-upload input[type=file]", files)
    time.sleep(3)
    page.js("[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Grade all').focus()")
    page.keys(Keys.ENTER)
    page.wait("return /graded|Nothing/.test(document.getElementById('batch-result').textContent)")
    time.sleep(2.5)
    out["files"] = len(files)
    out["F2_live_batch"] = _announced(page.said())
    out["F8_download_links"] = page.js("return [...document.querySelectorAll('a[data-testid=download-link]')]"
                                       ".filter(a => a.offsetParent).map(a => a.getAttribute('aria-label') || a.innerText.trim())")
    page.shot("batch_desktop")
    page.size("phone")
    out["F10_phone"] = page.js(LAYOUT)
    page.shot("batch_phone")
    page.size("desktop")
    return out


def verdicts(single: dict[str, Any], batched: dict[str, Any]) -> dict[str, bool]:
    """Each finding, fixed or not, by what was measured."""
    live = batched["F1_live_regions_late_open"]
    said = [t for k in ("F2_live_upload", "F2_live_heatmap_choice", "F2_live_regrade") for _, t in single[k]["texts"]]
    sizes = single["sizes"].values()
    radios, after = single["F5_radios_before"], single["F5_radios_after_arrow"]
    buttons = single["F9_buttons"]
    links = batched["F8_download_links"]
    return {
        "F1": any(r["owner"] == "batch-status" and r["role"] == "status" for r in live),
        "F2": (not any(single[k]["progress_read_out"] for k in ("F2_live_upload", "F2_live_heatmap_choice",
                                                                  "F2_live_regrade"))
               and not batched["F2_live_batch"]["progress_read_out"] and bool(said)
               and 0 < batched["F2_live_batch"]["longest_chars"] <= 160
               and bool(single["F2_live_regrade"]["texts"])  # the same result again: said again
               # each ends on its result, not on "Grading ..." (the two steps in the wrong order)
               and all(single[k]["texts"] and not single[k]["texts"][-1][1].startswith("Grading")
                       for k in ("F2_live_upload", "F2_live_heatmap_choice", "F2_live_regrade"))
               and not batched["F2_live_batch"]["texts"][-1][1].startswith("Grading")),
        "F3": all(p is not None and p["covered_px"] == 0 and p["alt"] for s in sizes for p in s["pictures"].values()),
        "F4": all((s["key_bar_px"] or 0) >= 90 for s in sizes),
        "F5": (len(radios["names"]) == 1 and after["checked"] != radios["checked"]
               and single["F5_focus_after_arrow"]["outline"].startswith("solid")
               and single["F5_unchecked_border_contrast"] >= 3.0 and "Heatmap for" in single["F5_radiogroup_names"]),
        "F6": all(single[k]["tag"] == "BUTTON" and single[k]["id"] == "image-upload"
                  for k in ("F6_focus_after_upload", "F6_focus_after_clear")),
        "F7": bool(single["F7_upload_zone"]["description"]),
        "F8": bool(links) and len(set(links)) == len(links) and all(a.startswith("Download ") for a in links),
        "F9": (not buttons["probability_rows"] and not buttons["pictures"]
               and len(set(buttons["fullscreen"])) == len(buttons["fullscreen"])
               and single["F9_accordion_expanded"] == ["false", "true"]),
        "F10": (batched["F10_phone"]["page_width"] <= batched["F10_phone"]["window_width"]
                and (single["sizes"]["desktop"]["limits_font_px"] or 0) >= 12),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.app_browser_a11y"), allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="a running app to measure (default: start one with a demo bundle)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                        help="the browser (default: chromium on PATH)")
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver"),
                        help="its driver (default: chromedriver on PATH)")
    parser.add_argument("--selenium-site", default=None, metavar="DIR",
                        help="a site-packages folder holding selenium, appended to sys.path")
    parser.add_argument("--shots", default=None, metavar="DIR", help="write screenshots there")
    parser.add_argument("--name", default="app_browser_a11y", help="bench/results/NAME.json")
    parser.add_argument("--out-dir", default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    if args.selenium_site:
        sys.path.append(str(Path(args.selenium_site).expanduser()))
    missing = _missing(args.chromium, args.chromedriver)
    if missing:
        print(f"[app_browser_a11y] skipped, nothing written: no {', no '.join(missing)}")
        return 0
    shots = Path(args.shots) if args.shots else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="drac_app_browser_"))
    server = None
    try:
        singles, files = _images(tmp)
        url = args.url
        if url is None:
            from app.demo_bundle import build_demo_bundle
            from app.loopback import free_port, wait_until_serving

            bundle = build_demo_bundle(tmp / "demo")
            url = f"http://127.0.0.1:{free_port()}/"
            env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
            with open(tmp / "server.log", "w", encoding="utf-8") as log:
                server = subprocess.Popen([sys.executable, "-m", "app", "--bundle", str(bundle), "--port",
                                           url.rsplit(":", 1)[1].strip("/"), "--quiet"],
                                          cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            wait_until_serving(url, timeout=300, process=server)
        page = Page(url, args.chromium, args.chromedriver, shots)
        try:
            single = single_image(page, singles)
            batched = batch(page, files)
            version = page.d.capabilities.get("browserVersion")
        finally:
            page.close()
    finally:
        if server is not None:
            stop_process(server)
        shutil.rmtree(tmp, ignore_errors=True)
    fixed = verdicts(single, batched)
    figures = {"browser": f"headless Chromium {version}", "url_given": args.url is not None,
               "window_sizes": SIZES,
               "server": ("a running server given by --url (its code need not be this checkout's)"
                          if args.url else "python -m app from this checkout, untrained demo bundle"),
               "images": [p.name for p in singles[:1]], "batch_files": [p.name for p in files],
               "fixed": fixed, "single_image": single, "batch": batched}
    write_result(args.name, figures, Path(args.out_dir) if args.out_dir else None)
    print(json.dumps(fixed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
