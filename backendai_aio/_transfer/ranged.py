"""One streamed download from the storage proxy, resumed with ``Range`` after failures.

The body is written block by block; after a dropped connection the rest is asked for with
``Range: bytes=<written>-`` (and ``If-Range``, so that a changed file comes whole). What each
answer means, and what to do after each failure, is decided by the pure state machine of
`range_resume`; the download gives up after *max_attempts* consecutive failures without
progress. This module only moves the bytes.
"""

from __future__ import annotations

import asyncio
import random
from typing import IO

import aiohttp
from yarl import URL

from .._errors import BackendError, LocalIOError, ReadTimeoutError, ResponseError, ServerError
from .._failures import describe_failure
from .._timeouts import TimeoutArg
from .._transport import Transport
from . import range_resume
from .destination import local_error
from .exchange import StorageExchange
from .policy import ProtocolViolation, RangeAction, backoff
from .progress import ProgressCallback, TransferProgress
from .protocol import parse_content_range, range_headers, resume_validator
from .sizes import BLOCK_SIZE, CHUNK_SIZE

__all__ = ["Download"]


def _truncate(file: IO[bytes]) -> None:
    file.seek(0)
    file.truncate()


async def _write(file: IO[bytes], blocks: list[bytes]) -> None:
    try:
        await asyncio.to_thread(file.writelines, blocks)
    except OSError as exc:
        raise local_error(
            f"writing the download to {getattr(file, 'name', '?')} failed", exc
        ) from exc


class Download(StorageExchange):
    """One streamed download from the storage proxy, resumed with ``Range`` after failures."""

    def __init__(
        self, client: Transport, folder: str, path: str, url: URL, token: str, timeout: TimeoutArg
    ) -> None:
        super().__init__(
            client, url, token, timeout, f"downloading {path!r} from virtual folder {folder!r}"
        )
        self._path = path
        #: What ``If-Range`` carries when resuming (the first answer's date or ETag).
        self.validator: str | None = None
        self._state = range_resume.RangeState(1)

    def __repr__(self) -> str:
        return f"<Download {self._path!r}>"

    async def run(
        self, file: IO[bytes], progress: ProgressCallback | None, max_attempts: int
    ) -> int:
        """Write the file's bytes to *file*; return how many (as `range_resume` decides)."""
        reporter = TransferProgress(progress, None)
        self._state, action = range_resume.start(max_attempts)
        while True:
            if isinstance(action, range_resume.Done):
                await reporter(action.written)
                return action.written
            if isinstance(action, range_resume.GiveUp):
                raise self._fail(action.error, action.phase) from None
            assert isinstance(action, range_resume.Request)
            if action.truncate:
                await asyncio.to_thread(_truncate, file)
            if action.failures:
                await asyncio.sleep(backoff(action.failures, random.random()))
            try:
                written = await self._attempt(file, reporter)
                event: range_resume.RangeEvent = range_resume.Completed(written)
            except LocalIOError:
                raise
            except BackendError as error:
                if reporter.error is not None and not isinstance(error, ServerError):
                    raise reporter.error from None
                event = range_resume.Failed(error, await asyncio.to_thread(file.tell))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if reporter.error is not None:
                    raise reporter.error from None
                event = range_resume.Failed(
                    self._body_failure(exc), await asyncio.to_thread(file.tell)
                )
            self._state, action = range_resume.step(self._state, event)

    def _body_failure(self, exc: BaseException) -> BackendError:
        timed_out = isinstance(exc, TimeoutError)
        reason = (
            "timed out reading the body"
            if timed_out
            else f"the connection failed while reading the body: {describe_failure(exc)}"
        )
        failure = self._answer_error(
            reason, method="GET", kind=ReadTimeoutError if timed_out else ResponseError
        )
        failure.__cause__ = exc
        return failure

    async def _attempt(self, file: IO[bytes], reporter: TransferProgress) -> int:
        """One GET: write its body after the bytes written; return the new total.

        The state the answer leads to is kept at once (`_state`): a body failing later
        still counts what the answer said (the file's size).
        """
        written = self._state.written
        # identity: an aiohttp server would otherwise serve a pre-compressed sibling
        # (``name.gz``), whose ranges are not the file's.
        headers = {"Accept-Encoding": "identity"}
        if written:
            headers.update(range_headers(written, self.validator))
        async with self._client.stream(
            "GET",
            self._url,
            params={"token": self._token},
            headers=headers,
            timeout=self._timeout,
            signed=False,
            streaming=True,
            idempotent=False,  # resumed here, from where it stopped
        ) as response:
            content_range = response.headers.get("Content-Range")
            answered = range_resume.Answered(
                response.status,
                parse_content_range(content_range) if response.status == 206 else None,
                response.content_length,
            )
            self._state, action = range_resume.step(self._state, answered)
            if isinstance(action, range_resume.Refuse):
                raise self._answer_error(
                    f"the storage proxy answered Content-Range {content_range!r:.80} to "
                    f"bytes={written}-: {action.reason}",
                    method="GET",
                    status=response.status,
                    kind=ProtocolViolation,
                )
            assert isinstance(action, range_resume.Write)
            plan = action.plan
            if plan.action is RangeAction.RESTART:
                await asyncio.to_thread(_truncate, file)
            written = plan.first
            end = None if plan.length is None else written + plan.length
            reporter.total = plan.total
            self.validator = resume_validator(response.headers) or self.validator
            await reporter(written)
            # The body is written a CHUNK_SIZE or more at a time, in one thread hop each: a
            # hop per read (often 64 KiB) costs more than the writing.
            pending: list[bytes] = []
            buffered = 0
            try:
                async for chunk in response.content.iter_chunked(BLOCK_SIZE):
                    if end is not None and written + buffered + len(chunk) > end:
                        # More than the range announced: what follows is no part of the file
                        # where it would land.
                        pending.append(chunk[: end - written - buffered])
                        raise self._answer_error(
                            f"the storage proxy sent more than the {plan.length} bytes of the "
                            f"range {content_range or 'it announced'}",
                            method="GET",
                            status=response.status,
                            kind=ProtocolViolation,
                        )
                    pending.append(chunk)
                    buffered += len(chunk)
                    if buffered >= CHUNK_SIZE:
                        blocks, pending = pending, []
                        await _write(file, blocks)
                        written, buffered = written + buffered, 0
                        await reporter(written)
            finally:
                # What arrived is kept, also before a failure: a resume starts after it.
                if pending:
                    await _write(file, pending)
            written += buffered
        expected = end if end is not None else reporter.total
        if expected is not None and written < expected:
            raise self._answer_error(
                f"the body ended after {written} of {expected} bytes", method="GET"
            )
        if reporter.total is not None and written < reporter.total:
            # A shorter range than asked for: the rest comes with the next request.
            raise self._answer_error(
                f"the answer ended at byte {written} of {reporter.total}", method="GET"
            )
        await reporter(written)
        return written
