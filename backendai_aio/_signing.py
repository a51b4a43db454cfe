"""Request signing for keypair authentication (pure functions, no I/O).

The manager recomputes an HMAC-SHA256 over seven lines describing the request and compares it
with the one in the ``Authorization`` header:

```python
METHOD
/path?query            (exactly as sent on the wire, percent-encoding kept)
<Date header value>
host:<Host header as received>
content-type:<bare media type, lower case>
x-backendai-version:<X-BackendAI-Version value>
<hex SHA-256 of the empty body>
```

keyed by ``HMAC(HMAC(secret, YYYYMMDD), host)``. Since API v4.20181215 the body hash is always
the hash of the empty body, so streamed uploads need no buffering.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = [
    "EMPTY_BODY_SHA256",
    "SigningKeyCache",
    "authorization_header",
    "bare_media_type",
    "canonical_tail",
    "derive_signing_key",
    "format_date",
    "sign",
    "sign_message",
    "sign_with_key",
    "string_to_sign",
]

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def bare_media_type(content_type: str) -> str:
    """Return the media type of a ``Content-Type`` value without parameters, lower case.

    The manager signs ``request.content_type``, which aiohttp parses this way, so
    ``application/json; charset=utf-8`` must be signed as ``application/json``.
    """
    return content_type.partition(";")[0].strip().lower()


def format_date(moment: datetime) -> str:
    """Format *moment* (timezone-aware) as the ISO 8601 ``Date`` header value."""
    if moment.tzinfo is None:
        raise ValueError("the request date must be timezone-aware")
    return moment.isoformat()


def derive_signing_key(secret_key: str, date: datetime, host: str) -> bytes:
    """Derive the per-day, per-host signing key.

    The day is taken in the timezone of *date*, as the manager formats the parsed header.
    """
    day_key = hmac.new(
        secret_key.encode(), date.strftime("%Y%m%d").encode(), hashlib.sha256
    ).digest()
    return hmac.new(day_key, host.encode(), hashlib.sha256).digest()


def canonical_tail(*, host: str, content_type: str, api_version: str) -> str:
    """The last four lines of the string to sign, the same for every call to one host."""
    return (
        f"host:{host}\ncontent-type:{bare_media_type(content_type)}\n"
        f"x-backendai-version:{api_version}\n{EMPTY_BODY_SHA256}"
    )


def string_to_sign(
    *, method: str, path_qs: str, date_header: str, host: str, content_type: str, api_version: str
) -> str:
    """Build the seven-line string the manager signs (see the module docstring)."""
    tail = canonical_tail(host=host, content_type=content_type, api_version=api_version)
    return f"{method.upper()}\n{path_qs}\n{date_header}\n{tail}"


def sign_message(key: bytes, message: str) -> str:
    """The hex HMAC-SHA256 of a string to sign."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign(
    *,
    secret_key: str,
    method: str,
    path_qs: str,
    date: datetime,
    host: str,
    content_type: str,
    api_version: str,
    date_header: str | None = None,
) -> str:
    """Return the hex signature of one request.

    *date_header* is the ``Date`` value sent verbatim; it defaults to ``format_date(date)``.
    """
    key = derive_signing_key(secret_key, date, host)
    return sign_with_key(
        key,
        method=method,
        path_qs=path_qs,
        date_header=format_date(date) if date_header is None else date_header,
        host=host,
        content_type=content_type,
        api_version=api_version,
    )


def sign_with_key(
    key: bytes,
    *,
    method: str,
    path_qs: str,
    date_header: str,
    host: str,
    content_type: str,
    api_version: str,
) -> str:
    """Return the hex signature of one request with an already derived key."""
    message = string_to_sign(
        method=method,
        path_qs=path_qs,
        date_header=date_header,
        host=host,
        content_type=content_type,
        api_version=api_version,
    )
    return sign_message(key, message)


def authorization_header(access_key: str, signature: str) -> str:
    """Format the ``Authorization`` header value."""
    return f"BackendAI signMethod=HMAC-SHA256, credential={access_key}:{signature}"


class SigningKeyCache:
    """Remembers the last derived signing key, which changes only once a day per host.

    Deriving the key costs two HMACs; a client talks to one host, so a single slot suffices.
    The secret key is held privately and never shown by ``repr``.
    """

    __slots__ = ("__secret_key", "_key", "_slot")

    def __init__(self, secret_key: str) -> None:
        self.__secret_key = secret_key
        self._slot: tuple[int, int, int, str] | None = None
        self._key = b""

    def key_for(self, date: datetime, host: str) -> bytes:
        """Return the signing key for the day of *date* and *host*."""
        # Comparing the fields is cheaper than formatting the day on every request.
        slot = (date.year, date.month, date.day, host)
        if slot != self._slot:
            self._key = derive_signing_key(self.__secret_key, date, host)
            self._slot = slot
        return self._key

    def __repr__(self) -> str:
        return "SigningKeyCache(secret_key=<hidden>)"
