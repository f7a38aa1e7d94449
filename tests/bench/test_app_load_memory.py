"""bench/app_load.py's memory figures (trial F5a): the server's VmRSS / VmHWM read from
/proc/<pid>/status, and the large upload it sends with ``--large-image SIDE``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.app_load import _large_image, server_memory


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_server_memory_reads_another_process_and_none_once_it_has_ended() -> None:
    """A child that holds 200 MiB: its resident and peak are at least that, read from outside;
    an ended process gives None."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; b = b'x' * (200 * 2**20); "
                              "print('ready', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        memory = server_memory(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
    assert memory is not None and memory["vmhwm_mib"] >= memory["vmrss_mib"] >= 200, memory
    assert server_memory(child.pid) is None
    assert server_memory(os.getpid()) is not None


def test_the_large_image_is_a_16_bit_rgb_png_of_the_side_asked(tmp_path: Path) -> None:
    path = _large_image(tmp_path, 300)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image.shape == (300, 300, 3) and image.dtype == np.uint16
    assert image.max() > 255 and (image % 257 == 0).all()  # 8-bit values spread over 16 bits


def test_the_float_tiff_large_image_is_float32_rgb_and_small_limits_refuse_it(tmp_path: Path) -> None:
    """``--large-format float-tiff``: the security review's F2 file, 12 bytes a pixel decoded."""
    from drac_ssl.grading.image_file import InputLimits, content_refusal

    path = _large_image(tmp_path, 300, "float-tiff")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image.shape == (300, 300, 3) and image.dtype == np.float32 and 0 <= image.min() < image.max() <= 1
    _, refused = content_refusal(path.read_bytes(), InputLimits(max_pixels=90_000), upload=True)
    assert refused is not None and "1.08 MB decoded, above the limit of 0.54 MB" in refused.what
