"""``python -m drac_ssl.umm``: see :mod:`drac_ssl.umm.cli`."""

from drac_ssl.starting import run_command
from drac_ssl.umm.cli import main

run_command(main, stage="umm")  # the command's own process: signals held once stopping, exit 130 / 143
