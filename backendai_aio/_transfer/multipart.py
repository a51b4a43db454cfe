"""Upload sources as parts of a ``multipart/form-data`` body (session file uploads).

The parts are read from the same sources as the resumable uploads (`sources`), a block at a
time, and counted on one `TransferProgress`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import aiohttp
from aiohttp import hdrs

from .._errors import BackendError, InvalidArgumentError
from .progress import TransferProgress
from .sources import Source

__all__ = ["add_part"]


class _StreamPayload(aiohttp.payload.AsyncIterablePayload):
    """A streamed part whose size may be known in advance.

    With every part's size known, the request carries a ``Content-Length`` instead of being
    sent in chunked encoding, which costs a copy of every chunk on the way out.
    """

    def __init__(self, blocks: AsyncIterator[bytes], size: int | None, **kwargs: Any) -> None:
        super().__init__(blocks, **kwargs)
        self._size = size


async def _counted(
    blocks: AsyncIterable[bytes], progress: TransferProgress
) -> AsyncIterator[bytes]:
    """Yield *blocks*, counting them; keep a source's own failure for the caller to raise.

    aiohttp reports a failing body as a connection failure: the failure itself is kept on
    *progress* so that the upload raises it instead.
    """
    try:
        async for block in blocks:
            if not isinstance(block, bytes | bytearray | memoryview):
                raise InvalidArgumentError(
                    f"the upload source yielded {type(block).__name__}, not bytes"
                )
            await progress.add(len(block))
            yield block
    except BackendError as exc:
        progress.error = progress.error or exc
        raise


def add_part(
    writer: aiohttp.MultipartWriter,
    name: str,
    source: Source | AsyncIterable[bytes],
    progress: TransferProgress,
) -> None:
    """Append *source* to *writer* as the file part ``src`` named *name*.

    A `Source` is sent whole, with its size; a bare async iterable (of unknown size) as it
    comes, which makes the request chunked.
    """
    if isinstance(source, AsyncIterable):
        size = None
        blocks: AsyncIterable[bytes] = source
    else:
        size = source.size
        blocks = source.blocks(0, size)
    part = writer.append_payload(
        _StreamPayload(_counted(blocks, progress), size, content_type="application/octet-stream")
    )
    # The manager stores the file name as sent: percent-encoding would turn "sub/a.txt" into
    # a file literally named "sub%2Fa.txt".
    part.set_content_disposition("form-data", quote_fields=False, name="src", filename=name)
    if size is not None:
        part.headers[hdrs.CONTENT_LENGTH] = str(size)
