"""What docs/app.md says a logged-in user can reach matches gradio's copy of an upload (a
review: the page said "No name holds the uploaded file's name" and that none of a user's paths
tells another's, while gradio keeps each upload as ``<sha256 of its seed and the bytes>/<the
file's own name>``, its seed the same for every user and restart: a user holding the identical
bytes found the folder by uploading them and confirmed another's upload under its name, 200)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "app.md"


def _reach_paragraph() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("**What a logged-in user can reach.**")
    return " ".join(text[start:text.index("\n\n", start)].split())


def test_the_page_says_what_the_upload_copy_reveals() -> None:
    said = _reach_paragraph()
    assert "No name holds the uploaded file's name" not in said
    assert "`<sha256>/<the uploaded file's own name>`" in said and "`gradio/hash_seed.txt`" in said
    assert "whoever already holds the identical bytes" in said and "a name they guess" in said
    assert "The app does not delete that copy once graded" in said  # and says why
    assert "*Heatmap for*" in said


def test_two_uploads_of_the_same_bytes_share_a_folder_that_confirms_a_guessed_name(predictor: Any) -> None:
    """On loopback, as the page says it: the same bytes under two names land in one folder named
    by a SHA-256 (64 hex digits); the other name there answers 200, an unknown name and the
    folder itself 403."""
    import httpx

    from app.loopback import free_port
    from app.server import AppSettings, serve

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48)).astype(np.uint8)).save(buf, "PNG")
    settings = AppSettings(host="127.0.0.1", port=free_port())
    demo = serve(predictor, settings, block=False, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        paths = [Path(httpx.post(f"{url}gradio_api/upload",
                                 files={"files": (name, buf.getvalue(), "image/png")}).json()[0])
                 for name in ("Doe_Jane.png", "mine.png")]
        assert [p.name for p in paths] == ["Doe_Jane.png", "mine.png"]  # the file's own name kept
        assert paths[0].parent == paths[1].parent and re.fullmatch(r"[0-9a-f]{64}", paths[0].parent.name)

        def status(path: Path) -> int:
            return httpx.get(f"{url}gradio_api/file={path}").status_code

        assert status(paths[1].with_name("Doe_Jane.png")) == 200  # confirmed by the second uploader
        assert status(paths[1].with_name("Roe_Rick.png")) in (403, 404)
        assert status(paths[1].parent) in (403, 404)  # nothing listed
    finally:
        demo.close()
