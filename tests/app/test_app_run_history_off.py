"""gradio's run history is off in the served app (a hospital security review, F1): with it on
(gradio 6's default) the page script keeps every ``/grade`` and ``/grade_batch`` call (the
upload's server path with the patient's file name, the result, the batch table) in the
browser's localStorage with no expiry, and its page offers a Hugging Face bucket. Checked on a
real server on loopback, after a real login."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

PASSWORD = "right:password"


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def test_a_logged_in_user_sees_run_history_off_and_no_runs_page(predictor: Any) -> None:
    from app.loopback import free_port
    from app.server import AppSettings, serve

    settings = AppSettings(host="127.0.0.1", port=free_port())
    demo = serve(predictor, settings, auth=[("alice", PASSWORD)], block=False, quiet=True)
    base = f"http://127.0.0.1:{settings.port}"
    browser = _opener()
    try:
        body = urllib.parse.urlencode({"username": "alice", "password": PASSWORD}).encode()
        with browser.open(f"{base}/login", body, timeout=30) as answer:
            assert answer.status == 200
        with browser.open(f"{base}/config", timeout=30) as answer:  # logged in: the page's config
            config = json.load(answer)
        assert config["run_history"] is False
        assert "runs" not in config["footer_links"]
        for path in ("/gradio_api/runs", "/gradio_api/runs/"):
            with pytest.raises(urllib.error.HTTPError) as info:
                browser.open(f"{base}{path}", timeout=30)
            assert info.value.code == 404, path
        # the bucket's connect route is not even registered (gradio adds it with run history only)
        with pytest.raises(urllib.error.HTTPError) as info:
            browser.open(f"{base}/gradio_api/run-history/connect", b"{}", timeout=30)
        assert info.value.code in (404, 405)
    finally:
        demo.close()
