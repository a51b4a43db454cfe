"""Clock skew: recognise the manager's date error and measure the offset (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from ._errors import BackendError

__all__ = ["MAX_CLOCK_OFFSET", "is_clock_skew_error", "measure_offset"]

#: The largest offset taken from a server's ``Date``: a clock a day off is already a broken
#: machine, and a ``Date`` in the year 9999 is a hostile or broken server, not a clock.
MAX_CLOCK_OFFSET = timedelta(days=1)

_SKEW_PROBLEM = "https://api.backend.ai/probs/invalid-auth-params"


def is_clock_skew_error(error: BackendError) -> bool:
    """Tell whether *error* is the manager refusing our ``Date`` ("Date/time sync error")."""
    return (
        error.status == 400
        and error.problem_type == _SKEW_PROBLEM
        and error.msg == "Date/time sync error"
    )


def measure_offset(date_header: str | None, sent: datetime, received: datetime) -> timedelta | None:
    """The server's clock minus ours, from a response's ``Date`` header.

    The server stamped the response somewhere between *sent* and *received* (our clock), so
    the midpoint is the best estimate. ``None`` when the header is missing, unreadable or
    implausible (more than `MAX_CLOCK_OFFSET` away from our clock).
    """
    if not date_header:
        return None
    try:
        server_now = parsedate_to_datetime(date_header)
        if server_now.tzinfo is None:
            server_now = server_now.replace(tzinfo=UTC)
        offset = server_now - (sent + (received - sent) / 2)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return offset if abs(offset) <= MAX_CLOCK_OFFSET else None
