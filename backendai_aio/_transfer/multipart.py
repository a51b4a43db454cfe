"""Upload sources as parts of a ``multipart/form-data`` body (session file uploads).

The parts are read from the same sources as the resumable uploads (`sources`), a block at a
time, and counted on one `TransferProgress`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import aiohttp
from aiohttp import hdrs

from .._errors import BackendError, InvalidArgumentError
from .progress import TransferProgress
from .sources import Source

__all__ = ["PartOpener", "add_part"]


class _StreamPayload(aiohttp.payload.AsyncIterablePayload):
    """A streamed part whose size may be known in advance.

    With every part's size known, the request carries a ``Content-Length`` instead of being
    sent in chunked encoding, which costs a copy of every chunk on the way out.
    """

    def __init__(self, blocks: AsyncIterator[bytes], size: int | None, **kwargs: Any) -> None:
        super().__init__(blocks, **kwargs)
        self._size = size


#: Opens a part's source when the part is sent: a `Source`, or an async iterable of bytes.
PartOpener: TypeAlias = Callable[[], Awaitable["Source | AsyncIterable[bytes]"]]


async def _counted(opener: PartOpener, progress: TransferProgress) -> AsyncIterator[bytes]:
    """Open the part's source and yield its blocks, counting them.

    The source is opened only when its part is sent, and closed after it: a batch never
    holds more than one file open. aiohttp reports a failing body as a connection failure:
    the source's own failure is kept on *progress* so that the upload raises it instead.
    """
    try:
        source = await opener()
        if isinstance(source, AsyncIterable):
            blocks: AsyncIterable[bytes] = source
        else:
            blocks = source.blocks(0, source.size)
        try:
            async for block in blocks:
                if not isinstance(block, bytes | bytearray | memoryview):
                    raise InvalidArgumentError(
                        f"the upload source yielded {type(block).__name__}, not bytes"
                    )
                await progress.add(len(block))
                yield block
        finally:
            if not isinstance(source, AsyncIterable):
                await source.aclose()
    except BackendError as exc:
        progress.error = progress.error or exc
        raise


def add_part(
    writer: aiohttp.MultipartWriter,
    name: str,
    size: int | None,
    opener: PartOpener,
    progress: TransferProgress,
) -> None:
    """Append the source *opener* opens to *writer* as the file part ``src`` named *name*.

    A source of known *size* is sent whole with a ``Content-Length``; one of unknown size
    (``None``: an async iterable) as it comes, which makes the request chunked.
    """
    part = writer.append_payload(
        _StreamPayload(_counted(opener, progress), size, content_type="application/octet-stream")
    )
    # The manager stores the file name as sent: percent-encoding would turn "sub/a.txt" into
    # a file literally named "sub%2Fa.txt".
    part.set_content_disposition("form-data", quote_fields=False, name="src", filename=name)
    if size is not None:
        part.headers[hdrs.CONTENT_LENGTH] = str(size)
