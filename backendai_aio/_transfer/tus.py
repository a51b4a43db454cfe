"""One tus 1.0.0 upload to the storage proxy, resumed from the offset it reports.

``PATCH`` sends the next window of *chunk_size* bytes, streamed from the source in small
blocks, from byte 0 of the fresh upload session. After a failure ``HEAD`` asks how many bytes
the proxy holds and the upload continues from there; it gives up after *max_attempts*
consecutive failures without progress. What to do after each answer is decided by the pure
state machine of `tus_resume`; this module only moves the bytes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Mapping
from typing import Final

import aiohttp
from yarl import URL

from .._errors import BackendError, InvalidArgumentError, NotFoundError, RequestError
from .._failures import describe_failure
from .._timeouts import TimeoutArg
from .._transport import Transport
from . import tus_resume
from .exchange import StorageExchange
from .policy import ProtocolViolation, backoff
from .progress import TransferProgress
from .protocol import parse_upload_offset, tus_head_headers, tus_patch_headers
from .sources import Source, StreamSource

__all__ = ["Upload"]

# After a failed PATCH, the storage proxy may still be writing what it had received; the
# client asks for the offset until two answers agree (at most this many extra times).
_SETTLE_CHECKS: Final = 5
_SETTLE_DELAY: Final = 0.05
# How long a failed PATCH waits for its body to stop being read (it is cancelled).
_BODY_END_WAIT: Final = 5.0


async def _end_body(stream: AsyncGenerator[bytes, None], finished: asyncio.Event) -> None:
    """Close a request body, waiting first for it to stop running.

    On a failed request aiohttp cancels the task sending the body without waiting for it, so
    the body may still be inside an await (a file read); it can only be closed once back at
    a ``yield``. A body left at a ``yield`` is closed at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _BODY_END_WAIT
    while not finished.is_set() and getattr(stream, "ag_running", False):
        if loop.time() >= deadline:
            return  # still running: closing it now would fail; it ends when cancelled
        await asyncio.sleep(0.01)
    await stream.aclose()


class Upload(StorageExchange):
    """One tus upload to the storage proxy, resumed after failures."""

    def __init__(
        self,
        client: Transport,
        folder: str,
        target: str,
        url: URL,
        token: str,
        timeout: TimeoutArg,
    ) -> None:
        super().__init__(
            client, url, token, timeout, f"uploading {target!r} to virtual folder {folder!r}"
        )
        self._folder = folder
        self._target = target

    def __repr__(self) -> str:
        return f"<Upload {self._target!r} to {self._folder!r}>"

    def _upload_offset(self, response: aiohttp.ClientResponse, method: str) -> int | None:
        """The answer's ``Upload-Offset``: ``None`` when absent; a violation when malformed."""
        raw = response.headers.get("Upload-Offset")
        offset = parse_upload_offset(raw)
        if raw is not None and offset is None:
            raise self._answer_error(
                f"the storage proxy answered a malformed Upload-Offset ({raw!r:.40})",
                method=method,
                status=response.status,
                kind=ProtocolViolation,
            )
        return offset

    async def _offset(self, total: int) -> int | None:
        """The server's offset (``HEAD``); ``None`` when the upload session is gone."""
        try:
            async with self._client.stream(
                "HEAD",
                self._url,
                params={"token": self._token},
                headers=tus_head_headers(),
                timeout=self._timeout,
                signed=False,
            ) as response:
                offset = self._upload_offset(response, "HEAD")
        except NotFoundError:
            return None
        if offset is None or offset > total:
            raise self._answer_error(
                "the storage proxy answered no valid Upload-Offset "
                f"({response.headers.get('Upload-Offset')!r:.40} for {total} bytes)",
                method="HEAD",
                status=response.status,
                kind=ProtocolViolation,
            )
        return offset

    async def _settled_offset(self, total: int) -> int | None:
        """Ask for the offset until two answers agree: a dropped PATCH may still be draining."""
        previous = await self._offset(total)
        for _ in range(_SETTLE_CHECKS):
            if previous is None:
                return None
            await asyncio.sleep(_SETTLE_DELAY)
            current = await self._offset(total)
            if current == previous:
                return current
            previous = current
        return previous

    async def _patch(
        self, source: Source, offset: int, length: int, progress: TransferProgress
    ) -> int | None:
        """Send *length* bytes from *offset*; return the server's new offset if it said."""
        await source.prepare(offset, length)
        finished = asyncio.Event()

        async def body() -> AsyncGenerator[bytes, None]:
            try:
                sent = offset
                async for block in source.blocks(offset, length):
                    yield block
                    sent += len(block)
                    await progress(sent)
            finally:
                finished.set()

        stream = body()
        try:
            async with self._client.stream(
                "PATCH",
                self._url,
                params={"token": self._token},
                data=stream,
                headers=tus_patch_headers(offset, length),
                timeout=self._timeout,
                signed=False,
                streaming=True,
            ) as response:
                return self._upload_offset(response, "PATCH")
        finally:
            await _end_body(stream, finished)

    async def _landed(self, total: int) -> bool:
        """Whether the target holds *total* bytes: the upload ended as the connection broke."""
        parent, _, base = self._target.rpartition("/")
        listing = await self._client.call(
            "GET",
            self._client.url("folders", self._folder, "files"),
            params={"path": parent or "."},
            timeout=self._timeout,
        )
        items = listing.get("items") if isinstance(listing, Mapping) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, Mapping) and item.get("name") == base:
                # Only an exact integer counts (a size of Infinity or "12" does not).
                size = item.get("size")
                return type(size) is int and size == total
        return False

    async def run(
        self, source: Source, progress: TransferProgress, chunk_size: int, max_attempts: int
    ) -> None:
        """Send the whole *source*, resuming after failures, as `tus_resume` decides."""
        state, action = tus_resume.start(source.size, chunk_size, max_attempts)
        while True:
            event: tus_resume.TusEvent
            if isinstance(action, tus_resume.Ask):
                await asyncio.sleep(backoff(action.failures, random.random()))
                try:
                    offset = await self._settled_offset(source.size)
                except BackendError as head_error:
                    event = tus_resume.Failed(head_error, head=True)
                else:
                    if offset is not None:
                        await progress(offset)
                    event = tus_resume.Offset(offset)
            elif isinstance(action, tus_resume.Send):
                event = await self._send(source, action, progress)
            elif isinstance(action, tus_resume.CheckLanded):
                event = tus_resume.Landed(await self._check_landed(source.size, state.phase))
            elif isinstance(action, tus_resume.GiveUp):
                raise self._give_up(action) from None
            else:
                if isinstance(source, StreamSource) and not action.landed:
                    await source.check_exhausted()
                await progress(source.size)
                return
            state, action = tus_resume.step(state, event)

    async def _send(
        self, source: Source, action: tus_resume.Send, progress: TransferProgress
    ) -> tus_resume.TusEvent:
        """One ``PATCH``, as an event; the caller's and the source's own failures raise."""
        try:
            if not source.can_resume_at(action.offset):
                raise InvalidArgumentError(
                    f"cannot resume from byte {action.offset}: the stream source has already "
                    "moved past it (use a larger chunk_size or a file source)"
                )
            answered = await self._patch(source, action.offset, action.length, progress)
        except (BackendError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            if progress.error is not None:
                raise progress.error from None
            if source.failure is not None:
                raise source.failure from None
            failed = exc if isinstance(exc, BackendError) else RequestError(describe_failure(exc))
            return tus_resume.Failed(failed)
        return tus_resume.Accepted(answered)

    def _give_up(self, action: tus_resume.GiveUp) -> BackendError:
        error = action.error
        if error is None:
            error = self._answer_error(
                action.problem or "the upload failed", method=action.method, status=action.status
            )
        return self._fail(error, action.phase)

    async def _check_landed(self, total: int, phase: str) -> bool:
        try:
            return await self._landed(total)
        except BackendError as error:
            raise self._fail(error, f"{phase}; listing the folder to check the upload") from None
