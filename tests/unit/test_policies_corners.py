"""Corners of the pure transport policies: dates without a zone, the "not given" sentinel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backendai_aio import NOT_GIVEN
from backendai_aio._clock import measure_offset
from backendai_aio._retries import parse_retry_after

SENT = datetime(2026, 1, 2, 3, 4, 0, tzinfo=UTC)
RECEIVED = SENT + timedelta(seconds=2)


@pytest.mark.parametrize(
    ("header", "offset"),
    [
        # "-0000" says the zone is unknown (RFC 5322): read as UTC, as the manager means it.
        ("Fri, 02 Jan 2026 03:05:01 -0000", timedelta(seconds=60)),
        ("Fri, 02 Jan 2026 03:05:01 GMT", timedelta(seconds=60)),
        ("Fri, 02 Jan 2026 04:05:01 +0100", timedelta(seconds=60)),
        ("not a date", None),
        ("", None),
        (None, None),
    ],
)
def test_measure_offset(header: str | None, offset: timedelta | None) -> None:
    assert measure_offset(header, SENT, RECEIVED) == offset


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("Fri, 02 Jan 2026 03:04:30 -0000", 30.0),
        ("Fri, 02 Jan 2026 03:04:30 GMT", 30.0),
        ("Fri, 02 Jan 2026 03:03:00 GMT", 0.0),  # already past: no wait
        (" 7 ", 7.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header, now=SENT) == seconds


def test_not_given_reads_as_its_name() -> None:
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
