"""docs/deploying.md's nginx blocks mark gradio's login cookie Secure and send the security
headers (a hospital security review, F5: after a login gradio set ``access-token-unsecure-...``
without ``Secure``, and no response had X-Content-Type-Options, X-Frame-Options or a CSP).
Each block is checked as written and, where nginx is installed, by ``nginx -t``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "deploying.md"
SERVER_LINES = (
    "proxy_cookie_flags ~^access-token secure samesite=lax;",
    'add_header Strict-Transport-Security "max-age=31536000" always;',
    "add_header X-Content-Type-Options nosniff always;",
    "add_header X-Frame-Options DENY always;",
    "add_header Content-Security-Policy \"frame-ancestors 'none'\" always;",
)


def _blocks() -> list[str]:
    return re.findall(r"^```nginx\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def test_every_server_block_sets_the_cookie_flag_and_the_headers_and_no_location_drops_them() -> None:
    blocks = _blocks()
    assert len(blocks) == 2
    for block in blocks:
        server = re.sub(r"\n    location [^{]+\{.*?\n    \}", "", block, flags=re.S)  # its own lines
        assert [line for line in SERVER_LINES if f"\n    {line}" not in server] == [], block
        # nginx hands add_header / proxy_cookie_flags down only to a location with none of its own
        for body in re.findall(r"location [^{]+\{(.*?)\n    \}", block, re.S):
            assert "add_header" not in body and "proxy_cookie_flags" not in body, body


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_each_block(tmp_path: Path) -> None:
    """``nginx -t`` of each block in an ``http`` block of its own (the ``limit_req_zone`` line the
    page puts there), on a plain port: a test has no certificate for ``listen 443 ssl``."""
    blocks = _blocks()
    zone = next(line for line in blocks[0].splitlines() if line.startswith("limit_req_zone"))
    for k, block in enumerate(blocks):
        server = "\n".join(line for line in block.splitlines() if not line.startswith("limit_req_zone"))
        assert "listen 443 ssl;" in server
        server = server.replace("listen 443 ssl;", "listen 127.0.0.1:18443;")
        conf = tmp_path / f"block{k}.conf"
        conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
                        f"http {{\n{zone}\naccess_log off;\n{server}\n}}\n", encoding="utf-8")
        done = subprocess.run(["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr
    broken = tmp_path / "broken.conf"  # the check can fail: a directive nginx does not know
    broken.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n"
                      "server { proxy_cookie_flagz ~^access-token secure; }\n}\n", encoding="utf-8")
    done = subprocess.run(["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(broken)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "unknown directive" in done.stderr
