"""``python -m drac_ssl.umm``: see :mod:`drac_ssl.umm.cli`."""

import sys

from drac_ssl.umm.cli import main

sys.exit(main())
