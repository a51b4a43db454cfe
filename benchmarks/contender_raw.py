"""The floor: raw aiohttp with the signature written by hand, as a careful user would.

One ``aiohttp.ClientSession`` with its defaults; per request the headers are built by hand
with :mod:`hmac` and :mod:`hashlib` and the signing key is derived again (two HMACs), as a
straightforward implementation of the SPEC does. Bodies go through aiohttp's own ``json=``
and responses through ``ClientResponse.json()``; failures raise. Nothing here is slowed down
on purpose: this is the cost any SDK built on aiohttp starts from.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from benchmarks.common import (
    ACCESS_KEY,
    CODE,
    RUN_ID,
    SECRET_KEY,
    SESSION_NAME,
    UPLOAD_FIELD,
    download_name,
)

_EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
_DOWNLOAD_CHUNK = 1 << 20


class RawContender:
    """Signed calls over a bare ``aiohttp.ClientSession``."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint.rstrip("/")
        url = URL(endpoint)
        # The Host header exactly as aiohttp sends it (no port when it is the default one).
        host = url.host or ""
        self._host = host if url.is_default_port() else f"{host}:{url.port}"
        self._api_version = ""
        self._session: aiohttp.ClientSession | None = None

    def _signed_headers(self, method: str, path: str, content_type: str) -> dict[str, str]:
        now = datetime.now(UTC)
        date = now.isoformat()
        key = hmac.new(SECRET_KEY.encode(), now.strftime("%Y%m%d").encode(), hashlib.sha256)
        key = hmac.new(key.digest(), self._host.encode(), hashlib.sha256)
        message = (
            f"{method}\n{path}\n{date}\nhost:{self._host}\ncontent-type:{content_type}\n"
            f"x-backendai-version:{self._api_version}\n{_EMPTY_BODY_SHA256}"
        )
        signature = hmac.new(key.digest(), message.encode(), hashlib.sha256).hexdigest()
        return {
            "Date": date,
            "Content-Type": content_type,
            "X-BackendAI-Version": self._api_version,
            "Authorization": (
                f"BackendAI signMethod=HMAC-SHA256, credential={ACCESS_KEY}:{signature}"
            ),
        }

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session."""
        assert self._session is not None, "open() first"
        return self._session

    async def open(self) -> None:
        """Create the session and read the server's API version (``GET /``)."""
        self._session = aiohttp.ClientSession()
        async with self._session.get(self._endpoint + "/") as response:
            response.raise_for_status()
            self._api_version = (await response.json())["version"]

    async def execute(self) -> Any:
        """``POST /session/{name}``: run the benchmark's code, return the decoded answer."""
        path = f"/session/{SESSION_NAME}"
        body = {"mode": "query", "code": CODE, "runId": RUN_ID, "run_id": RUN_ID, "options": {}}
        headers = self._signed_headers("POST", path, "application/json")
        async with self.session.post(self._endpoint + path, json=body, headers=headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def get_info(self) -> Any:
        """``GET /session/{name}``: the session's details, decoded."""
        path = f"/session/{SESSION_NAME}"
        headers = self._signed_headers("GET", path, "application/json")
        async with self.session.get(self._endpoint + path, headers=headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    def call(self, workload: str) -> Callable[[], Awaitable[Any]]:
        """The zero-argument coroutine function that makes one *workload* call."""
        return {"execute": self.execute, "get_info": self.get_info}[workload]

    async def download(self, size: int, dest: str) -> int:
        """Stream ``download_single`` of *size* bytes into the file *dest*; return its size."""
        path = f"/session/{SESSION_NAME}/download_single"
        headers = self._signed_headers("POST", path, "application/json")
        received = 0
        async with self.session.post(
            self._endpoint + path,
            json={"file": download_name(size)},
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        ) as resp:
            resp.raise_for_status()
            # Plain blocking writes: the page cache absorbs them, as in most clients' code.
            with open(dest, "wb") as file:  # noqa: ASYNC230
                async for chunk in resp.content.iter_chunked(_DOWNLOAD_CHUNK):
                    file.write(chunk)
                    received += len(chunk)
        return received

    async def upload(self, source: str) -> None:
        """Upload the file *source* as one multipart part (field ``src``), streamed."""
        path = f"/session/{SESSION_NAME}/upload"
        headers = self._signed_headers("POST", path, "multipart/form-data")
        # aiohttp writes the Content-Type with the boundary; the signature covers the bare type.
        del headers["Content-Type"]
        with open(source, "rb") as file:  # noqa: ASYNC230 (aiohttp reads it in a thread)
            form = aiohttp.FormData()
            form.add_field(
                UPLOAD_FIELD, file, filename="upload.bin", content_type="application/octet-stream"
            )
            async with self.session.post(
                self._endpoint + path,
                data=form,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
            ) as resp:
                resp.raise_for_status()

    def describe(self) -> dict[str, Any]:
        """Versions and settings that matter to the figures."""
        return {
            "aiohttp": aiohttp.__version__,
            "connector_limit": self._session.connector.limit
            if self._session is not None and self._session.connector is not None
            else None,
        }

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()


def create(endpoint: str) -> RawContender:
    """Build this module's contender for *endpoint*."""
    return RawContender(endpoint)
