"""Streaming execution over a websocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from ._errors import (
    InvalidArgumentError,
    RequestError,
    ResponseError,
    ServerError,
)
from ._failures import TRANSPORT_ERRORS
from ._namespace import Namespace
from ._results import TERMINAL_STATUSES, RunResult
from ._timeouts import NOT_GIVEN, TimeoutArg, resolve_timeout
from ._websockets import CLOSE_LIMIT, close_websocket, public_url, receive_message

__all__ = ["CLOSE_LIMIT", "ExecutionStream", "ExecutionStreamCalls"]


class ExecutionStream:
    """A running execution over a websocket: iterate its result frames, send it input.

    ``async for frame in stream`` yields each frame (``status``, ``console``, ``exitCode``,
    ``options``, ``files``) until the run ends; `result` accumulates them into a
    [`RunResult`][backendai_aio.RunResult]. When a frame says ``waiting-input``, answer with
    `send_input`.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, url: URL) -> None:
        self._ws = ws
        self._url = url
        self._finished = False
        self._frames_seen = 0
        #: Everything received so far, as a typed result.
        self.result = RunResult(run_id="")

    def __repr__(self) -> str:
        state = "finished" if self._finished else "closed" if self._ws.closed else "running"
        return (
            f"<ExecutionStream {public_url(self._url)} state={state} "
            f"status={self.result.status!r} frames={self._frames_seen}>"
        )

    async def send_input(self, line: str) -> None:
        """Send a line of user input to the running code."""
        if not isinstance(line, str):
            raise InvalidArgumentError("input must be a string")
        try:
            await self._ws.send_str(line)
        except TRANSPORT_ERRORS as exc:
            raise RequestError(f"sending input to {public_url(self._url)} failed: {exc}") from exc

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[dict[str, Any]]:
        url = public_url(self._url)
        while not self._finished:
            message = await receive_message(self._ws, f"the execution stream {url}", "frame")
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                raise ResponseError(f"the execution stream {url} closed before the run finished")
            if message.type is aiohttp.WSMsgType.ERROR:
                raise ResponseError(f"the execution stream {url} failed: {message.data}")
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except (ValueError, RecursionError) as exc:
                raise ResponseError(f"a frame that is not JSON: {message.data!r:.100}") from exc
            if not isinstance(frame, dict):
                raise ResponseError(f"a frame that is not an object: {frame!r:.100}")
            self._frames_seen += 1
            if frame.get("status") == "error":
                raise ServerError(
                    f"the execution failed: {frame.get('msg')}",
                    msg=None if frame.get("msg") is None else str(frame.get("msg")),
                    body=frame,
                    url=str(self._url),
                )
            self.result.add_step(frame)
            if frame.get("status") in TERMINAL_STATUSES:
                self._finished = True
            yield frame


class ExecutionStreamCalls(Namespace):
    """Streaming execution: the websocket call of [`Sessions`][backendai_aio.Sessions]."""

    @asynccontextmanager
    async def stream_execute(
        self,
        session_id: str,
        code: str,
        *,
        mode: str = "query",
        opts: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncIterator[ExecutionStream]:
        """Run *code* over a websocket: ``async with`` yields an `ExecutionStream`.

        The socket closes when the block ends, on an error, and on cancellation; leaving
        the block waits at most `CLOSE_LIMIT` seconds for the server. *timeout*
        bounds connecting and, if its read limit is set, each wait for a frame (none by
        default).
        """
        if mode not in ("query", "batch"):
            raise InvalidArgumentError(f"stream_execute takes 'query' or 'batch', not {mode!r}")
        limits = resolve_timeout(timeout, self._transport.default_timeout, streaming=True)
        url = self._transport.url("stream", "session", session_id, "execute")
        ws = await self._transport.websocket(url, limits, "the execution stream")
        url = self._transport.absolute(url)
        try:
            try:
                await ws.send_json({"mode": mode, "code": code, "options": dict(opts or {})})
            except TRANSPORT_ERRORS as exc:
                raise RequestError(
                    f"GET {public_url(url)}: sending the code failed: {type(exc).__name__}: {exc}",
                    method="GET",
                    url=str(url),
                ) from exc
            yield ExecutionStream(ws, url)
        finally:
            await close_websocket(ws)
