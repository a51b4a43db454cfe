"""One streamed download from the storage proxy, resumed with ``Range`` after failures.

The body is written block by block; after a dropped connection the rest is asked for with
``Range: bytes=<written>-`` (and ``If-Range``, so that a changed file comes whole). What each
answer means is decided by `range_plan`; the download gives up
after *max_attempts* consecutive failures without progress.
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
from .destination import local_error
from .policy import (
    ProtocolViolation,
    RangeAction,
    Stalls,
    after_416,
    attempts,
    backoff,
    in_phase,
    range_plan,
    resumable,
)
from .progress import ProgressCallback, TransferProgress
from .protocol import parse_content_range, range_headers, resume_validator
from .sizes import BLOCK_SIZE

__all__ = ["Download"]


def _truncate(file: IO[bytes]) -> None:
    file.seek(0)
    file.truncate()


async def _write(file: IO[bytes], chunk: bytes) -> None:
    try:
        await asyncio.to_thread(file.write, chunk)
    except OSError as exc:
        raise local_error(
            f"writing the download to {getattr(file, 'name', '?')} failed", exc
        ) from exc


class Download:
    """One streamed download from the storage proxy, resumed with ``Range`` after failures."""

    def __init__(
        self, client: Transport, folder: str, path: str, url: URL, token: str, timeout: TimeoutArg
    ) -> None:
        self._client = client
        self._url = url
        self._token = token
        self._timeout = timeout
        self._path = path
        self._what = f"downloading {path!r} from virtual folder {folder!r}"
        #: What ``If-Range`` carries when resuming (the first answer's date or ETag).
        self.validator: str | None = None

    def __repr__(self) -> str:
        return f"<Download {self._path!r}>"

    def _fail(self, error: BackendError, phase: str) -> BackendError:
        return in_phase(error, f"{self._what} ({phase})", self._token)

    async def run(
        self, file: IO[bytes], progress: ProgressCallback | None, max_attempts: int
    ) -> int:
        """Write the file's bytes to *file*; return how many."""
        written = 0
        reporter = TransferProgress(progress, None)
        stalls = Stalls(max_attempts)
        while True:
            # identity: an aiohttp server would otherwise serve a pre-compressed sibling
            # (``name.gz``), whose ranges are not the file's.
            headers = {"Accept-Encoding": "identity"}
            if written:
                headers.update(range_headers(written, self.validator))
            phase = f"GET from byte {written}" if written else "GET"
            try:
                return await self._attempt(file, headers, written, reporter)
            except LocalIOError:
                raise
            except ServerError as error:
                if error.status == 416 and after_416(written, reporter.total):
                    # Everything had arrived before the connection broke.
                    await reporter(written)
                    return written
                if error.status == 416:
                    await asyncio.to_thread(_truncate, file)
                elif not resumable(error):
                    raise self._fail(error, phase) from None
                last: BackendError = error
            except BackendError as error:
                if reporter.error is not None:
                    raise reporter.error from None
                if not resumable(error):
                    raise self._fail(error, phase) from None
                last = error
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if reporter.error is not None:
                    raise reporter.error from None
                reason = (
                    "timed out reading the body"
                    if isinstance(exc, TimeoutError)
                    else f"the connection failed while reading the body: {describe_failure(exc)}"
                )
                timed_out = isinstance(exc, TimeoutError)
                last = (ReadTimeoutError if timed_out else ResponseError)(
                    reason, method="GET", url=str(self._url)
                )
                last.__cause__ = exc
            written = await asyncio.to_thread(file.tell)
            stalls.advanced(written)
            if not stalls.failed():
                raise self._fail(
                    last, f"{phase}; gave up after {attempts(stalls.count)} without progress"
                ) from None
            await asyncio.sleep(backoff(stalls.count, random.random()))

    async def _attempt(
        self, file: IO[bytes], headers: dict[str, str], written: int, reporter: TransferProgress
    ) -> int:
        """One GET: write its body after the *written* bytes; return the new total."""
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
            try:
                plan = range_plan(
                    response.status,
                    parse_content_range(content_range) if response.status == 206 else None,
                    response.content_length,
                    written,
                )
            except ProtocolViolation as exc:
                raise ProtocolViolation(
                    f"the storage proxy answered Content-Range {content_range!r:.80} to "
                    f"bytes={written}-: {exc}",
                    status=response.status,
                    method="GET",
                    url=str(self._url),
                ) from None
            if plan.action is RangeAction.RESTART:
                await asyncio.to_thread(_truncate, file)
            written = plan.first
            end = None if plan.length is None else written + plan.length
            reporter.total = plan.total
            self.validator = resume_validator(response.headers) or self.validator
            await reporter(written)
            async for chunk in response.content.iter_chunked(BLOCK_SIZE):
                if end is not None and written + len(chunk) > end:
                    # More than the range announced: what follows is no part of the file
                    # where it would land.
                    await _write(file, chunk[: end - written])
                    raise ProtocolViolation(
                        f"the storage proxy sent more than the {plan.length} bytes of the "
                        f"range {content_range or 'it announced'}",
                        status=response.status,
                        method="GET",
                        url=str(self._url),
                    )
                await _write(file, chunk)
                written += len(chunk)
                await reporter(written)
        expected = end if end is not None else reporter.total
        if expected is not None and written < expected:
            raise ResponseError(
                f"the body ended after {written} of {expected} bytes",
                method="GET",
                url=str(self._url),
            )
        if reporter.total is not None and written < reporter.total:
            # A shorter range than asked for: the rest comes with the next request.
            raise ResponseError(
                f"the answer ended at byte {written} of {reporter.total}",
                method="GET",
                url=str(self._url),
            )
        await reporter(written)
        return written
