"""The files the app hands gradio to serve from folders all requests share (the page's pictures,
each batch's CSVs) are named by 128 random bits, never a counter: gradio serves any file in its
cache by path to whoever may open the page (every logged-in user), and a trial user fetched
another user's upload by changing ``00000003_image.jpg`` to ``00000001_image.jpg``. The
retention rules (the newest 512 pictures, an hour) still apply to the random names."""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app import server
from app.retention import KEPT_S, sweep_old_entries

TOKEN = re.compile(r"[0-9a-f]{32}")
"""128 bits as 32 hex digits."""


def _picture_token(path: str | Path, stem: str) -> str:
    match = re.fullmatch(rf"({TOKEN.pattern})_{stem}\.jpg", Path(path).name)
    assert match, f"{Path(path).name}: not <128-bit token>_{stem}.jpg"
    return match.group(1)


def test_no_picture_path_can_be_derived_from_another() -> None:
    files = server._DisplayFiles()
    grey = np.full((8, 8), 128, np.uint8)
    paths = [files.write(grey, "image" if i % 2 == 0 else "gradcam") for i in range(20)]
    tokens = [_picture_token(p, "image" if i % 2 == 0 else "gradcam") for i, p in enumerate(paths)]
    assert server.SERVED_NAME_BYTES * 8 >= 128
    assert len(set(tokens)) == len(tokens)
    # no counter: tokens written in turn are not in order (20 random ones sorted: 1 in 20!)
    assert tokens != sorted(tokens) and tokens != sorted(tokens, reverse=True)
    # one request's picture and the next's share no part a user could count on
    assert all(a[:8] != b[:8] for a, b in zip(tokens, tokens[1:], strict=False))


def test_the_picture_cap_and_the_hour_still_delete_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random names sort in no order: the cap must keep the newest written, not the last by name."""
    monkeypatch.setattr(server, "DISPLAY_FILES_KEPT", 3)
    files = server._DisplayFiles()
    grey = np.full((8, 8), 128, np.uint8)
    paths = [Path(files.write(grey, "image")) for _ in range(5)]
    assert [p.exists() for p in paths] == [False, False, True, True, True]
    assert sorted(p.name for p in Path(files._root.name).iterdir()) == sorted(p.name for p in paths[2:])
    assert files.expire(KEPT_S, now=time.time()) == []
    assert sorted(files.expire(KEPT_S, now=time.time() + KEPT_S + 1)) == sorted(paths[2:])
    assert not any(p.exists() for p in paths) and not files._files


def _image(path: Path, seed: int = 0) -> Path:
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2  # graded: not noise, not blank
    noise = np.random.default_rng(seed).integers(0, 40, (96, 96))
    Image.fromarray((ramp + noise).astype(np.uint8)).save(path)
    return path


def test_each_batchs_csvs_lie_in_a_folder_named_by_its_own_token(predictor: Any, tmp_path: Path) -> None:
    """The CSVs' own names are fixed (``submission.csv``, ``grades_with_notes.csv``): the
    folder's name is what keeps one batch's from another user's guess."""
    scan = _image(tmp_path / "Doe_Jane.png")
    folders = []
    for _ in range(2):
        _summary, _rows, csv_path, notes_path = server._grade_batch(predictor, server.AppSettings(), [str(scan)])
        assert csv_path and notes_path and Path(csv_path).parent == Path(notes_path).parent
        folders.append(Path(csv_path).parent)
        assert Path(csv_path).is_file() and "Doe_Jane" not in str(Path(csv_path).parent)
    assert all(TOKEN.fullmatch(f.name) for f in folders), [f.name for f in folders]
    assert folders[0] != folders[1] and folders[0].parent == folders[1].parent
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in folders)  # this account's only
    removed = sweep_old_entries(folders[0].parent, KEPT_S, now=time.time() + KEPT_S + 1)
    assert set(folders) <= set(removed) and not any(f.exists() for f in folders)


def test_a_served_pictures_name_tells_nothing_of_the_others(predictor: Any, tmp_path: Path) -> None:
    """On loopback, as gradio hands them out: the two results' picture paths (the
    ``/gradio_api/file=`` URL a user sees) carry a token each, not the upload's name; the
    path of one, with its token changed, is refused."""
    import httpx
    from gradio_client import Client, handle_file

    from app.loopback import free_port
    from app.server import AppSettings, serve

    settings = AppSettings(host="127.0.0.1", port=free_port())
    demo = serve(predictor, settings, block=False, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        client = Client(url, verbose=False, download_files=False)  # the server's own paths
        shown = []
        for seed, name in enumerate(("Doe_Jane.png", "Roe_Rick.png")):
            _md, _label, original, _overlay, details = client.predict(
                handle_file(str(_image(tmp_path / name, seed))), -1, api_name="/grade")
            assert "error" not in details
            path = original["path"] if isinstance(original, dict) else original
            assert "Doe_Jane" not in Path(path).name and "Roe_Rick" not in Path(path).name
            shown.append(path)
        tokens = [_picture_token(p, "image") for p in shown]
        assert tokens[0] != tokens[1]
        assert httpx.get(f"{url}gradio_api/file={shown[0]}").status_code == 200
        guess = str(Path(shown[0]).with_name(f"{tokens[0][:-1]}{'0' if tokens[0][-1] != '0' else '1'}_image.jpg"))
        assert httpx.get(f"{url}gradio_api/file={guess}").status_code in (403, 404)
    finally:
        demo.close()
