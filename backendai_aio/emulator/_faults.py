"""Faults the emulated storage proxy injects for tests: a `FaultPlan`.

Without a plan the proxy serves every transfer whole and records nothing; with one (passed
to `Emulator` or `create_app` as *faults*), a middleware of its
own sits in front of the proxy's routes: it records the transfers and breaks the ones the
plan says, while the proxy's handlers stay those of every other emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ._storage_proxy import TRANSFER_BLOCK, append_upload
from ._vfolders import DOWNLOAD_PATH, UPLOAD_PATH, VFOLDER_STORE_KEY, _locate

__all__ = ["FaultPlan"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FaultPlan:
    """Faults of the emulated storage proxy, and its record of transfers, for tests.

    Pass one to [`Emulator`][backendai_aio.emulator.Emulator] (``Emulator(faults=FaultPlan())``) or
    to [`create_app`][backendai_aio.emulator.create_app], and keep it to arm faults while the
    emulator runs: set `drop_upload_after` (or `drop_download_after`) to *n* and the next tus
    ``PATCH`` (or download ``GET``) that transfers bytes has its connection broken once *n* bytes of
    its body went through, as a flaky network would; the fault then clears itself. `log` records the
    proxy's requests: ``"HEAD"``, ``"PATCH <offset>+<length>"``, ``"GET"`` or ``"GET <range>"`` (a
    partial answer), with ``" dropped"`` appended to those broken on purpose, ``" aborted"`` to
    those the client broke off and ``" refused"`` to uploads answered with an error.
    """

    drop_upload_after: int | None = None
    drop_download_after: int | None = None
    log: list[str] = field(default_factory=list)

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """The aiohttp middleware that applies this plan to the storage proxy's routes."""
        if request.path == UPLOAD_PATH and request.method == "HEAD":
            response = await handler(request)
            self.log.append("HEAD")
            return response
        if request.path == UPLOAD_PATH and request.method == "PATCH":
            return await self._patch(request)
        if request.path == DOWNLOAD_PATH and request.method == "GET":
            return await self._download(request, handler)
        return await handler(request)

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        entry = f"PATCH {request.headers.get('Upload-Offset', '')}+{request.content_length}"
        body = _PlannedBody(self, request)
        try:
            response = await append_upload(request, body)
        except Exception:
            self.log.append(entry + " refused")
            raise
        if body.dropped:
            self.log.append(entry + " dropped")
        elif body.broken:
            self.log.append(entry + " aborted")
        else:
            self.log.append(entry)
        return response

    async def _download(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        response = await handler(request)
        drop = self.drop_download_after
        if drop is None or not isinstance(response, web.FileResponse) or response.prepared:
            await response.prepare(request)
            self._log_get(request, response, "")
            return response
        self.drop_download_after = None
        # Prepared as for a HEAD, the file response sends the status and headers a GET gets
        # (aiohttp's own rules for ranges and validators) and no body; the first bytes of the
        # body follow here, then the connection breaks.
        await response.prepare(request.clone(method="HEAD"))
        self._log_get(request, response, " dropped")
        store = request.app[VFOLDER_STORE_KEY]
        session = store.downloads[request.query["token"]]
        path = _locate(session.folder, session.relpath)
        content_range = response.headers.get("Content-Range", "")
        first = int(content_range.split()[1].split("-")[0]) if response.status == 206 else 0
        count = min(drop, response.content_length or 0)
        data = await asyncio.to_thread(_read_part, path, first, count)
        transport = request.transport
        if transport is not None:
            transport.write(data)
            transport.abort()
        return response

    def _log_get(self, request: web.Request, response: web.StreamResponse, suffix: str) -> None:
        if response.status == 206:
            self.log.append(f"GET {request.headers.get('Range', '')}{suffix}")
        elif response.status == 200:
            self.log.append("GET" + suffix)


class _PlannedBody:
    """A ``PATCH`` body as it arrives, broken off where the plan says."""

    def __init__(self, plan: FaultPlan, request: web.Request) -> None:
        self._plan = plan
        self._request = request
        self.dropped = False
        self.broken = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Read when the upload starts writing: a PATCH refused before that leaves it armed.
        drop, self._plan.drop_upload_after = self._plan.drop_upload_after, None
        received = 0
        try:
            async for chunk in self._request.content.iter_chunked(TRANSFER_BLOCK):
                if drop is not None and received + len(chunk) >= drop:
                    yield chunk[: drop - received]
                    self.dropped = True
                    if self._request.transport is not None:
                        self._request.transport.abort()
                    raise ConnectionResetError("the fault plan broke the connection")
                received += len(chunk)
                yield chunk
        except (ConnectionError, asyncio.IncompleteReadError):
            self.broken = True
            raise


def _read_part(path: Path, first: int, count: int) -> bytes:
    with path.open("rb") as file:
        file.seek(first)
        return file.read(count)
