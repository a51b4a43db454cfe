"""Reading a whole response body into memory, within a byte limit."""

from __future__ import annotations

import aiohttp

from ._errors import ReadTimeoutError, ResponseError
from ._failures import TRANSPORT_ERRORS, describe_failure, is_deadline

__all__ = ["read_body"]

_CHUNK = 256 * 1024


async def read_body(response: aiohttp.ClientResponse, method: str, limit: int) -> bytes:
    """Read a whole body, at most *limit* bytes; failures raise `ResponseError`."""
    # Content-Length counts the bytes on the wire: only an uncompressed body's tells the
    # size it will have in memory.
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    length = response.content_length if encoding in ("", "identity") else None
    try:
        if length is not None and length <= limit:
            return await response.read()
        if length is not None:
            raise _too_large(response, method, limit, length)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(response, method, limit, size)
            chunks.append(chunk)
        return b"".join(chunks)
    except TRANSPORT_ERRORS as exc:
        if is_deadline(exc):
            phase = "the call's deadline passed while reading the response body"
        elif isinstance(exc, TimeoutError):
            phase = "timed out reading the response body"
        else:
            phase = f"reading the response body failed: {describe_failure(exc)}"
        # A timeout of either kind (read limit or deadline) is a ReadTimeoutError.
        error_class = ReadTimeoutError if isinstance(exc, TimeoutError) else ResponseError
        raise error_class(
            f"{method} {response.url}: {phase}",
            status=response.status,
            method=method,
            url=str(response.url),
            maybe_applied=True,
        ) from exc


def _too_large(
    response: aiohttp.ClientResponse, method: str, limit: int, size: int
) -> ResponseError:
    return ResponseError(
        f"{method} {response.url}: the response body exceeds the "
        f"{limit}-byte limit (at least {size} bytes)",
        status=response.status,
        method=method,
        url=str(response.url),
        maybe_applied=True,
    )
