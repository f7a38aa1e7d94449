"""``drac_ssl.train.main(argv)`` interrupted: called from Python with an ``argv`` it records and
says the interrupt as the command does, then raises the KeyboardInterrupt again (a notebook's
"Run All" stops there); :func:`interrupted_main` gives the command's exit code it carries
(tests/helpers is on the test path: ``from interrupted_train import interrupted_main``)."""

from __future__ import annotations

import pytest

from drac_ssl import train


def interrupted_main(argv: list[str]) -> int:
    """Call ``train.main(argv)``, which must raise KeyboardInterrupt; its ``exit_code`` (130
    Ctrl-C, 143 SIGTERM: what ``python -m drac_ssl.train`` exits with)."""
    with pytest.raises(KeyboardInterrupt) as caught:
        train.main(argv)
    return caught.value.exit_code  # type: ignore[attr-defined]
