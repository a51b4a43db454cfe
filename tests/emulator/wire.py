"""Hand-signed raw requests, websockets and SSE reading for the emulator's tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from backendai_aio._signing import authorization_header, sign
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator

API_VERSION = "v9.20250722"
PROBS = "https://api.backend.ai/probs/"


class Wire:
    """Signs every request by hand, as the manager checks it, over one client session."""

    def __init__(
        self,
        emulator: Emulator,
        session: aiohttp.ClientSession,
        *,
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
    ) -> None:
        self.emulator = emulator
        self.session = session
        self.access_key = access_key
        self._secret_key = secret_key

    def url(self, path_qs: str) -> URL:
        # encoded=True: the path and query go on the wire exactly as signed.
        return URL(self.emulator.endpoint + path_qs, encoded=True)

    def headers(
        self, method: str, path_qs: str, content_type: str = "application/json"
    ) -> dict[str, str]:
        """Date, version and Authorization headers (the Content-Type is the caller's job)."""
        url = self.url(path_qs)
        host = f"{url.host}:{url.port}"
        moment = datetime.now(UTC)
        signature = sign(
            secret_key=self._secret_key,
            method=method,
            path_qs=url.raw_path_qs,
            date=moment,
            host=host,
            content_type=content_type,
            api_version=self.emulator.api_version,
        )
        return {
            "Date": moment.isoformat(),
            "X-BackendAI-Version": self.emulator.api_version,
            "Authorization": authorization_header(self.access_key, signature),
        }

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path_qs: str,
        *,
        body: Any = None,
        data: Any = None,
        content_type: str = "application/json",
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a signed request; *body* is sent as JSON, *data* as is (e.g. a multipart)."""
        headers = self.headers(method, path_qs, content_type)
        if isinstance(data, aiohttp.MultipartWriter):
            # aiohttp adds the boundary itself; the signature covers the bare media type.
            assert content_type == data.content_type.partition(";")[0]
        else:
            headers["Content-Type"] = content_type
            if body is not None:
                data = json.dumps(body)
        async with self.session.request(
            method, self.url(path_qs), headers=headers, data=data
        ) as response:
            yield response

    async def call(
        self,
        method: str,
        path_qs: str,
        *,
        body: Any = None,
        data: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """Send a signed request; return the status and the decoded JSON body (or None)."""
        async with self.request(
            method, path_qs, body=body, data=data, content_type=content_type
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    @asynccontextmanager
    async def websocket(self, path_qs: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """Open a signed websocket (the upgrade request is signed like any GET)."""
        headers = self.headers("GET", path_qs)
        headers["Content-Type"] = "application/json"
        async with self.session.ws_connect(self.url(path_qs), headers=headers) as ws:
            yield ws

    async def create_session(self, name: str) -> dict[str, Any]:
        status, body = await self.call("POST", "/session", body={"image": "python", "name": name})
        assert status == 201, body
        assert body["status"] == "RUNNING", body
        return dict(body)

    async def run(self, name: str, code: str) -> str:
        """Run *code* in session *name* to its end; return its stdout."""
        run_id = uuid.uuid4().hex
        request = {"mode": "query", "code": code, "runId": run_id, "run_id": run_id}
        out: list[str] = []
        while True:
            status, body = await self.call("POST", f"/session/{name}", body=request)
            assert status == 200, body
            result = body["result"]
            out += [payload for kind, payload in result["console"] if kind == "stdout"]
            if result["status"] == "finished":
                assert result["exitCode"] == 0, result
                return "".join(out)
            request = {"mode": "continue", "code": "", "runId": run_id, "run_id": run_id}


@dataclass
class SSEvent:
    """One server-sent event as read off the wire."""

    event: str
    data: str
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


async def read_sse(response: aiohttp.ClientResponse) -> AsyncIterator[SSEvent | str]:
    """Yield the events of an SSE response, and its comments (as ``str``), until it ends.

    Lines must end with CRLF, as aiohttp-sse writes them.
    """
    fields: dict[str, str] = {}
    while line := await response.content.readline():
        assert line.endswith(b"\r\n"), line
        text = line[:-2].decode("utf-8")
        if text.startswith(":"):
            yield text
        elif text:
            key, _, value = text.partition(": ")
            fields[key] = fields[key] + "\n" + value if key in fields else value
        elif fields:
            retry = fields.get("retry")
            yield SSEvent(fields["event"], fields["data"], int(retry) if retry else None)
            fields = {}


def invalid(data: Any) -> dict[str, Any]:
    """The manager's "Input validation error" body with per-key *data*."""
    return {
        "type": PROBS + "invalid-api-params",
        "title": "Missing or invalid API parameters.",
        "msg": "Input validation error",
        "data": data,
    }
