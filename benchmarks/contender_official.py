"""The official SDK, ``backend.ai-client`` 23.9.10 or 26.9.6, through its asynchronous API.

Runs only in an SDK's own virtual environment (see :mod:`benchmarks.environments`; 23.9.10
with ``yarl==1.9.4``, since it reads ``URL._val.netloc`` when signing, which later yarl
releases removed). Both releases' execute call is ``ComputeSession.execute(run_id, code,
mode)``; it answers the ``result`` member of the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiohttp
from ai.backend.client.config import APIConfig  # type: ignore[import-not-found]
from ai.backend.client.session import AsyncSession  # type: ignore[import-not-found]

from benchmarks.common import (
    ACCESS_KEY,
    CODE,
    RUN_ID,
    SECRET_KEY,
    SESSION_NAME,
    NotAvailableError,
)


class OfficialContender:
    """One ``AsyncSession`` of the official SDK."""

    def __init__(self, endpoint: str) -> None:
        self._config = APIConfig(
            endpoint=endpoint,
            endpoint_type="api",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
        )
        self._session: Any = None
        self._compute_session: Any = None

    async def open(self) -> None:
        """Open the session; it negotiates the API version with ``GET /``."""
        self._session = AsyncSession(config=self._config)
        await self._session.__aenter__()
        self._compute_session = self._session.ComputeSession(SESSION_NAME)

    def call(self, workload: str) -> Callable[[], Awaitable[Any]]:
        """The zero-argument coroutine function that makes one *workload* call."""
        if workload == "execute":
            return partial(self._compute_session.execute, RUN_ID, CODE, mode="query")
        if workload == "get_info":
            return partial(self._compute_session.get_info)
        raise ValueError(f"unknown workload {workload!r}")

    async def download(self, size: int, dest: str) -> int:
        """Not measured: the streaming benchmarks compare ``backendai_aio`` with raw aiohttp."""
        raise NotAvailableError("not part of the streaming benchmarks")

    async def upload(self, source: str) -> None:
        """Not measured: the streaming benchmarks compare ``backendai_aio`` with raw aiohttp."""
        raise NotAvailableError("not part of the streaming benchmarks")

    def describe(self) -> dict[str, Any]:
        """Versions and settings that matter to the figures."""
        from importlib.metadata import version

        connector = self._session.aiohttp_session.connector if self._session else None
        return {
            "backend.ai-client": version("backend.ai-client"),
            "aiohttp": aiohttp.__version__,
            "yarl": version("yarl"),
            "api_version": "v{}.{}".format(*self._session.api_version) if self._session else None,
            "connector_limit": connector.limit if connector is not None else None,
        }

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.__aexit__(None, None, None)


def create(endpoint: str) -> OfficialContender:
    """Build this module's contender for *endpoint*."""
    return OfficialContender(endpoint)
