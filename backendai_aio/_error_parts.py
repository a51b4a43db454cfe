"""The parts of an error read from a failed response (pure): its fields and its message.

Every message stays one bounded line, whatever the server sent: a proxy's HTML page is
reduced to its text, a long ``data`` object is cut, and a URL shows only its path (a query
string may carry a token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._decoding import BodyDecodeError, decode_body
from ._ratelimits import parse_rate_limit

__all__ = [
    "DECODE_FAILURES",
    "bounded",
    "describe_decode_failure",
    "failure_message",
    "problem_fields",
    "rate_limit_fields",
    "request_name",
    "snippet",
]

# What decoding a server-controlled body may raise besides BodyDecodeError: a deeply nested
# JSON document exhausts the recursion limit, odd numbers overflow. The body is the server's
# fault, so each is a ResponseError naming the call, never a bare exception.
DECODE_FAILURES: Final = (BodyDecodeError, ValueError, RecursionError, OverflowError, TypeError)

_TAGS: Final = re.compile(r"<[^>]*>")
_SPACES: Final = re.compile(r"\s+")
#: The longest snippet of a page, and the longest rendering of the server's ``data``.
SNIPPET_LENGTH: Final = 200


def bounded(text: str, limit: int = SNIPPET_LENGTH) -> str:
    """*text* cut to *limit* characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def snippet(text: str) -> str:
    """Reduce an HTML or text error page to one short line."""
    return bounded(_SPACES.sub(" ", _TAGS.sub(" ", text)).strip())


def describe_decode_failure(exc: BaseException) -> str:
    """One line for a body that could not be decoded."""
    if isinstance(exc, RecursionError):
        return "the body nests too deeply to decode"
    return f"the body could not be decoded ({type(exc).__name__}: {str(exc)[:200]})"


def request_name(method: str | None, url: object) -> str:
    """``GET /session/x``: the method and the URL's path, without host or query string."""
    path = ""
    if url is not None:
        try:
            path = (url if isinstance(url, URL) else URL(str(url))).raw_path
        except (ValueError, TypeError):
            path = ""
    return " ".join(part for part in (method, path) if part)


def _render_data(data: Any) -> str:
    try:
        text = json.dumps(data, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = repr(data)
    return snippet(text)


def failure_message(
    status: int,
    reason: str | None,
    detail: str,
    data: Any,
    *,
    method: str | None,
    url: object,
) -> str:
    """``GET /session/x: 404 Not Found: No such session.``, then the server's ``data``.

    ``data`` says which field failed (``{"image": "required"}``); it is shown cut to a
    bounded length, whole in the error's ``data`` attribute.
    """
    head = f"{status} {reason}" if reason else str(status)
    message = f"{head}: {detail}" if detail else head
    if data not in (None, "", [], {}):
        message += f"; data: {_render_data(data)}"
    request = request_name(method, url)
    return f"{request}: {message}" if request else message


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def problem_fields(
    status: int, reason: str | None, content_type: str | None, body: bytes, **request: Any
) -> tuple[str, dict[str, Any]]:
    """The message and the fields of the error for a failure response (never raises).

    A problem+json body gives ``problem_type``, ``title``, ``msg`` and ``data``; an HTML or
    text page (a proxy's 502, say) gives a one-line snippet. *request* holds ``method``
    and ``url``, copied into the fields.
    """
    try:
        decoded = decode_body(status, content_type, body)
    except DECODE_FAILURES:
        decoded = body.decode("utf-8", errors="replace")
    fields: dict[str, Any] = dict.fromkeys(("problem_type", "title", "msg", "data"))
    detail = ""
    if isinstance(decoded, Mapping):
        fields.update(
            problem_type=_optional_str(decoded.get("type")),
            title=_optional_str(decoded.get("title")),
            msg=_optional_str(decoded.get("msg")),
            data=decoded.get("data"),
        )
        title, msg = fields["title"], fields["msg"]
        detail = " ".join(part for part in (title, f"({msg})" if msg else None) if part)
    elif isinstance(decoded, bytes):
        detail = snippet(decoded.decode("utf-8", errors="replace"))
    elif decoded is not None:
        detail = snippet(str(decoded))
    fields.update(request, status=status, body=decoded)
    message = failure_message(
        status, reason, detail, fields["data"], method=request.get("method"), url=request.get("url")
    )
    return message, fields


def rate_limit_fields(headers: Mapping[str, str] | None) -> dict[str, Any]:
    """A 429's ``rate_limit`` (``X-RateLimit-*``) and ``retry_after`` (``Retry-After``)."""
    if not headers:
        return {"rate_limit": None, "retry_after": None}
    # Header names are case-insensitive, whatever mapping the caller holds them in.
    if not isinstance(headers, CIMultiDict | CIMultiDictProxy):
        headers = CIMultiDict(headers)
    # Imported here: _retries needs the error classes, whose module needs this one.
    from ._retries import parse_retry_after

    return {
        "rate_limit": parse_rate_limit(headers),
        "retry_after": parse_retry_after(headers.get("Retry-After")),
    }
