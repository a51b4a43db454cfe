"""``backendai_aio`` through its public API only.

Small calls: ``Client.execute`` and ``Client.get_info``. Streaming (adjust
:meth:`AioContender.download` and :meth:`AioContender.upload` if these signatures change):

- ``client.sessions.download_single(session_id, file)``: an async context manager whose value either
  has ``to_file(path)`` (awaited; writes the whole body to *path*) or is an async iterable of
  ``bytes`` chunks;
- ``client.sessions.upload(session_id, files)``: a coroutine; *files* maps destination names
  to local paths (one multipart part each).

A client without one of them reports that benchmark as not available.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from backendai_aio import Client, ClientConfig, __version__
from benchmarks.common import (
    ACCESS_KEY,
    CODE,
    RUN_ID,
    SECRET_KEY,
    SESSION_NAME,
    NotAvailableError,
    download_name,
)


class AioContender:
    """One :class:`backendai_aio.Client` with the session it creates itself."""

    def __init__(self, endpoint: str) -> None:
        self._client = Client(ClientConfig(ACCESS_KEY, SECRET_KEY, endpoint))

    async def open(self) -> None:
        """Open the client and negotiate the API version (``GET /``)."""
        await self._client.__aenter__()
        await self._client.get_server_version()

    def call(self, workload: str) -> Callable[[], Awaitable[Any]]:
        """The zero-argument coroutine function that makes one *workload* call."""
        if workload == "execute":
            return partial(self._client.execute, SESSION_NAME, RUN_ID, "query", CODE)
        if workload == "get_info":
            return partial(self._client.get_info, SESSION_NAME)
        raise ValueError(f"unknown workload {workload!r}")

    async def download(self, size: int, dest: str) -> int:
        """Stream ``download_single`` of *size* bytes into the file *dest*; return its size."""
        download_single: Any = getattr(self._client.sessions, "download_single", None)
        if download_single is None:
            raise NotAvailableError("Sessions.download_single is not available yet")
        async with download_single(SESSION_NAME, download_name(size)) as stream:
            to_file = getattr(stream, "to_file", None)
            if to_file is not None:
                await to_file(dest)
                return os.path.getsize(dest)  # noqa: ASYNC240 (after the timed transfer)
            received = 0
            # Plain blocking writes, as the raw contender does.
            with open(dest, "wb") as file:  # noqa: ASYNC230
                async for chunk in stream:
                    file.write(chunk)
                    received += len(chunk)
            return received

    async def upload(self, source: str) -> None:
        """Upload the file *source* with ``Sessions.upload``."""
        upload: Any = getattr(self._client.sessions, "upload", None)
        if upload is None:
            raise NotAvailableError("Sessions.upload is not available yet")
        await upload(SESSION_NAME, {"upload.bin": Path(source)})

    def describe(self) -> dict[str, Any]:
        """Versions and settings that matter to the figures."""
        session = self._client.http_session
        connector = session.connector if session is not None else None
        return {
            "backendai_aio": __version__,
            "aiohttp": aiohttp.__version__,
            "api_version": self._client.api_version,
            "connector_limit": connector.limit if connector is not None else None,
        }

    async def close(self) -> None:
        """Close the client."""
        await self._client.close()


def create(endpoint: str) -> AioContender:
    """Build this module's contender for *endpoint*."""
    return AioContender(endpoint)
