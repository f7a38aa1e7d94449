"""Screenshot of the app with a prediction on a real DRAC sample -> ``docs/img/app.png``.

    python scripts/screenshot_app.py [--bundle PATH] [--image ../shared/.../sample_2.png]

Starts ``python -m app`` on a free loopback port (with ``--bundle``, else the newest bundle
under runs/, else an untrained demo bundle built in a temporary folder), drives headless
Debian Chromium (``apt-get install -y chromium``) over the Chrome DevTools protocol on a
pipe (``--remote-debugging-pipe``: no extra Python package, no network port), uploads the
image into the single-image tab, waits for the grade and both images, and saves a
full-page PNG (quantised to stay under 1 MB). It also records every network request the
page makes and fails if one leaves 127.0.0.1 (the app must work offline).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "drac_samples" / "sample_2.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]
MAX_BYTES = 1_000_000
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.loopback import free_port, wait_until_serving  # noqa: E402


def _high_fd(fd: int) -> int:
    """``fd`` moved to a number >= 10, so the shell's ``3<&N 4>&M`` cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class CDP:
    """A minimal Chrome DevTools protocol client over ``--remote-debugging-pipe`` (fd 3: to
    the browser, fd 4: from it; messages are JSON terminated by NUL)."""

    def __init__(self, chromium: str, user_data_dir: Path, width: int, height: int) -> None:
        to_browser_r, self._to_browser = (_high_fd(fd) for fd in os.pipe())
        self._from_browser, from_browser_w = (_high_fd(fd) for fd in os.pipe())
        # bash (dash takes one-digit fds only) moves the pipe ends to fds 3 and 4, where chromium expects them
        redirect = (f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} '
                    f'{to_browser_r}<&- {from_browser_w}>&-')
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", redirect, chromium, *CHROMIUM_FLAGS,
             f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read_message(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe (did it crash?)")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        return result.get("result", {}).get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)


def pick_bundle(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    from app.predict import NoBundleError, find_newest_bundle

    try:
        return find_newest_bundle(REPO / "runs")
    except NoBundleError:
        from app.demo_bundle import build_demo_bundle

        print("[screenshot] no bundle under runs/: using an untrained demo bundle")
        return build_demo_bundle(tmp / "demo_run")


def shrink_png(png: bytes, limit: int = MAX_BYTES) -> bytes:
    """Quantise (and if needed downscale) a PNG until it is under ``limit`` bytes."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    data = png
    for colours, scale in ((256, 1.0), (128, 1.0), (256, 0.8), (128, 0.7), (64, 0.6)):
        if len(data) <= limit:
            break
        frame = im if scale == 1.0 else im.resize((round(im.width * scale), round(im.height * scale)),
                                                   Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        frame.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
                       ).save(buf, format="PNG", optimize=True)
        data = buf.getvalue()
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--image", default=str(SAMPLE))
    parser.add_argument("--out", default=str(REPO / "docs" / "img" / "app.png"))
    parser.add_argument("--explain", type=int, default=-1, choices=[-1, 0, 1, 2],
                        help="after grading, pick this grade under 'Heatmap for' (-1: keep the "
                             "shown grade)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    image = Path(args.image).resolve()
    if not image.is_file():
        print(f"error: {image} not found (the DRAC samples live in ../shared/data/drac_samples)",
              file=sys.stderr)
        return 2
    if not Path(args.chromium).exists():
        print("error: no chromium; install it with: apt-get install -y chromium", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="drac_screenshot_"))
    server = browser = None
    try:
        bundle = pick_bundle(args.bundle, tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        server = subprocess.Popen([sys.executable, "-m", "app", "--bundle", str(bundle), "--port",
                                   str(port), "--quiet"], cwd=REPO, env=env)
        wait_until_serving(url, args.timeout)
        print(f"[screenshot] app up at {url} with {bundle}")

        browser = CDP(args.chromium, tmp / "profile", args.width, 900)
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = browser.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                          "flatten": True}, session=False)
        browser.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network", "DOM"):
            browser.send(f"{domain}.enable")
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": args.width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        browser.send("Page.navigate", {"url": url})

        deadline = time.time() + args.timeout

        def wait_for(js: str, what: str) -> None:
            while time.time() < deadline:
                if browser.evaluate(js):
                    return
                time.sleep(0.5)
            raise TimeoutError(f"timed out waiting for {what}")

        wait_for("!!document.querySelector('input[type=file]')", "the upload widget")
        time.sleep(1.0)
        root = browser.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]["nodeId"]
        node = browser.send("DOM.querySelector", {"nodeId": root,
                                                  "selector": "input[type=file]"})["nodeId"]
        t0 = time.time()
        browser.send("DOM.setFileInputFiles", {"files": [str(image)], "nodeId": node})
        wait_for("/Grade [0-2] \u2014/.test(document.body.innerText) && "
                 "document.body.innerText.includes('Inference')", "the grade")
        wait_for("Array.from(document.querySelectorAll('img')).filter(i => i.complete && "
                 "i.naturalWidth > 200).length >= 2", "the image and the heatmap")
        print(f"[screenshot] prediction shown after {time.time() - t0:.1f} s")
        if args.explain >= 0:
            names = ("Normal", "NPDR", "PDR")
            label = f"{args.explain} {names[args.explain]}"
            clicked = browser.evaluate(
                "(() => { const l = Array.from(document.querySelectorAll('label')).find("
                f"x => x.innerText.trim() === '{label}'); if (!l) return false; l.click(); "
                "return true })()")
            if not clicked:
                raise RuntimeError(f"no '{label}' choice under 'Heatmap for'")
            wait_for(f"document.body.innerText.includes('Grad-CAM of grade {args.explain} ')",
                     f"the heatmap of grade {args.explain}")
            wait_for("Array.from(document.querySelectorAll('img')).filter(i => i.complete && "
                     "i.naturalWidth > 200).length >= 2", "the new heatmap")
            print(f"[screenshot] heatmap switched to grade {args.explain}")
        time.sleep(1.5)  # let the progress animation fade
        height = int(browser.evaluate("Math.ceil(document.documentElement.scrollHeight)") or 900)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(1.0)
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = shrink_png(base64.b64decode(shot["data"]))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(png)
        print(f"[screenshot] {out} ({len(png) / 1e6:.2f} MB, {args.width} x {height} px)")

        urls = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
        outside = sorted({u for u in urls if not u.startswith((f"http://127.0.0.1:{port}", "data:",
                                                               "blob:", "about:"))})
        print(f"[screenshot] the page made {len(urls)} requests; outside 127.0.0.1: "
              f"{outside or 'none'}")
        return 1 if outside else 0
    finally:
        if browser is not None:
            browser.close()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
