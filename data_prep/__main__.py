"""Command line: ``python -m data_prep {ingest,phantom} ...``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from data_prep import ingest, phantom

    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Ingest graded retinal images for drac_ssl, or generate phantom DRAC data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ingest.add_arguments(sub.add_parser("ingest", help="validate, cache and index a dataset"))
    phantom.add_arguments(sub.add_parser("phantom", help="write phantom UW-OCTA data in the DRAC layout"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
