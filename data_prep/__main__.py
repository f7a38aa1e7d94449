"""Command line: ``python -m data_prep {ingest,phantom} ...``."""

from __future__ import annotations

import argparse
import sys

if __name__ == "__main__":  # Ctrl-C while torch / OpenCV load: one line, not an import's traceback
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("data_prep")


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from data_prep import ingest, phantom

    # the installed command (drac-ssl-ingest) names itself in the usage and the fixes
    prog = ("drac-ssl-ingest" if argv is None and Path(sys.argv[0]).name.startswith("drac-ssl-ingest")
            else "python -m data_prep")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Ingest graded retinal images for drac_ssl, or generate phantom DRAC data.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads of this process (OpenCV, torch); 0 = the default "
                             "policy: half the cores, 1..4 (worker processes run 1 each)")
    sub = parser.add_subparsers(dest="command", required=True)
    ingest.add_arguments(sub.add_parser("ingest", parents=[common],
                                        help="validate, cache and index a dataset"))
    phantom.add_arguments(sub.add_parser("phantom", parents=[common],
                                         help="write phantom UW-OCTA data in the DRAC layout"))
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        parser.error(f"the command comes first, then its options: {prog} ingest "
                     f"{' '.join(argv)} (or {prog} phantom ...; {prog} ingest --help lists them)")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error("--threads must be 0 (the default policy) or a positive count")
    from drac_ssl.runtime import apply_thread_policy
    from drac_ssl.starting import started

    started()  # everything is imported: Ctrl-C raises KeyboardInterrupt again
    apply_thread_policy(args.threads)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
