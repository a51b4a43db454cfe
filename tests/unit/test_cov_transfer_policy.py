"""Which failures of a transfer step are tried again."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from backendai_aio._errors import (
    BackendError,
    ClientClosedError,
    InvalidArgumentError,
    NotFoundError,
    RateLimitError,
    RequestError,
    ResponseError,
    ServerError,
)
from backendai_aio._transfer.policy import ProtocolViolation, attempts, in_phase, resumable


class _Key:
    """What aiohttp's connector errors read their host from (never read here)."""

    host = "127.0.0.1"
    port = 443
    ssl = True


def _caused_by(error: BackendError, cause: BaseException) -> BackendError:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RequestError("connection refused"), True),
        (ResponseError("the body ended early"), True),
        (ServerError("busy", status=503), True),
        (ServerError("conflict", status=409), True),
        (RateLimitError("slow down", status=429), True),
        (ServerError("broken", status=500), False),
        (NotFoundError("gone", status=404), False),
        (InvalidArgumentError("bad chunk size"), False),
        (ClientClosedError("closed"), False),
        (ProtocolViolation("lying offset"), False),
        (BackendError("neither side"), False),
        # A TLS failure does not heal by trying again: the certificate stays what it is.
        (
            _caused_by(
                RequestError("TLS handshake failed"),
                aiohttp.ClientConnectorSSLError(_Key(), ssl.SSLError(1, "bad record")),
            ),
            False,
        ),
        (_caused_by(RequestError("reset"), ConnectionResetError()), True),
    ],
)
def test_resumable(error: BackendError, expected: bool) -> None:
    assert resumable(error) is expected


@pytest.mark.parametrize(("count", "text"), [(1, "1 attempt"), (2, "2 attempts")])
def test_attempts(count: int, text: str) -> None:
    assert attempts(count) == text


@pytest.mark.parametrize(
    ("url", "expected_url"),
    [
        ("http://127.0.0.1/upload?token=s3cret", "http://127.0.0.1/upload?token=<token>"),
        (None, None),
    ],
)
def test_in_phase_masks_the_token_and_keeps_the_class(
    url: str | None, expected_url: str | None
) -> None:
    error = ServerError("busy answering token s3cret", status=503, method="PATCH", url=url)
    phased = in_phase(error, "uploading 'a' (PATCH at byte 0)", "s3cret")
    assert type(phased) is ServerError
    assert str(phased) == "uploading 'a' (PATCH at byte 0): busy answering token <token>"
    assert phased.args == (str(phased),)
    assert (phased.status, phased.method, phased.url) == (503, "PATCH", expected_url)
    assert error.message == "busy answering token s3cret"  # the original is left as it was
