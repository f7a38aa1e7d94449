"""The grading records' time stamp (stdlib only): the bundle's ``created_utc``, a grading
provenance record's ``graded_utc`` and the app's ``--grading-log`` lines' ``utc`` are written
by one rule, so that they compare as strings and read alike."""
from __future__ import annotations

import datetime as _dt

__all__ = ["utc_now"]


def utc_now() -> str:
    """Now, in UTC, ISO 8601 to the second with its offset: ``2026-12-07T06:14:17+00:00``."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
