"""Write scripts/requirements-cpu.lock: every wheel the pins of scripts/requirements-cpu.txt
install on the project's machine class (Linux x86-64, Python 3.11, glibc >= 2.28), dependencies
included, each pinned by version AND by the SHA-256 of the one file pip picked.

Why: the pins name versions, not builds. opencv-python-headless 5.0.0.93 exists as a
manylinux2014 and a manylinux_2_28 wheel; they resize differently, and the default job's
out-of-fold figures moved when an installer took the other one (vicreg's QWK by about 0.01 in
a hand comparison of two clones' runs, not a bench result; scripts/setup.sh). With hashes, pip installs exactly these files (it skips candidates whose
hash is not listed), so a fresh machine reproduces the committed figures.

Usage (on a Linux x86-64 machine with Python 3.11, in the project's root):

    .venv/bin/python -m pip download -r scripts/requirements-cpu.txt -d /tmp/lockwh
    .venv/bin/python scripts/lock_requirements.py /tmp/lockwh

It refuses a folder holding anything but wheels (an sdist would be built on install, and its
build is not pinned by its hash) or two files of one distribution.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

LOCK = Path(__file__).with_name("requirements-cpu.lock")
HEADER = """\
# Exact files for scripts/setup.sh on Linux x86-64, Python 3.11, glibc >= 2.28: every
# distribution the pins of requirements-cpu.txt install, by version and by the SHA-256 of the
# one wheel pip picked there (the same version's other wheels can compute other figures).
# Written by scripts/lock_requirements.py (its docstring says how); do not edit by hand.
"""


def lock_lines(folder: Path) -> list[str]:
    """``name==version --hash=sha256:HEX`` for every wheel in ``folder``, sorted by name.

    Raises:
        ValueError: a file that is not a wheel, or two wheels of one distribution.
    """
    seen: dict[str, str] = {}
    lines = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        if path.suffix != ".whl":
            raise ValueError(f"{path}: not a wheel; the lock pins built files only (an sdist "
                             f"would be built on install). Remove it, or find its wheel.")
        name, version = path.name.split("-")[:2]
        name = re.sub(r"[-_.]+", "-", name).lower()
        if name in seen:
            raise ValueError(f"{path}: a second file of {name} (the first: {seen[name]}); download "
                             f"into an empty folder.")
        seen[name] = path.name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__.split("Usage", 1)[1].strip(), file=sys.stderr)
        return 2
    try:
        lines = lock_lines(Path(argv[0]))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    LOCK.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {LOCK} ({len(lines)} wheels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
